/* resnet.c: inference ResNets and SE-ResNets from torchvision-named weights.
 * Batch norms are folded into the convolutions at build time; each convolution then
 * carries its bias, residual and ReLU in the GEMM epilogue, and SE blocks fuse the
 * residual addition and ReLU into their channel scaling. */
#include <stdio.h>
#include <stdlib.h>
#include "runtime/internal.h"

typedef struct {
    clcnn_tensor *w, *b; /* folded weight and bias */
    clcnn_conv_params p;
} conv_unit;

typedef struct {
    clcnn_tensor *w1, *b1, *w2, *b2;
} se_unit;

typedef struct {
    int bottleneck, has_down, has_se;
    conv_unit c1, c2, c3, down;
    se_unit se;
} block;

struct clcnn_model {
    clcnn_context *ctx;
    conv_unit stem;
    block *blocks;
    int nblocks;
    clcnn_tensor *fc_w, *fc_b;
    int classes;
};

static void conv_unit_free(conv_unit *c) {
    clcnn_tensor_destroy(c->w);
    clcnn_tensor_destroy(c->b);
}

void clcnn_model_destroy(clcnn_model *m) {
    if (!m) return;
    conv_unit_free(&m->stem);
    for (int i = 0; i < m->nblocks; i++) {
        block *b = &m->blocks[i];
        conv_unit_free(&b->c1);
        conv_unit_free(&b->c2);
        conv_unit_free(&b->c3);
        conv_unit_free(&b->down);
        clcnn_tensor_destroy(b->se.w1);
        clcnn_tensor_destroy(b->se.b1);
        clcnn_tensor_destroy(b->se.w2);
        clcnn_tensor_destroy(b->se.b2);
    }
    free(m->blocks);
    clcnn_tensor_destroy(m->fc_w);
    clcnn_tensor_destroy(m->fc_b);
    free(m);
}

int clcnn_model_num_classes(const clcnn_model *m) { return m ? m->classes : 0; }

/* ---- building ---- */

static clcnn_status need(clcnn_context *ctx, const clcnn_weights *w, const char *name, const clcnn_tensor **t) {
    if ((*t = clcnn_weights_get(w, name)) != NULL) return CLCNN_OK;
    return rt_error(ctx, CLCNN_ERR_NOT_FOUND, "weights: tensor %s is missing", name);
}

/* A copy of the named tensor owned by the model. */
static clcnn_status copy_of(clcnn_context *ctx, const clcnn_weights *w, const char *name, clcnn_tensor **out) {
    const clcnn_tensor *src;
    clcnn_status st = need(ctx, w, name, &src);
    if (st != CLCNN_OK || (st = clcnn_tensor_create(ctx, src->ndim, src->shape, out)) != CLCNN_OK) return st;
    return rt_tensor_copy(src, *out, name);
}

/* Convolution `conv`.weight followed by batch norm `bn`, folded; padding keeps "same"
 * size for odd kernels (torchvision's 7x7/3 stem, 3x3/1 and 1x1/0 layers). */
static clcnn_status conv_bn(clcnn_context *ctx, const clcnn_weights *w, const char *conv, const char *bn, int stride,
                            conv_unit *out) {
    char name[256];
    const clcnn_tensor *cw, *g, *b, *mean, *var;
    clcnn_status st;
    snprintf(name, sizeof name, "%s.weight", conv);
    if ((st = need(ctx, w, name, &cw)) != CLCNN_OK) return st;
    if (cw->ndim != 4) return rt_error(ctx, CLCNN_ERR_SHAPE, "weights: %s must be 4-D", name);
    const char *suffix[] = {"weight", "bias", "running_mean", "running_var"};
    const clcnn_tensor **dst[] = {&g, &b, &mean, &var};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", bn, suffix[i]);
        if ((st = need(ctx, w, name, dst[i])) != CLCNN_OK) return st;
    }
    if ((st = clcnn_tensor_create(ctx, 4, cw->shape, &out->w)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 1, cw->shape, &out->b)) != CLCNN_OK)
        return st;
    out->p = (clcnn_conv_params){.stride_h = stride, .stride_w = stride, .pad_h = cw->shape[2] / 2,
                                 .pad_w = cw->shape[3] / 2};
    st = clcnn_batchnorm_fold(ctx, cw, NULL, g, b, mean, var, 1e-5f, out->w, out->b);
    if (st != CLCNN_OK) rt_error_prefix(ctx, st, "weights: folding %s into %s", bn, conv);
    return st;
}

