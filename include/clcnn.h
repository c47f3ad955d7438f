/* clcnn.h: the one public header of libclcnn.
 *
 * An OpenCL library for training, running and explaining convolutional image
 * classifiers. Conventions (see README.md and docs/):
 *  - every fallible call returns clcnn_status (0 = OK, negative = error) and gives
 *    its results through out-parameters;
 *  - OpenCL's own error codes pass through with their numbers, the library's own
 *    errors are CLCNN_ERR_* in -20001 … -20999, clear of all vendor extension codes;
 *  - clcnn_last_error() says what went wrong in words (names, shapes, reasons);
 *  - the library never exits, aborts or prints: it logs through a callback;
 *  - opaque handles come in create/destroy pairs, destroy accepts NULL, and the
 *    library never releases an OpenCL object the caller gave it.
 * Tensors are float32, row-major, NCHW for images.
 */
#ifndef CLCNN_H
#define CLCNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLCNN_VERSION_MAJOR 0
#define CLCNN_VERSION_MINOR 1
#define CLCNN_VERSION_PATCH 0

/* ---------------------------------------------------------------- status -- */

typedef int clcnn_status;

enum {
    CLCNN_OK = 0,
    /* -1 … -19999: OpenCL status codes (core and extensions), passed through unchanged. */
    CLCNN_ERR_INVALID_ARGUMENT = -20001, /* NULL where a value is needed, bad enum */
    CLCNN_ERR_SHAPE = -20002,            /* tensor shapes do not fit the operation */
    CLCNN_ERR_NO_DEVICE = -20003,        /* no OpenCL platform/device, or none matches */
    CLCNN_ERR_OUT_OF_MEMORY = -20004,    /* host or device allocation failed or too large */
    CLCNN_ERR_BUILD = -20005,            /* kernel compile failed; last error has the log */
    CLCNN_ERR_IO = -20006,               /* file could not be opened, read or written */
    CLCNN_ERR_FORMAT = -20007,           /* a file's contents are malformed */
    CLCNN_ERR_CONTEXT_MISMATCH = -20008, /* tensors from different contexts mixed */
    CLCNN_ERR_UNSUPPORTED = -20009,      /* not implemented for this case or device */
    CLCNN_ERR_NOT_FOUND = -20010         /* a named thing (tensor, kernel, file) is absent */
};

/* A short fixed description of a status code ("shape mismatch", "CL_OUT_OF_RESOURCES"). */
const char *clcnn_status_str(clcnn_status status);

/* --------------------------------------------------------------- logging -- */

typedef enum {
    CLCNN_LOG_DEBUG = 0,
    CLCNN_LOG_INFO = 1,
    CLCNN_LOG_WARN = 2,
    CLCNN_LOG_ERROR = 3
} clcnn_log_level;

typedef void (*clcnn_log_fn)(clcnn_log_level level, const char *message, void *user);

/* Install a process-wide log callback (NULL: silence). Messages below min_level
 * are dropped. The default is silence: the library never prints by itself. */
void clcnn_set_log_callback(clcnn_log_fn fn, void *user, clcnn_log_level min_level);

/* --------------------------------------------------------------- devices -- */

typedef enum {
    CLCNN_DEVICE_CPU = 1,
    CLCNN_DEVICE_GPU = 2,
    CLCNN_DEVICE_ACCELERATOR = 3,
    CLCNN_DEVICE_OTHER = 4
} clcnn_device_type;

typedef struct {
    int index;                 /* position in the library's list of all devices */
    clcnn_device_type type;
    char platform[128];
    char vendor[128];
    char name[128];
    char driver_version[64];
    char opencl_c_version[64]; /* the device's, e.g. "OpenCL C 1.2 pocl" */
    int opencl_c_major, opencl_c_minor;
    unsigned compute_units;
    unsigned max_clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t local_mem_bytes;
    size_t max_work_group_size;
    int has_fp16, has_fp64;
} clcnn_device_info;

