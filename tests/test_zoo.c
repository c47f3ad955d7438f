/* test_zoo.c: the model zoo against PyTorch.
 * - The compact nets: configuration, layer names and shapes at 96x96, SE variant, extra
 *   identity blocks, a bad stem kernel.
 * - MobileNetV2's layer names and shapes.
 * - Golden logits of resnet18, resnet50, seresnet50, resnet101, compact and mobilenet_v2: the graph is
 *   filled with tests/ref/detinit's name-keyed weights, run in eval mode on detinit's
 *   input, and compared with PyTorch's logits from scripts/make_golden_zoo.py (which also
 *   records the torch model's parameter count and a hash of its tensor names and shapes).
 *   Criterion, per image (logit row r): max_c |clcnn[r,c] - torch[r,c]| <= 1e-3 * max_c |torch[r,c]|.
 * - save -> load -> save gives a byte-identical file.
 * - Files written by clcnn_graph_save load into PyTorch with load_state_dict(strict=True)
 *   and give clcnn's logits there (scripts/check_torch_load.py; skipped with the reason
 *   when /usr/bin/python3, torch or torchvision is missing). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "tmptree.h"
#include "testutil.h"
#include "ref/detinit.h"
#include "runtime/clock.h"

#define GOLDEN_RTOL 1e-3
#define PYTHON "/usr/bin/python3" /* Debian's, with python3-torch; CLCNN_TEST_PYTHON overrides */
#define CHECK_SCRIPT "scripts/check_torch_load.py"

/* ---- building and running ---- */

static clcnn_graph *build(const char *arch, int classes, int size, int head_hidden) {
    clcnn_resnet_config cfg;
    clcnn_graph *g = NULL;
    CHECK_OK(clcnn_resnet_config_for(arch, classes, size, &cfg));
    if (test_failures()) return NULL;
    cfg.head_hidden = head_hidden;
    cfg.head_dropout = 0.2f;
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    return g;
}

/* detinit's input "name" [n, 3, size, size] through g in eval mode: the logits in
 * host memory (n * classes floats, caller frees), the input in *input if not NULL. */
static float *run(clcnn_graph *g, const char *name, int n, int size, uint64_t seed, size_t classes, float **input) {
    const int shape[4] = {n, 3, size, size};
    const size_t count = (size_t)n * 3 * size * size;
    float *x = malloc(count * sizeof *x), *logits = malloc((size_t)n * classes * sizeof *logits);
    clcnn_tensor *t = NULL;
    const clcnn_tensor *out = NULL;
    CHECK(x && logits, "out of memory");
    if (!x || !logits) goto release;
    detinit_image(name, count, seed, x);
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, shape, &t));
    if (t) CHECK_OK(clcnn_tensor_write(t, x, count));
    clcnn_graph_set_training(g, 0);
    if (!test_failures()) CHECK_OK(clcnn_graph_forward(g, t, &out));
    if (test_failures() || !out) goto release;
    CHECK(clcnn_tensor_numel(out) == (size_t)n * classes, "%zu logits, want %d x %zu", clcnn_tensor_numel(out), n,
          classes);
    if (!test_failures()) CHECK_OK(clcnn_tensor_read(out, logits, (size_t)n * classes));
    if (test_failures()) goto release;
    clcnn_tensor_destroy(t);
    if (input) *input = x;
    else free(x);
    return logits;
release:
    clcnn_tensor_destroy(t);
    free(x);
    free(logits);
    return NULL;
}

/* ---- names ---- */

static uint64_t fnv1a64_update(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

/* FNV-1a 64 of the lines "NAME D0xD1x...\n" of g's parameters, in order, as
 * scripts/make_golden_zoo.py hashes the torch state_dict's float tensors. With dump,
 * the lines are printed too (to diff against make_golden_zoo.py --names ARCH). */
static uint64_t names_hash(const clcnn_graph *g, int dump) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        clcnn_param_info p;
        if (clcnn_graph_param_info(g, i, &p) != CLCNN_OK) return 0;
        char line[192];
        int len = snprintf(line, sizeof line, "%s ", p.name);
        for (int d = 0; d < clcnn_tensor_ndim(p.value) && len < (int)sizeof line; d++)
            len += snprintf(line + len, sizeof line - len, "%s%d", d ? "x" : "", clcnn_tensor_dim(p.value, d));
        if (len < (int)sizeof line - 1) strcat(line, "\n");
        if (dump) printf("    %s", line);
        h = fnv1a64_update(h, line);
    }
    return h;
}

/* Trainable parameters, as the layer listing counts them. */
static size_t trainable(const clcnn_graph *g) {
    size_t total = 0;
    for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
        clcnn_layer_info l;
        if (clcnn_graph_layer(g, i, &l) == CLCNN_OK) total += l.params;
    }
    return total;
}

/* ---- the compact nets ---- */

static int find_layer(const clcnn_graph *g, const char *name, clcnn_layer_info *info) {
    for (int i = 0; i < clcnn_graph_layer_count(g); i++)
        if (clcnn_graph_layer(g, i, info) == CLCNN_OK && !strcmp(info->name, name)) return 1;
    return 0;
}

static void expect_layer(const clcnn_graph *g, const char *name, const char *kind, int c, int h, int w) {
    clcnn_layer_info l;
    if (!find_layer(g, name, &l)) {
        CHECK(0, "no layer %s", name);
        return;
    }
    CHECK(!strcmp(l.kind, kind), "%s is a %s, want %s", name, l.kind, kind);
    const int ndim = h ? 3 : 1;
    CHECK(l.ndim == ndim && l.shape[0] == c && (ndim == 1 || (l.shape[1] == h && l.shape[2] == w)),
          "%s: shape [%d, %d, %d] (ndim %d), want [%d, %d, %d]", name, l.shape[0], l.shape[1], l.shape[2], l.ndim, c, h,
          w);
}

