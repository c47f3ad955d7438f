/* fuse.c: faster evaluation-mode forwards. A convolution whose only reader is a batch
 * norm gets that batch norm folded into its weights and bias (computed once, and again
 * only when a parameter may have changed), and an activation or residual add (with its
 * activation) that is the only reader of the chain so far runs as the convolution's
 * epilogue. The members before the chain's end are not computed; a later request for
 * their output (clcnn_graph_tensor, a backward op that reads it) computes it then.
 * In training passes, a ReLU or ReLU6 may take over its batch norm's backward (one
 * kernel pass for both): graph_relu_takes_bn decides. */
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"
#include "ops/ops.h"

int graph_env_flag(const char *name, int dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    return strcmp(v, "0") != 0;
}

void graph_params_changed(clcnn_graph *g) { g->param_epoch++; }

void graph_param_touched(const clcnn_graph *g, int i) {
    if (i >= 0 && i < g->nparams) g->params[i].version++;
}

int graph_fusing(const clcnn_graph *g) { return !g->training && g->fuse && !g->check_numerics; }

void graph_fuse_free(clcnn_graph *g) {
    for (int i = 0; i < g->nlayers; i++) {
        graph_layer *l = &g->layers[i];
        clcnn_tensor_destroy(l->fold_w);
        clcnn_tensor_destroy(l->fold_b);
        clcnn_tensor_destroy(l->fold_u);
        l->fold_w = l->fold_b = l->fold_u = NULL;
        l->fold_valid = 0;
    }
}

int graph_sole_reader(const clcnn_graph *g, int i) {
    int found = -1;
    for (int j = i + 1; j < g->nlayers; j++)
        for (int k = 0; k < 2; k++)
            if (g->layers[j].in[k] == i) {
                if (found >= 0) return -1;
                found = j;
            }
    return found;
}

/* Only in training passes to the parameters, where the forward ran unfused, nothing but
 * l reads the norm, and no numerics check wants the norm's own gradient; the ReLU's
 * mask is made again from the norm's input. */
graph_layer *graph_relu_takes_bn(const clcnn_graph *g, const graph_layer *l, int with_params) {
    if (!with_params || !g->training || !g->fuse || g->check_numerics || l->kind != LAYER_ACTIVATION ||
        (l->act != CLCNN_ACT_RELU && l->act != CLCNN_ACT_RELU6) || l->in[0] < 1)
        return NULL;
    const int b = l->in[0];
    if (g->layers[b].kind != LAYER_BATCHNORM || graph_sole_reader(g, b) != (int)(l - g->layers)) return NULL;
    return &g->layers[b];
}

/* The chain starting at convolution h, if any. The graph's output is never a middle
 * member: it has no reader. */
static void plan_chain(clcnn_graph *g, int h) {
    graph_layer *head = &g->layers[h];
    int end = h, bn = -1, tail = -1, r = graph_sole_reader(g, h);
    if (r >= 0 && g->layers[r].kind == LAYER_BATCHNORM) {
        bn = end = r;
        r = graph_sole_reader(g, r);
    }
    /* An add may end two chains (a block's main path and its downsample): the first claims it. */
    if (r >= 0 && g->layers[r].chain < 0 &&
        (g->layers[r].kind == LAYER_ACTIVATION || g->layers[r].kind == LAYER_ADD))
        tail = end = r;
    if (end == h) return;
    head->chain_bn = bn;
    head->chain_tail = tail;
    head->chain_end = end;
    head->chain = h;
    if (bn >= 0) g->layers[bn].chain = h;
    if (tail >= 0) g->layers[tail].chain = h;
}

static void plan_chains(clcnn_graph *g) {
    graph_fuse_free(g);
    for (int i = 0; i < g->nlayers; i++) {
        graph_layer *l = &g->layers[i];
        l->chain = l->chain_bn = l->chain_tail = l->chain_end = -1;
        l->stale = 0;
    }
    for (int i = 1; i < g->nlayers; i++)
        if (g->layers[i].kind == LAYER_CONV) plan_chain(g, i);
    g->fuse_planned = g->nlayers;
}

/* The versions of the parameters a fold reads: they only grow, so their sum changes
 * whenever any of them does. */
static unsigned fold_sum(const clcnn_graph *g, const graph_layer *head) {
    const graph_layer *bn = &g->layers[head->chain_bn];
    unsigned sum = 0;
    for (int p = 0; p < head->nparams; p++) sum += g->params[head->param[p]].version;
    for (int p = 0; p < bn->nparams; p++) sum += g->params[bn->param[p]].version;
    return sum;
}

