/* network_internal.h — what network.c and network_targets.c share: the module list builder
 * (which injection points get a module, with which kind, rank and alpha). Not for callers. */
#ifndef LORATTY_NETWORK_INTERNAL_H
#define LORATTY_NETWORK_INTERNAL_H

#include "engine/lora/network.h"
#include "engine/safetensors.h"

/* Fills n->mods / n_mods / n_unet (names, shapes, kind, rank, alpha, slot) for the options:
 * sd-scripts' or LyCORIS' targets and preset, conv ranks, block dims; with wf (dim_from_weights)
 * only the modules the file has, at its ranks. No parameter memory yet. */
int network_collect(lora_network *n, const network_options *o, const unet_model *unet,
                    clip_model *const *te, int n_te, const safetensors_file *wf, error_info *err);

/* Points m->adapter at the module's parameters and gradients, with its scale (network.c). */
void network_set_adapter(lora_network *n, network_module *m);
/* The file keys of a module's factors w[0..5] ("lora_down.weight", "hada_w1_a", "lokr_w1" ...;
 * NULL where a factor is absent); returns how many there are. */
int network_module_keys(const network_module *m, const char *keys[LORA_MAX_FACTORS]);
/* Whether the file has <name>.alpha for the module (not for iA3 and LyCORIS' full). */
int network_module_has_alpha(const network_module *m);
/* The adapter's scale: multiplier · alpha / rank, or the multiplier alone for the algorithms
 * without alpha scaling (iA3, full, Diag-OFT, BOFT). */
float network_module_scale(const lora_network *n, const network_module *m);

/* The LoRA-kind alpha rule shared by create and load: 0 → rank. */
static inline float network_alpha_or_rank(float alpha, int rank)
{
    return alpha == 0.0f ? (float)rank : alpha;
}

#endif
