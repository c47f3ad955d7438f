/* depthwise.c: depthwise convolution (groups == Cin == Cout) as its own kernels.
 * Placeholder: not yet implemented, so clcnn_conv2d keeps its grouped-GEMM path. */
#include "ops/conv_internal.h"

int conv_is_depthwise(const clcnn_tensor *x, const clcnn_tensor *w, const conv_geom *g) {
    (void)x, (void)w, (void)g;
    return 0;
}

clcnn_status conv_depthwise_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                    const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                    clcnn_activation act, clcnn_tensor *y) {
    (void)x, (void)w, (void)bias, (void)g, (void)residual, (void)act, (void)y;
    return clcnn_error(ctx, CLCNN_ERR_UNSUPPORTED, "depthwise convolution: not implemented");
}

clcnn_status conv_depthwise_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                     const conv_geom *g, const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate,
                                     clcnn_tensor *dw) {
    (void)x, (void)w, (void)g, (void)dy, (void)dx, (void)accumulate, (void)dw;
    return clcnn_error(ctx, CLCNN_ERR_UNSUPPORTED, "depthwise convolution backward: not implemented");
}
