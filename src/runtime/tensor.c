/* tensor.c: float32 tensors on the device, from a per-context memory pool so that a
 * network's passes reuse buffers instead of allocating per call. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/fault.h"
#include "runtime/internal.h"

/* ---- pool ---- */

/* Take the smallest free buffer that fits without wasting more than half of it. */
static cl_mem pool_take(clcnn_context *ctx, size_t bytes, size_t *got) {
    int best = -1;
    for (int i = 0; i < ctx->pool_free_count; i++) {
        size_t b = ctx->pool_free[i].bytes;
        if (b >= bytes && b / 2 <= bytes && (best < 0 || b < ctx->pool_free[best].bytes)) best = i;
    }
    if (best < 0) return NULL;
    cl_mem buf = ctx->pool_free[best].buf;
    *got = ctx->pool_free[best].bytes;
    ctx->pool_free[best] = ctx->pool_free[--ctx->pool_free_count];
    ctx->stats.pool_bytes_free -= *got;
    return buf;
}

static void pool_give(clcnn_context *ctx, cl_mem buf, size_t bytes) {
    if (ctx->pool_free_count == ctx->pool_free_cap) {
        int cap = ctx->pool_free_cap ? ctx->pool_free_cap * 2 : 32;
        rt_pool_slot *s = realloc(ctx->pool_free, (size_t)cap * sizeof *s);
        if (!s) { /* cannot keep it: release instead */
            clReleaseMemObject(buf);
            return;
        }
        ctx->pool_free = s;
        ctx->pool_free_cap = cap;
    }
    ctx->pool_free[ctx->pool_free_count++] = (rt_pool_slot){buf, bytes};
    ctx->stats.pool_bytes_free += bytes;
}

void clcnn_context_trim(clcnn_context *ctx) {
    if (!ctx) return;
    for (int i = 0; i < ctx->pool_free_count; i++) clReleaseMemObject(ctx->pool_free[i].buf);
    ctx->pool_free_count = 0;
    ctx->stats.pool_bytes_free = 0;
}

static clcnn_status pool_alloc(clcnn_context *ctx, size_t bytes, const char *shape, cl_mem *buf, size_t *got) {
    if ((*buf = pool_take(ctx, bytes, got)) != NULL) return CLCNN_OK;
    const clcnn_device_info *d = &ctx->dev.info;
    if (d->max_alloc_bytes && bytes > d->max_alloc_bytes)
        return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY,
                           "tensor %s needs %.1f MiB, more than one allocation on %s may hold (%.1f MiB)", shape,
                           bytes / 1048576.0, d->name, d->max_alloc_bytes / 1048576.0);
    /* CLCNN_FAULT counts buffers the pool must create (its reuses are not calls); an
     * injected failure fails the retry too, as a real shortage would. */
    const int injected = rt_fault_hit(CLCNN_FAULT_ALLOC);
    cl_int err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    for (int attempt = 0; attempt < 2; attempt++) {
        *buf = injected ? NULL : clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
        if (*buf) {
            ctx->stats.device_allocations++;
            *got = bytes;
            return CLCNN_OK;
        }
        clcnn_context_trim(ctx); /* give the pool's buffers back and try once more */
    }
    return rt_error(ctx, err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
                                    err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE
                                ? CLCNN_ERR_OUT_OF_MEMORY
                                : err,
                       "allocating %.1f MiB for tensor %s on %s failed (%d)%s", bytes / 1048576.0, shape, d->name, err,
                       injected ? CLCNN_FAULT_NOTE : "");
}

/* ---- shapes ---- */

