/* vae_train.c — the VAE's weight gradients and its training loss step (see vae_train.h):
 * vae_set_param_grads walks every layer once and points its gradients into the flat buffer at
 * the parameter's own offset; vae_train_loss chains encode → decode → loss → decode backward
 * → encode backward on buffers planned once by vae_plan_train. */
#include "engine/models/vae_train.h"

#include <math.h>
#include <string.h>

/* The gradient of parameter p: at p's offset within params. */
static float *grad_of(const vae_model *m, const float *p)
{
    return p && m->grads ? m->grads + (p - m->params) : NULL;
}

static void conv_grads(const vae_model *m, conv_layer *c)
{
    c->dweight = grad_of(m, c->weight);
    c->dbias = grad_of(m, c->bias);
}

static void linear_grads(const vae_model *m, linear_layer *l)
{
    l->dweight = grad_of(m, l->weight);
    l->dbias = grad_of(m, l->bias);
}

static void resnet_grads(const vae_model *m, vae_resnet *r)
{
    r->dn1_w = grad_of(m, r->n1_w), r->dn1_b = grad_of(m, r->n1_b);
    r->dn2_w = grad_of(m, r->n2_w), r->dn2_b = grad_of(m, r->n2_b);
    conv_grads(m, &r->conv1);
    conv_grads(m, &r->conv2);
    conv_grads(m, &r->shortcut);   /* no weight when in == out: stays NULL */
}

static void mid_grads(const vae_model *m, vae_mid *mid)
{
    resnet_grads(m, &mid->r0);
    if (mid->has_attn) {
        vae_attn *t = &mid->attn;
        t->dgn_w = grad_of(m, t->gn_w), t->dgn_b = grad_of(m, t->gn_b);
        linear_grads(m, &t->q);
        linear_grads(m, &t->k);
        linear_grads(m, &t->v);
        linear_grads(m, &t->o);
    }
    resnet_grads(m, &mid->r1);
}

static void coder_grads(const vae_model *m, vae_coder *c)
{
    conv_grads(m, &c->conv_in);
    for (int i = 0; i < m->cfg.n_blocks; i++) {
        for (int j = 0; j < c->n_res; j++)
            resnet_grads(m, &c->res[i][j]);
        if (c->has_samp[i])
            conv_grads(m, &c->samp[i].conv);
    }
    mid_grads(m, &c->mid);
    c->dnorm_w = grad_of(m, c->norm_w), c->dnorm_b = grad_of(m, c->norm_b);
    conv_grads(m, &c->conv_out);
}

int vae_set_param_grads(vae_model *m, float *grads)
{
    m->grads = grads;
    coder_grads(m, &m->enc);
    coder_grads(m, &m->dec);
    conv_grads(m, &m->quant);
    conv_grads(m, &m->post_quant);
    return 0;
}

int vae_plan_train(vae_model *m, int N, int H, int W, error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_train_plan *tp = &m->train;
    int f = vae_downscale(c);
    if (c->in_channels != c->out_channels)
        return error_set(err, "", 0, 0, "", "VAE training needs as many output channels as input (%d vs %d)",
                         c->out_channels, c->in_channels);
    tp->planned = 0;
    if (vae_plan_encoder_ex(m, N, H, W, 1, err) || vae_plan_decoder(m, N, H / f, W / f, 1, err))
        return -1;
    arena_free(&tp->ws);
    arena_init(&tp->ws, K_CPU);
    size_t ni = (size_t)N * c->out_channels * H * W, nl = (size_t)N * c->latent_channels * (H / f) * (W / f);
    tp->id_rec = arena_request(&tp->ws, "vae.train.recon", ni);
    tp->id_drec = arena_request(&tp->ws, "vae.train.drecon", ni);
    tp->id_dz = arena_request(&tp->ws, "vae.train.dz", nl);
    tp->id_dmean = arena_request(&tp->ws, "vae.train.dmean", nl);
    tp->id_dlogvar = arena_request(&tp->ws, "vae.train.dlogvar", nl);
    if (arena_commit(&tp->ws, err))
        return -1;
    tp->planned = 1, tp->N = N, tp->H = H, tp->W = W;
    return 0;
}

const float *vae_train_reconstruction(const vae_model *m)
{
    return m->train.planned ? arena_get(&m->train.ws, m->train.id_rec) : NULL;
}

/* recon (returned) and drec = d recon / d x̂ over n pixels. */
static double recon_loss(float *drec, const float *rec, const float *img, size_t n, vae_loss_kind kind)
{
    double sum = 0.0;
    float inv = 1.0f / (float)n;
    for (size_t i = 0; i < n; i++) {
        float d = rec[i] - img[i];
        if (kind == VAE_LOSS_L1) {
            sum += fabs((double)d);
            drec[i] = d > 0.0f ? inv : d < 0.0f ? -inv : 0.0f;
        } else {
            sum += (double)d * d;
            drec[i] = 2.0f * d * inv;
        }
    }
    return sum / (double)n;
}

int vae_train_loss(vae_model *m, const float *images, const float *noise, int N, int H, int W,
                   float kl_weight, vae_loss_kind kind, vae_loss_parts *out, error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_train_plan *tp = &m->train;
    int f = vae_downscale(c), h = H / f, w = W / f;
    if (!tp->planned || N < 1 || N > tp->N || H > tp->H || W > tp->W || H < f || W < f || H % f || W % f)
        return error_set(err, "", 0, 0, "", "VAE train: %d x %dx%d does not fit the training plan (%d x %dx%d)", N,
                         W, H, tp->N, tp->W, tp->H);
    if (!m->enc.for_backward || !m->dec.for_backward || m->dec.N < N || m->dec.H < h || m->dec.W < w)
        return error_set(err, "", 0, 0, "", "VAE train: the encoder or decoder was re-planned; call vae_plan_train");
    const arena *ws = &tp->ws;
    float *rec = arena_get(ws, tp->id_rec), *drec = arena_get(ws, tp->id_drec);
    if (vae_encode(m, images, noise, N, H, W, err) || vae_decode(m, rec, m->sample, N, h, w, err))
        return -1;
    size_t ni = (size_t)N * c->out_channels * H * W, nl = (size_t)N * c->latent_channels * h * w;
    double recon = recon_loss(drec, rec, images, ni, kind), kl = 0.0;
    for (size_t i = 0; i < nl; i++) {
        double mu = m->mean[i], lv = m->logvar[i];
        kl += 0.5 * (mu * mu + exp(lv) - 1.0 - lv);
    }
    kl /= N;
    if (out) {
        out->recon = recon, out->kl = kl;
        out->total = recon + (double)kl_weight * kl;
    }
    if (!m->grads)
        return 0;

    float *dz = arena_get(ws, tp->id_dz), *dmean = arena_get(ws, tp->id_dmean);
    float *dlogvar = arena_get(ws, tp->id_dlogvar);
    memset(dz, 0, nl * sizeof(float));
    if (vae_decode_backward(m, dz, drec, err))
        return -1;
    /* sample = mean + exp(0.5 logvar) · noise; KL' = (mean, 0.5 (exp(logvar) − 1)) / N */
    float kw = kl_weight / (float)N;
    for (size_t i = 0; i < nl; i++) {
        float lv = m->logvar[i], var = expf(lv);
        float ds = noise ? dz[i] * noise[i] * 0.5f * expf(0.5f * lv) : 0.0f;
        dmean[i] = dz[i] + kw * m->mean[i];
        dlogvar[i] = ds + kw * 0.5f * (var - 1.0f);
    }
    return vae_encode_backward(m, NULL, dmean, dlogvar, err);
}
