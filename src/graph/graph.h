/* graph.h: the graph's structures, shared by its building (graph.c), parameter
 * (params.c) and execution (forward.c, backward.c) files. Not public. */
#ifndef CLCNN_GRAPH_H
#define CLCNN_GRAPH_H
#include "runtime/internal.h"

/* The layer kinds, one line each: X(KIND, file): the enum below and the table of the
 * kinds' operations (graph_layer_ops: graph_FILE_layer, in src/graph/layer_FILE.c)
 * are made from it. docs/ADDING_AN_OP.md says what a new kind needs. */
#define GRAPH_LAYER_KINDS(X)                   \
    X(INPUT, input)                            \
    X(CONV, conv)                              \
    X(BATCHNORM, batchnorm)                    \
    X(ACTIVATION, activation)                  \
    X(ADD, add)                                \
    X(POOL, pool)                              \
    X(GLOBAL_AVG_POOL, global_avg_pool)        \
    X(LINEAR, linear)                          \
    X(DROPOUT, dropout)                        \
    X(SQUEEZE_EXCITE, squeeze_excite)          \
    X(STOCHASTIC_DEPTH, stochastic_depth)      \
    X(CONCAT, concat)

typedef enum {
#define GRAPH_KIND_ENUM_(kind, file) LAYER_##kind,
    GRAPH_LAYER_KINDS(GRAPH_KIND_ENUM_)
#undef GRAPH_KIND_ENUM_
    LAYER_KIND_COUNT
} layer_kind;

#define LAYER_MAX_PARAMS 4
#define BN_EPS 1e-5f /* torch.nn.BatchNorm2d's defaults; clcnn_graph_batchnorm_ex sets others */
#define BN_MOMENTUM 0.1f

typedef struct {
    char *name;
    clcnn_tensor *value;
    clcnn_tensor *grad; /* made on first need (graph_param_grad): NULL until then and for running statistics */
    int trainable;      /* has a gradient (running statistics do not) */
    int stopped;        /* trainable but told not to learn (graph_params_stop_learning) */
    int frozen;
    unsigned version;   /* bumped whenever the value is handed out writable (fuse.c) */
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
    float drop_p;                  /* dropout, stochastic depth: the rate */
    float bn_eps, bn_momentum;     /* batch norm: added to the variance; the running statistics' rate */
    clcnn_activation se_inner, se_gate; /* squeeze-excite: the activations after fc1 and fc2 */
    /* per batch */
    clcnn_tensor *y, *dy;          /* output and the gradient with respect to it */
    clcnn_tensor *mean, *invstd;   /* batch norm: the statistics the forward used */
    uint64_t drop_seed;            /* dropout, stochastic depth: this forward's mask */
    int dy_valid;                  /* backward: dy holds a gradient this pass */
    int wants_dy;                  /* backward: some gradient is needed below this layer */
    /* evaluation-mode fusion (fuse.c): a chain is a convolution (its head), optionally
     * the batch norm folded into it, and optionally an activation or add (its tail)
     * run as the convolution's epilogue; it runs at its last member (its end), whose
     * output receives the result. */
    int chain;                     /* the head of the chain this layer belongs to, or -1 */
    int chain_bn, chain_tail, chain_end; /* head only: members (-1 when absent) */
    int stale;                     /* the last forward fused this output away */
    clcnn_tensor *fold_w, *fold_b; /* head with a batch norm: the folded weight and bias */
    clcnn_tensor *fold_u;          /* fold_w's Winograd transform, made on first use (NULL: none yet) */
    int fold_valid;
    unsigned fold_epoch, fold_sum; /* the parameter epoch and versions they were folded from */
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
    int fuse;                  /* CLCNN_FUSE, read at creation: 0 turns fusion off */
    int check_numerics;        /* CLCNN_CHECK_NUMERICS, read at creation */
    int init_params;           /* 1: new parameters get initial values; 0: their maker loads them all */
    int fuse_planned;          /* layer count the chains were planned for (0: none) */
    unsigned param_epoch;      /* bumped whenever any parameter may have changed */
    clcnn_tensor *numerics_flag; /* CLCNN_CHECK_NUMERICS: the device-side finding */
    char *aux_module;          /* clcnn_graph_set_aux_head: the auxiliary head (NULL: none) */
    int aux_layer;             /* its output layer (0: none) */
    float aux_weight;          /* its loss's weight (0: it does not learn) */
    clcnn_dist *bn_dist;       /* training batch norms' statistics are over these ranks' batches
                                  (set by a data-parallel trainer for its steps; NULL: this batch's) */
    uint64_t first_sample;     /* data parallelism: this batch's first sample in the whole batch
                                  (dropout masks; set by the trainer, 0 alone) */
    /* A backward pass with parameters calls it after each layer i (NULL: nothing): the
     * gradients of every parameter of layers i and above are then enqueued in full (a
     * data-parallel trainer starts summing them while the pass goes on). */
    clcnn_status (*grads_enqueued)(void *user, int layer);
    void *grads_enqueued_user;
};

