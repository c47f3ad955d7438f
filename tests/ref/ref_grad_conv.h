/* ref_grad_conv.h: double-precision CPU forwards of convolution, linear and
 * Squeeze-and-Excitation, for the finite-difference checks of their backward ops
 * (tests/test_grad_conv.c), plus the convolution's backward as plain adjoint loops
 * for a shape too big for finite differences. Textbook loops, row-major, NCHW. */
#ifndef CLCNN_TEST_REF_GRAD_CONV_H
#define CLCNN_TEST_REF_GRAD_CONV_H

/* A convolution's sizes: x [N, C, H, W], w [Cout, C/groups, KH, KW], y [N, Cout, OH, OW]. */
typedef struct {
    int N, C, H, W, Cout, KH, KW;
    int sh, sw, ph, pw, dh, dw, groups;
    int OH, OW;
} refd_conv_shape;

/* Grow H and W until the dilated kernel fits the padded input. */
void refd_conv_fit_input(refd_conv_shape *s);

/* y = conv2d(x, w) + b (b [Cout] or NULL). */
void refd_conv2d(const refd_conv_shape *s, const double *x, const double *w, const double *b, double *y);

/* The adjoint loops of refd_conv2d: dx = conv^T(dy) (overwritten), dw and db
 * overwritten with the gradients of sum(dy * y). Any output may be NULL. */
void refd_conv2d_backward(const refd_conv_shape *s, const double *x, const double *w, const double *dy, double *dx,
                          double *dw, double *db);

/* y [N, M] = x [N, K] w [M, K]^T + b (b [M] or NULL). */
void refd_linear(const double *x, int N, int K, const double *w, int M, const double *b, double *y);
/* Y [M, N] = alpha op(A) op(B) + beta C; A [M, K] or [K, M] (trans_a), B [K, N] or
 * [N, K] (trans_b). With beta 0, C is not read (BLAS's convention). */
void refd_gemm(int trans_a, int trans_b, int M, int N, int K, double alpha, const double *A, const double *B,
               double beta, const double *C, double *Y);

/* z = x * gate(w2 inner(w1 gap(x) + b1) + b2); x [N, C, H, W], w1 [Cr, C], b1 [Cr],
 * w2 [C, Cr], b2 [C]. */
void refd_squeeze_excite(const double *x, int N, int C, int H, int W, const double *w1, const double *b1,
                         const double *w2, const double *b2, int Cr, int inner, int gate, double *z);

#endif
