/* deletion.c: the deletion and insertion metrics (Petsiuk et al. 2018, RISE) of one map.
 * The map is upsampled to the input size on the device and its pixels ranked on the host
 * (decreasing value, ties by position: a deterministic order). Deletion image s (s = 0 ..
 * steps) is x with its first s * HW / steps ranked pixels set to 0 (the normalised mean),
 * insertion image s is a zero image with those pixels taken from x; all 2 (steps + 1)
 * images are made on the device and run in batched forward passes in evaluation mode, and
 * the probabilities of the target class are integrated over [0, 1] by the trapezoidal
 * rule on the host. */
#include <math.h>
#include <stdlib.h>
#include "explain/cam_internal.h"

typedef struct {
    clcnn_context *ctx;
    const clcnn_tensor *x;    /* [1, C, H, W] */
    const clcnn_tensor *rank; /* [H * W] */
    int total, steps;
} perturb_batch;

/* cam_make_batch: deletion images first (q = s), then insertion images (q = steps + 1 + s). */
static clcnn_status make_perturbed(void *user, int q0, clcnn_tensor *xb) {
    const perturb_batch *p = user;
    const int C = xb->shape[1], HW = xb->shape[2] * xb->shape[3];
    cl_kernel k;
    size_t wg;
    clcnn_status st = cam_kernel(p->ctx, "cam_perturb", &k, &wg);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(p->x),  KARG_TENSOR(p->rank), KARG_TENSOR(xb), KARG_INT(q0),
                               KARG_INT(p->total), KARG_INT(p->steps),   KARG_INT(C),     KARG_INT(HW)};
    const size_t global[2] = {(size_t)HW, (size_t)xb->shape[0]};
    return rt_launch(p->ctx, k, "cam_perturb", KARG_LIST(args), 2, global, NULL);
}

/* Pixel order for sorting: larger value first, then smaller index. */
typedef struct {
    float v;
    int i;
} ranked;

static int by_value_desc(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* rank[p] (as floats) = position of pixel p of the map upsampled to H x W. */
static clcnn_status pixel_ranks(clcnn_context *ctx, const float *map, int mh, int mw, int H, int W,
                                clcnn_tensor *rank) {
    const size_t HW = (size_t)H * (size_t)W;
    clcnn_tensor *small = NULL, *big = NULL;
    ranked *order = malloc(HW * sizeof *order);
    float *host = malloc(HW * sizeof *host);
    clcnn_status st;
    if (!order || !host) {
        st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_cam_deletion_insertion: no host memory");
        goto free_all;
    }
    if ((st = rt_scratch(ctx, 4, (int[]){1, 1, mh, mw}, &small)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 4, (int[]){1, 1, H, W}, &big)) != CLCNN_OK ||
        (st = clcnn_tensor_write(small, map, (size_t)mh * (size_t)mw)) != CLCNN_OK ||
        (st = clcnn_resize_bilinear(ctx, small, big)) != CLCNN_OK ||
        (st = clcnn_tensor_read(big, host, HW)) != CLCNN_OK)
        goto free_all;
    for (size_t p = 0; p < HW; p++) order[p] = (ranked){host[p], (int)p};
    qsort(order, HW, sizeof *order, by_value_desc);
    for (size_t r = 0; r < HW; r++) host[order[r].i] = (float)r;
    st = clcnn_tensor_write(rank, host, HW);
free_all:
    clcnn_tensor_destroy(big);
    clcnn_tensor_destroy(small);
    free(host);
    free(order);
    return st;
}

