/* cmd_cam.c: `clcnn cam`: where the evidence is. For each image: the raw map
 * (STEM_cam.npy, at the target layer's resolution), the heatmap (STEM_heat.png) and an
 * overlay on the original picture with the class, its probability and boxes
 * (STEM_overlay.png), plus DIR/cam.json with every number. Maps are computed on the
 * device in batches; only the pictures are made on the host. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include "options.h"
#include "progress.h"
#include "tool.h"

static const char *cmd = "cam";

static struct {
    const char *weights, *arch, *device, *method, *layer, *target, *score_class, *threshold, *out, *fit;
    int classes, size, batch, max_boxes, json, aug_smooth, metrics;
    float alpha;
} o = {.method = "gradcam", .threshold = "0.15", .batch = 8, .max_boxes = 5, .alpha = 0.5f};

static const opt_spec specs[] = {
    {"--weights", OPT_STRING, &o.weights, "FILE", "the model (safetensors)"},
    {"--arch", OPT_STRING, &o.arch, "A", "architecture, for files without clcnn metadata"},
    {"--classes", OPT_INT, &o.classes, "N", "class count, for files without clcnn metadata"},
    {"--size", OPT_INT, &o.size, "S", "input size (default: the model's)"},
    {"--fit", OPT_STRING, &o.fit, "F", "crop, squash or pad: how a picture becomes the square input (default: the model's)"},
    {"--method", OPT_STRING, &o.method, "M", "gradcam, gradcam++, hirescam, xgradcam, layercam, cam, scorecam, eigencam"},
    {"--layer", OPT_STRING, &o.layer, "NAME", "target layer(s), comma-separated: maps fused (default: the last stage)"},
    {"--class", OPT_STRING, &o.target, "K", "explain class K (index or name; default: the predicted class)"},
    {"--score-class", OPT_STRING, &o.score_class, "K", "the class whose probability is the score (default: --class)"},
    {"--alpha", OPT_FLOAT, &o.alpha, "A", "heatmap weight in the overlay, 0..1"},
    {"--threshold", OPT_STRING, &o.threshold, "T", "box/area threshold: a fraction of the map's maximum, or otsu"},
    {"--max-boxes", OPT_COUNT, &o.max_boxes, "N", "boxes per image"},
    {"--aug-smooth", OPT_FLAG, &o.aug_smooth, NULL,
     "average maps over 6 variants: mirrored or not, input x0.9, x1, x1.1 (pytorch-grad-cam's aug_smooth)"},
    {"--metrics", OPT_FLAG, &o.metrics, NULL, "also deletion and insertion AUCs per image (slower)"},
    {"--batch", OPT_INT, &o.batch, "B", "images per device pass"},
    {"--json", OPT_FLAG, &o.json, NULL, "print cam.json's contents to stdout"},
    {"--out", OPT_STRING, &o.out, "DIR", "folder for the maps, pictures and cam.json"},
    {"--device", OPT_STRING, &o.device, "D", "device index, gpu, cpu or part of a name"},
    {NULL, 0, NULL, NULL, NULL}};

static const opt_command command = {
    "cam", "--weights FILE --out DIR [--method M] [--layer NAME] [--class K] IMAGE|FOLDER...",
    "Explains the model's decision for each image with a class activation map: writes\n"
    "DIR/STEM_cam.npy (raw map), DIR/STEM_heat.png (JET heatmap at the image's size),\n"
    "DIR/STEM_overlay.png (heatmap over the image, class, probability, boxes) and\n"
    "DIR/cam.json (class, probabilities, score, area above the threshold, boxes).",
    specs, -1, "clcnn"};

/* ---- settings resolved once ---- */

typedef struct {
    clcnn_context *ctx;
    clcnn_graph *g;
    clcnn_model_desc d;
    clcnn_cam_params params;
    char **layers;
    int n_layers;
    int target, score_class; /* -1: the predicted class / the target */
    float threshold;         /* < 0: Otsu */
    json_t *results;
} cam_run;

/* A class given by index or by name. */
static int parse_class(const clcnn_model_desc *d, const char *text, int *k) {
    char *end;
    long v = strtol(text, &end, 10);
    if (*text && !*end && v >= 0 && v < d->classes) return *k = (int)v, 0;
    for (int i = 0; d->class_names && i < d->classes; i++)
        if (!strcmp(d->class_names[i], text)) return *k = i, 0;
    return tool_fail(cmd, "no class %s in the model (%d classes)", text, d->classes);
}

