/* cam.cl: class activation maps (src/explain). Every kernel here is built with -DRED_WG
 * (clcnn_get_reduce_kernel), one program for the file. A is a layer's activations
 * [N, K, HW] (HW = h * w), G its gradient, maps are [N, HW]. "Per image" kernels run one
 * work-group of RED_WG work-items per image (or row), the others one work-item per item. */

/* The values of clcnn_cam_method in clcnn.h that the channel-weight kernel computes. */
#define CAM_GRADCAM 0
#define CAM_GRADCAM_PP 1
#define CAM_XGRADCAM 3

/* How cam_combine weighs A_k: by w[n, k], by G (HiResCAM) or by ReLU(G) (LayerCAM). */
#define COMBINE_WEIGHTS 0
#define COMBINE_GRAD 1
#define COMBINE_RELU_GRAD 2

/* Maximum of v over the work-group (every work-item must call it), as group_sum. */
inline float group_max(float v, __local float *tmp) {
    const int l = get_local_id(0);
    tmp[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = RED_WG / 2; s > 0; s >>= 1) {
        if (l < s) tmp[l] = fmax(tmp[l], tmp[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = tmp[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

/* A map without spatial variation points nowhere: it becomes all zeros (lo and hi are
 * each work-item's extremes of the values it wrote to m; the work-group calls this). */
inline void zero_if_flat(__global float *m, const int hw, const float lo, const float hi, __local float *tmp) {
    const float top = group_max(hi, tmp), bottom = -group_max(-lo, tmp);
    if (top == bottom)
        for (int i = get_local_id(0); i < hw; i += RED_WG) m[i] = 0.0f;
}

/* w[r] for row r = (n, k) of A and G, per method (pytorch-grad-cam's formulas):
 *  Grad-CAM:   mean_i g_i
 *  XGrad-CAM:  sum_i g_i a_i / (sum_i a_i + 1e-7)
 *  Grad-CAM++: sum_i ReLU(g_i) g_i^2 / (2 g_i^2 + sum_j a_j g_i^3 + 1e-6); terms with
 *              g_i <= 0 are zero (ReLU), so are terms whose denominator is exactly 0.
 * No division by zero: a zero denominator gives a zero weight. */
__kernel void cam_channel_weights(__global const float *a, const int a_off, __global const float *g, const int g_off,
                                  __global float *w, const int w_off, const int rows, const int hw, const int method) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    __global const float *ar = a + a_off + r * hw;
    __global const float *gr = g + g_off + r * hw;
    float sum_a = 0.0f, acc = 0.0f;
    if (method != CAM_GRADCAM)
        for (int i = 0; i < hw; i++) sum_a += ar[i];
    if (method == CAM_GRADCAM) {
        for (int i = 0; i < hw; i++) acc += gr[i];
        acc /= (float)hw;
    } else if (method == CAM_XGRADCAM) {
        for (int i = 0; i < hw; i++) acc += gr[i] * ar[i];
        const float den = sum_a + 1e-7f;
        acc = den != 0.0f ? acc / den : 0.0f;
    } else { /* Grad-CAM++ */
        for (int i = 0; i < hw; i++) {
            const float gi = gr[i];
            if (!(gi > 0.0f)) continue;
            const float g2 = gi * gi, den = 2.0f * g2 + sum_a * g2 * gi + 1e-6f;
            if (den != 0.0f) acc += gi * g2 / den;
        }
    }
    w[w_off + r] = acc;
}

/* map[n, i] = ReLU(sum_k c_k a[n, k, i]) with c_k = w[n, k], g[n, k, i] or ReLU(g[n, k, i])
 * (mode); one work-group per image, so that a flat map can be zeroed. g or w may be NULL
 * when the mode does not read it. */
__kernel void cam_combine(__global const float *a, const int a_off, __global const float *g, const int g_off,
                          __global const float *w, const int w_off, __global float *map, const int map_off,
                          const int K, const int hw, const int mode) {
    __local float tmp[RED_WG];
    const int n = get_group_id(0), base = n * K * hw;
    __global float *m = map + map_off + n * hw;
    float lo = INFINITY, hi = -INFINITY;
    for (int i = get_local_id(0); i < hw; i += RED_WG) {
        float acc = 0.0f;
        for (int k = 0; k < K; k++) {
            const int j = base + k * hw + i;
            float c;
            if (mode == COMBINE_WEIGHTS) c = w[w_off + n * K + k];
            else if (mode == COMBINE_GRAD) c = g[g_off + j];
            else c = fmax(g[g_off + j], 0.0f);
            acc += c * a[a_off + j];
        }
        const float v = acc < 0.0f ? 0.0f : acc;
        m[i] = v;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    zero_if_flat(m, hw, lo, hi, tmp);
}

/* w[n, k] = fc[cls[n], k]: CAM's weights, the class's row of the linear layer. */
__kernel void cam_gather_rows(__global const float *fc, const int fc_off, __global const float *cls, const int cls_off,
                              __global float *w, const int w_off, const int rows, const int K) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int n = r / K, k = r - n * K;
    w[w_off + r] = fc[fc_off + (int)cls[cls_off + n] * K + k];
}

/* ---- EigenCAM ---- */

/* x[n, k * sk + i * si] = a[n, k, i] - mean_i a[n, k, :]: the activations centred per
 * channel, stored [K, HW] (sk = HW, si = 1) or transposed [HW, K] (sk = 1, si = K). */
__kernel void cam_center(__global const float *a, const int a_off, __global float *x, const int x_off,
                         const int rows, const int K, const int hw, const int sk, const int si) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int n = r / K, k = r - n * K;
    __global const float *ar = a + a_off + r * hw;
    __global float *xn = x + x_off + n * K * hw + k * sk;
    float mean = 0.0f;
    for (int i = 0; i < hw; i++) mean += ar[i];
    mean /= (float)hw;
    for (int i = 0; i < hw; i++) xn[i * si] = ar[i] - mean;
}

/* Power iteration for the top eigenvector u[n] (unit length) and eigenvalue lam[n] of the
 * symmetric positive semi-definite S x S matrix c[n], one work-group per image; w is S
 * floats of workspace per image. It stops when the squared change of u is at most tol2 or
 * after max_iter steps. A zero matrix gives u = 0 and lam = 0. The start vector is fixed
 * and not constant (a Gram matrix of centred data has the constant vector in its null
 * space). */
__kernel void cam_power(__global const float *c, const int c_off, __global float *u, const int u_off,
                        __global float *w, const int w_off, __global float *lam, const int lam_off, const int S,
                        const int max_iter, const float tol2) {
    __local float tmp[RED_WG];
    const int n = get_group_id(0), l = get_local_id(0);
    __global const float *cn = c + c_off + n * S * S;
    __global float *un = u + u_off + n * S;
    __global float *wn = w + w_off + n * S;
    float part = 0.0f;
    for (int i = l; i < S; i += RED_WG) {
        const float v = 0.5f + (float)(((uint)i * 40503u) & 65535u) / 65536.0f;
        un[i] = v;
        part += v * v;
    }
    const float inv0 = 1.0f / sqrt(group_sum(part, tmp));
    for (int i = l; i < S; i += RED_WG) un[i] *= inv0;
    barrier(CLK_GLOBAL_MEM_FENCE);
    float lambda = 0.0f;
    int done = 0; /* the same on every work-item: it comes from group sums */
    for (int it = 0; it < max_iter && !done; it++) {
        float norm2 = 0.0f, rayleigh = 0.0f;
        for (int r = l; r < S; r += RED_WG) {
            float acc = 0.0f;
            for (int j = 0; j < S; j++) acc += cn[r * S + j] * un[j];
            wn[r] = acc;
            norm2 += acc * acc;
            rayleigh += acc * un[r];
        }
        norm2 = group_sum(norm2, tmp);
        lambda = group_sum(rayleigh, tmp);
        barrier(CLK_GLOBAL_MEM_FENCE); /* every read of u in this step is done */
        const int zero = !(norm2 > 0.0f) || !isfinite(norm2);
        const float inv = zero ? 0.0f : 1.0f / sqrt(norm2);
        float diff = 0.0f;
        for (int r = l; r < S; r += RED_WG) {
            const float v = wn[r] * inv, d = v - un[r];
            un[r] = v;
            diff += d * d;
        }
        diff = group_sum(diff, tmp);
        barrier(CLK_GLOBAL_MEM_FENCE); /* the new u is visible to the whole group */
        done = zero || diff <= tol2;
        if (zero) lambda = 0.0f;
    }
    if (l == 0) lam[lam_off + n] = lambda;
}

/* The EigenCAM map of image n: the centred activations projected on the first principal
 * direction, p = sqrt(lam) u when u came from the HW x HW Gram matrix (gram = 1), or
 * p_i = sum_k x[n, i, k] u_k from the K x K covariance with x = centred A transposed
 * [HW, K] (gram = 0); p is negated when it correlates negatively with the channel sum
 * s_i = sum_k a[n, k, i] (the rule that fixes SVD's free sign), then the ReLU. */
__kernel void cam_project(__global const float *a, const int a_off, __global const float *x, const int x_off,
                          __global const float *u, const int u_off, __global const float *lam, const int lam_off,
                          __global float *map, const int map_off, const int K, const int hw, const int gram) {
    __local float tmp[RED_WG];
    const int n = get_group_id(0), l = get_local_id(0);
    __global const float *an = a + a_off + n * K * hw;
    __global const float *xn = x + x_off + n * K * hw;
    __global const float *un = u + u_off + n * (gram ? hw : K);
    __global float *m = map + map_off + n * hw;
    const float scale = sqrt(fmax(lam[lam_off + n], 0.0f));
    float corr = 0.0f;
    for (int i = l; i < hw; i += RED_WG) {
        float p = 0.0f, s = 0.0f;
        if (gram) {
            p = scale * un[i];
        } else {
            for (int k = 0; k < K; k++) p += xn[i * K + k] * un[k];
        }
        for (int k = 0; k < K; k++) s += an[k * hw + i];
        corr += p * s;
        m[i] = p;
    }
    const float sign = group_sum(corr, tmp) < 0.0f ? -1.0f : 1.0f;
    float lo = INFINITY, hi = -INFINITY;
    for (int i = l; i < hw; i += RED_WG) { /* this work-item's own values */
        const float v = fmax(sign * m[i], 0.0f);
        m[i] = v;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    zero_if_flat(m, hw, lo, hi, tmp);
}

/* ---- batched masked forward passes (Score-CAM, deletion and insertion) ---- */

/* Score-CAM's input b of a batch: pair q = q0 + b = n * K + k; up[b] is channel k of image n
 * upsampled to the input size; out[b] = x[n] * (up[b] - min) / (max - min), 0 when the
 * channel is flat. Rows with q >= total (padding of the last batch; up holds stale values
 * there) are zeros. One work-group per row b; no work-item leaves before the barriers. */
__kernel void cam_score_mask(__global const float *up, const int up_off, __global const float *x, const int x_off,
                             __global float *out, const int out_off, const int q0, const int total, const int K,
                             const int C, const int HW) {
    __local float tmp[RED_WG];
    const int b = get_group_id(0), l = get_local_id(0), q = q0 + b, valid = q < total;
    __global const float *ub = up + up_off + b * HW;
    __global float *ob = out + out_off + b * C * HW;
    float lo = INFINITY, hi = -INFINITY;
    for (int i = l; i < HW; i += RED_WG) {
        lo = fmin(lo, ub[i]);
        hi = fmax(hi, ub[i]);
    }
    lo = -group_max(-lo, tmp);
    hi = group_max(hi, tmp);
    const float range = hi - lo;
    const int xbase = x_off + (valid ? q / K : 0) * C * HW;
    for (int i = l; i < HW; i += RED_WG) {
        const float mask = valid && range > 0.0f ? (ub[i] - lo) / range : 0.0f;
        for (int ch = 0; ch < C; ch++) ob[ch * HW + i] = valid ? x[xbase + ch * HW + i] * mask : 0.0f;
    }
}

/* Deletion (q <= steps) and insertion (q > steps) images: step s removes (deletion: sets to
 * 0) or adds (insertion: onto zeros) the first s * HW / steps pixels in rank order
 * (rank[p] = position of pixel p by decreasing map value). Global: (HW, batch). */
__kernel void cam_perturb(__global const float *x, const int x_off, __global const float *rank, const int rank_off,
                          __global float *out, const int out_off, const int q0, const int total, const int steps,
                          const int C, const int HW) {
    const int p = get_global_id(0), b = get_global_id(1), q = q0 + b;
    if (p >= HW) return;
    __global float *ob = out + out_off + b * C * HW;
    int keep = 0;
    if (q < total) {
        const int insertion = q > steps, s = insertion ? q - steps - 1 : q;
        const int count = (int)((long)s * HW / steps);
        const int first = rank[rank_off + p] < (float)count;
        keep = insertion ? first : !first;
    }
    for (int ch = 0; ch < C; ch++) ob[ch * HW + p] = keep ? x[x_off + ch * HW + p] : 0.0f;
}

/* out[q0 + b] = probs[b, cls[(q0 + b) / div]] for the rows of a batch below total. */
__kernel void cam_gather_prob(__global const float *probs, const int p_off, __global const float *cls,
                              const int cls_off, __global float *out, const int out_off, const int q0, const int total,
                              const int rows, const int classes, const int div) {
    const int b = get_global_id(0), q = q0 + b;
    if (b >= rows || q >= total) return;
    out[out_off + q] = probs[p_off + b * classes + (int)cls[cls_off + q / div]];
}
