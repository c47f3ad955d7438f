/* bench.c: options, output and set-up shared by the clbench commands (bench.h). */
#include "bench.h"


/* Room for a command's own options plus the common ones. */
#define BENCH_MAX_OPTS 32

int bench_parse(const opt_command *cmd, int argc, char **argv, bench_common *common) {
    *common = (bench_common){NULL, 0};
    opt_spec specs[BENCH_MAX_OPTS];
    int n = 0;
    for (const opt_spec *s = cmd->specs; s->name; s++) {
        if (n == BENCH_MAX_OPTS - 3) { /* a programming error, not the user's */
            fprintf(stderr, "%s %s: more options than BENCH_MAX_OPTS\n", PROG, cmd->command);
            return 2;
        }
        specs[n++] = *s;
    }
    specs[n++] = (opt_spec){"--device", OPT_STRING, &common->device, "D",
                            "device index, gpu, cpu or part of its name (default: CLCNN_DEVICE or the fastest)"};
    specs[n++] = (opt_spec){"--json", OPT_FLAG, &common->json, NULL, "print one JSON object instead of text"};
    specs[n] = (opt_spec){NULL, OPT_FLAG, NULL, NULL, NULL};
    opt_command full = *cmd;
    full.specs = specs;
    char **positional = malloc((size_t)argc * sizeof *positional);
    int npos = 0;
    const int rc = positional ? opt_parse(&full, argc, argv, positional, &npos) : OPT_ERROR;
    free(positional);
    if (!positional) fprintf(stderr, "%s %s: out of host memory\n", PROG, cmd->command);
    return rc == OPT_OK ? BENCH_RUN : rc == OPT_HELP ? 0 : 2;
}

int bench_fail(const char *cmd, const clcnn_context *ctx, clcnn_status st, const char *what) {
    const char *msg = clcnn_last_error(ctx);
    if (!*msg) msg = clcnn_last_error(NULL); /* calls without a context (clcnn_resnet_config_for) */
    fprintf(stderr, "%s %s: %s: %s (%s)\n", PROG, cmd, what, msg, clcnn_status_str(st));
    return 1;
}

int bench_print_json(json_t *obj) {
    char *s = obj ? json_dumps(obj, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(obj);
    if (!s) {
        fprintf(stderr, "%s: out of memory writing JSON\n", PROG);
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

static const char *type_name(clcnn_device_type t) {
    return t == CLCNN_DEVICE_CPU ? "cpu" : t == CLCNN_DEVICE_GPU ? "gpu" : t == CLCNN_DEVICE_ACCELERATOR ? "accelerator" : "other";
}

json_t *bench_device_json(const clcnn_context *ctx) {
    clcnn_device_info d;
    if (clcnn_context_get_device_info(ctx, &d) != CLCNN_OK) return json_null();
    return json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", d.name, "platform", d.platform, "driver",
                     d.driver_version, "type", type_name(d.type), "compute_units", (int)d.compute_units);
}

const char *bench_device_name(const clcnn_context *ctx) {
    static clcnn_device_info d; /* clbench is single-threaded */
    return clcnn_context_get_device_info(ctx, &d) == CLCNN_OK ? d.name : "?";
}

clcnn_status bench_build_net(clcnn_context *ctx, const char *arch, int size, clcnn_graph **g) {
    clcnn_resnet_config cfg;
    clcnn_status st = clcnn_resnet_config_for(arch, 1000, size, &cfg);
    return st != CLCNN_OK ? st : clcnn_resnet_build(ctx, &cfg, 1, g);
}

double bench_pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0; }
