/* clbench: performance runs of libclcnn.
 *   clbench gemm [--m M --n N --k K] [--iters N] [--device D]
 *   clbench model --arch A [--size S] [--batch B] [--mode infer|train] [--iters N] [--json]
 * GEMM: the project's register-blocked kernel and CLBlast's SGEMM on the same
 * device, in the same run: median time and GFLOP/s, the ratio between them. */
#include "../tools/cli.h"

#define PROG "clbench"

typedef struct {
    const char *device;
    int m, n, k, iters;
} gemm_opts;

/* Median seconds of one C = A B on the backend; the first call (kernel build) is not timed. */
static clcnn_status time_gemm(clcnn_context *ctx, clcnn_gemm_backend be, const gemm_opts *o, clcnn_tensor *a,
                              clcnn_tensor *b, clcnn_tensor *c, double *median_s, double *first_s) {
    double *t = malloc(sizeof(double) * (size_t)o->iters);
    if (!t) return CLCNN_ERR_OUT_OF_MEMORY;
    double t0 = cli_now_s();
    clcnn_status st = clcnn_gemm(ctx, be, 0, 0, 1.0f, a, b, 0.0f, c);
    if (st == CLCNN_OK) st = clcnn_finish(ctx);
    *first_s = cli_now_s() - t0;
    for (int i = 0; i < o->iters && st == CLCNN_OK; i++) {
        t0 = cli_now_s();
        st = clcnn_gemm(ctx, be, 0, 0, 1.0f, a, b, 0.0f, c);
        if (st == CLCNN_OK) st = clcnn_finish(ctx);
        t[i] = cli_now_s() - t0;
    }
    if (st == CLCNN_OK) *median_s = cli_median(t, o->iters);
    free(t);
    return st;
}

static int run_gemm(const gemm_opts *o) {
    clcnn_context *ctx = NULL;
    clcnn_tensor *a = NULL, *b = NULL, *c = NULL;
    int rc = 1;
    if (cli_open(PROG, o->device, &ctx) != CLCNN_OK) return 1;
    clcnn_device_info info;
    clcnn_context_get_device_info(ctx, &info);
    printf("device: %s (%s)\nGEMM %d x %d x %d (M x N x K), fp32, median of %d runs after a warm-up\n", info.name,
           info.platform, o->m, o->n, o->k, o->iters);
    clcnn_status st;
    if ((st = clcnn_tensor_create(ctx, 2, (int[]){o->m, o->k}, &a)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 2, (int[]){o->k, o->n}, &b)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 2, (int[]){o->m, o->n}, &c)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(a, 0.5f)) != CLCNN_OK || (st = clcnn_tensor_fill(b, 0.25f)) != CLCNN_OK) {
        cli_fail_status(PROG, ctx, st);
        goto done;
    }
    const double flops = 2.0 * o->m * o->n * o->k;
    const struct {
        const char *name;
        clcnn_gemm_backend be;
    } backends[] = {{"clcnn (own kernel)", CLCNN_GEMM_OWN}, {"CLBlast", CLCNN_GEMM_CLBLAST}};
    double gflops[2] = {0, 0};
    printf("%-20s %12s %12s %14s\n", "backend", "median ms", "GFLOP/s", "first call s");
    for (int i = 0; i < 2; i++) {
        if (backends[i].be == CLCNN_GEMM_CLBLAST && !clcnn_have_clblast()) {
            printf("%-20s %12s  (this build has no CLBlast)\n", backends[i].name, "-");
            continue;
        }
        double med = 0, first = 0;
        if ((st = time_gemm(ctx, backends[i].be, o, a, b, c, &med, &first)) != CLCNN_OK) {
            printf("%-20s failed: %s (%s)\n", backends[i].name, clcnn_last_error(ctx), clcnn_status_str(st));
            continue;
        }
        gflops[i] = flops / med * 1e-9;
        printf("%-20s %12.2f %12.1f %14.2f\n", backends[i].name, med * 1e3, gflops[i], first);
    }
    if (gflops[0] > 0 && gflops[1] > 0) printf("ratio own / CLBlast: %.2fx\n", gflops[0] / gflops[1]);
    rc = gflops[0] > 0 ? 0 : 1;
