/* op_harness.h: the table-driven op harness (as ggml's test-backend-ops and CLBlast's
 * routine tests). One descriptor per op says how to draw its problems, run it forward
 * and backward on the device, compute it in double precision, and count its work; one
 * driver, op_harness_run, gives every op the same checks:
 *   - forward into a guarded output pre-filled with NaN, against the double reference
 *     (in place too, where the op allows it);
 *   - backward, for every input and every way of calling it, of a random dy into a
 *     guarded dx pre-filled with NaN, against central differences (step 1e-3) of the
 *     same double reference with L = sum dy * y; then accumulating onto known values,
 *     which must give old + gradient (on problems small enough for finite differences:
 *     the biggest shapes, there for the forward kernels' tiles and tails, run forward
 *     only; at CLCNN_TEST_SMALL, on a simulator, every other problem runs forward only);
 *   - the FLOP count, the one the library's profiles and clbench report (ops_*_flops).
 * Every tolerance is the descriptor's, with the reason written beside it. Problems
 * are drawn from a stream seeded with g_seed and the op's name, so a printed seed
 * repeats a failure. The ops' own error and special-value tests stay in their files. */
#ifndef CLCNN_TEST_OP_HARNESS_H
#define CLCNN_TEST_OP_HARNESS_H

#include "testutil.h"

enum { OP_MAX_INPUTS = 6, OP_MAX_WAYS = 4 };

/* One problem of an op: its inputs' and output's shapes and the op's parameters. */
typedef struct {
    int n_in;
    int ndim[OP_MAX_INPUTS], shape[OP_MAX_INPUTS][4];
    int y_ndim, y_shape[4];
    int act;                 /* activations */
    int param[2];            /* op-specific (squeeze-excitation: its inner and gate activations) */
    clcnn_pool_params pool;  /* pooling (strides resolved) */
    clcnn_conv_params conv;  /* convolution */
    int skip;                /* set by draw: not run (fewer random problems at CLCNN_TEST_SMALL) */
    unsigned constants;      /* inputs the backward gives no gradient for (bit k: a frozen norm's statistics) */
    int in_place;            /* k + 1: the forward writes over input k (y is input k); 0: not */
    float lo, hi;            /* the default fill's range (both 0: [-2, 2]) */
    float fparam[2];         /* op-specific (batch norm: eps; GEMM: alpha and beta) */
    char desc[256];          /* names the problem in failures */
} op_problem;

typedef struct {
    double atol, rtol; /* |got - want| <= atol + rtol |want| */
} op_tol;

typedef struct op_desc {
    const char *name;
    int n_problems;
    /* Problem i (0 .. n_problems - 1) into p: shapes, parameters, desc. */
    void (*draw)(test_rng *rng, int i, op_problem *p);
    /* Input k's values for p (NULL: uniform in [-2, 2]); ops with kinks keep away from
     * them, looking at the inputs before k (in[0 .. k-1]) where they must. */
    void (*fill)(test_rng *rng, const op_problem *p, int k, float *x, size_t n, const float *const *in);
    clcnn_status (*forward)(const op_problem *p, clcnn_tensor *const *in, clcnn_tensor *y);
    void (*reference)(const op_problem *p, const double *const *in, double *y);
    /* dx for input k, overwritten or accumulated, called way `way` (which inputs the
     * backward is given); NULL when the op has no backward. */
    clcnn_status (*backward)(const op_problem *p, int way, clcnn_tensor *const *in, const clcnn_tensor *y,
                             const clcnn_tensor *dy, int k, clcnn_tensor *dx, int accumulate);
    /* The name of way `way` for p, or NULL when it does not apply (NULL: one way, "") */
    const char *(*way_name)(const op_problem *p, int way);
    /* The forward's floating-point operations. */
    double (*flops)(const op_problem *p);
    /* Tolerances for p's forward and input k's gradient (the reasons are the
     * descriptor's comments). */
    void (*tolerance)(const op_problem *p, int k, op_tol *forward, op_tol *backward);
    /* Inputs whose gradient the op always adds to what is there (bit k: a weight's, as
     * dw += in the convolutions): only their accumulate path is checked. */
    unsigned accumulates_only;
} op_desc;

/* Every problem of d through every check above; prints one line with the counts and
 * the largest errors. */
void op_harness_run(const op_desc *d);
/* The gradient tensors of one backward call for input k: dx in slot k and, with
 * `others`, zeroed scratch tensors in the other inputs' slots (NULL without); the
 * descriptors' "with the others" ways. op_grads_free releases the scratch. */
clcnn_status op_grads(const op_problem *p, int others, int k, clcnn_tensor *dx, clcnn_tensor *g[OP_MAX_INPUTS]);
void op_grads_free(clcnn_tensor *g[OP_MAX_INPUTS], int k);

/* op_harness_run on test_op_table.c's descriptor of that name (on g_ctx, which a test
 * may point at another context); 0 when there is none. */
int op_table_run(const char *name);

#endif
