/* test_runner.c: the runner itself: a test that crashes is counted as failed and the
 * tests after it still run (main.c's crash handler); CLCNN_TEST_EXCLUDE leaves tests
 * out as skipped, with the reason. */
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tmptree.h"

static void test_runner_goes_on_after_a_crash(void) {
    const char *b = tmptree_build_dir();
    if (!b) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!tmptree_open(&t, "runner")) return;
    /* Two tests selected; the first crashes (SIGSEGV) as it starts. */
    const int rc = tmptree_run(&t, "suite", "CLCNN_TEST_CRASH_AT=launch_fit_local CLCNN_TEST_NO_RESUME= "
                                            "%s/clcnn_tests launch_fit_local runtime_default_device_ranking", b);
    char *out = tmptree_slurp(&t, "suite.out");
    CHECK(rc == 1, "the suite with a crash exited %d, want 1 (failed)", rc);
    CHECK(out && strstr(out, "FAIL launch_fit_local (crashed: signal 11)"), "no FAIL line for the crash:\n%s",
          out ? out : "");
    CHECK(out && strstr(out, "ok   runtime_default_device_ranking"), "the test after the crash did not run:\n%s",
          out ? out : "");
    const char *last = out ? strstr(out, "1 passed, 1 failed\n") : NULL;
    CHECK(last && last[strlen("1 passed, 1 failed\n")] == 0, "the summary is not \"1 passed, 1 failed\":\n%s",
          out ? out : "");
    free(out);
    tmptree_close(&t);
}

/* Three tests selected, one excluded by substring and one by exact name: one runs, two
 * are skipped with CLCNN_TEST_EXCLUDE_WHY, and the summary counts them so. */
static void test_runner_excludes(void) {
    const char *b = tmptree_build_dir();
    if (!b) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!tmptree_open(&t, "runner")) return;
    const int rc = tmptree_run(&t, "suite", "CLCNN_TEST_EXCLUDE='fit_loc =runtime_default_device_ranking' "
                                            "CLCNN_TEST_EXCLUDE_WHY='a reason' %s/clcnn_tests launch_fit_local "
                                            "runtime_default_device_ranking =op_log_softmax", b);
    char *out = tmptree_slurp(&t, "suite.out");
    CHECK(rc == 0, "the suite with exclusions exited %d, want 0", rc);
    CHECK(out && strstr(out, "skip launch_fit_local: CLCNN_TEST_EXCLUDE leaves it out (a reason)") &&
              strstr(out, "skip runtime_default_device_ranking: CLCNN_TEST_EXCLUDE leaves it out (a reason)") &&
              strstr(out, "ok   op_log_softmax") && strstr(out, "1 passed, 0 failed, 2 skipped\n"),
          "want launch_fit_local and runtime_default_device_ranking skipped, op_log_softmax run:\n%s", out ? out : "");
    free(out);
    tmptree_close(&t);
}

const test_case test_runner_cases[] = {{"runner_goes_on_after_a_crash", test_runner_goes_on_after_a_crash},
                                       {"runner_excludes", test_runner_excludes},
                                       {NULL, NULL}};
