/* test_train_ops.c: losses, optimizers, gradient-norm clipping and learning-rate
 * schedules against the double-precision references in tests/ref/ref_train_ops.c,
 * finite differences of those references, and a few values computed by PyTorch.
 *
 * Every device tensor is guarded (testutil.h): it lives inside a bigger raw cl_mem at
 * an offset, with sentinel floats on both sides that must survive the op; outputs
 * start as NaN, so that unwritten elements show. Each test draws its shapes
 * from g_seed ^ a per-test constant and prints the case when a check fails.
 *
 * Tolerances (float32 device against double references), |got - want| <= atol + rtol |want|:
 *   losses               atol 1e-5, rtol 1e-5: a few exp/log rounding errors per element and
 *                        a float sum of at most a few hundred terms (tree-summed at the end);
 *   loss gradients       atol 1e-5, rtol 1e-3 against central differences with h = 1e-3 in
 *                        double (truncation error ~h^2 |f'''| ~1e-6; gradients are O(1/N));
 *   optimizer states     atol 1e-6, rtol 1e-5 after 3 steps (a few float roundings per step
 *                        on O(1) values; Adam's m / sqrt(v) is well conditioned for |g| >> eps);
 *   gradient norm        rtol 1e-5 (float sums of squares, partial then tree);
 *   PyTorch values       atol 1e-6, rtol 1e-5 (both sides float32, different summation orders);
 *   schedules            rtol 1e-6 (host double, rounded to float once). */
#include <math.h>

#include "harness.h"
#include "ref/gradcheck.h"
#include "ref/ref_train_ops.h"
#include "testutil.h"

/* -------------------------------------------------------- cross-entropy -- */

typedef struct {
    int N, C;
    const int *y;
    const double *w;
    double eps;
} ce_fd_user;

static void ce_forward(const double *in, double *out, void *user) {
    const ce_fd_user *u = user;
    out[0] = ref_cross_entropy(in, u->y, u->N, u->C, u->w, u->eps);
}

/* One cross-entropy case: loss against the reference, dlogits against finite
 * differences; shift moves every logit (stability). */
static void ce_case(test_rng *rng, int N, int C, int weighted, float eps, float shift) {
    const size_t n = (size_t)N * C;
    const int xs[2] = {N, C};
    const double r = 1.0;
    arena a = {0};
    ar_desc(&a, "cross_entropy N %d C %d weights %d smoothing %g shift %g", N, C, weighted, (double)eps, (double)shift);
    float *x = ar_rand(&a, rng, n, -3.0f, 3.0f), *lab = ar_floats(&a, (size_t)N);
    int *y = ar_alloc(&a, (size_t)N * sizeof *y);
    if (a.bad) goto done;
    for (size_t i = 0; i < n; i++) x[i] += shift;
    for (int i = 0; i < N; i++) lab[i] = (float)(y[i] = test_rng_int(rng, 0, C - 1));
    float *w = ar_rand(&a, rng, (size_t)C, 0.25f, 2.0f);
    double *xd = ar_widen(&a, x, n), *wd = ar_widen(&a, w, (size_t)C);
    guarded *tx = ar_guarded(&a, 2, xs, x, NAN), *tl = ar_guarded(&a, 1, &N, lab, NAN);
    guarded *tw = ar_guarded(&a, 1, &C, w, NAN), *tloss = ar_guarded(&a, 1, (int[]){1}, NULL, NAN);
    guarded *td = ar_guarded(&a, 2, xs, NULL, NAN);
    if (a.bad) goto done;
    CHECK_OK(clcnn_cross_entropy(g_ctx, tx->t, tl->t, weighted ? tw->t : NULL, eps, tloss->t, td->t));
    ce_fd_user u = {N, C, y, weighted ? wd : NULL, eps};
    const double want = ref_cross_entropy(xd, y, N, C, u.w, eps);
    ar_check(&a, "loss", tloss, &want, 1e-5, 1e-5, NULL);
    ar_check(&a, "dlogits", td, ar_fd(&a, ce_forward, &u, xd, n, &r, 1), 1e-5, 1e-3, NULL);
    /* Without dlogits only the loss is computed. */
    CHECK_OK(clcnn_cross_entropy(g_ctx, tx->t, tl->t, weighted ? tw->t : NULL, eps, tloss->t, NULL));
    ar_check(&a, "loss (no dlogits)", tloss, &want, 1e-5, 1e-5, NULL);
done:
    ar_free(&a);
}

