/* device.c: enumerate OpenCL platforms and devices once, describe them, and pick one
 * by spec (index, "gpu", "cpu", a part of a name) or by default (device_rank.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/device_rank.h"
#include "runtime/internal.h"

#define MAX_DEVICES 64
#define CL_PLATFORM_NOT_FOUND_KHR_VALUE (-1001) /* the ICD loader's "no platform" */

static rt_device_entry devices[MAX_DEVICES];
static int device_count;
static clcnn_status enumerate_status;
static char enumerate_error[256];
static pthread_once_t enumerate_once = PTHREAD_ONCE_INIT;

static void get_string(cl_device_id d, cl_device_info what, char *dst, size_t size) {
    dst[0] = 0;
    if (clGetDeviceInfo(d, what, size, dst, NULL) != CL_SUCCESS) dst[0] = 0;
    dst[size - 1] = 0;
}

/* The extensions string can be long: look a name up without a fixed buffer. */
static int has_extension(cl_device_id d, const char *ext) {
    size_t size = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || size == 0) return 0;
    char *all = malloc(size + 1);
    if (!all) return 0;
    int found = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, size, all, NULL) == CL_SUCCESS) {
        all[size] = 0;
        found = strstr(all, ext) != NULL;
    }
    free(all);
    return found;
}

static void describe(cl_platform_id p, cl_device_id d, int index, clcnn_device_info *info) {
    memset(info, 0, sizeof *info);
    info->index = index;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform, info->platform, NULL);
    info->platform[sizeof info->platform - 1] = 0;
    get_string(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_string(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_string(d, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_string(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version, sizeof info->opencl_c_version);
    /* "OpenCL C <major>.<minor> ..."; OpenCL 1.0 devices lack the query: read as 1.0. */
    if (sscanf(info->opencl_c_version, "OpenCL C %d.%d", &info->opencl_c_major, &info->opencl_c_minor) != 2) {
        info->opencl_c_major = 1;
        info->opencl_c_minor = 0;
    }
    cl_device_type type = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU) ? CLCNN_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_CPU) ? CLCNN_DEVICE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CLCNN_DEVICE_ACCELERATOR
                                                       : CLCNN_DEVICE_OTHER;
    cl_uint u = 0;
    cl_ulong ul = 0;
    size_t sz = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL) == CL_SUCCESS) info->compute_units = u;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL) == CL_SUCCESS) info->max_clock_mhz = u;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->global_mem_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->max_alloc_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS) info->local_mem_bytes = ul;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof sz, &sz, NULL) == CL_SUCCESS) info->max_work_group_size = sz;
    info->has_fp16 = has_extension(d, "cl_khr_fp16");
    info->has_fp64 = has_extension(d, "cl_khr_fp64");
    if (clGetDeviceInfo(d, CL_DEVICE_VENDOR_ID, sizeof u, &u, NULL) == CL_SUCCESS) info->vendor_id = u;
    cl_bool unified = CL_FALSE; /* deprecated in OpenCL 2.0, still answered by the drivers */
    if (clGetDeviceInfo(d, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL) == CL_SUCCESS)
        info->unified_memory = unified == CL_TRUE;
    info->software = rt_device_is_software(info->name);
    info->est_gflops = rt_device_estimate_gflops(info);
}

static void enumerate(void) {
    cl_platform_id platforms[16];
    cl_uint nplat = 0;
    cl_int err = clGetPlatformIDs(16, platforms, &nplat);
    if (err == CL_PLATFORM_NOT_FOUND_KHR_VALUE || (err == CL_SUCCESS && nplat == 0)) {
        snprintf(enumerate_error, sizeof enumerate_error,
                 "no OpenCL platform found: is an ICD installed (e.g. Debian's pocl-opencl-icd) "
                 "and listed in /etc/OpenCL/vendors?");
        enumerate_status = CLCNN_ERR_NO_DEVICE;
        return;
    }
    if (err != CL_SUCCESS) {
        snprintf(enumerate_error, sizeof enumerate_error, "clGetPlatformIDs failed (%d)", err);
        enumerate_status = err;
        return;
    }
    if (nplat > 16) nplat = 16;
    for (cl_uint p = 0; p < nplat; p++) {
        cl_device_id ids[MAX_DEVICES];
        cl_uint n = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, ids, &n) != CL_SUCCESS) continue;
        for (cl_uint i = 0; i < n && device_count < MAX_DEVICES; i++) {
            rt_device_entry *e = &devices[device_count];
            e->platform = platforms[p];
            e->device = ids[i];
            describe(platforms[p], ids[i], device_count, &e->info);
            device_count++;
        }
    }
}