static void test_zoo_compact_layers(void) {
    clcnn_resnet_config cfg;
    CHECK_OK(clcnn_resnet_config_for("compact", 6, 96, &cfg));
    CHECK(cfg.stem_kernel == 3 && cfg.stem_width == 24 && !cfg.bottleneck && !cfg.se && cfg.stages == 4 &&
              cfg.classes == 6 && cfg.height == 96 && cfg.width == 96 && cfg.in_channels == 3,
          "compact config: stem %d x %d, bottleneck %d, se %d, %d stages, %d classes, %dx%d", cfg.stem_kernel,
          cfg.stem_width, cfg.bottleneck, cfg.se, cfg.stages, cfg.classes, cfg.height, cfg.width);
    static const int widths[4] = {24, 48, 96, 192};
    for (int s = 0; s < 4; s++)
        CHECK(cfg.blocks[s] == 1 && cfg.widths[s] == widths[s], "compact stage %d: %d blocks of %d, want 1 of %d", s + 1,
              cfg.blocks[s], cfg.widths[s], widths[s]);
    clcnn_graph *g = build("compact", 6, 96, 0);
    if (!g) return;
    /* 96 -> 48 (stride-2 stem, no pooling) -> 48, 24, 12, 6 through the stages. */
    expect_layer(g, "conv1", "conv2d", 24, 48, 48);
    expect_layer(g, "bn1", "batchnorm", 24, 48, 48);
    expect_layer(g, "relu", "relu", 24, 48, 48);
    expect_layer(g, "layer1.0", "add", 24, 48, 48);
    expect_layer(g, "layer2.0", "add", 48, 24, 24);
    expect_layer(g, "layer3.0", "add", 96, 12, 12);
    expect_layer(g, "layer4.0.conv2", "conv2d", 192, 6, 6);
    expect_layer(g, "layer4.0", "add", 192, 6, 6);
    expect_layer(g, "avgpool", "global_avg_pool", 192, 0, 0);
    expect_layer(g, "fc", "linear", 6, 0, 0);
    clcnn_layer_info l;
    CHECK(!find_layer(g, "maxpool", &l), "the compact stem has a maxpool layer");
    const clcnn_tensor *w = clcnn_graph_param(g, "conv1.weight");
    CHECK(w && clcnn_tensor_dim(w, 1) == 3 && clcnn_tensor_dim(w, 2) == 3 && clcnn_tensor_dim(w, 3) == 3,
          "conv1.weight is not [24, 3, 3, 3]");
    CHECK(!clcnn_graph_param(g, "layer1.0.downsample.0.weight"), "layer1.0 has a downsample (24 -> 24, stride 1)");
    for (int s = 2; s <= 4; s++) {
        char name[64];
        snprintf(name, sizeof name, "layer%d.0.downsample.0.weight", s);
        CHECK(clcnn_graph_param(g, name) != NULL, "no %s", name);
    }
    /* The torch build of compact has 692482 parameters at 10 classes (zoo_compact's
     * metadata, checked in zoo_golden_compact); 4 classes fewer is 4 x 193 fewer. */
    CHECK(trainable(g) == 691710, "compact (6 classes) has %zu trainable parameters, want 691710", trainable(g));
    clcnn_graph_destroy(g);

    /* secompact: an SE module in every block, 40 layers in all. */
    g = build("secompact", 6, 96, 0);
    if (g) {
        expect_layer(g, "layer4.0.se", "squeeze_excite", 192, 6, 6);
        const clcnn_tensor *fc1 = clcnn_graph_param(g, "layer4.0.se.fc1.weight");
        CHECK(fc1 && clcnn_tensor_dim(fc1, 0) == 16,
              "layer4.0.se.fc1 is not 16 wide (192 / 16 = 12, to the nearest multiple of 8, ties to even)");
        CHECK(clcnn_graph_layer_count(g) == 40, "secompact has %d layers, want 40", clcnn_graph_layer_count(g));
    }
    clcnn_graph_destroy(g);

    /* Raised blocks[] add identity blocks without a downsample. */
    cfg.blocks[0] = cfg.blocks[3] = 2;
    g = NULL;
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (g) {
        expect_layer(g, "layer1.1", "add", 24, 48, 48);
        expect_layer(g, "layer4.1", "add", 192, 6, 6);
        CHECK(!clcnn_graph_param(g, "layer4.1.downsample.0.weight"), "an identity block has a downsample");
    }
    clcnn_graph_destroy(g);

    /* Only 0, 3 and 7 are stems. */
    cfg.stem_kernel = 5;
    g = NULL;
    CHECK_STATUS(clcnn_resnet_build(g_ctx, &cfg, 1, &g), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(g == NULL && strstr(clcnn_last_error(g_ctx), "stem_kernel 5"), "bad stem: %s", clcnn_last_error(g_ctx));
    clcnn_graph_destroy(g);
    CHECK_STATUS(clcnn_resnet_config_for("compact2", 6, 96, &cfg), CLCNN_ERR_NOT_FOUND);
}

/* clcnn_graph_find_layer's answer for a module name (as --layer takes it). */
static void expect_module(const clcnn_graph *g, const char *module, const char *layer) {
    clcnn_layer_info l;
    const int found = clcnn_graph_find_layer(g, module, &l);
    CHECK(found >= 0 && !strcmp(l.name, layer), "module %s resolves to %s, want %s", module, found >= 0 ? l.name : "none",
          layer);
}

/* MobileNetV2 at 96x96: torchvision's names and shapes, its module names resolve to the
 * blocks' outputs, the blocks that keep their shape add their input, CAM's default layer
 * is features.18, the MLP head follows torchvision's dropout, a bad family is refused;
 * clcnn_graph_set_dropout's errors. */
static void test_zoo_mobilenet_v2_layers(void) {
    clcnn_graph *g = build("mobilenet_v2", 5, 96, 0);
    if (!g) return;
    expect_layer(g, "features.0.0", "conv2d", 32, 48, 48);
    expect_layer(g, "features.1.conv.0.0", "conv2d", 32, 48, 48); /* depthwise: no expansion in block 1 */
    expect_module(g, "features.1", "features.1.conv.2"); /* a module names its last layer */
    expect_layer(g, "features.2.conv.1.2", "relu6", 96, 24, 24);
    expect_layer(g, "features.3", "add", 24, 24, 24);
    expect_module(g, "features.14", "features.14.conv.3");
    expect_layer(g, "features.14.conv.3", "batchnorm", 160, 3, 3);
    expect_layer(g, "features.16", "add", 160, 3, 3);
    expect_module(g, "features.17", "features.17.conv.3");
    expect_module(g, "features.18", "features.18.2");
    expect_layer(g, "features.18.2", "relu6", 1280, 3, 3);
    expect_layer(g, "classifier.0", "dropout", 1280, 0, 0);
    expect_layer(g, "classifier.1", "linear", 5, 0, 0);
    const char *cam = clcnn_cam_default_layer(g);
    CHECK(cam && !strcmp(cam, "features.18.2"), "CAM's default layer is %s, want features.18.2", cam ? cam : "none");
    const clcnn_tensor *dw = clcnn_graph_param(g, "features.4.conv.1.0.weight");
    CHECK(dw && clcnn_tensor_dim(dw, 0) == 144 && clcnn_tensor_dim(dw, 1) == 1, "features.4's depthwise weight");
    CHECK(!clcnn_graph_param(g, "features.1.conv.3.weight"), "block 1 has a projection batch norm at conv.3");
    /* clcnn_graph_set_dropout (train_mobilenet_v2_matches_pytorch relies on its effect) */
    CHECK_OK(clcnn_graph_set_dropout(g, "classifier.0", 0.5f));
    CHECK_STATUS(clcnn_graph_set_dropout(g, "classifier.1", 0.1f), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(g_ctx), "classifier.1 is a linear, not a dropout or stochastic depth"), "%s",
          clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_graph_set_dropout(g, "classifier.0", 1.0f), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_set_dropout(g, "classifier.9", 0.1f), CLCNN_ERR_NOT_FOUND);
    clcnn_graph_destroy(g);

    g = build("mobilenet_v2", 5, 96, 64);
    if (g) {
        expect_layer(g, "classifier.1", "linear", 64, 0, 0);
        expect_layer(g, "classifier.2", "relu", 64, 0, 0);
        expect_layer(g, "classifier.3", "dropout", 64, 0, 0);
        expect_layer(g, "classifier.4", "linear", 5, 0, 0);
    }
    clcnn_graph_destroy(g);

    clcnn_resnet_config cfg;
    CHECK_OK(clcnn_resnet_config_for("mobilenet_v2", 5, 96, &cfg));
    cfg.family = (clcnn_family)7;
    g = NULL;
    CHECK_STATUS(clcnn_resnet_build(g_ctx, &cfg, 1, &g), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(g == NULL && strstr(clcnn_last_error(g_ctx), "family 7"), "bad family: %s", clcnn_last_error(g_ctx));
}

/* EfficientNet: torchvision's names and shapes at 224x224 (B0), parameter counts for B0,
 * B1 and B7 (widths and depths scaled; B1 and B7 at 64x64, which changes no tensor), the MBConv inside (expansion absent in stage 1, SE
 * with SiLU, stochastic depth and the addition where a block keeps its shape), CAM's
 * default layer features.8, and B0's classifier dropout 0.2 against B7's 0.5. */
static void test_zoo_efficientnet_layers(void) {
    static const struct {
        const char *arch;
        size_t params; /* torchvision's, 10 classes */
        int last_block, last_width;
    } nets[] = {{"efficientnet_b0", 4020358, 0, 1280}, {"efficientnet_b1", 6525994, 1, 1280},
                {"efficientnet_b7", 63812570, 3, 2560}};
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        const int side = i == 0 ? 224 : 64, last = i == 0 ? 7 : 2;
        clcnn_graph *g = build(nets[i].arch, 10, side, 0);
        if (!g) return;
        CHECK(trainable(g) == nets[i].params, "%s: %zu trainable parameters, torchvision %zu", nets[i].arch,
              trainable(g), nets[i].params);
        char name[64];
        snprintf(name, sizeof name, "features.7.%d", nets[i].last_block);
        clcnn_layer_info l;
        CHECK(clcnn_graph_find_layer(g, name, &l) > 0, "%s: no block %s", nets[i].arch, name);
        expect_layer(g, "features.8.2", "silu", nets[i].last_width, last, last);
        const char *cam = clcnn_cam_default_layer(g);
        CHECK(cam && !strcmp(cam, "features.8.2"), "%s: CAM's default layer %s", nets[i].arch, cam ? cam : "none");
        if (i == 0) {
            expect_layer(g, "features.0.0", "conv2d", 32, 112, 112);
            expect_layer(g, "features.1.0.block.0.0", "conv2d", 32, 112, 112); /* depthwise first: no expansion */
            expect_layer(g, "features.1.0.block.1", "squeeze_excite", 32, 112, 112);
            expect_layer(g, "features.2.0.block.0.0", "conv2d", 96, 112, 112);
            expect_layer(g, "features.3.0.block.1.0", "conv2d", 144, 28, 28); /* 5x5 stride 2 */
            expect_layer(g, "features.3.1.stochastic_depth", "stochastic_depth", 40, 28, 28);
            expect_layer(g, "features.3.1", "add", 40, 28, 28);
            expect_layer(g, "classifier.1", "linear", 10, 0, 0);
            const clcnn_tensor *fc1 = clcnn_graph_param(g, "features.2.0.block.2.fc1.weight");
            CHECK(fc1 && clcnn_tensor_dim(fc1, 0) == 4 && clcnn_tensor_dim(fc1, 1) == 96,
                  "features.2.0's SE squeezes 96 channels to 16 / 4 = 4");
            CHECK_STATUS(clcnn_graph_set_dropout(g, "classifier.0", 0.2f), CLCNN_OK);
            CHECK_STATUS(clcnn_graph_set_dropout(g, "features.3.1.stochastic_depth", 0.0f), CLCNN_OK);
        }
        clcnn_graph_destroy(g);
    }
    clcnn_resnet_config cfg;
    CHECK_STATUS(clcnn_resnet_config_for("efficientnet_b8", 10, 224, &cfg), CLCNN_ERR_NOT_FOUND);
    CHECK_OK(clcnn_resnet_config_for("efficientnet_b0", 10, 224, &cfg));
    cfg.variant = 9;
    clcnn_graph *g = NULL;
    CHECK_STATUS(clcnn_resnet_build(g_ctx, &cfg, 1, &g), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(g == NULL && strstr(clcnn_last_error(g_ctx), "EfficientNet-B9"), "%s", clcnn_last_error(g_ctx));
}

/* Inception-v3 at 299x299 (torchvision's size) and 128x128: torchvision's module names
 * resolve to the modules' outputs (the joined branches, Conv2d_4a_3x3's ReLU), the 1x7
 * and 7x1 convolutions keep their pixels, AuxLogits exists at 299 (its tensors saved and
 * loaded, not learning) and not at 128, where the tensor count is torchvision's without
 * it; CAM's default layer is Mixed_7c at 299; pictures under 75x75 are refused. */
static void test_zoo_inception_v3_layers(void) {
    clcnn_graph *g = build("inception_v3", 10, 299, 0);
    if (!g) return;
    expect_layer(g, "Conv2d_1a_3x3.conv", "conv2d", 32, 149, 149);
    expect_layer(g, "Conv2d_4a_3x3", "relu", 192, 71, 71);
    expect_layer(g, "maxpool2", "maxpool", 192, 35, 35);
    expect_layer(g, "Mixed_5b", "concat", 256, 35, 35);
    expect_layer(g, "Mixed_6a", "concat", 768, 17, 17);
    expect_layer(g, "Mixed_6b.branch7x7_2.conv", "conv2d", 128, 17, 17);
    expect_layer(g, "Mixed_6e.branch7x7dbl_5", "relu", 192, 17, 17);
    expect_layer(g, "Mixed_7b.branch3x3", "concat", 768, 8, 8);
    expect_layer(g, "Mixed_7c", "concat", 2048, 8, 8);
    expect_layer(g, "AuxLogits.conv1", "relu", 768, 1, 1);
    expect_layer(g, "fc", "linear", 10, 0, 0);
    const char *cam = clcnn_cam_default_layer(g);
    CHECK(cam && !strcmp(cam, "Mixed_7c"), "CAM's default layer is %s, want Mixed_7c", cam ? cam : "none");
    CHECK(clcnn_graph_param(g, "AuxLogits.fc.weight") && !clcnn_graph_param_learns(g, "AuxLogits.fc.weight") &&
              clcnn_graph_param_learns(g, "fc.weight"),
          "AuxLogits.fc is kept and does not learn; fc learns");
    CHECK(trainable(g) == 21806058, "%zu parameters learn, torchvision's without AuxLogits 21806058", trainable(g));
    clcnn_graph_destroy(g);
    if ((g = build("inception_v3", 10, 128, 0)) != NULL) {
        CHECK(!clcnn_graph_param(g, "AuxLogits.fc.weight"), "AuxLogits at 128x128, where its convolution cannot fit");
        expect_layer(g, "Mixed_7c", "concat", 2048, 2, 2);
    }
    clcnn_graph_destroy(g);
    clcnn_resnet_config cfg;
    CHECK_OK(clcnn_resnet_config_for("inception_v3", 10, 74, &cfg));
    g = NULL;
    CHECK_STATUS(clcnn_resnet_build(g_ctx, &cfg, 1, &g), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(g == NULL && strstr(clcnn_last_error(g_ctx), "at least 75x75"), "%s", clcnn_last_error(g_ctx));
}

/* Xception at 299x299 in timm's names: the entry blocks' skip convolutions, the middle
 * blocks' identity sums, block12 growing last, timm's parameter count (22,855,952 with
 * 1000 classes), CAM's default layer act4 (10x10); pictures under 32x32 refused. */
static void test_zoo_xception_layers(void) {
    clcnn_graph *g = build("xception", 1000, 299, 0);
    if (!g) return;
    expect_layer(g, "act2", "relu", 64, 147, 147);
    expect_layer(g, "block1.skipbn", "batchnorm", 128, 74, 74);
    expect_layer(g, "block1.rep.0.conv1", "conv2d", 64, 147, 147);
    expect_layer(g, "block1.rep.5", "maxpool", 128, 74, 74);
    expect_layer(g, "block1", "add", 128, 74, 74);
    expect_layer(g, "block3", "add", 728, 19, 19);
    expect_layer(g, "block7.rep.0", "relu", 728, 19, 19);
    expect_layer(g, "block7.rep.8", "batchnorm", 728, 19, 19);
    expect_layer(g, "block12.rep.1.pointwise", "conv2d", 728, 19, 19);
    expect_layer(g, "block12.rep.4.pointwise", "conv2d", 1024, 19, 19);
    expect_layer(g, "block12", "add", 1024, 10, 10);
    expect_layer(g, "act4", "relu", 2048, 10, 10);
    CHECK(!clcnn_graph_param(g, "block7.skip.weight"), "a middle block has a skip convolution");
    CHECK(trainable(g) == 22855952, "%zu trainable parameters, timm's 22855952", trainable(g));
    const char *cam = clcnn_cam_default_layer(g);
    CHECK(cam && !strcmp(cam, "act4"), "CAM's default layer is %s, want act4", cam ? cam : "none");
    clcnn_graph_destroy(g);
    clcnn_resnet_config cfg;
    CHECK_OK(clcnn_resnet_config_for("xception", 10, 31, &cfg));
    g = NULL;
    CHECK_STATUS(clcnn_resnet_build(g_ctx, &cfg, 1, &g), CLCNN_ERR_INVALID_ARGUMENT);
}

/* MobileNetV3 at 224x224: torchvision's names, shapes and parameter counts for Large and
 * Small (4,214,842 and 1,528,106 with 10 classes), the block without expansion, SE with
 * a hardsigmoid gate, hardswish, the classifier's hidden width (1280, 1024) and its
 * replacement by head_hidden, CAM's default layer (the last features entry). */
static void test_zoo_mobilenet_v3_layers(void) {
    clcnn_graph *g = build("mobilenet_v3_large", 10, 224, 0);
    if (!g) return;
    CHECK(trainable(g) == 4214842, "large: %zu trainable parameters, torchvision 4214842", trainable(g));
    expect_layer(g, "features.0.2", "hardswish", 16, 112, 112);
    expect_layer(g, "features.1.block.0.0", "conv2d", 16, 112, 112); /* depthwise first: no expansion */
    expect_layer(g, "features.1", "add", 16, 112, 112);
    expect_layer(g, "features.4.block.2", "squeeze_excite", 72, 28, 28);
    expect_layer(g, "features.7.block.1.2", "hardswish", 240, 14, 14);
    expect_layer(g, "features.16.2", "hardswish", 960, 7, 7);
    expect_layer(g, "classifier.0", "linear", 1280, 0, 0);
    expect_layer(g, "classifier.1", "hardswish", 1280, 0, 0);
    expect_layer(g, "classifier.3", "linear", 10, 0, 0);
    const clcnn_tensor *fc1 = clcnn_graph_param(g, "features.4.block.2.fc1.weight");
    CHECK(fc1 && clcnn_tensor_dim(fc1, 0) == 24, "features.4's SE squeezes 72 channels to _make_divisible(18) = 24");
    const char *cam = clcnn_cam_default_layer(g);
    CHECK(cam && !strcmp(cam, "features.16.2"), "CAM's default layer %s", cam ? cam : "none");
    clcnn_graph_destroy(g);
    if ((g = build("mobilenet_v3_small", 10, 224, 0)) != NULL) {
        CHECK(trainable(g) == 1528106, "small: %zu trainable parameters, torchvision 1528106", trainable(g));
        expect_layer(g, "features.1.block.1", "squeeze_excite", 16, 56, 56);
        expect_layer(g, "features.12.2", "hardswish", 576, 7, 7);
        expect_layer(g, "classifier.0", "linear", 1024, 0, 0);
    }
    clcnn_graph_destroy(g);
    if ((g = build("mobilenet_v3_small", 10, 224, 48)) != NULL) expect_layer(g, "classifier.0", "linear", 48, 0, 0);
    clcnn_graph_destroy(g);
}

/* ---- golden logits ---- */

static void golden(const char *arch) {
    char file[64];
    snprintf(file, sizeof file, "zoo_%s.safetensors", arch);
    clcnn_weights *w = NULL;
    clcnn_graph *g = NULL;
    float *got = NULL, *want = NULL;
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path(file), &w));
    if (!w) return;
    const int classes = tu_golden_meta_int(w, "classes"), size = tu_golden_meta_int(w, "size"), batch = tu_golden_meta_int(w, "batch");
    const int seed = tu_golden_meta_int(w, "seed"), tensors = tu_golden_meta_int(w, "tensors");
    const char *gain = clcnn_weights_metadata(w, "bn_gain"); /* detinit's, where it is not 1 */
    const char *input = clcnn_weights_metadata(w, "input"), *params = clcnn_weights_metadata(w, "parameters");
    const char *hash = clcnn_weights_metadata(w, "names_fnv1a64");
    const clcnn_tensor *logits = clcnn_weights_get(w, "logits");
    CHECK(input && params && hash && logits && classes > 0 && batch > 0 && size > 0, "%s: incomplete golden", file);
    if (test_failures()) goto done;
    CHECK(clcnn_tensor_numel(logits) == (size_t)batch * classes, "%s: logits are not [%d, %d]", file, batch, classes);
    if (test_failures()) goto done;

    const double t0 = clock_now_s();
    if (!(g = build(arch, classes, size, 0))) goto done;
    /* Same tensors in the same order with the same shapes, and as many parameters. */
    CHECK(clcnn_graph_param_count(g) == tensors, "%s: %d tensors, torch %d", arch, clcnn_graph_param_count(g), tensors);
    char mine[32];
    snprintf(mine, sizeof mine, "%016llx", (unsigned long long)names_hash(g, 0));
    CHECK(!strcmp(mine, hash), "%s: tensor names/shapes hash %s, torch's %s; clcnn's list (diff it with "
          "make_golden_zoo.py --names %s %d):", arch, mine, hash, arch, classes);
    if (strcmp(mine, hash)) names_hash(g, 1);
    CHECK(trainable(g) == strtoull(params, NULL, 10), "%s: %zu trainable parameters, torch %s", arch, trainable(g),
          params);
    const double tb = clock_now_s();
    CHECK_OK(detinit_graph_gain(g, (uint64_t)seed, gain ? strtod(gain, NULL) : 1.0));
    const double t1 = clock_now_s();
    got = run(g, input, batch, size, (uint64_t)seed, (size_t)classes, NULL);
    const double t2 = clock_now_s();
    want = malloc((size_t)batch * classes * sizeof *want);
    if (!got || !want) goto done;
    CHECK_OK(clcnn_tensor_read(logits, want, (size_t)batch * classes));
    const double err = tu_worst_row_error(got, want, batch, classes);
    printf("    %s %dx%d batch %d: build %.2f s, fill %.2f s, forward %.2f s; worst row relative error %.2e\n", arch,
           size, size, batch, tb - t0, t1 - tb, t2 - t1, err);
    CHECK(err <= GOLDEN_RTOL, "%s: max|clcnn - torch| = %.3g of the row's max|torch|, over %g", arch, err, GOLDEN_RTOL);
    for (int r = 0; r < batch && err > GOLDEN_RTOL; r++)
        for (int c = 0; c < classes; c++)
            printf("    [%d,%d] clcnn %.6f torch %.6f\n", r, c, got[r * classes + c], want[r * classes + c]);
    /* Not degenerate: each row spans a range, and the images' rows differ, by far more
     * than the tolerance (the golden script enforces the same on torch's side). */
    for (int r = 0; r < batch; r++) {
        float lo = got[r * classes], hi = lo, scale = 0, diff = 0;
        for (int c = 0; c < classes; c++) {
            const float v = got[r * classes + c];
            lo = fminf(lo, v);
            hi = fmaxf(hi, v);
            scale = fmaxf(scale, fabsf(v));
            if (r > 0) diff = fmaxf(diff, fabsf(v - got[c]));
        }
        CHECK(hi - lo > 0.05f * scale, "%s row %d: logits span only %g of %g", arch, r, hi - lo, scale);
        CHECK(r == 0 || diff > 0.02f * scale, "%s: image %d's logits differ from image 0's by only %g (of %g)", arch, r,
              diff, scale);
    }
done:
    free(got);
    free(want);
    clcnn_graph_destroy(g);
    clcnn_weights_destroy(w);
}

