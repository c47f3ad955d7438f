/* safetensors_write.c: write a graph's parameters as a safetensors file (the layout
 * safetensors.c reads): an 8-byte little-endian header length, a JSON header padded
 * with spaces to a multiple of 8, then every tensor's float32 data, little-endian,
 * contiguous and in the header's order, as the reference readers require.
 * The file is written beside its final name and renamed over it only once it is whole
 * and on disk, so a crash or a full disk never leaves a half-written file at path. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/atomic_file.h"
#include "runtime/internal.h"

/* Readers refuse larger headers (safetensors.c, and safetensors itself, cap it at 100 MB). */
#define MAX_HEADER_BYTES (100u << 20)


/* A JSON string for a metadata value: invalid UTF-8 is the caller's mistake, not memory. */
static clcnn_status meta_string(clcnn_context *ctx, const char *op, const char *key, const char *value, json_t **out) {
    if (!key || !value) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: a metadata key or value is NULL", op);
    if ((*out = json_string(value)) != NULL) return CLCNN_OK;
    json_t *raw = json_stringn_nocheck(value, strlen(value));
    json_decref(raw);
    return raw ? rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: metadata %s: the value is not valid UTF-8", op, key)
               : rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
}

static clcnn_status add_metadata(clcnn_context *ctx, const char *op, json_t *root, int n_pairs, const char *const *keys,
                                 const char *const *values) {
    if (n_pairs == 0) return CLCNN_OK;
    json_t *meta = json_object();
    if (!meta || json_object_set_new(root, "__metadata__", meta) != 0)
        return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    for (int i = 0; i < n_pairs; i++) {
        json_t *v;
        clcnn_status st = meta_string(ctx, op, keys[i], values[i], &v);
        if (st != CLCNN_OK) return st;
        if (json_object_get(meta, keys[i])) {
            json_decref(v);
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: metadata key %s is given twice", op, keys[i]);
        }
        if (json_object_set_new(meta, keys[i], v) != 0) /* v is released on failure */
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: metadata key %s is not valid UTF-8", op, keys[i]);
    }
    return CLCNN_OK;
}

/* {"dtype":"F32","shape":[...],"data_offsets":[begin,end]} for t; NULL when out of memory. */
static json_t *tensor_entry(const clcnn_tensor *t, uint64_t begin, uint64_t end) {
    json_t *shape = json_array();
    for (int d = 0; shape && d < clcnn_tensor_ndim(t); d++)
        if (json_array_append_new(shape, json_integer(clcnn_tensor_dim(t, d))) != 0) {
            json_decref(shape);
            return NULL;
        }
    if (!shape) return NULL;
    return json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape, "data_offsets", (json_int_t)begin,
                     (json_int_t)end); /* "o" takes shape's reference, also on failure */
}

/* The header text, space-padded to a multiple of 8 (*len includes the padding), and
 * the largest tensor's element count (the one host buffer the data needs). */
static clcnn_status header_text(clcnn_context *ctx, const char *op, int n, const char *const *names,
                                const clcnn_tensor *const *tensors, int n_pairs, const char *const *keys,
                                const char *const *values, char **text, size_t *len, size_t *max_numel) {
    json_t *root = json_object();
    if (!root) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    clcnn_status st = add_metadata(ctx, op, root, n_pairs, keys, values);
    uint64_t offset = 0;
    *max_numel = 0;
    for (int i = 0; st == CLCNN_OK && i < n; i++) {
        const char *name = names[i];
        const clcnn_tensor *t = tensors[i];
        const uint64_t bytes = (uint64_t)clcnn_tensor_numel(t) * sizeof(float);
        json_t *entry = tensor_entry(t, offset, offset + bytes);
        if (!entry || json_object_set_new(root, name, entry) != 0)
            st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
        offset += bytes;
        if (clcnn_tensor_numel(t) > *max_numel) *max_numel = clcnn_tensor_numel(t);
    }
    char *dumped = st == CLCNN_OK ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (st != CLCNN_OK) return st;
    if (!dumped) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    const size_t used = strlen(dumped), padded = (used + 7) / 8 * 8;
    if (padded > MAX_HEADER_BYTES) {
        free(dumped);
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: the header would take %zu bytes, more than readers accept",
                           op, padded);
    }
    if (!(*text = realloc(dumped, padded))) {
        free(dumped);
        return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    }
    memset(*text + used, ' ', padded - used);
    *len = padded;
    return CLCNN_OK;
}