/* Number of OpenCL devices across all platforms (0 is not an error here). */
clcnn_status clcnn_device_count(int *count);
clcnn_status clcnn_device_get_info(int index, clcnn_device_info *info);

/* Resolve a device spec: an index ("0"), "gpu", "cpu", or a case-insensitive part
 * of the platform, vendor or device name. NULL or "" means the default: the
 * environment variable CLCNN_DEVICE if set, else the fastest GPU, else a CPU. */
clcnn_status clcnn_device_select(const char *spec, int *index);

/* ---------------------------------------------------------------- context -- */

typedef struct clcnn_context clcnn_context;

/* A context on one device with its own in-order queue, program cache, memory pool
 * and last-error message. device_index < 0 selects the default device. */
clcnn_status clcnn_context_create(int device_index, clcnn_context **ctx);
void clcnn_context_destroy(clcnn_context *ctx);
clcnn_status clcnn_context_get_device_info(const clcnn_context *ctx, clcnn_device_info *info);

/* The message of the last error on ctx; with ctx NULL, the last error of this
 * thread outside any context (e.g. a failed clcnn_context_create). Never NULL. */
const char *clcnn_last_error(const clcnn_context *ctx);

/* Wait for all queued work of the context. */
clcnn_status clcnn_finish(clcnn_context *ctx);

/* Release the device buffers kept in the context's memory pool for reuse. */
void clcnn_context_trim(clcnn_context *ctx);

typedef struct {
    uint64_t pool_bytes_in_use;   /* held by live tensors */
    uint64_t pool_bytes_free;     /* kept for reuse */
    uint64_t device_allocations;  /* clCreateBuffer calls so far */
    uint64_t programs_built;      /* compiled from source */
    uint64_t programs_from_disk;  /* loaded from the binary cache */
} clcnn_context_stats;
void clcnn_context_get_stats(const clcnn_context *ctx, clcnn_context_stats *stats);

/* Raw OpenCL handles of the context, for interoperation (do not release them).
 * Returned as void* so that this header does not need CL/cl.h. */
void *clcnn_context_cl_context(const clcnn_context *ctx);
void *clcnn_context_cl_queue(const clcnn_context *ctx);

/* ---------------------------------------------------------------- tensors -- */

#define CLCNN_MAX_DIMS 6

typedef struct clcnn_tensor clcnn_tensor;

/* A new float32 tensor on the context's device, from the context's memory pool.
 * Its contents are undefined until written. */
clcnn_status clcnn_tensor_create(clcnn_context *ctx, int ndim, const int *shape, clcnn_tensor **t);
/* A tensor over a caller's cl_mem (passed as void*), starting offset_elems floats
 * into it. The caller keeps ownership of the buffer. */
clcnn_status clcnn_tensor_wrap(clcnn_context *ctx, void *cl_mem_buffer, size_t offset_elems,
                               int ndim, const int *shape, clcnn_tensor **t);
void clcnn_tensor_destroy(clcnn_tensor *t);

int clcnn_tensor_ndim(const clcnn_tensor *t);
int clcnn_tensor_dim(const clcnn_tensor *t, int axis); /* negative axis counts from the end */
size_t clcnn_tensor_numel(const clcnn_tensor *t);
/* Change the shape in place; the element count must stay the same. */
clcnn_status clcnn_tensor_reshape(clcnn_tensor *t, int ndim, const int *shape);
/* "[2, 3, 224, 224]" into buf (always terminated). */
const char *clcnn_tensor_shape_str(const clcnn_tensor *t, char *buf, size_t size);

/* Blocking copies between host memory and the whole tensor; count must equal numel. */
clcnn_status clcnn_tensor_write(clcnn_tensor *t, const float *host, size_t count);
clcnn_status clcnn_tensor_read(const clcnn_tensor *t, float *host, size_t count);
clcnn_status clcnn_tensor_fill(clcnn_tensor *t, float value);

/* ------------------------------------------------------------ forward ops -- */
/* Every op writes into an output tensor the caller created with the right shape
 * (the *_output_shape helpers compute it). Ops are enqueued asynchronously on the
 * context's queue; clcnn_tensor_read waits for them. */

