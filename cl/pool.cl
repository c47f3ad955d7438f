/* pool.cl: max and average pooling, global average pooling, and their backward.
 * The forward runs one work-item per output element; the backward scatters each
 * window's gradient (see pool2d_backward), which costs one window per output where
 * the gather form cost every input element a division and wy x wx window lookups. */

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
 * window (which the output-size rules exclude). Selects, not branches: maxima of
 * unordered data mispredicted one branch in two. */
inline int window_argmax(__global const float *plane, const int W, const pool_window w) {
    int best = w.ys < w.ye && w.xs < w.xe ? w.ys * W + w.xs : -1;
    float m = -INFINITY;
    for (int iy = w.ys; iy < w.ye; iy++)
        for (int ix = w.xs; ix < w.xe; ix++) {
            const float v = plane[iy * W + ix];
            const int take = v > m || isnan(v);
            m = take ? v : m;
            best = take ? iy * W + ix : best;
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

/* m after candidate v by pool2d's rule `v > max || isnan(v)`: the NaN-propagating
 * maximum, NaN once any candidate was NaN. */
inline float nanmax(const float v, const float m) { return v > m || isnan(v) ? v : m; }

/* Max pooling with windows of at most 3x3 (ResNet's stem pool, 2x2 pools): pool2d's
 * loops with fixed bounds and masks, so that no loop is left and PoCL vectorises the
 * kernel (about twice as fast). Masked lanes read the window's first element again,
 * which changes neither the maximum nor whether it is NaN. Global: exactly (OW, OH, N*C), with no
 * local size: like a branch, a bounds check would keep PoCL from vectorising. */
__kernel void pool2d_max3(__global const float *x, const int x_off, __global float *y, const int y_off,
                          const int H, const int W, const int OH, const int OW, const int kh, const int kw,
                          const int sh, const int sw, const int ph, const int pw) {
    const int ox = get_global_id(0), oy = get_global_id(1), nc = get_global_id(2);
    const pool_window w = window_at(oy, ox, H, W, kh, kw, sh, sw, ph, pw, 0);
    __global const float *plane = x + x_off + nc * H * W;
    float m = -INFINITY;
    for (int jy = 0; jy < 3; jy++)
        for (int jx = 0; jx < 3; jx++) {
            const int iy = w.ys + jy, ix = w.xs + jx, in = iy < w.ye && ix < w.xe;
            m = nanmax(plane[in ? iy * W + ix : w.ys * W + w.xs], m);
        }
    y[y_off + nc * OH * OW + oy * OW + ox] = m;
}

/* nanmax of vectors. */
inline float8 nanmax8(const float8 v, const float8 m) { return select(m, v, (v > m) | isnan(v)); }

/* Columns 2ox .. 2ox+15 (lo, hi) as the even columns 2(ox+j), the odd ones 2(ox+j)+1,
 * and the odd ones before, 2(ox+j)-1, whose first is `carry` (the previous block's last
 * odd column): the three members of each stride-2 window of width 3. shuffle2 of two
 * defined vectors, not .even/.odd, whose undefined second operand Oclgrind counts as
 * uninitialised. */
inline void window_columns(const float8 lo, const float8 hi, const float carry, float8 *even, float8 *odd,
                           float8 *before) {
    *even = shuffle2(lo, hi, (uint8)(0, 2, 4, 6, 8, 10, 12, 14));
    *odd = shuffle2(lo, hi, (uint8)(1, 3, 5, 7, 9, 11, 13, 15));
    *before = shuffle2((float8)(carry), *odd, (uint8)(0, 8, 9, 10, 11, 12, 13, 14));
}

/* The ResNet stem's max pool (3x3, stride 2, padding 1) a row of outputs per
 * work-item, 8 at a time: the column maxima of the window's three input rows over 16
 * columns (six float8 loads), then each output the maximum of three neighbouring
 * column maxima, from the even and odd lanes and the previous block's last odd lane:
 * a third of the loads pool2d_max3 makes. An input row or column outside the image is
 * replaced by a neighbour inside the same window: repeating a member changes neither
 * the maximum nor whether it is NaN. The outputs past the last whole block of 8 take
 * the window loop. Global: (OH, N*C). */
__kernel void pool2d_max3s2(__global const float *x, const int x_off, __global float *y, const int y_off,
                            const int H, const int W, const int OH, const int OW) {
    const int oy = get_global_id(0), nc = get_global_id(1);
    if (oy >= OH) return;
    __global const float *plane = x + x_off + nc * H * W;
    const int iy = 2 * oy - 1; /* the window's rows iy .. iy+2 hold at least one inside */
    __global const float *r0 = plane + clamp(iy, 0, H - 1) * W;
    __global const float *r1 = plane + clamp(iy + 1, 0, H - 1) * W;
    __global const float *r2 = plane + clamp(iy + 2, 0, H - 1) * W;
    __global float *out = y + y_off + (nc * OH + oy) * OW;
    /* column -1 of the first window: padding, so column 0 stands in */
    float carry = nanmax(r2[0], nanmax(r1[0], r0[0]));
    int ox = 0;
    for (; ox + 8 <= OW && 2 * ox + 16 <= W; ox += 8) { /* outputs ox .. ox+7: columns 2ox-1 .. 2ox+15 */
        const int c0 = 2 * ox, c1 = c0 + 8;
        const float8 lo = nanmax8(nanmax8(vload8(0, r0 + c0), vload8(0, r1 + c0)), vload8(0, r2 + c0));
        const float8 hi = nanmax8(nanmax8(vload8(0, r0 + c1), vload8(0, r1 + c1)), vload8(0, r2 + c1));
        float8 e, o, before;
        window_columns(lo, hi, carry, &e, &o, &before);
        vstore8(nanmax8(nanmax8(e, o), before), 0, out + ox);
        carry = o.s7;
    }
    for (; ox < OW; ox++) {
        float m = -INFINITY;
        for (int ix = max(2 * ox - 1, 0); ix <= min(2 * ox + 1, W - 1); ix++)
            m = nanmax(r2[ix], nanmax(r1[ix], nanmax(r0[ix], m)));
        out[ox] = m;
    }
}

/* pool2d_max3s2's backward, one output row per work-item in the two phases of
 * pool2d_backward (even rows, then odd: windows of one phase share no input row), 8
 * windows at a time: each window's argmax from the same even/odd column split as the
 * forward, candidates taken in pool2d's row-major order with its rule (`v > max ||
 * isnan(v)`), those outside the input never; then each lane adds its dy at its argmax.
 * The windows past the last whole block of 8 take window_argmax. It takes
 * pool2d_backward's arguments up to accumulate. Global: (rows of the phase, N*C). */
__kernel void pool2d_max3s2_backward(__global const float *x, const int x_off, __global const float *dy,
                                     const int dy_off, __global float *dx, const int dx_off, const int H,
                                     const int W, const int OH, const int OW, const int phase, const int accumulate) {
    const int oy = phase + 2 * get_global_id(0), nc = get_global_id(1);
    if (oy >= OH) return;
    __global const float *plane = x + x_off + nc * H * W;
    __global const float *g = dy + dy_off + (nc * OH + oy) * OW;
    __global float *d = dx + dx_off + nc * H * W;
    const int iy = 2 * oy - 1; /* the window's rows: iy .. iy+2, of which iy+1 is always inside */
    if (phase == 0 && !accumulate) { /* this row's band up to the next even row's first */
        const int y1 = oy + 2 >= OH ? H : iy + 4;
        for (int i = max(iy, 0) * W; i < y1 * W; i++) d[i] = 0.0f;
    }
    __global const float *rows[3] = {plane + max(iy, 0) * W, plane + (iy + 1) * W, plane + min(iy + 2, H - 1) * W};
    const int row_in[3] = {iy >= 0, 1, iy + 2 < H};
    float carry[3] = {0.0f, 0.0f, 0.0f}; /* column 2ox-1 of each row: the previous block's last odd lane */
    int ox = 0;
    for (; ox + 8 <= OW && 2 * ox + 16 <= W; ox += 8) { /* outputs ox .. ox+7: columns 2ox-1 .. 2ox+15 */
        /* at = 3 * row + column of each lane's maximum, relative to row iy and column
         * 2ox-1; it starts at the window's first member inside the input, as in
         * window_argmax, and m at -infinity */
        float8 m = (float8)(-INFINITY);
        int8 at = (int8)(row_in[0] ? 0 : 3);
        if (ox == 0) at.s0 += 1;
#pragma unroll
        for (int r = 0; r < 3; r++) {
            float8 e, o, before;
            window_columns(vload8(0, rows[r] + 2 * ox), vload8(0, rows[r] + 2 * ox + 8), carry[r], &e, &o, &before);
            carry[r] = o.s7;
            const int8 in = (int8)(row_in[r] ? -1 : 0);
            const int8 before_in = ox == 0 ? in & (int8)(0, -1, -1, -1, -1, -1, -1, -1) : in;
            const float8 cand[3] = {before, e, o};
            const int8 cand_in[3] = {before_in, in, in};
#pragma unroll
            for (int c = 0; c < 3; c++) {
                const int8 take = cand_in[c] & ((cand[c] > m) | isnan(cand[c]));
                m = select(m, cand[c], take);
                at = select(at, (int8)(3 * r + c), take);
            }
        }
        int lane_at[8];
        vstore8(at, 0, lane_at);
        for (int l = 0; l < 8; l++)
            d[(iy + lane_at[l] / 3) * W + 2 * (ox + l) - 1 + lane_at[l] % 3] += g[ox + l];
    }
    for (; ox < OW; ox++) {
        const int best = window_argmax(plane, W, window_at(oy, ox, H, W, 3, 3, 2, 2, 1, 1, 0));
        if (best >= 0) d[best] += g[ox];
    }
}

/* Scatter form in wy = ceil(kh / sh) phases, no atomics: phase q handles the output
 * rows oy = q, q + wy, q + 2 wy, ..., whose windows share no input row, and one
 * work-item owns a whole output row (its windows overlap along x), so no two
 * work-items of a launch write the same dx element. A window adds its dy to its
 * maximum (max: found here from x, once per window) or dy / count to each of its
 * elements (average). Phase 0 first clears its band of input rows (unless
 * accumulate): rows [oy sh - ph, (oy + wy) sh - ph), to the end for the last band,
 * which holds every row the windows oy .. oy + wy - 1 touch; later phases only add.
 * Global: (ceil((OH - phase) / wy), N*C). */
__kernel void pool2d_backward(__global const float *x, const int x_off, __global const float *dy, const int dy_off,
                              __global float *dx, const int dx_off, const int H, const int W, const int OH,
                              const int OW, const int phase, const int accumulate, const int kh, const int kw,
                              const int sh, const int sw, const int ph, const int pw, const int wy, const int mode,
                              const int count_include_pad) {
    const int r = get_global_id(0), nc = get_global_id(1);
    const int oy = phase + r * wy;
    if (oy >= OH) return;
    __global const float *xp = x + x_off + nc * H * W;
    __global const float *g = dy + dy_off + (nc * OH + oy) * OW;
    __global float *d = dx + dx_off + nc * H * W;
    if (phase == 0 && !accumulate) {
        const int y0 = max(oy * sh - ph, 0), y1 = oy + wy >= OH ? H : min((oy + wy) * sh - ph, H);
        for (int i = y0 * W; i < y1 * W; i++) d[i] = 0.0f;
    }
    for (int ox = 0; ox < OW; ox++) {
        const pool_window w = window_at(oy, ox, H, W, kh, kw, sh, sw, ph, pw, count_include_pad);
        if (mode == POOL_MAX) {
            const int best = window_argmax(xp, W, w);
            if (best >= 0) d[best] += g[ox];
        } else {
            const float v = w.count > 0 ? g[ox] / (float)w.count : 0.0f;
            for (int iy = w.ys; iy < w.ye; iy++)
                for (int ix = w.xs; ix < w.xe; ix++) d[iy * W + ix] += v;
        }
    }
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
