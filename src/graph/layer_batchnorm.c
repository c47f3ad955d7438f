/* layer_batchnorm.c: the graph's batch norm (weight, bias, running mean and variance):
 * batch statistics in training mode unless frozen (over every rank's batch while a
 * data-parallel trainer's step sets bn_dist), running statistics otherwise. */
#include "graph/graph.h"
#include "ops/ops.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "batchnorm";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    const clcnn_tensor *x = graph_input_of(g, l, 0);
    clcnn_tensor *gamma = graph_layer_param(g, l, 0), *beta = graph_layer_param(g, l, 1);
    clcnn_tensor *mean = graph_layer_param(g, l, 2), *var = graph_layer_param(g, l, 3);
    if (graph_bn_uses_batch_stats(g, l))
        return ops_batchnorm_train(g->ctx, g->bn_dist, x, gamma, beta, mean, var, l->bn_momentum, l->bn_eps, l->y,
                                   l->mean, l->invstd);
    return clcnn_batchnorm(g->ctx, x, gamma, beta, mean, var, l->bn_eps, l->y);
}

clcnn_status graph_batchnorm_backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params,
                                      clcnn_activation act, const grad_sink *s) {
    clcnn_context *ctx = g->ctx;
    const clcnn_tensor *x = graph_input_of(g, l, 0);
    const int batch_stats = graph_bn_uses_batch_stats(g, l);
    const clcnn_tensor *mean = batch_stats ? l->mean : graph_layer_param(g, l, 2);
    clcnn_status st = CLCNN_OK;
    if (!batch_stats) st = clcnn_batchnorm_invstd(ctx, graph_layer_param(g, l, 3), l->bn_eps, l->invstd);
    clcnn_tensor *dgamma = graph_grad_if(g, l, 0, with_params), *dbeta = graph_grad_if(g, l, 1, with_params);
    if (st == CLCNN_OK && (dgamma || dbeta || batch_stats || act != CLCNN_ACT_NONE)) st = graph_input_values(g, l);
    if (st != CLCNN_OK || !(s->dx || dgamma || dbeta)) return st;
    return ops_batchnorm_backward(ctx, g->bn_dist, act, x, graph_layer_param(g, l, 0), graph_layer_param(g, l, 1), mean,
                                  l->invstd, batch_stats, dy, s->dx, s->accumulate, dgamma, dbeta);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    return graph_batchnorm_backward(g, l, dy, with_params, CLCNN_ACT_NONE, &s[0]);
}

/* A scale and a shift per element. */
static double flops(const clcnn_graph *g, const graph_layer *l) { return ops_batchnorm_flops(graph_output_elems(g, l)); }

const graph_layer_ops graph_batchnorm_layer = {name, forward, backward, flops, NULL};
