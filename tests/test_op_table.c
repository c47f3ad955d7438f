/* test_op_table.c: the ops run through the table-driven harness (op_harness.h), one
 * descriptor each: forward against the double references of tests/ref, backward
 * against their finite differences, the accumulate paths, NaN-filled outputs and guard
 * regions. Their special values and errors stay in test_ops.c and test_grad_eltwise.c
 * (max pooling's NaN and tie rules, the activations' kinks, argument errors).
 *
 * Tolerances, |got - want| <= atol + rtol |want|, float32 device arithmetic against a
 * double reference:
 *   activations forward   1e-6, 1e-6 for those computed exactly up to one rounding
 *                         (none, ReLU, ReLU6); 1e-5, 1e-5 for sigmoid, SiLU, tanh (exp
 *                         and tanh are a few ulp in OpenCL) and the hard ones (a
 *                         division by 6)
 *   activations backward  1e-4, 1e-3: one float product of O(1) values (~1e-7), FD's
 *                         truncation h^2 f'''/6 (~1e-7) and exp/tanh's few ulp
 *   max pooling forward   exact: it picks an input
 *   average pooling, global average pooling, resize forward: 1e-6 to 1e-5 (short sums)
 *   pooling backward      1e-5, 1e-4: linear where differentiable, so FD is exact to
 *                         double rounding; the device sums a few dozen float terms <= 1
 *   resize backward       atol 1e-6 (1 + T), rtol 1e-4 with T the output pixels summed
 *                         per input pixel (float rounding grows with the sum) */
#include <math.h>
#include <string.h>

#include "op_harness.h"
#include "ops/ops.h"
#include "ref/ref.h"
#include "ref/ref_grad_eltwise.h"

static size_t in_elems(const op_problem *p) { return numel(p->ndim[0], p->shape[0]); }
static size_t out_elems(const op_problem *p) { return numel(p->y_ndim, p->y_shape); }

/* ---------------------------------------------------------- activations -- */

enum { ACT_PROBLEMS = 4 }; /* per activation: two shapes of the forward kind (one in place), two long ones */

static void act_draw(test_rng *rng, int i, op_problem *p) {
    p->act = i / ACT_PROBLEMS;
    const int kind = i % ACT_PROBLEMS, ndim = test_rng_int(rng, 1, 4);
    p->in_place = kind == 1;
    for (int d = 0; d < ndim; d++)
        p->shape[0][d] = kind < 2 ? test_rng_int(rng, 1, ndim <= 2 ? 67 : 13) : test_rng_int(rng, 1, ndim == 1 ? 301 : 7);
    p->ndim[0] = p->y_ndim = ndim;
    memcpy(p->y_shape, p->shape[0], sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "%s x%s%s", act_name(p->act), dims(ndim, p->shape[0]).s,
             p->in_place ? " in place" : "");
}

/* Uniform in [-8, 8], at least 0.01 from the kinks (0 and 6 for ReLU and ReLU6, -3
 * and 3 for the hard ones), with every 7th value far out (tanh and sigmoid must not
 * overflow to NaN there). */
static void act_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n) {
    (void)k;
    static const float far[] = {-90, -20, 20, 90};
    const int hard = p->act == CLCNN_ACT_HARDSWISH || p->act == CLCNN_ACT_HARDSIGMOID;
    const float k0 = hard ? -3.0f : 0.0f, k1 = hard ? 3.0f : 6.0f;
    for (size_t i = 0; i < n; i++) {
        do x[i] = test_rng_uniform(rng, -8.0f, 8.0f);
        while (fabsf(x[i] - k0) < 0.01f || fabsf(x[i] - k1) < 0.01f);
        if (i % 7 == 0) x[i] = far[test_rng_int(rng, 0, 3)];
    }
}

static clcnn_status act_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    return clcnn_activate(g_ctx, in[0], (clcnn_activation)p->act, y);
}

static void act_reference(const op_problem *p, const double *const *in, double *y) {
    ref_grad_activate(in[0], in_elems(p), p->act, y);
}

/* The backward is given y only, x only, both, or neither (the identity's): SiLU needs
 * x, the identity nothing, the others one of them. */
static const char *act_way(const op_problem *p, int way) {
    static const char *const names[] = {"from y", "from x", "from x and y", "from neither"};
    if (way >= 4 || (way == 0 && !clcnn_activation_from_output((clcnn_activation)p->act)) ||
        (way == 3 && p->act != CLCNN_ACT_NONE))
        return NULL;
    return names[way];
}

