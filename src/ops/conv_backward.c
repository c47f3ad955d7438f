/* conv_backward.c: the convolution's backward pass. The images of a batch chunk fold
 * into one GEMM dimension, so that small late-layer images waste no GEMM tiles and no
 * launch is per image:
 *  - dX of 3x3 stride-1 layers with enough tiles: the forward convolution of dY with
 *    the flipped, transposed weights (Winograd); on GPUs, of the other stride-1 layers
 *    that forward convolution as an implicit GEMM, of strided undilated layers one
 *    implicit GEMM per output phase (backward_data_phases); 1x1 stride-1 unpadded layers with
 *    large images: W^T dY straight into dX, image by image; otherwise
 *    dcol^T = dYp W over all the chunk's pixels (dY pixel-major [n][p][Cout]), then
 *    col2im;
 *  - dW of those layers by Winograd's F(3x3, 4x4) (winograd_wgrad.c); on GPUs, of the
 *    others by an implicit GEMM over the batch (backward_weight_implicit); on CPUs
 *    dW += (col dYp)^T with col [row][n][p] and dY pixel-major [n][p][Cout]: K = (n, p)
 *    is split into chunks (split-K) whose partial products, one batched GEMM, are
 *    summed into dW: each chunk's B block stays in cache while the row tiles pass;
 *  - db sums dY. */
#include <stdlib.h>
#include "ops/conv_internal.h"

/* Output pixels per image from which the data gradient of a 1x1 stride-1 unpadded
 * layer runs as W^T dY per image, straight into dX (tiles of 16 pixels then waste
 * little); smaller images go through the folded GEMM and a 1x1 col2im. */
#define DIRECT_FROM_P 64

/* Tiles of 4x4 pixels over the batch from which the backward of a layer whose forward
 * runs as Winograd does too: dX as a Winograd forward of dY, dW by F(3x3, 4x4). Below
 * it their transforms (of Cout x C filters for dX, of 36 Cout x C products for dW) cost
 * more than they save. Measured on PoCL with clbench conv (docs/PERFORMANCE.md): with
 * 512 channels at 3x3 both lose at 16 tiles (batch 16) and break even at 32; with 256
 * at 6x6 both win from 32 (batch 8). clcnn_conv_params.algo = Winograd forces them. */
#define BACKWARD_WINOGRAD_MIN_TILES 32

/* K (images x output pixels) below which the weight gradient, in one chunk, runs as
 * dW = dYp^T col (rows of dW per tile) rather than transposed: measured faster for
 * ResNet-18 at 96x96 in layer3 and layer4 (K = 576 and 144), slower in layer2 (2304). */
#define WGRAD_SHORT_K 1024

/* The sizes one backward pass works with. */
typedef struct {
    int N, C, H, W, cout, KH, KW, oh, ow, P;
    int ckk;    /* rows of the column matrix: C*KH*KW */
    int kg, mg; /* per group: column rows (Cin/G*KH*KW) and output channels */
    int direct; /* 1x1, stride 1, unpadded with large images: dX = W^T dY per image */
    conv_geom g;
} conv_dims;

/* Split-K chunk of the weight gradient: K values per chunk so that a chunk's block of
 * dYp (kc x mg floats, mg output channels per group) stays near 1 MiB (L2 and the near
 * L3), at least 256 so that the partial products cost little next to the GEMM, and
 * chunks of equal size. CLCNN_WGRAD_KC overrides the target (tuning, tests). */
static int wgrad_chunk(int mg, int K) {
    const char *v = getenv("CLCNN_WGRAD_KC");
    int target = v ? atoi(v) : 0;
    if (target <= 0) {
        target = (256 << 10) / (mg > 0 ? mg : 1);
        if (target < 256) target = 256;
    }
    if (K <= target) return K > 0 ? K : 1;
    const int chunks = (K + target / 2) / target; /* >= 1 */
    return (K + chunks - 1) / chunks;
}

