/* internal.h: what the runtime layer shares with the ops above it. Not public. */
#ifndef CLCNN_RUNTIME_INTERNAL_H
#define CLCNN_RUNTIME_INTERNAL_H

#include <CL/cl.h>
#include <stdarg.h>
#include "clcnn.h"
#include "runtime/error.h"

/* ---- devices (device.c) ---- */

typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    clcnn_device_info info;
} rt_device_entry;

/* The enumerated device list (built once per process). */
clcnn_status rt_devices(const rt_device_entry **list, int *count);

/* ---- per-device tuning parameters (params.c) ---- */

typedef struct {
    const char *row_name; /* which table row matched, for logs and clbench */
    int gemm_tile_m;      /* rows of C per work-item */
    int gemm_tile_n;      /* columns of C per work-item: 16 or 32 */
    int gemm_local;       /* work-group size per dimension; 0 = let the driver choose */
    int elementwise_local;
    /* GPUs: gemm_local.cl's work-group tile MWG x NWG, KWG deep, by MDIMC x NDIMC
     * work-items; gemm_mwg 0 = gemm_tiled (CPUs) */
    int gemm_mwg, gemm_nwg, gemm_kwg, gemm_mdimc, gemm_ndimc;
} rt_device_params;

/* The row for a device whose kernels are of `family` (CLCNN_DEVICE_CPU or another type). */
void rt_device_params_for(const clcnn_device_info *info, clcnn_device_type family, rt_device_params *params);

/* Tuned per-shape choices (clcnn_tune): the winner stored for (op, key[0..nkey-1]) on
 * ctx's device, or 0 when there is none and the op's own default rule applies. */
int rt_params_tuned_choice(const clcnn_context *ctx, const char *op, const int *key, int nkey);

/* The cache folder ($XDG_CACHE_HOME/clcnn or $HOME/.cache/clcnn) into dst; -1 when
 * neither variable is set. */
int rt_cache_dir(char *dst, size_t size);

/* ---- programs and kernels (program.c) ---- */

typedef struct clcnn_program_entry clcnn_program_entry;

/* The kernel `name` from cl/`file` built with `options`, compiled once per context
 * and kept (memory cache) and on disk (binary cache). The kernel belongs to ctx. */
clcnn_status rt_get_kernel(clcnn_context *ctx, const char *file, const char *name,
                              const char *options, cl_kernel *kernel);
void rt_programs_release(clcnn_context *ctx);

/* A kernel argument: size and address of its value (NULL value = NULL buffer). */
typedef struct {
    size_t size;
    const void *value;
} rt_karg;

#define KARG_INT(v) ((rt_karg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define KARG_FLOAT(v) ((rt_karg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
#define KARG_MEM(m) ((rt_karg){sizeof(cl_mem), &(cl_mem){(m)}})
/* A tensor is passed to a kernel as two arguments: its buffer and its offset in floats.
 * A NULL tensor becomes a NULL buffer and offset 0. */
#define KARG_TENSOR(t) rt_karg_tensor_buf(t), KARG_INT((t) ? (t)->offset : 0)
rt_karg rt_karg_tensor_buf(const clcnn_tensor *t);
/* `nargs, args` for an array of rt_karg. */
#define KARG_LIST(a) (int)(sizeof(a) / sizeof((a)[0])), (a)

/* What the device allows one built kernel, queried once when it is made. */
typedef struct {
    size_t work_group_max;        /* the smaller of the device's and the kernel's limit */
    size_t kernel_work_group_max; /* CL_KERNEL_WORK_GROUP_SIZE alone (for messages) */
    size_t preferred_multiple;    /* CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE (1 if unknown) */
    cl_ulong local_mem_bytes;     /* CL_KERNEL_LOCAL_MEM_SIZE */
} rt_kernel_limits;
rt_kernel_limits rt_kernel_limits_of(const clcnn_context *ctx, cl_kernel kernel);

/* out = want shrunk to fit: each dimension within item_max[i] (may be NULL), the
 * product within limit (0 = none), by halving the largest dimension. */
void rt_fit_local(size_t limit, const size_t *item_max, cl_uint dims, const size_t *want, size_t *out);

