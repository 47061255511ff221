/* vae.c — AutoencoderKL encoder and decoder (plans, forwards, backwards) and diffusers' tiled
 * decode; the blocks live in vae_blocks.c, the configs and the parameter layout in
 * vae_config.c, the training loss step in vae_train.c. */
#include "engine/models/vae.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VAE_GN_EPS 1e-6f

static float *A(const arena *a, int id)
{
    return arena_get(a, id);
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

void vae_free(vae_model *m)
{
    arena_free(&m->enc.acts);
    arena_free(&m->dec.acts);
    arena_free(&m->train.ws);
    m->train.planned = 0;
    free(m->params);
    m->params = NULL;
}

static void plan_mid(vae_mid *mid, vae_planner *p, int N, int h, int w)
{
    vae_resnet_plan(&mid->r0, p, N, h, w);
    if (mid->has_attn)
        vae_attn_plan(&mid->attn, p, N, h, w);
    vae_resnet_plan(&mid->r1, p, N, h, w);
}

static const float *mid_forward(const vae_mid *mid, const arena *a, const float *x, int N, int h, int w,
                                float *scratch)
{
    x = vae_resnet_forward(&mid->r0, a, x, N, h, w, scratch);
    if (mid->has_attn)
        x = vae_attn_forward(&mid->attn, a, x, N, h, w, scratch);
    return vae_resnet_forward(&mid->r1, a, x, N, h, w, scratch);
}

/* *g: dL/d mid output -> dL/d mid input (x: its input); *g and *gp swap per block. */
static void mid_backward(const vae_mid *mid, const arena *a, float **g, float **gp, const float *x, int N,
                         int h, int w, float *scratch, float *const *t)
{
    const float *r1_in = A(a, mid->has_attn ? mid->attn.out_id : mid->r0.out_id);
    float *tmp;
    vae_resnet_backward(&mid->r1, a, *gp, *g, r1_in, N, h, w, scratch, t);
    tmp = *g, *g = *gp, *gp = tmp;
    if (mid->has_attn) {
        vae_attn_backward(&mid->attn, a, *gp, *g, A(a, mid->r0.out_id), N, h, w, scratch, t);
        tmp = *g, *g = *gp, *gp = tmp;
    }
    vae_resnet_backward(&mid->r0, a, *gp, *g, x, N, h, w, scratch, t);
    tmp = *g, *g = *gp, *gp = tmp;
}

/* The gradient buffers of a plan for backward: two of the largest activation, two temporaries
 * as large, three for the attention's q, k, v. */
static void plan_grads(vae_coder *c, arena *a, const vae_planner *p, int for_backward)
{
    for (int i = 0; i < 2; i++)
        c->id_g[i] = -1;
    for (int i = 0; i < 5; i++)
        c->id_t[i] = -1;
    if (!for_backward)
        return;
    c->id_g[0] = arena_request(a, "vae.grad.0", p->max_act);
    c->id_g[1] = arena_request(a, "vae.grad.1", p->max_act);
    c->id_t[0] = arena_request(a, "vae.grad.t0", p->max_act);
    c->id_t[1] = arena_request(a, "vae.grad.t1", p->max_act);
    for (int i = 2; i < 5; i++)
        c->id_t[i] = arena_request(a, "vae.grad.attn", p->max_attn + 1);
}

/* GroupNorm -> SiLU, planned as one block's internals. */
static void plan_norm_out(vae_coder *c, vae_planner *p, int N, int C, int G, size_t hw)
{
    vae_plan_internal_begin(p);
    c->gn = vae_plan_buf(p, "vae.norm_out", (size_t)N * C * hw, 0);
    c->gns = vae_plan_buf(p, "vae.norm_out.stats", 2 * (size_t)N * G, 0);
    c->a = vae_plan_buf(p, "vae.norm_out.silu", (size_t)N * C * hw, 0);
    vae_plan_internal_end(p);
}

int vae_plan_encoder(vae_model *m, int N, int H, int W, error_info *err)
{
    return vae_plan_encoder_ex(m, N, H, W, 0, err);
}

int vae_plan_encoder_ex(vae_model *m, int N, int H, int W, int for_backward, error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_coder *e = &m->enc;
    int f = vae_downscale(c), L = c->latent_channels, nb = c->n_blocks, last = c->block_out[nb - 1];
    if (N < 1 || H < f || W < f || H % f || W % f)
        return error_set(err, "", 0, 0, "", "VAE: image %dx%d is not a multiple of %d", W, H, f);
    arena_free(&e->acts);
    arena_init(&e->acts, K_CPU);
    vae_planner p = {&e->acts, for_backward, 0, 0, 0, 0};
    e->id_image = for_backward ? arena_request(&e->acts, "vae.enc.image", (size_t)N * c->in_channels * H * W) : -1;
    e->conv_in_out = vae_plan_buf(&p, "vae.enc.conv_in", (size_t)N * c->block_out[0] * H * W, 1);
    p.max_scratch = conv_layer_scratch_floats(&e->conv_in, N, H, W);
    int h = H, w = W;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < e->n_res; j++)
            vae_resnet_plan(&e->res[i][j], &p, N, h, w);
        if (e->has_samp[i]) {
            vae_sampler_plan(&e->samp[i], &p, 1, c->block_out[i], N, h, w);
            h /= 2, w /= 2;
        }
    }
    plan_mid(&e->mid, &p, N, h, w);
    plan_norm_out(e, &p, N, last, c->norm_num_groups, (size_t)h * w);
    size_t nl = (size_t)N * L * h * w;
    e->conv_out_id = vae_plan_buf(&p, "vae.enc.conv_out", 2 * nl, 1);
    p.max_scratch = max_sz(p.max_scratch, conv_layer_scratch_floats(&e->conv_out, N, h, w));
    m->id_moments = arena_request(&e->acts, "vae.moments", 2 * nl);
    m->id_mean = arena_request(&e->acts, "vae.mean", nl);
    m->id_logvar = arena_request(&e->acts, "vae.logvar", nl);
    m->id_sample = arena_request(&e->acts, "vae.sample", nl);
    e->id_scratch = arena_request(&e->acts, "vae.enc.scratch", p.max_scratch + 1);
    plan_grads(e, &e->acts, &p, for_backward);
    if (arena_commit(&e->acts, err))
        return -1;
    e->planned = 1, e->N = N, e->H = H, e->W = W, e->for_backward = for_backward, e->rN = 0;
    return 0;
}

