/* linear.c: y = act(x W^T + b) as torch.nn.Linear, on the GEMM kernel:
 * Y^T [M, N] = W [M, K] x X^T [K, N], stored transposed through C's strides. */
#include "ops/ops.h"

clcnn_status clcnn_linear(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_tensor *bias,
                          clcnn_activation act, clcnn_tensor *y) {
    static const char *op = "clcnn_linear";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_tensor(ctx, op, "input", x, 0)) != CLCNN_OK ||
        (st = clcnn_check_tensor(ctx, op, "weight", w, 0)) != CLCNN_OK ||
        (st = clcnn_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    /* Everything after the first axis is flattened, for x and for w ([M, K, 1, 1] is a 1x1 conv weight). */
    const int N = x->shape[0], M = w->shape[0];
    const int K = (int)(x->numel / (size_t)N);
    if (w->numel / (size_t)M != (size_t)K) {
        char sx[64], sw[64];
        return clcnn_error(ctx, CLCNN_ERR_SHAPE, "%s: input %s has %d features per sample but weight %s expects %zu", op,
                           clcnn_tensor_shape_str(x, sx, sizeof sx), K, clcnn_tensor_shape_str(w, sw, sizeof sw),
                           w->numel / (size_t)M);
    }
    if ((st = clcnn_check_shape_is(ctx, op, "output", y, 2, (int[]){N, M})) != CLCNN_OK) return st;
    if (bias && (st = clcnn_check_vector(ctx, op, "bias", bias, M)) != CLCNN_OK) return st;

    clcnn_tensor *xt = NULL; /* X^T; a single sample is its own transpose */
    if (N > 1) {
        if ((st = clcnn_scratch(ctx, 2, (int[]){K, N}, &xt)) != CLCNN_OK) return st;
        if ((st = clcnn_transpose(ctx, x, 0, xt, 0, N, K)) != CLCNN_OK) goto free_xt;
    }
    const clcnn_gemm_args g = {.M = M, .N = N, .K = K, .a = w, .sam = K, .sak = 1, .b = xt ? xt : x, .ldb = N,
                               .c = y, .scm = 1, .scn = M, .nb0 = 1, .nb1 = 1, .bias = bias, .act = act,
                               .alpha = 1.0f, .beta = 0.0f};
    st = clcnn_gemm_run(ctx, &g);
free_xt:
    clcnn_tensor_destroy(xt);
    return st;
}
