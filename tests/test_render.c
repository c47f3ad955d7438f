/* test_render.c: the host-side pictures of the explain layer and the training curves:
 * map normalisation (flat and non-finite maps), bilinear resizing against values worked
 * out by hand and by PyTorch, OpenCV's JET table entry for entry, blending, Otsu's
 * threshold, boxes around 8-connected components, drawing boxes and captions with cairo,
 * .npy files (parsed back here and loaded by numpy when it is there), the pointing game
 * and energy in a box, and the curves PNG. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "tmptree.h"
#include "testutil.h"

/* These functions have no context: their message is the thread's last error. */
#define CHECK_OK0(expr)                                                                                           \
    do {                                                                                                          \
        clcnn_status st_ = (expr);                                                                                \
        if (st_ != CLCNN_OK)                                                                                      \
            test_fail(__FILE__, __LINE__, "%s -> %d (%s): %s", #expr, st_, clcnn_status_str(st_),                 \
                      clcnn_last_error(NULL));                                                                    \
    } while (0)

/* ---------------------------------------------------------------- normalise -- */

static void test_normalize(void) {
    test_rng rng = {g_seed ^ 0x6e6f726dull};
    enum { N = 257 };
    float map[N], out[N];
    for (int i = 0; i < N; i++) map[i] = test_rng_uniform(&rng, -3.0f, 7.0f);
    map[17] = -5.0f;
    map[200] = 9.5f;
    clcnn_map_normalize(map, N, out);
    for (int i = 0; i < N; i++) {
        const double want = (map[i] + 5.0) / 14.5;
        CHECK(fabs(out[i] - want) <= 1e-6, "normalize[%d] of %g = %.8g, want %.8g", i, map[i], out[i], want);
    }
    CHECK(out[17] == 0.0f && out[200] == 1.0f, "min/max map to %g and %g, want exactly 0 and 1", out[17], out[200]);

    /* in place */
    memcpy(out, map, sizeof map);
    clcnn_map_normalize(out, N, out);
    CHECK(out[17] == 0.0f && out[200] == 1.0f && fabs(out[5] - (map[5] + 5.0) / 14.5) <= 1e-6,
          "in-place normalize differs");

    /* flat and empty maps give zeros, never NaN */
    for (int i = 0; i < N; i++) map[i] = 0.25f;
    clcnn_map_normalize(map, N, out);
    for (int i = 0; i < N; i++) CHECK(out[i] == 0.0f, "flat map: out[%d] = %g, want 0", i, out[i]);
    clcnn_map_normalize(map, 0, out);
    clcnn_map_normalize(NULL, N, out); /* ignored, no crash */

    /* non-finite values: the range is over the finite ones; NaN and -Inf give 0, +Inf 1 */
    const float special[6] = {NAN, 2.0f, INFINITY, 4.0f, -INFINITY, 3.0f};
    const float want_special[6] = {0.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.5f};
    float got[6];
    clcnn_map_normalize(special, 6, got);
    for (int i = 0; i < 6; i++)
        CHECK(got[i] == want_special[i], "non-finite case [%d] (%g) -> %g, want %g", i, special[i], got[i],
              want_special[i]);
    const float all_nan[3] = {NAN, NAN, -INFINITY};
    clcnn_map_normalize(all_nan, 3, got);
    for (int i = 0; i < 3; i++) CHECK(got[i] == 0.0f, "no finite value: [%d] -> %g, want 0", i, got[i]);

    /* a range wider than FLT_MAX stays finite */
    const float huge[3] = {-3e38f, 0.0f, 3e38f};
    clcnn_map_normalize(huge, 3, got);
    CHECK(got[0] == 0.0f && fabs(got[1] - 0.5f) < 1e-6 && got[2] == 1.0f, "huge range -> %g %g %g", got[0], got[1],
          got[2]);
}

/* ------------------------------------------------------------------- resize -- */

static void check_close(const char *what, const float *got, const float *want, int n, double tol) {
    for (int i = 0; i < n; i++)
        CHECK(fabs(got[i] - want[i]) <= tol, "%s[%d] = %.7g, want %.7g", what, i, got[i], want[i]);
}

