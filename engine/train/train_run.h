/* train_run.h — a whole LoRA training run, as sd-scripts' train_network.py runs it: load the
 * model, build the network, iterate the data set in sd-scripts' batch order, encode latents
 * (once, when cached) and text conditioning (once per caption while the text encoder is
 * frozen), one train_step per micro-batch, an optimizer step per gradient-accumulation group
 * (clip_grad_norm, LR schedule, max-norm), per-epoch / per-step saves with sd-scripts' file
 * names and pruning, save_state / resume, and the final <output_name>.safetensors.
 *
 * The numbers of steps and epochs come from the caller (src/plan.h), so `--check` and the run
 * agree. Everything random is a pure function of the seed, so a CPU run is bit-identical when
 * repeated and `N steps + resume + M steps` equals `N + M steps`.
 *
 * The caller sees the run through hooks: progress after each optimizer step, saves, log lines,
 * and a control poll between steps (stop / pause / save now). Files: train_run.c (setup and the
 * loop), train_run_data.c (latents and text conditioning), train_run_te.c (text encoder
 * training), train_run_sample.c (sample images), train_run_save.c (saves, pruning, state, disk
 * check), train_run_config.c (settings from a loratty config), train_metadata.c
 * (the ss_* and modelspec.* metadata). */
#ifndef LORATTY_TRAIN_RUN_H
#define LORATTY_TRAIN_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/data/batches.h"
#include "engine/data/image_resize.h"
#include "engine/dataset.h"
#include "engine/dtype.h"
#include "engine/lora/lora_file.h"
#include "engine/lora/network.h"
#include "engine/train/lr_schedule.h"
#include "engine/train/optimizer.h"
#include "engine/train/train.h"
#include "error.h"

/* training_mode: a LoRA on a frozen model (train_network.py), the whole U-Net and optionally
 * the text encoder (fine_tune.py / train_db.py), or the VAE autoencoder (loratty's own, for
 * base models trained from scratch). */
typedef enum train_mode { TRAIN_MODE_LORA = 0, TRAIN_MODE_FINETUNE, TRAIN_MODE_VAE } train_mode;

#define TRAIN_RUN_MAX_BASE_WEIGHTS 16

typedef struct train_run_settings {
    /* model */
    const char *model_path, *vae_path;   /* vae_path NULL or "": the checkpoint's own */
    const char *config_dir;              /* NULL: beside the checkpoint or built in */
    int want_v2, want_sdxl, want_v_param;   /* the preset's v2 / sdxl / v_parameterization */

    /* network */
    network_options net;

    /* data (the plan's data set; outlives the run) */
    const dataset_set *data;
    batch_settings batch;
    resize_interp interp;
    int clip_skip, max_token_length;
    int weighted_captions;               /* captions read with attention weights (prompt_weights.h) */
    int cache_latents, cache_latents_to_disk;

    /* schedule, exactly the plan's numbers */
    long long total_steps, epochs, batches_per_epoch;
    int grad_accum;
    long long text_encoder_stop_step;    /* 0: never */

    /* optimizer */
    optim_config optim;
    const char *const *optim_args;
    int n_optim_args;
    double learning_rate, unet_lr, text_encoder_lr;   /* < 0: unset */
    lr_schedule_options lr;
    float max_grad_norm, scale_weight_norms;

    train_step_options step;
    int gradient_checkpointing;
    uint64_t seed;

    /* output */
    const char *output_dir, *output_name;
    dtype_t save_dtype;
    int save_every_n_epochs, save_every_n_steps;
    int save_last_n_epochs, save_last_n_steps;
    int save_last_n_epochs_state, save_last_n_steps_state;
    int save_state, save_state_on_train_end;
    const char *resume;                  /* a state folder, or NULL */

    /* sample images */
    const char *sample_prompts;          /* the prompts' text, one per line; NULL or "": none */
    const char *sample_sampler;
    int sample_every_n_steps, sample_every_n_epochs;

    /* TensorBoard event files under tb_run_dir(logging_dir, "", log_tracker_name): on when
     * tensorboard is set and logging_dir is not NULL/"" */
    int tensorboard;
    const char *logging_dir, *log_tracker_name;
    const char *optimizer_type;          /* for the lr/d*lr tags */
    /* appended: LoRA+ ratios and block lr weights (optimizer groups, network_param_ranges);
     * net.block_lr points at block_lr */
    network_lr_options lr_groups;
    float block_lr[NETWORK_MAX_BLOCKS];
    /* appended: what the run trains (training_mode); the whole-weight modes save checkpoints */
    train_mode mode;
    int train_text_encoder;              /* finetune: the text encoder's weights too */
    float vae_kl_weight;                 /* vae: KL term weight */
    int sample_at_first;                 /* samples before the first step (epoch 0) */
    /* appended: settings that have no effect with this network (LyCORIS ignores them), logged
     * as warnings when the run starts */
    char notes[8][240];
    int n_notes;
    /* appended: the validation loss (validation_split): the held-out images (NULL or no
     * groups: none), sd-scripts' validate_every_n_steps / _epochs and max_validation_steps
     * (0: unset) and the seed of its noise; the validation timesteps divide step.min_timestep
     * .. step.max_timestep */
    const dataset_set *validation;
    int validate_every_n_steps, validate_every_n_epochs, max_validation_steps;
    uint64_t validation_seed;
    /* appended: LoRA / LyCORIS files merged into the model before the network is built, with
     * their multipliers (sd-scripts' --base_weights / --base_weights_multiplier) */
    const char *const *base_weights;
    float base_multipliers[TRAIN_RUN_MAX_BASE_WEIGHTS];
    int n_base_weights;
    /* appended: the LoRA files' format, sd-scripts' save_model_as: "safetensors" (NULL too),
     * "ckpt" or "pt" (torch.save of the tensors, no metadata) */
    const char *save_model_as;
} train_run_settings;

