/* testutil.c: shapes as text and per-case arenas for the op tests (see testutil.h). */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "testutil.h"
#include "ops/ops.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- shapes -- */

size_t numel(int ndim, const int *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

dimstr dims(int ndim, const int *shape) {
    dimstr d = {"["};
    for (int i = 0; i < ndim; i++) {
        size_t len = strlen(d.s);
        snprintf(d.s + len, sizeof d.s - len, "%s%d", i ? ", " : "", shape[i]);
    }
    strncat(d.s, "]", sizeof d.s - strlen(d.s) - 1);
    return d;
}

const char *act_name(int act) { return clcnn_activation_name((clcnn_activation)act); }

const char *gemm_conv_name(clcnn_context *ctx) {
    return ops_conv_implicit_gemm(ctx) ? "implicit-gemm" : "im2col-gemm";
}

/* ---------------------------------------------------- CLCNN_TEST_SMALL -- */

int test_small(void) {
    const char *v = getenv("CLCNN_TEST_SMALL");
    return v && *v && strcmp(v, "0") != 0;
}

int test_reps(int n, int small) { return test_small() && small < n ? small : n; }

int test_cap(int v, int cap) { return test_small() && v > cap ? cap - ((cap - v) & 1) : v; }

/* ----------------------------------------------------- reporting a case -- */

void case_fail(const arena *a, const char *file, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    test_fail(file, line, "%s: %s", a->desc, msg);
}

int case_ok(const arena *a, clcnn_status st, const char *expr, const char *file, int line) {
    if (st == CLCNN_OK) return 1;
    case_fail(a, file, line, "%s -> %d (%s): %s", expr, st, clcnn_status_str(st), clcnn_last_error(g_ctx));
    return 0;
}

/* ------------------------------------------------------ arena lifetime -- */

void ar_desc(arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->desc, sizeof a->desc, fmt, ap);
    va_end(ap);
}

void ar_fail(arena *a, const char *what) {
    if (!a->bad) case_fail(a, __FILE__, __LINE__, "setup: %s", what);
    a->bad = 1;
}

void ar_free(arena *a) {
    for (int i = 0; i < a->nout; i++) {
        clcnn_tensor_destroy(a->out[i].t); /* before the buffer it wraps */
        if (a->out[i].buf) clReleaseMemObject((cl_mem)a->out[i].buf);
    }
    for (int i = 0; i < a->ndev; i++) clcnn_tensor_destroy(a->dev[i]);
    for (int i = 0; i < a->nhost; i++) free(a->host[i]);
    a->nout = a->ndev = a->nhost = a->bad = 0;
}

/* ---------------------------------------------------------- host data -- */

void *ar_alloc(arena *a, size_t bytes) {
    if (a->bad) return NULL;
    void *p = a->nhost < AR_HOST ? calloc(1, bytes ? bytes : 1) : NULL;
    if (!p) {
        ar_fail(a, a->nhost < AR_HOST ? "host allocation failed" : "too many host buffers");
        return NULL;
    }
    return a->host[a->nhost++] = p;
}

float *ar_floats(arena *a, size_t n) { return ar_alloc(a, n * sizeof(float)); }
double *ar_doubles(arena *a, size_t n) { return ar_alloc(a, n * sizeof(double)); }

float *ar_rand(arena *a, test_rng *rng, size_t n, float lo, float hi) {
    float *p = ar_floats(a, n);
    for (size_t i = 0; p && i < n; i++) p[i] = test_rng_uniform(rng, lo, hi);
    return p;
}

double *ar_rand_d(arena *a, test_rng *rng, size_t n, float lo, float hi) {
    double *p = ar_doubles(a, n);
    for (size_t i = 0; p && i < n; i++) p[i] = test_rng_uniform(rng, lo, hi);
    return p;
}

double *ar_widen(arena *a, const float *src, size_t n) {
    double *d = src ? ar_doubles(a, n) : NULL;
    if (d) fd_to_double(src, d, n);
    return d;
}

float *ar_narrow(arena *a, const double *src, size_t n) {
    float *f = src ? ar_floats(a, n) : NULL;
    for (size_t i = 0; f && i < n; i++) f[i] = (float)src[i];
    return f;
}

/* -------------------------------------------------------- device data -- */

clcnn_tensor *ar_tensor(arena *a, int ndim, const int *shape, const float *data) {
    if (a->bad) return NULL;
    if (a->ndev == AR_DEV) {
        ar_fail(a, "too many tensors");
        return NULL;
    }
    clcnn_tensor *t = NULL;
    clcnn_status st = clcnn_tensor_create(g_ctx, ndim, shape, &t);
    if (st == CLCNN_OK) {
        a->dev[a->ndev++] = t;
        st = data ? clcnn_tensor_write(t, data, numel(ndim, shape)) : clcnn_tensor_fill(t, 0.0f);
    }
    if (st != CLCNN_OK) {
        ar_fail(a, clcnn_last_error(g_ctx));
        return NULL;
    }
    return t;
}

/* An allocation failure in ar_narrow marks the arena bad, so ar_tensor does not
 * mistake its NULL for "zeros". */
clcnn_tensor *ar_tensor_d(arena *a, int ndim, const int *shape, const double *data) {
    return ar_tensor(a, ndim, shape, ar_narrow(a, data, numel(ndim, shape)));
}

