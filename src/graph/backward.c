/* backward.c: back-propagation through the graph, either to every trainable
 * parameter (training) or to one named layer's output (explanations). Layers are
 * visited in reverse order; a layer is visited only if a gradient is needed at or
 * below it, so a frozen backbone is not back-propagated through at all. Gradients
 * meeting at a layer used twice (a residual block's input) are summed by the
 * backward ops' accumulate flag. */
#include "graph/graph.h"

static int has_trainable(const clcnn_graph *g, const graph_layer *l) {
    for (int p = 0; p < l->nparams; p++)
        if (graph_param_trainable(g, l, p)) return 1;
    return 0;
}

/* wants_dy: the gradient of this layer's output is needed, for its own parameters,
 * for the target, or for something below it. Inputs come before their readers. */
static void plan(clcnn_graph *g, int target, int with_params) {
    for (int i = 0; i < g->nlayers; i++) {
        graph_layer *l = &g->layers[i];
        int want = i == target || (with_params && has_trainable(g, l));
        for (int k = 0; k < 2; k++)
            if (l->in[k] >= 0 && g->layers[l->in[k]].wants_dy) want = 1;
        l->wants_dy = want;
        l->dy_valid = 0;
    }
}

static clcnn_status ensure_dy(clcnn_graph *g, graph_layer *l) {
    if (l->dy) return CLCNN_OK;
    int shape[4];
    return clcnn_tensor_create(g->ctx, graph_layer_shape(l, g->batch, shape), shape, &l->dy);
}

clcnn_status graph_sink_for(clcnn_graph *g, const graph_layer *l, int k, grad_sink *s) {
    *s = (grad_sink){0};
    if (l->in[k] < 0 || !g->layers[l->in[k]].wants_dy) return CLCNN_OK;
    s->to = &g->layers[l->in[k]];
    clcnn_status st = ensure_dy(g, s->to);
    s->dx = s->to->dy;
    s->accumulate = s->to->dy_valid;
    return st;
}

void graph_sink_done(grad_sink *s) {
    if (s->to) s->to->dy_valid = 1;
}

clcnn_status graph_pass_through(clcnn_graph *g, const clcnn_tensor *dy, const grad_sink *s) {
    if (!s->dx) return CLCNN_OK;
    if (s->accumulate) return clcnn_add(g->ctx, s->dx, dy, CLCNN_ACT_NONE, s->dx);
    return rt_tensor_copy(dy, s->dx, "graph backward");
}

clcnn_tensor *graph_grad_if(const clcnn_graph *g, const graph_layer *l, int p, int with_params) {
    return with_params && graph_param_trainable(g, l, p) ? g->params[l->param[p]].grad : NULL;
}

clcnn_status graph_before_act(clcnn_graph *g, graph_layer *l, const clcnn_tensor **dy) {
    if (l->act == CLCNN_ACT_NONE) return CLCNN_OK;
    clcnn_status st = ensure_dy(g, l);
    if (st == CLCNN_OK) st = clcnn_activate_backward(g->ctx, NULL, l->y, l->act, *dy, l->dy, 0);
    *dy = l->dy;
    return st;
}

clcnn_status graph_input_values(clcnn_graph *g, const graph_layer *l) {
    return l->in[0] > 0 ? graph_materialize(g, l->in[0]) : CLCNN_OK;
}

/* Layer l's backward (its kind's), between its inputs' sinks. */
static clcnn_status layer_backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params) {
    grad_sink s[2];
    clcnn_status st;
    if ((st = graph_sink_for(g, l, 0, &s[0])) != CLCNN_OK || (st = graph_sink_for(g, l, 1, &s[1])) != CLCNN_OK ||
        (st = graph_ops(l)->backward(g, l, dy, with_params, s)) != CLCNN_OK)
        return st;
    graph_sink_done(&s[0]);
    graph_sink_done(&s[1]);
    return CLCNN_OK;
}

