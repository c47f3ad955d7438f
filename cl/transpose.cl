/* transpose.cl: the GPU family's transposes, dst[b][c][r] = src[b][r][c] for a batch of
 * rows x cols matrices, through a TS x TS tile in local memory: a work-group of TS x TR
 * work-items reads a tile along src's rows and writes it along dst's, so that
 * neighbouring work-items touch neighbouring addresses on both sides (a work-item per
 * element writes a whole column apart). The tile's rows are TS + 1 floats long, so that
 * a column of it spans every local-memory bank. TS and TR are build options
 * (src/ops/transpose.c fits them to the device). Global: (ceil(cols / TS) * TS,
 * ceil(rows / TS) * TR, batch). */
#ifndef TS
#define TS 32
#endif
#ifndef TR
#define TR 8
#endif

__kernel __attribute__((reqd_work_group_size(TS, TR, 1)))
void transpose_tiles(__global const float *src, const int src_off, __global float *dst, const int dst_off,
                     const int rows, const int cols) {
    __local float tile[TS][TS + 1];
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int c0 = get_group_id(0) * TS, r0 = get_group_id(1) * TS, b = get_global_id(2);
    __global const float *s = src + src_off + (size_t)b * rows * cols;
    __global float *d = dst + dst_off + (size_t)b * rows * cols;
    for (int i = ly; i < TS; i += TR)
        if (r0 + i < rows && c0 + lx < cols) tile[i][lx] = s[(r0 + i) * cols + c0 + lx];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int i = ly; i < TS; i += TR)
        if (c0 + i < cols && r0 + lx < rows) d[(c0 + i) * rows + r0 + lx] = tile[lx][i];
}
