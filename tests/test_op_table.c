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
 *                         per input pixel (float rounding grows with the sum)
 *   linear                forward 1e-4 (sums of up to a few hundred products); backward
 *                         atol 2e-6 (T + 10), rtol 1e-4 with T the products each
 *                         gradient element sums (M for dx, N for dw and db)
 *   concat                exact forward (slice copies); backward 1e-6
 *   add                   as the activations' forward (one addition rounded once first)
 *   softmax, log-softmax  1e-5 (exp and log are a few ulp; short row sums)
 *   inference dropout     exact (the identity)
 *   inference batch norm  1e-5 (sqrt is a few ulp; one product and one sum)
 *   GEMM                  1e-4 (sums of up to a few hundred products)
 *   training batch norm   forward 1e-4 (mean and invstd good to ~1e-6 relative);
 *                         backward 2e-4, 1e-3 (dx ~ gamma invstd dy with a cancelling
 *                         mean subtraction; dgamma sums up to ~400 terms)
 *   convolution           forward 1e-4 (sums of up to a few hundred products); backward
 *                         atol 2e-6 (T + 10), rtol 1e-4 with T the products each gradient
 *                         element sums (KH KW Cout/groups for dx, N OH OW for dw, db)
 *   squeeze-excitation    forward 1e-4 (sums of up to a few hundred products); backward
 *                         atol 2e-5, rtol 1e-4 (through the pooled mean and two small
 *                         products; ReLU's and hardsigmoid's kinks kept 0.05 away) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_harness.h"
#include "ops/ops.h"
#include "ref/ref.h"
#include "ref/ref_grad_conv.h"
#include "ref/ref_grad_eltwise.h"
#include "ref/ref_grad_norm.h"

static size_t in_elems(const op_problem *p) { return numel(p->ndim[0], p->shape[0]); }
static size_t out_elems(const op_problem *p) { return numel(p->y_ndim, p->y_shape); }

static double no_flops(const op_problem *p) { (void)p; return 0; }

static void exact_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)p, (void)k;
    *forward = *backward = (op_tol){0, 0};
}

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
static void act_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in) {
    (void)in;
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

static void act_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)k;
    const int exact = p->act == CLCNN_ACT_NONE || p->act == CLCNN_ACT_RELU || p->act == CLCNN_ACT_RELU6;
    *forward = exact ? (op_tol){1e-6, 1e-6} : (op_tol){1e-5, 1e-5};
    *backward = (op_tol){1e-4, 1e-3};
}

static const op_desc activate_desc = {
    .name = "activate",
    .n_problems = CLCNN_ACT_COUNT * ACT_PROBLEMS,
    .draw = act_draw,
    .fill = act_fill,
    .forward = act_forward,
    .reference = act_reference,
    .backward = act_backward,
    .way_name = act_way,
    .flops = act_flops,
    .tolerance = act_tolerance,
};

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
static void max_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in) {
    (void)in;
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

static void pool_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)k;
    *forward = p->pool.mode == CLCNN_POOL_MAX ? (op_tol){0, 0} : (op_tol){1e-6, 1e-5};
    *backward = (op_tol){1e-5, 1e-4};
}

static const op_desc pool2d_max_desc = {
    .name = "pool2d_max",
    .n_problems = POOL_FORWARD_KIND + POOL_SMALL_KIND + MAX_FIXED,
    .draw = max_draw,
    .fill = max_fill,
    .forward = pool_forward,
    .reference = pool_reference,
    .backward = pool_backward,
    .way_name = pool_way,
    .flops = pool_flops,
    .tolerance = pool_tolerance,
};
static const op_desc pool2d_avg_desc = {
    .name = "pool2d_avg",
    .n_problems = POOL_FORWARD_KIND + POOL_SMALL_KIND + AVG_FIXED,
    .draw = avg_draw,
    .forward = pool_forward,
    .reference = pool_reference,
    .backward = pool_backward,
    .way_name = pool_way,
    .flops = pool_flops,
    .tolerance = pool_tolerance,
};

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

static void gap_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)k;
    (void)p;
    *forward = (op_tol){1e-5, 1e-5};
    *backward = (op_tol){1e-5, 1e-4};
}

static const op_desc global_avg_pool_desc = {
    .name = "global_avg_pool",
    .n_problems = GAP_PROBLEMS,
    .draw = gap_draw,
    .forward = gap_forward,
    .reference = gap_reference,
    .backward = gap_backward,
    .way_name = gap_way,
    .flops = gap_flops,
    .tolerance = gap_tolerance,
};

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

static void resize_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)k;
    /* output pixels summed per input pixel, per axis: about out / in + 2 */
    const double terms = ((double)p->y_shape[2] / p->shape[0][2] + 2) * ((double)p->y_shape[3] / p->shape[0][3] + 2);
    *forward = (op_tol){1e-5, 1e-5};
    *backward = (op_tol){1e-6 * (1 + terms), 1e-4};
}

static const op_desc resize_bilinear_desc = {
    .name = "resize_bilinear",
    .n_problems = RESIZE_PROBLEMS,
    .draw = resize_draw,
    .forward = resize_forward,
    .reference = resize_reference,
    .backward = resize_backward,
    .flops = resize_flops,
    .tolerance = resize_tolerance,
};

/* ---------------------------------------------------------------- linear -- */

/* Inputs x, w and the bias b when the problem has one. y = act(x w^T + b); x is [N, K]
 * or an image [N, C, H, W] flattened (K = C H W), w [M, K] or a 1x1 convolution's
 * [M, K, 1, 1]. 0 .. 8: up to 80 inputs and 40 outputs, any activation (forward only,
 * as the backward is the linear part's); 9, 10: a classifier head and an image with
 * ReLU; 11 .. 20: small ones without activation, with a bias, for the backward. */
enum { LINEAR_PROBLEMS = 21 };

static void linear_draw(test_rng *rng, int i, op_problem *p) {
    int xs[4], xdim, M, bias;
    if (i < 9) {
        const int v[4] = {test_rng_int(rng, 1, 5), test_rng_int(rng, 1, 80), test_rng_int(rng, 1, 5), test_rng_int(rng, 1, 5)};
        memcpy(xs, v, sizeof xs);
        xdim = i % 3 ? 2 : 4;
        if (xdim == 4) xs[1] = test_rng_int(rng, 1, 9);
        M = test_rng_int(rng, 1, 40), bias = test_rng_int(rng, 0, 1), p->act = test_rng_int(rng, 0, CLCNN_ACT_COUNT - 1);
    } else if (i == 9) {
        memcpy(xs, (int[4]){3, test_cap(512, 64), 1, 1}, sizeof xs);
        xdim = 2, M = test_cap(1000, 100), bias = 1, p->act = CLCNN_ACT_NONE;
    } else if (i == 10) {
        memcpy(xs, (int[4]){2, 13, 3, 3}, sizeof xs);
        xdim = 4, M = 17, bias = 1, p->act = CLCNN_ACT_RELU;
    } else {
        const int image = i % 3 == 2;
        memcpy(xs, (int[4]){test_rng_int(rng, 1, 5), test_rng_int(rng, 1, 40), 1, 1}, sizeof xs);
        if (image) xs[1] = test_rng_int(rng, 1, 4), xs[2] = test_rng_int(rng, 1, 3), xs[3] = test_rng_int(rng, 1, 3);
        xdim = image ? 4 : 2, M = test_rng_int(rng, 1, 20), bias = 1, p->act = CLCNN_ACT_NONE;
    }
    if (xdim == 2) xs[2] = xs[3] = 1;
    const int K = xs[1] * xs[2] * xs[3], conv_w = i % 4 == 1; /* w as a 1x1 convolution's weight */
    p->n_in = bias ? 3 : 2;
    p->ndim[0] = xdim;
    memcpy(p->shape[0], xs, sizeof xs);
    p->ndim[1] = conv_w ? 4 : 2;
    memcpy(p->shape[1], (int[4]){M, K, 1, 1}, sizeof p->shape[1]);
    p->ndim[2] = 1, p->shape[2][0] = M;
    p->y_ndim = 2;
    memcpy(p->y_shape, (int[4]){xs[0], M, 1, 1}, sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "x%s w%s%s act %s", dims(xdim, xs).s, dims(p->ndim[1], p->shape[1]).s,
             bias ? " bias" : "", act_name(p->act));
}

static int linear_K(const op_problem *p) { return p->shape[1][1]; }

/* x and b in [-1, 1], w in +-1/sqrt(K): outputs of order 1. */
static void linear_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in) {
    (void)in;
    const float s = k == 1 ? 1.0f / sqrtf((float)linear_K(p)) : 1.0f;
    for (size_t i = 0; i < n; i++) x[i] = test_rng_uniform(rng, -s, s);
}

