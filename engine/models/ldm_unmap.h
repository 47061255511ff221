/* ldm_unmap.h — diffusers / transformers parameter names back to the single-file LDM / SGM
 * names: the inverse of ldm_map_key (ldm_keys.c), for saving a whole model as one file the way
 * the original checkpoints are laid out. Pure string work, no I/O. */
#ifndef LORATTY_LDM_UNMAP_H
#define LORATTY_LDM_UNMAP_H

#include <stddef.h>

#include "engine/models/checkpoint.h"
#include "engine/models/unet.h"

/* What the LDM numbering needs to know about the model. */
typedef struct ldm_unmap_layout {
    ckpt_family family;                   /* SD1, SD2 or SDXL: the text encoders' prefixes */
    int unet_layers_per_block;            /* resnets per down level, the same at every level */
    int unet_up_attn[UNET_MAX_LEVELS];    /* up level i has attentions: upsampler at .2.conv */
    int vae_levels;                       /* LDM numbers the decoder's levels in reverse */
} ldm_unmap_layout;

/* The full LDM key of `name` (a parameter of component c) in out, and how its tensor changes:
 *   LDM_RENAME     as it is
 *   LDM_SQUEEZE    a Linear weight [C, C] written as the 1x1-conv weight [C, C, 1, 1] (VAE attention)
 *   LDM_SPLIT_QKV  for q_proj: q, k and v fused as rows [q; k; v] of one tensor (OpenCLIP in_proj);
 *                  k_proj and v_proj give LDM_IGNORE (written with q_proj)
 *   LDM_TRANSPOSE  a Linear weight written transposed (OpenCLIP text_projection, used as x @ P)
 * LDM_UNKNOWN when the name has no LDM form (out is then ""). */
ldm_op ldm_unmap_key(const ldm_unmap_layout *l, ckpt_component c, const char *name, char *out,
                     size_t size);

#endif
