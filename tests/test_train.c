/* test_train.c: whole training steps. A tiny SE-ResNet takes the same steps as
 * PyTorch (SGD with momentum and weight decay; AdamW with label smoothing; a frozen
 * backbone under a trained head; staged fine-tuning), and MobileNetV2 and EfficientNet-B0
 * one step each, golden
 * files from scripts/make_golden_train.py;
 * learning happens on a small synthetic problem; a NaN loss stops training without
 * touching the weights; steady-state steps allocate no device memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "harness.h"
#include "testutil.h"
#include "ref/detinit.h"

/* Float rounding through ~10 layers, a reduction order other than oneDNN's, and (for
 * the updated weights) two steps of it: 2e-4 of the largest magnitude per tensor plus
 * 1e-5 relative is what float32 allows for these sizes; a wrong formula misses by far more. */
#define GOLD_ATOL_OF_MAX 2e-4
#define GOLD_RTOL 1e-5

typedef struct {
    clcnn_weights *init, *gold;
    clcnn_graph *g;
    clcnn_trainer *t;
    const clcnn_tensor *x, *labels;
} golden_run;

static int golden_run_start(golden_run *r, const clcnn_train_params *p) {
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("train_seresnet_init.safetensors"), &r->init));
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("train_seresnet.safetensors"), &r->gold));
    const clcnn_resnet_config cfg = {.bottleneck = 0, .stages = 2, .blocks = {1, 1}, .widths = {8, 16}, .se = 1,
                                     .classes = 5, .in_channels = 3, .height = 32, .width = 32};
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &r->g));
    if (test_failures()) return 0;
    CHECK_OK(clcnn_graph_load(r->g, r->init, CLCNN_LOAD_STRICT, NULL));
    CHECK_OK(clcnn_trainer_create(r->g, p, &r->t));
    r->x = clcnn_weights_get(r->gold, "input");
    r->labels = clcnn_weights_get(r->gold, "labels");
    CHECK(r->x && r->labels, "golden file lacks input or labels");
    return !test_failures();
}

static void golden_run_end(golden_run *r) {
    clcnn_trainer_destroy(r->t);
    clcnn_graph_destroy(r->g);
    clcnn_weights_destroy(r->gold);
    clcnn_weights_destroy(r->init);
}

/* Compare a device tensor with the golden tensor called `key`: within atol_of_max of
 * its largest magnitude plus GOLD_RTOL of each value. */
static void compare_within(const char *what, const clcnn_tensor *got_t, const clcnn_weights *gold, const char *key,
                           double atol_of_max) {
    const clcnn_tensor *want_t = clcnn_weights_get(gold, key);
    CHECK(want_t && got_t, "%s: %s missing", what, key);
    if (!want_t || !got_t) return;
    const size_t n = clcnn_tensor_numel(want_t);
    CHECK(clcnn_tensor_numel(got_t) == n, "%s %s: %zu values, golden %zu", what, key, clcnn_tensor_numel(got_t), n);
    if (clcnn_tensor_numel(got_t) != n) return;
    float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
    if (got && want && clcnn_tensor_read(got_t, got, n) == CLCNN_OK && clcnn_tensor_read(want_t, want, n) == CLCNN_OK) {
        double max = 0;
        for (size_t i = 0; i < n; i++) max = fmax(max, fabs(want[i]));
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            const double err = fabs((double)got[i] - want[i]);
            if (!(err <= atol_of_max * max + GOLD_RTOL * fabs(want[i])) && bad++ < 3)
                CHECK(0, "%s %s[%zu]: clcnn %.7g, PyTorch %.7g (max |golden| %.3g, allowed %.2g of it)", what, key, i,
                      got[i], want[i], max, atol_of_max);
        }
    } else {
        CHECK(0, "%s %s: cannot read", what, key);
    }
    free(got);
    free(want);
}

static void compare(const char *what, const clcnn_tensor *got_t, const clcnn_weights *gold, const char *key) {
    compare_within(what, got_t, gold, key, GOLD_ATOL_OF_MAX);
}

static void compare_all_params(const char *what, const golden_run *r, const char *prefix) {
    char key[256];
    for (int i = 0; i < clcnn_graph_param_count(r->g); i++) {
        const char *name = clcnn_graph_param_name(r->g, i);
        snprintf(key, sizeof key, "%s.%s", prefix, name);
        compare(what, clcnn_graph_param(r->g, name), r->gold, key);
    }
}