/* Set the arguments and enqueue an NDRange; `local` may be NULL. A local size is a
 * preference: it is shrunk to what the device allows this kernel (rt_fit_local).
 * Each global size is rounded up to a multiple of its local size (kernels check
 * bounds). */
clcnn_status rt_launch(clcnn_context *ctx, cl_kernel kernel, const char *what, int nargs,
                          const rt_karg *args, cl_uint dims, const size_t *global,
                          const size_t *local);
/* The same for a kernel built for exactly this local size (a work-group reduction):
 * refused with an error naming the kernel and the limit if the device will not run it. */
clcnn_status rt_launch_exact(clcnn_context *ctx, cl_kernel kernel, const char *what, int nargs,
                                const rt_karg *args, cl_uint dims, const size_t *global,
                                const size_t *local);

/* ---- context and tensors (context.c, tensor.c) ---- */

typedef struct {
    cl_mem buf;
    size_t bytes;
} rt_pool_slot;

struct clcnn_context {
    int device_index;
    rt_device_entry dev;
    clcnn_device_type kernel_family; /* CPU or GPU kernels and parameters: the device's type,
                                        or CLCNN_DEVICE_CLASS (to run a GPU's choices on PoCL) */
    rt_device_params params;
    size_t max_item_sizes[3]; /* CL_DEVICE_MAX_WORK_ITEM_SIZES */
    cl_context cl;
    cl_command_queue queue;
    char build_options[128]; /* -cl-std etc., from the device's OpenCL C version */
    char last_error[4096];
    clcnn_program_entry *programs;
    rt_pool_slot *pool_free;
    int pool_free_count, pool_free_cap;
    clcnn_context_stats stats;
};

struct clcnn_tensor {
    clcnn_context *ctx;
    cl_mem buf;
    size_t bytes;  /* size of buf when it comes from the pool */
    int offset;    /* in floats */
    int pooled;    /* 1: buf goes back to the pool on destroy; 0: the caller's */
    int ndim;
    int shape[CLCNN_MAX_DIMS];
    size_t numel;
};

/* The whole tensor to or from host memory without waiting, in the queue's order: the
 * host memory must stay until the copy is done (done, may be NULL: its event, the
 * caller's to release; a write is done before anything enqueued after it runs). */
clcnn_status rt_tensor_read_async(const clcnn_tensor *t, float *host, cl_event *done);
clcnn_status rt_tensor_write_async(clcnn_tensor *t, const float *host);

/* Enqueue dst = src (same element count); what names the caller in an error. */
clcnn_status rt_tensor_copy(const clcnn_tensor *src, clcnn_tensor *dst, const char *what);

/* A scratch tensor from the pool (same as clcnn_tensor_create). */
clcnn_status rt_scratch(clcnn_context *ctx, int ndim, const int *shape, clcnn_tensor **t);

/* A tensor that shares t's storage with another shape (same numel); destroy frees
 * only the view. */
clcnn_status rt_tensor_view(const clcnn_tensor *t, int ndim, const int *shape, clcnn_tensor **view);

/* Argument checks shared by the ops: each returns CLCNN_OK or records an error
 * naming the op and argument. */
clcnn_status rt_check_tensor(clcnn_context *ctx, const char *op, const char *arg,
                                const clcnn_tensor *t, int ndim);
clcnn_status rt_check_same_shape(clcnn_context *ctx, const char *op, const char *arg_a,
                                    const clcnn_tensor *a, const char *arg_b, const clcnn_tensor *b);
/* t must have exactly this shape. */
clcnn_status rt_check_shape_is(clcnn_context *ctx, const char *op, const char *arg, const clcnn_tensor *t,
                                  int ndim, const int *shape);
clcnn_status rt_check_vector(clcnn_context *ctx, const char *op, const char *arg,
                                const clcnn_tensor *t, int length);

/* Whether ctx runs the CPU family of kernels and parameters (PoCL and other CPU
 * drivers), rather than the GPU one. */
static inline int rt_cpu_family(const clcnn_context *ctx) { return ctx->kernel_family == CLCNN_DEVICE_CPU; }

/* Work-group size for 1-D elementwise launches on this device (NULL = driver's). */
const size_t *rt_elementwise_local(const clcnn_context *ctx);

#endif
