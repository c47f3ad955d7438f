/* test_graph_fast.c: the graph's speed features: the per-layer profile, folded batch
 * norms with fused epilogues in evaluation mode (same results as the unfused graph,
 * refolded whenever a parameter may have changed, correct under a later backward), the
 * CLCNN_CHECK_NUMERICS debug mode, and steady-state steps without device allocations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tmptree.h"

static clcnn_resnet_config tiny_resnet(int se) {
    return (clcnn_resnet_config){.bottleneck = 0, .stages = 2, .blocks = {1, 1}, .widths = {8, 16}, .se = se,
                                 .classes = 5, .in_channels = 3, .height = 32, .width = 32};
}

/* An [n, c, h, w] tensor of uniform values in [-1, 1); NULL if it cannot be made. */
static clcnn_tensor *random_input(test_rng *rng, int n, int c, int h, int w) {
    const size_t count = (size_t)n * c * h * w;
    float *host = malloc(count * sizeof *host);
    clcnn_tensor *x = NULL;
    if (!host) return NULL;
    for (size_t i = 0; i < count; i++) host[i] = test_rng_uniform(rng, -1.0f, 1.0f);
    if (clcnn_tensor_create(g_ctx, 4, (int[]){n, c, h, w}, &x) != CLCNN_OK ||
        clcnn_tensor_write(x, host, count) != CLCNN_OK) {
        clcnn_tensor_destroy(x);
        x = NULL;
    }
    free(host);
    return x;
}

/* ---- fused evaluation forwards ---- */

/* A graph made by build() with CLCNN_FUSE set to fuse while it is created (the graph
 * reads the variable then); the caller's own setting is restored after. */
typedef clcnn_status (*build_fn)(clcnn_graph **g);

static clcnn_graph *make_graph_env(build_fn build, const char *var, const char *value) {
    const char *old = getenv(var);
    char *saved = old ? strdup(old) : NULL;
    setenv(var, value, 1);
    clcnn_graph *g = NULL;
    CHECK_OK(build(&g));
    if (saved) setenv(var, saved, 1);
    else unsetenv(var);
    free(saved);
    return g;
}

static clcnn_graph *make_graph(build_fn build, int fuse) {
    return make_graph_env(build, "CLCNN_FUSE", fuse ? "1" : "0");
}

static clcnn_status build_arch(const char *arch, clcnn_graph **g) {
    clcnn_resnet_config cfg;
    clcnn_status st = clcnn_resnet_config_for(arch, 10, 32, &cfg);
    return st != CLCNN_OK ? st : clcnn_resnet_build(g_ctx, &cfg, 3, g);
}
static clcnn_status build_resnet18(clcnn_graph **g) { return build_arch("resnet18", g); }
static clcnn_status build_seresnet18(clcnn_graph **g) { return build_arch("seresnet18", g); }
static clcnn_status build_mobilenet_v2(clcnn_graph **g) { return build_arch("mobilenet_v2", g); }
static clcnn_status build_tiny(clcnn_graph **g) {
    clcnn_resnet_config cfg = tiny_resnet(0);
    return clcnn_resnet_build(g_ctx, &cfg, 3, g);
}
static clcnn_status build_tiny_se(clcnn_graph **g) {
    clcnn_resnet_config cfg = tiny_resnet(1);
    return clcnn_resnet_build(g_ctx, &cfg, 7, g);
}

/* Every pattern the fusion knows and those it must leave alone, on [N, 4, 8, 8]:
 *   c1(bias) -> b1 -> r1                 conv + folded bn + ReLU epilogue
 *   c2 -> b2 -> a2 = relu(b2 + r1)       conv + folded bn + residual add + ReLU
 *   c3 -> b3, a3 = b3 + c3               c3 has two readers: nothing folds into it
 *   c4 -> b4, r4 = relu(b4), a4 = relu(r4 + b4)   b4 has two readers: folded, no epilogue
 *   c5(bias) -> s5 = silu(c5)            conv + activation, no batch norm
 *   c6 -> b6 -> a6 = b6 + b6             an add reading one layer twice is no epilogue
 *   gap -> fc */
