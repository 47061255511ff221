/* train_run_internal.h — what the files of the training run share (train_run*.c). */
#ifndef LORATTY_TRAIN_RUN_INTERNAL_H
#define LORATTY_TRAIN_RUN_INTERNAL_H

#include "engine/models/sd_model.h"
#include "engine/train/resume.h"
#include "engine/train/train_run.h"

/* latents and text conditioning (train_run_data.c) */
typedef struct trun_data {
    sd_model *m;
    resize_interp interp;
    uint64_t seed;
    int cache, clip_skip, max_token_length;
    int weighted;                /* weighted_captions: set after init (sd_encode_prompt_weighted) */
    int to_disk, flip_aug;       /* cache_latents_to_disk through engine/data/latent_cache.h */
    char vae_identity[256];
    uint64_t cache_key;
    int f, lc;                   /* VAE downscale, latent channels */
    float *chw, *noise;          /* one image, one latent's noise */
    float **latents;             /* [image id · 2 + flip] when cached */
    size_t n_images;
    int masked;                  /* some image has a loss mask source (masked_loss) */
    float **masks;               /* [image id · 2 + flip] latent-size masks, when cached */
    float *alpha_px;             /* one image's alpha plane, at its bucket */
    int T, D;                    /* context rows and width */
    int P;                       /* SDXL's pooled width (0: SD1/2); kept after each context */
    char **texts;                /* open-addressing table of captions → context */
    float **ctx;
    size_t tcap, tcount;
} trun_data;

int trun_data_init(trun_data *d, sd_model *m, const batches *b, int cache_latents,
                   resize_interp interp, uint64_t seed, int clip_skip, int max_token_length,
                   error_info *err);
void trun_data_free(trun_data *d);
/* The scaled latent [C, h, w] of one sample and, when mask is not NULL, its loss mask
 * [h, w] (engine/data/loss_mask.h; ones for a sample without a mask source). */
int trun_data_latent(trun_data *d, const batch_sample *s, float *out, float *mask,
                     error_info *err);
/* The pixels [3, H, W] in [-1, 1] of one sample as the VAE sees them (bucket size). */
int trun_data_pixels(trun_data *d, const batch_sample *s, float *out, error_info *err);
/* The context [T, D] of one caption, and (SDXL, pooled not NULL) its pooled embedding [P]. */
int trun_data_context(trun_data *d, const char *caption, float *out, float *pooled,
                      error_info *err);

/* text conditioning with the text encoders' LoRA training (train_run_te.c): SD1/2's one
 * encoder, or SDXL's two side by side with TE2's pooled embedding */
typedef struct trun_te {
    sd_model *m;
    int clip_skip, max_token_length, windows, max_B, planned;
    int weighted;                /* weighted_captions: set after init; the joined rows are
                                  * scaled by their token's weight, forward and backward */
    int32_t *ids[2];             /* per encoder [max_B · windows, 77] */
    int *tmp;
    float *w[2];                 /* per encoder [max_B, windows · 75] the last forward's token
                                  * weights */
    int *n_w[2];                 /* per encoder [max_B] how many weights each caption has */
    float *dout[2];              /* per encoder [max_B · windows, 77, hidden] */
    int P;                       /* SDXL's pooled width (0: SD1/2) */
    float *pooled;               /* SDXL [max_B, P]: the last forward's pooled embeddings */
    float *dpooled;              /* SDXL [max_B, P]: their gradient, zeroed by each forward; the
                                  * training step accumulates into it (train_step_cond) */
    float *dproj;                /* [max_B · windows, P] dpooled at window 0 of each caption */
    int n, B;                    /* windows and sequences of the last forward */
} trun_te;

int trun_te_init(trun_te *t, sd_model *m, int max_B, int clip_skip, int max_token_length,
                 error_info *err);
void trun_te_free(trun_te *t);
/* The joined context [B, T, D] of the batch's captions (SDXL: and t->pooled), activations
 * kept for the backward. */
int trun_te_forward(trun_te *t, const batch *bt, float *ctx, int *T, error_info *err);
/* dctx [B, T, D] (the U-Net's context gradient) and, SDXL, t->dpooled into the text encoder
 * adapters. */
void trun_te_backward(trun_te *t, const float *dctx);

/* sample images (train_run_sample.c) */
typedef struct trun_sample_ctx {
    const train_run_settings *s;
    const train_run_hooks *h;
    sd_model *m;
    lora_network *net;
    optim *opt;
    const train_step *st;
} trun_sample_ctx;

/* Draws every prompt of sample_prompts (nothing when empty); by_epoch picks the file tag. */
int trun_sample(trun_sample_ctx *c, long long step, long long epoch, int by_epoch, error_info *err);

/* the validation loss (train_run_validate.c) */
#define TRUN_VAL_TIMESTEPS 4
typedef struct trun_val {
    int active;                  /* there are validation images */
    batches b;                   /* the held-out images, always at epoch 0's order */
    trun_data d;                 /* their latents and captions (cached like the training's) */
    long long n_batches;         /* per validation (max_validation_steps) */
    int timesteps[TRUN_VAL_TIMESTEPS];
    uint64_t seed;               /* the noise stream's key */
    float *lat, *ctx, *pooled, *time_ids, *w, *mask;
    int *t;
} trun_val;