static void test_zoo_golden_resnet18(void) { golden("resnet18"); }
static void test_zoo_golden_resnet50(void) { golden("resnet50"); }
static void test_zoo_golden_seresnet50(void) { golden("seresnet50"); }
static void test_zoo_golden_resnet101(void) { golden("resnet101"); }
static void test_zoo_golden_compact(void) { golden("compact"); }
static void test_zoo_golden_mobilenet_v2(void) { golden("mobilenet_v2"); }
static void test_zoo_golden_efficientnet_b0(void) { golden("efficientnet_b0"); }
static void test_zoo_golden_inception_v3(void) { golden("inception_v3"); }
static void test_zoo_golden_xception(void) { golden("xception"); }
static void test_zoo_golden_mobilenet_v3_large(void) { golden("mobilenet_v3_large"); }

/* ---- files ---- */

/* A scratch folder and the files the tests write in it. */
typedef struct {
    tmptree t;
    char model[128], model2[128], io[128];
} scratch;

static int scratch_open(scratch *s) {
    if (!tmptree_open(&s->t, "zoo")) return 0;
    snprintf(s->model, sizeof s->model, "%s/model.safetensors", s->t.root);
    snprintf(s->model2, sizeof s->model2, "%s/model2.safetensors", s->t.root);
    snprintf(s->io, sizeof s->io, "%s/io.safetensors", s->t.root);
    return 1;
}

