/* cmd_train.c: `clcnn train`: a folder of labelled images in, a trained model, its
 * metrics and curves out, with checkpoints that survive a kill at any moment:
 *   RUN/last.safetensors            weights + description + epoch + history, every epoch
 *   RUN/last_optimizer.safetensors  the optimizer's state for --resume
 *   RUN/best.safetensors            the best validation accuracy so far
 *   RUN/metrics.csv, metrics.json   one row / object per epoch (rewritten whole)
 *   RUN/curves.png                  loss and accuracy per epoch
 * Every file is replaced atomically, last.safetensors first, so that the history it
 * carries is the truth the other files are rebuilt from on --resume. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include "options.h"
#include "freeze.h"
#include "progress.h"
#include "tool.h"
#include "train_ranks.h"

/* How messages name the command: each rank's thread (--devices) names its rank. */
static _Thread_local const char *cmd = "train";

typedef struct {
    const char *data, *val, *arch, *head, *optimizer, *schedule, *init, *out, *resume, *on_bad, *device;
    const char *freeze, *train_only, *class_weights, *fit, *devices;
    int balanced;
    float val_split, lr, momentum, weight_decay, dropout, smoothing, clip, rotate, crop_scale, backbone_lr_mult;
    float aux_weight;
    int classes, hidden, size, epochs, epochs_given, batch, partial, freeze_backbone, no_augment, no_shuffle, vflip, threads;
    int unfreeze_at, unfreeze_at_given, local_bn;
    uint64_t seed;
} train_opts;

/* lr and weight_decay start as NaN, "not given": their defaults depend on the optimizer,
 * and a value given, 0 included, always wins over them. */
static train_opts o = {.arch = "resnet18", .head = "fc", .optimizer = "sgd", .schedule = "cosine", .fit = "crop",
                       .on_bad = "skip", .lr = NAN, .momentum = 0.9f, .weight_decay = NAN, .backbone_lr_mult = 1.0f,
                       .dropout = 0.2f,
                       .rotate = 10.0f, .crop_scale = 0.5f, .hidden = 512, .epochs = 10, .batch = 16, .seed = 1};

static const opt_spec specs[] = {
    {"--data", OPT_STRING, &o.data, "DIR", "training images: DIR/CLASS/*.png|jpg, or a CSV of path,label"},
    {"--val", OPT_STRING, &o.val, "DIR", "validation images in the same layout"},
    {"--val-split", OPT_FLOAT, &o.val_split, "F", "hold out this fraction of --data for validation, per class"},
    {"--arch", OPT_STRING, &o.arch, "A", "compact, secompact, resnet18..152, seresnet18..152, mobilenet_v2, mobilenet_v3_large/small, efficientnet_b0..b7, inception_v3, xception"},
    {"--classes", OPT_INT, &o.classes, "N", "check that the data has N classes"},
    {"--head", OPT_STRING, &o.head, "H", "fc, or mlp: Linear(in,HIDDEN)-ReLU-Dropout-Linear(HIDDEN,N)"},
    {"--hidden", OPT_INT, &o.hidden, "N", "the MLP head's width"},
    {"--dropout", OPT_FLOAT, &o.dropout, "P", "the MLP head's dropout"},
    {"--size", OPT_INT, &o.size, "S", "input size S x S (default 96 for compact nets, else 224)"},
    {"--fit", OPT_STRING, &o.fit, "F",
     "crop (the centred square), squash or pad (the whole picture): how pictures become square inputs"},
    {"--epochs", OPT_INT, &o.epochs, "E", "epochs"},
    {"--batch", OPT_INT, &o.batch, "B", "images per step"},
    {"--optimizer", OPT_STRING, &o.optimizer, "O", "sgd, adam or adamw"},
    {"--lr", OPT_FLOAT, &o.lr, "LR", "learning rate (default 0.01 for sgd, 0.001 for adam/adamw)"},
    {"--momentum", OPT_FLOAT, &o.momentum, "M", "SGD momentum"},
    {"--weight-decay", OPT_FLOAT, &o.weight_decay, "W", "weight decay (default 1e-4 sgd, 0 adam, 0.01 adamw)"},
    {"--schedule", OPT_STRING, &o.schedule, "S", "cosine, step (x0.1 at 1/3 and 2/3) or constant"},
    {"--label-smoothing", OPT_FLOAT, &o.smoothing, "E", "cross-entropy label smoothing"},
    {"--clip-norm", OPT_FLOAT, &o.clip, "N", "clip the gradients' global norm (0: off)"},
    {"--init", OPT_STRING, &o.init, "FILE", "start from these weights (e.g. ImageNet's, converted)"},
    {"--partial", OPT_FLAG, &o.partial, NULL, "with --init: load what fits, keep the rest fresh (a new head)"},
    {"--freeze-backbone", OPT_FLAG, &o.freeze_backbone, NULL,
     "freeze what --init supplied (without --init: all but the heads: fc or classifier, AuxLogits with --aux-weight)"},
    {"--backbone-lr-mult", OPT_FLOAT, &o.backbone_lr_mult, "F",
     "with --init: what the file supplied learns at lr x F, the rest at lr"},
    {"--freeze", OPT_STRING, &o.freeze, "P[,P]", "also freeze the parameters under these prefixes (layer1,layer2)"},
    {"--train-only", OPT_STRING, &o.train_only, "P[,P]", "freeze all but the parameters under these prefixes"},
    {"--aux-weight", OPT_FLOAT, &o.aux_weight, "W",
     "train the auxiliary head too (inception_v3 from 299x299: AuxLogits), its loss x W added (torchvision: 0.4)"},
    {"--unfreeze-at", OPT_INT, &o.unfreeze_at, "E",
     "from epoch E on every parameter trains, the newly trained with fresh optimizer state (staged fine-tuning)"},
    {"--no-augment", OPT_FLAG, &o.no_augment, NULL, "no random crops, flips, rotation or colour jitter"},
    {"--vflip", OPT_FLAG, &o.vflip, NULL, "also flip vertically (aerial and satellite images)"},
    {"--rotate", OPT_FLOAT, &o.rotate, "DEG", "random rotation within +-DEG"},
    {"--crop-scale", OPT_FLOAT, &o.crop_scale, "F", "random crops keep F..1 of the area (1: no zoom; the centred square)"},
    {"--no-shuffle", OPT_FLAG, &o.no_shuffle, NULL, "visit images in sorted order"},
    {"--class-weights", OPT_STRING, &o.class_weights, "W",
     "loss weight per class: auto (inverse class frequency, mean 1) or w0,w1,... in class order"},
    {"--balanced-sampler", OPT_FLAG, &o.balanced, NULL,
     "draw each epoch's images with replacement, every class equally often (imbalanced data)"},
    {"--seed", OPT_SEED, &o.seed, "N", "seed of initialisation, split, order and augmentation"},
    {"--on-bad-image", OPT_STRING, &o.on_bad, "X", "skip (warn and count) or fail"},
    {"--threads", OPT_COUNT, &o.threads, "N", "image decoding threads (0: one per core)"},
    {"--out", OPT_STRING, &o.out, "RUN", "folder for checkpoints, metrics and curves"},
    {"--resume", OPT_STRING, &o.resume, "RUN", "continue the run in RUN (its options; --epochs may extend it)"},
    {"--device", OPT_STRING, &o.device, "D", "device index, gpu, cpu or part of a name (under mpirun: each rank's "
     "GPU by its rank on its machine, else the CPU)"},
    {"--devices", OPT_STRING, &o.devices, "D,D,...",
     "train on several devices of this machine at once, one rank each (indices or names, as --device; a device may "
     "repeat)"},
    {"--local-bn", OPT_FLAG, &o.local_bn, NULL,
     "with several ranks: batch norms use each rank's own images' statistics (PyTorch DDP's default), not the whole "
     "batch's"},
    {NULL, 0, NULL, NULL, NULL}};

