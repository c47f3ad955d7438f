/* trainer.c: whole training steps on the device: forward in training mode, loss and
 * its gradient, backward, optional gradient clipping, and the optimizer update of
 * every parameter that is not frozen. The loss is the one value read back per step:
 * it is checked before anything is updated, so a NaN leaves the weights untouched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"
#include "ops/ops.h"
#include "train/trainer_internal.h"


void clcnn_trainer_destroy(clcnn_trainer *t) {
    if (!t) return;
    for (int i = 0; i < t->nparams; i++) {
        if (t->state1) clcnn_tensor_destroy(t->state1[i]);
        if (t->state2) clcnn_tensor_destroy(t->state2[i]);
    }
    free(t->state1);
    free(t->state2);
    free(t->grads);
    free(t->lr_mult);
    free(t->param_steps);
    trainer_dist_free(t);
    free(t->class_weights_host);
    clcnn_tensor_destroy(t->class_weights);
    clcnn_tensor_destroy(t->loss);
    clcnn_tensor_destroy(t->dout);
    clcnn_tensor_destroy(t->clip);
    clcnn_tensor_destroy(t->aux_dout);
    clcnn_tensor_destroy(t->aux_weight);
    free(t);
}

static clcnn_status zeroed_like(clcnn_context *ctx, const clcnn_tensor *like, clcnn_tensor **out) {
    clcnn_status st = clcnn_tensor_create(ctx, clcnn_tensor_ndim(like), like->shape, out);
    return st != CLCNN_OK ? st : clcnn_tensor_fill(*out, 0.0f);
}

/* Optimizer state for each parameter with a gradient: SGD's momentum buffer, Adam's m and v. */
static clcnn_status create_state(clcnn_trainer *t) {
    const clcnn_optimizer_kind kind = t->p.optimizer.kind;
    for (int i = 0; i < t->nparams; i++) {
        clcnn_param_info p;
        clcnn_status st = clcnn_graph_param_info(t->g, i, &p);
        if (st != CLCNN_OK) return st;
        if (!p.grad) continue;
        t->grads[t->ngrads++] = p.grad;
        if (kind != CLCNN_OPT_SGD || t->p.optimizer.momentum != 0.0f) st = zeroed_like(t->ctx, p.grad, &t->state1[i]);
        if (st == CLCNN_OK && kind != CLCNN_OPT_SGD) st = zeroed_like(t->ctx, p.grad, &t->state2[i]);
        if (st != CLCNN_OK) return rt_error_prefix(t->ctx, st, "clcnn_trainer_create: optimizer state of %s", p.name);
    }
    return CLCNN_OK;
}

clcnn_train_params clcnn_train_params_default(void) {
    return (clcnn_train_params){.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD),
                                .loss = CLCNN_LOSS_CROSS_ENTROPY};
}

