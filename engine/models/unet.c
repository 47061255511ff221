/* unet.c — the U-Net's parameters: one walk over the architecture (in diffusers' module order)
 * that names every tensor, lays it out in the flat buffer, wires the layer structs and records
 * each LoRA injection point under its kohya name. The same walk without a buffer gives the
 * manifest a checkpoint loader checks keys against. */
#include "engine/models/unet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 112

/* Module paths are short; a longer one would be cut and then fail to load, loudly. */
static void fmt(char *dst, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(dst, NAME_MAX_LEN, f, ap);
    va_end(ap);
}

typedef struct walker {
    const unet_config *c;
    float *base;             /* NULL: only lay out */
    size_t used;
    unet_param_info *man;
    size_t n_man, cap_man;
    unet_lora_point *pts;
    size_t n_pts, cap_pts;
    unet_tblock *tblocks;
    size_t n_tblocks;
    int oom;
    unet_norm_point *norms;
    size_t n_norms, cap_norms;
} walker;

static const float *reg(walker *w, const char *prefix, const char *suffix, int ndim, int64_t s0,
                        int64_t s1, int64_t s2, int64_t s3)
{
    if (w->n_man == w->cap_man) {
        size_t cap = w->cap_man ? 2 * w->cap_man : 256;
        unet_param_info *p = realloc(w->man, cap * sizeof *p);
        if (!p) {
            w->oom = 1;
            return NULL;
        }
        w->man = p;
        w->cap_man = cap;
    }
    unet_param_info *e = &w->man[w->n_man++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s%s", prefix, suffix);
    int64_t s[4] = {s0, s1, s2, s3};
    size_t n = 1;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = s[i];
        n *= (size_t)s[i];
    }
    e->offset = w->used;
    w->used += n;
    return w->base ? w->base + e->offset : NULL;
}

/* kohya name: "lora_unet_" + module path with dots as underscores. */
static void add_point(walker *w, const char *path, unet_lora_kind kind, int in, int out, int k,
                      int conv_block, linear_layer *l, conv_layer *cv, int div)
{
    if (w->n_pts == w->cap_pts) {
        size_t cap = w->cap_pts ? 2 * w->cap_pts : 128;
        unet_lora_point *p = realloc(w->pts, cap * sizeof *p);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->pts = p;
        w->cap_pts = cap;
    }
    unet_lora_point *p = &w->pts[w->n_pts++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "lora_unet_%s", path);
    for (char *q = p->name; *q; q++)
        if (*q == '.')
            *q = '_';
    p->kind = kind;
    p->in = in;
    p->out = out;
    p->kernel = k;
    p->conv_block = conv_block;
    p->linear = l;
    p->conv = cv;
    p->lora = l ? &l->lora : &cv->lora;
    p->spatial_div = div;
}

/* dname: diffusers module path; lname: the LDM path (for SDXL kohya names); lora: 0 not a
 * target, 1 transformer child, 2 conv-block child. */
static void lin(walker *w, linear_layer *l, const char *dname, const char *lname, int in, int out,
                int bias, int lora, int div)
{
    char p[112];
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    fmt(p, "%s.", dname);
    l->weight = reg(w, p, "weight", 2, out, in, 0, 0);
    if (bias)
        l->bias = reg(w, p, "bias", 1, out, 0, 0, 0);
    if (lora)
        add_point(w, w->c->ldm_lora_names ? lname : dname, UNET_LORA_LINEAR, in, out, 1, lora == 2,
                  l, NULL, div);
}

static void conv(walker *w, conv_layer *cv, const char *dname, const char *lname, int in, int out,
                 int k, int stride, int lora, int div)
{
    char p[112];
    memset(cv, 0, sizeof *cv);
    cv->in = in;
    cv->out = out;
    cv->kernel = k;
    cv->stride = stride;
    cv->pad = k / 2;
    fmt(p, "%s.", dname);
    cv->weight = reg(w, p, "weight", 4, out, in, k, k);
    cv->bias = reg(w, p, "bias", 1, out, 0, 0, 0);
    if (lora)
        add_point(w, w->c->ldm_lora_names ? lname : dname, UNET_LORA_CONV, in, out, k, lora == 2,
                  NULL, cv, div);
}

