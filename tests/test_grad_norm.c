/* test_grad_norm.c: training batch norm and its backward.
 *
 * clcnn_batchnorm_train is checked against a double-precision reference (y, the saved
 * mean and invstd, the updated running statistics); clcnn_batchnorm_backward against
 * central finite differences (step 1e-3, in double) of the training forward, whose
 * statistics depend on x (batch_stats = 1), and of the forward with fixed statistics
 * (batch_stats = 0). The weighting r of the outputs is the dy handed to the device.
 * Every device tensor sits inside a bigger buffer at an offset, between sentinels that
 * must survive. Each test draws shapes from g_seed ^ its own constant.
 *
 * Tolerances (|got - want| <= atol + rtol |want|), float32 kernels against double:
 *   forward y          1e-4 / 1e-4  (O(1) values; mean and invstd good to ~1e-6 relative)
 *   mean, running      1e-5 / 1e-5  (sums of at most a few thousand O(1) values)
 *   invstd, run. var   1e-5 / 1e-4
 *   dx, dgamma, dbeta  2e-4 / 1e-3  (dx ~ gamma invstd dy = O(1..5) with a cancelling
 *                                     mean subtraction; dgamma sums up to ~400 terms;
 *                                     finite differences off by up to ~2e-5)
 * Measured errors are printed per test; on PoCL they sit about two orders below these
 * (the slack is for other devices' reduction orders and FMA contraction). */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ref/gradcheck.h"
#include "ref/ref_grad_norm.h"

enum { GUARD = 37, MAXC = 16 };
static const float SENTINEL = -4321.5f;

/* ------------------------------------------------------------- helpers -- */

/* A case's shape: x [N, C, ...] viewed as [N, C, S]. */
typedef struct {
    int ndim, shape[4];
    int N, C, S;
    size_t n;
    char desc[80];
} bn_case;

static void case_set(bn_case *k, int ndim, const int *shape) {
    k->ndim = ndim;
    k->n = 1;
    for (int i = 0; i < ndim; i++) {
        k->shape[i] = shape[i];
        k->n *= (size_t)shape[i];
    }
    k->N = shape[0];
    k->C = shape[1];
    k->S = (int)(k->n / ((size_t)k->N * (size_t)k->C));
    int len = snprintf(k->desc, sizeof k->desc, "x [");
    for (int i = 0; i < ndim; i++)
        len += snprintf(k->desc + len, sizeof k->desc - (size_t)len, "%s%d", i ? ", " : "", shape[i]);
    snprintf(k->desc + len, sizeof k->desc - (size_t)len, "]");
}

/* 2-, 3- or 4-D, at most max_n elements, at least 2 values per channel, odd sizes. */
static void case_random(test_rng *rng, int max_n, bn_case *k) {
    for (;;) {
        const int ndim = test_rng_int(rng, 2, 4);
        int shape[4] = {test_rng_int(rng, 1, 6), test_rng_int(rng, 1, 7), 1, 1};
        if (ndim == 2) shape[0] = test_rng_int(rng, 2, 40);
        for (int i = 2; i < ndim; i++) shape[i] = test_rng_int(rng, 1, 9);
        case_set(k, ndim, shape);
        if (k->n <= (size_t)max_n && (size_t)k->N * (size_t)k->S >= 2) return;
    }
}

/* A device tensor at offset GUARD inside a buffer with GUARD sentinels on each side. */
typedef struct {
    cl_mem buf;
    clcnn_tensor *t;
    size_t n;
} gtensor;

/* Holding host (n values), or the sentinel everywhere when host is NULL. 0 on failure. */
static int gt_make(gtensor *g, int ndim, const int *shape, size_t n, const float *host) {
    memset(g, 0, sizeof *g);
    g->n = n;
    const size_t total = n + 2 * GUARD;
    float *init = malloc(total * sizeof *init);
    if (!init) {
        test_fail(__FILE__, __LINE__, "no host memory");
        return 0;
    }
    for (size_t i = 0; i < total; i++) init[i] = SENTINEL;
    if (host) memcpy(init + GUARD, host, n * sizeof *host);
    cl_int err;
    g->buf = clCreateBuffer((cl_context)clcnn_context_cl_context(g_ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                            total * sizeof *init, init, &err);
    free(init);
    if (err != CL_SUCCESS) {
        test_fail(__FILE__, __LINE__, "clCreateBuffer -> %d", err);
        g->buf = NULL;
        return 0;
    }
    clcnn_status st = clcnn_tensor_wrap(g_ctx, g->buf, GUARD, ndim, shape, &g->t);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "clcnn_tensor_wrap -> %d: %s", st, clcnn_last_error(g_ctx));
        return 0;
    }
    return 1;
}

