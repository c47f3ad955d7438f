/* test_tool_step.c: one step of `clcnn train --optimizer sgd --momentum 0 --weight-decay
 * 0` through the tool, from PNG files to last.safetensors, equals PyTorch's (golden file
 * from scripts/make_golden_tool_step.py): the options given, 0 included, reach the
 * optimizer, and nothing else (augmentation, a default decay) touches the step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "ref/detinit.h"
#include "runtime/internal.h"
#include "tmptree.h"

#define STEP_SEED 6 /* scripts/make_golden_tool_step.py's SEED, LR */
#define STEP_LR 0.5

/* The golden pictures [4, 32, 32, 3] as ROOT/data/{a,a,b,b}/N.png. */
static int write_pictures(const tmptree *t, const clcnn_weights *gold) {
    const clcnn_tensor *p = clcnn_weights_get(gold, "pictures");
    enum { N = 4, SIDE = 32, BYTES = SIDE * SIDE * 3 };
    float *v = malloc(sizeof(float) * N * BYTES);
    int ok = p && v && clcnn_tensor_numel(p) == N * BYTES && clcnn_tensor_read(p, v, N * BYTES) == CLCNN_OK;
    for (int i = 0; ok && i < N; i++) {
        clcnn_image im;
        char rel[32];
        snprintf(rel, sizeof rel, "data/%c/%d.png", i < 2 ? 'a' : 'b', i);
        ok = clcnn_image_create(SIDE, SIDE, 3, &im) == CLCNN_OK && tmptree_mkdir(t, i < 2 ? "data/a" : "data/b");
        for (int k = 0; ok && k < BYTES; k++) im.pixels[k] = (uint8_t)v[i * BYTES + k];
        ok = ok && clcnn_image_save_png(tmptree_path(t, rel), &im) == CLCNN_OK;
        clcnn_image_free(&im);
    }
    free(v);
    CHECK(ok, "cannot write the golden pictures");
    return ok;
}

/* Compare tensor name of the run with the golden one after the step. Both the error
 * bound and what it must stay below are reported: the step's largest change (float32
 * gradients through a dozen layers agree to ~1e-5 of it), and the change a weight decay
 * of 1e-4 would have added (lr x 1e-4 x |w|), which the issue found the tool applying. */
static void compare_step(const char *name, const clcnn_weights *run, const clcnn_weights *gold, const clcnn_graph *init,
                         double *worst_of_bound, double *worst_of_decay) {
    char key[128];
    snprintf(key, sizeof key, "after.%s", name);
    const clcnn_tensor *got_t = clcnn_weights_get(run, name), *want_t = clcnn_weights_get(gold, key),
                       *w0_t = clcnn_graph_param(init, name);
    CHECK(got_t && want_t && w0_t && clcnn_tensor_numel(got_t) == clcnn_tensor_numel(want_t),
          "%s: missing or misshapen", name);
    if (!got_t || !want_t || !w0_t || clcnn_tensor_numel(got_t) != clcnn_tensor_numel(want_t)) return;
    const size_t n = clcnn_tensor_numel(want_t);
    float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want), *w0 = malloc(n * sizeof *w0);
    if (got && want && w0 && clcnn_tensor_read(got_t, got, n) == CLCNN_OK && clcnn_tensor_read(want_t, want, n) == CLCNN_OK &&
        clcnn_tensor_read(w0_t, w0, n) == CLCNN_OK) {
        double change = 0, err = 0, decay = 0;
        for (size_t i = 0; i < n; i++) change = fmax(change, fabs((double)want[i] - w0[i]));
        for (size_t i = 0; i < n; i++) {
            err = fmax(err, fabs((double)got[i] - want[i]));
            decay = fmax(decay, STEP_LR * 1e-4 * fabs(w0[i]));
        }
        const int stat = strstr(name, ".running_") != NULL; /* no decay: a blend of batch statistics */
        const double bound = 1e-4 * change + 1e-7;
        *worst_of_bound = fmax(*worst_of_bound, err / bound);
        if (!stat) *worst_of_decay = fmax(*worst_of_decay, err / decay);
        CHECK(err <= bound && (stat || err < 0.2 * decay),
              "%s: clcnn differs from PyTorch by %.3g (bound %.3g; the step changed it by up to %.3g; a 1e-4 weight "
              "decay would add up to %.3g)", name, err, bound, change, decay);
    } else {
        CHECK(0, "%s: cannot read", name);
    }
    free(got), free(want), free(w0);
}

/* The step through `LAUNCHER clcnn train ... EXTRA`, compared with PyTorch's; ranks > 1:
 * on that many ranks, which the run's first line and metrics.json must say too. */