typedef enum {
    CLCNN_ACT_NONE = 0,
    CLCNN_ACT_RELU = 1,
    CLCNN_ACT_RELU6 = 2,
    CLCNN_ACT_SIGMOID = 3,
    CLCNN_ACT_SILU = 4,
    CLCNN_ACT_TANH = 5
} clcnn_activation;

typedef struct {
    int stride_h, stride_w;     /* 0 is read as 1 */
    int pad_h, pad_w;
    int dilation_h, dilation_w; /* 0 is read as 1 */
    int groups;                 /* 0 is read as 1 */
} clcnn_conv_params;

/* y = act(conv2d(x, w) + bias + residual). x [N, Cin, H, W], w [Cout, Cin/groups, KH, KW],
 * bias [Cout] or NULL, residual (same shape as y) or NULL, y [N, Cout, OH, OW]. */
clcnn_status clcnn_conv2d(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                          const clcnn_tensor *bias, const clcnn_conv_params *params,
                          const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y);
clcnn_status clcnn_conv2d_output_shape(const clcnn_tensor *x, const clcnn_tensor *w,
                                       const clcnn_conv_params *params, int shape[4]);

/* Inference batch norm over axis 1: y = (x - mean) / sqrt(var + eps) * gamma + beta.
 * x [N, C, ...]; gamma, beta, mean, var [C]. */
clcnn_status clcnn_batchnorm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                             const clcnn_tensor *beta, const clcnn_tensor *mean,
                             const clcnn_tensor *var, float eps, clcnn_tensor *y);
/* Fold an inference batch norm into the convolution before it: w_out [Cout, ...] and
 * b_out [Cout] so that conv(x, w_out) + b_out == batchnorm(conv(x, w) + bias).
 * bias may be NULL. w_out may be w itself. */
clcnn_status clcnn_batchnorm_fold(clcnn_context *ctx, const clcnn_tensor *w, const clcnn_tensor *bias,
                                  const clcnn_tensor *gamma, const clcnn_tensor *beta,
                                  const clcnn_tensor *mean, const clcnn_tensor *var, float eps,
                                  clcnn_tensor *w_out, clcnn_tensor *b_out);

/* y = act(x), any shape (y may be x). */
clcnn_status clcnn_activate(clcnn_context *ctx, const clcnn_tensor *x, clcnn_activation act,
                            clcnn_tensor *y);
/* y = act(a + b), same shapes (y may be a or b). */
clcnn_status clcnn_add(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *b,
                       clcnn_activation act, clcnn_tensor *y);

typedef enum { CLCNN_POOL_MAX = 0, CLCNN_POOL_AVG = 1 } clcnn_pool_mode;

typedef struct {
    clcnn_pool_mode mode;
    int kernel_h, kernel_w;
    int stride_h, stride_w; /* 0 is read as the kernel size, as in PyTorch */
    int pad_h, pad_w;
    int ceil_mode;
    int count_include_pad;  /* average pool: divide by the full window (PyTorch's default 1) */
} clcnn_pool_params;

clcnn_status clcnn_pool2d(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_pool_params *params,
                          clcnn_tensor *y);
clcnn_status clcnn_pool2d_output_shape(const clcnn_tensor *x, const clcnn_pool_params *params,
                                       int shape[4]);
/* x [N, C, H, W] -> y [N, C] (or [N, C, 1, 1]). */
clcnn_status clcnn_global_avg_pool(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y);

/* y = x W^T + bias, as torch.nn.Linear: x [N, K], w [M, K], bias [M] or NULL, y [N, M].
 * x may have more dims; they are flattened after the first. */
clcnn_status clcnn_linear(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                          const clcnn_tensor *bias, clcnn_activation act, clcnn_tensor *y);

