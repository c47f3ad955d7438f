/* test_graph.c: the graph API: ResNets built layer by layer give PyTorch's logits from
 * torchvision-named weights; loading reports missing, unexpected and misshapen tensors;
 * building errors name the layer; per-sample shapes; gradients to a named layer;
 * freezing by prefix. Training through the graph is in test_train.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

/* The tiny networks of scripts/make_golden.py, as clcnn_resnet_build configurations. */
static clcnn_resnet_config tiny_seresnet(int classes) {
    return (clcnn_resnet_config){.bottleneck = 0, .stages = 2, .blocks = {1, 1}, .widths = {8, 16}, .se = 1,
                                 .classes = classes, .in_channels = 3, .height = 32, .width = 32};
}

static clcnn_resnet_config tiny_bottleneck(void) {
    return (clcnn_resnet_config){.bottleneck = 1, .stages = 2, .blocks = {2, 2}, .widths = {4, 8}, .se = 0,
                                 .classes = 5, .in_channels = 3, .height = 32, .width = 32};
}

static void logits_match(const char *name, clcnn_resnet_config cfg) {
    char file[128];
    clcnn_weights *w = NULL, *io = NULL;
    clcnn_graph *g = NULL;
    snprintf(file, sizeof file, "%s.safetensors", name);
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path(file), &w));
    snprintf(file, sizeof file, "%s_io.safetensors", name);
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path(file), &io));
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (test_failures()) goto done;
    int loaded = 0;
    CHECK_OK(clcnn_graph_load(g, w, CLCNN_LOAD_STRICT, &loaded));
    CHECK(loaded == clcnn_graph_param_count(g), "%s: loaded %d of %d parameters", name, loaded, clcnn_graph_param_count(g));
    const clcnn_tensor *x = clcnn_weights_get(io, "input"), *want_t = clcnn_weights_get(io, "logits"), *out = NULL;
    CHECK_OK(clcnn_graph_forward(g, x, &out));
    if (test_failures() || !out) goto done;
    float got[64], want[64];
    const size_t n = clcnn_tensor_numel(want_t);
    CHECK(clcnn_tensor_numel(out) == n, "%s: output has %zu values, want %zu", name, clcnn_tensor_numel(out), n);
    CHECK_OK(clcnn_tensor_read(out, got, n));
    CHECK_OK(clcnn_tensor_read(want_t, want, n));
    for (size_t i = 0; i < n; i++) /* same bound as test_net's folded model */
        CHECK(fabsf(got[i] - want[i]) <= 1e-4f + 1e-4f * fabsf(want[i]), "%s logit %zu: %.6f, PyTorch %.6f", name, i,
              got[i], want[i]);
done:
    clcnn_graph_destroy(g);
    clcnn_weights_destroy(io);
    clcnn_weights_destroy(w);
}

static void test_graph_seresnet_matches_pytorch(void) { logits_match("tiny_seresnet", tiny_seresnet(5)); }
static void test_graph_bottleneck_matches_pytorch(void) { logits_match("tiny_bottleneck", tiny_bottleneck()); }

static void test_graph_load_errors(void) {
    clcnn_weights *w = NULL;
    clcnn_graph *g = NULL, *g7 = NULL;
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("tiny_bottleneck.safetensors"), &w));
    clcnn_resnet_config cfg = tiny_seresnet(5);
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    cfg.classes = 7;
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g7));
    if (test_failures()) goto done;
    /* Another architecture's weights: the first misfit (the stem, 4 vs 8 channels) is named. */
    static float before[1176], after[1176];
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "conv1.weight"), before, 1176));
    CHECK_STATUS(clcnn_graph_load(g, w, CLCNN_LOAD_STRICT, NULL), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "conv1.weight") && strstr(clcnn_last_error(g_ctx), "[4, 3, 7, 7]"),
          "error does not name the tensor and shape: %s", clcnn_last_error(g_ctx));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "conv1.weight"), after, 1176));
    CHECK(!memcmp(before, after, sizeof before), "a failed strict load changed conv1.weight");
    clcnn_weights_destroy(w);
    w = NULL;
    /* Another class count: strict names fc.weight and both shapes; partial keeps the new head. */
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("tiny_seresnet.safetensors"), &w));
    if (!w) goto done;
    CHECK_STATUS(clcnn_graph_load(g7, w, CLCNN_LOAD_STRICT, NULL), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "fc.weight") && strstr(clcnn_last_error(g_ctx), "[5, 16]") &&
              strstr(clcnn_last_error(g_ctx), "[7, 16]"),
          "shape error lacks the name or shapes: %s", clcnn_last_error(g_ctx));
    int loaded = -1;
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g7, "fc.weight"), before, 7 * 16));
    CHECK_OK(clcnn_graph_load(g7, w, CLCNN_LOAD_PARTIAL, &loaded));
    CHECK(loaded == clcnn_graph_param_count(g7) - 2, "partial load copied %d of %d", loaded, clcnn_graph_param_count(g7));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g7, "fc.weight"), after, 7 * 16));
    CHECK(!memcmp(before, after, 7 * 16 * sizeof(float)), "partial load changed the new head");
    CHECK_OK(clcnn_graph_load(g, w, CLCNN_LOAD_STRICT, NULL)); /* its own weights load strictly */
