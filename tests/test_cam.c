/* test_cam.c: class activation maps (src/explain/cam.c, scorecam.c, eigencam.c, deletion.c).
 *  - the map arithmetic of every method on random A and G against the double-precision
 *    references of tests/ref/ref_cam.c (the kernels called through cam_internal.h);
 *  - clcnn_cam end to end on a small graph: targets and predicted classes, probabilities,
 *    CAM == Grad-CAM * h * w, Score-CAM against a host-driven computation, flat maps, the
 *    graph's mode left as found, errors;
 *  - golden maps of PyTorch (scripts/make_golden_cam.py) for ResNet-18 and SE-ResNet-50 with
 *    the deterministic weights of tests/ref/detinit.c, at layer4 and layer3 (MobileNetV2:
 *    features.18 and features.17; EfficientNet-B0: features.8 and features.6), and Score-CAM
 *    and EigenCAM on a small SE-ResNet;
 *  - deletion and insertion AUCs against forward passes made one by one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "explain/cam_internal.h"
#include "harness.h"
#include "ref/detinit.h"
#include "ref/ref.h"
#include "ref/ref_cam.h"
#include "ref/ref_grad_eltwise.h"
#include "testutil.h"

static const clcnn_cam_method grad_methods[] = {CLCNN_CAM_GRADCAM, CLCNN_CAM_GRADCAM_PP, CLCNN_CAM_HIRESCAM,
                                                CLCNN_CAM_XGRADCAM, CLCNN_CAM_LAYERCAM};
enum { GRAD_METHODS = sizeof grad_methods / sizeof grad_methods[0] };

static float *read_tensor(arena *a, const clcnn_tensor *t) {
    float *host = ar_floats(a, clcnn_tensor_numel(t));
    if (host && !CASE_OK(a, clcnn_tensor_read(t, host, clcnn_tensor_numel(t)))) return NULL;
    return host;
}

/* -------------------------------------------------------------- names -- */

