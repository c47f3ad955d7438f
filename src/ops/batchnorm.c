/* batchnorm.c: batch norm over axis 1 of x [N, C, ...]: inference, folding into the
 * convolution before it, training (batch statistics) and backward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "dist/dist.h"
#include "ops/ops.h"

/* x viewed as [N, C, S]; M = N*S values per channel. */
typedef struct {
    int C, S, M;
} bn_dims;

static clcnn_status bn_dims_of(clcnn_context *ctx, const char *op, const clcnn_tensor *x, bn_dims *d) {
    clcnn_status st = rt_check_tensor(ctx, op, "input", x, 0);
    if (st != CLCNN_OK) return st;
    if (x->ndim < 2) {
        char s[128];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: input has shape %s, expected [N, C, ...]", op,
                           clcnn_tensor_shape_str(x, s, sizeof s));
    }
    d->C = x->shape[1];
    d->M = d->C ? (int)(x->numel / (size_t)d->C) : 0;
    d->S = x->shape[0] ? d->M / x->shape[0] : 1;
    if (d->S < 1) d->S = 1; /* empty tensors: kernels divide by S */
    return CLCNN_OK;
}

/* Rows of x viewed as [N*C, S]. */
static int bn_rows(const clcnn_tensor *x, const bn_dims *d) { return (int)(x->numel / (size_t)d->S); }

/* An elementwise kernel over x as (S, N*C): one row of work-items per channel plane,
 * exactly that range and no local size (the kernels have no bounds check). */
static clcnn_status bn_launch_rows(clcnn_context *ctx, cl_kernel k, const char *op, int nargs, const rt_karg *args,
                                   const clcnn_tensor *x, const bn_dims *d) {
    const int rows = bn_rows(x, d);
    if (rows == 0) return CLCNN_OK;
    const size_t global[2] = {(size_t)d->S, (size_t)rows};
    return rt_launch(ctx, k, op, nargs, args, 2, global, NULL);
}

static clcnn_status check_stats(clcnn_context *ctx, const char *op, int C, const clcnn_tensor *gamma,
                                const clcnn_tensor *beta, const clcnn_tensor *mean, const clcnn_tensor *var) {
    clcnn_status st;
    if ((st = rt_check_vector(ctx, op, "gamma", gamma, C)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "beta", beta, C)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "running_mean", mean, C)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "running_var", var, C)) != CLCNN_OK)
        return st;
    return CLCNN_OK;
}

/* y = (x - mean) * gamma * scale + beta with scale = 1/sqrt(stat + eps) (stat_is_var)
 * or stat itself (an invstd). */
static clcnn_status bn_apply(clcnn_context *ctx, const char *op, const clcnn_tensor *x, const clcnn_tensor *gamma,
                             const clcnn_tensor *beta, const clcnn_tensor *mean, const clcnn_tensor *stat,
                             int stat_is_var, float eps, const bn_dims *d, clcnn_tensor *y) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "batchnorm.cl", "batchnorm_apply", "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(x),    KARG_TENSOR(y),    KARG_TENSOR(gamma),   KARG_TENSOR(beta),
                               KARG_TENSOR(mean), KARG_TENSOR(stat), KARG_INT(stat_is_var), KARG_INT(d->C),
                               KARG_INT(d->S),    KARG_FLOAT(eps)};
    return bn_launch_rows(ctx, k, op, KARG_LIST(args), x, d);
}

clcnn_status clcnn_batchnorm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                             const clcnn_tensor *beta, const clcnn_tensor *mean, const clcnn_tensor *var, float eps,
                             clcnn_tensor *y) {
    static const char *op = "clcnn_batchnorm";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    bn_dims d;
    if ((st = bn_dims_of(ctx, op, x, &d)) != CLCNN_OK ||
        (st = rt_check_same_shape(ctx, op, "input", x, "output", y)) != CLCNN_OK ||
        (st = check_stats(ctx, op, d.C, gamma, beta, mean, var)) != CLCNN_OK)
        return st;
    return bn_apply(ctx, op, x, gamma, beta, mean, var, 1, eps, &d, y);
}

/* Weights each batchnorm_fold work-item scales on a CPU (a run within one channel); on
 * other devices one each, so that neighbouring work-items read neighbouring weights. */
#define BN_FOLD_CPU_CHUNK 256

