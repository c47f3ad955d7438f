/* cli.h: small helpers shared by the command-line programs (clcnn, clbench):
 * option values, errors as one line on stderr, wall-clock time, and opening a
 * context on the device the user named. Uses only the public API. */
#ifndef CLCNN_TOOLS_CLI_H
#define CLCNN_TOOLS_CLI_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clcnn.h"

/* Print "PROG: message" and return the exit status for a failure. */
static inline int cli_fail(const char *prog, const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 1;
}

/* A failed library call: the status and the library's own explanation. */
static inline int cli_fail_status(const char *prog, const clcnn_context *ctx, clcnn_status st) {
    fprintf(stderr, "%s: %s (%s)\n", prog, clcnn_last_error(ctx), clcnn_status_str(st));
    return 1;
}

/* The value of option argv[*i] ("--name VALUE"), advancing *i; NULL if missing. */
static inline const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

/* Parse a positive integer option value; 0 on error. */
static inline int cli_positive_int(const char *s) {
    if (!s) return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == 0 && v > 0 && v < (1L << 30) ? (int)v : 0;
}

static inline double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Forward the library's messages to stderr (the library never prints): errors and
 * warnings named so, debug messages too; info messages (CLCNN_PROFILE_KERNELS's table
 * at exit, the tuner's report) as they are. */
static inline void cli_log(clcnn_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == CLCNN_LOG_INFO) fprintf(stderr, "%s\n", msg);
    else fprintf(stderr, "clcnn %s: %s\n", level >= CLCNN_LOG_ERROR ? "error" : level >= CLCNN_LOG_WARN ? "warning" : "debug",
                 msg);
}

/* Install the log callback above, once per program: threads that open contexts at the
 * same time (clcnn train --devices) do not write it over each other. Warnings and
 * errors; info too under CLCNN_PROFILE_KERNELS (its table), all under CLCNN_VERBOSE. */
static inline void cli_log_install_once(void) {
    const char *profile = getenv("CLCNN_PROFILE_KERNELS");
    const int info = profile && *profile && strcmp(profile, "0") != 0;
    clcnn_set_log_callback(cli_log, NULL,
                           getenv("CLCNN_VERBOSE") ? CLCNN_LOG_DEBUG : info ? CLCNN_LOG_INFO : CLCNN_LOG_WARN);
}

static inline void cli_log_install(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cli_log_install_once);
}

/* A context for one of the ranks of a data-parallel run (local_rank >= 0: its device by
 * clcnn_device_select_rank), or as cli_open (local_rank < 0). */
static inline clcnn_status cli_open_rank(const char *prog, const char *spec, int local_rank, clcnn_context **ctx) {
    cli_log_install();
    int index;
    clcnn_status st = local_rank < 0 ? clcnn_device_select(spec, &index) : clcnn_device_select_rank(spec, local_rank, &index);
    if (st == CLCNN_OK) st = clcnn_context_create(index, ctx);
    if (st != CLCNN_OK) cli_fail_status(prog, NULL, st);
    return st;
}

/* A context on the device named by spec (NULL: CLCNN_DEVICE or the default). */
static inline clcnn_status cli_open(const char *prog, const char *spec, clcnn_context **ctx) {
    return cli_open_rank(prog, spec, -1, ctx);
}

static inline int cli_median_cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place and returns its median. */
static inline double cli_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cli_median_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
