/* winograd.cl: 3x3 stride-1 convolution by Winograd's F(4x4, 3x3) (Lavin & Gray 2016).
 * Each 4x4 block of output pixels (a tile) comes from a 6x6 input patch d:
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
 * so that per tile and channel pair the 36 products of the transformed domain replace
 * the 144 multiply-adds of the direct form; the sum over input channels becomes 36
 * independent GEMMs M[xi] = U[xi] V[xi] (xi = the 36 points of the 6x6 domain):
 *   U[xi][k][c]  transformed weights (winograd_weights), plane stride su
 *   V[xi][c][t]  transformed input patches, t = tile index (winograd_input), stride sv
 *   M[xi][k][t]  their products, by the project's GEMM (host), stride sm
 * and winograd_output maps M back to pixels with the bias, residual and activation.
 * The interpolation points are 0, +-1, +-2 and infinity, the usual choice for fp32.
 *
 * Each work-item transforms WV neighbours at once (WV = 4 or 8, a -D option), held as
 * the lanes of floatWV vectors: WV channels of one weight, or WV tiles of one row of
 * tiles. Its 36 results then leave as 36 vector stores of WV contiguous floats; one
 * scalar store per point and item (36 interleaved streams of single floats) measured
 * 3x slower on PoCL. */
#ifndef WV
#define WV 8
#endif
#if WV == 8
#define VT float8
#define VLOAD vload8
#define VSTORE vstore8
#else
#define VT float4
#define VLOAD vload4
#define VSTORE vstore4
#endif

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

/* U[xi][k][c] = (G w[k][c] G^T)[xi] for w [K, C, 3, 3]; a work-item does channels
 * c0 .. c0+WV-1 of weight k. Global: (ceil(C / WV), K). */
__kernel void winograd_weights(__global const float *w, const int w_off, __global float *u, const int u_off,
                               const int su, const int K, const int C) {
    const int c0 = get_global_id(0) * WV, k = get_global_id(1);
    if (c0 >= C || k >= K) return;
    const int n = min(WV, C - c0);
    __global const float *g = w + w_off + (k * C + c0) * 9;
    VT gv[9];
#pragma unroll
    for (int q = 0; q < 9; q++) {
        float lanes[WV];
#pragma unroll
        for (int l = 0; l < WV; l++) lanes[l] = l < n ? g[l * 9 + q] : 0.0f;
        gv[q] = VLOAD(0, lanes);
    }
    VT t[6][3]; /* G g */
#pragma unroll
    for (int j = 0; j < 3; j++) {
        VT col[6];
        WINO_G(gv[j], gv[3 + j], gv[6 + j], col);
#pragma unroll
        for (int i = 0; i < 6; i++) t[i][j] = col[i];
    }
    VT r[36];
#pragma unroll
    for (int i = 0; i < 6; i++) WINO_G(t[i][0], t[i][1], t[i][2], (r + i * 6));
    store_points(u + u_off + k * C + c0, su, r, n);
}

/* V[xi][c][t] = (B^T d B)[xi] for the 6x6 patch d of channel c at tile t, which starts at
 * input pixel (ty*4 - ph, tx*4 - pw); pixels outside the image read as zero. Tile t of
 * this chunk's image n is t = (n*TH + ty)*TW + tx (T tiles in all). A work-item does tiles tx0 .. tx0+WV-1
 * of one row of tiles, whose patches share their input rows.
 * Global: (ceil(TW / WV), TH, C * images in this chunk). */
