/* concat.c: channel concatenation, y = [a, b] along dimension 1, and its backward, as
 * slice copies (cl/concat.cl). Tensors of rank 2 to 4, [N, C, ...], the same but for C. */
#include "ops/ops.h"

/* t has y's shape but for its channels, which are at most y's: it can be a channel
 * slice of y. The one rule both directions check. */
static int is_slice(const clcnn_tensor *t, const clcnn_tensor *y) {
    int fits = t->ndim >= 2 && t->ndim == y->ndim && t->shape[1] <= y->shape[1];
    for (int d = 0; fits && d < y->ndim; d++) fits = d == 1 || t->shape[d] == y->shape[d];
    return fits;
}

/* a and b match y but for their channels, which add up to y's. */
static clcnn_status check_concat(clcnn_context *ctx, const char *op, const char *names[3], const clcnn_tensor *a,
                                 const clcnn_tensor *b, const clcnn_tensor *y) {
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, names[0], a, 0)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, names[1], b, 0)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, names[2], y, 0)) != CLCNN_OK)
        return st;
    if (!is_slice(a, y) || !is_slice(b, y) || a->shape[1] + b->shape[1] != y->shape[1]) {
        char sa[64], sb[64], sy[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s %s and %s %s do not join along channels into %s %s", op,
                           names[0], clcnn_tensor_shape_str(a, sa, sizeof sa), names[1],
                           clcnn_tensor_shape_str(b, sb, sizeof sb), names[2], clcnn_tensor_shape_str(y, sy, sizeof sy));
    }
    return CLCNN_OK;
}

static int overlap(const clcnn_tensor *x, const clcnn_tensor *y) {
    const size_t xo = (size_t)x->offset, yo = (size_t)y->offset;
    return x->buf == y->buf && x->numel && y->numel && xo < yo + y->numel && yo < xo + x->numel;
}

/* Channels [c0, c0 + C) of src to [d0, d0 + C) of dst (+= with accumulate). */
static clcnn_status slice(clcnn_context *ctx, const char *op, const clcnn_tensor *src, int c0, clcnn_tensor *dst,
                          int d0, int C, int accumulate) {
    const size_t S = src->numel / ((size_t)src->shape[0] * (size_t)src->shape[1]);
    const size_t total = (size_t)src->shape[0] * (size_t)C * S;
    if (total == 0) return CLCNN_OK;
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "concat.cl", "channel_slice", "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(src), KARG_INT(src->shape[1]), KARG_INT(c0),
                               KARG_TENSOR(dst), KARG_INT(dst->shape[1]), KARG_INT(d0),
                               KARG_INT(C),      KARG_INT((int)S),        KARG_INT((int)total),
                               KARG_INT(accumulate != 0)};
    return ops_launch_1d(ctx, k, op, KARG_LIST(args), total);
}

clcnn_status clcnn_concat(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *b, clcnn_tensor *y) {
    static const char *op = "clcnn_concat", *names[3] = {"a", "b", "output"};
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st = check_concat(ctx, op, names, a, b, y);
    if (st != CLCNN_OK) return st;
    if (overlap(a, y) || overlap(b, y))
        return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: the output overlaps an input", op);
    if ((st = slice(ctx, op, a, 0, y, 0, a->shape[1], 0)) != CLCNN_OK) return st;
    return slice(ctx, op, b, 0, y, a->shape[1], b->shape[1], 0);
}

clcnn_status clcnn_concat_backward(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *da, int accumulate_a,
                                   clcnn_tensor *db, int accumulate_b) {
    static const char *op = "clcnn_concat_backward", *names[3] = {"da", "db", "dy"};
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    if (!dy || (!da && !db)) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: dy, or both da and db, NULL", op);
    clcnn_status st;
    if (da && db && (st = check_concat(ctx, op, names, da, db, dy)) != CLCNN_OK) return st;
    /* one of them: it fits dy's channels from its side */
    const clcnn_tensor *one = da ? da : db;
    if ((st = rt_check_tensor(ctx, op, da ? "da" : "db", one, 0)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "dy", dy, 0)) != CLCNN_OK)
        return st;
    if (!is_slice(one, dy)) {
        char s1[64], s2[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %s %s is not a channel slice of dy %s", op, da ? "da" : "db",
                           clcnn_tensor_shape_str(one, s1, sizeof s1), clcnn_tensor_shape_str(dy, s2, sizeof s2));
    }
    if (da && (st = slice(ctx, op, dy, 0, da, 0, da->shape[1], accumulate_a)) != CLCNN_OK) return st;
    return db ? slice(ctx, op, dy, dy->shape[1] - db->shape[1], db, 0, db->shape[1], accumulate_b) : CLCNN_OK;
}
