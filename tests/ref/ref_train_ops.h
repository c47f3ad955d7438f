/* ref_train_ops.h: plain double-precision CPU references for the losses and the
 * optimizers (PyTorch's formulas, textbook loops), used by tests/test_train_ops.c. */
#ifndef CLCNN_TEST_REF_TRAIN_OPS_H
#define CLCNN_TEST_REF_TRAIN_OPS_H

#include <stddef.h>

/* torch.nn.CrossEntropyLoss(weight=w, label_smoothing=eps), mean reduction, of logits
 * x [N, C] with class labels y [N] in [0, C); w [C] or NULL (all 1):
 * sum_i [(1 - eps) w[y_i] (-logp[i, y_i]) + eps/C sum_c w[c] (-logp[i, c])] / sum_i w[y_i]. */
double ref_cross_entropy(const double *x, const int *y, int N, int C, const double *w, double eps);

/* torch.nn.BCEWithLogitsLoss, mean over n elements:
 * mean of max(x, 0) - x t + log1p(exp(-|x|)) (= -(t log s + (1 - t) log(1 - s)), s = sigmoid(x)). */
double ref_bce_with_logits(const double *x, const double *t, size_t n);

typedef struct {
    double lr, momentum, dampening, weight_decay;
    int nesterov;
} ref_sgd_params;

/* One torch.optim.SGD step on n elements; g is multiplied by scale first (clipping).
 * buf (the momentum buffer) is used when momentum != 0; first != 0 at the first step,
 * where buf becomes the gradient itself. */
void ref_sgd_step(const ref_sgd_params *p, double *param, const double *g, double scale, double *buf, size_t n,
                  int first);

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    int decoupled; /* 1: AdamW, 0: Adam */
} ref_adam_params;

/* One torch.optim.Adam / AdamW step (non-amsgrad) at 1-based step t; g is multiplied
 * by scale first. */
void ref_adam_step(const ref_adam_params *p, int t, double *param, const double *g, double scale, double *m,
                   double *v, size_t n);

#endif
