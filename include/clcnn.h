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

/* The version, defined here only (the Makefile reads it for clcnn.pc); at run time
 * clcnn_version() says which library was loaded, as "MAJOR.MINOR.PATCH". */
#define CLCNN_VERSION_MAJOR 0
#define CLCNN_VERSION_MINOR 2
#define CLCNN_VERSION_PATCH 0

/* What libclcnn.so exports: exactly the functions declared here (the library is built
 * with -fvisibility=hidden; tests/test_api.c checks the list). */
#if defined(__GNUC__) || defined(__clang__)
#define CLCNN_API __attribute__((visibility("default")))
#else
#define CLCNN_API
#endif

CLCNN_API const char *clcnn_version(void);

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
    CLCNN_ERR_NOT_FOUND = -20010,        /* a named thing (tensor, kernel, file) is absent */
    CLCNN_ERR_NUMERICS = -20011,         /* a NaN or Inf where a finite value is needed */
    CLCNN_ERR_DISTRIBUTED = -20012       /* a collective over the ranks failed or timed out */
};

/* A short fixed description of a status code ("shape mismatch", "CL_OUT_OF_RESOURCES"). */
CLCNN_API const char *clcnn_status_str(clcnn_status status);

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
CLCNN_API void clcnn_set_log_callback(clcnn_log_fn fn, void *user, clcnn_log_level min_level);

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
    unsigned vendor_id;        /* CL_DEVICE_VENDOR_ID: 0x10de NVIDIA, 0x1002 AMD, 0x8086 Intel */
    int unified_memory;        /* shares the host's memory: an integrated GPU (or a CPU) */
    int software;              /* a software rasteriser (llvmpipe, softpipe, SwiftShader) */
    double est_gflops;         /* the fp32 estimate that ranks devices: units x lanes x 2 x clock */
} clcnn_device_info;

/* Number of OpenCL devices across all platforms (0 is not an error here). */
CLCNN_API clcnn_status clcnn_device_count(int *count);
CLCNN_API clcnn_status clcnn_device_get_info(int index, clcnn_device_info *info);

/* Resolve a device spec: an index ("0"), "gpu", "cpu", or a case-insensitive part
 * of the platform, vendor or device name. NULL or "" means the default: the
 * environment variable CLCNN_DEVICE if set, else the first of these that exists:
 * the fastest discrete GPU, integrated GPU, CPU, other device, by est_gflops. A
 * software rasteriser (llvmpipe, SwiftShader) comes last: only a spec names it. */
CLCNN_API clcnn_status clcnn_device_select(const char *spec, int *index);
/* The same for one of several processes training together (clcnn_dist_local_rank):
 * spec or CLCNN_DEVICE when given; else the (local_rank mod count)-th of this machine's
 * GPUs in the order above, software rasterisers aside, or without one the default. */
CLCNN_API clcnn_status clcnn_device_select_rank(const char *spec, int local_rank, int *index);

/* ---------------------------------------------------------------- context -- */

typedef struct clcnn_context clcnn_context;

/* A context on one device with its own in-order queue, program cache, memory pool
 * and last-error message. device_index < 0 selects the default device. */
CLCNN_API clcnn_status clcnn_context_create(int device_index, clcnn_context **ctx);
CLCNN_API void clcnn_context_destroy(clcnn_context *ctx);
CLCNN_API clcnn_status clcnn_context_get_device_info(const clcnn_context *ctx, clcnn_device_info *info);

/* The message of the last error on ctx; with ctx NULL, the last error of this
 * thread outside any context (e.g. a failed clcnn_context_create). Never NULL. */
CLCNN_API const char *clcnn_last_error(const clcnn_context *ctx);

/* Wait for all queued work of the context. */
CLCNN_API clcnn_status clcnn_finish(clcnn_context *ctx);

/* Release the device buffers kept in the context's memory pool for reuse. */
CLCNN_API void clcnn_context_trim(clcnn_context *ctx);

typedef struct {
    uint64_t pool_bytes_in_use;   /* held by live tensors */
    uint64_t pool_bytes_free;     /* kept for reuse */
    uint64_t device_allocations;  /* clCreateBuffer calls so far */
    uint64_t programs_built;      /* compiled from source */
    uint64_t programs_from_disk;  /* loaded from the binary cache */
} clcnn_context_stats;
CLCNN_API void clcnn_context_get_stats(const clcnn_context *ctx, clcnn_context_stats *stats);

/* Raw OpenCL handles of the context, for interoperation (do not release them).
 * Returned as void* so that this header does not need CL/cl.h. */
CLCNN_API void *clcnn_context_cl_context(const clcnn_context *ctx);
CLCNN_API void *clcnn_context_cl_queue(const clcnn_context *ctx);

/* ---------------------------------------------------------------- tensors -- */

#define CLCNN_MAX_DIMS 6

typedef struct clcnn_tensor clcnn_tensor;

/* A new float32 tensor on the context's device, from the context's memory pool.
 * Its contents are undefined until written. */
CLCNN_API clcnn_status clcnn_tensor_create(clcnn_context *ctx, int ndim, const int *shape, clcnn_tensor **t);
/* A tensor over a caller's cl_mem (passed as void*), starting offset_elems floats
 * into it. The caller keeps ownership of the buffer. */
CLCNN_API clcnn_status clcnn_tensor_wrap(clcnn_context *ctx, void *cl_mem_buffer, size_t offset_elems, int ndim,
                                         const int *shape, clcnn_tensor **t);
CLCNN_API void clcnn_tensor_destroy(clcnn_tensor *t);

CLCNN_API int clcnn_tensor_ndim(const clcnn_tensor *t);
CLCNN_API int clcnn_tensor_dim(const clcnn_tensor *t, int axis); /* negative axis counts from the end */
CLCNN_API size_t clcnn_tensor_numel(const clcnn_tensor *t);
/* Change the shape in place; the element count must stay the same. */
CLCNN_API clcnn_status clcnn_tensor_reshape(clcnn_tensor *t, int ndim, const int *shape);
/* "[2, 3, 224, 224]" into buf (always terminated). */
CLCNN_API const char *clcnn_tensor_shape_str(const clcnn_tensor *t, char *buf, size_t size);

/* Blocking copies between host memory and the whole tensor; count must equal numel. */
CLCNN_API clcnn_status clcnn_tensor_write(clcnn_tensor *t, const float *host, size_t count);
CLCNN_API clcnn_status clcnn_tensor_read(const clcnn_tensor *t, float *host, size_t count);
CLCNN_API clcnn_status clcnn_tensor_fill(clcnn_tensor *t, float value);

/* ------------------------------------------------------------ forward ops -- */
/* Every op writes into an output tensor the caller created with the right shape
 * (the *_output_shape helpers compute it). Ops are enqueued asynchronously on the
 * context's queue; clcnn_tensor_read waits for them. */

/* The activations, one line each: X(NAME, code, "name", from_output), from_output 1
 * when the gradient follows from the output alone. The enum below, the names
 * (clcnn_activation_name) and the kernels' ACT_NAME defines (build/gen/defines.cl, made
 * by scripts/cl_defines.c) come from this list: a new activation is a line here, its
 * formula in cl/common.cl's apply_act, its derivative in cl/eltwise.cl's act_grad and
 * both in tests/ref. */
#define CLCNN_ACTIVATIONS(X)       \
    X(NONE, 0, "identity", 1)      \
    X(RELU, 1, "relu", 1)          \
    X(RELU6, 2, "relu6", 1)        \
    X(SIGMOID, 3, "sigmoid", 1)    \
    X(SILU, 4, "silu", 0)          \
    X(TANH, 5, "tanh", 1)          \
    X(HARDSWISH, 6, "hardswish", 0) \
    X(HARDSIGMOID, 7, "hardsigmoid", 1)
typedef enum {
#define CLCNN_ACT_ENUM_(name, code, text, from_output) CLCNN_ACT_##name = code,
    CLCNN_ACTIVATIONS(CLCNN_ACT_ENUM_)
#undef CLCNN_ACT_ENUM_
    CLCNN_ACT_COUNT /* how many there are: the codes are 0 .. CLCNN_ACT_COUNT - 1 */
} clcnn_activation;
/* "identity", "relu", ...; "?" for a code outside the list. */
CLCNN_API const char *clcnn_activation_name(clcnn_activation act);
/* 1 when act's gradient follows from its output alone (so that it can be fused into a
 * layer that keeps only its output), 0 otherwise and for an unknown code. */
CLCNN_API int clcnn_activation_from_output(clcnn_activation act);

/* How a convolution is computed. DEFAULT: the library's choice ($CLCNN_CONV_ALGO, else
 * the winner clcnn_tune stored for the shape, else a rule measured per device family;
 * docs/PERFORMANCE.md). Another value forces that algorithm where it applies and falls
 * back to the choice where it does not. */
typedef enum {
    CLCNN_CONV_ALGO_DEFAULT = 0,
    CLCNN_CONV_ALGO_IM2COL = 1,   /* im2col + GEMM (1x1 stride-1 unpadded: GEMM on x itself) */
    CLCNN_CONV_ALGO_WINOGRAD = 2, /* F(4x4, 3x3): 3x3, stride 1, dilation 1, groups 1 */
    CLCNN_CONV_ALGO_DEPTHWISE = 3 /* groups == Cin == Cout */
} clcnn_conv_algo;

typedef struct {
    int stride_h, stride_w;     /* 0 is read as 1 */
    int pad_h, pad_w;
    int dilation_h, dilation_w; /* 0 is read as 1 */
    int groups;                 /* 0 is read as 1 */
    clcnn_conv_algo algo;       /* 0: the library's choice; forward and backward alike */
} clcnn_conv_params;

/* y = act(conv2d(x, w) + bias + residual). x [N, Cin, H, W], w [Cout, Cin/groups, KH, KW],
 * bias [Cout] or NULL, residual (same shape as y) or NULL, y [N, Cout, OH, OW]. */
CLCNN_API clcnn_status clcnn_conv2d(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                    const clcnn_tensor *bias, const clcnn_conv_params *params,
                                    const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y);
CLCNN_API clcnn_status clcnn_conv2d_output_shape(const clcnn_tensor *x, const clcnn_tensor *w,
                                                 const clcnn_conv_params *params, int shape[4]);

/* Inference batch norm over axis 1: y = (x - mean) / sqrt(var + eps) * gamma + beta.
 * x [N, C, ...]; gamma, beta, mean, var [C]. */
CLCNN_API clcnn_status clcnn_batchnorm(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                                       const clcnn_tensor *beta, const clcnn_tensor *mean, const clcnn_tensor *var,
                                       float eps, clcnn_tensor *y);
/* Fold an inference batch norm into the convolution before it: w_out [Cout, ...] and
 * b_out [Cout] so that conv(x, w_out) + b_out == batchnorm(conv(x, w) + bias).
 * bias may be NULL. w_out may be w itself. */
