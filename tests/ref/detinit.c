/* detinit.c: the C half of scripts/detinit.py (keep the two in step). */
#include "ref/detinit.h"
#include "runtime/random.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

/* splitmix64 at counter i (1-based), as a value in [0, 1) (scripts/detinit.py's). */
static double uniform_at(uint64_t key, uint64_t i) { return (double)(rt_splitmix64_at(key, i - 1) >> 40) / 16777216.0; }

static int ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static void values(const char *name, int ndim, const int *shape, uint64_t seed, double bn_gain, float *out) {
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)shape[d];
    const uint64_t key = fnv1a64(name) ^ seed;
    for (size_t i = 0; i < count; i++) {
        const double u = uniform_at(key, i + 1);
        double v;
        if (ndim == 4) v = (2 * u - 1) * sqrt(6.0 / ((double)shape[1] * shape[2] * shape[3]));
        else if (ndim == 2) v = (2 * u - 1) * sqrt(3.0 / shape[1]);
        else if (ends_with(name, "running_mean")) v = (u - 0.5) * 0.2;
        else if (ends_with(name, "running_var")) v = 0.5 + u;
        else if (ends_with(name, "weight")) v = (0.25 + 0.5 * u) * bn_gain;
        else v = (u - 0.5) * 0.2;
        out[i] = (float)v;
    }
}

void detinit_values(const char *name, int ndim, const int *shape, uint64_t seed, float *out) {
    values(name, ndim, shape, seed, 1.0, out);
}

void detinit_image(const char *name, size_t n, uint64_t seed, float *out) {
    const uint64_t key = fnv1a64(name) ^ seed;
    for (size_t i = 0; i < n; i++) out[i] = (float)(uniform_at(key, i + 1) * 4 - 2);
}

clcnn_status detinit_graph(clcnn_graph *g, uint64_t seed) { return detinit_graph_gain(g, seed, 1.0); }

clcnn_status detinit_graph_gain(clcnn_graph *g, uint64_t seed, double bn_gain) {
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        clcnn_param_info p;
        clcnn_status st = clcnn_graph_param_info(g, i, &p);
        if (st != CLCNN_OK) return st;
        int ndim = clcnn_tensor_ndim(p.value), shape[8];
        for (int d = 0; d < ndim && d < 8; d++) shape[d] = clcnn_tensor_dim(p.value, d);
        const size_t n = clcnn_tensor_numel(p.value);
        float *host = malloc(n * sizeof *host);
        if (!host) return CLCNN_ERR_OUT_OF_MEMORY;
        values(p.name, ndim, shape, seed, bn_gain, host);
        st = clcnn_tensor_write(p.value, host, n);
        free(host);
        if (st != CLCNN_OK) return st;
    }
    return CLCNN_OK;
}
