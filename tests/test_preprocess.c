/* test_preprocess.c: clcnn_image_resize and clcnn_image_prepare.
 *
 * Resize: constants stay constant, the identity copies, a ramp stays a ramp, a
 * checkerboard shrinks to its average (antialiasing), and the results equal PIL's
 * resize(BILINEAR) bit for bit on the golden images (resize.c follows PIL's fixed-point
 * algorithm exactly). Prepare: the evaluation path is exactly (p/255 - mean)/std of the
 * centre crop, equal to torchvision's Resize + CenterCrop on the goldens; augmentation
 * depends only on the seed, crops exact windows when no resampling is needed, mirrors
 * exactly, rotates about the centre with black corners, and jitters within its ranges;
 * bad arguments are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

/* ------------------------------------------------------------------ helpers -- */

static uint8_t *at(const clcnn_image *im, int x, int y) {
    return im->pixels + ((size_t)y * (size_t)im->width + (size_t)x) * (size_t)im->channels;
}

/* An image of random samples (NULL pixels, reported, on failure). */
static clcnn_image random_image(int w, int h, int ch, test_rng *rng) {
    clcnn_image im;
    CHECK_OK(clcnn_image_create(w, h, ch, &im));
    for (size_t i = 0; im.pixels && i < (size_t)w * (size_t)h * (size_t)ch; i++) im.pixels[i] = (uint8_t)test_rng_next(rng);
    return im;
}

static clcnn_image golden(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "images/%s", name);
    clcnn_image im;
    const clcnn_status st = clcnn_image_load(test_golden_path(rel), &im);
    CHECK(st == CLCNN_OK, "golden %s: %s", name, clcnn_last_error(NULL));
    return im;
}

/* Number of differing samples; -1 when the shapes differ. */
static long differences(const clcnn_image *a, const clcnn_image *b) {
    if (a->width != b->width || a->height != b->height || a->channels != b->channels) return -1;
    long n = 0;
    for (size_t i = 0; i < (size_t)a->width * (size_t)a->height * (size_t)a->channels; i++) n += a->pixels[i] != b->pixels[i];
    return n;
}

static const clcnn_normalization identity_norm = {{0, 0, 0}, {1, 1, 1}};

/* Expected prepare output for pixel (x, y) channel c of an RGB image. */
static float normalized(const clcnn_image *im, int x, int y, int c, const clcnn_normalization *n) {
    return ((float)at(im, x, y)[c] / 255.0f - n->mean[c]) / n->std[c];
}

/* out == normalized window of im at (x0, y0), optionally mirrored; exact. */
static int equals_window(const float *out, int size, const clcnn_image *im, int x0, int y0, int hflip, int vflip,
                         const clcnn_normalization *n) {
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                const int sx = x0 + (hflip ? size - 1 - x : x), sy = y0 + (vflip ? size - 1 - y : y);
                if (out[((size_t)c * (size_t)size + (size_t)y) * (size_t)size + (size_t)x] != normalized(im, sx, sy, c, n))
                    return 0;
            }
    return 1;
}

static int all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* ------------------------------------------------------------------- resize -- */

static void test_resize_constant(void) {
    test_rng rng = {g_seed ^ 0x9e5e0001};
    const int channels[] = {1, 3, 4};
    for (int t = 0; t < 12; t++) {
        const int ch = channels[t % 3], w = test_rng_int(&rng, 1, 40), h = test_rng_int(&rng, 1, 40);
        const int ow = test_rng_int(&rng, 1, 60), oh = test_rng_int(&rng, 1, 60);
        clcnn_image src, dst;
        CHECK_OK(clcnn_image_create(w, h, ch, &src));
        uint8_t value[4];
        for (int c = 0; c < ch; c++) value[c] = (uint8_t)test_rng_next(&rng);
        for (size_t i = 0; src.pixels && i < (size_t)w * (size_t)h; i++) memcpy(src.pixels + i * (size_t)ch, value, (size_t)ch);
        CHECK_OK(clcnn_image_resize(&src, ow, oh, &dst));
        CHECK(dst.width == ow && dst.height == oh && dst.channels == ch, "%dx%dx%d -> %dx%d: got %dx%dx%d", w, h, ch,
              ow, oh, dst.width, dst.height, dst.channels);
        long wrong = 0;
        for (size_t i = 0; dst.pixels && i < (size_t)ow * (size_t)oh; i++) wrong += memcmp(dst.pixels + i * (size_t)ch, value, (size_t)ch) != 0;
        CHECK(wrong == 0, "constant %dx%dx%d -> %dx%d: %ld pixels changed", w, h, ch, ow, oh, wrong);
        clcnn_image_free(&src);
        clcnn_image_free(&dst);
    }
}