CLCNN_API clcnn_status clcnn_batchnorm_fold(clcnn_context *ctx, const clcnn_tensor *w, const clcnn_tensor *bias,
                                            const clcnn_tensor *gamma, const clcnn_tensor *beta,
                                            const clcnn_tensor *mean, const clcnn_tensor *var, float eps,
                                            clcnn_tensor *w_out, clcnn_tensor *b_out);

/* y = act(x), any shape (y may be x). */
CLCNN_API clcnn_status clcnn_activate(clcnn_context *ctx, const clcnn_tensor *x, clcnn_activation act, clcnn_tensor *y);
/* y = act(a + b), same shapes (y may be a or b). */
CLCNN_API clcnn_status clcnn_add(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *b,
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

CLCNN_API clcnn_status clcnn_pool2d(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_pool_params *params,
                                    clcnn_tensor *y);
CLCNN_API clcnn_status clcnn_pool2d_output_shape(const clcnn_tensor *x, const clcnn_pool_params *params, int shape[4]);
/* x [N, C, H, W] -> y [N, C] (or [N, C, 1, 1]). */
CLCNN_API clcnn_status clcnn_global_avg_pool(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y);

/* y = x W^T + bias, as torch.nn.Linear: x [N, K], w [M, K], bias [M] or NULL, y [N, M].
 * x may have more dims; they are flattened after the first. */
CLCNN_API clcnn_status clcnn_linear(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                    const clcnn_tensor *bias, clcnn_activation act, clcnn_tensor *y);

/* Squeeze-and-Excitation: s = sigmoid(W2 relu(W1 gap(x) + b1) + b2), y = act(x * s + residual).
 * x [N, C, H, W], w1 [Cr, C] (or [Cr, C, 1, 1]), b1 [Cr], w2 [C, Cr] (or [C, Cr, 1, 1]), b2 [C];
 * residual NULL or shaped as x. act applies after the residual (a ResNet block's final ReLU). */
CLCNN_API clcnn_status clcnn_squeeze_excite(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                            const clcnn_tensor *b1, const clcnn_tensor *w2, const clcnn_tensor *b2,
                                            const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y);
/* The same with other activations between fc1 and fc2 (inner; EfficientNet's is SiLU)
 * and after fc2 (gate: sigmoid or MobileNetV3's hardsigmoid, whose gradients follow from
 * their output): s = gate(W2 inner(W1 gap(x) + b1) + b2). */
CLCNN_API clcnn_status clcnn_squeeze_excite_ex(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w1,
                                               const clcnn_tensor *b1, const clcnn_tensor *w2, const clcnn_tensor *b2,
                                               clcnn_activation inner, clcnn_activation gate,
                                               const clcnn_tensor *residual, clcnn_activation act, clcnn_tensor *y);

/* y = [a, b] along the channels (dimension 1), as torch.cat(dim=1): a [N, Ca, ...], b
 * [N, Cb, ...] with the same trailing dimensions, y [N, Ca + Cb, ...], rank 2 to 4; y
 * must not overlap a or b. */
CLCNN_API clcnn_status clcnn_concat(clcnn_context *ctx, const clcnn_tensor *a, const clcnn_tensor *b,
                                    clcnn_tensor *y);
/* Its backward: da (+)= dy's first Ca channels, db (+)= its last Cb (either may be NULL;
 * accumulate_* add to what is there). */
CLCNN_API clcnn_status clcnn_concat_backward(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *da,
                                             int accumulate_a, clcnn_tensor *db, int accumulate_b);

/* Softmax (or log-softmax) over the last axis. */
CLCNN_API clcnn_status clcnn_softmax(clcnn_context *ctx, const clcnn_tensor *x, int log_softmax, clcnn_tensor *y);

/* Dropout in inference is the identity: y = x. */
CLCNN_API clcnn_status clcnn_dropout_inference(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y);
/* Training dropout with inverted scaling: y = x * keep / (1 - p), where keep is 0 with
 * probability p. The mask is a pure function of (seed, element index), so the same
 * seed gives the same mask on every device and run, and the backward pass recomputes
 * it instead of storing it. 0 <= p < 1 (y may be x). */
CLCNN_API clcnn_status clcnn_dropout(clcnn_context *ctx, const clcnn_tensor *x, float p, uint64_t seed,
                                     clcnn_tensor *y);

/* Bilinear resize of x [N, C, H, W] to y's [N, C, OH, OW], align_corners = false
 * (PyTorch's F.interpolate default). */
CLCNN_API clcnn_status clcnn_resize_bilinear(clcnn_context *ctx, const clcnn_tensor *x, clcnn_tensor *y);

/* ----------------------------------------------------------- backward ops -- */
/* The gradient dy (shaped as the forward's output) flows back to the inputs. Every
 * backward op follows the same rules:
 *  - dx (the gradient of the data input) is overwritten, or added to when
 *    `accumulate` is nonzero (a tensor used by two layers sums both gradients);
 *  - parameter gradients (dw, db, dgamma, dbeta, ...) are always added to, as in
 *    PyTorch: they accumulate until the caller zeroes them;
 *  - any gradient output may be NULL to skip computing it. */

/* Backward of clcnn_conv2d without bias/residual/activation (those are separate).
 * x is needed only for dw (may be NULL otherwise); w always (dx needs it, and it gives
 * the shapes); dx [N, Cin, H, W], dw like w, db [Cout]. */
CLCNN_API clcnn_status clcnn_conv2d_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                             const clcnn_conv_params *params, const clcnn_tensor *dy,
                                             clcnn_tensor *dx, int accumulate, clcnn_tensor *dw, clcnn_tensor *db);

/* Training batch norm over axis 1 of x [N, C, ...]: the batch's mean and biased
 * variance normalise x; running_mean and running_var (may be NULL) are updated in
 * place with momentum as PyTorch does (r = (1 - momentum) r + momentum s, with the
 * unbiased variance for running_var). save_mean and save_invstd [C] receive the
 * batch mean and 1/sqrt(var + eps) for the backward pass. */
CLCNN_API clcnn_status clcnn_batchnorm_train(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                                             const clcnn_tensor *beta, clcnn_tensor *running_mean,
                                             clcnn_tensor *running_var, float momentum, float eps, clcnn_tensor *y,
                                             clcnn_tensor *save_mean, clcnn_tensor *save_invstd);
/* invstd = 1 / sqrt(var + eps), [C]: the statistics a frozen (eval-mode) batch norm
 * hands to clcnn_batchnorm_backward. */
CLCNN_API clcnn_status clcnn_batchnorm_invstd(clcnn_context *ctx, const clcnn_tensor *var, float eps,
                                              clcnn_tensor *invstd);
/* Backward of batch norm. batch_stats != 0: mean/invstd are the batch's own (from
 * clcnn_batchnorm_train) and their dependence on x is differentiated; batch_stats == 0:
 * they are constants (running statistics of a frozen batch norm). */
CLCNN_API clcnn_status clcnn_batchnorm_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *gamma,
                                                const clcnn_tensor *mean, const clcnn_tensor *invstd, int batch_stats,
                                                const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate,
                                                clcnn_tensor *dgamma, clcnn_tensor *dbeta);
/* The same for relu(batch norm(x)) in one go: dy is the gradient of the ReLU's output,
 * and where the norm's output (x - mean) * gamma * invstd + beta is not above 0 it
 * counts as 0, as the ReLU's backward would make it. The mask is computed again from x
 * with the forward's expression, so neither the ReLU's output nor a pass over it is
 * needed (the graph's training backward uses this for every batch norm a ReLU reads). */
CLCNN_API clcnn_status clcnn_batchnorm_relu_backward(clcnn_context *ctx, const clcnn_tensor *x,
                                                     const clcnn_tensor *gamma, const clcnn_tensor *beta,
                                                     const clcnn_tensor *mean, const clcnn_tensor *invstd,
                                                     int batch_stats, const clcnn_tensor *dy, clcnn_tensor *dx,
                                                     int accumulate, clcnn_tensor *dgamma, clcnn_tensor *dbeta);

/* The same for act(batch norm(x)), act CLCNN_ACT_RELU or CLCNN_ACT_RELU6 (whose
 * gradient passes where the norm's output is above 0 and below 6, as PyTorch's
 * hardtanh backward); clcnn_batchnorm_relu_backward is this with ReLU. */
CLCNN_API clcnn_status clcnn_batchnorm_act_backward(clcnn_context *ctx, clcnn_activation act, const clcnn_tensor *x,
                                                    const clcnn_tensor *gamma, const clcnn_tensor *beta,
                                                    const clcnn_tensor *mean, const clcnn_tensor *invstd,
                                                    int batch_stats, const clcnn_tensor *dy, clcnn_tensor *dx,
                                                    int accumulate, clcnn_tensor *dgamma, clcnn_tensor *dbeta);

/* Backward of y = act(x). x is the activation's input and y its output; ReLU, ReLU6,
 * sigmoid and tanh need only y (x may be NULL), SiLU needs x (y may be NULL). */
CLCNN_API clcnn_status clcnn_activate_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *y,
                                               clcnn_activation act, const clcnn_tensor *dy, clcnn_tensor *dx,
                                               int accumulate);

/* Backward of clcnn_pool2d. Max pooling recomputes the window maxima from x (the first
 * maximum wins ties, as PyTorch); average pooling needs only the shapes (x may be NULL). */
CLCNN_API clcnn_status clcnn_pool2d_backward(clcnn_context *ctx, const clcnn_tensor *x,
                                             const clcnn_pool_params *params, const clcnn_tensor *dy,
                                             clcnn_tensor *dx, int accumulate);
/* Backward of clcnn_global_avg_pool: dx [N, C, H, W] = dy [N, C] / (H W). */
CLCNN_API clcnn_status clcnn_global_avg_pool_backward(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *dx,
                                                      int accumulate);

/* Backward of clcnn_linear without activation: dx [N, K] = dy W, dw [M, K] += dy^T x,
 * db [M] += sum over rows of dy. x may be NULL if dw is NULL. */
CLCNN_API clcnn_status clcnn_linear_backward(clcnn_context *ctx, const clcnn_tensor *x, const clcnn_tensor *w,
                                             const clcnn_tensor *dy, clcnn_tensor *dx, int accumulate,
                                             clcnn_tensor *dw, clcnn_tensor *db);

/* Backward of Squeeze-and-Excitation's z = x * s(x) (before any residual or activation,
 * which the caller differentiates). The squeeze s is recomputed from x and the weights. */
CLCNN_API clcnn_status clcnn_squeeze_excite_backward(clcnn_context *ctx, const clcnn_tensor *x,
                                                     const clcnn_tensor *w1, const clcnn_tensor *b1,
                                                     const clcnn_tensor *w2, const clcnn_tensor *b2,
                                                     const clcnn_tensor *dz, clcnn_tensor *dx, int accumulate,
                                                     clcnn_tensor *dw1, clcnn_tensor *db1, clcnn_tensor *dw2,
                                                     clcnn_tensor *db2);