static void check_losses(const char *what, const float *got, const clcnn_weights *gold, const char *key, int n) {
    float want[4] = {0};
    const clcnn_tensor *t = clcnn_weights_get(gold, key);
    CHECK(t && (int)clcnn_tensor_numel(t) == n, "%s missing", key);
    if (!t) return;
    CHECK_OK(clcnn_tensor_read(t, want, (size_t)n));
    for (int i = 0; i < n; i++)
        CHECK(fabsf(got[i] - want[i]) <= 1e-5f * fabsf(want[i]) + 1e-5f, "%s loss of step %d: %.7f, PyTorch %.7f", what,
              i + 1, got[i], want[i]);
}

static void test_train_sgd_matches_pytorch(void) {
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD)};
    p.optimizer.lr = 0.05f;
    p.optimizer.momentum = 0.9f;
    p.optimizer.weight_decay = 1e-3f;
    golden_run r = {0};
    if (golden_run_start(&r, &p)) {
        float loss[2];
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[0]));
        char key[256];
        for (int i = 0; i < clcnn_graph_param_count(r.g); i++) { /* gradients of step 1 */
            const char *name = clcnn_graph_param_name(r.g, i);
            if (!clcnn_graph_grad(r.g, name)) continue;
            snprintf(key, sizeof key, "grad1.%s", name);
            compare("gradient", clcnn_graph_grad(r.g, name), r.gold, key);
        }
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[1]));
        check_losses("sgd", loss, r.gold, "sgd_loss", 2);
        compare_all_params("after 2 SGD steps", &r, "sgd");
        CHECK(clcnn_trainer_steps(r.t) == 2, "steps %d", clcnn_trainer_steps(r.t));
    }
    golden_run_end(&r);
}

static void test_train_adamw_matches_pytorch(void) {
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_ADAMW), .label_smoothing = 0.1f};
    golden_run r = {0};
    if (golden_run_start(&r, &p)) {
        float loss[2];
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[0]));
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[1]));
        check_losses("adamw", loss, r.gold, "adamw_loss", 2);
        compare_all_params("after 2 AdamW steps", &r, "adamw");
    }
    golden_run_end(&r);
}

static void test_train_frozen_backbone_matches_pytorch(void) {
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD)};
    p.optimizer.lr = 0.1f;
    golden_run r = {0};
    if (golden_run_start(&r, &p)) {
        CHECK_OK(clcnn_graph_freeze(r.g, "", 1, NULL));
        CHECK_OK(clcnn_graph_freeze(r.g, "fc", 0, NULL));
        float loss;
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss));
        check_losses("frozen", &loss, r.gold, "frozen_loss", 1);
        compare_all_params("after 1 step with a frozen backbone", &r, "frozen");
        /* The backward pass stopped at fc: no frozen layer got a gradient. */
        float gw[8 * 3 * 7 * 7];
        CHECK_OK(clcnn_tensor_read(clcnn_graph_grad(r.g, "conv1.weight"), gw, 8 * 3 * 7 * 7));
        for (int i = 0; i < 8 * 3 * 7 * 7; i++) CHECK(gw[i] == 0.0f, "frozen conv1.weight got gradient %g", gw[i]);
    }
    golden_run_end(&r);
}

/* Staged fine-tuning: two Adam steps of the head alone, then everything through
 * clcnn_trainer_unfreeze. The backbone's moments start at zero with their own step
 * count, as PyTorch's add_param_group gives them; with the trainer's step count (3)
 * instead, Adam's bias correction would make their first update 0.64 of PyTorch's. */
static void test_train_staged_matches_pytorch(void) {
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_ADAM)};
    p.optimizer.lr = 1e-3f;
    golden_run r = {0};
    if (golden_run_start(&r, &p)) {
        CHECK_OK(clcnn_graph_freeze(r.g, "", 1, NULL));
        CHECK_OK(clcnn_graph_freeze(r.g, "fc", 0, NULL));
        float loss[4];
        int matched = -1;
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[0]));
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[1]));
        CHECK_STATUS(clcnn_trainer_unfreeze(r.t, "no_such_layer", &matched), CLCNN_ERR_NOT_FOUND);
        CHECK(matched == 0, "no_such_layer: %d unfrozen", matched);
        CHECK_OK(clcnn_trainer_unfreeze(r.t, "fc", &matched)); /* trains already: nothing changes */
        CHECK(matched == 0, "fc, already trainable: %d unfrozen", matched);
        CHECK_OK(clcnn_trainer_unfreeze(r.t, "", &matched));
        CHECK(matched == clcnn_graph_param_count(r.g) - 2, "%d of %d parameters unfrozen, want all but fc's 2", matched,
              clcnn_graph_param_count(r.g));
        CHECK(!clcnn_graph_param_is_frozen(r.g, "conv1.weight"), "conv1.weight still frozen");
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[2]));
        CHECK_OK(clcnn_trainer_step(r.t, r.x, r.labels, &loss[3]));
        check_losses("staged", loss, r.gold, "staged_loss", 4);
        compare_all_params("after 2 steps of the head and 2 of everything", &r, "staged");
        CHECK(clcnn_trainer_steps(r.t) == 4, "steps %d", clcnn_trainer_steps(r.t));
    }
    golden_run_end(&r);
}

