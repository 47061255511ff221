/* param_grads.c — full-parameter gradients for the U-Net and the CLIP text encoder, for
 * fine-tuning whole models or training a small one from scratch rather than LoRA adapters.
 *
 * The gradient of a parameter at params + i lives at grads + i, so the gradient buffer has the
 * manifest's layout and an optimizer can walk both buffers side by side. Enabling points every
 * layer's dweight/dbias and every norm's d-pointer into grads; the backward passes hand those
 * to the kernels, which accumulate (+=) and skip NULL, so with grads NULL the backward runs
 * exactly the frozen-base code of LoRA training. Each walk counts the floats it wires and
 * must reach the size of the parameter buffer: a tensor added to a model but not here fails
 * loudly instead of silently getting no gradient. */
#include <stddef.h>

#include "engine/models/clip.h"
#include "engine/models/unet.h"

typedef struct wiring {
    const float *params;
    float *grads;      /* NULL: clear */
    size_t wired;      /* floats given a gradient */
} wiring;

static float *grad_of(wiring *w, const float *p, size_t n)
{
    if (!p)
        return NULL;
    w->wired += n;
    return w->grads ? w->grads + (p - w->params) : NULL;
}

static void wire_linear(wiring *w, linear_layer *l)
{
    l->dweight = grad_of(w, l->weight, (size_t)l->out * l->in);
    l->dbias = grad_of(w, l->bias, (size_t)l->out);
}

static void wire_conv(wiring *w, conv_layer *c)
{
    c->dweight = grad_of(w, c->weight, (size_t)c->out * c->in * c->kernel * c->kernel);
    c->dbias = grad_of(w, c->bias, (size_t)c->out);
}

/* ---- U-Net ---- */

static void wire_resnet(wiring *w, unet_resnet *r)
{
    r->dnorm1_w = grad_of(w, r->norm1_w, (size_t)r->in);
    r->dnorm1_b = grad_of(w, r->norm1_b, (size_t)r->in);
    wire_conv(w, &r->conv1);
    wire_linear(w, &r->time_emb_proj);
    r->dnorm2_w = grad_of(w, r->norm2_w, (size_t)r->out);
    r->dnorm2_b = grad_of(w, r->norm2_b, (size_t)r->out);
    wire_conv(w, &r->conv2);
    if (r->in != r->out)
        wire_conv(w, &r->shortcut);
}

static void wire_transformer(wiring *w, unet_transformer *t)
{
    size_t C = (size_t)t->channels;
    t->dnorm_w = grad_of(w, t->norm_w, C);
    t->dnorm_b = grad_of(w, t->norm_b, C);
    if (t->linear) {
        wire_linear(w, &t->proj_in_l);
        wire_linear(w, &t->proj_out_l);
    } else {
        wire_conv(w, &t->proj_in_c);
        wire_conv(w, &t->proj_out_c);
    }
    for (int d = 0; d < t->depth; d++) {
        unet_tblock *k = &t->blocks[d];
        k->dnorm1_w = grad_of(w, k->norm1_w, C);
        k->dnorm1_b = grad_of(w, k->norm1_b, C);
        k->dnorm2_w = grad_of(w, k->norm2_w, C);
        k->dnorm2_b = grad_of(w, k->norm2_b, C);
        k->dnorm3_w = grad_of(w, k->norm3_w, C);
        k->dnorm3_b = grad_of(w, k->norm3_b, C);
        linear_layer *ls[10] = {&k->q1, &k->k1, &k->v1, &k->o1, &k->q2, &k->k2, &k->v2, &k->o2,
                                &k->ff1, &k->ff2};
        for (int i = 0; i < 10; i++)
            wire_linear(w, ls[i]);
    }
}

static void wire_level(wiring *w, unet_level *lv)
{
    for (int j = 0; j < lv->n_res; j++) {
        wire_resnet(w, &lv->res[j]);
        if (lv->has_attn)
            wire_transformer(w, &lv->attn[j]);
    }
    if (lv->has_sampler)
        wire_conv(w, &lv->sampler);
}

int unet_set_param_grads(unet_model *m, float *grads)
{
    if (grads && !m->params)
        return -1;
    wiring w = {m->params, grads, 0};
    wire_conv(&w, &m->conv_in);
    wire_linear(&w, &m->time_1);
    wire_linear(&w, &m->time_2);
    if (m->config.text_time) {
        wire_linear(&w, &m->add_1);
        wire_linear(&w, &m->add_2);
    }
    for (int i = 0; i < m->config.levels; i++) {
        wire_level(&w, &m->down[i]);
        wire_level(&w, &m->up[i]);
    }
    wire_resnet(&w, &m->mid_res[0]);
    wire_transformer(&w, &m->mid_attn);
    wire_resnet(&w, &m->mid_res[1]);
    m->dnorm_out_w = grad_of(&w, m->norm_out_w, (size_t)m->config.block_out[0]);
    m->dnorm_out_b = grad_of(&w, m->norm_out_b, (size_t)m->config.block_out[0]);
    wire_conv(&w, &m->conv_out);
    m->param_grads = grads;
    if (grads && w.wired != m->n_params) {   /* a tensor the walk does not know */
        unet_set_param_grads(m, NULL);
        return -1;
    }
    return 0;
}

/* ---- CLIP ---- */

int clip_set_param_grads(clip_model *m, float *grads)
{
    const clip_config *c = &m->cfg;
    size_t C = (size_t)c->hidden_size;
    if (grads && (!m->params || !m->blocks))
        return -1;
    wiring w = {m->params, grads, 0};
    if (m->params) {
        m->dtok_emb = grad_of(&w, m->tok_emb, (size_t)c->vocab_size * C);
        m->dpos_emb = grad_of(&w, m->pos_emb, (size_t)c->max_positions * C);
        m->dfinal_ln_w = grad_of(&w, m->final_ln_w, C);
        m->dfinal_ln_b = grad_of(&w, m->final_ln_b, C);
        m->dtext_proj = c->projection_dim > 0 ? grad_of(&w, m->text_proj, (size_t)c->projection_dim * C) : NULL;
    }
    for (int l = 0; m->blocks && l < c->num_layers; l++) {
        clip_block *b = &m->blocks[l];
        linear_layer *ls[6] = {&b->q, &b->k, &b->v, &b->o, &b->fc1, &b->fc2};
        for (int i = 0; i < 6; i++)
            wire_linear(&w, ls[i]);
        b->dln1_w = grad_of(&w, b->ln1_w, C);
        b->dln1_b = grad_of(&w, b->ln1_b, C);
        b->dln2_w = grad_of(&w, b->ln2_w, C);
        b->dln2_b = grad_of(&w, b->ln2_b, C);
    }
    m->param_grads = grads;
    if (grads && w.wired != clip_param_floats(c)) {
        clip_set_param_grads(m, NULL);
        return -1;
    }
    return 0;
}
