/* heatmap.c: from a raw class-activation map to a coloured picture: min-max
 * normalisation, bilinear resizing with half-pixel centres (and laying a map of the
 * network input back over its picture, clcnn_map_over_picture), OpenCV's JET colour map,
 * and alpha blending over the photo. Host code only. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/error.h"

/* ---------------------------------------------------------------- normalise -- */

/* Min-max over the finite values only, so that one Inf or NaN cannot flatten or poison
 * the whole map. Non-finite inputs map to the ends: NaN and -Inf to 0, +Inf to 1. The
 * arithmetic is in double: max - min of two large floats of opposite sign overflows in
 * float. */
void clcnn_map_normalize(const float *map, size_t n, float *out) {
    if (!map || !out) return;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(map[i])) continue;
        if (map[i] < lo) lo = map[i];
        if (map[i] > hi) hi = map[i];
    }
    const double range = hi - lo; /* NaN when no value is finite, 0 when flat */
    for (size_t i = 0; i < n; i++) {
        const float v = map[i];
        if (isnan(v)) out[i] = 0.0f;
        else if (isinf(v)) out[i] = v > 0 ? 1.0f : 0.0f;
        else out[i] = range > 0 ? (float)((v - lo) / range) : 0.0f;
    }
}

/* ------------------------------------------------------------------- resize -- */

/* Where output index i samples the input along one axis (n_in -> n_out), with
 * half-pixel centres: src = (i + 0.5) * n_in / n_out - 0.5, clamped at 0 as PyTorch's
 * area_pixel_compute_source_index and cv2.resize do; the upper neighbour is clamped to
 * the last index. */
typedef struct {
    int i0, i1;
    float w1; /* weight of i1; i0 gets 1 - w1 */
} sample_pos;

static sample_pos sample_at(double src, int n_in) {
    if (src < 0) src = 0;
    int i0 = (int)src;
    if (i0 > n_in - 1) i0 = n_in - 1;
    return (sample_pos){i0, i0 + 1 < n_in ? i0 + 1 : n_in - 1, (float)(src - i0)};
}

static void sample_positions(int n_in, int n_out, sample_pos *pos) {
    const double scale = (double)n_in / n_out;
    for (int i = 0; i < n_out; i++) pos[i] = sample_at((i + 0.5) * scale - 0.5, n_in);
}

/* width * height fits the address space and int indexing of the callers. */
static int area_ok(int width, int height) {
    return width > 0 && height > 0 && (size_t)width <= SIZE_MAX / sizeof(float) / (size_t)height;
}

clcnn_status clcnn_map_resize(const float *src, int height, int width, float *dst, int out_height, int out_width) {
    if (!src || !dst) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_map_resize: NULL %s", src ? "dst" : "src");
    if (!area_ok(width, height) || !area_ok(out_width, out_height))
        return rt_error(NULL, CLCNN_ERR_SHAPE, "clcnn_map_resize: cannot resize %d x %d to %d x %d (sides must be > 0)",
                           height, width, out_height, out_width);
    sample_pos *xs = malloc(sizeof *xs * (size_t)out_width);
    sample_pos *ys = malloc(sizeof *ys * (size_t)out_height);
    if (!xs || !ys) {
        free(xs);
        free(ys);
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_map_resize: no host memory for %d x %d", out_height,
                           out_width);
    }
    sample_positions(width, out_width, xs);
    sample_positions(height, out_height, ys);
    for (int y = 0; y < out_height; y++) {
        const float *r0 = src + (size_t)ys[y].i0 * width, *r1 = src + (size_t)ys[y].i1 * width;
        const float wy = ys[y].w1;
        float *d = dst + (size_t)y * out_width;
        for (int x = 0; x < out_width; x++) {
            const sample_pos p = xs[x];
            const float top = r0[p.i0] + p.w1 * (r0[p.i1] - r0[p.i0]);
            const float bottom = r1[p.i0] + p.w1 * (r1[p.i1] - r1[p.i0]);
            d[x] = top + wy * (bottom - top);
        }
    }
    free(xs);
    free(ys);
    return CLCNN_OK;
}

/* ---------------------------------------------------------- over the picture -- */

