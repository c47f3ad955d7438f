/* test_bench.c: the performance tools: clcnn_measure_peak, the per-device tuning file
 * (write, reload in a new context, lookups, CLCNN_TUNE=off, corrupt and foreign files
 * ignored), clcnn_tune on a tiny graph, and clbench's help and one-line errors. No
 * timing is asserted: these machines are shared. clbench comes from the build folder
 * named by CLCNN_TEST_BUILD; without it (or without the binary) those tests are skipped. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "ops/ops.h"
#include "runtime/internal.h"
#include "runtime/tuning.h"
#include "testenv.h"
#include "testutil.h"
#include "tmptree.h"

/* Warnings the library logs while a test listens. */
static char g_warnings[4096];
static void capture_log(clcnn_log_level level, const char *msg, void *user) {
    (void)user;
    const size_t n = strlen(g_warnings);
    if (level >= CLCNN_LOG_WARN && n + strlen(msg) + 2 < sizeof g_warnings)
        snprintf(g_warnings + n, sizeof g_warnings - n, "%s\n", msg);
}

static int device_index(void) {
    clcnn_device_info info;
    return clcnn_context_get_device_info(g_ctx, &info) == CLCNN_OK ? info.index : -1;
}

/* A fresh context on the test device (it reads the tuning file), or NULL (reported). */
static clcnn_context *new_context(void) {
    clcnn_context *ctx = NULL;
    const clcnn_status st = clcnn_context_create(device_index(), &ctx);
    CHECK(st == CLCNN_OK, "clcnn_context_create: %s", clcnn_last_error(NULL));
    return ctx;
}

/* Once a test that pointed XDG_CACHE_HOME elsewhere has restored it, a new context
 * reads the real tuning file again, so that later tests see what they would have. */
static void reload_real_tuning(void) {
    clcnn_context_destroy(new_context());
}

/* ---- clcnn_measure_peak ---- */

static void test_bench_peak(void) {
    clcnn_peak peak = {-1, -1};
    CHECK_OK(clcnn_measure_peak(g_ctx, &peak));
    CHECK(peak.fma_gflops > 0 && isfinite(peak.fma_gflops), "fma_gflops %g", peak.fma_gflops);
    CHECK(peak.bandwidth_gbps > 0 && isfinite(peak.bandwidth_gbps), "bandwidth_gbps %g", peak.bandwidth_gbps);
    printf("    peak: %.1f GFLOP/s, %.1f GB/s\n", peak.fma_gflops, peak.bandwidth_gbps);
    CHECK_STATUS(clcnn_measure_peak(g_ctx, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_measure_peak(NULL, &peak), CLCNN_ERR_INVALID_ARGUMENT);
}

/* ---- the tuning file ---- */

static const int key_a[] = {1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1};
static const int key_b[] = {2, 8, 9, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8};
enum { NKEY = sizeof key_a / sizeof key_a[0] };

static int lookup(const clcnn_context *ctx, const int *key) {
    return rt_params_tuned_choice(ctx, CLCNN_TUNED_OP_CONV, key, NKEY);
}

/* A tile no default row uses, so that finding it proves the file was read. */
enum { TILE_M = 3, TILE_N = 32 };

static void check_tuned(clcnn_context *ctx, int want_a, int want_b, int want_tile, const char *when) {
    if (!ctx) return;
    CHECK(lookup(ctx, key_a) == want_a, "%s: choice for key a %d, want %d", when, lookup(ctx, key_a), want_a);
    CHECK(lookup(ctx, key_b) == want_b, "%s: choice for key b %d, want %d", when, lookup(ctx, key_b), want_b);
    const int tiled = ctx->params.gemm_tile_m == TILE_M && ctx->params.gemm_tile_n == TILE_N;
    CHECK(tiled == want_tile, "%s: gemm tile %dx%d (row %s), tuned tile %sexpected", when, ctx->params.gemm_tile_m,
          ctx->params.gemm_tile_n, ctx->params.row_name, want_tile ? "" : "not ");
    const int other[NKEY] = {7};
    CHECK(lookup(ctx, other) == 0, "%s: a key never stored found %d", when, lookup(ctx, other));
    CHECK(rt_params_tuned_choice(ctx, "no-such-op", key_a, NKEY) == 0, "%s: another op's key matched", when);
}

/* A new context after path was overwritten with text: nothing tuned, a warning logged. */
static void check_ignored(const char *path, const char *text, const char *what) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
    g_warnings[0] = 0;
    clcnn_context *ctx = new_context();
    check_tuned(ctx, 0, 0, 0, what);
    CHECK(strstr(g_warnings, "ignoring tuning file") != NULL, "%s: no warning logged (got \"%s\")", what, g_warnings);
    clcnn_context_destroy(ctx);
}

