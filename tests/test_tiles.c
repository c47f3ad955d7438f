/* test_tiles.c: every GEMM tile the parameter table or CLCNN_GEMM_TILE can choose
 * gives the reference results, on shapes whose M and N are not multiples of the
 * tile (so both the full-tile and the edge paths of cl/gemm.cl run); and so do the
 * GEMM split along K and every GPU row's gemm_local tile. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "ops/ops.h"
#include "ref/ref.h"
#include "runtime/gpu_rows.h"
#include "testenv.h"

/* The table's rows (5x16 for CPUs, 4x16 the default), clcnn_tune's candidates
 * (src/graph/tune.c) and a few odd ones. */
static const char *tiles[] = {"6x32", "6x16", "4x16", "3x32", "8x16", "1x16", "2x16",
                              "3x16", "5x16", "12x16", "2x32", "4x32"};

static void fill(test_rng *r, float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = test_rng_uniform(r, -1, 1);
}

/* Sums of up to a few hundred products of values in [-1, 1]: float rounding gives
 * errors of about 1e-6 absolute, so 1e-5 absolute plus 1e-4 relative. Returns how far
 * the worst element goes past that bound (<= 0: all within). */
#define TILE_ATOL 1e-5f
#define TILE_RTOL 1e-4f
static float worst_excess(const float *got, const float *want, size_t n) {
    float worst = -1;
    for (size_t i = 0; i < n; i++) {
        const float e = fabsf(got[i] - want[i]) - (TILE_ATOL + TILE_RTOL * fabsf(want[i]));
        if (!(e <= worst)) worst = e; /* NaN counts as the worst */
    }
    return worst;
}

static clcnn_tensor *upload(clcnn_context *ctx, int ndim, const int *shape, const float *v) {
    clcnn_tensor *t = NULL;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    CHECK_OK(clcnn_tensor_create(ctx, ndim, shape, &t));
    if (t) CHECK_OK(clcnn_tensor_write(t, v, n));
    return t;
}

/* conv 3x3, stride 2, pad 1, groups 2, bias + residual + ReLU: M = 13/group, P = 9*10. */
static void check_conv(clcnn_context *ctx, const char *tile, test_rng *r) {
    enum { N = 2, C = 6, H = 17, W = 19, CO = 26, G = 2, OH = 9, OW = 10 };
    static float x[N * C * H * W], w[CO * (C / G) * 9], b[CO], res[N * CO * OH * OW], got[N * CO * OH * OW],
        want[N * CO * OH * OW];
    fill(r, x, sizeof x / sizeof *x);
    fill(r, w, sizeof w / sizeof *w);
    fill(r, b, CO);
    fill(r, res, sizeof res / sizeof *res);
    ref_conv2d(x, N, C, H, W, w, CO, 3, 3, b, 2, 2, 1, 1, 1, 1, G, res, CLCNN_ACT_RELU, want, OH, OW);
    clcnn_tensor *tx = upload(ctx, 4, (int[]){N, C, H, W}, x), *tw = upload(ctx, 4, (int[]){CO, C / G, 3, 3}, w);
    clcnn_tensor *tb = upload(ctx, 1, (int[]){CO}, b), *tr = upload(ctx, 4, (int[]){N, CO, OH, OW}, res), *ty = NULL;
    CHECK_OK(clcnn_tensor_create(ctx, 4, (int[]){N, CO, OH, OW}, &ty));
    if (tx && tw && tb && tr && ty) {
        const clcnn_conv_params p = {.stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = G};
        CHECK_OK(clcnn_conv2d(ctx, tx, tw, tb, &p, tr, CLCNN_ACT_RELU, ty));
        CHECK_OK(clcnn_tensor_read(ty, got, sizeof got / sizeof *got));
        const float e = worst_excess(got, want, sizeof got / sizeof *got);
        CHECK(e <= 0, "tile %s: conv2d error exceeds the bound by %.2e", tile, e);
    }
    clcnn_tensor *ts[] = {tx, tw, tb, tr, ty};
    for (int i = 0; i < 5; i++) clcnn_tensor_destroy(ts[i]);
}

