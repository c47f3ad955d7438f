/* ops.h: what the ops share among themselves (not public). */
#ifndef CLCNN_OPS_H
#define CLCNN_OPS_H
#include "runtime/internal.h"

/* B gathered from a convolution's input inside gemm_local's tile loader (implicit GEMM),
 * instead of read from an im2col matrix: batch item (b0, b1) (image, group) holds the
 * group's planes of H x W at b + b_off + b0 * b_sb0 + b1 * b_sb1, whose column matrix is
 *   col(r, p) = x[c][oy * sh - ph + ky * dh][ox * sw - pw + kx * dw]  (0 outside the planes)
 * for row r = (c * KH + ky) * KW + kx and pixel p = oy * OW + ox. Rows in K
 * (rows_in_k = 1, the forward pass): B(k, n) = col(k_base + k, n). Otherwise (the weight
 * gradient, K over the whole batch): B(k, n) = col(n, j % P) of image j / P, j = k_base +
 * k, images `image` floats apart. k_base lets a slice of K (gemm_split.c) start inside. */
typedef struct {
    int H, W, KH, KW, sh, sw, ph, pw, dh, dw, OW, k_base;
    int rows_in_k;
    int P, image; /* rows_in_k = 0: output pixels per image, and the images' stride */
    int flip_a;   /* A(m, k) = a[(j / T) * sak + m * sam + T - 1 - j % T], j = k_base + k,
                     T = KH * KW: weights transposed and turned, read in place */
    /* phase: one output phase (ry, rx) of a strided data gradient (cl/gemm_local.cl,
     * B_IM2COL=3): B is dY [OH x OW planes], k = (co, jy, jx) over JY x JX taps from
     * (ky0, kx0) in steps of the stride, n = (qy, qx) over QW columns, dY read at
     * (qy + dy0 - jy, qx + dx0 - jx); A the weights in place; C stored at dX's pixel
     * (ry + sh qy, rx + sw qx) of H x W planes. Not split along K. */
    int phase, OH, ry, rx, ky0, kx0, dy0, dx0, JY, JX, QW;
} ops_gemm_gather;

/* One batched GEMM for gemm_tiled: C = act(alpha A B + beta C + bias[m] + R).
 * A(m, k) at a + m*sam + k*sak; B(k, n) at b + k*ldb + n (unit stride in n);
 * C(m, n) at c + m*scm + n*scn; R shares C's layout. The batch is nb0 x nb1 with
 * strides per level (e.g. images x groups). Offsets are the tensors' own plus *_off. */
typedef struct {
    int M, N, K;
    const clcnn_tensor *a;
    int a_off, sam, sak, a_sb0, a_sb1;
    const clcnn_tensor *b;
    int b_off, ldb, b_sb0, b_sb1;
    int b_panels; /* 1: b is in gemm_pack_b's layout already, per item [N/TN][K][TN] with
                     TN = ctx->params.gemm_tile_n (ldb unused): no copy is made */
    const ops_gemm_gather *b_gather; /* non-NULL: B is gathered (ldb unused); only where
                                          ops_gemm_local_in_use */
    clcnn_tensor *c;
    int c_off, scm, scn, c_sb0, c_sb1;
    int nb0, nb1;
    const clcnn_tensor *bias; /* per row m (+ b1 * bias_sb1), or NULL */
    int bias_sb1;
    const clcnn_tensor *residual;
    int r_off;
    clcnn_activation act;
    float alpha, beta;
} ops_gemm_args;

/* The GEMM: in one launch of gemm_tiled, or in slices of K summed by a second pass
 * (gemm_split.c). */
clcnn_status ops_gemm_run(clcnn_context *ctx, const ops_gemm_args *g);
/* One launch of gemm_tiled (B packed first when that pays). */
clcnn_status ops_gemm_tiled(clcnn_context *ctx, const ops_gemm_args *g);
/* Whether ctx's GEMM runs as gemm_local (the GPU family's row, a work-group the device
 * will run), not gemm_tiled. */
int ops_gemm_local_in_use(clcnn_context *ctx);
/* Whether ctx's convolutions gather their im2col columns in gemm_local's loader
 * (implicit GEMM; GPU family, CLCNN_CONV_IMPLICIT=0 turns it off) instead of writing them. */