static clcnn_status linear_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    return clcnn_linear(g_ctx, in[0], in[1], p->n_in > 2 ? in[2] : NULL, (clcnn_activation)p->act, y);
}

static void linear_reference(const op_problem *p, const double *const *in, double *y) {
    const int N = p->shape[0][0], M = p->shape[1][0];
    refd_linear(in[0], N, linear_K(p), in[1], M, p->n_in > 2 ? in[2] : NULL, y);
    ref_grad_activate(y, (size_t)N * M, p->act, y);
}

/* The gradient asked for alone (dx without x: x only serves dw), or with the others
 * (into scratch tensors). Forward only with an activation. */
static const char *linear_way(const op_problem *p, int way) {
    return p->act != CLCNN_ACT_NONE ? NULL : way == 0 ? "alone" : way == 1 ? "with the others" : NULL;
}

static clcnn_status linear_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                    const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)y;
    clcnn_tensor *g[OP_MAX_INPUTS];
    clcnn_status st = op_grads(p, way == 1, k, dx, g);
    if (st == CLCNN_OK)
        st = clcnn_linear_backward(g_ctx, way == 1 || k == 1 ? in[0] : NULL, in[1], dy, g[0], k == 0 ? accumulate : 0,
                                   g[1], p->n_in > 2 ? g[2] : NULL);
    op_grads_free(g, k);
    return st;
}

static double linear_flops(const op_problem *p) { return ops_linear_flops((double)out_elems(p), linear_K(p)); }

/* atol 2e-6 (terms + 10) for gradient elements that each sum `terms` products of O(1)
 * values: M for dx, N for dw and db; forward 1e-4 (sums of up to a few hundred). */
static void linear_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    const double terms = k == 0 ? p->shape[1][0] : p->shape[0][0];
    *forward = (op_tol){1e-4, 1e-4};
    *backward = (op_tol){2e-6 * (terms + 10.0), 1e-4};
}

static const op_desc linear_desc = {
    .name = "linear",
    .n_problems = LINEAR_PROBLEMS,
    .draw = linear_draw,
    .fill = linear_fill,
    .forward = linear_forward,
    .reference = linear_reference,
    .backward = linear_backward,
    .way_name = linear_way,
    .flops = linear_flops,
    .tolerance = linear_tolerance,
    .accumulates_only = 1u << 1 | 1u << 2, /* dw += and db += */
};

/* ---------------------------------------------------------------- concat -- */

/* y = [a, b] along the channels, ranks 2 to 4. */
enum { CONCAT_PROBLEMS = 8 };

static void concat_draw(test_rng *rng, int i, op_problem *p) {
    const int ndim = 2 + i % 3, N = test_rng_int(rng, 1, 3), Ca = test_rng_int(rng, 1, 9), Cb = test_rng_int(rng, 1, 9);
    const int H = ndim > 2 ? test_rng_int(rng, 1, 7) : 1, W = ndim > 3 ? test_rng_int(rng, 1, 9) : 1;
    p->n_in = 2;
    p->ndim[0] = p->ndim[1] = p->y_ndim = ndim;
    memcpy(p->shape[0], (int[4]){N, Ca, H, W}, sizeof p->shape[0]);
    memcpy(p->shape[1], (int[4]){N, Cb, H, W}, sizeof p->shape[1]);
    memcpy(p->y_shape, (int[4]){N, Ca + Cb, H, W}, sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "%s + %s", dims(ndim, p->shape[0]).s, dims(ndim, p->shape[1]).s);
}

static clcnn_status concat_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    (void)p;
    return clcnn_concat(g_ctx, in[0], in[1], y);
}

static void concat_reference(const op_problem *p, const double *const *in, double *y) {
    const int *a = p->shape[0];
    ref_grad_concat(in[0], a[1], in[1], p->shape[1][1], a[0], p->ndim[0] > 2 ? a[2] * (p->ndim[0] > 3 ? a[3] : 1) : 1, y);
}

static const char *concat_way(const op_problem *p, int way) {
    (void)p;
    return way == 0 ? "alone" : way == 1 ? "with the other" : NULL;
}

static clcnn_status concat_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                    const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)in, (void)y;
    clcnn_tensor *g[OP_MAX_INPUTS];
    clcnn_status st = op_grads(p, way == 1, k, dx, g);
    if (st == CLCNN_OK) st = clcnn_concat_backward(g_ctx, dy, g[0], k == 0 && accumulate, g[1], k == 1 && accumulate);
    op_grads_free(g, k);
    return st;
}


/* Exact: slice copies (and FD of a linear op is exact to double rounding). */
static void concat_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)p, (void)k;
    *forward = (op_tol){0, 0};
    *backward = (op_tol){1e-6, 1e-6};
}

static const op_desc concat_desc = {
    .name = "concat",
    .n_problems = CONCAT_PROBLEMS,
    .draw = concat_draw,
    .forward = concat_forward,
    .reference = concat_reference,
    .backward = concat_backward,
    .way_name = concat_way,
    .flops = no_flops,
    .tolerance = concat_tolerance,
};

/* ---------------------------------------------------- squeeze-excitation -- */

/* Inputs x, w1, b1, w2, b2 and, when the problem has one, the residual; y = act(x *
 * gate(w2 inner(w1 gap(x) + b1) + b2) + residual), weights [Cr, C] or 1x1 convolution
 * weights [Cr, C, 1, 1]. 0 .. 7: up to 40 channels, any inner activation from the 5th
 * on, any final one (forward only where there is a residual or a final activation: the
 * backward is z = x * s's); 8 .. 10: an SE-ResNet block end, EfficientNet-B0's and
 * MobileNetV3-Large's first SE; 11 .. 22: small blocks for the backward, ReLU inside
 * (SiLU from the 19th), every third with MobileNetV3's hardsigmoid gate. */
enum { SE_PROBLEMS = 23 };

static void se_draw(test_rng *rng, int i, op_problem *p) {
    int xs[4], Cr, residual, wd, final;
    if (i < 8) {
        const int v[4] = {test_rng_int(rng, 1, 3), test_rng_int(rng, 2, 40), test_rng_int(rng, 1, 9), test_rng_int(rng, 1, 9)};
        memcpy(xs, v, sizeof xs);
        p->param[0] = i < 4 ? CLCNN_ACT_RELU : test_rng_int(rng, 0, CLCNN_ACT_COUNT - 1); /* inner */
        p->param[1] = i % 3 == 2 ? CLCNN_ACT_HARDSIGMOID : CLCNN_ACT_SIGMOID;                /* gate */
        Cr = test_rng_int(rng, 1, xs[1] / 2 + 1), wd = i % 2 ? 4 : 2, residual = test_rng_int(rng, 0, 1);
        final = test_rng_int(rng, 0, CLCNN_ACT_COUNT - 1);
    } else if (i < 11) {
        static const int fixed[3][8] = {{2, 37, 7, 7, 2, CLCNN_ACT_RELU, CLCNN_ACT_SIGMOID, 1},
                                        {2, 32, 6, 6, 8, CLCNN_ACT_SILU, CLCNN_ACT_SIGMOID, 0},
                                        {2, 72, 5, 5, 24, CLCNN_ACT_RELU, CLCNN_ACT_HARDSIGMOID, 0}};
        const int *f = fixed[i - 8];
        memcpy(xs, f, sizeof xs);
        Cr = f[4], p->param[0] = f[5], p->param[1] = f[6], residual = f[7], wd = 4;
        final = residual ? CLCNN_ACT_RELU : CLCNN_ACT_NONE;
    } else {
        const int v[4] = {test_rng_int(rng, 1, 3), test_rng_int(rng, 2, 10), test_rng_int(rng, 1, 5), test_rng_int(rng, 1, 5)};
        memcpy(xs, v, sizeof xs);
        Cr = test_rng_int(rng, 1, 4), residual = 0, final = CLCNN_ACT_NONE, wd = i % 3 == 1 ? 4 : 2;
        p->param[0] = i < 19 ? CLCNN_ACT_RELU : CLCNN_ACT_SILU;
        p->param[1] = i % 3 == 2 ? CLCNN_ACT_HARDSIGMOID : CLCNN_ACT_SIGMOID;
    }
    const int C = xs[1];
    p->act = final;
    p->n_in = residual ? 6 : 5;
    const int nd[6] = {4, wd, 1, wd, 1, 4};
    const int sh[6][4] = {{xs[0], C, xs[2], xs[3]}, {Cr, C, 1, 1}, {Cr}, {C, Cr, 1, 1}, {C}, {xs[0], C, xs[2], xs[3]}};
    memcpy(p->ndim, nd, sizeof nd);
    memcpy(p->shape, sh, sizeof sh);
    p->y_ndim = 4;
    memcpy(p->y_shape, xs, sizeof xs);
    snprintf(p->desc, sizeof p->desc, "x%s Cr %d weights %dD inner %s gate %s%s act %s", dims(4, xs).s, Cr, wd,
             act_name(p->param[0]), act_name(p->param[1]), residual ? " residual" : "", act_name(final));
}

