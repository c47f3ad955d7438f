/* test_dist.c: data parallelism without MPI: communicators for threads of one process
 * (clcnn_dist_create_threads), each rank with its own context. Their sums, their
 * timeout, and the step two ranks take on halves of a batch against the step one
 * process takes on the whole of it (synchronised batch norm), even and uneven, with
 * dropout and class weights too. The network is smooth (SiLU, no ReLU or pooling):
 * at a kink, a rounding difference of 1e-7 in a batch norm's mean can turn a whole
 * element's gradient on or off, which says nothing about the ranks' arithmetic. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "ops/ops.h"
#include "ref/ref_grad_norm.h"

enum { MAX_RANKS = 3 };

typedef struct {
    clcnn_dist *dist;
    int n;
    size_t count;
    float f[5];
    double d[5];
    clcnn_status st_f, st_d;
} sum_job;

static void *sum_rank(void *arg) {
    sum_job *j = arg;
    j->st_f = clcnn_dist_allreduce_sum(j->dist, j->d, j->count);
    j->st_d = clcnn_dist_barrier(j->dist);
    return NULL;
}

static void run_ranks(void *(*fn)(void *), void *jobs, size_t job_size, int n) {
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < n; r++) CHECK(pthread_create(&th[r], NULL, fn, (char *)jobs + r * job_size) == 0, "thread");
    for (int r = 0; r < n; r++) pthread_join(th[r], NULL);
}

static void test_dist_threads_sum(void) {
    clcnn_dist *d[MAX_RANKS];
    CHECK_OK(clcnn_dist_create_threads(3, d));
    sum_job jobs[3];
    for (int r = 0; r < 3; r++) {
        jobs[r] = (sum_job){.dist = d[r], .count = 5};
        for (int i = 0; i < 5; i++) jobs[r].d[i] = (r + 1) * (i + 1) + 0.25;
        CHECK(clcnn_dist_rank(d[r]) == r && clcnn_dist_size(d[r]) == 3 && clcnn_dist_local_rank(d[r]) == r,
              "rank %d: rank %d size %d", r, clcnn_dist_rank(d[r]), clcnn_dist_size(d[r]));
    }
    run_ranks(sum_rank, jobs, sizeof jobs[0], 3);
    for (int r = 0; r < 3; r++) {
        CHECK_OK(jobs[r].st_f);
        CHECK_OK(jobs[r].st_d);
        for (int i = 0; i < 5; i++)
            CHECK(jobs[r].d[i] == 6.0 * (i + 1) + 0.75, "rank %d value %d: %g, want %g", r, i, jobs[r].d[i],
                  6.0 * (i + 1) + 0.75);
    }
    /* out of step: one rank sums 5 values, the others 4 */
    jobs[0].count = 5, jobs[1].count = 4, jobs[2].count = 4;
    run_ranks(sum_rank, jobs, sizeof jobs[0], 3);
    for (int r = 0; r < 3; r++)
        CHECK(jobs[r].st_f == CLCNN_ERR_DISTRIBUTED, "rank %d: counts out of step gave %d", r, jobs[r].st_f);
    for (int r = 0; r < 3; r++) clcnn_dist_destroy(d[r]);
    /* what is not a communicator */
    clcnn_dist *bad = NULL;
    CHECK_STATUS(clcnn_dist_create(&(clcnn_dist_ops){.rank = 2, .size = 2}, &bad), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(!bad && clcnn_dist_size(NULL) == 1 && clcnn_dist_rank(NULL) == 0, "NULL communicator");
    CHECK_STATUS(clcnn_dist_create_threads(0, d), CLCNN_ERR_INVALID_ARGUMENT);
    if (!clcnn_dist_have_mpi()) CHECK_STATUS(clcnn_dist_create_mpi(&bad), CLCNN_ERR_UNSUPPORTED);
}

