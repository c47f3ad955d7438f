/* eltwise.cl: elementwise activation, addition and per-channel scaling. */

__kernel void activate(__global const float *x, const int x_off, __global float *y, const int y_off,
                       const int total, const int act) {
    const int i = get_global_id(0);
    if (i < total) y[y_off + i] = apply_act(x[x_off + i], act);
}

__kernel void add(__global const float *a, const int a_off, __global const float *b, const int b_off,
                  __global float *y, const int y_off, const int total, const int act) {
    const int i = get_global_id(0);
    if (i < total) y[y_off + i] = apply_act(a[a_off + i] + b[b_off + i], act);
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
