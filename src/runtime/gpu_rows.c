/* gpu_rows.c: the GPU family's parameter rows, one per vendor (CL_DEVICE_VENDOR_ID) and a
 * generic one, in CLBlast's manner of a per-device database. None has been measured on
 * a GPU yet (docs/GPU.md): each is a starting point taken from CLBlast's published tuned
 * xgemm rows for that vendor, for `clbench tune` and the first lent GPU to correct.
 * CLBlast's C is column-major, so its MWG/MDIMC (along C's unit stride) are our NWG/NDIMC.
 * CLCNN_GPU_ROW=NAME forces a row (the ISA report and the tests build every row on any
 * device). */
#include <stdlib.h>
#include <string.h>
#include "runtime/gpu_rows.h"

/* Fields: name, gemm_tiled's tile (M x N per work-item) and work-group side (its
 * fallback where a device will not run gemm_local's work-group: 3 x 16 keeps it within
 * 128 registers without a stack on sm_90 and gfx90a, where 4 x 16 needs 121 and 132),
 * element-wise local size, then gemm_local's MWG, NWG, KWG, MDIMC, NDIMC. */
static const rt_device_params rows[] = {
    /* NVIDIA: CLBlast's A100 row, 64 x 32 tiles 32 deep, 16 x 8 work-items of 4 x 4 */
    {"nvidia", 3, 16, 8, 256, 64, 32, 32, 16, 8},
    /* AMD: CLBlast's MI50 row, 64 x 64 tiles 32 deep, 16 x 16 work-items of 4 x 4 */
    {"amd", 3, 16, 8, 256, 64, 64, 32, 16, 16},
    /* Intel: CLBlast's Arc row keeps a 32 x 64 tile of C per group of 4 x 16 work-items
     * (8 x 4 outputs each) without local memory; gemm_local with that shape, 16 deep */
    {"intel", 3, 16, 8, 256, 32, 64, 16, 4, 16},
    /* Any other GPU: 64 x 64 tiles 16 deep, 16 x 16 work-items of 4 x 4 */
    {"default", 3, 16, 8, 256, 64, 64, 16, 16, 16},
};
static const unsigned row_vendor[] = {0x10de, 0x1002, 0x8086, 0}; /* 0: the generic row, last */
enum { ROWS = sizeof rows / sizeof rows[0] };
_Static_assert(sizeof row_vendor / sizeof row_vendor[0] == ROWS, "a vendor ID per row");

const rt_device_params *rt_gpu_rows(int *count) {
    *count = ROWS;
    return rows;
}

/* The row CLCNN_GPU_ROW names, or NULL (unset, or no such row). */
static const rt_device_params *env_row(void) {
    const char *v = getenv("CLCNN_GPU_ROW");
    if (!v || !*v) return NULL;
    for (int i = 0; i < ROWS; i++)
        if (!strcmp(v, rows[i].row_name)) return &rows[i];
    return NULL;
}

const rt_device_params *rt_gpu_row_for(const clcnn_device_info *info) {
    const rt_device_params *forced = env_row();
    if (forced) return forced;
    int i = 0;
    while (i < ROWS - 1 && row_vendor[i] != info->vendor_id) i++;
    return &rows[i];
}

clcnn_status rt_gpu_row_check_env(void) {
    const char *v = getenv("CLCNN_GPU_ROW");
    if (!v || !*v || env_row()) return CLCNN_OK;
    return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT,
                       "CLCNN_GPU_ROW=%s: no such row (want nvidia, amd, intel or default)", v);
}
