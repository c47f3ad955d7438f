/* depthwise.cl: depthwise convolution (groups == Cin == Cout: channel c of the output
 * sees only channel c of the input, through its own KH x KW filter w[c]), forward and
 * backward, for any stride, padding and dilation. x [N, C, H, W], w [C, 1, KH, KW],
 * y [N, C, OH, OW]. Each work-item walks one row, so the filter stays in registers and
 * the row's loads and stores are contiguous. */

/* The window sum of output pixel (oy, ox) of one plane: filter f over input plane `plane`. */
inline float dw_window(__global const float *plane, __global const float *f, const int oy, const int ox,
                       const int H, const int W, const int KH, const int KW, const int sh, const int sw,
                       const int ph, const int pw, const int dh, const int dw) {
    const int iy0 = oy * sh - ph, ix0 = ox * sw - pw;
    float acc = 0.0f;
    for (int ky = 0; ky < KH; ky++) {
        const int iy = iy0 + ky * dh;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < KW; kx++) {
            const int ix = ix0 + kx * dw;
            if (ix >= 0 && ix < W) acc = fma(plane[iy * W + ix], f[ky * KW + kx], acc);
        }
    }
    return acc;
}

/* The input gradient at pixel (iy, ix) of one plane: the sum over the outputs that
 * read it of dy (plane g) * the tap of filter f that read it; a gather, so no atomics. */
inline float dw_gather(__global const float *g, __global const float *f, const int iy, const int ix,
                       const int KH, const int KW, const int sh, const int sw, const int ph, const int pw,
                       const int dh, const int dw, const int OH, const int OW) {
    float acc = 0.0f;
    for (int ky = 0; ky < KH; ky++) {
        const int ty = iy + ph - ky * dh; /* = oy * sh for an output row that read iy */
        if (ty < 0 || ty % sh) continue;
        const int oy = ty / sh;
        if (oy >= OH) continue;
        for (int kx = 0; kx < KW; kx++) {
            const int tx = ix + pw - kx * dw;
            if (tx < 0 || tx % sw) continue;
            const int ox = tx / sw;
            if (ox < OW) acc = fma(g[oy * OW + ox], f[ky * KW + kx], acc);
        }
    }
    return acc;
}

#define DW_FORWARD_ARGS                                                                                      \
    __global const float *x, const int x_off, __global const float *w, const int w_off,                     \
        __global const float *bias, const int bias_off, __global const float *res, const int res_off,         \
        const int act, __global float *y, const int y_off, const int C, const int H, const int W, const int KH, \
        const int KW, const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,       \
        const int OH, const int OW
#define DW_BACKWARD_DATA_ARGS                                                                                \
    __global const float *dy, const int dy_off, __global const float *w, const int w_off, __global float *dx, \
        const int dx_off, const int accumulate, const int C, const int H, const int W, const int KH,           \
        const int KW, const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,      \
        const int OH, const int OW

/* y[i] = act(window sum + bias[c] + residual[i]) for output i of channel c. */
#define DW_STORE_OUTPUT(i, c, acc)                                                   \
    do {                                                                             \
        float v_ = (acc) + (bias ? bias[bias_off + (c)] : 0.0f);                     \
        if (res) v_ += res[res_off + (i)];                                           \
        y[y_off + (i)] = apply_act(v_, act);                                         \
    } while (0)

/* y[n][c][oy][:] = act(sum of the window * w[c] + bias[c] + residual) for one output
 * row; bias and residual may be NULL. Global: (OH, C, N). */
__kernel void depthwise_forward(DW_FORWARD_ARGS) {
    const int oy = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (oy >= OH || c >= C) return;
    __global const float *plane = x + x_off + (n * C + c) * H * W;
    __global const float *f = w + w_off + c * KH * KW;
    const int row = ((n * C + c) * OH + oy) * OW;
    for (int ox = 0; ox < OW; ox++)
        DW_STORE_OUTPUT(row + ox, c, dw_window(plane, f, oy, ox, H, W, KH, KW, sh, sw, ph, pw, dh, dw));
}

/* The GPU family's forward: one output pixel per work-item, neighbouring work-items on
 * neighbouring pixels of a row (depthwise_forward makes them a whole row apart).
 * Global: (OW, OH, N * C). */
__kernel void depthwise_forward_pixels(DW_FORWARD_ARGS) {
    const int ox = get_global_id(0), oy = get_global_id(1), nc = get_global_id(2), c = nc % C;
    if (ox >= OW || oy >= OH) return;
    __global const float *plane = x + x_off + nc * H * W;
    DW_STORE_OUTPUT((nc * OH + oy) * OW + ox, c,
                    dw_window(plane, w + w_off + c * KH * KW, oy, ox, H, W, KH, KW, sh, sw, ph, pw, dh, dw));
}

