/* test_grad_conv.c: the backward of convolution, linear and Squeeze-and-Excitation
 * against central finite differences of double-precision CPU forwards
 * (tests/ref/ref_grad_conv.c), with L = sum(r * y) for a random r (so dy = r).
 *
 * Every gradient output lives inside a raw cl_mem with sentinel guards on both
 * sides, which must survive. dx is pre-filled with NaN when not accumulating (it
 * must not be read) and with known values when accumulating; parameter gradients
 * are pre-filled with known values, which must be added to.
 *
 * Tolerances: |got - want| <= atol + rtol * |want|.
 *  - Convolution and linear are linear in each input, so their central differences
 *    (step 1e-3, in double) are exact to ~1e-10 and the float kernels set the error:
 *    rtol 1e-4 and atol 2e-6 * (terms + 10), terms being how many products of O(1)
 *    values one gradient element sums (a float32 sum of T such products is off by
 *    up to about T * 6e-8; measured errors are ~1e-6, some 100 times below).
 *  - Squeeze-and-Excitation is smooth away from ReLU's kink, which the test keeps
 *    every hidden unit at least 0.05 away from by choosing fc1's bias; there the
 *    differences' truncation error h^2 f''' / 6 is ~1e-7 and the float chain's
 *    error ~1e-6 (measured), so atol 2e-5 and rtol 1e-4. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ref/gradcheck.h"
#include "ref/ref_grad_conv.h"

enum { GUARD = 37, HOST_MAX = 48, DEV_MAX = 12, OUT_MAX = 6 };
static const float SENTINEL = -7777.25f;
static const double FD_STEP = 1e-3;
static const double ZEROS[1024]; /* contents of tensors that only need a shape */

/* ----------------------------------------------------- per-case resources -- */

/* Everything one case allocates, freed together; bad: setup failed (reported) and
 * the case is abandoned. desc names the case in failure messages. */
typedef struct {
    void *host[HOST_MAX];
    clcnn_tensor *dev[DEV_MAX];
    struct {
        cl_mem buf;
        clcnn_tensor *t;
        size_t n;
    } out[OUT_MAX];
    int nhost, ndev, nout, bad;
    char desc[256];
} arena;

static void arena_desc(arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->desc, sizeof a->desc, fmt, ap);
    va_end(ap);
}

static void arena_fail(arena *a, const char *what) {
    if (!a->bad) test_fail(__FILE__, __LINE__, "%s: setup: %s", a->desc, what);
    a->bad = 1;
}

static void arena_free(arena *a) {
    for (int i = 0; i < a->nout; i++) {
        clcnn_tensor_destroy(a->out[i].t); /* before the buffer it wraps */
        if (a->out[i].buf) clReleaseMemObject(a->out[i].buf);
    }
    for (int i = 0; i < a->ndev; i++) clcnn_tensor_destroy(a->dev[i]);
    for (int i = 0; i < a->nhost; i++) free(a->host[i]);
}

static void *a_alloc(arena *a, size_t bytes) {
    if (a->bad) return NULL;
    void *p = a->nhost < HOST_MAX ? calloc(1, bytes ? bytes : 1) : NULL;
    if (!p) {
        arena_fail(a, "host allocation failed");
        return NULL;
    }
    return a->host[a->nhost++] = p;
}

static double *a_doubles(arena *a, size_t n) { return a_alloc(a, n * sizeof(double)); }
static float *a_floats(arena *a, size_t n) { return a_alloc(a, n * sizeof(float)); }

/* Uniform in [lo, hi), drawn as floats so that the device sees the same values. */
static double *a_rand(arena *a, test_rng *rng, size_t n, float lo, float hi) {
    double *p = a_doubles(a, n);
    for (size_t i = 0; p && i < n; i++) p[i] = test_rng_uniform(rng, lo, hi);
    return p;
}

