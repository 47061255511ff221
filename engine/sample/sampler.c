/* sampler.c — the sample-image samplers over the SD training schedule, written from diffusers'
 * scheduler formulas (see sampler.h for the configuration sd-scripts uses): names, schedules
 * (timesteps, sigmas, input scales of every model call) and the steps of DDIM, PNDM, LMS,
 * Euler (ancestral), Heun and DPM2 (ancestral); the DPM-Solver family is in sampler_dpm.c.
 * Latents are float; the schedule and per-step coefficients are double, the sigma tables
 * rounded to float32 where diffusers keeps them in float32. */
#include "engine/sample/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/train/noise_schedule.h"
#include "kernels/kernels.h"

static const struct {
    const char *name;
    sampler_kind kind;
} names[] = {
    {"ddim", SAMPLER_DDIM},         {"pndm", SAMPLER_PNDM},         {"lms", SAMPLER_LMS},
    {"k_lms", SAMPLER_LMS},         {"euler", SAMPLER_EULER},       {"k_euler", SAMPLER_EULER},
    {"euler_a", SAMPLER_EULER_A},   {"k_euler_a", SAMPLER_EULER_A}, {"heun", SAMPLER_HEUN},
    {"dpm_2", SAMPLER_DPM2},        {"k_dpm_2", SAMPLER_DPM2},      {"dpm_2_a", SAMPLER_DPM2_A},
    {"k_dpm_2_a", SAMPLER_DPM2_A},  {"dpmsolver", SAMPLER_DPMSOLVER},
    {"dpmsolver++", SAMPLER_DPMSOLVER_PP}, {"dpmsingle", SAMPLER_DPMSINGLE},
};

const char *sampler_supported(void)
{
    return "ddim, pndm, lms (k_lms), euler (k_euler), euler_a (k_euler_a), heun, dpm_2 (k_dpm_2), "
           "dpm_2_a (k_dpm_2_a), dpmsolver, dpmsolver++, dpmsingle";
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
    case SAMPLER_PNDM: return "pndm";
    case SAMPLER_LMS: return "lms";
    case SAMPLER_HEUN: return "heun";
    case SAMPLER_DPM2: return "dpm_2";
    case SAMPLER_DPM2_A: return "dpm_2_a";
    case SAMPLER_DPMSOLVER: return "dpmsolver";
    case SAMPLER_DPMSINGLE: return "dpmsingle";
    }
    return "?";
}

/* A1111's names where it has the sampler; DPM-Solver's first-order-noise variants it lacks */
const char *sampler_a1111_name(sampler_kind kind)
{
    switch (kind) {
    case SAMPLER_DDIM: return "DDIM";
    case SAMPLER_EULER: return "Euler";
    case SAMPLER_EULER_A: return "Euler a";
    case SAMPLER_DPMSOLVER_PP: return "DPM++ 2M";
    case SAMPLER_PNDM: return "PLMS";
    case SAMPLER_LMS: return "LMS";
    case SAMPLER_HEUN: return "Heun";
    case SAMPLER_DPM2: return "DPM2";
    case SAMPLER_DPM2_A: return "DPM2 a";
    case SAMPLER_DPMSOLVER: return "DPM-Solver 2M";
    case SAMPLER_DPMSINGLE: return "DPM++ 2S";
    }
    return "?";
}

