/* safetensors.c: read named tensors from a safetensors file: an 8-byte little-endian
 * header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__},
 * then the data. Every size and offset is checked against the file before use, so a
 * truncated or hostile file is an error, never a crash or a huge allocation.
 * Writing (clcnn_graph_save) is in safetensors_write.c. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

/* A header larger than this is not a weight file (safetensors itself caps it at 100 MB). */
#define MAX_HEADER_BYTES (100u << 20)

typedef struct {
    char *name;
    clcnn_tensor *tensor;
} named_tensor;

struct clcnn_weights {
    named_tensor *items;
    int count;
    json_t *metadata;
    char *path;
};

void clcnn_weights_destroy(clcnn_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->count; i++) {
        free(w->items[i].name);
        clcnn_tensor_destroy(w->items[i].tensor);
    }
    free(w->items);
    json_decref(w->metadata);
    free(w->path);
    free(w);
}

int clcnn_weights_count(const clcnn_weights *w) { return w ? w->count : 0; }

const char *clcnn_weights_path(const clcnn_weights *w) { return w ? w->path : NULL; }

const char *clcnn_weights_name(const clcnn_weights *w, int i) {
    return w && i >= 0 && i < w->count ? w->items[i].name : NULL;
}

const clcnn_tensor *clcnn_weights_get(const clcnn_weights *w, const char *name) {
    if (!w || !name) return NULL;
    for (int i = 0; i < w->count; i++)
        if (!strcmp(w->items[i].name, name)) return w->items[i].tensor;
    return NULL;
}

const char *clcnn_weights_metadata(const clcnn_weights *w, const char *key) {
    if (!w || !w->metadata || !key) return NULL;
    return json_string_value(json_object_get(w->metadata, key));
}

static float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            uint32_t m = man;
            do { e++; m <<= 1; } while (!(m & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | man << 13;
    else bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

typedef struct {
    FILE *f;
    const char *path;
    uint64_t data_start, data_size;
} source;

/* Read one tensor's bytes (load_entry checked their count) and convert them to float32
 * into the device tensor. */
static clcnn_status read_tensor(clcnn_context *ctx, const source *src, const char *name, const char *dtype,
                                uint64_t begin, clcnn_tensor *t) {
    const size_t elem = !strcmp(dtype, "F32") ? 4 : 2;
    float *host = malloc(t->numel * sizeof(float));
    if (!host) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for tensor %s", src->path, name);
    clcnn_status st = CLCNN_OK;
    if (fseek(src->f, (long)(src->data_start + begin), SEEK_SET) != 0 || fread(host, elem, t->numel, src->f) != t->numel) {
        st = rt_error(ctx, CLCNN_ERR_FORMAT, "%s: cannot read the data of tensor %s (file truncated?)", src->path, name);
        goto free_host;
    }
    if (elem == 2) { /* widen in place from the back so nothing is overwritten before it is read */
        const uint16_t *half = (const uint16_t *)host;
        const int bf16 = !strcmp(dtype, "BF16");
        for (size_t i = t->numel; i-- > 0;) {
            uint16_t h;
            memcpy(&h, half + i, sizeof h);
            host[i] = bf16 ? bf16_to_float(h) : half_to_float(h);
        }
    }
    st = clcnn_tensor_write(t, host, t->numel);
free_host:
    free(host);
    return st;
}

/* Parse one header entry and load it; *skipped is set for non-float tensors. */
static clcnn_status load_entry(clcnn_context *ctx, const source *src, const char *name, json_t *desc, clcnn_tensor **out,
                               int *skipped) {
    *out = NULL;
    *skipped = 0;
    const char *dtype = json_string_value(json_object_get(desc, "dtype"));
    json_t *shape = json_object_get(desc, "shape"), *offs = json_object_get(desc, "data_offsets");
    if (!dtype || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)))
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: header entry %s lacks dtype, shape or data_offsets", src->path, name);
    const json_int_t begin = json_integer_value(json_array_get(offs, 0)), end = json_integer_value(json_array_get(offs, 1));
    if (begin < 0 || end < begin || (uint64_t)end > src->data_size)
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: tensor %s has data_offsets [%lld, %lld] outside the %llu data bytes",
                           src->path, name, (long long)begin, (long long)end, (unsigned long long)src->data_size);
    if (strcmp(dtype, "F32") && strcmp(dtype, "F16") && strcmp(dtype, "BF16")) {
        *skipped = 1; /* e.g. I64 num_batches_tracked: not a parameter */
        return CLCNN_OK;
    }
    int dims[CLCNN_MAX_DIMS], ndim = (int)json_array_size(shape);
    if (ndim > CLCNN_MAX_DIMS)
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: tensor %s has %d dimensions (at most %d)", src->path, name, ndim,
                           CLCNN_MAX_DIMS);
    for (int i = 0; i < ndim; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) <= 0 || json_integer_value(d) > (json_int_t)1 << 30)
            return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: tensor %s has an invalid dimension %d", src->path, name, i);
        dims[i] = (int)json_integer_value(d);
    }
    if (ndim == 0) dims[ndim++] = 1; /* a scalar */
    /* The byte count is checked before the device buffer exists, so that a few header bytes
     * cannot reserve gigabytes; need saturates above the data size, where it cannot match. */
    uint64_t need = !strcmp(dtype, "F32") ? 4 : 2;
    for (int i = 0; i < ndim; i++)
        need = need > src->data_size / (uint64_t)dims[i] ? src->data_size + 1 : need * (uint64_t)dims[i];
    const int beyond = need > src->data_size;
    if (need != (uint64_t)(end - begin))
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: tensor %s holds %llu bytes, its shape and dtype need %s%llu%s",
                           src->path, name, (unsigned long long)(end - begin), beyond ? "more than the file's " : "",
                           (unsigned long long)(beyond ? src->data_size : need), beyond ? " data bytes" : "");
    clcnn_tensor *t;
    clcnn_status st = clcnn_tensor_create(ctx, ndim, dims, &t);
    if (st != CLCNN_OK) return st;
    if ((st = read_tensor(ctx, src, name, dtype, (uint64_t)begin, t)) != CLCNN_OK) {
        clcnn_tensor_destroy(t);
        return st;
    }
    *out = t;
    return CLCNN_OK;
}

