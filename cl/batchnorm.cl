/* batchnorm.cl: batch norm over axis 1 (inference, training, backward) and folding it
 * into a convolution. x is viewed as [N, C, S]. */

/* y = (x - mean[c]) * gamma[c] * scale[c] + beta[c], where scale is 1 / sqrt(stat + eps)
 * when stat_is_var (inference from running statistics) and stat itself otherwise
 * (training, with the batch's invstd). Global: (S, N*C): the channel comes from the
 * row, so the per-channel values are loaded once per row, without a division per
 * element. */
__kernel void batchnorm_apply(__global const float *x, const int x_off, __global float *y, const int y_off,
                              __global const float *gamma, const int g_off, __global const float *beta,
                              const int b_off, __global const float *mean, const int m_off,
                              __global const float *stat, const int s_off, const int stat_is_var, const int C,
                              const int S, const int rows, const float eps) {
    const int s = get_global_id(0), row = get_global_id(1);
    if (s >= S || row >= rows) return;
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
 * Channel c holds M = N*S values, numbered j = n*S + s. Work-item (p, c) of a (P, C)
 * range sums the values j = p, p + P, p + 2P, ..., so neighbouring work-items read
 * neighbouring addresses (coalesced loads on GPUs, vector loads on PoCL), and writes
 * its two partial sums to part[c][p][0..1]. A second kernel with one work-item per
 * channel adds the P partials in a fixed order: results do not depend on scheduling. */

#define RED_SUM 0   /* a = sum (x - x0) with x0 the channel's first value (see batchnorm_mean) */
#define RED_SQDEV 1 /* a = sum (x - mean)^2, b = sum (x - mean) (corrects the mean's rounding) */
#define RED_GRAD 2  /* a = sum dy, b = sum dy (x - mean) */

/* The body of the three batchnorm_partial_* kernels; mode is a constant in each, so
 * the compiler drops the other branches. */
inline void partial_sums(__global const float *x, const int x_off, __global const float *dy, const int dy_off,
                         __global const float *mean, const int m_off, __global float *part, const int part_off,
                         const int C, const int S, const int M, const int P, const int mode) {
    const int p = get_global_id(0), c = get_global_id(1);
    if (p >= P || c >= C) return;
    const float mu = mode == RED_SUM ? x[x_off + c * S] : mean[m_off + c];
    float a = 0.0f, b = 0.0f;
    /* Row by row (one image n at a time): a plain strided inner loop, and one division
     * per row to find where the next row's share starts. */
    for (int j = p; j < M;) {
        const int n = j / S;
        int s = j - n * S;
        __global const float *xr = x + x_off + (n * C + c) * S;
        __global const float *dyr = mode == RED_GRAD ? dy + dy_off + (n * C + c) * S : dy;
        for (; s < S; s += P) {
            const float d = xr[s] - mu;
            if (mode == RED_GRAD) {
                a += dyr[s];
                b += dyr[s] * d;
            } else if (mode == RED_SQDEV) {
                a += d * d;
                b += d;
            } else {
                a += d;
            }
        }
        j = n * S + s;
    }
    const int o = part_off + 2 * (c * P + p);
    part[o] = a;
    part[o + 1] = b;
}

#define PARTIAL_KERNEL(name, mode)                                                                           \
    __kernel void name(__global const float *x, const int x_off, __global const float *dy, const int dy_off, \
                       __global const float *mean, const int m_off, __global float *part, const int part_off, \
                       const int C, const int S, const int M, const int P) {                                 \
        partial_sums(x, x_off, dy, dy_off, mean, m_off, part, part_off, C, S, M, P, mode);                   \
    }
PARTIAL_KERNEL(batchnorm_partial_sum, RED_SUM)
PARTIAL_KERNEL(batchnorm_partial_sqdev, RED_SQDEV)
PARTIAL_KERNEL(batchnorm_partial_grad, RED_GRAD)

/* The sums of channel c's P partials. */
inline float2 partial_total(__global const float *part, const int part_off, const int c, const int P) {
    __global const float *q = part + part_off + 2 * c * P;
    float2 t = (float2)(0.0f, 0.0f);
    for (int p = 0; p < P; p++) t += (float2)(q[2 * p], q[2 * p + 1]);
    return t;
}

/* save_mean[c] = x0 + sum (x - x0) / M (after a RED_SUM pass): shifting by a value of
 * the channel keeps the sums small when the values share a large offset, so the
 * offset cancels exactly instead of swamping the float sums. */
__kernel void batchnorm_mean(__global const float *part, const int part_off, __global const float *x,
                             const int x_off, __global float *save_mean, const int sm_off, const int C,
                             const int S, const int P, const int M) {
    const int c = get_global_id(0);
    if (c < C) save_mean[sm_off + c] = x[x_off + c * S] + partial_total(part, part_off, c, P).x / (float)M;
}

/* After a RED_SQDEV pass about save_mean: the biased variance normalises, the unbiased
 * one goes into running_var (as PyTorch); running statistics may be NULL. M > 1. */
__kernel void batchnorm_var(__global const float *part, const int part_off, __global const float *save_mean,
                            const int sm_off, __global float *save_invstd, const int si_off,
                            __global float *running_mean, const int rm_off, __global float *running_var,
                            const int rv_off, const int C, const int P, const int M, const float momentum,
                            const float eps) {
    const int c = get_global_id(0);
    if (c >= C) return;
    const float2 t = partial_total(part, part_off, c, P);
    /* Corrected two-pass: subtract the (tiny) square of the residual sum. */
    const float m2 = fmax(t.x - t.y * t.y / (float)M, 0.0f);
    save_invstd[si_off + c] = rsqrt(m2 / (float)M + eps);
    if (running_mean)
        running_mean[rm_off + c] = (1.0f - momentum) * running_mean[rm_off + c] + momentum * save_mean[sm_off + c];
    if (running_var)
        running_var[rv_off + c] = (1.0f - momentum) * running_var[rv_off + c] + momentum * (m2 / (float)(M - 1));
}

/* After a RED_GRAD pass: sums[c] = (sum dy, sum dy xhat) with xhat = (x - mean) invstd;
 * dgamma[c] += sum dy xhat, dbeta[c] += sum dy (either may be NULL). */
__kernel void batchnorm_grad_sums(__global const float *part, const int part_off, __global const float *invstd,
                                  const int i_off, __global float *sums, const int s_off, __global float *dgamma,
                                  const int dg_off, __global float *dbeta, const int db_off, const int C,
                                  const int P) {
    const int c = get_global_id(0);
    if (c >= C) return;
    const float2 t = partial_total(part, part_off, c, P);
    const float dy_xhat = t.y * invstd[i_off + c];
    sums[s_off + 2 * c] = t.x;
    sums[s_off + 2 * c + 1] = dy_xhat;
    if (dgamma) dgamma[dg_off + c] += dy_xhat;
    if (dbeta) dbeta[db_off + c] += t.x;
}

/* dx = gamma invstd (dy - (sum dy + xhat sum dy xhat) / M) with the batch's statistics
 * (sums given), or gamma invstd dy with constant ones (sums NULL; x and mean unread).
 * Adds to dx when accumulate; otherwise dx is not read. Global: (S, N*C), as
 * batchnorm_apply. */
__kernel void batchnorm_backward_dx(__global const float *x, const int x_off, __global const float *dy,
                                    const int dy_off, __global const float *gamma, const int g_off,
                                    __global const float *mean, const int m_off, __global const float *invstd,
                                    const int i_off, __global const float *sums, const int s_off,
                                    __global float *dx, const int dx_off, const int C, const int S, const int M,
                                    const int rows, const int accumulate) {
    const int s = get_global_id(0), row = get_global_id(1);
    if (s >= S || row >= rows) return;
    const int c = row % C, i = row * S + s;
    const float is = invstd[i_off + c];
    float g = dy[dy_off + i];
    if (sums) {
        const float xhat = (x[x_off + i] - mean[m_off + c]) * is;
        g -= (sums[s_off + 2 * c] + xhat * sums[s_off + 2 * c + 1]) / (float)M;
    }
    const float v = gamma[g_off + c] * is * g;
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + v : v;
}

/* w_out[co][j] = w[co][j] * s, b_out[co] = (bias[co] - mean[co]) * s + beta[co] with
 * s = gamma[co] / sqrt(var[co] + eps). One work-item per weight; j == 0 also writes the bias. */
__kernel void batchnorm_fold(__global const float *w, const int w_off, __global const float *bias, const int bias_off,
                             __global const float *gamma, const int g_off, __global const float *beta,
                             const int b_off, __global const float *mean, const int m_off,
                             __global const float *var, const int v_off, __global float *w_out,
                             const int wo_off, __global float *b_out, const int bo_off, const int per_channel,
                             const int total, const float eps) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int co = i / per_channel;
    const float s = gamma[g_off + co] * rsqrt(var[v_off + co] + eps);
    if (i - co * per_channel == 0) {
        const float b = bias ? bias[bias_off + co] : 0.0f;
        b_out[bo_off + co] = (b - mean[m_off + co]) * s + beta[b_off + co];
    }
    w_out[wo_off + i] = w[w_off + i] * s;
}