/* A rank that never comes: the other's sum fails after CLCNN_DIST_TIMEOUT, naming it. */
static void test_dist_timeout(void) {
    setenv("CLCNN_DIST_TIMEOUT", "0.3", 1);
    clcnn_dist *d[2];
    const clcnn_status made = clcnn_dist_create_threads(2, d);
    unsetenv("CLCNN_DIST_TIMEOUT");
    CHECK_OK(made);
    if (made != CLCNN_OK) return;
    double v = 1;
    CHECK_STATUS(clcnn_dist_allreduce_sum(d[0], &v, 1), CLCNN_ERR_DISTRIBUTED);
    const char *why = clcnn_last_error(NULL);
    CHECK(strstr(why, "rank 0 of 2") && strstr(why, "0.3 s"), "the message: %s", why);
    clcnn_dist_destroy(d[0]);
    clcnn_dist_destroy(d[1]);
}

/* ---- the step over ranks against the whole batch's ---- */

enum { SIDE = 32, CLASSES = 3, BATCH = 8, STEPS = 2 };

typedef struct {
    clcnn_dist *dist;
    int flags;
    int mlp;             /* an MLP head with dropout, and class weights (2: class 0's weight is 0) */
    int first, n;        /* the share of the batch */
    const float *x, *labels;
    int nparams;
    float **params;      /* after the steps, per parameter (malloc'd) */
    size_t *sizes;
    char **names;
    float loss;
    clcnn_status st;
    char error[512];
} step_job;

/* conv 3x3 - BN - SiLU - conv 3x3 stride 2 - BN - SiLU - conv 3x3 - BN, + the block's input
 * by a 1x1 stride-2 conv and BN, SiLU, global average pool, then fc, or with mlp
 * Linear(16) - SiLU - Dropout(0.3) - Linear. */
static clcnn_status build_smooth(clcnn_context *ctx, int mlp, clcnn_graph **out) {
    clcnn_graph *g = NULL;
    const clcnn_conv_params same = {.pad_h = 1, .pad_w = 1}, down = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1},
                            down1 = {.stride_h = 2, .stride_w = 2};
    clcnn_status st = clcnn_graph_create(ctx, 3, SIDE, SIDE, 11, &g);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "conv1", "input", 8, 3, 3, &same, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "bn1", "conv1");
    if (st == CLCNN_OK) st = clcnn_graph_activation(g, "act1", "bn1", CLCNN_ACT_SILU);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "conv2", "act1", 16, 3, 3, &down, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "bn2", "conv2");
    if (st == CLCNN_OK) st = clcnn_graph_activation(g, "act2", "bn2", CLCNN_ACT_SILU);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "conv3", "act2", 16, 3, 3, &same, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "bn3", "conv3");
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "skip", "act1", 16, 1, 1, &down1, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "skip_bn", "skip");
    if (st == CLCNN_OK) st = clcnn_graph_add(g, "sum", "bn3", "skip_bn", CLCNN_ACT_NONE);
    if (st == CLCNN_OK) st = clcnn_graph_activation(g, "act3", "sum", CLCNN_ACT_SILU);
    if (st == CLCNN_OK) st = clcnn_graph_global_avg_pool(g, "pool", "act3");
    if (mlp) {
        if (st == CLCNN_OK) st = clcnn_graph_linear(g, "fc.0", "pool", 16, 1);
        if (st == CLCNN_OK) st = clcnn_graph_activation(g, "fc.1", "fc.0", CLCNN_ACT_SILU);
        if (st == CLCNN_OK) st = clcnn_graph_dropout(g, "fc.2", "fc.1", 0.3f);
        if (st == CLCNN_OK) st = clcnn_graph_linear(g, "fc.3", "fc.2", CLASSES, 1);
    } else if (st == CLCNN_OK) {
        st = clcnn_graph_linear(g, "fc", "pool", CLASSES, 1);
    }
    if (st != CLCNN_OK) clcnn_graph_destroy(g), g = NULL;
    *out = g;
    return st;
}

