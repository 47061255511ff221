/* dropout.c — dropout, uniform and Gaussian noise from the counter-based Philox generator
 * (kernels/rng.h). Every element's draw depends only on (seed, offset + index), so the CUDA
 * kernels reproduce the CPU masks exactly and threads can take any share of the work. */
#include "kernels/ops_attention.h"
#include "kernels/rng.h"

#include <math.h>

#define RNG_PAR_MIN 16384

/* Drop when the 32-bit draw is below p·2³²: an integer test, identical on every backend. */
static uint64_t dropout_threshold(float p)
{
    if (!(p > 0.0f))
        return 0;
    if (p >= 1.0f)
        return (uint64_t)1 << 32;
    return (uint64_t)((double)p * 4294967296.0);
}

/* 1/(1 − p) for kept elements; 1 when nothing is dropped (p ≤ 0 or NaN), 0 when all are. */
static float dropout_scale(uint64_t thr, float p)
{
    if (thr == 0)
        return 1.0f;
    return thr >> 32 ? 0.0f : 1.0f / (1.0f - p);
}

static int dropout_keep_thr(uint64_t thr, uint64_t seed, uint64_t ctr)
{
    uint32_t x[4];
    k_rng_block(x, seed, ctr, K_RNG_DROPOUT);
    return (uint64_t)x[0] >= thr;
}

int k_dropout_keep(float p, uint64_t seed, uint64_t offset, size_t index)
{
    return dropout_keep_thr(dropout_threshold(p), seed, offset + index);
}

void k_dropout_forward(float *out, uint8_t *mask, const float *inp, float p, uint64_t seed,
                       uint64_t offset, size_t n)
{
    const uint64_t thr = dropout_threshold(p);
    const float keep_scale = dropout_scale(thr, p);
    #pragma omp parallel for if (n > RNG_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const int keep = thr == 0 || dropout_keep_thr(thr, seed, offset + i);
        out[i] = keep ? inp[i] * keep_scale : 0.0f;
        if (mask)
            mask[i] = (uint8_t)keep;
    }
}

void k_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p,
                        uint64_t seed, uint64_t offset, size_t n)
{
    const uint64_t thr = dropout_threshold(p);
    const float keep_scale = dropout_scale(thr, p);
    #pragma omp parallel for if (n > RNG_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const int keep = mask ? mask[i] != 0
                              : thr == 0 || dropout_keep_thr(thr, seed, offset + i);
        if (keep)
            dinp[i] += dout[i] * keep_scale;
    }
}

void k_randn(float *out, size_t n, uint64_t seed, uint64_t offset)
{
    const double two_pi = 6.283185307179586476925286766559;
    #pragma omp parallel for if (n > RNG_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        uint32_t x[4];
        k_rng_block(x, seed, offset + i, K_RNG_NORMAL);
        /* u1 in (0, 1] so the log is finite; 32 bits each, exact in double */
        const double u1 = ((double)x[0] + 1.0) * (1.0 / 4294967296.0);
        const double u2 = (double)x[1] * (1.0 / 4294967296.0);
        out[i] = (float)(sqrt(-2.0 * log(u1)) * cos(two_pi * u2));
    }
}

void k_rand(float *out, size_t n, uint64_t seed, uint64_t offset)
{
    #pragma omp parallel for if (n > RNG_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        uint32_t x[4];
        k_rng_block(x, seed, offset + i, K_RNG_NORMAL);
        out[i] = k_rng_uniform(x[2]);
    }
}
