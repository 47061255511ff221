/* sampler_dpm.c — the DPM-Solver family of sampler.h: DPMSolverMultistepScheduler with
 * algorithm_type "dpmsolver++" (data prediction, final sigma 0) or "dpmsolver" (noise
 * prediction, final sigma that of t = 0), and DPMSolverSinglestepScheduler (DPM-Solver++ in
 * first / second order pairs), all order 2 with the midpoint update, written from diffusers'
 * formulas. Every update is x_t = cx·x_b + c0·D0 + c1·D1 in the log-SNR λ = log(α / σ) of the
 * VP schedule α = 1 / √(σ² + 1), from a base point b: the step's start (multistep) or the
 * pair's start (singlestep). */
#include <math.h>
#include <string.h>

#include "engine/sample/sampler.h"

/* "linspace": linspace(0, 999, steps + 1).round() reversed, without the last (0); sigmas
 * from the table, then 0 or (dpmsolver) sigma_min */
void sampler_dpm_schedule(sampler *s, const double sig[SAMPLER_TRAIN_STEPS])
{
    for (int i = 0; i < s->steps; i++) {
        double t = (s->steps - i) * ((double)(SAMPLER_TRAIN_STEPS - 1) / s->steps);
        t = nearbyint(t);   /* numpy rounds half to even, as does the default FE mode */
        s->timesteps[i] = (float)t;
        s->input_scale[i] = 1.0f;
        s->sigmas[i] = sig[(int)t];
    }
    s->sigmas[s->steps] = s->kind == SAMPLER_DPMSOLVER ? sig[0] : 0.0;
    s->init_noise_sigma = 1.0f;
}

static void alpha_sigma(double sigma, double *alpha, double *sig)
{
    *alpha = 1.0 / sqrt(sigma * sigma + 1.0);
    *sig = sigma * *alpha;
}

static double lambda_of(double sigma)
{
    double a, s;
    alpha_sigma(sigma, &a, &s);
    return log(a) - log(s);
}

/* DPMSolverSinglestepScheduler.get_order_list for order 2 with lower_order_final (which
 * set_timesteps forces on with final sigma 0): 1, 2, 1, 2, ..., the last step first order,
 * and the last two with an even count */
static int single_order(int i, int steps)
{
    if (i == steps - 1 || (steps % 2 == 0 && i == steps - 2))
        return 1;
    return i % 2 ? 2 : 1;
}

int sampler_dpm_step(sampler *s, int i, const float *out, float *x)
{
    const int noise_pred = s->kind == SAMPLER_DPMSOLVER, single = s->kind == SAMPLER_DPMSINGLE;
    const size_t n = s->n;
    const double *sg = s->sigmas;
    double a_i, s_i, a_t, s_t;
    alpha_sigma(sg[i], &a_i, &s_i);
    alpha_sigma(sg[i + 1], &a_t, &s_t);
    /* convert_model_output: x0 (++) or ε (dpmsolver); the previous one kept in prev_x0 */
    float *m = s->prev_x0;
    s->prev_x0 = s->x0;
    s->x0 = m;
    for (size_t j = 0; j < n; j++) {
        if (noise_pred)
            m[j] = (float)(s->v_pred ? a_i * out[j] + s_i * x[j] : out[j]);
        else
            m[j] = (float)(s->v_pred ? a_i * x[j] - s_i * out[j] : (x[j] - s_i * out[j]) / a_i);
    }
    int order;
    if (single) {
        order = single_order(i, s->steps);
    } else {
        /* lower_order_final: the last step first order when final sigma 0, else below 15 steps */
        int lower_final = i == s->steps - 1 && (s->kind == SAMPLER_DPMSOLVER_PP || s->steps < 15);
        order = s->lower_order_nums < 1 || lower_final ? 1 : 2;
        if (s->lower_order_nums < 2)
            s->lower_order_nums++;
    }
    if (single && order == 1)
        memcpy(s->start, x, n * sizeof(float));
    if (sg[i + 1] == 0.0) {
        /* final sigma 0 (always first order): λ_t infinite, the update is x0 itself */
        memcpy(x, m, n * sizeof(float));
        return 1;
    }
    /* base point b: the step's start, or for singlestep's second order the pair's start */
    const int b = single && order == 2 ? i - 1 : i;
    double a_b, s_b;
    alpha_sigma(sg[b], &a_b, &s_b);
    const double h = lambda_of(sg[i + 1]) - lambda_of(sg[b]);
    double cx, c0, c1 = 0.0, r0 = 1.0;
    if (noise_pred) {
        cx = a_t / a_b;
        c0 = -s_t * (exp(h) - 1.0);
    } else {
        cx = s_t / s_b;
        c0 = -a_t * (exp(-h) - 1.0);
    }
    if (order == 2) {
        c1 = 0.5 * c0;
        r0 = (lambda_of(sg[i]) - lambda_of(sg[i - 1])) / h;
    }
    const float *xb = single && order == 2 ? s->start : x;
    for (size_t j = 0; j < n; j++) {
        /* D0 = m at the base (multistep: this call's; singlestep: the pair's first), D1 the
         * scaled difference of this call's m and the previous one */
        double d0 = single && order == 2 ? s->prev_x0[j] : m[j];
        double d1 = order == 2 ? (m[j] - s->prev_x0[j]) / r0 : 0.0;
        x[j] = (float)(cx * xb[j] + c0 * d0 + c1 * d1);
    }
    return 1;
}
