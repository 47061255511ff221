/* optimizer_adamw.c — AdamW as torch.optim.AdamW steps it (single-tensor CPU path):
 * decoupled decay p ← p·(1 − lr·wd), m ← lerp(m, g, 1 − β1), v ← β2·v + (1 − β2)·g²,
 * p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps). Float math in torch's operation order
 * so that the golden trajectories match to a few ulps. */
#include "engine/train/optimizer_impl.h"

#include <math.h>

void optim_adamw_step(optim *o)
{
    const optim_config *c = &o->cfg;
    const float b2 = (float)c->beta2;
    const float w1 = (float)(1.0 - c->beta1), w2 = (float)(1.0 - c->beta2);
    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *gs = &o->groups[g];
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            ps->step++;
            const float decay = (float)(1.0 - gs->lr * gs->weight_decay);
            const double bc1 = 1.0 - pow(c->beta1, (double)ps->step);
            const double bc2 = 1.0 - pow(c->beta2, (double)ps->step);
            const float neg_step = (float)(-(gs->lr / bc1));
            const float bc2_sqrt = (float)sqrt(bc2);
            const float eps = (float)c->eps;
            float *x = p->data, *m = ps->m, *v = ps->v;
            const float *gr = p->grad;
            for (int64_t i = 0; i < ps->n; i++) {
                float xi = x[i];
                if (gs->weight_decay != 0)
                    xi *= decay;
                m[i] = optim_lerp(m[i], gr[i], w1);
                v[i] = v[i] * b2 + w2 * gr[i] * gr[i];
                float denom = sqrtf(v[i]) / bc2_sqrt + eps;
                x[i] = xi + neg_step * m[i] / denom;
            }
        }
    }
}
