/* sd_model.h — a whole Stable Diffusion model (SD 1.x, 2.x, SDXL base) loaded from one
 * checkpoint: the U-Net, the text encoder(s), the VAE and the tokenizer, and the conditioning
 * exactly as sd-scripts computes it for training and SDXL's sample images (strategy_sd.py,
 * strategy_sdxl.py, sdxl_train_util.get_size_embeddings; SD1/SD2 sample images go through
 * their own pipeline, engine/sample/sample_prompt.h):
 *
 *   SD1/SD2  hidden_states[-clip_skip] + final_layer_norm of each 77-token window; with
 *            max_token_length 150/225 the windows are joined as BOS(window 0) + the 75 middle
 *            states of every window + the last state of the last window (N + 2 rows).
 *            SD1 pads with EOS, SD2 with 0.
 *   SDXL     TE1 hidden_states[-2] and TE2 hidden_states[-2] (no final LN) side by side
 *            (768 + 1280 = 2048 wide), joined the same way; pooled = TE2's final-LN state at
 *            the EOS of window 0 through text_projection; clip_skip is not applied.
 *            Size conditioning: (original h, w, crop top, left, target h, w).
 *
 * Configs come from a diffusers folder's config.json files, or for a single-file checkpoint
 * from the built-in configs of its family — or from `config_dir`, a folder laid out like a
 * diffusers model (unet/config.json, text_encoder[_2]/config.json, vae/config.json,
 * scheduler/scheduler_config.json, tokenizer/), as diffusers' from_single_file(config=...)
 * takes one: for single files of another size (the tiny test models). */
#ifndef LORATTY_SD_MODEL_H
#define LORATTY_SD_MODEL_H

#include <stdint.h>

#include "engine/models/checkpoint.h"
#include "engine/models/clip.h"
#include "engine/models/tokenizer.h"
#include "engine/models/unet.h"
#include "engine/models/vae.h"
#include "error.h"

typedef enum sd_prediction { SD_PRED_EPS = 0, SD_PRED_V = 1 } sd_prediction;

typedef struct sd_model {
    ckpt_family family;
    sd_prediction prediction;     /* from the scheduler config or the file's hint; callers may set it */
    float scaling_factor;         /* latent = vae latent · scaling_factor (0.18215, SDXL 0.13025) */
    char name[256];               /* file or folder name without directory and extension */

    unet_model unet;
    clip_model te[2];
    int n_te;                     /* 1 (SD1/2) or 2 (SDXL) */
    vae_model vae;
    clip_tokenizer *tok[2];       /* tok[1] may be tok[0] (same vocabulary) */
    clip_pad_mode pad[2];
    int te_planned;               /* clip_plan done with the adapters attached now */
    float te_init_factor[2];      /* transformers' initializer_factor of each encoder (1.0) */
} sd_model;

/* Loads every component (path: a .safetensors single file or a diffusers folder; vae_path
 * and config_dir may be NULL). The checkpoint's files are closed before returning. */
int sd_model_load(const char *path, const char *vae_path, const char *config_dir, sd_model **out,
                  error_info *err);
/* The diffusers configs of a single-file checkpoint of a non-standard size (the tiny test and
 * demo models), kept beside it: in its own folder (unet/config.json ...) or in a folder named
 * like the file without its extension. Returns buf holding that folder, or NULL. */
const char *sd_model_config_dir_beside(const char *model, char *buf, size_t size);
/* The same from an opened checkpoint (taken over and closed here, also on error);
 * config_dir as above (NULL: built-in configs of ck->family). */
int sd_model_from_checkpoint(checkpoint *ck, const char *config_dir, const char *name,
                             sd_model **out, error_info *err);
void sd_model_free(sd_model *m);

/* ---- new models (sd_model.c, sd_model_init.c) and single-file saves (sd_model_save.c) ---- */

/* A model built from config_dir's config files alone (unet/, vae/, text_encoder/ and, for
 * SDXL, text_encoder_2/ config.json; scheduler/ and tokenizer/ when present), every parameter
 * zero. The family: SD 1.x / 2.x / SDXL by the U-Net's cross_attention_dim 768 / 1024 / 2048,
 * otherwise SDXL with a text_encoder_2, SD 2.x (OpenCLIP layout) with a GELU text encoder,
 * else SD 1.x. */
int sd_model_new(const char *config_dir, sd_model **out, error_info *err);
/* Initialises every parameter as freshly constructed PyTorch modules are: diffusers' U-Net and
 * VAE with torch's defaults (Linear / Conv2d weight kaiming_uniform(a=√5) = U(±1/√fan_in), bias
 * U(±1/√fan_in); GroupNorm / LayerNorm weight 1, bias 0), the text encoders as transformers'
 * CLIPPreTrainedModel._init_weights (embeddings N(0, 0.02·f), attention and MLP weights
 * normal with its std formulas, biases 0, LayerNorm 1/0, text_projection N(0, hidden^-½·f)).
 * A pure function of the seed (Philox): the same seed gives the same model on any machine.
 * Fails only on a parameter without a rule (a model part loratty does not know). */
