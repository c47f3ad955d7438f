/* progress.c: see progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"
#include "cli.h"

#include <stdio.h>
#include <unistd.h>

void progress_start(progress *p, const char *label, const char *unit, long total) {
    p->label = label;
    p->unit = unit;
    p->total = total > 0 ? total : 1;
    p->t0 = cli_now_s();
    p->last_draw = 0;
    p->tty = isatty(fileno(stderr));
    p->last_tenth = 0;
    p->quiet = 0;
}

static void format_time(double s, char *buf, size_t size) {
    const long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void draw(progress *p, long done, const char *extra, int final) {
    if (p->quiet) return;
    const double elapsed = cli_now_s() - p->t0, rate = elapsed > 0 ? done / elapsed : 0;
    char eta[24], bar[21];
    format_time(final ? elapsed : rate > 0 ? (p->total - done) / rate : 0, eta, sizeof eta);
    const int filled = (int)(20.0 * done / p->total);
    for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
    bar[20] = 0;
    fprintf(stderr, "%s%s [%s] %ld/%ld %s%s%.1f %s/s %s %s%s", p->tty ? "\r" : "", p->label, bar, done, p->total,
            extra ? extra : "", extra ? " " : "", rate, p->unit, final ? "in" : "ETA", eta,
            p->tty ? (final ? "\033[K\n" : "\033[K") : "\n");
    fflush(stderr);
}

void progress_update(progress *p, long done, const char *extra) {
    const double t = cli_now_s();
    if (p->tty) {
        if (t - p->last_draw < 0.1) return; /* redraw at most 10 times a second */
        p->last_draw = t;
        draw(p, done, extra, 0);
        return;
    }
    const int tenth = (int)(10 * done / p->total);
    if (tenth > p->last_tenth && done < p->total) {
        p->last_tenth = tenth;
        draw(p, done, extra, 0);
    }
}

void progress_finish(progress *p, long done, const char *extra) { draw(p, done, extra, 1); }
