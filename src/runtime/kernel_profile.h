/* kernel_profile.h: CLCNN_PROFILE_KERNELS=1 times every kernel launch (the queue is
 * drained before and after it, so the figures are the kernel's own, and the run is
 * slower) and prints, when the process exits, a table per kernel name: launches, total
 * and mean milliseconds, share of the total, and GFLOP/s for the GEMM.
 * CLCNN_PROFILE_KERNELS=shapes splits the GEMM's rows by shape (M x N x K, batch), and
 * those of im2col and of the GEMM's B packing (rows x columns, batch). For
 * finding where a network spends its time below the layer level of `clbench ops`. A
 * driver that compiles lazily (PoCL builds a kernel for each new local size at its
 * first launch) counts that build in the first launch, which is shown apart and left
 * out of the totals. Not public. */
#ifndef CLCNN_RUNTIME_KERNEL_PROFILE_H
#define CLCNN_RUNTIME_KERNEL_PROFILE_H

#include <CL/cl.h>

/* Whether CLCNN_PROFILE_KERNELS is set (read once). */
int rt_kprofile_on(void);

/* Milliseconds on a monotonic clock, after clFinish(queue). */
double rt_kprofile_start(cl_command_queue queue);

/* The shape (a short label, printf-style) and floating-point work of the next launch
 * this thread profiles: rt_kprofile_end uses them once. Does nothing when profiling
 * is off, so launchers call it unconditionally. */
void rt_kprofile_work(double flops, const char *shape_format, ...) __attribute__((format(printf, 2, 3)));

/* Add the launch of kernel that began at start_ms (clFinish first). Thread-safe. */
void rt_kprofile_end(cl_command_queue queue, cl_kernel kernel, double start_ms);

#endif
