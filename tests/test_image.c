/* test_image.c: clcnn_image_create/free, load/decode and save.
 *
 * Decoding is checked against PIL on the small files of tests/golden/images (made by
 * scripts/make_test_images.py, expected pixels stored beside them as binary PPM): every
 * PNG colour type and depth exactly; JPEGs within 2 levels (PIL decodes with libjpeg-turbo
 * too, so differences can only come from another libjpeg-turbo build's SIMD paths, whose
 * IDCT, upsampling and colour conversion may round differently; seen here: 0), EXIF
 * orientations with PIL's exif_transpose shapes. Bad files are made here in a temporary
 * folder: each must fail with the right status and a message naming the file, dimension
 * bombs before any pixel memory, and nothing may crash (also a small mutation fuzz and
 * concurrent decoding from several threads). Encoding round-trips PNG bit for bit and
 * JPEG closely, and a failed save leaves nothing behind. */
#include <errno.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <jpeglib.h>
#include <png.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "tmptree.h"
#include "testutil.h"

/* ------------------------------------------------------------------ files -- */

/* A golden file's bytes (a failed check when missing). */
static uint8_t *golden_bytes(const char *name, size_t *size) {
    char rel[128];
    snprintf(rel, sizeof rel, "images/%s", name);
    uint8_t *data = tu_read_file(test_golden_path(rel), size);
    CHECK(data != NULL, "cannot read golden file %s", test_golden_path(rel));
    return data;
}

static const char *golden_image(const char *name) {
    static char rel[128];
    snprintf(rel, sizeof rel, "images/%s", name);
    return test_golden_path(rel);
}

/* A binary PPM (P6, maxval 255) as an RGB image. */
static int load_ppm(const char *name, clcnn_image *im) {
    size_t size;
    uint8_t *data = golden_bytes(name, &size);
    int w = 0, h = 0, maxval = 0, used = 0, ok = 0;
    memset(im, 0, sizeof *im);
    if (data && size > 2 && data[0] == 'P' && data[1] == '6') {
        char header[64] = {0};
        memcpy(header, data, size < sizeof header - 1 ? size : sizeof header - 1);
        if (sscanf(header + 2, "%d %d %d%n", &w, &h, &maxval, &used) == 3 && maxval == 255 && w > 0 && h > 0) {
            const size_t off = 2 + (size_t)used + 1, n = (size_t)w * (size_t)h * 3;
            ok = off + n == size && clcnn_image_create(w, h, 3, im) == CLCNN_OK;
            if (ok) memcpy(im->pixels, data + off, n);
        }
    }
    CHECK(ok, "%s: not a readable PPM", name);
    free(data);
    return ok;
}

/* Largest |got - want| over all samples; -1 (reported) when the shapes differ. */
static int max_abs_diff(const clcnn_image *got, const clcnn_image *want, const char *what) {
    if (got->width != want->width || got->height != want->height || got->channels != want->channels) {
        CHECK(0, "%s: %dx%dx%d, expected %dx%dx%d", what, got->width, got->height, got->channels, want->width,
              want->height, want->channels);
        return -1;
    }
    int worst = 0;
    const size_t n = (size_t)got->width * (size_t)got->height * (size_t)got->channels;
    for (size_t i = 0; i < n; i++) {
        const int d = abs((int)got->pixels[i] - (int)want->pixels[i]);
        if (d > worst) worst = d;
    }
    return worst;
}

/* The failure status and message of a call that must fail naming `who`. */
static void expect_error(clcnn_status got, clcnn_status want, const char *who, const char *what) {
    CHECK(got == want, "%s: status %d (%s), expected %d (%s): %s", what, got, clcnn_status_str(got), want,
          clcnn_status_str(want), clcnn_last_error(NULL));
    CHECK(strstr(clcnn_last_error(NULL), who) != NULL, "%s: message \"%s\" does not name %s", what,
          clcnn_last_error(NULL), who);
}

static int image_is_zeroed(const clcnn_image *im) {
    return !im->pixels && !im->width && !im->height && !im->channels;
}

/* ---------------------------------------------------------- file surgery -- */

