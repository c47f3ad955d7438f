/* dist.h: communicators for data-parallel training (include/clcnn.h's clcnn_dist_*):
 * the object behind the handle, and the sums the trainer and the batch norms make. */
#ifndef CLCNN_DIST_H
#define CLCNN_DIST_H

#include "runtime/internal.h"

struct clcnn_dist {
    clcnn_dist_ops ops;
    /* optional non-blocking sums (MPI's): start one, wait for it later; without them a
     * sum runs when started (dist_start_f32) */
    int (*start_f32)(void *user, float *values, size_t n, void **request, char why[256]);
    int (*wait)(void *user, void *request, char why[256]);
    int (*test)(void *user, void *request, int *done, char why[256]); /* done: request freed */
};

/* A communicator of more than one rank, or NULL: whether there is anything to sum. */
static inline int dist_active(const clcnn_dist *d) { return d && d->ops.size > 1; }

/* Sum n values over the ranks in place; an error names `what` and this rank. */
clcnn_status dist_sum_f64(clcnn_dist *d, const clcnn_context *ctx, const char *what, double *values, size_t n);
clcnn_status dist_sum_f32(clcnn_dist *d, const clcnn_context *ctx, const char *what, float *values, size_t n);

/* Start summing n floats over the ranks in place; *request (NULL when the sum is already
 * done) goes to dist_wait, which the values may not be touched before. */
clcnn_status dist_start_f32(clcnn_dist *d, const clcnn_context *ctx, const char *what, float *values, size_t n,
                            void **request);
clcnn_status dist_wait(clcnn_dist *d, const clcnn_context *ctx, const char *what, void *request);
/* Let the sum *request go on (MPI moves only inside its calls); *request becomes NULL
 * once it is done. */
clcnn_status dist_test(clcnn_dist *d, const clcnn_context *ctx, const char *what, void **request);

/* Seconds a collective waits before it fails: CLCNN_DIST_TIMEOUT, else CLCNN_DIST_TIMEOUT_S. */
double dist_timeout_s(void);

#endif
