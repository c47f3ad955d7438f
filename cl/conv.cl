/* conv.cl: im2col for convolution as GEMM.
 * col[n][(c * KH + ky) * KW + kx][oy * OW + ox] = x[n][c][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw]
 * (zero outside the image). Global: (OH*OW, C*KH*KW, images in this chunk). */
__kernel void im2col(__global const float *x, const int x_off, __global float *col, const int col_off,
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
    col[col_off + (n * (C * KH * KW) + row) * P + p] = v;
}