/* ---- learning on a synthetic problem ---- */

#define SYN_SIZE 16
#define SYN_CLASSES 3

/* Class 0: a bright square top-left; 1: bottom-right; 2: a bright horizontal bar; on noise. */
static void synthetic_batch(test_rng *rng, int n, float *x, float *labels) {
    for (int i = 0; i < n; i++) {
        const int c = test_rng_int(rng, 0, SYN_CLASSES - 1);
        labels[i] = (float)c;
        const int oy = test_rng_int(rng, 0, 3), ox = test_rng_int(rng, 0, 3);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < SYN_SIZE; y++)
                for (int xx = 0; xx < SYN_SIZE; xx++) {
                    int on;
                    if (c == 0) on = y >= oy && y < oy + 5 && xx >= ox && xx < ox + 5;
                    else if (c == 1) on = y >= 11 - oy && y < 16 - oy && xx >= 11 - ox && xx < 16 - ox;
                    else on = y >= 6 + oy / 2 && y < 9 + oy / 2;
                    x[((i * 3 + ch) * SYN_SIZE + y) * SYN_SIZE + xx] = (on ? 1.0f : 0.0f) + test_rng_uniform(rng, -0.3f, 0.3f);
                }
    }
}

/* conv-bn-relu, maxpool, conv-bn-relu, global pool, dropout, linear. */
static clcnn_graph *small_net(void) {
    clcnn_graph *g = NULL;
    const clcnn_conv_params same = {.pad_h = 1, .pad_w = 1};
    const clcnn_pool_params mp = {.mode = CLCNN_POOL_MAX, .kernel_h = 2, .kernel_w = 2};
    CHECK_OK(clcnn_graph_create(g_ctx, 3, SYN_SIZE, SYN_SIZE, g_seed, &g));
    CHECK_OK(clcnn_graph_conv2d(g, "conv1", "input", 8, 3, 3, &same, 0));
    CHECK_OK(clcnn_graph_batchnorm(g, "bn1", "conv1"));
    CHECK_OK(clcnn_graph_activation(g, "relu1", "bn1", CLCNN_ACT_RELU));
    CHECK_OK(clcnn_graph_pool2d(g, "pool", "relu1", &mp));
    CHECK_OK(clcnn_graph_conv2d(g, "conv2", "pool", 16, 3, 3, &same, 0));
    CHECK_OK(clcnn_graph_batchnorm(g, "bn2", "conv2"));
    CHECK_OK(clcnn_graph_activation(g, "relu2", "bn2", CLCNN_ACT_RELU));
    CHECK_OK(clcnn_graph_global_avg_pool(g, "gap", "relu2"));
    CHECK_OK(clcnn_graph_dropout(g, "drop", "gap", 0.1f));
    CHECK_OK(clcnn_graph_linear(g, "fc", "drop", SYN_CLASSES, 1));
    if (test_failures()) {
        clcnn_graph_destroy(g);
        return NULL;
    }
    return g;
}

static double accuracy(clcnn_graph *g, const clcnn_tensor *x, const float *labels, int n) {
    const clcnn_tensor *out = NULL;
    float logits[64 * SYN_CLASSES];
    clcnn_graph_set_training(g, 0);
    CHECK_OK(clcnn_graph_forward(g, x, &out));
    if (!out || clcnn_tensor_read(out, logits, (size_t)n * SYN_CLASSES) != CLCNN_OK) return 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < SYN_CLASSES; c++)
            if (logits[i * SYN_CLASSES + c] > logits[i * SYN_CLASSES + best]) best = c;
        right += best == (int)labels[i];
    }
    return (double)right / n;
}