static clcnn_status train_share(step_job *j, clcnn_context *ctx) {
    clcnn_graph *g = NULL;
    clcnn_trainer *t = NULL;
    clcnn_tensor *x = NULL, *labels = NULL;
    const size_t per = 3 * SIDE * SIDE;
    static const float class_weights[2][CLASSES] = {{0.5f, 2.0f, 1.0f}, {0.0f, 2.0f, 1.0f}};
    const clcnn_train_params tp = {.optimizer = {.kind = CLCNN_OPT_SGD, .lr = 0.2f, .momentum = 0.9f},
                                   .class_weights = j->mlp ? class_weights[j->mlp - 1] : NULL};
    clcnn_status st;
    if ((st = build_smooth(ctx, j->mlp, &g)) != CLCNN_OK || (st = clcnn_trainer_create(g, &tp, &t)) != CLCNN_OK ||
        (st = clcnn_trainer_set_dist(t, j->dist, j->flags)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 4, (int[]){j->n, 3, SIDE, SIDE}, &x)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 1, (int[]){j->n}, &labels)) != CLCNN_OK ||
        (st = clcnn_tensor_write(x, j->x + (size_t)j->first * per, (size_t)j->n * per)) != CLCNN_OK ||
        (st = clcnn_tensor_write(labels, j->labels + j->first, (size_t)j->n)) != CLCNN_OK)
        goto done;
    for (int s = 0; s < STEPS && st == CLCNN_OK; s++) st = clcnn_trainer_step(t, x, labels, &j->loss);
    j->nparams = clcnn_graph_param_count(g);
    j->params = calloc((size_t)j->nparams, sizeof *j->params);
    j->sizes = calloc((size_t)j->nparams, sizeof *j->sizes);
    j->names = calloc((size_t)j->nparams, sizeof *j->names);
    for (int i = 0; st == CLCNN_OK && i < j->nparams; i++) {
        clcnn_param_info p;
        if ((st = clcnn_graph_param_info(g, i, &p)) != CLCNN_OK) break;
        j->sizes[i] = clcnn_tensor_numel(p.value);
        j->names[i] = strdup(p.name);
        j->params[i] = malloc(j->sizes[i] * sizeof(float));
        if (!j->params[i] || !j->names[i]) st = CLCNN_ERR_OUT_OF_MEMORY;
        else st = clcnn_tensor_read(p.value, j->params[i], j->sizes[i]);
    }
done:
    if (st != CLCNN_OK) snprintf(j->error, sizeof j->error, "%s", clcnn_last_error(ctx));
    clcnn_tensor_destroy(x);
    clcnn_tensor_destroy(labels);
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g);
    return st;
}

static void *step_rank(void *arg) {
    step_job *j = arg;
    clcnn_context *ctx = NULL;
    j->st = clcnn_context_create(-1, &ctx);
    if (j->st == CLCNN_OK) j->st = train_share(j, ctx);
    else snprintf(j->error, sizeof j->error, "%s", clcnn_last_error(NULL));
    clcnn_context_destroy(ctx);
    return NULL;
}

static void free_job(step_job *j) {
    for (int i = 0; i < j->nparams; i++) {
        if (j->params) free(j->params[i]);
        if (j->names) free(j->names[i]);
    }
    free(j->params), free(j->sizes), free(j->names);
}

static void make_batch(float *x, float *labels) {
    test_rng rng = {g_seed ^ 0xd157};
    for (size_t i = 0; i < (size_t)BATCH * 3 * SIDE * SIDE; i++) x[i] = test_rng_uniform(&rng, -1.0f, 1.5f);
    for (int i = 0; i < BATCH; i++) labels[i] = (float)(i % CLASSES);
}

/* Every parameter and running statistic of the ranks against the whole batch's run:
 * within 2e-5 of the largest change the steps made to it (float sums in another order). */
