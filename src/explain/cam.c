/* cam.c: class activation maps, the entry point. clcnn_cam runs the network once in
 * evaluation mode, picks each image's class (given, or the prediction), and computes
 * the chosen method's raw maps on the device, batched over the images:
 *  - the gradient methods (Grad-CAM, Grad-CAM++, HiResCAM, XGrad-CAM, LayerCAM): one
 *    backward pass of sum_n logit[n, c_n] to the target layer gives G = dlogit_c/dA for
 *    every image at once, then per-channel weights and the weighted sum (cl/cam.cl);
 *  - CAM: the class's row of the final linear layer as weights, no backward pass;
 *  - Score-CAM (scorecam.c) and EigenCAM (eigencam.c).
 * Only per-image bookkeeping (the class choice) happens on the host. The formulas are
 * pytorch-grad-cam's; docs/EXPLAIN.md states them and the choices made where it has none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "explain/cam_internal.h"

static const char *const method_names[] = {"gradcam",  "gradcam++", "hirescam", "xgradcam",
                                           "layercam", "cam",       "scorecam", "eigencam"};
enum { METHOD_COUNT = sizeof method_names / sizeof method_names[0] };

/* How cam_combine weighs the channels (cl/cam.cl's COMBINE_*). */
enum { COMBINE_WEIGHTS = 0, COMBINE_GRAD = 1, COMBINE_RELU_GRAD = 2 };

clcnn_cam_params clcnn_cam_params_default(void) {
    return (clcnn_cam_params){.method = CLCNN_CAM_GRADCAM, .layer = NULL, .scorecam_batch = 32};
}

clcnn_status clcnn_cam_method_parse(const char *name, clcnn_cam_method *method) {
    if (!name || !method) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_cam_method_parse: NULL argument");
    for (int i = 0; i < METHOD_COUNT; i++)
        if (!strcasecmp(name, method_names[i])) {
            *method = (clcnn_cam_method)i;
            return CLCNN_OK;
        }
    return rt_error(NULL, CLCNN_ERR_NOT_FOUND,
                       "unknown CAM method \"%s\" (known: gradcam, gradcam++, hirescam, xgradcam, layercam, cam, "
                       "scorecam, eigencam)",
                       name);
}

const char *clcnn_cam_method_name(clcnn_cam_method method) {
    return (unsigned)method < METHOD_COUNT ? method_names[method] : "unknown";
}

/* The last layer with at least 2x2 pixels before the last global average pooling (the
 * head's: a side branch such as Inception's AuxLogits may pool earlier). */
const char *clcnn_cam_default_layer(const clcnn_graph *g) {
    const char *best = NULL;
    const int count = g ? clcnn_graph_layer_count(g) : 0;
    int end = count;
    for (int i = count - 1; i > 0; i--) {
        clcnn_layer_info info;
        if (clcnn_graph_layer(g, i, &info) == CLCNN_OK && !strcmp(info.kind, "global_avg_pool")) {
            end = i;
            break;
        }
    }
    for (int i = 1; i < end; i++) { /* layer 0 is the input */
        clcnn_layer_info info;
        if (clcnn_graph_layer(g, i, &info) != CLCNN_OK) break;
        if (info.ndim == 3 && info.shape[1] >= 2 && info.shape[2] >= 2) best = info.name;
    }
    return best;
}

/* ------------------------------------------------------------- kernels -- */

clcnn_status cam_kernel(clcnn_context *ctx, const char *name, cl_kernel *k, size_t *wg) {
    return ops_get_reduce_kernel(ctx, "cam.cl", name, k, wg);
}

clcnn_status cam_launch_groups(clcnn_context *ctx, cl_kernel k, const char *what, int nargs, const rt_karg *args,
                               size_t groups, size_t wg) {
    const size_t global = groups * wg;
    return rt_launch_exact(ctx, k, what, nargs, args, 1, &global, &wg);
}

