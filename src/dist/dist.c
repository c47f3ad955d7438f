/* dist.c: the communicator handle over its operations (MPI's in dist_mpi.c, threads'
 * in dist_threads.c, or an application's own), and its error messages. */
#include <stdio.h>
#include <stdlib.h>
#include "dist/dist.h"

clcnn_status clcnn_dist_create(const clcnn_dist_ops *ops, clcnn_dist **dist) {
    static const char *op = "clcnn_dist_create";
    if (!ops || !dist) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    *dist = NULL;
    if (!ops->allreduce_sum_f32 || !ops->allreduce_sum_f64)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: the allreduce operations are needed", op);
    if (ops->size < 1 || ops->rank < 0 || ops->rank >= ops->size || ops->local_rank < 0)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: rank %d of %d (local rank %d) is not a rank", op,
                           ops->rank, ops->size, ops->local_rank);
    clcnn_dist *d = calloc(1, sizeof *d);
    if (!d) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    d->ops = *ops;
    *dist = d;
    return CLCNN_OK;
}

void clcnn_dist_destroy(clcnn_dist *dist) {
    if (!dist) return;
    if (dist->ops.destroy) dist->ops.destroy(dist->ops.user);
    free(dist);
}

int clcnn_dist_rank(const clcnn_dist *dist) { return dist ? dist->ops.rank : 0; }
int clcnn_dist_size(const clcnn_dist *dist) { return dist ? dist->ops.size : 1; }
int clcnn_dist_local_rank(const clcnn_dist *dist) { return dist ? dist->ops.local_rank : 0; }

int clcnn_dist_launched(void) {
    /* Open MPI, then MPICH's Hydra and Slurm's PMI */
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *v = getenv(sizes[i]);
        if (v && atoi(v) > 1) return 1;
    }
    return 0;
}

double dist_timeout_s(void) {
    const char *v = getenv("CLCNN_DIST_TIMEOUT");
    const double t = v ? atof(v) : 0;
    return t > 0 ? t : CLCNN_DIST_TIMEOUT_S;
}

/* n 0: a sum started before (its size said then). */
static clcnn_status failed(const clcnn_dist *d, const clcnn_context *ctx, const char *what, size_t n, const char *why) {
    char count[48] = "";
    if (n) snprintf(count, sizeof count, " (%zu values)", n);
    return rt_error(ctx, CLCNN_ERR_DISTRIBUTED, "rank %d of %d: summing %s%s over the ranks failed: %s",
                       d->ops.rank, d->ops.size, what, count, why[0] ? why : "no reason given");
}

clcnn_status dist_sum_f64(clcnn_dist *d, const clcnn_context *ctx, const char *what, double *values, size_t n) {
    char why[256] = "";
    if (!dist_active(d) || n == 0) return CLCNN_OK;
    return d->ops.allreduce_sum_f64(d->ops.user, values, n, why) ? failed(d, ctx, what, n, why) : CLCNN_OK;
}

clcnn_status dist_sum_f32(clcnn_dist *d, const clcnn_context *ctx, const char *what, float *values, size_t n) {
    char why[256] = "";
    if (!dist_active(d) || n == 0) return CLCNN_OK;
    return d->ops.allreduce_sum_f32(d->ops.user, values, n, why) ? failed(d, ctx, what, n, why) : CLCNN_OK;
}

clcnn_status dist_start_f32(clcnn_dist *d, const clcnn_context *ctx, const char *what, float *values, size_t n,
                            void **request) {
    char why[256] = "";
    *request = NULL;
    if (!d->start_f32) return dist_sum_f32(d, ctx, what, values, n);
    if (!dist_active(d) || n == 0) return CLCNN_OK;
    return d->start_f32(d->ops.user, values, n, request, why) ? failed(d, ctx, what, n, why) : CLCNN_OK;
}

clcnn_status dist_wait(clcnn_dist *d, const clcnn_context *ctx, const char *what, void *request) {
    char why[256] = "";
    if (!request) return CLCNN_OK;
    return d->wait(d->ops.user, request, why) ? failed(d, ctx, what, 0, why) : CLCNN_OK;
}

clcnn_status dist_test(clcnn_dist *d, const clcnn_context *ctx, const char *what, void **request) {
    char why[256] = "";
    int done = 0;
    if (!*request) return CLCNN_OK;
    if (d->test(d->ops.user, *request, &done, why)) return failed(d, ctx, what, 0, why);
    if (done) *request = NULL;
    return CLCNN_OK;
}

clcnn_status clcnn_dist_allreduce_sum(clcnn_dist *dist, double *values, size_t n) {
    if (!dist || (!values && n))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dist_allreduce_sum: %s is NULL",
                           dist ? "values" : "dist");
    return dist_sum_f64(dist, NULL, "the caller's values", values, n);
}

clcnn_status clcnn_dist_barrier(clcnn_dist *dist) {
    double one = 1;
    if (!dist) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_dist_barrier: dist is NULL");
    return dist_sum_f64(dist, NULL, "a barrier", &one, 1);
}

void clcnn_dist_abort(clcnn_dist *dist, int code) {
    if (dist && dist->ops.abort) dist->ops.abort(dist->ops.user, code);
}
