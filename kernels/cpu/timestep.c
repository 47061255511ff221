/* timestep.c — sinusoidal embeddings of timesteps and of SDXL's size conditioning, as
 * diffusers' get_timestep_embedding. Each step is an f32 operation in torch's order (the
 * exponent is ln(max_period)·i rounded to f32, then divided, then exp), so the values match
 * torch's f32 result to within its own exp/sin rounding. */
#include "kernels/ops_attention.h"

#include <math.h>

void k_timestep_embedding(float *out, const float *t, int N, int dim, int flip_sin_to_cos,
                          float downscale_freq_shift, float max_period)
{
    const int half = dim / 2;
    const float neg_log = (float)-log((double)max_period);
    const float denom = (float)half - downscale_freq_shift;
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * dim;
        for (int i = 0; i < half; i++) {
            const float freq = expf(neg_log * (float)i / denom);
            const float arg = t[n] * freq;
            const float s = sinf(arg), c = cosf(arg);
            o[i] = flip_sin_to_cos ? c : s;
            o[half + i] = flip_sin_to_cos ? s : c;
        }
        if (dim % 2)
            o[dim - 1] = 0.0f;
    }
}

void k_timestep_embedding_sd(float *out, const float *t, int N, int dim)
{
    k_timestep_embedding(out, t, N, dim, 1, 0.0f, 10000.0f);
}
