/* noise_schedule.h — the DDPM forward process sd-scripts trains against.
 *
 * DDPMScheduler(beta_start=0.00085, beta_end=0.012, "scaled_linear", 1000): betas =
 * linspace(√b0, √b1, T)² in f32, ᾱ = cumprod(1 − β); x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε and the
 * v-target √ᾱ_t·ε − √(1 − ᾱ_t)·x0 (diffusers add_noise / get_velocity). all_snr = ᾱ/(1 − ᾱ)
 * is taken before the optional zero-terminal-SNR rescale (Lin et al. 2023), as sd-scripts
 * does. Timesteps are drawn uniformly from [min, max) with the Philox RNG (kernels/rng.h). */
#ifndef LORATTY_TRAIN_NOISE_SCHEDULE_H
#define LORATTY_TRAIN_NOISE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define NOISE_MAX_TIMESTEPS 1000

/* Philox "purpose" words of the draws made here (kernels/rng.h uses 1 and 2). */
enum { NOISE_RNG_TIMESTEP = 16, NOISE_RNG_UNIFORM = 17 };

typedef struct noise_schedule {
    int num_timesteps;
    float betas[NOISE_MAX_TIMESTEPS];
    float alphas_cumprod[NOISE_MAX_TIMESTEPS];
    float all_snr[NOISE_MAX_TIMESTEPS];   /* before any zero-terminal-SNR rescale */
} noise_schedule;

/* scaled_linear betas; sd-scripts uses (0.00085, 0.012, 1000). */
int noise_schedule_init(noise_schedule *ns, double beta_start, double beta_end, int num_timesteps,
                        error_info *err);

/* --zero_terminal_snr: rescale √ᾱ so that ᾱ_T = 0 and ᾱ_0 is kept; recompute betas and ᾱ
 * (all_snr stays as it was). */
void noise_schedule_zero_terminal_snr(noise_schedule *ns);

/* out[b] = √ᾱ_t[b]·x0[b] + √(1 − ᾱ_t[b])·eps[b], for B samples of n elements each. */
void noise_add(const noise_schedule *ns, float *out, const float *x0, const float *eps,
               const int *t, int B, size_t n);

/* v-prediction target: √ᾱ_t·eps − √(1 − ᾱ_t)·x0. */
void noise_v_target(const noise_schedule *ns, float *out, const float *x0, const float *eps,
                    const int *t, int B, size_t n);

/* B timesteps uniform in [min_t, max_t) (sd-scripts get_timesteps); all max_t when
 * min_t >= max_t. Draw i uses counter offset + i. */
void noise_sample_timesteps(int *t, int B, int min_t, int max_t, uint64_t seed, uint64_t offset);

/* One uniform in [0, 1) (torch.rand(1) / random.random() in sd-scripts). */
float noise_uniform(uint64_t seed, uint64_t offset);

#endif
