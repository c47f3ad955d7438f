/* optim.c: optimizer updates as torch.optim.SGD / Adam / AdamW (non-amsgrad), and the
 * global gradient norm for clip_grad_norm_, all on the device.
 *
 * PyTorch's conventions kept here: SGD's momentum buffer is the (decayed) gradient
 * itself at the first step, without dampening; Adam adds weight decay to the gradient,
 * AdamW scales the parameter by 1 - lr * wd before the update; Adam's bias corrections
 * use the 1-based step. grad_scale (element 1, as clcnn_grad_norm_clip writes it)
 * multiplies the raw gradient before weight decay, as clip_grad_norm_ rescales the
 * gradients before optimizer.step(). */
#include <math.h>
#include <stdio.h>
#include "ops/ops.h"

/* Gradient-norm pass: elements per work-item and tensors per launch (the kernel's slots). */
enum { NORM_CHUNK = 1024, NORM_SLOTS = 8 };

/* Every kernel of optim.cl is built with one -DRED_WG (one program). */
static clcnn_status optim_kernel(clcnn_context *ctx, const char *name, cl_kernel *k, size_t *wg) {
    return ops_get_reduce_kernel(ctx, "optim.cl", name, k, wg);
}

clcnn_optimizer_params clcnn_optimizer_defaults(clcnn_optimizer_kind kind) {
    clcnn_optimizer_params p = {.kind = kind, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == CLCNN_OPT_SGD) p.lr = 0.01f;
    if (kind == CLCNN_OPT_ADAMW) p.weight_decay = 1e-2f;
    return p;
}

/* Hyper-parameters PyTorch's constructors would reject are rejected here too. */
static clcnn_status check_params(clcnn_context *ctx, const char *op, const clcnn_optimizer_params *p, int step,
                                 float lr) {
    if (!p) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: params is NULL", op);
    if (p->kind != CLCNN_OPT_SGD && p->kind != CLCNN_OPT_ADAM && p->kind != CLCNN_OPT_ADAMW)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown optimizer kind %d", op, (int)p->kind);
    if (step < 1) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: step %d (it counts from 1)", op, step);
    if (!(lr >= 0.0f && isfinite(lr)))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: learning rate %g", op, (double)lr);
    if (!(p->weight_decay >= 0.0f))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: weight_decay %g < 0", op, (double)p->weight_decay);
    if (p->kind == CLCNN_OPT_SGD) {
        if (!(p->momentum >= 0.0f))
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: momentum %g < 0", op, (double)p->momentum);
        if (p->nesterov && (p->momentum <= 0.0f || p->dampening != 0.0f))
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT,
                               "%s: nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)", op,
                               (double)p->momentum, (double)p->dampening);
        return CLCNN_OK;
    }
    if (!(p->beta1 >= 0.0f && p->beta1 < 1.0f && p->beta2 >= 0.0f && p->beta2 < 1.0f && p->eps >= 0.0f))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: betas (%g, %g) must be in [0, 1), eps %g >= 0", op,
                           (double)p->beta1, (double)p->beta2, (double)p->eps);
    return CLCNN_OK;
}

static clcnn_status check_tensors(clcnn_context *ctx, const char *op, const clcnn_optimizer_params *p,
                                  const clcnn_tensor *param, const clcnn_tensor *grad, const clcnn_tensor *state1,
                                  const clcnn_tensor *state2, const clcnn_tensor *grad_scale) {
    clcnn_status st;
    if ((st = rt_check_same_shape(ctx, op, "param", param, "grad", grad)) != CLCNN_OK) return st;
    if (param->numel > (size_t)INT32_MAX)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: param has %zu elements", op, param->numel);
    const int needs1 = p->kind != CLCNN_OPT_SGD || p->momentum != 0.0f, needs2 = p->kind != CLCNN_OPT_SGD;
    if ((needs1 && (st = rt_check_same_shape(ctx, op, "param", param, "state1", state1)) != CLCNN_OK) ||
        (needs2 && (st = rt_check_same_shape(ctx, op, "param", param, "state2", state2)) != CLCNN_OK) ||
        (grad_scale && (st = rt_check_vector(ctx, op, "grad_scale", grad_scale, 2)) != CLCNN_OK))
        return st;
    return CLCNN_OK;
}

clcnn_status clcnn_optimizer_step(clcnn_context *ctx, const clcnn_optimizer_params *params, int step, float lr,
                                  clcnn_tensor *param, const clcnn_tensor *grad, clcnn_tensor *state1,
                                  clcnn_tensor *state2, const clcnn_tensor *grad_scale) {
    static const char *op = "clcnn_optimizer_step";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = check_params(ctx, op, params, step, lr)) != CLCNN_OK ||
        (st = check_tensors(ctx, op, params, param, grad, state1, state2, grad_scale)) != CLCNN_OK)
        return st;
    const int n = (int)param->numel;
    cl_kernel k;
    size_t wg;
    if (params->kind == CLCNN_OPT_SGD) {
        if ((st = optim_kernel(ctx, "sgd_step", &k, &wg)) != CLCNN_OK) return st;
        const clcnn_tensor *buf = params->momentum != 0.0f ? state1 : NULL;
        const rt_karg args[] = {KARG_TENSOR(param), KARG_TENSOR(grad), KARG_TENSOR(buf),
                                   KARG_TENSOR(grad_scale), KARG_INT(n), KARG_FLOAT(lr),
                                   KARG_FLOAT(params->momentum), KARG_FLOAT(params->dampening),
                                   KARG_INT(params->nesterov ? 1 : 0), KARG_FLOAT(params->weight_decay),
                                   KARG_INT(step == 1)};
        return ops_launch_1d(ctx, k, op, KARG_LIST(args), (size_t)n);
    }
    if ((st = optim_kernel(ctx, "adam_step", &k, &wg)) != CLCNN_OK) return st;
    /* Python-float (double) scalars in PyTorch: computed in double, rounded once. */
    const int decoupled = params->kind == CLCNN_OPT_ADAMW;
    const double wd = params->weight_decay;
    const float keep = decoupled ? (float)(1.0 - (double)lr * wd) : 1.0f;
    const float l2 = decoupled ? 0.0f : params->weight_decay;
    const float step_size = (float)((double)lr / (1.0 - pow(params->beta1, step)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(params->beta2, step));
    const rt_karg args[] = {KARG_TENSOR(param), KARG_TENSOR(grad), KARG_TENSOR(state1), KARG_TENSOR(state2),
                               KARG_TENSOR(grad_scale), KARG_INT(n), KARG_FLOAT(keep), KARG_FLOAT(l2),
                               KARG_FLOAT(params->beta1), KARG_FLOAT(params->beta2), KARG_FLOAT(step_size),
                               KARG_FLOAT(bc2_sqrt), KARG_FLOAT(params->eps)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), (size_t)n);
}

