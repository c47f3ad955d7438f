/* batchnorm.cl: batch norm over axis 1 (inference, training, backward) and folding it
 * into a convolution. x is viewed as [N, C, S]. */

/* y = (x - mean[c]) * gamma[c] * scale[c] + beta[c], where scale is 1 / sqrt(stat + eps)
 * when stat_is_var (inference from running statistics) and stat itself otherwise
 * (training, with the batch's invstd). Global: (S, N*C): the channel comes from the
 * row, so the per-channel values are loaded once per row, without a division per
 * element. Launched over exactly that range with no local size (bn_launch_rows), so
 * without a bounds check: with one, PoCL leaves the kernel unvectorised (about 2x
 * slower). */
__kernel void batchnorm_apply(__global const float *x, const int x_off, __global float *y, const int y_off,
                              __global const float *gamma, const int g_off, __global const float *beta,
                              const int b_off, __global const float *mean, const int m_off,
                              __global const float *stat, const int s_off, const int stat_is_var, const int C,
                              const int S, const float eps) {
    const int s = get_global_id(0), row = get_global_id(1);
    const int c = row % C, i = row * S + s;
    const float v = stat[s_off + c];
    const float scale = gamma[g_off + c] * (stat_is_var ? rsqrt(v + eps) : v);
    y[y_off + i] = (x[x_off + i] - mean[m_off + c]) * scale + beta[b_off + c];
}

/* invstd[c] = 1 / sqrt(var[c] + eps), the same expression as batchnorm_apply's. */
__kernel void batchnorm_invstd(__global const float *var, const int v_off, __global float *invstd, const int i_off,
                               const int C, const float eps) {
    const int c = get_global_id(0);
    if (c < C) invstd[i_off + c] = rsqrt(var[v_off + c] + eps);
}

/* ---- per-channel reductions, in two levels and without barriers ----
 * x is viewed as rows r = n*C + c of S values, and each row is cut into G segments of
 * L values (the last one may be shorter). Work-item (g, r) of a (G, N*C) range reduces
 * segment g of row r, contiguous memory read with float8 loads, and writes its two
 * results to part[((c * N + n) * G + g) * 2 + 0..1]; a second kernel with one
 * work-item per channel combines the channel's N*G partials in a fixed order, so
 * results do not depend on scheduling. */

/* Values [s0, s0 + len) of row r, and where its partial goes. */
typedef struct {
    int start, len, out;
} bn_segment;

inline bn_segment segment_of(const int g, const int r, const int C, const int N, const int S, const int L,
                             const int G) {
    const int c = r % C, n = r / C, s0 = g * L;
    bn_segment q;
    q.start = r * S + s0;
    q.len = min(L, S - s0);
    q.out = 2 * ((c * N + n) * G + g);
    return q;
}

/* Statistics of one segment, relative to shift K = the channel's first value (so that
 * a large common offset cancels exactly instead of swamping the float sums): its mean
 * and its sum of squared deviations M2, by the corrected two-pass algorithm (the second
 * pass reads the segment again from cache; the sum of the deviations corrects the first
 * pass's rounding of the mean). Global: (G, N*C). */
__kernel void batchnorm_stats_partial(__global const float *x, const int x_off, __global float *part,
                                      const int part_off, const int C, const int N, const int S, const int L,
                                      const int G) {
    const int g = get_global_id(0), r = get_global_id(1);
    if (g >= G || r >= N * C) return;
    const bn_segment q = segment_of(g, r, C, N, S, L, G);
    __global const float *p = x + x_off + q.start;
    const float K = x[x_off + (r % C) * S];
    float8 a8 = (float8)(0.0f);
    int k = 0;
    for (; k + 8 <= q.len; k += 8) a8 += vload8(0, p + k) - K;
    float a = hsum8(a8);
    for (; k < q.len; k++) a += p[k] - K;
    const float mv = a / (float)q.len;
    float8 d8 = (float8)(0.0f), m8 = (float8)(0.0f);
    for (k = 0; k + 8 <= q.len; k += 8) {
        const float8 d = (vload8(0, p + k) - K) - mv;
        d8 += d;
        m8 += d * d;
    }
    float e = hsum8(d8), m2 = hsum8(m8);
    for (; k < q.len; k++) {
        const float d = (p[k] - K) - mv;
        e += d;
        m2 += d * d;
    }
    part[part_off + q.out] = mv + e / (float)q.len;
    part[part_off + q.out + 1] = fmax(m2 - e * e / (float)q.len, 0.0f);
}

/* Channel c's segments combined (Chan et al.'s pairwise update, in a fixed order):
 * the mean relative to the channel's first value, M2 and the count. */
typedef struct {
    float mean, m2;
    int count;
} bn_moments;