static clcnn_status act_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                 const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)k;
    const int with_x = way == 1 || way == 2, with_y = way == 0 || way == 2;
    return clcnn_activate_backward(g_ctx, with_x ? in[0] : NULL, with_y ? y : NULL, (clcnn_activation)p->act, dy, dx,
                                   accumulate);
}

static double act_flops(const op_problem *p) { return ops_activation_flops((double)out_elems(p)); }

static void act_tolerance(const op_problem *p, op_tol *forward, op_tol *backward) {
    const int exact = p->act == CLCNN_ACT_NONE || p->act == CLCNN_ACT_RELU || p->act == CLCNN_ACT_RELU6;
    *forward = exact ? (op_tol){1e-6, 1e-6} : (op_tol){1e-5, 1e-5};
    *backward = (op_tol){1e-4, 1e-3};
}

static const op_desc activate_desc = {"activate", CLCNN_ACT_COUNT * ACT_PROBLEMS, act_draw, act_fill, act_forward,
                                      act_reference, act_backward, act_way, act_flops, act_tolerance};

/* --------------------------------------------------------------- pooling -- */

enum { POOL_FORWARD_KIND = 10, POOL_SMALL_KIND = 16 }; /* random problems of each kind */

typedef struct {
    int N, C, H, W;
    clcnn_pool_params p; /* stride 0 means the kernel size */
} pool_fixed;

#define POOL_P(m, k, s, pd, ceil, incl) {m, k, k, s, s, pd, pd, ceil, incl}

static const pool_fixed max_fixed[] = {
    {2, 13, 17, 19, POOL_P(CLCNN_POOL_MAX, 3, 2, 1, 0, 1)}, /* ResNet stem */
    {1, 2, 48, 40, POOL_P(CLCNN_POOL_MAX, 3, 2, 1, 0, 1)},  /* stem: two blocks of 8 and a tail of 4 */
    {1, 2, 9, 34, POOL_P(CLCNN_POOL_MAX, 3, 2, 1, 0, 1)},   /* stem: a block, then the last window reaches past W */
    {1, 5, 14, 14, POOL_P(CLCNN_POOL_MAX, 3, 2, 0, 1, 1)},  /* GoogLeNet, ceil */
    {2, 3, 7, 9, POOL_P(CLCNN_POOL_MAX, 2, 0, 0, 1, 1)},    /* partial last window */
};
static const pool_fixed avg_fixed[] = {
    {2, 7, 9, 11, POOL_P(CLCNN_POOL_AVG, 3, 1, 1, 0, 0)}, /* Inception branch */
    /* ceil with padding: the last window crosses the right padding, so its divisor
     * (count_include_pad) is clipped to 2, not 3 */
    {1, 3, 6, 6, POOL_P(CLCNN_POOL_AVG, 3, 2, 1, 1, 1)},
    {1, 3, 6, 6, POOL_P(CLCNN_POOL_AVG, 3, 2, 1, 1, 0)},
    {2, 5, 8, 8, POOL_P(CLCNN_POOL_AVG, 2, 0, 0, 0, 1)}, /* DenseNet transition */
};
enum { MAX_FIXED = sizeof max_fixed / sizeof max_fixed[0], AVG_FIXED = sizeof avg_fixed / sizeof avg_fixed[0] };

static int stride_of(int stride, int kernel) { return stride ? stride : kernel; }

/* Output shape by PyTorch's rule, and the description. */
static void pool_finish(op_problem *p, int N, int C, int H, int W) {
    const clcnn_pool_params *q = &p->pool;
    const int OH = ref_pool_out_size(H, q->kernel_h, stride_of(q->stride_h, q->kernel_h), q->pad_h, q->ceil_mode);
    const int OW = ref_pool_out_size(W, q->kernel_w, stride_of(q->stride_w, q->kernel_w), q->pad_w, q->ceil_mode);
    p->ndim[0] = p->y_ndim = 4;
    memcpy(p->shape[0], (int[4]){N, C, H, W}, sizeof p->shape[0]);
    memcpy(p->y_shape, (int[4]){N, C, OH, OW}, sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "x%s kernel %dx%d stride %dx%d pad %dx%d%s%s", dims(4, p->shape[0]).s,
             q->kernel_h, q->kernel_w, q->stride_h, q->stride_w, q->pad_h, q->pad_w, q->ceil_mode ? " ceil" : "",
             q->mode == CLCNN_POOL_AVG && !q->count_include_pad ? " exclude pad" : "");
}