/* The backward of clcnn_squeeze_excite_ex with the same inner and gate activations. */
CLCNN_API clcnn_status clcnn_squeeze_excite_ex_backward(clcnn_context *ctx, const clcnn_tensor *x,
                                                        const clcnn_tensor *w1, const clcnn_tensor *b1,
                                                        const clcnn_tensor *w2, const clcnn_tensor *b2,
                                                        clcnn_activation inner, clcnn_activation gate,
                                                        const clcnn_tensor *dz,
                                                        clcnn_tensor *dx, int accumulate, clcnn_tensor *dw1,
                                                        clcnn_tensor *db1, clcnn_tensor *dw2, clcnn_tensor *db2);

/* Backward of clcnn_dropout with the same p and seed. */
CLCNN_API clcnn_status clcnn_dropout_backward(clcnn_context *ctx, const clcnn_tensor *dy, float p, uint64_t seed,
                                              clcnn_tensor *dx, int accumulate);
/* Stochastic depth (torchvision.ops.StochasticDepth, mode "row"), in training: each
 * sample (index of the first dimension) of x is dropped whole with probability p, the
 * kept ones scaled by 1 / (1 - p); 0 <= p < 1. The mask follows from seed and the sample
 * index alone, as dropout's from seed and the element index. The backward with the same
 * p and seed applies the same mask to dy. */
CLCNN_API clcnn_status clcnn_stochastic_depth(clcnn_context *ctx, const clcnn_tensor *x, float p, uint64_t seed,
                                              clcnn_tensor *y);
CLCNN_API clcnn_status clcnn_stochastic_depth_backward(clcnn_context *ctx, const clcnn_tensor *dy, float p,
                                                       uint64_t seed, clcnn_tensor *dx, int accumulate);

/* Backward of clcnn_resize_bilinear: dy [N, C, OH, OW] -> dx [N, C, H, W]. */
CLCNN_API clcnn_status clcnn_resize_bilinear_backward(clcnn_context *ctx, const clcnn_tensor *dy, clcnn_tensor *dx,
                                                      int accumulate);

/* ----------------------------------------------------------------- losses -- */
/* Each loss writes its mean value to loss [1] and, unless dlogits is NULL, its
 * gradient with respect to the logits (overwritten) — forward and backward in one pass. */

/* Softmax cross-entropy as torch.nn.CrossEntropyLoss(weight, label_smoothing), mean
 * reduction: logits [N, C], labels [N] class indices stored as floats, class_weights
 * [C] or NULL. With weights the mean divides by the sum of the labels' weights. */
CLCNN_API clcnn_status clcnn_cross_entropy(clcnn_context *ctx, const clcnn_tensor *logits, const clcnn_tensor *labels,
                                           const clcnn_tensor *class_weights, float label_smoothing,
                                           clcnn_tensor *loss, clcnn_tensor *dlogits);
/* Binary cross-entropy on logits as torch.nn.BCEWithLogitsLoss, mean over all
 * elements: logits and targets (in [0, 1]) of the same shape. */
CLCNN_API clcnn_status clcnn_bce_with_logits(clcnn_context *ctx, const clcnn_tensor *logits,
                                             const clcnn_tensor *targets, clcnn_tensor *loss, clcnn_tensor *dlogits);

/* ------------------------------------------------------------- optimizers -- */

typedef enum { CLCNN_OPT_SGD = 0, CLCNN_OPT_ADAM = 1, CLCNN_OPT_ADAMW = 2 } clcnn_optimizer_kind;

/* PyTorch's torch.optim.SGD / Adam / AdamW hyper-parameters. */
typedef struct {
    clcnn_optimizer_kind kind;
    float lr;
    float momentum, dampening; /* SGD */
    int nesterov;              /* SGD */
    float weight_decay;        /* SGD, Adam: added to the gradient; AdamW: decoupled */
    float beta1, beta2, eps;   /* Adam, AdamW */
} clcnn_optimizer_params;

/* PyTorch's defaults for kind: SGD lr 0.01 (PyTorch has none; 0.01 is customary),
 * momentum 0; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0; AdamW the
 * same with weight decay 1e-2. */
CLCNN_API clcnn_optimizer_params clcnn_optimizer_defaults(clcnn_optimizer_kind kind);

/* One update of param from grad, on the device, with step the 1-based step count and lr
 * this step's learning rate (from a schedule). State tensors are shaped as param and
 * zeroed by the caller before the first step: SGD uses state1 as its momentum buffer
 * (may be NULL when momentum is 0); Adam/AdamW use state1 = m and state2 = v.
 * grad_scale: NULL, or a tensor whose element 1 (as written by
 * clcnn_grad_norm_clip) multiplies the gradient (gradient clipping without a host
 * round trip). */
CLCNN_API clcnn_status clcnn_optimizer_step(clcnn_context *ctx, const clcnn_optimizer_params *params, int step,
                                            float lr, clcnn_tensor *param, const clcnn_tensor *grad,
                                            clcnn_tensor *state1, clcnn_tensor *state2, const clcnn_tensor *grad_scale);

/* Global gradient-norm clipping as torch.nn.utils.clip_grad_norm_: out [2] receives
 * the total L2 norm of all n gradients (element 0) and the factor
 * min(1, max_norm / (norm + 1e-6)) (element 1), for clcnn_optimizer_step's grad_scale. */
CLCNN_API clcnn_status clcnn_grad_norm_clip(clcnn_context *ctx, int n, const clcnn_tensor *const *grads,
                                            float max_norm, clcnn_tensor *out);

/* Learning-rate schedules, evaluated on the host per step (0-based). */
typedef enum { CLCNN_SCHEDULE_CONSTANT = 0, CLCNN_SCHEDULE_STEP = 1, CLCNN_SCHEDULE_COSINE = 2 } clcnn_schedule_kind;
typedef struct {
    clcnn_schedule_kind kind;
    float base_lr;
    int warmup_steps;  /* linear warm-up from base_lr / warmup_steps to base_lr, then the schedule */
    int total_steps;   /* cosine: steps from the end of warm-up to min_lr */
    int step_size;     /* step: multiply by gamma every step_size steps after warm-up */
    float gamma;
    float min_lr;      /* cosine's floor (PyTorch's eta_min) */
} clcnn_schedule;
CLCNN_API float clcnn_schedule_lr(const clcnn_schedule *schedule, int step);

/* ------------------------------------------------------------------- GEMM -- */

typedef enum {
    CLCNN_GEMM_AUTO = 0,   /* the fastest known backend for the device */
    CLCNN_GEMM_OWN = 1,    /* the project's register-blocked kernel */
    CLCNN_GEMM_CLBLAST = 2 /* CLBlast's SGEMM (CLCNN_ERR_UNSUPPORTED if built without it) */
} clcnn_gemm_backend;

/* C = alpha * op(A) op(B) + beta * C with row-major A [M, K] (or [K, M] if trans_a),
 * B [K, N] (or [N, K] if trans_b), C [M, N]. */
CLCNN_API clcnn_status clcnn_gemm(clcnn_context *ctx, clcnn_gemm_backend backend, int trans_a, int trans_b,
                                  float alpha, const clcnn_tensor *a, const clcnn_tensor *b, float beta,
                                  clcnn_tensor *c);
/* Whether the library was built with CLBlast. */
CLCNN_API int clcnn_have_clblast(void);

/* ------------------------------------------------------------------ graph -- */
/* A network as a list of named layers. Each layer's output tensor carries the layer's
 * name; its parameters are called NAME.weight, NAME.bias and, for batch norm,
 * NAME.running_mean and NAME.running_var: torchvision's state_dict names when the
 * layers are named as torchvision names its modules (conv1, layer1.0.bn2, fc, ...).
 * Layers read earlier layers by name; "input" is the graph's input. The last layer
 * added is the output. Shapes are per sample ([C, H, W] or [F]); the batch size comes
 * with each forward pass. */

typedef struct clcnn_graph clcnn_graph;

/* An empty graph whose input is [N, channels, height, width]. seed drives parameter
 * initialisation and dropout masks. */
CLCNN_API clcnn_status clcnn_graph_create(clcnn_context *ctx, int channels, int height, int width, uint64_t seed,
                                          clcnn_graph **graph);
CLCNN_API void clcnn_graph_destroy(clcnn_graph *graph);
CLCNN_API clcnn_context *clcnn_graph_context(const clcnn_graph *graph);

/* Layers. Fresh parameters are initialised as torchvision's ResNets do: convolution
 * weights Kaiming-normal (fan-out, ReLU gain), convolution and linear biases and linear
 * weights uniform in +-1/sqrt(fan-in), batch norm weight 1, bias 0, running mean 0,
 * running variance 1. */
CLCNN_API clcnn_status clcnn_graph_conv2d(clcnn_graph *g, const char *name, const char *input, int out_channels,
                                          int kernel_h, int kernel_w, const clcnn_conv_params *params, int bias);
/* Batch norm over channels (eps 1e-5, momentum 0.1, as torch.nn.BatchNorm2d). */
CLCNN_API clcnn_status clcnn_graph_batchnorm(clcnn_graph *g, const char *name, const char *input);
/* The same with another eps (0 < eps < 1) and momentum (0 to 1): torchvision's
 * EfficientNet-B5 to B7 use 1e-3 and 0.01. */
CLCNN_API clcnn_status clcnn_graph_batchnorm_ex(clcnn_graph *g, const char *name, const char *input, float eps,
                                                float momentum);
CLCNN_API clcnn_status clcnn_graph_activation(clcnn_graph *g, const char *name, const char *input,
                                              clcnn_activation act);
/* act(a + b); act is one whose gradient follows from its output (none, ReLU, ReLU6,
 * sigmoid, tanh). */
CLCNN_API clcnn_status clcnn_graph_add(clcnn_graph *g, const char *name, const char *a, const char *b,
                                       clcnn_activation act);
CLCNN_API clcnn_status clcnn_graph_pool2d(clcnn_graph *g, const char *name, const char *input,
                                          const clcnn_pool_params *params);
/* [C, H, W] -> [C]. */
CLCNN_API clcnn_status clcnn_graph_global_avg_pool(clcnn_graph *g, const char *name, const char *input);
/* torch.nn.Linear on the flattened input. */
CLCNN_API clcnn_status clcnn_graph_linear(clcnn_graph *g, const char *name, const char *input, int out_features,
                                          int bias);
CLCNN_API clcnn_status clcnn_graph_dropout(clcnn_graph *g, const char *name, const char *input, float p);
/* The channels of layers a and b joined, [a, b] (torch.cat(dim=1)): their per-sample
 * shapes agree but for the channels. More branches join pairwise, cat(cat(a, b), c). */
CLCNN_API clcnn_status clcnn_graph_concat(clcnn_graph *g, const char *name, const char *a, const char *b);
/* Stochastic depth with rate p (0 <= p < 1) on a residual branch: in training each
 * sample is dropped whole with probability p and the others scaled by 1 / (1 - p); the
 * identity in evaluation (torchvision.ops.StochasticDepth(p, "row")). No parameters. */
