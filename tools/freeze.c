/* freeze.c: which parameters train (freeze.h). --freeze-backbone with --init freezes
 * exactly what the file supplied, so that new modules on a pretrained backbone (SE
 * blocks on a plain ResNet, a new head) train and the backbone stays as it was. */
#include <string.h>
#include "freeze.h"
#include "tool.h"

int tool_init_supplied(const clcnn_weights *init, const char *name, const clcnn_tensor *t) {
    const clcnn_tensor *w = clcnn_weights_get(init, name);
    if (!w || !t || clcnn_tensor_ndim(w) != clcnn_tensor_ndim(t)) return 0;
    for (int d = 0; d < clcnn_tensor_ndim(t); d++)
        if (clcnn_tensor_dim(w, d) != clcnn_tensor_dim(t, d)) return 0;
    return 1;
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

int tool_apply_freeze(const char *cmd, clcnn_graph *g, const clcnn_weights *init, const tool_freeze_opts *f) {
    clcnn_status st;
    if (f->freeze_backbone && init) {
        for (int i = 0; i < clcnn_graph_param_count(g); i++) {
            const char *name = clcnn_graph_param_name(g, i);
            if (tool_init_supplied(init, name, clcnn_graph_param(g, name)) &&
                (st = clcnn_graph_freeze(g, name, 1, NULL)) != CLCNN_OK)
                return tool_fail_status(cmd, NULL, st);
        }
    } else if (f->freeze_backbone) {
        if ((st = clcnn_graph_freeze(g, "", 1, NULL)) != CLCNN_OK || (st = clcnn_graph_freeze(g, "fc", 0, NULL)) != CLCNN_OK)
            return tool_fail_status(cmd, NULL, st);
    }
    if (f->train_only) {
        if ((st = clcnn_graph_freeze(g, "", 1, NULL)) != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
        if (each_prefix(cmd, g, "--train-only", f->train_only, 0)) return 1;
    }
    return f->freeze ? each_prefix(cmd, g, "--freeze", f->freeze, 1) : 0;
}

/* Whether name ends with suffix. */
static int ends_with(const char *name, const char *suffix) {
    const size_t n = strlen(name), k = strlen(suffix);
    return n >= k && !strcmp(name + n - k, suffix);
}

int tool_trainable_params(const clcnn_graph *g, size_t *elements) {
    int n = 0;
    *elements = 0;
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        /* running statistics have no gradient (asking for the others' would make theirs) */
        if (clcnn_graph_param_is_frozen(g, name) || ends_with(name, ".running_mean") || ends_with(name, ".running_var"))
            continue;
        n++;
        *elements += clcnn_tensor_numel(clcnn_graph_param(g, name));
    }
    return n;
}