static int se_inner(const op_problem *p) { return p->param[0]; }
static int se_gate(const op_problem *p) { return p->param[1]; }

/* Hidden unit j's pre-activation for sample n: b1[j] + w1[j] . the pooled x[n]. */
static double se_hidden(const op_problem *p, const float *x, const float *w1, const float *b1, int n, int j) {
    const int C = p->shape[0][1], S = p->shape[0][2] * p->shape[0][3];
    double v = b1[j];
    for (int c = 0; c < C; c++) {
        double sum = 0;
        for (int s = 0; s < S; s++) sum += x[((size_t)n * C + c) * S + s];
        v += w1[j * C + c] * sum / S;
    }
    return v;
}

/* x, w1, w2 and the residual in [-1, 1]. b1 so that every hidden pre-activation is at
 * least 0.05 from ReLU's kink (a finite-difference step moves it by ~1e-3); b2 in [-1, 1],
 * or for a hardsigmoid gate in [-5, 5] (some gates on its flat parts) with every fc2
 * output at least 0.05 from its kinks at +-3. */
static void se_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in) {
    const int N = p->shape[0][0], C = p->shape[0][1], Cr = p->shape[1][0];
    const int hard = se_gate(p) == CLCNN_ACT_HARDSIGMOID;
    for (size_t i = 0; i < n; i++) x[i] = test_rng_uniform(rng, -1, 1);
    if (k == 2 && se_inner(p) == CLCNN_ACT_RELU)
        for (int j = 0; j < Cr; j++)
            for (int tries = 0; tries < 1000; tries++) {
                x[j] = test_rng_uniform(rng, -1, 1);
                double closest = 1e9;
                for (int s = 0; s < N; s++) closest = fmin(closest, fabs(se_hidden(p, in[0], in[1], x, s, j)));
                if (closest >= 0.05) break;
            }
    if (k == 4 && hard)
        for (int c = 0; c < C; c++)
            for (int tries = 0; tries < 1000; tries++) {
                x[c] = test_rng_uniform(rng, -5, 5);
                double closest = 1e9;
                for (int s = 0; s < N; s++) {
                    double u = x[c];
                    for (int j = 0; j < Cr; j++) {
                        const double v = se_hidden(p, in[0], in[1], in[2], s, j);
                        u += in[3][c * Cr + j] * (se_inner(p) == CLCNN_ACT_RELU ? fmax(v, 0.0) : v / (1.0 + exp(-v)));
                    }
                    closest = fmin(closest, fmin(fabs(u - 3.0), fabs(u + 3.0)));
                }
                if (closest >= 0.05) break;
            }
}

/* ReLU inside with a sigmoid gate through the original entry point, the others through
 * the _ex one. */
static int se_plain(const op_problem *p) { return se_inner(p) == CLCNN_ACT_RELU && se_gate(p) == CLCNN_ACT_SIGMOID; }

static clcnn_status se_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    const clcnn_tensor *res = p->n_in > 5 ? in[5] : NULL;
    return se_plain(p) ? clcnn_squeeze_excite(g_ctx, in[0], in[1], in[2], in[3], in[4], res, (clcnn_activation)p->act, y)
                       : clcnn_squeeze_excite_ex(g_ctx, in[0], in[1], in[2], in[3], in[4], (clcnn_activation)se_inner(p),
                                                 (clcnn_activation)se_gate(p), res, (clcnn_activation)p->act, y);
}

static void se_reference(const op_problem *p, const double *const *in, double *y) {
    const int *s = p->shape[0];
    const size_t n = in_elems(p);
    refd_squeeze_excite(in[0], s[0], s[1], s[2], s[3], in[1], in[2], in[3], in[4], p->shape[1][0], se_inner(p),
                        se_gate(p), y);
    for (size_t i = 0; p->n_in > 5 && i < n; i++) y[i] += in[5][i];
    ref_grad_activate(y, n, p->act, y);
}

/* Each gradient alone, or with the others; forward only with a residual or a final
 * activation (the backward is z = x * s's). */
static const char *se_way(const op_problem *p, int way) {
    return p->n_in > 5 || p->act != CLCNN_ACT_NONE ? NULL : way == 0 ? "alone" : way == 1 ? "with the others" : NULL;
}

static clcnn_status se_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)y;
    clcnn_tensor *g[OP_MAX_INPUTS];
    clcnn_status st = op_grads(p, way == 1, k, dx, g);
    const int acc = k == 0 && accumulate;
    if (st == CLCNN_OK)
        st = se_plain(p) ? clcnn_squeeze_excite_backward(g_ctx, in[0], in[1], in[2], in[3], in[4], dy, g[0], acc, g[1],
                                                         g[2], g[3], g[4])
                         : clcnn_squeeze_excite_ex_backward(g_ctx, in[0], in[1], in[2], in[3], in[4],
                                                            (clcnn_activation)se_inner(p), (clcnn_activation)se_gate(p),
                                                            dy, g[0], acc, g[1], g[2], g[3], g[4]);
    op_grads_free(g, k);
    return st;
}

/* The graph's count (layer_squeeze_excite.c): the two small products, the scaling and
 * the residual's addition. */
static double se_flops(const op_problem *p) {
    const double C = p->shape[0][1], Cr = p->shape[1][0];
    return 4.0 * p->shape[0][0] * C * Cr + (double)in_elems(p) * (p->n_in > 5 ? 3 : 2);
}

/* Forward 1e-4: sums of up to a few hundred products; backward atol 2e-5, rtol 1e-4:
 * each gradient passes through the pooled mean and two small products. */
static void se_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)p, (void)k;
    *forward = (op_tol){1e-4, 1e-4};
    *backward = (op_tol){2e-5, 1e-4};
}

static const op_desc squeeze_excite_desc = {
    .name = "squeeze_excite",
    .n_problems = SE_PROBLEMS,
    .draw = se_draw,
    .fill = se_fill,
    .forward = se_forward,
    .reference = se_reference,
    .backward = se_backward,
    .way_name = se_way,
    .flops = se_flops,
    .tolerance = se_tolerance,
    .accumulates_only = 0x1e, /* dw1, db1, dw2, db2 += */
};

/* ------------------------------------------------------------------- add -- */

/* y = act(a + b), a new y or written over a or over b, any activation; the backward is
 * the identity (the graph passes dy on), so the op has none. */
enum { ADD_PROBLEMS = 9 };

/* A random shape of 1..4 dims, small enough for elementwise tests. */
static int elementwise_shape(test_rng *rng, int shape[4]) {
    const int ndim = test_rng_int(rng, 1, 4);
    for (int i = 0; i < ndim; i++) shape[i] = test_rng_int(rng, 1, ndim <= 2 ? 67 : 13);
    return ndim;
}

static void add_draw(test_rng *rng, int i, op_problem *p) {
    static const char *const modes[] = {"", " y=a", " y=b"};
    const int ndim = elementwise_shape(rng, p->shape[0]);
    p->n_in = 2;
    p->ndim[0] = p->ndim[1] = p->y_ndim = ndim;
    memcpy(p->shape[1], p->shape[0], sizeof p->shape[1]);
    memcpy(p->y_shape, p->shape[0], sizeof p->y_shape);
    p->act = test_rng_int(rng, 0, CLCNN_ACT_COUNT - 1);
    p->in_place = i % 3; /* 0: a new y; 1: over a; 2: over b */
    p->lo = -4, p->hi = 4;
    snprintf(p->desc, sizeof p->desc, "x%s act %s%s", dims(ndim, p->shape[0]).s, act_name(p->act), modes[i % 3]);
}

static clcnn_status add_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    return clcnn_add(g_ctx, in[0], in[1], (clcnn_activation)p->act, y);
}

static void add_reference(const op_problem *p, const double *const *in, double *y) {
    const size_t n = in_elems(p);
    for (size_t i = 0; i < n; i++) y[i] = in[0][i] + in[1][i];
    ref_grad_activate(y, n, p->act, y);
}

static double add_flops(const op_problem *p) { return ops_add_flops((double)out_elems(p), (clcnn_activation)p->act); }

static const op_desc add_desc = {
    .name = "add",
    .n_problems = ADD_PROBLEMS,
    .draw = add_draw,
    .forward = add_forward,
    .reference = add_reference,
    .flops = add_flops,
    .tolerance = act_tolerance, /* one addition, rounded once, then the activation */
};

/* --------------------------------------------------------------- softmax -- */

/* Softmax or log-softmax over the last axis: 0 .. 7 random (up to 300 columns, values
 * +-10), then ImageNet's 1000 logits (+-30), values near 100 (exp overflows unless the
 * maximum is subtracted first) and a single column; the same problems for both. */
