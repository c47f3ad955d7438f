/* trainer_dist.c: what a data-parallel trainer sums over the ranks each step: the loss
 * and the image count, then the gradients, in buckets of CLCNN_DIST_BUCKET_BYTES read
 * to the host, summed and written back (no MPI takes OpenCL buffers). The batch norms'
 * statistics are summed inside the passes (graph bn_dist, ops/batchnorm.c). */
#include <stdlib.h>
#include <time.h>
#include "dist/dist.h"
#include "graph/graph.h"
#include "train/trainer_internal.h"
#include "runtime/clock.h"

void clcnn_trainer_comm(const clcnn_trainer *t, double *ms, size_t *bytes) {
    if (ms) *ms = t ? t->comm_ms : 0;
    if (bytes) *bytes = t ? t->comm_bytes : 0;
}

clcnn_status clcnn_trainer_set_dist(clcnn_trainer *t, clcnn_dist *dist, int flags) {
    if (!t) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_set_dist: trainer is NULL");
    if (flags & ~CLCNN_DIST_LOCAL_BN)
        return rt_error(t->ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_set_dist: unknown flags 0x%x", flags);
    t->dist = dist;
    t->dist_flags = flags;
    return CLCNN_OK;
}

/* The loss weight of this rank's images: their count, or with class weights (cross-
 * entropy's weighted mean) the sum of their classes' weights. */
static clcnn_status loss_weight(clcnn_trainer *t, const clcnn_tensor *labels, int images, double *w) {
    *w = images;
    if (!t->class_weights_host || t->p.loss != CLCNN_LOSS_CROSS_ENTROPY) return CLCNN_OK;
    float *y = malloc(((size_t)images + 1) * sizeof *y);
    clcnn_status st = y ? clcnn_tensor_read(labels, y, (size_t)images)
                        : rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    *w = 0;
    for (int i = 0; st == CLCNN_OK && i < images; i++) /* a label out of range: the loss says so */
        if (y[i] >= 0 && y[i] < t->n_class_weights) *w += t->class_weights_host[(int)y[i]];
    free(y);
    return st;
}

clcnn_status trainer_dist_begin(clcnn_trainer *t, const clcnn_tensor *labels, int images) {
    t->share = 1.0;
    t->g->first_sample = 0;
    t->comm_ms = 0;
    t->comm_bytes = 0;
    if (!dist_active(t->dist)) return CLCNN_OK;
    const double t0 = clock_now_ms();
    const int size = t->dist->ops.size, rank = t->dist->ops.rank;
    /* every rank's image count in its slot, and the loss weights' sum */
    double *v = calloc((size_t)size + 2, sizeof *v), w;
    if (!v) return rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    clcnn_status st = loss_weight(t, labels, images, &w);
    v[rank] = images;
    v[size] = w;
    if (st == CLCNN_OK) st = dist_sum_f64(t->dist, t->ctx, "the step's image counts", v, (size_t)size + 1);
    if (st == CLCNN_OK) {
        for (int r = 0; r < rank; r++) t->g->first_sample += (uint64_t)v[r];
        t->share = v[size] > 0 ? w / v[size] : 1.0 / size;
    }
    free(v);
    t->comm_ms += clock_now_ms() - t0;
    return st;
}

/* Multiply the values of x by f on the host (the loss gradients: batch x classes). */
static clcnn_status scale_host(clcnn_trainer *t, clcnn_tensor *x, double f) {
    float *v = malloc(x->numel * sizeof *v);
    clcnn_status st = v ? clcnn_tensor_read(x, v, x->numel)
                        : rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    for (size_t i = 0; st == CLCNN_OK && i < x->numel; i++) v[i] = (float)(v[i] * f);
    if (st == CLCNN_OK) st = clcnn_tensor_write(x, v, x->numel);
    free(v);
    return st;
}

clcnn_status trainer_dist_loss(clcnn_trainer *t, int aux, float *loss) {
    if (!dist_active(t->dist)) return CLCNN_OK;
    /* a NaN on one rank makes the sum NaN on all: every rank then refuses the step; a
     * share of weight 0 (class weights of 0 for all its images) has a 0/0 loss: it adds
     * nothing, and its gradients are zero */
    double v = t->share > 0 ? *loss * t->share : 0;
    const double t0 = clock_now_ms();
    clcnn_status st = dist_sum_f64(t->dist, t->ctx, "the step's loss", &v, 1);
    t->comm_ms += clock_now_ms() - t0;
    if (st != CLCNN_OK) return st;
    *loss = (float)v;
    /* each rank's gradient weighs 1/size in the average: make it its share */
    const double f = t->share * t->dist->ops.size;
    if (f == 1.0) return CLCNN_OK;
    if (f == 0.0) {
        st = clcnn_tensor_fill(t->dout, 0.0f);
        return st == CLCNN_OK && aux ? clcnn_tensor_fill(t->aux_dout, 0.0f) : st;
    }
    if ((st = scale_host(t, t->dout, f)) != CLCNN_OK) return st;
    return aux ? scale_host(t, t->aux_dout, f) : CLCNN_OK;
}

/* ---- gradients ---- */

/* A bucket: gradients whose host copies lie together in staging, summed in one call. */
typedef struct {
    size_t first, count;  /* in staging */
    int from, to;         /* their tensors: tensors[from .. to) */
    cl_event read;        /* the last of their reads (NULL once waited for) */
    void *request;        /* the sum under way (dist_start_f32) */
} bucket;

struct grad_buckets {
    int *param_layer;        /* per graph parameter: its layer */
    float *staging;          /* every trainable gradient's host copy */
    clcnn_tensor **tensors;  /* this step's gradients in the order they were read */
    size_t *offsets;         /* where each lies in staging */
    bucket *b;
    int ntensors, nb, next_param;
    int started;             /* buckets whose sums have started */
    size_t used, capacity, cap_bytes; /* staging: floats used, floats allocated; bucket size */
};

void trainer_dist_free(clcnn_trainer *t) {
    struct grad_buckets *g = t->buckets;
    if (!g) return;
    clcnn_finish(t->ctx); /* writes from staging may be in flight */
    for (int k = 0; k <= g->nb; k++) /* the open bucket too */
        if (g->b[k].read) clReleaseEvent(g->b[k].read);
    free(g->param_layer), free(g->staging), free(g->tensors), free(g->offsets), free(g->b), free(g);
    t->buckets = NULL;
}

/* The per-trainer memory, made on the first data-parallel step: staging for every
 * parameter that can have a gradient (frozen, stopped or not, so that unfreezing or an
 * auxiliary head that starts learning needs no more). */
static clcnn_status buckets_make(clcnn_trainer *t) {
    if (t->buckets) return CLCNN_OK;
    struct grad_buckets *g = calloc(1, sizeof *g);
    const int n = t->nparams > 0 ? t->nparams : 1;
    size_t floats = 0;
    for (int i = 0; i < t->nparams; i++)
        if (t->g->params[i].trainable) floats += t->g->params[i].value->numel;
    if (g) {
        g->param_layer = malloc((size_t)n * sizeof *g->param_layer);
        g->staging = malloc((floats + 1) * sizeof *g->staging);
        g->tensors = malloc((size_t)n * sizeof *g->tensors);
        g->offsets = malloc((size_t)n * sizeof *g->offsets);
        g->b = calloc((size_t)n + 1, sizeof *g->b); /* and the open one */
    }
    if (g) g->capacity = floats;
    if (!g || !g->param_layer || !g->staging || !g->tensors || !g->offsets || !g->b) {
        t->buckets = g;
        trainer_dist_free(t);
        return rt_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory for %zu gradients", floats);
    }
    for (int i = 0; i < t->nparams; i++) g->param_layer[i] = 0;
    for (int l = 0; l < t->g->nlayers; l++)
        for (int k = 0; k < t->g->layers[l].nparams; k++)
            if (t->g->layers[l].param[k] >= 0) g->param_layer[t->g->layers[l].param[k]] = l;
    const char *env = getenv("CLCNN_DIST_BUCKET_BYTES"); /* tests make buckets small */
    g->cap_bytes = env && atol(env) > 0 ? (size_t)atol(env) : CLCNN_DIST_BUCKET_BYTES;
    t->buckets = g;
    return CLCNN_OK;
}

/* Close the open bucket: its reads are enqueued, the device starts on them. */
static clcnn_status close_bucket(clcnn_trainer *t) {
    struct grad_buckets *g = t->buckets;
    bucket *b = &g->b[g->nb];
    if (b->from == g->ntensors) return CLCNN_OK; /* empty */
    b->to = g->ntensors;
    b->count = g->used - b->first;
    g->nb++;
    g->b[g->nb] = (bucket){.first = g->used, .from = g->ntensors};
    const cl_int err = clFlush(t->ctx->queue);
    return err == CL_SUCCESS ? CLCNN_OK : rt_error(t->ctx, err, "training step: clFlush failed (%d)", err);
}

static clcnn_status start_bucket(clcnn_trainer *t, int k);

/* The graph's hook: the gradients of layers `layer` and above are enqueued in full.
 * The buckets closed at earlier calls start their sums first: at a point of the pass
 * fixed by the graph, so that every rank starts its sums in the same order as the
 * batch norms' (the device is then a layer ahead, on what was enqueued since). */
static clcnn_status grads_enqueued(void *user, int layer) {
    clcnn_trainer *t = user;
    struct grad_buckets *g = t->buckets;
    clcnn_status st = CLCNN_OK;
    for (const int closed = g->nb; st == CLCNN_OK && g->started < closed; g->started++) st = start_bucket(t, g->started);
    for (; st == CLCNN_OK && g->next_param >= 0 && g->param_layer[g->next_param] >= layer; g->next_param--) {
        clcnn_param_info p;
        if ((st = clcnn_graph_param_info(t->g, g->next_param, &p)) != CLCNN_OK) break;
        if (!p.grad || p.frozen) continue;
        if (g->used + p.grad->numel > g->capacity) /* cannot happen: staging holds every trainable parameter */
            return rt_error(t->ctx, CLCNN_ERR_INVALID_ARGUMENT, "training step: gradient %s does not fit the host "
                               "staging (%zu of %zu floats used)", p.name, g->used, g->capacity);
        bucket *b = &g->b[g->nb];
        if (b->read) clReleaseEvent(b->read), b->read = NULL; /* the bucket's last read stands for all */
        g->tensors[g->ntensors] = p.grad;
        g->offsets[g->ntensors++] = g->used;
        st = rt_tensor_read_async(p.grad, g->staging + g->used, &b->read);
        g->used += p.grad->numel;
        if (st == CLCNN_OK && (g->used - b->first) * sizeof(float) >= g->cap_bytes) st = close_bucket(t);
    }
    return st;
}

clcnn_status trainer_dist_backward_begin(clcnn_trainer *t) {
    if (!dist_active(t->dist)) return CLCNN_OK;
    clcnn_status st = buckets_make(t);
    if (st != CLCNN_OK) return st;
    struct grad_buckets *g = t->buckets;
    for (int k = 0; k <= g->nb; k++) /* a step that failed may have left some */
        if (g->b[k].read) clReleaseEvent(g->b[k].read), g->b[k].read = NULL;
    g->ntensors = g->nb = g->started = 0;
    g->used = 0;
    g->next_param = t->nparams - 1;
    g->b[0] = (bucket){0};
    t->g->grads_enqueued = grads_enqueued;
    t->g->grads_enqueued_user = t;
    return CLCNN_OK;
}

/* Wait for b's reads, letting the sum before it (prev, may be NULL) go on meanwhile. */
static clcnn_status wait_reads(clcnn_trainer *t, bucket *b, bucket *prev) {
    cl_int status = CL_QUEUED, err;
    clcnn_status st = CLCNN_OK;
    while ((err = clGetEventInfo(b->read, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL)) ==
               CL_SUCCESS && status > CL_COMPLETE) {
        if (prev && prev->request) {
            const double t0 = clock_now_ms();
            st = dist_test(t->dist, t->ctx, "gradients", &prev->request);
            t->comm_ms += clock_now_ms() - t0;
            if (st != CLCNN_OK) return st;
        }
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    return err != CL_SUCCESS ? err : status < 0 ? status : CLCNN_OK;
}

/* Wait for bucket k's reads (letting the sum before it go on) and start its sum. */
static clcnn_status start_bucket(clcnn_trainer *t, int k) {
    bucket *b = &t->buckets->b[k];
    const clcnn_status err = wait_reads(t, b, k ? &t->buckets->b[k - 1] : NULL);
    clReleaseEvent(b->read);
    b->read = NULL;
    if (err == CLCNN_ERR_DISTRIBUTED) return err;
    if (err != CLCNN_OK)
        return rt_error(t->ctx, err, "training step: reading the gradients failed (%d): an earlier kernel may have "
                           "failed", err);
    const double t0 = clock_now_ms();
    const clcnn_status st = dist_start_f32(t->dist, t->ctx, "gradients", t->buckets->staging + b->first, b->count,
                                           &b->request);
    t->comm_ms += clock_now_ms() - t0;
    t->comm_bytes += b->count * sizeof(float);
    return st;
}

/* Wait for bucket k's sum, average it and write it back. */
static clcnn_status finish_bucket(clcnn_trainer *t, bucket *b) {
    struct grad_buckets *g = t->buckets;
    const double t0 = clock_now_ms();
    clcnn_status st = dist_wait(t->dist, t->ctx, "gradients", b->request);
    t->comm_ms += clock_now_ms() - t0;
    b->request = NULL;
    const float inv = 1.0f / (float)t->dist->ops.size;
    float *v = g->staging + b->first;
    for (size_t i = 0; st == CLCNN_OK && i < b->count; i++) v[i] *= inv;
    for (int k = b->from; st == CLCNN_OK && k < b->to; k++)
        st = rt_tensor_write_async(g->tensors[k], g->staging + g->offsets[k]);
    return st;
}

clcnn_status trainer_dist_average_grads(clcnn_trainer *t) {
    if (!dist_active(t->dist)) return CLCNN_OK;
    struct grad_buckets *g = t->buckets;
    t->g->grads_enqueued = NULL;
    clcnn_status st = grads_enqueued(t, 0); /* any left (the pass stops above the input) */
    if (st == CLCNN_OK) st = close_bucket(t);
    for (; st == CLCNN_OK && g->started < g->nb; g->started++) st = start_bucket(t, g->started);
    for (int k = 0; st == CLCNN_OK && k < g->nb; k++) st = finish_bucket(t, &g->b[k]);
    for (int k = 0; k <= g->nb; k++) /* after a failure: the events not waited for */
        if (g->b[k].read) clReleaseEvent(g->b[k].read), g->b[k].read = NULL;
    return st;
}
