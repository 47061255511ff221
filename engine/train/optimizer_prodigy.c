/* optimizer_prodigy.c — Prodigy (Mishchenko & Defazio 2023) as prodigyopt.Prodigy steps it:
 * Adam whose step size d·lr is learnt. d grows to d_coef · Σ(d/d0)·dlr·⟨g, p0 − p⟩ (decayed
 * by β3) / ‖s‖₁, where s is a β3-average of (d/d0)·dlr·g; p0 is the starting point. The
 * moments are kept in units of d (m += d(1−β1)g, v += d²(1−β2)g²), the denominator is
 * √v + d·eps. With slice_p > 1 the estimate uses every slice_p-th element only. */
#include "engine/train/optimizer_impl.h"

#include <math.h>

void optim_prodigy_step(optim *o)
{
    const optim_config *c = &o->cfg;
    const double beta1 = c->beta1, beta2 = c->beta2;
    const double beta3 = c->beta3 < 0 ? sqrt(beta2) : c->beta3;
    const int64_t k = o->groups[0].k;
    double d = o->sc.d, d_max = o->sc.d_max;
    double lr = 0;
    for (int g = 0; g < o->ngroups; g++)
        lr = o->groups[g].lr > lr ? o->groups[g].lr : lr;
    const double bc = c->use_bias_correction
                          ? sqrt(1 - pow(beta2, (double)(k + 1))) / (1 - pow(beta1, (double)(k + 1)))
                          : 1.0;
    const double dlr = d * lr * bc;
    const double d_numerator = o->sc.d_numerator * beta3;
    double delta_numerator = 0, d_denom = 0;
    const int sp = c->slice_p;
    const float fb1 = (float)beta1, fb2 = (float)beta2, fb3 = (float)beta3;
    const float am = (float)(d * (1 - beta1)), av = (float)(d * d * (1 - beta2));
    const float as = (float)(c->safeguard_warmup ? (d / c->d0) * d : (d / c->d0) * dlr);

    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *gs = &o->groups[g];
        const double decay = gs->weight_decay;
        const int coupled = decay != 0 && !c->decouple;
        const float fdecay = (float)decay;
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            const float *x = p->data, *gr = p->grad;
            if (!ps->inited) { /* p0: the starting point (zeros if p is all zero) */
                for (int64_t i = 0; i < ps->ns; i++)
                    ps->p0[i] = x[i * sp];
                ps->inited = 1;
            }
            if (gs->lr > 0) {
                double dot = 0, l1 = 0;
                for (int64_t i = 0; i < ps->n; i++) {
                    const float gi = coupled ? gr[i] + fdecay * x[i] : gr[i];
                    if (ps->m)
                        ps->m[i] = ps->m[i] * fb1 + am * gi;
                    ps->v[i] = ps->v[i] * fb2 + av * gi * gi;
                    if (i % sp == 0) {
                        const int64_t si = i / sp;
                        dot += (double)gi * (double)(ps->p0[si] - x[i]);
                        ps->s[si] = ps->s[si] * fb3 + as * gi;
                        l1 += fabs((double)ps->s[si]);
                    }
                }
                delta_numerator += (d / c->d0) * dlr * (double)(float)dot;
                d_denom += (double)(float)l1;
            }
        }
    }
    double d_hat = d, global_numerator = d_numerator;
    if (d_denom == 0)
        return;
    if (lr > 0) {
        global_numerator = d_numerator + delta_numerator;
        d_hat = c->d_coef * global_numerator / d_denom;
        if (d == c->d0)
            d = d > d_hat ? d : d_hat;
        d_max = d_max > d_hat ? d_max : d_hat;
        d = d_max < d * c->growth_rate ? d_max : d * c->growth_rate;
    }
    o->sc.d_numerator = global_numerator;
    o->sc.d = d;
    o->sc.d_max = d_max;
    o->sc.d_hat = d_hat;

    const float feps = (float)(d * c->eps), neg_dlr = (float)(-dlr), neg_dlr_d = (float)(-dlr * d);
    for (int g = 0; g < o->ngroups; g++) {
        optim_gstate *gs = &o->groups[g];
        const double decay = gs->weight_decay;
        const int coupled = decay != 0 && !c->decouple;
        const float fdecay = (float)decay, wd = (float)(-decay * dlr);
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            float *x = p->data;
            const float *gr = p->grad;
            ps->step++;
            for (int64_t i = 0; i < ps->n; i++) {
                const float denom = sqrtf(ps->v[i]) + feps;
                const float gi = coupled ? gr[i] + fdecay * x[i] : gr[i];
                float xi = x[i];
                if (decay != 0 && c->decouple)
                    xi = xi + wd * xi;
                if (ps->m)
                    x[i] = xi + neg_dlr * ps->m[i] / denom;
                else
                    x[i] = xi + neg_dlr_d * gi / denom;
            }
        }
        gs->k++;
    }
}
