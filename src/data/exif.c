/* exif.c: the EXIF orientation tag of a JPEG, read by hand, and turning an image upright.
 *
 * The APP1 payload is "Exif\0\0" and a TIFF file: a byte-order mark ("II" little, "MM"
 * big endian), 42, the offset of IFD0, then IFD0: a count and 12-byte entries (tag, type,
 * count, value). Orientation is tag 0x0112, one SHORT. Every offset comes from the file,
 * so every read is checked against the payload's end first; anything odd means "no
 * orientation" rather than an error: the pixels are still good. */
#include <string.h>
#include "data/image_internal.h"
#include "runtime/error.h"

enum { TAG_ORIENTATION = 0x0112, TYPE_SHORT = 3, TYPE_LONG = 4, ENTRY_BYTES = 12 };

typedef struct {
    const uint8_t *p; /* TIFF data; offsets are relative to it */
    size_t size;
    int big_endian;
} tiff;

/* Callers check off + 2 (or 4) <= size first. */
static uint32_t get16(const tiff *t, size_t off) {
    const uint8_t *b = t->p + off;
    return t->big_endian ? (uint32_t)b[0] << 8 | b[1] : (uint32_t)b[1] << 8 | b[0];
}

static uint32_t get32(const tiff *t, size_t off) {
    const uint32_t hi = get16(t, off + (t->big_endian ? 0 : 2)), lo = get16(t, off + (t->big_endian ? 2 : 0));
    return hi << 16 | lo;
}

/* The orientation in one IFD entry (at off, in bounds): 1..8, or 1 if malformed. */
static int entry_orientation(const tiff *t, size_t off) {
    if (get32(t, off + 4) != 1) return 1; /* count */
    const uint32_t type = get16(t, off + 2);
    /* A one-element value sits at the start of the 4-byte value field. PIL also accepts
     * a LONG, which some writers use. */
    const uint32_t v = type == TYPE_SHORT ? get16(t, off + 8) : type == TYPE_LONG ? get32(t, off + 8) : 0;
    return v >= 1 && v <= 8 ? (int)v : 1;
}

int data_exif_orientation(const uint8_t *app1, size_t size) {
    if (!app1 || size < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0) return 1;
    tiff t = {app1 + 6, size - 6, 0};
    if (t.p[0] == 'M' && t.p[1] == 'M') t.big_endian = 1;
    else if (!(t.p[0] == 'I' && t.p[1] == 'I')) return 1;
    if (get16(&t, 2) != 42) return 1;
    const uint32_t ifd = get32(&t, 4);
    if (ifd > t.size || t.size - ifd < 2) return 1;
    const uint32_t count = get16(&t, ifd);
    const size_t first = (size_t)ifd + 2;
    if (count > (t.size - first) / ENTRY_BYTES) return 1; /* entries run past the end */
    for (uint32_t i = 0; i < count; i++) {
        const size_t off = first + (size_t)i * ENTRY_BYTES;
        if (get16(&t, off) == TAG_ORIENTATION) return entry_orientation(&t, off);
    }
    return 1;
}

/* Where output pixel (row i, column j) comes from, per orientation: with swap the
 * source column follows i and the source row j (a transpose), then either axis may be
 * mirrored. These are PIL's exif_transpose methods: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180,
 * 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90. */
typedef struct {
    int swap, flip_x, flip_y;
} transpose;

static const transpose transposes[9] = {
    [1] = {0, 0, 0}, [2] = {0, 1, 0}, [3] = {0, 1, 1}, [4] = {0, 0, 1},
    [5] = {1, 0, 0}, [6] = {1, 0, 1}, [7] = {1, 1, 1}, [8] = {1, 1, 0},
};

clcnn_status data_exif_apply(clcnn_image *image, int orientation, const char *name) {
    if (orientation < 2 || orientation > 8) return CLCNN_OK;
    const transpose t = transposes[orientation];
    const int w = image->width, h = image->height, ch = image->channels;
    clcnn_image out;
    const clcnn_status st = clcnn_image_create(t.swap ? h : w, t.swap ? w : h, ch, &out);
    if (st != CLCNN_OK) return rt_error_prefix(NULL, st, "%s: EXIF orientation %d", name, orientation);
    uint8_t *dst = out.pixels;
    for (int i = 0; i < out.height; i++) {
        for (int j = 0; j < out.width; j++, dst += ch) {
            const int a = t.swap ? i : j, b = t.swap ? j : i;
            const int sx = t.flip_x ? w - 1 - a : a, sy = t.flip_y ? h - 1 - b : b;
            memcpy(dst, image->pixels + ((size_t)sy * (size_t)w + (size_t)sx) * (size_t)ch, (size_t)ch);
        }
    }
    clcnn_image_free(image);
    *image = out;
    return CLCNN_OK;
}