int vae_encode(vae_model *m, const float *image, const float *noise, int N, int H, int W,
               error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_coder *e = &m->enc;
    const arena *a = &e->acts;
    if (!e->planned || N > e->N || H > e->H || W > e->W || N < 1 || H % vae_downscale(c) || W % vae_downscale(c))
        return error_set(err, "", 0, 0, "", "VAE encode: %d x %dx%d does not fit the plan (%d x %dx%d)", N, W, H,
                         e->N, e->W, e->H);
    float *scratch = A(a, e->id_scratch);
    int nb = c->n_blocks, last = c->block_out[nb - 1], G = c->norm_num_groups, L = c->latent_channels;
    float *x0 = A(a, e->conv_in_out);
    if (e->for_backward)
        memcpy(A(a, e->id_image), image, (size_t)N * c->in_channels * H * W * sizeof(float));
    conv_layer_forward(&e->conv_in, x0, image, N, H, W, scratch);
    const float *x = x0;
    int h = H, w = W;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < e->n_res; j++)
            x = vae_resnet_forward(&e->res[i][j], a, x, N, h, w, scratch);
        if (e->has_samp[i]) {
            x = vae_sampler_forward(&e->samp[i], a, 1, x, N, h, w, scratch);
            h /= 2, w /= 2;
        }
    }
    x = mid_forward(&e->mid, a, x, N, h, w, scratch);
    int hw = h * w;
    float *gn = A(a, e->gn), *s = A(a, e->gns), *act = A(a, e->a), *pre = A(a, e->conv_out_id);
    k_groupnorm_forward(gn, s, s + N * G, x, e->norm_w, e->norm_b, N, last, hw, G, VAE_GN_EPS);
    k_silu_forward(act, gn, (size_t)N * last * hw);
    conv_layer_forward(&e->conv_out, pre, act, N, h, w, scratch);
    float *mom = A(a, m->id_moments);
    if (m->quant.weight)
        conv_layer_forward(&m->quant, mom, pre, N, h, w, scratch);
    else
        memcpy(mom, pre, (size_t)N * 2 * L * hw * sizeof(float));
    m->mean = A(a, m->id_mean), m->logvar = A(a, m->id_logvar), m->sample = A(a, m->id_sample);
    size_t per = (size_t)L * hw;
    for (int n = 0; n < N; n++) {
        const float *mu = mom + (size_t)n * 2 * per, *lv = mu + per;
        for (size_t i = 0; i < per; i++) {
            size_t o = (size_t)n * per + i;
            float l = fminf(fmaxf(lv[i], -30.0f), 20.0f);   /* DiagonalGaussianDistribution's clamp */
            m->mean[o] = mu[i];
            m->logvar[o] = l;
            m->sample[o] = noise ? mu[i] + expf(0.5f * l) * noise[o] : mu[i];
        }
    }
    e->rN = N, e->rH = H, e->rW = W;
    return 0;
}

