/* program.c: build kernels from the embedded cl/ sources (or CLCNN_CL_DIR), keep the
 * programs per (context, file, options) in memory, and their binaries on disk under
 * $XDG_CACHE_HOME/clcnn (else ~/.cache/clcnn), keyed by a hash of source, options,
 * device and driver, written atomically; CLCNN_CACHE=off turns the disk cache off. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/fault.h"
#include "runtime/kernel_profile.h"
#include "runtime/internal.h"
#include "runtime/kernels.h"

typedef struct kernel_entry {
    char *name;
    cl_kernel kernel;
    rt_kernel_limits limits; /* queried once, when the kernel is made */
    struct kernel_entry *next;
} kernel_entry;

struct clcnn_program_entry {
    char *file, *options;
    cl_program program;
    kernel_entry *kernels;
    clcnn_program_entry *next;
};

void rt_programs_release(clcnn_context *ctx) {
    for (clcnn_program_entry *p = ctx->programs, *pn; p; p = pn) {
        pn = p->next;
        for (kernel_entry *k = p->kernels, *kn; k; k = kn) {
            kn = k->next;
            clReleaseKernel(k->kernel);
            free(k->name);
            free(k);
        }
        clReleaseProgram(p->program);
        free(p->file);
        free(p->options);
        free(p);
    }
    ctx->programs = NULL;
}

/* ---- sources ---- */

/* A program's sources: defines.cl, common.cl and its own file (build_program). */
#define PROGRAM_SOURCES 3

/* The copy of file embedded at build time. */
static clcnn_status embedded_source(clcnn_context *ctx, const char *file, const char **src, size_t *len) {
    for (const rt_embedded_source *e = rt_embedded_sources; e->name; e++)
        if (!strcmp(e->name, file)) {
            *src = e->data;
            *len = e->size;
            return CLCNN_OK;
        }
    return rt_error(ctx, CLCNN_ERR_NOT_FOUND, "no kernel source cl/%s in this build", file);
}

/* The source text of cl/<file>: from CLCNN_CL_DIR when set (for editing kernels
 * without rebuilding), else the copy embedded at build time. *owned tells whether
 * the caller must free it. */
static clcnn_status load_source(clcnn_context *ctx, const char *file, const char **src, size_t *len, int *owned) {
    const char *dir = getenv("CLCNN_CL_DIR");
    *owned = 0;
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        FILE *f = fopen(path, "rb");
        if (!f) return rt_error(ctx, CLCNN_ERR_IO, "cannot open kernel source %s (CLCNN_CL_DIR): %s", path, strerror(errno));
        char *buf = NULL;
        long size = -1;
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
            buf = malloc((size_t)size + 1);
        if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
            free(buf);
            fclose(f);
            return rt_error(ctx, CLCNN_ERR_IO, "cannot read kernel source %s", path);
        }
        fclose(f);
        buf[size] = 0;
        *src = buf;
        *len = (size_t)size;
        *owned = 1;
        return CLCNN_OK;
    }
    return embedded_source(ctx, file, src, len);
}

