/* main.c: the test runner. Runs every registered test on the default device (or
 * CLCNN_DEVICE), prints one line per test and ends with "N passed, M failed".
 * usage: clcnn_tests [NAME-SUBSTRING | =NAME ...]; CLCNN_TEST_SEED overrides the seed.
 *
 * A test that crashes (a signal: SIGSEGV, SIGBUS, SIGILL, SIGABRT) is counted
 * as failed and the suite goes on: the handler starts the runner again in the same
 * process (execve) with CLCNN_TEST_RESUME=NEXT:PASSED:FAILED:SKIPPED, so one broken test
 * on a new driver does not hide the results of the others. CLCNN_TEST_NO_RESUME=1 keeps
 * the default handlers (a core dump, or AddressSanitizer's report of the crash). */
#define _XOPEN_SOURCE 700 /* sigaltstack */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "runtime/clock.h"

extern char **environ;

extern const test_case test_runtime_cases[];
extern const test_case test_launch_cases[];
extern const test_case test_runner_cases[];
extern const test_case test_api_cases[];
extern const test_case test_ops_cases[];
extern const test_case test_op_table_cases[];
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
extern const test_case test_fit_cases[];
extern const test_case test_tool_step_cases[];
extern const test_case test_tool_options_cases[];
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
extern const test_case test_dist_cases[];
extern const test_case test_tool_dist_cases[];

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

/* ---- going on after a crash ---- */

static char **resume_argv;
static char **resume_envp;      /* environ at start, without CLCNN_TEST_RESUME, then resume_var */
static char resume_var[96];     /* written before each test: what the next process starts from */
static char crash_line[256];    /* written before each test: its FAIL line */
static char alt_stack[1 << 16]; /* so that a stack overflow can be reported too */

static void on_crash(int sig) {
    char line[320];
    const int n = snprintf(line, sizeof line, "%s: signal %d); the suite goes on in a new process\n", crash_line, sig);
    if (n > 0 && write(STDOUT_FILENO, line, (size_t)n) < 0) _exit(2);
    execve("/proc/self/exe", resume_argv, resume_envp);
    _exit(2); /* could not start again: the summary is lost, the exit status says failed */
}

static void install_crash_handlers(char **argv) {
    const char *off = getenv("CLCNN_TEST_NO_RESUME");
    if (off && *off && strcmp(off, "0")) return;
    size_t n = 0;
    while (environ[n]) n++;
    resume_envp = calloc(n + 2, sizeof *resume_envp);
    if (!resume_envp) return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "CLCNN_TEST_RESUME=", 18)) resume_envp[k++] = environ[i];
    resume_envp[k++] = resume_var;
    resume_argv = argv;
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    /* Not SIGFPE: PoCL handles it for integer division in kernels. LLVM's handlers for the
     * others (loaded by the drivers) only print a compiler's stack and die. */
    const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

static int selected(const char *name, int argc, char **argv) {
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '=' ? !strcmp(name, argv[i] + 1) : strstr(name, argv[i]) != NULL) return 1;
    return 0;
}

/* CLCNN_TEST_EXCLUDE: tests this run leaves out, written as on the command line
 * (space-separated substrings, or =NAME for exactly NAME); each is reported as skipped,
 * with CLCNN_TEST_EXCLUDE_WHY as the reason (the Makefile's SAN=1 and test-gpu-class
 * runs leave to the plain run what they would only repeat). */
static int excluded(const char *name) {
    const char *list = getenv("CLCNN_TEST_EXCLUDE");
    char word[128];
    for (const char *p = list ? list : ""; *p;) {
        while (*p == ' ') p++;
        size_t n = strcspn(p, " ");
        if (n && n < sizeof word) {
            memcpy(word, p, n);
            word[n] = 0;
            if (word[0] == '=' ? !strcmp(name, word + 1) : strstr(name, word) != NULL) return 1;
        }
        p += n;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *seed_env = getenv("CLCNN_TEST_SEED");
    if (seed_env && *seed_env) g_seed = strtoull(seed_env, NULL, 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, failed = 0, skipped = 0, first = 0;
    const char *resume = getenv("CLCNN_TEST_RESUME");
    if (resume && sscanf(resume, "%d:%d:%d:%d", &first, &passed, &failed, &skipped) != 4) {
        printf("CLCNN_TEST_RESUME=%s: want NEXT:PASSED:FAILED:SKIPPED\n0 passed, 1 failed\n", resume);
        return 1;
    }
    const char *crash_at = getenv("CLCNN_TEST_CRASH_AT"); /* a test name: crash there (test_runner.c) */
    if (resume) printf("resuming at test %d after a crash\n", first);

    clcnn_status st = clcnn_context_create(-1, &g_ctx);
    if (st != CLCNN_OK) {
        printf("cannot create a context on the default device: %s (%s)\n", clcnn_last_error(NULL), clcnn_status_str(st));
        printf("0 passed, 1 failed\n");
        return 1;
    }
    install_crash_handlers(argv); /* after the driver has set up: PoCL installs handlers of its own */
    clcnn_device_info info;
    clcnn_context_get_device_info(g_ctx, &info);
    printf("device: %s / %s (%s)\nseed: %llu (set CLCNN_TEST_SEED to repeat another)\n", info.platform, info.name,
           info.opencl_c_version, (unsigned long long)g_seed);

    const test_case *lists[] = {test_runtime_cases, test_launch_cases, test_api_cases, test_ops_cases, test_op_table_cases, test_tiles_cases, test_net_cases,
                                 test_grad_conv_cases, test_grad_norm_cases, test_grad_eltwise_cases,
                                 test_train_ops_cases, test_graph_cases, test_train_cases, test_dist_cases,
                                 test_weights_io_cases, test_image_cases, test_preprocess_cases, test_fit_cases,
                                 test_dataset_cases, test_loader_cases, test_metrics_cases, test_render_cases,
                                 test_cam_cases, test_zoo_cases, test_tool_cases, test_tool_step_cases, test_tool_dist_cases, test_tool_options_cases,
                                 test_winograd_cases,
                                 test_graph_fast_cases, test_backward_fast_cases, test_bench_cases,
                                 test_faults_cases, test_fuzz_regress_cases, test_runner_cases};
    int ordinal = 0;
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        for (const test_case *t = lists[l]; t->name; t++, ordinal++) {
            if (ordinal < first || !selected(t->name, argc, argv)) continue;
            snprintf(resume_var, sizeof resume_var, "CLCNN_TEST_RESUME=%d:%d:%d:%d", ordinal + 1, passed, failed + 1,
                     skipped);
            snprintf(crash_line, sizeof crash_line, "FAIL %s (crashed", t->name);
            current_failures = 0;
            skip_reason = NULL;
            if (excluded(t->name)) {
                const char *why = getenv("CLCNN_TEST_EXCLUDE_WHY");
                printf("skip %s: CLCNN_TEST_EXCLUDE leaves it out (%s)\n", t->name, why && *why ? why : "no reason given");
                skipped++;
                continue;
            }
            printf("%s ...\n", t->name);
            if (crash_at && !strcmp(crash_at, t->name)) raise(SIGSEGV); /* test_runner.c's probe */
            double t0 = clock_now_s();
            t->fn();
            double dt = clock_now_s() - t0;
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