/* lora: 0 not inside a targeted module, 1 a transformer's, 2 a ResNet's (its norm point). */
static void norm(walker *w, const float **wt, const float **b, float **dwt, float **db, const char *dname,
                 const char *lname, int C, int lora)
{
    char p[112];
    fmt(p, "%s.", dname);
    *wt = reg(w, p, "weight", 1, C, 0, 0, 0);
    *b = reg(w, p, "bias", 1, C, 0, 0, 0);
    if (!lora)
        return;
    if (w->n_norms == w->cap_norms) {
        size_t cap = w->cap_norms ? 2 * w->cap_norms : 64;
        unet_norm_point *q = realloc(w->norms, cap * sizeof *q);
        if (!q) {
            w->oom = 1;
            return;
        }
        w->norms = q;
        w->cap_norms = cap;
    }
    unet_norm_point *q = &w->norms[w->n_norms++];
    memset(q, 0, sizeof *q);
    snprintf(q->name, sizeof q->name, "lora_unet_%s", w->c->ldm_lora_names ? lname : dname);
    for (char *c = q->name; *c; c++)
        if (*c == '.')
            *c = '_';
    q->channels = C;
    q->conv_block = lora == 2;
    q->weight = wt, q->bias = b, q->dweight = dwt, q->dbias = db;
}

static void resnet(walker *w, unet_resnet *r, const char *d, const char *l, int in, int out, int div)
{
    char dn[112], ln[112];
    r->in = in;
    r->out = out;
    fmt(dn, "%s.norm1", d);
    fmt(ln, "%s.in_layers.0", l);
    norm(w, &r->norm1_w, &r->norm1_b, &r->dnorm1_w, &r->dnorm1_b, dn, ln, in, 2);
    fmt(dn, "%s.conv1", d);
    fmt(ln, "%s.in_layers.2", l);
    conv(w, &r->conv1, dn, ln, in, out, 3, 1, 2, div);
    fmt(dn, "%s.time_emb_proj", d);
    fmt(ln, "%s.emb_layers.1", l);
    lin(w, &r->time_emb_proj, dn, ln, w->c->time_embed_dim, out, 1, 2, -1);
    fmt(dn, "%s.norm2", d);
    fmt(ln, "%s.out_layers.0", l);
    norm(w, &r->norm2_w, &r->norm2_b, &r->dnorm2_w, &r->dnorm2_b, dn, ln, out, 2);
    fmt(dn, "%s.conv2", d);
    fmt(ln, "%s.out_layers.3", l);
    conv(w, &r->conv2, dn, ln, out, out, 3, 1, 2, div);
    memset(&r->shortcut, 0, sizeof r->shortcut);
    if (in != out) {
        fmt(dn, "%s.conv_shortcut", d);
        fmt(ln, "%s.skip_connection", l);
        conv(w, &r->shortcut, dn, ln, in, out, 1, 1, 2, div);
    }
}