clcnn_status clcnn_batchnorm_fold(clcnn_context *ctx, const clcnn_tensor *w, const clcnn_tensor *bias,
                                  const clcnn_tensor *gamma, const clcnn_tensor *beta, const clcnn_tensor *mean,
                                  const clcnn_tensor *var, float eps, clcnn_tensor *w_out, clcnn_tensor *b_out) {
    static const char *op = "clcnn_batchnorm_fold";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_same_shape(ctx, op, "weight", w, "folded weight", w_out)) != CLCNN_OK) return st;
    const int C = w->shape[0];
    if ((bias && (st = rt_check_vector(ctx, op, "bias", bias, C)) != CLCNN_OK) ||
        (st = rt_check_vector(ctx, op, "folded bias", b_out, C)) != CLCNN_OK ||
        (st = check_stats(ctx, op, C, gamma, beta, mean, var)) != CLCNN_OK)
        return st;
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "batchnorm.cl", "batchnorm_fold", "", &k)) != CLCNN_OK) return st;
    const int per_channel = (int)(w->numel / (size_t)C);
    const int chunk = rt_cpu_family(ctx) ? BN_FOLD_CPU_CHUNK : 1;
    const rt_karg args[] = {KARG_TENSOR(w), KARG_TENSOR(bias), KARG_TENSOR(gamma), KARG_TENSOR(beta),
                               KARG_TENSOR(mean), KARG_TENSOR(var), KARG_TENSOR(w_out), KARG_TENSOR(b_out),
                               KARG_INT(per_channel), KARG_INT(chunk), KARG_INT(C), KARG_FLOAT(eps)};
    const size_t global[2] = {(size_t)(per_channel + chunk - 1) / chunk, (size_t)C};
    return rt_launch(ctx, k, op, KARG_LIST(args), 2, global, ops_fixed_local(ctx));
}

/* ------------------------------------------------------------- training -- */

/* The two-level reductions of cl/batchnorm.cl: each row (n, c) of S values is cut
 * into G segments of L values, one work-item each on CPUs, one work-group each on GPUs
 * (the _group kernels). Enough of them for the device to fill (a CPU a few work-items
 * per core: there one segment per row, read whole; a GPU a few thousand work-groups),
 * and at least 32 values per work-item's segment, 256 per work-group's. */
typedef struct {
    int N, L, G;
} bn_split;

static bn_split bn_split_of(const clcnn_context *ctx, const clcnn_tensor *x, const bn_dims *d) {
    const int gpu = !rt_cpu_family(ctx);
    const int target = gpu ? 4096 : 64 * (int)(ctx->dev.info.compute_units ? ctx->dev.info.compute_units : 1);
    const int rows = bn_rows(x, d) > 0 ? bn_rows(x, d) : 1;
    int G = (target + rows - 1) / rows;
    if (G > d->S / (gpu ? 256 : 32)) G = d->S / (gpu ? 256 : 32);
    if (G < 1) G = 1;
    bn_split sp = {x->shape[0], (d->S + G - 1) / G, 0};
    sp.G = (d->S + sp.L - 1) / sp.L; /* no empty segment */
    return sp;
}

/* A (G, N*C) launch of the partial-reduction kernel `name` (`name`_partial: a work-item
 * per segment) on CPUs, of `name`_group (a work-group per segment) on GPUs. */
static clcnn_status bn_reduce(clcnn_context *ctx, const char *op, const char *name, int nargs, const rt_karg *args,
                              const bn_dims *d, const bn_split *sp) {
    char kernel[48];
    snprintf(kernel, sizeof kernel, "%s_%s", name, rt_cpu_family(ctx) ? "partial" : "group");
    if (!rt_cpu_family(ctx)) {
        const size_t items[2] = {(size_t)sp->G, (size_t)sp->N * (size_t)d->C};
        return ops_reduce_kernel_rows(ctx, "batchnorm.cl", kernel, op, nargs, args, 3, items);
    }
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "batchnorm.cl", kernel, "", &k);
    if (st != CLCNN_OK) return st;
    const size_t global[2] = {(size_t)sp->G, (size_t)sp->N * (size_t)d->C};
    return rt_launch(ctx, k, op, nargs, args, 2, global, NULL);
}

/* The partials: [C, N*G, 2] (at least one element, for empty inputs). */
static clcnn_status bn_part_scratch(clcnn_context *ctx, const bn_dims *d, const bn_split *sp, clcnn_tensor **part) {
    const int per = sp->N * sp->G > 0 ? sp->N * sp->G : 1;
    return rt_scratch(ctx, 3, (const int[]){d->C > 0 ? d->C : 1, per, 2}, part);
}

