/* params.c: the graph's parameters: creation and initialisation, lookup, gradients,
 * freezing, and loading from a weight file by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"
#include "runtime/random.h"

static double next_unit(uint64_t *s) { return ((rt_splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

static void fill_random(uint64_t *rng, float *v, size_t n, float scale, param_init init) {
    for (size_t i = 0; i < n; i++) {
        if (init == PARAM_INIT_UNIFORM) {
            v[i] = (float)((2.0 * next_unit(rng) - 1.0) * scale);
        } else { /* Box-Muller */
            const double r = sqrt(-2.0 * log(next_unit(rng))), t = 6.283185307179586 * next_unit(rng);
            v[i] = (float)(r * cos(t) * scale);
        }
    }
}

static clcnn_status init_value(clcnn_graph *g, clcnn_tensor *t, float scale, param_init init) {
    if (init == PARAM_INIT_CONST) return clcnn_tensor_fill(t, scale);
    float *host = malloc(t->numel * sizeof *host);
    if (!host) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "graph: no host memory for %zu initial values", t->numel);
    fill_random(&g->rng, host, t->numel, scale, init);
    clcnn_status st = clcnn_tensor_write(t, host, t->numel);
    free(host);
    return st;
}

clcnn_status graph_add_param(clcnn_graph *g, graph_layer *l, const char *suffix, int ndim, const int *shape,
                             int trainable, float scale, param_init init) {
    if (g->nparams == g->cap_params) {
        const int cap = g->cap_params ? g->cap_params * 2 : 32;
        graph_param *grown = realloc(g->params, (size_t)cap * sizeof *grown);
        if (!grown) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "graph: no host memory for parameters");
        g->params = grown;
        g->cap_params = cap;
    }
    graph_param *p = &g->params[g->nparams];
    *p = (graph_param){0};
    const size_t len = strlen(l->name) + strlen(suffix) + 2;
    clcnn_status st = CLCNN_OK;
    if (!(p->name = malloc(len))) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "graph: no host memory for names");
    snprintf(p->name, len, "%s.%s", l->name, suffix);
    /* No initial values while clcnn_model_from_weights builds: its strict load overwrites them. */
    if ((st = clcnn_tensor_create(g->ctx, ndim, shape, &p->value)) != CLCNN_OK ||
        (g->init_params && (st = init_value(g, p->value, scale, init)) != CLCNN_OK))
        goto fail;
    p->trainable = trainable != 0;
    l->param[l->nparams++] = g->nparams++;
    return CLCNN_OK;
fail:
    /* The tensor's own error names only its shape: say whose parameter it was. */
    rt_error_prefix(g->ctx, st, "parameter %s", p->name);
    clcnn_tensor_destroy(p->value);
    free(p->name);
    return st;
}

clcnn_status graph_param_grad(const clcnn_graph *g, int i, clcnn_tensor **grad) {
    graph_param *p = &g->params[i];
    clcnn_status st = CLCNN_OK;
    if (p->trainable && !p->grad) {
        clcnn_tensor *t = NULL;
        if ((st = clcnn_tensor_create(g->ctx, clcnn_tensor_ndim(p->value), p->value->shape, &t)) != CLCNN_OK ||
            (st = clcnn_tensor_fill(t, 0.0f)) != CLCNN_OK) {
            clcnn_tensor_destroy(t);
            return rt_error_prefix(g->ctx, st, "the gradient of %s", p->name);
        }
        p->grad = t;
    }
    *grad = p->grad;
    return st;
}

clcnn_status graph_make_param_grads(const clcnn_graph *g) {
    clcnn_tensor *grad;
    clcnn_status st = CLCNN_OK;
    for (int i = 0; i < g->nparams && st == CLCNN_OK; i++)
        if (!g->params[i].frozen) st = graph_param_grad(g, i, &grad);
    return st;
}