static const opt_command command = {
    "train", "--data DIR [--val DIR | --val-split F] [--arch A] --out RUN [OPTIONS]",
    "Trains an image classifier on a folder of images sorted into one folder per class,\n"
    "evaluates it on the validation images after every epoch, and writes to RUN:\n"
    "last.safetensors (every epoch), best.safetensors (best validation accuracy),\n"
    "metrics.csv, metrics.json and curves.png. A killed run continues with --resume RUN.\n"
    "mpirun -np N clcnn train ... trains on N ranks, each on its share of every batch;\n"
    "--devices 0,1 does the same on devices of this machine (docs/DISTRIBUTED.md).",
    specs, 0, "clcnn"};

/* ---- the run's state ---- */

typedef struct {
    double train_loss, train_acc, val_loss, val_acc, val_f1, val_auc, lr, seconds, val_precision, val_recall;
    json_t *val_per_class; /* per class name {precision, recall, f1, support}, owned; NULL without validation */
    int ranks;             /* processes that trained it (0: not recorded) */
    json_t *devices;       /* their devices' names, owned; NULL: not recorded */
} epoch_row;

/* A row with nothing measured yet. */
static const epoch_row empty_row = {.val_loss = NAN, .val_acc = NAN, .val_f1 = NAN, .val_auc = NAN,
                                    .val_precision = NAN, .val_recall = NAN};

typedef struct {
    clcnn_context *ctx;
    clcnn_dataset *train_set, *val_set;
    clcnn_loader *train_loader, *val_loader;
    clcnn_graph *g;
    clcnn_trainer *trainer;
    clcnn_metrics *metrics;
    clcnn_model_desc desc;
    tool_input input;
    float *logits;
    epoch_row *history;
    int history_cap; /* rows allocated */
    int epochs_done;
    double best;
    char *options_json;
    clcnn_weights *resumed; /* --resume: RUN/last.safetensors */
    char optimizer_line[256]; /* what the trainer runs with, printed under the run's first line */
    char trainable_line[128]; /* how much of the network trains, printed with it */
    char optimizer_extra[512]; /* class weights, when given; printed with it */
    unsigned char *supplied;   /* per parameter: whether --init supplied it (NULL without --init) */
    char *supplied_json;       /* the same as names, saved in the checkpoints for --resume */
    train_ranks ranks;         /* under mpirun: this process's rank; alone: rank 0 of 1 */
    clcnn_dataset *val_share;  /* several ranks: this rank's part of the validation images */
    char *devices_line;        /* every rank's device, for the run's first line */
    json_t *devices;           /* the same as names, for metrics.json */
} run;

