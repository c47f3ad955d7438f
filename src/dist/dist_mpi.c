/* dist_mpi.c: MPI_COMM_WORLD as a communicator (built with -DCLCNN_HAVE_MPI when the
 * Makefile finds Open MPI; make MPI=0 leaves it out). Each sum is a non-blocking
 * MPI_Iallreduce waited on with a deadline, so that a rank that hangs or died without
 * its job being stopped makes the others fail with a message, not wait for ever. */
#include "dist/dist.h"

#ifndef CLCNN_HAVE_MPI

int clcnn_dist_have_mpi(void) { return 0; }

clcnn_status clcnn_dist_create_mpi(clcnn_dist **dist) {
    if (dist) *dist = NULL;
    return rt_error(NULL, CLCNN_ERR_UNSUPPORTED,
                       "clcnn_dist_create_mpi: this libclcnn was built without MPI (install libopenmpi-dev and "
                       "rebuild, without MPI=0)");
}

#else

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
    MPI_Comm comm;    /* a duplicate of MPI_COMM_WORLD: our collectives never meet the application's */
    int finalize;     /* MPI was initialised here */
    double timeout_s;
} mpi_dist;

int clcnn_dist_have_mpi(void) { return 1; }

static void mpi_why(int code, char why[256]) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = 0;
    snprintf(why, 256, "MPI: %.240s", len ? text : "unknown error");
}

/* Test until done or the deadline, sleeping between tests so that ranks sharing cores
 * with the OpenCL CPU device's threads leave them the cores. */
static int wait_bounded(const mpi_dist *m, MPI_Request *req, char why[256]) {
    const double deadline = MPI_Wtime() + m->timeout_s;
    for (long spins = 0;; spins++) {
        int done = 0;
        const int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            mpi_why(rc, why);
            return 1;
        }
        if (done) return 0;
        if (MPI_Wtime() > deadline) {
            snprintf(why, 256, "no answer from every rank within %g s (a rank stopped or hangs; CLCNN_DIST_TIMEOUT "
                     "sets the wait)", m->timeout_s);
            return 1;
        }
        if (spins > 100) nanosleep(&(struct timespec){0, 20000}, NULL);
    }
}

static int allreduce(mpi_dist *m, void *values, size_t n, MPI_Datatype type, size_t elem, char why[256]) {
    for (size_t done = 0; done < n;) {
        const int count = n - done > INT_MAX ? INT_MAX : (int)(n - done);
        MPI_Request req;
        const int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)values + done * elem, count, type, MPI_SUM, m->comm, &req);
        if (rc != MPI_SUCCESS) {
            mpi_why(rc, why);
            return 1;
        }
        if (wait_bounded(m, &req, why)) return 1;
        done += (size_t)count;
    }
    return 0;
}

static int sum_f32(void *user, float *values, size_t n, char why[256]) {
    return allreduce(user, values, n, MPI_FLOAT, sizeof *values, why);
}

static int sum_f64(void *user, double *values, size_t n, char why[256]) {
    return allreduce(user, values, n, MPI_DOUBLE, sizeof *values, why);
}

static int start_f32(void *user, float *values, size_t n, void **request, char why[256]) {
    mpi_dist *m = user;
    if (n > INT_MAX) return sum_f32(user, values, n, why); /* *request stays NULL: done */
    MPI_Request *req = malloc(sizeof *req);
    if (!req) {
        snprintf(why, 256, "no host memory");
        return 1;
    }
    const int rc = MPI_Iallreduce(MPI_IN_PLACE, values, (int)n, MPI_FLOAT, MPI_SUM, m->comm, req);
    if (rc != MPI_SUCCESS) {
        free(req);
        mpi_why(rc, why);
        return 1;
    }
    *request = req;
    return 0;
}

static int wait_request(void *user, void *request, char why[256]) {
    const int rc = wait_bounded(user, request, why);
    free(request);
    return rc;
}

static int test_request(void *user, void *request, int *done, char why[256]) {
    (void)user;
    const int rc = MPI_Test(request, done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        mpi_why(rc, why);
        return 1;
    }
    if (*done) free(request);
    return 0;
}

static void mpi_abort(void *user, int code) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(((mpi_dist *)user)->comm, code);
}

static void mpi_destroy(void *user) {
    mpi_dist *m = user;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&m->comm);
    if (m->finalize && !finalized) MPI_Finalize();
    free(m);
}

clcnn_status clcnn_dist_create_mpi(clcnn_dist **dist) {
    static const char *op = "clcnn_dist_create_mpi";
    if (!dist) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: dist is NULL", op);
    *dist = NULL;
    mpi_dist *m = calloc(1, sizeof *m);
    if (!m) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    int inited = 0, rc = MPI_Initialized(&inited);
    if (rc == MPI_SUCCESS && !inited) {
        int provided; /* every call comes from the thread that made the communicator */
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        m->finalize = rc == MPI_SUCCESS;
    }
    MPI_Comm shared = MPI_COMM_NULL;
    clcnn_dist_ops ops = {.user = m, .allreduce_sum_f32 = sum_f32, .allreduce_sum_f64 = sum_f64,
                          .abort = mpi_abort, .destroy = mpi_destroy};
    if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(m->comm, &ops.rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(m->comm, &ops.size);
    /* the ranks that share this machine's memory, in rank order: which of its GPUs is ours */
    if (rc == MPI_SUCCESS) rc = MPI_Comm_split_type(m->comm, MPI_COMM_TYPE_SHARED, ops.rank, MPI_INFO_NULL, &shared);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(shared, &ops.local_rank);
    if (shared != MPI_COMM_NULL) MPI_Comm_free(&shared);
    if (rc != MPI_SUCCESS) {
        char why[256];
        mpi_why(rc, why);
        if (m->finalize) MPI_Finalize();
        free(m);
        return rt_error(NULL, CLCNN_ERR_DISTRIBUTED, "%s: %s", op, why);
    }
    m->timeout_s = dist_timeout_s();
    clcnn_status st = clcnn_dist_create(&ops, dist);
    if (st != CLCNN_OK) {
        mpi_destroy(m);
        return st;
    }
    (*dist)->start_f32 = start_f32;
    (*dist)->wait = wait_request;
    (*dist)->test = test_request;
    return CLCNN_OK;
}

#endif
