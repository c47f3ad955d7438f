/* bench.h: what the clbench commands share (bench/bench.c): table-driven options with
 * --device, --json and --help for every command (tools/options.c), JSON output, the network builder and
 * the roofline. One file per command: cmd_peak.c, cmd_gemm.c, cmd_conv.c, cmd_ops.c,
 * cmd_model.c, cmd_tune.c. */
#ifndef CLCNN_BENCH_H
#define CLCNN_BENCH_H

#include <jansson.h>
#include "../tools/cli.h"
#include "../tools/options.h"

#define PROG "clbench"

/* The options every command takes besides its own. */
typedef struct {
    const char *device;
    int json;
} bench_common;

enum { BENCH_RUN = -1 };
/* Parse argv[1..] (argv[0] is the command name) with tools/options.c: cmd's own options
 * (its table allows no positional arguments) plus --device and --json into *common. BENCH_RUN: go on;
 * otherwise the exit status: 0 after printing --help, 2 after a one-line reason on stderr. */
int bench_parse(const opt_command *cmd, int argc, char **argv, bench_common *common);

/* A failure as one line "clbench CMD: what: library message (status)"; returns 1. */
int bench_fail(const char *cmd, const clcnn_context *ctx, clcnn_status st, const char *what);

/* Print obj as one line of JSON on stdout and release it; 0, or 1 when it cannot. */
int bench_print_json(json_t *obj);
/* {"name", "platform", "driver", "type", "compute_units"} of ctx's device. */
json_t *bench_device_json(const clcnn_context *ctx);
/* The device's name, for text output. */
const char *bench_device_name(const clcnn_context *ctx);

/* A ResNet of the zoo by name (resnet18 ... seresnet152, compact), 1000 classes, square
 * input of size, freshly initialised (seed 1). */
clcnn_status bench_build_net(clcnn_context *ctx, const char *arch, int size, clcnn_graph **g);

/* 100 * part / whole, or 0 when whole is not positive. */
double bench_pct(double part, double whole);

/* Milliseconds since an arbitrary start. */
static inline double bench_now_ms(void) { return cli_now_s() * 1e3; }

/* The commands. */
int bench_cmd_peak(int argc, char **argv);
int bench_cmd_gemm(int argc, char **argv);
int bench_cmd_conv(int argc, char **argv);
int bench_cmd_ops(int argc, char **argv);
int bench_cmd_model(int argc, char **argv);
int bench_cmd_tune(int argc, char **argv);

#endif
