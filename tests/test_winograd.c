/* test_winograd.c: the convolution's algorithms against the CPU reference (tests/ref):
 * Winograd F(4x4, 3x3), the depthwise kernels (forward, and backward against central
 * finite differences), both im2col layouts, and the choice of algorithm (default rule,
 * clcnn_conv_params.algo, $CLCNN_CONV_ALGO, fallback when a choice does not apply).
 *
 * Each test draws from g_seed ^ a per-test constant; outputs are guarded (testutil.h).
 * Tolerances, |got - want| <= atol + rtol |want|, outputs O(1) (weights scaled by
 * 1/sqrt(fan-in), inputs in [-1, 1]):
 *  - im2col: exact (it copies floats).
 *  - depthwise forward: atol 1e-5, rtol 1e-5 (sums of at most 49 products, float
 *    rounding ~1e-7; transcendental activations a few ulp more).
 *  - Winograd: atol 1e-4, rtol 1e-4, as conv2d in test_ops. Its transforms multiply
 *    by up to 8 and add a few dozen terms, so float rounding is larger than the
 *    direct sum's: measured max errors are 3e-6 .. 8e-6 at C = 1 .. 128 (printed; im2col ~6e-7), and
 *    whole-network goldens (test_zoo, 1e-3 relative) pass with it.
 *  - depthwise backward: as test_grad_conv (the differences of a linear function are
 *    exact to ~1e-10): rtol 1e-4, atol 2e-6 * (terms + 10). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/conv_internal.h"
#include "ref/gradcheck.h"
#include "ref/ref.h"
#include "ref/ref_grad_conv.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers -- */

typedef struct {
    int N, C, H, W, K, KH, KW;
    clcnn_conv_params p; /* fully spelled out */
    int bias, residual, act;
} wcase;

/* Run clcnn_conv2d with algorithm algo asked for through clcnn_conv_params.algo (0: the
 * library's choice), check that ops_conv2d_algorithm reports want_algo (NULL: anything)
 * and compare with ref_conv2d; the largest error goes to *max_err. */
static void run_conv(const wcase *c, clcnn_conv_algo algo, const char *want_algo, test_rng *rng, double atol,
                     double rtol, double *max_err) {
    clcnn_conv_params forced = c->p;
    forced.algo = algo;
    const clcnn_conv_params *p = &forced;
    const int OH = ref_conv2d_out_size(c->H, c->KH, p->stride_h, p->pad_h, p->dilation_h);
    const int OW = ref_conv2d_out_size(c->W, c->KW, p->stride_w, p->pad_w, p->dilation_w);
    const int xs[4] = {c->N, c->C, c->H, c->W}, ws[4] = {c->K, c->C / p->groups, c->KH, c->KW};
    const int ys[4] = {c->N, c->K, OH, OW};
    arena h = {0};
    ar_desc(&h, "algo %d x%s w%s stride %d,%d pad %d,%d dil %d,%d groups %d%s%s act %s", (int)algo, dims(4, xs).s,
            dims(4, ws).s, p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dilation_h, p->dilation_w, p->groups,
            c->bias ? " bias" : "", c->residual ? " residual" : "", act_name(c->act));
    const size_t ny = numel(4, ys);
    const float scale = 1.0f / sqrtf((float)(ws[1] * c->KH * c->KW));
    float *x = ar_rand(&h, rng, numel(4, xs), -1, 1), *w = ar_rand(&h, rng, numel(4, ws), -scale, scale);
    float *b = c->bias ? ar_rand(&h, rng, (size_t)c->K, -1, 1) : NULL;
    float *res = c->residual ? ar_rand(&h, rng, ny, -1, 1) : NULL;
    float *want = ar_floats(&h, ny);
    clcnn_tensor *tx = ar_tensor(&h, 4, xs, x), *tw = ar_tensor(&h, 4, ws, w);
    clcnn_tensor *tb = b ? ar_tensor(&h, 1, &c->K, b) : NULL, *tr = res ? ar_tensor(&h, 4, ys, res) : NULL;
    guarded *y = ar_guarded(&h, 4, ys, NULL, NAN);
    if (h.bad) goto done;
    const char *name = ops_conv2d_algorithm(g_ctx, tx, tw, p);
    CASE_CHECK(&h, !want_algo || !strcmp(name, want_algo), "algorithm %s, want %s", name, want_algo);
    if (!CASE_OK(&h, clcnn_conv2d(g_ctx, tx, tw, tb, p, tr, (clcnn_activation)c->act, y->t))) goto done;
    ref_conv2d(x, c->N, c->C, c->H, c->W, w, c->K, c->KH, c->KW, b, p->stride_h, p->stride_w, p->pad_h, p->pad_w,
               p->dilation_h, p->dilation_w, p->groups, res, c->act, want, OH, OW);
    ar_check(&h, "y", y, ar_widen(&h, want, ny), atol, rtol, max_err);
done:
    ar_free(&h);
}