static int has(const clcnn_weights *w, const char *fmt, int a, int b) {
    char name[256];
    snprintf(name, sizeof name, fmt, a, b);
    return clcnn_weights_get(w, name) != NULL;
}

static clcnn_status build_block(clcnn_context *ctx, const clcnn_weights *w, int layer, int index, block *b) {
    char p[64], conv[96], bn[96];
    snprintf(p, sizeof p, "layer%d.%d", layer, index);
    const int stride = layer > 1 && index == 0 ? 2 : 1; /* torchvision: stages 2.. halve the size */
    b->bottleneck = has(w, "layer%d.%d.conv3.weight", layer, index);
    b->has_down = has(w, "layer%d.%d.downsample.0.weight", layer, index);
    b->has_se = has(w, "layer%d.%d.se.fc1.weight", layer, index);
    clcnn_status st;
    const int n = b->bottleneck ? 3 : 2;
    conv_unit *units[] = {&b->c1, &b->c2, &b->c3};
    for (int i = 0; i < n; i++) {
        snprintf(conv, sizeof conv, "%s.conv%d", p, i + 1);
        snprintf(bn, sizeof bn, "%s.bn%d", p, i + 1);
        /* The stride sits in the 3x3: conv1 of a basic block, conv2 of a bottleneck (ResNet v1.5). */
        const int s = i == (b->bottleneck ? 1 : 0) ? stride : 1;
        if ((st = conv_bn(ctx, w, conv, bn, s, units[i])) != CLCNN_OK) return st;
    }
    if (b->has_down) {
        snprintf(conv, sizeof conv, "%s.downsample.0", p);
        snprintf(bn, sizeof bn, "%s.downsample.1", p);
        if ((st = conv_bn(ctx, w, conv, bn, stride, &b->down)) != CLCNN_OK) return st;
    }
    if (b->has_se) {
        const char *parts[] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
        clcnn_tensor **dst[] = {&b->se.w1, &b->se.b1, &b->se.w2, &b->se.b2};
        for (int i = 0; i < 4; i++) {
            snprintf(conv, sizeof conv, "%s.se.%s", p, parts[i]);
            if ((st = copy_of(ctx, w, conv, dst[i])) != CLCNN_OK) return st;
        }
    }
    return CLCNN_OK;
}

clcnn_status clcnn_resnet_create(clcnn_context *ctx, const clcnn_weights *w, clcnn_model **out) {
    if (!ctx || !w || !out) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_resnet_create: NULL argument");
    *out = NULL;
    clcnn_model *m = calloc(1, sizeof *m);
    int total = 0;
    for (int l = 1; has(w, "layer%d.%d.conv1.weight", l, 0); l++)
        for (int i = 0; has(w, "layer%d.%d.conv1.weight", l, i); i++) total++;
    if (!m || !(m->blocks = calloc((size_t)total + 1, sizeof *m->blocks))) {
        free(m);
        return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_resnet_create: no host memory");
    }
    m->ctx = ctx;
    clcnn_status st;
    if (total == 0) {
        st = rt_error(ctx, CLCNN_ERR_NOT_FOUND, "weights: no residual blocks (layer1.0.conv1.weight is missing)");
        goto fail;
    }
    if ((st = conv_bn(ctx, w, "conv1", "bn1", 2, &m->stem)) != CLCNN_OK) goto fail;
    for (int l = 1; has(w, "layer%d.%d.conv1.weight", l, 0); l++)
        for (int i = 0; has(w, "layer%d.%d.conv1.weight", l, i); i++)
            if ((st = build_block(ctx, w, l, i, &m->blocks[m->nblocks++])) != CLCNN_OK) goto fail;
    if ((st = copy_of(ctx, w, "fc.weight", &m->fc_w)) != CLCNN_OK || (st = copy_of(ctx, w, "fc.bias", &m->fc_b)) != CLCNN_OK)
        goto fail;
    m->classes = m->fc_w->shape[0];
    *out = m;
    return CLCNN_OK;
fail:
    clcnn_model_destroy(m);
    return st;
}

/* ---- forward ---- */

/* *y = act(conv(x) + residual), a new tensor. */
static clcnn_status run_conv(clcnn_context *ctx, const conv_unit *c, const clcnn_tensor *x, const clcnn_tensor *residual,
                             clcnn_activation act, clcnn_tensor **y) {
    int shape[4];
    clcnn_status st = clcnn_conv2d_output_shape(x, c->w, &c->p, shape);
    if (st != CLCNN_OK || (st = clcnn_tensor_create(ctx, 4, shape, y)) != CLCNN_OK) return st;
    if ((st = clcnn_conv2d(ctx, x, c->w, c->b, &c->p, residual, act, *y)) != CLCNN_OK) {
        clcnn_tensor_destroy(*y);
        *y = NULL;
    }
    return st;
}

