/* se.c: Squeeze-and-Excitation: global average pool, two 1x1 convolutions (as linear
 * layers on [N, C]) with an inner activation between them (ReLU in SE-ResNets, SiLU in
 * EfficientNet), a gate (sigmoid; MobileNetV3's hardsigmoid), and a per-channel scale
 * fused with the residual add.
 * The backward recomputes the squeeze from x and runs the chain in reverse: the scale
 * gradient sum_hw(dz * x) through the sigmoid (cl/se.cl), fc2, the inner activation, fc1, and the
 * pool, whose gradient is fused with the direct path dz * s (cl/se.cl). */
#include "ops/ops.h"

/* x [N, C, H, W] with w1 [Cr, C] and w2 [C, Cr] (or their [.., .., 1, 1] forms). */
static clcnn_status check_se(clcnn_context *ctx, const char *op, const clcnn_tensor *x, const clcnn_tensor *w1,
                             const clcnn_tensor *w2) {
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "fc1 weight", w1, 0)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "fc2 weight", w2, 0)) != CLCNN_OK)
        return st;
    const int C = x->shape[1], Cr = w1->shape[0];
    if (w1->numel != (size_t)Cr * (size_t)C || w2->numel != (size_t)C * (size_t)Cr || w2->shape[0] != C) {
        char s1[64], s2[64], sx[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: fc1 weight %s and fc2 weight %s do not fit %d channels of input %s",
                           op, clcnn_tensor_shape_str(w1, s1, sizeof s1), clcnn_tensor_shape_str(w2, s2, sizeof s2), C,
                           clcnn_tensor_shape_str(x, sx, sizeof sx));
    }
    return CLCNN_OK;
}

/* pooled [N, C] = gap(x), hidden [N, Cr] = inner(fc1(pooled)), scale [N, C] =
 * gate(fc2(hidden)). An inner activation whose gradient needs its input (SiLU) keeps
 * fc1's output in pre [N, Cr] (else pre is unused and may be NULL). */
static clcnn_status squeeze(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1, const clcnn_tensor *b1,
                            const clcnn_tensor *w2, const clcnn_tensor *b2, clcnn_activation inner,
                            clcnn_activation gate, clcnn_tensor *pooled, clcnn_tensor *pre, clcnn_tensor *hidden,
                            clcnn_tensor *scale) {
    clcnn_status st;
    if ((st = clcnn_global_avg_pool(ctx, x, pooled)) != CLCNN_OK) return st;
    if (clcnn_activation_from_output(inner)) st = clcnn_linear(ctx, pooled, w1, b1, inner, hidden);
    else if ((st = clcnn_linear(ctx, pooled, w1, b1, CLCNN_ACT_NONE, pre)) == CLCNN_OK)
        st = clcnn_activate(ctx, pre, inner, hidden);
    return st != CLCNN_OK ? st : clcnn_linear(ctx, hidden, w2, b2, gate, scale);
}

/* Checks what the forward and the backward share: the inner activation is one of the
 * list, the gate one whose gradient follows from its output (the scale is all the
 * backward keeps): sigmoid or hardsigmoid. */
static clcnn_status check_activations(clcnn_context *ctx, const char *op, clcnn_activation inner,
                                      clcnn_activation gate) {
    if ((int)inner < 0 || inner >= CLCNN_ACT_COUNT)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: inner activation %d is not one of clcnn_activation's",
                           op, (int)inner);
    if (!clcnn_activation_from_output(gate) || gate == CLCNN_ACT_NONE)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: gate activation %d (%s) is not a gate whose gradient "
                           "follows from its output (sigmoid, hardsigmoid)", op, (int)gate, clcnn_activation_name(gate));
    return CLCNN_OK;
}

clcnn_status clcnn_squeeze_excite(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                  const clcnn_tensor *b1, const clcnn_tensor *w2, const clcnn_tensor *b2,
                                  const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y) {
    return clcnn_squeeze_excite_ex(ctx, x, w1, b1, w2, b2, CLCNN_ACT_RELU, CLCNN_ACT_SIGMOID, residual, act, y);
}

