/* gemm.cl: C = act(alpha * A B + beta * C + bias[m] + R), batched.
 *
 * Each work-item computes a TM x TN tile of C (TN = 16 or 32) in float16 registers:
 * one B row segment is loaded as float16 vectors and every A element of the tile's
 * rows is broadcast against it. No local memory and no barriers: on PoCL (CPU) this
 * register blocking is what makes the loop fast. A has arbitrary strides (so A^T is
 * free); B must be row-major with unit stride along N (the host transposes if not);
 * C has arbitrary strides so that a transposed result costs nothing. With b_packed,
 * B has been copied into TN-wide column panels by gemm_pack_b: every work-item then
 * reads one contiguous stream instead of K rows a row-stride apart (which, for strides
 * near a multiple of 4 KiB, keep evicting each other from the cache).
 * Batch: global id 2 = b0 * nb1 + b1, with separate strides for the outer and inner
 * batch index (convolution: image and group). */
#ifndef TM
#define TM 6
#endif
#ifndef TN
#define TN 32
#endif
#define NV (TN / 16)

__kernel void gemm_tiled(GEMM_KERNEL_ARGS) {
    const int n0 = get_global_id(0) * TN;
    const int m0 = get_global_id(1) * TM;
    if (n0 >= N || m0 >= M) return;
    const int b = get_global_id(2), b0 = b / nb1, b1 = b % nb1;
    B += b_off + b0 * b_sb0 + b1 * b_sb1;

    /* Rows past M repeat the last row (their results are not stored): no branch in the loop. */
    __global const float *arow[TM];
#pragma unroll
    for (int r = 0; r < TM; r++) arow[r] = A + a_off + b0 * a_sb0 + b1 * a_sb1 + min(m0 + r, M - 1) * sam;

    float16 acc[TM][NV];
#pragma unroll
    for (int r = 0; r < TM; r++)
#pragma unroll
        for (int v = 0; v < NV; v++) acc[r][v] = (float16)(0.0f);

    /* One rank-1 update of the tile: acc[r] += A[m0 + r, k] * bv. Every loop over the
     * tile is unrolled: that is what keeps acc and bv in registers (without it the
     * kernel runs at a fifth of the speed on PoCL). */
#define TILE_UPDATE(k, bv)                                                          \
    _Pragma("unroll") for (int r = 0; r < TM; r++) {                               \
        const float16 a = (float16)(arow[r][(k) * sak]);                           \
        _Pragma("unroll") for (int v = 0; v < NV; v++) acc[r][v] = fma(a, bv[v], acc[r][v]); \
    }

    if (b_packed) { /* B as panels [N/TN][K][TN] (gemm_pack_b): one contiguous stream */
        __global const float *panel = B + (n0 / TN) * K * TN;
        for (int k = 0; k < K; k++) {
            float16 bv[NV];
#pragma unroll
            for (int v = 0; v < NV; v++) bv[v] = vload16(v, panel + k * TN);
            TILE_UPDATE(k, bv)
        }
    } else if (n0 + TN <= N) {
        for (int k = 0; k < K; k++) {
            __global const float *brow = B + k * ldb + n0;
            float16 bv[NV];
#pragma unroll
            for (int v = 0; v < NV; v++) bv[v] = vload16(v, brow);
            TILE_UPDATE(k, bv)
        }
    } else { /* right edge: columns past N read as zero */
        for (int k = 0; k < K; k++) {
            __global const float *brow = B + k * ldb + n0;
            float bs[TN];
#pragma unroll
            for (int j = 0; j < TN; j++) bs[j] = n0 + j < N ? brow[j] : 0.0f;
            float16 bv[NV];
#pragma unroll
            for (int v = 0; v < NV; v++) bv[v] = vload16(v, bs);
            TILE_UPDATE(k, bv)
        }
    }
#undef TILE_UPDATE

    const int cbase = c_off + b0 * c_sb0 + b1 * c_sb1;
    const int rbase = r_off + b0 * c_sb0 + b1 * c_sb1;
    /* A full tile of a C with unit stride along N (every convolution's output): vector
     * loads and stores. With a small K the epilogue is a good part of the work. */
    const int vector_rows = scn == 1 && n0 + TN <= N;
#pragma unroll
    for (int r = 0; r < TM; r++) {
        const int m = m0 + r;
        if (m >= M) break;
        const float bm = bias ? bias[bias_off + b1 * bias_sb1 + m] : 0.0f;
        if (vector_rows) {
            __global float *crow = C + cbase + m * scm + n0;
            __global const float *rrow = R ? R + rbase + m * scm + n0 : R;
#pragma unroll
            for (int v = 0; v < NV; v++) {
                float16 val = alpha * acc[r][v] + bm;
                if (beta != 0.0f) val += beta * vload16(v, crow);
                if (R) val += vload16(v, rrow);
                vstore16(apply_act16(val, act), v, crow);
            }
            continue;
        }
        float out[TN];
#pragma unroll
        for (int v = 0; v < NV; v++) vstore16(acc[r][v], v, out);
#pragma unroll
        for (int j = 0; j < TN; j++) { /* unrolled: out's indexes are constants, out stays in registers */
            if (n0 + j >= N) break;
            const int ci = m * scm + (n0 + j) * scn;
            float val = alpha * out[j] + bm;
            if (beta != 0.0f) val += beta * C[cbase + ci];
            if (R) val += R[rbase + ci];
            C[cbase + ci] = apply_act(val, act);
        }
    }
}