static int gt_vec(gtensor *g, int C, const float *host) { return gt_make(g, 1, &C, (size_t)C, host); }

/* Read the tensor into host and check the sentinels around it. 0 on failure. */
static int gt_read(const gtensor *g, float *host, const char *what, const char *desc) {
    const size_t total = g->n + 2 * GUARD;
    float *all = malloc(total * sizeof *all);
    if (!all) {
        test_fail(__FILE__, __LINE__, "no host memory");
        return 0;
    }
    cl_int err = clEnqueueReadBuffer((cl_command_queue)clcnn_context_cl_queue(g_ctx), g->buf, CL_TRUE, 0,
                                     total * sizeof *all, all, 0, NULL, NULL);
    int ok = err == CL_SUCCESS;
    if (!ok) test_fail(__FILE__, __LINE__, "%s %s: clEnqueueReadBuffer -> %d", what, desc, err);
    for (size_t i = 0; ok && i < GUARD; i++)
        if (all[i] != SENTINEL || all[GUARD + g->n + i] != SENTINEL) {
            test_fail(__FILE__, __LINE__, "%s %s: a guard value next to the tensor was overwritten", what, desc);
            ok = 0;
        }
    if (ok) memcpy(host, all + GUARD, g->n * sizeof *host);
    free(all);
    return ok;
}

static void gt_free(gtensor *g) {
    clcnn_tensor_destroy(g->t);
    if (g->buf) clReleaseMemObject(g->buf);
    memset(g, 0, sizeof *g);
}

/* Compare float results with double ones, naming the case; the largest error so far
 * goes to *max_err. Returns the number of mismatches. */
static int cmp(const char *what, const bn_case *k, const float *got, const double *want, size_t n, double atol,
               double rtol, double *max_err) {
    char label[160];
    snprintf(label, sizeof label, "%s (%s)", what, k->desc);
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]);
        if (e > *max_err) *max_err = e;
    }
    return FD_CHECK(label, got, want, n, atol, rtol);
}

/* x with per-channel offsets and spreads (so channels differ), gamma away from 0.
 * A channel's values are drawn again while their variance is under a tenth of the
 * spread's square (uniform values give a third): batch norm bends on the scale of
 * the standard deviation, and a nearly equal pair (2 values per channel) would make
 * the finite differences' step too coarse. */
