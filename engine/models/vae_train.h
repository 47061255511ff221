/* vae_train.h — training the VAE's own weights (loratty trains a tiny VAE from scratch for its
 * demo base model): parameter gradients for every tensor of the manifest, and one loss step,
 * encode → sample → decode → reconstruction + KL → backward into the gradients.
 *
 * The loss, per step over a batch of N images [N, C, H, W]:
 *     recon = mean over the N·C·H·W pixels of (x̂ − x)²   (VAE_LOSS_L2, torch mse_loss)
 *           or of |x̂ − x|                                 (VAE_LOSS_L1, torch l1_loss)
 *     kl    = (1/N) Σ_n 0.5 Σ_{c,h,w} (mean² + exp(logvar) − 1 − logvar)
 *             (diffusers' DiagonalGaussianDistribution.kl() per sample, averaged over the
 *             batch as LDM's autoencoder loss does; logvar clamped to [-30, 20] first)
 *     total = recon + kl_weight · kl
 * where x̂ = decode(mean + exp(0.5 · logvar) · noise). The reconstruction is a per-pixel mean
 * (LDM sums it per sample): kl_weight is relative to that. The L1 gradient at x̂ = x is 0. */
#ifndef LORATTY_VAE_TRAIN_H
#define LORATTY_VAE_TRAIN_H

#include "engine/models/vae.h"

typedef enum { VAE_LOSS_L2 = 0, VAE_LOSS_L1 } vae_loss_kind;

typedef struct vae_loss_parts {
    double total, recon, kl;
} vae_loss_parts;

/* vae_set_param_grads (vae.h, defined in vae_train.c) turns the parameter gradients on. */

/* Plans everything vae_train_loss needs for batches up to N × H × W (H, W multiples of the
 * downscale; in_channels must equal out_channels): the encoder and the decoder for backward,
 * and the step's workspace. Replaces the encoder and decoder plans. */
int vae_plan_train(vae_model *m, int N, int H, int W, error_info *err);

/* One step on images [N, C, H, W] in [-1, 1] with noise [N, latent, H/f, W/f] (NULL: sample =
 * mean). Fills *out (may be NULL); when parameter gradients are set, runs the backward and adds
 * dL/dparam (total loss) into them, otherwise only the forward runs (evaluation). Allocates
 * nothing; fails if the encoder or decoder was re-planned since vae_plan_train. After it,
 * m->mean, m->logvar, m->sample are this batch's latents and vae_train_reconstruction() x̂. */
int vae_train_loss(vae_model *m, const float *images, const float *noise, int N, int H, int W,
                   float kl_weight, vae_loss_kind kind, vae_loss_parts *out, error_info *err);
/* x̂ [N, C, H, W] of the last vae_train_loss (NULL before the plan). */
const float *vae_train_reconstruction(const vae_model *m);

#endif