static uint32_t get32be(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put32be(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

/* Offset of the first chunk `tag` (its length field) in a PNG, or 0. */
static size_t png_chunk(const uint8_t *d, size_t n, const char *tag) {
    for (size_t off = 8; off + 12 <= n; off += 12 + get32be(d + off)) {
        if (!memcmp(d + off + 4, tag, 4)) return off;
        if (get32be(d + off) > n) break;
    }
    return 0;
}

/* Recompute the CRCs of all the chunks that lie wholly inside the buffer. */
static void png_fix_crcs(uint8_t *d, size_t n) {
    for (size_t off = 8; off + 12 <= n;) {
        const uint32_t len = get32be(d + off);
        if (len > n - off - 12) break;
        put32be(d + off + 8 + len, crc32_of(d + off + 4, 4 + (size_t)len));
        off += 12 + len;
    }
}

/* Offset of a JPEG's SOF0/SOF1/SOF2 marker, or 0. */
static size_t jpeg_sof(const uint8_t *d, size_t n) {
    for (size_t off = 2; off + 9 <= n && d[off] == 0xFF;) {
        if (d[off + 1] >= 0xC0 && d[off + 1] <= 0xC2) return off;
        off += 2 + ((size_t)d[off + 2] << 8 | d[off + 3]);
    }
    return 0;
}

/* A copy of a JPEG with an APP1 segment holding payload inserted right after SOI. */
static uint8_t *jpeg_with_app1(const uint8_t *jpeg, size_t n, const uint8_t *payload, size_t len, size_t *out_n) {
    uint8_t *out = malloc(n + len + 4);
    if (!out) return NULL;
    memcpy(out, jpeg, 2);
    out[2] = 0xFF;
    out[3] = 0xE1;
    out[4] = (uint8_t)((len + 2) >> 8);
    out[5] = (uint8_t)(len + 2);
    memcpy(out + 6, payload, len);
    memcpy(out + 6 + len, jpeg + 2, n - 2);
    *out_n = n + len + 4;
    return out;
}

/* ------------------------------------------------------------ create/free -- */

static void test_image_create_free(void) {
    clcnn_image im;
    CHECK_OK(clcnn_image_create(5, 3, 4, &im));
    CHECK(im.width == 5 && im.height == 3 && im.channels == 4 && im.pixels, "create: %dx%dx%d", im.width, im.height,
          im.channels);
    int nonzero = 0;
    for (int i = 0; im.pixels && i < 5 * 3 * 4; i++) nonzero += im.pixels[i] != 0;
    CHECK(nonzero == 0, "create: %d nonzero bytes", nonzero);
    clcnn_image_free(&im);
    CHECK(image_is_zeroed(&im), "free does not zero the struct");
    clcnn_image_free(&im); /* already freed */
    clcnn_image_free(NULL);

    CHECK_STATUS(clcnn_image_create(5, 3, 3, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    const int bad[][3] = {{0, 3, 3}, {5, 0, 3}, {-1, 3, 3}, {5, 3, 2}, {5, 3, 0}, {5, 3, 5}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(clcnn_image_create(bad[i][0], bad[i][1], bad[i][2], &im), CLCNN_ERR_INVALID_ARGUMENT);
        CHECK(image_is_zeroed(&im), "create %dx%dx%d: struct not zeroed on error", bad[i][0], bad[i][1], bad[i][2]);
    }
    CHECK_STATUS(clcnn_image_create(CLCNN_IMAGE_MAX_SIDE + 1, 1, 1, &im), CLCNN_ERR_OUT_OF_MEMORY);
    CHECK_STATUS(clcnn_image_create(20000, 20000, 1, &im), CLCNN_ERR_OUT_OF_MEMORY); /* 400M > MAX_PIXELS */
}

/* --------------------------------------------------------------- decoding -- */

/* Decode images/NAME.EXT and compare with images/NAME.ppm; the largest difference. */
static int decode_vs_pil(const char *name, const char *ext) {
    char file[96], ppm[96];
    snprintf(file, sizeof file, "%s.%s", name, ext);
    snprintf(ppm, sizeof ppm, "%s.ppm", name);
    clcnn_image got, want;
    int worst = -1;
    const clcnn_status st = clcnn_image_load(golden_image(file), &got);
    CHECK(st == CLCNN_OK, "%s: %s", file, clcnn_last_error(NULL));
    if (st == CLCNN_OK && load_ppm(ppm, &want)) {
        worst = max_abs_diff(&got, &want, file);
        clcnn_image_free(&want);
    }
    clcnn_image_free(&got);
    return worst;
}

static void test_image_png_kinds(void) {
    static const char *const names[] = {"png_gray8",        "png_gray16", "png_gray2", "png_gray_alpha",
                                        "png_palette",      "png_rgb",    "png_rgba",  "png_rgb16",
                                        "png_palette_trns", "png_interlaced"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const int worst = decode_vs_pil(names[i], "png");
        CHECK(worst == 0, "%s.png: max abs difference %d from PIL's convert(\"RGB\"), expected 0", names[i], worst);
    }
}

/* See the top of the file for why 2. */
enum { JPEG_TOLERANCE = 2 };

static void test_image_jpeg_kinds(void) {
    static const char *const names[] = {"jpeg_baseline", "jpeg_progressive", "jpeg_gray", "jpeg_cmyk"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const int worst = decode_vs_pil(names[i], "jpg");
        CHECK(worst >= 0 && worst <= JPEG_TOLERANCE, "%s.jpg: max abs difference %d from PIL, expected <= %d",
              names[i], worst, JPEG_TOLERANCE);
    }
}

/* CMYK samples written by libjpeg as a CMYK or a YCCK JPEG, quality 100, full-resolution
 * components (libjpeg marks both with an Adobe segment). */
static uint8_t *cmyk_jpeg(const uint8_t *cmyk, int w, int h, J_COLOR_SPACE space, unsigned long *size) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    unsigned char *out = NULL;
    *size = 0;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, size);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, space);
    for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    jpeg_set_quality(&c, 100, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(cmyk + (size_t)c.next_scanline * (size_t)w * 4);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return out;
}

/* YCCK as well as CMYK: both read as PIL reads CMYK (stored inverted, Adobe style), so
 * R = k' c' / 255 with the stored samples c', k', up to quality-100 rounding (measured
 * at most 1 for CMYK and 3 for YCCK, whose colour transform rounds once more). */
static void test_image_jpeg_ycck(void) {
    enum { W = 16, H = 8 };
    uint8_t cmyk[W * H * 4];
    test_rng rng = {g_seed ^ 0x1a6e0005};
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 4; c++) cmyk[4 * i + c] = (uint8_t)(60 + 12 * (i % W) + 9 * (i / W) * (c + 1) % 100 + test_rng_int(&rng, 0, 3));
    const J_COLOR_SPACE spaces[] = {JCS_CMYK, JCS_YCCK};
    for (int s = 0; s < 2; s++) {
        unsigned long n;
        uint8_t *file = cmyk_jpeg(cmyk, W, H, spaces[s], &n);
        clcnn_image im;
        CHECK_OK(clcnn_image_decode(file, n, s ? "ycck.jpg" : "cmyk.jpg", &im));
        int worst = 0;
        for (int i = 0; im.pixels && i < W * H; i++)
            for (int c = 0; c < 3; c++) {
                const int want = (cmyk[4 * i + c] * cmyk[4 * i + 3] + 127) / 255;
                const int d = abs((int)im.pixels[3 * i + c] - want);
                if (d > worst) worst = d;
            }
        CHECK(im.pixels && worst <= 4, "%s: max abs difference %d from k' c' / 255", s ? "YCCK" : "CMYK", worst);
        clcnn_image_free(&im);
        free(file);
    }
}

/* Pixel (x, y) of an RGB image. */
static const uint8_t *px(const clcnn_image *im, int x, int y) {
    return im->pixels + ((size_t)y * (size_t)im->width + (size_t)x) * 3;
}

/* Does `got` hold `upright` turned for orientation 3, 6 or 8 (written out per case)? */
static int is_turned(const clcnn_image *got, const clcnn_image *up, int orientation) {
    const int w = up->width, h = up->height;
    const int swap = orientation != 3;
    if (got->width != (swap ? h : w) || got->height != (swap ? w : h)) return 0;
    for (int y = 0; y < got->height; y++)
        for (int x = 0; x < got->width; x++) {
            /* 3: rotate 180; 6: rotate 90 clockwise; 8: rotate 90 counter-clockwise. */
            const int sx = orientation == 3 ? w - 1 - x : orientation == 6 ? y : w - 1 - y;
            const int sy = orientation == 3 ? h - 1 - y : orientation == 6 ? h - 1 - x : x;
            if (memcmp(px(got, x, y), px(up, sx, sy), 3)) return 0;
        }
    return 1;
}

static void test_image_jpeg_exif(void) {
    for (int o = 2; o <= 8; o++) {
        char name[32];
        snprintf(name, sizeof name, "jpeg_exif%d", o);
        const int worst = decode_vs_pil(name, "jpg");
        CHECK(worst >= 0 && worst <= JPEG_TOLERANCE, "%s.jpg: max abs difference %d from PIL's exif_transpose",
              name, worst);
    }
    /* The same picture and quality as the baseline file: our own decode, turned, exactly. */
    clcnn_image base;
    CHECK_OK(clcnn_image_load(golden_image("jpeg_baseline.jpg"), &base));
    const int turns[] = {3, 6, 8};
    for (int i = 0; i < 3 && base.pixels; i++) {
        char name[32];
        snprintf(name, sizeof name, "jpeg_exif%d.jpg", turns[i]);
        clcnn_image got;
        CHECK_OK(clcnn_image_load(golden_image(name), &got));
        CHECK(got.pixels && is_turned(&got, &base, turns[i]), "%s: %dx%d, not the baseline's pixels turned for %d",
              name, got.width, got.height, turns[i]);
        clcnn_image_free(&got);
    }
    clcnn_image_free(&base);
}

/* A TIFF/EXIF payload with one IFD0 entry, in either byte order. */
typedef struct {
    uint8_t b[64];
    size_t n;
    int big;
} exif_blob;

static void blob_put(exif_blob *e, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) e->b[e->n++] = (uint8_t)(v >> 8 * (e->big ? bytes - 1 - i : i));
}

