/* tuning.h: the per-device tuning file (params.c) as clcnn_tune (src/graph/tune.c)
 * writes it. Lookups go through rt_params_tuned_choice (internal.h). Not public. */
#ifndef CLCNN_RUNTIME_TUNING_H
#define CLCNN_RUNTIME_TUNING_H

#include <stddef.h>
#include "runtime/internal.h"

/* Longest key of one tuned choice (CLCNN_CONV_KEY_MAX in ops.h fits). */
#define CLCNN_TUNED_KEY_MAX 16
/* The op name of convolution choices (key: ops_conv2d_tuning_key, choice: clcnn_conv_algo). */
#define CLCNN_TUNED_OP_CONV "conv2d"

typedef struct {
    const char *op;   /* e.g. CLCNN_TUNED_OP_CONV */
    int nkey;
    int key[CLCNN_TUNED_KEY_MAX];
    int choice;       /* > 0 */
    const char *name; /* what the choice is, for people reading the file (may be NULL) */
} rt_tuned_choice;

/* The tuning file of a device: CACHE/tuning-DEVICE-DRIVER.json; -1 when there is no
 * cache folder (neither XDG_CACHE_HOME nor HOME). */
int rt_tuning_path(const clcnn_device_info *info, char *dst, size_t size);

/* gemm_local's work-group tile (the GPU family): MWG x NWG of C, KWG deep, by MDIMC x
 * NDIMC work-items; mwg 0: none. */
typedef struct {
    int mwg, nwg, kwg, mdimc, ndimc;
} rt_local_tile;

/* Merge a GEMM tile (gemm_tile_m 0: keep the stored one), a gemm_local tile (NULL: keep
 * the stored one) and n choices into ctx's device's tuning file (new choices replace
 * stored ones with the same op and key), write it atomically, use it from now on in
 * this process (unless CLCNN_TUNE=off), and give ctx the tiles (unless CLCNN_GEMM_TILE
 * or CLCNN_GEMM_LOCAL overrides them). path (may be NULL) receives the file's name. */
clcnn_status rt_tuning_store(clcnn_context *ctx, int gemm_tile_m, int gemm_tile_n, const rt_local_tile *local,
                                int n, const rt_tuned_choice *choices, char *path, size_t path_size);

/* Whether m x n is a GEMM tile gemm_tiled can be built with. */
int rt_gemm_tile_valid(int m, int n);

/* Whether t is a gemm_local tile it can be built with: MWG a multiple of MDIMC, NWG of
 * NDIMC, KWG 1..64, tiles up to 256, at most 1024 work-items. */
int rt_local_tile_valid(const rt_local_tile *t);

/* "MWGxNWGxKWG:MDIMCxNDIMC" into *t; 0 when it parses to a valid tile, else -1. */
int rt_local_tile_parse(const char *s, rt_local_tile *t);

/* Set / read params' gemm_local tile. */
void rt_local_tile_set(rt_device_params *p, const rt_local_tile *t);
rt_local_tile rt_local_tile_of(const rt_device_params *p);

#endif