static void random_inputs(test_rng *rng, const bn_case *k, float offset, float *x, float *gamma, float *beta) {
    const int M = k->N * k->S;
    for (int c = 0; c < k->C; c++) {
        const float off = test_rng_uniform(rng, -offset, offset), spread = test_rng_uniform(rng, 0.5f, 2.0f);
        gamma[c] = test_rng_uniform(rng, 0.5f, 1.5f) * (test_rng_int(rng, 0, 1) ? 1.0f : -1.0f);
        beta[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        for (int tries = 0; tries < 100; tries++) {
            double sum = 0, sq = 0;
            for (int j = 0; j < M; j++) {
                const float u = test_rng_uniform(rng, -1.0f, 1.0f);
                x[((size_t)(j / k->S) * k->C + c) * k->S + j % k->S] = off + spread * u;
                sum += u;
                sq += (double)u * u;
            }
            if (sq / M - (sum / M) * (sum / M) >= 0.1) break;
        }
    }
}

/* ------------------------------------------------------ training forward -- */

typedef struct {
    double y, mean, invstd, running;
} fwd_err;

/* One forward case: running stats present per `running` (bit 0 mean, bit 1 var). */
static void train_case(test_rng *rng, const bn_case *k, float offset, int running, fwd_err *err) {
    const int C = k->C;
    const double M = (double)k->N * k->S;
    const float momentum = test_rng_uniform(rng, 0.05f, 0.9f), eps = test_rng_int(rng, 0, 1) ? 1e-5f : 1e-3f;
    float *x = malloc(k->n * sizeof *x), *y = malloc(k->n * sizeof *y);
    double *xd = malloc(k->n * sizeof *xd), *yd = malloc(k->n * sizeof *yd);
    float gamma[MAXC], beta[MAXC], rm[MAXC], rv[MAXC], got_m[MAXC], got_is[MAXC], got_rm[MAXC], got_rv[MAXC];
    double gd[MAXC], bd[MAXC], mean[MAXC], var[MAXC], invstd[MAXC], want_rm[MAXC], want_rv[MAXC];
    gtensor tx = {0}, ty = {0}, tg = {0}, tb = {0}, trm = {0}, trv = {0}, tsm = {0}, tsi = {0};
    if (!x || !y || !xd || !yd) {
        test_fail(__FILE__, __LINE__, "no host memory");
        goto done;
    }
    random_inputs(rng, k, offset, x, gamma, beta);
    for (int c = 0; c < C; c++) {
        rm[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        rv[c] = test_rng_uniform(rng, 0.5f, 2.0f);
    }
    if (!gt_make(&tx, k->ndim, k->shape, k->n, x) || !gt_make(&ty, k->ndim, k->shape, k->n, NULL) ||
        !gt_vec(&tg, C, gamma) || !gt_vec(&tb, C, beta) || !gt_vec(&trm, C, rm) || !gt_vec(&trv, C, rv) ||
        !gt_vec(&tsm, C, NULL) || !gt_vec(&tsi, C, NULL))
        goto done;
    clcnn_status st = clcnn_batchnorm_train(g_ctx, tx.t, tg.t, tb.t, running & 1 ? trm.t : NULL,
                                            running & 2 ? trv.t : NULL, momentum, eps, ty.t, tsm.t, tsi.t);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "%s: clcnn_batchnorm_train -> %d: %s", k->desc, st, clcnn_last_error(g_ctx));
        goto done;
    }
    if (!gt_read(&ty, y, "y", k->desc) || !gt_read(&tsm, got_m, "save_mean", k->desc) ||
        !gt_read(&tsi, got_is, "save_invstd", k->desc) || !gt_read(&trm, got_rm, "running_mean", k->desc) ||
        !gt_read(&trv, got_rv, "running_var", k->desc))
        goto done;

    fd_to_double(x, xd, k->n);
    fd_to_double(gamma, gd, (size_t)C);
    fd_to_double(beta, bd, (size_t)C);
    ref_bn_batch_stats(xd, k->N, C, k->S, mean, var);
    for (int c = 0; c < C; c++) {
        invstd[c] = 1.0 / sqrt(var[c] + eps);
        want_rm[c] = running & 1 ? (1.0 - momentum) * rm[c] + momentum * mean[c] : rm[c];
        want_rv[c] = running & 2 ? (1.0 - momentum) * rv[c] + momentum * var[c] * M / (M - 1) : rv[c];
    }
    ref_bn_fixed(xd, k->N, C, k->S, gd, bd, mean, invstd, yd);
    /* The mean is a float near the offset: its rounding (half an ulp of the offset)
     * moves every y by that much times invstd gamma. */
    double mean_ulp = 0;
    for (int c = 0; c < C; c++) mean_ulp = fmax(mean_ulp, fabs(mean[c]) * 0x1p-23 * invstd[c] * fabs(gd[c]));
    cmp("save_mean", k, got_m, mean, (size_t)C, 1e-5, 1e-5, &err->mean);
    cmp("save_invstd", k, got_is, invstd, (size_t)C, 1e-5, 1e-4, &err->invstd);
    cmp("y", k, y, yd, k->n, 1e-4 + 4 * mean_ulp, 1e-4, &err->y);
    cmp("running_mean", k, got_rm, want_rm, (size_t)C, 1e-5, 1e-5, &err->running);
    cmp("running_var", k, got_rv, want_rv, (size_t)C, 1e-5, 1e-4, &err->running);
done:
    gt_free(&tx), gt_free(&ty), gt_free(&tg), gt_free(&tb);
    gt_free(&trm), gt_free(&trv), gt_free(&tsm), gt_free(&tsi);
    free(x), free(y), free(xd), free(yd);
}

static void test_batchnorm_train(void) {
    test_rng rng = {g_seed ^ 0xb47c4e01ull};
    fwd_err err = {0};
    bn_case k;
    int cases = 0;
    for (int i = 0; i < 12; i++, cases++) {
        case_random(&rng, 3000, &k);
        train_case(&rng, &k, 3.0f, i % 4 == 3 ? 0 : 3 - i % 3, &err);
    }
    /* Fixed shapes: 2 values per channel; a long 2-D batch (S = 1, more work-items
     * than S); S smaller than the number of work-items; a larger image batch. */
    static const int fixed[][5] = {{2, 2, 3}, {4, 1, 3, 2, 1}, {2, 300, 5}, {4, 50, 2, 1, 3}, {3, 3, 4, 1},
                                   {4, 2, 13, 17, 19}, {4, 8, 3, 15, 15}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++, cases++) {
        case_set(&k, fixed[i][0], fixed[i] + 1);
        train_case(&rng, &k, 3.0f, 3, &err);
    }
    printf("  %d shapes, max err: y %.1e, mean %.1e, invstd %.1e, running %.1e\n", cases, err.y, err.mean,
           err.invstd, err.running);
}

