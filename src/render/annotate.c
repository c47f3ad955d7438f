/* annotate.c: boxes and a caption drawn over an RGB picture with cairo. The pixels are
 * copied into a cairo RGB24 surface (one native-endian 32-bit word per pixel,
 * 0x00RRGGBB), drawn on, and copied back. */
#include <cairo.h>
#include <stdint.h>
#include "runtime/error.h"

static const char who[] = "clcnn_image_annotate";

/* Box outlines: magenta, a colour the JET map never uses and photos rarely do. */
static const double box_rgb[3] = {1.0, 0.0, 1.0};
/* Caption: near-white text on black at 60 % opacity. */
static const double text_rgb[3] = {0.96, 0.96, 0.96};
static const double band_alpha = 0.6;

static clcnn_status cairo_failure(const char *what, cairo_status_t cs) {
    const clcnn_status st = cs == CAIRO_STATUS_NO_MEMORY        ? CLCNN_ERR_OUT_OF_MEMORY
                            : cs == CAIRO_STATUS_INVALID_STRING ? CLCNN_ERR_INVALID_ARGUMENT
                                                                : CLCNN_ERR_UNSUPPORTED;
    return rt_error(NULL, st, "%s: %s failed (cairo: %s)", who, what, cairo_status_to_string(cs));
}

static void pixels_to_surface(const clcnn_image *im, cairo_surface_t *s) {
    unsigned char *data = cairo_image_surface_get_data(s);
    const int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < im->height; y++) {
        const uint8_t *src = im->pixels + (size_t)y * im->width * 3;
        uint32_t *dst = (uint32_t *)(void *)(data + (size_t)y * stride);
        for (int x = 0; x < im->width; x++, src += 3)
            dst[x] = 0xFF000000u | (uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2];
    }
    cairo_surface_mark_dirty(s);
}

static void surface_to_pixels(cairo_surface_t *s, clcnn_image *im) {
    cairo_surface_flush(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    const int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < im->height; y++) {
        const uint32_t *src = (const uint32_t *)(const void *)(data + (size_t)y * stride);
        uint8_t *dst = im->pixels + (size_t)y * im->width * 3;
        for (int x = 0; x < im->width; x++, dst += 3) {
            dst[0] = (uint8_t)(src[x] >> 16);
            dst[1] = (uint8_t)(src[x] >> 8);
            dst[2] = (uint8_t)src[x];
        }
    }
}

/* A 2-pixel outline inside the box: the path runs through the middle of its border
 * pixels, so on whole-pixel coordinates the stroke covers exactly two pixel columns
 * and rows with no antialiasing blur. */
static void draw_boxes(cairo_t *cr, int n, const clcnn_box *boxes) {
    cairo_set_source_rgb(cr, box_rgb[0], box_rgb[1], box_rgb[2]);
    cairo_set_line_width(cr, 2.0);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
    for (int k = 0; k < n; k++) {
        const clcnn_box *b = &boxes[k];
        cairo_rectangle(cr, b->x0 + 1.0, b->y0 + 1.0, b->x1 - b->x0 - 2.0, b->y1 - b->y0 - 2.0);
        cairo_stroke(cr);
    }
}

/* One line of text at the top left, on a band as wide as the text (clipped by the
 * image); the size grows with the picture so that it stays legible on large ones. */
static void draw_caption(cairo_t *cr, int height, const char *caption) {
    const double size = height / 25 > 12 ? height / 25 : 12, pad = size / 4;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, size);
    cairo_font_extents_t fe;
    cairo_text_extents_t te;
    cairo_font_extents(cr, &fe);
    cairo_text_extents(cr, caption, &te);
    cairo_rectangle(cr, 0, 0, te.x_advance + 2 * pad, fe.ascent + fe.descent + 2 * pad);
    cairo_set_source_rgba(cr, 0, 0, 0, band_alpha);
    cairo_fill(cr);
    cairo_move_to(cr, pad, pad + fe.ascent);
    cairo_set_source_rgb(cr, text_rgb[0], text_rgb[1], text_rgb[2]);
    cairo_show_text(cr, caption);
}

static clcnn_status check_args(const clcnn_image *image, int n_boxes, const clcnn_box *boxes) {
    if (!image || !image->pixels) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL or empty image", who);
    if (image->channels != 3)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: the image has %d channels, RGB (3) needed", who,
                           image->channels);
    if (image->width <= 0 || image->height <= 0)
        return rt_error(NULL, CLCNN_ERR_SHAPE, "%s: bad image size %d x %d", who, image->width, image->height);
    if (n_boxes < 0 || (n_boxes > 0 && !boxes))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s", who, n_boxes < 0 ? "n_boxes < 0" : "NULL boxes");
    for (int k = 0; k < n_boxes; k++)
        if (boxes[k].x1 <= boxes[k].x0 || boxes[k].y1 <= boxes[k].y0)
            return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: box %d (x %d..%d, y %d..%d) is empty", who, k,
                               boxes[k].x0, boxes[k].x1, boxes[k].y0, boxes[k].y1);
    return CLCNN_OK;
}

clcnn_status clcnn_image_annotate(clcnn_image *image, const char *caption, int n_boxes, const clcnn_box *boxes) {
    clcnn_status st = check_args(image, n_boxes, boxes);
    if (st != CLCNN_OK) return st;
    const int has_caption = caption && *caption;
    if (n_boxes == 0 && !has_caption) return CLCNN_OK;

    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, image->width, image->height);
    cairo_status_t cs = cairo_surface_status(surface);
    if (cs != CAIRO_STATUS_SUCCESS) {
        st = cairo_failure("creating the drawing surface", cs);
        goto destroy_surface;
    }
    pixels_to_surface(image, surface);
    cairo_t *cr = cairo_create(surface);
    draw_boxes(cr, n_boxes, boxes);
    if (has_caption) draw_caption(cr, image->height, caption);
    cs = cairo_status(cr); /* cairo errors are sticky: the first one is kept */
    cairo_destroy(cr);
    if (cs != CAIRO_STATUS_SUCCESS) {
        st = cairo_failure(has_caption ? "drawing the boxes and the caption" : "drawing the boxes", cs);
        goto destroy_surface;
    }
    surface_to_pixels(surface, image);
destroy_surface:
    cairo_surface_destroy(surface);
    return st;
}
