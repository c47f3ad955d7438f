/* trainer_dist.c: what a data-parallel trainer sums over the ranks each step: the loss
 * and the image count, then the gradients, in buckets of CLCNN_DIST_BUCKET_BYTES read
 * to the host, summed and written back (no MPI takes OpenCL buffers). The batch norms'
 * statistics are summed inside the passes (graph bn_dist, ops/batchnorm.c). */
#include <stdlib.h>
#include <time.h>
#include "dist/dist.h"
#include "graph/graph.h"
#include "train/trainer_internal.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void clcnn_trainer_comm(const clcnn_trainer *t, double *ms, size_t *bytes) {
    if (ms) *ms = t ? t->comm_ms : 0;
    if (bytes) *bytes = t ? t->comm_bytes : 0;
}

clcnn_status clcnn_trainer_set_dist(clcnn_trainer *t, clcnn_dist *dist, int flags) {
    if (!t) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_set_dist: trainer is NULL");
    if (flags & ~CLCNN_DIST_LOCAL_BN)
        return clcnn_error(t->ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_set_dist: unknown flags 0x%x", flags);
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
                        : clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
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
    const double t0 = now_ms();
    const int size = t->dist->ops.size, rank = t->dist->ops.rank;
    /* every rank's image count in its slot, and the loss weights' sum */
    double *v = calloc((size_t)size + 2, sizeof *v), w;
    if (!v) return clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    clcnn_status st = loss_weight(t, labels, images, &w);
    v[rank] = images;
    v[size] = w;
    if (st == CLCNN_OK) st = dist_sum_f64(t->dist, t->ctx, "the step's image counts", v, (size_t)size + 1);
    if (st == CLCNN_OK) {
        for (int r = 0; r < rank; r++) t->g->first_sample += (uint64_t)v[r];
        t->share = v[size] > 0 ? w / v[size] : 1.0 / size;
    }
    free(v);
    t->comm_ms += now_ms() - t0;
    return st;
}

/* Multiply the values of x by f on the host (the loss gradients: batch x classes). */
static clcnn_status scale_host(clcnn_trainer *t, clcnn_tensor *x, double f) {
    float *v = malloc(x->numel * sizeof *v);
    clcnn_status st = v ? clcnn_tensor_read(x, v, x->numel)
                        : clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    for (size_t i = 0; st == CLCNN_OK && i < x->numel; i++) v[i] = (float)(v[i] * f);
    if (st == CLCNN_OK) st = clcnn_tensor_write(x, v, x->numel);
    free(v);
    return st;
}

clcnn_status trainer_dist_loss(clcnn_trainer *t, int aux, float *loss) {
    if (!dist_active(t->dist)) return CLCNN_OK;
    /* a NaN on one rank makes the sum NaN on all: every rank then refuses the step */
    double v = *loss * t->share;
    const double t0 = now_ms();
    clcnn_status st = dist_sum_f64(t->dist, t->ctx, "the step's loss", &v, 1);
    t->comm_ms += now_ms() - t0;
    if (st != CLCNN_OK) return st;
    *loss = (float)v;
    /* each rank's gradient weighs 1/size in the average: make it its share */
    const double f = t->share * t->dist->ops.size;
    if (f == 1.0) return CLCNN_OK;
    if ((st = scale_host(t, t->dout, f)) != CLCNN_OK) return st;
    return aux ? scale_host(t, t->aux_dout, f) : CLCNN_OK;
}

/* Sum the bucket's first n floats over the ranks, divide by their number and write
 * them back to the tensors they came from. */
static clcnn_status flush(clcnn_trainer *t, clcnn_tensor *const *tensors, int count, size_t n) {
    clcnn_status st = dist_sum_f32(t->dist, t->ctx, "gradients", t->bucket, n);
    t->comm_bytes += n * sizeof(float);
    const float inv = 1.0f / (float)t->dist->ops.size;
    for (size_t i = 0; st == CLCNN_OK && i < n; i++) t->bucket[i] *= inv;
    size_t at = 0;
    for (int k = 0; st == CLCNN_OK && k < count; k++) {
        st = clcnn_tensor_write(tensors[k], t->bucket + at, tensors[k]->numel);
        at += tensors[k]->numel;
    }
    return st;
}

clcnn_status trainer_dist_average_grads(clcnn_trainer *t) {
    if (!dist_active(t->dist)) return CLCNN_OK;
    /* the backward pass first, so that the time counted is the communication's */
    clcnn_status st = clcnn_finish(t->ctx);
    if (st != CLCNN_OK) return st;
    const double t0 = now_ms();
    const size_t cap = CLCNN_DIST_BUCKET_BYTES / sizeof(float);
    clcnn_tensor **in_bucket = malloc((size_t)(t->nparams > 0 ? t->nparams : 1) * sizeof *in_bucket);
    if (!in_bucket) return clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    int count = 0;
    size_t n = 0;
    /* from the last parameter back: the order the backward pass finishes them in */
    for (int i = t->nparams - 1; st == CLCNN_OK && i >= 0; i--) {
        clcnn_param_info p;
        if ((st = clcnn_graph_param_info(t->g, i, &p)) != CLCNN_OK) break;
        if (!p.grad || p.frozen) continue;
        clcnn_tensor *grad = p.grad;
        if (count && n + grad->numel > cap) { /* full: sum what it holds first */
            if ((st = flush(t, in_bucket, count, n)) != CLCNN_OK) break;
            count = 0, n = 0;
        }
        const size_t need = n + grad->numel > cap ? n + grad->numel : cap; /* a bigger tensor: a bucket of its own */
        if (need > t->bucket_floats) {
            float *b = realloc(t->bucket, need * sizeof *b);
            if (!b) {
                st = clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory for %zu gradients",
                                 need);
                break;
            }
            t->bucket = b;
            t->bucket_floats = need;
        }
        if ((st = clcnn_tensor_read(grad, t->bucket + n, grad->numel)) != CLCNN_OK) break;
        in_bucket[count++] = grad;
        n += grad->numel;
    }
    if (st == CLCNN_OK && count) st = flush(t, in_bucket, count, n);
    free(in_bucket);
    t->comm_ms += now_ms() - t0;
    return st;
}
