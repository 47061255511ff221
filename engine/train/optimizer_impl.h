/* optimizer_impl.h — what the optimizer files share: the optim struct, its state layout and
 * the per-kind step functions. Not for use outside engine/train/optimizer*.c. */
#ifndef LORATTY_TRAIN_OPTIMIZER_IMPL_H
#define LORATTY_TRAIN_OPTIMIZER_IMPL_H

#include "engine/train/optimizer.h"

/* Per-tensor state; the pointers point into o->fstate / o->qstate (NULL when unused). */
typedef struct optim_pstate {
    int64_t n;              /* elements */
    int64_t step;           /* updates so far (the Python state["step"]) */
    int64_t inited;         /* 1 once the lazily created Python state exists */
    float *m, *v;           /* first / second moments */
    float *s, *p0;          /* D-adaptation sums; Prodigy's initial point */
    int64_t ns;             /* elements of s and p0 (Prodigy's slice_p) */
    float *z;               /* schedule-free z sequence */
    float *y_kept;          /* schedule-free: y while the weights hold x (optim_eval) */
    float *row, *col;       /* Adafactor factored second moments */
    int64_t rows, cols, batch;   /* factored view: batch × rows × cols */
    uint8_t *q1, *q2;       /* AdamW8bit quantised moments */
    float *absmax1, *absmax2;
    int64_t nblocks;
} optim_pstate;

/* Per-group scalars (torch's param_group entries). */
typedef struct optim_gstate {
    double lr, weight_decay;
    int64_t k;              /* steps taken (Prodigy, D-Adaptation, schedule-free) */
    double weight_sum, lr_max;   /* schedule-free */
    int64_t train_mode;     /* schedule-free: 1 when the weights hold y */
    int first, count;       /* its tensors: params[first .. first+count) */
} optim_gstate;

/* Scalars shared by all groups (D-adaptation's estimate). */
typedef struct optim_scalars {
    double d, d_max, d_numerator, numerator_weighted, d_hat;
} optim_scalars;

struct optim {
    optim_config cfg;
    int ngroups, nparams;
    optim_gstate *groups;
    optim_param *params;
    optim_pstate *ps;
    optim_scalars sc;
    float *fstate;
    size_t nfloats;
    uint8_t *qstate;
    size_t nq;
    float *scratch;         /* Adafactor: one tensor's update (largest tensor) */
    float qmap_signed[256], qmap_unsigned[256];   /* AdamW8bit */
};

#define OPTIM_8BIT_BLOCK 256

int64_t optim_param_numel(const optim_param *p);

/* torch's lerp: start + w·(end − start) for w < 0.5, else end − (end − start)·(1 − w). */
static inline float optim_lerp(float start, float end, float w)
{
    return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

void optim_adamw_step(optim *o);
void optim_adamw8bit_step(optim *o);
void optim_adamw8bit_init_maps(optim *o);
void optim_lion_step(optim *o);
void optim_sgd_step(optim *o);
void optim_adafactor_step(optim *o);
double optim_adafactor_lr(const optim *o, const optim_gstate *g, const optim_pstate *ps);
void optim_prodigy_step(optim *o);
void optim_dadapt_adam_step(optim *o);
void optim_schedulefree_step(optim *o);
void optim_schedulefree_swap(optim *o, int to_train);

#endif