enum { SOFTMAX_PROBLEMS = 11 };

static void softmax_draw(test_rng *rng, int i, op_problem *p) {
    int ndim = 2;
    if (i < 8) {
        ndim = test_rng_int(rng, 1, 4);
        for (int d = 0; d < ndim - 1; d++) p->shape[0][d] = test_rng_int(rng, 1, 5);
        p->shape[0][ndim - 1] = test_rng_int(rng, 1, 300);
        p->lo = -10, p->hi = 10;
    } else {
        static const int fixed[3][4] = {{2, 1000, -30, 30}, {3, 17, 95, 105}, {4, 1, -5, 5}};
        memcpy(p->shape[0], fixed[i - 8], 2 * sizeof(int));
        p->lo = (float)fixed[i - 8][2], p->hi = (float)fixed[i - 8][3];
    }
    p->ndim[0] = p->y_ndim = ndim;
    memcpy(p->y_shape, p->shape[0], sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "x%s values in [%g, %g]", dims(ndim, p->shape[0]).s, (double)p->lo, (double)p->hi);
}

static void log_softmax_draw(test_rng *rng, int i, op_problem *p) {
    softmax_draw(rng, i, p);
    p->param[0] = 1;
}

static clcnn_status softmax_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    return clcnn_softmax(g_ctx, in[0], p->param[0], y);
}

static void softmax_reference(const op_problem *p, const double *const *in, double *y) {
    const int cols = p->shape[0][p->ndim[0] - 1];
    ref_grad_softmax(in[0], (int)(in_elems(p) / (size_t)cols), cols, p->param[0], y);
}

/* An exp, a sum and a division or a log per element. */
static double softmax_flops(const op_problem *p) { return 4.0 * (double)in_elems(p); }

/* 1e-5: exp and log are a few ulp in OpenCL; the row sums are short. */
static void softmax_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)p, (void)k;
    *forward = *backward = (op_tol){1e-5, 1e-5};
}

static const op_desc softmax_desc = {
    .name = "softmax",
    .n_problems = SOFTMAX_PROBLEMS,
    .draw = softmax_draw,
    .forward = softmax_forward,
    .reference = softmax_reference,
    .flops = softmax_flops,
    .tolerance = softmax_tolerance,
};
static const op_desc log_softmax_desc = {
    .name = "log_softmax",
    .n_problems = SOFTMAX_PROBLEMS,
    .draw = log_softmax_draw,
    .forward = softmax_forward,
    .reference = softmax_reference,
    .flops = softmax_flops,
    .tolerance = softmax_tolerance,
};

/* ---------------------------------------------------- inference dropout -- */

/* The identity, exactly. */
enum { DROPOUT_INFERENCE_PROBLEMS = 6 };

static void identity_draw(test_rng *rng, int i, op_problem *p) {
    (void)i;
    const int ndim = elementwise_shape(rng, p->shape[0]);
    p->ndim[0] = p->y_ndim = ndim;
    memcpy(p->y_shape, p->shape[0], sizeof p->y_shape);
    p->lo = -5, p->hi = 5;
    snprintf(p->desc, sizeof p->desc, "x%s", dims(ndim, p->shape[0]).s);
}

static clcnn_status dropout_inference_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    (void)p;
    return clcnn_dropout_inference(g_ctx, in[0], y);
}

static void identity_reference(const op_problem *p, const double *const *in, double *y) {
    memcpy(y, in[0], in_elems(p) * sizeof *y);
}

static const op_desc dropout_inference_desc = {
    .name = "dropout_inference",
    .n_problems = DROPOUT_INFERENCE_PROBLEMS,
    .draw = identity_draw,
    .forward = dropout_inference_forward,
    .reference = identity_reference,
    .flops = no_flops,
    .tolerance = exact_tolerance,
};

/* ------------------------------------------------------ inference batch norm -- */

/* y = (x - mean) / sqrt(var + eps) * gamma + beta per channel (axis 1), with inputs x,
 * gamma, beta, mean, var; ranks 2 to 4, eps 1e-5 or 1e-3; the last a 17 x 19 plane of
 * 13 channels. In training the graph uses clcnn_batchnorm_train (test_grad_norm.c), so
 * this form has no backward. */
enum { BATCHNORM_PROBLEMS = 10 };

static void batchnorm_draw(test_rng *rng, int i, op_problem *p) {
    int xs[4] = {2, 13, 17, 19}, ndim = 4;
    if (i < 9) {
        xs[0] = test_rng_int(rng, 1, 3), xs[1] = test_rng_int(rng, 1, 40), ndim = test_rng_int(rng, 2, 4);
        for (int d = 2; d < ndim; d++) xs[d] = test_rng_int(rng, 1, 13);
        p->fparam[0] = test_rng_int(rng, 0, 1) ? 1e-5f : 1e-3f;
    } else {
        p->fparam[0] = 1e-5f;
    }
    p->n_in = 5;
    p->ndim[0] = p->y_ndim = ndim;
    memcpy(p->shape[0], xs, sizeof xs);
    memcpy(p->y_shape, xs, sizeof xs);
    for (int k = 1; k < 5; k++) p->ndim[k] = 1, p->shape[k][0] = xs[1];
    snprintf(p->desc, sizeof p->desc, "x%s eps %g", dims(ndim, xs).s, (double)p->fparam[0]);
}

/* x in [-3, 3]; gamma in [-2, 2], beta and mean in [-1, 1], var in [0.01, 3]. */
static void batchnorm_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in) {
    (void)p, (void)in;
    static const float lo[5] = {-3, -2, -1, -1, 0.01f}, hi[5] = {3, 2, 1, 1, 3};
    for (size_t i = 0; i < n; i++) x[i] = test_rng_uniform(rng, lo[k], hi[k]);
}

static clcnn_status batchnorm_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    return clcnn_batchnorm(g_ctx, in[0], in[1], in[2], in[3], in[4], p->fparam[0], y);
}

static void batchnorm_reference(const op_problem *p, const double *const *in, double *y) {
    const int N = p->shape[0][0], C = p->shape[0][1];
    double *invstd = malloc((size_t)C * sizeof *invstd);
    if (!invstd) return test_fail(__FILE__, __LINE__, "batchnorm reference: no host memory");
    for (int c = 0; c < C; c++) invstd[c] = 1.0 / sqrt(in[4][c] + (double)p->fparam[0]);
    ref_bn_fixed(in[0], N, C, (int)(in_elems(p) / ((size_t)N * C)), in[1], in[2], in[3], invstd, y);
    free(invstd);
}

static double batchnorm_flops(const op_problem *p) { return ops_batchnorm_flops((double)out_elems(p)); }

/* 1e-5: sqrt is a few ulp in OpenCL; the rest one product and one sum. */
static void batchnorm_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)p, (void)k;
    *forward = *backward = (op_tol){1e-5, 1e-5};
}

static const op_desc batchnorm_desc = {
    .name = "batchnorm",
    .n_problems = BATCHNORM_PROBLEMS,
    .draw = batchnorm_draw,
    .fill = batchnorm_fill,
    .forward = batchnorm_forward,
    .reference = batchnorm_reference,
    .flops = batchnorm_flops,
    .tolerance = batchnorm_tolerance,
};

/* ----------------------------------------------------------- convolution -- */

/* y = act(conv2d(x, w) + b + residual), inputs x, w, then b and the residual where the
 * problem has them (param[0], param[1]: their indices, -1 without). op_conv2d: 10 of
 * any kind (dense, grouped, depthwise; kernels up to 7, strides up to 3, dilation up to
 * 2) and 4 fixed (tails of every tile, a residual 3x3, a stem, a dilated one), then 14
 * small ones without activation or residual for the backward (groups 1, 2 or
 * depthwise); op_conv2d_1x1: 8 1x1s and 3 fixed; op_conv2d_grouped: 10 grouped or
 * depthwise and 3 fixed (MobileNet's, EfficientNet's, ResNeXt's). At CLCNN_TEST_SMALL 4 random ones of each
 * forward kind run, and the fixed ones at most 12 x 12. Forward only with an activation
 * or a residual: the backward is the convolution's. */
enum { CONV_ANY_N = 10, CONV_1X1_N = 8, CONV_GROUPED_N = 10, CONV_BACKWARD_N = 14 };

typedef struct {
    int N, Cin, H, W, Cout, KH, KW;
    clcnn_conv_params p; /* fully spelled out: no zeros read as 1 */
    int bias, residual, act;
} conv_fixed;

#define CONV_P(s, pd, d, g) {.stride_h = s, .stride_w = s, .pad_h = pd, .pad_w = pd, .dilation_h = d, .dilation_w = d, .groups = g}

