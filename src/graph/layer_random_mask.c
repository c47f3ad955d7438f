/* layer_random_mask.c: the graph's layers with a random mask, a fresh one per layer and
 * training pass, reproducible from the graph's seed, and the identity in evaluation:
 * dropout (element by element) and stochastic depth (torchvision.ops.StochasticDepth,
 * mode "row": each sample's residual branch dropped whole, the kept ones scaled up;
 * EfficientNet's blocks put it before their addition). They differ only in the ops. */
#include "graph/graph.h"

typedef struct {
    const char *name;
    clcnn_status (*apply)(clcnn_context *ctx, const clcnn_tensor *x, float p, uint64_t seed, clcnn_tensor *y);
    clcnn_status (*backward)(clcnn_context *ctx, const clcnn_tensor *dy, float p, uint64_t seed, clcnn_tensor *dx,
                             int accumulate);
} mask_kind;

static const mask_kind dropout = {"dropout", clcnn_dropout, clcnn_dropout_backward};
static const mask_kind stochastic_depth = {"stochastic_depth", clcnn_stochastic_depth,
                                           clcnn_stochastic_depth_backward};

static const mask_kind *kind_of(const graph_layer *l) {
    return l->kind == LAYER_STOCHASTIC_DEPTH ? &stochastic_depth : &dropout;
}

uint64_t graph_mask_seed(const clcnn_graph *g, int layer) {
    uint64_t z = g->seed ^ ((uint64_t)layer << 40) ^ (g->forwards * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
    return z ^ (z >> 29);
}

static const char *name(const graph_layer *l) { return kind_of(l)->name; }

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    const clcnn_tensor *x = graph_input_of(g, l, 0);
    if (!g->training || l->drop_p == 0.0f) return clcnn_dropout_inference(g->ctx, x, l->y);
    l->drop_seed = graph_mask_seed(g, index);
    return kind_of(l)->apply(g->ctx, x, l->drop_p, l->drop_seed, l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)with_params;
    if (!s[0].dx) return CLCNN_OK;
    if (g->training && l->drop_p > 0.0f)
        return kind_of(l)->backward(g->ctx, dy, l->drop_p, l->drop_seed, s[0].dx, s[0].accumulate);
    return graph_pass_through(g, dy, &s[0]);
}

/* It only moves data. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    (void)g, (void)l;
    return 0;
}

const graph_layer_ops graph_dropout_layer = {name, forward, backward, flops, NULL};
const graph_layer_ops graph_stochastic_depth_layer = {name, forward, backward, flops, NULL};
