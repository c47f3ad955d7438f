/* test_grad_eltwise.c: the backward of the activations, pooling, global average
 * pooling, training dropout and bilinear resize.
 *
 * Gradients are checked against central finite differences (step 1e-3) of the
 * double-precision forwards in tests/ref/ref_grad_eltwise.c, with L = sum r*y for a
 * random r (so dy = r). Every backward runs twice: once overwriting a dx pre-filled
 * with NaN (which must not be read), once accumulating onto known values (which must
 * give old + grad). Inputs stay away from kinks by construction: ReLU/ReLU6 inputs at
 * least 0.01 from 0 and 6, max-pool inputs distinct by 0.05 (ties have their own test,
 * against the "first maximum wins" rule).
 *
 * Tolerances, |got - want| <= atol + rtol |want|:
 *   activations        atol 1e-4, rtol 1e-3: one float product of O(1) values (~1e-7)
 *                      plus FD truncation h^2 f'''/6 (~1e-7) and exp/tanh's few ulp;
 *   pooling, global    atol 1e-5, rtol 1e-4: the ops are linear where differentiable,
 *   average pooling    so FD is exact to double rounding; the device sums at most a
 *                      few dozen float terms of size <= 1;
 *   resize             atol 1e-6 (1 + T), rtol 1e-4 with T the number of output pixels
 *                      summed per input pixel (float rounding grows with the sum);
 *   dropout            exact mask, kept values within 1 ulp of x / (1 - p).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ref/gradcheck.h"
#include "ref/ref.h"
#include "ref/ref_grad_eltwise.h"

#define FD_STEP 1e-3

/* -------------------------------------------------------------- helpers -- */

typedef struct { char s[64]; } dimstr;

static dimstr dims(int ndim, const int *shape) {
    dimstr d = {"["};
    for (int i = 0; i < ndim; i++) {
        size_t len = strlen(d.s);
        snprintf(d.s + len, sizeof d.s - len, "%s%d", i ? ", " : "", shape[i]);
    }
    strncat(d.s, "]", sizeof d.s - strlen(d.s) - 1);
    return d;
}

static size_t numel(int ndim, const int *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

static const char *act_name(int act) {
    static const char *names[] = {"none", "relu", "relu6", "sigmoid", "silu", "tanh"};
    return names[act];
}

/* A device tensor holding a copy of host data; NULL (reported) on failure. */
static clcnn_tensor *upload(int ndim, const int *shape, const float *data) {
    clcnn_tensor *t = NULL;
    clcnn_status st = clcnn_tensor_create(g_ctx, ndim, shape, &t);
    if (st == CLCNN_OK) st = clcnn_tensor_write(t, data, numel(ndim, shape));
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "upload %s: %s", dims(ndim, shape).s, clcnn_last_error(g_ctx));
        clcnn_tensor_destroy(t);
        return NULL;
    }
    return t;
}

static int download(const clcnn_tensor *t, float *host) {
    clcnn_status st = clcnn_tensor_read(t, host, clcnn_tensor_numel(t));
    if (st != CLCNN_OK) test_fail(__FILE__, __LINE__, "download: %s", clcnn_last_error(g_ctx));
    return st == CLCNN_OK;
}

static float *rand_floats(test_rng *rng, size_t n, float lo, float hi) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        test_fail(__FILE__, __LINE__, "out of host memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) p[i] = test_rng_uniform(rng, lo, hi);
    return p;
}

/* The backward under test, writing into dx. */
typedef clcnn_status (*backward_call)(const void *op, clcnn_tensor *dx, int accumulate);

/* Run call into a dx full of NaN (accumulate = 0) and into a dx holding known values
 * (accumulate = 1), and compare with want and old + want. */
