/* conv.c: 2-D convolution's forward, its shape rules and the choice of algorithm.
 * The general algorithm is GEMM on the register-blocked kernel, per image and group:
 * Y[co, p] = W[co, (ci, ky, kx)] x col[(ci, ky, kx), p]. A 1x1 stride-1 unpadded
 * convolution uses the input itself as col; others build col with im2col, a chunk of
 * images at a time so the scratch stays bounded. Bias, residual and activation are
 * applied in the GEMM's epilogue. 3x3 stride-1 convolutions may run as Winograd
 * (winograd.c) and depthwise ones as their own kernels (depthwise.c); the backward
 * pass is in conv_backward.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops/conv_internal.h"
#include "runtime/kernel_profile.h"

conv_geom conv_geometry(const clcnn_conv_params *p) {
    conv_geom g = {1, 1, 0, 0, 1, 1, 1, CLCNN_CONV_ALGO_DEFAULT};
    if (!p) return g;
    g.algo = p->algo;
    g.sh = p->stride_h ? p->stride_h : 1;
    g.sw = p->stride_w ? p->stride_w : 1;
    g.ph = p->pad_h;
    g.pw = p->pad_w;
    g.dh = p->dilation_h ? p->dilation_h : 1;
    g.dw = p->dilation_w ? p->dilation_w : 1;
    g.groups = p->groups ? p->groups : 1;
    return g;
}

clcnn_status conv_output_shape(clcnn_context *ctx, const char *op, const clcnn_tensor *x, const clcnn_tensor *w,
                               const conv_geom *g, int shape[4]) {
    char sx[64], sw[64];
    if (g->sh < 0 || g->sw < 0 || g->ph < 0 || g->pw < 0 || g->dh < 0 || g->dw < 0 || g->groups < 0)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: negative stride, padding, dilation or groups", op);
    const int cin = x->shape[1], cout = w->shape[0];
    if (cin % g->groups || cout % g->groups || w->shape[1] != cin / g->groups)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: input %s and weight %s do not fit groups=%d (weight must be [Cout, Cin/groups, KH, KW])",
                           op, clcnn_tensor_shape_str(x, sx, sizeof sx), clcnn_tensor_shape_str(w, sw, sizeof sw), g->groups);
    const int oh = (x->shape[2] + 2 * g->ph - g->dh * (w->shape[2] - 1) - 1) / g->sh + 1;
    const int ow = (x->shape[3] + 2 * g->pw - g->dw * (w->shape[3] - 1) - 1) / g->sw + 1;
    if (x->shape[2] + 2 * g->ph < g->dh * (w->shape[2] - 1) + 1 || x->shape[3] + 2 * g->pw < g->dw * (w->shape[3] - 1) + 1 ||
        oh <= 0 || ow <= 0)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: kernel of weight %s is larger than the padded input %s", op,
                           clcnn_tensor_shape_str(w, sw, sizeof sw), clcnn_tensor_shape_str(x, sx, sizeof sx));
    shape[0] = x->shape[0];
    shape[1] = cout;
    shape[2] = oh;
    shape[3] = ow;
    return CLCNN_OK;
}

clcnn_status clcnn_conv2d_output_shape(const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_conv_params *params,
                                       int shape[4]) {
    if (!x || !w || !shape) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_conv2d_output_shape: NULL argument");
    if (x->ndim != 4 || w->ndim != 4)
        return rt_error(x->ctx, CLCNN_ERR_SHAPE, "clcnn_conv2d_output_shape: input and weight must be 4-D");
    const conv_geom g = conv_geometry(params);
    return conv_output_shape(x->ctx, "clcnn_conv2d_output_shape", x, w, &g, shape);
}

/* Values each im2col_rows work-item writes, at least (whole output rows). */
#define IM2COL_ITEM_VALUES 256

/* The [n][r][p] layout (unit stride in p) is written a row of output pixels at a time
 * (im2col_rows); any other one pixel's column rows at a time (im2col_pixels), which
 * keeps the [p][n][r] layout's writes contiguous. */
