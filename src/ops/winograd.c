/* winograd.c: 3x3 stride-1 convolution by Winograd's F(4x4, 3x3) (cl/winograd.cl):
 * transform the weights to U[36][K][C] and a chunk of images' 6x6 input patches to
 * V[36][C][tiles], multiply them as 36 batched GEMMs on the project's GEMM, and map
 * the products back to 4x4 output tiles with clcnn_conv2d's epilogue (bias, residual,
 * activation). 2.25 times fewer multiply-adds than im2col + GEMM and no 9x-sized column
 * matrix; the transforms cost memory traffic, which pays when there are enough tiles
 * per weight (the default rule in conv.c). */
#include "ops/winograd_internal.h"

#include <stdio.h>

int conv_winograd_applies(const clcnn_tensor *x, const clcnn_tensor *w, const conv_geom *g) {
    (void)x;
    return w->shape[2] == 3 && w->shape[3] == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->groups == 1;
}

wino_dims wino_dims_of(const clcnn_tensor *x, int K, int OH, int OW, const conv_geom *g) {
    wino_dims d = {.N = x->shape[0], .C = x->shape[1], .H = x->shape[2], .W = x->shape[3], .K = K,
                   .OH = OH, .OW = OW, .ph = g->ph, .pw = g->pw};
    d.TH = (OH + WINO_TILE - 1) / WINO_TILE;
    d.TW = (OW + WINO_TILE - 1) / WINO_TILE;
    return d;
}

int wino_plane_stride(int n) { return (n + 31) / 32 * 32 + 16; }

clcnn_status wino_kernel(clcnn_context *ctx, const char *name, int wv, cl_kernel *k) {
    char opts[16];
    snprintf(opts, sizeof opts, "-DWV=%d", wv);
    return rt_get_kernel(ctx, "winograd.cl", name, opts, k);
}

int wino_lanes_for(const clcnn_context *ctx, int n) {
    if (!rt_cpu_family(ctx)) return 1;
    return n >= 6 ? 8 : 4;
}

size_t wino_loop_width(const clcnn_context *ctx, int n, int wv) {
    return rt_cpu_family(ctx) ? 1 : wino_ceil_div(n, wv);
}

/* U[36][K][C] from w [K, C, 3, 3], or with w_flipped from the flipped transpose of w
 * [C, K, 3, 3] (conv_winograd_forward). */
static clcnn_status winograd_weights(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *w, int w_flipped,
                                     clcnn_tensor *u) {
    const int wv = wino_lanes_for(ctx, d->C);
    cl_kernel k;
    clcnn_status st = wino_kernel(ctx, "winograd_weights", wv, &k);
    if (st != CLCNN_OK) return st;
    /* filter (k, c) at k * ks + c * cs, its values from q0 by qs (cl/winograd.cl) */
    const int ks = w_flipped ? 9 : 9 * d->C, cs = w_flipped ? 9 * d->K : 9;
    const int q0 = w_flipped ? 8 : 0, qs = w_flipped ? -1 : 1;
    const rt_karg args[] = {KARG_TENSOR(w), KARG_TENSOR(u), KARG_INT(d->su), KARG_INT(d->K), KARG_INT(d->C),
                               KARG_INT(ks),   KARG_INT(cs),   KARG_INT(q0),    KARG_INT(qs)};
    const size_t global[2] = {wino_loop_width(ctx, d->C, wv), (size_t)d->K};
    return rt_launch(ctx, k, "winograd_weights", KARG_LIST(args), 2, global, ops_fixed_local(ctx));
}

/* xp = images n0 .. n0+nc-1 of x zero-padded to the tiles' patches (winograd_pad). */
static clcnn_status wino_pad(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *x, int n0, int nc, int Hp,
                             int Wp, clcnn_tensor *xp) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "winograd.cl", "winograd_pad", "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_MEM(x->buf), KARG_INT(x->offset + n0 * d->C * d->H * d->W), KARG_TENSOR(xp),
                               KARG_INT(d->H), KARG_INT(d->W), KARG_INT(d->ph), KARG_INT(d->pw), KARG_INT(Hp),
                               KARG_INT(Wp), KARG_INT(nc * d->C)};
    const size_t global[2] = {(size_t)Hp, (size_t)nc * (size_t)d->C};
    return rt_launch(ctx, k, "winograd_pad", KARG_LIST(args), 2, global, NULL);
}

clcnn_status wino_input(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *x, int n0, int nc, int tn,
                        clcnn_tensor *v) {
    const int T = nc * d->TH * d->TW, wv = wino_lanes_for(ctx, T);
    const int Hp = d->TH * WINO_TILE + 2, Wp = d->TW * WINO_TILE + 2;
    clcnn_tensor *xp = NULL;
    cl_kernel k;
    clcnn_status st;
    if ((st = rt_scratch(ctx, 1, (int[]){nc * d->C * Hp * Wp}, &xp)) != CLCNN_OK ||
        (st = wino_pad(ctx, d, x, n0, nc, Hp, Wp, xp)) != CLCNN_OK ||
        (st = wino_kernel(ctx, "winograd_input", wv, &k)) != CLCNN_OK)
        goto free_xp;
    const rt_karg args[] = {KARG_TENSOR(xp), KARG_TENSOR(v), KARG_INT(d->sv), KARG_INT(d->C), KARG_INT(Hp),
                               KARG_INT(Wp), KARG_INT(d->TH), KARG_INT(d->TW), KARG_INT(T), KARG_INT(tn)};
    const size_t global[2] = {wino_ceil_div(T, tn) * (size_t)tn / (size_t)wv, (size_t)d->C}; /* whole panels */
    st = rt_launch(ctx, k, "winograd_input", KARG_LIST(args), 2, global, ops_fixed_local(ctx));
free_xp:
    clcnn_tensor_destroy(xp);
    return st;
}