/* ---- disk cache ---- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int disk_cache_enabled(void) {
    const char *v = getenv("CLCNN_CACHE");
    return !(v && (!strcmp(v, "off") || !strcmp(v, "0")));
}

/* mkdir -p for the cache folder; 0 on success. */
static int make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int r = mkdir(path, 0755);
        *p = '/';
        if (r != 0 && errno != EEXIST) return -1;
    }
    return (mkdir(path, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

int rt_cache_dir(char *dst, size_t size) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(dst, size, "%s/clcnn", xdg);
    else if (home && *home) snprintf(dst, size, "%s/.cache/clcnn", home);
    else return -1;
    return 0;
}

/* Cache file name: two independent 64-bit hashes over everything that changes the
 * binary (source, options, device, driver, platform). */
static void cache_key(const clcnn_context *ctx, const char **srcs, const size_t *lens, const char *options,
                      char out[40]) {
    const clcnn_device_info *d = &ctx->dev.info;
    const char *parts[] = {options, d->name, d->vendor, d->driver_version, d->platform};
    uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
    for (int i = 0; i < PROGRAM_SOURCES; i++) {
        h1 = fnv1a(h1, srcs[i], lens[i] + 1);
        h2 = fnv1a(h2 ^ 0x9e3779b97f4a7c15ull, srcs[i], lens[i] + 1);
    }
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        h1 = fnv1a(h1, parts[i], strlen(parts[i]) + 1);
        h2 = fnv1a(h2 ^ 0x9e3779b97f4a7c15ull, parts[i], strlen(parts[i]) + 1);
    }
    snprintf(out, 40, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

static cl_program load_binary(clcnn_context *ctx, const char *path, const char *options) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cl_program prog = NULL;
    unsigned char *bin = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (bin = malloc((size_t)size)) && fread(bin, 1, (size_t)size, f) == (size_t)size) {
        size_t sz = (size_t)size;
        const unsigned char *bins[1] = {bin};
        cl_int status, err;
        prog = clCreateProgramWithBinary(ctx->cl, 1, &ctx->dev.device, &sz, bins, &status, &err);
        if (prog && (err != CL_SUCCESS || status != CL_SUCCESS ||
                     clBuildProgram(prog, 1, &ctx->dev.device, options, NULL, NULL) != CL_SUCCESS)) {
            clReleaseProgram(prog);
            prog = NULL;
        }
    }
    free(bin);
    fclose(f);
    if (!prog) rt_log(CLCNN_LOG_WARN, "ignoring unusable cached kernel binary %s", path);
    return prog;
}

/* Write the program's binary to path atomically: a temporary file, then rename. */
static void save_binary(clcnn_context *ctx, cl_program prog, const char *dir, const char *path) {
    size_t size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS || size == 0) return;
    unsigned char *bin = malloc(size);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    int fd = -1;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS &&
        (fd = mkstemp(tmp)) >= 0) {
        size_t done = 0;
        while (done < size) {
            ssize_t w = write(fd, bin + done, size - done);
            if (w <= 0) break;
            done += (size_t)w;
        }
        int ok = done == size && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            unlink(tmp);
            rt_log(CLCNN_LOG_WARN, "could not write kernel cache file %s", path);
        }
    }
    (void)ctx;
    free(bin);
}

/* ---- build ---- */

static clcnn_status build_from_source(clcnn_context *ctx, const char *file, const char **srcs, const size_t *lens,
                                      const char *options, cl_program *out) {
    cl_int err;
    cl_program prog = clCreateProgramWithSource(ctx->cl, PROGRAM_SOURCES, srcs, lens, &err);
    if (!prog) return rt_error(ctx, err, "clCreateProgramWithSource(%s) failed (%d)", file, err);
    err = clBuildProgram(prog, 1, &ctx->dev.device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[3072] = "";
        size_t log_len = 0;
        clGetProgramBuildInfo(prog, ctx->dev.device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &log_len);
        log[sizeof log - 1] = 0;
        clReleaseProgram(prog);
        return rt_error(ctx, CLCNN_ERR_BUILD, "building cl/%s with \"%s\" failed (%d):\n%s", file, options, err, log);
    }
    ctx->stats.programs_built++;
    *out = prog;
    return CLCNN_OK;
}

/* CLCNN_BUILD_LOG=PATH: append "FILE<TAB>OPTIONS<TAB>KERNEL" for every kernel a context
 * makes, with the program's options exactly as the driver gets them, so that `make
 * isa-report` compiles what the library runs (scripts/isa_report.py). One write per
 * line, with O_APPEND: processes running at once do not mix their lines. */