static void test_bench_tuning_file(void) {
    tmptree t;
    if (!tmptree_open(&t, "tune")) return;
    env_saved xdg, tune, tile;
    env_set(&xdg, "XDG_CACHE_HOME", t.root);
    env_set(&tune, "CLCNN_TUNE", NULL);
    env_set(&tile, "CLCNN_GEMM_TILE", NULL);
    clcnn_set_log_callback(capture_log, NULL, CLCNN_LOG_WARN);
    clcnn_context *ctx = new_context();
    char path[4200] = "", stored[4200] = "";
    clcnn_device_info info;
    if (!ctx) goto restore;
    clcnn_context_get_device_info(ctx, &info);
    CHECK(rt_tuning_path(&info, path, sizeof path) == 0 && strstr(path, t.root) == path, "tuning path %s", path);
    check_tuned(ctx, 0, 0, 0, "no tuning file yet");

    /* Store, then merge a second choice in: both are on disk and in use at once. */
    rt_tuned_choice a = {.op = CLCNN_TUNED_OP_CONV, .nkey = NKEY, .choice = 2, .name = "winograd \"4x4\""};
    rt_tuned_choice b = {.op = CLCNN_TUNED_OP_CONV, .nkey = NKEY, .choice = 3, .name = NULL};
    memcpy(a.key, key_a, sizeof key_a);
    memcpy(b.key, key_b, sizeof key_b);
    CHECK_OK(rt_tuning_store(ctx, TILE_M, TILE_N, NULL, 1, &a, stored, sizeof stored));
    CHECK(!strcmp(stored, path), "stored in %s, expected %s", stored, path);
    CHECK_OK(rt_tuning_store(ctx, 0, 0, NULL, 1, &b, NULL, 0));
    check_tuned(ctx, 2, 3, 1, "the tuning context after storing");
    clcnn_context_destroy(ctx);

    /* A new context reads the file. */
    ctx = new_context();
    check_tuned(ctx, 2, 3, 1, "a new context");
    clcnn_context_destroy(ctx);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root && json_array_size(json_object_get(root, "choices")) == 2, "the file holds 2 choices: %s",
          root ? "no" : jerr.text);
    json_decref(root);
    CHECK(g_warnings[0] == 0, "warnings on a good file: %s", g_warnings);

    /* CLCNN_TUNE=off: the file is there, but not used. */
    env_saved off;
    env_set(&off, "CLCNN_TUNE", "off");
    ctx = new_context();
    check_tuned(ctx, 0, 0, 0, "CLCNN_TUNE=off");
    clcnn_context_destroy(ctx);
    env_restore(&off);

    /* Corrupt or foreign files are ignored with a warning, never a crash. */
    char foreign[512], bad_tile[512];
    snprintf(foreign, sizeof foreign,
             "{\"format\": \"clcnn-tuning\", \"version\": 1, \"device\": \"another device\", \"driver\": \"%s\", "
             "\"gemm_tile\": [3, 32], \"choices\": []}",
             info.driver_version);
    snprintf(bad_tile, sizeof bad_tile,
             "{\"format\": \"clcnn-tuning\", \"version\": 1, \"device\": \"%s\", \"driver\": \"%s\", "
             "\"gemm_tile\": [99, 32], \"choices\": []}",
             info.name, info.driver_version);
    check_ignored(path, "{\"format\": \"clcnn-tuning\", \"version\": 1, \"dev", "a truncated file");
    check_ignored(path, "\x89PNG\r\n\x1a\n garbage", "a binary file");
    check_ignored(path, "[1, 2, 3]", "a JSON array");
    check_ignored(path, foreign, "another device's file");
    check_ignored(path, bad_tile, "a tile out of range");
restore:
    clcnn_set_log_callback(NULL, NULL, CLCNN_LOG_ERROR);
    env_restore(&tile);
    env_restore(&tune);
    env_restore(&xdg);
    reload_real_tuning();
    tmptree_close(&t);
}

/* ---- clcnn_tune ---- */

typedef struct {
    int lines;
    char last[512];
} report_log;

static void on_report(void *user, const char *line) {
    report_log *r = user;
    r->lines++;
    snprintf(r->last, sizeof r->last, "%s", line);
}

/* A tiny graph with three kinds of convolution (3x3, 1x1, depthwise 3x3) in four
 * distinct shapes: c5 repeats c4's. */
static clcnn_graph *tiny_graph(clcnn_context *ctx) {
    clcnn_graph *g = NULL;
    const clcnn_conv_params pad1 = {.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1};
    const clcnn_conv_params dw = {.stride_h = 1, .stride_w = 1, .pad_h = 1, .pad_w = 1, .groups = 8};
    CHECK_OK(clcnn_graph_create(ctx, 3, 8, 8, 5, &g));
    if (!g) return NULL;
    CHECK_OK(clcnn_graph_conv2d(g, "c1", "input", 8, 3, 3, &pad1, 0));
    CHECK_OK(clcnn_graph_conv2d(g, "c2", "c1", 8, 1, 1, NULL, 0));
    CHECK_OK(clcnn_graph_conv2d(g, "c3", "c2", 8, 3, 3, &dw, 0));
    CHECK_OK(clcnn_graph_conv2d(g, "c4", "c3", 8, 3, 3, &pad1, 0));
    CHECK_OK(clcnn_graph_conv2d(g, "c5", "c4", 8, 3, 3, &pad1, 0));
    return g;
}

