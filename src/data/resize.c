/* resize.c: bilinear resizing as PIL's Image.resize(..., BILINEAR) computes it, bit for
 * bit: separable, a horizontal pass into 8-bit rows and then a vertical pass, each output
 * sample a weighted sum of source samples under a triangle filter whose support widens by
 * the shrink factor (so shrinking averages, as an area filter, instead of aliasing), the
 * weights normalised per output sample and rounded to 22-bit fixed point. torchvision's
 * Resize on PIL images is this function, so pretrained models see what they saw in
 * training. Channels are filtered independently (no alpha premultiplication). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "data/image_internal.h"
#include "runtime/error.h"

enum { PRECISION_BITS = 32 - 8 - 2 }; /* PIL's: room for 8-bit samples and the sum */

/* Per output position: the first source index, the number of taps, and ksize weights. */
typedef struct {
    int ksize;
    int *first, *taps;
    int32_t *weights;
} filter_table;

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static void table_free(filter_table *t) {
    free(t->first);
    free(t->taps);
    free(t->weights);
}

/* PIL's precompute_coeffs and normalize_coeffs_8bpc for in_size -> out_size. */
static clcnn_status table_make(int in_size, int out_size, filter_table *t) {
    const double scale = (double)in_size / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = 1.0 * filterscale;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc((size_t)out_size * sizeof *t->first);
    t->taps = malloc((size_t)out_size * sizeof *t->taps);
    t->weights = calloc((size_t)out_size * (size_t)t->ksize, sizeof *t->weights);
    double *k = malloc((size_t)t->ksize * sizeof *k);
    if (!t->first || !t->taps || !t->weights || !k) {
        free(k);
        table_free(t);
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_image_resize: no host memory for filter weights");
    }
    for (int o = 0; o < out_size; o++) {
        const double center = (o + 0.5) * scale, ss = 1.0 / filterscale;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5); /* truncation, as PIL */
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        const int n = hi - lo;
        double sum = 0.0;
        for (int i = 0; i < n; i++) sum += k[i] = triangle((i + lo - center + 0.5) * ss);
        int32_t *w = t->weights + (size_t)o * (size_t)t->ksize;
        for (int i = 0; i < n; i++) {
            const double v = sum != 0.0 ? k[i] / sum : k[i];
            w[i] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        t->first[o] = lo;
        t->taps[o] = n;
    }
    free(k);
    return CLCNN_OK;
}

static uint8_t clip8(int32_t v) {
    if (v >= (1 << PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

/* Rows of samples: row y starts at base + y * stride; ch samples per pixel. */
typedef struct {
    const uint8_t *base;
    size_t stride;
    int ch;
} rows;

/* rows x in_w pixels -> rows x out_w pixels (out rows packed). */
static void pass_horizontal(rows in, int n_rows, const filter_table *t, int out_w, uint8_t *out) {
    for (int y = 0; y < n_rows; y++) {
        const uint8_t *src = in.base + (size_t)y * in.stride;
        for (int x = 0; x < out_w; x++) {
            const int32_t *w = t->weights + (size_t)x * (size_t)t->ksize;
            const uint8_t *s = src + (size_t)t->first[x] * (size_t)in.ch;
            for (int c = 0; c < in.ch; c++) {
                int32_t acc = 1 << (PRECISION_BITS - 1);
                for (int i = 0; i < t->taps[x]; i++) acc += s[(size_t)i * (size_t)in.ch + (size_t)c] * w[i];
                *out++ = clip8(acc);
            }
        }
    }
}

/* out_h rows of width samples from the rows of in. */
static void pass_vertical(rows in, int width, const filter_table *t, int out_h, uint8_t *out) {
    const size_t n = (size_t)width * (size_t)in.ch;
    for (int y = 0; y < out_h; y++) {
        const int32_t *w = t->weights + (size_t)y * (size_t)t->ksize;
        const uint8_t *s = in.base + (size_t)t->first[y] * in.stride;
        for (size_t x = 0; x < n; x++) {
            int32_t acc = 1 << (PRECISION_BITS - 1);
            for (int i = 0; i < t->taps[y]; i++) acc += s[(size_t)i * in.stride + x] * w[i];
            *out++ = clip8(acc);
        }
    }
}

/* The region copied row by row (no resampling along either axis, as PIL skips a pass
 * whose size does not change). */
static void copy_region(rows in, int n_rows, size_t row_bytes, uint8_t *out) {
    for (int y = 0; y < n_rows; y++) memcpy(out + (size_t)y * row_bytes, in.base + (size_t)y * in.stride, row_bytes);
}

clcnn_status data_image_resize_region(const clcnn_image *src, int x0, int y0, int w, int h, int out_w, int out_h,
                                       clcnn_image *dst) {
    const int ch = src->channels;
    const rows region = {src->pixels + ((size_t)y0 * (size_t)src->width + (size_t)x0) * (size_t)ch,
                         (size_t)src->width * (size_t)ch, ch};
    clcnn_image out;
    clcnn_status st = clcnn_image_create(out_w, out_h, ch, &out);
    if (st != CLCNN_OK) return rt_error_prefix(NULL, st, "clcnn_image_resize");
    filter_table th = {0}, tv = {0};
    uint8_t *mid = NULL; /* the horizontal pass's h x out_w pixels */
    const int need_h = out_w != w, need_v = out_h != h;
    if ((need_h && (st = table_make(w, out_w, &th)) != CLCNN_OK) ||
        (need_v && (st = table_make(h, out_h, &tv)) != CLCNN_OK))
        goto free_tables;
    rows vin = region;
    if (need_h) {
        uint8_t *target = out.pixels;
        if (need_v && !(target = mid = malloc((size_t)h * (size_t)out_w * (size_t)ch))) {
            st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_image_resize: no host memory for %dx%d pixels", out_w, h);
            goto free_tables;
        }
        pass_horizontal(region, h, &th, out_w, target);
        vin = (rows){mid, (size_t)out_w * (size_t)ch, ch};
    }
    if (need_v) pass_vertical(vin, out_w, &tv, out_h, out.pixels);
    else if (!need_h) copy_region(region, h, (size_t)w * (size_t)ch, out.pixels);
free_tables:
    free(mid);
    table_free(&th);
    table_free(&tv);
    if (st != CLCNN_OK) {
        clcnn_image_free(&out);
        return st;
    }
    *dst = out;
    return CLCNN_OK;
}

clcnn_status clcnn_image_resize(const clcnn_image *src, int width, int height, clcnn_image *dst) {
    clcnn_status st = data_image_check(src, "clcnn_image_resize", "src");
    if (st != CLCNN_OK) return st;
    if (!dst) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_image_resize: NULL dst");
    if (width <= 0 || height <= 0)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_image_resize: output size %dx%d (sides must be > 0)",
                           width, height);
    /* dst may be src: the result replaces it only once complete. */
    clcnn_image out;
    if ((st = data_image_resize_region(src, 0, 0, src->width, src->height, width, height, &out)) != CLCNN_OK) {
        if (dst != src) memset(dst, 0, sizeof *dst);
        return st;
    }
    if (dst == src) clcnn_image_free(dst);
    *dst = out;
    return CLCNN_OK;
}