static void check_backward(const char *desc, backward_call call, const void *op, int ndim, const int *shape,
                           const double *want, double atol, double rtol, test_rng *rng) {
    const size_t n = numel(ndim, shape);
    clcnn_tensor *dx = NULL;
    float *got = malloc(n * sizeof *got), *old = rand_floats(rng, n, -2.0f, 2.0f);
    double *want_acc = malloc(n * sizeof *want_acc);
    char what[256];
    if (!got || !old || !want_acc) {
        test_fail(__FILE__, __LINE__, "out of host memory");
        goto cleanup;
    }
    CHECK_OK(clcnn_tensor_create(g_ctx, ndim, shape, &dx));
    if (!dx) goto cleanup;
    CHECK_OK(clcnn_tensor_fill(dx, NAN));
    clcnn_status st = call(op, dx, 0);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "%s: %d (%s): %s", desc, st, clcnn_status_str(st), clcnn_last_error(g_ctx));
        goto cleanup;
    }
    snprintf(what, sizeof what, "%s dx", desc);
    if (download(dx, got)) FD_CHECK(what, got, want, n, atol, rtol);

    for (size_t i = 0; i < n; i++) want_acc[i] = (double)old[i] + want[i];
    CHECK_OK(clcnn_tensor_write(dx, old, n));
    CHECK_OK(call(op, dx, 1));
    snprintf(what, sizeof what, "%s dx (accumulated)", desc);
    if (download(dx, got)) FD_CHECK(what, got, want_acc, n, atol, rtol);
cleanup:
    clcnn_tensor_destroy(dx);
    free(got);
    free(old);
    free(want_acc);
}

/* grad = FD gradient of sum r * f(x) at the float values x. */
static double *fd_of(fd_forward f, void *user, const float *x, size_t n_in, const float *r, size_t n_out) {
    double *xd = malloc(n_in * sizeof *xd), *rd = malloc(n_out * sizeof *rd), *grad = malloc(n_in * sizeof *grad);
    if (!xd || !rd || !grad) {
        test_fail(__FILE__, __LINE__, "out of host memory");
        free(grad);
        grad = NULL;
    } else {
        fd_to_double(x, xd, n_in);
        fd_to_double(r, rd, n_out);
        fd_gradient(f, user, xd, n_in, rd, n_out, FD_STEP, grad);
    }
    free(xd);
    free(rd);
    return grad;
}

/* ---------------------------------------------------------- activations -- */

typedef struct {
    const clcnn_tensor *x, *y, *dy;
    int act;
} act_op;

static clcnn_status act_call(const void *p, clcnn_tensor *dx, int accumulate) {
    const act_op *o = p;
    return clcnn_activate_backward(g_ctx, o->x, o->y, o->act, o->dy, dx, accumulate);
}

typedef struct {
    int act;
    size_t n;
} act_fd;

static void act_forward(const double *in, double *out, void *user) {
    const act_fd *a = user;
    ref_grad_activate(in, a->n, a->act, out);
}

/* An input for act at least 0.01 away from its kinks (0 and 6). */
static float act_input(test_rng *rng, int act) {
    if (act != CLCNN_ACT_RELU && act != CLCNN_ACT_RELU6) return test_rng_uniform(rng, -4.0f, 4.0f);
    for (;;) {
        const float v = test_rng_uniform(rng, -2.0f, 8.0f);
        if (fabsf(v) >= 0.01f && fabsf(v - 6.0f) >= 0.01f) return v;
    }
}