static void test_cam_method_names(void) {
    for (int m = 0; m <= CLCNN_CAM_EIGENCAM; m++) {
        clcnn_cam_method got = (clcnn_cam_method)-1;
        const char *name = clcnn_cam_method_name((clcnn_cam_method)m);
        CHECK_OK(clcnn_cam_method_parse(name, &got));
        CHECK(got == (clcnn_cam_method)m, "%s parses to %d, want %d", name, (int)got, m);
    }
    CHECK(!strcmp(clcnn_cam_method_name(CLCNN_CAM_GRADCAM_PP), "gradcam++"), "Grad-CAM++ is called %s",
          clcnn_cam_method_name(CLCNN_CAM_GRADCAM_PP));
    clcnn_cam_method m;
    CHECK_OK(clcnn_cam_method_parse("GradCAM", &m));
    CHECK(m == CLCNN_CAM_GRADCAM, "GradCAM parses to %d", (int)m);
    CHECK_STATUS(clcnn_cam_method_parse("gradcam+", &m), CLCNN_ERR_NOT_FOUND);
    CHECK(strstr(clcnn_last_error(NULL), "gradcam+") && strstr(clcnn_last_error(NULL), "eigencam"),
          "unknown method error does not name it and the known ones: %s", clcnn_last_error(NULL));
    CHECK_STATUS(clcnn_cam_method_parse(NULL, &m), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(!strcmp(clcnn_cam_method_name((clcnn_cam_method)99), "unknown"), "method 99 has a name");
}

/* ------------------------------------------------------- a small graph -- */

/* input [3, 12, 12] -> c1 (3x3, 6) -> r1 -> c2 (3x3 stride 2, K) -> feat (ReLU, [K, 6, 6]) ->
 * gap -> fc (classes); head_hidden > 0 puts a hidden linear layer before fc. */
static clcnn_graph *small_graph(int K, int classes, int head_hidden) {
    clcnn_graph *g = NULL;
    const clcnn_conv_params p1 = {.pad_h = 1, .pad_w = 1}, p2 = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    CHECK_OK(clcnn_graph_create(g_ctx, 3, 12, 12, 7, &g));
    if (!g) return NULL;
    CHECK_OK(clcnn_graph_conv2d(g, "c1", "input", 6, 3, 3, &p1, 1));
    CHECK_OK(clcnn_graph_activation(g, "r1", "c1", CLCNN_ACT_RELU));
    CHECK_OK(clcnn_graph_conv2d(g, "c2", "r1", K, 3, 3, &p2, 1));
    CHECK_OK(clcnn_graph_activation(g, "feat", "c2", CLCNN_ACT_RELU));
    CHECK_OK(clcnn_graph_global_avg_pool(g, "gap", "feat"));
    if (head_hidden > 0) {
        CHECK_OK(clcnn_graph_linear(g, "hidden", "gap", head_hidden, 1));
        CHECK_OK(clcnn_graph_linear(g, "fc", "hidden", classes, 1));
    } else {
        CHECK_OK(clcnn_graph_linear(g, "fc", "gap", classes, 1));
    }
    if (test_failures()) {
        clcnn_graph_destroy(g);
        return NULL;
    }
    return g;
}

/* A in [N, K, hw] and G for logit[n, cls[n]] at layer `name`, from the graph's public API. */
static int activations_and_grads(arena *a, clcnn_graph *g, const clcnn_tensor *x, const char *name, const int *cls,
                                 int classes, float **A, float **G) {
    const int N = clcnn_tensor_dim(x, 0);
    float *onehot = ar_floats(a, (size_t)N * classes);
    const clcnn_tensor *grad = NULL;
    clcnn_tensor *dout = ar_tensor(a, 2, (int[]){N, classes}, NULL);
    if (!onehot || !dout) return 0;
    for (int n = 0; n < N; n++) onehot[n * classes + cls[n]] = 1.0f;
    if (!CASE_OK(a, clcnn_graph_forward(g, x, NULL)) ||
        !CASE_OK(a, clcnn_tensor_write(dout, onehot, (size_t)N * classes)) ||
        !CASE_OK(a, clcnn_graph_backward_to(g, name, dout, &grad)))
        return 0;
    *A = read_tensor(a, clcnn_graph_tensor(g, name));
    *G = read_tensor(a, grad);
    return *A && *G;
}

/* ---------------------------------------------------------- the kernels -- */

/* Random A (10% small negatives) and G (20% exact zeros, for Grad-CAM++'s g == 0 rule); the
 * first case is spatially constant, so every map is flat and must come out as zeros. */
static void test_cam_map_kernels(void) {
    test_rng rng = {g_seed ^ 0xCA301u};
    for (int c = 0; c < 12 && !test_failures(); c++) {
        arena a = {0};
        const int N = test_rng_int(&rng, 1, 3), K = test_rng_int(&rng, 1, 24), h = test_rng_int(&rng, 1, 7),
                  w = test_rng_int(&rng, c == 0 ? 2 : 1, 7), hw = h * w;
        ar_desc(&a, "case %d: A, G [%d, %d, %d, %d]", c, N, K, h, w);
        const size_t n = (size_t)N * K * hw;
        float *A = ar_floats(&a, n), *G = ar_floats(&a, n), *W = ar_rand(&a, &rng, (size_t)N * K, -1, 1);
        double *want = ar_doubles(&a, (size_t)N * hw);
        if (!A || !G || !W || !want) goto next;
        for (size_t i = 0; i < n; i++) {
            const size_t src = c == 0 ? i - i % (size_t)hw : i; /* case 0: one value per channel */
            test_rng r = {rng.s ^ (src * 0x9E37u)};
            A[i] = test_rng_uniform(&r, 0, 1) < 0.1f ? test_rng_uniform(&r, -0.1f, 0) : test_rng_uniform(&r, 0, 1);
            G[i] = test_rng_uniform(&r, 0, 1) < 0.2f ? 0.0f : test_rng_uniform(&r, -1, 1);
        }
        rng.s += 0x1234567u;
        const int shape[4] = {N, K, h, w};
        clcnn_tensor *ta = ar_tensor(&a, 4, shape, A), *tg = ar_tensor(&a, 4, shape, G),
                     *tw = ar_tensor(&a, 2, shape, W);
        double *Ad = ar_widen(&a, A, n), *Gd = ar_widen(&a, G, n), *Wd = ar_widen(&a, W, (size_t)N * K);
        if (!ta || !tg || !tw || !Ad || !Gd || !Wd) goto next;
        for (int m = 0; m <= GRAD_METHODS; m++) {
            guarded *map = ar_guarded(&a, 3, (int[]){N, h, w}, NULL, NAN);
            if (!map) break;
            char what[64];
            if (m < GRAD_METHODS) {
                snprintf(what, sizeof what, "%s map", clcnn_cam_method_name(grad_methods[m]));
                ref_cam_grad_map(grad_methods[m], N, K, hw, Ad, Gd, want);
                if (!CASE_OK(&a, cam_grad_map(g_ctx, grad_methods[m], ta, tg, map->t))) break;
            } else {
                snprintf(what, sizeof what, "weighted map");
                ref_cam_weighted_map(N, K, hw, Ad, Wd, want);
                if (!CASE_OK(&a, cam_weighted_map(g_ctx, ta, tw, map->t))) break;
            }
            double scale = 0;
            for (int i = 0; i < N * hw; i++) scale = fmax(scale, fabs(want[i]));
            CASE_CHECK(&a, c != 0 || scale == 0, "%s of a constant input is not zero", what);
            ar_check(&a, what, map, want, 1e-5 * (1 + scale), 1e-4, NULL);
        }
    next:
        ar_free(&a);
    }
}

/* EigenCAM on activations with a planted strong component (a clear eigenvalue gap, channel
 * loadings of one sign so that the orientation rule is not a coin toss) plus noise and
 * per-channel offsets (which the centring removes), in both of the kernel's layouts
 * (h w <= K: Gram matrix; h w > K: covariance); then flat and zero activations. */
static void test_cam_eigen_kernel(void) {
    test_rng rng = {g_seed ^ 0xE16E4u};
    for (int c = 0; c < 10 && !test_failures(); c++) {
        arena a = {0};
        const int gram = c % 2, N = test_rng_int(&rng, 1, 3);
        const int K = gram ? test_rng_int(&rng, 10, 40) : test_rng_int(&rng, 2, 8);
        const int h = test_rng_int(&rng, 2, gram ? 3 : 7), w = test_rng_int(&rng, gram ? 2 : 3, gram ? 3 : 7),
                  hw = h * w;
        const int flat = c >= 8; /* 8: constant per channel; 9: zeros */
        ar_desc(&a, "case %d: A [%d, %d, %d, %d]%s", c, N, K, h, w, flat ? (c == 8 ? " flat" : " zero") : "");
        const size_t n = (size_t)N * K * hw;
        float *A = ar_floats(&a, n);
        float *f = ar_rand(&a, &rng, (size_t)N * K, 0.2f, 1), *s = ar_rand(&a, &rng, (size_t)N * hw, -1, 1);
        double *want = ar_doubles(&a, (size_t)N * hw);
        if (!A || !f || !s || !want) goto next;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < K; k++) {
                const float offset = test_rng_uniform(&rng, -1, 1);
                for (int p = 0; p < hw; p++)
                    A[((size_t)i * K + k) * hw + p] =
                        c == 9 ? 0.0f
                               : offset +
                                     (flat ? 0.0f
                                           : 2 * f[i * K + k] * s[i * hw + p] + test_rng_uniform(&rng, -0.15f, 0.15f));
            }
        ref_cam_eigen_map(N, K, hw, ar_widen(&a, A, n), want);
        clcnn_tensor *ta = ar_tensor(&a, 4, (int[]){N, K, h, w}, A);
        guarded *map = ar_guarded(&a, 3, (int[]){N, h, w}, NULL, NAN);
        if (!ta || !map || !CASE_OK(&a, cam_eigen_map(g_ctx, ta, map->t))) goto next;
        double scale = 0;
        for (int i = 0; i < N * hw; i++) scale = fmax(scale, fabs(want[i]));
        CASE_CHECK(&a, flat ? scale == 0 : scale > 0.1, "reference map scale %g", scale);
        ar_check(&a, "eigencam map", map, want, 1e-4 * (1 + scale), 1e-3, NULL);
    next:
        ar_free(&a);
    }
}

/* --------------------------------------------------------- end to end -- */

static clcnn_status run_cam(clcnn_graph *g, const clcnn_tensor *x, clcnn_cam_method m, const char *layer, int batch,
                            const int *targets, clcnn_tensor *map, float *probs, int *used) {
    const clcnn_cam_params p = {.method = m, .layer = layer, .scorecam_batch = batch};
    return clcnn_cam(g, x, &p, targets, map, probs, used);
}

/* Targets and predictions, probabilities, every gradient method against the reference
 * from A and G, CAM == Grad-CAM * h * w, the mode left as found. */