static void test_train_learns_synthetic(void) {
    enum { BATCH = 16, STEPS = 150, TEST_N = 64 };
    test_rng rng = {g_seed ^ 0x5EED5};
    clcnn_graph *g = small_net();
    clcnn_trainer *t = NULL;
    clcnn_tensor *x = NULL, *y = NULL, *tx = NULL;
    static float hx[TEST_N * 3 * SYN_SIZE * SYN_SIZE], hy[TEST_N], ty[TEST_N];
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD), .clip_norm = 5.0f};
    p.optimizer.momentum = 0.9f;
    p.optimizer.weight_decay = 1e-4f;
    p.schedule = (clcnn_schedule){.kind = CLCNN_SCHEDULE_COSINE, .base_lr = 0.05f, .warmup_steps = 10,
                                  .total_steps = STEPS - 10};
    if (!g) return;
    CHECK_OK(clcnn_trainer_create(g, &p, &t));
    clcnn_train_params got = {0};
    CHECK_OK(clcnn_trainer_get_params(t, &got));
    CHECK(got.optimizer.momentum == 0.9f && got.optimizer.weight_decay == 1e-4f && got.clip_norm == 5.0f &&
              got.schedule.base_lr == 0.05f && got.schedule.warmup_steps == 10 && !got.class_weights,
          "clcnn_trainer_get_params: momentum %g, weight decay %g, clip %g, base lr %g", (double)got.optimizer.momentum,
          (double)got.optimizer.weight_decay, (double)got.clip_norm, (double)got.schedule.base_lr);
    CHECK_STATUS(clcnn_trainer_get_params(t, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_trainer_get_params(NULL, &got), CLCNN_ERR_INVALID_ARGUMENT);
    int matched = -1;
    CHECK_STATUS(clcnn_trainer_set_lr_mult(t, "no_such_layer", 0.5f, &matched), CLCNN_ERR_NOT_FOUND);
    CHECK_STATUS(clcnn_trainer_set_lr_mult(t, "", -1.0f, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_trainer_set_lr_mult(t, "", NAN, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_trainer_set_lr_mult(NULL, "", 1.0f, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_OK(clcnn_trainer_set_lr_mult(t, "", 1.0f, &matched)); /* every parameter, back to 1: training unchanged */
    CHECK(matched == clcnn_graph_param_count(g), "\"\" matched %d of %d parameters", matched,
          clcnn_graph_param_count(g));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){BATCH, 3, SYN_SIZE, SYN_SIZE}, &x));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){BATCH}, &y));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){TEST_N, 3, SYN_SIZE, SYN_SIZE}, &tx));
    if (test_failures()) goto done;
    synthetic_batch(&rng, TEST_N, hx, ty);
    CHECK_OK(clcnn_tensor_write(tx, hx, (size_t)TEST_N * 3 * SYN_SIZE * SYN_SIZE));
    const double before = accuracy(g, tx, ty, TEST_N);
    double first = 0, last = 0;
    for (int s = 0; s < STEPS && !test_failures(); s++) {
        float loss = 0;
        synthetic_batch(&rng, BATCH, hx, hy);
        CHECK_OK(clcnn_tensor_write(x, hx, (size_t)BATCH * 3 * SYN_SIZE * SYN_SIZE));
        CHECK_OK(clcnn_tensor_write(y, hy, BATCH));
        CHECK_OK(clcnn_trainer_step(t, x, y, &loss));
        if (s < 10) first += loss / 10;
        if (s >= STEPS - 10) last += loss / 10;
    }
    const double after = accuracy(g, tx, ty, TEST_N);
    printf("    loss %.3f -> %.3f over %d steps; held-out accuracy %.2f -> %.2f\n", first, last, STEPS, before, after);
    CHECK(last < 0.5 * first, "loss fell only from %.3f to %.3f", first, last);
    CHECK(after >= 0.9, "held-out accuracy %.2f after training (%.2f before)", after, before);
done:
    clcnn_tensor_destroy(tx);
    clcnn_tensor_destroy(y);
    clcnn_tensor_destroy(x);
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g);
}

/* A NaN input at step 3 stops with an error naming step 3, and the weights stay as
 * step 2 left them. Steps 2..3 allocate no device memory. */
