/* train_run_validate.c — the validation loss of sd-scripts' train_network.py: the images
 * validation_split held out, in the validation data loader's order (sd-scripts never moves
 * that dataset past epoch 0, so its order, captions and flips are the same each time), each
 * batch's loss at the 4 timesteps np.linspace(min_timestep, max_timestep, 6)[1:-1] with the
 * network in eval mode (no dropout), no gradient, the schedule-free optimizer's x, and noise
 * from a stream restarted from validation_seed at every validation (sd-scripts reseeds torch
 * and random), so that validations differ only by the weights. The training's own random
 * stream is left where it was. */
#include "engine/train/train_run_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_NOISE_SALT 0x76616c6964617465ull   /* "validate": apart from the training noise */

void trun_val_timesteps(int min_timestep, int max_timestep, int out[TRUN_VAL_TIMESTEPS])
{
    /* numpy: start + i · ((stop − start) / (num − 1)) in float64, then astype(int) */
    double step = (double)(max_timestep - min_timestep) / (double)(TRUN_VAL_TIMESTEPS + 1);
    for (int i = 0; i < TRUN_VAL_TIMESTEPS; i++)
        out[i] = (int)((double)(i + 1) * step + (double)min_timestep);
}

int trun_val_init(trun_val *v, const train_run_settings *s, sd_model *m, const trun_data *train,
                  error_info *err)
{
    memset(v, 0, sizeof *v);
    if (!s->validation || !s->validation->group_count)
        return 0;
    if (batches_init(&v->b, s->validation, &s->batch, s->seed, err) != 0)
        return -1;
    v->active = v->b.image_count > 0;
    if (!v->active)
        return 0;
    if (trun_data_init(&v->d, m, &v->b, train->cache, train->interp, train->seed, train->clip_skip,
                       train->max_token_length, err) != 0)
        return -1;
    v->d.to_disk = train->to_disk;
    v->d.flip_aug = train->flip_aug;
    memcpy(v->d.vae_identity, train->vae_identity, sizeof v->d.vae_identity);
    batches_epoch(&v->b, 0);
    v->n_batches = (long long)batches_per_epoch(&v->b);
    if (s->max_validation_steps > 0 && s->max_validation_steps < v->n_batches)
        v->n_batches = s->max_validation_steps;
    trun_val_timesteps(s->step.min_timestep, s->step.max_timestep, v->timesteps);
    v->seed = s->validation_seed ^ VALIDATION_NOISE_SALT;
    size_t maxpix = 0;
    for (size_t i = 0; i < v->b.bucket_count; i++) {
        size_t px = (size_t)v->b.buckets[i].reso.width * v->b.buckets[i].reso.height;
        maxpix = px > maxpix ? px : maxpix;
    }
    size_t B = (size_t)(v->b.max_batch > 0 ? v->b.max_batch : 1), lat = maxpix / ((size_t)v->d.f * v->d.f);
    v->lat = malloc(B * v->d.lc * lat * sizeof(float));
    v->ctx = malloc(B * v->d.T * v->d.D * sizeof(float));
    v->pooled = malloc((B * v->d.P + 1) * sizeof(float));
    v->time_ids = malloc(B * 6 * sizeof(float));
    v->w = malloc(B * sizeof(float));
    v->t = malloc(B * sizeof(int));
    v->mask = v->d.masked ? malloc(B * lat * sizeof(float)) : NULL;
    if (!v->lat || !v->ctx || !v->pooled || !v->time_ids || !v->w || !v->t || (v->d.masked && !v->mask))
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the validation batches");
    return 0;
}

void trun_val_free(trun_val *v)
{
    free(v->lat);
    free(v->ctx);
    free(v->pooled);
    free(v->time_ids);
    free(v->w);
    free(v->t);
    free(v->mask);
    trun_data_free(&v->d);
    batches_free(&v->b);
    memset(v, 0, sizeof *v);
}

/* one batch at every validation timestep: the sum of the losses */
static int val_batch(trun_val *v, const trun_val_ctx *c, const batch *bt, double *sum, error_info *err)
{
    trun_data *d = &v->d;
    int W = bt->bucket.width, H = bt->bucket.height;
    size_t lp = (size_t)d->lc * (H / d->f) * (W / d->f), ctx_per = (size_t)d->T * d->D;
    for (int i = 0; i < bt->count; i++) {
        const batch_sample *bs = &bt->samples[i];
        float *mask = v->mask ? v->mask + i * (lp / d->lc) : NULL;
        if (trun_data_latent(d, bs, v->lat + i * lp, mask, err) != 0 ||
            (!c->te && trun_data_context(d, bs->caption, v->ctx + i * ctx_per, v->pooled + (size_t)i * d->P,
                                         err) != 0))
            return -1;
        v->w[i] = bs->loss_weight;
        sd_time_ids(v->time_ids + 6 * i, bs->orig_h, bs->orig_w, bs->crop_top, bs->crop_left, H, W);
    }
    /* eval mode: every dropout off, DyLoRA at full rank */
    network_begin_step(c->net, 0, 0, 0, bt->count);
    int T = d->T;
    if (c->te && trun_te_forward(c->te, bt, v->ctx, &T, err) != 0)
        return -1;
    train_step_cond cond = {v->ctx, d->P ? (c->te && c->te->P ? c->te->pooled : v->pooled) : NULL,
                            d->P ? v->time_ids : NULL, NULL, NULL, v->mask};
    for (int k = 0; k < TRUN_VAL_TIMESTEPS; k++) {
        for (int i = 0; i < bt->count; i++)
            v->t[i] = v->timesteps[k];
        double loss;
        if (train_step_eval_cond(c->st, v->lat, &cond, bt->count, H / d->f, W / d->f, T, v->w, NULL,
                                 v->t, &loss, err) != 0)
            return -1;
        *sum += loss;
    }
    return 0;
}

int trun_val_run(trun_val *v, const trun_val_ctx *c, double *loss, error_info *err)
{
    *loss = NAN;
    if (!v->active || v->n_batches <= 0)
        return 0;
    train_step *st = c->st;
    const uint64_t train_seed = st->o.seed, train_offset = st->rng_offset;
    st->o.seed = v->seed;
    st->rng_offset = 0;
    trun_optim_eval(c->opt, c->net);
    batches_epoch(&v->b, 0);
    v->b.step = 0;
    double sum = 0.0;
    long long n = 0;
    int rc = 0;
    for (long long k = 0; k < v->n_batches && rc == 0; k++) {
        batch bt;
        int r = batches_next(&v->b, &bt, err);
        if (r <= 0) {
            rc = r;
            break;
        }
        rc = val_batch(v, c, &bt, &sum, err);
        n += TRUN_VAL_TIMESTEPS;
    }
    trun_optim_train(c->opt, c->net);
    st->o.seed = train_seed;
    st->rng_offset = train_offset;
    if (rc != 0)
        return -1;
    *loss = n ? sum / (double)n : NAN;
    return 0;
}
