/* train_step.c — one micro-batch of LoRA training on the U-Net (see train.h): noise, timesteps,
 * x_t, forward, target, weighted loss, backward; and gradient-norm clipping. */
#include "engine/train/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/noise.h"
#include "engine/train/noise_schedule.h"
#include "kernels/kernels.h"

void train_step_options_init(train_step_options *o)
{
    memset(o, 0, sizeof *o);
    o->loss_type = K_LOSS_L2;
    o->huber_schedule = TRAIN_HUBER_SNR;
    o->huber_c = 0.1f;
    o->huber_scale = 1.0f;
    o->min_timestep = 0;
    o->max_timestep = TRAIN_TIMESTEPS;
    o->grad_accum = 1;
}

void train_ddpm_schedule(float ac[TRAIN_TIMESTEPS], float snr[TRAIN_TIMESTEPS])
{
    /* torch.linspace(√b0, √b1, 1000) in f32: from the start for the first half, from the end
     * for the second (ATen's linspace kernel), then squared; cumprod in f32 */
    const float start = sqrtf(0.00085f), end = sqrtf(0.012f);
    const float step = (end - start) / (float)(TRAIN_TIMESTEPS - 1);
    const int half = TRAIN_TIMESTEPS / 2;
    float prod = 1.0f;
    for (int i = 0; i < TRAIN_TIMESTEPS; i++) {
        float b = i < half ? start + step * (float)i : end - step * (float)(TRAIN_TIMESTEPS - 1 - i);
        prod *= 1.0f - b * b;
        ac[i] = prod;
        float a = sqrtf(prod), s = sqrtf(1.0f - prod);
        float r = a / s;
        snr[i] = r * r;   /* sd-scripts: (alpha / sigma) ** 2 */
    }
}

int train_step_init(train_step *s, const train_step_options *o, unet_model *unet,
                    lora_network *net, int checkpointing, error_info *err)
{
    memset(s, 0, sizeof *s);
    s->o = *o;
    s->unet = unet;
    s->net = net;
    s->checkpointing = checkpointing;
    if (o->min_timestep < 0 || o->max_timestep > TRAIN_TIMESTEPS || o->min_timestep >= o->max_timestep)
        return error_set(err, NULL, 0, 0, "min_timestep",
                         "timesteps [%d, %d) are not a range within [0, 1000)", o->min_timestep,
                         o->max_timestep);
    if (o->grad_accum < 1)
        return error_set(err, NULL, 0, 0, "gradient_accumulation_steps", "must be at least 1");
    train_ddpm_schedule(s->ac, s->snr);
    if (o->zero_terminal_snr) {
        noise_schedule ns;
        if (noise_schedule_init(&ns, 0.00085, 0.012, TRAIN_TIMESTEPS, err) != 0)
            return -1;
        noise_schedule_zero_terminal_snr(&ns);
        memcpy(s->ac, ns.alphas_cumprod, sizeof s->ac);
    }
    return 0;
}

static void free_buffers(train_step *s)
{
    float **f[] = {&s->noise, &s->x_t, &s->pred, &s->target, &s->dpred, &s->extra, &s->tsteps,
                   &s->weight, &s->c, &s->per_sample};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
    free(s->t);
    s->t = NULL;
    free(s->pyramid);
    s->pyramid = NULL;
}

int train_step_plan(train_step *s, int B, int H, int W, int T, error_info *err)
{
    int C = s->unet->config.in_channels;
    if (s->planned && s->B == B && s->H == H && s->W == W && s->T == T)
        return 0;
    if (s->planned)
        unet_acts_free(&s->acts);
    s->planned = 0;
    if (s->net->n_unet && network_plan_unet(s->net, s->unet, B, H, W, T, err) != 0)
        return -1;
    if (unet_acts_init(&s->acts, s->unet, B, H, W, T, s->checkpointing, err) != 0)
        return -1;
    s->planned = 1;
    s->B = B, s->C = C, s->H = H, s->W = W, s->T = T;
    size_t n = (size_t)B * C * H * W;
    if (n > s->cap || B > s->cap_b || !s->t) {   /* datasets may mix batch sizes and sizes */
        n = n > s->cap ? n : s->cap;                /* grow to hold every shape seen so far */
        B = B > s->cap_b ? B : s->cap_b;
        free_buffers(s);
        float **f[] = {&s->noise, &s->x_t, &s->pred, &s->target, &s->dpred, &s->extra};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
            *f[i] = malloc(n * sizeof(float));
        if (s->o.multires_noise_iterations > 0 &&
            !(s->pyramid = malloc(2 * n * sizeof(float)))) {
            free_buffers(s);
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the multires noise");
        }
        float **g[] = {&s->tsteps, &s->weight, &s->c, &s->per_sample};
        for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
            *g[i] = malloc((size_t)B * sizeof(float));
        s->t = malloc((size_t)B * sizeof *s->t);
        if (!s->noise || !s->x_t || !s->pred || !s->target || !s->dpred || !s->extra || !s->tsteps ||
            !s->weight || !s->c || !s->per_sample || !s->t) {
            free_buffers(s);
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the training step");
        }
        s->cap = n;
        s->cap_b = B;
    }
    return 0;
}

