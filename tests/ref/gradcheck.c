/* gradcheck.c: finite differences for the backward-op tests (see gradcheck.h). */
#include "gradcheck.h"
#include <math.h>
#include <stdlib.h>
#include "harness.h"

void fd_gradient(fd_forward f, void *user, double *in, size_t n_in, const double *r, size_t n_out, double h,
                 double *grad) {
    double *out = malloc(n_out * sizeof *out);
    if (!out) {
        test_fail(__FILE__, __LINE__, "fd_gradient: no memory for %zu outputs", n_out);
        return;
    }
    for (size_t i = 0; i < n_in; i++) {
        const double keep = in[i];
        double plus = 0, minus = 0;
        in[i] = keep + h;
        f(in, out, user);
        for (size_t j = 0; j < n_out; j++) plus += r[j] * out[j];
        in[i] = keep - h;
        f(in, out, user);
        for (size_t j = 0; j < n_out; j++) minus += r[j] * out[j];
        in[i] = keep;
        grad[i] = (plus - minus) / (2 * h);
    }
    free(out);
}

int fd_compare(const char *file, int line, const char *what, const float *got, const double *want, size_t n,
               double atol, double rtol) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - want[i]);
        if (!(err <= atol + rtol * fabs(want[i]))) { /* also catches NaN */
            if (bad < 5)
                test_fail(file, line, "%s[%zu]: device %.7g, expected %.7g (|diff| %.3g > %.3g + %.3g*|want|)",
                          what, i, got[i], want[i], err, atol, rtol);
            bad++;
        }
    }
    if (bad > 5) test_fail(file, line, "%s: %d of %zu elements differ", what, bad, n);
    return bad;
}

void fd_to_double(const float *src, double *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
}
