/* ref.c: plain-loop CPU references (see ref.h). Accumulate in double, store float. */
#include "ref/ref.h"
#include "clcnn.h"

#include <math.h>
#include <stdlib.h>

static double act_d(int act, double v) {
    switch (act) {
    case CLCNN_ACT_RELU: return v > 0.0 ? v : 0.0;
    case CLCNN_ACT_RELU6: return v < 0.0 ? 0.0 : (v > 6.0 ? 6.0 : v);
    case CLCNN_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case CLCNN_ACT_SILU: return v / (1.0 + exp(-v));
    case CLCNN_ACT_TANH: return tanh(v);
    case CLCNN_ACT_HARDSWISH: return v < -3.0 ? 0.0 : (v > 3.0 ? v : v * (v + 3.0) / 6.0);
    case CLCNN_ACT_HARDSIGMOID: return v < -3.0 ? 0.0 : (v > 3.0 ? 1.0 : (v + 3.0) / 6.0);
    default: return v;
    }
}


int ref_conv2d_out_size(int in, int k, int stride, int pad, int dil) {
    int span = in + 2 * pad - dil * (k - 1) - 1;
    /* floor division also for a negative span, so a too-small input gives <= 0 */
    return (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
}

/* One output element of a convolution, before bias and activation. */
static double conv_point(const float *x, int Cin_g, int H, int W, const float *w, int KH, int KW,
                         int iy0, int ix0, int dil_h, int dil_w) {
    double acc = 0.0;
    for (int c = 0; c < Cin_g; c++)
        for (int ky = 0; ky < KH; ky++) {
            int iy = iy0 + ky * dil_h;
            if (iy < 0 || iy >= H) continue;
            for (int kx = 0; kx < KW; kx++) {
                int ix = ix0 + kx * dil_w;
                if (ix < 0 || ix >= W) continue;
                acc += (double)x[((size_t)c * H + iy) * W + ix] *
                       (double)w[((size_t)c * KH + ky) * KW + kx];
            }
        }
    return acc;
}

void ref_conv2d(const float *x, int N, int Cin, int H, int W, const float *w, int Cout, int KH,
                int KW, const float *bias, int stride_h, int stride_w, int pad_h, int pad_w,
                int dil_h, int dil_w, int groups, const float *residual, int act, float *y, int OH,
                int OW) {
    int Cin_g = Cin / groups, Cout_g = Cout / groups;
    for (int n = 0; n < N; n++)
        for (int co = 0; co < Cout; co++) {
            int g = co / Cout_g;
            const float *xg = x + ((size_t)n * Cin + (size_t)g * Cin_g) * H * W;
            const float *wc = w + (size_t)co * Cin_g * KH * KW;
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    size_t o = (((size_t)n * Cout + co) * OH + oy) * OW + ox;
                    double v = conv_point(xg, Cin_g, H, W, wc, KH, KW, oy * stride_h - pad_h,
                                          ox * stride_w - pad_w, dil_h, dil_w);
                    if (bias) v += bias[co];
                    if (residual) v += residual[o];
                    y[o] = (float)act_d(act, v);
                }
        }
}

/* The per-channel scale and shift of inference batch norm: y = x * scale + shift. */
static void bn_affine(const float *gamma, const float *beta, const float *mean, const float *var,
                      float eps, int c, double *scale, double *shift) {
    *scale = (double)gamma[c] / sqrt((double)var[c] + (double)eps);
    *shift = (double)beta[c] - (double)mean[c] * *scale;
}

void ref_batchnorm_fold(const float *w, const float *bias, int Cout, int per, const float *gamma,
                        const float *beta, const float *mean, const float *var, float eps,
                        float *w_out, float *b_out) {
    for (int c = 0; c < Cout; c++) {
        double scale, shift;
        bn_affine(gamma, beta, mean, var, eps, c, &scale, &shift);
        for (int i = 0; i < per; i++) w_out[(size_t)c * per + i] = (float)(w[(size_t)c * per + i] * scale);
        b_out[c] = (float)((bias ? bias[c] : 0.0) * scale + shift);
    }
}

int ref_pool_out_size(int in, int k, int stride, int pad, int ceil_mode) {
    int span = in + 2 * pad - k + (ceil_mode ? stride - 1 : 0);
    int out = span / stride + 1; /* span >= 0 for every valid pooling shape */
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

void ref_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
              const float *B, float beta, float *C) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                double a = trans_a ? A[(size_t)k * M + m] : A[(size_t)m * K + k];
                double b = trans_b ? B[(size_t)n * K + k] : B[(size_t)k * N + n];
                acc += a * b;
            }
            float *c = &C[(size_t)m * N + n];
            *c = (float)(alpha * acc + (beta != 0.0f ? (double)beta * *c : 0.0));
        }
}
