/* test_ops.c: the forward ops not yet in the table-driven harness (test_op_table.c,
 * where the activations, add, pooling, global average pooling, resize, linear,
 * squeeze-excitation, softmax, concat, inference dropout and batch norm are):
 * convolution, the batch-norm fold, GEMM, against their CPU references (tests/ref) on random and a few
 * fixed shapes; and the harness's ops' special values (max pooling's NaN rule) and
 * shape errors.
 *
 * Each test draws its shapes from a stream seeded with g_seed ^ hash(test name),
 * so a printed seed reproduces a failure. Every device output lives inside a
 * bigger raw cl_mem with TU_GUARD sentinel floats on both sides, which must survive
 * the op untouched. Checks are mixed: |got - want| <= atol + rtol * |want|.
 *
 * Tolerances (float32 device arithmetic against a double reference):
 *   conv2d, gemm             atol 1e-4, rtol 1e-4 (sums of up to a few hundred products
 *                            of O(1) values)
 *   max pool NaN             exact (it picks an input)
 *   batchnorm_fold           atol 1e-5, rtol 1e-5 (sqrt is a few ulp in OpenCL)
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "harness.h"
#include "ref/ref.h"
#include "testutil.h"

/* ------------------------------------------------------------ bookkeeping -- */

/* One op's run over many shapes: its random stream and the statistics printed at
 * the end. */
typedef struct {
    const char *op;
    test_rng rng;
    int shapes;
    double max_err;
} op_run;

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static op_run run_begin(const char *op) {
    op_run r = {.op = op, .rng = {g_seed ^ fnv1a(op)}};
    return r;
}

static void run_end(const op_run *r) {
    printf("  %s: %d shapes, max err %.1e\n", r->op, r->shapes, r->max_err);
}

