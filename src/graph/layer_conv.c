/* layer_conv.c: the graph's convolution layer (weight, optional bias), unfused; fuse.c
 * runs it with its batch norm and epilogue in evaluation mode. */
#include "graph/graph.h"
#include "ops/ops.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "conv2d";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    return clcnn_conv2d(g->ctx, graph_input_of(g, l, 0), graph_layer_param(g, l, 0), graph_layer_param(g, l, 1),
                        &l->conv, NULL, CLCNN_ACT_NONE, l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    clcnn_tensor *dw = graph_grad_if(g, l, 0, with_params), *db = graph_grad_if(g, l, 1, with_params);
    clcnn_status st = dw ? graph_input_values(g, l) : CLCNN_OK;
    if (st != CLCNN_OK || !(s[0].dx || dw || db)) return st;
    return clcnn_conv2d_backward(g->ctx, graph_input_of(g, l, 0), graph_layer_param(g, l, 0), &l->conv, dy, s[0].dx,
                                 s[0].accumulate, dw, db);
}

/* Its products only: bias and epilogue are noise beside them. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    return ops_conv2d_flops(graph_output_elems(g, l), graph_layer_param(g, l, 0)->shape);
}

static const char *algorithm(clcnn_graph *g, const graph_layer *l) {
    return ops_conv2d_algorithm(g->ctx, graph_input_of(g, l, 0), graph_layer_param(g, l, 0), &l->conv);
}

const graph_layer_ops graph_conv_layer = {name, forward, backward, flops, algorithm};