static void compare_runs(const step_job *whole, const step_job *rank, const char *what) {
    CHECK(whole->nparams == rank->nparams, "%s: %d parameters, want %d", what, rank->nparams, whole->nparams);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < whole->nparams && i < rank->nparams; i++) {
        double err = 0, scale = 0;
        for (size_t k = 0; k < whole->sizes[i]; k++) {
            err = fmax(err, fabs((double)whole->params[i][k] - rank->params[i][k]));
            scale = fmax(scale, fabs((double)whole->params[i][k]));
        }
        const double rel = err / (scale + 1e-3);
        if (rel > worst) worst = rel, worst_name = whole->names[i];
    }
    CHECK(worst < 2e-5, "%s: %s differs by %.3g of its size from the whole batch's step", what, worst_name, worst);
    printf("    %s: largest difference %.2g of the parameter's size (%s)\n", what, worst, worst_name);
}

static void check_split(const float *x, const float *labels, const step_job *whole, int n0, int flags, const char *what) {
    clcnn_dist *d[2];
    CHECK_OK(clcnn_dist_create_threads(2, d));
    step_job jobs[2] = {{.dist = d[0], .flags = flags, .mlp = whole->mlp, .first = 0, .n = n0, .x = x, .labels = labels},
                        {.dist = d[1], .flags = flags, .mlp = whole->mlp, .first = n0, .n = BATCH - n0, .x = x,
                         .labels = labels}};
    run_ranks(step_rank, jobs, sizeof jobs[0], 2);
    for (int r = 0; r < 2; r++) CHECK(jobs[r].st == CLCNN_OK, "%s: rank %d: %s", what, r, jobs[r].error);
    if (jobs[0].st == CLCNN_OK && jobs[1].st == CLCNN_OK) {
        if (!flags) {
            compare_runs(whole, &jobs[0], what);
            compare_runs(&jobs[0], &jobs[1], "rank 1 against rank 0");
            CHECK(fabsf(jobs[0].loss - whole->loss) <= 1e-5f * fabsf(whole->loss) + 1e-6f, "%s: loss %g, want %g",
                  what, jobs[0].loss, whole->loss);
        } else { /* local statistics: the first batch norm's running mean is each rank's own */
            int bn = 0;
            while (bn < whole->nparams && strcmp(whole->names[bn], "bn1.running_mean")) bn++;
            double diff = 0;
            for (size_t k = 0; bn < whole->nparams && k < whole->sizes[bn]; k++)
                diff = fmax(diff, fabs((double)jobs[0].params[bn][k] - jobs[1].params[bn][k]));
            CHECK(bn < whole->nparams && diff > 1e-4, "%s: the ranks' bn1.running_mean differ by %g", what, diff);
        }
    }
    free_job(&jobs[0]), free_job(&jobs[1]);
    clcnn_dist_destroy(d[0]), clcnn_dist_destroy(d[1]);
}

static void test_dist_step_matches_whole_batch(void) {
    float *x = malloc(sizeof(float) * BATCH * 3 * SIDE * SIDE), labels[BATCH];
    if (!x) return test_fail(__FILE__, __LINE__, "no host memory");
    make_batch(x, labels);
    step_job whole = {.first = 0, .n = BATCH, .x = x, .labels = labels};
    step_rank(&whole);
    CHECK(whole.st == CLCNN_OK, "one process: %s", whole.error);
    if (whole.st == CLCNN_OK) {
        check_split(x, labels, &whole, BATCH / 2, 0, "2 ranks, 4 + 4 images");
        check_split(x, labels, &whole, 3, 0, "2 ranks, 3 + 5 images");
        check_split(x, labels, &whole, BATCH / 2, CLCNN_DIST_LOCAL_BN, "2 ranks, local batch norm");
    }
    free_job(&whole);
    /* dropout (the masks of the whole batch's samples) and class weights (each rank's
     * loss weighs as its images' weights) */
    step_job mlp = {.mlp = 1, .first = 0, .n = BATCH, .x = x, .labels = labels};
    step_rank(&mlp);
    CHECK(mlp.st == CLCNN_OK, "one process, MLP head: %s", mlp.error);
    if (mlp.st == CLCNN_OK) check_split(x, labels, &mlp, 3, 0, "2 ranks, 3 + 5 images, dropout and class weights");
    free_job(&mlp);
    /* rank 0's one image is of class 0, whose weight is 0: its share of the loss is 0/0 */
    step_job zero = {.mlp = 2, .first = 0, .n = BATCH, .x = x, .labels = labels};
    step_rank(&zero);
    CHECK(zero.st == CLCNN_OK, "one process, class 0 weighing 0: %s", zero.error);
    if (zero.st == CLCNN_OK) check_split(x, labels, &zero, 1, 0, "2 ranks, 1 + 7 images, rank 0's of weight 0");
    free_job(&zero);
    free(x);
}