clcnn_status clcnn_squeeze_excite_ex(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                     const clcnn_tensor *b1, const clcnn_tensor *w2, const clcnn_tensor *b2,
                                     clcnn_activation inner, clcnn_activation gate, const clcnn_tensor *residual,
                                     clcnn_activation act, clcnn_tensor *y) {
    static const char *op = "clcnn_squeeze_excite";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = check_se(ctx, op, x, w1, w2)) != CLCNN_OK ||
        (st = rt_check_same_shape(ctx, op, "input", x, "output", y)) != CLCNN_OK ||
        (st = check_activations(ctx, op, inner, gate)) != CLCNN_OK ||
        (st = ops_check_activation(ctx, op, act)) != CLCNN_OK)
        return st;
    if (residual && (st = rt_check_same_shape(ctx, op, "residual", residual, "input", x)) != CLCNN_OK) return st;
    const int N = x->shape[0], C = x->shape[1], Cr = w1->shape[0];
    clcnn_tensor *pooled = NULL, *pre = NULL, *hidden = NULL, *scale = NULL;
    if ((st = rt_scratch(ctx, 2, (int[]){N, C}, &pooled)) != CLCNN_OK ||
        (!clcnn_activation_from_output(inner) && (st = rt_scratch(ctx, 2, (int[]){N, Cr}, &pre)) != CLCNN_OK) ||
        (st = rt_scratch(ctx, 2, (int[]){N, Cr}, &hidden)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){N, C}, &scale)) != CLCNN_OK)
        goto free_scratch;
    if ((st = squeeze(ctx, x, w1, b1, w2, b2, inner, gate, pooled, pre, hidden, scale)) != CLCNN_OK) goto free_scratch;
    st = ops_channel_scale(ctx, x, scale, residual, act, y);
free_scratch:
    clcnn_tensor_destroy(scale);
    clcnn_tensor_destroy(hidden);
    clcnn_tensor_destroy(pre);
    clcnn_tensor_destroy(pooled);
    return st;
}

/* ------------------------------------------------------------- backward -- */

/* dpre [N, C] = gate'(s) sum_hw(dz * x): the gradient at the gate's input. */
static clcnn_status scale_grad(clcnn_context *ctx, const clcnn_tensor *dz, const clcnn_tensor *x,
                               const clcnn_tensor *scale, clcnn_activation gate, clcnn_tensor *ds, clcnn_tensor *dpre) {
    static const char *what = "squeeze_excite scale gradient";
    const int planes = x->shape[0] * x->shape[1], S = x->shape[2] * x->shape[3];
    clcnn_status st;
    if (!rt_cpu_family(ctx)) { /* GPUs: a work-group per plane */
        st = ops_plane_dots(ctx, what, dz, x, planes, S, 1.0f, ds);
    } else { /* CPUs: a work-item per plane */
        cl_kernel k;
        if ((st = rt_get_kernel(ctx, "se.cl", "se_scale_grad", "", &k)) != CLCNN_OK) return st;
        const rt_karg args[] = {KARG_TENSOR(dz), KARG_TENSOR(x), KARG_TENSOR(ds), KARG_INT(S), KARG_INT(planes)};
        st = ops_launch_1d(ctx, k, what, KARG_LIST(args), (size_t)planes);
    }
    if (st != CLCNN_OK) return st;
    return clcnn_activate_backward(ctx, NULL, scale, gate, ds, dpre, 0);
}

/* dx = dz * s + dpool / (H W) (+ dx). */
static clcnn_status input_grad(clcnn_context *ctx, const clcnn_tensor *dz, const clcnn_tensor *scale,
                               const clcnn_tensor *dpool, clcnn_tensor *dx, int accumulate) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "se.cl", "se_input_grad", "", &k);
    if (st != CLCNN_OK) return st;
    const int S = dz->shape[2] * dz->shape[3];
    const rt_karg args[] = {KARG_TENSOR(dz), KARG_TENSOR(scale), KARG_TENSOR(dpool), KARG_TENSOR(dx), KARG_INT(S),
                               KARG_FLOAT(1.0f / (float)S), KARG_INT(dz->numel), KARG_INT(accumulate != 0)};
    return ops_launch_1d(ctx, k, "squeeze_excite input gradient", KARG_LIST(args), dz->numel);
}

/* The backward's scratch tensors, by role. */
enum { T_POOLED, T_PRE, T_HIDDEN, T_SCALE, T_DS, T_DSPRE, T_DH, T_DHPRE, T_DPOOL, T_COUNT };