/* One work-item per channel. */
static clcnn_status bn_per_channel(clcnn_context *ctx, const char *op, const char *name, int nargs,
                                   const rt_karg *args, int C) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "batchnorm.cl", name, "", &k);
    if (st != CLCNN_OK) return st;
    return ops_launch_1d(ctx, k, op, nargs, args, (size_t)C);
}

/* Per-channel pairs ([C, 2] on the device, with this rank's value count) over the
 * ranks, in double on the host, written back. The backward's sums (mean_m2 0) simply
 * add. The forward's (mean, M2) pairs (mean_m2 1) go to the ranks in slots of their
 * own, and every rank combines the slots in rank order by Chan et al.'s update, as one
 * process combines its segments: a sum of squares would lose the variance's digits
 * where the mean is large against the spread. *total: the values over every rank. */
static clcnn_status over_ranks(clcnn_context *ctx, clcnn_dist *dist, const char *what, clcnn_tensor *pairs, int C,
                               double count, int mean_m2, double *total) {
    const size_t n = 2 * (size_t)C, ranks = (size_t)dist->ops.size, slot = n + 1;
    const size_t values = mean_m2 ? ranks * slot : slot;
    float *f = malloc(n * sizeof *f);
    double *v = calloc(values, sizeof *v);
    clcnn_status st = f && v ? clcnn_tensor_read(pairs, f, n)
                             : rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", what);
    if (st == CLCNN_OK) {
        double *mine = v + (mean_m2 ? (size_t)dist->ops.rank * slot : 0);
        for (size_t i = 0; i < n; i++) mine[i] = f[i];
        mine[n] = count;
        st = dist_sum_f64(dist, ctx, what, v, values);
    }
    if (st == CLCNN_OK && !mean_m2) {
        *total = v[n];
        for (size_t i = 0; i < n; i++) f[i] = (float)v[i];
    } else if (st == CLCNN_OK) {
        *total = 0;
        for (size_t r = 0; r < ranks; r++) *total += v[r * slot + n];
        for (int c = 0; c < C; c++) {
            double mean = 0, m2 = 0, seen = 0;
            for (size_t r = 0; r < ranks; r++) {
                const double *q = v + r * slot, k = q[n], all = seen + k;
                if (k <= 0) continue;
                const double delta = q[2 * c] - mean;
                mean += delta * k / all;
                m2 += q[2 * c + 1] + delta * delta * seen * k / all;
                seen = all;
            }
            f[2 * c] = (float)mean;
            f[2 * c + 1] = (float)m2;
        }
    }
    if (st == CLCNN_OK) st = clcnn_tensor_write(pairs, f, n);
    free(f);
    free(v);
    return st;
}

/* The batch statistics over every rank's batch: this rank's mean and M2 per channel,
 * combined over the ranks, then saved and blended into the running statistics. The
 * values per channel must be more than 1 over all the ranks (one rank may have 1). */
static clcnn_status bn_stats_over_ranks(clcnn_context *ctx, const char *op, clcnn_dist *dist, const clcnn_tensor *x,
                                        const clcnn_tensor *part, const bn_dims *d, const bn_split *sp,
                                        clcnn_tensor *running_mean, clcnn_tensor *running_var, float momentum,
                                        float eps, clcnn_tensor *save_mean, clcnn_tensor *save_invstd) {
    clcnn_tensor *moments = NULL;
    clcnn_status st = rt_scratch(ctx, 2, (const int[]){d->C, 2}, &moments);
    if (st != CLCNN_OK) return st;
    const rt_karg local_args[] = {KARG_TENSOR(part), KARG_TENSOR(x), KARG_TENSOR(moments), KARG_INT(d->C),
                                     KARG_INT(sp->N),   KARG_INT(d->S), KARG_INT(sp->L),      KARG_INT(sp->G)};
    double total = 0;
    if ((st = bn_per_channel(ctx, op, "batchnorm_stats_local", KARG_LIST(local_args), d->C)) == CLCNN_OK &&
        (st = over_ranks(ctx, dist, "batch norm statistics", moments, d->C, d->M, 1, &total)) == CLCNN_OK) {
        if (total < 2) {
            st = rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %g value(s) per channel over all %d ranks, training needs more "
                             "than 1", op, total, dist->ops.size);
        } else {
            const rt_karg args[] = {KARG_TENSOR(moments),     KARG_TENSOR(save_mean),   KARG_TENSOR(save_invstd),
                                       KARG_TENSOR(running_mean), KARG_TENSOR(running_var), KARG_INT(d->C),
                                       KARG_FLOAT((float)total),  KARG_FLOAT(momentum),     KARG_FLOAT(eps)};
            st = bn_per_channel(ctx, op, "batchnorm_stats_global", KARG_LIST(args), d->C);
        }
    }
    clcnn_tensor_destroy(moments);
    return st;
}

