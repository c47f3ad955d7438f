/* ref_grad_eltwise.c: double-precision forwards for the FD checks (see the header). */
#include "ref_grad_eltwise.h"
#include <math.h>
#include "clcnn.h"

static double act1(int act, double v) {
    switch (act) {
    case CLCNN_ACT_RELU: return v > 0 ? v : 0;
    case CLCNN_ACT_RELU6: return v < 0 ? 0 : v > 6 ? 6 : v;
    case CLCNN_ACT_SIGMOID: return 1 / (1 + exp(-v));
    case CLCNN_ACT_SILU: return v / (1 + exp(-v));
    case CLCNN_ACT_TANH: return tanh(v);
    case CLCNN_ACT_HARDSWISH: return v < -3 ? 0 : v > 3 ? v : v * (v + 3) / 6;
    case CLCNN_ACT_HARDSIGMOID: return v < -3 ? 0 : v > 3 ? 1 : (v + 3) / 6;
    default: return v;                                 /* none */
    }
}

void ref_grad_activate(const double *x, size_t n, int act, double *y) {
    for (size_t i = 0; i < n; i++) y[i] = act1(act, x[i]);
}

/* Window of output o along one axis: [*s, *e) in the input, and its extent within
 * the padded input (the divisor with count_include_pad). */
static void window(int o, int k, int stride, int pad, int in, int *s, int *e, int *padded) {
    const int start = o * stride - pad, end = start + k;
    *padded = (end < in + pad ? end : in + pad) - start;
    *s = start > 0 ? start : 0;
    *e = end < in ? end : in;
}

int ref_grad_pool_argmax(const double *plane, int H, int W, int oy, int ox, int kh, int kw, int sh, int sw, int ph,
                         int pw) {
    int ys, ye, xs, xe, unused;
    window(oy, kh, sh, ph, H, &ys, &ye, &unused);
    window(ox, kw, sw, pw, W, &xs, &xe, &unused);
    int best = -1;
    for (int iy = ys; iy < ye; iy++)
        for (int ix = xs; ix < xe; ix++)
            if (best < 0 || plane[iy * W + ix] > plane[best] || isnan(plane[iy * W + ix])) best = iy * W + ix;
    return best;
}

void ref_grad_max_pool_backward(const double *x, const double *dy, int NC, int H, int W, int OH, int OW, int kh,
                                int kw, int sh, int sw, int ph, int pw, double *dx) {
    const size_t plane = (size_t)H * W;
    for (int q = 0; q < NC; q++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                const int best = ref_grad_pool_argmax(x + q * plane, H, W, oy, ox, kh, kw, sh, sw, ph, pw);
                dx[q * plane + (size_t)best] += dy[((size_t)q * OH + oy) * OW + ox];
            }
}

void ref_grad_pool2d(const double *x, int NC, int H, int W, int mode, int kh, int kw, int sh, int sw, int ph,
                     int pw, int count_include_pad, double *y, int OH, int OW) {
    for (int p = 0; p < NC; p++) {
        const double *plane = x + (size_t)p * H * W;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double *out = &y[((size_t)p * OH + oy) * OW + ox];
                if (mode == 0) {
                    *out = plane[ref_grad_pool_argmax(plane, H, W, oy, ox, kh, kw, sh, sw, ph, pw)];
                    continue;
                }
                int ys, ye, xs, xe, hp, wp;
                window(oy, kh, sh, ph, H, &ys, &ye, &hp);
                window(ox, kw, sw, pw, W, &xs, &xe, &wp);
                double acc = 0;
                for (int iy = ys; iy < ye; iy++)
                    for (int ix = xs; ix < xe; ix++) acc += plane[iy * W + ix];
                *out = acc / (count_include_pad ? hp * wp : (ye - ys) * (xe - xs));
            }
    }
}

void ref_grad_global_avg_pool(const double *x, int NC, int S, double *y) {
    for (int p = 0; p < NC; p++) {
        double acc = 0;
        for (int i = 0; i < S; i++) acc += x[(size_t)p * S + i];
        y[p] = acc / S;
    }
}

/* PyTorch's source index for align_corners = false: (d + 0.5) * in / out - 0.5, at least 0. */
static void source(int d, int in, int out, int *i0, int *i1, double *l) {
    double s = (d + 0.5) * ((double)in / out) - 0.5;
    if (s < 0) s = 0;
    *i0 = (int)s < in - 1 ? (int)s : in - 1;
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *l = s - *i0;
}

void ref_grad_resize_bilinear(const double *x, int NC, int H, int W, double *y, int OH, int OW) {
    for (int p = 0; p < NC; p++) {
        const double *plane = x + (size_t)p * H * W;
        for (int oy = 0; oy < OH; oy++) {
            int y0, y1;
            double ly;
            source(oy, H, OH, &y0, &y1, &ly);
            for (int ox = 0; ox < OW; ox++) {
                int x0, x1;
                double lx;
                source(ox, W, OW, &x0, &x1, &lx);
                const double top = (1 - lx) * plane[y0 * W + x0] + lx * plane[y0 * W + x1];
                const double bottom = (1 - lx) * plane[y1 * W + x0] + lx * plane[y1 * W + x1];
                y[((size_t)p * OH + oy) * OW + ox] = (1 - ly) * top + ly * bottom;
            }
        }
    }
}

void ref_grad_concat(const double *a, int Ca, const double *b, int Cb, int N, int S, double *y) {
    const size_t sa = (size_t)Ca * S, sb = (size_t)Cb * S;
    for (int n = 0; n < N; n++) {
        for (size_t i = 0; i < sa; i++) y[n * (sa + sb) + i] = a[n * sa + i];
        for (size_t i = 0; i < sb; i++) y[n * (sa + sb) + sa + i] = b[n * sb + i];
    }
}

void ref_grad_softmax(const double *x, int rows, int cols, int log_softmax, double *y) {
    for (int r = 0; r < rows; r++) {
        const double *xr = x + (size_t)r * cols;
        double *yr = y + (size_t)r * cols, mx = -INFINITY, sum = 0.0;
        for (int c = 0; c < cols; c++) mx = xr[c] > mx ? xr[c] : mx;
        for (int c = 0; c < cols; c++) sum += exp(xr[c] - mx);
        for (int c = 0; c < cols; c++) yr[c] = log_softmax ? xr[c] - mx - log(sum) : exp(xr[c] - mx) / sum;
    }
}