void graph_params_truncate(clcnn_graph *g, int n) {
    for (int i = n; i < g->nparams; i++) {
        clcnn_tensor_destroy(g->params[i].grad);
        clcnn_tensor_destroy(g->params[i].value);
        free(g->params[i].name);
    }
    if (n < g->nparams) g->nparams = n;
}

void graph_params_free(clcnn_graph *g) {
    graph_params_truncate(g, 0);
    free(g->params);
    g->params = NULL;
    g->cap_params = 0;
}

int graph_find_param(const clcnn_graph *g, const char *name) {
    for (int i = 0; g && name && i < g->nparams; i++)
        if (!strcmp(g->params[i].name, name)) return i;
    return -1;
}

clcnn_tensor *graph_layer_param(const clcnn_graph *g, const graph_layer *l, int p) {
    return p < l->nparams ? g->params[l->param[p]].value : NULL;
}

int graph_param_trainable(const clcnn_graph *g, const graph_layer *l, int p) {
    return p < l->nparams && g->params[l->param[p]].trainable && !g->params[l->param[p]].frozen;
}

int graph_bn_uses_batch_stats(const clcnn_graph *g, const graph_layer *l) {
    return g->training && !g->params[l->param[0]].frozen;
}

/* ---- public accessors ---- */

int clcnn_graph_param_count(const clcnn_graph *g) { return g ? g->nparams : 0; }

const char *clcnn_graph_param_name(const clcnn_graph *g, int index) {
    return g && index >= 0 && index < g->nparams ? g->params[index].name : NULL;
}

/* The value tensors handed out are writable: each hand-out counts as a change (fuse.c). */
clcnn_tensor *clcnn_graph_param(const clcnn_graph *g, const char *name) {
    const int i = graph_find_param(g, name);
    if (i < 0) return NULL;
    graph_param_touched(g, i);
    return g->params[i].value;
}

clcnn_tensor *clcnn_graph_grad(const clcnn_graph *g, const char *name) {
    const int i = graph_find_param(g, name);
    clcnn_tensor *grad = NULL;
    if (i >= 0) graph_param_grad(g, i, &grad); /* NULL on failure, with the error in the context */
    return grad;
}

clcnn_status clcnn_graph_param_info(const clcnn_graph *g, int index, clcnn_param_info *info) {
    if (!g || !info) return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_param_info: NULL argument");
    if (index < 0 || index >= g->nparams)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_param_info: index %d outside [0, %d)", index,
                           g->nparams);
    const graph_param *p = &g->params[index];
    clcnn_tensor *grad = NULL;
    const clcnn_status st = graph_param_grad(g, index, &grad);
    if (st != CLCNN_OK) return st;
    graph_param_touched(g, index);
    *info = (clcnn_param_info){.name = p->name, .value = p->value, .grad = grad, .frozen = p->frozen};
    return CLCNN_OK;
}

int clcnn_graph_param_is_frozen(const clcnn_graph *g, const char *name) {
    const int i = graph_find_param(g, name);
    return i >= 0 && g->params[i].frozen;
}

int graph_params_stop_learning(clcnn_graph *g, const char *prefix) {
    int n = 0;
    for (int i = 0; i < g->nparams; i++)
        if (clcnn_param_name_under(g->params[i].name, prefix) && g->params[i].trainable) {
            g->params[i].trainable = 0;
            g->params[i].stopped = 1;
            clcnn_tensor_destroy(g->params[i].grad);
            g->params[i].grad = NULL;
            n++;
        }
    return n;
}

void graph_params_resume_learning(clcnn_graph *g, const char *prefix) {
    for (int i = 0; i < g->nparams; i++)
        if (clcnn_param_name_under(g->params[i].name, prefix) && g->params[i].stopped) {
            g->params[i].trainable = 1;
            g->params[i].stopped = 0;
        }
}

int clcnn_graph_param_learns(const clcnn_graph *g, const char *name) {
    const int i = graph_find_param(g, name);
    return i >= 0 && g->params[i].trainable;
}