void sampler_alphas_cumprod(double ac[SAMPLER_TRAIN_STEPS])
{
    /* the training schedule's, computed as torch does (linspace from both ends, cumprod
     * accumulated in double) */
    noise_schedule ns;
    error_info err = {0};
    noise_schedule_init(&ns, 0.00085, 0.012, SAMPLER_TRAIN_STEPS, &err);
    for (int i = 0; i < SAMPLER_TRAIN_STEPS; i++)
        ac[i] = ns.alphas_cumprod[i];
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

/* step i's timestep of np.linspace(0, 999, steps, dtype=float32)[::-1] ("linspace" spacing) */
static float linspace_t(int i, int steps)
{
    int m = steps - 1 - i;
    if (steps == 1)
        return 0.0f;
    if (m == steps - 1)
        return (float)(SAMPLER_TRAIN_STEPS - 1);
    return (float)(m * ((double)(SAMPLER_TRAIN_STEPS - 1) / (steps - 1)));
}

/* KDPM2's _sigma_to_t: the fractional timestep where log sigma falls between the table's, in
 * float32 as numpy computes it there */
static float sigma_to_t(const float logsig[SAMPLER_TRAIN_STEPS], double sigma)
{
    float ls = logf(fmaxf((float)sigma, 1e-10f));
    int low = 0;
    for (int t = 0; t < SAMPLER_TRAIN_STEPS && logsig[t] <= ls; t++)
        low = t;
    if (low > SAMPLER_TRAIN_STEPS - 2)
        low = SAMPLER_TRAIN_STEPS - 2;
    float w = (logsig[low] - ls) / (logsig[low] - logsig[low + 1]);
    w = w < 0.0f ? 0.0f : w > 1.0f ? 1.0f : w;
    return (float)((double)(1.0f - w) * low + (double)w * (low + 1));
}

/* exp(lerp(log a, log b, 0.5)) in float32 as torch: the log-midpoint of two sigmas (0 if
 * either is 0) */
static double log_mid(double a, double b)
{
    if (a <= 0.0 || b <= 0.0)
        return 0.0;
    float la = logf((float)a), lb = logf((float)b);
    return expf(lb - (lb - la) * 0.5f);
}

static float scale_of(double sigma)
{
    return (float)(1.0 / sqrt(sigma * sigma + 1.0));
}

/* the k-diffusion samplers: steps' sigmas interpolated at the "linspace" timesteps, then 0 */
static void linspace_sigmas(sampler *s, const double sig[SAMPLER_TRAIN_STEPS], float *t)
{
    for (int i = 0; i < s->steps; i++) {
        t[i] = linspace_t(i, s->steps);
        s->sigmas[i] = (float)interp(sig, t[i]);
    }
    s->sigmas[s->steps] = 0.0;
    s->init_noise_sigma = (float)s->sigmas[0];   /* linspace spacing: the largest sigma itself */
}

/* PNDMScheduler.set_timesteps without skip_prk_steps: "leading" ts = r·(0..steps−1) with
 * r = 1000 // steps; the Runge-Kutta calls walk the top four (each step at t, t − r/2 twice,
 * t − r), then PLMS from the fourth down to 0 */
static void pndm_schedule(sampler *s)
{
    const int n = s->steps, r = SAMPLER_TRAIN_STEPS / n, half = r / 2;
    int edge[8], k = 0;
    for (int m = 0; m < 4; m++) {
        edge[2 * m] = (n - 4 + m) * r;
        edge[2 * m + 1] = (n - 4 + m) * r + half;
    }
    /* edge[0..6] each twice, less the first and the last copy, reversed */
    for (int m = 6; m >= 0; m--)
        for (int c = 0; c < 2; c++)
            if (!(m == 6 && c == 1) && !(m == 0 && c == 1))
                s->timesteps[k++] = (float)edge[m];
    for (int m = n - 4; m >= 0; m--)
        s->timesteps[k++] = (float)(m * r);
    for (int c = 0; c < s->calls; c++)
        s->input_scale[c] = 1.0f;
    s->init_noise_sigma = 1.0f;
}

static void schedule(sampler *s)
{
    const int n = s->steps;
    double sig[SAMPLER_TRAIN_STEPS];
    float logsig[SAMPLER_TRAIN_STEPS], t[SAMPLER_TRAIN_STEPS];
    for (int i = 0; i < SAMPLER_TRAIN_STEPS; i++) {
        float a = (float)s->ac[i];
        sig[i] = sqrtf((1.0f - a) / a);   /* ((1 − ᾱ) / ᾱ) ** 0.5 in float32 */
        logsig[i] = logf((float)sig[i]);
    }
    switch (s->kind) {
    case SAMPLER_DDIM:
        /* "leading": (0, r, 2r, ...)·reversed, r = 1000 // steps; sd-scripts' get_my_scheduler
         * leaves steps_offset at 0 */
        for (int i = 0; i < n; i++) {
            s->timesteps[i] = (float)((n - 1 - i) * (SAMPLER_TRAIN_STEPS / n));
            s->input_scale[i] = 1.0f;
        }
        s->init_noise_sigma = 1.0f;
        break;
    case SAMPLER_PNDM:
        pndm_schedule(s);
        break;
    case SAMPLER_EULER:
    case SAMPLER_EULER_A:
    case SAMPLER_LMS:
        linspace_sigmas(s, sig, s->timesteps);
        for (int i = 0; i < n; i++)
            s->input_scale[i] = scale_of(s->sigmas[i]);
        break;
    case SAMPLER_HEUN:
        /* calls: step 0, then each sigma twice: [t0, t1, t1, t2, t2, ...] */
        linspace_sigmas(s, sig, t);
        for (int c = 0; c < s->calls; c++) {
            s->timesteps[c] = t[(c + 1) / 2];
            s->input_scale[c] = scale_of(s->sigmas[(c + 1) / 2]);
        }
        break;
    case SAMPLER_DPM2:
        /* second call of step j at the log-midpoint of sigma j and j + 1 */
        linspace_sigmas(s, sig, t);
        for (int j = 1; j <= n; j++)
            s->sigmas_mid[j] = log_mid(s->sigmas[j], s->sigmas[j - 1]);
        for (int c = 0; c < s->calls; c++) {
            double sg = c % 2 ? s->sigmas_mid[(c + 1) / 2] : s->sigmas[c / 2];
            s->timesteps[c] = c % 2 ? sigma_to_t(logsig, sg) : t[c / 2];
            s->input_scale[c] = scale_of(sg);
        }
        break;
    case SAMPLER_DPM2_A:
        /* the ancestral split of each step (float32, as torch); the second call at the
         * log-midpoint of sigma j and sigma_down j; the last step one Euler call to 0 */
        linspace_sigmas(s, sig, t);
        for (int j = 0; j < n; j++) {
            float sj = (float)s->sigmas[j], nx = (float)s->sigmas[j + 1];
            float up = sqrtf(nx * nx * (sj * sj - nx * nx) / (sj * sj));
            s->sigmas_up[j] = up;
            s->sigmas_down[j] = sqrtf(nx * nx - up * up);
            s->sigmas_mid[j] = j < n - 1 ? log_mid(s->sigmas[j], s->sigmas_down[j]) : 0.0;
        }
        for (int c = 0; c < s->calls; c++) {
            double sg = c % 2 ? s->sigmas_mid[c / 2] : s->sigmas[c / 2];
            s->timesteps[c] = c % 2 ? sigma_to_t(logsig, sg) : t[c / 2];
            s->input_scale[c] = scale_of(sg);
        }
        break;
    case SAMPLER_DPMSOLVER_PP:
    case SAMPLER_DPMSOLVER:
    case SAMPLER_DPMSINGLE:
        sampler_dpm_schedule(s, sig);
        break;
    }
}

int sampler_init(sampler *s, sampler_kind kind, int steps, int v_pred, size_t n, uint64_t seed,
                 error_info *err)
{
    memset(s, 0, sizeof *s);
    if (steps < 1 || steps > SAMPLER_TRAIN_STEPS)
        return error_set(err, NULL, 0, 0, "steps", "%d steps: use 1 to %d", steps, SAMPLER_TRAIN_STEPS);
    if (kind == SAMPLER_PNDM && steps < 4)
        return error_set(err, NULL, 0, 0, "steps", "%d steps: pndm needs at least 4 (its first three steps "
                         "are Runge-Kutta steps over the top four timesteps; diffusers fails below 4)", steps);
    s->kind = kind;
    s->v_pred = v_pred;
    s->steps = steps;
    s->calls = kind == SAMPLER_HEUN || kind == SAMPLER_DPM2 || kind == SAMPLER_DPM2_A ? 2 * steps - 1
               : kind == SAMPLER_PNDM                                                  ? steps + 9
                                                                                       : steps;
    s->n = n;
    s->seed = seed;
    sampler_alphas_cumprod(s->ac);
    s->timesteps = calloc((size_t)s->calls, sizeof(float));
    s->input_scale = calloc((size_t)s->calls, sizeof(float));
    s->sigmas = calloc((size_t)steps + 1, sizeof(double));
    s->sigmas_mid = calloc((size_t)steps + 1, sizeof(double));
    s->sigmas_up = calloc((size_t)steps + 1, sizeof(double));
    s->sigmas_down = calloc((size_t)steps + 1, sizeof(double));
    float **bufs[] = {&s->x0, &s->prev_x0, &s->start, &s->acc, &s->noise,
                      &s->hist[0], &s->hist[1], &s->hist[2], &s->hist[3]};
    int ok = s->timesteps && s->input_scale && s->sigmas && s->sigmas_mid && s->sigmas_up && s->sigmas_down;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ok = (*bufs[i] = calloc(n ? n : 1, sizeof(float))) && ok;
    if (!ok) {
        sampler_free(s);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    schedule(s);
    return 0;
}

void sampler_free(sampler *s)
{
    free(s->timesteps);
    free(s->input_scale);
    free(s->sigmas);
    free(s->sigmas_mid);
    free(s->sigmas_up);
    free(s->sigmas_down);
    free(s->x0);
    free(s->prev_x0);
    free(s->start);
    free(s->acc);
    free(s->noise);
    for (int i = 0; i < 4; i++)
        free(s->hist[i]);
    memset(s, 0, sizeof *s);
}

int sampler_calls(const sampler *s)
{
    return s->calls;
}

float sampler_timestep(const sampler *s, int call)
{
    return s->timesteps[call];
}

float sampler_input_scale(const sampler *s, int call)
{
    return s->input_scale[call];
}

static void draw_noise(sampler *s, int step)
{
    if (s->noise_hook)
        s->noise_hook(s->noise_ctx, step, s->noise, s->n);
    else
        k_randn(s->noise, s->n, s->seed, (uint64_t)s->n * (uint64_t)(step + 1));
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

/* PNDM's _get_prev_sample (formula (9) of the PNDM paper): x at prev from `sample` at t given
 * the (combined) model output; before t = 0 it ends at alphas_cumprod[0] */
static void pndm_prev(const sampler *s, const float *sample, int t, int prev, const float *e, float *x)
{
    double a = s->ac[t], ap = prev >= 0 ? s->ac[prev] : s->ac[0], b = 1.0 - a, bp = 1.0 - ap;
    double coef = sqrt(ap / a), denom = a * sqrt(bp) + sqrt(a * b * ap);
    for (size_t j = 0; j < s->n; j++) {
        double eps = s->v_pred ? sqrt(a) * e[j] + sqrt(b) * sample[j] : e[j];
        x[j] = (float)(coef * sample[j] - (ap - a) * eps / denom);
    }
}

static float *pndm_push(sampler *s, const float *out)
{
    float *h = s->hist[s->hist_len++ % 4];
    memcpy(h, out, s->n * sizeof(float));
    return h;
}

/* the output pushed `back` calls ago (0: the newest) */
static const float *pndm_hist(const sampler *s, int back)
{
    return s->hist[(s->hist_len - 1 - back) % 4];
}

/* calls 0..11: three Runge-Kutta steps of four calls from the step's start (weights 1/6, 1/3,
 * 1/3, 1/6), each call also moving x to its half or whole step; then PLMS with four outputs */
static int pndm_step(sampler *s, int c, const float *out, float *x)
{
    const int r = SAMPLER_TRAIN_STEPS / s->steps, t = (int)s->timesteps[c];
    const size_t n = s->n;
    if (c < 12) {
        const int phase = c % 4, from = (int)s->timesteps[c / 4 * 4], prev = t - (c % 2 ? 0 : r / 2);
        const float *e = out;
        if (phase == 0) {
            memcpy(s->start, x, n * sizeof(float));
            pndm_push(s, out);
            for (size_t j = 0; j < n; j++)
                s->acc[j] = out[j] / 6.0f;
        } else if (phase < 3) {
            for (size_t j = 0; j < n; j++)
                s->acc[j] += out[j] / 3.0f;
        } else {
            for (size_t j = 0; j < n; j++)
                s->acc[j] += out[j] / 6.0f;
            e = s->acc;
        }
        pndm_prev(s, s->start, from, prev, e, x);
        return phase == 3;
    }
    pndm_push(s, out);
    const float *e1 = pndm_hist(s, 0), *e2 = pndm_hist(s, 1), *e3 = pndm_hist(s, 2), *e4 = pndm_hist(s, 3);
    for (size_t j = 0; j < n; j++)
        s->acc[j] = (float)((55.0 * e1[j] - 59.0 * e2[j] + 37.0 * e3[j] - 9.0 * e4[j]) / 24.0);
    pndm_prev(s, x, t, t - r, s->acc, x);
    return 1;
}

/* x0 of the k-diffusion (sigma-scaled) samplers */
static double k_x0(int v_pred, double sigma, double x, double out)
{
    return v_pred ? out * (-sigma / sqrt(sigma * sigma + 1.0)) + x / (sigma * sigma + 1.0) : x - sigma * out;
}

/* Euler and Euler ancestral */
static void euler_step(sampler *s, int i, const float *out, float *x)
{
    double sg = s->sigmas[i], sn = s->sigmas[i + 1], down = sn, up = 0.0;
    if (s->kind == SAMPLER_EULER_A) {
        up = sqrt(sn * sn * (sg * sg - sn * sn) / (sg * sg));
        down = sqrt(sn * sn - up * up);
        draw_noise(s, i);
    }
    double dt = down - sg;
    for (size_t j = 0; j < s->n; j++) {
        double d = (x[j] - k_x0(s->v_pred, sg, x[j], out[j])) / sg;
        double nx = x[j] + d * dt;
        if (s->kind == SAMPLER_EULER_A)
            nx += s->noise[j] * up;
        x[j] = (float)nx;
    }
}

/* LMSDiscreteScheduler.get_lms_coefficient: the integral over [sigma i, sigma i+1] of the
 * Lagrange basis polynomial of node i − c over the nodes i, i−1, .., i−order+1 (diffusers
 * integrates it with scipy's quad; of degree ≤ 3, two Gauss-Legendre points are exact) */
static double lms_coeff(const double *sg, int order, int i, int c)
{
    double mid = 0.5 * (sg[i] + sg[i + 1]), half = 0.5 * (sg[i + 1] - sg[i]), sum = 0.0;
    for (int p = -1; p <= 1; p += 2) {
        double tau = mid + p * half / sqrt(3.0), prod = 1.0;
        for (int k = 0; k < order; k++)
            if (k != c)
                prod *= (tau - sg[i - k]) / (sg[i - c] - sg[i - k]);
        sum += prod;
    }
    return sum * half;
}

static void lms_step(sampler *s, int i, const float *out, float *x)
{
    const double sg = s->sigmas[i];
    float *d = s->hist[i % 4];
    for (size_t j = 0; j < s->n; j++)
        d[j] = (float)((x[j] - k_x0(s->v_pred, sg, x[j], out[j])) / sg);
    int order = i + 1 < 4 ? i + 1 : 4;
    double coeff[4];
    for (int c = 0; c < order; c++)
        coeff[c] = lms_coeff(s->sigmas, order, i, c);
    for (size_t j = 0; j < s->n; j++) {
        double v = x[j];
        for (int c = 0; c < order; c++)
            v += coeff[c] * s->hist[(i - c) % 4][j];
        x[j] = (float)v;
    }
}

/* Heun: an Euler call to sigma j+1, then the mean of both slopes from the step's start; the
 * last step is the Euler call alone. x0 clamped to [-1, 1] (sd-scripts' clip_sample). */
static int heun_step(sampler *s, int c, const float *out, float *x)
{
    const int j = c / 2, first = c % 2 == 0;
    const double sg = first ? s->sigmas[j] : s->sigmas[j + 1];
    if (first)
        s->dt = s->sigmas[j + 1] - sg;
    for (size_t k = 0; k < s->n; k++) {
        double xo = k_x0(s->v_pred, sg, x[k], out[k]);
        xo = xo < -1.0 ? -1.0 : xo > 1.0 ? 1.0 : xo;
        double d = (x[k] - xo) / sg;
        if (first) {
            s->acc[k] = (float)d;
            s->start[k] = x[k];
            x[k] = (float)(x[k] + d * s->dt);
        } else {
            x[k] = (float)(s->start[k] + 0.5 * (s->acc[k] + d) * s->dt);
        }
    }
    return !first || j == s->steps - 1;
}

/* DPM2 (ancestral): an Euler call to the midpoint sigma, then the whole step from the start
 * with the midpoint's slope (to sigma_down, plus sigma_up of noise, for the ancestral one) */
static int dpm2_step(sampler *s, int c, const float *out, float *x)
{
    const int j = c / 2, first = c % 2 == 0, anc = s->kind == SAMPLER_DPM2_A;
    const double sg = s->sigmas[j], mid = anc ? s->sigmas_mid[j] : s->sigmas_mid[j + 1];
    const double at = first ? sg : mid, dt = first ? mid - sg : (anc ? s->sigmas_down[j] : s->sigmas[j + 1]) - sg;
    if (!first && anc)
        draw_noise(s, j);
    for (size_t k = 0; k < s->n; k++) {
        double d = (x[k] - k_x0(s->v_pred, at, x[k], out[k])) / at;
        if (first) {
            s->start[k] = x[k];
            x[k] = (float)(x[k] + d * dt);
        } else {
            x[k] = (float)(s->start[k] + d * dt + (anc ? s->noise[k] * s->sigmas_up[j] : 0.0));
        }
    }
    return !first || j == s->steps - 1;
}

int sampler_step(sampler *s, int call, const float *model_out, float *x)
{
    switch (s->kind) {
    case SAMPLER_DDIM: ddim_step(s, call, model_out, x); return 1;
    case SAMPLER_PNDM: return pndm_step(s, call, model_out, x);
    case SAMPLER_EULER:
    case SAMPLER_EULER_A: euler_step(s, call, model_out, x); return 1;
    case SAMPLER_LMS: lms_step(s, call, model_out, x); return 1;
    case SAMPLER_HEUN: return heun_step(s, call, model_out, x);
    case SAMPLER_DPM2:
    case SAMPLER_DPM2_A: return dpm2_step(s, call, model_out, x);
    case SAMPLER_DPMSOLVER_PP:
    case SAMPLER_DPMSOLVER:
    case SAMPLER_DPMSINGLE: return sampler_dpm_step(s, call, model_out, x);
    }
    return 1;
}