clcnn_status clcnn_trainer_create(clcnn_graph *g, const clcnn_train_params *params, clcnn_trainer **out) {
    static const char *op = "clcnn_trainer_create";
    if (!g || !params || !out) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    *out = NULL;
    const int nparams = clcnn_graph_param_count(g);
    clcnn_context *ctx = clcnn_graph_context(g);
    const clcnn_optimizer_kind kind = params->optimizer.kind;
    if (kind != CLCNN_OPT_SGD && kind != CLCNN_OPT_ADAM && kind != CLCNN_OPT_ADAMW)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown optimizer %d", op, (int)kind);
    if (params->loss != CLCNN_LOSS_CROSS_ENTROPY && params->loss != CLCNN_LOSS_BCE_WITH_LOGITS)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown loss %d", op, (int)params->loss);
    clcnn_trainer *t = calloc(1, sizeof *t);
    if (!t) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    t->g = g;
    t->ctx = ctx;
    t->p = *params;
    t->p.class_weights = NULL; /* copied to the device below; the caller's array is not kept */
    t->nparams = nparams;
    clcnn_status st;
    t->state1 = calloc((size_t)nparams, sizeof *t->state1);
    t->state2 = calloc((size_t)nparams, sizeof *t->state2);
    t->grads = calloc((size_t)nparams, sizeof *t->grads);
    t->lr_mult = malloc((size_t)(nparams > 0 ? nparams : 1) * sizeof *t->lr_mult);
    t->param_steps = calloc((size_t)(nparams > 0 ? nparams : 1), sizeof *t->param_steps);
    if (!t->state1 || !t->state2 || !t->grads || !t->lr_mult || !t->param_steps) {
        st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        goto fail;
    }
    for (int i = 0; i < nparams; i++) t->lr_mult[i] = 1.0f;
    if ((st = create_state(t)) != CLCNN_OK || (st = clcnn_tensor_create(ctx, 1, (int[]){1}, &t->loss)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 1, (int[]){2}, &t->clip)) != CLCNN_OK)
        goto fail;
    if (params->class_weights) {
        /* The class count is the output's width, known once the graph has an output. */
        clcnn_layer_info last;
        if ((st = clcnn_graph_layer(g, clcnn_graph_layer_count(g) - 1, &last)) != CLCNN_OK ||
            (st = clcnn_tensor_create(ctx, 1, &last.shape[0], &t->class_weights)) != CLCNN_OK ||
            (st = clcnn_tensor_write(t->class_weights, params->class_weights, (size_t)last.shape[0])) != CLCNN_OK)
            goto fail;
        if (!(t->class_weights_host = malloc((size_t)last.shape[0] * sizeof *t->class_weights_host))) {
            st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
            goto fail;
        }
        memcpy(t->class_weights_host, params->class_weights, (size_t)last.shape[0] * sizeof *t->class_weights_host);
        t->n_class_weights = last.shape[0];
    }
    *out = t;
    return CLCNN_OK;
fail:
    clcnn_trainer_destroy(t);
    return st;
}

clcnn_status clcnn_trainer_set_lr_mult(clcnn_trainer *t, const char *prefix, float mult, int *matched) {
    static const char *op = "clcnn_trainer_set_lr_mult";
    if (matched) *matched = 0;
    if (!t || !prefix) return rt_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    if (!(mult >= 0.0f) || !isfinite(mult))
        return rt_error(t->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: factor %g for %s, want a finite value >= 0", op,
                           (double)mult, *prefix ? prefix : "every parameter");
    int count = 0;
    for (int i = 0; i < t->nparams; i++) {
        if (!clcnn_param_name_under(clcnn_graph_param_name(t->g, i), prefix)) continue;
        t->lr_mult[i] = mult;
        count++;
    }
    if (matched) *matched = count;
    return count ? CLCNN_OK
                 : rt_error(t->ctx, CLCNN_ERR_NOT_FOUND, "%s: no parameter is called %s or starts with \"%s.\"", op,
                               prefix, prefix);
}

clcnn_status clcnn_trainer_unfreeze(clcnn_trainer *t, const char *prefix, int *matched) {
    static const char *op = "clcnn_trainer_unfreeze";
    if (matched) *matched = 0;
    if (!t || !prefix) return rt_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    int under = 0, count = 0;
    for (int i = 0; i < t->nparams; i++) {
        const char *name = clcnn_graph_param_name(t->g, i);
        if (!clcnn_param_name_under(name, prefix)) continue;
        under++;
        if (!clcnn_graph_param_is_frozen(t->g, name)) continue;
        /* zero state, as for a parameter group new to the optimizer */
        clcnn_status st = CLCNN_OK;
        if (t->state1[i]) st = clcnn_tensor_fill(t->state1[i], 0.0f);
        if (st == CLCNN_OK && t->state2[i]) st = clcnn_tensor_fill(t->state2[i], 0.0f);
        if (st == CLCNN_OK) st = clcnn_graph_freeze(t->g, name, 0, NULL);
        if (st != CLCNN_OK) return rt_error_prefix(t->ctx, st, "%s: %s", op, name);
        t->param_steps[i] = 0;
        count++;
    }
    if (matched) *matched = count;
    return under ? CLCNN_OK
                 : rt_error(t->ctx, CLCNN_ERR_NOT_FOUND, "%s: no parameter is called %s or starts with \"%s.\"", op,
                               prefix, prefix);
}