/* The GPU family's im2col (im2col_elems: a value per work-item). */
static clcnn_status im2col_elems(clcnn_context *ctx, const clcnn_tensor *x, int n_first, int n_count,
                                 const clcnn_tensor *w, const conv_geom *g, int oh, int ow, clcnn_tensor *col,
                                 col_layout lay) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "conv.cl", "im2col_elems", "", &k);
    if (st != CLCNN_OK) return st;
    const int C = x->shape[1], H = x->shape[2], W = x->shape[3], KH = w->shape[2], KW = w->shape[3];
    const int p_fast = lay.csr != 1, R = C * KH * KW, P = oh * ow;
    const rt_karg args[] = {KARG_MEM(x->buf), KARG_INT(x->offset + n_first * C * H * W), KARG_TENSOR(col),
                               KARG_INT(lay.csn), KARG_INT(lay.csr), KARG_INT(lay.csp),
                               KARG_INT(C), KARG_INT(H), KARG_INT(W), KARG_INT(KH), KARG_INT(KW),
                               KARG_INT(g->sh), KARG_INT(g->sw), KARG_INT(g->ph), KARG_INT(g->pw),
                               KARG_INT(g->dh), KARG_INT(g->dw), KARG_INT(oh), KARG_INT(ow), KARG_INT(p_fast)};
    const size_t global[3] = {(size_t)(p_fast ? P : R), (size_t)(p_fast ? R : P), (size_t)n_count};
    rt_kprofile_work(0, "%dx%d b%d", R, P, n_count); /* column rows x pixels, images */
    return rt_launch(ctx, k, "im2col_elems", KARG_LIST(args), 3, global, NULL);
}

clcnn_status conv_im2col(clcnn_context *ctx, const clcnn_tensor *x, int n_first, int n_count, const clcnn_tensor *w,
                         const conv_geom *g, int oh, int ow, clcnn_tensor *col, col_layout lay) {
    if (!rt_cpu_family(ctx)) return im2col_elems(ctx, x, n_first, n_count, w, g, oh, ow, col, lay);
    const int rows = lay.csp == 1;
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "conv.cl", rows ? "im2col_rows" : "im2col_pixels", "", &k);
    if (st != CLCNN_OK) return st;
    const int C = x->shape[1], H = x->shape[2], W = x->shape[3], KH = w->shape[2], KW = w->shape[3];
    const rt_karg head[] = {KARG_MEM(x->buf), KARG_INT(x->offset + n_first * C * H * W), KARG_TENSOR(col),
                               KARG_INT(lay.csn), KARG_INT(lay.csr), KARG_INT(lay.csp)};
    const rt_karg tail[] = {KARG_INT(C), KARG_INT(H), KARG_INT(W), KARG_INT(KH), KARG_INT(KW),
                               KARG_INT(g->sh), KARG_INT(g->sw), KARG_INT(g->ph), KARG_INT(g->pw),
                               KARG_INT(g->dh), KARG_INT(g->dw), KARG_INT(oh), KARG_INT(ow)};
    enum { NHEAD = sizeof head / sizeof *head, NTAIL = sizeof tail / sizeof *tail };
    rt_karg args[NHEAD + NTAIL + 1];
    int na = 0;
    for (int i = 0; i < NHEAD - rows; i++) args[na++] = head[i]; /* im2col_rows has no csp */
    for (int i = 0; i < NTAIL; i++) args[na++] = tail[i];
    /* im2col_rows: output rows per work-item, so that each writes about 256 values. */
    const int block = ow >= IM2COL_ITEM_VALUES ? 1 : (IM2COL_ITEM_VALUES + ow - 1) / ow;
    const rt_karg block_arg = KARG_INT(block);
    if (rows) args[na++] = block_arg;
    const size_t global[3] = {rows ? (size_t)((oh + block - 1) / block) : (size_t)oh,
                              rows ? (size_t)C * KH * KW : (size_t)n_count, rows ? (size_t)n_count : 1};
    rt_kprofile_work(0, "%dx%d b%d", C * KH * KW, oh * ow, n_count); /* column rows x pixels, images */
    return rt_launch(ctx, k, rows ? "im2col_rows" : "im2col_pixels", na, args, 3, global, NULL);
}

