/* gemm.c: matrix multiply on the project's register-blocked kernel (cl/gemm.cl) or on
 * CLBlast; the convolution and linear layers go through ops_gemm_run, which splits
 * a long K first where that pays (gemm_split.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops/ops.h"
#include "runtime/kernel_profile.h"

/* Largest packed copy of B, in floats (64 MiB), before the GEMM reads B in place. */
#define GEMM_PACK_MAX_FLOATS (16u << 20)
#ifdef CLCNN_HAVE_CLBLAST
#include <clblast_c.h>
#endif

int clcnn_have_clblast(void) {
#ifdef CLCNN_HAVE_CLBLAST
    return 1;
#else
    return 0;
#endif
}

/* Whether copying B into column panels first pays: each panel is then read by every
 * tile row of C (M / TM of them), so the copy is worth it once a few rows share it,
 * and it is capped so that the copy's scratch stays modest. CLCNN_GEMM_PACK=0|1
 * forces the choice (experiments, and the tests of both paths). */
static int should_pack_b(const ops_gemm_args *g, int tm, size_t packed_floats) {
    static int forced = -2;
    if (forced == -2) {
        const char *v = getenv("CLCNN_GEMM_PACK");
        forced = v && (*v == '0' || *v == '1') ? *v - '0' : -1;
    }
    if (forced >= 0) return forced;
    return g->M >= 4 * tm && g->K >= 8 && packed_floats <= GEMM_PACK_MAX_FLOATS;
}

/* B of every batch item into panels [item][N/TN][K][TN] in dst. */
static clcnn_status pack_b(clcnn_context *ctx, const ops_gemm_args *g, const char *opts, int batch, clcnn_tensor *dst) {
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "gemm.cl", "gemm_pack_b", opts, &k);
    if (st != CLCNN_OK) return st;
    const int tn = ctx->params.gemm_tile_n, panels = (g->N + tn - 1) / tn;
    const rt_karg args[] = {KARG_MEM(g->b->buf), KARG_INT(g->b->offset + g->b_off), KARG_INT(g->ldb),
                               KARG_INT(g->b_sb0), KARG_INT(g->b_sb1), KARG_INT(g->nb1 > 0 ? g->nb1 : 1),
                               KARG_INT(g->K), KARG_INT(g->N), KARG_TENSOR(dst)};
    const size_t global[3] = {(size_t)g->K, (size_t)panels, (size_t)batch};
    rt_kprofile_work(0, "%dx%d b%d", g->K, g->N, batch); /* K x N, batch items */
    return rt_launch(ctx, k, "gemm B packing", KARG_LIST(args), 3, global, NULL);
}

/* The GPU row's kernel (cl/gemm_local.cl) with its work-group tile as build options
 * (and B gathered from a convolution's input with gather), in *k; 0 when this device
 * will not run its work-group of MDIMC x NDIMC (then the register-tiled gemm_tiled
 * serves, and the log says so once). */
static int local_kernel(clcnn_context *ctx, const ops_gemm_gather *gather, cl_kernel *k) {
    const rt_device_params *p = &ctx->params;
    char opts[180];
    snprintf(opts, sizeof opts, "-DMWG=%d -DNWG=%d -DKWG=%d -DMDIMC=%d -DNDIMC=%d -DPANEL_TN=%d%s", p->gemm_mwg,
             p->gemm_nwg, p->gemm_kwg, p->gemm_mdimc, p->gemm_ndimc, p->gemm_tile_n,
             !gather          ? ""
             : gather->phase  ? " -DB_IM2COL=3"
             : gather->flip_a ? " -DB_IM2COL=1 -DA_FLIP_T"
                              : gather->rows_in_k ? " -DB_IM2COL=1" : " -DB_IM2COL=2");
    const size_t wgs = (size_t)p->gemm_mdimc * (size_t)p->gemm_ndimc;
    static int warned;
    if (rt_get_kernel(ctx, "gemm_local.cl", "gemm_local", opts, k) == CLCNN_OK &&
        rt_kernel_limits_of(ctx, *k).work_group_max >= wgs &&
        (!ctx->max_item_sizes[0] || ((size_t)p->gemm_ndimc <= ctx->max_item_sizes[0] &&
                                     (size_t)p->gemm_mdimc <= ctx->max_item_sizes[1])))
        return 1;
    if (!warned) {
        warned = 1;
        rt_log(CLCNN_LOG_INFO, "gemm_local (%s) cannot run %zu work-items on %s: gemm_tiled instead (%s)", opts,
                  wgs, ctx->dev.info.name, clcnn_last_error(ctx));
    }
    return 0;
}

