/* kernels.h: the cl/ sources embedded at build time (see scripts/embed_cl.c). */
#ifndef CLCNN_RUNTIME_KERNELS_H
#define CLCNN_RUNTIME_KERNELS_H
#include <stddef.h>

typedef struct {
    const char *name; /* file name, e.g. "gemm.cl" */
    const char *data; /* NUL-terminated source */
    size_t size;      /* bytes, without the NUL */
} rt_embedded_source;

/* Terminated by an entry with name NULL. */
extern const rt_embedded_source rt_embedded_sources[];

#endif
