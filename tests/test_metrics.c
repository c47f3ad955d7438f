/* test_metrics.c: clcnn_metrics_*: a three-class example worked by hand (confusion
 * matrix, per-class precision, recall, F1 and support, macro averages, accuracy, mean
 * loss, the first largest prob as the prediction), scikit-learn's zero_division=0 and
 * its macro average over the labels present, the ROC AUC with tied scores (by hand, and
 * against counting all positive-negative pairs on random scores), errors that leave the
 * counts alone, and the JSON read back with jansson. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

/* Sums of a few ratios: exact up to rounding of doubles. */
#define TOL 1e-12

static void expect_near(const char *what, double got, double want) {
    CHECK(fabs(got - want) <= TOL, "%s = %.15g, expected %.15g", what, got, want);
}

static void expect_class(const clcnn_metrics *m, int k, double p, double r, double f1, int64_t support) {
    double gp = -1, gr = -1, gf = -1;
    int64_t gs = -1;
    CHECK_OK(clcnn_metrics_class(m, k, &gp, &gr, &gf, &gs));
    char what[64];
    snprintf(what, sizeof what, "class %d precision", k);
    expect_near(what, gp, p);
    snprintf(what, sizeof what, "class %d recall", k);
    expect_near(what, gr, r);
    snprintf(what, sizeof what, "class %d F1", k);
    expect_near(what, gf, f1);
    CHECK(gs == support, "class %d support %lld, expected %lld", k, (long long)gs, (long long)support);
}

/* probs row i: 0.6 on pred[i] and 0.2 elsewhere (three classes). */
static void one_hot_probs(int n, const int *pred, float *probs) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) probs[i * 3 + k] = k == pred[i] ? 0.6f : 0.2f;
}

/* The three-class example, added in two batches with loss sums 2.0 and 1.2.
 *   labels 0 0 0 1 1 2 2 2
 *   preds  0 1 0 1 1 2 0 0     (sample 0's probs are 0.4 0.4 0.2: the first largest wins)
 * confusion [true][pred]:  [2 1 0]   class 0: tp 2, fp 2 (from class 2), fn 1
 *                          [0 2 0]   class 1: tp 2, fp 1, fn 0
 *                          [2 0 1]   class 2: tp 1, fp 0, fn 2
 * precision 2/4 = 1/2, 2/3, 1/1;  recall 2/3, 2/2 = 1, 1/3;
 * F1 = 2tp / (2tp + fp + fn) = 4/7, 4/5, 2/4 = 1/2; support 3, 2, 3;
 * accuracy (2 + 2 + 1) / 8 = 5/8; loss (2.0 + 1.2) / 8 = 0.4;
 * macro precision (1/2 + 2/3 + 1) / 3 = 13/18; macro recall (2/3 + 1 + 1/3) / 3 = 2/3;
 * macro F1 (4/7 + 4/5 + 1/2) / 3 = (40 + 56 + 35) / 70 / 3 = 131/210.
 * One-vs-rest AUC (sample 0's probs are 0.4 0.4 0, the others one-hot): class 0, the
 * scores 0.4 0 1 of its positives against 0 0 0 1 1: (3 + 1.5 + 4) / 15 = 17/30;
 * class 1, 1 1 against 0.4 1 0 0 0 0: 11/12; class 2, 1 0 0 against 0 0 0 0 0:
 * (5 + 2.5 + 2.5) / 15 = 2/3; macro (17/30 + 11/12 + 2/3) / 3 = 43/60 (scikit-learn's
 * roc_auc_score per class gives the three, and multi_class='ovr' is their mean). */
static clcnn_metrics *three_class_example(void) {
    const int labels[8] = {0, 0, 0, 1, 1, 2, 2, 2}, pred[8] = {0, 1, 0, 1, 1, 2, 0, 0};
    float probs[8 * 3];
    one_hot_probs(8, pred, probs);
    probs[0] = probs[1] = 0.4f;
    clcnn_metrics *m = NULL;
    CHECK_OK(clcnn_metrics_create(3, &m));
    if (!m) return NULL;
    CHECK_OK(clcnn_metrics_add(m, 5, probs, labels, 2.0));
    CHECK_OK(clcnn_metrics_add(m, 3, probs + 5 * 3, labels + 5, 1.2));
    return m;
}