/* Channels with a large common offset and a small spread: E[x^2] - E[x]^2 in float
 * would lose every digit of the variance here; two passes keep it. */
static void test_batchnorm_train_offset(void) {
    test_rng rng = {g_seed ^ 0xb47c4e02ull};
    fwd_err err = {0};
    bn_case k;
    case_set(&k, 4, (const int[]){16, 3, 9, 11});
    const int C = k.C;
    float *x = malloc(k.n * sizeof *x);
    if (!x) {
        test_fail(__FILE__, __LINE__, "no host memory");
        return;
    }
    const float offsets[3] = {1000.0f, -250.0f, 4000.0f}, spreads[3] = {0.1f, 0.01f, 0.5f};
    for (size_t i = 0; i < k.n; i++) {
        const int c = (int)(i / (size_t)k.S) % C;
        x[i] = offsets[c] + spreads[c] * test_rng_uniform(&rng, -1.0f, 1.0f);
    }
    const float gamma[3] = {1, 1, 1}, beta[3] = {0, 0, 0};
    float invstd[3];
    double xd_mean[3], var[3];
    double *xd = malloc(k.n * sizeof *xd);
    gtensor tx = {0}, ty = {0}, tg = {0}, tb = {0}, tsm = {0}, tsi = {0};
    if (!xd || !gt_make(&tx, k.ndim, k.shape, k.n, x) || !gt_make(&ty, k.ndim, k.shape, k.n, NULL) ||
        !gt_vec(&tg, C, gamma) || !gt_vec(&tb, C, beta) || !gt_vec(&tsm, C, NULL) || !gt_vec(&tsi, C, NULL))
        goto done;
    CHECK_OK(clcnn_batchnorm_train(g_ctx, tx.t, tg.t, tb.t, NULL, NULL, 0.1f, 1e-8f, ty.t, tsm.t, tsi.t));
    if (!gt_read(&tsi, invstd, "save_invstd", k.desc)) goto done;
    fd_to_double(x, xd, k.n);
    ref_bn_batch_stats(xd, k.N, C, k.S, xd_mean, var);
    double want[3];
    for (int c = 0; c < C; c++) want[c] = 1.0 / sqrt(var[c] + 1e-8);
    cmp("save_invstd (offset)", &k, invstd, want, 3, 0, 1e-3, &err.invstd);
    printf("  invstd %.4g %.4g %.4g, max err %.1e\n", invstd[0], invstd[1], invstd[2], err.invstd);
    /* And the rest of the checks through the general path, offset 1000. */
    train_case(&rng, &k, 1000.0f, 3, &err);
done:
    gt_free(&tx), gt_free(&ty), gt_free(&tg), gt_free(&tb), gt_free(&tsm), gt_free(&tsi);
    free(x), free(xd);
}

/* PyTorch's BatchNorm1d(2, momentum=0.1) in train mode on x = [[1, -2], [3, 6]] with
 * running_mean (0.5, -1) and running_var (2, 4): batch means (2, 2), biased variances
 * (1, 16), unbiased (2, 32); running_mean = 0.9 r + 0.1 mean = (0.65, -0.7),
 * running_var = 0.9 r + 0.1 unbiased = (2.0, 6.8); y = (-1, -1, 1, 1) * 1/sqrt(1 + eps)
 * and 4/sqrt(16 + eps) (computed by hand; torch 1.13 gives the same to float precision). */
