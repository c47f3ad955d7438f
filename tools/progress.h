/* progress.h: a progress line for long work. On a terminal it redraws one line in
 * place (bar, counts, the caller's figures, rate, ETA); otherwise it prints a plain
 * line every tenth of the work, so logs stay readable. Writes to stderr, keeping
 * stdout for results (--json). */
#ifndef CLCNN_TOOLS_PROGRESS_H
#define CLCNN_TOOLS_PROGRESS_H

typedef struct {
    const char *label;   /* "epoch 3/10" */
    const char *unit;    /* "img" */
    long total;          /* units of work (e.g. images) */
    double t0, last_draw;
    int tty, last_tenth;
    int quiet;           /* set after progress_start: draw nothing (a data-parallel rank but 0) */
} progress;

void progress_start(progress *p, const char *label, const char *unit, long total);
/* done units so far; extra: the caller's figures ("loss 0.412 acc 81.3%"), may be NULL. */
void progress_update(progress *p, long done, const char *extra);
/* The final line (always printed), ending the in-place redraws. */
void progress_finish(progress *p, long done, const char *extra);

#endif