static void log_kernel(const clcnn_context *ctx, const char *file, const char *options, const char *kernel) {
    const char *path = getenv("CLCNN_BUILD_LOG");
    if (!path || !*path) return;
    char line[1200];
    const int n = snprintf(line, sizeof line, "%s\t%s %s\t%s\n", file, ctx->build_options, options, kernel);
    const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    if (n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) != n)
        rt_log(CLCNN_LOG_WARN, "could not write to CLCNN_BUILD_LOG %s", path);
    close(fd);
}

/* Every program is defines.cl (the codes from include/clcnn.h's lists, generated at
 * build time: always the embedded copy), cl/common.cl (shared helpers such as the
 * activation functions) and its own file. */
static clcnn_status build_program(clcnn_context *ctx, const char *file, const char *options, cl_program *out) {
    const char *srcs[PROGRAM_SOURCES] = {NULL, NULL, NULL};
    size_t lens[PROGRAM_SOURCES];
    int owned[PROGRAM_SOURCES] = {0, 0, 0};
    clcnn_status st = embedded_source(ctx, "defines.cl", &srcs[0], &lens[0]);
    if (st == CLCNN_OK) st = load_source(ctx, "common.cl", &srcs[1], &lens[1], &owned[1]);
    if (st == CLCNN_OK) st = load_source(ctx, file, &srcs[2], &lens[2], &owned[2]);
    char full[1024];
    snprintf(full, sizeof full, "%s %s", ctx->build_options, options ? options : "");

    char dir[4096], path[4200];
    int use_disk = st == CLCNN_OK && disk_cache_enabled() && rt_cache_dir(dir, sizeof dir) == 0;
    *out = NULL;
    if (use_disk) {
        char key[40];
        cache_key(ctx, srcs, lens, full, key);
        snprintf(path, sizeof path, "%s/%s.bin", dir, key);
        if ((*out = load_binary(ctx, path, full)) != NULL) ctx->stats.programs_from_disk++;
    }
    if (st == CLCNN_OK && !*out) {
        st = build_from_source(ctx, file, srcs, lens, full, out);
        if (st == CLCNN_OK && use_disk) {
            if (make_dirs(dir) == 0) save_binary(ctx, *out, dir, path);
            else rt_log(CLCNN_LOG_WARN, "cannot create kernel cache folder %s", dir);
        }
    }
    for (int i = 0; i < PROGRAM_SOURCES; i++)
        if (owned[i]) free((void *)srcs[i]);
    return st;
}

/* What the device allows this kernel (a register-heavy build may be held to fewer
 * work-items than the device's maximum: 32 on llvmpipe, less than 256 on some GPUs). */
static void query_limits(const clcnn_context *ctx, cl_kernel kernel, rt_kernel_limits *l) {
    size_t wg = 0, multiple = 0;
    cl_ulong local_mem = 0;
    const size_t device_max = ctx->dev.info.max_work_group_size;
    if (clGetKernelWorkGroupInfo(kernel, ctx->dev.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) != CL_SUCCESS)
        wg = 0;
    if (clGetKernelWorkGroupInfo(kernel, ctx->dev.device, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                 sizeof multiple, &multiple, NULL) != CL_SUCCESS)
        multiple = 0;
    if (clGetKernelWorkGroupInfo(kernel, ctx->dev.device, CL_KERNEL_LOCAL_MEM_SIZE, sizeof local_mem, &local_mem,
                                 NULL) != CL_SUCCESS)
        local_mem = 0;
    l->work_group_max = wg && (!device_max || wg < device_max) ? wg : device_max;
    l->kernel_work_group_max = wg;
    l->preferred_multiple = multiple ? multiple : 1;
    l->local_mem_bytes = local_mem;
}

rt_kernel_limits rt_kernel_limits_of(const clcnn_context *ctx, cl_kernel kernel) {
    for (const clcnn_program_entry *p = ctx->programs; p; p = p->next)
        for (const kernel_entry *k = p->kernels; k; k = k->next)
            if (k->kernel == kernel) return k->limits;
    rt_kernel_limits l; /* a kernel made elsewhere (none today): ask the driver */
    query_limits(ctx, kernel, &l);
    return l;
}

