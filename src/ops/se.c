/* se.c: Squeeze-and-Excitation: global average pool, two 1x1 convolutions (as linear
 * layers on [N, C]), sigmoid, and a per-channel scale fused with the residual add. */
#include "ops/ops.h"

clcnn_status clcnn_squeeze_excite(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                  const clcnn_tensor *b1, const clcnn_tensor *w2, const clcnn_tensor *b2,
                                  const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y) {
    static const char *op = "clcnn_squeeze_excite";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK ||
        (st = clcnn_check_same_shape(ctx, op, "input", x, "output", y)) != CLCNN_OK ||
        (st = clcnn_check_tensor(ctx, op, "fc1 weight", w1, 0)) != CLCNN_OK ||
        (st = clcnn_check_tensor(ctx, op, "fc2 weight", w2, 0)) != CLCNN_OK ||
        (st = clcnn_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    if (residual && (st = clcnn_check_same_shape(ctx, op, "residual", residual, "input", x)) != CLCNN_OK) return st;
    const int N = x->shape[0], C = x->shape[1], Cr = w1->shape[0];
    if (w1->numel != (size_t)Cr * (size_t)C || w2->numel != (size_t)C * (size_t)Cr || w2->shape[0] != C) {
        char s1[64], s2[64], sx[64];
        return clcnn_error(ctx, CLCNN_ERR_SHAPE, "%s: fc1 weight %s and fc2 weight %s do not fit %d channels of input %s",
                           op, clcnn_tensor_shape_str(w1, s1, sizeof s1), clcnn_tensor_shape_str(w2, s2, sizeof s2), C,
                           clcnn_tensor_shape_str(x, sx, sizeof sx));
    }
    clcnn_tensor *pooled = NULL, *hidden = NULL, *scale = NULL;
    if ((st = clcnn_scratch(ctx, 2, (int[]){N, C}, &pooled)) != CLCNN_OK ||
        (st = clcnn_scratch(ctx, 2, (int[]){N, Cr}, &hidden)) != CLCNN_OK ||
        (st = clcnn_scratch(ctx, 2, (int[]){N, C}, &scale)) != CLCNN_OK)
        goto free_scratch;
    if ((st = clcnn_global_avg_pool(ctx, x, pooled)) != CLCNN_OK ||
        (st = clcnn_linear(ctx, pooled, w1, b1, CLCNN_ACT_RELU, hidden)) != CLCNN_OK ||
        (st = clcnn_linear(ctx, hidden, w2, b2, CLCNN_ACT_SIGMOID, scale)) != CLCNN_OK)
        goto free_scratch;
    st = clcnn_channel_scale(ctx, x, scale, residual, act, y);
free_scratch:
    clcnn_tensor_destroy(scale);
    clcnn_tensor_destroy(hidden);
    clcnn_tensor_destroy(pooled);
    return st;
}