/* What the run knows once set up, for the metadata and the first log lines. */
typedef struct train_run_info {
    int family;                          /* ckpt_family */
    int v_param;
    const char *model_name;
    size_t lora_params, lora_modules;
    size_t lora_file_bytes;              /* an estimate of one saved file */
    double started_at;                   /* Unix time */
} train_run_info;

typedef struct train_run_progress {
    long long step, total, epoch, epochs;
    double loss, loss_avg, lr, it_per_s, eta_s;
    long long memory_bytes;
} train_run_progress;

/* One validation: the mean loss over the validation batches at each of the 4 timesteps. */
typedef struct train_run_validation {
    long long step, epoch;
    int by_epoch;                        /* 1: at an epoch's end; 0: validate_every_n_steps */
    double loss;
    double divergence;                   /* loss − the epoch's average training loss */
} train_run_validation;

typedef enum train_control {
    TRAIN_CONTINUE = 0,
    TRAIN_STOP,          /* save (and state with save_state), then return TRAIN_RUN_STOPPED */
    TRAIN_SAVE_NOW,      /* save the LoRA now (a step save), then go on */
    TRAIN_SAMPLE_NOW,    /* draw the sample prompts now, then go on */
} train_control;

typedef struct train_run_hooks {
    void *ctx;
    void (*log)(void *ctx, const char *level, const char *text);
    void (*progress)(void *ctx, const train_run_progress *p);
    void (*saved)(void *ctx, const char *path, const char *kind, long long step);
    void (*sampled)(void *ctx, const char *path, const char *prompt, long long step);
    /* fills md with everything that does not change during the run */
    int (*metadata)(void *ctx, const train_run_info *info, lora_metadata *md, error_info *err);
    /* polled between optimizer steps; may block while paused */
    train_control (*control)(void *ctx);
    /* appended: after each validation */
    void (*validated)(void *ctx, const train_run_validation *v);
} train_run_hooks;

enum { TRAIN_RUN_DONE = 0, TRAIN_RUN_STOPPED = 1 };

/* Runs the training. Returns TRAIN_RUN_DONE, TRAIN_RUN_STOPPED, or -1 with err (a bad
 * setting: err->key names it; a failure during training: the step is in the message).
 * *usage_error is set to 1 when the run could not start because of the settings or data. */
int train_run(const train_run_settings *s, const train_run_hooks *h, int *usage_error,
              error_info *err);

/* Test hook: when the environment has LORATTY_TEST_NAN_AT_STEP=n, the loss of step n is NaN. */

/* ---- metadata (train_metadata.c) ---- */

/* The keys sd-scripts updates at every save: ss_training_finished_at, ss_steps, ss_epoch,
 * modelspec.date. */
void train_metadata_update(lora_metadata *md, long long steps, long long epoch);

#endif