static void test_train_nan_stops_and_no_allocations(void) {
    enum { BATCH = 8 };
    test_rng rng = {g_seed ^ 0xBAD};
    clcnn_graph *g = small_net();
    clcnn_trainer *t = NULL;
    clcnn_tensor *x = NULL, *y = NULL;
    static float hx[BATCH * 3 * SYN_SIZE * SYN_SIZE], hy[BATCH], w_before[16 * 8 * 9], w_after[16 * 8 * 9];
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_ADAM)};
    if (!g) return;
    CHECK_OK(clcnn_trainer_create(g, &p, &t));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){BATCH, 3, SYN_SIZE, SYN_SIZE}, &x));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){BATCH}, &y));
    if (test_failures()) goto done;
    synthetic_batch(&rng, BATCH, hx, hy);
    CHECK_OK(clcnn_tensor_write(x, hx, sizeof hx / sizeof hx[0]));
    CHECK_OK(clcnn_tensor_write(y, hy, BATCH));
    CHECK_OK(clcnn_trainer_step(t, x, y, NULL));
    clcnn_context_stats s1, s2;
    clcnn_context_get_stats(g_ctx, &s1);
    CHECK_OK(clcnn_trainer_step(t, x, y, NULL));
    clcnn_context_get_stats(g_ctx, &s2);
    CHECK(s2.device_allocations == s1.device_allocations, "step 2 made %llu device allocations",
          (unsigned long long)(s2.device_allocations - s1.device_allocations));
    CHECK(s2.pool_bytes_in_use == s1.pool_bytes_in_use, "step 2 changed the memory in use: %llu -> %llu bytes",
          (unsigned long long)s1.pool_bytes_in_use, (unsigned long long)s2.pool_bytes_in_use);
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "conv2.weight"), w_before, sizeof w_before / sizeof w_before[0]));
    hx[5] = NAN;
    CHECK_OK(clcnn_tensor_write(x, hx, sizeof hx / sizeof hx[0]));
    float loss = 0;
    CHECK_STATUS(clcnn_trainer_step(t, x, y, &loss), CLCNN_ERR_NUMERICS);
    CHECK(isnan(loss), "loss %g, want NaN", loss);
    CHECK(strstr(clcnn_last_error(g_ctx), "step 3") != NULL, "error does not name step 3: %s", clcnn_last_error(g_ctx));
    CHECK(clcnn_trainer_steps(t) == 2, "%d steps counted after the NaN", clcnn_trainer_steps(t));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "conv2.weight"), w_after, sizeof w_after / sizeof w_after[0]));
    CHECK(!memcmp(w_before, w_after, sizeof w_before), "a NaN step changed conv2.weight");
done:
    clcnn_tensor_destroy(y);
    clcnn_tensor_destroy(x);
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g);
}

/* golden tensor `key` against t, allowing twice the golden's measured float32 spread
 * for it where that exceeds GOLD_ATOL_OF_MAX (make_golden_train.py's mobilenet_v2_step:
 * how far PyTorch's own float32 step lands from the float64 one when its input moves by
 * rounding, because some ReLU6 input then crosses its kink). */
static void compare_spread(const char *what, const clcnn_tensor *t, const clcnn_weights *gold, const char *key,
                           json_t *spread) {
    const double s = json_number_value(json_object_get(spread, key));
    compare_within(what, t, gold, key, fmax(GOLD_ATOL_OF_MAX, 2 * s));
}

/* Dropout and stochastic depth off, as in the golden (their masks are PyTorch's own). */
static void no_random_layers(clcnn_graph *g) {
    for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
        clcnn_layer_info l;
        if (clcnn_graph_layer(g, i, &l) == CLCNN_OK &&
            (!strcmp(l.kind, "dropout") || !strcmp(l.kind, "stochastic_depth")))
            CHECK_OK(clcnn_graph_set_dropout(g, l.name, 0.0f));
    }
}

/* One SGD step of a zoo network in train mode (batch statistics, depthwise convolutions
 * of strides 1 and 2, residual additions; MobileNetV2's ReLU6, EfficientNet's SiLU, SE and
 * stochastic depth), as make_golden_train.py's zoo_step: the loss, the gradients and the
 * weights and running statistics after the step of the tensors it checked, against
 * PyTorch's float64 step. */
