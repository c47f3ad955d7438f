/* pool.c: max/average pooling with PyTorch's output-size rules, global average pooling,
 * and their backward. */
#include "ops/ops.h"

typedef struct {
    int kh, kw, sh, sw, ph, pw;
} pool_geom;

/* PyTorch's pooling_output_shape: in ceil mode the last window must start inside
 * the input or its left padding. */
static int pool_out(int in, int k, int s, int p, int ceil_mode) {
    int out = (in + 2 * p - k + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    return out;
}

/* The geometry of params and the output shape for an input of shape xs [N, C, H, W]. */
static clcnn_status pool_shape(clcnn_context *ctx, const char *op, const int xs[4], const clcnn_pool_params *p,
                               pool_geom *g, int shape[4]) {
    if (!p) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: params is NULL", op);
    if (p->mode != CLCNN_POOL_MAX && p->mode != CLCNN_POOL_AVG)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown mode %d", op, (int)p->mode);
    *g = (pool_geom){p->kernel_h, p->kernel_w, p->stride_h ? p->stride_h : p->kernel_h,
                     p->stride_w ? p->stride_w : p->kernel_w, p->pad_h, p->pad_w};
    if (g->kh <= 0 || g->kw <= 0 || g->sh <= 0 || g->sw <= 0 || g->ph < 0 || g->pw < 0 || 2 * g->ph > g->kh ||
        2 * g->pw > g->kw)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT,
                           "%s: kernel %dx%d, stride %dx%d, padding %dx%d: sizes must be positive and padding at most half the kernel",
                           op, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw);
    const int oh = pool_out(xs[2], g->kh, g->sh, g->ph, p->ceil_mode);
    const int ow = pool_out(xs[3], g->kw, g->sw, g->pw, p->ceil_mode);
    if (oh <= 0 || ow <= 0)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: a %dx%d window does not fit input [%d, %d, %d, %d]", op, g->kh,
                           g->kw, xs[0], xs[1], xs[2], xs[3]);
    shape[0] = xs[0];
    shape[1] = xs[1];
    shape[2] = oh;
    shape[3] = ow;
    return CLCNN_OK;
}

/* ResNet's stem pool (3x3, stride 2, padding 1, floor mode), which has row kernels of
 * its own, forward and backward. */
static int is_stem_pool(const clcnn_pool_params *p, const pool_geom *g) {
    return p->mode == CLCNN_POOL_MAX && g->kh == 3 && g->kw == 3 && g->sh == 2 && g->sw == 2 && g->ph == 1 &&
           g->pw == 1 && !p->ceil_mode;
}

clcnn_status clcnn_pool2d_output_shape(const clcnn_tensor *x, const clcnn_pool_params *params, int shape[4]) {
    if (!x || !shape) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_pool2d_output_shape: NULL argument");
    if (x->ndim != 4) return rt_error(x->ctx, CLCNN_ERR_SHAPE, "clcnn_pool2d_output_shape: input must be 4-D");
    pool_geom g;
    return pool_shape(x->ctx, "clcnn_pool2d_output_shape", x->shape, params, &g, shape);
}

clcnn_status clcnn_pool2d(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_pool_params *params, clcnn_tensor *y) {
    static const char *op = "clcnn_pool2d";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK) return st;
    pool_geom g;
    int shape[4];
    if ((st = pool_shape(ctx, op, x->shape, params, &g, shape)) != CLCNN_OK ||
        (st = rt_check_shape_is(ctx, op, "output", y, 4, shape)) != CLCNN_OK)
        return st;
    /* The stem's pool (3x3, stride 2, padding 1, floor) has a row kernel of its own, and
     * other max pools over windows up to 3x3 a loop-free one (pool.cl); they take the
     * arguments up to OW, and to pw. */
    const int stem = is_stem_pool(params, &g);
    const int small_max = params->mode == CLCNN_POOL_MAX && g.kh <= 3 && g.kw <= 3;
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "pool.cl", stem ? "pool2d_max3s2" : small_max ? "pool2d_max3" : "pool2d", "", &k)) !=
        CLCNN_OK)
        return st;
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(x->shape[2]), KARG_INT(x->shape[3]),
                               KARG_INT(shape[2]), KARG_INT(shape[3]), KARG_INT(g.kh), KARG_INT(g.kw),
                               KARG_INT(g.sh), KARG_INT(g.sw), KARG_INT(g.ph), KARG_INT(g.pw),
                               KARG_INT(params->mode), KARG_INT(params->count_include_pad)};
    const int nargs = (int)(sizeof args / sizeof args[0]) - (stem ? 8 : small_max ? 2 : 0);
    /* A work-item per output pixel; the stem's kernel, one per output row: (OH, N*C). */
    const size_t global[3] = {(size_t)shape[3], (size_t)shape[2], (size_t)shape[0] * (size_t)shape[1]};
    return stem ? rt_launch(ctx, k, op, nargs, args, 2, global + 1, NULL)
                : rt_launch(ctx, k, op, nargs, args, 3, global, NULL);
}