static void tblock(walker *w, unet_tblock *b, const char *d, const char *l, int C, int div)
{
    char dn[112], ln[112];
    int ctx = w->c->cross_attention_dim;
    static const char *names[4] = {"to_q", "to_k", "to_v", "to_out.0"};
    for (int a = 0; a < 2; a++) {
        fmt(dn, "%s.norm%d", d, a + 1);
        fmt(ln, "%s.norm%d", l, a + 1);
        norm(w, a ? &b->norm2_w : &b->norm1_w, a ? &b->norm2_b : &b->norm1_b, a ? &b->dnorm2_w : &b->dnorm1_w,
             a ? &b->dnorm2_b : &b->dnorm1_b, dn, ln, C, 1);
        linear_layer *ls[4] = {a ? &b->q2 : &b->q1, a ? &b->k2 : &b->k1, a ? &b->v2 : &b->v1,
                               a ? &b->o2 : &b->o1};
        for (int i = 0; i < 4; i++) {
            int kv = a == 1 && (i == 1 || i == 2);   /* attn2 keys and values read the context */
            fmt(dn, "%s.attn%d.%s", d, a + 1, names[i]);
            fmt(ln, "%s.attn%d.%s", l, a + 1, names[i]);
            lin(w, ls[i], dn, ln, kv ? ctx : C, C, i == 3, 1, kv ? 0 : div);
        }
    }
    fmt(dn, "%s.norm3", d);
    fmt(ln, "%s.norm3", l);
    norm(w, &b->norm3_w, &b->norm3_b, &b->dnorm3_w, &b->dnorm3_b, dn, ln, C, 1);
    fmt(dn, "%s.ff.net.0.proj", d);
    fmt(ln, "%s.ff.net.0.proj", l);
    lin(w, &b->ff1, dn, ln, C, 8 * C, 1, 1, div);
    fmt(dn, "%s.ff.net.2", d);
    fmt(ln, "%s.ff.net.2", l);
    lin(w, &b->ff2, dn, ln, 4 * C, C, 1, 1, div);
}

static void transformer(walker *w, unet_transformer *t, const char *d, const char *l, int C,
                        int heads, int depth, int div)
{
    char dn[112], ln[112];
    t->channels = C;
    t->heads = heads;
    t->depth = depth;
    fmt(dn, "%s.norm", d);
    fmt(ln, "%s.norm", l);
    norm(w, &t->norm_w, &t->norm_b, &t->dnorm_w, &t->dnorm_b, dn, ln, C, 1);
    int linear = t->linear = w->c->use_linear_projection;
    for (int io = 0; io < 2; io++) {
        const char *what = io ? "proj_out" : "proj_in";
        fmt(dn, "%s.%s", d, what);
        fmt(ln, "%s.%s", l, what);
        if (!io) {   /* proj_in before the blocks, in diffusers' module order */
            if (linear)
                lin(w, &t->proj_in_l, dn, ln, C, C, 1, 1, div);
            else
                conv(w, &t->proj_in_c, dn, ln, C, C, 1, 1, 1, div);
            t->blocks = w->tblocks + w->n_tblocks;
            w->n_tblocks += (size_t)depth;
            for (int k = 0; k < depth; k++) {
                char db[112], lb[112];
                fmt(db, "%s.transformer_blocks.%d", d, k);
                fmt(lb, "%s.transformer_blocks.%d", l, k);
                tblock(w, &t->blocks[k], db, lb, C, div);
            }
        } else if (linear) {
            lin(w, &t->proj_out_l, dn, ln, C, C, 1, 1, div);
        } else {
            conv(w, &t->proj_out_c, dn, ln, C, C, 1, 1, 1, div);
        }
    }
}

static size_t count_tblocks(const unet_config *c)
{
    size_t n = (size_t)c->transformer_layers[c->levels - 1];   /* mid */
    for (int i = 0; i < c->levels; i++) {
        int li = c->levels - 1 - i;
        if (c->down_attn[i])
            n += (size_t)c->layers_per_block[i] * (size_t)c->transformer_layers[i];
        if (c->up_attn[i])
            n += (size_t)(c->layers_per_block[li] + 1) * (size_t)c->up_transformer_layers[i];
    }
    return n;
}