/* gemm 37 x 45 x 29 in all four transpose combinations, beta != 0. */
static void check_gemm(clcnn_context *ctx, const char *tile, test_rng *r) {
    enum { M = 37, N = 45, K = 29 };
    static float a[M * K], b[K * N], c0[M * N], got[M * N], want[M * N];
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            fill(r, a, M * K);
            fill(r, b, K * N);
            fill(r, c0, M * N);
            memcpy(want, c0, sizeof want);
            ref_gemm(ta, tb, M, N, K, 0.75f, a, b, -0.5f, want);
            clcnn_tensor *tA = upload(ctx, 2, ta ? (int[]){K, M} : (int[]){M, K}, a);
            clcnn_tensor *tB = upload(ctx, 2, tb ? (int[]){N, K} : (int[]){K, N}, b);
            clcnn_tensor *tC = upload(ctx, 2, (int[]){M, N}, c0);
            if (tA && tB && tC) {
                CHECK_OK(clcnn_gemm(ctx, CLCNN_GEMM_OWN, ta, tb, 0.75f, tA, tB, -0.5f, tC));
                CHECK_OK(clcnn_tensor_read(tC, got, M * N));
                const float e = worst_excess(got, want, M * N);
                CHECK(e <= 0, "tile %s: gemm ta=%d tb=%d error exceeds the bound by %.2e", tile, ta, tb, e);
            }
            clcnn_tensor_destroy(tA);
            clcnn_tensor_destroy(tB);
            clcnn_tensor_destroy(tC);
        }
}

static void test_every_gemm_tile(void) {
    env_saved saved;
    env_set(&saved, "CLCNN_GEMM_TILE", tiles[0]); /* each tile in turn below */
    test_rng r = {g_seed ^ 0x7113};
    for (size_t i = 0; i < sizeof tiles / sizeof *tiles; i++) {
        setenv("CLCNN_GEMM_TILE", tiles[i], 1);
        clcnn_context *ctx = NULL;
        CHECK_OK(clcnn_context_create(-1, &ctx));
        if (!ctx) continue;
        check_conv(ctx, tiles[i], &r);
        check_gemm(ctx, tiles[i], &r);
        clcnn_context_destroy(ctx);
    }
    env_restore(&saved);
    printf("  tiles checked:");
    for (size_t i = 0; i < sizeof tiles / sizeof *tiles; i++) printf(" %s", tiles[i]);
    printf("\n");
}

/* A GEMM with K = 3001 on ctx, against a double reference: recursive summation in float
 * errs by at most (K - 1) 2^-24 sum |a b| per element, which is the bound (slices and the
 * second pass add their planes in the same worst case). */
static void check_long_k(clcnn_context *ctx, const char *what, test_rng *r) {
    enum { MMAX = 37, NMAX = 19, K = 3001 };
    static float a[MMAX * K], b[K * NMAX], got[MMAX * NMAX];
    const int M = test_small() ? 5 : MMAX, N = test_small() ? 17 : NMAX; /* N > 16: a full and an edge tile */
    fill(r, a, M * K);
    fill(r, b, K * N);
    clcnn_tensor *tA = upload(ctx, 2, (int[]){M, K}, a), *tB = upload(ctx, 2, (int[]){K, N}, b), *tC = NULL;
    CHECK_OK(clcnn_tensor_create(ctx, 2, (int[]){M, N}, &tC));
    if (tA && tB && tC) {
        CHECK_OK(clcnn_gemm(ctx, CLCNN_GEMM_OWN, 0, 0, 1.0f, tA, tB, 0.0f, tC));
        CHECK_OK(clcnn_tensor_read(tC, got, M * N));
        int bad = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double want = 0, mag = 0;
                for (int k = 0; k < K; k++) {
                    want += (double)a[i * K + k] * b[k * N + j];
                    mag += fabs((double)a[i * K + k] * b[k * N + j]);
                }
                if (!(fabs(got[i * N + j] - want) <= (K - 1) * 0x1p-24 * mag)) bad++;
            }
        CHECK(bad == 0, "%s: %d of %d elements of a %dx%dx%d GEMM outside the float bound", what, bad, M * N, M, N, K);
    }
    clcnn_tensor_destroy(tA);
    clcnn_tensor_destroy(tB);
    clcnn_tensor_destroy(tC);
}

/* The GEMM split along K (src/ops/gemm_split.c): the GPU family splits a long K by
 * itself; CLCNN_GEMM_SPLIT_K=8 forces slices of 8 on the tile tests' convolution (bias,
 * residual, ReLU, groups as the batch) and GEMMs (alpha, beta != 0, transposes). */
