/* cmd_eval.c: `clcnn eval`: a trained model's metrics on a folder of labelled images
 * (the validation metrics of `clcnn train`, for any data set). */
#include <jansson.h>
#include <math.h>
#include "options.h"
#include "progress.h"
#include "tool.h"

static const char *cmd = "eval";

static struct {
    const char *data, *weights, *arch, *device, *predictions, *fit;
    int classes, size, batch, threads, json;
} o = {.batch = 16};

static const opt_spec specs[] = {
    {"--data", OPT_STRING, &o.data, "DIR", "images: DIR/CLASS/*.png|jpg, or a CSV of path,label"},
    {"--weights", OPT_STRING, &o.weights, "FILE", "the model (safetensors)"},
    {"--arch", OPT_STRING, &o.arch, "A", "architecture, for files without clcnn metadata"},
    {"--classes", OPT_INT, &o.classes, "N", "class count, for files without clcnn metadata"},
    {"--size", OPT_INT, &o.size, "S", "input size (default: the model's)"},
    {"--fit", OPT_STRING, &o.fit, "F", "crop, squash or pad: how a picture becomes the square input (default: the model's)"},
    {"--batch", OPT_INT, &o.batch, "B", "images per forward pass"},
    {"--threads", OPT_COUNT, &o.threads, "N", "image decoding threads (0: one per core)"},
    {"--json", OPT_FLAG, &o.json, NULL, "print the metrics as one JSON object"},
    {"--predictions", OPT_STRING, &o.predictions, "FILE",
     "also write FILE.csv: path, true label, predicted label, each class's probability"},
    {"--device", OPT_STRING, &o.device, "D", "device index, gpu, cpu or part of a name"},
    {NULL, 0, NULL, NULL, NULL}};

static const opt_command command = {
    "eval", "--data DIR --weights FILE [--json] [OPTIONS]",
    "Runs the model on every image of a labelled folder and prints loss, accuracy,\n"
    "precision, recall and F1 per class and macro-averaged, ROC AUC (one-vs-rest macro\n"
    "for more than two classes),\n"
    "and the confusion matrix. The folder's class names must be the model's.\n"
    "--predictions FILE also writes one row per picture (for error analysis).",
    specs, 0, "clcnn"};

static void print_report(const clcnn_metrics *m, const clcnn_model_desc *d) {
    clcnn_metrics_summary s;
    clcnn_metrics_get(m, &s);
    printf("%lld images: loss %.4f, accuracy %.2f%%, macro precision %.3f recall %.3f F1 %.3f", (long long)s.samples,
           s.loss, 100 * s.accuracy, s.macro_precision, s.macro_recall, s.macro_f1);
    if (isfinite(s.auc)) printf(", ROC AUC %.4f", s.auc);
    printf("\n\n%-24s %9s %9s %9s %9s\n", "class", "precision", "recall", "F1", "support");
    for (int k = 0; k < d->classes; k++) {
        double p, r, f;
        int64_t n;
        clcnn_metrics_class(m, k, &p, &r, &f, &n);
        printf("%-24.24s %9.3f %9.3f %9.3f %9lld\n", d->class_names ? d->class_names[k] : "?", p, r, f, (long long)n);
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted)\n");
    const int64_t *c = clcnn_metrics_confusion(m);
    for (int i = 0; i < d->classes; i++) {
        printf("%-24.24s", d->class_names ? d->class_names[i] : "?");
        for (int j = 0; j < d->classes; j++) printf(" %7lld", (long long)c[i * d->classes + j]);
        putchar('\n');
    }
}

/* s as one CSV field: quoted (quotes doubled) when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* The header of --predictions: path,label,predicted,prob_CLASS... */
static void predictions_header(FILE *f, const clcnn_model_desc *d) {
    fputs("path,label,predicted", f);
    for (int k = 0; k < d->classes; k++) {
        char name[300];
        snprintf(name, sizeof name, "prob_%s", d->class_names ? d->class_names[k] : "?");
        fputc(',', f);
        csv_field(f, name);
    }
    fputc('\n', f);
}

/* One row per picture of batch b, probs [n, classes] and labels [n] as tool_eval_batch left them. */
static void predictions_rows(FILE *f, const clcnn_dataset *ds, const clcnn_model_desc *d, const clcnn_batch *b,
                             const float *probs, const int *labels) {
    for (int i = 0; i < b->n; i++) {
        const float *p = probs + (size_t)i * d->classes;
        csv_field(f, clcnn_dataset_path(ds, b->indices[i]));
        fputc(',', f);
        csv_field(f, d->class_names ? d->class_names[labels[i]] : "?");
        fputc(',', f);
        csv_field(f, d->class_names ? d->class_names[tool_argmax(p, d->classes)] : "?");
        for (int k = 0; k < d->classes; k++) fprintf(f, ",%.6g", (double)p[k]);
        fputc('\n', f);
    }
}

