/* params.c: per-device tuning parameters, a small table with a default row
 * (CLBlast's database idea). Kernels receive them as -D options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime/internal.h"

/* CLCNN_GEMM_TILE=MxN overrides the GEMM tile (for tuning experiments and for testing
 * every tile the table can choose). N must be 16 or 32, M 1..12. */
static void apply_override(clcnn_device_params *p) {
    const char *v = getenv("CLCNN_GEMM_TILE");
    int m, n;
    if (!v || sscanf(v, "%dx%d", &m, &n) != 2) return;
    if (m < 1 || m > 12 || (n != 16 && n != 32)) {
        clcnn_log(CLCNN_LOG_WARN, "ignoring CLCNN_GEMM_TILE=%s: want MxN with M in 1..12 and N 16 or 32", v);
        return;
    }
    p->gemm_tile_m = m;
    p->gemm_tile_n = n;
    p->row_name = "CLCNN_GEMM_TILE";
}

void clcnn_device_params_for(const clcnn_device_info *info, clcnn_device_params *p) {
    if (info->type == CLCNN_DEVICE_CPU) {
        /* PoCL and other CPU drivers: one work-item per tile of C held in float16
         * registers, work-group size 1. 6x16 keeps the accumulators in 12 of AVX2's 16
         * vector registers; 6x32 (24 of them) spills there and measured 56-62 GFLOP/s
         * against 72-93 for 6x16 (clbench gemm, 1024^3, PoCL 3.1 haswell target). */
        *p = (clcnn_device_params){"cpu", 6, 16, 1, 0};
    } else {
        /* GPUs and the rest: smaller register tiles, more work-items. */
        *p = (clcnn_device_params){"default", 4, 16, 8, 256};
    }
    apply_override(p);
}

int clcnn_params_tuned_choice(const clcnn_context *ctx, const char *op, const int *key, int nkey) {
    (void)ctx, (void)op, (void)key, (void)nkey;
    return 0; /* no tuning table yet (clcnn_tune) */
}
