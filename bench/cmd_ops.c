/* cmd_ops.c: clbench ops, a network layer by layer (clcnn_graph_profile): each layer's
 * shape, the convolution algorithm chosen, forward and backward time, GFLOP/s and % of
 * the measured peak, and where the time goes by kind of layer. */
#include "bench.h"

typedef struct {
    const char *arch;
    int size, batch, iters, train, no_backward;
} ops_opts;

/* Per layer: the median over the runs of its forward and backward milliseconds. */
typedef struct {
    clcnn_layer_profile p; /* name, kind, algorithm, flops of the last run */
    clcnn_layer_info info;
    double *fwd, *bwd;     /* iters samples each */
} layer_row;

/* The backward of a convolution or linear layer computes the input gradient and the
 * weight gradient: two products the size of the forward's (the first convolution, whose
 * input needs no gradient, does one: its figure reads low). */
static double backward_flops(const clcnn_layer_profile *p) {
    return !strcmp(p->kind, "conv2d") || !strcmp(p->kind, "linear") ? 2.0 * p->forward_flops : 0;
}

static double gflops(double flops, double ms) { return ms > 0 ? flops / ms * 1e-6 : 0; }

static void shape_text(const clcnn_layer_info *info, char *dst, size_t size) {
    int n = snprintf(dst, size, "[");
    for (int d = 0; d < info->ndim && n < (int)size; d++) n += snprintf(dst + n, size - (size_t)n, "%s%d", d ? "," : "", info->shape[d]);
    if (n < (int)size) snprintf(dst + n, size - (size_t)n, "]");
}

/* Time per kind of layer ("conv2d", "batchnorm", ...), in order of first appearance. */
typedef struct {
    const char *kind;
    double fwd, bwd, flops;
    int count;
} kind_total;

static int kind_totals(const layer_row *rows, int n, kind_total *k, int max) {
    int nk = 0;
    for (int i = 1; i < n; i++) {
        int j = 0;
        while (j < nk && strcmp(k[j].kind, rows[i].p.kind)) j++;
        if (j == max) continue;
        if (j == nk) k[nk++] = (kind_total){rows[i].p.kind, 0, 0, 0, 0};
        k[j].fwd += rows[i].p.forward_ms;
        k[j].bwd += rows[i].p.backward_ms;
        k[j].flops += rows[i].p.forward_flops;
        k[j].count++;
    }
    return nk;
}

static int print_text(const ops_opts *o, clcnn_context *ctx, const clcnn_peak *peak, const layer_row *rows, int n,
                      double fwd_total, double bwd_total) {
    printf("%s, batch %d, %dx%d, %s mode, on %s (peak %.1f GFLOP/s); median of %d profiled passes\n\n", o->arch,
           o->batch, o->size, o->size, o->train ? "training" : "evaluation", bench_device_name(ctx), peak->fma_gflops,
           o->iters);
    printf("%-28s %-15s %-14s %-14s %9s %8s %6s %9s %8s %6s\n", "layer", "kind", "output", "algorithm", "fwd ms",
           "GFLOP/s", "%peak", "bwd ms", "GFLOP/s", "%peak");
    for (int i = 1; i < n; i++) {
        const clcnn_layer_profile *p = &rows[i].p;
        char shape[40];
        shape_text(&rows[i].info, shape, sizeof shape);
        const double fg = gflops(p->forward_flops, p->forward_ms), bg = gflops(backward_flops(p), p->backward_ms);
        printf("%-28s %-15s %-14s %-14s %9.3f", p->name, p->kind, shape, p->algorithm, p->forward_ms);
        if (fg > 0) printf(" %8.1f %5.1f%%", fg, bench_pct(fg, peak->fma_gflops));
        else printf(" %8s %6s", "-", "-");
        if (o->no_backward) printf("\n");
        else if (bg > 0) printf(" %9.3f %8.1f %5.1f%%\n", p->backward_ms, bg, bench_pct(bg, peak->fma_gflops));
        else printf(" %9.3f %8s %6s\n", p->backward_ms, "-", "-");
    }
    kind_total k[32];
    const int nk = kind_totals(rows, n, k, (int)(sizeof k / sizeof k[0]));
    printf("\n%-15s %6s %10s %7s %10s %7s %9s\n", "by kind", "layers", "fwd ms", "share", "bwd ms", "share", "GFLOP/s");
    for (int j = 0; j < nk; j++)
        printf("%-15s %6d %10.2f %6.1f%% %10.2f %6.1f%% %9.1f\n", k[j].kind, k[j].count, k[j].fwd,
               bench_pct(k[j].fwd, fwd_total), k[j].bwd, bench_pct(k[j].bwd, bwd_total), gflops(k[j].flops, k[j].fwd));
    printf("%-15s %6d %10.2f %7s %10.2f\n", "total", n - 1, fwd_total, "", bwd_total);
    printf("\n(profiled passes wait for the device after every layer: their totals exceed an ordinary pass's;\n"
           " backward GFLOP/s count 2x the forward's products for convolutions and linear layers)\n");
    return 0;
}

