/* test_grad_conv.c: the backward of convolution, and Squeeze-and-Excitation's partial
 * calls and errors (linear's and SE's random shapes are in test_op_table.c), against
 * central finite differences of double-precision CPU forwards (tests/ref/ref_grad_conv.c),
 * with L = sum(r * y) for a random r (so dy = r).
 *
 * Every gradient output lives inside a raw cl_mem with sentinel guards on both
 * sides, which must survive. dx is pre-filled with NaN when not accumulating (it
 * must not be read) and with known values when accumulating; parameter gradients
 * are pre-filled with known values, which must be added to.
 *
 * Tolerances: |got - want| <= atol + rtol * |want|.
 *  - Convolution and linear are linear in each input, so their central differences
 *    (step 1e-3, in double) are exact to ~1e-10 and the float kernels set the error:
 *    rtol 1e-4 and atol 2e-6 * (terms + 10), terms being how many products of O(1)
 *    values one gradient element sums (a float32 sum of T such products is off by
 *    up to about T * 6e-8; measured errors are ~1e-6, some 100 times below).
 *  - Squeeze-and-Excitation is smooth away from ReLU's kink, which the test keeps
 *    every hidden unit at least 0.05 away from by choosing fc1's bias; there the
 *    differences' truncation error h^2 f''' / 6 is ~1e-7 and the float chain's
 *    error ~1e-6 (measured), so atol 2e-5 and rtol 1e-4. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "ops/ops.h"
#include "ref/gradcheck.h"
#include "ref/ref.h"
#include "ref/ref_grad_conv.h"
#include "testenv.h"
#include "op_harness.h"
#include "testutil.h"

/* ----------------------------------------------------------------- checks -- */

/* Check a device gradient against want (+ base, the pre-filled value, unless NULL). */
static void check_grad(arena *a, const char *what, const guarded *g, const double *want, const double *base,
                       double atol, double rtol) {
    double *expect = g && want ? ar_doubles(a, g->n) : NULL;
    if (!expect) return;
    for (size_t i = 0; i < g->n; i++) expect[i] = want[i] + (base ? base[i] : 0.0);
    ar_check(a, what, g, expect, atol, rtol, NULL);
}

/* atol for gradient elements that each sum `terms` products of O(1) values. */
static double sum_atol(double terms) { return 2e-6 * (terms + 10.0); }

/* ----------------------------------------------------------- convolution -- */

/* One convolution case's data, in double and on the device: x, w, b (FD cases
 * only), dy = r; dx pre-filled with dx0 (accumulating) or NaN; dw and db with dw0
 * and db0 (random, or zeros without CONV_PREFILL), which must be added to. */
typedef struct {
    refd_conv_shape s;
    int xs[4], ws[4], ys[4];
    size_t nx, nw, ny;
    double *x, *w, *b, *r, *dx0, *dw0, *db0;
    clcnn_tensor *tx, *tw, *tdy;
    guarded *dx, *dw, *db;
} conv_io;

enum { CONV_BIAS = 1, CONV_ACCUMULATE = 2, CONV_PREFILL = 4 };

/* Draws in the order x, w, b, r, dx0, dw0, db0 (each only where flags ask). */
static int conv_io_make(arena *a, test_rng *rng, refd_conv_shape s, int flags, conv_io *io) {
    s.OH = ref_conv2d_out_size(s.H, s.KH, s.sh, s.ph, s.dh);
    s.OW = ref_conv2d_out_size(s.W, s.KW, s.sw, s.pw, s.dw);
    *io = (conv_io){.s = s, .xs = {s.N, s.C, s.H, s.W}, .ws = {s.Cout, s.C / s.groups, s.KH, s.KW},
                    .ys = {s.N, s.Cout, s.OH, s.OW}};
    io->nx = numel(4, io->xs), io->nw = numel(4, io->ws), io->ny = numel(4, io->ys);
    io->x = ar_rand_d(a, rng, io->nx, -1, 1), io->w = ar_rand_d(a, rng, io->nw, -1, 1);
    io->b = flags & CONV_BIAS ? ar_rand_d(a, rng, (size_t)s.Cout, -1, 1) : NULL;
    io->r = ar_rand_d(a, rng, io->ny, -1, 1);
    io->dx0 = flags & CONV_ACCUMULATE ? ar_rand_d(a, rng, io->nx, -1, 1) : NULL;
    if (flags & CONV_PREFILL)
        io->dw0 = ar_rand_d(a, rng, io->nw, -1, 1), io->db0 = ar_rand_d(a, rng, (size_t)s.Cout, -1, 1);
    io->tx = ar_tensor_d(a, 4, io->xs, io->x), io->tw = ar_tensor_d(a, 4, io->ws, io->w);
    io->tdy = ar_tensor_d(a, 4, io->ys, io->r);
    io->dx = ar_guarded_d(a, 4, io->xs, io->dx0, NAN), io->dw = ar_guarded_d(a, 4, io->ws, io->dw0, 0.0f);
    io->db = ar_guarded_d(a, 1, &s.Cout, io->db0, 0.0f);
    return !a->bad;
}

