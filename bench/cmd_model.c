/* cmd_model.c: clbench model, a whole network's inference forward, SGD training step
 * or Grad-CAM, timed per iteration after a cold first one. */
#include "bench.h"

typedef enum { MODE_INFER, MODE_TRAIN, MODE_CAM } model_mode;

typedef struct {
    const char *arch, *mode_name;
    int size, batch, iters;
    model_mode mode;
    int local_bn;
} model_opts;

/* What one iteration needs. */
typedef struct {
    model_mode mode;
    clcnn_context *ctx;
    clcnn_graph *g;
    clcnn_trainer *trainer;     /* train */
    clcnn_tensor *x, *labels;   /* labels: train */
    clcnn_tensor *map;          /* cam */
    clcnn_cam_params cam;
    clcnn_dist *dist;           /* train under mpirun: the ranks (NULL alone) */
    int rank, ranks, local_batch;
} workload;

/* One iteration, waited for: an inference forward, one SGD step, or one Grad-CAM. */
static clcnn_status iterate(workload *w) {
    clcnn_status st;
    switch (w->mode) {
    case MODE_TRAIN: st = clcnn_trainer_step(w->trainer, w->x, w->labels, NULL); break;
    case MODE_CAM: st = clcnn_cam(w->g, w->x, &w->cam, NULL, w->map, NULL, NULL); break;
    default: st = clcnn_graph_forward(w->g, w->x, NULL); break;
    }
    return st != CLCNN_OK ? st : clcnn_finish(w->ctx);
}

static clcnn_status setup(workload *w, const model_opts *o) {
    clcnn_status st;
    if ((st = bench_build_net(w->ctx, o->arch, o->size, &w->g)) != CLCNN_OK ||
        (st = clcnn_tensor_create(w->ctx, 4, (int[]){w->local_batch, 3, o->size, o->size}, &w->x)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(w->x, 0.5f)) != CLCNN_OK)
        return st;
    if (o->mode == MODE_TRAIN) {
        clcnn_train_params tp = clcnn_train_params_default();
        tp.optimizer.momentum = 0.9f;
        if ((st = clcnn_tensor_create(w->ctx, 1, &w->local_batch, &w->labels)) != CLCNN_OK ||
            (st = clcnn_tensor_fill(w->labels, 1.0f)) != CLCNN_OK || (st = clcnn_trainer_create(w->g, &tp, &w->trainer)) != CLCNN_OK)
            return st;
        return clcnn_trainer_set_dist(w->trainer, w->dist, o->local_bn ? CLCNN_DIST_LOCAL_BN : 0);
    }
    if (o->mode == MODE_CAM) {
        clcnn_layer_info info;
        /* the last stage (layer4 of a ResNet, features.18 of MobileNetV2), as clcnn cam's default */
        const char *layer = clcnn_cam_default_layer(w->g);
        w->cam = clcnn_cam_params_default();
        w->cam.layer = layer;
        if (!layer || clcnn_graph_find_layer(w->g, layer, &info) < 0 || info.ndim != 3) {
            fprintf(stderr, "%s model: %s at %dx%d has no layer with a spatial output of at least 2x2 to explain\n",
                    PROG, o->arch, o->size, o->size);
            return CLCNN_ERR_NOT_FOUND;
        }
        return clcnn_tensor_create(w->ctx, 3, (int[]){o->batch, info.shape[1], info.shape[2]}, &w->map);
    }
    return CLCNN_OK;
}

static void teardown(workload *w) {
    clcnn_tensor_destroy(w->map);
    clcnn_tensor_destroy(w->labels);
    clcnn_tensor_destroy(w->x);
    clcnn_trainer_destroy(w->trainer);
    clcnn_graph_destroy(w->g);
}

static const char *mode_words(model_mode m) {
    return m == MODE_TRAIN ? "SGD training step" : m == MODE_CAM ? "Grad-CAM at the last stage" : "inference";
}