static int print_json(const ops_opts *o, clcnn_context *ctx, const clcnn_peak *peak, const layer_row *rows, int n,
                      double fwd_total, double bwd_total) {
    json_t *layers = json_array();
    for (int i = 1; i < n && layers; i++) {
        const clcnn_layer_profile *p = &rows[i].p;
        json_t *shape = json_array();
        for (int d = 0; d < rows[i].info.ndim; d++) json_array_append_new(shape, json_integer(rows[i].info.shape[d]));
        const double fg = gflops(p->forward_flops, p->forward_ms), bg = gflops(backward_flops(p), p->backward_ms);
        json_array_append_new(layers, json_pack("{s:s, s:s, s:o, s:s, s:f, s:f, s:f, s:f, s:f, s:f}", "name", p->name,
                                                "kind", p->kind, "shape", shape, "algorithm", p->algorithm,
                                                "forward_ms", p->forward_ms, "forward_gflops", fg, "forward_pct_of_peak",
                                                bench_pct(fg, peak->fma_gflops), "backward_ms", p->backward_ms,
                                                "backward_gflops", bg, "backward_pct_of_peak",
                                                bench_pct(bg, peak->fma_gflops)));
    }
    return bench_print_json(json_pack("{s:o, s:s, s:i, s:i, s:s, s:i, s:f, s:f, s:f, s:o}", "device",
                                      bench_device_json(ctx), "arch", o->arch, "size", o->size, "batch", o->batch,
                                      "mode", o->train ? "train" : "eval", "iters", o->iters, "peak_gflops",
                                      peak->fma_gflops, "forward_ms", fwd_total, "backward_ms", bwd_total, "layers",
                                      layers));
}

/* Profile o->iters times after one cold pass; rows[i].p gets the median times. */
static clcnn_status profile(clcnn_graph *g, const clcnn_tensor *x, const ops_opts *o, layer_row *rows, int n,
                            clcnn_layer_profile *scratch) {
    clcnn_status st = clcnn_graph_profile(g, x, !o->no_backward, scratch); /* kernel builds, planning */
    for (int it = 0; it < o->iters && st == CLCNN_OK; it++) {
        if ((st = clcnn_graph_profile(g, x, !o->no_backward, scratch)) != CLCNN_OK) break;
        for (int i = 0; i < n; i++) {
            rows[i].p = scratch[i];
            rows[i].fwd[it] = scratch[i].forward_ms;
            rows[i].bwd[it] = scratch[i].backward_ms;
        }
    }
    for (int i = 0; i < n && st == CLCNN_OK; i++) {
        rows[i].p.forward_ms = cli_median(rows[i].fwd, o->iters);
        rows[i].p.backward_ms = cli_median(rows[i].bwd, o->iters);
        st = clcnn_graph_layer(g, i, &rows[i].info);
    }
    return st;
}

