/* unet_plan.c — the U-Net as a list of steps (conv_in, ResNet, transformer, down/upsampler,
 * output head) over a list of tensors, and the activation plan behind them: every tensor
 * passed between steps and its gradient are persistent arena buffers; each step's internals
 * are its checkpoint segment's tenant (kernels/checkpoint.h); backward temporaries of all
 * steps overlay one shared region since only one step runs backward at a time. */
#include "engine/models/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_REGION "unet backward scratch"

typedef struct planner {
    unet_acts *a;
    size_t layer_scratch, attn_scratch;
} planner;

static size_t max_size(size_t x, size_t y)
{
    return x > y ? x : y;
}

static int req(unet_acts *a, int step, const char *what, size_t floats)
{
    char name[ARENA_NAME_MAX];
    snprintf(name, sizeof name, "unet.%d.%s", step, what);
    return arena_request(&a->arena, name, floats ? floats : 1);
}

static int add_tensor(unet_acts *a, int C, int H, int W, int with_grad)
{
    unet_tensor *t = &a->tensors[a->n_tensors];
    size_t n = (size_t)a->B * C * H * W;
    char name[ARENA_NAME_MAX];
    t->C = C;
    t->H = H;
    t->W = W;
    snprintf(name, sizeof name, "unet.t%d", a->n_tensors);
    t->id = arena_request(&a->arena, name, n);
    t->grad_id = -1;
    if (with_grad) {
        snprintf(name, sizeof name, "unet.dt%d", a->n_tensors);
        t->grad_id = arena_request(&a->arena, name, n);
    }
    return a->n_tensors++;
}

static void lin_need(planner *p, const linear_layer *l, int rows)
{
    p->layer_scratch = max_size(p->layer_scratch, linear_layer_scratch_floats(l, rows));
}

static void conv_need(planner *p, const conv_layer *c, int H, int W)
{
    p->layer_scratch = max_size(p->layer_scratch, conv_layer_scratch_floats(c, p->a->B, H, W));
}

static void plan_resnet(planner *p, unet_step *s, int idx, int Cskip, int H, int W)
{
    unet_acts *a = p->a;
    const unet_resnet *r = s->layer;
    size_t B = (size_t)a->B, HW = (size_t)H * W, nin = B * r->in * HW, nout = B * r->out * HW;
    size_t ng = B * (size_t)a->model->config.norm_num_groups;
    ckpt_plan_begin(&a->arena, &s->seg);
    s->ids[0] = req(a, idx, "xc", Cskip ? nin : 0);
    s->ids[1] = req(a, idx, "h1", nin);
    s->ids[2] = req(a, idx, "m1", ng);
    s->ids[3] = req(a, idx, "r1", ng);
    s->ids[4] = req(a, idx, "a1", nin);
    s->ids[5] = req(a, idx, "h2", nout);
    s->ids[6] = req(a, idx, "tp", B * r->out);
    s->ids[7] = req(a, idx, "g2", nout);
    s->ids[8] = req(a, idx, "m2", ng);
    s->ids[9] = req(a, idx, "r2", ng);
    s->ids[10] = req(a, idx, "a2", nout);
    s->ids[11] = req(a, idx, "sc", r->in != r->out ? nout : 0);
    ckpt_plan_end(&a->arena, &s->seg);
    arena_shared_begin(&a->arena, SCRATCH_REGION);
    s->ids[12] = req(a, idx, "ga", max_size(nin, nout));
    s->ids[13] = req(a, idx, "gb", max_size(nin, nout));
    s->ids[14] = req(a, idx, "gc", Cskip ? nin : 0);
    s->ids[15] = req(a, idx, "gtp", B * r->out);
    arena_shared_end(&a->arena);
    conv_need(p, &r->conv1, H, W);
    conv_need(p, &r->conv2, H, W);
    if (r->in != r->out)
        conv_need(p, &r->shortcut, H, W);
    lin_need(p, &r->time_emb_proj, a->B);
}

