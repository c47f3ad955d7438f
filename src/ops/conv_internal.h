/* conv_internal.h: what the convolution's forward (conv.c) and backward
 * (conv_backward.c) share: geometry, output shape, im2col and batch chunking. */
#ifndef CLCNN_CONV_INTERNAL_H
#define CLCNN_CONV_INTERNAL_H
#include "ops/ops.h"

/* Largest im2col scratch, in floats (128 MiB), before the batch is split into chunks. */
#define CONV_COL_MAX_FLOATS (32u << 20)

typedef struct {
    int sh, sw, ph, pw, dh, dw, groups;
    clcnn_conv_algo algo; /* the caller's forced algorithm (clcnn_conv_params.algo), 0 for none */
} conv_geom;

/* Strides, padding, dilation and groups of params (NULL: the defaults), zeros made 1. */
conv_geom conv_geometry(const clcnn_conv_params *p);

/* The output shape for input x (or anything shaped like it) and weight w; errors name op. */
clcnn_status conv_output_shape(clcnn_context *ctx, const char *op, const clcnn_tensor *x, const clcnn_tensor *w,
                               const conv_geom *g, int shape[4]);

/* Column layouts: col[n*csn + row*csr + p*csp]. */
typedef struct {
    int csn, csr, csp;
} col_layout;

/* [n][row][p]: per image a GEMM B operand (unit stride in p). */
static inline col_layout conv_layout_nrp(int rows, int P) { return (col_layout){rows * P, P, 1}; }
/* [n][p][row]: over the images' pixels a GEMM operand with unit stride in row. */
static inline col_layout conv_layout_npr(int rows, int P) { return (col_layout){P * rows, 1, rows}; }

/* im2col of images n_first .. n_first+n_count-1 of x into col with layout lay. */
clcnn_status conv_im2col(clcnn_context *ctx, const clcnn_tensor *x, int n_first, int n_count, const clcnn_tensor *w,
                         const conv_geom *g, int oh, int ow, clcnn_tensor *col, col_layout lay);

/* Images per chunk so that the chunk's scratch (per_image floats each) stays bounded. */
int conv_batch_chunk(size_t per_image, int N);

/* Depthwise convolution (depthwise.c): groups == Cin == Cout, any kernel, stride,
 * padding and dilation, as its own kernels instead of per-channel GEMMs. */
int conv_is_depthwise(const clcnn_tensor *x, const clcnn_tensor *w, const conv_geom *g);
clcnn_status conv_depthwise_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                    const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                    clcnn_activation act, clcnn_tensor *y);
/* dx (+= when accumulate) and dw += ; either may be NULL. */
clcnn_status conv_depthwise_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                     const conv_geom *g, const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate,
                                     clcnn_tensor *dw);

/* Winograd F(4x4, 3x3) (winograd.c): 3x3, stride 1, dilation 1, groups 1, any padding.
 * w_flipped: the convolution's weights are w [C, K, 3, 3] transposed and turned by 180
 * degrees (the input gradient of the convolution with weights w), read so in place.
 * u_cache: NULL (transform w on every call) or ops_conv2d_fixed_weight's cache.
 * residual may be y itself (each output is read before it is written, by the same
 * work-item). */
int conv_winograd_applies(const clcnn_tensor *x, const clcnn_tensor *w, const conv_geom *g);
clcnn_status conv_winograd_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, int w_flipped,
                                   const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                   clcnn_activation act, clcnn_tensor *y, clcnn_tensor **u_cache);
/* dw += the weight gradient of that convolution of x with output gradient dy, by
 * F(3x3, 4x4) (winograd_wgrad.c). */
clcnn_status conv_winograd_weight_grad(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *dy,
                                       const conv_geom *g, clcnn_tensor *dw);

/* Winograd's output tiles of 4x4 pixels over a batch of N images of OH x OW. */
static inline long conv_winograd_tiles(int N, int OH, int OW) { return (long)N * ((OH + 3) / 4) * ((OW + 3) / 4); }

/* Output tiles (of 4x4 pixels, over the batch) from which the default rule picks
 * Winograd over im2col + GEMM for a 3x3 stride-1 convolution. */
#define CONV_WINOGRAD_MIN_TILES 12

/* 1x1, stride 1, unpadded: the GEMM runs on x itself (no im2col). */
int conv_is_direct(const clcnn_tensor *w, const conv_geom *g);

/* The algorithm clcnn_conv2d runs (never CLCNN_CONV_ALGO_DEFAULT): g->algo,
 * else $CLCNN_CONV_ALGO, else the tuned winner, else the default rule; a choice that
 * does not apply falls through to the next. */
clcnn_conv_algo conv_choose_algo(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                 const conv_geom *g);

/* Implicit GEMM (GPU family, ops_conv_implicit_gemm): every image and group in one
 * gemm_local launch whose tile loader gathers the im2col columns from x, so that no
 * column matrix is written. flip: w is the weight [Cin of y][Cout of y / G][KH][KW] of
 * the convolution whose data gradient this is (x is its dY), read transposed and turned.
 * Arguments are the caller's to check. */
clcnn_status conv_implicit_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, int flip,
                                   const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                   clcnn_activation act, clcnn_tensor *y);

#endif
