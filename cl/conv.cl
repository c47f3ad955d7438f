/* conv.cl: im2col for convolution as GEMM (col2im and the bias gradient: conv_backward.cl).
 * Row r = (c * KH + ky) * KW + kx of the column matrix holds, for output pixel
 * p = oy * OW + ox, the input x[n][c][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw]
 * (zero outside the image). */

/* The output columns [lo, hi) whose input column ox*s + i0 lies inside [0, W), clamped
 * to [0, O): the rest of a row reads the zero padding. */
inline int2 im2col_valid(int i0, int s, int W, int O) {
    const int lo = min(i0 >= 0 ? 0 : (s - 1 - i0) / s, O);
    const int hi = min(W - i0 <= 0 ? 0 : (W - i0 + s - 1) / s, O);
    return (int2)(lo, max(lo, hi));
}

/* The [n][r][p] layout (the forward's GEMM B operand, unit stride in p): one work-item
 * per (block of `rows` output rows, column row r, image n) writes, for each output row
 * oy of its block, the OW contiguous values of that row, zeros for the padding and a
 * (strided) copy of one input row between: no per-element index arithmetic. A block of
 * rows, not one, so that small images still give each work-item a few hundred values
 * (one 24-value row per work-item ran at a quarter of the speed on PoCL).
 * Global: (ceil(OH / rows), C*KH*KW, images in this chunk). */
__kernel void im2col_rows(__global const float *x, const int x_off, __global float *col, const int col_off,
                          const int csn, const int csr,
                          const int C, const int H, const int W, const int KH, const int KW,
                          const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,
                          const int OH, const int OW, const int rows) {
    const int oy0 = get_global_id(0) * rows, r = get_global_id(1), n = get_global_id(2);
    if (oy0 >= OH || r >= C * KH * KW) return;
    const int c = r / (KH * KW), kk = r - c * (KH * KW);
    const int ky = kk / KW, kx = kk - ky * KW;
    const int i0 = kx * dw - pw;
    const int2 inside = im2col_valid(i0, sw, W, OW); /* the same for every row */
    __global const float *plane = x + x_off + (n * C + c) * H * W + i0;
    const int oy1 = min(OH, oy0 + rows);
    for (int oy = oy0; oy < oy1; oy++) {
        const int iy = oy * sh - ph + ky * dh;
        __global float *dst = col + col_off + n * csn + r * csr + oy * OW;
        const int2 v = iy >= 0 && iy < H ? inside : (int2)(OW, OW);
        for (int ox = 0; ox < v.x; ox++) dst[ox] = 0.0f;
        if (v.y > v.x) {
            __global const float *src = plane + iy * W;
            if (sw == 1)
                for (int ox = v.x; ox < v.y; ox++) dst[ox] = src[ox];
            else
                for (int ox = v.x; ox < v.y; ox++) dst[ox] = src[ox * sw];
        }
        for (int ox = v.y; ox < OW; ox++) dst[ox] = 0.0f;
    }
}

/* The GPU family's im2col, any layout col[col_off + n*csn + r*csr + p*csp]: one value
 * per work-item, dimension 0 along the layout's unit stride (p when p_fast, else r), so
 * that neighbouring work-items store neighbouring floats and, along p, read input
 * pixels sw apart. The row kernels above give each work-item a run of hundreds of
 * values, which suits PoCL, but on a GPU makes neighbouring work-items write a whole
 * row apart. Global: (P or R, R or P, images in this chunk), R = C*KH*KW, P = OH*OW. */
__kernel void im2col_elems(__global const float *x, const int x_off, __global float *col, const int col_off,
                           const int csn, const int csr, const int csp,
                           const int C, const int H, const int W, const int KH, const int KW,
                           const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,
                           const int OH, const int OW, const int p_fast) {
    const int R = C * KH * KW, P = OH * OW, n = get_global_id(2);
    const int p = p_fast ? get_global_id(0) : get_global_id(1), r = p_fast ? get_global_id(1) : get_global_id(0);
    if (p >= P || r >= R) return;
    const int c = r / (KH * KW), kk = r - c * (KH * KW), ky = kk / KW, kx = kk - ky * KW;
    const int oy = p / OW, ox = p - oy * OW;
    const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
    const int inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
    col[col_off + n * csn + r * csr + p * csp] = inside ? x[x_off + ((n * C + c) * H + iy) * W + ix] : 0.0f;
}

/* Any layout col[col_off + n*csn + r*csr + p*csp], written pixel by pixel: one
 * work-item per (output row oy, image n) writes, for each pixel of the row, its column
 * rows r = 0 .. C*KH*KW-1 in order (contiguous in the [p][n][r] layout of the weight
 * gradient, where the batch folds into the GEMM's K); the reads stay within KH input
 * rows of each channel. Global: (OH, images in this chunk). */
__kernel void im2col_pixels(__global const float *x, const int x_off, __global float *col, const int col_off,
                            const int csn, const int csr, const int csp,
                            const int C, const int H, const int W, const int KH, const int KW,
                            const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,
                            const int OH, const int OW) {
    const int oy = get_global_id(0), n = get_global_id(1);
    if (oy >= OH) return;
    __global const float *img = x + x_off + n * C * H * W;
    for (int ox = 0; ox < OW; ox++) {
        __global float *dst = col + col_off + n * csn + (oy * OW + ox) * csp;
        const int iy0 = oy * sh - ph, ix0 = ox * sw - pw;
        for (int c = 0; c < C; c++) {
            __global const float *plane = img + c * H * W;
            for (int ky = 0; ky < KH; ky++) {
                const int iy = iy0 + ky * dh;
                const int row_in = iy >= 0 && iy < H;
                for (int kx = 0; kx < KW; kx++, dst += csr) {
                    const int ix = ix0 + kx * dw;
                    *dst = row_in && ix >= 0 && ix < W ? plane[iy * W + ix] : 0.0f;
                }
            }
        }
    }
}
