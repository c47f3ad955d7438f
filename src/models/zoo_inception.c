/* zoo_inception.c: torchvision's Inception-v3 as a graph with its names. Each
 * BasicConv2d X is X.conv (no bias), X.bn (eps 1e-3) and its ReLU, the layer called X,
 * so that X names the module's output. Inside the Mixed_* modules the branches are
 * torchvision's (branch1x1, branch5x5_1, ...); the pooling it calls as a function is
 * NAME.avg_pool or NAME.max_pool, and the branches join pairwise (NAME.cat1, NAME.cat2)
 * into the layer called NAME. AuxLogits (after Mixed_6e) is built where its convolutions
 * fit (Mixed_6e of 17x17 and more: 299x299 pictures), so that torchvision's files load;
 * nothing reads its output, so it neither changes the logits nor trains. The head is dropout (0.5) and fc.
 * torchvision's transform_input is a normalisation by mean and std 0.5 of the picture
 * (convert_torchvision.py records it in the model file as its mean and std). */
#include <stdio.h>
#include <string.h>
#include "graph/graph.h"
#include "zoo_internal.h"

#define BN_EPS_INCEPTION 1e-3f
#define AUX_POOL 5 /* AuxLogits' average pooling: 5x5, stride 3 */

typedef struct {
    clcnn_graph *g;
    const char *module; /* the Mixed_* module being built */
    clcnn_status st;    /* the first error; later calls do nothing */
} builder;

/* BasicConv2d MODULE.NAME (or NAME alone without a module) from `input`: a kh x kw
 * convolution with the stride and padding given, its batch norm and ReLU. */
static const char *basic(builder *b, const char *name, const char *input, int cout, int kh, int kw, int stride, int ph,
                         int pw, char out[96]) {
    char full[96], conv[128], bn[128];
    if (b->module) snprintf(full, sizeof full, "%s.%s", b->module, name);
    else snprintf(full, sizeof full, "%s", name);
    snprintf(conv, sizeof conv, "%s.conv", full);
    snprintf(bn, sizeof bn, "%s.bn", full);
    const clcnn_conv_params p = {.stride_h = stride, .stride_w = stride, .pad_h = ph, .pad_w = pw};
    if (b->st == CLCNN_OK && (b->st = clcnn_graph_conv2d(b->g, conv, input, cout, kh, kw, &p, 0)) == CLCNN_OK &&
        (b->st = clcnn_graph_batchnorm_ex(b->g, bn, conv, BN_EPS_INCEPTION, 0.1f)) == CLCNN_OK)
        b->st = clcnn_graph_activation(b->g, full, bn, CLCNN_ACT_RELU);
    snprintf(out, 96, "%s", full); /* last: out may be the caller's input */
    return out;
}

/* A k x k pooling of `input`, stride s, padding 1 for the average (count_include_pad,
 * as F.avg_pool2d) and none for the maximum. */
static const char *pool(builder *b, const char *name, const char *input, int max, int k, int s, char out[96]) {
    snprintf(out, 96, "%s.%s", b->module, name);
    const clcnn_pool_params p = {.mode = max ? CLCNN_POOL_MAX : CLCNN_POOL_AVG, .kernel_h = k, .kernel_w = k,
                                 .stride_h = s, .stride_w = s, .pad_h = max ? 0 : 1, .pad_w = max ? 0 : 1,
                                 .count_include_pad = 1};
    if (b->st == CLCNN_OK) b->st = clcnn_graph_pool2d(b->g, out, input, &p);
    return out;
}

/* Branches joined in order, pairwise, the last join called `name` (MODULE.NAME). */
static void join(builder *b, const char *name, int n, const char *const *branches) {
    char prev[96], next[96];
    snprintf(prev, sizeof prev, "%s", branches[0]);
    for (int i = 1; i < n && b->st == CLCNN_OK; i++) {
        if (i == n - 1) snprintf(next, sizeof next, "%s", name);
        else snprintf(next, sizeof next, "%s.cat%d", name, i);
        b->st = clcnn_graph_concat(b->g, next, prev, branches[i]);
        snprintf(prev, sizeof prev, "%s", next);
    }
}