static clcnn_status build_patterns(clcnn_graph **out) {
    clcnn_graph *g = NULL;
    const clcnn_conv_params p3 = {.pad_h = 1, .pad_w = 1}, p1 = {0};
    clcnn_status st = clcnn_graph_create(g_ctx, 4, 8, 8, 11, &g);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "c1", "input", 6, 3, 3, &p3, 1);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "b1", "c1");
    if (st == CLCNN_OK) st = clcnn_graph_activation(g, "r1", "b1", CLCNN_ACT_RELU);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "c2", "r1", 6, 3, 3, &p3, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "b2", "c2");
    if (st == CLCNN_OK) st = clcnn_graph_add(g, "a2", "b2", "r1", CLCNN_ACT_RELU);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "c3", "a2", 6, 1, 1, &p1, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "b3", "c3");
    if (st == CLCNN_OK) st = clcnn_graph_add(g, "a3", "b3", "c3", CLCNN_ACT_NONE);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "c4", "a3", 6, 3, 3, &p3, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "b4", "c4");
    if (st == CLCNN_OK) st = clcnn_graph_activation(g, "r4", "b4", CLCNN_ACT_RELU);
    if (st == CLCNN_OK) st = clcnn_graph_add(g, "a4", "r4", "b4", CLCNN_ACT_RELU);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "c5", "a4", 6, 3, 3, &p3, 1);
    if (st == CLCNN_OK) st = clcnn_graph_activation(g, "s5", "c5", CLCNN_ACT_SILU);
    if (st == CLCNN_OK) st = clcnn_graph_conv2d(g, "c6", "s5", 6, 1, 1, &p1, 0);
    if (st == CLCNN_OK) st = clcnn_graph_batchnorm(g, "b6", "c6");
    if (st == CLCNN_OK) st = clcnn_graph_add(g, "a6", "b6", "b6", CLCNN_ACT_RELU);
    if (st == CLCNN_OK) st = clcnn_graph_global_avg_pool(g, "gap", "a6");
    if (st == CLCNN_OK) st = clcnn_graph_linear(g, "fc", "gap", 3, 1);
    if (st != CLCNN_OK) clcnn_graph_destroy(g);
    *out = st == CLCNN_OK ? g : NULL;
    return st;
}

/* Write n values uniform in [lo, hi) into the named parameter. */
static void set_param(clcnn_graph *g, const char *name, test_rng *rng, float lo, float hi) {
    clcnn_tensor *t = clcnn_graph_param(g, name);
    CHECK(t != NULL, "no parameter %s", name);
    if (!t) return;
    const size_t n = clcnn_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    if (!v) return;
    for (size_t i = 0; i < n; i++) v[i] = test_rng_uniform(rng, lo, hi);
    CHECK_OK(clcnn_tensor_write(t, v, n));
    free(v);
}

/* Batch norms with statistics far from the fresh ones (weight 1, bias 0, mean 0,
 * variance 1), so that folding them is not close to the identity. Same seed, same values. */
static void randomize_bn(clcnn_graph *g, uint64_t seed) {
    test_rng rng = {seed};
    for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
        clcnn_layer_info info;
        CHECK_OK(clcnn_graph_layer(g, i, &info));
        if (strcmp(info.kind, "batchnorm")) continue;
        char name[160];
        static const struct { const char *suffix; float lo, hi; } p[] = {
            {"weight", 0.5f, 1.5f}, {"bias", -0.5f, 0.5f}, {"running_mean", -0.5f, 0.5f}, {"running_var", 0.5f, 2.0f}};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s.%s", info.name, p[k].suffix);
            set_param(g, name, &rng, p[k].lo, p[k].hi);
        }
    }
}

static float *read_tensor(const clcnn_tensor *t) {
    const size_t n = clcnn_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    if (v && clcnn_tensor_read(t, v, n) != CLCNN_OK) {
        free(v);
        v = NULL;
    }
    return v;
}

/* max |a - b| <= tol * max(1, max |b|) over two tensors of one shape; the worst element
 * is reported. Returns 1 when they match. */
static int tensors_close(const clcnn_tensor *a, const clcnn_tensor *b, double tol, const char *what) {
    CHECK(a && b, "%s: missing tensor (%s)", what, clcnn_last_error(g_ctx));
    if (!a || !b) return 0;
    const size_t n = clcnn_tensor_numel(b);
    CHECK(clcnn_tensor_numel(a) == n, "%s: %zu values, want %zu", what, clcnn_tensor_numel(a), n);
    float *va = read_tensor(a), *vb = read_tensor(b);
    int ok = 0;
    if (va && vb && clcnn_tensor_numel(a) == n) {
        double worst = 0, scale = 1;
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            const double d = fabs((double)va[i] - vb[i]);
            if (!(d <= worst)) worst = d, at = i; /* NaN counts as the worst */
            if (fabs(vb[i]) > scale) scale = fabs(vb[i]);
        }
        ok = worst <= tol * scale;
        CHECK(ok, "%s: differs by %g at %zu (%g vs %g; scale %g, tolerance %g)", what, worst, at, va[at], vb[at],
              scale, tol * scale);
    }
    free(va);
    free(vb);
    return ok;
}