clcnn_status clcnn_pool2d_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_pool_params *params,
                                   const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate) {
    static const char *op = "clcnn_pool2d_backward";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "dx", dx, 4)) != CLCNN_OK) return st;
    pool_geom g;
    int shape[4];
    if ((st = pool_shape(ctx, op, dx->shape, params, &g, shape)) != CLCNN_OK ||
        (st = rt_check_shape_is(ctx, op, "dy", dy, 4, shape)) != CLCNN_OK)
        return st;
    if (params->mode == CLCNN_POOL_MAX || x) {
        if (!x) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: max pooling needs its input x", op);
        if ((st = rt_check_same_shape(ctx, op, "x", x, "dx", dx)) != CLCNN_OK) return st;
    }
    if (params->mode != CLCNN_POOL_MAX) x = NULL; /* average pooling never reads it */
    const int stem = is_stem_pool(params, &g);
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "pool.cl", stem ? "pool2d_max3s2_backward" : "pool2d_backward", "", &k)) !=
        CLCNN_OK)
        return st;
    /* wy phases of output rows whose windows share no input row (see the kernels). */
    const int wy = (g.kh + g.sh - 1) / g.sh;
    for (int phase = 0; phase < wy && phase < shape[2]; phase++) {
        const size_t global[2] = {(size_t)((shape[2] - phase + wy - 1) / wy), (size_t)shape[0] * (size_t)shape[1]};
        /* the stem's kernel takes the arguments up to accumulate: all but the last 9 */
        const rt_karg args[] = {KARG_TENSOR(x),         KARG_TENSOR(dy),        KARG_TENSOR(dx),
                                   KARG_INT(dx->shape[2]), KARG_INT(dx->shape[3]), KARG_INT(shape[2]),
                                   KARG_INT(shape[3]),     KARG_INT(phase),        KARG_INT(accumulate != 0),
                                   KARG_INT(g.kh),         KARG_INT(g.kw),         KARG_INT(g.sh),
                                   KARG_INT(g.sw),         KARG_INT(g.ph),         KARG_INT(g.pw),
                                   KARG_INT(wy),           KARG_INT(params->mode), KARG_INT(params->count_include_pad)};
        const int nargs = (int)(sizeof args / sizeof args[0]) - (stem ? 9 : 0);
        st = rt_launch(ctx, k, op, nargs, args, 2, global, NULL);
        if (st != CLCNN_OK) return st;
    }
    return CLCNN_OK;
}

/* y must be [N, C] or [N, C, 1, 1] for x [N, C, ...]. */
static clcnn_status check_pooled(clcnn_context *ctx, const char *op, const char *xname, const clcnn_tensor *x,
                                 const char *yname, const clcnn_tensor *y) {
    const int N = x->shape[0], C = x->shape[1];
    if ((y->ndim == 2 && y->shape[0] == N && y->shape[1] == C) ||
        (y->ndim == 4 && y->shape[0] == N && y->shape[1] == C && y->shape[2] == 1 && y->shape[3] == 1))
        return CLCNN_OK;
    char sx[64], sy[64];
    return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s %s must be [N, C] or [N, C, 1, 1] for %s %s", op, yname,
                       clcnn_tensor_shape_str(y, sy, sizeof sy), xname, clcnn_tensor_shape_str(x, sx, sizeof sx));
}

clcnn_status clcnn_global_avg_pool(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y) {
    static const char *op = "clcnn_global_avg_pool";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "output", y, 0)) != CLCNN_OK)
        return st;
    if ((st = check_pooled(ctx, op, "input", x, "output", y)) != CLCNN_OK) return st;
    const int N = x->shape[0], C = x->shape[1], S = x->shape[2] * x->shape[3];
    if (!rt_cpu_family(ctx)) return ops_plane_dots(ctx, op, x, NULL, N * C, S, 1.0f / (float)S, y);
    cl_kernel k; /* CPUs: a work-item per plane */
    if ((st = rt_get_kernel(ctx, "pool.cl", "global_avg_pool", "", &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(x->shape[2] * x->shape[3]), KARG_INT(N * C)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), (size_t)N * (size_t)C);
}

clcnn_status clcnn_global_avg_pool_backward(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *dx,
                                            int accumulate) {
    static const char *op = "clcnn_global_avg_pool_backward";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "dx", dx, 4)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "dy", dy, 0)) != CLCNN_OK ||
        (st = check_pooled(ctx, op, "dx", dx, "dy", dy)) != CLCNN_OK)
        return st;
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "pool.cl", "global_avg_pool_backward", "", &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(dy), KARG_TENSOR(dx), KARG_INT(dx->shape[2] * dx->shape[3]),
                               KARG_INT(dx->numel), KARG_INT(accumulate != 0)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), dx->numel);
}
