/* layer_concat.c: the graph's channel concatenation of two layers' outputs (Inception's
 * branches joined; more than two join pairwise). */
#include "graph/graph.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "concat";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    return clcnn_concat(g->ctx, graph_input_of(g, l, 0), graph_input_of(g, l, 1), l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)with_params;
    /* cat(x, x): the second share goes to the same gradient, after the first */
    if (l->in[1] == l->in[0] && s[1].dx) s[1].accumulate = 1;
    if (!s[0].dx && !s[1].dx) return CLCNN_OK;
    return clcnn_concat_backward(g->ctx, dy, s[0].dx, s[0].accumulate, s[1].dx, s[1].accumulate);
}

/* It only moves data. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    (void)g, (void)l;
    return 0;
}

const graph_layer_ops graph_concat_layer = {name, forward, backward, flops, NULL};
