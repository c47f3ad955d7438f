/* eltwise.c: activations, addition, per-channel scaling, dropout, and their backward. */
#include <stdio.h>
#include <string.h>
#include "ops/ops.h"
#include "runtime/random.h"

/* The activation list's columns, indexed by code; the codes must run 0 .. count - 1. */
#define ACT_CODE_(name, code, text, from_output) code,
#define ACT_TEXT_(name, code, text, from_output) text,
#define ACT_FROM_OUTPUT_(name, code, text, from_output) from_output,
static const int act_codes[] = {CLCNN_ACTIVATIONS(ACT_CODE_)};
static const char *const act_names[] = {CLCNN_ACTIVATIONS(ACT_TEXT_)};
static const unsigned char act_from_output[] = {CLCNN_ACTIVATIONS(ACT_FROM_OUTPUT_)};
_Static_assert(sizeof act_codes / sizeof act_codes[0] == CLCNN_ACT_COUNT,
               "CLCNN_ACTIVATIONS: the codes must be 0 .. count - 1, in order");

static int known_act(clcnn_activation act) { return act >= 0 && act < CLCNN_ACT_COUNT && act_codes[act] == (int)act; }

const char *clcnn_activation_name(clcnn_activation act) { return known_act(act) ? act_names[act] : "?"; }

int clcnn_activation_from_output(clcnn_activation act) { return known_act(act) && act_from_output[act]; }

clcnn_status ops_check_activation(clcnn_context *ctx, const char *op, clcnn_activation act) {
    if (known_act(act)) return CLCNN_OK;
    return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown activation %d", op, (int)act);
}

/* Kernel `name` of eltwise.cl built for one activation (-DACT_FIXED, see eltwise.cl):
 * one program per activation met, each vectorised by PoCL. act must be valid. */
static clcnn_status act_kernel(clcnn_context *ctx, const char *name, clcnn_activation act, cl_kernel *k) {
    char opts[32];
    snprintf(opts, sizeof opts, "-DACT_FIXED=%d", (int)act);
    return rt_get_kernel(ctx, "eltwise.cl", name, opts, k);
}

clcnn_status clcnn_activate(clcnn_context *ctx, const clcnn_tensor *x, clcnn_activation act, clcnn_tensor *y) {
    static const char *op = "clcnn_activate";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_same_shape(ctx, op, "input", x, "output", y)) != CLCNN_OK ||
        (st = ops_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    cl_kernel k;
    if ((st = act_kernel(ctx, "activate", act, &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(x->numel), KARG_INT(act)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), x->numel);
}

clcnn_status clcnn_add(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *b, clcnn_activation act,
                       clcnn_tensor *y) {
    static const char *op = "clcnn_add";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_same_shape(ctx, op, "a", a, "b", b)) != CLCNN_OK ||
        (st = rt_check_same_shape(ctx, op, "a", a, "output", y)) != CLCNN_OK ||
        (st = ops_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    cl_kernel k;
    if ((st = act_kernel(ctx, "add", act, &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(a), KARG_TENSOR(b), KARG_TENSOR(y), KARG_INT(a->numel), KARG_INT(act)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), a->numel);
}

clcnn_status ops_channel_scale(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *s,
                                 const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "eltwise.cl", "channel_scale", "", &k);
    if (st != CLCNN_OK) return st;
    const int S = (int)(x->numel / ((size_t)x->shape[0] * (size_t)x->shape[1]));
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(s), KARG_TENSOR(residual), KARG_TENSOR(y),
                               KARG_INT(S), KARG_INT(x->numel), KARG_INT(act)};
    return ops_launch_1d(ctx, k, "channel_scale", KARG_LIST(args), x->numel);
}

clcnn_status clcnn_dropout_inference(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y) {
    static const char *op = "clcnn_dropout_inference";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st = rt_check_same_shape(ctx, op, "input", x, "output", y);
    if (st != CLCNN_OK) return st;
    if (x->buf == y->buf && x->offset == y->offset) return CLCNN_OK;
    return rt_tensor_copy(x, y, op);
}

/* An optional input of the backward: NULL, or shaped as dy. */
static clcnn_status check_optional(clcnn_context *ctx, const char *op, const char *arg, const clcnn_tensor *t,
                                   const clcnn_tensor *dy) {
    return t ? rt_check_same_shape(ctx, op, "dy", dy, arg, t) : CLCNN_OK;
}

