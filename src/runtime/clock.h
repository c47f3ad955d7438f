/* clock.h: the monotonic clock the library and its tests time things with (never the
 * wall clock, which jumps). Header-only and OpenCL-free. */
#ifndef CLCNN_RUNTIME_CLOCK_H
#define CLCNN_RUNTIME_CLOCK_H

#include <time.h>

static inline double clock_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double clock_now_ms(void) { return clock_now_s() * 1e3; }

#endif