/* One activation on one random shape, through every valid way of passing x and y. */
static void activate_case(test_rng *rng, int act) {
    int shape[4], ndim = test_rng_int(rng, 1, 4);
    for (int i = 0; i < ndim; i++) shape[i] = test_rng_int(rng, 1, ndim == 1 ? 301 : 7);
    const size_t n = numel(ndim, shape);
    float *x = rand_floats(rng, n, 0, 0), *r = rand_floats(rng, n, -1.0f, 1.0f);
    double *want = NULL;
    clcnn_tensor *tx = NULL, *ty = NULL, *tr = NULL;
    if (!x || !r) goto cleanup;
    for (size_t i = 0; i < n; i++) x[i] = act_input(rng, act);
    act_fd fd = {act, n};
    if (!(want = fd_of(act_forward, &fd, x, n, r, n))) goto cleanup;
    if (!(tx = upload(ndim, shape, x)) || !(tr = upload(ndim, shape, r))) goto cleanup;
    CHECK_OK(clcnn_tensor_create(g_ctx, ndim, shape, &ty));
    if (!ty) goto cleanup;
    CHECK_OK(clcnn_activate(g_ctx, tx, act, ty));
    /* (x, y) given: y only, x only, both, neither; SiLU needs x, the identity nothing,
     * the others one of them. */
    const int variants[4][2] = {{0, 1}, {1, 0}, {1, 1}, {0, 0}};
    for (int v = 0; v < 4; v++) {
        if ((act == CLCNN_ACT_SILU && !variants[v][0]) || (act != CLCNN_ACT_NONE && v == 3)) continue;
        char desc[256];
        snprintf(desc, sizeof desc, "activate_backward %s %s%s%s", act_name(act), dims(ndim, shape).s,
                 variants[v][0] ? " x" : "", variants[v][1] ? " y" : "");
        const act_op op = {variants[v][0] ? tx : NULL, variants[v][1] ? ty : NULL, tr, act};
        check_backward(desc, act_call, &op, ndim, shape, want, 1e-4, 1e-3, rng);
    }
cleanup:
    clcnn_tensor_destroy(tx);
    clcnn_tensor_destroy(ty);
    clcnn_tensor_destroy(tr);
    free(x);
    free(r);
    free(want);
}

/* ReLU's gradient at exactly 0 is 0, ReLU6's at 0 and 6 too (PyTorch: y > 0, 0 < y < 6). */
static void activate_kinks(void) {
    enum { K = 8 };
    const float x[K] = {0.0f, -0.0f, 6.0f, 1.0f, -1.0f, 5.5f, 6.5f, 3.0f};
    const float want[2][K] = {{0, 0, 1, 1, 0, 1, 1, 1}, {0, 0, 0, 1, 0, 1, 0, 1}};
    const int shape[1] = {K};
    const float dy[K] = {1, 1, 1, 1, 1, 1, 1, 1};
    clcnn_tensor *tx = upload(1, shape, x), *tdy = upload(1, shape, dy), *ty = NULL, *tdx = NULL;
    if (!tx || !tdy) goto cleanup;
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, shape, &ty));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, shape, &tdx));
    if (!ty || !tdx) goto cleanup;
    for (int a = 0; a < 2; a++) {
        const int act = a ? CLCNN_ACT_RELU6 : CLCNN_ACT_RELU;
        CHECK_OK(clcnn_activate(g_ctx, tx, act, ty));
        for (int from_x = 0; from_x < 2; from_x++) {
            float got[K];
            CHECK_OK(clcnn_activate_backward(g_ctx, from_x ? tx : NULL, from_x ? NULL : ty, act, tdy, tdx, 0));
            if (!download(tdx, got)) continue;
            for (int i = 0; i < K; i++)
                CHECK(got[i] == want[a][i], "%s'(%g) from %s: got %g, want %g", act_name(act), x[i],
                      from_x ? "x" : "y", got[i], want[a][i]);
        }
    }
cleanup:
    clcnn_tensor_destroy(tx);
    clcnn_tensor_destroy(ty);
    clcnn_tensor_destroy(tdy);
    clcnn_tensor_destroy(tdx);
}

static void activate_errors(void) {
    const int shape[2] = {3, 5}, other[2] = {5, 3};
    clcnn_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, shape, &a));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, shape, &b));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, other, &c));
    if (!a || !b || !c) goto cleanup;
    CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, a, CLCNN_ACT_RELU, a, c, 0), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, c, CLCNN_ACT_RELU, a, b, 0), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_activate_backward(g_ctx, c, NULL, CLCNN_ACT_SILU, a, b, 0), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, a, CLCNN_ACT_SILU, a, b, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, NULL, CLCNN_ACT_TANH, a, b, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_activate_backward(g_ctx, NULL, a, (clcnn_activation)9, a, b, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_activate_backward(NULL, NULL, a, CLCNN_ACT_RELU, a, b, 0), CLCNN_ERR_INVALID_ARGUMENT);
cleanup:
    clcnn_tensor_destroy(a);
    clcnn_tensor_destroy(b);
    clcnn_tensor_destroy(c);
}

