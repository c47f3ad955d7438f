/* layer_pool.c: the graph's max or average pooling over windows. */
#include "graph/graph.h"
#include "ops/ops.h"

static const char *name(const graph_layer *l) { return l->pool.mode == CLCNN_POOL_MAX ? "maxpool" : "avgpool"; }

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    return clcnn_pool2d(g->ctx, graph_input_of(g, l, 0), &l->pool, l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)with_params;
    if (!s[0].dx) return CLCNN_OK;
    clcnn_status st = l->pool.mode == CLCNN_POOL_MAX ? graph_input_values(g, l) : CLCNN_OK; /* the argmax */
    if (st != CLCNN_OK) return st;
    return clcnn_pool2d_backward(g->ctx, graph_input_of(g, l, 0), &l->pool, dy, s[0].dx, s[0].accumulate);
}

/* The window's elements per output. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    return ops_pool2d_flops(graph_output_elems(g, l), &l->pool);
}

const graph_layer_ops graph_pool_layer = {name, forward, backward, flops, NULL};
