/* resize.c: bilinear resize, align_corners = false, and its backward. */
#include "ops/ops.h"

/* small [N, C, h, w] and big [N, C, H, W] must agree on the batch and channels. */
static clcnn_status check_resize(clcnn_context *ctx, const char *op, const char *src_name, const clcnn_tensor *src,
                                 const char *dst_name, const clcnn_tensor *dst) {
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, src_name, src, 4)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, dst_name, dst, 4)) != CLCNN_OK)
        return st;
    if (dst->shape[0] == src->shape[0] && dst->shape[1] == src->shape[1]) return CLCNN_OK;
    char ss[64], sd[64];
    return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s %s must keep the batch and channels of %s %s", op, dst_name,
                       clcnn_tensor_shape_str(dst, sd, sizeof sd), src_name, clcnn_tensor_shape_str(src, ss, sizeof ss));
}

clcnn_status clcnn_resize_bilinear(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y) {
    static const char *op = "clcnn_resize_bilinear";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = check_resize(ctx, op, "input", x, "output", y)) != CLCNN_OK) return st;
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "resize.cl", "resize_bilinear", "", &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(x->shape[2]), KARG_INT(x->shape[3]),
                               KARG_INT(y->shape[2]), KARG_INT(y->shape[3])};
    const size_t global[2] = {(size_t)y->shape[2] * (size_t)y->shape[3], (size_t)y->shape[0] * (size_t)y->shape[1]};
    return rt_launch(ctx, k, op, KARG_LIST(args), 2, global, NULL);
}

clcnn_status clcnn_resize_bilinear_backward(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *dx,
                                            int accumulate) {
    static const char *op = "clcnn_resize_bilinear_backward";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = check_resize(ctx, op, "dy", dy, "dx", dx)) != CLCNN_OK) return st;
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "resize.cl", "resize_bilinear_backward", "", &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(dy),        KARG_TENSOR(dx),        KARG_INT(dx->shape[2]),
                               KARG_INT(dx->shape[3]), KARG_INT(dy->shape[2]), KARG_INT(dy->shape[3]),
                               KARG_INT(accumulate != 0)};
    const size_t global[2] = {(size_t)dx->shape[2] * (size_t)dx->shape[3],
                              (size_t)dx->shape[0] * (size_t)dx->shape[1]};
    return rt_launch(ctx, k, op, KARG_LIST(args), 2, global, NULL);
}