static size_t numel(int ndim, const int *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

/* A device tensor holding data (doubles that are exact floats). */
static clcnn_tensor *a_input(arena *a, int ndim, const int *shape, const double *data) {
    const size_t n = numel(ndim, shape);
    float *f = a_floats(a, n);
    if (!f || !data) return NULL;
    for (size_t i = 0; i < n; i++) f[i] = (float)data[i];
    clcnn_tensor *t = NULL;
    if (a->ndev == DEV_MAX) {
        arena_fail(a, "too many tensors");
        return NULL;
    }
    clcnn_status st = clcnn_tensor_create(g_ctx, ndim, shape, &t);
    if (st == CLCNN_OK) {
        a->dev[a->ndev++] = t;
        st = clcnn_tensor_write(t, f, n);
    }
    if (st != CLCNN_OK) {
        arena_fail(a, clcnn_last_error(g_ctx));
        return NULL;
    }
    return t;
}

static cl_command_queue queue(void) { return (cl_command_queue)clcnn_context_cl_queue(g_ctx); }

/* A gradient output over a raw buffer with guards; init NULL fills it with NaN. */
static clcnn_tensor *a_output(arena *a, int ndim, const int *shape, const double *init) {
    const size_t n = numel(ndim, shape), total = n + 2 * GUARD;
    float *fill = a_floats(a, total);
    if (!fill) return NULL;
    if (a->nout == OUT_MAX) {
        arena_fail(a, "too many outputs");
        return NULL;
    }
    for (size_t i = 0; i < total; i++) fill[i] = SENTINEL;
    for (size_t i = 0; i < n; i++) fill[GUARD + i] = init ? (float)init[i] : NAN;
    cl_int err;
    cl_mem buf = clCreateBuffer((cl_context)clcnn_context_cl_context(g_ctx), CL_MEM_READ_WRITE, total * sizeof *fill,
                                NULL, &err);
    if (err != CL_SUCCESS) {
        arena_fail(a, "clCreateBuffer failed");
        return NULL;
    }
    a->out[a->nout].buf = buf;
    a->out[a->nout].n = n;
    clcnn_tensor **t = &a->out[a->nout++].t;
    err = clEnqueueWriteBuffer(queue(), buf, CL_TRUE, 0, total * sizeof *fill, fill, 0, NULL, NULL);
    if (err != CL_SUCCESS || clcnn_tensor_wrap(g_ctx, buf, GUARD, ndim, shape, t) != CLCNN_OK) {
        arena_fail(a, "guarded output setup failed");
        return NULL;
    }
    return *t;
}

/* The contents of output t after checking its guards (NULL if unreadable). */
static float *a_read(arena *a, const clcnn_tensor *t) {
    int i = 0;
    while (i < a->nout && a->out[i].t != t) i++;
    if (a->bad || i == a->nout) return NULL;
    const size_t n = a->out[i].n, total = n + 2 * GUARD;
    float *all = a_floats(a, total);
    if (!all || clcnn_finish(g_ctx) != CLCNN_OK ||
        clEnqueueReadBuffer(queue(), a->out[i].buf, CL_TRUE, 0, total * sizeof *all, all, 0, NULL, NULL) !=
            CL_SUCCESS) {
        arena_fail(a, "reading an output failed");
        return NULL;
    }
    for (size_t j = 0; j < 2 * GUARD; j++) {
        const size_t at = j < GUARD ? j : n + j;
        if (all[at] != SENTINEL) {
            test_fail(__FILE__, __LINE__, "%s: guard overwritten %s the output: %.9g", a->desc,
                      j < GUARD ? "before" : "after", all[at]);
            break;
        }
    }
    return all + GUARD;
}

/* Check a device gradient against want (+ base, the pre-filled value, unless NULL). */
static void check_grad(arena *a, const char *what, const clcnn_tensor *t, const double *want, const double *base,
                       double atol, double rtol) {
    float *got = a_read(a, t);
    double *expect = a_doubles(a, clcnn_tensor_numel(t));
    if (!got || !expect) return;
    const size_t n = clcnn_tensor_numel(t);
    for (size_t i = 0; i < n; i++) expect[i] = want[i] + (base ? base[i] : 0.0);
    if (FD_CHECK(what, got, expect, n, atol, rtol)) test_fail(__FILE__, __LINE__, "in case %s", a->desc);
}

/* atol for gradient elements that each sum `terms` products of O(1) values. */
static double sum_atol(double terms) { return 2e-6 * (terms + 10.0); }

/* Finite differences of a forward f whose inputs live in user, perturbing in (one
 * of those inputs, n elements) in place. */
static double *a_fd(arena *a, fd_forward f, void *user, double *in, size_t n, const double *r, size_t n_out) {
    double *g = a_doubles(a, n);
    if (g && in) fd_gradient(f, user, in, n, r, n_out, FD_STEP, g);
    return g;
}

/* ----------------------------------------------------------- convolution -- */

typedef struct {
    refd_conv_shape s;
    double *x, *w, *b;
} conv_problem;

static void conv_forward(const double *in, double *out, void *user) {
    (void)in; /* in is one of p's arrays, perturbed in place */
    const conv_problem *p = user;
    refd_conv2d(&p->s, p->x, p->w, p->b, out);
}

static int conv_out(int in, int k, int stride, int pad, int dil) {
    return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

static clcnn_conv_params conv_params(const refd_conv_shape *s) {
    return (clcnn_conv_params){.stride_h = s->sh, .stride_w = s->sw, .pad_h = s->ph, .pad_w = s->pw,
                               .dilation_h = s->dh, .dilation_w = s->dw, .groups = s->groups};
}

/* One convolution case against finite differences: dx (overwritten or accumulated),
 * dw and db (added to their pre-filled values). */
static void conv_case(test_rng *rng, refd_conv_shape s, int accumulate) {
    s.OH = conv_out(s.H, s.KH, s.sh, s.ph, s.dh);
    s.OW = conv_out(s.W, s.KW, s.sw, s.pw, s.dw);
    arena a = {0};
    arena_desc(&a, "x [%d, %d, %d, %d] w [%d, %d, %d, %d] stride %dx%d pad %dx%d dilation %dx%d groups %d%s", s.N, s.C,
               s.H, s.W, s.Cout, s.C / s.groups, s.KH, s.KW, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, s.groups,
               accumulate ? " accumulate" : "");
    const int xs[4] = {s.N, s.C, s.H, s.W}, ws[4] = {s.Cout, s.C / s.groups, s.KH, s.KW};
    const int ys[4] = {s.N, s.Cout, s.OH, s.OW}, bs[1] = {s.Cout};
    const size_t nx = numel(4, xs), nw = numel(4, ws), ny = numel(4, ys);
    conv_problem p = {s, a_rand(&a, rng, nx, -1, 1), a_rand(&a, rng, nw, -1, 1),
                      a_rand(&a, rng, (size_t)s.Cout, -1, 1)};
    double *r = a_rand(&a, rng, ny, -1, 1);
    double *dx0 = accumulate ? a_rand(&a, rng, nx, -1, 1) : NULL;
    double *dw0 = a_rand(&a, rng, nw, -1, 1), *db0 = a_rand(&a, rng, (size_t)s.Cout, -1, 1);
    clcnn_tensor *x = a_input(&a, 4, xs, p.x), *w = a_input(&a, 4, ws, p.w), *dy = a_input(&a, 4, ys, r);
    clcnn_tensor *dx = a_output(&a, 4, xs, dx0), *dw = a_output(&a, 4, ws, dw0), *db = a_output(&a, 1, bs, db0);
    if (a.bad) goto done;
    const clcnn_conv_params cp = conv_params(&s);
    clcnn_status st = clcnn_conv2d_backward(g_ctx, x, w, &cp, dy, dx, accumulate, dw, db);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "%s: clcnn_conv2d_backward -> %s: %s", a.desc, clcnn_status_str(st),
                  clcnn_last_error(g_ctx));
        goto done;
    }
    const double *gx = a_fd(&a, conv_forward, &p, p.x, nx, r, ny);
    const double *gw = a_fd(&a, conv_forward, &p, p.w, nw, r, ny);
    const double *gb = a_fd(&a, conv_forward, &p, p.b, (size_t)s.Cout, r, ny);
    if (a.bad) goto done;
    const double taps = (double)s.KH * s.KW, pixels = (double)s.N * s.OH * s.OW;
    check_grad(&a, "dx", dx, gx, dx0, sum_atol(taps * (s.Cout / s.groups)), 1e-4);
    check_grad(&a, "dw", dw, gw, dw0, sum_atol(pixels), 1e-4);
    check_grad(&a, "db", db, gb, db0, sum_atol(pixels), 1e-4);
done:
    arena_free(&a);
}

