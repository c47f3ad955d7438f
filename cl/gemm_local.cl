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
 * (groups along N x NDIMC, groups along M x MDIMC, batch items).
 *
 * Built with -DB_IM2COL=1 or 2, the kernel takes a convolution's geometry after those
 * arguments and gathers B from the input planes as im2col would have written it
 * (implicit GEMM, clcnn_gemm_gather in src/ops/ops.h): no column matrix is written or
 * read back. 1: B(k, n) = column row k, pixel n (the forward pass); 2: B(k, n) = column
 * row n, pixel k % P of image k / P (the weight gradient, K running over the batch).
 * With -DA_FLIP_T as well, A(m, k) = A[(k / T) * sak + m * sam + T - 1 - k % T] with
 * T = KH * KW: a convolution's weights transposed and turned, so that a stride-1 data
 * gradient runs as the forward convolution of dY. 3: one output phase (ry, rx) of a
 * strided convolution's data gradient: the input pixels (ry + sh qy, rx + sw qx) take
 * only the taps (ky0 + sh jy, kx0 + sw jx) that reach them, so no zero of a dilated dY is
 * multiplied: k = (co, jy, jx), n = (qy, qx), A the weights read in place, B dY at
 * (qy + dy0 - jy, qx + dx0 - jx), and C stored at the phase's pixels of dX. */
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
#ifdef B_IM2COL
#define GATHER_ARGS                                                                                          \
    , const int gH, const int gW, const int gKH, const int gKW, const int gsh, const int gsw, const int gph, \
        const int gpw, const int gdh, const int gdw, const int gOW, const int gk_base, const int gP,         \
        const int gimage PHASE_ARGS
#if B_IM2COL == 3
#define PHASE_ARGS                                                                                           \
    , const int pOH, const int pry, const int prx, const int pky0, const int pkx0, const int pdy0, const int pdx0, \
        const int pJY, const int pJX, const int pQW
#else
#define PHASE_ARGS
#endif

/* Column row k, pixel n of the im2col matrix of the planes at x. */
inline float im2col_at(__global const float *x, const int k, const int n, const int H, const int W, const int KH,
                       const int KW, const int sh, const int sw, const int ph, const int pw, const int dh,
                       const int dw, const int OW) {
    const int kx = k % KW, t = k / KW, ky = t % KH, c = t / KH;
    const int oy = n / OW, ox = n - oy * OW;
    const int iy = oy * sh - ph + ky * dh, ix = ox * sw - pw + kx * dw;
    return iy >= 0 && iy < H && ix >= 0 && ix < W ? x[(c * H + iy) * W + ix] : 0.0f;
}
#else
#define GATHER_ARGS
#endif

#define MWI (MWG / MDIMC)
#define NWI (NWG / NDIMC)
#define WGS (MDIMC * NDIMC)

__kernel __attribute__((reqd_work_group_size(NDIMC, MDIMC, 1)))
void gemm_local(GEMM_KERNEL_ARGS GATHER_ARGS) {
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
#if defined(A_FLIP_T)
            const int T = gKH * gKW, kt = gk_base + k;
            As[kk][mm] = m < M && k < K ? A[(kt / T) * sak + m * sam + T - 1 - kt % T] : 0.0f;
#elif B_IM2COL == 3
            const int kt = gk_base + k, co = kt / (pJY * pJX), j = kt - co * (pJY * pJX), jy = j / pJX;
            const int tap = (pky0 + gsh * jy) * gKW + pkx0 + gsw * (j - jy * pJX);
            As[kk][mm] = m < M && k < K ? A[co * sak + m * sam + tap] : 0.0f;
#else
            As[kk][mm] = m < M && k < K ? A[m * sam + k * sak] : 0.0f;
#endif
        }
        for (int idx = lid; idx < NWG * KWG; idx += WGS) {
            const int nn = idx % NWG, kk = idx / NWG, n = n_base + nn, k = k0 + kk;
            float v = 0.0f;
#if B_IM2COL == 1
            if (n < N && k < K) v = im2col_at(B, gk_base + k, n, gH, gW, gKH, gKW, gsh, gsw, gph, gpw, gdh, gdw, gOW);
#elif B_IM2COL == 2
            if (n < N && k < K) {
                const int kb = gk_base + k, image = kb / gP;
                v = im2col_at(B + image * gimage, n, kb - image * gP, gH, gW, gKH, gKW, gsh, gsw, gph, gpw, gdh, gdw,
                              gOW);
            }
#elif B_IM2COL == 3
            if (n < N && k < K) {
                const int kt = gk_base + k, co = kt / (pJY * pJX), j = kt - co * (pJY * pJX), jy = j / pJX;
                const int qy = n / pQW, oy = qy + pdy0 - jy, ox = n - qy * pQW + pdx0 - (j - jy * pJX);
                if (oy >= 0 && oy < pOH && ox >= 0 && ox < gOW) v = B[(co * pOH + oy) * gOW + ox];
            }
#else
            if (n < N && k < K)
                v = b_packed ? B[(n / PANEL_TN) * K * PANEL_TN + k * PANEL_TN + n % PANEL_TN] : B[k * ldb + n];
#endif
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
#if B_IM2COL == 3
            const int qy = n / pQW, ci = m * scm + (pry + gsh * qy) * gW + prx + gsw * (n - qy * pQW);
#else
            const int ci = m * scm + n * scn;
#endif
            float val = alpha * acc[i][j] + bm;
            if (beta != 0.0f) val += beta * C[cbase + ci];
            if (R) val += R[rbase + ci];
            C[cbase + ci] = apply_act(val, act);
        }
    }
}