done:
    clcnn_tensor_destroy(c);
    clcnn_tensor_destroy(b);
    clcnn_tensor_destroy(a);
    clcnn_context_destroy(ctx);
    return rc;
}

static int cmd_gemm(int argc, char **argv) {
    gemm_opts o = {NULL, 1024, 1024, 1024, 10};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: clbench gemm [--m M] [--n N] [--k K] [--iters N] [--device D]\n\n"
                   "Times C[M,N] = A[M,K] B[K,N] in fp32 with the project's kernel and with CLBlast\n"
                   "on the same device (default 1024^3, 10 timed runs after a warm-up call).\n");
            return 0;
        }
        if (!strcmp(a, "--device")) {
            if (!(o.device = cli_value(argc, argv, &i))) return cli_fail(PROG, "gemm: %s needs a value", a);
            continue;
        }
        int *dst = !strcmp(a, "--m") ? &o.m : !strcmp(a, "--n") ? &o.n : !strcmp(a, "--k") ? &o.k
                 : !strcmp(a, "--iters")                         ? &o.iters
                                                                 : NULL;
        if (!dst) return cli_fail(PROG, "gemm: unknown option %s (see clbench gemm --help)", a);
        if (!(*dst = cli_positive_int(cli_value(argc, argv, &i))))
            return cli_fail(PROG, "gemm: %s needs a positive integer", a);
    }
    return run_gemm(&o);
}

/* ---- model ---- */

typedef struct {
    const char *device, *arch, *mode;
    int size, batch, iters, json;
} model_opts;

static int compare_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One timed iteration: an inference forward, or a whole SGD step. Waits for the device. */
static clcnn_status model_iter(clcnn_context *ctx, clcnn_graph *g, clcnn_trainer *t, const clcnn_tensor *x,
                               const clcnn_tensor *labels) {
    if (t) return clcnn_trainer_step(t, x, labels, NULL); /* reads the loss back: synchronous */
    clcnn_status st = clcnn_graph_forward(g, x, NULL);
    return st != CLCNN_OK ? st : clcnn_finish(ctx);
}

static int run_model(const model_opts *o) {
    const int train = !strcmp(o->mode, "train");
    if (!train && strcmp(o->mode, "infer")) return cli_fail(PROG, "model: unknown mode %s (infer or train)", o->mode);
    clcnn_resnet_config cfg;
    clcnn_status st = clcnn_resnet_config_for(o->arch, 1000, o->size, &cfg);
    if (st != CLCNN_OK) return cli_fail_status(PROG, NULL, st);
    clcnn_context *ctx;
    if (cli_open(PROG, o->device, &ctx) != CLCNN_OK) return 1;
    clcnn_graph *g = NULL;
    clcnn_trainer *t = NULL;
    clcnn_tensor *x = NULL, *labels = NULL;
    double *ms = calloc((size_t)o->iters, sizeof *ms), first = 0;
    int rc = 1;
    if (!ms) goto done;
    clcnn_train_params tp = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_SGD)};
    tp.optimizer.momentum = 0.9f;
    if ((st = clcnn_resnet_build(ctx, &cfg, 1, &g)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 4, (int[]){o->batch, 3, o->size, o->size}, &x)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(x, 0.5f)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 1, &o->batch, &labels)) != CLCNN_OK || (st = clcnn_tensor_fill(labels, 1.0f)) != CLCNN_OK ||
        (train && (st = clcnn_trainer_create(g, &tp, &t)) != CLCNN_OK))
        goto fail;
    double t0 = cli_now_s();
    if ((st = model_iter(ctx, g, t, x, labels)) != CLCNN_OK) goto fail; /* cold: kernel builds, planning */
    first = (cli_now_s() - t0) * 1e3;
    if ((st = model_iter(ctx, g, t, x, labels)) != CLCNN_OK) goto fail; /* warm-up */
    for (int i = 0; i < o->iters; i++) {
        t0 = cli_now_s();
        if ((st = model_iter(ctx, g, t, x, labels)) != CLCNN_OK) goto fail;
        ms[i] = (cli_now_s() - t0) * 1e3;
    }
    qsort(ms, (size_t)o->iters, sizeof *ms, compare_double);
    const double median = ms[o->iters / 2], ips = o->batch * 1e3 / median;
    clcnn_device_info info;
    clcnn_context_get_device_info(ctx, &info);
    if (o->json)
        printf("{\"arch\": \"%s\", \"mode\": \"%s\", \"size\": %d, \"batch\": %d, \"iters\": %d, "
               "\"median_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, \"first_ms\": %.1f, "
               "\"images_per_s\": %.2f, \"device\": \"%s\"}\n",
               o->arch, o->mode, o->size, o->batch, o->iters, median, ms[0], ms[o->iters - 1], first, ips, info.name);
    else
        printf("%s %s, batch %d, %dx%d on %s: median %.2f ms (min %.2f, max %.2f) over %d iterations, %.1f images/s; "
               "first %.0f ms\n",
               o->arch, train ? "SGD training step" : "inference", o->batch, o->size, o->size, info.name, median, ms[0],
               ms[o->iters - 1], o->iters, ips, first);
    rc = 0;
    goto done;