#define P1(s, pd, d, g) {.stride_h = s, .stride_w = s, .pad_h = pd, .pad_w = pd, .dilation_h = d, .dilation_w = d, .groups = g}

/* $CLCNN_CONV_ALGO set to value (NULL: unset); returns the previous value (malloc'd or NULL). */
static char *set_env_algo(const char *value) {
    const char *old = getenv("CLCNN_CONV_ALGO");
    char *saved = old ? strdup(old) : NULL;
    if (value)
        setenv("CLCNN_CONV_ALGO", value, 1);
    else
        unsetenv("CLCNN_CONV_ALGO");
    return saved;
}

static void restore_env_algo(char *saved) {
    if (saved)
        setenv("CLCNN_CONV_ALGO", saved, 1);
    else
        unsetenv("CLCNN_CONV_ALGO");
    free(saved);
}

/* ----------------------------------------------------------- winograd -- */

/* Random 3x3 stride-1 convolutions forced to Winograd: output sizes of every remainder
 * mod 4 (tails), rows of fewer and more than 6 tiles (4- and 8-lane kernels), channel
 * counts below and above 8, padding 0..2, batch 1..3, every epilogue. */
static void test_winograd_random(void) {
    test_rng rng = {g_seed ^ 0x3143ull};
    double max_err = 0;
    for (int i = 0; i < 14; i++) {
        wcase c = {.N = test_rng_int(&rng, 1, 3), .C = test_rng_int(&rng, 1, 20), .K = test_rng_int(&rng, 1, 20),
                   .KH = 3, .KW = 3};
        const int pad = test_rng_int(&rng, 0, 2);
        c.p = (clcnn_conv_params)P1(1, pad, 1, 1);
        c.p.pad_w = test_rng_int(&rng, 0, 2);
        c.H = 3 - 2 * pad + test_rng_int(&rng, 0, 30);
        if (c.H < 1) c.H = 1;
        c.W = 3 - 2 * c.p.pad_w + test_rng_int(&rng, 0, 40);
        if (c.W < 1) c.W = 1;
        c.bias = test_rng_int(&rng, 0, 1), c.residual = test_rng_int(&rng, 0, 1), c.act = test_rng_int(&rng, 0, 5);
        run_conv(&c, CLCNN_CONV_ALGO_WINOGRAD, "winograd-4x4", &rng, 1e-4, 1e-4, &max_err);
    }
    printf("  winograd random: max err %.1e\n", max_err);
}

/* Fixed shapes: ResNet-like layers (larger channel counts: the error grows with C),
 * a 1x1 output, a single tile with every tail. */