static void test_resize_identity(void) {
    test_rng rng = {g_seed ^ 0x9e5e0002};
    clcnn_image src = random_image(17, 9, 4, &rng), dst;
    CHECK_OK(clcnn_image_resize(&src, 17, 9, &dst));
    CHECK(differences(&src, &dst) == 0, "identity resize changed %ld samples", differences(&src, &dst));
    CHECK(dst.pixels != src.pixels, "identity resize returned the source's own buffer");
    /* In place (dst == src): the result replaces the image. */
    CHECK_OK(clcnn_image_resize(&dst, 5, 11, &dst)); /* frees the old pixels */
    CHECK(dst.width == 5 && dst.height == 11 && dst.pixels, "in-place resize gave %dx%d", dst.width, dst.height);
    clcnn_image fresh;
    CHECK_OK(clcnn_image_resize(&src, 5, 11, &fresh));
    CHECK(differences(&dst, &fresh) == 0, "in-place resize differs from a separate one");
    clcnn_image_free(&fresh);
    clcnn_image_free(&dst);
    clcnn_image_free(&src);
}

/* A horizontal ramp 10 * x upsampled: each output pixel is the ramp at its centre's
 * source position (held at the end pixels' values within half a pixel of the edge),
 * within rounding; the same along y. */
static void test_resize_ramp(void) {
    enum { W = 16, OW = 41 };
    for (int axis = 0; axis < 2; axis++) {
        clcnn_image src, dst;
        CHECK_OK(clcnn_image_create(axis ? 3 : W, axis ? W : 3, 1, &src));
        for (int i = 0; src.pixels && i < W; i++)
            for (int j = 0; j < 3; j++) *at(&src, axis ? j : i, axis ? i : j) = (uint8_t)(10 * i);
        CHECK_OK(clcnn_image_resize(&src, axis ? 3 : OW, axis ? OW : 3, &dst));
        double worst = 0;
        for (int o = 0; dst.pixels && o < OW; o++) {
            double pos = (o + 0.5) * W / OW - 0.5;
            pos = pos < 0 ? 0 : pos > W - 1 ? W - 1 : pos;
            for (int j = 0; j < 3; j++) {
                const double d = fabs(*at(&dst, axis ? j : o, axis ? o : j) - 10 * pos);
                if (d > worst) worst = d;
            }
        }
        CHECK(worst <= 1.0, "ramp along %s: off by %.2f from the line", axis ? "y" : "x", worst);
        clcnn_image_free(&src);
        clcnn_image_free(&dst);
    }
}

/* A one-pixel checkerboard shrunk by 2 and 4: away from the edges every output is the
 * average 127.5 (nearest-neighbour sampling would give 0 or 255); near the edges, where
 * PIL's filter is cut off and renormalised, still far from black and white. */
static void test_resize_checkerboard(void) {
    clcnn_image src;
    CHECK_OK(clcnn_image_create(32, 32, 3, &src));
    for (int y = 0; src.pixels && y < 32; y++)
        for (int x = 0; x < 32; x++) memset(at(&src, x, y), (x + y) % 2 ? 255 : 0, 3);
    const int factors[] = {2, 4};
    for (int f = 0; f < 2; f++) {
        const int n = 32 / factors[f];
        clcnn_image dst;
        CHECK_OK(clcnn_image_resize(&src, n, n, &dst));
        int inner_worst = 0, outer_lo = 255, outer_hi = 0;
        for (int y = 0; dst.pixels && y < n; y++)
            for (int x = 0; x < n; x++)
                for (int c = 0; c < 3; c++) {
                    const int v = at(&dst, x, y)[c];
                    if (x > 0 && y > 0 && x < n - 1 && y < n - 1) {
                        const int d = abs(2 * v - 255); /* 2 * |v - 127.5| */
                        if (d > inner_worst) inner_worst = d;
                    }
                    if (v < outer_lo) outer_lo = v;
                    if (v > outer_hi) outer_hi = v;
                }
        CHECK(inner_worst <= 1, "checkerboard / %d: inner pixels %.1f from 127.5", factors[f], inner_worst / 2.0);
        CHECK(outer_lo >= 90 && outer_hi <= 165, "checkerboard / %d: values span %d..%d", factors[f], outer_lo, outer_hi);
        clcnn_image_free(&dst);
    }
    clcnn_image_free(&src);
}

