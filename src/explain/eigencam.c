/* eigencam.c: EigenCAM (Muhammad and Yeasin 2020) as pytorch-grad-cam computes it: per image,
 * the activations as an HW x K matrix M, centred per channel (column means subtracted), are
 * projected on their first right singular vector v, p = M v, then the ReLU.
 *
 * On the device, batched over the images: with S = min(K, HW), the S x S matrix
 * X^T X (X = the centred activations laid out [K, HW] when HW <= K, giving the HW x HW Gram
 * matrix M M^T, else [HW, K], giving the K x K covariance M^T M) comes from one batched GEMM,
 * and its top eigenpair (u, lambda) from power iteration (at most POWER_ITERS steps, stopping
 * once u changes by less than POWER_TOL). Then p = sqrt(lambda) u (Gram: u = M v / |M v|) or
 * p = M u (covariance: u = v).
 *
 * SVD leaves v's sign free, and the usual tie-breakers do not work here: p has zero sum for
 * either sign, since M's columns are centred. The map is oriented so that p correlates
 * non-negatively with the channel-summed activations s_i = sum_k A[k, i]; as
 * p . s = lambda sum_k v_k, this is the rule "v's components sum to >= 0". */
#include "explain/cam_internal.h"

enum { POWER_ITERS = 1000 };
#define POWER_TOL 1e-13f /* squared change of the unit vector u per step */

/* X [N, K * HW] centred, laid out [K, HW] (gram) or [HW, K]. */
static clcnn_status center(clcnn_context *ctx, const clcnn_tensor *a, int gram, clcnn_tensor *x) {
    const int N = a->shape[0], K = a->shape[1], hw = a->shape[2] * a->shape[3];
    cl_kernel k;
    size_t wg;
    clcnn_status st = cam_kernel(ctx, "cam_center", &k, &wg);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_TENSOR(a), KARG_TENSOR(x),          KARG_INT(N * K),       KARG_INT(K),
                               KARG_INT(hw),   KARG_INT(gram ? hw : 1), KARG_INT(gram ? 1 : K)};
    return ops_launch_1d(ctx, k, "cam_center", KARG_LIST(args), (size_t)N * (size_t)K);
}

/* c[n] = X[n]^T X[n] for X[n] [R, S] row-major: A(m, k) = X[k, m], B(k, j) = X[k, j]. */
static clcnn_status gram_matrices(clcnn_context *ctx, const clcnn_tensor *x, int N, int R, int S, clcnn_tensor *c) {
    const ops_gemm_args g = {.M = S,
                               .N = S,
                               .K = R,
                               .a = x,
                               .sam = 1,
                               .sak = S,
                               .a_sb0 = R * S,
                               .b = x,
                               .ldb = S,
                               .b_sb0 = R * S,
                               .c = c,
                               .scm = S,
                               .scn = 1,
                               .c_sb0 = S * S,
                               .nb0 = N,
                               .nb1 = 1,
                               .act = CLCNN_ACT_NONE,
                               .alpha = 1.0f,
                               .beta = 0.0f};
    return ops_gemm_run(ctx, &g);
}

clcnn_status cam_eigen_map(clcnn_context *ctx, const clcnn_tensor *a, clcnn_tensor *map) {
    static const char *op = "cam_eigen_map";
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "activations", a, 4)) != CLCNN_OK ||
        (st = rt_check_shape_is(ctx, op, "map", map, 3, (int[]){a->shape[0], a->shape[2], a->shape[3]})) != CLCNN_OK)
        return st;
    const int N = a->shape[0], K = a->shape[1], hw = a->shape[2] * a->shape[3];
    const int gram = hw <= K, S = gram ? hw : K, R = gram ? K : hw;
    if ((size_t)N * (size_t)S * (size_t)S > (size_t)INT32_MAX)
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: %d x %d matrices for %d images are too large", op, S, S, N);
    cl_kernel k_power, k_project;
    size_t wg;
    clcnn_tensor *x = NULL, *c = NULL, *u = NULL, *work = NULL, *lam = NULL;
    if ((st = cam_kernel(ctx, "cam_power", &k_power, &wg)) != CLCNN_OK ||
        (st = cam_kernel(ctx, "cam_project", &k_project, &wg)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){N, K * hw}, &x)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){N, S * S}, &c)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){N, S}, &u)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 2, (int[]){N, S}, &work)) != CLCNN_OK ||
        (st = rt_scratch(ctx, 1, &N, &lam)) != CLCNN_OK || (st = center(ctx, a, gram, x)) != CLCNN_OK ||
        (st = gram_matrices(ctx, x, N, R, S, c)) != CLCNN_OK)
        goto free_scratch;
    const rt_karg power[] = {KARG_TENSOR(c), KARG_TENSOR(u),        KARG_TENSOR(work),    KARG_TENSOR(lam),
                                KARG_INT(S),    KARG_INT(POWER_ITERS), KARG_FLOAT(POWER_TOL)};
    if ((st = cam_launch_groups(ctx, k_power, "cam_power", KARG_LIST(power), (size_t)N, wg)) != CLCNN_OK)
        goto free_scratch;
    const rt_karg project[] = {KARG_TENSOR(a),   KARG_TENSOR(x), KARG_TENSOR(u), KARG_TENSOR(lam),
                                  KARG_TENSOR(map), KARG_INT(K),    KARG_INT(hw),   KARG_INT(gram)};
    st = cam_launch_groups(ctx, k_project, "cam_project", KARG_LIST(project), (size_t)N, wg);
free_scratch:
    clcnn_tensor_destroy(lam);
    clcnn_tensor_destroy(work);
    clcnn_tensor_destroy(u);
    clcnn_tensor_destroy(c);
    clcnn_tensor_destroy(x);
    return st;
}
