/* gradcheck.h: central finite differences in double precision, for checking the
 * device's backward kernels against a plain double-precision CPU forward. */
#ifndef CLCNN_TEST_GRADCHECK_H
#define CLCNN_TEST_GRADCHECK_H

#include <stddef.h>

/* A forward function in double: out = f(in), with whatever else it needs in user. */
typedef void (*fd_forward)(const double *in, double *out, void *user);

/* grad[i] = d/d in[i] of L(in) = sum_j r[j] * f(in)[j], by central differences with
 * step h (in is perturbed one element at a time and restored). */
void fd_gradient(fd_forward f, void *user, double *in, size_t n_in, const double *r, size_t n_out,
                 double h, double *grad);

/* Compare device values (float) with expected ones (double): a finite-difference
 * gradient or a CPU reference's output;
 * |got - want| <= atol + rtol * |want| elementwise. Reports the first mismatches
 * through the test harness (naming what and the index) and returns their count. */
int fd_compare(const char *file, int line, const char *what, const float *got, const double *want, size_t n,
               double atol, double rtol);
#define FD_CHECK(what, got, want, n, atol, rtol) fd_compare(__FILE__, __LINE__, what, got, want, n, atol, rtol)

/* Widen / narrow arrays. */
void fd_to_double(const float *src, double *dst, size_t n);

#endif