clcnn_status clcnn_trainer_get_params(const clcnn_trainer *t, clcnn_train_params *params) {
    if (!t || !params)
        return rt_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_get_params: %s is NULL",
                           t ? "params" : "trainer");
    *params = t->p; /* p.class_weights is NULL: the weights were copied to the device */
    return CLCNN_OK;
}

int clcnn_trainer_steps(const clcnn_trainer *t) { return t ? t->steps : 0; }

float clcnn_trainer_lr(const clcnn_trainer *t) {
    if (!t) return 0.0f;
    return t->p.schedule.base_lr > 0.0f ? clcnn_schedule_lr(&t->p.schedule, t->steps) : t->p.optimizer.lr;
}

/* The loss gradient tensor, shaped as the output for this batch size; made before the
 * forward pass takes scratch memory, so that each step uses the pool the same way. */
static clcnn_status ensure_dout(clcnn_trainer *t, const clcnn_tensor *x) {
    clcnn_layer_info out;
    clcnn_status st = rt_check_tensor(t->ctx, "clcnn_trainer_step", "input", x, 4);
    if (st != CLCNN_OK || (st = clcnn_graph_layer(t->g, clcnn_graph_layer_count(t->g) - 1, &out)) != CLCNN_OK) return st;
    int shape[4] = {x->shape[0]};
    memcpy(shape + 1, out.shape, sizeof(int) * (size_t)out.ndim);
    if (t->dout && t->dout->ndim == out.ndim + 1 && !memcmp(t->dout->shape, shape, sizeof(int) * (size_t)(out.ndim + 1)))
        return CLCNN_OK;
    clcnn_tensor_destroy(t->dout);
    t->dout = NULL;
    return clcnn_tensor_create(t->ctx, out.ndim + 1, shape, &t->dout);
}

/* The loss of logits (mean over the batch) in *value and its gradient in dlogits. */
static clcnn_status loss_of(clcnn_trainer *t, const clcnn_tensor *logits, const clcnn_tensor *labels,
                            clcnn_tensor *dlogits, float *value) {
    clcnn_status st;
    if (t->p.loss == CLCNN_LOSS_CROSS_ENTROPY)
        st = clcnn_cross_entropy(t->ctx, logits, labels, t->class_weights, t->p.label_smoothing, t->loss, dlogits);
    else
        st = clcnn_bce_with_logits(t->ctx, logits, labels, t->loss, dlogits);
    return st != CLCNN_OK ? st : clcnn_tensor_read(t->loss, value, 1);
}

/* With an auxiliary head set (clcnn_graph_set_aux_head) at weight w > 0: its loss
 * times w added to *loss, its gradient times w in t->aux_dout; else nothing. */
static clcnn_status aux_loss(clcnn_trainer *t, const clcnn_tensor *labels, float *loss, int *used) {
    float w;
    const char *name;
    *used = clcnn_graph_aux_head(t->g, &w, &name) != NULL && w > 0.0f;
    if (!*used) return CLCNN_OK;
    const clcnn_tensor *out = clcnn_graph_tensor(t->g, name);
    if (!out) return rt_error(t->ctx, CLCNN_ERR_NOT_FOUND, "training step: no output from the auxiliary head %s", name);
    clcnn_status st = CLCNN_OK;
    if (!t->aux_dout || t->aux_dout->numel != out->numel) {
        clcnn_tensor_destroy(t->aux_dout);
        clcnn_tensor_destroy(t->aux_weight);
        t->aux_dout = t->aux_weight = NULL;
        if ((st = clcnn_tensor_create(t->ctx, out->ndim, out->shape, &t->aux_dout)) != CLCNN_OK ||
            (st = clcnn_tensor_create(t->ctx, out->ndim, out->shape, &t->aux_weight)) != CLCNN_OK)
            return st;
        t->aux_weight_value = NAN; /* filled below */
    }
    if (t->aux_weight_value != w) { /* a new tensor or a new weight: fill it, once */
        if ((st = clcnn_tensor_fill(t->aux_weight, w)) != CLCNN_OK) return st;
        t->aux_weight_value = w;
    }
    float value;
    if ((st = loss_of(t, out, labels, t->aux_dout, &value)) != CLCNN_OK ||
        (st = ops_channel_scale(t->ctx, t->aux_dout, t->aux_weight, NULL, CLCNN_ACT_NONE, t->aux_dout)) != CLCNN_OK)
        return st;
    *loss += w * value;
    return CLCNN_OK;
}

