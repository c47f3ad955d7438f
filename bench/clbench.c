/* clbench: performance runs of libclcnn, each figure put against the device's own
 * measured roofline (clbench peak). One file per command (cmd_*.c); what they share
 * is in bench.h. See docs/PERFORMANCE.md. */
#include "bench.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"peak", bench_cmd_peak, "the device's measured fp32 multiply-add throughput and copy bandwidth"},
    {"gemm", bench_cmd_gemm, "the project's GEMM and CLBlast's: GFLOP/s and % of peak"},
    {"conv", bench_cmd_conv, "one convolution's forward, dX and dW apart: ms, GFLOP/s, % of peak"},
    {"ops", bench_cmd_ops, "every layer of a network: algorithm, time, GFLOP/s, % of peak, forward and backward"},
    {"model", bench_cmd_model, "a network's inference, training step or Grad-CAM: ms per iteration, images/s"},
    {"tune", bench_cmd_tune, "measure GEMM tiles and convolution algorithms for a network and store the winners"},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f) {
    fputs("usage: clbench COMMAND [OPTIONS]\n\ncommands:\n", f);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].summary);
    fputs("\nEvery command takes --device D, --json and --help.\n", f);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s' (peak, gemm, conv, ops, model, tune; see clbench --help)\n", PROG, argv[1]);
    return 2;
}