/* Start a case: count it and name it "op description" in its arena's failures. */
static void run_case(op_run *r, arena *h, const char *fmt, ...) {
    char desc[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(desc, sizeof desc, fmt, ap);
    va_end(ap);
    ar_desc(h, "%s %s", r->op, desc);
    r->shapes++;
}

/* Compare a guarded output with the (float) reference; the error feeds the run's
 * statistics. */
static void check_output(op_run *r, arena *h, const guarded *g, const float *want, double atol, double rtol) {
    ar_check(h, "y", g, ar_widen(h, want, g ? g->n : 0), atol, rtol, &r->max_err);
}

/* --------------------------------------------------------------- conv2d -- */

typedef struct {
    int N, Cin, H, W, Cout, KH, KW;
    clcnn_conv_params p; /* fully spelled out: no zeros read as 1 */
    int bias, residual, act;
} conv_case;

static void conv_run(op_run *r, const conv_case *c) {
    const clcnn_conv_params *p = &c->p;
    int OH = ref_conv2d_out_size(c->H, c->KH, p->stride_h, p->pad_h, p->dilation_h);
    int OW = ref_conv2d_out_size(c->W, c->KW, p->stride_w, p->pad_w, p->dilation_w);
    int xs[4] = {c->N, c->Cin, c->H, c->W}, ws[4] = {c->Cout, c->Cin / p->groups, c->KH, c->KW};
    int ys[4] = {c->N, c->Cout, OH, OW}, bs[1] = {c->Cout}, shape[4];
    arena h = {0};
    run_case(r, &h, "x%s w%s stride %d,%d pad %d,%d dil %d,%d groups %d%s%s act %s", dims(4, xs).s,
             dims(4, ws).s, p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dilation_h,
             p->dilation_w, p->groups, c->bias ? " bias" : "", c->residual ? " residual" : "",
             act_name(c->act));
    size_t ny = numel(4, ys);
    float ws_scale = 1.0f / sqrtf((float)(ws[1] * c->KH * c->KW)); /* keep outputs O(1) */
    float *x = ar_rand(&h, &r->rng, numel(4, xs), -1, 1);
    float *w = ar_rand(&h, &r->rng, numel(4, ws), -ws_scale, ws_scale);
    float *b = c->bias ? ar_rand(&h, &r->rng, (size_t)c->Cout, -1, 1) : NULL;
    float *res = c->residual ? ar_rand(&h, &r->rng, ny, -1, 1) : NULL;
    float *want = ar_floats(&h, ny);
    clcnn_tensor *tx = ar_tensor(&h, 4, xs, x), *tw = ar_tensor(&h, 4, ws, w);
    clcnn_tensor *tb = b ? ar_tensor(&h, 1, bs, b) : NULL;
    clcnn_tensor *tr = res ? ar_tensor(&h, 4, ys, res) : NULL;
    guarded *y = ar_guarded(&h, 4, ys, NULL, TU_SENTINEL);
    if (h.bad) goto done;
    if (CASE_OK(&h, clcnn_conv2d_output_shape(tx, tw, p, shape)))
        CASE_CHECK(&h, !memcmp(shape, ys, sizeof ys), "output shape %s, want %s", dims(4, shape).s,
                   dims(4, ys).s);
    if (!CASE_OK(&h, clcnn_conv2d(g_ctx, tx, tw, tb, p, tr, c->act, y->t))) goto done;
    ref_conv2d(x, c->N, c->Cin, c->H, c->W, w, c->Cout, c->KH, c->KW, b, p->stride_h, p->stride_w,
               p->pad_h, p->pad_w, p->dilation_h, p->dilation_w, p->groups, res, c->act, want, OH,
               OW);
    check_output(r, &h, y, want, 1e-4, 1e-4);
done:
    ar_free(&h);
}

/* Smallest input extent that still gives one output. */
static int conv_min_in(int k, int pad, int dil) {
    int need = dil * (k - 1) + 1 - 2 * pad;
    return need > 1 ? need : 1;
}

enum { CONV_ANY, CONV_1X1, CONV_GROUPED };

/* A random case of the given kind. */
static conv_case conv_random(test_rng *rng, int kind) {
    conv_case c = {.N = test_rng_int(rng, 1, 3)};
    clcnn_conv_params *p = &c.p;
    int cin_g, cout_g, groups, pick = test_rng_int(rng, 0, 3);
    if (kind == CONV_1X1) {
        groups = 1, cin_g = test_rng_int(rng, 1, 40), cout_g = test_rng_int(rng, 1, 40);
    } else if (kind == CONV_GROUPED ? pick < 2 : pick == 0) { /* depthwise, multiplier 1 or 2 */
        groups = test_rng_int(rng, 2, 19), cin_g = 1, cout_g = test_rng_int(rng, 1, 2);
    } else if (kind == CONV_GROUPED || pick == 1) {
        groups = test_rng_int(rng, 2, 4), cin_g = test_rng_int(rng, 2, 5);
        cout_g = test_rng_int(rng, 1, 4);
    } else {
        groups = 1, cin_g = test_rng_int(rng, 1, 9), cout_g = test_rng_int(rng, 1, 17);
    }
    c.Cin = groups * cin_g, c.Cout = groups * cout_g, p->groups = groups;
    if (kind == CONV_1X1) {
        c.KH = c.KW = 1;
        p->stride_h = p->stride_w = test_rng_int(rng, 1, 2);
        p->dilation_h = p->dilation_w = 1;
    } else {
        c.KH = test_rng_int(rng, 1, 7);
        c.KW = test_rng_int(rng, 0, 1) ? c.KH : test_rng_int(rng, 1, 7);
        p->stride_h = test_rng_int(rng, 1, 3), p->stride_w = test_rng_int(rng, 1, 3);
        p->dilation_h = test_rng_int(rng, 1, 2), p->dilation_w = test_rng_int(rng, 1, 2);
        p->pad_h = test_rng_int(rng, 0, 3), p->pad_w = test_rng_int(rng, 0, 3);
    }
    c.H = conv_min_in(c.KH, p->pad_h, p->dilation_h) + test_rng_int(rng, 0, 12);
    c.W = conv_min_in(c.KW, p->pad_w, p->dilation_w) + test_rng_int(rng, 0, 12);
    c.bias = test_rng_int(rng, 0, 1);
    c.residual = test_rng_int(rng, 0, 2) == 0;
    c.act = test_rng_int(rng, 0, CLCNN_ACT_COUNT - 1);
    return c;
}

/* n random cases of a kind, then the fixed ones. */
static void conv_test(const char *op, int kind, int n, const conv_case *fixed, int nfixed) {
    op_run r = run_begin(op);
    for (int i = 0; i < test_reps(n, 4); i++) {
        conv_case c = conv_random(&r.rng, kind);
        conv_run(&r, &c);
    }
    for (int i = 0; i < nfixed; i++) {
        conv_case c = fixed[i]; /* CLCNN_TEST_SMALL: at most 12x12 (every fixed case still fits) */
        c.H = test_cap(c.H, 12), c.W = test_cap(c.W, 12);
        conv_run(&r, &c);
    }
    run_end(&r);
}

#define CONV_P(s, pd, d, g) {.stride_h = s, .stride_w = s, .pad_h = pd, .pad_w = pd, \
                             .dilation_h = d, .dilation_w = d, .groups = g}