static const conv_fixed conv_any_fixed[] = {
    {2, 5, 19, 21, 13, 3, 3, CONV_P(1, 0, 1, 1), 1, 0, CLCNN_ACT_RELU},    /* 17x19 output, Cout 13: no tile's multiple */
    {1, 24, 35, 35, 13, 3, 3, CONV_P(1, 1, 1, 1), 1, 1, CLCNN_ACT_RELU6},  /* a ResNet-like 3x3 with residual */
    {1, 3, 45, 45, 17, 7, 7, CONV_P(2, 3, 1, 1), 0, 0, CLCNN_ACT_NONE},    /* a stem: 7x7 stride 2 pad 3 on RGB */
    {2, 7, 15, 13, 11, 3, 3, CONV_P(1, 2, 2, 1), 1, 0, CLCNN_ACT_SILU},    /* dilated 3x3 keeping the size */
};
static const conv_fixed conv_1x1_fixed[] = {
    {2, 37, 17, 19, 13, 1, 1, CONV_P(1, 0, 1, 1), 1, 1, CLCNN_ACT_RELU},
    {1, 64, 7, 7, 70, 1, 1, CONV_P(1, 0, 1, 1), 1, 0, CLCNN_ACT_NONE},
    {3, 16, 15, 15, 24, 1, 1, CONV_P(2, 0, 1, 1), 0, 0, CLCNN_ACT_SIGMOID},
};
static const conv_fixed conv_grouped_fixed[] = {
    {2, 32, 15, 15, 32, 3, 3, CONV_P(2, 1, 1, 32), 1, 0, CLCNN_ACT_RELU6}, /* MobileNet depthwise 3x3 stride 2 */
    {1, 13, 17, 19, 13, 5, 5, CONV_P(1, 2, 1, 13), 1, 1, CLCNN_ACT_SILU},  /* EfficientNet depthwise 5x5 */
    {2, 20, 9, 11, 20, 3, 3, CONV_P(1, 1, 1, 4), 0, 1, CLCNN_ACT_RELU},    /* ResNeXt grouped 3x3 */
};
enum {
    CONV_ANY_FIXED = sizeof conv_any_fixed / sizeof conv_any_fixed[0],
    CONV_1X1_FIXED = sizeof conv_1x1_fixed / sizeof conv_1x1_fixed[0],
    CONV_GROUPED_FIXED = sizeof conv_grouped_fixed / sizeof conv_grouped_fixed[0],
    CONV_ANY_PROBLEMS = CONV_ANY_N + CONV_ANY_FIXED + CONV_BACKWARD_N,
    CONV_1X1_PROBLEMS = CONV_1X1_N + CONV_1X1_FIXED,
    CONV_GROUPED_PROBLEMS = CONV_GROUPED_N + CONV_GROUPED_FIXED
};

/* Smallest input extent that still gives one output. */
static int conv_min_in(int k, int pad, int dil) {
    const int need = dil * (k - 1) + 1 - 2 * pad;
    return need > 1 ? need : 1;
}

enum { CONV_ANY, CONV_1X1, CONV_GROUPED };

/* A random forward problem of a kind. */
static conv_fixed conv_random(test_rng *rng, int kind) {
    conv_fixed c = {.N = test_rng_int(rng, 1, 3)};
    clcnn_conv_params *p = &c.p;
    int cin_g, cout_g, groups, pick = test_rng_int(rng, 0, 3);
    if (kind == CONV_1X1) {
        groups = 1, cin_g = test_rng_int(rng, 1, 40), cout_g = test_rng_int(rng, 1, 40);
    } else if (kind == CONV_GROUPED ? pick < 2 : pick == 0) { /* depthwise, multiplier 1 or 2 */
        groups = test_rng_int(rng, 2, 19), cin_g = 1, cout_g = test_rng_int(rng, 1, 2);
    } else if (kind == CONV_GROUPED || pick == 1) {
        groups = test_rng_int(rng, 2, 4), cin_g = test_rng_int(rng, 2, 5), cout_g = test_rng_int(rng, 1, 4);
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

/* A small backward problem (test_grad_conv.c's geometry): groups 1, 2 or depthwise. */
static conv_fixed conv_small(test_rng *rng, int i) {
    refd_conv_shape s = {0};
    const int kind = i % 3;
    s.groups = kind == 0 ? 1 : kind == 1 ? 2 : test_rng_int(rng, 2, 5);
    s.C = kind == 2 ? s.groups : s.groups * test_rng_int(rng, 1, 3);
    s.Cout = s.groups * test_rng_int(rng, 1, kind == 2 ? 2 : 3);
    s.N = test_rng_int(rng, 1, 3);
    tu_random_conv_geometry(rng, &s, 3, 2, 7);
    return (conv_fixed){s.N, s.C, s.H, s.W, s.Cout, s.KH, s.KW,
                        {.stride_h = s.sh, .stride_w = s.sw, .pad_h = s.ph, .pad_w = s.pw, .dilation_h = s.dh,
                         .dilation_w = s.dw, .groups = s.groups},
                        1, 0, CLCNN_ACT_NONE};
}

static refd_conv_shape conv_shape_of(const op_problem *p) {
    const clcnn_conv_params *q = &p->conv;
    const int *x = p->shape[0], *w = p->shape[1];
    return (refd_conv_shape){.N = x[0], .C = x[1], .H = x[2], .W = x[3], .Cout = w[0], .KH = w[2], .KW = w[3],
                             .sh = q->stride_h, .sw = q->stride_w, .ph = q->pad_h, .pw = q->pad_w,
                             .dh = q->dilation_h, .dw = q->dilation_w, .groups = q->groups,
                             .OH = p->y_shape[2], .OW = p->y_shape[3]};
}

/* Problem j of kind k (CONV_ANY, CONV_1X1, CONV_GROUPED: random ones, then the fixed
 * ones; 3: the small backward ones). */
static void conv_draw_kind(test_rng *rng, int k, int j, op_problem *p) {
    static const struct {
        int kind, random;
        const conv_fixed *fixed;
        int nfixed;
    } kinds[] = {{CONV_ANY, CONV_ANY_N, conv_any_fixed, CONV_ANY_FIXED},
                 {CONV_1X1, CONV_1X1_N, conv_1x1_fixed, CONV_1X1_FIXED},
                 {CONV_GROUPED, CONV_GROUPED_N, conv_grouped_fixed, CONV_GROUPED_FIXED}};
    conv_fixed c;
    if (k == 3) {
        c = conv_small(rng, j);
    } else if (j < kinds[k].random) {
        c = conv_random(rng, kinds[k].kind);
        p->skip = j >= test_reps(kinds[k].random, 4);
    } else {
        c = kinds[k].fixed[j - kinds[k].random];
        c.H = test_cap(c.H, 12), c.W = test_cap(c.W, 12); /* CLCNN_TEST_SMALL: every fixed case still fits */
    }
    const clcnn_conv_params *q = &c.p;
    const int OH = ref_conv2d_out_size(c.H, c.KH, q->stride_h, q->pad_h, q->dilation_h);
    const int OW = ref_conv2d_out_size(c.W, c.KW, q->stride_w, q->pad_w, q->dilation_w);
    p->conv = c.p;
    p->act = c.act;
    p->n_in = 2 + c.bias + c.residual;
    p->param[0] = c.bias ? 2 : -1;
    p->param[1] = c.residual ? 2 + c.bias : -1;
    p->ndim[0] = p->ndim[1] = p->y_ndim = 4;
    memcpy(p->shape[0], (int[4]){c.N, c.Cin, c.H, c.W}, sizeof p->shape[0]);
    memcpy(p->shape[1], (int[4]){c.Cout, c.Cin / q->groups, c.KH, c.KW}, sizeof p->shape[1]);
    memcpy(p->y_shape, (int[4]){c.N, c.Cout, OH, OW}, sizeof p->y_shape);
    if (c.bias) p->ndim[2] = 1, p->shape[2][0] = c.Cout;
    if (c.residual) p->ndim[p->param[1]] = 4, memcpy(p->shape[p->param[1]], p->y_shape, sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "x%s w%s stride %d,%d pad %d,%d dil %d,%d groups %d%s%s act %s",
             dims(4, p->shape[0]).s, dims(4, p->shape[1]).s, q->stride_h, q->stride_w, q->pad_h, q->pad_w,
             q->dilation_h, q->dilation_w, q->groups, c.bias ? " bias" : "", c.residual ? " residual" : "",
             act_name(c.act));
}

/* op_conv2d: any kind, then the small backward problems; op_conv2d_1x1; op_conv2d_grouped
 * (the GEMM tests' second Oclgrind pass and the ISA report run the 1x1s alone). */
static void conv_any_draw(test_rng *rng, int i, op_problem *p) {
    const int any = CONV_ANY_N + CONV_ANY_FIXED;
    conv_draw_kind(rng, i < any ? 0 : 3, i < any ? i : i - any, p);
}
static void conv_1x1_draw(test_rng *rng, int i, op_problem *p) { conv_draw_kind(rng, 1, i, p); }
static void conv_grouped_draw(test_rng *rng, int i, op_problem *p) { conv_draw_kind(rng, 2, i, p); }

/* x, b and the residual in [-1, 1]; w in +-1/sqrt(fan-in) on the forward problems (outputs
 * of order 1), in [-1, 1] on the backward ones (as test_grad_conv.c's). */
static void conv_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in) {
    (void)in;
    const int *w = p->shape[1], fan_in = w[1] * w[2] * w[3];
    const int forward_kind = p->act != CLCNN_ACT_NONE || p->param[1] >= 0 || p->shape[0][2] > 7 || p->shape[0][3] > 7;
    const float s = k == 1 && forward_kind ? 1.0f / sqrtf((float)fan_in) : 1.0f;
    for (size_t i = 0; i < n; i++) x[i] = test_rng_uniform(rng, -s, s);
}

static clcnn_status conv_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    int shape[4];
    const clcnn_status st = clcnn_conv2d_output_shape(in[0], in[1], &p->conv, shape);
    if (st == CLCNN_OK)
        CHECK(!memcmp(shape, p->y_shape, sizeof shape), "%s: clcnn_conv2d_output_shape gives %s, want %s", p->desc,
              dims(4, shape).s, dims(4, p->y_shape).s);
    return st != CLCNN_OK ? st
                          : clcnn_conv2d(g_ctx, in[0], in[1], p->param[0] >= 0 ? in[p->param[0]] : NULL, &p->conv,
                                         p->param[1] >= 0 ? in[p->param[1]] : NULL, (clcnn_activation)p->act, y);
}