int conv_batch_chunk(size_t per_image, int N) {
    const int chunk = per_image >= CONV_COL_MAX_FLOATS ? 1 : (int)(CONV_COL_MAX_FLOATS / per_image);
    return chunk < N ? chunk : N;
}

clcnn_status conv_implicit_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, int flip,
                                   const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                   clcnn_activation act, clcnn_tensor *y) {
    const int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int cout = y->shape[1], oh = y->shape[2], ow = y->shape[3], P = oh * ow;
    const int KH = w->shape[2], KW = w->shape[3], T = KH * KW, G = g->groups, kg = (C / G) * T, mg = cout / G;
    const ops_gemm_gather gather = {.H = H, .W = W, .KH = KH, .KW = KW, .sh = g->sh, .sw = g->sw, .ph = g->ph,
                                      .pw = g->pw, .dh = g->dh, .dw = g->dw, .OW = ow, .rows_in_k = 1, .flip_a = flip};
    /* A: w as it is, [cout][kg] per group; or (flip) w [C][cout / G][T] read as its
     * transpose [cout / G][C / G x T] with each filter turned */
    const ops_gemm_args ga = {
        .M = mg, .N = P, .K = kg,
        .a = w, .sam = flip ? T : kg, .sak = flip ? mg * T : 1, .a_sb0 = 0, .a_sb1 = mg * kg,
        .b = x, .b_sb0 = C * H * W, .b_sb1 = (C / G) * H * W, .b_gather = &gather,
        .c = y, .scm = P, .scn = 1, .c_sb0 = cout * P, .c_sb1 = mg * P,
        .nb0 = N, .nb1 = G,
        .bias = bias, .bias_sb1 = mg,
        .residual = residual,
        .act = act, .alpha = 1.0f, .beta = 0.0f};
    return ops_gemm_run(ctx, &ga);
}

/* im2col + GEMM per image and group (1x1 stride-1 unpadded: the GEMM on x itself), or
 * the implicit GEMM where the GPU family runs gemm_local. Arguments are checked by
 * clcnn_conv2d. */
static clcnn_status conv_gemm_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                      const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                      clcnn_activation act, clcnn_tensor *y) {
    const int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int cout = y->shape[1], oh = y->shape[2], ow = y->shape[3], P = oh * ow;
    const int KH = w->shape[2], KW = w->shape[3], G = g->groups;
    const int kg = (C / G) * KH * KW; /* GEMM K per group */
    const int mg = cout / G;          /* GEMM M per group */
    const int direct = conv_is_direct(w, g);
    if (!direct && ops_conv_implicit_gemm(ctx)) return conv_implicit_forward(ctx, x, w, 0, bias, g, residual, act, y);

    const int chunk = direct ? N : conv_batch_chunk((size_t)C * KH * KW * (size_t)P, N);
    clcnn_tensor *col = NULL;
    clcnn_status st = CLCNN_OK;
    if (!direct && (st = rt_scratch(ctx, 3, (int[]){chunk, C * KH * KW, P}, &col)) != CLCNN_OK) return st;

    for (int n0 = 0; n0 < N && st == CLCNN_OK; n0 += chunk) {
        const int nc = N - n0 < chunk ? N - n0 : chunk;
        const clcnn_tensor *b = x;
        int b_off = n0 * C * H * W;
        if (!direct) {
            if ((st = conv_im2col(ctx, x, n0, nc, w, g, oh, ow, col, conv_layout_nrp(C * KH * KW, P))) != CLCNN_OK) break;
            b = col;
            b_off = 0;
        }
        const ops_gemm_args ga = {
            .M = mg, .N = P, .K = kg,
            .a = w, .sam = kg, .sak = 1, .a_sb0 = 0, .a_sb1 = mg * kg,
            .b = b, .b_off = b_off, .ldb = P, .b_sb0 = C * KH * KW * P, .b_sb1 = kg * P,
            .c = y, .c_off = n0 * cout * P, .scm = P, .scn = 1, .c_sb0 = cout * P, .c_sb1 = mg * P,
            .nb0 = nc, .nb1 = G,
            .bias = bias, .bias_sb1 = mg, /* row m of group g is channel g*mg + m */
            .residual = residual, .r_off = n0 * cout * P,
            .act = act, .alpha = 1.0f, .beta = 0.0f};
        st = ops_gemm_run(ctx, &ga);
    }
    clcnn_tensor_destroy(col);
    return st;
}