/* Record an I/O failure of one step of saving path, with errno's reason. */

/* safetensors stores little-endian; a big-endian host swaps each float in place. */
static void to_little_endian(float *v, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, v + i, sizeof u);
        unsigned char *b = (unsigned char *)(v + i);
        for (int k = 0; k < 4; k++) b[k] = (unsigned char)(u >> (8 * k));
    }
#else
    (void)v, (void)n;
#endif
}

/* Header length, header, then each parameter's data through one host buffer. */
static clcnn_status write_contents(clcnn_context *ctx, const char *op, int n_tensors, const clcnn_tensor *const *tensors,
                                   rt_atomic_file *af, const char *text, size_t len, size_t max_numel) {
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)len >> (8 * i));
    rt_atomic_write(af, len_bytes, 8);
    rt_atomic_write(af, text, len);
    float *host = malloc((max_numel ? max_numel : 1) * sizeof *host);
    if (!host) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for %zu values", op, max_numel);
    clcnn_status st = CLCNN_OK;
    for (int i = 0; st == CLCNN_OK && !af->failed && i < n_tensors; i++) {
        const clcnn_tensor *t = tensors[i];
        const size_t n = clcnn_tensor_numel(t);
        if ((st = clcnn_tensor_read(t, host, n)) != CLCNN_OK) break;
        to_little_endian(host, n);
        rt_atomic_write(af, host, n * sizeof *host);
    }
    free(host);
    return st;
}

/* clcnn_safetensors_save, with errors naming op (the public function called). */
static clcnn_status save_tensors(clcnn_context *ctx, const char *op, const char *path, int n_tensors,
                                 const char *const *names, const clcnn_tensor *const *tensors, int n_pairs,
                                 const char *const *keys, const char *const *values) {
    if (!path || !*path || n_tensors < 0 || (n_tensors && (!names || !tensors)) || n_pairs < 0 ||
        (n_pairs > 0 && (!keys || !values)))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL path, names, tensors, keys or values, or %d pairs",
                           op, n_pairs);
    char *text = NULL;
    size_t len = 0, max_numel = 0;
    clcnn_status st = header_text(ctx, op, n_tensors, names, tensors, n_pairs, keys, values, &text, &len, &max_numel);
    if (st != CLCNN_OK) return st;
    rt_atomic_file af;
    if ((st = rt_atomic_open(ctx, op, path, &af)) == CLCNN_OK) {
        st = write_contents(ctx, op, n_tensors, tensors, &af, text, len, max_numel);
        if (st == CLCNN_OK) st = rt_atomic_commit(ctx, op, &af);
        else rt_atomic_abort(&af);
    }
    free(text);
    return st;
}

clcnn_status clcnn_safetensors_save(clcnn_context *ctx, const char *path, int n_tensors, const char *const *names,
                                   const clcnn_tensor *const *tensors, int n_pairs, const char *const *keys,
                                   const char *const *values) {
    return save_tensors(ctx, "clcnn_safetensors_save", path, n_tensors, names, tensors, n_pairs, keys, values);
}

clcnn_status clcnn_graph_save(const clcnn_graph *g, const char *path, int n_pairs, const char *const *keys,
                              const char *const *values) {
    static const char *op = "clcnn_graph_save";
    if (!g) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL graph", op);
    clcnn_context *ctx = clcnn_graph_context(g);
    const int n = clcnn_graph_param_count(g);
    const char **names = malloc(((size_t)n + 1) * sizeof *names);
    const clcnn_tensor **tensors = malloc(((size_t)n + 1) * sizeof *tensors);
    clcnn_status st;
    if (!names || !tensors) {
        st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        names[i] = clcnn_graph_param_name(g, i);
        tensors[i] = clcnn_graph_param(g, names[i]);
    }
    st = save_tensors(ctx, op, path, n, names, tensors, n_pairs, keys, values);
done:
    free(names);
    free(tensors);
    return st;
}
