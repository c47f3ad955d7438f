/* layer_global_avg_pool.c: the graph's global average pool ([N, C, H, W] to [N, C]). */
#include "graph/graph.h"
#include "ops/ops.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "global_avg_pool";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    return clcnn_global_avg_pool(g->ctx, graph_input_of(g, l, 0), l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)l, (void)with_params;
    return s[0].dx ? clcnn_global_avg_pool_backward(g->ctx, dy, s[0].dx, s[0].accumulate) : CLCNN_OK;
}

/* One addition per input element. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    return ops_global_avg_pool_flops(graph_output_elems(g, &g->layers[l->in[0]]));
}

const graph_layer_ops graph_global_avg_pool_layer = {name, forward, backward, flops, NULL};