static void test_cam_end_to_end(void) {
    enum { N = 3, K = 5, C = 4, HW = 36 };
    test_rng rng = {g_seed ^ 0xE2Eu};
    arena a = {0};
    ar_desc(&a, "small graph, %d images", N);
    clcnn_graph *g = small_graph(K, C, 0);
    float *xh = ar_rand(&a, &rng, (size_t)N * 3 * 144, -2, 2);
    clcnn_tensor *x = ar_tensor(&a, 4, (int[]){N, 3, 12, 12}, xh), *map = ar_tensor(&a, 3, (int[]){N, 6, 6}, NULL);
    float *got = ar_floats(&a, N * HW), *cam = ar_floats(&a, N * HW), *probs = ar_floats(&a, N * C);
    float *logits = ar_floats(&a, N * C), *A = NULL, *G = NULL;
    double *want = ar_doubles(&a, N * HW);
    int used[N], cls[N];
    const int targets[N] = {2, -1, 0};
    if (!g || !x || !map || !got || !cam || !probs || !logits || !want) goto done;
    CHECK(!strcmp(clcnn_cam_default_layer(g), "feat"), "default layer %s", clcnn_cam_default_layer(g));
    const clcnn_tensor *out;
    if (!CASE_OK(&a, clcnn_graph_forward(g, x, &out)) || !CASE_OK(&a, clcnn_tensor_read(out, logits, N * C))) goto done;
    for (int n = 0; n < N; n++) { /* the first largest logit where no target is given */
        cls[n] = 0;
        for (int c = 1; c < C; c++)
            if (logits[n * C + c] > logits[n * C + cls[n]]) cls[n] = c;
        if (targets[n] >= 0) cls[n] = targets[n];
    }
    if (!activations_and_grads(&a, g, x, "feat", cls, C, &A, &G)) goto done;
    double *Ad = ar_widen(&a, A, N * K * HW), *Gd = ar_widen(&a, G, N * K * HW);
    for (int m = 0; m < GRAD_METHODS; m++) {
        const char *name = clcnn_cam_method_name(grad_methods[m]);
        if (!CASE_OK(&a, run_cam(g, x, grad_methods[m], m % 2 ? "feat" : NULL, 0, targets, map, probs, used)) ||
            !CASE_OK(&a, clcnn_tensor_read(map, got, N * HW)))
            break;
        ref_cam_grad_map(grad_methods[m], N, K, HW, Ad, Gd, want);
        double worst = 0, scale = 0;
        for (int i = 0; i < N * HW; i++) {
            worst = fmax(worst, fabs(got[i] - want[i]));
            scale = fmax(scale, fabs(want[i]));
        }
        CASE_CHECK(&a, scale > 0 && worst <= 1e-5 * scale,
                   "%s: error %.3g against the reference from A and G (scale %.3g)", name, worst, scale);
        for (int n = 0; n < N; n++) {
            CASE_CHECK(&a, used[n] == cls[n], "%s: image %d explains class %d, want %d", name, n, used[n], cls[n]);
            double sum = 0, lse = 0, mx = -INFINITY;
            for (int c = 0; c < C; c++) mx = fmax(mx, logits[n * C + c]);
            for (int c = 0; c < C; c++) lse += exp(logits[n * C + c] - mx);
            for (int c = 0; c < C; c++) {
                sum += probs[n * C + c];
                const double p = exp(logits[n * C + c] - mx) / lse;
                CASE_CHECK(&a, fabs(probs[n * C + c] - p) < 1e-6, "%s: prob[%d, %d] %g, softmax %g", name, n, c,
                           probs[n * C + c], p);
            }
            CASE_CHECK(&a, fabs(sum - 1) < 1e-5, "%s: image %d probabilities sum to %.7f", name, n, sum);
        }
    }
    /* CAM == Grad-CAM * h * w at the layer the pool reads: G = fc.weight[c] / (h w). */
    if (!CASE_OK(&a, run_cam(g, x, CLCNN_CAM_CAM, NULL, 0, targets, map, NULL, NULL)) ||
        !CASE_OK(&a, clcnn_tensor_read(map, cam, N * HW)) ||
        !CASE_OK(&a, run_cam(g, x, CLCNN_CAM_GRADCAM, "feat", 0, targets, map, NULL, NULL)) ||
        !CASE_OK(&a, clcnn_tensor_read(map, got, N * HW)))
        goto done;
    int nonzero = 0;
    for (int i = 0; i < N * HW; i++) {
        nonzero += cam[i] > 0;
        CASE_CHECK(&a, fabsf(cam[i] - got[i] * HW) <= 1e-5f * (1 + fabsf(cam[i])), "CAM[%d] %g, Grad-CAM * hw %g", i,
                   cam[i], got[i] * HW);
    }
    CASE_CHECK(&a, nonzero >= 3, "only %d CAM values are positive", nonzero); /* not vacuous */
    /* In training mode the maps are the evaluation mode's, and the mode stays. */
    clcnn_graph_set_training(g, 1);
    if (CASE_OK(&a, run_cam(g, x, CLCNN_CAM_GRADCAM, "feat", 0, targets, map, NULL, NULL)) &&
        CASE_OK(&a, clcnn_tensor_read(map, cam, N * HW)))
        CASE_CHECK(&a, !memcmp(cam, got, sizeof(float) * N * HW), "maps differ when called in training mode");
    CASE_CHECK(&a, clcnn_graph_is_training(g), "clcnn_cam left training mode");
    clcnn_graph_set_training(g, 0);
    /* No targets: every image explains its prediction. EigenCAM runs end to end. */
    if (CASE_OK(&a, run_cam(g, x, CLCNN_CAM_EIGENCAM, "feat", 0, NULL, map, NULL, used)))
        for (int n = 0; n < N; n++) {
            int best = 0;
            for (int c = 1; c < C; c++) best = logits[n * C + c] > logits[n * C + best] ? c : best;
            CASE_CHECK(&a, used[n] == best, "without targets image %d explains %d, prediction %d", n, used[n], best);
        }
    CASE_CHECK(&a, !clcnn_graph_is_training(g), "clcnn_cam left evaluation mode");
done:
    clcnn_graph_destroy(g);
    ar_free(&a);
}

/* Score-CAM against the same computation driven from the host: each channel upsampled by
 * the reference bilinear resize, normalised, masking the input, one forward pass each.
 * A batch of 3 masked inputs makes batches straddle the two images and pads the last. */
