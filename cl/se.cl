/* se.cl: the backward steps of Squeeze-and-Excitation's z = x * s[n, c] that are
 * specific to it (the linear layers and activations use the shared ops). */

/* ds[i] = sum over the S pixels of plane i of dz * x: the gradient reaching the
 * scale s[n, c] (plane i = n*C + c). One work-item per plane. */
__kernel void se_scale_grad(__global const float *dz, const int dz_off, __global const float *x, const int x_off,
                            __global float *ds, const int ds_off, const int S, const int planes) {
    const int i = get_global_id(0);
    if (i >= planes) return;
    __global const float *a = dz + dz_off + i * S, *b = x + x_off + i * S;
    float acc = 0.0f;
    for (int p = 0; p < S; p++) acc = fma(a[p], b[p], acc);
    ds[ds_off + i] = acc;
}

/* dx = dz * s[plane] + dpool[plane] / S (+ dx when accumulating): the direct path
 * through the scaling plus the squeeze path back through the global average pool. */
__kernel void se_input_grad(__global const float *dz, const int dz_off, __global const float *s, const int s_off,
                            __global const float *dpool, const int dpool_off, __global float *dx, const int dx_off,
                            const int S, const float inv_s, const int total, const int accumulate) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int plane = i / S;
    const float g = dz[dz_off + i] * s[s_off + plane] + dpool[dpool_off + plane] * inv_s;
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + g : g;
}
