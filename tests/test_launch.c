/* test_launch.c: what makes launches fit every device: local sizes shrunk to the
 * kernel's limit (rt_fit_local, rt_launch), exact-size launches refused with a
 * clear error, reductions built for the size the kernel allows; the kernel family
 * chosen by CLCNN_DEVICE_CLASS; and the default device's ranking, on made-up device
 * lists. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "runtime/device_rank.h"
#include "runtime/gpu_rows.h"
#include "ops/ops.h"
#include "runtime/internal.h"
#include "testenv.h"

static void test_fit_local(void) {
    size_t out[3];
    rt_fit_local(32, NULL, 2, (size_t[]){8, 8}, out); /* the GEMM's 8x8 where llvmpipe allows 32 */
    CHECK(out[0] * out[1] <= 32 && out[0] >= 4 && out[1] >= 4, "8x8 in 32 -> %zux%zu", out[0], out[1]);
    rt_fit_local(32, NULL, 1, (size_t[]){256}, out);
    CHECK(out[0] == 32, "256 in 32 -> %zu", out[0]);
    rt_fit_local(0, NULL, 2, (size_t[]){8, 8}, out);
    CHECK(out[0] == 8 && out[1] == 8, "no limit changed 8x8 to %zux%zu", out[0], out[1]);
    rt_fit_local(64, NULL, 1, (size_t[]){0}, out); /* a caller's bug, left for the launch to refuse */
    CHECK(out[0] == 0, "0 -> %zu", out[0]);
    rt_fit_local(1, NULL, 3, (size_t[]){8, 8, 1}, out);
    CHECK(out[0] == 1 && out[1] == 1 && out[2] == 1, "limit 1 -> %zux%zux%zu", out[0], out[1], out[2]);
    rt_fit_local(1024, (size_t[]){1024, 4, 1}, 2, (size_t[]){8, 8}, out); /* per-dimension limit */
    CHECK(out[0] == 8 && out[1] == 4, "item limit 4 in dimension 1 -> %zux%zu", out[0], out[1]);
    rt_fit_local(48, NULL, 1, (size_t[]){256}, out); /* a limit that is not a power of two */
    CHECK(out[0] <= 48 && out[0] >= 24, "256 in 48 -> %zu", out[0]);
    rt_fit_local(64, NULL, 2, (size_t[]){16, 1}, out);
    CHECK(out[0] == 16 && out[1] == 1, "16x1 within the limit changed to %zux%zu", out[0], out[1]);
}

/* A local size larger than this kernel allows is shrunk, and the results are whole
 * (the same size asked for exactly is refused: test_faults.c). */
static void test_launch_shrinks_local(void) {
    clcnn_context *ctx = g_ctx;
    cl_kernel k;
    CHECK_OK(rt_get_kernel(ctx, "eltwise.cl", "activate", "-DACT_FIXED=1", &k));
    if (test_failures()) return;
    const rt_kernel_limits lim = rt_kernel_limits_of(ctx, k);
    CHECK(lim.work_group_max >= 1 && lim.preferred_multiple >= 1, "limits %zu, multiple %zu", lim.work_group_max,
          lim.preferred_multiple);
    enum { n = 1000 };
    float in[n], out[n];
    for (int i = 0; i < n; i++) in[i] = (float)(i % 7) - 3.0f;
    clcnn_tensor *x = NULL, *y = NULL;
    CHECK_OK(clcnn_tensor_create(ctx, 1, (int[]){n}, &x));
    CHECK_OK(clcnn_tensor_create(ctx, 1, (int[]){n}, &y));
    if (!x || !y) goto done;
    CHECK_OK(clcnn_tensor_write(x, in, n));
    CHECK_OK(clcnn_tensor_fill(y, NAN));
    const size_t global = n, too_big = 2 * (lim.work_group_max ? lim.work_group_max : 4096);
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(y), KARG_INT(n), KARG_INT(CLCNN_ACT_RELU)};
    CHECK_OK(rt_launch(ctx, k, "test launch", KARG_LIST(args), 1, &global, &too_big));
    CHECK_OK(clcnn_tensor_read(y, out, n));
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += out[i] != (in[i] < 0 ? 0.0f : in[i]);
    CHECK(wrong == 0, "%d of %d results wrong after a shrunk launch", wrong, n);
done:
    clcnn_tensor_destroy(x);
    clcnn_tensor_destroy(y);
}

/* A reduction kernel is built for a work-group its build allows. */
static void test_reduce_kernel_fits(void) {
    cl_kernel k;
    size_t wg = 0;
    CHECK_OK(ops_get_reduce_kernel(g_ctx, "loss.cl", "ce_total", &k, &wg));
    if (test_failures()) return;
    const rt_kernel_limits lim = rt_kernel_limits_of(g_ctx, k);
    CHECK(wg >= 1 && (wg & (wg - 1)) == 0 && wg <= 64, "RED_WG %zu is not a power of two up to 64", wg);
    CHECK(!lim.work_group_max || wg <= lim.work_group_max, "RED_WG %zu over the kernel's limit %zu", wg,
          lim.work_group_max);
}