clcnn_status clcnn_squeeze_excite_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                           const clcnn_tensor *b1, const clcnn_tensor *w2, const clcnn_tensor *b2,
                                           const clcnn_tensor *dz, clcnn_tensor *dx, int accumulate,
                                           clcnn_tensor *dw1, clcnn_tensor *db1, clcnn_tensor *dw2,
                                           clcnn_tensor *db2) {
    return clcnn_squeeze_excite_ex_backward(ctx, x, w1, b1, w2, b2, CLCNN_ACT_RELU, CLCNN_ACT_SIGMOID, dz, dx,
                                            accumulate, dw1, db1, dw2, db2);
}

clcnn_status clcnn_squeeze_excite_ex_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                              const clcnn_tensor *b1, const clcnn_tensor *w2, const clcnn_tensor *b2,
                                              clcnn_activation inner, clcnn_activation gate, const clcnn_tensor *dz,
                                              clcnn_tensor *dx, int accumulate, clcnn_tensor *dw1, clcnn_tensor *db1,
                                              clcnn_tensor *dw2, clcnn_tensor *db2) {
    static const char *op = "clcnn_squeeze_excite_backward";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = check_activations(ctx, op, inner, gate)) != CLCNN_OK || (st = check_se(ctx, op, x, w1, w2)) != CLCNN_OK ||
        (st = rt_check_same_shape(ctx, op, "input", x, "dz", dz)) != CLCNN_OK ||
        (dx && (st = rt_check_same_shape(ctx, op, "input", x, "dx", dx)) != CLCNN_OK) ||
        (dw1 && (st = rt_check_same_shape(ctx, op, "fc1 weight", w1, "dw1", dw1)) != CLCNN_OK) ||
        (dw2 && (st = rt_check_same_shape(ctx, op, "fc2 weight", w2, "dw2", dw2)) != CLCNN_OK) ||
        (db1 && (st = rt_check_vector(ctx, op, "db1", db1, w1->shape[0])) != CLCNN_OK) ||
        (db2 && (st = rt_check_vector(ctx, op, "db2", db2, x->shape[1])) != CLCNN_OK))
        return st;
    const int need_fc1 = dx || dw1 || db1; /* the gradient must pass fc2 and reach fc1 */
    if ((!need_fc1 && !dw2 && !db2) || x->numel == 0) return CLCNN_OK;

    const int N = x->shape[0], C = x->shape[1], Cr = w1->shape[0];
    const int width[T_COUNT] = {C, Cr, Cr, C, C, C, Cr, Cr, C};
    const int keep_pre = !clcnn_activation_from_output(inner);
    clcnn_tensor *t[T_COUNT] = {NULL};
    for (int i = 0; i < T_COUNT; i++)
        if ((i != T_DPOOL || dx) && (i != T_PRE || keep_pre) &&
            (st = rt_scratch(ctx, 2, (int[]){N, width[i]}, &t[i])) != CLCNN_OK)
            goto free_scratch;
    if ((st = squeeze(ctx, x, w1, b1, w2, b2, inner, gate, t[T_POOLED], t[T_PRE], t[T_HIDDEN], t[T_SCALE])) !=
            CLCNN_OK ||
        (st = scale_grad(ctx, dz, x, t[T_SCALE], gate, t[T_DS], t[T_DSPRE])) != CLCNN_OK ||
        (st = clcnn_linear_backward(ctx, t[T_HIDDEN], w2, t[T_DSPRE], need_fc1 ? t[T_DH] : NULL, 0, dw2, db2)) !=
            CLCNN_OK)
        goto free_scratch;
    if (need_fc1 &&
        ((st = clcnn_activate_backward(ctx, t[T_PRE], t[T_HIDDEN], inner, t[T_DH], t[T_DHPRE], 0)) != CLCNN_OK ||
         (st = clcnn_linear_backward(ctx, t[T_POOLED], w1, t[T_DHPRE], t[T_DPOOL], 0, dw1, db1)) != CLCNN_OK))
        goto free_scratch;
    if (dx) st = input_grad(ctx, dz, t[T_SCALE], t[T_DPOOL], dx, accumulate);
free_scratch:
    for (int i = 0; i < T_COUNT; i++) clcnn_tensor_destroy(t[i]);
    return st;
}
