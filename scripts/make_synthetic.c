/* make_synthetic.c: the demo's data set, made reproducibly from a seed.
 *
 * Two classes of SIZE x SIZE PNG pictures over a smooth, coloured, noisy background:
 *   damaged/  a small checkered patch (the "damage") at a random place;
 *   intact/   a plain patch of the same size and mean colour at a random place (a
 *             distractor: only the texture tells the classes apart, not the colour).
 * The patch's box of every picture is recorded in OUT/boxes.csv (path,label,x0,y0,x1,y1;
 * x1, y1 exclusive), so that the localisation of a class activation map can be scored.
 *
 * usage: make_synthetic OUT [--train N] [--val N] [--size S] [--seed N]
 * writes OUT/train/{damaged,intact}/NNNN.png, OUT/val/..., OUT/boxes.csv */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "clcnn.h"
#include "runtime/random.h" /* the library's splitmix64, header-only */

typedef struct {
    uint64_t s;
} rng;

static uint64_t next(rng *r) { return rt_splitmix64(&r->s); }

static double uniform(rng *r) { return (next(r) >> 11) * (1.0 / 9007199254740992.0); }

static unsigned char clamp8(double v) { return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5); }

/* A background of three low-frequency waves per channel plus pixel noise. */
static void background(rng *r, clcnn_image *img) {
    double fx[3][3], fy[3][3], ph[3][3], base[3];
    for (int c = 0; c < 3; c++) {
        base[c] = 70 + 110 * uniform(r);
        for (int k = 0; k < 3; k++) {
            fx[c][k] = (uniform(r) - 0.5) * 0.25;
            fy[c][k] = (uniform(r) - 0.5) * 0.25;
            ph[c][k] = uniform(r) * 6.283185307;
        }
    }
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            for (int c = 0; c < 3; c++) {
                double v = base[c] + 10 * (uniform(r) - 0.5);
                for (int k = 0; k < 3; k++) v += 18 * sin(fx[c][k] * x + fy[c][k] * y + ph[c][k]);
                img->pixels[((size_t)y * img->width + x) * 3 + c] = clamp8(v);
            }
}

/* A patch of side p at (x0, y0): checkered in two tones (damaged) or plain in their mean. */
static void patch(rng *r, clcnn_image *img, int x0, int y0, int p, int checkered) {
    double tone[2][3];
    for (int c = 0; c < 3; c++) {
        const double mid = 60 + 140 * uniform(r), half = 45 + 20 * uniform(r);
        tone[0][c] = mid - half, tone[1][c] = mid + half;
    }
    const int cell = 2 + (int)(uniform(r) * 2); /* 2 or 3 pixels */
    for (int y = 0; y < p; y++)
        for (int x = 0; x < p; x++)
            for (int c = 0; c < 3; c++) {
                const int t = ((x / cell) + (y / cell)) & 1;
                const double v = checkered ? tone[t][c] : 0.5 * (tone[0][c] + tone[1][c]);
                img->pixels[((size_t)(y0 + y) * img->width + x0 + x) * 3 + c] = clamp8(v + 6 * (uniform(r) - 0.5));
            }
}

/* mkdir -p */
static int make_dir(const char *path) {
    char partial[4096];
    for (const char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        snprintf(partial, sizeof partial, "%.*s", (int)(p - path), path);
        if (mkdir(partial, 0777) != 0 && errno != EEXIST) break;
    }
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "make_synthetic: cannot create %s: %s\n", path, strerror(errno));
    return 1;
}

static int write_split(const char *out, const char *split, int count, int size, rng *r, FILE *boxes) {
    static const char *labels[2] = {"intact", "damaged"};
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/%s", out, split);
    if (make_dir(dir)) return 1;
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, labels[k]);
        if (make_dir(path)) return 1;
    }
    clcnn_image img;
    if (clcnn_image_create(size, size, 3, &img) != CLCNN_OK) {
        fprintf(stderr, "make_synthetic: %s\n", clcnn_last_error(NULL));
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < count && !rc; i++) {
        const int k = i % 2, p = size / 6 + (int)(uniform(r) * size / 12);
        const int x0 = (int)(uniform(r) * (size - p)), y0 = (int)(uniform(r) * (size - p));
        background(r, &img);
        patch(r, &img, x0, y0, p, k == 1);
        snprintf(path, sizeof path, "%s/%s/%04d.png", dir, labels[k], i / 2);
        if (clcnn_image_save_png(path, &img) != CLCNN_OK) {
            fprintf(stderr, "make_synthetic: %s\n", clcnn_last_error(NULL));
            rc = 1;
        }
        fprintf(boxes, "%s/%s/%04d.png,%s,%d,%d,%d,%d\n", split, labels[k], i / 2, labels[k], x0, y0, x0 + p, y0 + p);
    }
    clcnn_image_free(&img);
    return rc;
}

int main(int argc, char **argv) {
    int train = 600, val = 200, size = 96;
    uint64_t seed = 1;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const int has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--train") && has_value) train = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--val") && has_value) val = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && has_value) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && has_value) seed = strtoull(argv[++i], NULL, 0);
        else if (argv[i][0] != '-' && !out) out = argv[i];
        else {
            fprintf(stderr, "usage: make_synthetic OUT [--train N] [--val N] [--size S] [--seed N]\n");
            return 2;
        }
    }
    if (!out || train < 2 || val < 2 || size < 24 || size > 4096) {
        fprintf(stderr, "usage: make_synthetic OUT [--train N>=2] [--val N>=2] [--size 24..4096] [--seed N]\n");
        return 2;
    }
    if (make_dir(out)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/boxes.csv", out);
    FILE *boxes = fopen(path, "w");
    if (!boxes) {
        fprintf(stderr, "make_synthetic: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(boxes, "path,label,x0,y0,x1,y1\n");
    rng r = {seed};
    int rc = write_split(out, "train", train, size, &r, boxes) || write_split(out, "val", val, size, &r, boxes);
    if (fclose(boxes) != 0) rc = 1;
    if (!rc) printf("make_synthetic: %d training and %d validation pictures of %dx%d in %s\n", train, val, size, size, out);
    return rc;
}
