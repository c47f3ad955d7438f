/* test_grad_eltwise.c: the backward special cases of the activations, pooling, global
 * average pooling and resize (their random shapes run through the table-driven harness,
 * test_op_table.c), and the backward of training dropout, stochastic depth and concat.
 *
 * Gradients are checked against central finite differences (step 1e-3) of the
 * double-precision forwards in tests/ref/ref_grad_eltwise.c, with L = sum r*y for a
 * random r (so dy = r), or against PyTorch's rules where FD has no answer (max
 * pooling's ties and NaNs, the activations' kinks). Every backward runs twice: once
 * overwriting a dx pre-filled with NaN (which must not be read), once accumulating onto
 * known values (which must give old + grad).
 *
 * Tolerances, |got - want| <= atol + rtol |want|:
 *   activation kinks   1e-7 absolute: one product by 1 or a constant;
 *   pooling            atol 1e-5, rtol 1e-4 (1e-5 against PyTorch's rule): the ops are
 *                      linear where differentiable, so FD is exact to double rounding;
 *                      the device sums at most a few dozen float terms of size <= 1;
 *   resize adjoint     1e-5 of the sum of |terms|;
 *   dropout            exact mask, kept values within 1 ulp of x / (1 - p).
 *   concat             exact (slice copies; FD of a linear op is exact too).
 *   stochastic depth   dropout's mask per sample, kept samples within 1 ulp of x / (1 - p);
 *                      the backward applies the same mask (the op is linear: FD is that).
 */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "ref/gradcheck.h"
#include "ref/ref.h"
#include "ref/ref_grad_eltwise.h"
#include "testutil.h"

/* -------------------------------------------------------------- helpers -- */

/* The backward under test, writing into dx. */
typedef clcnn_status (*backward_call)(const void *op, clcnn_tensor *dx, int accumulate);

/* Run call into a guarded dx full of NaN (accumulate = 0) and into one holding known
 * values (accumulate = 1), and compare with want and old + want. */
static void check_backward(arena *a, backward_call call, const void *op, int ndim, const int *shape,
                           const double *want, double atol, double rtol, test_rng *rng) {
    const size_t n = numel(ndim, shape);
    float *old = ar_rand(a, rng, n, -2.0f, 2.0f);
    double *want_acc = ar_doubles(a, n);
    guarded *dx = ar_guarded(a, ndim, shape, NULL, NAN), *dx_acc = ar_guarded(a, ndim, shape, old, NAN);
    if (a->bad || !CASE_OK(a, call(op, dx->t, 0))) return;
    ar_check(a, "dx", dx, want, atol, rtol, NULL);
    for (size_t i = 0; i < n; i++) want_acc[i] = (double)old[i] + want[i];
    if (CASE_OK(a, call(op, dx_acc->t, 1))) ar_check(a, "dx (accumulated)", dx_acc, want_acc, atol, rtol, NULL);
}

/* FD gradient of sum r * f(x) at the float values x. */
static double *fd_of(arena *a, fd_forward f, void *user, const float *x, size_t n_in, const float *r, size_t n_out) {
    return ar_fd(a, f, user, ar_widen(a, x, n_in), n_in, ar_widen(a, r, n_out), n_out);
}

/* ---------------------------------------------------------- activations -- */

/* ReLU's gradient at exactly 0 is 0, ReLU6's at 0 and 6 too (PyTorch: y > 0, 0 < y < 6);
 * hardswish's at -3 and 3 is the middle piece's, x / 3 + 1/2, and hardsigmoid's 0
 * (PyTorch: -3 < x < 3). */