static void format_shape(int ndim, const int *shape, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %d" : "%d", shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

const char *clcnn_tensor_shape_str(const clcnn_tensor *t, char *buf, size_t size) {
    if (!buf || size == 0) return "";
    if (!t) snprintf(buf, size, "(null)");
    else format_shape(t->ndim, t->shape, buf, size);
    return buf;
}

/* Validate a shape; kernels index with 32-bit ints, so numel must fit one. */
static clcnn_status check_shape(clcnn_context *ctx, int ndim, const int *shape, size_t *numel) {
    if (ndim < 1 || ndim > CLCNN_MAX_DIMS || !shape)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "tensor rank %d is outside 1..%d", ndim, CLCNN_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            char s[128];
            format_shape(ndim, shape, s, sizeof s);
            return rt_error(ctx, CLCNN_ERR_SHAPE, "tensor shape %s has a dimension <= 0", s);
        }
        if (n > (size_t)INT_MAX / (size_t)shape[i]) {
            char s[128];
            format_shape(ndim, shape, s, sizeof s);
            return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "tensor shape %s has more than 2^31 elements", s);
        }
        n *= (size_t)shape[i];
    }
    *numel = n;
    return CLCNN_OK;
}

static clcnn_status new_tensor(clcnn_context *ctx, int ndim, const int *shape, clcnn_tensor **out) {
    size_t numel;
    clcnn_status st = check_shape(ctx, ndim, shape, &numel);
    if (st != CLCNN_OK) return st;
    clcnn_tensor *t = calloc(1, sizeof *t);
    if (!t) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "out of host memory for a tensor");
    t->ctx = ctx;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->numel = numel;
    *out = t;
    return CLCNN_OK;
}

clcnn_status clcnn_tensor_create(clcnn_context *ctx, int ndim, const int *shape, clcnn_tensor **out) {
    if (!ctx || !out) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_tensor_create: NULL argument");
    *out = NULL;
    clcnn_tensor *t;
    clcnn_status st = new_tensor(ctx, ndim, shape, &t);
    if (st != CLCNN_OK) return st;
    char s[128];
    format_shape(ndim, shape, s, sizeof s);
    if ((st = pool_alloc(ctx, t->numel * sizeof(float), s, &t->buf, &t->bytes)) != CLCNN_OK) {
        free(t);
        return st;
    }
    t->pooled = 1;
    ctx->stats.pool_bytes_in_use += t->bytes;
    *out = t;
    return CLCNN_OK;
}

clcnn_status rt_scratch(clcnn_context *ctx, int ndim, const int *shape, clcnn_tensor **t) {
    return clcnn_tensor_create(ctx, ndim, shape, t);
}

clcnn_status clcnn_tensor_wrap(clcnn_context *ctx, void *cl_mem_buffer, size_t offset_elems, int ndim,
                               const int *shape, clcnn_tensor **out) {
    if (!ctx || !cl_mem_buffer || !out)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_tensor_wrap: NULL argument");
    *out = NULL;
    cl_mem buf = (cl_mem)cl_mem_buffer;
    size_t size = 0;
    cl_context owner = NULL;
    if (clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS ||
        clGetMemObjectInfo(buf, CL_MEM_CONTEXT, sizeof owner, &owner, NULL) != CL_SUCCESS)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_tensor_wrap: not a valid cl_mem buffer");
    if (owner != ctx->cl)
        return rt_error(ctx, CLCNN_ERR_CONTEXT_MISMATCH, "clcnn_tensor_wrap: the buffer belongs to another OpenCL context");
    clcnn_tensor *t;
    clcnn_status st = new_tensor(ctx, ndim, shape, &t);
    if (st != CLCNN_OK) return st;
    if (offset_elems > (size_t)INT_MAX || (offset_elems + t->numel) * sizeof(float) > size) {
        char s[128];
        format_shape(ndim, shape, s, sizeof s);
        free(t);
        return rt_error(ctx, CLCNN_ERR_SHAPE, "clcnn_tensor_wrap: %s at offset %zu does not fit a buffer of %zu bytes",
                           s, offset_elems, size);
    }
    t->buf = buf;
    t->offset = (int)offset_elems;
    *out = t;
    return CLCNN_OK;
}

clcnn_status rt_tensor_view(const clcnn_tensor *src, int ndim, const int *shape, clcnn_tensor **out) {
    clcnn_tensor *t;
    clcnn_status st = new_tensor(src->ctx, ndim, shape, &t);
    if (st != CLCNN_OK) return st;
    if (t->numel != src->numel) {
        free(t);
        return rt_error(src->ctx, CLCNN_ERR_SHAPE, "a view must keep the element count");
    }
    t->buf = src->buf;
    t->offset = src->offset;
    *out = t;
    return CLCNN_OK;
}