/* Whether a weight gradient over K values runs as dW += dYp^T col in one GEMM. */
static int wgrad_short(const conv_dims *d, int K) { return K < WGRAD_SHORT_K && wgrad_chunk(d->mg, K) == K; }

/* The partial slices a weight gradient over K values needs (0: none). */
static int wgrad_slices(const conv_dims *d, int K) {
    const int kc = wgrad_chunk(d->mg, K);
    return wgrad_short(d, K) ? 0 : (K + kc - 1) / kc;
}

/* dYp [nc][P][Cout] = dY of images n0 .. n0+nc-1 pixel-major (conv_backward.cl's
 * pixel_major), an operand of both gradients' GEMMs. */
static clcnn_status dy_pixel_major(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *dy, int n0, int nc,
                                   clcnn_tensor *dyp) {
    static const char *what = "conv2d backward: dy to pixel-major";
    if (!rt_cpu_family(ctx)) /* [nc][Cout][P] to [nc][P][Cout] through local tiles */
        return ops_transpose_tiles(ctx, what, dy->buf, dy->offset + n0 * d->cout * d->P, dyp->buf, dyp->offset, nc,
                                     d->cout, d->P);
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "conv_backward.cl", "pixel_major", "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_MEM(dy->buf), KARG_INT(dy->offset + n0 * d->cout * d->P), KARG_TENSOR(dyp),
                               KARG_INT(nc), KARG_INT(d->cout), KARG_INT(d->P)};
    const size_t global[3] = {(size_t)d->P, (size_t)d->cout, (size_t)nc};
    return rt_launch(ctx, k, what, KARG_LIST(args), 3, global, NULL);
}

/* dX of images n0 .. n0+nc-1 (+= when accumulating) from col at col[n*csn + r*csr + p*csp]
 * (col2im_s1 for stride 1 and dilation 1, where the addresses are linear; otherwise
 * col2im_rows, a work-item per input row, on CPUs and col2im_pixels on GPUs). */
static clcnn_status col2im(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *col, col_layout lay, int n0,
                           int nc, clcnn_tensor *dx, int accumulate) {
    const conv_geom *g = &d->g;
    const int s1 = g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1;
    const int per_pixel = s1 || !rt_cpu_family(ctx); /* col2im_pixels on GPUs */
    const char *name = s1 ? "col2im_s1" : per_pixel ? "col2im_pixels" : "col2im_rows";
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "conv_backward.cl", name, "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg head[] = {KARG_TENSOR(col), KARG_INT(lay.csn), KARG_INT(lay.csr), KARG_INT(lay.csp),
                               KARG_MEM(dx->buf), KARG_INT(dx->offset + n0 * d->C * d->H * d->W),
                               KARG_INT(d->C), KARG_INT(d->H), KARG_INT(d->W), KARG_INT(d->KH), KARG_INT(d->KW)};
    const rt_karg strides[] = {KARG_INT(g->sh), KARG_INT(g->sw)};
    const rt_karg pads[] = {KARG_INT(g->ph), KARG_INT(g->pw)};
    const rt_karg dilation[] = {KARG_INT(g->dh), KARG_INT(g->dw)};
    const rt_karg tail[] = {KARG_INT(d->oh), KARG_INT(d->ow), KARG_INT(nc), KARG_INT(accumulate != 0)};
    rt_karg args[sizeof head / sizeof *head + 6 + sizeof tail / sizeof *tail];
    int na = 0;
    for (size_t i = 0; i < sizeof head / sizeof *head; i++) args[na++] = head[i];
    for (int i = 0; i < 2 && !s1; i++) args[na++] = strides[i];
    for (int i = 0; i < 2; i++) args[na++] = pads[i];
    for (int i = 0; i < 2 && !s1; i++) args[na++] = dilation[i];
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) args[na++] = tail[i];
    const size_t rows[2] = {(size_t)d->H, (size_t)d->C * (size_t)nc};
    const size_t pixels[3] = {(size_t)d->W, (size_t)d->H, (size_t)d->C * (size_t)nc};
    return rt_launch(ctx, k, name, na, args, per_pixel ? 3 : 2, per_pixel ? pixels : rows, NULL);
}

