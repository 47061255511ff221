/* dropout.cu — dropout, uniform and Gaussian noise on the GPU from the Philox generator of
 * kernels/rng.h, the same header the CPU compiles, so element i of a draw at (seed, offset)
 * uses the same 128 random bits as k_dropout_* / k_rand / k_randn in kernels/cpu/dropout.c:
 *  - dropout masks are integer tests on those bits, identical to the CPU's; the keep scale
 *    1/(1 − p) is computed on the host by the same f32 expression, so outputs and gradients
 *    match exactly;
 *  - k_rand's uniforms are exact conversions of 24 bits: identical;
 *  - Gaussians use the CPU's Box-Muller in double, but CUDA's double log/cos may differ from
 *    glibc's in the last bit of the double, which can move the f32 result by one ulp.
 * One thread per element (grid-stride), so the split of the work does not matter. */
#include "kernels/cuda/common.cuh"
#include "kernels/rng.h"

#include <math.h>
#include <stdint.h>

#define RNG_THREADS 256

/* Drop when the 32-bit draw is below p·2³² (as dropout_threshold in kernels/cpu/dropout.c). */
static uint64_t kc_dropout_threshold(float p)
{
    if (!(p > 0.0f))
        return 0;
    if (p >= 1.0f)
        return (uint64_t)1 << 32;
    return (uint64_t)((double)p * 4294967296.0);
}

/* 1/(1 − p) for kept elements; 1 when nothing is dropped, 0 when everything is. */
static float kc_dropout_scale(uint64_t thr, float p)
{
    if (thr == 0)
        return 1.0f;
    return thr >> 32 ? 0.0f : 1.0f / (1.0f - p);
}

__device__ static int dropout_keep(uint64_t thr, uint64_t seed, uint64_t ctr)
{
    if (thr == 0)
        return 1;
    uint32_t x[4];
    k_rng_block(x, seed, ctr, K_RNG_DROPOUT);
    return (uint64_t)x[0] >= thr;
}

__global__ static void dropout_forward_kernel(float *out, uint8_t *mask, const float *inp,
                                              uint64_t thr, float keep_scale, uint64_t seed,
                                              uint64_t offset, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int keep = dropout_keep(thr, seed, offset + i);
        out[i] = keep ? inp[i] * keep_scale : 0.0f;
        if (mask)
            mask[i] = (uint8_t)keep;
    }
}

__global__ static void dropout_backward_kernel(float *dinp, const float *dout,
                                               const uint8_t *mask, uint64_t thr,
                                               float keep_scale, uint64_t seed, uint64_t offset,
                                               size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int keep = mask ? mask[i] != 0 : dropout_keep(thr, seed, offset + i);
        if (keep) /* no fused multiply-add: the CPU (ISO C, contraction off) rounds twice */
            dinp[i] = __fadd_rn(dinp[i], __fmul_rn(dout[i], keep_scale));
    }
}

__global__ static void randn_kernel(float *out, size_t n, uint64_t seed, uint64_t offset)
{
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t x[4];
        k_rng_block(x, seed, offset + i, K_RNG_NORMAL);
        const double u1 = ((double)x[0] + 1.0) * (1.0 / 4294967296.0); /* (0, 1]: finite log */
        const double u2 = (double)x[1] * (1.0 / 4294967296.0);
        out[i] = (float)(sqrt(-2.0 * log(u1)) * cos(two_pi * u2));
    }
}

__global__ static void rand_kernel(float *out, size_t n, uint64_t seed, uint64_t offset)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t x[4];
        k_rng_block(x, seed, offset + i, K_RNG_NORMAL);
        out[i] = k_rng_uniform(x[2]);
    }
}

extern "C" int kc_dropout_forward(float *out, uint8_t *mask, const float *inp, float p,
                                  uint64_t seed, uint64_t offset, size_t n)
{
    if (n == 0)
        return 0;
    const uint64_t thr = kc_dropout_threshold(p);
    dropout_forward_kernel<<<kc_blocks(n, RNG_THREADS), RNG_THREADS>>>(
        out, mask, inp, thr, kc_dropout_scale(thr, p), seed, offset, n);
    return kc_launched("dropout_forward");
}

extern "C" int kc_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p,
                                   uint64_t seed, uint64_t offset, size_t n)
{
    if (n == 0 || !dinp)
        return 0;
    const uint64_t thr = kc_dropout_threshold(p);
    dropout_backward_kernel<<<kc_blocks(n, RNG_THREADS), RNG_THREADS>>>(
        dinp, dout, mask, thr, kc_dropout_scale(thr, p), seed, offset, n);
    return kc_launched("dropout_backward");
}

extern "C" int kc_randn(float *out, size_t n, uint64_t seed, uint64_t offset)
{
    if (n == 0)
        return 0;
    randn_kernel<<<kc_blocks(n, RNG_THREADS), RNG_THREADS>>>(out, n, seed, offset);
    return kc_launched("randn");
}

extern "C" int kc_rand(float *out, size_t n, uint64_t seed, uint64_t offset)
{
    if (n == 0)
        return 0;
    rand_kernel<<<kc_blocks(n, RNG_THREADS), RNG_THREADS>>>(out, n, seed, offset);
    return kc_launched("rand");
}
