/* data_rng.h — the random draws of the data pipeline (caption shuffles and dropouts, flips,
 * random crops, batch order), each a pure function of (seed, purpose, epoch, index, draw)
 * through kernels/rng.h's Philox. So a sample's augmentation does not depend on worker
 * threads or on where a run was resumed.
 *
 * The sequence is ours, not Python's `random`: sd-scripts' shuffles and dropouts follow the
 * same rules (Fisher–Yates from the end as random.shuffle, random() < p, randint inclusive)
 * but draw different numbers, so an individual shuffle differs from sd-scripts'. */
#ifndef LORATTY_DATA_RNG_H
#define LORATTY_DATA_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/rng.h"

enum {
    DATA_RNG_CAPTION = 0x43415054u,   /* "CAPT" */
    DATA_RNG_SAMPLE = 0x53414d50u,    /* "SAMP": flip, crop */
    DATA_RNG_ORDER = 0x4f524452u,     /* "ORDR": bucket and batch order */
};

typedef struct data_rng {
    uint64_t seed;
    uint32_t purpose, epoch, index, draw;
} data_rng;

static inline data_rng data_rng_make(uint64_t seed, uint32_t purpose, uint32_t epoch,
                                     uint32_t index)
{
    return (data_rng){seed, purpose, epoch, index, 0};
}

/* Uniform in [0, 1) with 53 random bits, as Python's random(). */
static inline double data_rng_uniform(data_rng *r)
{
    const uint32_t ctr[4] = {r->index, r->epoch, r->purpose, r->draw++};
    const uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
    uint32_t out[4];
    k_philox4x32_10(out, ctr, key);
    uint64_t bits = ((uint64_t)(out[0] >> 5) << 26) | (out[1] >> 6);
    return (double)bits * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n) (n >= 1). */
static inline size_t data_rng_below(data_rng *r, size_t n)
{
    size_t v = (size_t)(data_rng_uniform(r) * (double)n);
    return v < n ? v : n - 1;
}

#endif
