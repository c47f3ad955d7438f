/* forward.c: the forward pass, and the per-batch tensors it keeps for the backward
 * pass (every layer's output, batch-norm statistics). They are planned once per batch
 * size from the context's pool, so steady-state steps allocate no device memory. */
#include <string.h>
#include "graph/graph.h"

void graph_batch_free(clcnn_graph *g) {
    for (int i = 0; i < g->nlayers; i++) {
        graph_layer *l = &g->layers[i];
        clcnn_tensor_destroy(l->y);
        clcnn_tensor_destroy(l->dy);
        clcnn_tensor_destroy(l->mean);
        clcnn_tensor_destroy(l->invstd);
        l->y = l->dy = l->mean = l->invstd = NULL;
        l->stale = 0;
    }
    g->batch = 0;
}

/* [batch, per-sample shape...] of layer l. */
int graph_layer_shape(const graph_layer *l, int batch, int shape[4]) {
    shape[0] = batch;
    for (int d = 0; d < l->ndim; d++) shape[d + 1] = l->shape[d];
    return l->ndim + 1;
}

static clcnn_status plan_batch(clcnn_graph *g, int batch) {
    if (batch == g->batch) return CLCNN_OK;
    graph_batch_free(g);
    int shape[4];
    for (int i = 1; i < g->nlayers; i++) {
        graph_layer *l = &g->layers[i];
        clcnn_status st = clcnn_tensor_create(g->ctx, graph_layer_shape(l, batch, shape), shape, &l->y);
        if (st == CLCNN_OK && l->kind == LAYER_BATCHNORM) {
            st = clcnn_tensor_create(g->ctx, 1, l->shape, &l->mean);
            if (st == CLCNN_OK) st = clcnn_tensor_create(g->ctx, 1, l->shape, &l->invstd);
        }
        if (st != CLCNN_OK) {
            graph_batch_free(g);
            return st;
        }
    }
    g->batch = batch;
    return CLCNN_OK;
}

/* Training keeps a gradient tensor per layer and per parameter. They are made here,
 * before any op of the pass takes scratch memory, so that every step asks the pool for
 * the same buffers in the same order and steady-state steps allocate nothing. */
static clcnn_status plan_gradients(clcnn_graph *g) {
    clcnn_status st = graph_make_param_grads(g);
    int shape[4];
    for (int i = 1; i < g->nlayers && st == CLCNN_OK; i++) {
        graph_layer *l = &g->layers[i];
        if (!l->dy) st = clcnn_tensor_create(g->ctx, graph_layer_shape(l, g->batch, shape), shape, &l->dy);
    }
    return st;
}

static clcnn_status run_layer(clcnn_graph *g, int index) {
    graph_layer *l = &g->layers[index];
    return graph_ops(l)->forward(g, l, index);
}

clcnn_status graph_forward_pass(clcnn_graph *g, const char *op, const clcnn_tensor *x, double *ms) {
    clcnn_status st = rt_check_tensor(g->ctx, op, "input", x, 4);
    if (st != CLCNN_OK) return st;
    const graph_layer *in = &g->layers[0];
    if (x->shape[1] != in->shape[0] || x->shape[2] != in->shape[1] || x->shape[3] != in->shape[2]) {
        char s[64];
        return rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: input %s does not match the network's [N, %d, %d, %d]", op,
                           clcnn_tensor_shape_str(x, s, sizeof s), in->shape[0], in->shape[1], in->shape[2]);
    }
    if (g->nlayers < 2) return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: the graph has no layers", op);
    if ((st = plan_batch(g, x->shape[0])) != CLCNN_OK || (g->training && (st = plan_gradients(g)) != CLCNN_OK))
        return st;
    g->input = x;
    if (g->training) {
        g->forwards++;
        graph_params_changed(g); /* batch norms update their running statistics */
    }
    const int fusing = graph_fusing(g);
    if (fusing && (st = graph_fuse_prepare(g)) != CLCNN_OK) return st;
    layer_timer timer = {.ms = ms};
    if ((st = graph_check_forward(g, 0)) != CLCNN_OK || (st = graph_timer_start(g, &timer)) != CLCNN_OK) return st;
    for (int i = 1; i < g->nlayers; i++) {
        graph_layer *l = &g->layers[i];
        int at = i; /* the layer that did the work: a chain's head */
        if (fusing && l->chain >= 0) {
            at = l->chain;
            l->stale = g->layers[at].chain_end != i;
            if (l->stale) continue;
            st = graph_run_chain(g, at);
        } else {
            l->stale = 0;
            st = run_layer(g, i);
        }
        if (st != CLCNN_OK) return rt_error_prefix(g->ctx, st, "forward of layer %s", g->layers[at].name);
        if ((st = graph_timer_lap(g, &timer, at)) != CLCNN_OK || (st = graph_check_forward(g, i)) != CLCNN_OK)
            return st;
    }
    return CLCNN_OK;
}

clcnn_status clcnn_graph_forward(clcnn_graph *g, const clcnn_tensor *x, const clcnn_tensor **output) {
    if (!g) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_forward: graph is NULL");
    if (output) *output = NULL;
    clcnn_status st = graph_forward_pass(g, "clcnn_graph_forward", x, NULL);
    if (st == CLCNN_OK && output) *output = g->layers[g->nlayers - 1].y;
    return st;
}

const clcnn_tensor *clcnn_graph_tensor(const clcnn_graph *g, const char *name) {
    const int i = g ? graph_find_layer(g, name) : -1;
    if (i < 0) return NULL;
    if (i == 0) return g->input;
    /* A layer fused away by the last forward is computed now rather than read stale. */
    return graph_materialize(g, i) == CLCNN_OK ? g->layers[i].y : NULL;
}

void clcnn_graph_set_training(clcnn_graph *g, int training) {
    if (!g || g->training == (training != 0)) return;
    g->training = training != 0;
    graph_params_changed(g);
}

int clcnn_graph_is_training(const clcnn_graph *g) { return g ? g->training : 0; }
