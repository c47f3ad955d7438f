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

/* Where input k's gradient goes (NULL when nothing below needs it), and whether it
 * is added to a gradient already there. */
typedef struct {
    clcnn_tensor *dx;
    int accumulate;
    graph_layer *to;
} grad_sink;

static clcnn_status sink_for(clcnn_graph *g, const graph_layer *l, int k, grad_sink *s) {
    *s = (grad_sink){0};
    if (l->in[k] < 0 || !g->layers[l->in[k]].wants_dy) return CLCNN_OK;
    s->to = &g->layers[l->in[k]];
    clcnn_status st = ensure_dy(g, s->to);
    s->dx = s->to->dy;
    s->accumulate = s->to->dy_valid;
    return st;
}

static void sink_done(grad_sink *s) {
    if (s->to) s->to->dy_valid = 1;
}

/* dx (+)= dy for layers whose gradient passes through unchanged. */
static clcnn_status pass_through(clcnn_graph *g, const clcnn_tensor *dy, const grad_sink *s) {
    if (!s->dx) return CLCNN_OK;
    if (s->accumulate) return clcnn_add(g->ctx, s->dx, dy, CLCNN_ACT_NONE, s->dx);
    return clcnn_tensor_copy(dy, s->dx, "graph backward");
}

static clcnn_tensor *grad_if(const clcnn_graph *g, const graph_layer *l, int p, int with_params) {
    return with_params && graph_param_trainable(g, l, p) ? g->params[l->param[p]].grad : NULL;
}

/* The gradient before a fused output activation: dy through act's derivative (from
 * the layer's output) into the layer's own dy tensor, in place when dy is already it. */
static clcnn_status before_act(clcnn_graph *g, graph_layer *l, const clcnn_tensor **dy) {
    if (l->act == CLCNN_ACT_NONE) return CLCNN_OK;
    clcnn_status st = ensure_dy(g, l);
    if (st == CLCNN_OK) st = clcnn_activate_backward(g->ctx, NULL, l->y, l->act, *dy, l->dy, 0);
    *dy = l->dy;
    return st;
}

/* The backward op about to run reads the values of l's input (not only its shape):
 * compute it if the last forward fused it away. */
static clcnn_status input_values(clcnn_graph *g, const graph_layer *l) {
    return l->in[0] > 0 ? graph_materialize(g, l->in[0]) : CLCNN_OK;
}

/* Batch norm l's backward from dy into sink s; relu: dy is the gradient of the ReLU
 * that reads l (clcnn_batchnorm_relu_backward). */
static clcnn_status batchnorm_backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params,
                                       int relu, const grad_sink *s) {
    clcnn_context *ctx = g->ctx;
    const clcnn_tensor *x = graph_input_of(g, l, 0);
    const int batch_stats = graph_bn_uses_batch_stats(g, l);
    const clcnn_tensor *mean = batch_stats ? l->mean : graph_layer_param(g, l, 2);
    clcnn_status st = CLCNN_OK;
    if (!batch_stats) st = clcnn_batchnorm_invstd(ctx, graph_layer_param(g, l, 3), BN_EPS, l->invstd);
    clcnn_tensor *dgamma = grad_if(g, l, 0, with_params), *dbeta = grad_if(g, l, 1, with_params);
    if (st == CLCNN_OK && (dgamma || dbeta || batch_stats || relu)) st = input_values(g, l);
    if (st != CLCNN_OK || !(s->dx || dgamma || dbeta)) return st;
    if (relu)
        return clcnn_batchnorm_relu_backward(ctx, x, graph_layer_param(g, l, 0), graph_layer_param(g, l, 1), mean,
                                             l->invstd, batch_stats, dy, s->dx, s->accumulate, dgamma, dbeta);
    return clcnn_batchnorm_backward(ctx, x, graph_layer_param(g, l, 0), mean, l->invstd, batch_stats, dy, s->dx,
                                    s->accumulate, dgamma, dbeta);
}

/* The batch norm whose backward a ReLU layer l takes over (one kernel pass for both,
 * the ReLU's mask made again from the norm's input), or NULL. Only in training passes
 * to the parameters, where the forward ran unfused, nothing but l reads the norm, and no
 * numerics check wants the norm's own gradient. */