void clcnn_tensor_destroy(clcnn_tensor *t) {
    if (!t) return;
    if (t->pooled) {
        t->ctx->stats.pool_bytes_in_use -= t->bytes;
        pool_give(t->ctx, t->buf, t->bytes);
    }
    free(t);
}

int clcnn_tensor_ndim(const clcnn_tensor *t) { return t ? t->ndim : 0; }

int clcnn_tensor_dim(const clcnn_tensor *t, int axis) {
    if (!t) return 0;
    if (axis < 0) axis += t->ndim;
    return axis >= 0 && axis < t->ndim ? t->shape[axis] : 0;
}

size_t clcnn_tensor_numel(const clcnn_tensor *t) { return t ? t->numel : 0; }

clcnn_status clcnn_tensor_reshape(clcnn_tensor *t, int ndim, const int *shape) {
    if (!t) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_tensor_reshape: tensor is NULL");
    size_t numel;
    clcnn_status st = check_shape(t->ctx, ndim, shape, &numel);
    if (st != CLCNN_OK) return st;
    if (numel != t->numel) {
        char a[128], b[128];
        format_shape(ndim, shape, b, sizeof b);
        return rt_error(t->ctx, CLCNN_ERR_SHAPE, "cannot reshape %s (%zu elements) to %s (%zu elements)",
                           clcnn_tensor_shape_str(t, a, sizeof a), t->numel, b, numel);
    }
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    return CLCNN_OK;
}

static clcnn_status check_copy(const clcnn_tensor *t, const float *host, size_t count, const char *what) {
    if (!t || !host) return rt_error(t ? t->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", what);
    if (count != t->numel) {
        char s[128];
        return rt_error(t->ctx, CLCNN_ERR_SHAPE, "%s: %zu values given for tensor %s of %zu elements", what, count,
                           clcnn_tensor_shape_str(t, s, sizeof s), t->numel);
    }
    return CLCNN_OK;
}

clcnn_status clcnn_tensor_write(clcnn_tensor *t, const float *host, size_t count) {
    clcnn_status st = check_copy(t, host, count, "clcnn_tensor_write");
    if (st != CLCNN_OK) return st;
    cl_int err = clEnqueueWriteBuffer(t->ctx->queue, t->buf, CL_TRUE, (size_t)t->offset * sizeof(float),
                                      count * sizeof(float), host, 0, NULL, NULL);
    if (err != CL_SUCCESS) return rt_error(t->ctx, err, "clcnn_tensor_write: clEnqueueWriteBuffer failed (%d)", err);
    return CLCNN_OK;
}

clcnn_status rt_tensor_read_async(const clcnn_tensor *t, float *host, cl_event *done) {
    cl_int err = clEnqueueReadBuffer(t->ctx->queue, t->buf, CL_FALSE, (size_t)t->offset * sizeof(float),
                                     t->numel * sizeof(float), host, 0, NULL, done);
    if (err != CL_SUCCESS)
        return rt_error(t->ctx, err, "reading a tensor: clEnqueueReadBuffer failed (%d): an earlier kernel may have failed", err);
    return CLCNN_OK;
}

clcnn_status rt_tensor_write_async(clcnn_tensor *t, const float *host) {
    cl_int err = clEnqueueWriteBuffer(t->ctx->queue, t->buf, CL_FALSE, (size_t)t->offset * sizeof(float),
                                      t->numel * sizeof(float), host, 0, NULL, NULL);
    if (err != CL_SUCCESS) return rt_error(t->ctx, err, "writing a tensor: clEnqueueWriteBuffer failed (%d)", err);
    return CLCNN_OK;
}

clcnn_status clcnn_tensor_read(const clcnn_tensor *t, float *host, size_t count) {
    clcnn_status st = check_copy(t, host, count, "clcnn_tensor_read");
    if (st != CLCNN_OK) return st;
    cl_int err = clEnqueueReadBuffer(t->ctx->queue, t->buf, CL_TRUE, (size_t)t->offset * sizeof(float),
                                     count * sizeof(float), host, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return rt_error(t->ctx, err, "clcnn_tensor_read: clEnqueueReadBuffer failed (%d): an earlier kernel may have failed", err);
    return CLCNN_OK;
}

/* ---- argument checks shared by the ops ---- */

clcnn_status rt_check_tensor(clcnn_context *ctx, const char *op, const char *arg, const clcnn_tensor *t, int ndim) {
    if (!t) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, arg);
    if (t->ctx != ctx)
        return rt_error(ctx, CLCNN_ERR_CONTEXT_MISMATCH, "%s: %s belongs to another context", op, arg);
    if (ndim > 0 && t->ndim != ndim) {
        char s[128];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s has shape %s, expected %d dimensions", op, arg,
                           clcnn_tensor_shape_str(t, s, sizeof s), ndim);
    }
    return CLCNN_OK;
}

