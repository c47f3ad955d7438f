/* model_file.c: weight files that describe their own network. clcnn writes the
 * architecture, class names, input size, normalisation and head into the safetensors
 * __metadata__ (string values; lists as JSON), so that `clcnn predict --weights F`
 * needs no other flag. Files without metadata (converted torchvision checkpoints) get
 * their class count and head width from the head's tensor shapes and the rest from
 * the caller. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"
#include "zoo_internal.h"

static const char *op = "clcnn_model_open";

void clcnn_model_desc_free(clcnn_model_desc *desc) {
    if (!desc) return;
    if (desc->class_names)
        for (int k = 0; k < desc->classes; k++) free(desc->class_names[k]);
    free(desc->class_names);
    desc->class_names = NULL;
}

/* clcnn_model_build; init_params as zoo_build's. */
static clcnn_status model_build(clcnn_context *ctx, const clcnn_model_desc *desc, uint64_t seed, int init_params,
                                clcnn_graph **graph) {
    if (!ctx || !desc || !graph)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_model_build: NULL argument");
    clcnn_resnet_config cfg;
    clcnn_status st = clcnn_resnet_config_for(desc->arch, desc->classes, desc->size, &cfg);
    if (st != CLCNN_OK) return rt_error(ctx, st, "%s", clcnn_last_error(NULL));
    cfg.head_hidden = desc->head_hidden;
    cfg.head_dropout = desc->head_dropout;
    return zoo_build(ctx, &cfg, seed, init_params, graph);
}

clcnn_status clcnn_model_build(clcnn_context *ctx, const clcnn_model_desc *desc, uint64_t seed, clcnn_graph **graph) {
    return model_build(ctx, desc, seed, 1, graph);
}

/* ---- reading the description ---- */

static int meta_int(const clcnn_weights *w, const char *key, int fallback) {
    const char *v = clcnn_weights_metadata(w, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && x > 0 && x < (1L << 30) ? (int)x : fallback;
}

/* 3 numbers: a JSON array (clcnn's "[0.485, 0.456, 0.406]") or comma-separated
 * (convert_torchvision.py's "0.485,0.456,0.406"); out is untouched unless all 3 parse. */
static int meta_triple(const clcnn_weights *w, const char *key, float out[3]) {
    const char *v = clcnn_weights_metadata(w, key);
    if (!v) return 0;
    float got[3];
    json_t *a = json_loads(v, 0, NULL);
    int ok = json_is_array(a) && json_array_size(a) == 3;
    for (size_t i = 0; ok && i < 3; i++) {
        json_t *x = json_array_get(a, i);
        ok = json_is_number(x);
        if (ok) got[i] = (float)json_number_value(x);
    }
    json_decref(a);
    if (!ok && !a) { /* not JSON: a,b,c */
        const char *p = v;
        char *end;
        ok = 1;
        for (int i = 0; ok && i < 3; i++) {
            got[i] = strtof(p, &end);
            ok = end != p && (*end == (i < 2 ? ',' : 0));
            p = end + (i < 2);
        }
    }
    if (ok) memcpy(out, got, sizeof got);
    return ok;
}

/* convert_torchvision.py's class names: "class_names", comma-separated, as many as the
 * count in "classes". */
static clcnn_status meta_class_names(clcnn_context *ctx, const clcnn_weights *w, const char *path, clcnn_model_desc *d) {
    const char *v = clcnn_weights_metadata(w, "class_names");
    if (!v || d->class_names || d->classes <= 0) return CLCNN_OK;
    int n = 1;
    for (const char *p = v; *p; p++) n += *p == ',';
    if (n != d->classes)
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: %s: metadata class_names has %d names for %d classes", op, path,
                           n, d->classes);
    if (!(d->class_names = calloc((size_t)n, sizeof *d->class_names)))
        return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: %s: no host memory for %d class names", op, path, n);
    const char *p = v;
    for (int k = 0; k < n; k++) {
        const size_t len = strcspn(p, ",");
        if (!(d->class_names[k] = strndup(p, len)))
            return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        p += len + (p[len] == ',');
    }
    return CLCNN_OK;
}