/* Fused and unfused graphs agree on every layer's output (fused-away layers are
 * computed on request) after an evaluation forward of x. Folding reorders float
 * rounding (w * s summed, against the sum scaled): about 1e-6 relative per layer,
 * so 2e-5 of the largest value over a ResNet-18 leaves a margin and still catches any
 * wrong scale, bias, residual or activation, which are off by far more. */
#define FUSE_TOL 2e-5

static void compare_layers(clcnn_graph *fused, clcnn_graph *plain, const char *what) {
    for (int i = 1; i < clcnn_graph_layer_count(plain); i++) {
        clcnn_layer_info info;
        CHECK_OK(clcnn_graph_layer(plain, i, &info));
        char label[200];
        snprintf(label, sizeof label, "%s: layer %s", what, info.name);
        if (!tensors_close(clcnn_graph_tensor(fused, info.name), clcnn_graph_tensor(plain, info.name), FUSE_TOL,
                           label))
            break;
    }
}

static int forward_both(clcnn_graph *fused, clcnn_graph *plain, const clcnn_tensor *x, const char *what) {
    const clcnn_tensor *yf = NULL, *yp = NULL;
    CHECK_OK(clcnn_graph_forward(fused, x, &yf));
    CHECK_OK(clcnn_graph_forward(plain, x, &yp));
    if (!yf || !yp) return 0;
    char label[160];
    snprintf(label, sizeof label, "%s: output", what);
    return tensors_close(yf, yp, FUSE_TOL, label);
}

static void fused_matches(build_fn build, const char *what, int n, int c, int h, int w) {
    test_rng rng = {g_seed ^ 0xf05e};
    clcnn_graph *fused = make_graph(build, 1), *plain = make_graph(build, 0);
    clcnn_tensor *x = random_input(&rng, n, c, h, w);
    if (!fused || !plain || !x) goto done;
    randomize_bn(fused, g_seed ^ 0xb17);
    randomize_bn(plain, g_seed ^ 0xb17);
    if (forward_both(fused, plain, x, what)) compare_layers(fused, plain, what);
    /* The output again (folds reused), after asking for the fused-away layers. */
    forward_both(fused, plain, x, what);
done:
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(plain);
    clcnn_graph_destroy(fused);
}

static void test_graph_fused_resnet18(void) { fused_matches(build_resnet18, "resnet18", 2, 3, 32, 32); }
static void test_graph_fused_seresnet18(void) { fused_matches(build_seresnet18, "seresnet18", 2, 3, 32, 32); }
static void test_graph_fused_patterns(void) { fused_matches(build_patterns, "patterns", 3, 4, 8, 8); }

/* ---- folds follow parameter changes ---- */

typedef struct {
    clcnn_graph *fused, *plain;
    clcnn_tensor *x;
} pair;

static int pair_open(pair *p, build_fn build, uint64_t tag) {
    test_rng rng = {g_seed ^ tag};
    p->fused = make_graph(build, 1);
    p->plain = make_graph(build, 0);
    p->x = random_input(&rng, 2, 3, 32, 32);
    if (!p->fused || !p->plain || !p->x) return 0;
    randomize_bn(p->fused, g_seed ^ tag);
    randomize_bn(p->plain, g_seed ^ tag);
    return forward_both(p->fused, p->plain, p->x, "before the change"); /* folds made */
}

static void pair_close(pair *p) {
    clcnn_tensor_destroy(p->x);
    clcnn_graph_destroy(p->plain);
    clcnn_graph_destroy(p->fused);
}

/* A new value written through clcnn_graph_param: batch-norm statistics and a
 * convolution weight, each in a fresh hand-out after the fold was made. */
/* Write each named parameter with the same new values in both graphs (seeds from
 * seed0 on), and compare their outputs after each write. */
static void write_and_compare(pair *p, const char *const *names, int n, uint64_t seed0, const char *label) {
    for (int k = 0; k < n; k++) {
        test_rng ra = {g_seed ^ (seed0 + (uint64_t)k)}, rb = {g_seed ^ (seed0 + (uint64_t)k)};
        set_param(p->fused, names[k], &ra, 0.3f, 3.0f);
        set_param(p->plain, names[k], &rb, 0.3f, 3.0f);
        char what[128];
        snprintf(what, sizeof what, "%safter writing %s", label, names[k]);
        forward_both(p->fused, p->plain, p->x, what);
    }
}