clcnn_status clcnn_graph_zero_grad(clcnn_graph *g) {
    if (!g) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_zero_grad: graph is NULL");
    for (int i = 0; i < g->nparams; i++) {
        if (!g->params[i].grad) continue; /* not made yet: zero already */
        clcnn_status st = clcnn_tensor_fill(g->params[i].grad, 0.0f);
        if (st != CLCNN_OK) return st;
    }
    return CLCNN_OK;
}

int clcnn_param_name_under(const char *name, const char *prefix) {
    if (!name || !prefix) return 0;
    const size_t n = strlen(prefix);
    return n == 0 || (!strncmp(prefix, name, n) && (name[n] == '\0' || name[n] == '.'));
}

clcnn_status clcnn_graph_freeze(clcnn_graph *g, const char *prefix, int frozen, int *matched) {
    if (!g || !prefix) return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_freeze: NULL argument");
    int count = 0;
    for (int i = 0; i < g->nparams; i++)
        if (clcnn_param_name_under(g->params[i].name, prefix)) {
            g->params[i].frozen = frozen != 0;
            count++;
        }
    if (matched) *matched = count;
    graph_params_changed(g);
    if (!count) return rt_error(g->ctx, CLCNN_ERR_NOT_FOUND, "clcnn_graph_freeze: no parameter is called %s or starts with %s.", prefix, prefix);
    return CLCNN_OK;
}

/* ---- loading ---- */

static int shapes_equal(const clcnn_tensor *a, const clcnn_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

clcnn_status clcnn_graph_load(clcnn_graph *g, const clcnn_weights *w, clcnn_load_mode mode, int *loaded) {
    static const char *op = "clcnn_graph_load";
    if (!g || !w) return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    if (mode != CLCNN_LOAD_STRICT && mode != CLCNN_LOAD_PARTIAL)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown mode %d", op, (int)mode);
    char sa[64], sb[64];
    /* Check everything before copying anything, so that a strict failure changes nothing. */
    for (int i = 0; i < g->nparams; i++) {
        const clcnn_tensor *src = clcnn_weights_get(w, g->params[i].name);
        if (src && src->ctx != g->ctx)
            return rt_error(g->ctx, CLCNN_ERR_CONTEXT_MISMATCH, "%s: the weights were loaded on another context", op);
        if (mode == CLCNN_LOAD_PARTIAL) continue;
        if (!src) return rt_error(g->ctx, CLCNN_ERR_NOT_FOUND, "%s: the weights lack %s", op, g->params[i].name);
        if (!shapes_equal(src, g->params[i].value))
            return rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: %s is %s in the weights but %s in the network", op,
                               g->params[i].name, clcnn_tensor_shape_str(src, sa, sizeof sa),
                               clcnn_tensor_shape_str(g->params[i].value, sb, sizeof sb));
    }
    for (int i = 0; mode == CLCNN_LOAD_STRICT && i < clcnn_weights_count(w); i++) {
        const char *name = clcnn_weights_name(w, i);
        if (graph_find_param(g, name) < 0)
            return rt_error(g->ctx, CLCNN_ERR_NOT_FOUND, "%s: the weights hold %s, which the network does not have", op, name);
    }
    int count = 0;
    graph_params_changed(g);
    for (int i = 0; i < g->nparams; i++) {
        const clcnn_tensor *src = clcnn_weights_get(w, g->params[i].name);
        if (!src || !shapes_equal(src, g->params[i].value)) {
            rt_log(CLCNN_LOG_INFO, "%s: %s keeps its initial values (%s)", op, g->params[i].name,
                      src ? "another shape in the weights" : "not in the weights");
            continue;
        }
        clcnn_status st = rt_tensor_copy(src, g->params[i].value, g->params[i].name);
        if (st != CLCNN_OK) return st;
        count++;
    }
    if (loaded) *loaded = count;
    return CLCNN_OK;
}
