/* zoo.c: the zoo's architectures by name, and its ResNets and SE-ResNets built as graphs
 * with torchvision's names (MobileNetV2: zoo_mobilenet.c, EfficientNet: zoo_efficientnet.c, Inception-v3:
 * zoo_inception.c, Xception in timm's names: zoo_xception.c, MobileNetV3:
 * zoo_mobilenet_v3.c), so that
 * torchvision state_dicts load by name and CAM layers are named as in PyTorch.
 * Every block's output layer is called layerS.B (the residual addition with its
 * ReLU); a block's Squeeze-and-Excitation module is layerS.B.se, applied after the
 * block's last batch norm and before the addition. The compact nets for small images
 * keep the same names with a 3x3 stem and no max pooling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"
#include "zoo_internal.h"

/* max(8, C/16 rounded to the nearest multiple of 8); ties to even, as Python's round(). */
static int se_width(int channels) {
    const int r = (int)nearbyint(channels / 16.0 / 8.0) * 8;
    return r > 8 ? r : 8;
}

typedef struct {
    clcnn_graph *g;
    const clcnn_resnet_config *cfg;
    char prefix[64];
} builder;

static clcnn_status conv_bn(builder *b, const char *conv, const char *bn, const char *input, int cout, int k, int stride) {
    char cname[96], bname[96];
    snprintf(cname, sizeof cname, "%s.%s", b->prefix, conv);
    snprintf(bname, sizeof bname, "%s.%s", b->prefix, bn);
    const clcnn_conv_params p = {.stride_h = stride, .stride_w = stride, .pad_h = k / 2, .pad_w = k / 2};
    clcnn_status st = clcnn_graph_conv2d(b->g, cname, input, cout, k, k, &p, 0);
    return st != CLCNN_OK ? st : clcnn_graph_batchnorm(b->g, bname, cname);
}

/* One block reading `input` (cin channels) into layer prefix; returns its channels. */
static clcnn_status block(builder *b, const char *input, int cin, int planes, int stride, int *cout) {
    const int bottleneck = b->cfg->bottleneck, out = bottleneck ? planes * 4 : planes;
    char last_bn[96], relu[96], se[96], down[96];
    clcnn_status st;
    /* ResNet v1.5: the stride sits in the 3x3 (conv1 of a basic block, conv2 of a bottleneck). */
    if ((st = conv_bn(b, "conv1", "bn1", input, planes, bottleneck ? 1 : 3, bottleneck ? 1 : stride)) != CLCNN_OK)
        return st;
    const int n = bottleneck ? 3 : 2;
    for (int i = 2; i <= n; i++) {
        char conv[16], bn[16], prev[96];
        snprintf(relu, sizeof relu, "%s.relu%d", b->prefix, i - 1);
        snprintf(prev, sizeof prev, "%s.bn%d", b->prefix, i - 1);
        if ((st = clcnn_graph_activation(b->g, relu, prev, CLCNN_ACT_RELU)) != CLCNN_OK) return st;
        snprintf(conv, sizeof conv, "conv%d", i);
        snprintf(bn, sizeof bn, "bn%d", i);
        const int last = i == n, k = bottleneck && i == 3 ? 1 : 3, s = bottleneck && i == 2 ? stride : 1;
        if ((st = conv_bn(b, conv, bn, relu, last ? out : planes, k, s)) != CLCNN_OK) return st;
    }
    snprintf(last_bn, sizeof last_bn, "%s.bn%d", b->prefix, n);
    const char *main_path = last_bn;
    if (b->cfg->se) {
        snprintf(se, sizeof se, "%s.se", b->prefix);
        const int reduced = b->cfg->se_reduced > 0 ? b->cfg->se_reduced : se_width(out);
        if ((st = clcnn_graph_squeeze_excite(b->g, se, last_bn, reduced, NULL, CLCNN_ACT_NONE)) != CLCNN_OK) return st;
        main_path = se;
    }
    const char *identity = input;
    if (stride != 1 || cin != out) { /* torchvision's downsample: 1x1 conv + BN */
        if ((st = conv_bn(b, "downsample.0", "downsample.1", input, out, 1, stride)) != CLCNN_OK) return st;
        snprintf(down, sizeof down, "%s.downsample.1", b->prefix);
        identity = down;
    }
    *cout = out;
    return clcnn_graph_add(b->g, b->prefix, main_path, identity, CLCNN_ACT_RELU);
}