/* The input of down block i's resnet j in the forward order. */
static const float *down_input(const vae_model *m, int i, int j)
{
    const vae_coder *e = &m->enc;
    const arena *a = &e->acts;
    if (j > 0)
        return A(a, e->res[i][j - 1].out_id);
    if (i > 0)
        return A(a, e->has_samp[i - 1] ? e->samp[i - 1].out_id : e->res[i - 1][e->n_res - 1].out_id);
    return A(a, e->conv_in_out);
}

int vae_encode_backward(vae_model *m, float *dimage, const float *dmean, const float *dlogvar,
                        error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_coder *e = &m->enc;
    const arena *a = &e->acts;
    if (!e->planned || !e->for_backward || !e->rN)
        return error_set(err, "", 0, 0, "", "VAE encode backward: no encode planned for backward has run");
    int N = e->rN, H = e->rH, W = e->rW, f = vae_downscale(c), h = H / f, w = W / f, hw = h * w;
    int nb = c->n_blocks, G = c->norm_num_groups, L = c->latent_channels, last = c->block_out[nb - 1];
    float *scratch = A(a, e->id_scratch), *g = A(a, e->id_g[0]), *gp = A(a, e->id_g[1]), *tmp;
    float *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = A(a, e->id_t[i]);
    size_t per = (size_t)L * hw, nl = (size_t)N * per, nlast = (size_t)N * last * hw;

    const float *mom = A(a, m->id_moments);
    for (int n = 0; n < N; n++)
        for (size_t i = 0; i < per; i++) {
            size_t o = (size_t)n * per + i, mo = (size_t)n * 2 * per + i;
            float lv = mom[mo + per];
            g[mo] = dmean ? dmean[o] : 0.0f;
            g[mo + per] = dlogvar && lv >= -30.0f && lv <= 20.0f ? dlogvar[o] : 0.0f;
        }
    if (m->quant.weight) {
        memset(gp, 0, 2 * nl * sizeof(float));
        conv_layer_backward(&m->quant, gp, g, A(a, e->conv_out_id), N, h, w, scratch);
        tmp = g, g = gp, gp = tmp;
    }
    memset(t[0], 0, nlast * sizeof(float));
    conv_layer_backward(&e->conv_out, t[0], g, A(a, e->a), N, h, w, scratch);
    memset(t[1], 0, nlast * sizeof(float));
    k_silu_backward(t[1], t[0], A(a, e->gn), nlast);
    memset(gp, 0, nlast * sizeof(float));
    float *s = A(a, e->gns);
    k_groupnorm_backward(gp, e->dnorm_w, e->dnorm_b, t[1], A(a, e->mid.r1.out_id), e->norm_w, s, s + N * G, N,
                         last, hw, G);
    tmp = g, g = gp, gp = tmp;
    const float *mid_in = A(a, e->has_samp[nb - 1] ? e->samp[nb - 1].out_id : e->res[nb - 1][e->n_res - 1].out_id);
    mid_backward(&e->mid, a, &g, &gp, mid_in, N, h, w, scratch, t);
    for (int i = nb - 1; i >= 0; i--) {
        int hi = H >> i, wi = W >> i;
        if (e->has_samp[i]) {
            vae_downsample_backward(&e->samp[i], a, gp, g, N, c->block_out[i], hi, wi, scratch, t);
            tmp = g, g = gp, gp = tmp;
        }
        for (int j = e->n_res - 1; j >= 0; j--) {
            vae_resnet_backward(&e->res[i][j], a, gp, g, down_input(m, i, j), N, hi, wi, scratch, t);
            tmp = g, g = gp, gp = tmp;
        }
    }
    conv_layer_backward(&e->conv_in, dimage, g, A(a, e->id_image), N, H, W, scratch);
    return 0;
}