/* Squeeze-and-Excitation: s = sigmoid(W2 relu(W1 gap(x) + b1) + b2), y = act(x * s + residual).
 * x [N, C, H, W], w1 [Cr, C] (or [Cr, C, 1, 1]), b1 [Cr], w2 [C, Cr] (or [C, Cr, 1, 1]), b2 [C];
 * residual NULL or shaped as x. act applies after the residual (a ResNet block's final ReLU). */
clcnn_status clcnn_squeeze_excite(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                  const clcnn_tensor *b1, const clcnn_tensor *w2,
                                  const clcnn_tensor *b2, const clcnn_tensor *residual,
                                  clcnn_activation act, clcnn_tensor *y);

/* Softmax (or log-softmax) over the last axis. */
clcnn_status clcnn_softmax(clcnn_context *ctx, const clcnn_tensor *x, int log_softmax, clcnn_tensor *y);

/* Dropout in inference is the identity: y = x. (Training mode belongs to the
 * training API.) */
clcnn_status clcnn_dropout_inference(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y);

/* Bilinear resize of x [N, C, H, W] to y's [N, C, OH, OW], align_corners = false
 * (PyTorch's F.interpolate default). */
clcnn_status clcnn_resize_bilinear(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y);

/* ------------------------------------------------------------------- GEMM -- */

typedef enum {
    CLCNN_GEMM_AUTO = 0,   /* the fastest known backend for the device */
    CLCNN_GEMM_OWN = 1,    /* the project's register-blocked kernel */
    CLCNN_GEMM_CLBLAST = 2 /* CLBlast's SGEMM (CLCNN_ERR_UNSUPPORTED if built without it) */
} clcnn_gemm_backend;

/* C = alpha * op(A) op(B) + beta * C with row-major A [M, K] (or [K, M] if trans_a),
 * B [K, N] (or [N, K] if trans_b), C [M, N]. */
clcnn_status clcnn_gemm(clcnn_context *ctx, clcnn_gemm_backend backend, int trans_a, int trans_b,
                        float alpha, const clcnn_tensor *a, const clcnn_tensor *b, float beta,
                        clcnn_tensor *c);
/* Whether the library was built with CLBlast. */
int clcnn_have_clblast(void);

/* ---------------------------------------------------------------- weights -- */

/* A set of named tensors loaded from a safetensors file (F32; F16 and BF16 are
 * converted on load; integer tensors such as BatchNorm's num_batches_tracked are
 * skipped). Names are kept as in the file (torchvision's state_dict names). */
typedef struct clcnn_weights clcnn_weights;

clcnn_status clcnn_weights_load(clcnn_context *ctx, const char *path, clcnn_weights **weights);
void clcnn_weights_destroy(clcnn_weights *weights);
int clcnn_weights_count(const clcnn_weights *weights);
const char *clcnn_weights_name(const clcnn_weights *weights, int index);
/* The tensor called name, or NULL. The tensor belongs to the weights. */
const clcnn_tensor *clcnn_weights_get(const clcnn_weights *weights, const char *name);
/* A value of the file's __metadata__, or NULL. */
const char *clcnn_weights_metadata(const clcnn_weights *weights, const char *key);

/* ----------------------------------------------------------------- models -- */

typedef struct clcnn_model clcnn_model;

/* An inference ResNet (basic or bottleneck blocks, optional Squeeze-and-Excitation
 * as block.se.fc1/fc2) built from weights with torchvision's names: conv1, bn1,
 * layer1..layerN (as many as the weights hold), fc. Batch norms are folded into the
 * convolutions. The model keeps its own copies: weights may be destroyed after. */
clcnn_status clcnn_resnet_create(clcnn_context *ctx, const clcnn_weights *weights, clcnn_model **model);
void clcnn_model_destroy(clcnn_model *model);
int clcnn_model_num_classes(const clcnn_model *model);
/* logits [N, classes] for x [N, 3, H, W]. */
clcnn_status clcnn_model_forward(clcnn_model *model, const clcnn_tensor *x, clcnn_tensor *logits);

#ifdef __cplusplus
}
#endif
#endif /* CLCNN_H */
