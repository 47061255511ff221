/* resume.h — save_state / resume: a state folder (sd-scripts names it <output_name>-state or
 * <output_name>-{epoch:06d}-state) holding what continuing a run needs bit for bit: the LoRA
 * weights in f32 (lora.safetensors) or, for a whole-model run (no network, or one without
 * modules), the optimizer's tensors in f32 (weights.safetensors), the optimizer's state
 * (optimizer.bin, optim_state_save's bytes), and state.json with the step, epoch, data
 * position, the RNG seed and counter, and which kind of weights it holds.
 * The folder is written beside and renamed into place, so a crash leaves the previous one. */
#ifndef LORATTY_TRAIN_RESUME_H
#define LORATTY_TRAIN_RESUME_H

#include <stdint.h>

#include "engine/lora/network.h"
#include "engine/train/optimizer.h"
#include "error.h"

typedef struct train_progress {
    long long step;            /* optimizer steps done (sd-scripts' global_step) */
    long long epoch;           /* epochs completed */
    long long data_position;   /* batches of the current epoch consumed */
    uint64_t seed, rng_offset; /* the noise stream (train_step.rng_offset) */
} train_progress;

int train_state_save(const char *dir, const lora_network *net, const optim *opt,
                     const train_progress *p, error_info *err);
/* The network and optimizer must be built with the same shape as when saved; a LoRA state
 * does not resume a whole-model run, nor the other way round. */
int train_state_load(const char *dir, lora_network *net, optim *opt, train_progress *p,
                     error_info *err);

#endif
