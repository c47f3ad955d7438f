/* layer_input.c: the graph's input layer (layer 0): it holds the forward's input
 * (g->input) and computes nothing. */
#include "graph/graph.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "input";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)g, (void)l, (void)index;
    return CLCNN_OK;
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)g, (void)l, (void)dy, (void)with_params, (void)s;
    return CLCNN_OK;
}

static double flops(const clcnn_graph *g, const graph_layer *l) {
    (void)g, (void)l;
    return 0;
}

const graph_layer_ops graph_input_layer = {name, forward, backward, flops, NULL};
