/* ref_grad_norm.h: double-precision batch-norm forwards for the backward tests'
 * finite differences (and the training forward's own check). x is viewed as
 * [N, C, S]; plain textbook loops. */
#ifndef CLCNN_TEST_REF_GRAD_NORM_H
#define CLCNN_TEST_REF_GRAD_NORM_H

/* Per-channel batch mean and biased variance over N and S (mean, var [C]). */
void ref_bn_batch_stats(const double *x, int N, int C, int S, double *mean, double *var);

/* Training batch norm: y = (x - mean) / sqrt(var + eps) * gamma + beta with the
 * batch's own mean and biased variance. */
void ref_bn_train(const double *x, int N, int C, int S, const double *gamma, const double *beta, double eps,
                  double *y);

/* Batch norm with fixed statistics: y = (x - mean) * invstd * gamma + beta. */
void ref_bn_fixed(const double *x, int N, int C, int S, const double *gamma, const double *beta,
                  const double *mean, const double *invstd, double *y);

#endif
