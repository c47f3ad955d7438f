/* graph.c: building a graph layer by layer, with per-sample shapes worked out as each
 * layer is added (so that a bad network is reported where it is built, naming the
 * layer), and the layer listing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"


int graph_find_layer(const clcnn_graph *g, const char *name) {
    for (int i = 0; name && i < g->nlayers; i++)
        if (!strcmp(g->layers[i].name, name)) return i;
    return -1;
}

const clcnn_tensor *graph_input_of(const clcnn_graph *g, const graph_layer *l, int k) {
    const int i = l->in[k];
    if (i < 0) return NULL;
    return i == 0 ? g->input : g->layers[i].y;
}

clcnn_status clcnn_graph_create(clcnn_context *ctx, int channels, int height, int width, uint64_t seed,
                                clcnn_graph **out) {
    return graph_create(ctx, channels, height, width, seed, 1, out);
}

clcnn_status graph_create(clcnn_context *ctx, int channels, int height, int width, uint64_t seed, int init_params,
                          clcnn_graph **out) {
    if (!ctx || !out) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_create: NULL argument");
    *out = NULL;
    if (channels <= 0 || height <= 0 || width <= 0)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "clcnn_graph_create: input [%d, %d, %d] must be positive", channels,
                           height, width);
    clcnn_graph *g = calloc(1, sizeof *g);
    if (!g) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_graph_create: no host memory");
    g->ctx = ctx;
    g->seed = g->rng = seed;
    g->cap_layers = 16;
    g->layers = calloc((size_t)g->cap_layers, sizeof *g->layers);
    char *name = strdup("input");
    if (!g->layers || !name) {
        free(name);
        free(g->layers);
        free(g);
        return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_graph_create: no host memory");
    }
    g->layers[0] = (graph_layer){.kind = LAYER_INPUT, .name = name, .in = {-1, -1}, .ndim = 3,
                                 .shape = {channels, height, width}, .param = {-1, -1, -1, -1}, .chain = -1,
                                 .chain_bn = -1, .chain_tail = -1, .chain_end = -1};
    g->nlayers = 1;
    g->fuse = graph_env_flag("CLCNN_FUSE", 1);
    g->check_numerics = graph_env_flag("CLCNN_CHECK_NUMERICS", 0);
    g->init_params = init_params;
    *out = g;
    return CLCNN_OK;
}

clcnn_context *clcnn_graph_context(const clcnn_graph *g) { return g ? g->ctx : NULL; }

void clcnn_graph_destroy(clcnn_graph *g) {
    if (!g) return;
    graph_batch_free(g);
    graph_fuse_free(g);
    clcnn_tensor_destroy(g->numerics_flag);
    for (int i = 0; i < g->nlayers; i++) free(g->layers[i].name);
    free(g->layers);
    graph_params_free(g);
    free(g->aux_module);
    free(g);
}

/* Start a layer `name` reading in0 (and in1): checks the name is new and the inputs
 * exist, and copies in0's shape as the default output shape. finish() keeps it. */
static clcnn_status begin(clcnn_graph *g, const char *op, layer_kind kind, const char *name, const char *in0,
                          const char *in1, graph_layer **out) {
    *out = NULL;
    if (!g) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: graph is NULL", op);
    if (!name || !*name || !in0)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer and input names are required", op);
    if (graph_find_layer(g, name) >= 0)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: a layer called %s already exists", op, name);
    const int a = graph_find_layer(g, in0), b = in1 ? graph_find_layer(g, in1) : -1;
    if (a < 0 || (in1 && b < 0))
        return rt_error(g->ctx, CLCNN_ERR_NOT_FOUND, "%s: layer %s reads %s, which is not an earlier layer", op,
                           name, a < 0 ? in0 : in1);
    if (g->nlayers == g->cap_layers) {
        graph_layer *grown = realloc(g->layers, (size_t)g->cap_layers * 2 * sizeof *grown);
        if (!grown) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        g->layers = grown;
        g->cap_layers *= 2;
    }
    char *copy = strdup(name);
    if (!copy) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    graph_layer *l = &g->layers[g->nlayers];
    *l = (graph_layer){.kind = kind, .name = copy, .in = {a, b}, .param = {-1, -1, -1, -1}, .chain = -1,
                       .chain_bn = -1, .chain_tail = -1, .chain_end = -1};
    l->ndim = g->layers[a].ndim;
    memcpy(l->shape, g->layers[a].shape, sizeof l->shape);
    g->params_before_layer = g->nparams;
    *out = l;
    return CLCNN_OK;
}

