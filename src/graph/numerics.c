/* numerics.c: CLCNN_CHECK_NUMERICS=1 (read when a graph is created): every layer's
 * output after the forward, and every gradient a layer's backward produced, are
 * scanned on the device for NaN and infinity; the first one found stops the pass with
 * CLCNN_ERR_NUMERICS naming the pass, the layer and the tensor. A debug mode: each
 * check waits for the device and reads back one int. */
#include <math.h>
#include <stdio.h>
#include "graph/graph.h"
#include "ops/ops.h"

/* "NaN", "+Inf" or "-Inf". */
static const char *kind_of(float v) { return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"; }

/* subject + verb: "layer conv1 produced", "the input holds"; tail follows the shape. */
static clcnn_status check(clcnn_graph *g, const clcnn_tensor *t, const char *pass, const char *subject,
                          const char *verb, const char *tail) {
    clcnn_status st;
    if (!g->numerics_flag && (st = clcnn_tensor_create(g->ctx, 1, (int[]){1}, &g->numerics_flag)) != CLCNN_OK)
        return st;
    int index;
    float v;
    if ((st = ops_find_nonfinite(g->ctx, t, g->numerics_flag, &index, &v)) != CLCNN_OK || index < 0) return st;
    char shape[96];
    return rt_error(g->ctx, CLCNN_ERR_NUMERICS, "%s: %s %s a non-finite value (%s) at index %d of %s%s", pass,
                       subject, verb, kind_of(v), index, clcnn_tensor_shape_str(t, shape, sizeof shape), tail);
}

clcnn_status graph_check_forward(clcnn_graph *g, int i) {
    if (!g->check_numerics) return CLCNN_OK;
    if (i == 0) return check(g, g->input, "forward", "the input", "holds", "");
    char subject[320];
    snprintf(subject, sizeof subject, "layer %s", g->layers[i].name);
    return check(g, g->layers[i].y, "forward", subject, "produced", "");
}

clcnn_status graph_check_dout(clcnn_graph *g, const clcnn_tensor *dout) {
    if (!g->check_numerics) return CLCNN_OK;
    return check(g, dout, "backward", "the output gradient", "holds", "");
}

clcnn_status graph_check_backward(clcnn_graph *g, const graph_layer *l, int with_params) {
    if (!g->check_numerics) return CLCNN_OK;
    char subject[320], tail[320];
    snprintf(subject, sizeof subject, "layer %s", l->name);
    clcnn_status st = CLCNN_OK;
    for (int k = 0; k < 2 && st == CLCNN_OK; k++) {
        const int in = l->in[k];
        if (in < 0 || (k == 1 && in == l->in[0]) || !g->layers[in].wants_dy || !g->layers[in].dy_valid) continue;
        snprintf(tail, sizeof tail, ", the gradient of %s's output", g->layers[in].name);
        st = check(g, g->layers[in].dy, "backward", subject, "produced", tail);
    }
    for (int p = 0; with_params && p < l->nparams && st == CLCNN_OK; p++) {
        if (!graph_param_trainable(g, l, p)) continue;
        const graph_param *gp = &g->params[l->param[p]];
        snprintf(tail, sizeof tail, ", the gradient of %s", gp->name);
        st = check(g, gp->grad, "backward", subject, "produced", tail);
    }
    return st;
}
