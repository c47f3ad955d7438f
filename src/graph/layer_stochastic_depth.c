/* layer_stochastic_depth.c: stochastic depth (torchvision.ops.StochasticDepth, mode
 * "row") on a residual branch: in training each sample's branch is dropped whole with
 * the layer's rate and the kept ones scaled up, a fresh mask per layer and pass; the
 * identity in evaluation. EfficientNet's blocks put it before their addition. */
#include "graph/graph.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "stochastic_depth";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    const clcnn_tensor *x = graph_input_of(g, l, 0);
    if (!g->training || l->drop_p == 0.0f) return clcnn_dropout_inference(g->ctx, x, l->y);
    l->drop_seed = graph_mask_seed(g, index);
    return clcnn_stochastic_depth(g->ctx, x, l->drop_p, l->drop_seed, l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)with_params;
    if (!s[0].dx) return CLCNN_OK;
    if (g->training && l->drop_p > 0.0f)
        return clcnn_stochastic_depth_backward(g->ctx, dy, l->drop_p, l->drop_seed, s[0].dx, s[0].accumulate);
    return graph_pass_through(g, dy, &s[0]);
}

/* It only moves data. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    (void)g, (void)l;
    return 0;
}

const graph_layer_ops graph_stochastic_depth_layer = {name, forward, backward, flops, NULL};