static graph_layer *relu_fused_bn(const clcnn_graph *g, const graph_layer *l, int with_params) {
    if (!with_params || !g->training || !g->fuse || g->check_numerics || l->kind != LAYER_ACTIVATION ||
        l->act != CLCNN_ACT_RELU || l->in[0] < 1)
        return NULL;
    const int b = l->in[0];
    if (g->layers[b].kind != LAYER_BATCHNORM || graph_sole_reader(g, b) != (int)(l - g->layers)) return NULL;
    return &g->layers[b];
}

static clcnn_status layer_backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params) {
    clcnn_context *ctx = g->ctx;
    const clcnn_tensor *x = graph_input_of(g, l, 0);
    grad_sink s0, s1;
    clcnn_status st;
    if ((st = sink_for(g, l, 0, &s0)) != CLCNN_OK || (st = sink_for(g, l, 1, &s1)) != CLCNN_OK) return st;
    switch (l->kind) {
    case LAYER_INPUT: break;
    case LAYER_CONV: {
        clcnn_tensor *dw = grad_if(g, l, 0, with_params), *db = grad_if(g, l, 1, with_params);
        if (dw) st = input_values(g, l);
        if (st == CLCNN_OK && (s0.dx || dw || db))
            st = clcnn_conv2d_backward(ctx, x, graph_layer_param(g, l, 0), &l->conv, dy, s0.dx, s0.accumulate, dw, db);
        break;
    }
    case LAYER_BATCHNORM: st = batchnorm_backward(g, l, dy, with_params, 0, &s0); break;
    case LAYER_ACTIVATION: {
        graph_layer *bn = relu_fused_bn(g, l, with_params);
        if (bn) {
            /* The norm's backward into its input's sink. The norm's own dy stays unset
             * (no sink_done for s0), so the pass skips the norm. */
            grad_sink bs;
            if ((st = sink_for(g, bn, 0, &bs)) == CLCNN_OK &&
                (st = batchnorm_backward(g, bn, dy, with_params, 1, &bs)) == CLCNN_OK)
                sink_done(&bs);
            return st;
        }
        if (s0.dx && l->act == CLCNN_ACT_SILU) st = input_values(g, l); /* the others need only y */
        if (st == CLCNN_OK && s0.dx) st = clcnn_activate_backward(ctx, x, l->y, l->act, dy, s0.dx, s0.accumulate);
        break;
    }
    case LAYER_ADD:
        if ((st = before_act(g, l, &dy)) == CLCNN_OK && (st = pass_through(g, dy, &s0)) == CLCNN_OK) {
            /* x + x: the second input is the first, whose gradient now holds one share. */
            if (l->in[1] == l->in[0] && s1.dx) s1.accumulate = 1;
            st = pass_through(g, dy, &s1);
        }
        break;
    case LAYER_POOL:
        if (s0.dx && l->pool.mode == CLCNN_POOL_MAX) st = input_values(g, l);
        if (st == CLCNN_OK && s0.dx) st = clcnn_pool2d_backward(ctx, x, &l->pool, dy, s0.dx, s0.accumulate);
        break;
    case LAYER_GLOBAL_AVG_POOL:
        if (s0.dx) st = clcnn_global_avg_pool_backward(ctx, dy, s0.dx, s0.accumulate);
        break;
    case LAYER_LINEAR: {
        clcnn_tensor *dw = grad_if(g, l, 0, with_params), *db = grad_if(g, l, 1, with_params);
        if (dw) st = input_values(g, l);
        if (st == CLCNN_OK && (s0.dx || dw || db))
            st = clcnn_linear_backward(ctx, x, graph_layer_param(g, l, 0), dy, s0.dx, s0.accumulate, dw, db);
        break;
    }
    case LAYER_DROPOUT:
        if (!s0.dx) break;
        if (g->training && l->drop_p > 0.0f) st = clcnn_dropout_backward(ctx, dy, l->drop_p, l->drop_seed, s0.dx, s0.accumulate);
        else st = pass_through(g, dy, &s0);
        break;
    case LAYER_SQUEEZE_EXCITE: {
        if ((st = before_act(g, l, &dy)) != CLCNN_OK || (st = pass_through(g, dy, &s1)) != CLCNN_OK) break;
        clcnn_tensor *d[4];
        int any = s0.dx != NULL;
        for (int p = 0; p < 4; p++) any |= (d[p] = grad_if(g, l, p, with_params)) != NULL;
        if (s1.to && s1.to == s0.to) s0.accumulate = 1; /* residual and input are one tensor */
        if (any) st = input_values(g, l);
        if (st == CLCNN_OK && any)
            st = clcnn_squeeze_excite_backward(ctx, x, graph_layer_param(g, l, 0), graph_layer_param(g, l, 1),
                                               graph_layer_param(g, l, 2), graph_layer_param(g, l, 3), dy, s0.dx,
                                               s0.accumulate, d[0], d[1], d[2], d[3]);
        break;
    }
    }
    if (st == CLCNN_OK) {
        sink_done(&s0);
        sink_done(&s1);
    }
    return st;
}

