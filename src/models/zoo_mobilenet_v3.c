/* zoo_mobilenet_v3.c: torchvision's MobileNetV3-Large and -Small (width 1.0) as graphs
 * with its names. features.0 is a hardswish Conv2dNormActivation; each inverted
 * residual block features.N holds block.M: the 1x1 expansion (absent when the width
 * stays), the k x k depthwise convolution (ReLU or hardswish), Squeeze-and-Excitation
 * where the block has it (ReLU inside, hardsigmoid gate, _make_divisible(exp / 4)), and
 * the 1x1 projection without activation; a block that keeps its shape adds its input, in
 * a layer called features.N. The last features entry is a hardswish 1x1 Conv2dNormActivation
 * to 6 times the channels, then avgpool and torchvision's classifier: classifier.0 Linear
 * to 1280 (Large) or 1024 (Small), .1 hardswish, .2 Dropout(0.2), .3 Linear; the config's
 * head_hidden and head_dropout replace that width and rate. Batch norms: eps 1e-3,
 * momentum 0.01. */
#include <stdio.h>
#include "zoo_internal.h"

#define V3_NORM ((zoo_norm){1e-3f, 0.01f})

typedef struct {
    int in, kernel, expanded, out, se, hardswish, stride;
} v3_block;

/* torchvision's inverted_residual_setting of each */
static const v3_block large[] = {
    {16, 3, 16, 16, 0, 0, 1},    {16, 3, 64, 24, 0, 0, 2},    {24, 3, 72, 24, 0, 0, 1},    {24, 5, 72, 40, 1, 0, 2},
    {40, 5, 120, 40, 1, 0, 1},   {40, 5, 120, 40, 1, 0, 1},   {40, 3, 240, 80, 0, 1, 2},   {80, 3, 200, 80, 0, 1, 1},
    {80, 3, 184, 80, 0, 1, 1},   {80, 3, 184, 80, 0, 1, 1},   {80, 3, 480, 112, 1, 1, 1},  {112, 3, 672, 112, 1, 1, 1},
    {112, 5, 672, 160, 1, 1, 2}, {160, 5, 960, 160, 1, 1, 1}, {160, 5, 960, 160, 1, 1, 1}};
static const v3_block small[] = {
    {16, 3, 16, 16, 1, 0, 2},  {16, 3, 72, 24, 0, 0, 2},  {24, 3, 88, 24, 0, 0, 1},  {24, 5, 96, 40, 1, 1, 2},
    {40, 5, 240, 40, 1, 1, 1}, {40, 5, 240, 40, 1, 1, 1}, {40, 5, 120, 48, 1, 1, 1}, {48, 5, 144, 48, 1, 1, 1},
    {48, 5, 288, 96, 1, 1, 2}, {96, 5, 576, 96, 1, 1, 1}, {96, 5, 576, 96, 1, 1, 1}};

/* Block features.N from `input`; output names its last layer. */
static clcnn_status block(clcnn_graph *g, int n, const char *input, const v3_block *c, char output[ZOO_NAME]) {
    const clcnn_activation act = c->hardswish ? CLCNN_ACT_HARDSWISH : CLCNN_ACT_RELU;
    char name[ZOO_NAME], x[ZOO_NAME];
    clcnn_status st;
    int m = 0;
    snprintf(x, sizeof x, "%s", input);
    if (c->expanded != c->in) {
        snprintf(name, sizeof name, "features.%d.block.%d", n, m++);
        if ((st = zoo_conv_norm_act(g, name, x, c->expanded, 1, 1, 1, act, V3_NORM, x)) != CLCNN_OK) return st;
    }
    snprintf(name, sizeof name, "features.%d.block.%d", n, m++);
    if ((st = zoo_conv_norm_act(g, name, x, c->expanded, c->kernel, c->stride, c->expanded, act, V3_NORM, x)) !=
        CLCNN_OK)
        return st;
    if (c->se) {
        snprintf(name, sizeof name, "features.%d.block.%d", n, m++);
        if ((st = clcnn_graph_squeeze_excite_ex(g, name, x, zoo_divisible8(c->expanded / 4), CLCNN_ACT_RELU,
                                                CLCNN_ACT_HARDSIGMOID, NULL, CLCNN_ACT_NONE)) != CLCNN_OK)
            return st;
        snprintf(x, sizeof x, "%s", name);
    }
    snprintf(name, sizeof name, "features.%d.block.%d", n, m);
    if ((st = zoo_conv_norm_act(g, name, x, c->out, 1, 1, 1, CLCNN_ACT_NONE, V3_NORM, x)) != CLCNN_OK) return st;
    if (c->stride != 1 || c->in != c->out) {
        snprintf(output, ZOO_NAME, "%s", x);
        return CLCNN_OK;
    }
    snprintf(output, ZOO_NAME, "features.%d", n);
    return clcnn_graph_add(g, output, x, input, CLCNN_ACT_NONE);
}

/* classifier.0 Linear, .1 hardswish, .2 dropout, .3 Linear. */
static clcnn_status classifier(clcnn_graph *g, const clcnn_resnet_config *cfg, int width) {
    const int hidden = cfg->head_hidden > 0 ? cfg->head_hidden : width;
    const float drop = cfg->head_hidden > 0 ? cfg->head_dropout : 0.2f;
    clcnn_status st;
    if ((st = clcnn_graph_linear(g, "classifier.0", "avgpool", hidden, 1)) != CLCNN_OK ||
        (st = clcnn_graph_activation(g, "classifier.1", "classifier.0", CLCNN_ACT_HARDSWISH)) != CLCNN_OK ||
        (st = clcnn_graph_dropout(g, "classifier.2", "classifier.1", drop)) != CLCNN_OK)
        return st;
    return clcnn_graph_linear(g, "classifier.3", "classifier.2", cfg->classes, 1);
}

clcnn_status zoo_mobilenet_v3_layers(clcnn_graph *g, const clcnn_resnet_config *cfg) {
    const int is_small = cfg->variant == 1;
    const v3_block *blocks = is_small ? small : large;
    const int n = is_small ? (int)(sizeof small / sizeof small[0]) : (int)(sizeof large / sizeof large[0]);
    char x[ZOO_NAME], last[32];
    clcnn_status st = zoo_conv_norm_act(g, "features.0", "input", blocks[0].in, 3, 2, 1, CLCNN_ACT_HARDSWISH, V3_NORM, x);
    for (int i = 0; i < n && st == CLCNN_OK; i++) {
        char input[ZOO_NAME];
        snprintf(input, sizeof input, "%s", x);
        st = block(g, i + 1, input, &blocks[i], x);
    }
    snprintf(last, sizeof last, "features.%d", n + 1);
    if (st != CLCNN_OK ||
        (st = zoo_conv_norm_act(g, last, x, 6 * blocks[n - 1].out, 1, 1, 1, CLCNN_ACT_HARDSWISH, V3_NORM, x)) !=
            CLCNN_OK ||
        (st = clcnn_graph_global_avg_pool(g, "avgpool", x)) != CLCNN_OK)
        return st;
    return classifier(g, cfg, is_small ? 1024 : 1280);
}