int vae_plan_decoder(vae_model *m, int N, int h, int w, int for_backward, error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_coder *d = &m->dec;
    int nb = c->n_blocks, L = c->latent_channels, last = c->block_out[nb - 1];
    if (N < 1 || h < 1 || w < 1)
        return error_set(err, "", 0, 0, "", "VAE: bad latent size %d x %dx%d", N, w, h);
    arena_free(&d->acts);
    arena_init(&d->acts, K_CPU);
    arena *a = &d->acts;
    vae_planner p = {a, for_backward, 0, 0, 0, 0};
    size_t nl = (size_t)N * L * h * w;
    d->id_z = arena_request(a, "vae.dec.z", nl);
    d->id_pq = arena_request(a, "vae.dec.post_quant", nl);
    d->conv_in_out = vae_plan_buf(&p, "vae.dec.conv_in", (size_t)N * last * h * w, 1);
    p.max_scratch = conv_layer_scratch_floats(&d->conv_in, N, h, w);
    if (m->post_quant.weight)
        p.max_scratch = max_sz(p.max_scratch, conv_layer_scratch_floats(&m->post_quant, N, h, w));
    plan_mid(&d->mid, &p, N, h, w);
    int hh = h, ww = w;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < d->n_res; j++)
            vae_resnet_plan(&d->res[i][j], &p, N, hh, ww);
        if (d->has_samp[i]) {
            vae_sampler_plan(&d->samp[i], &p, 0, c->block_out[nb - 1 - i], N, hh, ww);
            hh *= 2, ww *= 2;
        }
    }
    plan_norm_out(d, &p, N, c->block_out[0], c->norm_num_groups, (size_t)hh * ww);
    p.max_scratch = max_sz(p.max_scratch, conv_layer_scratch_floats(&d->conv_out, N, hh, ww));
    d->id_scratch = arena_request(a, "vae.dec.scratch", p.max_scratch + 1);
    plan_grads(d, a, &p, for_backward);
    if (arena_commit(a, err))
        return -1;
    d->planned = 1, d->N = N, d->H = h, d->W = w, d->for_backward = for_backward, d->rN = 0;
    return 0;
}

int vae_decode(vae_model *m, float *out, const float *z, int N, int h, int w, error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_coder *d = &m->dec;
    const arena *a = &d->acts;
    if (!d->planned || N > d->N || h > d->H || w > d->W || N < 1 || h < 1 || w < 1)
        return error_set(err, "", 0, 0, "", "VAE decode: %d x %dx%d latents do not fit the plan (%d x %dx%d)", N,
                         w, h, d->N, d->W, d->H);
    int nb = c->n_blocks, L = c->latent_channels, G = c->norm_num_groups, C0 = c->block_out[0];
    float *scratch = A(a, d->id_scratch), *zc = A(a, d->id_z), *pq = A(a, d->id_pq);
    size_t nl = (size_t)N * L * h * w;
    memcpy(zc, z, nl * sizeof(float));
    if (m->post_quant.weight)
        conv_layer_forward(&m->post_quant, pq, zc, N, h, w, scratch);
    else
        memcpy(pq, zc, nl * sizeof(float));
    float *x0 = A(a, d->conv_in_out);
    conv_layer_forward(&d->conv_in, x0, pq, N, h, w, scratch);
    const float *x = mid_forward(&d->mid, a, x0, N, h, w, scratch);
    int hh = h, ww = w;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < d->n_res; j++)
            x = vae_resnet_forward(&d->res[i][j], a, x, N, hh, ww, scratch);
        if (d->has_samp[i]) {
            x = vae_sampler_forward(&d->samp[i], a, 0, x, N, hh, ww, scratch);
            hh *= 2, ww *= 2;
        }
    }
    int HW = hh * ww;
    float *gn = A(a, d->gn), *s = A(a, d->gns), *act = A(a, d->a);
    k_groupnorm_forward(gn, s, s + N * G, x, d->norm_w, d->norm_b, N, C0, HW, G, VAE_GN_EPS);
    k_silu_forward(act, gn, (size_t)N * C0 * HW);
    conv_layer_forward(&d->conv_out, out, act, N, hh, ww, scratch);
    d->rN = N, d->rH = h, d->rW = w;
    return 0;
}

