/* random.h: the library's one random stream (splitmix64) and what it is used for:
 * parameter initialisation, data splits, epoch orders, augmentation, dropout keys. Kept
 * in one place so that each is reproducible from its seed alone, on every platform.
 * (cl/eltwise.cl's dropout masks use the same mix on the device.) Not public. */
#ifndef CLCNN_RUNTIME_RANDOM_H
#define CLCNN_RUNTIME_RANDOM_H

#include <stdint.h>

/* splitmix64's increment: stream position j mixes state + (j + 1) * this. */
#define CLCNN_SPLITMIX_GAMMA 0x9E3779B97F4A7C15ull

/* splitmix64's output function: 64 well-mixed bits from z. */
static inline uint64_t rt_splitmix64_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* One splitmix64 step: advances *state and returns the next 64 random bits. */
static inline uint64_t rt_splitmix64(uint64_t *state) { return rt_splitmix64_mix(*state += CLCNN_SPLITMIX_GAMMA); }

/* Draw j (0-based) of the stream whose state starts at key, without stepping through
 * the ones before: what cl/eltwise.cl's dropout computes per element. */
static inline uint64_t rt_splitmix64_at(uint64_t key, uint64_t j) {
    return rt_splitmix64_mix(key + (j + 1) * CLCNN_SPLITMIX_GAMMA);
}

/* A well-mixed seed from two values (seed, epoch), (seed, class) and the like. */
static inline uint64_t rt_seed_mix(uint64_t a, uint64_t b) {
    uint64_t s = a;
    uint64_t h = rt_splitmix64(&s);
    s = h ^ b;
    return rt_splitmix64(&s);
}

/* Uniform in [0, bound), bound >= 1, without modulo bias (rejection sampling). */
static inline uint64_t rt_random_below(uint64_t *state, uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound; /* accept r < limit */
    uint64_t r;
    do r = rt_splitmix64(state);
    while (r >= limit);
    return r % bound;
}

/* Fisher-Yates shuffle of a[0..n) with the stream *state. */
static inline void rt_shuffle_ints(int *a, int n, uint64_t *state) {
    for (int i = n - 1; i > 0; i--) {
        const int j = (int)rt_random_below(state, (uint64_t)i + 1);
        const int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

#endif