static exif_blob exif_make(int big, uint32_t magic, uint32_t ifd, uint32_t count, uint32_t type, uint32_t n,
                           uint32_t value) {
    exif_blob e = {.big = big};
    memcpy(e.b, "Exif\0\0", 6);
    e.n = 6;
    e.b[e.n++] = big ? 'M' : 'I';
    e.b[e.n++] = big ? 'M' : 'I';
    blob_put(&e, magic, 2);
    blob_put(&e, ifd, 4);
    blob_put(&e, count, 2);
    blob_put(&e, 0x0112, 2);
    blob_put(&e, type, 2);
    blob_put(&e, n, 4);
    if (type == 3) {
        blob_put(&e, value, 2);
        blob_put(&e, 0, 2);
    } else {
        blob_put(&e, value, 4);
    }
    blob_put(&e, 0, 4); /* no next IFD */
    return e;
}

/* Decode the baseline JPEG with payload as APP1: the decoded image. */
static clcnn_status decode_with_app1(const uint8_t *jpeg, size_t n, const uint8_t *payload, size_t len,
                                     clcnn_image *im) {
    size_t m;
    uint8_t *file = jpeg_with_app1(jpeg, n, payload, len, &m);
    if (!file) return CLCNN_ERR_OUT_OF_MEMORY;
    const clcnn_status st = clcnn_image_decode(file, m, "exif-test.jpg", im);
    free(file);
    return st;
}

