/* conv_backward.cl: the convolution's backward pass besides its GEMMs: moving dY to
 * pixel-major order, col2im, the split-K weight gradient's final sum and the bias
 * gradient. Row r = (c * KH + ky) * KW + kx of a column matrix holds, for output pixel
 * p = oy * OW + ox, the input x[n][c][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw]. */

/* The adjoint of im2col for a column matrix at col[n*csn + r*csr + p*csp]:
 * dx[n][c][iy][ix] = the sum of the entries im2col filled from that pixel (+ dx when
 * accumulating). Each work-item owns one input row and adds into it, for every kernel
 * position (ky, kx) whose taps land on that row, the column row's entries of one output
 * row: input pixel ix = ox*sw - pw + kx*dw for the output pixels ox whose tap is inside
 * the image. Each pixel gets its terms in (ky, kx) order, as a gather would add them;
 * nothing is written by two work-items and no atomics are needed; the strides' divisions
 * are per kernel position, not per pixel (a per-pixel gather with them ran 8x slower on
 * PoCL for stride 2). Global: (H, C * images). */
__kernel void col2im_rows(__global const float *col, const int col_off, const int csn, const int csr, const int csp,
                          __global float *dx, const int dx_off, const int C, const int H, const int W, const int KH,
                          const int KW, const int sh, const int sw, const int ph, const int pw, const int dh,
                          const int dw, const int OH, const int OW, const int images, const int accumulate) {
    const int iy = get_global_id(0), nc = get_global_id(1);
    if (iy >= H || nc >= C * images) return;
    const int n = nc / C, c = nc - n * C;
    __global const float *cn = col + col_off + n * csn + c * (KH * KW) * csr;
    __global float *row = dx + dx_off + (nc * H + iy) * W;
    if (!accumulate)
        for (int ix = 0; ix < W; ix++) row[ix] = 0.0f;
    for (int ky = 0; ky < KH; ky++) {
        const int ty = iy + ph - ky * dh; /* = oy * sh for a touching output row */
        if (ty < 0 || ty % sh != 0 || ty / sh >= OH) continue;
        const int oy = ty / sh;
        for (int kx = 0; kx < KW; kx++) {
            const int shift = kx * dw - pw; /* ix = ox * sw + shift */
            const int ox0 = shift >= 0 ? 0 : (sw - 1 - shift) / sw;
            const int ox1 = W - 1 - shift < 0 ? -1 : min(OW - 1, (W - 1 - shift) / sw);
            __global const float *src = cn + (ky * KW + kx) * csr + oy * OW * csp;
            for (int ox = ox0; ox <= ox1; ox++) row[ox * sw + shift] += src[ox * csp];
        }
    }
}

/* The sum col2im gathers for input pixel (iy, ix) of one plane, cn its column rows: the
 * entries of every kernel position (ky, kx) whose tap lands on the pixel, in (ky, kx)
 * order, as a gather adds them. With strides and dilation of 1 (col2im_s1's constants)
 * the divisions fold away and the address is linear in ix. */
inline float col2im_gather(__global const float *cn, const int csr, const int csp, const int ix, const int iy,
                           const int KH, const int KW, const int sh, const int sw, const int ph, const int pw,
                           const int dh, const int dw, const int OH, const int OW) {
    float acc = 0.0f;
    for (int ky = 0; ky < KH; ky++) {
        const int ty = iy + ph - ky * dh; /* = oy * sh for a touching output row */
        if (ty < 0 || ty % sh != 0 || ty / sh >= OH) continue;
        const int oy = ty / sh;
        for (int kx = 0; kx < KW; kx++) {
            const int tx = ix + pw - kx * dw;
            if (tx < 0 || tx % sw != 0 || tx / sw >= OW) continue;
            acc += cn[(ky * KW + kx) * csr + (oy * OW + tx / sw) * csp];
        }
    }
    return acc;
}

/* The GPU family's col2im for any stride and dilation: one input pixel per work-item,
 * neighbouring work-items on neighbouring pixels of a row (col2im_rows would make them
 * a whole row apart). Arguments as col2im_rows; global (W, H, C * images). */