int sd_model_init_random(sd_model *m, uint64_t seed, error_info *err);
/* ... except the VAE posterior's logvar bias (the second half of quant_conv.bias, or of the
 * encoder's conv_out.bias without quant_conv): log(0.1²), a posterior std of 0.1. */
#define VAE_INIT_LOGVAR (-4.6051702f)

typedef struct sd_save_options {
    dtype_t dtype;                /* DTYPE_F32, DTYPE_F16 or DTYPE_BF16 (sd-scripts' save_precision) */
    const char *const *keys;      /* n_metadata metadata entries keys[i] = values[i] */
    const char *const *values;
    size_t n_metadata;
    /* NULL, or the single-file checkpoint the model came from: its keys that hold no model
     * weight (LDM's noise-schedule buffers, model_ema.*, SD2's unused last text layer and
     * projection, logit_scale) are copied unchanged, as sd-scripts does when it saves over its
     * source checkpoint. */
    const char *extras_from;
} sd_save_options;

/* Writes the whole model as one safetensors file in the original LDM / SGM layout
 * (model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.* (SD1),
 * cond_stage_model.model.* (SD2), conditioner.embedders.0/1.* (SDXL)): every name the exact
 * inverse of the loading map (ldm_keys.c, checked per tensor), the VAE attention as 1x1-conv
 * weights, CLIP-L's position_ids, OpenCLIP's fused in_proj; SD2 without extras_from gets
 * sd-scripts' stand-ins for the layer and projection it never runs (a copy of the last layer,
 * a projection of ones). modelspec.architecture and modelspec.prediction_type are added unless
 * given. Atomic: a temporary file, fsync, rename. The U-Net's layers_per_block must be the same
 * at every level (the LDM numbering assumes it). */
int sd_model_save_ldm(const sd_model *m, const char *path, const sd_save_options *opt,
                      error_info *err);
/* Parameters of each part: U-Net, text encoders (all), VAE. */
void sd_model_param_counts(const sd_model *m, size_t *unet, size_t *te, size_t *vae);

/* Width of a context row: cross_attention_dim (768, 1024, 2048). */
int sd_model_context_dim(const sd_model *m);
/* Rows sd_encode_prompt gives for max_token_length (0 or 75: 77; 150: 152; 225: 227). */
int sd_model_context_rows(int max_token_length);
/* Width of SDXL's pooled text embedding (1280), 0 for SD1/2. */
int sd_model_pooled_dim(const sd_model *m);
/* Image sides must be multiples of this: the VAE's downscale × the U-Net's 2^(levels−1). */
int sd_model_size_multiple(const sd_model *m);
/* Pixels per latent (8 for the real VAEs). */
int sd_model_vae_downscale(const sd_model *m);

/* Call after attaching or detaching LoRA adapters on the text encoders (re-plans them). */
void sd_model_adapters_changed(sd_model *m);

/* The conditioning of one prompt: context [T, sd_model_context_dim] with T =
 * sd_model_context_rows(max_token_length), pooled [sd_model_pooled_dim] (SDXL; may be NULL).
 * clip_skip 0 or 1: the last layer (SD1/2 only). */
int sd_encode_prompt(sd_model *m, const char *text, int clip_skip, int max_token_length,
                     float *context, int *T, float *pooled, error_info *err);
/* The same with the attention weights of text, as sd-scripts' tokenize_with_weights +
 * encode_tokens_with_weights (strategy_sd.py, strategy_sdxl.py) give it for weighted_captions
 * and SDXL's sample images: each parsed piece tokenized on its own, the joined rows multiplied
 * by their token's weight (prompt_weights.h), no mean rescaling; the pooled output unweighted. */
int sd_encode_prompt_weighted(sd_model *m, const char *text, int clip_skip, int max_token_length,
                              float *context, int *T, float *pooled, error_info *err);
/* The forward of text encoder e over n (1..3) windows of 77 ids with the output sd-scripts
 * takes from it (SD1/2: hidden_states[-clip_skip] + final LN; SDXL: hidden_states[-2], and TE2's
 * pooled output when pooled): in m->te[e].out (and .text_embeds / .pooled). */
int sd_encode_windows(sd_model *m, int e, const int *ids, int n, int clip_skip, int pooled,
                      error_info *err);

/* SDXL's time ids for unet_added_cond: original (h, w), crop (top, left), target (h, w). */
void sd_time_ids(float time_ids[6], int orig_h, int orig_w, int crop_top, int crop_left,
                 int target_h, int target_w);
/* sd-scripts' get_size_embeddings written out: the 6 time ids each as a 256-wide sinusoid,
 * cos half first (1536 floats); what the U-Net computes from time_ids internally. */
void sd_size_embedding(float out[1536], const float time_ids[6]);

#endif
