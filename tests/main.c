/* main.c: the test runner. Runs every registered test on the default device (or
 * CLCNN_DEVICE), prints one line per test and ends with "N passed, M failed".
 * usage: clcnn_tests [NAME-SUBSTRING...]; CLCNN_TEST_SEED overrides the seed. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "harness.h"

extern const test_case test_runtime_cases[];
extern const test_case test_api_cases[];
extern const test_case test_ops_cases[];
extern const test_case test_tiles_cases[];
extern const test_case test_net_cases[];
extern const test_case test_grad_conv_cases[];
extern const test_case test_grad_norm_cases[];
extern const test_case test_grad_eltwise_cases[];
extern const test_case test_train_ops_cases[];
extern const test_case test_graph_cases[];
extern const test_case test_train_cases[];
extern const test_case test_weights_io_cases[];
extern const test_case test_image_cases[];
extern const test_case test_preprocess_cases[];
extern const test_case test_dataset_cases[];
extern const test_case test_loader_cases[];
extern const test_case test_metrics_cases[];
extern const test_case test_render_cases[];
extern const test_case test_cam_cases[];
extern const test_case test_zoo_cases[];
extern const test_case test_tool_cases[];
extern const test_case test_winograd_cases[];
extern const test_case test_graph_fast_cases[];
extern const test_case test_backward_fast_cases[];
extern const test_case test_bench_cases[];
extern const test_case test_faults_cases[];
extern const test_case test_fuzz_regress_cases[];

clcnn_context *g_ctx;
uint64_t g_seed = 20261121;

static int current_failures;
static const char *skip_reason;

void test_fail(const char *file, int line, const char *fmt, ...) {
    if (current_failures++ >= 20) return; /* keep a broken test's output readable */
    va_list ap;
    va_start(ap, fmt);
    printf("    %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

void test_skip(const char *reason) { skip_reason = reason; }
int test_failures(void) { return current_failures; }

const char *test_golden_path(const char *file) {
    static char path[1024];
    const char *dir = getenv("CLCNN_TEST_DATA");
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/golden", file);
    return path;
}

static int selected(const char *name, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(name, argv[i])) return 1;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *seed_env = getenv("CLCNN_TEST_SEED");
    if (seed_env && *seed_env) g_seed = strtoull(seed_env, NULL, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);

    clcnn_status st = clcnn_context_create(-1, &g_ctx);
    if (st != CLCNN_OK) {
        printf("cannot create a context on the default device: %s (%s)\n", clcnn_last_error(NULL), clcnn_status_str(st));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    clcnn_device_info info;
    clcnn_context_get_device_info(g_ctx, &info);
    printf("device: %s / %s (%s)\nseed: %llu (set CLCNN_TEST_SEED to repeat another)\n", info.platform, info.name,
           info.opencl_c_version, (unsigned long long)g_seed);

    const test_case *lists[] = {test_runtime_cases, test_api_cases, test_ops_cases, test_tiles_cases, test_net_cases,
                                 test_grad_conv_cases, test_grad_norm_cases, test_grad_eltwise_cases,
                                 test_train_ops_cases, test_graph_cases, test_train_cases,
                                 test_weights_io_cases, test_image_cases, test_preprocess_cases,
                                 test_dataset_cases, test_loader_cases, test_metrics_cases, test_render_cases,
                                 test_cam_cases, test_zoo_cases, test_tool_cases, test_winograd_cases,
                                 test_graph_fast_cases, test_backward_fast_cases, test_bench_cases,
                                 test_faults_cases, test_fuzz_regress_cases};
    int passed = 0, failed = 0, skipped = 0;
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        for (const test_case *t = lists[l]; t->name; t++) {
            if (!selected(t->name, argc, argv)) continue;
            current_failures = 0;
            skip_reason = NULL;
            printf("%s ...\n", t->name);
            double t0 = now_s();
            t->fn();
            double dt = now_s() - t0;
            if (current_failures) {
                printf("FAIL %s (%d failed checks, %.2f s)\n", t->name, current_failures, dt);
                failed++;
            } else if (skip_reason) {
                printf("skip %s: %s\n", t->name, skip_reason);
                skipped++;
            } else {
                printf("ok   %s (%.2f s)\n", t->name, dt);
                passed++;
            }
        }
    clcnn_context_destroy(g_ctx);
    if (skipped) printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
