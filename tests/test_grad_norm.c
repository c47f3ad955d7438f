/* test_grad_norm.c: training batch norm and its backward.
 *
 * clcnn_batchnorm_train is checked against a double-precision reference (y, the saved
 * mean and invstd, the updated running statistics); clcnn_batchnorm_backward against
 * central finite differences (step 1e-3, in double) of the training forward, whose
 * statistics depend on x (batch_stats = 1), and of the forward with fixed statistics
 * (batch_stats = 0). The weighting r of the outputs is the dy handed to the device.
 * Every device tensor is guarded (testutil.h): it sits inside a bigger buffer at an
 * offset, between sentinels that must survive. Each test draws shapes from g_seed ^ its own constant.
 *
 * Tolerances (|got - want| <= atol + rtol |want|), float32 kernels against double:
 *   forward y          1e-4 / 1e-4  (O(1) values; mean and invstd good to ~1e-6 relative)
 *   mean, running      1e-5 / 1e-5  (sums of at most a few thousand O(1) values)
 *   invstd, run. var   1e-5 / 1e-4
 *   invstd, outlier    0 / 1e-5     (batchnorm_train_outlier_first: measured 2e-7 .. 5e-7)
 *   dx, dgamma, dbeta  2e-4 / 1e-3  (dx ~ gamma invstd dy = O(1..5) with a cancelling
 *                                     mean subtraction; dgamma sums up to ~400 terms;
 *                                     finite differences off by up to ~2e-5)
 * Measured errors are printed per test; on PoCL they sit about two orders below these
 * (the slack is for other devices' reduction orders and FMA contraction). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ref/gradcheck.h"
#include "ref/ref_grad_norm.h"
#include "testutil.h"

enum { MAXC = 16 };

/* ------------------------------------------------------------- helpers -- */

/* A case's shape: x [N, C, ...] viewed as [N, C, S]. */
typedef struct {
    int ndim, shape[4];
    int N, C, S;
    size_t n;
} bn_case;