clcnn_status zoo_conv_norm_act(clcnn_graph *g, const char *prefix, const char *input, int cout, int k, int stride,
                               int groups, clcnn_activation act, zoo_norm norm, char output[ZOO_NAME]) {
    char conv[ZOO_NAME], bn[ZOO_NAME], post[ZOO_NAME];
    snprintf(conv, sizeof conv, "%s.0", prefix);
    snprintf(bn, sizeof bn, "%s.1", prefix);
    snprintf(post, sizeof post, "%s.2", prefix);
    const clcnn_conv_params p = {.stride_h = stride, .stride_w = stride, .pad_h = k / 2, .pad_w = k / 2,
                                 .groups = groups};
    clcnn_status st;
    if ((st = clcnn_graph_conv2d(g, conv, input, cout, k, k, &p, 0)) != CLCNN_OK ||
        (st = clcnn_graph_batchnorm_ex(g, bn, conv, norm.eps, norm.momentum)) != CLCNN_OK ||
        (act != CLCNN_ACT_NONE && (st = clcnn_graph_activation(g, post, bn, act)) != CLCNN_OK))
        return st;
    snprintf(output, ZOO_NAME, "%s", act != CLCNN_ACT_NONE ? post : bn); /* last: output may be the caller's input */
    return CLCNN_OK;
}

int zoo_divisible8(double v) {
    int r = (int)(v + 4) / 8 * 8;
    if (r < 8) r = 8;
    return r < 0.9 * v ? r + 8 : r;
}

clcnn_status zoo_head(clcnn_graph *g, const clcnn_resnet_config *cfg, const char *module, const char *input,
                      float first_dropout) {
    char name[4][64], prev[64];
    clcnn_status st;
    int i = 0;
    snprintf(prev, sizeof prev, "%s", input);
    if (first_dropout >= 0) {
        snprintf(prev, sizeof prev, "%s.%d", module, i++);
        if ((st = clcnn_graph_dropout(g, prev, input, first_dropout)) != CLCNN_OK) return st;
    }
    if (cfg->head_hidden <= 0) {
        if (first_dropout >= 0) snprintf(name[0], sizeof name[0], "%s.%d", module, i);
        else snprintf(name[0], sizeof name[0], "%s", module);
        return clcnn_graph_linear(g, name[0], prev, cfg->classes, 1);
    }
    for (int k = 0; k < 4; k++) snprintf(name[k], sizeof name[k], "%s.%d", module, i + k);
    if ((st = clcnn_graph_linear(g, name[0], prev, cfg->head_hidden, 1)) != CLCNN_OK ||
        (st = clcnn_graph_activation(g, name[1], name[0], CLCNN_ACT_RELU)) != CLCNN_OK ||
        (st = clcnn_graph_dropout(g, name[2], name[1], cfg->head_dropout)) != CLCNN_OK)
        return st;
    return clcnn_graph_linear(g, name[3], name[2], cfg->classes, 1);
}

static clcnn_status check_config(clcnn_context *ctx, const clcnn_resnet_config *c) {
    static const char *op = "clcnn_resnet_build";
    if (c->classes < 1 || c->in_channels < 1 || c->height < 1 || c->width < 1)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %d classes, input [%d, %d, %d]", op, c->classes,
                           c->in_channels, c->height, c->width);
    if (c->family == CLCNN_FAMILY_MOBILENET_V2) return CLCNN_OK;
    if (c->family == CLCNN_FAMILY_EFFICIENTNET) {
        if (c->variant < 0 || c->variant > 7)
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: EfficientNet-B%d (B0 to B7)", op, c->variant);
        return CLCNN_OK;
    }
    /* the smallest pictures whose every pooling still has pixels to pool */
    static const struct {
        clcnn_family family;
        int least;
        const char *name;
    } smallest[] = {{CLCNN_FAMILY_INCEPTION_V3, 75, "inception_v3"}, {CLCNN_FAMILY_XCEPTION, 32, "xception"}};
    for (size_t i = 0; i < sizeof smallest / sizeof smallest[0]; i++)
        if (c->family == smallest[i].family && (c->height < smallest[i].least || c->width < smallest[i].least))
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s needs at least %dx%d pictures, not %dx%d", op,
                               smallest[i].name, smallest[i].least, smallest[i].least, c->width, c->height);
    if (c->family == CLCNN_FAMILY_INCEPTION_V3 || c->family == CLCNN_FAMILY_XCEPTION) return CLCNN_OK;
    if (c->family == CLCNN_FAMILY_MOBILENET_V3) {
        if (c->variant < 0 || c->variant > 1)
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: MobileNetV3 variant %d (0: large, 1: small)", op,
                               c->variant);
        return CLCNN_OK;
    }
    if (c->family != CLCNN_FAMILY_RESNET)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT,
                           "%s: family %d (0: ResNet, 1: MobileNetV2, 2: EfficientNet, 3: Inception-v3, 4: Xception, "
                           "5: MobileNetV3)", op, (int)c->family);
    if (c->stages < 1 || c->stages > 4)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: %d stages (1 to 4)", op, c->stages);
    for (int s = 0; s < c->stages; s++)
        if (c->blocks[s] < 1 || c->widths[s] < 1)
            return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: stage %d has %d blocks of width %d", op, s + 1,
                               c->blocks[s], c->widths[s]);
    if (c->stem_kernel != 0 && c->stem_kernel != 3 && c->stem_kernel != 7)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: stem_kernel %d (0 or 7: torchvision's stem, 3: compact)",
                           op, c->stem_kernel);
    return CLCNN_OK;
}

