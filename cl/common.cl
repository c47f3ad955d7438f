/* common.cl: helpers every program starts with (the runtime prepends this file, after
 * defines.cl, which scripts/cl_defines.c makes from include/clcnn.h: the ACT_* codes). */

/* The activations made of exp or tanh (sigmoid, SiLU, tanh): act is one of them. */
inline float apply_smooth_act(float v, int act) {
    switch (act) {
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-v));
    case ACT_SILU: return v / (1.0f + exp(-v));
    default: return tanh(v);
    }
}

/* ReLU and ReLU6 let NaN through, as PyTorch does (fmax and clamp would turn it into
 * a number and hide a diverged network from the trainer's NaN check). */
inline float apply_act(float v, int act) {
    switch (act) {
    case ACT_RELU: return v < 0.0f ? 0.0f : v;
    case ACT_RELU6: return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    case ACT_SIGMOID:
    case ACT_SILU:
    case ACT_TANH: return apply_smooth_act(v, act);
    /* PyTorch's: x * min(max(x + 3, 0), 6) / 6 and min(max(x + 3, 0), 6) / 6 */
    case ACT_HARDSWISH: return v < -3.0f ? 0.0f : (v > 3.0f ? v : v * (v + 3.0f) / 6.0f);
    case ACT_HARDSIGMOID: return v < -3.0f ? 0.0f : (v > 3.0f ? 1.0f : (v + 3.0f) / 6.0f);
    default: return v;
    }
}

/* apply_act on N lanes (apply_act8, apply_act16): the piecewise-linear activations as
 * selects (which keep NaN as apply_act does), the smooth ones lane by lane. Only those
 * three in the lanes' switch: with all of apply_act's there, gfx1100 spilled. */
#define DEFINE_APPLY_ACT_VEC(N)                                                                              \
    inline float##N apply_act##N(float##N v, const int act) {                                                \
        const float##N zero = (float##N)(0.0f), three = (float##N)(3.0f);                                    \
        switch (act) {                                                                                       \
        case ACT_NONE: return v;                                                                             \
        case ACT_RELU: return select(v, zero, v < zero);                                                     \
        case ACT_RELU6: return select(select(v, zero, v < zero), (float##N)(6.0f), v > (float##N)(6.0f));    \
        case ACT_HARDSWISH: return select(select(v * (v + 3.0f) / 6.0f, zero, v < -three), v, v > three);    \
        case ACT_HARDSIGMOID:                                                                                \
            return select(select((v + 3.0f) / 6.0f, zero, v < -three), (float##N)(1.0f), v > three);         \
        default: break;                                                                                      \
        }                                                                                                    \
        float lanes[N];                                                                                      \
        vstore##N(v, 0, lanes);                                                                              \
        _Pragma("unroll") for (int j = 0; j < N; j++) lanes[j] = apply_smooth_act(lanes[j], act);            \
        return vload##N(0, lanes);                                                                           \
    }
DEFINE_APPLY_ACT_VEC(8)
DEFINE_APPLY_ACT_VEC(16)

/* The sum of a float8's lanes, in a fixed tree order. */
inline float hsum8(const float8 v) {
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return b.x + b.y;
}

/* floor(t / s) for 0 <= t < 2^22 and s >= 1 without an integer division (PoCL runs
 * those lane by lane in its vectorised work-item loops): a float estimate, off by at
 * most one, and one correction each way. */
inline int div_small(const int t, const int s) {
    int q = (int)((float)t / (float)s);
    q -= q * s > t;
    q += (q + 1) * s <= t;
    return q;
}

/* The arguments of both GEMM kernels (gemm_tiled in gemm.cl, gemm_local in
 * gemm_local.cl), in the order src/ops/gemm.c passes them. */
#define GEMM_KERNEL_ARGS                                                                                        \
    const int M, const int N, const int K, __global const float *A, const int a_off, const int sam,            \
        const int sak, const int a_sb0, const int a_sb1, __global const float *B, const int b_off, const int ldb, \
        const int b_sb0, const int b_sb1, __global float *C, const int c_off, const int scm, const int scn,       \
        const int c_sb0, const int c_sb1, const int nb1, __global const float *bias, const int bias_off,         \
        const int bias_sb1, __global const float *R, const int r_off, const int act, const float alpha,          \
        const float beta, const int b_packed

#ifdef RED_WG
/* Sum of v over the work-group (all RED_WG work-items must call it). A tree keeps
 * the rounding error of long sums small; the last barrier lets tmp be reused. */
inline float group_sum(float v, __local float *tmp) {
    const int l = get_local_id(0);
    tmp[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RED_WG / 2; s > 0; s >>= 1) {
        if (l < s) tmp[l] += tmp[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = tmp[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* The sum of part[off .. off + n) over one work-group of RED_WG work-items (the last
 * step of a two-pass reduction). */
inline float group_total(__global const float *part, int off, int n, __local float *tmp) {
    float acc = 0.0f;
    for (int i = get_local_id(0); i < n; i += RED_WG) acc += part[off + i];
    return group_sum(acc, tmp);
}
#endif
