/* localize.c: how well a map points at a known object box: the pointing game (Zhang
 * et al., "Top-down neural attention by excitation backprop", 2016) and the share of the
 * map's positive energy inside the box (Score-CAM's "energy-based pointing game").
 * The box is in the map's own pixel coordinates: resize the map first to compare with
 * a box drawn on the picture. Neither function changes anything, so invalid arguments
 * are reported through the return value (-1 or NaN) and clcnn_last_error(NULL). */
#include <math.h>
#include "runtime/error.h"

static int args_ok(const char *who, const float *map, int width, int height, const clcnn_box *box) {
    if (!map || !box) {
        rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL %s", who, map ? "box" : "map");
        return 0;
    }
    if (width <= 0 || height <= 0) {
        rt_error(NULL, CLCNN_ERR_SHAPE, "%s: bad map size %d x %d", who, width, height);
        return 0;
    }
    return 1;
}

/* The maximum is the first largest value in row-major order (numpy's argmax), NaN
 * ignored; a map with no number at all points nowhere. */
int clcnn_pointing_game(const float *map, int width, int height, const clcnn_box *box, int tolerance) {
    if (!args_ok("clcnn_pointing_game", map, width, height, box)) return -1;
    const size_t n = (size_t)width * height;
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (!isnan(map[i]) && (best == n || map[i] > map[best])) best = i;
    if (best == n) return 0;
    const long x = (long)(best % (size_t)width), y = (long)(best / (size_t)width), t = tolerance > 0 ? tolerance : 0;
    return x >= (long)box->x0 - t && x < (long)box->x1 + t && y >= (long)box->y0 - t && y < (long)box->y1 + t;
}

/* sum of max(v, 0) inside the box (clipped to the map) over the sum everywhere, in
 * double; 0 for a map with no positive value. NaN values count as 0. */
double clcnn_energy_in_box(const float *map, int width, int height, const clcnn_box *box) {
    if (!args_ok("clcnn_energy_in_box", map, width, height, box)) return NAN;
    const int x0 = box->x0 > 0 ? box->x0 : 0, x1 = box->x1 < width ? box->x1 : width;
    const int y0 = box->y0 > 0 ? box->y0 : 0, y1 = box->y1 < height ? box->y1 : height;
    double inside = 0, total = 0;
    for (int y = 0; y < height; y++) {
        const float *row = map + (size_t)y * width;
        const int row_in = y >= y0 && y < y1;
        for (int x = 0; x < width; x++) {
            const double v = row[x] > 0 ? row[x] : 0; /* NaN > 0 is false */
            total += v;
            if (row_in && x >= x0 && x < x1) inside += v;
        }
    }
    return total > 0 ? inside / total : 0.0;
}