inline bn_moments bn_combine(__global const float *part, const int c, const int N, const int S, const int L,
                             const int G) {
    __global const float *q = part + 2 * c * N * G;
    bn_moments a = {0.0f, 0.0f, 0};
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++, q += 2) {
            const int len = min(L, S - g * L), total = a.count + len;
            const float delta = q[0] - a.mean, f = (float)len / (float)total;
            a.mean += delta * f;
            a.m2 += q[1] + delta * delta * (float)a.count * f;
            a.count = total;
        }
    return a;
}

/* save_mean, save_invstd from the biased variance m2 / count, and the running
 * statistics (may be NULL) with the unbiased one, as PyTorch. count > 1. */
inline void bn_finish(const int c, const float mean, const float m2, const float count, __global float *save_mean,
                      __global float *save_invstd, __global float *running_mean, __global float *running_var,
                      const float momentum, const float eps) {
    save_mean[c] = mean;
    save_invstd[c] = rsqrt(m2 / count + eps);
    if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    if (running_var) running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (m2 / (count - 1.0f));
}

/* The batch's statistics per channel from its segments' partials. M = N*S > 1. */
__kernel void batchnorm_stats(__global const float *part, const int part_off, __global const float *x,
                              const int x_off, __global float *save_mean, const int sm_off,
                              __global float *save_invstd, const int si_off, __global float *running_mean,
                              const int rm_off, __global float *running_var, const int rv_off, const int C,
                              const int N, const int S, const int L, const int G, const float momentum,
                              const float eps) {
    const int c = get_global_id(0);
    if (c >= C) return;
    const bn_moments a = bn_combine(part + part_off, c, N, S, L, G);
    bn_finish(c, x[x_off + c * S] + a.mean, a.m2, (float)a.count, save_mean + sm_off, save_invstd + si_off,
              running_mean ? running_mean + rm_off : running_mean, running_var ? running_var + rv_off : running_var,
              momentum, eps);
}

/* Data-parallel batch norm, first half: this rank's mean and M2 per channel, in
 * moments[2c], moments[2c + 1], for the host to sum over the ranks. */
__kernel void batchnorm_stats_local(__global const float *part, const int part_off, __global const float *x,
                                    const int x_off, __global float *moments, const int mo_off, const int C,
                                    const int N, const int S, const int L, const int G) {
    const int c = get_global_id(0);
    if (c >= C) return;
    const bn_moments a = bn_combine(part + part_off, c, N, S, L, G);
    moments[mo_off + 2 * c] = x[x_off + c * S] + a.mean;
    moments[mo_off + 2 * c + 1] = a.m2;
}

/* Second half: from every rank's mean and M2 (moments, as above, over count values in
 * all), what batchnorm_stats writes. */
__kernel void batchnorm_stats_global(__global const float *moments, const int mo_off, __global float *save_mean,
                                     const int sm_off, __global float *save_invstd, const int si_off,
                                     __global float *running_mean, const int rm_off, __global float *running_var,
                                     const int rv_off, const int C, const float count, const float momentum,
                                     const float eps) {
    const int c = get_global_id(0);
    if (c >= C) return;
    bn_finish(c, moments[mo_off + 2 * c], moments[mo_off + 2 * c + 1], count, save_mean + sm_off,
              save_invstd + si_off, running_mean ? running_mean + rm_off : running_mean,
              running_var ? running_var + rv_off : running_var, momentum, eps);
}

/* Whether relu (top 0) or relu6 (top 6) passes the gradient at its input v. */
inline int bn_act_passes(const float v, const float top) { return v > 0.0f && (top == 0.0f || v < top); }

/* One segment's sum dy and sum dy (x - mean). With beta (else NULL), dy is the gradient
 * of relu(batch norm(x)), or of relu6 when top is 6 (0: no top): it counts only where
 * the norm's output (x - mean) * gamma invstd + beta, batchnorm_apply's expression, is
 * above 0 and below top. Global: (G, N*C). */
__kernel void batchnorm_grad_partial(__global const float *x, const int x_off, __global const float *dy,
                                     const int dy_off, __global const float *mean, const int m_off,
                                     __global const float *gamma, const int g_off, __global const float *invstd,
                                     const int i_off, __global const float *beta, const int b_off,
                                     __global float *part, const int part_off, const int C, const int N,
                                     const int S, const int L, const int G, const float top) {
    const int g = get_global_id(0), r = get_global_id(1);
    if (g >= G || r >= N * C) return;
    const bn_segment q = segment_of(g, r, C, N, S, L, G);
    __global const float *px = x + x_off + q.start, *pd = dy + dy_off + q.start;
    const int c = r % C;
    const float mu = mean[m_off + c];
    const float scale = beta ? gamma[g_off + c] * invstd[i_off + c] : 0.0f, shift = beta ? beta[b_off + c] : 0.0f;
    float8 a8 = (float8)(0.0f), b8 = (float8)(0.0f);
    int k = 0;
    for (; k + 8 <= q.len; k += 8) {
        const float8 xc = vload8(0, px + k) - mu;
        float8 d = vload8(0, pd + k);
        if (beta) {
            const float8 v = xc * scale + shift;
            int8 pass = v > (float8)(0.0f);
            if (top != 0.0f) pass &= v < (float8)(top);
            d = select((float8)(0.0f), d, pass);
        }
        a8 += d;
        b8 += d * xc;
    }
    float a = hsum8(a8), b = hsum8(b8);
    for (; k < q.len; k++) {
        const float xc = px[k] - mu;
        const float d = beta && !bn_act_passes(xc * scale + shift, top) ? 0.0f : pd[k];
        a += d;
        b += d * xc;
    }
    part[part_off + q.out] = a;
    part[part_off + q.out + 1] = b;
}