static int split_layers(cam_run *r) {
    if (!o.layer) return 0;
    for (const char *p = o.layer; p; p = strchr(p, ',')) {
        if (*p == ',') p++;
        const size_t n = strcspn(p, ",");
        char **grown = realloc(r->layers, (size_t)(r->n_layers + 1) * sizeof *grown);
        if (!grown) return tool_fail(cmd, "out of host memory");
        r->layers = grown;
        if (!(r->layers[r->n_layers++] = strndup(p, n))) return tool_fail(cmd, "out of host memory");
    }
    return 0;
}

static int resolve(cam_run *r) {
    r->params = clcnn_cam_params_default();
    clcnn_status st = clcnn_cam_method_parse(o.method, &r->params.method);
    if (st != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
    r->target = r->score_class = -1;
    if (o.target && parse_class(&r->d, o.target, &r->target)) return 1;
    if (o.score_class && parse_class(&r->d, o.score_class, &r->score_class)) return 1;
    if (!strcmp(o.threshold, "otsu")) r->threshold = -1;
    else {
        char *end;
        r->threshold = strtof(o.threshold, &end);
        if (*end || !(r->threshold >= 0 && r->threshold <= 1))
            return tool_fail(cmd, "--threshold is a fraction in [0, 1] or otsu, not %s", o.threshold);
    }
    if (o.alpha > 1) return tool_fail(cmd, "--alpha must be within [0, 1]");
    if (split_layers(r)) return 1;
    if (r->n_layers == 1) r->params.layer = r->layers[0];
    if (r->n_layers > 1) r->params.n_layers = r->n_layers, r->params.layers = (const char *const *)r->layers;
    r->params.aug_smooth = o.aug_smooth;
    int h, w;
    if (clcnn_cam_map_size(r->g, &r->params, &h, &w) != CLCNN_OK)
        return tool_fail(cmd, "%s (see clcnn layers --arch %s)", clcnn_last_error(r->ctx), r->d.arch);
    return 0;
}

/* ---- maps ---- */

/* The batch's maps (host, [n, h, w]) by the library's clcnn_cam, with the layers fused
 * and --aug-smooth as the params say. */
static int batch_maps(cam_run *r, const clcnn_tensor *x, int n, const int *targets, float **maps, int *h, int *w,
                      float *probs, int *used) {
    clcnn_tensor *map = NULL;
    clcnn_status st = clcnn_cam_map_size(r->g, &r->params, h, w);
    if (st == CLCNN_OK) st = clcnn_tensor_create(r->ctx, 3, (int[]){n, *h, *w}, &map);
    if (st == CLCNN_OK) st = clcnn_cam(r->g, x, &r->params, targets, map, probs, used);
    if (st == CLCNN_OK && !(*maps = malloc((size_t)n * *h * *w * sizeof **maps))) st = CLCNN_ERR_OUT_OF_MEMORY;
    if (st == CLCNN_OK) st = clcnn_tensor_read(map, *maps, (size_t)n * *h * *w);
    clcnn_tensor_destroy(map);
    return st == CLCNN_OK ? 0 : tool_fail_status(cmd, r->ctx, st);
}

/* ---- pictures and numbers for one image ---- */

static char *output_path(const char *stem, const char *suffix) {
    const size_t n = strlen(o.out) + strlen(stem) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", o.out, stem, suffix);
    return p;
}

/* STEM: the file name without folder and extension; with the parent folder's name in
 * front (PARENT_STEM) when that is needed to keep stems apart (class folders often hold
 * files of the same names), and a number after it when even that is not enough. */
static void file_stem(const char *path, int with_parent, char *stem, size_t size) {
    const char *base = strrchr(path, '/'), *parent = path;
    base = base ? base + 1 : path;
    for (const char *p = path; p < base - 1; p++)
        if (*p == '/') parent = p + 1;
    if (with_parent && base > path + 1 && parent < base - 1)
        snprintf(stem, size, "%.*s_%s", (int)(base - 1 - parent), parent, base);
    else snprintf(stem, size, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
}

static int stem_taken(char **stems, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (stems[i] && !strcmp(stems[i], name)) return 1;
    return 0;
}

static char **unique_stems(char **paths, int count) {
    char **stems = calloc((size_t)count, sizeof *stems);
    for (int pass = 0; stems && pass < 2; pass++) {
        int clash = 0;
        for (int i = 0; i < count; i++) {
            char stem[256];
            file_stem(paths[i], pass, stem, sizeof stem);
            free(stems[i]);
            stems[i] = strdup(stem);
        }
        for (int i = 0; i < count && !clash; i++)
            for (int j = 0; j < i && !clash; j++) clash = stems[i] && stems[j] && !strcmp(stems[i], stems[j]);
        if (!clash) break;
    }
    /* Still equal (same folder names): number them, skipping numbers another stem
     * already ends in (x.png, x.jpg and x_1.png must not give x_1 twice). */
    for (int i = 0; stems && i < count; i++)
        for (int j = 0; j < i; j++)
            if (stems[i] && stems[j] && !strcmp(stems[i], stems[j])) {
                char numbered[300];
                for (int n = 1; snprintf(numbered, sizeof numbered, "%s_%d", stems[i], n), stem_taken(stems, count, numbered); n++)
                    ;
                free(stems[i]);
                stems[i] = strdup(numbered);
                break;
            }
    for (int i = 0; stems && i < count; i++)
        if (!stems[i]) {
            tool_free_paths(stems, count);
            return NULL;
        }
    return stems;
}

static const char *label_of(const cam_run *r, int k, char *buf, size_t size) {
    if (r->d.class_names) return r->d.class_names[k];
    snprintf(buf, size, "class %d", k);
    return buf;
}

static json_t *box_json(const clcnn_box *b) {
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:f}", "x0", b->x0, "y0", b->y0, "x1", b->x1, "y1", b->y1, "pixels",
                     b->pixels, "peak", (double)b->peak);
}

