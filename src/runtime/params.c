/* params.c: per-device tuning parameters, a small table with a default row
 * (CLBlast's database idea). Kernels receive them as -D options. */
#include <string.h>
#include "runtime/internal.h"

void clcnn_device_params_for(const clcnn_device_info *info, clcnn_device_params *p) {
    if (info->type == CLCNN_DEVICE_CPU) {
        /* PoCL and other CPU drivers: one work-item per 6x32 tile of C held in
         * float16 registers, work-group size 1 (DESIGN.md: about 190 GFLOP/s on PoCL). */
        *p = (clcnn_device_params){"cpu", 6, 32, 1, 0};
        return;
    }
    /* GPUs and the rest: smaller register tiles, more work-items. */
    *p = (clcnn_device_params){"default", 4, 16, 8, 256};
}
