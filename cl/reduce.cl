/* reduce.cl: the GPU family's sums over long rows, in two deterministic levels. Built
 * with -DRED_WG (clcnn_get_reduce_kernel): a work-group of RED_WG work-items reads one
 * row with unit stride between neighbours (coalesced), and a tree in local memory
 * adds their partials. The CPU family sums such rows with one work-item each instead
 * (conv_backward.cl's channel_grad_sum), fast on PoCL, but a GPU would then run few
 * work-items on long serial loops, and Mesa's llvmpipe stops any work-item after
 * 65,535 loop iterations. */

/* part[c * N + n] = the sum of plane n * C + c of src [N, C, P]: planes grouped by
 * channel for row_totals. Global (RED_WG, N * C), local (RED_WG, 1). */
__kernel void plane_sums(__global const float *src, const int src_off, __global float *part, const int part_off,
                         const int N, const int C, const int P) {
    __local float tmp[RED_WG];
    const int r = get_global_id(1), n = r / C, c = r - n * C;
    __global const float *plane = src + src_off + (size_t)r * P;
    float acc = 0.0f;
    for (int p = get_local_id(0); p < P; p += RED_WG) acc += plane[p];
    acc = group_sum(acc, tmp);
    if (get_local_id(0) == 0) part[part_off + c * N + n] = acc;
}

/* out[r] = scale * the sum over plane r of a[p] * b[p] (b NULL: of a[p]): a global
 * average pool (scale 1/P), Squeeze-and-Excitation's scale gradient (dz . x). One
 * work-group per plane, which suits the many short planes of those layers (49 to a
 * few thousand values) without a second pass. Global (RED_WG, planes), local (RED_WG, 1). */
__kernel void plane_dots(__global const float *a, const int a_off, __global const float *b, const int b_off,
                         __global float *out, const int out_off, const int P, const float scale) {
    __local float tmp[RED_WG];
    const int r = get_global_id(1);
    __global const float *pa = a + a_off + (size_t)r * P;
    float acc = 0.0f;
    if (b) {
        __global const float *pb = b + b_off + (size_t)r * P;
        for (int p = get_local_id(0); p < P; p += RED_WG) acc = fma(pa[p], pb[p], acc);
    } else {
        for (int p = get_local_id(0); p < P; p += RED_WG) acc += pa[p];
    }
    acc = group_sum(acc, tmp);
    if (get_local_id(0) == 0) out[out_off + r] = acc * scale;
}

/* out[r] += the sum of part[r * J .. r * J + J), in a fixed order. Global
 * (RED_WG, rows), local (RED_WG, 1). */
__kernel void row_totals(__global const float *part, const int part_off, __global float *out, const int out_off,
                         const int J) {
    __local float tmp[RED_WG];
    const int r = get_global_id(1);
    const float total = group_total(part, part_off + r * J, J, tmp);
    if (get_local_id(0) == 0) out[out_off + r] += total;
}
