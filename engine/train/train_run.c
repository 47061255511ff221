/* train_run.c — the training run: setup (model, network, data, optimizer, schedule, resume)
 * and the loop of train_network.py: epochs of batches in sd-scripts' order, an optimizer step
 * after every gradient_accumulation_steps micro-batches or at the end of an epoch (accelerate
 * syncs at the end of the data loader), saves, and the caller's control between steps. */
#include "engine/train/train_run_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/data/latent_cache.h"
#include "engine/sample/lora_apply.h"
#include "engine/train/tensorboard.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, rss = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

static void run_log(const train_run_hooks *h, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void run_log(const train_run_hooks *h, const char *level, const char *fmt, ...)
{
    if (!h->log)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h->log(h->ctx, level, buf);
}

static int check_family(const train_run_settings *s, sd_model *m, error_info *err)
{
    static const char *const names[] = {[CKPT_SD1] = "an SD 1.x", [CKPT_SD2] = "an SD 2.x",
                                        [CKPT_SDXL] = "an SDXL"};
    const char *fam = m->family == CKPT_SD1 || m->family == CKPT_SD2 || m->family == CKPT_SDXL
                          ? names[m->family] : "an unsupported kind of";
    if (s->want_sdxl && m->family != CKPT_SDXL)
        return error_set(err, s->model_path, 0, 0, "sdxl", "sdxl = true, but the model is %s "
                         "model; set sdxl = false or choose an SDXL checkpoint", fam);
    if (!s->want_sdxl && m->family == CKPT_SDXL)
        return error_set(err, s->model_path, 0, 0, "sdxl", "the model is an SDXL model; set "
                         "sdxl = true (sd-scripts trains it with sdxl_train_network.py)");
    if (s->want_v2 && m->family != CKPT_SD2)
        return error_set(err, s->model_path, 0, 0, "v2", "v2 = true, but the model is %s model; "
                         "set v2 = false or choose an SD 2.x checkpoint", fam);
    if (!s->want_v2 && m->family == CKPT_SD2)
        return error_set(err, s->model_path, 0, 0, "v2", "the model is an SD 2.x model; set "
                         "v2 = true (and v_parameterization = true for a 768-v model)");
    if (s->want_v_param && m->family == CKPT_SD1)
        return error_set(err, s->model_path, 0, 0, "v_parameterization", "v_parameterization is "
                         "set, but the model is an SD 1.x model, which predicts noise");
    return 0;
}

/* DyLoRA: dylora.py's lora_A[i] [1, in] (3x3 conv: [1, in, 3, 3]) and lora_B[i] [out, 1]
 * ([out, 1, 1, 1]), all A then all B; at[] gets the params offset of the slot's range. */
static int dylora_tensors(const lora_network *net, const network_module *mo, optim_param *ps,
                          size_t *at)
{
    int conv3 = mo->conv && mo->kernel != 1;
    for (int r = 0; ps && r < mo->rank; r++) {
        float *dd, *ud;
        const float *dg, *ug;
        network_dylora_slot(net, mo, r, &dd, &dg, &ud, &ug);
        ps[r] = conv3 ? (optim_param){dd, dg, 4, {1, mo->in, mo->kernel, mo->kernel}}
                      : (optim_param){dd, dg, 2, {1, mo->in}};
        ps[mo->rank + r] = conv3 ? (optim_param){ud, ug, 4, {mo->out, 1, 1, 1}}
                                 : (optim_param){ud, ug, 2, {mo->out, 1}};
        at[r] = (size_t)(dd - net->params);
        at[mo->rank + r] = mo->up_off + (size_t)r;
    }
    return 2 * mo->rank;
}

/* The adapter tensors of one module as the optimizer sees them (each its own parameter in the
 * shape sd-scripts / LyCORIS train it, so factored optimizers see the same matrices), with the
 * params offset of each one's range in at[]. Returns how many (≤ 8 with Tucker factors, DoRA's
 * scale and use_scalar, DyLoRA 2 · rank); ps NULL: only counts. */
static int module_tensors(const lora_network *net, const network_module *mo, optim_param *ps,
                          size_t *at)
{
    if (net->dylora_unit && mo->adapter.kind == LORA_KIND_LORA)
        return dylora_tensors(net, mo, ps, at);
    if (!ps) {
        int count = mo->dora + mo->has_scalar;
        for (int i = 0; i < LORA_MAX_FACTORS; i++)
            count += mo->w_size[i] > 0;
        return count;
    }
    int n = 0;
    for (int i = 0; i < LORA_MAX_FACTORS; i++) {
        if (!mo->w_size[i])
            continue;
        at[n] = mo->w_off[i];
        optim_param *q = &ps[n++];
        *q = (optim_param){net->params + mo->w_off[i], net->grads + mo->w_off[i], 0, {0}};
        q->ndim = network_factor_shape(mo, i, q->shape);
    }
    if (mo->dora) {   /* DoRA's dora_scale: [out, 1] or [out, 1, 1, 1] */
        at[n] = mo->dora_off;
        ps[n++] = mo->conv ? (optim_param){net->params + mo->dora_off, net->grads + mo->dora_off, 4,
                                           {mo->out, 1, 1, 1}}
                           : (optim_param){net->params + mo->dora_off, net->grads + mo->dora_off, 2,
                                           {mo->out, 1}};
    }
    if (mo->has_scalar) {   /* use_scalar's scalar (LyCORIS' is 0-d) */
        at[n] = mo->scalar_off;
        ps[n++] = (optim_param){net->params + mo->scalar_off, net->grads + mo->scalar_off, 1, {1}};
    }
    return n;
}

/* sd-scripts' prepare_optimizer_params: parameter groups by side, block lr weight and LoRA+
 * (network_param_ranges), lr = (te ? text_encoder_lr : unet_lr) × lr_mult, unet_lr /
 * text_encoder_lr falling back to learning_rate (kohya_ss passes no 0 value, so 0 means
 * unset); ranges with lr_mult 0 and LoRA-FA's frozen down matrices are left out. U-Net
 * groups come first, each tensor in the group of the range holding its start. desc[g]: the
 * group's TensorBoard name. */
static int same_group(const network_param_range *a, const network_param_range *b)
{
    return (a->te != 0) == (b->te != 0) && a->lr_mult == b->lr_mult && a->plus == b->plus &&
           a->block == b->block;
}

static int build_optimizer(const train_run_settings *s, lora_network *net, optim **opt,
                           opt_groups *og, error_info *err)
{
    size_t nr = network_param_ranges(net, &s->lr_groups, NULL, 0), nt = 0;
    for (size_t i = 0; i < net->n_mods; i++)
        nt += (size_t)module_tensors(net, &net->mods[i], NULL, NULL);
    network_param_range *r = calloc(nr + 1, sizeof *r);
    optim_param *ps = calloc(nt + 1, sizeof *ps);
    size_t *at = calloc(nt + 1, sizeof *at);       /* tensor → params offset of its range */
    int *key = calloc(nt + 1, sizeof *key);        /* tensor → range */
    optim_group *g = calloc(nr + 1, sizeof *g);
    optim_param *sorted = calloc(nt + 1, sizeof *sorted);
    og->base_lr = calloc(nr + 1, sizeof *og->base_lr);
    og->desc = calloc(nr + 1, sizeof *og->desc);
    og->n = 0;
    int rc = -1;
    if (!r || !ps || !at || !key || !g || !sorted || !og->base_lr || !og->desc) {
        error_set(err, NULL, 0, 0, NULL, "out of memory");
        goto out;
    }
    nr = network_param_ranges(net, &s->lr_groups, r, nr);
    if (!s->lr_groups.block_lr)   /* blocks only split groups with block lr weights */
        for (size_t q = 0; q < nr; q++)
            r[q].block = -1;
    int np = 0;
    for (size_t i = 0; i < net->n_mods; i++) {
        int k = module_tensors(net, &net->mods[i], ps + np, at + np);
        for (int j = np; j < np + k; j++) {
            size_t off = at[j], q = 0;
            while (q < nr && !(off >= r[q].offset && off < r[q].offset + r[q].count))
                q++;
            key[j] = q < nr ? (int)q : -1;
        }
        np += k;
    }
    /* one group per distinct (side, lr_mult, plus, block), U-Net first */
    int ns = 0;
    for (int side = 0; side < 2; side++)
        for (size_t q = 0; q < nr; q++) {
            if ((r[q].te != 0) != side || r[q].lr_mult == 0.0f || r[q].frozen)
                continue;
            int same = -1;   /* an earlier range of the same group */
            for (size_t e = 0; e < q && same < 0; e++)
                if (same_group(&r[e], &r[q]))
                    same = (int)e;
            if (same >= 0)
                continue;
            int first = ns;
            for (int j = 0; j < np; j++) {
                int kq = key[j];
                if (kq >= 0 && same_group(&r[kq], &r[q]))
                    sorted[ns++] = ps[j];
            }
            if (ns == first)
                continue;
            double want = side ? s->text_encoder_lr : s->unet_lr;
            double lr = (want > 0 ? want : s->learning_rate) * r[q].lr_mult;
            og->base_lr[og->n] = lr;
            char blk[24] = "";
            if (r[q].block >= 0)
                snprintf(blk, sizeof blk, " block%d", r[q].block);
            snprintf(og->desc[og->n], sizeof og->desc[0], "%s%s%s", side ? "textencoder" : "unet",
                     blk, r[q].plus ? " plus" : "");
            g[og->n] = (optim_group){sorted + first, ns - first, lr, -1.0};
            og->n++;
        }
    optim_config oc = s->optim;
    oc.lr = s->learning_rate;
    rc = og->n ? optim_create(&oc, g, og->n, opt, err)
               : error_set(err, NULL, 0, 0, "network_dim", "the network has no modules to train");
out:
    free(r);
    free(ps);
    free(at);
    free(key);
    free(g);
    free(sorted);
    return rc;
}

/* DyLoRA: a slot not trained this step has no gradient, so the optimizer skips it (as torch
 * skips a parameter whose grad is None: no update, no weight decay, no moment decay). */
static void dylora_point_grads(optim *opt, const lora_network *net)
{
    for (int i = 0; i < optim_param_count(opt); i++)
        optim_set_grad(opt, i, network_dylora_grad(net, optim_param_at(opt, i)->data));
}

typedef struct loop_bufs {
    float *lat, *ctx, *w;
    float *mask;                       /* masked_loss: [B, h, w] loss masks; NULL without */
    float *pooled, *time_ids, *dctx;   /* SDXL's added conditioning; the context gradient */
} loop_bufs;

/* stop_text_encoder_training: the text encoder adapters' values at the stop step, put back
 * after every later optimizer step (so neither the update nor weight decay or momentum moves
 * them), and their backward skipped. */
typedef struct te_freeze {
    network_param_range *r;
    size_t nr;
    float *saved;
    size_t n;
} te_freeze;

static int te_freeze_take(te_freeze *f, const lora_network *net)
{
    network_lr_options lo = {0};
    size_t nr = network_param_ranges(net, &lo, NULL, 0);
    f->r = calloc(nr + 1, sizeof *f->r);
    if (!f->r)
        return -1;
    nr = network_param_ranges(net, &lo, f->r, nr);
    size_t k = 0, n = 0;
    for (size_t i = 0; i < nr; i++)
        if (f->r[i].te) {
            f->r[k++] = f->r[i];
            n += f->r[i].count;
        }
    f->nr = k;
    f->n = n;
    f->saved = malloc((n + 1) * sizeof(float));
    if (!f->saved)
        return -1;
    n = 0;
    for (size_t i = 0; i < f->nr; n += f->r[i].count, i++)
        memcpy(f->saved + n, net->params + f->r[i].offset, f->r[i].count * sizeof(float));
    return 0;
}

static void te_freeze_restore(const te_freeze *f, lora_network *net)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nr; n += f->r[i].count, i++)
        memcpy(net->params + f->r[i].offset, f->saved + n, f->r[i].count * sizeof(float));
}