static void zoo_step_matches(const char *arch) {
    clcnn_weights *gold = NULL;
    clcnn_graph *g = NULL;
    clcnn_trainer *t = NULL;
    clcnn_tensor *x = NULL, *labels = NULL;
    json_t *spread = NULL;
    char file[64];
    snprintf(file, sizeof file, "train_%s.safetensors", arch);
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path(file), &gold));
    if (!gold) return;
    const int seed = tu_golden_meta_int(gold, "seed"), size = tu_golden_meta_int(gold, "size"),
              batch = tu_golden_meta_int(gold, "batch"), classes = tu_golden_meta_int(gold, "classes");
    const char *input = clcnn_weights_metadata(gold, "input"), *spread_text = clcnn_weights_metadata(gold, "spread");
    spread = spread_text ? json_loads(spread_text, 0, NULL) : NULL;
    CHECK(input && json_is_object(spread) && batch == 4, "incomplete golden (input, spread, batch %d of 4 labels)",
          batch);
    clcnn_resnet_config cfg;
    CHECK_OK(clcnn_resnet_config_for(arch, classes, size, &cfg));
    if (test_failures()) goto done;
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (!g) goto done;
    CHECK_OK(detinit_graph(g, (uint64_t)seed));
    no_random_layers(g);
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD)};
    p.optimizer.lr = 0.05f;
    p.optimizer.momentum = 0.9f;
    p.optimizer.weight_decay = 1e-3f;
    CHECK_OK(clcnn_trainer_create(g, &p, &t));
    const size_t n = (size_t)batch * 3 * size * size;
    float *xh = malloc(n * sizeof *xh);
    const float label_values[4] = {0, 3, 1, 4}; /* make_golden_train.py's */
    CHECK(xh != NULL, "out of memory");
    if (xh) detinit_image(input, n, (uint64_t)seed, xh);
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){batch, 3, size, size}, &x));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, &batch, &labels));
    if (x && xh) CHECK_OK(clcnn_tensor_write(x, xh, n));
    if (labels) CHECK_OK(clcnn_tensor_write(labels, label_values, 4));
    free(xh);
    if (test_failures() || !t) goto done;
    float loss;
    CHECK_OK(clcnn_trainer_step(t, x, labels, &loss));
    check_losses(arch, &loss, gold, "loss", 1);
    int checked = 0;
    for (int i = 0; i < clcnn_weights_count(gold); i++) {
        const char *key = clcnn_weights_name(gold, i);
        if (!strncmp(key, "grad1.", 6)) compare_spread("gradient", clcnn_graph_grad(g, key + 6), gold, key, spread);
        else if (!strncmp(key, "sgd.", 4)) compare_spread("after the step", clcnn_graph_param(g, key + 4), gold, key, spread);
        else continue;
        checked++;
    }
    CHECK(checked >= 20, "%s: only %d golden tensors compared", arch, checked);
done:
    json_decref(spread);
    clcnn_tensor_destroy(labels);
    clcnn_tensor_destroy(x);
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g);
    clcnn_weights_destroy(gold);
}

static void test_train_mobilenet_v2_matches_pytorch(void) { zoo_step_matches("mobilenet_v2"); }
static void test_train_efficientnet_b0_matches_pytorch(void) { zoo_step_matches("efficientnet_b0"); }

/* ---- an auxiliary head (Inception-v3's AuxLogits, on a small net) ---- */

/* small_net without dropout, with an auxiliary head "aux" (global pool, linear) on relu1. */
static clcnn_graph *aux_net(void) {
    clcnn_graph *g = NULL;
    const clcnn_conv_params same = {.pad_h = 1, .pad_w = 1};
    CHECK_OK(clcnn_graph_create(g_ctx, 3, SYN_SIZE, SYN_SIZE, g_seed ^ 0xA0, &g));
    CHECK_OK(clcnn_graph_conv2d(g, "conv1", "input", 8, 3, 3, &same, 0));
    CHECK_OK(clcnn_graph_batchnorm(g, "bn1", "conv1"));
    CHECK_OK(clcnn_graph_activation(g, "relu1", "bn1", CLCNN_ACT_RELU));
    CHECK_OK(clcnn_graph_global_avg_pool(g, "aux.gap", "relu1"));
    CHECK_OK(clcnn_graph_linear(g, "aux.fc", "aux.gap", SYN_CLASSES, 1));
    CHECK_OK(clcnn_graph_conv2d(g, "conv2", "relu1", 16, 3, 3, &same, 0));
    CHECK_OK(clcnn_graph_batchnorm(g, "bn2", "conv2"));
    CHECK_OK(clcnn_graph_activation(g, "relu2", "bn2", CLCNN_ACT_RELU));
    CHECK_OK(clcnn_graph_global_avg_pool(g, "gap", "relu2"));
    CHECK_OK(clcnn_graph_linear(g, "fc", "gap", SYN_CLASSES, 1));
    if (test_failures()) {
        clcnn_graph_destroy(g);
        return NULL;
    }
    return g;
}

static const char *const AUX_PARAMS[] = {"conv1.weight", "aux.fc.weight", "aux.fc.bias", "fc.weight"};
enum { AUX_NP = 4, AUX_MAXP = 16 * 8 * 9, AUX_BATCH = 4 };