/* Under mpirun (train only): the ranks, each its share of the batch, only rank 0 reports. */
static int join_ranks(workload *w, const model_opts *o) {
    w->ranks = 1;
    w->local_batch = o->batch;
    if (!clcnn_dist_launched()) return 0;
    clcnn_status st;
    if (o->mode != MODE_TRAIN)
        return fprintf(stderr, "%s model: under mpirun only --mode train runs (its ranks share each batch)\n", PROG), 1;
    if ((st = clcnn_dist_create_mpi(&w->dist)) != CLCNN_OK)
        return fprintf(stderr, "%s model: %s (%s)\n", PROG, clcnn_last_error(NULL), clcnn_status_str(st)), 1;
    w->rank = clcnn_dist_rank(w->dist);
    w->ranks = clcnn_dist_size(w->dist);
    if (o->batch % w->ranks)
        return fprintf(stderr, "%s model (rank %d of %d): --batch %d does not split evenly over %d ranks\n", PROG,
                       w->rank, w->ranks, o->batch, w->ranks), 1;
    w->local_batch = o->batch / w->ranks;
    if (w->rank > 0 && !freopen("/dev/null", "w", stdout)) return 1;
    return 0;
}

static int run(const model_opts *o, const bench_common *c) {
    workload w = {.mode = o->mode};
    double *ms = NULL, *comm = NULL;
    int rc = 1;
    clcnn_status st;
    if (join_ranks(&w, o) ||
        cli_open_rank(PROG, c->device, w.ranks > 1 ? clcnn_dist_local_rank(w.dist) : -1, &w.ctx) != CLCNN_OK)
        goto done;
    ms = calloc((size_t)o->iters, sizeof *ms);
    comm = calloc((size_t)o->iters, sizeof *comm);
    if (!ms || !comm) {
        fprintf(stderr, "%s model: out of host memory\n", PROG);
        goto done;
    }
    /* The cold iteration includes kernel builds (or loads from the disk cache) and the
     * graph's planning for this batch size. */
    const double t0 = bench_now_ms();
    if ((st = setup(&w, o)) != CLCNN_OK) {
        if (st != CLCNN_ERR_NOT_FOUND || !w.g) bench_fail("model", w.ctx, st, "setting up");
        goto done;
    }
    if ((st = iterate(&w)) != CLCNN_OK) {
        bench_fail("model", w.ctx, st, "the first iteration");
        goto done;
    }
    const double first = bench_now_ms() - t0;
    clcnn_context_stats stats;
    clcnn_context_get_stats(w.ctx, &stats);
    if ((st = iterate(&w)) != CLCNN_OK) { /* warm-up */
        bench_fail("model", w.ctx, st, "the warm-up iteration");
        goto done;
    }
    for (int i = 0; i < o->iters; i++) {
        const double t = bench_now_ms();
        if ((st = iterate(&w)) != CLCNN_OK) {
            bench_fail("model", w.ctx, st, "a timed iteration");
            goto done;
        }
        ms[i] = bench_now_ms() - t;
        clcnn_trainer_comm(w.trainer, &comm[i], NULL);
    }
    size_t comm_bytes = 0;
    clcnn_trainer_comm(w.trainer, NULL, &comm_bytes);
    const double median = cli_median(ms, o->iters), ips = o->batch * 1e3 / median; /* ms sorted now */
    const double comm_median = cli_median(comm, o->iters);
    if (c->json) {
        rc = bench_print_json(json_pack(
            "{s:s, s:s, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:s, s:o, s:i, s:f, s:I}", "arch", o->arch, "mode",
            o->mode_name, "size", o->size, "batch", o->batch, "iters", o->iters, "median_ms", median, "min_ms", ms[0],
            "max_ms", ms[o->iters - 1], "first_ms", first, "images_per_s", ips, "programs_built",
            (json_int_t)stats.programs_built, "programs_from_disk", (json_int_t)stats.programs_from_disk, "device",
            bench_device_name(w.ctx), "device_info", bench_device_json(w.ctx), "ranks", w.ranks, "comm_median_ms",
            comm_median, "comm_bytes", (json_int_t)comm_bytes));
    } else {
        printf("%s %s, batch %d, %dx%d on %s:\n  median %.2f ms (min %.2f, max %.2f) over %d iterations, %.1f images/s\n"
               "  first (cold) iteration %.0f ms, set-up included: %llu programs built, %llu from the disk cache\n",
               o->arch, mode_words(o->mode), o->batch, o->size, o->size, bench_device_name(w.ctx), median, ms[0],
               ms[o->iters - 1], o->iters, ips, first, (unsigned long long)stats.programs_built,
               (unsigned long long)stats.programs_from_disk);
        if (w.ranks > 1)
            printf("  %d ranks (%d images each; figures from rank 0): summing over the ranks took %.2f ms a step "
                   "(median; %.1f MB of gradients)\n", w.ranks, w.local_batch, comm_median, comm_bytes / 1e6);
        rc = 0;
    }
done:
    free(ms);
    free(comm);
    teardown(&w);
    clcnn_context_destroy(w.ctx);
    if (rc && w.ranks > 1) clcnn_dist_abort(w.dist, rc);
    clcnn_dist_destroy(w.dist);
    return rc;
}