static void conv_forward(const double *in, double *out, void *user) {
    (void)in; /* in is one of io's arrays, perturbed in place */
    const conv_io *io = user;
    refd_conv2d(&io->s, io->x, io->w, io->b, out);
}

static clcnn_conv_params conv_params(const refd_conv_shape *s) {
    return (clcnn_conv_params){.stride_h = s->sh, .stride_w = s->sw, .pad_h = s->ph, .pad_w = s->pw,
                               .dilation_h = s->dh, .dilation_w = s->dw, .groups = s->groups};
}

static clcnn_conv_params conv_params_by(const refd_conv_shape *s, clcnn_conv_algo algo) {
    clcnn_conv_params p = conv_params(s);
    p.algo = algo;
    return p;
}

/* io's dx, dw, db against gx, gw, gb plus what they were pre-filled with; atol by
 * the terms one element sums: KH KW Cout/groups for dx, N OH OW for dw and db. */
static void conv_check(arena *a, const conv_io *io, const double *gx, const double *gw, const double *gb) {
    const refd_conv_shape *s = &io->s;
    const double pixels = (double)s->N * s->OH * s->OW;
    check_grad(a, "dx", io->dx, gx, io->dx0, sum_atol((double)s->KH * s->KW * (s->Cout / s->groups)), 1e-4);
    check_grad(a, "dw", io->dw, gw, io->dw0, sum_atol(pixels), 1e-4);
    check_grad(a, "db", io->db, gb, io->db0, sum_atol(pixels), 1e-4);
}

/* conv_check against the reference's adjoint loops, for shapes FD cannot afford. */
static void conv_check_adjoint(arena *a, const conv_io *io) {
    double *gx = ar_doubles(a, io->nx), *gw = ar_doubles(a, io->nw), *gb = ar_doubles(a, (size_t)io->s.Cout);
    if (a->bad) return;
    refd_conv2d_backward(&io->s, io->x, io->w, io->r, gx, gw, gb);
    conv_check(a, io, gx, gw, gb);
}

/* One convolution case against finite differences: dx (overwritten or accumulated),
 * dw and db (added to their pre-filled values), the backward by algorithm algo (0: the
 * library's choice). */
static void conv_case_by(test_rng *rng, refd_conv_shape s, clcnn_conv_algo algo, int accumulate) {
    arena a = {0};
    ar_desc(&a, "x [%d, %d, %d, %d] w [%d, %d, %d, %d] stride %dx%d pad %dx%d dilation %dx%d groups %d%s", s.N, s.C,
            s.H, s.W, s.Cout, s.C / s.groups, s.KH, s.KW, s.sh, s.sw, s.ph, s.pw, s.dh, s.dw, s.groups,
            accumulate ? " accumulate" : "");
    conv_io io;
    if (!conv_io_make(&a, rng, s, CONV_BIAS | CONV_PREFILL | (accumulate ? CONV_ACCUMULATE : 0), &io)) goto done;
    const clcnn_conv_params cp = conv_params_by(&io.s, algo);
    if (!CASE_OK(&a, clcnn_conv2d_backward(g_ctx, io.tx, io.tw, &cp, io.tdy, io.dx->t, accumulate, io.dw->t,
                                           io.db->t)))
        goto done;
    const double *gx = ar_fd(&a, conv_forward, &io, io.x, io.nx, io.r, io.ny);
    const double *gw = ar_fd(&a, conv_forward, &io, io.w, io.nw, io.r, io.ny);
    const double *gb = ar_fd(&a, conv_forward, &io, io.b, (size_t)s.Cout, io.r, io.ny);
    if (!a.bad) conv_check(&a, &io, gx, gw, gb);
done:
    ar_free(&a);
}

