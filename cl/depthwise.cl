/* depthwise.cl: depthwise convolution (groups == Cin == Cout: channel c of the output
 * sees only channel c of the input, through its own KH x KW filter w[c]), forward and
 * backward, for any stride, padding and dilation. x [N, C, H, W], w [C, 1, KH, KW],
 * y [N, C, OH, OW]. Two families: on CPUs runs of planes per work-item, vectorised
 * along rows; on GPUs a pixel per work-item (the _pixels kernels) and a work-group
 * per weight-gradient sum. */

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

/* ---- the CPU family: whole planes per work-item, 8 columns per vector ----
 * A work-item takes `per_item` consecutive planes (a small plane alone costs less than
 * the work-item's own overhead). A plane that fits DW_TILE floats once zero-padded is
 * copied into a private tile first, so that every tap of every output is one
 * unconditional vector load (a bounds check per tap ran at 1 GFLOP/s); adding the
 * padding's zeros leaves each sum as dw_window's. Larger planes run their interior
 * columns as vectors and the rest tap by tap (dw_window, dw_gather). */
#define DW_TILE 4096
#define DW_SLACK 16 /* the last row's vector loads may read past its end */

/* Columns [lo, hi) of a row of `out` outputs whose taps at offsets a + k * step,
 * k < K, all land inside [0, in) after ox * stride: the interior of the row. */
inline int2 dw_interior(const int a, const int step, const int K, const int stride, const int in, const int out) {
    const int first = a, last = a + (K - 1) * step; /* the taps' smallest and largest offsets */
    const int lo = min(first >= 0 ? 0 : (stride - 1 - first) / stride, out);
    const int hi = in - last <= 0 ? 0 : (in - last + stride - 1) / stride;
    return (int2)(lo, max(lo, min(hi, out)));
}

/* p[i * stride] for i < 8, stride 1 or 2 as vector loads, others element by element. */
#define DW_LOAD8(p, stride)                                                                                    \
    ((stride) == 1   ? vload8(0, (p))                                                                          \
     : (stride) == 2 ? vload16(0, (p)).even                                                                    \
                     : (float8)((p)[0], (p)[(stride)], (p)[2 * (stride)], (p)[3 * (stride)], (p)[4 * (stride)], \
                                (p)[5 * (stride)], (p)[6 * (stride)], (p)[7 * (stride)]))

inline int dw_round8(const int v) { return (v + 7) & ~7; }

/* The 8 correlation sums at columns ox..ox+7 of row oy over a zero-padded tile of
 * row pitch `pitch`: sum over taps (ky, kx) in order of tile[oy*sh + ky*dh][ox*sw +
 * kx*dw] * f[ky][kx], or * f[KH-1-ky][KW-1-kx] when flip (the transposed convolution). */
inline float8 dw_tile_sums(const float *tile, const int pitch, __global const float *f, const int flip,
                           const int oy, const int ox, const int KH, const int KW, const int sh, const int sw,
                           const int dh, const int dw) {
    float8 acc = (float8)(0.0f);
    for (int ky = 0; ky < KH; ky++) {
        const float *t = tile + (oy * sh + ky * dh) * pitch + ox * sw;
        for (int kx = 0; kx < KW; kx++) {
            const float tap = flip ? f[(KH - 1 - ky) * KW + KW - 1 - kx] : f[ky * KW + kx];
            acc = fma(DW_LOAD8(t + kx * dw, sw), (float8)tap, acc);
        }
    }
    return acc;
}

/* tile[ty][tx] = x[ty - ph][tx - pw] (0 outside the plane) for the tile of the forward
 * of outputs OH x OW (rows x pitch, pitch a whole number of vectors). */
inline void dw_fill_forward_tile(float *tile, __global const float *plane, const int rows, const int pitch,
                                 const int H, const int W, const int ph, const int pw) {
    for (int i = 0; i < rows * pitch + DW_SLACK; i++) tile[i] = 0.0f;
    for (int iy = 0; iy < min(H, rows - ph); iy++) {
        float *t = tile + (iy + ph) * pitch + pw;
        __global const float *src = plane + iy * W;
        for (int ix = 0; ix < min(W, pitch - pw); ix++) t[ix] = src[ix];
    }
}

/* y[i .. i+n) = act(acc + bias[c] + residual[i ..]) for n <= 8 outputs of channel c,
 * as DW_STORE_OUTPUT does one (bias and residual may be NULL). */
