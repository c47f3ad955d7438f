/* cmd_predict.c: `clcnn predict`: the class of each image, its probability and the
 * top K, as text or JSON. An unreadable image is reported and the others still are
 * classified (the exit status is then 1). */
#include <jansson.h>
#include "options.h"
#include "tool.h"

static const char *cmd = "predict";

static struct {
    const char *weights, *arch, *device, *fit;
    int classes, size, top, batch, json;
} o = {.top = 5, .batch = 16};

static const opt_spec specs[] = {
    {"--weights", OPT_STRING, &o.weights, "FILE", "the model (safetensors)"},
    {"--arch", OPT_STRING, &o.arch, "A", "architecture, for files without clcnn metadata"},
    {"--classes", OPT_INT, &o.classes, "N", "class count, for files without clcnn metadata"},
    {"--size", OPT_INT, &o.size, "S", "input size (default: the model's, else 224)"},
    {"--fit", OPT_STRING, &o.fit, "F", "crop, squash or pad: how a picture becomes the square input (default: the model's)"},
    {"--top", OPT_INT, &o.top, "K", "classes listed per image"},
    {"--batch", OPT_INT, &o.batch, "B", "images per forward pass"},
    {"--json", OPT_FLAG, &o.json, NULL, "print {\"results\":[{image, class, label, probs, logits}]}"},
    {"--device", OPT_STRING, &o.device, "D", "device index, gpu, cpu or part of a name"},
    {NULL, 0, NULL, NULL, NULL}};

static const opt_command command = {
    "predict", "--weights FILE [--top K] [--json] IMAGE|FOLDER...",
    "Classifies images (PNG or JPEG files, or every image in a folder): the most\n"
    "probable class with its probability, and the top K classes.",
    specs, -1, "clcnn"};

static const char *class_label(const clcnn_model_desc *d, int k, char *buf, size_t size) {
    if (d->class_names) return d->class_names[k];
    snprintf(buf, size, "%d", k);
    return buf;
}

static json_t *float_array(const float *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static void report(const clcnn_model_desc *d, const char *image, const float *logits, const float *probs, json_t *results) {
    const int best = tool_argmax(probs, d->classes);
    char buf[16];
    if (results) {
        json_array_append_new(results, json_pack("{s:s, s:i, s:s, s:o, s:o}", "image", image, "class", best, "label",
                                                 class_label(d, best, buf, sizeof buf), "probs",
                                                 float_array(probs, d->classes), "logits",
                                                 float_array(logits, d->classes)));
        return;
    }
    printf("%s: %s %.1f%%", image, class_label(d, best, buf, sizeof buf), 100.0 * probs[best]);
    const int k = o.top < d->classes ? o.top : d->classes;
    if (k > 1) {
        int *order = malloc((size_t)d->classes * sizeof *order);
        if (!order) return;
        for (int i = 0; i < d->classes; i++) order[i] = i;
        for (int i = 0; i < k; i++) /* partial selection sort: the top k, largest first */
            for (int j = i + 1; j < d->classes; j++)
                if (probs[order[j]] > probs[order[i]]) {
                    const int t = order[i];
                    order[i] = order[j], order[j] = t;
                }
        printf("  (top %d:", k);
        for (int i = 0; i < k; i++) printf(" %s %.1f%%", class_label(d, order[i], buf, sizeof buf), 100.0 * probs[order[i]]);
        printf(")");
        free(order);
    }
    putchar('\n');
}

static int predict_run(int n_args, char **args) {
    clcnn_context *ctx = NULL;
    clcnn_graph *g = NULL;
    clcnn_model_desc d = {0};
    char **paths = NULL;
    int count = 0, rc = 1, failures = 0;
    float *x = NULL, *logits = NULL, *probs = NULL;
    const char **names = NULL;
    tool_input in = {0};
    json_t *results = NULL;
    if (tool_collect_images(cmd, n_args, args, &paths, &count)) return 1;
    if (cli_open(PROG, o.device, &ctx) != CLCNN_OK) goto done;
    if (tool_open_model(cmd, ctx, o.weights, o.arch, o.classes, o.size, o.fit, &g, &d)) goto done;
    const size_t per = (size_t)3 * d.size * d.size;
    if (!(x = malloc(per * o.batch * sizeof *x)) || !(logits = malloc((size_t)o.batch * d.classes * sizeof *logits)) ||
        !(probs = malloc((size_t)o.batch * d.classes * sizeof *probs)) || !(names = malloc((size_t)o.batch * sizeof *names)) ||
        (o.json && !(results = json_array()))) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    in = (tool_input){.ctx = ctx, .size = d.size};
    for (int next = 0; next < count;) {
        int n = 0;
        for (; next < count && n < o.batch; next++) { /* fill a batch with the readable images */
            clcnn_image img;
            clcnn_status st = clcnn_image_load(paths[next], &img);
            if (st == CLCNN_OK) st = clcnn_image_prepare_fit(&img, d.size, d.fit, NULL, 0, &d.norm, x + per * n);
            clcnn_image_free(&img);
            if (st != CLCNN_OK) {
                tool_fail_status(cmd, NULL, st);
                failures++;
                continue;
            }
            names[n++] = paths[next];
        }
        if (n == 0) continue;
        const clcnn_tensor *out;
        clcnn_status st;
        if ((st = tool_input_set(&in, n, x, NULL)) != CLCNN_OK || (st = clcnn_graph_forward(g, in.x, &out)) != CLCNN_OK ||
            (st = clcnn_tensor_read(out, logits, (size_t)n * d.classes)) != CLCNN_OK) {
            tool_fail_status(cmd, ctx, st);
            goto done;
        }
        tool_softmax(logits, n, d.classes, probs);
        for (int i = 0; i < n; i++)
            report(&d, names[i], logits + (size_t)i * d.classes, probs + (size_t)i * d.classes, results);
    }
    if (results) {
        json_t *root = json_pack("{s:O}", "results", results);
        char *text = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(7)) : NULL;
        if (text) printf("%s\n", text);
        free(text);
        json_decref(root);
    }
    rc = failures ? 1 : 0;
done:
    json_decref(results);
    tool_input_free(&in);
    free(names);
    free(x);
    free(logits);
    free(probs);
    clcnn_model_desc_free(&d);
    clcnn_graph_destroy(g);
    clcnn_context_destroy(ctx);
    tool_free_paths(paths, count);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    char **pos = malloc((size_t)argc * sizeof *pos);
    int npos = 0, rc = pos ? opt_parse(&command, argc, argv, pos, &npos) : OPT_ERROR;
    if (rc == OPT_OK && !o.weights) rc = tool_fail(cmd, "--weights FILE is required (see --help)") + 1;
    if (rc == OPT_OK && npos == 0) rc = tool_fail(cmd, "no images given (see --help)") + 1;
    if (rc == OPT_OK) rc = predict_run(npos, pos);
    else rc = rc == OPT_HELP ? 0 : 2;
    free(pos);
    return rc;
}