clcnn_status rt_devices(const rt_device_entry **list, int *count) {
    pthread_once(&enumerate_once, enumerate);
    *list = devices;
    *count = device_count;
    if (enumerate_status != CLCNN_OK) return rt_error(NULL, enumerate_status, "%s", enumerate_error);
    return CLCNN_OK;
}

clcnn_status clcnn_device_count(int *count) {
    if (!count) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_device_count: count is NULL");
    const rt_device_entry *list;
    clcnn_status st = rt_devices(&list, count);
    if (st == CLCNN_ERR_NO_DEVICE) { /* no platform at all is zero devices, not a failure */
        *count = 0;
        return CLCNN_OK;
    }
    return st;
}

clcnn_status clcnn_device_get_info(int index, clcnn_device_info *info) {
    if (!info) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_device_get_info: info is NULL");
    const rt_device_entry *list;
    int n;
    clcnn_status st = rt_devices(&list, &n);
    if (st != CLCNN_OK) return st;
    if (index < 0 || index >= n)
        return rt_error(NULL, CLCNN_ERR_NO_DEVICE, "device index %d out of range (%d devices)", index, n);
    *info = list[index].info;
    return CLCNN_OK;
}

/* The preferred device of `type` (0: any) in the list, or -1. */
static int best_of_type(const rt_device_entry *list, int n, clcnn_device_type type) {
    const clcnn_device_info *infos[MAX_DEVICES];
    for (int i = 0; i < n; i++) infos[i] = &list[i].info;
    return rt_device_pick(infos, n, type);
}

clcnn_status clcnn_device_select_rank(const char *spec, int local_rank, int *index) {
    if (!index || local_rank < 0)
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_device_select_rank: %s",
                           index ? "local_rank is negative" : "index is NULL");
    if ((spec && *spec) || (getenv("CLCNN_DEVICE") && *getenv("CLCNN_DEVICE"))) return clcnn_device_select(spec, index);
    const rt_device_entry *list;
    int n;
    clcnn_status st = rt_devices(&list, &n);
    if (st != CLCNN_OK) return st;
    if (n == 0) return rt_error(NULL, CLCNN_ERR_NO_DEVICE, "no OpenCL device found on any platform");
    const clcnn_device_info *infos[MAX_DEVICES];
    for (int i = 0; i < n; i++) infos[i] = &list[i].info;
    const int i = rt_device_pick_for_rank(infos, n, local_rank);
    *index = i >= 0 ? i : 0;
    return CLCNN_OK;
}

clcnn_status clcnn_device_select(const char *spec, int *index) {
    if (!index) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_device_select: index is NULL");
    const rt_device_entry *list;
    int n;
    clcnn_status st = rt_devices(&list, &n);
    if (st != CLCNN_OK) return st;
    if (n == 0) return rt_error(NULL, CLCNN_ERR_NO_DEVICE, "no OpenCL device found on any platform");
    const char *from = "argument";
    if (!spec || !*spec) {
        spec = getenv("CLCNN_DEVICE");
        from = "CLCNN_DEVICE";
    }
    if (!spec || !*spec) {
        const int i = best_of_type(list, n, 0);
        *index = i >= 0 ? i : 0;
        return CLCNN_OK;
    }
    char *end;
    long k = strtol(spec, &end, 10);
    if (*end == 0 && end != spec) {
        if (k < 0 || k >= n)
            return rt_error(NULL, CLCNN_ERR_NO_DEVICE, "device %ld (from %s) out of range: %d device%s (see `clcnn devices`)",
                               k, from, n, n == 1 ? "" : "s");
        *index = (int)k;
        return CLCNN_OK;
    }
    int i = -1;
    if (!strcmp(spec, "gpu") || !strcmp(spec, "GPU")) i = best_of_type(list, n, CLCNN_DEVICE_GPU);
    else if (!strcmp(spec, "cpu") || !strcmp(spec, "CPU")) i = best_of_type(list, n, CLCNN_DEVICE_CPU);
    else
        for (int j = 0; j < n && i < 0; j++)
            if (rt_contains_nocase(list[j].info.name, spec) || rt_contains_nocase(list[j].info.vendor, spec) ||
                rt_contains_nocase(list[j].info.platform, spec))
                i = j;
    if (i < 0)
        return rt_error(NULL, CLCNN_ERR_NO_DEVICE, "no OpenCL device matches \"%s\" (from %s); see `clcnn devices`",
                           spec, from);
    *index = i;
    return CLCNN_OK;
}