static void te_freeze_free(te_freeze *f)
{
    free(f->r);
    free(f->saved);
    memset(f, 0, sizeof *f);
}

/* sd-scripts' --base_weights: each file merged into the model, in order, with its multiplier,
 * before the network is built on it. */
static int merge_base_weights(const train_run_settings *s, const train_run_hooks *h, sd_model *m,
                              error_info *err)
{
    if (s->n_base_weights <= 0)
        return 0;
    lora_apply la = {0};
    int rc = 0;
    for (int i = 0; i < s->n_base_weights && rc == 0; i++) {
        int n = lora_apply_add(&la, m, s->base_weights[i], s->base_multipliers[i], err);
        if (n < 0) {
            rc = -1;
            break;
        }
        run_log(h, "info", "merging %s with multiplier %g: %d modules", s->base_weights[i],
                s->base_multipliers[i], n);
    }
    if (rc == 0 && la.unmatched)
        run_log(h, "warning", "base_weights: %zu modules match no layer of this model (%s)", la.unmatched,
                la.unmatched_names);
    if (rc == 0)
        rc = lora_apply_merge(&la, m, err);
    lora_apply_free(&la, m);
    if (rc != 0 && err->key[0] == '\0')
        snprintf(err->key, sizeof err->key, "base_weights");
    return rc;
}

