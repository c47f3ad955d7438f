/* eltwise.cl: elementwise activation, addition, per-channel scaling, their backward, dropout
 * (and stochastic depth, dropout of whole samples).
 *
 * activate, add and activate_backward come from a program built with -DACT_FIXED=<the
 * activation> (eltwise.c): the activation is then a constant, its switch folds away, and
 * PoCL vectorises the kernels across work-items; a switch on a kernel argument kept them
 * scalar, about 2x slower on tensors that fit in cache. Built without it (for
 * channel_scale and dropout), ACT_OF is the argument. */
#ifdef ACT_FIXED
#define ACT_OF(act) ACT_FIXED
#else
#define ACT_OF(act) (act)
#endif

__kernel void activate(__global const float *x, const int x_off, __global float *y, const int y_off,
                       const int total, const int act) {
    const int i = get_global_id(0);
    if (i < total) y[y_off + i] = apply_act(x[x_off + i], ACT_OF(act));
}

__kernel void add(__global const float *a, const int a_off, __global const float *b, const int b_off,
                  __global float *y, const int y_off, const int total, const int act) {
    const int i = get_global_id(0);
    if (i < total) y[y_off + i] = apply_act(a[a_off + i] + b[b_off + i], ACT_OF(act));
}

/* y = act(x * s[n, c] + r) for x [N, C, S]; r may be NULL (Squeeze-and-Excitation's
 * last step, fused with a residual block's addition and ReLU). */
__kernel void channel_scale(__global const float *x, const int x_off, __global const float *s, const int s_off,
                            __global const float *r, const int r_off, __global float *y, const int y_off,
                            const int S, const int total, const int act) {
    const int i = get_global_id(0);
    if (i >= total) return;
    float v = x[x_off + i] * s[s_off + i / S];
    if (r) v += r[r_off + i];
    y[y_off + i] = apply_act(v, act);
}

/* Derivative of act at input v with output a. ReLU's is 0 at v = 0, as PyTorch (a > 0). */
inline float act_grad(float v, float a, int act) {
    switch (act) {
    case ACT_RELU: return a > 0.0f ? 1.0f : 0.0f;
    case ACT_RELU6: return a > 0.0f && a < 6.0f ? 1.0f : 0.0f;
    case ACT_SIGMOID: return a * (1.0f - a);
    case ACT_SILU: {
        const float s = 1.0f / (1.0f + exp(-v));
        return s * (1.0f + v * (1.0f - s));
    }
    case ACT_TANH: return 1.0f - a * a;
    /* PyTorch's: 0 below -3, x / 3 + 1/2 from -3 to 3 (both included), 1 above */
    case ACT_HARDSWISH: return v < -3.0f ? 0.0f : (v <= 3.0f ? v / 3.0f + 0.5f : 1.0f);
    case ACT_HARDSIGMOID: return a > 0.0f && a < 1.0f ? 1.0f / 6.0f : 0.0f; /* -3 < x < 3 */
    default: return 1.0f;
    }
}

/* dx = dy * act'(x) (+ dx when accumulating). The output y is used when given, else it
 * is recomputed from x; SiLU always needs x (the host checks what is present). */
__kernel void activate_backward(__global const float *x, const int x_off, __global const float *y, const int y_off,
                                __global const float *dy, const int dy_off, __global float *dx, const int dx_off,
                                const int total, const int act, const int accumulate) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const float v = x ? x[x_off + i] : 0.0f;
    const float a = y ? y[y_off + i] : apply_act(v, ACT_OF(act));
    const float g = dy[dy_off + i] * act_grad(v, a, ACT_OF(act));
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + g : g;
}

/* Training dropout, forward and backward alike: y = x * keep * scale (+ y when
 * accumulating). keep is 0 when the top 32 bits of splitmix64(key + (j + 1) * golden)
 * fall below threshold (= p * 2^32), j = i / group: integer arithmetic only, so the mask
 * is the same bit for bit on every device. group is 1 for dropout, a sample's element
 * count for stochastic depth (a whole sample kept or dropped). */
__kernel void dropout(__global const float *x, const int x_off, __global float *y, const int y_off, const int total,
                      const ulong key, const uint threshold, const float scale, const int accumulate,
                      const int group) {
    const int i = get_global_id(0);
    if (i >= total) return;
    ulong z = key + ((ulong)(i / group) + 1) * 0x9E3779B97F4A7C15ul;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ul;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBul;
    z ^= z >> 31;
    /* A multiplication, not a select, so that NaN stays NaN as in PyTorch. */
    const float v = x[x_off + i] * ((uint)(z >> 32) < threshold ? 0.0f : scale);
    y[y_off + i] = accumulate ? y[y_off + i] + v : v;
}