done:
    clcnn_graph_destroy(g7);
    clcnn_graph_destroy(g);
    clcnn_weights_destroy(w);
}

static void test_graph_unexpected_tensor(void) {
    /* A network of just the stem convolution: the file's other tensors are unexpected. */
    clcnn_weights *w = NULL;
    clcnn_graph *g = NULL;
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("tiny_seresnet.safetensors"), &w));
    CHECK_OK(clcnn_graph_create(g_ctx, 3, 32, 32, 1, &g));
    const clcnn_conv_params p = {.stride_h = 2, .stride_w = 2, .pad_h = 3, .pad_w = 3};
    CHECK_OK(clcnn_graph_conv2d(g, "conv1", "input", 8, 7, 7, &p, 0));
    if (test_failures()) goto done;
    CHECK_STATUS(clcnn_graph_load(g, w, CLCNN_LOAD_STRICT, NULL), CLCNN_ERR_NOT_FOUND);
    CHECK(strstr(clcnn_last_error(g_ctx), "weights hold ") && strstr(clcnn_last_error(g_ctx), "does not have"),
          "error does not name the unexpected tensor: %s", clcnn_last_error(g_ctx));
    int loaded = 0;
    CHECK_OK(clcnn_graph_load(g, w, CLCNN_LOAD_PARTIAL, &loaded));
    CHECK(loaded == 1, "partial load copied %d parameters, want 1", loaded);
done:
    clcnn_graph_destroy(g);
    clcnn_weights_destroy(w);
}

static void test_graph_build_errors(void) {
    clcnn_graph *g = NULL;
    CHECK_OK(clcnn_graph_create(g_ctx, 3, 8, 8, 1, &g));
    if (!g) return;
    const clcnn_conv_params p = {.pad_h = 1, .pad_w = 1};
    CHECK_OK(clcnn_graph_conv2d(g, "c1", "input", 4, 3, 3, &p, 1));
    CHECK_STATUS(clcnn_graph_conv2d(g, "c1", "input", 4, 3, 3, &p, 1), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_activation(g, "r", "nope", CLCNN_ACT_RELU), CLCNN_ERR_NOT_FOUND);
    CHECK(strstr(clcnn_last_error(g_ctx), "nope") != NULL, "error does not name the input: %s", clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_graph_conv2d(g, "big", "c1", 4, 11, 11, NULL, 0), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "big") != NULL, "error does not name the layer: %s", clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_graph_linear(g, "fc", "c1", 0, 1), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_graph_add(g, "sum", "c1", "input", CLCNN_ACT_NONE), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_graph_add(g, "sum2", "c1", "c1", CLCNN_ACT_SILU), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_dropout(g, "d", "c1", 1.0f), CLCNN_ERR_INVALID_ARGUMENT);
    /* Failed layers leave nothing behind: the graph still has input, c1 and c1's two parameters. */
    CHECK(clcnn_graph_layer_count(g) == 2, "%d layers after failed additions", clcnn_graph_layer_count(g));
    CHECK(clcnn_graph_param_count(g) == 2, "%d parameters after failed additions", clcnn_graph_param_count(g));
    CHECK_OK(clcnn_graph_global_avg_pool(g, "gap", "c1"));
    CHECK_OK(clcnn_graph_linear(g, "fc", "gap", 3, 1));
    /* A wrong input shape is refused before anything runs. */
    clcnn_tensor *x = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){2, 3, 9, 8}, &x));
    if (x) CHECK_STATUS(clcnn_graph_forward(g, x, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_graph_backward(g, x), CLCNN_ERR_INVALID_ARGUMENT); /* no forward yet */
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(g);
}

static void test_graph_layer_shapes(void) {
    clcnn_graph *g = NULL;
    clcnn_resnet_config cfg = tiny_seresnet(5);
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (!g) return;
    struct {
        const char *name, *kind;
        int ndim, shape[3];
    } want[] = {{"conv1", "conv2d", 3, {8, 16, 16}}, {"maxpool", "maxpool", 3, {8, 8, 8}},
                {"layer1.0.se", "squeeze_excite", 3, {8, 8, 8}}, {"layer2.0", "add", 3, {16, 4, 4}},
                {"avgpool", "global_avg_pool", 1, {16}}, {"fc", "linear", 1, {5}}};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int found = 0;
        for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
            clcnn_layer_info info;
            CHECK_OK(clcnn_graph_layer(g, i, &info));
            if (strcmp(info.name, want[k].name)) continue;
            found = 1;
            CHECK(!strcmp(info.kind, want[k].kind), "%s is %s, want %s", info.name, info.kind, want[k].kind);
            CHECK(info.ndim == want[k].ndim && !memcmp(info.shape, want[k].shape, sizeof(int) * (size_t)info.ndim),
                  "%s has shape [%d, %d, %d] (ndim %d)", info.name, info.shape[0], info.shape[1], info.shape[2], info.ndim);
            if (!strcmp(info.name, "fc")) CHECK(info.params == 16 * 5 + 5, "fc has %zu parameters", info.params);
        }
        CHECK(found, "no layer %s", want[k].name);
    }
    clcnn_graph_destroy(g);
}

