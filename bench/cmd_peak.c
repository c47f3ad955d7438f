/* cmd_peak.c: clbench peak, the roofline every other figure is put against. */
#include "bench.h"

int bench_cmd_peak(int argc, char **argv) {
    static const opt_spec opts[] = {{NULL, OPT_FLAG, NULL, NULL, NULL}};
    static const opt_command cmd = {
        "peak", "[--device D] [--json]",
        "Measures the device's fp32 multiply-add throughput (a multiply-add counts as 2 FLOP;\n"
        "independent chains of vector multiply-adds on every core) and its copy bandwidth\n"
        "(y = s * x over buffers far larger than the caches; bytes read plus written),\n"
        "with the library's own kernels. Their ratio is the machine balance: a kernel that\n"
        "does fewer FLOP per byte it moves is bound by memory, not arithmetic.",
        opts, 0, PROG};
    bench_common c;
    const int rc = bench_parse(&cmd, argc, argv, &c);
    if (rc != BENCH_RUN) return rc;
    clcnn_context *ctx;
    if (cli_open(PROG, c.device, &ctx) != CLCNN_OK) return 1;
    clcnn_peak peak;
    const double t0 = bench_now_ms();
    const clcnn_status st = clcnn_measure_peak(ctx, &peak);
    const double ms = bench_now_ms() - t0;
    int out = 0;
    if (st != CLCNN_OK) {
        out = bench_fail("peak", ctx, st, "measuring the peak");
    } else if (c.json) {
        out = bench_print_json(json_pack("{s:o, s:f, s:f, s:f, s:f}", "device", bench_device_json(ctx), "fma_gflops",
                                         peak.fma_gflops, "bandwidth_gbps", peak.bandwidth_gbps, "balance_flop_per_byte",
                                         peak.fma_gflops / peak.bandwidth_gbps, "seconds", ms * 1e-3));
    } else {
        printf("device: %s\n", bench_device_name(ctx));
        printf("fp32 multiply-add:  %8.1f GFLOP/s\n", peak.fma_gflops);
        printf("copy bandwidth:     %8.1f GB/s\n", peak.bandwidth_gbps);
        printf("machine balance:    %8.1f FLOP per byte\n", peak.fma_gflops / peak.bandwidth_gbps);
        printf("(measured in %.1f s; figures vary with other load on the machine)\n", ms * 1e-3);
    }
    clcnn_context_destroy(ctx);
    return out;
}
