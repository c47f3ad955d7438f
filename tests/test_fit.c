/* test_fit.c: whole pictures (clcnn_fit). The geometry of crop, squash and pad; the
 * evaluation input of squash is the picture resized to size x size exactly, that of pad
 * the picture resized into a band of the mean colour; training's augmentation under
 * squash and pad sees the whole picture (a crop of scale 1 keeps the sides that crop
 * cuts away); crop through clcnn_image_prepare_fit is clcnn_image_prepare bit for bit;
 * clcnn_map_over_picture equals clcnn_map_resize where the two must agree, leaves what
 * crop cut away at 0, and reads a pad band's edges as the band's blend with padding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"

static const clcnn_normalization identity_norm = {{0, 0, 0}, {1, 1, 1}};

/* A W x H picture whose red channel marks its outer two columns (255) and whose green
 * and blue are random. */
static clcnn_image marked_picture(int w, int h, test_rng *rng) {
    clcnn_image im;
    CHECK_OK(clcnn_image_create(w, h, 3, &im));
    for (int y = 0; im.pixels && y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im.pixels + ((size_t)y * w + x) * 3;
            p[0] = x < 2 || x >= w - 2 ? 255 : 0;
            p[1] = (uint8_t)test_rng_next(rng);
            p[2] = (uint8_t)test_rng_next(rng);
        }
    return im;
}

static int rect_is(const float r[4], float x, float y, float w, float h) {
    return fabsf(r[0] - x) < 1e-4f && fabsf(r[1] - y) < 1e-4f && fabsf(r[2] - w) < 1e-4f && fabsf(r[3] - h) < 1e-4f;
}

static void test_fit_geometry(void) {
    clcnn_fit fit = CLCNN_FIT_PAD;
    static const char *const names[] = {"crop", "squash", "pad"};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(clcnn_fit_parse(names[i], &fit));
        CHECK((int)fit == i && !strcmp(clcnn_fit_name(fit), names[i]), "%s parsed as %d", names[i], (int)fit);
    }
    CHECK_STATUS(clcnn_fit_parse("letterbox", &fit), CLCNN_ERR_NOT_FOUND);
    float src[4], dst[4];
    /* 64 x 32 at 16: crop resizes to 32 x 16 and takes columns 8..24 of that: 16..48 of the picture */
    CHECK_OK(clcnn_fit_geometry(64, 32, 16, CLCNN_FIT_CROP, src, dst));
    CHECK(rect_is(src, 16, 0, 32, 32) && rect_is(dst, 0, 0, 16, 16), "crop: src %g %g %g %g dst %g %g %g %g", src[0],
          src[1], src[2], src[3], dst[0], dst[1], dst[2], dst[3]);
    CHECK_OK(clcnn_fit_geometry(64, 32, 16, CLCNN_FIT_SQUASH, src, dst));
    CHECK(rect_is(src, 0, 0, 64, 32) && rect_is(dst, 0, 0, 16, 16), "squash: src %g %g %g %g", src[0], src[1], src[2],
          src[3]);
    CHECK_OK(clcnn_fit_geometry(64, 32, 16, CLCNN_FIT_PAD, src, dst));
    CHECK(rect_is(src, 0, 0, 64, 32) && rect_is(dst, 0, 4, 16, 8), "pad: dst %g %g %g %g", dst[0], dst[1], dst[2], dst[3]);
    CHECK_OK(clcnn_fit_geometry(20, 50, 10, CLCNN_FIT_PAD, src, dst));
    CHECK(rect_is(dst, 3, 0, 4, 10), "pad, tall: dst %g %g %g %g", dst[0], dst[1], dst[2], dst[3]);
    CHECK_STATUS(clcnn_fit_geometry(0, 32, 16, CLCNN_FIT_PAD, src, dst), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_fit_geometry(64, 32, 16, (clcnn_fit)7, src, dst), CLCNN_ERR_INVALID_ARGUMENT);
}

