/* tool.c: see tool.h. */
#include "tool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>

int tool_fail_status(const char *cmd, const clcnn_context *ctx, clcnn_status st) {
    fprintf(stderr, "%s %s: %s (%s)\n", PROG, cmd, clcnn_last_error(ctx), clcnn_status_str(st));
    return 1;
}

int tool_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s %s: ", PROG, cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int tool_default_size(const char *arch) { return arch && strstr(arch, "compact") ? 96 : 224; }

int tool_parse_fit(const char *cmd, const char *name, clcnn_fit *fit) {
    return clcnn_fit_parse(name, fit) == CLCNN_OK ? 0 : tool_fail(cmd, "--fit %s: want crop, squash or pad", name);
}

int tool_open_model(const char *cmd, clcnn_context *ctx, const char *weights, const char *arch, int classes, int size,
                    const char *fit, clcnn_graph **g, clcnn_model_desc *desc) {
    clcnn_model_desc given = {.classes = classes, .size = size};
    clcnn_fit chosen = CLCNN_FIT_CROP;
    if (fit && tool_parse_fit(cmd, fit, &chosen)) return 1;
    if (arch) snprintf(given.arch, sizeof given.arch, "%s", arch);
    clcnn_status st = clcnn_model_open(ctx, weights, &given, g, desc);
    if (st != CLCNN_OK) return tool_fail_status(cmd, ctx, st);
    if (fit) desc->fit = chosen;
    return 0;
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    char ext[8] = {0};
    for (int i = 0; i < 7 && dot[i + 1]; i++) ext[i] = (char)tolower((unsigned char)dot[i + 1]);
    return !strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    char **v;
    int n, cap;
} path_list;

static int push(path_list *l, char *p) {
    if (!p) return 0;
    if (l->n == l->cap) {
        const int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(p);
            return 0;
        }
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = p;
    return 1;
}

/* The images directly inside dir, sorted. */
static int add_folder(const char *cmd, const char *dir, path_list *l) {
    DIR *d = opendir(dir);
    if (!d) return tool_fail(cmd, "cannot read folder %s: %s", dir, strerror(errno));
    const int first = l->n;
    struct dirent *e;
    int ok = 1;
    while (ok && (e = readdir(d)) != NULL) {
        if (!is_image_name(e->d_name)) continue;
        const size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (p) snprintf(p, n, "%s/%s", dir, e->d_name);
        ok = push(l, p);
    }
    closedir(d);
    if (!ok) return tool_fail(cmd, "out of host memory listing %s", dir);
    qsort(l->v + first, (size_t)(l->n - first), sizeof *l->v, cmp_str);
    return 0;
}

int tool_collect_images(const char *cmd, int n_args, char **args, char ***paths, int *count) {
    path_list l = {0};
    for (int i = 0; i < n_args; i++) {
        struct stat s;
        if (stat(args[i], &s) != 0) {
            tool_free_paths(l.v, l.n);
            return tool_fail(cmd, "cannot open %s: %s", args[i], strerror(errno));
        }
        int rc = S_ISDIR(s.st_mode) ? add_folder(cmd, args[i], &l) : !push(&l, strdup(args[i]));
        if (rc) {
            tool_free_paths(l.v, l.n);
            return rc == 1 && !S_ISDIR(s.st_mode) ? tool_fail(cmd, "out of host memory") : 1;
        }
    }
    if (l.n == 0) {
        free(l.v);
        return tool_fail(cmd, "no images given (files or folders of .png, .jpg, .jpeg)");
    }
    *paths = l.v;
    *count = l.n;
    return 0;
}

void tool_free_paths(char **paths, int count) {
    for (int i = 0; paths && i < count; i++) free(paths[i]);
    free(paths);
}

void tool_softmax(const float *logits, int n, int classes, float *probs) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        float *p = probs + (size_t)i * classes;
        double m = z[0], sum = 0;
        for (int k = 1; k < classes; k++) m = z[k] > m ? z[k] : m;
        for (int k = 0; k < classes; k++) sum += exp((double)z[k] - m);
        for (int k = 0; k < classes; k++) p[k] = (float)(exp((double)z[k] - m) / sum);
    }
}

int tool_argmax(const float *v, int n) {
    int best = 0;
    for (int k = 1; k < n; k++)
        if (v[k] > v[best]) best = k;
    return best;
}

clcnn_status tool_input_set(tool_input *in, int n, const float *images, const float *labels) {
    clcnn_status st;
    if (in->n != n) tool_input_free(in);
    if (!in->x && (st = clcnn_tensor_create(in->ctx, 4, (int[]){n, 3, in->size, in->size}, &in->x)) != CLCNN_OK)
        return st;
    if (labels && !in->labels && (st = clcnn_tensor_create(in->ctx, 1, (int[]){n}, &in->labels)) != CLCNN_OK)
        return st;
    in->n = n;
    if ((st = clcnn_tensor_write(in->x, images, (size_t)n * 3 * in->size * in->size)) != CLCNN_OK) return st;
    return labels ? clcnn_tensor_write(in->labels, labels, (size_t)n) : CLCNN_OK;
}

void tool_input_free(tool_input *in) {
    clcnn_tensor_destroy(in->x);
    clcnn_tensor_destroy(in->labels);
    in->x = in->labels = NULL;
    in->n = 0;
}

int tool_batch_probs(const char *cmd, clcnn_graph *g, tool_input *in, const clcnn_batch *b, int classes, float *probs) {
    const clcnn_tensor *out;
    clcnn_status st;
    if ((st = tool_input_set(in, b->n, b->x, NULL)) != CLCNN_OK || (st = clcnn_graph_forward(g, in->x, &out)) != CLCNN_OK ||
        (st = clcnn_tensor_read(out, probs, (size_t)b->n * classes)) != CLCNN_OK)
        return tool_fail_status(cmd, in->ctx, st);
    tool_softmax(probs, b->n, classes, probs);
    return 0;
}

int tool_eval_batch(const char *cmd, clcnn_graph *g, tool_input *in, const clcnn_batch *b, int classes, float *probs,
                    int *labels, clcnn_metrics *m) {
    if (tool_batch_probs(cmd, g, in, b, classes, probs)) return 1;
    clcnn_status st;
    double loss = 0;
    for (int i = 0; i < b->n; i++) {
        labels[i] = (int)b->labels[i];
        loss -= log(fmax(probs[(size_t)i * classes + labels[i]], 1e-30));
    }
    st = clcnn_metrics_add(m, b->n, probs, labels, loss);
    return st == CLCNN_OK ? 0 : tool_fail_status(cmd, NULL, st);
}

const char *tool_output_layer(const clcnn_graph *g) {
    clcnn_layer_info info;
    return clcnn_graph_layer(g, clcnn_graph_layer_count(g) - 1, &info) == CLCNN_OK ? info.name : NULL;
}

void tool_print_class_counts(const char *what, const clcnn_dataset *ds) {
    const int k = clcnn_dataset_class_count(ds), n = clcnn_dataset_size(ds);
    int *count = calloc((size_t)(k > 0 ? k : 1), sizeof *count);
    for (int i = 0; count && i < n; i++) {
        const int label = clcnn_dataset_label(ds, i);
        if (label >= 0 && label < k) count[label]++;
    }
    printf("%s: %d (", what, n);
    for (int c = 0; c < k; c++) {
        if (c == 12 && k > 13) { /* many classes: the rest in one figure */
            printf(", and %d more classes", k - c);
            break;
        }
        printf("%s%s %d", c ? ", " : "", clcnn_dataset_class_name(ds, c), count ? count[c] : -1);
    }
    printf(")\n");
    free(count);
}
