/* prepare.c: one network input from an RGB image, as torchvision's transforms on PIL
 * images would make it.
 *
 * Evaluation: Resize(size) (shorter side to size, the longer int(size * long / short))
 * and CenterCrop(size), with PIL's resampling (resize.c), then ToTensor and Normalize;
 * or the whole picture squashed or letterboxed to size x size (fit.c).
 * Training: RandomResizedCrop (torchvision's sampling of scale and log-ratio, ten tries,
 * then its central fallback), horizontal and vertical flips, a rotation about the centre
 * by a uniform angle (bilinear, black outside), ColorJitter's brightness, contrast and
 * saturation in a random order, then Normalize. Random numbers come from a splitmix64
 * stream seeded by `seed` alone, so the result depends only on the arguments: no state,
 * no locks, the loader calls this from several threads. After the crop everything is
 * float [0,1], CHW, worked in place in `out`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "data/image_internal.h"
#include "runtime/error.h"
#include "runtime/random.h"

static const char *const who = "clcnn_image_prepare";

clcnn_normalization clcnn_normalization_imagenet(void) {
    return (clcnn_normalization){{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}

void clcnn_augment_defaults(clcnn_augment_params *params) {
    if (!params) return;
    *params = (clcnn_augment_params){.scale_min = 0.5f, .scale_max = 1.0f, .ratio_min = 3.0f / 4.0f,
                                     .ratio_max = 4.0f / 3.0f, .hflip = 1, .vflip = 0, .rotate_degrees = 10.0f,
                                     .brightness = 0.2f, .contrast = 0.2f, .saturation = 0.2f};
}

/* ---- random numbers ---- */

typedef struct {
    uint64_t state;
} rng;

static uint64_t rng_next(rng *r) { return rt_splitmix64(&r->state); }

/* Uniform in [lo, hi); exactly lo when lo == hi. */
static double rng_uniform(rng *r, double lo, double hi) {
    return lo + (hi - lo) * ((double)(rng_next(r) >> 11) * 0x1.0p-53);
}

/* Uniform integer in [0, n). */
static int rng_below(rng *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }

/* ---- arguments ---- */

static int finite_in(float v, float lo, float hi) { return isfinite(v) && v >= lo && v <= hi; }

static clcnn_status check_augment(const clcnn_augment_params *a) {
    if (!finite_in(a->scale_min, 1e-6f, 1.0f) || !finite_in(a->scale_max, a->scale_min, 1.0f))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: scale range [%g, %g] (need 0 < min <= max <= 1)", who,
                           a->scale_min, a->scale_max);
    if (!finite_in(a->ratio_min, 1e-6f, 1e6f) || !finite_in(a->ratio_max, a->ratio_min, 1e6f))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: aspect ratio range [%g, %g] (need 0 < min <= max)",
                           who, a->ratio_min, a->ratio_max);
    if (!finite_in(a->rotate_degrees, 0.0f, 360.0f))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: rotate_degrees %g (need 0..360)", who,
                           a->rotate_degrees);
    if (!finite_in(a->brightness, 0.0f, 1e3f) || !finite_in(a->contrast, 0.0f, 1e3f) ||
        !finite_in(a->saturation, 0.0f, 1e3f))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT,
                           "%s: brightness %g, contrast %g, saturation %g (each must be finite and >= 0)", who,
                           a->brightness, a->contrast, a->saturation);
    return CLCNN_OK;
}