static void test_batchnorm_train_pytorch_running(void) {
    bn_case k;
    case_set(&k, 2, (const int[]){2, 2});
    const float x[4] = {1, -2, 3, 6}, gamma[2] = {1, 1}, beta[2] = {0, 0}, rm[2] = {0.5f, -1}, rv[2] = {2, 4};
    const double eps = 1e-5;
    const double want_y[4] = {-1 / sqrt(1 + eps), -4 / sqrt(16 + eps), 1 / sqrt(1 + eps), 4 / sqrt(16 + eps)};
    const double want_rm[2] = {0.65, -0.7}, want_rv[2] = {2.0, 6.8}, want_m[2] = {2, 2};
    const double want_is[2] = {1 / sqrt(1 + eps), 1 / sqrt(16 + eps)};
    float y[4], got_rm[2], got_rv[2], got_m[2], got_is[2];
    double e = 0;
    gtensor tx = {0}, ty = {0}, tg = {0}, tb = {0}, trm = {0}, trv = {0}, tsm = {0}, tsi = {0};
    if (!gt_make(&tx, 2, k.shape, 4, x) || !gt_make(&ty, 2, k.shape, 4, NULL) || !gt_vec(&tg, 2, gamma) ||
        !gt_vec(&tb, 2, beta) || !gt_vec(&trm, 2, rm) || !gt_vec(&trv, 2, rv) || !gt_vec(&tsm, 2, NULL) ||
        !gt_vec(&tsi, 2, NULL))
        goto done;
    CHECK_OK(clcnn_batchnorm_train(g_ctx, tx.t, tg.t, tb.t, trm.t, trv.t, 0.1f, (float)eps, ty.t, tsm.t, tsi.t));
    if (!gt_read(&ty, y, "y", k.desc) || !gt_read(&trm, got_rm, "running_mean", k.desc) ||
        !gt_read(&trv, got_rv, "running_var", k.desc) || !gt_read(&tsm, got_m, "save_mean", k.desc) ||
        !gt_read(&tsi, got_is, "save_invstd", k.desc))
        goto done;
    cmp("y", &k, y, want_y, 4, 1e-6, 1e-6, &e);
    cmp("running_mean", &k, got_rm, want_rm, 2, 1e-6, 1e-6, &e);
    cmp("running_var", &k, got_rv, want_rv, 2, 1e-6, 1e-6, &e);
    cmp("save_mean", &k, got_m, want_m, 2, 1e-6, 1e-6, &e);
    cmp("save_invstd", &k, got_is, want_is, 2, 1e-6, 1e-6, &e);
    /* momentum 1 replaces the running statistics by the batch's. */
    CHECK_OK(clcnn_batchnorm_train(g_ctx, tx.t, tg.t, tb.t, trm.t, trv.t, 1.0f, (float)eps, ty.t, tsm.t, tsi.t));
    if (!gt_read(&trm, got_rm, "running_mean", k.desc) || !gt_read(&trv, got_rv, "running_var", k.desc)) goto done;
    cmp("running_mean, momentum 1", &k, got_rm, want_m, 2, 1e-6, 1e-6, &e);
    cmp("running_var, momentum 1", &k, got_rv, (const double[]){2, 32}, 2, 1e-6, 1e-6, &e);
done:
    gt_free(&tx), gt_free(&ty), gt_free(&tg), gt_free(&tb);
    gt_free(&trm), gt_free(&trv), gt_free(&tsm), gt_free(&tsi);
}

/* ------------------------------------------------------------- backward -- */

/* The forward seen by finite differences: one of x, gamma, beta varies (`which`). */
typedef struct {
    const bn_case *k;
    const double *x, *gamma, *beta, *mean, *invstd;
    double eps;
    int which;       /* 0 x, 1 gamma, 2 beta */
    int batch_stats; /* 1: ref_bn_train; 0: ref_bn_fixed with mean and invstd */
} fd_bn;

static void fd_bn_forward(const double *in, double *out, void *user) {
    const fd_bn *u = user;
    const double *x = u->which == 0 ? in : u->x, *g = u->which == 1 ? in : u->gamma, *b = u->which == 2 ? in : u->beta;
    if (u->batch_stats) ref_bn_train(x, u->k->N, u->k->C, u->k->S, g, b, u->eps, out);
    else ref_bn_fixed(x, u->k->N, u->k->C, u->k->S, g, b, u->mean, u->invstd, out);
}

typedef struct {
    double dx, dgamma, dbeta;
} bwd_err;

static const double BWD_ATOL = 2e-4, BWD_RTOL = 1e-3;

/* One backward case. The statistics come from the device: the batch's (train forward)
 * or a frozen norm's (clcnn_batchnorm_invstd of a random variance). Three calls:
 *   A: dx overwritten (pre-filled with NaN), dgamma and dbeta added to known values;
 *   B: dx accumulated onto known values; dgamma/dbeta again on odd cases, NULL else;
 *   C: dx NULL, only the parameter gradients. */
