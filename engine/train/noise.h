/* noise.h — sd-scripts' modifications of the training noise ε (train_util
 * get_noise_noisy_latents_and_timesteps, custom_train_functions):
 *   --noise_offset o       ε += o·randn(B, C, 1, 1); o × rand() with
 *                          --noise_offset_random_strength; with --adaptive_noise_scale a the
 *                          offset is per (b, c): max(0, o + a·|mean_hw(x0)|)
 *   --multires_noise_iterations n, --multires_noise_discount d
 *                          ε += Σ bilinear_up(randn(B, C, H/rⁱ, W/rⁱ))·dⁱ with r = 2 + 2·rand()
 *                          per level, stopping after a level of side 1; then ε /= std(ε)
 *   --ip_noise_gamma g     x_t is built from ε + g·randn (× rand() with random strength); the
 *                          target stays ε.
 * Random draws come from the Philox RNG: a caller passes (seed, offset) and each function
 * says how many counters it consumes, so runs are reproducible and resumable. */
#ifndef LORATTY_TRAIN_NOISE_H
#define LORATTY_TRAIN_NOISE_H

#include <stddef.h>
#include <stdint.h>

/* Bilinear resize of [N, inH, inW] planes to [N, outH, outW], as torch's
 * F.interpolate(mode="bilinear", align_corners=False) with an explicit size. */
void noise_bilinear_resize(float *out, const float *inp, int N, int inH, int inW, int outH,
                           int outW);

/* Noise offset on eps [B, C, H, W] (latents x0 of the same shape; only read with an adaptive
 * scale, which is NAN for None). Uses counters [offset, offset + B·C) for the normal draws and
 * offset + B·C for random strength's uniform. */
void noise_apply_offset(float *eps, const float *x0, int B, int C, int H, int W, double offset,
                        int random_strength, double adaptive_scale, uint64_t seed,
                        uint64_t rng_offset);

/* Scratch floats noise_pyramid needs for eps of [B, C, H, W]. */
size_t noise_pyramid_scratch(int B, int C, int H, int W);

/* Multi-resolution (pyramid) noise in place; counters [offset, offset + 2^20·iterations). */
void noise_pyramid(float *eps, float *scratch, int B, int C, int H, int W, int iterations,
                   double discount, uint64_t seed, uint64_t rng_offset);

/* out = eps + s·randn, s = gamma (× rand() with random_strength): the noise x_t is built from
 * under --ip_noise_gamma. Counters [offset, offset + n), and offset + n with random strength. */
void noise_input_perturbation(float *out, const float *eps, size_t n, double gamma,
                              int random_strength, uint64_t seed, uint64_t rng_offset);

#endif
