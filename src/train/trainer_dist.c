/* trainer_dist.c: what a data-parallel trainer sums over the ranks each step: the loss
 * and the image count, then the gradients, in buckets of CLCNN_DIST_BUCKET_BYTES read
 * to the host, summed and written back (no MPI takes OpenCL buffers). The batch norms'
 * statistics are summed inside the passes (graph bn_dist, ops/batchnorm.c). */
#include <stdlib.h>
#include "dist/dist.h"
#include "graph/graph.h"
#include "train/trainer_internal.h"

clcnn_status clcnn_trainer_set_dist(clcnn_trainer *t, clcnn_dist *dist, int flags) {
    if (!t) return clcnn_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_set_dist: trainer is NULL");
    if (flags & ~CLCNN_DIST_LOCAL_BN)
        return clcnn_error(t->ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_trainer_set_dist: unknown flags 0x%x", flags);
    t->dist = dist;
    t->dist_flags = flags;
    return CLCNN_OK;
}

/* Multiply the n values of x by f on the host (the loss gradients: batch x classes). */
static clcnn_status scale_host(clcnn_trainer *t, clcnn_tensor *x, double f) {
    float *v = malloc(x->numel * sizeof *v);
    clcnn_status st = v ? clcnn_tensor_read(x, v, x->numel)
                        : clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    for (size_t i = 0; st == CLCNN_OK && i < x->numel; i++) v[i] = (float)(v[i] * f);
    if (st == CLCNN_OK) st = clcnn_tensor_write(x, v, x->numel);
    free(v);
    return st;
}

clcnn_status trainer_dist_totals(clcnn_trainer *t, int images, int aux, float *loss) {
    if (!dist_active(t->dist)) return CLCNN_OK;
    /* a NaN on one rank makes the sum NaN on all: every rank then refuses the step */
    double v[2] = {(double)*loss * images, images};
    clcnn_status st = dist_sum_f64(t->dist, t->ctx, "the step's loss", v, 2);
    if (st != CLCNN_OK) return st;
    *loss = (float)(v[0] / v[1]);
    /* each rank's mean-loss gradient weighs 1/size in the average: make it images/total */
    const double f = (double)images * t->dist->ops.size / v[1];
    if (f == 1.0) return CLCNN_OK;
    if ((st = scale_host(t, t->dout, f)) != CLCNN_OK) return st;
    return aux ? scale_host(t, t->aux_dout, f) : CLCNN_OK;
}

/* Sum the bucket's first n floats over the ranks, divide by their number and write
 * them back to the tensors they came from. */
static clcnn_status flush(clcnn_trainer *t, clcnn_tensor *const *tensors, int count, size_t n) {
    clcnn_status st = dist_sum_f32(t->dist, t->ctx, "gradients", t->bucket, n);
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
    const size_t cap = CLCNN_DIST_BUCKET_BYTES / sizeof(float);
    clcnn_tensor **in_bucket = malloc((size_t)(t->nparams > 0 ? t->nparams : 1) * sizeof *in_bucket);
    if (!in_bucket) return clcnn_error(t->ctx, CLCNN_ERR_OUT_OF_MEMORY, "training step: no host memory");
    clcnn_status st = CLCNN_OK;
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
    return st;
}
