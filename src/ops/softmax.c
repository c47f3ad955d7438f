/* softmax.c: softmax and log-softmax over the last axis. */
#include "ops/ops.h"

clcnn_status clcnn_softmax(clcnn_context *ctx, const clcnn_tensor *x, int log_softmax, clcnn_tensor *y) {
    static const char *op = "clcnn_softmax";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st = rt_check_same_shape(ctx, op, "input", x, "output", y);
    if (st != CLCNN_OK) return st;
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "softmax.cl", "softmax_rows", "", &k)) != CLCNN_OK) return st;
    const int cols = x->shape[x->ndim - 1], rows = (int)(x->numel / (size_t)cols);
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(rows), KARG_INT(cols),
                               KARG_INT(log_softmax ? 1 : 0)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), (size_t)rows);
}
