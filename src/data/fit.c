/* fit.c: how a picture of any shape becomes the network's square input (clcnn_fit):
 * the geometry of crop, squash and pad, shared by the preprocessing (prepare.c) and by
 * whatever lays a map of the input back over the picture (clcnn_map_over_picture). */
#include <math.h>
#include <string.h>
#include "data/image_internal.h"
#include "runtime/error.h"

static const char *const names[] = {"crop", "squash", "pad"};

clcnn_status clcnn_fit_parse(const char *name, clcnn_fit *fit) {
    for (int i = 0; name && fit && i < 3; i++)
        if (!strcmp(name, names[i])) {
            *fit = (clcnn_fit)i;
            return CLCNN_OK;
        }
    return rt_error(NULL, name && fit ? CLCNN_ERR_NOT_FOUND : CLCNN_ERR_INVALID_ARGUMENT,
                       "unknown fit \"%s\" (crop, squash or pad)", name ? name : "(null)");
}

const char *clcnn_fit_name(clcnn_fit fit) { return fit >= CLCNN_FIT_CROP && fit <= CLCNN_FIT_PAD ? names[fit] : "?"; }

/* Python's round(d / 2) for d >= 0 (halves to even), as CenterCrop's offsets. */
static int half_to_even(int d) {
    const int q = d / 2;
    return (d % 2 && q % 2) ? q + 1 : q;
}

void image_crop_window(int width, int height, int size, int *resized_w, int *resized_h, int *x0, int *y0) {
    const int short_side = width < height ? width : height, long_side = width < height ? height : width;
    const int long_new = (int)((double)size * long_side / short_side); /* int(), as torchvision */
    *resized_w = width <= height ? size : long_new;
    *resized_h = width <= height ? long_new : size;
    *x0 = half_to_even(*resized_w - size);
    *y0 = half_to_even(*resized_h - size);
}

void image_pad_window(int width, int height, int side, int *w, int *h, int *x0, int *y0) {
    const int long_side = width > height ? width : height;
    *w = width == long_side ? side : (int)lround((double)side * width / long_side);
    *h = height == long_side ? side : (int)lround((double)side * height / long_side);
    if (*w < 1) *w = 1;
    if (*h < 1) *h = 1;
    *x0 = (side - *w) / 2;
    *y0 = (side - *h) / 2;
}

clcnn_status clcnn_fit_geometry(int width, int height, int size, clcnn_fit fit, float src[4], float dst[4]) {
    if (width < 1 || height < 1 || size < 1 || !src || !dst || fit < CLCNN_FIT_CROP || fit > CLCNN_FIT_PAD)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT,
                           "clcnn_fit_geometry: picture %d x %d, size %d, fit %d (sides >= 1, a known fit)", width,
                           height, size, (int)fit);
    int w = size, h = size, x0 = 0, y0 = 0;
    const float whole[4] = {0.0f, 0.0f, (float)width, (float)height};
    memcpy(src, whole, sizeof whole);
    if (fit == CLCNN_FIT_CROP) {
        /* the size x size window at (x0, y0) of the picture resized to w x h */
        image_crop_window(width, height, size, &w, &h, &x0, &y0);
        const float sx = (float)width / (float)w, sy = (float)height / (float)h;
        const float seen[4] = {(float)x0 * sx, (float)y0 * sy, (float)size * sx, (float)size * sy};
        memcpy(src, seen, sizeof seen);
        w = h = size, x0 = y0 = 0;
    } else if (fit == CLCNN_FIT_PAD) {
        image_pad_window(width, height, size, &w, &h, &x0, &y0);
    }
    const float filled[4] = {(float)x0, (float)y0, (float)w, (float)h};
    memcpy(dst, filled, sizeof filled);
    return CLCNN_OK;
}

clcnn_status image_fit_square(const clcnn_image *image, clcnn_fit fit, int side, const clcnn_normalization *norm,
                              clcnn_image *out) {
    static const char *who = "clcnn_image_prepare";
    int w = side, h = side, x0 = 0, y0 = 0;
    if (fit == CLCNN_FIT_PAD) image_pad_window(image->width, image->height, side, &w, &h, &x0, &y0);
    clcnn_image fitted = {0};
    clcnn_status st = data_image_resize_region(image, 0, 0, image->width, image->height, w, h, &fitted);
    if (st != CLCNN_OK || fit == CLCNN_FIT_SQUASH) {
        *out = fitted;
        return st == CLCNN_OK ? st : rt_error_prefix(NULL, st, "%s", who);
    }
    if ((st = clcnn_image_create(side, side, 3, out)) != CLCNN_OK) {
        clcnn_image_free(&fitted);
        return rt_error_prefix(NULL, st, "%s: the %d x %d letterbox", who, side, side);
    }
    uint8_t mean[3];
    for (int c = 0; c < 3; c++) mean[c] = (uint8_t)lrintf(fminf(fmaxf(norm->mean[c], 0.0f), 1.0f) * 255.0f);
    for (size_t i = 0; i < (size_t)side * (size_t)side; i++) memcpy(out->pixels + 3 * i, mean, 3);
    for (int y = 0; y < h; y++)
        memcpy(out->pixels + ((size_t)(y0 + y) * (size_t)side + (size_t)x0) * 3, fitted.pixels + (size_t)y * w * 3,
               (size_t)w * 3);
    clcnn_image_free(&fitted);
    return CLCNN_OK;
}
