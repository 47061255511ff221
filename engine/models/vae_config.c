/* vae_config.c — AutoencoderKL configs (config.json and the real SD / SDXL VAEs), the
 * parameter layout in diffusers names (one walk that both lists the manifest and points the
 * block structs into the flat buffer), and weight loading. */
#include "engine/models/vae.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vae_config vae_config_sd(void)
{
    vae_config c = {3, 3, 4, 4, {128, 256, 512, 512}, 2, 32, 1, 1, 1, 512, 0.18215f};
    return c;
}

vae_config vae_config_sdxl(void)
{
    vae_config c = vae_config_sd();
    c.sample_size = 1024;
    c.scaling_factor = 0.13025f;
    return c;
}

int vae_downscale(const vae_config *c)
{
    return 1 << (c->n_blocks - 1);
}

int vae_config_validate(const vae_config *c, error_info *err)
{
    if (c->n_blocks < 1 || c->n_blocks > VAE_MAX_BLOCKS)
        return error_set(err, "", 0, 0, "block_out_channels", "1 to %d blocks are supported", VAE_MAX_BLOCKS);
    if (c->layers_per_block < 1 || c->layers_per_block > VAE_MAX_LAYERS)
        return error_set(err, "", 0, 0, "layers_per_block", "1 to %d layers are supported", VAE_MAX_LAYERS);
    if (c->in_channels < 1 || c->out_channels < 1 || c->latent_channels < 1 || c->norm_num_groups < 1)
        return error_set(err, "", 0, 0, "", "VAE config: channel counts must be positive");
    for (int i = 0; i < c->n_blocks; i++)
        if (c->block_out[i] < 1 || c->block_out[i] % c->norm_num_groups)
            return error_set(err, "", 0, 0, "block_out_channels",
                             "%d is not a positive multiple of norm_num_groups %d", c->block_out[i],
                             c->norm_num_groups);
    return 0;
}

static int get_int(json_t *root, const char *key, int *dst, const char *path, error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;   /* diffusers' default stays */
    if (!json_is_integer(v))
        return error_set(err, path, 0, 0, key, "must be an integer");
    *dst = (int)json_integer_value(v);
    return 0;
}

static int get_bool(json_t *root, const char *key, int *dst, const char *path, error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return error_set(err, path, 0, 0, key, "must be true or false");
    *dst = json_is_true(v);
    return 0;
}

static int check_types(json_t *root, const char *key, const char *want, int n, const char *path,
                       error_info *err)
{
    json_t *v = json_object_get(root, key), *e;
    size_t i;
    if (!v)
        return 0;
    if (!json_is_array(v) || (int)json_array_size(v) != n)
        return error_set(err, path, 0, 0, key, "must list one block type per block_out_channels entry");
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || strcmp(json_string_value(e), want))
            return error_set(err, path, 0, 0, key, "only %s is supported", want);
    }
    return 0;
}

int vae_config_from_json(vae_config *c, const char *path, error_info *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return error_set(err, path, jerr.line, jerr.column, "", "%s", jerr.text);
    /* diffusers' AutoencoderKL defaults */
    vae_config d = {3, 3, 4, 1, {64}, 1, 32, 1, 1, 1, 32, 0.18215f};
    *c = d;
    int rc = 0;
    json_t *bo = json_object_get(root, "block_out_channels"), *e;
    size_t i;
    if (bo) {
        if (!json_is_array(bo) || json_array_size(bo) < 1 || json_array_size(bo) > VAE_MAX_BLOCKS)
            rc = error_set(err, path, 0, 0, "block_out_channels", "must be a list of 1 to %d integers",
                           VAE_MAX_BLOCKS);
        else {
            c->n_blocks = (int)json_array_size(bo);
            json_array_foreach(bo, i, e) c->block_out[i] = (int)json_integer_value(e);
        }
    }
    if (!rc)
        rc = get_int(root, "in_channels", &c->in_channels, path, err) ||
             get_int(root, "out_channels", &c->out_channels, path, err) ||
             get_int(root, "latent_channels", &c->latent_channels, path, err) ||
             get_int(root, "layers_per_block", &c->layers_per_block, path, err) ||
             get_int(root, "norm_num_groups", &c->norm_num_groups, path, err) ||
             get_bool(root, "use_quant_conv", &c->use_quant_conv, path, err) ||
             get_bool(root, "use_post_quant_conv", &c->use_post_quant_conv, path, err) ||
             get_bool(root, "mid_block_add_attention", &c->mid_attention, path, err) ||
             check_types(root, "down_block_types", "DownEncoderBlock2D", c->n_blocks, path, err) ||
             check_types(root, "up_block_types", "UpDecoderBlock2D", c->n_blocks, path, err) ? -1 : 0;
    json_t *ss = json_object_get(root, "sample_size");
    if (json_is_integer(ss))
        c->sample_size = (int)json_integer_value(ss);
    else if (json_is_array(ss) && json_array_size(ss) > 0)
        c->sample_size = (int)json_integer_value(json_array_get(ss, 0));
    json_t *sf = json_object_get(root, "scaling_factor");
    if (json_is_number(sf))
        c->scaling_factor = (float)json_number_value(sf);
    json_t *act = json_object_get(root, "act_fn");
    if (!rc && act && (!json_is_string(act) || strcmp(json_string_value(act), "silu")))
        rc = error_set(err, path, 0, 0, "act_fn", "only silu is supported");
    json_decref(root);
    if (!rc && vae_config_validate(c, err)) {
        if (err)
            snprintf(err->file, sizeof err->file, "%s", path);
        rc = -1;
    }
    return rc;
}

