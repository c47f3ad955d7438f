/* peak.c: clcnn_measure_peak, the device's roofline from the library's own kernels
 * (cl/peak.cl): fp32 multiply-add throughput and copy bandwidth. Every figure clbench
 * prints is put against these two. */
#include <math.h>
#include <stdio.h>
#include "runtime/internal.h"
#include "runtime/clock.h"

#define PEAK_UNROLL 8             /* multiply-adds per chain per loop trip (cl/peak.cl) */
#define PEAK_RUN_S 0.05           /* wall time of one timed launch */
#define PEAK_MAX_ITERS (1 << 24)  /* loop trips per work-item, at most */
#define BW_MAX_BYTES (128u << 20) /* per buffer: far beyond the last-level caches */

/* Vector width and independent chains per work-item. The best register fit differs
 * by device (AVX2's 16 registers, AVX-512's 32, GPUs' scalar lanes): try a few, keep
 * the fastest. On GPUs, at most 64 accumulators a work-item: 96 and 128 need 148 and
 * 200 VGPRs on gfx90a and spill on gfx1100 (the ISA report), which would measure the
 * spills rather than the device. */
typedef struct {
    int vec, nacc;
} fma_variant;
static const fma_variant cpu_variants[] = {{4, 8}, {8, 8}, {8, 12}, {16, 8}, {0, 0}};
static const fma_variant gpu_variants[] = {{2, 8}, {4, 8}, {8, 8}, {0, 0}};

/* Launch sizes: on CPUs one work-item per work-group (each a loop over registers, as
 * the GEMM runs there), a few per core; on GPUs many work-items, the driver's groups. */
static void fma_launch_size(const clcnn_context *ctx, size_t *global, size_t *local) {
    const size_t cu = ctx->dev.info.compute_units ? ctx->dev.info.compute_units : 1;
    const int cpu = rt_cpu_family(ctx);
    *global = cpu ? cu * 8 : cu * 2048;
    *local = cpu ? 1 : 0;
}

/* Wall seconds of `launches` back-to-back launches of k, waiting for the device. */
static clcnn_status time_launches(clcnn_context *ctx, cl_kernel k, const char *what, int nargs,
                                  const rt_karg *args, size_t global, size_t local, int launches, double *s) {
    const double t0 = clock_now_s();
    for (int i = 0; i < launches; i++) {
        clcnn_status st = rt_launch(ctx, k, what, nargs, args, 1, &global, local ? &local : NULL);
        if (st != CLCNN_OK) return st;
    }
    const cl_int err = clFinish(ctx->queue);
    if (err != CL_SUCCESS) return rt_error(ctx, err, "clcnn_measure_peak: %s failed on the device (%d)", what, err);
    *s = clock_now_s() - t0;
    return CLCNN_OK;
}

/* GFLOP/s of one fma_peak variant: calibrate the loop count to about PEAK_RUN_S, then
 * the best of three runs. */
static clcnn_status fma_variant_gflops(clcnn_context *ctx, const fma_variant *v, cl_mem out, double *gflops) {
    char opts[64];
    snprintf(opts, sizeof opts, "-DVEC=%d -DNACC=%d", v->vec, v->nacc);
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "peak.cl", "fma_peak", opts, &k);
    if (st != CLCNN_OK) return st;
    size_t global, local;
    fma_launch_size(ctx, &global, &local);
    int iters = 16;
    double t = 0, best = 0;
    /* An untimed first launch: drivers such as PoCL build the kernel for its launch size
     * on first use, and a build (a second, with a cold cache) timed as the calibration
     * run would shrink the loop to one trip and the figure to launch overhead. */
    {
        const rt_karg args[] = {KARG_INT(1), KARG_FLOAT(0.9999f), KARG_FLOAT(1e-4f), KARG_MEM(out)};
        if ((st = time_launches(ctx, k, "fma_peak", KARG_LIST(args), global, local, 1, &t)) != CLCNN_OK) return st;
    }
    for (;;) {
        const rt_karg args[] = {KARG_INT(iters), KARG_FLOAT(0.9999f), KARG_FLOAT(1e-4f), KARG_MEM(out)};
        if ((st = time_launches(ctx, k, "fma_peak", KARG_LIST(args), global, local, 1, &t)) != CLCNN_OK) return st;
        if (t >= PEAK_RUN_S * 0.25 || iters >= PEAK_MAX_ITERS) break;
        iters = iters * 8 > PEAK_MAX_ITERS ? PEAK_MAX_ITERS : iters * 8;
    }
    const double scaled = t > 0 ? iters * (PEAK_RUN_S / t) : PEAK_MAX_ITERS;
    iters = scaled < 1 ? 1 : scaled > PEAK_MAX_ITERS ? PEAK_MAX_ITERS : (int)scaled;
    for (int r = 0; r < 3; r++) {
        const rt_karg args[] = {KARG_INT(iters), KARG_FLOAT(0.9999f), KARG_FLOAT(1e-4f), KARG_MEM(out)};
        if ((st = time_launches(ctx, k, "fma_peak", KARG_LIST(args), global, local, 1, &t)) != CLCNN_OK) return st;
        if (best == 0 || t < best) best = t;
    }
    const double flops = 2.0 * (double)global * v->nacc * v->vec * PEAK_UNROLL * (double)iters;
    *gflops = best > 0 ? flops / best * 1e-9 : 0;
    return CLCNN_OK;
}