static void test_resize_matches_pil(void) {
    clcnn_image rgb = golden("png_rgb.png"), gray8 = golden("png_gray8.png");
    const int sizes[][2] = {{5, 3}, {29, 17}, {13, 4}, {6, 7}, {40, 2}};
    for (int i = 0; rgb.pixels && i < 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "resize_rgb_%dx%d.png", sizes[i][0], sizes[i][1]);
        clcnn_image want = golden(name), got;
        CHECK_OK(clcnn_image_resize(&rgb, sizes[i][0], sizes[i][1], &got));
        CHECK(want.pixels && got.pixels && differences(&got, &want) == 0, "%s: %ld samples differ from PIL", name,
              differences(&got, &want));
        clcnn_image_free(&want);
        clcnn_image_free(&got);
    }
    /* One channel: the decoder gives RGB, so take one of its (equal) channels. */
    clcnn_image gray, got, want = golden("resize_gray_6x4.png");
    CHECK_OK(clcnn_image_create(13, 7, 1, &gray));
    for (int i = 0; gray.pixels && gray8.pixels && i < 13 * 7; i++) gray.pixels[i] = gray8.pixels[3 * i];
    CHECK_OK(clcnn_image_resize(&gray, 6, 4, &got));
    for (int i = 0; got.pixels && want.pixels && i < 6 * 4; i++)
        CHECK(got.pixels[i] == want.pixels[3 * i], "gray 6x4, sample %d: %d, PIL %d", i, got.pixels[i], want.pixels[3 * i]);
    clcnn_image_free(&gray);
    clcnn_image_free(&got);
    clcnn_image_free(&want);
    clcnn_image_free(&gray8);
    clcnn_image_free(&rgb);
}