/* The direct case: dX = W^T dY, one GEMM per image and group, into dX itself. */
static clcnn_status backward_data_direct(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *w,
                                         const clcnn_tensor *dy, int n0, int nc, clcnn_tensor *dx, int accumulate) {
    const int P = d->P;
    const ops_gemm_args ga = {
        .M = d->kg, .N = P, .K = d->mg,
        .a = w, .sam = 1, .sak = d->kg, .a_sb0 = 0, .a_sb1 = d->mg * d->kg, /* W^T of each group */
        .b = dy, .b_off = n0 * d->cout * P, .ldb = P, .b_sb0 = d->cout * P, .b_sb1 = d->mg * P,
        .c = dx, .c_off = n0 * d->C * P, .scm = P, .scn = 1, .c_sb0 = d->C * P, .c_sb1 = d->kg * P,
        .nb0 = nc, .nb1 = d->g.groups, .act = CLCNN_ACT_NONE, .alpha = 1.0f,
        .beta = accumulate ? 1.0f : 0.0f}; /* beta 0 never reads dx */
    return ops_gemm_run(ctx, &ga);
}

/* dX of images n0 .. n0+nc-1: dcol^T = dYp W per group over all the chunk's pixels
 * (M = images x pixels, N = column rows, K = output channels), into col [n][p][row],
 * then col2im. This orientation reads both operands along contiguous rows: dYp
 * pixel-major and W as it is. Computed as dcol = W^T dY instead, A = W^T steps a whole
 * weight row (C*KH*KW floats) per k and the GEMM ran at ~100 against ~150 GFLOP/s. */
static clcnn_status backward_data(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *w,
                                  const clcnn_tensor *dyp, int n0, int nc, clcnn_tensor *col, clcnn_tensor *dx,
                                  int accumulate) {
    const ops_gemm_args ga = {
        .M = nc * d->P, .N = d->kg, .K = d->mg,
        .a = dyp, .sam = d->cout, .sak = 1, .a_sb1 = d->mg,
        .b = w, .ldb = d->kg, .b_sb1 = d->mg * d->kg,
        .c = col, .scm = d->ckk, .scn = 1, .c_sb1 = d->kg,
        .nb0 = 1, .nb1 = d->g.groups, .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = 0.0f};
    clcnn_status st = ops_gemm_run(ctx, &ga);
    if (st != CLCNN_OK) return st;
    return col2im(ctx, d, col, conv_layout_npr(d->ckk, d->P), n0, nc, dx, accumulate);
}

/* Whether a backward part whose Winograd form has `tiles` output tiles over the batch
 * runs that way, given that the convolution it comes from (x_like, w_like, p) would. */
static int backward_winograd(clcnn_context *ctx, const clcnn_tensor *x_like, const clcnn_tensor *w_like,
                             const conv_geom *g, int N, int OH, int OW) {
    if (conv_choose_algo(ctx, x_like, w_like, g) != CLCNN_CONV_ALGO_WINOGRAD) return 0;
    return g->algo == CLCNN_CONV_ALGO_WINOGRAD ||
           conv_winograd_tiles(N, OH, OW) >= BACKWARD_WINOGRAD_MIN_TILES;
}

const char *ops_conv2d_wgrad_algorithm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                         const clcnn_conv_params *params) {
    if (!x || !w || x->ndim != 4 || w->ndim != 4) return "";
    const conv_geom g = conv_geometry(params);
    if (conv_is_depthwise(x, w, &g)) return "depthwise";
    int y[4];
    if (conv_output_shape(ctx, "ops_conv2d_wgrad_algorithm", x, w, &g, y) != CLCNN_OK) return "";
    if (backward_winograd(ctx, x, w, &g, y[0], y[2], y[3])) return "winograd-4x4";
    return ctx && ops_conv_implicit_gemm(ctx) ? "implicit-gemm" : "im2col-gemm";
}