__kernel void col2im_pixels(__global const float *col, const int col_off, const int csn, const int csr,
                            const int csp, __global float *dx, const int dx_off, const int C, const int H,
                            const int W, const int KH, const int KW, const int sh, const int sw, const int ph,
                            const int pw, const int dh, const int dw, const int OH, const int OW, const int images,
                            const int accumulate) {
    const int ix = get_global_id(0), iy = get_global_id(1), nc = get_global_id(2);
    if (ix >= W || iy >= H || nc >= C * images) return;
    const int n = nc / C, c = nc - n * C;
    const float acc = col2im_gather(col + col_off + n * csn + c * (KH * KW) * csr, csr, csp, ix, iy, KH, KW, sh, sw,
                                    ph, pw, dh, dw, OH, OW);
    const int i = dx_off + (nc * H + iy) * W + ix;
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* col2im for stride 1 and dilation 1: for each kernel position the touching output
 * pixel is (iy + ph - ky, ix + pw - kx), an address linear in ix, so that PoCL's
 * vectorised work-item loops load contiguous vectors instead of gathering. Arguments
 * and global size as col2im_pixels, less the strides and dilation. */
__kernel void col2im_s1(__global const float *col, const int col_off, const int csn, const int csr, const int csp,
                        __global float *dx, const int dx_off, const int C, const int H, const int W, const int KH,
                        const int KW, const int ph, const int pw, const int OH, const int OW, const int images,
                        const int accumulate) {
    const int ix = get_global_id(0), iy = get_global_id(1), nc = get_global_id(2);
    if (ix >= W || iy >= H || nc >= C * images) return;
    const int n = nc / C, c = nc - n * C;
    const float acc = col2im_gather(col + col_off + n * csn + c * (KH * KW) * csr, csr, csp, ix, iy, KH, KW, 1, 1,
                                    ph, pw, 1, 1, OH, OW);
    const int i = dx_off + (nc * H + iy) * W + ix;
    dx[i] = accumulate ? dx[i] + acc : acc;
}

/* dW[g][co][r] += sum over s < S of part[s][g][r][co], in order of s: the weight
 * gradient's K chunks, computed transposed (so that the GEMM's stores are contiguous),
 * added to dW. Global: (kg, mg, G). */
__kernel void sum_slices_t(__global const float *part, const int part_off, __global float *dw, const int dw_off,
                           const int kg, const int mg, const int G, const int S) {
    const int r = get_global_id(0), co = get_global_id(1), g = get_global_id(2);
    if (r >= kg || co >= mg || g >= G) return;
    const int len = G * kg * mg;
    __global const float *q = part + part_off + (g * kg + r) * mg + co;
    float acc = 0.0f;
    for (int s = 0; s < S; s++) acc += q[s * len];
    dw[dw_off + (g * mg + co) * kg + r] += acc;
}

/* db[c] += sum over images and pixels of dy[n][c][p], for dy [N, C, P].
 * One work-item per channel; the per-image partial sums keep the float error small. */
__kernel void channel_grad_sum(__global const float *dy, const int dy_off, __global float *db, const int db_off,
                               const int N, const int C, const int P) {
    const int c = get_global_id(0);
    if (c >= C) return;
    float total = 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *row = dy + dy_off + (n * C + c) * P;
        float s = 0.0f;
        for (int p = 0; p < P; p++) s += row[p];
        total += s;
    }
    db[db_off + c] += total;
}

/* dst[n][p][c] = src[n][c][p] for src [images][C][P]: dY pixel-major, the operand
 * (unit stride in the channel) of both gradients' GEMMs. Global: (P, C, images). */
__kernel void pixel_major(__global const float *src, const int src_off, __global float *dst, const int dst_off,
                          const int images, const int C, const int P) {
    const int p = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (p >= P || c >= C || n >= images) return;
    dst[dst_off + (n * P + p) * C + c] = src[src_off + (n * C + c) * P + p];
}
