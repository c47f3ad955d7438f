/* profile.c: clcnn_graph_profile, a forward (and backward) pass timed layer by layer,
 * with each layer's convolution algorithm and its floating-point work. */
#include <stdlib.h>
#include <time.h>
#include "graph/graph.h"
#include "ops/ops.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

clcnn_status graph_timer_start(clcnn_graph *g, layer_timer *t) {
    if (!t->ms) return CLCNN_OK;
    clcnn_status st = clcnn_finish(g->ctx); /* earlier work is nobody's layer */
    t->t0 = now_ms();
    return st;
}

clcnn_status graph_timer_lap(clcnn_graph *g, layer_timer *t, int layer) {
    if (!t->ms) return CLCNN_OK;
    clcnn_status st = clcnn_finish(g->ctx);
    const double now = now_ms();
    t->ms[layer] += now - t->t0;
    t->t0 = now;
    return st;
}

/* Elements of layer l's output for the batch. */
static double out_elems(const clcnn_graph *g, const graph_layer *l) {
    double n = g->batch;
    for (int d = 0; d < l->ndim; d++) n *= l->shape[d];
    return n;
}

/* The forward's floating-point operations (a multiply-add is 2). Convolutions and
 * linear layers count their products only (bias and epilogue are noise beside them);
 * the small layers count what they compute per element: batch norm 2 (scale and
 * shift), an activation 1, an add 1 (2 with its activation), a pooling window's
 * elements per output, squeeze-and-excite its two small products plus pooling,
 * scaling and residual. Dropout and the input only move data: 0. */
static double layer_flops(const clcnn_graph *g, const graph_layer *l) {
    const double out = out_elems(g, l);
    const graph_layer *in = l->in[0] >= 0 ? &g->layers[l->in[0]] : NULL;
    switch (l->kind) {
    case LAYER_INPUT:
    case LAYER_DROPOUT: return 0;
    case LAYER_CONV: {
        const clcnn_tensor *w = graph_layer_param(g, l, 0);
        return 2.0 * out * (double)w->shape[1] * w->shape[2] * w->shape[3];
    }
    case LAYER_LINEAR: return 2.0 * out * (double)graph_layer_param(g, l, 0)->shape[1];
    case LAYER_BATCHNORM: return 2.0 * out;
    case LAYER_ACTIVATION: return out;
    case LAYER_ADD: return out * (l->act == CLCNN_ACT_NONE ? 1 : 2);
    case LAYER_POOL: return out * l->pool.kernel_h * l->pool.kernel_w;
    case LAYER_GLOBAL_AVG_POOL: return out_elems(g, in);
    case LAYER_SQUEEZE_EXCITE: {
        const double c = l->shape[0], cr = graph_layer_param(g, l, 0)->shape[0];
        return 4.0 * g->batch * c * cr + out * (l->in[1] >= 0 ? 3 : 2);
    }
    }
    return 0;
}

static const char *layer_algorithm(clcnn_graph *g, const graph_layer *l) {
    if (l->kind != LAYER_CONV) return "";
    return clcnn_conv2d_algorithm(g->ctx, graph_input_of(g, l, 0), graph_layer_param(g, l, 0), &l->conv);
}

/* A gradient of ones shaped as the output, for the profiled backward. */
static clcnn_status ones_like_output(clcnn_graph *g, clcnn_tensor **t) {
    int shape[4];
    const int ndim = graph_layer_shape(&g->layers[g->nlayers - 1], g->batch, shape);
    clcnn_status st = clcnn_tensor_create(g->ctx, ndim, shape, t);
    return st != CLCNN_OK ? st : clcnn_tensor_fill(*t, 1.0f);
}

clcnn_status clcnn_graph_profile(clcnn_graph *g, const clcnn_tensor *x, int backward, clcnn_layer_profile *profile) {
    static const char *op = "clcnn_graph_profile";
    if (!g || !x || !profile)
        return clcnn_error(g ? g->ctx : NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL argument", op);
    const int n = g->nlayers;
    double *ms = calloc(2 * (size_t)n, sizeof *ms), *bms = ms + n;
    clcnn_tensor *dout = NULL;
    if (!ms) return clcnn_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
    clcnn_status st = graph_forward_pass(g, op, x, ms);
    if (st == CLCNN_OK && backward && (st = ones_like_output(g, &dout)) == CLCNN_OK)
        st = graph_backward_pass(g, op, -1, dout, bms);
    for (int i = 0; st == CLCNN_OK && i < n; i++) {
        const graph_layer *l = &g->layers[i];
        clcnn_layer_info info;
        if ((st = clcnn_graph_layer(g, i, &info)) != CLCNN_OK) break;
        profile[i] = (clcnn_layer_profile){.name = l->name, .kind = info.kind, .algorithm = layer_algorithm(g, l),
                                           .forward_ms = ms[i], .backward_ms = bms[i],
                                           .forward_flops = layer_flops(g, l)};
    }
    clcnn_tensor_destroy(dout);
    free(ms);
    return st;
}
