/* zoo_xception.c: Xception as timm's `xception` (the port of the Keras weights, later
 * timm's legacy_xception) lays it out and names it, torchvision having none. The stem is
 * conv1/bn1/act1 and conv2/bn2/act2; block1 ... block12 each add a residual: blockK.skip
 * and blockK.skipbn (a strided 1x1 convolution where the shape changes, else the input)
 * to blockK.rep, an nn.Sequential of ReLU, SeparableConv2d (.conv1 depthwise 3x3,
 * .pointwise 1x1) and BatchNorm2d entries, and a 3x3 max pooling (padding 1) where the
 * block strides; the first block starts without its ReLU. The sum is the layer called
 * blockK. Then conv3 and conv4 (separable), bn3/act3, bn4/act4, global_pool and fc. As in
 * timm's Block, skip and skipbn come before rep in the parameters. */
#include <stdio.h>
#include "zoo_internal.h"

typedef struct {
    clcnn_graph *g;
    clcnn_status st; /* the first error; later calls do nothing */
} builder;

/* SeparableConv2d NAME: NAME.conv1 (depthwise 3x3, padding 1, cin groups) and
 * NAME.pointwise (1x1 to cout), neither with a bias. */
static void separable(builder *b, const char *name, const char *input, int cin, int cout) {
    char dw[96], pw[96];
    snprintf(dw, sizeof dw, "%s.conv1", name);
    snprintf(pw, sizeof pw, "%s.pointwise", name);
    const clcnn_conv_params p3 = {.pad_h = 1, .pad_w = 1, .groups = cin}, p1 = {0};
    if (b->st == CLCNN_OK && (b->st = clcnn_graph_conv2d(b->g, dw, input, cin, 3, 3, &p3, 0)) == CLCNN_OK)
        b->st = clcnn_graph_conv2d(b->g, pw, dw, cout, 1, 1, &p1, 0);
}

/* Block blockK from `input` (cin channels): reps separable convolutions to cout, growing
 * the channels at the first (grow_first) or the last; stride 1 or 2. */
static void block(builder *b, int k, const char *input, int cin, int cout, int reps, int stride, int start_with_relu,
                  int grow_first) {
    char name[32], skip[96], skipbn[96], x[128], entry[96];
    snprintf(name, sizeof name, "block%d", k);
    const char *identity = input;
    if (cin != cout || stride != 1) {
        snprintf(skip, sizeof skip, "%s.skip", name);
        snprintf(skipbn, sizeof skipbn, "%s.skipbn", name);
        const clcnn_conv_params p = {.stride_h = stride, .stride_w = stride};
        if (b->st == CLCNN_OK && (b->st = clcnn_graph_conv2d(b->g, skip, input, cout, 1, 1, &p, 0)) == CLCNN_OK)
            b->st = clcnn_graph_batchnorm(b->g, skipbn, skip);
        identity = skipbn;
    }
    snprintf(x, sizeof x, "%s", input);
    int j = 0; /* the index of the next entry of rep, as nn.Sequential numbers them */
    for (int i = 0; i < reps && b->st == CLCNN_OK; i++) {
        const int inc = grow_first ? (i == 0 ? cin : cout) : cin;
        const int outc = grow_first ? cout : (i < reps - 1 ? cin : cout);
        if (i > 0 || start_with_relu) {
            snprintf(entry, sizeof entry, "%s.rep.%d", name, j++);
            b->st = clcnn_graph_activation(b->g, entry, x, CLCNN_ACT_RELU);
            snprintf(x, sizeof x, "%s", entry);
        }
        snprintf(entry, sizeof entry, "%s.rep.%d", name, j++);
        separable(b, entry, x, inc, outc);
        snprintf(x, sizeof x, "%s.pointwise", entry);
        snprintf(entry, sizeof entry, "%s.rep.%d", name, j++);
        if (b->st == CLCNN_OK) b->st = clcnn_graph_batchnorm(b->g, entry, x);
        snprintf(x, sizeof x, "%s", entry);
    }
    if (stride != 1 && b->st == CLCNN_OK) {
        snprintf(entry, sizeof entry, "%s.rep.%d", name, j);
        const clcnn_pool_params p = {.mode = CLCNN_POOL_MAX, .kernel_h = 3, .kernel_w = 3, .stride_h = stride,
                                     .stride_w = stride, .pad_h = 1, .pad_w = 1};
        b->st = clcnn_graph_pool2d(b->g, entry, x, &p);
        snprintf(x, sizeof x, "%s", entry);
    }
    if (b->st == CLCNN_OK) b->st = clcnn_graph_add(b->g, name, x, identity, CLCNN_ACT_NONE);
}

/* convN/bnN/actN: a conv (separable unless plain) with its batch norm and ReLU. */
static void conv_bn_relu(builder *b, int n, const char *input, int cin, int cout, int plain, int stride) {
    char conv[16], bn[16], act[16], out[32];
    snprintf(conv, sizeof conv, "conv%d", n);
    snprintf(bn, sizeof bn, "bn%d", n);
    snprintf(act, sizeof act, "act%d", n);
    snprintf(out, sizeof out, "%s%s", conv, plain ? "" : ".pointwise");
    const clcnn_conv_params p = {.stride_h = stride, .stride_w = stride};
    if (plain && b->st == CLCNN_OK) b->st = clcnn_graph_conv2d(b->g, conv, input, cout, 3, 3, &p, 0);
    if (!plain) separable(b, conv, input, cin, cout);
    if (b->st == CLCNN_OK && (b->st = clcnn_graph_batchnorm(b->g, bn, out)) == CLCNN_OK)
        b->st = clcnn_graph_activation(b->g, act, bn, CLCNN_ACT_RELU);
}

clcnn_status zoo_xception_layers(clcnn_graph *g, const clcnn_resnet_config *cfg) {
    builder bld = {.g = g}, *b = &bld;
    conv_bn_relu(b, 1, "input", 3, 32, 1, 2);
    conv_bn_relu(b, 2, "act1", 32, 64, 1, 1);
    block(b, 1, "act2", 64, 128, 2, 2, 0, 1);
    block(b, 2, "block1", 128, 256, 2, 2, 1, 1);
    block(b, 3, "block2", 256, 728, 2, 2, 1, 1);
    for (int k = 4; k <= 11; k++) {
        char prev[16];
        snprintf(prev, sizeof prev, "block%d", k - 1);
        block(b, k, prev, 728, 728, 3, 1, 1, 1);
    }
    block(b, 12, "block11", 728, 1024, 2, 2, 1, 0);
    conv_bn_relu(b, 3, "block12", 1024, 1536, 0, 1);
    conv_bn_relu(b, 4, "act3", 1536, 2048, 0, 1);
    if (b->st != CLCNN_OK || (b->st = clcnn_graph_global_avg_pool(b->g, "global_pool", "act4")) != CLCNN_OK)
        return b->st;
    return zoo_head(b->g, cfg, "fc", "global_pool", -1);
}