clcnn_status clcnn_batchnorm_train(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                                   const clcnn_tensor *beta, clcnn_tensor *running_mean, clcnn_tensor *running_var,
                                   float momentum, float eps, clcnn_tensor *y, clcnn_tensor *save_mean,
                                   clcnn_tensor *save_invstd) {
    return ops_batchnorm_train(ctx, NULL, x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean,
                               save_invstd);
}

clcnn_status ops_batchnorm_train(clcnn_context *ctx, clcnn_dist *dist, const clcnn_tensor *x,
                                 const clcnn_tensor *gamma, const clcnn_tensor *beta, clcnn_tensor *running_mean,
                                 clcnn_tensor *running_var, float momentum, float eps, clcnn_tensor *y,
                                 clcnn_tensor *save_mean, clcnn_tensor *save_invstd) {
    static const char *op = "clcnn_batchnorm_train";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    bn_dims d;
    if ((st = bn_dims_of(ctx, op, x, &d)) != CLCNN_OK ||
        (st = rt_check_same_shape(ctx, op, "input", x, "output", y)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "gamma", gamma, d.C)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "beta", beta, d.C)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "save_mean", save_mean, d.C)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "save_invstd", save_invstd, d.C)) != CLCNN_OK ||
        (running_mean && (st = rt_check_vector(ctx, op, "running_mean", running_mean, d.C)) != CLCNN_OK) ||
        (running_var && (st = rt_check_vector(ctx, op, "running_var", running_var, d.C)) != CLCNN_OK))
        return st;
    if (d.M < 2 && !dist_active(dist)) { /* over ranks: checked on the sum (bn_stats_over_ranks) */
        /* PyTorch: "Expected more than 1 value per channel when training". */
        char s[128];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: input %s has %d value(s) per channel, training needs more than 1",
                           op, clcnn_tensor_shape_str(x, s, sizeof s), d.M);
    }
    /* One pass over memory: each segment's mean and squared deviations (two passes
     * over the segment, the second from cache), combined per channel. */
    const bn_split sp = bn_split_of(ctx, x, &d);
    clcnn_tensor *part = NULL;
    if ((st = bn_part_scratch(ctx, &d, &sp, &part)) != CLCNN_OK) return st;
    const rt_karg part_args[] = {KARG_TENSOR(x),   KARG_TENSOR(part), KARG_INT(d.C),   KARG_INT(sp.N),
                                    KARG_INT(d.S),    KARG_INT(sp.L),    KARG_INT(sp.G)};
    if ((st = bn_reduce(ctx, op, "batchnorm_stats", KARG_LIST(part_args), &d, &sp)) != CLCNN_OK)
        goto cleanup;
    if (dist_active(dist)) {
        st = bn_stats_over_ranks(ctx, op, dist, x, part, &d, &sp, running_mean, running_var, momentum, eps, save_mean,
                                 save_invstd);
    } else {
        const rt_karg stats_args[] = {KARG_TENSOR(part),          KARG_TENSOR(x),           KARG_TENSOR(save_mean),
                                         KARG_TENSOR(save_invstd),   KARG_TENSOR(running_mean), KARG_TENSOR(running_var),
                                         KARG_INT(d.C),              KARG_INT(sp.N),           KARG_INT(d.S),
                                         KARG_INT(sp.L),             KARG_INT(sp.G),           KARG_FLOAT(momentum),
                                         KARG_FLOAT(eps)};
        st = bn_per_channel(ctx, op, "batchnorm_stats", KARG_LIST(stats_args), d.C);
    }
    if (st != CLCNN_OK) goto cleanup;
    st = bn_apply(ctx, op, x, gamma, beta, save_mean, save_invstd, 0, eps, &d, y);
