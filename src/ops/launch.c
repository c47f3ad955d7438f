/* launch.c: how the ops launch their kernels on top of the runtime's rt_launch: 1-D
 * element-wise grids at the device's preferred size, and one-group final sums whose
 * size is a build option (ops.h). */
#include <stdio.h>
#include <stdlib.h>
#include "ops/ops.h"

clcnn_status ops_launch_1d(clcnn_context *ctx, cl_kernel k, const char *what, int nargs, const rt_karg *args,
                             size_t total) {
    return rt_launch(ctx, k, what, nargs, args, 1, &total, rt_elementwise_local(ctx));
}

clcnn_status ops_get_reduce_kernel(clcnn_context *ctx, const char *file, const char *name, cl_kernel *k,
                                     size_t *wg) {
    size_t g = 64;
    const char *cap = getenv("CLCNN_RED_WG"); /* a smaller group for simulators (oclgrind.sh) */
    if (cap && atoi(cap) >= 1 && atoi(cap) < 64) g = (size_t)atoi(cap);
    while (g & (g - 1)) g &= g - 1; /* a power of two */
    while (g > 1 && g > ctx->dev.info.max_work_group_size) g /= 2;
    for (;;) { /* the build may allow fewer work-items than the device: build it again for those */
        char opts[32];
        snprintf(opts, sizeof opts, "-DRED_WG=%zu", g);
        clcnn_status st = rt_get_kernel(ctx, file, name, opts, k);
        if (st != CLCNN_OK) return st;
        const size_t limit = rt_kernel_limits_of(ctx, *k).work_group_max;
        if (g == 1 || !limit || g <= limit) break;
        while (g > 1 && g > limit) g /= 2;
    }
    *wg = g;
    return CLCNN_OK;
}

clcnn_status ops_launch_group(clcnn_context *ctx, cl_kernel k, const char *what, int nargs, const rt_karg *args,
                                size_t wg) {
    return rt_launch_exact(ctx, k, what, nargs, args, 1, &wg, &wg);
}