static void test_activate_backward(void) {
    test_rng rng = {g_seed ^ 0xAC71BAC4ull};
    for (int act = CLCNN_ACT_NONE; act <= CLCNN_ACT_TANH; act++)
        for (int rep = 0; rep < 2; rep++) activate_case(&rng, act);
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

/* One random pooling case vs FD; x is passed to average pooling only sometimes. */
static void pool_fd_case(test_rng *rng, clcnn_pool_mode mode) {
    pool_case c = pool_draw(rng, mode);
    const int xs[4] = {c.N, c.C, c.H, c.W}, ys[4] = {c.N, c.C, c.OH, c.OW};
    const size_t nx = numel(4, xs), ny = numel(4, ys);
    float *x = rand_floats(rng, nx, -2.0f, 2.0f), *r = rand_floats(rng, ny, -1.0f, 1.0f);
    double *want = NULL;
    clcnn_tensor *tx = NULL, *tr = NULL;
    if (!x || !r) goto cleanup;
    if (mode == CLCNN_POOL_MAX) distinct_values(rng, x, nx);
    if (!(want = fd_of(pool_forward, &c, x, nx, r, ny))) goto cleanup;
    if (!(tx = upload(4, xs, x)) || !(tr = upload(4, ys, r))) goto cleanup;
    const pool_op op = {mode == CLCNN_POOL_MAX || test_rng_int(rng, 0, 1) ? tx : NULL, tr, c.p};
    check_backward(c.desc, pool_call, &op, 4, xs, want, 1e-5, 1e-4, rng);
cleanup:
    clcnn_tensor_destroy(tx);
    clcnn_tensor_destroy(tr);
    free(x);
    free(r);
    free(want);
}

static void pool_errors(void) {
    const int xs[4] = {2, 3, 6, 6}, ys[4] = {2, 3, 3, 3}, bad[4] = {2, 3, 3, 2};
    const clcnn_pool_params p = {.mode = CLCNN_POOL_MAX, .kernel_h = 2, .kernel_w = 2};
    clcnn_tensor *x = NULL, *dy = NULL, *dyb = NULL, *dx = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &x));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &dx));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, ys, &dy));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, bad, &dyb));
    if (!x || !dx || !dy || !dyb) goto cleanup;
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, x, &p, dyb, dx, 0), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, dy, &p, dy, dx, 0), CLCNN_ERR_SHAPE); /* x shaped as dy */
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, NULL, &p, dy, dx, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_pool2d_backward(g_ctx, x, NULL, dy, dx, 0), CLCNN_ERR_INVALID_ARGUMENT);
    const clcnn_pool_params avg = {.mode = CLCNN_POOL_AVG, .kernel_h = 2, .kernel_w = 2};
    CHECK_OK(clcnn_pool2d_backward(g_ctx, NULL, &avg, dy, dx, 0));
cleanup:
    clcnn_tensor_destroy(x);
    clcnn_tensor_destroy(dy);
    clcnn_tensor_destroy(dyb);
    clcnn_tensor_destroy(dx);
}

static void test_pool2d_backward_max(void) {
    test_rng rng = {g_seed ^ 0x3A7B001ull};
    for (int i = 0; i < 16; i++) pool_fd_case(&rng, CLCNN_POOL_MAX);
    pool_errors();
}

static void test_pool2d_backward_avg(void) {
    test_rng rng = {g_seed ^ 0xA7B002ull};
    for (int i = 0; i < 16; i++) pool_fd_case(&rng, CLCNN_POOL_AVG);
}

/* Inputs full of ties (small integers, plus one constant plane): each window's dy
 * must go to its first maximum in row-major order, as PyTorch. */