static int explain_one(cam_run *r, const char *path, const char *stem, const clcnn_image *img, const float *raw, int h,
                       int w, const float *probs, int used, json_t **entry) {
    int rc = 1;
    char *npy = output_path(stem, "_cam.npy"), *heat_path = output_path(stem, "_heat.png"),
         *overlay_path = output_path(stem, "_overlay.png");
    float *map01 = malloc((size_t)h * w * sizeof *map01), *full = NULL;
    clcnn_image heat = {0}, overlay = {0};
    clcnn_box *boxes = calloc((size_t)o.max_boxes + 1, sizeof *boxes);
    clcnn_status st = CLCNN_OK;
    if (!npy || !heat_path || !overlay_path || !map01 || !boxes) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    if ((st = clcnn_npy_save(npy, raw, 2, (int[]){h, w})) != CLCNN_OK) goto fail;
    clcnn_map_normalize(raw, (size_t)h * w, map01);
    /* over the whole picture: 0 where the network did not see it (--fit crop's sides) */
    if (!(full = malloc((size_t)img->width * img->height * sizeof *full))) {
        tool_fail(cmd, "out of host memory for a %dx%d map", img->width, img->height);
        goto done;
    }
    if ((st = clcnn_map_over_picture(map01, h, w, r->d.size, r->d.fit, img->width, img->height, full)) != CLCNN_OK)
        goto fail;
    const size_t pixels = (size_t)img->width * img->height;
    const float threshold = r->threshold >= 0 ? r->threshold : clcnn_otsu_threshold(full, pixels);
    int n_boxes = 0;
    size_t above = 0;
    for (size_t p = 0; p < pixels; p++) above += full[p] >= threshold && full[p] > 0;
    const int score_k = r->score_class >= 0 ? r->score_class : used;
    char caption[160], b1[24], b2[24];
    snprintf(caption, sizeof caption, "%s %.1f %%", label_of(r, score_k, b1, sizeof b1), 100.0 * probs[score_k]);
    if (score_k != used)
        snprintf(caption + strlen(caption), sizeof caption - strlen(caption), " (map: %s)", label_of(r, used, b2, sizeof b2));
    if ((st = clcnn_map_boxes(full, img->width, img->height, threshold, o.max_boxes, boxes, &n_boxes)) != CLCNN_OK ||
        (st = clcnn_heatmap_render(full, img->width, img->height, &heat)) != CLCNN_OK ||
        (st = clcnn_image_save_png(heat_path, &heat)) != CLCNN_OK ||
        (st = clcnn_image_blend(img, &heat, o.alpha, &overlay)) != CLCNN_OK ||
        (st = clcnn_image_annotate(&overlay, caption, n_boxes, boxes)) != CLCNN_OK ||
        (st = clcnn_image_save_png(overlay_path, &overlay)) != CLCNN_OK)
        goto fail;
    json_t *jb = json_array(), *jp = json_array();
    for (int i = 0; jb && i < n_boxes; i++) json_array_append_new(jb, box_json(&boxes[i]));
    for (int k = 0; jp && k < r->d.classes; k++) json_array_append_new(jp, json_real(probs[k]));
    *entry = json_pack("{s:s, s:s, s:i, s:s, s:f, s:s, s:f, s:o, s:f, s:f, s:o, s:[i,i], s:{s:s, s:s, s:s}}", "image",
                       path, "stem", stem, "class", used, "label", label_of(r, used, b1, sizeof b1), "probability",
                       (double)probs[used], "score_class", label_of(r, score_k, b2, sizeof b2), "score",
                       100.0 * probs[score_k], "probs", jp, "threshold", (double)threshold, "area_fraction",
                       (double)above / pixels, "boxes", jb, "map_shape", h, w, "files", "map", npy, "heatmap",
                       heat_path, "overlay", overlay_path);
    if (!*entry) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    rc = 0;
    goto done;
fail:
    tool_fail_status(cmd, NULL, st);
done:
    clcnn_image_free(&heat);
    clcnn_image_free(&overlay);
    free(boxes);
    free(full);
    free(map01);
    free(npy);
    free(heat_path);
    free(overlay_path);
    return rc;
}

