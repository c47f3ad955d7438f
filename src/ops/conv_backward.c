/* conv_backward.c: the convolution's backward pass.
 * dX: dcol = W^T dY then col2im (or dX = W^T dY directly for the 1x1 case);
 * dW += dY col^T with the chunk's images folded into the GEMM's K; db sums dY. */
#include "ops/conv_internal.h"

/* The sizes one backward pass works with. */
typedef struct {
    int N, C, H, W, cout, KH, KW, oh, ow, P;
    int ckk;    /* rows of the column matrix: C*KH*KW */
    int kg, mg; /* per group: column rows (Cin/G*KH*KW) and output channels */
    int direct; /* 1x1, stride 1, unpadded: col is the input itself */
    conv_geom g;
} conv_dims;

/* dX for images n0 .. n0+nc-1: dcol = W^T dY per image and group, then col2im; the
 * direct case writes W^T dY straight into dX. */
static clcnn_status backward_data(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *w, const clcnn_tensor *dy,
                                  int n0, int nc, clcnn_tensor *col, clcnn_tensor *dx, int accumulate) {
    const int P = d->P;
    clcnn_gemm_args ga = {
        .M = d->kg, .N = P, .K = d->mg,
        .a = w, .sam = 1, .sak = d->kg, .a_sb0 = 0, .a_sb1 = d->mg * d->kg, /* W^T of each group */
        .b = dy, .b_off = n0 * d->cout * P, .ldb = P, .b_sb0 = d->cout * P, .b_sb1 = d->mg * P,
        .scm = P, .scn = 1, .c_sb1 = d->kg * P,
        .nb0 = nc, .nb1 = d->g.groups, .act = CLCNN_ACT_NONE, .alpha = 1.0f};
    if (d->direct) {
        ga.c = dx;
        ga.c_off = n0 * d->C * P;
        ga.c_sb0 = d->C * P;
        ga.beta = accumulate ? 1.0f : 0.0f; /* beta 0 never reads dx */
        return clcnn_gemm_run(ctx, &ga);
    }
    ga.c = col;
    ga.c_sb0 = d->ckk * P;
    ga.beta = 0.0f;
    clcnn_status st = clcnn_gemm_run(ctx, &ga);
    if (st != CLCNN_OK) return st;

    cl_kernel k;
    if ((st = clcnn_get_kernel(ctx, "conv.cl", "col2im", "", &k)) != CLCNN_OK) return st;
    const conv_geom *g = &d->g;
    const clcnn_karg args[] = {KARG_TENSOR(col), KARG_MEM(dx->buf), KARG_INT(dx->offset + n0 * d->C * d->H * d->W),
                               KARG_INT(d->C), KARG_INT(d->H), KARG_INT(d->W), KARG_INT(d->KH), KARG_INT(d->KW),
                               KARG_INT(g->sh), KARG_INT(g->sw), KARG_INT(g->ph), KARG_INT(g->pw),
                               KARG_INT(g->dh), KARG_INT(g->dw), KARG_INT(d->oh), KARG_INT(d->ow),
                               KARG_INT(accumulate != 0)};
    const size_t global[3] = {(size_t)d->H * (size_t)d->W, (size_t)d->C, (size_t)nc};
    return clcnn_launch(ctx, k, "col2im", KARG_LIST(args), 3, global, NULL);
}

/* dW += dY col^T over images n0 .. n0+nc-1 in one GEMM per group: with col laid out
 * [p][n][row] and dY transposed to [p][n][co], both are indexed by k = p*nc + n. */
static clcnn_status backward_weight(clcnn_context *ctx, const conv_dims *d, const clcnn_tensor *x,
                                    const clcnn_tensor *w, const clcnn_tensor *dy, int n0, int nc, clcnn_tensor *col,
                                    clcnn_tensor *dyt, clcnn_tensor *dw) {
    clcnn_status st;
    if ((st = conv_im2col(ctx, x, n0, nc, w, &d->g, d->oh, d->ow, col, conv_layout_pnr(d->ckk, nc))) != CLCNN_OK ||
        (st = clcnn_transpose(ctx, dy, n0 * d->cout * d->P, dyt, 0, nc * d->cout, d->P)) != CLCNN_OK)
        return st;
    const clcnn_gemm_args ga = {
        .M = d->mg, .N = d->kg, .K = nc * d->P,
        .a = dyt, .sam = 1, .sak = d->cout, .a_sb1 = d->mg,
        .b = col, .ldb = d->ckk, .b_sb1 = d->kg,
        .c = dw, .scm = d->kg, .scn = 1, .c_sb1 = d->mg * d->kg,
        .nb0 = 1, .nb1 = d->g.groups, .act = CLCNN_ACT_NONE, .alpha = 1.0f, .beta = 1.0f};
    return clcnn_gemm_run(ctx, &ga);
}

/* db += sum of dY over images and pixels. */
static clcnn_status backward_bias(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *db) {
    cl_kernel k;
    clcnn_status st = clcnn_get_kernel(ctx, "conv.cl", "channel_grad_sum", "", &k);
    if (st != CLCNN_OK) return st;
    const int N = dy->shape[0], C = dy->shape[1], P = dy->shape[2] * dy->shape[3];
    const clcnn_karg args[] = {KARG_TENSOR(dy), KARG_TENSOR(db), KARG_INT(N), KARG_INT(C), KARG_INT(P)};
    return clcnn_launch_1d(ctx, k, "conv2d bias gradient", KARG_LIST(args), (size_t)C);
}