/* The input of up block i's resnet j in the forward order. */
static const float *up_input(const vae_model *m, int i, int j)
{
    const vae_coder *d = &m->dec;
    const arena *a = &d->acts;
    if (j > 0)
        return A(a, d->res[i][j - 1].out_id);
    if (i > 0)
        return A(a, d->has_samp[i - 1] ? d->samp[i - 1].out_id : d->res[i - 1][d->n_res - 1].out_id);
    return A(a, d->mid.r1.out_id);
}

int vae_decode_backward(vae_model *m, float *dz, const float *dout, error_info *err)
{
    const vae_config *c = &m->cfg;
    vae_coder *d = &m->dec;
    const arena *a = &d->acts;
    if (!d->planned || !d->for_backward || !d->rN)
        return error_set(err, "", 0, 0, "", "VAE decode backward: no decode planned for backward has run");
    int N = d->rN, h = d->rH, w = d->rW, nb = c->n_blocks, G = c->norm_num_groups, C0 = c->block_out[0];
    int f = vae_downscale(c), H = h * f, W = w * f, HW = H * W;
    float *scratch = A(a, d->id_scratch), *g = A(a, d->id_g[0]), *gp = A(a, d->id_g[1]);
    float *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = A(a, d->id_t[i]);
    size_t n0 = (size_t)N * C0 * HW;

    memset(t[0], 0, n0 * sizeof(float));
    conv_layer_backward(&d->conv_out, t[0], dout, A(a, d->a), N, H, W, scratch);
    memset(t[1], 0, n0 * sizeof(float));
    k_silu_backward(t[1], t[0], A(a, d->gn), n0);
    memset(g, 0, n0 * sizeof(float));
    float *s = A(a, d->gns);
    k_groupnorm_backward(g, d->dnorm_w, d->dnorm_b, t[1], up_input(m, nb - 1, d->n_res), d->norm_w, s, s + N * G,
                         N, C0, HW, G);
    for (int i = nb - 1; i >= 0; i--) {
        int hi = h << i, wi = w << i;
        if (d->has_samp[i]) {
            vae_upsample_backward(&d->samp[i], a, gp, g, N, c->block_out[nb - 1 - i], hi, wi, scratch, t);
            float *tmp = g;
            g = gp, gp = tmp;
        }
        for (int j = d->n_res - 1; j >= 0; j--) {
            vae_resnet_backward(&d->res[i][j], a, gp, g, up_input(m, i, j), N, hi, wi, scratch, t);
            float *tmp = g;
            g = gp, gp = tmp;
        }
    }
    mid_backward(&d->mid, a, &g, &gp, A(a, d->conv_in_out), N, h, w, scratch, t);
    size_t nl = (size_t)N * c->latent_channels * h * w;
    memset(gp, 0, nl * sizeof(float));
    conv_layer_backward(&d->conv_in, gp, g, A(a, d->id_pq), N, h, w, scratch);
    if (m->post_quant.weight)
        conv_layer_backward(&m->post_quant, dz, gp, A(a, d->id_z), N, h, w, scratch);
    else if (dz)
        k_add_forward(dz, dz, gp, nl);
    return 0;
}

/* diffusers' blend_v / blend_h: the first `ext` rows (columns) of b fade in from the last ones of a. */
static void blend_v(const float *a, int ah, float *b, int bh, int w, int NC, int ext)
{
    ext = ext < ah ? ext : ah;
    ext = ext < bh ? ext : bh;
    for (int nc = 0; nc < NC; nc++)
        for (int y = 0; y < ext; y++) {
            const float *ar = a + ((size_t)nc * ah + ah - ext + y) * w;
            float *br = b + ((size_t)nc * bh + y) * w;
            float t = (float)y / (float)ext;
            for (int x = 0; x < w; x++)
                br[x] = ar[x] * (1.0f - t) + br[x] * t;
        }
}