inline void dw_store8(__global float *y, const int i, const int n, const int c, float8 v, __global const float *bias,
                      __global const float *res, const int act) {
    if (bias) v += bias[c];
    float lanes[8];
    if (res && n == 8) v += vload8(0, res + i);
    else if (res) {
        for (int j = 0; j < 8; j++) lanes[j] = j < n ? res[i + j] : 0.0f;
        v += vload8(0, lanes);
    }
    v = apply_act8(v, act);
    if (n == 8) {
        vstore8(v, 0, y + i);
        return;
    }
    vstore8(v, 0, lanes);
    for (int j = 0; j < n; j++) y[i + j] = lanes[j];
}

/* y[n][c] = act(x[n][c] (*) w[c] + bias[c] + residual) for planes [p0, p0 + per_item)
 * of the N * C. Global: (ceil(N * C / per_item)). */
__kernel void depthwise_forward(DW_FORWARD_ARGS, const int N, const int per_item) {
    const int p0 = get_global_id(0) * per_item, p1 = min(p0 + per_item, N * C);
    const int rows = (OH - 1) * sh + (KH - 1) * dh + 1, pitch = dw_round8(OW) * sw + (KW - 1) * dw;
    const int tiled = rows * pitch <= DW_TILE;
    const int2 in = dw_interior(-pw, dw, KW, sw, W, OW);
    __global const float *b = bias ? bias + bias_off : 0, *r = res ? res + res_off : 0;
    float tile[DW_TILE + DW_SLACK];
    for (int p = p0; p < p1; p++) {
        const int c = p % C;
        __global const float *plane = x + x_off + p * H * W;
        __global const float *f = w + w_off + c * KH * KW;
        if (tiled) dw_fill_forward_tile(tile, plane, rows, pitch, H, W, ph, pw);
        for (int oy = 0; oy < OH; oy++) {
            const int row = (p * OH + oy) * OW;
            int ox = 0;
            if (tiled) {
                for (; ox < OW; ox += 8) {
                    dw_store8(y + y_off, row + ox, min(8, OW - ox), c,
                              dw_tile_sums(tile, pitch, f, 0, oy, ox, KH, KW, sh, sw, dh, dw), b, r, act);
                }
                continue;
            }
            for (; ox < in.x; ox++)
                DW_STORE_OUTPUT(row + ox, c, dw_window(plane, f, oy, ox, H, W, KH, KW, sh, sw, ph, pw, dh, dw));
            for (; ox + 8 <= in.y; ox += 8) {
                float8 acc = (float8)(0.0f);
                for (int ky = 0; ky < KH; ky++) {
                    const int iy = oy * sh - ph + ky * dh;
                    if (iy < 0 || iy >= H) continue;
                    __global const float *xr = plane + iy * W + ox * sw - pw;
                    for (int kx = 0; kx < KW; kx++) acc = fma(DW_LOAD8(xr + kx * dw, sw), (float8)f[ky * KW + kx], acc);
                }
                dw_store8(y + y_off, row + ox, 8, c, acc, b, r, act);
            }
            for (; ox < OW; ox++)
                DW_STORE_OUTPUT(row + ox, c, dw_window(plane, f, oy, ox, H, W, KH, KW, sh, sw, ph, pw, dh, dw));
        }
    }
}

/* dx[n][c] (+)= the transposed convolution of dy[n][c] with w[c] for planes [p0, p0 +
 * per_item). Tiled: dy spread out by the strides into a zero tile, offset by the
 * taps' reach (KH-1)*dh - ph, and correlated with the flipped filter; dx[iy][ix] then
 * reads tile rows iy + ky*dh. Otherwise gathered per input pixel (dw_gather), 8
 * columns at a time in the interior at stride 1. Global: (ceil(N * C / per_item)). */
