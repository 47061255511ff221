/* sampler.h — the samplers of sample images, step for step what diffusers' schedulers do when
 * sd-scripts builds them (train_util.get_my_scheduler: the DDPM scaled_linear schedule
 * 0.00085..0.012 over 1000 steps, each scheduler's other defaults, v_prediction for v models,
 * and config.clip_sample forced on where a scheduler has it off):
 *
 *   ddim                 DDIMScheduler: "leading" timesteps, eta 0, clip_sample (x0 clamped to
 *                        [-1, 1]) and set_alpha_to_one, both diffusers' defaults sd-scripts keeps
 *   pndm                 PNDMScheduler: "leading" timesteps without offset, three Runge-Kutta
 *                        steps of four model calls (skip_prk_steps is off), then 4th-order
 *                        PLMS; the last step ends at alphas_cumprod[0]; at least 4 steps
 *   lms, k_lms           LMSDiscreteScheduler: order 4, the integrated Lagrange coefficients
 *   euler, k_euler       EulerDiscreteScheduler: "linspace" timesteps, sigmas interpolated
 *   euler_a, k_euler_a   EulerAncestralDiscreteScheduler
 *   heun                 HeunDiscreteScheduler, two model calls a step (the last step one),
 *                        x0 clamped to [-1, 1] (sd-scripts' clip_sample)
 *   dpm_2, k_dpm_2       KDPM2DiscreteScheduler: the second call at the log-midpoint sigma
 *   dpm_2_a, k_dpm_2_a   KDPM2AncestralDiscreteScheduler
 *   dpmsolver            DPMSolverMultistepScheduler, algorithm_type "dpmsolver" (noise
 *                        prediction), order 2, midpoint, final sigma that of t = 0
 *                        (final_sigmas_type "sigma_min": current diffusers refuses "zero" for
 *                        this algorithm, and diffusers 0.25 ended there), first order at the
 *                        last step only below 15 steps
 *   dpmsolver++          the same with algorithm_type "dpmsolver++" (data prediction), final
 *                        sigma 0, the last step first order
 *   dpmsingle            DPMSolverSinglestepScheduler: DPM-Solver++ order 2 in pairs of
 *                        steps (first order, then second order from the pair's start), the
 *                        last step (and an even count's last two) first order
 *
 * The ancestral samplers (euler_a, dpm_2_a) draw their noise from k_randn with the seed,
 * offset n·(step + 1), instead of torch's generator: same distribution, other numbers.
 *
 * A sampler works on flat latents of n floats; the caller runs the model, once per call:
 *   x = initial noise · init_noise_sigma
 *   for k in 0..sampler_calls-1:
 *       out = model(x · input_scale(k), timestep(k))
 *       if (sampler_step(k, out, x)) x holds the latents at the end of the next step */
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
    SAMPLER_PNDM,
    SAMPLER_LMS,
    SAMPLER_HEUN,
    SAMPLER_DPM2,
    SAMPLER_DPM2_A,
    SAMPLER_DPMSOLVER,
    SAMPLER_DPMSINGLE,
} sampler_kind;

/* sd-scripts' sampler names (case-insensitive). Unknown names are refused with the list of
 * supported ones. */
int sampler_parse(const char *name, sampler_kind *kind, error_info *err);
const char *sampler_name(sampler_kind kind);          /* "euler_a" */
const char *sampler_a1111_name(sampler_kind kind);    /* "Euler a", as A1111 writes it */
/* "ddim, pndm, lms (k_lms), ..." */
const char *sampler_supported(void);

/* The training schedule: alphas_cumprod of scaled_linear betas (computed in float32 as
 * diffusers does; kept in double). */
void sampler_alphas_cumprod(double ac[SAMPLER_TRAIN_STEPS]);

typedef struct sampler {
    sampler_kind kind;
    int v_pred, steps, calls;
    size_t n;
    double ac[SAMPLER_TRAIN_STEPS];
    float *timesteps;        /* [calls] as given to the U-Net */
    float *input_scale;      /* [calls] scale_model_input's factor */
    double *sigmas;          /* [steps + 1] the steps' sigmas, float32 values as diffusers'
                              * (Euler, LMS, Heun, DPM2, DPM-Solver); DDIM, PNDM: unused */
    double *sigmas_mid;      /* [steps + 1] DPM2 (a): the second call's sigma of step j at j + 1
                              * (DPM2) or j (DPM2 a); the ancestral up / down sigmas below */
    double *sigmas_up, *sigmas_down;
    float init_noise_sigma;
    /* step state: the data (or noise) prediction and the previous one (DPM-Solver), the
     * sample a two-call step or a DPM pair started from, Heun's first derivative or PNDM's
     * Runge-Kutta sum, the history of LMS derivatives / PNDM model outputs (ring of 4) */
    float *x0, *prev_x0, *start, *acc, *hist[4];
    int lower_order_nums, hist_len;
    double dt;               /* Heun: the step's sigma difference */
    /* ancestral noise: k_randn(seed, offset n·(step + 1)), or noise_hook's */
    uint64_t seed;
    float *noise;
    void (*noise_hook)(void *ctx, int step, float *noise, size_t n);   /* tests */
    void *noise_ctx;
} sampler;

/* steps 1..1000 (pndm 4..1000). */
int sampler_init(sampler *s, sampler_kind kind, int steps, int v_pred, size_t n, uint64_t seed,
                 error_info *err);
void sampler_free(sampler *s);
/* The model calls of a whole run: steps, or 2·steps − 1 (heun, dpm_2, dpm_2_a), or steps + 9
 * (pndm). */
int sampler_calls(const sampler *s);
float sampler_timestep(const sampler *s, int call);
/* The factor the model input is scaled by at a call (scale_model_input). */
float sampler_input_scale(const sampler *s, int call);
/* One call's update: x (the latents, [n]) moves on given the model output. Returns 1 when x now
 * holds the latents at the end of a step, 0 after the intermediate calls of a step. */
int sampler_step(sampler *s, int call, const float *model_out, float *x);

/* sampler_dpm.c: DPM-Solver (multistep, ++ and singlestep) for sampler.c */
void sampler_dpm_schedule(sampler *s, const double sig[SAMPLER_TRAIN_STEPS]);
int sampler_dpm_step(sampler *s, int i, const float *model_out, float *x);

#endif
