/* gemm_split.c: a GEMM with a long K and few tiles of C, cut into S slices of K. Each
 * slice is one gemm_tiled launch into its own plane of a scratch tensor; a second pass
 * (gemm_splitk_sum) adds the planes in a fixed order, so results do not depend on
 * scheduling, and applies alpha, beta, the bias, the residual and the activation.
 *
 * On GPUs (the GPU family of kernels) this gives late ResNet layers enough work-groups
 * (layer4 at batch 1: M 512, N 49, K 4608 makes 8 tiles of 64 x 64 for 132 SMs) and keeps
 * each work-item's loop short: Mesa's llvmpipe ends any work-item after 65,535 loop
 * iterations (docs/GPU.md), and desktop drivers' watchdogs end long kernels. CPUs keep
 * one launch: PoCL's work-items are loops over registers that a long K suits.
 * CLCNN_GEMM_SPLIT_K=L forces slices of at most L along K on any device (tests);
 * CLCNN_GEMM_SPLIT_K=0 turns splitting off. */
#include <stdlib.h>
#include "ops/ops.h"
#include "runtime/kernel_profile.h"

#define SPLIT_K_MAX_SLICE 1024  /* longest K per work-item on GPUs */
#define SPLIT_K_MIN_SLICE 256   /* shorter slices cost more in the second pass than they give */
#define SPLIT_MAX_FLOATS (16u << 20) /* the planes' scratch, at most (64 MiB) */

static int ceil_div(long a, long b) { return (int)((a + b - 1) / b); }

int ops_gemm_split_count(const clcnn_context *ctx, const ops_gemm_args *g) {
    if (g->K <= 1 || g->b_panels) return 1; /* packed panels hold the whole K (Winograd, K = C) */
    if (g->b_gather && g->b_gather->phase) return 1; /* its C goes to a phase's pixels, not a plane */
    const char *forced = getenv("CLCNN_GEMM_SPLIT_K");
    int slices;
    if (forced && *forced) {
        const int len = atoi(forced);
        if (len <= 0) return 1;
        slices = ceil_div(g->K, len);
    } else {
        if (rt_cpu_family(ctx) || g->K <= 2 * SPLIT_K_MIN_SLICE) return 1;
        /* enough work-groups for about two per compute unit, and no slice over the maximum */
        const rt_device_params *p = &ctx->params;
        const long batch = (long)(g->nb0 > 0 ? g->nb0 : 1) * (g->nb1 > 0 ? g->nb1 : 1);
        long groups;
        if (p->gemm_mwg > 0) { /* gemm_local: one group per MWG x NWG tile */
            groups = (long)ceil_div(g->N, p->gemm_nwg) * ceil_div(g->M, p->gemm_mwg) * batch;
        } else {
            const long items = (long)ceil_div(g->N, p->gemm_tile_n) * ceil_div(g->M, p->gemm_tile_m) * batch;
            const long local = p->gemm_local > 0 ? (long)p->gemm_local * p->gemm_local : 64;
            groups = (items + local - 1) / local;
        }
        const long want = 2L * (ctx->dev.info.compute_units ? ctx->dev.info.compute_units : 1);
        slices = groups < want ? (int)((want + groups - 1) / groups) : 1;
        if (slices > g->K / SPLIT_K_MIN_SLICE) slices = g->K / SPLIT_K_MIN_SLICE;
        if (slices < ceil_div(g->K, SPLIT_K_MAX_SLICE)) slices = ceil_div(g->K, SPLIT_K_MAX_SLICE);
    }
    const size_t plane = (size_t)g->M * (size_t)g->N * (size_t)(g->nb0 > 0 ? g->nb0 : 1) * (size_t)(g->nb1 > 0 ? g->nb1 : 1);
    if (plane && (size_t)slices * plane > SPLIT_MAX_FLOATS) slices = (int)(SPLIT_MAX_FLOATS / plane);
    if (slices > g->K) slices = g->K;
    return slices > 1 ? slices : 1;
}

/* C = act(alpha * (sum of the planes) + beta C + bias + R). */
static clcnn_status sum_planes(clcnn_context *ctx, const ops_gemm_args *g, const clcnn_tensor *part, int slices,
                               int plane, int batch) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "gemm.cl", "gemm_splitk_sum", "", &k);
    if (st != CLCNN_OK) return st;
    const int nb1 = g->nb1 > 0 ? g->nb1 : 1;
    const rt_karg args[] = {
        KARG_TENSOR(part), KARG_INT(slices), KARG_INT(plane), KARG_INT(g->M), KARG_INT(g->N),
        KARG_MEM(g->c->buf), KARG_INT(g->c->offset + g->c_off), KARG_INT(g->scm), KARG_INT(g->scn),
        KARG_INT(g->c_sb0), KARG_INT(g->c_sb1), KARG_INT(nb1),
        KARG_TENSOR(g->bias), KARG_INT(g->bias_sb1),
        rt_karg_tensor_buf(g->residual), KARG_INT(g->residual ? g->residual->offset + g->r_off : 0),
        KARG_INT(g->act), KARG_FLOAT(g->alpha), KARG_FLOAT(g->beta)};
    const size_t global[3] = {(size_t)g->N, (size_t)g->M, (size_t)batch};
    return rt_launch(ctx, k, "gemm split-K sum", KARG_LIST(args), 3, global, NULL);
}

clcnn_status ops_gemm_run(clcnn_context *ctx, const ops_gemm_args *g) {
    const int slices = ops_gemm_split_count(ctx, g);
    if (slices <= 1) return ops_gemm_tiled(ctx, g);
    const int batch = (g->nb0 > 0 ? g->nb0 : 1) * (g->nb1 > 0 ? g->nb1 : 1);
    const int plane = g->M * g->N * batch, len = ceil_div(g->K, slices);
    clcnn_tensor *part = NULL;
    clcnn_status st = rt_scratch(ctx, 1, (int[]){plane * slices}, &part);
    for (int s = 0; st == CLCNN_OK && s < slices; s++) {
        const int k0 = s * len;
        ops_gemm_args slice = *g; /* A and B from k0 on, into plane s: [batch][M][N] */
        ops_gemm_gather gather = g->b_gather ? *g->b_gather : (ops_gemm_gather){0};
        slice.K = k0 + len <= g->K ? len : g->K - k0;
        if (!g->b_gather || !g->b_gather->flip_a) slice.a_off = g->a_off + k0 * g->sak; /* else k_base moves A too */
        if (g->b_gather) { /* a gathered B starts at column row k0 of the same planes */
            gather.k_base += k0;
            slice.b_gather = &gather;
        } else {
            slice.b_off = g->b_off + k0 * g->ldb;
        }
        slice.c = part;
        slice.c_off = s * plane;
        slice.scm = g->N;
        slice.scn = 1;
        slice.c_sb1 = g->M * g->N;
        slice.c_sb0 = slice.c_sb1 * (g->nb1 > 0 ? g->nb1 : 1);
        slice.bias = NULL;
        slice.residual = NULL;
        slice.act = CLCNN_ACT_NONE;
        slice.alpha = 1.0f;
        slice.beta = 0.0f;
        if (slice.K > 0) st = ops_gemm_tiled(ctx, &slice);
    }
    if (st == CLCNN_OK) st = sum_planes(ctx, g, part, slices, plane, batch);
    clcnn_tensor_destroy(part);
    return st;
}