static void test_metrics_three_class(void) {
    clcnn_metrics *m = three_class_example();
    if (!m) return;
    const int64_t want_confusion[9] = {2, 1, 0, 0, 2, 0, 2, 0, 1};
    const int64_t *c = clcnn_metrics_confusion(m);
    for (int i = 0; i < 9 && c; i++)
        CHECK(c[i] == want_confusion[i], "confusion[%d][%d] = %lld, expected %lld", i / 3, i % 3, (long long)c[i],
              (long long)want_confusion[i]);
    expect_class(m, 0, 0.5, 2.0 / 3, 4.0 / 7, 3);
    expect_class(m, 1, 2.0 / 3, 1.0, 0.8, 2);
    expect_class(m, 2, 1.0, 1.0 / 3, 0.5, 3);
    clcnn_metrics_summary s;
    CHECK_OK(clcnn_metrics_get(m, &s));
    CHECK(s.samples == 8, "samples %lld", (long long)s.samples);
    expect_near("loss", s.loss, 0.4);
    expect_near("accuracy", s.accuracy, 5.0 / 8);
    expect_near("macro precision", s.macro_precision, 13.0 / 18);
    expect_near("macro recall", s.macro_recall, 2.0 / 3);
    expect_near("macro F1", s.macro_f1, 131.0 / 210);
    expect_near("one-vs-rest macro AUC", s.auc, 43.0 / 60);
    /* Outputs of clcnn_metrics_class may be NULL. */
    double f1 = -1;
    CHECK_OK(clcnn_metrics_class(m, 1, NULL, NULL, &f1, NULL));
    expect_near("class 1 F1 alone", f1, 0.8);

    /* Reset: nothing counted. */
    clcnn_metrics_reset(m);
    CHECK_OK(clcnn_metrics_get(m, &s));
    CHECK(s.samples == 0 && isnan(s.accuracy) && isnan(s.loss) && isnan(s.macro_f1),
          "after reset: samples %lld accuracy %g loss %g macro F1 %g (expected 0 and NaNs)", (long long)s.samples,
          s.accuracy, s.loss, s.macro_f1);
    for (int i = 0; i < 9; i++) CHECK(c[i] == 0, "confusion[%d] = %lld after reset", i, (long long)c[i]);
    expect_class(m, 0, 0, 0, 0, 0);
    clcnn_metrics_destroy(m);
}

/* Four classes: labels 0 0 1 1, predictions 0 0 0 3.
 *   class 0: tp 2, fp 1, fn 0: precision 2/3, recall 1, F1 4/5
 *   class 1: tp 0, fp 0, fn 2: precision 0/0 -> 0, recall 0, F1 0 (in the macro: has samples)
 *   class 2: nothing: all 0, support 0, left out of the macro averages
 *   class 3: tp 0, fp 1, fn 0: precision 0, recall 0/0 -> 0, F1 0 (in the macro: predicted)
 * macro over classes 0, 1, 3: precision 2/9, recall 1/3, F1 (4/5) / 3 = 4/15. */
static void test_metrics_zero_division(void) {
    const int labels[4] = {0, 0, 1, 1}, pred[4] = {0, 0, 0, 3};
    float probs[4 * 4];
    for (int i = 0; i < 16; i++) probs[i] = (i % 4 == pred[i / 4]) ? 0.7f : 0.1f;
    clcnn_metrics *m = NULL;
    CHECK_OK(clcnn_metrics_create(4, &m));
    if (!m) return;
    CHECK_OK(clcnn_metrics_add(m, 4, probs, labels, 0.0));
    expect_class(m, 0, 2.0 / 3, 1.0, 0.8, 2);
    expect_class(m, 1, 0, 0, 0, 2);
    expect_class(m, 2, 0, 0, 0, 0);
    expect_class(m, 3, 0, 0, 0, 0);
    clcnn_metrics_summary s;
    CHECK_OK(clcnn_metrics_get(m, &s));
    expect_near("accuracy", s.accuracy, 0.5);
    expect_near("loss (unknown)", s.loss, 0.0);
    expect_near("macro precision", s.macro_precision, 2.0 / 9);
    expect_near("macro recall", s.macro_recall, 1.0 / 3);
    expect_near("macro F1", s.macro_f1, 4.0 / 15);
    clcnn_metrics_destroy(m);
}

/* Two classes, scores (class 1's prob) with ties:
 *   score 0.1 0.4 0.35 0.8 0.4 0.4 0.7 0.1
 *   label 0   0   1    1   1   0   1   1
 * sorted, average ranks: 0.1 (0, 1) -> 1.5 each; 0.35 -> 3; 0.4 (0, 1, 0) -> 5 each; 0.7 -> 7; 0.8 -> 8.
 * rank sum of the 5 positives 1.5 + 3 + 5 + 7 + 8 = 24.5; AUC = (24.5 - 5*6/2) / (5*3) = 9.5/15.
 * The same by pairs, in plain Python:
 *   pos = [.35, .8, .4, .7, .1]; neg = [.1, .4, .4]
 *   sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / 15  ->  0.6333... */