static void test_resize(void) {
    /* 2x2 -> 4x4 by hand: output column x samples src x' = (x + 0.5) / 2 - 0.5, i.e.
     * -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1); the same for rows. Row 0 of
     * [[1, 2], [3, 5]]: 1, 0.75*1 + 0.25*2 = 1.25, 1.75, 2. Row 1 samples y' = 0.25:
     * 0.75 * row0 + 0.25 * row1 with row1 = 3, 3.5, 4.5, 5. The same numbers from
     *   /usr/bin/python3 -c "import torch; import torch.nn.functional as F;
     *   x = torch.tensor([[1., 2.], [3., 5.]]).view(1, 1, 2, 2);
     *   print(F.interpolate(x, size=(4, 4), mode='bilinear', align_corners=False)[0, 0].tolist())"
     * (torch 1.13): [[1.0, 1.25, 1.75, 2.0], [1.5, 1.8125, 2.4375, 2.75],
     *                [2.5, 2.9375, 3.8125, 4.25], [3.0, 3.5, 4.5, 5.0]] */
    const float src[4] = {1, 2, 3, 5};
    const float want[16] = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.8125f, 2.4375f, 2.75f,
                            2.5f, 2.9375f, 3.8125f, 4.25f, 3.0f, 3.5f, 4.5f, 5.0f};
    float got[16];
    CHECK_OK0(clcnn_map_resize(src, 2, 2, got, 4, 4));
    check_close("2x2->4x4", got, want, 16, 1e-6);

    /* Shrinking one side while growing the other (no antialiasing, as cv2.resize's
     * INTER_LINEAR and interpolate's bilinear):
     *   x = torch.tensor([[0., 1., 4.], [2., 8., 3.]]).view(1, 1, 2, 3)
     *   F.interpolate(x, size=(5, 2), mode='bilinear', align_corners=False)[0, 0].tolist() */
    const float src2[6] = {0, 1, 4, 2, 8, 3};
    const float want2[10] = {0.25f, 3.25f, 0.5750000476837158f, 3.3499999046325684f, 1.875f, 3.75f,
                             3.1750001907348633f, 4.150000095367432f, 3.5f, 4.25f};
    float got2[10];
    CHECK_OK0(clcnn_map_resize(src2, 2, 3, got2, 5, 2));
    check_close("2x3->5x2", got2, want2, 10, 1e-6);

    /* the same size is the identity; a 1x1 map is constant everywhere */
    test_rng rng = {g_seed ^ 0x72737aull};
    float a[35], b[35];
    for (int i = 0; i < 35; i++) a[i] = test_rng_uniform(&rng, -1, 1);
    CHECK_OK0(clcnn_map_resize(a, 5, 7, b, 5, 7));
    check_close("identity", b, a, 35, 0);
    const float one = 0.7f;
    CHECK_OK0(clcnn_map_resize(&one, 1, 1, b, 5, 7));
    for (int i = 0; i < 35; i++) CHECK(b[i] == 0.7f, "1x1 -> 5x7 [%d] = %g", i, b[i]);

    CHECK_STATUS(clcnn_map_resize(NULL, 2, 2, got, 4, 4), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_map_resize(src, 2, 2, NULL, 4, 4), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_map_resize(src, 0, 2, got, 4, 4), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_map_resize(src, 2, 2, got, 4, -1), CLCNN_ERR_SHAPE);
}

/* ---------------------------------------------------------------------- JET -- */

/* OpenCV's table: tests/golden/opencv_jet.txt (scripts/make_golden_jet.py, from
 * cv2.applyColorMap of a uint8 ramp, opencv-python-headless 4.10.0 and 5.0.0). */
static int load_jet_golden(uint8_t table[256][3]) {
    const char *path = test_golden_path("opencv_jet.txt");
    FILE *f = fopen(path, "r");
    if (!f) {
        CHECK(0, "cannot open %s: %s", path, strerror(errno));
        return 0;
    }
    char line[128];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int i, r, g, b;
        if (line[0] == '#') continue;
        if (sscanf(line, "%d %d %d %d", &i, &r, &g, &b) != 4 || i != rows || i > 255) break;
        table[i][0] = (uint8_t)r, table[i][1] = (uint8_t)g, table[i][2] = (uint8_t)b;
        rows++;
    }
    fclose(f);
    CHECK(rows == 256, "%s: %d rows read, want 256", path, rows);
    return rows == 256;
}

static void check_rgb(const char *what, const uint8_t got[3], int r, int g, int b) {
    CHECK(got[0] == r && got[1] == g && got[2] == b, "%s: got (%d, %d, %d), want (%d, %d, %d)", what, got[0], got[1],
          got[2], r, g, b);
}

