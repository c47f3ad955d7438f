/* pool.cl: max and average pooling, global average pooling, and their backward.
 * Launches are 3-D (columns, rows, planes) and window ranges use div_small: an integer
 * division per element, which PoCL's vectorised work-item loops run lane by lane, made
 * the backward ten times slower than an elementwise pass over the same data. */

#define POOL_MAX 0
#define POOL_AVG 1

/* Output window (oy, ox) as PyTorch sees it: rows [ys, ye) x columns [xs, xe) of the
 * input (max ignores padding), and the divisor of an average: the window clipped to
 * the padded input (count_include_pad) or to the input. */
typedef struct {
    int ys, ye, xs, xe, count;
} pool_window;

inline pool_window window_at(const int oy, const int ox, const int H, const int W, const int kh, const int kw,
                             const int sh, const int sw, const int ph, const int pw, const int count_include_pad) {
    const int y0 = oy * sh - ph, x0 = ox * sw - pw;
    pool_window w;
    w.ys = max(y0, 0);
    w.xs = max(x0, 0);
    w.ye = min(y0 + kh, H);
    w.xe = min(x0 + kw, W);
    w.count = count_include_pad ? (min(y0 + kh, H + ph) - y0) * (min(x0 + kw, W + pw) - x0)
                                : (w.ye - w.ys) * (w.xe - w.xs);
    return w;
}

/* Index in the plane of the window's maximum: the first one, unless a NaN comes
 * later (PyTorch's rule `v > max || isnan(v)`, so NaN propagates); -1 for an empty
 * window (which the output-size rules exclude). */
inline int window_argmax(__global const float *plane, const int W, const pool_window w) {
    int best = w.ys < w.ye && w.xs < w.xe ? w.ys * W + w.xs : -1;
    float m = -INFINITY;
    for (int iy = w.ys; iy < w.ye; iy++)
        for (int ix = w.xs; ix < w.xe; ix++) {
            const float v = plane[iy * W + ix];
            if (v > m || isnan(v)) {
                m = v;
                best = iy * W + ix;
            }
        }
    return best;
}

/* Global: (OW, OH, N*C). */
__kernel void pool2d(__global const float *x, const int x_off, __global float *y, const int y_off,
                     const int H, const int W, const int OH, const int OW, const int kh, const int kw,
                     const int sh, const int sw, const int ph, const int pw, const int mode,
                     const int count_include_pad) {
    const int ox = get_global_id(0), oy = get_global_id(1), nc = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const int p = oy * OW + ox;
    const pool_window w = window_at(oy, ox, H, W, kh, kw, sh, sw, ph, pw, count_include_pad);
    __global const float *plane = x + x_off + nc * H * W;
    float acc;
    if (mode == POOL_MAX) {
        const int best = window_argmax(plane, W, w);
        acc = best >= 0 ? plane[best] : -INFINITY;
    } else {
        acc = 0.0f;
        for (int iy = w.ys; iy < w.ye; iy++)
            for (int ix = w.xs; ix < w.xe; ix++) acc += plane[iy * W + ix];
        acc = w.count > 0 ? acc / (float)w.count : 0.0f;
    }
    y[y_off + nc * OH * OW + p] = acc;
}

/* First output index whose window (stride s, size k, padding pad) can hold input i. */
inline int first_window(const int i, const int k, const int s, const int pad) {
    const int t = i + pad - k + 1;
    return t > 0 ? div_small(t + s - 1, s) : 0;
}

/* The index in its plane of each output window's maximum (max pooling's backward
 * step 1), as window_argmax. Global: (OW, OH, N*C). */
__kernel void pool2d_argmax(__global const float *x, const int x_off, __global int *arg, const int arg_off,
                            const int H, const int W, const int OH, const int OW, const int kh, const int kw,
                            const int sh, const int sw, const int ph, const int pw) {
    const int ox = get_global_id(0), oy = get_global_id(1), nc = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const pool_window w = window_at(oy, ox, H, W, kh, kw, sh, sw, ph, pw, 0);
    arg[arg_off + (nc * OH + oy) * OW + ox] = window_argmax(x + x_off + nc * H * W, W, w);
}

/* Gather form, no atomics. Global: (W, H, N*C): each input element sums the dy of the
 * windows holding it, divided by the window's count (average), or only where it is
 * the window's maximum (max: arg from pool2d_argmax, so that each window's maximum is
 * found once, not once per input element it covers). An element lies in at most
 * wy x wx windows (wy = ceil(kh / sh), wx = ceil(kw / sw)): the loops run that many
 * times in every work-item, with the windows past the element's own range masked, so
 * that PoCL can vectorise across work-items. */
__kernel void pool2d_backward(__global const int *arg, const int arg_off, __global const float *dy, const int dy_off,
                              __global float *dx, const int dx_off, const int H, const int W, const int OH,
                              const int OW, const int kh, const int kw, const int sh, const int sw, const int ph,
                              const int pw, const int wy, const int wx, const int mode, const int count_include_pad,
                              const int accumulate) {
    const int ix = get_global_id(0), iy = get_global_id(1), nc = get_global_id(2);
    if (ix >= W || iy >= H) return;
    const int p = iy * W + ix;
    const int oy0 = first_window(iy, kh, sh, ph), oy1 = min(div_small(iy + ph, sh), OH - 1);
    const int ox0 = first_window(ix, kw, sw, pw), ox1 = min(div_small(ix + pw, sw), OW - 1);
    __global const float *g = dy + dy_off + nc * OH * OW;
    __global const int *a = arg + arg_off + nc * OH * OW;
    float acc = 0.0f;
    for (int jy = 0; jy < wy; jy++)
        for (int jx = 0; jx < wx; jx++) {
            const int oy = oy0 + jy, ox = ox0 + jx;
            const int in = oy <= oy1 && ox <= ox1;
            const int o = in ? oy * OW + ox : 0; /* a safe address for the masked ones */
            float v;
            if (mode == POOL_MAX) {
                v = in && a[o] == p ? g[o] : 0.0f;
            } else {
                const pool_window w = window_at(oy, ox, H, W, kh, kw, sh, sw, ph, pw, count_include_pad);
                v = in ? g[o] / (float)w.count : 0.0f;
            }
            acc += v;
        }
    const int i = dx_off + nc * H * W + p;
    dx[i] = accumulate ? dx[i] + acc : acc;
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

/* dx[nc, s] = dy[nc] / S (+ dx). Global: planes * S. */
__kernel void global_avg_pool_backward(__global const float *dy, const int dy_off, __global float *dx,
                                       const int dx_off, const int S, const int total, const int accumulate) {
    const int i = get_global_id(0);
    if (i >= total) return;
    const float g = dy[dy_off + i / S] / (float)S;
    dx[dx_off + i] = accumulate ? dx[dx_off + i] + g : g;
}