/* The forward convolution (stride 1, padding d(K-1) - p, weights flipped and
 * transposed) whose output is dX of a stride-1 convolution; 0 when there is none (a
 * stride above 1, a padding above d(K-1)). Sets *fg, its geometry. */
static int data_forward_geometry(const conv_dims *d, conv_geom *fg) {
    const conv_geom *g = &d->g;
    if (g->sh != 1 || g->sw != 1) return 0;
    const int ph = g->dh * (d->KH - 1) - g->ph, pw = g->dw * (d->KW - 1) - g->pw;
    if (ph < 0 || pw < 0) return 0;
    *fg = conv_geometry(&(clcnn_conv_params){.stride_h = 1, .stride_w = 1, .pad_h = ph, .pad_w = pw,
                                             .dilation_h = g->dh, .dilation_w = g->dw, .groups = g->groups,
                                             .algo = g->algo});
    return 1;
}

/* Whether dX of a stride-1, ungrouped convolution runs as that forward convolution with
 * Winograd (3x3, when the forward would): then dX costs a forward pass, not a GEMM
 * with K = Cout plus col2im. */
static int data_as_forward(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *dy, conv_geom *fg) {
    if (d->g.groups != 1 || d->direct || !data_forward_geometry(d, fg)) return 0;
    const clcnn_tensor wt_like = {.ctx = ctx, .ndim = 4, .shape = {d->C, d->cout, d->KH, d->KW}};
    return backward_winograd(ctx, dy, &wt_like, fg, d->N, d->H, d->W);
}

/* GPU family: dX of a strided, undilated convolution as sh x sw implicit GEMMs, one per
 * output phase (ry, rx): the input pixels (ry + sh qy, rx + sw qx) receive only the taps
 * ky = ky0 + sh jy (ky0 = (ry + ph) mod sh) and kx alike, from dY at (qy + dy0 - jy, qx +
 * dx0 - jx) with dy0 = (ry + ph - ky0) / sh. Pixels that no tap reaches (a phase past
 * the kernel, as the odd rows of a 1x1 stride-2 layer) are zero, or keep dX when
 * accumulating; each phase's GEMM adds dX as its residual then. */
static clcnn_status backward_data_phases(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *w,
                                         const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate) {
    const conv_geom *g = &d->g;
    const int G = g->groups, cg = d->C / G, T = d->KH * d->KW;
    clcnn_status st = accumulate ? CLCNN_OK : clcnn_tensor_fill(dx, 0.0f);
    for (int ry = 0; st == CLCNN_OK && ry < g->sh; ry++)
        for (int rx = 0; st == CLCNN_OK && rx < g->sw; rx++) {
            const int ky0 = (ry + g->ph) % g->sh, kx0 = (rx + g->pw) % g->sw;
            const int JY = ky0 < d->KH ? (d->KH - ky0 + g->sh - 1) / g->sh : 0;
            const int JX = kx0 < d->KW ? (d->KW - kx0 + g->sw - 1) / g->sw : 0;
            const int QH = ry < d->H ? (d->H - ry + g->sh - 1) / g->sh : 0;
            const int QW = rx < d->W ? (d->W - rx + g->sw - 1) / g->sw : 0;
            if (!JY || !JX || !QH || !QW) continue;
            const ops_gemm_gather gather = {.H = d->H, .W = d->W, .KH = d->KH, .KW = d->KW, .sh = g->sh,
                                              .sw = g->sw, .OW = d->ow, .phase = 1, .OH = d->oh, .ry = ry, .rx = rx,
                                              .ky0 = ky0, .kx0 = kx0, .dy0 = (ry + g->ph - ky0) / g->sh,
                                              .dx0 = (rx + g->pw - kx0) / g->sw, .JY = JY, .JX = JX, .QW = QW};
            const ops_gemm_args ga = {
                .M = cg, .N = QH * QW, .K = d->mg * JY * JX,
                .a = w, .sam = T, .sak = cg * T, .a_sb1 = d->mg * cg * T,
                .b = dy, .b_sb0 = d->cout * d->P, .b_sb1 = d->mg * d->P, .b_gather = &gather,
                .c = dx, .scm = d->H * d->W, .c_sb0 = d->C * d->H * d->W, .c_sb1 = cg * d->H * d->W,
                .nb0 = d->N, .nb1 = G, .residual = dx, /* zeroed above unless accumulating */
                .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = 0.0f};
            st = ops_gemm_run(ctx, &ga);
        }
    return st;
}