static void plan_transformer(planner *p, unet_step *s, int idx, int H, int W)
{
    unet_acts *a = p->a;
    const unet_transformer *t = s->layer;
    size_t B = (size_t)a->B, HW = (size_t)H * W, N = B * HW, C = (size_t)t->channels, NC = N * C;
    size_t D = (size_t)t->depth, BTC = B * a->T * C, nl = B * t->heads * HW;
    size_t ng = B * (size_t)a->model->config.norm_num_groups;
    static const char *names[24] = {"n0", "gm", "gr", "pin", "pout", "hs", "l1", "l2", "l3", "st",
                                    "q", "k", "v", "o", "lse", "h2", "h3", "q2", "k2", "v2", "o2",
                                    "lse2", "f1", "g"};
    size_t sizes[24] = {NC, ng, ng, NC, NC, (D + 1) * NC, D * NC, D * NC, D * NC, D * 6 * N,
                        D * NC, D * NC, D * NC, D * NC, D * nl, D * NC, D * NC, D * NC, D * BTC,
                        D * BTC, D * NC, D * nl, D * NC * 8, D * NC * 4};
    ckpt_plan_begin(&a->arena, &s->seg);
    for (int i = 0; i < 24; i++)
        s->ids[i] = req(a, idx, names[i], sizes[i]);
    ckpt_plan_end(&a->arena, &s->seg);
    size_t qkv = max_size(NC, BTC);
    static const char *snames[8] = {"dh", "t1", "t2", "dq", "dk", "dv", "df1", "dg"};
    size_t ssizes[8] = {NC, NC, NC, qkv, qkv, qkv, NC * 8, NC * 4};
    arena_shared_begin(&a->arena, SCRATCH_REGION);
    for (int i = 0; i < 8; i++)
        s->ids[24 + i] = req(a, idx, snames[i], ssizes[i]);
    arena_shared_end(&a->arena);

    if (t->linear) {
        lin_need(p, &t->proj_in_l, (int)N);
        lin_need(p, &t->proj_out_l, (int)N);
    } else {
        conv_need(p, &t->proj_in_c, H, W);
        conv_need(p, &t->proj_out_c, H, W);
    }
    for (int d = 0; d < t->depth; d++) {
        const unet_tblock *k = &t->blocks[d];
        const linear_layer *rows_n[8] = {&k->q1, &k->k1, &k->v1, &k->o1, &k->q2, &k->o2, &k->ff1, &k->ff2};
        for (int i = 0; i < 8; i++)
            lin_need(p, rows_n[i], (int)N);
        lin_need(p, &k->k2, a->B * a->T);
        lin_need(p, &k->v2, a->B * a->T);
    }
    k_attn_dims self = {a->B, (int)HW, (int)HW, t->heads, t->channels / t->heads, 0, 0.0f, 0, 0};
    k_attn_dims cross = self;
    cross.Tk = a->T;
    p->attn_scratch = max_size(p->attn_scratch, max_size(k_attention_scratch_floats(&self),
                                                         k_attention_scratch_floats(&cross)));
}

