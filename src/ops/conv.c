/* conv.c: 2-D convolution as GEMM on the register-blocked kernel.
 * Per image and group: Y[co, p] = W[co, (ci, ky, kx)] x col[(ci, ky, kx), p].
 * A 1x1 stride-1 unpadded convolution uses the input itself as col; others build col
 * with im2col, a chunk of images at a time so the scratch stays bounded. Bias,
 * residual and activation are applied in the GEMM's epilogue. The backward pass is
 * in conv_backward.c. */
#include <stdio.h>
#include "ops/conv_internal.h"

conv_geom conv_geometry(const clcnn_conv_params *p) {
    conv_geom g = {1, 1, 0, 0, 1, 1, 1};
    if (!p) return g;
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
        return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: negative stride, padding, dilation or groups", op);
    const int cin = x->shape[1], cout = w->shape[0];
    if (cin % g->groups || cout % g->groups || w->shape[1] != cin / g->groups)
        return clcnn_error(ctx, CLCNN_ERR_SHAPE, "%s: input %s and weight %s do not fit groups=%d (weight must be [Cout, Cin/groups, KH, KW])",
                           op, clcnn_tensor_shape_str(x, sx, sizeof sx), clcnn_tensor_shape_str(w, sw, sizeof sw), g->groups);
    const int oh = (x->shape[2] + 2 * g->ph - g->dh * (w->shape[2] - 1) - 1) / g->sh + 1;
    const int ow = (x->shape[3] + 2 * g->pw - g->dw * (w->shape[3] - 1) - 1) / g->sw + 1;
    if (x->shape[2] + 2 * g->ph < g->dh * (w->shape[2] - 1) + 1 || x->shape[3] + 2 * g->pw < g->dw * (w->shape[3] - 1) + 1 ||
        oh <= 0 || ow <= 0)
        return clcnn_error(ctx, CLCNN_ERR_SHAPE, "%s: kernel of weight %s is larger than the padded input %s", op,
                           clcnn_tensor_shape_str(w, sw, sizeof sw), clcnn_tensor_shape_str(x, sx, sizeof sx));
    shape[0] = x->shape[0];
    shape[1] = cout;
    shape[2] = oh;
    shape[3] = ow;
    return CLCNN_OK;
}

clcnn_status clcnn_conv2d_output_shape(const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_conv_params *params,
                                       int shape[4]) {
    if (!x || !w || !shape) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_conv2d_output_shape: NULL argument");
    if (x->ndim != 4 || w->ndim != 4)
        return clcnn_error(x->ctx, CLCNN_ERR_SHAPE, "clcnn_conv2d_output_shape: input and weight must be 4-D");
    const conv_geom g = conv_geometry(params);
    return conv_output_shape(x->ctx, "clcnn_conv2d_output_shape", x, w, &g, shape);
}

clcnn_status conv_im2col(clcnn_context *ctx, const clcnn_tensor *x, int n_first, int n_count, const clcnn_tensor *w,
                         const conv_geom *g, int oh, int ow, clcnn_tensor *col, col_layout lay) {
    cl_kernel k;
    clcnn_status st = clcnn_get_kernel(ctx, "conv.cl", "im2col", "", &k);
    if (st != CLCNN_OK) return st;
    const int C = x->shape[1], H = x->shape[2], W = x->shape[3], KH = w->shape[2], KW = w->shape[3];
    const clcnn_karg args[] = {KARG_MEM(x->buf), KARG_INT(x->offset + n_first * C * H * W), KARG_TENSOR(col),
                               KARG_INT(lay.csn), KARG_INT(lay.csr), KARG_INT(lay.csp),
                               KARG_INT(C), KARG_INT(H), KARG_INT(W), KARG_INT(KH), KARG_INT(KW),
                               KARG_INT(g->sh), KARG_INT(g->sw), KARG_INT(g->ph), KARG_INT(g->pw),
                               KARG_INT(g->dh), KARG_INT(g->dw), KARG_INT(oh), KARG_INT(ow)};
    const size_t global[3] = {(size_t)oh * (size_t)ow, (size_t)C * (size_t)KH * (size_t)KW, (size_t)n_count};
    return clcnn_launch(ctx, k, "im2col", KARG_LIST(args), 3, global, NULL);
}