void train_step_free(train_step *s)
{
    if (s->planned)
        unet_acts_free(&s->acts);
    free_buffers(s);
    memset(s, 0, sizeof *s);
}

/* sd-scripts' per-sample weightings, folded into one factor (all are multiplicative). */
static float snr_weight(const train_step *s, int t)
{
    const train_step_options *o = &s->o;
    float snr = s->snr[t], w = 1.0f;
    float snr1k = snr < 1000.0f ? snr : 1000.0f;
    if (o->min_snr_gamma > 0.0f) {
        float m = snr < o->min_snr_gamma ? snr : o->min_snr_gamma;
        w *= o->v_parameterization ? m / (snr + 1.0f) : m / snr;
    }
    if (o->scale_v_pred_loss_like_noise_pred)
        w *= snr1k / (snr1k + 1.0f);
    if (o->v_pred_like_loss > 0.0f)
        w *= 1.0f + o->v_pred_like_loss / (snr1k / (snr1k + 1.0f));
    if (o->debiased_estimation)
        w *= o->v_parameterization ? 1.0f / (snr1k + 1.0f) : 1.0f / sqrtf(snr1k);
    return w;
}

static float huber_c(const train_step *s, int t)
{
    const train_step_options *o = &s->o;
    switch (o->huber_schedule) {
    case TRAIN_HUBER_EXPONENTIAL:
        return expf(logf(o->huber_c) * (float)t / 1000.0f) * o->huber_scale;
    case TRAIN_HUBER_CONSTANT:
        return o->huber_c * o->huber_scale;
    default: {
        float a = s->ac[t], sigma = sqrtf((1.0f - a) / a);
        return (1.0f - o->huber_c) / ((1.0f + sigma) * (1.0f + sigma)) + o->huber_c;
    }
    }
}

int train_step_run(train_step *s, const float *latents, const float *context, int B, int H, int W,
                   int T, const float *loss_weights, const float *noise, const int *timesteps,
                   double *loss, error_info *err)
{
    train_step_cond c = {context, NULL, NULL, NULL, NULL, NULL};
    return train_step_run_cond(s, latents, &c, B, H, W, T, loss_weights, noise, timesteps, loss,
                               err);
}

/* noise, timesteps, x_t, U-Net forward and the weighted loss: train_step_run_cond up to the
 * backward */
