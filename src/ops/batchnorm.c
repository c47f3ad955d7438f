/* batchnorm.c: inference batch norm, and folding it into the convolution before it. */
#include "ops/ops.h"

static clcnn_status check_stats(clcnn_context *ctx, const char *op, int C, const clcnn_tensor *gamma,
                                const clcnn_tensor *beta, const clcnn_tensor *mean, const clcnn_tensor *var) {
    clcnn_status st;
    if ((st = clcnn_check_vector(ctx, op, "gamma", gamma, C)) != CLCNN_OK ||
        (st = clcnn_check_vector(ctx, op, "beta", beta, C)) != CLCNN_OK ||
        (st = clcnn_check_vector(ctx, op, "running_mean", mean, C)) != CLCNN_OK ||
        (st = clcnn_check_vector(ctx, op, "running_var", var, C)) != CLCNN_OK)
        return st;
    return CLCNN_OK;
}

clcnn_status clcnn_batchnorm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                             const clcnn_tensor *beta, const clcnn_tensor *mean, const clcnn_tensor *var, float eps,
                             clcnn_tensor *y) {
    static const char *op = "clcnn_batchnorm";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_same_shape(ctx, op, "input", x, "output", y)) != CLCNN_OK) return st;
    if (x->ndim < 2) return clcnn_error(ctx, CLCNN_ERR_SHAPE, "%s: input must be [N, C, ...]", op);
    const int C = x->shape[1];
    if ((st = check_stats(ctx, op, C, gamma, beta, mean, var)) != CLCNN_OK) return st;
    cl_kernel k;
    if ((st = clcnn_get_kernel(ctx, "batchnorm.cl", "batchnorm_infer", "", &k)) != CLCNN_OK) return st;
    const int S = (int)(x->numel / ((size_t)x->shape[0] * (size_t)C));
    const clcnn_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_TENSOR(gamma), KARG_TENSOR(beta),
                               KARG_TENSOR(mean), KARG_TENSOR(var), KARG_INT(C), KARG_INT(S),
                               KARG_INT(x->numel), KARG_FLOAT(eps)};
    return clcnn_launch_1d(ctx, k, op, KARG_LIST(args), x->numel);
}

clcnn_status clcnn_batchnorm_fold(clcnn_context *ctx, const clcnn_tensor *w, const clcnn_tensor *bias,
                                  const clcnn_tensor *gamma, const clcnn_tensor *beta, const clcnn_tensor *mean,
                                  const clcnn_tensor *var, float eps, clcnn_tensor *w_out, clcnn_tensor *b_out) {
    static const char *op = "clcnn_batchnorm_fold";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_same_shape(ctx, op, "weight", w, "folded weight", w_out)) != CLCNN_OK) return st;
    const int C = w->shape[0];
    if ((bias && (st = clcnn_check_vector(ctx, op, "bias", bias, C)) != CLCNN_OK) ||
        (st = clcnn_check_vector(ctx, op, "folded bias", b_out, C)) != CLCNN_OK ||
        (st = check_stats(ctx, op, C, gamma, beta, mean, var)) != CLCNN_OK)
        return st;
    cl_kernel k;
    if ((st = clcnn_get_kernel(ctx, "batchnorm.cl", "batchnorm_fold", "", &k)) != CLCNN_OK) return st;
    const clcnn_karg args[] = {KARG_TENSOR(w), KARG_TENSOR(bias), KARG_TENSOR(gamma), KARG_TENSOR(beta),
                               KARG_TENSOR(mean), KARG_TENSOR(var), KARG_TENSOR(w_out), KARG_TENSOR(b_out),
                               KARG_INT(w->numel / (size_t)C), KARG_INT(w->numel), KARG_FLOAT(eps)};
    return clcnn_launch_1d(ctx, k, op, KARG_LIST(args), w->numel);
}
