/* cmd_conv.c: clbench conv, one convolution's forward, input gradient (dX) and weight
 * gradient (dW) timed apart, each with the algorithm the library picks, against the
 * measured multiply-add peak: the figure to watch when working on one layer. */
#include "bench.h"
#include "ops/ops.h" /* ops_conv2d_algorithm, _wgrad_algorithm and _flops: the library's internal names */

typedef struct {
    int batch, cin, size, cout, kernel, stride, iters;
} conv_opts;

enum { PASS_FWD, PASS_DX, PASS_DW, PASSES };
static const char *const pass_names[PASSES] = {"forward", "dX", "dW"};

typedef struct {
    double median_ms, min_ms, gflops;
} pass_result;

typedef struct {
    clcnn_tensor *x, *w, *y, *dx, *dw;
} conv_tensors;

static clcnn_status run_pass(clcnn_context *ctx, int pass, const clcnn_conv_params *p, const conv_tensors *t) {
    switch (pass) {
    case PASS_FWD: return clcnn_conv2d(ctx, t->x, t->w, NULL, p, NULL, CLCNN_ACT_NONE, t->y);
    case PASS_DX: return clcnn_conv2d_backward(ctx, NULL, t->w, p, t->y, t->dx, 0, NULL, NULL);
    default: return clcnn_conv2d_backward(ctx, t->x, t->w, p, t->y, NULL, 0, t->dw, NULL);
    }
}

/* One warm-up call (kernel builds), then the median and minimum of o->iters calls, each
 * waited for. Each pass does 2 N Cout OH OW Cin K^2 floating-point operations. */
static clcnn_status time_pass(clcnn_context *ctx, const conv_opts *o, int pass, const clcnn_conv_params *p,
                              const conv_tensors *t, double flops, pass_result *r) {
    double *ms = malloc(sizeof(double) * (size_t)o->iters);
    if (!ms) return CLCNN_ERR_OUT_OF_MEMORY;
    clcnn_status st = run_pass(ctx, pass, p, t);
    if (st == CLCNN_OK) st = clcnn_finish(ctx);
    for (int i = 0; i < o->iters && st == CLCNN_OK; i++) {
        const double t0 = bench_now_ms();
        st = run_pass(ctx, pass, p, t);
        if (st == CLCNN_OK) st = clcnn_finish(ctx);
        ms[i] = bench_now_ms() - t0;
    }
    if (st == CLCNN_OK) {
        r->median_ms = cli_median(ms, o->iters); /* sorts ms */
        r->min_ms = ms[0];
        r->gflops = flops / r->median_ms * 1e-6;
    }
    free(ms);
    return st;
}

static int report(const bench_common *c, clcnn_context *ctx, const conv_opts *o, int out_size, const char *algo,
                  const char *wgrad_algo, double peak, const pass_result *r) {
    if (c->json) {
        json_t *passes = json_object();
        for (int i = 0; i < PASSES; i++)
            json_object_set_new(passes, pass_names[i],
                                json_pack("{s:f, s:f, s:f, s:f}", "median_ms", r[i].median_ms, "min_ms", r[i].min_ms,
                                          "gflops", r[i].gflops, "pct_of_peak", bench_pct(r[i].gflops, peak)));
        return bench_print_json(json_pack("{s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:f, s:o}", "device",
                                          bench_device_json(ctx), "batch", o->batch, "cin", o->cin, "size", o->size,
                                          "cout", o->cout, "kernel", o->kernel, "stride", o->stride, "out_size",
                                          out_size, "algorithm", algo, "wgrad_algorithm", wgrad_algo,
                                          "peak_gflops", peak, "passes", passes));
    }
    printf("device: %s, fp32 multiply-add peak %.1f GFLOP/s (clbench peak)\n", bench_device_name(ctx), peak);
    printf("convolution [%d, %d, %d, %d] -> [%d, %d, %d, %d], %dx%d kernel, stride %d, padding %d; forward runs %s,"
           " dW %s\n",
           o->batch, o->cin, o->size, o->size, o->batch, o->cout, out_size, out_size, o->kernel, o->kernel, o->stride,
           o->kernel / 2, algo, wgrad_algo);
    printf("median of %d runs after a warm-up\n\n%-10s %10s %10s %10s %9s\n", o->iters, "pass", "median ms", "min ms",
           "GFLOP/s", "% peak");
    for (int i = 0; i < PASSES; i++)
        printf("%-10s %10.2f %10.2f %10.1f %8.1f%%\n", pass_names[i], r[i].median_ms, r[i].min_ms, r[i].gflops,
               bench_pct(r[i].gflops, peak));
    return 0;
}

