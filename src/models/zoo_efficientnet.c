/* zoo_efficientnet.c: torchvision's EfficientNet-B0 ... B7 as graphs with its names.
 * features.0 is the stem (Conv2dNormActivation: .0 convolution, .1 batch norm, .2 SiLU);
 * features.1 ... features.7 are the stages, each block features.S.B an MBConv whose
 * block.M are, in order: the 1x1 expansion (absent when the expansion is 1), the k x k
 * depthwise convolution, the Squeeze-and-Excitation module (SiLU inside, fc1/fc2), the
 * 1x1 projection without activation; a block that keeps its shape adds its input after
 * stochastic depth (features.S.B.stochastic_depth), in a layer called features.S.B.
 * features.8 is the last 1x1 Conv2dNormActivation. Widths and depths scale with the
 * variant as torchvision's _make_divisible and ceil do. */
#include <math.h>
#include <stdio.h>
#include "zoo_internal.h"

#define STOCHASTIC_DEPTH 0.2 /* the last block's rate; block i of n gets 0.2 i / n */

/* torchvision's per-variant multipliers, classifier dropout and batch-norm settings */
static const struct {
    double width, depth;
    float dropout, bn_eps, bn_momentum;
} variants[8] = {{1.0, 1.0, 0.2f, 1e-5f, 0.1f},  {1.0, 1.1, 0.2f, 1e-5f, 0.1f},  {1.1, 1.2, 0.3f, 1e-5f, 0.1f},
                 {1.2, 1.4, 0.3f, 1e-5f, 0.1f},  {1.4, 1.8, 0.4f, 1e-5f, 0.1f},  {1.6, 2.2, 0.4f, 1e-3f, 0.01f},
                 {1.8, 2.6, 0.5f, 1e-3f, 0.01f}, {2.0, 3.1, 0.5f, 1e-3f, 0.01f}};

/* torchvision's B0 stages: expansion, kernel, stride, input and output channels, blocks. */
static const struct {
    int expand, kernel, stride, in, out, blocks;
} stages[] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},   {6, 5, 2, 24, 40, 2},   {6, 3, 2, 40, 80, 3},
              {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4}, {6, 3, 1, 192, 320, 1}};

typedef struct {
    clcnn_graph *g;
    zoo_norm norm;
} builder;

/* MBConv block `prefix` (features.S.B) from `input` (cin channels) into cout; sd is its
 * stochastic-depth rate; output names its last layer. */
static clcnn_status mbconv(const builder *b, const char *prefix, const char *input, int cin, int cout, int expand,
                           int kernel, int stride, float sd, char output[ZOO_NAME]) {
    const int hidden = zoo_divisible8((double)cin * expand);
    char name[ZOO_NAME], x[ZOO_NAME];
    clcnn_status st;
    int m = 0;
    snprintf(x, sizeof x, "%s", input);
    if (hidden != cin) {
        snprintf(name, sizeof name, "%s.block.%d", prefix, m++);
        if ((st = zoo_conv_norm_act(b->g, name, x, hidden, 1, 1, 1, CLCNN_ACT_SILU, b->norm, x)) != CLCNN_OK) return st;
    }
    snprintf(name, sizeof name, "%s.block.%d", prefix, m++);
    if ((st = zoo_conv_norm_act(b->g, name, x, hidden, kernel, stride, hidden, CLCNN_ACT_SILU, b->norm, x)) != CLCNN_OK)
        return st;
    snprintf(name, sizeof name, "%s.block.%d", prefix, m++);
    const int squeeze = cin / 4 > 1 ? cin / 4 : 1;
    if ((st = clcnn_graph_squeeze_excite_ex(b->g, name, x, squeeze, CLCNN_ACT_SILU, CLCNN_ACT_SIGMOID, NULL,
                                            CLCNN_ACT_NONE)) != CLCNN_OK)
        return st;
    snprintf(x, sizeof x, "%s", name);
    snprintf(name, sizeof name, "%s.block.%d", prefix, m);
    if ((st = zoo_conv_norm_act(b->g, name, x, cout, 1, 1, 1, CLCNN_ACT_NONE, b->norm, x)) != CLCNN_OK) return st;
    if (stride != 1 || cin != cout) {
        snprintf(output, ZOO_NAME, "%s", x);
        return CLCNN_OK;
    }
    snprintf(name, sizeof name, "%s.stochastic_depth", prefix);
    if ((st = clcnn_graph_stochastic_depth(b->g, name, x, sd)) != CLCNN_OK ||
        (st = clcnn_graph_add(b->g, prefix, name, input, CLCNN_ACT_NONE)) != CLCNN_OK)
        return st;
    snprintf(output, ZOO_NAME, "%s", prefix);
    return CLCNN_OK;
}

clcnn_status zoo_efficientnet_layers(clcnn_graph *g, const clcnn_resnet_config *cfg) {
    const builder bld = {.g = g, .norm = {variants[cfg->variant].bn_eps, variants[cfg->variant].bn_momentum}};
    const builder *b = &bld;
    const double width = variants[cfg->variant].width, depth = variants[cfg->variant].depth;
    const size_t nstages = sizeof stages / sizeof stages[0];
    int blocks[sizeof stages / sizeof stages[0]], total = 0;
    for (size_t s = 0; s < nstages; s++) total += blocks[s] = (int)ceil(stages[s].blocks * depth);
    char x[ZOO_NAME];
    clcnn_status st =
        zoo_conv_norm_act(b->g, "features.0", "input", zoo_divisible8(stages[0].in * width), 3, 2, 1, CLCNN_ACT_SILU,
                          b->norm, x);
    int id = 0, channels = zoo_divisible8(stages[0].in * width);
    for (size_t s = 0; s < nstages && st == CLCNN_OK; s++) {
        const int out = zoo_divisible8(stages[s].out * width);
        for (int i = 0; i < blocks[s] && st == CLCNN_OK; i++, id++) {
            char prefix[64], input[ZOO_NAME];
            snprintf(prefix, sizeof prefix, "features.%zu.%d", s + 1, i);
            snprintf(input, sizeof input, "%s", x);
            st = mbconv(b, prefix, input, channels, out, stages[s].expand, stages[s].kernel, i ? 1 : stages[s].stride,
                        (float)(STOCHASTIC_DEPTH * id / total), x);
            channels = out;
        }
    }
    char last[32];
    snprintf(last, sizeof last, "features.%zu", nstages + 1);
    if (st != CLCNN_OK ||
        (st = zoo_conv_norm_act(b->g, last, x, 4 * channels, 1, 1, 1, CLCNN_ACT_SILU, b->norm, x)) != CLCNN_OK ||
        (st = clcnn_graph_global_avg_pool(b->g, "avgpool", x)) != CLCNN_OK)
        return st;
    return zoo_head(b->g, cfg, "classifier", "avgpool", variants[cfg->variant].dropout);
}