static clcnn_status update(clcnn_trainer *t, float lr) {
    const clcnn_tensor *scale = t->p.clip_norm > 0.0f ? t->clip : NULL;
    for (int i = 0; i < t->nparams; i++) {
        clcnn_param_info p;
        clcnn_status st = clcnn_graph_param_info(t->g, i, &p);
        if (st != CLCNN_OK) return st;
        if (!p.grad || p.frozen) continue;
        st = clcnn_optimizer_step(t->ctx, &t->p.optimizer, t->param_steps[i] + 1, lr * t->lr_mult[i], p.value, p.grad,
                                  t->state1[i], t->state2[i], scale);
        if (st != CLCNN_OK) return st;
        t->param_steps[i]++;
    }
    return CLCNN_OK;
}

/* The step from the loss on: its gradient back through the graph, over the ranks when
 * data-parallel, clipped, applied. */
static clcnn_status train_step(clcnn_trainer *t, const clcnn_tensor *x, const clcnn_tensor *labels, float *loss_out) {
    const int step = t->steps + 1;
    const clcnn_tensor *out;
    float loss;
    clcnn_status st;
    if ((st = ensure_dout(t, x)) != CLCNN_OK || (st = trainer_dist_begin(t, labels, x->shape[0])) != CLCNN_OK ||
        (st = clcnn_graph_zero_grad(t->g)) != CLCNN_OK || (st = clcnn_graph_forward(t->g, x, &out)) != CLCNN_OK)
        return st;
    int aux;
    if ((st = loss_of(t, out, labels, t->dout, &loss)) != CLCNN_OK || (st = aux_loss(t, labels, &loss, &aux)) != CLCNN_OK ||
        (st = trainer_dist_loss(t, aux, &loss)) != CLCNN_OK)
        return st;
    if (loss_out) *loss_out = loss;
    if (!isfinite(loss))
        return rt_error(t->ctx, CLCNN_ERR_NUMERICS,
                           "training step %d: the loss is %s; the weights were not updated (lower the learning rate, "
                           "or check the inputs and labels)", step, isnan(loss) ? "NaN" : "infinite");
    if ((st = trainer_dist_backward_begin(t)) != CLCNN_OK) return st;
    st = aux ? clcnn_graph_backward_aux(t->g, t->dout, t->aux_dout) : clcnn_graph_backward(t->g, t->dout);
    if (st == CLCNN_OK) st = trainer_dist_average_grads(t);
    t->g->grads_enqueued = NULL;
    if (st != CLCNN_OK) return st;
    if (t->p.clip_norm > 0.0f &&
        (st = clcnn_grad_norm_clip(t->ctx, t->ngrads, t->grads, t->p.clip_norm, t->clip)) != CLCNN_OK)
        return st;
    if ((st = update(t, clcnn_trainer_lr(t))) != CLCNN_OK) return st;
    t->steps = step;
    return CLCNN_OK;
}

clcnn_status clcnn_trainer_step(clcnn_trainer *t, const clcnn_tensor *x, const clcnn_tensor *labels, float *loss_out) {
    if (!t) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_step: trainer is NULL");
    clcnn_graph_set_training(t->g, 1);
    /* the batch norms sum their statistics over the ranks during this step only */
    graph_set_bn_dist(t->g, t->dist_flags & CLCNN_DIST_LOCAL_BN ? NULL : t->dist);
    const clcnn_status st = train_step(t, x, labels, loss_out);
    graph_set_bn_dist(t->g, NULL);
    t->g->first_sample = 0;
    return st;
}