CLCNN_API clcnn_status clcnn_graph_stochastic_depth(clcnn_graph *g, const char *name, const char *input, float p);
/* Set dropout or stochastic-depth layer NAME's rate p (0 <= p < 1) in a built graph, as
 * torch's module.p = p: e.g. 0 to fine-tune without MobileNetV2's classifier.0. */
CLCNN_API clcnn_status clcnn_graph_set_dropout(clcnn_graph *g, const char *name, float p);
/* Squeeze-and-Excitation with `reduced` hidden channels, parameters NAME.fc1.* and
 * NAME.fc2.* shaped as 1x1 convolutions; y = act(x * s + residual), residual NULL or
 * the name of a layer shaped as x; act as for clcnn_graph_add. */
CLCNN_API clcnn_status clcnn_graph_squeeze_excite(clcnn_graph *g, const char *name, const char *input, int reduced,
                                                  const char *residual, clcnn_activation act);
/* The same with other activations between fc1 and fc2 (inner: EfficientNet's SiLU) and
 * after fc2 (gate: sigmoid, or MobileNetV3's hardsigmoid). */
CLCNN_API clcnn_status clcnn_graph_squeeze_excite_ex(clcnn_graph *g, const char *name, const char *input, int reduced,
                                                     clcnn_activation inner, clcnn_activation gate,
                                                     const char *residual, clcnn_activation act);

typedef struct {
    const char *name;
    const char *kind;   /* "conv2d", "batchnorm", "relu", "add", "maxpool", ... */
    int ndim;           /* per-sample output shape */
    int shape[3];
    size_t params;      /* trainable parameter count */
} clcnn_layer_info;
CLCNN_API int clcnn_graph_layer_count(const clcnn_graph *g);
CLCNN_API clcnn_status clcnn_graph_layer(const clcnn_graph *g, int index, clcnn_layer_info *info);
/* The layer called name, or else the last layer inside it (name followed by '.'), as a
 * torch module's output is its last submodule's: "layer4" is the last block, layer4.1
 * in a ResNet-18. Returns its index and fills *info, or returns -1. */
CLCNN_API int clcnn_graph_find_layer(const clcnn_graph *g, const char *name, clcnn_layer_info *info);

/* Training mode: batch norms use and update batch statistics, dropout drops.
 * Evaluation mode (the default): running statistics, no dropout; each batch norm that
 * follows a convolution is folded into it and a following activation or residual add
 * runs in the convolution's epilogue (docs/PERFORMANCE.md; CLCNN_FUSE=0 turns this
 * off). With CLCNN_CHECK_NUMERICS=1 in the environment when the graph is created,
 * every forward and backward checks each layer's result and the first NaN or Inf is
 * CLCNN_ERR_NUMERICS naming the layer (docs/RELIABILITY.md). */
CLCNN_API void clcnn_graph_set_training(clcnn_graph *g, int training);
CLCNN_API int clcnn_graph_is_training(const clcnn_graph *g);

/* Run the graph on x [N, C, H, W]. *output (may be NULL) receives the output layer's
 * tensor, which belongs to the graph and stays valid until the next forward. */
CLCNN_API clcnn_status clcnn_graph_forward(clcnn_graph *g, const clcnn_tensor *x, const clcnn_tensor **output);
/* The output of the named layer from the last forward pass, or NULL. A layer that
 * fusion skipped in an evaluation forward is computed on request (NULL if that fails). */
CLCNN_API const clcnn_tensor *clcnn_graph_tensor(const clcnn_graph *g, const char *name);

/* Back-propagate dout (the gradient of the loss with respect to the output, shaped as
 * it) after a forward pass: parameter gradients are added to those of every parameter
 * that is not frozen; layers below which nothing needs a gradient are not visited. */
CLCNN_API clcnn_status clcnn_graph_backward(clcnn_graph *g, const clcnn_tensor *dout);
/* An auxiliary classifier head (Inception-v3's AuxLogits, built by the zoo at 299²):
 * the last layer under `module` is a second output, beside the main one, whose loss
 * the trainer adds to the main loss times weight (torchvision's recipe: 0.4). weight 0
 * turns it off; its parameters then do not learn (the zoo builds them so). Evaluation
 * ignores it either way. Set it before making the trainer: the trainer's parameter list
 * is made then. CLCNN_ERR_NOT_FOUND if no layer is under module. */
CLCNN_API clcnn_status clcnn_graph_set_aux_head(clcnn_graph *g, const char *module, float weight);
/* The auxiliary head's module (NULL if none is set), its weight and output layer's name
 * (either pointer may be NULL). */
CLCNN_API const char *clcnn_graph_aux_head(const clcnn_graph *g, float *weight, const char **output);
/* clcnn_graph_backward, with aux_dout (shaped as the auxiliary head's output) back-
 * propagated from that head in the same pass. */
CLCNN_API clcnn_status clcnn_graph_backward_aux(clcnn_graph *g, const clcnn_tensor *dout,
                                                const clcnn_tensor *aux_dout);
/* The gradient of sum(dout * output) with respect to the named layer's output, without
 * any parameter gradient (what Grad-CAM needs). *grad belongs to the graph and stays
 * valid until the next forward or backward pass. */
CLCNN_API clcnn_status clcnn_graph_backward_to(clcnn_graph *g, const char *name, const clcnn_tensor *dout,
                                               const clcnn_tensor **grad);

/* Parameters (trainable ones and batch-norm running statistics), in creation order. */
CLCNN_API int clcnn_graph_param_count(const clcnn_graph *g);
CLCNN_API const char *clcnn_graph_param_name(const clcnn_graph *g, int index);
/* The named parameter and its gradient (NULL for running statistics, or no such name).
 * A gradient tensor is made, zeroed, the first time it is needed (this call,
 * clcnn_graph_param_info, a backward pass to the parameters, a training forward), so a
 * network only run forward holds none; NULL also when making it failed (the reason is
 * in clcnn_last_error).
 * Write to a parameter through a tensor fetched after the last forward: fetching it
 * is what tells an evaluation-mode graph to fold its batch norms again. */
CLCNN_API clcnn_tensor *clcnn_graph_param(const clcnn_graph *g, const char *name);
CLCNN_API clcnn_tensor *clcnn_graph_grad(const clcnn_graph *g, const char *name);
CLCNN_API clcnn_status clcnn_graph_zero_grad(clcnn_graph *g);
/* Freeze (frozen = 1) or unfreeze every parameter whose name is prefix or starts with
 * prefix followed by '.' ("layer1" covers layer1.0.conv1.weight, not layer10); "" means
 * all. Frozen parameters get no gradient and no update; a batch norm whose weight is
 * frozen uses its running statistics even in training mode. *matched (may be NULL)
 * receives the number of parameters matched; none is CLCNN_ERR_NOT_FOUND. */
CLCNN_API clcnn_status clcnn_graph_freeze(clcnn_graph *g, const char *prefix, int frozen, int *matched);
/* Whether a parameter called name is under prefix in that sense (1 or 0). */
CLCNN_API int clcnn_param_name_under(const char *name, const char *prefix);
CLCNN_API int clcnn_graph_param_is_frozen(const clcnn_graph *g, const char *name);
/* 1 when the parameter called name learns (it has a gradient: weights and biases), 0 for
 * running statistics and for a name the graph lacks. */
CLCNN_API int clcnn_graph_param_learns(const clcnn_graph *g, const char *name);

/* Parameter `index` (0 ... count - 1) without a search by name: what loops over all
 * parameters every step (an optimizer) should use. */
typedef struct {
    const char *name;
    clcnn_tensor *value;
    clcnn_tensor *grad; /* NULL for running statistics */
    int frozen;
} clcnn_param_info;
CLCNN_API clcnn_status clcnn_graph_param_info(const clcnn_graph *g, int index, clcnn_param_info *info);

/* ---------------------------------------------------------------- weights -- */

/* A set of named tensors loaded from a safetensors file (F32; F16 and BF16 are
 * converted on load; integer tensors such as BatchNorm's num_batches_tracked are
 * skipped). Names are kept as in the file (torchvision's state_dict names). */
typedef struct clcnn_weights clcnn_weights;

CLCNN_API clcnn_status clcnn_weights_load(clcnn_context *ctx, const char *path, clcnn_weights **weights);
CLCNN_API void clcnn_weights_destroy(clcnn_weights *weights);
CLCNN_API int clcnn_weights_count(const clcnn_weights *weights);
CLCNN_API const char *clcnn_weights_name(const clcnn_weights *weights, int index);
/* The tensor called name, or NULL. The tensor belongs to the weights. */
CLCNN_API const clcnn_tensor *clcnn_weights_get(const clcnn_weights *weights, const char *name);
/* The path the weights were loaded from. */
CLCNN_API const char *clcnn_weights_path(const clcnn_weights *weights);
/* A value of the file's __metadata__, or NULL. */
CLCNN_API const char *clcnn_weights_metadata(const clcnn_weights *weights, const char *key);

/* Copy the graph's parameters from weights by name. CLCNN_LOAD_STRICT: a parameter
 * missing from the file, a tensor the graph does not have, or a shape mismatch is an
 * error naming the tensor, and nothing is changed. CLCNN_LOAD_PARTIAL (transfer
 * learning): parameters the file lacks or holds with another shape keep their values
 * and tensors the graph lacks are ignored (each logged at info level). *loaded (may be
 * NULL) receives the number of parameters copied. */
typedef enum { CLCNN_LOAD_STRICT = 0, CLCNN_LOAD_PARTIAL = 1 } clcnn_load_mode;
CLCNN_API clcnn_status clcnn_graph_load(clcnn_graph *g, const clcnn_weights *weights, clcnn_load_mode mode,
                                        int *loaded);

/* Write the graph's parameters and running statistics to a safetensors file (F32,
 * torchvision's state_dict names), with metadata as key/value string pairs in
 * __metadata__ (n_pairs pairs: keys[i] = values[i]; may be 0). The file is written to a
 * temporary name beside path, flushed and renamed over path, so that a crash or a
 * full disk leaves either the old file or the new one whole, never a mix. */
CLCNN_API clcnn_status clcnn_graph_save(const clcnn_graph *g, const char *path, int n_pairs, const char *const *keys,
                                        const char *const *values);
/* Write any named tensors as a safetensors file (F32), atomically as clcnn_graph_save. */
CLCNN_API clcnn_status clcnn_safetensors_save(clcnn_context *ctx, const char *path, int n_tensors,
                                              const char *const *names, const clcnn_tensor *const *tensors,
                                              int n_pairs, const char *const *keys, const char *const *values);

/* ----------------------------------------------------------------- models -- */

typedef struct clcnn_model clcnn_model;

/* An inference ResNet (basic or bottleneck blocks, optional Squeeze-and-Excitation
 * as block.se.fc1/fc2) built from weights with torchvision's names: conv1, bn1,
 * layer1..layerN (as many as the weights hold), fc. Batch norms are folded into the
 * convolutions. The model keeps its own copies: weights may be destroyed after. */
