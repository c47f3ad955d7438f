/* cam_internal.h: what the CAM files (cam.c, scorecam.c, eigencam.c, deletion.c) share, and
 * the map arithmetic the tests check directly against tests/ref/ref_cam.c. Not public.
 * Tensors: A and G [N, K, h, w] (a layer's activations and their gradient), maps [N, h, w],
 * per-image weights [N, K]; all on the device. */
#ifndef CLCNN_EXPLAIN_CAM_INTERNAL_H
#define CLCNN_EXPLAIN_CAM_INTERNAL_H
#include "ops/ops.h"

/* clcnn_cam at params->layer alone (cam.c), and with layer fusion or aug_smooth
 * (cam_fuse.c), which runs cam_one_layer per layer and variant. */
clcnn_status cam_one_layer(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params, const int *targets,
                           clcnn_tensor *map, float *probs, int *classes_used);
clcnn_status cam_fused(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params, const int *targets,
                       clcnn_tensor *map, float *probs, int *classes_used);

/* A kernel of cl/cam.cl (one program, built with -DRED_WG) and its work-group size. */
clcnn_status cam_kernel(clcnn_context *ctx, const char *name, cl_kernel *k, size_t *wg);
/* Launch k as `groups` work-groups of wg work-items (the kernels that work per image/row). */
clcnn_status cam_launch_groups(clcnn_context *ctx, cl_kernel k, const char *what, int nargs, const rt_karg *args,
                               size_t groups, size_t wg);

/* The raw map of a gradient method (Grad-CAM, Grad-CAM++, HiResCAM, XGrad-CAM, LayerCAM)
 * from A and G; CLCNN_ERR_INVALID_ARGUMENT for the other methods. */
clcnn_status cam_grad_map(clcnn_context *ctx, clcnn_cam_method method, const clcnn_tensor *a, const clcnn_tensor *g,
                          clcnn_tensor *map);
/* map = ReLU(sum_k w[n, k] A[n, k]); a map without spatial variation becomes zeros. */
clcnn_status cam_weighted_map(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *w, clcnn_tensor *map);
/* EigenCAM's map from A (see eigencam.c). */
clcnn_status cam_eigen_map(clcnn_context *ctx, const clcnn_tensor *a, clcnn_tensor *map);
/* Score-CAM's map: a copy of A (the graph's own tensors are overwritten by the masked passes),
 * x the network input, cls [N] the classes (floats on the device), batch masked inputs per
 * forward pass. g is in evaluation mode. */
clcnn_status cam_score_map(clcnn_graph *g, const clcnn_tensor *x, const clcnn_tensor *a, const clcnn_tensor *cls,
                           int batch, clcnn_tensor *map);

/* Writes inputs q0 .. q0 + batch - 1 of a sequence into xb [batch, C, H, W] (those at or past
 * the end: anything finite, e.g. zeros). */
typedef clcnn_status (*cam_make_batch)(void *user, int q0, clcnn_tensor *xb);
/* For q in [0, total): forward input q (made by `make`, `batch` at a time) through g and
 * set out[q] = softmax(logits)[cls[q / cls_div]]. out [total] is on the device. Then x (the
 * caller's input) is forwarded once more, also after an error: the graph must not be left
 * pointing at the scratch inputs, and its tensors are then those of x, as after any call. */
clcnn_status cam_batched_probs(clcnn_graph *g, int total, int batch, cam_make_batch make, void *user,
                               const clcnn_tensor *cls, int cls_div, clcnn_tensor *out, const clcnn_tensor *x);
/* Forward passes of at most this many images fit the device comfortably (at most 32). */
int cam_batch_limit(const clcnn_graph *g);

#endif
