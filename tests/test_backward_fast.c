/* test_backward_fast.c: the fast paths of the backward pass against plain adjoint
 * loops in double (tests/ref):
 *  - the convolution's weight gradient: split-K at several chunk counts, with and
 *    without a shorter last chunk (CLCNN_WGRAD_KC sets the chunk target), groups, and
 *    the one-GEMM path for short K;
 *  - dX of 3x3 stride-1 layers as a forward (Winograd) convolution of dY;
 *  - small late-layer images (P = OH*OW of 1, 4, 9), whose images fold into dX's GEMM
 *    N, and 1x1 stride-1 convolutions on both sides of the fold threshold (P 9 and 64);
 *    larger images (P >= 64) take dX's per-image GEMM in the other cases;
 *  - random shapes with larger batches than the finite-difference tests afford;
 *  - max pooling's argmax-then-gather backward on ResNet's stem pool and in ceil mode.
 *
 * Outputs are guarded; dx is pre-filled with NaN (must not be read) or, when
 * accumulating, with known values; dw is pre-filled with random values that must be
 * added to. Tolerances as tests/test_grad_conv.c: |got - want| <= atol + rtol |want|
 * with rtol 1e-4 and atol 2e-6 (T + 10) for a gradient element summing T products of
 * O(1) floats (a float32 sum of T terms is off by up to about T * 6e-8). Pooling moves
 * values without arithmetic besides the sums of at most 4 windows: atol 1e-6. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/ops.h"
#include "ref/gradcheck.h"
#include "ref/ref.h"
#include "ref/ref_grad_conv.h"
#include "ref/ref_grad_eltwise.h"
#include "testutil.h"

/* atol for gradient elements that each sum `terms` products of O(1) values. */
static double sum_atol(double terms) { return 2e-6 * (terms + 10.0); }

/* expect = want + base (base NULL: zeros), then compare with g. */
static void check_plus(arena *a, const char *what, const guarded *g, const double *want, const double *base,
                       double atol, double *max_err) {
    double *expect = ar_doubles(a, g->n);
    if (!expect) return;
    for (size_t i = 0; i < g->n; i++) expect[i] = want[i] + (base ? base[i] : 0.0);
    ar_check(a, what, g, expect, atol, 1e-4, max_err);
}

/* One convolution backward (dx and dw) by algorithm algo (0: the library's choice)
 * against refd_conv2d_backward; kc is the CLCNN_WGRAD_KC chunk target ("" for the
 * library's own choice). The largest dw error goes to *dw_err unless that is NULL. */
static void conv_case_err(test_rng *rng, refd_conv_shape s, clcnn_conv_algo algo, int accumulate, const char *kc,
                          double *dw_err) {
    s.OH = (s.H + 2 * s.ph - s.dh * (s.KH - 1) - 1) / s.sh + 1;
    s.OW = (s.W + 2 * s.pw - s.dw * (s.KW - 1) - 1) / s.sw + 1;
    const int xs[4] = {s.N, s.C, s.H, s.W}, ws[4] = {s.Cout, s.C / s.groups, s.KH, s.KW};
    const int ys[4] = {s.N, s.Cout, s.OH, s.OW};
    const size_t nx = numel(4, xs), nw = numel(4, ws), ny = numel(4, ys);
    arena a = {0};
    ar_desc(&a, "x [%d, %d, %d, %d] w [%d, %d, %d, %d] stride %d pad %d groups %d%s, chunk target '%s'", s.N, s.C,
            s.H, s.W, ws[0], ws[1], s.KH, s.KW, s.sh, s.ph, s.groups, accumulate ? " accumulate" : "", kc);
    double *x = ar_rand_d(&a, rng, nx, -1, 1), *w = ar_rand_d(&a, rng, nw, -1, 1), *r = ar_rand_d(&a, rng, ny, -1, 1);
    double *dx0 = accumulate ? ar_rand_d(&a, rng, nx, -1, 1) : NULL, *dw0 = ar_rand_d(&a, rng, nw, -1, 1);
    double *gx = ar_doubles(&a, nx), *gw = ar_doubles(&a, nw);
    clcnn_tensor *tx = ar_tensor_d(&a, 4, xs, x), *tw = ar_tensor_d(&a, 4, ws, w), *tdy = ar_tensor_d(&a, 4, ys, r);
    guarded *dx = ar_guarded_d(&a, 4, xs, dx0, NAN), *dw = ar_guarded_d(&a, 4, ws, dw0, 0.0f);
    if (a.bad) goto done;
    const clcnn_conv_params cp = {.stride_h = s.sh, .stride_w = s.sw, .pad_h = s.ph, .pad_w = s.pw,
                                  .dilation_h = s.dh, .dilation_w = s.dw, .groups = s.groups, .algo = algo};
    if (*kc) setenv("CLCNN_WGRAD_KC", kc, 1);
    const int ok = CASE_OK(&a, clcnn_conv2d_backward(g_ctx, tx, tw, &cp, tdy, dx->t, accumulate, dw->t, NULL));
    unsetenv("CLCNN_WGRAD_KC");
    if (!ok) goto done;
    refd_conv2d_backward(&s, x, w, r, gx, gw, NULL);
    check_plus(&a, "dx", dx, gx, dx0, sum_atol((double)s.KH * s.KW * (s.Cout / s.groups)), NULL);
    check_plus(&a, "dw", dw, gw, dw0, sum_atol((double)s.N * s.OH * s.OW), dw_err);
done:
    ar_free(&a);
}

