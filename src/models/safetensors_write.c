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
#include "runtime/internal.h"

/* Readers refuse larger headers (safetensors.c, and safetensors itself, cap it at 100 MB). */
#define MAX_HEADER_BYTES (100u << 20)

static const char *op = "clcnn_graph_save";

/* A JSON string for a metadata value: invalid UTF-8 is the caller's mistake, not memory. */
static clcnn_status meta_string(clcnn_context *ctx, const char *key, const char *value, json_t **out) {
    if (!key || !value) return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: a metadata key or value is NULL", op);
    if ((*out = json_string(value)) != NULL) return CLCNN_OK;
    json_t *raw = json_stringn_nocheck(value, strlen(value));
    json_decref(raw);
    return raw ? clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: metadata %s: the value is not valid UTF-8", op, key)
               : clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
}

static clcnn_status add_metadata(clcnn_context *ctx, json_t *root, int n_pairs, const char *const *keys,
                                 const char *const *values) {
    if (n_pairs == 0) return CLCNN_OK;
    json_t *meta = json_object();
    if (!meta || json_object_set_new(root, "__metadata__", meta) != 0)
        return clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    for (int i = 0; i < n_pairs; i++) {
        json_t *v;
        clcnn_status st = meta_string(ctx, keys[i], values[i], &v);
        if (st != CLCNN_OK) return st;
        if (json_object_get(meta, keys[i])) {
            json_decref(v);
            return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: metadata key %s is given twice", op, keys[i]);
        }
        if (json_object_set_new(meta, keys[i], v) != 0) /* v is released on failure */
            return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: metadata key %s is not valid UTF-8", op, keys[i]);
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
static clcnn_status header_text(const clcnn_graph *g, int n_pairs, const char *const *keys, const char *const *values,
                                char **text, size_t *len, size_t *max_numel) {
    clcnn_context *ctx = clcnn_graph_context(g);
    json_t *root = json_object();
    if (!root) return clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    clcnn_status st = add_metadata(ctx, root, n_pairs, keys, values);
    uint64_t offset = 0;
    *max_numel = 0;
    for (int i = 0; st == CLCNN_OK && i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        const clcnn_tensor *t = clcnn_graph_param(g, name);
        const uint64_t bytes = (uint64_t)clcnn_tensor_numel(t) * sizeof(float);
        json_t *entry = tensor_entry(t, offset, offset + bytes);
        if (!entry || json_object_set_new(root, name, entry) != 0)
            st = clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
        offset += bytes;
        if (clcnn_tensor_numel(t) > *max_numel) *max_numel = clcnn_tensor_numel(t);
    }
    char *dumped = st == CLCNN_OK ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (st != CLCNN_OK) return st;
    if (!dumped) return clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    const size_t used = strlen(dumped), padded = (used + 7) / 8 * 8;
    if (padded > MAX_HEADER_BYTES) {
        free(dumped);
        return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: the header would take %zu bytes, more than readers accept",
                           op, padded);
    }
    if (!(*text = realloc(dumped, padded))) {
        free(dumped);
        return clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for the header", op);
    }
    memset(*text + used, ' ', padded - used);
    *len = padded;
    return CLCNN_OK;
}

/* Record an I/O failure of one step of saving path, with errno's reason. */
static clcnn_status io_error(clcnn_context *ctx, const char *path, const char *step, const char *tmp, int err) {
    return clcnn_error(ctx, CLCNN_ERR_IO, "%s: cannot save %s: %s the temporary file %s: %s", op, path, step, tmp,
                       strerror(err ? err : EIO));
}

static int put(FILE *f, const void *p, size_t n) {
    errno = 0;
    return n == 0 || fwrite(p, 1, n, f) == n;
}

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
static clcnn_status write_contents(const clcnn_graph *g, FILE *f, const char *path, const char *tmp, const char *text,
                                   size_t len, size_t max_numel) {
    clcnn_context *ctx = clcnn_graph_context(g);
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)((uint64_t)len >> (8 * i));
    if (!put(f, len_bytes, 8) || !put(f, text, len)) return io_error(ctx, path, "writing", tmp, errno);
    float *host = malloc((max_numel ? max_numel : 1) * sizeof *host);
    if (!host) return clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for %zu values", op, max_numel);
    clcnn_status st = CLCNN_OK;
    for (int i = 0; st == CLCNN_OK && i < clcnn_graph_param_count(g); i++) {
        const clcnn_tensor *t = clcnn_graph_param(g, clcnn_graph_param_name(g, i));
        const size_t n = clcnn_tensor_numel(t);
        if ((st = clcnn_tensor_read(t, host, n)) != CLCNN_OK) break;
        to_little_endian(host, n);
        if (!put(f, host, n * sizeof *host)) st = io_error(ctx, path, "writing", tmp, errno);
    }
    free(host);
    return st;
}

/* Make the data durable, close, and rename over path. f is closed in every case. */
static clcnn_status commit(clcnn_context *ctx, FILE *f, const char *path, const char *tmp) {
    errno = 0;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        const int err = errno;
        fclose(f);
        return io_error(ctx, path, "writing", tmp, err);
    }
    errno = 0;
    if (fclose(f) != 0) return io_error(ctx, path, "closing", tmp, errno);
    if (rename(tmp, path) != 0) return io_error(ctx, path, "renaming", tmp, errno);
    return CLCNN_OK;
}

/* The rename is durable once the directory is synced; best effort (it is in place already). */
static void sync_directory(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    const int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Create tmp exclusively ("x": never through a planted link); a stale one left by a
 * crashed process with the same id is removed first. Keeps an existing path's mode. */
static FILE *create_temp(const char *path, const char *tmp) {
    FILE *f = fopen(tmp, "wbx");
    if (!f && errno == EEXIST && remove(tmp) == 0) f = fopen(tmp, "wbx");
    struct stat old;
    if (f && stat(path, &old) == 0 && S_ISREG(old.st_mode)) (void)fchmod(fileno(f), old.st_mode & 07777);
    return f;
}

clcnn_status clcnn_graph_save(const clcnn_graph *g, const char *path, int n_pairs, const char *const *keys,
                              const char *const *values) {
    clcnn_context *ctx = clcnn_graph_context(g);
    if (!g || !path || !*path || n_pairs < 0 || (n_pairs > 0 && (!keys || !values)))
        return clcnn_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL graph, path, keys or values, or %d pairs", op,
                           n_pairs);
    char *text = NULL, *tmp = NULL;
    size_t len = 0, max_numel = 0;
    clcnn_status st = header_text(g, n_pairs, keys, values, &text, &len, &max_numel);
    if (st != CLCNN_OK) return st;
    const size_t tmp_size = strlen(path) + 32;
    if (!(tmp = malloc(tmp_size))) {
        st = clcnn_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        goto free_text;
    }
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = create_temp(path, tmp);
    if (!f) {
        st = io_error(ctx, path, "creating", tmp, errno);
        goto free_tmp;
    }
    st = write_contents(g, f, path, tmp, text, len, max_numel);
    if (st == CLCNN_OK) st = commit(ctx, f, path, tmp);
    else fclose(f);
    if (st != CLCNN_OK) remove(tmp);
    else sync_directory(path);
free_tmp:
    free(tmp);
free_text:
    free(text);
    return st;
}
