/* test_ops.c: the forward ops not yet in the table-driven harness (test_op_table.c,
 * where the activations, add, pooling, global average pooling, resize, linear,
 * squeeze-excitation, softmax, concat, inference dropout, batch norm, convolution
 * and GEMM are): the batch-norm fold against its CPU reference (tests/ref) on random and
 * a few fixed shapes; and the harness's ops' special values (max pooling's NaN rule),
 * the GEMM's CLBlast backend with and without CLBlast, and shape errors.
 *
 * Each test draws its shapes from a stream seeded with g_seed ^ hash(test name),
 * so a printed seed reproduces a failure. Every device output lives inside a
 * bigger raw cl_mem with TU_GUARD sentinel floats on both sides, which must survive
 * the op untouched. Checks are mixed: |got - want| <= atol + rtol * |want|.
 *
 * Tolerances (float32 device arithmetic against a double reference):
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

/* The GEMM's backends on random shapes: test_op_table.c's op_gemm. The CLBlast backend
 * computes a 1 x 1 x 1 product where the library has CLBlast, and says it lacks it
 * (CLCNN_ERR_UNSUPPORTED) rather than fall back silently where not. */
static void test_gemm_clblast_backend(void) {
    op_run r = run_begin("gemm (clblast)");
    arena h = {0};
    run_case(&r, &h, "1x1x1 %s CLBlast", clcnn_have_clblast() ? "with" : "without");
    float one = 1.0f, two = 2.0f;
    int s[2] = {1, 1};
    clcnn_tensor *a = ar_tensor(&h, 2, s, &one);
    guarded *c = ar_guarded(&h, 2, s, &one, TU_SENTINEL);
    if (!h.bad && !clcnn_have_clblast())
        CHECK_STATUS(clcnn_gemm(g_ctx, CLCNN_GEMM_CLBLAST, 0, 0, 1.0f, a, a, 0.0f, c->t), CLCNN_ERR_UNSUPPORTED);
    if (!h.bad && clcnn_have_clblast() && CASE_OK(&h, clcnn_gemm(g_ctx, CLCNN_GEMM_CLBLAST, 0, 0, 2.0f, a, a, 0.0f, c->t)))
        check_output(&r, &h, c, &two, 0, 0);
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
    {"batchnorm_fold", test_batchnorm_fold},
    {"activation_list", test_activation_list},
    {"maxpool_nan", test_maxpool_nan},
    {"gemm_clblast_backend", test_gemm_clblast_backend},
    {"op_shape_errors", test_op_shape_errors},
    {NULL, NULL},
};