/* The compact nets: a 3x3 stride-2 stem of 24 channels, one basic block per stage. */
static int compact_config(const char *arch, clcnn_resnet_config *cfg) {
    const int se = !strcmp(arch, "secompact");
    if (!se && strcmp(arch, "compact")) return 0;
    *cfg = (clcnn_resnet_config){.stages = 4, .blocks = {1, 1, 1, 1}, .widths = {24, 48, 96, 192}, .stem_width = 24,
                                 .stem_kernel = 3, .se = se};
    return 1;
}

/* torchvision's layouts: resnetN and seresnetN for the five depths. */
static int resnet_config(const char *arch, clcnn_resnet_config *cfg) {
    static const struct {
        int depth, bottleneck, blocks[4];
    } table[] = {{18, 0, {2, 2, 2, 2}}, {34, 0, {3, 4, 6, 3}}, {50, 1, {3, 4, 6, 3}}, {101, 1, {3, 4, 23, 3}},
                 {152, 1, {3, 8, 36, 3}}};
    const int se = !strncmp(arch, "se", 2);
    const char *digits = arch + (se ? 2 : 0);
    if (strncmp(digits, "resnet", 6)) return 0;
    char *end;
    const long depth = strtol(digits + 6, &end, 10);
    for (size_t i = 0; !*end && end != digits + 6 && i < sizeof table / sizeof table[0]; i++) {
        if (table[i].depth != depth) continue;
        *cfg = (clcnn_resnet_config){.bottleneck = table[i].bottleneck, .stages = 4, .widths = {64, 128, 256, 512},
                                     .se = se};
        memcpy(cfg->blocks, table[i].blocks, sizeof cfg->blocks);
        return 1;
    }
    return 0;
}

clcnn_status clcnn_resnet_config_for(const char *arch, int classes, int size, clcnn_resnet_config *cfg) {
    if (!arch || !cfg) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_resnet_config_for: NULL argument");
    if (!strcmp(arch, "mobilenet_v2"))
        *cfg = (clcnn_resnet_config){.family = CLCNN_FAMILY_MOBILENET_V2};
    else if (!strcmp(arch, "inception_v3"))
        *cfg = (clcnn_resnet_config){.family = CLCNN_FAMILY_INCEPTION_V3};
    else if (!strcmp(arch, "xception"))
        *cfg = (clcnn_resnet_config){.family = CLCNN_FAMILY_XCEPTION};
    else if (!strcmp(arch, "mobilenet_v3_large") || !strcmp(arch, "mobilenet_v3_small"))
        *cfg = (clcnn_resnet_config){.family = CLCNN_FAMILY_MOBILENET_V3, .variant = !strcmp(arch + 13, "small")};
    else if (!strncmp(arch, "efficientnet_b", 14) && arch[14] >= '0' && arch[14] <= '7' && !arch[15])
        *cfg = (clcnn_resnet_config){.family = CLCNN_FAMILY_EFFICIENTNET, .variant = arch[14] - '0'};
    else if (!resnet_config(arch, cfg) && !compact_config(arch, cfg))
        return rt_error(NULL, CLCNN_ERR_NOT_FOUND,
                           "unknown architecture %s (known: resnet18, resnet34, resnet50, resnet101, resnet152, "
                           "seresnet18 ... seresnet152, compact, secompact, mobilenet_v2, efficientnet_b0 ... "
                           "efficientnet_b7, inception_v3, xception, mobilenet_v3_large, mobilenet_v3_small)", arch);
    cfg->classes = classes;
    cfg->in_channels = 3;
    cfg->height = cfg->width = size;
    return CLCNN_OK;
}