static void test_image_exif_corrupt(void) {
    size_t n;
    uint8_t *jpeg = golden_bytes("jpeg_baseline.jpg", &n);
    clcnn_image base;
    if (!jpeg || clcnn_image_decode(jpeg, n, "baseline", &base) != CLCNN_OK) {
        CHECK(0, "cannot decode the baseline JPEG: %s", clcnn_last_error(NULL));
        free(jpeg);
        return;
    }
    /* Malformed blocks: all ignored, the pixels as without them. */
    struct {
        const char *what;
        exif_blob e;
        size_t keep; /* bytes of the blob kept; 0 = all */
    } bad[] = {
        {"IFD offset far past the end", exif_make(0, 42, 0xFFFFFFF0u, 1, 3, 1, 6), 0},
        {"IFD offset at the last byte", exif_make(1, 42, 25, 1, 3, 1, 6), 0},
        {"IFD offset 0 (count read from the header)", exif_make(0, 42, 0, 1, 3, 1, 6), 0},
        {"entry count past the end", exif_make(1, 42, 8, 0xFFFF, 3, 1, 6), 0},
        {"entry cut short", exif_make(0, 42, 8, 1, 3, 1, 6), 6 + 8 + 2 + 7},
        {"header cut short", exif_make(0, 42, 8, 1, 3, 1, 6), 6 + 5},
        {"only the Exif mark", exif_make(0, 42, 8, 1, 3, 1, 6), 6},
        {"magic 43", exif_make(1, 43, 8, 1, 3, 1, 6), 0},
        {"orientation 9", exif_make(0, 42, 8, 1, 3, 1, 9), 0},
        {"orientation 0", exif_make(1, 42, 8, 1, 3, 1, 0), 0},
        {"ASCII type", exif_make(0, 42, 8, 1, 2, 1, 6), 0},
        {"two values", exif_make(1, 42, 8, 1, 3, 2, 6), 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clcnn_image got;
        const size_t len = bad[i].keep ? bad[i].keep : bad[i].e.n;
        const clcnn_status st = decode_with_app1(jpeg, n, bad[i].e.b, len, &got);
        CHECK(st == CLCNN_OK, "EXIF %s: %s", bad[i].what, clcnn_last_error(NULL));
        if (st == CLCNN_OK) CHECK(max_abs_diff(&got, &base, bad[i].what) == 0, "EXIF %s: pixels changed", bad[i].what);
        clcnn_image_free(&got);
    }
    /* A bad byte-order mark. */
    exif_blob e = exif_make(0, 42, 8, 1, 3, 1, 6);
    e.b[6] = e.b[7] = 'X';
    clcnn_image got;
    CHECK_OK(decode_with_app1(jpeg, n, e.b, e.n, &got));
    CHECK(got.pixels && max_abs_diff(&got, &base, "byte order XX") == 0, "EXIF byte order XX: pixels changed");
    clcnn_image_free(&got);
    /* Well-formed little-endian blocks (PIL writes big-endian ones): applied. */
    const struct {
        exif_blob e;
        int turn;
    } good[] = {{exif_make(0, 42, 8, 1, 3, 1, 3), 3}, {exif_make(0, 42, 8, 1, 4, 1, 6), 6}};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(decode_with_app1(jpeg, n, good[i].e.b, good[i].e.n, &got));
        CHECK(got.pixels && is_turned(&got, &base, good[i].turn), "little-endian EXIF orientation %d not applied",
              good[i].turn);
        clcnn_image_free(&got);
    }
    clcnn_image_free(&base);
    free(jpeg);
}

