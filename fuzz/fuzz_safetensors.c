/* fuzz_safetensors.c: weight files: the 8-byte header length, the JSON header (dtype,
 * shape, data_offsets, __metadata__), the tensor data (F32, F16, BF16 widened), and the
 * model description read from the metadata (arch, classes, size, mean, std, head).
 *
 * clcnn_weights_load needs a context because it puts each tensor on the device. No device
 * is opened here: the context is a zeroed struct, and the four OpenCL calls the tensor
 * code makes (clCreateBuffer, clReleaseMemObject, clEnqueueWriteBuffer/ReadBuffer) are
 * defined below over host memory, overriding the ICD loader's. Everything above them (the
 * parser, clcnn_tensor_create's shape checks and memory pool, the error messages) is the
 * library's own code. The description is parsed by clcnn_model_from_weights with an
 * architecture that does not exist, so it stops before building a network. */
#include <CL/cl.h>
#include "fuzz_util.h"
#include "runtime/internal.h"

/* ------------------------------------------------- OpenCL over host memory -- */

struct _cl_mem {
    size_t size;
    unsigned char bytes[];
};

/* The fake device's largest allocation (its CL_DEVICE_MAX_MEM_ALLOC_SIZE). */
enum { FAKE_MAX_ALLOC = 64 << 20 };

/* The file being loaded: no tensor may need more device memory than twice its size (F16
 * and BF16 widen to F32), whatever its header claims. */
static size_t input_size;

CL_API_ENTRY cl_mem CL_API_CALL clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size, void *host_ptr,
                                               cl_int *errcode_ret) {
    (void)context, (void)flags;
    FUZZ_CHECK(host_ptr == NULL, "clCreateBuffer with a host pointer");
    FUZZ_CHECK(size <= 2 * input_size, "a %zu-byte device buffer for a %zu-byte file", size, input_size);
    cl_mem m = size && size <= FAKE_MAX_ALLOC ? malloc(sizeof *m + size) : NULL;
    if (m) m->size = size;
    if (errcode_ret) *errcode_ret = m ? CL_SUCCESS : size ? CL_MEM_OBJECT_ALLOCATION_FAILURE : CL_INVALID_BUFFER_SIZE;
    return m;
}

CL_API_ENTRY cl_int CL_API_CALL clReleaseMemObject(cl_mem memobj) {
    free(memobj);
    return CL_SUCCESS;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer, cl_bool blocking,
                                                     size_t offset, size_t size, const void *ptr, cl_uint n_wait,
                                                     const cl_event *wait, cl_event *event) {
    (void)queue, (void)blocking, (void)n_wait, (void)wait;
    FUZZ_CHECK(buffer && offset <= buffer->size && size <= buffer->size - offset,
               "write of %zu bytes at %zu into a buffer of %zu", size, offset, buffer ? buffer->size : 0);
    memcpy(buffer->bytes + offset, ptr, size);
    if (event) *event = NULL;
    return CL_SUCCESS;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueReadBuffer(cl_command_queue queue, cl_mem buffer, cl_bool blocking,
                                                    size_t offset, size_t size, void *ptr, cl_uint n_wait,
                                                    const cl_event *wait, cl_event *event) {
    (void)queue, (void)blocking, (void)n_wait, (void)wait;
    FUZZ_CHECK(buffer && offset <= buffer->size && size <= buffer->size - offset,
               "read of %zu bytes at %zu from a buffer of %zu", size, offset, buffer ? buffer->size : 0);
    memcpy(ptr, buffer->bytes + offset, size);
    if (event) *event = NULL;
    return CL_SUCCESS;
}

/* ------------------------------------------------------------------ target -- */

static clcnn_context fake_ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fake_ctx.device_index = -1;
    snprintf(fake_ctx.dev.info.name, sizeof fake_ctx.dev.info.name, "fuzz host memory (no device)");
    fake_ctx.dev.info.max_alloc_bytes = FAKE_MAX_ALLOC;
    return 0;
}

/* Every tensor of a loaded file: named, reachable by name, and as long as its shape says. */
static void check_weights(const clcnn_weights *w) {
    const int n = clcnn_weights_count(w);
    for (int i = 0; i < n; i++) {
        const char *name = clcnn_weights_name(w, i);
        FUZZ_CHECK(name != NULL, "tensor %d has no name", i);
        const clcnn_tensor *t = clcnn_weights_get(w, name);
        FUZZ_CHECK(t != NULL, "tensor %s not found by its name", name);
        const size_t numel = clcnn_tensor_numel(t);
        float *host = malloc(numel * sizeof *host);
        FUZZ_CHECK(host != NULL, "no memory to read %zu values back", numel);
        FUZZ_CHECK(clcnn_tensor_read(t, host, numel) == CLCNN_OK, "reading %s back: %s", name,
                   clcnn_last_error(&fake_ctx));
        free(host);
    }
    (void)clcnn_weights_metadata(w, "arch");
    (void)clcnn_weights_metadata(w, "train_options");
}

/* The description from the metadata; building must stop at the unknown architecture. */
static void check_description(const clcnn_weights *w) {
    clcnn_model_desc given = {.arch = "fuzz-no-such-arch"}, desc;
    clcnn_graph *g = NULL;
    const clcnn_status st = clcnn_model_from_weights(&fake_ctx, w, &given, &g, &desc);
    FUZZ_CHECK(st != CLCNN_OK && g == NULL, "a network was built for an unknown architecture");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("input", data, size);
    input_size = size;
    clcnn_weights *w = NULL;
    const clcnn_status st = clcnn_weights_load(&fake_ctx, path, &w);
    if (st != CLCNN_OK) {
        FUZZ_CHECK(st < 0 && w == NULL && fake_ctx.last_error[0], "status %d, weights %p, message \"%s\"", st,
                   (void *)w, fake_ctx.last_error);
    } else {
        check_weights(w);
        check_description(w);
    }
    clcnn_weights_destroy(w);
    clcnn_context_trim(&fake_ctx); /* the pool's buffers go back to the fake device */
    FUZZ_CHECK(fake_ctx.stats.pool_bytes_in_use == 0, "%zu bytes of tensors still in use",
               (size_t)fake_ctx.stats.pool_bytes_in_use);
    fake_ctx.last_error[0] = '\0';
    return 0;
}
