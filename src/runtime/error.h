/* error.h: errors and logging (error.c), all that host-only code (decoding, data sets,
 * metrics, rendering) needs of the runtime. OpenCL-free: such code never sees a device. */
#ifndef CLCNN_RUNTIME_ERROR_H
#define CLCNN_RUNTIME_ERROR_H

#include "clcnn.h"

/* Record a formatted message as the last error of ctx (or of this thread when ctx
 * is NULL), log it at debug level, and return status. */
clcnn_status rt_error(const clcnn_context *ctx, clcnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Put "PREFIX: " (formatted) in front of the last error of ctx, keeping its reason,
 * and return status: how a caller adds where an inner call failed. */
clcnn_status rt_error_prefix(const clcnn_context *ctx, clcnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rt_log(clcnn_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
