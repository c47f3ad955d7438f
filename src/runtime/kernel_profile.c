/* kernel_profile.c: per-kernel launch times for CLCNN_PROFILE_KERNELS=1, and per GEMM
 * shape for CLCNN_PROFILE_KERNELS=shapes (kernel_profile.h). */
#include "runtime/kernel_profile.h"
#include "runtime/error.h"
#include "runtime/clock.h"
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KPROF_MAX 512
#define KPROF_NAME 96

typedef struct {
    char name[KPROF_NAME];  /* the kernel's, with the launch's shape when profiling shapes */
    unsigned long launches; /* after the first */
    double ms;              /* their total */
    double flops;           /* their floating-point work, where the launcher said (0: unknown) */
    double first_ms;        /* the first launch, apart: it includes a driver's lazy build */
} kprof_entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static kprof_entry entries[KPROF_MAX];
static int nentries;

static int by_time(const void *a, const void *b) {
    const double x = ((const kprof_entry *)a)->ms, y = ((const kprof_entry *)b)->ms;
    return (x < y) - (x > y);
}

/* Three significant digits at least: a software GPU (llvmpipe) runs a GEMM at
 * 0.02 GFLOP/s, which one fixed decimal would print as 0.0. */
static int gflops_decimals(double gflops) {
    const int decimals = gflops >= 100 ? 0 : gflops >= 10 ? 1 : gflops >= 1 ? 2 : 2 - (int)floor(log10(gflops));
    return decimals > 9 ? 9 : decimals;
}

/* The table, a log message (CLCNN_LOG_INFO) per line: the library never prints, and
 * the tools show info messages as they are. */
static void report_table(void) {
    pthread_mutex_lock(&lock);
    double total = 0;
    for (int i = 0; i < nentries; i++) total += entries[i].ms;
    qsort(entries, (size_t)nentries, sizeof entries[0], by_time);
    rt_log(CLCNN_LOG_INFO, "CLCNN_PROFILE_KERNELS: %.1f ms in %d kernels (queue drained around each launch; each "
           "kernel's first", total, nentries);
    rt_log(CLCNN_LOG_INFO, "launch, which includes a lazy build, is shown apart and left out of the totals)");
    rt_log(CLCNN_LOG_INFO, "%-36s %9s %11s %9s %7s %9s %8s", "kernel", "launches", "total ms", "mean ms", "share",
           "first ms", "GFLOP/s");
    for (int i = 0; i < nentries; i++) {
        const kprof_entry *e = &entries[i];
        char gflops[32] = "";
        if (e->flops > 0 && e->ms > 0) {
            const double g = e->flops / e->ms * 1e-6;
            snprintf(gflops, sizeof gflops, " %8.*f", gflops_decimals(g), g);
        }
        rt_log(CLCNN_LOG_INFO, "%-36s %9lu %11.2f %9.3f %6.1f%% %9.2f%s", e->name, e->launches, e->ms,
               e->launches ? e->ms / (double)e->launches : 0.0, total > 0 ? 100.0 * e->ms / total : 0.0, e->first_ms,
               gflops);
    }
    pthread_mutex_unlock(&lock);
}

static int enabled = -1, by_shape;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void read_env(void) {
    const char *v = getenv("CLCNN_PROFILE_KERNELS");
    enabled = v && *v && strcmp(v, "0") != 0;
    by_shape = enabled && !strcmp(v, "shapes");
    if (enabled) atexit(report_table);
}

/* What the next launch on this thread does (rt_kprofile_work). */
static _Thread_local char work_shape[48];
static _Thread_local double work_flops;

void rt_kprofile_work(double flops, const char *shape_format, ...) {
    if (!rt_kprofile_on()) return;
    va_list ap;
    va_start(ap, shape_format);
    vsnprintf(work_shape, sizeof work_shape, shape_format, ap);
    va_end(ap);
    work_flops = flops;
}

int rt_kprofile_on(void) {
    pthread_once(&once, read_env);
    return enabled;
}

double rt_kprofile_start(cl_command_queue queue) {
    clFinish(queue);
    return clock_now_ms();
}

void rt_kprofile_end(cl_command_queue queue, cl_kernel kernel, double start_ms) {
    clFinish(queue);
    const double ms = clock_now_ms() - start_ms;
    char name[KPROF_NAME] = "?";
    clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    name[sizeof name - 1] = '\0';
    const double flops = work_flops;
    if (by_shape && work_shape[0]) {
        const size_t len = strlen(name);
        snprintf(name + len, sizeof name - len, " %s", work_shape);
    }
    work_shape[0] = '\0';
    work_flops = 0;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < nentries && strcmp(entries[i].name, name) != 0) i++;
    if (i < nentries) {
        entries[i].launches++;
        entries[i].ms += ms;
        entries[i].flops += flops;
    } else if (nentries < KPROF_MAX) { /* its first launch */
        memcpy(entries[nentries].name, name, sizeof name);
        entries[nentries++].first_ms = ms;
    }
    pthread_mutex_unlock(&lock);
}
