/* op_harness.c: the driver of the table-driven op harness (op_harness.h). */
#include <math.h>
#include <string.h>
#include "op_harness.h"

/* Finite differences run the reference twice per input: problems where that would take
 * more than this many operations (about a tenth of a second; the reference's count taken
 * as the op's FLOPs, or its inputs and outputs where that is more) are checked forward
 * only, as the big shapes that give the forward kernels' tiles and tails their work. */
#define FD_BUDGET 1e8

typedef struct {
    int forward_checks, backward_checks, forward_only, skipped;
    double forward_err, backward_err, flops;
} op_stats;

static uint64_t name_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* The reference as a function of input k alone (the others fixed), for ar_fd. */
typedef struct {
    const op_desc *d;
    const op_problem *p;
    const double *in[OP_MAX_INPUTS];
    int k;
} fd_user;

static void reference_of_input(const double *x, double *y, void *user) {
    const fd_user *u = user;
    const double *in[OP_MAX_INPUTS];
    for (int i = 0; i < u->p->n_in; i++) in[i] = i == u->k ? x : u->in[i];
    u->d->reference(u->p, in, y);
}

static const char *way_of(const op_desc *d, const op_problem *p, int way) {
    return d->way_name ? d->way_name(p, way) : way == 0 ? "" : NULL;
}

/* Input k's gradient by every way of calling the backward: into a dx full of NaN, then
 * accumulated onto known values. */
static void backward_input(arena *a, const op_desc *d, const op_problem *p, clcnn_tensor *const *in,
                           const clcnn_tensor *y, const clcnn_tensor *dy, int k, const double *want, const op_tol *tol,
                           test_rng *rng, op_stats *s) {
    const size_t n = numel(p->ndim[k], p->shape[k]);
    const int overwrites = !(d->accumulates_only >> k & 1);
    for (int way = 0; way < OP_MAX_WAYS && !a->bad; way++) {
        const char *name = way_of(d, p, way);
        if (!name) continue;
        float *old = ar_rand(a, rng, n, -2.0f, 2.0f);
        double *want_acc = ar_doubles(a, n);
        guarded *dx = overwrites ? ar_guarded(a, p->ndim[k], p->shape[k], NULL, NAN) : NULL;
        guarded *dx_acc = ar_guarded(a, p->ndim[k], p->shape[k], old, NAN);
        if (a->bad) return;
        char what[96];
        snprintf(what, sizeof what, "d input %d%s%s", k, *name ? ", " : "", name);
        if (overwrites && CASE_OK(a, d->backward(p, way, in, y, dy, k, dx->t, 0)))
            ar_check(a, what, dx, want, tol->atol, tol->rtol, &s->backward_err);
        for (size_t i = 0; i < n; i++) want_acc[i] = (double)old[i] + want[i];
        strncat(what, " (accumulated)", sizeof what - strlen(what) - 1);
        if (CASE_OK(a, d->backward(p, way, in, y, dy, k, dx_acc->t, 1)))
            ar_check(a, what, dx_acc, want_acc, tol->atol, tol->rtol, &s->backward_err);
        s->backward_checks += 1 + overwrites;
    }
}