static void test_resize_bad_args(void) {
    clcnn_image src, dst = {0};
    CHECK_OK(clcnn_image_create(4, 4, 3, &src));
    CHECK_STATUS(clcnn_image_resize(NULL, 2, 2, &dst), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_resize(&src, 2, 2, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_resize(&src, 0, 2, &dst), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_resize(&src, 2, -1, &dst), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_resize(&src, CLCNN_IMAGE_MAX_SIDE + 1, 2, &dst), CLCNN_ERR_OUT_OF_MEMORY);
    clcnn_image none = {4, 4, 3, NULL};
    CHECK_STATUS(clcnn_image_resize(&none, 2, 2, &dst), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(dst.pixels == NULL, "a refused resize produced pixels");
    clcnn_image_free(&src);
}

/* ------------------------------------------------------------------ prepare -- */

static void test_prepare_defaults(void) {
    const clcnn_normalization n = clcnn_normalization_imagenet();
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    CHECK(!memcmp(n.mean, mean, sizeof mean) && !memcmp(n.std, std, sizeof std), "ImageNet normalisation values");
    clcnn_augment_params a;
    memset(&a, 0xFF, sizeof a);
    clcnn_augment_defaults(&a);
    CHECK(a.scale_min == 0.5f && a.scale_max == 1.0f && a.ratio_min == 0.75f && fabsf(a.ratio_max - 4.0f / 3) < 1e-7f &&
              a.hflip == 1 && a.vflip == 0 && a.rotate_degrees == 10.0f && a.brightness == 0.2f && a.contrast == 0.2f &&
              a.saturation == 0.2f,
          "augment defaults: scale %g..%g ratio %g..%g flips %d %d rotate %g jitter %g %g %g", a.scale_min, a.scale_max,
          a.ratio_min, a.ratio_max, a.hflip, a.vflip, a.rotate_degrees, a.brightness, a.contrast, a.saturation);
    clcnn_augment_defaults(NULL);
}

/* Already size x size: exactly (p/255 - mean)/std, no resampling. */
static void test_prepare_eval_exact(void) {
    test_rng rng = {g_seed ^ 0x9e5e0003};
    const clcnn_normalization n = clcnn_normalization_imagenet();
    clcnn_image im = random_image(9, 9, 3, &rng);
    float out[3 * 9 * 9];
    CHECK_OK(clcnn_image_prepare(&im, 9, NULL, 123, &n, out));
    CHECK(equals_window(out, 9, &im, 0, 0, 0, 0, &n), "eval of a 9x9 image at size 9 is not the normalised image");
    clcnn_image_free(&im);
}

/* Non-square, shorter side already size: the centre window, exactly; the borders (in a
 * colour the centre never has) must not show. Both orientations. */
static void test_prepare_eval_center_crop(void) {
    test_rng rng = {g_seed ^ 0x9e5e0004};
    const clcnn_normalization n = clcnn_normalization_imagenet();
    for (int portrait = 0; portrait < 2; portrait++) {
        const int size = 8, w = portrait ? 8 : 13, h = portrait ? 13 : 8; /* 5 extra: offset round(2.5) = 2 */
        clcnn_image im;
        CHECK_OK(clcnn_image_create(w, h, 3, &im));
        for (int y = 0; im.pixels && y < h; y++)
            for (int x = 0; x < w; x++) {
                const int cx = x - (portrait ? 0 : 2), cy = y - (portrait ? 2 : 0);
                const int inside = cx >= 0 && cx < size && cy >= 0 && cy < size;
                uint8_t *p = at(&im, x, y);
                p[0] = inside ? (uint8_t)test_rng_int(&rng, 0, 200) : 255;
                p[1] = inside ? (uint8_t)test_rng_int(&rng, 0, 255) : 0;
                p[2] = inside ? (uint8_t)test_rng_int(&rng, 0, 255) : 255;
            }
        float out[3 * 8 * 8];
        CHECK_OK(clcnn_image_prepare(&im, size, NULL, 0, &n, out));
        CHECK(equals_window(out, size, &im, portrait ? 0 : 2, portrait ? 2 : 0, 0, 0, &n),
              "%s 13x8 at size 8: not the centre window", portrait ? "portrait" : "landscape");
        clcnn_image_free(&im);
    }
}

/* With resampling: torchvision's Resize + CenterCrop on PIL images, exactly. */
static void test_prepare_eval_matches_torchvision(void) {
    const clcnn_normalization n = clcnn_normalization_imagenet();
    const struct {
        const char *src, *want;
        int size;
    } cases[] = {{"png_rgb.png", "prep_png_rgb_s4.png", 4},
                 {"png_rgb.png", "prep_png_rgb_s10.png", 10},
                 {"portrait.png", "prep_portrait_s5.png", 5},
                 {"portrait.png", "prep_portrait_s6.png", 6}};
    for (int i = 0; i < 4; i++) {
        clcnn_image src = golden(cases[i].src), want = golden(cases[i].want);
        float out[3 * 10 * 10];
        if (src.pixels && want.pixels) {
            CHECK_OK(clcnn_image_prepare(&src, cases[i].size, NULL, 0, &n, out));
            CHECK(equals_window(out, cases[i].size, &want, 0, 0, 0, 0, &n), "%s at size %d differs from torchvision (%s)",
                  cases[i].src, cases[i].size, cases[i].want);
        }
        clcnn_image_free(&src);
        clcnn_image_free(&want);
    }
}

static void test_prepare_aug_seeds(void) {
    test_rng rng = {g_seed ^ 0x9e5e0005};
    const clcnn_normalization n = clcnn_normalization_imagenet();
    clcnn_augment_params a;
    clcnn_augment_defaults(&a);
    a.vflip = 1;
    clcnn_image im = random_image(23, 17, 3, &rng);
    enum { S = 12, N = 3 * S * S };
    float *first = malloc(N * sizeof *first), *again = malloc(N * sizeof *again), *other = malloc(N * sizeof *other);
    int same_as_first = 0;
    for (uint64_t seed = 0; first && again && other && im.pixels && seed < 8; seed++) {
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &n, first));
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &n, again));
        CHECK(!memcmp(first, again, N * sizeof *first), "seed %llu: two calls differ", (unsigned long long)seed);
        CHECK(all_finite(first, N), "seed %llu: non-finite values", (unsigned long long)seed);
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed + 1000, &n, other));
        same_as_first += !memcmp(first, other, N * sizeof *first);
    }
    CHECK(same_as_first == 0, "%d of 8 seed pairs gave the same augmentation", same_as_first);
    free(first);
    free(again);
    free(other);
    clcnn_image_free(&im);
}