static void test_winograd_fixed(void) {
    static const wcase cases[] = {
        {1, 64, 28, 28, 64, 3, 3, P1(1, 1, 1, 1), 1, 1, CLCNN_ACT_RELU},
        {2, 128, 9, 11, 32, 3, 3, P1(1, 1, 1, 1), 1, 0, CLCNN_ACT_NONE},
        {3, 5, 3, 3, 7, 3, 3, P1(1, 0, 1, 1), 1, 1, CLCNN_ACT_SIGMOID},  /* 1x1 output */
        {1, 9, 7, 6, 10, 3, 3, P1(1, 1, 1, 1), 0, 1, CLCNN_ACT_RELU6},   /* 7x6: tails 3 and 2 */
        {2, 16, 33, 50, 8, 3, 3, P1(1, 1, 1, 1), 1, 1, CLCNN_ACT_TANH},  /* 9 and 13 tiles across */
    };
    test_rng rng = {g_seed ^ 0x3144ull};
    double max_err = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_conv(&cases[i], CLCNN_CONV_ALGO_WINOGRAD, "winograd-4x4", &rng, 1e-4, 1e-4, &max_err);
    printf("  winograd fixed: max err %.1e\n", max_err);
}

/* A batch whose Winograd scratch exceeds the bound, so it runs one image at a time:
 * 485 x 485 tiles of 36 * (C + K) floats each per image. */
static void test_winograd_chunked(void) {
    const wcase c = {2, 1, 1940, 1940, 1, 3, 3, P1(1, 1, 1, 1), 1, 1, CLCNN_ACT_NONE};
    test_rng rng = {g_seed ^ 0x3145ull};
    const size_t per_image = 36u * 2u * 485u * 485u;
    CHECK(conv_batch_chunk(per_image, 2) == 1, "chunk %d, want 1", conv_batch_chunk(per_image, 2));
    double max_err = 0;
    run_conv(&c, CLCNN_CONV_ALGO_WINOGRAD, "winograd-4x4", &rng, 1e-4, 1e-4, &max_err);
    printf("  winograd chunked: max err %.1e\n", max_err);
}

/* ---------------------------------------------------------- depthwise -- */

/* Random depthwise convolutions (default rule: the depthwise kernels): kernels 1..7,
 * strides 1..3, padding 0..3, dilation 1..2, every epilogue; and the same shape forced
 * to the grouped GEMM, which must agree too. The last 3 have planes of 64..90 pixels a
 * side: too big for the CPU kernels' private tile (4096 floats), so that their
 * interior-and-border path runs (two planes of 64..70 under CLCNN_TEST_SMALL). */
static void test_depthwise_forward(void) {
    test_rng rng = {g_seed ^ 0xD3D3ull};
    double max_err = 0;
    for (int i = 0; i < 15; i++) {
        const int big = i >= 12;
        wcase c = {.N = test_rng_int(&rng, 1, 3), .C = test_rng_int(&rng, 2, 24)};
        c.K = c.C;
        c.KH = test_rng_int(&rng, 1, 7), c.KW = test_rng_int(&rng, 0, 1) ? c.KH : test_rng_int(&rng, 1, 7);
        c.p = (clcnn_conv_params){.stride_h = test_rng_int(&rng, 1, 3), .stride_w = test_rng_int(&rng, 1, 3),
                                  .pad_h = test_rng_int(&rng, 0, 3), .pad_w = test_rng_int(&rng, 0, 3),
                                  .dilation_h = test_rng_int(&rng, 1, 2), .dilation_w = test_rng_int(&rng, 1, 2),
                                  .groups = c.C};
        int need_h = c.p.dilation_h * (c.KH - 1) + 1 - 2 * c.p.pad_h, need_w = c.p.dilation_w * (c.KW - 1) + 1 - 2 * c.p.pad_w;
        const int big_hi = test_small() ? 70 : 90;
        c.H = big ? test_rng_int(&rng, 64, big_hi) : (need_h > 1 ? need_h : 1) + test_rng_int(&rng, 0, 20);
        c.W = big ? test_rng_int(&rng, 64, big_hi) : (need_w > 1 ? need_w : 1) + test_rng_int(&rng, 0, 20);
        if (big) c.N = 1, c.C = c.K = c.p.groups = test_small() ? 2 : 3;
        c.bias = test_rng_int(&rng, 0, 1), c.residual = test_rng_int(&rng, 0, 1), c.act = test_rng_int(&rng, 0, 5);
        run_conv(&c, CLCNN_CONV_ALGO_DEFAULT, "depthwise", &rng, 1e-5, 1e-5, &max_err);
        if (i < 3) run_conv(&c, CLCNN_CONV_ALGO_IM2COL, NULL, &rng, 1e-5, 1e-5, &max_err);
    }
    printf("  depthwise forward: max err %.1e\n", max_err);
}