/* ---- batches ---- */

typedef struct {
    char **paths, **stems;
    clcnn_image *images;
    float *x, *probs;
    int *targets, *used;
} batch_buffers;

/* --metrics: deletion and insertion AUCs of image i of the batch (host input x). */
static int deletion_insertion(cam_run *r, const float *x, int i, const float *map, int h, int w, int used, json_t *entry) {
    const size_t per = (size_t)3 * r->d.size * r->d.size;
    clcnn_tensor *one = NULL;
    double del = 0, ins = 0;
    clcnn_status st = clcnn_tensor_create(r->ctx, 4, (int[]){1, 3, r->d.size, r->d.size}, &one);
    if (st == CLCNN_OK) st = clcnn_tensor_write(one, x + per * i, per);
    if (st == CLCNN_OK) st = clcnn_cam_deletion_insertion(r->g, one, map, h, w, used, 20, &del, &ins);
    clcnn_tensor_destroy(one);
    if (st != CLCNN_OK) return tool_fail_status(cmd, r->ctx, st);
    json_object_set_new(entry, "deletion_auc", json_real(del));
    json_object_set_new(entry, "insertion_auc", json_real(ins));
    return 0;
}

static int explain_batch(cam_run *r, tool_input *in, batch_buffers *b, int n, progress *bar, long *done) {
    float *maps = NULL;
    int h, w;
    for (int i = 0; i < n; i++) b->targets[i] = r->target;
    const clcnn_status st = tool_input_set(in, n, b->x, NULL);
    if (st != CLCNN_OK) return tool_fail_status(cmd, r->ctx, st);
    if (batch_maps(r, in->x, n, b->targets, &maps, &h, &w, b->probs, b->used)) return 1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *stem = b->stems[i];
        json_t *entry = NULL;
        const float *map = maps + (size_t)i * h * w, *p = b->probs + (size_t)i * r->d.classes;
        rc = explain_one(r, b->paths[i], stem, &b->images[i], map, h, w, p, b->used[i], &entry);
        if (!rc && o.metrics) rc = deletion_insertion(r, b->x, i, map, h, w, b->used[i], entry);
        if (!rc) json_array_append_new(r->results, entry);
        else json_decref(entry);
        progress_update(bar, ++*done, NULL);
    }
    free(maps);
    return rc;
}

