/* cam_fuse.c: clcnn_cam over several target layers (layer fusion) and over augmented
 * copies of the input (aug_smooth), as pytorch-grad-cam does them. Both are
 * combinations of single-layer maps: cam_one_layer makes each on the device, and they
 * are combined on the host, where the maps are small (a layer's h x w, or the input's
 * H x W per image). */
#include <stdlib.h>
#include <string.h>
#include "explain/cam_internal.h"

/* aug_smooth's variants (ttach's HorizontalFlip and Multiply([0.9, 1, 1.1]) composed):
 * variant v is mirrored when v >= 3 and scaled by aug_factors[v % 3]; 0 is the input. */
enum { AUG_VARIANTS = 6 };
static const float aug_factors[3] = {1.0f, 0.9f, 1.1f};

static int fusing(const clcnn_cam_params *p) { return p->n_layers > 1; }

/* The resolution of layer `name` (NULL: the default target) of g. */
static clcnn_status layer_size(const clcnn_graph *g, const char *name, int *h, int *w) {
    clcnn_context *ctx = clcnn_graph_context(g);
    const char *target = name ? name : clcnn_cam_default_layer(g);
    clcnn_layer_info info;
    if (!target) return rt_error(ctx, CLCNN_ERR_NOT_FOUND, "clcnn_cam: the graph has no layer with a spatial output");
    if (clcnn_graph_find_layer(g, target, &info) < 0)
        return rt_error(ctx, CLCNN_ERR_NOT_FOUND, "clcnn_cam: no layer or module is called %s", target);
    if (info.ndim != 3)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "clcnn_cam: layer %s has no spatial output ([C, H, W]) to map", info.name);
    *h = info.shape[1], *w = info.shape[2];
    return CLCNN_OK;
}

clcnn_status clcnn_cam_map_size(const clcnn_graph *g, const clcnn_cam_params *params, int *h, int *w) {
    if (!g || !params || !h || !w)
        return rt_error(clcnn_graph_context(g), CLCNN_ERR_INVALID_ARGUMENT, "clcnn_cam_map_size: NULL argument");
    if (!fusing(params)) return layer_size(g, params->layer, h, w);
    if (!params->layers)
        return rt_error(clcnn_graph_context(g), CLCNN_ERR_INVALID_ARGUMENT, "clcnn_cam: %d layers named by NULL",
                        params->n_layers);
    clcnn_status st = CLCNN_OK;
    for (int l = 0; l < params->n_layers && st == CLCNN_OK; l++) st = layer_size(g, params->layers[l], h, w);
    clcnn_layer_info input;
    if (st == CLCNN_OK && (st = clcnn_graph_layer(g, 0, &input)) == CLCNN_OK) *h = input.shape[1], *w = input.shape[2];
    return st;
}

/* cam_one_layer at `layer` into host maps [n, lh, lw]. */
static clcnn_status one_layer(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params,
                              const char *layer, const int *targets, int n, int lh, int lw, float *out, float *probs,
                              int *used) {
    clcnn_cam_params single = *params;
    single.layer = layer, single.n_layers = 0, single.layers = NULL, single.aug_smooth = 0;
    clcnn_tensor *map = NULL;
    clcnn_status st = rt_scratch(clcnn_graph_context(g), 3, (int[]){n, lh, lw}, &map);
    if (st == CLCNN_OK) st = cam_one_layer(g, x, &single, targets, map, probs, used);
    if (st == CLCNN_OK) st = clcnn_tensor_read(map, out, (size_t)n * lh * lw);
    clcnn_tensor_destroy(map);
    return st;
}

/* One input's maps into out [n, h, w]: the target layer's raw maps, or the fused maps.
 * probs and used come from the first layer (every layer picks the same classes). */
static clcnn_status input_maps(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params,
                               const int *targets, int n, int h, int w, float *out, float *probs, int *used) {
    if (!fusing(params)) return one_layer(g, x, params, params->layer, targets, n, h, w, out, probs, used);
    const size_t cells = (size_t)h * w;
    memset(out, 0, (size_t)n * cells * sizeof *out);
    clcnn_status st = CLCNN_OK;
    for (int l = 0; l < params->n_layers && st == CLCNN_OK; l++) {
        int lh, lw;
        if ((st = layer_size(g, params->layers[l], &lh, &lw)) != CLCNN_OK) break;
        float *maps = malloc((size_t)n * lh * lw * sizeof *maps), *resized = malloc(cells * sizeof *resized);
        if (!maps || !resized) st = rt_error(clcnn_graph_context(g), CLCNN_ERR_OUT_OF_MEMORY, "clcnn_cam: no host memory");
        if (st == CLCNN_OK)
            st = one_layer(g, x, params, params->layers[l], targets, n, lh, lw, maps, l ? NULL : probs, l ? NULL : used);
        for (int i = 0; i < n && st == CLCNN_OK; i++) {
            float *m = maps + (size_t)i * lh * lw;
            clcnn_map_normalize(m, (size_t)lh * lw, m);
            if ((st = clcnn_map_resize(m, lh, lw, resized, h, w)) != CLCNN_OK) break;
            for (size_t p = 0; p < cells; p++) out[i * cells + p] += resized[p] / (float)params->n_layers;
        }
        free(resized);
        free(maps);
    }
    return st;
}