/* Params that crop the whole image and only flip: each seed gives the image or its
 * mirror, exactly, and both happen. */
static void test_prepare_aug_flips(void) {
    test_rng rng = {g_seed ^ 0x9e5e0006};
    const clcnn_normalization n = clcnn_normalization_imagenet();
    enum { S = 10 };
    clcnn_image im = random_image(S, S, 3, &rng);
    for (int vertical = 0; vertical < 2 && im.pixels; vertical++) {
        const clcnn_augment_params a = {.scale_min = 1, .scale_max = 1, .ratio_min = 1, .ratio_max = 1,
                                        .hflip = !vertical, .vflip = vertical};
        int mirrored = 0, plain = 0, neither = 0;
        float out[3 * S * S];
        for (uint64_t seed = 0; seed < 32; seed++) {
            CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &n, out));
            if (equals_window(out, S, &im, 0, 0, !vertical, vertical, &n)) mirrored++;
            else if (equals_window(out, S, &im, 0, 0, 0, 0, &n)) plain++;
            else neither++;
        }
        CHECK(neither == 0 && mirrored > 0 && plain > 0, "%s flips over 32 seeds: %d mirrored, %d plain, %d neither",
              vertical ? "vertical" : "horizontal", mirrored, plain, neither);
    }
    clcnn_image_free(&im);
}

/* A crop of exactly size x size (scale and ratio fixed) needs no resampling: the output
 * is an exact window of the image, at positions that vary with the seed. */
static void test_prepare_aug_crop(void) {
    const clcnn_normalization n = identity_norm;
    enum { W = 16, S = 8 };
    clcnn_image im;
    CHECK_OK(clcnn_image_create(W, W, 3, &im));
    for (int y = 0; im.pixels && y < W; y++)
        for (int x = 0; x < W; x++) {
            at(&im, x, y)[0] = (uint8_t)(16 * x);
            at(&im, x, y)[1] = (uint8_t)(16 * y);
            at(&im, x, y)[2] = (uint8_t)(x ^ y);
        }
    const clcnn_augment_params a = {.scale_min = 0.25f, .scale_max = 0.25f, .ratio_min = 1, .ratio_max = 1};
    float out[3 * S * S];
    int positions[W][W] = {{0}}, distinct = 0;
    for (uint64_t seed = 0; im.pixels && seed < 40; seed++) {
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &n, out));
        const int x0 = (int)lroundf(out[0] * 255.0f / 16.0f), y0 = (int)lroundf(out[S * S] * 255.0f / 16.0f);
        const int ok = x0 >= 0 && y0 >= 0 && x0 + S <= W && y0 + S <= W && equals_window(out, S, &im, x0, y0, 0, 0, &n);
        CHECK(ok, "seed %llu: not an exact 8x8 window (top-left reads %d,%d)", (unsigned long long)seed, x0, y0);
        if (ok && !positions[y0][x0]++) distinct++;
    }
    CHECK(distinct >= 10, "only %d distinct crop positions in 40 seeds", distinct);
    clcnn_image_free(&im);
}

/* Rotation alone on a constant image: the centre keeps its value, every value stays
 * within [0, value] (black comes in at the corners), and large angles do blacken corners. */
static void test_prepare_aug_rotation(void) {
    enum { S = 16 };
    const float value = 200 / 255.0f;
    clcnn_image im;
    CHECK_OK(clcnn_image_create(S, S, 3, &im));
    if (im.pixels) memset(im.pixels, 200, S * S * 3);
    const clcnn_augment_params a = {.scale_min = 1, .scale_max = 1, .ratio_min = 1, .ratio_max = 1,
                                    .rotate_degrees = 45};
    float out[3 * S * S];
    int black_corners = 0;
    for (uint64_t seed = 0; im.pixels && seed < 16; seed++) {
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &identity_norm, out));
        int outside = 0;
        for (int i = 0; i < 3 * S * S; i++) outside += !(out[i] >= 0.0f && out[i] <= value + 1e-6f);
        CHECK(outside == 0, "seed %llu: %d values outside [0, %g]", (unsigned long long)seed, outside, value);
        for (int c = 0; c < 3; c++)
            CHECK(fabsf(out[c * S * S + (S / 2) * S + S / 2] - value) < 1e-5f, "seed %llu: centre changed to %g",
                  (unsigned long long)seed, out[c * S * S + (S / 2) * S + S / 2]);
        black_corners += out[0] == 0.0f;
    }
    CHECK(black_corners > 0, "no seed in 16 blackened the top-left corner with angles up to 45 degrees");
    clcnn_image_free(&im);
}

