/* context.c: a context on one device: OpenCL context and in-order queue, build
 * options from the device's OpenCL C version, statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/gpu_rows.h"
#include "runtime/internal.h"

/* CLCNN_DEVICE_CLASS=gpu|cpu: which family of kernels and parameters to run, whatever
 * the device is (docs/GPU.md: the GPU's choices checked on PoCL). Unset: the device's. */
static clcnn_status kernel_family_for(const clcnn_device_info *info, clcnn_device_type *family) {
    const char *v = getenv("CLCNN_DEVICE_CLASS");
    *family = info->type == CLCNN_DEVICE_CPU ? CLCNN_DEVICE_CPU : CLCNN_DEVICE_GPU;
    if (!v || !*v) return CLCNN_OK;
    if (!strcmp(v, "gpu") || !strcmp(v, "GPU")) *family = CLCNN_DEVICE_GPU;
    else if (!strcmp(v, "cpu") || !strcmp(v, "CPU")) *family = CLCNN_DEVICE_CPU;
    else return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "CLCNN_DEVICE_CLASS=%s: want gpu or cpu", v);
    return CLCNN_OK;
}

#define CLCNN_STR_(x) #x
#define CLCNN_STR(x) CLCNN_STR_(x)

const char *clcnn_version(void) {
    return CLCNN_STR(CLCNN_VERSION_MAJOR) "." CLCNN_STR(CLCNN_VERSION_MINOR) "." CLCNN_STR(CLCNN_VERSION_PATCH);
}

clcnn_status clcnn_context_create(int device_index, clcnn_context **out) {
    if (!out) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_context_create: out is NULL");
    *out = NULL;
    clcnn_status st;
    if (device_index < 0 && (st = clcnn_device_select(NULL, &device_index)) != CLCNN_OK) return st;
    const rt_device_entry *list;
    int n;
    if ((st = rt_devices(&list, &n)) != CLCNN_OK) return st;
    if (device_index >= n)
        return rt_error(NULL, CLCNN_ERR_NO_DEVICE, "device index %d out of range (%d devices)", device_index, n);

    clcnn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return rt_error(NULL, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_context_create: out of host memory");
    ctx->device_index = device_index;
    ctx->dev = list[device_index];
    if ((st = kernel_family_for(&ctx->dev.info, &ctx->kernel_family)) != CLCNN_OK ||
        (st = rt_gpu_row_check_env()) != CLCNN_OK)
        goto free_ctx;
    rt_device_params_for(&ctx->dev.info, ctx->kernel_family, &ctx->params);
    if (clGetDeviceInfo(ctx->dev.device, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof ctx->max_item_sizes,
                        ctx->max_item_sizes, NULL) != CL_SUCCESS)
        memset(ctx->max_item_sizes, 0, sizeof ctx->max_item_sizes); /* unknown: no per-dimension limit */

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->dev.platform, 0};
    ctx->cl = clCreateContext(props, 1, &ctx->dev.device, NULL, NULL, &err);
    if (!ctx->cl) {
        st = rt_error(NULL, err, "clCreateContext on %s failed (%d)", ctx->dev.info.name, err);
        goto free_ctx;
    }
    ctx->queue = clCreateCommandQueue(ctx->cl, ctx->dev.device, 0, &err);
    if (!ctx->queue) {
        st = rt_error(NULL, err, "clCreateCommandQueue on %s failed (%d)", ctx->dev.info.name, err);
        goto release_context;
    }
    /* Choose the language standard from the device's OpenCL C version, not the
     * platform's: an OpenCL 3.0 platform may carry a 1.2 device. -w (OpenCL's own
     * option): a successful build's warnings are never shown, and PoCL would print
     * "18 warnings generated." on stderr (float16 arguments without AVX-512 "change the
     * ABI") at every cold build; a failed build's log still holds its errors. */
    const clcnn_device_info *di = &ctx->dev.info;
    if (di->opencl_c_major > 1 || (di->opencl_c_major == 1 && di->opencl_c_minor >= 2))
        snprintf(ctx->build_options, sizeof ctx->build_options, "-cl-std=CL1.2 -w");
    else
        snprintf(ctx->build_options, sizeof ctx->build_options, "-cl-std=CL1.1 -w");
    rt_log(CLCNN_LOG_INFO, "context on device %d: %s (%s), %s kernels, params row \"%s\"", device_index, di->name,
              di->opencl_c_version, rt_cpu_family(ctx) ? "CPU" : "GPU", ctx->params.row_name);
    *out = ctx;
    return CLCNN_OK;

release_context:
    clReleaseContext(ctx->cl);
free_ctx:
    free(ctx);
    return st;
}

void clcnn_context_destroy(clcnn_context *ctx) {
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    clcnn_context_trim(ctx);
    free(ctx->pool_free);
    rt_programs_release(ctx);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->cl) clReleaseContext(ctx->cl);
    free(ctx);
}

clcnn_status clcnn_context_get_device_info(const clcnn_context *ctx, clcnn_device_info *info) {
    if (!ctx || !info) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_context_get_device_info: NULL argument");
    *info = ctx->dev.info;
    return CLCNN_OK;
}

clcnn_status clcnn_finish(clcnn_context *ctx) {
    if (!ctx) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_finish: ctx is NULL");
    cl_int err = clFinish(ctx->queue);
    if (err != CL_SUCCESS) return rt_error(ctx, err, "clFinish failed (%d): a queued kernel failed", err);
    return CLCNN_OK;
}

void clcnn_context_get_stats(const clcnn_context *ctx, clcnn_context_stats *stats) {
    if (ctx && stats) *stats = ctx->stats;
}

void *clcnn_context_cl_context(const clcnn_context *ctx) { return ctx ? (void *)ctx->cl : NULL; }
void *clcnn_context_cl_queue(const clcnn_context *ctx) { return ctx ? (void *)ctx->queue : NULL; }

const size_t *rt_elementwise_local(const clcnn_context *ctx) {
    static const size_t sizes[] = {1, 16, 32, 64, 128, 256};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if ((int)sizes[i] == ctx->params.elementwise_local) return &sizes[i];
    return NULL;
}
