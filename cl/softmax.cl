/* softmax.cl: softmax or log-softmax over each row, max-subtracted for stability. */
__kernel void softmax_rows(__global const float *x, const int x_off, __global float *y, const int y_off,
                           const int rows, const int cols, const int log_softmax) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    __global const float *xr = x + x_off + r * cols;
    __global float *yr = y + y_off + r * cols;
    float mx = -INFINITY;
    for (int i = 0; i < cols; i++) mx = fmax(mx, xr[i]);
    float sum = 0.0f;
    for (int i = 0; i < cols; i++) sum += exp(xr[i] - mx);
    if (log_softmax) {
        const float lse = log(sum);
        for (int i = 0; i < cols; i++) yr[i] = xr[i] - mx - lse;
    } else {
        const float inv = 1.0f / sum;
        for (int i = 0; i < cols; i++) yr[i] = exp(xr[i] - mx) * inv;
    }
}
