/* optimizer_dadapt.c — D-Adaptation Adam (Defazio & Mishchenko 2023) as dadaptation.DAdaptAdam
 * steps it: the step size d·lr is learnt from d̂ = Σ⟨g, s/(√v + eps)⟩·dlr (β2^½-averaged) /
 * ((1 − √β2)·‖s‖₁), d never shrinking and growing at most by growth_rate; the first moment
 * is accumulated in units of dlr and applied as p ← p − m/(√v + eps). */
#include "engine/train/optimizer_impl.h"

#include <math.h>

void optim_dadapt_adam_step(optim *o)
{
    const optim_config *c = &o->cfg;
    const double beta1 = c->beta1, beta2 = c->beta2;
    const int64_t k = o->groups[0].k;
    double d = o->sc.d;
    double lr = 0;
    for (int g = 0; g < o->ngroups; g++)
        lr = o->groups[g].lr > lr ? o->groups[g].lr : lr;
    const double bc = c->use_bias_correction
                          ? sqrt(1 - pow(beta2, (double)(k + 1))) / (1 - pow(beta1, (double)(k + 1)))
                          : 1.0;
    const double dlr = d * lr * bc;
    const double sqrt_beta2 = sqrt(beta2);
    const double r = 1.0; /* layer_scale */
    double numerator_acum = 0, sk_l1 = 0;
    const float fb1 = (float)beta1, fb2 = (float)beta2, fsb2 = (float)sqrt_beta2;
    const float am = (float)(r * dlr * (1 - beta1)), av = (float)(1 - beta2);
    const float as = (float)(dlr * (1 - sqrt_beta2)), feps = (float)c->eps;

    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *gs = &o->groups[g];
        const int coupled = gs->weight_decay != 0 && !c->decouple;
        const float fdecay = (float)gs->weight_decay;
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad || !(gs->lr > 0))
                continue;
            const float *x = p->data, *gr = p->grad;
            double dot = 0, l1 = 0;
            for (int64_t i = 0; i < ps->n; i++) {
                const float gi = coupled ? gr[i] + fdecay * x[i] : gr[i];
                const float denom = sqrtf(ps->v[i]) + feps;
                dot += (double)gi * (double)(ps->s[i] / denom);
                ps->m[i] = ps->m[i] * fb1 + am * gi;
                ps->v[i] = ps->v[i] * fb2 + av * gi * gi;
                ps->s[i] = ps->s[i] * fsb2 + as * gi;
                l1 += fabs((double)ps->s[i]);
            }
            numerator_acum += r * dlr * (double)(float)dot;
            sk_l1 += r * (double)(float)l1;
        }
    }
    const double numerator_weighted =
        sqrt_beta2 * o->sc.numerator_weighted + (1 - sqrt_beta2) * numerator_acum;
    if (sk_l1 == 0)
        return;
    if (lr > 0) {
        const double d_hat = numerator_weighted / ((1 - sqrt_beta2) * sk_l1);
        const double grown = d_hat < d * c->growth_rate ? d_hat : d * c->growth_rate;
        d = d > grown ? d : grown;
        o->sc.d_hat = d_hat;
    }
    o->sc.numerator_weighted = numerator_weighted;
    o->sc.d = d;

    for (int g = 0; g < o->ngroups; g++) {
        optim_gstate *gs = &o->groups[g];
        const int decoupled = gs->weight_decay != 0 && c->decouple;
        const float wd = (float)(-gs->weight_decay * dlr);
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            float *x = p->data;
            ps->step++;
            for (int64_t i = 0; i < ps->n; i++) {
                const float denom = sqrtf(ps->v[i]) + feps;
                float xi = x[i];
                if (decoupled)
                    xi = xi + wd * xi;
                x[i] = xi + -1.0f * ps->m[i] / denom;
            }
        }
        gs->k++;
    }
}