static void step_matches_pytorch(const char *launcher, const char *extra, int ranks) {
    tmptree t;
    if (!tmptree_open(&t, "step")) return;
    clcnn_weights *gold = NULL, *run = NULL;
    clcnn_graph *g = NULL;
    clcnn_resnet_config cfg;
    CHECK_OK(clcnn_weights_load(g_ctx, test_golden_path("tool_step.safetensors"), &gold));
    CHECK_OK(clcnn_resnet_config_for("compact", 2, 32, &cfg));
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    if (!gold || !g || !write_pictures(&t, gold)) goto done;
    CHECK_OK(detinit_graph(g, STEP_SEED));
    CHECK_OK(clcnn_graph_save(g, tmptree_path(&t, "init.safetensors"), 0, NULL, NULL));
    const char *r = t.root;
    int rc = tmptree_run(&t, "train", "%s %s/clcnn train --data %s/data --arch compact --size 32 --batch 4 --epochs 1 "
                         "--optimizer sgd --lr %g --momentum 0 --weight-decay 0 --schedule constant --no-augment "
                         "--no-shuffle --init %s/init.safetensors --out %s/run %s", launcher, tmptree_build_dir(), r,
                         STEP_LR, r, r, extra);
    char *out = tmptree_slurp(&t, "train.out"), *metrics = tmptree_slurp(&t, "run/metrics.json");
    float loss = 0;
    const clcnn_tensor *loss_t = clcnn_weights_get(gold, "loss");
    if (loss_t) CHECK_OK(clcnn_tensor_read(loss_t, &loss, 1));
    char want_loss[48], want_ranks[32], want_json[32];
    snprintf(want_loss, sizeof want_loss, "train loss %.4f", loss);
    snprintf(want_ranks, sizeof want_ranks, ranks > 1 ? "on %d ranks (rank 0 " : "at 32x32 on ", ranks);
    snprintf(want_json, sizeof want_json, "\"ranks\":%d", ranks);
    CHECK(rc == 0 && out && strstr(out, want_loss) && strstr(out, "momentum 0, weight decay 0") &&
          strstr(out, want_ranks), "train exited %d; want \"%s\", \"%s\" and no momentum or decay in\n%s", rc,
          want_loss, want_ranks, out ? out : "");
    CHECK(metrics && strstr(metrics, want_json), "metrics.json lacks %s: %s", want_json, metrics ? metrics : "(none)");
    free(out);
    free(metrics);
    CHECK_OK(clcnn_weights_load(g_ctx, tmptree_path(&t, "run/last.safetensors"), &run));
    static const char *const names[] = {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                                        "layer1.0.conv1.weight", "layer4.0.bn2.weight", "fc.weight", "fc.bias"};
    double of_bound = 0, of_decay = 0;
    for (size_t i = 0; run && i < sizeof names / sizeof names[0]; i++)
        compare_step(names[i], run, gold, g, &of_bound, &of_decay);
    printf("    %d rank%s: largest difference from PyTorch: %.2g of its bound, %.2g of what a 1e-4 weight decay adds\n",
           ranks, ranks > 1 ? "s" : "", of_bound, of_decay);
done:
    clcnn_weights_destroy(run);
    clcnn_weights_destroy(gold);
    clcnn_graph_destroy(g);
    tmptree_close(&t);
}

static void test_tool_sgd_step_matches_pytorch(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    step_matches_pytorch("", "", 1);
}

/* Two ranks of two images each take PyTorch's step on the four (batch norm's statistics
 * over all four), with the gradients in buckets of 64 KB: about 40 sums, each started
 * while the backward pass goes on. */
static void test_tool_mpi_step_matches_pytorch(void) {
    const char *why = test_mpi_missing();
    if (why) return test_skip(why);
    step_matches_pytorch("CLCNN_DIST_BUCKET_BYTES=65536 " TEST_MPIRUN " -np 2", "", 2);
}

/* The same on two ranks of one process (--devices: threads, the test's device twice). */
static void test_tool_devices_step_matches_pytorch(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    char devices[48];
    snprintf(devices, sizeof devices, "--devices %d,%d", g_ctx->device_index, g_ctx->device_index);
    step_matches_pytorch("", devices, 2);
}

const test_case test_tool_step_cases[] = {
    {"tool_sgd_step_matches_pytorch", test_tool_sgd_step_matches_pytorch},
    {"tool_mpi_step_matches_pytorch", test_tool_mpi_step_matches_pytorch},
    {"tool_devices_step_matches_pytorch", test_tool_devices_step_matches_pytorch},
    {NULL, NULL},
};