static void case_set(bn_case *k, int ndim, const int *shape) {
    k->ndim = ndim;
    memcpy(k->shape, shape, (size_t)ndim * sizeof *shape);
    k->n = numel(ndim, shape);
    k->N = shape[0];
    k->C = shape[1];
    k->S = (int)(k->n / ((size_t)k->N * (size_t)k->C));
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

/* Guarded tensors shaped like x and like a per-channel vector, holding host (NULL:
 * the sentinel everywhere, so that unwritten elements show). */
static guarded *like_x(arena *a, const bn_case *k, const float *host) {
    return ar_guarded(a, k->ndim, k->shape, host, TU_SENTINEL);
}

static guarded *vec(arena *a, int C, const float *host) { return ar_guarded(a, 1, &C, host, TU_SENTINEL); }

/* Name the case after its shape (and what it runs). */
static void case_desc(arena *a, const bn_case *k, const char *what) {
    ar_desc(a, "x %s%s", dims(k->ndim, k->shape).s, what);
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
    float gamma[MAXC], beta[MAXC], rm[MAXC], rv[MAXC];
    double gd[MAXC], bd[MAXC], mean[MAXC], var[MAXC], invstd[MAXC], want_rm[MAXC], want_rv[MAXC];
    arena a = {0};
    case_desc(&a, k, "");
    float *x = ar_floats(&a, k->n);
    if (!x) goto done;
    random_inputs(rng, k, offset, x, gamma, beta);
    for (int c = 0; c < C; c++) {
        rm[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        rv[c] = test_rng_uniform(rng, 0.5f, 2.0f);
    }
    guarded *tx = like_x(&a, k, x), *ty = like_x(&a, k, NULL), *tg = vec(&a, C, gamma), *tb = vec(&a, C, beta);
    guarded *trm = vec(&a, C, rm), *trv = vec(&a, C, rv), *tsm = vec(&a, C, NULL), *tsi = vec(&a, C, NULL);
    if (a.bad || !CASE_OK(&a, clcnn_batchnorm_train(g_ctx, tx->t, tg->t, tb->t, running & 1 ? trm->t : NULL,
                                                    running & 2 ? trv->t : NULL, momentum, eps, ty->t, tsm->t,
                                                    tsi->t)))
        goto done;
    double *xd = ar_widen(&a, x, k->n), *yd = ar_doubles(&a, k->n);
    if (a.bad) goto done;
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
    ar_check(&a, "save_mean", tsm, mean, 1e-5, 1e-5, &err->mean);
    ar_check(&a, "save_invstd", tsi, invstd, 1e-5, 1e-4, &err->invstd);
    ar_check(&a, "y", ty, yd, 1e-4 + 4 * mean_ulp, 1e-4, &err->y);
    ar_check(&a, "running_mean", trm, want_rm, 1e-5, 1e-5, &err->running);
    ar_check(&a, "running_var", trv, want_rv, 1e-5, 1e-4, &err->running);
done:
    ar_free(&a);
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
    arena a = {0};
    case_desc(&a, &k, " offsets");
    float *x = ar_floats(&a, k.n);
    if (!x) goto done;
    const float offsets[3] = {1000.0f, -250.0f, 4000.0f}, spreads[3] = {0.1f, 0.01f, 0.5f};
    for (size_t i = 0; i < k.n; i++) {
        const int c = (int)(i / (size_t)k.S) % C;
        x[i] = offsets[c] + spreads[c] * test_rng_uniform(&rng, -1.0f, 1.0f);
    }
    const float gamma[3] = {1, 1, 1}, beta[3] = {0, 0, 0};
    double xd_mean[3], var[3], want[3];
    guarded *tx = like_x(&a, &k, x), *ty = like_x(&a, &k, NULL), *tg = vec(&a, C, gamma), *tb = vec(&a, C, beta);
    guarded *tsm = vec(&a, C, NULL), *tsi = vec(&a, C, NULL);
    if (a.bad) goto done;
    CHECK_OK(clcnn_batchnorm_train(g_ctx, tx->t, tg->t, tb->t, NULL, NULL, 0.1f, 1e-8f, ty->t, tsm->t, tsi->t));
    const float *invstd = ar_read(&a, tsi);
    const double *xd = ar_widen(&a, x, k.n);
    if (!invstd || !xd) goto done;
    ref_bn_batch_stats(xd, k.N, C, k.S, xd_mean, var);
    for (int c = 0; c < C; c++) want[c] = 1.0 / sqrt(var[c] + 1e-8);
    ar_check(&a, "save_invstd (offset)", tsi, want, 0, 1e-3, &err.invstd);
    printf("  invstd %.4g %.4g %.4g, max err %.1e\n", invstd[0], invstd[1], invstd[2], err.invstd);
    /* And the rest of the checks through the general path, offset 1000. */
    train_case(&rng, &k, 1000.0f, 3, &err);
done:
    ar_free(&a);
}

/* The statistics are taken relative to each channel's first value; here that value is an
 * outlier 400 spreads above the others (offset 500), and each image is cut into many
 * segments (S = 1200), so the per-segment two-pass and the combination of the segments
 * are tested where they matter. On PoCL invstd comes within 2e-7 .. 5e-7 relative; a
 * one-pass shifted sum of squares measured 3e-5 .. 6e-5, which rtol 1e-5 rejects. */
static void test_batchnorm_train_outlier_first(void) {
    test_rng rng = {g_seed ^ 0xb47c4e05ull};
    bn_case k;
    case_set(&k, 4, (const int[]){4, 2, 30, 40});
    const int C = k.C;
    arena a = {0};
    case_desc(&a, &k, " outlier first value");
    float *x = ar_floats(&a, k.n);
    if (!x) goto done;
    for (size_t i = 0; i < k.n; i++) x[i] = 500.0f + 0.05f * test_rng_uniform(&rng, -1.0f, 1.0f);
    for (int c = 0; c < C; c++) x[(size_t)c * k.S] = 520.0f;
    const float gamma[2] = {1, 1}, beta[2] = {0, 0};
    double mean[2], var[2], want[2];
    guarded *tx = like_x(&a, &k, x), *ty = like_x(&a, &k, NULL), *tg = vec(&a, C, gamma), *tb = vec(&a, C, beta);
    guarded *tsm = vec(&a, C, NULL), *tsi = vec(&a, C, NULL);
    if (a.bad || !CASE_OK(&a, clcnn_batchnorm_train(g_ctx, tx->t, tg->t, tb->t, NULL, NULL, 0.1f, 1e-8f, ty->t,
                                                    tsm->t, tsi->t)))
        goto done;
    const double *xd = ar_widen(&a, x, k.n);
    if (!xd) goto done;
    ref_bn_batch_stats(xd, k.N, C, k.S, mean, var);
    for (int c = 0; c < C; c++) want[c] = 1.0 / sqrt(var[c] + 1e-8);
    double err_mean = 0, err_invstd = 0;
    ar_check(&a, "save_mean (outlier first)", tsm, mean, 1e-5, 1e-6, &err_mean);
    ar_check(&a, "save_invstd (outlier first)", tsi, want, 0, 1e-5, &err_invstd);
    printf("  max err: mean %.1e, invstd %.1e (relative to %.4g)\n", err_mean, err_invstd, want[0]);
done:
    ar_free(&a);
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
    double e = 0;
    arena a = {0};
    case_desc(&a, &k, " PyTorch running statistics");
    guarded *tx = like_x(&a, &k, x), *ty = like_x(&a, &k, NULL), *tg = vec(&a, 2, gamma), *tb = vec(&a, 2, beta);
    guarded *trm = vec(&a, 2, rm), *trv = vec(&a, 2, rv), *tsm = vec(&a, 2, NULL), *tsi = vec(&a, 2, NULL);
    if (a.bad) goto done;
    CHECK_OK(clcnn_batchnorm_train(g_ctx, tx->t, tg->t, tb->t, trm->t, trv->t, 0.1f, (float)eps, ty->t, tsm->t,
                                   tsi->t));
    ar_check(&a, "y", ty, want_y, 1e-6, 1e-6, &e);
    ar_check(&a, "running_mean", trm, want_rm, 1e-6, 1e-6, &e);
    ar_check(&a, "running_var", trv, want_rv, 1e-6, 1e-6, &e);
    ar_check(&a, "save_mean", tsm, want_m, 1e-6, 1e-6, &e);
    ar_check(&a, "save_invstd", tsi, want_is, 1e-6, 1e-6, &e);
    /* momentum 1 replaces the running statistics by the batch's. */
    CHECK_OK(clcnn_batchnorm_train(g_ctx, tx->t, tg->t, tb->t, trm->t, trv->t, 1.0f, (float)eps, ty->t, tsm->t,
                                   tsi->t));
    ar_check(&a, "running_mean, momentum 1", trm, want_m, 1e-6, 1e-6, &e);
    ar_check(&a, "running_var, momentum 1", trv, (const double[]){2, 32}, 1e-6, 1e-6, &e);
done:
    ar_free(&a);
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
    long above_top; /* outputs above ReLU6's top, over the cases */
} bwd_err;

static const double BWD_ATOL = 2e-4, BWD_RTOL = 1e-3;

/* A gradient against want at the backward's tolerances. */
static void bwd_check(arena *a, const char *what, const guarded *g, const double *want, double *max_err) {
    ar_check(a, what, g, want, BWD_ATOL, BWD_RTOL, max_err);
}

/* The fused activation's cases: every x whose norm output (batch statistics in double,
 * or the fixed ones) lies within 0.05 of a kink (0, and top for ReLU6) is drawn again,
 * so that the finite differences' step and float rounding leave every value on its side. */
static void away_from_kink(test_rng *rng, const bn_case *k, int batch_stats, double top, float *x, const float *gamma,
                           const float *beta, const float *fmean, const float *fvar, float eps) {
    const int C = k->C;
    double mean[MAXC], var[MAXC], *xd = malloc(k->n * sizeof *xd);
    CHECK(xd != NULL, "no host memory");
    for (int round = 0; xd && round < 100; round++) {
        for (size_t i = 0; i < k->n; i++) xd[i] = x[i];
        if (batch_stats) ref_bn_batch_stats(xd, k->N, C, k->S, mean, var);
        int moved = 0;
        for (size_t i = 0; i < k->n; i++) {
            const int c = (int)(i / (size_t)k->S % (size_t)C);
            const double m = batch_stats ? mean[c] : fmean[c], v = batch_stats ? var[c] : fvar[c];
            const double y = (xd[i] - m) / sqrt(v + eps) * gamma[c] + beta[c];
            if (fabs(y) < 0.05 || fabs(y - top) < 0.05) {
                x[i] += test_rng_uniform(rng, -0.5f, 0.5f);
                moved++;
            }
        }
        if (!moved) {
            free(xd);
            return;
        }
    }
    CHECK(!xd, "x %s: values stay near the activation's kinks", dims(k->ndim, k->shape).s);
    free(xd);
}

/* One backward case, of the batch norm or (act ReLU or ReLU6) of act(batch norm) fused. The
 * statistics come from the device: the batch's (train forward) or a frozen norm's
 * (clcnn_batchnorm_invstd of a random variance). Three calls:
 *   A: dx overwritten (pre-filled with NaN), dgamma and dbeta added to known values;
 *   B: dx accumulated onto known values; dgamma/dbeta again on odd cases, NULL else;
 *   C: dx NULL, only the parameter gradients.
 * With an activation, the finite differences weight output i by r_i [0 < y_i < top] (y
 * from the device's statistics, top 6 for ReLU6, else none): the activation's
 * derivative, constant around every point once no value is near a kink. ReLU6's cases
 * scale gamma by 5 so that many outputs lie above its top (bwd_err counts them). */
/* clcnn_batchnorm_backward, clcnn_batchnorm_relu_backward (ReLU) or
 * clcnn_batchnorm_act_backward (ReLU6); NULL gradients skipped. */
static clcnn_status run_backward(clcnn_activation act, const guarded *x, const guarded *gamma, const guarded *beta,
                                 const guarded *mean, const guarded *invstd, int batch_stats, const guarded *dy,
                                 const guarded *dx, int accumulate, const guarded *dgamma, const guarded *dbeta) {
    clcnn_tensor *tdx = dx ? dx->t : NULL, *tdg = dgamma ? dgamma->t : NULL, *tdb = dbeta ? dbeta->t : NULL;
    if (act == CLCNN_ACT_RELU)
        return clcnn_batchnorm_relu_backward(g_ctx, x->t, gamma->t, beta->t, mean->t, invstd->t, batch_stats, dy->t,
                                             tdx, accumulate, tdg, tdb);
    if (act != CLCNN_ACT_NONE)
        return clcnn_batchnorm_act_backward(g_ctx, act, x->t, gamma->t, beta->t, mean->t, invstd->t, batch_stats,
                                            dy->t, tdx, accumulate, tdg, tdb);
    return clcnn_batchnorm_backward(g_ctx, x->t, gamma->t, mean->t, invstd->t, batch_stats, dy->t, tdx, accumulate,
                                    tdg, tdb);
}

static void backward_case(test_rng *rng, const bn_case *k, int batch_stats, clcnn_activation act, int odd,
                          bwd_err *err) {
    const double top = act == CLCNN_ACT_RELU6 ? 6.0 : INFINITY;
    const int C = k->C;
    const size_t n = k->n;
    const float eps = 1e-5f;
    float gamma[MAXC], beta[MAXC], fmean[MAXC], fvar[MAXC], g0[MAXC], b0[MAXC];
    double want_g[MAXC], want_b[MAXC];
    arena a = {0};
    char tag[48];
    snprintf(tag, sizeof tag, " (%s%s%s)", batch_stats ? "batch" : "fixed", act ? ", " : "",
             act ? clcnn_activation_name(act) : "");
    case_desc(&a, k, tag);
    float *x = ar_floats(&a, n), *dy = ar_floats(&a, n), *d0 = ar_floats(&a, n);
    if (a.bad) goto done;
    random_inputs(rng, k, 2.0f, x, gamma, beta);
    for (size_t i = 0; i < n; i++) {
        dy[i] = test_rng_uniform(rng, -1.0f, 1.0f);
        d0[i] = test_rng_uniform(rng, -2.0f, 2.0f);
    }
    for (int c = 0; c < C; c++) {
        g0[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        b0[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        fmean[c] = test_rng_uniform(rng, -1.0f, 1.0f);
        fvar[c] = test_rng_uniform(rng, 0.2f, 3.0f);
    }
    if (act == CLCNN_ACT_RELU6)
        for (int c = 0; c < C; c++) gamma[c] *= 5.0f;
    if (act) away_from_kink(rng, k, batch_stats, top, x, gamma, beta, fmean, fvar, eps);
    guarded *tx = like_x(&a, k, x), *tdy = like_x(&a, k, dy), *tdx = ar_guarded(&a, k->ndim, k->shape, NULL, NAN);
    guarded *tdx_acc = like_x(&a, k, d0), *ty = like_x(&a, k, NULL), *tg = vec(&a, C, gamma), *tb = vec(&a, C, beta);
    guarded *tm = vec(&a, C, fmean), *tv = vec(&a, C, fvar), *tis = vec(&a, C, NULL), *tdg = vec(&a, C, g0);
    guarded *tdb = vec(&a, C, b0);
    if (a.bad) goto done;
    if (batch_stats ? !CASE_OK(&a, clcnn_batchnorm_train(g_ctx, tx->t, tg->t, tb->t, NULL, NULL, 0.1f, eps, ty->t,
                                                         tm->t, tis->t))
                    : !CASE_OK(&a, clcnn_batchnorm_invstd(g_ctx, tv->t, eps, tis->t)))
        goto done;
    const float *mean = ar_read(&a, tm), *invstd = ar_read(&a, tis);
    if (!mean || !invstd) goto done;
    if (!batch_stats) { /* clcnn_batchnorm_invstd itself */
        double want_is[MAXC], e = 0;
        for (int c = 0; c < C; c++) want_is[c] = 1.0 / sqrt((double)fvar[c] + eps);
        ar_check(&a, "clcnn_batchnorm_invstd", tis, want_is, 0, 1e-6, &e);
    }

    /* Finite differences of L = sum r y, around the device's statistics. */
    double *xd = ar_widen(&a, x, n), *gd = ar_widen(&a, gamma, (size_t)C), *bd = ar_widen(&a, beta, (size_t)C);
    fd_bn f = {k, xd, gd, bd, ar_widen(&a, mean, (size_t)C), ar_widen(&a, invstd, (size_t)C), eps, 0, batch_stats};
    double *r = ar_widen(&a, dy, n);
    if (!r) goto done;
    for (size_t i = 0; act && i < n; i++) {
        const int c = (int)(i / (size_t)k->S % (size_t)C);
        const double y = ((double)x[i] - mean[c]) * invstd[c] * gamma[c] + beta[c];
        if (!(y > 0.0 && y < top)) r[i] = 0.0;
        err->above_top += y > top;
    }
    const double *gx = ar_fd(&a, fd_bn_forward, &f, xd, n, r, n);
    f.which = 1;
    const double *ggam = ar_fd(&a, fd_bn_forward, &f, gd, (size_t)C, r, n);
    f.which = 2;
    const double *gbet = ar_fd(&a, fd_bn_forward, &f, bd, (size_t)C, r, n);
    double *want_dx = ar_doubles(&a, n);
    if (a.bad) goto done;

    /* A */
    if (!CASE_OK(&a, run_backward(act, tx, tg, tb, tm, tis, batch_stats, tdy, tdx, 0, tdg, tdb)))
        goto done;
    for (int c = 0; c < C; c++) {
        want_g[c] = g0[c] + ggam[c];
        want_b[c] = b0[c] + gbet[c];
    }
    bwd_check(&a, "dx", tdx, gx, &err->dx);
    bwd_check(&a, "dgamma (added to)", tdg, want_g, &err->dgamma);
    bwd_check(&a, "dbeta (added to)", tdb, want_b, &err->dbeta);

    /* B */
    if (!CASE_OK(&a, run_backward(act, tx, tg, tb, tm, tis, batch_stats, tdy, tdx_acc, 1, odd ? tdg : NULL,
                                  odd ? NULL : tdb)))
        goto done;
    for (size_t i = 0; i < n; i++) want_dx[i] = d0[i] + gx[i];
    for (int c = 0; c < C; c++) {
        if (odd) want_g[c] += ggam[c];
        else want_b[c] += gbet[c];
    }
    bwd_check(&a, "dx (accumulated)", tdx_acc, want_dx, &err->dx);
    bwd_check(&a, odd ? "dgamma (added twice)" : "dgamma (NULL in the second call)", tdg, want_g, &err->dgamma);
    bwd_check(&a, odd ? "dbeta (NULL in the second call)" : "dbeta (added twice)", tdb, want_b, &err->dbeta);

    /* C */
    if (!CASE_OK(&a, run_backward(act, tx, tg, tb, tm, tis, batch_stats, tdy, NULL, 0, tdg, tdb)))
        goto done;
    for (int c = 0; c < C; c++) {
        want_g[c] += ggam[c];
        want_b[c] += gbet[c];
    }
    bwd_check(&a, "dgamma (dx NULL)", tdg, want_g, &err->dgamma);
    bwd_check(&a, "dbeta (dx NULL)", tdb, want_b, &err->dbeta);
done:
    ar_free(&a);
}

static void backward_cases(uint64_t salt, int batch_stats, clcnn_activation act) {
    test_rng rng = {g_seed ^ salt};
    bwd_err err = {0};
    bn_case k;
    int cases = 0;
    for (int i = 0; i < 8; i++, cases++) {
        case_random(&rng, 400, &k);
        backward_case(&rng, &k, batch_stats, act, i % 2, &err);
    }
    /* 2 values per channel (xhat = +-1); a long 2-D batch; S smaller than the number
     * of work-items sharing a channel. */
    static const int fixed[][5] = {{2, 2, 3}, {2, 150, 2}, {4, 40, 2, 1, 3}, {4, 3, 5, 7, 5}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++, cases++) {
        case_set(&k, fixed[i][0], fixed[i] + 1);
        backward_case(&rng, &k, batch_stats, act, (int)i % 2, &err);
    }
    printf("  %d shapes, max err: dx %.1e, dgamma %.1e, dbeta %.1e\n", cases, err.dx, err.dgamma, err.dbeta);
    if (act == CLCNN_ACT_RELU6)
        CHECK(err.above_top > 100, "only %ld outputs above ReLU6's top: its mask is hardly tested", err.above_top);
}

static void test_batchnorm_backward_batch(void) { backward_cases(0xb47c4e03ull, 1, CLCNN_ACT_NONE); }
static void test_batchnorm_backward_fixed(void) { backward_cases(0xb47c4e04ull, 0, CLCNN_ACT_NONE); }
static void test_batchnorm_relu_backward_batch(void) { backward_cases(0xb47c4e05ull, 1, CLCNN_ACT_RELU); }
static void test_batchnorm_relu_backward_fixed(void) { backward_cases(0xb47c4e06ull, 0, CLCNN_ACT_RELU); }
static void test_batchnorm_relu6_backward_batch(void) { backward_cases(0xb47c4e07ull, 1, CLCNN_ACT_RELU6); }
static void test_batchnorm_relu6_backward_fixed(void) { backward_cases(0xb47c4e08ull, 0, CLCNN_ACT_RELU6); }

/* --------------------------------------------------------------- errors -- */

static void test_batchnorm_train_errors(void) {
    const int s4[4] = {2, 3, 4, 5}, s1[4] = {1, 3, 1, 1}, sw[4] = {2, 3, 4, 6}, one[1] = {3}, four[1] = {4};
    const int flat[1] = {6};
    arena a = {0};
    ar_desc(&a, "batchnorm errors");
    clcnn_tensor *x = ar_tensor(&a, 4, s4, NULL), *y = ar_tensor(&a, 4, s4, NULL), *yw = ar_tensor(&a, 4, sw, NULL);
    clcnn_tensor *x1 = ar_tensor(&a, 4, s1, NULL), *y1 = ar_tensor(&a, 4, s1, NULL), *f = ar_tensor(&a, 1, flat, NULL);
    clcnn_tensor *v3 = ar_tensor(&a, 1, one, NULL), *v4 = ar_tensor(&a, 1, four, NULL);
    if (a.bad) goto done;
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
    ar_free(&a);
}

const test_case test_grad_norm_cases[] = {
    {"batchnorm_train", test_batchnorm_train},
    {"batchnorm_train_offset", test_batchnorm_train_offset},
    {"batchnorm_train_outlier_first", test_batchnorm_train_outlier_first},
    {"batchnorm_train_pytorch_running", test_batchnorm_train_pytorch_running},
    {"batchnorm_backward_batch", test_batchnorm_backward_batch},
    {"batchnorm_backward_fixed", test_batchnorm_backward_fixed},
    {"batchnorm_relu_backward_batch", test_batchnorm_relu_backward_batch},
    {"batchnorm_relu_backward_fixed", test_batchnorm_relu_backward_fixed},
    {"batchnorm_relu6_backward_batch", test_batchnorm_relu6_backward_batch},
    {"batchnorm_relu6_backward_fixed", test_batchnorm_relu6_backward_fixed},
    {"batchnorm_train_errors", test_batchnorm_train_errors},
    {NULL, NULL},
};
