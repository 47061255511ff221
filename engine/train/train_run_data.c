/* train_run_data.c — what a micro-batch feeds the U-Net: latents (image → resize/crop/flip →
 * VAE encoder → latent_dist.sample() × scaling_factor, NaN → 0 as sd-scripts does) and the
 * text conditioning of each caption (with SDXL's pooled embedding).
 *
 * The latent of an (image, flip) pair is sampled with noise drawn at a counter derived from
 * the image id, so it is the same whether it comes from the cache or is encoded again; with
 * cache_latents each pair is encoded once, on first use, and kept in memory. Text
 * conditioning is computed once per distinct caption while the text encoder is frozen
 * (sd-scripts' cache_text_encoder_outputs gives the same numbers), with the captions' attention
 * weights under weighted_captions (sd_encode_prompt_weighted). With cache_latents_to_disk
 * the pairs go through engine/data's latent cache (a file beside each image, both flips when
 * flip_aug), encoded by the same sampler, so memory and disk caching give the same latents.
 * masked_loss: each sample's loss mask at the latent size comes along (engine/data/loss_mask.h),
 * cached beside the latents: the alpha mask from the same image load (and the disk cache),
 * a conditioning image's mask read once. */
#include "engine/train/train_run_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data/image_load.h"
#include "engine/data/latent_cache.h"
#include "engine/data/loss_mask.h"
#include "kernels/ops_attention.h"

#define LATENT_NOISE_SALT 0x6c6174656e747321ull   /* a stream apart from the training noise */

int trun_data_init(trun_data *d, sd_model *m, const batches *b, int cache_latents,
                   resize_interp interp, uint64_t seed, int clip_skip, int max_token_length,
                   error_info *err)
{
    memset(d, 0, sizeof *d);
    d->m = m;
    d->interp = interp;
    d->seed = seed;
    d->cache = cache_latents;
    d->clip_skip = clip_skip;
    d->max_token_length = max_token_length;
    d->f = sd_model_vae_downscale(m);
    d->lc = m->vae.cfg.latent_channels;
    int maxw = 0, maxh = 0;
    size_t maxpix = 0;
    for (size_t i = 0; i < b->bucket_count; i++) {
        bucket_reso r = b->buckets[i].reso;
        if ((size_t)r.width * r.height > maxpix) {
            maxpix = (size_t)r.width * r.height;
        }
        maxw = r.width > maxw ? r.width : maxw;
        maxh = r.height > maxh ? r.height : maxh;
    }
    int mult = sd_model_size_multiple(m);
    for (size_t i = 0; i < b->bucket_count; i++) {
        bucket_reso r = b->buckets[i].reso;
        if (r.width <= 0 || r.height <= 0)
            return error_set(err, NULL, 0, 0, "min_bucket_reso", "an image fits no bucket (%dx%d): "
                             "check resolution against min_bucket_reso / max_bucket_reso",
                             r.width, r.height);
        if (r.width % mult || r.height % mult)
            return error_set(err, NULL, 0, 0, "resolution", "bucket %dx%d: image sides must be "
                             "multiples of %d for this model", r.width, r.height, mult);
    }
    d->n_images = b->image_count;
    int alpha = 0;
    for (size_t i = 0; i < b->image_count; i++) {
        alpha |= b->images[i].opt->alpha_mask;
        d->masked |= b->images[i].opt->alpha_mask || b->images[i].image->cond_path;
    }
    if ((alpha && !(d->alpha_px = malloc((size_t)maxw * maxh * sizeof(float)))) ||
        (d->masked && cache_latents && !(d->masks = calloc(d->n_images * 2, sizeof *d->masks))))
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the loss masks");
    d->chw = malloc((size_t)3 * maxw * maxh * sizeof(float));
    d->noise = malloc((size_t)d->lc * (maxw / d->f) * (maxh / d->f) * sizeof(float));
    d->latents = calloc(d->n_images * 2, sizeof *d->latents);
    d->T = sd_model_context_rows(max_token_length);
    d->D = sd_model_context_dim(m);
    d->P = sd_model_pooled_dim(m);
    d->tcap = 256;
    d->texts = calloc(d->tcap, sizeof *d->texts);
    d->ctx = calloc(d->tcap, sizeof *d->ctx);
    if (!d->chw || !d->noise || !d->latents || !d->texts || !d->ctx)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the data buffers");
    if (vae_plan_encoder(&m->vae, 1, maxh, maxw, err) != 0)
        return -1;
    return 0;
}

void trun_data_free(trun_data *d)
{
    if (d->latents)
        for (size_t i = 0; i < d->n_images * 2; i++)
            free(d->latents[i]);
    if (d->masks)
        for (size_t i = 0; i < d->n_images * 2; i++)
            free(d->masks[i]);
    free(d->masks);
    free(d->alpha_px);
    for (size_t i = 0; i < d->tcap && d->texts; i++) {
        free(d->texts[i]);
        free(d->ctx[i]);
    }
    free(d->texts);
    free(d->ctx);
    free(d->latents);
    free(d->chw);
    free(d->noise);
    memset(d, 0, sizeof *d);
}