static clcnn_status check_args(const clcnn_image *image, int size, const clcnn_augment_params *aug,
                               const clcnn_normalization *norm, const float *out) {
    clcnn_status st = data_image_check(image, who, "image");
    if (st != CLCNN_OK) return st;
    if (image->channels != 3)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: image has %d channels, need 3 (RGB)", who,
                           image->channels);
    if (size <= 0 || size > CLCNN_IMAGE_MAX_SIDE)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: size %d (need 1..%d)", who, size,
                           CLCNN_IMAGE_MAX_SIDE);
    if (!norm || !out) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL %s", who, norm ? "out" : "norm");
    for (int c = 0; c < 3; c++)
        if (!isfinite(norm->mean[c]) || !isfinite(norm->std[c]) || !(norm->std[c] > 0.0f))
            return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: norm channel %d: mean %g, std %g (need finite, std > 0)",
                               who, c, norm->mean[c], norm->std[c]);
    return aug ? check_augment(aug) : CLCNN_OK;
}

/* ---- geometry ---- */

/* A window of an 8-bit image, read into the float planes with optional mirroring. */
typedef struct {
    const clcnn_image *image;
    int x0, y0; /* top-left of the size x size window */
    int hflip, vflip;
} window;

static void window_to_planes(const window *w, int size, float *out) {
    const size_t plane = (size_t)size * (size_t)size;
    const int stride = w->image->width * 3;
    for (int y = 0; y < size; y++) {
        const int sy = w->y0 + (w->vflip ? size - 1 - y : y);
        const uint8_t *row = w->image->pixels + (size_t)sy * (size_t)stride;
        for (int x = 0; x < size; x++) {
            const uint8_t *p = row + (size_t)(w->x0 + (w->hflip ? size - 1 - x : x)) * 3;
            for (int c = 0; c < 3; c++) out[(size_t)c * plane + (size_t)y * (size_t)size + (size_t)x] = p[c] / 255.0f;
        }
    }
}

/* Evaluation with CLCNN_FIT_CROP: shorter side to size, centre crop. The resized image
 * is made only when the size changes (torchvision returns the image itself when the
 * shorter side fits). */
static clcnn_status eval_window(const clcnn_image *image, int size, clcnn_image *resized, window *w) {
    int rw, rh;
    image_crop_window(image->width, image->height, size, &rw, &rh, &w->x0, &w->y0);
    w->image = image;
    if (rw != image->width || rh != image->height) {
        const clcnn_status st = data_image_resize_region(image, 0, 0, image->width, image->height, rw, rh, resized);
        if (st != CLCNN_OK) return rt_error_prefix(NULL, st, "%s", who);
        w->image = resized;
    }
    return CLCNN_OK;
}

typedef struct {
    int x, y, w, h;
} rect;

/* torchvision's RandomResizedCrop.get_params. */
static rect random_crop(rng *r, int width, int height, const clcnn_augment_params *a) {
    const double area = (double)width * height, log_lo = log(a->ratio_min), log_hi = log(a->ratio_max);
    for (int attempt = 0; attempt < 10; attempt++) {
        const double target = area * rng_uniform(r, a->scale_min, a->scale_max);
        const double ratio = exp(rng_uniform(r, log_lo, log_hi));
        const int w = (int)nearbyint(sqrt(target * ratio)), h = (int)nearbyint(sqrt(target / ratio));
        if (w > 0 && w <= width && h > 0 && h <= height) {
            const int y = rng_below(r, height - h + 1), x = rng_below(r, width - w + 1);
            return (rect){x, y, w, h};
        }
    }
    /* Central crop at the nearest allowed aspect ratio. */
    const double in_ratio = (double)width / height;
    int w = width, h = height;
    if (in_ratio < a->ratio_min) h = (int)nearbyint(w / (double)a->ratio_min);
    else if (in_ratio > a->ratio_max) w = (int)nearbyint(h * (double)a->ratio_max);
    if (h < 1) h = 1;
    if (w < 1) w = 1;
    return (rect){(width - w) / 2, (height - h) / 2, w, h};
}

/* Bilinear sample of one plane at continuous (sx, sy), pixel centres at k + 0.5; black
 * outside the image, the edge pixels' values within half a pixel of the edge. */