/* "classes": a JSON array of names (clcnn's), or a plain count. */
static clcnn_status meta_classes(clcnn_context *ctx, const clcnn_weights *w, const char *path, clcnn_model_desc *d) {
    const char *v = clcnn_weights_metadata(w, "classes");
    if (!v) return CLCNN_OK;
    json_t *a = json_loads(v, JSON_DECODE_ANY, NULL);
    clcnn_status st = CLCNN_OK;
    if (json_is_integer(a) && json_integer_value(a) > 0 && json_integer_value(a) < (1 << 20)) {
        d->classes = (int)json_integer_value(a);
    } else if (json_is_array(a) && json_array_size(a) > 0 && json_array_size(a) < (1u << 20)) {
        const int n = (int)json_array_size(a);
        if (!(d->class_names = calloc((size_t)n, sizeof *d->class_names))) {
            st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: %s: no host memory for %d class names", op, path, n);
            goto done;
        }
        d->classes = n;
        for (int k = 0; k < n && st == CLCNN_OK; k++) {
            const char *name = json_string_value(json_array_get(a, (size_t)k));
            if (!name) st = rt_error(ctx, CLCNN_ERR_FORMAT, "%s: %s: class %d in the metadata is not a string", op, path, k);
            else if (!(d->class_names[k] = strdup(name)))
                st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        }
    } else {
        st = rt_error(ctx, CLCNN_ERR_FORMAT, "%s: %s: metadata \"classes\" is neither a list of names nor a count",
                         op, path);
    }
done:
    json_decref(a);
    return st;
}

/* Class count and MLP width from the head's shapes: the ResNets' fc.weight [classes, in],
 * or fc.0.weight [hidden, in] and fc.3.weight [classes, hidden]; MobileNetV2's
 * classifier.1.weight, or classifier.1 and classifier.4 (zoo_head's names); MobileNetV3's
 * classifier.0 and classifier.3. */
static void head_from_shapes(const clcnn_weights *w, clcnn_model_desc *d) {
    static const struct {
        const char *linear, *first, *last; /* the one linear layer; the MLP's first and last */
    } heads[] = {{"fc.weight", "fc.0.weight", "fc.3.weight"},
                 {"classifier.1.weight", "classifier.1.weight", "classifier.4.weight"},
                 {NULL, "classifier.0.weight", "classifier.3.weight"}}; /* MobileNetV3's: always two */
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const clcnn_tensor *linear = heads[i].linear ? clcnn_weights_get(w, heads[i].linear) : NULL,
                           *first = clcnn_weights_get(w, heads[i].first),
                           *last = clcnn_weights_get(w, heads[i].last);
        if (first && last) {
            if (d->head_hidden <= 0) d->head_hidden = clcnn_tensor_dim(first, 0);
            if (d->classes <= 0) d->classes = clcnn_tensor_dim(last, 0);
            return;
        }
        if (linear && d->classes <= 0) {
            d->classes = clcnn_tensor_dim(linear, 0);
            return;
        }
    }
}

static clcnn_status describe(clcnn_context *ctx, const clcnn_weights *w, const char *path, const clcnn_model_desc *given,
                             clcnn_model_desc *d) {
    memset(d, 0, sizeof *d);
    d->norm = clcnn_normalization_imagenet();
    const char *arch = clcnn_weights_metadata(w, "arch");
    if (arch) snprintf(d->arch, sizeof d->arch, "%s", arch);
    clcnn_status st = meta_classes(ctx, w, path, d);
    if (st == CLCNN_OK) st = meta_class_names(ctx, w, path, d);
    if (st != CLCNN_OK) return st;
    d->size = meta_int(w, "size", meta_int(w, "input_size", 0)); /* input_size: convert_torchvision.py's */
    d->head_hidden = meta_int(w, "head_hidden", 0);
    const char *drop = clcnn_weights_metadata(w, "head_dropout");
    d->head_dropout = drop ? strtof(drop, NULL) : 0.2f;
    if (!(d->head_dropout >= 0 && d->head_dropout < 1)) d->head_dropout = 0.2f;
    meta_triple(w, "mean", d->norm.mean);
    meta_triple(w, "std", d->norm.std);
    const char *fit = clcnn_weights_metadata(w, "fit"); /* files from before it was saved: crop */
    if (fit && clcnn_fit_parse(fit, &d->fit) != CLCNN_OK)
        return rt_error(ctx, CLCNN_ERR_FORMAT, "%s: %s: metadata fit \"%s\" is not crop, squash or pad", op, path, fit);
    if (given && given->arch[0]) snprintf(d->arch, sizeof d->arch, "%s", given->arch);
    if (given && given->size > 0) d->size = given->size;
    if (given && given->classes > 0 && given->classes != d->classes) {
        clcnn_model_desc_free(d); /* names of another count no longer apply */
        d->classes = given->classes;
    }
    head_from_shapes(w, d);
    if (!d->arch[0])
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT,
                           "%s: %s has no clcnn metadata naming its architecture: give it (--arch, e.g. resnet50)", op,
                           path);
    if (d->classes <= 0)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT,
                           "%s: %s: neither metadata nor an fc tensor gives the class count: give it (--classes N)", op,
                           path);
    if (d->size <= 0) d->size = 224;
    return CLCNN_OK;
}