/* dX (+= when accumulating: dX joins as the residual, which the Winograd output reads
 * before it writes the same place) as the forward convolution of dY (data_as_forward),
 * whose weights are w transposed and turned, read so by the weight transform. */
static clcnn_status backward_data_forward(clcnn_context *ctx, const clcnn_tensor *w, const clcnn_tensor *dy,
                                          const conv_geom *fg, clcnn_tensor *dx, int accumulate) {
    clcnn_status st = conv_winograd_forward(ctx, dy, w, 1, NULL, fg, accumulate ? dx : NULL, CLCNN_ACT_NONE, dx, NULL);
    return st == CLCNN_OK ? st : rt_error_prefix(ctx, st, "clcnn_conv2d_backward: dx as a forward convolution");
}

/* dW += the sum of the S transposed slices [G][kg][mg] at part (sum_slices_t). */
static clcnn_status sum_slices(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *part, int S,
                               clcnn_tensor *dw) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "conv_backward.cl", "sum_slices_t", "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(part), KARG_TENSOR(dw), KARG_INT(d->kg), KARG_INT(d->mg),
                               KARG_INT(d->g.groups), KARG_INT(S)};
    const size_t global[3] = {(size_t)d->kg, (size_t)d->mg, (size_t)d->g.groups};
    return rt_launch(ctx, k, "conv2d weight gradient: chunk sum", KARG_LIST(args), 3, global, NULL);
}

/* dW += (col dYp)^T over images n0 .. n0+nc-1, K = (n, p) = nc*P, with col [row][n][p]
 * and dYp pixel-major, already reordered (below WGRAD_SHORT_K in one chunk: dYp^T col with col [n][p][row],
 * straight into dW): one batched GEMM (batch = K chunk) writes each chunk's product,
 * transposed [row][co] so that its stores are contiguous, into a slice of part, a
 * second GEMM the shorter last chunk's, and sum_slices adds them to dW. */