/* The tiny SE-ResNet with its golden weights, its golden input/output file, and an
 * output-gradient tensor [2, 5]. */
typedef struct {
    clcnn_weights *w, *io;
    clcnn_graph *g;
    clcnn_tensor *dout;
} golden_graph;

static int golden_graph_open(golden_graph *gg) {
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("tiny_seresnet.safetensors"), &gg->w));
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("tiny_seresnet_io.safetensors"), &gg->io));
    clcnn_resnet_config cfg = tiny_seresnet(5);
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &gg->g));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, (int[]){2, 5}, &gg->dout));
    if (!test_failures()) CHECK_OK(clcnn_graph_load(gg->g, gg->w, CLCNN_LOAD_STRICT, NULL));
    return !test_failures();
}

static void golden_graph_close(golden_graph *gg) {
    clcnn_tensor_destroy(gg->dout);
    clcnn_graph_destroy(gg->g);
    clcnn_weights_destroy(gg->io);
    clcnn_weights_destroy(gg->w);
}

/* For logits = fc(avgpool(layer2.0)), the gradient of logit c with respect to avgpool
 * is fc.weight[c, :], and with respect to layer2.0 that row spread over the 4x4 map. */
static void test_graph_backward_to(void) {
    golden_graph gg = {0};
    if (!golden_graph_open(&gg)) goto done;
    clcnn_graph *g = gg.g;
    clcnn_weights *io = gg.io;
    clcnn_tensor *dout = gg.dout;
    CHECK_OK(clcnn_graph_forward(g, clcnn_weights_get(io, "input"), NULL));
    const int cls[2] = {3, 1}; /* a different class per image */
    float onehot[10] = {0}, fcw[80], grad[2 * 16 * 16];
    onehot[cls[0]] = 1.0f;
    onehot[5 + cls[1]] = 1.0f;
    CHECK_OK(clcnn_tensor_write(dout, onehot, 10));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "fc.weight"), fcw, 80));
    const clcnn_tensor *gp = NULL, *gl = NULL;
    CHECK_OK(clcnn_graph_backward_to(g, "avgpool", dout, &gp));
    if (gp) {
        CHECK_OK(clcnn_tensor_read(gp, grad, 32));
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 16; k++)
                CHECK(fabsf(grad[n * 16 + k] - fcw[cls[n] * 16 + k]) < 1e-6f, "d logit / d avgpool[%d, %d] = %g, want %g",
                      n, k, grad[n * 16 + k], fcw[cls[n] * 16 + k]);
    }
    CHECK_OK(clcnn_graph_backward_to(g, "layer2.0", dout, &gl));
    if (gl) {
        CHECK(clcnn_tensor_numel(gl) == 2 * 16 * 16, "layer2.0 gradient has %zu values", clcnn_tensor_numel(gl));
        CHECK_OK(clcnn_tensor_read(gl, grad, 2 * 16 * 16));
        for (int i = 0; i < 2 * 16 * 16; i++) {
            const int n = i / 256, k = i / 16 % 16;
            CHECK(fabsf(grad[i] - fcw[cls[n] * 16 + k] / 16.0f) < 1e-6f, "d logit / d layer2.0[%d] = %g, want %g", i,
                  grad[i], fcw[cls[n] * 16 + k] / 16.0f);
        }
    }
    /* No parameter gradient was computed: all are still zero. */
    float gw[80];
    CHECK_OK(clcnn_tensor_read(clcnn_graph_grad(g, "fc.weight"), gw, 80));
    for (int i = 0; i < 80; i++) CHECK(gw[i] == 0.0f, "fc.weight gradient %d is %g after backward_to", i, gw[i]);
    const clcnn_tensor *gin = NULL; /* down to the input works too (saliency) */
    CHECK_OK(clcnn_graph_backward_to(g, "input", dout, &gin));
    CHECK(gin && clcnn_tensor_numel(gin) == 2 * 3 * 32 * 32, "input gradient missing or misshapen");
    CHECK_STATUS(clcnn_graph_backward_to(g, "layer9", dout, &gl), CLCNN_ERR_NOT_FOUND);
done:
    golden_graph_close(&gg);
}

/* Parameter gradients add up over backward passes until zeroed. */
static void test_graph_grads_accumulate(void) {
    golden_graph gg = {0};
    if (!golden_graph_open(&gg)) goto done;
    clcnn_graph *g = gg.g;
    clcnn_weights *io = gg.io;
    clcnn_tensor *dout = gg.dout;
    CHECK_OK(clcnn_tensor_fill(dout, 0.25f));
    CHECK_OK(clcnn_graph_forward(g, clcnn_weights_get(io, "input"), NULL));
    static float once[8 * 8 * 9], twice[8 * 8 * 9];
    const char *name = "layer1.0.conv1.weight";
    CHECK_OK(clcnn_graph_backward(g, dout));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_grad(g, name), once, 8 * 8 * 9));
    CHECK_OK(clcnn_graph_backward(g, dout));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_grad(g, name), twice, 8 * 8 * 9));
    int nonzero = 0;
    for (int i = 0; i < 8 * 8 * 9; i++) {
        nonzero += once[i] != 0.0f;
        CHECK(twice[i] == 2.0f * once[i], "%s[%d]: %g after two passes, %g after one", name, i, twice[i], once[i]);
    }
    CHECK(nonzero > 8 * 8 * 9 / 2, "only %d gradient entries are nonzero", nonzero);
    CHECK_OK(clcnn_graph_zero_grad(g));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_grad(g, name), twice, 8 * 8 * 9));
    for (int i = 0; i < 8 * 8 * 9; i++) CHECK(twice[i] == 0.0f, "%s[%d] = %g after zero_grad", name, i, twice[i]);