static void backward_case(test_rng *rng, const bn_case *k, int batch_stats, int odd, bwd_err *err) {
    const int C = k->C;
    const size_t n = k->n;
    const float eps = 1e-5f;
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *dx = malloc(n * sizeof *dx),
          *d0 = malloc(n * sizeof *d0), *nan = malloc(n * sizeof *nan);
    double *xd = malloc(n * sizeof *xd), *r = malloc(n * sizeof *r), *gx = malloc(n * sizeof *gx),
           *want_dx = malloc(n * sizeof *want_dx);
    float gamma[MAXC], beta[MAXC], fmean[MAXC], fvar[MAXC], finvstd[MAXC], g0[MAXC], b0[MAXC], dg[MAXC], db[MAXC];
    double gd[MAXC], bd[MAXC], md[MAXC], isd[MAXC], ggam[MAXC], gbet[MAXC], want_g[MAXC], want_b[MAXC];
    gtensor tx = {0}, tdy = {0}, tdx = {0}, tg = {0}, tb = {0}, tm = {0}, tv = {0}, tis = {0}, tdg = {0}, tdb = {0},
            ty = {0};
    if (!x || !dy || !dx || !d0 || !nan || !xd || !r || !gx || !want_dx) {
        test_fail(__FILE__, __LINE__, "no host memory");
        goto done;
    }
    random_inputs(rng, k, 2.0f, x, gamma, beta);
    for (size_t i = 0; i < n; i++) {
        dy[i] = test_rng_uniform(rng, -1.0f, 1.0f);
        d0[i] = test_rng_uniform(rng, -2.0f, 2.0f);
        nan[i] = NAN;
    }
    for (int c = 0; c < C; c++) {
        g0[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        b0[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        fmean[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        fvar[c] = test_rng_uniform(rng, 0.2f, 3.0f);
    }
    if (!gt_make(&tx, k->ndim, k->shape, n, x) || !gt_make(&tdy, k->ndim, k->shape, n, dy) ||
        !gt_make(&tdx, k->ndim, k->shape, n, nan) || !gt_vec(&tg, C, gamma) || !gt_vec(&tb, C, beta) ||
        !gt_vec(&tm, C, fmean) || !gt_vec(&tv, C, fvar) || !gt_vec(&tis, C, NULL) || !gt_vec(&tdg, C, g0) ||
        !gt_vec(&tdb, C, b0))
        goto done;
    clcnn_status st;
    if (batch_stats) {
        if (!gt_make(&ty, k->ndim, k->shape, n, NULL)) goto done;
        st = clcnn_batchnorm_train(g_ctx, tx.t, tg.t, tb.t, NULL, NULL, 0.1f, eps, ty.t, tm.t, tis.t);
    } else {
        st = clcnn_batchnorm_invstd(g_ctx, tv.t, eps, tis.t);
    }
    if (st != CLCNN_OK || !gt_read(&tm, fmean, "mean", k->desc) || !gt_read(&tis, finvstd, "invstd", k->desc)) {
        if (st != CLCNN_OK) test_fail(__FILE__, __LINE__, "%s: statistics -> %d: %s", k->desc, st, clcnn_last_error(g_ctx));
        goto done;
    }
    if (!batch_stats) { /* clcnn_batchnorm_invstd itself */
        double want_is[MAXC], e = 0;
        for (int c = 0; c < C; c++) want_is[c] = 1.0 / sqrt((double)fvar[c] + eps);
        cmp("clcnn_batchnorm_invstd", k, finvstd, want_is, (size_t)C, 0, 1e-6, &e);
    }

    /* Finite differences of L = sum r y, around the device's statistics. */
    fd_to_double(x, xd, n);
    fd_to_double(dy, r, n);
    fd_to_double(gamma, gd, (size_t)C);
    fd_to_double(beta, bd, (size_t)C);
    fd_to_double(fmean, md, (size_t)C);
    fd_to_double(finvstd, isd, (size_t)C);
    fd_bn f = {k, xd, gd, bd, md, isd, eps, 0, batch_stats};
    const double h = 1e-3;
    fd_gradient(fd_bn_forward, &f, xd, n, r, n, h, gx);
    f.which = 1;
    fd_gradient(fd_bn_forward, &f, gd, (size_t)C, r, n, h, ggam);
    f.which = 2;
    fd_gradient(fd_bn_forward, &f, bd, (size_t)C, r, n, h, gbet);

    char what[64];
    const char *mode = batch_stats ? "batch" : "fixed";
    /* A */
    st = clcnn_batchnorm_backward(g_ctx, tx.t, tg.t, tm.t, tis.t, batch_stats, tdy.t, tdx.t, 0, tdg.t, tdb.t);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "%s: backward (%s) -> %d: %s", k->desc, mode, st, clcnn_last_error(g_ctx));
        goto done;
    }
    if (!gt_read(&tdx, dx, "dx", k->desc) || !gt_read(&tdg, dg, "dgamma", k->desc) ||
        !gt_read(&tdb, db, "dbeta", k->desc))
        goto done;
    for (int c = 0; c < C; c++) {
        want_g[c] = g0[c] + ggam[c];
        want_b[c] = b0[c] + gbet[c];
    }
    snprintf(what, sizeof what, "dx (%s)", mode);
    cmp(what, k, dx, gx, n, BWD_ATOL, BWD_RTOL, &err->dx);
    snprintf(what, sizeof what, "dgamma (%s, added to)", mode);
    cmp(what, k, dg, want_g, (size_t)C, BWD_ATOL, BWD_RTOL, &err->dgamma);
    snprintf(what, sizeof what, "dbeta (%s, added to)", mode);
    cmp(what, k, db, want_b, (size_t)C, BWD_ATOL, BWD_RTOL, &err->dbeta);

    /* B */
    gt_free(&tdx);
    if (!gt_make(&tdx, k->ndim, k->shape, n, d0)) goto done;
    st = clcnn_batchnorm_backward(g_ctx, tx.t, tg.t, tm.t, tis.t, batch_stats, tdy.t, tdx.t, 1, odd ? tdg.t : NULL,
                                  odd ? NULL : tdb.t);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "%s: backward (%s, accumulate) -> %d: %s", k->desc, mode, st,
                  clcnn_last_error(g_ctx));
        goto done;
    }
    if (!gt_read(&tdx, dx, "dx", k->desc) || !gt_read(&tdg, dg, "dgamma", k->desc) ||
        !gt_read(&tdb, db, "dbeta", k->desc))
        goto done;
    for (size_t i = 0; i < n; i++) want_dx[i] = d0[i] + gx[i];
    for (int c = 0; c < C; c++) {
        if (odd) want_g[c] += ggam[c];
        else want_b[c] += gbet[c];
    }
    snprintf(what, sizeof what, "dx (%s, accumulated)", mode);
    cmp(what, k, dx, want_dx, n, BWD_ATOL, BWD_RTOL, &err->dx);
    snprintf(what, sizeof what, "dgamma (%s, %s)", mode, odd ? "added twice" : "NULL in the second call");
    cmp(what, k, dg, want_g, (size_t)C, BWD_ATOL, BWD_RTOL, &err->dgamma);
    snprintf(what, sizeof what, "dbeta (%s, %s)", mode, odd ? "NULL in the second call" : "added twice");
    cmp(what, k, db, want_b, (size_t)C, BWD_ATOL, BWD_RTOL, &err->dbeta);

    /* C */
    st = clcnn_batchnorm_backward(g_ctx, tx.t, tg.t, tm.t, tis.t, batch_stats, tdy.t, NULL, 0, tdg.t, tdb.t);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "%s: backward (%s, dx NULL) -> %d: %s", k->desc, mode, st,
                  clcnn_last_error(g_ctx));
        goto done;
    }
    if (!gt_read(&tdg, dg, "dgamma", k->desc) || !gt_read(&tdb, db, "dbeta", k->desc)) goto done;
    for (int c = 0; c < C; c++) {
        want_g[c] += ggam[c];
        want_b[c] += gbet[c];
    }
    snprintf(what, sizeof what, "dgamma (%s, dx NULL)", mode);
    cmp(what, k, dg, want_g, (size_t)C, BWD_ATOL, BWD_RTOL, &err->dgamma);
    snprintf(what, sizeof what, "dbeta (%s, dx NULL)", mode);
    cmp(what, k, db, want_b, (size_t)C, BWD_ATOL, BWD_RTOL, &err->dbeta);
