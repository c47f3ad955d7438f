/* concat.cl: channel concatenation (Inception's branches joined) as slice copies, one
 * kernel for the forward and the backward: channels [c0, c0 + C) of src [N, Cs, S] go
 * to channels [d0, d0 + C) of dst [N, Cd, S], added to what is there when accumulating
 * (a backward into a gradient that already holds a share). One element per work-item,
 * neighbours on neighbouring pixels; global N * C * S. */
__kernel void channel_slice(__global const float *src, const int src_off, const int Cs, const int c0,
                            __global float *dst, const int dst_off, const int Cd, const int d0, const int C,
                            const int S, const int total, const int accumulate) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const int s = i % S, c = (i / S) % C, n = i / (S * C);
    const float v = src[src_off + (n * Cs + c0 + c) * S + s];
    const int o = dst_off + (n * Cd + d0 + c) * S + s;
    dst[o] = accumulate ? dst[o] + v : v;
}