/* ---- parameters (params.c) ---- */

typedef enum { PARAM_INIT_CONST, PARAM_INIT_UNIFORM, PARAM_INIT_NORMAL } param_init;
/* A parameter NAME.suffix of layer l, on the device, initialised to the constant
 * `scale`, uniform in +-scale or normal with deviation scale (from the graph's seed).
 * trainable: it gets a gradient tensor (running statistics do not). */
/* clcnn_graph_create; init_params 0 makes parameters without initial values (a builder
 * whose caller loads every one of them next sets g->init_params back to 1 when done). */
clcnn_status graph_create(clcnn_context *ctx, int channels, int height, int width, uint64_t seed, int init_params,
                          clcnn_graph **out);
clcnn_status graph_add_param(clcnn_graph *g, graph_layer *l, const char *suffix, int ndim, const int *shape,
                             int trainable, float scale, param_init init);
/* Parameter i's gradient in *grad, made (zeroed) on first need, so that a network
 * that is only run forward (a model opened for prediction) never holds gradients;
 * NULL for running statistics. */
clcnn_status graph_param_grad(const clcnn_graph *g, int i, clcnn_tensor **grad);
/* The gradients of every parameter that is not frozen (what a backward pass adds to). */
clcnn_status graph_make_param_grads(const clcnn_graph *g);
/* The parameters under prefix (clcnn_param_name_under) no longer learn: no gradient, no
 * update, listed as running statistics are; for a branch whose output no loss reads
 * (Inception's AuxLogits), kept for its weights. Returns how many. */
int graph_params_stop_learning(clcnn_graph *g, const char *prefix);
/* The parameters under prefix that graph_params_stop_learning stopped learn again. */
void graph_params_resume_learning(clcnn_graph *g, const char *prefix);
/* Drop the parameters from index n on (a layer that failed to build). */
void graph_params_truncate(clcnn_graph *g, int n);
void graph_params_free(clcnn_graph *g);

/* ---- per-batch tensors (forward.c) ---- */

void graph_batch_free(clcnn_graph *g);
/* [batch, per-sample shape...] of layer l; returns the rank. */
int graph_layer_shape(const graph_layer *l, int batch, int shape[4]);

/* ---- evaluation-mode fusion (fuse.c) ---- */

/* Any parameter may have changed (a load, a training pass, a mode switch): every
 * fold is recomputed before it is used again. */
void graph_params_changed(clcnn_graph *g);
/* Parameter i was handed out writable: folds made from it are recomputed. */
void graph_param_touched(const clcnn_graph *g, int i);
/* The one layer reading layer i's output, or -1 when none or several do (a layer
 * reading it twice counts twice). */
int graph_sole_reader(const clcnn_graph *g, int i);
/* Whether this forward runs fused chains: evaluation mode, CLCNN_FUSE not 0, no numerics checks. */
int graph_fusing(const clcnn_graph *g);
/* Plan the chains (once per graph structure) and bring every fold up to date. */
clcnn_status graph_fuse_prepare(clcnn_graph *g);
/* Run the chain whose head is layer `head` into its end's output. */
clcnn_status graph_run_chain(clcnn_graph *g, int head);
/* Compute the unfused output of layer i if the last forward fused it away. */
clcnn_status graph_materialize(const clcnn_graph *g, int i);
/* Release the folded weights. */
void graph_fuse_free(clcnn_graph *g);
/* An environment flag: unset or empty gives dflt, "0" gives 0, anything else 1. */
int graph_env_flag(const char *name, int dflt);

/* ---- CLCNN_CHECK_NUMERICS (numerics.c; the op, ops_find_nonfinite, in ops/numerics.c) ---- */

/* When the graph checks numerics: layer i's output after its forward (i = 0: the
 * input), the output gradient, and the gradients layer l's backward produced (its
 * inputs', and its parameters' with with_params); CLCNN_ERR_NUMERICS names the first. */
clcnn_status graph_check_forward(clcnn_graph *g, int i);
clcnn_status graph_check_dout(clcnn_graph *g, const clcnn_tensor *dout);
clcnn_status graph_check_backward(clcnn_graph *g, const graph_layer *l, int with_params);

/* ---- passes (forward.c, backward.c) and their timing (profile.c) ---- */

/* Per-layer timing of a pass: with ms NULL it does nothing; otherwise the device is
 * waited for before the pass and after each layer, and ms[i] receives layer i's time. */