static void conv_case(test_rng *rng, refd_conv_shape s, int accumulate) {
    conv_case_by(rng, s, CLCNN_CONV_ALGO_DEFAULT, accumulate);
}

/* Random small convolutions' backward: test_op_table.c's op_conv2d. */

/* The GPU family of kernels on this device (CLCNN_DEVICE_CLASS=gpu): a convolution's
 * weight gradient as an implicit GEMM (gemm_local gathering the columns from x, split
 * along its long K), and its data gradient as one too (stride 1: dy's columns with w
 * turned; strided: one GEMM per output phase), on a stem, strided 1x1s, a dilated,
 * grouped, padded case (GEMM + col2im), two stride-1 and a strided grouped one; and
 * the Squeeze-and-Excitation backward, whose pooling and scale gradient take a
 * work-group per plane there (plane_dots). */
static void test_gpu_family_backward(void) {
    env_saved saved;
    env_set(&saved, "CLCNN_DEVICE_CLASS", "gpu");
    clcnn_context *gpu = NULL, *cpu = g_ctx;
    CHECK_OK(clcnn_context_create(-1, &gpu));
    env_restore(&saved);
    if (!gpu) return;
    g_ctx = gpu; /* the cases make their tensors and run on g_ctx */
    test_rng rng = {g_seed ^ 0x6F0Aull};
    const refd_conv_shape cases[] = {
        {.N = 2, .C = 3, .H = 9, .W = 7, .Cout = 3, .KH = 7, .KW = 7, .sh = 2, .sw = 2, .ph = 3, .pw = 3, .dh = 1,
         .dw = 1, .groups = 1},
        {.N = 3, .C = 4, .H = 7, .W = 6, .Cout = 5, .KH = 1, .KW = 1, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .groups = 1},
        {.N = 2, .C = 4, .H = 8, .W = 9, .Cout = 6, .KH = 3, .KW = 2, .sh = 1, .sw = 2, .ph = 2, .pw = 1, .dh = 2,
         .dw = 1, .groups = 2},
        /* stride 1: dx as the forward convolution of dy, w read turned */
        {.N = 2, .C = 4, .H = 6, .W = 7, .Cout = 6, .KH = 3, .KW = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .groups = 2},
        {.N = 1, .C = 3, .H = 9, .W = 8, .Cout = 4, .KH = 5, .KW = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 2, .dh = 1,
         .dw = 2, .groups = 1},
        /* strided: dx by output phases; the 1x1's odd rows and columns take no tap (zeroed) */
        {.N = 2, .C = 4, .H = 9, .W = 8, .Cout = 6, .KH = 3, .KW = 3, .sh = 2, .sw = 3, .ph = 1, .pw = 1, .dh = 1,
         .dw = 1, .groups = 2},
        {.N = 2, .C = 3, .H = 7, .W = 6, .Cout = 5, .KH = 1, .KW = 1, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .groups = 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        refd_conv_shape s = cases[i];
        refd_conv_fit_input(&s);
        conv_case(&rng, s, (int)i % 2);
    }
    CHECK(op_table_run("squeeze_excite"), "no descriptor squeeze_excite in test_op_table.c");
    const clcnn_tensor stem_x = {.ctx = gpu, .ndim = 4, .shape = {2, 3, 9, 7}},
                       stem_w = {.ctx = gpu, .ndim = 4, .shape = {3, 3, 7, 7}};
    const clcnn_conv_params stem = {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3};
    const char *algo = ops_conv2d_wgrad_algorithm(gpu, &stem_x, &stem_w, &stem);
    /* where gemm_local cannot run (CLCNN_GEMM_LOCAL=off, a device's small work-groups) the columns are written */
    const char *want = gemm_conv_name(gpu);
    CHECK(!strcmp(algo, want), "the GPU family's stem weight gradient runs %s, not %s", algo, want);
    g_ctx = cpu;
    clcnn_context_destroy(gpu);
}

/* A ResNet stem: 7x7, stride 2, padding 3, odd input size. */
static void test_conv2d_backward_stem(void) {
    test_rng rng = {g_seed ^ 0x57E3ull};
    const refd_conv_shape s = {.N = 2, .C = 3, .H = 9, .W = 7, .Cout = 3, .KH = 7, .KW = 7,
                               .sh = 2, .sw = 2, .ph = 3, .pw = 3, .dh = 1, .dw = 1, .groups = 1};
    conv_case(&rng, s, 0);
    conv_case(&rng, s, 1);
}

/* 1x1 convolutions: stride 1 unpadded (the direct GEMM, no col2im), with groups and
 * accumulation; stride 2 and padded ones go through col2im (pixels no output touches). */
static void test_conv2d_backward_1x1(void) {
    test_rng rng = {g_seed ^ 0x1B1ull};
    const refd_conv_shape base = {.N = 3, .C = 6, .H = 5, .W = 3, .Cout = 4, .KH = 1, .KW = 1,
                                  .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
    refd_conv_shape s = base;
    conv_case(&rng, s, 0);
    conv_case(&rng, s, 1);
    s.groups = 2;
    conv_case(&rng, s, 1);
    s = base;
    s.sh = s.sw = 2;
    conv_case(&rng, s, 0);
    s = base;
    s.ph = 1;
    conv_case(&rng, s, 1);
}

/* 3x3 stride-1 convolutions forced to Winograd (clcnn_conv_params.algo): the weight
 * gradient runs as F(3x3, 4x4) and dX, where the batch has 1024 output pixels, as a
 * Winograd forward. Output sizes of every remainder mod 4, padding 0..2, channel
 * counts on both sides of the kernels' 8 lanes; every other case accumulates. */
static void test_conv2d_backward_winograd(void) {
    test_rng rng = {g_seed ^ 0x3D6Aull};
    for (int i = 0; i < 6; i++) {
        refd_conv_shape s = {.N = test_rng_int(&rng, 1, 2), .C = test_rng_int(&rng, 1, 6),
                             .Cout = test_rng_int(&rng, 1, 10), .KH = 3, .KW = 3, .sh = 1, .sw = 1,
                             .ph = test_rng_int(&rng, 0, 2), .pw = test_rng_int(&rng, 0, 2), .dh = 1, .dw = 1,
                             .groups = 1};
        s.H = 3 - 2 * s.ph + test_rng_int(&rng, 2, 8), s.W = 3 - 2 * s.pw + test_rng_int(&rng, 2, 8);
        if (s.H < 1) s.H = 1;
        if (s.W < 1) s.W = 1;
        conv_case_by(&rng, s, CLCNN_CONV_ALGO_WINOGRAD, i % 2);
    }
}

/* Outputs left NULL: dx alone without x, db alone without x or dx, dw alone; checked
 * against the reference's adjoint loops. */
static void test_conv2d_backward_partial(void) {
    test_rng rng = {g_seed ^ 0x9A27ull};
    const refd_conv_shape s = {.N = 2, .C = 4, .H = 6, .W = 5, .Cout = 6, .KH = 3, .KW = 2,
                               .sh = 2, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 2, .groups = 2};
    arena a = {0};
    ar_desc(&a, "partial outputs");
    conv_io io;
    if (!conv_io_make(&a, &rng, s, 0, &io)) goto done;
    const clcnn_conv_params cp = conv_params(&io.s);
    CASE_OK(&a, clcnn_conv2d_backward(g_ctx, NULL, io.tw, &cp, io.tdy, io.dx->t, 0, NULL, NULL));
    CASE_OK(&a, clcnn_conv2d_backward(g_ctx, NULL, io.tw, &cp, io.tdy, NULL, 0, NULL, io.db->t));
    CASE_OK(&a, clcnn_conv2d_backward(g_ctx, io.tx, io.tw, &cp, io.tdy, NULL, 0, io.dw->t, NULL));
    CASE_OK(&a, clcnn_conv2d_backward(g_ctx, io.tx, io.tw, &cp, io.tdy, NULL, 0, NULL, NULL)); /* nothing asked */
    conv_check_adjoint(&a, &io);
done:
    ar_free(&a);
}

/* A batch whose column scratch exceeds the backward's bound, so it runs in chunks of
 * two images and a tail of one (the per-image scratch is 198 * 250^2 floats of the
 * 32 Mi-float bound); checked against the reference's adjoint loops. */
static void test_conv2d_backward_chunked(void) {
    test_rng rng = {g_seed ^ 0xC4C4ull};
    if (test_small()) { /* the chunking is the host's; its kernels run in the other tests */
        test_skip("CLCNN_TEST_SMALL: needs a 32 Mi-float column matrix");
        return;
    }
    const refd_conv_shape s = {.N = 3, .C = 4, .H = 250, .W = 250, .Cout = 2, .KH = 7, .KW = 7,
                               .sh = 1, .sw = 1, .ph = 3, .pw = 3, .dh = 1, .dw = 1, .groups = 2};
    arena a = {0};
    ar_desc(&a, "chunked x [3, 4, 250, 250] w [2, 2, 7, 7] pad 3 groups 2");
    conv_io io;
    if (!conv_io_make(&a, &rng, s, CONV_PREFILL, &io)) goto done;
    const clcnn_conv_params cp = conv_params(&io.s);
    if (CASE_OK(&a, clcnn_conv2d_backward(g_ctx, io.tx, io.tw, &cp, io.tdy, io.dx->t, 0, io.dw->t, io.db->t)))
        conv_check_adjoint(&a, &io);
done:
    ar_free(&a);
}

/* Weight and bias gradients that sum more than 65,535 terms per element (N OH OW =
 * 72,200): Mesa's llvmpipe ends a work-item after 65,535 loop iterations, which a
 * serial loop per channel would reach (the GPU family sums in two levels, reduce.c).
 * A depthwise 3x3 (its own dw kernels) and a dense 1x1 with db, against the adjoint
 * loops. */
static void test_conv2d_backward_long_rows(void) {
    test_rng rng = {g_seed ^ 0x10A6ull};
    static const refd_conv_shape shapes[] = {
        {.N = 2, .C = 3, .H = 190, .W = 190, .Cout = 3, .KH = 3, .KW = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1,
         .dh = 1, .dw = 1, .groups = 3},
        {.N = 2, .C = 2, .H = 190, .W = 190, .Cout = 2, .KH = 1, .KW = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
         .groups = 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const refd_conv_shape *s = &shapes[i];
        arena a = {0};
        ar_desc(&a, "long rows x [%d, %d, %d, %d] w [%d, %d, %d, %d] groups %d", s->N, s->C, s->H, s->W, s->Cout,
                s->C / s->groups, s->KH, s->KW, s->groups);
        conv_io io;
        if (conv_io_make(&a, &rng, *s, CONV_PREFILL, &io)) {
            const clcnn_conv_params cp = conv_params(&io.s);
            if (CASE_OK(&a, clcnn_conv2d_backward(g_ctx, io.tx, io.tw, &cp, io.tdy, io.dx->t, 0, io.dw->t,
                                                  io.db->t)))
                conv_check_adjoint(&a, &io);
        }
        ar_free(&a);
    }
}

/* Shapes that do not fit and missing inputs are refused. */
static void test_conv2d_backward_errors(void) {
    arena a = {0};
    ar_desc(&a, "conv2d_backward errors");
    const int xs[4] = {2, 4, 5, 5}, ws[4] = {6, 2, 3, 3}, ys[4] = {2, 6, 3, 3};
    clcnn_tensor *x = ar_tensor(&a, 4, xs, NULL), *w = ar_tensor(&a, 4, ws, NULL), *dy = ar_tensor(&a, 4, ys, NULL);
    clcnn_tensor *dx = ar_tensor(&a, 4, xs, NULL), *dw = ar_tensor(&a, 4, ws, NULL);
    clcnn_tensor *bad_dy = ar_tensor(&a, 4, (int[]){2, 6, 5, 5}, NULL);
    clcnn_tensor *bad_dx = ar_tensor(&a, 4, (int[]){2, 4, 5, 4}, NULL), *bad_db = ar_tensor(&a, 1, (int[]){5}, NULL);
    clcnn_tensor *bad_dw = ar_tensor(&a, 4, (int[]){6, 4, 3, 3}, NULL);
    if (a.bad) goto done;
    const clcnn_conv_params g2 = {.groups = 2}, g3 = {.groups = 3};
    CHECK_OK(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, dx, 0, dw, NULL));
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, bad_dy, dx, 0, dw, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, bad_dx, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, dx, 0, bad_dw, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g2, dy, dx, 0, NULL, bad_db), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, w, &g3, dy, dx, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, NULL, w, &g2, bad_dy, NULL, 0, NULL, bad_db), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, NULL, w, &g2, dy, dx, 0, dw, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_conv2d_backward(g_ctx, x, NULL, &g2, dy, dx, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_conv2d_backward(NULL, x, w, &g2, dy, dx, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
done:
    ar_free(&a);
}

/* ---------------------------------------------------------------- linear -- */

/* Linear's backward on random shapes: test_op_table.c's op_linear. */

/* dx alone without x; shape errors and a missing x. */
static void test_linear_backward_partial_errors(void) {
    test_rng rng = {g_seed ^ 0x11AE7ull};
    arena a = {0};
    ar_desc(&a, "linear_backward partial/errors");
    const int N = 3, K = 7, M = 5;
    double *xv = ar_rand_d(&a, &rng, (size_t)N * K, -1, 1), *wv = ar_rand_d(&a, &rng, (size_t)M * K, -1, 1);
    double *r = ar_rand_d(&a, &rng, (size_t)N * M, -1, 1), *gx = ar_doubles(&a, (size_t)N * K);
    clcnn_tensor *x = ar_tensor_d(&a, 2, (int[]){N, K}, xv), *w = ar_tensor_d(&a, 2, (int[]){M, K}, wv);
    clcnn_tensor *dy = ar_tensor_d(&a, 2, (int[]){N, M}, r), *bad_dy = ar_tensor(&a, 2, (int[]){N, M + 1}, NULL);
    clcnn_tensor *bad_dx = ar_tensor(&a, 2, (int[]){N, K + 1}, NULL), *bad_db = ar_tensor_d(&a, 1, (int[]){M - 1}, r);
    clcnn_tensor *bad_dw = ar_tensor(&a, 2, (int[]){M, K + 1}, NULL);
    guarded *dx = ar_guarded(&a, 2, (int[]){N, K}, NULL, NAN);
    if (a.bad) goto done;
    for (int n = 0; n < N; n++) /* dx = dy w */
        for (int k = 0; k < K; k++)
            for (int m = 0; m < M; m++) gx[n * K + k] += r[n * M + m] * wv[m * K + k];
    CHECK_OK(clcnn_linear_backward(g_ctx, NULL, w, dy, dx->t, 0, NULL, NULL));
    check_grad(&a, "dx", dx, gx, NULL, sum_atol(M), 1e-4);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, bad_dy, dx->t, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, dy, bad_dx, 0, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, dy, NULL, 0, bad_dw, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, x, w, dy, NULL, 0, NULL, bad_db), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_linear_backward(g_ctx, NULL, w, dy, NULL, 0, bad_dw, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_linear_backward(NULL, x, w, dy, dx->t, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
done:
    ar_free(&a);
}

/* ---------------------------------------------------- squeeze-excitation -- */

typedef struct {
    int N, C, H, W, Cr, inner, gate;
    double *x, *w1, *b1, *w2, *b2;
} se_problem;

static void se_forward(const double *in, double *out, void *user) {
    (void)in;
    const se_problem *p = user;
    refd_squeeze_excite(p->x, p->N, p->C, p->H, p->W, p->w1, p->b1, p->w2, p->b2, p->Cr, p->inner, p->gate, out);
}

/* Hidden unit j's pre-activation for sample n: b1[j] + w1[j] . the pooled x[n]. */
static double se_hidden(const se_problem *p, int n, int j) {
    const int S = p->H * p->W;
    double v = p->b1[j];
    for (int c = 0; c < p->C; c++) {
        double sum = 0;
        for (int s = 0; s < S; s++) sum += p->x[((size_t)n * p->C + c) * S + s];
        v += p->w1[j * p->C + c] * sum / S;
    }
    return v;
}

/* Choose b1 so that every hidden pre-activation is at least 0.05 from ReLU's kink (a
 * finite-difference step moves it by at most ~1e-3). */
static void se_bias_off_kink(test_rng *rng, se_problem *p) {
    for (int j = 0; j < p->Cr; j++) {
        for (int tries = 0; tries < 1000; tries++) {
            p->b1[j] = test_rng_uniform(rng, -1, 1);
            double closest = 1e9;
            for (int n = 0; n < p->N; n++) closest = fmin(closest, fabs(se_hidden(p, n, j)));
            if (closest >= 0.05) break;
        }
    }
}

/* Squeeze-excitation's backward on random blocks: test_op_table.c's op_squeeze_excite. */

/* Only fc2's gradients (dx and fc1's NULL); shape errors. */
static void test_squeeze_excite_backward_partial_errors(void) {
    test_rng rng = {g_seed ^ 0x5E7ull};
    se_problem p = {.N = 2, .C = 6, .H = 3, .W = 4, .Cr = 3, .inner = CLCNN_ACT_RELU, .gate = CLCNN_ACT_SIGMOID};
    arena a = {0};
    ar_desc(&a, "squeeze_excite_backward partial/errors");
    const int xs[4] = {p.N, p.C, p.H, p.W}, w1s[2] = {p.Cr, p.C}, w2s[2] = {p.C, p.Cr};
    const size_t nx = numel(4, xs), nw = (size_t)p.C * p.Cr;
    p.x = ar_rand_d(&a, &rng, nx, -1, 1), p.w1 = ar_rand_d(&a, &rng, nw, -1, 1), p.b1 = ar_doubles(&a, (size_t)p.Cr);
    p.w2 = ar_rand_d(&a, &rng, nw, -1, 1), p.b2 = ar_rand_d(&a, &rng, (size_t)p.C, -1, 1);
    double *r = ar_rand_d(&a, &rng, nx, -1, 1);
    if (!a.bad) se_bias_off_kink(&rng, &p);
    clcnn_tensor *x = ar_tensor_d(&a, 4, xs, p.x), *dz = ar_tensor_d(&a, 4, xs, r);
    clcnn_tensor *w1 = ar_tensor_d(&a, 2, w1s, p.w1), *b1 = ar_tensor_d(&a, 1, &p.Cr, p.b1);
    clcnn_tensor *w2 = ar_tensor_d(&a, 2, w2s, p.w2), *b2 = ar_tensor_d(&a, 1, &p.C, p.b2);
    guarded *dw2 = ar_guarded(&a, 2, w2s, NULL, 0.0f), *db2 = ar_guarded(&a, 1, &p.C, NULL, 0.0f);
    clcnn_tensor *bad_dz = ar_tensor(&a, 4, (int[]){p.N, p.C, p.H, p.W + 1}, NULL);
    clcnn_tensor *bad_w2 = ar_tensor(&a, 2, (int[]){p.C + 1, p.Cr}, NULL), *bad_db1 = ar_tensor(&a, 1, &p.C, NULL);
    if (a.bad) goto done;
    CHECK_OK(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, w2, b2, dz, NULL, 0, NULL, NULL, dw2->t, db2->t));
    const double *gw2 = ar_fd(&a, se_forward, &p, p.w2, nw, r, nx);
    const double *gb2 = ar_fd(&a, se_forward, &p, p.b2, (size_t)p.C, r, nx);
    if (a.bad) goto done;
    check_grad(&a, "dw2", dw2, gw2, NULL, 2e-5, 1e-4);
    check_grad(&a, "db2", db2, gb2, NULL, 2e-5, 1e-4);
    CHECK_STATUS(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, w2, b2, bad_dz, NULL, 0, NULL, NULL, NULL, NULL),
                 CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, bad_w2, b2, dz, NULL, 0, NULL, NULL, NULL, NULL),
                 CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_squeeze_excite_backward(g_ctx, x, w1, b1, w2, b2, dz, NULL, 0, NULL, bad_db1, NULL, NULL),
                 CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_squeeze_excite_backward(NULL, x, w1, b1, w2, b2, dz, NULL, 0, NULL, NULL, NULL, NULL),
                 CLCNN_ERR_INVALID_ARGUMENT);
done:
    ar_free(&a);
}

const test_case test_grad_conv_cases[] = {
    {"conv2d_backward_stem", test_conv2d_backward_stem},
    {"gpu_family_backward", test_gpu_family_backward},
    {"conv2d_backward_1x1", test_conv2d_backward_1x1},
    {"conv2d_backward_winograd", test_conv2d_backward_winograd},
    {"conv2d_backward_partial", test_conv2d_backward_partial},
    {"conv2d_backward_chunked", test_conv2d_backward_chunked},
    {"conv2d_backward_long_rows", test_conv2d_backward_long_rows},
    {"conv2d_backward_errors", test_conv2d_backward_errors},
    {"linear_backward_partial_errors", test_linear_backward_partial_errors},
    {"squeeze_excite_backward_partial_errors", test_squeeze_excite_backward_partial_errors},
    {NULL, NULL},
};
