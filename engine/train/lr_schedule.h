/* lr_schedule.h — the learning-rate schedules of sd-scripts' --lr_scheduler.
 *
 * Each is a LambdaLR: the lr at optimizer step t (0-based) is base_lr × factor(t). The factors
 * are transformers.optimization's schedule functions (diffusers' for piecewise_constant), fed
 * the way sd-scripts' train_util.get_scheduler_fix feeds them: warmup given as steps or as a
 * ratio of the training steps (int(ratio × steps)), cosine_with_min_lr and
 * warmup_stable_decay getting num_cycles / 2, lr_scheduler_args as Python-literal key=value
 * pairs passed as extra keyword arguments. "adafactor" is the schedule sd-scripts switches to
 * with Adafactor's relative_step: the optimizer computes the lr itself, the factor is 1.
 *
 * --lr_scheduler_type names a class of torch.optim.lr_scheduler instead (sd-scripts builds it
 * with the lr_scheduler_args as keyword arguments and no warmup): StepLR, MultiStepLR,
 * ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, LinearLR, ConstantLR and
 * PolynomialLR, computed in their closed forms. With a schedule-free optimizer sd-scripts uses
 * a dummy scheduler: the learning rate stays at its base value. */
#ifndef LORATTY_TRAIN_LR_SCHEDULE_H
#define LORATTY_TRAIN_LR_SCHEDULE_H

#include <stdint.h>

#include "error.h"

typedef enum lr_schedule_kind {
    LR_ADAFACTOR,
    LR_CONSTANT,
    LR_CONSTANT_WITH_WARMUP,
    LR_COSINE,
    LR_COSINE_WITH_RESTARTS,
    LR_LINEAR,
    LR_PIECEWISE_CONSTANT,
    LR_POLYNOMIAL,
    LR_COSINE_WITH_MIN_LR,
    LR_INVERSE_SQRT,
    LR_WARMUP_STABLE_DECAY,
    /* torch.optim.lr_scheduler classes (--lr_scheduler_type) */
    LR_TORCH_STEP,
    LR_TORCH_MULTISTEP,
    LR_TORCH_EXPONENTIAL,
    LR_TORCH_COSINE_ANNEALING,
    LR_TORCH_COSINE_WARM_RESTARTS,
    LR_TORCH_LINEAR,
    LR_TORCH_CONSTANT,
    LR_TORCH_POLYNOMIAL,
    LR_KIND_COUNT
} lr_schedule_kind;

/* sd-scripts' arguments (train_util.py add_optimizer_arguments); defaults in comments. */
typedef struct lr_schedule_options {
    const char *name;            /* --lr_scheduler ("constant") */
    double lr;                   /* --learning_rate: polynomial's lr_init, min_lr's reference */
    int64_t max_train_steps;     /* × num_processes, as sd-scripts counts them */
    double warmup;               /* --lr_warmup_steps (0): steps, or a ratio if warmup_is_ratio */
    int warmup_is_ratio;         /* the value was a float (int_or_float) */
    double decay;                /* --lr_decay_steps (0), likewise */
    int decay_is_ratio;
    int num_cycles;              /* --lr_scheduler_num_cycles (1) */
    double power;                /* --lr_scheduler_power (1) */
    int64_t timescale;           /* --lr_scheduler_timescale; 0 = None */
    double min_lr_ratio;         /* --lr_scheduler_min_lr_ratio; < 0 = None */
    const char *const *args;     /* --lr_scheduler_args */
    int nargs;
    /* appended: --lr_scheduler_type (NULL or "": none), and a schedule-free optimizer */
    const char *type;
    int schedule_free;
} lr_schedule_options;

/* sd-scripts' defaults (name "constant", 1 cycle, power 1, no timescale / min_lr_ratio). */
void lr_schedule_options_init(lr_schedule_options *o);

#define LR_MAX_RULES 32

/* A resolved schedule: the numbers handed to the Python function. */
typedef struct lr_schedule {
    lr_schedule_kind kind;
    int64_t warmup, training, stable, decay;
    double num_cycles, power, lr_end, lr_init, min_lr_rate;
    int64_t timescale;
    int warmup_type, decay_type;            /* WSD: 0 linear, 1 cosine, 2 1-sqrt */
    int nrules;                             /* piecewise_constant */
    int64_t rule_steps[LR_MAX_RULES];
    double rule_values[LR_MAX_RULES], rule_last;
    /* torch classes: their keyword arguments (torch's defaults unless given) */
    double gamma, eta_min, t_max, start_factor, end_factor, factor;
    int64_t step_size, total_iters, t0, t_mult;
    int nmilestones;
    double milestones[32];
} lr_schedule;

const char *lr_schedule_kind_name(lr_schedule_kind kind);

/* Resolves the options as get_scheduler_fix does; errors name the option or argument. */
int lr_schedule_setup(lr_schedule *s, const lr_schedule_options *o, error_info *err);

/* The LambdaLR factor at step t: the lr of the t-th optimizer step is base_lr × factor.
 * (A torch class with eta_min: the factor of a group whose base lr is s->lr_init.) */
double lr_schedule_factor(const lr_schedule *s, int64_t step);
/* The lr of the t-th optimizer step for a parameter group of base lr `base_lr`. */
double lr_schedule_lr(const lr_schedule *s, int64_t step, double base_lr);

#endif