int ops_gemm_local_in_use(clcnn_context *ctx) {
    cl_kernel k;
    return ctx->params.gemm_mwg > 0 && local_kernel(ctx, NULL, &k);
}

int ops_conv_implicit_gemm(clcnn_context *ctx) {
    static int off = -1;
    if (off < 0) {
        const char *v = getenv("CLCNN_CONV_IMPLICIT");
        off = v && *v == '0';
    }
    cl_kernel k;
    const ops_gemm_gather forward = {.rows_in_k = 1}, wgrad = {.rows_in_k = 0}, dgrad = {.rows_in_k = 1, .flip_a = 1},
                            strided = {.phase = 1};
    return !off && !rt_cpu_family(ctx) && ctx->params.gemm_mwg > 0 && local_kernel(ctx, &forward, &k) &&
           local_kernel(ctx, &wgrad, &k) && local_kernel(ctx, &dgrad, &k) && local_kernel(ctx, &strided, &k);
}

enum { GATHER_NARGS = 14, PHASE_NARGS = 10 };

/* gemm_local's arguments after GEMM_KERNEL_ARGS for a gathered B (GATHER_ARGS), their
 * values kept in vals (which must live until the launch). */
static int gather_args(const ops_gemm_gather *x, cl_int vals[GATHER_NARGS + PHASE_NARGS], rt_karg *args) {
    const int v[GATHER_NARGS + PHASE_NARGS] = {x->H,  x->W,  x->KH, x->KW,  x->sh,     x->sw,  x->ph,  x->pw,
                                               x->dh, x->dw, x->OW, x->k_base, x->P,   x->image, x->OH, x->ry,
                                               x->rx, x->ky0, x->kx0, x->dy0, x->dx0, x->JY, x->JX, x->QW};
    const int n = GATHER_NARGS + (x->phase ? PHASE_NARGS : 0);
    for (int i = 0; i < n; i++) {
        vals[i] = v[i];
        args[i] = (rt_karg){sizeof(cl_int), &vals[i]};
    }
    return n;
}