static void test_graph_fold_after_param_write(void) {
    pair p = {0};
    static const char *const names[] = {"layer1.0.bn2.running_var", "layer2.0.conv1.weight", "bn1.bias"};
    if (pair_open(&p, build_tiny, 0xa1)) write_and_compare(&p, names, 3, 0, "");
    pair_close(&p);
}

/* With every 3x3 stride-1 convolution forced to Winograd, the fused graph keeps each
 * folded weight's Winograd transform: it must follow a batch-norm statistic and a
 * convolution weight written after the transform was made, and serve a second forward. */
static void test_graph_fold_winograd_cache(void) {
    const char *old = getenv("CLCNN_CONV_ALGO");
    char *saved = old ? strdup(old) : NULL;
    setenv("CLCNN_CONV_ALGO", "winograd", 1);
    pair p = {0};
    static const char *const names[] = {"layer1.0.bn2.running_var", "layer1.0.conv1.weight", "layer2.0.conv2.weight"};
    if (pair_open(&p, build_tiny, 0xa4)) {
        forward_both(p.fused, p.plain, p.x, "winograd: second forward, cached transforms");
        write_and_compare(&p, names, 3, 10, "winograd: ");
    }
    pair_close(&p);
    if (saved) setenv("CLCNN_CONV_ALGO", saved, 1);
    else unsetenv("CLCNN_CONV_ALGO");
    free(saved);
}

/* clcnn_graph_load of weights saved from the other graph after changing it. */
static void test_graph_fold_after_load(void) {
    pair p = {0};
    tmptree t = {0};
    clcnn_weights *w = NULL;
    if (pair_open(&p, build_tiny, 0xa2) && tmptree_open(&t, "fold")) {
        randomize_bn(p.plain, g_seed ^ 0x10ad);
        const char *path = tmptree_path(&t, "w.safetensors");
        CHECK_OK(clcnn_graph_save(p.plain, path, 0, NULL, NULL));
        CHECK_OK(clcnn_weights_load(g_ctx, path, &w));
        if (w) CHECK_OK(clcnn_graph_load(p.fused, w, CLCNN_LOAD_STRICT, NULL));
        if (!test_failures()) forward_both(p.fused, p.plain, p.x, "after clcnn_graph_load");
        tmptree_close(&t);
    }
    clcnn_weights_destroy(w);
    pair_close(&p);
}

/* A trainer step (training forward: running statistics; update: weights) on both, then
 * evaluation again. */
static void test_graph_fold_after_trainer_step(void) {
    pair p = {0};
    clcnn_trainer *tf = NULL, *tp = NULL;
    clcnn_tensor *labels = NULL;
    if (pair_open(&p, build_tiny, 0xa3)) {
        clcnn_train_params params = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD)};
        params.optimizer.lr = 0.1f;
        CHECK_OK(clcnn_trainer_create(p.fused, &params, &tf));
        CHECK_OK(clcnn_trainer_create(p.plain, &params, &tp));
        CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){2}, &labels));
        CHECK_OK(clcnn_tensor_write(labels, (const float[]){1, 3}, 2));
        if (!test_failures()) {
            CHECK_OK(clcnn_trainer_step(tf, p.x, labels, NULL));
            CHECK_OK(clcnn_trainer_step(tp, p.x, labels, NULL));
            clcnn_graph_set_training(p.fused, 0);
            clcnn_graph_set_training(p.plain, 0);
            forward_both(p.fused, p.plain, p.x, "after a trainer step");
        }
    }
    clcnn_trainer_destroy(tp);
    clcnn_trainer_destroy(tf);
    clcnn_tensor_destroy(labels);
    pair_close(&p);
}

/* ---- backward after a fused forward ---- */

static void grads_match(pair *p, const char *target, const clcnn_tensor *dout) {
    const clcnn_tensor *gf = NULL, *gp = NULL;
    char what[128];
    CHECK_OK(clcnn_graph_backward_to(p->fused, target, dout, &gf));
    CHECK_OK(clcnn_graph_backward_to(p->plain, target, dout, &gp));
    snprintf(what, sizeof what, "gradient at %s", target);
    if (gf && gp) tensors_close(gf, gp, FUSE_TOL, what);
    snprintf(what, sizeof what, "activation %s after the backward", target);
    tensors_close(clcnn_graph_tensor(p->fused, target), clcnn_graph_tensor(p->plain, target), FUSE_TOL, what);
}

/* Evaluation forward, then gradients to layers the fusion skipped (a convolution, a
 * folded batch norm), to a chain's end, and to every parameter (batch-norm weight
 * gradients read the fused-away convolution outputs). */