/* The test's own stream: g_seed mixed with a per-test constant. */
static test_rng rng_for(uint64_t salt) { return (test_rng){g_seed ^ salt}; }

/* Random small convolutions: kernels 1..3, strides 1..2, padding 0..2, dilation 1..2,
 * groups 1, 2 or depthwise, batch 1..3; every other case accumulates into dx. */
static void test_conv2d_backward_random(void) {
    test_rng rng = rng_for(0xC0B1A5E5ull);
    for (int i = 0; i < 14; i++) {
        refd_conv_shape s = {0};
        const int kind = i % 3; /* 0: groups 1, 1: groups 2, 2: depthwise */
        s.groups = kind == 0 ? 1 : kind == 1 ? 2 : test_rng_int(&rng, 2, 5);
        s.C = kind == 2 ? s.groups : s.groups * test_rng_int(&rng, 1, 3);
        s.Cout = s.groups * test_rng_int(&rng, 1, kind == 2 ? 2 : 3);
        s.N = test_rng_int(&rng, 1, 3);
        s.KH = test_rng_int(&rng, 1, 3), s.KW = test_rng_int(&rng, 1, 3);
        s.sh = test_rng_int(&rng, 1, 2), s.sw = test_rng_int(&rng, 1, 2);
        s.ph = test_rng_int(&rng, 0, 2), s.pw = test_rng_int(&rng, 0, 2);
        s.dh = test_rng_int(&rng, 1, 2), s.dw = test_rng_int(&rng, 1, 2);
        s.H = test_rng_int(&rng, 1, 7), s.W = test_rng_int(&rng, 1, 7);
        /* the dilated kernel must fit the padded input */
        while (s.H + 2 * s.ph < s.dh * (s.KH - 1) + 1) s.H++;
        while (s.W + 2 * s.pw < s.dw * (s.KW - 1) + 1) s.W++;
        conv_case(&rng, s, i % 2);
    }
}