static void conv_reference(const op_problem *p, const double *const *in, double *y) {
    const refd_conv_shape s = conv_shape_of(p);
    const size_t n = out_elems(p);
    refd_conv2d(&s, in[0], in[1], p->param[0] >= 0 ? in[p->param[0]] : NULL, y);
    for (size_t i = 0; p->param[1] >= 0 && i < n; i++) y[i] += in[p->param[1]][i];
    ref_grad_activate(y, n, p->act, y);
}

static const char *conv_way(const op_problem *p, int way) {
    return p->act != CLCNN_ACT_NONE || p->param[1] >= 0 ? NULL : way == 0 ? "alone" : way == 1 ? "with the others" : NULL;
}

static clcnn_status conv_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                  const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)y;
    clcnn_tensor *g[OP_MAX_INPUTS];
    clcnn_status st = op_grads(p, way == 1, k, dx, g);
    if (st == CLCNN_OK)
        st = clcnn_conv2d_backward(g_ctx, in[0], in[1], &p->conv, dy, g[0], k == 0 && accumulate, g[1],
                                   p->param[0] >= 0 ? g[p->param[0]] : NULL);
    op_grads_free(g, k);
    return st;
}

static double conv_flops(const op_problem *p) { return ops_conv2d_flops((double)out_elems(p), p->shape[1]); }

/* Forward 1e-4: sums of up to a few hundred products of O(1) values. Backward atol
 * 2e-6 (T + 10), rtol 1e-4, with T the products each gradient element sums: KH KW
 * Cout/groups for dx, N OH OW for dw and db. */
static void conv_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    const int *w = p->shape[1];
    const double terms = k == 0 ? (double)w[2] * w[3] * (w[0] / p->conv.groups)
                                : (double)p->y_shape[0] * p->y_shape[2] * p->y_shape[3];
    *forward = (op_tol){1e-4, 1e-4};
    *backward = (op_tol){2e-6 * (terms + 10.0), 1e-4};
}

/* The three convolution descriptors differ only in their problems. */
#define CONV_DESC(NAME, PROBLEMS, DRAW)                                                                            \
    {.name = NAME, .n_problems = PROBLEMS, .draw = DRAW, .fill = conv_fill, .forward = conv_forward,               \
     .reference = conv_reference, .backward = conv_backward, .way_name = conv_way, .flops = conv_flops,            \
     .tolerance = conv_tolerance,                                                                                  \
     .accumulates_only = 1u << 1 | 1u << 2} /* dw += and db += (b, where there is one, is input 2) */
static const op_desc conv2d_desc = CONV_DESC("conv2d", CONV_ANY_PROBLEMS, conv_any_draw);
static const op_desc conv2d_1x1_desc = CONV_DESC("conv2d_1x1", CONV_1X1_PROBLEMS, conv_1x1_draw);
static const op_desc conv2d_grouped_desc = CONV_DESC("conv2d_grouped", CONV_GROUPED_PROBLEMS, conv_grouped_draw);

/* ------------------------------------------------------------------ GEMM -- */

/* C = alpha op(A) op(B) + beta C through each backend (param[0]: the project's kernel,
 * auto, CLBlast's when the library has it, not at CLCNN_TEST_SMALL), inputs A, B and C
 * (which y is): per backend two problems of each transposition, up to 70 a side, alpha
 * 1 or random, beta 0, 1, 0.5 or -1.25 (the second of each pair not 0); then one past
 * tile multiples, whole tiles, and 1 x 1 x 1. */
enum { GEMM_PER_BACKEND = 11, GEMM_PROBLEMS = 3 * GEMM_PER_BACKEND };

static void gemm_draw(test_rng *rng, int i, op_problem *p) {
    static const clcnn_gemm_backend backends[3] = {CLCNN_GEMM_OWN, CLCNN_GEMM_AUTO, CLCNN_GEMM_CLBLAST};
    static const float betas[] = {0.0f, 1.0f, 0.5f, -1.25f};
    const int j = i % GEMM_PER_BACKEND;
    int ta, tb, M, N, K;
    float alpha, beta;
    p->param[0] = backends[i / GEMM_PER_BACKEND];
    if (j < 8) {
        ta = (j / 2) & 1, tb = (j / 2) >> 1;
        alpha = test_rng_int(rng, 0, 1) ? 1.0f : test_rng_uniform(rng, -2, 2);
        M = test_rng_int(rng, 1, 70), N = test_rng_int(rng, 1, 70), K = test_rng_int(rng, 1, 70);
        beta = betas[test_rng_int(rng, 0, 3) | (j % 2)];
    } else if (j == 8) {
        ta = tb = 0, M = 65, N = 33, K = 129, alpha = 1.0f, beta = 0.5f;
    } else if (j == 9) {
        ta = tb = 1, M = test_cap(128, 48), N = test_cap(128, 64), K = test_cap(128, 48), alpha = -0.75f, beta = 1.0f;
    } else {
        ta = 0, tb = 1, M = N = K = 1, alpha = 2.0f, beta = 0.0f;
    }
    p->skip = p->param[0] == CLCNN_GEMM_CLBLAST && (!clcnn_have_clblast() || test_small());
    p->n_in = 3;
    p->in_place = 3; /* y is C */
    p->param[1] = ta << 1 | tb;
    p->fparam[0] = alpha, p->fparam[1] = beta;
    p->lo = -1, p->hi = 1;
    p->ndim[0] = p->ndim[1] = p->ndim[2] = p->y_ndim = 2;
    memcpy(p->shape[0], (int[4]){ta ? K : M, ta ? M : K}, sizeof p->shape[0]);
    memcpy(p->shape[1], (int[4]){tb ? N : K, tb ? K : N}, sizeof p->shape[1]);
    memcpy(p->shape[2], (int[4]){M, N}, sizeof p->shape[2]);
    memcpy(p->y_shape, (int[4]){M, N}, sizeof p->y_shape);
    snprintf(p->desc, sizeof p->desc, "backend %d %s%s M %d N %d K %d alpha %g beta %g", p->param[0],
             ta ? "A^T" : "A", tb ? " B^T" : " B", M, N, K, (double)alpha, (double)beta);
}
static clcnn_status gemm_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    return clcnn_gemm(g_ctx, (clcnn_gemm_backend)p->param[0], p->param[1] >> 1, p->param[1] & 1, p->fparam[0], in[0],
                      in[1], p->fparam[1], y);
}

static void gemm_reference(const op_problem *p, const double *const *in, double *y) {
    const int ta = p->param[1] >> 1, M = p->y_shape[0], N = p->y_shape[1], K = p->shape[0][ta ? 0 : 1];
    refd_gemm(ta, p->param[1] & 1, M, N, K, p->fparam[0], in[0], in[1], p->fparam[1], in[2], y);
}

static double gemm_flops(const op_problem *p) {
    return 2.0 * p->y_shape[0] * p->y_shape[1] * p->shape[0][p->param[1] >> 1 ? 0 : 1];
}