static void test_graph_fused_backward(void) {
    pair p = {0};
    clcnn_tensor *dout = NULL;
    if (pair_open(&p, build_tiny, 0xa4)) {
        test_rng rng = {g_seed ^ 0xd0};
        dout = random_input(&rng, 2, 5, 1, 1);
        if (dout) CHECK_OK(clcnn_tensor_reshape(dout, 2, (int[]){2, 5}));
        static const char *targets[] = {"layer2.0", "layer2.0.bn1", "layer1.0.conv2", "layer2.0.downsample.1", "conv1"};
        for (int k = 0; dout && k < 5; k++) {
            forward_both(p.fused, p.plain, p.x, "forward before a backward");
            grads_match(&p, targets[k], dout);
        }
        forward_both(p.fused, p.plain, p.x, "forward before the full backward");
        CHECK_OK(clcnn_graph_zero_grad(p.fused));
        CHECK_OK(clcnn_graph_zero_grad(p.plain));
        CHECK_OK(clcnn_graph_backward(p.fused, dout));
        CHECK_OK(clcnn_graph_backward(p.plain, dout));
        for (int i = 0; i < clcnn_graph_param_count(p.plain) && !test_failures(); i++) {
            const char *name = clcnn_graph_param_name(p.plain, i);
            const clcnn_tensor *gp = clcnn_graph_grad(p.plain, name);
            if (!gp) continue;
            char what[160];
            snprintf(what, sizeof what, "gradient of %s", name);
            tensors_close(clcnn_graph_grad(p.fused, name), gp, FUSE_TOL, what);
        }
    }
    clcnn_tensor_destroy(dout);
    pair_close(&p);
}

/* Training passes: a ReLU or ReLU6 that alone reads a batch norm takes over the norm's
 * backward (clcnn_batchnorm_act_backward, the mask made again from the norm's input).
 * Every parameter gradient agrees with the unfused graph's, with the norms on batch
 * statistics and again with module `frozen_module` frozen (its norms on running
 * statistics). */
static void training_grads_match(build_fn build, uint64_t tag, const char *frozen_module) {
    pair p = {0};
    clcnn_tensor *dout = NULL;
    if (!pair_open(&p, build, tag)) goto done;
    for (int frozen = 0; frozen < 2 && !test_failures(); frozen++) {
        if (frozen) {
            CHECK_OK(clcnn_graph_freeze(p.fused, frozen_module, 1, NULL));
            CHECK_OK(clcnn_graph_freeze(p.plain, frozen_module, 1, NULL));
        }
        clcnn_graph_set_training(p.fused, 1);
        clcnn_graph_set_training(p.plain, 1);
        clcnn_layer_info out;
        CHECK_OK(clcnn_graph_layer(p.plain, clcnn_graph_layer_count(p.plain) - 1, &out));
        const int classes = out.shape[0];
        test_rng rng = {g_seed ^ tag ^ 0x77};
        if (!dout && (dout = random_input(&rng, 2, classes, 1, 1)) != NULL)
            CHECK_OK(clcnn_tensor_reshape(dout, 2, (int[]){2, classes}));
        if (!dout || !forward_both(p.fused, p.plain, p.x, "training forward")) break;
        CHECK_OK(clcnn_graph_zero_grad(p.fused));
        CHECK_OK(clcnn_graph_zero_grad(p.plain));
        CHECK_OK(clcnn_graph_backward(p.fused, dout));
        CHECK_OK(clcnn_graph_backward(p.plain, dout));
        int compared = 0;
        for (int i = 0; i < clcnn_graph_param_count(p.plain) && !test_failures(); i++) {
            const char *name = clcnn_graph_param_name(p.plain, i);
            if (strstr(name, "running_")) continue;
            char what[192];
            snprintf(what, sizeof what, "gradient of %s%s%s", name, frozen ? ", frozen " : "", frozen ? frozen_module : "");
            tensors_close(clcnn_graph_grad(p.fused, name), clcnn_graph_grad(p.plain, name), FUSE_TOL, what);
            compared++;
        }
        CHECK(compared > 10, "only %d gradients compared", compared);
    }
done:
    clcnn_tensor_destroy(dout);
    pair_close(&p);
}

static void test_graph_training_relu_fused(void) {
    training_grads_match(build_tiny, 0xa7, "layer1");
    training_grads_match(build_tiny_se, 0xa8, "layer1");
    training_grads_match(build_mobilenet_v2, 0xa9, "features.2"); /* ReLU6 */
}

/* ---- profile ---- */