done:
    golden_graph_close(&gg);
}

/* Gradients are made on first need: a network that is only run forward (a model
 * opened for prediction) holds its values and nothing more; asking for a gradient
 * gives zeros, and running statistics have none. */
static void test_graph_grads_on_demand(void) {
    clcnn_graph *g = NULL;
    clcnn_resnet_config cfg = tiny_seresnet(5);
    clcnn_context_stats before, built, asked;
    clcnn_context_trim(g_ctx);
    clcnn_context_get_stats(g_ctx, &before);
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (!g) return;
    clcnn_context_get_stats(g_ctx, &built);
    uint64_t value_bytes = 0, grad_bytes = 0;
    int stats = 0;
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        const size_t n = clcnn_tensor_numel(clcnn_graph_param(g, name));
        value_bytes += n * sizeof(float);
        const int running = strstr(name, "running_") != NULL;
        stats += running;
        if (!running) grad_bytes += n * sizeof(float);
    }
    CHECK(built.pool_bytes_in_use - before.pool_bytes_in_use == value_bytes,
          "building took %llu bytes of tensors, want the %llu of the values alone",
          (unsigned long long)(built.pool_bytes_in_use - before.pool_bytes_in_use), (unsigned long long)value_bytes);
    CHECK(stats > 0 && grad_bytes > 0, "%d running statistics, %llu bytes of trainable values", stats,
          (unsigned long long)grad_bytes);
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        const clcnn_tensor *grad = clcnn_graph_grad(g, name);
        if (strstr(name, "running_")) {
            CHECK(!grad, "running statistic %s has a gradient", name);
            continue;
        }
        CHECK(grad && clcnn_tensor_numel(grad) == clcnn_tensor_numel(clcnn_graph_param(g, name)),
              "%s: no gradient, or one of another size", name);
        if (!grad) continue;
        float *host = malloc(clcnn_tensor_numel(grad) * sizeof *host);
        CHECK_OK(clcnn_tensor_read(grad, host, clcnn_tensor_numel(grad)));
        for (size_t k = 0; host && k < clcnn_tensor_numel(grad); k++)
            if (host[k] != 0.0f) {
                CHECK(0, "%s's new gradient [%zu] = %g", name, k, host[k]);
                break;
            }
        free(host);
    }
    clcnn_context_get_stats(g_ctx, &asked);
    CHECK(asked.pool_bytes_in_use - built.pool_bytes_in_use == grad_bytes,
          "asking for every gradient took %llu bytes, want %llu",
          (unsigned long long)(asked.pool_bytes_in_use - built.pool_bytes_in_use), (unsigned long long)grad_bytes);
    clcnn_graph_destroy(g);
}

static void test_graph_freeze(void) {
    clcnn_graph *g = NULL;
    clcnn_resnet_config cfg = tiny_seresnet(5);
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (!g) return;
    int n = 0;
    CHECK_OK(clcnn_graph_freeze(g, "layer1", 1, &n));
    CHECK(n == 1 + 4 + 1 + 4 + 4, "layer1 matched %d parameters", n); /* conv1, bn1 (4), conv2, bn2 (4), se (4) */
    CHECK(clcnn_graph_param_is_frozen(g, "layer1.0.se.fc2.bias"), "layer1.0.se.fc2.bias not frozen");
    CHECK(!clcnn_graph_param_is_frozen(g, "layer2.0.conv1.weight"), "layer2 frozen by prefix layer1");
    CHECK_STATUS(clcnn_graph_freeze(g, "layer", 1, &n), CLCNN_ERR_NOT_FOUND); /* not a name boundary */
    CHECK_OK(clcnn_graph_freeze(g, "", 1, &n));
    CHECK(n == clcnn_graph_param_count(g), "\"\" matched %d of %d", n, clcnn_graph_param_count(g));
    CHECK_OK(clcnn_graph_freeze(g, "fc.weight", 0, &n));
    CHECK(n == 1 && !clcnn_graph_param_is_frozen(g, "fc.weight"), "unfreezing fc.weight");
    /* The index-based view agrees with the name-based one. */
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        clcnn_param_info p;
        CHECK_OK(clcnn_graph_param_info(g, i, &p));
        CHECK(!strcmp(p.name, clcnn_graph_param_name(g, i)) && p.value == clcnn_graph_param(g, p.name) &&
                  p.grad == clcnn_graph_grad(g, p.name) && p.frozen == clcnn_graph_param_is_frozen(g, p.name),
              "parameter %d (%s): info differs from the lookups by name", i, p.name);
    }
    clcnn_param_info none;
    CHECK_STATUS(clcnn_graph_param_info(g, clcnn_graph_param_count(g), &none), CLCNN_ERR_INVALID_ARGUMENT);
    clcnn_graph_destroy(g);
}