static void test_pool2d_backward_max_ties(void) {
    test_rng rng = {g_seed ^ 0x71E5ull};
    for (int rep = 0; rep < 8; rep++) {
        pool_case c = pool_draw(&rng, CLCNN_POOL_MAX);
        const int xs[4] = {c.N, c.C, c.H, c.W}, ys[4] = {c.N, c.C, c.OH, c.OW};
        const size_t nx = numel(4, xs), ny = numel(4, ys), plane = (size_t)c.H * c.W;
        float *x = rand_floats(&rng, nx, 0, 0), *r = rand_floats(&rng, ny, -1.0f, 1.0f);
        double *xd = malloc(nx * sizeof *xd), *want = calloc(nx, sizeof *want);
        clcnn_tensor *tx = NULL, *tr = NULL;
        if (!x || !r || !xd || !want) goto next;
        for (size_t i = 0; i < nx; i++) x[i] = i < plane ? 1.0f : (float)test_rng_int(&rng, 0, 2);
        fd_to_double(x, xd, nx);
        for (int p = 0; p < c.N * c.C; p++)
            for (int oy = 0; oy < c.OH; oy++)
                for (int ox = 0; ox < c.OW; ox++) {
                    const int best = ref_grad_pool_argmax(xd + p * plane, c.H, c.W, oy, ox, c.p.kernel_h,
                                                          c.p.kernel_w, c.p.stride_h, c.p.stride_w, c.p.pad_h,
                                                          c.p.pad_w);
                    want[p * plane + (size_t)best] += r[((size_t)p * c.OH + oy) * c.OW + ox];
                }
        if (!(tx = upload(4, xs, x)) || !(tr = upload(4, ys, r))) goto next;
        const pool_op op = {tx, tr, c.p};
        char desc[256];
        snprintf(desc, sizeof desc, "%s (ties)", c.desc);
        check_backward(desc, pool_call, &op, 4, xs, want, 1e-5, 1e-5, &rng);
    next:
        clcnn_tensor_destroy(tx);
        clcnn_tensor_destroy(tr);
        free(x);
        free(r);
        free(xd);
        free(want);
    }
}

/* --------------------------------------------------- global avg pooling -- */

typedef struct {
    const clcnn_tensor *dy;
} gap_op;

static clcnn_status gap_call(const void *p, clcnn_tensor *dx, int accumulate) {
    return clcnn_global_avg_pool_backward(g_ctx, ((const gap_op *)p)->dy, dx, accumulate);
}

typedef struct {
    int NC, S;
} gap_fd;

static void gap_forward(const double *in, double *out, void *user) {
    const gap_fd *g = user;
    ref_grad_global_avg_pool(in, g->NC, g->S, out);
}