static int eval_run(void) {
    clcnn_context *ctx = NULL;
    clcnn_graph *g = NULL;
    clcnn_model_desc d = {0};
    clcnn_dataset *ds = NULL;
    clcnn_loader *loader = NULL;
    clcnn_metrics *m = NULL;
    tool_input in = {0};
    float *probs = NULL;
    int *labels = NULL, rc = 1;
    clcnn_status st;
    if (cli_open(PROG, o.device, &ctx) != CLCNN_OK) return 1;
    if (tool_open_model(cmd, ctx, o.weights, o.arch, o.classes, o.size, o.fit, &g, &d)) goto done;
    if ((st = clcnn_dataset_open(o.data, d.class_names ? d.classes : 0, (const char *const *)d.class_names, &ds)) != CLCNN_OK) {
        tool_fail_status(cmd, NULL, st);
        goto done;
    }
    if (clcnn_dataset_class_count(ds) != d.classes) {
        tool_fail(cmd, "%s has %d classes, the model %d", o.data, clcnn_dataset_class_count(ds), d.classes);
        goto done;
    }
    clcnn_loader_params lp = clcnn_loader_params_default();
    lp.batch = o.batch, lp.size = d.size, lp.norm = d.norm, lp.threads = o.threads, lp.skip_bad = 1, lp.fit = d.fit;
    if ((st = clcnn_loader_create(ds, &lp, &loader)) != CLCNN_OK || (st = clcnn_metrics_create(d.classes, &m)) != CLCNN_OK ||
        (st = clcnn_loader_start(loader, 0)) != CLCNN_OK) {
        tool_fail_status(cmd, NULL, st);
        goto done;
    }
    if (!(probs = malloc((size_t)o.batch * d.classes * sizeof *probs)) || !(labels = malloc((size_t)o.batch * sizeof *labels))) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    in = (tool_input){.ctx = ctx, .size = d.size};
    char *rows = NULL;
    size_t rows_len = 0;
    FILE *pred = o.predictions ? open_memstream(&rows, &rows_len) : NULL; /* saved whole at the end */
    if (o.predictions && !pred) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    if (pred) predictions_header(pred, &d);
    progress bar;
    progress_start(&bar, "eval", "img", clcnn_dataset_size(ds));
    long seen = 0;
    clcnn_batch b;
    while ((st = clcnn_loader_next(loader, &b)) == CLCNN_OK && b.n > 0) {
        if (tool_eval_batch(cmd, g, &in, &b, d.classes, probs, labels, m)) goto done_rows;
        if (pred) predictions_rows(pred, ds, &d, &b, probs, labels);
        progress_update(&bar, seen += b.n, NULL);
    }
    if (st != CLCNN_OK) {
        tool_fail_status(cmd, NULL, st);
        goto done_rows;
    }
    progress_finish(&bar, seen, NULL);
    if (pred) {
        const int closed = fclose(pred) == 0;
        pred = NULL;
        if (!closed || (st = clcnn_save_file(o.predictions, rows, rows_len)) != CLCNN_OK) {
            tool_fail_status(cmd, NULL, closed ? st : CLCNN_ERR_OUT_OF_MEMORY);
            goto done_rows;
        }
        fprintf(stderr, "predictions: %s (%ld rows)\n", o.predictions, seen);
    }
    if (clcnn_loader_bad_images(loader)) fprintf(stderr, "%d unreadable images skipped\n", clcnn_loader_bad_images(loader));
    if (o.json) {
        char *text = clcnn_metrics_json(m, (const char *const *)d.class_names);
        if (!text) {
            tool_fail(cmd, "out of host memory");
            goto done;
        }
        printf("%s\n", text);
        free(text);
    } else {
        print_report(m, &d);
    }
    rc = 0;
done_rows:
    if (pred) fclose(pred);
    free(rows);
done:
    free(probs);
    free(labels);
    tool_input_free(&in);
    clcnn_metrics_destroy(m);
    clcnn_loader_destroy(loader);
    clcnn_dataset_destroy(ds);
    clcnn_model_desc_free(&d);
    clcnn_graph_destroy(g);
    clcnn_context_destroy(ctx);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    char **pos = malloc((size_t)argc * sizeof *pos);
    int npos, rc = pos ? opt_parse(&command, argc, argv, pos, &npos) : OPT_ERROR;
    free(pos);
    if (rc == OPT_HELP) return 0;
    if (rc != OPT_OK) return 2;
    if (!o.data || !o.weights) return tool_fail(cmd, "--data DIR and --weights FILE are required (see --help)");
    return eval_run();
}
