/* ref_cam.c: the CPU references of ref_cam.h. */
#include "ref/ref_cam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ReLU in place, then zeros if the map has no spatial variation. */
static void finish_map(int hw, double *m) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < hw; i++) {
        if (m[i] < 0) m[i] = 0;
        lo = fmin(lo, m[i]);
        hi = fmax(hi, m[i]);
    }
    if (lo == hi)
        for (int i = 0; i < hw; i++) m[i] = 0;
}

void ref_cam_weighted_map(int N, int K, int hw, const double *a, const double *w, double *map) {
    for (int n = 0; n < N; n++) {
        double *m = map + (size_t)n * hw;
        for (int i = 0; i < hw; i++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += w[n * K + k] * a[((size_t)n * K + k) * hw + i];
            m[i] = s;
        }
        finish_map(hw, m);
    }
}

/* Grad-CAM, XGrad-CAM, Grad-CAM++ channel weights of one channel (pytorch-grad-cam). */
static double channel_weight(clcnn_cam_method method, int hw, const double *a, const double *g) {
    double sum_a = 0, sum_g = 0, sum_ga = 0, pp = 0;
    for (int i = 0; i < hw; i++) {
        sum_a += a[i];
        sum_g += g[i];
        sum_ga += g[i] * a[i];
    }
    for (int i = 0; i < hw; i++) {
        if (g[i] == 0) continue; /* aij = 0 where g == 0 */
        const double g2 = g[i] * g[i], g3 = g2 * g[i];
        const double aij = g2 / (2 * g2 + sum_a * g3 + 1e-6);
        pp += aij * (g[i] > 0 ? g[i] : 0);
    }
    if (method == CLCNN_CAM_GRADCAM) return sum_g / hw;
    if (method == CLCNN_CAM_XGRADCAM) return sum_ga / (sum_a + 1e-7);
    return pp;
}

void ref_cam_grad_map(clcnn_cam_method method, int N, int K, int hw, const double *a, const double *g, double *map) {
    if (method == CLCNN_CAM_HIRESCAM || method == CLCNN_CAM_LAYERCAM) {
        for (int n = 0; n < N; n++) {
            double *m = map + (size_t)n * hw;
            for (int i = 0; i < hw; i++) {
                double s = 0;
                for (int k = 0; k < K; k++) {
                    const size_t j = ((size_t)n * K + k) * hw + i;
                    const double c = method == CLCNN_CAM_HIRESCAM ? g[j] : (g[j] > 0 ? g[j] : 0);
                    s += c * a[j];
                }
                m[i] = s;
            }
            finish_map(hw, m);
        }
        return;
    }
    double *w = malloc((size_t)N * K * sizeof *w);
    if (!w) return;
    for (int r = 0; r < N * K; r++) w[r] = channel_weight(method, hw, a + (size_t)r * hw, g + (size_t)r * hw);
    ref_cam_weighted_map(N, K, hw, a, w, map);
    free(w);
}

/* The eigenvector of the largest eigenvalue of the symmetric n x n matrix s (destroyed),
 * by cyclic Jacobi rotations (Numerical Recipes' jacobi). */
static void top_eigenvector(int n, double *s, double *out) {
    double *v = calloc((size_t)n * n, sizeof *v);
    if (!v) return;
    for (int i = 0; i < n; i++) v[i * n + i] = 1;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int p = 0; p < n; p++) {
            diag += s[p * n + p] * s[p * n + p];
            for (int q = p + 1; q < n; q++) off += s[p * n + q] * s[p * n + q];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                const double apq = s[p * n + q];
                if (apq == 0) continue;
                const double theta = (s[q * n + q] - s[p * n + p]) / (2 * apq);
                const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                const double c = 1 / sqrt(t * t + 1), sn = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    const double kp = s[k * n + p], kq = s[k * n + q];
                    s[k * n + p] = c * kp - sn * kq;
                    s[k * n + q] = sn * kp + c * kq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    const double pk = s[p * n + k], qk = s[q * n + k];
                    s[p * n + k] = c * pk - sn * qk;
                    s[q * n + k] = sn * pk + c * qk;
                }
                for (int k = 0; k < n; k++) {
                    const double kp = v[k * n + p], kq = v[k * n + q];
                    v[k * n + p] = c * kp - sn * kq;
                    v[k * n + q] = sn * kp + c * kq;
                }
            }
    }
    int best = 0;
    for (int i = 1; i < n; i++)
        if (s[i * n + i] > s[best * n + best]) best = i;
    for (int i = 0; i < n; i++) out[i] = v[i * n + best];
    free(v);
}

void ref_cam_eigen_map(int N, int K, int hw, const double *a, double *map) {
    double *m = malloc((size_t)hw * K * sizeof *m), *cov = malloc((size_t)K * K * sizeof *cov);
    double *v = malloc((size_t)K * sizeof *v);
    if (!m || !cov || !v) goto done;
    for (int n = 0; n < N; n++) {
        const double *an = a + (size_t)n * K * hw;
        for (int k = 0; k < K; k++) { /* m [hw, K], columns centred */
            double mean = 0;
            for (int i = 0; i < hw; i++) mean += an[k * hw + i];
            mean /= hw;
            for (int i = 0; i < hw; i++) m[i * K + k] = an[k * hw + i] - mean;
        }
        for (int p = 0; p < K; p++)
            for (int q = 0; q < K; q++) {
                double s = 0;
                for (int i = 0; i < hw; i++) s += m[i * K + p] * m[i * K + q];
                cov[p * K + q] = s;
            }
        top_eigenvector(K, cov, v);
        double sum = 0;
        for (int k = 0; k < K; k++) sum += v[k];
        double *out = map + (size_t)n * hw;
        for (int i = 0; i < hw; i++) {
            double p = 0;
            for (int k = 0; k < K; k++) p += m[i * K + k] * v[k];
            out[i] = sum < 0 ? -p : p;
        }
        finish_map(hw, out);
    }
done:
    free(v);
    free(cov);
    free(m);
}

void ref_cam_softmax(int n, const double *x, double *out) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = fmax(mx, x[i]);
    for (int i = 0; i < n; i++) sum += out[i] = exp(x[i] - mx);
    for (int i = 0; i < n; i++) out[i] /= sum;
}

double ref_trapezoid(int steps, const double *p) {
    double s = 0;
    for (int i = 0; i < steps; i++) s += 0.5 * (p[i] + p[i + 1]);
    return s / steps;
}
