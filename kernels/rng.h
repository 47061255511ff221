/* rng.h — the counter-based random number generator shared by the CPU and CUDA kernels.
 *
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
 * SC 2011): a keyed bijection of a 128-bit counter. Every random draw in loratty is a pure
 * function of (seed, offset + index), so the CPU and CUDA paths produce the same dropout masks
 * and the same noise no matter how the work is split between threads, and a run can be
 * resumed by restoring (seed, offset). Header-only so that .cu files compile the same code.
 *
 * Stream layout: element i of a draw at `offset` uses counter (offset + i) as words 0-1 and
 * the 64-bit seed as the key; word 2 of the counter is a "purpose" tag so that dropout masks
 * and Gaussian noise drawn at the same (seed, offset) are independent.
 */
#ifndef LORATTY_KERNELS_RNG_H
#define LORATTY_KERNELS_RNG_H

#include <stdint.h>

#ifdef __CUDACC__
#define K_RNG_FN __host__ __device__ static inline
#else
#define K_RNG_FN static inline
#endif

enum { K_RNG_DROPOUT = 1, K_RNG_NORMAL = 2 };

/* One Philox4x32-10 block: out = philox(ctr, key). Random123's known-answer vectors hold. */
K_RNG_FN void k_philox4x32_10(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u; /* golden ratio and √3 − 1 Weyl increments */
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The four 32-bit words for element `ctr` of stream `purpose` under `seed`. */
K_RNG_FN void k_rng_block(uint32_t out[4], uint64_t seed, uint64_t ctr, uint32_t purpose)
{
    const uint32_t c[4] = { (uint32_t)ctr, (uint32_t)(ctr >> 32), purpose, 0 };
    const uint32_t k[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
    k_philox4x32_10(out, c, k);
}

/* Uniform in [0, 1) with 24 random bits (exact in f32). */
K_RNG_FN float k_rng_uniform(uint32_t x)
{
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

#endif
