/* eltwise.c: activations, addition, per-channel scaling, inference dropout. */
#include <string.h>
#include "ops/ops.h"

clcnn_status clcnn_check_activation(clcnn_context *ctx, const char *op, clcnn_activation act) {
    if (act >= CLCNN_ACT_NONE && act <= CLCNN_ACT_TANH) return CLCNN_OK;
    return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown activation %d", op, (int)act);
}

clcnn_status clcnn_launch_1d(clcnn_context *ctx, cl_kernel k, const char *what, int nargs, const clcnn_karg *args,
                             size_t total) {
    return clcnn_launch(ctx, k, what, nargs, args, 1, &total, clcnn_elementwise_local(ctx));
}

clcnn_status clcnn_activate(clcnn_context *ctx, const clcnn_tensor *x, clcnn_activation act, clcnn_tensor *y) {
    static const char *op = "clcnn_activate";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_same_shape(ctx, op, "input", x, "output", y)) != CLCNN_OK ||
        (st = clcnn_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    cl_kernel k;
    if ((st = clcnn_get_kernel(ctx, "eltwise.cl", "activate", "", &k)) != CLCNN_OK) return st;
    const clcnn_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(x->numel), KARG_INT(act)};
    return clcnn_launch_1d(ctx, k, op, KARG_LIST(args), x->numel);
}

clcnn_status clcnn_add(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *b, clcnn_activation act,
                       clcnn_tensor *y) {
    static const char *op = "clcnn_add";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_same_shape(ctx, op, "a", a, "b", b)) != CLCNN_OK ||
        (st = clcnn_check_same_shape(ctx, op, "a", a, "output", y)) != CLCNN_OK ||
        (st = clcnn_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    cl_kernel k;
    if ((st = clcnn_get_kernel(ctx, "eltwise.cl", "add", "", &k)) != CLCNN_OK) return st;
    const clcnn_karg args[] = {KARG_TENSOR(a), KARG_TENSOR(b), KARG_TENSOR(y), KARG_INT(a->numel), KARG_INT(act)};
    return clcnn_launch_1d(ctx, k, op, KARG_LIST(args), a->numel);
}

clcnn_status clcnn_channel_scale(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *s,
                                 const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y) {
    cl_kernel k;
    clcnn_status st = clcnn_get_kernel(ctx, "eltwise.cl", "channel_scale", "", &k);
    if (st != CLCNN_OK) return st;
    const int S = (int)(x->numel / ((size_t)x->shape[0] * (size_t)x->shape[1]));
    const clcnn_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(s), KARG_TENSOR(residual), KARG_TENSOR(y),
                               KARG_INT(S), KARG_INT(x->numel), KARG_INT(act)};
    return clcnn_launch_1d(ctx, k, "channel_scale", KARG_LIST(args), x->numel);
}

clcnn_status clcnn_dropout_inference(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y) {
    static const char *op = "clcnn_dropout_inference";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st = clcnn_check_same_shape(ctx, op, "input", x, "output", y);
    if (st != CLCNN_OK) return st;
    if (x->buf == y->buf && x->offset == y->offset) return CLCNN_OK;
    return clcnn_tensor_copy(x, y, op);
}