static clcnn_status backward_weight(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *x,
                                    const clcnn_tensor *w, int n0, int nc, clcnn_tensor *col, const clcnn_tensor *dyp,
                                    clcnn_tensor *part, clcnn_tensor *dw) {
    const int K = nc * d->P, cout = d->cout, kc = wgrad_chunk(d->mg, K), full = K / kc, tail = K - full * kc;
    const int short_k = wgrad_short(d, K);
    const col_layout lay = short_k ? conv_layout_npr(d->ckk, d->P) : (col_layout){d->P, K, 1};
    clcnn_status st = conv_im2col(ctx, x, n0, nc, w, &d->g, d->oh, d->ow, col, lay);
    if (st != CLCNN_OK) return st;
    if (short_k) { /* dW += dYp^T col [n][p][row], straight into dW */
        const ops_gemm_args gs = {
            .M = d->mg, .N = d->kg, .K = K,
            .a = dyp, .sam = 1, .sak = cout, .a_sb1 = d->mg,
            .b = col, .ldb = d->ckk, .b_sb1 = d->kg,
            .c = dw, .scm = d->kg, .scn = 1, .c_sb1 = d->mg * d->kg,
            .nb0 = 1, .nb1 = d->g.groups, .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = 1.0f};
        return ops_gemm_run(ctx, &gs);
    }
    const int len = d->cout * d->kg;
    ops_gemm_args ga = {
        .M = d->kg, .N = d->mg, .K = kc,
        .a = col, .sam = K, .sak = 1, .a_sb0 = kc, .a_sb1 = d->kg * K,
        .b = dyp, .ldb = cout, .b_sb0 = kc * cout, .b_sb1 = d->mg,
        .c = part, .scm = d->mg, .scn = 1, .c_sb0 = len, .c_sb1 = d->kg * d->mg,
        .nb0 = full, .nb1 = d->g.groups, .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = 0.0f};
    if ((st = ops_gemm_run(ctx, &ga)) != CLCNN_OK) return st;
    if (tail) {
        ga.K = tail;
        ga.nb0 = 1;
        ga.a_off = full * kc;
        ga.b_off = full * kc * cout;
        ga.c_off = full * len;
        if ((st = ops_gemm_run(ctx, &ga)) != CLCNN_OK) return st;
    }
    return sum_slices(ctx, d, part, full + (tail > 0), dw);
}

/* GPU family (implicit GEMM): dW += dYp^T col over the whole batch, K = images x pixels,
 * in one GEMM whose tile loader gathers col from x, so that no column matrix is written;
 * ops_gemm_run splits the long K into slices and adds their planes in a fixed order. */
static clcnn_status backward_weight_implicit(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *x,
                                             const clcnn_tensor *dy, clcnn_tensor *dw) {
    clcnn_tensor *dyp = NULL;
    clcnn_status st = rt_scratch(ctx, 1, (int[]){d->N * d->cout * d->P}, &dyp);
    if (st == CLCNN_OK) st = dy_pixel_major(ctx, d, dy, 0, d->N, dyp);
    const conv_geom *g = &d->g;
    const ops_gemm_gather gather = {.H = d->H, .W = d->W, .KH = d->KH, .KW = d->KW, .sh = g->sh, .sw = g->sw,
                                      .ph = g->ph, .pw = g->pw, .dh = g->dh, .dw = g->dw, .OW = d->ow,
                                      .rows_in_k = 0, .P = d->P, .image = d->C * d->H * d->W};
    const ops_gemm_args ga = {
        .M = d->mg, .N = d->kg, .K = d->N * d->P,
        .a = dyp, .sam = 1, .sak = d->cout, .a_sb1 = d->mg,
        .b = x, .b_sb1 = (d->C / g->groups) * d->H * d->W, .b_gather = &gather,
        .c = dw, .scm = d->kg, .scn = 1, .c_sb1 = d->mg * d->kg,
        .nb0 = 1, .nb1 = g->groups, .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = 1.0f};
    if (st == CLCNN_OK) st = ops_gemm_run(ctx, &ga);
    clcnn_tensor_destroy(dyp);
    return st;
}

/* db += sum of dY over images and pixels: one work-item per channel on CPUs, two
 * levels of work-groups on GPUs (reduce.c). */
static clcnn_status backward_bias(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *db) {
    const int N = dy->shape[0], C = dy->shape[1], P = dy->shape[2] * dy->shape[3];
    if (!rt_cpu_family(ctx)) return ops_add_channel_sums(ctx, "conv2d bias gradient", dy, N, C, P, db);
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "conv_backward.cl", "channel_grad_sum", "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(dy), KARG_TENSOR(db), KARG_INT(N), KARG_INT(C), KARG_INT(P)};
    return ops_launch_1d(ctx, k, "conv2d bias gradient", KARG_LIST(args), (size_t)C);
}

