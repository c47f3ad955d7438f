/* pool.cl: max and average pooling, global average pooling. */

#define POOL_MAX 0
#define POOL_AVG 1

/* Global: (OH*OW, N*C). Windows as PyTorch: max ignores padding; average divides by
 * the window clipped to the padded input (count_include_pad) or to the input. */
__kernel void pool2d(__global const float *x, const int x_off, __global float *y, const int y_off,
                     const int H, const int W, const int OH, const int OW, const int kh, const int kw,
                     const int sh, const int sw, const int ph, const int pw, const int mode,
                     const int count_include_pad) {
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= OH * OW) return;
    const int oy = p / OW, ox = p - oy * OW;
    const int y0 = oy * sh - ph, x0 = ox * sw - pw;
    const int y1p = min(y0 + kh, H + ph), x1p = min(x0 + kw, W + pw);
    const int pool_size = (y1p - y0) * (x1p - x0);
    const int ys = max(y0, 0), xs = max(x0, 0), ye = min(y0 + kh, H), xe = min(x0 + kw, W);
    __global const float *plane = x + x_off + nc * H * W;
    float acc = mode == POOL_MAX ? -INFINITY : 0.0f;
    for (int iy = ys; iy < ye; iy++)
        for (int ix = xs; ix < xe; ix++) {
            const float v = plane[iy * W + ix];
            acc = mode == POOL_MAX ? fmax(acc, v) : acc + v;
        }
    if (mode == POOL_AVG) {
        const int count = count_include_pad ? pool_size : (ye - ys) * (xe - xs);
        acc = count > 0 ? acc / (float)count : 0.0f;
    }
    y[y_off + nc * OH * OW + p] = acc;
}

/* y[nc] = mean of the S values of plane nc. */
__kernel void global_avg_pool(__global const float *x, const int x_off, __global float *y, const int y_off,
                              const int S, const int planes) {
    const int nc = get_global_id(0);
    if (nc >= planes) return;
    __global const float *plane = x + x_off + nc * S;
    float acc = 0.0f;
    for (int i = 0; i < S; i++) acc += plane[i];
    y[y_off + nc] = acc / (float)S;
}