/* 1e-4: sums of up to a few hundred products of values in [-1, 1]. */
static void gemm_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)p, (void)k;
    *forward = *backward = (op_tol){1e-4, 1e-4};
}

static const op_desc gemm_desc = {
    .name = "gemm",
    .n_problems = GEMM_PROBLEMS,
    .draw = gemm_draw,
    .forward = gemm_forward,
    .reference = gemm_reference,
    .flops = gemm_flops,
    .tolerance = gemm_tolerance,
};

/* ------------------------------------------------------ training batch norm -- */

/* act(batch norm(x)) in training: with the batch's own statistics (clcnn_batchnorm_train
 * forward, their dependence on x differentiated) or fixed ones (a frozen norm: the
 * inference forward, clcnn_batchnorm_invstd and the backward with batch_stats 0), act
 * none, ReLU or ReLU6 (the fused backwards). Six variants of 12 problems each (problem
 * i: variant i / 12): 8 random shapes of 2 to 4 dimensions and at most 400 values with
 * 2 or more per channel, then 2 values per channel (xhat = +-1), a long 2-D batch, and
 * planes smaller than the work-items that share a channel. Inputs gamma, beta, (mean,
 * var,) x: x last, so that its fill can keep every output off the activation's kinks. */
enum { BN_TRAIN_VARIANTS = 6, BN_TRAIN_PER_VARIANT = 12, BN_MAX_C = 16 };

static long bn_above_top; /* outputs above ReLU6's top, over a run (its mask's coverage) */

static int bn_batch_stats(const op_problem *p) { return p->param[0]; }
static int bn_x(const op_problem *p) { return p->n_in - 1; }

static void bn_train_draw(test_rng *rng, int i, op_problem *p) {
    static const int acts[3] = {CLCNN_ACT_NONE, CLCNN_ACT_RELU, CLCNN_ACT_RELU6};
    static const int fixed[4][5] = {{2, 2, 3}, {2, 150, 2}, {4, 40, 2, 1, 3}, {4, 3, 5, 7, 5}};
    const int variant = i / BN_TRAIN_PER_VARIANT, j = i % BN_TRAIN_PER_VARIANT;
    int ndim, xs[4] = {1, 1, 1, 1};
    p->param[0] = variant % 2 == 0; /* batch statistics */
    p->act = acts[variant / 2];
    if (j < 8) {
        for (;;) {
            ndim = test_rng_int(rng, 2, 4);
            xs[0] = test_rng_int(rng, 1, 6), xs[1] = test_rng_int(rng, 1, 7), xs[2] = xs[3] = 1;
            if (ndim == 2) xs[0] = test_rng_int(rng, 2, 40);
            for (int d = 2; d < ndim; d++) xs[d] = test_rng_int(rng, 1, 9);
            const size_t n = numel(ndim, xs);
            if (n <= 400 && n / (size_t)xs[1] >= 2) break;
        }
    } else {
        ndim = fixed[j - 8][0];
        memcpy(xs, fixed[j - 8] + 1, (size_t)ndim * sizeof(int));
    }
    p->fparam[0] = 1e-5f;
    p->n_in = bn_batch_stats(p) ? 3 : 5;
    p->constants = bn_batch_stats(p) ? 0 : 1u << 2 | 1u << 3; /* a frozen norm's mean and var */
    for (int k = 0; k < p->n_in - 1; k++) p->ndim[k] = 1, p->shape[k][0] = xs[1];
    p->ndim[bn_x(p)] = p->y_ndim = ndim;
    memcpy(p->shape[bn_x(p)], xs, sizeof xs);
    memcpy(p->y_shape, xs, sizeof xs);
    snprintf(p->desc, sizeof p->desc, "x %s (%s%s%s)", dims(ndim, xs).s, bn_batch_stats(p) ? "batch" : "fixed",
             p->act ? ", " : "", p->act ? act_name(p->act) : "");
}

/* The statistics x is normalised with: the batch's (double) or the fixed ones. */
static void bn_stats(const op_problem *p, const double *x, const float *fmean, const float *fvar, double *mean,
                     double *invstd) {
    const int *s = p->shape[bn_x(p)], C = s[1];
    double var[BN_MAX_C];
    if (bn_batch_stats(p)) ref_bn_batch_stats(x, s[0], C, (int)(numel(p->y_ndim, s) / ((size_t)s[0] * C)), mean, var);
    for (int c = 0; c < C; c++) {
        if (!bn_batch_stats(p)) mean[c] = fmean[c], var[c] = fvar[c];
        invstd[c] = 1.0 / sqrt(var[c] + (double)p->fparam[0]);
    }
}

/* gamma +-[0.5, 1.5] (times 5 under ReLU6, so that many outputs lie above its top),
 * beta in [-1, 1] (with beta +- gamma off the kinks), a frozen mean in [-1, 1], a frozen
 * var in [0.2, 3]. x per channel an offset in +-2 plus a spread of 0.5 to 2 (channels
 * differ), drawn again while the channel's variance is under a tenth of the spread's
 * square (batch norm bends on the scale of the standard deviation; a nearly equal pair
 * would make the finite differences' step too coarse); with an activation, values
 * whose output lies within 0.05 of a kink (0, and 6 for ReLU6) are moved by up to 0.5
 * until none does. */
static void bn_train_fill(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in) {
    if (k != bn_x(p)) {
        static const float lo[4] = {0.5f, -1, -1, 0.2f}, hi[4] = {1.5f, 1, 1, 3};
        for (size_t i = 0; i < n; i++) x[i] = test_rng_uniform(rng, lo[k], hi[k]);
        for (size_t i = 0; k == 0 && i < n; i++)
            x[i] *= (test_rng_int(rng, 0, 1) ? 1.0f : -1.0f) * (p->act == CLCNN_ACT_RELU6 ? 5.0f : 1.0f);
        /* With 2 values per channel and the batch's statistics the outputs are beta +- gamma
         * whatever x is: beta keeps those off the kinks. */
        const double top = p->act == CLCNN_ACT_RELU6 ? 6.0 : INFINITY;
        for (size_t c = 0; k == 1 && p->act && c < n; c++)
            for (int tries = 0; tries < 100; tries++) {
                const double lo = x[c] - fabs(in[0][c]), hi = x[c] + fabs(in[0][c]);
                if (fmin(fabs(lo), fabs(hi)) >= 0.05 && fmin(fabs(lo - top), fabs(hi - top)) >= 0.05) break;
                x[c] = test_rng_uniform(rng, -1, 1);
            }
        return;
    }
    const int *s = p->shape[k], N = s[0], C = s[1], S = (int)(n / ((size_t)N * C)), M = N * S;
    for (int c = 0; c < C; c++) {
        const float off = test_rng_uniform(rng, -2.0f, 2.0f), spread = test_rng_uniform(rng, 0.5f, 2.0f);
        for (int tries = 0; tries < 100; tries++) {
            double sum = 0, sq = 0;
            for (int j = 0; j < M; j++) {
                const float u = test_rng_uniform(rng, -1.0f, 1.0f);
                x[((size_t)(j / S) * C + c) * S + j % S] = off + spread * u;
                sum += u, sq += (double)u * u;
            }
            if (sq / M - (sum / M) * (sum / M) >= 0.1) break;
        }
    }
    if (p->act == CLCNN_ACT_NONE) return;
    const double top = p->act == CLCNN_ACT_RELU6 ? 6.0 : INFINITY;
    double *xd = malloc(n * sizeof *xd), mean[BN_MAX_C], invstd[BN_MAX_C];
    CHECK(xd != NULL, "no host memory");
    for (int round = 0; xd && round < 100; round++) {
        for (size_t i = 0; i < n; i++) xd[i] = x[i];
        bn_stats(p, xd, in[2], in[3], mean, invstd);
        int moved = 0;
        for (size_t i = 0; i < n; i++) {
            const int c = (int)(i / (size_t)S % (size_t)C);
            const double y = (xd[i] - mean[c]) * invstd[c] * in[0][c] + in[1][c];
            if (fabs(y) < 0.05 || fabs(y - top) < 0.05) x[i] += test_rng_uniform(rng, -0.5f, 0.5f), moved++;
        }
        if (!moved) {
            for (size_t i = 0; i < n; i++) {
                const int c = (int)(i / (size_t)S % (size_t)C);
                bn_above_top += (xd[i] - mean[c]) * invstd[c] * in[0][c] + in[1][c] > top;
            }
            free(xd);
            return;
        }
    }
    CHECK(!xd, "x %s: values stay near the activation's kinks", dims(p->y_ndim, s).s);
    free(xd);
}