/* ---- the batch norm op over ranks ---- */

enum { BN_N = 6, BN_C = 5, BN_S = 21, BN_MINE = 2 }; /* this rank: the first 2 samples; its partner the other 4 */

/* The partner rank, played on the host from the whole batch's double reference: what it
 * adds to each sum (the forward's moments, then the backward's sums, in that order). */
typedef struct {
    const double *x, *dy, *mean, *invstd; /* the whole batch's, and its statistics */
    int calls;
} partner;

static int partner_sum(void *user, double *v, size_t n, char why[256]) {
    partner *p = user;
    /* first the forward's (mean, M2, count) in rank slots, then the backward's sums */
    const size_t slot = 2 * BN_C + 1, want = p->calls == 0 ? 2 * slot : slot;
    if (n != want || p->calls > 1) {
        snprintf(why, 256, "call %d sums %zu values, want %zu", p->calls, n, want);
        return 1;
    }
    double *mine = p->calls == 0 ? v + slot : v; /* the partner is rank 1 */
    const int count = (BN_N - BN_MINE) * BN_S;
    for (int c = 0; c < BN_C; c++) {
        double a = 0, b = 0, mean = 0;
        for (int i = BN_MINE; i < BN_N; i++)
            for (int k = 0; k < BN_S; k++) mean += p->x[((size_t)i * BN_C + c) * BN_S + k] / count;
        for (int i = BN_MINE; i < BN_N; i++)
            for (int k = 0; k < BN_S; k++) {
                const size_t at = ((size_t)i * BN_C + c) * BN_S + k;
                if (p->calls == 0) { /* M2 */
                    b += (p->x[at] - mean) * (p->x[at] - mean);
                } else { /* sum dy, sum dy xhat */
                    a += p->dy[at];
                    b += p->dy[at] * (p->x[at] - p->mean[c]) * p->invstd[c];
                }
            }
        mine[2 * c] += p->calls == 0 ? mean : a;
        mine[2 * c + 1] += b;
    }
    mine[2 * BN_C] += count;
    p->calls++;
    return 0;
}

static int partner_sum_f32(void *user, float *v, size_t n, char why[256]) {
    (void)user, (void)v;
    snprintf(why, 256, "no float sums expected (%zu values)", n);
    return 1;
}

static clcnn_tensor *tensor_of(const float *v, int ndim, const int *shape) {
    clcnn_tensor *t = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, ndim, shape, &t));
    if (t && v) CHECK_OK(clcnn_tensor_write(t, v, clcnn_tensor_numel(t)));
    return t;
}