static void inception_a(builder *b, const char *x, int pool_features) {
    char b1[96], b5[96], t[96], d[96], p[96];
    basic(b, "branch1x1", x, 64, 1, 1, 1, 0, 0, b1);
    basic(b, "branch5x5_2", basic(b, "branch5x5_1", x, 48, 1, 1, 1, 0, 0, t), 64, 5, 5, 1, 2, 2, b5);
    basic(b, "branch3x3dbl_1", x, 64, 1, 1, 1, 0, 0, t);
    basic(b, "branch3x3dbl_3", basic(b, "branch3x3dbl_2", t, 96, 3, 3, 1, 1, 1, d), 96, 3, 3, 1, 1, 1, d);
    basic(b, "branch_pool", pool(b, "avg_pool", x, 0, 3, 1, t), pool_features, 1, 1, 1, 0, 0, p);
    join(b, b->module, 4, (const char *const[]){b1, b5, d, p});
}

static void inception_b(builder *b, const char *x) {
    char b3[96], t[96], d[96], p[96];
    basic(b, "branch3x3", x, 384, 3, 3, 2, 0, 0, b3);
    basic(b, "branch3x3dbl_1", x, 64, 1, 1, 1, 0, 0, t);
    basic(b, "branch3x3dbl_3", basic(b, "branch3x3dbl_2", t, 96, 3, 3, 1, 1, 1, d), 96, 3, 3, 2, 0, 0, d);
    pool(b, "max_pool", x, 1, 3, 2, p);
    join(b, b->module, 3, (const char *const[]){b3, d, p});
}

static void inception_c(builder *b, const char *x, int c7) {
    char b1[96], t[96], s[96], d[96], p[96];
    basic(b, "branch1x1", x, 192, 1, 1, 1, 0, 0, b1);
    basic(b, "branch7x7_1", x, c7, 1, 1, 1, 0, 0, t);
    basic(b, "branch7x7_3", basic(b, "branch7x7_2", t, c7, 1, 7, 1, 0, 3, s), 192, 7, 1, 1, 3, 0, s);
    basic(b, "branch7x7dbl_1", x, c7, 1, 1, 1, 0, 0, t);
    basic(b, "branch7x7dbl_2", t, c7, 7, 1, 1, 3, 0, d);
    basic(b, "branch7x7dbl_3", d, c7, 1, 7, 1, 0, 3, d);
    basic(b, "branch7x7dbl_5", basic(b, "branch7x7dbl_4", d, c7, 7, 1, 1, 3, 0, d), 192, 1, 7, 1, 0, 3, d);
    basic(b, "branch_pool", pool(b, "avg_pool", x, 0, 3, 1, t), 192, 1, 1, 1, 0, 0, p);
    join(b, b->module, 4, (const char *const[]){b1, s, d, p});
}

static void inception_d(builder *b, const char *x) {
    char b3[96], t[96], s[96], p[96];
    basic(b, "branch3x3_2", basic(b, "branch3x3_1", x, 192, 1, 1, 1, 0, 0, t), 320, 3, 3, 2, 0, 0, b3);
    basic(b, "branch7x7x3_1", x, 192, 1, 1, 1, 0, 0, t);
    basic(b, "branch7x7x3_2", t, 192, 1, 7, 1, 0, 3, s);
    basic(b, "branch7x7x3_4", basic(b, "branch7x7x3_3", s, 192, 7, 1, 1, 3, 0, s), 192, 3, 3, 2, 0, 0, s);
    pool(b, "max_pool", x, 1, 3, 2, p);
    join(b, b->module, 3, (const char *const[]){b3, s, p});
}

/* A 1x3 and a 3x1 branch from `x`, joined into MODULE.NAME (torchvision's torch.cat). */
static void split_3x3(builder *b, const char *name, const char *a, const char *c, const char *x, char out[96]) {
    char ba[96], bc[96];
    basic(b, a, x, 384, 1, 3, 1, 0, 1, ba);
    basic(b, c, x, 384, 3, 1, 1, 1, 0, bc);
    snprintf(out, 96, "%s.%s", b->module, name);
    join(b, out, 2, (const char *const[]){ba, bc});
}

static void inception_e(builder *b, const char *x) {
    char b1[96], t[96], s[96], d[96], p[96];
    basic(b, "branch1x1", x, 320, 1, 1, 1, 0, 0, b1);
    split_3x3(b, "branch3x3", "branch3x3_2a", "branch3x3_2b", basic(b, "branch3x3_1", x, 384, 1, 1, 1, 0, 0, t), s);
    basic(b, "branch3x3dbl_2", basic(b, "branch3x3dbl_1", x, 448, 1, 1, 1, 0, 0, t), 384, 3, 3, 1, 1, 1, t);
    split_3x3(b, "branch3x3dbl", "branch3x3dbl_3a", "branch3x3dbl_3b", t, d);
    basic(b, "branch_pool", pool(b, "avg_pool", x, 0, 3, 1, t), 192, 1, 1, 1, 0, 0, p);
    join(b, b->module, 4, (const char *const[]){b1, s, d, p});
}