static void test_conv2d(void) {
    static const conv_case fixed[] = {
        /* 17x19 output (not a multiple of any tile), Cout 13 */
        {2, 5, 19, 21, 13, 3, 3, CONV_P(1, 0, 1, 1), 1, 0, CLCNN_ACT_RELU},
        /* a ResNet-like 3x3 with residual, 35x35 output */
        {1, 24, 35, 35, 13, 3, 3, CONV_P(1, 1, 1, 1), 1, 1, CLCNN_ACT_RELU6},
        /* a stem: 7x7 stride 2 pad 3 on RGB */
        {1, 3, 45, 45, 17, 7, 7, CONV_P(2, 3, 1, 1), 0, 0, CLCNN_ACT_NONE},
        /* dilated 3x3 keeping the size */
        {2, 7, 15, 13, 11, 3, 3, CONV_P(1, 2, 2, 1), 1, 0, CLCNN_ACT_SILU},
    };
    conv_test("conv2d", CONV_ANY, 10, fixed, (int)(sizeof fixed / sizeof *fixed));
}

static void test_conv2d_1x1(void) {
    static const conv_case fixed[] = {
        {2, 37, 17, 19, 13, 1, 1, CONV_P(1, 0, 1, 1), 1, 1, CLCNN_ACT_RELU},
        {1, 64, 7, 7, 70, 1, 1, CONV_P(1, 0, 1, 1), 1, 0, CLCNN_ACT_NONE},
        {3, 16, 15, 15, 24, 1, 1, CONV_P(2, 0, 1, 1), 0, 0, CLCNN_ACT_SIGMOID},
    };
    conv_test("conv2d_1x1", CONV_1X1, 8, fixed, (int)(sizeof fixed / sizeof *fixed));
}

static void test_conv2d_grouped(void) {
    static const conv_case fixed[] = {
        /* MobileNet depthwise 3x3 stride 2 */
        {2, 32, 15, 15, 32, 3, 3, CONV_P(2, 1, 1, 32), 1, 0, CLCNN_ACT_RELU6},
        /* EfficientNet depthwise 5x5 */
        {1, 13, 17, 19, 13, 5, 5, CONV_P(1, 2, 1, 13), 1, 1, CLCNN_ACT_SILU},
        /* ResNeXt grouped 3x3 */
        {2, 20, 9, 11, 20, 3, 3, CONV_P(1, 1, 1, 4), 0, 1, CLCNN_ACT_RELU},
    };
    conv_test("conv2d_grouped", CONV_GROUPED, 10, fixed, (int)(sizeof fixed / sizeof *fixed));
}

/* ------------------------------------------------------------ batchnorm -- */

/* Batch-norm statistics for C channels: gamma, beta, mean, var (var > 0). */
static void bn_params(arena *h, test_rng *rng, int C, float *p[4], clcnn_tensor *t[4]) {
    static const float lo[4] = {-2, -1, -1, 0.01f}, hi[4] = {2, 1, 1, 3};
    for (int i = 0; i < 4; i++) {
        p[i] = ar_rand(h, rng, (size_t)C, lo[i], hi[i]);
        t[i] = ar_tensor(h, 1, &C, p[i]);
    }
}