static clcnn_status bn_train_forward(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y) {
    clcnn_status st;
    if (bn_batch_stats(p)) {
        clcnn_tensor *mean = NULL, *invstd = NULL;
        st = clcnn_tensor_create(g_ctx, 1, p->shape[0], &mean);
        if (st == CLCNN_OK) st = clcnn_tensor_create(g_ctx, 1, p->shape[0], &invstd);
        if (st == CLCNN_OK)
            st = clcnn_batchnorm_train(g_ctx, in[2], in[0], in[1], NULL, NULL, 0.1f, p->fparam[0], y, mean, invstd);
        clcnn_tensor_destroy(invstd);
        clcnn_tensor_destroy(mean);
    } else {
        st = clcnn_batchnorm(g_ctx, in[4], in[0], in[1], in[2], in[3], p->fparam[0], y);
    }
    return st == CLCNN_OK && p->act ? clcnn_activate(g_ctx, y, (clcnn_activation)p->act, y) : st;
}

static void bn_train_reference(const op_problem *p, const double *const *in, double *y) {
    const int *s = p->shape[bn_x(p)], C = s[1];
    const size_t n = numel(p->y_ndim, s);
    const int S = (int)(n / ((size_t)s[0] * C));
    if (bn_batch_stats(p)) {
        ref_bn_train(in[2], s[0], C, S, in[0], in[1], p->fparam[0], y);
    } else {
        double invstd[BN_MAX_C];
        for (int c = 0; c < C; c++) invstd[c] = 1.0 / sqrt(in[3][c] + (double)p->fparam[0]);
        ref_bn_fixed(in[4], s[0], C, S, in[0], in[1], in[2], invstd, y);
    }
    ref_grad_activate(y, n, p->act, y);
}

/* The gradient alone (dx, or one of dgamma and dbeta with dx NULL) or with the others. */
static const char *bn_train_way(const op_problem *p, int way) {
    (void)p;
    return way == 0 ? "alone" : way == 1 ? "with the others" : NULL;
}

/* The statistics the backward is given: the device's own, from the forward or from
 * clcnn_batchnorm_invstd. */
static clcnn_status bn_train_backward(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                                      const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate) {
    (void)y;
    const int xi = bn_x(p);
    clcnn_tensor *g[OP_MAX_INPUTS], *mean = NULL, *invstd = NULL, *scratch = NULL;
    clcnn_status st = op_grads(p, way == 1, k, dx, g);
    if (st == CLCNN_OK) st = clcnn_tensor_create(g_ctx, 1, p->shape[0], &invstd);
    if (st == CLCNN_OK && bn_batch_stats(p)) {
        if ((st = clcnn_tensor_create(g_ctx, 1, p->shape[0], &mean)) == CLCNN_OK &&
            (st = clcnn_tensor_create(g_ctx, p->y_ndim, p->y_shape, &scratch)) == CLCNN_OK)
            st = clcnn_batchnorm_train(g_ctx, in[xi], in[0], in[1], NULL, NULL, 0.1f, p->fparam[0], scratch, mean, invstd);
    } else if (st == CLCNN_OK) {
        st = clcnn_batchnorm_invstd(g_ctx, in[3], p->fparam[0], invstd);
    }
    const clcnn_tensor *m = bn_batch_stats(p) ? mean : in[2];
    const int acc = k == xi && accumulate;
    if (st == CLCNN_OK && p->act == CLCNN_ACT_RELU)
        st = clcnn_batchnorm_relu_backward(g_ctx, in[xi], in[0], in[1], m, invstd, bn_batch_stats(p), dy, g[xi], acc,
                                           g[0], g[1]);
    else if (st == CLCNN_OK && p->act)
        st = clcnn_batchnorm_act_backward(g_ctx, (clcnn_activation)p->act, in[xi], in[0], in[1], m, invstd,
                                          bn_batch_stats(p), dy, g[xi], acc, g[0], g[1]);
    else if (st == CLCNN_OK)
        st = clcnn_batchnorm_backward(g_ctx, in[xi], in[0], m, invstd, bn_batch_stats(p), dy, g[xi], acc, g[0], g[1]);
    clcnn_tensor_destroy(scratch);
    clcnn_tensor_destroy(invstd);
    clcnn_tensor_destroy(mean);
    op_grads_free(g, k);
    return st;
}

static double bn_train_flops(const op_problem *p) { return ops_batchnorm_flops((double)out_elems(p)); }

/* Forward 1e-4: O(1) values, mean and invstd good to ~1e-6 relative. Backward 2e-4,
 * 1e-3: dx ~ gamma invstd dy = O(1..5) with a cancelling mean subtraction; dgamma sums
 * up to ~400 terms; finite differences off by up to ~2e-5. */
static void bn_train_tolerance(const op_problem *p, int k, op_tol *forward, op_tol *backward) {
    (void)p, (void)k;
    *forward = (op_tol){1e-4, 1e-4};
    *backward = (op_tol){2e-4, 1e-3};
}

static const op_desc batchnorm_train_desc = {
    .name = "batchnorm_train",
    .n_problems = BN_TRAIN_VARIANTS * BN_TRAIN_PER_VARIANT,
    .draw = bn_train_draw,
    .fill = bn_train_fill,
    .forward = bn_train_forward,
    .reference = bn_train_reference,
    .backward = bn_train_backward,
    .way_name = bn_train_way,
    .flops = bn_train_flops,
    .tolerance = bn_train_tolerance,
    .accumulates_only = 1u << 0 | 1u << 1, /* dgamma += and dbeta += */
};

/* ------------------------------------------------------------------ cases -- */

static const op_desc *const descriptors[] = {&activate_desc,      &pool2d_max_desc, &pool2d_avg_desc,
                                             &global_avg_pool_desc, &resize_bilinear_desc, &linear_desc,
                                             &concat_desc,          &squeeze_excite_desc,  &add_desc,
                                             &softmax_desc,         &log_softmax_desc,     &dropout_inference_desc,
                                             &batchnorm_desc,       &conv2d_desc,          &conv2d_1x1_desc,
                                             &conv2d_grouped_desc,  &gemm_desc,
                                             &batchnorm_train_desc};

int op_table_run(const char *name) {
    for (size_t i = 0; i < sizeof descriptors / sizeof descriptors[0]; i++)
        if (!strcmp(descriptors[i]->name, name)) return op_harness_run(descriptors[i]), 1;
    return 0;
}

static void test_op_activate(void) { op_table_run("activate"); }
static void test_op_pool2d_max(void) { op_table_run("pool2d_max"); }
static void test_op_pool2d_avg(void) { op_table_run("pool2d_avg"); }
static void test_op_global_avg_pool(void) { op_table_run("global_avg_pool"); }
static void test_op_resize_bilinear(void) { op_table_run("resize_bilinear"); }
static void test_op_linear(void) { op_table_run("linear"); }
static void test_op_concat(void) { op_table_run("concat"); }
static void test_op_squeeze_excite(void) { op_table_run("squeeze_excite"); }
static void test_op_add(void) { op_table_run("add"); }
static void test_op_softmax(void) { op_table_run("softmax"); }
static void test_op_log_softmax(void) { op_table_run("log_softmax"); }
static void test_op_dropout_inference(void) { op_table_run("dropout_inference"); }
static void test_op_batchnorm(void) { op_table_run("batchnorm"); }
static void test_op_conv2d(void) { op_table_run("conv2d"); }
static void test_op_conv2d_1x1(void) { op_table_run("conv2d_1x1"); }
static void test_op_conv2d_grouped(void) { op_table_run("conv2d_grouped"); }
static void test_op_gemm(void) { op_table_run("gemm"); }

/* The training batch norm, and the coverage of ReLU6's mask: many outputs above its top. */
static void test_op_batchnorm_train(void) {
    bn_above_top = 0;
    op_table_run("batchnorm_train");
    CHECK(bn_above_top > 100, "only %ld outputs above ReLU6's top: its mask is hardly tested", bn_above_top);
}

const test_case test_op_table_cases[] = {
    {"op_activate", test_op_activate},
    {"op_pool2d_max", test_op_pool2d_max},
    {"op_pool2d_avg", test_op_pool2d_avg},
    {"op_global_avg_pool", test_op_global_avg_pool},
    {"op_resize_bilinear", test_op_resize_bilinear},
    {"op_linear", test_op_linear},
    {"op_concat", test_op_concat},
    {"op_squeeze_excite", test_op_squeeze_excite},
    {"op_add", test_op_add},
    {"op_softmax", test_op_softmax},
    {"op_log_softmax", test_op_log_softmax},
    {"op_dropout_inference", test_op_dropout_inference},
    {"op_batchnorm", test_op_batchnorm},
    {"op_conv2d", test_op_conv2d},
    {"op_conv2d_1x1", test_op_conv2d_1x1},
    {"op_conv2d_grouped", test_op_conv2d_grouped},
    {"op_gemm", test_op_gemm},
    {"op_batchnorm_train", test_op_batchnorm_train},
    {NULL, NULL},
};