/* The raw buffer's first contents: sentinels | init or fill | sentinels (malloc'd). */
static float *guarded_image(size_t n, const float *init, float fill) {
    float *img = malloc((n + 2 * TU_GUARD) * sizeof *img);
    for (size_t i = 0; img && i < n + 2 * TU_GUARD; i++)
        img[i] = i < TU_GUARD || i >= TU_GUARD + n ? TU_SENTINEL : init ? init[i - TU_GUARD] : fill;
    return img;
}

guarded *ar_guarded(arena *a, int ndim, const int *shape, const float *init, float fill) {
    if (a->bad) return NULL;
    if (a->nout == AR_GUARDED) {
        ar_fail(a, "too many guarded tensors");
        return NULL;
    }
    guarded *g = &a->out[a->nout++];
    *g = (guarded){.n = numel(ndim, shape)};
    float *img = guarded_image(g->n, init, fill);
    cl_int err = CL_OUT_OF_HOST_MEMORY;
    if (img)
        g->buf = clCreateBuffer((cl_context)clcnn_context_cl_context(g_ctx), CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                (g->n + 2 * TU_GUARD) * sizeof *img, img, &err);
    free(img);
    if (err != CL_SUCCESS) {
        ar_fail(a, "guarded buffer creation failed");
        return NULL;
    }
    if (clcnn_tensor_wrap(g_ctx, g->buf, TU_GUARD, ndim, shape, &g->t) != CLCNN_OK) {
        ar_fail(a, clcnn_last_error(g_ctx));
        return NULL;
    }
    return g;
}

guarded *ar_guarded_d(arena *a, int ndim, const int *shape, const double *init, float fill) {
    return ar_guarded(a, ndim, shape, ar_narrow(a, init, numel(ndim, shape)), fill);
}

/* ---------------------------------------------------- reading, checking -- */

/* Report the first guard value (from the tensor outwards, before then after) that
 * is no longer the sentinel. */
static void check_guards(const arena *a, const float *all, size_t n) {
    for (size_t i = 0; i < 2 * TU_GUARD; i++) {
        const size_t at = i < TU_GUARD ? TU_GUARD - 1 - i : n + i;
        if (all[at] != TU_SENTINEL) {
            case_fail(a, __FILE__, __LINE__, "guard overwritten %zu floats %s the tensor: %.9g",
                      i < TU_GUARD ? i + 1 : i - TU_GUARD + 1, i < TU_GUARD ? "before" : "after", all[at]);
            return;
        }
    }
}

const float *ar_read(arena *a, const guarded *g) {
    float *all = g ? ar_floats(a, g->n + 2 * TU_GUARD) : NULL;
    if (!all || !CASE_OK(a, clcnn_finish(g_ctx))) return NULL;
    if (clEnqueueReadBuffer((cl_command_queue)clcnn_context_cl_queue(g_ctx), (cl_mem)g->buf, CL_TRUE, 0,
                            (g->n + 2 * TU_GUARD) * sizeof *all, all, 0, NULL, NULL) != CL_SUCCESS) {
        ar_fail(a, "reading a guarded tensor failed");
        return NULL;
    }
    check_guards(a, all, g->n);
    return all + TU_GUARD;
}

void ar_check(arena *a, const char *what, const guarded *g, const double *want, double atol, double rtol,
              double *max_err) {
    const float *got = want ? ar_read(a, g) : NULL;
    if (!got) return;
    for (size_t i = 0; max_err && i < g->n; i++) {
        const double err = fabs((double)got[i] - want[i]);
        if (isnan(err) || err > *max_err) *max_err = err;
    }
    char label[400];
    snprintf(label, sizeof label, "%s: %s", a->desc, what);
    fd_compare(__FILE__, __LINE__, label, got, want, g->n, atol, rtol);
}

double *ar_fd(arena *a, fd_forward f, void *user, double *in, size_t n_in, const double *r, size_t n_out) {
    double *grad = in && r ? ar_doubles(a, n_in) : NULL;
    if (grad) fd_gradient(f, user, in, n_in, r, n_out, 1e-3, grad);
    return grad;
}

unsigned char *tu_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n = -1;
    *size = 0;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *size = (size_t)n;
    }
    return buf;
}

int tu_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    const int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

void tu_random_conv_geometry(test_rng *rng, refd_conv_shape *s, int max_kernel, int max_stride, int max_size) {
    s->KH = test_rng_int(rng, 1, max_kernel), s->KW = test_rng_int(rng, 1, max_kernel);
    s->sh = test_rng_int(rng, 1, max_stride), s->sw = test_rng_int(rng, 1, max_stride);
    s->ph = test_rng_int(rng, 0, 2), s->pw = test_rng_int(rng, 0, 2);
    s->dh = test_rng_int(rng, 1, 2), s->dw = test_rng_int(rng, 1, 2);
    s->H = test_rng_int(rng, 1, max_size), s->W = test_rng_int(rng, 1, max_size);
    refd_conv_fit_input(s);
}

double tu_worst_row_error(const float *got, const float *want, int rows, int cols) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double diff = 0, scale = 0;
        for (int c = 0; c < cols; c++) {
            const double d = fabs((double)got[(size_t)r * cols + c] - want[(size_t)r * cols + c]);
            diff = d > diff || isnan(d) ? d : diff;
            scale = fmax(scale, fabs(want[(size_t)r * cols + c]));
        }
        const double e = scale > 0 ? diff / scale : diff;
        worst = e > worst || isnan(e) ? e : worst;
    }
    return worst;
}

int tu_golden_meta_int(const clcnn_weights *w, const char *key) {
    const char *v = clcnn_weights_metadata(w, key);
    CHECK(v != NULL, "golden metadata lacks %s", key);
    return v ? atoi(v) : 0;
}