/* Shape checks of clcnn_conv2d_backward; fills d when the input's shape is known. */
static clcnn_status backward_check(clcnn_context *ctx, const char *op, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params, const clcnn_tensor *dy, const clcnn_tensor *dx,
                                   const clcnn_tensor *dw, const clcnn_tensor *db, conv_dims *d) {
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "weight", w, 4)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "dy", dy, 4)) != CLCNN_OK)
        return st;
    if (dw && !x) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: dw needs the input x, which is NULL", op);
    if ((x && (st = rt_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK) ||
        (dx && (st = rt_check_tensor(ctx, op, "dx", dx, 4)) != CLCNN_OK) ||
        (x && dx && (st = rt_check_same_shape(ctx, op, "input", x, "dx", dx)) != CLCNN_OK) ||
        (dw && (st = rt_check_same_shape(ctx, op, "weight", w, "dw", dw)) != CLCNN_OK) ||
        (db && (st = rt_check_vector(ctx, op, "db", db, w->shape[0])) != CLCNN_OK))
        return st;
    d->g = conv_geometry(params);
    const clcnn_tensor *in = x ? x : dx;
    if (!in) { /* db alone: only dy's channels must fit */
        if (dy->shape[1] == w->shape[0]) return CLCNN_OK;
        char sy[64], sw[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: dy %s does not have the %d channels of weight %s", op,
                           clcnn_tensor_shape_str(dy, sy, sizeof sy), w->shape[0],
                           clcnn_tensor_shape_str(w, sw, sizeof sw));
    }
    int shape[4];
    if ((st = conv_output_shape(ctx, op, in, w, &d->g, shape)) != CLCNN_OK ||
        (st = rt_check_shape_is(ctx, op, "dy", dy, 4, shape)) != CLCNN_OK)
        return st;
    d->N = in->shape[0], d->C = in->shape[1], d->H = in->shape[2], d->W = in->shape[3];
    d->cout = shape[1], d->oh = shape[2], d->ow = shape[3], d->P = d->oh * d->ow;
    d->KH = w->shape[2], d->KW = w->shape[3];
    d->ckk = d->C * d->KH * d->KW;
    d->kg = d->ckk / d->g.groups;
    d->mg = d->cout / d->g.groups;
    d->direct = d->KH == 1 && d->KW == 1 && d->g.sh == 1 && d->g.sw == 1 && d->g.ph == 0 && d->g.pw == 0 &&
                d->P >= DIRECT_FROM_P;
    return CLCNN_OK;
}