static clcnn_status run_block(clcnn_context *ctx, const block *b, const clcnn_tensor *x, clcnn_tensor **y) {
    clcnn_tensor *identity = NULL, *t1 = NULL, *t2 = NULL, *pre = NULL;
    clcnn_status st;
    if (b->has_down && (st = run_conv(ctx, &b->down, x, NULL, CLCNN_ACT_NONE, &identity)) != CLCNN_OK) return st;
    const clcnn_tensor *res = identity ? identity : x;
    if ((st = run_conv(ctx, &b->c1, x, NULL, CLCNN_ACT_RELU, &t1)) != CLCNN_OK) goto done;
    const clcnn_tensor *mid = t1;
    const conv_unit *last = &b->c2;
    if (b->bottleneck) {
        if ((st = run_conv(ctx, &b->c2, t1, NULL, CLCNN_ACT_RELU, &t2)) != CLCNN_OK) goto done;
        mid = t2;
        last = &b->c3;
    }
    if (!b->has_se) {
        st = run_conv(ctx, last, mid, res, CLCNN_ACT_RELU, y);
        goto done;
    }
    if ((st = run_conv(ctx, last, mid, NULL, CLCNN_ACT_NONE, &pre)) != CLCNN_OK) goto done;
    if ((st = clcnn_tensor_create(ctx, 4, pre->shape, y)) != CLCNN_OK) goto done;
    if ((st = clcnn_squeeze_excite(ctx, pre, b->se.w1, b->se.b1, b->se.w2, b->se.b2, res, CLCNN_ACT_RELU, *y)) != CLCNN_OK) {
        clcnn_tensor_destroy(*y);
        *y = NULL;
    }
done:
    clcnn_tensor_destroy(pre);
    clcnn_tensor_destroy(t2);
    clcnn_tensor_destroy(t1);
    clcnn_tensor_destroy(identity);
    return st;
}

clcnn_status clcnn_model_forward(clcnn_model *m, const clcnn_tensor *x, clcnn_tensor *logits) {
    static const char *op = "clcnn_model_forward";
    if (!m) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: model is NULL", op);
    clcnn_context *ctx = m->ctx;
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "input", x, 4)) != CLCNN_OK) return st;
    if (x->shape[1] != m->stem.w->shape[1]) {
        char s[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: input %s must have %d channels", op,
                           clcnn_tensor_shape_str(x, s, sizeof s), m->stem.w->shape[1]);
    }
    if ((st = rt_check_shape_is(ctx, op, "logits", logits, 2, (int[]){x->shape[0], m->classes})) != CLCNN_OK) return st;
    clcnn_tensor *cur = NULL, *next = NULL, *pooled = NULL;
    if ((st = run_conv(ctx, &m->stem, x, NULL, CLCNN_ACT_RELU, &cur)) != CLCNN_OK) return st;
    const clcnn_pool_params mp = {.mode = CLCNN_POOL_MAX, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                                  .pad_h = 1, .pad_w = 1};
    int shape[4];
    if ((st = clcnn_pool2d_output_shape(cur, &mp, shape)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 4, shape, &next)) != CLCNN_OK || (st = clcnn_pool2d(ctx, cur, &mp, next)) != CLCNN_OK)
        goto done;
    clcnn_tensor_destroy(cur);
    cur = next;
    next = NULL;
    for (int i = 0; i < m->nblocks; i++) {
        if ((st = run_block(ctx, &m->blocks[i], cur, &next)) != CLCNN_OK) goto done;
        clcnn_tensor_destroy(cur);
        cur = next;
        next = NULL;
    }
    if ((st = clcnn_tensor_create(ctx, 2, (int[]){cur->shape[0], cur->shape[1]}, &pooled)) != CLCNN_OK ||
        (st = clcnn_global_avg_pool(ctx, cur, pooled)) != CLCNN_OK)
        goto done;
    st = clcnn_linear(ctx, pooled, m->fc_w, m->fc_b, CLCNN_ACT_NONE, logits);
done:
    clcnn_tensor_destroy(pooled);
    clcnn_tensor_destroy(next);
    clcnn_tensor_destroy(cur);
    return st;
}
