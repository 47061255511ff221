/* clip.c — CLIP text encoder forward and backward over a planned activation arena; see
 * clip.h. Per layer (pre-LN, as transformers' CLIPEncoderLayer):
 *     mid  = x + out_proj(causal_attn(q, k, v of layer_norm1(x)))
 *     x'   = mid + fc2(act(fc1(layer_norm2(mid))))
 * Every intermediate of every layer is kept for the backward (the text encoders are small
 * next to the U-Net: bigG at 77 tokens is ~20 MB of activations per sample). */
#include "engine/models/clip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *A(const clip_model *m, int id)
{
    return arena_get(&m->acts, id);
}

static void free_plan(clip_model *m)
{
    arena_free(&m->acts);
    free(m->ids_res);
    free(m->pool_pos);
    free(m->ids);
    m->ids_res = NULL;
    m->pool_pos = NULL;
    m->ids = NULL;
    m->planned = 0;
}

void clip_free(clip_model *m)
{
    free_plan(m);
    clip_set_param_grads(m, NULL);
    free(m->params);
    free(m->blocks);
    m->params = NULL;
    m->blocks = NULL;
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

int clip_plan(clip_model *m, int max_B, int max_T, error_info *err)
{
    free_plan(m);
    const clip_config *c = &m->cfg;
    if (max_B <= 0 || max_T <= 0 || max_T > c->max_positions)
        return error_set(err, "", 0, 0, "", "CLIP: batch %d x %d tokens is outside 1..%d tokens", max_B,
                         max_T, c->max_positions);
    int L = c->num_layers;
    size_t BT = (size_t)max_B * max_T, C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    /* one allocation for the 13 per-layer id tables (res has L + 1 entries) */
    m->ids_res = calloc((size_t)13 * (L + 1), sizeof(int));
    m->pool_pos = calloc((size_t)max_B, sizeof(int32_t));
    m->ids = calloc((size_t)max_B * max_T, sizeof(int32_t));
    if (!m->ids_res || !m->pool_pos || !m->ids) {
        free_plan(m);
        return error_set(err, "", 0, 0, "", "out of memory planning the CLIP activations");
    }
    int **tables[] = {&m->ids_ln1, &m->ids_ln1s, &m->ids_q, &m->ids_k, &m->ids_v, &m->ids_att,
                      &m->ids_lse, &m->ids_mid, &m->ids_ln2, &m->ids_ln2s, &m->ids_fc1, &m->ids_actv};
    for (int t = 0; t < 12; t++)
        *tables[t] = m->ids_res + (size_t)(t + 1) * (L + 1);

    arena *a = &m->acts;
    arena_init(a, K_CPU);
    char name[ARENA_NAME_MAX];
    int H = c->num_heads;
    for (int l = 0; l <= L; l++) {
        snprintf(name, sizeof name, "clip.hidden_states.%d", l);
        m->ids_res[l] = arena_request(a, name, BT * C);
        if (l == L)
            break;
        const struct { int *id; const char *what; size_t n; } reqs[] = {
            {&m->ids_ln1[l], "ln1", BT * C},  {&m->ids_ln1s[l], "ln1.stats", 2 * BT},
            {&m->ids_q[l], "q", BT * C},      {&m->ids_k[l], "k", BT * C},
            {&m->ids_v[l], "v", BT * C},      {&m->ids_att[l], "attn", BT * C},
            {&m->ids_lse[l], "lse", (size_t)max_B * H * max_T},
            {&m->ids_mid[l], "mid", BT * C},  {&m->ids_ln2[l], "ln2", BT * C},
            {&m->ids_ln2s[l], "ln2.stats", 2 * BT}, {&m->ids_fc1[l], "fc1", BT * I},
            {&m->ids_actv[l], "act", BT * I},
        };
        for (size_t r = 0; r < sizeof reqs / sizeof reqs[0]; r++) {
            snprintf(name, sizeof name, "clip.%d.%s", l, reqs[r].what);
            *reqs[r].id = arena_request(a, name, reqs[r].n);
        }
    }
    m->id_fin = arena_request(a, "clip.final_ln", BT * C);
    m->id_fins = arena_request(a, "clip.final_ln.stats", 2 * BT);
    m->id_sel = arena_request(a, "clip.output", BT * C);
    m->id_sels = arena_request(a, "clip.output.stats", 2 * BT);
    m->id_pooled = arena_request(a, "clip.pooled", (size_t)max_B * C);
    m->id_proj = arena_request(a, "clip.text_embeds", (size_t)max_B * (size_t)(c->projection_dim + 1));

    /* adapters' kept down-projections, and scratch for the largest linear or attention call */
    clip_lora_target *targets = calloc((size_t)6 * L, sizeof *targets);
    int *hid_ids = calloc((size_t)6 * L, sizeof(int));
    if (!targets || !hid_ids) {
        free(targets);
        free(hid_ids);
        free_plan(m);
        return error_set(err, "", 0, 0, "", "out of memory planning the CLIP activations");
    }
    int n = clip_lora_targets(m, targets, 6 * L);
    k_attn_dims ad = {max_B, max_T, max_T, H, c->hidden_size / H, 1, 0.0f, 0, 0};
    size_t scratch = k_attention_scratch_floats(&ad);
    for (int i = 0; i < n; i++) {
        linear_layer *ll = targets[i].layer;
        scratch = max_sz(scratch, linear_layer_scratch_floats(ll, (int)BT));
        hid_ids[i] = -1;
        if (ll->lora) {
            snprintf(name, sizeof name, "clip.lora.%d.hidden", i);
            hid_ids[i] = arena_request(a, name, BT * (size_t)ll->lora->rank);
        }
    }
    m->id_scratch = arena_request(a, "clip.scratch", scratch + 1);
    m->id_d[0] = arena_request(a, "clip.grad.a", BT * C);
    m->id_d[1] = arena_request(a, "clip.grad.b", BT * C);
    m->id_dln = arena_request(a, "clip.grad.ln", BT * C);
    m->id_dq = arena_request(a, "clip.grad.q", BT * C);
    m->id_dk = arena_request(a, "clip.grad.k", BT * C);
    m->id_dv = arena_request(a, "clip.grad.v", BT * C);
    m->id_datt = arena_request(a, "clip.grad.attn", BT * C);
    m->id_di1 = arena_request(a, "clip.grad.mlp.a", BT * I);
    m->id_di2 = arena_request(a, "clip.grad.mlp.b", BT * I);
    m->id_dpool = arena_request(a, "clip.grad.pooled", (size_t)max_B * C);
    int rc = arena_commit(a, err);
    if (rc == 0)
        for (int i = 0; i < n; i++)
            if (hid_ids[i] >= 0)
                targets[i].layer->lora->hidden = A(m, hid_ids[i]);
    free(targets);
    free(hid_ids);
    if (rc) {
        free_plan(m);
        return -1;
    }
    m->max_B = max_B, m->max_T = max_T, m->planned = 1;
    return 0;
}

static void act_forward(const clip_config *c, float *out, const float *inp, size_t n)
{
    if (c->act == CLIP_ACT_GELU)
        k_gelu_forward(out, inp, n);
    else
        k_quick_gelu_forward(out, inp, n);
}

static void act_backward(const clip_config *c, float *dinp, const float *dout, const float *inp, size_t n)
{
    if (c->act == CLIP_ACT_GELU)
        k_gelu_backward(dinp, dout, inp, n);
    else
        k_quick_gelu_backward(dinp, dout, inp, n);
}

static void block_forward(clip_model *m, int l, int B, int T)
{
    const clip_config *c = &m->cfg;
    const clip_block *b = &m->blocks[l];
    int BT = B * T, C = c->hidden_size;
    size_t nC = (size_t)BT * C, nI = (size_t)BT * c->intermediate_size;
    float *x = A(m, m->ids_res[l]), *xo = A(m, m->ids_res[l + 1]), *sc = A(m, m->id_scratch);
    float *ln1 = A(m, m->ids_ln1[l]), *s1 = A(m, m->ids_ln1s[l]);
    float *q = A(m, m->ids_q[l]), *k = A(m, m->ids_k[l]), *v = A(m, m->ids_v[l]);
    float *att = A(m, m->ids_att[l]), *lse = A(m, m->ids_lse[l]), *mid = A(m, m->ids_mid[l]);
    float *ln2 = A(m, m->ids_ln2[l]), *s2 = A(m, m->ids_ln2s[l]);
    float *fc1 = A(m, m->ids_fc1[l]), *actv = A(m, m->ids_actv[l]);
    k_attn_dims ad = {B, T, T, c->num_heads, C / c->num_heads, 1, 0.0f, 0, 0};

    k_layernorm_forward(ln1, s1, s1 + BT, x, b->ln1_w, b->ln1_b, BT, C, c->layer_norm_eps);
    linear_layer_forward(&b->q, q, ln1, BT, sc);
    linear_layer_forward(&b->k, k, ln1, BT, sc);
    linear_layer_forward(&b->v, v, ln1, BT, sc);
    k_attention_forward(att, lse, q, k, v, sc, &ad);
    linear_layer_forward(&b->o, mid, att, BT, sc);
    k_add_forward(mid, mid, x, nC);
    k_layernorm_forward(ln2, s2, s2 + BT, mid, b->ln2_w, b->ln2_b, BT, C, c->layer_norm_eps);
    linear_layer_forward(&b->fc1, fc1, ln2, BT, sc);
    act_forward(c, actv, fc1, nI);
    linear_layer_forward(&b->fc2, xo, actv, BT, sc);
    k_add_forward(xo, xo, mid, nC);
}

int clip_forward(clip_model *m, const int32_t *ids, int B, int T, const clip_select *sel,
                 error_info *err)
{
    const clip_config *c = &m->cfg;
    int L = c->num_layers, C = c->hidden_size;
    if (!m->planned || B > m->max_B || T > m->max_T || B <= 0 || T <= 0)
        return error_set(err, "", 0, 0, "", "CLIP: batch %d x %d tokens exceeds the planned %d x %d", B, T,
                         m->max_B, m->max_T);
    int index = sel->index < 0 ? sel->index + L + 1 : sel->index;
    if (index < 0 || index > L)
        return error_set(err, "", 0, 0, "", "CLIP: hidden state %d does not exist (%d layers)", sel->index, L);
    m->B = B, m->T = T;
    m->sel = *sel;
    m->sel.index = index;
    m->layers_run = sel->pooled ? L : index;
    int BT = B * T;

    if (k_embedding_forward(A(m, m->ids_res[0]), ids, m->tok_emb, m->pos_emb, B, T, C, c->vocab_size))
        return error_set(err, "", 0, 0, "", "CLIP: a token id is outside the vocabulary of %d", c->vocab_size);
    memcpy(m->ids, ids, (size_t)BT * sizeof *ids);   /* the token embedding's backward */
    for (int l = 0; l < m->layers_run; l++)
        block_forward(m, l, B, T);

    float *h = A(m, m->ids_res[index]);
    if (sel->final_ln) {
        float *s = A(m, m->id_sels);
        m->out = A(m, m->id_sel);
        k_layernorm_forward(m->out, s, s + BT, h, m->final_ln_w, m->final_ln_b, BT, C, c->layer_norm_eps);
    } else {
        m->out = h;
    }
    m->pooled = m->text_embeds = NULL;
    if (sel->pooled) {
        float *fin = A(m, m->id_fin), *s = A(m, m->id_fins);
        k_layernorm_forward(fin, s, s + BT, A(m, m->ids_res[L]), m->final_ln_w, m->final_ln_b, BT, C,
                            c->layer_norm_eps);
        clip_pool_positions(c, ids, B, T, m->pool_pos);
        m->pooled = A(m, m->id_pooled);
        for (int b = 0; b < B; b++)
            memcpy(m->pooled + (size_t)b * C, fin + ((size_t)b * T + m->pool_pos[b]) * C, C * sizeof(float));
        if (c->projection_dim > 0) {
            m->text_embeds = A(m, m->id_proj);
            k_linear_forward(m->text_embeds, m->pooled, m->text_proj, NULL, B, C, c->projection_dim);
        }
    }
    return 0;
}

/* dx (grad of hidden_states[l + 1]) -> dprev (grad of hidden_states[l], overwritten). */
static void block_backward(clip_model *m, int l, const float *dx, float *dprev)
{
    const clip_config *c = &m->cfg;
    const clip_block *b = &m->blocks[l];
    int B = m->B, T = m->T, BT = B * T, C = c->hidden_size;
    size_t nC = (size_t)BT * C, nI = (size_t)BT * c->intermediate_size;
    float *sc = A(m, m->id_scratch), *dln = A(m, m->id_dln), *di1 = A(m, m->id_di1), *di2 = A(m, m->id_di2);
    float *dq = A(m, m->id_dq), *dk = A(m, m->id_dk), *dv = A(m, m->id_dv), *datt = A(m, m->id_datt);
    float *x = A(m, m->ids_res[l]), *s1 = A(m, m->ids_ln1s[l]), *ln1 = A(m, m->ids_ln1[l]);
    float *q = A(m, m->ids_q[l]), *k = A(m, m->ids_k[l]), *v = A(m, m->ids_v[l]);
    float *att = A(m, m->ids_att[l]), *lse = A(m, m->ids_lse[l]), *mid = A(m, m->ids_mid[l]);
    float *ln2 = A(m, m->ids_ln2[l]), *s2 = A(m, m->ids_ln2s[l]);
    float *fc1 = A(m, m->ids_fc1[l]), *actv = A(m, m->ids_actv[l]);
    k_attn_dims ad = {B, T, T, c->num_heads, C / c->num_heads, 1, 0.0f, 0, 0};

    /* MLP branch; the residual carries dx to mid unchanged */
    memset(di1, 0, nI * sizeof(float));
    linear_layer_backward(&b->fc2, di1, dx, actv, BT, sc);
    memset(di2, 0, nI * sizeof(float));
    act_backward(c, di2, di1, fc1, nI);
    memset(dln, 0, nC * sizeof(float));
    linear_layer_backward(&b->fc1, dln, di2, ln2, BT, sc);
    memcpy(dprev, dx, nC * sizeof(float));
    k_layernorm_backward(dprev, b->dln2_w, b->dln2_b, dln, mid, b->ln2_w, s2, s2 + BT, BT, C);
    /* attention branch: dprev holds d mid */
    memset(datt, 0, nC * sizeof(float));
    linear_layer_backward(&b->o, datt, dprev, att, BT, sc);
    memset(dq, 0, nC * sizeof(float));
    memset(dk, 0, nC * sizeof(float));
    memset(dv, 0, nC * sizeof(float));
    k_attention_backward(dq, dk, dv, datt, q, k, v, att, lse, sc, &ad);
    memset(dln, 0, nC * sizeof(float));
    linear_layer_backward(&b->q, dln, dq, ln1, BT, sc);
    linear_layer_backward(&b->k, dln, dk, ln1, BT, sc);
    linear_layer_backward(&b->v, dln, dv, ln1, BT, sc);
    k_layernorm_backward(dprev, b->dln1_w, b->dln1_b, dln, x, b->ln1_w, s1, s1 + BT, BT, C);
}

/* Adds the selected output's gradient at hidden_states[index] into d. */
static void inject_output_grad(clip_model *m, float *d, const float *dout)
{
    int BT = m->B * m->T, C = m->cfg.hidden_size;
    if (m->sel.final_ln) {
        float *s = A(m, m->id_sels);
        k_layernorm_backward(d, m->dfinal_ln_w, m->dfinal_ln_b, dout, A(m, m->ids_res[m->sel.index]),
                             m->final_ln_w, s, s + BT, BT, C);
    } else {
        k_add_forward(d, d, dout, (size_t)BT * C);
    }
}

void clip_backward(clip_model *m, const float *dout, const float *dpooled,
                   const float *dtext_embeds, float *dembed)
{
    const clip_config *c = &m->cfg;
    int B = m->B, T = m->T, BT = B * T, C = c->hidden_size, L = c->num_layers;
    size_t nC = (size_t)BT * C;
    float *dcur = A(m, m->id_d[0]), *dprev = A(m, m->id_d[1]);
    memset(dcur, 0, nC * sizeof(float));
    int top = m->layers_run;

    if (m->sel.pooled && (dpooled || (dtext_embeds && c->projection_dim > 0))) {
        float *dpool = A(m, m->id_dpool), *dfin = A(m, m->id_dln), *s = A(m, m->id_fins);
        memset(dpool, 0, (size_t)B * C * sizeof(float));
        if (dpooled)
            k_add_forward(dpool, dpool, dpooled, (size_t)B * C);
        if (dtext_embeds && c->projection_dim > 0)
            k_linear_backward(dpool, m->dtext_proj, NULL, dtext_embeds, m->pooled, m->text_proj, B, C,
                              c->projection_dim);
        memset(dfin, 0, nC * sizeof(float));
        for (int b = 0; b < B; b++)
            memcpy(dfin + ((size_t)b * T + m->pool_pos[b]) * C, dpool + (size_t)b * C, C * sizeof(float));
        k_layernorm_backward(dcur, m->dfinal_ln_w, m->dfinal_ln_b, dfin, A(m, m->ids_res[L]), m->final_ln_w, s,
                             s + BT, BT, C);
    }
    if (dout && m->sel.index == top)
        inject_output_grad(m, dcur, dout);
    for (int l = top - 1; l >= 0; l--) {
        block_backward(m, l, dcur, dprev);
        float *t = dcur;
        dcur = dprev, dprev = t;
        if (dout && m->sel.index == l)
            inject_output_grad(m, dcur, dout);
    }
    if (dembed)
        k_add_forward(dembed, dembed, dcur, nC);
    if (m->dtok_emb || m->dpos_emb)
        k_embedding_backward(m->dtok_emb, m->dpos_emb, dcur, m->ids, B, T, C, c->vocab_size);
}
