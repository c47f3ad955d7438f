/* image_internal.h: what the image files of src/data share (codecs, EXIF, resampling).
 * Not public. Nothing here keeps state between calls: the loader decodes and prepares
 * images on several threads at once. Errors go to the calling thread's last error
 * (rt_error with a NULL context) and name the image. */
#ifndef CLCNN_DATA_IMAGE_INTERNAL_H
#define CLCNN_DATA_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "clcnn.h"

/* What messages call an image that has no file name (decoding from memory). */
#define CLCNN_IMAGE_NO_NAME "(image in memory)"

/* Header dimensions against the limits, before any pixel memory exists: a zero side is
 * CLCNN_ERR_FORMAT, a side or pixel count beyond CLCNN_IMAGE_MAX_* CLCNN_ERR_OUT_OF_MEMORY;
 * the message names the image and its format ("PNG", "JPEG"). */
clcnn_status data_image_check_size(const char *name, const char *format, uint64_t width, uint64_t height);

/* CLCNN_OK when image is a usable image (pixels, sides > 0, 1, 3 or 4 channels), else
 * CLCNN_ERR_INVALID_ARGUMENT naming `who` and `arg`. */
clcnn_status data_image_check(const clcnn_image *image, const char *who, const char *arg);

/* Decoders of a whole file in memory into a new 8-bit RGB image. On error *image is left
 * zeroed and the last error names `name`. */
clcnn_status data_png_decode(const uint8_t *data, size_t size, const char *name, clcnn_image *image);
clcnn_status data_jpeg_decode(const uint8_t *data, size_t size, const char *name, clcnn_image *image);

/* Encoders of a checked 1-, 3- or 4-channel image into a malloc'ed file image *data of
 * *size bytes (the caller frees it). JPEG drops alpha; quality is 1..100. */
clcnn_status data_png_encode(const clcnn_image *image, const char *name, uint8_t **data, size_t *size);
clcnn_status data_jpeg_encode(const clcnn_image *image, int quality, const char *name, uint8_t **data,
                               size_t *size);

/* The EXIF orientation (1..8) of an APP1 segment's payload ("Exif\0\0" + TIFF data);
 * 1 when the block is not EXIF, has no orientation, or is malformed in any way. */
int data_exif_orientation(const uint8_t *app1, size_t size);
/* Turn *image upright for an EXIF orientation, as PIL's ImageOps.exif_transpose
 * (5..8 swap width and height); 1 and unknown values leave it as it is. */
clcnn_status data_exif_apply(clcnn_image *image, int orientation, const char *name);

/* PIL's bilinear resize (antialiased: the filter widens when shrinking), bit for bit, of
 * the w x h region at (x0, y0) of src into a new out_w x out_h image *dst; what resizing a
 * crop of src would give, without the copy. The region must lie inside src. */
clcnn_status data_image_resize_region(const clcnn_image *src, int x0, int y0, int w, int h, int out_w, int out_h,
                                       clcnn_image *dst);

/* ---- fitting pictures to squares (fit.c) ---- */

/* CROP: the picture's shorter side to size makes it resized_w x resized_h; the network
 * sees the size x size window at (x0, y0) of that. */
void image_crop_window(int width, int height, int size, int *resized_w, int *resized_h, int *x0, int *y0);
/* PAD: the picture, its longer side to side, is w x h at (x0, y0) of the side x side square. */
void image_pad_window(int width, int height, int side, int *w, int *h, int *x0, int *y0);
/* The picture as a side x side RGB image (new, in *out): SQUASH resizes it, PAD
 * letterboxes it on norm's mean colour. */
clcnn_status image_fit_square(const clcnn_image *image, clcnn_fit fit, int side, const clcnn_normalization *norm,
                              clcnn_image *out);

#endif