static int cam_images(cam_run *r, char **paths, char **stems, int count) {
    const size_t per = (size_t)3 * r->d.size * r->d.size;
    batch_buffers b = {.paths = malloc((size_t)o.batch * sizeof(char *)),
                       .stems = malloc((size_t)o.batch * sizeof(char *)),
                       .images = calloc((size_t)o.batch, sizeof(clcnn_image)),
                       .x = malloc(per * o.batch * sizeof(float)),
                       .probs = malloc((size_t)o.batch * r->d.classes * sizeof(float)),
                       .targets = malloc((size_t)o.batch * sizeof(int)),
                       .used = malloc((size_t)o.batch * sizeof(int))};
    tool_input in = {.ctx = r->ctx, .size = r->d.size};
    int rc = 0, failures = 0;
    long done = 0;
    if (!b.paths || !b.stems || !b.images || !b.x || !b.probs || !b.targets || !b.used) rc = tool_fail(cmd, "out of host memory");
    progress bar;
    progress_start(&bar, "cam", "img", count);
    for (int next = 0; !rc && next < count;) {
        int n = 0;
        for (; next < count && n < o.batch; next++) {
            clcnn_status st = clcnn_image_load(paths[next], &b.images[n]);
            if (st == CLCNN_OK) st = clcnn_image_prepare_fit(&b.images[n], r->d.size, r->d.fit, NULL, 0, &r->d.norm,
                                                              b.x + per * n);
            if (st != CLCNN_OK) {
                clcnn_image_free(&b.images[n]);
                tool_fail_status(cmd, NULL, st);
                failures++;
                continue;
            }
            b.stems[n] = stems[next];
            b.paths[n++] = paths[next];
        }
        if (n) rc = explain_batch(r, &in, &b, n, &bar, &done);
        for (int i = 0; i < n; i++) clcnn_image_free(&b.images[i]);
    }
    if (!rc) progress_finish(&bar, done, NULL);
    tool_input_free(&in);
    free(b.paths), free(b.stems), free(b.images), free(b.x), free(b.probs), free(b.targets), free(b.used);
    return rc ? rc : failures ? 1 : 0;
}

static int write_results(cam_run *r) {
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:O}", "method", o.method, "layer",
                             o.layer ? o.layer : clcnn_cam_default_layer(r->g), "weights", o.weights, "fit",
                             clcnn_fit_name(r->d.fit), "results", r->results);
    char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(7)) : NULL;
    json_decref(root);
    char *path = output_path("cam", ".json");
    int rc = 0;
    if (!text || !path) rc = tool_fail(cmd, "out of host memory");
    else {
        clcnn_status st = clcnn_save_file(path, text, strlen(text));
        if (st != CLCNN_OK) rc = tool_fail_status(cmd, NULL, st);
        else if (o.json) printf("%s\n", text);
        else printf("wrote maps, heatmaps and overlays of %zu images, and %s\n", json_array_size(r->results), path);
    }
    free(text);
    free(path);
    return rc;
}

static int cam_run_all(int n_args, char **args) {
    cam_run r = {0};
    char **paths = NULL;
    int count = 0, rc = 1;
    if (tool_collect_images(cmd, n_args, args, &paths, &count)) return 1;
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        tool_fail(cmd, "cannot create %s: %s", o.out, strerror(errno));
        goto done;
    }
    if (cli_open(PROG, o.device, &r.ctx) != CLCNN_OK) goto done;
    if (tool_open_model(cmd, r.ctx, o.weights, o.arch, o.classes, o.size, o.fit, &r.g, &r.d) || resolve(&r)) goto done;
    if (!(r.results = json_array())) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    char **stems = unique_stems(paths, count);
    if (!stems) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    const int images_rc = cam_images(&r, paths, stems, count);
    tool_free_paths(stems, count);
    rc = json_array_size(r.results) ? write_results(&r) || images_rc : images_rc;
done:
    json_decref(r.results);
    for (int i = 0; i < r.n_layers; i++) free(r.layers[i]);
    free(r.layers);
    clcnn_model_desc_free(&r.d);
    clcnn_graph_destroy(r.g);
    clcnn_context_destroy(r.ctx);
    tool_free_paths(paths, count);
    return rc;
}

int cmd_cam(int argc, char **argv) {
    char **pos = malloc((size_t)argc * sizeof *pos);
    int npos = 0, rc = pos ? opt_parse(&command, argc, argv, pos, &npos) : OPT_ERROR;
    if (rc == OPT_OK && (!o.weights || !o.out)) rc = tool_fail(cmd, "--weights FILE and --out DIR are required (see --help)") + 1;
    if (rc == OPT_OK && npos == 0) rc = tool_fail(cmd, "no images given (see --help)") + 1;
    if (rc == OPT_OK) rc = cam_run_all(npos, pos);
    else rc = rc == OPT_HELP ? 0 : 2;
    free(pos);
    return rc;
}
