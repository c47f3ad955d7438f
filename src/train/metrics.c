/* metrics.c: classification metrics accumulated on the host: a confusion matrix, the
 * loss sum and, up to AUC_MAX_CLASSES classes, every sample's probs and label for the
 * ROC AUC. Definitions follow scikit-learn's, so that numbers can be checked against
 * it: precision, recall and F1 with zero_division=0, macro averages over the labels
 * present in y_true or y_pred, and roc_auc_score (the Mann-Whitney statistic with
 * average ranks for ties): of class 1's prob for two classes, and one-vs-rest macro
 * (multi_class='ovr', average='macro') for more. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/error.h"

/* Classes up to which the probs are kept for the AUC (4 bytes per class and sample);
 * beyond, the AUC is NaN. */
#define AUC_MAX_CLASSES 256

typedef struct {
    float score; /* the prob of the class whose AUC is taken */
    int positive;
} scored;

struct clcnn_metrics {
    int classes;
    int64_t *confusion; /* [classes][classes], [true][predicted] */
    int64_t samples;
    double loss_sum;
    float *probs;       /* [n_kept][classes], for the AUC (2..AUC_MAX_CLASSES classes) */
    int *labels;        /* [n_kept] */
    size_t n_kept, cap_kept;
};

static int keeps_probs(const clcnn_metrics *m) { return m->classes >= 2 && m->classes <= AUC_MAX_CLASSES; }

clcnn_status clcnn_metrics_create(int classes, clcnn_metrics **metrics) {
    if (metrics) *metrics = NULL;
    if (!metrics) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_metrics_create: metrics is NULL");
    if (classes < 1 || classes > 32768)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_metrics_create: %d classes (1..32768)", classes);
    clcnn_metrics *m = calloc(1, sizeof *m);
    if (m) m->confusion = calloc((size_t)classes * (size_t)classes, sizeof *m->confusion);
    if (!m || !m->confusion) {
        free(m);
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_metrics_create: no host memory for %d classes",
                           classes);
    }
    m->classes = classes;
    *metrics = m;
    return CLCNN_OK;
}

void clcnn_metrics_destroy(clcnn_metrics *metrics) {
    if (!metrics) return;
    free(metrics->confusion);
    free(metrics->probs);
    free(metrics->labels);
    free(metrics);
}

void clcnn_metrics_reset(clcnn_metrics *metrics) {
    if (!metrics) return;
    memset(metrics->confusion, 0, (size_t)metrics->classes * (size_t)metrics->classes * sizeof *metrics->confusion);
    metrics->samples = 0;
    metrics->loss_sum = 0;
    metrics->n_kept = 0;
}

/* Room for `more` samples' probs and labels, so that an add either happens whole or not at all. */
static int reserve_kept(clcnn_metrics *m, size_t more) {
    if (m->n_kept + more <= m->cap_kept) return 1;
    size_t cap = m->cap_kept ? m->cap_kept : 1024;
    while (cap < m->n_kept + more) cap *= 2;
    float *p = realloc(m->probs, cap * (size_t)m->classes * sizeof *p);
    if (p) m->probs = p;
    int *l = p ? realloc(m->labels, cap * sizeof *l) : NULL;
    if (l) m->labels = l;
    if (!p || !l) return 0;
    m->cap_kept = cap;
    return 1;
}

/* Every label a class index and every prob finite, before anything is counted. */
static clcnn_status check_samples(const clcnn_metrics *m, int n, const float *probs, const int *labels) {
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= m->classes)
            return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT,
                               "clcnn_metrics_add: sample %d has label %d, outside 0..%d", i, labels[i],
                               m->classes - 1);
        for (int k = 0; k < m->classes; k++)
            if (!isfinite(probs[(size_t)i * m->classes + k]))
                return rt_error(NULL, CLCNN_ERR_NUMERICS, "clcnn_metrics_add: sample %d: prob of class %d is %g",
                                   i, k, (double)probs[(size_t)i * m->classes + k]);
    }
    return CLCNN_OK;
}