/* Along one axis of the picture (n_picture pixels): where each pixel samples the map
 * (n_map values over `size` input pixels), through the picture's span [src0, src0 +
 * src_len) that fills the input's [dst0, dst0 + dst_len); seen[i] = 0 outside it. */
static void picture_positions(int n_picture, int n_map, int size, float src0, float src_len, float dst0,
                              float dst_len, sample_pos *pos, unsigned char *seen) {
    for (int i = 0; i < n_picture; i++) {
        const double centre = i + 0.5, input = dst0 + (centre - src0) * dst_len / src_len;
        seen[i] = centre >= src0 && centre < src0 + src_len;
        pos[i] = sample_at(input * n_map / size - 0.5, n_map);
    }
}

clcnn_status clcnn_map_over_picture(const float *map, int height, int width, int size, clcnn_fit fit,
                                    int picture_width, int picture_height, float *out) {
    static const char *op = "clcnn_map_over_picture";
    if (!map || !out) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL %s", op, map ? "out" : "map");
    if (!area_ok(width, height) || !area_ok(picture_width, picture_height))
        return rt_error(NULL, CLCNN_ERR_SHAPE, "%s: a %d x %d map over a %d x %d picture (sides must be > 0)", op,
                           height, width, picture_height, picture_width);
    float src[4], dst[4];
    clcnn_status st = clcnn_fit_geometry(picture_width, picture_height, size, fit, src, dst);
    if (st != CLCNN_OK) return st;
    sample_pos *xs = malloc(sizeof *xs * (size_t)picture_width), *ys = malloc(sizeof *ys * (size_t)picture_height);
    unsigned char *seen_x = malloc((size_t)picture_width), *seen_y = malloc((size_t)picture_height);
    if (!xs || !ys || !seen_x || !seen_y) {
        st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for %d x %d", op, picture_height,
                         picture_width);
        goto done;
    }
    picture_positions(picture_width, width, size, src[0], src[2], dst[0], dst[2], xs, seen_x);
    picture_positions(picture_height, height, size, src[1], src[3], dst[1], dst[3], ys, seen_y);
    for (int y = 0; y < picture_height; y++) {
        const float *r0 = map + (size_t)ys[y].i0 * width, *r1 = map + (size_t)ys[y].i1 * width;
        float *d = out + (size_t)y * picture_width;
        for (int x = 0; x < picture_width; x++) {
            const sample_pos p = xs[x];
            const float top = r0[p.i0] + p.w1 * (r0[p.i1] - r0[p.i0]);
            const float bottom = r1[p.i0] + p.w1 * (r1[p.i1] - r1[p.i0]);
            d[x] = seen_x[x] && seen_y[y] ? top + ys[y].w1 * (bottom - top) : 0.0f;
        }
    }
done:
    free(xs), free(ys), free(seen_x), free(seen_y);
    return st;
}

/* ---------------------------------------------------------------------- JET -- */

/* OpenCV's COLORMAP_JET (modules/imgproc/src/colormap.cpp, class Jet, unchanged from
 * 3.x to 5.0): GNU Octave's jet(256), whose channels are piecewise linear in x = i/255,
 *     red   = clamp(min(4x - 1.5, 4.5 - 4x), 0, 1)
 *     green = clamp(min(4x - 0.5, 3.5 - 4x), 0, 1)
 *     blue  = clamp(min(4x + 0.5, 2.5 - 4x), 0, 1),
 * tabulated as float at 256 breakpoints X = linspace(0, 1, 256), linearly interpolated
 * (interp1) at the same 256 points, scaled by 255 and rounded half to even to 8 bits.
 * Most entries of 255 * jet are exact halves (4i + 127.5 ...), so which way each one
 * rounds depends on those float steps; they are reproduced here one float operation per
 * statement (no contraction into FMAs), which gives OpenCV's table bit for bit
 * (tests/golden/opencv_jet.txt, from cv2.applyColorMap 4.10 and 5.0). */