CLCNN_API clcnn_status clcnn_resnet_create(clcnn_context *ctx, const clcnn_weights *weights, clcnn_model **model);
CLCNN_API void clcnn_model_destroy(clcnn_model *model);
CLCNN_API int clcnn_model_num_classes(const clcnn_model *model);
/* logits [N, classes] for x [N, 3, H, W]. */
CLCNN_API clcnn_status clcnn_model_forward(clcnn_model *model, const clcnn_tensor *x, clcnn_tensor *logits);

/* The zoo's families of networks (clcnn_resnet_config's family). */
typedef enum {
    CLCNN_FAMILY_RESNET = 0,      /* ResNets, SE-ResNets and the compact nets: the fields below */
    CLCNN_FAMILY_MOBILENET_V2 = 1, /* torchvision's mobilenet_v2 (width 1.0); of the fields below
                                      only classes, the input and the head apply */
    CLCNN_FAMILY_EFFICIENTNET = 2,  /* torchvision's efficientnet_bN, N = variant; likewise */
    CLCNN_FAMILY_INCEPTION_V3 = 3,  /* torchvision's inception_v3 (75x75 pictures at least); likewise */
    CLCNN_FAMILY_XCEPTION = 4,      /* timm's xception (torchvision has none); likewise */
    CLCNN_FAMILY_MOBILENET_V3 = 5   /* torchvision's mobilenet_v3_large (variant 0) and _small (1) */
} clcnn_family;

/* A network of the zoo built as a graph with torchvision's layer names, trainable.
 * ResNets: conv1, bn1, relu, maxpool, layerS.B.{conv1,bn1,...,downsample.0,downsample.1,se},
 * avgpool, fc. MobileNetV2: features.0 ... features.18 (features.N.conv.M inside the
 * inverted residual blocks, each block's output at features.N), avgpool, classifier.0
 * (dropout 0.2) and classifier.1. EfficientNet: features.0 (stem), features.1 ...
 * features.7 (stages of MBConv blocks features.S.B, with block.M inside: expansion,
 * depthwise, squeeze-excitation, projection; stochastic_depth and the addition, named
 * features.S.B, where the block keeps its shape), features.8, avgpool, classifier.0
 * (dropout 0.2 to 0.5) and classifier.1. Inception-v3: Conv2d_1a_3x3 ... Conv2d_4a_3x3
 * (each BasicConv2d X as X.conv, X.bn and its ReLU called X), maxpool1, maxpool2,
 * Mixed_5b ... Mixed_7c (their branches inside, joined into the layer of the module's
 * name), AuxLogits where the pictures are 299x299 or more (read and saved, not trained),
 * avgpool, dropout (0.5) and fc. Xception, in timm's names: conv1, bn1, act1, conv2, bn2,
 * act2, block1 ... block12 (blockK.skip and .skipbn, blockK.rep.N: ReLU, separable
 * convolution .conv1 depthwise and .pointwise, batch norm, max pooling; the sum called
 * blockK), conv3/bn3/act3, conv4/bn4/act4, global_pool and fc. MobileNetV3: features.N
 * (features.N.block.M inside), avgpool and torchvision's classifier.0 ... classifier.3
 * (Linear, hardswish, dropout, Linear; head_hidden and head_dropout replace the first
 * Linear's width and the rate). The config started as the ResNets' (hence its name);
 * family picks the network. */
typedef struct {
    int bottleneck;    /* 0: basic blocks (ResNet-18/34), 1: bottlenecks, expansion 4 */
    int stages;        /* 1..4 */
    int blocks[4];     /* blocks per stage, e.g. {2, 2, 2, 2} for ResNet-18 */
    int widths[4];     /* planes per stage, e.g. {64, 128, 256, 512} */
    int stem_width;    /* 0: widths[0] */
    int se;            /* a Squeeze-and-Excitation module in every block */
    int se_reduced;    /* 0: max(8, C/16 rounded to the nearest multiple of 8) */
    int classes;
    int in_channels, height, width; /* input per sample, e.g. 3, 224, 224 */
    int head_hidden;   /* 0: fc is one linear layer; > 0: the MLP head fc.0 Linear(in, head_hidden),
                          fc.1 ReLU, fc.2 Dropout(head_dropout), fc.3 Linear(head_hidden, classes),
                          named as a torch nn.Sequential names them; MobileNetV2 keeps its
                          dropout first: classifier.0 Dropout(0.2), classifier.1 Linear(in,
                          head_hidden), .2 ReLU, .3 Dropout(head_dropout), .4 Linear(, classes) */
    float head_dropout;
    int stem_kernel;   /* 0 or 7: torchvision's stem, 7x7 stride-2 conv1 + bn1 + relu + 3x3 stride-2
                          maxpool; 3: a 3x3 stride-2 conv1 + bn1 + relu without the pooling (the
                          compact nets for small images) */
    clcnn_family family; /* 0: a ResNet */
    int variant;         /* EfficientNet: 0 to 7 for B0 to B7 */
} clcnn_resnet_config;

/* The configuration of a named architecture, torchvision's layouts: resnet18, resnet34
 * (basic blocks 2-2-2-2, 3-4-6-3), resnet50, resnet101, resnet152 (bottlenecks 3-4-6-3,
 * 3-4-23-3, 3-8-36-3), and seresnet18 ... seresnet152 (the same with SE in every block),
 * widths 64-128-256-512, for `classes` classes and size x size RGB input. `compact` and
 * `secompact` are the small residual nets for small images (96x96) and quick CPU
 * training: a 3x3 stride-2 stem of 24 channels, basic blocks 1-1-1-1 of widths
 * 24-48-96-192 (each stage a convolution block; its identity blocks are the other
 * entries of blocks[] when raised). `mobilenet_v2` is torchvision's MobileNetV2,
 * `efficientnet_b0` ... `efficientnet_b7` its EfficientNets, `inception_v3` its
 * Inception-v3, `xception` timm's Xception, `mobilenet_v3_large` and `mobilenet_v3_small`
 * its MobileNetV3s. The head is fc (classifier.1 for MobileNetV2 and EfficientNet); set
 * head_hidden for the MLP head. An
 * unknown name is CLCNN_ERR_NOT_FOUND. */
CLCNN_API clcnn_status clcnn_resnet_config_for(const char *arch, int classes, int size, clcnn_resnet_config *config);
CLCNN_API clcnn_status clcnn_resnet_build(clcnn_context *ctx, const clcnn_resnet_config *config, uint64_t seed,
                                          clcnn_graph **graph);

/* ----------------------------------------------------------------- training -- */

typedef enum { CLCNN_LOSS_CROSS_ENTROPY = 0, CLCNN_LOSS_BCE_WITH_LOGITS = 1 } clcnn_loss_kind;

typedef struct {
    clcnn_optimizer_params optimizer;
    clcnn_schedule schedule;      /* base_lr 0: the optimizer's lr throughout */
    float clip_norm;              /* > 0: clip the global gradient norm to this */
    clcnn_loss_kind loss;
    float label_smoothing;        /* cross-entropy */
    const float *class_weights;   /* cross-entropy: NULL or one per class (copied) */
} clcnn_train_params;
/* The way to make one (as for every config struct: README, "Config structs"): SGD with
 * clcnn_optimizer_defaults' values, the optimizer's lr throughout, no clipping,
 * cross-entropy without smoothing or class weights. */
CLCNN_API clcnn_train_params clcnn_train_params_default(void);

/* A trainer owns the optimizer state of a graph (whose frozen parameters it leaves
 * alone) and runs whole training steps on the device. */
typedef struct clcnn_trainer clcnn_trainer;
CLCNN_API clcnn_status clcnn_trainer_create(clcnn_graph *g, const clcnn_train_params *params, clcnn_trainer **trainer);
CLCNN_API void clcnn_trainer_destroy(clcnn_trainer *trainer);

/* One step in training mode: zero the gradients, forward x, loss against labels (class
 * indices as floats [N] for cross-entropy; targets shaped as the output for BCE),
 * backward, gradient clipping, update. *loss (may be NULL) receives the batch loss:
 * reading it is the step's one host round trip. A NaN or Inf loss stops the step before
 * any parameter changes, with CLCNN_ERR_NUMERICS and a message naming the step. After
 * the first step with a given batch size a step allocates no device memory. */
CLCNN_API clcnn_status clcnn_trainer_step(clcnn_trainer *trainer, const clcnn_tensor *x, const clcnn_tensor *labels,
                                          float *loss);
/* The parameters the trainer runs with (class_weights: NULL; they live on the device),
 * for applications and tools that report them. CLCNN_ERR_INVALID_ARGUMENT on NULL. */
CLCNN_API clcnn_status clcnn_trainer_get_params(const clcnn_trainer *trainer, clcnn_train_params *params);
/* Scale the learning rate of every parameter whose name is prefix or starts with prefix
 * followed by '.' ("" means all) by mult >= 0 from the next step on (1 by default): a
 * lower rate for a pretrained part, as a PyTorch parameter group does. Decoupled weight
 * decay (AdamW) scales with it. *matched (may be NULL) receives the number of parameters
 * matched; none is CLCNN_ERR_NOT_FOUND, a negative or non-finite mult
 * CLCNN_ERR_INVALID_ARGUMENT. */
CLCNN_API clcnn_status clcnn_trainer_set_lr_mult(clcnn_trainer *trainer, const char *prefix, float mult, int *matched);
/* Staged fine-tuning: unfreeze every frozen parameter whose name is prefix or starts
 * with prefix followed by '.' ("" means all), from the next step on. Each starts with
 * zero optimizer state and its own step count at 0 (Adam's bias correction starts
 * afresh), as a parameter group added to a PyTorch optimizer does; parameters already
 * trainable keep theirs. A batch norm unfrozen uses batch statistics in training mode
 * again. *matched (may be NULL) receives the number unfrozen; a prefix that matches no
 * parameter is CLCNN_ERR_NOT_FOUND. */
CLCNN_API clcnn_status clcnn_trainer_unfreeze(clcnn_trainer *trainer, const char *prefix, int *matched);
/* Steps completed so far (the optimizer's step count), and the learning rate of the next.
 * Each parameter also counts its own updates (frozen steps are not counted), which is
 * the step Adam's bias correction uses. */
CLCNN_API int clcnn_trainer_steps(const clcnn_trainer *trainer);
CLCNN_API float clcnn_trainer_lr(const clcnn_trainer *trainer);
/* Resuming: the optimizer's state (momentum buffers, Adam's moments, the step counts) as
 * a safetensors file of its own, named PARAM.state1 / PARAM.state2, with extra metadata
 * pairs; and loading it back into a trainer of the same graph and optimizer kind, where
 * a missing or misshapen tensor is an error naming it and changes nothing. */
