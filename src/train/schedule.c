/* schedule.c: learning-rate schedules, on the host, per 0-based step.
 *
 *   step < warmup_steps:  base_lr * (step + 1) / warmup_steps   (linear warm-up)
 *   after, with s = step - warmup_steps:
 *     constant: base_lr
 *     step:     base_lr * gamma^(s / step_size)                 (integer division, as StepLR)
 *     cosine:   min_lr + (base_lr - min_lr) (1 + cos(pi min(s, total_steps) / total_steps)) / 2
 *               (CosineAnnealingLR's closed form, held at min_lr after total_steps)
 *
 * Degenerate settings, rather than dividing by zero: warmup_steps <= 0 means no
 * warm-up; step_size <= 0 means no decay (base_lr); total_steps <= 0 means the cosine
 * has already ended (min_lr); a negative step counts as step 0; a NULL schedule or an
 * unknown kind gives 0. */
#include <math.h>
#include "clcnn.h"

static const double PI = 3.14159265358979323846;

float clcnn_schedule_lr(const clcnn_schedule *schedule, int step) {
    if (!schedule) return 0.0f;
    const double base = schedule->base_lr;
    if (step < 0) step = 0;
    if (step < schedule->warmup_steps) return (float)(base * (step + 1) / schedule->warmup_steps);
    const int s = schedule->warmup_steps > 0 ? step - schedule->warmup_steps : step;
    switch (schedule->kind) {
    case CLCNN_SCHEDULE_CONSTANT: return (float)base;
    case CLCNN_SCHEDULE_STEP:
        if (schedule->step_size <= 0) return (float)base;
        return (float)(base * pow(schedule->gamma, s / schedule->step_size));
    case CLCNN_SCHEDULE_COSINE: {
        const int total = schedule->total_steps;
        if (total <= 0) return schedule->min_lr;
        const double t = (double)(s < total ? s : total) / total, lo = schedule->min_lr;
        return (float)(lo + (base - lo) * (1.0 + cos(PI * t)) / 2.0);
    }
    }
    return 0.0f;
}
