/* sampler.h — the samplers of sample images, step for step what diffusers' schedulers do when
 * sd-scripts builds them (train_util.get_my_scheduler: the DDPM scaled_linear schedule
 * 0.00085..0.012 over 1000 steps, steps_offset 1, each scheduler's other defaults):
 *
 *   ddim                 DDIMScheduler: "leading" timesteps, eta 0, clip_sample (x0 clamped to
 *                        [-1, 1]) and set_alpha_to_one, both diffusers' defaults sd-scripts keeps
 *   euler, k_euler       EulerDiscreteScheduler: "linspace" timesteps, sigmas interpolated
 *   euler_a, k_euler_a   EulerAncestralDiscreteScheduler (noise from k_randn with a seed)
 *   dpmsolver++          DPMSolverMultistepScheduler, order 2, midpoint, final step first order
 *
 * sd-scripts' "dpmsolver" is refused: current diffusers rejects it with the default
 * final_sigmas_type "zero". pndm, lms, heun, dpm_2, dpm_2_a, dpmsingle are not written yet.
 *
 * A sampler works on flat latents of n floats; the caller runs the model:
 *   x = initial noise · init_noise_sigma
 *   for i in 0..steps-1: out = model(x · input_scale(i), timestep(i)); sampler_step(i, out, x) */
#ifndef LORATTY_SAMPLER_H
#define LORATTY_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SAMPLER_TRAIN_STEPS 1000

typedef enum sampler_kind {
    SAMPLER_DDIM,
    SAMPLER_EULER,
    SAMPLER_EULER_A,
    SAMPLER_DPMSOLVER_PP,
} sampler_kind;

/* sd-scripts' sampler names (case-insensitive). Unknown or unsupported names are refused with
 * the list of supported ones. */
int sampler_parse(const char *name, sampler_kind *kind, error_info *err);
const char *sampler_name(sampler_kind kind);          /* "euler_a" */
const char *sampler_a1111_name(sampler_kind kind);    /* "Euler a", as A1111 writes it */
/* "ddim, euler (k_euler), ..." */
const char *sampler_supported(void);

/* The training schedule: alphas_cumprod of scaled_linear betas (computed in float32 as
 * diffusers does; kept in double). */
void sampler_alphas_cumprod(double ac[SAMPLER_TRAIN_STEPS]);

typedef struct sampler {
    sampler_kind kind;
    int v_pred, steps;
    size_t n;
    double ac[SAMPLER_TRAIN_STEPS];
    float *timesteps;        /* [steps] as given to the U-Net */
    double *sigmas;          /* [steps + 1] (Euler / DPM); DDIM: unused */
    float init_noise_sigma;
    float *x0, *prev_x0;     /* [n] data prediction and DPM's previous one */
    int lower_order_nums;
    /* Euler ancestral noise: k_randn(seed, offset n·(i + 1)) at step i, or noise_hook's */
    uint64_t seed;
    float *noise;
    void (*noise_hook)(void *ctx, int step, float *noise, size_t n);   /* tests */
    void *noise_ctx;
} sampler;

int sampler_init(sampler *s, sampler_kind kind, int steps, int v_pred, size_t n, uint64_t seed,
                 error_info *err);
void sampler_free(sampler *s);
float sampler_timestep(const sampler *s, int i);
/* The factor the model input is scaled by at step i (scale_model_input). */
float sampler_input_scale(const sampler *s, int i);
/* One step: x (the latents, [n]) becomes the next latents given the model output. */
void sampler_step(sampler *s, int i, const float *model_out, float *x);

#endif