clcnn_status clcnn_metrics_add(clcnn_metrics *metrics, int n, const float *probs, const int *labels, double loss_sum) {
    if (!metrics || n < 0 || (n > 0 && (!probs || !labels)))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_metrics_add: %s",
                           !metrics ? "metrics is NULL" : n < 0 ? "n is negative" : "probs or labels is NULL");
    clcnn_metrics *m = metrics;
    clcnn_status st = check_samples(m, n, probs, labels);
    if (st != CLCNN_OK) return st;
    if (keeps_probs(m) && !reserve_kept(m, (size_t)n))
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_metrics_add: no host memory for %lld samples' probs",
                           (long long)(m->n_kept + (size_t)n));
    for (int i = 0; i < n; i++) {
        const float *p = probs + (size_t)i * m->classes;
        int pred = 0;
        for (int k = 1; k < m->classes; k++)
            if (p[k] > p[pred]) pred = k;
        m->confusion[(size_t)labels[i] * m->classes + pred]++;
        if (keeps_probs(m)) {
            memcpy(m->probs + m->n_kept * (size_t)m->classes, p, (size_t)m->classes * sizeof *p);
            m->labels[m->n_kept++] = labels[i];
        }
    }
    m->samples += n;
    m->loss_sum += loss_sum;
    return CLCNN_OK;
}

/* ------------------------------------------------------------------ counts -- */

typedef struct {
    int64_t tp, fp, fn, support;
} class_counts;

static class_counts counts_of(const clcnn_metrics *m, int k) {
    class_counts c = {0};
    for (int j = 0; j < m->classes; j++) {
        c.support += m->confusion[(size_t)k * m->classes + j];
        c.fp += j != k ? m->confusion[(size_t)j * m->classes + k] : 0;
    }
    c.tp = m->confusion[(size_t)k * m->classes + k];
    c.fn = c.support - c.tp;
    return c;
}

/* a / b, or 0 where b is 0 (scikit-learn's zero_division=0). */
static double ratio0(int64_t a, int64_t b) { return b > 0 ? (double)a / (double)b : 0.0; }

static void class_scores(const class_counts *c, double *precision, double *recall, double *f1) {
    *precision = ratio0(c->tp, c->tp + c->fp);
    *recall = ratio0(c->tp, c->support);
    *f1 = ratio0(2 * c->tp, 2 * c->tp + c->fp + c->fn); /* = 2PR/(P+R), 0 when undefined */
}

clcnn_status clcnn_metrics_class(const clcnn_metrics *metrics, int k, double *precision, double *recall, double *f1,
                                 int64_t *support) {
    if (!metrics) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_metrics_class: metrics is NULL");
    if (k < 0 || k >= metrics->classes)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_metrics_class: class %d outside 0..%d", k,
                           metrics->classes - 1);
    const class_counts c = counts_of(metrics, k);
    double p, r, f;
    class_scores(&c, &p, &r, &f);
    if (precision) *precision = p;
    if (recall) *recall = r;
    if (f1) *f1 = f;
    if (support) *support = c.support;
    return CLCNN_OK;
}

const int64_t *clcnn_metrics_confusion(const clcnn_metrics *metrics) { return metrics ? metrics->confusion : NULL; }

/* --------------------------------------------------------------------- AUC -- */

static int cmp_scored(const void *a, const void *b) {
    const float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

/* ROC AUC of class k's prob against "label is k": (rank sum of the positives -
 * P(P+1)/2) / (P N), with tied scores sharing their average rank. NaN without both
 * positives and negatives; -1 when out of memory. */
static double roc_auc(const clcnn_metrics *m, int k) {
    const size_t n = m->n_kept;
    scored *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return -1.0;
    int64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        s[i] = (scored){m->probs[i * (size_t)m->classes + (size_t)k], m->labels[i] == k};
        pos += s[i].positive;
    }
    const int64_t neg = (int64_t)n - pos;
    if (pos == 0 || neg == 0) {
        free(s);
        return NAN;
    }
    qsort(s, n, sizeof *s, cmp_scored);
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, tied_pos = 0;
        for (; j < n && s[j].score == s[i].score; j++) tied_pos += (size_t)s[j].positive;
        rank_sum += (double)tied_pos * (double)(i + 1 + j) / 2.0; /* ranks i+1 .. j averaged */
        i = j;
    }
    free(s);
    return (rank_sum - (double)pos * ((double)pos + 1) / 2.0) / ((double)pos * (double)neg);
}

/* The AUC: class 1's for two classes, the mean of every class's one-vs-rest AUC for more
 * (NaN when a class has no sample or every sample: scikit-learn refuses those). */
static double auc_of(const clcnn_metrics *m) {
    if (!keeps_probs(m)) return NAN;
    if (m->classes == 2) return roc_auc(m, 1);
    double sum = 0;
    for (int k = 0; k < m->classes; k++) {
        const double a = roc_auc(m, k);
        if (a < 0) return a;
        sum += a; /* a NaN makes the mean NaN */
    }
    return sum / m->classes;
}