/* The VAE encoder planned for the largest image of the training and the validation images
 * (trun_data_init plans it for its own). */
static int plan_vae_for_both(sd_model *m, const batches *a, const batches *b, error_info *err)
{
    int maxw = 0, maxh = 0;
    const batches *both[2] = {a, b};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < both[k]->bucket_count; i++) {
            bucket_reso r = both[k]->buckets[i].reso;
            maxw = r.width > maxw ? r.width : maxw;
            maxh = r.height > maxh ? r.height : maxh;
        }
    return vae_plan_encoder(&m->vae, 1, maxh, maxw, err);
}

/* One validation, reported to the caller and TensorBoard with sd-scripts' tags: at steps
 * loss/validation/step_average and _divergence (x = step), at epoch ends
 * loss/validation/epoch_* (x = epoch). */
static int validate(trun_val *v, const trun_val_ctx *c, const train_run_hooks *h, tb_writer *tb,
                    long long step, long long epoch, int by_epoch, double train_avg, error_info *err)
{
    double loss;
    if (trun_val_run(v, c, &loss, err) != 0)
        return -1;
    train_run_validation r = {step, epoch, by_epoch, loss, loss - train_avg};
    if (h->validated)
        h->validated(h->ctx, &r);
    if (!tb)
        return 0;
    const char *avg = by_epoch ? "loss/validation/epoch_average" : "loss/validation/step_average";
    const char *div = by_epoch ? "loss/validation/epoch_divergence" : "loss/validation/step_divergence";
    int64_t x = by_epoch ? epoch : step;
    if (tb_scalar(tb, avg, x, loss, 0.0, err) != 0 || tb_scalar(tb, div, x, r.divergence, 0.0, err) != 0)
        return -1;
    return 0;
}

