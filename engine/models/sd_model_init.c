/* sd_model_init.c — a fresh, randomly initialised Stable Diffusion model: what PyTorch,
 * diffusers and transformers give a model built from its config before any weights are loaded,
 * so loratty can train a (small) base model from scratch. See sd_model.h for the rules.
 *
 * Every value is a pure function of (seed, part, element index) through Philox, so the result
 * does not depend on threads or on the order of the loops, and one seed gives one model. */
#include "engine/models/sd_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng.h"

/* rng purpose tag "INIT", apart from dropout, noise and the LoRA initialisation */
enum { SD_RNG_INIT = 0x494e4954 };
/* The counter's high bits say which part: U-Net, text encoder 1, 2, VAE. */
enum { PART_UNET = 0, PART_TE1 = 1, PART_TE2 = 2, PART_VAE = 3 };
#define PART_SHIFT 40

static uint64_t counter(int part, size_t index)
{
    return ((uint64_t)part << PART_SHIFT) + (uint64_t)index;
}

/* U(-bound, bound): torch's kaiming_uniform_(a=√5) weights and Linear/Conv2d biases */
static void fill_uniform(float *dst, size_t n, float bound, uint64_t seed, int part, size_t base)
{
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n; j++) {
        uint32_t r[4];
        k_rng_block(r, seed, counter(part, base + j), SD_RNG_INIT);
        dst[j] = (2.0f * k_rng_uniform(r[0]) - 1.0f) * bound;
    }
}

/* N(0, std²) by Box-Muller */
static void fill_normal(float *dst, size_t n, float std, uint64_t seed, int part, size_t base)
{
#pragma omp parallel for schedule(static)
    for (size_t j = 0; j < n; j++) {
        uint32_t r[4];
        k_rng_block(r, seed, counter(part, base + j), SD_RNG_INIT);
        float u1 = 1.0f - k_rng_uniform(r[0]), u2 = k_rng_uniform(r[1]);   /* u1 in (0, 1] */
        dst[j] = std * sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
    }
}

static void fill_const(float *dst, size_t n, float v)
{
    for (size_t j = 0; j < n; j++)
        dst[j] = v;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* One parameter of a diffusers module list (the U-Net, the VAE), as torch initialises it.
 * Every diffusers U-Net / VAE parameter is a Linear or Conv2d weight or bias, or a GroupNorm /
 * LayerNorm weight or bias; the norms are the 1-D weights. */
typedef struct dparam {
    const char *name;
    int ndim;
    const int64_t *shape;
    size_t offset, numel;
} dparam;

static size_t fan_in(const dparam *p)
{
    size_t f = 1;
    for (int d = 1; d < p->ndim; d++)
        f *= (size_t)p->shape[d];
    return f;
}

static int init_diffusers(float *params, const dparam *list, size_t count, uint64_t seed, int part,
                          error_info *err)
{
    for (size_t i = 0; i < count; i++) {
        const dparam *p = &list[i];
        float *dst = params + p->offset;
        if (ends_with(p->name, ".weight")) {
            if (p->ndim >= 2)
                fill_uniform(dst, p->numel, 1.0f / sqrtf((float)fan_in(p)), seed, part, p->offset);
            else
                fill_const(dst, p->numel, 1.0f);
            continue;
        }
        if (!ends_with(p->name, ".bias"))
            return error_set(err, NULL, 0, 0, p->name, "a parameter that is neither a weight nor a bias: "
                             "no initialisation rule for it");
        /* the bias's own weight: its neighbour in the manifest, else anywhere */
        char wname[192];
        snprintf(wname, sizeof wname, "%.*sweight", (int)(strlen(p->name) - 4), p->name);
        const dparam *w = NULL;
        for (size_t k = i > 0 ? i - 1 : 0; !w && k < count && k <= i + 1; k++)
            if (strcmp(list[k].name, wname) == 0)
                w = &list[k];
        for (size_t k = 0; !w && k < count; k++)
            if (strcmp(list[k].name, wname) == 0)
                w = &list[k];
        if (!w)
            return error_set(err, NULL, 0, 0, p->name, "a bias without its weight");
        if (w->ndim >= 2)
            fill_uniform(dst, p->numel, 1.0f / sqrtf((float)fan_in(w)), seed, part, p->offset);
        else
            fill_const(dst, p->numel, 0.0f);
    }
    return 0;
}

static int init_unet(unet_model *u, uint64_t seed, error_info *err)
{
    dparam *list = calloc(u->n_manifest ? u->n_manifest : 1, sizeof *list);
    if (!list)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t i = 0; i < u->n_manifest; i++) {
        const unet_param_info *p = &u->manifest[i];
        size_t numel = 1;
        for (int d = 0; d < p->ndim; d++)
            numel *= (size_t)p->shape[d];
        list[i] = (dparam){p->name, p->ndim, p->shape, p->offset, numel};
    }
    int rc = init_diffusers(u->params, list, u->n_manifest, seed, PART_UNET, err);
    free(list);
    return rc;
}

