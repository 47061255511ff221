/* optimizer.h — the optimizers sd-scripts offers for LoRA training, over flat f32 tensors.
 *
 * An optimizer updates a list of parameter groups; each group holds tensors (a data pointer,
 * its gradient and its shape) and its own learning rate and weight decay, like a torch
 * param_group. All state (moments, 8-bit blocks, factored second moments, ...) is allocated
 * once in optim_create, so optim_step allocates nothing. The state can be written to and read
 * back from a flat byte buffer to resume a run.
 *
 * Each kind reproduces the step of the Python class sd-scripts' train_util.get_optimizer builds
 * for that optimizer_type, with that class's defaults:
 *   AdamW              torch.optim.AdamW (weight_decay 0.01)
 *   AdamW8bit          bitsandbytes.optim.AdamW8bit: block-wise 8-bit moments (blocks of 256,
 *                      dynamic maps), 32-bit state for tensors under min_8bit_size (4096)
 *   Lion               lion_pytorch.Lion
 *   SGDNesterov        torch.optim.SGD(nesterov=True), momentum 0.9 unless given
 *   Adafactor          transformers.optimization.Adafactor, relative_step True unless given
 *   Prodigy            prodigyopt.Prodigy
 *   DAdaptAdam         dadaptation.DAdaptAdam
 *   AdamWScheduleFree  schedulefree.AdamWScheduleFree (needs optim_train / optim_eval)
 * `optimizer_args` are sd-scripts' list of "key=value" strings whose values are Python
 * literals (optimizer_args.c). */
#ifndef LORATTY_TRAIN_OPTIMIZER_H
#define LORATTY_TRAIN_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum optim_kind {
    OPTIM_ADAMW,
    OPTIM_ADAMW8BIT,
    OPTIM_LION,
    OPTIM_SGD_NESTEROV,
    OPTIM_ADAFACTOR,
    OPTIM_PRODIGY,
    OPTIM_DADAPT_ADAM,
    OPTIM_ADAMW_SCHEDULEFREE,
    OPTIM_KIND_COUNT
} optim_kind;

/* Every option of every kind; optim_config_init fills the chosen kind's defaults and
 * optim_config_apply_args overrides them. Fields a kind does not use are ignored. */
typedef struct optim_config {
    optim_kind kind;
    double lr;             /* the default lr of groups that set none (--learning_rate) */
    double beta1, beta2;   /* betas */
    double beta3;          /* Prodigy beta3; < 0 means sqrt(beta2) (Python None) */
    double eps;            /* Adam-family eps; Adafactor eps[0] */
    double eps2;           /* Adafactor eps[1] (parameter-scale floor) */
    double weight_decay;
    double momentum, dampening;                 /* SGD */
    int decoupled_weight_decay;                 /* Lion: divide wd by the initial lr */
    int min_8bit_size;                          /* AdamW8bit */
    int optim_bits;                             /* AdamW8bit: 8 or 32 */
    double clip_threshold, decay_rate;          /* Adafactor */
    int has_beta1;                              /* Adafactor: beta1 given (not None) */
    int scale_parameter, relative_step, warmup_init;
    int decouple, use_bias_correction, safeguard_warmup;  /* Prodigy, DAdaptAdam */
    double d0, d_coef, growth_rate;
    int slice_p;                                /* Prodigy */
    int warmup_steps;                           /* AdamWScheduleFree */
    double r, weight_lr_power;
} optim_config;

/* One tensor: `grad` is read at each step (NULL: the tensor is skipped, as torch skips a
 * parameter whose .grad is None). Shapes matter to Adafactor (factored for ndim >= 2). */
#define OPTIM_MAX_DIMS 4
typedef struct optim_param {
    float *data;
    const float *grad;
    int ndim;
    int64_t shape[OPTIM_MAX_DIMS];
} optim_param;

typedef struct optim_group {
    const optim_param *params;   /* copied by optim_create */
    int nparams;
    double lr;                   /* < 0: use config.lr */
    double weight_decay;         /* < 0: use config.weight_decay */
} optim_group;

typedef struct optim optim;

/* sd-scripts' optimizer_type (case-insensitive; "" is AdamW) to a kind. */
int optim_kind_from_name(const char *name, optim_kind *out, error_info *err);
const char *optim_kind_name(optim_kind kind);

/* Defaults of the Python class for `kind`, with lr as given. */
void optim_config_init(optim_config *cfg, optim_kind kind, double lr);

/* Applies sd-scripts' optimizer_args ("key=value", value a Python literal); the error names
 * the offending argument. Runs sd-scripts' fix-ups (Adafactor's relative_step). */
int optim_config_apply_args(optim_config *cfg, const char *const *args, int nargs,
                            error_info *err);

/* Checks the config and the groups, then allocates all state. */
int optim_create(const optim_config *cfg, const optim_group *groups, int ngroups,
                 optim **out, error_info *err);
void optim_free(optim *o);

/* Learning rate of group g (what an LR scheduler sets: base lr × factor). */
void optim_set_lr(optim *o, int g, double lr);
double optim_get_lr(const optim *o, int g);
/* The lr the step actually uses, for logging: Adafactor's relative step (transformers'
 * AdafactorSchedule.get_lr), Prodigy's / D-Adaptation's d·lr, else the group lr. */
double optim_effective_lr(const optim *o, int g);

/* One update from the current gradients. */
int optim_step(optim *o, error_info *err);

/* Schedule-free: the weights hold y while training and x for sampling and saving; switch
 * with these (no-ops for other kinds). A new optimizer is in train mode, as sd-scripts
 * calls optimizer.train() right after creating it. */
void optim_train(optim *o);
void optim_eval(optim *o);

/* The tensors the optimizer updates, in group order (what a whole-model state saves). */
int optim_param_count(const optim *o);
const optim_param *optim_param_at(const optim *o, int i);
/* Points tensor i at another gradient for the next steps; NULL skips it (torch: .grad None),
 * as DyLoRA's untrained slots are skipped step by step. */
void optim_set_grad(optim *o, int i, const float *grad);

/* Bytes of state (scalars + moments) for saving, and save / load of it. */
size_t optim_state_size(const optim *o);
void optim_state_save(const optim *o, void *buf);
int optim_state_load(optim *o, const void *buf, size_t size, error_info *err);

#endif