static void walk(walker *w, unet_model *m)
{
    const unet_config *c = w->c;
    int n = c->levels, T = c->time_embed_dim, b0 = c->block_out[0];
    char d[112], l[112];
    int skip[UNET_MAX_LEVELS * (UNET_MAX_LAYERS + 1) + 1], n_skip = 0;
    conv(w, &m->conv_in, "conv_in", "input_blocks.0.0", c->in_channels, b0, 3, 1, 0, 1);
    skip[n_skip++] = b0;
    lin(w, &m->time_1, "time_embedding.linear_1", "time_embed.0", b0, T, 1, 0, -1);
    lin(w, &m->time_2, "time_embedding.linear_2", "time_embed.2", T, T, 1, 0, -1);
    if (c->text_time) {
        lin(w, &m->add_1, "add_embedding.linear_1", "label_emb.0.0",
            c->projection_class_embeddings_input_dim, T, 1, 0, -1);
        lin(w, &m->add_2, "add_embedding.linear_2", "label_emb.0.2", T, T, 1, 0, -1);
    }
    int ldm = 1, cin = b0;
    for (int i = 0; i < n; i++) {
        unet_level *lv = &m->down[i];
        int cout = c->block_out[i], div = 1 << i;
        lv->n_res = c->layers_per_block[i];
        lv->has_attn = c->down_attn[i];
        lv->has_sampler = i < n - 1;
        for (int j = 0; j < lv->n_res; j++, ldm++) {
            fmt(d, "down_blocks.%d.resnets.%d", i, j);
            fmt(l, "input_blocks.%d.0", ldm);
            resnet(w, &lv->res[j], d, l, j ? cout : cin, cout, div);
            if (lv->has_attn) {
                fmt(d, "down_blocks.%d.attentions.%d", i, j);
                fmt(l, "input_blocks.%d.1", ldm);
                transformer(w, &lv->attn[j], d, l, cout, c->heads[i], c->transformer_layers[i], div);
            }
            skip[n_skip++] = cout;
        }
        if (lv->has_sampler) {
            fmt(d, "down_blocks.%d.downsamplers.0.conv", i);
            fmt(l, "input_blocks.%d.0.op", ldm++);
            conv(w, &lv->sampler, d, l, cout, cout, 3, 2, 2, div * 2);
            skip[n_skip++] = cout;
        }
        cin = cout;
    }
    int ctop = c->block_out[n - 1], divtop = 1 << (n - 1);
    resnet(w, &m->mid_res[0], "mid_block.resnets.0", "middle_block.0", ctop, ctop, divtop);
    transformer(w, &m->mid_attn, "mid_block.attentions.0", "middle_block.1", ctop, c->heads[n - 1],
                c->transformer_layers[n - 1], divtop);
    resnet(w, &m->mid_res[1], "mid_block.resnets.1", "middle_block.2", ctop, ctop, divtop);
    int prev = ctop;
    ldm = 0;
    for (int i = 0; i < n; i++) {
        int li = n - 1 - i, cout = c->block_out[li], div = 1 << li;
        unet_level *lv = &m->up[i];
        lv->n_res = c->layers_per_block[li] + 1;
        lv->has_attn = c->up_attn[i];
        lv->has_sampler = i < n - 1;
        for (int j = 0; j < lv->n_res; j++, ldm++) {
            int sk = n_skip > 0 ? skip[--n_skip] : 0;
            fmt(d, "up_blocks.%d.resnets.%d", i, j);
            fmt(l, "output_blocks.%d.0", ldm);
            resnet(w, &lv->res[j], d, l, (j ? cout : prev) + sk, cout, div);
            if (lv->has_attn) {
                fmt(d, "up_blocks.%d.attentions.%d", i, j);
                fmt(l, "output_blocks.%d.1", ldm);
                transformer(w, &lv->attn[j], d, l, cout, c->heads[li], c->up_transformer_layers[i], div);
            }
        }
        if (lv->has_sampler) {
            fmt(d, "up_blocks.%d.upsamplers.0.conv", i);
            fmt(l, "output_blocks.%d.%d.conv", ldm - 1, lv->has_attn ? 2 : 1);
            conv(w, &lv->sampler, d, l, cout, cout, 3, 1, 2, div / 2);
        }
        prev = cout;
    }
    norm(w, &m->norm_out_w, &m->norm_out_b, &m->dnorm_out_w, &m->dnorm_out_b, "conv_norm_out", "out.0", b0, 0);
    conv(w, &m->conv_out, "conv_out", "out.2", b0, c->out_channels, 3, 1, 0, 1);
}