clcnn_status clcnn_model_from_weights(clcnn_context *ctx, const clcnn_weights *weights, const clcnn_model_desc *given,
                                      clcnn_graph **graph, clcnn_model_desc *desc) {
    if (!ctx || !weights || !graph) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    *graph = NULL;
    const char *path = clcnn_weights_path(weights);
    clcnn_model_desc d;
    clcnn_status st = describe(ctx, weights, path, given, &d);
    if (st == CLCNN_OK) {
        /* The strict load below overwrites every parameter or fails (and the graph goes):
         * random initial values would be drawn for nothing (over half of a warm
         * `clcnn predict` with ResNet-18). */
        st = model_build(ctx, &d, 0, 0, graph);
    }
    if (st == CLCNN_OK && (st = clcnn_graph_load(*graph, weights, CLCNN_LOAD_STRICT, NULL)) != CLCNN_OK) {
        rt_error_prefix(ctx, st, "%s: %s does not fit %s with %d classes%s", op, path, d.arch, d.classes,
                           d.head_hidden ? " and an MLP head" : "");
        clcnn_graph_destroy(*graph);
        *graph = NULL;
    }
    if (st == CLCNN_OK && desc) *desc = d;
    else clcnn_model_desc_free(&d);
    return st;
}

clcnn_status clcnn_model_open(clcnn_context *ctx, const char *path, const clcnn_model_desc *given, clcnn_graph **graph,
                              clcnn_model_desc *desc) {
    if (!ctx || !path || !graph) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    *graph = NULL;
    clcnn_weights *w = NULL;
    clcnn_status st = clcnn_weights_load(ctx, path, &w);
    if (st != CLCNN_OK) return st;
    st = clcnn_model_from_weights(ctx, w, given, graph, desc);
    clcnn_weights_destroy(w);
    return st;
}

/* ---- writing it ---- */

static char *json_text(json_t *v) {
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(v);
    return s;
}

static char *triple_text(const float v[3]) {
    return json_text(json_pack("[fff]", (double)v[0], (double)v[1], (double)v[2]));
}

static char *classes_text(const clcnn_model_desc *d) {
    if (!d->class_names) return json_text(json_integer(d->classes));
    json_t *a = json_array();
    for (int k = 0; a && k < d->classes; k++)
        if (json_array_append_new(a, json_string(d->class_names[k] ? d->class_names[k] : "")) != 0) {
            json_decref(a);
            a = NULL;
        }
    return json_text(a);
}

clcnn_status clcnn_model_save(const clcnn_graph *graph, const clcnn_model_desc *desc, const char *path, int n_extra,
                              const char *const *keys, const char *const *values) {
    clcnn_context *ctx = graph ? clcnn_graph_context(graph) : NULL;
    if (!graph || !desc || !path || n_extra < 0 || (n_extra && (!keys || !values)))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_model_save: NULL argument");
    enum { OWN = 9 }; /* the description's own keys, below */
    char size[16], hidden[16], dropout[32];
    snprintf(size, sizeof size, "%d", desc->size);
    snprintf(hidden, sizeof hidden, "%d", desc->head_hidden);
    snprintf(dropout, sizeof dropout, "%.9g", (double)desc->head_dropout);
    char *classes = classes_text(desc), *mean = triple_text(desc->norm.mean), *std = triple_text(desc->norm.std);
    const int n = OWN + n_extra;
    const char **k = calloc((size_t)n, sizeof *k), **v = calloc((size_t)n, sizeof *v);
    clcnn_status st;
    if (!classes || !mean || !std || !k || !v) {
        st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_model_save: no host memory");
        goto done;
    }
    const char *own_k[OWN] = {"format", "arch", "classes", "size", "mean", "std", "head_hidden", "head_dropout", "fit"};
    const char *own_v[OWN] = {"clcnn", desc->arch, classes, size, mean, std, hidden, dropout, clcnn_fit_name(desc->fit)};
    for (int i = 0; i < OWN; i++) k[i] = own_k[i], v[i] = own_v[i];
    for (int i = 0; i < n_extra; i++) k[OWN + i] = keys[i], v[OWN + i] = values[i];
    st = clcnn_graph_save(graph, path, n, k, v);
done:
    free(k);
    free(v);
    free(classes);
    free(mean);
    free(std);
    return st;
}
