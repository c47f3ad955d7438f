/* jpeg_codec.c: JPEG decode and encode with libjpeg(-turbo).
 *
 * libjpeg's error_exit must not return: ours longjmps back to the setjmp of the same call,
 * and the message is formatted from the library's error state. Its warnings ("Corrupt
 * JPEG data: ...") are not errors, as in PIL, but the first one is kept and quoted if the
 * decode fails later, and logged at debug level; nothing is printed. All state a call
 * changes after its setjmp lives in a struct owned by the caller's frame, and there are
 * no globals, so threads may decode at the same time.
 *
 * A file that ends early is an error (the source manager refuses to invent the end of the
 * data, which libjpeg would otherwise pad with a fake EOI and call a warning), as PIL's
 * "image file is truncated". */
#include <stdio.h> /* jpeglib.h needs FILE */
#include <jerror.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "data/image_internal.h"
#include "runtime/error.h"

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg's cinfo->err points here */
    jmp_buf jump;
    const char *name;
    clcnn_status status;              /* set before an ERREXIT of our own that is not a format error */
    char message[JMSG_LENGTH_MAX];    /* the fatal error */
    char warning[JMSG_LENGTH_MAX];    /* the first warning, if any */
} jpeg_call;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_call *call = (jpeg_call *)cinfo->err;
    cinfo->err->format_message(cinfo, call->message);
    longjmp(call->jump, 1);
}

static void on_output_message(j_common_ptr cinfo) {
    jpeg_call *call = (jpeg_call *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    cinfo->err->format_message(cinfo, text);
    rt_log(CLCNN_LOG_DEBUG, "%s: libjpeg: %s", call->name, text);
    if (!call->warning[0]) snprintf(call->warning, sizeof call->warning, "%s", text);
}

static void call_init(jpeg_call *call, const char *name) {
    memset(call, 0, sizeof *call);
    call->name = name;
    jpeg_std_error(&call->pub);
    call->pub.error_exit = on_error_exit;
    call->pub.output_message = on_output_message;
}

/* The status after a longjmp: ours, or a format error quoting libjpeg. */
static clcnn_status call_failed(const jpeg_call *call, const char *what) {
    if (call->status != CLCNN_OK) return call->status;
    return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: %s (libjpeg: %s%s%s)", call->name, what, call->message,
                       call->warning[0] ? "; after the warning: " : "", call->warning);
}

/* ---- decoding ---- */

typedef struct {
    jpeg_call call;
    struct jpeg_decompress_struct cinfo;
    clcnn_image image; /* the pixels being decoded */
    uint8_t *row;      /* one CMYK scanline */
    int orientation;
} jpeg_reader;

/* Called by libjpeg only when the whole buffer is consumed and it wants more. */
static boolean fill_past_end(j_decompress_ptr cinfo) {
    ERREXIT(cinfo, JERR_INPUT_EOF);
    return FALSE;
}

/* x * y / 255, rounded, as PIL's MULDIV255. */
static int muldiv255(int x, int y) {
    const int t = x * y + 128;
    return ((t >> 8) + t) >> 8;
}

/* PIL's reading of a CMYK JPEG: always Adobe polarity (samples stored inverted, as
 * Photoshop writes them; rawmode "CMYK;I"), then its cmyk2rgb: r = (1 - c)(1 - k). */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int width) {
    for (int x = 0; x < width; x++, in += 4, out += 3) {
        const int not_k = in[3]; /* 255 - k, with k = 255 - in[3] */
        for (int c = 0; c < 3; c++) out[c] = (uint8_t)(not_k - muldiv255(255 - in[c], not_k));
    }
}

/* The orientation of the first EXIF APP1 segment (PIL reads the first too). */
static int exif_orientation_of(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0)
            return data_exif_orientation(m->data, m->data_length);
    return 1;
}

static clcnn_status decode(jpeg_reader *r, const uint8_t *data, size_t size) {
    struct jpeg_decompress_struct *c = &r->cinfo;
    if (setjmp(r->call.jump)) return call_failed(&r->call, "corrupt or truncated JPEG");
    c->err = &r->call.pub;
    jpeg_create_decompress(c);
    jpeg_mem_src(c, data, (unsigned long)size);
    c->src->fill_input_buffer = fill_past_end;
    jpeg_save_markers(c, JPEG_APP0 + 1, 0xFFFF);
    (void)jpeg_read_header(c, TRUE);
    clcnn_status st = data_image_check_size(r->call.name, "JPEG", c->image_width, c->image_height);
    if (st != CLCNN_OK) return st;
    r->orientation = exif_orientation_of(c);
    const int cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
    c->out_color_space = cmyk ? JCS_CMYK : JCS_RGB; /* libjpeg-turbo replicates gray into RGB */
    (void)jpeg_start_decompress(c);
    const int width = (int)c->output_width;
    if (c->output_components != (cmyk ? 4 : 3) || width != (int)c->image_width)
        return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: unexpected JPEG output layout (%d components)", r->call.name,
                           c->output_components);
    if ((st = clcnn_image_create(width, (int)c->output_height, 3, &r->image)) != CLCNN_OK)
        return rt_error_prefix(NULL, st, "%s", r->call.name);
    if (cmyk && !(r->row = malloc((size_t)width * 4)))
        return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for a JPEG row", r->call.name);
    while (c->output_scanline < c->output_height) {
        uint8_t *out = r->image.pixels + (size_t)c->output_scanline * (size_t)width * 3;
        JSAMPROW row = cmyk ? r->row : out;
        if (jpeg_read_scanlines(c, &row, 1) != 1)
            return rt_error(NULL, CLCNN_ERR_FORMAT, "%s: JPEG scanline %u unreadable", r->call.name,
                               c->output_scanline);
        if (cmyk) cmyk_row_to_rgb(r->row, out, width);
    }
    /* jpeg_finish_decompress is skipped: it would only look for the EOI marker, and
     * files missing it still decode in PIL. */
    return CLCNN_OK;
}