static void activate_kinks(void) {
    enum { K = 8, ACTS = 4 };
    const float x[K] = {0.0f, -0.0f, 6.0f, 1.0f, -1.0f, 5.5f, 6.5f, 3.0f};
    const float hx[K] = {-3.0f, 3.0f, -3.5f, 3.5f, 0.0f, -1.5f, 2.9f, -2.9f};
    const int acts[ACTS] = {CLCNN_ACT_RELU, CLCNN_ACT_RELU6, CLCNN_ACT_HARDSWISH, CLCNN_ACT_HARDSIGMOID};
    const float want[ACTS][K] = {{0, 0, 1, 1, 0, 1, 1, 1},
                                 {0, 0, 0, 1, 0, 1, 0, 1},
                                 {-0.5f, 1.5f, 0, 1, 0.5f, 0, 2.9f / 3.0f + 0.5f, -2.9f / 3.0f + 0.5f},
                                 {0, 0, 0, 0, 1.0f / 6, 1.0f / 6, 1.0f / 6, 1.0f / 6}};
    const int shape[1] = {K};
    const float dy[K] = {1, 1, 1, 1, 1, 1, 1, 1};
    arena a = {0};
    ar_desc(&a, "activate_backward kinks");
    clcnn_tensor *tx = ar_tensor(&a, 1, shape, x), *thx = ar_tensor(&a, 1, shape, hx), *tdy = ar_tensor(&a, 1, shape, dy);
    clcnn_tensor *ty = ar_tensor(&a, 1, shape, NULL);
    guarded *tdx = ar_guarded(&a, 1, shape, NULL, NAN);
    for (int k = 0; !a.bad && k < ACTS; k++) {
        const int act = acts[k], hard = k >= 2;
        const float *in = hard ? hx : x;
        clcnn_tensor *tin = hard ? thx : tx;
        CHECK_OK(clcnn_activate(g_ctx, tin, act, ty));
        for (int from_x = 0; from_x < 2; from_x++) {
            if (!from_x && !clcnn_activation_from_output((clcnn_activation)act)) continue;
            CHECK_OK(clcnn_activate_backward(g_ctx, from_x ? tin : NULL, from_x ? NULL : ty, act, tdy, tdx->t, 0));
            const float *got = ar_read(&a, tdx);
            for (int i = 0; got && i < K; i++)
                CHECK(fabsf(got[i] - want[k][i]) <= 1e-7f, "%s'(%g) from %s: got %g, want %g", act_name(act), in[i],
                      from_x ? "x" : "y", got[i], want[k][i]);
        }
    }
    ar_free(&a);
}

static void activate_errors(void) {
    const int shape[2] = {3, 5}, other[2] = {5, 3};
    arena ar = {0};
    ar_desc(&ar, "activate_backward errors");
    clcnn_tensor *a = ar_tensor(&ar, 2, shape, NULL), *b = ar_tensor(&ar, 2, shape, NULL);
    clcnn_tensor *c = ar_tensor(&ar, 2, other, NULL);
    if (!ar.bad) {
        CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, a, CLCNN_ACT_RELU, a, c, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, c, CLCNN_ACT_RELU, a, b, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_activate_backward(g_ctx, c, NULL, CLCNN_ACT_SILU, a, b, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, a, CLCNN_ACT_SILU, a, b, 0), CLCNN_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, NULL, CLCNN_ACT_TANH, a, b, 0), CLCNN_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, a, (clcnn_activation)9, a, b, 0),
                     CLCNN_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(clcnn_activate_backward(NULL, NULL, a, CLCNN_ACT_RELU, a, b, 0), CLCNN_ERR_INVALID_ARGUMENT);
    }
    ar_free(&ar);
}

/* The activations' backward on random inputs: test_op_table.c's op_activate. */
static void test_activate_backward_kinks(void) {
    activate_kinks();
    activate_errors();
}

/* -------------------------------------------------------------- pooling -- */

typedef struct {
    const clcnn_tensor *x, *dy;
    clcnn_pool_params p;
} pool_op;

static clcnn_status pool_call(const void *p, clcnn_tensor *dx, int accumulate) {
    const pool_op *o = p;
    return clcnn_pool2d_backward(g_ctx, o->x, &o->p, o->dy, dx, accumulate);
}

/* A pooling problem: x [N, C, H, W] -> [N, C, OH, OW] with params p (strides resolved). */
typedef struct {
    int N, C, H, W, OH, OW;
    clcnn_pool_params p;
    char desc[192];
} pool_case;

static void pool_forward(const double *in, double *out, void *user) {
    const pool_case *c = user;
    ref_grad_pool2d(in, c->N * c->C, c->H, c->W, c->p.mode, c->p.kernel_h, c->p.kernel_w, c->p.stride_h,
                    c->p.stride_w, c->p.pad_h, c->p.pad_w, c->p.count_include_pad, out, c->OH, c->OW);
}