/* a [N, K, h, w] and map [N, h, w] agree; G (may be NULL) is shaped as a. */
static clcnn_status check_map_args(clcnn_context *ctx, const char *op, const clcnn_tensor *a, const clcnn_tensor *g,
                                   const clcnn_tensor *map) {
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "activations", a, 4)) != CLCNN_OK ||
        (g && (st = rt_check_same_shape(ctx, op, "activations", a, "gradient", g)) != CLCNN_OK))
        return st;
    return rt_check_shape_is(ctx, op, "map", map, 3, (int[]){a->shape[0], a->shape[2], a->shape[3]});
}

/* The map from A and, per mode, the weights w [N, K] or G. */
static clcnn_status combine(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *g, const clcnn_tensor *w,
                            int mode, clcnn_tensor *map) {
    cl_kernel k;
    size_t wg;
    clcnn_status st = cam_kernel(ctx, "cam_combine", &k, &wg);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(a),   KARG_TENSOR(g),        KARG_TENSOR(w),
                               KARG_TENSOR(map), KARG_INT(a->shape[1]), KARG_INT(a->shape[2] * a->shape[3]),
                               KARG_INT(mode)};
    return cam_launch_groups(ctx, k, "cam_combine", KARG_LIST(args), (size_t)a->shape[0], wg);
}

clcnn_status cam_weighted_map(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *w, clcnn_tensor *map) {
    static const char *op = "cam_weighted_map";
    clcnn_status st = check_map_args(ctx, op, a, NULL, map);
    if (st == CLCNN_OK) st = rt_check_shape_is(ctx, op, "weights", w, 2, a->shape);
    return st != CLCNN_OK ? st : combine(ctx, a, NULL, w, COMBINE_WEIGHTS, map);
}

clcnn_status cam_grad_map(clcnn_context *ctx, clcnn_cam_method method, const clcnn_tensor *a, const clcnn_tensor *g,
                          clcnn_tensor *map) {
    static const char *op = "cam_grad_map";
    clcnn_status st = check_map_args(ctx, op, a, g, map);
    if (st != CLCNN_OK) return st;
    if (method == CLCNN_CAM_HIRESCAM) return combine(ctx, a, g, NULL, COMBINE_GRAD, map);
    if (method == CLCNN_CAM_LAYERCAM) return combine(ctx, a, g, NULL, COMBINE_RELU_GRAD, map);
    if (method != CLCNN_CAM_GRADCAM && method != CLCNN_CAM_GRADCAM_PP && method != CLCNN_CAM_XGRADCAM)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s is not a gradient method", op,
                           clcnn_cam_method_name(method));
    /* Per-channel weights first, then their weighted sum. */
    const int rows = a->shape[0] * a->shape[1], hw = a->shape[2] * a->shape[3];
    cl_kernel k;
    size_t wg;
    clcnn_tensor *w = NULL;
    if ((st = cam_kernel(ctx, "cam_channel_weights", &k, &wg)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, a->shape, &w)) != CLCNN_OK)
        return st;
    const rt_karg args[] = {KARG_TENSOR(a), KARG_TENSOR(g), KARG_TENSOR(w),
                               KARG_INT(rows), KARG_INT(hw),   KARG_INT(method)};
    if ((st = ops_launch_1d(ctx, k, op, KARG_LIST(args), (size_t)rows)) == CLCNN_OK)
        st = combine(ctx, a, NULL, w, COMBINE_WEIGHTS, map);
    clcnn_tensor_destroy(w);
    return st;
}

/* ---------------------------------------------- batched forward passes -- */

