/* profile.c: clcnn_graph_profile, a forward (and backward) pass timed layer by layer,
 * with each layer's convolution algorithm and its floating-point work. */
#include <stdlib.h>
#include "graph/graph.h"
#include "runtime/clock.h"

clcnn_status graph_timer_start(clcnn_graph *g, layer_timer *t) {
    if (!t->ms) return CLCNN_OK;
    clcnn_status st = clcnn_finish(g->ctx); /* earlier work is nobody's layer */
    t->t0 = clock_now_ms();
    return st;
}

clcnn_status graph_timer_lap(clcnn_graph *g, layer_timer *t, int layer) {
    if (!t->ms) return CLCNN_OK;
    clcnn_status st = clcnn_finish(g->ctx);
    const double now = clock_now_ms();
    t->ms[layer] += now - t->t0;
    t->t0 = now;
    return st;
}

double graph_output_elems(const clcnn_graph *g, const graph_layer *l) {
    double n = g->batch;
    for (int d = 0; d < l->ndim; d++) n *= l->shape[d];
    return n;
}

/* A gradient of ones shaped as the output, for the profiled backward. */
static clcnn_status ones_like_output(clcnn_graph *g, clcnn_tensor **t) {
    int shape[4];
    const int ndim = graph_layer_shape(&g->layers[g->nlayers - 1], g->batch, shape);
    clcnn_status st = clcnn_tensor_create(g->ctx, ndim, shape, t);
    return st != CLCNN_OK ? st : clcnn_tensor_fill(*t, 1.0f);
}

clcnn_status clcnn_graph_profile(clcnn_graph *g, const clcnn_tensor *x, int backward, clcnn_layer_profile *profile) {
    static const char *op = "clcnn_graph_profile";
    if (!g || !x || !profile)
        return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    const int n = g->nlayers;
    double *ms = calloc(2 * (size_t)n, sizeof *ms), *bms = ms + n;
    clcnn_tensor *dout = NULL;
    if (!ms) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    clcnn_status st = graph_forward_pass(g, op, x, ms);
    if (st == CLCNN_OK && backward && (st = ones_like_output(g, &dout)) == CLCNN_OK)
        st = graph_backward_pass(g, op, -1, dout, NULL, bms);
    for (int i = 0; st == CLCNN_OK && i < n; i++) {
        const graph_layer *l = &g->layers[i];
        clcnn_layer_info info;
        if ((st = clcnn_graph_layer(g, i, &info)) != CLCNN_OK) break;
        const graph_layer_ops *ops = graph_ops(l);
        profile[i] = (clcnn_layer_profile){.name = l->name, .kind = info.kind,
                                           .algorithm = ops->algorithm ? ops->algorithm(g, l) : "",
                                           .forward_ms = ms[i], .backward_ms = bms[i], .forward_flops = ops->flops(g, l)};
    }
    clcnn_tensor_destroy(dout);
    free(ms);
    return st;
}