static void blend_h(const float *a, int aw, float *b, int bw, int hgt, int NC, int ext)
{
    ext = ext < aw ? ext : aw;
    ext = ext < bw ? ext : bw;
    for (int nc = 0; nc < NC; nc++)
        for (int y = 0; y < hgt; y++) {
            const float *ar = a + ((size_t)nc * hgt + y) * aw;
            float *br = b + ((size_t)nc * hgt + y) * bw;
            for (int x = 0; x < ext; x++) {
                float t = (float)x / (float)ext;
                br[x] = ar[aw - ext + x] * (1.0f - t) + br[x] * t;
            }
        }
}

int vae_decode_tiled(vae_model *m, float *out, const float *z, int N, int h, int w,
                     int tile_latent, int tile_sample, float overlap_factor, error_info *err)
{
    const vae_config *c = &m->cfg;
    int f = vae_downscale(c), L = c->latent_channels, OC = c->out_channels;
    int ov = (int)(tile_latent * (1.0f - overlap_factor));
    int ext = (int)(tile_sample * overlap_factor), limit = tile_sample - ext;
    if (tile_latent < 1 || ov < 1 || limit < 1 || tile_sample != tile_latent * f)
        return error_set(err, "", 0, 0, "", "VAE tiled decode: bad tiles (%d latents, %d pixels, overlap %g)",
                         tile_latent, tile_sample, (double)overlap_factor);
    int cols = (w + ov - 1) / ov, H = h * f, W = w * f;
    size_t tile_n = (size_t)N * OC * tile_sample * tile_sample;
    float *rows = malloc(2 * (size_t)cols * tile_n * sizeof(float));
    float *zt = malloc((size_t)N * L * tile_latent * tile_latent * sizeof(float));
    int *tw = calloc((size_t)cols, sizeof(int));
    if (!rows || !zt || !tw) {
        free(rows);
        free(zt);
        free(tw);
        return error_set(err, "", 0, 0, "", "out of memory for the VAE tiles");
    }
    float *prev = rows, *cur = rows + (size_t)cols * tile_n;
    int prev_h = 0, rc = 0, oy = 0;
    for (int i = 0; i < h && !rc; i += ov) {
        int lh = h - i < tile_latent ? h - i : tile_latent, ph = lh * f;
        for (int tj = 0; tj < cols && !rc; tj++) {
            int j = tj * ov, lw = w - j < tile_latent ? w - j : tile_latent;
            for (int nc = 0; nc < N * L; nc++)
                for (int y = 0; y < lh; y++)
                    memcpy(zt + ((size_t)nc * lh + y) * lw, z + ((size_t)nc * h + i + y) * w + j,
                           (size_t)lw * sizeof(float));
            rc = vae_decode(m, cur + (size_t)tj * tile_n, zt, N, lh, lw, err);
            tw[tj] = lw * f;
        }
        int ox = 0;
        for (int tj = 0; tj < cols && !rc; tj++) {
            float *tile = cur + (size_t)tj * tile_n;
            if (i > 0)
                blend_v(prev + (size_t)tj * tile_n, prev_h, tile, ph, tw[tj], N * OC, ext);
            if (tj > 0)
                blend_h(cur + (size_t)(tj - 1) * tile_n, tw[tj - 1], tile, tw[tj], ph, N * OC, ext);
            int ch = ph < limit ? ph : limit, cw = tw[tj] < limit ? tw[tj] : limit;
            for (int nc = 0; nc < N * OC; nc++)
                for (int y = 0; y < ch && oy + y < H; y++) {
                    int n = cw < W - ox ? cw : W - ox;
                    if (n > 0)
                        memcpy(out + ((size_t)nc * H + oy + y) * W + ox, tile + ((size_t)nc * ph + y) * tw[tj],
                               (size_t)n * sizeof(float));
                }
            ox += cw;
        }
        oy += ph < limit ? ph : limit;
        prev_h = ph;
        float *t = prev;
        prev = cur, cur = t;
    }
    free(rows);
    free(zt);
    free(tw);
    return rc;
}