static void test_image_decode_memory(void) {
    size_t n;
    uint8_t *data = golden_bytes("png_palette_trns.png", &n);
    clcnn_image a, b;
    CHECK_OK(clcnn_image_decode(data, n, NULL, &a));
    CHECK_OK(clcnn_image_load(golden_image("png_palette_trns.png"), &b));
    CHECK(a.pixels && b.pixels && max_abs_diff(&a, &b, "decode vs load") == 0, "decode and load differ");
    clcnn_image_free(&a);
    clcnn_image_free(&b);
    if (data) {
        /* Unnamed: the message still says what was being decoded. */
        expect_error(clcnn_image_decode(data, n / 2, NULL, &a), CLCNN_ERR_FORMAT, "in memory", "truncated, unnamed");
        CHECK(image_is_zeroed(&a), "struct not zeroed on error");
    }
    CHECK_STATUS(clcnn_image_decode(data, n, "x", NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_decode(NULL, 10, "x", &a), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_load(NULL, &a), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_load("x.png", NULL), CLCNN_ERR_INVALID_ARGUMENT);
    free(data);
}

/* ------------------------------------------------------------- bad input -- */

/* Write data to dir/name, load it, expect `want` and a message naming the file. */
static void expect_bad_file(tmptree *s, const char *name, const void *data, size_t size, clcnn_status want,
                            const char *what) {
    const char *path = tmptree_path(s, name);
    if (!tu_write_file(path, data, size)) {
        CHECK(0, "%s: cannot write %s", what, path);
        return;
    }
    clcnn_image im = {.width = 99};
    expect_error(clcnn_image_load(path, &im), want, path, what);
    CHECK(image_is_zeroed(&im), "%s: struct not zeroed on error", what);
    clcnn_image_free(&im);
}

static void test_image_bad_input(void) {
    tmptree s;
    if (!tmptree_open(&s, "image")) return;
    size_t png_n, jpeg_n;
    uint8_t *png = golden_bytes("png_rgb.png", &png_n);
    uint8_t *jpeg = golden_bytes("jpeg_progressive.jpg", &jpeg_n);
    clcnn_image im;
    expect_error(clcnn_image_load(tmptree_path(&s, "missing.png"), &im), CLCNN_ERR_IO, tmptree_path(&s, "missing.png"), "missing file");
    expect_error(clcnn_image_load(s.root, &im), CLCNN_ERR_IO, s.root, "a folder");
    expect_bad_file(&s, "empty.jpg", "", 0, CLCNN_ERR_FORMAT, "empty file");
    const char text[] = "this is not a picture\n";
    expect_bad_file(&s, "x.png", text, sizeof text - 1, CLCNN_ERR_FORMAT, "text named .png");
    uint8_t noise[1000];
    test_rng rng = {g_seed ^ 0x1a6e0001};
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (uint8_t)test_rng_next(&rng);
    noise[0] = 0x42; /* not by chance a signature */
    expect_bad_file(&s, "noise.jpg", noise, sizeof noise, CLCNN_ERR_FORMAT, "random bytes");
    if (png && jpeg) {
        expect_bad_file(&s, "half.png", png, png_n / 2, CLCNN_ERR_FORMAT, "truncated PNG");
        expect_bad_file(&s, "sig.png", png, 8, CLCNN_ERR_FORMAT, "PNG signature only");
        expect_bad_file(&s, "part.jpg", jpeg, jpeg_n * 6 / 10, CLCNN_ERR_FORMAT, "truncated JPEG");
        expect_bad_file(&s, "soi.jpg", jpeg, 3, CLCNN_ERR_FORMAT, "JPEG SOI only");
        /* Signatures followed by noise. */
        memcpy(noise, png, 8);
        expect_bad_file(&s, "sig_noise.png", noise, sizeof noise, CLCNN_ERR_FORMAT, "PNG signature + noise");
        memcpy(noise, jpeg, 3);
        expect_bad_file(&s, "soi_noise.jpg", noise, sizeof noise, CLCNN_ERR_FORMAT, "JPEG SOI + noise");
        /* A wrong CRC on the pixel data. */
        const size_t idat = png_chunk(png, png_n, "IDAT");
        CHECK(idat != 0, "no IDAT in png_rgb.png");
        if (idat) {
            png[idat + 8 + get32be(png + idat)] ^= 0x5A;
            expect_bad_file(&s, "crc.png", png, png_n, CLCNN_ERR_FORMAT, "bad IDAT CRC");
            CHECK(strstr(clcnn_last_error(NULL), "CRC") != NULL, "bad CRC message: %s", clcnn_last_error(NULL));
        }
    }
    free(png);
    free(jpeg);
    tmptree_close(&s);
}

/* Header dimensions beyond the limits: refused from the header alone. */
static void test_image_size_limits(void) {
    size_t png_n, jpeg_n;
    uint8_t *png = golden_bytes("png_gray8.png", &png_n);
    uint8_t *jpeg = golden_bytes("jpeg_baseline.jpg", &jpeg_n);
    if (!png || !jpeg) goto free_files;
    const size_t ihdr = png_chunk(png, png_n, "IHDR"), sof = jpeg_sof(jpeg, jpeg_n);
    CHECK(ihdr == 8 && sof != 0, "cannot find IHDR (%zu) or SOF (%zu)", ihdr, sof);
    if (ihdr != 8 || !sof) goto free_files;
    const struct {
        uint32_t w, h;
        clcnn_status want;
    } png_cases[] = {{100000, 100000, CLCNN_ERR_OUT_OF_MEMORY},
                     {CLCNN_IMAGE_MAX_SIDE + 1, 1, CLCNN_ERR_OUT_OF_MEMORY},
                     {20000, 20000, CLCNN_ERR_OUT_OF_MEMORY},
                     {0x7FFFFFFF, 0x7FFFFFFF, CLCNN_ERR_OUT_OF_MEMORY},
                     {0, 7, CLCNN_ERR_FORMAT}};
    for (size_t i = 0; i < sizeof png_cases / sizeof png_cases[0]; i++) {
        put32be(png + 16, png_cases[i].w);
        put32be(png + 20, png_cases[i].h);
        png_fix_crcs(png, png_n); /* a valid IHDR: only the size is wrong */
        clcnn_image im;
        char what[64];
        snprintf(what, sizeof what, "PNG IHDR %ux%u", png_cases[i].w, png_cases[i].h);
        expect_error(clcnn_image_decode(png, png_n, "bomb.png", &im), png_cases[i].want, "bomb.png", what);
        if (png_cases[i].want == CLCNN_ERR_OUT_OF_MEMORY) /* the header check's message, not an allocation's */
            CHECK(strstr(clcnn_last_error(NULL), "PNG image of"), "%s: %s", what, clcnn_last_error(NULL));
    }
    const struct {
        unsigned w, h;
        clcnn_status want;
    } jpeg_cases[] = {{60000, 60000, CLCNN_ERR_OUT_OF_MEMORY},
                      {CLCNN_IMAGE_MAX_SIDE + 1, 7, CLCNN_ERR_OUT_OF_MEMORY},
                      {20000, 20000, CLCNN_ERR_OUT_OF_MEMORY},
                      {13, 0, CLCNN_ERR_FORMAT}};
    for (size_t i = 0; i < sizeof jpeg_cases / sizeof jpeg_cases[0]; i++) {
        jpeg[sof + 5] = (uint8_t)(jpeg_cases[i].h >> 8);
        jpeg[sof + 6] = (uint8_t)jpeg_cases[i].h;
        jpeg[sof + 7] = (uint8_t)(jpeg_cases[i].w >> 8);
        jpeg[sof + 8] = (uint8_t)jpeg_cases[i].w;
        clcnn_image im;
        char what[64];
        snprintf(what, sizeof what, "JPEG SOF %ux%u", jpeg_cases[i].w, jpeg_cases[i].h);
        expect_error(clcnn_image_decode(jpeg, jpeg_n, "bomb.jpg", &im), jpeg_cases[i].want, "bomb.jpg", what);
        if (jpeg_cases[i].want == CLCNN_ERR_OUT_OF_MEMORY)
            CHECK(strstr(clcnn_last_error(NULL), "JPEG image of"), "%s: %s", what, clcnn_last_error(NULL));
    }
free_files:
    free(png);
    free(jpeg);
}

/* Random byte changes and cuts of valid files (PNG CRCs repaired half of the time, so
 * that the damage reaches zlib and the filters): any status but a crash, and a decoded
 * image is a sane one. */
static void test_image_fuzz(void) {
    static const char *const files[] = {"png_interlaced.png", "png_palette_trns.png", "png_rgb16.png",
                                        "jpeg_progressive.jpg", "jpeg_exif6.jpg", "jpeg_cmyk.jpg"};
    test_rng rng = {g_seed ^ 0x1a6e0002};
    int decoded = 0, total = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t n;
        uint8_t *orig = golden_bytes(files[f], &n);
        uint8_t *buf = orig ? malloc(n) : NULL;
        for (int iter = 0; buf && iter < 120; iter++) {
            memcpy(buf, orig, n);
            const int edits = test_rng_int(&rng, 1, 4);
            for (int e = 0; e < edits; e++) buf[test_rng_int(&rng, 2, (int)n - 1)] = (uint8_t)test_rng_next(&rng);
            const size_t len = test_rng_int(&rng, 0, 3) == 0 ? (size_t)test_rng_int(&rng, 1, (int)n) : n;
            if (buf[0] == 0x89 && test_rng_int(&rng, 0, 1)) png_fix_crcs(buf, len);
            clcnn_image im;
            const clcnn_status st = clcnn_image_decode(buf, len, files[f], &im);
            total++;
            CHECK(st == CLCNN_OK || st == CLCNN_ERR_FORMAT || st == CLCNN_ERR_OUT_OF_MEMORY,
                  "%s, mutation %d: status %d (%s)", files[f], iter, st, clcnn_status_str(st));
            if (st == CLCNN_OK) {
                decoded++;
                CHECK(im.pixels && im.channels == 3 && im.width > 0 && im.height > 0, "%s, mutation %d: bad image",
                      files[f], iter);
            } else {
                CHECK(image_is_zeroed(&im), "%s, mutation %d: struct not zeroed", files[f], iter);
            }
            clcnn_image_free(&im);
        }
        free(buf);
        free(orig);
    }
    printf("    fuzz: %d of %d mutated files still decoded\n", decoded, total);
}