/* A gemm_local tile in the tuning file: a GPU-family context takes it (row "tuned"),
 * CLCNN_GEMM_LOCAL still wins, a CPU-family context has no gemm_local to set, and a
 * file whose tile could not be built is ignored with a warning. */
static void test_bench_tuning_local_tile(void) {
    tmptree t;
    if (!tmptree_open(&t, "tune")) return;
    env_saved xdg, tune, cls, loc;
    env_set(&xdg, "XDG_CACHE_HOME", t.root);
    env_set(&tune, "CLCNN_TUNE", NULL);
    env_set(&cls, "CLCNN_DEVICE_CLASS", "gpu");
    env_set(&loc, "CLCNN_GEMM_LOCAL", NULL);
    clcnn_context *ctx = new_context();
    const rt_local_tile tile = {32, 32, 8, 8, 8}, bad = {30, 32, 8, 8, 8};
    char path[4200] = "";
    if (!ctx) goto restore;
    CHECK_STATUS(rt_tuning_store(ctx, 0, 0, &bad, 0, NULL, NULL, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_OK(rt_tuning_store(ctx, 0, 0, &tile, 0, NULL, path, sizeof path));
    CHECK(ctx->params.gemm_mwg == 32 && ctx->params.gemm_mdimc == 8, "the storing context has tile %d by %d",
          ctx->params.gemm_mwg, ctx->params.gemm_mdimc);
    clcnn_context_destroy(ctx);
    ctx = new_context();
    CHECK(ctx && ctx->params.gemm_mwg == 32 && ctx->params.gemm_kwg == 8 && !strcmp(ctx->params.row_name, "tuned"),
          "a new GPU-family context: tile %d, %d deep, row %s", ctx ? ctx->params.gemm_mwg : -1,
          ctx ? ctx->params.gemm_kwg : -1, ctx ? ctx->params.row_name : "-");
    clcnn_context_destroy(ctx);
    setenv("CLCNN_GEMM_LOCAL", "off", 1);
    ctx = new_context();
    CHECK(ctx && ctx->params.gemm_mwg == 0, "CLCNN_GEMM_LOCAL=off lost to the file");
    clcnn_context_destroy(ctx);
    unsetenv("CLCNN_GEMM_LOCAL");
    setenv("CLCNN_DEVICE_CLASS", "cpu", 1);
    ctx = new_context();
    CHECK(ctx && ctx->params.gemm_mwg == 0, "a CPU-family context took the gemm_local tile");
    clcnn_context_destroy(ctx);
    /* the stored tile made unbuildable by hand: the file is ignored, with a warning */
    char *text = tmptree_slurp(&t, path + strlen(t.root) + 1);
    char *at = text ? strstr(text, "\"gemm_local\": [32,") : NULL;
    CHECK(at != NULL, "no gemm_local in the file:\n%s", text ? text : "(none)");
    if (at) {
        memcpy(at + strlen("\"gemm_local\": ["), "30", 2);
        FILE *f = fopen(path, "w");
        if (f) fputs(text, f), fclose(f);
        setenv("CLCNN_DEVICE_CLASS", "gpu", 1);
        g_warnings[0] = 0;
        clcnn_set_log_callback(capture_log, NULL, CLCNN_LOG_WARN);
        ctx = new_context();
        clcnn_set_log_callback(NULL, NULL, CLCNN_LOG_ERROR);
        CHECK(ctx && ctx->params.gemm_mwg != 30 && strcmp(ctx->params.row_name, "tuned"), "an invalid tile was taken");
        CHECK(strstr(g_warnings, "gemm_local"), "no warning naming gemm_local: %s", g_warnings);
        clcnn_context_destroy(ctx);
    }
    free(text);
restore:
    env_restore(&loc);
    env_restore(&cls);
    env_restore(&tune);
    env_restore(&xdg);
    reload_real_tuning();
    tmptree_close(&t);
}

/* The GEMM tile the race is about on g_ctx, as the tuning file writes it: [M, N] of
 * gemm_tiled on CPUs, [MWG, NWG, KWG, MDIMC, NDIMC] of gemm_local on GPUs that run it. */
static void tile_json(int local, const rt_device_params *p, char *dst, size_t size) {
    if (local)
        snprintf(dst, size, "[%d, %d, %d, %d, %d]", p->gemm_mwg, p->gemm_nwg, p->gemm_kwg, p->gemm_mdimc,
                 p->gemm_ndimc);
    else
        snprintf(dst, size, "[%d, %d]", p->gemm_tile_m, p->gemm_tile_n);
}

/* The stored tile of the kind in question from the tuning file at path, as tile_json. */
static void stored_tile(const char *path, int local, char *dst, size_t size) {
    json_t *root = json_load_file(path, 0, NULL), *t = json_object_get(root, local ? "gemm_local" : "gemm_tile");
    int len = snprintf(dst, size, "[");
    for (size_t i = 0; i < json_array_size(t) && len < (int)size; i++)
        len += snprintf(dst + len, size - (size_t)len, "%s%d", i ? ", " : "", (int)json_integer_value(json_array_get(t, i)));
    if (len < (int)size) snprintf(dst + len, size - (size_t)len, "]");
    json_decref(root);
}

/* clcnn_tune races the GEMM tiles of the device's family (gemm_tiled's TM x TN, or
 * gemm_local's work-group tile where it runs), then the algorithms per shape; the
 * winners are stored and in use. */
static void test_bench_tune(void) {
    tmptree t;
    if (!tmptree_open(&t, "tune")) return;
    const int local = ops_gemm_local_in_use(g_ctx);
    const rt_device_params saved = g_ctx->params;
    char tile[32], ltile[48], want[64], got[64];
    snprintf(tile, sizeof tile, "%dx%d", saved.gemm_tile_m, saved.gemm_tile_n);
    snprintf(ltile, sizeof ltile, "%dx%dx%d:%dx%d", saved.gemm_mwg, saved.gemm_nwg, saved.gemm_kwg, saved.gemm_mdimc,
             saved.gemm_ndimc);
    env_saved xdg, tiles, ltiles, tune;
    env_set(&xdg, "XDG_CACHE_HOME", t.root);
    env_set(&tiles, "CLCNN_TUNE_TILES", tile); /* the tiles in use: nothing new to compile */
    env_set(&ltiles, "CLCNN_TUNE_LOCAL_TILES", local ? ltile : NULL);
    env_set(&tune, "CLCNN_TUNE", NULL);
    clcnn_graph *g = tiny_graph(g_ctx);
    report_log r = {0, ""};
    char path[4200] = "";
    clcnn_device_info info;
    clcnn_context_get_device_info(g_ctx, &info);
    rt_tuning_path(&info, path, sizeof path);
    if (g) {
        CHECK_OK(clcnn_tune(g, 2, on_report, &r));
        /* One line for the tile, one for the winner, one per distinct shape (4), one for the store. */
        CHECK(r.lines == 7, "%d report lines, expected 7 (last: %s)", r.lines, r.last);
        CHECK(strstr(r.last, path) != NULL, "the last line names %s: %s", path, r.last);
        tile_json(local, &g_ctx->params, got, sizeof got);
        tile_json(local, &saved, want, sizeof want);
        CHECK(!strcmp(got, want), "tile %s after tuning with only %s", got, want);
        stored_tile(path, local, got, sizeof got);
        CHECK(!strcmp(got, want), "the stored %s is %s, not %s", local ? "gemm_local" : "gemm_tile", got, want);
        CHECK_STATUS(clcnn_tune(g, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
        /* Two tiles race: a line for each, and the winner is stored and in use. */
        char two[128];
        if (local)
            snprintf(two, sizeof two, "%s,%s", ltile, strcmp(ltile, "32x32x8:8x8") ? "32x32x8:8x8" : "64x64x16:16x16");
        else
            snprintf(two, sizeof two, "%s,%s", tile, strcmp(tile, "2x16") ? "2x16" : "3x16");
        setenv(local ? "CLCNN_TUNE_LOCAL_TILES" : "CLCNN_TUNE_TILES", two, 1);
        r = (report_log){0, ""};
        CHECK_OK(clcnn_tune(g, 2, on_report, &r));
        CHECK(r.lines == 8, "%d report lines with tiles %s, expected 8 (last: %s)", r.lines, two, r.last);
        stored_tile(path, local, got, sizeof got);
        tile_json(local, &g_ctx->params, want, sizeof want);
        CHECK(!strcmp(got, want), "tile %s in use after tuning, %s stored (of %s)", want, got, two);
        const rt_device_params *p = &g_ctx->params;
        char used[48];
        if (local)
            snprintf(used, sizeof used, "%dx%dx%d:%dx%d", p->gemm_mwg, p->gemm_nwg, p->gemm_kwg, p->gemm_mdimc,
                     p->gemm_ndimc);
        else
            snprintf(used, sizeof used, "%dx%d", p->gemm_tile_m, p->gemm_tile_n);
        CHECK(strstr(two, used), "the tile in use, %s, is not one of %s", used, two);
    }
    CHECK_STATUS(clcnn_tune(NULL, 1, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    clcnn_graph_destroy(g);
    g_ctx->params = saved;
    env_restore(&tune);
    env_restore(&ltiles);
    env_restore(&tiles);
    env_restore(&xdg);
    reload_real_tuning();
    tmptree_close(&t);
}

/* ---- clbench: help and errors ---- */

/* The clbench binary of CLCNN_TEST_BUILD, or NULL (the test is skipped). */
static const char *clbench_path(void) {
    static char path[1024];
    const char *b = getenv("CLCNN_TEST_BUILD");
    struct stat s;
    if (!b || !*b) {
        test_skip("CLCNN_TEST_BUILD is not set (make test sets it)");
        return NULL;
    }
    snprintf(path, sizeof path, "%s/clbench", b);
    if (stat(path, &s) != 0) {
        test_skip("no clbench in CLCNN_TEST_BUILD (make BUILD/clbench)");
        return NULL;
    }
    return path;
}

/* clbench's path with a scratch folder for its runs in *t (closed by the caller), or
 * NULL when the test is skipped (no build to run) or the folder cannot be made. */
static const char *clbench_open(tmptree *t) {
    const char *bin = clbench_path();
    return bin && tmptree_open(t, "clbench") ? bin : NULL;
}

typedef struct {
    int rc;
    char *out, *err;
} run_result;

/* Run `clbench ARGS` with stdout and stderr into files of t; rc -1 when it did not exit. */
static run_result run_clbench(const tmptree *t, const char *bin, const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s >%s/out 2>%s/err", bin, args, t->root, t->root);
    const int rc = system(cmd);
    run_result r = {rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc), NULL, NULL};
    size_t n;
    r.out = (char *)tu_read_file(tmptree_path(t, "out"), &n);
    r.err = (char *)tu_read_file(tmptree_path(t, "err"), &n);
    return r;
}

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

/* Run `clbench ARGS` (ARGS with --json) and parse its stdout: the object, or NULL after
 * a failed check that names the command, its exit status and its output. The caller
 * frees the object and r. */
static json_t *run_clbench_json(const tmptree *t, const char *bin, const char *args, run_result *r) {
    *r = run_clbench(t, bin, args);
    json_error_t jerr;
    json_t *root = r->out ? json_loads(r->out, 0, &jerr) : NULL;
    CHECK(r->rc == 0 && root, "clbench %s: exit %d, stdout %s, stderr %s", args, r->rc, r->out, r->err);
    return r->rc == 0 ? root : (json_decref(root), NULL);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

/* Usage errors: exit status 2 and one line on stderr that contains `want`. */
static void expect_usage_error(const tmptree *t, const char *bin, const char *args, const char *want) {
    run_result r = run_clbench(t, bin, args);
    CHECK(r.rc == 2, "clbench %s: exit %d, expected 2 (stderr: %s)", args, r.rc, r.err ? r.err : "");
    CHECK(r.err && count_lines(r.err) == 1 && strstr(r.err, want), "clbench %s: stderr \"%s\" should be one line with \"%s\"",
          args, r.err ? r.err : "", want);
    run_free(&r);
}

static void test_bench_clbench_errors(void) {
    tmptree t;
    const char *bin = clbench_open(&t);
    if (!bin) return;
    run_result r = run_clbench(&t, bin, "");
    CHECK(r.rc == 2 && r.err && strstr(r.err, "usage: clbench"), "no command: exit %d, stderr %s", r.rc, r.err);
    run_free(&r);
    r = run_clbench(&t, bin, "--help");
    CHECK(r.rc == 0 && r.out && strstr(r.out, "tune"), "--help: exit %d, stdout %s", r.rc, r.out);
    run_free(&r);
    static const char *const cmds[] = {"peak", "gemm", "conv", "ops", "model", "tune"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[64], want[64];
        snprintf(args, sizeof args, "%s --help", cmds[i]);
        snprintf(want, sizeof want, "usage: clbench %s", cmds[i]);
        r = run_clbench(&t, bin, args);
        CHECK(r.rc == 0 && r.out && strstr(r.out, want) && strstr(r.out, "--json") && strstr(r.out, "--device"),
              "clbench %s: exit %d, stdout %s", args, r.rc, r.out);
        run_free(&r);
        snprintf(args, sizeof args, "%s --bogus", cmds[i]);
        expect_usage_error(&t, bin, args, "--bogus is not an option");
    }
    expect_usage_error(&t, bin, "frobnicate", "unknown command 'frobnicate'");
    expect_usage_error(&t, bin, "model", "--arch is required");
    expect_usage_error(&t, bin, "ops --size 64", "--arch is required");
    expect_usage_error(&t, bin, "tune", "--arch is required");
    expect_usage_error(&t, bin, "model --arch resnet18 --mode fly", "unknown mode fly");
    expect_usage_error(&t, bin, "gemm --m 0", "--m needs a positive integer");
    expect_usage_error(&t, bin, "gemm --k", "--k needs a value");
    expect_usage_error(&t, bin, "conv --stride 0", "--stride needs a positive integer");
    expect_usage_error(&t, bin, "model --arch resnet18 --batch -3", "--batch needs a positive integer");
    /* A library error: exit 1, one line naming the cause. */
    r = run_clbench(&t, bin, "model --arch resnet7 --iters 1");
    CHECK(r.rc == 1 && r.err && count_lines(r.err) == 1 && strstr(r.err, "resnet7"), "unknown arch: exit %d, stderr %s",
          r.rc, r.err);
    run_free(&r);
    r = run_clbench(&t, bin, "model --arch compact --device no-such-device-name --iters 1");
    CHECK(r.rc == 1 && r.err && count_lines(r.err) == 1, "unknown device: exit %d, stderr %s", r.rc, r.err);
    run_free(&r);
    tmptree_close(&t);
}

/* model --json on a small net, in each mode: one JSON object with the promised keys. */
static void test_bench_clbench_model_json(void) {
    tmptree t;
    const char *bin = clbench_open(&t);
    if (!bin) return;
    static const char *const modes[] = {"infer", "train", "cam"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char args[128];
        snprintf(args, sizeof args, "model --arch compact --size 32 --batch 2 --iters 2 --mode %s --json", modes[i]);
        run_result r;
        json_t *root = run_clbench_json(&t, bin, args, &r);
        static const char *const keys[] = {"median_ms", "min_ms", "max_ms", "images_per_s", "first_ms"};
        for (size_t k = 0; root && k < sizeof keys / sizeof keys[0]; k++) {
            const double v = json_number_value(json_object_get(root, keys[k]));
            CHECK(v > 0 && isfinite(v), "clbench %s: %s = %g", args, keys[k], v);
        }
        CHECK(!root || json_is_string(json_object_get(root, "device")), "clbench %s: no device name", args);
        CHECK(!root || json_number_value(json_object_get(root, "min_ms")) <= json_number_value(json_object_get(root, "max_ms")),
              "clbench %s: min above max", args);
        json_decref(root);
        run_free(&r);
    }
    tmptree_close(&t);
}

/* gemm --json: both backends timed in the same run (interleaved), each with its figures,
 * and the ratio between them (to the 6 significant digits clbench prints). */
static void test_bench_clbench_gemm_json(void) {
    tmptree t;
    const char *bin = clbench_open(&t);
    if (!bin) return;
    run_result r;
    json_t *root = run_clbench_json(&t, bin, "gemm --m 40 --n 24 --k 16 --iters 3 --json", &r);
    json_t *results = json_object_get(root, "results");
    CHECK(!root || json_array_size(results) == 2, "clbench gemm: %zu results, expected 2", json_array_size(results));
    const int backends = clcnn_have_clblast() ? 2 : 1;
    for (int i = 0; i < backends && json_array_size(results) == 2; i++) {
        json_t *b = json_array_get(results, (size_t)i);
        const double median = json_number_value(json_object_get(b, "median_ms"));
        const double min = json_number_value(json_object_get(b, "min_ms"));
        const double gflops = json_number_value(json_object_get(b, "gflops"));
        CHECK(min > 0 && min <= median && gflops > 0 && isfinite(gflops), "clbench gemm result %d: min %g median %g GFLOP/s %g",
              i, min, median, gflops);
    }
    if (backends == 2 && json_array_size(results) == 2) {
        const double own = json_number_value(json_object_get(json_array_get(results, 0), "gflops"));
        const double blast = json_number_value(json_object_get(json_array_get(results, 1), "gflops"));
        const double ratio = json_number_value(json_object_get(root, "own_over_clblast"));
        CHECK(blast > 0 && fabs(ratio - own / blast) <= 1e-4 * ratio, "own_over_clblast %g, GFLOP/s %g and %g", ratio, own,
              blast);
    }
    json_decref(root);
    run_free(&r);
    tmptree_close(&t);
}

/* clbench peak on a cold start (no driver or library kernel cache, as on a fresh
 * machine) against the warm figure of this process: the first launch of a kernel
 * includes the driver's build, and a calibration that timed it ran the loop once and
 * reported launch overhead (4.8 for 197 GFLOP/s on PoCL). The bound is loose on
 * purpose: it catches a figure off by an order of magnitude, not load on the machine. */
static void test_bench_peak_cold_start(void) {
    tmptree t;
    const char *bin = clbench_open(&t);
    if (!bin) return;
    clcnn_peak warm = {0, 0};
    CHECK_OK(clcnn_measure_peak(g_ctx, &warm));
    char cmd[3072];
    snprintf(cmd, sizeof cmd, "env POCL_CACHE_DIR=%s/pocl XDG_CACHE_HOME=%s CLCNN_CACHE=off %s", t.root, t.root, bin);
    run_result r;
    json_t *root = run_clbench_json(&t, cmd, "peak --json", &r);
    const double cold = json_number_value(json_object_get(root, "fma_gflops"));
    printf("    peak: %.1f GFLOP/s cold, %.1f warm\n", cold, warm.fma_gflops);
    CHECK(!root || cold >= warm.fma_gflops / 4, "clbench peak on a cold start: %.1f GFLOP/s against %.1f warm", cold,
          warm.fma_gflops);
    json_decref(root);
    run_free(&r);
    tmptree_close(&t);
}

/* conv --json: each pass with a positive time, and the algorithms the forward and the
 * weight gradient run: Winograd for both from 32 tiles (batch 4 at 16x16: 64), Winograd
 * forward with a GEMM weight gradient below (batch 2 at 12x12: 18), GEMMs for 1x1 stride 2. */
static void test_bench_clbench_conv_json(void) {
    tmptree t;
    const char *bin = clbench_open(&t);
    if (!bin) return;
    static const char *const args[] = {"conv --batch 4 --cin 3 --size 16 --cout 5 --iters 2 --json",
                                       "conv --batch 2 --cin 3 --size 12 --cout 5 --iters 2 --json",
                                       "conv --batch 1 --cin 4 --size 9 --cout 6 --kernel 1 --stride 2 --iters 2 --json"};
    const char *gemm = gemm_conv_name(g_ctx); /* clbench runs the family this process does */
    const char *const algos[] = {"winograd-4x4", "winograd-4x4", gemm};
    const char *const wgrad_algos[] = {"winograd-4x4", gemm, gemm};
    for (int i = 0; i < 3; i++) {
        run_result r;
        json_t *root = run_clbench_json(&t, bin, args[i], &r);
        const char *algo = json_string_value(json_object_get(root, "algorithm"));
        CHECK(!root || (algo && !strcmp(algo, algos[i])), "clbench %s: algorithm %s, expected %s", args[i],
              algo ? algo : "(none)", algos[i]);
        const char *wgrad = json_string_value(json_object_get(root, "wgrad_algorithm"));
        CHECK(!root || (wgrad && !strcmp(wgrad, wgrad_algos[i])), "clbench %s: wgrad_algorithm %s, expected %s",
              args[i], wgrad ? wgrad : "(none)", wgrad_algos[i]);
        static const char *const passes[] = {"forward", "dX", "dW"};
        for (int p = 0; root && p < 3; p++) {
            const double ms = json_number_value(json_object_get(json_object_get(json_object_get(root, "passes"), passes[p]), "median_ms"));
            CHECK(ms > 0 && isfinite(ms), "clbench %s: %s median_ms = %g", args[i], passes[p], ms);
        }
        json_decref(root);
        run_free(&r);
    }
    tmptree_close(&t);
}

/* The kernel profile's row for the GEMM in err: the line that starts with `row`, whose
 * last column (GFLOP/s) must be a positive number; NULL if there is none. */
static const char *profile_row(const char *err, const char *row, double *gflops) {
    for (const char *line = err; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, row, strlen(row)) != 0) continue;
        const char *end = strchr(line, '\n'), *last = end ? end : line + strlen(line);
        while (last > line && last[-1] != ' ') last--;
        *gflops = atof(last);
        return line;
    }
    return NULL;
}

/* CLCNN_PROFILE_KERNELS=1: a table at exit with the GEMM's row and its GFLOP/s;
 * =shapes: the GEMM's rows split by shape (the forward of a 1x1 convolution of 64 to
 * 64 channels at 16x16 is a 64 x 256 x 64 GEMM), and with the CPU family's gemm_tiled,
 * which packs B first (" p"), the packing of that B (K x N) in a row of its own. The GPU
 * family runs gemm_local, which stages B in local memory instead. */
static void test_bench_kernel_profile(void) {
    tmptree t;
    const char *bin = clbench_open(&t);
    if (!bin) return;
    static const char *const modes[] = {"1", "shapes"};
    static const char *const tiled_rows[] = {"gemm_tiled ", "gemm_tiled 64x256x64 b1 p "};
    static const char *const local_rows[] = {"gemm_local ", "gemm_local 64x256x64 b1 "};
    for (int i = 0; i < 2; i++) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "CLCNN_PROFILE_KERNELS=%s %s", modes[i], bin);
        run_result r = run_clbench(&t, cmd, "conv --batch 1 --cin 64 --size 16 --cout 64 --kernel 1 --iters 2");
        double gflops = -1;
        const int staged = r.err && strstr(r.err, "\ngemm_local ");
        const char *const *rows = staged ? local_rows : tiled_rows;
        const char *row = r.err ? profile_row(r.err, rows[i], &gflops) : NULL;
        CHECK(r.rc == 0 && r.err && strstr(r.err, "CLCNN_PROFILE_KERNELS:"), "profile %s: exit %d, stderr %s", modes[i],
              r.rc, r.err);
        CHECK(row && gflops > 0 && isfinite(gflops), "profile %s: no row \"%s\" with GFLOP/s in %s", modes[i], rows[i],
              r.err ? r.err : "");
        if (i == 1 && !staged)
            CHECK(r.err && strstr(r.err, "\ngemm_pack_b 64x256 b1 "), "profile shapes: no packing row in %s",
                  r.err ? r.err : "");
        run_free(&r);
    }
    tmptree_close(&t);
}

/* scripts/gpu_bundle.sh: the programs and the libraries they load in one folder. With
 * that folder first on the library path, every library a program loads that the
 * bundle holds (OpenCL, CLBlast, libpng, libjpeg, cairo, ...) comes from there, and
 * `clcnn devices` runs from it. */
static void test_bench_gpu_bundle(void) {
    tmptree t;
    if (!clbench_path() || !tmptree_open(&t, "bundle")) return;
    const char *build = tmptree_build_dir();
    char dir[128];
    snprintf(dir, sizeof dir, "%s/b", t.root);
    CHECK(tmptree_run(&t, "bundle", "BUILD=%s sh scripts/gpu_bundle.sh %s", build, dir) == 0,
          "gpu_bundle.sh failed: see %s/bundle.err", t.root);
    static const char *const programs[] = {"clcnn_tests", "clcnn", "clbench", "make_synthetic"};
    static const char *const libs[] = {"libOpenCL.so.1", "libclblast.so.1", "libpng16.so.16", "libjpeg.so.62",
                                       "libcairo.so.2", "libjansson.so.4"};
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        CHECK(tmptree_run(&t, "ldd", "LD_LIBRARY_PATH=%s/lib ldd %s/%s", dir, dir, programs[i]) == 0,
              "ldd %s failed", programs[i]);
        char *out = tmptree_slurp(&t, "ldd.out");
        int found = 0;
        for (size_t k = 0; out && k < sizeof libs / sizeof libs[0]; k++) {
            char loaded[64], want[256];
            snprintf(loaded, sizeof loaded, "%s => ", libs[k]);
            snprintf(want, sizeof want, "%s => %s/lib/%s", libs[k], dir, libs[k]);
            if (!strstr(out, loaded)) continue; /* this program does not load it */
            found++;
            CHECK(strstr(out, want), "%s: %s not from the bundle:\n%s", programs[i], libs[k], out);
        }
        CHECK(found >= 2, "%s loads %d of the bundle's libraries:\n%s", programs[i], found, out ? out : "");
        free(out);
    }
    CHECK(tmptree_run(&t, "devices", "LD_LIBRARY_PATH=%s/lib %s/clcnn devices", dir, dir) == 0,
          "clcnn devices from the bundle failed: see %s/devices.err", t.root);
    tmptree_close(&t);
}

/* bench/compare.py (scripts/gpu_run.sh's compare step) on this device: the GEMM tables
 * at every size asked for, torch.mm's row measured when /usr/bin/python3 has PyTorch
 * and naming the failure when not; a run over --timeout is named in its row, the
 * tables still come, and the exit status is 1. */
static void test_bench_compare_tables(void) {
    tmptree t;
    if (!clbench_path()) return;
    if (access("/usr/bin/python3", X_OK) != 0) {
        test_skip("no /usr/bin/python3");
        return;
    }
    if (!tmptree_open(&t, "compare")) return;
    const char *build = tmptree_build_dir();
    const int torch = system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
    int rc = tmptree_run(&t, "gemm", "/usr/bin/python3 bench/compare.py --build %s --set gpu --only 0 "
                         "--gemm-sizes 64,96 --rounds 1 --timeout 120", build);
    char *out = tmptree_slurp(&t, "gemm.out");
    CHECK(out && strstr(out, "| GEMM 64³ fp32 |") && strstr(out, "| GEMM 96³ fp32 |"), "no GEMM tables:\n%s",
          out ? out : "(none)");
    const char *own = out ? strstr(out, "| clcnn own kernel | ") : NULL;
    CHECK(own && strstr(own + 1, "| clcnn own kernel | "), "not two rows of our GEMM:\n%s", out ? out : "");
    if (torch) {
        CHECK(rc == 0, "compare.py exit %d with PyTorch present: see %s/gemm.err", rc, t.root);
        CHECK(out && strstr(out, "| PyTorch torch.mm (cpu) | ") && !strstr(out, "torch.mm: exit"),
              "torch.mm not measured:\n%s", out ? out : "");
    } else {
        CHECK(rc == 1 && out && strstr(out, "torch.mm: exit 1"), "exit %d; without PyTorch the row should say so:\n%s",
              rc, out ? out : "");
    }
    free(out);
    rc = tmptree_run(&t, "slow", "/usr/bin/python3 bench/compare.py --build %s --set cpu --only 4 --gemm-sizes 32 "
                     "--rounds 1 --timeout 1", build);
    out = tmptree_slurp(&t, "slow.out");
    CHECK(rc == 1 && out && strstr(out, "| ResNet-50 inference, batch 1, 224² | - | - | ") && strstr(out, "over 1 s") &&
              strstr(out, "| GEMM 32³ fp32 |"),
          "a run over --timeout: exit %d, want 1 and its row named:\n%s", rc, out ? out : "(none)");
    free(out);
    tmptree_close(&t);
}

const test_case test_bench_cases[] = {{"bench_peak", test_bench_peak},
                                      {"bench_tuning_file", test_bench_tuning_file},
                                      {"bench_tune", test_bench_tune},
                                      {"bench_tuning_local_tile", test_bench_tuning_local_tile},
                                      {"bench_clbench_errors", test_bench_clbench_errors},
                                      {"bench_clbench_model_json", test_bench_clbench_model_json},
                                      {"bench_clbench_gemm_json", test_bench_clbench_gemm_json},
                                      {"bench_peak_cold_start", test_bench_peak_cold_start},
                                      {"bench_clbench_conv_json", test_bench_clbench_conv_json},
                                      {"bench_kernel_profile", test_bench_kernel_profile},
                                      {"bench_gpu_bundle", test_bench_gpu_bundle},
                                      {"bench_compare_tables", test_bench_compare_tables},
                                      {NULL, NULL}};