/* A ResNet stem: 7x7, stride 2, padding 3, odd input size. */
static void test_conv2d_backward_stem(void) {
    test_rng rng = rng_for(0x57E3ull);
    const refd_conv_shape s = {.N = 2, .C = 3, .H = 9, .W = 7, .Cout = 3, .KH = 7, .KW = 7,
                               .sh = 2, .sw = 2, .ph = 3, .pw = 3, .dh = 1, .dw = 1, .groups = 1};
    conv_case(&rng, s, 0);
    conv_case(&rng, s, 1);
}

/* 1x1 convolutions: stride 1 unpadded (the direct GEMM, no col2im), with groups and
 * accumulation; stride 2 and padded ones go through col2im (pixels no output touches). */
static void test_conv2d_backward_1x1(void) {
    test_rng rng = rng_for(0x1B1ull);
    const refd_conv_shape base = {.N = 3, .C = 6, .H = 5, .W = 3, .Cout = 4, .KH = 1, .KW = 1,
                                  .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    refd_conv_shape s = base;
    conv_case(&rng, s, 0);
    conv_case(&rng, s, 1);
    s.groups = 2;
    conv_case(&rng, s, 1);
    s = base;
    s.sh = s.sw = 2;
    conv_case(&rng, s, 0);
    s = base;
    s.ph = 1;
    conv_case(&rng, s, 1);
}

/* Outputs left NULL: dx alone without x, db alone without x or dx, dw alone; checked
 * against the reference's adjoint loops. */
static void test_conv2d_backward_partial(void) {
    test_rng rng = rng_for(0x9A27ull);
    refd_conv_shape s = {.N = 2, .C = 4, .H = 6, .W = 5, .Cout = 6, .KH = 3, .KW = 2,
                         .sh = 2, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 2, .groups = 2};
    s.OH = conv_out(s.H, s.KH, s.sh, s.ph, s.dh);
    s.OW = conv_out(s.W, s.KW, s.sw, s.pw, s.dw);
    arena a = {0};
    arena_desc(&a, "partial outputs");
    const int xs[4] = {s.N, s.C, s.H, s.W}, ws[4] = {s.Cout, s.C / s.groups, s.KH, s.KW};
    const int ys[4] = {s.N, s.Cout, s.OH, s.OW}, bs[1] = {s.Cout};
    const size_t nx = numel(4, xs), nw = numel(4, ws), ny = numel(4, ys);
    double *xv = a_rand(&a, &rng, nx, -1, 1), *wv = a_rand(&a, &rng, nw, -1, 1), *r = a_rand(&a, &rng, ny, -1, 1);
    double *gx = a_doubles(&a, nx), *gw = a_doubles(&a, nw), *gb = a_doubles(&a, (size_t)s.Cout);
    clcnn_tensor *x = a_input(&a, 4, xs, xv), *w = a_input(&a, 4, ws, wv), *dy = a_input(&a, 4, ys, r);
    double *zeros_w = a_doubles(&a, nw), *zeros_b = a_doubles(&a, (size_t)s.Cout);
    clcnn_tensor *dx = a_output(&a, 4, xs, NULL), *dw = a_output(&a, 4, ws, zeros_w);
    clcnn_tensor *db = a_output(&a, 1, bs, zeros_b);
    if (a.bad) goto done;
    refd_conv2d_backward(&s, xv, wv, r, gx, gw, gb);
    const clcnn_conv_params cp = conv_params(&s);
    CHECK_OK(clcnn_conv2d_backward(g_ctx, NULL, w, &cp, dy, dx, 0, NULL, NULL));
    CHECK_OK(clcnn_conv2d_backward(g_ctx, NULL, w, &cp, dy, NULL, 0, NULL, db));
    CHECK_OK(clcnn_conv2d_backward(g_ctx, x, w, &cp, dy, NULL, 0, dw, NULL));
    CHECK_OK(clcnn_conv2d_backward(g_ctx, x, w, &cp, dy, NULL, 0, NULL, NULL)); /* nothing asked: no-op */
    const double pixels = (double)s.N * s.OH * s.OW;
    check_grad(&a, "dx", dx, gx, NULL, sum_atol(s.KH * s.KW * (s.Cout / s.groups)), 1e-4);
    check_grad(&a, "dw", dw, gw, NULL, sum_atol(pixels), 1e-4);
    check_grad(&a, "db", db, gb, NULL, sum_atol(pixels), 1e-4);
done:
    arena_free(&a);
}

/* A batch whose column scratch exceeds the backward's bound, so it runs in chunks of
 * two images and a tail of one (the per-image scratch is 198 * 250^2 floats of the
 * 32 Mi-float bound); checked against the reference's adjoint loops. */
static void test_conv2d_backward_chunked(void) {
    test_rng rng = rng_for(0xC4C4ull);
    refd_conv_shape s = {.N = 3, .C = 4, .H = 250, .W = 250, .Cout = 2, .KH = 7, .KW = 7,
                         .sh = 1, .sw = 1, .ph = 3, .pw = 3, .dh = 1, .dw = 1, .groups = 2};
    s.OH = conv_out(s.H, s.KH, s.sh, s.ph, s.dh);
    s.OW = conv_out(s.W, s.KW, s.sw, s.pw, s.dw);
    arena a = {0};
    arena_desc(&a, "chunked x [3, 4, 250, 250] w [2, 2, 7, 7] pad 3 groups 2");
    const int xs[4] = {s.N, s.C, s.H, s.W}, ws[4] = {s.Cout, s.C / s.groups, s.KH, s.KW};
    const int ys[4] = {s.N, s.Cout, s.OH, s.OW}, bs[1] = {s.Cout};
    const size_t nx = numel(4, xs), nw = numel(4, ws), ny = numel(4, ys);
    double *xv = a_rand(&a, &rng, nx, -1, 1), *wv = a_rand(&a, &rng, nw, -1, 1), *r = a_rand(&a, &rng, ny, -1, 1);
    double *gx = a_doubles(&a, nx), *gw = a_doubles(&a, nw), *gb = a_doubles(&a, (size_t)s.Cout);
    double *dw0 = a_rand(&a, &rng, nw, -1, 1), *db0 = a_rand(&a, &rng, (size_t)s.Cout, -1, 1);
    clcnn_tensor *x = a_input(&a, 4, xs, xv), *w = a_input(&a, 4, ws, wv), *dy = a_input(&a, 4, ys, r);
    clcnn_tensor *dx = a_output(&a, 4, xs, NULL), *dw = a_output(&a, 4, ws, dw0), *db = a_output(&a, 1, bs, db0);
    if (a.bad) goto done;
    const clcnn_conv_params cp = conv_params(&s);
    CHECK_OK(clcnn_conv2d_backward(g_ctx, x, w, &cp, dy, dx, 0, dw, db));
    refd_conv2d_backward(&s, xv, wv, r, gx, gw, gb);
    const double pixels = (double)s.N * s.OH * s.OW;
    check_grad(&a, "dx", dx, gx, NULL, sum_atol(s.KH * s.KW * (s.Cout / s.groups)), 1e-4);
    check_grad(&a, "dw", dw, gw, dw0, sum_atol(pixels), 1e-4);
    check_grad(&a, "db", db, gb, db0, sum_atol(pixels), 1e-4);
done:
    arena_free(&a);
}

/* Shapes that do not fit and missing inputs are refused. */
static void test_conv2d_backward_errors(void) {
    arena a = {0};
    arena_desc(&a, "conv2d_backward errors");
    clcnn_tensor *x = a_input(&a, 4, (int[]){2, 4, 5, 5}, ZEROS), *w = a_input(&a, 4, (int[]){6, 2, 3, 3}, ZEROS);
    clcnn_tensor *dy = a_input(&a, 4, (int[]){2, 6, 3, 3}, ZEROS), *bad_dy = a_input(&a, 4, (int[]){2, 6, 5, 5}, ZEROS);
    clcnn_tensor *dx = a_input(&a, 4, (int[]){2, 4, 5, 5}, ZEROS), *bad_dx = a_input(&a, 4, (int[]){2, 4, 5, 4}, ZEROS);
    clcnn_tensor *dw = a_input(&a, 4, (int[]){6, 2, 3, 3}, ZEROS), *bad_dw = a_input(&a, 4, (int[]){6, 4, 3, 3}, ZEROS);
    clcnn_tensor *bad_db = a_input(&a, 1, (int[]){5}, ZEROS);
    if (a.bad) goto done;
    const clcnn_conv_params g2 = {.groups = 2}, g3 = {.groups = 3};
    CHECK_OK(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, dx, 0, dw, NULL));
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, bad_dy, dx, 0, dw, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, bad_dx, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, dx, 0, bad_dw, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, dx, 0, NULL, bad_db), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g3, dy, dx, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, NULL, w, &g2, bad_dy, NULL, 0, NULL, bad_db), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, NULL, w, &g2, dy, dx, 0, dw, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, NULL, &g2, dy, dx, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_conv2d_backward(NULL, x, w, &g2, dy, dx, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
done:
    arena_free(&a);
}