static void test_jet(void) {
    /* Known pixels of OpenCV's COLORMAP_JET as RGB (cv2.applyColorMap of uint8 0, 64, 128,
     * 159, 191, 255 with opencv-python-headless 4.10.0.84 and 5.0.0.93, BGR reversed;
     * 0 -> BGR (128, 0, 0) is also in the table printed at
     * https://blog.csdn.net/qq_41498261/article/details/109603986). Index 159's blue is 1,
     * not the 2 that rounding 255 * 0.00588 half to even would give: OpenCV's float steps. */
    uint8_t rgb[3];
    clcnn_colormap_jet(0.0f, rgb);
    check_rgb("jet(0)", rgb, 0, 0, 128);
    clcnn_colormap_jet(0.5f, rgb); /* index round(127.5) = 128 */
    check_rgb("jet(0.5)", rgb, 130, 255, 126);
    clcnn_colormap_jet(1.0f, rgb);
    check_rgb("jet(1)", rgb, 128, 0, 0);
    clcnn_colormap_jet(64 / 255.0f, rgb);
    check_rgb("jet(64/255)", rgb, 0, 128, 255);
    clcnn_colormap_jet(159 / 255.0f, rgb);
    check_rgb("jet(159/255)", rgb, 254, 255, 1);
    clcnn_colormap_jet(191 / 255.0f, rgb);
    check_rgb("jet(191/255)", rgb, 255, 128, 0);
    /* clamping: below 0 and NaN are 0, above 1 is 1 */
    clcnn_colormap_jet(-2.0f, rgb);
    check_rgb("jet(-2)", rgb, 0, 0, 128);
    clcnn_colormap_jet(NAN, rgb);
    check_rgb("jet(NaN)", rgb, 0, 0, 128);
    clcnn_colormap_jet(7.0f, rgb);
    check_rgb("jet(7)", rgb, 128, 0, 0);

    uint8_t table[256][3];
    if (!load_jet_golden(table)) return;
    int bad = 0;
    for (int i = 0; i < 256; i++) {
        clcnn_colormap_jet(i / 255.0f, rgb);
        if (memcmp(rgb, table[i], 3) != 0 && bad++ < 5)
            CHECK(0, "jet entry %d: got (%d, %d, %d), OpenCV (%d, %d, %d)", i, rgb[0], rgb[1], rgb[2], table[i][0],
                  table[i][1], table[i][2]);
    }
    CHECK(bad == 0, "%d of 256 entries differ from OpenCV's", bad);

    /* the heat map is the colour map pixel by pixel, row-major */
    const float map[6] = {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, NAN};
    clcnn_image heat = {0};
    CHECK_OK0(clcnn_heatmap_render(map, 3, 2, &heat));
    CHECK(heat.width == 3 && heat.height == 2 && heat.channels == 3, "heat is %dx%dx%d", heat.width, heat.height,
          heat.channels);
    for (int i = 0; heat.pixels && i < 6; i++) {
        clcnn_colormap_jet(map[i], rgb);
        CHECK(!memcmp(heat.pixels + 3 * i, rgb, 3), "heat pixel %d differs from clcnn_colormap_jet(%g)", i, map[i]);
    }
    clcnn_image_free(&heat);
    CHECK_STATUS(clcnn_heatmap_render(NULL, 3, 2, &heat), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_heatmap_render(map, 3, 2, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_heatmap_render(map, 0, 2, &heat), CLCNN_ERR_SHAPE);
}

/* -------------------------------------------------------------------- blend -- */

static clcnn_image solid(int w, int h, int channels, const uint8_t *px) {
    clcnn_image im = {0};
    CHECK_OK0(clcnn_image_create(w, h, channels, &im));
    for (size_t i = 0; im.pixels && i < (size_t)w * h; i++) memcpy(im.pixels + i * channels, px, (size_t)channels);
    return im;
}

static void test_blend(void) {
    const uint8_t a_px[3] = {10, 0, 100}, b_px[3] = {11, 255, 200};
    clcnn_image a = solid(4, 3, 3, a_px), b = solid(4, 3, 3, b_px), out = {0};
    if (!a.pixels || !b.pixels) goto free_images;
    const struct {
        float alpha;
        uint8_t want[3];
    } cases[] = {{0.0f, {10, 0, 100}},
                 {1.0f, {11, 255, 200}},
                 {0.5f, {11, 128, 150}}, /* 10.5 and 127.5 round up */
                 {0.25f, {10, 64, 125}}}; /* 10.25, 63.75 */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        CHECK_OK0(clcnn_image_blend(&a, &b, cases[c].alpha, &out));
        for (int i = 0; out.pixels && i < 12; i++)
            CHECK(!memcmp(out.pixels + 3 * i, cases[c].want, 3), "alpha %g pixel %d: (%d, %d, %d), want (%d, %d, %d)",
                  cases[c].alpha, i, out.pixels[3 * i], out.pixels[3 * i + 1], out.pixels[3 * i + 2], cases[c].want[0],
                  cases[c].want[1], cases[c].want[2]);
        clcnn_image_free(&out);
    }
    /* in place over the photo */
    CHECK_OK0(clcnn_image_blend(&a, &b, 0.5f, &a));
    CHECK(a.pixels && a.pixels[1] == 128 && a.pixels[3 * 11 + 2] == 150, "in-place blend differs");

    clcnn_image gray = solid(4, 3, 1, a_px), small = solid(3, 3, 3, a_px);
    CHECK_STATUS(clcnn_image_blend(NULL, &b, 0.5f, &out), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_blend(&a, &b, 0.5f, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_blend(&gray, &b, 0.5f, &out), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_blend(&a, &small, 0.5f, &out), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_image_blend(&a, &b, 1.5f, &out), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_blend(&a, &b, NAN, &out), CLCNN_ERR_INVALID_ARGUMENT);
    clcnn_image_free(&gray);
    clcnn_image_free(&small);
free_images:
    clcnn_image_free(&a);
    clcnn_image_free(&b);
}

/* ---------------------------------------------------------------- Otsu, boxes -- */

static void test_otsu(void) {
    /* two spikes: any split between them is best; the threshold is the middle bin edge
     * between 0.1 (bin 25) and 0.9 (bin 230): bin (25 + 229) / 2 + 1 = 128, 0.5 */
    float map[100];
    for (int i = 0; i < 100; i++) map[i] = i < 60 ? 0.1f : 0.9f;
    float t = clcnn_otsu_threshold(map, 100);
    CHECK(t == 0.5f, "two spikes: threshold %g, want 0.5", t);

    /* two noisy modes: the threshold falls between them */
    test_rng rng = {g_seed ^ 0x6f747375ull};
    enum { N = 2000 };
    static float noisy[N];
    for (int i = 0; i < N; i++)
        noisy[i] = i % 3 ? test_rng_uniform(&rng, 0.05f, 0.3f) : test_rng_uniform(&rng, 0.65f, 0.95f);
    noisy[7] = NAN; /* ignored */
    t = clcnn_otsu_threshold(noisy, N);
    CHECK(t > 0.3f && t <= 0.65f, "noisy bimodal: threshold %g, want in (0.3, 0.65]", t);

    /* no split: a flat map, one value, nothing: a threshold above 1 */
    for (int i = 0; i < 100; i++) map[i] = 0.0f;
    CHECK(clcnn_otsu_threshold(map, 100) > 1.0f, "flat map: threshold %g, want > 1", clcnn_otsu_threshold(map, 100));
    CHECK(clcnn_otsu_threshold(map, 0) > 1.0f, "empty map: threshold not > 1");
}

static void fill_rect(float *map, int w, int x0, int y0, int x1, int y1, float v) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) map[y * w + x] = v;
}

