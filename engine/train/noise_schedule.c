/* noise_schedule.c — DDPM betas, ᾱ, SNR, add_noise, the v-target, zero-terminal-SNR and
 * timestep sampling (see noise_schedule.h). Arithmetic follows torch's f32 ops; reductions
 * (cumprod) accumulate in double as torch's CPU kernels do. */
#include "engine/train/noise_schedule.h"

#include <math.h>

#include "kernels/rng.h"

/* torch.linspace in f32 on the CPU: the step in f32, each value in double from both ends. */
static float linspace_at(float start, float end, int steps, int idx)
{
    double step = (double)((end - start) / (float)(steps - 1));
    return idx < steps / 2 ? (float)((double)start + step * idx)
                           : (float)((double)end - step * (steps - idx - 1));
}

static void cumprod(float *out, const float *betas, int n)
{
    double acc = 1.0;
    for (int i = 0; i < n; i++) {
        acc *= (double)(1.0f - betas[i]);
        out[i] = (float)acc;
    }
}

int noise_schedule_init(noise_schedule *ns, double beta_start, double beta_end, int T,
                        error_info *err)
{
    if (T < 2 || T > NOISE_MAX_TIMESTEPS)
        return error_set(err, "", 0, 0, "num_train_timesteps", "must lie in 2..%d (got %d)",
                         NOISE_MAX_TIMESTEPS, T);
    if (!(beta_start > 0 && beta_end > beta_start && beta_end < 1))
        return error_set(err, "", 0, 0, "", "betas must satisfy 0 < start < end < 1");
    ns->num_timesteps = T;
    const float s = (float)sqrt(beta_start), e = (float)sqrt(beta_end);
    for (int i = 0; i < T; i++) {
        float b = linspace_at(s, e, T, i);
        ns->betas[i] = b * b;
    }
    cumprod(ns->alphas_cumprod, ns->betas, T);
    for (int i = 0; i < T; i++) { /* sd-scripts: (√ᾱ / √(1 − ᾱ))² in f32 */
        float a = sqrtf(ns->alphas_cumprod[i]), sg = sqrtf(1.0f - ns->alphas_cumprod[i]);
        float r = a / sg;
        ns->all_snr[i] = r * r;
    }
    return 0;
}

void noise_schedule_zero_terminal_snr(noise_schedule *ns)
{
    const int T = ns->num_timesteps;
    float sq[NOISE_MAX_TIMESTEPS];
    cumprod(sq, ns->betas, T);
    for (int i = 0; i < T; i++)
        sq[i] = sqrtf(sq[i]);
    const float s0 = sq[0], sT = sq[T - 1];
    const float scale = s0 / (s0 - sT);
    for (int i = 0; i < T; i++)
        sq[i] = (sq[i] - sT) * scale;
    float prev = 0;
    for (int i = 0; i < T; i++) {
        float ab = sq[i] * sq[i];
        float alpha = i == 0 ? ab : ab / prev;
        prev = ab;
        ns->betas[i] = 1.0f - alpha;
    }
    cumprod(ns->alphas_cumprod, ns->betas, T);
}

void noise_add(const noise_schedule *ns, float *out, const float *x0, const float *eps,
               const int *t, int B, size_t n)
{
    for (int b = 0; b < B; b++) {
        const float ac = ns->alphas_cumprod[t[b]];
        const float sa = sqrtf(ac), s1 = sqrtf(1.0f - ac);
        for (size_t i = 0; i < n; i++)
            out[b * n + i] = sa * x0[b * n + i] + s1 * eps[b * n + i];
    }
}

void noise_v_target(const noise_schedule *ns, float *out, const float *x0, const float *eps,
                    const int *t, int B, size_t n)
{
    for (int b = 0; b < B; b++) {
        const float ac = ns->alphas_cumprod[t[b]];
        const float sa = sqrtf(ac), s1 = sqrtf(1.0f - ac);
        for (size_t i = 0; i < n; i++)
            out[b * n + i] = sa * eps[b * n + i] - s1 * x0[b * n + i];
    }
}

void noise_sample_timesteps(int *t, int B, int min_t, int max_t, uint64_t seed, uint64_t offset)
{
    for (int b = 0; b < B; b++) {
        if (min_t >= max_t) {
            t[b] = max_t;
            continue;
        }
        uint32_t r[4];
        k_rng_block(r, seed, offset + (uint64_t)b, NOISE_RNG_TIMESTEP);
        /* 32 random bits scaled to the range (Lemire): bias below range / 2^32 */
        uint64_t range = (uint64_t)(max_t - min_t);
        t[b] = min_t + (int)(((uint64_t)r[0] * range) >> 32);
    }
}

float noise_uniform(uint64_t seed, uint64_t offset)
{
    uint32_t r[4];
    k_rng_block(r, seed, offset, NOISE_RNG_UNIFORM);
    return k_rng_uniform(r[0]);
}