/* Several threads decode good and bad files at once: the same pixels as alone, and each
 * thread's error message names its own file. */
typedef struct {
    const char *good;
    const clcnn_image *want;
    char bad[96];
    int wrong_pixels, wrong_errors;
} decode_job;

static void *decode_loop(void *arg) {
    decode_job *job = arg;
    for (int i = 0; i < 25; i++) {
        clcnn_image im;
        if (clcnn_image_load(job->good, &im) != CLCNN_OK || im.width != job->want->width ||
            im.height != job->want->height ||
            memcmp(im.pixels, job->want->pixels, (size_t)im.width * (size_t)im.height * 3))
            job->wrong_pixels++;
        clcnn_image_free(&im);
        if (clcnn_image_load(job->bad, &im) != CLCNN_ERR_FORMAT || !strstr(clcnn_last_error(NULL), job->bad))
            job->wrong_errors++;
    }
    return NULL;
}

static void test_image_threads(void) {
    tmptree s;
    if (!tmptree_open(&s, "image")) return;
    static const char *const goods[] = {"png_interlaced.png", "jpeg_progressive.jpg", "jpeg_cmyk.jpg", "jpeg_exif8.jpg"};
    enum { N = 4 };
    clcnn_image want[N] = {{0}};
    decode_job jobs[N] = {{0}};
    pthread_t threads[N];
    int started = 0;
    for (int t = 0; t < N; t++) {
        size_t n;
        uint8_t *data = golden_bytes(goods[t], &n);
        jobs[t] = (decode_job){.good = NULL, .want = &want[t]};
        snprintf(jobs[t].bad, sizeof jobs[t].bad, "%s/bad%d%s", s.root, t, t % 2 ? ".jpg" : ".png");
        const int ok = data && tu_write_file(jobs[t].bad, data, n / 2) && clcnn_image_load(golden_image(goods[t]), &want[t]) == CLCNN_OK;
        free(data);
        CHECK(ok, "setup for %s failed: %s", goods[t], clcnn_last_error(NULL));
        if (!ok) break;
        jobs[t].good = strdup(golden_image(goods[t]));
    }
    for (int t = 0; t < N && jobs[t].good; t++, started++)
        if (pthread_create(&threads[t], NULL, decode_loop, &jobs[t]) != 0) break;
    for (int t = 0; t < started; t++) {
        pthread_join(threads[t], NULL);
        CHECK(jobs[t].wrong_pixels == 0 && jobs[t].wrong_errors == 0, "thread %d (%s): %d wrong decodes, %d wrong errors",
              t, goods[t], jobs[t].wrong_pixels, jobs[t].wrong_errors);
    }
    CHECK(started == N, "only %d threads started", started);
    for (int t = 0; t < N; t++) {
        free((char *)jobs[t].good);
        clcnn_image_free(&want[t]);
    }
    tmptree_close(&s);
}