static int init_vae(vae_model *v, uint64_t seed, error_info *err)
{
    vae_param_info *man;
    int count;
    if (vae_manifest(&v->cfg, &man, &count, err) < 0)
        return -1;
    dparam *list = calloc(count ? (size_t)count : 1, sizeof *list);
    int rc = list ? 0 : error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (int i = 0; list && i < count; i++)
        list[i] = (dparam){man[i].name, man[i].ndim, man[i].shape, man[i].offset, man[i].numel};
    if (rc == 0)
        rc = init_diffusers(v->params, list, (size_t)count, seed, PART_VAE, err);
    /* The one departure from torch's defaults: the posterior starts with std 0.1 (logvar bias
     * VAE_INIT_LOGVAR) instead of about 1. With std 1 the sampled latents are mostly noise,
     * and Adam moves the logvar bias by about the learning rate per step, so a small VAE
     * trained for minutes would spend them escaping it. */
    const char *post = v->cfg.use_quant_conv ? "quant_conv.bias" : "encoder.conv_out.bias";
    for (int i = 0; rc == 0 && i < count; i++)
        if (strcmp(man[i].name, post) == 0)
            fill_const(v->params + man[i].offset + man[i].numel / 2, man[i].numel / 2,
                       VAE_INIT_LOGVAR);
    free(list);
    free(man);
    return rc;
}

/* transformers' CLIPPreTrainedModel._init_weights for CLIPTextModel(WithProjection) */
static int init_clip(clip_model *m, float factor, uint64_t seed, int part, error_info *err)
{
    const clip_config *c = &m->cfg;
    float C = (float)c->hidden_size, L2 = 2.0f * (float)c->num_layers;
    float in_std = powf(C, -0.5f) * powf(L2, -0.5f) * factor;   /* q, k, v and fc2 */
    float out_std = powf(C, -0.5f) * factor;                    /* out_proj, text_projection */
    float fc1_std = powf(2.0f * C, -0.5f) * factor;
    static const char *const in_proj[] = {"self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                          "self_attn.v_proj.weight", "mlp.fc2.weight"};
    int count = clip_param_count(c);
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        clip_param_at(c, i, &p);
        float *dst = m->params + p.offset;
        float std = -1.0f;
        if (ends_with(p.name, "_embedding.weight"))   /* token_ and position_embedding */
            std = 0.02f * factor;
        else if (ends_with(p.name, "self_attn.out_proj.weight") || strcmp(p.name, "text_projection.weight") == 0)
            std = out_std;
        else if (ends_with(p.name, "mlp.fc1.weight"))
            std = fc1_std;
        for (size_t k = 0; std < 0.0f && k < sizeof in_proj / sizeof in_proj[0]; k++)
            if (ends_with(p.name, in_proj[k]))
                std = in_std;
        if (std >= 0.0f)
            fill_normal(dst, p.numel, std, seed, part, p.offset);
        else if (ends_with(p.name, ".bias"))                     /* Linear and LayerNorm biases */
            fill_const(dst, p.numel, 0.0f);
        else if (strstr(p.name, "layer_norm") && ends_with(p.name, ".weight"))
            fill_const(dst, p.numel, 1.0f);
        else
            return error_set(err, NULL, 0, 0, p.name, "no initialisation rule for this text encoder "
                             "parameter");
    }
    return 0;
}

int sd_model_init_random(sd_model *m, uint64_t seed, error_info *err)
{
    if (init_unet(&m->unet, seed, err) < 0)
        return -1;
    for (int i = 0; i < m->n_te; i++) {
        if (init_clip(&m->te[i], m->te_init_factor[i], seed, i == 0 ? PART_TE1 : PART_TE2, err) < 0)
            return -1;
    }
    return init_vae(&m->vae, seed, err);
}

void sd_model_param_counts(const sd_model *m, size_t *unet, size_t *te, size_t *vae)
{
    *unet = m->unet.n_params;
    *te = 0;
    for (int i = 0; i < m->n_te; i++)
        *te += clip_param_floats(&m->te[i].cfg);
    *vae = m->vae.n_params;
}
