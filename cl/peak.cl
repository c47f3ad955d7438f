/* peak.cl: the device's roofline, measured by clcnn_measure_peak.
 *
 * fma_peak: NACC independent chains of VEC-wide multiply-adds per work-item, so that
 * the FMA units never wait for a result (latency x issue width chains in flight) and
 * the accumulators stay in registers. acc = acc * a + b converges to b / (1 - a) for
 * 0 < a < 1: no overflow, no denormals. The sum is stored so that nothing is dead code.
 * copy_scale: y = s * x, one float4 per work-item, over buffers far larger than caches. */
#ifndef VEC
#define VEC 8
#endif
#ifndef NACC
#define NACC 8
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define vec_t CAT(float, VEC)
#define VSTORE CAT(vstore, VEC)
#define UNROLL 8 /* multiply-adds per chain per loop trip */

__kernel void fma_peak(const int iters, const float a, const float b, __global float *out) {
    const size_t gid = get_global_id(0);
    vec_t acc[NACC];
#pragma unroll
    for (int i = 0; i < NACC; i++) acc[i] = (vec_t)((float)(gid & 255) * 1e-3f + (float)i);
    const vec_t va = (vec_t)(a), vb = (vec_t)(b);
    for (int it = 0; it < iters; it++) {
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
#pragma unroll
            for (int i = 0; i < NACC; i++) acc[i] = fma(acc[i], va, vb);
    }
#pragma unroll
    for (int i = 1; i < NACC; i++) acc[0] += acc[i];
    float lanes[VEC];
    VSTORE(acc[0], 0, lanes);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < VEC; i++) s += lanes[i];
    out[gid] = s;
}

__kernel void copy_scale(__global const float4 *x, __global float4 *y, const float s, const int n4) {
    const int i = get_global_id(0);
    if (i < n4) y[i] = s * x[i];
}