CLCNN_API clcnn_status clcnn_trainer_save_state(const clcnn_trainer *trainer, const char *path, int n_pairs,
                                                const char *const *keys, const char *const *values);
CLCNN_API clcnn_status clcnn_trainer_load_state(clcnn_trainer *trainer, const clcnn_weights *state);
/* Resuming without saved state: the step count (and so the learning rate) to go on from;
 * the moments are zero, so each parameter's own count starts at 0. */
CLCNN_API void clcnn_trainer_set_steps(clcnn_trainer *trainer, int steps);

/* ------------------------------------------------------------- distributed -- */

/* Data-parallel training (docs/DISTRIBUTED.md): N processes ("ranks"), each with its
 * own device, graph and trainer, each training on its share of every global batch.
 * The trainer sums what must agree over the ranks through a communicator: the loss and
 * image count of each step, the gradients (in buckets of CLCNN_DIST_BUCKET_BYTES),
 * and, unless CLCNN_DIST_LOCAL_BN, every training batch norm's statistics and the
 * sums its backward needs, so that N ranks take the step one process would take on the
 * whole batch. Every rank must make the same calls in the same order. */
typedef struct clcnn_dist clcnn_dist;

/* An application's own collectives, for clcnn_dist_create. Each returns 0 on success,
 * else nonzero (the call then fails with CLCNN_ERR_DISTRIBUTED and message `why`). */
typedef struct {
    int rank, size;   /* this process's rank in 0..size-1, and the number of ranks */
    int local_rank;   /* its rank among the processes of its machine (which GPU it takes) */
    void *user;
    int (*allreduce_sum_f32)(void *user, float *values, size_t n, char why[256]);
    int (*allreduce_sum_f64)(void *user, double *values, size_t n, char why[256]);
    /* Stop every rank now (a fault on this one); exit code `code`. May be NULL. */
    void (*abort)(void *user, int code);
    void (*destroy)(void *user); /* may be NULL */
} clcnn_dist_ops;

#define CLCNN_DIST_BUCKET_BYTES (4u << 20)
/* Seconds a collective may wait for the other ranks before it fails (a rank that hangs
 * or died without its job being stopped), unless CLCNN_DIST_TIMEOUT says otherwise. */
#define CLCNN_DIST_TIMEOUT_S 300

/* Whether this build has MPI (make MPI=0 builds without it). */
CLCNN_API int clcnn_dist_have_mpi(void);
/* Whether this process was started by an MPI launcher as one of more than one rank:
 * from the environment Open MPI's mpirun (OMPI_COMM_WORLD_SIZE) or MPICH's Hydra
 * (PMI_SIZE, MPI_LOCALNRANKS) sets, before MPI is initialised. Other launchers (Slurm's
 * srun with PMIx) may set neither: call clcnn_dist_create_mpi there regardless. */
CLCNN_API int clcnn_dist_launched(void);
/* MPI_COMM_WORLD as a communicator; MPI is initialised here if the application has not
 * done so (and then finalised by clcnn_dist_destroy). CLCNN_ERR_UNSUPPORTED in a build
 * without MPI. */
CLCNN_API clcnn_status clcnn_dist_create_mpi(clcnn_dist **dist);
CLCNN_API clcnn_status clcnn_dist_create(const clcnn_dist_ops *ops, clcnn_dist **dist);
/* n communicators dists[0..n-1] for n threads of this process, one rank each (each with
 * its own context, on its own device): data parallelism without MPI. */
CLCNN_API clcnn_status clcnn_dist_create_threads(int n, clcnn_dist **dists);
CLCNN_API void clcnn_dist_destroy(clcnn_dist *dist);
CLCNN_API int clcnn_dist_rank(const clcnn_dist *dist);       /* 0 for NULL */
CLCNN_API int clcnn_dist_size(const clcnn_dist *dist);       /* 1 for NULL */
CLCNN_API int clcnn_dist_local_rank(const clcnn_dist *dist); /* 0 for NULL */
/* Sum n host values over the ranks, in place. */
CLCNN_API clcnn_status clcnn_dist_allreduce_sum(clcnn_dist *dist, double *values, size_t n);
/* Wait until every rank has come here. */
CLCNN_API clcnn_status clcnn_dist_barrier(clcnn_dist *dist);
/* Stop every rank (after a fault on this one) with exit code `code`. MPI's ends the job
 * and does not return; the threads' makes every sum under way or to come fail at once,
 * naming this rank, and returns; without an abort operation it returns at once. */
CLCNN_API void clcnn_dist_abort(clcnn_dist *dist, int code);

enum { CLCNN_DIST_LOCAL_BN = 1 }; /* batch norms use each rank's own batch statistics */
/* Train over the ranks of dist (NULL: alone again); the trainer does not own it. Set it
 * on every rank before the first step, with the same flags; the ranks' parameters must
 * start equal (the same initialisation seed, or the same file). A step that fails on
 * one rank leaves the ranks out of step (the others wait in a sum, or fail there): stop
 * them all with clcnn_dist_abort, as clcnn train does, and make no more steps. */
CLCNN_API clcnn_status clcnn_trainer_set_dist(clcnn_trainer *trainer, clcnn_dist *dist, int flags);
/* The last step's communication: milliseconds this rank spent inside the sums over the
 * ranks (the step's counts and loss, and the gradients: the calls that start, test and
 * wait for them; not the device's reads and writes, nor the batch norms' sums inside
 * the passes), and the gradient bytes it summed. 0 and 0 alone. Either pointer may be
 * NULL. */
CLCNN_API void clcnn_trainer_comm(const clcnn_trainer *trainer, double *ms, size_t *bytes);

/* ------------------------------------------------------------------- files -- */

/* Write size bytes to path through a temporary file beside it, flushed and renamed over
 * path: readers (and a crash at any moment) see the old file or the new one, whole. */
CLCNN_API clcnn_status clcnn_save_file(const char *path, const void *data, size_t size);

/* ------------------------------------------------------------------ images -- */
/* Host-side 8-bit images, used by the data sets, the loader and the CAM pictures.
 * Functions here need no context: their errors are reported through
 * clcnn_last_error(NULL) (per thread) and always name the file and the reason. */

/* Decoders refuse images beyond these before allocating anything. */
#define CLCNN_IMAGE_MAX_SIDE 30000
#define CLCNN_IMAGE_MAX_PIXELS (128u * 1024u * 1024u)

typedef struct {
    int width, height;
    int channels;     /* 1 (gray), 3 (RGB) or 4 (RGBA); decoders always give 3 */
    uint8_t *pixels;  /* height * width * channels bytes, rows top to bottom, interleaved;
                         owned by the image: release with clcnn_image_free */
} clcnn_image;

/* A zeroed width x height x channels image. */
CLCNN_API clcnn_status clcnn_image_create(int width, int height, int channels, clcnn_image *image);
/* Frees the pixels and zeroes the struct; NULL and already-freed images are fine. */
CLCNN_API void clcnn_image_free(clcnn_image *image);

/* Decode a PNG or JPEG, recognised by its content (not its extension), into 8-bit RGB:
 * 16-bit samples keep their high byte (PIL clips 16-bit gray instead), gray is replicated, palettes are expanded, alpha
 * is dropped (as PIL's convert("RGB")), CMYK/YCCK JPEGs are converted, and a JPEG's EXIF
 * orientation is applied. A missing or unreadable file is CLCNN_ERR_IO; an empty,
 * truncated, corrupt or unknown file CLCNN_ERR_FORMAT; dimensions beyond the limits
 * above CLCNN_ERR_OUT_OF_MEMORY, before any pixel memory is allocated. libpng and
 * libjpeg errors never end the process. On error *image is zeroed. */
CLCNN_API clcnn_status clcnn_image_load(const char *path, clcnn_image *image);
/* The same from memory; name is used in error messages (may be NULL). */
CLCNN_API clcnn_status clcnn_image_decode(const void *data, size_t size, const char *name, clcnn_image *image);

/* Encode 1-, 3- or 4-channel images; written to a temporary file beside path and
 * renamed over it, so that a failure never leaves a partial file. quality 1..100. */
CLCNN_API clcnn_status clcnn_image_save_png(const char *path, const clcnn_image *image);
CLCNN_API clcnn_status clcnn_image_save_jpeg(const char *path, const clcnn_image *image, int quality);

/* Bilinear resize of any channel count (area-averaging when shrinking, so that small
 * outputs do not alias, as PIL's resize with antialiasing). */
CLCNN_API clcnn_status clcnn_image_resize(const clcnn_image *src, int width, int height, clcnn_image *dst);

/* Per-channel normalisation of [0,1]-scaled pixels: (x - mean) / std. */
typedef struct {
    float mean[3], std[3];
} clcnn_normalization;
/* ImageNet's: mean 0.485 0.456 0.406, std 0.229 0.224 0.225. */
CLCNN_API clcnn_normalization clcnn_normalization_imagenet(void);

/* Training augmentation, applied in this order: random resized crop (area fraction in
 * [scale_min, scale_max] of the image, aspect ratio in [ratio_min, ratio_max], as
 * torchvision's RandomResizedCrop), flips, rotation, colour jitter. */
typedef struct {
    float scale_min, scale_max;       /* 0.5, 1 */
    float ratio_min, ratio_max;       /* 3/4, 4/3 */
    int hflip, vflip;                 /* flip with probability 0.5: 1, 0 */
    float rotate_degrees;             /* uniform in +-rotate_degrees, 0 off (default 10) */
    float brightness, contrast, saturation; /* factors uniform in [1-v, 1+v], 0 off (0.2 each) */
} clcnn_augment_params;
CLCNN_API void clcnn_augment_defaults(clcnn_augment_params *params);

/* How a picture becomes the network's square input:
 *   CROP:   the shorter side to size, then the centred square (torchvision's Resize(size)
 *           and CenterCrop(size)): the sides of a wide picture are not seen.
 *   SQUASH: the whole picture resized to size x size (torchvision's Resize((size, size))):
 *           all of it is seen, its aspect changed.
 *   PAD:    the whole picture, its longer side to size and its aspect kept, centred on a
 *           square of the normalisation's mean colour (a letterbox; that colour
 *           normalises to about 0). */
typedef enum { CLCNN_FIT_CROP = 0, CLCNN_FIT_SQUASH, CLCNN_FIT_PAD } clcnn_fit;
/* "crop", "squash", "pad"; another name is CLCNN_ERR_NOT_FOUND listing them. */
CLCNN_API clcnn_status clcnn_fit_parse(const char *name, clcnn_fit *fit);
CLCNN_API const char *clcnn_fit_name(clcnn_fit fit);
/* Where fit puts a width x height picture in the size x size input (evaluation): the
 * rectangle src of the picture (x, y, w, h in picture pixels) is what the network sees,
 * and it fills the rectangle dst of the input (in input pixels); the rest of the input
 * is padding. CLCNN_ERR_INVALID_ARGUMENT for sides < 1 or an unknown fit. */