/* ---------------------------------------------------------------- linear -- */

typedef struct {
    int N, K, M;
    double *x, *w, *b;
} linear_problem;

static void linear_forward(const double *in, double *out, void *user) {
    (void)in;
    const linear_problem *p = user;
    refd_linear(p->x, p->N, p->K, p->w, p->M, p->b, out);
}

/* x [N, K] or [N, c, h, w] (flattened), w [M, K] or [M, K, 1, 1]; FD for dx, dw, db. */
static void test_linear_backward(void) {
    test_rng rng = rng_for(0x11AEA5ull);
    for (int i = 0; i < 10; i++) {
        const int N = test_rng_int(&rng, 1, 5), M = test_rng_int(&rng, 1, 20), accumulate = i % 2;
        const int image = i % 3 == 2, conv_w = i % 4 == 1; /* x as an image; w as a 1x1 conv weight */
        int xs[4] = {N, test_rng_int(&rng, 1, 40), 1, 1};
        if (image) xs[1] = test_rng_int(&rng, 1, 4), xs[2] = test_rng_int(&rng, 1, 3), xs[3] = test_rng_int(&rng, 1, 3);
        const int xdims = image ? 4 : 2, K = xs[1] * xs[2] * xs[3];
        const int ws[4] = {M, K, 1, 1}, wdims = conv_w ? 4 : 2, ys[2] = {N, M};
        arena a = {0};
        arena_desc(&a, "x [%d, %d, %d, %d] (%dD) w [%d, %d] (%dD)%s", xs[0], xs[1], xs[2], xs[3], xdims, M, K, wdims,
                   accumulate ? " accumulate" : "");
        const size_t nx = (size_t)N * K, nw = (size_t)M * K, ny = (size_t)N * M;
        linear_problem p = {N, K, M, a_rand(&a, &rng, nx, -1, 1), a_rand(&a, &rng, nw, -1, 1),
                            a_rand(&a, &rng, (size_t)M, -1, 1)};
        double *r = a_rand(&a, &rng, ny, -1, 1), *dx0 = accumulate ? a_rand(&a, &rng, nx, -1, 1) : NULL;
        double *dw0 = a_rand(&a, &rng, nw, -1, 1), *db0 = a_rand(&a, &rng, (size_t)M, -1, 1);
        clcnn_tensor *x = a_input(&a, xdims, xs, p.x), *w = a_input(&a, wdims, ws, p.w), *dy = a_input(&a, 2, ys, r);
        clcnn_tensor *dx = a_output(&a, xdims, xs, dx0), *dw = a_output(&a, wdims, ws, dw0);
        clcnn_tensor *db = a_output(&a, 1, &M, db0);
        if (!a.bad) {
            CHECK_OK(clcnn_linear_backward(g_ctx, x, w, dy, dx, accumulate, dw, db));
            const double *gx = a_fd(&a, linear_forward, &p, p.x, nx, r, ny);
            const double *gw = a_fd(&a, linear_forward, &p, p.w, nw, r, ny);
            const double *gb = a_fd(&a, linear_forward, &p, p.b, (size_t)M, r, ny);
            if (!a.bad) {
                check_grad(&a, "dx", dx, gx, dx0, sum_atol(M), 1e-4);
                check_grad(&a, "dw", dw, gw, dw0, sum_atol(N), 1e-4);
                check_grad(&a, "db", db, gb, db0, sum_atol(N), 1e-4);
            }
        }
        arena_free(&a);
    }
}