typedef struct {
    double *ms;
    double t0;
} layer_timer;
clcnn_status graph_timer_start(clcnn_graph *g, layer_timer *t);
clcnn_status graph_timer_lap(clcnn_graph *g, layer_timer *t, int layer);

/* The forward pass of x (op names the caller in errors); ms as layer_timer's. */
clcnn_status graph_forward_pass(clcnn_graph *g, const char *op, const clcnn_tensor *x, double *ms);
/* The backward pass of dout to every trainable parameter (target < 0) or to layer
 * `target`'s output; ms as layer_timer's. */
clcnn_status graph_backward_pass(clcnn_graph *g, const char *op, int target, const clcnn_tensor *dout,
                                 const clcnn_tensor *aux_dout, double *ms);

/* ---- the layer kinds' operations (layer_*.c), and what their backward shares (backward.c) ---- */

/* Where the gradient of a layer's input goes in the backward pass: dx (NULL when nothing
 * below needs it), added to what is there when accumulate; `to` is the input layer. */
typedef struct {
    clcnn_tensor *dx;
    int accumulate;
    graph_layer *to;
} grad_sink;

typedef struct {
    /* the kind's name in listings (clcnn_layer_info's kind) */
    const char *(*name)(const graph_layer *l);
    /* layer `index`'s output from its inputs, into l->y */
    clcnn_status (*forward)(clcnn_graph *g, graph_layer *l, int index);
    /* dy, the gradient of l's output, into its inputs' sinks s[0] and s[1] and (with_params)
     * its trainable parameters' gradients. The pass marks both sinks as holding a
     * gradient afterwards; a backward that wrote none into a sink clears its `to`. */
    clcnn_status (*backward)(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params, grad_sink s[2]);
    /* the forward's floating-point operations at the graph's batch size (profiles): a
     * multiply-add is 2, small layers count what they compute per element */
    double (*flops)(const clcnn_graph *g, const graph_layer *l);
    /* the algorithm the layer runs with (profiles), or NULL when there is no choice */
    const char *(*algorithm)(clcnn_graph *g, const graph_layer *l);
} graph_layer_ops;

#define GRAPH_KIND_OPS_(kind, file) extern const graph_layer_ops graph_##file##_layer;
GRAPH_LAYER_KINDS(GRAPH_KIND_OPS_)
#undef GRAPH_KIND_OPS_
/* The seed of a random mask for layer `layer` in this training pass (dropout,
 * stochastic depth): reproducible from the graph's seed, different for every layer and
 * step (layer_random_mask.c). */
uint64_t graph_mask_seed(const clcnn_graph *g, int layer);
/* The operations of l's kind (graph.c). */
const graph_layer_ops *graph_ops(const graph_layer *l);

/* Elements of layer l's output at the graph's batch size. */
double graph_output_elems(const clcnn_graph *g, const graph_layer *l);
/* Input k's sink for l's backward (the input's dy, made on first need), and marking it
 * as holding a gradient once written. */
clcnn_status graph_sink_for(clcnn_graph *g, const graph_layer *l, int k, grad_sink *s);
void graph_sink_done(grad_sink *s);
/* dx (+)= dy, for layers whose gradient passes through unchanged. */
clcnn_status graph_pass_through(clcnn_graph *g, const clcnn_tensor *dy, const grad_sink *s);
/* The gradient of l's parameter p when this pass computes it (with_params and
 * trainable), else NULL. */
clcnn_tensor *graph_grad_if(const clcnn_graph *g, const graph_layer *l, int p, int with_params);
/* The gradient before l's fused output activation: dy through act's derivative (from
 * l's output) into l's own dy tensor; *dy then points at it. */
clcnn_status graph_before_act(clcnn_graph *g, graph_layer *l, const clcnn_tensor **dy);
/* The backward op about to run reads the values of l's input (not only its shape):
 * compute it if the last forward fused it away. */
clcnn_status graph_input_values(clcnn_graph *g, const graph_layer *l);
/* Batch norm l's backward from dy into sink s; act ReLU or ReLU6 (else NONE): dy is the
 * gradient of that activation, which reads l and whose mask is made again from l's
 * input (layer_batchnorm.c). */
clcnn_status graph_batchnorm_backward(clcnn_graph *g, graph_layer *l, const clcnn_tensor *dy, int with_params,
                                      clcnn_activation act, const grad_sink *s);
/* The batch norm whose backward ReLU or ReLU6 layer l takes over in this pass, or NULL
 * (fuse.c). */
graph_layer *graph_relu_takes_bn(const clcnn_graph *g, const graph_layer *l, int with_params);

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

/* Training batch norms take their statistics over the batches of dist's ranks (NULL:
 * this batch's), until set again. */
static inline void graph_set_bn_dist(clcnn_graph *g, clcnn_dist *dist) { g->bn_dist = dist; }

#endif