static char *path_in(const char *dir, const char *file) {
    const size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static char *run_path(const char *file) { return path_in(o.out, file); }

/* ---- checkpoints and metrics files ---- */

static double nan_if_missing(json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

static json_t *number_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static char *history_json(const run *r) {
    json_t *a = json_array();
    for (int e = 0; a && e < r->epochs_done; e++) {
        const epoch_row *h = &r->history[e];
        json_t *row = json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O?, s:i, s:O?}", "epoch", e + 1,
                                "train_loss", number_or_null(h->train_loss), "train_accuracy",
                                number_or_null(h->train_acc), "val_loss", number_or_null(h->val_loss), "val_accuracy",
                                number_or_null(h->val_acc), "val_macro_f1", number_or_null(h->val_f1),
                                "val_macro_precision", number_or_null(h->val_precision), "val_macro_recall",
                                number_or_null(h->val_recall), "val_auc", number_or_null(h->val_auc), "lr",
                                number_or_null(h->lr), "seconds", number_or_null(h->seconds), "val_per_class",
                                h->val_per_class, "ranks", h->ranks > 0 ? h->ranks : 1, "devices", h->devices);
        if (!row || json_array_append_new(a, row) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    char *s = a ? json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(a);
    return s;
}

static void free_history(run *r) {
    for (int e = 0; r->history && e < r->history_cap; e++) {
        json_decref(r->history[e].val_per_class);
        json_decref(r->history[e].devices);
    }
    free(r->history);
    r->history = NULL;
    r->history_cap = 0;
}

static int parse_history(run *r, const char *text) {
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        return tool_fail(cmd, "%s/last.safetensors has no readable training history", o.resume);
    }
    const int n = (int)json_array_size(a);
    free_history(r); /* train_run's, sized before the saved history was known */
    r->history_cap = (n > o.epochs ? n : o.epochs) + 1;
    r->history = calloc((size_t)r->history_cap, sizeof *r->history);
    if (!r->history) {
        json_decref(a);
        return tool_fail(cmd, "out of host memory");
    }
    for (int e = 0; e < n; e++) {
        json_t *row = json_array_get(a, (size_t)e);
        json_t *per_class = json_object_get(row, "val_per_class"), *ranks = json_object_get(row, "ranks"),
               *devices = json_object_get(row, "devices");
        r->history[e] = (epoch_row){nan_if_missing(json_object_get(row, "train_loss")),
                                    nan_if_missing(json_object_get(row, "train_accuracy")),
                                    nan_if_missing(json_object_get(row, "val_loss")),
                                    nan_if_missing(json_object_get(row, "val_accuracy")),
                                    nan_if_missing(json_object_get(row, "val_macro_f1")),
                                    nan_if_missing(json_object_get(row, "val_auc")),
                                    nan_if_missing(json_object_get(row, "lr")),
                                    nan_if_missing(json_object_get(row, "seconds")),
                                    nan_if_missing(json_object_get(row, "val_macro_precision")),
                                    nan_if_missing(json_object_get(row, "val_macro_recall")),
                                    json_is_object(per_class) ? json_incref(per_class) : NULL,
                                    json_is_integer(ranks) ? (int)json_integer_value(ranks) : 0,
                                    json_is_array(devices) ? json_incref(devices) : NULL};
    }
    r->epochs_done = n;
    json_decref(a);
    return 0;
}

static int save_text(const char *file, const char *text) {
    char *path = run_path(file);
    clcnn_status st = path ? clcnn_save_file(path, text, strlen(text)) : CLCNN_ERR_OUT_OF_MEMORY;
    free(path);
    return st == CLCNN_OK ? 0 : tool_fail_status(cmd, NULL, st);
}

static int write_metrics_files(const run *r, const char *history) {
    size_t cap = 256 + (size_t)r->epochs_done * 240;
    char *csv = malloc(cap);
    if (!csv) return tool_fail(cmd, "out of host memory");
    size_t len = (size_t)snprintf(csv, cap, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_macro_f1,"
                                            "val_macro_precision,val_macro_recall,val_auc,lr,seconds\n");
    for (int e = 0; e < r->epochs_done; e++) {
        const epoch_row *h = &r->history[e];
        len += (size_t)snprintf(csv + len, cap - len, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6g,%.2f\n", e + 1,
                                h->train_loss, h->train_acc, h->val_loss, h->val_acc, h->val_f1, h->val_precision,
                                h->val_recall, h->val_auc, h->lr, h->seconds);
    }
    int rc = save_text("metrics.csv", csv);
    free(csv);
    return rc ? rc : save_text("metrics.json", history);
}

static int save_checkpoint(run *r, int improved) {
    char *history = history_json(r), *last = run_path("last.safetensors"), *opt = run_path("last_optimizer.safetensors"),
         *best = run_path("best.safetensors");
    char epoch[16], best_text[32];
    snprintf(epoch, sizeof epoch, "%d", r->epochs_done);
    snprintf(best_text, sizeof best_text, "%.9g", r->best);
    int rc = 1;
    if (!history || !last || !opt || !best) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    const char *keys[] = {"epoch", "history", "best_score", "train_options", "init_tensors"};
    const char *values[] = {epoch, history, best_text, r->options_json, r->supplied_json};
    const int npairs = r->supplied_json ? 5 : 4;
    clcnn_status st;
    /* The optimizer state first: a kill between the two files leaves an older last.safetensors
     * whose epoch does not match, which --resume detects. */
    if ((st = clcnn_trainer_save_state(r->trainer, opt, 1, keys, values)) != CLCNN_OK ||
        (st = clcnn_model_save(r->g, &r->desc, last, npairs, keys, values)) != CLCNN_OK ||
        (improved && (st = clcnn_model_save(r->g, &r->desc, best, npairs, keys, values)) != CLCNN_OK)) {
        tool_fail_status(cmd, r->ctx, st);
        goto done;
    }
    rc = write_metrics_files(r, history);
done:
    free(history);
    free(last);
    free(opt);
    free(best);
    return rc;
}

/* ---- setting up ---- */

/* The training data is a classifier's: two classes or more, each with images (as
 * torchvision's ImageFolder requires); else one line naming the mistake. */
static int check_classes(const clcnn_dataset *ds) {
    const int k = clcnn_dataset_class_count(ds);
    if (k < 2)
        return tool_fail(cmd, "%s has one class (%s): a classifier needs two or more, one folder each "
                         "(%s/CLASS/IMAGE)", o.data, k ? clcnn_dataset_class_name(ds, 0) : "none", o.data);
    unsigned char *seen = calloc((size_t)k, 1);
    if (!seen) return tool_fail(cmd, "out of host memory");
    for (int i = 0; i < clcnn_dataset_size(ds); i++) seen[clcnn_dataset_label(ds, i)] = 1;
    int empty = 0;
    while (empty < k && seen[empty]) empty++;
    free(seen);
    if (empty < k)
        return tool_fail(cmd, "%s: class %s has no images (.png, .jpg, .jpeg)", o.data, clcnn_dataset_class_name(ds, empty));
    return 0;
}

static int open_data(run *r) {
    clcnn_status st;
    clcnn_dataset *all = NULL;
    const char *const *names = (const char *const *)r->desc.class_names;
    if ((st = clcnn_dataset_open(o.data, names ? r->desc.classes : 0, names, &all)) != CLCNN_OK)
        return tool_fail_status(cmd, NULL, st);
    if (check_classes(all)) {
        clcnn_dataset_destroy(all);
        return 1;
    }
    if (o.val_split > 0) {
        if (o.val_split >= 1) {
            clcnn_dataset_destroy(all);
            return tool_fail(cmd, "--val-split must be below 1 (a fraction such as 0.2)");
        }
        st = clcnn_dataset_split(all, o.val_split, o.seed, &r->train_set, &r->val_set);
        clcnn_dataset_destroy(all);
        if (st != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
    } else {
        r->train_set = all;
    }
    if (o.val) {
        const int k = clcnn_dataset_class_count(r->train_set);
        const char **cls = malloc((size_t)k * sizeof *cls);
        if (!cls) return tool_fail(cmd, "out of host memory");
        for (int i = 0; i < k; i++) cls[i] = clcnn_dataset_class_name(r->train_set, i);
        clcnn_dataset_destroy(r->val_set);
        st = clcnn_dataset_open(o.val, k, cls, &r->val_set);
        free(cls);
        if (st != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
    }
    return 0;
}

static int describe(run *r) {
    const int k = clcnn_dataset_class_count(r->train_set);
    if (o.classes && o.classes != k)
        return tool_fail(cmd, "--classes %d, but %s has %d classes", o.classes, o.data, k);
    if (strcmp(o.head, "fc") && strcmp(o.head, "mlp")) return tool_fail(cmd, "--head is fc or mlp, not %s", o.head);
    if (o.dropout >= 1) return tool_fail(cmd, "--dropout must be below 1");
    clcnn_model_desc *d = &r->desc;
    memset(d, 0, sizeof *d);
    snprintf(d->arch, sizeof d->arch, "%s", o.arch);
    d->classes = k;
    d->size = o.size ? o.size : tool_default_size(o.arch);
    d->norm = clcnn_normalization_imagenet();
    d->head_hidden = strcmp(o.head, "mlp") ? 0 : o.hidden;
    d->head_dropout = o.dropout;
    if (tool_parse_fit(cmd, o.fit, &d->fit)) return 1; /* saved with the model: eval, predict and cam use it */
    if (!(d->class_names = calloc((size_t)k, sizeof *d->class_names))) return tool_fail(cmd, "out of host memory");
    for (int i = 0; i < k; i++)
        if (!(d->class_names[i] = strdup(clcnn_dataset_class_name(r->train_set, i))))
            return tool_fail(cmd, "out of host memory");
    return 0;
}

/* Epochs a resumed run has done (0 for a new run). */
static int resumed_epochs(const run *r) {
    const char *epoch = r->resumed ? clcnn_weights_metadata(r->resumed, "epoch") : NULL;
    return epoch ? atoi(epoch) : 0;
}

/* Which parameters train: freeze.c from --freeze-backbone (with --init: what the file
 * supplied), --train-only and --freeze; a run resumed past --unfreeze-at trains all. */
static int apply_freezing(run *r) {
    const tool_freeze_opts f = {o.freeze_backbone, o.freeze, o.train_only};
    if (tool_apply_freeze(cmd, r->g, r->supplied, &f)) return 1;
    clcnn_status st;
    if (o.unfreeze_at && resumed_epochs(r) + 1 > o.unfreeze_at &&
        (st = clcnn_graph_freeze(r->g, "", 0, NULL)) != CLCNN_OK)
        return tool_fail_status(cmd, r->ctx, st);
    size_t elements;
    const int trainable = tool_trainable_params(r->g, &elements);
    if (trainable == 0) return tool_fail(cmd, "every parameter is frozen: nothing would train (see clcnn layers)");
    snprintf(r->trainable_line, sizeof r->trainable_line, "trains %d parameter tensors (%zu values) of %d",
             trainable, elements, clcnn_graph_param_count(r->g));
    return 0;
}

/* --init: the weights into the graph, and which parameters they supplied. */
static int load_init(run *r) {
    clcnn_weights *init = NULL;
    int loaded = 0;
    clcnn_status st = clcnn_weights_load(r->ctx, o.init, &init);
    if (st == CLCNN_OK) st = clcnn_graph_load(r->g, init, o.partial ? CLCNN_LOAD_PARTIAL : CLCNN_LOAD_STRICT, &loaded);
    if (st != CLCNN_OK) {
        clcnn_weights_destroy(init);
        tool_fail_status(cmd, r->ctx, st);
        return o.partial ? 1 : tool_fail(cmd, "(--partial loads only the tensors that fit, e.g. for a new head)");
    }
    r->supplied = tool_supplied_by(r->g, init);
    clcnn_weights_destroy(init); /* its tensors hold device memory the training wants */
    if (!r->supplied) return tool_fail(cmd, "out of host memory");
    fprintf(stderr, "initialised %d of %d tensors from %s\n", loaded, clcnn_graph_param_count(r->g), o.init);
    return 0;
}

/* The network, from --init or (--resume) with the list of what --init supplied kept in
 * the run's checkpoint, so that the --init file is not read again (its weights come
 * from the checkpoint in resume_state). Runs saved before that list read --init. */
static int build_model(run *r) {
    clcnn_status st = clcnn_model_build(r->ctx, &r->desc, o.seed, &r->g);
    if (st != CLCNN_OK) return tool_fail_status(cmd, r->ctx, st);
    const char *saved = r->resumed ? clcnn_weights_metadata(r->resumed, "init_tensors") : NULL;
    if (saved && !(r->supplied = tool_supplied_from_json(r->g, saved)))
        return tool_fail(cmd, "%s/last.safetensors: its list of the tensors --init supplied is unreadable", o.out);
    if (!saved && o.init && load_init(r)) return 1;
    if (r->supplied && !(r->supplied_json = tool_supplied_json(r->g, r->supplied)))
        return tool_fail(cmd, "out of host memory");
    if (o.aux_weight > 0 && (st = clcnn_graph_set_aux_head(r->g, "AuxLogits", o.aux_weight)) != CLCNN_OK) {
        if (st != CLCNN_ERR_NOT_FOUND) return tool_fail_status(cmd, r->ctx, st);
        return tool_fail(cmd, "--aux-weight: %s at %dx%d has no auxiliary head (inception_v3 has one, AuxLogits, "
                         "from 299x299 inputs up)", o.arch, r->desc.size, r->desc.size);
    }
    return apply_freezing(r);
}


/* --class-weights: auto (inverse class frequency, scaled to mean 1) or one weight per
 * class, in class order, into *out (malloc'd); 1 with the reason printed. */
static int class_weights(const run *r, float **out) {
    const int k = r->desc.classes, n = clcnn_dataset_size(r->train_set);
    float *w = calloc((size_t)k, sizeof *w);
    if (!w) return tool_fail(cmd, "out of host memory");
    if (!strcmp(o.class_weights, "auto")) {
        for (int i = 0; i < n; i++) w[clcnn_dataset_label(r->train_set, i)] += 1.0f;
        double sum = 0;
        for (int c = 0; c < k; c++) sum += 1.0 / w[c]; /* every class has images (check_classes) */
        for (int c = 0; c < k; c++) w[c] = (float)(k / (w[c] * sum));
        *out = w;
        return 0;
    }
    int got = 0;
    for (const char *p = o.class_weights; *p; got++) {
        char *end;
        const double v = strtod(p, &end);
        if (end == p || (*end && *end != ',') || !(v >= 0) || !isfinite(v)) {
            free(w);
            return tool_fail(cmd, "--class-weights %s: want auto or %d numbers >= 0 separated by commas",
                             o.class_weights, k);
        }
        if (got < k) w[got] = (float)v;
        p = *end ? end + 1 : end;
    }
    if (got != k) {
        free(w);
        return tool_fail(cmd, "--class-weights %s: %d weights for %d classes (%s has them in this order: see the "
                         "class counts it prints)", o.class_weights, got, k, o.data);
    }
    *out = w;
    return 0;
}

/* "class weights: damaged 1.5, intact 0.5" into the run's trainer line. */
static void describe_weights(run *r, const float *w) {
    size_t len = strlen(r->optimizer_extra);
    len += (size_t)snprintf(r->optimizer_extra + len, sizeof r->optimizer_extra - len, "class weights:");
    for (int c = 0; c < r->desc.classes && len < sizeof r->optimizer_extra; c++)
        len += (size_t)snprintf(r->optimizer_extra + len, sizeof r->optimizer_extra - len, "%s %s %.4g",
                                c ? "," : "", r->desc.class_names[c], (double)w[c]);
}

/* --backbone-lr-mult F: every parameter --init supplied learns at lr x F. */
static int backbone_rate(run *r) {
    if (!r->supplied) return tool_fail(cmd, "--backbone-lr-mult %g needs --init (the pretrained part is what it supplies)",
                                       (double)o.backbone_lr_mult);
    int n = 0;
    for (int i = 0; i < clcnn_graph_param_count(r->g); i++) {
        const char *name = clcnn_graph_param_name(r->g, i);
        if (!r->supplied[i]) continue;
        const clcnn_status st = clcnn_trainer_set_lr_mult(r->trainer, name, o.backbone_lr_mult, NULL);
        if (st != CLCNN_OK) return tool_fail_status(cmd, r->ctx, st);
        n += clcnn_graph_param_learns(r->g, name); /* running statistics have no learning rate: not counted */
    }
    size_t len = strlen(r->optimizer_extra);
    snprintf(r->optimizer_extra + len, sizeof r->optimizer_extra - len, "%slr x %g for the %d parameter tensors from %s",
             len ? "; " : "", (double)o.backbone_lr_mult, n, o.init);
    return 0;
}

static int make_trainer(run *r) {
    clcnn_optimizer_kind kind;
    if (!strcmp(o.optimizer, "sgd")) kind = CLCNN_OPT_SGD;
    else if (!strcmp(o.optimizer, "adam")) kind = CLCNN_OPT_ADAM;
    else if (!strcmp(o.optimizer, "adamw")) kind = CLCNN_OPT_ADAMW;
    else return tool_fail(cmd, "--optimizer is sgd, adam or adamw, not %s", o.optimizer);
    clcnn_train_params p = clcnn_train_params_default();
    p.optimizer = clcnn_optimizer_defaults(kind);
    p.clip_norm = o.clip;
    p.label_smoothing = o.smoothing;
    float *weights = NULL;
    if (o.class_weights && class_weights(r, &weights)) return 1;
    p.class_weights = weights;
    if (!isnan(o.lr)) {
        if (!(o.lr > 0)) return tool_fail(cmd, "--lr must be above 0, not %g", (double)o.lr);
        p.optimizer.lr = o.lr;
    }
    if (kind == CLCNN_OPT_SGD) {
        p.optimizer.momentum = o.momentum;
        p.optimizer.weight_decay = 1e-4f;
    }
    if (!isnan(o.weight_decay)) p.optimizer.weight_decay = o.weight_decay;
    const int steps = o.epochs * clcnn_loader_batches(r->train_loader);
    p.schedule = (clcnn_schedule){.base_lr = p.optimizer.lr, .total_steps = steps, .gamma = 0.1f};
    if (!strcmp(o.schedule, "cosine")) p.schedule.kind = CLCNN_SCHEDULE_COSINE;
    else if (!strcmp(o.schedule, "step")) p.schedule.kind = CLCNN_SCHEDULE_STEP, p.schedule.step_size = (steps + 2) / 3;
    else if (!strcmp(o.schedule, "constant")) p.schedule.kind = CLCNN_SCHEDULE_CONSTANT;
    else return tool_fail(cmd, "--schedule is cosine, step or constant, not %s", o.schedule);
    clcnn_status st = clcnn_trainer_create(r->g, &p, &r->trainer);
    if (st == CLCNN_OK && weights) describe_weights(r, weights);
    free(weights);
    if (st != CLCNN_OK) return tool_fail_status(cmd, r->ctx, st);
    if (o.backbone_lr_mult != 1.0f && backbone_rate(r)) return 1;
    /* What the trainer runs with, as it has it: the options' values, defaults filled in. */
    clcnn_train_params got;
    if ((st = clcnn_trainer_get_params(r->trainer, &got)) != CLCNN_OK) return tool_fail_status(cmd, r->ctx, st);
    snprintf(r->optimizer_line, sizeof r->optimizer_line,
             "optimizer %s: lr %g, momentum %g, weight decay %g, %s schedule; label smoothing %g, clip norm %g",
             o.optimizer, (double)got.optimizer.lr, (double)(kind == CLCNN_OPT_SGD ? got.optimizer.momentum : 0),
             (double)got.optimizer.weight_decay, o.schedule, (double)got.label_smoothing, (double)got.clip_norm);
    return 0;
}

static int make_loaders(run *r) {
    clcnn_augment_params aug;
    clcnn_augment_defaults(&aug);
    aug.vflip = o.vflip;
    aug.rotate_degrees = o.rotate;
    if (!(o.crop_scale > 0 && o.crop_scale <= 1)) return tool_fail(cmd, "--crop-scale must be in (0, 1]");
    aug.scale_min = o.crop_scale;
    if (o.crop_scale == 1) aug.ratio_min = aug.ratio_max = 1; /* the whole picture, as it is */
    if (strcmp(o.on_bad, "skip") && strcmp(o.on_bad, "fail"))
        return tool_fail(cmd, "--on-bad-image is skip or fail, not %s", o.on_bad);
    clcnn_loader_params lp = clcnn_loader_params_default();
    lp.batch = o.batch, lp.size = r->desc.size, lp.shuffle = !o.no_shuffle, lp.augment = o.no_augment ? NULL : &aug;
    lp.norm = r->desc.norm, lp.seed = o.seed, lp.threads = o.threads, lp.skip_bad = !strcmp(o.on_bad, "skip");
    lp.balanced = o.balanced, lp.fit = r->desc.fit, lp.shard = r->ranks.rank, lp.shards = r->ranks.ranks;
    clcnn_status st = clcnn_loader_create(r->train_set, &lp, &r->train_loader);
    if (st == CLCNN_OK && r->val_set) {
        lp.shuffle = 0;
        lp.balanced = 0;
        lp.augment = NULL;
        lp.shard = lp.shards = 0;
        /* several ranks: every ranks-th image each, all of them in all (validate) */
        if (r->ranks.ranks > 1) st = clcnn_dataset_shard(r->val_set, r->ranks.rank, r->ranks.ranks, &r->val_share);
        if (st == CLCNN_OK) st = clcnn_loader_create(r->val_share ? r->val_share : r->val_set, &lp, &r->val_loader);
    }
    return st == CLCNN_OK ? 0 : tool_fail_status(cmd, NULL, st);
}

/* --resume RUN: the run's own options, from RUN/last.safetensors (the user may extend
 * --epochs or pick a device). The weights stay loaded for resume_state. */
static int restore_options(run *r) {
    /* with --devices each rank's thread loads the file; the first one sets the options */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static int restored;
    pthread_mutex_lock(&lock);
    const char *run_dir = o.resume, *device = o.device, *devices = o.devices;
    const int epochs = o.epochs, epochs_given = o.epochs_given;
    char *path = path_in(run_dir, "last.safetensors");
    int rc = 1;
    clcnn_status st;
    if (!path) {
        pthread_mutex_unlock(&lock);
        return tool_fail(cmd, "out of host memory");
    }
    if ((st = clcnn_weights_load(r->ctx, path, &r->resumed)) != CLCNN_OK) {
        tool_fail_status(cmd, r->ctx, st);
        goto done;
    }
    if (restored) { /* another rank did */
        rc = 0;
        goto done;
    }
    const char *saved = clcnn_weights_metadata(r->resumed, "train_options");
    if (!saved) {
        tool_fail(cmd, "%s was not written by clcnn train (no saved options): cannot resume", path);
        goto done;
    }
    static const char *const ours[] = {"--out", "--resume", "--device", "--devices", NULL}; /* set below, not restored */
    if (opt_from_json(&command, saved, ours) != OPT_OK) goto done;
    if (o.lr == 0) { /* saved before "not given" was NaN: 0 meant the defaults, for both */
        o.lr = NAN;
        if (o.weight_decay == 0) o.weight_decay = NAN;
    }
    o.resume = run_dir;
    o.out = run_dir;
    o.device = device;
    o.devices = devices;
    if (epochs_given) o.epochs = epochs;
    restored = 1;
    rc = 0;
done:
    pthread_mutex_unlock(&lock);
    free(path);
    return rc;
}

/* A save killed midway leaves its temporary file, NAME.tmp.PID, beside NAME (which
 * stays whole): on --resume, those of this run's files whose process is gone go. */
static void remove_stale_temporaries(void) {
    static const char *const ours[] = {"last.safetensors", "last_optimizer.safetensors", "best.safetensors",
                                       "metrics.csv", "metrics.json", "curves.png"};
    DIR *d = opendir(o.out);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *tmp = strstr(e->d_name, ".tmp.");
        int known = 0;
        for (size_t i = 0; tmp && i < sizeof ours / sizeof ours[0]; i++)
            known |= strlen(ours[i]) == (size_t)(tmp - e->d_name) && !strncmp(e->d_name, ours[i], strlen(ours[i]));
        char *end = "";
        const long pid = known ? strtol(tmp + 5, &end, 10) : 0;
        if (pid <= 0 || *end || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *path = run_path(e->d_name);
        if (path && remove(path) == 0) fprintf(stderr, "removed %s, left by a killed save\n", path);
        free(path);
    }
    if (d) closedir(d);
}

static int resume_state(run *r) {
    if (r->ranks.rank == 0) remove_stale_temporaries();
    char *opt = run_path("last_optimizer.safetensors");
    const clcnn_weights *w = r->resumed;
    clcnn_weights *ow = NULL;
    int rc = 1;
    clcnn_status st;
    if (!opt) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    if ((st = clcnn_graph_load(r->g, w, CLCNN_LOAD_STRICT, NULL)) != CLCNN_OK) {
        tool_fail_status(cmd, r->ctx, st);
        goto done;
    }
    if (parse_history(r, clcnn_weights_metadata(w, "history"))) goto done;
    const char *best = clcnn_weights_metadata(w, "best_score");
    r->best = best ? strtod(best, NULL) : -INFINITY;
    const char *epoch = clcnn_weights_metadata(w, "epoch");
    if (clcnn_weights_load(r->ctx, opt, &ow) == CLCNN_OK && epoch && clcnn_weights_metadata(ow, "epoch") &&
        !strcmp(epoch, clcnn_weights_metadata(ow, "epoch"))) {
        if ((st = clcnn_trainer_load_state(r->trainer, ow)) != CLCNN_OK) {
            tool_fail_status(cmd, r->ctx, st);
            goto done;
        }
    } else {
        /* Killed between the two files: fresh moments, but the schedule goes on where it was. */
        clcnn_trainer_set_steps(r->trainer, r->epochs_done * clcnn_loader_batches(r->train_loader));
        fprintf(stderr, "clcnn train: warning: no optimizer state of epoch %s in %s; the optimizer's moments start "
                "afresh\n", epoch ? epoch : "?", opt);
    }
    if (r->ranks.rank == 0) fprintf(stderr, "resuming %s after epoch %d of %d\n", o.out, r->epochs_done, o.epochs);
    rc = 0;
done:
    clcnn_weights_destroy(ow);
    free(opt);
    return rc;
}

/* A fresh run must not overwrite another run's checkpoints. */
/* A new run refuses an --out folder that holds one; the folder itself is made only once
 * the data, model and trainer are ready (make_out_dir), so that a run that stops on a
 * mistake leaves nothing behind (and an --out inside --data is no class). */
static int check_out_dir(void) {
    char *last = run_path("last.safetensors");
    if (!last) return tool_fail(cmd, "out of host memory");
    struct stat s;
    const int exists = stat(last, &s) == 0;
    free(last);
    if (exists) return tool_fail(cmd, "%s already holds a run: continue it with --resume %s, or choose another --out", o.out, o.out);
    return 0;
}

static int make_out_dir(void) {
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) return tool_fail(cmd, "cannot create %s: %s", o.out, strerror(errno));
    return 0;
}

/* ---- one epoch ---- */

static int validation_figures(run *r, epoch_row *row);

static int train_epoch(run *r, int epoch, epoch_row *row) {
    const int classes = r->desc.classes, images = clcnn_dataset_size(r->train_set);
    char label[48], extra[96];
    snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, o.epochs);
    progress bar;
    progress_start(&bar, label, "img", images);
    bar.quiet = r->ranks.rank > 0;
    clcnn_graph_set_training(r->g, 1);
    clcnn_status st = clcnn_loader_start(r->train_loader, epoch);
    double sums[3] = {0}; /* loss x images, images, correct: this rank's, then every rank's */
    long batches = 0;
    row->lr = clcnn_trainer_lr(r->trainer);
    clcnn_batch b;
    while (st == CLCNN_OK && (st = clcnn_loader_next(r->train_loader, &b)) == CLCNN_OK && b.n > 0) {
        float loss; /* the whole batch's, over every rank */
        const clcnn_tensor *out;
        if ((st = tool_input_set(&r->input, b.n, b.x, b.labels)) != CLCNN_OK ||
            (st = clcnn_trainer_step(r->trainer, r->input.x, r->input.labels, &loss)) != CLCNN_OK)
            break;
        /* The step's logits are still the output layer's (computed before the update). */
        if (!(out = clcnn_graph_tensor(r->g, tool_output_layer(r->g))) ||
            (st = clcnn_tensor_read(out, r->logits, (size_t)b.n * classes)) != CLCNN_OK)
            break;
        for (int i = 0; i < b.n; i++) sums[2] += tool_argmax(r->logits + (size_t)i * classes, classes) == (int)b.labels[i];
        sums[0] += (double)loss * b.n;
        sums[1] += b.n;
        batches++;
        /* the loss is the whole batch's, the accuracy this rank's images' until the epoch's end */
        snprintf(extra, sizeof extra, "loss %.4f acc %.1f%%", sums[0] / sums[1], 100.0 * sums[2] / sums[1]);
        progress_update(&bar, r->ranks.ranks > 1 ? (batches * o.batch < images ? batches * o.batch : images) : (long)sums[1],
                        extra);
    }
    if (st != CLCNN_OK) {
        if (bar.tty && !bar.quiet) fputc('\n', stderr);
        return tool_fail_status(cmd, st == CLCNN_ERR_FORMAT || st == CLCNN_ERR_IO ? NULL : r->ctx, st);
    }
    if (train_ranks_sum(&r->ranks, sums, 3)) return 1;
    if (sums[1] == 0) return tool_fail(cmd, "no readable training image in %s", o.data);
    snprintf(extra, sizeof extra, "loss %.4f acc %.1f%%", sums[0] / sums[1], 100.0 * sums[2] / sums[1]);
    progress_finish(&bar, (long)sums[1], extra);
    row->train_loss = sums[0] / sums[1];
    row->train_acc = sums[2] / sums[1];
    return 0;
}

/* Several ranks: each evaluates its share of the validation images (every ranks-th);
 * their probabilities meet in one table by the images' places, summed over the ranks,
 * and every rank adds the table to its metrics in the order one process would. */
static int validate_shares(run *r) {
    const int classes = r->desc.classes, n = clcnn_dataset_size(r->val_set), ranks = r->ranks.ranks;
    const size_t width = (size_t)classes + 1; /* the probabilities, and 1 where the image was read */
    double *table = calloc((size_t)n * width + 1, sizeof *table);
    float *probs = malloc(((size_t)n * classes + 1) * sizeof *probs);
    int *labels = malloc(((size_t)n + 1) * sizeof *labels), rc = 1;
    if (!table || !probs || !labels) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    clcnn_status st = clcnn_loader_start(r->val_loader, 0);
    clcnn_batch b;
    while (st == CLCNN_OK && (st = clcnn_loader_next(r->val_loader, &b)) == CLCNN_OK && b.n > 0) {
        if (tool_batch_probs(cmd, r->g, &r->input, &b, classes, r->logits)) goto done;
        for (int i = 0; i < b.n; i++) {
            double *row = table + (size_t)(b.indices[i] * ranks + r->ranks.rank) * width;
            for (int c = 0; c < classes; c++) row[c] = r->logits[(size_t)i * classes + c];
            row[classes] = 1;
        }
    }
    if (st != CLCNN_OK) {
        tool_fail_status(cmd, NULL, st);
        goto done;
    }
    if (train_ranks_sum(&r->ranks, table, (size_t)n * width)) goto done;
    int m = 0;
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const double *row = table + (size_t)i * width;
        if (row[classes] == 0) continue; /* unreadable, skipped (warned by its rank) */
        for (int c = 0; c < classes; c++) probs[(size_t)m * classes + c] = (float)row[c];
        labels[m] = clcnn_dataset_label(r->val_set, i);
        loss -= log(fmax(probs[(size_t)m * classes + labels[m]], 1e-30));
        m++;
    }
    if ((st = clcnn_metrics_add(r->metrics, m, probs, labels, loss)) != CLCNN_OK) {
        tool_fail_status(cmd, NULL, st);
        goto done;
    }
    rc = 0;
done:
    free(table);
    free(probs);
    free(labels);
    return rc;
}