/* w [Cout, ...] folded out of place, or in place (w_out == w). */
static void batchnorm_fold_case(op_run *r, int ndim, const int *ws, int has_bias, int in_place) {
    int Cout = ws[0], per = (int)(numel(ndim, ws) / (size_t)Cout);
    arena h = {0};
    run_case(r, &h, "w%s%s%s", dims(ndim, ws).s, has_bias ? " bias" : "", in_place ? " in place" : "");
    float *p[4], *w = ar_rand(&h, &r->rng, numel(ndim, ws), -1, 1);
    float *b = has_bias ? ar_rand(&h, &r->rng, (size_t)Cout, -1, 1) : NULL;
    clcnn_tensor *t[4];
    bn_params(&h, &r->rng, Cout, p, t);
    float *want_w = ar_floats(&h, numel(ndim, ws)), *want_b = ar_floats(&h, (size_t)Cout);
    clcnn_tensor *tb = b ? ar_tensor(&h, 1, &Cout, b) : NULL;
    guarded *wo = ar_guarded(&h, ndim, ws, in_place ? w : NULL, TU_SENTINEL);
    guarded *bo = ar_guarded(&h, 1, &Cout, NULL, TU_SENTINEL);
    clcnn_tensor *tw = in_place ? (wo ? wo->t : NULL) : ar_tensor(&h, ndim, ws, w);
    if (h.bad) goto done;
    if (!CASE_OK(&h, clcnn_batchnorm_fold(g_ctx, tw, tb, t[0], t[1], t[2], t[3], 1e-5f, wo->t, bo->t)))
        goto done;
    ref_batchnorm_fold(w, b, Cout, per, p[0], p[1], p[2], p[3], 1e-5f, want_w, want_b);
    check_output(r, &h, wo, want_w, 1e-5, 1e-5);
    check_output(r, &h, bo, want_b, 1e-5, 1e-5);
done:
    ar_free(&h);
}

static void test_batchnorm_fold(void) {
    op_run r = run_begin("batchnorm_fold");
    for (int i = 0; i < 8; i++) {
        int ws[4] = {test_rng_int(&r.rng, 1, 37), test_rng_int(&r.rng, 1, 9), 0, 0};
        int ndim = test_rng_int(&r.rng, 0, 2) ? 4 : 2;
        ws[2] = test_rng_int(&r.rng, 1, 7), ws[3] = test_rng_int(&r.rng, 1, 7);
        batchnorm_fold_case(&r, ndim, ws, i % 2, i / 2 % 2);
    }
    batchnorm_fold_case(&r, 4, (const int[]){13, 5, 3, 3}, 0, 1);
    run_end(&r);
}

/* ---------------------------------------------------------- elementwise -- */

/* The activation list (CLCNN_ACTIVATIONS): each code has its name and its fusability,
 * and the first code past the list is refused by every op that takes one. */