/* Keep the layer begun, or drop it and any parameters it created after an error. */
static clcnn_status finish(clcnn_graph *g, graph_layer *l, clcnn_status st) {
    if (!l) return st;
    if (st == CLCNN_OK) {
        g->nlayers++;
        graph_batch_free(g); /* per-batch tensors and fused chains are planned again on the next forward */
        graph_fuse_free(g);
        g->fuse_planned = 0;
        return st;
    }
    graph_params_truncate(g, g->params_before_layer);
    free(l->name);
    l->name = NULL;
    return st;
}

static clcnn_status need_image(clcnn_graph *g, const char *op, const graph_layer *l) {
    if (l->ndim == 3) return CLCNN_OK;
    return rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: layer %s needs an image-shaped input [C, H, W], got [%d]", op,
                       l->name, l->shape[0]);
}

/* The per-sample output shape by the op's own shape rule, applied to descriptors
 * without storage (so the graph and the op can never disagree). */
static clcnn_status per_sample(clcnn_graph *g, graph_layer *l, const int w_shape[4], const clcnn_pool_params *pool) {
    clcnn_tensor x = {.ctx = g->ctx, .ndim = 4, .shape = {1, l->shape[0], l->shape[1], l->shape[2]}};
    int out[4];
    clcnn_status st;
    if (w_shape) {
        clcnn_tensor w = {.ctx = g->ctx, .ndim = 4, .shape = {w_shape[0], w_shape[1], w_shape[2], w_shape[3]}};
        st = clcnn_conv2d_output_shape(&x, &w, &l->conv, out);
    } else {
        st = clcnn_pool2d_output_shape(&x, pool, out);
    }
    if (st != CLCNN_OK) return rt_error_prefix(g->ctx, st, "layer %s", l->name);
    l->ndim = 3;
    l->shape[0] = out[1];
    l->shape[1] = out[2];
    l->shape[2] = out[3];
    return CLCNN_OK;
}

/* Only activations whose gradient follows from their output may be fused into the
 * layers that do not keep their pre-activation value. */
static clcnn_status check_output_act(clcnn_graph *g, const char *op, const char *name, clcnn_activation act) {
    if (clcnn_activation_from_output(act)) return CLCNN_OK;
    return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT,
                       "%s: layer %s: activation %d (%s) cannot be fused here (use a separate activation layer)", op,
                       name, (int)act, clcnn_activation_name(act));
}

clcnn_status clcnn_graph_conv2d(clcnn_graph *g, const char *name, const char *input, int out_channels, int kernel_h,
                                int kernel_w, const clcnn_conv_params *params, int bias) {
    static const char *op = "clcnn_graph_conv2d";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_CONV, name, input, NULL, &l);
    if (st != CLCNN_OK) return st;
    if ((st = need_image(g, op, l)) != CLCNN_OK) return finish(g, l, st);
    if (params) l->conv = *params;
    const int groups = l->conv.groups ? l->conv.groups : 1, cin = l->shape[0];
    if (out_channels <= 0 || kernel_h <= 0 || kernel_w <= 0 || groups <= 0 || cin % groups || out_channels % groups)
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_SHAPE,
                                        "%s: layer %s: %d output channels, kernel %dx%d and groups %d do not fit %d input channels",
                                        op, name, out_channels, kernel_h, kernel_w, groups, cin));
    const int w_shape[4] = {out_channels, cin / groups, kernel_h, kernel_w};
    if ((st = per_sample(g, l, w_shape, NULL)) != CLCNN_OK) return finish(g, l, st);
    const int fan_in = w_shape[1] * kernel_h * kernel_w, fan_out = out_channels / groups * kernel_h * kernel_w;
    /* torchvision's ResNet init: kaiming_normal_(mode="fan_out", nonlinearity="relu"). */
    st = graph_add_param(g, l, "weight", 4, w_shape, 1, sqrtf(2.0f / (float)fan_out), PARAM_INIT_NORMAL);
    if (st == CLCNN_OK && bias)
        st = graph_add_param(g, l, "bias", 1, &out_channels, 1, 1.0f / sqrtf((float)fan_in), PARAM_INIT_UNIFORM);
    return finish(g, l, st);
}