static float sample(const float *plane, int size, float sx, float sy) {
    if (!(sx >= 0.0f && sx < (float)size && sy >= 0.0f && sy < (float)size)) return 0.0f;
    const float u = sx - 0.5f, v = sy - 0.5f;
    const int x0 = (int)floorf(u), y0 = (int)floorf(v);
    const float fx = u - (float)x0, fy = v - (float)y0;
    const int xa = x0 < 0 ? 0 : x0, xb = x0 + 1 > size - 1 ? size - 1 : x0 + 1;
    const int ya = y0 < 0 ? 0 : y0, yb = y0 + 1 > size - 1 ? size - 1 : y0 + 1;
    const float top = plane[ya * size + xa] * (1 - fx) + plane[ya * size + xb] * fx;
    const float bottom = plane[yb * size + xa] * (1 - fx) + plane[yb * size + xb] * fx;
    return top * (1 - fy) + bottom * fy;
}

/* Rotate the planes counter-clockwise by degrees about the centre (torchvision's sense). */
static clcnn_status rotate(float *planes, int size, double degrees) {
    const size_t plane = (size_t)size * (size_t)size;
    float *src = malloc(3 * plane * sizeof *src);
    if (!src) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory to rotate %dx%d", who, size, size);
    memcpy(src, planes, 3 * plane * sizeof *src);
    const double rad = degrees * (3.14159265358979323846 / 180.0);
    const float cs = (float)cos(rad), sn = (float)sin(rad), centre = 0.5f * (float)size;
    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            /* The inverse map: output offset from the centre, rotated back (y points down). */
            const float dx = (float)x + 0.5f - centre, dy = (float)y + 0.5f - centre;
            const float sx = centre + cs * dx - sn * dy, sy = centre + sn * dx + cs * dy;
            for (int c = 0; c < 3; c++)
                planes[(size_t)c * plane + (size_t)y * (size_t)size + (size_t)x] = sample(src + (size_t)c * plane, size, sx, sy);
        }
    }
    free(src);
    return CLCNN_OK;
}

/* ---- colour (torchvision's functional adjust_* on float images) ---- */

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static float gray_of(const float *r, const float *g, const float *b, size_t i) {
    return 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
}

/* blend(img, other, f) = f * img + (1 - f) * other, clamped; other is 0 (brightness),
 * the mean gray level (contrast) or each pixel's gray level (saturation). */
enum { JITTER_BRIGHTNESS, JITTER_CONTRAST, JITTER_SATURATION };

static void jitter(float *planes, size_t n, int op, float f) {
    float *r = planes, *g = planes + n, *b = planes + 2 * n;
    float mean = 0.0f;
    if (op == JITTER_CONTRAST) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += gray_of(r, g, b, i);
        mean = (float)(sum / (double)n);
    }
    for (size_t i = 0; i < n; i++) {
        const float other = op == JITTER_BRIGHTNESS ? 0.0f : op == JITTER_CONTRAST ? mean : gray_of(r, g, b, i);
        r[i] = clamp01(f * r[i] + (1.0f - f) * other);
        g[i] = clamp01(f * g[i] + (1.0f - f) * other);
        b[i] = clamp01(f * b[i] + (1.0f - f) * other);
    }
}

/* ColorJitter: a random order of the three, then a factor each, uniform in
 * [max(0, 1 - v), 1 + v]; a strength of 0 leaves its adjustment out. */