/* A safetensors file of two F32 tensors, "input" [n, 3, size, size] and "logits"
 * [n, classes] (this host is little-endian, as the format). */
static int write_io(const char *path, const float *x, int n, int size, const float *logits, int classes) {
    const size_t nx = (size_t)n * 3 * size * size, nl = (size_t)n * classes;
    char header[512];
    int len = snprintf(header, sizeof header,
                       "{\"input\":{\"dtype\":\"F32\",\"shape\":[%d,3,%d,%d],\"data_offsets\":[0,%zu]},"
                       "\"logits\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}}",
                       n, size, size, nx * 4, n, classes, nx * 4, (nx + nl) * 4);
    while (len % 8) header[len++] = ' ';
    const uint64_t hlen = (uint64_t)len;
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    const int ok = fwrite(&hlen, 8, 1, f) == 1 && fwrite(header, 1, (size_t)len, f) == (size_t)len &&
                   fwrite(x, 4, nx, f) == nx && fwrite(logits, 4, nl, f) == nl;
    return (fclose(f) == 0) & ok;
}

static void save_with_meta(const clcnn_graph *g, const char *path, const char *arch, int classes, int head_hidden) {
    char cls[16], hidden[16];
    snprintf(cls, sizeof cls, "%d", classes);
    snprintf(hidden, sizeof hidden, "%d", head_hidden);
    const char *keys[] = {"arch", "classes", "head", "head_hidden"};
    const char *values[] = {arch, cls, head_hidden ? "mlp" : "fc", hidden};
    CHECK_OK(clcnn_graph_save(g, path, head_hidden ? 4 : 3, keys, values));
}