clcnn_status clcnn_graph_batchnorm(clcnn_graph *g, const char *name, const char *input) {
    return clcnn_graph_batchnorm_ex(g, name, input, BN_EPS, BN_MOMENTUM);
}

clcnn_status clcnn_graph_batchnorm_ex(clcnn_graph *g, const char *name, const char *input, float eps,
                                      float momentum) {
    static const char *op = "clcnn_graph_batchnorm";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_BATCHNORM, name, input, NULL, &l);
    if (st != CLCNN_OK) return st;
    l->bn_eps = eps;
    l->bn_momentum = momentum;
    if (!(eps > 0.0f && eps < 1.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT,
                                        "%s: layer %s: eps %g (0 to 1, both excluded) or momentum %g (0 to 1)", op,
                                        name, (double)eps, (double)momentum));
    const int c = l->shape[0];
    if ((st = graph_add_param(g, l, "weight", 1, &c, 1, 1.0f, PARAM_INIT_CONST)) != CLCNN_OK ||
        (st = graph_add_param(g, l, "bias", 1, &c, 1, 0.0f, PARAM_INIT_CONST)) != CLCNN_OK ||
        (st = graph_add_param(g, l, "running_mean", 1, &c, 0, 0.0f, PARAM_INIT_CONST)) != CLCNN_OK ||
        (st = graph_add_param(g, l, "running_var", 1, &c, 0, 1.0f, PARAM_INIT_CONST)) != CLCNN_OK)
        return finish(g, l, st);
    return finish(g, l, CLCNN_OK);
}

clcnn_status clcnn_graph_activation(clcnn_graph *g, const char *name, const char *input, clcnn_activation act) {
    static const char *op = "clcnn_graph_activation";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_ACTIVATION, name, input, NULL, &l);
    if (st != CLCNN_OK) return st;
    l->act = act;
    if (act == CLCNN_ACT_NONE || (int)act < 0 || act >= CLCNN_ACT_COUNT)
        st = rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer %s: unknown activation %d", op, name, (int)act);
    return finish(g, l, st);
}

static int same_shape(const graph_layer *a, const graph_layer *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

static const char *shape_text(const graph_layer *l, char *buf, size_t size) {
    if (l->ndim == 3) snprintf(buf, size, "[%d, %d, %d]", l->shape[0], l->shape[1], l->shape[2]);
    else snprintf(buf, size, "[%d]", l->shape[0]);
    return buf;
}

clcnn_status clcnn_graph_add(clcnn_graph *g, const char *name, const char *a, const char *b, clcnn_activation act) {
    static const char *op = "clcnn_graph_add";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_ADD, name, a, b, &l);
    if (st != CLCNN_OK) return st;
    l->act = act;
    if (!b) return finish(g, l, rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer %s needs two inputs", op, name));
    const graph_layer *la = &g->layers[l->in[0]], *lb = &g->layers[l->in[1]];
    char sa[48], sb[48];
    if (!same_shape(la, lb))
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: layer %s adds %s %s and %s %s", op, name, a,
                                        shape_text(la, sa, sizeof sa), b, shape_text(lb, sb, sizeof sb)));
    return finish(g, l, check_output_act(g, op, name, act));
}

clcnn_status clcnn_graph_pool2d(clcnn_graph *g, const char *name, const char *input, const clcnn_pool_params *params) {
    static const char *op = "clcnn_graph_pool2d";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_POOL, name, input, NULL, &l);
    if (st != CLCNN_OK) return st;
    if (!params) return finish(g, l, rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: params is NULL", op));
    l->pool = *params;
    if ((st = need_image(g, op, l)) == CLCNN_OK) st = per_sample(g, l, NULL, params);
    return finish(g, l, st);
}

clcnn_status clcnn_graph_global_avg_pool(clcnn_graph *g, const char *name, const char *input) {
    static const char *op = "clcnn_graph_global_avg_pool";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_GLOBAL_AVG_POOL, name, input, NULL, &l);
    if (st != CLCNN_OK) return st;
    if ((st = need_image(g, op, l)) == CLCNN_OK) l->ndim = 1;
    return finish(g, l, st);
}

static int features(const graph_layer *l) { return l->ndim == 3 ? l->shape[0] * l->shape[1] * l->shape[2] : l->shape[0]; }

