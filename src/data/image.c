/* image.c: host images: create and free, load (read the file, then decode by its first
 * bytes, never by its extension), save (encode in memory, then write atomically), and
 * the dimension limits every decoder applies before allocating pixels. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/image_internal.h"
#include "runtime/atomic_file.h"
#include "runtime/error.h"

/* Files larger than this are refused rather than read: no image within the pixel limits
 * needs more, and reading a device or a huge file by mistake should fail early. */
#define MAX_FILE_BYTES ((size_t)1 << 31)

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

clcnn_status data_image_check_size(const char *name, const char *format, uint64_t width, uint64_t height) {
    if (width == 0 || height == 0)
        return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: %s image has no pixels (%llux%llu)", name, format,
                           (unsigned long long)width, (unsigned long long)height);
    /* Sides first, so that the product cannot overflow. */
    if (width > CLCNN_IMAGE_MAX_SIDE || height > CLCNN_IMAGE_MAX_SIDE || width * height > CLCNN_IMAGE_MAX_PIXELS)
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY,
                           "%s: %s image of %llux%llu pixels is beyond the limits (%d per side, %u pixels)", name,
                           format, (unsigned long long)width, (unsigned long long)height, CLCNN_IMAGE_MAX_SIDE,
                           CLCNN_IMAGE_MAX_PIXELS);
    return CLCNN_OK;
}

static int valid_channels(int channels) { return channels == 1 || channels == 3 || channels == 4; }

clcnn_status data_image_check(const clcnn_image *image, const char *who, const char *arg) {
    if (!image || !image->pixels)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s is NULL or has no pixels", who, arg);
    if (image->width <= 0 || image->height <= 0 || !valid_channels(image->channels))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s is %dx%d with %d channels (need sides > 0 and 1, 3 or 4 channels)",
                           who, arg, image->width, image->height, image->channels);
    return CLCNN_OK;
}

clcnn_status clcnn_image_create(int width, int height, int channels, clcnn_image *image) {
    if (!image) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_image_create: NULL image");
    memset(image, 0, sizeof *image);
    if (width <= 0 || height <= 0 || !valid_channels(channels))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT,
                           "clcnn_image_create: %dx%d with %d channels (need sides > 0 and 1, 3 or 4 channels)", width,
                           height, channels);
    const clcnn_status st = data_image_check_size("clcnn_image_create", "a requested", (uint64_t)width, (uint64_t)height);
    if (st != CLCNN_OK) return st;
    image->pixels = calloc((size_t)width * (size_t)height, (size_t)channels);
    if (!image->pixels)
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_image_create: no host memory for %dx%dx%d", width,
                           height, channels);
    image->width = width;
    image->height = height;
    image->channels = channels;
    return CLCNN_OK;
}

void clcnn_image_free(clcnn_image *image) {
    if (!image) return;
    free(image->pixels);
    memset(image, 0, sizeof *image);
}

/* ---- loading ---- */

/* The whole file in a malloc'ed buffer. Read in growing chunks rather than sized by
 * stat, so that pipes and files changing under us are handled the same way. */
static clcnn_status read_file(const char *path, uint8_t **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rt_error(NULL, CLCNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    clcnn_status st = CLCNN_OK;
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: file larger than %zu bytes", path, MAX_FILE_BYTES);
                goto free_buf;
            }
            const size_t new_cap = cap ? 2 * cap : 64 * 1024;
            uint8_t *grown = realloc(buf, new_cap);
            if (!grown) {
                st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory to read %zu bytes", path, new_cap);
                goto free_buf;
            }
            buf = grown;
            cap = new_cap;
        }
        errno = 0;
        const size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        st = rt_error(NULL, CLCNN_ERR_IO, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
        goto free_buf;
    }
    fclose(f);
    *data = buf;
    *size = n;
    return CLCNN_OK;
free_buf:
    free(buf);
    fclose(f);
    return st;
}

clcnn_status clcnn_image_decode(const void *data, size_t size, const char *name, clcnn_image *image) {
    if (!image) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_image_decode: NULL image");
    memset(image, 0, sizeof *image);
    if (!name) name = CLCNN_IMAGE_NO_NAME;
    if (!data && size) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_image_decode: %s: NULL data", name);
    if (size == 0) return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: empty file, not an image", name);
    const uint8_t *d = data;
    if (size >= sizeof png_signature && memcmp(d, png_signature, sizeof png_signature) == 0)
        return data_png_decode(d, size, name, image);
    if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return data_jpeg_decode(d, size, name, image);
    return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: not a PNG or JPEG file (it starts with %02x %02x %02x %02x)", name,
                       d[0], size > 1 ? d[1] : 0, size > 2 ? d[2] : 0, size > 3 ? d[3] : 0);
}

clcnn_status clcnn_image_load(const char *path, clcnn_image *image) {
    if (!image) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_image_load: NULL image");
    memset(image, 0, sizeof *image);
    if (!path || !*path) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_image_load: NULL or empty path");
    uint8_t *data;
    size_t size;
    clcnn_status st = read_file(path, &data, &size);
    if (st != CLCNN_OK) return st;
    st = clcnn_image_decode(data, size, path, image);
    free(data);
    return st;
}

/* ---- saving ---- */

static clcnn_status write_atomically(const char *who, const char *path, const uint8_t *data, size_t size) {
    rt_atomic_file af;
    const clcnn_status st = rt_atomic_open(NULL, who, path, &af);
    if (st != CLCNN_OK) return st;
    rt_atomic_write(&af, data, size);
    return rt_atomic_commit(NULL, who, &af);
}

static clcnn_status check_save(const char *who, const char *path, const clcnn_image *image) {
    if (!path || !*path) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL or empty path", who);
    return data_image_check(image, who, "image");
}

clcnn_status clcnn_image_save_png(const char *path, const clcnn_image *image) {
    const char *who = "clcnn_image_save_png";
    clcnn_status st = check_save(who, path, image);
    if (st != CLCNN_OK) return st;
    uint8_t *data;
    size_t size;
    if ((st = data_png_encode(image, path, &data, &size)) != CLCNN_OK) return st;
    st = write_atomically(who, path, data, size);
    free(data);
    return st;
}

clcnn_status clcnn_image_save_jpeg(const char *path, const clcnn_image *image, int quality) {
    const char *who = "clcnn_image_save_jpeg";
    clcnn_status st = check_save(who, path, image);
    if (st != CLCNN_OK) return st;
    if (quality < 1 || quality > 100)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s: quality %d is not in 1..100", who, path, quality);
    uint8_t *data;
    size_t size;
    if ((st = data_jpeg_encode(image, quality, path, &data, &size)) != CLCNN_OK) return st;
    st = write_atomically(who, path, data, size);
    free(data);
    return st;
}
