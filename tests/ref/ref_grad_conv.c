/* ref_grad_conv.c: see ref_grad_conv.h. */
#include "ref_grad_conv.h"
#include "ref_grad_eltwise.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void refd_conv_fit_input(refd_conv_shape *s) {
    while (s->H + 2 * s->ph < s->dh * (s->KH - 1) + 1) s->H++;
    while (s->W + 2 * s->pw < s->dw * (s->KW - 1) + 1) s->W++;
}

/* The input pixel (iy, ix) that output (oy, ox) meets at kernel tap (ky, kx); 0 in the padding. */
static int tap(const refd_conv_shape *s, int oy, int ox, int ky, int kx, int *iy, int *ix) {
    *iy = oy * s->sh - s->ph + ky * s->dh;
    *ix = ox * s->sw - s->pw + kx * s->dw;
    return *iy >= 0 && *iy < s->H && *ix >= 0 && *ix < s->W;
}

void refd_conv2d(const refd_conv_shape *s, const double *x, const double *w, const double *b, double *y) {
    const int cg = s->C / s->groups, mg = s->Cout / s->groups;
    for (int n = 0; n < s->N; n++)
        for (int co = 0; co < s->Cout; co++)
            for (int oy = 0; oy < s->OH; oy++)
                for (int ox = 0; ox < s->OW; ox++) {
                    double v = b ? b[co] : 0.0;
                    for (int ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < s->KH; ky++)
                            for (int kx = 0; kx < s->KW; kx++) {
                                int iy, ix;
                                if (!tap(s, oy, ox, ky, kx, &iy, &ix)) continue;
                                const int c = co / mg * cg + ci;
                                v += x[(((size_t)n * s->C + c) * s->H + iy) * s->W + ix] *
                                     w[(((size_t)co * cg + ci) * s->KH + ky) * s->KW + kx];
                            }
                    y[(((size_t)n * s->Cout + co) * s->OH + oy) * s->OW + ox] = v;
                }
}

void refd_conv2d_backward(const refd_conv_shape *s, const double *x, const double *w, const double *dy, double *dx,
                          double *dw, double *db) {
    const int cg = s->C / s->groups, mg = s->Cout / s->groups;
    if (dx) memset(dx, 0, (size_t)s->N * s->C * s->H * s->W * sizeof *dx);
    if (dw) memset(dw, 0, (size_t)s->Cout * cg * s->KH * s->KW * sizeof *dw);
    if (db) memset(db, 0, (size_t)s->Cout * sizeof *db);
    for (int n = 0; n < s->N; n++)
        for (int co = 0; co < s->Cout; co++)
            for (int oy = 0; oy < s->OH; oy++)
                for (int ox = 0; ox < s->OW; ox++) {
                    const double g = dy[(((size_t)n * s->Cout + co) * s->OH + oy) * s->OW + ox];
                    if (db) db[co] += g;
                    for (int ci = 0; ci < cg; ci++)
                        for (int ky = 0; ky < s->KH; ky++)
                            for (int kx = 0; kx < s->KW; kx++) {
                                int iy, ix;
                                if (!tap(s, oy, ox, ky, kx, &iy, &ix)) continue;
                                const int c = co / mg * cg + ci;
                                const size_t xi = (((size_t)n * s->C + c) * s->H + iy) * s->W + ix;
                                const size_t wi = (((size_t)co * cg + ci) * s->KH + ky) * s->KW + kx;
                                if (dx) dx[xi] += w[wi] * g;
                                if (dw) dw[wi] += x[xi] * g;
                            }
                }
}

void refd_linear(const double *x, int N, int K, const double *w, int M, const double *b, double *y) {
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double v = b ? b[m] : 0.0;
            for (int k = 0; k < K; k++) v += x[(size_t)n * K + k] * w[(size_t)m * K + k];
            y[(size_t)n * M + m] = v;
        }
}

void refd_gemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A, const double *B,
               double beta, const double *C, double *Y) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++)
                acc += (trans_a ? A[(size_t)k * M + m] : A[(size_t)m * K + k]) *
                       (trans_b ? B[(size_t)n * K + k] : B[(size_t)k * N + n]);
            Y[(size_t)m * N + n] = alpha * acc + (beta != 0.0 ? beta * C[(size_t)m * N + n] : 0.0);
        }
}

void refd_squeeze_excite(const double *x, int N, int C, int H, int W, const double *w1, const double *b1,
                         const double *w2, const double *b2, int Cr, int inner, int gate, double *z) {
    const size_t S = (size_t)H * W;
    double *pooled = malloc((size_t)C * sizeof *pooled), *hidden = malloc((size_t)Cr * sizeof *hidden);
    double *s = malloc((size_t)C * sizeof *s);
    if (!pooled || !hidden || !s) { /* NaN makes the caller's comparison fail */
        for (size_t i = 0; i < (size_t)N * C * S; i++) z[i] = NAN;
        goto done;
    }
    for (int n = 0; n < N; n++) {
        const double *xn = x + (size_t)n * C * S;
        for (int c = 0; c < C; c++) {
            double sum = 0;
            for (size_t p = 0; p < S; p++) sum += xn[c * S + p];
            pooled[c] = sum / (double)S;
        }
        refd_linear(pooled, 1, C, w1, Cr, b1, hidden);
        ref_grad_activate(hidden, (size_t)Cr, inner, hidden);
        refd_linear(hidden, 1, Cr, w2, C, b2, s);
        for (int c = 0; c < C; c++) {
            double sc;
            ref_grad_activate(&s[c], 1, gate, &sc);
            for (size_t p = 0; p < S; p++) z[(size_t)n * C * S + c * S + p] = xn[c * S + p] * sc;
        }
    }
done:
    free(pooled);
    free(hidden);
    free(s);
}