static void test_metrics_auc_ties(void) {
    const float score[8] = {0.1f, 0.4f, 0.35f, 0.8f, 0.4f, 0.4f, 0.7f, 0.1f};
    const int labels[8] = {0, 0, 1, 1, 1, 0, 1, 1};
    float probs[16];
    for (int i = 0; i < 8; i++) probs[2 * i] = 1 - score[i], probs[2 * i + 1] = score[i];
    clcnn_metrics *m = NULL;
    CHECK_OK(clcnn_metrics_create(2, &m));
    if (!m) return;
    clcnn_metrics_summary s;
    CHECK_OK(clcnn_metrics_get(m, &s));
    CHECK(isnan(s.auc), "AUC %g with no samples, expected NaN", s.auc);
    CHECK_OK(clcnn_metrics_add(m, 3, probs, labels, 0.0));
    CHECK_OK(clcnn_metrics_add(m, 5, probs + 6, labels + 3, 0.0));
    CHECK_OK(clcnn_metrics_get(m, &s));
    expect_near("AUC with ties", s.auc, 9.5 / 15);
    /* Predictions: prob of class 1 above 0.5 for 0.8 and 0.7 only: both positives. */
    expect_near("accuracy", s.accuracy, 5.0 / 8);
    expect_class(m, 1, 1.0, 2.0 / 5, 2.0 * 2 / (2 * 2 + 0 + 3), 5);
    /* One class only: no AUC. */
    clcnn_metrics_reset(m);
    CHECK_OK(clcnn_metrics_add(m, 2, probs + 6, labels + 3, 0.0));
    CHECK_OK(clcnn_metrics_get(m, &s));
    CHECK(isnan(s.auc), "AUC %g with positives only, expected NaN", s.auc);
    clcnn_metrics_destroy(m);
}

/* Random scores on a few levels (many ties), in random batches, against the pair count. */
static void test_metrics_auc_random(void) {
    test_rng rng = {g_seed ^ 0xa0cull};
    clcnn_metrics *m = NULL;
    CHECK_OK(clcnn_metrics_create(2, &m));
    if (!m) return;
    for (int round = 0; round < 5; round++) {
        enum { N = 600 };
        static float probs[2 * N], score[N];
        static int labels[N];
        const int levels = test_rng_int(&rng, 2, 30);
        for (int i = 0; i < N; i++) {
            score[i] = (float)test_rng_int(&rng, 0, levels) / (float)levels;
            labels[i] = test_rng_uniform(&rng, 0, 1) < 0.3f + 0.4f * score[i]; /* informative, imperfect */
            probs[2 * i] = 1 - score[i];
            probs[2 * i + 1] = score[i];
        }
        clcnn_metrics_reset(m);
        for (int at = 0; at < N;) {
            int n = test_rng_int(&rng, 1, 97);
            if (n > N - at) n = N - at;
            CHECK_OK(clcnn_metrics_add(m, n, probs + 2 * at, labels + at, 0.0));
            at += n;
        }
        double pairs = 0, pos = 0, neg = 0;
        for (int i = 0; i < N; i++) {
            pos += labels[i], neg += !labels[i];
            for (int j = 0; j < N; j++)
                if (labels[i] && !labels[j]) pairs += (score[i] > score[j]) + 0.5 * (score[i] == score[j]);
        }
        clcnn_metrics_summary s;
        CHECK_OK(clcnn_metrics_get(m, &s));
        CHECK(fabs(s.auc - pairs / (pos * neg)) <= TOL, "round %d (%d levels): AUC %.15g, pair count gives %.15g",
              round, levels, s.auc, pairs / (pos * neg));
    }
    clcnn_metrics_destroy(m);
}

/* More than two classes: the one-vs-rest macro AUC against a pair count per class on
 * random scores with ties, in random batches; NaN once a class has no sample. */