static void test_cam_scorecam_host_path(void) {
    enum { N = 2, K = 4, C = 3, HW = 36 };
    test_rng rng = {g_seed ^ 0x5C0Eu};
    arena a = {0};
    ar_desc(&a, "Score-CAM on the small graph");
    clcnn_graph *g = small_graph(K, C, 0);
    float *xh = ar_rand(&a, &rng, N * 3 * 144, -2, 2), *got = ar_floats(&a, N * HW), *A = NULL,
          *masked = ar_floats(&a, 3 * 144);
    float logits[C];
    double *up = ar_doubles(&a, 144), *plane = ar_doubles(&a, HW);
    double *want = ar_doubles(&a, N * HW);
    double *weights = ar_doubles(&a, N * K);
    clcnn_tensor *x = ar_tensor(&a, 4, (int[]){N, 3, 12, 12}, xh), *map = ar_tensor(&a, 3, (int[]){N, 6, 6}, NULL);
    clcnn_tensor *one = ar_tensor(&a, 4, (int[]){1, 3, 12, 12}, NULL);
    const int targets[N] = {1, -1};
    int used[N];
    if (!g || !x || !map || !one || !got || !masked || !up || !plane || !want || !weights) goto done;
    if (!CASE_OK(&a, run_cam(g, x, CLCNN_CAM_SCORECAM, "feat", 3, targets, map, NULL, used))) goto done;
    CASE_CHECK(&a, clcnn_graph_tensor(g, "input") == x, "after Score-CAM the graph's input is not x");
    CASE_CHECK(&a, used[0] == 1, "image 0 explains %d, want 1", used[0]);
    if (!CASE_OK(&a, clcnn_tensor_read(map, got, N * HW)) || !(A = read_tensor(&a, clcnn_graph_tensor(g, "feat"))))
        goto done;
    for (int n = 0; n < N; n++) {
        double scores[K];
        for (int k = 0; k < K; k++) {
            for (int p = 0; p < HW; p++) plane[p] = A[(n * K + k) * HW + p];
            ref_grad_resize_bilinear(plane, 1, 6, 6, up, 12, 12);
            double lo = INFINITY, hi = -INFINITY;
            for (int p = 0; p < 144; p++) lo = fmin(lo, up[p]), hi = fmax(hi, up[p]);
            for (int ch = 0; ch < 3; ch++)
                for (int p = 0; p < 144; p++)
                    masked[ch * 144 + p] =
                        (float)(xh[(n * 3 + ch) * 144 + p] * (hi > lo ? (up[p] - lo) / (hi - lo) : 0));
            const clcnn_tensor *out;
            double l[C], pr[C];
            if (!CASE_OK(&a, clcnn_tensor_write(one, masked, 3 * 144)) ||
                !CASE_OK(&a, clcnn_graph_forward(g, one, &out)) || !CASE_OK(&a, clcnn_tensor_read(out, logits, C)))
                goto done;
            for (int c = 0; c < C; c++) l[c] = logits[c];
            ref_cam_softmax(C, l, pr);
            scores[k] = pr[used[n]];
        }
        ref_cam_softmax(K, scores, weights + n * K);
    }
    ref_cam_weighted_map(N, K, HW, ar_widen(&a, A, N * K * HW), weights, want);
    double scale = 0, worst = 0;
    for (int i = 0; i < N * HW; i++) scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < N * HW; i++) worst = fmax(worst, fabs(got[i] - want[i]));
    CASE_CHECK(&a, scale > 0 && worst <= 1e-5 * scale, "Score-CAM differs by %.3g (map scale %.3g)", worst, scale);
done:
    clcnn_graph_destroy(g);
    ar_free(&a);
}

/* Activations that are all zero, and all one (flat but not zero), give zero maps for every
 * method, never NaN. */
static void test_cam_flat_map_is_zero(void) {
    enum { N = 2, K = 4, C = 3, HW = 36 };
    test_rng rng = {g_seed ^ 0xF1A7u};
    arena a = {0};
    ar_desc(&a, "flat activations");
    clcnn_graph *g = small_graph(K, C, 0);
    clcnn_tensor *x = ar_tensor(&a, 4, (int[]){N, 3, 12, 12}, ar_rand(&a, &rng, N * 3 * 144, -2, 2));
    clcnn_tensor *map = ar_tensor(&a, 3, (int[]){N, 6, 6}, NULL);
    float *got = ar_floats(&a, N * HW);
    if (!g || !x || !map || !got || !CASE_OK(&a, clcnn_tensor_fill(clcnn_graph_param(g, "c2.weight"), 0.0f))) goto done;
    for (int level = -1; level <= 1; level += 2) {
        if (!CASE_OK(&a, clcnn_tensor_fill(clcnn_graph_param(g, "c2.bias"), (float)level))) break;
        for (int m = 0; m <= CLCNN_CAM_EIGENCAM; m++) {
            if (!CASE_OK(&a, clcnn_tensor_fill(map, NAN)) ||
                !CASE_OK(&a, run_cam(g, x, (clcnn_cam_method)m, "feat", 0, NULL, map, NULL, NULL)) ||
                !CASE_OK(&a, clcnn_tensor_read(map, got, N * HW)))
                continue;
            int bad = 0;
            for (int i = 0; i < N * HW; i++) bad += got[i] != 0.0f;
            CASE_CHECK(&a, !bad, "%s with activations %s: %d values are not 0 (first %g)",
                       clcnn_cam_method_name((clcnn_cam_method)m), level < 0 ? "0" : "1", bad, got[0]);
        }
    }
done:
    clcnn_graph_destroy(g);
    ar_free(&a);
}

