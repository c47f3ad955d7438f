/* transpose.c: the GPU family's batched transpose through local-memory tiles
 * (cl/transpose.cl), for dY in pixel-major order and B operands of the GEMM. */
#include <stdio.h>
#include "ops/ops.h"

/* transpose_tiles built for the largest TS x TR (32 x 8 down to 16 x 1) that the device
 * allows this kernel and its work-item sizes. */
static clcnn_status tiles_kernel(clcnn_context *ctx, cl_kernel *k, int *ts, int *tr) {
    int s = 32, r = 8;
    for (;;) {
        char opts[48];
        snprintf(opts, sizeof opts, "-DTS=%d -DTR=%d", s, r);
        clcnn_status st = rt_get_kernel(ctx, "transpose.cl", "transpose_tiles", opts, k);
        if (st != CLCNN_OK) return st;
        const size_t limit = rt_kernel_limits_of(ctx, *k).work_group_max;
        const int fits = (!limit || (size_t)(s * r) <= limit) &&
                         (!ctx->max_item_sizes[0] || ((size_t)s <= ctx->max_item_sizes[0] &&
                                                      (size_t)r <= ctx->max_item_sizes[1]));
        if (fits || (s == 16 && r == 1)) break;
        if (r > 1) r /= 2;
        else s /= 2;
    }
    *ts = s;
    *tr = r;
    return CLCNN_OK;
}

clcnn_status ops_transpose_tiles(clcnn_context *ctx, const char *what, cl_mem src, int src_off, cl_mem dst,
                                   int dst_off, int batch, int rows, int cols) {
    cl_kernel k;
    int ts, tr;
    clcnn_status st = tiles_kernel(ctx, &k, &ts, &tr);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_MEM(src), KARG_INT(src_off), KARG_MEM(dst), KARG_INT(dst_off), KARG_INT(rows),
                               KARG_INT(cols)};
    const size_t global[3] = {(size_t)(cols + ts - 1) / ts * ts, (size_t)(rows + ts - 1) / ts * tr, (size_t)batch};
    const size_t local[3] = {(size_t)ts, (size_t)tr, 1};
    return rt_launch_exact(ctx, k, what, KARG_LIST(args), 3, global, local);
}