static void check_box(const char *what, const clcnn_box *b, int x0, int y0, int x1, int y1, int pixels, float peak) {
    CHECK(b->x0 == x0 && b->y0 == y0 && b->x1 == x1 && b->y1 == y1 && b->pixels == pixels && b->peak == peak,
          "%s: box x %d..%d y %d..%d, %d pixels, peak %g; want x %d..%d y %d..%d, %d pixels, peak %g", what, b->x0,
          b->x1, b->y0, b->y1, b->pixels, b->peak, x0, x1, y0, y1, pixels, peak);
}

static void test_boxes(void) {
    enum { W = 40, H = 30 };
    static float map[W * H];
    memset(map, 0, sizeof map);
    /* A: a 10 x 6 block (60 pixels, peak 0.8); B: a 4 x 4 block with a diagonal tail of 3
     * pixels, joined only through corners (19 pixels, peak 1) */
    fill_rect(map, W, 3, 4, 13, 10, 0.8f);
    fill_rect(map, W, 25, 15, 29, 19, 0.7f);
    map[19 * W + 29] = map[20 * W + 30] = map[21 * W + 31] = 0.75f;
    map[16 * W + 26] = 1.0f;
    map[2 * W + 38] = 0.3f; /* below the threshold */

    clcnn_box boxes[4];
    int count = -1;
    for (int pass = 0; pass < 2; pass++) { /* explicit threshold, then Otsu's */
        const float threshold = pass ? -1.0f : 0.5f;
        CHECK_OK0(clcnn_map_boxes(map, W, H, threshold, 4, boxes, &count));
        CHECK(count == 2, "threshold %g: %d boxes, want 2", threshold, count);
        if (count != 2) continue;
        check_box("largest", &boxes[0], 3, 4, 13, 10, 60, 0.8f);
        check_box("second", &boxes[1], 25, 15, 32, 22, 19, 1.0f);
    }
    CHECK_OK0(clcnn_map_boxes(map, W, H, 0.5f, 1, boxes, &count));
    CHECK(count == 1 && boxes[0].pixels == 60, "max_boxes 1: %d boxes (first %d pixels)", count, boxes[0].pixels);
    CHECK_OK0(clcnn_map_boxes(map, W, H, 0.5f, 0, NULL, &count));
    CHECK(count == 0, "max_boxes 0: %d boxes", count);

    /* equal sizes: the higher peak first */
    memset(map, 0, sizeof map);
    fill_rect(map, W, 0, 0, 3, 3, 0.6f);
    fill_rect(map, W, 30, 20, 33, 23, 0.9f);
    CHECK_OK0(clcnn_map_boxes(map, W, H, 0.5f, 4, boxes, &count));
    CHECK(count == 2 && boxes[0].x0 == 30 && boxes[1].x0 == 0, "tie on size: %d boxes, first at x %d", count,
          boxes[0].x0);

    /* an empty (all zero) map has no boxes, with Otsu's or a positive threshold */
    memset(map, 0, sizeof map);
    CHECK_OK0(clcnn_map_boxes(map, W, H, -1.0f, 4, boxes, &count));
    CHECK(count == 0, "empty map, Otsu: %d boxes", count);
    CHECK_OK0(clcnn_map_boxes(map, W, H, 0.5f, 4, boxes, &count));
    CHECK(count == 0, "empty map, 0.5: %d boxes", count);

    /* one map-sized component: the fill needs no recursion */
    enum { S = 512 };
    float *big = malloc(sizeof *big * S * S);
    if (big) {
        for (int i = 0; i < S * S; i++) big[i] = 1.0f;
        CHECK_OK0(clcnn_map_boxes(big, S, S, 0.5f, 4, boxes, &count));
        CHECK(count == 1, "full map: %d boxes", count);
        if (count == 1) check_box("full map", &boxes[0], 0, 0, S, S, S * S, 1.0f);
        free(big);
    }

    CHECK_STATUS(clcnn_map_boxes(NULL, W, H, 0.5f, 4, boxes, &count), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_map_boxes(map, W, H, 0.5f, 4, boxes, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_map_boxes(map, W, H, 0.5f, 4, NULL, &count), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_map_boxes(map, W, H, 0.5f, -1, boxes, &count), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_map_boxes(map, 0, H, 0.5f, 4, boxes, &count), CLCNN_ERR_SHAPE);
}

/* ----------------------------------------------------------------- annotate -- */

static const uint8_t *pixel(const clcnn_image *im, int x, int y) { return im->pixels + ((size_t)y * im->width + x) * 3; }

static void test_annotate(void) {
    const uint8_t gray[3] = {128, 128, 128};
    clcnn_image im = solid(160, 120, 3, gray);
    if (!im.pixels) return;
    const clcnn_box box = {.x0 = 20, .y0 = 40, .x1 = 100, .y1 = 100};
    CHECK_OK0(clcnn_image_annotate(&im, "damaged 89.4 %", 1, &box));

    /* the 2-pixel outline runs inside the box, in the box colour (magenta) */
    const int outline[][2] = {{20, 70}, {21, 70}, {98, 70}, {99, 70}, {60, 40}, {60, 41}, {60, 98}, {60, 99},
                              {20, 40}, {99, 99}};
    for (size_t k = 0; k < sizeof outline / sizeof outline[0]; k++) {
        const uint8_t *p = pixel(&im, outline[k][0], outline[k][1]);
        CHECK(p[0] == 255 && p[1] == 0 && p[2] == 255, "outline pixel (%d, %d) is (%d, %d, %d), want (255, 0, 255)",
              outline[k][0], outline[k][1], p[0], p[1], p[2]);
    }
    /* inside (away from the outline and the caption) and outside: untouched */
    const int untouched[][2] = {{22, 70}, {60, 42}, {60, 70}, {97, 97}, {19, 70}, {100, 70}, {150, 110}, {5, 110}};
    for (size_t k = 0; k < sizeof untouched / sizeof untouched[0]; k++) {
        const uint8_t *p = pixel(&im, untouched[k][0], untouched[k][1]);
        CHECK(!memcmp(p, gray, 3), "pixel (%d, %d) changed to (%d, %d, %d)", untouched[k][0], untouched[k][1], p[0], p[1],
              p[2]);
    }
    /* the caption band darkens the top left (black at 60 %: 128 -> about 51), and the
     * light text inside it makes some pixels brighter than the photo */
    const uint8_t *corner = pixel(&im, 1, 1);
    CHECK(corner[0] >= 45 && corner[0] <= 57 && corner[0] == corner[1] && corner[1] == corner[2],
          "caption band at (1, 1) is (%d, %d, %d), want about 51 gray", corner[0], corner[1], corner[2]);
    int bright = 0;
    for (int y = 0; y < 20; y++)
        for (int x = 0; x < 100; x++) bright += pixel(&im, x, y)[0] > 200;
    CHECK(bright > 20, "only %d bright caption pixels in the band", bright);
    CHECK(!memcmp(pixel(&im, 150, 5), gray, 3), "pixel right of the caption changed");

    /* nothing to draw is fine; bad arguments are refused without drawing */
    CHECK_OK0(clcnn_image_annotate(&im, NULL, 0, NULL));
    CHECK_OK0(clcnn_image_annotate(&im, "", 0, NULL));
    clcnn_image rgba = solid(8, 8, 4, (const uint8_t[4]){1, 2, 3, 4});
    CHECK_STATUS(clcnn_image_annotate(&rgba, "x", 0, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    clcnn_image_free(&rgba);
    CHECK_STATUS(clcnn_image_annotate(NULL, "x", 0, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_annotate(&im, NULL, 1, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_image_annotate(&im, NULL, -1, &box), CLCNN_ERR_INVALID_ARGUMENT);
    const clcnn_box empty = {.x0 = 5, .y0 = 5, .x1 = 5, .y1 = 9};
    CHECK_STATUS(clcnn_image_annotate(&im, NULL, 1, &empty), CLCNN_ERR_INVALID_ARGUMENT);
    const clcnn_status st = clcnn_image_annotate(&im, "bad \xff\xfe utf-8", 0, NULL);
    CHECK(st == CLCNN_ERR_INVALID_ARGUMENT && strstr(clcnn_last_error(NULL), "cairo"),
          "invalid UTF-8 caption -> %d (%s)", st, clcnn_last_error(NULL));
    clcnn_image_free(&im);
}

/* ---------------------------------------------------------------------- npy -- */

/* Check the file at path is a v1.0 .npy of '<f4' values with the given shape text
 * ("(2, 3, 4)") and the n values of want, bit for bit. */
static void check_npy(const char *path, const char *shape_text, const float *want, size_t n) {
    size_t size;
    unsigned char *buf = tu_read_file(path, &size);
    if (!buf) {
        CHECK(0, "cannot read %s", path);
        return;
    }
    char expect[160];
    snprintf(expect, sizeof expect, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape_text);
    const size_t header_len = size >= 10 ? buf[8] | (size_t)buf[9] << 8 : 0;
    const size_t data_at = 10 + header_len;
    CHECK(size >= 10 && !memcmp(buf, "\x93NUMPY\x01\x00", 8), "%s: bad magic or version", path);
    CHECK(data_at % 64 == 0, "%s: data starts at %zu, not a multiple of 64", path, data_at);
    if (size < data_at || data_at < 10 + strlen(expect) + 1) {
        CHECK(0, "%s: %zu bytes, header %zu", path, size, header_len);
        free(buf);
        return;
    }
    CHECK(!memcmp(buf + 10, expect, strlen(expect)), "%s: header is '%.*s', want '%s'", path, (int)strlen(expect),
          (const char *)buf + 10, expect);
    int pad_ok = buf[data_at - 1] == '\n';
    for (size_t i = 10 + strlen(expect); i < data_at - 1; i++) pad_ok &= buf[i] == ' ';
    CHECK(pad_ok, "%s: header not padded with spaces and a newline", path);
    CHECK(size == data_at + 4 * n, "%s: %zu bytes, want %zu", path, size, data_at + 4 * n);
    for (size_t i = 0; size == data_at + 4 * n && i < n; i++) {
        const unsigned char *p = buf + data_at + 4 * i;
        const uint32_t got = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t bits;
        memcpy(&bits, &want[i], 4);
        CHECK(got == bits, "%s: value %zu is 0x%08x, want 0x%08x", path, i, got, bits);
    }
    free(buf);
}

static void npy_values(float *v, size_t n) {
    test_rng rng = {g_seed ^ 0x6e7079ull};
    for (size_t i = 0; i < n; i++) v[i] = test_rng_uniform(&rng, -10, 10);
    v[0] = -0.0f;
    v[1] = INFINITY;
    v[2] = 1e-45f; /* subnormal */
    v[3] = NAN;
}

static void test_npy(void) {
    tmptree s;
    if (!tmptree_open(&s, "render")) return;
    float v[24];
    npy_values(v, 24);
    const int shape3[3] = {2, 3, 4}, shape1[1] = {5};
    CHECK_OK0(clcnn_npy_save(tmptree_path(&s, "a.npy"), v, 3, shape3));
    check_npy(tmptree_path(&s, "a.npy"), "(2, 3, 4)", v, 24);
    CHECK_OK0(clcnn_npy_save(tmptree_path(&s, "b.npy"), v, 1, shape1));
    check_npy(tmptree_path(&s, "b.npy"), "(5,)", v, 5);
    CHECK_OK0(clcnn_npy_save(tmptree_path(&s, "c.npy"), v, 0, NULL));
    check_npy(tmptree_path(&s, "c.npy"), "()", v, 1);
    /* a second save replaces the file */
    CHECK_OK0(clcnn_npy_save(tmptree_path(&s, "b.npy"), v + 5, 1, shape1));
    check_npy(tmptree_path(&s, "b.npy"), "(5,)", v + 5, 5);
    CHECK(tmptree_count(&s, NULL) == 3, "%d files in the scratch folder, want 3 (no temporaries)", tmptree_count(&s, NULL));

    const int negative[2] = {2, -1};
    CHECK_STATUS(clcnn_npy_save(NULL, v, 1, shape1), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_npy_save(tmptree_path(&s, "d.npy"), NULL, 1, shape1), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_npy_save(tmptree_path(&s, "d.npy"), v, 2, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_npy_save(tmptree_path(&s, "d.npy"), v, 2, negative), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_npy_save(tmptree_path(&s, "no/such/dir.npy"), v, 1, shape1), CLCNN_ERR_IO);
    CHECK(tmptree_count(&s, NULL) == 3, "a failed save left files behind (%d entries)", tmptree_count(&s, NULL));
    tmptree_close(&s);
}

/* numpy itself reads the file back: shape, dtype and values. */
static void test_npy_numpy(void) {
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        test_skip("/usr/bin/python3 with numpy is not available");
        return;
    }
    tmptree s;
    if (!tmptree_open(&s, "render")) return;
    float v[24];
    npy_values(v, 24);
    v[3] = 0.5f; /* compare without NaN */
    const int shape[3] = {2, 3, 4};
    const char *path = tmptree_path(&s, "map.npy");
    CHECK_OK0(clcnn_npy_save(path, v, 3, shape));
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import numpy as np; a = np.load('%s'); "
             "print(a.dtype.str, a.shape, ' '.join(a.flatten().view('<u4').astype(str)))\"",
             path);
    FILE *p = popen(cmd, "r");
    char out[1024] = "";
    if (p) {
        if (!fgets(out, sizeof out, p)) out[0] = 0;
        pclose(p);
    }
    char want[1024];
    int len = snprintf(want, sizeof want, "<f4 (2, 3, 4)");
    for (int i = 0; i < 24; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        len += snprintf(want + len, sizeof want - (size_t)len, " %u", bits);
    }
    snprintf(want + len, sizeof want - (size_t)len, "\n");
    CHECK(!strcmp(out, want), "numpy read back:\n      %s    want:\n      %s", out, want);
    tmptree_close(&s);
}

/* ------------------------------------------------------------- localisation -- */

static void test_localize(void) {
    enum { W = 10, H = 8 };
    float map[W * H];
    for (int i = 0; i < W * H; i++) map[i] = 0.1f;
    map[3 * W + 6] = 0.9f;             /* the maximum, at (6, 3) */
    map[7 * W + 0] = NAN;              /* ignored */
    const clcnn_box hit = {.x0 = 5, .y0 = 2, .x1 = 7, .y1 = 4}, miss = {.x0 = 0, .y0 = 0, .x1 = 6, .y1 = 3};
    CHECK(clcnn_pointing_game(map, W, H, &hit, 0) == 1, "max inside the box: not a hit");
    CHECK(clcnn_pointing_game(map, W, H, &miss, 0) == 0, "max outside the box: a hit");
    CHECK(clcnn_pointing_game(map, W, H, &miss, 1) == 1, "max one pixel outside, tolerance 1: not a hit");
    map[0] = 0.9f; /* a tie: the first in row-major order counts */
    CHECK(clcnn_pointing_game(map, W, H, &miss, 0) == 1, "tie: the first maximum should count");
    CHECK(clcnn_pointing_game(NULL, W, H, &hit, 0) == -1, "NULL map: not -1");
    CHECK(clcnn_pointing_game(map, 0, H, &hit, 0) == -1, "zero width: not -1");

    /* energy: positive mass inside over positive mass overall; negatives and NaN count 0 */
    float e[W * H];
    memset(e, 0, sizeof e);
    e[1 * W + 1] = 1.0f;
    e[2 * W + 2] = 2.0f;
    e[6 * W + 8] = 1.0f;
    e[5 * W + 5] = -4.0f;
    e[7 * W + 9] = NAN;
    const clcnn_box b = {.x0 = 0, .y0 = 0, .x1 = 3, .y1 = 3};
    double got = clcnn_energy_in_box(e, W, H, &b);
    CHECK(fabs(got - 0.75) < 1e-12, "energy in box %g, want 0.75", got);
    const clcnn_box over = {.x0 = -5, .y0 = -5, .x1 = 100, .y1 = 100}; /* clipped to the map */
    got = clcnn_energy_in_box(e, W, H, &over);
    CHECK(got == 1.0, "energy in a box over the whole map %g, want 1", got);
    memset(e, 0, sizeof e);
    CHECK(clcnn_energy_in_box(e, W, H, &b) == 0.0, "energy of a zero map is not 0");
    CHECK(isnan(clcnn_energy_in_box(e, W, H, NULL)), "NULL box: not NaN");
}

/* ------------------------------------------------------------------- curves -- */

/* Pixels within 6 of colour c in columns [x0, x1). */
static int count_colour(const clcnn_image *im, int x0, int x1, const uint8_t c[3]) {
    int n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = x0; x < x1; x++) {
            const uint8_t *p = pixel(im, x, y);
            n += abs(p[0] - c[0]) <= 6 && abs(p[1] - c[1]) <= 6 && abs(p[2] - c[2]) <= 6;
        }
    return n;
}

static void test_curves(void) {
    static const uint8_t blue[3] = {0x1f, 0x77, 0xb4}, orange[3] = {0xff, 0x7f, 0x0e};
    tmptree s;
    if (!tmptree_open(&s, "render")) return;
    enum { E = 12 };
    double tl[E], vl[E], ta[E], va[E];
    for (int e = 0; e < E; e++) {
        tl[e] = 2.0 * exp(-0.3 * e);
        vl[e] = 2.2 * exp(-0.25 * e);
        ta[e] = 1.0 - 0.6 * exp(-0.4 * e);
        va[e] = 1.0 - 0.65 * exp(-0.3 * e);
    }
    vl[4] = NAN; /* skipped */
    va[0] = NAN;
    const char *path = tmptree_path(&s, "curves.png");
    CHECK_OK0(clcnn_plot_curves(path, E, tl, vl, ta, va));

    size_t size;
    unsigned char *buf = tu_read_file(path, &size);
    CHECK(buf && size > 33 && !memcmp(buf, "\x89PNG\r\n\x1a\n", 8), "%s is not a PNG", path);
    free(buf);
    clcnn_image im = {0};
    CHECK_OK0(clcnn_image_load(path, &im));
    if (im.pixels) {
        const int half = im.width / 2;
        CHECK(im.width == 1000 && im.height == 420, "curves are %dx%d", im.width, im.height);
        /* both series drawn in both panels */
        const int bl = count_colour(&im, 0, half, blue), br = count_colour(&im, half, im.width, blue);
        const int ol = count_colour(&im, 0, half, orange), orr = count_colour(&im, half, im.width, orange);
        CHECK(bl > 300 && br > 300 && ol > 300 && orr > 300, "series pixels: blue %d | %d, orange %d | %d", bl, br, ol,
              orr);
        /* nothing strays above the panels (the legend is at the far right of the title row) */
        clcnn_image top = im;
        top.height = 45;
        CHECK(count_colour(&top, 0, 700, orange) == 0 && count_colour(&top, 0, 700, blue) == 0,
              "series pixels in the title row");
        /* the skipped epoch: the line joins its neighbours, so the picture is the one with
         * the midpoint there, less that point's dot */
        clcnn_image mid = {0};
        vl[4] = (vl[3] + vl[5]) / 2;
        CHECK_OK0(clcnn_plot_curves(path, E, tl, vl, ta, va));
        CHECK_OK0(clcnn_image_load(path, &mid));
        if (mid.pixels) {
            const int with_nan = count_colour(&im, 0, half, orange), with_mid = count_colour(&mid, 0, half, orange);
            CHECK(with_mid - with_nan > 5 && with_mid - with_nan < 80,
                  "orange loss pixels: %d with a NaN epoch, %d with the midpoint there (want one dot fewer)", with_nan,
                  with_mid);
        }
        clcnn_image_free(&mid);
        clcnn_image_free(&im);
    }

    /* one epoch, and a validation series with no number at all: no orange anywhere */
    for (int e = 0; e < E; e++) vl[e] = va[e] = NAN;
    CHECK_OK0(clcnn_plot_curves(path, 1, tl, vl, ta, va));
    CHECK_OK0(clcnn_image_load(path, &im));
    if (im.pixels) {
        CHECK(count_colour(&im, 0, im.width, orange) == 0, "an all-NaN series was drawn");
        CHECK(count_colour(&im, 0, im.width, blue) > 40, "one epoch: the train points are missing");
        clcnn_image_free(&im);
    }
    CHECK_OK0(clcnn_plot_curves(path, 3, tl, NULL, NULL, NULL));
    CHECK(tmptree_count(&s, NULL) == 1, "%d files in the scratch folder, want 1", tmptree_count(&s, NULL));

    CHECK_STATUS(clcnn_plot_curves(NULL, E, tl, vl, ta, va), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_plot_curves(path, 0, tl, vl, ta, va), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_plot_curves(path, E, NULL, NULL, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_plot_curves(tmptree_path(&s, "no/such/dir.png"), E, tl, vl, ta, va), CLCNN_ERR_IO);
    CHECK(tmptree_count(&s, NULL) == 1, "a failed plot left files behind");
    tmptree_close(&s);
}

const test_case test_render_cases[] = {
    {"render_normalize", test_normalize},
    {"render_resize", test_resize},
    {"render_jet", test_jet},
    {"render_blend", test_blend},
    {"render_otsu", test_otsu},
    {"render_boxes", test_boxes},
    {"render_annotate", test_annotate},
    {"render_npy", test_npy},
    {"render_npy_numpy", test_npy_numpy},
    {"render_localize", test_localize},
    {"render_curves", test_curves},
    {NULL, NULL},
};