/* InceptionAux on Mixed_6e, when its pixels allow the 5x5 pooling and the 5x5
 * convolution after it (17x17 and more: from 299x299 pictures on, torchvision's size). */
static void aux_logits(builder *b, const clcnn_resnet_config *cfg) {
    clcnn_layer_info info;
    const int least = 3 * (AUX_POOL - 1) + AUX_POOL;
    if (b->st != CLCNN_OK || clcnn_graph_find_layer(b->g, "Mixed_6e", &info) < 0 || info.shape[1] < least ||
        info.shape[2] < least)
        return;
    char t[96];
    const clcnn_pool_params p = {.mode = CLCNN_POOL_AVG, .kernel_h = AUX_POOL, .kernel_w = AUX_POOL, .stride_h = 3,
                                 .stride_w = 3, .count_include_pad = 1};
    b->module = "AuxLogits";
    if ((b->st = clcnn_graph_pool2d(b->g, "AuxLogits.avg_pool", "Mixed_6e", &p)) != CLCNN_OK) return;
    basic(b, "conv1", basic(b, "conv0", "AuxLogits.avg_pool", 128, 1, 1, 1, 0, 0, t), 768, 5, 5, 1, 0, 0, t);
    if (b->st == CLCNN_OK && (b->st = clcnn_graph_global_avg_pool(b->g, "AuxLogits.avgpool", t)) == CLCNN_OK &&
        (b->st = clcnn_graph_linear(b->g, "AuxLogits.fc", "AuxLogits.avgpool", cfg->classes, 1)) == CLCNN_OK)
        graph_params_stop_learning(b->g, "AuxLogits"); /* no loss reads it: no weight decay either */
}

clcnn_status zoo_inception_v3_layers(clcnn_graph *g, const clcnn_resnet_config *cfg) {
    builder bld = {.g = g}, *b = &bld;
    char x[96];
    const clcnn_pool_params max = {.mode = CLCNN_POOL_MAX, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2};
    basic(b, "Conv2d_1a_3x3", "input", 32, 3, 3, 2, 0, 0, x);
    basic(b, "Conv2d_2a_3x3", x, 32, 3, 3, 1, 0, 0, x);
    basic(b, "Conv2d_2b_3x3", x, 64, 3, 3, 1, 1, 1, x);
    if (b->st == CLCNN_OK) b->st = clcnn_graph_pool2d(b->g, "maxpool1", x, &max);
    basic(b, "Conv2d_3b_1x1", "maxpool1", 80, 1, 1, 1, 0, 0, x);
    basic(b, "Conv2d_4a_3x3", x, 192, 3, 3, 1, 0, 0, x);
    if (b->st == CLCNN_OK) b->st = clcnn_graph_pool2d(b->g, "maxpool2", x, &max);
    static const struct {
        const char *name;
        char kind; /* A to E */
        int width; /* A: pool features, C: 7x7 channels */
    } mixed[] = {{"Mixed_5b", 'A', 32},  {"Mixed_5c", 'A', 64},  {"Mixed_5d", 'A', 64},  {"Mixed_6a", 'B', 0},
                 {"Mixed_6b", 'C', 128}, {"Mixed_6c", 'C', 160}, {"Mixed_6d", 'C', 160}, {"Mixed_6e", 'C', 192},
                 {"Mixed_7a", 'D', 0},   {"Mixed_7b", 'E', 0},   {"Mixed_7c", 'E', 0}};
    const char *prev = "maxpool2";
    for (size_t i = 0; i < sizeof mixed / sizeof mixed[0] && b->st == CLCNN_OK; i++) {
        if (!strcmp(mixed[i].name, "Mixed_7a")) aux_logits(b, cfg); /* torchvision registers it here */
        b->module = mixed[i].name;
        switch (mixed[i].kind) {
        case 'A': inception_a(b, prev, mixed[i].width); break;
        case 'B': inception_b(b, prev); break;
        case 'C': inception_c(b, prev, mixed[i].width); break;
        case 'D': inception_d(b, prev); break;
        default: inception_e(b, prev); break;
        }
        prev = mixed[i].name;
    }
    if (b->st != CLCNN_OK || (b->st = clcnn_graph_global_avg_pool(b->g, "avgpool", "Mixed_7c")) != CLCNN_OK ||
        (b->st = clcnn_graph_dropout(b->g, "dropout", "avgpool", 0.5f)) != CLCNN_OK)
        return b->st;
    return zoo_head(b->g, cfg, "fc", "dropout", -1);
}