static void test_activation_list(void) {
#define CHECK_ACT_(name, code, text, from_output)                                                                   \
    CHECK(!strcmp(clcnn_activation_name(CLCNN_ACT_##name), text) &&                                                \
              clcnn_activation_from_output(CLCNN_ACT_##name) == (from_output),                                      \
          "activation %d: name %s, from_output %d", code, clcnn_activation_name(CLCNN_ACT_##name),                  \
          clcnn_activation_from_output(CLCNN_ACT_##name));
    CLCNN_ACTIVATIONS(CHECK_ACT_)
#undef CHECK_ACT_
    CHECK(!strcmp(clcnn_activation_name(CLCNN_ACT_COUNT), "?") && !clcnn_activation_from_output(CLCNN_ACT_COUNT),
          "code %d past the list has a name or fuses", (int)CLCNN_ACT_COUNT);
    clcnn_tensor *x = NULL, *y = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){4}, &x));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){4}, &y));
    if (x && y) {
        CHECK_STATUS(clcnn_activate(g_ctx, x, CLCNN_ACT_COUNT, y), CLCNN_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(clcnn_add(g_ctx, x, x, CLCNN_ACT_COUNT, y), CLCNN_ERR_INVALID_ARGUMENT);
    }
    clcnn_tensor_destroy(x);
    clcnn_tensor_destroy(y);
}

/* Max pooling's NaN rule (PyTorch's `v > max || isnan(v)`): a window holding a NaN
 * gives NaN, any other its maximum, exactly; kernel 2 takes the loop-free kernel for
 * windows up to 3x3, kernel 3 (stride 2, padding 1) the stem's row kernel (37 columns:
 * two vector blocks and a tail), kernel 4 the general one. */
static void test_maxpool_nan(void) {
    test_rng rng = {g_seed ^ 0x9A11ull};
    static const int kernels[] = {2, 3, 4};
    for (int t = 0; t < 3; t++) {
        const int K = kernels[t], xs[4] = {2, 3, 11, 37};
        const clcnn_pool_params p = {.mode = CLCNN_POOL_MAX, .kernel_h = K, .kernel_w = K, .stride_h = 2,
                                     .stride_w = 2, .pad_h = K / 2, .pad_w = K / 2};
        int ys[4];
        arena a = {0};
        ar_desc(&a, "maxpool NaN x%s kernel %d stride 2 pad %d", dims(4, xs).s, K, K / 2);
        float *x = ar_rand(&a, &rng, numel(4, xs), -3, 3);
        clcnn_tensor *tx = ar_tensor(&a, 4, xs, NULL);
        if (a.bad || !CASE_OK(&a, clcnn_pool2d_output_shape(tx, &p, ys))) goto next;
        for (size_t i = 0; i < numel(4, xs); i++)
            if (test_rng_int(&rng, 0, 9) == 0) x[i] = NAN;
        guarded *y = ar_guarded(&a, 4, ys, NULL, TU_SENTINEL);
        if (a.bad || !CASE_OK(&a, clcnn_tensor_write(tx, x, numel(4, xs))) ||
            !CASE_OK(&a, clcnn_pool2d(g_ctx, tx, &p, y->t)))
            goto next;
        const float *got = ar_read(&a, y);
        for (int q = 0; got && q < xs[0] * xs[1]; q++)
            for (int oy = 0; oy < ys[2]; oy++)
                for (int ox = 0; ox < ys[3]; ox++) {
                    const int y0 = oy * 2 - K / 2, x0 = ox * 2 - K / 2;
                    float m = -INFINITY;
                    int nan = 0;
                    for (int iy = y0 < 0 ? 0 : y0; iy < y0 + K && iy < xs[2]; iy++)
                        for (int ix = x0 < 0 ? 0 : x0; ix < x0 + K && ix < xs[3]; ix++) {
                            const float v = x[(q * xs[2] + iy) * xs[3] + ix];
                            nan |= isnan(v);
                            if (v > m) m = v;
                        }
                    const float g = got[(q * ys[2] + oy) * ys[3] + ox];
                    if (nan ? !isnan(g) : g != m) {
                        CASE_CHECK(&a, 0, "plane %d window (%d, %d): got %g, want %g", q, oy, ox, (double)g,
                                   nan ? (double)NAN : (double)m);
                        goto next;
                    }
                }
    next:
        ar_free(&a);
    }
}

/* --------------------------------------------------------------- linear -- */

/* ------------------------------------------------------- squeeze-excite -- */

/* ----------------------------------------------------------------- gemm -- */

static void gemm_case(op_run *r, clcnn_gemm_backend backend, int ta, int tb, int M, int N, int K,
                      float alpha, float beta) {
    int as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N}, cs[2] = {M, N};
    arena h = {0};
    run_case(r, &h, "%s%s M %d N %d K %d alpha %g beta %g", ta ? "A^T" : "A", tb ? " B^T" : " B", M, N,
             K, alpha, beta);
    float *a = ar_rand(&h, &r->rng, numel(2, as), -1, 1), *b = ar_rand(&h, &r->rng, numel(2, bs), -1, 1);
    float *c = ar_rand(&h, &r->rng, numel(2, cs), -1, 1), *want = ar_floats(&h, numel(2, cs));
    clcnn_tensor *tA = ar_tensor(&h, 2, as, a), *tB = ar_tensor(&h, 2, bs, b);
    guarded *y = ar_guarded(&h, 2, cs, c, TU_SENTINEL);
    if (h.bad) goto done;
    if (!CASE_OK(&h, clcnn_gemm(g_ctx, backend, ta, tb, alpha, tA, tB, beta, y->t))) goto done;
    memcpy(want, c, numel(2, cs) * sizeof *c);
    ref_gemm(ta, tb, M, N, K, alpha, a, b, beta, want);
    check_output(r, &h, y, want, 1e-4, 1e-4);
done:
    ar_free(&h);
}

static void gemm_backend_test(const char *op, clcnn_gemm_backend backend) {
    static const float betas[] = {0.0f, 1.0f, 0.5f, -1.25f};
    op_run r = run_begin(op);
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 2; i++) {
            float alpha = test_rng_int(&r.rng, 0, 1) ? 1.0f : test_rng_uniform(&r.rng, -2, 2);
            gemm_case(&r, backend, t & 1, t >> 1, test_rng_int(&r.rng, 1, 70),
                      test_rng_int(&r.rng, 1, 70), test_rng_int(&r.rng, 1, 70), alpha,
                      betas[test_rng_int(&r.rng, 0, 3) | i]); /* i = 1: beta != 0 */
        }
    gemm_case(&r, backend, 0, 0, 65, 33, 129, 1.0f, 0.5f); /* one past tile multiples */
    gemm_case(&r, backend, 1, 1, test_cap(128, 48), test_cap(128, 64), test_cap(128, 48), -0.75f, 1.0f); /* whole tiles */
    gemm_case(&r, backend, 0, 1, 1, 1, 1, 2.0f, 0.0f);
    run_end(&r);
}