#ifdef RED_WG
/* ---- the GPU family's partials: a work-group per segment ----
 * The same segments, results and part layout as batchnorm_stats_partial and
 * batchnorm_grad_partial, but the RED_WG work-items of a group read their segment
 * together, neighbours on neighbouring values (a work-item per segment makes them L
 * values apart on a GPU), and add their sums in a tree. Global (RED_WG, G, N*C), local
 * (RED_WG, 1, 1). */
__kernel void batchnorm_stats_group(__global const float *x, const int x_off, __global float *part,
                                    const int part_off, const int C, const int N, const int S, const int L,
                                    const int G) {
    __local float tmp[RED_WG];
    const int l = get_local_id(0), g = get_global_id(1), r = get_global_id(2);
    const bn_segment q = segment_of(g, r, C, N, S, L, G);
    __global const float *p = x + x_off + q.start;
    const float K = x[x_off + (r % C) * S];
    float a = 0.0f;
    for (int k = l; k < q.len; k += RED_WG) a += p[k] - K;
    const float mv = group_sum(a, tmp) / (float)q.len;
    float e = 0.0f, m2 = 0.0f;
    for (int k = l; k < q.len; k += RED_WG) {
        const float d = (p[k] - K) - mv;
        e += d;
        m2 += d * d;
    }
    e = group_sum(e, tmp);
    m2 = group_sum(m2, tmp);
    if (l == 0) {
        part[part_off + q.out] = mv + e / (float)q.len;
        part[part_off + q.out + 1] = fmax(m2 - e * e / (float)q.len, 0.0f);
    }
}

/* batchnorm_grad_partial by a work-group per segment (as batchnorm_stats_group). */
__kernel void batchnorm_grad_group(__global const float *x, const int x_off, __global const float *dy,
                                   const int dy_off, __global const float *mean, const int m_off,
                                   __global const float *gamma, const int g_off, __global const float *invstd,
                                   const int i_off, __global const float *beta, const int b_off,
                                   __global float *part, const int part_off, const int C, const int N,
                                   const int S, const int L, const int G, const float top) {
    __local float tmp[RED_WG];
    const int l = get_local_id(0), g = get_global_id(1), r = get_global_id(2), c = r % C;
    const bn_segment q = segment_of(g, r, C, N, S, L, G);
    __global const float *px = x + x_off + q.start, *pd = dy + dy_off + q.start;
    const float mu = mean[m_off + c];
    const float scale = beta ? gamma[g_off + c] * invstd[i_off + c] : 0.0f, shift = beta ? beta[b_off + c] : 0.0f;
    float a = 0.0f, b = 0.0f;
    for (int k = l; k < q.len; k += RED_WG) {
        const float xc = px[k] - mu;
        const float d = beta && !bn_act_passes(xc * scale + shift, top) ? 0.0f : pd[k];
        a += d;
        b += d * xc;
    }
    a = group_sum(a, tmp);
    b = group_sum(b, tmp);
    if (l == 0) {
        part[part_off + q.out] = a;
        part[part_off + q.out + 1] = b;
    }
}
#endif

/* After batchnorm_grad_partial: sums[c] = (sum dy, sum dy xhat) with xhat = (x - mean)
 * invstd; dgamma[c] += sum dy xhat, dbeta[c] += sum dy (either may be NULL). P = N*G. */
__kernel void batchnorm_grad_sums(__global const float *part, const int part_off, __global const float *invstd,
                                  const int i_off, __global float *sums, const int s_off, __global float *dgamma,
                                  const int dg_off, __global float *dbeta, const int db_off, const int C,
                                  const int P) {
    const int c = get_global_id(0);
    if (c >= C) return;
    __global const float *q = part + part_off + 2 * c * P;
    float2 t = (float2)(0.0f, 0.0f);
    for (int p = 0; p < P; p++) t += (float2)(q[2 * p], q[2 * p + 1]);
    const float dy_xhat = t.y * invstd[i_off + c];
    sums[s_off + 2 * c] = t.x;
    sums[s_off + 2 * c + 1] = dy_xhat;
    if (dgamma) dgamma[dg_off + c] += dy_xhat;
    if (dbeta) dbeta[db_off + c] += t.x;
}