/* ColorJitter's three adjustments, each alone. */
static void test_prepare_aug_jitter(void) {
    enum { S = 6, P = S * S };
    const clcnn_augment_params base = {.scale_min = 1, .scale_max = 1, .ratio_min = 1, .ratio_max = 1};
    float out[3 * P];
    clcnn_image im;
    CHECK_OK(clcnn_image_create(S, S, 3, &im));
    if (!im.pixels) return;
    /* Brightness on a constant colour: the colour times one factor in [0.7, 1.3]. */
    const uint8_t rgb[3] = {60, 120, 180};
    for (int i = 0; i < P; i++) memcpy(im.pixels + 3 * i, rgb, 3);
    clcnn_augment_params a = base;
    a.brightness = 0.3f;
    int changed = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &identity_norm, out));
        const float f = out[0] / (60 / 255.0f);
        CHECK(f >= 0.7f - 1e-5f && f <= 1.3f + 1e-5f, "brightness factor %g outside [0.7, 1.3]", f);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < P; i++)
                CHECK(fabsf(out[c * P + i] - f * rgb[c] / 255.0f) < 1e-5f, "seed %llu: brightness not one factor",
                      (unsigned long long)seed);
        changed += fabsf(f - 1) > 1e-3f;
    }
    CHECK(changed > 0, "brightness never changed the image");
    /* Saturation on gray pixels (varying levels): nothing to change (up to the weights'
     * sum 0.9999). */
    for (int i = 0; i < P; i++) memset(im.pixels + 3 * i, 10 + 7 * i, 3);
    a = base;
    a.saturation = 0.5f;
    for (uint64_t seed = 0; seed < 4; seed++) {
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &identity_norm, out));
        for (int i = 0; i < 3 * P; i++)
            CHECK(fabsf(out[i] - (10 + 7 * (i % P)) / 255.0f) < 1e-3f, "saturation changed a gray pixel");
    }
    /* Contrast on two gray levels: blended towards their mean, the order kept, values in [0,1]. */
    for (int i = 0; i < P; i++) memset(im.pixels + 3 * i, i % 2 ? 200 : 40, 3);
    a = base;
    a.contrast = 0.5f;
    for (uint64_t seed = 0; seed < 4; seed++) {
        CHECK_OK(clcnn_image_prepare(&im, S, &a, seed, &identity_norm, out));
        const float lo = out[0], hi = out[1], spread = (hi - lo) / (160 / 255.0f), mid = 0.5f * (lo + hi);
        CHECK(spread >= 0.5f - 1e-4f && spread <= 1.5f + 1e-4f, "contrast factor %g outside [0.5, 1.5]", spread);
        CHECK(fabsf(mid - 0.9999f * 120 / 255.0f) < 1e-3f, "contrast moved the mean to %g", mid);
        CHECK(lo >= 0 && hi <= 1, "contrast left [0,1]: %g %g", lo, hi);
    }
    clcnn_image_free(&im);
}

/* Defaults on images of several shapes, including tiny and very elongated ones: finite. */
static void test_prepare_aug_shapes(void) {
    test_rng rng = {g_seed ^ 0x9e5e0007};
    const clcnn_normalization n = clcnn_normalization_imagenet();
    clcnn_augment_params a;
    clcnn_augment_defaults(&a);
    a.vflip = 1;
    a.rotate_degrees = 180;
    const int shapes[][3] = {{1, 1, 7}, {2, 50, 9}, {50, 2, 9}, {31, 20, 16}, {5, 7, 24}};
    for (int s = 0; s < 5; s++) {
        const int w = shapes[s][0], h = shapes[s][1], size = shapes[s][2];
        clcnn_image im = random_image(w, h, 3, &rng);
        float *out = malloc((size_t)3 * size * size * sizeof *out);
        for (uint64_t seed = 0; out && im.pixels && seed < 6; seed++) {
            CHECK_OK(clcnn_image_prepare(&im, size, &a, seed, &n, out));
            CHECK(all_finite(out, (size_t)3 * size * size), "%dx%d at %d, seed %llu: non-finite", w, h, size,
                  (unsigned long long)seed);
        }
        if (out && im.pixels) {
            CHECK_OK(clcnn_image_prepare(&im, size, NULL, 0, &n, out));
            CHECK(all_finite(out, (size_t)3 * size * size), "%dx%d at %d, eval: non-finite", w, h, size);
        }
        free(out);
        clcnn_image_free(&im);
    }
}

