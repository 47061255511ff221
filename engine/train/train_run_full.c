/* train_run_full.c — the whole-weight modes of a run (training_mode finetune and vae): which
 * tensors train, their gradient buffers (laid out like the models' own flat parameter
 * buffers, so the models accumulate into them), the optimizer groups, gradient clipping over
 * all of them, the text encoder's freeze at stop_text_encoder_training, and the checkpoint
 * saves (single-file LDM layout, as sd-scripts' fine_tune.py / train_db.py save them).
 *
 * Groups, as sd-scripts' fine_tune.py / train_db.py build them: the U-Net (or the VAE) at
 * learning_rate, the text encoder at text_encoder_lr (their learning_rate_te), else
 * learning_rate. Each manifest tensor is its own optimizer parameter, so factored optimizers
 * (Adafactor) see the real matrix shapes. */
#include "engine/train/train_run_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/vae_train.h"
#include "kernels/kernels.h"
#include "kernels/ops_attention.h"

static int add_param(trun_full *f, float *data, const float *grad, int ndim, const int64_t *shape)
{
    if (f->n_ps == f->cap_ps) {
        int cap = f->cap_ps ? f->cap_ps * 2 : 256;
        optim_param *p = realloc(f->ps, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        f->ps = p;
        f->cap_ps = cap;
    }
    optim_param *q = &f->ps[f->n_ps++];
    memset(q, 0, sizeof *q);
    q->data = data;
    q->grad = grad;
    q->ndim = ndim < 1 ? 1 : ndim;
    if (ndim < 1)
        q->shape[0] = 1;
    for (int i = 0; i < ndim && i < OPTIM_MAX_DIMS; i++)
        q->shape[i] = shape[i];
    return 0;
}

static int add_buffer(trun_full *f, float *grads, size_t n)
{
    if (f->n_bufs >= (int)(sizeof f->bufs / sizeof f->bufs[0]))
        return -1;
    f->bufs[f->n_bufs] = grads;
    f->buf_len[f->n_bufs++] = n;
    return 0;
}

static int setup_unet(trun_full *f, error_info *err)
{
    unet_model *u = &f->m->unet;
    f->unet_grads = calloc(u->n_params ? u->n_params : 1, sizeof(float));
    if (!f->unet_grads || add_buffer(f, f->unet_grads, u->n_params) != 0)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the U-Net's gradients "
                         "(%zu parameters)", u->n_params);
    if (unet_set_param_grads(u, f->unet_grads) != 0)
        return error_set(err, NULL, 0, 0, NULL, "the U-Net cannot train its weights");
    for (size_t i = 0; i < u->n_manifest; i++) {
        const unet_param_info *pi = &u->manifest[i];
        if (add_param(f, u->params + pi->offset, f->unet_grads + pi->offset, pi->ndim, pi->shape) != 0)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    f->trainable += u->n_params;
    return 0;
}

static int setup_te(trun_full *f, int e, error_info *err)
{
    clip_model *te = &f->m->te[e];
    size_t n = clip_param_floats(&te->cfg);
    f->te_grads[e] = calloc(n ? n : 1, sizeof(float));
    if (!f->te_grads[e] || add_buffer(f, f->te_grads[e], n) != 0)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the text encoder's gradients");
    if (clip_set_param_grads(te, f->te_grads[e]) != 0)
        return error_set(err, NULL, 0, 0, NULL, "the text encoder cannot train its weights");
    f->te_first[e] = f->n_ps;
    int count = clip_param_count(&te->cfg);
    for (int i = 0; i < count; i++) {
        clip_param_info pi;
        clip_param_at(&te->cfg, i, &pi);
        if (add_param(f, te->params + pi.offset, f->te_grads[e] + pi.offset, pi.ndim, pi.shape) != 0)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    f->te_params[e] = n;
    f->trainable += n;
    return 0;
}

static int setup_vae(trun_full *f, error_info *err)
{
    vae_model *v = &f->m->vae;
    f->vae_grads = calloc(v->n_params ? v->n_params : 1, sizeof(float));
    if (!f->vae_grads || add_buffer(f, f->vae_grads, v->n_params) != 0)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the VAE's gradients");
    if (vae_set_param_grads(v, f->vae_grads) != 0)
        return error_set(err, NULL, 0, 0, NULL, "the VAE cannot train its weights");
    vae_param_info *man = NULL;
    int count = 0;
    if (vae_manifest(&v->cfg, &man, &count, err) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++)
        if (add_param(f, v->params + man[i].offset, f->vae_grads + man[i].offset, man[i].ndim,
                      man[i].shape) != 0)
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
    free(man);
    f->trainable += v->n_params;
    return rc;
}

int trun_full_init(trun_full *f, sd_model *m, train_mode mode, int train_te, error_info *err)
{
    memset(f, 0, sizeof *f);
    f->m = m;
    f->mode = mode;
    f->te_first[0] = f->te_first[1] = -1;
    if (mode == TRAIN_MODE_VAE)
        return setup_vae(f, err);
    if (setup_unet(f, err) != 0)
        return -1;
    f->train_te = train_te;
    /* sdxl_train.py --train_text_encoder trains both encoders */
    for (int e = 0; train_te && e < m->n_te && e < 2; e++)
        if (setup_te(f, e, err) != 0)
            return -1;
    return 0;
}

void trun_full_free(trun_full *f)
{
    if (!f->m)
        return;
    if (f->unet_grads)
        unet_set_param_grads(&f->m->unet, NULL);
    for (int e = 0; e < 2; e++)
        if (f->te_grads[e])
            clip_set_param_grads(&f->m->te[e], NULL);
    if (f->vae_grads)
        vae_set_param_grads(&f->m->vae, NULL);
    free(f->unet_grads);
    free(f->vae_grads);
    free(f->ps);
    for (int e = 0; e < 2; e++) {
        free(f->te_grads[e]);
        free(f->frozen_te[e]);
    }
    memset(f, 0, sizeof *f);
}

int trun_full_optimizer(trun_full *f, const train_run_settings *s, optim **opt, opt_groups *og,
                        error_info *err)
{
    og->base_lr = calloc(3, sizeof *og->base_lr);
    og->desc = calloc(3, sizeof *og->desc);
    if (!og->base_lr || !og->desc)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    optim_group g[3];
    int first_te = f->te_first[0] >= 0 ? f->te_first[0] : f->n_ps;
    og->n = 0;
    if (first_te > 0) {
        double lr = s->learning_rate;   /* fine_tune.py / train_db.py: learning_rate */
        g[og->n] = (optim_group){f->ps, first_te, lr, -1.0};
        og->base_lr[og->n] = lr;
        snprintf(og->desc[og->n], sizeof og->desc[0], "%s", f->mode == TRAIN_MODE_VAE ? "vae" : "unet");
        og->n++;
    }
    /* each encoder its own group at text_encoder_lr (train_db.py's learning_rate_te,
     * sdxl_train.py's learning_rate_te1 and _te2), else learning_rate */
    int n_te = f->te_first[1] >= 0 ? 2 : f->te_first[0] >= 0 ? 1 : 0;
    for (int e = 0; e < n_te; e++) {
        int end = e + 1 < n_te ? f->te_first[e + 1] : f->n_ps;
        double lr = s->text_encoder_lr > 0 ? s->text_encoder_lr : s->learning_rate;
        g[og->n] = (optim_group){f->ps + f->te_first[e], end - f->te_first[e], lr, -1.0};
        og->base_lr[og->n] = lr;
        snprintf(og->desc[og->n], sizeof og->desc[0], "%s", n_te == 1 ? "textencoder"
                 : e == 0 ? "textencoder1" : "textencoder2");
        og->n++;
    }
    if (!og->n)
        return error_set(err, NULL, 0, 0, "training_mode", "nothing to train");
    optim_config oc = s->optim;
    oc.lr = s->learning_rate;
    return optim_create(&oc, g, og->n, opt, err);
}

void trun_full_zero_grad(trun_full *f)
{
    for (int i = 0; i < f->n_bufs; i++)
        memset(f->bufs[i], 0, f->buf_len[i] * sizeof(float));
}

void trun_full_scale_grads(trun_full *f, float factor)
{
    for (int i = 0; i < f->n_bufs; i++)
        for (size_t k = 0; k < f->buf_len[i]; k++)
            f->bufs[i][k] *= factor;
}

double trun_full_clip_grad_norm(trun_full *f, float max_norm)
{
    double ss = 0.0;
    for (int i = 0; i < f->n_bufs; i++)
        for (size_t k = 0; k < f->buf_len[i]; k++)
            ss += (double)f->bufs[i][k] * f->bufs[i][k];
    double norm = sqrt(ss);
    if (max_norm > 0.0f && max_norm / (norm + 1e-6) < 1.0)
        trun_full_scale_grads(f, (float)(max_norm / (norm + 1e-6)));
    return norm;
}

int trun_full_freeze_te(trun_full *f, error_info *err)
{
    if (!f->train_te || f->te_frozen)
        return 0;
    for (int e = 0; e < 2; e++) {
        if (!f->te_params[e])
            continue;
        f->frozen_te[e] = malloc(f->te_params[e] * sizeof(float));
        if (!f->frozen_te[e])
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
        memcpy(f->frozen_te[e], f->m->te[e].params, f->te_params[e] * sizeof(float));
    }
    f->te_frozen = 1;
    return 0;
}

void trun_full_restore_te(trun_full *f)
{
    for (int e = 0; e < 2; e++)
        if (f->frozen_te[e])
            memcpy(f->m->te[e].params, f->frozen_te[e], f->te_params[e] * sizeof(float));
}

int trun_full_save(const trun_full *f, const char *path, dtype_t dt, const lora_metadata *md,
                   error_info *err)
{
    sd_save_options o = {dt, NULL, NULL, 0, f->source};
    if (md) {
        o.keys = (const char *const *)md->keys;
        o.values = (const char *const *)md->values;
        o.n_metadata = md->count;
    }
    return sd_model_save_ldm(f->m, path, &o, err);
}

int trun_vae_plan(sd_model *m, int max_B, const batches *b, error_info *err)
{
    int maxw = 0, maxh = 0;
    for (size_t i = 0; i < b->bucket_count; i++) {
        maxw = b->buckets[i].reso.width > maxw ? b->buckets[i].reso.width : maxw;
        maxh = b->buckets[i].reso.height > maxh ? b->buckets[i].reso.height : maxh;
    }
    return vae_plan_train(&m->vae, max_B, maxh, maxw, err);
}

int trun_vae_micro_step(trun_data *d, const batch *bt, float *pixels,
                        const train_run_settings *s, uint64_t *rng_offset, double *loss,
                        error_info *err)
{
    int W = bt->bucket.width, H = bt->bucket.height, N = bt->count;
    size_t per = (size_t)3 * W * H;
    for (int i = 0; i < N; i++)
        if (trun_data_pixels(d, &bt->samples[i], pixels + i * per, err) != 0)
            return -1;
    /* the posterior sample's noise comes after the images in the same buffer */
    size_t nz = (size_t)N * d->lc * (H / d->f) * (W / d->f);
    float *noise = pixels + (size_t)N * per;
    k_randn(noise, nz, s->seed, *rng_offset);
    *rng_offset += nz;
    vae_loss_kind kind = s->step.loss_type == K_LOSS_L1 ? VAE_LOSS_L1 : VAE_LOSS_L2;
    vae_loss_parts parts;
    if (vae_train_loss(&d->m->vae, pixels, noise, N, H, W, s->vae_kl_weight, kind, &parts, err) != 0)
        return -1;
    *loss = parts.total;
    return 0;
}

int trun_vae_latent_std(trun_data *d, batches *b, float *pixels, double *std, error_info *err)
{
    /* the posterior means of every image once (the last epoch's order does not matter) */
    double sum = 0.0, sumsq = 0.0;
    size_t n = 0;
    vae_set_param_grads(&d->m->vae, NULL);   /* forward only */
    batches_epoch(b, 1);
    for (;;) {
        batch bt;
        int r = batches_next(b, &bt, err);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        int W = bt.bucket.width, H = bt.bucket.height;
        size_t per = (size_t)3 * W * H;
        for (int i = 0; i < bt.count; i++)
            if (trun_data_pixels(d, &bt.samples[i], pixels + i * per, err) != 0)
                return -1;
        if (vae_train_loss(&d->m->vae, pixels, NULL, bt.count, H, W, 0.0f, VAE_LOSS_L2, NULL, err) != 0)
            return -1;
        size_t nz = (size_t)bt.count * d->lc * (H / d->f) * (W / d->f);
        for (size_t i = 0; i < nz; i++) {
            sum += d->m->vae.mean[i];
            sumsq += (double)d->m->vae.mean[i] * d->m->vae.mean[i];
        }
        n += nz;
    }
    double mean = n ? sum / (double)n : 0.0;
    *std = n ? sqrt(sumsq / (double)n - mean * mean) : 0.0;
    return 0;
}