/* ---- the parameter walk ---- */

typedef struct builder {
    float *params;          /* NULL while only listing */
    vae_param_info *list;
    int n, cap, oom;
    size_t off;
} builder;

static float *take(builder *b, const char *name, int ndim, int64_t s0, int64_t s1, int64_t s2, int64_t s3)
{
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 256;
        vae_param_info *l = realloc(b->list, (size_t)cap * sizeof *l);
        if (!l) {
            b->oom = 1;
            return NULL;
        }
        b->list = l, b->cap = cap;
    }
    vae_param_info *p = &b->list[b->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    int64_t s[4] = {s0, s1, s2, s3};
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++)
        p->shape[i] = s[i], p->numel *= (size_t)s[i];
    p->offset = b->off;
    b->off += p->numel;
    return b->params ? b->params + p->offset : NULL;
}

static void take_conv(builder *b, conv_layer *c, const char *name, int in, int out, int k, int stride, int pad)
{
    char n[128];
    memset(c, 0, sizeof *c);
    c->in = in, c->out = out, c->kernel = k, c->stride = stride, c->pad = pad;
    snprintf(n, sizeof n, "%s.weight", name);
    c->weight = take(b, n, 4, out, in, k, k);
    snprintf(n, sizeof n, "%s.bias", name);
    c->bias = take(b, n, 1, out, 0, 0, 0);
}

static void take_linear(builder *b, linear_layer *l, const char *name, int C)
{
    char n[128];
    memset(l, 0, sizeof *l);
    l->in = l->out = C;
    snprintf(n, sizeof n, "%s.weight", name);
    l->weight = take(b, n, 2, C, C, 0, 0);
    snprintf(n, sizeof n, "%s.bias", name);
    l->bias = take(b, n, 1, C, 0, 0, 0);
}

