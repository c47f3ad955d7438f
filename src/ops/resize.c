/* resize.c: bilinear resize, align_corners = false. */
#include "ops/ops.h"

clcnn_status clcnn_resize_bilinear(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y) {
    static const char *op = "clcnn_resize_bilinear";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK ||
        (st = clcnn_check_tensor(ctx, op, "output", y, 4)) != CLCNN_OK)
        return st;
    if (y->shape[0] != x->shape[0] || y->shape[1] != x->shape[1]) {
        char sx[64], sy[64];
        return clcnn_error(ctx, CLCNN_ERR_SHAPE, "%s: output %s must keep the batch and channels of input %s", op,
                           clcnn_tensor_shape_str(y, sy, sizeof sy), clcnn_tensor_shape_str(x, sx, sizeof sx));
    }
    cl_kernel k;
    if ((st = clcnn_get_kernel(ctx, "resize.cl", "resize_bilinear", "", &k)) != CLCNN_OK) return st;
    const clcnn_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(x->shape[2]), KARG_INT(x->shape[3]),
                               KARG_INT(y->shape[2]), KARG_INT(y->shape[3])};
    const size_t global[2] = {(size_t)y->shape[2] * (size_t)y->shape[3], (size_t)y->shape[0] * (size_t)y->shape[1]};
    return clcnn_launch(ctx, k, op, KARG_LIST(args), 2, global, NULL);
}