/* Random valid geometry for mode (an output of at least one pixel). */
static pool_case pool_draw(test_rng *rng, clcnn_pool_mode mode) {
    pool_case c;
    do {
        c.p = (clcnn_pool_params){.mode = mode,
                                  .kernel_h = test_rng_int(rng, 1, 4),
                                  .kernel_w = test_rng_int(rng, 1, 4),
                                  .ceil_mode = test_rng_int(rng, 0, 1),
                                  .count_include_pad = test_rng_int(rng, 0, 1)};
        c.p.stride_h = test_rng_int(rng, 1, 3);
        c.p.stride_w = test_rng_int(rng, 1, 3);
        c.p.pad_h = test_rng_int(rng, 0, c.p.kernel_h / 2);
        c.p.pad_w = test_rng_int(rng, 0, c.p.kernel_w / 2);
        c.N = test_rng_int(rng, 1, 2);
        c.C = test_rng_int(rng, 1, 3);
        c.H = test_rng_int(rng, 1, 11);
        c.W = test_rng_int(rng, 1, 11);
    } while (c.H + 2 * c.p.pad_h < c.p.kernel_h || c.W + 2 * c.p.pad_w < c.p.kernel_w);
    c.OH = ref_pool_out_size(c.H, c.p.kernel_h, c.p.stride_h, c.p.pad_h, c.p.ceil_mode);
    c.OW = ref_pool_out_size(c.W, c.p.kernel_w, c.p.stride_w, c.p.pad_w, c.p.ceil_mode);
    snprintf(c.desc, sizeof c.desc,
             "pool2d_backward %s x [%d, %d, %d, %d] -> [%d, %d], kernel %dx%d stride %dx%d pad %dx%d ceil %d "
             "count_include_pad %d",
             mode == CLCNN_POOL_MAX ? "max" : "avg", c.N, c.C, c.H, c.W, c.OH, c.OW, c.p.kernel_h, c.p.kernel_w,
             c.p.stride_h, c.p.stride_w, c.p.pad_h, c.p.pad_w, c.p.ceil_mode, c.p.count_include_pad);
    return c;
}

/* Distinct inputs, 0.05 apart in a random order: no ties, FD never moves an argmax. */
static void distinct_values(test_rng *rng, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * (float)i - 0.025f * (float)n;
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)test_rng_int(rng, 0, (int)i - 1);
        const float t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

static void pool_errors(void) {
    const int xs[4] = {2, 3, 6, 6}, ys[4] = {2, 3, 3, 3}, bad[4] = {2, 3, 3, 2};
    const clcnn_pool_params p = {.mode = CLCNN_POOL_MAX, .kernel_h = 2, .kernel_w = 2};
    arena a = {0};
    ar_desc(&a, "pool2d_backward errors");
    clcnn_tensor *x = ar_tensor(&a, 4, xs, NULL), *dx = ar_tensor(&a, 4, xs, NULL);
    clcnn_tensor *dy = ar_tensor(&a, 4, ys, NULL), *dyb = ar_tensor(&a, 4, bad, NULL);
    if (a.bad) goto done;
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, x, &p, dyb, dx, 0), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, dy, &p, dy, dx, 0), CLCNN_ERR_SHAPE); /* x shaped as dy */
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, NULL, &p, dy, dx, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, x, NULL, dy, dx, 0), CLCNN_ERR_INVALID_ARGUMENT);
    const clcnn_pool_params avg = {.mode = CLCNN_POOL_AVG, .kernel_h = 2, .kernel_w = 2};
    CHECK_OK(clcnn_pool2d_backward(g_ctx, NULL, &avg, dy, dx, 0));
done:
    ar_free(&a);
}

/* Pooling's backward on random shapes: test_op_table.c's op_pool2d_max and _avg. */
static void test_pool2d_backward_errors(void) { pool_errors(); }

/* Inputs full of ties (small integers, plus one constant plane): each window's dy
 * must go to its first maximum in row-major order, as PyTorch. */
static void test_pool2d_backward_max_ties(void) {
    test_rng rng = {g_seed ^ 0x71E5ull};
    for (int rep = 0; rep < 8; rep++) {
        pool_case c = pool_draw(&rng, CLCNN_POOL_MAX);
        const int xs[4] = {c.N, c.C, c.H, c.W}, ys[4] = {c.N, c.C, c.OH, c.OW};
        const size_t nx = numel(4, xs), ny = numel(4, ys), plane = (size_t)c.H * c.W;
        arena a = {0};
        ar_desc(&a, "%s (ties)", c.desc);
        float *x = ar_rand(&a, &rng, nx, 0, 0), *r = ar_rand(&a, &rng, ny, -1.0f, 1.0f); /* x: drawn, replaced */
        double *want = ar_doubles(&a, nx);
        if (a.bad) goto next;
        for (size_t i = 0; i < nx; i++) x[i] = i < plane ? 1.0f : (float)test_rng_int(&rng, 0, 2);
        const double *xd = ar_widen(&a, x, nx), *rd = ar_widen(&a, r, ny);
        if (a.bad) goto next;
        ref_grad_max_pool_backward(xd, rd, c.N * c.C, c.H, c.W, c.OH, c.OW, c.p.kernel_h, c.p.kernel_w, c.p.stride_h,
                                   c.p.stride_w, c.p.pad_h, c.p.pad_w, want);
        clcnn_tensor *tx = ar_tensor(&a, 4, xs, x), *tr = ar_tensor(&a, 4, ys, r);
        if (a.bad) goto next;
        const pool_op op = {tx, tr, c.p};
        check_backward(&a, pool_call, &op, 4, xs, want, 1e-5, 1e-5, &rng);
    next:
        ar_free(&a);
    }
}

