/* loss.cl: softmax cross-entropy and binary cross-entropy on logits, each a
 * per-row (or per-chunk) pass and a one-work-group final sum on the device.
 * RED_WG (the final sum's work-group size, a power of two) comes as a -D option. */

/* The class index a float label names, or -1 when it is not an integer in [0, C)
 * (NaN fails every comparison). */
inline int label_class(float lab, int C) {
    return (lab >= 0.0f && lab < (float)C && lab == floor(lab)) ? (int)lab : -1;
}

/* Per row i of logits [N, C]: rows[3i] = the row's weighted loss
 * (1 - eps) w[y] (lse - x[y]) + eps/C sum_c w[c] (lse - x[c]), rows[3i + 1] = w[y],
 * rows[3i + 2] = lse = log sum_c exp(x[c]) (max-subtracted). w may be NULL (all 1).
 * A bad label gives NaN for both sums, so the loss becomes NaN. */
__kernel void ce_rows(__global const float *x, const int x_off, __global const float *lab, const int lab_off,
                      __global const float *w, const int w_off, const int N, const int C, const float eps,
                      __global float *rows, const int rows_off) {
    const int i = get_global_id(0);
    if (i >= N) return;
    __global const float *xr = x + x_off + (size_t)i * C;
    float mx = -INFINITY;
    for (int c = 0; c < C; c++) mx = fmax(mx, xr[c]);
    float sum = 0.0f;
    for (int c = 0; c < C; c++) sum += exp(xr[c] - mx);
    const float lsum = log(sum);
    float smooth = 0.0f;
    if (eps != 0.0f) {
        for (int c = 0; c < C; c++) smooth += (w ? w[w_off + c] : 1.0f) * ((mx - xr[c]) + lsum);
        smooth *= eps / (float)C;
    }
    const int y = label_class(lab[lab_off + i], C);
    __global float *r = rows + rows_off + 3 * i;
    if (y < 0) {
        r[0] = NAN;
        r[1] = NAN;
    } else {
        const float wy = w ? w[w_off + y] : 1.0f;
        r[0] = (1.0f - eps) * wy * ((mx - xr[y]) + lsum) + smooth;
        r[1] = wy;
    }
    r[2] = mx + lsum;
}

/* One work-group of RED_WG: loss = sum rows[3i] / sum rows[3i + 1]; stats[0] = 1 / that
 * divisor and stats[1] = sum_c w[c] (C without weights), for ce_grad. */
__kernel void ce_total(__global const float *rows, const int rows_off, const int N, __global const float *w,
                       const int w_off, const int C, __global float *loss, const int loss_off,
                       __global float *stats, const int stats_off) {
    __local float tmp[RED_WG];
    const int l = get_local_id(0);
    float num = 0.0f, den = 0.0f, sw = 0.0f;
    for (int i = l; i < N; i += RED_WG) {
        num += rows[rows_off + 3 * i];
        den += rows[rows_off + 3 * i + 1];
    }
    for (int c = l; c < C; c += RED_WG) sw += w ? w[w_off + c] : 1.0f;
    num = group_sum(num, tmp);
    den = group_sum(den, tmp);
    sw = group_sum(sw, tmp);
    if (l == 0) {
        loss[loss_off] = num / den;
        stats[stats_off] = 1.0f / den;
        stats[stats_off + 1] = sw;
    }
}

/* d loss / d x[i, k] = ((1 - eps) w[y] (p[k] - [k == y]) + eps/C (sum_c w[c] p[k] - w[k])) / sum_i w[y_i],
 * with p = softmax of row i. One work-item per element of logits [N, C]. */
__kernel void ce_grad(__global const float *x, const int x_off, __global const float *lab, const int lab_off,
                      __global const float *w, const int w_off, const int N, const int C, const float eps,
                      __global const float *rows, const int rows_off, __global const float *stats,
                      const int stats_off, __global float *d, const int d_off) {
    const int idx = get_global_id(0);
    if (idx >= N * C) return;
    const int i = idx / C, k = idx - i * C;
    const int y = label_class(lab[lab_off + i], C);
    if (y < 0) {
        d[d_off + idx] = NAN;
        return;
    }
    const float p = exp(x[x_off + idx] - rows[rows_off + 3 * i + 2]);
    const float wy = w ? w[w_off + y] : 1.0f, wk = w ? w[w_off + k] : 1.0f;
    const float g = (1.0f - eps) * wy * (k == y ? p - 1.0f : p) + eps / (float)C * (stats[stats_off + 1] * p - wk);
    d[d_off + idx] = g * stats[stats_off];
}

/* Binary cross-entropy on logits, elementwise max(x, 0) - x t + log1p(exp(-|x|)) (no
 * overflow for any x). Work-item j of P handles elements j, j + P, ... (adjacent
 * work-items read adjacent elements), writes d = (sigmoid(x) - t) * inv_n unless d is
 * NULL, and its partial loss sum to part[j]. */
__kernel void bce_partial(__global const float *x, const int x_off, __global const float *t, const int t_off,
                          __global float *d, const int d_off, const int n, const float inv_n, const int P,
                          __global float *part, const int part_off) {
    const int j = get_global_id(0);
    if (j >= P) return;
    float acc = 0.0f;
    for (int e = j; e < n; e += P) {
        const float v = x[x_off + e], tv = t[t_off + e];
        const float z = exp(-fabs(v)); /* in (0, 1] */
        acc += fmax(v, 0.0f) - v * tv + log1p(z);
        if (d) {
            const float sig = v >= 0.0f ? 1.0f / (1.0f + z) : z / (1.0f + z);
            d[d_off + e] = (sig - tv) * inv_n;
        }
    }
    part[part_off + j] = acc;
}

/* One work-group of RED_WG: out = scale * sum of part[0 .. n). */
__kernel void sum_scaled(__global const float *part, const int part_off, const int n, const float scale,
                         __global float *out, const int out_off) {
    __local float tmp[RED_WG];
    const float total = group_total(part, part_off, n, tmp);
    if (get_local_id(0) == 0) out[out_off] = total * scale;
}