/* Problems 0 .. 9: up to 19 channels and 5 x 5 windows, strides 0 (the kernel's) to 3;
 * 10 .. 25: small planes of up to 3 channels for many windows per input; then the
 * fixed ones. */
static void pool_draw(test_rng *rng, int i, op_problem *p, clcnn_pool_mode mode, const pool_fixed *fixed) {
    clcnn_pool_params *q = &p->pool;
    if (i >= POOL_FORWARD_KIND + POOL_SMALL_KIND) {
        const pool_fixed *f = &fixed[i - POOL_FORWARD_KIND - POOL_SMALL_KIND];
        *q = f->p;
        pool_finish(p, f->N, f->C, f->H, f->W);
        return;
    }
    const int big = i < POOL_FORWARD_KIND;
    int N, C, H, W;
    do {
        *q = (clcnn_pool_params){.mode = mode, .kernel_h = test_rng_int(rng, 1, big ? 5 : 4)};
        q->kernel_w = big && test_rng_int(rng, 0, 1) ? q->kernel_h : test_rng_int(rng, 1, big ? 5 : 4);
        if (!big || test_rng_int(rng, 0, 3)) q->stride_h = test_rng_int(rng, 1, 3), q->stride_w = test_rng_int(rng, 1, 3);
        q->pad_h = test_rng_int(rng, 0, q->kernel_h / 2); /* PyTorch's limit */
        q->pad_w = test_rng_int(rng, 0, q->kernel_w / 2);
        q->ceil_mode = test_rng_int(rng, 0, 1);
        q->count_include_pad = test_rng_int(rng, 0, 1);
        N = test_rng_int(rng, 1, big ? 3 : 2), C = test_rng_int(rng, 1, big ? 19 : 3);
        H = big ? q->kernel_h + test_rng_int(rng, 0, 11) : test_rng_int(rng, 1, 11);
        W = big ? q->kernel_w + test_rng_int(rng, 0, 11) : test_rng_int(rng, 1, 11);
    } while (H + 2 * q->pad_h < q->kernel_h || W + 2 * q->pad_w < q->kernel_w);
    pool_finish(p, N, C, H, W);
}

static void max_draw(test_rng *rng, int i, op_problem *p) { pool_draw(rng, i, p, CLCNN_POOL_MAX, max_fixed); }
static void avg_draw(test_rng *rng, int i, op_problem *p) { pool_draw(rng, i, p, CLCNN_POOL_AVG, avg_fixed); }

/* Max pooling: distinct values 0.05 apart in a random order, so that no window has a
 * tie and FD never moves an argmax (ties: test_grad_eltwise.c's own test). */
static void max_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n) {
    (void)p, (void)k;
    for (size_t i = 0; i < n; i++) x[i] = 0.05f * (float)i - 0.025f * (float)n;
    for (size_t i = n; i > 1; i--) {
        const size_t j = (size_t)test_rng_int(rng, 0, (int)i - 1);
        const float t = x[i - 1];
        x[i - 1] = x[j], x[j] = t;
    }
}

/* Also checks clcnn_pool2d_output_shape against PyTorch's rule. */
static clcnn_status pool_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    int shape[4];
    const clcnn_status st = clcnn_pool2d_output_shape(in[0], &p->pool, shape);
    if (st == CLCNN_OK)
        CHECK(!memcmp(shape, p->y_shape, sizeof shape), "%s: clcnn_pool2d_output_shape gives %s, PyTorch %s", p->desc,
              dims(4, shape).s, dims(4, p->y_shape).s);
    return st == CLCNN_OK ? clcnn_pool2d(g_ctx, in[0], &p->pool, y) : st;
}

static void pool_reference(const op_problem *p, const double *const *in, double *y) {
    const clcnn_pool_params *q = &p->pool;
    const int *s = p->shape[0];
    ref_grad_pool2d(in[0], s[0] * s[1], s[2], s[3], q->mode, q->kernel_h, q->kernel_w,
                    stride_of(q->stride_h, q->kernel_h), stride_of(q->stride_w, q->kernel_w), q->pad_h, q->pad_w,
                    q->count_include_pad, y, p->y_shape[2], p->y_shape[3]);
}

