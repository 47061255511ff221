/* checkpoint.h — opening the Stable Diffusion checkpoints users have: a single .safetensors
 * file in the original LDM/SGM key layout (what A1111, ComfyUI and civitai distribute), a
 * diffusers folder, plus an optional separate VAE file. The result is one weight_store per
 * component (UNet, VAE, text encoders) holding every tensor under its diffusers/transformers
 * name, the detected model family, and which tokenizer each text encoder wants.
 *
 * Three layers, one file each:
 *   ldm_keys.c          the pure name mapping LDM → diffusers (no I/O; tested on full-size
 *                       manifests in tests/fixtures/manifests/)
 *   checkpoint_detect.c what a file is (SD1/SD2/SDXL, or a refused kind) from keys and shapes
 *   checkpoint.c        opening files and folders and filling the stores */
#ifndef LORATTY_CHECKPOINT_H
#define LORATTY_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/models/weights.h"
#include "engine/safetensors.h"
#include "error.h"

typedef enum ckpt_family {
    CKPT_UNKNOWN = 0,
    CKPT_SD1,           /* CLIP ViT-L/14, 768-wide context */
    CKPT_SD2,           /* OpenCLIP ViT-H/14, 1024-wide context; eps or v (not in the weights) */
    CKPT_SDXL,          /* SDXL base: CLIP-L + OpenCLIP bigG, 2048-wide context, size vector */
    /* Recognised but refused: */
    CKPT_SDXL_REFINER,
    CKPT_SD3,
    CKPT_FLUX,
    CKPT_INPAINT,       /* conv_in with 9 input channels */
    CKPT_PIX2PIX,       /* conv_in with 8 input channels */
    CKPT_LORA,
    CKPT_VAE_ONLY,
    CKPT_EMBEDDING,
    CKPT_UNET_ONLY,     /* a UNet without text encoders */
} ckpt_family;

typedef enum ckpt_component { CKPT_UNET, CKPT_VAE, CKPT_TE1, CKPT_TE2, CKPT_COMPONENTS } ckpt_component;

/* How a text encoder's prompts are padded (sd-scripts strategy_sd.py / strategy_sdxl.py):
 * OpenAI CLIP pads with the end token; OpenCLIP (SD2, SDXL's second encoder) pads with 0 ("!"). */
typedef enum ckpt_tokenizer { CKPT_TOKENIZER_NONE, CKPT_TOKENIZER_CLIP, CKPT_TOKENIZER_OPENCLIP } ckpt_tokenizer;

#define CKPT_PATH_MAX 4096

typedef struct checkpoint {
    ckpt_family family;
    bool v_prediction_hint;     /* metadata, scheduler config or file name says v-prediction */
    char description[320];      /* e.g. "SD 1.x (UNet, VAE, CLIP-L text encoder)" */
    weight_store *store[CKPT_COMPONENTS];   /* NULL for a component the family lacks (TE2 of SD1/2) */
    ckpt_tokenizer tokenizer[2];
    /* A diffusers folder's tokenizer/ and tokenizer_2/ when present, else "": use the bundled
     * CLIP vocabulary (every SD family shares the same BPE vocabulary). */
    char tokenizer_dir[2][CKPT_PATH_MAX];
    /* Keys of the file that are neither mapped nor known to be unused; kept, not fatal: a model
     * that needs something missing says so when it loads. */
    size_t unexplained;
    char first_unexplained[192];
} checkpoint;

/* Opens `path` (a .safetensors file or a diffusers folder) and, when vae_path is not NULL, takes
 * the VAE from that file instead (LDM names with or without "first_stage_model.", or diffusers
 * names). Refuses pickles (.ckpt) and the kinds listed above with a message naming what was found. */
int checkpoint_open(const char *path, const char *vae_path, checkpoint **out, error_info *err);
void checkpoint_close(checkpoint *ck);

/* One line for `loratty --check`: what the file or folder is and whether loratty can train on
 * it. Returns 0 when it can be loaded, -1 when it cannot (buf then says why). */
int checkpoint_describe(const char *path, char *buf, size_t size);

const char *checkpoint_family_name(ckpt_family family);

/* ---- detection (checkpoint_detect.c) ---- */

typedef struct ckpt_detection {
    ckpt_family family;
    bool loadable;              /* SD1, SD2 or SDXL base with the parts a training run needs */
    bool v_prediction_hint;
    bool has_unet, has_vae, has_te;
    char text[320];             /* what was found, and why it is refused when it is */
} ckpt_detection;

/* What a single safetensors file is; `label` (its path) is only looked at for a "768-v" or
 * "v-pred" hint in the name. */
void ckpt_detect_file(const safetensors_file *f, const char *label, ckpt_detection *d);

/* ---- LDM → diffusers key mapping (ldm_keys.c) ---- */

/* What the mapping needs to know about the model, read from the file's own key structure
 * (ldm_layout_infer), so any config of a supported family maps without a table per model. */
typedef struct ldm_layout {
    int unet_layers_per_block;  /* resnets per down level; 0 when there is no UNet */
    int vae_levels;             /* VAE decoder levels (LDM numbers them in reverse) */
    int openclip_layers[2];     /* OpenCLIP resblocks in the file: SD2 (index 0), SDXL bigG (1) */
} ldm_layout;

typedef enum ldm_op {
    LDM_UNKNOWN = 0,
    LDM_IGNORE,         /* known, not used by training; `reason` says why */
    LDM_RENAME,
    LDM_SPLIT_QKV,      /* OpenCLIP's fused in_proj: rows [0,C) q, [C,2C) k, [2C,3C) v */
    LDM_SQUEEZE,        /* 1x1-conv weight [C,C,1,1] used as a Linear [C,C] (VAE attention) */
    LDM_TRANSPOSE,      /* OpenCLIP text_projection (x @ P) as a Linear weight P^T */
} ldm_op;

typedef struct ldm_mapping {
    ldm_op op;
    ckpt_component component;
    char name[3][192];          /* one name; three for LDM_SPLIT_QKV */
    const char *reason;         /* for LDM_IGNORE */
} ldm_mapping;

/* Reads the layout from a list of LDM names (full names, with their prefixes). */
void ldm_layout_infer(ldm_layout *layout, const char *const *names, size_t count);
/* Maps one full LDM key. Returns m->op (LDM_UNKNOWN when the key means nothing to loratty). */
ldm_op ldm_map_key(const ldm_layout *layout, const char *key, ldm_mapping *m);

#endif
