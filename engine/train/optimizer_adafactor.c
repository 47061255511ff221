/* optimizer_adafactor.c — Adafactor as transformers.optimization.Adafactor steps it
 * (Shazeer & Stern 2018). Tensors of rank >= 2 keep factored second moments: one running
 * mean of g² + eps per row and per column of each trailing (rows × cols) matrix, and estimate
 * v ≈ row·col / mean(row). Others keep a full v. The update g/√v is clipped to RMS ≤
 * clip_threshold and scaled by lr, where with relative_step lr = min(1e-2 (or 1e-6·t with
 * warmup_init), 1/√t), times max(eps2, RMS(p)) with scale_parameter. β2ₜ = 1 − t^decay_rate. */
#include "engine/train/optimizer_impl.h"

#include <math.h>

static double rms(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return (float)sqrt(s) / sqrt((double)n); /* torch: norm(2) (f32) / numel ** 0.5 */
}

/* Adafactor._get_lr with the tensor's step count and RMS. */
static double adafactor_lr(const optim_config *c, double group_lr, int64_t step, double p_rms)
{
    double rel = group_lr;
    if (c->relative_step) {
        double min_step = c->warmup_init ? 1e-6 * (double)step : 1e-2;
        double inv = 1.0 / sqrt((double)step);
        rel = min_step < inv ? min_step : inv;
    }
    double scale = 1.0;
    if (c->scale_parameter)
        scale = c->eps2 > p_rms ? c->eps2 : p_rms;
    return scale * rel;
}

double optim_adafactor_lr(const optim *o, const optim_gstate *g, const optim_pstate *ps)
{
    if (ps->step == 0) /* AdafactorSchedule before the first step: the initial lr */
        return g->lr;
    return adafactor_lr(&o->cfg, g->lr, ps->step, rms(o->params[g->first].data, ps->n));
}

static void factored_update(const optim_pstate *ps, const float *gr, float b2t, float w2t,
                            float eps1, float *u)
{
    const int64_t R = ps->rows, C = ps->cols;
    for (int64_t b = 0; b < ps->batch; b++) {
        const float *g = gr + b * R * C;
        float *row = ps->row + b * R, *col = ps->col + b * C;
        for (int64_t r = 0; r < R; r++) {
            double s = 0;
            for (int64_t k = 0; k < C; k++)
                s += (double)(g[r * C + k] * g[r * C + k] + eps1);
            row[r] = row[r] * b2t + w2t * (float)(s / (double)C);
        }
        for (int64_t k = 0; k < C; k++) {
            double s = 0;
            for (int64_t r = 0; r < R; r++)
                s += (double)(g[r * C + k] * g[r * C + k] + eps1);
            col[k] = col[k] * b2t + w2t * (float)(s / (double)R);
        }
        double rs = 0;
        for (int64_t r = 0; r < R; r++)
            rs += row[r];
        const float row_mean = (float)(rs / (double)R);
        for (int64_t r = 0; r < R; r++) {
            float rf = 1.0f / sqrtf(row[r] / row_mean);
            for (int64_t k = 0; k < C; k++)
                u[b * R * C + r * C + k] = rf * (1.0f / sqrtf(col[k])) * g[r * C + k];
        }
    }
}

void optim_adafactor_step(optim *o)
{
    const optim_config *c = &o->cfg;
    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *gs = &o->groups[g];
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            const int64_t n = ps->n;
            float *x = p->data, *u = o->scratch;
            const float *gr = p->grad;
            ps->step++;
            const double lr = adafactor_lr(c, gs->lr, ps->step, rms(x, n));
            const double beta2t = 1.0 - pow((double)ps->step, c->decay_rate);
            const float b2t = (float)beta2t, w2t = (float)(1.0 - beta2t), eps1 = (float)c->eps;
            if (ps->row) {
                factored_update(ps, gr, b2t, w2t, eps1, u);
            } else {
                for (int64_t i = 0; i < n; i++) {
                    ps->v[i] = ps->v[i] * b2t + w2t * (gr[i] * gr[i] + eps1);
                    u[i] = (1.0f / sqrtf(ps->v[i])) * gr[i];
                }
            }
            double clip = rms(u, n) / c->clip_threshold;
            const float div = (float)(clip > 1.0 ? clip : 1.0), flr = (float)lr;
            const float b1 = (float)c->beta1, w1 = (float)(1.0 - c->beta1);
            const float wd = (float)(-gs->weight_decay * lr);
            for (int64_t i = 0; i < n; i++) {
                float ui = u[i] / div * flr;
                if (ps->m) {
                    ps->m[i] = ps->m[i] * b1 + w1 * ui;
                    ui = ps->m[i];
                }
                float xi = x[i];
                if (gs->weight_decay != 0)
                    xi = xi + wd * xi;
                x[i] = xi - ui;
            }
        }
    }
}