static void color_jitter(rng *r, float *planes, size_t n, const clcnn_augment_params *a) {
    const float strength[3] = {a->brightness, a->contrast, a->saturation};
    if (strength[0] == 0.0f && strength[1] == 0.0f && strength[2] == 0.0f) return;
    int order[3] = {0, 1, 2};
    for (int i = 2; i > 0; i--) { /* Fisher-Yates */
        const int j = rng_below(r, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    float factor[3];
    for (int op = 0; op < 3; op++) {
        const double lo = 1.0 - strength[op] < 0.0 ? 0.0 : 1.0 - strength[op];
        factor[op] = strength[op] > 0.0f ? (float)rng_uniform(r, lo, 1.0 + strength[op]) : 1.0f;
    }
    for (int i = 0; i < 3; i++)
        if (strength[order[i]] > 0.0f) jitter(planes, n, order[i], factor[order[i]]);
}

/* ---- the whole ---- */

static clcnn_status augment(const clcnn_image *image, int size, const clcnn_augment_params *a, uint64_t seed,
                            clcnn_image *crop, float *out) {
    rng r = {seed};
    const rect box = random_crop(&r, image->width, image->height, a);
    clcnn_status st = data_image_resize_region(image, box.x, box.y, box.w, box.h, size, size, crop);
    if (st != CLCNN_OK) return rt_error_prefix(NULL, st, "%s", who);
    window w = {.image = crop};
    if (a->hflip) w.hflip = rng_uniform(&r, 0.0, 1.0) < 0.5;
    if (a->vflip) w.vflip = rng_uniform(&r, 0.0, 1.0) < 0.5;
    window_to_planes(&w, size, out);
    if (a->rotate_degrees > 0.0f) {
        const double angle = rng_uniform(&r, -a->rotate_degrees, a->rotate_degrees);
        if ((st = rotate(out, size, angle)) != CLCNN_OK) return st;
    }
    color_jitter(&r, out, (size_t)size * (size_t)size, a);
    return CLCNN_OK;
}

static void normalize(float *planes, size_t n, const clcnn_normalization *norm) {
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < n; i++) planes[(size_t)c * n + i] = (planes[(size_t)c * n + i] - norm->mean[c]) / norm->std[c];
}

/* The side of the square SQUASH and PAD fit a picture to before augmentation: the
 * picture's own resolution (its shorter side squashed, its longer side padded), at
 * most 2 x size, so that crops of half its area still have size pixels across. */
static int augment_side(const clcnn_image *image, clcnn_fit fit, int size) {
    const int w = image->width, h = image->height;
    const int side = fit == CLCNN_FIT_SQUASH ? (w < h ? w : h) : (w > h ? w : h);
    return side < 2 * size ? side : 2 * size;
}

clcnn_status clcnn_image_prepare_fit(const clcnn_image *image, int size, clcnn_fit fit,
                                     const clcnn_augment_params *aug, uint64_t seed, const clcnn_normalization *norm,
                                     float *out) {
    clcnn_status st = check_args(image, size, aug, norm, out);
    if (st != CLCNN_OK) return st;
    if (fit < CLCNN_FIT_CROP || fit > CLCNN_FIT_PAD)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: unknown fit %d", who, (int)fit);
    clcnn_image fitted = {0}, scratch = {0}; /* the picture fitted to a square; the resized image or crop */
    const clcnn_image *picture = image;
    if (fit != CLCNN_FIT_CROP) {
        st = image_fit_square(image, fit, aug ? augment_side(image, fit, size) : size, norm, &fitted);
        picture = &fitted;
    }
    if (st == CLCNN_OK && aug) {
        st = augment(picture, size, aug, seed, &scratch, out);
    } else if (st == CLCNN_OK) {
        window w = {.image = picture};
        if (fit != CLCNN_FIT_CROP || (st = eval_window(image, size, &scratch, &w)) == CLCNN_OK)
            window_to_planes(&w, size, out);
    }
    clcnn_image_free(&scratch);
    clcnn_image_free(&fitted);
    if (st == CLCNN_OK) normalize(out, (size_t)size * (size_t)size, norm);
    return st;
}

clcnn_status clcnn_image_prepare(const clcnn_image *image, int size, const clcnn_augment_params *aug,
                                 uint64_t seed, const clcnn_normalization *norm, float *out) {
    return clcnn_image_prepare_fit(image, size, CLCNN_FIT_CROP, aug, seed, norm, out);
}