/* clcnn_conv2d, with ops_conv2d_fixed_weight's Winograd cache when u_cache is not NULL. */
static clcnn_status conv2d(clcnn_context *ctx, const char *op, const clcnn_tensor *x, const clcnn_tensor *w,
                           const clcnn_tensor *bias, const clcnn_conv_params *params, const clcnn_tensor *residual,
                           clcnn_activation act, clcnn_tensor *y, clcnn_tensor **u_cache) {
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "weight", w, 4)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "output", y, 4)) != CLCNN_OK ||
        (st = ops_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    const conv_geom g = conv_geometry(params);
    int shape[4];
    if ((st = conv_output_shape(ctx, op, x, w, &g, shape)) != CLCNN_OK) return st;
    if ((st = rt_check_shape_is(ctx, op, "output", y, 4, shape)) != CLCNN_OK) return st;
    if (bias && (st = rt_check_vector(ctx, op, "bias", bias, shape[1])) != CLCNN_OK) return st;
    if (residual && (st = rt_check_same_shape(ctx, op, "residual", residual, "output", y)) != CLCNN_OK) return st;
    if (y->numel == 0) return CLCNN_OK;

    switch (conv_choose_algo(ctx, x, w, &g)) {
    case CLCNN_CONV_ALGO_WINOGRAD: return conv_winograd_forward(ctx, x, w, 0, bias, &g, residual, act, y, u_cache);
    case CLCNN_CONV_ALGO_DEPTHWISE: return conv_depthwise_forward(ctx, x, w, bias, &g, residual, act, y);
    default: return conv_gemm_forward(ctx, x, w, bias, &g, residual, act, y);
    }
}

clcnn_status clcnn_conv2d(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_tensor *bias,
                          const clcnn_conv_params *params, const clcnn_tensor *residual, clcnn_activation act,
                          clcnn_tensor *y) {
    return conv2d(ctx, "clcnn_conv2d", x, w, bias, params, residual, act, y, NULL);
}

clcnn_status ops_conv2d_fixed_weight(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                       const clcnn_tensor *bias, const clcnn_conv_params *params,
                                       const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y,
                                       clcnn_tensor **winograd_u) {
    static const char *op = "ops_conv2d_fixed_weight";
    if (!winograd_u) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: winograd_u is NULL", op);
    return conv2d(ctx, op, x, w, bias, params, residual, act, y, winograd_u);
}

/* ------------------------------------------------------ algorithm choice -- */

int conv_is_direct(const clcnn_tensor *w, const conv_geom *g) {
    return w->shape[2] == 1 && w->shape[3] == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

static int algo_applies(clcnn_conv_algo algo, const clcnn_tensor *x, const clcnn_tensor *w, const conv_geom *g) {
    switch (algo) {
    case CLCNN_CONV_ALGO_IM2COL: return 1;
    case CLCNN_CONV_ALGO_WINOGRAD: return conv_winograd_applies(x, w, g);
    case CLCNN_CONV_ALGO_DEPTHWISE: return conv_is_depthwise(x, w, g);
    default: return 0;
    }
}

/* $CLCNN_CONV_ALGO as an algorithm; 0 when unset or not a name (a typo is logged). */
static clcnn_conv_algo env_algo(void) {
    static const struct {
        const char *name;
        clcnn_conv_algo algo;
    } names[] = {{"im2col", CLCNN_CONV_ALGO_IM2COL}, {"winograd", CLCNN_CONV_ALGO_WINOGRAD},
                 {"depthwise", CLCNN_CONV_ALGO_DEPTHWISE}};
    const char *v = getenv("CLCNN_CONV_ALGO");
    if (!v || !*v) return CLCNN_CONV_ALGO_DEFAULT;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(v, names[i].name)) return names[i].algo;
    rt_log(CLCNN_LOG_DEBUG, "ignoring CLCNN_CONV_ALGO=%s: want im2col, winograd or depthwise", v);
    return CLCNN_CONV_ALGO_DEFAULT;
}