static int validate(run *r, epoch_row *row) {
    const int classes = r->desc.classes;
    clcnn_metrics_reset(r->metrics);
    clcnn_graph_set_training(r->g, 0);
    if (r->ranks.ranks > 1) {
        const int failed = validate_shares(r);
        clcnn_graph_set_training(r->g, 1);
        if (failed) return 1;
        return validation_figures(r, row);
    }
    clcnn_status st = clcnn_loader_start(r->val_loader, 0);
    clcnn_batch b;
    int *labels = malloc((size_t)o.batch * sizeof *labels);
    if (!labels) return tool_fail(cmd, "out of host memory");
    int failed = 0;
    while (!failed && st == CLCNN_OK && (st = clcnn_loader_next(r->val_loader, &b)) == CLCNN_OK && b.n > 0)
        failed = tool_eval_batch(cmd, r->g, &r->input, &b, classes, r->logits, labels, r->metrics);
    free(labels);
    clcnn_graph_set_training(r->g, 1);
    if (failed) return 1;
    if (st != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
    return validation_figures(r, row);
}

/* The epoch's validation figures from the metrics. */
static int validation_figures(run *r, epoch_row *row) {
    clcnn_status st;
    clcnn_metrics_summary s;
    if ((st = clcnn_metrics_get(r->metrics, &s)) != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
    row->val_loss = s.loss, row->val_acc = s.accuracy, row->val_f1 = s.macro_f1, row->val_auc = s.auc;
    row->val_precision = s.macro_precision, row->val_recall = s.macro_recall;
    /* per class, by name, from the library's own JSON of the metrics */
    char *text = clcnn_metrics_json(r->metrics, (const char *const *)r->desc.class_names);
    json_t *all = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_decref(row->val_per_class);
    row->val_per_class = json_incref(json_object_get(all, "per_class"));
    json_decref(all);
    if (!row->val_per_class) return tool_fail(cmd, "out of host memory for the per-class metrics");
    return 0;
}

static void print_epoch(int epoch, const epoch_row *h) {
    printf("epoch %d/%d: train loss %.4f acc %.2f%%", epoch + 1, o.epochs, h->train_loss, 100 * h->train_acc);
    if (isfinite(h->val_loss)) {
        printf(" | val loss %.4f acc %.2f%% macro P %.3f R %.3f F1 %.3f", h->val_loss, 100 * h->val_acc,
               h->val_precision, h->val_recall, h->val_f1);
        if (isfinite(h->val_auc)) printf(" AUC %.3f", h->val_auc);
    }
    printf(" | lr %.3g | %.1f s\n", h->lr, h->seconds);
    fflush(stdout);
}

static int plot(const run *r) {
    const int n = r->epochs_done;
    double *v = malloc((size_t)(4 * n + 1) * sizeof *v);
    if (!v) return tool_fail(cmd, "out of host memory");
    for (int e = 0; e < n; e++) {
        v[e] = r->history[e].train_loss, v[n + e] = r->history[e].val_loss;
        v[2 * n + e] = r->history[e].train_acc, v[3 * n + e] = r->history[e].val_acc;
    }
    char *path = run_path("curves.png");
    clcnn_status st = path ? clcnn_plot_curves(path, n, v, v + n, v + 2 * n, v + 3 * n) : CLCNN_ERR_OUT_OF_MEMORY;
    free(path);
    free(v);
    return st == CLCNN_OK ? 0 : tool_fail_status(cmd, NULL, st);
}

/* --unfreeze-at: the second stage, from this epoch on every parameter trains. */
static int unfreeze_all(run *r, int epoch) {
    int n = 0;
    const clcnn_status st = clcnn_trainer_unfreeze(r->trainer, "", &n);
    if (st != CLCNN_OK) return tool_fail_status(cmd, r->ctx, st);
    size_t elements;
    const int trainable = tool_trainable_params(r->g, &elements);
    if (r->ranks.rank > 0) return 0;
    printf("epoch %d: --unfreeze-at %d: every parameter trains from now on (%d parameter tensors, %zu values; the "
           "newly trained start with fresh optimizer state)\n", epoch + 1, o.unfreeze_at, trainable, elements);
    fflush(stdout);
    return 0;
}

static int train_loop(run *r) {
    for (int epoch = r->epochs_done; epoch < o.epochs; epoch++) {
        if (o.unfreeze_at == epoch + 1 && unfreeze_all(r, epoch)) return 1;
        const double t0 = cli_now_s();
        epoch_row *row = &r->history[epoch];
        *row = empty_row;
        if (train_epoch(r, epoch, row) || (r->val_loader && validate(r, row))) return 1;
        row->seconds = cli_now_s() - t0;
        row->ranks = r->ranks.ranks;
        row->devices = json_incref(r->devices);
        r->epochs_done = epoch + 1;
        /* Best by validation accuracy (lower loss breaks ties); without validation, by training loss. */
        const double score = r->val_loader ? row->val_acc - 1e-6 * row->val_loss : -row->train_loss;
        const int improved = score > r->best;
        if (improved) r->best = score;
        if (r->ranks.rank == 0) print_epoch(epoch, row);
        /* rank 0 alone writes (the ranks' weights are the same) */
        if (r->ranks.rank == 0 && (save_checkpoint(r, improved) || plot(r))) return 1; /* the curves after every epoch */
    }
    return 0;
}

static void run_free(run *r) {
    clcnn_loader_destroy(r->train_loader);
    clcnn_loader_destroy(r->val_loader);
    clcnn_dataset_destroy(r->train_set);
    clcnn_dataset_destroy(r->val_set);
    clcnn_dataset_destroy(r->val_share);
    clcnn_trainer_destroy(r->trainer);
    clcnn_metrics_destroy(r->metrics);
    tool_input_free(&r->input);
    clcnn_graph_destroy(r->g);
    clcnn_model_desc_free(&r->desc);
    free(r->logits);
    free_history(r);
    free(r->options_json);
    free(r->supplied);
    free(r->supplied_json);
    clcnn_weights_destroy(r->resumed);
    clcnn_context_destroy(r->ctx);
    free(r->devices_line);
    json_decref(r->devices);
}

static int check_options(void) {
    if (!o.data) return tool_fail(cmd, "--data DIR is required (see clcnn train --help)");
    if (!o.out) return tool_fail(cmd, "--out RUN is required: the folder for checkpoints and metrics");
    if (o.val && o.val_split > 0) return tool_fail(cmd, "give --val or --val-split, not both");
    if (o.unfreeze_at_given || o.unfreeze_at) {
        if (o.unfreeze_at < 2 || o.unfreeze_at > o.epochs)
            return tool_fail(cmd, "--unfreeze-at %d: want an epoch from 2 to --epochs (%d), the first that trains "
                             "every parameter", o.unfreeze_at, o.epochs);
        if (!o.freeze_backbone && !o.freeze && !o.train_only)
            return tool_fail(cmd, "--unfreeze-at %d: nothing is frozen before it (add --freeze-backbone, --freeze or "
                             "--train-only)", o.unfreeze_at);
    }
    return 0;
}

/* Several ranks: the global batch must split evenly over them. */
static int check_batch_split(const run *r) {
    if (r->ranks.ranks > 1 && o.batch % r->ranks.ranks)
        return tool_fail(cmd, "--batch %d does not split evenly over %d ranks: each rank takes an equal share of every "
                         "batch (try --batch %d)", o.batch, r->ranks.ranks,
                         (o.batch + r->ranks.ranks - 1) / r->ranks.ranks * r->ranks.ranks);
    return 0;
}

/* The trainer sums over the ranks. */
static int join_ranks(run *r) {
    const clcnn_status st = clcnn_trainer_set_dist(r->trainer, r->ranks.dist, o.local_bn ? CLCNN_DIST_LOCAL_BN : 0);
    return st == CLCNN_OK ? 0 : tool_fail_status(cmd, r->ctx, st);
}

/* The run's first lines: what trains, on what, with what (rank 0 alone prints). */
static void print_header(const run *r, const char *device) {
    if (r->ranks.ranks > 1)
        printf("training %s (%d classes, %d training images) at %dx%d on %d ranks (%s), %d epochs of %d batches of %d "
               "(%d per rank)%s\n", r->desc.arch, r->desc.classes, clcnn_dataset_size(r->train_set), r->desc.size,
               r->desc.size, r->ranks.ranks, r->devices_line, o.epochs, clcnn_loader_batches(r->train_loader), o.batch,
               o.batch / r->ranks.ranks, o.local_bn ? "; batch norms per rank" : "");
    else
        printf("training %s (%d classes, %d training images) at %dx%d on %s, %d epochs of %d batches\n", r->desc.arch,
               r->desc.classes, clcnn_dataset_size(r->train_set), r->desc.size, r->desc.size, device, o.epochs,
               clcnn_loader_batches(r->train_loader));
    tool_print_class_counts("training images", r->train_set);
    if (r->val_set) tool_print_class_counts("validation images", r->val_set);
    printf("%s\n%s\n", r->optimizer_line, r->trainable_line);
    if (o.aux_weight > 0) printf("auxiliary head AuxLogits trains too: its loss x%g is added\n", (double)o.aux_weight);
    if (r->optimizer_extra[0]) printf("%s\n", r->optimizer_extra);
    if (o.balanced) printf("balanced sampler: each epoch draws %d images, every class equally often\n",
                           clcnn_dataset_size(r->train_set));
    fflush(stdout);
}

/* One rank's run (alone: the run). device: --devices' entry for this rank, or NULL. */
static int train_run(run *r, const char *device) {
    cmd = r->ranks.cmd;
    const int local_rank = r->ranks.ranks > 1 && !device ? r->ranks.local_rank : -1;
    if ((!o.resume && check_out_dir()) || cli_open_rank(PROG, device ? device : o.device, local_rank, &r->ctx) != CLCNN_OK)
        return 1;
    if ((o.resume && (restore_options(r) || check_options())) || check_batch_split(r)) return 1;
    if (!(r->options_json = opt_to_json(&command))) return 1; /* it said why */
    if (open_data(r) || describe(r) || build_model(r) || make_loaders(r) || make_trainer(r) || join_ranks(r) ||
        (!o.resume && r->ranks.rank == 0 && make_out_dir()))
        return 1;
    if (!r->history && (r->history_cap = o.epochs + 1) && !(r->history = calloc((size_t)r->history_cap, sizeof *r->history)))
        return tool_fail(cmd, "out of host memory");
    if (o.resume && resume_state(r)) return 1;
    clcnn_status st = clcnn_metrics_create(r->desc.classes, &r->metrics);
    if (st != CLCNN_OK || !(r->logits = malloc((size_t)o.batch * r->desc.classes * sizeof *r->logits)))
        return tool_fail(cmd, "out of host memory");
    r->input = (tool_input){.ctx = r->ctx, .size = r->desc.size};
    clcnn_device_info dev;
    clcnn_context_get_device_info(r->ctx, &dev);
    if (train_ranks_devices(&r->ranks, dev.name, &r->devices_line, &r->devices)) return 1;
    if (r->ranks.rank == 0) print_header(r, dev.name);
    if (train_loop(r)) return 1;
    if (r->ranks.rank > 0) return 0;
    const int bad = clcnn_loader_bad_images(r->train_loader) + (r->val_loader ? clcnn_loader_bad_images(r->val_loader) : 0);
    if (bad) printf("%d unreadable images were skipped (see the warnings above)\n", bad);
    printf("done: %s/last.safetensors, best.safetensors, metrics.csv, metrics.json, curves.png\n", o.out);
    return 0;
}

/* A rank's run from start to end; a failure stops the other ranks. */
static int run_rank(train_ranks *ranks, const char *device) {
    run r = {.best = -INFINITY, .ranks = *ranks};
    const int rc = train_run(&r, device);
    fflush(stdout);
    if (rc) train_ranks_abort(&r.ranks, rc); /* the others would wait for this rank */
    cmd = "train"; /* not r's name, which goes with it */
    r.ranks.dist = NULL; /* the caller's */
    run_free(&r);
    return rc;
}

/* --devices: one rank per listed device, each in a thread of its own. */
typedef struct {
    train_ranks ranks;
    char device[64];
    pthread_t thread;
    int rc;
} device_rank;

static void *device_rank_main(void *arg) {
    device_rank *d = arg;
    d->rc = run_rank(&d->ranks, d->device);
    return NULL;
}

static int train_devices(void) {
    int n = 1;
    for (const char *p = o.devices; *p; p++) n += *p == ',';
    if (o.device) return tool_fail(cmd, "give --device or --devices, not both");
    if (clcnn_dist_launched()) return tool_fail(cmd, "--devices trains ranks of its own: not under mpirun too");
    device_rank *d = calloc((size_t)n, sizeof *d);
    clcnn_dist **dists = calloc((size_t)n, sizeof *dists);
    int rc = 1;
    if (!d || !dists) {
        tool_fail(cmd, "out of host memory");
        goto done;
    }
    const char *p = o.devices;
    for (int k = 0; k < n; k++) {
        const size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof d[k].device) {
            tool_fail(cmd, "--devices %s: entry %d is %s (want indices or names, as --device: 0,1)", o.devices, k + 1,
                      len ? "too long" : "empty");
            goto done;
        }
        memcpy(d[k].device, p, len);
        p += len + (p[len] == ',');
    }
    const clcnn_status st = clcnn_dist_create_threads(n, dists);
    if (st != CLCNN_OK) {
        tool_fail_status(cmd, NULL, st);
        goto done;
    }
    for (int k = 0; k < n; k++) train_ranks_join(&d[k].ranks, cmd, dists[k]);
    cli_log_install(); /* before the threads: they open their contexts at once */
    int started = 1;
    for (; started < n && pthread_create(&d[started].thread, NULL, device_rank_main, &d[started]) == 0; started++) {}
    if (started < n) { /* the ranks started stop at their first sum */
        clcnn_dist_abort(dists[0], 1);
        tool_fail(cmd, "cannot start the thread of rank %d of %d", started, n);
    } else {
        d[0].rc = run_rank(&d[0].ranks, d[0].device);
    }
    rc = started < n;
    for (int k = 1; k < started; k++) {
        pthread_join(d[k].thread, NULL);
        rc |= d[k].rc;
    }
    rc |= d[0].rc;
done:
    for (int k = 0; dists && k < n; k++) clcnn_dist_destroy(dists[k]);
    free(dists);
    free(d);
    return rc ? 1 : 0;
}

int cmd_train(int argc, char **argv) {
    char **pos = malloc((size_t)argc * sizeof *pos);
    int npos, rc = pos ? opt_parse(&command, argc, argv, pos, &npos) : OPT_ERROR;
    free(pos);
    if (rc == OPT_HELP) return 0;
    if (rc != OPT_OK) return 2;
    o.epochs_given = opt_given(argc, argv, "--epochs");
    o.unfreeze_at_given = opt_given(argc, argv, "--unfreeze-at");
    if (!o.resume && check_options()) return 1; /* a resumed run's options are checked once restored */
    if (o.devices) return train_devices();
    train_ranks ranks;
    if (train_ranks_open(&ranks, cmd)) return 1; /* under mpirun: this process's rank */
    rc = run_rank(&ranks, NULL);
    train_ranks_close(&ranks);
    return rc;
}
