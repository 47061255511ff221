/* ops_loss.h — the diffusion training losses with per-sample weights (CPU k_*, CUDA kc_*).
 *
 * As sd-scripts' train_network.py (see shared/reference/sd_scripts_formats.md §5 "Loss"):
 * elementwise in f32 on d = pred − target,
 *     K_LOSS_L2         d²                        (torch mse_loss, reduction none)
 *     K_LOSS_L1         |d|
 *     K_LOSS_HUBER      2c (√(d² + c²) − c)       (pseudo-Huber scaled by c)
 *     K_LOSS_SMOOTH_L1  2 (√(d² + c²) − c)        (sd-scripts' "smooth_l1", not torch's)
 * then mean over the M = C·H·W elements of each sample, × per-sample weight (loss_weights
 * times any min-SNR / debiased weighting, folded into one factor by the caller), then mean
 * over the batch. c [N] is the per-sample Huber c (from the huber_schedule); it may be NULL
 * for L2 and L1. weight [N] may be NULL (all ones).
 * masked_loss (k_loss_*_masked, CPU only for now): each element's term is multiplied by a
 * mask [N, HW] (the same for every channel, M = C·HW) before the mean, as sd-scripts'
 * apply_masked_loss (library/custom_train_functions.py) — the mean still counts every
 * element, so a half mask about halves the loss. A mask of ones gives the unmasked numbers
 * exactly.
 * The CPU version lives in kernels/cpu/loss.c. Sums run in double in a fixed order.
 */
#ifndef LORATTY_KERNELS_OPS_LOSS_H
#define LORATTY_KERNELS_OPS_LOSS_H

#include <stddef.h>

typedef enum k_loss_type {
    K_LOSS_L2 = 0,
    K_LOSS_L1,
    K_LOSS_HUBER,
    K_LOSS_SMOOTH_L1,
} k_loss_type;

/* "l2", "l1", "huber", "smooth_l1" (sd-scripts' --loss_type names) -> type; -1 if unknown. */
int k_loss_type_from_name(const char *name);
const char *k_loss_type_name(k_loss_type t);

/* pred, target [N, M]. loss[0] = the batch loss; per_sample [N] (may be NULL) = each sample's
 * weighted loss, so that loss[0] = mean(per_sample). Scalars are one-float buffers so they
 * can live on a device. */
void k_loss_forward(float *loss, float *per_sample, const float *pred, const float *target,
                    const float *weight, const float *c, k_loss_type type, int N, size_t M);
/* dpred [N, M] += dloss[0] · ∂loss/∂pred (dtarget = −dpred; not computed: targets are data).
 * The L1 derivative at d = 0 is 0, as torch's sign. */
void k_loss_backward(float *dpred, const float *dloss, const float *pred, const float *target,
                     const float *weight, const float *c, k_loss_type type, int N, size_t M);

/* The same with mask [N, HW] (HW divides M; NULL: unmasked). */
void k_loss_forward_masked(float *loss, float *per_sample, const float *pred, const float *target,
                           const float *weight, const float *c, const float *mask, size_t HW,
                           k_loss_type type, int N, size_t M);
void k_loss_backward_masked(float *dpred, const float *dloss, const float *pred,
                            const float *target, const float *weight, const float *c,
                            const float *mask, size_t HW, k_loss_type type, int N, size_t M);

#endif