/* what a validation uses of the run */
typedef struct trun_val_ctx {
    train_step *st;
    lora_network *net;
    optim *opt;
    trun_te *te;                 /* the text encoders' forward while they train; else NULL */
} trun_val_ctx;

/* np.linspace(min, max, 6, dtype=int)[1:-1], sd-scripts' validation timesteps */
void trun_val_timesteps(int min_timestep, int max_timestep, int out[TRUN_VAL_TIMESTEPS]);
/* Nothing to do (v->active 0) without validation images. `train` gives the latent and
 * caption settings. */
int trun_val_init(trun_val *v, const train_run_settings *s, sd_model *m, const trun_data *train,
                  error_info *err);
/* One validation: *loss = the mean over the batches (max_validation_steps) and timesteps. */
int trun_val_run(trun_val *v, const trun_val_ctx *c, double *loss, error_info *err);
void trun_val_free(trun_val *v);

/* the optimizer's parameter groups: base learning rates and TensorBoard names */
typedef struct opt_groups {
    double *base_lr;
    char (*desc)[64];
    int n;
} opt_groups;

/* whole-weight training, training_mode finetune / vae (train_run_full.c) */
typedef struct trun_full {
    sd_model *m;
    train_mode mode;
    int train_te;
    float *unet_grads, *vae_grads;              /* laid out like each model's params */
    float *te_grads[2];                         /* per text encoder (SDXL: two) */
    float *bufs[4];
    size_t buf_len[4];
    int n_bufs;
    optim_param *ps;                            /* one per manifest tensor, U-Net/VAE first */
    int n_ps, cap_ps;
    int te_first[2];                            /* index of each encoder's first tensor, or -1 */
    size_t trainable, te_params[2];
    int te_frozen;                              /* stop_text_encoder_training was reached */
    float *frozen_te[2];                        /* the TE weights at that step */
    const char *source;                         /* the checkpoint trained from (its extra keys) */
} trun_full;

int trun_full_init(trun_full *f, sd_model *m, train_mode mode, int train_te, error_info *err);
void trun_full_free(trun_full *f);
int trun_full_optimizer(trun_full *f, const train_run_settings *s, optim **opt, opt_groups *og,
                        error_info *err);
void trun_full_zero_grad(trun_full *f);
void trun_full_scale_grads(trun_full *f, float factor);
double trun_full_clip_grad_norm(trun_full *f, float max_norm);
/* stop_text_encoder_training: keep the TE weights as they are now from here on */
int trun_full_freeze_te(trun_full *f, error_info *err);
void trun_full_restore_te(trun_full *f);
int trun_full_save(const trun_full *f, const char *path, dtype_t dt, const lora_metadata *md,
                   error_info *err);

/* VAE training (train_run_full.c): activations for batches up to max_B of the data set's
 * largest bucket, and one micro-batch: pixels → encode → sample → decode → reconstruction
 * loss + KL, gradients into the VAE (noise drawn at *rng_offset, which advances). */
int trun_vae_plan(sd_model *m, int max_B, const batches *b, error_info *err);
int trun_vae_micro_step(trun_data *d, const batch *bt, float *pixels,
                        const train_run_settings *s, uint64_t *rng_offset, double *loss,
                        error_info *err);
/* The standard deviation of the VAE's posterior means over the whole data set (after VAE
 * training: the U-Net wants latents × scaling_factor of unit variance). Uses epoch 1's order;
 * `pixels` holds a largest batch. */
int trun_vae_latent_std(trun_data *d, batches *b, float *pixels, double *std, error_info *err);

/* saving (train_run_save.c) */
typedef struct trun_save {
    const train_run_settings *s;
    const train_run_hooks *h;
    lora_network *net;
    optim *opt;
    lora_metadata *md;
    const trun_full *full;       /* whole-weight modes: saves the checkpoint instead */
} trun_save;

/* Creates output_dir, checks that it is writable and has room for `saves` files of
 * `file_bytes` each. */
int trun_check_output(const train_run_settings *s, size_t file_bytes, long long saves,
                      error_info *err);
/* kind: 0 last, 1 epoch, 2 step. Saves <output_dir>/<stem>.safetensors and prunes older
 * epoch/step saves beyond save_last_n_*. */
int trun_save_lora(trun_save *sv, int kind, long long n, long long step, long long epoch,
                   error_info *err);
/* The state folder <stem>-state (kind as above), pruned likewise. */
int trun_save_state(trun_save *sv, int kind, long long n, const train_progress *p,
                    error_info *err);
/* optim_eval / optim_train (schedule-free moves the weights) with DyLoRA's up matrices, which
 * the optimizer holds transposed, brought along. */
void trun_optim_eval(optim *opt, lora_network *net);
void trun_optim_train(optim *opt, lora_network *net);

#endif
