/* loss_weight.c — sd-scripts' SNR-based loss weightings and Huber c schedule (see
 * loss_weight.h), in f32 like the torch code. */
#include "engine/train/loss_weight.h"

#include <math.h>
#include <string.h>

static float snr_clipped(const noise_schedule *ns, int t)
{
    return fminf(ns->all_snr[t], 1000.0f); /* t = 0 would be huge; sd-scripts caps at 1000 */
}

void loss_weight_min_snr(float *loss, const int *t, int B, const noise_schedule *ns, double gamma,
                         int v_prediction)
{
    for (int b = 0; b < B; b++) {
        const float snr = ns->all_snr[t[b]], m = fminf(snr, (float)gamma);
        loss[b] *= v_prediction ? m / (snr + 1.0f) : m / snr;
    }
}

void loss_weight_scale_v_pred_like_noise(float *loss, const int *t, int B,
                                         const noise_schedule *ns)
{
    for (int b = 0; b < B; b++) {
        const float s = snr_clipped(ns, t[b]);
        loss[b] *= s / (s + 1.0f);
    }
}

void loss_weight_add_v_pred_like(float *loss, const int *t, int B, const noise_schedule *ns,
                                 double k)
{
    for (int b = 0; b < B; b++) {
        const float s = snr_clipped(ns, t[b]);
        loss[b] = loss[b] + loss[b] / (s / (s + 1.0f)) * (float)k;
    }
}

void loss_weight_debiased(float *loss, const int *t, int B, const noise_schedule *ns,
                          int v_prediction)
{
    for (int b = 0; b < B; b++) {
        const float s = snr_clipped(ns, t[b]);
        loss[b] = (v_prediction ? 1.0f / (s + 1.0f) : 1.0f / sqrtf(s)) * loss[b];
    }
}

int huber_schedule_from_name(const char *name)
{
    if (strcmp(name, "snr") == 0)
        return HUBER_SNR;
    if (strcmp(name, "exponential") == 0)
        return HUBER_EXPONENTIAL;
    if (strcmp(name, "constant") == 0)
        return HUBER_CONSTANT;
    return -1;
}

void huber_c_schedule(float *c_out, const int *t, int B, const noise_schedule *ns,
                      huber_schedule kind, double huber_c, double huber_scale)
{
    const double alpha = -log(huber_c) / ns->num_timesteps;
    for (int b = 0; b < B; b++) {
        switch (kind) {
        case HUBER_EXPONENTIAL:
            c_out[b] = expf((float)-alpha * (float)t[b]) * (float)huber_scale;
            break;
        case HUBER_SNR: {
            const float ac = ns->alphas_cumprod[t[b]];
            const float sigma = sqrtf((1.0f - ac) / ac), d = 1.0f + sigma;
            c_out[b] = (float)(1.0 - huber_c) / (d * d) + (float)huber_c;
            break;
        }
        default:
            c_out[b] = (float)(huber_c * huber_scale);
            break;
        }
    }
}