clcnn_status ops_gemm_tiled(clcnn_context *ctx, const ops_gemm_args *g) {
    const rt_device_params *p = &ctx->params;
    cl_kernel k;
    clcnn_status st;
    const int staged = p->gemm_mwg > 0 && local_kernel(ctx, g->b_gather, &k); /* local tiles, no packed copy */
    if (g->b_gather && !staged)
        return rt_error(ctx, CLCNN_ERR_UNSUPPORTED, "gemm: a gathered B (implicit GEMM) needs gemm_local");
    char opts[64];
    snprintf(opts, sizeof opts, "-DTM=%d -DTN=%d", p->gemm_tile_m, p->gemm_tile_n);
    if (!staged && (st = rt_get_kernel(ctx, "gemm.cl", "gemm_tiled", opts, &k)) != CLCNN_OK) return st;
    const size_t tm = (size_t)p->gemm_tile_m, tn = (size_t)p->gemm_tile_n;
    const int nb0 = g->nb0 > 0 ? g->nb0 : 1, nb1 = g->nb1 > 0 ? g->nb1 : 1;
    const size_t panel_floats = ((size_t)g->N + tn - 1) / tn * tn * (size_t)g->K;
    clcnn_tensor *packed = NULL;
    st = CLCNN_OK;
    if (!staged && !g->b_panels && g->N > 0 && g->K > 0 &&
        should_pack_b(g, (int)tm, panel_floats * (size_t)nb0 * (size_t)nb1)) {
        if ((st = rt_scratch(ctx, 1, (int[]){(int)(panel_floats * (size_t)nb0 * (size_t)nb1)}, &packed)) != CLCNN_OK ||
            (st = pack_b(ctx, g, opts, nb0 * nb1, packed)) != CLCNN_OK)
            goto free_packed;
    }
    const clcnn_tensor *a = g->a, *b = packed ? packed : g->b, *c = g->c;
    const int b_off = packed ? packed->offset : b->offset + g->b_off;
    const int b_sb1 = packed ? (int)panel_floats : g->b_sb1, b_sb0 = packed ? (int)panel_floats * nb1 : g->b_sb0;
    const rt_karg base[] = {
        KARG_INT(g->M), KARG_INT(g->N), KARG_INT(g->K),
        KARG_MEM(a->buf), KARG_INT(a->offset + g->a_off), KARG_INT(g->sam), KARG_INT(g->sak),
        KARG_INT(g->a_sb0), KARG_INT(g->a_sb1),
        KARG_MEM(b->buf), KARG_INT(b_off), KARG_INT(g->ldb), KARG_INT(b_sb0), KARG_INT(b_sb1),
        KARG_MEM(c->buf), KARG_INT(c->offset + g->c_off), KARG_INT(g->scm), KARG_INT(g->scn),
        KARG_INT(g->c_sb0), KARG_INT(g->c_sb1), KARG_INT(nb1),
        KARG_TENSOR(g->bias), KARG_INT(g->bias_sb1),
        rt_karg_tensor_buf(g->residual), KARG_INT(g->residual ? g->residual->offset + g->r_off : 0),
        KARG_INT(g->act), KARG_FLOAT(g->alpha), KARG_FLOAT(g->beta), KARG_INT(packed || g->b_panels)};
    enum { NBASE = sizeof base / sizeof base[0] };
    rt_karg args[NBASE + GATHER_NARGS + PHASE_NARGS];
    cl_int gather_vals[GATHER_NARGS + PHASE_NARGS];
    memcpy(args, base, sizeof base);
    const int nargs = NBASE + (g->b_gather ? gather_args(g->b_gather, gather_vals, args + NBASE) : 0);
    rt_kprofile_work(2.0 * g->M * (double)g->N * g->K * nb0 * nb1, "%dx%dx%d b%d%s", g->M, g->N, g->K, nb0 * nb1,
                        packed || g->b_panels ? " p" : "");
    if (staged) { /* one work-group of NDIMC x MDIMC per MWG x NWG tile, exactly */
        const size_t local[3] = {(size_t)p->gemm_ndimc, (size_t)p->gemm_mdimc, 1};
        const size_t global[3] = {((size_t)g->N + p->gemm_nwg - 1) / p->gemm_nwg * local[0],
                                  ((size_t)g->M + p->gemm_mwg - 1) / p->gemm_mwg * local[1], (size_t)nb0 * nb1};
        st = rt_launch_exact(ctx, k, "gemm", nargs, args, 3, global, local);
    } else {
        const size_t global[3] = {((size_t)g->N + tn - 1) / tn, ((size_t)g->M + tm - 1) / tm, (size_t)nb0 * (size_t)nb1};
        const size_t l = (size_t)p->gemm_local;
        const size_t local[3] = {l, l > 1 ? l : 1, 1};
        st = rt_launch(ctx, k, "gemm", nargs, args, 3, global, l ? local : NULL);
    }
free_packed:
    clcnn_tensor_destroy(packed);
    return st;
}

clcnn_status ops_transpose(clcnn_context *ctx, const clcnn_tensor *src, int src_off, clcnn_tensor *dst,
                             int dst_off, int rows, int cols) {
    if (!rt_cpu_family(ctx))
        return ops_transpose_tiles(ctx, "transpose", src->buf, src->offset + src_off, dst->buf,
                                     dst->offset + dst_off, 1, rows, cols);
    cl_kernel k;
    clcnn_status st = rt_get_kernel(ctx, "gemm.cl", "transpose", "", &k);
    if (st != CLCNN_OK) return st;
    const rt_karg args[] = {KARG_MEM(src->buf), KARG_INT(src->offset + src_off), KARG_MEM(dst->buf),
                               KARG_INT(dst->offset + dst_off), KARG_INT(rows), KARG_INT(cols)};
    const size_t global[2] = {(size_t)cols, (size_t)rows};
    return rt_launch(ctx, k, "transpose", KARG_LIST(args), 2, global, NULL);
}

