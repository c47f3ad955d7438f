/* layer_squeeze_excite.c: the graph's Squeeze-and-Excitation module (fc1 and fc2,
 * weights and biases, and the activation between them), with an optional residual (its second input) and activation
 * after the scaling. */
#include "graph/graph.h"

static const char *name(const graph_layer *l) {
    (void)l;
    return "squeeze_excite";
}

static clcnn_status forward(clcnn_graph *g, graph_layer *l, int index) {
    (void)index;
    return clcnn_squeeze_excite_ex(g->ctx, graph_input_of(g, l, 0), graph_layer_param(g, l, 0),
                                   graph_layer_param(g, l, 1), graph_layer_param(g, l, 2), graph_layer_param(g, l, 3),
                                   l->se_inner, l->se_gate, graph_input_of(g, l, 1), l->act, l->y);
}

static clcnn_status backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]) {
    clcnn_status st;
    if ((st = graph_before_act(g, l, &dy)) != CLCNN_OK || (st = graph_pass_through(g, dy, &s[1])) != CLCNN_OK)
        return st;
    clcnn_tensor *d[4];
    int any = s[0].dx != NULL;
    for (int p = 0; p < 4; p++) any |= (d[p] = graph_grad_if(g, l, p, with_params)) != NULL;
    if (!any) return CLCNN_OK;
    if (s[1].to && s[1].to == s[0].to) s[0].accumulate = 1; /* residual and input are one tensor */
    if ((st = graph_input_values(g, l)) != CLCNN_OK) return st;
    return clcnn_squeeze_excite_ex_backward(g->ctx, graph_input_of(g, l, 0), graph_layer_param(g, l, 0),
                                            graph_layer_param(g, l, 1), graph_layer_param(g, l, 2),
                                            graph_layer_param(g, l, 3), l->se_inner, l->se_gate, dy, s[0].dx,
                                            s[0].accumulate,
                                            d[0], d[1], d[2], d[3]);
}

/* Its two small products, plus pooling, scaling and the residual per element. */
static double flops(const clcnn_graph *g, const graph_layer *l) {
    const double c = l->shape[0], cr = graph_layer_param(g, l, 0)->shape[0];
    return 4.0 * g->batch * c * cr + graph_output_elems(g, l) * (l->in[1] >= 0 ? 3 : 2);
}

const graph_layer_ops graph_squeeze_excite_layer = {name, forward, backward, flops, NULL};