/* One forward of x, then the gradients of AUX_PARAMS from dout (and aux_dout, if given) into g_out. */
static void aux_grads(clcnn_graph *g, const clcnn_tensor *x, const clcnn_tensor *dout, const clcnn_tensor *aux_dout,
                      float g_out[AUX_NP][AUX_MAXP]) {
    CHECK_OK(clcnn_graph_zero_grad(g));
    CHECK_OK(clcnn_graph_forward(g, x, NULL));
    CHECK_OK(aux_dout ? clcnn_graph_backward_aux(g, dout, aux_dout) : clcnn_graph_backward(g, dout));
    for (int i = 0; i < AUX_NP && !test_failures(); i++) {
        const clcnn_tensor *t = clcnn_graph_grad(g, AUX_PARAMS[i]);
        CHECK(t != NULL, "no gradient of %s", AUX_PARAMS[i]);
        if (t) CHECK_OK(clcnn_tensor_read(t, g_out[i], clcnn_tensor_numel(t)));
    }
}

/* clcnn_graph_set_aux_head's errors; clcnn_graph_backward_aux adds the head's gradients
 * to the main ones (the pass from both equals the sum of the passes from each); a
 * trainer step's loss is the main loss plus weight x the head's, and the head learns;
 * at weight 0 the head's parameters do not learn and do not change. */