/* One depthwise backward case against finite differences: dx (overwritten, or added to
 * random values), dw added to random values. */
typedef struct {
    refd_conv_shape s;
    double *x, *w;
} dw_problem;

static void dw_forward(const double *in, double *out, void *user) {
    (void)in; /* in is x or w of the problem, perturbed in place */
    const dw_problem *p = user;
    refd_conv2d(&p->s, p->x, p->w, NULL, out);
}

static void depthwise_backward_case(test_rng *rng, refd_conv_shape s, int accumulate) {
    s.OH = ref_conv2d_out_size(s.H, s.KH, s.sh, s.ph, s.dh);
    s.OW = ref_conv2d_out_size(s.W, s.KW, s.sw, s.pw, s.dw);
    const int xs[4] = {s.N, s.C, s.H, s.W}, ws[4] = {s.C, 1, s.KH, s.KW}, ys[4] = {s.N, s.C, s.OH, s.OW};
    const size_t nx = numel(4, xs), nw = numel(4, ws), ny = numel(4, ys);
    arena a = {0};
    ar_desc(&a, "depthwise backward x%s w%s stride %dx%d pad %dx%d dilation %dx%d%s", dims(4, xs).s, dims(4, ws).s,
            s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, accumulate ? " accumulate" : "");
    dw_problem p = {s, ar_rand_d(&a, rng, nx, -1, 1), ar_rand_d(&a, rng, nw, -1, 1)};
    double *r = ar_rand_d(&a, rng, ny, -1, 1), *dw0 = ar_rand_d(&a, rng, nw, -1, 1);
    double *dx0 = accumulate ? ar_rand_d(&a, rng, nx, -1, 1) : NULL;
    clcnn_tensor *tx = ar_tensor_d(&a, 4, xs, p.x), *tw = ar_tensor_d(&a, 4, ws, p.w), *tdy = ar_tensor_d(&a, 4, ys, r);
    guarded *dx = ar_guarded_d(&a, 4, xs, dx0, NAN), *dw = ar_guarded_d(&a, 4, ws, dw0, 0.0f);
    if (a.bad) goto done;
    const clcnn_conv_params cp = {.stride_h = s.sh, .stride_w = s.sw, .pad_h = s.ph, .pad_w = s.pw,
                                  .dilation_h = s.dh, .dilation_w = s.dw, .groups = s.groups};
    if (!CASE_OK(&a, clcnn_conv2d_backward(g_ctx, tx, tw, &cp, tdy, dx->t, accumulate, dw->t, NULL))) goto done;
    const double *gx = ar_fd(&a, dw_forward, &p, p.x, nx, r, ny);
    const double *gw = ar_fd(&a, dw_forward, &p, p.w, nw, r, ny);
    double *want_x = ar_doubles(&a, nx), *want_w = ar_doubles(&a, nw);
    if (a.bad) goto done;
    for (size_t i = 0; i < nx; i++) want_x[i] = gx[i] + (dx0 ? dx0[i] : 0.0);
    for (size_t i = 0; i < nw; i++) want_w[i] = gw[i] + dw0[i];
    ar_check(&a, "dx", dx, want_x, 2e-6 * (s.KH * s.KW + 10.0), 1e-4, NULL);
    ar_check(&a, "dw", dw, want_w, 2e-6 * ((double)s.N * s.OH * s.OW + 10.0), 1e-4, NULL);
done:
    ar_free(&a);
}