static void test_cam_errors(void) {
    enum { N = 2 };
    arena a = {0};
    ar_desc(&a, "errors");
    clcnn_graph *g = small_graph(4, 3, 0), *mlp = small_graph(4, 3, 5);
    clcnn_tensor *x = ar_tensor(&a, 4, (int[]){N, 3, 12, 12}, NULL), *map = ar_tensor(&a, 3, (int[]){N, 6, 6}, NULL);
    clcnn_tensor *bad_map = ar_tensor(&a, 3, (int[]){N, 12, 12}, NULL);
    if (!g || !mlp || !x || !map || !bad_map) goto done;
    CHECK_STATUS(run_cam(g, x, CLCNN_CAM_GRADCAM, "layer9", 0, NULL, map, NULL, NULL), CLCNN_ERR_NOT_FOUND);
    CHECK(strstr(clcnn_last_error(g_ctx), "layer9") != NULL, "error does not name the layer: %s",
          clcnn_last_error(g_ctx));
    CHECK_STATUS(run_cam(g, x, (clcnn_cam_method)42, NULL, 0, NULL, map, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(run_cam(g, x, CLCNN_CAM_GRADCAM, "gap", 0, NULL, map, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK_STATUS(run_cam(g, x, CLCNN_CAM_GRADCAM, "feat", 0, NULL, bad_map, NULL, NULL), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "map") != NULL, "shape error does not name the map: %s",
          clcnn_last_error(g_ctx));
    CHECK_STATUS(run_cam(g, x, CLCNN_CAM_SCORECAM, "feat", -1, NULL, map, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    const int targets[N] = {0, 3};
    CHECK_STATUS(run_cam(g, x, CLCNN_CAM_GRADCAM, "feat", 0, targets, map, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(g_ctx), "target 3") != NULL, "error does not name the target: %s",
          clcnn_last_error(g_ctx));
    /* CAM needs the pool's input as the layer, and global pooling + one linear layer as the head. */
    CHECK_STATUS(run_cam(g, x, CLCNN_CAM_CAM, "r1", 0, NULL, bad_map, NULL, NULL), CLCNN_ERR_UNSUPPORTED);
    CHECK(strstr(clcnn_last_error(g_ctx), "feat") != NULL, "error does not name the right layer: %s",
          clcnn_last_error(g_ctx));
    CHECK_STATUS(run_cam(mlp, x, CLCNN_CAM_CAM, NULL, 0, NULL, map, NULL, NULL), CLCNN_ERR_UNSUPPORTED);
    CHECK_OK(run_cam(mlp, x, CLCNN_CAM_GRADCAM, NULL, 0, NULL, map, NULL, NULL)); /* the MLP head is fine otherwise */
    const clcnn_cam_params p = {.method = CLCNN_CAM_GRADCAM};
    CHECK_STATUS(clcnn_cam(g, x, NULL, NULL, map, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_cam(g, x, &p, NULL, NULL, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_cam(NULL, x, &p, NULL, map, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    /* A graph with no spatial layer has no default. */
    clcnn_graph *flat = NULL;
    CHECK_OK(clcnn_graph_create(g_ctx, 3, 1, 1, 1, &flat));
    if (flat) {
        CHECK_OK(clcnn_graph_linear(flat, "fc", "input", 2, 1));
        CHECK(clcnn_cam_default_layer(flat) == NULL, "a graph without spatial layers has default %s",
              clcnn_cam_default_layer(flat));
        clcnn_tensor *x1 = ar_tensor(&a, 4, (int[]){1, 3, 1, 1}, NULL), *m1 = ar_tensor(&a, 3, (int[]){1, 1, 1}, NULL);
        if (x1 && m1)
            CHECK_STATUS(run_cam(flat, x1, CLCNN_CAM_GRADCAM, NULL, 0, NULL, m1, NULL, NULL), CLCNN_ERR_NOT_FOUND);
        clcnn_graph_destroy(flat);
    }
    CHECK(clcnn_cam_default_layer(NULL) == NULL, "NULL graph has a default layer");
done:
    clcnn_graph_destroy(mlp);
    clcnn_graph_destroy(g);
    ar_free(&a);
}

/* ------------------------------------------------------------- goldens -- */

enum { GOLDEN_N = 2, GOLDEN_CLASSES = 10 };
static const int golden_targets[GOLDEN_N] = {6, -1}; /* scripts/make_golden_cam.py's TARGET0, then predicted */

/* A detinit network and input, and its golden file. */
typedef struct {
    clcnn_graph *g;
    clcnn_tensor *x;
    clcnn_weights *gold;
    const char *name;
} golden_net;

static int golden_open(arena *a, golden_net *gn, const char *name, const clcnn_resnet_config *cfg) {
    char file[64];
    snprintf(file, sizeof file, "cam_%s.safetensors", name);
    gn->name = name;
    const int S = cfg->height;
    float *xh = ar_floats(a, (size_t)GOLDEN_N * 3 * S * S);
    if (!xh || !CASE_OK(a, clcnn_weights_load(g_ctx, test_golden_path(file), &gn->gold)) ||
        !CASE_OK(a, clcnn_resnet_build(g_ctx, cfg, 1, &gn->g)))
        return 0;
    const char *gain = clcnn_weights_metadata(gn->gold, "bn_gain"); /* detinit's, where it is not 1 */
    if (!CASE_OK(a, detinit_graph_gain(gn->g, 0, gain ? strtod(gain, NULL) : 1.0))) return 0;
    detinit_image("cam_input", (size_t)GOLDEN_N * 3 * S * S, 0, xh);
    gn->x = ar_tensor(a, 4, (int[]){GOLDEN_N, 3, S, S}, xh);
    return gn->x != NULL;
}

static void golden_close(golden_net *gn) {
    clcnn_graph_destroy(gn->g);
    clcnn_weights_destroy(gn->gold);
}

/* The golden map "LAYER.METHOD" against got [N, hw]; returns the error (tu_worst_row_error, a row per map). */
static double golden_compare(arena *a, const golden_net *gn, const char *layer, const char *method, const float *got,
                             int hw) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", layer, method);
    const clcnn_tensor *t = clcnn_weights_get(gn->gold, key);
    CASE_CHECK(a, t && clcnn_tensor_numel(t) == (size_t)GOLDEN_N * hw, "%s: golden %s missing or not [2, %d]", gn->name,
               key, hw);
    const float *want = t ? read_tensor(a, t) : NULL;
    if (!want || !got) return INFINITY;
    const double err = tu_worst_row_error(got, want, GOLDEN_N, hw);
    CASE_CHECK(a, err <= 1e-3, "%s %s: relative error %.3g against PyTorch", gn->name, key, err);
    return err;
}

/* probs and classes of the clcnn_cam call against the golden logits and classes. */
static void golden_outputs(arena *a, const golden_net *gn, const float *probs, const int *used) {
    const float *logits = read_tensor(a, clcnn_weights_get(gn->gold, "logits"));
    const float *classes = read_tensor(a, clcnn_weights_get(gn->gold, "classes"));
    if (!logits || !classes) return;
    for (int n = 0; n < GOLDEN_N; n++) {
        double l[GOLDEN_CLASSES], p[GOLDEN_CLASSES];
        for (int c = 0; c < GOLDEN_CLASSES; c++) l[c] = logits[n * GOLDEN_CLASSES + c];
        ref_cam_softmax(GOLDEN_CLASSES, l, p);
        for (int c = 0; c < GOLDEN_CLASSES; c++)
            CASE_CHECK(a, fabs(probs[n * GOLDEN_CLASSES + c] - p[c]) <= 1e-4, "%s: prob[%d, %d] %g, PyTorch's %g",
                       gn->name, n, c, probs[n * GOLDEN_CLASSES + c], p[c]);
        CASE_CHECK(a, used[n] == (int)classes[n], "%s: image %d explains class %d, PyTorch %d", gn->name, n, used[n],
                   (int)classes[n]);
    }
}

/* Grad-CAM at layers[0] (the last stage: CAM's default layer) end to end, the module
 * name resolved as in PyTorch; then from that forward pass, one backward pass per layer
 * serves every gradient method and EigenCAM. */
static void golden_maps(const char *arch, int size, const char *const layers[2]) {
    arena a = {0};
    golden_net gn = {0};
    clcnn_resnet_config cfg;
    ar_desc(&a, "%s golden maps", arch);
    CHECK_OK(clcnn_resnet_config_for(arch, GOLDEN_CLASSES, size, &cfg));
    if (test_failures() || !golden_open(&a, &gn, arch, &cfg)) goto done;
    clcnn_layer_info info[2];
    for (int l = 0; l < 2; l++)
        CASE_CHECK(&a, clcnn_graph_find_layer(gn.g, layers[l], &info[l]) > 0, "%s: no %s", arch, layers[l]);
    if (test_failures()) goto done;
    CASE_CHECK(&a, !strcmp(clcnn_cam_default_layer(gn.g), info[0].name), "default layer %s, want %s",
               clcnn_cam_default_layer(gn.g), info[0].name);
    float probs[GOLDEN_N * GOLDEN_CLASSES];
    int used[GOLDEN_N];
    const int hw4 = info[0].shape[1] * info[0].shape[2];
    clcnn_tensor *map4 = ar_tensor(&a, 3, (int[]){GOLDEN_N, info[0].shape[1], info[0].shape[2]}, NULL);
    if (!map4 || !CASE_OK(&a, run_cam(gn.g, gn.x, CLCNN_CAM_GRADCAM, layers[0], 0, golden_targets, map4, probs, used)))
        goto done;
    golden_outputs(&a, &gn, probs, used);
    const double e2e = golden_compare(&a, &gn, layers[0], "gradcam", read_tensor(&a, map4), hw4);
    printf("    %s: clcnn_cam gradcam at %s (%s): relative error %.2g\n", arch, layers[0], info[0].name, e2e);
    for (int l = 0; l < 2; l++) {
        const int K = info[l].shape[0], h = info[l].shape[1], w = info[l].shape[2];
        float *A = NULL, *G = NULL;
        clcnn_tensor *tg = ar_tensor(&a, 4, (int[]){GOLDEN_N, K, h, w}, NULL),
                     *map = ar_tensor(&a, 3, (int[]){GOLDEN_N, h, w}, NULL);
        if (!tg || !map || !activations_and_grads(&a, gn.g, gn.x, info[l].name, used, GOLDEN_CLASSES, &A, &G) ||
            !CASE_OK(&a, clcnn_tensor_write(tg, G, clcnn_tensor_numel(tg))))
            break;
        const clcnn_tensor *ta = clcnn_graph_tensor(gn.g, info[l].name);
        char line[512];
        int len = snprintf(line, sizeof line, "    %s %s (%s, [%d, %d, %d]):", arch, layers[l], info[l].name, K, h, w);
        for (int m = 0; m <= GRAD_METHODS; m++) {
            const clcnn_cam_method method = m < GRAD_METHODS ? grad_methods[m] : CLCNN_CAM_EIGENCAM;
            if (!CASE_OK(&a,
                         m < GRAD_METHODS ? cam_grad_map(g_ctx, method, ta, tg, map) : cam_eigen_map(g_ctx, ta, map)))
                break;
            const double err =
                golden_compare(&a, &gn, layers[l], clcnn_cam_method_name(method), read_tensor(&a, map), h * w);
            len += snprintf(line + len, sizeof line - (size_t)len, " %s %.2g", clcnn_cam_method_name(method), err);
        }
        printf("%s\n", line);
    }
done:
    golden_close(&gn);
    ar_free(&a);
}

static const char *const resnet_layers[2] = {"layer4", "layer3"};
static void test_cam_golden_resnet18(void) { golden_maps("resnet18", 128, resnet_layers); }
static void test_cam_golden_seresnet50(void) { golden_maps("seresnet50", 128, resnet_layers); }
static void test_cam_golden_mobilenet_v2(void) {
    static const char *const layers[2] = {"features.18", "features.17"};
    golden_maps("mobilenet_v2", 128, layers);
}
static void test_cam_golden_efficientnet_b0(void) {
    static const char *const layers[2] = {"features.8", "features.6"};
    golden_maps("efficientnet_b0", 128, layers);
}

/* Score-CAM (64 channels: 128 masked passes) and EigenCAM end to end on make_golden.py's
 * TinyResNet with four stages. */
static void test_cam_golden_tiny(void) {
    arena a = {0};
    golden_net gn = {0};
    const clcnn_resnet_config cfg = {.stages = 4,
                                     .blocks = {1, 1, 1, 1},
                                     .widths = {8, 16, 32, 64},
                                     .se = 1,
                                     .classes = GOLDEN_CLASSES,
                                     .in_channels = 3,
                                     .height = 96,
                                     .width = 96};
    ar_desc(&a, "tiny SE-ResNet golden maps");
    if (!golden_open(&a, &gn, "tiny", &cfg)) goto done;
    clcnn_tensor *map = ar_tensor(&a, 3, (int[]){GOLDEN_N, 3, 3}, NULL);
    float probs[GOLDEN_N * GOLDEN_CLASSES];
    int used[GOLDEN_N];
    const clcnn_cam_method methods[] = {CLCNN_CAM_SCORECAM, CLCNN_CAM_EIGENCAM};
    char line[256];
    int len = snprintf(line, sizeof line, "    tiny SE-ResNet layer4 (layer4.0, [64, 3, 3]):");
    for (int m = 0; m < 2 && map; m++) {
        if (!CASE_OK(&a, run_cam(gn.g, gn.x, methods[m], "layer4", 0, golden_targets, map, probs, used))) break;
        golden_outputs(&a, &gn, probs, used);
        const double err =
            golden_compare(&a, &gn, "layer4", clcnn_cam_method_name(methods[m]), read_tensor(&a, map), 9);
        len += snprintf(line + len, sizeof line - (size_t)len, " %s %.2g", clcnn_cam_method_name(methods[m]), err);
    }
    printf("%s\n", line);
done:
    golden_close(&gn);
    ar_free(&a);
}

/* ------------------------------------------------- deletion, insertion -- */

/* The AUCs from forward passes made one at a time on the host's perturbed images, with the
 * pixel order from the device's own upsampling of the map (ranked: larger first, ties by
 * position; the map has a tie). */
static void test_cam_deletion_insertion(void) {
    enum { C = 3, MH = 3, MW = 4, STEPS = 4, HW = 144 };
    test_rng rng = {g_seed ^ 0xDE1u};
    arena a = {0};
    ar_desc(&a, "deletion and insertion, %d steps", STEPS);
    clcnn_graph *g = small_graph(4, C, 0);
    float *xh = ar_rand(&a, &rng, 3 * HW, -2, 2), *mh = ar_rand(&a, &rng, MH * MW, 0, 1), *up = ar_floats(&a, HW);
    float *img = ar_floats(&a, 3 * HW), logits[C];
    clcnn_tensor *x = ar_tensor(&a, 4, (int[]){1, 3, 12, 12}, xh), *small = NULL, *big = NULL;
    int *rank = ar_alloc(&a, HW * sizeof(int));
    if (!g || !xh || !mh || !up || !img || !x || !rank) goto done;
    mh[5] = mh[2]; /* a tie */
    if (!(small = ar_tensor(&a, 4, (int[]){1, 1, MH, MW}, mh)) ||
        !(big = ar_tensor(&a, 4, (int[]){1, 1, 12, 12}, NULL)) ||
        !CASE_OK(&a, clcnn_resize_bilinear(g_ctx, small, big)) || !CASE_OK(&a, clcnn_tensor_read(big, up, HW)))
        goto done;
    for (int p = 0; p < HW; p++) { /* rank = pixels before p in the order */
        rank[p] = 0;
        for (int q = 0; q < HW; q++) rank[p] += up[q] > up[p] || (up[q] == up[p] && q < p);
    }
    double want[2], probs[2][STEPS + 1];
    const int target = 1;
    for (int mode = 0; mode < 2; mode++)
        for (int s = 0; s <= STEPS; s++) {
            const int count = s * HW / STEPS;
            for (int ch = 0; ch < 3; ch++)
                for (int p = 0; p < HW; p++) {
                    const int first = rank[p] < count, keep = mode ? first : !first;
                    img[ch * HW + p] = keep ? xh[ch * HW + p] : 0.0f;
                }
            const clcnn_tensor *out;
            double l[C], pr[C];
            if (!CASE_OK(&a, clcnn_tensor_write(x, img, 3 * HW)) || !CASE_OK(&a, clcnn_graph_forward(g, x, &out)) ||
                !CASE_OK(&a, clcnn_tensor_read(out, logits, C)))
                goto done;
            for (int c = 0; c < C; c++) l[c] = logits[c];
            ref_cam_softmax(C, l, pr);
            probs[mode][s] = pr[target];
        }
    for (int mode = 0; mode < 2; mode++) want[mode] = ref_trapezoid(STEPS, probs[mode]);
    if (!CASE_OK(&a, clcnn_tensor_write(x, xh, 3 * HW))) goto done;
    double del = NAN, ins = NAN;
    clcnn_graph_set_training(g, 1);
    CASE_OK(&a, clcnn_cam_deletion_insertion(g, x, mh, MH, MW, target, STEPS, &del, &ins));
    CASE_CHECK(&a, clcnn_graph_is_training(g), "deletion/insertion left training mode");
    CASE_CHECK(&a, clcnn_graph_tensor(g, "input") == x, "after deletion/insertion the graph's input is not x");
    clcnn_graph_set_training(g, 0);
    CASE_CHECK(&a, fabs(del - want[0]) < 1e-5 && fabs(ins - want[1]) < 1e-5,
               "deletion %.7f insertion %.7f, from single passes %.7f %.7f", del, ins, want[0], want[1]);
    CASE_CHECK(&a, fabs(probs[0][STEPS] - probs[1][0]) < 1e-6, "the empty image has two probabilities");
    /* One step: both integrate the same two endpoints. */
    CASE_OK(&a, clcnn_cam_deletion_insertion(g, x, mh, MH, MW, target, 1, &del, &ins));
    CASE_CHECK(&a, fabs(del - ins) < 1e-6, "one step: deletion %.7f != insertion %.7f", del, ins);
    /* Errors. */
    clcnn_tensor *x2 = ar_tensor(&a, 4, (int[]){2, 3, 12, 12}, NULL);
    if (x2) CHECK_STATUS(clcnn_cam_deletion_insertion(g, x2, mh, MH, MW, target, 4, &del, &ins), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_cam_deletion_insertion(g, x, mh, MH, MW, target, 0, &del, &ins), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_cam_deletion_insertion(g, x, mh, MH, MW, C, 4, &del, &ins), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_cam_deletion_insertion(g, x, mh, 0, MW, target, 4, &del, &ins), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_cam_deletion_insertion(g, x, NULL, MH, MW, target, 4, &del, &ins), CLCNN_ERR_INVALID_ARGUMENT);
    mh[3] = NAN;
    CHECK_STATUS(clcnn_cam_deletion_insertion(g, x, mh, MH, MW, target, 4, &del, &ins), CLCNN_ERR_NUMERICS);
done:
    clcnn_graph_destroy(g);
    ar_free(&a);
}

/* One image's [h, w] maps of `layer` for input xh (host, [N, 3, 12, 12]) by single-layer
 * clcnn_cam, read into out; used receives the classes. */
static int single_maps(arena *a, clcnn_graph *g, const float *xh, int N, const char *layer, const int *targets,
                       int h, int w, float *out, int *used) {
    clcnn_tensor *x = NULL, *map = NULL;
    clcnn_cam_params p = clcnn_cam_params_default();
    p.layer = layer;
    const int ok = CASE_OK(a, clcnn_tensor_create(g_ctx, 4, (int[]){N, 3, 12, 12}, &x)) &&
                   CASE_OK(a, clcnn_tensor_write(x, xh, (size_t)N * 3 * 144)) &&
                   CASE_OK(a, clcnn_tensor_create(g_ctx, 3, (int[]){N, h, w}, &map)) &&
                   CASE_OK(a, clcnn_cam(g, x, &p, targets, map, NULL, used)) &&
                   CASE_OK(a, clcnn_tensor_read(map, out, (size_t)N * h * w));
    clcnn_tensor_destroy(map);
    clcnn_tensor_destroy(x);
    return ok;
}

/* Layer fusion and aug_smooth against their definitions composed from single-layer
 * maps: fused = the mean over layers of each image's map normalised to [0, 1] and
 * resized to the input's 12 x 12; smoothed = the mean over the 6 variants (mirrored or
 * not, times 0.9, 1, 1.1) of the maps explaining the image's own class, mirrors mirrored
 * back; both together = the mean over the variants of the fused maps. */
static void test_cam_fuse_and_smooth(void) {
    enum { N = 2, K = 5, C = 4, IN = 12 * 12 };
    test_rng rng = {g_seed ^ 0xF5Eu};
    arena a = {0};
    ar_desc(&a, "small graph, layers r1 (12x12) and feat (6x6)");
    clcnn_graph *g = small_graph(K, C, 0);
    const char *const layers[2] = {"r1", "feat"};
    float *xh = ar_rand(&a, &rng, (size_t)N * 3 * IN, -2, 2), *xv = ar_floats(&a, (size_t)N * 3 * IN);
    float *one = ar_floats(&a, N * IN), *got = ar_floats(&a, N * IN), *want = ar_floats(&a, N * IN);
    float *fused_v = ar_floats(&a, N * IN), *resized = ar_floats(&a, IN);
    clcnn_tensor *x = ar_tensor(&a, 4, (int[]){N, 3, 12, 12}, xh);
    int used[N], used_ref[N], h, w;
    const int targets[N] = {-1, 1};
    if (!g || a.bad) goto done;
    clcnn_cam_params p = clcnn_cam_params_default();
    p.n_layers = 2, p.layers = layers;
    CHECK(CASE_OK(&a, clcnn_cam_map_size(g, &p, &h, &w)) && h == 12 && w == 12, "fused map %dx%d, want 12x12", w, h);
    for (int smooth = 0; smooth < 2; smooth++)
        for (int fuse = 0; fuse < 2; fuse++) {
            if (!fuse && !smooth) continue;
            clcnn_cam_params q = clcnn_cam_params_default();
            q.layer = "feat", q.aug_smooth = smooth;
            if (fuse) q.n_layers = 2, q.layers = layers;
            const int mh = fuse ? 12 : 6, mw = mh, cells = mh * mw;
            /* the reference, variant by variant (variant 0: the image itself) */
            memset(want, 0, sizeof(float) * N * IN);
            for (int v = 0; v < (smooth ? 6 : 1); v++) {
                const float f = (float[]){1.0f, 0.9f, 1.1f}[v % 3];
                for (int plane = 0; plane < N * 3; plane++)
                    for (int y = 0; y < 12; y++)
                        for (int c = 0; c < 12; c++)
                            xv[plane * IN + y * 12 + (v >= 3 ? 11 - c : c)] = xh[plane * IN + y * 12 + c] * f;
                memset(fused_v, 0, sizeof(float) * N * IN);
                for (int l = 0; l < (fuse ? 2 : 1); l++) {
                    const int lh = fuse && l == 0 ? 12 : 6;
                    if (!single_maps(&a, g, xv, N, fuse ? layers[l] : "feat", v ? used_ref : targets, lh, lh, one,
                                     v ? NULL : used_ref))
                        goto done;
                    for (int n = 0; n < N; n++) {
                        float *m = one + n * lh * lh;
                        if (!fuse) {
                            memcpy(fused_v + n * cells, m, sizeof(float) * cells);
                            continue;
                        }
                        clcnn_map_normalize(m, (size_t)lh * lh, m);
                        CHECK_OK(clcnn_map_resize(m, lh, lh, resized, 12, 12));
                        for (int i = 0; i < IN; i++) fused_v[n * IN + i] += resized[i] / 2;
                    }
                }
                for (int n = 0; n < N; n++)
                    for (int y = 0; y < mh; y++)
                        for (int c = 0; c < mw; c++)
                            want[n * cells + y * mw + c] += fused_v[n * cells + y * mw + (v >= 3 ? mw - 1 - c : c)] /
                                                            (smooth ? 6 : 1);
            }
            clcnn_tensor *map = NULL;
            const int ok = CASE_OK(&a, clcnn_tensor_create(g_ctx, 3, (int[]){N, mh, mw}, &map)) &&
                           CASE_OK(&a, clcnn_cam(g, x, &q, targets, map, NULL, used)) &&
                           CASE_OK(&a, clcnn_tensor_read(map, got, (size_t)N * cells));
            clcnn_tensor_destroy(map);
            if (!ok) goto done;
            double worst = 0, scale = 0;
            for (int i = 0; i < N * cells; i++) {
                worst = fmax(worst, fabs(got[i] - want[i]));
                scale = fmax(scale, fabs(want[i]));
            }
            printf("    fuse %d, smooth %d: max error %.2g (map scale %.3g)\n", fuse, smooth, worst, scale);
            CASE_CHECK(&a, scale > 0 && worst <= 1e-5 * scale, "fuse %d smooth %d: error %.3g against the composition "
                       "of single-layer maps (scale %.3g)", fuse, smooth, worst, scale);
            for (int n = 0; n < N; n++)
                CASE_CHECK(&a, used[n] == used_ref[n], "image %d explains %d, want %d", n, used[n], used_ref[n]);
        }
    const char *const bad[2] = {"feat", "nope"};
    p.layers = bad;
    CHECK_STATUS(clcnn_cam_map_size(g, &p, &h, &w), CLCNN_ERR_NOT_FOUND);
    CHECK(strstr(clcnn_last_error(g_ctx), "nope") != NULL, "unclear error: %s", clcnn_last_error(g_ctx));
done:
    ar_free(&a);
    clcnn_graph_destroy(g);
}

const test_case test_cam_cases[] = {
    {"cam_fuse_and_smooth", test_cam_fuse_and_smooth},
    {"cam_method_names", test_cam_method_names},
    {"cam_map_kernels", test_cam_map_kernels},
    {"cam_eigen_kernel", test_cam_eigen_kernel},
    {"cam_end_to_end", test_cam_end_to_end},
    {"cam_scorecam_host_path", test_cam_scorecam_host_path},
    {"cam_flat_map_is_zero", test_cam_flat_map_is_zero},
    {"cam_errors", test_cam_errors},
    {"cam_golden_resnet18", test_cam_golden_resnet18},
    {"cam_golden_seresnet50", test_cam_golden_seresnet50},
    {"cam_golden_mobilenet_v2", test_cam_golden_mobilenet_v2},
    {"cam_golden_efficientnet_b0", test_cam_golden_efficientnet_b0},
    {"cam_golden_tiny", test_cam_golden_tiny},
    {"cam_deletion_insertion", test_cam_deletion_insertion},
    {NULL, NULL},
};
