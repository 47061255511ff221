/* optimizer_sgd.c — SGD with Nesterov momentum as torch.optim.SGD(nesterov=True) steps it:
 * d = g + wd·p; buf ← d on the first step, else momentum·buf + (1 − dampening)·d;
 * p ← p − lr·(d + momentum·buf). sd-scripts' SGDNesterov sets momentum 0.9 when not given. */
#include "engine/train/optimizer_impl.h"

void optim_sgd_step(optim *o)
{
    const optim_config *c = &o->cfg;
    const float mom = (float)c->momentum, damp = (float)(1.0 - c->dampening);
    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *gs = &o->groups[g];
        const float wd = (float)gs->weight_decay, neg_lr = (float)(-gs->lr);
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            int first = ps->step == 0;
            ps->step++;
            float *x = p->data, *buf = ps->m;
            const float *gr = p->grad;
            for (int64_t i = 0; i < ps->n; i++) {
                float d = gs->weight_decay != 0 ? gr[i] + wd * x[i] : gr[i];
                buf[i] = first ? d : buf[i] * mom + damp * d;
                d = d + mom * buf[i];
                x[i] = x[i] + neg_lr * d;
            }
        }
    }
}