static int nan_hook_step(void)
{
    const char *v = getenv("LORATTY_TEST_NAN_AT_STEP");
    return v && *v ? atoi(v) : -1;
}

int train_run(const train_run_settings *s, const train_run_hooks *h, int *usage_error,
              error_info *err)
{
    *usage_error = 1;
    int rc = -1, st_init = 0;
    sd_model *m = NULL;
    lora_network net;
    memset(&net, 0, sizeof net);
    batches b;
    memset(&b, 0, sizeof b);
    trun_data d;
    memset(&d, 0, sizeof d);
    trun_te te;
    memset(&te, 0, sizeof te);
    train_step st;
    optim *opt = NULL;
    tb_writer *tb = NULL;
    te_freeze frz = {0};
    lora_metadata md = {0};
    loop_bufs buf = {0};
    lr_schedule sched;
    opt_groups og = {0};
    trun_full full = {0};
    trun_val val = {0};
    const int whole = s->mode != TRAIN_MODE_LORA, vae_mode = s->mode == TRAIN_MODE_VAE;
    float *pixels = NULL;

    char cfgbuf[4096];
    const char *config_dir = s->config_dir ? s->config_dir : sd_model_config_dir_beside(s->model_path, cfgbuf, sizeof cfgbuf);
    if (sd_model_load(s->model_path, s->vae_path && s->vae_path[0] ? s->vae_path : NULL, config_dir,
                      &m, err) != 0)
        goto out;
    if (check_family(s, m, err) != 0)
        goto out;
    m->prediction = s->want_v_param ? SD_PRED_V : SD_PRED_EPS;
    if (merge_base_weights(s, h, m, err) != 0)
        goto out;
    clip_model *tes[2] = {&m->te[0], &m->te[1]};
    network_options no = s->net;
    if (whole) {
        if (trun_full_init(&full, m, s->mode, s->train_text_encoder, err) != 0)
            goto out;
        full.source = s->model_path;
        no.train_te = no.train_unet = 0;
    }
    if (!whole && network_create(&net, &no, &m->unet, tes, m->n_te, err) != 0)
        goto out;
    if (s->net.weights_path && s->net.weights_path[0])
        run_log(h, "info", "continuing from the LoRA weights in %s", s->net.weights_path);
    network_attach(&net);
    sd_model_adapters_changed(m);
    if (batches_init(&b, s->data, &s->batch, s->seed, err) != 0)
        goto out;
    if (!b.image_count) {
        error_set(err, NULL, 0, 0, "train_data_dir", "no training images");
        goto out;
    }
    if (trun_data_init(&d, m, &b, s->cache_latents && !vae_mode, s->interp, s->seed, s->clip_skip,
                       s->max_token_length, err) != 0)
        goto out;
    if (s->cache_latents_to_disk && !vae_mode) {
        d.to_disk = 1;
        d.flip_aug = s->batch.flip_aug;
        if (latent_vae_identity(s->vae_path && s->vae_path[0] ? s->vae_path : s->model_path,
                                d.vae_identity, sizeof d.vae_identity, err) != 0)
            goto out;
    }
    if (trun_val_init(&val, s, m, &d, err) != 0 || (val.active && plan_vae_for_both(m, &b, &val.b, err) != 0))
        goto out;
    train_step_options so = s->step;
    so.grad_accum = s->grad_accum;
    so.seed = s->seed;
    so.v_parameterization = s->want_v_param;
    if (train_step_init(&st, &so, &m->unet, &net, s->gradient_checkpointing, err) != 0)
        goto out;
    st_init = 1;
    if ((whole ? trun_full_optimizer(&full, s, &opt, &og, err)
               : build_optimizer(s, &net, &opt, &og, err)) != 0)
        goto out;
    int te_train = whole ? full.train_te : no.train_te;
    if (te_train && trun_te_init(&te, m, b.max_batch > val.b.max_batch ? b.max_batch : val.b.max_batch,
                                 s->clip_skip, s->max_token_length, err) != 0)
        goto out;
    d.weighted = te.weighted = val.d.weighted = s->weighted_captions;
    lr_schedule_options lo = s->lr;
    lo.lr = og.base_lr[0];
    lo.max_train_steps = s->total_steps;
    if (lr_schedule_setup(&sched, &lo, err) != 0)
        goto out;

    train_progress prog = {0, 0, 0, s->seed, 0};
    if (s->resume && s->resume[0]) {
        if (train_state_load(s->resume, &net, opt, &prog, err) != 0)
            goto out;
        if (prog.seed != s->seed) {
            error_set(err, s->resume, 0, 0, "seed", "the state was saved by a run with seed %llu, "
                      "this run has seed %llu", (unsigned long long)prog.seed,
                      (unsigned long long)s->seed);
            goto out;
        }
        st.rng_offset = prog.rng_offset;
        run_log(h, "info", "resumed from %s at step %lld (epoch %lld, batch %lld)", s->resume,
              prog.step, prog.epoch + 1, prog.data_position);
    }

    train_run_info info = {m->family, s->want_v_param, m->name, whole ? full.trainable : net.n_params,
                           net.n_mods, 0, wall_s()};
    info.lora_file_bytes = net.n_params * dtype_size(s->save_dtype) + net.n_mods * 400 + 65536;
    if (whole)   /* the whole checkpoint */
        info.lora_file_bytes = (m->unet.n_params + m->vae.n_params +
                                clip_param_floats(&m->te[0].cfg)) * dtype_size(s->save_dtype) +
                               (1 << 20);
    if (h->metadata && h->metadata(h->ctx, &info, &md, err) != 0)
        goto out;
    const char *arch = lora_metadata_get(&md, "modelspec.architecture");
    if (whole && arch && strstr(arch, "/lora")) {   /* a checkpoint, not a LoRA */
        char base[128];
        snprintf(base, sizeof base, "%.*s", (int)(strstr(arch, "/lora") - arch), arch);
        lora_metadata_set(&md, "modelspec.architecture", "%s", base);
    }
    long long saves = 1;
    if (s->save_every_n_epochs > 0)
        saves += s->epochs / s->save_every_n_epochs;
    if (s->save_every_n_steps > 0)
        saves += s->total_steps / s->save_every_n_steps;
    if (trun_check_output(s, info.lora_file_bytes, saves, err) != 0)
        goto out;
    const char *fam_name = m->family == CKPT_SDXL ? "SDXL" : m->family == CKPT_SD2 ? "SD 2.x" : "SD 1.x";
    if (whole)
        run_log(h, "info", "%s model (%s), training the %s (%zu parameters), %zu images, %lld steps",
                fam_name, m->name, vae_mode ? "VAE" : full.train_te ? "U-Net and the text encoder"
                : "U-Net", full.trainable, b.image_count, s->total_steps);
    else
        run_log(h, "info", "%s model (%s), %zu LoRA modules (%zu parameters), %zu images, %lld steps",
                fam_name, m->name, net.n_mods, net.n_params, b.image_count, s->total_steps);
    for (int i = 0; i < s->n_notes; i++)
        run_log(h, "warning", "%s", s->notes[i]);
    if (val.active)
        run_log(h, "info", "validation: %zu images, %lld batches at timesteps %d, %d, %d, %d", val.b.image_count,
                val.n_batches, val.timesteps[0], val.timesteps[1], val.timesteps[2], val.timesteps[3]);

    int maxB = 1;
    size_t maxpix = 0;
    for (size_t i = 0; i < b.bucket_count; i++) {
        if (b.buckets[i].batch_size > maxB)
            maxB = b.buckets[i].batch_size;
        size_t px = (size_t)b.buckets[i].reso.width * b.buckets[i].reso.height;
        maxpix = px > maxpix ? px : maxpix;
    }
    size_t lat_per = (size_t)d.lc * maxpix / ((size_t)d.f * d.f), ctx_per = (size_t)d.T * d.D;
    buf.lat = malloc((size_t)maxB * lat_per * sizeof(float));
    buf.ctx = malloc((size_t)maxB * ctx_per * sizeof(float));
    buf.w = malloc((size_t)maxB * sizeof(float));
    buf.pooled = malloc(((size_t)maxB * d.P + 1) * sizeof(float));
    buf.time_ids = malloc((size_t)maxB * 6 * sizeof(float));
    buf.dctx = te_train ? malloc((size_t)maxB * ctx_per * sizeof(float)) : NULL;
    buf.mask = d.masked ? malloc((size_t)maxB * maxpix / ((size_t)d.f * d.f) * sizeof(float)) : NULL;
    if (vae_mode) {
        size_t per_image = 3 * maxpix + (size_t)d.lc * maxpix / ((size_t)d.f * d.f);   /* + noise */
        pixels = malloc((size_t)maxB * per_image * sizeof(float));
        if (!pixels || trun_vae_plan(m, maxB, &b, err) != 0) {
            if (!pixels)
                error_set(err, NULL, 0, 0, NULL, "out of memory for the image batch");
            goto out;
        }
    }
    if (!buf.lat || !buf.ctx || !buf.w || !buf.pooled || !buf.time_ids || (te_train && !buf.dctx) ||
        (d.masked && !buf.mask)) {
        error_set(err, NULL, 0, 0, NULL, "out of memory for the batch buffers");
        goto out;
    }
    *usage_error = 0;
    if (s->tensorboard && s->logging_dir) {
        char dir[4096];
        if (tb_run_dir(dir, sizeof dir, s->logging_dir, NULL, s->log_tracker_name, time(NULL),
                       err) != 0 || !(tb = tb_open(dir, err)))
            goto out;
        run_log(h, "info", "TensorBoard logs in %s", dir);
    }

    trun_save sv = {s, h, &net, opt, &md, whole ? &full : NULL};
    trun_sample_ctx sc = {s, h, m, &net, opt, &st};
    trun_val_ctx vc = {&st, &net, opt, te_train ? &te : NULL};
    long long step = prog.step, done_epochs = prog.epoch;
    size_t pos = (size_t)prog.data_position;
    int stopped = 0, nan_at = nan_hook_step();
    double t0 = now_s();
    long long step0 = step;
    /* sd-scripts: sample_images(..., epoch 0, global_step 0) before training, named e000000 */
    if (s->sample_at_first && step == 0 && trun_sample(&sc, 0, 0, 1, err) != 0)
        goto out;
    network_zero_grad(&net);
    trun_full_zero_grad(&full);
    for (long long ep = done_epochs + 1; ep <= s->epochs && step < s->total_steps && !stopped; ep++) {
        batches_epoch(&b, (int)ep);
        if (ep == done_epochs + 1 && pos)
            batches_seek(&b, (int)ep, pos);
        else
            pos = 0;
        double loss_sum = 0.0;
        long long loss_n = 0;
        int end = 0;
        while (!end && step < s->total_steps && !stopped) {
            if (te_train && s->text_encoder_stop_step > 0 && step >= s->text_encoder_stop_step &&
                !frz.saved && !full.te_frozen) {
                if (whole ? trun_full_freeze_te(&full, err) != 0 : te_freeze_take(&frz, &net) != 0) {
                    error_set(err, NULL, 0, 0, NULL, "out of memory");
                    goto out;
                }
                run_log(h, "info", "text encoder training stops at step %lld", step);
            }
            int micro = 0;
            double step_loss = 0.0;
            while (micro < s->grad_accum) {
                batch bt;
                b.step = step;
                int r = batches_next(&b, &bt, err);
                if (r < 0)
                    goto out;
                if (r == 0) {
                    end = 1;
                    break;
                }
                pos++;
                int W = bt.bucket.width, H = bt.bucket.height;
                size_t lp = (size_t)d.lc * (H / d.f) * (W / d.f);
                if (vae_mode) {
                    double loss;
                    if (trun_vae_micro_step(&d, &bt, pixels, s, &st.rng_offset, &loss, err) != 0)
                        goto out;
                    if (step + 1 == nan_at)
                        loss = NAN;
                    if (!isfinite(loss)) {
                        error_set(err, NULL, 0, 0, NULL, "the loss became %s at step %lld (epoch "
                                  "%lld); training stopped, the last good save is kept (try a "
                                  "lower learning rate)", isnan(loss) ? "NaN" : "infinite",
                                  step + 1, ep);
                        goto out;
                    }
                    step_loss += loss;
                    micro++;
                    continue;
                }
                for (int i = 0; i < bt.count; i++) {
                    float *mask = buf.mask ? buf.mask + i * (lp / d.lc) : NULL;
                    if (trun_data_latent(&d, &bt.samples[i], buf.lat + i * lp, mask, err) != 0 ||
                        (!te_train &&
                         trun_data_context(&d, bt.samples[i].caption, buf.ctx + i * ctx_per,
                                           buf.pooled + (size_t)i * d.P, err) != 0))
                        goto out;
                    buf.w[i] = bt.samples[i].loss_weight;
                    /* SDXL: sd-scripts' get_size_embeddings inputs, (h, w) order; the target
                     * is the bucket */
                    const batch_sample *bs = &bt.samples[i];
                    sd_time_ids(buf.time_ids + 6 * i, bs->orig_h, bs->orig_w, bs->crop_top,
                                bs->crop_left, H, W);
                }
                /* this forward's dropout masks: a pure function of (seed, micro-step), so a
                 * resumed run draws the same */
                network_begin_step(&net, 1, s->seed, (uint64_t)step * s->grad_accum + micro,
                                   bt.count);
                int T = d.T;
                if (te_train && trun_te_forward(&te, &bt, buf.ctx, &T, err) != 0)
                    goto out;
                double loss;
                /* SDXL with the text encoders training: their pooled output and its gradient */
                train_step_cond cond = {buf.ctx, d.P ? (te.P ? te.pooled : buf.pooled) : NULL,
                                        d.P ? buf.time_ids : NULL, te_train ? buf.dctx : NULL,
                                        te.dpooled, buf.mask};
                if (te_train)
                    memset(buf.dctx, 0, (size_t)bt.count * T * d.D * sizeof(float));
                if (train_step_run_cond(&st, buf.lat, &cond, bt.count, H / d.f, W / d.f, T, buf.w,
                                        NULL, NULL, &loss, err) != 0)
                    goto out;
                if (te_train && !frz.saved && !full.te_frozen && isfinite(loss))
                    trun_te_backward(&te, buf.dctx);
                network_dylora_end_micro_step(&net);
                if (step + 1 == nan_at)
                    loss = NAN;
                if (!isfinite(loss)) {
                    error_set(err, NULL, 0, 0, NULL, "the loss became %s at step %lld (epoch %lld); "
                              "training stopped, the last good save is kept (try a lower "
                              "learning rate)", isnan(loss) ? "NaN" : "infinite", step + 1, ep);
                    goto out;
                }
                step_loss += loss;
                micro++;
            }
            if (!micro)
                break;
            if (vae_mode && s->grad_accum > 1)   /* train_step scales by 1/accumulation itself */
                trun_full_scale_grads(&full, 1.0f / (float)s->grad_accum);
            if (s->max_grad_norm > 0.0f) {
                if (whole)
                    trun_full_clip_grad_norm(&full, s->max_grad_norm);
                else
                    train_clip_grad_norm(&net, s->max_grad_norm);
            }
            for (int g = 0; g < og.n; g++)
                optim_set_lr(opt, g, lr_schedule_lr(&sched, step, og.base_lr[g]));
            network_dylora_to_optimizer(&net);
            if (net.dylora_unit)
                dylora_point_grads(opt, &net);
            if (optim_step(opt, err) != 0)
                goto out;
            network_dylora_from_optimizer(&net);
            if (frz.saved)
                te_freeze_restore(&frz, &net);
            trun_full_restore_te(&full);
            network_zero_grad(&net);
            trun_full_zero_grad(&full);
            step++;
            if (s->scale_weight_norms > 0.0f && !whole)
                network_apply_max_norm(&net, s->scale_weight_norms, NULL, NULL);
            loss_sum += step_loss / micro;
            loss_n++;
            if (h->progress) {
                double el = now_s() - t0, ips = el > 0 ? (double)(step - step0) / el : 0.0;
                train_run_progress p = {step, s->total_steps, ep, s->epochs, step_loss / micro,
                                        loss_sum / loss_n, optim_effective_lr(opt, 0), ips,
                                        ips > 0 ? (double)(s->total_steps - step) / ips : 0.0,
                                        rss_bytes()};
                h->progress(h->ctx, &p);
            }
            if (tb) {
                double lrs[64];
                const char *desc[64];
                int ng = og.n < 64 ? og.n : 64;
                for (int g = 0; g < ng; g++) {
                    lrs[g] = optim_effective_lr(opt, g);
                    desc[g] = og.desc[g];
                }
                tb_step_log tl = {step_loss / micro, loss_sum / loss_n, 0, 0, 0, 0, ng, desc,
                                  lrs, NULL, !te_train};
                if (tb_log_step(tb, step, 0.0, &tl, err) != 0)
                    goto out;
            }
            /* sd-scripts: validate_every_n_steps counts optimizer steps */
            if (val.active && s->validate_every_n_steps > 0 && step % s->validate_every_n_steps == 0) {
                double v0 = now_s();
                if (validate(&val, &vc, h, tb, step, ep, 0, loss_sum / loss_n, err) != 0)
                    goto out;
                t0 += now_s() - v0;   /* it/s and the ETA count training only, as sd-scripts' bar */
            }
            train_progress now = {step, ep - 1, (long long)pos, s->seed, st.rng_offset};
            /* sd-scripts saves at every n-th step, the last one too (epochs: not the last) */
            if (s->save_every_n_steps > 0 && step % s->save_every_n_steps == 0) {
                if (trun_save_lora(&sv, 2, step, step, ep, err) != 0 ||
                    (s->save_state && trun_save_state(&sv, 2, step, &now, err) != 0))
                    goto out;
            }
            /* sd-scripts: sample_every_n_epochs wins over sample_every_n_steps */
            if (!s->sample_every_n_epochs && s->sample_every_n_steps > 0 &&
                step % s->sample_every_n_steps == 0 && trun_sample(&sc, step, ep, 0, err) != 0)
                goto out;
            train_control c = h->control ? h->control(h->ctx) : TRAIN_CONTINUE;
            if (c == TRAIN_STOP)
                stopped = 1;
            else if (c == TRAIN_SAVE_NOW && trun_save_lora(&sv, 2, step, step, ep, err) != 0)
                goto out;
            else if (c == TRAIN_SAMPLE_NOW && trun_sample(&sc, step, ep, 0, err) != 0)
                goto out;
        }
        /* sd-scripts validates after the epoch's loop, also when max_train_steps ends it */
        if (val.active && !stopped && loss_n &&
            (s->validate_every_n_epochs <= 0 || ep % s->validate_every_n_epochs == 0)) {
            double v0 = now_s();
            if (validate(&val, &vc, h, tb, step, ep, 1, loss_sum / loss_n, err) != 0)
                goto out;
            t0 += now_s() - v0;
        }
        /* sd-scripts logs the epoch also when max_train_steps ends it early */
        if (tb && loss_n && !stopped && tb_log_epoch(tb, (int)ep, loss_sum / loss_n, 0.0, err) != 0)
            goto out;
        if (stopped)
            break;
        /* sd-scripts samples at the end of every epoch loop, also the one max_train_steps
         * ends (its last batch is used before the data loader runs dry) */
        if ((end || step >= s->total_steps) && s->sample_every_n_epochs > 0 &&
            ep % s->sample_every_n_epochs == 0 && trun_sample(&sc, step, ep, 1, err) != 0)
            goto out;
        if (!end)
            break;
        done_epochs = ep;
        pos = 0;
        if (s->save_every_n_epochs > 0 && ep % s->save_every_n_epochs == 0 && ep < s->epochs) {
            train_progress now = {step, ep, 0, s->seed, st.rng_offset};
            if (trun_save_lora(&sv, 1, ep, step, ep, err) != 0 ||
                (s->save_state && trun_save_state(&sv, 1, ep, &now, err) != 0))
                goto out;
        }
    }
    {
        /* where the run ends: inside an epoch (stopped, or max_train_steps reached), with pos
         * batches of it consumed, or after one (pos 0) */
        train_progress fin = {step, done_epochs, (long long)pos, s->seed, st.rng_offset};
        long long ep_md = pos ? done_epochs + 1 : done_epochs;
        if (trun_save_lora(&sv, 0, 0, step, ep_md, err) != 0)
            goto out;
        if ((s->save_state || s->save_state_on_train_end) && trun_save_state(&sv, 0, 0, &fin, err) != 0)
            goto out;
    }
    if (vae_mode && !stopped) {
        double sd;
        if (trun_vae_latent_std(&d, &b, pixels, &sd, err) != 0)
            goto out;
        run_log(h, "info", "the VAE's latents have a standard deviation of %.5f over the data "
                "set: for a U-Net trained on them, set scaling_factor = %.5f (1 / std) in the "
                "model's vae/config.json", sd, sd > 0 ? 1.0 / sd : 1.0);
    }
    if (tb_close(tb, err) != 0) {
        tb = NULL;
        goto out;
    }
    tb = NULL;
    rc = stopped ? TRAIN_RUN_STOPPED : TRAIN_RUN_DONE;
out:
    if (tb)
        tb_close(tb, NULL);
    te_freeze_free(&frz);
    trun_full_free(&full);
    trun_val_free(&val);
    free(pixels);
    free(buf.lat);
    free(buf.ctx);
    free(buf.w);
    free(buf.pooled);
    free(buf.time_ids);
    free(buf.dctx);
    free(buf.mask);
    lora_metadata_free(&md);
    optim_free(opt);
    free(og.base_lr);
    free(og.desc);
    if (st_init)
        train_step_free(&st);
    trun_data_free(&d);
    trun_te_free(&te);
    batches_free(&b);
    network_free(&net);
    if (m) {
        sd_model_adapters_changed(m);
        sd_model_free(m);
    }
    return rc;
}