/* Max pooling backward with kernel K, stride 2 and padding K/2 on x [xs] against
 * ref_grad_max_pool_backward (PyTorch's rule, NaN included): NaNs at random places
 * when nan_rate > 0; with ties, values drawn from {0, 1, 2} and the first plane all
 * -infinity (every window a tie, none above the starting maximum), else values from
 * [-2, 2]. */
static void max_pool_s2_case(test_rng *rng, const int xs[4], int K, int nan_rate, int ties) {
    const clcnn_pool_params p = {.mode = CLCNN_POOL_MAX, .kernel_h = K, .kernel_w = K, .stride_h = 2,
                                 .stride_w = 2, .pad_h = K / 2, .pad_w = K / 2};
    const int ys[4] = {xs[0], xs[1], ref_pool_out_size(xs[2], K, 2, K / 2, 0), ref_pool_out_size(xs[3], K, 2, K / 2, 0)};
    const size_t nx = numel(4, xs), ny = numel(4, ys);
    arena a = {0};
    ar_desc(&a, "pool2d_backward max x %s kernel %d stride 2 pad %d%s%s", dims(4, xs).s, K, K / 2,
            nan_rate ? ", NaNs" : "", ties ? ", ties" : "");
    float *x = ar_rand(&a, rng, nx, -2.0f, 2.0f), *r = ar_rand(&a, rng, ny, -1.0f, 1.0f);
    double *want = ar_doubles(&a, nx);
    if (a.bad) goto done;
    for (size_t i = 0; i < nx; i++) {
        if (ties) x[i] = i < (size_t)xs[2] * xs[3] ? -INFINITY : (float)test_rng_int(rng, 0, 2);
        if (nan_rate && test_rng_int(rng, 0, nan_rate - 1) == 0) x[i] = NAN;
    }
    const double *xd = ar_widen(&a, x, nx), *rd = ar_widen(&a, r, ny);
    if (a.bad) goto done;
    ref_grad_max_pool_backward(xd, rd, xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3], K, K, 2, 2, K / 2, K / 2, want);
    clcnn_tensor *tx = ar_tensor(&a, 4, xs, x), *tr = ar_tensor(&a, 4, ys, r);
    if (a.bad) goto done;
    const pool_op op = {tx, tr, p};
    check_backward(&a, pool_call, &op, 4, xs, want, 1e-5, 1e-5, rng);
done:
    ar_free(&a);
}

/* Inputs with NaNs: kernel 3 with stride 2 (the scatter's two phases; with padding 1
 * the stem pool's own kernel, its vector blocks from 16 columns) and kernel 2 (one). */
static void test_pool2d_backward_max_nan(void) {
    test_rng rng = {g_seed ^ 0x9A12ull};
    for (int K = 2; K <= 3; K++) max_pool_s2_case(&rng, (const int[4]){2, 2, 9, 10}, K, 8, 0);
    max_pool_s2_case(&rng, (const int[4]){1, 2, 7, 37}, 3, 8, 0);
}

/* The stem pool (3x3, stride 2, padding 1) has a kernel of its own (pool2d_max3s2_backward:
 * blocks of 8 windows, then single ones): against finite differences on distinct values,
 * and against PyTorch's rule on ties, over sizes around the block edges (16 columns per
 * block, odd and even sides, a single pixel). */
static void test_pool2d_backward_stem(void) {
    test_rng rng = {g_seed ^ 0x57E3ull};
    static const int sizes[][4] = {{1, 1, 1, 1}, {1, 2, 2, 17}, {2, 1, 5, 16}, {1, 2, 8, 33}, {1, 1, 9, 48}, {2, 2, 12, 50}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const int *xs = sizes[i];
        pool_case c = {.p = {.mode = CLCNN_POOL_MAX, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                             .pad_h = 1, .pad_w = 1},
                       .N = xs[0], .C = xs[1], .H = xs[2], .W = xs[3]};
        c.OH = ref_pool_out_size(c.H, 3, 2, 1, 0);
        c.OW = ref_pool_out_size(c.W, 3, 2, 1, 0);
        const int ys[4] = {c.N, c.C, c.OH, c.OW};
        const size_t nx = numel(4, xs), ny = numel(4, ys);
        arena a = {0};
        ar_desc(&a, "pool2d_backward stem pool x %s vs finite differences", dims(4, xs).s);
        float *x = ar_rand(&a, &rng, nx, -2.0f, 2.0f), *r = ar_rand(&a, &rng, ny, -1.0f, 1.0f);
        if (!a.bad) {
            distinct_values(&rng, x, nx);
            const double *want = fd_of(&a, pool_forward, &c, x, nx, r, ny);
            const pool_op op = {ar_tensor(&a, 4, xs, x), ar_tensor(&a, 4, ys, r), c.p};
            if (!a.bad) check_backward(&a, pool_call, &op, 4, xs, want, 1e-5, 1e-4, &rng);
        }
        ar_free(&a);
        max_pool_s2_case(&rng, xs, 3, 0, 1);
        max_pool_s2_case(&rng, xs, 3, 10, 1);
    }
}