__kernel void winograd_input(__global const float *x, const int x_off, __global float *v, const int v_off,
                             const int sv, const int C, const int H, const int W, const int ph, const int pw,
                             const int TH, const int TW, const int T) {
    const int tx0 = get_global_id(0) * WV, ty = get_global_id(1), nc = get_global_id(2);
    if (tx0 >= TW || ty >= TH) return;
    const int n = nc / C, c = nc - n * C;
    __global const float *plane = x + x_off + nc * H * W;
    const int iy0 = ty * 4 - ph, ix0 = tx0 * 4 - pw;
    VT d[6][6];
#pragma unroll
    for (int i = 0; i < 6; i++) {
        const int iy = iy0 + i;
        float row[4 * WV + 2]; /* the input row under all WV patches */
        const int in = iy >= 0 && iy < H;
#pragma unroll
        for (int q = 0; q < 4 * WV + 2; q++) {
            const int ix = ix0 + q;
            row[q] = in && ix >= 0 && ix < W ? plane[iy * W + ix] : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < 6; j++) {
            float lanes[WV];
#pragma unroll
            for (int l = 0; l < WV; l++) lanes[l] = row[4 * l + j];
            d[i][j] = VLOAD(0, lanes);
        }
    }
    VT t[6][6]; /* B^T d */
#pragma unroll
    for (int j = 0; j < 6; j++) {
        VT col[6];
        WINO_BT(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], col);
#pragma unroll
        for (int i = 0; i < 6; i++) t[i][j] = col[i];
    }
    VT r[36];
#pragma unroll
    for (int i = 0; i < 6; i++) WINO_BT(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], (r + i * 6));
    const int tile = (n * TH + ty) * TW + tx0;
    store_points(v + v_off + c * T + tile, sv, r, min(WV, TW - tx0));
}

/* y[n][k][4ty + i][4tx + j] = act((A^T M A)[i][j] + bias[k] + residual) for the pixels of
 * tiles inside the OH x OW output, M[xi][k][t] as above (T tiles in this chunk); bias
 * and residual may be NULL. A work-item does tiles tx0 .. tx0+WV-1 of one row of tiles.
 * Global: (ceil(TW / WV), TH, K * images in this chunk). */
__kernel void winograd_output(__global const float *m, const int m_off, const int sm, __global float *y,
                              const int y_off, __global const float *bias, const int bias_off,
                              __global const float *res, const int res_off, const int act,
                              const int K, const int OH, const int OW, const int TH, const int TW, const int T) {
    const int tx0 = get_global_id(0) * WV, ty = get_global_id(1), nk = get_global_id(2);
    if (tx0 >= TW || ty >= TH) return;
    const int n = nk / K, k = nk - n * K;
    const int nt = min(WV, TW - tx0);
    __global const float *src = m + m_off + k * T + (n * TH + ty) * TW + tx0;
    VT mv[36];
#pragma unroll
    for (int xi = 0; xi < 36; xi++) {
        if (nt == WV) {
            mv[xi] = VLOAD(0, src + xi * sm);
        } else {
            float lanes[WV];
#pragma unroll
            for (int l = 0; l < WV; l++) lanes[l] = l < nt ? src[xi * sm + l] : 0.0f;
            mv[xi] = VLOAD(0, lanes);
        }
    }
    VT t[4][6]; /* A^T M */
#pragma unroll
    for (int j = 0; j < 6; j++) {
        VT col[4];
        WINO_AT(mv[j], mv[6 + j], mv[12 + j], mv[18 + j], mv[24 + j], mv[30 + j], col);
#pragma unroll
        for (int i = 0; i < 4; i++) t[i][j] = col[i];
    }
    const float b = bias ? bias[bias_off + k] : 0.0f;
    const int ox0 = tx0 * 4, nx = min(4 * WV, OW - ox0);
    const int base = nk * OH * OW;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int oy = ty * 4 + i;
        if (oy >= OH) break;
        VT o[4];
        WINO_AT(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], o);
        float px[4 * WV]; /* the output row's pixels, lane l's tile at 4l .. 4l+3 */
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float lanes[WV];
            VSTORE(o[j], 0, lanes);
#pragma unroll
            for (int l = 0; l < WV; l++) px[4 * l + j] = lanes[l];
        }
        const int row = base + oy * OW + ox0;
        for (int q = 0; q < nx; q++) {
            float val = px[q] + b;
            if (res) val += res[res_off + row + q];
            y[y_off + row + q] = apply_act(val, act);
        }
    }
}