static void test_train_aux_head(void) {
    test_rng rng = {g_seed ^ 0xA1};
    static float hx[AUX_BATCH * 3 * SYN_SIZE * SYN_SIZE], hy[AUX_BATCH], hd[AUX_BATCH * SYN_CLASSES];
    static float both[AUX_NP][AUX_MAXP], main_only[AUX_NP][AUX_MAXP], aux_only[AUX_NP][AUX_MAXP];
    clcnn_graph *g = aux_net(), *g0 = aux_net();
    clcnn_trainer *t = NULL, *t0 = NULL;
    clcnn_tensor *x = NULL, *y = NULL, *dout = NULL, *aux_dout = NULL, *zero = NULL, *ce = NULL;
    if (!g || !g0) goto done;
    CHECK_STATUS(clcnn_graph_set_aux_head(g, "nothing", 0.4f), CLCNN_ERR_NOT_FOUND);
    CHECK_STATUS(clcnn_graph_set_aux_head(g, "fc", 0.4f), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_set_aux_head(g, "aux", -1.0f), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_backward_aux(g, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(clcnn_graph_aux_head(g, NULL, NULL) == NULL, "an auxiliary head after failed calls");
    CHECK_OK(clcnn_graph_set_aux_head(g, "aux", 0.4f));
    const char *out_name = NULL;
    float w = 0;
    const char *module = clcnn_graph_aux_head(g, &w, &out_name);
    CHECK(module && !strcmp(module, "aux") && w == 0.4f && out_name && !strcmp(out_name, "aux.fc"),
          "clcnn_graph_aux_head: %s, %g, %s", module ? module : "NULL", w, out_name ? out_name : "NULL");
    const int two[2] = {AUX_BATCH, SYN_CLASSES};
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){AUX_BATCH, 3, SYN_SIZE, SYN_SIZE}, &x));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){AUX_BATCH}, &y));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, two, &dout));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, two, &aux_dout));
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, two, &zero));
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){1}, &ce));
    if (test_failures()) goto done;
    synthetic_batch(&rng, AUX_BATCH, hx, hy);
    CHECK_OK(clcnn_tensor_write(x, hx, sizeof hx / sizeof hx[0]));
    CHECK_OK(clcnn_tensor_write(y, hy, AUX_BATCH));
    for (int i = 0; i < AUX_BATCH * SYN_CLASSES; i++) hd[i] = test_rng_uniform(&rng, -1.0f, 1.0f);
    CHECK_OK(clcnn_tensor_write(dout, hd, AUX_BATCH * SYN_CLASSES));
    for (int i = 0; i < AUX_BATCH * SYN_CLASSES; i++) hd[i] = test_rng_uniform(&rng, -1.0f, 1.0f);
    CHECK_OK(clcnn_tensor_write(aux_dout, hd, AUX_BATCH * SYN_CLASSES));
    CHECK_OK(clcnn_tensor_fill(zero, 0.0f));
    clcnn_graph_set_training(g, 1);
    aux_grads(g, x, dout, aux_dout, both);
    aux_grads(g, x, dout, NULL, main_only);
    aux_grads(g, x, zero, aux_dout, aux_only);
    if (test_failures()) goto done;
    for (int i = 0; i < AUX_NP; i++) {
        const int n = (int)clcnn_tensor_numel(clcnn_graph_param(g, AUX_PARAMS[i]));
        double diff = 0, scale = 0, aux_norm = 0, main_norm = 0;
        for (int j = 0; j < n; j++) {
            const double want = (double)main_only[i][j] + aux_only[i][j];
            diff = fmax(diff, fabs(both[i][j] - want));
            scale = fmax(scale, fabs(want));
            aux_norm += fabs(aux_only[i][j]);
            main_norm += fabs(main_only[i][j]);
        }
        /* float sums in another order: off by rounding relative to the tensor's largest value */
        CHECK(diff <= 1e-5 * scale, "%s: the pass from both outputs is off the sum of the two by %.1e (of %.1e)",
              AUX_PARAMS[i], diff, scale);
        const int aux_param = !strncmp(AUX_PARAMS[i], "aux.", 4), shared = !strcmp(AUX_PARAMS[i], "conv1.weight");
        CHECK(aux_param || shared ? aux_norm > 0 : aux_norm == 0, "%s: gradient from the auxiliary head alone %g",
              AUX_PARAMS[i], aux_norm);
        CHECK(aux_param ? main_norm == 0 : main_norm > 0, "%s: gradient from the main output alone %g", AUX_PARAMS[i],
              main_norm);
    }

    /* The trainer: loss = main + 0.4 aux, measured on the weights before the step. */
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD)};
    CHECK_OK(clcnn_trainer_create(g, &p, &t));
    CHECK_OK(clcnn_graph_set_aux_head(g0, "aux", 0.0f));
    CHECK_OK(clcnn_trainer_create(g0, &p, &t0));
    if (test_failures()) goto done;
    const clcnn_tensor *out;
    float l_main, l_aux, loss = 0, loss0 = 0, before[SYN_CLASSES * 8], after[SYN_CLASSES * 8];
    CHECK_OK(clcnn_graph_forward(g, x, &out));
    CHECK_OK(clcnn_cross_entropy(g_ctx, out, y, NULL, 0.0f, ce, NULL));
    CHECK_OK(clcnn_tensor_read(ce, &l_main, 1));
    CHECK_OK(clcnn_cross_entropy(g_ctx, clcnn_graph_tensor(g, "aux.fc"), y, NULL, 0.0f, ce, NULL));
    CHECK_OK(clcnn_tensor_read(ce, &l_aux, 1));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "aux.fc.weight"), before, SYN_CLASSES * 8));
    CHECK_OK(clcnn_trainer_step(t, x, y, &loss));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g, "aux.fc.weight"), after, SYN_CLASSES * 8));
    const double want = l_main + 0.4 * l_aux;
    CHECK(fabs(loss - want) <= 1e-5 * fabs(want), "step loss %.7f, want main %.7f + 0.4 x aux %.7f = %.7f", loss,
          l_main, l_aux, want);
    CHECK(memcmp(before, after, sizeof before) != 0, "aux.fc.weight did not change in a step with weight 0.4");
    CHECK(!clcnn_graph_param_learns(g0, "aux.fc.weight") && clcnn_graph_param_learns(g, "aux.fc.weight"),
          "aux.fc.weight learns at weight 0 (%d) or not at 0.4 (%d)", clcnn_graph_param_learns(g0, "aux.fc.weight"),
          clcnn_graph_param_learns(g, "aux.fc.weight"));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g0, "aux.fc.weight"), before, SYN_CLASSES * 8));
    CHECK_OK(clcnn_trainer_step(t0, x, y, &loss0));
    CHECK_OK(clcnn_tensor_read(clcnn_graph_param(g0, "aux.fc.weight"), after, SYN_CLASSES * 8));
    CHECK(memcmp(before, after, sizeof before) == 0, "aux.fc.weight changed at weight 0");
done:
    clcnn_tensor_destroy(ce);
    clcnn_tensor_destroy(zero);
    clcnn_tensor_destroy(aux_dout);
    clcnn_tensor_destroy(dout);
    clcnn_tensor_destroy(y);
    clcnn_tensor_destroy(x);
    clcnn_trainer_destroy(t0);
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g0);
    clcnn_graph_destroy(g);
}

const test_case test_train_cases[] = {
    {"train_sgd_matches_pytorch", test_train_sgd_matches_pytorch},
    {"train_adamw_matches_pytorch", test_train_adamw_matches_pytorch},
    {"train_frozen_backbone_matches_pytorch", test_train_frozen_backbone_matches_pytorch},
    {"train_staged_matches_pytorch", test_train_staged_matches_pytorch},
    {"train_mobilenet_v2_matches_pytorch", test_train_mobilenet_v2_matches_pytorch},
    {"train_efficientnet_b0_matches_pytorch", test_train_efficientnet_b0_matches_pytorch},
    {"train_learns_synthetic", test_train_learns_synthetic},
    {"train_nan_stops_and_no_allocations", test_train_nan_stops_and_no_allocations},
    {"train_aux_head", test_train_aux_head},
    {NULL, NULL},
};