static unet_step *add_step(unet_acts *a, int kind, const void *layer, int in, int skip, int checkpoint)
{
    unet_step *s = &a->steps[a->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->layer = layer;
    s->in = in;
    s->skip = skip;
    s->acts = a;
    s->seg.name = "unet block";
    s->seg.enabled = checkpoint;
    s->seg.forward = unet_step_forward;
    s->seg.backward = unet_step_backward;
    s->seg.ctx = s;
    return s;
}

/* A ResNet (+ transformer) pair: returns the tensor after them. */
static int res_attn(planner *p, const unet_resnet *r, const unet_transformer *t, int cur, int skip,
                    int H, int W)
{
    unet_acts *a = p->a;
    int ck = a->checkpointing;
    unet_step *s = add_step(a, UNET_STEP_RESNET, r, cur, skip, ck);
    plan_resnet(p, s, a->n_steps - 1, skip >= 0 ? a->tensors[skip].C : 0, H, W);
    cur = s->out = add_tensor(a, r->out, H, W, 1);
    if (t) {
        s = add_step(a, UNET_STEP_TRANSFORMER, t, cur, -1, ck);
        plan_transformer(p, s, a->n_steps - 1, H, W);
        cur = s->out = add_tensor(a, t->channels, H, W, 1);
    }
    return cur;
}

int unet_acts_init(unet_acts *a, const unet_model *m, int B, int H, int W, int T, int checkpointing,
                   error_info *err)
{
    const unet_config *c = &m->config;
    memset(a, 0, sizeof *a);
    int f = 1 << (c->levels - 1);
    if (B < 1 || T < 1 || H < 1 || W < 1 || H % f || W % f)
        return error_set(err, NULL, 0, 0, "", "UNet: latent %dx%d must be a positive multiple of %d "
                         "(batch %d, %d tokens)", H, W, f, B, T);
    a->model = m;
    a->B = B;
    a->H = H;
    a->W = W;
    a->T = T;
    a->checkpointing = checkpointing;
    int max_steps = 4 + 2 * c->levels * (2 * (UNET_MAX_LAYERS + 1) + 1) + 3;
    a->steps = calloc((size_t)max_steps, sizeof *a->steps);
    a->tensors = calloc((size_t)max_steps + 1, sizeof *a->tensors);
    if (!a->steps || !a->tensors) {
        unet_acts_free(a);
        return error_set(err, NULL, 0, 0, "", "UNet: out of memory planning activations");
    }
    arena_init(&a->arena, K_CPU);
    planner p = {a, 0, 0};
    size_t Bz = (size_t)B, TE = (size_t)c->time_embed_dim;
    size_t P = c->text_time ? (size_t)c->projection_class_embeddings_input_dim : 0;
    a->context_id = arena_request(&a->arena, "unet.context", Bz * T * c->cross_attention_dim);
    a->dcontext_id = arena_request(&a->arena, "unet.dcontext", Bz * T * c->cross_attention_dim);
    a->tsin_id = arena_request(&a->arena, "unet.t_sinusoid", Bz * c->block_out[0]);
    a->time_h_id = arena_request(&a->arena, "unet.time_h", Bz * TE);
    a->time_a_id = arena_request(&a->arena, "unet.time_a", Bz * TE);
    a->temb_id = arena_request(&a->arena, "unet.temb", Bz * TE);
    a->stemb_id = arena_request(&a->arena, "unet.silu_temb", Bz * TE);
    a->dstemb_id = arena_request(&a->arena, "unet.dsilu_temb", Bz * TE);
    a->dtmp_id = arena_request(&a->arena, "unet.dtime", 3 * Bz * max_size(TE, P));
    if (c->text_time) {
        a->text_id = arena_request(&a->arena, "unet.text_embeds", Bz * unet_config_text_embed_dim(c));
        a->time_ids_id = arena_request(&a->arena, "unet.time_ids", Bz * 6);
        a->add_in_id = arena_request(&a->arena, "unet.add_in", Bz * P);
        a->add_h_id = arena_request(&a->arena, "unet.add_h", Bz * TE);
        a->add_a_id = arena_request(&a->arena, "unet.add_a", Bz * TE);
    }
    lin_need(&p, &m->time_1, B);
    lin_need(&p, &m->time_2, B);
    if (c->text_time) {
        lin_need(&p, &m->add_1, B);
        lin_need(&p, &m->add_2, B);
    }

    int cur = add_tensor(a, c->in_channels, H, W, 0);
    a->sample_id = a->tensors[cur].id;
    unet_step *s = add_step(a, UNET_STEP_CONV_IN, &m->conv_in, cur, -1, 0);
    cur = s->out = add_tensor(a, c->block_out[0], H, W, 1);
    conv_need(&p, &m->conv_in, H, W);
    int stack[UNET_MAX_LEVELS * (UNET_MAX_LAYERS + 1) + 1], n_stack = 0;
    stack[n_stack++] = cur;
    for (int i = 0; i < c->levels; i++) {
        const unet_level *lv = &m->down[i];
        int h = H >> i, w = W >> i;
        for (int j = 0; j < lv->n_res; j++) {
            cur = res_attn(&p, &lv->res[j], lv->has_attn ? &lv->attn[j] : NULL, cur, -1, h, w);
            stack[n_stack++] = cur;
        }
        if (lv->has_sampler) {
            s = add_step(a, UNET_STEP_DOWN, &lv->sampler, cur, -1, 0);
            cur = s->out = add_tensor(a, lv->sampler.out, h / 2, w / 2, 1);
            conv_need(&p, &lv->sampler, h, w);
            stack[n_stack++] = cur;
        }
    }
    int hm = H >> (c->levels - 1), wm = W >> (c->levels - 1);
    cur = res_attn(&p, &m->mid_res[0], &m->mid_attn, cur, -1, hm, wm);
    cur = res_attn(&p, &m->mid_res[1], NULL, cur, -1, hm, wm);
    for (int i = 0; i < c->levels; i++) {
        const unet_level *lv = &m->up[i];
        int li = c->levels - 1 - i, h = H >> li, w = W >> li;
        for (int j = 0; j < lv->n_res; j++) {
            int sk = stack[--n_stack];
            cur = res_attn(&p, &lv->res[j], lv->has_attn ? &lv->attn[j] : NULL, cur, sk, h, w);
        }
        if (lv->has_sampler) {
            s = add_step(a, UNET_STEP_UP, &lv->sampler, cur, -1, checkpointing);
            int idx = a->n_steps - 1;
            size_t n = (size_t)B * lv->sampler.in * 4 * h * w;
            ckpt_plan_begin(&a->arena, &s->seg);
            s->ids[0] = req(a, idx, "up", n);
            ckpt_plan_end(&a->arena, &s->seg);
            arena_shared_begin(&a->arena, SCRATCH_REGION);
            s->ids[1] = req(a, idx, "gup", n);
            arena_shared_end(&a->arena);
            cur = s->out = add_tensor(a, lv->sampler.out, 2 * h, 2 * w, 1);
            conv_need(&p, &lv->sampler, 2 * h, 2 * w);
        }
    }
    s = add_step(a, UNET_STEP_OUT, &m->conv_out, cur, -1, 0);
    {
        int idx = a->n_steps - 1;
        size_t n = (size_t)B * c->block_out[0] * H * W, ng = (size_t)B * c->norm_num_groups;
        s->ids[0] = req(a, idx, "gn", n);
        s->ids[1] = req(a, idx, "m", ng);
        s->ids[2] = req(a, idx, "r", ng);
        s->ids[3] = req(a, idx, "a", n);
        arena_shared_begin(&a->arena, SCRATCH_REGION);
        s->ids[4] = req(a, idx, "ga", n);
        s->ids[5] = req(a, idx, "gb", n);
        arena_shared_end(&a->arena);
    }
    s->out = add_tensor(a, c->out_channels, H, W, 1);
    conv_need(&p, &m->conv_out, H, W);
    a->layer_scratch_id = arena_request(&a->arena, "unet.layer_scratch", max_size(p.layer_scratch, 1));
    a->attn_scratch_id = arena_request(&a->arena, "unet.attn_scratch", max_size(p.attn_scratch, 1));
    if (arena_commit(&a->arena, err)) {
        unet_acts_free(a);
        return -1;
    }
    return 0;
}

void unet_acts_free(unet_acts *a)
{
    if (a->steps || a->tensors)
        arena_free(&a->arena);
    free(a->steps);
    free(a->tensors);
    memset(a, 0, sizeof *a);
}

void unet_step_resnet_bufs(const unet_step *s, unet_resnet_bufs *b)
{
    const arena *ar = &s->acts->arena;
    float **f[16] = {&b->xc, &b->h1, &b->m1, &b->r1, &b->a1, &b->h2, &b->tp, &b->g2,
                     &b->m2, &b->r2, &b->a2, &b->sc, &b->ga, &b->gb, &b->gc, &b->gtp};
    for (int i = 0; i < 16; i++)
        *f[i] = arena_get(ar, s->ids[i]);
}

void unet_step_transformer_bufs(const unet_step *s, unet_transformer_bufs *b)
{
    const arena *ar = &s->acts->arena;
    float **f[32] = {&b->n0, &b->gm, &b->gr, &b->pin, &b->pout, &b->hs, &b->l1, &b->l2,
                     &b->l3, &b->st, &b->q, &b->k, &b->v, &b->o, &b->lse, &b->h2,
                     &b->h3, &b->q2, &b->k2, &b->v2, &b->o2, &b->lse2, &b->f1, &b->g,
                     &b->dh, &b->t1, &b->t2, &b->dq, &b->dk, &b->dv, &b->df1, &b->dg};
    for (int i = 0; i < 32; i++)
        *f[i] = arena_get(ar, s->ids[i]);
}