static void conv_case(test_rng *rng, refd_conv_shape s, int accumulate, const char *kc) {
    conv_case_err(rng, s, CLCNN_CONV_ALGO_DEFAULT, accumulate, kc, NULL);
}

/* K = N*OH*OW = 507 in one chunk (the one-GEMM path), 2 chunks (254 + 253), 3 exact
 * (169), 5 (4 x 102 + 99) and 64 (63 x 8 + 3), with groups 1 and 2; and a strided
 * variant with K = 120. */
static void test_wgrad_split_k(void) {
    test_rng rng = {g_seed ^ 0x5B117ull};
    static const char *const targets[] = {"", "507", "254", "169", "100", "7"};
    const refd_conv_shape base = {.N = 3, .C = 4, .H = 13, .W = 13, .Cout = 6, .KH = 3, .KW = 3,
                                  .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1, .groups = 1};
    for (int i = 0; i < (int)(sizeof targets / sizeof *targets); i++) {
        refd_conv_shape s = base;
        conv_case(&rng, s, i % 2, targets[i]);
        s.groups = 2;
        conv_case(&rng, s, (i + 1) % 2, targets[i]);
        s = base;
        s.sh = s.sw = 2, s.H = 15, s.W = 11, s.KH = 5, s.KW = 2, s.ph = 2, s.pw = 0;
        conv_case(&rng, s, 0, targets[i]);
    }
}

/* Late-layer shapes: 3x3 images, 1x1 outputs, strided 1x1 downsampling, and 1x1
 * stride-1 convolutions below (P = 9, folded) and at (P = 64, direct) the threshold. */
static void test_small_images(void) {
    test_rng rng = {g_seed ^ 0x5A11ull};
    const refd_conv_shape l4 = {.N = 5, .C = 16, .H = 3, .W = 3, .Cout = 8, .KH = 3, .KW = 3,
                                .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1, .groups = 1};
    refd_conv_shape s = l4;
    conv_case(&rng, s, 0, "");
    conv_case(&rng, s, 1, "");
    s.groups = 4;
    conv_case(&rng, s, 1, "");
    s = l4; /* 3x3 stride 2 on 3x3: 2x2 outputs */
    s.sh = s.sw = 2;
    conv_case(&rng, s, 0, "");
    s = l4; /* one pixel */
    s.H = s.W = 1;
    conv_case(&rng, s, 1, "");
    s = l4; /* 1x1 stride 2 downsampling */
    s.KH = s.KW = 1, s.ph = s.pw = 0, s.sh = s.sw = 2;
    conv_case(&rng, s, 0, "");
    s = l4; /* 1x1 stride 1: P = 9 folds, P = 64 runs the direct GEMM */
    s.KH = s.KW = 1, s.ph = s.pw = 0;
    conv_case(&rng, s, 0, "");
    conv_case(&rng, s, 1, "");
    s.H = s.W = 8, s.groups = 2;
    conv_case(&rng, s, 0, "");
    conv_case(&rng, s, 1, "");
}

/* 3x3 stride-1 layers big enough (N*OH*OW >= 1024 output pixels, at least 12
 * Winograd tiles) for dX to be computed as a forward convolution of dY: paddings 0
 * (the forward pads 2), 1, and 1 x 0, accumulating and not. */