/* dx alone without x; shape errors and a missing x. */
static void test_linear_backward_partial_errors(void) {
    test_rng rng = rng_for(0x11AE7ull);
    arena a = {0};
    arena_desc(&a, "linear_backward partial/errors");
    const int N = 3, K = 7, M = 5;
    double *xv = a_rand(&a, &rng, (size_t)N * K, -1, 1), *wv = a_rand(&a, &rng, (size_t)M * K, -1, 1);
    double *r = a_rand(&a, &rng, (size_t)N * M, -1, 1), *gx = a_doubles(&a, (size_t)N * K);
    clcnn_tensor *x = a_input(&a, 2, (int[]){N, K}, xv), *w = a_input(&a, 2, (int[]){M, K}, wv);
    clcnn_tensor *dy = a_input(&a, 2, (int[]){N, M}, r), *bad_dy = a_input(&a, 2, (int[]){N, M + 1}, ZEROS);
    clcnn_tensor *bad_dx = a_input(&a, 2, (int[]){N, K + 1}, ZEROS), *bad_dw = a_input(&a, 2, (int[]){M, K + 1}, ZEROS);
    clcnn_tensor *dx = a_output(&a, 2, (int[]){N, K}, NULL), *bad_db = a_input(&a, 1, (int[]){M - 1}, r);
    if (a.bad) goto done;
    for (int n = 0; n < N; n++) /* dx = dy w */
        for (int k = 0; k < K; k++)
            for (int m = 0; m < M; m++) gx[n * K + k] += r[n * M + m] * wv[m * K + k];
    CHECK_OK(clcnn_linear_backward(g_ctx, NULL, w, dy, dx, 0, NULL, NULL));
    check_grad(&a, "dx", dx, gx, NULL, sum_atol(M), 1e-4);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, bad_dy, dx, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, dy, bad_dx, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, dy, NULL, 0, bad_dw, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, dy, NULL, 0, NULL, bad_db), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, NULL, w, dy, NULL, 0, bad_dw, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_linear_backward(NULL, x, w, dy, dx, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
done:
    arena_free(&a);
}

