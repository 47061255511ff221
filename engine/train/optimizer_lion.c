/* optimizer_lion.c — Lion as lion_pytorch.Lion steps it: p ← p·(1 − lr·wd),
 * p ← p − lr·sign(β1·m + (1 − β1)·g), then m ← β2·m + (1 − β2)·g. With
 * decoupled_weight_decay the decay is divided by the lr the optimizer was created with. */
#include "engine/train/optimizer_impl.h"

void optim_lion_step(optim *o)
{
    const optim_config *c = &o->cfg;
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float w1 = (float)(1.0 - c->beta1), w2 = (float)(1.0 - c->beta2);
    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *gs = &o->groups[g];
        double wd = gs->weight_decay;
        if (c->decoupled_weight_decay)
            wd /= c->lr;
        const float decay = (float)(1.0 - gs->lr * wd);
        const float neg_lr = (float)(-gs->lr);
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            ps->step++;
            float *x = p->data, *m = ps->m;
            const float *gr = p->grad;
            for (int64_t i = 0; i < ps->n; i++) {
                float u = m[i] * b1 + w1 * gr[i];
                float s = (float)((u > 0) - (u < 0));
                x[i] = x[i] * decay + neg_lr * s;
                m[i] = m[i] * b2 + w2 * gr[i];
            }
        }
    }
}