/* Variant v of the input xh [n, C, H, W] (host) into out. */
static void make_variant(const float *xh, int planes, int H, int W, int v, float *out) {
    const float f = aug_factors[v % 3];
    for (int p = 0; p < planes; p++)
        for (int y = 0; y < H; y++) {
            const float *src = xh + ((size_t)p * H + y) * W;
            float *dst = out + ((size_t)p * H + y) * W;
            for (int x = 0; x < W; x++) dst[v >= 3 ? W - 1 - x : x] = src[x] * f;
        }
}

/* aug_smooth: acc (variant 0's maps) += variants 1 .. 5's, mirrors mirrored back, then
 * the mean. Every variant explains the classes `used` of the input itself. */
static clcnn_status smooth(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params, const int *used,
                           int n, int h, int w, float *acc) {
    clcnn_context *ctx = clcnn_graph_context(g);
    const int planes = n * x->shape[1], H = x->shape[2], W = x->shape[3];
    const size_t in_count = (size_t)planes * H * W, cells = (size_t)h * w;
    float *xh = malloc(in_count * sizeof *xh), *xv = malloc(in_count * sizeof *xv);
    float *maps = malloc((size_t)n * cells * sizeof *maps);
    clcnn_tensor *variant = NULL;
    clcnn_status st = xh && xv && maps ? CLCNN_OK : rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_cam: no host memory");
    if (st == CLCNN_OK) st = clcnn_tensor_read(x, xh, in_count);
    if (st == CLCNN_OK) st = rt_scratch(ctx, 4, x->shape, &variant);
    for (int v = 1; v < AUG_VARIANTS && st == CLCNN_OK; v++) {
        make_variant(xh, planes, H, W, v, xv);
        if ((st = clcnn_tensor_write(variant, xv, in_count)) != CLCNN_OK) break;
        if ((st = input_maps(g, variant, params, used, n, h, w, maps, NULL, NULL)) != CLCNN_OK) break;
        for (int i = 0; i < n; i++)
            for (int y = 0; y < h; y++)
                for (int c = 0; c < w; c++)
                    acc[i * cells + (size_t)y * w + c] += maps[i * cells + (size_t)y * w + (v >= 3 ? w - 1 - c : c)];
    }
    for (size_t i = 0; st == CLCNN_OK && i < (size_t)n * cells; i++) acc[i] *= 1.0f / AUG_VARIANTS;
    /* The graph's last forward must be of x, not of the scratch variant about to go. */
    if (variant) {
        const clcnn_tensor *out;
        const int training = clcnn_graph_is_training(g);
        clcnn_graph_set_training(g, 0);
        const clcnn_status again = clcnn_graph_forward(g, x, &out);
        clcnn_graph_set_training(g, training);
        if (st == CLCNN_OK) st = again;
    }
    clcnn_tensor_destroy(variant);
    free(maps);
    free(xv);
    free(xh);
    return st;
}

clcnn_status cam_fused(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params, const int *targets,
                       clcnn_tensor *map, float *probs, int *classes_used) {
    static const char *op = "clcnn_cam";
    clcnn_context *ctx = clcnn_graph_context(g);
    int h, w;
    clcnn_status st = rt_check_tensor(ctx, op, "input", x, 4);
    if (st == CLCNN_OK) st = clcnn_cam_map_size(g, params, &h, &w);
    const int n = st == CLCNN_OK ? x->shape[0] : 0;
    if (st == CLCNN_OK) st = rt_check_shape_is(ctx, op, "map", map, 3, (int[]){n, h, w});
    if (st != CLCNN_OK) return st;
    float *acc = malloc((size_t)n * h * w * sizeof *acc);
    int *used = malloc((size_t)n * sizeof *used);
    if (!acc || !used) st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for %d maps", op, n);
    if (st == CLCNN_OK) st = input_maps(g, x, params, targets, n, h, w, acc, probs, used);
    if (st == CLCNN_OK && params->aug_smooth) st = smooth(g, x, params, used, n, h, w, acc);
    if (st == CLCNN_OK) st = clcnn_tensor_write(map, acc, (size_t)n * h * w);
    if (st == CLCNN_OK && classes_used) memcpy(classes_used, used, (size_t)n * sizeof *used);
    free(used);
    free(acc);
    return st;
}
