/* zoo_mobilenet.c: torchvision's MobileNetV2 (width 1.0) as a graph with its names, so
 * that its state_dicts load by name and `--layer features.14` means what it means in
 * PyTorch. Each Conv2dNormActivation is PREFIX.0 (convolution), PREFIX.1 (batch norm) and
 * PREFIX.2 (ReLU6); an inverted residual block features.N holds conv.0 (the 1x1
 * expansion, absent when the expansion is 1), then the 3x3 depthwise one, then the 1x1
 * projection and its batch norm without activation; the blocks that keep their shape
 * add their input, in a layer called features.N. */
#include <stdio.h>
#include "zoo_internal.h"

#define STEM_WIDTH 32
#define LAST_WIDTH 1280

/* torchvision's inverted_residual_setting: expansion t, output channels c, n blocks,
 * the first of them with stride s. */
static const struct {
    int t, c, n, s;
} stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

/* Block features.N from `input` (cin channels) into cout channels; *output names its
 * last layer. The projection is conv.M (a bare Conv2d) and conv.M+1 (its batch norm), as
 * torchvision's nn.Sequential numbers them. */
static clcnn_status inverted_residual(clcnn_graph *g, int n, const char *input, int cin, int cout, int stride,
                                      int expand, char output[ZOO_NAME]) {
    const int hidden = cin * expand;
    char prefix[64], name[ZOO_NAME], x[ZOO_NAME], proj[ZOO_NAME], proj_bn[ZOO_NAME];
    clcnn_status st;
    int m = 0;
    snprintf(x, sizeof x, "%s", input);
    if (expand != 1) {
        snprintf(name, sizeof name, "features.%d.conv.%d", n, m++);
        if ((st = zoo_conv_norm_act(g, name, x, hidden, 1, 1, 1, CLCNN_ACT_RELU6, ZOO_TORCH_NORM, x)) != CLCNN_OK)
            return st;
    }
    snprintf(name, sizeof name, "features.%d.conv.%d", n, m++);
    if ((st = zoo_conv_norm_act(g, name, x, hidden, 3, stride, hidden, CLCNN_ACT_RELU6, ZOO_TORCH_NORM, x)) != CLCNN_OK)
        return st;
    snprintf(proj, sizeof proj, "features.%d.conv.%d", n, m);
    snprintf(proj_bn, sizeof proj_bn, "features.%d.conv.%d", n, m + 1);
    const clcnn_conv_params one = {0};
    if ((st = clcnn_graph_conv2d(g, proj, x, cout, 1, 1, &one, 0)) != CLCNN_OK ||
        (st = clcnn_graph_batchnorm(g, proj_bn, proj)) != CLCNN_OK)
        return st;
    snprintf(prefix, sizeof prefix, "features.%d", n);
    if (stride != 1 || cin != cout) {
        snprintf(output, ZOO_NAME, "%s", proj_bn);
        return CLCNN_OK;
    }
    snprintf(output, ZOO_NAME, "%s", prefix);
    return clcnn_graph_add(g, prefix, proj_bn, input, CLCNN_ACT_NONE);
}

clcnn_status zoo_mobilenet_v2_layers(clcnn_graph *g, const clcnn_resnet_config *cfg) {
    char x[ZOO_NAME];
    clcnn_status st = zoo_conv_norm_act(g, "features.0", "input", STEM_WIDTH, 3, 2, 1, CLCNN_ACT_RELU6, ZOO_TORCH_NORM, x);
    int channels = STEM_WIDTH, n = 1;
    for (size_t s = 0; st == CLCNN_OK && s < sizeof stages / sizeof stages[0]; s++)
        for (int i = 0; st == CLCNN_OK && i < stages[s].n; i++, n++) {
            char input[ZOO_NAME];
            snprintf(input, sizeof input, "%s", x);
            st = inverted_residual(g, n, input, channels, stages[s].c, i == 0 ? stages[s].s : 1, stages[s].t, x);
            channels = stages[s].c;
        }
    char last[32];
    snprintf(last, sizeof last, "features.%d", n);
    if (st != CLCNN_OK ||
        (st = zoo_conv_norm_act(g, last, x, LAST_WIDTH, 1, 1, 1, CLCNN_ACT_RELU6, ZOO_TORCH_NORM, x)) != CLCNN_OK ||
        (st = clcnn_graph_global_avg_pool(g, "avgpool", x)) != CLCNN_OK)
        return st;
    return zoo_head(g, cfg, "classifier", "avgpool", 0.2f);
}
