/* loss_weight.h — sd-scripts' per-sample loss weightings (custom_train_functions.py) and the
 * Huber threshold schedule (train_util.get_huber_threshold_if_needed), over a batch of B
 * per-sample losses with timesteps t and the schedule's all_snr. snr' = min(snr, 1000).
 *   min_snr_gamma γ                 w = min(snr, γ)/snr   (v-pred: min(snr, γ)/(snr + 1))
 *   scale_v_pred_loss_like_noise_pred  w = snr'/(snr' + 1)
 *   v_pred_like_loss k              loss += loss/(snr'/(snr' + 1))·k
 *   debiased_estimation_loss        w = 1/√snr'           (v-pred: 1/(snr' + 1))
 * sd-scripts applies them in this order. */
#ifndef LORATTY_TRAIN_LOSS_WEIGHT_H
#define LORATTY_TRAIN_LOSS_WEIGHT_H

#include "engine/train/noise_schedule.h"

void loss_weight_min_snr(float *loss, const int *t, int B, const noise_schedule *ns, double gamma,
                         int v_prediction);
void loss_weight_scale_v_pred_like_noise(float *loss, const int *t, int B,
                                         const noise_schedule *ns);
void loss_weight_add_v_pred_like(float *loss, const int *t, int B, const noise_schedule *ns,
                                 double k);
void loss_weight_debiased(float *loss, const int *t, int B, const noise_schedule *ns,
                          int v_prediction);

typedef enum { HUBER_SNR, HUBER_EXPONENTIAL, HUBER_CONSTANT } huber_schedule;

/* --huber_schedule: "snr" (default), "exponential" or "constant"; -1 if unknown. */
int huber_schedule_from_name(const char *name);

/* Per-sample c: snr: (1 − c)/(1 + σ)² + c with σ = √((1 − ᾱ)/ᾱ) (huber_scale unused, as in
 * sd-scripts); exponential: exp(ln(c)·t/T)·scale; constant: c·scale. */
void huber_c_schedule(float *c_out, const int *t, int B, const noise_schedule *ns,
                      huber_schedule kind, double huber_c, double huber_scale);

#endif