/* dst[c * rows + r] = src[r * cols + c]: makes a row-major B for gemm_tiled. */
__kernel void transpose(__global const float *src, const int src_off, __global float *dst, const int dst_off,
                        const int rows, const int cols) {
    const int c = get_global_id(0), r = get_global_id(1);
    if (c >= cols || r >= rows) return;
    dst[dst_off + c * rows + r] = src[src_off + r * cols + c];
}

/* dst = B (K x N, row stride ldb, batch strides as gemm_tiled's) as panels
 * [batch][N/TN][K][TN], columns past N zero. Global: (K, panels, batch items). */
__kernel void gemm_pack_b(__global const float *B, const int b_off, const int ldb, const int b_sb0, const int b_sb1,
                          const int nb1, const int K, const int N, __global float *dst, const int dst_off) {
    const int k = get_global_id(0), p = get_global_id(1), b = get_global_id(2);
    const int panels = (N + TN - 1) / TN;
    if (k >= K || p >= panels) return;
    __global const float *src = B + b_off + (b / nb1) * b_sb0 + (b % nb1) * b_sb1 + k * ldb + p * TN;
    __global float *out = dst + dst_off + ((size_t)b * panels + p) * K * TN + k * TN;
    const int n0 = p * TN;
    if (n0 + TN <= N) {
#pragma unroll
        for (int v = 0; v < NV; v++) vstore16(vload16(v, src), v, out);
    } else {
        for (int j = 0; j < TN; j++) out[j] = n0 + j < N ? src[j] : 0.0f;
    }
}

/* After a GEMM split along K (src/ops/gemm_split.c): C = act(alpha * sum_s part[s] +
 * beta C + bias[m] + R), part [S][batch][M][N] (plane apart), C, bias and R laid out as
 * gemm_tiled's. The planes are added in order: the result does not depend on how the
 * slices were scheduled. Global: (N, M, batch items). */
__kernel void gemm_splitk_sum(__global const float *part, const int part_off, const int S, const int plane,
                              const int M, const int N,
                              __global float *C, const int c_off, const int scm, const int scn,
                              const int c_sb0, const int c_sb1, const int nb1,
                              __global const float *bias, const int bias_off, const int bias_sb1,
                              __global const float *R, const int r_off,
                              const int act, const float alpha, const float beta) {
    const int n = get_global_id(0), m = get_global_id(1), b = get_global_id(2);
    if (n >= N || m >= M) return;
    const int b0 = b / nb1, b1 = b % nb1;
    __global const float *p = part + part_off + (b * M + m) * N + n;
    float sum = 0.0f;
    for (int s = 0; s < S; s++) sum += p[s * plane];
    const int ci = b0 * c_sb0 + b1 * c_sb1 + m * scm + n * scn;
    float val = alpha * sum + (bias ? bias[bias_off + b1 * bias_sb1 + m] : 0.0f);
    if (beta != 0.0f) val += beta * C[c_off + ci];
    if (R) val += R[r_off + ci];
    C[c_off + ci] = apply_act(val, act);
}