/* A MobileNetV2 file without clcnn's metadata (as torchvision's state_dict converts)
 * opens with only its architecture given: classes and the MLP head's width come from
 * classifier.1 (and classifier.4). */
static void test_zoo_mobilenet_v2_head_from_shapes(void) {
    scratch s;
    if (!scratch_open(&s)) return;
    static const struct {
        int classes, hidden;
    } cases[] = {{6, 0}, {3, 24}};
    for (int i = 0; i < 2; i++) {
        clcnn_graph *g = build("mobilenet_v2", cases[i].classes, 64, cases[i].hidden), *opened = NULL;
        if (!g) break;
        CHECK_OK(clcnn_graph_save(g, s.model, 0, NULL, NULL));
        const clcnn_model_desc given = {.arch = "mobilenet_v2", .size = 64};
        clcnn_model_desc d = {0};
        CHECK_OK(clcnn_model_open(g_ctx, s.model, &given, &opened, &d));
        CHECK(d.classes == cases[i].classes && d.head_hidden == cases[i].hidden,
              "classes %d, hidden %d from the shapes; want %d, %d", d.classes, d.head_hidden, cases[i].classes,
              cases[i].hidden);
        CHECK(opened && clcnn_graph_param_count(opened) == clcnn_graph_param_count(g), "the opened network differs");
        clcnn_model_desc_free(&d);
        clcnn_graph_destroy(opened);
        clcnn_graph_destroy(g);
    }
    tmptree_close(&s.t);
}

