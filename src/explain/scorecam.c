/* scorecam.c: Score-CAM (Wang et al. 2020) as pytorch-grad-cam computes it, batched over
 * images and channels: every pair (image n, channel k) in order q = n * K + k is one masked
 * input. Channel k of image n is upsampled bilinearly to the input size (clcnn_resize_bilinear,
 * align_corners = false), min-max normalised (a flat channel gives a zero mask) and
 * multiplies x[n]; its score is the softmax probability of n's class; the weights are the
 * softmax of the scores over the channels; map = ReLU(sum_k w_k A_k). */
#include "explain/cam_internal.h"

typedef struct {
    clcnn_context *ctx;
    const clcnn_tensor *x, *a; /* input [N, C, H, W]; activations [N, K, h, w] */
    clcnn_tensor *up;          /* [batch, 1, H, W]: the batch's channels upsampled */
    int total;                 /* N * K */
} score_batch;

/* A [rows, 1, H, W] tensor over t's storage from row `first` on. */
static clcnn_status rows_view(clcnn_context *ctx, const clcnn_tensor *t, int first, int rows, int h, int w,
                              clcnn_tensor **view) {
    return clcnn_tensor_wrap(ctx, t->buf, (size_t)t->offset + (size_t)first * (size_t)h * (size_t)w, 4,
                             (int[]){rows, 1, h, w}, view);
}

/* cam_make_batch: the masked inputs q0 .. q0 + batch - 1. */
static clcnn_status make_masked(void *user, int q0, clcnn_tensor *xb) {
    score_batch *s = user;
    const int batch = xb->shape[0], C = xb->shape[1], H = xb->shape[2], W = xb->shape[3];
    const int rows = s->total - q0 < batch ? s->total - q0 : batch;
    clcnn_tensor *src = NULL, *dst = NULL;
    cl_kernel k;
    size_t wg;
    clcnn_status st;
    if ((st = cam_kernel(s->ctx, "cam_score_mask", &k, &wg)) != CLCNN_OK ||
        (st = rows_view(s->ctx, s->a, q0, rows, s->a->shape[2], s->a->shape[3], &src)) != CLCNN_OK ||
        (st = rows_view(s->ctx, s->up, 0, rows, H, W, &dst)) != CLCNN_OK ||
        (st = clcnn_resize_bilinear(s->ctx, src, dst)) != CLCNN_OK)
        goto free_views;
    const rt_karg args[] = {KARG_TENSOR(s->up), KARG_TENSOR(s->x),        KARG_TENSOR(xb), KARG_INT(q0),
                               KARG_INT(s->total), KARG_INT(s->a->shape[1]), KARG_INT(C),     KARG_INT(H * W)};
    st = cam_launch_groups(s->ctx, k, "cam_score_mask", KARG_LIST(args), (size_t)batch, wg);
free_views:
    clcnn_tensor_destroy(dst);
    clcnn_tensor_destroy(src);
    return st;
}

clcnn_status cam_score_map(clcnn_graph *g, const clcnn_tensor *x, const clcnn_tensor *a, const clcnn_tensor *cls,
                           int batch, clcnn_tensor *map) {
    clcnn_context *ctx = clcnn_graph_context(g);
    const int N = a->shape[0], K = a->shape[1], total = N * K;
    if (batch > total) batch = total;
    score_batch s = {.ctx = ctx, .x = x, .a = a, .total = total};
    clcnn_tensor *scores = NULL, *weights = NULL;
    clcnn_status st;
    if ((st = rt_scratch(ctx, 4, (int[]){batch, 1, x->shape[2], x->shape[3]}, &s.up)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){N, K}, &scores)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){N, K}, &weights)) != CLCNN_OK ||
        (st = cam_batched_probs(g, total, batch, make_masked, &s, cls, K, scores, x)) != CLCNN_OK ||
        (st = clcnn_softmax(ctx, scores, 0, weights)) != CLCNN_OK)
        goto free_scratch;
    st = cam_weighted_map(ctx, a, weights, map);
free_scratch:
    clcnn_tensor_destroy(weights);
    clcnn_tensor_destroy(scores);
    clcnn_tensor_destroy(s.up);
    return st;
}