static clcnn_status measure_fma(clcnn_context *ctx, double *gflops) {
    size_t global, local;
    fma_launch_size(ctx, &global, &local);
    cl_int err;
    cl_mem out = clCreateBuffer(ctx->cl, CL_MEM_WRITE_ONLY, global * sizeof(float), NULL, &err);
    if (!out) return rt_error(ctx, err, "clcnn_measure_peak: allocating %zu floats failed (%d)", global, err);
    clcnn_status st = CLCNN_OK;
    *gflops = 0;
    const fma_variant *v = rt_cpu_family(ctx) ? cpu_variants : gpu_variants;
    for (; v->vec && st == CLCNN_OK; v++) {
        double g = 0;
        st = fma_variant_gflops(ctx, v, out, &g);
        rt_log(CLCNN_LOG_DEBUG, "peak: float%d x %d chains: %.1f GFLOP/s", v->vec, v->nacc, g);
        if (g > *gflops) *gflops = g;
    }
    clReleaseMemObject(out);
    return st;
}

/* Bytes per copy buffer: BW_MAX_BYTES, less on devices that cannot hold two of them
 * comfortably; a multiple of 16 (one float4). */
static size_t bandwidth_bytes(const clcnn_device_info *d) {
    uint64_t b = BW_MAX_BYTES;
    if (d->max_alloc_bytes && b > d->max_alloc_bytes) b = d->max_alloc_bytes;
    if (d->global_mem_bytes && b > d->global_mem_bytes / 8) b = d->global_mem_bytes / 8;
    return (size_t)(b & ~(uint64_t)15);
}

static clcnn_status measure_bandwidth(clcnn_context *ctx, double *gbps) {
    const size_t bytes = bandwidth_bytes(&ctx->dev.info);
    const size_t n4 = bytes / 16;
    cl_int err;
    cl_mem x = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err), y = NULL;
    if (!x) return rt_error(ctx, err, "clcnn_measure_peak: allocating %zu bytes failed (%d)", bytes, err);
    clcnn_status st = CLCNN_OK;
    if (!(y = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err))) {
        st = rt_error(ctx, err, "clcnn_measure_peak: allocating %zu bytes failed (%d)", bytes, err);
        goto release_x;
    }
    const cl_float one = 1.0f;
    if ((err = clEnqueueFillBuffer(ctx->queue, x, &one, sizeof one, 0, bytes, 0, NULL, NULL)) != CL_SUCCESS) {
        st = rt_error(ctx, err, "clcnn_measure_peak: filling the copy buffer failed (%d)", err);
        goto release_y;
    }
    cl_kernel k;
    if ((st = rt_get_kernel(ctx, "peak.cl", "copy_scale", "", &k)) != CLCNN_OK) goto release_y;
    const rt_karg args[] = {KARG_MEM(x), KARG_MEM(y), KARG_FLOAT(0.5f), KARG_INT((int)n4)};
    double t = 0, best = 0;
    /* One warm-up pass (first touch of the pages), then the best of five runs of enough
     * passes to last PEAK_RUN_S (a GPU copies the buffers in well under a millisecond). */
    st = time_launches(ctx, k, "copy_scale", KARG_LIST(args), n4, 0, 1, &t);
    const int passes = t <= 0 ? 3 : t * 3 >= PEAK_RUN_S ? 3 : t * 1000 < PEAK_RUN_S ? 1000 : (int)(PEAK_RUN_S / t) + 1;
    for (int r = 0; r < 5 && st == CLCNN_OK; r++) {
        st = time_launches(ctx, k, "copy_scale", KARG_LIST(args), n4, 0, passes, &t);
        if (best == 0 || t < best) best = t;
    }
    *gbps = best > 0 ? 2.0 * passes * (double)bytes / best * 1e-9 : 0;
release_y:
    clReleaseMemObject(y);
release_x:
    clReleaseMemObject(x);
    return st;
}

clcnn_status clcnn_measure_peak(clcnn_context *ctx, clcnn_peak *peak) {
    if (!ctx || !peak)
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_measure_peak: %s is NULL", ctx ? "peak" : "ctx");
    *peak = (clcnn_peak){0, 0};
    clcnn_status st;
    double fma = 0, bw = 0;
    if ((st = measure_fma(ctx, &fma)) != CLCNN_OK || (st = measure_bandwidth(ctx, &bw)) != CLCNN_OK) return st;
    if (!(fma > 0) || !(bw > 0) || !isfinite(fma) || !isfinite(bw))
        return rt_error(ctx, CLCNN_ERR_NUMERICS, "clcnn_measure_peak: timing gave %g GFLOP/s and %g GB/s", fma, bw);
    peak->fma_gflops = fma;
    peak->bandwidth_gbps = bw;
    rt_log(CLCNN_LOG_INFO, "peak on %s: %.1f GFLOP/s fp32 multiply-add, %.1f GB/s copy", ctx->dev.info.name, fma, bw);
    return CLCNN_OK;
}