/* M[xi] = U[xi] V[xi] for the 36 points xi, one batched GEMM (M = K, N = T, K = C). */
static clcnn_status winograd_gemm(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *u,
                                  const clcnn_tensor *v, int T, clcnn_tensor *m) {
    const ops_gemm_args ga = {
        .M = d->K, .N = T, .K = d->C,
        .a = u, .sam = d->C, .sak = 1, .a_sb0 = d->su,
        .b = v, .ldb = T, .b_sb0 = d->sv, .b_panels = 1, /* winograd_input wrote panels */
        .c = m, .scm = T, .scn = 1, .c_sb0 = d->sm,
        .nb0 = WINO_XI, .nb1 = 1, .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = 0.0f};
    return ops_gemm_run(ctx, &ga);
}

/* y for images n0 .. n0+nc-1 from the GEMM's products m, with the epilogue. */
static clcnn_status winograd_output(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *m, int n0, int nc,
                                    const clcnn_tensor *bias, const clcnn_tensor *residual, clcnn_activation act,
                                    clcnn_tensor *y) {
    const int T = nc * d->TH * d->TW, wv = wino_lanes_for(ctx, T);
    cl_kernel k;
    clcnn_status st = wino_kernel(ctx, "winograd_output", wv, &k);
    if (st != CLCNN_OK) return st;
    const int off = n0 * d->K * d->OH * d->OW;
    const rt_karg args[] = {KARG_TENSOR(m), KARG_INT(d->sm), KARG_MEM(y->buf), KARG_INT(y->offset + off),
                               KARG_TENSOR(bias), rt_karg_tensor_buf(residual),
                               KARG_INT(residual ? residual->offset + off : 0), KARG_INT(act), KARG_INT(d->K),
                               KARG_INT(d->OH), KARG_INT(d->OW), KARG_INT(d->TH), KARG_INT(d->TW), KARG_INT(T)};
    const size_t global[2] = {wino_ceil_div(T, wv), (size_t)d->K};
    return rt_launch(ctx, k, "winograd_output", KARG_LIST(args), 2, global, ops_fixed_local(ctx));
}

/* The transformed weight U in *u: from the cache when it holds one of the right size
 * (it depends on K and C only), else transformed now, into a tensor the cache keeps
 * or, without a cache, into *scratch, which the caller destroys. */
static clcnn_status weights_for(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *w, int w_flipped,
                                clcnn_tensor **u_cache, const clcnn_tensor **u, clcnn_tensor **scratch) {
    const int numel = WINO_XI * d->su;
    *scratch = NULL;
    if (u_cache && *u_cache && (int)(*u_cache)->numel == numel) {
        *u = *u_cache;
        return CLCNN_OK;
    }
    clcnn_tensor *t = NULL;
    clcnn_status st = rt_scratch(ctx, 1, (int[]){numel}, &t);
    if (st == CLCNN_OK) st = winograd_weights(ctx, d, w, w_flipped, t);
    if (st != CLCNN_OK) {
        clcnn_tensor_destroy(t);
        return st;
    }
    if (u_cache) {
        clcnn_tensor_destroy(*u_cache);
        *u_cache = t;
    } else {
        *scratch = t;
    }
    *u = t;
    return CLCNN_OK;
}

/* Arguments are checked by the caller; conv_winograd_applies(x, w, g) holds (for the
 * flipped transpose of w with w_flipped). */
clcnn_status conv_winograd_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, int w_flipped,
                                   const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                   clcnn_activation act, clcnn_tensor *y, clcnn_tensor **u_cache) {
    wino_dims d = wino_dims_of(x, w->shape[w_flipped ? 1 : 0], y->shape[2], y->shape[3], g);
    const int tiles = d.TH * d.TW;
    d.chunk = conv_batch_chunk((size_t)WINO_XI * (size_t)(d.C + d.K) * (size_t)tiles, d.N);
    d.su = wino_plane_stride(d.K * d.C);
    const int tn = ctx->params.gemm_tile_n; /* V's planes are GEMM column panels of tn */
    d.sv = wino_plane_stride(wino_round_up(d.chunk * tiles, tn) * d.C);
    d.sm = wino_plane_stride(d.K * d.chunk * tiles);
    const clcnn_tensor *u = NULL;
    clcnn_tensor *u_scratch = NULL, *v = NULL, *m = NULL;
    clcnn_status st;
    if ((st = weights_for(ctx, &d, w, w_flipped, u_cache, &u, &u_scratch)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 1, (int[]){WINO_XI * d.sv}, &v)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 1, (int[]){WINO_XI * d.sm}, &m)) != CLCNN_OK)
        goto free_scratch;
    for (int n0 = 0; n0 < d.N; n0 += d.chunk) {
        const int nc = d.N - n0 < d.chunk ? d.N - n0 : d.chunk;
        if ((st = wino_input(ctx, &d, x, n0, nc, tn, v)) != CLCNN_OK ||
            (st = winograd_gemm(ctx, &d, u, v, nc * tiles, m)) != CLCNN_OK ||
            (st = winograd_output(ctx, &d, m, n0, nc, bias, residual, act, y)) != CLCNN_OK)
            break;
    }
free_scratch:
    clcnn_tensor_destroy(m);
    clcnn_tensor_destroy(v);
    clcnn_tensor_destroy(u_scratch);
    return st;
}
