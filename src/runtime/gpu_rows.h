/* gpu_rows.h: the GPU family's parameter rows, chosen by CL_DEVICE_VENDOR_ID. */
#ifndef CLCNN_GPU_ROWS_H
#define CLCNN_GPU_ROWS_H

#include "runtime/internal.h"

/* The rows, the generic one last; *count receives their number. */
const rt_device_params *rt_gpu_rows(int *count);

/* The row for a GPU-family device: CLCNN_GPU_ROW's when it names one, else its
 * vendor's, else the generic row. */
const rt_device_params *rt_gpu_row_for(const clcnn_device_info *info);

/* CLCNN_OK when CLCNN_GPU_ROW is unset or names a row; else an error naming the value
 * and the rows. */
clcnn_status rt_gpu_row_check_env(void);

#endif
