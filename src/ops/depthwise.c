/* depthwise.c: depthwise convolution (groups == Cin == Cout) as its own kernels
 * (cl/depthwise.cl) instead of C one-row GEMMs: forward with clcnn_conv2d's epilogue,
 * and the backward's dx and dw for clcnn_conv2d_backward (db is summed there). */
#include <string.h>
#include "ops/conv_internal.h"

int conv_is_depthwise(const clcnn_tensor *x, const clcnn_tensor *w, const conv_geom *g) {
    const int C = x->shape[1];
    return g->groups > 1 && g->groups == C && w->shape[0] == C && w->shape[1] == 1;
}

/* The kernel arguments every depthwise kernel ends with: the geometry. */
#define DW_GEOM_ARGS(C, H, W, KH, KW, g, OH, OW)                                                           \
    KARG_INT(C), KARG_INT(H), KARG_INT(W), KARG_INT(KH), KARG_INT(KW), KARG_INT((g)->sh), KARG_INT((g)->sw), \
        KARG_INT((g)->ph), KARG_INT((g)->pw), KARG_INT((g)->dh), KARG_INT((g)->dw), KARG_INT(OH), KARG_INT(OW)

/* The forward and input-gradient kernels come in two shapes. On CPUs a work-item
 * takes a run of whole planes (enough for some 4096 multiply-adds, as long as that
 * leaves 64 work-items: a work-item's own overhead outweighs a small plane), which the
 * kernel receives as two more arguments (N, planes per item). On GPUs a pixel per
 * work-item (the _pixels kernels), so that neighbouring work-items touch neighbouring
 * addresses. Launch one over rows x cols of C x N planes. */
#define DW_MAX_ARGS 32
static clcnn_status launch_planes_or_pixels(clcnn_context *ctx, cl_kernel k, const char *what, int nargs,
                                            const rt_karg *args, int rows, int cols, int taps, int C, int N) {
    if (rt_cpu_family(ctx)) {
        if (nargs + 2 > DW_MAX_ARGS)
            return rt_error(ctx, CLCNN_ERR_UNSUPPORTED, "%s: %d kernel arguments, room for %d", what, nargs + 2,
                               DW_MAX_ARGS);
        const int planes = N * C, fit = planes / 64 > 1 ? planes / 64 : 1, work = rows * cols * taps;
        int per_item = work > 0 ? (4096 + work - 1) / work : 1;
        if (per_item > fit) per_item = fit;
        rt_karg all[DW_MAX_ARGS];
        memcpy(all, args, (size_t)nargs * sizeof *args);
        all[nargs] = KARG_INT(N);
        all[nargs + 1] = KARG_INT(per_item);
        const size_t global[1] = {(size_t)((planes + per_item - 1) / per_item)};
        return rt_launch(ctx, k, what, nargs + 2, all, 1, global, ops_fixed_local(ctx));
    }
    const size_t global[3] = {(size_t)cols, (size_t)rows, (size_t)N * C};
    return rt_launch(ctx, k, what, nargs, args, 3, global, NULL);
}

/* Arguments are checked by clcnn_conv2d; conv_is_depthwise(x, w, g) holds. */
clcnn_status conv_depthwise_forward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                    const clcnn_tensor *bias, const conv_geom *g, const clcnn_tensor *residual,
                                    clcnn_activation act, clcnn_tensor *y) {
    const char *name = rt_cpu_family(ctx) ? "depthwise_forward" : "depthwise_forward_pixels";
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "depthwise.cl", name, "", &k);
    if (st != CLCNN_OK) return st;
    const int N = x->shape[0], C = x->shape[1], OH = y->shape[2], OW = y->shape[3];
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(w), KARG_TENSOR(bias), KARG_TENSOR(residual),
                               KARG_INT(act), KARG_TENSOR(y),
                               DW_GEOM_ARGS(C, x->shape[2], x->shape[3], w->shape[2], w->shape[3], g, OH, OW)};
    return launch_planes_or_pixels(ctx, k, "depthwise_forward", KARG_LIST(args), OH, OW, w->shape[2] * w->shape[3],
                                   C, N);
}

/* dw += the weight gradient on the GPU family: a work-group per (channel, tap, image)
 * over the output pixels, then the images' partials added per (channel, tap). */
static clcnn_status wgrad_two_level(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *dy,
                                    clcnn_tensor *dw, int N, int C, int H, int W, int KH, int KW, const conv_geom *g,
                                    int OH, int OW) {
    static const char *what = "depthwise_wgrad_planes";
    const int taps = C * KH * KW;
    clcnn_tensor *part = NULL;
    clcnn_status st = rt_scratch(ctx, 1, (int[]){taps * N}, &part);
    if (st == CLCNN_OK) {
        const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(dy), KARG_TENSOR(part), KARG_INT(N),
                                   DW_GEOM_ARGS(C, H, W, KH, KW, g, OH, OW)};
        const size_t items[2] = {(size_t)taps, (size_t)N};
        st = ops_reduce_kernel_rows(ctx, "depthwise.cl", what, what, KARG_LIST(args), 3, items);
    }
    if (st == CLCNN_OK) st = ops_add_row_totals(ctx, what, part, taps, N, dw);
    clcnn_tensor_destroy(part);
    return st;
}

/* Shapes are checked by clcnn_conv2d_backward: x (when given) and dx are [N, C, H, W],
 * w [C, 1, KH, KW], dy [N, C, OH, OW]. */
clcnn_status conv_depthwise_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                     const conv_geom *g, const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate,
                                     clcnn_tensor *dw) {
    const clcnn_tensor *in = x ? x : dx;
    const int N = in->shape[0], C = in->shape[1], H = in->shape[2], W = in->shape[3];
    const int KH = w->shape[2], KW = w->shape[3], OH = dy->shape[2], OW = dy->shape[3];
    cl_kernel k;
    clcnn_status st;
    if (dx) {
        const char *name = rt_cpu_family(ctx) ? "depthwise_backward_data" : "depthwise_backward_data_pixels";
        if ((st = rt_get_kernel(ctx, "depthwise.cl", name, "", &k)) != CLCNN_OK) return st;
        const rt_karg args[] = {KARG_TENSOR(dy), KARG_TENSOR(w), KARG_TENSOR(dx), KARG_INT(accumulate != 0),
                                   DW_GEOM_ARGS(C, H, W, KH, KW, g, OH, OW)};
        st = launch_planes_or_pixels(ctx, k, "depthwise_backward_data", KARG_LIST(args), H, W, KH * KW, C, N);
        if (st != CLCNN_OK) return st;
    }
    if (dw) {
        if (!x)
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "depthwise convolution backward: dw needs the input x");
        if (!rt_cpu_family(ctx)) return wgrad_two_level(ctx, x, dy, dw, N, C, H, W, KH, KW, g, OH, OW);
        if ((st = rt_get_kernel(ctx, "depthwise.cl", "depthwise_backward_weight", "", &k)) != CLCNN_OK) return st;
        const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(dy), KARG_TENSOR(dw), KARG_INT(N),
                                   DW_GEOM_ARGS(C, H, W, KH, KW, g, OH, OW)};
        const size_t global[2] = {(size_t)KH * KW, (size_t)C};
        if ((st = rt_launch(ctx, k, "depthwise_backward_weight", KARG_LIST(args), 2, global, ops_fixed_local(ctx))) != CLCNN_OK)
            return st;
    }
    return CLCNN_OK;
}