done:
    gt_free(&tx), gt_free(&tdy), gt_free(&tdx), gt_free(&tg), gt_free(&tb), gt_free(&tm);
    gt_free(&tv), gt_free(&tis), gt_free(&tdg), gt_free(&tdb), gt_free(&ty);
    free(x), free(dy), free(dx), free(d0), free(nan);
    free(xd), free(r), free(gx), free(want_dx);
}

static void backward_cases(uint64_t salt, int batch_stats) {
    test_rng rng = {g_seed ^ salt};
    bwd_err err = {0};
    bn_case k;
    int cases = 0;
    for (int i = 0; i < 8; i++, cases++) {
        case_random(&rng, 400, &k);
        backward_case(&rng, &k, batch_stats, i % 2, &err);
    }
    /* 2 values per channel (xhat = +-1); a long 2-D batch; S smaller than the number
     * of work-items sharing a channel. */
    static const int fixed[][5] = {{2, 2, 3}, {2, 150, 2}, {4, 40, 2, 1, 3}, {4, 3, 5, 7, 5}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++, cases++) {
        case_set(&k, fixed[i][0], fixed[i] + 1);
        backward_case(&rng, &k, batch_stats, (int)i % 2, &err);
    }
    printf("  %d shapes, max err: dx %.1e, dgamma %.1e, dbeta %.1e\n", cases, err.dx, err.dgamma, err.dbeta);
}