int cam_batch_limit(const clcnn_graph *g) {
    size_t per_image = 0;
    for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
        clcnn_layer_info info;
        if (clcnn_graph_layer(g, i, &info) != CLCNN_OK) break;
        size_t n = 1;
        for (int d = 0; d < info.ndim; d++) n *= (size_t)info.shape[d];
        per_image += n;
    }
    per_image *= 2 * sizeof(float); /* every layer's output, and as much again for the ops' scratch */
    clcnn_device_info dev;
    if (clcnn_context_get_device_info(clcnn_graph_context(g), &dev) != CLCNN_OK || !per_image) return 1;
    const uint64_t fit = dev.global_mem_bytes / 4 / per_image; /* a quarter of the device */
    return fit < 1 ? 1 : fit > 32 ? 32 : (int)fit;
}

clcnn_status cam_batched_probs(clcnn_graph *g, int total, int batch, cam_make_batch make, void *user,
                               const clcnn_tensor *cls, int cls_div, clcnn_tensor *out, const clcnn_tensor *x) {
    static const char *op = "cam_batched_probs";
    clcnn_context *ctx = clcnn_graph_context(g);
    clcnn_layer_info in, last;
    clcnn_status st;
    if ((st = clcnn_graph_layer(g, 0, &in)) != CLCNN_OK ||
        (st = clcnn_graph_layer(g, clcnn_graph_layer_count(g) - 1, &last)) != CLCNN_OK)
        return st;
    if (batch > total) batch = total;
    const int classes = last.shape[0];
    cl_kernel k;
    size_t wg;
    clcnn_tensor *xb = NULL, *probs = NULL;
    if ((st = cam_kernel(ctx, "cam_gather_prob", &k, &wg)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 4, (int[]){batch, in.shape[0], in.shape[1], in.shape[2]}, &xb)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){batch, classes}, &probs)) != CLCNN_OK)
        goto free_scratch;
    for (int q0 = 0; q0 < total; q0 += batch) {
        const clcnn_tensor *logits;
        if ((st = make(user, q0, xb)) != CLCNN_OK || (st = clcnn_graph_forward(g, xb, &logits)) != CLCNN_OK ||
            (st = clcnn_softmax(ctx, logits, 0, probs)) != CLCNN_OK)
            goto free_scratch;
        const rt_karg args[] = {KARG_TENSOR(probs), KARG_TENSOR(cls), KARG_TENSOR(out),  KARG_INT(q0),
                                   KARG_INT(total),    KARG_INT(batch),  KARG_INT(classes), KARG_INT(cls_div)};
        if ((st = ops_launch_1d(ctx, k, op, KARG_LIST(args), (size_t)batch)) != CLCNN_OK) goto free_scratch;
    }
free_scratch:
    clcnn_tensor_destroy(probs);
    clcnn_tensor_destroy(xb);
    const clcnn_status restored = clcnn_graph_forward(g, x, NULL);
    return st != CLCNN_OK ? st : restored;
}

/* ----------------------------------------------------------- clcnn_cam -- */

/* One call's resolved arguments. */
typedef struct {
    clcnn_graph *g;
    clcnn_context *ctx;
    const clcnn_tensor *x;
    clcnn_cam_method method;
    int layer;             /* the target layer's index */
    clcnn_layer_info info; /* and its description (name, [K, h, w]) */
    int n, classes;
    const clcnn_tensor *fc_w; /* CAM: the final linear layer's weight [classes, K] */
    int scorecam_batch;
    clcnn_tensor *map;
} cam_job;

/* CAM needs the head global average pool -> one linear layer, the pool reading the layer
 * just before it (as the zoo builds them: clcnn_layer_info does not name a layer's
 * inputs), and that layer as the target. */