/* --------------------------------------------------- global avg pooling -- */

/* Global average pooling's backward on random shapes: test_op_table.c's
 * op_global_avg_pool. dy must be [N, C] or [N, C, 1, 1] for dx [N, C, H, W]. */
static void test_global_avg_pool_backward_errors(void) {
    const int xs[4] = {2, 3, 4, 5}, wrong[2] = {2, 4}, wrong4[4] = {2, 3, 2, 1}, flat[3] = {2, 3, 20};
    arena a = {0};
    ar_desc(&a, "global_avg_pool_backward errors");
    clcnn_tensor *dx = ar_tensor(&a, 4, xs, NULL), *dy = ar_tensor(&a, 2, wrong, NULL);
    clcnn_tensor *dy4 = ar_tensor(&a, 4, wrong4, NULL), *dx3 = ar_tensor(&a, 3, flat, NULL);
    if (!a.bad) {
        CHECK_STATUS(clcnn_global_avg_pool_backward(g_ctx, dy, dx, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_global_avg_pool_backward(g_ctx, dy4, dx, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_global_avg_pool_backward(g_ctx, dy, dx3, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_global_avg_pool_backward(NULL, dy, dx, 0), CLCNN_ERR_INVALID_ARGUMENT);
    }
    ar_free(&a);
}

/* -------------------------------------------------------------- dropout -- */

/* The mask as documented in cl/eltwise.cl (splitmix64 of the mixed seed and the
 * element index, top 32 bits against p * 2^32): recomputing it here pins the claim
 * that the mask is the same on every device. */
static int host_keep(uint64_t seed, float p, size_t i) {
    uint64_t state = seed;
    const uint64_t key = rt_splitmix64(&state);
    return (uint32_t)(rt_splitmix64_at(key, i) >> 32) >= (uint32_t)((double)p * 4294967296.0);
}

/* y = dropout(x) on the device, read back (NULL on failure, reported). */
static const float *run_dropout(arena *a, const clcnn_tensor *tx, float p, uint64_t seed, const guarded *ty) {
    return CASE_OK(a, clcnn_dropout(g_ctx, tx, p, seed, ty->t)) ? ar_read(a, ty) : NULL;
}

/* Forward over a big odd-sized tensor for several p: the dropped fraction is p within
 * 6 standard deviations, kept values are x / (1 - p), the mask is the documented
 * function of (seed, index), the same seed repeats it, another seed changes it. */
static void test_dropout_train(void) {
    test_rng rng = {g_seed ^ 0xD20Bull};
    enum { N = 1 << 17 };
    const int shape[2] = {test_cap(N / 64 + 1, 65), 63}; /* odd, not a multiple of any work-group size */
    const size_t n = numel(2, shape);
    const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
    arena a = {0};
    ar_desc(&a, "dropout");
    const float *x = ar_rand(&a, &rng, n, 0.5f, 2.0f), *y, *y2;
    guarded *tx = ar_guarded(&a, 2, shape, x, NAN), *ty = ar_guarded(&a, 2, shape, NULL, NAN);
    if (a.bad) goto done;
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        const float p = ps[k];
        const uint64_t seed = test_rng_next(&rng);
        ar_desc(&a, "dropout p %g seed %llu", (double)p, (unsigned long long)seed);
        if (!(y = run_dropout(&a, tx->t, p, seed, ty))) continue;
        const float scale = (float)(1.0 / (1.0 - (double)p));
        size_t dropped = 0, wrong_value = 0, wrong_mask = 0;
        for (size_t i = 0; i < n; i++) {
            const int kept = y[i] != 0.0f;
            dropped += !kept;
            wrong_mask += kept != host_keep(seed, p, i);
            if (kept && fabsf(y[i] - x[i] * scale) > 1.2e-7f * fabsf(x[i] * scale)) wrong_value++;
        }
        const double frac = (double)dropped / (double)n, sd = sqrt((double)p * (1 - p) / (double)n);
        CHECK(fabs(frac - p) <= 6 * sd + 1e-9, "dropout p %g: dropped fraction %.5f of %zu", (double)p, frac, n);
        CHECK(wrong_value == 0, "dropout p %g: %zu kept values are not x / (1 - p)", (double)p, wrong_value);
        CHECK(wrong_mask == 0, "dropout p %g seed %llu: %zu mask bits differ from splitmix64", (double)p,
              (unsigned long long)seed, wrong_mask);
        if (p == 0.0f) CHECK(!memcmp(x, y, n * sizeof *x), "dropout p 0 is not the identity");
        if (p == 0.0f || !(y2 = run_dropout(&a, tx->t, p, seed, ty))) continue;
        CHECK(!memcmp(y, y2, n * sizeof *y), "dropout p %g: the same seed gave another mask", (double)p);
        if (!(y2 = run_dropout(&a, tx->t, p, seed + 1, ty))) continue;
        size_t differ = 0;
        for (size_t i = 0; i < n; i++) differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
        /* independent masks differ in 2 p (1 - p) of the places */
        CHECK((double)differ > 0.9 * 2 * p * (1 - p) * (double)n, "dropout p %g: seeds %llu and +1 differ in only %zu places",
              (double)p, (unsigned long long)seed, differ);
    }
    /* in place: y = x */
    const uint64_t seed = 42;
    ar_desc(&a, "dropout in place");
    if ((y = run_dropout(&a, tx->t, 0.5f, seed, ty))) {
        CHECK_OK(clcnn_dropout(g_ctx, tx->t, 0.5f, seed, tx->t));
        if ((y2 = ar_read(&a, tx))) CHECK(!memcmp(y, y2, n * sizeof *y), "dropout in place differs from out of place");
    }
    CHECK_STATUS(clcnn_dropout(g_ctx, tx->t, -0.1f, seed, ty->t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dropout(g_ctx, tx->t, 1.0f, seed, ty->t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dropout(g_ctx, tx->t, NAN, seed, ty->t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dropout(NULL, tx->t, 0.5f, seed, ty->t), CLCNN_ERR_INVALID_ARGUMENT);
done:
    ar_free(&a);
}

typedef struct {
    const clcnn_tensor *dy;
    float p;
    uint64_t seed;
} dropout_op;

static clcnn_status dropout_call(const void *p, clcnn_tensor *dx, int accumulate) {
    const dropout_op *o = p;
    return clcnn_dropout_backward(g_ctx, o->dy, o->p, o->seed, dx, accumulate);
}

/* y = x * m (m read off the device's forward) in double, for FD. */
typedef struct {
    const float *m;
    size_t n;
} dropout_fd;

static void dropout_forward(const double *in, double *out, void *user) {
    const dropout_fd *d = user;
    for (size_t i = 0; i < d->n; i++) out[i] = in[i] * d->m[i];
}

/* The backward uses the forward's mask: the forward of ones gives m = keep / (1 - p),
 * and the FD gradient of x * m must match (FD here is exact: the op is linear). */
static void test_dropout_backward(void) {
    test_rng rng = {g_seed ^ 0xD20Cull};
    for (int rep = 0; rep < 4; rep++) {
        const int shape[3] = {test_rng_int(&rng, 1, 3), test_rng_int(&rng, 1, 9), test_rng_int(&rng, 1, 37)};
        const size_t n = numel(3, shape);
        const float p = rep == 0 ? 0.0f : test_rng_uniform(&rng, 0.05f, 0.8f);
        const uint64_t seed = test_rng_next(&rng);
        arena a = {0};
        ar_desc(&a, "dropout_backward p %g seed %llu %s", (double)p, (unsigned long long)seed, dims(3, shape).s);
        float *ones = ar_rand(&a, &rng, n, 1.0f, 1.0f), *x = ar_rand(&a, &rng, n, -1.0f, 1.0f);
        float *r = ar_rand(&a, &rng, n, -1.0f, 1.0f);
        clcnn_tensor *tones = ar_tensor(&a, 3, shape, ones), *tr = ar_tensor(&a, 3, shape, r);
        guarded *tm = ar_guarded(&a, 3, shape, NULL, NAN);
        const float *m = a.bad ? NULL : run_dropout(&a, tones, p, seed, tm);
        dropout_fd fd = {m, n};
        const double *want = m ? fd_of(&a, dropout_forward, &fd, x, n, r, n) : NULL;
        const dropout_op op = {tr, p, seed};
        if (want) check_backward(&a, dropout_call, &op, 3, shape, want, 1e-6, 1e-6, &rng);
        ar_free(&a);
    }
    const int s[2] = {4, 5}, t[2] = {5, 4};
    arena a = {0};
    ar_desc(&a, "dropout_backward errors");
    clcnn_tensor *ta = ar_tensor(&a, 2, s, NULL), *tb = ar_tensor(&a, 2, t, NULL);
    if (!a.bad) {
        CHECK_STATUS(clcnn_dropout_backward(g_ctx, ta, 0.5f, 1, tb, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_dropout_backward(g_ctx, ta, 1.5f, 1, ta, 0), CLCNN_ERR_INVALID_ARGUMENT);
    }
    ar_free(&a);
}

/* --------------------------------------------------------------- concat -- */

/* Concat's forward and backward on random ranks and splits: test_op_table.c's op_concat.
 * Here its errors, which name the shapes. */
static void test_concat_errors(void) {
    const int as[4] = {2, 3, 4, 5}, bs[4] = {2, 2, 4, 5}, ys[4] = {2, 5, 4, 5};
    arena a = {0};
    ar_desc(&a, "concat errors");
    clcnn_tensor *ta = ar_tensor(&a, 4, as, NULL), *tb = ar_tensor(&a, 4, bs, NULL), *tr = ar_tensor(&a, 4, ys, NULL);
    if (!a.bad) {
        CHECK_STATUS(clcnn_concat(g_ctx, ta, tb, tr), CLCNN_OK);
        CHECK_STATUS(clcnn_concat(g_ctx, ta, ta, tr), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_concat(g_ctx, ta, tb, ta), CLCNN_ERR_SHAPE);
        CHECK(strstr(clcnn_last_error(g_ctx), "do not join along channels"), "%s", clcnn_last_error(g_ctx));
        CHECK_STATUS(clcnn_concat_backward(g_ctx, tr, NULL, 0, NULL, 0), CLCNN_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(clcnn_concat_backward(g_ctx, ta, tr, 0, NULL, 0), CLCNN_ERR_SHAPE);
    }
    ar_free(&a);
}

/* ------------------------------------------------------ stochastic depth -- */

/* Forward over many samples of odd size for several p: every sample is kept whole
 * (x / (1 - p), within an ulp) or dropped whole, as the documented mask of its sample
 * index (host_keep with the sample as index) says; the dropped fraction is p within 6
 * standard deviations; the backward with the same seed applies the same mask, adding
 * when asked; p 0 is the identity; errors. */
static void test_stochastic_depth(void) {
    test_rng rng = {g_seed ^ 0x5D5Dull};
    const int samples = test_cap(3001, 301); /* 301 on a checking device */
    const int shape[4] = {samples, 3, 2, 5};
    const size_t n = numel(4, shape), per = n / (size_t)samples;
    const float ps[] = {0.0f, 0.2f, 0.5f};
    arena a = {0};
    ar_desc(&a, "stochastic_depth");
    const float *x = ar_rand(&a, &rng, n, 0.5f, 2.0f), *dy0 = ar_rand(&a, &rng, n, -1.0f, 1.0f);
    guarded *tx = ar_guarded(&a, 4, shape, x, NAN), *ty = ar_guarded(&a, 4, shape, NULL, NAN);
    guarded *tdx = ar_guarded(&a, 4, shape, dy0, NAN);
    if (a.bad) goto done;
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        const float p = ps[k], scale = (float)(1.0 / (1.0 - (double)p));
        const uint64_t seed = test_rng_next(&rng);
        ar_desc(&a, "stochastic_depth p %g seed %llu", (double)p, (unsigned long long)seed);
        const float *y = CASE_OK(&a, clcnn_stochastic_depth(g_ctx, tx->t, p, seed, ty->t)) ? ar_read(&a, ty) : NULL;
        if (!y) continue;
        size_t dropped = 0, split = 0, wrong_value = 0, wrong_mask = 0;
        for (size_t s = 0; s < (size_t)samples; s++) {
            const int kept = y[s * per] != 0.0f;
            dropped += !kept;
            wrong_mask += kept != host_keep(seed, p, s);
            for (size_t i = s * per; i < (s + 1) * per; i++) {
                split += (y[i] != 0.0f) != kept;
                if (kept && fabsf(y[i] - x[i] * scale) > 1.2e-7f * fabsf(x[i] * scale)) wrong_value++;
            }
        }
        const double frac = (double)dropped / samples, sd = sqrt((double)p * (1 - p) / samples);
        CHECK(fabs(frac - p) <= 6 * sd + 1e-9, "p %g: dropped fraction %.4f of %d samples", (double)p, frac, samples);
        CHECK(split == 0 && wrong_value == 0 && wrong_mask == 0,
              "p %g: %zu values split from their sample, %zu kept values not x / (1 - p), %zu samples against the mask",
              (double)p, split, wrong_value, wrong_mask);
        /* backward: dx = dy0 + mask * dy with dy = x (so the expected values are y's) */
        if (!CASE_OK(&a, clcnn_tensor_write(tdx->t, dy0, n)) ||
            !CASE_OK(&a, clcnn_stochastic_depth_backward(g_ctx, tx->t, p, seed, tdx->t, 1)))
            continue;
        const float *dx = ar_read(&a, tdx);
        size_t wrong_grad = 0;
        for (size_t i = 0; dx && i < n; i++) wrong_grad += fabsf(dx[i] - (dy0[i] + y[i])) > 1e-6f * (1 + fabsf(dx[i]));
        CHECK(dx && wrong_grad == 0, "p %g: %zu gradient values are not dy0 + mask * dy", (double)p, wrong_grad);
    }
    CHECK_STATUS(clcnn_stochastic_depth(g_ctx, tx->t, 1.0f, 1, ty->t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_stochastic_depth_backward(g_ctx, tx->t, -0.5f, 1, ty->t, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_stochastic_depth(NULL, tx->t, 0.5f, 1, ty->t), CLCNN_ERR_INVALID_ARGUMENT);
done:
    ar_free(&a);
}

/* --------------------------------------------------------------- resize -- */

/* <resize(x), r> == <x, resize_backward(r)> with the device's own forward, at a CAM's
 * typical 7x7 -> 224x224 (too big for FD). */
static void resize_adjoint(test_rng *rng) {
    const int xs[4] = {2, 3, 7, 7}, ys[4] = {2, 3, test_cap(224, 40), test_cap(224, 40)};
    const size_t nx = numel(4, xs), ny = numel(4, ys);
    arena a = {0};
    ar_desc(&a, "resize 7x7 -> 224x224 adjoint");
    float *x = ar_rand(&a, rng, nx, -1.0f, 1.0f), *r = ar_rand(&a, rng, ny, -1.0f, 1.0f);
    clcnn_tensor *tx = ar_tensor(&a, 4, xs, x), *tr = ar_tensor(&a, 4, ys, r);
    guarded *ty = ar_guarded(&a, 4, ys, NULL, NAN), *tdx = ar_guarded(&a, 4, xs, NULL, NAN);
    if (a.bad) goto done;
    CHECK_OK(clcnn_resize_bilinear(g_ctx, tx, ty->t));
    CHECK_OK(clcnn_resize_bilinear_backward(g_ctx, tr, tdx->t, 0));
    const float *y = ar_read(&a, ty), *dx = ar_read(&a, tdx);
    if (!y || !dx) goto done;
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < ny; i++) {
        lhs += (double)y[i] * r[i];
        mag += fabs((double)y[i] * r[i]);
    }
    for (size_t i = 0; i < nx; i++) rhs += (double)x[i] * dx[i];
    CHECK(fabs(lhs - rhs) <= 1e-5 * mag, "resize 7x7 -> 224x224: <resize(x), r> = %.9g but <x, backward(r)> = %.9g",
          lhs, rhs);
done:
    ar_free(&a);
}

/* Resize's backward on random and fixed shapes: test_op_table.c's op_resize_bilinear. */
static void test_resize_bilinear_adjoint(void) {
    test_rng rng = {g_seed ^ 0x2E51ull};
    resize_adjoint(&rng);
    const int xs[4] = {2, 3, 4, 4}, ys[4] = {2, 4, 8, 8};
    arena a = {0};
    ar_desc(&a, "resize_bilinear_backward errors");
    clcnn_tensor *dx = ar_tensor(&a, 4, xs, NULL), *dy = ar_tensor(&a, 4, ys, NULL);
    if (!a.bad) CHECK_STATUS(clcnn_resize_bilinear_backward(g_ctx, dy, dx, 0), CLCNN_ERR_SHAPE);
    ar_free(&a);
}

const test_case test_grad_eltwise_cases[] = {
    {"activate_backward_kinks", test_activate_backward_kinks},
    {"pool2d_backward_errors", test_pool2d_backward_errors},
    {"pool2d_backward_max_ties", test_pool2d_backward_max_ties},
    {"pool2d_backward_max_nan", test_pool2d_backward_max_nan},
    {"pool2d_backward_stem", test_pool2d_backward_stem},
    {"global_avg_pool_backward_errors", test_global_avg_pool_backward_errors},
    {"dropout_train", test_dropout_train},
    {"dropout_backward", test_dropout_backward},
    {"stochastic_depth", test_stochastic_depth},
    {"concat_errors", test_concat_errors},
    {"resize_bilinear_adjoint", test_resize_bilinear_adjoint},
    {NULL, NULL},
};