static void test_data_as_forward(void) {
    test_rng rng = {g_seed ^ 0xF0D3ull};
    refd_conv_shape s = {.N = 4, .C = 5, .H = 19, .W = 18, .Cout = 7, .KH = 3, .KW = 3,
                         .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    for (int i = 0; i < 4; i++) {
        s.ph = i == 0 ? 0 : 1, s.pw = i == 0 || i == 3 ? 0 : 1;
        conv_case(&rng, s, i % 2, "");
    }
}

/* conv_case_err with the convolution forced to Winograd (clcnn_conv_params.algo), so
 * that its weight gradient runs as F(3x3, 4x4), which the case checks it reports. */
static void winograd_case(test_rng *rng, refd_conv_shape s, int accumulate, double *dw_err) {
    const int xs[4] = {s.N, s.C, s.H, s.W}, ws[4] = {s.Cout, s.C, 3, 3};
    const clcnn_tensor x_like = {.ctx = g_ctx, .ndim = 4, .shape = {xs[0], xs[1], xs[2], xs[3]}};
    const clcnn_tensor w_like = {.ctx = g_ctx, .ndim = 4, .shape = {ws[0], ws[1], ws[2], ws[3]}};
    const clcnn_conv_params cp = {.stride_h = 1, .stride_w = 1, .pad_h = s.ph, .pad_w = s.pw,
                                  .algo = CLCNN_CONV_ALGO_WINOGRAD};
    const char *algo = ops_conv2d_wgrad_algorithm(g_ctx, &x_like, &w_like, &cp);
    CHECK(!strcmp(algo, "winograd-4x4"), "x %s: weight gradient runs %s, want winograd-4x4", dims(4, xs).s, algo);
    conv_case_err(rng, s, CLCNN_CONV_ALGO_WINOGRAD, accumulate, "", dw_err);
}

/* The weight gradient by F(3x3, 4x4): ResNet-like layers (64 channels at 12x12, 256
 * at 3x3), channel counts off the 8 lanes and 16-wide panels (K 7, 20, 33), output
 * sizes of every remainder mod 4 and padding 0..2. The largest error is printed:
 * measured 9e-5 on dw elements of magnitude up to ~20 (sums of up to 288 products). */
static void test_wgrad_winograd(void) {
    test_rng rng = {g_seed ^ 0x3D6Bull};
    const refd_conv_shape l = {.N = 2, .C = 64, .H = 12, .W = 12, .Cout = 64, .KH = 3, .KW = 3,
                               .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1, .groups = 1};
    const int small = test_small(); /* Oclgrind: 16 and 24 channels instead of 64 and 256 */
    double err = 0;
    refd_conv_shape s = l;
    s.C = s.Cout = small ? 16 : 64;
    winograd_case(&rng, s, 0, &err);
    s.C = s.Cout = small ? 24 : 256, s.H = s.W = 3;
    winograd_case(&rng, s, 1, &err);
    for (int i = 0; i < 4; i++) { /* outputs 7x9, 8x8, 9x7 and 10x10: every tail */
        s = l;
        s.N = 3, s.C = 5 + 4 * i, s.Cout = i == 0 ? 7 : i == 1 ? 20 : 33, s.ph = i % 3, s.pw = (i + 1) % 3;
        s.H = 7 + i - 2 * s.ph + 2, s.W = 9 - i - 2 * s.pw + 2 + (i == 3 ? 4 : 0);
        winograd_case(&rng, s, i % 2, &err);
    }
    printf("  winograd weight gradient: max err %.1e\n", err);
}

/* A batch whose transforms exceed the scratch bound, so that the weight gradient's
 * products are summed over chunks of 2 + 1 images (135 x 135 tiles of 36 * (1 + 16)
 * floats each per image). dw sums 874800 products: measured error 3e-2 on values of
 * about 900 (the atol is 1.7). */
static void test_wgrad_winograd_chunked(void) {
    if (test_small()) { /* the chunking is the host's; its kernels run in the other tests */
        test_skip("CLCNN_TEST_SMALL: the chunked case needs 100 MB of transforms");
        return;
    }
    test_rng rng = {g_seed ^ 0x3D6Cull};
    const refd_conv_shape s = {.N = 3, .C = 1, .H = 540, .W = 540, .Cout = 1, .KH = 3, .KW = 3,
                               .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1, .groups = 1};
    double err = 0;
    winograd_case(&rng, s, 0, &err);
    printf("  winograd weight gradient, chunked: max err %.1e\n", err);
}

/* Random shapes, batches up to 6, odd sizes, groups, dilation. */
static void test_random_batches(void) {
    test_rng rng = {g_seed ^ 0xBA7C4ull};
    for (int i = 0; i < 10; i++) {
        refd_conv_shape s = {0};
        s.groups = i % 3 == 1 ? 2 : 1;
        s.C = s.groups * test_rng_int(&rng, 1, 6), s.Cout = s.groups * test_rng_int(&rng, 1, 7);
        s.N = test_rng_int(&rng, 2, 6);
        s.KH = test_rng_int(&rng, 1, 4), s.KW = test_rng_int(&rng, 1, 4);
        s.sh = test_rng_int(&rng, 1, 2), s.sw = s.sh;
        s.ph = test_rng_int(&rng, 0, 1), s.pw = test_rng_int(&rng, 0, 1);
        s.dh = s.dw = i % 4 == 3 ? 2 : 1;
        s.H = test_rng_int(&rng, 1, 17), s.W = test_rng_int(&rng, 1, 17);
        refd_conv_fit_input(&s);
        conv_case(&rng, s, i % 2, i % 5 == 4 ? "16" : "");
    }
}

/* Max pooling's backward on random (tie-free) inputs against the reference argmax:
 * each window's dy goes to its maximum, summed where windows overlap. */
static void pool_case(test_rng *rng, int N, int C, int H, int W, clcnn_pool_params p, int accumulate) {
    const int OH = ref_pool_out_size(H, p.kernel_h, p.stride_h, p.pad_h, p.ceil_mode);
    const int OW = ref_pool_out_size(W, p.kernel_w, p.stride_w, p.pad_w, p.ceil_mode);
    const int xs[4] = {N, C, H, W}, ys[4] = {N, C, OH, OW};
    const size_t nx = numel(4, xs), ny = numel(4, ys);
    arena a = {0};
    ar_desc(&a, "max pool x [%d, %d, %d, %d] kernel %d stride %d pad %d%s%s", N, C, H, W, p.kernel_h, p.stride_h,
            p.pad_h, p.ceil_mode ? " ceil" : "", accumulate ? " accumulate" : "");
    double *x = ar_rand_d(&a, rng, nx, -1, 1), *r = ar_rand_d(&a, rng, ny, -1, 1);
    double *dx0 = accumulate ? ar_rand_d(&a, rng, nx, -1, 1) : NULL, *want = ar_doubles(&a, nx);
    clcnn_tensor *tx = ar_tensor_d(&a, 4, xs, x), *tdy = ar_tensor_d(&a, 4, ys, r);
    guarded *dx = ar_guarded_d(&a, 4, xs, dx0, NAN);
    if (a.bad) goto done;
    ref_grad_max_pool_backward(x, r, N * C, H, W, OH, OW, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h,
                               p.pad_w, want);
    if (CASE_OK(&a, clcnn_pool2d_backward(g_ctx, tx, &p, tdy, dx->t, accumulate)))
        check_plus(&a, "dx", dx, want, dx0, 1e-6, NULL);
done:
    ar_free(&a);
}

static void test_maxpool_backward(void) {
    test_rng rng = {g_seed ^ 0x3A7Bull};
    const clcnn_pool_params stem = {.mode = CLCNN_POOL_MAX, .kernel_h = 3, .kernel_w = 3, .stride_h = 2,
                                    .stride_w = 2, .pad_h = 1, .pad_w = 1};
    pool_case(&rng, 2, 5, 48, 48, stem, 0);
    pool_case(&rng, 2, 5, 47, 33, stem, 1);
    const clcnn_pool_params ceil2 = {.mode = CLCNN_POOL_MAX, .kernel_h = 2, .kernel_w = 2, .stride_h = 2,
                                     .stride_w = 2, .ceil_mode = 1};
    pool_case(&rng, 3, 2, 7, 9, ceil2, 0);
    const clcnn_pool_params overlap = {.mode = CLCNN_POOL_MAX, .kernel_h = 3, .kernel_w = 3, .stride_h = 1,
                                       .stride_w = 1, .pad_h = 1, .pad_w = 1};
    pool_case(&rng, 1, 3, 6, 5, overlap, 1);
}

const test_case test_backward_fast_cases[] = {
    {"backward_fast_wgrad_split_k", test_wgrad_split_k},
    {"backward_fast_small_images", test_small_images},
    {"backward_fast_data_as_forward", test_data_as_forward},
    {"backward_fast_random_batches", test_random_batches},
    {"backward_fast_wgrad_winograd", test_wgrad_winograd},
    {"backward_fast_wgrad_winograd_chunked", test_wgrad_winograd_chunked},
    {"backward_fast_maxpool", test_maxpool_backward},
    {NULL, NULL},
};
