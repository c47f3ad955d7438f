/* ref.h: plain-loop CPU references for every forward op, used by the op tests.
 * No OpenCL, no cleverness: each function is the textbook loop with PyTorch's
 * semantics, accumulating in double and storing float. Tensors are row-major,
 * NCHW for images; "act" takes clcnn_activation values. */
#ifndef CLCNN_TEST_REF_H
#define CLCNN_TEST_REF_H

#include <stddef.h>

/* floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1, as torch.nn.Conv2d. */
int ref_conv2d_out_size(int in, int k, int stride, int pad, int dil);

/* y = act(conv2d(x, w) + bias + residual); x [N,Cin,H,W], w [Cout,Cin/groups,KH,KW],
 * bias [Cout] or NULL, residual shaped like y or NULL, y [N,Cout,OH,OW]. */
void ref_conv2d(const float *x, int N, int Cin, int H, int W, const float *w, int Cout, int KH,
                int KW, const float *bias, int stride_h, int stride_w, int pad_h, int pad_w,
                int dil_h, int dil_w, int groups, const float *residual, int act, float *y, int OH,
                int OW);

/* Fold batch norm into the preceding conv: w [Cout, per], bias [Cout] or NULL. */
void ref_batchnorm_fold(const float *w, const float *bias, int Cout, int per, const float *gamma,
                        const float *beta, const float *mean, const float *var, float eps,
                        float *w_out, float *b_out);

/* PyTorch's pooling output size, including the ceil-mode rule that the last
 * window must start inside the input or the left padding. (Pooling, global average
 * pooling, the activations and resize have double references only, in
 * ref_grad_eltwise.h, for the table-driven harness.) */
int ref_pool_out_size(int in, int k, int stride, int pad, int ceil_mode);

/* C [M, N] = alpha op(A) op(B) + beta C; A [M,K] or [K,M] if trans_a, B [K,N] or
 * [N,K] if trans_b. With beta == 0 C is not read (BLAS convention). */
void ref_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
              const float *B, float beta, float *C);

#endif