static void take_norm(builder *b, float **w, float **bias, const char *name, int C)
{
    char n[128];
    snprintf(n, sizeof n, "%s.weight", name);
    *w = take(b, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.bias", name);
    *bias = take(b, n, 1, C, 0, 0, 0);
}

static void take_resnet(builder *b, vae_resnet *r, const char *name, int in, int out, int G)
{
    char n[128];
    memset(r, 0, sizeof *r);
    r->in = in, r->out = out, r->G = G;
    snprintf(n, sizeof n, "%s.norm1", name);
    take_norm(b, &r->n1_w, &r->n1_b, n, in);
    snprintf(n, sizeof n, "%s.conv1", name);
    take_conv(b, &r->conv1, n, in, out, 3, 1, 1);
    snprintf(n, sizeof n, "%s.norm2", name);
    take_norm(b, &r->n2_w, &r->n2_b, n, out);
    snprintf(n, sizeof n, "%s.conv2", name);
    take_conv(b, &r->conv2, n, out, out, 3, 1, 1);
    if (in != out) {
        snprintf(n, sizeof n, "%s.conv_shortcut", name);
        take_conv(b, &r->shortcut, n, in, out, 1, 1, 0);
    }
}

static void take_mid(builder *b, vae_mid *m, const char *name, int C, int G, int attn)
{
    char n[128];
    snprintf(n, sizeof n, "%s.resnets.0", name);
    take_resnet(b, &m->r0, n, C, C, G);
    m->has_attn = attn;
    if (attn) {
        vae_attn *t = &m->attn;
        memset(t, 0, sizeof *t);
        t->C = C, t->G = G;
        snprintf(n, sizeof n, "%s.attentions.0.group_norm", name);
        take_norm(b, &t->gn_w, &t->gn_b, n, C);
        snprintf(n, sizeof n, "%s.attentions.0.to_q", name);
        take_linear(b, &t->q, n, C);
        snprintf(n, sizeof n, "%s.attentions.0.to_k", name);
        take_linear(b, &t->k, n, C);
        snprintf(n, sizeof n, "%s.attentions.0.to_v", name);
        take_linear(b, &t->v, n, C);
        snprintf(n, sizeof n, "%s.attentions.0.to_out.0", name);
        take_linear(b, &t->o, n, C);
    }
    snprintf(n, sizeof n, "%s.resnets.1", name);
    take_resnet(b, &m->r1, n, C, C, G);
}

static void walk(builder *b, vae_model *m, const vae_config *c)
{
    char n[128];
    int G = c->norm_num_groups, nb = c->n_blocks, last = c->block_out[nb - 1];
    vae_coder *e = &m->enc, *d = &m->dec;

    take_conv(b, &e->conv_in, "encoder.conv_in", c->in_channels, c->block_out[0], 3, 1, 1);
    e->n_res = c->layers_per_block;
    for (int i = 0; i < nb; i++) {
        int in = i ? c->block_out[i - 1] : c->block_out[0], out = c->block_out[i];
        for (int j = 0; j < e->n_res; j++) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.resnets.%d", i, j);
            take_resnet(b, &e->res[i][j], n, j ? out : in, out, G);
        }
        e->has_samp[i] = i < nb - 1;
        if (e->has_samp[i]) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            take_conv(b, &e->samp[i].conv, n, out, out, 3, 2, 0);
        }
    }
    take_mid(b, &e->mid, "encoder.mid_block", last, G, c->mid_attention);
    take_norm(b, &e->norm_w, &e->norm_b, "encoder.conv_norm_out", last);
    take_conv(b, &e->conv_out, "encoder.conv_out", last, 2 * c->latent_channels, 3, 1, 1);

    take_conv(b, &d->conv_in, "decoder.conv_in", c->latent_channels, last, 3, 1, 1);
    take_mid(b, &d->mid, "decoder.mid_block", last, G, c->mid_attention);
    d->n_res = c->layers_per_block + 1;
    for (int i = 0; i < nb; i++) {
        int prev = c->block_out[nb - 1 - (i ? i - 1 : 0)], out = c->block_out[nb - 1 - i];
        for (int j = 0; j < d->n_res; j++) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.resnets.%d", i, j);
            take_resnet(b, &d->res[i][j], n, j ? out : prev, out, G);
        }
        d->has_samp[i] = i < nb - 1;
        if (d->has_samp[i]) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            take_conv(b, &d->samp[i].conv, n, out, out, 3, 1, 1);
        }
    }
    take_norm(b, &d->norm_w, &d->norm_b, "decoder.conv_norm_out", c->block_out[0]);
    take_conv(b, &d->conv_out, "decoder.conv_out", c->block_out[0], c->out_channels, 3, 1, 1);

    memset(&m->quant, 0, sizeof m->quant);
    memset(&m->post_quant, 0, sizeof m->post_quant);
    if (c->use_quant_conv)
        take_conv(b, &m->quant, "quant_conv", 2 * c->latent_channels, 2 * c->latent_channels, 1, 1, 0);
    if (c->use_post_quant_conv)
        take_conv(b, &m->post_quant, "post_quant_conv", c->latent_channels, c->latent_channels, 1, 1, 0);
}

int vae_manifest(const vae_config *c, vae_param_info **out, int *count, error_info *err)
{
    if (vae_config_validate(c, err))
        return -1;
    vae_model *tmp = calloc(1, sizeof *tmp);
    builder b = {0};
    if (tmp)
        walk(&b, tmp, c);
    free(tmp);
    if (!tmp || b.oom) {
        free(b.list);
        return error_set(err, "", 0, 0, "", "out of memory listing the VAE parameters");
    }
    *out = b.list;
    *count = b.n;
    return 0;
}

int vae_create(vae_model *m, const vae_config *c, error_info *err)
{
    memset(m, 0, sizeof *m);
    vae_param_info *list;
    int count;
    if (vae_manifest(c, &list, &count, err))
        return -1;
    size_t total = count ? list[count - 1].offset + list[count - 1].numel : 0;
    free(list);
    m->cfg = *c;
    m->n_params = total;
    m->params = calloc(total, sizeof(float));
    if (!m->params)
        return error_set(err, "", 0, 0, "", "out of memory for the VAE parameters (%zu floats)", total);
    builder b = {.params = m->params};
    walk(&b, m, c);
    free(b.list);
    if (b.oom) {
        vae_free(m);
        return error_set(err, "", 0, 0, "", "out of memory building the VAE");
    }
    return 0;
}

int vae_load(vae_model *m, weight_store *ws, error_info *err)
{
    vae_param_info *list;
    int count;
    if (vae_manifest(&m->cfg, &list, &count, err))
        return -1;
    int rc = 0;
    for (int i = 0; i < count && !rc; i++)
        rc = weights_load_f32(ws, list[i].name, m->params + list[i].offset, list[i].ndim, list[i].shape, err);
    free(list);
    return rc;
}