static void test_global_avg_pool_backward(void) {
    test_rng rng = {g_seed ^ 0x6A9ull};
    for (int rep = 0; rep < 6; rep++) {
        const int N = test_rng_int(&rng, 1, 3), C = test_rng_int(&rng, 1, 5);
        const int xs[4] = {N, C, test_rng_int(&rng, 1, 9), test_rng_int(&rng, 1, 9)}, ys[4] = {N, C, 1, 1};
        const int ydims = rep % 2 ? 4 : 2;
        const size_t nx = numel(4, xs), ny = (size_t)N * C;
        float *x = rand_floats(&rng, nx, -2.0f, 2.0f), *r = rand_floats(&rng, ny, -1.0f, 1.0f);
        double *want = NULL;
        clcnn_tensor *tr = NULL;
        gap_fd fd = {N * C, xs[2] * xs[3]};
        if (!x || !r || !(want = fd_of(gap_forward, &fd, x, nx, r, ny))) goto next;
        if (!(tr = upload(ydims, ys, r))) goto next;
        char desc[256];
        snprintf(desc, sizeof desc, "global_avg_pool_backward dy %s -> dx %s", dims(ydims, ys).s, dims(4, xs).s);
        const gap_op op = {tr};
        check_backward(desc, gap_call, &op, 4, xs, want, 1e-5, 1e-4, &rng);
    next:
        clcnn_tensor_destroy(tr);
        free(x);
        free(r);
        free(want);
    }
    /* dy must be [N, C] or [N, C, 1, 1] for dx [N, C, H, W]. */
    const int xs[4] = {2, 3, 4, 5}, wrong[2] = {2, 4}, wrong4[4] = {2, 3, 2, 1}, flat[3] = {2, 3, 20};
    clcnn_tensor *dx = NULL, *dy = NULL, *dy4 = NULL, *dx3 = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &dx));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, wrong, &dy));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, wrong4, &dy4));
    CHECK_OK(clcnn_tensor_create(g_ctx, 3, flat, &dx3));
    if (dx && dy && dy4 && dx3) {
        CHECK_STATUS(clcnn_global_avg_pool_backward(g_ctx, dy, dx, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_global_avg_pool_backward(g_ctx, dy4, dx, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_global_avg_pool_backward(g_ctx, dy, dx3, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_global_avg_pool_backward(NULL, dy, dx, 0), CLCNN_ERR_INVALID_ARGUMENT);
    }
    clcnn_tensor_destroy(dx);
    clcnn_tensor_destroy(dy);
    clcnn_tensor_destroy(dy4);
    clcnn_tensor_destroy(dx3);
}

/* -------------------------------------------------------------- dropout -- */

/* The mask as documented in cl/eltwise.cl (splitmix64 of the mixed seed and the
 * element index, top 32 bits against p * 2^32): recomputing it here pins the claim
 * that the mask is the same on every device. */
static uint64_t splitmix_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int host_keep(uint64_t seed, float p, size_t i) {
    const uint64_t golden = 0x9E3779B97F4A7C15ull, key = splitmix_mix(seed + golden);
    return (uint32_t)(splitmix_mix(key + (i + 1) * golden) >> 32) >= (uint32_t)((double)p * 4294967296.0);
}

/* y = dropout(x) on the device, read back into y. */
static int run_dropout(const clcnn_tensor *tx, float p, uint64_t seed, clcnn_tensor *ty, float *y) {
    clcnn_status st = clcnn_dropout(g_ctx, tx, p, seed, ty);
    if (st != CLCNN_OK) {
        test_fail(__FILE__, __LINE__, "clcnn_dropout p %g seed %llu: %s", (double)p, (unsigned long long)seed,
                  clcnn_last_error(g_ctx));
        return 0;
    }
    return download(ty, y);
}

/* Forward over a big odd-sized tensor for several p: the dropped fraction is p within
 * 6 standard deviations, kept values are x / (1 - p), the mask is the documented
 * function of (seed, index), the same seed repeats it, another seed changes it. */
static void test_dropout_train(void) {
    test_rng rng = {g_seed ^ 0xD20Bull};
    enum { N = 1 << 17 };
    const int shape[2] = {N / 64 + 1, 63}; /* odd, not a multiple of any work-group size */
    const size_t n = numel(2, shape);
    const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
    float *x = rand_floats(&rng, n, 0.5f, 2.0f), *y = malloc(n * sizeof *y), *y2 = malloc(n * sizeof *y2);
    clcnn_tensor *tx = NULL, *ty = NULL;
    if (!x || !y || !y2 || !(tx = upload(2, shape, x))) goto cleanup;
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, shape, &ty));
    if (!ty) goto cleanup;
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        const float p = ps[k];
        const uint64_t seed = test_rng_next(&rng);
        if (!run_dropout(tx, p, seed, ty, y)) continue;
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
        if (p == 0.0f || !run_dropout(tx, p, seed, ty, y2)) continue;
        CHECK(!memcmp(y, y2, n * sizeof *y), "dropout p %g: the same seed gave another mask", (double)p);
        if (!run_dropout(tx, p, seed + 1, ty, y2)) continue;
        size_t differ = 0;
        for (size_t i = 0; i < n; i++) differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
        /* independent masks differ in 2 p (1 - p) of the places */
        CHECK((double)differ > 0.9 * 2 * p * (1 - p) * (double)n, "dropout p %g: seeds %llu and +1 differ in only %zu places",
              (double)p, (unsigned long long)seed, differ);
    }
    /* in place: y = x */
    const uint64_t seed = 42;
    if (run_dropout(tx, 0.5f, seed, ty, y)) {
        CHECK_OK(clcnn_dropout(g_ctx, tx, 0.5f, seed, tx));
        if (download(tx, y2)) CHECK(!memcmp(y, y2, n * sizeof *y), "dropout in place differs from out of place");
    }
    CHECK_STATUS(clcnn_dropout(g_ctx, tx, -0.1f, seed, ty), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dropout(g_ctx, tx, 1.0f, seed, ty), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dropout(g_ctx, tx, NAN, seed, ty), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dropout(NULL, tx, 0.5f, seed, ty), CLCNN_ERR_INVALID_ARGUMENT);
