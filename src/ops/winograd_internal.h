/* winograd_internal.h: what Winograd's forward convolution (winograd.c) and weight
 * gradient (winograd_wgrad.c) share: the sizes, the kernels of cl/winograd.cl and the
 * input transform, which both run on the same 6x6 patches of x. */
#ifndef CLCNN_WINOGRAD_INTERNAL_H
#define CLCNN_WINOGRAD_INTERNAL_H
#include "ops/conv_internal.h"

enum { WINO_TILE = 4, WINO_XI = 36 }; /* output tile edge; points of the 6x6 domain */

/* The sizes of one Winograd pass over x [N, C, H, W] with K output channels. */
typedef struct {
    int N, C, H, W, K, OH, OW;
    int TH, TW; /* tiles per image down and across */
    int ph, pw;
    int chunk;      /* images per pass */
    int su, sv, sm; /* strides between the 36 planes of U (or the gradient's dY transform), V and M */
} wino_dims;

/* N, C, H, W, K, OH, OW, TH, TW, ph and pw of a convolution of x into K x OH x OW. */
wino_dims wino_dims_of(const clcnn_tensor *x, int K, int OH, int OW, const conv_geom *g);

/* A plane stride for n floats: an odd number of 64-byte lines apart, so that the 36
 * planes a work-item writes do not all map to the same cache sets. */
int wino_plane_stride(int n);

/* Lanes per work-item for n neighbours (channels, or tiles): on CPUs 8 unless that
 * would waste most of them (both 4 and 8 divide every GEMM panel width, 16 or 32); on
 * GPUs 1, one tile or filter per work-item, which keeps its 36 points in registers. */
int wino_lanes_for(const clcnn_context *ctx, int n);

/* A winograd.cl kernel built for vectors of wv lanes (1, 4 or 8). */
clcnn_status wino_kernel(clcnn_context *ctx, const char *name, int wv, cl_kernel *k);

/* Work-items along a dimension of n / wv items (rounded up) that each loop over the
 * items of that dimension with the global width as step: one on CPU devices, where a
 * work-group per few items costs more to schedule than its work, all of them elsewhere. */
size_t wino_loop_width(const clcnn_context *ctx, int n, int wv);

/* V[xi][c][t] = (B^T d B)[xi] for the 6x6 patches d of images n0 .. n0+nc-1 of x, in
 * column panels [t / tn][c][t % tn] (tn a multiple of 8; tn >= the tiles makes V a plain
 * [c][tn] matrix), plane stride d->sv, zeros past the last tile of the last panel. */
clcnn_status wino_input(clcnn_context *ctx, const wino_dims *d, const clcnn_tensor *x, int n0, int nc, int tn,
                        clcnn_tensor *v);

static inline size_t wino_ceil_div(int a, int b) { return (size_t)((a + b - 1) / b); }
/* n rounded up to a multiple of m: whole GEMM panels, whole vectors of lanes. */
static inline int wino_round_up(int n, int m) { return (n + m - 1) / m * m; }

#endif