/* Random small depthwise convolutions (kernels 1..5, strides 1..3, padding 0..2,
 * dilation 1..2, batch 1..3); every other case accumulates into dx. */
static void test_depthwise_backward(void) {
    test_rng rng = {g_seed ^ 0xD3B4ull};
    for (int i = 0; i < 10; i++) {
        refd_conv_shape s = {.N = test_rng_int(&rng, 1, 3), .C = test_rng_int(&rng, 2, 5)};
        s.Cout = s.groups = s.C;
        tu_random_conv_geometry(&rng, &s, 5, 3, 9);
        depthwise_backward_case(&rng, s, i % 2);
    }
}

/* Planes of 64..90 pixels a side, too big for the CPU kernels' private tile (their
 * interior-and-border path), strides 1 and 2, against the adjoint loops in double
 * (too many inputs for finite differences; those loops are checked against finite
 * differences in test_grad_conv). dx overwritten, then added to. Under
 * CLCNN_TEST_SMALL (Oclgrind), two planes of 66..70 and only the 3x3 kernels (one
 * channel would make an ordinary convolution). */
static void test_depthwise_backward_big(void) {
    test_rng rng = {g_seed ^ 0xD3B5ull};
    const int small = test_small(), planes = small ? 2 : 3, lo = small ? 66 : 64, hi = small ? 70 : 90;
    for (int i = 0; i < 4; i += small ? 2 : 1) {
        refd_conv_shape s = {.N = small ? 1 : 2, .C = planes, .Cout = planes, .groups = planes,
                             .KH = 3 + 2 * (i % 2), .KW = 3 + 2 * (i % 2)};
        s.sh = s.sw = 1 + i / 2;
        s.ph = s.pw = s.KH / 2;
        s.dh = s.dw = 1;
        s.H = test_rng_int(&rng, lo, hi), s.W = test_rng_int(&rng, lo, hi);
        s.OH = ref_conv2d_out_size(s.H, s.KH, s.sh, s.ph, s.dh);
        s.OW = ref_conv2d_out_size(s.W, s.KW, s.sw, s.pw, s.dw);
        const int accumulate = i % 2;
        const int xs[4] = {s.N, s.C, s.H, s.W}, ws[4] = {s.C, 1, s.KH, s.KW}, ys[4] = {s.N, s.C, s.OH, s.OW};
        const size_t nx = numel(4, xs), nw = numel(4, ws), ny = numel(4, ys);
        arena a = {0};
        ar_desc(&a, "depthwise backward x%s w%s stride %d%s", dims(4, xs).s, dims(4, ws).s, s.sh,
                accumulate ? " accumulate" : "");
        double *x = ar_rand_d(&a, &rng, nx, -1, 1), *w = ar_rand_d(&a, &rng, nw, -1, 1);
        double *dy = ar_rand_d(&a, &rng, ny, -1, 1), *dw0 = ar_rand_d(&a, &rng, nw, -1, 1);
        double *dx0 = accumulate ? ar_rand_d(&a, &rng, nx, -1, 1) : NULL;
        double *want_x = ar_doubles(&a, nx), *want_w = ar_doubles(&a, nw);
        clcnn_tensor *tx = ar_tensor_d(&a, 4, xs, x), *tw = ar_tensor_d(&a, 4, ws, w), *tdy = ar_tensor_d(&a, 4, ys, dy);
        guarded *dx = ar_guarded_d(&a, 4, xs, dx0, NAN), *dwt = ar_guarded_d(&a, 4, ws, dw0, 0.0f);
        if (!a.bad) {
            const clcnn_conv_params cp = {.stride_h = s.sh, .stride_w = s.sw, .pad_h = s.ph, .pad_w = s.pw,
                                          .dilation_h = s.dh, .dilation_w = s.dw, .groups = s.groups};
            if (CASE_OK(&a, clcnn_conv2d_backward(g_ctx, tx, tw, &cp, tdy, dx->t, accumulate, dwt->t, NULL))) {
                refd_conv2d_backward(&s, x, w, dy, want_x, want_w, NULL);
                for (size_t j = 0; j < nx; j++) want_x[j] += dx0 ? dx0[j] : 0.0;
                for (size_t j = 0; j < nw; j++) want_w[j] += dw0[j];
                ar_check(&a, "dx", dx, want_x, 2e-6 * (s.KH * s.KW + 10.0), 1e-4, NULL);
                ar_check(&a, "dw", dwt, want_w, 2e-6 * ((double)s.N * s.OH * s.OW + 10.0), 1e-4, NULL);
            }
        }
        ar_free(&a);
    }
}

