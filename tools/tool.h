/* tool.h: what the clcnn commands share: opening a model file with the user's
 * overrides, finding images on the command line, host softmax, and batches of inputs
 * on the device. Uses only the public API. */
#ifndef CLCNN_TOOLS_TOOL_H
#define CLCNN_TOOLS_TOOL_H

#include "cli.h"

#define PROG "clcnn"

/* Print "clcnn CMD: <library's last error> (<status>)" and return 1. */
int tool_fail_status(const char *cmd, const clcnn_context *ctx, clcnn_status st);
/* Print "clcnn CMD: message" and return 1. */
int tool_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The size a new network of this architecture is trained at by default. */
int tool_default_size(const char *arch);

/* Open weights as a network in evaluation mode, with --arch/--classes/--size/--fit
 * overrides (fit NULL: the model's own, crop for files that do not say). */
int tool_open_model(const char *cmd, clcnn_context *ctx, const char *weights, const char *arch, int classes, int size,
                    const char *fit, clcnn_graph **g, clcnn_model_desc *desc);
/* --fit NAME into *fit; 1 with one line naming the option when NAME is not a fit. */
int tool_parse_fit(const char *cmd, const char *name, clcnn_fit *fit);

/* Files named on the command line, and the images (.png, .jpg, .jpeg) inside named
 * folders, sorted. *paths and each entry are malloc'd: tool_free_paths. */
int tool_collect_images(const char *cmd, int n_args, char **args, char ***paths, int *count);
void tool_free_paths(char **paths, int count);

/* Softmax of logits [n, classes] into probs (may alias), in double for stability. */
void tool_softmax(const float *logits, int n, int classes, float *probs);
/* Index of the first largest value. */
int tool_argmax(const float *v, int n);

/* Device tensors for batches whose size varies (the last one): images [n, 3, size, size]
 * and, when given, labels [n]. */
typedef struct {
    clcnn_context *ctx;
    clcnn_tensor *x, *labels;
    int n, size;
} tool_input;
/* Upload n images (and their labels unless labels is NULL), remaking the tensors when n changes. */
clcnn_status tool_input_set(tool_input *in, int n, const float *images, const float *labels);
void tool_input_free(tool_input *in);

/* One batch through g (evaluation mode): the softmax of its logits in probs [n, classes].
 * A failure is printed (as from command cmd); returns 0 or 1. */
int tool_batch_probs(const char *cmd, clcnn_graph *g, tool_input *in, const clcnn_batch *b, int classes, float *probs);
/* One labelled batch through g (evaluation mode) into m: the logits, their softmax and
 * the cross-entropy. probs [n, classes] and labels [n] are the caller's scratch. A
 * failure is printed (as from command cmd); returns 0 or 1. */
int tool_eval_batch(const char *cmd, clcnn_graph *g, tool_input *in, const clcnn_batch *b, int classes, float *probs,
                    int *labels, clcnn_metrics *m);

/* "what: 24 (damaged 12, intact 12)": how many images each class of ds has, on stdout. */
void tool_print_class_counts(const char *what, const clcnn_dataset *ds);

/* The name of the graph's output layer (its last). */
const char *tool_output_layer(const clcnn_graph *g);

#endif
