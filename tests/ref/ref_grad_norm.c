/* ref_grad_norm.c: double-precision batch-norm forwards (see ref_grad_norm.h). */
#include "ref_grad_norm.h"
#include <math.h>
#include <stdlib.h>
#include "harness.h"

void ref_bn_batch_stats(const double *x, int N, int C, int S, double *mean, double *var) {
    const double M = (double)N * S;
    for (int c = 0; c < C; c++) {
        double sum = 0;
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) sum += x[((size_t)n * C + c) * S + s];
        const double mu = sum / M;
        double sq = 0;
        for (int n = 0; n < N; n++)
            for (int s = 0; s < S; s++) {
                const double d = x[((size_t)n * C + c) * S + s] - mu;
                sq += d * d;
            }
        mean[c] = mu;
        var[c] = sq / M;
    }
}

void ref_bn_fixed(const double *x, int N, int C, int S, const double *gamma, const double *beta,
                  const double *mean, const double *invstd, double *y) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < S; s++) {
                const size_t i = ((size_t)n * C + c) * S + s;
                y[i] = (x[i] - mean[c]) * invstd[c] * gamma[c] + beta[c];
            }
}

void ref_bn_train(const double *x, int N, int C, int S, const double *gamma, const double *beta, double eps,
                  double *y) {
    double *mean = malloc(2 * (size_t)C * sizeof *mean);
    if (!mean) {
        test_fail(__FILE__, __LINE__, "ref_bn_train: no memory for %d channels", C);
        return;
    }
    double *invstd = mean + C;
    ref_bn_batch_stats(x, N, C, S, mean, invstd);
    for (int c = 0; c < C; c++) invstd[c] = 1.0 / sqrt(invstd[c] + eps);
    ref_bn_fixed(x, N, C, S, gamma, beta, mean, invstd, y);
    free(mean);
}