static void test_prepare_bad_args(void) {
    const clcnn_normalization n = clcnn_normalization_imagenet();
    clcnn_augment_params good;
    clcnn_augment_defaults(&good);
    clcnn_image im, gray;
    CHECK_OK(clcnn_image_create(6, 5, 3, &im));
    CHECK_OK(clcnn_image_create(6, 5, 1, &gray));
    float out[3 * 4 * 4];
    const int bad = CLCNN_ERR_INVALID_ARGUMENT;
    CHECK_STATUS(clcnn_image_prepare(NULL, 4, NULL, 0, &n, out), bad);
    CHECK_STATUS(clcnn_image_prepare(&im, 4, NULL, 0, NULL, out), bad);
    CHECK_STATUS(clcnn_image_prepare(&im, 4, NULL, 0, &n, NULL), bad);
    CHECK_STATUS(clcnn_image_prepare(&im, 0, NULL, 0, &n, out), bad);
    CHECK_STATUS(clcnn_image_prepare(&im, -4, &good, 0, &n, out), bad);
    CHECK_STATUS(clcnn_image_prepare(&gray, 4, NULL, 0, &n, out), bad);
    clcnn_image none = {6, 5, 3, NULL};
    CHECK_STATUS(clcnn_image_prepare(&none, 4, NULL, 0, &n, out), bad);
    clcnn_normalization zero_std = n, nan_mean = n;
    zero_std.std[1] = 0;
    nan_mean.mean[2] = NAN;
    CHECK_STATUS(clcnn_image_prepare(&im, 4, NULL, 0, &zero_std, out), bad);
    CHECK_STATUS(clcnn_image_prepare(&im, 4, NULL, 0, &nan_mean, out), bad);
    clcnn_augment_params a[9];
    for (int i = 0; i < 9; i++) a[i] = good;
    a[0].scale_min = 0;
    a[1].scale_min = 0.9f, a[1].scale_max = 0.5f;
    a[2].scale_max = 1.5f;
    a[3].ratio_min = 0;
    a[4].ratio_min = 2, a[4].ratio_max = 1;
    a[5].rotate_degrees = -1;
    a[6].brightness = NAN;
    a[7].contrast = -0.1f;
    a[8].saturation = INFINITY;
    for (int i = 0; i < 9; i++) {
        const clcnn_status st = clcnn_image_prepare(&im, 4, &a[i], 0, &n, out);
        CHECK(st == bad, "bad augment params %d: status %d (%s)", i, st, clcnn_status_str(st));
    }
    CHECK_OK(clcnn_image_prepare(&im, 4, &good, 0, &n, out));
    clcnn_image_free(&im);
    clcnn_image_free(&gray);
}

const test_case test_preprocess_cases[] = {
    {"resize_constant", test_resize_constant},
    {"resize_identity", test_resize_identity},
    {"resize_ramp", test_resize_ramp},
    {"resize_checkerboard", test_resize_checkerboard},
    {"resize_matches_pil", test_resize_matches_pil},
    {"resize_bad_args", test_resize_bad_args},
    {"prepare_defaults", test_prepare_defaults},
    {"prepare_eval_exact", test_prepare_eval_exact},
    {"prepare_eval_center_crop", test_prepare_eval_center_crop},
    {"prepare_eval_matches_torchvision", test_prepare_eval_matches_torchvision},
    {"prepare_aug_seeds", test_prepare_aug_seeds},
    {"prepare_aug_flips", test_prepare_aug_flips},
    {"prepare_aug_crop", test_prepare_aug_crop},
    {"prepare_aug_rotation", test_prepare_aug_rotation},
    {"prepare_aug_jitter", test_prepare_aug_jitter},
    {"prepare_aug_shapes", test_prepare_aug_shapes},
    {"prepare_bad_args", test_prepare_bad_args},
    {NULL, NULL},
};