CLCNN_API clcnn_status clcnn_fit_geometry(int width, int height, int size, clcnn_fit fit, float src[4], float dst[4]);

/* One network input, CHW floats [3, size, size], from an RGB image. aug NULL (evaluation):
 * the picture fitted to size x size as fit says (no resampling when the image already is
 * size x size), scaled to [0,1], normalised. aug non-NULL: the augmentation above, taken
 * from the whole picture (CROP) or from the picture fitted to a square first (SQUASH,
 * PAD: at its own resolution, at most 2 x size), then the same scaling; a result that
 * depends only on (image, size, fit, aug, seed). clcnn_image_prepare is CLCNN_FIT_CROP. */
CLCNN_API clcnn_status clcnn_image_prepare_fit(const clcnn_image *image, int size, clcnn_fit fit,
                                               const clcnn_augment_params *aug, uint64_t seed,
                                               const clcnn_normalization *norm, float *out);
CLCNN_API clcnn_status clcnn_image_prepare(const clcnn_image *image, int size, const clcnn_augment_params *aug,
                                           uint64_t seed, const clcnn_normalization *norm, float *out);

/* ---------------------------------------------------------------- data sets -- */

typedef struct clcnn_dataset clcnn_dataset;

/* A labelled image list. path is a folder in the ImageFolder layout, ROOT/CLASS/FILE with
 * FILE ending in .png, .jpg or .jpeg (any case), classes in sorted (byte-wise) order and
 * files sorted within a class; or a CSV file of "path,label" lines (an optional header
 * line "path,label"; paths relative to the CSV's folder; labels are class names, sorted
 * byte-wise, or all non-negative integers, sorted numerically). classes (n_classes names,
 * or NULL) fixes the class list and its order, as a model's or a training set's; a class
 * or label outside it is CLCNN_ERR_NOT_FOUND naming it. An empty set is CLCNN_ERR_NOT_FOUND. */
CLCNN_API clcnn_status clcnn_dataset_open(const char *path, int n_classes, const char *const *classes,
                                          clcnn_dataset **ds);
CLCNN_API void clcnn_dataset_destroy(clcnn_dataset *ds);
CLCNN_API int clcnn_dataset_size(const clcnn_dataset *ds);
CLCNN_API int clcnn_dataset_class_count(const clcnn_dataset *ds);
CLCNN_API const char *clcnn_dataset_class_name(const clcnn_dataset *ds, int k);
CLCNN_API const char *clcnn_dataset_path(const clcnn_dataset *ds, int index);
CLCNN_API int clcnn_dataset_label(const clcnn_dataset *ds, int index);
/* A seeded, stratified split: within each class, round(fraction * count) images (at least
 * one when the class has two or more) go to *val, the rest to *train, both keeping the
 * sorted order and the class list. fraction in (0, 1). */
CLCNN_API clcnn_status clcnn_dataset_split(const clcnn_dataset *ds, float fraction, uint64_t seed,
                                           clcnn_dataset **train, clcnn_dataset **val);
/* Images shard, shard + shards, shard + 2 shards, ... of ds (in its order, with its
 * classes) into *out: one rank's part of a data set evaluated by several. */
CLCNN_API clcnn_status clcnn_dataset_shard(const clcnn_dataset *ds, int shard, int shards, clcnn_dataset **out);

/* ------------------------------------------------------------------ loader -- */

/* Decodes, augments and normalises batches on host threads while the caller runs the
 * device on the previous batch. */
typedef struct {
    int batch;                  /* images per batch; the last partial batch is kept */
    int size;                   /* network input size */
    int shuffle;                /* a new seeded permutation per epoch; 0: the data set's order */
    const clcnn_augment_params *augment; /* NULL: evaluation preprocessing (copied) */
    clcnn_normalization norm;
    uint64_t seed;              /* order and augmentation depend only on (seed, epoch, index) */
    int threads;                /* decoding threads; 0: the number of online CPUs, at most 8 */
    int skip_bad;               /* 1: leave out images that fail to decode (counted, logged as a
                                   warning); 0: the batch holding one fails with its error */
    int balanced;               /* 1: each epoch draws as many images as the data set has, with
                                   replacement, every class (with images) equally likely and every
                                   image of a class too (PyTorch's WeightedRandomSampler with weights
                                   1 / class count); seeded as shuffle. 0: each image once */
    clcnn_fit fit;              /* how pictures become square inputs (0: CLCNN_FIT_CROP) */
    int shard, shards;          /* data parallelism: shards > 1 ranks share each batch of `batch`
                                   images (batch a multiple of shards) and this loader prepares
                                   only share `shard` (0-based): batch / shards images of each
                                   full batch, its part of the last one, which is dropped when it
                                   has fewer images than shards; a share with every image
                                   unreadable is an error. 0, 0: all of it */
} clcnn_loader_params;
/* The way to make one: batches of 32 at 224 x 224 in the data set's order, evaluation
 * preprocessing (no augmentation, CLCNN_FIT_CROP) with ImageNet's normalisation, seed 0,
 * a thread per CPU (at most 8), an unreadable image fails its batch, not balanced, not
 * sharded. Training sets shuffle, augment and usually skip_bad. */
CLCNN_API clcnn_loader_params clcnn_loader_params_default(void);

typedef struct {
    int n;                 /* images in this batch; 0 at the end of the epoch */
    const float *x;        /* [n, 3, size, size] */
    const float *labels;   /* [n] class indices as floats (what clcnn_trainer_step takes) */
    const int *indices;    /* [n] positions in the data set */
} clcnn_batch;

typedef struct clcnn_loader clcnn_loader;
CLCNN_API clcnn_status clcnn_loader_create(const clcnn_dataset *ds, const clcnn_loader_params *params,
                                           clcnn_loader **loader);
CLCNN_API void clcnn_loader_destroy(clcnn_loader *loader);
/* Begin epoch `epoch` (0-based) from its first batch; prefetching starts here. */
CLCNN_API clcnn_status clcnn_loader_start(clcnn_loader *loader, int epoch);
/* The next batch of the epoch; its arrays stay valid until the next clcnn_loader_next
 * or clcnn_loader_start on this loader. */
CLCNN_API clcnn_status clcnn_loader_next(clcnn_loader *loader, clcnn_batch *batch);
/* Batches per epoch, and images left out as unreadable since the loader was created. */
CLCNN_API int clcnn_loader_batches(const clcnn_loader *loader);
CLCNN_API int clcnn_loader_bad_images(const clcnn_loader *loader);

/* ----------------------------------------------------------------- metrics -- */

/* Classification metrics accumulated over batches on the host. */
typedef struct clcnn_metrics clcnn_metrics;
CLCNN_API clcnn_status clcnn_metrics_create(int classes, clcnn_metrics **metrics);
CLCNN_API void clcnn_metrics_destroy(clcnn_metrics *metrics);
CLCNN_API void clcnn_metrics_reset(clcnn_metrics *metrics);
/* Add n samples: probs [n, classes] (softmax outputs), labels [n] class indices, and
 * the sum of their losses (0 if unknown). The prediction is the first largest prob. */
CLCNN_API clcnn_status clcnn_metrics_add(clcnn_metrics *metrics, int n, const float *probs, const int *labels,
                                         double loss_sum);

typedef struct {
    int64_t samples;
    double loss;            /* mean loss per sample */
    double accuracy;
    double macro_precision, macro_recall, macro_f1; /* over classes with samples or predictions */
    double auc;             /* ROC AUC (ties counted half): of class 1's prob for two classes; for
                               3..256 classes the one-vs-rest macro AUC (scikit-learn's
                               multi_class='ovr', average='macro'); NaN when a class has no
                               sample (or every sample), or for more than 256 classes */
} clcnn_metrics_summary;
CLCNN_API clcnn_status clcnn_metrics_get(const clcnn_metrics *metrics, clcnn_metrics_summary *summary);
/* Per class k: precision, recall, F1 (0 where undefined, as scikit-learn's zero_division=0)
 * and support (samples whose label is k). */
CLCNN_API clcnn_status clcnn_metrics_class(const clcnn_metrics *metrics, int k, double *precision, double *recall,
                                           double *f1, int64_t *support);
/* The confusion matrix, [true class][predicted class], classes x classes counts. */
CLCNN_API const int64_t *clcnn_metrics_confusion(const clcnn_metrics *metrics);
/* All of it as a JSON object (summary, per-class table keyed by class name, confusion
 * matrix); class_names may be NULL (then "0", "1", ...). Returns a malloc'd string the
 * caller frees, or NULL on allocation failure. */
CLCNN_API char *clcnn_metrics_json(const clcnn_metrics *metrics, const char *const *class_names);

/* ------------------------------------------------------------ model files -- */

/* What a clcnn weight file's __metadata__ records, so that it can be used again with no
 * other flag: "arch", "classes" (a JSON array of class names), "size", "mean", "std"
 * (JSON arrays of 3 numbers), "head_hidden", "head_dropout". */
typedef struct {
    char arch[32];
    int classes;
    char **class_names;   /* classes names, owned (clcnn_model_desc_free); NULL if unknown */
    int size;
    clcnn_normalization norm;
    int head_hidden;
    float head_dropout;
    clcnn_fit fit;        /* how the model was trained to see pictures (metadata "fit"; CROP when absent) */
} clcnn_model_desc;
CLCNN_API void clcnn_model_desc_free(clcnn_model_desc *desc);

/* Open a weight file and build its network in evaluation mode, weights loaded strictly.
 * Fields of `given` that are set (arch[0] != 0, classes > 0, size > 0) override or stand
 * in for the metadata (converted torchvision files have none); a file with neither is
 * CLCNN_ERR_INVALID_ARGUMENT saying which flag is needed. *desc (may be NULL) receives
 * the description used. */
CLCNN_API clcnn_status clcnn_model_open(clcnn_context *ctx, const char *path, const clcnn_model_desc *given,
                                        clcnn_graph **graph, clcnn_model_desc *desc);
/* The same from weights already loaded (e.g. to read more of their metadata). Without
 * metadata the class count and an MLP head's width are read from the head's shapes. */
CLCNN_API clcnn_status clcnn_model_from_weights(clcnn_context *ctx, const clcnn_weights *weights,
                                                const clcnn_model_desc *given, clcnn_graph **graph,
                                                clcnn_model_desc *desc);
/* Save a graph with its description as metadata, plus n_extra more key/value pairs (a
 * checkpoint's epoch and history), atomically as clcnn_graph_save. */
CLCNN_API clcnn_status clcnn_model_save(const clcnn_graph *graph, const clcnn_model_desc *desc, const char *path,
                                        int n_extra, const char *const *keys, const char *const *values);
/* The graph for desc (clcnn_resnet_config_for + heads), freshly initialised. */
CLCNN_API clcnn_status clcnn_model_build(clcnn_context *ctx, const clcnn_model_desc *desc, uint64_t seed,
                                         clcnn_graph **graph);

/* -------------------------------------------------------------- explaining -- */

