/* resize.cl: bilinear resize with align_corners = false (PyTorch's default):
 * src = (dst + 0.5) * in / out - 0.5, clamped at 0. Global: (OH*OW, N*C). */
__kernel void resize_bilinear(__global const float *x, const int x_off, __global float *y, const int y_off,
                              const int H, const int W, const int OH, const int OW) {
    const int p = get_global_id(0), nc = get_global_id(1);
    if (p >= OH * OW) return;
    const int oy = p / OW, ox = p - oy * OW;
    const float sy = fmax(((float)oy + 0.5f) * ((float)H / (float)OH) - 0.5f, 0.0f);
    const float sx = fmax(((float)ox + 0.5f) * ((float)W / (float)OW) - 0.5f, 0.0f);
    const int y0 = min((int)sy, H - 1), x0 = min((int)sx, W - 1);
    const int y1 = min(y0 + 1, H - 1), x1 = min(x0 + 1, W - 1);
    const float ly = sy - (float)y0, lx = sx - (float)x0;
    __global const float *plane = x + x_off + nc * H * W;
    const float top = plane[y0 * W + x0] * (1.0f - lx) + plane[y0 * W + x1] * lx;
    const float bottom = plane[y1 * W + x0] * (1.0f - lx) + plane[y1 * W + x1] * lx;
    y[y_off + nc * OH * OW + p] = top * (1.0f - ly) + bottom * ly;
}
