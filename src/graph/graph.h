/* graph.h: the graph's structures, shared by its building (graph.c), parameter
 * (params.c) and execution (forward.c, backward.c) files. Not public. */
#ifndef CLCNN_GRAPH_H
#define CLCNN_GRAPH_H
#include "runtime/internal.h"

typedef enum {
    LAYER_INPUT,
    LAYER_CONV,
    LAYER_BATCHNORM,
    LAYER_ACTIVATION,
    LAYER_ADD,
    LAYER_POOL,
    LAYER_GLOBAL_AVG_POOL,
    LAYER_LINEAR,
    LAYER_DROPOUT,
    LAYER_SQUEEZE_EXCITE
} layer_kind;

#define LAYER_MAX_PARAMS 4
#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

typedef struct {
    char *name;
    clcnn_tensor *value;
    clcnn_tensor *grad; /* NULL for running statistics */
    int frozen;
} graph_param;

typedef struct {
    layer_kind kind;
    char *name;
    int in[2];                     /* producing layers (index), -1 when unused */
    int ndim, shape[3];            /* per-sample output shape */
    int param[LAYER_MAX_PARAMS];   /* indices into graph->params, -1 when unused */
    int nparams;
    clcnn_conv_params conv;
    clcnn_pool_params pool;
    clcnn_activation act;
    float drop_p;
    /* per batch */
    clcnn_tensor *y, *dy;          /* output and the gradient with respect to it */
    clcnn_tensor *mean, *invstd;   /* batch norm: the statistics the forward used */
    uint64_t drop_seed;            /* dropout: this forward's mask */
    int dy_valid;                  /* backward: dy holds a gradient this pass */
    int wants_dy;                  /* backward: some gradient is needed below this layer */
} graph_layer;

struct clcnn_graph {
    clcnn_context *ctx;
    uint64_t seed, rng;
    graph_layer *layers;
    int nlayers, cap_layers;
    graph_param *params;
    int nparams, cap_params;
    int training;
    int batch;          /* batch size the per-batch tensors are allocated for; 0 = none */
    uint64_t forwards;  /* training forward passes so far (dropout masks) */
    const clcnn_tensor *input; /* the last forward's input (borrowed) */
    int params_before_layer;   /* building: parameter count before the layer being added */
};

/* ---- parameters (params.c) ---- */

typedef enum { PARAM_INIT_CONST, PARAM_INIT_UNIFORM, PARAM_INIT_NORMAL } param_init;
/* A parameter NAME.suffix of layer l, on the device, initialised to the constant
 * `scale`, uniform in +-scale or normal with deviation scale (from the graph's seed).
 * trainable: it gets a gradient tensor (running statistics do not). */
clcnn_status graph_add_param(clcnn_graph *g, graph_layer *l, const char *suffix, int ndim, const int *shape,
                             int trainable, float scale, param_init init);
/* Drop the parameters from index n on (a layer that failed to build). */
void graph_params_truncate(clcnn_graph *g, int n);
void graph_params_free(clcnn_graph *g);

/* ---- per-batch tensors (forward.c) ---- */

void graph_batch_free(clcnn_graph *g);
/* [batch, per-sample shape...] of layer l; returns the rank. */
int graph_layer_shape(const graph_layer *l, int batch, int shape[4]);

/* Layer index by name (-1 if none). */
int graph_find_layer(const clcnn_graph *g, const char *name);
/* Parameter index by name (-1 if none). */
int graph_find_param(const clcnn_graph *g, const char *name);
/* Parameter p of layer l (its value tensor) or NULL. */
clcnn_tensor *graph_layer_param(const clcnn_graph *g, const graph_layer *l, int p);
/* The layer's (weight) parameter is trainable in this pass: present and not frozen. */
int graph_param_trainable(const clcnn_graph *g, const graph_layer *l, int p);
/* A batch norm runs on batch statistics: training mode and its weight not frozen. */
int graph_bn_uses_batch_stats(const clcnn_graph *g, const graph_layer *l);
/* The tensor layer l reads as input k. */
const clcnn_tensor *graph_input_of(const clcnn_graph *g, const graph_layer *l, int k);

#endif