int ops_conv_implicit_gemm(clcnn_context *ctx);
/* The first NaN or infinity of t: *index receives its position (-1 when all values are
 * finite) and *value the value. scratch: a tensor of one element or more it may use.
 * Waits for the device. */
clcnn_status ops_find_nonfinite(clcnn_context *ctx, const clcnn_tensor *t, clcnn_tensor *scratch, int *index,
                                  float *value);
/* GPU family: out[r] = scale * sum over the P values of plane r of a * b (b NULL: of a),
 * for `planes` planes, a work-group per plane (cl/reduce.cl's plane_dots). */
clcnn_status ops_plane_dots(clcnn_context *ctx, const char *what, const clcnn_tensor *a, const clcnn_tensor *b,
                              int planes, int P, float scale, clcnn_tensor *out);
/* How many slices of K ops_gemm_run cuts g into (1: none); gemm_split.c says when. */
int ops_gemm_split_count(const clcnn_context *ctx, const ops_gemm_args *g);

/* The name of the algorithm clcnn_conv2d runs for input x and weight w with params
 * ("im2col-gemm", "gemm-1x1", "winograd-4x4", "depthwise", ...), for profiles. */
const char *ops_conv2d_algorithm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params);
/* The same for the weight gradient clcnn_conv2d_backward computes ("winograd-4x4",
 * "im2col-gemm" or "depthwise"). */
const char *ops_conv2d_wgrad_algorithm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                         const clcnn_conv_params *params);
/* Whether algo can run this convolution (tune tries only those that can). */
int ops_conv2d_algorithm_applies(clcnn_conv_algo algo, const clcnn_tensor *x, const clcnn_tensor *w,
                                   const clcnn_conv_params *params);

/* clcnn_conv2d for a weight that stays the same over many calls (evaluation, where
 * the graph folds batch norms into it). When the convolution runs as Winograd, its
 * transformed weight is read from *winograd_u, or computed on the first call into a new
 * tensor left in *winograd_u for the next. The caller owns *winograd_u and must destroy
 * it (and set it to NULL) whenever w's values change. */
clcnn_status ops_conv2d_fixed_weight(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                       const clcnn_tensor *bias, const clcnn_conv_params *params,
                                       const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y,
                                       clcnn_tensor **winograd_u);

/* The tuning table's key for this convolution (shapes and geometry); returns the
 * number of ints written to key (at most CLCNN_CONV_KEY_MAX). */
#define CLCNN_CONV_KEY_MAX 16
int ops_conv2d_tuning_key(const clcnn_tensor *x, const clcnn_tensor *w, const clcnn_conv_params *params,
                            int key[CLCNN_CONV_KEY_MAX]);

/* dst [cols, rows] = src [rows, cols]^T (element offsets added to the tensors'). */
clcnn_status ops_transpose(clcnn_context *ctx, const clcnn_tensor *src, int src_off, clcnn_tensor *dst,
                             int dst_off, int rows, int cols);

/* y = act(x * s[n, c] + residual) for x [N, C, ...], s [N*C]. */
clcnn_status ops_channel_scale(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *s,
                                 const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y);

/* The local size for kernels whose work-items each do a row of work (Winograd,
 * depthwise, the batch-norm fold): one work-item per group on CPU devices (PoCL
 * compiles a kernel once per local size, so a fixed one keeps the first run of every
 * new shape from compiling again; measured within 10 % of the driver's choice), the
 * driver's choice (NULL) elsewhere. */
static inline const size_t *ops_fixed_local(const clcnn_context *ctx) {
    static const size_t one[3] = {1, 1, 1};
    return rt_cpu_family(ctx) ? one : NULL;
}

/* CLCNN_OK if act is a valid clcnn_activation, else an error naming op. */
clcnn_status ops_check_activation(clcnn_context *ctx, const char *op, clcnn_activation act);

/* ---- floating-point work (flops.c): what profiles, clbench and the op tests count ---- */

double ops_conv2d_flops(double y_elems, const int w_shape[4]);
double ops_linear_flops(double y_elems, int in_features);
double ops_pool2d_flops(double y_elems, const clcnn_pool_params *p);
double ops_activation_flops(double y_elems);
double ops_add_flops(double y_elems, clcnn_activation act);
double ops_global_avg_pool_flops(double x_elems);
double ops_batchnorm_flops(double y_elems);
double ops_resize_bilinear_flops(double y_elems);

