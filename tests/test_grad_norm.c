/* test_grad_norm.c: training batch norm's forward in full (y, the saved mean and invstd,
 * the updated running statistics) against a double-precision reference, with large
 * offsets and outliers, PyTorch's running statistics, clcnn_batchnorm_invstd, and the
 * errors. Its backward (batch or fixed statistics, with ReLU or ReLU6 fused) runs in
 * the table-driven harness: test_op_table.c's op_batchnorm_train, against central
 * finite differences of the same double references (tests/ref/ref_grad_norm.c).
 * Every device tensor is guarded (testutil.h): it sits inside a bigger buffer at an
 * offset, between sentinels that must survive. Each test draws shapes from g_seed ^ its own constant.
 *
 * Tolerances (|got - want| <= atol + rtol |want|), float32 kernels against double:
 *   forward y          1e-4 / 1e-4  (O(1) values; mean and invstd good to ~1e-6 relative)
 *   mean, running      1e-5 / 1e-5  (sums of at most a few thousand O(1) values)
 *   invstd, run. var   1e-5 / 1e-4
 *   invstd, outlier    0 / 1e-5     (batchnorm_train_outlier_first: measured 2e-7 .. 5e-7)
 *   batchnorm_invstd   0 / 1e-6     (one sqrt and one division)
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

/* The backward (batch or fixed statistics, alone and fused with ReLU or ReLU6) on random
 * shapes: test_op_table.c's op_batchnorm_train. Here clcnn_batchnorm_invstd, which a
 * frozen norm's backward is given, against 1 / sqrt(var + eps) in double. */
static void test_batchnorm_invstd(void) {
    test_rng rng = {g_seed ^ 0xb47c4e09ull};
    enum { C = 13 };
    float var[C];
    double want[C], err = 0;
    for (int c = 0; c < C; c++) var[c] = test_rng_uniform(&rng, 0.2f, 3.0f), want[c] = 1.0 / sqrt((double)var[c] + 1e-5);
    var[0] = 0.0f, want[0] = 1.0 / sqrt(1e-5); /* a channel that never varied: eps alone */
    arena a = {0};
    ar_desc(&a, "clcnn_batchnorm_invstd of %d variances", C);
    guarded *tv = vec(&a, C, var), *tis = vec(&a, C, NULL);
    if (!a.bad && CASE_OK(&a, clcnn_batchnorm_invstd(g_ctx, tv->t, 1e-5f, tis->t)))
        ar_check(&a, "invstd", tis, want, 0, 1e-6, &err);
    printf("  max err %.1e\n", err);
    ar_free(&a);
}

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
    {"batchnorm_invstd", test_batchnorm_invstd},
    {"batchnorm_train_errors", test_batchnorm_train_errors},
    {NULL, NULL},
};