/* The metadata convert_torchvision.py writes (comma-separated mean, std and class_names,
 * input_size) describes the model as clcnn's own keys do: Inception-v3's transform_input
 * as mean and std 0.5, the ImageNet names; a count of names other than the classes' is
 * refused. */
static void test_zoo_converted_metadata(void) {
    scratch s;
    clcnn_graph *g = build("compact", 3, 32, 0), *opened = NULL;
    if (!g || !scratch_open(&s)) {
        clcnn_graph_destroy(g);
        return;
    }
    const char *keys[] = {"arch", "classes", "class_names", "input_size", "mean", "std", "head"};
    const char *values[] = {"compact", "3", "tench,goldfish,great white shark", "48", "0.5,0.5,0.5", "0.5,0.5,0.5", "fc"};
    CHECK_OK(clcnn_graph_save(g, s.model, 7, keys, values));
    clcnn_model_desc d = {0};
    CHECK_OK(clcnn_model_open(g_ctx, s.model, NULL, &opened, &d));
    if (opened) {
        CHECK(d.classes == 3 && d.class_names && !strcmp(d.class_names[2], "great white shark") && d.size == 48,
              "classes %d, names %s, size %d", d.classes, d.class_names ? d.class_names[2] : "none", d.size);
        for (int c = 0; c < 3; c++)
            CHECK(d.norm.mean[c] == 0.5f && d.norm.std[c] == 0.5f, "channel %d: mean %g std %g", c,
                  (double)d.norm.mean[c], (double)d.norm.std[c]);
    }
    clcnn_model_desc_free(&d);
    clcnn_graph_destroy(opened);
    opened = NULL;
    values[2] = "tench,goldfish";
    CHECK_OK(clcnn_graph_save(g, s.model2, 7, keys, values));
    CHECK_STATUS(clcnn_model_open(g_ctx, s.model2, NULL, &opened, NULL), CLCNN_ERR_FORMAT);
    CHECK(!opened && strstr(clcnn_last_error(g_ctx), "2 names for 3 classes"), "%s", clcnn_last_error(g_ctx));
    clcnn_graph_destroy(g);
    tmptree_close(&s.t);
}

