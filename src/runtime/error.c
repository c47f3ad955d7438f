/* error.c: status strings, last-error messages and the log callback. */
#include <stdio.h>
#include <string.h>
#include "runtime/internal.h"

static clcnn_log_fn log_fn;
static void *log_user;
static clcnn_log_level log_min = CLCNN_LOG_INFO;
static _Thread_local char thread_error[4096];

void clcnn_set_log_callback(clcnn_log_fn fn, void *user, clcnn_log_level min_level) {
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

static void vlog(clcnn_log_level level, const char *fmt, va_list ap) {
    if (!log_fn || level < log_min) return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    log_fn(level, msg, log_user);
}

void rt_log(clcnn_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

clcnn_status rt_error(const clcnn_context *ctx, clcnn_status status, const char *fmt, ...) {
    /* The last-error buffer is logically mutable state of a const context. */
    char *dst = ctx ? ((clcnn_context *)ctx)->last_error : thread_error;
    size_t size = ctx ? sizeof ctx->last_error : sizeof thread_error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    rt_log(CLCNN_LOG_DEBUG, "error %d (%s): %s", status, clcnn_status_str(status), dst);
    return status;
}

clcnn_status rt_error_prefix(const clcnn_context *ctx, clcnn_status status, const char *fmt, ...) {
    char prefix[512], reason[sizeof thread_error]; /* the reason lives in the buffer being rewritten */
    snprintf(reason, sizeof reason, "%s", clcnn_last_error(ctx));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    return rt_error(ctx, status, "%s: %s", prefix, reason);
}

const char *clcnn_last_error(const clcnn_context *ctx) {
    return ctx ? ctx->last_error : thread_error;
}

static const char *opencl_status_str(int s) {
    switch (s) {
#define CASE(x) case x: return #x
        CASE(CL_DEVICE_NOT_FOUND); CASE(CL_DEVICE_NOT_AVAILABLE); CASE(CL_COMPILER_NOT_AVAILABLE);
        CASE(CL_MEM_OBJECT_ALLOCATION_FAILURE); CASE(CL_OUT_OF_RESOURCES); CASE(CL_OUT_OF_HOST_MEMORY);
        CASE(CL_PROFILING_INFO_NOT_AVAILABLE); CASE(CL_MEM_COPY_OVERLAP); CASE(CL_IMAGE_FORMAT_MISMATCH);
        CASE(CL_IMAGE_FORMAT_NOT_SUPPORTED); CASE(CL_BUILD_PROGRAM_FAILURE); CASE(CL_MAP_FAILURE);
        CASE(CL_MISALIGNED_SUB_BUFFER_OFFSET); CASE(CL_COMPILE_PROGRAM_FAILURE); CASE(CL_LINKER_NOT_AVAILABLE);
        CASE(CL_LINK_PROGRAM_FAILURE); CASE(CL_INVALID_VALUE); CASE(CL_INVALID_DEVICE_TYPE);
        CASE(CL_INVALID_PLATFORM); CASE(CL_INVALID_DEVICE); CASE(CL_INVALID_CONTEXT);
        CASE(CL_INVALID_QUEUE_PROPERTIES); CASE(CL_INVALID_COMMAND_QUEUE); CASE(CL_INVALID_HOST_PTR);
        CASE(CL_INVALID_MEM_OBJECT); CASE(CL_INVALID_BINARY); CASE(CL_INVALID_BUILD_OPTIONS);
        CASE(CL_INVALID_PROGRAM); CASE(CL_INVALID_PROGRAM_EXECUTABLE); CASE(CL_INVALID_KERNEL_NAME);
        CASE(CL_INVALID_KERNEL_DEFINITION); CASE(CL_INVALID_KERNEL); CASE(CL_INVALID_ARG_INDEX);
        CASE(CL_INVALID_ARG_VALUE); CASE(CL_INVALID_ARG_SIZE); CASE(CL_INVALID_KERNEL_ARGS);
        CASE(CL_INVALID_WORK_DIMENSION); CASE(CL_INVALID_WORK_GROUP_SIZE); CASE(CL_INVALID_WORK_ITEM_SIZE);
        CASE(CL_INVALID_GLOBAL_OFFSET); CASE(CL_INVALID_EVENT_WAIT_LIST); CASE(CL_INVALID_EVENT);
        CASE(CL_INVALID_OPERATION); CASE(CL_INVALID_BUFFER_SIZE); CASE(CL_INVALID_GLOBAL_WORK_SIZE);
#undef CASE
    default: return "OpenCL error";
    }
}

const char *clcnn_status_str(clcnn_status status) {
    switch (status) {
    case CLCNN_OK: return "ok";
    case CLCNN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CLCNN_ERR_SHAPE: return "shape mismatch";
    case CLCNN_ERR_NO_DEVICE: return "no OpenCL device";
    case CLCNN_ERR_OUT_OF_MEMORY: return "out of memory";
    case CLCNN_ERR_BUILD: return "kernel build failed";
    case CLCNN_ERR_IO: return "I/O error";
    case CLCNN_ERR_FORMAT: return "malformed file";
    case CLCNN_ERR_CONTEXT_MISMATCH: return "tensors from different contexts";
    case CLCNN_ERR_UNSUPPORTED: return "unsupported";
    case CLCNN_ERR_NOT_FOUND: return "not found";
    case CLCNN_ERR_NUMERICS: return "non-finite value";
    case CLCNN_ERR_DISTRIBUTED: return "collective over the ranks failed";
    default: return status < 0 && status > -20000 ? opencl_status_str(status) : "unknown status";
    }
}
