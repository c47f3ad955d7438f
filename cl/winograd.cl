/* winograd.cl: 3x3 stride-1 convolution by Winograd's F(4x4, 3x3) (Lavin & Gray 2016).
 * Each 4x4 block of output pixels (a tile) comes from a 6x6 input patch d:
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
 * so that per tile and channel pair the 36 products of the transformed domain replace
 * the 144 multiply-adds of the direct form; the sum over input channels becomes 36
 * independent GEMMs M[xi] = U[xi] V[xi] (xi = the 36 points of the 6x6 domain):
 *   U[xi][k][c]  transformed weights (winograd_weights), plane stride su
 *   V[xi][c][t]  transformed input patches, t = tile index (winograd_input), stride sv,
 *                stored as the GEMM's column panels
 *   M[xi][k][t]  their products, by the project's GEMM (host), stride sm
 * and winograd_output maps M back to pixels with the bias, residual and activation.
 * The interpolation points are 0, +-1, +-2 and infinity, the usual choice for fp32.
 *
 * Each work-item transforms WV neighbours at once (WV = 1, 4 or 8, a -D option), held
 * as the lanes of floatWV vectors: WV channels of one weight, or WV consecutive tiles.
 * On CPUs (WV 4 or 8) its 36 results then leave as 36 vector stores of WV contiguous
 * floats; one scalar store per point and item (36 interleaved streams of single
 * floats) measured 3x slower on PoCL. On GPUs (WV 1) a work-item keeps one tile or
 * filter, 36 floats, in registers, and neighbouring work-items store neighbouring
 * floats: 8 lanes of 36 points spilled on sm_90 and gfx90a, one lane fits in 48 to 56
 * registers on sm_90 (the ISA report, docs/GPU.md). */
#ifndef WV
#define WV 8
#endif
#if WV == 1
#define VT float
#define VI int
#define VLOAD(i, p) ((p)[i])
#define VSTORE(v, i, p) ((p)[i] = (v))
#define GATHER_LANES(f) f(0)
#elif WV == 8
#define VT float8
#define VI int8
#define VLOAD vload8
#define VSTORE vstore8
#define GATHER_LANES(f) f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7)
#else
#define VT float4
#define VI int4
#define VLOAD vload4
#define VSTORE vstore4
#define GATHER_LANES(f) f(0), f(1), f(2), f(3)
#endif
#define LANE_INDEX(l) l

/* The 1-D input transform B^T: 6 values to 6. */
#define WINO_BT(d0, d1, d2, d3, d4, d5, t)        \
    do {                                          \
        t[0] = 4.0f * d0 - 5.0f * d2 + d4;        \
        t[1] = -4.0f * (d1 + d2) + d3 + d4;       \
        t[2] = 4.0f * (d1 - d2) - d3 + d4;        \
        t[3] = 2.0f * (d3 - d1) - d2 + d4;        \
        t[4] = 2.0f * (d1 - d3) - d2 + d4;        \
        t[5] = 4.0f * d1 - 5.0f * d3 + d5;        \
    } while (0)

/* The 1-D output transform A^T: 6 values to 4. */
#define WINO_AT(m0, m1, m2, m3, m4, m5, o)                \
    do {                                                  \
        const VT s12 = m1 + m2, d12 = m1 - m2;            \
        const VT s34 = m3 + m4, d34 = m3 - m4;            \
        o[0] = m0 + s12 + s34;                            \
        o[1] = d12 + 2.0f * d34;                          \
        o[2] = s12 + 4.0f * s34;                          \
        o[3] = d12 + 8.0f * d34 + m5;                     \
    } while (0)

/* The 1-D weight transform G: 3 values to 6. */
#define WINO_G(g0, g1, g2, u)                                                   \
    do {                                                                        \
        u[0] = 0.25f * g0;                                                      \
        u[1] = (g0 + g1 + g2) * (-1.0f / 6.0f);                                 \
        u[2] = (g0 - g1 + g2) * (-1.0f / 6.0f);                                 \
        u[3] = g0 * (1.0f / 24.0f) + g1 * (1.0f / 12.0f) + g2 * (1.0f / 6.0f);  \
        u[4] = g0 * (1.0f / 24.0f) - g1 * (1.0f / 12.0f) + g2 * (1.0f / 6.0f);  \
        u[5] = g2;                                                              \
    } while (0)

/* out[i*NO + j] = (F in F^T)[i][j] for the NI x NI block in[i*NI + j]: the 1-D
 * transform F (NI values to NO, one of the WINO_* above or below) down every column,
 * then along every row. Every transform of this file is such a pair of passes. */