/* resnet18 and resnet50 have torchvision's parameter names, shapes and order
 * (tests/golden/torchvision_names.txt from scripts/make_golden_names.py). */
static void test_graph_torchvision_layout(void) {
    FILE *f = fopen(test_golden_path("torchvision_names.txt"), "r");
    CHECK(f != NULL, "cannot open torchvision_names.txt");
    if (!f) return;
    char arch[32] = "", name[128], dims[64], built[32] = "";
    clcnn_graph *g = NULL;
    int index = 0;
    while (fscanf(f, "%31s %127s %63s", arch, name, dims) == 3 && !test_failures()) {
        if (strcmp(arch, built)) { /* a new architecture starts */
            if (g) CHECK(index == clcnn_graph_param_count(g), "%s has %d parameters, torchvision %d", built,
                         clcnn_graph_param_count(g), index);
            clcnn_graph_destroy(g);
            g = NULL;
            clcnn_resnet_config cfg;
            CHECK_OK(clcnn_resnet_config_for(arch, 1000, 64, &cfg));
            CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
            if (!g) break;
            snprintf(built, sizeof built, "%s", arch);
            index = 0;
        }
        const char *mine = clcnn_graph_param_name(g, index++);
        CHECK(mine && !strcmp(mine, name), "%s parameter %d is %s, torchvision's is %s", arch, index - 1,
              mine ? mine : "(none)", name);
        const clcnn_tensor *t = clcnn_graph_param(g, name);
        char have[64] = "";
        for (int d = 0; t && d < clcnn_tensor_ndim(t); d++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%d", d ? "x" : "", clcnn_tensor_dim(t, d));
        CHECK(!strcmp(have, dims), "%s %s is %s, torchvision's is %s", arch, name, have, dims);
    }
    if (g) CHECK(index == clcnn_graph_param_count(g), "%s has %d parameters, torchvision %d", built,
                 clcnn_graph_param_count(g), index);
    CHECK(!strcmp(built, "resnet50"), "the file ended before resnet50 (last: %s)", built);
    clcnn_graph_destroy(g);
    fclose(f);
    clcnn_resnet_config cfg;
    CHECK_STATUS(clcnn_resnet_config_for("resnet51", 10, 224, &cfg), CLCNN_ERR_NOT_FOUND);
    CHECK_STATUS(clcnn_resnet_config_for("resnet", 10, 224, &cfg), CLCNN_ERR_NOT_FOUND);
}

/* The MLP head is named as torch's nn.Sequential names it. */
static void test_graph_mlp_head(void) {
    clcnn_resnet_config cfg = tiny_seresnet(4);
    cfg.head_hidden = 12;
    cfg.head_dropout = 0.2f;
    clcnn_graph *g = NULL;
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (!g) return;
    const char *names[] = {"fc.0.weight", "fc.0.bias", "fc.3.weight", "fc.3.bias"};
    const int rows[] = {12, 12, 4, 4};
    for (int i = 0; i < 4; i++) {
        const clcnn_tensor *t = clcnn_graph_param(g, names[i]);
        CHECK(t && clcnn_tensor_dim(t, 0) == rows[i], "%s missing or not %d rows", names[i], rows[i]);
    }
    CHECK(clcnn_graph_param(g, "fc.weight") == NULL, "plain fc present with the MLP head");
    clcnn_layer_info last;
    CHECK_OK(clcnn_graph_layer(g, clcnn_graph_layer_count(g) - 1, &last));
    CHECK(!strcmp(last.name, "fc.3") && last.shape[0] == 4, "output layer %s [%d]", last.name, last.shape[0]);
    clcnn_graph_destroy(g);
}

/* A batch norm built with eps 1e-3 and momentum 0.01 (EfficientNet-B5's) uses them: eps
 * in evaluation, both folded into the convolution before it and on its own (CLCNN_FUSE=0),
 * and in training on the batch's statistics (the variances are small enough that 1e-5
 * would miss by far); the momentum in the running statistics a training pass leaves. */
static void test_graph_batchnorm_eps_momentum(void) {
    enum { N = 2, C = 2, S = 3, HW = S * S };
    const float eps = 1e-3f, momentum = 0.01f, gamma[C] = {1.5f, 0.5f}, beta[C] = {0.1f, -0.2f}, rmean[C] = {0.02f, -0.01f},
                rvar[C] = {0.002f, 0.0005f}, eye[C * C] = {1, 0, 0, 1};
    float x[N * C * HW], got[N * C * HW];
    for (int i = 0; i < N * C * HW; i++) x[i] = 0.03f * (float)((i * 7) % 11 - 5) / 5.0f;
    clcnn_tensor *xt = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){N, C, S, S}, &xt));
    if (xt) CHECK_OK(clcnn_tensor_write(xt, x, N * C * HW));
    for (int mode = 0; mode < 3 && !test_failures(); mode++) { /* eval fused, eval unfused, training */
        if (mode == 1) setenv("CLCNN_FUSE", "0", 1);
        clcnn_graph *g = NULL;
        CHECK_OK(clcnn_graph_create(g_ctx, C, S, S, 1, &g));
        if (mode == 1) unsetenv("CLCNN_FUSE");
        if (!g) break;
        CHECK_OK(clcnn_graph_conv2d(g, "conv", "input", C, 1, 1, NULL, 0));
        CHECK_OK(clcnn_graph_batchnorm_ex(g, "bn", "conv", eps, momentum));
        CHECK_OK(clcnn_tensor_write(clcnn_graph_param(g, "conv.weight"), eye, C * C));
        CHECK_OK(clcnn_tensor_write(clcnn_graph_param(g, "bn.weight"), gamma, C));
        CHECK_OK(clcnn_tensor_write(clcnn_graph_param(g, "bn.bias"), beta, C));
        CHECK_OK(clcnn_tensor_write(clcnn_graph_param(g, "bn.running_mean"), rmean, C));
        CHECK_OK(clcnn_tensor_write(clcnn_graph_param(g, "bn.running_var"), rvar, C));
        clcnn_graph_set_training(g, mode == 2);
        const clcnn_tensor *out = NULL;
        CHECK_OK(clcnn_graph_forward(g, xt, &out));
        if (out) CHECK_OK(clcnn_tensor_read(out, got, N * C * HW));
        for (int c = 0; c < C && out; c++) {
            double mean = rmean[c], var = rvar[c];
            if (mode == 2) { /* the batch's mean and biased variance */
                double s = 0, s2 = 0;
                for (int n = 0; n < N; n++)
                    for (int i = 0; i < HW; i++) s += x[(n * C + c) * HW + i];
                mean = s / (N * HW);
                for (int n = 0; n < N; n++)
                    for (int i = 0; i < HW; i++) s2 += pow(x[(n * C + c) * HW + i] - mean, 2);
                var = s2 / (N * HW);
            }
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++) {
                    const int k = (n * C + c) * HW + i;
                    const double want = (x[k] - mean) / sqrt(var + eps) * gamma[c] + beta[c];
                    CHECK(fabs(got[k] - want) <= 1e-5 * (1 + fabs(want)), "mode %d: y[%d] %.7g, want %.7g", mode, k,
                          got[k], want);
                }
            if (mode == 2) { /* running mean (1 - m) r + m mean; running var with the unbiased variance */
                float rm[C], rv[C];
                CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "bn.running_mean"), rm, C));
                CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "bn.running_var"), rv, C));
                const double wm = (1 - momentum) * rmean[c] + momentum * mean,
                             wv = (1 - momentum) * rvar[c] + momentum * var * (N * HW) / (N * HW - 1);
                CHECK(fabs(rm[c] - wm) <= 1e-7 && fabs(rv[c] - wv) <= 1e-8, "channel %d: running mean %.8g var %.8g, "
                      "want %.8g %.8g", c, rm[c], rv[c], wm, wv);
            }
        }
        clcnn_graph_destroy(g);
    }
    clcnn_graph *g = NULL;
    CHECK_OK(clcnn_graph_create(g_ctx, C, S, S, 1, &g));
    if (g) CHECK_STATUS(clcnn_graph_batchnorm_ex(g, "bn", "input", 0.0f, 0.1f), CLCNN_ERR_INVALID_ARGUMENT);
    if (g) CHECK_STATUS(clcnn_graph_batchnorm_ex(g, "bn", "input", 1e-3f, 1.5f), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(g && clcnn_graph_layer_count(g) == 1, "a refused batch norm was left in the graph");
    clcnn_graph_destroy(g);
    clcnn_tensor_destroy(xt);
}

