/* optimizer_schedulefree.c — schedule-free AdamW (Defazio et al. 2024) as
 * schedulefree.AdamWScheduleFree steps it (foreach path). It keeps two sequences: z (the SGD
 * iterate, in state) and x (the running average, what one evaluates); the weights hold
 * y = lerp(z, x, β1) while training. Each step: v ← β2·v + (1−β2)·g², ĝ = g/(√(v/(1−β2ᵗ)) + eps)
 * (+ wd·y), y ← lerp(y, z, c) + lr·(β1(1−c) − 1)·ĝ, z ← z − lr·ĝ, with c = wₜ/Σw and
 * wₜ = t^r · lr_max^weight_lr_power; lr warms up linearly over warmup_steps.
 * optim_eval moves the weights to x (lerp towards z by 1 − 1/β1), optim_train back to y.
 * schedulefree's train() recomputes y from x, which loses the last bits; here optim_eval keeps
 * y and optim_train puts it back exactly, so a save (or a sample) in the middle of a run
 * leaves the run bit-identical to one without it (save_state / resume depends on that). */
#include "engine/train/optimizer_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void optim_schedulefree_step(optim *o)
{
    const optim_config *c = &o->cfg;
    const float fb2 = (float)c->beta2, w2 = (float)(1 - c->beta2), feps = (float)c->eps;
    for (int g = 0; g < o->ngroups; g++) {
        optim_gstate *gs = &o->groups[g];
        const int64_t k = gs->k;
        const double sched = k < c->warmup_steps ? (double)(k + 1) / c->warmup_steps : 1.0;
        const float bc2 = (float)(1 - pow(c->beta2, (double)(k + 1)));
        const double lr = gs->lr * sched;
        gs->lr_max = lr > gs->lr_max ? lr : gs->lr_max;
        const double weight = pow((double)(k + 1), c->r) * pow(gs->lr_max, c->weight_lr_power);
        gs->weight_sum += weight;
        const double ckp1 = gs->weight_sum != 0 ? weight / gs->weight_sum : 0.0;
        const float fc = (float)ckp1, ay = (float)(lr * (c->beta1 * (1 - ckp1) - 1));
        const float neg_lr = (float)(-lr), fdecay = (float)gs->weight_decay;
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            float *y = p->data;
            const float *gr = p->grad;
            if (!ps->inited) {
                for (int64_t i = 0; i < ps->n; i++)
                    ps->z[i] = y[i];
                ps->inited = 1;
            }
            ps->step++;
            for (int64_t i = 0; i < ps->n; i++) {
                ps->v[i] = ps->v[i] * fb2 + w2 * gr[i] * gr[i];
                const float denom = sqrtf(ps->v[i] / bc2) + feps;
                float gn = gr[i] / denom;
                if (gs->weight_decay != 0)
                    gn = gn + fdecay * y[i];
                float yi = optim_lerp(y[i], ps->z[i], fc);
                y[i] = yi + ay * gn;
                ps->z[i] = ps->z[i] + neg_lr * gn;
            }
        }
        gs->k = k + 1;
    }
}

void optim_schedulefree_swap(optim *o, int to_train)
{
    const double beta1 = o->cfg.beta1;
    const float w = (float)(to_train ? 1 - beta1 : 1 - 1 / beta1);
    for (int g = 0; g < o->ngroups; g++) {
        optim_gstate *gs = &o->groups[g];
        if (gs->train_mode == to_train)
            continue;
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            optim_pstate *ps = &o->ps[j];
            if (!ps->inited)
                continue;
            float *x = o->params[j].data;
            if (to_train && ps->y_kept) {
                memcpy(x, ps->y_kept, (size_t)ps->n * sizeof *x);
                free(ps->y_kept);
                ps->y_kept = NULL;
                continue;
            }
            if (!to_train) {   /* without memory for the copy, y is recomputed on the way back */
                free(ps->y_kept);
                ps->y_kept = malloc((size_t)ps->n * sizeof *x);
                if (ps->y_kept)
                    memcpy(ps->y_kept, x, (size_t)ps->n * sizeof *x);
            }
            for (int64_t i = 0; i < ps->n; i++)
                x[i] = optim_lerp(x[i], ps->z[i], w);
        }
        gs->train_mode = to_train;
    }
}