static clcnn_device_info fake(const char *name, clcnn_device_type type, unsigned vendor_id, int unified,
                              unsigned units, unsigned mhz) {
    clcnn_device_info d;
    memset(&d, 0, sizeof d);
    snprintf(d.name, sizeof d.name, "%s", name);
    d.type = type;
    d.vendor_id = vendor_id;
    d.unified_memory = unified;
    d.compute_units = units;
    d.max_clock_mhz = mhz;
    d.software = rt_device_is_software(name);
    d.est_gflops = rt_device_estimate_gflops(&d);
    return d;
}

#define PICK(list, type) rt_device_pick(list, (int)(sizeof list / sizeof list[0]), type)

static void test_default_device_ranking(void) {
    const clcnn_device_info iris = fake("Intel(R) Iris(R) Xe Graphics", CLCNN_DEVICE_GPU, 0x8086, 1, 96, 1300);
    const clcnn_device_info rtx = fake("NVIDIA GeForce RTX 3060", CLCNN_DEVICE_GPU, 0x10de, 0, 28, 1777);
    const clcnn_device_info pocl = fake("pthread-haswell-AMD Ryzen 7", CLCNN_DEVICE_CPU, 0x1022, 1, 16, 4500);
    const clcnn_device_info llvmpipe = fake("llvmpipe (LLVM 15.0.6, 256 bits)", CLCNN_DEVICE_GPU, 0x10005, 1, 8, 0);
    const clcnn_device_info swiftshader = fake("SwiftShader Device", CLCNN_DEVICE_GPU, 0x1ae0, 1, 4, 0);
    const clcnn_device_info a770 = fake("Intel(R) Arc(TM) A770 Graphics", CLCNN_DEVICE_GPU, 0x8086, 0, 512, 2400);
    /* The RTX 3060 is about 12.7 TFLOP/s fp32, the 96-EU Iris Xe about 2.0. */
    CHECK(fabs(rtx.est_gflops - 12738) < 100 && fabs(iris.est_gflops - 1997) < 50, "estimates %.0f, %.0f",
          rtx.est_gflops, iris.est_gflops);
    CHECK(llvmpipe.software && swiftshader.software && !rtx.software && !pocl.software, "software rasterisers");
    {
        const clcnn_device_info *l[] = {&pocl, &iris, &rtx}; /* discrete beats integrated beats CPU */
        CHECK(PICK(l, 0) == 2, "picked %d, want the RTX 3060", PICK(l, 0));
        CHECK(PICK(l, CLCNN_DEVICE_CPU) == 0, "cpu picked %d", PICK(l, CLCNN_DEVICE_CPU));
    }
    {
        const clcnn_device_info *l[] = {&pocl, &iris};
        CHECK(PICK(l, 0) == 1, "picked %d, want the integrated GPU over the CPU", PICK(l, 0));
    }
    {
        const clcnn_device_info *l[] = {&llvmpipe, &pocl, &swiftshader}; /* rusticl enabled beside PoCL */
        CHECK(PICK(l, 0) == 1, "picked %d, want PoCL's CPU over a software rasteriser", PICK(l, 0));
        CHECK(PICK(l, CLCNN_DEVICE_GPU) == 0, "\"gpu\" picked %d, want llvmpipe (the only choice)",
              PICK(l, CLCNN_DEVICE_GPU));
    }
    {
        const clcnn_device_info *l[] = {&rtx, &a770};
        CHECK(PICK(l, 0) == 1, "picked %d, want the A770 (17 TFLOP/s) over the RTX 3060", PICK(l, 0));
    }
    {
        const clcnn_device_info *l[] = {&llvmpipe};
        CHECK(PICK(l, 0) == 0, "a software device alone is still a device: picked %d", PICK(l, 0));
        CHECK(PICK(l, CLCNN_DEVICE_CPU) == -1, "no CPU, picked %d", PICK(l, CLCNN_DEVICE_CPU));
    }
    CHECK(rt_device_pick(NULL, 0, 0) == -1, "empty list");
    /* data-parallel ranks of one machine: the GPUs in order of preference, round robin */
    {
        const clcnn_device_info *l[] = {&pocl, &rtx, &llvmpipe, &a770, &iris};
        const int want[] = {3, 1, 4, 3, 1};
        for (int r = 0; r < 5; r++)
            CHECK(rt_device_pick_for_rank(l, 5, r) == want[r], "local rank %d got device %d, want %d", r,
                  rt_device_pick_for_rank(l, 5, r), want[r]);
        const clcnn_device_info *same[] = {&rtx, &rtx, &rtx}; /* equal GPUs: in listed order */
        for (int r = 0; r < 3; r++)
            CHECK(rt_device_pick_for_rank(same, 3, r) == r, "equal GPUs: rank %d got %d", r,
                  rt_device_pick_for_rank(same, 3, r));
        const clcnn_device_info *none[] = {&llvmpipe, &pocl}; /* no GPU: every rank the default */
        CHECK(rt_device_pick_for_rank(none, 2, 0) == 1 && rt_device_pick_for_rank(none, 2, 1) == 1,
              "without a GPU: %d, %d", rt_device_pick_for_rank(none, 2, 0), rt_device_pick_for_rank(none, 2, 1));
    }
}