/* latent_dist.sample() of chw [3, H, W] for the (image, flip) pair `key`, unscaled. */
static int vae_sample(trun_data *d, const float *chw, int H, int W, uint64_t key, float *out,
                      error_info *err)
{
    size_t n = (size_t)d->lc * (H / d->f) * (W / d->f);
    k_randn(d->noise, n, d->seed ^ LATENT_NOISE_SALT, key << 32);
    if (vae_encode(&d->m->vae, chw, d->noise, 1, H, W, err) != 0)
        return -1;
    memcpy(out, d->m->vae.sample, n * sizeof(float));
    return 0;
}

static void scale(const trun_data *d, float *x, size_t n)
{
    float sf = d->m->scaling_factor;
    for (size_t i = 0; i < n; i++)
        x[i] = isnan(x[i]) ? 0.0f : x[i] * sf;
}

int trun_data_pixels(trun_data *d, const batch_sample *s, float *out, error_info *err)
{
    (void)d;   /* the resize filter is the sample's subset's (resize_interpolation) */
    image_rgb8 img = {0};
    if (image_load(s->image_path, NULL, &img, err) != 0)
        return -1;
    int rc = image_prepare(&img, &s->place, s->interp, out, err);
    image_free(&img);
    return rc;
}

/* The latent of a sample (with alpha_mask: from the stored colours) and, when alpha is not
 * NULL, its alpha mask at the latent size. */
static int encode(trun_data *d, const batch_sample *s, float *out, float *alpha, error_info *err)
{
    image_rgb8 img = {0};
    image_load_options lo = {.keep_alpha = s->alpha_mask};
    if (image_load(s->image_path, &lo, &img, err) != 0)
        return -1;
    float *px = alpha && s->alpha_mask ? d->alpha_px : NULL;
    int rc = image_prepare_alpha(&img, &s->place, s->interp, d->chw, px, err);
    image_free(&img);
    if (rc != 0)
        return -1;
    int W = s->place.bucket.width, H = s->place.bucket.height;
    uint64_t key = (uint64_t)s->image_id * 2 + (s->place.flip ? 1 : 0);
    if (vae_sample(d, d->chw, H, W, key, out, err) != 0)
        return -1;
    scale(d, out, (size_t)d->lc * (H / d->f) * (W / d->f));
    if (px)
        loss_mask_area(px, H, W, alpha, H / d->f, W / d->f);
    return 0;
}

/* latent_cache's encoder: the first call of an image is its unflipped crop, the second the
 * flipped one */
static int cache_encode(void *ctx, const float *chw, int H, int W, float *latents, error_info *err)
{
    trun_data *d = ctx;
    return vae_sample(d, chw, H, W, d->cache_key++, latents, err);
}

static int from_disk_cache(trun_data *d, const batch_sample *s, error_info *err)
{
    latent_encoder enc = {cache_encode, d, d->lc, d->f, ""};
    snprintf(enc.identity, sizeof enc.identity, "%s", d->vae_identity);
    image_placement place = s->place;
    place.flip = false;
    latent_entry e = {0};
    d->cache_key = (uint64_t)s->image_id * 2;
    if (latent_cache_get(&enc, s->image_path, &place, s->interp, s->flip_aug, s->alpha_mask, true,
                         &e, err) != 0)
        return -1;
    size_t n = (size_t)e.channels * e.h * e.w;
    float *pair[2] = {e.latents, e.flipped};
    for (int k = 0; k < 2; k++)
        if (pair[k]) {
            scale(d, pair[k], n);
            d->latents[s->image_id * 2 + k] = pair[k];
        }
    if (e.mask && d->masks) {   /* the flipped mask is the mirror (exact, loss_mask.h) */
        float *flipped = s->flip_aug ? malloc((size_t)e.h * e.w * sizeof(float)) : NULL;
        if (s->flip_aug && !flipped) {
            latent_entry_free(&e);
            return error_set(err, s->image_path, 0, 0, NULL, "out of memory for the loss masks");
        }
        if (flipped) {
            memcpy(flipped, e.mask, (size_t)e.h * e.w * sizeof(float));
            loss_mask_flip(flipped, e.h, e.w);
        }
        d->masks[s->image_id * 2] = e.mask;
        d->masks[s->image_id * 2 + 1] = flipped;
        e.mask = NULL;
    }
    e.latents = e.flipped = NULL;
    latent_entry_free(&e);
    return 0;
}