int bench_cmd_conv(int argc, char **argv) {
    conv_opts o = {16, 64, 24, 64, 3, 1, 10};
    const opt_spec opts[] = {{"--batch", OPT_INT, &o.batch, "N", "images"},
                             {"--cin", OPT_INT, &o.cin, "C", "input channels"},
                             {"--size", OPT_INT, &o.size, "S", "input height and width"},
                             {"--cout", OPT_INT, &o.cout, "K", "output channels"},
                             {"--kernel", OPT_INT, &o.kernel, "R", "kernel height and width (padding R/2)"},
                             {"--stride", OPT_INT, &o.stride, "S", "stride"},
                             {"--iters", OPT_INT, &o.iters, "N", "timed calls per pass"},
                             {NULL, OPT_FLAG, NULL, NULL, NULL}};
    const opt_command cmd = {
        "conv", "[--batch N] [--cin C] [--size S] [--cout K] [--kernel R] [--stride S] [--iters N] [--device D] [--json]",
        "Times one convolution's forward, input gradient (dX) and weight gradient (dW) apart,\n"
        "each with the algorithm clcnn picks: median and minimum milliseconds, GFLOP/s\n"
        "(2 N K OH OW C R^2 per pass) and percent of the multiply-add peak measured first.\n"
        "The defaults are ResNet-18's layer-1 convolution in a batch-16, 96x96 training step.",
        opts, 0, PROG};
    bench_common c;
    int rc = bench_parse(&cmd, argc, argv, &c);
    if (rc != BENCH_RUN) return rc;
    const int pad = o.kernel / 2; /* with it any kernel fits any input */
    const int out = (o.size + 2 * pad - o.kernel) / o.stride + 1;
    clcnn_context *ctx;
    if (cli_open(PROG, c.device, &ctx) != CLCNN_OK) return 1;
    const clcnn_conv_params p = {.stride_h = o.stride, .stride_w = o.stride, .pad_h = pad, .pad_w = pad};
    conv_tensors t = {0};
    clcnn_peak peak;
    clcnn_status st;
    rc = 1;
    if ((st = clcnn_measure_peak(ctx, &peak)) != CLCNN_OK) {
        bench_fail("conv", ctx, st, "measuring the peak");
        goto done;
    }
    if ((st = clcnn_tensor_create(ctx, 4, (int[]){o.batch, o.cin, o.size, o.size}, &t.x)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 4, (int[]){o.cout, o.cin, o.kernel, o.kernel}, &t.w)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 4, (int[]){o.batch, o.cout, out, out}, &t.y)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 4, (int[]){o.batch, o.cin, o.size, o.size}, &t.dx)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 4, (int[]){o.cout, o.cin, o.kernel, o.kernel}, &t.dw)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(t.x, 0.5f)) != CLCNN_OK || (st = clcnn_tensor_fill(t.w, 0.01f)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(t.y, 0.25f)) != CLCNN_OK || (st = clcnn_tensor_fill(t.dw, 0.0f)) != CLCNN_OK) {
        bench_fail("conv", ctx, st, "allocating the tensors");
        goto done;
    }
    const double flops = ops_conv2d_flops((double)o.batch * o.cout * out * out, (const int[4]){o.cout, o.cin, o.kernel, o.kernel});
    pass_result r[PASSES] = {{0}};
    for (int i = 0; i < PASSES; i++)
        if ((st = time_pass(ctx, &o, i, &p, &t, flops, &r[i])) != CLCNN_OK) {
            bench_fail("conv", ctx, st, pass_names[i]);
            goto done;
        }
    rc = report(&c, ctx, &o, out, ops_conv2d_algorithm(ctx, t.x, t.w, &p),
                ops_conv2d_wgrad_algorithm(ctx, t.x, t.w, &p), peak.fma_gflops, r);
done:
    clcnn_tensor_destroy(t.dw);
    clcnn_tensor_destroy(t.dx);
    clcnn_tensor_destroy(t.y);
    clcnn_tensor_destroy(t.w);
    clcnn_tensor_destroy(t.x);
    clcnn_context_destroy(ctx);
    return rc;
}
