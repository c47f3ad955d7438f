/* oclgrind_fill.c: an LD_PRELOAD shim for scripts/oclgrind.sh that turns every host store
 * into a buffer (clEnqueueWriteBuffer, clEnqueueFillBuffer, clEnqueueCopyBuffer) into one
 * blocking write of the whole buffer, read, patched and written back.
 *
 * Why: Oclgrind's uninitialised-value check (21.10 and its newest source alike) keeps one
 * shadow allocation per buffer, and each host store replaces that allocation with a new
 * one the size of the store (Uninitialized::hostMemoryStore -> ShadowMemory::allocate).
 * A write of part of a buffer (a pooled tensor in a bigger buffer), a copy, or a fill
 * (stored one pattern at a time) so leaves the shadow of the rest of the buffer undefined,
 * and values that kernels or the host did initialise are then reported as uninitialised.
 * A whole-buffer store gives a shadow of the right size. Kernels' own stores are tracked
 * exactly from then on; the price is that bytes of a buffer nobody wrote count as
 * initialised once the host stored into another part of the same buffer.
 * The data, the order of commands (the queues are in order; the first read waits on the
 * event list) and the results are unchanged. Sub-buffers and invalid calls pass through.
 *
 * It also keeps every buffer alive to the end of the process (clReleaseMemObject of the
 * last reference does nothing). Why: the same check has no hook for a buffer's release, so
 * its shadow outlives it, and Oclgrind hands the released buffer's index to the next
 * clCreateBuffer. The new buffer then inherits the old one's shadow, of the old size: a
 * kernel's stores past that size are dropped and its later reads there are reported as
 * uninitialised. (That was the report left open in docs/RELIABILITY.md: the test arena
 * releases its raw buffers, and the pool's next buffer took one of their indices.) With no
 * index reused, each new buffer gets a fresh shadow, all undefined, of its own size.
 * Built by `make test-oclgrind` as $(BUILD)/oclgrind_fill.so; used only under Oclgrind. */
#define _GNU_SOURCE /* RTLD_NEXT */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef cl_int (*write_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint,
                           const cl_event *, cl_event *);
typedef cl_int (*fill_fn)(cl_command_queue, cl_mem, const void *, size_t, size_t, size_t, cl_uint, const cl_event *,
                          cl_event *);
typedef cl_int (*copy_fn)(cl_command_queue, cl_mem, cl_mem, size_t, size_t, size_t, cl_uint, const cl_event *,
                          cl_event *);

/* The ICD loader's function `name` (this file defines the ones the program calls). */
static void (*real(const char *name))(void) { return (void (*)(void))dlsym(RTLD_NEXT, name); }

static write_fn real_write(void) {
    static write_fn fn;
    if (!fn) fn = (write_fn)real("clEnqueueWriteBuffer");
    return fn;
}

/* The size of buf, or 0 for a sub-buffer or on error (then the call passes through). */
static size_t whole_size(cl_mem buf) {
    cl_mem parent = NULL;
    size_t size = 0;
    if (clGetMemObjectInfo(buf, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof parent, &parent, NULL) != CL_SUCCESS || parent)
        return 0;
    if (clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS) return 0;
    return size;
}

/* Read all of buf (after the wait list) into a new host copy; NULL with *err set on failure. */
static unsigned char *read_whole(cl_command_queue q, cl_mem buf, size_t size, cl_uint n, const cl_event *wait,
                                 cl_int *err) {
    unsigned char *all = malloc(size);
    if (!all) {
        *err = CL_OUT_OF_HOST_MEMORY;
        return NULL;
    }
    if ((*err = clEnqueueReadBuffer(q, buf, CL_TRUE, 0, size, all, n, wait, NULL)) != CL_SUCCESS) {
        free(all);
        return NULL;
    }
    return all;
}

/* Write the patched host copy back as one whole-buffer store, and free it. */
static cl_int write_whole(cl_command_queue q, cl_mem buf, size_t size, unsigned char *all, cl_event *event) {
    const cl_int err = real_write()(q, buf, CL_TRUE, 0, size, all, 0, NULL, event);
    free(all);
    return err;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueWriteBuffer(cl_command_queue q, cl_mem buf, cl_bool blocking,
                                                     size_t offset, size_t size, const void *ptr, cl_uint n,
                                                     const cl_event *wait, cl_event *event) {
    const size_t total = whole_size(buf);
    if (!real_write()) return CL_INVALID_OPERATION;
    if (total == 0 || (offset == 0 && size == total) || !ptr || offset + size > total || offset + size < offset)
        return real_write()(q, buf, blocking, offset, size, ptr, n, wait, event); /* whole, or the driver's error */
    cl_int err;
    unsigned char *all = read_whole(q, buf, total, n, wait, &err);
    if (!all) return err;
    memcpy(all + offset, ptr, size);
    return write_whole(q, buf, total, all, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueFillBuffer(cl_command_queue q, cl_mem buf, const void *pattern,
                                                    size_t pattern_size, size_t offset, size_t size, cl_uint n,
                                                    const cl_event *wait, cl_event *event) {
    const size_t total = whole_size(buf);
    if (total == 0 || !pattern || pattern_size == 0 || size % pattern_size != 0 || offset % pattern_size != 0 ||
        offset + size > total || offset + size < offset || !real_write()) { /* the driver says what is wrong */
        const fill_fn fill = (fill_fn)real("clEnqueueFillBuffer");
        return fill ? fill(q, buf, pattern, pattern_size, offset, size, n, wait, event) : CL_INVALID_OPERATION;
    }
    cl_int err;
    unsigned char *all = read_whole(q, buf, total, n, wait, &err);
    if (!all) return err;
    for (size_t i = 0; i < size; i += pattern_size) memcpy(all + offset + i, pattern, pattern_size);
    return write_whole(q, buf, total, all, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueCopyBuffer(cl_command_queue q, cl_mem src, cl_mem dst, size_t src_offset,
                                                    size_t dst_offset, size_t size, cl_uint n, const cl_event *wait,
                                                    cl_event *event) {
    const size_t total = whole_size(dst), src_total = whole_size(src);
    if (total == 0 || src_total == 0 || dst_offset + size > total || src_offset + size > src_total ||
        dst_offset + size < dst_offset || src_offset + size < src_offset || !real_write()) {
        const copy_fn copy = (copy_fn)real("clEnqueueCopyBuffer");
        return copy ? copy(q, src, dst, src_offset, dst_offset, size, n, wait, event) : CL_INVALID_OPERATION;
    }
    cl_int err;
    unsigned char *part = read_whole(q, src, src_total, n, wait, &err), *all = NULL;
    if (!part) return err;
    if ((all = read_whole(q, dst, total, 0, NULL, &err)) == NULL) {
        free(part);
        return err;
    }
    memcpy(all + dst_offset, part + src_offset, size);
    free(part);
    return write_whole(q, dst, total, all, event);
}

/* The last reference to a buffer is kept, never released (see the top of the file):
 * the memory stays with Oclgrind until the process ends. Other references, and objects
 * the driver does not know, pass through. */
CL_API_ENTRY cl_int CL_API_CALL clReleaseMemObject(cl_mem buf) {
    cl_uint refs = 0;
    if (clGetMemObjectInfo(buf, CL_MEM_REFERENCE_COUNT, sizeof refs, &refs, NULL) == CL_SUCCESS && refs == 1)
        return CL_SUCCESS;
    cl_int (*release)(cl_mem) = (cl_int(*)(cl_mem))real("clReleaseMemObject");
    return release ? release(buf) : CL_INVALID_OPERATION;
}
