/* sampler.c — DDIM, Euler, Euler ancestral and DPM-Solver(++) 2M over the SD training schedule,
 * written from diffusers' scheduler formulas (see sampler.h for the configuration sd-scripts
 * uses). Latents are float; the schedule and per-step coefficients are double. */
#include "engine/sample/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kernels/kernels.h"

static const struct {
    const char *name;
    sampler_kind kind;
} names[] = {
    {"ddim", SAMPLER_DDIM},         {"euler", SAMPLER_EULER},     {"k_euler", SAMPLER_EULER},
    {"euler_a", SAMPLER_EULER_A},   {"k_euler_a", SAMPLER_EULER_A},
    {"dpmsolver++", SAMPLER_DPMSOLVER_PP},
};

const char *sampler_supported(void)
{
    return "ddim, euler (k_euler), euler_a (k_euler_a), dpmsolver++";
}

int sampler_parse(const char *name, sampler_kind *kind, error_info *err)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i].name) == 0) {
            *kind = names[i].kind;
            return 0;
        }
    return error_set(err, NULL, 0, 0, "sampler", "\"%s\" is not a sampler loratty has; use one of: %s",
                     name, sampler_supported());
}

const char *sampler_name(sampler_kind kind)
{
    switch (kind) {
    case SAMPLER_DDIM: return "ddim";
    case SAMPLER_EULER: return "euler";
    case SAMPLER_EULER_A: return "euler_a";
    case SAMPLER_DPMSOLVER_PP: return "dpmsolver++";
    }
    return "?";
}

const char *sampler_a1111_name(sampler_kind kind)
{
    switch (kind) {
    case SAMPLER_DDIM: return "DDIM";
    case SAMPLER_EULER: return "Euler";
    case SAMPLER_EULER_A: return "Euler a";
    case SAMPLER_DPMSOLVER_PP: return "DPM++ 2M";
    }
    return "?";
}

void sampler_alphas_cumprod(double ac[SAMPLER_TRAIN_STEPS])
{
    /* betas = linspace(√0.00085, √0.012, 1000)² in float32; alphas_cumprod = cumprod(1 − β) */
    const float b0 = sqrtf(0.00085f), b1 = sqrtf(0.012f);
    float prod = 1.0f;
    for (int i = 0; i < SAMPLER_TRAIN_STEPS; i++) {
        float s = b0 + (b1 - b0) * (float)i / (float)(SAMPLER_TRAIN_STEPS - 1);
        if (i == SAMPLER_TRAIN_STEPS - 1)
            s = b1;
        prod *= 1.0f - s * s;
        ac[i] = prod;
    }
}

/* np.interp on the integer grid 0..999 */
static double interp(const double *y, double t)
{
    if (t <= 0)
        return y[0];
    if (t >= SAMPLER_TRAIN_STEPS - 1)
        return y[SAMPLER_TRAIN_STEPS - 1];
    int i = (int)floor(t);
    double f = t - i;
    return y[i] + (y[i + 1] - y[i]) * f;
}