/* save -> load into a fresh graph -> save: the same bytes. */
static void test_zoo_save_load_save(void) {
    scratch s;
    clcnn_graph *g = build("seresnet18", 7, 64, 0), *fresh = build("seresnet18", 7, 64, 0);
    clcnn_weights *w = NULL;
    unsigned char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    if (!g || !fresh || !scratch_open(&s)) goto done;
    CHECK_OK(detinit_graph(g, 11));
    save_with_meta(g, s.model, "seresnet18", 7, 0);
    CHECK_OK(clcnn_weights_load(g_ctx, s.model, &w));
    int loaded = 0;
    if (w) CHECK_OK(clcnn_graph_load(fresh, w, CLCNN_LOAD_STRICT, &loaded));
    CHECK(loaded == clcnn_graph_param_count(g), "loaded %d of %d tensors", loaded, clcnn_graph_param_count(g));
    save_with_meta(fresh, s.model2, "seresnet18", 7, 0);
    a = tu_read_file(s.model, &na);
    b = tu_read_file(s.model2, &nb);
    CHECK(a && b && na == nb && na > 4 * trainable(g), "file sizes %zu and %zu", na, nb);
    if (a && b && na == nb) {
        size_t i = 0;
        while (i < na && a[i] == b[i]) i++;
        CHECK(i == na, "the second save differs from the first at byte %zu of %zu", i, na);
    }
    tmptree_close(&s.t);
done:
    free(a);
    free(b);
    clcnn_weights_destroy(w);
    clcnn_graph_destroy(g);
    clcnn_graph_destroy(fresh);
}

/* ---- PyTorch reads clcnn's files ---- */

/* Run cmd, echo its output indented; its exit status, or -1. */
static int run_command(const char *cmd, char *tail, size_t tail_size) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    tail[0] = 0;
    while (fgets(line, sizeof line, p)) {
        printf("      %s", line);
        snprintf(tail, tail_size, "%s", line);
    }
    const int st = pclose(p);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Build arch, fill it, run it, save it and its input and logits, and have
 * check_torch_load.py load the file strictly into torch and compare the logits. */