/* Evaluation: squash is the whole picture resized to S x S; pad the picture resized to
 * S x S/2 between bands of the mean colour; crop equals clcnn_image_prepare. */
static void test_fit_prepare_eval(void) {
    enum { W = 40, H = 20, S = 16 };
    test_rng rng = {g_seed ^ 0xF17u};
    clcnn_image im = marked_picture(W, H, &rng), squashed = {0}, band = {0};
    const clcnn_normalization n = {{0.5f, 0.25f, 0.75f}, {0.5f, 0.5f, 0.25f}};
    float *out = malloc(3 * S * S * sizeof *out), *want = malloc(3 * S * S * sizeof *want);
    if (!im.pixels || !out || !want) goto done;
    CHECK_OK(clcnn_image_resize(&im, S, S, &squashed));
    CHECK_OK(clcnn_image_prepare_fit(&im, S, CLCNN_FIT_SQUASH, NULL, 0, &n, out));
    int bad = 0;
    for (int c = 0; squashed.pixels && c < 3; c++)
        for (int i = 0; i < S * S; i++)
            bad += out[c * S * S + i] != (squashed.pixels[3 * i + c] / 255.0f - n.mean[c]) / n.std[c];
    CHECK(bad == 0, "squash: %d values differ from the picture resized to %dx%d", bad, S, S);

    CHECK_OK(clcnn_image_resize(&im, S, S / 2, &band));
    CHECK_OK(clcnn_image_prepare_fit(&im, S, CLCNN_FIT_PAD, NULL, 0, &n, out));
    bad = 0;
    for (int c = 0; band.pixels && c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                const float v = out[(c * S + y) * S + x];
                if (y < S / 4 || y >= S / 4 + S / 2) /* the mean colour, rounded to 8 bits */
                    bad += !(fabsf(v) <= 0.5f / 255.0f / n.std[c] + 1e-6f);
                else
                    bad += v != (band.pixels[3 * ((y - S / 4) * S + x) + c] / 255.0f - n.mean[c]) / n.std[c];
            }
    CHECK(bad == 0, "pad: %d values are neither the band nor the mean colour", bad);

    CHECK_OK(clcnn_image_prepare_fit(&im, S, CLCNN_FIT_CROP, NULL, 0, &n, out));
    CHECK_OK(clcnn_image_prepare(&im, S, NULL, 0, &n, want));
    CHECK(!memcmp(out, want, 3 * S * S * sizeof *out), "crop through prepare_fit differs from clcnn_image_prepare");
    CHECK_STATUS(clcnn_image_prepare_fit(&im, S, (clcnn_fit)3, NULL, 0, &n, out), CLCNN_ERR_INVALID_ARGUMENT);
done:
    clcnn_image_free(&im), clcnn_image_free(&squashed), clcnn_image_free(&band);
    free(out), free(want);
}

/* Training: a random crop of scale 1 and ratio 1, no flips, rotation or jitter. Under
 * crop the picture's marked outer columns are cut away; under squash and pad they are
 * in the input (red in the first and last columns). */
static void test_fit_prepare_augment(void) {
    enum { W = 48, H = 24, S = 12 };
    test_rng rng = {g_seed ^ 0xA06u};
    clcnn_image im = marked_picture(W, H, &rng);
    const clcnn_augment_params a = {.scale_min = 1, .scale_max = 1, .ratio_min = 1, .ratio_max = 1};
    float out[3 * S * S];
    for (int f = 0; im.pixels && f < 3; f++) {
        CHECK_OK(clcnn_image_prepare_fit(&im, S, (clcnn_fit)f, &a, 5, &identity_norm, out));
        float edge_red = 0;
        for (int y = 0; y < S; y++) edge_red = fmaxf(edge_red, fmaxf(out[y * S], out[y * S + S - 1]));
        if (f == CLCNN_FIT_CROP)
            CHECK(edge_red < 0.05f, "crop: the cut-away sides reached the input (red %.3f at its edges)", edge_red);
        else
            CHECK(edge_red > 0.3f, "%s: the picture's sides are not in the input (red %.3f at its edges)",
                  clcnn_fit_name((clcnn_fit)f), edge_red);
    }
    clcnn_image_free(&im);
}