/* dx = gamma invstd (dy - (sum dy + xhat sum dy xhat) / M) with the batch's statistics
 * (sums given), or gamma invstd dy with constant ones (sums NULL; x and mean unread).
 * relu (1: ReLU, 2: ReLU6; a constant: each kernel below inlines its own copy, which
 * PoCL vectorises; a run-time flag in one kernel ran at less than half the speed): dy
 * is masked as in batchnorm_grad_partial. Adds to dx when accumulate; otherwise dx is not read.
 * Global: (S, N*C), exactly, as batchnorm_apply. */
inline void backward_dx(__global const float *x, const int x_off, __global const float *dy, const int dy_off,
                        __global const float *gamma, const int g_off, __global const float *beta, const int b_off,
                        __global const float *mean, const int m_off, __global const float *invstd, const int i_off,
                        __global const float *sums, const int s_off, __global float *dx, const int dx_off,
                        const int C, const int S, const int M, const int accumulate, const int relu) {
    const int s = get_global_id(0), row = get_global_id(1);
    const int c = row % C, i = row * S + s;
    const float is = invstd[i_off + c];
    float g = dy[dy_off + i];
    if (relu && !bn_act_passes((x[x_off + i] - mean[m_off + c]) * (gamma[g_off + c] * is) + beta[b_off + c],
                               relu == 2 ? 6.0f : 0.0f))
        g = 0.0f;
    if (sums) {
        const float xhat = (x[x_off + i] - mean[m_off + c]) * is;
        g -= (sums[s_off + 2 * c] + xhat * sums[s_off + 2 * c + 1]) / (float)M;
    }
    const float v = gamma[g_off + c] * is * g;
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + v : v;
}

/* The three kernels' arguments, and their call of backward_dx with the mask's kind. */
#define BN_BACKWARD_DX_ARGS                                                                                   \
    __global const float *x, const int x_off, __global const float *dy, const int dy_off,                    \
        __global const float *gamma, const int g_off, __global const float *beta, const int b_off,            \
        __global const float *mean, const int m_off, __global const float *invstd, const int i_off,           \
        __global const float *sums, const int s_off, __global float *dx, const int dx_off, const int C,        \
        const int S, const int M, const int accumulate
#define BN_BACKWARD_DX(relu)                                                                                  \
    backward_dx(x, x_off, dy, dy_off, gamma, g_off, beta, b_off, mean, m_off, invstd, i_off, sums, s_off, dx, \
                dx_off, C, S, M, accumulate, relu)

/* beta is not read (the same arguments as the ReLU's kernel). */
__kernel void batchnorm_backward_dx(BN_BACKWARD_DX_ARGS) { BN_BACKWARD_DX(0); }
__kernel void batchnorm_relu_backward_dx(BN_BACKWARD_DX_ARGS) { BN_BACKWARD_DX(1); }
__kernel void batchnorm_relu6_backward_dx(BN_BACKWARD_DX_ARGS) { BN_BACKWARD_DX(2); }

/* w_out[co][j] = w[co][j] * s, b_out[co] = (bias[co] - mean[co]) * s + beta[co] with
 * s = gamma[co] / sqrt(var[co] + eps). One work-item per run of `chunk` weights of one
 * channel (256 on CPUs, 1 on GPUs): s once, then a plain scaling loop (one work-item per
 * weight with a division for its channel ran at a third of the memory speed on PoCL);
 * the first run of a channel also writes its bias. Global: (ceil(per_channel / chunk),
 * channels). */
__kernel void batchnorm_fold(__global const float *w, const int w_off, __global const float *bias, const int bias_off,
                             __global const float *gamma, const int g_off, __global const float *beta,
                             const int b_off, __global const float *mean, const int m_off,
                             __global const float *var, const int v_off, __global float *w_out,
                             const int wo_off, __global float *b_out, const int bo_off, const int per_channel,
                             const int chunk, const int channels, const float eps) {
    const int j0 = get_global_id(0) * chunk, co = get_global_id(1);
    if (j0 >= per_channel || co >= channels) return;
    const float s = gamma[g_off + co] * rsqrt(var[v_off + co] + eps);
    if (j0 == 0) {
        const float b = bias ? bias[bias_off + co] : 0.0f;
        b_out[bo_off + co] = (b - mean[m_off + co]) * s + beta[b_off + co];
    }
    __global const float *src = w + w_off + co * per_channel;
    __global float *dst = w_out + wo_off + co * per_channel;
    const int j1 = min(per_channel, j0 + chunk);
    for (int j = j0; j < j1; j++) dst[j] = src[j] * s;
}