/* A Squeeze-and-Excitation layer with SiLU inside and a hardsigmoid gate runs the _ex ops
 * with them, forward and backward: the graph's output and input gradient equal the ops'
 * called directly, and differ from ReLU's inside (the weights make some of fc1's outputs
 * negative); a gate whose gradient needs its input is refused. */
static void test_graph_squeeze_excite_inner(void) {
    enum { N = 2, C = 6, S = 4, CR = 3 };
    test_rng rng = {g_seed ^ 0x5E1u};
    float x[N * C * S * S], dy[N * C * S * S], got[N * C * S * S], want[N * C * S * S];
    for (int i = 0; i < N * C * S * S; i++) x[i] = test_rng_uniform(&rng, -1, 1), dy[i] = test_rng_uniform(&rng, -1, 1);
    clcnn_graph *g = NULL;
    clcnn_tensor *xt = NULL, *dyt = NULL, *y = NULL, *dx = NULL;
    CHECK_OK(clcnn_graph_create(g_ctx, C, S, S, 3, &g));
    if (!g) return;
    CHECK_OK(clcnn_graph_squeeze_excite_ex(g, "se", "input", CR, CLCNN_ACT_SILU, CLCNN_ACT_HARDSIGMOID, NULL,
                                           CLCNN_ACT_NONE));
    CHECK_STATUS(clcnn_graph_squeeze_excite_ex(g, "se2", "se", CR, (clcnn_activation)99, CLCNN_ACT_SIGMOID, NULL,
                                               CLCNN_ACT_NONE),
                 CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_squeeze_excite_ex(g, "se3", "se", CR, CLCNN_ACT_RELU, CLCNN_ACT_SILU, NULL,
                                               CLCNN_ACT_NONE),
                 CLCNN_ERR_INVALID_ARGUMENT); /* a gate needs its input for its gradient */
    const int xs[4] = {N, C, S, S};
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &xt));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &dyt));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &y));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, xs, &dx));
    if (test_failures()) goto done;
    CHECK_OK(clcnn_tensor_write(xt, x, N * C * S * S));
    CHECK_OK(clcnn_tensor_write(dyt, dy, N * C * S * S));
    clcnn_graph_set_training(g, 1);
    const clcnn_tensor *out = NULL, *gx = NULL;
    CHECK_OK(clcnn_graph_forward(g, xt, &out));
    CHECK_OK(clcnn_graph_backward_to(g, "input", dyt, &gx));
    const clcnn_tensor *w1 = clcnn_graph_param(g, "se.fc1.weight"), *b1 = clcnn_graph_param(g, "se.fc1.bias"),
                       *w2 = clcnn_graph_param(g, "se.fc2.weight"), *b2 = clcnn_graph_param(g, "se.fc2.bias");
    for (int inner = 0; inner < 2 && out && gx; inner++) {
        const clcnn_activation act = inner ? CLCNN_ACT_RELU : CLCNN_ACT_SILU;
        CHECK_OK(clcnn_squeeze_excite_ex(g_ctx, xt, w1, b1, w2, b2, act, CLCNN_ACT_HARDSIGMOID, NULL, CLCNN_ACT_NONE, y));
        CHECK_OK(clcnn_squeeze_excite_ex_backward(g_ctx, xt, w1, b1, w2, b2, act, CLCNN_ACT_HARDSIGMOID, dyt, dx, 0,
                                                  NULL, NULL, NULL, NULL));
        for (int pass = 0; pass < 2; pass++) {
            CHECK_OK(clcnn_tensor_read(pass ? gx : out, got, N * C * S * S));
            CHECK_OK(clcnn_tensor_read(pass ? dx : y, want, N * C * S * S));
            double err = 0;
            for (int i = 0; i < N * C * S * S; i++) err = fmax(err, fabs(got[i] - want[i]));
            if (inner == 0) CHECK(err <= 1e-6, "%s: graph and op differ by %g", pass ? "dx" : "y", err);
            else CHECK(err > 1e-4, "%s: the graph's SiLU SE gives ReLU's result (difference %g)", pass ? "dx" : "y", err);
        }
    }