static void test_batchnorm_backward_batch(void) { backward_cases(0xb47c4e03ull, 1); }
static void test_batchnorm_backward_fixed(void) { backward_cases(0xb47c4e04ull, 0); }

/* --------------------------------------------------------------- errors -- */

static void test_batchnorm_train_errors(void) {
    const int s4[4] = {2, 3, 4, 5}, s1[4] = {1, 3, 1, 1}, s_wrong[4] = {2, 3, 4, 6}, one[1] = {3}, four[1] = {4},
              flat[1] = {6};
    clcnn_tensor *x = NULL, *y = NULL, *x1 = NULL, *y1 = NULL, *yw = NULL, *v3 = NULL, *v4 = NULL, *f = NULL;
    if (clcnn_tensor_create(g_ctx, 4, s4, &x) || clcnn_tensor_create(g_ctx, 4, s4, &y) ||
        clcnn_tensor_create(g_ctx, 4, s1, &x1) || clcnn_tensor_create(g_ctx, 4, s1, &y1) ||
        clcnn_tensor_create(g_ctx, 4, s_wrong, &yw) || clcnn_tensor_create(g_ctx, 1, one, &v3) ||
        clcnn_tensor_create(g_ctx, 1, four, &v4) || clcnn_tensor_create(g_ctx, 1, flat, &f)) {
        test_fail(__FILE__, __LINE__, "tensor creation failed: %s", clcnn_last_error(g_ctx));
        goto done;
    }
    /* One value per channel: PyTorch's "Expected more than 1 value per channel". */
    CHECK_STATUS(clcnn_batchnorm_train(g_ctx, x1, v3, v3, NULL, NULL, 0.1f, 1e-5f, y1, v3, v3), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "more than 1"), "message: %s", clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_batchnorm_train(g_ctx, x, v3, v3, NULL, NULL, 0.1f, 1e-5f, yw, v3, v3), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_batchnorm_train(g_ctx, x, v4, v3, NULL, NULL, 0.1f, 1e-5f, y, v3, v3), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "gamma"), "message: %s", clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_batchnorm_train(g_ctx, x, v3, v3, v4, NULL, 0.1f, 1e-5f, y, v3, v3), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_batchnorm_train(g_ctx, f, v3, v3, NULL, NULL, 0.1f, 1e-5f, f, v3, v3), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_batchnorm_train(NULL, x, v3, v3, NULL, NULL, 0.1f, 1e-5f, y, v3, v3),
                 CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_batchnorm_train(g_ctx, x, NULL, v3, NULL, NULL, 0.1f, 1e-5f, y, v3, v3),
                 CLCNN_ERR_INVALID_ARGUMENT);
    /* Backward: dy, dx, statistics and parameter gradients must fit x. */
    CHECK_STATUS(clcnn_batchnorm_backward(g_ctx, x, v3, v3, v3, 1, yw, y, 0, v3, v3), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_batchnorm_backward(g_ctx, x, v3, v3, v3, 1, y, yw, 0, v3, v3), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_batchnorm_backward(g_ctx, x, v3, v4, v3, 0, y, y, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_batchnorm_backward(g_ctx, x, v3, v3, v3, 1, y, NULL, 0, v4, NULL), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "dgamma"), "message: %s", clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_batchnorm_backward(NULL, x, v3, v3, v3, 1, y, y, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_batchnorm_invstd(g_ctx, v3, 1e-5f, v4), CLCNN_ERR_SHAPE);
done:
    clcnn_tensor_destroy(x), clcnn_tensor_destroy(y), clcnn_tensor_destroy(x1), clcnn_tensor_destroy(y1);
    clcnn_tensor_destroy(yw), clcnn_tensor_destroy(v3), clcnn_tensor_destroy(v4), clcnn_tensor_destroy(f);
}

const test_case test_grad_norm_cases[] = {
    {"batchnorm_train", test_batchnorm_train},
    {"batchnorm_train_offset", test_batchnorm_train_offset},
    {"batchnorm_train_pytorch_running", test_batchnorm_train_pytorch_running},
    {"batchnorm_backward_batch", test_batchnorm_backward_batch},
    {"batchnorm_backward_fixed", test_batchnorm_backward_fixed},
    {"batchnorm_train_errors", test_batchnorm_train_errors},
    {NULL, NULL},
};