cleanup:
    clcnn_tensor_destroy(tx);
    clcnn_tensor_destroy(ty);
    free(x);
    free(y);
    free(y2);
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
        float *ones = rand_floats(&rng, n, 1.0f, 1.0f), *m = malloc(n * sizeof *m);
        float *x = rand_floats(&rng, n, -1.0f, 1.0f), *r = rand_floats(&rng, n, -1.0f, 1.0f);
        double *want = NULL;
        clcnn_tensor *tones = NULL, *tm = NULL, *tr = NULL;
        if (!ones || !m || !x || !r || !(tones = upload(3, shape, ones)) || !(tr = upload(3, shape, r))) goto next;
        CHECK_OK(clcnn_tensor_create(g_ctx, 3, shape, &tm));
        if (!tm || !run_dropout(tones, p, seed, tm, m)) goto next;
        dropout_fd fd = {m, n};
        if (!(want = fd_of(dropout_forward, &fd, x, n, r, n))) goto next;
        char desc[256];
        snprintf(desc, sizeof desc, "dropout_backward p %g seed %llu %s", (double)p, (unsigned long long)seed,
                 dims(3, shape).s);
        const dropout_op op = {tr, p, seed};
        check_backward(desc, dropout_call, &op, 3, shape, want, 1e-6, 1e-6, &rng);
    next:
        clcnn_tensor_destroy(tones);
        clcnn_tensor_destroy(tm);
        clcnn_tensor_destroy(tr);
        free(ones);
        free(m);
        free(x);
        free(r);
        free(want);
    }
    const int a[2] = {4, 5}, b[2] = {5, 4};
    clcnn_tensor *ta = NULL, *tb = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, a, &ta));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, b, &tb));
    if (ta && tb) {
        CHECK_STATUS(clcnn_dropout_backward(g_ctx, ta, 0.5f, 1, tb, 0), CLCNN_ERR_SHAPE);
        CHECK_STATUS(clcnn_dropout_backward(g_ctx, ta, 1.5f, 1, ta, 0), CLCNN_ERR_INVALID_ARGUMENT);
    }
    clcnn_tensor_destroy(ta);
    clcnn_tensor_destroy(tb);
}

/* --------------------------------------------------------------- resize -- */

typedef struct {
    const clcnn_tensor *dy;
} resize_op;

static clcnn_status resize_call(const void *p, clcnn_tensor *dx, int accumulate) {
    return clcnn_resize_bilinear_backward(g_ctx, ((const resize_op *)p)->dy, dx, accumulate);
}

typedef struct {
    int NC, H, W, OH, OW;
} resize_fd;

static void resize_forward(const double *in, double *out, void *user) {
    const resize_fd *c = user;
    ref_grad_resize_bilinear(in, c->NC, c->H, c->W, out, c->OH, c->OW);
}

static void resize_case(test_rng *rng, int N, int C, int H, int W, int OH, int OW) {
    const int xs[4] = {N, C, H, W}, ys[4] = {N, C, OH, OW};
    const size_t nx = numel(4, xs), ny = numel(4, ys);
    float *x = rand_floats(rng, nx, -2.0f, 2.0f), *r = rand_floats(rng, ny, -1.0f, 1.0f);
    double *want = NULL;
    clcnn_tensor *tr = NULL;
    resize_fd fd = {N * C, H, W, OH, OW};
    if (!x || !r || !(want = fd_of(resize_forward, &fd, x, nx, r, ny)) || !(tr = upload(4, ys, r))) goto cleanup;
    char desc[256];
    snprintf(desc, sizeof desc, "resize_bilinear_backward dy %s -> dx %s", dims(4, ys).s, dims(4, xs).s);
    /* output pixels summed per input pixel, per axis: about out / in + 2 */
    const double terms = ((double)OH / H + 2) * ((double)OW / W + 2);
    const resize_op op = {tr};
    check_backward(desc, resize_call, &op, 4, xs, want, 1e-6 * (1 + terms), 1e-4, rng);
cleanup:
    clcnn_tensor_destroy(tr);
    free(x);
    free(r);
    free(want);
}