clcnn_status clcnn_activate_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *y,
                                     clcnn_activation act, const clcnn_tensor *dy, clcnn_tensor *dx,
                                     int accumulate) {
    static const char *op = "clcnn_activate_backward";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = ops_check_activation(ctx, op, act)) != CLCNN_OK ||
        (st = rt_check_same_shape(ctx, op, "dy", dy, "dx", dx)) != CLCNN_OK ||
        (st = check_optional(ctx, op, "x", x, dy)) != CLCNN_OK || (st = check_optional(ctx, op, "y", y, dy)) != CLCNN_OK)
        return st;
    /* SiLU and hardswish cannot be recovered from their output, so they need x; the
     * others read y, or recompute it from x when y is NULL; the identity needs neither. */
    if (!clcnn_activation_from_output(act) && !x)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s needs its input x", op, clcnn_activation_name(act));
    if (act != CLCNN_ACT_NONE && !x && !y)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: activation %d needs its output y (or input x)", op,
                           (int)act);
    cl_kernel k;
    if ((st = act_kernel(ctx, "activate_backward", act, &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(x),      KARG_TENSOR(y), KARG_TENSOR(dy),           KARG_TENSOR(dx),
                               KARG_INT(dy->numel), KARG_INT(act),  KARG_INT(accumulate != 0)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), dy->numel);
}

/* out = in * keep(seed, i) / (1 - p) (+ out): training dropout's forward and backward. */
/* Dropout's mask over `in`, one draw per element (per_sample 0) or per sample (the
 * first dimension: stochastic depth). */
static clcnn_status dropout_apply(clcnn_context *ctx, const char *op, const char *const names[2],
                                  const clcnn_tensor *in, float p, uint64_t seed, clcnn_tensor *out, int accumulate,
                                  int per_sample, uint64_t first_sample) {
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st = rt_check_same_shape(ctx, op, names[0], in, names[1], out);
    if (st != CLCNN_OK) return st;
    if (per_sample && in->ndim < 1)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: the %s has no sample dimension", op, names[0]);
    const int group = per_sample && in->numel ? (int)(in->numel / (size_t)in->shape[0]) : 1;
    if (!(p >= 0.0f && p < 1.0f))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: p = %g must be in [0, 1)", op, (double)p);
    /* Mix the seed once so that nearby seeds give unrelated masks. */
    uint64_t state = seed;
    /* mask index j draws from key + (j + 1) * golden: starting at sample first_sample of a
     * bigger batch moves the key by that many samples' indices */
    const uint64_t per = per_sample ? 1 : in->ndim && in->shape[0] ? in->numel / (size_t)in->shape[0] : 0;
    const uint64_t key = rt_splitmix64(&state) + first_sample * per * CLCNN_SPLITMIX_GAMMA;
    const cl_uint threshold = (cl_uint)((double)p * 4294967296.0); /* < 2^32 since p < 1 */
    const float scale = (float)(1.0 / (1.0 - (double)p));
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "eltwise.cl", "dropout", "", &k)) != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(in),
                               KARG_TENSOR(out),
                               KARG_INT(in->numel),
                               {sizeof(cl_ulong), &(cl_ulong){key}},
                               {sizeof(cl_uint), &threshold},
                               KARG_FLOAT(scale),
                               KARG_INT(accumulate != 0),
                               KARG_INT(group > 0 ? group : 1)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), in->numel);
}

clcnn_status clcnn_dropout(clcnn_context *ctx, const clcnn_tensor *x, float p, uint64_t seed, clcnn_tensor *y) {
    static const char *const names[2] = {"input", "output"};
    return dropout_apply(ctx, "clcnn_dropout", names, x, p, seed, y, 0, 0, 0);
}

clcnn_status clcnn_dropout_backward(clcnn_context *ctx, const clcnn_tensor *dy, float p, uint64_t seed,
                                    clcnn_tensor *dx, int accumulate) {
    static const char *const names[2] = {"dy", "dx"};
    return dropout_apply(ctx, "clcnn_dropout_backward", names, dy, p, seed, dx, accumulate, 0, 0);
}

clcnn_status clcnn_stochastic_depth(clcnn_context *ctx, const clcnn_tensor *x, float p, uint64_t seed,
                                    clcnn_tensor *y) {
    static const char *const names[2] = {"input", "output"};
    return dropout_apply(ctx, "clcnn_stochastic_depth", names, x, p, seed, y, 0, 1, 0);
}

clcnn_status clcnn_stochastic_depth_backward(clcnn_context *ctx, const clcnn_tensor *dy, float p, uint64_t seed,
                                             clcnn_tensor *dx, int accumulate) {
    static const char *const names[2] = {"dy", "dx"};
    return dropout_apply(ctx, "clcnn_stochastic_depth_backward", names, dy, p, seed, dx, accumulate, 1, 0);
}

clcnn_status ops_random_mask(clcnn_context *ctx, int per_sample, const clcnn_tensor *in, float p, uint64_t seed,
                             uint64_t first_sample, clcnn_tensor *out, int accumulate) {
    static const char *const names[2] = {"input", "output"};
    return dropout_apply(ctx, per_sample ? "stochastic depth" : "dropout", names, in, p, seed, out, accumulate,
                         per_sample, first_sample);
}