static clcnn_status refold(clcnn_graph *g, graph_layer *head) {
    const graph_layer *bn = &g->layers[head->chain_bn];
    const unsigned sum = fold_sum(g, head);
    if (head->fold_valid && head->fold_epoch == g->param_epoch && head->fold_sum == sum) return CLCNN_OK;
    const clcnn_tensor *w = graph_layer_param(g, head, 0);
    clcnn_status st;
    if (!head->fold_w && ((st = clcnn_tensor_create(g->ctx, w->ndim, w->shape, &head->fold_w)) != CLCNN_OK ||
                          (st = clcnn_tensor_create(g->ctx, 1, w->shape, &head->fold_b)) != CLCNN_OK))
        return st;
    head->fold_valid = 0;
    clcnn_tensor_destroy(head->fold_u); /* transformed from the weight being replaced */
    head->fold_u = NULL;
    st = clcnn_batchnorm_fold(g->ctx, w, graph_layer_param(g, head, 1), graph_layer_param(g, bn, 0),
                              graph_layer_param(g, bn, 1), graph_layer_param(g, bn, 2), graph_layer_param(g, bn, 3),
                              bn->bn_eps, head->fold_w, head->fold_b);
    if (st != CLCNN_OK) return rt_error_prefix(g->ctx, st, "folding %s into %s", bn->name, head->name);
    head->fold_valid = 1;
    head->fold_epoch = g->param_epoch;
    head->fold_sum = sum;
    return CLCNN_OK;
}

clcnn_status graph_fuse_prepare(clcnn_graph *g) {
    if (g->fuse_planned != g->nlayers) plan_chains(g);
    for (int i = 1; i < g->nlayers; i++) {
        graph_layer *l = &g->layers[i];
        clcnn_status st;
        if (l->chain == i && l->chain_bn >= 0 && (st = refold(g, l)) != CLCNN_OK) return st;
    }
    return CLCNN_OK;
}

clcnn_status graph_run_chain(clcnn_graph *g, int h) {
    graph_layer *head = &g->layers[h];
    const int folded = head->chain_bn >= 0;
    const clcnn_tensor *w = folded ? head->fold_w : graph_layer_param(g, head, 0);
    const clcnn_tensor *b = folded ? head->fold_b : graph_layer_param(g, head, 1);
    const clcnn_tensor *residual = NULL;
    clcnn_activation act = CLCNN_ACT_NONE;
    if (head->chain_tail >= 0) {
        const graph_layer *t = &g->layers[head->chain_tail];
        const int before = folded ? head->chain_bn : h; /* the member the tail reads */
        act = t->act;
        if (t->kind == LAYER_ADD) residual = graph_input_of(g, t, t->in[0] == before ? 1 : 0);
    }
    /* A folded weight changes only when refold makes it again, so its Winograd
     * transform is kept with it. */
    if (folded)
        return ops_conv2d_fixed_weight(g->ctx, graph_input_of(g, head, 0), w, b, &head->conv, residual, act,
                                         g->layers[head->chain_end].y, &head->fold_u);
    return clcnn_conv2d(g->ctx, graph_input_of(g, head, 0), w, b, &head->conv, residual, act,
                        g->layers[head->chain_end].y);
}

/* Only a chain's head and (with a tail) its batch norm are ever stale: the end is
 * computed, and nothing outside a chain reads its middle members. */
clcnn_status graph_materialize(const clcnn_graph *g, int i) {
    graph_layer *l = &g->layers[i];
    if (!l->stale) return CLCNN_OK;
    graph_layer *head = &g->layers[l->chain];
    clcnn_status st;
    if (head->stale) {
        st = clcnn_conv2d(g->ctx, graph_input_of(g, head, 0), graph_layer_param(g, head, 0),
                          graph_layer_param(g, head, 1), &head->conv, NULL, CLCNN_ACT_NONE, head->y);
        if (st != CLCNN_OK) return rt_error_prefix(g->ctx, st, "computing the output of fused layer %s", head->name);
        head->stale = 0;
    }
    if (l != head) { /* the batch norm, on its running statistics as the forward used */
        st = clcnn_batchnorm(g->ctx, head->y, graph_layer_param(g, l, 0), graph_layer_param(g, l, 1),
                             graph_layer_param(g, l, 2), graph_layer_param(g, l, 3), l->bn_eps, l->y);
        if (st != CLCNN_OK) return rt_error_prefix(g->ctx, st, "computing the output of fused layer %s", l->name);
        l->stale = 0;
    }
    return CLCNN_OK;
}