static void test_metrics_auc_multiclass(void) {
    test_rng rng = {g_seed ^ 0x0c4ull};
    enum { C = 5, N = 400 };
    static float probs[N * C];
    static int labels[N];
    clcnn_metrics *m = NULL;
    CHECK_OK(clcnn_metrics_create(C, &m));
    if (!m) return;
    for (int i = 0; i < N; i++) {
        labels[i] = test_rng_int(&rng, 0, C - 1);
        for (int k = 0; k < C; k++) /* a few levels (ties), higher for the true class on average */
            probs[i * C + k] = (float)test_rng_int(&rng, 0, 8) / 8.0f + (k == labels[i] ? 0.25f : 0.0f);
    }
    for (int at = 0; at < N;) {
        int n = test_rng_int(&rng, 1, 61);
        if (n > N - at) n = N - at;
        CHECK_OK(clcnn_metrics_add(m, n, probs + (size_t)at * C, labels + at, 0.0));
        at += n;
    }
    double macro = 0;
    for (int k = 0; k < C; k++) {
        double pairs = 0, pos = 0, neg = 0;
        for (int i = 0; i < N; i++) {
            pos += labels[i] == k, neg += labels[i] != k;
            for (int j = 0; j < N; j++)
                if (labels[i] == k && labels[j] != k) {
                    const float a = probs[i * C + k], b = probs[j * C + k];
                    pairs += (a > b) + 0.5 * (a == b);
                }
        }
        macro += pairs / (pos * neg) / C;
    }
    clcnn_metrics_summary s;
    CHECK_OK(clcnn_metrics_get(m, &s));
    CHECK(fabs(s.auc - macro) <= TOL, "one-vs-rest macro AUC %.15g, pair counts give %.15g", s.auc, macro);
    /* class 4 without samples: NaN, as scikit-learn refuses it */
    clcnn_metrics_reset(m);
    for (int i = 0; i < N; i++) labels[i] %= C - 1;
    CHECK_OK(clcnn_metrics_add(m, N, probs, labels, 0.0));
    CHECK_OK(clcnn_metrics_get(m, &s));
    CHECK(isnan(s.auc), "AUC %g with a class that has no sample, expected NaN", s.auc);
    clcnn_metrics_destroy(m);
}