static void run_problem(const op_desc *d, const op_problem *p, int index, test_rng *rng, op_stats *s) {
    arena a = {0};
    ar_desc(&a, "%s %s", d->name, p->desc);
    op_tol fwd = {0, 0}, bwd = {0, 0};
    d->tolerance(p, 0, &fwd, &bwd);
    float *x[OP_MAX_INPUTS] = {NULL};
    const double *xd[OP_MAX_INPUTS] = {NULL};
    clcnn_tensor *tin[OP_MAX_INPUTS] = {NULL};
    const size_t ny = numel(p->y_ndim, p->y_shape);
    for (int k = 0; k < p->n_in; k++) {
        const size_t n = numel(p->ndim[k], p->shape[k]);
        const int ranged = p->lo != 0 || p->hi != 0;
        if (!(x[k] = ar_rand(&a, rng, n, ranged ? p->lo : -2.0f, ranged ? p->hi : 2.0f))) goto done;
        if (d->fill) d->fill(rng, p, k, x[k], n, (const float *const *)x);
        xd[k] = ar_widen(&a, x[k], n);
        tin[k] = ar_tensor(&a, p->ndim[k], p->shape[k], x[k]);
    }
    double *want = ar_doubles(&a, ny);
    guarded *y = ar_guarded(&a, p->y_ndim, p->y_shape, p->in_place ? x[p->in_place - 1] : NULL, NAN);
    if (a.bad) goto done;
    clcnn_tensor *fwd_in[OP_MAX_INPUTS];
    for (int k = 0; k < p->n_in; k++) fwd_in[k] = k == p->in_place - 1 ? y->t : tin[k];
    d->reference(p, xd, want);
    s->flops += d->flops(p);
    if (!CASE_OK(&a, d->forward(p, fwd_in, y->t))) goto done;
    ar_check(&a, p->in_place ? "y (in place)" : "y", y, want, fwd.atol, fwd.rtol, &s->forward_err);
    s->forward_checks++;
    if (!d->backward) goto done;
    size_t n_in = 0;
    for (int k = 0; k < p->n_in; k++) n_in += p->constants >> k & 1 ? 0 : numel(p->ndim[k], p->shape[k]);
    /* On a simulator (CLCNN_TEST_SMALL) every other problem's backward is enough: the
     * kernels' paths are the same, and each launch there costs thousands of times more. */
    const double reference_cost = fmax(d->flops(p), (double)(n_in + ny));
    if (2.0 * (double)n_in * reference_cost > FD_BUDGET || (test_small() && index % 2)) {
        s->forward_only++;
        goto done;
    }
    float *r = ar_rand(&a, rng, ny, -1.0f, 1.0f);
    clcnn_tensor *tdy = ar_tensor(&a, p->y_ndim, p->y_shape, r);
    double *rd = ar_widen(&a, r, ny);
    if (a.bad) goto done;
    for (int k = 0; k < p->n_in && !a.bad; k++) {
        if (p->constants >> k & 1) continue;
        const size_t n = numel(p->ndim[k], p->shape[k]);
        fd_user u = {.d = d, .p = p, .k = k};
        memcpy(u.in, xd, sizeof u.in);
        double *at = ar_widen(&a, x[k], n); /* ar_fd perturbs its input */
        const double *grad = at ? ar_fd(&a, reference_of_input, &u, at, n, rd, ny) : NULL;
        d->tolerance(p, k, &fwd, &bwd);
        if (grad) backward_input(&a, d, p, tin, y->t, tdy, k, grad, &bwd, rng, s);
    }
done:
    ar_free(&a);
}

clcnn_status op_grads(const op_problem *p, int others, int k, clcnn_tensor *dx, clcnn_tensor *g[OP_MAX_INPUTS]) {
    clcnn_status st = CLCNN_OK;
    for (int i = 0; i < OP_MAX_INPUTS; i++) g[i] = NULL;
    for (int i = 0; others && i < p->n_in && st == CLCNN_OK; i++)
        if (i != k && (st = clcnn_tensor_create(g_ctx, p->ndim[i], p->shape[i], &g[i])) == CLCNN_OK)
            st = clcnn_tensor_fill(g[i], 0.0f);
    g[k] = dx;
    return st;
}

void op_grads_free(clcnn_tensor *g[OP_MAX_INPUTS], int k) {
    for (int i = 0; i < OP_MAX_INPUTS; i++)
        if (i != k) clcnn_tensor_destroy(g[i]);
}

void op_harness_run(const op_desc *d) {
    test_rng rng = {g_seed ^ name_hash(d->name)};
    op_stats s = {0};
    for (int i = 0; i < d->n_problems; i++) {
        op_problem p = {.n_in = 1};
        d->draw(&rng, i, &p);
        if (p.skip) s.skipped++;
        else run_problem(d, &p, i, &rng, &s);
    }
    if (!d->backward) {
        printf("  %s: %d problems, %d forward checks (max err %.1e), no backward, %.3g MFLOP\n", d->name,
               d->n_problems - s.skipped, s.forward_checks, s.forward_err, s.flops * 1e-6);
        return;
    }
    printf("  %s: %d problems, %d forward checks (max err %.1e), %d backward checks (max err %.1e), %d "
           "forward only (too big for finite differences%s), %.3g MFLOP\n", d->name, d->n_problems - s.skipped,
           s.forward_checks, s.forward_err,
           s.backward_checks, s.backward_err, s.forward_only, test_small() ? ", or every other one at CLCNN_TEST_SMALL" : "",
           s.flops * 1e-6);
}