static void torch_loads(const char *arch, int classes, int size, int head_hidden) {
    static char reason[600];
    if (getenv("CLCNN_TEST_SKIP_TORCH") && *getenv("CLCNN_TEST_SKIP_TORCH")) {
        /* the sanitizer and GPU-family runs: these check files and PyTorch, not kernels */
        test_skip("CLCNN_TEST_SKIP_TORCH is set: the PyTorch load checks run in the plain make test");
        return;
    }
    const char *python = getenv("CLCNN_TEST_PYTHON");
    if (!python || !*python) python = PYTHON;
    if (access(python, X_OK) != 0) {
        snprintf(reason, sizeof reason, "%s is not there: cannot check the file in PyTorch", python);
        test_skip(reason);
        return;
    }
    if (access(CHECK_SCRIPT, R_OK) != 0) {
        test_skip(CHECK_SCRIPT " is not readable from the working directory (run from the repository root)");
        return;
    }
    scratch s;
    clcnn_graph *g = build(arch, classes, size, head_hidden);
    float *x = NULL, *logits = NULL;
    if (!g || !scratch_open(&s)) goto done;
    const double t0 = clock_now_s();
    /* MobileNetV2's and EfficientNet's images fade out at detinit's usual gammas
     * (make_golden_zoo.py's BN_GAINS) */
    const double gain = !strcmp(arch, "mobilenet_v2")                                   ? 1.75
                        : !strncmp(arch, "efficientnet", 12) || !strcmp(arch, "inception_v3") ? 2.0
                        : !strncmp(arch, "mobilenet_v3", 12)                                  ? 1.6
                                                                                              : 1.0;
    CHECK_OK(detinit_graph_gain(g, 5, gain));
    const double t1 = clock_now_s();
    logits = run(g, "torch_load.input", 2, size, 5, (size_t)classes, &x);
    const double t2 = clock_now_s();
    if (logits) {
        save_with_meta(g, s.model, arch, classes, head_hidden);
        CHECK(write_io(s.io, x, 2, size, logits, classes), "cannot write %s", s.io);
    }
    printf("    %s: fill %.2f s, forward %.2f s, save %.2f s\n", arch, t1 - t0, t2 - t1, clock_now_s() - t2);
    if (!test_failures()) {
        char cmd[512], hidden[32] = "", tail[512];
        if (head_hidden) snprintf(hidden, sizeof hidden, " --head-hidden %d", head_hidden);
        snprintf(cmd, sizeof cmd, "'%s' " CHECK_SCRIPT " '%s' %s %d%s --io '%s' 2>&1", python, s.model, arch,
                 classes, hidden, s.io);
        const double t3 = clock_now_s();
        const int rc = run_command(cmd, tail, sizeof tail);
        printf("    %s: the script took %.2f s\n", arch, clock_now_s() - t3);
        if (rc == 77) { /* the script's "cannot check here": torch or torchvision missing */
            snprintf(reason, sizeof reason, "%s", tail);
            reason[strcspn(reason, "\n")] = 0;
            test_skip(reason);
        } else {
            CHECK(rc == 0, "%s exited with %d: %s", cmd, rc, tail);
        }
    }
    tmptree_close(&s.t);
done:
    free(x);
    free(logits);
    clcnn_graph_destroy(g);
}

static void test_zoo_torch_loads_resnet18(void) { torch_loads("resnet18", 10, 64, 0); }
static void test_zoo_torch_loads_resnet18_mlp(void) { torch_loads("resnet18", 3, 64, 32); }
static void test_zoo_torch_loads_seresnet50(void) { torch_loads("seresnet50", 10, 64, 0); }
static void test_zoo_torch_loads_mobilenet_v2(void) { torch_loads("mobilenet_v2", 10, 64, 0); }
static void test_zoo_torch_loads_mobilenet_v2_mlp(void) { torch_loads("mobilenet_v2", 3, 64, 32); }
static void test_zoo_torch_loads_efficientnet_b0(void) { torch_loads("efficientnet_b0", 10, 64, 0); }
static void test_zoo_torch_loads_efficientnet_b1_mlp(void) { torch_loads("efficientnet_b1", 3, 64, 16); }
static void test_zoo_torch_loads_inception_v3(void) { torch_loads("inception_v3", 10, 299, 0); } /* AuxLogits too */
static void test_zoo_torch_loads_xception_mlp(void) { torch_loads("xception", 3, 64, 32); }
static void test_zoo_torch_loads_mobilenet_v3_small_mlp(void) { torch_loads("mobilenet_v3_small", 3, 64, 48); }

const test_case test_zoo_cases[] = {
    {"zoo_compact_layers", test_zoo_compact_layers},
    {"zoo_golden_resnet18", test_zoo_golden_resnet18},
    {"zoo_golden_resnet50", test_zoo_golden_resnet50},
    {"zoo_golden_seresnet50", test_zoo_golden_seresnet50},
    {"zoo_golden_resnet101", test_zoo_golden_resnet101},
    {"zoo_golden_compact", test_zoo_golden_compact},
    {"zoo_mobilenet_v2_layers", test_zoo_mobilenet_v2_layers},
    {"zoo_golden_mobilenet_v2", test_zoo_golden_mobilenet_v2},
    {"zoo_efficientnet_layers", test_zoo_efficientnet_layers},
    {"zoo_golden_efficientnet_b0", test_zoo_golden_efficientnet_b0},
    {"zoo_inception_v3_layers", test_zoo_inception_v3_layers},
    {"zoo_golden_inception_v3", test_zoo_golden_inception_v3},
    {"zoo_xception_layers", test_zoo_xception_layers},
    {"zoo_golden_xception", test_zoo_golden_xception},
    {"zoo_mobilenet_v3_layers", test_zoo_mobilenet_v3_layers},
    {"zoo_golden_mobilenet_v3_large", test_zoo_golden_mobilenet_v3_large},
    {"zoo_mobilenet_v2_head_from_shapes", test_zoo_mobilenet_v2_head_from_shapes},
    {"zoo_converted_metadata", test_zoo_converted_metadata},
    {"zoo_save_load_save", test_zoo_save_load_save},
    {"zoo_torch_loads_resnet18", test_zoo_torch_loads_resnet18},
    {"zoo_torch_loads_resnet18_mlp", test_zoo_torch_loads_resnet18_mlp},
    {"zoo_torch_loads_seresnet50", test_zoo_torch_loads_seresnet50},
    {"zoo_torch_loads_mobilenet_v2", test_zoo_torch_loads_mobilenet_v2},
    {"zoo_torch_loads_mobilenet_v2_mlp", test_zoo_torch_loads_mobilenet_v2_mlp},
    {"zoo_torch_loads_efficientnet_b0", test_zoo_torch_loads_efficientnet_b0},
    {"zoo_torch_loads_efficientnet_b1_mlp", test_zoo_torch_loads_efficientnet_b1_mlp},
    {"zoo_torch_loads_inception_v3", test_zoo_torch_loads_inception_v3},
    {"zoo_torch_loads_xception_mlp", test_zoo_torch_loads_xception_mlp},
    {"zoo_torch_loads_mobilenet_v3_small_mlp", test_zoo_torch_loads_mobilenet_v3_small_mlp},
    {NULL, NULL},
};