clcnn_status data_jpeg_decode(const uint8_t *data, size_t size, const char *name, clcnn_image *image) {
    jpeg_reader *r = calloc(1, sizeof *r); /* jmp_buf and libjpeg's state: ~1 KB, off the stack */
    memset(image, 0, sizeof *image);
    if (!r) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for a JPEG decoder", name);
    call_init(&r->call, name);
    clcnn_status st = decode(r, data, size);
    jpeg_destroy_decompress(&r->cinfo); /* fine on a zeroed or half-created struct */
    free(r->row);
    if (st == CLCNN_OK) st = data_exif_apply(&r->image, r->orientation, name);
    if (st == CLCNN_OK) *image = r->image;
    else clcnn_image_free(&r->image);
    free(r);
    return st;
}

/* ---- encoding ---- */

/* A destination manager that grows one malloc'ed buffer (libjpeg's jpeg_mem_dest leaves
 * its buffer unreachable when an error interrupts it). */
typedef struct {
    struct jpeg_destination_mgr pub; /* first: cinfo->dest points here */
    jpeg_call *call;
    uint8_t *data;
    size_t cap;
} mem_dest;

static void dest_grow_to(j_compress_ptr cinfo, size_t cap) {
    mem_dest *d = (mem_dest *)cinfo->dest;
    const size_t used = d->cap - d->pub.free_in_buffer;
    uint8_t *grown = realloc(d->data, cap);
    if (!grown) {
        d->call->status = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for %zu bytes of JPEG",
                                      d->call->name, cap);
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 0);
    }
    d->data = grown;
    d->cap = cap;
    d->pub.next_output_byte = grown + used;
    d->pub.free_in_buffer = cap - used;
}

static void dest_init(j_compress_ptr cinfo) { dest_grow_to(cinfo, 16 * 1024); }

/* Called when the buffer is full. */
static boolean dest_full(j_compress_ptr cinfo) {
    dest_grow_to(cinfo, 2 * ((mem_dest *)cinfo->dest)->cap);
    return TRUE;
}

static void dest_term(j_compress_ptr cinfo) { (void)cinfo; }

typedef struct {
    jpeg_call call;
    struct jpeg_compress_struct cinfo;
    mem_dest dest;
} jpeg_writer;

static J_COLOR_SPACE input_space(int channels) {
    return channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_EXT_RGBX; /* RGBX: alpha ignored */
}

static clcnn_status encode(jpeg_writer *w, const clcnn_image *im, int quality) {
    struct jpeg_compress_struct *c = &w->cinfo;
    if (setjmp(w->call.jump)) return call_failed(&w->call, "cannot encode JPEG");
    c->err = &w->call.pub;
    jpeg_create_compress(c);
    w->dest = (mem_dest){.pub = {.init_destination = dest_init, .empty_output_buffer = dest_full,
                                 .term_destination = dest_term},
                         .call = &w->call};
    c->dest = &w->dest.pub;
    c->image_width = (JDIMENSION)im->width;
    c->image_height = (JDIMENSION)im->height;
    c->input_components = im->channels;
    c->in_color_space = input_space(im->channels);
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    jpeg_start_compress(c, TRUE);
    const size_t row_bytes = (size_t)im->width * (size_t)im->channels;
    while (c->next_scanline < c->image_height) {
        JSAMPROW row = (JSAMPROW)(im->pixels + (size_t)c->next_scanline * row_bytes); /* only read */
        (void)jpeg_write_scanlines(c, &row, 1);
    }
    jpeg_finish_compress(c);
    return CLCNN_OK;
}

clcnn_status data_jpeg_encode(const clcnn_image *image, int quality, const char *name, uint8_t **data,
                               size_t *size) {
    *data = NULL;
    *size = 0;
    jpeg_writer *w = calloc(1, sizeof *w);
    if (!w) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "%s: no host memory for a JPEG encoder", name);
    call_init(&w->call, name);
    const clcnn_status st = encode(w, image, quality);
    jpeg_destroy_compress(&w->cinfo);
    if (st == CLCNN_OK) {
        *data = w->dest.data;
        *size = w->dest.cap - w->dest.pub.free_in_buffer;
    } else {
        free(w->dest.data);
    }
    free(w);
    return st;
}