cleanup:
    clcnn_tensor_destroy(part);
    return st;
}

clcnn_status clcnn_batchnorm_invstd(clcnn_context *ctx, const clcnn_tensor *var, float eps, clcnn_tensor *invstd) {
    static const char *op = "clcnn_batchnorm_invstd";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "var", var, 0)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "invstd", invstd, (int)var->numel)) != CLCNN_OK)
        return st;
    const rt_karg args[] = {KARG_TENSOR(var), KARG_TENSOR(invstd), KARG_INT(var->numel), KARG_FLOAT(eps)};
    return bn_per_channel(ctx, op, "batchnorm_invstd", KARG_LIST(args), (int)var->numel);
}

/* clcnn_batchnorm_backward (act NONE), or that of act(batch norm(x)) for act ReLU or
 * ReLU6, with beta (the mask made again from x in the kernels). */
static clcnn_status bn_backward(clcnn_context *ctx, clcnn_dist *dist, const char *op, clcnn_activation act, const clcnn_tensor *x,
                                const clcnn_tensor *gamma, const clcnn_tensor *beta, const clcnn_tensor *mean, const clcnn_tensor *invstd,
                                int batch_stats, const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate,
                                clcnn_tensor *dgamma, clcnn_tensor *dbeta) {
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    bn_dims d;
    if ((st = bn_dims_of(ctx, op, x, &d)) != CLCNN_OK ||
        (st = rt_check_same_shape(ctx, op, "input", x, "dy", dy)) != CLCNN_OK ||
        (dx && (st = rt_check_same_shape(ctx, op, "input", x, "dx", dx)) != CLCNN_OK) ||
        (st = rt_check_vector(ctx, op, "gamma", gamma, d.C)) != CLCNN_OK ||
        (beta && (st = rt_check_vector(ctx, op, "beta", beta, d.C)) != CLCNN_OK) ||
        (st = rt_check_vector(ctx, op, "mean", mean, d.C)) != CLCNN_OK ||
        (st = rt_check_vector(ctx, op, "invstd", invstd, d.C)) != CLCNN_OK ||
        (dgamma && (st = rt_check_vector(ctx, op, "dgamma", dgamma, d.C)) != CLCNN_OK) ||
        (dbeta && (st = rt_check_vector(ctx, op, "dbeta", dbeta, d.C)) != CLCNN_OK))
        return st;
    /* Per channel sum dy and sum dy xhat: dgamma and dbeta, and dx through the batch
     * statistics' dependence on x. */
    const int need_sums = dgamma || dbeta || (dx && batch_stats);
    clcnn_tensor *part = NULL, *sums = NULL;
    if (need_sums) {
        const bn_split sp = bn_split_of(ctx, x, &d);
        if ((st = bn_part_scratch(ctx, &d, &sp, &part)) != CLCNN_OK ||
            (st = rt_scratch(ctx, 2, (const int[]){d.C, 2}, &sums)) != CLCNN_OK)
            goto cleanup;
        const rt_karg part_args[] = {KARG_TENSOR(x),    KARG_TENSOR(dy),   KARG_TENSOR(mean),
                                        KARG_TENSOR(gamma), KARG_TENSOR(invstd), KARG_TENSOR(beta),
                                        KARG_TENSOR(part), KARG_INT(d.C),     KARG_INT(sp.N),
                                        KARG_INT(d.S),     KARG_INT(sp.L),    KARG_INT(sp.G),
                                        KARG_FLOAT(act == CLCNN_ACT_RELU6 ? 6.0f : 0.0f)};
        if ((st = bn_reduce(ctx, op, "batchnorm_grad", KARG_LIST(part_args), &d, &sp)) != CLCNN_OK)
            goto cleanup;
        const rt_karg args[] = {KARG_TENSOR(part),   KARG_TENSOR(invstd), KARG_TENSOR(sums),
                                   KARG_TENSOR(dgamma), KARG_TENSOR(dbeta),  KARG_INT(d.C),
                                   KARG_INT(sp.N * sp.G)};
        if ((st = bn_per_channel(ctx, op, "batchnorm_grad_sums", KARG_LIST(args), d.C)) != CLCNN_OK) goto cleanup;
    }
    /* dgamma and dbeta stay this rank's (the gradients' sum over the ranks adds them);
     * dx's sums are over every rank's batch, as its statistics were */
    double M = d.M;
    if (dx && batch_stats && dist_active(dist) &&
        (st = over_ranks(ctx, dist, "batch norm gradient sums", sums, d.C, d.M, 0, &M)) != CLCNN_OK)
        goto cleanup;
    if (dx) {
        cl_kernel k;
        const char *name = act == CLCNN_ACT_RELU6 ? "batchnorm_relu6_backward_dx"
                           : act == CLCNN_ACT_RELU ? "batchnorm_relu_backward_dx"
                                                   : "batchnorm_backward_dx";
        if ((st = rt_get_kernel(ctx, "batchnorm.cl", name, "", &k)) != CLCNN_OK) goto cleanup;
        const clcnn_tensor *s = batch_stats ? sums : NULL;
        const rt_karg args[] = {KARG_TENSOR(x),    KARG_TENSOR(dy),     KARG_TENSOR(gamma), KARG_TENSOR(beta),
                                   KARG_TENSOR(mean), KARG_TENSOR(invstd), KARG_TENSOR(s),     KARG_TENSOR(dx),
                                   KARG_INT(d.C),     KARG_INT(d.S),       KARG_INT((int)M),   KARG_INT(accumulate ? 1 : 0)};
        st = bn_launch_rows(ctx, k, op, KARG_LIST(args), x, &d);
    }
cleanup:
    clcnn_tensor_destroy(sums);
    clcnn_tensor_destroy(part);
    return st;
}

