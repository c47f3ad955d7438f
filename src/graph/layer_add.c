/* layer_add.c: the graph's addition of two layers' outputs (a residual connection),
 * with an optional activation after it. */
#include "graph/graph.h"
#include "ops/ops.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "add";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    return clcnn_add(g->ctx, graph_input_of(g, l, 0), graph_input_of(g, l, 1), l->act, l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)with_params;
    clcnn_status st;
    if ((st = graph_before_act(g, l, &dy)) != CLCNN_OK || (st = graph_pass_through(g, dy, &s[0])) != CLCNN_OK)
        return st;
    /* x + x: the second input is the first, whose gradient now holds one share. */
    if (l->in[1] == l->in[0] && s[1].dx) s[1].accumulate = 1;
    return graph_pass_through(g, dy, &s[1]);
}

/* One addition per element, and the activation's. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    return ops_add_flops(graph_output_elems(g, l), l->act);
}

const graph_layer_ops graph_add_layer = {name, forward, backward, flops, NULL};