clcnn_status clcnn_conv2d_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params, const clcnn_tensor *dy, clcnn_tensor *dx,
                                   int accumulate, clcnn_tensor *dw, clcnn_tensor *db) {
    static const char *op = "clcnn_conv2d_backward";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    conv_dims d = {0};
    clcnn_status st = backward_check(ctx, op, x, w, params, dy, dx, dw, db, &d);
    if (st != CLCNN_OK) return st;
    if (db && (st = backward_bias(ctx, dy, db)) != CLCNN_OK) return st;
    if ((!dx && !dw) || d.N == 0) return CLCNN_OK;
    if (conv_is_depthwise(x ? x : dx, w, &d.g)) return conv_depthwise_backward(ctx, x, w, &d.g, dy, dx, accumulate, dw);

    /* Stride-1 3x3 layers: dX as a forward (Winograd) convolution, before the chunks. */
    conv_geom fg;
    const int dx_forward = dx && data_as_forward(ctx, &d, dy, &fg);
    if (dx_forward) {
        if ((st = backward_data_forward(ctx, w, dy, &fg, dx, accumulate)) != CLCNN_OK) return st;
        dx = NULL;
        if (!dw) return CLCNN_OK;
    } else if (dx && !d.direct && ops_conv_implicit_gemm(ctx) && data_forward_geometry(&d, &fg)) {
        /* GPU family: the same forward convolution as an implicit GEMM, w read turned in
         * place, dX joining as the residual when accumulating. Strided layers keep GEMM +
         * col2im: gathered, their dY would be mostly zeros (3 in 4 at stride 2). */
        st = conv_implicit_forward(ctx, dy, w, 1, NULL, &fg, accumulate ? dx : NULL, CLCNN_ACT_NONE, dx);
        if (st != CLCNN_OK) return rt_error_prefix(ctx, st, "%s: dx as an implicit GEMM", op);
        dx = NULL;
        if (!dw) return CLCNN_OK;
    } else if (dx && !d.direct && ops_conv_implicit_gemm(ctx) && d.g.dh == 1 && d.g.dw == 1) {
        /* GPU family: a strided layer's dX as implicit GEMMs per output phase */
        if ((st = backward_data_phases(ctx, &d, w, dy, dx, accumulate)) != CLCNN_OK)
            return rt_error_prefix(ctx, st, "%s: dx by output phases", op);
        dx = NULL;
        if (!dw) return CLCNN_OK;
    }
    /* Stride-1 3x3 layers: dW by F(3x3, 4x4); the GPU family's others by implicit GEMM. */
    if (dw && backward_winograd(ctx, x, w, &d.g, d.N, d.oh, d.ow)) {
        if ((st = conv_winograd_weight_grad(ctx, x, dy, &d.g, dw)) != CLCNN_OK) return st;
        dw = NULL;
        if (!dx) return CLCNN_OK;
    } else if (dw && ops_conv_implicit_gemm(ctx)) {
        if ((st = backward_weight_implicit(ctx, &d, x, dy, dw)) != CLCNN_OK) return st;
        dw = NULL;
        if (!dx) return CLCNN_OK;
    }
    /* Scratch per chunk of images: one column matrix serves dX's dcol and then dW's col;
     * dY pixel-major, both GEMMs' operand; dW's split-K partial products. */
    const int dx_col = dx && !d.direct, need_col = dw || dx_col;
    const size_t per_image = need_col ? (size_t)(d.ckk + d.cout) * d.P : 0;
    const int chunk = conv_batch_chunk(per_image ? per_image : 1, d.N);
    const int last = d.N % chunk ? d.N % chunk : chunk; /* images in the last chunk */
    const int s_full = dw ? wgrad_slices(&d, chunk * d.P) : 0, s_last = dw ? wgrad_slices(&d, last * d.P) : 0;
    const int slices = s_full > s_last ? s_full : s_last;
    clcnn_tensor *col = NULL, *dyp = NULL, *part = NULL;
    if ((need_col && (st = rt_scratch(ctx, 1, (int[]){chunk * d.ckk * d.P}, &col)) != CLCNN_OK) ||
        (need_col && (st = rt_scratch(ctx, 1, (int[]){chunk * d.cout * d.P}, &dyp)) != CLCNN_OK) ||
        (slices && (st = rt_scratch(ctx, 1, (int[]){slices * d.cout * d.kg}, &part)) != CLCNN_OK))
        goto free_scratch;
    for (int n0 = 0; n0 < d.N; n0 += chunk) {
        const int nc = d.N - n0 < chunk ? d.N - n0 : chunk;
        if (dx && d.direct && (st = backward_data_direct(ctx, &d, w, dy, n0, nc, dx, accumulate)) != CLCNN_OK) break;
        if (need_col && (st = dy_pixel_major(ctx, &d, dy, n0, nc, dyp)) != CLCNN_OK) break;
        if (dx_col && (st = backward_data(ctx, &d, w, dyp, n0, nc, col, dx, accumulate)) != CLCNN_OK) break;
        if (dw && (st = backward_weight(ctx, &d, x, w, n0, nc, col, dyp, part, dw)) != CLCNN_OK) break;
    }
free_scratch:
    clcnn_tensor_destroy(part);
    clcnn_tensor_destroy(dyp);
    clcnn_tensor_destroy(col);
    return st;
}