/* ------------------------------------------------------------- im2col -- */

/* conv_im2col in both layouts against a CPU im2col, exactly: random kernels, strides,
 * padding, dilation, a chunk of images starting past image 0. */
static void test_im2col_layouts(void) {
    test_rng rng = {g_seed ^ 0x12C0ull};
    for (int i = 0; i < 12; i++) {
        const int N = test_rng_int(&rng, 1, 4), C = test_rng_int(&rng, 1, 6);
        const int KH = test_rng_int(&rng, 1, 5), KW = test_rng_int(&rng, 1, 5);
        clcnn_conv_params p = {.groups = 1};
        p.stride_h = test_rng_int(&rng, 1, 3), p.stride_w = test_rng_int(&rng, 1, 3);
        p.pad_h = test_rng_int(&rng, 0, 3), p.pad_w = test_rng_int(&rng, 0, 3);
        p.dilation_h = test_rng_int(&rng, 1, 2), p.dilation_w = test_rng_int(&rng, 1, 2);
        const conv_geom g = conv_geometry(&p);
        int H = g.dh * (KH - 1) + 1 - 2 * g.ph, W = g.dw * (KW - 1) + 1 - 2 * g.pw;
        H = (H > 1 ? H : 1) + test_rng_int(&rng, 0, 15), W = (W > 1 ? W : 1) + test_rng_int(&rng, 0, 15);
        const int OH = ref_conv2d_out_size(H, KH, g.sh, g.ph, g.dh), OW = ref_conv2d_out_size(W, KW, g.sw, g.pw, g.dw);
        const int rows = C * KH * KW, P = OH * OW, n0 = N > 1 ? 1 : 0, nc = N - n0;
        const int npr = i % 2;
        const col_layout lay = npr ? conv_layout_npr(rows, P) : conv_layout_nrp(rows, P);
        const int xs[4] = {N, C, H, W}, ws[4] = {1, C, KH, KW}, cs[1] = {nc * rows * P};
        arena a = {0};
        ar_desc(&a, "im2col %s x%s kernel %dx%d stride %dx%d pad %dx%d dilation %dx%d images %d..%d",
                npr ? "[n][p][r]" : "[n][r][p]", dims(4, xs).s, KH, KW, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, n0,
                N - 1);
        float *x = ar_rand(&a, &rng, numel(4, xs), -1, 1);
        double *want = ar_doubles(&a, (size_t)cs[0]);
        clcnn_tensor *tx = ar_tensor(&a, 4, xs, x), *tw = ar_tensor(&a, 4, ws, NULL);
        guarded *col = ar_guarded(&a, 1, cs, NULL, NAN);
        if (a.bad) goto next;
        for (int n = 0; n < nc; n++)
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < P; q++) {
                    const int c = r / (KH * KW), ky = r / KW % KH, kx = r % KW;
                    const int iy = q / OW * g.sh - g.ph + ky * g.dh, ix = q % OW * g.sw - g.pw + kx * g.dw;
                    const int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                    want[n * lay.csn + r * lay.csr + q * lay.csp] = in ? x[(((n0 + n) * C + c) * H + iy) * W + ix] : 0.0;
                }
        if (CASE_OK(&a, conv_im2col(g_ctx, tx, n0, nc, tw, &g, OH, OW, col->t, lay)))
            ar_check(&a, "col", col, want, 0, 0, NULL);
    next:
        ar_free(&a);
    }
}