/* conv1 + bn1 + relu, then torchvision's max pooling after a 7x7 stem; the compact
 * 3x3 stem keeps its resolution for small images. *output names the last layer. */
static clcnn_status stem(clcnn_graph *g, const clcnn_resnet_config *cfg, int width, const char **output) {
    const int k = cfg->stem_kernel == 3 ? 3 : 7;
    const clcnn_conv_params conv = {.stride_h = 2, .stride_w = 2, .pad_h = k / 2, .pad_w = k / 2};
    const clcnn_pool_params mp = {.mode = CLCNN_POOL_MAX, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                                  .pad_h = 1, .pad_w = 1};
    clcnn_status st;
    if ((st = clcnn_graph_conv2d(g, "conv1", "input", width, k, k, &conv, 0)) != CLCNN_OK ||
        (st = clcnn_graph_batchnorm(g, "bn1", "conv1")) != CLCNN_OK ||
        (st = clcnn_graph_activation(g, "relu", "bn1", CLCNN_ACT_RELU)) != CLCNN_OK)
        return st;
    *output = "relu";
    if (k == 3) return CLCNN_OK;
    *output = "maxpool";
    return clcnn_graph_pool2d(g, "maxpool", "relu", &mp);
}

/* The ResNets' and SE-ResNets' layers (torchvision's names). */
static clcnn_status resnet_layers(clcnn_graph *g, const clcnn_resnet_config *cfg) {
    builder b = {.cfg = cfg, .g = g};
    clcnn_status st;
    const int width = cfg->stem_width > 0 ? cfg->stem_width : cfg->widths[0];
    const char *stem_out;
    if ((st = stem(b.g, cfg, width, &stem_out)) != CLCNN_OK) return st;
    char input[96];
    snprintf(input, sizeof input, "%s", stem_out);
    int channels = width;
    for (int s = 0; s < cfg->stages; s++)
        for (int i = 0; i < cfg->blocks[s]; i++) {
            snprintf(b.prefix, sizeof b.prefix, "layer%d.%d", s + 1, i);
            const int stride = s > 0 && i == 0 ? 2 : 1;
            if ((st = block(&b, input, channels, cfg->widths[s], stride, &channels)) != CLCNN_OK) return st;
            snprintf(input, sizeof input, "%s", b.prefix);
        }
    if ((st = clcnn_graph_global_avg_pool(b.g, "avgpool", input)) != CLCNN_OK) return st;
    return zoo_head(b.g, cfg, "fc", "avgpool", -1);
}

clcnn_status zoo_build(clcnn_context *ctx, const clcnn_resnet_config *cfg, uint64_t seed, int init_params,
                       clcnn_graph **out) {
    if (!ctx || !cfg || !out) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_resnet_build: NULL argument");
    *out = NULL;
    clcnn_status st = check_config(ctx, cfg);
    if (st != CLCNN_OK) return st;
    static const zoo_layers_fn families[] = {
        [CLCNN_FAMILY_RESNET] = resnet_layers,
        [CLCNN_FAMILY_MOBILENET_V2] = zoo_mobilenet_v2_layers, [CLCNN_FAMILY_EFFICIENTNET] = zoo_efficientnet_layers,
        [CLCNN_FAMILY_INCEPTION_V3] = zoo_inception_v3_layers, [CLCNN_FAMILY_XCEPTION] = zoo_xception_layers,
        [CLCNN_FAMILY_MOBILENET_V3] = zoo_mobilenet_v3_layers};
    clcnn_graph *g = NULL;
    if ((st = graph_create(ctx, cfg->in_channels, cfg->height, cfg->width, seed, init_params, &g)) != CLCNN_OK)
        return st;
    if ((st = families[cfg->family](g, cfg)) != CLCNN_OK) { /* check_config knows the family */
        clcnn_graph_destroy(g);
        return st;
    }
    g->init_params = 1; /* what is added later (a new head) draws its initial values */
    *out = g;
    return CLCNN_OK;
}

clcnn_status clcnn_resnet_build(clcnn_context *ctx, const clcnn_resnet_config *cfg, uint64_t seed, clcnn_graph **out) {
    return zoo_build(ctx, cfg, seed, 1, out);
}