static void test_gemm(void) {
    gemm_backend_test("gemm (own)", CLCNN_GEMM_OWN);
    gemm_backend_test("gemm (auto)", CLCNN_GEMM_AUTO);
    if (clcnn_have_clblast()) {
        if (!test_small()) gemm_backend_test("gemm (clblast)", CLCNN_GEMM_CLBLAST); /* CLBlast's own kernels */
        return;
    }
    /* without CLBlast the backend must say so rather than fall back silently */
    op_run r = run_begin("gemm (clblast)");
    arena h = {0};
    run_case(&r, &h, "1x1x1 without CLBlast");
    float one = 1.0f;
    int s[2] = {1, 1};
    clcnn_tensor *a = ar_tensor(&h, 2, s, &one);
    guarded *c = ar_guarded(&h, 2, s, &one, TU_SENTINEL);
    if (!h.bad)
        CHECK_STATUS(clcnn_gemm(g_ctx, CLCNN_GEMM_CLBLAST, 0, 0, 1.0f, a, a, 0.0f, c->t),
                     CLCNN_ERR_UNSUPPORTED);
    ar_free(&h);
}

/* ---------------------------------------------------------- shape errors -- */

/* Ops given shapes that do not fit must say CLCNN_ERR_SHAPE and write nothing. */
static void test_op_shape_errors(void) {
    op_run r = run_begin("op_shape_errors");
    arena h = {0};
    run_case(&r, &h, "conv2d, add, linear, gemm with mismatched shapes");
    int xs[4] = {1, 3, 5, 5}, ws[4] = {4, 3, 3, 3}, bad_ys[4] = {1, 4, 5, 5};
    int a_s[2] = {2, 3}, b_s[2] = {3, 2}, lin_w[2] = {4, 5};
    float *data = ar_rand(&h, &r.rng, 128, -1, 1), *untouched = ar_floats(&h, 128);
    clcnn_tensor *x = ar_tensor(&h, 4, xs, data), *w = ar_tensor(&h, 4, ws, data);
    clcnn_tensor *a = ar_tensor(&h, 2, a_s, data), *b = ar_tensor(&h, 2, b_s, data);
    clcnn_tensor *lw = ar_tensor(&h, 2, lin_w, data);
    guarded *y4 = ar_guarded(&h, 4, bad_ys, NULL, TU_SENTINEL), *y2 = ar_guarded(&h, 2, a_s, NULL, TU_SENTINEL);
    if (h.bad) goto done;
    for (int i = 0; i < 128; i++) untouched[i] = TU_SENTINEL;
    clcnn_conv_params p = {.stride_h = 1, .stride_w = 1}; /* no padding: 3x3 output, not 5x5 */
    CHECK_STATUS(clcnn_conv2d(g_ctx, x, w, NULL, &p, NULL, CLCNN_ACT_NONE, y4->t), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_add(g_ctx, a, b, CLCNN_ACT_NONE, y2->t), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear(g_ctx, a, lw, NULL, CLCNN_ACT_NONE, y2->t), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_gemm(g_ctx, CLCNN_GEMM_AUTO, 0, 0, 1.0f, a, a, 0.0f, y2->t), CLCNN_ERR_SHAPE);
    check_output(&r, &h, y4, untouched, 0, 0);
    check_output(&r, &h, y2, untouched, 0, 0);
done:
    ar_free(&h);
}

const test_case test_ops_cases[] = {
    {"conv2d", test_conv2d},
    {"conv2d_1x1", test_conv2d_1x1},
    {"conv2d_grouped", test_conv2d_grouped},
    {"batchnorm_fold", test_batchnorm_fold},
    {"activation_list", test_activation_list},
    {"maxpool_nan", test_maxpool_nan},
    {"gemm", test_gemm},
    {"op_shape_errors", test_op_shape_errors},
    {NULL, NULL},
};
