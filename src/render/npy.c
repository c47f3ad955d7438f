/* npy.c: float32 arrays as NumPy .npy files (format version 1.0), the form raw maps
 * are handed to Python in: np.load(path) gives the array back with its shape. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "runtime/atomic_file.h"
#include "runtime/error.h"

static const char who[] = "clcnn_npy_save";

enum {
    NPY_MAX_DIMS = 32,  /* NumPy's limit (NPY_MAXDIMS) before 2.0 */
    NPY_ALIGN = 64,     /* numpy pads magic + header to a multiple of 64 bytes */
    NPY_PREFIX = 10,    /* magic (6), version (2), header length (2) */
    NPY_CHUNK = 4096    /* floats converted to little-endian per write */
};

/* The header dict as numpy writes it, e.g. "{'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), }", padded with spaces and ended by a newline so that the data
 * starts at a multiple of 64 bytes. Returns the header length, or 0 if buf is short. */
static size_t npy_header(int ndim, const int *shape, char *buf, size_t size) {
    int len = snprintf(buf, size, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int d = 0; d < ndim && len > 0 && (size_t)len < size; d++)
        len += snprintf(buf + len, size - (size_t)len, d ? ", %d" : "%d", shape[d]);
    if (len > 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, "%s), }", ndim == 1 ? "," : "");
    if (len <= 0 || (size_t)len >= size) return 0;
    size_t total = NPY_PREFIX + (size_t)len + 1; /* + the newline */
    total = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    const size_t header_len = total - NPY_PREFIX;
    if (header_len > size) return 0;
    memset(buf + len, ' ', header_len - 1 - (size_t)len);
    buf[header_len - 1] = '\n';
    return header_len;
}

/* Elements of the array, or SIZE_MAX on overflow or a negative side. */
static size_t element_count(int ndim, const int *shape) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return SIZE_MAX;
        if (shape[d] > 0 && n > SIZE_MAX / sizeof(float) / (size_t)shape[d]) return SIZE_MAX;
        n *= (size_t)shape[d];
    }
    return n;
}

/* Data as little-endian bytes whatever the host's byte order. */
static void write_le_floats(rt_atomic_file *af, const float *data, size_t n) {
    unsigned char buf[NPY_CHUNK * 4];
    for (size_t done = 0; done < n;) {
        const size_t m = n - done < NPY_CHUNK ? n - done : NPY_CHUNK;
        for (size_t i = 0; i < m; i++) {
            uint32_t u;
            memcpy(&u, &data[done + i], 4);
            for (int b = 0; b < 4; b++) buf[4 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
        }
        rt_atomic_write(af, buf, 4 * m);
        done += m;
    }
}

clcnn_status clcnn_npy_save(const char *path, const float *data, int ndim, const int *shape) {
    if (!path || (ndim > 0 && !shape))
        return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: NULL %s", who, path ? "shape" : "path");
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return rt_error(NULL, CLCNN_ERR_SHAPE, "%s: %s: %d dimensions (0 to %d allowed)", who, path, ndim,
                           NPY_MAX_DIMS);
    const size_t n = element_count(ndim, shape);
    if (n == SIZE_MAX) return rt_error(NULL, CLCNN_ERR_SHAPE, "%s: %s: negative or too large shape", who, path);
    if (n > 0 && !data) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "%s: %s: NULL data", who, path);

    char header[NPY_PREFIX + 32 * NPY_MAX_DIMS + 128];
    memcpy(header, "\x93NUMPY\x01\x00", 8);
    const size_t header_len = npy_header(ndim, shape, header + NPY_PREFIX, sizeof header - NPY_PREFIX);
    if (header_len == 0) return rt_error(NULL, CLCNN_ERR_SHAPE, "%s: %s: header too long", who, path);
    header[8] = (char)(header_len & 0xFF);
    header[9] = (char)(header_len >> 8);

    rt_atomic_file af;
    clcnn_status st = rt_atomic_open(NULL, who, path, &af);
    if (st != CLCNN_OK) return st;
    rt_atomic_write(&af, header, NPY_PREFIX + header_len);
    write_le_floats(&af, data, n);
    return rt_atomic_commit(NULL, who, &af);
}