static int forward_loss(train_step *s, const float *latents, const train_step_cond *cond, int B,
                        int H, int W, int T, const float *loss_weights, const float *noise,
                        const int *timesteps, double *loss, error_info *err)
{
    if (s->unet->config.text_time && (!cond->text_embeds || !cond->time_ids))
        return error_set(err, NULL, 0, 0, NULL, "the SDXL U-Net needs the pooled text embedding "
                         "and the size conditioning");
    if (train_step_plan(s, B, H, W, T, err) != 0)
        return -1;
    const train_step_options *o = &s->o;
    size_t per = (size_t)s->C * H * W, n = (size_t)B * per;
    uint64_t seed = o->seed;
    if (noise)
        memcpy(s->noise, noise, n * sizeof(float));
    else {
        k_randn(s->noise, n, seed, s->rng_offset);
        s->rng_offset += n;
        /* sd-scripts' get_noise_noisy_latents_and_timesteps: the offset, then the pyramid */
        if (o->noise_offset != 0.0f) {   /* ε += o · randn(B, C, 1, 1), see noise.h */
            noise_apply_offset(s->noise, latents, B, s->C, H, W, o->noise_offset,
                               o->noise_offset_random_strength,
                               o->adaptive_noise_scale != 0.0f ? o->adaptive_noise_scale : NAN, seed,
                               s->rng_offset);
            s->rng_offset += (uint64_t)B * s->C + (o->noise_offset_random_strength ? 1 : 0);
        }
        if (o->multires_noise_iterations > 0) {
            noise_pyramid(s->noise, s->pyramid, B, s->C, H, W, o->multires_noise_iterations,
                          o->multires_noise_discount, seed, s->rng_offset);
            s->rng_offset += (uint64_t)o->multires_noise_iterations << 20;
        }
    }
    if (timesteps)
        for (int b = 0; b < B; b++)
            s->t[b] = timesteps[b];
    else {
        float u[256];
        if (B > 256)
            return error_set(err, NULL, 0, 0, "train_batch_size", "at most 256");
        k_rand(u, (size_t)B, seed, s->rng_offset);
        s->rng_offset += (uint64_t)B;
        for (int b = 0; b < B; b++) {
            int span = o->max_timestep - o->min_timestep;
            int t = o->min_timestep + (int)(u[b] * (float)span);
            s->t[b] = t < o->max_timestep ? t : o->max_timestep - 1;
        }
    }
    const float *xin_noise = s->noise;
    if (o->ip_noise_gamma != 0.0f) {   /* x_t from ε + γ·randn; the target stays ε */
        noise_input_perturbation(s->extra, s->noise, n, o->ip_noise_gamma,
                                 o->ip_noise_gamma_random_strength, seed, s->rng_offset);
        s->rng_offset += n + (o->ip_noise_gamma_random_strength ? 1 : 0);
        xin_noise = s->extra;
    }
    for (int b = 0; b < B; b++) {
        int t = s->t[b];
        if (t < 0 || t >= TRAIN_TIMESTEPS)
            return error_set(err, NULL, 0, 0, NULL, "timestep %d out of range", t);
        float sa = sqrtf(s->ac[t]), sb = sqrtf(1.0f - s->ac[t]);
        const float *x0 = latents + b * per;
        for (size_t i = 0; i < per; i++) {
            s->x_t[b * per + i] = sa * x0[i] + sb * xin_noise[b * per + i];
            s->target[b * per + i] = o->v_parameterization ? sa * s->noise[b * per + i] - sb * x0[i]
                                                           : s->noise[b * per + i];
        }
        s->tsteps[b] = (float)t;
        s->weight[b] = (loss_weights ? loss_weights[b] : 1.0f) * snr_weight(s, t);
        s->c[b] = huber_c(s, t);
    }
    /* SDXL: sd-scripts' get_size_embeddings of (original, crop, target) and the pooled TE2
     * output, concatenated by the U-Net's text_time embedding */
    unet_added_cond added = {cond->text_embeds, cond->time_ids};
    if (unet_forward(&s->acts, s->pred, s->x_t, s->tsteps, cond->context,
                     s->unet->config.text_time ? &added : NULL, err) != 0)
        return -1;
    /* sd-scripts: conditional_loss (reduction none), apply_masked_loss, the mean per sample,
     * then the per-sample weights */
    float l;
    size_t hw = (size_t)H * W;
    k_loss_forward_masked(&l, s->per_sample, s->pred, s->target, s->weight, s->c, cond->loss_mask,
                          hw, o->loss_type, B, per);
    *loss = l;
    return 0;
}

int train_step_eval_cond(train_step *s, const float *latents, const train_step_cond *cond, int B,
                         int H, int W, int T, const float *loss_weights, const float *noise,
                         const int *timesteps, double *loss, error_info *err)
{
    return forward_loss(s, latents, cond, B, H, W, T, loss_weights, noise, timesteps, loss, err);
}

int train_step_run_cond(train_step *s, const float *latents, const train_step_cond *cond, int B,
                        int H, int W, int T, const float *loss_weights, const float *noise,
                        const int *timesteps, double *loss, error_info *err)
{
    if (forward_loss(s, latents, cond, B, H, W, T, loss_weights, noise, timesteps, loss, err) != 0)
        return -1;
    if (!isfinite(*loss))
        return 0;
    const train_step_options *o = &s->o;
    size_t per = (size_t)s->C * H * W, n = (size_t)B * per, hw = (size_t)H * W;
    float dl = 1.0f / (float)o->grad_accum;
    memset(s->dpred, 0, n * sizeof(float));
    k_loss_backward_masked(s->dpred, &dl, s->pred, s->target, s->weight, s->c, cond->loss_mask, hw,
                           o->loss_type, B, per);
    return unet_backward(&s->acts, s->dpred, NULL, cond->dcontext,
                         s->unet->config.text_time ? cond->dtext_embeds : NULL, NULL, err);
}

double train_clip_grad_norm(lora_network *net, float max_norm)
{
    /* torch: the norm of the per-tensor norms; one flat buffer gives the same sum of squares */
    double ss = 0.0;
    for (size_t i = 0; i < net->n_params; i++)
        ss += (double)net->grads[i] * net->grads[i];
    double norm = sqrt(ss);
    if (max_norm > 0.0f) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            float c = (float)coef;
            for (size_t i = 0; i < net->n_params; i++)
                net->grads[i] *= c;
        }
    }
    return norm;
}