static clcnn_status check_args(clcnn_graph *g, const char *op, const clcnn_tensor *x, const float *map, int map_h,
                               int map_w, int target, int steps) {
    clcnn_context *ctx = clcnn_graph_context(g);
    clcnn_status st = rt_check_tensor(ctx, op, "input", x, 4);
    if (st != CLCNN_OK) return st;
    clcnn_layer_info in, out;
    if ((st = clcnn_graph_layer(g, 0, &in)) != CLCNN_OK ||
        (st = clcnn_graph_layer(g, clcnn_graph_layer_count(g) - 1, &out)) != CLCNN_OK)
        return st;
    if ((st = rt_check_shape_is(ctx, op, "input", x, 4, (int[]){1, in.shape[0], in.shape[1], in.shape[2]})) !=
        CLCNN_OK)
        return st;
    if ((size_t)in.shape[1] * (size_t)in.shape[2] > (1u << 24)) /* ranks are exact floats */
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %d x %d inputs are too large", op, in.shape[1], in.shape[2]);
    if (out.ndim != 1 || target < 0 || target >= out.shape[0])
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT,
                           "%s: target %d is not a class of the output %s (%d classes)", op, target, out.name,
                           out.ndim == 1 ? out.shape[0] : 0);
    if (map_h < 1 || map_w < 1 || steps < 1 || steps > (1 << 20))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: map %d x %d, %d steps (both positive)", op, map_h,
                           map_w, steps);
    for (size_t i = 0; i < (size_t)map_h * (size_t)map_w; i++)
        if (!isfinite(map[i]))
            return rt_error(ctx, CLCNN_ERR_NUMERICS, "%s: map value %zu is %g", op, i, (double)map[i]);
    return CLCNN_OK;
}

/* Trapezoidal rule over [0, 1] of steps + 1 equally spaced values. */
static double trapezoid(const float *p, int steps) {
    double sum = 0.0;
    for (int s = 0; s < steps; s++) sum += 0.5 * ((double)p[s] + (double)p[s + 1]);
    return sum / steps;
}

static clcnn_status run(clcnn_graph *g, const clcnn_tensor *x, const float *map, int map_h, int map_w, int target,
                        int steps, double *deletion, double *insertion) {
    clcnn_context *ctx = clcnn_graph_context(g);
    const int H = x->shape[2], W = x->shape[3], total = 2 * (steps + 1);
    float *host = malloc((size_t)total * sizeof *host);
    const float cls_f = (float)target;
    clcnn_tensor *rank = NULL, *cls = NULL, *probs = NULL;
    perturb_batch p = {.ctx = ctx, .x = x, .total = total, .steps = steps};
    clcnn_status st;
    if (!host) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_cam_deletion_insertion: no host memory");
    if ((st = rt_scratch(ctx, 1, (int[]){H * W}, &rank)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 1, (int[]){1}, &cls)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 1, &total, &probs)) != CLCNN_OK ||
        (st = clcnn_tensor_write(cls, &cls_f, 1)) != CLCNN_OK ||
        (st = pixel_ranks(ctx, map, map_h, map_w, H, W, rank)) != CLCNN_OK)
        goto free_all;
    p.rank = rank;
    if ((st = cam_batched_probs(g, total, cam_batch_limit(g), make_perturbed, &p, cls, total, probs, x)) != CLCNN_OK ||
        (st = clcnn_tensor_read(probs, host, (size_t)total)) != CLCNN_OK)
        goto free_all;
    *deletion = trapezoid(host, steps);
    *insertion = trapezoid(host + steps + 1, steps);
free_all:
    clcnn_tensor_destroy(probs);
    clcnn_tensor_destroy(cls);
    clcnn_tensor_destroy(rank);
    free(host);
    return st;
}

clcnn_status clcnn_cam_deletion_insertion(clcnn_graph *g, const clcnn_tensor *x, const float *map, int map_h, int map_w,
                                          int target, int steps, double *deletion, double *insertion) {
    static const char *op = "clcnn_cam_deletion_insertion";
    if (!g || !x || !map || !deletion || !insertion)
        return rt_error(clcnn_graph_context(g), CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    clcnn_status st = check_args(g, op, x, map, map_h, map_w, target, steps);
    if (st != CLCNN_OK) return st;
    const int training = clcnn_graph_is_training(g);
    clcnn_graph_set_training(g, 0);
    st = run(g, x, map, map_h, map_w, target, steps, deletion, insertion);
    clcnn_graph_set_training(g, training);
    return st;
}