/* ------------------------------------------------------- gradient norm -- */

/* Work-items for one tensor's partial sums. */
static int norm_items(size_t numel) { return (int)((numel + NORM_CHUNK - 1) / NORM_CHUNK); }

static clcnn_status norm_check(clcnn_context *ctx, const char *op, int n, const clcnn_tensor *const *grads,
                               float max_norm, const clcnn_tensor *out, int *total) {
    clcnn_status st;
    if (n < 0 || (n > 0 && !grads))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %d gradients at %p", op, n, (const void *)grads);
    if (!(max_norm > 0.0f))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: max_norm %g must be > 0", op, (double)max_norm);
    if ((st = rt_check_vector(ctx, op, "out", out, 2)) != CLCNN_OK) return st;
    size_t items = 0;
    for (int i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "grads[%d]", i);
        if ((st = rt_check_tensor(ctx, op, what, grads[i], 0)) != CLCNN_OK) return st;
        if (grads[i]->numel > (size_t)INT32_MAX)
            return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s has %zu elements", op, what, grads[i]->numel);
        items += (size_t)norm_items(grads[i]->numel);
    }
    if (items >= (size_t)INT32_MAX) return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: gradients too large", op);
    *total = (int)items;
    return CLCNN_OK;
}

/* One sumsq_partials launch over grads[first .. first + count), writing partials from
 * part_base on; returns the partials it wrote through *written. */
static clcnn_status norm_partials(clcnn_context *ctx, cl_kernel k, const char *op, const clcnn_tensor *const *grads,
                                  int count, const clcnn_tensor *part, int part_base, int *written) {
    rt_karg args[NORM_SLOTS * 5 + 3];
    cl_int o[NORM_SLOTS], len[NORM_SLOTS], base[NORM_SLOTS], items[NORM_SLOTS];
    int total = 0;
    for (int s = 0; s < NORM_SLOTS; s++) {
        const clcnn_tensor *g = s < count ? grads[s] : NULL;
        o[s] = g ? g->offset : 0;
        len[s] = g ? (cl_int)g->numel : 0;
        items[s] = g ? norm_items(g->numel) : 0;
        base[s] = total;
        total += items[s];
        args[5 * s] = rt_karg_tensor_buf(g);
        args[5 * s + 1] = (rt_karg){sizeof(cl_int), &o[s]};
        args[5 * s + 2] = (rt_karg){sizeof(cl_int), &len[s]};
        args[5 * s + 3] = (rt_karg){sizeof(cl_int), &base[s]};
        args[5 * s + 4] = (rt_karg){sizeof(cl_int), &items[s]};
    }
    const cl_int tot = total, poff = part->offset + part_base;
    args[5 * NORM_SLOTS] = (rt_karg){sizeof(cl_int), &tot};
    args[5 * NORM_SLOTS + 1] = rt_karg_tensor_buf(part);
    args[5 * NORM_SLOTS + 2] = (rt_karg){sizeof(cl_int), &poff};
    *written = total;
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), (size_t)total);
}

clcnn_status clcnn_grad_norm_clip(clcnn_context *ctx, int n, const clcnn_tensor *const *grads, float max_norm,
                                  clcnn_tensor *out) {
    static const char *op = "clcnn_grad_norm_clip";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    int total = 0;
    clcnn_status st = norm_check(ctx, op, n, grads, max_norm, out, &total);
    if (st != CLCNN_OK) return st;
    size_t wg;
    cl_kernel k_part, k_fin;
    if ((st = optim_kernel(ctx, "sumsq_partials", &k_part, &wg)) != CLCNN_OK ||
        (st = optim_kernel(ctx, "norm_finish", &k_fin, &wg)) != CLCNN_OK)
        return st;
    /* Partials of every tensor side by side, NORM_SLOTS tensors per launch, then one sum. */
    clcnn_tensor *part = NULL;
    if ((st = rt_scratch(ctx, 1, (int[]){total > 0 ? total : 1}, &part)) != CLCNN_OK) return st;
    int done = 0;
    for (int first = 0; first < n; first += NORM_SLOTS) {
        const int count = n - first < NORM_SLOTS ? n - first : NORM_SLOTS;
        int written;
        if ((st = norm_partials(ctx, k_part, op, grads + first, count, part, done, &written)) != CLCNN_OK)
            goto free_part;
        done += written;
    }
    const rt_karg args[] = {KARG_TENSOR(part), KARG_INT(total), KARG_FLOAT(max_norm), KARG_TENSOR(out)};
    st = ops_launch_group(ctx, k_fin, op, KARG_LIST(args), wg);
free_part:
    clcnn_tensor_destroy(part);
    return st;
}