done:
    clcnn_tensor_destroy(dx);
    clcnn_tensor_destroy(y);
    clcnn_tensor_destroy(dyt);
    clcnn_tensor_destroy(xt);
    clcnn_graph_destroy(g);
}

/* A stochastic-depth layer: identity in evaluation; in training each sample's output
 * is all zeros or x / (1 - p), with about p of 64 samples dropped, the backward passing
 * the gradient through the same mask, and another mask on the next pass. */
static void test_graph_stochastic_depth(void) {
    enum { N = 64, C = 3, S = 2, PER = C * S * S, TOTAL = N * PER };
    const float p = 0.5f, scale = 2.0f;
    static float x[TOTAL], y[TOTAL], dx[TOTAL], first[TOTAL];
    for (int i = 0; i < TOTAL; i++) x[i] = 0.5f + (float)(i % 7);
    clcnn_graph *g = NULL;
    clcnn_tensor *xt = NULL;
    CHECK_OK(clcnn_graph_create(g_ctx, C, S, S, 5, &g));
    if (!g) return;
    CHECK_STATUS(clcnn_graph_stochastic_depth(g, "bad", "input", 1.0f), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_OK(clcnn_graph_stochastic_depth(g, "sd", "input", p));
    clcnn_layer_info info;
    CHECK(clcnn_graph_find_layer(g, "sd", &info) == 1 && !strcmp(info.kind, "stochastic_depth"), "listing: %s",
          info.kind);
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){N, C, S, S}, &xt));
    if (!xt) goto done;
    CHECK_OK(clcnn_tensor_write(xt, x, TOTAL));
    const clcnn_tensor *out = NULL, *grad = NULL;
    CHECK_OK(clcnn_graph_forward(g, xt, &out)); /* evaluation: the identity */
    if (out) CHECK_OK(clcnn_tensor_read(out, y, TOTAL));
    CHECK(out && !memcmp(x, y, sizeof x), "evaluation mode changed the input");
    clcnn_graph_set_training(g, 1);
    int changed = 0;
    for (int pass = 0; pass < 2 && !test_failures(); pass++) {
        CHECK_OK(clcnn_graph_forward(g, xt, &out));
        CHECK_OK(clcnn_graph_backward_to(g, "input", xt, &grad)); /* dy = x */
        if (test_failures()) break;
        CHECK_OK(clcnn_tensor_read(out, y, TOTAL));
        CHECK_OK(clcnn_tensor_read(grad, dx, TOTAL));
        int dropped = 0, bad = 0;
        for (int n = 0; n < N; n++) {
            const int kept = y[n * PER] != 0.0f;
            dropped += !kept;
            for (int i = n * PER; i < (n + 1) * PER; i++)
                bad += y[i] != (kept ? x[i] * scale : 0.0f) || dx[i] != y[i];
        }
        CHECK(bad == 0, "pass %d: %d values are not the sample's x / (1 - p) or 0, or the gradient's mask differs",
              pass, bad);
        CHECK(dropped > 16 && dropped < 48, "pass %d: %d of %d samples dropped at p %g", pass, dropped, N, (double)p);
        if (pass == 0) memcpy(first, y, sizeof y);
        else changed = memcmp(first, y, sizeof y) != 0;
    }
    CHECK(changed, "two training passes drew the same mask");