clcnn_status clcnn_batchnorm_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                                      const clcnn_tensor *mean, const clcnn_tensor *invstd, int batch_stats,
                                      const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate, clcnn_tensor *dgamma,
                                      clcnn_tensor *dbeta) {
    return bn_backward(ctx, NULL, "clcnn_batchnorm_backward", CLCNN_ACT_NONE, x, gamma, NULL, mean, invstd, batch_stats, dy, dx, accumulate,
                       dgamma, dbeta);
}

clcnn_status ops_batchnorm_backward(clcnn_context *ctx, clcnn_dist *dist, clcnn_activation act,
                                    const clcnn_tensor *x, const clcnn_tensor *gamma, const clcnn_tensor *beta,
                                    const clcnn_tensor *mean, const clcnn_tensor *invstd, int batch_stats,
                                    const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate, clcnn_tensor *dgamma,
                                    clcnn_tensor *dbeta) {
    static const char *op = "clcnn_batchnorm_act_backward";
    if (act == CLCNN_ACT_NONE)
        return bn_backward(ctx, dist, "clcnn_batchnorm_backward", act, x, gamma, NULL, mean, invstd, batch_stats, dy,
                           dx, accumulate, dgamma, dbeta);
    if (act != CLCNN_ACT_RELU && act != CLCNN_ACT_RELU6)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: activation %d is neither ReLU nor ReLU6", op,
                           (int)act);
    if (!beta) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: beta is NULL", op);
    return bn_backward(ctx, dist, op, act, x, gamma, beta, mean, invstd, batch_stats, dy, dx, accumulate, dgamma,
                       dbeta);
}

clcnn_status clcnn_batchnorm_act_backward(clcnn_context *ctx, clcnn_activation act, const clcnn_tensor *x,
                                          const clcnn_tensor *gamma, const clcnn_tensor *beta,
                                          const clcnn_tensor *mean, const clcnn_tensor *invstd, int batch_stats,
                                          const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate,
                                          clcnn_tensor *dgamma, clcnn_tensor *dbeta) {
    if (act == CLCNN_ACT_NONE)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT,
                           "clcnn_batchnorm_act_backward: activation %d is neither ReLU nor ReLU6", (int)act);
    return ops_batchnorm_backward(ctx, NULL, act, x, gamma, beta, mean, invstd, batch_stats, dy, dx, accumulate, dgamma,
                                  dbeta);
}

clcnn_status clcnn_batchnorm_relu_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                                           const clcnn_tensor *beta, const clcnn_tensor *mean,
                                           const clcnn_tensor *invstd, int batch_stats, const clcnn_tensor *dy,
                                           clcnn_tensor *dx, int accumulate, clcnn_tensor *dgamma,
                                           clcnn_tensor *dbeta) {
    return clcnn_batchnorm_act_backward(ctx, CLCNN_ACT_RELU, x, gamma, beta, mean, invstd, batch_stats, dy, dx,
                                        accumulate, dgamma, dbeta);
}
