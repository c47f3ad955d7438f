/* testutil.h: what the op tests share: shapes as text, and a per-case arena that
 * owns the case's host buffers, device tensors and guarded device tensors and
 * frees them together.
 *
 * A guarded tensor is wrapped at offset TU_GUARD inside a bigger raw cl_mem whose
 * TU_GUARD floats on each side hold TU_SENTINEL; reading it back checks that both
 * guards survived, so an op writing out of bounds fails the test. Outputs are
 * pre-filled (NaN, the sentinel or known values) so that unwritten elements show.
 *
 * Setup failures are reported once, with the case's description, and mark the
 * arena bad: every later ar_* call then returns NULL and the case is skipped. */
#ifndef CLCNN_TEST_TESTUTIL_H
#define CLCNN_TEST_TESTUTIL_H

#include <stddef.h>
#include "harness.h"
#include "ref/gradcheck.h"
#include "ref/ref_grad_conv.h"

enum { TU_GUARD = 67 };
#define TU_SENTINEL (-7777.25f)

/* ------------------------------------------------------------- shapes -- */

size_t numel(int ndim, const int *shape);

/* "[2, 3, 5]" as a value, so several can appear in one printf. */
typedef struct { char s[64]; } dimstr;
dimstr dims(int ndim, const int *shape);

/* "relu" for CLCNN_ACT_RELU, "?" out of range. */
const char *act_name(int act);
/* The name ops_conv2d_algorithm gives a GEMM convolution on ctx: "implicit-gemm" where
 * the GPU family gathers its columns in gemm_local, else "im2col-gemm". */
const char *gemm_conv_name(clcnn_context *ctx);

/* -------------------------------------------------------------- files -- */

/* A file's bytes, malloc'd with a NUL after them (so text can be used as a string), and
 * their count; NULL when it cannot be read. */
unsigned char *tu_read_file(const char *path, size_t *size);
/* Write size bytes to path; 1 on success. */
int tu_write_file(const char *path, const void *data, size_t size);

/* ------------------------------------------------------------- arenas -- */

enum { AR_HOST = 64, AR_DEV = 16, AR_GUARDED = 32 };

/* A tensor inside a raw buffer between sentinels; n is its element count. */
typedef struct {
    void *buf; /* the cl_mem, as void* so that tests need no CL/cl.h */
    clcnn_tensor *t;
    size_t n;
} guarded;

/* Start each case with `arena a = {0};` and end it with ar_free(&a). */
typedef struct {
    void *host[AR_HOST];
    clcnn_tensor *dev[AR_DEV];
    guarded out[AR_GUARDED];
    int nhost, ndev, nout;
    int bad;        /* setup failed (reported): skip the case */
    char desc[256]; /* names the case in every failure message */
} arena;

/* Describe the case (printf-style), for failure messages. */
void ar_desc(arena *a, const char *fmt, ...);
/* Release everything the arena holds; it is empty (and not bad) again. */
void ar_free(arena *a);
/* Report a setup failure (the first only) and mark the arena bad. */
void ar_fail(arena *a, const char *what);

/* Zeroed host memory owned by the arena. */
void *ar_alloc(arena *a, size_t bytes);
float *ar_floats(arena *a, size_t n);
double *ar_doubles(arena *a, size_t n);
/* Uniform in [lo, hi). The double version draws floats, so that the device can
 * hold exactly the values the double reference sees. */
float *ar_rand(arena *a, test_rng *rng, size_t n, float lo, float hi);
double *ar_rand_d(arena *a, test_rng *rng, size_t n, float lo, float hi);
/* Copies in the other precision; NULL stays NULL. */
double *ar_widen(arena *a, const float *src, size_t n);
float *ar_narrow(arena *a, const double *src, size_t n);

/* A tensor from the context's pool holding data (NULL: zeros). */
clcnn_tensor *ar_tensor(arena *a, int ndim, const int *shape, const float *data);
clcnn_tensor *ar_tensor_d(arena *a, int ndim, const int *shape, const double *data);
/* A guarded tensor holding init, or `fill` everywhere when init is NULL. */
guarded *ar_guarded(arena *a, int ndim, const int *shape, const float *init, float fill);
guarded *ar_guarded_d(arena *a, int ndim, const int *shape, const double *init, float fill);

/* Finish the queue, read g back and check its guards: its contents, owned by the
 * arena (NULL when it could not be read). */
const float *ar_read(arena *a, const guarded *g);
/* Read g and compare it with want through fd_compare (|got - want| <= atol +
 * rtol |want|, NaN fails), naming the case; the largest error goes to *max_err
 * unless that is NULL. */
void ar_check(arena *a, const char *what, const guarded *g, const double *want, double atol, double rtol,
              double *max_err);

/* Central differences (step 1e-3, see gradcheck.h) of L = sum r f(in), perturbing
 * in in place: the gradient, owned by the arena (NULL when in or r is NULL). */
double *ar_fd(arena *a, fd_forward f, void *user, double *in, size_t n_in, const double *r, size_t n_out);

/* ------------------------------------------------ checks naming a case -- */

/* A clcnn call of the case returned CLCNN_OK (1), or a failure is reported (0). */
#define CASE_OK(a, expr) case_ok((a), (expr), #expr, __FILE__, __LINE__)
int case_ok(const arena *a, clcnn_status st, const char *expr, const char *file, int line);

/* CHECK with the case's description in front of the message. */
#define CASE_CHECK(a, cond, ...)                                                                                  \
    do {                                                                                                          \
        if (!(cond)) case_fail((a), __FILE__, __LINE__, __VA_ARGS__);                                             \
    } while (0)
void case_fail(const arena *a, const char *file, int line, const char *fmt, ...);

/* Random geometry for s: kernels 1..max_kernel, strides 1..max_stride, padding 0..2 and
 * dilation 1..2 (each per axis), an input of 1..max_size pixels a side grown until the
 * dilated kernel fits. Sizes and channels are the caller's. */
void tu_random_conv_geometry(test_rng *rng, refd_conv_shape *s, int max_kernel, int max_stride, int max_size);

/* The worst per-row error of got against want, both [rows, cols]: max |got - want| /
 * max |want| over each row (max |got - want| where want is all zeros); NaN wins. For
 * logits (a row per image) and maps (a row per map). */
double tu_worst_row_error(const float *got, const float *want, int rows, int cols);

/* A golden file's integer metadata `key` (a failed check, and 0, if it lacks it). */
int tu_golden_meta_int(const clcnn_weights *w, const char *key);

#endif
