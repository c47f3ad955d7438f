/* device_rank.c: which device is the default. Discrete GPUs first, then integrated
 * ones, then CPUs, then the rest, each class ranked by an fp32 throughput estimate that
 * knows how many lanes a vendor's compute unit has: compute units x clock alone ranks a
 * 96-EU Intel iGPU (8 lanes an EU) above an RTX 3060 (128 lanes an SM). Software
 * rasterisers presented as GPUs (Mesa's llvmpipe through rusticl, SwiftShader) are
 * slower than the CPU device beside them and come last: only a spec picks one. */
#include <ctype.h>
#include <string.h>
#include "runtime/device_rank.h"

#define VENDOR_NVIDIA 0x10deu
#define VENDOR_AMD 0x1002u
#define VENDOR_INTEL 0x8086u

int rt_contains_nocase(const char *hay, const char *needle) {
    const size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

int rt_device_is_software(const char *name) {
    static const char *const names[] = {"llvmpipe", "softpipe", "swiftshader"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (rt_contains_nocase(name, names[i])) return 1;
    return 0;
}

/* fp32 lanes of one compute unit as the driver counts units: an NVIDIA SM has 128
 * (Maxwell to Hopper, 64 on the V100 and Turing), an AMD CU 64, an Intel EU 8 (the
 * Intel driver counts EUs); a CPU core two AVX2 FMA units of 8. */
static unsigned lanes_per_unit(const clcnn_device_info *d) {
    if (d->type == CLCNN_DEVICE_CPU) return 16;
    switch (d->vendor_id) {
    case VENDOR_NVIDIA: return 128;
    case VENDOR_AMD: return 64;
    case VENDOR_INTEL: return 8;
    default: return 16;
    }
}

double rt_device_estimate_gflops(const clcnn_device_info *d) {
    const double clock_ghz = (d->max_clock_mhz ? d->max_clock_mhz : 1000) / 1000.0;
    return (double)d->compute_units * lanes_per_unit(d) * 2.0 * clock_ghz;
}

/* Higher is preferred. */
static int device_class(const clcnn_device_info *d) {
    if (d->software) return 0;
    switch (d->type) {
    case CLCNN_DEVICE_GPU: return d->unified_memory ? 4 : 5;
    case CLCNN_DEVICE_CPU: return 3;
    case CLCNN_DEVICE_ACCELERATOR: return 2;
    default: return 1;
    }
}

/* Whether d is preferred to b. */
static int better(const clcnn_device_info *d, const clcnn_device_info *b) {
    const int dc = device_class(d), bc = device_class(b);
    return dc > bc || (dc == bc && d->est_gflops > b->est_gflops);
}

int rt_device_pick(const clcnn_device_info *const *infos, int n, clcnn_device_type type) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (type && infos[i]->type != type) continue;
        if (best < 0 || better(infos[i], infos[best])) best = i;
    }
    return best;
}

int rt_device_pick_for_rank(const clcnn_device_info *const *infos, int n, int local_rank) {
    int gpus = 0;
    for (int i = 0; i < n; i++) gpus += infos[i]->type == CLCNN_DEVICE_GPU && !infos[i]->software;
    if (gpus == 0) return rt_device_pick(infos, n, 0);
    /* the (local_rank mod gpus)-th GPU in order of preference: ranks with fewer better ones */
    const int want = local_rank % gpus;
    for (int i = 0; i < n; i++) {
        if (infos[i]->type != CLCNN_DEVICE_GPU || infos[i]->software) continue;
        int ahead = 0;
        for (int j = 0; j < n; j++)
            ahead += j != i && infos[j]->type == CLCNN_DEVICE_GPU && !infos[j]->software &&
                     (better(infos[j], infos[i]) || (!better(infos[i], infos[j]) && j < i));
        if (ahead == want) return i;
    }
    return -1; /* not reached: the ranks 0..gpus-1 are all taken */
}
