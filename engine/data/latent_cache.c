/* latent_cache.c — VAE latents of training images, in memory and beside the images; see
 * latent_cache.h. */
#include "engine/data/latent_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/data/loss_mask.h"
#include "engine/safetensors.h"

int latent_vae_identity(const char *vae_path, char *out, size_t n, error_info *err)
{
    struct stat st;
    if (stat(vae_path, &st) != 0)
        return error_set(err, vae_path, 0, 0, NULL, "cannot read the VAE file");
    snprintf(out, n, "%s|%lld|%lld.%09ld", vae_path, (long long)st.st_size,
             (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    return 0;
}

int latent_cache_path(const char *image_path, bucket_reso bucket, char *out, size_t n)
{
    const char *slash = strrchr(image_path, '/');
    const char *name = slash ? slash + 1 : image_path;
    while (*name == '.')
        name++;
    const char *dot = strrchr(name, '.');
    int stem = (int)(dot ? (size_t)(dot - image_path) : strlen(image_path));
    int len = snprintf(out, n, "%.*s_%dx%d.loratty-latents", stem, image_path, bucket.width,
                       bucket.height);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

#define META_KEYS 7

/* The metadata a cache file must carry to be used for this placement. */
static void describe(const latent_encoder *enc, const image_placement *p, resize_interp interp,
                     bool flip_aug, bool alpha_mask, char meta[META_KEYS][300])
{
    snprintf(meta[0], 300, "%s", enc->identity);
    snprintf(meta[1], 300, "%dx%d", p->bucket.width, p->bucket.height);
    snprintf(meta[2], 300, "%dx%d", p->resized.width, p->resized.height);
    snprintf(meta[3], 300, "%d,%d", p->crop_x, p->crop_y);
    snprintf(meta[4], 300, "%d", flip_aug);
    snprintf(meta[5], 300, "%d", (int)interp);
    snprintf(meta[6], 300, "%d", alpha_mask);
}

static const char *const meta_keys[META_KEYS] = {"vae", "bucket", "resized", "crop", "flip_aug",
                                                 "interpolation", "alpha_mask"};

static int read_cached(const char *path, const char meta[META_KEYS][300], bool flip_aug,
                       bool alpha_mask, latent_entry *e)
{
    safetensors_file *f;
    error_info ignored;
    if (safetensors_open(path, &f, &ignored) != 0)
        return -1;
    int ok = 1;
    for (int i = 0; i < META_KEYS && ok; i++) {
        const char *v = safetensors_metadata_get(f, meta_keys[i]);
        if (!v && i == 6)
            v = "0";   /* written before alpha_mask was cached */
        ok = v && strcmp(v, meta[i]) == 0;
    }
    const safetensors_tensor *t = ok ? safetensors_find(f, "latents") : NULL;
    const safetensors_tensor *tf = ok && flip_aug ? safetensors_find(f, "latents_flipped") : NULL;
    const safetensors_tensor *tm = ok && alpha_mask ? safetensors_find(f, "alpha_mask") : NULL;
    size_t n = (size_t)e->channels * e->h * e->w;
    ok = t && t->ndim == 3 && t->shape[0] == e->channels && t->shape[1] == e->h
         && t->shape[2] == e->w && (!flip_aug || (tf && tf->nelements == n))
         && (!alpha_mask || (tm && tm->ndim == 2 && tm->shape[0] == e->h && tm->shape[1] == e->w));
    if (ok)
        ok = safetensors_read_f32(t, e->latents, &ignored) == 0
             && (!flip_aug || safetensors_read_f32(tf, e->flipped, &ignored) == 0)
             && (!alpha_mask || safetensors_read_f32(tm, e->mask, &ignored) == 0);
    safetensors_close(f);
    return ok ? 0 : -1;
}

static int write_cached(const char *path, const char meta[META_KEYS][300], bool flip_aug,
                        const latent_entry *e, error_info *err)
{
    safetensors_writer *w = safetensors_writer_new();
    if (!w)
        return error_set(err, path, 0, 0, NULL, "out of memory");
    int64_t shape[3] = {e->channels, e->h, e->w};
    int rc = safetensors_writer_add(w, "latents", DTYPE_F32, 3, shape, e->latents, err);
    if (rc == 0 && flip_aug)
        rc = safetensors_writer_add(w, "latents_flipped", DTYPE_F32, 3, shape, e->flipped, err);
    if (rc == 0 && e->mask)
        rc = safetensors_writer_add(w, "alpha_mask", DTYPE_F32, 2, shape + 1, e->mask, err);
    for (int i = 0; i < META_KEYS && rc == 0; i++)
        rc = safetensors_writer_set_metadata(w, meta_keys[i], meta[i], err);
    if (rc == 0)
        rc = safetensors_write(path, w, err);
    safetensors_writer_free(w);
    return rc;
}

int latent_cache_get(const latent_encoder *enc, const char *image_path, const image_placement *place,
                     resize_interp interp, bool flip_aug, bool alpha_mask, bool to_disk,
                     latent_entry *out, error_info *err)
{
    image_placement p = *place;
    p.flip = false;
    int H = p.bucket.height, W = p.bucket.width, f = enc->downscale;
    if (f <= 0 || H % f || W % f)
        return error_set(err, image_path, 0, 0, NULL,
                         "bucket %dx%d is not a multiple of the VAE's %d pixels per latent", W, H, f);
    *out = (latent_entry){.channels = enc->channels, .h = H / f, .w = W / f, .place = p};
    size_t n = (size_t)enc->channels * out->h * out->w;
    out->latents = malloc(n * sizeof *out->latents);
    out->flipped = flip_aug ? malloc(n * sizeof *out->flipped) : NULL;
    out->mask = alpha_mask ? malloc((size_t)out->h * out->w * sizeof *out->mask) : NULL;
    if (!out->latents || (flip_aug && !out->flipped) || (alpha_mask && !out->mask)) {
        latent_entry_free(out);
        return error_set(err, image_path, 0, 0, NULL, "out of memory");
    }
    char meta[META_KEYS][300], path[4200];
    describe(enc, &p, interp, flip_aug, alpha_mask, meta);
    if (latent_cache_path(image_path, p.bucket, path, sizeof path) != 0) {
        latent_entry_free(out);
        return error_set(err, image_path, 0, 0, NULL, "path too long");
    }
    if (to_disk && read_cached(path, meta, flip_aug, alpha_mask, out) == 0) {
        out->from_disk = true;
        return 0;
    }
    image_rgb8 img;
    image_load_options lo = {.keep_alpha = alpha_mask};
    float *chw = malloc(sizeof *chw * 3 * (size_t)W * H);
    float *alpha = alpha_mask ? malloc(sizeof *alpha * (size_t)W * H) : NULL;
    int rc = chw && (!alpha_mask || alpha) ? image_load(image_path, &lo, &img, err)
                                           : error_set(err, image_path, 0, 0, NULL, "out of memory");
    if (rc == 0) {
        rc = image_prepare_alpha(&img, &p, interp, chw, alpha, err);
        if (rc == 0)
            rc = enc->encode(enc->ctx, chw, H, W, out->latents, err);
        if (rc == 0 && alpha_mask)
            loss_mask_area(alpha, H, W, out->mask, out->h, out->w);
        if (rc == 0 && flip_aug) {
            p.flip = true;
            rc = image_prepare(&img, &p, interp, chw, err);
            if (rc == 0)
                rc = enc->encode(enc->ctx, chw, H, W, out->flipped, err);
        }
        image_free(&img);
    }
    free(chw);
    free(alpha);
    if (rc == 0 && to_disk)
        rc = write_cached(path, meta, flip_aug, out, err);
    if (rc != 0)
        latent_entry_free(out);
    return rc;
}

void latent_entry_free(latent_entry *e)
{
    free(e->latents);
    free(e->flipped);
    free(e->mask);
    e->latents = e->flipped = e->mask = NULL;
}