clcnn_status clcnn_graph_linear(clcnn_graph *g, const char *name, const char *input, int out_features, int bias) {
    static const char *op = "clcnn_graph_linear";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_LINEAR, name, input, NULL, &l);
    if (st != CLCNN_OK) return st;
    if (out_features <= 0)
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: layer %s: %d output features", op, name, out_features));
    const int in = features(l), w_shape[2] = {out_features, in};
    l->ndim = 1;
    l->shape[0] = out_features;
    const float bound = 1.0f / sqrtf((float)in); /* torch.nn.Linear's default init */
    st = graph_add_param(g, l, "weight", 2, w_shape, 1, bound, PARAM_INIT_UNIFORM);
    if (st == CLCNN_OK && bias) st = graph_add_param(g, l, "bias", 1, &out_features, 1, bound, PARAM_INIT_UNIFORM);
    return finish(g, l, st);
}

/* A layer of a random mask with rate p (dropout, stochastic depth), 0 <= p < 1. */
static clcnn_status masked(clcnn_graph *g, const char *op, layer_kind kind, const char *name, const char *input,
                           float p) {
    graph_layer *l;
    clcnn_status st = begin(g, op, kind, name, input, NULL, &l);
    if (st != CLCNN_OK) return st;
    l->drop_p = p;
    if (!(p >= 0.0f && p < 1.0f))
        st = rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer %s: rate %g is outside [0, 1)", op, name,
                         (double)p);
    return finish(g, l, st);
}

clcnn_status clcnn_graph_dropout(clcnn_graph *g, const char *name, const char *input, float p) {
    return masked(g, "clcnn_graph_dropout", LAYER_DROPOUT, name, input, p);
}

clcnn_status clcnn_graph_concat(clcnn_graph *g, const char *name, const char *a, const char *b) {
    static const char *op = "clcnn_graph_concat";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_CONCAT, name, a, b, &l);
    if (st != CLCNN_OK) return st;
    if (!b) return finish(g, l, rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer %s needs two inputs", op, name));
    const graph_layer *la = &g->layers[l->in[0]], *lb = &g->layers[l->in[1]];
    int fits = la->ndim == lb->ndim;
    for (int d = 1; fits && d < la->ndim; d++) fits = la->shape[d] == lb->shape[d];
    char sa[48], sb[48];
    if (!fits)
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: layer %s joins %s %s and %s %s, which differ "
                                        "in more than their channels", op, name, a, shape_text(la, sa, sizeof sa), b,
                                        shape_text(lb, sb, sizeof sb)));
    l->shape[0] = la->shape[0] + lb->shape[0];
    return finish(g, l, CLCNN_OK);
}

clcnn_status clcnn_graph_stochastic_depth(clcnn_graph *g, const char *name, const char *input, float p) {
    return masked(g, "clcnn_graph_stochastic_depth", LAYER_STOCHASTIC_DEPTH, name, input, p);
}

clcnn_status clcnn_graph_set_dropout(clcnn_graph *g, const char *name, float p) {
    static const char *op = "clcnn_graph_set_dropout";
    if (!g || !name) return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    const int i = graph_find_layer(g, name);
    if (i < 0) return rt_error(g->ctx, CLCNN_ERR_NOT_FOUND, "%s: no layer is called %s", op, name);
    if (g->layers[i].kind != LAYER_DROPOUT && g->layers[i].kind != LAYER_STOCHASTIC_DEPTH)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer %s is a %s, not a dropout or stochastic depth",
                           op, name, graph_ops(&g->layers[i])->name(&g->layers[i]));
    if (!(p >= 0.0f && p < 1.0f))
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer %s: dropout rate %g is outside [0, 1)", op,
                           name, (double)p);
    g->layers[i].drop_p = p;
    return CLCNN_OK;
}

clcnn_status clcnn_graph_squeeze_excite(clcnn_graph *g, const char *name, const char *input, int reduced,
                                        const char *residual, clcnn_activation act) {
    return clcnn_graph_squeeze_excite_ex(g, name, input, reduced, CLCNN_ACT_RELU, CLCNN_ACT_SIGMOID, residual, act);
}