static int walk_into(walker *w, unet_model *m, const unet_config *c, float *base, error_info *err)
{
    memset(w, 0, sizeof *w);
    w->c = c;
    w->base = base;
    w->tblocks = m->tblock_storage;
    walk(w, m);
    if (w->oom) {
        free(w->man);
        free(w->pts);
        free(w->norms);
        return error_set(err, NULL, 0, 0, "", "UNet: out of memory listing parameters");
    }
    return 0;
}

int unet_param_manifest(const unet_config *c, unet_param_info **out, size_t *count, error_info *err)
{
    unet_model *m = calloc(1, sizeof *m);
    if (m)
        m->tblock_storage = calloc(count_tblocks(c), sizeof *m->tblock_storage);
    if (!m || !m->tblock_storage) {
        free(m);
        return error_set(err, NULL, 0, 0, "", "UNet: out of memory listing parameters");
    }
    walker w;
    int rc = walk_into(&w, m, c, NULL, err);
    free(m->tblock_storage);
    free(m);
    if (rc)
        return rc;
    free(w.pts);
    free(w.norms);
    *out = w.man;
    *count = w.n_man;
    return 0;
}

static int build(unet_model *m, const unet_config *c, int allocate, error_info *err)
{
    memset(m, 0, sizeof *m);
    m->config = *c;
    m->tblock_storage = calloc(count_tblocks(c), sizeof *m->tblock_storage);
    if (!m->tblock_storage)
        return error_set(err, NULL, 0, 0, "", "UNet: out of memory");
    walker w;
    if (walk_into(&w, m, &m->config, NULL, err))
        goto fail;
    if (allocate) {
        size_t n = w.used;
        free(w.man);
        free(w.pts);
        free(w.norms);
        m->params = calloc(n ? n : 1, sizeof *m->params);
        if (!m->params) {
            error_set(err, NULL, 0, 0, "", "UNet: cannot allocate %zu parameters", n);
            goto fail;
        }
        if (walk_into(&w, m, &m->config, m->params, err))
            goto fail;
    }
    m->n_params = w.used;
    m->manifest = w.man;
    m->n_manifest = w.n_man;
    m->points = w.pts;
    m->n_points = w.n_pts;
    m->norm_points = w.norms;
    m->n_norm_points = w.n_norms;
    return 0;
fail:
    unet_free(m);
    return -1;
}

int unet_build(unet_model *m, const unet_config *c, error_info *err)
{
    return build(m, c, 1, err);
}

int unet_build_layout(unet_model *m, const unet_config *c, error_info *err)
{
    return build(m, c, 0, err);
}

int unet_load(unet_model *m, weight_store *ws, error_info *err)
{
    for (size_t i = 0; i < m->n_manifest; i++) {
        const unet_param_info *p = &m->manifest[i];
        if (weights_load_f32(ws, p->name, m->params + p->offset, p->ndim, p->shape, err))
            return -1;
    }
    return 0;
}

void unet_free(unet_model *m)
{
    free(m->params);
    free(m->manifest);
    free(m->points);
    free(m->norm_points);
    free(m->tblock_storage);
    memset(m, 0, sizeof *m);
}

const unet_lora_point *unet_find_lora_point(const unet_model *m, const char *kohya_name)
{
    for (size_t i = 0; i < m->n_points; i++)
        if (!strcmp(m->points[i].name, kohya_name))
            return &m->points[i];
    return NULL;
}

size_t unet_lora_hidden_floats(const unet_model *m, size_t i, int rank, int B, int H, int W, int T)
{
    const unet_lora_point *p = &m->points[i];
    size_t rows;
    if (p->spatial_div > 0)
        rows = (size_t)(H / p->spatial_div) * (size_t)(W / p->spatial_div);
    else
        rows = p->spatial_div == 0 ? (size_t)T : 1;
    return (size_t)B * rows * (size_t)rank;
}