/* Max pooling needs x; average pooling takes it or not (its gradient does not depend on it). */
static const char *pool_way(const op_problem *p, int way) {
    return way == 0 ? "with x" : way == 1 && p->pool.mode == CLCNN_POOL_AVG ? "without x" : NULL;
}

static clcnn_status pool_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                  const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)y, (void)k;
    return clcnn_pool2d_backward(g_ctx, way == 0 ? in[0] : NULL, &p->pool, dy, dx, accumulate);
}

static double pool_flops(const op_problem *p) { return ops_pool2d_flops((double)out_elems(p), &p->pool); }

static void pool_tolerance(const op_problem *p, op_tol *forward, op_tol *backward) {
    *forward = p->pool.mode == CLCNN_POOL_MAX ? (op_tol){0, 0} : (op_tol){1e-6, 1e-5};
    *backward = (op_tol){1e-5, 1e-4};
}

static const op_desc pool2d_max_desc = {"pool2d_max", POOL_FORWARD_KIND + POOL_SMALL_KIND + MAX_FIXED, max_draw,
                                        max_fill, pool_forward, pool_reference, pool_backward, pool_way, pool_flops,
                                        pool_tolerance};
static const op_desc pool2d_avg_desc = {"pool2d_avg", POOL_FORWARD_KIND + POOL_SMALL_KIND + AVG_FIXED, avg_draw, NULL,
                                        pool_forward, pool_reference, pool_backward, pool_way, pool_flops,
                                        pool_tolerance};

/* ------------------------------------------------- global average pooling -- */

/* 0 .. 7: up to 40 channels of 20 x 20; 8 .. 13: small planes; 14, 15: fixed (a ResNet
 * head, and a 56 x 56 plane of 37 channels forward only: finite differences over
 * 116,032 inputs cost too much). Odd problems give y as [N, C], even ones [N, C, 1, 1]. */
enum { GAP_PROBLEMS = 16 };

static void gap_draw(test_rng *rng, int i, op_problem *p) {
    int N, C, H, W;
    if (i == 14) N = 2, C = 13, H = W = 7;
    else if (i == 15) N = 1, C = 37, H = W = 56;
    else if (i < 8) N = test_rng_int(rng, 1, 3), C = test_rng_int(rng, 1, 40), H = test_rng_int(rng, 1, 20), W = test_rng_int(rng, 1, 20);
    else N = test_rng_int(rng, 1, 3), C = test_rng_int(rng, 1, 5), H = test_rng_int(rng, 1, 9), W = test_rng_int(rng, 1, 9);
    p->ndim[0] = 4;
    memcpy(p->shape[0], (int[4]){N, C, H, W}, sizeof p->shape[0]);
    p->y_ndim = i % 2 ? 2 : 4;
    memcpy(p->y_shape, (int[4]){N, C, 1, 1}, sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "x%s -> y%s", dims(4, p->shape[0]).s, dims(p->y_ndim, p->y_shape).s);
}

static clcnn_status gap_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    (void)p;
    return clcnn_global_avg_pool(g_ctx, in[0], y);
}

static void gap_reference(const op_problem *p, const double *const *in, double *y) {
    const int *s = p->shape[0];
    ref_grad_global_avg_pool(in[0], s[0] * s[1], s[2] * s[3], y);
}

static const char *gap_way(const op_problem *p, int way) {
    return way == 0 && in_elems(p) <= 20000 ? "" : NULL; /* the big plane: forward only */
}

static clcnn_status gap_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                 const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)p, (void)way, (void)in, (void)y, (void)k;
    return clcnn_global_avg_pool_backward(g_ctx, dy, dx, accumulate);
}

static double gap_flops(const op_problem *p) { return ops_global_avg_pool_flops((double)in_elems(p)); }

static void gap_tolerance(const op_problem *p, op_tol *forward, op_tol *backward) {
    (void)p;
    *forward = (op_tol){1e-5, 1e-5};
    *backward = (op_tol){1e-5, 1e-4};
}

static const op_desc global_avg_pool_desc = {"global_avg_pool", GAP_PROBLEMS, gap_draw, NULL, gap_forward,
                                             gap_reference, gap_backward, gap_way, gap_flops, gap_tolerance};

/* ---------------------------------------------------------------- resize -- */