int conv_batch_chunk(size_t per_image, int N) {
    const int chunk = per_image >= CONV_COL_MAX_FLOATS ? 1 : (int)(CONV_COL_MAX_FLOATS / per_image);
    return chunk < N ? chunk : N;
}

clcnn_status clcnn_conv2d(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_tensor *bias,
                          const clcnn_conv_params *params, const clcnn_tensor *residual, clcnn_activation act,
                          clcnn_tensor *y) {
    static const char *op = "clcnn_conv2d";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = clcnn_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK ||
        (st = clcnn_check_tensor(ctx, op, "weight", w, 4)) != CLCNN_OK ||
        (st = clcnn_check_tensor(ctx, op, "output", y, 4)) != CLCNN_OK ||
        (st = clcnn_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    const conv_geom g = conv_geometry(params);
    int shape[4];
    if ((st = conv_output_shape(ctx, op, x, w, &g, shape)) != CLCNN_OK) return st;
    if ((st = clcnn_check_shape_is(ctx, op, "output", y, 4, shape)) != CLCNN_OK) return st;
    if (bias && (st = clcnn_check_vector(ctx, op, "bias", bias, shape[1])) != CLCNN_OK) return st;
    if (residual && (st = clcnn_check_same_shape(ctx, op, "residual", residual, "output", y)) != CLCNN_OK) return st;

    const int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int cout = shape[1], oh = shape[2], ow = shape[3], P = oh * ow;
    const int KH = w->shape[2], KW = w->shape[3], G = g.groups;
    const int kg = (C / G) * KH * KW; /* GEMM K per group */
    const int mg = cout / G;          /* GEMM M per group */
    const int direct = KH == 1 && KW == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;

    const int chunk = direct ? N : conv_batch_chunk((size_t)C * KH * KW * (size_t)P, N);
    clcnn_tensor *col = NULL;
    if (!direct && (st = clcnn_scratch(ctx, 3, (int[]){chunk, C * KH * KW, P}, &col)) != CLCNN_OK) return st;

    for (int n0 = 0; n0 < N && st == CLCNN_OK; n0 += chunk) {
        const int nc = N - n0 < chunk ? N - n0 : chunk;
        const clcnn_tensor *b = x;
        int b_off = n0 * C * H * W;
        if (!direct) {
            if ((st = conv_im2col(ctx, x, n0, nc, w, &g, oh, ow, col, conv_layout_nrp(C * KH * KW, P))) != CLCNN_OK) break;
            b = col;
            b_off = 0;
        }
        const clcnn_gemm_args ga = {
            .M = mg, .N = P, .K = kg,
            .a = w, .sam = kg, .sak = 1, .a_sb0 = 0, .a_sb1 = mg * kg,
            .b = b, .b_off = b_off, .ldb = P, .b_sb0 = C * KH * KW * P, .b_sb1 = kg * P,
            .c = y, .c_off = n0 * cout * P, .scm = P, .scn = 1, .c_sb0 = cout * P, .c_sb1 = mg * P,
            .nb0 = nc, .nb1 = G,
            .bias = bias, .bias_sb1 = mg, /* row m of group g is channel g*mg + m */
            .residual = residual, .r_off = n0 * cout * P,
            .act = act, .alpha = 1.0f, .beta = 0.0f};
        st = clcnn_gemm_run(ctx, &ga);
    }
    clcnn_tensor_destroy(col);
    return st;
}

const char *clcnn_conv2d_algorithm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params) {
    (void)ctx;
    const conv_geom g = conv_geometry(params);
    if (!x || !w) return "";
    const int direct = w->shape[2] == 1 && w->shape[3] == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
    return direct ? "gemm-1x1" : "im2col-gemm";
}

int clcnn_conv2d_algorithm_applies(clcnn_conv_algo algo, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params) {
    (void)x, (void)w, (void)params;
    return algo == CLCNN_CONV_ALGO_IM2COL;
}

int clcnn_conv2d_tuning_key(const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_conv_params *params,
                            int key[CLCNN_CONV_KEY_MAX]) {
    const conv_geom g = conv_geometry(params);
    const int k[] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3],
                     g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups};
    const int n = (int)(sizeof k / sizeof k[0]);
    for (int i = 0; i < n; i++) key[i] = k[i];
    return n;
}
