/* curves.c: training curves as a PNG drawn with cairo: loss (left panel) and accuracy
 * (right panel) per epoch, train and validation, with axes, ticks and a legend. The
 * PNG is written by cairo into an atomic file (temporary name, then renamed). */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include "runtime/atomic_file.h"
#include "runtime/error.h"

static const char who[] = "clcnn_plot_curves";
static const double PI = 3.14159265358979323846;

enum { FIG_W = 1000, FIG_H = 420, TITLE_H = 40 };
/* Plot area inside each panel. */
enum { MARGIN_L = 64, MARGIN_R = 20, MARGIN_T = 36, MARGIN_B = 52 };

/* matplotlib's first two colours (tab:blue, tab:orange). */
static const double series_rgb[2][3] = {{0x1f / 255.0, 0x77 / 255.0, 0xb4 / 255.0},
                                        {0xff / 255.0, 0x7f / 255.0, 0x0e / 255.0}};
static const char *const series_name[2] = {"train", "validation"};

typedef struct {
    double lo, hi, step; /* axis range, a whole number of ticks of size step */
} axis;

typedef struct {
    const char *title;
    const double *series[2]; /* train, validation; NULL: absent */
    int epochs;
    double x, y, w, h;       /* plot area on the figure */
    axis ax, ay;
} panel;

/* ------------------------------------------------------------------ axes -- */

/* 1, 2 or 5 times a power of ten, so that span takes about `ticks` steps. */
static double nice_step(double span, int ticks) {
    const double raw = span / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/* Range of the finite values of the series, widened to whole ticks; [0, 1] without data. */
static axis value_axis(const double *const series[2], int epochs) {
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < 2; s++)
        for (int e = 0; series[s] && e < epochs; e++)
            if (isfinite(series[s][e])) {
                lo = fmin(lo, series[s][e]);
                hi = fmax(hi, series[s][e]);
            }
    if (lo > hi || !isfinite(hi - lo)) lo = 0, hi = 1; /* no data, or a span beyond double */
    if (hi - lo < 1e-12 * fmax(1.0, fabs(hi))) { /* flat: centre the line */
        const double d = lo != 0 ? fabs(lo) * 0.1 : 0.5;
        lo -= d, hi += d;
    }
    const double margin = 0.05 * (hi - lo); /* keep points off the frame */
    lo -= margin, hi += margin;
    axis a = {.step = nice_step(hi - lo, 5)};
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    return a;
}

/* Epochs 1..epochs with a margin, and whole-number ticks; one epoch sits in the middle. */
static axis epoch_axis(int epochs) {
    if (epochs == 1) return (axis){0.5, 1.5, 1};
    const double step = fmax(1.0, nice_step(epochs - 1, 8)), margin = 0.03 * (epochs - 1);
    return (axis){1 - margin, epochs + margin, round(step)};
}

static double px(const panel *p, double e) { return p->x + (e - p->ax.lo) / (p->ax.hi - p->ax.lo) * p->w; }
static double py(const panel *p, double v) { return p->y + p->h - (v - p->ay.lo) / (p->ay.hi - p->ay.lo) * p->h; }

/* -------------------------------------------------------------- drawing -- */

/* Draw s with its box at (x, y): align 0 puts the box's left / top there, 0.5 its
 * centre, 1 its right / bottom. The box's height is that of a digit, whatever the
 * letters, so that labels with and without descenders line up. */
static void text_at(cairo_t *cr, const char *s, double x, double y, double align_x, double align_y) {
    cairo_text_extents_t te, digit;
    cairo_text_extents(cr, s, &te);
    cairo_text_extents(cr, "0", &digit);
    cairo_move_to(cr, x - align_x * te.x_advance, y + (1.0 - align_y) * -digit.y_bearing);
    cairo_show_text(cr, s);
}

static void set_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* Decimals enough to tell ticks `step` apart. */
static int tick_decimals(double step) {
    const int d = (int)ceil(-log10(step) - 1e-9);
    return d > 0 ? d : 0;
}