#define WINO_ARGS3(a, o, s) a[o], a[(o) + (s)], a[(o) + 2 * (s)]
#define WINO_ARGS4(a, o, s) WINO_ARGS3(a, o, s), a[(o) + 3 * (s)]
#define WINO_ARGS6(a, o, s) WINO_ARGS4(a, o, s), a[(o) + 4 * (s)], a[(o) + 5 * (s)]
#define WINO_CALL(F, ...) F(__VA_ARGS__) /* expands the WINO_ARGS list before F counts it */
#define WINO_2D(F, NI, NO, in, out)                                                        \
    do {                                                                                   \
        VT pass_[NO * NI]; /* pass_[i*NI + j]: F of column j */                            \
        _Pragma("unroll") for (int j_ = 0; j_ < NI; j_++) {                                \
            VT col_[NO];                                                                   \
            WINO_CALL(F, WINO_ARGS##NI(in, j_, NI), col_);                                 \
            _Pragma("unroll") for (int i_ = 0; i_ < NO; i_++) pass_[i_ * NI + j_] = col_[i_]; \
        }                                                                                  \
        _Pragma("unroll") for (int i_ = 0; i_ < NO; i_++)                                  \
            WINO_CALL(F, WINO_ARGS##NI(pass_, i_ * NI, 1), ((out) + i_ * NO));             \
    } while (0)

/* Store the 36 points r[] of WV neighbours at dst[xi * stride + 0 .. n-1] (n <= WV
 * valid lanes): vector stores when all lanes are valid. */
inline void store_points(__global float *dst, const int stride, VT r[36], const int n) {
    if (n == WV) {
#pragma unroll
        for (int xi = 0; xi < 36; xi++) VSTORE(r[xi], 0, dst + xi * stride);
        return;
    }
    for (int xi = 0; xi < 36; xi++) {
        float lanes[WV];
        VSTORE(r[xi], 0, lanes);
        for (int l = 0; l < n; l++) dst[xi * stride + l] = lanes[l];
    }
}

/* The 36 points r[] of WV neighbours from src[xi * stride + 0 .. n-1] (n <= WV valid
 * lanes, the others zero): store_points' inverse. */
inline void load_points(__global const float *src, const int stride, VT r[36], const int n) {
#pragma unroll
    for (int xi = 0; xi < 36; xi++) {
        if (n == WV) {
            r[xi] = VLOAD(0, src + xi * stride);
        } else {
            float lanes[WV];
#pragma unroll
            for (int l = 0; l < WV; l++) lanes[l] = l < n ? src[xi * stride + l] : 0.0f;
            r[xi] = VLOAD(0, lanes);
        }
    }
}

/* lanes[q][l] = (F r F^T)[q] of lane l for the 36 points r of WV neighbours at src
 * (load_points, n valid lanes), F a 1-D transform of 6 values to NO: the products of
 * the transformed domain back as NO x NO values per lane, spilled to a private array
 * so that each lane's can be stored on its own. */
#define POINTS_TO_LANES(F, NO, src, stride, n, lanes)                                  \
    do {                                                                              \
        VT mv_[36];                                                                   \
        load_points(src, stride, mv_, n);                                             \
        VT o_[NO * NO];                                                               \
        WINO_2D(F, 6, NO, mv_, o_);                                                   \
        _Pragma("unroll") for (int q_ = 0; q_ < NO * NO; q_++) VSTORE(o_[q_], 0, lanes[q_]); \
    } while (0)

/* U[xi][k][c] = (G g G^T)[xi] for the 3x3 filters g = w[k][c], filter (k, c) at
 * w + k * ks + c * cs and its values at q0 + q * qs (q = 0..8 in row-major order):
 * w [K, C, 3, 3] as stored (ks = 9C, cs = 9, q0 = 0, qs = 1), or the weight [C, K, 3, 3]
 * of the convolution whose input gradient this forward computes, transposed and turned
 * by 180 degrees as it is read (ks = 9, cs = 9K, q0 = 8, qs = -1), with no flipped copy.
 * A work-item does channels c0 .. c0+WV-1 of filter k for c0 = get_global_id(0) * WV,
 * stepping by the global width: the host runs a whole row per work-item on CPUs, where
 * a work-group per eight filters cost more in scheduling than the transform itself.
 * Global: (<= ceil(C / WV), K). */
__kernel void winograd_weights(__global const float *w, const int w_off, __global float *u, const int u_off,
                               const int su, const int K, const int C, const int ks, const int cs, const int q0,
                               const int qs) {
    const int k = get_global_id(1), step = get_global_size(0) * WV;
    if (k >= K) return;
    for (int c0 = get_global_id(0) * WV; c0 < C; c0 += step) {
        const int n = min(WV, C - c0);
        __global const float *g = w + w_off + k * ks + c0 * cs + q0;
        /* Each lane's filter, gathered straight into the vectors as winograd_input gathers
         * its tiles. Lanes past C repeat the last filter: store_points keeps only n lanes. */
        int at[WV];
#pragma unroll
        for (int l = 0; l < WV; l++) at[l] = min(l, n - 1) * cs;
        VT gv[9];
#pragma unroll
        for (int q = 0; q < 9; q++) {
#define LANE_AT(l) g[at[l] + q * qs]
            gv[q] = (VT)(GATHER_LANES(LANE_AT));
#undef LANE_AT
        }
        VT r[36];
        WINO_2D(WINO_G, 3, 6, gv, r);
        store_points(u + u_off + k * C + c0, su, r, n);
    }
}

/* Tile t = t0 + l (callers keep t < T): image n, tile row ty and column tx. */
inline void tile_of(const int t0, const int l, const int TH, const int TW, int *n, int *ty, int *tx) {
    const int t = t0 + l, per_image = TH * TW;
    *n = t / per_image;
    const int rem = t - *n * per_image;
    *ty = rem / TW;
    *tx = rem - *ty * TW;
}

/* xp = x zero-padded to Hp x Wp (TH*4 + 2 by TW*4 + 2: every tile's 6x6 patch), the
 * image at (ph, pw): winograd_input then reads every patch without bounds checks, which
 * cost it 40 % of its time on borders (and for images under 6 pixels, on every tile).
 * A work-item writes one padded row: zeros, the image row, zeros, as plain loops that
 * the compiler vectorises (a work-item per pixel with clamped reads ran 5x slower on
 * PoCL). Global: (Hp, planes). */
__kernel void winograd_pad(__global const float *x, const int x_off, __global float *xp, const int xp_off,
                           const int H, const int W, const int ph, const int pw, const int Hp, const int Wp,
                           const int planes) {
    const int yy = get_global_id(0), pl = get_global_id(1);
    if (yy >= Hp || pl >= planes) return;
    __global float *dst = xp + xp_off + (pl * Hp + yy) * Wp;
    const int iy = yy - ph;
    const int x0 = iy >= 0 && iy < H ? min(pw, Wp) : Wp;    /* first column of image data */
    const int x1 = iy >= 0 && iy < H ? min(pw + W, Wp) : Wp; /* one past its last */
    for (int xx = 0; xx < x0; xx++) dst[xx] = 0.0f;
    if (x1 > x0) {
        __global const float *src = x + x_off + (pl * H + iy) * W;
        for (int xx = x0; xx < x1; xx++) dst[xx] = src[xx - pw];
    }
    for (int xx = x1; xx < Wp; xx++) dst[xx] = 0.0f;
}

/* V[xi] = (B^T d B)[xi] for the 6x6 patch d of channel c at tile t, which starts at
 * pixel (ty*4, tx*4) of image n of the padded input xp (winograd_pad), t = (n*TH + ty)*TW
 * + tx (T tiles in this chunk). Each plane V[xi] (C x T, the GEMM's B) is stored as the
 * GEMM's column panels, [t / TN][c][t % TN] with TN = tn, so that the GEMM reads it
 * without a packing copy; columns past T in the last panel are zeros (the weight
 * gradient sums over them). A work-item does the WV consecutive tiles t0 .. t0+WV-1,
 * across tile rows and images (WV divides tn, so they share a panel): each point's WV
 * lanes are gathered straight into a vector, and its 36 results leave as full vector
 * stores whatever the width of the tile grid. Global: (ceil(T / tn) * tn / WV, C). */
__kernel void winograd_input(__global const float *xp, const int xp_off, __global float *v, const int v_off,
                             const int sv, const int C, const int Hp, const int Wp, const int TH, const int TW,
                             const int T, const int tn) {
    const int t0 = get_global_id(0) * WV, c = get_global_id(1);
    if (t0 >= (T + tn - 1) / tn * tn || c >= C) return;
    int at[WV]; /* each lane's patch corner in xp; lanes past T repeat the last tile, then read as 0 */
#pragma unroll
    for (int l = 0; l < WV; l++) {
        int n, ty, tx;
        tile_of(t0, min(l, T - 1 - t0), TH, TW, &n, &ty, &tx);
        at[l] = xp_off + ((n * C + c) * Hp + ty * 4) * Wp + tx * 4;
    }
    const VI live = (VI)(GATHER_LANES(LANE_INDEX)) < (VI)(T - t0);
    VT pv[36];
#pragma unroll
    for (int i = 0; i < 6; i++)
#pragma unroll
        for (int j = 0; j < 6; j++) {
            const int o = i * Wp + j;
#define LANE_AT(l) xp[at[l] + o]
            pv[i * 6 + j] = select((VT)(0.0f), (VT)(GATHER_LANES(LANE_AT)), live);
#undef LANE_AT
        }
    VT r[36];
    WINO_2D(WINO_BT, 6, 6, pv, r);
    store_points(v + v_off + ((t0 / tn) * C + c) * tn + t0 % tn, sv, r, WV);
}

/* y[n][k][4ty + i][4tx + j] = act((A^T M A)[i][j] + bias[k] + residual) for the pixels of
 * tiles inside the OH x OW output, M[xi][k][t] as above (T tiles in this chunk); bias
 * and residual may be NULL. A work-item does the WV consecutive tiles t0 .. t0+WV-1 (as
 * winograd_input), so that it reads M as full vectors. Global: (ceil(T / WV), K). */
__kernel void winograd_output(__global const float *m, const int m_off, const int sm, __global float *y,
                              const int y_off, __global const float *bias, const int bias_off,
                              __global const float *res, const int res_off, const int act,
                              const int K, const int OH, const int OW, const int TH, const int TW, const int T) {
    const int t0 = get_global_id(0) * WV, k = get_global_id(1);
    if (t0 >= T || k >= K) return;
    const int nt = WV == 1 ? 1 : min(WV, T - t0); /* t0 < T: one lane is always live */
    float px[16][WV]; /* px[i*4 + j][lane]: pixel (i, j) of each lane's tile */
    POINTS_TO_LANES(WINO_AT, 4, m + m_off + k * T + t0, sm, nt, px);
    const float b = bias ? bias[bias_off + k] : 0.0f;
    for (int l = 0; l < nt; l++) {
        int n, ty, tx;
        tile_of(t0, l, TH, TW, &n, &ty, &tx);
        const int oy0 = ty * 4, ox0 = tx * 4;
        const int rows = min(4, OH - oy0), cols = min(4, OW - ox0);
        const int base = ((n * K + k) * OH + oy0) * OW + ox0;
        if (rows == 4 && cols == 4) { /* a whole tile: its rows as vectors */
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int at = base + i * OW;
                float4 o = (float4)(px[i * 4][l], px[i * 4 + 1][l], px[i * 4 + 2][l], px[i * 4 + 3][l]) + b;
                if (res) o += vload4(0, res + res_off + at);
                o = (float4)(apply_act(o.s0, act), apply_act(o.s1, act), apply_act(o.s2, act), apply_act(o.s3, act));
                vstore4(o, 0, y + y_off + at);
            }
            continue;
        }
#pragma unroll
        for (int i = 0; i < 4; i++) /* unrolled, so that px's indexes are constants */
#pragma unroll
            for (int j = 0; j < 4; j++) {
                if (i >= rows || j >= cols) continue;
                const int at = base + i * OW + j;
                float val = px[i * 4 + j][l] + b;
                if (res) val += res[res_off + at];
                y[y_off + at] = apply_act(val, act);
            }
    }
}

/* ---- the weight gradient, by F(3x3, 4x4) ----
 * dw[k][c] is the correlation of x[c] with dy[k], a 3x3 result per channel pair. Each
 * 4x4 tile f of dy[k] meets the 6x6 patch d of x[c] that the forward's tile reads, and
 * adds sum_ij f[i][j] d[i+r][j+s] to dw[k][c][r][s]. That is the forward's F(4x4, 3x3)
 * with the roles of filter and output exchanged, on the same points, so
 *   dw[k][c] = G^T [ sum_t (A f_t A^T) .* (B^T d_t B) ] G,
 * the sum over the tiles t of the batch being 36 GEMMs over t:
 *   Y[xi][t][k]  transformed dy tiles (winograd_dy), GEMM column panels over k
 *   V[xi][c][t]  winograd_input's patches, as a plain [c][t] matrix
 *   M[xi][c][k]  their products summed over t (host GEMM)
 * and winograd_wgrad_output maps M to dw. */

/* The 1-D transform A (6x4), the adjoint of A^T: a tile row's 4 values at the points
 * 0, 1, -1, 2, -2 and infinity. */
#define WINO_A(f0, f1, f2, f3, e)                                   \
    do {                                                            \
        const VT s02 = f0 + f2, s13 = f1 + f3;                      \
        const VT q02 = f0 + 4.0f * f2, q13 = 2.0f * f1 + 8.0f * f3; \
        e[0] = f0;                                                  \
        e[1] = s02 + s13;                                           \
        e[2] = s02 - s13;                                           \
        e[3] = q02 + q13;                                           \
        e[4] = q02 - q13;                                           \
        e[5] = f3;                                                  \
    } while (0)

/* The 1-D transform G^T (3x6), the adjoint of G: 6 values to 3. */
#define WINO_GT(m0, m1, m2, m3, m4, m5, o)                                       \
    do {                                                                         \
        const VT s12 = m1 + m2, s34 = m3 + m4;                                   \
        o[0] = 0.25f * m0 - s12 * (1.0f / 6.0f) + s34 * (1.0f / 24.0f);          \
        o[1] = (m2 - m1) * (1.0f / 6.0f) + (m3 - m4) * (1.0f / 12.0f);           \
        o[2] = (s34 - s12) * (1.0f / 6.0f) + m5;                                 \
    } while (0)

/* Y[xi][t][k] = (A f A^T)[xi] for the 4x4 tile f of dy[n][k] at tile t (as
 * winograd_input's t; zeros outside the OH x OW image), stored as GEMM column panels
 * over k, [k / tn][t][k % tn] (T rows per panel), channels past K as zeros. A work-item
 * does channels k0 .. k0+WV-1 of tile t for k0 = get_global_id(0) * WV, stepping by the
 * global width (see winograd_weights). Global: (<= ceil(K / tn) * tn / WV, T). */
__kernel void winograd_dy(__global const float *dy, const int dy_off, __global float *y, const int y_off,
                          const int sy, const int K, const int OH, const int OW, const int TH, const int TW,
                          const int T, const int tn) {
    const int t = get_global_id(1), kp = (K + tn - 1) / tn * tn, step = get_global_size(0) * WV;
    if (t >= T) return;
    int n, ty, tx;
    tile_of(t, 0, TH, TW, &n, &ty, &tx);
    const int oy0 = ty * 4, ox0 = tx * 4, rows = min(4, OH - oy0), cols = min(4, OW - ox0);
    for (int k0 = get_global_id(0) * WV; k0 < kp; k0 += step) {
        float f[16][WV]; /* f[i*4 + j][lane] */
#pragma unroll
        for (int l = 0; l < WV; l++) {
            __global const float *src = dy + dy_off + ((n * K + k0 + l) * OH + oy0) * OW + ox0;
            if (k0 + l < K && rows == 4 && cols == 4) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const float4 r = vload4(0, src + i * OW);
                    f[i * 4][l] = r.s0;
                    f[i * 4 + 1][l] = r.s1;
                    f[i * 4 + 2][l] = r.s2;
                    f[i * 4 + 3][l] = r.s3;
                }
                continue;
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) f[i * 4 + j][l] = k0 + l < K && i < rows && j < cols ? src[i * OW + j] : 0.0f;
        }
        VT fv[16], r[36];
#pragma unroll
        for (int q = 0; q < 16; q++) fv[q] = VLOAD(0, f[q]);
        WINO_2D(WINO_A, 4, 6, fv, r);
        store_points(y + y_off + ((k0 / tn) * T + t) * tn + k0 % tn, sy, r, WV);
    }
}

/* dw[k][c] += G^T M[.][c][k] G for M[xi][c][k] (plane stride sm), dw [K, C, 3, 3]. A
 * work-item does channels k0 .. k0+WV-1 of input channel c, k0 stepping as in
 * winograd_dy. Global: (<= ceil(K / WV), C). */
__kernel void winograd_wgrad_output(__global const float *m, const int m_off, const int sm, __global float *dw,
                                    const int dw_off, const int K, const int C) {
    const int c = get_global_id(1), step = get_global_size(0) * WV;
    if (c >= C) return;
    for (int k0 = get_global_id(0) * WV; k0 < K; k0 += step) {
        const int nk = WV == 1 ? 1 : min(WV, K - k0); /* k0 < K: one lane is always live */
        float g[9][WV]; /* g[r*3 + s][lane] */
        POINTS_TO_LANES(WINO_GT, 3, m + m_off + c * K + k0, sm, nk, g);
        for (int l = 0; l < nk; l++) {
            __global float *dst = dw + dw_off + ((k0 + l) * C + c) * 9;
#pragma unroll
            for (int q = 0; q < 9; q++) dst[q] += g[q][l];
        }
    }
}