/* dx[n][c][iy][:] = sum over the outputs each input pixel reached of dy * w[c] (+ dx
 * when accumulating), one input row per work-item. Global: (H, C, N). */
__kernel void depthwise_backward_data(DW_BACKWARD_DATA_ARGS) {
    const int iy = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (iy >= H || c >= C) return;
    __global const float *g = dy + dy_off + (n * C + c) * OH * OW;
    __global const float *f = w + w_off + c * KH * KW;
    const int row = dx_off + ((n * C + c) * H + iy) * W;
    for (int ix = 0; ix < W; ix++) {
        const float acc = dw_gather(g, f, iy, ix, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW);
        dx[row + ix] = accumulate ? dx[row + ix] + acc : acc;
    }
}

/* The GPU family's input gradient: one input pixel per work-item, neighbours on
 * neighbouring pixels. Global: (W, H, N * C). */
__kernel void depthwise_backward_data_pixels(DW_BACKWARD_DATA_ARGS) {
    const int ix = get_global_id(0), iy = get_global_id(1), nc = get_global_id(2), c = nc % C;
    if (ix >= W || iy >= H) return;
    const float acc = dw_gather(dy + dy_off + nc * OH * OW, w + w_off + c * KH * KW, iy, ix, KH, KW, sh, sw, ph, pw,
                                dh, dw, OH, OW);
    const int i = dx_off + (nc * H + iy) * W + ix;
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* dw[c][ky][kx] += sum over images and output pixels of dy * the input pixel that tap
 * read, one tap of one channel per work-item; per-image partial sums keep the float
 * error small. Global: (KH*KW, C). */
__kernel void depthwise_backward_weight(__global const float *x, const int x_off, __global const float *dy,
                                        const int dy_off, __global float *dwt, const int dw_off,
                                        const int N, const int C, const int H, const int W, const int KH,
                                        const int KW, const int sh, const int sw, const int ph, const int pw,
                                        const int dh, const int dw, const int OH, const int OW) {
    const int q = get_global_id(0), c = get_global_id(1);
    if (q >= KH * KW || c >= C) return;
    const int ky = q / KW, kx = q - ky * KW;
    /* output columns whose tap reads inside the image: ox*sw + kx*dw - pw in [0, W) */
    const int i0 = kx * dw - pw;
    const int lo = min(i0 >= 0 ? 0 : (sw - 1 - i0) / sw, OW);
    const int hi = max(lo, min(W - i0 <= 0 ? 0 : (W - i0 + sw - 1) / sw, OW));
    float total = 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *plane = x + x_off + (n * C + c) * H * W;
        __global const float *g = dy + dy_off + (n * C + c) * OH * OW;
        float s = 0.0f;
        for (int oy = 0; oy < OH; oy++) {
            const int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= H) continue;
            __global const float *xr = plane + iy * W + i0;
            __global const float *gr = g + oy * OW;
            for (int ox = lo; ox < hi; ox++) s = fma(gr[ox], xr[ox * sw], s);
        }
        total += s;
    }
    dwt[dw_off + c * KH * KW + q] += total;
}

#ifdef RED_WG
/* The GPU family's weight gradient, first level: part[t * N + n], t = c * KH*KW + tap,
 * = the sum over image n's output pixels of dy * the input pixel that tap read. The
 * RED_WG work-items of a group take neighbouring output pixels (coalesced loads) and a
 * tree adds their sums; reduce.cl's row_totals adds the N images into dw. Global
 * (RED_WG, C * KH*KW, N), local (RED_WG, 1, 1). */
__kernel void depthwise_wgrad_planes(__global const float *x, const int x_off, __global const float *dy,
                                     const int dy_off, __global float *part, const int part_off, const int N,
                                     const int C, const int H, const int W, const int KH, const int KW,
                                     const int sh, const int sw, const int ph, const int pw, const int dh,
                                     const int dw, const int OH, const int OW) {
    __local float tmp[RED_WG];
    const int t = get_global_id(1), n = get_global_id(2);
    const int c = t / (KH * KW), q = t - c * KH * KW, ky = q / KW, kx = q - ky * KW;
    __global const float *plane = x + x_off + (size_t)(n * C + c) * H * W;
    __global const float *g = dy + dy_off + (size_t)(n * C + c) * OH * OW;
    float s = 0.0f;
    for (int p = get_local_id(0); p < OH * OW; p += RED_WG) {
        const int oy = p / OW, ox = p - oy * OW;
        const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) s = fma(g[p], plane[iy * W + ix], s);
    }
    s = group_sum(s, tmp);
    if (get_local_id(0) == 0) part[part_off + t * N + n] = s;
}
#endif