/* out (picture_w x picture_h) against the map resized to rw x rh and placed at (x0, 0),
 * zero elsewhere. */
static int placed(const float *out, int pw, int ph, const float *map, int mh, int mw, int rw, int x0) {
    float *r = malloc((size_t)rw * ph * sizeof *r);
    int bad = r ? 0 : 1;
    if (r) CHECK_OK(clcnn_map_resize(map, mh, mw, r, ph, rw));
    for (int y = 0; r && y < ph; y++)
        for (int x = 0; x < pw; x++) {
            const float want = x >= x0 && x < x0 + rw ? r[y * rw + x - x0] : 0.0f;
            bad += !(fabsf(out[y * pw + x] - want) <= 1e-5f);
        }
    free(r);
    return bad;
}

static void test_fit_map_over_picture(void) {
    enum { MH = 4, MW = 4, S = 16 };
    test_rng rng = {g_seed ^ 0x3A9u};
    float map[MH * MW], out[64 * 32];
    for (int i = 0; i < MH * MW; i++) map[i] = test_rng_uniform(&rng, 0.0f, 1.0f);
    CHECK_OK(clcnn_map_over_picture(map, MH, MW, S, CLCNN_FIT_SQUASH, 64, 32, out));
    CHECK(placed(out, 64, 32, map, MH, MW, 64, 0) == 0, "squash: not the map resized to the picture");
    CHECK_OK(clcnn_map_over_picture(map, MH, MW, S, CLCNN_FIT_CROP, 32, 32, out));
    CHECK(placed(out, 32, 32, map, MH, MW, 32, 0) == 0, "crop of a square picture: not the map resized to it");
    CHECK_OK(clcnn_map_over_picture(map, MH, MW, S, CLCNN_FIT_CROP, 64, 32, out));
    CHECK(placed(out, 64, 32, map, MH, MW, 32, 16) == 0, "crop of a wide picture: not the map over its centre, 0 beside");

    /* pad, 64 x 32 at 16: the picture fills input rows 4..12. A map that is 1 there and 0
     * in the padding reads 1 on the picture, blended with the padding only within half a
     * map cell of the band's edges (picture rows 0, 1, 30, 31: 0.625 and 0.875). */
    float band[S * S];
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) band[y * S + x] = y >= 4 && y < 12 ? 1.0f : 0.0f;
    CHECK_OK(clcnn_map_over_picture(band, S, S, S, CLCNN_FIT_PAD, 64, 32, out));
    int bad = 0;
    for (int y = 0; y < 32; y++) {
        const float want = y == 0 || y == 31 ? 0.625f : y == 1 || y == 30 ? 0.875f : 1.0f;
        for (int x = 0; x < 64; x++) bad += !(fabsf(out[y * 64 + x] - want) <= 1e-5f);
    }
    CHECK(bad == 0, "pad: %d picture values are not the band's", bad);
    CHECK_STATUS(clcnn_map_over_picture(NULL, MH, MW, S, CLCNN_FIT_PAD, 64, 32, out), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_map_over_picture(map, MH, MW, S, CLCNN_FIT_PAD, 0, 32, out), CLCNN_ERR_SHAPE);
}

const test_case test_fit_cases[] = {
    {"fit_geometry", test_fit_geometry},
    {"fit_prepare_eval", test_fit_prepare_eval},
    {"fit_prepare_augment", test_fit_prepare_augment},
    {"fit_map_over_picture", test_fit_map_over_picture},
    {NULL, NULL},
};
