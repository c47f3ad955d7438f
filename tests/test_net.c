/* test_net.c: small ResNets built from the ops (basic blocks with SE; bottlenecks
 * without) give PyTorch's logits for the same weights and input (golden files from
 * scripts/make_golden.py). */
#include <math.h>
#include <stdlib.h>
#include "harness.h"

/* Folded batch norm and a different summation order than oneDNN: 1e-4 absolute plus
 * 1e-4 relative on logits of magnitude ~1 leaves room only for float rounding. */
#define NET_ATOL 1e-4f
#define NET_RTOL 1e-4f

/* The golden weights, input/output pair and the model built from them. */
typedef struct {
    clcnn_weights *w, *io;
    clcnn_model *m;
} golden_net;

/* Loads tests/golden/NAME.safetensors and NAME_io.safetensors. */
static int golden_net_load(golden_net *g, const char *name) {
    char file[128];
    snprintf(file, sizeof file, "%s.safetensors", name);
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path(file), &g->w));
    snprintf(file, sizeof file, "%s_io.safetensors", name);
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path(file), &g->io));
    if (g->w && g->io) CHECK_OK(clcnn_resnet_create(g_ctx, g->w, &g->m));
    return g->m != NULL;
}

static void golden_net_free(golden_net *g) {
    clcnn_model_destroy(g->m);
    clcnn_weights_destroy(g->io);
    clcnn_weights_destroy(g->w);
}

static void check_matches_pytorch(const char *name) {
    golden_net g = {0};
    clcnn_tensor *logits = NULL;
    if (!golden_net_load(&g, name)) goto done;
    clcnn_weights *io = g.io;
    clcnn_model *m = g.m;
    CHECK(clcnn_weights_metadata(g.w, "arch") != NULL, "metadata arch missing");
    const clcnn_tensor *x = clcnn_weights_get(io, "input"), *want_t = clcnn_weights_get(io, "logits");
    CHECK(x && want_t, "golden io file lacks input or logits");
    if (!x || !want_t) goto done;
    const int n = clcnn_tensor_dim(want_t, 0), classes = clcnn_tensor_dim(want_t, 1);
    CHECK(clcnn_model_num_classes(m) == classes, "classes %d, want %d", clcnn_model_num_classes(m), classes);
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, (int[]){n, classes}, &logits));
    if (test_failures()) goto done;
    float got[64], want[64];
    CHECK_OK(clcnn_model_forward(m, x, logits));
    CHECK_OK(clcnn_tensor_read(logits, got, (size_t)(n * classes)));
    CHECK_OK(clcnn_tensor_read(want_t, want, (size_t)(n * classes)));
    float max_err = 0;
    for (int i = 0; i < n * classes; i++) {
        const float err = fabsf(got[i] - want[i]);
        if (err > max_err) max_err = err;
        CHECK(err <= NET_ATOL + NET_RTOL * fabsf(want[i]), "logit %d: got %.7f, PyTorch %.7f", i, got[i], want[i]);
    }
    printf("  %s logits vs PyTorch: max abs err %.2e\n", name, max_err);
done:
    clcnn_tensor_destroy(logits);
    golden_net_free(&g);
}

static void test_tiny_seresnet_matches_pytorch(void) { check_matches_pytorch("tiny_seresnet"); }
static void test_tiny_bottleneck_matches_pytorch(void) { check_matches_pytorch("tiny_bottleneck"); }

/* A forward pass after the first allocates no device memory: the pool serves it. */
static void test_forward_reuses_pool(void) {
    golden_net g = {0};
    clcnn_tensor *logits = NULL;
    if (!golden_net_load(&g, "tiny_seresnet")) goto done;
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, (int[]){2, 5}, &logits));
    if (test_failures()) goto done;
    const clcnn_tensor *x = clcnn_weights_get(g.io, "input");
    CHECK_OK(clcnn_model_forward(g.m, x, logits));
    clcnn_context_stats before, after;
    clcnn_context_get_stats(g_ctx, &before);
    for (int i = 0; i < 3; i++) CHECK_OK(clcnn_model_forward(g.m, x, logits));
    CHECK_OK(clcnn_finish(g_ctx));
    clcnn_context_get_stats(g_ctx, &after);
    CHECK(after.device_allocations == before.device_allocations, "forward passes allocated %llu new buffers",
          (unsigned long long)(after.device_allocations - before.device_allocations));
done:
    clcnn_tensor_destroy(logits);
    golden_net_free(&g);
}

const test_case test_net_cases[] = {
    {"net_tiny_seresnet_matches_pytorch", test_tiny_seresnet_matches_pytorch},
    {"net_tiny_bottleneck_matches_pytorch", test_tiny_bottleneck_matches_pytorch},
    {"net_forward_reuses_pool", test_forward_reuses_pool},
    {NULL, NULL}};