/* The default rule, measured on PoCL (docs/PERFORMANCE.md, "Convolution algorithms"):
 * depthwise kernels for depthwise convolutions; Winograd for 3x3 stride-1 ones with
 * enough output tiles per weight (its weight transform and per-tile transforms do not
 * pay off on a few tiles, such as ResNet's 7x7 layer4 at batch 1); im2col + GEMM else. */
static clcnn_conv_algo default_algo(const clcnn_tensor *x, const clcnn_tensor *w, const conv_geom *g) {
    if (conv_is_depthwise(x, w, g)) return CLCNN_CONV_ALGO_DEPTHWISE;
    if (conv_winograd_applies(x, w, g)) {
        const int oh = x->shape[2] + 2 * g->ph - 2, ow = x->shape[3] + 2 * g->pw - 2;
        if (conv_winograd_tiles(x->shape[0], oh, ow) >= CONV_WINOGRAD_MIN_TILES) return CLCNN_CONV_ALGO_WINOGRAD;
    }
    return CLCNN_CONV_ALGO_IM2COL;
}

clcnn_conv_algo conv_choose_algo(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                 const conv_geom *g) {
    if (algo_applies(g->algo, x, w, g)) return g->algo;
    const clcnn_conv_algo env = env_algo();
    if (algo_applies(env, x, w, g)) return env;
    if (ctx) {
        int key[CLCNN_CONV_KEY_MAX];
        const clcnn_conv_params p = {.stride_h = g->sh, .stride_w = g->sw, .pad_h = g->ph, .pad_w = g->pw,
                                     .dilation_h = g->dh, .dilation_w = g->dw, .groups = g->groups};
        const int tuned = rt_params_tuned_choice(ctx, "conv2d", key, ops_conv2d_tuning_key(x, w, &p, key));
        if (algo_applies((clcnn_conv_algo)tuned, x, w, g)) return (clcnn_conv_algo)tuned;
    }
    return default_algo(x, w, g);
}

const char *ops_conv2d_algorithm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params) {
    if (!x || !w || x->ndim != 4 || w->ndim != 4) return "";
    const conv_geom g = conv_geometry(params);
    switch (conv_choose_algo(ctx, x, w, &g)) {
    case CLCNN_CONV_ALGO_WINOGRAD: return "winograd-4x4";
    case CLCNN_CONV_ALGO_DEPTHWISE: return "depthwise";
    default: return conv_is_direct(w, &g) ? "gemm-1x1" : ops_conv_implicit_gemm(ctx) ? "implicit-gemm" : "im2col-gemm";
    }
}

int ops_conv2d_algorithm_applies(clcnn_conv_algo algo, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params) {
    if (!x || !w || x->ndim != 4 || w->ndim != 4) return 0;
    const conv_geom g = conv_geometry(params);
    return algo == CLCNN_CONV_ALGO_DEFAULT || algo_applies(algo, x, w, &g);
}

int ops_conv2d_tuning_key(const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_conv_params *params,
                            int key[CLCNN_CONV_KEY_MAX]) {
    const conv_geom g = conv_geometry(params);
    const int k[] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3],
                     g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups};
    const int n = (int)(sizeof k / sizeof k[0]);
    for (int i = 0; i < n; i++) key[i] = k[i];
    return n;
}