clcnn_status graph_backward_pass(clcnn_graph *g, const char *op, int target, const clcnn_tensor *dout, double *ms) {
    if (!g->batch || !g->input)
        return clcnn_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: no forward pass to go back through", op);
    graph_layer *out = &g->layers[g->nlayers - 1];
    int shape[4];
    const int ndim = graph_layer_shape(out, g->batch, shape);
    clcnn_status st = clcnn_check_shape_is(g->ctx, op, "output gradient", dout, ndim, shape);
    if (st != CLCNN_OK) return st;
    const int with_params = target < 0;
    plan(g, target, with_params);
    if (!out->wants_dy) return CLCNN_OK; /* nothing is trainable and no target: nothing to do */
    layer_timer timer = {.ms = ms};
    if ((with_params && (st = graph_make_param_grads(g)) != CLCNN_OK) || (st = graph_check_dout(g, dout)) != CLCNN_OK ||
        (st = graph_timer_start(g, &timer)) != CLCNN_OK)
        return st;
    for (int i = g->nlayers - 1; i >= (target > 0 ? target + 1 : 1); i--) {
        graph_layer *l = &g->layers[i];
        if (!l->wants_dy || (i != g->nlayers - 1 && !l->dy_valid)) continue;
        const clcnn_tensor *dy = i == g->nlayers - 1 ? dout : l->dy;
        if ((st = layer_backward(g, l, dy, with_params)) != CLCNN_OK)
            return clcnn_error_prefix(g->ctx, st, "backward of layer %s", l->name);
        if ((st = graph_timer_lap(g, &timer, i)) != CLCNN_OK) return st;
        if ((st = graph_check_backward(g, l, with_params)) != CLCNN_OK) return st;
    }
    return CLCNN_OK;
}

clcnn_status clcnn_graph_backward(clcnn_graph *g, const clcnn_tensor *dout) {
    if (!g) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_backward: graph is NULL");
    return graph_backward_pass(g, "clcnn_graph_backward", -1, dout, NULL);
}

clcnn_status clcnn_graph_backward_to(clcnn_graph *g, const char *name, const clcnn_tensor *dout,
                                     const clcnn_tensor **grad) {
    static const char *op = "clcnn_graph_backward_to";
    if (!g || !grad) return clcnn_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    *grad = NULL;
    const int target = graph_find_layer(g, name);
    if (target < 0) return clcnn_error(g->ctx, CLCNN_ERR_NOT_FOUND, "%s: no layer is called %s", op, name ? name : "(null)");
    if (target == g->nlayers - 1) {
        *grad = dout; /* the output's own gradient is dout */
        return clcnn_check_tensor(g->ctx, op, "output gradient", dout, 0);
    }
    clcnn_status st = graph_backward_pass(g, op, target, dout, NULL);
    if (st != CLCNN_OK) return st;
    graph_layer *t = &g->layers[target];
    if (!t->dy_valid) {
        /* No path from the target to the output: its gradient is zero. */
        if ((st = ensure_dy(g, t)) != CLCNN_OK || (st = clcnn_tensor_fill(t->dy, 0.0f)) != CLCNN_OK) return st;
    }
    *grad = t->dy;
    return CLCNN_OK;
}