/* aux_dout (or NULL): the auxiliary head's output gradient, seeded into its layer. */
clcnn_status graph_backward_pass(clcnn_graph *g, const char *op, int target, const clcnn_tensor *dout,
                                 const clcnn_tensor *aux_dout, double *ms) {
    if (!g->batch || !g->input)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: no forward pass to go back through", op);
    graph_layer *out = &g->layers[g->nlayers - 1];
    int shape[4];
    const int ndim = graph_layer_shape(out, g->batch, shape);
    clcnn_status st = rt_check_shape_is(g->ctx, op, "output gradient", dout, ndim, shape);
    if (st != CLCNN_OK) return st;
    const int with_params = target < 0;
    graph_layer *aux = aux_dout ? &g->layers[g->aux_layer] : NULL;
    if (aux && (st = rt_check_shape_is(g->ctx, op, "auxiliary output gradient", aux_dout,
                                          graph_layer_shape(aux, g->batch, shape), shape)) != CLCNN_OK)
        return st;
    plan(g, target, with_params);
    if (aux && aux->wants_dy) { /* its readers' gradients (none) are in: it starts from aux_dout */
        if ((st = ensure_dy(g, aux)) != CLCNN_OK || (st = rt_tensor_copy(aux_dout, aux->dy, op)) != CLCNN_OK)
            return st;
        aux->dy_valid = 1;
    }
    if (!out->wants_dy) return CLCNN_OK; /* nothing is trainable and no target: nothing to do */
    layer_timer timer = {.ms = ms};
    if ((with_params && (st = graph_make_param_grads(g)) != CLCNN_OK) || (st = graph_check_dout(g, dout)) != CLCNN_OK ||
        (st = graph_timer_start(g, &timer)) != CLCNN_OK)
        return st;
    for (int i = g->nlayers - 1; i >= (target > 0 ? target + 1 : 1); i--) {
        graph_layer *l = &g->layers[i];
        if (l->wants_dy && (i == g->nlayers - 1 || l->dy_valid)) {
            const clcnn_tensor *dy = i == g->nlayers - 1 ? dout : l->dy;
            if ((st = layer_backward(g, l, dy, with_params)) != CLCNN_OK)
                return rt_error_prefix(g->ctx, st, "backward of layer %s", l->name);
            if ((st = graph_timer_lap(g, &timer, i)) != CLCNN_OK) return st;
            if ((st = graph_check_backward(g, l, with_params)) != CLCNN_OK) return st;
        }
        if (with_params && g->grads_enqueued && (st = g->grads_enqueued(g->grads_enqueued_user, i)) != CLCNN_OK)
            return st;
    }
    return CLCNN_OK;
}

clcnn_status clcnn_graph_backward(clcnn_graph *g, const clcnn_tensor *dout) {
    if (!g) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_backward: graph is NULL");
    return graph_backward_pass(g, "clcnn_graph_backward", -1, dout, NULL, NULL);
}

clcnn_status clcnn_graph_backward_aux(clcnn_graph *g, const clcnn_tensor *dout, const clcnn_tensor *aux_dout) {
    static const char *op = "clcnn_graph_backward_aux";
    if (!g || !aux_dout) return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    if (!g->aux_layer)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: no auxiliary head (clcnn_graph_set_aux_head)", op);
    return graph_backward_pass(g, op, -1, dout, aux_dout, NULL);
}

clcnn_status clcnn_graph_backward_to(clcnn_graph *g, const char *name, const clcnn_tensor *dout,
                                     const clcnn_tensor **grad) {
    static const char *op = "clcnn_graph_backward_to";
    if (!g || !grad) return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    *grad = NULL;
    const int target = graph_find_layer(g, name);
    if (target < 0) return rt_error(g->ctx, CLCNN_ERR_NOT_FOUND, "%s: no layer is called %s", op, name ? name : "(null)");
    if (target == g->nlayers - 1) {
        *grad = dout; /* the output's own gradient is dout */
        return rt_check_tensor(g->ctx, op, "output gradient", dout, 0);
    }
    clcnn_status st = graph_backward_pass(g, op, target, dout, NULL, NULL);
    if (st != CLCNN_OK) return st;
    graph_layer *t = &g->layers[target];
    if (!t->dy_valid) {
        /* No path from the target to the output: its gradient is zero. */
        if ((st = ensure_dy(g, t)) != CLCNN_OK || (st = clcnn_tensor_fill(t->dy, 0.0f)) != CLCNN_OK) return st;
    }
    *grad = t->dy;
    return CLCNN_OK;
}