static void draw_axes(cairo_t *cr, const panel *p) {
    char label[32];
    set_font(cr, 12, 0);
    cairo_set_line_width(cr, 1);
    const int yd = tick_decimals(p->ay.step);
    const double span = (p->ay.hi - p->ay.lo) / p->ay.step; /* a whole number, about 5 */
    const int ticks = span >= 0 && span <= 50 ? (int)lround(span) : 0;
    for (int k = 0; k <= ticks; k++) {
        const double v = p->ay.lo + k * p->ay.step;
        const double y = round(py(p, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9); /* grid line */
        cairo_move_to(cr, p->x, y);
        cairo_line_to(cr, p->x + p->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        const double shown = fabs(v) < p->ay.step * 1e-6 ? 0.0 : v;
        if (fmax(fabs(p->ay.lo), fabs(p->ay.hi)) >= 1e6) snprintf(label, sizeof label, "%.3g", shown);
        else snprintf(label, sizeof label, "%.*f", yd, shown);
        text_at(cr, label, p->x - 6, y, 1.0, 0.5);
    }
    const double first = p->ax.step > 1 ? p->ax.step : 1; /* 1, 2, 3 ... or 5, 10, 15 ... */
    for (double e = first; e <= p->epochs; e += p->ax.step) {
        const double x = round(px(p, e)) + 0.5;
        cairo_move_to(cr, x, p->y + p->h);
        cairo_line_to(cr, x, p->y + p->h + 4);
        cairo_stroke(cr);
        snprintf(label, sizeof label, "%.0f", e);
        text_at(cr, label, x, p->y + p->h + 8, 0.5, 0.0);
    }
    cairo_rectangle(cr, p->x + 0.5, p->y + 0.5, p->w, p->h); /* frame */
    cairo_stroke(cr);
    text_at(cr, "epoch", p->x + p->w / 2, p->y + p->h + 30, 0.5, 0.0);
    set_font(cr, 15, 1);
    text_at(cr, p->title, p->x + p->w / 2, p->y - 10, 0.5, 1.0);
}

/* A line through the finite points (NaN and Inf entries are left out) and a dot on each,
 * so that a single epoch still shows; clipped to the plot, should a value lie off the axis. */
static void draw_series(cairo_t *cr, const panel *p, int s, int epochs) {
    const double *v = p->series[s];
    cairo_save(cr);
    cairo_rectangle(cr, p->x - 4, p->y - 4, p->w + 8, p->h + 8); /* dots on the frame stay whole */
    cairo_clip(cr);
    cairo_set_source_rgb(cr, series_rgb[s][0], series_rgb[s][1], series_rgb[s][2]);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_new_path(cr);
    for (int e = 0; e < epochs; e++)
        if (isfinite(v[e])) cairo_line_to(cr, px(p, e + 1), py(p, v[e]));
    cairo_stroke(cr);
    for (int e = 0; e < epochs; e++) {
        if (!isfinite(v[e])) continue;
        cairo_new_sub_path(cr);
        cairo_arc(cr, px(p, e + 1), py(p, v[e]), 3, 0, 2 * PI);
    }
    cairo_fill(cr);
    cairo_restore(cr);
}

static int has_points(const double *v, int epochs) {
    for (int e = 0; v && e < epochs; e++)
        if (isfinite(v[e])) return 1;
    return 0;
}

/* One legend for both panels, at the right of the title row (never over a curve),
 * naming the series that have points in either panel. */
static void draw_legend(cairo_t *cr, const panel panels[2], int epochs) {
    set_font(cr, 12, 0);
    double x = FIG_W - MARGIN_R;
    for (int s = 1; s >= 0; s--) { /* right to left: "train" ends up first */
        if (!has_points(panels[0].series[s], epochs) && !has_points(panels[1].series[s], epochs)) continue;
        cairo_text_extents_t te;
        cairo_text_extents(cr, series_name[s], &te);
        x -= te.x_advance;
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        text_at(cr, series_name[s], x, TITLE_H / 2.0, 0.0, 0.5);
        x -= 30;
        cairo_set_source_rgb(cr, series_rgb[s][0], series_rgb[s][1], series_rgb[s][2]);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, x, round(TITLE_H / 2.0));
        cairo_line_to(cr, x + 24, round(TITLE_H / 2.0));
        cairo_stroke(cr);
        x -= 18;
    }
}

static void draw_figure(cairo_t *cr, const panel panels[2], int epochs) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    set_font(cr, 18, 1);
    char title[64];
    snprintf(title, sizeof title, "Training curves (%d epoch%s)", epochs, epochs == 1 ? "" : "s");
    text_at(cr, title, FIG_W / 2.0, TITLE_H / 2.0, 0.5, 0.5);
    for (int k = 0; k < 2; k++) {
        draw_axes(cr, &panels[k]);
        for (int s = 0; s < 2; s++)
            if (panels[k].series[s]) draw_series(cr, &panels[k], s, epochs);
    }
    draw_legend(cr, panels, epochs);
}