clcnn_status clcnn_metrics_get(const clcnn_metrics *metrics, clcnn_metrics_summary *summary) {
    if (!metrics || !summary)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_metrics_get: %s is NULL",
                           metrics ? "summary" : "metrics");
    const clcnn_metrics *m = metrics;
    clcnn_metrics_summary s = {.samples = m->samples, .loss = NAN, .accuracy = NAN, .macro_precision = NAN,
                               .macro_recall = NAN, .macro_f1 = NAN, .auc = NAN};
    int64_t correct = 0;
    int present = 0;
    double sum_p = 0, sum_r = 0, sum_f = 0;
    for (int k = 0; k < m->classes; k++) {
        const class_counts c = counts_of(m, k);
        correct += c.tp;
        if (c.support == 0 && c.tp + c.fp == 0) continue; /* neither in y_true nor in y_pred */
        double p, r, f;
        class_scores(&c, &p, &r, &f);
        sum_p += p, sum_r += r, sum_f += f;
        present++;
    }
    if (m->samples > 0) {
        s.loss = m->loss_sum / (double)m->samples;
        s.accuracy = (double)correct / (double)m->samples;
    }
    if (present > 0) {
        s.macro_precision = sum_p / present;
        s.macro_recall = sum_r / present;
        s.macro_f1 = sum_f / present;
    }
    s.auc = auc_of(m);
    if (s.auc < 0)
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_metrics_get: no host memory to rank %lld scores",
                           (long long)m->n_kept);
    *summary = s;
    return CLCNN_OK;
}

/* -------------------------------------------------------------------- JSON -- */

/* A number, or null for NaN and infinities (JSON has neither). */
static json_t *json_number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* A JSON string of name; bytes that are not valid UTF-8 become '?' rather than failing. */
static json_t *json_name(const char *name) {
    json_t *j = json_string(name);
    if (j) return j;
    char *copy = strdup(name);
    if (!copy) return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

/* Set key to v in obj; a NULL v (allocation failed) marks *ok false. */
static void put(json_t *obj, const char *key, json_t *v, int *ok) {
    if (!v || json_object_set_new(obj, key, v) != 0) *ok = 0;
}

static void append(json_t *arr, json_t *v, int *ok) {
    if (!v || json_array_append_new(arr, v) != 0) *ok = 0;
}

static json_t *json_class(const clcnn_metrics *m, int k, int *ok) {
    json_t *o = json_object();
    if (!o) return NULL;
    const class_counts c = counts_of(m, k);
    double p, r, f;
    class_scores(&c, &p, &r, &f);
    put(o, "precision", json_real(p), ok);
    put(o, "recall", json_real(r), ok);
    put(o, "f1", json_real(f), ok);
    put(o, "support", json_integer(c.support), ok);
    return o;
}

/* "per_class", "confusion" and "classes" of root. */
static void json_tables(const clcnn_metrics *m, const char *const *class_names, json_t *root, int *ok) {
    json_t *per_class = json_object(), *confusion = json_array(), *classes = json_array();
    put(root, "per_class", per_class, ok);
    put(root, "confusion", confusion, ok);
    put(root, "classes", classes, ok);
    if (!*ok) return;
    for (int k = 0; k < m->classes && *ok; k++) {
        char number[16];
        snprintf(number, sizeof number, "%d", k);
        json_t *name = json_name(class_names && class_names[k] ? class_names[k] : number);
        json_t *row = json_array();
        for (int j = 0; j < m->classes && row; j++) append(row, json_integer(m->confusion[(size_t)k * m->classes + j]), ok);
        append(confusion, row, ok);
        if (name) put(per_class, json_string_value(name), json_class(m, k, ok), ok);
        append(classes, name, ok);
    }
}

char *clcnn_metrics_json(const clcnn_metrics *metrics, const char *const *class_names) {
    clcnn_metrics_summary s;
    if (clcnn_metrics_get(metrics, &s) != CLCNN_OK) return NULL;
    json_t *root = json_object();
    int ok = root != NULL;
    if (ok) {
        put(root, "samples", json_integer(s.samples), &ok);
        put(root, "loss", json_number(s.loss), &ok);
        put(root, "accuracy", json_number(s.accuracy), &ok);
        put(root, "macro_precision", json_number(s.macro_precision), &ok);
        put(root, "macro_recall", json_number(s.macro_recall), &ok);
        put(root, "macro_f1", json_number(s.macro_f1), &ok);
        put(root, "auc", json_number(s.auc), &ok);
    }
    if (ok) json_tables(metrics, class_names, root, &ok);
    char *text = ok ? json_dumps(root, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(root);
    return text;
}