clcnn_status rt_get_kernel(clcnn_context *ctx, const char *file, const char *name, const char *options,
                              cl_kernel *kernel) {
    if (!options) options = "";
    clcnn_program_entry *p = ctx->programs;
    while (p && (strcmp(p->file, file) || strcmp(p->options, options))) p = p->next;
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p || !(p->file = strdup(file)) || !(p->options = strdup(options))) {
            if (p) free(p->file);
            free(p);
            return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "out of host memory building cl/%s", file);
        }
        clcnn_status st = build_program(ctx, file, options, &p->program);
        if (st != CLCNN_OK) {
            free(p->file);
            free(p->options);
            free(p);
            return st;
        }
        p->next = ctx->programs;
        ctx->programs = p;
    }
    kernel_entry *k = p->kernels;
    while (k && strcmp(k->name, name)) k = k->next;
    if (!k) {
        cl_int err;
        cl_kernel kern = clCreateKernel(p->program, name, &err);
        if (!kern) return rt_error(ctx, err, "kernel %s not found in cl/%s (%d)", name, file, err);
        k = calloc(1, sizeof *k);
        if (!k || !(k->name = strdup(name))) {
            free(k);
            clReleaseKernel(kern);
            return rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        k->kernel = kern;
        query_limits(ctx, kern, &k->limits);
        log_kernel(ctx, file, options, name);
        k->next = p->kernels;
        p->kernels = k;
    }
    *kernel = k->kernel;
    return CLCNN_OK;
}

rt_karg rt_karg_tensor_buf(const clcnn_tensor *t) {
    static const cl_mem null_mem = NULL;
    return (rt_karg){sizeof(cl_mem), t ? (const void *)&t->buf : (const void *)&null_mem};
}

static const char *kernel_name(cl_kernel kernel, char *buf, size_t size) {
    if (clGetKernelInfo(kernel, CL_KERNEL_FUNCTION_NAME, size, buf, NULL) != CL_SUCCESS) snprintf(buf, size, "?");
    return buf;
}

void rt_fit_local(size_t limit, const size_t *item_max, cl_uint dims, const size_t *want, size_t *out) {
    size_t total = 1;
    for (cl_uint i = 0; i < dims; i++) {
        out[i] = want[i]; /* 0 stays, for check_launch_limits to refuse */
        while (item_max && item_max[i] && out[i] > item_max[i]) out[i] = (out[i] + 1) / 2;
        total *= out[i];
    }
    while (limit && total > limit) { /* halve the largest dimension: 8x8 -> 4x8 -> 4x4 */
        cl_uint big = 0;
        for (cl_uint i = 1; i < dims; i++)
            if (out[i] > out[big]) big = i;
        if (out[big] <= 1) break;
        total /= out[big];
        out[big] = (out[big] + 1) / 2;
        total *= out[big];
    }
}

/* Refuse a launch the device cannot run (work-group size over the device's or this
 * kernel's limit, more local memory than the device has) with an error naming the
 * kernel and the limit, where drivers give a bare code or fail at a later read. */