/* 0 .. 7: up to 5 channels of 12 x 12 to up to 30 x 30; 8 .. 10: a CAM to image size,
 * a downscale, the identity; 11 .. 16: fixed shapes for the backward (one pixel to
 * many, many to one); 17 .. 24: small random ones. */
enum { RESIZE_PROBLEMS = 25 };

static void resize_draw(test_rng *rng, int i, op_problem *p) {
    static const int fixed[][6] = {{1, 3, 7, 7, 224, 224}, {2, 5, 17, 19, 9, 10}, {1, 2, 5, 6, 5, 6},
                                   {1, 2, 1, 1, 4, 4},     {2, 2, 4, 4, 1, 1},    {1, 2, 5, 7, 3, 2},
                                   {2, 2, 7, 7, 32, 32},   {1, 2, 3, 5, 9, 13},   {2, 2, 6, 6, 6, 6}};
    int s[6];
    if (i >= 8 && i < 17) {
        memcpy(s, fixed[i - 8], sizeof s);
        if (i == 8) s[4] = s[5] = test_cap(224, 40);
    } else if (i < 8) {
        const int v[6] = {test_rng_int(rng, 1, 2), test_rng_int(rng, 1, 5), test_rng_int(rng, 1, 12),
                          test_rng_int(rng, 1, 12), test_rng_int(rng, 1, 30), test_rng_int(rng, 1, 30)};
        memcpy(s, v, sizeof s);
    } else {
        const int v[6] = {test_rng_int(rng, 1, 2), test_rng_int(rng, 1, 3), test_rng_int(rng, 1, 9),
                          test_rng_int(rng, 1, 9), test_rng_int(rng, 1, 20), test_rng_int(rng, 1, 20)};
        memcpy(s, v, sizeof s);
    }
    p->ndim[0] = p->y_ndim = 4;
    memcpy(p->shape[0], (int[4]){s[0], s[1], s[2], s[3]}, sizeof p->shape[0]);
    memcpy(p->y_shape, (int[4]){s[0], s[1], s[4], s[5]}, sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "x%s -> y%s", dims(4, p->shape[0]).s, dims(4, p->y_shape).s);
}

static clcnn_status resize_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    (void)p;
    return clcnn_resize_bilinear(g_ctx, in[0], y);
}

static void resize_reference(const op_problem *p, const double *const *in, double *y) {
    const int *s = p->shape[0];
    ref_grad_resize_bilinear(in[0], s[0] * s[1], s[2], s[3], y, p->y_shape[2], p->y_shape[3]);
}

static clcnn_status resize_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                    const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)p, (void)way, (void)in, (void)y, (void)k;
    return clcnn_resize_bilinear_backward(g_ctx, dy, dx, accumulate);
}

static double resize_flops(const op_problem *p) { return ops_resize_bilinear_flops((double)out_elems(p)); }

static void resize_tolerance(const op_problem *p, op_tol *forward, op_tol *backward) {
    /* output pixels summed per input pixel, per axis: about out / in + 2 */
    const double terms = ((double)p->y_shape[2] / p->shape[0][2] + 2) * ((double)p->y_shape[3] / p->shape[0][3] + 2);
    *forward = (op_tol){1e-5, 1e-5};
    *backward = (op_tol){1e-6 * (1 + terms), 1e-4};
}

static const op_desc resize_bilinear_desc = {"resize_bilinear", RESIZE_PROBLEMS, resize_draw, NULL, resize_forward,
                                             resize_reference, resize_backward, NULL, resize_flops, resize_tolerance};

/* ------------------------------------------------------------------ cases -- */

static void test_op_activate(void) { op_harness_run(&activate_desc); }
static void test_op_pool2d_max(void) { op_harness_run(&pool2d_max_desc); }
static void test_op_pool2d_avg(void) { op_harness_run(&pool2d_avg_desc); }
static void test_op_global_avg_pool(void) { op_harness_run(&global_avg_pool_desc); }
static void test_op_resize_bilinear(void) { op_harness_run(&resize_bilinear_desc); }

const test_case test_op_table_cases[] = {
    {"op_activate", test_op_activate},
    {"op_pool2d_max", test_op_pool2d_max},
    {"op_pool2d_avg", test_op_pool2d_avg},
    {"op_global_avg_pool", test_op_global_avg_pool},
    {"op_resize_bilinear", test_op_resize_bilinear},
    {NULL, NULL},
};