static clcnn_status check_cam_head(cam_job *j, const char *op) {
    const int count = clcnn_graph_layer_count(j->g);
    clcnn_layer_info fc = {0}, pool = {0};
    if (count < 4 || clcnn_graph_layer(j->g, count - 1, &fc) != CLCNN_OK ||
        clcnn_graph_layer(j->g, count - 2, &pool) != CLCNN_OK || strcmp(fc.kind, "linear") ||
        strcmp(pool.kind, "global_avg_pool"))
        return rt_error(j->ctx, CLCNN_ERR_UNSUPPORTED,
                           "%s: cam needs a network ending in global average pooling and one linear layer; this one "
                           "ends in %s (%s) after %s (%s): use gradcam",
                           op, fc.name ? fc.name : "?", fc.kind ? fc.kind : "?", pool.name ? pool.name : "?",
                           pool.kind ? pool.kind : "?");
    if (j->layer != count - 3) {
        clcnn_layer_info feed = {.name = "?"};
        clcnn_graph_layer(j->g, count - 3, &feed);
        return rt_error(j->ctx, CLCNN_ERR_UNSUPPORTED,
                           "%s: cam's class weights apply at %s, the layer the global pool reads, not at %s: use "
                           "gradcam for other layers",
                           op, feed.name, j->info.name);
    }
    char name[256];
    snprintf(name, sizeof name, "%s.weight", fc.name);
    j->fc_w = clcnn_graph_param(j->g, name);
    if (!j->fc_w || clcnn_tensor_ndim(j->fc_w) != 2 || clcnn_tensor_dim(j->fc_w, 1) != j->info.shape[0])
        return rt_error(j->ctx, CLCNN_ERR_UNSUPPORTED, "%s: cam: %s is missing or not [classes, %d]", op, name,
                           j->info.shape[0]);
    return CLCNN_OK;
}