static void test_graph_profile_covers_layers(void) {
    test_rng rng = {g_seed ^ 0x9f01};
    clcnn_graph *g = make_graph(build_tiny_se, 1);
    clcnn_tensor *x = random_input(&rng, 2, 3, 32, 32);
    if (!g || !x) goto done;
    const int n = clcnn_graph_layer_count(g);
    clcnn_layer_profile *p = calloc((size_t)n, sizeof *p);
    for (int pass = 0; pass < 2 && p; pass++) { /* pass 0: forward only; 1: with the backward (training mode) */
        clcnn_graph_set_training(g, pass);
        CHECK_OK(clcnn_graph_profile(g, x, pass, p));
        if (test_failures()) break;
        double fwd = 0, bwd = 0;
        for (int i = 0; i < n; i++) {
            clcnn_layer_info info;
            CHECK_OK(clcnn_graph_layer(g, i, &info));
            CHECK(p[i].name && !strcmp(p[i].name, info.name) && !strcmp(p[i].kind, info.kind),
                  "pass %d layer %d: profile names %s (%s), the graph %s (%s)", pass, i, p[i].name, p[i].kind,
                  info.name, info.kind);
            CHECK(p[i].forward_ms >= 0 && p[i].forward_ms < 60e3 && p[i].backward_ms >= 0 && p[i].backward_ms < 60e3,
                  "pass %d layer %s: %g ms forward, %g ms backward", pass, info.name, p[i].forward_ms,
                  p[i].backward_ms);
            CHECK(pass || p[i].backward_ms == 0, "layer %s: backward time %g without a backward", info.name,
                  p[i].backward_ms);
            const int conv = !strcmp(info.kind, "conv2d");
            CHECK(conv ? p[i].algorithm[0] != 0 : !strcmp(p[i].algorithm, ""), "layer %s (%s): algorithm '%s'",
                  info.name, info.kind, p[i].algorithm);
            CHECK(p[i].forward_flops >= 0, "layer %s: %g flops", info.name, p[i].forward_flops);
            fwd += p[i].forward_ms;
            bwd += p[i].backward_ms;
        }
        CHECK(fwd > 0 && (!pass || bwd > 0), "pass %d: total %g ms forward, %g ms backward", pass, fwd, bwd);
        /* layer1.0.conv1: 3x3, 8 -> 8 channels, batch 2. */
        clcnn_layer_info c1;
        const int i1 = clcnn_graph_find_layer(g, "layer1.0.conv1", &c1);
        const double want = 2.0 * 2 * 8 * c1.shape[1] * c1.shape[2] * 8 * 3 * 3;
        CHECK(i1 > 0 && fabs(p[i1].forward_flops - want) < 1e-6 * want, "layer1.0.conv1: %g flops, want %g",
              i1 > 0 ? p[i1].forward_flops : -1, want);
        const int fc = n - 1;
        CHECK(fabs(p[fc].forward_flops - 2.0 * 2 * 5 * 16) < 1e-9, "fc: %g flops, want %g", p[fc].forward_flops,
              2.0 * 2 * 5 * 16);
        CHECK(p[0].forward_flops == 0 && p[0].forward_ms == 0, "input: %g flops, %g ms", p[0].forward_flops,
              p[0].forward_ms);
        /* Evaluation mode fuses conv1 -> bn1 -> relu1: the time is the convolution's. */
        clcnn_layer_info info;
        const int bn = clcnn_graph_find_layer(g, "layer1.0.bn1", &info);
        const int relu = clcnn_graph_find_layer(g, "layer1.0.relu1", &info);
        CHECK(pass || (bn > 0 && relu > 0 && p[bn].forward_ms == 0 && p[relu].forward_ms == 0 &&
                       p[bn - 1].forward_ms > 0),
              "evaluation: layer1.0.conv1, bn1, relu1 take %g, %g, %g ms", bn > 0 ? p[bn - 1].forward_ms : -1,
              bn > 0 ? p[bn].forward_ms : -1, relu > 0 ? p[relu].forward_ms : -1);
    }
    clcnn_graph_set_training(g, 0);
    CHECK_STATUS(clcnn_graph_profile(g, x, 0, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    free(p);
done:
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(g);
}

/* ---- CLCNN_CHECK_NUMERICS ---- */

static clcnn_graph *numerics_graph(build_fn build) { return make_graph_env(build, "CLCNN_CHECK_NUMERICS", "1"); }

static void set_element(clcnn_graph *g, const char *name, size_t index, float v) {
    clcnn_tensor *t = clcnn_graph_param(g, name);
    float *host = t ? read_tensor(t) : NULL;
    CHECK(host != NULL, "cannot read %s", name);
    if (!host) return;
    host[index] = v;
    CHECK_OK(clcnn_tensor_write(t, host, clcnn_tensor_numel(t)));
    free(host);
}

static void expect_numerics(clcnn_status st, const char *want, const char *what) {
    CHECK(st == CLCNN_ERR_NUMERICS, "%s: status %d (%s), want CLCNN_ERR_NUMERICS", what, st, clcnn_status_str(st));
    const char *msg = clcnn_last_error(g_ctx);
    CHECK(strstr(msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, want);
}

/* A NaN in a batch norm's weight: the batch norm is named (not the layers after it),
 * at the first element of the poisoned channel. The same graph without the check runs
 * through, and the check passes clean graphs. */
static void test_graph_numerics_nan_parameter(void) {
    test_rng rng = {g_seed ^ 0x4a4};
    clcnn_graph *g = numerics_graph(build_tiny), *plain = make_graph(build_tiny, 1);
    clcnn_tensor *x = random_input(&rng, 2, 3, 32, 32);
    if (!g || !plain || !x) goto done;
    const clcnn_tensor *y = NULL;
    CHECK_OK(clcnn_graph_forward(g, x, &y)); /* clean */
    for (int train = 0; train < 2; train++) {
        clcnn_graph_set_training(g, train);
        set_element(g, "layer1.0.bn2.weight", 3, NAN);
        /* layer1 is [2, 8, 8, 8]: channel 3 of image 0 starts at 3 * 64. */
        expect_numerics(clcnn_graph_forward(g, x, &y),
                        "forward: layer layer1.0.bn2 produced a non-finite value (NaN) at index 192 of [2, 8, 8, 8]",
                        train ? "training forward" : "evaluation forward");
        set_element(g, "layer1.0.bn2.weight", 3, 1.0f);
    }
    set_element(plain, "layer1.0.bn2.weight", 3, NAN);
    CHECK_OK(clcnn_graph_forward(plain, x, &y)); /* without the check: no error, NaN in the output */
done:
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(plain);
    clcnn_graph_destroy(g);
}

/* An infinite input is reported as the input's, not as the first layer's. */
static void test_graph_numerics_inf_input(void) {
    test_rng rng = {g_seed ^ 0x1f};
    clcnn_graph *g = numerics_graph(build_tiny);
    clcnn_tensor *x = random_input(&rng, 2, 3, 32, 32);
    float *host = x ? read_tensor(x) : NULL;
    if (g && host) {
        host[3 * 32 * 32 + 77] = -INFINITY;
        CHECK_OK(clcnn_tensor_write(x, host, clcnn_tensor_numel(x)));
        expect_numerics(clcnn_graph_forward(g, x, NULL),
                        "forward: the input holds a non-finite value (-Inf) at index 3149 of [2, 3, 32, 32]", "input");
    }
    free(host);
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(g);
}

/* fc1 (4 -> 4, tiny weights) -> fc2 (4 -> 3): a forward that stays finite and a backward
 * whose gradient of fc1's output overflows, from two 2e38 weights in one column. */
static clcnn_status build_overflow(clcnn_graph **out) {
    clcnn_graph *g = NULL;
    clcnn_status st = clcnn_graph_create(g_ctx, 4, 1, 1, 5, &g);
    if (st == CLCNN_OK) st = clcnn_graph_linear(g, "fc1", "input", 4, 1);
    if (st == CLCNN_OK) st = clcnn_graph_linear(g, "fc2", "fc1", 3, 1);
    if (st != CLCNN_OK) clcnn_graph_destroy(g);
    *out = st == CLCNN_OK ? g : NULL;
    return st;
}

static void test_graph_numerics_backward(void) {
    test_rng rng = {g_seed ^ 0xbac};
    clcnn_graph *g = numerics_graph(build_overflow);
    clcnn_tensor *x = random_input(&rng, 2, 4, 1, 1), *dout = NULL;
    if (!g || !x) goto done;
    set_param(g, "fc1.weight", &rng, -1e-4f, 1e-4f);
    set_param(g, "fc1.bias", &rng, -1e-4f, 1e-4f);
    set_element(g, "fc2.weight", 0 * 4 + 1, 2e38f);
    set_element(g, "fc2.weight", 1 * 4 + 1, 2e38f);
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, (int[]){2, 3}, &dout));
    CHECK_OK(clcnn_tensor_fill(dout, 1.0f));
    CHECK_OK(clcnn_graph_forward(g, x, NULL));
    if (test_failures()) goto done;
    const char *want = "backward: layer fc2 produced a non-finite value (+Inf) at index 1 of [2, 4], the gradient of "
                       "fc1's output";
    expect_numerics(clcnn_graph_backward(g, dout), want, "backward");
    const clcnn_tensor *grad = NULL;
    expect_numerics(clcnn_graph_backward_to(g, "fc1", dout, &grad), want, "backward_to");
    CHECK_OK(clcnn_tensor_fill(dout, NAN));
    expect_numerics(clcnn_graph_backward(g, dout),
                    "backward: the output gradient holds a non-finite value (NaN) at index 0 of [2, 3]", "dout");
done:
    clcnn_tensor_destroy(dout);
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(g);
}

/* ---- steady state ---- */

static uint64_t device_allocations(void) {
    clcnn_context_stats s;
    clcnn_context_get_stats(g_ctx, &s);
    return s.device_allocations;
}

/* One round of what applications repeat: an evaluation forward, a CAM-like gradient to
 * a fused-away layer and its activations, a training step, evaluation again (refolds). */
static clcnn_status round_trip(pair *p, clcnn_trainer *t, const clcnn_tensor *labels, const clcnn_tensor *dout) {
    const clcnn_tensor *grad = NULL;
    clcnn_status st;
    clcnn_graph_set_training(p->fused, 0);
    if ((st = clcnn_graph_forward(p->fused, p->x, NULL)) != CLCNN_OK ||
        (st = clcnn_graph_backward_to(p->fused, "layer2.0.bn1", dout, &grad)) != CLCNN_OK)
        return st;
    if (!clcnn_graph_tensor(p->fused, "layer2.0.bn1")) return CLCNN_ERR_NOT_FOUND;
    if ((st = clcnn_trainer_step(t, p->x, labels, NULL)) != CLCNN_OK) return st;
    clcnn_graph_set_training(p->fused, 0);
    if ((st = clcnn_graph_forward(p->fused, p->x, NULL)) != CLCNN_OK) return st;
    return clcnn_finish(g_ctx);
}

/* After the first rounds, repeating them creates no device buffer: per-batch tensors,
 * folds and scratch all come back from the graph or the pool. */
static void test_graph_steady_state_allocations(void) {
    pair p = {0};
    clcnn_trainer *t = NULL;
    clcnn_tensor *labels = NULL, *dout = NULL;
    if (!pair_open(&p, build_tiny, 0x5a)) goto done;
    clcnn_train_params params = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_ADAM)};
    CHECK_OK(clcnn_trainer_create(p.fused, &params, &t));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){2}, &labels));
    CHECK_OK(clcnn_tensor_write(labels, (const float[]){0, 4}, 2));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, (int[]){2, 5}, &dout));
    CHECK_OK(clcnn_tensor_fill(dout, 0.5f));
    for (int i = 0; i < 2 && !test_failures(); i++) CHECK_OK(round_trip(&p, t, labels, dout));
    const uint64_t before = device_allocations();
    for (int i = 0; i < 3 && !test_failures(); i++) CHECK_OK(round_trip(&p, t, labels, dout));
    const uint64_t after = device_allocations();
    CHECK(after == before, "3 more rounds made %llu device allocations", (unsigned long long)(after - before));
done:
    clcnn_tensor_destroy(dout);
    clcnn_tensor_destroy(labels);
    clcnn_trainer_destroy(t);
    pair_close(&p);
}

const test_case test_graph_fast_cases[] = {
    {"graph_profile_covers_layers", test_graph_profile_covers_layers},
    {"graph_fused_resnet18", test_graph_fused_resnet18},
    {"graph_fused_seresnet18", test_graph_fused_seresnet18},
    {"graph_fused_patterns", test_graph_fused_patterns},
    {"graph_fold_after_param_write", test_graph_fold_after_param_write},
    {"graph_fold_after_load", test_graph_fold_after_load},
    {"graph_fold_winograd_cache", test_graph_fold_winograd_cache},
    {"graph_fold_after_trainer_step", test_graph_fold_after_trainer_step},
    {"graph_fused_backward", test_graph_fused_backward},
    {"graph_training_relu_fused", test_graph_training_relu_fused},
    {"graph_numerics_nan_parameter", test_graph_numerics_nan_parameter},
    {"graph_numerics_inf_input", test_graph_numerics_inf_input},
    {"graph_numerics_backward", test_graph_numerics_backward},
    {"graph_steady_state_allocations", test_graph_steady_state_allocations},
    {NULL, NULL},
};