static void test_gemm_split_k(void) {
    env_saved saved_class, saved_split;
    test_rng r = {g_seed ^ 0x5b117};
    env_set(&saved_class, "CLCNN_DEVICE_CLASS", "gpu");
    env_set(&saved_split, "CLCNN_GEMM_SPLIT_K", NULL);
    clcnn_context *gpu = NULL;
    CHECK_OK(clcnn_context_create(-1, &gpu));
    if (gpu) {
        const ops_gemm_args layer4 = {.M = 512, .N = 49, .K = 4608, .nb0 = 1, .nb1 = 1};
        const int slices = ops_gemm_split_count(gpu, &layer4);
        CHECK(slices >= 5, "GPU family: ResNet layer4 at batch 1 (512 x 49 x 4608) in %d slices, want K/1024 or more",
              slices);
        CHECK(ops_gemm_split_count(g_ctx, &layer4) == 1 || !rt_cpu_family(g_ctx), "CPU family splits K");
        check_long_k(gpu, "GPU family, split by its own rule", &r);
        setenv("CLCNN_GEMM_SPLIT_K", "8", 1);
        check_conv(gpu, "split 8", &r);
        check_gemm(gpu, "split 8", &r);
        check_long_k(gpu, "split 8", &r);
        clcnn_context_destroy(gpu);
    }
    env_restore(&saved_split);
    env_restore(&saved_class);
}

/* The GPU rows (src/runtime/gpu_rows.c): chosen by vendor ID, or by CLCNN_GPU_ROW (an
 * unknown name is refused); each row's gemm_local tile gives the reference results on
 * the tile tests' convolution and GEMMs and a long K. */
static void test_gemm_gpu_rows(void) {
    static const struct {
        unsigned vendor;
        const char *row;
    } vendors[] = {{0x10de, "nvidia"}, {0x1002, "amd"}, {0x8086, "intel"}, {0x1af4, "default"}, {0, "default"}};
    env_saved saved_class, saved_row, saved_local;
    env_set(&saved_class, "CLCNN_DEVICE_CLASS", "gpu");
    env_set(&saved_row, "CLCNN_GPU_ROW", NULL); /* make test-gpu-class sets it */
    env_set(&saved_local, "CLCNN_GEMM_LOCAL", NULL);
    for (size_t i = 0; i < sizeof vendors / sizeof *vendors; i++) {
        const clcnn_device_info info = {.vendor_id = vendors[i].vendor};
        const char *got = rt_gpu_row_for(&info)->row_name;
        CHECK(!strcmp(got, vendors[i].row), "vendor 0x%x: row %s, want %s", vendors[i].vendor, got, vendors[i].row);
    }
    setenv("CLCNN_GPU_ROW", "amd", 1);
    const clcnn_device_info nvidia = {.vendor_id = 0x10de};
    CHECK(!strcmp(rt_gpu_row_for(&nvidia)->row_name, "amd"), "CLCNN_GPU_ROW=amd does not win over the vendor");
    clcnn_context *bad = NULL;
    setenv("CLCNN_GPU_ROW", "voodoo", 1);
    CHECK_STATUS(clcnn_context_create(-1, &bad), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(NULL), "CLCNN_GPU_ROW=voodoo"), "the error does not name the setting: %s",
          clcnn_last_error(NULL));
    clcnn_context_destroy(bad);
    test_rng r = {g_seed ^ 0x6a0e5};
    int n;
    const rt_device_params *rows = rt_gpu_rows(&n);
    for (int i = 0; i < n; i++) {
        setenv("CLCNN_GPU_ROW", rows[i].row_name, 1);
        clcnn_context *ctx = NULL;
        CHECK_OK(clcnn_context_create(-1, &ctx));
        if (!ctx) continue;
        CHECK(ctx->params.gemm_mwg == rows[i].gemm_mwg && ctx->params.gemm_mdimc == rows[i].gemm_mdimc,
              "row %s: the context has gemm_local tile %d by %d", rows[i].row_name, ctx->params.gemm_mwg,
              ctx->params.gemm_mdimc);
        check_conv(ctx, rows[i].row_name, &r);
        check_gemm(ctx, rows[i].row_name, &r);
        check_long_k(ctx, rows[i].row_name, &r);
        clcnn_context_destroy(ctx);
    }
    env_restore(&saved_local);
    env_restore(&saved_row);
    env_restore(&saved_class);
}

const test_case test_tiles_cases[] = {{"gemm_every_tile", test_every_gemm_tile},
                                      {"gemm_split_k", test_gemm_split_k},
                                      {"gemm_gpu_rows", test_gemm_gpu_rows},
                                      {NULL, NULL}};