/* ---- launch helpers (launch.c) ---- */

/* Launch a 1-D elementwise kernel over total items with the device's preferred
 * work-group size. */
clcnn_status ops_launch_1d(clcnn_context *ctx, cl_kernel k, const char *what, int nargs, const rt_karg *args,
                             size_t total);

/* A kernel of `file` built with -DRED_WG=*wg, the work-group size of its one-group
 * final sums (group_sum in common.cl): the largest power of two up to 64 (or up to
 * CLCNN_RED_WG, for simulators) that the device allows this kernel. Launch such a final
 * sum with ops_launch_group. */
clcnn_status ops_get_reduce_kernel(clcnn_context *ctx, const char *file, const char *name, cl_kernel *k,
                                     size_t *wg);
clcnn_status ops_launch_group(clcnn_context *ctx, cl_kernel k, const char *what, int nargs, const rt_karg *args,
                                size_t wg);

/* ---- the GPU family's two-level row sums (reduce.c, cl/reduce.cl) ---- */

/* Kernel `name` of `file`, built with -DRED_WG (ops_get_reduce_kernel), launched with
 * one work-group of RED_WG work-items in dimension 0 per item of the grid items[0 ..
 * dims - 2] (dimensions 1 ..). */
clcnn_status ops_reduce_kernel_rows(clcnn_context *ctx, const char *file, const char *name, const char *what,
                                      int nargs, const rt_karg *args, cl_uint dims, const size_t *items);
/* out[r] += the sum of part[r * J .. r * J + J) for r < rows, in a fixed order. */
clcnn_status ops_add_row_totals(clcnn_context *ctx, const char *what, const clcnn_tensor *part, int rows, int J,
                                  clcnn_tensor *out);
/* out[c] += the sum over n and p of src[n][c][p], for src viewed as [N, C, P]. */
clcnn_status ops_add_channel_sums(clcnn_context *ctx, const char *what, const clcnn_tensor *src, int N, int C,
                                    int P, clcnn_tensor *out);

/* dst[b][c][r] = src[b][r][c] for batch matrices of rows x cols at float offsets
 * src_off and dst_off: the GPU family's transpose through local-memory tiles
 * (transpose.c, cl/transpose.cl). */
clcnn_status ops_transpose_tiles(clcnn_context *ctx, const char *what, cl_mem src, int src_off, cl_mem dst,
                                   int dst_off, int batch, int rows, int cols);

/* Training batch norm and its backward (clcnn_batchnorm_train, clcnn_batchnorm_backward
 * for act NONE, clcnn_batchnorm_act_backward) over the batches of every rank of dist
 * (src/dist; NULL or one rank: this batch alone). */
clcnn_status ops_batchnorm_train(clcnn_context *ctx, clcnn_dist *dist, const clcnn_tensor *x,
                                 const clcnn_tensor *gamma, const clcnn_tensor *beta, clcnn_tensor *running_mean,
                                 clcnn_tensor *running_var, float momentum, float eps, clcnn_tensor *y,
                                 clcnn_tensor *save_mean, clcnn_tensor *save_invstd);
clcnn_status ops_batchnorm_backward(clcnn_context *ctx, clcnn_dist *dist, clcnn_activation act,
                                    const clcnn_tensor *x, const clcnn_tensor *gamma, const clcnn_tensor *beta,
                                    const clcnn_tensor *mean, const clcnn_tensor *invstd, int batch_stats,
                                    const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate, clcnn_tensor *dgamma,
                                    clcnn_tensor *dbeta);

/* Dropout (per_sample 0) or stochastic depth (1), forward (accumulate 0) or backward
 * alike, on the samples first_sample, first_sample + 1, ... of a bigger batch: the masks
 * one process would draw for the whole batch (data parallelism). */
clcnn_status ops_random_mask(clcnn_context *ctx, int per_sample, const clcnn_tensor *in, float p, uint64_t seed,
                             uint64_t first_sample, clcnn_tensor *out, int accumulate);

#endif