/* --------------------------------------------------------------- encoding -- */

/* A width x height image with smooth content plus a little noise (what JPEG is for),
 * samples within 37..213. */
static clcnn_image smooth_image(int width, int height, int channels, test_rng *rng) {
    clcnn_image im;
    if (clcnn_image_create(width, height, channels, &im) != CLCNN_OK) return im;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < channels; c++) {
                const int v = 40 + (x * (c + 3) + y * (5 - c)) * 170 / (7 * (width + height)) + test_rng_int(rng, -3, 3);
                im.pixels[((size_t)y * (size_t)width + (size_t)x) * (size_t)channels + (size_t)c] = (uint8_t)v;
            }
    return im;
}

/* What the decoder makes of an image: gray replicated, alpha dropped. */
static clcnn_image as_rgb(const clcnn_image *im) {
    clcnn_image rgb;
    if (clcnn_image_create(im->width, im->height, 3, &rgb) != CLCNN_OK) return rgb;
    for (size_t i = 0; i < (size_t)im->width * (size_t)im->height; i++)
        for (int c = 0; c < 3; c++) rgb.pixels[i * 3 + (size_t)c] = im->pixels[i * (size_t)im->channels + (size_t)(im->channels == 1 ? 0 : c)];
    return rgb;
}

/* The file read back by libpng's simplified API in the image's own layout. */
static int png_file_matches(const char *path, const clcnn_image *im) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) return 0;
    pi.format = im->channels == 1 ? PNG_FORMAT_GRAY : im->channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
    const size_t n = (size_t)im->width * (size_t)im->height * (size_t)im->channels;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(pi));
    int ok = 0;
    if (buf && (int)pi.width == im->width && (int)pi.height == im->height && PNG_IMAGE_SIZE(pi) == n)
        ok = png_image_finish_read(&pi, NULL, buf, 0, NULL) && !memcmp(buf, im->pixels, n); /* frees pi */
    else
        png_image_free(&pi);
    free(buf);
    return ok;
}

static void test_image_save_png(void) {
    tmptree s;
    if (!tmptree_open(&s, "image")) return;
    test_rng rng = {g_seed ^ 0x1a6e0003};
    const int channels[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        const int w = test_rng_int(&rng, 1, 40), h = test_rng_int(&rng, 1, 30), ch = channels[i];
        clcnn_image im;
        CHECK_OK(clcnn_image_create(w, h, ch, &im));
        for (size_t k = 0; im.pixels && k < (size_t)w * (size_t)h * (size_t)ch; k++) im.pixels[k] = (uint8_t)test_rng_next(&rng);
        const char *path = tmptree_path(&s, "out.png");
        CHECK_OK(clcnn_image_save_png(path, &im));
        size_t n;
        uint8_t *file = tu_read_file(path, &n);
        const int color_type = ch == 1 ? 0 : ch == 3 ? 2 : 6;
        CHECK(file && n > 26 && file[24] == 8 && file[25] == color_type, "%d channels: bit depth %d, colour type %d",
              ch, file && n > 26 ? file[24] : -1, file && n > 26 ? file[25] : -1);
        free(file);
        CHECK(png_file_matches(path, &im), "%d channels, %dx%d: the file's pixels differ from the image's", ch, w, h);
        clcnn_image back, want = as_rgb(&im);
        CHECK_OK(clcnn_image_load(path, &back));
        CHECK(back.pixels && max_abs_diff(&back, &want, "PNG round trip") == 0, "%d channels: round trip not exact", ch);
        clcnn_image_free(&back);
        clcnn_image_free(&want);
        clcnn_image_free(&im);
    }
    CHECK(tmptree_count(&s, NULL) == 1, "%d files in the folder, expected out.png only", tmptree_count(&s, NULL));
    tmptree_close(&s);
}

