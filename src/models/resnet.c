/* resnet.c: clcnn_model, the inference ResNet made from torchvision-named weights alone
 * (no clcnn metadata), as a thin wrapper over the zoo's graph: the layout is read from
 * the tensors' names and shapes, the graph (which folds and fuses as every graph does)
 * is built for it and loaded strictly. A graph has one input size; an input of another
 * size builds the graph again for it and moves the parameters over. */
#include <stdio.h>
#include <stdlib.h>
#include "graph/graph.h"
#include "zoo_internal.h"

#define NOMINAL_SIZE 224 /* the first graph's input size, until a forward says otherwise */

struct clcnn_model {
    clcnn_context *ctx;
    clcnn_resnet_config cfg; /* height and width: the current graph's */
    clcnn_graph *g;
};

void clcnn_model_destroy(clcnn_model *m) {
    if (!m) return;
    clcnn_graph_destroy(m->g);
    free(m);
}

int clcnn_model_num_classes(const clcnn_model *m) { return m ? m->cfg.classes : 0; }

/* ---- the layout from the weights ---- */

static const clcnn_tensor *tensor(const clcnn_weights *w, const char *fmt, int a, int b) {
    char name[128];
    snprintf(name, sizeof name, fmt, a, b);
    return clcnn_weights_get(w, name);
}

/* torchvision's ResNet layout in w: stem, stages of basic or bottleneck blocks (with SE
 * modules as block.se.fc1/fc2), fc or the MLP head fc.0 ... fc.3. Whatever the names
 * say wrong (a shape that does not fit) the strict load reports by name. */
static clcnn_status layout(clcnn_context *ctx, const clcnn_weights *w, clcnn_resnet_config *c) {
    *c = (clcnn_resnet_config){.family = CLCNN_FAMILY_RESNET, .height = NOMINAL_SIZE, .width = NOMINAL_SIZE};
    const clcnn_tensor *stem = tensor(w, "conv1.weight", 0, 0);
    if (!tensor(w, "layer1.0.conv1.weight", 0, 0))
        return rt_error(ctx, CLCNN_ERR_NOT_FOUND, "weights: no residual blocks (layer1.0.conv1.weight is missing)");
    if (!stem) return rt_error(ctx, CLCNN_ERR_NOT_FOUND, "weights: tensor conv1.weight is missing");
    if (stem->ndim != 4 || (stem->shape[2] != 7 && stem->shape[2] != 3))
        return rt_error(ctx, CLCNN_ERR_SHAPE, "weights: conv1.weight must be [C, in, 7, 7] (torchvision's stem) or "
                        "[C, in, 3, 3] (the compact nets')");
    c->stem_width = stem->shape[0];
    c->in_channels = stem->shape[1];
    c->stem_kernel = stem->shape[2];
    for (int s = 1; s <= 4 && tensor(w, "layer%d.%d.conv1.weight", s, 0); s++) {
        c->stages = s;
        while (tensor(w, "layer%d.%d.conv1.weight", s, c->blocks[s - 1])) c->blocks[s - 1]++;
        c->widths[s - 1] = clcnn_tensor_dim(tensor(w, "layer%d.%d.conv1.weight", s, 0), 0);
    }
    c->bottleneck = tensor(w, "layer1.0.conv3.weight", 0, 0) != NULL;
    c->se = tensor(w, "layer1.0.se.fc1.weight", 0, 0) != NULL;
    const clcnn_tensor *fc = tensor(w, "fc.weight", 0, 0), *hidden = tensor(w, "fc.0.weight", 0, 0);
    if (hidden) {
        c->head_hidden = clcnn_tensor_dim(hidden, 0);
        fc = tensor(w, "fc.3.weight", 0, 0);
    }
    if (!fc) return rt_error(ctx, CLCNN_ERR_NOT_FOUND, "weights: tensor %s is missing", hidden ? "fc.3.weight" : "fc.weight");
    c->classes = clcnn_tensor_dim(fc, 0);
    return CLCNN_OK;
}

clcnn_status clcnn_resnet_create(clcnn_context *ctx, const clcnn_weights *w, clcnn_model **out) {
    if (!ctx || !w || !out) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_resnet_create: NULL argument");
    *out = NULL;
    clcnn_model *m = calloc(1, sizeof *m);
    if (!m) return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_resnet_create: no host memory");
    m->ctx = ctx;
    clcnn_status st = layout(ctx, w, &m->cfg);
    if (st == CLCNN_OK) st = zoo_build(ctx, &m->cfg, 0, 0, &m->g); /* no initial values: the load sets them all */
    if (st == CLCNN_OK && (st = clcnn_graph_load(m->g, w, CLCNN_LOAD_STRICT, NULL)) != CLCNN_OK)
        rt_error_prefix(ctx, st, "clcnn_resnet_create: %s", clcnn_weights_path(w) ? clcnn_weights_path(w) : "weights");
    if (st != CLCNN_OK) {
        clcnn_model_destroy(m);
        return st;
    }
    *out = m;
    return CLCNN_OK;
}

/* ---- forward ---- */

/* The graph again for height x width inputs, with the parameters (and running
 * statistics) of the old one, which goes. */
static clcnn_status resize(clcnn_model *m, int height, int width) {
    clcnn_resnet_config cfg = m->cfg;
    cfg.height = height;
    cfg.width = width;
    clcnn_graph *g = NULL;
    clcnn_status st = zoo_build(m->ctx, &cfg, 0, 0, &g);
    for (int i = 0; st == CLCNN_OK && i < g->nparams; i++)
        st = rt_tensor_copy(m->g->params[i].value, g->params[i].value, g->params[i].name);
    if (st != CLCNN_OK) {
        clcnn_graph_destroy(g);
        return rt_error_prefix(m->ctx, st, "clcnn_model_forward: the network for %dx%d inputs", width, height);
    }
    clcnn_graph_destroy(m->g);
    m->g = g;
    m->cfg = cfg;
    return CLCNN_OK;
}

clcnn_status clcnn_model_forward(clcnn_model *m, const clcnn_tensor *x, clcnn_tensor *logits) {
    static const char *op = "clcnn_model_forward";
    if (!m) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: model is NULL", op);
    clcnn_context *ctx = m->ctx;
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK) return st;
    if (x->shape[1] != m->cfg.in_channels) {
        char s[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: input %s must have %d channels", op,
                        clcnn_tensor_shape_str(x, s, sizeof s), m->cfg.in_channels);
    }
    if ((st = rt_check_shape_is(ctx, op, "logits", logits, 2, (int[]){x->shape[0], m->cfg.classes})) != CLCNN_OK)
        return st;
    if ((x->shape[2] != m->cfg.height || x->shape[3] != m->cfg.width) &&
        (st = resize(m, x->shape[2], x->shape[3])) != CLCNN_OK)
        return st;
    const clcnn_tensor *out = NULL;
    if ((st = clcnn_graph_forward(m->g, x, &out)) != CLCNN_OK) return st;
    return rt_tensor_copy(out, logits, op);
}
