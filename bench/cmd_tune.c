/* cmd_tune.c: clbench tune, clcnn_tune on a network of the zoo: what it measured and
 * where it stored the winners. */
#include "bench.h"

typedef struct {
    int json;
    json_t *lines; /* --json: collected, printed at the end */
} tune_sink;

static void on_line(void *user, const char *line) {
    tune_sink *s = user;
    if (s->json) json_array_append_new(s->lines, json_string(line));
    else {
        puts(line);
        fflush(stdout);
    }
}

int bench_cmd_tune(int argc, char **argv) {
    const char *arch = NULL;
    int size = 224, batch = 1;
    const opt_spec opts[] = {
        {"--arch", OPT_STRING, &arch, "A", "resnet18 ... resnet152, seresnet18 ... seresnet152, compact, secompact, mobilenet_v2, mobilenet_v3_large/small, efficientnet_b0 ... b7, inception_v3, xception"},
        {"--size", OPT_INT, &size, "S", "input height and width"},
        {"--batch", OPT_INT, &batch, "B", "the batch size to tune for"},
        {NULL, OPT_FLAG, NULL, NULL, NULL}};
    const opt_command cmd = {
        "tune", "--arch A [--size S] [--batch B] [--device D] [--json]",
        "Measures, on this device, the GEMM tiles (over all the network's convolutions: the\n"
        "register tile on CPUs, the work-group tile on GPUs) and, per convolution shape at\n"
        "this batch size, every convolution algorithm that applies;\n"
        "prints each measurement and stores the winners in the cache folder\n"
        "($XDG_CACHE_HOME/clcnn or ~/.cache/clcnn, one file per device and driver version),\n"
        "merged with earlier runs. Every later context on the device uses them; CLCNN_TUNE=off\n"
        "ignores the file. Takes from seconds to minutes (every candidate is compiled once).",
        opts, 0, PROG};
    bench_common c;
    const int rc = bench_parse(&cmd, argc, argv, &c);
    if (rc != BENCH_RUN) return rc;
    if (!arch) return fprintf(stderr, "%s tune: --arch is required (e.g. --arch resnet18)\n", PROG), 2;
    clcnn_context *ctx;
    if (cli_open(PROG, c.device, &ctx) != CLCNN_OK) return 1;
    tune_sink sink = {c.json, c.json ? json_array() : NULL};
    clcnn_graph *g = NULL;
    int out = 1;
    clcnn_status st = bench_build_net(ctx, arch, size, &g);
    if (st != CLCNN_OK) {
        bench_fail("tune", ctx, st, "building the network");
        goto done;
    }
    if (!c.json) printf("tuning %s, batch %d, %dx%d on %s\n", arch, batch, size, size, bench_device_name(ctx));
    const double t0 = bench_now_ms();
    if ((st = clcnn_tune(g, batch, on_line, &sink)) != CLCNN_OK) {
        bench_fail("tune", ctx, st, "tuning");
        goto done;
    }
    const double s = (bench_now_ms() - t0) * 1e-3;
    if (c.json) {
        out = bench_print_json(json_pack("{s:o, s:s, s:i, s:i, s:f, s:O}", "device", bench_device_json(ctx), "arch",
                                         arch, "size", size, "batch", batch, "seconds", s, "lines", sink.lines));
    } else {
        printf("done in %.1f s\n", s);
        out = 0;
    }
done:
    json_decref(sink.lines);
    clcnn_graph_destroy(g);
    clcnn_context_destroy(ctx);
    return out;
}