int sampler_init(sampler *s, sampler_kind kind, int steps, int v_pred, size_t n, uint64_t seed,
                 error_info *err)
{
    memset(s, 0, sizeof *s);
    if (steps < 1 || steps > SAMPLER_TRAIN_STEPS)
        return error_set(err, NULL, 0, 0, "steps", "%d steps: use 1 to %d", steps, SAMPLER_TRAIN_STEPS);
    s->kind = kind;
    s->v_pred = v_pred;
    s->steps = steps;
    s->n = n;
    s->seed = seed;
    sampler_alphas_cumprod(s->ac);
    s->timesteps = calloc((size_t)steps, sizeof(float));
    s->sigmas = calloc((size_t)steps + 1, sizeof(double));
    s->x0 = malloc(n * sizeof(float));
    s->prev_x0 = malloc(n * sizeof(float));
    s->noise = kind == SAMPLER_EULER_A ? malloc(n * sizeof(float)) : NULL;
    if (!s->timesteps || !s->sigmas || !s->x0 || !s->prev_x0 || (kind == SAMPLER_EULER_A && !s->noise)) {
        sampler_free(s);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    double sig[SAMPLER_TRAIN_STEPS];
    for (int t = 0; t < SAMPLER_TRAIN_STEPS; t++)
        sig[t] = (double)(float)sqrt((1.0 - s->ac[t]) / s->ac[t]);
    switch (kind) {
    case SAMPLER_DDIM: {
        /* "leading": (0, r, 2r, ...)·reversed + steps_offset 1, r = 1000 // steps */
        int r = SAMPLER_TRAIN_STEPS / steps;
        for (int i = 0; i < steps; i++)
            s->timesteps[i] = (float)((steps - 1 - i) * r + 1);
        s->init_noise_sigma = 1.0f;
        break;
    }
    case SAMPLER_EULER:
    case SAMPLER_EULER_A: {
        /* "linspace": linspace(0, 999, steps) reversed; sigmas interpolated, then 0 */
        for (int i = 0; i < steps; i++) {
            double t = steps == 1 ? 0.0 : (double)(SAMPLER_TRAIN_STEPS - 1) * (steps - 1 - i) / (steps - 1);
            s->timesteps[i] = (float)t;
            s->sigmas[i] = (float)interp(sig, t);
        }
        s->sigmas[steps] = 0.0;
        /* linspace spacing: init_noise_sigma is the largest sigma itself */
        s->init_noise_sigma = (float)s->sigmas[0];
        break;
    }
    case SAMPLER_DPMSOLVER_PP: {
        /* linspace(0, 999, steps + 1).round() reversed, without the last (0) */
        for (int i = 0; i < steps; i++) {
            double t = (double)(SAMPLER_TRAIN_STEPS - 1) * (steps - i) / steps;
            t = nearbyint(t);   /* numpy rounds half to even, as does the default FE mode */
            s->timesteps[i] = (float)t;
            s->sigmas[i] = sig[(int)t];
        }
        s->sigmas[steps] = 0.0;   /* final_sigmas_type "zero" */
        s->init_noise_sigma = 1.0f;
        break;
    }
    }
    return 0;
}

void sampler_free(sampler *s)
{
    free(s->timesteps);
    free(s->sigmas);
    free(s->x0);
    free(s->prev_x0);
    free(s->noise);
    memset(s, 0, sizeof *s);
}

float sampler_timestep(const sampler *s, int i)
{
    return s->timesteps[i];
}

float sampler_input_scale(const sampler *s, int i)
{
    if (s->kind == SAMPLER_EULER || s->kind == SAMPLER_EULER_A)
        return (float)(1.0 / sqrt(s->sigmas[i] * s->sigmas[i] + 1.0));
    return 1.0f;
}

static void ddim_step(sampler *s, int i, const float *out, float *x)
{
    int t = (int)s->timesteps[i], prev = t - SAMPLER_TRAIN_STEPS / s->steps;
    double a = s->ac[t], a_prev = prev >= 0 ? s->ac[prev] : 1.0;   /* set_alpha_to_one */
    double sa = sqrt(a), sb = sqrt(1.0 - a), sap = sqrt(a_prev), sbp = sqrt(1.0 - a_prev);
    for (size_t j = 0; j < s->n; j++) {
        double xo, eps;
        if (s->v_pred) {
            xo = sa * x[j] - sb * out[j];
            eps = sa * out[j] + sb * x[j];
        } else {
            xo = (x[j] - sb * out[j]) / sa;
            eps = out[j];
        }
        xo = xo < -1.0 ? -1.0 : xo > 1.0 ? 1.0 : xo;   /* clip_sample, range 1 */
        x[j] = (float)(sap * xo + sbp * eps);
    }
}

/* Euler and Euler ancestral (k-diffusion form, sigma-scaled latents). */
static void euler_step(sampler *s, int i, const float *out, float *x)
{
    double sg = s->sigmas[i], sn = s->sigmas[i + 1], down = sn, up = 0.0;
    if (s->kind == SAMPLER_EULER_A) {
        up = sqrt(sn * sn * (sg * sg - sn * sn) / (sg * sg));
        down = sqrt(sn * sn - up * up);
        if (s->noise_hook)
            s->noise_hook(s->noise_ctx, i, s->noise, s->n);
        else
            k_randn(s->noise, s->n, s->seed, (uint64_t)s->n * (uint64_t)(i + 1));
    }
    double dt = down - sg;
    for (size_t j = 0; j < s->n; j++) {
        double xo = s->v_pred ? out[j] * (-sg / sqrt(sg * sg + 1.0)) + x[j] / (sg * sg + 1.0)
                              : x[j] - sg * out[j];
        double d = (x[j] - xo) / sg;
        double nx = x[j] + d * dt;
        if (s->kind == SAMPLER_EULER_A)
            nx += s->noise[j] * up;
        x[j] = (float)nx;
    }
}

/* alpha_t, sigma_t of a sigma-parameterised step */
static void dpm_as(double sigma, double *alpha, double *sig)
{
    *alpha = 1.0 / sqrt(sigma * sigma + 1.0);
    *sig = sigma * *alpha;
}

/* DPM-Solver++ 2M (data prediction, midpoint second-order update) */
static void dpm_step(sampler *s, int i, const float *out, float *x)
{
    double a_s, s_s, a_t, s_t;
    dpm_as(s->sigmas[i], &a_s, &s_s);
    dpm_as(s->sigmas[i + 1], &a_t, &s_t);
    for (size_t j = 0; j < s->n; j++)
        s->x0[j] = (float)(s->v_pred ? a_s * x[j] - s_s * out[j] : (x[j] - s_s * out[j]) / a_s);
    /* first order for the first step and the last (lower_order_final, final_sigmas_type
     * "zero"); a last sigma of 0 makes lambda infinite and the update x0 itself */
    int first = s->lower_order_nums < 1 || i == s->steps - 1;
    if (s->sigmas[i + 1] == 0.0) {
        memcpy(x, s->x0, s->n * sizeof(float));
    } else {
        double lt = log(a_t) - log(s_t), ls = log(a_s) - log(s_s), h = lt - ls;
        double r0 = 1.0;
        if (!first) {
            double a1, s1;
            dpm_as(s->sigmas[i - 1], &a1, &s1);
            r0 = (ls - (log(a1) - log(s1))) / h;
        }
        double e = exp(-h) - 1.0;
        for (size_t j = 0; j < s->n; j++) {
            double d0 = s->x0[j], d1 = first ? 0.0 : (d0 - s->prev_x0[j]) / r0;
            x[j] = (float)((s_t / s_s) * x[j] - a_t * e * d0 - 0.5 * a_t * e * d1);
        }
    }
    float *tmp = s->prev_x0;
    s->prev_x0 = s->x0;
    s->x0 = tmp;
    if (s->lower_order_nums < 2)
        s->lower_order_nums++;
}

void sampler_step(sampler *s, int i, const float *model_out, float *x)
{
    switch (s->kind) {
    case SAMPLER_DDIM: ddim_step(s, i, model_out, x); break;
    case SAMPLER_EULER:
    case SAMPLER_EULER_A: euler_step(s, i, model_out, x); break;
    case SAMPLER_DPMSOLVER_PP: dpm_step(s, i, model_out, x); break;
    }
}
