/* boxes.c: bounding boxes of the hot regions of a [0,1] map: Otsu's threshold and
 * the 8-connected components above it, found by an iterative flood fill (an explicit
 * stack, no recursion, so that a map-sized blob cannot overflow the call stack). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/error.h"

/* ----------------------------------------------------------------- Otsu -- */

enum { OTSU_BINS = 256 };

/* Bin k holds [k/256, (k+1)/256); values outside [0,1] go to the end bins. Multiplying
 * by 256 is exact, so v >= k/256 exactly when v lands in bin k or above. */
static int otsu_bin(float v) {
    if (!(v > 0.0f)) return 0;
    const float b = v * OTSU_BINS;
    return b >= OTSU_BINS - 1 ? OTSU_BINS - 1 : (int)b;
}

/* Otsu (1979): the split of the histogram into bins <= t and > t with the largest
 * between-class variance w0 w1 (mu0 - mu1)^2. Empty bins next to the best split give the
 * same classes and the same variance; the threshold is taken in the middle of such a run
 * rather than at its start, so that it sits between the two modes. The result is the
 * lower edge of the first bin above the split, so map >= threshold selects exactly the
 * upper class. With fewer than two occupied bins there is no split: the result is just
 * above 1, so that a flat map has no boxes. NaN values are ignored. */
float clcnn_otsu_threshold(const float *map01, size_t n) {
    const float no_split = nextafterf(1.0f, 2.0f);
    if (!map01) return no_split;
    double hist[OTSU_BINS] = {0};
    double total = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(map01[i])) continue;
        const int k = otsu_bin(map01[i]);
        hist[k] += 1;
        total += 1;
        sum += k;
    }
    double w0 = 0, s0 = 0, best = -1;
    int first = -1;
    for (int t = 0; t < OTSU_BINS - 1; t++) {
        w0 += hist[t];
        s0 += t * hist[t];
        const double w1 = total - w0;
        if (w0 == 0 || w1 == 0) continue;
        const double d = s0 / w0 - (sum - s0) / w1;
        const double var = w0 * w1 * d * d;
        if (var > best) {
            best = var;
            first = t;
        }
    }
    if (first < 0) return no_split;
    int last = first;
    while (last + 1 < OTSU_BINS - 1 && hist[last + 1] == 0) last++;
    return (float)((first + last) / 2 + 1) / OTSU_BINS;
}

/* ----------------------------------------------------------- components -- */

typedef struct {
    clcnn_box box;
    size_t first; /* index of its first pixel in row-major order: the last sort key */
} component;

typedef struct {
    component *items;
    size_t count, cap;
} component_list;

static int list_push(component_list *l, const component *c) {
    if (l->count == l->cap) {
        const size_t cap = l->cap ? 2 * l->cap : 16;
        component *items = realloc(l->items, cap * sizeof *items);
        if (!items) return 0;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = *c;
    return 1;
}

/* Largest first: by pixels, then by peak, then by position (qsort is not stable). */
static int component_order(const void *pa, const void *pb) {
    const component *a = pa, *b = pb;
    if (a->box.pixels != b->box.pixels) return a->box.pixels > b->box.pixels ? -1 : 1;
    if (a->box.peak != b->box.peak) return a->box.peak > b->box.peak ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

typedef struct {
    const float *map;
    int width, height;
    float threshold;
    uint8_t *seen;   /* 1: above threshold and already on the stack */
    size_t *stack;   /* at most width * height entries: each pixel is pushed once */
} flood_state;

static int is_hot(const flood_state *s, size_t i) { return !s->seen[i] && s->map[i] >= s->threshold; }

/* Flood the component holding pixel `start` (hot and unseen), growing its box. */
static component flood(flood_state *s, size_t start) {
    component c = {.box = {.x0 = s->width, .y0 = s->height, .x1 = 0, .y1 = 0, .pixels = 0, .peak = -INFINITY},
                   .first = start};
    size_t top = 0;
    s->stack[top++] = start;
    s->seen[start] = 1;
    while (top > 0) {
        const size_t i = s->stack[--top];
        const int x = (int)(i % (size_t)s->width), y = (int)(i / (size_t)s->width);
        clcnn_box *b = &c.box;
        if (x < b->x0) b->x0 = x;
        if (y < b->y0) b->y0 = y;
        if (x + 1 > b->x1) b->x1 = x + 1;
        if (y + 1 > b->y1) b->y1 = y + 1;
        b->pixels++;
        if (s->map[i] > b->peak) b->peak = s->map[i];
        for (int dy = -1; dy <= 1; dy++) {
            for (int dx = -1; dx <= 1; dx++) {
                const int nx = x + dx, ny = y + dy;
                if (nx < 0 || ny < 0 || nx >= s->width || ny >= s->height) continue;
                const size_t j = (size_t)ny * s->width + nx;
                if (!is_hot(s, j)) continue;
                s->seen[j] = 1;
                s->stack[top++] = j;
            }
        }
    }
    return c;
}

static clcnn_status find_components(const float *map, int width, int height, float threshold,
                                    component_list *list) {
    const size_t n = (size_t)width * height;
    flood_state s = {.map = map, .width = width, .height = height, .threshold = threshold};
    s.seen = calloc(n, 1);
    s.stack = malloc(n * sizeof *s.stack);
    clcnn_status st = CLCNN_OK;
    if (!s.seen || !s.stack) {
        st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_map_boxes: no host memory for a %d x %d map", width,
                         height);
        goto free_state;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_hot(&s, i)) continue;
        const component c = flood(&s, i);
        if (!list_push(list, &c)) {
            st = rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_map_boxes: no host memory for the components");
            goto free_state;
        }
    }
free_state:
    free(s.stack);
    free(s.seen);
    return st;
}

clcnn_status clcnn_map_boxes(const float *map01, int width, int height, float threshold, int max_boxes,
                             clcnn_box *boxes, int *count) {
    static const char who[] = "clcnn_map_boxes";
    if (count) *count = 0;
    if (!map01 || !count || (max_boxes > 0 && !boxes))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL %s", who,
                           !map01 ? "map" : !count ? "count" : "boxes");
    if (max_boxes < 0) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: max_boxes %d < 0", who, max_boxes);
    if (width <= 0 || height <= 0 || (size_t)width > SIZE_MAX / sizeof(size_t) / (size_t)height)
        return rt_error(NULL, CLCNN_ERR_SHAPE, "%s: bad map size %d x %d", who, width, height);
    if (isnan(threshold)) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: threshold is NaN", who);
    if (threshold < 0) threshold = clcnn_otsu_threshold(map01, (size_t)width * height);
    component_list list = {0};
    const clcnn_status st = find_components(map01, width, height, threshold, &list);
    if (st == CLCNN_OK) {
        if (list.count > 1) qsort(list.items, list.count, sizeof *list.items, component_order);
        const int n = list.count < (size_t)max_boxes ? (int)list.count : max_boxes;
        for (int k = 0; k < n; k++) boxes[k] = list.items[k].box;
        *count = n;
    }
    free(list.items);
    return st;
}
