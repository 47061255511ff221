/* loss_mask.h — the per-sample loss masks of masked_loss, as sd-scripts builds them
 * (library/train_util.py, library/custom_train_functions.py apply_masked_loss at 48d368f).
 *
 * A mask comes from one of two sources, per subset:
 *  - alpha_mask: the training image's own alpha channel, a / 255 in f32, resized, cropped
 *    and flipped with the image (image_prepare_alpha); an image without alpha masks nothing
 *    (all ones).
 *  - conditioning_data_dir: an image of the same stem in that folder, of the same size as the
 *    training image, loaded as PIL's convert("RGB") (alpha dropped), placed exactly like the
 *    training image (resize, crop, flip; no color_aug) — as sd-scripts does since its PR #2368
 *    (before it, the mask was stretched to the bucket instead of cropped). Its R channel goes
 *    through the image transform to [-1, 1] and back: (r / 255 − 0.5) / 0.5 / 2 + 0.5.
 * The pixel mask is then averaged down to the latent size with F.interpolate(mode="area"),
 * which multiplies the per-element loss (every channel) before the mean. Samples of subsets
 * without a source get ones (sd-scripts' torch.ones for a batch that mixes them).
 *
 * Sums of the area average run in double: every mask value is a float in [0, 1] with at most
 * 24 significant bits, so the sums are exact and the result does not depend on the order —
 * flipping before or after the average gives the same floats (the latent cache relies on
 * it). torch sums in f32; the difference is within an ulp. */
#ifndef LORATTY_DATA_LOSS_MASK_H
#define LORATTY_DATA_LOSS_MASK_H

#include <stdint.h>

#include "engine/data/image_resize.h"
#include "error.h"

/* F.interpolate(mode="area") = adaptive_avg_pool2d of src [H, W] to dst [h, w]: output
 * (i, j) averages source rows floor(i·H/h) .. ceil((i+1)·H/h) − 1 and the columns alike. */
void loss_mask_area(const float *src, int H, int W, float *dst, int h, int w);

/* The weight of a conditioning image's R value: sd-scripts' IMAGE_TRANSFORMS to [-1, 1],
 * then apply_masked_loss's / 2 + 0.5, in f32. */
float loss_mask_from_r(uint8_t r);

/* The mask [bucket.h / f, bucket.w / f] of a conditioning image at `place` (its color
 * draw ignored). The image must be want_w × want_h (the training image's size); work holds
 * 3 · bucket.w · bucket.h floats. */
int loss_mask_condition(const char *path, int want_w, int want_h, const image_placement *place,
                        resize_interp interp, int f, float *work, float *mask, error_info *err);

/* Mirrors the columns of m [h, w] in place. */
void loss_mask_flip(float *m, int h, int w);

#endif