/* The mask of a sample that is not an alpha mask: its conditioning image's, or ones. */
static int other_mask(trun_data *d, const batch_sample *s, float *mask, error_info *err)
{
    int h = s->place.bucket.height / d->f, w = s->place.bucket.width / d->f;
    if (s->cond_path)
        return loss_mask_condition(s->cond_path, s->image_w, s->image_h, &s->place, s->interp,
                                   d->f, d->chw, mask, err);
    for (size_t i = 0; i < (size_t)h * w; i++)
        mask[i] = 1.0f;
    return 0;
}

int trun_data_latent(trun_data *d, const batch_sample *s, float *out, float *mask,
                     error_info *err)
{
    int W = s->place.bucket.width, H = s->place.bucket.height;
    size_t n = (size_t)d->lc * (H / d->f) * (W / d->f), hw = (size_t)(H / d->f) * (W / d->f);
    if (!d->cache) {
        if (encode(d, s, out, mask, err) != 0)
            return -1;
        return mask && !s->alpha_mask ? other_mask(d, s, mask, err) : 0;
    }
    size_t key = s->image_id * 2 + (s->place.flip ? 1 : 0);
    if (!d->latents[key] && d->to_disk) {
        if (from_disk_cache(d, s, err) != 0)
            return -1;
        if (!d->latents[key])
            return error_set(err, s->image_path, 0, 0, NULL, "the latent cache has no %s latents",
                             s->place.flip ? "flipped" : "unflipped");
    }
    if (!d->latents[key]) {
        float *l = malloc(n * sizeof(float));
        float *m = s->alpha_mask && d->masks ? malloc(hw * sizeof(float)) : NULL;
        if (!l || (s->alpha_mask && d->masks && !m)) {
            free(l);
            free(m);
            return error_set(err, s->image_path, 0, 0, NULL, "out of memory for the latent cache");
        }
        if (encode(d, s, l, m, err) != 0) {
            free(l);
            free(m);
            return -1;
        }
        d->latents[key] = l;
        if (m)
            d->masks[key] = m;
    }
    memcpy(out, d->latents[key], n * sizeof(float));
    if (!mask)
        return 0;
    if (!d->masks || (!s->alpha_mask && !s->cond_path))   /* no masks at all, or ones */
        return other_mask(d, s, mask, err);
    if (!d->masks[key]) {   /* a conditioning image, read once */
        float *m = malloc(hw * sizeof(float));
        if (!m)
            return error_set(err, s->image_path, 0, 0, NULL, "out of memory for the loss masks");
        if (other_mask(d, s, m, err) != 0) {
            free(m);
            return -1;
        }
        d->masks[key] = m;
    }
    memcpy(mask, d->masks[key], hw * sizeof(float));
    return 0;
}

static uint64_t hash_text(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int grow(trun_data *d)
{
    size_t cap = d->tcap * 2;
    char **texts = calloc(cap, sizeof *texts);
    float **ctx = calloc(cap, sizeof *ctx);
    if (!texts || !ctx) {
        free(texts);
        free(ctx);
        return -1;
    }
    for (size_t i = 0; i < d->tcap; i++) {
        if (!d->texts[i])
            continue;
        size_t j = hash_text(d->texts[i]) & (cap - 1);
        while (texts[j])
            j = (j + 1) & (cap - 1);
        texts[j] = d->texts[i];
        ctx[j] = d->ctx[i];
    }
    free(d->texts);
    free(d->ctx);
    d->texts = texts;
    d->ctx = ctx;
    d->tcap = cap;
    return 0;
}

int trun_data_context(trun_data *d, const char *caption, float *out, float *pooled,
                      error_info *err)
{
    size_t per = (size_t)d->T * d->D;
    if (d->tcount * 2 >= d->tcap && grow(d) != 0)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the text conditioning cache");
    size_t j = hash_text(caption) & (d->tcap - 1);
    while (d->texts[j] && strcmp(d->texts[j], caption) != 0)
        j = (j + 1) & (d->tcap - 1);
    if (!d->texts[j]) {
        char *t = strdup(caption);
        float *c = malloc((per + (size_t)d->P) * sizeof(float));
        int T = 0;
        if (!t || !c) {
            free(t);
            free(c);
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the text conditioning cache");
        }
        int (*encode)(sd_model *, const char *, int, int, float *, int *, float *, error_info *) =
            d->weighted ? sd_encode_prompt_weighted : sd_encode_prompt;
        if (encode(d->m, caption, d->clip_skip, d->max_token_length, c, &T, d->P ? c + per : NULL,
                   err) != 0) {
            free(t);
            free(c);
            return -1;
        }
        d->texts[j] = t;
        d->ctx[j] = c;
        d->tcount++;
    }
    memcpy(out, d->ctx[j], per * sizeof(float));
    if (pooled && d->P)
        memcpy(pooled, d->ctx[j] + per, (size_t)d->P * sizeof(float));
    return 0;
}