static void test_cross_entropy(void) {
    test_rng rng = {g_seed ^ 0xCE01u};
    static const float eps_of[] = {0.0f, 0.0f, 0.1f, 0.25f};
    for (int variant = 0; variant < 4; variant++) { /* plain, weights, smoothing, both */
        const int weighted = variant & 1;
        for (int rep = 0; rep < 3; rep++)
            ce_case(&rng, test_rng_int(&rng, 1, 9), test_rng_int(&rng, 2, 13), weighted, eps_of[variant], 0.0f);
        /* More rows than the final sum's work-group, and huge logits (no overflow). */
        ce_case(&rng, 150 + test_rng_int(&rng, 0, 20), 7, weighted, eps_of[variant], 0.0f);
        ce_case(&rng, 5, 6, weighted, eps_of[variant], variant & 2 ? -150.0f : 200.0f);
    }
    ce_case(&rng, 3, 1, 1, 0.1f, 0.0f); /* one class: loss and gradient 0 */
}

/* A label outside [0, C) (or not an integer) makes everything NaN, reading nothing
 * out of bounds (the guards and the weights' neighbours stay untouched). */
static void test_cross_entropy_bad_label(void) {
    static const float bad[] = {4.0f, -1.0f, 1.5f, 1e9f, NAN};
    const int N = 3, C = 4, xs[2] = {N, C};
    float x[12], w[4] = {1, 2, 3, 4};
    for (int i = 0; i < 12; i++) x[i] = 0.1f * (float)i;
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        arena a = {0};
        ar_desc(&a, "cross_entropy bad label %g", (double)bad[b]);
        const float lab[3] = {0.0f, bad[b], 3.0f};
        guarded *tx = ar_guarded(&a, 2, xs, x, NAN), *tl = ar_guarded(&a, 1, &N, lab, NAN);
        guarded *tw = ar_guarded(&a, 1, &C, w, NAN), *tloss = ar_guarded(&a, 1, (int[]){1}, NULL, NAN);
        guarded *td = ar_guarded(&a, 2, xs, NULL, NAN);
        if (!a.bad) {
            CHECK_OK(clcnn_cross_entropy(g_ctx, tx->t, tl->t, tw->t, 0.1f, tloss->t, td->t));
            const float *loss = ar_read(&a, tloss), *d = ar_read(&a, td);
            if (loss && d) {
                CASE_CHECK(&a, isnan(*loss), "loss %g, expected NaN", (double)*loss);
                for (int i = 0; i < 12; i++)
                    CASE_CHECK(&a, isnan(d[i]), "dlogits[%d] %g, expected NaN", i, (double)d[i]);
            }
            ar_read(&a, tw);
        }
        ar_free(&a);
    }
}

