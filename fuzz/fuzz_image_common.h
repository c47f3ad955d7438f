/* fuzz_image_common.h: the body of the PNG and JPEG targets. Both go through the public
 * clcnn_image_decode (which picks the decoder by the first bytes); each has its own seeds.
 * A decoded image must be sane, an error must be a clean status with a message, and the
 * evaluation and training preprocessing must survive whatever shape came out. */
#ifndef CLCNN_FUZZ_IMAGE_COMMON_H
#define CLCNN_FUZZ_IMAGE_COMMON_H

#include "fuzz_util.h"

/* Preprocessing is run on images up to this many pixels (keeps executions fast). */
enum { FUZZ_PREPARE_MAX_PIXELS = 1 << 16, FUZZ_PREPARE_SIZE = 12 };

static void fuzz_prepare(const clcnn_image *im, uint64_t seed) {
    static float out[3 * FUZZ_PREPARE_SIZE * FUZZ_PREPARE_SIZE];
    const clcnn_normalization norm = clcnn_normalization_imagenet();
    clcnn_augment_params aug;
    clcnn_augment_defaults(&aug);
    aug.vflip = 1;
    clcnn_status st = clcnn_image_prepare(im, FUZZ_PREPARE_SIZE, NULL, 0, &norm, out);
    FUZZ_CHECK(st == CLCNN_OK, "prepare of a %dx%d image: %s", im->width, im->height, clcnn_last_error(NULL));
    st = clcnn_image_prepare(im, FUZZ_PREPARE_SIZE, &aug, seed, &norm, out);
    FUZZ_CHECK(st == CLCNN_OK, "augmented prepare of a %dx%d image: %s", im->width, im->height,
               clcnn_last_error(NULL));
}

static int fuzz_decode_one(const uint8_t *data, size_t size, const char *name) {
    clcnn_image im;
    const clcnn_status st = clcnn_image_decode(data, size, name, &im);
    if (st != CLCNN_OK) {
        fuzz_check_error(st);
        FUZZ_CHECK(!im.pixels && !im.width && !im.height, "image not zeroed after an error");
        FUZZ_CHECK(strstr(clcnn_last_error(NULL), name) != NULL, "message does not name the file: %s",
                   clcnn_last_error(NULL));
        return 0;
    }
    FUZZ_CHECK(im.pixels && im.channels == 3 && im.width > 0 && im.height > 0, "decoded %dx%dx%d", im.width,
               im.height, im.channels);
    FUZZ_CHECK(im.width <= CLCNN_IMAGE_MAX_SIDE && im.height <= CLCNN_IMAGE_MAX_SIDE, "decoded %dx%d beyond the limits",
               im.width, im.height);
    /* Every pixel byte is read: ASan sees a buffer shorter than its dimensions. */
    const size_t n = (size_t)im.width * (size_t)im.height * 3;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) sum += im.pixels[i];
    if ((size_t)im.width * (size_t)im.height <= FUZZ_PREPARE_MAX_PIXELS) fuzz_prepare(&im, (uint64_t)sum * 31u + size);
    clcnn_image_free(&im);
    return 0;
}

#endif