typedef enum {
    CLCNN_CAM_GRADCAM = 0,   /* weights = spatial mean of g; map = ReLU(sum_k w_k A_k) */
    CLCNN_CAM_GRADCAM_PP,    /* pytorch-grad-cam's Grad-CAM++ weights */
    CLCNN_CAM_HIRESCAM,      /* ReLU(sum_k g_k * A_k) */
    CLCNN_CAM_XGRADCAM,      /* w_k = sum(g_k A_k) / (sum A_k + 1e-7) */
    CLCNN_CAM_LAYERCAM,      /* ReLU(sum_k ReLU(g_k) * A_k) */
    CLCNN_CAM_CAM,           /* sum_k W[c,k] A_k for global-pool + linear heads; no backward */
    CLCNN_CAM_SCORECAM,      /* masked-input forward passes, softmax-weighted */
    CLCNN_CAM_EIGENCAM       /* first principal component of the activations, signed so
                              * that it correlates non-negatively with their channel sum */
} clcnn_cam_method;
/* "gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "cam", "scorecam",
 * "eigencam"; an unknown name is CLCNN_ERR_NOT_FOUND listing the known ones. */
CLCNN_API clcnn_status clcnn_cam_method_parse(const char *name, clcnn_cam_method *method);
CLCNN_API const char *clcnn_cam_method_name(clcnn_cam_method method);

typedef struct {
    clcnn_cam_method method;
    const char *layer;     /* target layer; NULL: the default (clcnn_cam_default_layer) */
    int scorecam_batch;    /* masked inputs per forward pass in Score-CAM; 0: 32 */
    /* Layer fusion (pytorch-grad-cam's several target layers): n_layers > 1 names in
     * layers[] (layer is then unused). Each image's map at each layer is normalised to
     * [0, 1], resized bilinearly to the input's H x W and the maps averaged: the map is
     * [N, H, W] of such values, not raw. */
    int n_layers;
    const char *const *layers;
    /* 1: pytorch-grad-cam's aug_smooth: the mean map of 6 variants of the input, the image
     * and its mirror, each times 0.9, 1 and 1.1 (in normalised values), every variant
     * explaining the class chosen for the image itself; a mirror's map is mirrored back.
     * 6 times the work. */
    int aug_smooth;
} clcnn_cam_params;
/* The way to make one: Grad-CAM at the default layer, Score-CAM in batches of 32, one
 * layer, no smoothing. */
CLCNN_API clcnn_cam_params clcnn_cam_params_default(void);
/* The map's h x w for params on g: the target layer's resolution, or the input's with
 * layer fusion. Errors as clcnn_cam's for a layer that is not there or not spatial. */
CLCNN_API clcnn_status clcnn_cam_map_size(const clcnn_graph *g, const clcnn_cam_params *params, int *h, int *w);

/* The last layer with a spatial output of at least 2x2 before the head's global pooling
 * (the graph's last; Inception's AuxLogits pools earlier) (the
 * last block of layer4 in the ResNets, e.g. "layer4.1"), or NULL for a graph without one.
 * Target layers may be named as clcnn_graph_find_layer finds them ("layer4"). A map
 * without spatial variation (even a constant positive one) is returned as zeros. */
CLCNN_API const char *clcnn_cam_default_layer(const clcnn_graph *g);

/* Class activation maps for a batch x [N, 3, H, W], computed on the device with g in
 * evaluation mode. targets [N] (host; NULL or an entry < 0: the predicted class). map
 * [N, h, w], h x w the target layer's resolution (clcnn_cam_map_size), receives the raw
 * maps (after the ReLU, before any normalisation; a flat map is all zeros, never NaN),
 * or with layer fusion the fused ones; aug_smooth averages either over the variants. probs (host, may be NULL)
 * receives the softmax of the logits [N, classes], and classes_used [N] (host, may be
 * NULL) the class each map explains. */
CLCNN_API clcnn_status clcnn_cam(clcnn_graph *g, const clcnn_tensor *x, const clcnn_cam_params *params,
                                 const int *targets, clcnn_tensor *map, float *probs, int *classes_used);

/* Deletion and insertion AUCs (Petsiuk et al.) of one image x [1, 3, H, W] and its map
 * [h, w] (host, upsampled bilinearly to H x W): pixels are removed from (deletion: set to
 * 0, the normalised mean) or added to (insertion: onto a zero image) x in order of
 * decreasing map value, in `steps` equal steps, and the softmax probability of class
 * `target` after each step is integrated by the trapezoidal rule over [0, 1]. Low
 * deletion and high insertion mean a map that points at the evidence. */
CLCNN_API clcnn_status clcnn_cam_deletion_insertion(clcnn_graph *g, const clcnn_tensor *x, const float *map,
                                                    int map_h, int map_w, int target, int steps, double *deletion,
                                                    double *insertion);

/* ---------------------------------------------------------------- pictures -- */
/* Host-side rendering of maps: the steps between a raw map and the files users look at. */

/* (v - min) / (max - min) over n values into out (may be map); a flat or empty map gives
 * zeros, never NaN. */
CLCNN_API void clcnn_map_normalize(const float *map, size_t n, float *out);
/* Bilinear resize of a one-channel map with half-pixel centres (cv2.resize, and PyTorch's
 * interpolate with align_corners=False). */
CLCNN_API clcnn_status clcnn_map_resize(const float *src, int height, int width, float *dst, int out_height,
                                        int out_width);
/* A map over the size x size network input (height x width values), laid over the
 * picture it came from, picture_width x picture_height values into out: bilinear with
 * half-pixel centres (as clcnn_map_resize) where the network saw the picture, 0 where it
 * did not (the sides CROP cut away). See clcnn_fit_geometry. */
CLCNN_API clcnn_status clcnn_map_over_picture(const float *map, int height, int width, int size, clcnn_fit fit,
                                              int picture_width, int picture_height, float *out);
/* OpenCV's COLORMAP_JET of v (clamped to [0,1]), as RGB. */
CLCNN_API void clcnn_colormap_jet(float v, uint8_t rgb[3]);
/* An RGB picture of a [0,1] map in JET colours. */
CLCNN_API clcnn_status clcnn_heatmap_render(const float *map01, int width, int height, clcnn_image *heat);
/* out = round((1 - alpha) * image + alpha * heat), both RGB of one size. */
CLCNN_API clcnn_status clcnn_image_blend(const clcnn_image *image, const clcnn_image *heat, float alpha,
                                         clcnn_image *out);

/* A connected region of a thresholded map in pixel coordinates: x0 <= x < x1, y0 <= y < y1. */
typedef struct {
    int x0, y0, x1, y1;
    int pixels;   /* pixels of the component (8-connected) */
    float peak;   /* its largest map value */
} clcnn_box;
/* Otsu's threshold of n values in [0,1] (256 bins). */
CLCNN_API float clcnn_otsu_threshold(const float *map01, size_t n);
/* Boxes around the 8-connected components of map01 >= threshold (threshold < 0: Otsu's),
 * largest first (by pixels, then by peak); at most max_boxes, *count receives how many. */
CLCNN_API clcnn_status clcnn_map_boxes(const float *map01, int width, int height, float threshold, int max_boxes,
                                       clcnn_box *boxes, int *count);
/* Draw boxes (2-pixel outlines) and a caption (top left, light text on a dark band),
 * antialiased, with cairo; caption may be NULL. The image must be RGB. */
CLCNN_API clcnn_status clcnn_image_annotate(clcnn_image *image, const char *caption, int n_boxes,
                                            const clcnn_box *boxes);
/* Write a float32 array as NumPy .npy ('<f4', C order), atomically. */
CLCNN_API clcnn_status clcnn_npy_save(const char *path, const float *data, int ndim, const int *shape);

/* Localisation checks of a map (width x height, any scale) against a known box: the
 * pointing game (1 when the map's maximum lies in the box grown by tolerance pixels on
 * every side, else 0) and the fraction of the map's positive mass inside the box.
 * Bad arguments (NULL, empty map or box): the pointing game returns -1 and the energy NaN. */
CLCNN_API int clcnn_pointing_game(const float *map, int width, int height, const clcnn_box *box, int tolerance);
CLCNN_API double clcnn_energy_in_box(const float *map, int width, int height, const clcnn_box *box);

/* Training curves as a PNG: loss (left) and accuracy (right) per epoch, train and
 * validation; NaN entries are skipped. */
CLCNN_API clcnn_status clcnn_plot_curves(const char *path, int epochs, const double *train_loss,
                                         const double *val_loss, const double *train_acc, const double *val_acc);

/* ------------------------------------------------------------ performance -- */
/* What clbench reports; see docs/PERFORMANCE.md. */

/* The device's measured roofline, from the library's own kernels: fp32 multiply-add
 * throughput (a multiply-add counts as 2 FLOP) and copy bandwidth (bytes read plus
 * written per second). Takes about a second. */
typedef struct {
    double fma_gflops;
    double bandwidth_gbps;
} clcnn_peak;
CLCNN_API clcnn_status clcnn_measure_peak(clcnn_context *ctx, clcnn_peak *peak);

/* One layer of clcnn_graph_profile. */
typedef struct {
    const char *name;      /* the layer's name (valid while the graph lives) */
    const char *kind;      /* as clcnn_layer_info's */
    const char *algorithm; /* convolutions: "im2col-gemm", "gemm-1x1", "winograd-4x4",
                            * "depthwise", ...; other layers: "" */
    double forward_ms;
    double backward_ms;    /* 0 when the backward was not run */
    double forward_flops;  /* floating-point operations of the forward for the batch
                            * (a multiply-add counts as 2); 0 for layers that only move data */
} clcnn_layer_profile;

/* One forward pass of x (in the graph's current mode) and, with backward != 0, one
 * backward pass from a gradient of ones at the output, layer by layer, waiting for
 * the device after each layer; profile[i] receives layer i (clcnn_graph_layer_count()
 * entries; entry 0 is the input). Slower than an ordinary pass: it is for finding
 * where the time goes. */
CLCNN_API clcnn_status clcnn_graph_profile(clcnn_graph *g, const clcnn_tensor *x, int backward,
                                           clcnn_layer_profile *profile);
/* In evaluation mode a fused chain's time is reported on its convolution (the others
 * read 0). The backward adds to the parameter gradients, as clcnn_graph_backward. */

/* Receives one line of text per measurement of clcnn_tune. */
typedef void (*clcnn_report_fn)(void *user, const char *line);

/* Measure the candidate GEMM tiles and convolution algorithms on the shapes of g's
 * layers at this batch size, on g's device; keep the fastest. The winners are stored
 * in the cache folder ($XDG_CACHE_HOME/clcnn or ~/.cache/clcnn, file per device name
 * and driver version) and used from then on by every context on such a device, this
 * one included. report may be NULL. */
CLCNN_API clcnn_status clcnn_tune(clcnn_graph *g, int batch, clcnn_report_fn report, void *user);

#ifdef __cplusplus
}
#endif
#endif /* CLCNN_H */