int bench_cmd_model(int argc, char **argv) {
    model_opts o = {NULL, "infer", 224, 1, 10, MODE_INFER, 0};
    const opt_spec opts[] = {
        {"--arch", OPT_STRING, &o.arch, "A", "resnet18 ... resnet152, seresnet18 ... seresnet152, compact, secompact, mobilenet_v2, mobilenet_v3_large/small, efficientnet_b0 ... b7, inception_v3, xception"},
        {"--size", OPT_INT, &o.size, "S", "input height and width"},
        {"--batch", OPT_INT, &o.batch, "B", "images per iteration"},
        {"--mode", OPT_STRING, &o.mode_name, "M", "infer, train or cam"},
        {"--iters", OPT_INT, &o.iters, "N", "timed iterations after one warm-up"},
        {"--local-bn", OPT_FLAG, &o.local_bn, NULL, "under mpirun: batch norms on each rank's images alone"},
        {NULL, OPT_FLAG, NULL, NULL, NULL}};
    const opt_command cmd = {
        "model", "--arch A [--size S] [--batch B] [--mode infer|train|cam] [--iters N] [--device D] [--json]",
        "Times a network built by the zoo (random weights, 1000 classes, input 0.5):\n"
        "  infer  a forward pass in evaluation mode\n"
        "  train  one SGD step (momentum 0.9): forward, cross-entropy, backward, update\n"
        "  cam    one Grad-CAM per image at the last stage, clcnn cam's default layer (layer4 of a\n"
        "         ResNet; clcnn_cam: forward, backward to that layer, map)\n"
        "Prints the median, min and max milliseconds per iteration after one warm-up,\n"
        "images/s, and the first (cold) iteration with the set-up and kernel builds.\n"
        "mpirun -np N clbench model --mode train: N ranks share each batch of B images; the\n"
        "step's time, and the part of it spent summing over the ranks (docs/DISTRIBUTED.md).",
        opts, 0, PROG};
    bench_common c;
    const int rc = bench_parse(&cmd, argc, argv, &c);
    if (rc != BENCH_RUN) return rc;
    if (!o.arch) return fprintf(stderr, "%s model: --arch is required (e.g. --arch resnet18)\n", PROG), 2;
    if (!strcmp(o.mode_name, "train")) o.mode = MODE_TRAIN;
    else if (!strcmp(o.mode_name, "cam")) o.mode = MODE_CAM;
    else if (strcmp(o.mode_name, "infer"))
        return fprintf(stderr, "%s model: unknown mode %s (infer, train or cam)\n", PROG, o.mode_name), 2;
    return run(&o, &c);
}
