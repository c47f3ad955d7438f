/* dist_threads.c: communicators for the threads of one process, one rank each (a device
 * each): clcnn_dist_create_threads. The sums run in rank order, so that every rank gets
 * the same bits; a rank that does not come within the timeout, or that stops the job
 * (clcnn_dist_abort), fails the others' sums. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dist/dist.h"

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int size, users;       /* ranks, and communicators not yet destroyed */
    int arrived;           /* at the barrier of this generation */
    int stopped_by;        /* the rank that stopped the job (clcnn_dist_abort), or -1 */
    unsigned generation;
    const void **slots;    /* per rank: its values during a sum */
    size_t *counts;        /* per rank: their number */
    double timeout_s;
} shared_sum;

typedef struct {
    shared_sum *s;
    int rank;
} thread_rank;

/* Every rank here, or 1 at the deadline (why says so). */
static int barrier(shared_sum *s, char why[256]) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    const double end = (double)deadline.tv_nsec * 1e-9 + s->timeout_s;
    deadline.tv_sec += (time_t)end;
    deadline.tv_nsec = (long)((end - (double)(time_t)end) * 1e9);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    const unsigned gen = s->generation;
    if (++s->arrived == s->size) {
        s->arrived = 0;
        s->generation++;
        pthread_cond_broadcast(&s->changed);
    }
    while (s->generation == gen && s->stopped_by < 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->changed, &s->lock, &deadline);
    const int late = s->generation == gen, stopped_by = s->stopped_by;
    if (late) s->arrived--; /* this rank leaves the barrier; the others keep waiting for it */
    pthread_mutex_unlock(&s->lock);
    if (late && stopped_by >= 0) snprintf(why, 256, "rank %d stopped the job", stopped_by);
    else if (late) snprintf(why, 256, "not every rank came within %g s (CLCNN_DIST_TIMEOUT)", s->timeout_s);
    return late;
}

static int sum(void *user, void *values, size_t n, int is_f64, char why[256]) {
    thread_rank *t = user;
    shared_sum *s = t->s;
    const size_t elem = is_f64 ? sizeof(double) : sizeof(float);
    void *result = malloc(n * elem + 1);
    if (!result) {
        snprintf(why, 256, "no host memory for %zu values", n);
        return 1;
    }
    s->slots[t->rank] = values;
    s->counts[t->rank] = n;
    int rc = barrier(s, why);
    for (int r = 0; !rc && r < s->size; r++)
        if (s->counts[r] != n) {
            snprintf(why, 256, "rank %d sums %zu values, rank %d %zu: the ranks' calls are out of step", t->rank, n,
                     r, s->counts[r]);
            rc = 1;
        }
    for (size_t i = 0; !rc && i < n; i++) {
        double v = 0;
        for (int r = 0; r < s->size; r++)
            v += is_f64 ? ((const double *)s->slots[r])[i] : (double)((const float *)s->slots[r])[i];
        if (is_f64) ((double *)result)[i] = v;
        else ((float *)result)[i] = (float)v;
    }
    if (!rc) rc = barrier(s, why); /* every rank has read every slot */
    if (!rc) memcpy(values, result, n * elem);
    free(result);
    return rc;
}

static int sum_f32(void *user, float *values, size_t n, char why[256]) { return sum(user, values, n, 0, why); }
static int sum_f64(void *user, double *values, size_t n, char why[256]) { return sum(user, values, n, 1, why); }

/* A rank failed: every sum under way or to come fails at once, naming it. */
static void stop_all(void *user, int code) {
    (void)code;
    thread_rank *t = user;
    pthread_mutex_lock(&t->s->lock);
    if (t->s->stopped_by < 0) t->s->stopped_by = t->rank;
    pthread_cond_broadcast(&t->s->changed);
    pthread_mutex_unlock(&t->s->lock);
}

static void release(void *user) {
    thread_rank *t = user;
    shared_sum *s = t->s;
    pthread_mutex_lock(&s->lock);
    const int last = --s->users == 0;
    pthread_mutex_unlock(&s->lock);
    free(t);
    if (!last) return;
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
    free(s->slots);
    free(s->counts);
    free(s);
}

clcnn_status clcnn_dist_create_threads(int n, clcnn_dist **dists) {
    static const char *op = "clcnn_dist_create_threads";
    if (!dists || n < 1) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s", op, dists ? "n < 1" : "dists is NULL");
    memset(dists, 0, (size_t)n * sizeof *dists);
    shared_sum *s = calloc(1, sizeof *s);
    if (s) {
        s->slots = calloc((size_t)n, sizeof *s->slots);
        s->counts = calloc((size_t)n, sizeof *s->counts);
    }
    if (!s || !s->slots || !s->counts || pthread_mutex_init(&s->lock, NULL)) {
        if (s) free(s->slots), free(s->counts);
        free(s);
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    }
    pthread_cond_init(&s->changed, NULL);
    s->size = n;
    s->stopped_by = -1;
    s->timeout_s = dist_timeout_s();
    for (int r = 0; r < n; r++) {
        thread_rank *t = malloc(sizeof *t);
        clcnn_status st = t ? CLCNN_OK : rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        if (t) {
            *t = (thread_rank){s, r};
            s->users++;
            const clcnn_dist_ops ops = {.rank = r, .size = n, .local_rank = r, .user = t, .allreduce_sum_f32 = sum_f32,
                                        .allreduce_sum_f64 = sum_f64, .abort = stop_all, .destroy = release};
            if ((st = clcnn_dist_create(&ops, &dists[r])) != CLCNN_OK) release(t);
        }
        if (st != CLCNN_OK) {
            for (int k = 0; k < r; k++) clcnn_dist_destroy(dists[k]), dists[k] = NULL;
            if (r == 0 && !t) { /* no rank took s (a released one frees it) */
                pthread_mutex_destroy(&s->lock);
                pthread_cond_destroy(&s->changed);
                free(s->slots), free(s->counts), free(s);
            }
            return st;
        }
    }
    return CLCNN_OK;
}