fail:
    cli_fail_status(PROG, ctx, st);
done:
    free(ms);
    clcnn_tensor_destroy(labels);
    clcnn_tensor_destroy(x);
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g);
    clcnn_context_destroy(ctx);
    return rc;
}

static int cmd_model(int argc, char **argv) {
    model_opts o = {NULL, NULL, "infer", 224, 1, 10, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: clbench model --arch A [--size S] [--batch B] [--mode infer|train] [--iters N] [--json] [--device D]\n\n"
                   "Times a network built by the graph (random weights, 1000 classes): an inference\n"
                   "forward (evaluation mode, batch norms not folded) or a whole SGD training step\n"
                   "(forward, cross-entropy, backward, momentum update). Prints the median, min and\n"
                   "max milliseconds per iteration after one warm-up, images/s, and the first (cold)\n"
                   "iteration including kernel builds.\n\n"
                   "  --arch A    resnet18 ... resnet152, seresnet18 ... seresnet152\n"
                   "  --size S    input height and width (default 224)\n"
                   "  --batch B   images per iteration (default 1)\n"
                   "  --mode M    infer (default) or train\n"
                   "  --iters N   timed iterations (default 10)\n"
                   "  --json      one JSON object instead of a sentence\n");
            return 0;
        }
        const char **str = !strcmp(a, "--device") ? &o.device : !strcmp(a, "--arch") ? &o.arch
                           : !strcmp(a, "--mode") ? &o.mode
                                                  : NULL;
        int *num = !strcmp(a, "--size") ? &o.size : !strcmp(a, "--batch") ? &o.batch : !strcmp(a, "--iters") ? &o.iters : NULL;
        if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (str) {
            if (!(*str = cli_value(argc, argv, &i))) return cli_fail(PROG, "model: %s needs a value", a);
        } else if (num) {
            if (!(*num = cli_positive_int(cli_value(argc, argv, &i))))
                return cli_fail(PROG, "model: %s needs a positive integer", a);
        } else {
            return cli_fail(PROG, "model: unknown option %s (see clbench model --help)", a);
        }
    }
    if (!o.arch) return cli_fail(PROG, "model: %s", "--arch is required (e.g. --arch resnet18)");
    return run_model(&o);
}

int main(int argc, char **argv) {
    static const char *usage = "usage: clbench COMMAND [OPTIONS]\n\ncommands:\n"
                               "  gemm   the project's GEMM and CLBlast's: GFLOP/s on one device\n"
                               "  model  a network's inference or training step: ms per iteration, images/s\n\n"
                               "Run `clbench COMMAND --help` for its options.\n";
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "gemm")) return cmd_gemm(argc - 1, argv + 1);
    if (!strcmp(argv[1], "model")) return cmd_model(argc - 1, argv + 1);
    fprintf(stderr, "clbench: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