/* <resize(x), r> == <x, resize_backward(r)> with the device's own forward, at a CAM's
 * typical 7x7 -> 224x224 (too big for FD). */
static void resize_adjoint(test_rng *rng) {
    const int xs[4] = {2, 3, 7, 7}, ys[4] = {2, 3, 224, 224};
    const size_t nx = numel(4, xs), ny = numel(4, ys);
    float *x = rand_floats(rng, nx, -1.0f, 1.0f), *r = rand_floats(rng, ny, -1.0f, 1.0f);
    float *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx);
    clcnn_tensor *tx = NULL, *tr = NULL, *ty = NULL, *tdx = NULL;
    if (!x || !r || !y || !dx || !(tx = upload(4, xs, x)) || !(tr = upload(4, ys, r))) goto cleanup;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, ys, &ty));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &tdx));
    if (!ty || !tdx) goto cleanup;
    CHECK_OK(clcnn_resize_bilinear(g_ctx, tx, ty));
    CHECK_OK(clcnn_resize_bilinear_backward(g_ctx, tr, tdx, 0));
    if (!download(ty, y) || !download(tdx, dx)) goto cleanup;
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < ny; i++) {
        lhs += (double)y[i] * r[i];
        mag += fabs((double)y[i] * r[i]);
    }
    for (size_t i = 0; i < nx; i++) rhs += (double)x[i] * dx[i];
    CHECK(fabs(lhs - rhs) <= 1e-5 * mag, "resize 7x7 -> 224x224: <resize(x), r> = %.9g but <x, backward(r)> = %.9g",
          lhs, rhs);
cleanup:
    clcnn_tensor_destroy(tx);
    clcnn_tensor_destroy(tr);
    clcnn_tensor_destroy(ty);
    clcnn_tensor_destroy(tdx);
    free(x);
    free(r);
    free(y);
    free(dx);
}

static void test_resize_bilinear_backward(void) {
    test_rng rng = {g_seed ^ 0x2E51ull};
    static const int fixed[][4] = {{1, 1, 4, 4}, {4, 4, 1, 1}, {5, 7, 3, 2}, {7, 7, 32, 32}, {3, 5, 9, 13}, {6, 6, 6, 6}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        resize_case(&rng, 1 + (int)(i % 2), 2, fixed[i][0], fixed[i][1], fixed[i][2], fixed[i][3]);
    for (int rep = 0; rep < 8; rep++)
        resize_case(&rng, test_rng_int(&rng, 1, 2), test_rng_int(&rng, 1, 3), test_rng_int(&rng, 1, 9),
                    test_rng_int(&rng, 1, 9), test_rng_int(&rng, 1, 20), test_rng_int(&rng, 1, 20));
    resize_adjoint(&rng);
    const int xs[4] = {2, 3, 4, 4}, ys[4] = {2, 4, 8, 8};
    clcnn_tensor *dx = NULL, *dy = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &dx));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, ys, &dy));
    if (dx && dy) CHECK_STATUS(clcnn_resize_bilinear_backward(g_ctx, dy, dx, 0), CLCNN_ERR_SHAPE);
    clcnn_tensor_destroy(dx);
    clcnn_tensor_destroy(dy);
}

const test_case test_grad_eltwise_cases[] = {
    {"activate_backward", test_activate_backward},
    {"pool2d_backward_max", test_pool2d_backward_max},
    {"pool2d_backward_avg", test_pool2d_backward_avg},
    {"pool2d_backward_max_ties", test_pool2d_backward_max_ties},
    {"global_avg_pool_backward", test_global_avg_pool_backward},
    {"dropout_train", test_dropout_train},
    {"dropout_backward", test_dropout_backward},
    {"resize_bilinear_backward", test_resize_bilinear_backward},
    {NULL, NULL},
};
