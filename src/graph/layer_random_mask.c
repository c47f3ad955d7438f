/* layer_random_mask.c: the graph's layers with a random mask, a fresh one per layer and
 * training pass, reproducible from the graph's seed, and the identity in evaluation:
 * dropout (element by element) and stochastic depth (torchvision.ops.StochasticDepth,
 * mode "row": each sample's residual branch dropped whole, the kept ones scaled up;
 * EfficientNet's blocks put it before their addition). Under data parallelism the masks
 * are those of the whole batch's samples (first_sample on). */
#include "graph/graph.h"
#include "ops/ops.h"
#include "runtime/random.h"

static int per_sample(const graph_layer *l) { return l->kind == LAYER_STOCHASTIC_DEPTH; }

uint64_t graph_mask_seed(const clcnn_graph *g, int layer) {
    return rt_splitmix64_mix(g->seed ^ ((uint64_t)layer << 40) ^ (g->forwards * CLCNN_SPLITMIX_GAMMA));
}

static const char *name(const graph_layer *l) { return per_sample(l) ? "stochastic_depth" : "dropout"; }

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    const clcnn_tensor *x = graph_input_of(g, l, 0);
    if (!g->training || l->drop_p == 0.0f) return clcnn_dropout_inference(g->ctx, x, l->y);
    l->drop_seed = graph_mask_seed(g, index);
    return ops_random_mask(g->ctx, per_sample(l), x, l->drop_p, l->drop_seed, g->first_sample, l->y, 0);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    (void)with_params;
    if (!s[0].dx) return CLCNN_OK;
    if (g->training && l->drop_p > 0.0f)
        return ops_random_mask(g->ctx, per_sample(l), dy, l->drop_p, l->drop_seed, g->first_sample, s[0].dx,
                               s[0].accumulate);
    return graph_pass_through(g, dy, &s[0]);
}

/* It only moves data. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    (void)g, (void)l;
    return 0;
}

const graph_layer_ops graph_dropout_layer = {name, forward, backward, flops, NULL};
const graph_layer_ops graph_stochastic_depth_layer = {name, forward, backward, flops, NULL};
