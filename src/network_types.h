/* network_types.h — kohya_ss's LoRA types and how each one is written for sd-scripts
 * (network_module plus network_args). Used by the importer and the exporter. */
#ifndef LORATTY_NETWORK_TYPES_H
#define LORATTY_NETWORK_TYPES_H

#include <stdbool.h>

#include "config.h"

typedef struct network_type {
    const char *lora_type;       /* kohya_ss LoRA_type value */
    const char *network_module;  /* sd-scripts --network_module */
    const char *algo;            /* LyCORIS algo= argument, NULL for kohya's own modules */
} network_type;

const network_type *network_type_find(const char *lora_type);
/* The LoRA type for a module (+ algo); has_conv picks "Kohya LoCon" over "Standard". */
const char *network_type_from_module(const char *module, const char *algo, bool has_conv);
/* The loratty parameter a network_args key (conv_dim, preset, ...) maps to, or NULL. */
const param *network_arg_param(const char *key);
/* The network_args list kohya_ss would pass for this config (malloc'd array of strings). */
toml_value *network_args_for(const config *cfg);

/* Import of flat sd-scripts keys that are not 1:1 loratty parameters (lr_warmup_steps as a
 * ratio, sample_prompts as a file, xformers/sdpa flags ...). Returns 0 when handled, 1 when
 * the caller should store it as is, -1 with err on a bad value. */
int import_sdscripts_value(config *cfg, const param *p, const char *key, const toml_value *v,
                           const char *path, error_info *err);
/* The loratty parameter behind an sd-scripts key that has no table entry of its own. */
const param *export_param_for_sdscripts_key(const char *key);

/* Writes the [loratty]-only parameters into a flat sd-scripts table as kohya_ss does
 * (network_module/network_args, lr_warmup percent, attention choice, sample prompt file). */
void export_loratty_only(const config *cfg, toml_value *flat);
/* Where the exported dataset TOML and the sample prompt file go (in output_dir). */
const char *config_dataset_export_path(const config *cfg);
const char *config_sample_prompts_path(const config *cfg);

#endif
