/* gemm_local.cl: C = act(alpha * A B + beta * C + bias[m] + R), batched, for GPUs.
 *
 * gemm.cl's kernel keeps a tile of C per work-item and reads A and B through the cache,
 * which suits PoCL; on a GPU every element would be fetched by each of the work-items
 * that share it. Here a work-group of MDIMC x NDIMC work-items computes an MWG x NWG tile
 * of C: it stages KWG-deep slices of A (MWG x KWG) and B (KWG x NWG) in local memory,
 * each value loaded from global memory once per work-group, and every work-item
 * accumulates MWI x NWI outputs (MWI = MWG / MDIMC) in registers, reading its operands
 * from local memory. As CLBlast's xgemm does, a work-item's rows and columns are strided
 * by MDIMC and NDIMC, so that neighbouring work-items read neighbouring local words and
 * store neighbouring columns of C.
 *
 * The arguments are gemm_tiled's (src/ops/gemm.c): A with any strides (A^T is free), B
 * row-major or in gemm_pack_b's panels of PANEL_TN columns, C with any strides, the
 * batch as b0 x b1, bias per row, R in C's layout. Work-group (NDIMC, MDIMC, 1), global
 * (groups along N x NDIMC, groups along M x MDIMC, batch items). */
#ifndef MWG
#define MWG 64
#endif
#ifndef NWG
#define NWG 64
#endif
#ifndef KWG
#define KWG 16
#endif
#ifndef MDIMC
#define MDIMC 16
#endif
#ifndef NDIMC
#define NDIMC 16
#endif
#ifndef PANEL_TN
#define PANEL_TN 16
#endif
#define MWI (MWG / MDIMC)
#define NWI (NWG / NDIMC)
#define WGS (MDIMC * NDIMC)

__kernel __attribute__((reqd_work_group_size(NDIMC, MDIMC, 1)))
void gemm_local(GEMM_KERNEL_ARGS) {
    __local float As[KWG][MWG];
    __local float Bs[KWG][NWG];
    const int tx = get_local_id(0), ty = get_local_id(1), lid = ty * NDIMC + tx;
    const int n_base = get_group_id(0) * NWG, m_base = get_group_id(1) * MWG;
    const int b = get_global_id(2), b0 = b / nb1, b1 = b % nb1;
    A += a_off + b0 * a_sb0 + b1 * a_sb1;
    B += b_off + b0 * b_sb0 + b1 * b_sb1;

    float acc[MWI][NWI];
#pragma unroll
    for (int i = 0; i < MWI; i++)
#pragma unroll
        for (int j = 0; j < NWI; j++) acc[i][j] = 0.0f;

    /* A is read along its unit stride: k fastest for a row-major A, m for A^T. */
    const int a_k_fast = sak == 1;
    for (int k0 = 0; k0 < K; k0 += KWG) {
        for (int idx = lid; idx < MWG * KWG; idx += WGS) {
            const int mm = a_k_fast ? idx / KWG : idx % MWG, kk = a_k_fast ? idx % KWG : idx / MWG;
            const int m = m_base + mm, k = k0 + kk;
            As[kk][mm] = m < M && k < K ? A[m * sam + k * sak] : 0.0f;
        }
        for (int idx = lid; idx < NWG * KWG; idx += WGS) {
            const int nn = idx % NWG, kk = idx / NWG, n = n_base + nn, k = k0 + kk;
            float v = 0.0f;
            if (n < N && k < K)
                v = b_packed ? B[(n / PANEL_TN) * K * PANEL_TN + k * PANEL_TN + n % PANEL_TN] : B[k * ldb + n];
            Bs[kk][nn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int kk = 0; kk < KWG; kk++) {
            float a[MWI], bv[NWI];
#pragma unroll
            for (int i = 0; i < MWI; i++) a[i] = As[kk][ty + i * MDIMC];
#pragma unroll
            for (int j = 0; j < NWI; j++) bv[j] = Bs[kk][tx + j * NDIMC];
#pragma unroll
            for (int i = 0; i < MWI; i++)
#pragma unroll
                for (int j = 0; j < NWI; j++) acc[i][j] = fma(a[i], bv[j], acc[i][j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* every read of this slice is done before the next load */
    }

    const int cbase = c_off + b0 * c_sb0 + b1 * c_sb1, rbase = r_off + b0 * c_sb0 + b1 * c_sb1;
#pragma unroll
    for (int i = 0; i < MWI; i++) {
        const int m = m_base + ty + i * MDIMC;
        if (m >= M) break;
        const float bm = bias ? bias[bias_off + b1 * bias_sb1 + m] : 0.0f;
#pragma unroll
        for (int j = 0; j < NWI; j++) {
            const int n = n_base + tx + j * NDIMC;
            if (n >= N) break;
            const int ci = m * scm + n * scn;
            float val = alpha * acc[i][j] + bm;
            if (beta != 0.0f) val += beta * C[cbase + ci];
            if (R) val += R[rbase + ci];
            C[cbase + ci] = apply_act(val, act);
        }
    }
}