static float octave_jet(int channel, int i) {
    static const double rise[3] = {-1.5, -0.5, 0.5}, fall[3] = {4.5, 3.5, 2.5};
    const double x = i / 255.0;
    return (float)fmin(1.0, fmax(0.0, fmin(4 * x + rise[channel], fall[channel] - 4 * x)));
}

static float jet_breakpoint(int i) {
    const float step = 1.0f / 255.0f;
    const float offset = (float)i * step;
    return 0.0f + offset;
}

static uint8_t jet_entry(int channel, int i) {
    float y = octave_jet(channel, 0);
    if (i > 0) { /* interp1 lands between breakpoints i - 1 and i */
        const float x0 = jet_breakpoint(i - 1), x1 = jet_breakpoint(i);
        const float y0 = octave_jet(channel, i - 1), y1 = octave_jet(channel, i);
        const float dx = x1 - x0, dy = y1 - y0;
        const float num = dx * dy;
        const float slope_part = num / dx;
        y = y0 + slope_part;
    }
    const float scaled = y * 255.0f;
    const long v = lrintf(scaled); /* round half to even, as cvRound */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void jet_index(int i, uint8_t rgb[3]) {
    for (int c = 0; c < 3; c++) rgb[c] = jet_entry(c, i);
}

/* v in [0,1] to a table index; NaN counts as 0. */
static int jet_position(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (int)lrintf(v * 255.0f);
}

void clcnn_colormap_jet(float v, uint8_t rgb[3]) {
    if (rgb) jet_index(jet_position(v), rgb);
}

clcnn_status clcnn_heatmap_render(const float *map01, int width, int height, clcnn_image *heat) {
    if (!map01 || !heat)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_heatmap_render: NULL %s", map01 ? "heat" : "map");
    if (!area_ok(width, height))
        return rt_error(NULL, CLCNN_ERR_SHAPE, "clcnn_heatmap_render: bad map size %d x %d (sides must be > 0)",
                           width, height);
    clcnn_status st = clcnn_image_create(width, height, 3, heat);
    if (st != CLCNN_OK) return rt_error_prefix(NULL, st, "clcnn_heatmap_render");
    uint8_t table[256][3];
    for (int i = 0; i < 256; i++) jet_index(i, table[i]);
    const size_t n = (size_t)width * height;
    for (size_t i = 0; i < n; i++) memcpy(heat->pixels + 3 * i, table[jet_position(map01[i])], 3);
    return CLCNN_OK;
}

/* -------------------------------------------------------------------- blend -- */

static clcnn_status check_rgb(const char *who, const char *arg, const clcnn_image *im) {
    if (!im || !im->pixels) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s is NULL or empty", who, arg);
    if (im->channels != 3)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s has %d channels, RGB (3) needed", who, arg,
                           im->channels);
    return CLCNN_OK;
}

/* The result is built in a new image and then stored in *out, so out may be image or
 * heat (their old pixels are freed); any other *out is overwritten as by
 * clcnn_image_create. Rounding is half up (the values are never negative). */
clcnn_status clcnn_image_blend(const clcnn_image *image, const clcnn_image *heat, float alpha, clcnn_image *out) {
    static const char who[] = "clcnn_image_blend";
    clcnn_status st;
    if ((st = check_rgb(who, "image", image)) != CLCNN_OK || (st = check_rgb(who, "heat", heat)) != CLCNN_OK)
        return st;
    if (!out) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL out", who);
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: alpha %g is not in [0, 1]", who, alpha);
    if (image->width != heat->width || image->height != heat->height)
        return rt_error(NULL, CLCNN_ERR_SHAPE, "%s: image is %d x %d but heat is %d x %d", who, image->width,
                           image->height, heat->width, heat->height);
    clcnn_image result = {0};
    if ((st = clcnn_image_create(image->width, image->height, 3, &result)) != CLCNN_OK)
        return rt_error_prefix(NULL, st, "%s", who);
    const size_t n = (size_t)image->width * image->height * 3;
    for (size_t i = 0; i < n; i++)
        result.pixels[i] = (uint8_t)floorf((1.0f - alpha) * image->pixels[i] + alpha * heat->pixels[i] + 0.5f);
    if (out == image || out == heat) clcnn_image_free(out);
    *out = result;
    return CLCNN_OK;
}