/* Everything that can be checked before running anything. */
static clcnn_status prepare(cam_job *j, const char *op, const clcnn_cam_params *params) {
    clcnn_status st;
    if ((unsigned)params->method >= METHOD_COUNT)
        return rt_error(j->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown method %d", op, (int)params->method);
    if (params->scorecam_batch < 0)
        return rt_error(j->ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: scorecam_batch %d is negative", op,
                           params->scorecam_batch);
    if ((st = rt_check_tensor(j->ctx, op, "input", j->x, 4)) != CLCNN_OK) return st;
    const char *name = params->layer ? params->layer : clcnn_cam_default_layer(j->g);
    if (!name)
        return rt_error(j->ctx, CLCNN_ERR_NOT_FOUND,
                           "%s: the graph has no layer with a spatial output of at least 2x2 before its global "
                           "pooling; name the layer to explain",
                           op);
    if ((j->layer = clcnn_graph_find_layer(j->g, name, &j->info)) < 0)
        return rt_error(j->ctx, CLCNN_ERR_NOT_FOUND, "%s: no layer or module is called %s", op, name);
    if (j->info.ndim != 3)
        return rt_error(j->ctx, CLCNN_ERR_SHAPE, "%s: layer %s has no spatial output ([C, H, W]) to map", op,
                           j->info.name);
    clcnn_layer_info out;
    if ((st = clcnn_graph_layer(j->g, clcnn_graph_layer_count(j->g) - 1, &out)) != CLCNN_OK) return st;
    if (out.ndim != 1)
        return rt_error(j->ctx, CLCNN_ERR_UNSUPPORTED, "%s: the output layer %s is not [N, classes]", op, out.name);
    j->n = j->x->shape[0];
    j->classes = out.shape[0];
    const int *s = j->info.shape;
    if ((size_t)j->n * (size_t)s[0] * (size_t)s[1] * (size_t)s[2] > (size_t)INT32_MAX)
        return rt_error(j->ctx, CLCNN_ERR_SHAPE, "%s: layer %s is too large for a batch of %d", op, j->info.name,
                           j->n);
    if ((st = rt_check_shape_is(j->ctx, op, "map", j->map, 3, (int[]){j->n, s[1], s[2]})) != CLCNN_OK) return st;
    j->method = params->method;
    j->scorecam_batch = params->scorecam_batch ? params->scorecam_batch : 32;
    return j->method == CLCNN_CAM_CAM ? check_cam_head(j, op) : CLCNN_OK;
}

/* cls[n]: targets[n] when given and >= 0, else the first largest logit. */
static clcnn_status pick_classes(const cam_job *j, const char *op, const float *logits, const int *targets, int *cls) {
    for (int n = 0; n < j->n; n++) {
        const float *row = logits + (size_t)n * j->classes;
        if (targets && targets[n] >= 0) {
            if (targets[n] >= j->classes)
                return rt_error(j->ctx, CLCNN_ERR_INVALID_ARGUMENT,
                                   "%s: target %d of image %d is not a class (0 to %d)", op, targets[n], n,
                                   j->classes - 1);
            cls[n] = targets[n];
            continue;
        }
        int best = 0;
        for (int c = 1; c < j->classes; c++)
            if (row[c] > row[best]) best = c;
        cls[n] = best;
    }
    return CLCNN_OK;
}

/* The gradient methods: G for every image's class from one backward pass. */
static clcnn_status run_gradient_method(const cam_job *j, const int *cls) {
    const size_t count = (size_t)j->n * (size_t)j->classes;
    float *onehot = calloc(count, sizeof *onehot);
    clcnn_tensor *dout = NULL;
    clcnn_status st;
    if (!onehot) return rt_error(j->ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_cam: no host memory");
    for (int n = 0; n < j->n; n++) onehot[(size_t)n * j->classes + cls[n]] = 1.0f;
    const clcnn_tensor *grad;
    if ((st = rt_scratch(j->ctx, 2, (int[]){j->n, j->classes}, &dout)) == CLCNN_OK &&
        (st = clcnn_tensor_write(dout, onehot, count)) == CLCNN_OK &&
        (st = clcnn_graph_backward_to(j->g, j->info.name, dout, &grad)) == CLCNN_OK)
        st = cam_grad_map(j->ctx, j->method, clcnn_graph_tensor(j->g, j->info.name), grad, j->map);
    clcnn_tensor_destroy(dout);
    free(onehot);
    return st;
}

/* CAM: w[n] = the class's row of the final linear layer. */
static clcnn_status run_cam(const cam_job *j, const clcnn_tensor *cls) {
    const int K = j->info.shape[0], rows = j->n * K;
    cl_kernel k;
    size_t wg;
    clcnn_tensor *w = NULL;
    clcnn_status st;
    if ((st = cam_kernel(j->ctx, "cam_gather_rows", &k, &wg)) != CLCNN_OK ||
        (st = rt_scratch(j->ctx, 2, (int[]){j->n, K}, &w)) != CLCNN_OK)
        return st;
    const rt_karg args[] = {KARG_TENSOR(j->fc_w), KARG_TENSOR(cls), KARG_TENSOR(w), KARG_INT(rows), KARG_INT(K)};
    if ((st = ops_launch_1d(j->ctx, k, "cam_gather_rows", KARG_LIST(args), (size_t)rows)) == CLCNN_OK)
        st = cam_weighted_map(j->ctx, clcnn_graph_tensor(j->g, j->info.name), w, j->map);
    clcnn_tensor_destroy(w);
    return st;
}

/* Score-CAM's masked passes overwrite the graph's tensors: it works on a copy of A. */
static clcnn_status run_scorecam(const cam_job *j, const clcnn_tensor *cls) {
    const clcnn_tensor *a = clcnn_graph_tensor(j->g, j->info.name);
    clcnn_tensor *copy = NULL;
    clcnn_status st = rt_scratch(j->ctx, 4, a->shape, &copy);
    if (st == CLCNN_OK && (st = rt_tensor_copy(a, copy, "clcnn_cam")) == CLCNN_OK)
        st = cam_score_map(j->g, j->x, copy, cls, j->scorecam_batch, j->map);
    clcnn_tensor_destroy(copy);
    return st;
}

/* The class-dependent part, after the forward pass and the class choice. */
static clcnn_status run_method(const cam_job *j, const int *cls_host) {
    float *cls_f = malloc((size_t)j->n * sizeof *cls_f);
    clcnn_tensor *cls = NULL;
    clcnn_status st;
    if (!cls_f) return rt_error(j->ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_cam: no host memory");
    for (int n = 0; n < j->n; n++) cls_f[n] = (float)cls_host[n];
    if ((st = rt_scratch(j->ctx, 1, &j->n, &cls)) != CLCNN_OK ||
        (st = clcnn_tensor_write(cls, cls_f, (size_t)j->n)) != CLCNN_OK)
        goto free_cls;
    switch (j->method) {
    case CLCNN_CAM_CAM: st = run_cam(j, cls); break;
    case CLCNN_CAM_SCORECAM: st = run_scorecam(j, cls); break;
    case CLCNN_CAM_EIGENCAM: st = cam_eigen_map(j->ctx, clcnn_graph_tensor(j->g, j->info.name), j->map); break;
    default: st = run_gradient_method(j, cls_host); break;
    }
free_cls:
    clcnn_tensor_destroy(cls);
    free(cls_f);
    return st;
}

/* Forward, probabilities and classes, then the method; outputs written on success only. */
static clcnn_status run(const cam_job *j, const int *targets, float *probs_out, int *classes_out) {
    static const char *op = "clcnn_cam";
    const size_t count = (size_t)j->n * (size_t)j->classes;
    float *host = malloc(2 * count * sizeof *host); /* logits, then probabilities */
    int *cls = malloc((size_t)j->n * sizeof *cls);
    clcnn_tensor *probs = NULL;
    const clcnn_tensor *logits;
    clcnn_status st;
    if (!host || !cls) {
        st = rt_error(j->ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory", op);
        goto free_host;
    }
    if ((st = clcnn_graph_forward(j->g, j->x, &logits)) != CLCNN_OK ||
        (st = rt_scratch(j->ctx, 2, (int[]){j->n, j->classes}, &probs)) != CLCNN_OK ||
        (st = clcnn_softmax(j->ctx, logits, 0, probs)) != CLCNN_OK ||
        (st = clcnn_tensor_read(logits, host, count)) != CLCNN_OK ||
        (st = clcnn_tensor_read(probs, host + count, count)) != CLCNN_OK ||
        (st = pick_classes(j, op, host, targets, cls)) != CLCNN_OK || (st = run_method(j, cls)) != CLCNN_OK)
        goto free_host;
    if (probs_out) memcpy(probs_out, host + count, count * sizeof *host);
    if (classes_out) memcpy(classes_out, cls, (size_t)j->n * sizeof *cls);
free_host:
    clcnn_tensor_destroy(probs);
    free(cls);
    free(host);
    return st;
}

clcnn_status cam_one_layer(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params, const int *targets,
                           clcnn_tensor *map, float *probs, int *classes_used) {
    static const char *op = "clcnn_cam";
    cam_job j = {.g = g, .ctx = clcnn_graph_context(g), .x = x, .map = map};
    clcnn_status st = prepare(&j, op, params);
    if (st != CLCNN_OK) return st;
    const int training = clcnn_graph_is_training(g);
    clcnn_graph_set_training(g, 0);
    st = run(&j, targets, probs, classes_used);
    clcnn_graph_set_training(g, training);
    return st;
}

clcnn_status clcnn_cam(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params, const int *targets,
                       clcnn_tensor *map, float *probs, int *classes_used) {
    if (!g || !x || !params || !map)
        return rt_error(clcnn_graph_context(g), CLCNN_ERR_INVALID_ARGUMENT,
                        "clcnn_cam: graph, input, params and map are required");
    if (params->n_layers > 1 || params->aug_smooth) return cam_fused(g, x, params, targets, map, probs, classes_used);
    return cam_one_layer(g, x, params, targets, map, probs, classes_used);
}
