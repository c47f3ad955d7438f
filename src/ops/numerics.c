/* numerics.c: where a tensor holds its first NaN or infinity, found on the device with
 * one int read back (and one float when there is a find): the check behind
 * CLCNN_CHECK_NUMERICS (graph/numerics.c). Declared in ops/ops.h. */
#include <limits.h>
#include "ops/ops.h"

/* Work-items of the scan: enough to fill a device, few enough that each scans a run. */
#define SCAN_ITEMS 16384

clcnn_status ops_find_nonfinite(clcnn_context *ctx, const clcnn_tensor *t, clcnn_tensor *scratch, int *index,
                                  float *value) {
    static const char *op = "ops_find_nonfinite";
    if (!ctx || !index || !value) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    *index = -1;
    *value = 0.0f;
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "tensor", t, 0)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "scratch", scratch, 0)) != CLCNN_OK)
        return st;
    if (t->numel > INT_MAX)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %zu elements are more than an int indexes", op, t->numel);
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "numerics.cl", "first_nonfinite", "", &k)) != CLCNN_OK) return st;
    const cl_int none = INT_MAX;
    cl_int found = INT_MAX;
    const size_t at = (size_t)scratch->offset * sizeof(float);
    cl_int err = clEnqueueWriteBuffer(ctx->queue, scratch->buf, CL_TRUE, at, sizeof none, &none, 0, NULL, NULL);
    if (err != CL_SUCCESS) return rt_error(ctx, err, "%s: clEnqueueWriteBuffer failed (%d)", op, err);
    const rt_karg args[] = {KARG_TENSOR(t), KARG_TENSOR(scratch), KARG_INT(t->numel)};
    const size_t items = t->numel < SCAN_ITEMS ? (t->numel ? t->numel : 1) : SCAN_ITEMS;
    if ((st = ops_launch_1d(ctx, k, op, KARG_LIST(args), items)) != CLCNN_OK) return st;
    err = clEnqueueReadBuffer(ctx->queue, scratch->buf, CL_TRUE, at, sizeof found, &found, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return rt_error(ctx, err, "%s: clEnqueueReadBuffer failed (%d): an earlier kernel may have failed", op, err);
    if (found == INT_MAX) return CLCNN_OK;
    err = clEnqueueReadBuffer(ctx->queue, t->buf, CL_TRUE, ((size_t)t->offset + (size_t)found) * sizeof(float),
                              sizeof *value, value, 0, NULL, NULL);
    if (err != CL_SUCCESS) return rt_error(ctx, err, "%s: clEnqueueReadBuffer failed (%d)", op, err);
    *index = found;
    return CLCNN_OK;
}