static clcnn_status check_launch_limits(clcnn_context *ctx, cl_kernel kernel, const rt_kernel_limits *lim,
                                        const char *what, cl_uint dims, const size_t *local) {
    const clcnn_device_info *d = &ctx->dev.info;
    char name[128];
    if (dims < 1 || dims > 3)
        return rt_error(ctx, CL_INVALID_WORK_DIMENSION, "%s: kernel %s launched with %u dimensions", what,
                           kernel_name(kernel, name, sizeof name), dims);
    if (d->local_mem_bytes && lim->local_mem_bytes > d->local_mem_bytes)
        return rt_error(ctx, CL_OUT_OF_RESOURCES, "%s: kernel %s needs %llu bytes of local memory, more than the "
                           "%llu bytes of %s", what, kernel_name(kernel, name, sizeof name),
                           (unsigned long long)lim->local_mem_bytes, (unsigned long long)d->local_mem_bytes, d->name);
    if (!local) return CLCNN_OK;
    size_t total = 1;
    for (cl_uint i = 0; i < dims; i++) {
        if (local[i] == 0 || (ctx->max_item_sizes[i] && local[i] > ctx->max_item_sizes[i]))
            return rt_error(ctx, CL_INVALID_WORK_ITEM_SIZE, "%s: kernel %s: local size %zu in dimension %u is "
                               "outside 1..%zu on %s", what, kernel_name(kernel, name, sizeof name), local[i], i,
                               ctx->max_item_sizes[i], d->name);
        total *= local[i];
    }
    if (lim->work_group_max && total > lim->work_group_max)
        return rt_error(ctx, CL_INVALID_WORK_GROUP_SIZE, "%s: kernel %s: a work-group of %zu work-items exceeds "
                           "the %zu that %s allows for it (device %zu, kernel %zu)", what,
                           kernel_name(kernel, name, sizeof name), total, lim->work_group_max, d->name,
                           d->max_work_group_size, lim->kernel_work_group_max);
    return CLCNN_OK;
}

/* exact: the kernel was built for this local size (a reduction over RED_WG
 * work-items), so it is launched as asked or refused; otherwise the size is a
 * preference, shrunk to what the device allows this kernel. */
static clcnn_status launch(clcnn_context *ctx, cl_kernel kernel, const char *what, int nargs, const rt_karg *args,
                           cl_uint dims, const size_t *global, const size_t *local, int exact) {
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) return rt_error(ctx, err, "%s: setting kernel argument %d failed (%d)", what, i, err);
    }
    const rt_kernel_limits lim = rt_kernel_limits_of(ctx, kernel);
    size_t fitted[3];
    if (local && !exact && dims >= 1 && dims <= 3) {
        rt_fit_local(lim.work_group_max, ctx->max_item_sizes, dims, local, fitted);
        local = fitted;
    }
    clcnn_status st = check_launch_limits(ctx, kernel, &lim, what, dims, local);
    if (st != CLCNN_OK) return st;
    size_t g[3];
    for (cl_uint d = 0; d < dims; d++) {
        if (global[d] == 0) return CLCNN_OK; /* empty tensor: nothing to do */
        g[d] = local ? (global[d] + local[d] - 1) / local[d] * local[d] : global[d];
    }
    /* CLCNN_FAULT: an injected failure is what a driver short of resources returns. */
    const int injected = rt_fault_hit(CLCNN_FAULT_LAUNCH);
    const int profiled = !injected && rt_kprofile_on();
    const double t0 = profiled ? rt_kprofile_start(ctx->queue) : 0;
    cl_int err = injected ? CL_OUT_OF_RESOURCES : clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, g, local, 0, NULL, NULL);
    if (profiled && err == CL_SUCCESS) rt_kprofile_end(ctx->queue, kernel, t0);
    if (err != CL_SUCCESS)
        return rt_error(ctx, err, "%s: kernel launch failed (%d, %s)%s", what, err, clcnn_status_str(err),
                           injected ? CLCNN_FAULT_NOTE : "");
    return CLCNN_OK;
}

clcnn_status rt_launch(clcnn_context *ctx, cl_kernel kernel, const char *what, int nargs, const rt_karg *args,
                          cl_uint dims, const size_t *global, const size_t *local) {
    return launch(ctx, kernel, what, nargs, args, dims, global, local, 0);
}

clcnn_status rt_launch_exact(clcnn_context *ctx, cl_kernel kernel, const char *what, int nargs,
                                const rt_karg *args, cl_uint dims, const size_t *global, const size_t *local) {
    return launch(ctx, kernel, what, nargs, args, dims, global, local, 1);
}