static clcnn_status read_header(clcnn_context *ctx, source *src, json_t **header) {
    unsigned char len_bytes[8];
    if (fseek(src->f, 0, SEEK_END) != 0) return rt_error(ctx, CLCNN_ERR_IO, "%s: cannot seek", src->path);
    const long file_size = ftell(src->f);
    if (file_size < 8 || fseek(src->f, 0, SEEK_SET) != 0 || fread(len_bytes, 1, 8, src->f) != 8)
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: too short to be a safetensors file (%ld bytes)", src->path, file_size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len_bytes[i];
    if (hlen > MAX_HEADER_BYTES || hlen > (uint64_t)file_size - 8)
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: header length %llu does not fit the file of %ld bytes", src->path,
                           (unsigned long long)hlen, file_size);
    char *text = malloc(hlen + 1);
    if (!text) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no memory for the header", src->path);
    clcnn_status st = CLCNN_OK;
    if (fread(text, 1, hlen, src->f) != hlen) {
        st = rt_error(ctx, CLCNN_ERR_FORMAT, "%s: cannot read the %llu-byte header", src->path, (unsigned long long)hlen);
        goto free_text;
    }
    json_error_t jerr;
    *header = json_loadb(text, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!*header || !json_is_object(*header)) {
        json_decref(*header);
        *header = NULL;
        st = rt_error(ctx, CLCNN_ERR_FORMAT, "%s: header is not a JSON object (%s at byte %d)", src->path, jerr.text,
                         jerr.position);
        goto free_text;
    }
    src->data_start = 8 + hlen;
    src->data_size = (uint64_t)file_size - src->data_start;
free_text:
    free(text);
    return st;
}

clcnn_status clcnn_weights_load(clcnn_context *ctx, const char *path, clcnn_weights **out) {
    if (!ctx || !path || !out) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_weights_load: NULL argument");
    *out = NULL;
    source src = {.path = path};
    if (!(src.f = fopen(path, "rb"))) return rt_error(ctx, CLCNN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    json_t *header = NULL;
    clcnn_weights *w = NULL;
    clcnn_status st = read_header(ctx, &src, &header);
    if (st != CLCNN_OK) goto close_file;
    if (!(w = calloc(1, sizeof *w)) || !(w->items = calloc(json_object_size(header) + 1, sizeof *w->items)) ||
        !(w->path = strdup(path))) {
        st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", path);
        goto free_weights;
    }
    const char *name;
    json_t *desc;
    json_object_foreach(header, name, desc) {
        if (!strcmp(name, "__metadata__")) {
            if (json_is_object(desc)) w->metadata = json_incref(desc);
            continue;
        }
        if (!json_is_object(desc)) {
            st = rt_error(ctx, CLCNN_ERR_FORMAT, "%s: header entry %s is not an object", path, name);
            goto free_weights;
        }
        clcnn_tensor *t;
        int skipped;
        if ((st = load_entry(ctx, &src, name, desc, &t, &skipped)) != CLCNN_OK) goto free_weights;
        if (skipped) continue;
        if (!(w->items[w->count].name = strdup(name))) {
            clcnn_tensor_destroy(t);
            st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", path);
            goto free_weights;
        }
        w->items[w->count++].tensor = t;
    }
    *out = w;
    w = NULL;
free_weights:
    clcnn_weights_destroy(w);
    json_decref(header);
close_file:
    fclose(src.f);
    return st;
}