/* Shape checks of clcnn_conv2d_backward; fills d when the input's shape is known. */
static clcnn_status backward_check(clcnn_context *ctx, const char *op, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params, const clcnn_tensor *dy, const clcnn_tensor *dx,
                                   const clcnn_tensor *dw, const clcnn_tensor *db, conv_dims *d) {
    clcnn_status st;
    if ((st = clcnn_check_tensor(ctx, op, "weight", w, 4)) != CLCNN_OK ||
        (st = clcnn_check_tensor(ctx, op, "dy", dy, 4)) != CLCNN_OK)
        return st;
    if (dw && !x) return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: dw needs the input x, which is NULL", op);
    if ((x && (st = clcnn_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK) ||
        (dx && (st = clcnn_check_tensor(ctx, op, "dx", dx, 4)) != CLCNN_OK) ||
        (x && dx && (st = clcnn_check_same_shape(ctx, op, "input", x, "dx", dx)) != CLCNN_OK) ||
        (dw && (st = clcnn_check_same_shape(ctx, op, "weight", w, "dw", dw)) != CLCNN_OK) ||
        (db && (st = clcnn_check_vector(ctx, op, "db", db, w->shape[0])) != CLCNN_OK))
        return st;
    d->g = conv_geometry(params);
    const clcnn_tensor *in = x ? x : dx;
    if (!in) { /* db alone: only dy's channels must fit */
        if (dy->shape[1] == w->shape[0]) return CLCNN_OK;
        char sy[64], sw[64];
        return clcnn_error(ctx, CLCNN_ERR_SHAPE, "%s: dy %s does not have the %d channels of weight %s", op,
                           clcnn_tensor_shape_str(dy, sy, sizeof sy), w->shape[0],
                           clcnn_tensor_shape_str(w, sw, sizeof sw));
    }
    int shape[4];
    if ((st = conv_output_shape(ctx, op, in, w, &d->g, shape)) != CLCNN_OK ||
        (st = clcnn_check_shape_is(ctx, op, "dy", dy, 4, shape)) != CLCNN_OK)
        return st;
    d->N = in->shape[0], d->C = in->shape[1], d->H = in->shape[2], d->W = in->shape[3];
    d->cout = shape[1], d->oh = shape[2], d->ow = shape[3], d->P = d->oh * d->ow;
    d->KH = w->shape[2], d->KW = w->shape[3];
    d->ckk = d->C * d->KH * d->KW;
    d->kg = d->ckk / d->g.groups;
    d->mg = d->cout / d->g.groups;
    d->direct = d->KH == 1 && d->KW == 1 && d->g.sh == 1 && d->g.sw == 1 && d->g.ph == 0 && d->g.pw == 0;
    return CLCNN_OK;
}

clcnn_status clcnn_conv2d_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params, const clcnn_tensor *dy, clcnn_tensor *dx,
                                   int accumulate, clcnn_tensor *dw, clcnn_tensor *db) {
    static const char *op = "clcnn_conv2d_backward";
    if (!ctx) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    conv_dims d = {0};
    clcnn_status st = backward_check(ctx, op, x, w, params, dy, dx, dw, db, &d);
    if (st != CLCNN_OK) return st;
    if (db && (st = backward_bias(ctx, dy, db)) != CLCNN_OK) return st;
    if ((!dx && !dw) || d.N == 0) return CLCNN_OK;
    if (conv_is_depthwise(x ? x : dx, w, &d.g)) return conv_depthwise_backward(ctx, x, w, &d.g, dy, dx, accumulate, dw);

    /* One column scratch serves dX's dcol and then dW's col; dW also needs dY^T. */
    const int need_col = dw || !d.direct;
    const size_t per_image = (need_col ? (size_t)d.ckk * d.P : 0) + (dw ? (size_t)d.cout * d.P : 0);
    const int chunk = conv_batch_chunk(per_image ? per_image : 1, d.N);
    clcnn_tensor *col = NULL, *dyt = NULL;
    if ((need_col && (st = clcnn_scratch(ctx, 1, (int[]){chunk * d.ckk * d.P}, &col)) != CLCNN_OK) ||
        (dw && (st = clcnn_scratch(ctx, 1, (int[]){chunk * d.cout * d.P}, &dyt)) != CLCNN_OK))
        goto free_scratch;
    for (int n0 = 0; n0 < d.N; n0 += chunk) {
        const int nc = d.N - n0 < chunk ? d.N - n0 : chunk;
        if (dx && (st = backward_data(ctx, &d, w, dy, n0, nc, col, dx, accumulate)) != CLCNN_OK) break;
        if (dw && (st = backward_weight(ctx, &d, x, w, dy, n0, nc, col, dyt, dw)) != CLCNN_OK) break;
    }
free_scratch:
    clcnn_tensor_destroy(dyt);
    clcnn_tensor_destroy(col);
    return st;
}
