/* lora_apply.h — LoRA and LyCORIS files applied at run time for sampling, as AUTOMATIC1111 and
 * ComfyUI load them. Each kohya module name of a file (`<name>.<tensor>`) becomes a
 * lora_adapter on the layer that name means (unet_find_lora_point, LyCORIS' conv_in /
 * conv_out / time_embedding_linear_1/2 on SD1/2, clip_lora_targets); its keys say the
 * algorithm and the tensors' shapes give the adapter's shape fields:
 *   LoRA / LoCon  lora_down.weight, lora_up.weight        scale = weight · alpha / rank
 *   LoHa          hada_w1_a, hada_w1_b, hada_w2_a, hada_w2_b      weight · alpha / rank
 *   LoKr          lokr_w1 or lokr_w1_a/_b, lokr_w2 (a conv's may be 4-D) or lokr_w2_a/_b:
 *                 weight · alpha / rank (rank of the decomposed factor, w2's first), or
 *                 weight when neither is decomposed (LyCORIS' scale 1)
 *   iA3           weight, on_input                                 weight
 *   full          diff [, diff_b]                                  weight
 *   GLoRA         a1.weight, a2.weight, b1.weight, b2.weight       weight · alpha / rank
 *   Diag-OFT      oft_blocks [n, s, s] [, rescale]                 weight
 *   BOFT          oft_blocks [m, n, s, s] [, rescale]              weight
 *   norm          w_norm [, b_norm] on a U-Net GroupNorm / LayerNorm (LyCORIS' train_norm):
 *                 the layer's weight and bias + weight · w_norm / b_norm
 * with alpha the module's `.alpha` (absent or 0: the rank); the OFTs' alpha is their
 * constraint (oft_constraint = alpha · out). LyCORIS' Tucker cores (lora_mid, hada_t1/_t2,
 * lokr_t2) and DoRA's dora_scale come along with their modules. Refused with a message naming
 * the key: lokr_t1 (LyCORIS never writes it), a module mixing two algorithms' keys, factors
 * that do not fit the layer. Modules that match no layer, and apart
 * from them keys of no known algorithm (which are ignored), are counted and the first few named.
 *
 * Several files touching one layer: LoRA after LoRA merges into one adapter of the summed rank
 * (down stacked, up side by side, each pre-multiplied by its scale); any other pair is folded
 * into one native-fine-tuning (full) adapter holding ΔW = W' − W of applying the files in
 * order, each to the weight the ones before it left (as AUTOMATIC1111 and ComfyUI patch
 * weights), which costs one copy of the layer's weight. */
#ifndef LORATTY_LORA_APPLY_H
#define LORATTY_LORA_APPLY_H

#include <stddef.h>

#include "engine/models/sd_model.h"
#include "error.h"

typedef struct lora_apply_entry {
    linear_layer *linear;      /* exactly one of these */
    conv_layer *conv;
    long unet_point;           /* index into unet.points; -1: a text-encoder layer; -2: one of
                                * LyCORIS' extra U-Net layers (conv_in, conv_out, time_embedding) */
    int extra_rows;            /* unet_point -2: rows per sample of one call (0: the latent's H·W) */
    lora_adapter ad;           /* owns down / up (LoRA) or w[0..3] (the other kinds) */
} lora_apply_entry;

/* A U-Net normalisation layer a train_norm module changed: what it ran with before, and now. */
typedef struct lora_apply_norm {
    const unet_norm_point *point;
    const float *weight, *bias;   /* restored by lora_apply_free */
    float *eff;                   /* weight [C] then bias [C] */
} lora_apply_norm;

typedef struct lora_apply {
    lora_apply_entry **e;      /* one allocation each: layers point at their adapters */
    size_t n, cap;
    lora_apply_norm *norms;    /* appended: train_norm modules, in the order applied */
    size_t n_norms, cap_norms;
    size_t unmatched;
    char unmatched_names[512];  /* the first few, comma-separated */
    size_t ignored;             /* keys of no known algorithm (other tensors a file carries) */
    char ignored_names[512];    /* the first few, comma-separated */
} lora_apply;

/* Adds one file's modules (weight: the multiplier). Returns the number of modules applied. */
int lora_apply_add(lora_apply *la, sd_model *m, const char *path, float weight, error_info *err);
/* Sizes the U-Net's LoRA adapters' hidden buffers for a batch of B latents h × w with T
 * context rows (call before unet_acts_init, i.e. before sample_txt2img; the layers' scratch
 * for the other kinds is planned there and in clip_plan). */
int lora_apply_plan(lora_apply *la, sd_model *m, int B, int h, int w, int T, error_info *err);
/* Adds every applied module's change into the model's own weights for good (sd-scripts'
 * merge_to for --base_weights); then lora_apply_free detaches the adapters. DoRA modules are
 * refused. */
int lora_apply_merge(lora_apply *la, sd_model *m, error_info *err);
/* Detaches every adapter and frees them. */
void lora_apply_free(lora_apply *la, sd_model *m);

/* The hash A1111 records for a LoRA ("Lora hashes"): sd-scripts' sshs_model_hash metadata when
 * present, else SHA-256 of the file after its header; the first 12 hex digits. */
int lora_apply_hash(const char *path, char out[13], error_info *err);

#endif