__kernel void depthwise_backward_data(DW_BACKWARD_DATA_ARGS, const int N, const int per_item) {
    const int p0 = get_global_id(0) * per_item, p1 = min(p0 + per_item, N * C);
    const int rows = H + (KH - 1) * dh, pitch = dw_round8(W) + (KW - 1) * dw;
    const int ay = (KH - 1) * dh - ph, ax = (KW - 1) * dw - pw;
    const int tiled = rows * pitch <= DW_TILE;
    /* at stride 1, input column ix reads output columns ix + pw - kx * dw */
    const int2 in = sw == 1 ? dw_interior(pw - (KW - 1) * dw, dw, KW, 1, OW, W) : (int2)(0, 0);
    float tile[DW_TILE + DW_SLACK];
    for (int p = p0; p < p1; p++) {
        const int c = p % C;
        __global const float *g = dy + dy_off + p * OH * OW;
        __global const float *f = w + w_off + c * KH * KW;
        if (tiled) {
            for (int i = 0; i < rows * pitch + DW_SLACK; i++) tile[i] = 0.0f;
            for (int oy = 0; oy < OH; oy++) {
                const int ty = oy * sh + ay;
                if (ty < 0 || ty >= rows) continue;
                for (int ox = 0; ox < OW; ox++) {
                    const int tx = ox * sw + ax;
                    if (tx >= 0 && tx < pitch) tile[ty * pitch + tx] = g[oy * OW + ox];
                }
            }
        }
        for (int iy = 0; iy < H; iy++) {
            __global float *row = dx + dx_off + (p * H + iy) * W;
            int ix = 0;
            if (tiled) {
                for (; ix < W; ix += 8) {
                    const float8 acc = dw_tile_sums(tile, pitch, f, 1, iy, ix, KH, KW, 1, 1, dh, dw);
                    for (int j = 0; j < min(8, W - ix); j++) row[ix + j] = accumulate ? row[ix + j] + acc[j] : acc[j];
                }
                continue;
            }
            for (; ix < in.x; ix++) {
                const float v = dw_gather(g, f, iy, ix, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW);
                row[ix] = accumulate ? row[ix] + v : v;
            }
            for (; ix + 8 <= in.y; ix += 8) {
                float8 acc = (float8)(0.0f);
                for (int ky = 0; ky < KH; ky++) {
                    const int ty = iy + ph - ky * dh; /* = oy * sh for an output row that read iy */
                    if (ty < 0 || ty % sh) continue;
                    const int oy = ty / sh;
                    if (oy >= OH) continue;
                    __global const float *gr = g + oy * OW + ix + pw;
                    for (int kx = 0; kx < KW; kx++) acc = fma(vload8(0, gr - kx * dw), (float8)f[ky * KW + kx], acc);
                }
                vstore8(accumulate ? vload8(0, row + ix) + acc : acc, 0, row + ix);
            }
            for (; ix < W; ix++) {
                const float v = dw_gather(g, f, iy, ix, KH, KW, sh, sw, ph, pw, dh, dw, OH, OW);
                row[ix] = accumulate ? row[ix] + v : v;
            }
        }
    }
}

/* dw[c][ky][kx] += sum over images and output pixels of dy * the input pixel that tap
 * read, one tap of one channel per work-item, 8 output columns per vector step; the
 * per-image partial sums keep the float error small. Global: (KH*KW, C). */
__kernel void depthwise_backward_weight(__global const float *x, const int x_off, __global const float *dy,
                                        const int dy_off, __global float *dwt, const int dw_off,
                                        const int N, const int C, const int H, const int W, const int KH,
                                        const int KW, const int sh, const int sw, const int ph, const int pw,
                                        const int dh, const int dw, const int OH, const int OW) {
    const int q = get_global_id(0), c = get_global_id(1);
    if (q >= KH * KW || c >= C) return;
    const int ky = q / KW, kx = q - ky * KW, i0 = kx * dw - pw;
    const int2 run = dw_interior(i0, 1, 1, sw, W, OW); /* output columns whose tap reads inside the image */
    float total = 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *plane = x + x_off + (n * C + c) * H * W + i0;
        __global const float *g = dy + dy_off + (n * C + c) * OH * OW;
        float8 s8 = (float8)(0.0f);
        float s = 0.0f;
        for (int oy = 0; oy < OH; oy++) {
            const int iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= H) continue;
            __global const float *xr = plane + iy * W;
            __global const float *gr = g + oy * OW;
            int ox = run.x;
            for (; ox + 8 <= run.y; ox += 8) s8 = fma(vload8(0, gr + ox), DW_LOAD8(xr + ox * sw, sw), s8);
            for (; ox < run.y; ox++) s = fma(gr[ox], xr[ox * sw], s);
        }
        total += s + hsum8(s8);
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
