/* lora_apply.h — LoRA files applied at run time for sampling: every
 * `<kohya name>.lora_down.weight` / `.lora_up.weight` / `.alpha` triple becomes a lora_adapter
 * on the layer that name means (unet_find_lora_point, clip_lora_targets), with rank from the
 * tensors and scale = weight · alpha / rank (alpha absent: rank). Several files touching one
 * layer are merged into one adapter of the summed rank (down stacked, up side by side, each
 * pre-multiplied by its scale). Keys that match no layer are counted and the first few named. */
#ifndef LORATTY_LORA_APPLY_H
#define LORATTY_LORA_APPLY_H

#include <stddef.h>

#include "engine/models/sd_model.h"
#include "error.h"

typedef struct lora_apply_entry {
    linear_layer *linear;      /* exactly one of these */
    conv_layer *conv;
    long unet_point;           /* index into unet.points, -1 for a text-encoder layer */
    lora_adapter ad;
} lora_apply_entry;

typedef struct lora_apply {
    lora_apply_entry **e;      /* one allocation each: layers point at their adapters */
    size_t n, cap;
    size_t unmatched;
    char unmatched_names[512];  /* the first few, comma-separated */
} lora_apply;

/* Adds one file's modules (weight: the multiplier). Returns the number of modules applied. */
int lora_apply_add(lora_apply *la, sd_model *m, const char *path, float weight, error_info *err);
/* Sizes the U-Net adapters' hidden buffers for a batch of B latents h × w with T context rows
 * (call before unet_acts_init, i.e. before sample_txt2img). */
int lora_apply_plan(lora_apply *la, sd_model *m, int B, int h, int w, int T, error_info *err);
/* Detaches every adapter and frees them. */
void lora_apply_free(lora_apply *la, sd_model *m);

/* The hash A1111 records for a LoRA ("Lora hashes"): sd-scripts' sshs_model_hash metadata when
 * present, else SHA-256 of the file after its header; the first 12 hex digits. */
int lora_apply_hash(const char *path, char out[13], error_info *err);

#endif
