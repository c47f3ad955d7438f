/* freeze.c: which parameters train (freeze.h). --freeze-backbone with --init freezes
 * exactly what the file supplied, so that new modules on a pretrained backbone (SE
 * blocks on a plain ResNet, a new head) train and the backbone stays as it was. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "freeze.h"
#include "tool.h"

static int same_shape(const clcnn_tensor *a, const clcnn_tensor *b) {
    if (!a || !b || clcnn_tensor_ndim(a) != clcnn_tensor_ndim(b)) return 0;
    for (int d = 0; d < clcnn_tensor_ndim(a); d++)
        if (clcnn_tensor_dim(a, d) != clcnn_tensor_dim(b, d)) return 0;
    return 1;
}

unsigned char *tool_supplied_by(const clcnn_graph *g, const clcnn_weights *init) {
    const int n = clcnn_graph_param_count(g);
    unsigned char *supplied = calloc((size_t)(n > 0 ? n : 1), 1);
    for (int i = 0; supplied && i < n; i++) {
        const char *name = clcnn_graph_param_name(g, i);
        supplied[i] = (unsigned char)same_shape(clcnn_weights_get(init, name), clcnn_graph_param(g, name));
    }
    return supplied;
}

char *tool_supplied_json(const clcnn_graph *g, const unsigned char *supplied) {
    json_t *names = json_array();
    for (int i = 0; names && i < clcnn_graph_param_count(g); i++)
        if (supplied[i] && json_array_append_new(names, json_string(clcnn_graph_param_name(g, i))) != 0) {
            json_decref(names);
            names = NULL;
        }
    char *text = names ? json_dumps(names, JSON_COMPACT) : NULL;
    json_decref(names);
    return text;
}

unsigned char *tool_supplied_from_json(const clcnn_graph *g, const char *text) {
    json_t *names = text ? json_loads(text, 0, NULL) : NULL;
    const int n = clcnn_graph_param_count(g);
    unsigned char *supplied = json_is_array(names) ? calloc((size_t)(n > 0 ? n : 1), 1) : NULL;
    for (size_t k = 0; supplied && k < json_array_size(names); k++) {
        const char *name = json_string_value(json_array_get(names, k));
        if (!name) {
            free(supplied);
            supplied = NULL;
            break;
        }
        for (int i = 0; i < n; i++)
            if (!strcmp(clcnn_graph_param_name(g, i), name)) supplied[i] = 1;
    }
    json_decref(names);
    return supplied;
}

/* Freeze (or unfreeze) each prefix of the comma-separated list `option` names. */
static int each_prefix(const char *cmd, clcnn_graph *g, const char *option, const char *list, int frozen) {
    for (const char *p = list; *p;) {
        const size_t len = strcspn(p, ",");
        char prefix[256];
        if (len == 0 || len >= sizeof prefix)
            return tool_fail(cmd, "%s %s: an empty or over-long prefix", option, list);
        memcpy(prefix, p, len);
        prefix[len] = 0;
        int matched = 0;
        const clcnn_status st = clcnn_graph_freeze(g, prefix, frozen, &matched);
        if (st == CLCNN_ERR_NOT_FOUND || (st == CLCNN_OK && matched == 0))
            return tool_fail(cmd, "%s %s: no parameter is called %s or starts with \"%s.\" (clcnn layers lists them)",
                             option, list, prefix, prefix);
        if (st != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
        p += len + (p[len] == ',');
    }
    return 0;
}

/* The module the classifier is in: the last layer's first name part (fc, classifier). */
static void head_module(const clcnn_graph *g, char *out, size_t size) {
    clcnn_layer_info last;
    out[0] = 0;
    if (clcnn_graph_layer(g, clcnn_graph_layer_count(g) - 1, &last) == CLCNN_OK)
        snprintf(out, size, "%.*s", (int)strcspn(last.name, "."), last.name);
}

int tool_apply_freeze(const char *cmd, clcnn_graph *g, const unsigned char *supplied, const tool_freeze_opts *f) {
    clcnn_status st;
    if (f->freeze_backbone && supplied) {
        for (int i = 0; i < clcnn_graph_param_count(g); i++)
            if (supplied[i] && (st = clcnn_graph_freeze(g, clcnn_graph_param_name(g, i), 1, NULL)) != CLCNN_OK)
                return tool_fail_status(cmd, NULL, st);
    } else if (f->freeze_backbone) {
        char head[64];
        head_module(g, head, sizeof head);
        if ((st = clcnn_graph_freeze(g, "", 1, NULL)) != CLCNN_OK || (st = clcnn_graph_freeze(g, head, 0, NULL)) != CLCNN_OK)
            return tool_fail_status(cmd, NULL, st);
        float aux_weight; /* an auxiliary head that trains is a head too */
        const char *aux = clcnn_graph_aux_head(g, &aux_weight, NULL);
        if (aux && aux_weight > 0 && (st = clcnn_graph_freeze(g, aux, 0, NULL)) != CLCNN_OK)
            return tool_fail_status(cmd, NULL, st);
    }
    if (f->train_only) {
        if ((st = clcnn_graph_freeze(g, "", 1, NULL)) != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
        if (each_prefix(cmd, g, "--train-only", f->train_only, 0)) return 1;
    }
    return f->freeze ? each_prefix(cmd, g, "--freeze", f->freeze, 1) : 0;
}

int tool_trainable_params(const clcnn_graph *g, size_t *elements) {
    int n = 0;
    *elements = 0;
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        if (clcnn_graph_param_is_frozen(g, name) || !clcnn_graph_param_learns(g, name)) continue;
        n++;
        *elements += clcnn_tensor_numel(clcnn_graph_param(g, name));
    }
    return n;
}
