/* sample.h — text-to-image: the pipeline behind `loratty --sample` and training's sample
 * images. Prompt and negative prompt with their attention weights as sd-scripts' sample
 * pipelines encode them (sample_prompt.h), classifier-free guidance over a batch of [negative, prompt] as diffusers'
 * StableDiffusionPipeline runs it (skipped when cfg ≤ 1), a sampler from sampler.h, the VAE
 * decode, and the A1111 "parameters" text that goes into the PNG. */
#ifndef LORATTY_SAMPLE_H
#define LORATTY_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/models/sd_model.h"
#include "engine/sample/sampler.h"
#include "error.h"

typedef struct sample_params {
    const char *prompt, *negative;    /* negative NULL: "" */
    int steps;
    float cfg;
    uint64_t seed;
    int width, height;                /* pixels, multiples of sd_model_size_multiple */
    sampler_kind sampler;
    int clip_skip, max_token_length;  /* max_token_length: SDXL only (see sample_prompt.h) */
    /* Optional: the initial noise [4, h, w] (standard normal, before init_noise_sigma); NULL:
     * k_randn(seed). Tests pass PyTorch's noise here. */
    const float *initial_latents;
    float *step_latents;              /* optional out: [steps, 4, h, w], the latents after each step */
    void (*noise_hook)(void *ctx, int step, float *noise, size_t n);   /* euler_a, dpm_2_a noise: tests */
    void *noise_ctx;
    void (*progress)(void *ctx, int step, int steps);   /* after each step */
    void *progress_ctx;
} sample_params;

/* image [3, height, width] in [0, 1]. */
int sample_txt2img(sd_model *m, const sample_params *p, float *image, error_info *err);

/* AUTOMATIC1111's "parameters" text: "prompt\nNegative prompt: ...\nSteps: 30, Sampler: Euler a,
 * CFG scale: 7.5, Seed: 42, Size: 512x512, Model: name[, Lora hashes: "a: 0123abcd, ..."]".
 * lora_hashes may be NULL or "". Returns the length (truncated to size like snprintf). */
int sample_parameters_text(const sd_model *m, const sample_params *p, const char *lora_hashes,
                           char *buf, size_t size);

#endif
