/* aux_head.c: an auxiliary classifier head (Inception-v3's AuxLogits): a second
 * output, off the main path, whose loss training adds to the main one with a weight
 * (clcnn_graph_set_aux_head; the trainer computes it, clcnn_graph_backward_aux seeds
 * its gradient). Off, its parameters do not learn, as the zoo builds them. */
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"

clcnn_status clcnn_graph_set_aux_head(clcnn_graph *g, const char *module, float weight) {
    static const char *op = "clcnn_graph_set_aux_head";
    if (!g || !module || !*module)
        return rt_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL graph or empty module", op);
    if (!(weight >= 0.0f) || weight > 1e6f)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: weight %g is not a number in [0, 1e6]", op,
                           (double)weight);
    int last = 0; /* the module's output: its last layer */
    for (int i = 1; i < g->nlayers; i++)
        if (clcnn_param_name_under(g->layers[i].name, module)) last = i;
    if (!last) return rt_error(g->ctx, CLCNN_ERR_NOT_FOUND, "%s: the network has no layer under %s", op, module);
    if (last == g->nlayers - 1)
        return rt_error(g->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s ends in the network's output, not beside it",
                           op, module);
    char *copy = strdup(module);
    if (!copy) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    if (g->aux_module) graph_params_stop_learning(g, g->aux_module);
    free(g->aux_module);
    g->aux_module = copy;
    g->aux_layer = last;
    g->aux_weight = weight;
    if (weight > 0.0f) graph_params_resume_learning(g, module);
    else graph_params_stop_learning(g, module);
    return CLCNN_OK;
}

const char *clcnn_graph_aux_head(const clcnn_graph *g, float *weight, const char **output) {
    const int on = g && g->aux_layer > 0;
    if (weight) *weight = on ? g->aux_weight : 0.0f;
    if (output) *output = on ? g->layers[g->aux_layer].name : NULL;
    return on ? g->aux_module : NULL;
}