static void test_image_save_jpeg(void) {
    tmptree s;
    if (!tmptree_open(&s, "image")) return;
    test_rng rng = {g_seed ^ 0x1a6e0004};
    const int channels[] = {1, 3, 4};
    for (int i = 0; i < 3; i++) {
        clcnn_image im = smooth_image(37, 29, channels[i], &rng), back, want = as_rgb(&im);
        const char *path = tmptree_path(&s, "out.jpg");
        CHECK_OK(clcnn_image_save_jpeg(path, &im, 95));
        CHECK_OK(clcnn_image_load(path, &back));
        if (back.pixels && want.pixels && max_abs_diff(&back, &want, "JPEG round trip") >= 0) {
            double sum = 0;
            const size_t n = (size_t)want.width * (size_t)want.height * 3;
            for (size_t k = 0; k < n; k++) sum += abs((int)back.pixels[k] - (int)want.pixels[k]);
            const int worst = max_abs_diff(&back, &want, "JPEG round trip");
            printf("    JPEG quality 95, %d channels: mean abs diff %.3f, max %d\n", channels[i], sum / (double)n, worst);
            /* Quality 95 on smooth content with +-3 noise: measured about 1.15 (gray) and
             * 1.7 (colour, chroma at half resolution) on average, at most 8. */
            CHECK(sum / (double)n <= 2.5 && worst <= 16, "%d channels: JPEG round trip mean abs diff %.3f, max %d",
                  channels[i], sum / (double)n, worst);
        }
        clcnn_image_free(&back);
        clcnn_image_free(&want);
        clcnn_image_free(&im);
    }
    tmptree_close(&s);
}

static void test_image_save_errors(void) {
    tmptree s;
    if (!tmptree_open(&s, "image")) return;
    clcnn_image im;
    CHECK_OK(clcnn_image_create(4, 3, 3, &im));
    char path[300];
    snprintf(path, sizeof path, "%s/missing/out.png", s.root);
    expect_error(clcnn_image_save_png(path, &im), CLCNN_ERR_IO, path, "PNG into a missing folder");
    snprintf(path, sizeof path, "%s/missing/out.jpg", s.root);
    expect_error(clcnn_image_save_jpeg(path, &im, 90), CLCNN_ERR_IO, path, "JPEG into a missing folder");
    CHECK(tmptree_count(&s, NULL) == 0, "failed saves left %d entries in %s", tmptree_count(&s, NULL), s.root);

    const char *out = tmptree_path(&s, "out.jpg");
    CHECK_STATUS(clcnn_image_save_jpeg(out, &im, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_save_jpeg(out, &im, 101), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_save_jpeg(out, NULL, 90), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_save_png(NULL, &im), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_save_png("", &im), CLCNN_ERR_INVALID_ARGUMENT);
    clcnn_image two = im;
    two.channels = 2;
    CHECK_STATUS(clcnn_image_save_png(out, &two), CLCNN_ERR_INVALID_ARGUMENT);
    clcnn_image none = {4, 3, 3, NULL};
    CHECK_STATUS(clcnn_image_save_png(out, &none), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(tmptree_count(&s, NULL) == 0, "refused saves left %d entries", tmptree_count(&s, NULL));

    /* Saving over an existing file replaces it. */
    CHECK_OK(clcnn_image_save_png(tmptree_path(&s, "same.png"), &im));
    im.pixels[0] = 200;
    CHECK_OK(clcnn_image_save_png(tmptree_path(&s, "same.png"), &im));
    clcnn_image back;
    CHECK_OK(clcnn_image_load(tmptree_path(&s, "same.png"), &back));
    CHECK(back.pixels && back.pixels[0] == 200, "the second save did not replace the file");
    CHECK(tmptree_count(&s, NULL) == 1, "%d entries after replacing a file", tmptree_count(&s, NULL));
    clcnn_image_free(&back);
    clcnn_image_free(&im);
    tmptree_close(&s);
}

const test_case test_image_cases[] = {
    {"image_create_free", test_image_create_free},
    {"image_png_kinds", test_image_png_kinds},
    {"image_jpeg_kinds", test_image_jpeg_kinds},
    {"image_jpeg_ycck", test_image_jpeg_ycck},
    {"image_jpeg_exif", test_image_jpeg_exif},
    {"image_exif_corrupt", test_image_exif_corrupt},
    {"image_decode_memory", test_image_decode_memory},
    {"image_bad_input", test_image_bad_input},
    {"image_size_limits", test_image_size_limits},
    {"image_fuzz", test_image_fuzz},
    {"image_threads", test_image_threads},
    {"image_save_png", test_image_save_png},
    {"image_save_jpeg", test_image_save_jpeg},
    {"image_save_errors", test_image_save_errors},
    {NULL, NULL},
};
