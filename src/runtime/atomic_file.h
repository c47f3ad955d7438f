/* atomic_file.h: files that appear whole or not at all. Everything the library writes
 * for users (weights, checkpoints, pictures, maps, metrics) goes through here: the data
 * goes to a temporary file beside the final name, is flushed to disk, and is renamed
 * over the final name only once complete, so a crash, a kill or a full disk leaves the
 * old file or the new one, never a mix. */
#ifndef CLCNN_ATOMIC_FILE_H
#define CLCNN_ATOMIC_FILE_H

#include <stdio.h>
#include "clcnn.h"

typedef struct {
    FILE *f;        /* write the contents here */
    char *path;     /* final name */
    char *tmp;      /* temporary name */
    int failed;     /* set by rt_atomic_write on a short write */
    int error;      /* errno of the first failure */
} rt_atomic_file;

/* Create the temporary file (exclusively; an existing path's mode is kept). `who` names
 * the caller in error messages ("clcnn_image_save_png"). ctx may be NULL. */
clcnn_status rt_atomic_open(const clcnn_context *ctx, const char *who, const char *path, rt_atomic_file *af);
/* fwrite that remembers a failure, to be reported once by rt_atomic_commit. */
void rt_atomic_write(rt_atomic_file *af, const void *data, size_t size);
/* Flush, sync, close and rename over the final name. On any failure (including an
 * earlier write) the temporary file is removed and the error names path and reason. */
clcnn_status rt_atomic_commit(const clcnn_context *ctx, const char *who, rt_atomic_file *af);
/* Give up: close and remove the temporary file. Safe on a zeroed or committed af. */
void rt_atomic_abort(rt_atomic_file *af);

#endif
