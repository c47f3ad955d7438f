/* optim.cl: optimizer updates (torch.optim.SGD / Adam / AdamW, float32 as PyTorch
 * computes them) and the total gradient norm for clipping. RED_WG (the norm's final
 * work-group size, a power of two) comes as a -D option. */

/* The gradient times the clipping factor gs[1] when gs is given. */
inline float scaled_grad(__global const float *g, int i, __global const float *gs, int gs_off) {
    const float v = g[i];
    return gs ? v * gs[gs_off + 1] : v;
}

/* torch.optim.SGD: d = g + wd p; with momentum, buf = d at the first step, else
 * momentum buf + (1 - dampening) d; d = nesterov ? d + momentum buf : buf; p -= lr d. */
__kernel void sgd_step(__global float *p, const int p_off, __global const float *g, const int g_off,
                       __global float *buf, const int buf_off, __global const float *gs, const int gs_off,
                       const int n, const float lr, const float momentum, const float dampening,
                       const int nesterov, const float wd, const int first) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float pv = p[p_off + i];
    float d = scaled_grad(g, g_off + i, gs, gs_off);
    if (wd != 0.0f) d += wd * pv;
    if (momentum != 0.0f) {
        const float b = first ? d : buf[buf_off + i] * momentum + d * (1.0f - dampening);
        buf[buf_off + i] = b;
        d = nesterov ? d + b * momentum : b;
    }
    p[p_off + i] = pv + d * -lr;
}

/* torch.optim.Adam (l2 = weight decay added to the gradient, keep = 1) and AdamW
 * (l2 = 0, keep = 1 - lr wd scales p first):
 * m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
 * p -= step_size m / (sqrt(v) / bc2_sqrt + eps), step_size = lr / (1 - beta1^t),
 * bc2_sqrt = sqrt(1 - beta2^t) (both from the host, in double as PyTorch). */
__kernel void adam_step(__global float *p, const int p_off, __global const float *g, const int g_off,
                        __global float *m, const int m_off, __global float *v, const int v_off,
                        __global const float *gs, const int gs_off, const int n, const float keep,
                        const float l2, const float beta1, const float beta2, const float step_size,
                        const float bc2_sqrt, const float eps) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float pv = p[p_off + i] * keep;
    float d = scaled_grad(g, g_off + i, gs, gs_off);
    if (l2 != 0.0f) d += l2 * pv;
    const float mv = m[m_off + i] * beta1 + d * (1.0f - beta1);
    const float vv = v[v_off + i] * beta2 + d * d * (1.0f - beta2);
    m[m_off + i] = mv;
    v[v_off + i] = vv;
    p[p_off + i] = pv - step_size * (mv / (sqrt(vv) / bc2_sqrt + eps));
}

/* Partial sums of squares of up to 8 tensors per launch: slot s is tensor gs (at offset
 * os, ns elements), served by work-items [bs, bs + ps); work-item j of a slot sums
 * elements j, j + ps, ... (adjacent work-items read adjacent elements) into
 * part[the work-item's global id]. Unused slots have ps = 0. */
#define SLOT_ARGS(s) __global const float *g##s, const int o##s, const int n##s, const int b##s, const int p##s
#define PICK(s)                                                                                                 \
    if (id >= b##s && id < b##s + p##s) {                                                                     \
        src = g##s + o##s;                                                                                      \
        len = n##s;                                                                                             \
        j = id - b##s;                                                                                          \
        stride = p##s;                                                                                          \
    }
__kernel void sumsq_partials(SLOT_ARGS(0), SLOT_ARGS(1), SLOT_ARGS(2), SLOT_ARGS(3), SLOT_ARGS(4),
                             SLOT_ARGS(5), SLOT_ARGS(6), SLOT_ARGS(7), const int total, __global float *part,
                             const int part_off) {
    const int id = get_global_id(0);
    if (id >= total) return;
    __global const float *src = 0;
    int len = 0, j = 0, stride = 1;
    PICK(0) PICK(1) PICK(2) PICK(3) PICK(4) PICK(5) PICK(6) PICK(7)
    float acc = 0.0f;
    for (int e = j; e < len; e += stride) {
        const float x = src[e];
        acc += x * x;
    }
    part[part_off + id] = acc;
}

/* One work-group of RED_WG: out[0] = sqrt(sum of part[0 .. n)), out[1] = the clipping
 * factor min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_; a NaN
 * norm gives a NaN factor (as torch.clamp), which poisons the update visibly. */
__kernel void norm_finish(__global const float *part, const int part_off, const int n, const float max_norm,
                          __global float *out, const int out_off) {
    __local float tmp[RED_WG];
    const float total = group_total(part, part_off, n, tmp);
    if (get_local_id(0) == 0) {
        const float norm = sqrt(total);
        const float c = max_norm / (norm + 1e-6f);
        out[out_off] = norm;
        out[out_off + 1] = c > 1.0f ? 1.0f : c;
    }
}