done:
    clcnn_tensor_destroy(xt);
    clcnn_graph_destroy(g);
}

/* A concat layer joins [x, relu(x)] and [x, x] along the channels, and its backward
 * sends each channel slice of dy to its input: dx = dy_a + dy_b (masked by relu's
 * derivative for the second branch), the two shares of x's gradient added in the cat(x,
 * x) case; inputs whose pixels differ are refused. */
static void test_graph_concat(void) {
    enum { N = 2, C = 3, S = 2, HW = S * S, TOTAL = N * C * HW };
    test_rng rng = {g_seed ^ 0xCA75u};
    float x[TOTAL], dy[2 * TOTAL], y[2 * TOTAL], dx[TOTAL];
    for (int i = 0; i < TOTAL; i++) x[i] = test_rng_uniform(&rng, -1, 1);
    for (int i = 0; i < 2 * TOTAL; i++) dy[i] = test_rng_uniform(&rng, -1, 1);
    clcnn_tensor *xt = NULL, *dyt = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){N, C, S, S}, &xt));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){N, 2 * C, S, S}, &dyt));
    if (test_failures()) goto done;
    CHECK_OK(clcnn_tensor_write(xt, x, TOTAL));
    CHECK_OK(clcnn_tensor_write(dyt, dy, 2 * TOTAL));
    for (int same = 0; same < 2 && !test_failures(); same++) {
        clcnn_graph *g = NULL;
        CHECK_OK(clcnn_graph_create(g_ctx, C, S, S, 1, &g));
        if (!g) break;
        CHECK_OK(clcnn_graph_activation(g, "relu", "input", CLCNN_ACT_RELU));
        CHECK_OK(clcnn_graph_concat(g, "cat", "input", same ? "input" : "relu"));
        clcnn_layer_info info;
        CHECK(clcnn_graph_find_layer(g, "cat", &info) == 2 && info.shape[0] == 2 * C && !strcmp(info.kind, "concat"),
              "cat: %s with %d channels", info.kind, info.shape[0]);
        const clcnn_tensor *out = NULL, *grad = NULL;
        CHECK_OK(clcnn_graph_forward(g, xt, &out));
        CHECK_OK(clcnn_graph_backward_to(g, "input", dyt, &grad));
        if (out && grad) {
            CHECK_OK(clcnn_tensor_read(out, y, 2 * TOTAL));
            CHECK_OK(clcnn_tensor_read(grad, dx, TOTAL));
            int bad = 0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < C * HW; i++) {
                    const float v = x[n * C * HW + i], second = same ? v : (v > 0 ? v : 0);
                    const float ga = dy[n * 2 * C * HW + i], gb = dy[n * 2 * C * HW + C * HW + i];
                    const float want = ga + (same || v > 0 ? gb : 0.0f);
                    bad += y[n * 2 * C * HW + i] != v || y[n * 2 * C * HW + C * HW + i] != second ||
                           fabsf(dx[n * C * HW + i] - want) > 1e-6f;
                }
            CHECK(bad == 0, "%s: %d values of y or dx wrong", same ? "cat(x, x)" : "cat(x, relu(x))", bad);
        }
        if (same) {
            const clcnn_conv_params p = {.stride_h = 2, .stride_w = 2};
            CHECK_OK(clcnn_graph_conv2d(g, "half", "input", C, 1, 1, &p, 0));
            CHECK_STATUS(clcnn_graph_concat(g, "bad", "input", "half"), CLCNN_ERR_SHAPE);
            CHECK(strstr(clcnn_last_error(g_ctx), "differ in more than their channels"), "%s", clcnn_last_error(g_ctx));
        }
        clcnn_graph_destroy(g);
    }
done:
    clcnn_tensor_destroy(dyt);
    clcnn_tensor_destroy(xt);
}

const test_case test_graph_cases[] = {
    {"graph_batchnorm_eps_momentum", test_graph_batchnorm_eps_momentum},
    {"graph_squeeze_excite_inner", test_graph_squeeze_excite_inner},
    {"graph_stochastic_depth", test_graph_stochastic_depth},
    {"graph_concat", test_graph_concat},
    {"graph_torchvision_layout", test_graph_torchvision_layout},
    {"graph_mlp_head", test_graph_mlp_head},
    {"graph_seresnet_matches_pytorch", test_graph_seresnet_matches_pytorch},
    {"graph_bottleneck_matches_pytorch", test_graph_bottleneck_matches_pytorch},
    {"graph_load_errors", test_graph_load_errors},
    {"graph_unexpected_tensor", test_graph_unexpected_tensor},
    {"graph_build_errors", test_graph_build_errors},
    {"graph_layer_shapes", test_graph_layer_shapes},
    {"graph_backward_to", test_graph_backward_to},
    {"graph_grads_accumulate", test_graph_grads_accumulate},
    {"graph_freeze", test_graph_freeze},
    {"graph_grads_on_demand", test_graph_grads_on_demand},
    {NULL, NULL},
};