#ifdef CLCNN_HAVE_CLBLAST
static clcnn_status gemm_clblast(clcnn_context *ctx, int ta, int tb, int M, int N, int K, float alpha,
                                 const clcnn_tensor *a, const clcnn_tensor *b, float beta, clcnn_tensor *c) {
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       tb ? CLBlastTransposeYes : CLBlastTransposeNo, (size_t)M, (size_t)N, (size_t)K,
                                       alpha, a->buf, (size_t)a->offset, (size_t)(ta ? M : K), b->buf,
                                       (size_t)b->offset, (size_t)(tb ? K : N), beta, c->buf, (size_t)c->offset,
                                       (size_t)N, &ctx->queue, NULL);
    if (s != CLBlastSuccess) return rt_error(ctx, s < 0 && s > -20000 ? s : CLCNN_ERR_UNSUPPORTED, "CLBlastSgemm failed (%d)", (int)s);
    return CLCNN_OK;
}
#endif

clcnn_status clcnn_gemm(clcnn_context *ctx, clcnn_gemm_backend backend, int trans_a, int trans_b, float alpha,
                        const clcnn_tensor *a, const clcnn_tensor *b, float beta, clcnn_tensor *c) {
    static const char *op = "clcnn_gemm";
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: ctx is NULL", op);
    clcnn_status st;
    if ((st = rt_check_tensor(ctx, op, "a", a, 2)) != CLCNN_OK || (st = rt_check_tensor(ctx, op, "b", b, 2)) != CLCNN_OK ||
        (st = rt_check_tensor(ctx, op, "c", c, 2)) != CLCNN_OK)
        return st;
    const int M = trans_a ? a->shape[1] : a->shape[0], K = trans_a ? a->shape[0] : a->shape[1];
    const int Kb = trans_b ? b->shape[1] : b->shape[0], N = trans_b ? b->shape[0] : b->shape[1];
    if (K != Kb || c->shape[0] != M || c->shape[1] != N) {
        char sa[64], sb[64], sc[64];
        return rt_error(ctx, CLCNN_ERR_SHAPE, "%s: op(a) %s%s x op(b) %s%s does not give c %s", op,
                           clcnn_tensor_shape_str(a, sa, sizeof sa), trans_a ? "^T" : "",
                           clcnn_tensor_shape_str(b, sb, sizeof sb), trans_b ? "^T" : "",
                           clcnn_tensor_shape_str(c, sc, sizeof sc));
    }
    if (backend == CLCNN_GEMM_AUTO)
        backend = CLCNN_GEMM_OWN; /* measured faster on PoCL; per-device choice grows with clbench tune */
    if (backend == CLCNN_GEMM_CLBLAST) {
#ifdef CLCNN_HAVE_CLBLAST
        return gemm_clblast(ctx, trans_a, trans_b, M, N, K, alpha, a, b, beta, c);
#else
        return rt_error(ctx, CLCNN_ERR_UNSUPPORTED, "%s: this build of libclcnn has no CLBlast", op);
#endif
    }
    if (backend != CLCNN_GEMM_OWN) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown backend %d", op, (int)backend);

    clcnn_tensor *bt = NULL; /* gemm_tiled wants B row-major [K, N] */
    if (trans_b) {
        if ((st = rt_scratch(ctx, 2, (int[]){K, N}, &bt)) != CLCNN_OK) return st;
        if ((st = ops_transpose(ctx, b, 0, bt, 0, N, K)) != CLCNN_OK) goto free_bt;
    }
    const ops_gemm_args g = {.M = M, .N = N, .K = K, .a = a, .sam = trans_a ? 1 : K, .sak = trans_a ? M : 1,
                               .b = bt ? bt : b, .ldb = N, .c = c, .scm = N, .scn = 1, .nb0 = 1, .nb1 = 1,
                               .act = CLCNN_ACT_NONE, .alpha = alpha, .beta = beta};
    st = ops_gemm_run(ctx, &g);
free_bt:
    clcnn_tensor_destroy(bt);
    return st;
}
