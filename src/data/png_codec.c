/* png_codec.c: PNG decode and encode with libpng.
 *
 * libpng reports errors by calling our error function, which must not return: it
 * records the message and longjmps back to the setjmp of the same call. All state a
 * call changes after its setjmp lives in a struct owned by the caller's frame (not in
 * locals of the function that calls setjmp), so it is well defined after the jump; there
 * are no globals, so threads may decode at the same time. Warnings are not errors (PIL
 * reads those files too) and are dropped. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "data/image_internal.h"
#include "runtime/error.h"

typedef struct {
    const char *name;
    clcnn_status status; /* set before a png_error of our own that is not a format error */
    char message[256];   /* libpng's reason */
} png_call;

static void on_error(png_structp png, png_const_charp message) {
    png_call *call = png_get_error_ptr(png);
    snprintf(call->message, sizeof call->message, "%s", message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

/* ---- decoding ---- */

typedef struct {
    png_call call;
    const uint8_t *data;
    size_t size, pos;
    clcnn_image image; /* the pixels being decoded */
    png_bytep *rows;
} png_reader;

static void read_bytes(png_structp png, png_bytep out, size_t n) {
    png_reader *r = png_get_io_ptr(png);
    if (n > r->size - r->pos) png_error(png, "unexpected end of file: truncated");
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

/* libpng's transformations to 8-bit RGB as PIL's convert("RGB"): palettes and gray
 * below 8 bits expanded, 16-bit samples reduced to their high byte, gray replicated,
 * alpha (including tRNS) dropped without compositing, no gamma correction. */
static void set_rgb8(png_structp png) {
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
}

/* Everything between setjmp and the end of decoding; r's members are what changes. */
static clcnn_status decode(png_structp png, png_infop info, png_reader *r) {
    if (setjmp(png_jmpbuf(png))) {
        if (r->call.status != CLCNN_OK) return r->call.status;
        return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: corrupt or truncated PNG (libpng: %s)", r->call.name,
                           r->call.message);
    }
    /* Lift libpng's own 1e6 side limit: ours applies, with its own status. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    /* Ancillary chunks change nothing in 8-bit RGB (no gamma, background or shift is
     * applied), and libpng buffers some whole before judging them (fuzz_png: a 328-byte
     * file claiming a 1.9 GB iTXt made it allocate and clear 1.9 GB): all but tRNS are
     * skipped unread. */
    static const png_byte ignored[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0sCAL\0"
                                      "sPLT\0sRGB\0tEXt\0tIME\0zTXt";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored, (int)(sizeof ignored / 5));
    png_set_read_fn(png, r, read_bytes);
    png_read_info(png, info);
    const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    clcnn_status st = data_image_check_size(r->call.name, "PNG", width, height);
    if (st != CLCNN_OK) return st;
    set_rgb8(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)width * 3)
        return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: PNG layout not reducible to 8-bit RGB (color type %d, depth %d)",
                           r->call.name, png_get_color_type(png, info), png_get_bit_depth(png, info));
    if ((st = clcnn_image_create((int)width, (int)height, 3, &r->image)) != CLCNN_OK)
        return rt_error_prefix(NULL, st, "%s", r->call.name);
    if (!(r->rows = malloc(height * sizeof *r->rows)))
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for PNG row pointers", r->call.name);
    for (png_uint_32 y = 0; y < height; y++) r->rows[y] = r->image.pixels + (size_t)y * width * 3;
    png_read_image(png, r->rows);
    /* The end (chunks after the pixels) is not read: like PIL, a file cut after its last
     * IDAT still decodes. */
    return CLCNN_OK;
}

clcnn_status data_png_decode(const uint8_t *data, size_t size, const char *name, clcnn_image *image) {
    png_reader r = {.call = {.name = name}, .data = data, .size = size};
    memset(image, 0, sizeof *image);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r.call, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: cannot create a libpng reader", name);
    }
    const clcnn_status st = decode(png, info, &r);
    png_destroy_read_struct(&png, &info, NULL);
    free(r.rows);
    if (st != CLCNN_OK) {
        clcnn_image_free(&r.image);
        return st;
    }
    *image = r.image;
    return CLCNN_OK;
}

/* ---- encoding ---- */

typedef struct {
    png_call call;
    const clcnn_image *image;
    uint8_t *data;
    size_t size, cap;
} png_writer;

static void write_bytes(png_structp png, png_bytep bytes, size_t n) {
    png_writer *w = png_get_io_ptr(png);
    if (n > w->cap - w->size) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->size < n) cap *= 2;
        uint8_t *grown = realloc(w->data, cap);
        if (!grown) {
            w->call.status = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for %zu bytes of PNG",
                                         w->call.name, cap);
            png_error(png, "out of memory");
        }
        w->data = grown;
        w->cap = cap;
    }
    memcpy(w->data + w->size, bytes, n);
    w->size += n;
}

static void flush_bytes(png_structp png) { (void)png; }

static int color_type_for(int channels) {
    return channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGB_ALPHA;
}

static clcnn_status encode(png_structp png, png_infop info, png_writer *w) {
    if (setjmp(png_jmpbuf(png))) {
        if (w->call.status != CLCNN_OK) return w->call.status;
        return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: cannot encode PNG (libpng: %s)", w->call.name, w->call.message);
    }
    const clcnn_image *im = w->image;
    png_set_write_fn(png, w, write_bytes, flush_bytes);
    png_set_IHDR(png, info, (png_uint_32)im->width, (png_uint_32)im->height, 8, color_type_for(im->channels),
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const size_t row_bytes = (size_t)im->width * (size_t)im->channels;
    for (int y = 0; y < im->height; y++) png_write_row(png, im->pixels + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    return CLCNN_OK;
}

clcnn_status data_png_encode(const clcnn_image *image, const char *name, uint8_t **data, size_t *size) {
    png_writer w = {.call = {.name = name}, .image = image};
    *data = NULL;
    *size = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w.call, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: cannot create a libpng writer", name);
    }
    const clcnn_status st = encode(png, info, &w);
    png_destroy_write_struct(&png, &info);
    if (st != CLCNN_OK) {
        free(w.data);
        return st;
    }
    *data = w.data;
    *size = w.size;
    return CLCNN_OK;
}
