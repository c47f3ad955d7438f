/* layer_activation.c: the graph's activation layer (one of CLCNN_ACTIVATIONS). In a
 * training pass a ReLU or ReLU6 may take over its batch norm's backward (fuse.c decides). */
#include "graph/graph.h"
#include "ops/ops.h"

static const char *name(const graph_layer *l) { return clcnn_activation_name(l->act); }

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    return clcnn_activate(g->ctx, graph_input_of(g, l, 0), l->act, l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    graph_layer *bn = graph_relu_takes_bn(g, l, with_params);
    clcnn_status st = CLCNN_OK;
    if (bn) {
        /* The norm's backward into its input's sink. The norm's own dy stays unset (its
         * sink is cleared), so the pass skips the norm. */
        grad_sink bs;
        if ((st = graph_sink_for(g, bn, 0, &bs)) == CLCNN_OK &&
            (st = graph_batchnorm_backward(g, bn, dy, with_params, l->act, &bs)) == CLCNN_OK)
            graph_sink_done(&bs);
        s[0].to = s[1].to = NULL;
        return st;
    }
    if (!s[0].dx) return CLCNN_OK;
    if (!clcnn_activation_from_output(l->act)) st = graph_input_values(g, l); /* the others need only y */
    if (st == CLCNN_OK)
        st = clcnn_activate_backward(g->ctx, graph_input_of(g, l, 0), l->y, l->act, dy, s[0].dx, s[0].accumulate);
    return st;
}

/* One operation per element. */
static double flops(const clcnn_graph *g, const graph_layer *l) { return ops_activation_flops(graph_output_elems(g, l)); }

const graph_layer_ops graph_activation_layer = {name, forward, backward, flops, NULL};
