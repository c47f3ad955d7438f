/* batchnorm.cl: inference batch norm over axis 1, and folding it into a convolution. */

/* y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c]; x is [N, C, S]. */
__kernel void batchnorm_infer(__global const float *x, const int x_off, __global float *y, const int y_off,
                              __global const float *gamma, const int g_off, __global const float *beta,
                              const int b_off, __global const float *mean, const int m_off,
                              __global const float *var, const int v_off, const int C, const int S,
                              const int total, const float eps) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int c = (i / S) % C;
    const float scale = gamma[g_off + c] * rsqrt(var[v_off + c] + eps);
    y[y_off + i] = (x[x_off + i] - mean[m_off + c]) * scale + beta[b_off + c];
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
