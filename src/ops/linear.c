/* linear.c: y = act(x W^T + b) as torch.nn.Linear, on the GEMM kernel:
 * Y^T [M, N] = W [M, K] x X^T [K, N], stored transposed through C's strides.
 * Backward, all GEMMs: dX = dY W, dW += dY^T X, db += dY^T 1. */
#include "ops/ops.h"

/* t (x or dx) must be [N, ...] with K = w's features per row after the first axis. */
static clcnn_status check_features(clcnn_context *ctx, const char *op, const char *arg, const clcnn_tensor *t, int N,
                                   const clcnn_tensor *w) {
    const int M = w->shape[0];
    const size_t K = w->numel / (size_t)M;
    if (t->shape[0] == N && t->numel == (size_t)N * K) return CLCNN_OK;
    char st[64], sw[64];
    return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s %s does not hold %d rows of the %zu features of weight %s", op,
                       arg, clcnn_tensor_shape_str(t, st, sizeof st), N, K, clcnn_tensor_shape_str(w, sw, sizeof sw));
}

clcnn_status clcnn_linear(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_tensor *bias,
                          clcnn_activation act, clcnn_tensor *y) {
    static const char *op = "clcnn_linear";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "input", x, 0)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "weight", w, 0)) != CLCNN_OK ||
        (st = ops_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    /* Everything after the first axis is flattened, for x and for w ([M, K, 1, 1] is a 1x1 conv weight). */
    const int N = x->shape[0], M = w->shape[0];
    const int K = (int)(w->numel / (size_t)M);
    if ((st = check_features(ctx, op, "input", x, N, w)) != CLCNN_OK) return st;
    if ((st = rt_check_shape_is(ctx, op, "output", y, 2, (int[]){N, M})) != CLCNN_OK) return st;
    if (bias && (st = rt_check_vector(ctx, op, "bias", bias, M)) != CLCNN_OK) return st;

    clcnn_tensor *xt = NULL; /* X^T; a single sample is its own transpose */
    if (N > 1) {
        if ((st = rt_scratch(ctx, 2, (int[]){K, N}, &xt)) != CLCNN_OK) return st;
        if ((st = ops_transpose(ctx, x, 0, xt, 0, N, K)) != CLCNN_OK) goto free_xt;
    }
    const ops_gemm_args g = {.M = M, .N = N, .K = K, .a = w, .sam = K, .sak = 1, .b = xt ? xt : x, .ldb = N,
                               .c = y, .scm = 1, .scn = M, .nb0 = 1, .nb1 = 1, .bias = bias, .act = act,
                               .alpha = 1.0f, .beta = 0.0f};
    st = ops_gemm_run(ctx, &g);
free_xt:
    clcnn_tensor_destroy(xt);
    return st;
}

/* db [M] += dY^T [M, N] x ones [N]: column sums of dY as a GEMM with one column. */
static clcnn_status bias_grad(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *db) {
    const int N = dy->shape[0], M = dy->shape[1];
    clcnn_tensor *ones = NULL;
    clcnn_status st;
    if ((st = rt_scratch(ctx, 1, (int[]){N}, &ones)) != CLCNN_OK) return st;
    if ((st = clcnn_tensor_fill(ones, 1.0f)) == CLCNN_OK) {
        const ops_gemm_args g = {.M = M, .N = 1, .K = N, .a = dy, .sam = 1, .sak = M, .b = ones, .ldb = 1,
                                   .c = db, .scm = 1, .scn = 1, .nb0 = 1, .nb1 = 1, .act = CLCNN_ACT_NONE,
                                   .alpha = 1.0f, .beta = 1.0f};
        st = ops_gemm_run(ctx, &g);
    }
    clcnn_tensor_destroy(ones);
    return st;
}

clcnn_status clcnn_linear_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate, clcnn_tensor *dw,
                                   clcnn_tensor *db) {
    static const char *op = "clcnn_linear_backward";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "weight", w, 0)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "dy", dy, 2)) != CLCNN_OK)
        return st;
    if (dw && !x) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: dw needs the input x, which is NULL", op);
    const int N = dy->shape[0], M = w->shape[0];
    const int K = (int)(w->numel / (size_t)M);
    if (dy->shape[1] != M) {
        char sy[64], sw[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: dy %s does not have the %d outputs of weight %s", op,
                           clcnn_tensor_shape_str(dy, sy, sizeof sy), M, clcnn_tensor_shape_str(w, sw, sizeof sw));
    }
    if ((x && ((st = rt_check_tensor(ctx, op, "input", x, 0)) != CLCNN_OK ||
               (st = check_features(ctx, op, "input", x, N, w)) != CLCNN_OK)) ||
        (dx && ((st = rt_check_tensor(ctx, op, "dx", dx, 0)) != CLCNN_OK ||
                (st = check_features(ctx, op, "dx", dx, N, w)) != CLCNN_OK)) ||
        (x && dx && (st = rt_check_same_shape(ctx, op, "input", x, "dx", dx)) != CLCNN_OK) ||
        (dw && (st = rt_check_same_shape(ctx, op, "weight", w, "dw", dw)) != CLCNN_OK) ||
        (db && (st = rt_check_vector(ctx, op, "db", db, M)) != CLCNN_OK))
        return st;

    if (dx) { /* dX [N, K] = dY [N, M] W [M, K]; beta 0 never reads dx */
        const ops_gemm_args g = {.M = N, .N = K, .K = M, .a = dy, .sam = M, .sak = 1, .b = w, .ldb = K,
                                   .c = dx, .scm = K, .scn = 1, .nb0 = 1, .nb1 = 1, .act = CLCNN_ACT_NONE,
                                   .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f};
        if ((st = ops_gemm_run(ctx, &g)) != CLCNN_OK) return st;
    }
    if (dw) { /* dW [M, K] += dY^T [M, N] X [N, K] */
        const ops_gemm_args g = {.M = M, .N = K, .K = N, .a = dy, .sam = 1, .sak = M, .b = x, .ldb = K,
                                   .c = dw, .scm = K, .scn = 1, .nb0 = 1, .nb1 = 1, .act = CLCNN_ACT_NONE,
                                   .alpha = 1.0f, .beta = 1.0f};
        if ((st = ops_gemm_run(ctx, &g)) != CLCNN_OK) return st;
    }
    return db ? bias_grad(ctx, dy, db) : CLCNN_OK;
}
