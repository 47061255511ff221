/* train_run_config.h — a training run's settings and metadata from a loratty config and its
 * plan (src/config.h, src/plan.h): the bridge between the parameter table and the engine's
 * train_run. train_run_config.c holds the settings, train_metadata.c the ss_* / modelspec.*
 * metadata. */
#ifndef LORATTY_TRAIN_RUN_CONFIG_H
#define LORATTY_TRAIN_RUN_CONFIG_H

#include "config.h"
#include "engine/train/train_run.h"
#include "plan.h"

/* The string lists (optimizer_args, lr_scheduler_args, base_weights) the settings point into. */
typedef struct train_run_strings {
    const char *optim_args[64], *lr_args[64];
    const char *base_weights[TRAIN_RUN_MAX_BASE_WEIGHTS];
} train_run_strings;

/* Fills s from cfg and p (both must outlive s). Errors name the parameter. */
int train_run_settings_from_config(train_run_settings *s, train_run_strings *strs,
                                   const config *cfg, const plan *p, error_info *err);

/* sd-scripts' metadata of a LoRA file (train_network.py, sai_model_spec.build_metadata) for
 * this config, plan and model: every ss_* key, the model hashes, dataset dirs, tag frequency,
 * bucket info, and modelspec.*. */
int train_metadata_build(lora_metadata *md, const config *cfg, const plan *p,
                         const train_run_info *info, error_info *err);

#endif
