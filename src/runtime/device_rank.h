/* device_rank.h: the default device's ranking (device_rank.c), apart from the OpenCL
 * queries so that tests can rank made-up device lists. Not public. */
#ifndef CLCNN_RUNTIME_DEVICE_RANK_H
#define CLCNN_RUNTIME_DEVICE_RANK_H

#include "clcnn.h"

/* 1 if needle occurs in hay, ignoring case (an empty needle always does). */
int rt_contains_nocase(const char *hay, const char *needle);
/* 1 if a device of this name is a software rasteriser (llvmpipe, softpipe, SwiftShader). */
int rt_device_is_software(const char *name);
/* The fp32 GFLOP/s estimate that ranks devices of one class (info->est_gflops). */
double rt_device_estimate_gflops(const clcnn_device_info *info);
/* The index in infos[0..n) of the preferred device of `type` (0: of any type): by class
 * (discrete GPU, integrated GPU, CPU, accelerator, other, software rasteriser), then by
 * est_gflops; the first listed wins a tie. -1 when none has that type. */
int rt_device_pick(const clcnn_device_info *const *infos, int n, clcnn_device_type type);
/* Data parallelism: the device of the process of local rank local_rank on its machine:
 * the (local_rank mod count)-th of the machine's GPUs (software rasterisers aside) in
 * that order of preference; without one, the default device. */
int rt_device_pick_for_rank(const clcnn_device_info *const *infos, int n, int local_rank);

#endif