clcnn_status rt_check_same_shape(clcnn_context *ctx, const char *op, const char *arg_a, const clcnn_tensor *a,
                                    const char *arg_b, const clcnn_tensor *b) {
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, arg_a, a, 0)) != CLCNN_OK) return st;
    if ((st = rt_check_tensor(ctx, op, arg_b, b, 0)) != CLCNN_OK) return st;
    if (a->ndim == b->ndim && !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(int))) return CLCNN_OK;
    char sa[128], sb[128];
    return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s %s and %s %s must have the same shape", op, arg_a,
                       clcnn_tensor_shape_str(a, sa, sizeof sa), arg_b, clcnn_tensor_shape_str(b, sb, sizeof sb));
}

clcnn_status rt_check_vector(clcnn_context *ctx, const char *op, const char *arg, const clcnn_tensor *t, int length) {
    clcnn_status st = rt_check_tensor(ctx, op, arg, t, 0);
    if (st != CLCNN_OK) return st;
    if (t->numel == (size_t)length) return CLCNN_OK;
    char s[128];
    return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s has shape %s, expected %d elements", op, arg,
                       clcnn_tensor_shape_str(t, s, sizeof s), length);
}

clcnn_status clcnn_tensor_fill(clcnn_tensor *t, float value) {
    if (!t) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_tensor_fill: tensor is NULL");
    cl_int err = clEnqueueFillBuffer(t->ctx->queue, t->buf, &value, sizeof value, (size_t)t->offset * sizeof(float),
                                     t->numel * sizeof(float), 0, NULL, NULL);
    if (err != CL_SUCCESS) return rt_error(t->ctx, err, "clcnn_tensor_fill: clEnqueueFillBuffer failed (%d)", err);
    return CLCNN_OK;
}

clcnn_status rt_check_shape_is(clcnn_context *ctx, const char *op, const char *arg, const clcnn_tensor *t,
                                  int ndim, const int *shape) {
    clcnn_status st = rt_check_tensor(ctx, op, arg, t, 0);
    if (st != CLCNN_OK) return st;
    if (t->ndim == ndim && !memcmp(t->shape, shape, (size_t)ndim * sizeof(int))) return CLCNN_OK;
    char got[128], want[128];
    format_shape(ndim, shape, want, sizeof want);
    return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s has shape %s, expected %s", op, arg,
                       clcnn_tensor_shape_str(t, got, sizeof got), want);
}

clcnn_status rt_tensor_copy(const clcnn_tensor *src, clcnn_tensor *dst, const char *what) {
    cl_int err = clEnqueueCopyBuffer(dst->ctx->queue, src->buf, dst->buf, (size_t)src->offset * sizeof(float),
                                     (size_t)dst->offset * sizeof(float), src->numel * sizeof(float), 0, NULL, NULL);
    if (err != CL_SUCCESS) return rt_error(dst->ctx, err, "%s: clEnqueueCopyBuffer failed (%d)", what, err);
    return CLCNN_OK;
}
