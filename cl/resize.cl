/* resize.cl: bilinear resize with align_corners = false (PyTorch's default):
 * src = (dst + 0.5) * in / out - 0.5, clamped at 0, and its backward. */

/* The two source indices of destination index d and the weight of the second. */
typedef struct {
    int i0, i1;
    float l;
} resize_tap;

inline resize_tap tap_at(const int d, const int in, const int out) {
    const float s = fmax(((float)d + 0.5f) * ((float)in / (float)out) - 0.5f, 0.0f);
    resize_tap t;
    t.i0 = min((int)s, in - 1);
    t.i1 = min(t.i0 + 1, in - 1);
    t.l = s - (float)t.i0;
    return t;
}

/* Weight of source index i in destination tap t (both taps may be i at the border). */
inline float tap_weight(const resize_tap t, const int i) {
    return (t.i0 == i ? 1.0f - t.l : 0.0f) + (t.i1 == i ? t.l : 0.0f);
}

/* Global: (OH*OW, N*C). */
__kernel void resize_bilinear(__global const float *x, const int x_off, __global float *y, const int y_off,
                              const int H, const int W, const int OH, const int OW) {
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= OH * OW) return;
    const int oy = p / OW, ox = p - oy * OW;
    const resize_tap ty = tap_at(oy, H, OH), tx = tap_at(ox, W, OW);
    __global const float *plane = x + x_off + nc * H * W;
    const float top = plane[ty.i0 * W + tx.i0] * (1.0f - tx.l) + plane[ty.i0 * W + tx.i1] * tx.l;
    const float bottom = plane[ty.i1 * W + tx.i0] * (1.0f - tx.l) + plane[ty.i1 * W + tx.i1] * tx.l;
    y[y_off + nc * OH * OW + p] = top * (1.0f - ty.l) + bottom * ty.l;
}

/* Destination indices [*lo, *hi] whose taps can give source index i a nonzero
 * weight: source coordinate (d + 0.5) in / out - 0.5 in (i - 1, i + 1), i.e.
 * (i - 0.5) r - 0.5 < d < (i + 1.5) r - 0.5 with r = out / in; floor and ceil keep
 * one index more on each side against rounding (the weights come from tap_at, so
 * extra indices only add zeros). */
inline void touching(const int i, const int in, const int out, int *lo, int *hi) {
    const float r = (float)out / (float)in;
    *lo = max((int)floor(((float)i - 0.5f) * r - 0.5f), 0);
    *hi = min((int)ceil(((float)i + 1.5f) * r - 0.5f), out - 1);
}

/* Gather form, no atomics. Global: (H*W, N*C): each source pixel sums dy times its
 * weight over the destination pixels whose interpolation uses it. */
__kernel void resize_bilinear_backward(__global const float *dy, const int dy_off, __global float *dx,
                                       const int dx_off, const int H, const int W, const int OH, const int OW,
                                       const int accumulate) {
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= H * W) return;
    const int iy = p / W, ix = p - iy * W;
    int oy0, oy1, ox0, ox1;
    touching(iy, H, OH, &oy0, &oy1);
    touching(ix, W, OW, &ox0, &ox1);
    __global const float *g = dy + dy_off + nc * OH * OW;
    float acc = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
        const float wy = tap_weight(tap_at(oy, H, OH), iy);
        if (wy == 0.0f) continue;
        float row = 0.0f;
        for (int ox = ox0; ox <= ox1; ox++) row += tap_weight(tap_at(ox, W, OW), ix) * g[oy * OW + ox];
        acc += wy * row;
    }
    const int i = dx_off + nc * H * W + p;
    dx[i] = accumulate ? dx[i] + acc : acc;
}
