/* latent_cache.h — cache_latents and cache_latents_to_disk: each training image encoded once
 * by the VAE at its bucket (centred crop; and mirrored when flip_aug, as sd-scripts stores
 * flipped latents), kept in memory and optionally in a file beside the image.
 *
 * sd-scripts writes `<stem>.npz`; ours is `<stem>_<W>x<H>.loratty-latents`, a safetensors file
 * holding `latents` [C, H/f, W/f] (and `latents_flipped`), unscaled (the caller multiplies by
 * the VAE's scaling factor), with metadata: the VAE's identity, bucket, resized size, crop,
 * original size, flip_aug and the interpolation. A file whose metadata differs from what
 * would be computed now (another VAE, size, crop, flip setting) is re-encoded and rewritten.
 * With alpha_mask (masked_loss) the image is encoded from its stored colours (image_load's
 * keep_alpha) and the file also holds `alpha_mask` [H/f, W/f], the alpha channel averaged to
 * the latent size (loss_mask.h), as sd-scripts keeps alpha_mask in its npz; the metadata says
 * alpha_mask 1, so turning the option on or off re-encodes (files without the key were
 * written without it).
 *
 * The encoder is a callback, so the training loop passes the VAE (vae_encode's mean or a
 * sample) and tests pass a stub. random_crop and color_aug forbid caching (sd-scripts: the
 * latents would not match the augmented image); the caller checks that. */
#ifndef LORATTY_DATA_LATENT_CACHE_H
#define LORATTY_DATA_LATENT_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/data/image_resize.h"
#include "error.h"

/* chw [3, H, W] in [-1, 1] → latents [channels, H/downscale, W/downscale] */
typedef int (*latent_encode_fn)(void *ctx, const float *chw, int H, int W, float *latents,
                                error_info *err);

typedef struct latent_encoder {
    latent_encode_fn encode;
    void *ctx;
    int channels, downscale;
    char identity[256];     /* what makes two VAEs the same: see latent_vae_identity */
} latent_encoder;

typedef struct latent_entry {
    float *latents, *flipped;   /* flipped NULL without flip_aug */
    float *mask;                /* alpha_mask: [h, w] unflipped (loss_mask_flip for the other);
                                 * else NULL */
    int channels, h, w;         /* latent size */
    image_placement place;      /* bucket, resized size, centred crop (flip false) */
    bool from_disk;             /* read from the file rather than encoded now */
} latent_entry;

/* "<path>|<size>|<mtime>" of the VAE's file (weights file or folder); -1 when it is missing. */
int latent_vae_identity(const char *vae_path, char *out, size_t n, error_info *err);
/* "<stem>_<W>x<H>.loratty-latents" for an image and its bucket. */
int latent_cache_path(const char *image_path, bucket_reso bucket, char *out, size_t n);

/* The latents of one image placed at `place` (its crop offsets are used, its flip ignored):
 * read from the disk cache when `to_disk` and the file matches, else loaded, resized,
 * encoded (twice with flip_aug) and, when `to_disk`, written. alpha_mask: with its mask. */
int latent_cache_get(const latent_encoder *enc, const char *image_path, const image_placement *place,
                     resize_interp interp, bool flip_aug, bool alpha_mask, bool to_disk,
                     latent_entry *out, error_info *err);
void latent_entry_free(latent_entry *e);

#endif
