/* timestep.cu — sinusoidal timestep (and SDXL size) embeddings on the GPU, as
 * k_timestep_embedding in kernels/cpu/timestep.c: with half = dim/2,
 *     freq[i] = exp(−ln(max_period) · i / (half − shift)),  out[n] = [sin(t·freq) | cos(t·freq)]
 * ([cos | sin] with flip_sin_to_cos, a zero pad column when dim is odd). One thread per
 * (n, i). The f32 steps are the CPU's, in its order (−ln(max_period) rounded to f32 on the
 * host, × i, ÷ denom, × t); exp, sin and cos are evaluated in double and rounded to f32, i.e.
 * correctly rounded in practice, as glibc's expf/sinf/cosf are. That matters: a one-ulp
 * difference in freq becomes a one-ulp difference in the argument t·freq, up to 6e-5 at
 * t = 999, and CUDA's own expf is allowed 2 ulp. */
#include "kernels/cuda/common.cuh"

#include <math.h>

#define TS_THREADS 128

__global__ static void timestep_kernel(float *out, const float *t, int N, int dim, int half,
                                       int flip, float neg_log, float denom)
{
    const size_t n = (size_t)N * half;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < n;
         k += (size_t)gridDim.x * blockDim.x) {
        const size_t r = k / half;
        const int i = (int)(k % half);
        const float e = neg_log * (float)i / denom;
        const float freq = (float)exp((double)e);
        const float arg = t[r] * freq;
        const float s = (float)sin((double)arg), c = (float)cos((double)arg);
        float *o = out + r * dim;
        o[i] = flip ? c : s;
        o[half + i] = flip ? s : c;
        if (i == 0 && dim % 2)
            o[dim - 1] = 0.0f;
    }
}

extern "C" int kc_timestep_embedding(float *out, const float *t, int N, int dim,
                                     int flip_sin_to_cos, float downscale_freq_shift,
                                     float max_period)
{
    if (N <= 0 || dim <= 0)
        return 0;
    const int half = dim / 2;
    if (half == 0)
        return kc_zero(out, (size_t)N * dim * sizeof(float)); /* dim 1: the pad column only */
    const float neg_log = (float)-log((double)max_period);
    const float denom = (float)half - downscale_freq_shift;
    const size_t n = (size_t)N * half;
    timestep_kernel<<<kc_blocks(n, TS_THREADS), TS_THREADS>>>(out, t, N, dim, half,
                                                              flip_sin_to_cos, neg_log, denom);
    return kc_launched("timestep_embedding");
}

extern "C" int kc_timestep_embedding_sd(float *out, const float *t, int N, int dim)
{
    return kc_timestep_embedding(out, t, N, dim, 1, 0.0f, 10000.0f);
}
