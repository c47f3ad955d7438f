/* freeze.h: which parameters train, as train and layers decide it from --init,
 * --freeze-backbone, --freeze and --train-only. Uses only the public API. */
#ifndef CLCNN_TOOLS_FREEZE_H
#define CLCNN_TOOLS_FREEZE_H

#include "cli.h"

typedef struct {
    int freeze_backbone;    /* with init: freeze what init supplied; without: all but fc */
    const char *freeze;     /* PREFIX[,PREFIX...] to freeze, or NULL */
    const char *train_only; /* PREFIX[,PREFIX...]: freeze all else, or NULL */
} tool_freeze_opts;

/* Apply f to g, in that order: --freeze-backbone, --train-only, --freeze. init (may be
 * NULL) is the --init file: a parameter counts as supplied by it when it holds a tensor
 * of that name and shape. A prefix that matches no parameter is an error naming the
 * option and the prefix; returns 0, or 1 with the reason printed (as from command cmd). */
int tool_apply_freeze(const char *cmd, clcnn_graph *g, const clcnn_weights *init, const tool_freeze_opts *f);

/* Whether init holds a tensor of t's name and shape (what a partial load copies). */
int tool_init_supplied(const clcnn_weights *init, const char *name, const clcnn_tensor *t);

/* Parameters of g that will train (not frozen and with a gradient: no running statistics),
 * and elements in them. */
int tool_trainable_params(const clcnn_graph *g, size_t *elements);

#endif