/* ---------------------------------------------------- squeeze-excitation -- */

typedef struct {
    int N, C, H, W, Cr;
    double *x, *w1, *b1, *w2, *b2;
} se_problem;

static void se_forward(const double *in, double *out, void *user) {
    (void)in;
    const se_problem *p = user;
    refd_squeeze_excite(p->x, p->N, p->C, p->H, p->W, p->w1, p->b1, p->w2, p->b2, p->Cr, out);
}

/* Choose b1 so that every hidden pre-activation is at least 0.05 from ReLU's kink (a
 * finite-difference step moves it by at most ~1e-3). */
static void se_bias_off_kink(test_rng *rng, se_problem *p) {
    const int S = p->H * p->W;
    for (int j = 0; j < p->Cr; j++) {
        for (int tries = 0; tries < 1000; tries++) {
            p->b1[j] = test_rng_uniform(rng, -1, 1);
            double closest = 1e9;
            for (int n = 0; n < p->N; n++) {
                double v = p->b1[j];
                for (int c = 0; c < p->C; c++) {
                    double sum = 0;
                    for (int s = 0; s < S; s++) sum += p->x[((size_t)n * p->C + c) * S + s];
                    v += p->w1[j * p->C + c] * sum / S;
                }
                closest = fmin(closest, fabs(v));
            }
            if (closest >= 0.05) break;
        }
    }
}

/* Random SE blocks (weights as [Cr, C] or [Cr, C, 1, 1]); FD for dx and all four
 * parameter gradients; every other case accumulates into dx. */
static void test_squeeze_excite_backward(void) {
    test_rng rng = rng_for(0x5E5Eull);
    for (int i = 0; i < 8; i++) {
        se_problem p = {.N = test_rng_int(&rng, 1, 3), .C = test_rng_int(&rng, 2, 10), .H = test_rng_int(&rng, 1, 5),
                        .W = test_rng_int(&rng, 1, 5), .Cr = test_rng_int(&rng, 1, 4)};
        const int accumulate = i % 2, wd = i % 3 == 1 ? 4 : 2;
        arena a = {0};
        arena_desc(&a, "x [%d, %d, %d, %d] Cr %d weights %dD%s", p.N, p.C, p.H, p.W, p.Cr, wd,
                   accumulate ? " accumulate" : "");
        const int xs[4] = {p.N, p.C, p.H, p.W}, w1s[4] = {p.Cr, p.C, 1, 1}, w2s[4] = {p.C, p.Cr, 1, 1};
        const size_t nx = numel(4, xs), nw = (size_t)p.C * p.Cr;
        p.x = a_rand(&a, &rng, nx, -1, 1);
        p.w1 = a_rand(&a, &rng, nw, -1, 1), p.b1 = a_doubles(&a, (size_t)p.Cr);
        p.w2 = a_rand(&a, &rng, nw, -1, 1), p.b2 = a_rand(&a, &rng, (size_t)p.C, -1, 1);
        double *r = a_rand(&a, &rng, nx, -1, 1), *dx0 = accumulate ? a_rand(&a, &rng, nx, -1, 1) : NULL;
        double *dw10 = a_rand(&a, &rng, nw, -1, 1), *db10 = a_rand(&a, &rng, (size_t)p.Cr, -1, 1);
        double *dw20 = a_rand(&a, &rng, nw, -1, 1), *db20 = a_rand(&a, &rng, (size_t)p.C, -1, 1);
        if (!a.bad) se_bias_off_kink(&rng, &p);
        clcnn_tensor *x = a_input(&a, 4, xs, p.x), *dz = a_input(&a, 4, xs, r);
        clcnn_tensor *w1 = a_input(&a, wd, w1s, p.w1), *b1 = a_input(&a, 1, &p.Cr, p.b1);
        clcnn_tensor *w2 = a_input(&a, wd, w2s, p.w2), *b2 = a_input(&a, 1, &p.C, p.b2);
        clcnn_tensor *dx = a_output(&a, 4, xs, dx0), *dw1 = a_output(&a, wd, w1s, dw10);
        clcnn_tensor *db1 = a_output(&a, 1, &p.Cr, db10), *dw2 = a_output(&a, wd, w2s, dw20);
        clcnn_tensor *db2 = a_output(&a, 1, &p.C, db20);
        if (!a.bad) {
            CHECK_OK(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, w2, b2, dz, dx, accumulate, dw1, db1, dw2, db2));
            const double *gx = a_fd(&a, se_forward, &p, p.x, nx, r, nx);
            const double *gw1 = a_fd(&a, se_forward, &p, p.w1, nw, r, nx);
            const double *gb1 = a_fd(&a, se_forward, &p, p.b1, (size_t)p.Cr, r, nx);
            const double *gw2 = a_fd(&a, se_forward, &p, p.w2, nw, r, nx);
            const double *gb2 = a_fd(&a, se_forward, &p, p.b2, (size_t)p.C, r, nx);
            if (!a.bad) {
                check_grad(&a, "dx", dx, gx, dx0, 2e-5, 1e-4);
                check_grad(&a, "dw1", dw1, gw1, dw10, 2e-5, 1e-4);
                check_grad(&a, "db1", db1, gb1, db10, 2e-5, 1e-4);
                check_grad(&a, "dw2", dw2, gw2, dw20, 2e-5, 1e-4);
                check_grad(&a, "db2", db2, gb2, db20, 2e-5, 1e-4);
            }
        }
        arena_free(&a);
    }
}