int bench_cmd_ops(int argc, char **argv) {
    ops_opts o = {NULL, 224, 1, 3, 0, 0};
    const opt_spec opts[] = {
        {"--arch", OPT_STRING, &o.arch, "A", "resnet18 ... resnet152, seresnet18 ... seresnet152, compact, secompact, mobilenet_v2, mobilenet_v3_large/small, efficientnet_b0 ... b7, inception_v3, xception"},
        {"--size", OPT_INT, &o.size, "S", "input height and width"},
        {"--batch", OPT_INT, &o.batch, "B", "images per pass"},
        {"--iters", OPT_INT, &o.iters, "N", "profiled passes after a cold one (the median is shown)"},
        {"--train", OPT_FLAG, &o.train, NULL, "training mode (batch statistics); default evaluation mode"},
        {"--no-backward", OPT_FLAG, &o.no_backward, NULL, "forward only"},
        {NULL, OPT_FLAG, NULL, NULL, NULL}};
    const opt_command cmd = {
        "ops", "--arch A [--size S] [--batch B] [--iters N] [--train] [--no-backward] [--device D] [--json]",
        "Profiles a network built by the zoo (random weights, 1000 classes) layer by layer:\n"
        "each layer's output shape, the convolution algorithm chosen, forward and backward\n"
        "(from a gradient of ones) milliseconds, GFLOP/s and percent of the measured\n"
        "multiply-add peak, then the time per kind of layer.",
        opts, 0, PROG};
    bench_common c;
    int rc = bench_parse(&cmd, argc, argv, &c);
    if (rc != BENCH_RUN) return rc;
    if (!o.arch) return fprintf(stderr, "%s ops: --arch is required (e.g. --arch resnet18)\n", PROG), 2;
    clcnn_context *ctx;
    if (cli_open(PROG, c.device, &ctx) != CLCNN_OK) return 1;
    clcnn_graph *g = NULL;
    clcnn_tensor *x = NULL;
    layer_row *rows = NULL;
    clcnn_layer_profile *scratch = NULL;
    double *samples = NULL;
    clcnn_peak peak;
    clcnn_status st;
    rc = 1;
    if ((st = bench_build_net(ctx, o.arch, o.size, &g)) != CLCNN_OK) {
        bench_fail("ops", ctx, st, "building the network");
        goto done;
    }
    const int n = clcnn_graph_layer_count(g);
    rows = calloc((size_t)n, sizeof *rows);
    scratch = calloc((size_t)n, sizeof *scratch);
    samples = calloc((size_t)n * 2 * (size_t)o.iters, sizeof *samples);
    if (!rows || !scratch || !samples) {
        fprintf(stderr, "%s ops: out of host memory\n", PROG);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        rows[i].fwd = samples + (size_t)i * 2 * (size_t)o.iters;
        rows[i].bwd = rows[i].fwd + o.iters;
    }
    clcnn_graph_set_training(g, o.train);
    if ((st = clcnn_measure_peak(ctx, &peak)) != CLCNN_OK) {
        bench_fail("ops", ctx, st, "measuring the peak");
        goto done;
    }
    if ((st = clcnn_tensor_create(ctx, 4, (int[]){o.batch, 3, o.size, o.size}, &x)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(x, 0.5f)) != CLCNN_OK || (st = profile(g, x, &o, rows, n, scratch)) != CLCNN_OK) {
        bench_fail("ops", ctx, st, "profiling");
        goto done;
    }
    double fwd = 0, bwd = 0;
    for (int i = 0; i < n; i++) {
        fwd += rows[i].p.forward_ms;
        bwd += rows[i].p.backward_ms;
    }
    rc = c.json ? print_json(&o, ctx, &peak, rows, n, fwd, bwd) : print_text(&o, ctx, &peak, rows, n, fwd, bwd);
done:
    free(samples);
    free(scratch);
    free(rows);
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(g);
    clcnn_context_destroy(ctx);
    return rc;
}