/* ------------------------------------------------- choosing algorithms -- */

/* ops_conv2d_algorithm for x and w (tensors whose contents are unused). */
static const char *algo_name(const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_conv_params *p) {
    return x && w ? ops_conv2d_algorithm(g_ctx, x, w, p) : "";
}

/* The default rule's choices on ResNet-like layers, then the precedence
 * params.algo > $CLCNN_CONV_ALGO > tuned > default, and fallbacks when a choice does not
 * apply; ops_conv2d_algorithm_applies on each algorithm. */
static void test_conv_algorithm_choice(void) {
    char *saved = set_env_algo(NULL);
    arena a = {0};
    ar_desc(&a, "algorithm choice");
    static const clcnn_conv_params s1 = P1(1, 1, 1, 1), s2 = P1(2, 1, 1, 1), one = P1(1, 0, 1, 1),
                                   one2 = P1(2, 0, 1, 1), dw = P1(1, 1, 1, 32);
    clcnn_tensor *x56 = ar_tensor(&a, 4, (int[]){1, 64, 56, 56}, NULL), *x7 = ar_tensor(&a, 4, (int[]){1, 512, 7, 7}, NULL);
    clcnn_tensor *x7b = ar_tensor(&a, 4, (int[]){4, 512, 7, 7}, NULL), *xd = ar_tensor(&a, 4, (int[]){1, 32, 20, 20}, NULL);
    clcnn_tensor *w3 = ar_tensor(&a, 4, (int[]){64, 64, 3, 3}, NULL), *w3b = ar_tensor(&a, 4, (int[]){512, 512, 3, 3}, NULL);
    clcnn_tensor *w1 = ar_tensor(&a, 4, (int[]){128, 64, 1, 1}, NULL), *wd = ar_tensor(&a, 4, (int[]){32, 1, 3, 3}, NULL);
    if (a.bad) goto done;
    const char *gemm = gemm_conv_name(g_ctx); /* im2col-gemm, or implicit-gemm on the GPU family */
    struct {
        const clcnn_tensor *x, *w;
        const clcnn_conv_params *p;
        const char *want;
    } rules[] = {
        {x56, w3, &s1, "winograd-4x4"},  /* 196 tiles */
        {x7, w3b, &s1, NULL},            /* 4 tiles: the weight transform does not pay (NULL: a GEMM) */
        {x7b, w3b, &s1, "winograd-4x4"}, /* 16 tiles */
        {x56, w3, &s2, NULL},            /* stride 2 */
        {x56, w1, &one, "gemm-1x1"},
        {x56, w1, &one2, NULL},          /* strided 1x1: a strided gather, then GEMM */
        {xd, wd, &dw, "depthwise"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        const char *got = algo_name(rules[i].x, rules[i].w, rules[i].p), *want = rules[i].want ? rules[i].want : gemm;
        CASE_CHECK(&a, !strcmp(got, want), "default rule case %zu: %s, want %s", i, got, want);
    }
    /* override beats the environment; the environment beats the default rule */
    setenv("CLCNN_CONV_ALGO", "im2col", 1);
    const char *got = algo_name(x56, w3, &s1);
    CASE_CHECK(&a, !strcmp(got, gemm), "CLCNN_CONV_ALGO=im2col: %s", got);
    clcnn_conv_params s1_wino = s1, s2_wino = s2;
    s1_wino.algo = s2_wino.algo = CLCNN_CONV_ALGO_WINOGRAD;
    got = algo_name(x7, w3b, &s1_wino);
    CASE_CHECK(&a, !strcmp(got, "winograd-4x4"), "params winograd over env im2col: %s", got);
    /* a forced algorithm that does not apply falls back to the environment, then the default */
    got = algo_name(x56, w3, &s2_wino);
    CASE_CHECK(&a, !strcmp(got, gemm), "params winograd on stride 2: %s", got);
    setenv("CLCNN_CONV_ALGO", "depthwise", 1);
    got = algo_name(x56, w3, &s1_wino);
    CASE_CHECK(&a, !strcmp(got, "winograd-4x4"), "params winograd, env depthwise: %s", got);
    got = algo_name(x56, w3, &s1);
    CASE_CHECK(&a, !strcmp(got, "winograd-4x4"), "env depthwise on a dense 3x3 (default rule): %s", got);
    setenv("CLCNN_CONV_ALGO", "no-such-algorithm", 1);
    got = algo_name(x7, w3b, &s1);
    CASE_CHECK(&a, !strcmp(got, gemm), "unknown CLCNN_CONV_ALGO: %s", got);
    set_env_algo(NULL);

    CHECK(ops_conv2d_algorithm_applies(CLCNN_CONV_ALGO_WINOGRAD, x56, w3, &s1), "winograd applies to 3x3 s1");
    CHECK(!ops_conv2d_algorithm_applies(CLCNN_CONV_ALGO_WINOGRAD, x56, w3, &s2), "winograd on stride 2");
    CHECK(!ops_conv2d_algorithm_applies(CLCNN_CONV_ALGO_WINOGRAD, xd, wd, &dw), "winograd on groups 32");
    CHECK(ops_conv2d_algorithm_applies(CLCNN_CONV_ALGO_IM2COL, xd, wd, &dw), "im2col applies always");
    CHECK(ops_conv2d_algorithm_applies(CLCNN_CONV_ALGO_DEPTHWISE, xd, wd, &dw), "depthwise applies");
    CHECK(!ops_conv2d_algorithm_applies(CLCNN_CONV_ALGO_DEPTHWISE, x56, w3, &s1), "depthwise on dense");
    CHECK(!ops_conv2d_algorithm_applies((clcnn_conv_algo)99, x56, w3, &s1), "unknown algorithm");
done:
    ar_free(&a);
    restore_env_algo(saved);
}

/* The environment variable forces the algorithm clcnn_conv2d runs, and results agree:
 * one 3x3 convolution through each algorithm that applies, against the reference. */
static void test_conv_algorithm_env(void) {
    char *saved = set_env_algo("winograd");
    test_rng rng = {g_seed ^ 0xE7A1ull};
    double max_err = 0;
    const wcase c = {2, 6, 11, 9, 5, 3, 3, P1(1, 1, 1, 1), 1, 1, CLCNN_ACT_RELU};
    run_conv(&c, CLCNN_CONV_ALGO_DEFAULT, "winograd-4x4", &rng, 1e-4, 1e-4, &max_err);
    set_env_algo("im2col");
    run_conv(&c, CLCNN_CONV_ALGO_DEFAULT, gemm_conv_name(g_ctx), &rng, 1e-4, 1e-4, &max_err);
    restore_env_algo(saved);
}

const test_case test_winograd_cases[] = {
    {"winograd_random", test_winograd_random},
    {"winograd_fixed", test_winograd_fixed},
    {"winograd_chunked", test_winograd_chunked},
    {"depthwise_forward", test_depthwise_forward},
    {"depthwise_backward", test_depthwise_backward},
    {"depthwise_backward_big", test_depthwise_backward_big},
    {"im2col_layouts", test_im2col_layouts},
    {"conv_algorithm_choice", test_conv_algorithm_choice},
    {"conv_algorithm_env", test_conv_algorithm_env},
    {NULL, NULL},
};