static double worst_rel(const float *got, const double *want, size_t n) {
    double err = 0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) {
        err = fmax(err, fabs((double)got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return err / scale;
}

/* Batch norm's training forward and backward on this rank's 2 samples of 6 (kernels
 * batchnorm_stats_local and _global, and the backward's sums over the ranks), the
 * other 4 on a partner rank played by the host: the statistics and y against the
 * double reference of the whole batch, dx against the whole batch's backward on the
 * device, dgamma and dbeta with the partner's share added likewise. Channels sit at
 * an offset of 30 times their spread, where combining the ranks by sums of squares
 * would lose the variance's digits (3e-4 of invstd). One thread: Oclgrind runs it
 * (its runtime is not thread-safe). */
static void test_dist_batchnorm_matches_whole_batch(void) {
    test_rng rng = {g_seed ^ 0xb4d157ull};
    enum { ALL = BN_N * BN_C * BN_S, MINE = BN_MINE * BN_C * BN_S };
    static float x[ALL], dy[ALL], y[MINE], dx[MINE], whole_dx[ALL];
    static double xd[ALL], dyd[ALL], yd[ALL], whole_dxd[ALL];
    float gamma[BN_C], beta[BN_C], zeros[BN_C] = {0}, ones[BN_C] = {1, 1, 1, 1, 1};
    float got[6][BN_C], whole_dg[BN_C], whole_db[BN_C];
    double gd[BN_C], bd[BN_C], mean[BN_C], var[BN_C], invstd[BN_C];
    for (int i = 0; i < ALL; i++) x[i] = 30.0f + test_rng_uniform(&rng, -1.0f, 1.0f), xd[i] = x[i];
    for (int i = 0; i < ALL; i++) dy[i] = test_rng_uniform(&rng, -1.0f, 1.0f), dyd[i] = dy[i];
    for (int c = 0; c < BN_C; c++) {
        gamma[c] = test_rng_uniform(&rng, 0.5f, 1.5f), beta[c] = test_rng_uniform(&rng, -0.5f, 0.5f);
        gd[c] = gamma[c], bd[c] = beta[c];
    }
    ref_bn_batch_stats(xd, BN_N, BN_C, BN_S, mean, var);
    for (int c = 0; c < BN_C; c++) invstd[c] = 1.0 / sqrt(var[c] + 1e-5);
    ref_bn_fixed(xd, BN_N, BN_C, BN_S, gd, bd, mean, invstd, yd);
    partner p = {xd, dyd, mean, invstd, 0};
    clcnn_dist *dist = NULL;
    CHECK_OK(clcnn_dist_create(&(clcnn_dist_ops){.rank = 0, .size = 2, .user = &p,
                                                 .allreduce_sum_f32 = partner_sum_f32,
                                                 .allreduce_sum_f64 = partner_sum}, &dist));
    const int vshape[1] = {BN_C}, mine[4] = {BN_MINE, BN_C, 3, 7}, all[4] = {BN_N, BN_C, 3, 7};
    clcnn_tensor *t_x = tensor_of(x, 4, mine), *t_y = tensor_of(NULL, 4, mine), *t_dy = tensor_of(dy, 4, mine),
                 *t_dx = tensor_of(NULL, 4, mine), *t_g = tensor_of(gamma, 1, vshape), *t_b = tensor_of(beta, 1, vshape),
                 *t_rm = tensor_of(zeros, 1, vshape), *t_rv = tensor_of(ones, 1, vshape),
                 *t_m = tensor_of(NULL, 1, vshape), *t_i = tensor_of(NULL, 1, vshape),
                 *t_dg = tensor_of(zeros, 1, vshape), *t_db = tensor_of(zeros, 1, vshape);
    /* the whole batch on this device alone, for dx, dgamma and dbeta */
    clcnn_tensor *w_x = tensor_of(x, 4, all), *w_y = tensor_of(NULL, 4, all), *w_dy = tensor_of(dy, 4, all),
                 *w_dx = tensor_of(NULL, 4, all), *w_m = tensor_of(NULL, 1, vshape), *w_i = tensor_of(NULL, 1, vshape),
                 *w_dg = tensor_of(zeros, 1, vshape), *w_db = tensor_of(zeros, 1, vshape);
    if (test_failures()) goto done;
    CHECK_OK(ops_batchnorm_train(g_ctx, dist, t_x, t_g, t_b, t_rm, t_rv, 0.1f, 1e-5f, t_y, t_m, t_i));
    CHECK_OK(ops_batchnorm_backward(g_ctx, dist, CLCNN_ACT_NONE, t_x, t_g, NULL, t_m, t_i, 1, t_dy, t_dx, 0, t_dg, t_db));
    CHECK_OK(clcnn_batchnorm_train(g_ctx, w_x, t_g, t_b, NULL, NULL, 0.1f, 1e-5f, w_y, w_m, w_i));
    CHECK_OK(clcnn_batchnorm_backward(g_ctx, w_x, t_g, w_m, w_i, 1, w_dy, w_dx, 0, w_dg, w_db));
    clcnn_tensor *outs[] = {t_m, t_i, t_rm, t_rv, t_dg, t_db};
    for (int k = 0; k < 6; k++) CHECK_OK(clcnn_tensor_read(outs[k], got[k], BN_C));
    CHECK_OK(clcnn_tensor_read(t_y, y, MINE));
    CHECK_OK(clcnn_tensor_read(t_dx, dx, MINE));
    CHECK_OK(clcnn_tensor_read(w_dx, whole_dx, ALL));
    CHECK_OK(clcnn_tensor_read(w_dg, whole_dg, BN_C));
    CHECK_OK(clcnn_tensor_read(w_db, whole_db, BN_C));
    if (test_failures()) goto done;
    double want_rm[BN_C], want_rv[BN_C], want_dg[BN_C], want_db[BN_C];
    for (int c = 0; c < BN_C; c++) {
        want_rm[c] = 0.1 * mean[c];
        want_rv[c] = 0.9 + 0.1 * var[c] * (BN_N * BN_S) / (BN_N * BN_S - 1);
        /* this rank's own dgamma, dbeta plus the partner's: the whole batch's */
        double pg = 0, pb = 0;
        for (int i = BN_MINE; i < BN_N; i++)
            for (int k = 0; k < BN_S; k++) {
                const size_t at = ((size_t)i * BN_C + c) * BN_S + k;
                pg += dyd[at] * (xd[at] - mean[c]) * invstd[c];
                pb += dyd[at];
            }
        got[4][c] += (float)pg, got[5][c] += (float)pb;
        want_dg[c] = whole_dg[c], want_db[c] = whole_db[c];
    }
    for (int i = 0; i < ALL; i++) whole_dxd[i] = whole_dx[i];
    const struct {
        const char *what;
        double err, bound;
    } checks[] = {
        {"y", worst_rel(y, yd, MINE), 1e-5},
        {"save_mean", worst_rel(got[0], mean, BN_C), 1e-6},
        {"save_invstd", worst_rel(got[1], invstd, BN_C), 1e-5},
        {"running_mean", worst_rel(got[2], want_rm, BN_C), 1e-6},
        {"running_var", worst_rel(got[3], want_rv, BN_C), 1e-6},
        {"dx", worst_rel(dx, whole_dxd, MINE), 1e-5},
        {"dgamma", worst_rel(got[4], want_dg, BN_C), 1e-5},
        {"dbeta", worst_rel(got[5], want_db, BN_C), 1e-5},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        CHECK(checks[i].err <= checks[i].bound, "rank 0 of 2: %s off by %.3g of its largest value (bound %.3g)",
              checks[i].what, checks[i].err, checks[i].bound);
    CHECK(p.calls == 2, "the partner was asked %d times, want 2 (statistics, backward sums)", p.calls);
    printf("    2 of 6 samples here, 4 on the partner: y %.1e, dx %.1e, dgamma %.1e of their largest values\n",
           checks[0].err, checks[5].err, checks[6].err);
done:;
    clcnn_tensor *all_t[] = {t_x, t_y, t_dy, t_dx, t_g, t_b, t_rm, t_rv, t_m, t_i, t_dg, t_db,
                             w_x, w_y, w_dy, w_dx, w_m, w_i, w_dg, w_db};
    for (size_t i = 0; i < sizeof all_t / sizeof all_t[0]; i++) clcnn_tensor_destroy(all_t[i]);
    clcnn_dist_destroy(dist);
}

const test_case test_dist_cases[] = {
    {"dist_batchnorm_matches_whole_batch", test_dist_batchnorm_matches_whole_batch},
    {"dist_threads_sum", test_dist_threads_sum},
    {"dist_timeout", test_dist_timeout},
    {"dist_step_matches_whole_batch", test_dist_step_matches_whole_batch},
    {NULL, NULL},
};
