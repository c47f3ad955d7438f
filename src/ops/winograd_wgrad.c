/* winograd_wgrad.c: the weight gradient of a 3x3 stride-1 convolution by Winograd's
 * F(3x3, 4x4) (cl/winograd.cl): transform a chunk of images' dY tiles (winograd_dy)
 * and their input patches (winograd_input, as in the forward), multiply them as 36
 * batched GEMMs whose inner dimension is the tiles, summed over the chunks, and map
 * the 36 products of every channel pair to its 3x3 gradient (winograd_wgrad_output).
 * Per channel pair that is 36 multiply-adds per tile instead of im2col + GEMM's 144
 * (9 per output pixel), and no 9x-sized column matrix. */
#include "ops/winograd_internal.h"

/* Y for images n0 .. n0+nc-1 of dy, in column panels of tn over the output channels. */
static clcnn_status wgrad_dy(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *dy, int n0, int nc, int tn,
                             clcnn_tensor *y) {
    const int T = nc * d->TH * d->TW, wv = wino_lanes_for(ctx, d->K), kp = wino_round_up(d->K, tn);
    cl_kernel k;
    clcnn_status st = wino_kernel(ctx, "winograd_dy", wv, &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_MEM(dy->buf), KARG_INT(dy->offset + n0 * d->K * d->OH * d->OW), KARG_TENSOR(y),
                               KARG_INT(d->su), KARG_INT(d->K), KARG_INT(d->OH), KARG_INT(d->OW),
                               KARG_INT(d->TH), KARG_INT(d->TW), KARG_INT(T), KARG_INT(tn)};
    const size_t global[2] = {wino_loop_width(ctx, kp, wv), (size_t)T};
    return rt_launch(ctx, k, "winograd_dy", KARG_LIST(args), 2, global, ops_fixed_local(ctx));
}

/* M[xi] (+)= V[xi] Y[xi] over the T tiles of a chunk: M = C, N = K, K = T; V is a plain
 * [c][tp] matrix, Y the GEMM's panels. */
static clcnn_status wgrad_gemm(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *v, int tp,
                               const clcnn_tensor *y, int T, int accumulate, clcnn_tensor *m) {
    const ops_gemm_args ga = {
        .M = d->C, .N = d->K, .K = T,
        .a = v, .sam = tp, .sak = 1, .a_sb0 = d->sv,
        .b = y, .ldb = d->K, .b_sb0 = d->su, .b_panels = 1, /* winograd_dy wrote panels */
        .c = m, .scm = d->K, .scn = 1, .c_sb0 = d->sm,
        .nb0 = WINO_XI, .nb1 = 1, .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = accumulate ? 1.0f : 0.0f};
    return ops_gemm_run(ctx, &ga);
}

/* dw += G^T M G per channel pair. */
static clcnn_status wgrad_output(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *m, clcnn_tensor *dw) {
    const int wv = wino_lanes_for(ctx, d->K);
    cl_kernel k;
    clcnn_status st = wino_kernel(ctx, "winograd_wgrad_output", wv, &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(m), KARG_INT(d->sm), KARG_TENSOR(dw), KARG_INT(d->K), KARG_INT(d->C)};
    const size_t global[2] = {wino_loop_width(ctx, d->K, wv), (size_t)d->C};
    return rt_launch(ctx, k, "winograd_wgrad_output", KARG_LIST(args), 2, global, ops_fixed_local(ctx));
}

/* Arguments are checked by clcnn_conv2d_backward; conv_winograd_applies(x, dw, g) holds. */
clcnn_status conv_winograd_weight_grad(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *dy,
                                       const conv_geom *g, clcnn_tensor *dw) {
    wino_dims d = wino_dims_of(x, dy->shape[1], dy->shape[2], dy->shape[3], g);
    const int tiles = d.TH * d.TW, tn = ctx->params.gemm_tile_n;
    const int kp = wino_round_up(d.K, tn); /* Y's rows padded to whole panels */
    d.chunk = conv_batch_chunk((size_t)WINO_XI * (size_t)(d.C + kp) * (size_t)tiles, d.N);
    const int tp_max = wino_round_up(d.chunk * tiles, 8); /* V's rows, a multiple of the lanes */
    d.su = wino_plane_stride(kp * d.chunk * tiles);
    d.sv = wino_plane_stride(d.C * tp_max);
    d.sm = wino_plane_stride(d.C * d.K);
    clcnn_tensor *y = NULL, *v = NULL, *m = NULL;
    clcnn_status st;
    if ((st = rt_scratch(ctx, 1, (int[]){WINO_XI * d.su}, &y)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 1, (int[]){WINO_XI * d.sv}, &v)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 1, (int[]){WINO_XI * d.sm}, &m)) != CLCNN_OK)
        goto free_scratch;
    for (int n0 = 0; n0 < d.N; n0 += d.chunk) {
        const int nc = d.N - n0 < d.chunk ? d.N - n0 : d.chunk, T = nc * tiles;
        const int tp = wino_round_up(T, 8);
        if ((st = wgrad_dy(ctx, &d, dy, n0, nc, tn, y)) != CLCNN_OK ||
            (st = wino_input(ctx, &d, x, n0, nc, tp, v)) != CLCNN_OK ||
            (st = wgrad_gemm(ctx, &d, v, tp, y, T, n0 > 0, m)) != CLCNN_OK)
            goto free_scratch;
    }
    st = wgrad_output(ctx, &d, m, dw);
free_scratch:
    clcnn_tensor_destroy(m);
    clcnn_tensor_destroy(v);
    clcnn_tensor_destroy(y);
    return st;
}
