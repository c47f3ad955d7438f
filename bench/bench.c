/* bench.c: options, output and set-up shared by the clbench commands (bench.h). */
#include "bench.h"

#include <errno.h>

static const bench_opt common_opts[] = {
    {"--device", BOPT_STRING, NULL, "D", "device index, gpu, cpu or part of its name (default: CLCNN_DEVICE or the fastest)"},
    {"--json", BOPT_FLAG, NULL, NULL, "print one JSON object instead of text"},
    {NULL, BOPT_FLAG, NULL, NULL, NULL}};

static void print_opt(const bench_opt *o) {
    char left[48];
    snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    printf("  %-20s %s", left, o->help);
    if (o->dest && o->kind == BOPT_INT && *(int *)o->dest) printf(" (default %d)", *(int *)o->dest);
    if (o->dest && o->kind == BOPT_STRING && *(const char **)o->dest) printf(" (default %s)", *(const char **)o->dest);
    putchar('\n');
}

static void print_help(const bench_command *cmd) {
    printf("usage: clbench %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->synopsis, cmd->description);
    for (const bench_opt *o = cmd->opts; o->name; o++) print_opt(o);
    for (const bench_opt *o = common_opts; o->name; o++) print_opt(o);
    printf("  %-20s %s\n", "--help", "this text");
}

static int usage_error(const bench_command *cmd, const char *what, const char *name, const char *value) {
    fprintf(stderr, "%s %s: %s %s%s%s (see clbench %s --help)\n", PROG, cmd->name, name, what, value ? ": " : "",
            value ? value : "", cmd->name);
    return 2;
}

/* Set o's destination from value; 0 or the exit status of a usage error. */
static int set_value(const bench_command *cmd, const bench_opt *o, const char *value) {
    if (o->kind == BOPT_STRING) {
        if (!*value) return usage_error(cmd, "needs a value", o->name, NULL);
        *(const char **)o->dest = value;
        return 0;
    }
    char *end;
    errno = 0;
    const long v = strtol(value, &end, 10);
    if (end == value || *end || errno || v < 1 || v > (1L << 30))
        return usage_error(cmd, "needs a positive integer", o->name, value);
    *(int *)o->dest = (int)v;
    return 0;
}

int bench_parse(const bench_command *cmd, int argc, char **argv, bench_common *common) {
    *common = (bench_common){NULL, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(cmd);
            return 0;
        }
        const bench_opt *o = NULL;
        for (const bench_opt *p = cmd->opts; p->name && !o; p++)
            if (!strcmp(p->name, a)) o = p;
        bench_opt common_opt;
        if (!o && !strcmp(a, "--device")) {
            common_opt = (bench_opt){"--device", BOPT_STRING, &common->device, "D", ""};
            o = &common_opt;
        } else if (!o && !strcmp(a, "--json")) {
            common->json = 1;
            continue;
        }
        if (!o) return usage_error(cmd, "is not an option", a, NULL);
        if (o->kind == BOPT_FLAG) {
            *(int *)o->dest = 1;
            continue;
        }
        if (i + 1 >= argc) return usage_error(cmd, "needs a value", a, NULL);
        const int rc = set_value(cmd, o, argv[++i]);
        if (rc) return rc;
    }
    return BENCH_RUN;
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
