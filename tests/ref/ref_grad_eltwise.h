/* ref_grad_eltwise.h: double-precision forwards of the elementwise, pooling and
 * resize ops, for the finite-difference checks of tests/test_grad_eltwise.c.
 * Plain textbook loops with PyTorch's semantics; x holds NC planes of H x W. */
#ifndef CLCNN_TEST_REF_GRAD_ELTWISE_H
#define CLCNN_TEST_REF_GRAD_ELTWISE_H

#include <stddef.h>

/* y[i] = act(x[i]) for n elements, act a clcnn_activation value. */
void ref_grad_activate(const double *x, size_t n, int act, double *y);

/* mode 0 = max (ties: the first maximum, as PyTorch), 1 = average; windows,
 * padding and divisors as torch.nn.MaxPool2d / AvgPool2d. y [NC, OH, OW]. */
void ref_grad_pool2d(const double *x, int NC, int H, int W, int mode, int kh, int kw, int sh, int sw, int ph,
                     int pw, int count_include_pad, double *y, int OH, int OW);
/* Index in the plane of the element of the window of output (oy, ox) of max pooling
 * that receives that output's gradient, by PyTorch's rule `v > max || isnan(v)`: the
 * window's last NaN, or its first maximum in row-major order when it has none. */
int ref_grad_pool_argmax(const double *plane, int H, int W, int oy, int ox, int kh, int kw, int sh, int sw, int ph,
                         int pw);
/* dx += max pooling's input gradient: each output's dy [NC, OH, OW] added at its
 * window's ref_grad_pool_argmax. */
void ref_grad_max_pool_backward(const double *x, const double *dy, int NC, int H, int W, int OH, int OW, int kh,
                                int kw, int sh, int sw, int ph, int pw, double *dx);

/* y [N, Ca + Cb, S] = a [N, Ca, S] and b [N, Cb, S] joined along the channels. */
void ref_grad_concat(const double *a, int Ca, const double *b, int Cb, int N, int S, double *y);

/* y [NC] = mean of each plane of S values. */
void ref_grad_global_avg_pool(const double *x, int NC, int S, double *y);

/* Softmax (log_softmax != 0: log-softmax) of each row of x [rows, cols], shifted by the
 * row's maximum. */
void ref_grad_softmax(const double *x, int rows, int cols, int log_softmax, double *y);

/* Bilinear resize H x W -> OH x OW per plane, align_corners = false. */
void ref_grad_resize_bilinear(const double *x, int NC, int H, int W, double *y, int OH, int OW);

#endif
