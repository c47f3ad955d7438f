/* params.c: per-device tuning parameters, a small table with a default row
 * (CLBlast's database idea). Kernels receive them as -D options. */
#include <string.h>
#include "runtime/internal.h"

void clcnn_device_params_for(const clcnn_device_info *info, clcnn_device_params *p) {
    if (info->type == CLCNN_DEVICE_CPU) {
        /* PoCL and other CPU drivers: one work-item per tile of C held in float16
         * registers, work-group size 1. 6x16 keeps the accumulators in 12 of AVX2's 16
         * vector registers; 6x32 (24 of them) spills there and measured 56-62 GFLOP/s
         * against 72-93 for 6x16 (clbench gemm, 1024^3, PoCL 3.1 haswell target). */
        *p = (clcnn_device_params){"cpu", 6, 16, 1, 0};
        return;
    }
    /* GPUs and the rest: smaller register tiles, more work-items. */
    *p = (clcnn_device_params){"default", 4, 16, 8, 256};
}
