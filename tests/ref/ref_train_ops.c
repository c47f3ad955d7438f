/* ref_train_ops.c: CPU references for the losses and optimizers (see ref_train_ops.h). */
#include "ref_train_ops.h"
#include <math.h>

/* log sum_c exp(x[c]) of one row, max-subtracted. */
static double log_sum_exp(const double *x, int C) {
    double mx = x[0], s = 0;
    for (int c = 1; c < C; c++)
        if (x[c] > mx) mx = x[c];
    for (int c = 0; c < C; c++) s += exp(x[c] - mx);
    return mx + log(s);
}

double ref_cross_entropy(const double *x, const int *y, int N, int C, const double *w, double eps) {
    double num = 0, den = 0;
    for (int i = 0; i < N; i++) {
        const double *xr = x + (size_t)i * C, lse = log_sum_exp(xr, C);
        const double wy = w ? w[y[i]] : 1.0;
        double smooth = 0;
        for (int c = 0; c < C; c++) smooth += (w ? w[c] : 1.0) * (lse - xr[c]);
        num += (1 - eps) * wy * (lse - xr[y[i]]) + eps / C * smooth;
        den += wy;
    }
    return num / den;
}

double ref_bce_with_logits(const double *x, const double *t, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fmax(x[i], 0.0) - x[i] * t[i] + log1p(exp(-fabs(x[i])));
    return s / (double)n;
}

void ref_sgd_step(const ref_sgd_params *p, double *param, const double *g, double scale, double *buf, size_t n,
                  int first) {
    for (size_t i = 0; i < n; i++) {
        double d = g[i] * scale + p->weight_decay * param[i];
        if (p->momentum != 0) {
            buf[i] = first ? d : p->momentum * buf[i] + (1 - p->dampening) * d;
            d = p->nesterov ? d + p->momentum * buf[i] : buf[i];
        }
        param[i] -= p->lr * d;
    }
}

void ref_adam_step(const ref_adam_params *p, int t, double *param, const double *g, double scale, double *m,
                   double *v, size_t n) {
    const double bc1 = 1 - pow(p->beta1, t), bc2 = 1 - pow(p->beta2, t);
    for (size_t i = 0; i < n; i++) {
        double d = g[i] * scale;
        if (p->decoupled)
            param[i] *= 1 - p->lr * p->weight_decay;
        else
            d += p->weight_decay * param[i];
        m[i] = p->beta1 * m[i] + (1 - p->beta1) * d;
        v[i] = p->beta2 * v[i] + (1 - p->beta2) * d * d;
        param[i] -= p->lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + p->eps);
    }
}