clcnn_status clcnn_graph_squeeze_excite_ex(clcnn_graph *g, const char *name, const char *input, int reduced,
                                           clcnn_activation inner, clcnn_activation gate, const char *residual,
                                           clcnn_activation act) {
    static const char *op = "clcnn_graph_squeeze_excite";
    graph_layer *l;
    clcnn_status st = begin(g, op, LAYER_SQUEEZE_EXCITE, name, input, residual, &l);
    if (st != CLCNN_OK) return st;
    l->act = act;
    l->se_inner = inner;
    l->se_gate = gate;
    if ((int)inner < 0 || inner >= CLCNN_ACT_COUNT || !clcnn_activation_from_output(gate) || gate == CLCNN_ACT_NONE)
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: layer %s: inner activation %d or gate "
                                        "%d (sigmoid or hardsigmoid) is not one to use here", op, name, (int)inner,
                                        (int)gate));
    if ((st = need_image(g, op, l)) != CLCNN_OK || (st = check_output_act(g, op, name, act)) != CLCNN_OK)
        return finish(g, l, st);
    char s1[48], s2[48];
    if (residual && !same_shape(l, &g->layers[l->in[1]]))
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: layer %s: residual %s %s does not match input %s", op,
                                        name, residual, shape_text(&g->layers[l->in[1]], s1, sizeof s1),
                                        shape_text(l, s2, sizeof s2)));
    const int c = l->shape[0];
    if (reduced <= 0)
        return finish(g, l, rt_error(g->ctx, CLCNN_ERR_SHAPE, "%s: layer %s: %d reduced channels", op, name, reduced));
    /* 1x1 convolutions with bias, initialised as torchvision initialises convolutions. */
    const int w1[4] = {reduced, c, 1, 1}, w2[4] = {c, reduced, 1, 1};
    if ((st = graph_add_param(g, l, "fc1.weight", 4, w1, 1, sqrtf(2.0f / (float)reduced), PARAM_INIT_NORMAL)) ||
        (st = graph_add_param(g, l, "fc1.bias", 1, &reduced, 1, 1.0f / sqrtf((float)c), PARAM_INIT_UNIFORM)) ||
        (st = graph_add_param(g, l, "fc2.weight", 4, w2, 1, sqrtf(2.0f / (float)c), PARAM_INIT_NORMAL)) ||
        (st = graph_add_param(g, l, "fc2.bias", 1, &c, 1, 1.0f / sqrtf((float)reduced), PARAM_INIT_UNIFORM)))
        return finish(g, l, st);
    return finish(g, l, CLCNN_OK);
}

/* ---- listing ---- */

/* The kinds' operations, by kind (GRAPH_LAYER_KINDS). */
static const graph_layer_ops *const kind_ops[] = {
#define KIND_OPS_(kind, file) [LAYER_##kind] = &graph_##file##_layer,
    GRAPH_LAYER_KINDS(KIND_OPS_)
#undef KIND_OPS_
};
_Static_assert(sizeof kind_ops / sizeof kind_ops[0] == LAYER_KIND_COUNT, "a layer kind without operations");

const graph_layer_ops *graph_ops(const graph_layer *l) { return kind_ops[l->kind]; }

int clcnn_graph_layer_count(const clcnn_graph *g) { return g ? g->nlayers : 0; }

clcnn_status clcnn_graph_layer(const clcnn_graph *g, int index, clcnn_layer_info *info) {
    if (!g || !info) return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_layer: NULL argument");
    if (index < 0 || index >= g->nlayers)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_graph_layer: index %d outside [0, %d)", index,
                           g->nlayers);
    const graph_layer *l = &g->layers[index];
    *info = (clcnn_layer_info){.name = l->name, .kind = graph_ops(l)->name(l), .ndim = l->ndim};
    memcpy(info->shape, l->shape, sizeof info->shape);
    for (int p = 0; p < LAYER_MAX_PARAMS; p++)
        if (l->param[p] >= 0 && g->params[l->param[p]].trainable) info->params += g->params[l->param[p]].value->numel;
    return CLCNN_OK;
}

int clcnn_graph_find_layer(const clcnn_graph *g, const char *name, clcnn_layer_info *info) {
    if (!g || !name || !info) return -1;
    const size_t len = strlen(name);
    int found = -1;
    for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
        clcnn_layer_info li;
        if (clcnn_graph_layer(g, i, &li) != CLCNN_OK) break;
        const int exact = !strcmp(li.name, name), inside = !strncmp(li.name, name, len) && li.name[len] == '.';
        if (exact || inside) {
            found = i;
            *info = li;
        }
        if (exact) break;
    }
    return found;
}
