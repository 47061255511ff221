/* train.h — the LoRA training step and loop.
 *
 * train_step (train_step.c) is one micro-batch of sd-scripts' train_network.py process_batch on
 * cached latents and text conditioning: noise (+ noise_offset, ip_noise_gamma), timesteps in
 * [min_timestep, max_timestep), x_t from the DDPM scaled_linear schedule, U-Net forward with the
 * LoRA network attached, eps or v target, loss (l2/l1/huber/smooth_l1 with the huber_c schedule),
 * masked_loss's per-element mask, per-sample weights (prior_loss_weight, min_snr_gamma,
 * scale_v_pred_loss_like_noise_pred, v_pred_like_loss, debiased_estimation_loss) in
 * sd-scripts' order, and backward into the adapters, divided by the
 * gradient-accumulation count as accelerate does. Random draws come from the project RNG
 * (kernels/rng.h) at a counter kept in the struct, so a run is a pure function of the seed and
 * can be resumed. Noise and timesteps can also be handed in (the golden test does). */
#ifndef LORATTY_TRAIN_H
#define LORATTY_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/lora/network.h"
#include "engine/models/unet.h"
#include "error.h"
#include "kernels/ops_loss.h"

#define TRAIN_TIMESTEPS 1000

typedef enum { TRAIN_HUBER_SNR, TRAIN_HUBER_EXPONENTIAL, TRAIN_HUBER_CONSTANT } train_huber_schedule;

typedef struct train_step_options {
    k_loss_type loss_type;
    train_huber_schedule huber_schedule;
    float huber_c, huber_scale;
    int v_parameterization;
    float min_snr_gamma;                    /* 0: off */
    int scale_v_pred_loss_like_noise_pred;
    float v_pred_like_loss;                 /* 0: off */
    int debiased_estimation;
    float noise_offset, ip_noise_gamma;     /* 0: off */
    int min_timestep, max_timestep;         /* [min, max) */
    int grad_accum;                         /* the loss is divided by it */
    uint64_t seed;
    /* appended: sd-scripts' --noise_offset_random_strength, --adaptive_noise_scale (0: off),
     * --multires_noise_iterations (0: off) / --multires_noise_discount and
     * --ip_noise_gamma_random_strength (engine/train/noise.h) */
    int noise_offset_random_strength;
    float adaptive_noise_scale;
    int multires_noise_iterations;
    float multires_noise_discount;
    int ip_noise_gamma_random_strength;
    /* appended: sd-scripts' --zero_terminal_snr: x_t and the v target from the rescaled ᾱ
     * (ᾱ_999 = 0), the SNR weights from the original schedule, as sd-scripts computes
     * all_snr before the rescale */
    int zero_terminal_snr;
} train_step_options;

void train_step_options_init(train_step_options *o);

typedef struct train_step {
    train_step_options o;
    unet_model *unet;
    lora_network *net;
    unet_acts acts;
    int planned, checkpointing;
    int B, C, H, W, T;                      /* the current activation plan */
    float ac[TRAIN_TIMESTEPS], snr[TRAIN_TIMESTEPS];
    float *noise, *x_t, *pred, *target, *dpred, *extra;   /* [B, C, H, W] */
    float *pyramid;                         /* appended: multires noise scratch, 2 · [B, C, H, W] */
    float *tsteps, *weight, *c, *per_sample;              /* [B] */
    int *t;
    size_t cap;                             /* floats of each latent-sized buffer */
    int cap_b;                              /* entries of each per-sample buffer */
    uint64_t rng_offset;                    /* next counter of the noise stream */
} train_step;

/* The DDPM scaled_linear alphas_cumprod (beta 0.00085..0.012, 1000 steps) in f32 as torch
 * computes it, and sd-scripts' all_snr = ac / (1 − ac). */
void train_ddpm_schedule(float ac[TRAIN_TIMESTEPS], float snr[TRAIN_TIMESTEPS]);

int train_step_init(train_step *s, const train_step_options *o, unet_model *unet,
                    lora_network *net, int checkpointing, error_info *err);
/* (Re)plans the U-Net activations for B latents of H×W with T context tokens (only when they
 * differ from the current plan; attach the network first). */
int train_step_plan(train_step *s, int B, int H, int W, int T, error_info *err);
/* One micro-batch: latents [B, 4, H, W] (scaled), context [B, T, D]; loss_weights [B] or NULL;
 * noise [B, 4, H, W] and timesteps [B] or NULL (drawn). Gradients ACCUMULATE into the network.
 * *loss = the batch loss (before the 1/grad_accum). A non-finite loss is returned as is and
 * nothing is accumulated. */
int train_step_run(train_step *s, const float *latents, const float *context, int B, int H, int W,
                   int T, const float *loss_weights, const float *noise, const int *timesteps,
                   double *loss, error_info *err);
/* The conditioning of one micro-batch beyond the latents. */
typedef struct train_step_cond {
    const float *context;       /* [B, T, D] */
    const float *text_embeds;   /* SDXL: [B, pooled width] (TE2's pooled output); else NULL */
    const float *time_ids;      /* SDXL: [B, 6] (original h, w, crop top, left, target h, w) */
    float *dcontext;            /* NULL, or [B, T, D]: d loss / d context is ACCUMULATED here
                                 * (text encoder training) */
    float *dtext_embeds;        /* NULL, or SDXL [B, pooled width]: d loss / d text_embeds is
                                 * ACCUMULATED here (SDXL text encoder training) */
    const float *loss_mask;     /* masked_loss: [B, H, W] at the latent size, multiplying every
                                 * channel's per-element loss before the mean; NULL: none */
} train_step_cond;

/* train_step_run with SDXL's added conditioning and the context gradient as an output. */
int train_step_run_cond(train_step *s, const float *latents, const train_step_cond *c, int B,
                        int H, int W, int T, const float *loss_weights, const float *noise,
                        const int *timesteps, double *loss, error_info *err);
/* The same micro-batch's loss without the backward (sd-scripts' validation, is_train=False):
 * noise given or (NULL) drawn from the step's stream, no gradient touched. */
int train_step_eval_cond(train_step *s, const float *latents, const train_step_cond *c, int B,
                         int H, int W, int T, const float *loss_weights, const float *noise,
                         const int *timesteps, double *loss, error_info *err);
void train_step_free(train_step *s);

/* torch.nn.utils.clip_grad_norm_ over the network's gradients: scales them by
 * min(1, max_norm / (norm + 1e-6)); returns the norm before clipping. max_norm 0: norm only. */
double train_clip_grad_norm(lora_network *net, float max_norm);

#endif
