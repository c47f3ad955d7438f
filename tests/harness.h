/* harness.h: the test suite's tiny framework.
 * A test is a function returning void that reports through CHECK*; the runner
 * (tests/main.c) counts a test as failed when any of its checks failed, and ends
 * with the line "N passed, M failed[, K skipped]". */
#ifndef CLCNN_TEST_HARNESS_H
#define CLCNN_TEST_HARNESS_H

#include <stdio.h>
#include <stdint.h>
#include "clcnn.h"
#include "runtime/random.h"

/* The context every test shares (created once by the runner on the test device). */
extern clcnn_context *g_ctx;
/* Seed printed at start; each test derives its own random stream from it. */
extern uint64_t g_seed;

/* Record a failed check with a printf-style message. */
void test_fail(const char *file, int line, const char *fmt, ...);
/* Mark the current test as skipped, with the reason. */
void test_skip(const char *reason);
/* Number of failures recorded in the current test so far. */
int test_failures(void);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__);                                   \
    } while (0)

/* Check a clcnn call returned CLCNN_OK; on failure print the status and last error. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        clcnn_status st_ = (expr);                                                                 \
        if (st_ != CLCNN_OK)                                                                       \
            test_fail(__FILE__, __LINE__, "%s -> %d (%s): %s", #expr, st_, clcnn_status_str(st_),  \
                      clcnn_last_error(g_ctx));                                                    \
    } while (0)

/* Check a clcnn call returned the expected error status. */
#define CHECK_STATUS(expr, want)                                                                   \
    do {                                                                                           \
        clcnn_status st_ = (expr);                                                                 \
        if (st_ != (want))                                                                         \
            test_fail(__FILE__, __LINE__, "%s -> %d (%s), expected %d (%s)", #expr, st_,           \
                      clcnn_status_str(st_), (int)(want), clcnn_status_str(want));                 \
    } while (0)

/* Deterministic random numbers (the library's splitmix64, src/runtime/random.h). */
typedef struct { uint64_t s; } test_rng;
static inline uint64_t test_rng_next(test_rng *r) { return rt_splitmix64(&r->s); }
/* Uniform in [lo, hi). */
static inline float test_rng_uniform(test_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((test_rng_next(r) >> 40) * (1.0 / 16777216.0));
}
/* Integer in [lo, hi]. */
static inline int test_rng_int(test_rng *r, int lo, int hi) {
    return lo + (int)(test_rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* CLCNN_TEST_SMALL=1 (set by scripts/oclgrind.sh): the op tests keep every kernel and
 * every code path (tails, tiles, modes) but run fewer random cases and smaller fixed
 * shapes, so that a checking device such as Oclgrind gets through them in minutes.
 * test_small() says whether it is set; test_reps(n, small) is n, or at most `small`
 * when it is (the first cases of a random stream are the same either way). */
int test_small(void);
int test_reps(int n, int small);
/* An extent v, or under CLCNN_TEST_SMALL at most cap with v's parity (odd stays odd). */
int test_cap(int v, int cap);

/* Path of a golden file: tests/golden/FILE, or $CLCNN_TEST_DATA/FILE (static buffer). */
const char *test_golden_path(const char *file);

/* One registered test. */
typedef struct {
    const char *name;
    void (*fn)(void);
} test_case;

#endif