static void test_loss_errors(void) {
    arena a = {0};
    ar_desc(&a, "loss errors");
    clcnn_tensor *x = ar_tensor(&a, 2, (int[]){4, 3}, NULL), *x1 = ar_tensor(&a, 1, (int[]){12}, NULL);
    clcnn_tensor *lab = ar_tensor(&a, 1, (int[]){4}, NULL), *lab5 = ar_tensor(&a, 1, (int[]){5}, NULL);
    clcnn_tensor *w = ar_tensor(&a, 1, (int[]){4}, NULL), *loss = ar_tensor(&a, 1, (int[]){1}, NULL);
    clcnn_tensor *d = ar_tensor(&a, 2, (int[]){4, 3}, NULL), *d2 = ar_tensor(&a, 2, (int[]){3, 4}, NULL);
    if (a.bad) goto done;
    CHECK_STATUS(clcnn_cross_entropy(NULL, x, lab, NULL, 0, loss, d), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_cross_entropy(g_ctx, x1, lab, NULL, 0, loss, d), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_cross_entropy(g_ctx, x, lab5, NULL, 0, loss, d), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_cross_entropy(g_ctx, x, lab, w, 0, loss, d), CLCNN_ERR_SHAPE); /* weights [4] for C 3 */
    CHECK_STATUS(clcnn_cross_entropy(g_ctx, x, lab, NULL, 0, lab, d), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_cross_entropy(g_ctx, x, lab, NULL, 0, loss, d2), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_cross_entropy(g_ctx, x, lab, NULL, 1.5f, loss, d), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_cross_entropy(g_ctx, x, NULL, NULL, 0, loss, d), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_bce_with_logits(NULL, x, d, loss, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_bce_with_logits(g_ctx, x, d2, loss, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_bce_with_logits(g_ctx, x, d, loss, d2), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_bce_with_logits(g_ctx, x, d, lab, d), CLCNN_ERR_SHAPE);
done:
    ar_free(&a);
}

/* ------------------------------------------------------------------ BCE -- */

typedef struct {
    const double *t;
    size_t n;
} bce_fd_user;

static void bce_forward(const double *in, double *out, void *user) {
    const bce_fd_user *u = user;
    out[0] = ref_bce_with_logits(in, u->t, u->n);
}

/* One BCE case over shape; a fraction of the logits are large (|x| in 20..100).
 * Finite differences only for small n; large n checks the analytic gradient. */
static void bce_case(test_rng *rng, int ndim, const int *shape) {
    const size_t n = numel(ndim, shape);
    const double r = 1.0;
    arena a = {0};
    ar_desc(&a, "bce_with_logits %d dims, %zu elements", ndim, n);
    float *x = ar_floats(&a, n), *t = ar_floats(&a, n);
    if (a.bad) goto done;
    for (size_t i = 0; i < n; i++) {
        const int kind = test_rng_int(rng, 0, 7);
        x[i] = kind == 0 ? test_rng_uniform(rng, 20.0f, 100.0f) * (test_rng_int(rng, 0, 1) ? 1.0f : -1.0f)
                         : test_rng_uniform(rng, -5.0f, 5.0f);
        t[i] = kind == 1 ? 0.0f : kind == 2 ? 1.0f : test_rng_uniform(rng, 0.0f, 1.0f);
    }
    double *xd = ar_widen(&a, x, n), *td = ar_widen(&a, t, n), *want = ar_doubles(&a, n);
    guarded *gx = ar_guarded(&a, ndim, shape, x, NAN), *gt = ar_guarded(&a, ndim, shape, t, NAN);
    guarded *gloss = ar_guarded(&a, 1, (int[]){1}, NULL, NAN), *gd = ar_guarded(&a, ndim, shape, NULL, NAN);
    if (a.bad) goto done;
    CHECK_OK(clcnn_bce_with_logits(g_ctx, gx->t, gt->t, gloss->t, gd->t));
    const double lref = ref_bce_with_logits(xd, td, n);
    ar_check(&a, "loss", gloss, &lref, 1e-5, 1e-5, NULL);
    if (n <= 2000) {
        bce_fd_user u = {td, n};
        fd_gradient(bce_forward, &u, xd, n, &r, 1, 1e-3, want);
    } else {
        for (size_t i = 0; i < n; i++) want[i] = (1.0 / (1.0 + exp(-xd[i])) - td[i]) / (double)n;
    }
    ar_check(&a, "dlogits", gd, want, 1e-5 / (double)n, 1e-3, NULL);
    CHECK_OK(clcnn_bce_with_logits(g_ctx, gx->t, gt->t, gloss->t, NULL));
    ar_check(&a, "loss (no dlogits)", gloss, &lref, 1e-5, 1e-5, NULL);
done:
    ar_free(&a);
}

static void test_bce_with_logits(void) {
    test_rng rng = {g_seed ^ 0xBCE1u};
    for (int rep = 0; rep < 4; rep++) {
        const int ndim = test_rng_int(&rng, 1, 4);
        int shape[4];
        for (int i = 0; i < ndim; i++) shape[i] = test_rng_int(&rng, 1, 7);
        bce_case(&rng, ndim, shape);
    }
    bce_case(&rng, 2, (int[]){37, 1});                                       /* a [N, 1] damage head */
    bce_case(&rng, 2, (int[]){311, 3 + test_rng_int(&rng, 0, 4)});            /* several chunks */
    if (!test_small()) /* the same kernels, only a longer loop per work-item */
        bce_case(&rng, 1, (int[]){256 * 16384 + test_rng_int(&rng, 1, 999)}); /* more than the chunk cap */
}

/* ------------------------------------------------------------ optimizers -- */

/* The device tensors of one optimizer run and their double mirrors, in one arena
 * (describe the case in it before opt_begin). */
typedef struct {
    arena a;
    int n;
    guarded *p, *g, *s1, *s2, *scale;
    double *pd, *md, *vd, *gd;
    float *host;
} opt_run;

/* Random parameters, NaN gradient, zero states and (with_scale) a grad_scale
 * tensor [norm, scale]; 0 on failure (reported). */
static int opt_begin(opt_run *o, test_rng *rng, int n, int with_scale, float scale) {
    arena *a = &o->a;
    const float sc[2] = {123.0f, scale}; /* element 0 (the norm) must be ignored */
    const float *p0 = ar_rand(a, rng, (size_t)n, -2.0f, 2.0f);
    o->n = n;
    o->host = ar_floats(a, (size_t)n), o->pd = ar_widen(a, p0, (size_t)n), o->gd = ar_doubles(a, (size_t)n);
    o->md = ar_doubles(a, (size_t)n), o->vd = ar_doubles(a, (size_t)n);
    o->p = ar_guarded(a, 1, &n, p0, NAN), o->g = ar_guarded(a, 1, &n, NULL, NAN);
    o->s1 = ar_guarded(a, 1, &n, NULL, 0.0f), o->s2 = ar_guarded(a, 1, &n, NULL, 0.0f);
    if (with_scale) o->scale = ar_guarded(a, 1, (int[]){2}, sc, NAN);
    return !a->bad;
}

/* A fresh random gradient on the device and in o->gd; 0 on failure. */
static int opt_grad(opt_run *o, test_rng *rng) {
    for (int i = 0; i < o->n; i++) o->host[i] = test_rng_uniform(rng, -1.0f, 1.0f);
    fd_to_double(o->host, o->gd, (size_t)o->n);
    return CASE_OK(&o->a, clcnn_tensor_write(o->g->t, o->host, (size_t)o->n));
}

/* Compare a device tensor with its double mirror. */
static void opt_compare(opt_run *o, const guarded *g, const char *what, const double *want) {
    ar_check(&o->a, what, g, want, 1e-6, 1e-5, NULL);
}

static void sgd_case(test_rng *rng, const char *name, float momentum, float dampening, int nesterov, float wd,
                     int with_scale) {
    const int n = test_rng_int(rng, 1, 700);
    const float lr = test_rng_uniform(rng, 0.01f, 0.2f), scale = test_rng_uniform(rng, 0.2f, 1.0f);
    opt_run o = {0};
    ar_desc(&o.a, "sgd %s n %d lr %g momentum %g dampening %g nesterov %d wd %g scale %s", name, n, (double)lr,
            (double)momentum, (double)dampening, nesterov, (double)wd, with_scale ? "on" : "off");
    clcnn_optimizer_params p = clcnn_optimizer_defaults(CLCNN_OPT_SGD);
    p.momentum = momentum, p.dampening = dampening, p.nesterov = nesterov, p.weight_decay = wd;
    const ref_sgd_params rp = {lr, momentum, dampening, wd, nesterov};
    if (!opt_begin(&o, rng, n, with_scale, scale)) goto done;
    for (int step = 1; step <= 3; step++) {
        if (!opt_grad(&o, rng)) goto done;
        CHECK_OK(clcnn_optimizer_step(g_ctx, &p, step, lr, o.p->t, o.g->t, momentum != 0 ? o.s1->t : NULL, NULL,
                                      with_scale ? o.scale->t : NULL));
        ref_sgd_step(&rp, o.pd, o.gd, with_scale ? (double)scale : 1.0, o.md, (size_t)n, step == 1);
    }
    opt_compare(&o, o.p, "param", o.pd);
    if (momentum != 0) opt_compare(&o, o.s1, "momentum buffer", o.md);
    ar_read(&o.a, o.g);
    if (with_scale) ar_read(&o.a, o.scale);
done:
    ar_free(&o.a);
}

static void test_optimizer_sgd(void) {
    test_rng rng = {g_seed ^ 0x5CD1u};
    sgd_case(&rng, "plain", 0, 0, 0, 0, 0);
    sgd_case(&rng, "momentum", 0.9f, 0, 0, 0, 0);
    sgd_case(&rng, "momentum+dampening", 0.8f, 0.3f, 0, 0, 0);
    sgd_case(&rng, "nesterov", 0.9f, 0, 1, 0, 0);
    sgd_case(&rng, "weight decay", 0, 0, 0, 0.05f, 0);
    sgd_case(&rng, "all", 0.9f, 0, 1, 1e-3f, 1);
    sgd_case(&rng, "scaled", 0.5f, 0.5f, 0, 0.01f, 1);
}

static void adam_case(test_rng *rng, clcnn_optimizer_kind kind, float wd, int with_scale) {
    const int n = test_rng_int(rng, 1, 700);
    const float lr = test_rng_uniform(rng, 1e-3f, 0.05f), scale = test_rng_uniform(rng, 0.2f, 1.0f);
    opt_run o = {0};
    ar_desc(&o.a, "%s n %d lr %g wd %g scale %s", kind == CLCNN_OPT_ADAMW ? "adamw" : "adam", n, (double)lr,
            (double)wd, with_scale ? "on" : "off");
    clcnn_optimizer_params p = clcnn_optimizer_defaults(kind);
    p.weight_decay = wd;
    p.beta1 = 0.85f, p.beta2 = 0.99f;
    const ref_adam_params rp = {lr, p.beta1, p.beta2, p.eps, wd, kind == CLCNN_OPT_ADAMW};
    if (!opt_begin(&o, rng, n, with_scale, scale)) goto done;
    for (int step = 1; step <= 3; step++) {
        if (!opt_grad(&o, rng)) goto done;
        CHECK_OK(clcnn_optimizer_step(g_ctx, &p, step, lr, o.p->t, o.g->t, o.s1->t, o.s2->t,
                                      with_scale ? o.scale->t : NULL));
        ref_adam_step(&rp, step, o.pd, o.gd, with_scale ? (double)scale : 1.0, o.md, o.vd, (size_t)n);
    }
    opt_compare(&o, o.p, "param", o.pd);
    opt_compare(&o, o.s1, "m", o.md);
    opt_compare(&o, o.s2, "v", o.vd);
done:
    ar_free(&o.a);
}

static void test_optimizer_adam(void) {
    test_rng rng = {g_seed ^ 0xADA1u};
    adam_case(&rng, CLCNN_OPT_ADAM, 0, 0);
    adam_case(&rng, CLCNN_OPT_ADAM, 0.01f, 1);
    adam_case(&rng, CLCNN_OPT_ADAMW, 0.1f, 0);
    adam_case(&rng, CLCNN_OPT_ADAMW, 1e-2f, 1);
}

static void test_optimizer_defaults(void) {
    const clcnn_optimizer_params s = clcnn_optimizer_defaults(CLCNN_OPT_SGD);
    const clcnn_optimizer_params a = clcnn_optimizer_defaults(CLCNN_OPT_ADAM);
    const clcnn_optimizer_params w = clcnn_optimizer_defaults(CLCNN_OPT_ADAMW);
    CHECK(s.kind == CLCNN_OPT_SGD && s.lr == 0.01f && s.momentum == 0 && s.dampening == 0 && !s.nesterov &&
              s.weight_decay == 0, "SGD defaults");
    CHECK(a.kind == CLCNN_OPT_ADAM && a.lr == 1e-3f && a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f &&
              a.weight_decay == 0, "Adam defaults");
    CHECK(w.kind == CLCNN_OPT_ADAMW && w.lr == 1e-3f && w.beta1 == 0.9f && w.beta2 == 0.999f && w.eps == 1e-8f &&
              w.weight_decay == 1e-2f, "AdamW defaults");
}

static void test_optimizer_errors(void) {
    arena a = {0};
    ar_desc(&a, "optimizer errors");
    clcnn_tensor *p = ar_tensor(&a, 2, (int[]){3, 5}, NULL), *g = ar_tensor(&a, 2, (int[]){3, 5}, NULL);
    clcnn_tensor *g2 = ar_tensor(&a, 2, (int[]){5, 3}, NULL), *s = ar_tensor(&a, 2, (int[]){3, 5}, NULL);
    clcnn_tensor *sc = ar_tensor(&a, 1, (int[]){3}, NULL);
    if (a.bad) goto done;
    clcnn_optimizer_params sgd = clcnn_optimizer_defaults(CLCNN_OPT_SGD), adam = clcnn_optimizer_defaults(CLCNN_OPT_ADAM);
    CHECK_STATUS(clcnn_optimizer_step(NULL, &sgd, 1, 0.1f, p, g, NULL, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, NULL, 1, 0.1f, p, g, NULL, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &sgd, 0, 0.1f, p, g, NULL, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &sgd, 1, 0.1f, p, g2, NULL, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &sgd, 1, 0.1f, p, g, NULL, NULL, sc), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &adam, 1, 0.1f, p, g, s, g2, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &adam, 1, 0.1f, p, g, s, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    sgd.momentum = 0.9f;
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &sgd, 1, 0.1f, p, g, NULL, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    sgd.nesterov = 1, sgd.dampening = 0.1f;
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &sgd, 1, 0.1f, p, g, s, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    sgd.kind = (clcnn_optimizer_kind)7;
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &sgd, 1, 0.1f, p, g, s, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    adam.beta2 = 1.0f;
    CHECK_STATUS(clcnn_optimizer_step(g_ctx, &adam, 1, 0.1f, p, g, s, s, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    const clcnn_tensor *grads[] = {g, g2};
    CHECK_STATUS(clcnn_grad_norm_clip(NULL, 2, grads, 1.0f, sc), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_grad_norm_clip(g_ctx, 2, grads, 1.0f, sc), CLCNN_ERR_SHAPE); /* out [3] */
    CHECK_STATUS(clcnn_grad_norm_clip(g_ctx, 2, grads, 0.0f, sc), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_grad_norm_clip(g_ctx, 2, NULL, 1.0f, sc), CLCNN_ERR_INVALID_ARGUMENT);
done:
    ar_free(&a);
}

/* -------------------------------------------------------- gradient norm -- */

/* n tensors of random sizes (some spanning several chunks), the norm and the factor
 * for a max_norm below the norm and one above it (factor exactly 1). */
static void norm_case(test_rng *rng, int n) {
    const clcnn_tensor *ts[AR_GUARDED]; /* ar_guarded refuses more than that */
    double sum = 0;
    arena a = {0};
    ar_desc(&a, "grad_norm_clip %d tensors", n);
    for (int i = 0; i < n; i++) {
        const int len = test_rng_int(rng, 0, 3) ? test_rng_int(rng, 1, 300) : test_rng_int(rng, 1000, 5000);
        const float *v = ar_rand(&a, rng, (size_t)len, -1.0f, 1.0f);
        const guarded *g = ar_guarded(&a, 1, &len, v, NAN);
        if (!g) goto done;
        for (int j = 0; j < len; j++) sum += (double)v[j] * v[j];
        ts[i] = g->t;
    }
    guarded *out = ar_guarded(&a, 1, (int[]){2}, NULL, NAN);
    if (!out) goto done;
    const double norm = sqrt(sum);
    const float below = n ? (float)(norm * 0.5) : 1.0f, above = (float)(norm * 2 + 1);
    CHECK_OK(clcnn_grad_norm_clip(g_ctx, n, ts, below, out->t));
    const double want[2] = {norm, n ? (double)below / (norm + 1e-6) : 1.0};
    ar_check(&a, "norm and factor", out, want, 1e-6, 1e-5, NULL);
    CHECK_OK(clcnn_grad_norm_clip(g_ctx, n, ts, above, out->t));
    ar_check(&a, "norm (factor 1)", out, (const double[]){norm, 1.0}, 1e-6, 1e-5, NULL);
    const float *got = ar_read(&a, out);
    if (got) CASE_CHECK(&a, got[1] == 1.0f, "factor %.9g under max_norm, expected 1", (double)got[1]);
done:
    ar_free(&a);
}

static void test_grad_norm_clip(void) {
    test_rng rng = {g_seed ^ 0x6C1Bu};
    static const int counts[] = {0, 1, 3, 8, 9, 21};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) norm_case(&rng, counts[i]);
}

/* ------------------------------------------------------------- schedules -- */

static void expect_lr(const arena *a, const clcnn_schedule *s, int step, double want) {
    const float got = clcnn_schedule_lr(s, step);
    CASE_CHECK(a, fabs(got - want) <= 1e-6 * fabs(want) + 1e-12, "step %d: lr %.9g, expected %.9g", step, (double)got,
               want);
}

static void test_schedule_lr(void) {
    arena a = {0}; /* names the schedule in failures; holds nothing */
    clcnn_schedule s = {.kind = CLCNN_SCHEDULE_CONSTANT, .base_lr = 0.1f, .warmup_steps = 4};
    ar_desc(&a, "constant with warm-up 4");
    expect_lr(&a, &s, 0, 0.025), expect_lr(&a, &s, 1, 0.05), expect_lr(&a, &s, 3, 0.1), expect_lr(&a, &s, 4, 0.1);
    expect_lr(&a, &s, 1000, 0.1), expect_lr(&a, &s, -3, 0.025);

    s = (clcnn_schedule){.kind = CLCNN_SCHEDULE_STEP, .base_lr = 0.1f, .warmup_steps = 2, .step_size = 3, .gamma = 0.5f};
    ar_desc(&a, "step 3 gamma 0.5 after warm-up 2");
    expect_lr(&a, &s, 0, 0.05), expect_lr(&a, &s, 2, 0.1), expect_lr(&a, &s, 4, 0.1), expect_lr(&a, &s, 5, 0.05);
    expect_lr(&a, &s, 8, 0.025), expect_lr(&a, &s, 9, 0.025), expect_lr(&a, &s, 11, 0.0125);
    s.step_size = 0;
    ar_desc(&a, "step with step_size 0: no decay");
    expect_lr(&a, &s, 50, 0.1);

    s = (clcnn_schedule){.kind = CLCNN_SCHEDULE_COSINE, .base_lr = 0.1f, .total_steps = 10, .min_lr = 0.001f};
    ar_desc(&a, "cosine over 10, min 0.001, no warm-up");
    expect_lr(&a, &s, 0, 0.1), expect_lr(&a, &s, 5, 0.0505), expect_lr(&a, &s, 10, 0.001), expect_lr(&a, &s, 25, 0.001);
    expect_lr(&a, &s, 2, 0.001 + 0.099 * (1 + cos(3.14159265358979323846 * 0.2)) / 2);
    s.warmup_steps = 5;
    ar_desc(&a, "cosine over 10 after warm-up 5");
    expect_lr(&a, &s, 0, 0.02), expect_lr(&a, &s, 4, 0.1), expect_lr(&a, &s, 5, 0.1), expect_lr(&a, &s, 10, 0.0505);
    expect_lr(&a, &s, 15, 0.001);
    s.total_steps = 0;
    ar_desc(&a, "cosine with total_steps 0: already ended");
    expect_lr(&a, &s, 7, 0.001);
    ar_desc(&a, "NULL schedule");
    CASE_CHECK(&a, clcnn_schedule_lr(NULL, 3) == 0.0f, "NULL schedule gives %g", (double)clcnn_schedule_lr(NULL, 3));
}

/* ------------------------------------------------ PyTorch's own numbers -- */

/* Run one optimizer over three fixed gradients from p = [0.5, -1, 2] and compare with
 * PyTorch's result. */
static void torch_optimizer(const char *name, const clcnn_optimizer_params *p, const double want[3]) {
    static const float grads[3][3] = {{0.3f, -0.2f, 0.05f}, {-0.1f, 0.4f, 0.2f}, {0.2f, 0.1f, -0.3f}};
    const float p0[3] = {0.5f, -1.0f, 2.0f};
    const int three = 3;
    arena a = {0};
    ar_desc(&a, "PyTorch %s", name);
    guarded *tp = ar_guarded(&a, 1, &three, p0, NAN), *tg = ar_guarded(&a, 1, &three, grads[0], NAN);
    guarded *s1 = ar_guarded(&a, 1, &three, NULL, 0.0f), *s2 = ar_guarded(&a, 1, &three, NULL, 0.0f);
    for (int step = 1; !a.bad && step <= 3; step++) {
        CHECK_OK(clcnn_tensor_write(tg->t, grads[step - 1], 3));
        CHECK_OK(clcnn_optimizer_step(g_ctx, p, step, p->lr, tp->t, tg->t, s1->t, s2->t, NULL));
    }
    ar_check(&a, "param", tp, want, 1e-6, 1e-5, NULL);
    ar_free(&a);
}

static void test_train_ops_vs_torch(void) {
    /* Cross-entropy with weights and smoothing, from PyTorch 1.13:
     * /usr/bin/python3 -c "import torch;x=torch.tensor([[1.5,-0.25,0.75,2.0],[-1.0,0.5,3.0,0.0],[0.25,-2.0,1.0,-0.5]],requires_grad=True);l=torch.nn.CrossEntropyLoss(weight=torch.tensor([0.5,1.0,2.0,1.5]),label_smoothing=0.1)(x,torch.tensor([1,3,0]));l.backward();print(repr(l.item()),[float('%.9g'%v) for v in x.grad.flatten().tolist()])" */
    static const float x[12] = {1.5f, -0.25f, 0.75f, 2.0f, -1.0f, 0.5f, 3.0f, 0.0f, 0.25f, -2.0f, 1.0f, -0.5f};
    static const float lab[3] = {1, 3, 0}, w[4] = {0.5f, 1.0f, 2.0f, 1.5f};
    static const double ce_loss = 2.7131383419036865;
    static const double ce_grad[12] = {0.0995301381, -0.290313512, 0.0323162377, 0.158467114,
                                       0.00366265536, 0.0267552473, 0.410799742, -0.441217691,
                                       -0.102291472, -0.00286572939, 0.0931531042, 0.0120041007};
    /* BCE with logits, large |x| included:
     * /usr/bin/python3 -c "import torch;x=torch.tensor([-40.0,-2.5,0.0,1.25,30.0],requires_grad=True);l=torch.nn.BCEWithLogitsLoss()(x,torch.tensor([1.0,0.25,0.5,0.0,0.0]));l.backward();print(repr(l.item()),[float('%.9g'%v) for v in x.grad.tolist()])" */
    static const float bx[5] = {-40.0f, -2.5f, 0.0f, 1.25f, 30.0f}, bt[5] = {1.0f, 0.25f, 0.5f, 0.0f, 0.0f};
    static const double bce_loss = 14.579792976379395;
    static const double bce_grad[5] = {-0.200000003, -0.0348283648, 0.0, 0.15545997, 0.200000003};
    arena a = {0};
    ar_desc(&a, "PyTorch cross_entropy");
    guarded *tx = ar_guarded(&a, 2, (int[]){3, 4}, x, NAN), *tl = ar_guarded(&a, 1, (int[]){3}, lab, NAN);
    guarded *tw = ar_guarded(&a, 1, (int[]){4}, w, NAN), *tloss = ar_guarded(&a, 1, (int[]){1}, NULL, NAN);
    guarded *td = ar_guarded(&a, 2, (int[]){3, 4}, NULL, NAN);
    if (!a.bad) {
        CHECK_OK(clcnn_cross_entropy(g_ctx, tx->t, tl->t, tw->t, 0.1f, tloss->t, td->t));
        ar_check(&a, "loss", tloss, &ce_loss, 1e-6, 1e-5, NULL);
        ar_check(&a, "dlogits", td, ce_grad, 1e-6, 1e-5, NULL);
    }
    ar_free(&a);
    ar_desc(&a, "PyTorch bce_with_logits");
    tx = ar_guarded(&a, 1, (int[]){5}, bx, NAN), tl = ar_guarded(&a, 1, (int[]){5}, bt, NAN);
    tloss = ar_guarded(&a, 1, (int[]){1}, NULL, NAN), td = ar_guarded(&a, 1, (int[]){5}, NULL, NAN);
    if (!a.bad) {
        CHECK_OK(clcnn_bce_with_logits(g_ctx, tx->t, tl->t, tloss->t, td->t));
        ar_check(&a, "loss", tloss, &bce_loss, 1e-6, 1e-5, NULL);
        ar_check(&a, "dlogits", td, bce_grad, 1e-6, 1e-5, NULL);
    }
    ar_free(&a);

    /* Optimizers, three steps; each line below printed one `want`, with OPT replaced:
     * /usr/bin/python3 -c "import torch;p=torch.nn.Parameter(torch.tensor([0.5,-1.0,2.0]));o=OPT;gs=[[0.3,-0.2,0.05],[-0.1,0.4,0.2],[0.2,0.1,-0.3]];exec('for g in gs:\n p.grad=torch.tensor(g);o.step()');print([float('%.9g'%v) for v in p.tolist()])"
     * OPT = torch.optim.AdamW([p],lr=0.1,weight_decay=0.1) / torch.optim.Adam([p],lr=0.1,weight_decay=0.1) /
     *       torch.optim.SGD([p],lr=0.1,momentum=0.9,nesterov=True,weight_decay=0.01) /
     *       torch.optim.SGD([p],lr=0.1,momentum=0.9,dampening=0.5) */
    static const double adamw[3] = {0.287209243, -0.950098395, 1.76898897};
    static const double adam[3] = {0.276827037, -0.913614511, 1.74327207};
    static const double nesterov[3] = {0.382185102, -1.05064631, 1.96965849};
    static const double damped[3] = {0.418199986, -0.988799989, 1.98245001};
    clcnn_optimizer_params p = clcnn_optimizer_defaults(CLCNN_OPT_ADAMW);
    p.lr = 0.1f, p.weight_decay = 0.1f;
    torch_optimizer("AdamW", &p, adamw);
    p.kind = CLCNN_OPT_ADAM;
    torch_optimizer("Adam", &p, adam);
    p = clcnn_optimizer_defaults(CLCNN_OPT_SGD);
    p.lr = 0.1f, p.momentum = 0.9f, p.nesterov = 1, p.weight_decay = 0.01f;
    torch_optimizer("SGD nesterov", &p, nesterov);
    p = clcnn_optimizer_defaults(CLCNN_OPT_SGD);
    p.lr = 0.1f, p.momentum = 0.9f, p.dampening = 0.5f;
    torch_optimizer("SGD dampening", &p, damped);

    /* clip_grad_norm_ of a [2] and a [2, 2] gradient with max_norm 2:
     * /usr/bin/python3 -c "import torch;a=torch.tensor([3.0,-4.0],requires_grad=True);b=torch.tensor([[1.0,2.0],[-2.0,0.5]],requires_grad=True);a.grad=a.detach().clone();b.grad=b.detach().clone();n=torch.nn.utils.clip_grad_norm_([a,b],2.0);print(repr(n.item()),[float('%.9g'%v) for v in a.grad.tolist()+b.grad.flatten().tolist()])"
     * printed 5.852349758148193 and a.grad[0] = 1.0252291 = 3 * factor. */
    static const float ga[2] = {3.0f, -4.0f}, gb[4] = {1.0f, 2.0f, -2.0f, 0.5f};
    const double want[2] = {5.852349758148193, 1.0252291 / 3.0};
    ar_desc(&a, "PyTorch clip_grad_norm_");
    const guarded *ta = ar_guarded(&a, 1, (int[]){2}, ga, NAN), *tb = ar_guarded(&a, 2, (int[]){2, 2}, gb, NAN);
    const guarded *out = ar_guarded(&a, 1, (int[]){2}, NULL, NAN);
    if (!a.bad) {
        const clcnn_tensor *ts[] = {ta->t, tb->t};
        CHECK_OK(clcnn_grad_norm_clip(g_ctx, 2, ts, 2.0f, out->t));
        ar_check(&a, "norm and factor", out, want, 1e-6, 1e-5, NULL);
    }
    ar_free(&a);
}

const test_case test_train_ops_cases[] = {
    {"train_ops_cross_entropy", test_cross_entropy},
    {"train_ops_cross_entropy_bad_label", test_cross_entropy_bad_label},
    {"train_ops_loss_errors", test_loss_errors},
    {"train_ops_bce_with_logits", test_bce_with_logits},
    {"train_ops_optimizer_sgd", test_optimizer_sgd},
    {"train_ops_optimizer_adam", test_optimizer_adam},
    {"train_ops_optimizer_defaults", test_optimizer_defaults},
    {"train_ops_optimizer_errors", test_optimizer_errors},
    {"train_ops_grad_norm_clip", test_grad_norm_clip},
    {"train_ops_schedule_lr", test_schedule_lr},
    {"train_ops_vs_torch", test_train_ops_vs_torch},
    {NULL, NULL},
};