/* ------------------------------------------------------------------ file -- */

static cairo_status_t write_to_file(void *closure, const unsigned char *data, unsigned int length) {
    rt_atomic_file *af = closure;
    rt_atomic_write(af, data, length);
    return af->failed ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

static clcnn_status cairo_failure(const char *path, const char *what, cairo_status_t cs) {
    return rt_error(NULL, cs == CAIRO_STATUS_NO_MEMORY ? CLCNN_ERR_OUT_OF_MEMORY : CLCNN_ERR_UNSUPPORTED,
                       "%s: %s: %s failed (cairo: %s)", who, path, what, cairo_status_to_string(cs));
}

static clcnn_status write_png(cairo_surface_t *surface, const char *path) {
    rt_atomic_file af;
    clcnn_status st = rt_atomic_open(NULL, who, path, &af);
    if (st != CLCNN_OK) return st;
    const cairo_status_t cs = cairo_surface_write_to_png_stream(surface, write_to_file, &af);
    if (cs == CAIRO_STATUS_WRITE_ERROR && af.failed) return rt_atomic_commit(NULL, who, &af); /* names errno */
    if (cs != CAIRO_STATUS_SUCCESS) {
        rt_atomic_abort(&af);
        return cairo_failure(path, "encoding the PNG", cs);
    }
    return rt_atomic_commit(NULL, who, &af);
}

static void layout(panel panels[2], int epochs) {
    const double panel_w = FIG_W / 2.0;
    for (int k = 0; k < 2; k++) {
        panel *p = &panels[k];
        p->x = k * panel_w + MARGIN_L;
        p->y = TITLE_H + MARGIN_T;
        p->w = panel_w - MARGIN_L - MARGIN_R;
        p->h = FIG_H - TITLE_H - MARGIN_T - MARGIN_B;
        p->epochs = epochs;
        p->ax = epoch_axis(epochs);
        p->ay = value_axis(p->series, epochs);
    }
}

clcnn_status clcnn_plot_curves(const char *path, int epochs, const double *train_loss, const double *val_loss,
                               const double *train_acc, const double *val_acc) {
    if (!path) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL path", who);
    if (epochs < 1) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s: %d epochs (>= 1 needed)", who, path, epochs);
    if (!train_loss && !val_loss && !train_acc && !val_acc)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s: no series to plot (all NULL)", who, path);
    panel panels[2] = {{.title = "Loss", .series = {train_loss, val_loss}},
                       {.title = "Accuracy", .series = {train_acc, val_acc}}};
    layout(panels, epochs);

    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, FIG_W, FIG_H);
    cairo_t *cr = cairo_create(surface);
    draw_figure(cr, panels, epochs);
    cairo_status_t cs = cairo_status(cr); /* sticky: includes a failed surface */
    clcnn_status st = cs == CAIRO_STATUS_SUCCESS ? write_png(surface, path) : cairo_failure(path, "drawing", cs);
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    return st;
}
