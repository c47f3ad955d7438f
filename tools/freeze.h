/* freeze.h: which parameters train, as train and layers decide it from --init,
 * --freeze-backbone, --freeze and --train-only, and which ones --init supplied (kept in
 * a run's checkpoints, so that --resume never reads the --init file again). Uses only
 * the public API. */
#ifndef CLCNN_TOOLS_FREEZE_H
#define CLCNN_TOOLS_FREEZE_H

#include "cli.h"

typedef struct {
    int freeze_backbone;    /* with init: freeze what init supplied; without: all but the head (fc, classifier) */
    const char *freeze;     /* PREFIX[,PREFIX...] to freeze, or NULL */
    const char *train_only; /* PREFIX[,PREFIX...]: freeze all else, or NULL */
} tool_freeze_opts;

/* Which of g's parameters the --init file supplied: one flag per parameter index
 * (malloc'd; NULL when out of memory). A parameter counts as supplied when init holds
 * a tensor of its name and shape (what a partial load copies). */
unsigned char *tool_supplied_by(const clcnn_graph *g, const clcnn_weights *init);
/* The same flags as a JSON array of the supplied parameters' names (malloc'd), and back
 * (NULL when text is not such an array). */
char *tool_supplied_json(const clcnn_graph *g, const unsigned char *supplied);
unsigned char *tool_supplied_from_json(const clcnn_graph *g, const char *text);

/* Apply f to g, in that order: --freeze-backbone, --train-only, --freeze. supplied (may
 * be NULL: no --init) is tool_supplied_by's flags. A prefix that matches no parameter is
 * an error naming the option and the prefix; returns 0, or 1 with the reason printed
 * (as from command cmd). */
int tool_apply_freeze(const char *cmd, clcnn_graph *g, const unsigned char *supplied, const tool_freeze_opts *f);

/* Parameters of g that will train (not frozen, and learning: no running statistics),
 * and elements in them. */
int tool_trainable_params(const clcnn_graph *g, size_t *elements);

#endif