/* Only fc2's gradients (dx and fc1's NULL); shape errors. */
static void test_squeeze_excite_backward_partial_errors(void) {
    test_rng rng = rng_for(0x5E7ull);
    se_problem p = {.N = 2, .C = 6, .H = 3, .W = 4, .Cr = 3};
    arena a = {0};
    arena_desc(&a, "squeeze_excite_backward partial/errors");
    const int xs[4] = {p.N, p.C, p.H, p.W}, w1s[2] = {p.Cr, p.C}, w2s[2] = {p.C, p.Cr};
    const size_t nx = numel(4, xs), nw = (size_t)p.C * p.Cr;
    p.x = a_rand(&a, &rng, nx, -1, 1), p.w1 = a_rand(&a, &rng, nw, -1, 1), p.b1 = a_doubles(&a, (size_t)p.Cr);
    p.w2 = a_rand(&a, &rng, nw, -1, 1), p.b2 = a_rand(&a, &rng, (size_t)p.C, -1, 1);
    double *r = a_rand(&a, &rng, nx, -1, 1), *zw = a_doubles(&a, nw), *zb = a_doubles(&a, (size_t)p.C);
    if (!a.bad) se_bias_off_kink(&rng, &p);
    clcnn_tensor *x = a_input(&a, 4, xs, p.x), *dz = a_input(&a, 4, xs, r);
    clcnn_tensor *w1 = a_input(&a, 2, w1s, p.w1), *b1 = a_input(&a, 1, &p.Cr, p.b1);
    clcnn_tensor *w2 = a_input(&a, 2, w2s, p.w2), *b2 = a_input(&a, 1, &p.C, p.b2);
    clcnn_tensor *dw2 = a_output(&a, 2, w2s, zw), *db2 = a_output(&a, 1, &p.C, zb);
    clcnn_tensor *bad_dz = a_input(&a, 4, (int[]){p.N, p.C, p.H, p.W + 1}, ZEROS);
    clcnn_tensor *bad_w2 = a_input(&a, 2, (int[]){p.C + 1, p.Cr}, ZEROS), *bad_db1 = a_input(&a, 1, &p.C, ZEROS);
    if (a.bad) goto done;
    CHECK_OK(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, w2, b2, dz, NULL, 0, NULL, NULL, dw2, db2));
    const double *gw2 = a_fd(&a, se_forward, &p, p.w2, nw, r, nx);
    const double *gb2 = a_fd(&a, se_forward, &p, p.b2, (size_t)p.C, r, nx);
    if (a.bad) goto done;
    check_grad(&a, "dw2", dw2, gw2, NULL, 2e-5, 1e-4);
    check_grad(&a, "db2", db2, gb2, NULL, 2e-5, 1e-4);
    CHECK_STATUS(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, w2, b2, bad_dz, NULL, 0, NULL, NULL, NULL, NULL),
                 CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, bad_w2, b2, dz, NULL, 0, NULL, NULL, NULL, NULL),
                 CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, w2, b2, dz, NULL, 0, NULL, bad_db1, NULL, NULL),
                 CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_squeeze_excite_backward(NULL, x, w1, b1, w2, b2, dz, NULL, 0, NULL, NULL, NULL, NULL),
                 CLCNN_ERR_INVALID_ARGUMENT);
done:
    arena_free(&a);
}

const test_case test_grad_conv_cases[] = {
    {"conv2d_backward_random", test_conv2d_backward_random},
    {"conv2d_backward_stem", test_conv2d_backward_stem},
    {"conv2d_backward_1x1", test_conv2d_backward_1x1},
    {"conv2d_backward_partial", test_conv2d_backward_partial},
    {"conv2d_backward_chunked", test_conv2d_backward_chunked},
    {"conv2d_backward_errors", test_conv2d_backward_errors},
    {"linear_backward", test_linear_backward},
    {"linear_backward_partial_errors", test_linear_backward_partial_errors},
    {"squeeze_excite_backward", test_squeeze_excite_backward},
    {"squeeze_excite_backward_partial_errors", test_squeeze_excite_backward_partial_errors},
    {NULL, NULL},
};