static void test_metrics_errors(void) {
    clcnn_metrics *m = (clcnn_metrics *)1;
    CHECK_STATUS(clcnn_metrics_create(0, &m), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(m == NULL, "*metrics not NULL after an error");
    CHECK_STATUS(clcnn_metrics_create(2, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_OK(clcnn_metrics_create(3, &m));
    if (!m) return;
    const float probs[6] = {0.2f, 0.3f, 0.5f, 0.1f, NAN, 0.1f};
    const int good[2] = {0, 1}, bad[2] = {0, 3};
    /* A label out of range or a NaN prob counts nothing, not even the samples before it. */
    CHECK_STATUS(clcnn_metrics_add(m, 2, probs, bad, 1.0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(NULL), "sample 1") != NULL, "error \"%s\" does not name sample 1",
          clcnn_last_error(NULL));
    CHECK_STATUS(clcnn_metrics_add(m, 2, probs, good, 1.0), CLCNN_ERR_NUMERICS);
    CHECK_STATUS(clcnn_metrics_add(m, -1, probs, good, 1.0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_metrics_add(m, 1, NULL, good, 1.0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_metrics_add(NULL, 1, probs, good, 1.0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_OK(clcnn_metrics_add(m, 0, NULL, NULL, 0.0));
    clcnn_metrics_summary s;
    CHECK_OK(clcnn_metrics_get(m, &s));
    CHECK(s.samples == 0, "%lld samples counted by failed adds", (long long)s.samples);
    CHECK_STATUS(clcnn_metrics_class(m, 3, NULL, NULL, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_metrics_get(NULL, &s), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(clcnn_metrics_confusion(NULL) == NULL && clcnn_metrics_json(NULL, NULL) == NULL, "NULL metrics answered");
    clcnn_metrics_destroy(m);
    clcnn_metrics_destroy(NULL);
    clcnn_metrics_reset(NULL);
}

/* ---- JSON ---- */

static double json_num(json_t *root, const char *key) {
    json_t *v = json_object_get(root, key);
    CHECK(json_is_number(v), "\"%s\" is not a number", key);
    return json_number_value(v);
}

/* The per-class entry of `name`: precision, recall, f1, support. */
static void expect_json_class(json_t *root, const char *name, double p, double r, double f1, int support) {
    json_t *c = json_object_get(json_object_get(root, "per_class"), name);
    CHECK(json_is_object(c), "per_class has no \"%s\"", name);
    if (!c) return;
    CHECK(fabs(json_num(c, "precision") - p) < 1e-12 && fabs(json_num(c, "recall") - r) < 1e-12 &&
              fabs(json_num(c, "f1") - f1) < 1e-12,
          "class %s: %g %g %g, expected %g %g %g", name, json_num(c, "precision"), json_num(c, "recall"),
          json_num(c, "f1"), p, r, f1);
    CHECK(json_integer_value(json_object_get(c, "support")) == support, "class %s support", name);
}

/* Element i of a JSON array of strings, "" when it is not one. */
static const char *string_at(json_t *array, int i) {
    const char *s = json_string_value(json_array_get(array, (size_t)i));
    return s ? s : "";
}

static json_t *parse(char *text) {
    CHECK(text != NULL, "clcnn_metrics_json gave NULL");
    if (!text) return NULL;
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    CHECK(json_is_object(root), "JSON does not parse (%s): %s", err.text, text);
    free(text);
    return root;
}

static void test_metrics_json(void) {
    clcnn_metrics *m = three_class_example();
    if (!m) return;
    const char *const names[] = {"cat", "dog", "bird \"tit\""};
    json_t *root = parse(clcnn_metrics_json(m, names));
    if (root) {
        /* JSON numbers are written with 15 significant digits. */
        CHECK(json_integer_value(json_object_get(root, "samples")) == 8, "samples");
        CHECK(fabs(json_num(root, "loss") - 0.4) < 1e-12, "loss");
        CHECK(fabs(json_num(root, "accuracy") - 0.625) < 1e-12, "accuracy");
        CHECK(fabs(json_num(root, "macro_precision") - 13.0 / 18) < 1e-12, "macro_precision");
        CHECK(fabs(json_num(root, "macro_recall") - 2.0 / 3) < 1e-12, "macro_recall");
        CHECK(fabs(json_num(root, "macro_f1") - 131.0 / 210) < 1e-12, "macro_f1");
        CHECK(fabs(json_num(root, "auc") - 43.0 / 60) < 1e-12, "auc (one-vs-rest) %g", json_num(root, "auc"));
        expect_json_class(root, "cat", 0.5, 2.0 / 3, 4.0 / 7, 3);
        expect_json_class(root, "dog", 2.0 / 3, 1.0, 0.8, 2);
        expect_json_class(root, "bird \"tit\"", 1.0, 1.0 / 3, 0.5, 3);
        const int64_t want[3][3] = {{2, 1, 0}, {0, 2, 0}, {2, 0, 1}};
        json_t *conf = json_object_get(root, "confusion");
        CHECK(json_array_size(conf) == 3, "confusion has %zu rows", json_array_size(conf));
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                CHECK(json_integer_value(json_array_get(json_array_get(conf, i), j)) == want[i][j],
                      "confusion[%d][%d]", i, j);
        json_t *classes = json_object_get(root, "classes");
        for (int k = 0; k < 3; k++)
            CHECK(!strcmp(string_at(classes, k), names[k]), "classes[%d] is \"%s\"", k, string_at(classes, k));
        json_decref(root);
    }
    /* Without names the classes are "0", "1", ... */
    root = parse(clcnn_metrics_json(m, NULL));
    if (root) {
        expect_json_class(root, "2", 1.0, 1.0 / 3, 0.5, 3);
        CHECK(!strcmp(string_at(json_object_get(root, "classes"), 0), "0"), "classes[0] is not \"0\"");
        json_decref(root);
    }
    /* Nothing counted: NaNs are nulls, the JSON still parses. */
    clcnn_metrics_reset(m);
    root = parse(clcnn_metrics_json(m, names));
    if (root) {
        CHECK(json_is_null(json_object_get(root, "accuracy")) && json_is_null(json_object_get(root, "loss")) &&
                  json_is_null(json_object_get(root, "macro_f1")),
              "NaN metrics are not null");
        json_decref(root);
    }
    clcnn_metrics_destroy(m);
    /* Two classes: the AUC is a number. */
    const float probs[4] = {0.8f, 0.2f, 0.3f, 0.7f};
    const int labels[2] = {0, 1};
    CHECK_OK(clcnn_metrics_create(2, &m));
    if (m) CHECK_OK(clcnn_metrics_add(m, 2, probs, labels, 0.5));
    root = m ? parse(clcnn_metrics_json(m, NULL)) : NULL;
    if (root) {
        CHECK(fabs(json_num(root, "auc") - 1.0) < 1e-12, "auc of a perfect ranking");
        json_decref(root);
    }
    clcnn_metrics_destroy(m);
}

const test_case test_metrics_cases[] = {
    {"metrics_three_class", test_metrics_three_class},
    {"metrics_zero_division", test_metrics_zero_division},
    {"metrics_auc_ties", test_metrics_auc_ties},
    {"metrics_auc_random", test_metrics_auc_random},
    {"metrics_auc_multiclass", test_metrics_auc_multiclass},
    {"metrics_errors", test_metrics_errors},
    {"metrics_json", test_metrics_json},
    {NULL, NULL},
};
