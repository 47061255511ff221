/* sample.c — the txt2img loop (see sample.h). Everything is allocated per call: sampling is
 * an occasional inference path, not a training step. */
#include "engine/sample/sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sample/sample_prompt.h"
#include "kernels/kernels.h"

typedef struct sample_bufs {
    float *ctx, *pooled, *x, *in, *out, *t, *time_ids, *z, *dec;
} sample_bufs;

static void bufs_free(sample_bufs *b)
{
    free(b->ctx);
    free(b->pooled);
    free(b->x);
    free(b->in);
    free(b->out);
    free(b->t);
    free(b->time_ids);
    free(b->z);
    free(b->dec);
}

static int check_params(const sd_model *m, const sample_params *p, error_info *err)
{
    int f = sd_model_size_multiple(m);
    if (p->width < f || p->height < f || p->width % f || p->height % f)
        return error_set(err, NULL, 0, 0, "size", "%dx%d: width and height must be positive multiples "
                         "of %d for this model", p->width, p->height, f);
    if (p->steps < 1 || p->steps > SAMPLER_TRAIN_STEPS)
        return error_set(err, NULL, 0, 0, "steps", "%d steps: use 1 to %d", p->steps, SAMPLER_TRAIN_STEPS);
    if (!p->prompt)
        return error_set(err, NULL, 0, 0, "prompt", "no prompt");
    return 0;
}

int sample_txt2img(sd_model *m, const sample_params *p, float *image, error_info *err)
{
    if (check_params(m, p, err) < 0)
        return -1;
    const int cfg = p->cfg > 1.0f;   /* diffusers: guidance only when guidance_scale > 1 */
    const int B = cfg ? 2 : 1, ds = sd_model_vae_downscale(m);
    const int h = p->height / ds, w = p->width / ds, C = m->unet.config.in_channels;
    const size_t n = (size_t)C * h * w;
    const int D = sd_model_context_dim(m), P = sd_model_pooled_dim(m);
    int T = 0;
    if (sample_prompt_rows(m, p, &T, err) < 0)
        return -1;
    sample_bufs b = {0};
    b.ctx = malloc((size_t)B * T * D * sizeof(float));
    b.pooled = malloc((size_t)B * (P ? P : 1) * sizeof(float));
    b.x = malloc(n * sizeof(float));
    b.in = malloc(B * n * sizeof(float));
    b.out = malloc(B * n * sizeof(float));
    b.t = malloc((size_t)B * sizeof(float));
    b.time_ids = malloc((size_t)B * 6 * sizeof(float));
    b.z = malloc(n * sizeof(float));
    b.dec = malloc((size_t)m->vae.cfg.out_channels * p->width * p->height * sizeof(float));
    if (!b.ctx || !b.pooled || !b.x || !b.in || !b.out || !b.t || !b.time_ids || !b.z || !b.dec) {
        bufs_free(&b);
        return error_set(err, NULL, 0, 0, NULL, "out of memory for a %dx%d sample", p->width, p->height);
    }
    /* batch order as diffusers: [negative, prompt] */
    int rc = sample_prompt_encode(m, p, b.ctx, P ? b.pooled : NULL, err);
    unet_added_cond added = {b.pooled, b.time_ids};
    for (int i = 0; i < B; i++)
        sd_time_ids(b.time_ids + i * 6, p->height, p->width, 0, 0, p->height, p->width);

    sampler s;
    unet_acts acts;
    memset(&acts, 0, sizeof acts);
    int have_sampler = 0, have_acts = 0;
    if (rc == 0 && (rc = sampler_init(&s, p->sampler, p->steps, m->prediction == SD_PRED_V, n, p->seed, err)) == 0)
        have_sampler = 1;
    /* forward only: per-block checkpointing keeps just the block boundaries */
    if (rc == 0 && (rc = unet_acts_init(&acts, &m->unet, B, h, w, T, 1, err)) == 0)
        have_acts = 1;
    if (rc == 0) {
        s.noise_hook = p->noise_hook;
        s.noise_ctx = p->noise_ctx;
        if (p->initial_latents)
            memcpy(b.x, p->initial_latents, n * sizeof(float));
        else
            k_randn(b.x, n, p->seed, 0);
        for (size_t j = 0; j < n; j++)
            b.x[j] *= s.init_noise_sigma;
    }
    /* one U-Net call per sampler call (Heun and DPM2 make two a step, PNDM's first steps four) */
    const int calls = have_sampler ? sampler_calls(&s) : 0;
    for (int c = 0, done = 0; rc == 0 && c < calls; c++) {
        float sc = sampler_input_scale(&s, c);
        for (int k = 0; k < B; k++) {
            for (size_t j = 0; j < n; j++)
                b.in[k * n + j] = b.x[j] * sc;
            b.t[k] = sampler_timestep(&s, c);
        }
        rc = unet_forward(&acts, b.out, b.in, b.t, b.ctx, m->unet.config.text_time ? &added : NULL, err);
        if (rc < 0)
            break;
        float *guided = b.out + (cfg ? n : 0);
        if (cfg)
            for (size_t j = 0; j < n; j++)
                guided[j] = b.out[j] + p->cfg * (guided[j] - b.out[j]);
        if (!sampler_step(&s, c, guided, b.x))
            continue;   /* within a step */
        if (p->step_latents)
            memcpy(p->step_latents + (size_t)done * n, b.x, n * sizeof(float));
        done++;
        if (p->progress)
            p->progress(p->progress_ctx, done, p->steps);
    }
    if (have_acts)
        unet_acts_free(&acts);
    if (have_sampler)
        sampler_free(&s);
    if (rc == 0) {
        for (size_t j = 0; j < n; j++)
            b.z[j] = b.x[j] / m->scaling_factor;
        rc = vae_plan_decoder(&m->vae, 1, h, w, 0, err);
        if (rc == 0)
            rc = vae_decode(&m->vae, b.dec, b.z, 1, h, w, err);
    }
    if (rc == 0) {
        size_t np = (size_t)m->vae.cfg.out_channels * p->width * p->height;
        for (size_t j = 0; j < np; j++) {
            float v = b.dec[j] * 0.5f + 0.5f;   /* (x / 2 + 0.5).clamp(0, 1) */
            image[j] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
        }
    }
    bufs_free(&b);
    return rc;
}

int sample_parameters_text(const sd_model *m, const sample_params *p, const char *lora_hashes,
                           char *buf, size_t size)
{
    char cfg[32];
    snprintf(cfg, sizeof cfg, "%g", (double)p->cfg);
    if (!strchr(cfg, '.') && !strchr(cfg, 'e'))
        strncat(cfg, ".0", sizeof cfg - strlen(cfg) - 1);   /* A1111 writes 7.0 */
    int len = snprintf(buf, size, "%s\n", p->prompt);
    if (p->negative && p->negative[0] && len >= 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, "Negative prompt: %s\n", p->negative);
    if (len >= 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len,
                        "Steps: %d, Sampler: %s, CFG scale: %s, Seed: %llu, Size: %dx%d, Model: %s",
                        p->steps, sampler_a1111_name(p->sampler), cfg, (unsigned long long)p->seed,
                        p->width, p->height, m->name);
    if (p->clip_skip > 1 && len >= 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, ", Clip skip: %d", p->clip_skip);
    if (lora_hashes && lora_hashes[0] && len >= 0 && (size_t)len < size)
        len += snprintf(buf + len, size - (size_t)len, ", Lora hashes: \"%s\"", lora_hashes);
    return len;
}