/* CLCNN_DEVICE_CLASS chooses the family of kernels and parameters for any device. */
static void test_device_class_env(void) {
    env_saved saved;
    clcnn_context *gpu = NULL, *cpu = NULL, *bad = NULL;
    env_set(&saved, "CLCNN_DEVICE_CLASS", "gpu");
    CHECK_OK(clcnn_context_create(g_ctx->device_index, &gpu));
    setenv("CLCNN_DEVICE_CLASS", "cpu", 1);
    CHECK_OK(clcnn_context_create(g_ctx->device_index, &cpu));
    setenv("CLCNN_DEVICE_CLASS", "fpga", 1);
    CHECK_STATUS(clcnn_context_create(g_ctx->device_index, &bad), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(NULL), "CLCNN_DEVICE_CLASS=fpga"), "the error does not name the setting: %s",
          clcnn_last_error(NULL));
    env_restore(&saved);
    if (gpu) {
        CHECK(!rt_cpu_family(gpu) && gpu->params.gemm_local == 8 && gpu->params.elementwise_local == 256,
              "gpu: family %d, GEMM local %d, element-wise local %d", (int)gpu->kernel_family, gpu->params.gemm_local,
              gpu->params.elementwise_local);
        const rt_device_params *row = rt_gpu_row_for(&gpu->dev.info);
        CHECK(getenv("CLCNN_GEMM_LOCAL") || (gpu->params.gemm_mwg == row->gemm_mwg &&
                                             gpu->params.gemm_mdimc == row->gemm_mdimc),
              "gpu: gemm_local tile %d by %d, want row %s's %d by %d", gpu->params.gemm_mwg, gpu->params.gemm_mdimc,
              row->row_name, row->gemm_mwg, row->gemm_mdimc);
        CHECK(ops_fixed_local(gpu) == NULL, "gpu: fixed local sizes, want the driver's");
    }
    if (cpu) {
        CHECK(rt_cpu_family(cpu) && cpu->params.gemm_local == 1 && cpu->params.gemm_mwg == 0,
              "cpu: family %d, GEMM local %d, gemm_local tile %d", (int)cpu->kernel_family, cpu->params.gemm_local,
              cpu->params.gemm_mwg);
        CHECK(ops_fixed_local(cpu) != NULL, "cpu: no fixed local sizes");
    }
    clcnn_context_destroy(gpu);
    clcnn_context_destroy(cpu);
    clcnn_context_destroy(bad);
}

/* CLCNN_GEMM_LOCAL sets gemm_local's tile on the GPU family, or turns it off; a value
 * that does not parse or does not divide is ignored (the device's row stays). */
static void test_gemm_local_env(void) {
    const rt_device_params *row = rt_gpu_row_for(&g_ctx->dev.info);
    const struct {
        const char *value;
        int mwg, kwg, mdimc;
    } cases[] = {{"off", 0, 0, 0},
                 {"32x32x8:8x8", 32, 8, 8},
                 {"30x32x8:8x8", row->gemm_mwg, row->gemm_kwg, row->gemm_mdimc},
                 {"junk", row->gemm_mwg, row->gemm_kwg, row->gemm_mdimc}};
    env_saved saved_class, saved_local;
    env_set(&saved_class, "CLCNN_DEVICE_CLASS", "gpu");
    env_set(&saved_local, "CLCNN_GEMM_LOCAL", NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("CLCNN_GEMM_LOCAL", cases[i].value, 1);
        clcnn_context *ctx = NULL;
        CHECK_OK(clcnn_context_create(g_ctx->device_index, &ctx));
        if (ctx && cases[i].mwg)
            CHECK(ctx->params.gemm_mwg == cases[i].mwg && ctx->params.gemm_kwg == cases[i].kwg &&
                      ctx->params.gemm_mdimc == cases[i].mdimc,
                  "CLCNN_GEMM_LOCAL=%s: tile %d, %d deep, %d work-items a column", cases[i].value, ctx->params.gemm_mwg,
                  ctx->params.gemm_kwg, ctx->params.gemm_mdimc);
        else if (ctx)
            CHECK(ctx->params.gemm_mwg == 0, "CLCNN_GEMM_LOCAL=off left gemm_local on");
        clcnn_context_destroy(ctx);
    }
    env_restore(&saved_local);
    env_restore(&saved_class);
}

const test_case test_launch_cases[] = {
    {"runtime_gemm_local_env", test_gemm_local_env},
    {"runtime_device_class_env", test_device_class_env},
    {"launch_fit_local", test_fit_local},
    {"launch_shrinks_local_to_kernel_limit", test_launch_shrinks_local},
    {"launch_reduce_kernel_fits", test_reduce_kernel_fits},
    {"runtime_default_device_ranking", test_default_device_ranking},
    {NULL, NULL}};
