/* numerics.cl: finding non-finite values, for CLCNN_CHECK_NUMERICS. */

/* first[0] = min(first[0], the smallest i < total with x[i] NaN or infinite). Each
 * work-item scans a strided slice and stops at its first find; the exponent bits are
 * tested directly so that no compiler option can fold the test away. */
__kernel void first_nonfinite(__global const float *x, const int x_off, __global int *first, const int first_off,
                              const int total) {
    const int stride = (int)get_global_size(0);
    for (int i = (int)get_global_id(0); i < total; i += stride)
        if ((as_uint(x[x_off + i]) & 0x7f800000u) == 0x7f800000u) {
            atomic_min(first + first_off, i);
            return;
        }
}
