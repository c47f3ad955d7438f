/* reduce.c: the GPU family's two-level sums over long rows (cl/reduce.cl): a
 * work-group per row writes one partial, then row_totals adds each row's partials in
 * a fixed order, so results do not depend on scheduling. */
#include "ops/ops.h"

/* Launch kernel k, built with RED_WG = wg, with one group of wg work-items per item of
 * the grid `items` (dims - 1 dimensions). */
static clcnn_status launch_rows(clcnn_context *ctx, cl_kernel k, const char *what, int nargs,
                                const rt_karg *args, cl_uint dims, const size_t *items, size_t wg) {
    size_t global[3] = {wg, 1, 1}, local[3] = {wg, 1, 1};
    for (cl_uint i = 1; i < dims; i++) global[i] = items[i - 1];
    return rt_launch_exact(ctx, k, what, nargs, args, dims, global, local);
}

clcnn_status ops_reduce_kernel_rows(clcnn_context *ctx, const char *file, const char *name, const char *what,
                                      int nargs, const rt_karg *args, cl_uint dims, const size_t *items) {
    cl_kernel k;
    size_t wg;
    clcnn_status st = ops_get_reduce_kernel(ctx, file, name, &k, &wg);
    return st != CLCNN_OK ? st : launch_rows(ctx, k, what, nargs, args, dims, items, wg);
}

clcnn_status ops_add_row_totals(clcnn_context *ctx, const char *what, const clcnn_tensor *part, int rows, int J,
                                  clcnn_tensor *out) {
    const rt_karg args[] = {KARG_TENSOR(part), KARG_TENSOR(out), KARG_INT(J)};
    const size_t items[1] = {(size_t)rows};
    return ops_reduce_kernel_rows(ctx, "reduce.cl", "row_totals", what, KARG_LIST(args), 2, items);
}

clcnn_status ops_plane_dots(clcnn_context *ctx, const char *what, const clcnn_tensor *a, const clcnn_tensor *b,
                              int planes, int P, float scale, clcnn_tensor *out) {
    const rt_karg args[] = {KARG_TENSOR(a), KARG_TENSOR(b), KARG_TENSOR(out), KARG_INT(P), KARG_FLOAT(scale)};
    const size_t items[1] = {(size_t)planes};
    return ops_reduce_kernel_rows(ctx, "reduce.cl", "plane_dots", what, KARG_LIST(args), 2, items);
}

clcnn_status ops_add_channel_sums(clcnn_context *ctx, const char *what, const clcnn_tensor *src, int N, int C,
                                    int P, clcnn_tensor *out) {
    clcnn_tensor *part = NULL;
    clcnn_status st = rt_scratch(ctx, 1, (int[]){N * C}, &part);
    if (st == CLCNN_OK) {
        const rt_karg args[] = {KARG_TENSOR(src), KARG_TENSOR(part), KARG_INT(N), KARG_INT(C), KARG_INT(P)};
        const size_t items[1] = {(size_t)N * C};
        st = ops_reduce_kernel_rows(ctx, "reduce.cl", "plane_sums", what, KARG_LIST(args), 2, items);
    }
    if (st == CLCNN_OK) st = ops_add_row_totals(ctx, what, part, C, N, out);
    clcnn_tensor_destroy(part);
    return st;
}
