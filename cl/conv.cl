/* conv.cl: im2col and col2im for convolution as GEMM, and the bias gradient.
 * Row r = (c * KH + ky) * KW + kx of the column matrix holds, for output pixel
 * p = oy * OW + ox, the input x[n][c][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw]
 * (zero outside the image). */

/* col[col_off + n*csn + r*csr + p*csp] = that input value. The strides choose the
 * layout: [n][r][p] for the forward GEMM, [p][n][r] for the weight gradient's (where
 * the batch folds into the GEMM's K). Global: (OH*OW, C*KH*KW, images in this chunk). */
__kernel void im2col(__global const float *x, const int x_off, __global float *col, const int col_off,
                     const int csn, const int csr, const int csp,
                     const int C, const int H, const int W, const int KH, const int KW,
                     const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,
                     const int OH, const int OW) {
    const int p = get_global_id(0), row = get_global_id(1), n = get_global_id(2);
    const int P = OH * OW;
    if (p >= P || row >= C * KH * KW) return;
    const int c = row / (KH * KW), kk = row - c * (KH * KW);
    const int ky = kk / KW, kx = kk - ky * KW;
    const int oy = p / OW, ox = p - oy * OW;
    const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
    float v = 0.0f;
    if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = x[x_off + ((n * C + c) * H + iy) * W + ix];
    col[col_off + n * csn + row * csr + p * csp] = v;
}

/* The adjoint of im2col ([n][r][p] layout): dx[n][c][iy][ix] = sum of the column
 * entries that im2col filled from that pixel (+ dx when accumulating). Each work-item
 * gathers over the kernel positions touching its pixel, so nothing is written twice
 * and no atomics are needed. Global: (H*W, C, images in this chunk). */
__kernel void col2im(__global const float *col, const int col_off, __global float *dx, const int dx_off,
                     const int C, const int H, const int W, const int KH, const int KW,
                     const int sh, const int sw, const int ph, const int pw, const int dh, const int dw,
                     const int OH, const int OW, const int accumulate) {
    const int q = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (q >= H * W || c >= C) return;
    const int iy = q / W, ix = q - iy * W;
    const int P = OH * OW;
    __global const float *cn = col + col_off + (n * C + c) * (KH * KW) * P;
    float acc = 0.0f;
    for (int ky = 0; ky < KH; ky++) {
        const int ty = iy + ph - ky * dh; /* = oy * sh for a touching output row */
        if (ty < 0 || ty % sh) continue;
        const int oy = ty / sh;
        if (oy >= OH) continue;
        for (int kx = 0; kx < KW; kx++) {
            const int tx = ix + pw - kx * dw;
            if (tx < 0 || tx % sw) continue;
            const int ox = tx / sw;
            if (ox >= OW) continue;
            acc += cn[(ky * KW + kx) * P + oy * OW + ox];
        }
    }
    const int i = dx_off + (n * C + c) * H * W + q;
    dx[i] = accumulate ? dx[i] + acc : acc;
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
