/* vae_blocks.c — the VAE's building blocks as diffusers writes them: ResnetBlock2D without
 * time embedding, the mid block's single-head Attention over the H·W positions (GroupNorm
 * first, residual added), Downsample2D (asymmetric zero pad then a stride-2 conv) and
 * Upsample2D (nearest 2× then a conv). Each block plans its activations, runs its forward,
 * and its backward w.r.t. the input, plus the weight gradients of the layers and GroupNorms
 * whose gradient pointers are set. GroupNorm eps is 1e-6 throughout. */
#include "engine/models/vae.h"

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

int vae_plan_buf(vae_planner *p, const char *name, size_t n, int is_output)
{
    p->max_act = max_sz(p->max_act, n);
    if (p->keep || !is_output)
        return arena_request(p->a, name, n);
    /* block outputs alternate between two regions: a block reads one and writes the other */
    p->io ^= 1;
    arena_shared_begin(p->a, p->io ? "vae.io.1" : "vae.io.0");
    int id = arena_request(p->a, name, n);
    arena_shared_end(p->a);
    return id;
}

void vae_plan_internal_begin(vae_planner *p)
{
    if (!p->keep)
        arena_shared_begin(p->a, "vae.block");
}

void vae_plan_internal_end(vae_planner *p)
{
    if (!p->keep)
        arena_shared_end(p->a);
}

/* ---- ResnetBlock2D: out = shortcut(x) + conv2(silu(gn2(conv1(silu(gn1(x)))))) ---- */

void vae_resnet_plan(vae_resnet *r, vae_planner *p, int N, int H, int W)
{
    size_t hw = (size_t)H * W, nin = (size_t)N * r->in * hw, nout = (size_t)N * r->out * hw;
    size_t stats = 2 * (size_t)N * r->G;
    r->out_id = vae_plan_buf(p, "vae.resnet.out", nout, 1);
    vae_plan_internal_begin(p);
    r->gn1 = vae_plan_buf(p, "vae.resnet.gn1", nin, 0);
    r->gn1s = vae_plan_buf(p, "vae.resnet.gn1.stats", stats, 0);
    r->a1 = vae_plan_buf(p, "vae.resnet.silu1", nin, 0);
    r->h1 = vae_plan_buf(p, "vae.resnet.conv1", nout, 0);
    r->gn2 = vae_plan_buf(p, "vae.resnet.gn2", nout, 0);
    r->gn2s = vae_plan_buf(p, "vae.resnet.gn2.stats", stats, 0);
    r->a2 = vae_plan_buf(p, "vae.resnet.silu2", nout, 0);
    r->sc = r->in != r->out ? vae_plan_buf(p, "vae.resnet.shortcut", nout, 0) : -1;
    vae_plan_internal_end(p);
    p->max_scratch = max_sz(p->max_scratch, conv_layer_scratch_floats(&r->conv1, N, H, W));
    p->max_scratch = max_sz(p->max_scratch, conv_layer_scratch_floats(&r->conv2, N, H, W));
    if (r->in != r->out)
        p->max_scratch = max_sz(p->max_scratch, conv_layer_scratch_floats(&r->shortcut, N, H, W));
}

const float *vae_resnet_forward(const vae_resnet *r, const arena *a, const float *x, int N, int H,
                                int W, float *scratch)
{
    int HW = H * W, G = r->G;
    size_t nin = (size_t)N * r->in * HW, nout = (size_t)N * r->out * HW;
    float *gn1 = A(a, r->gn1), *s1 = A(a, r->gn1s), *a1 = A(a, r->a1), *h1 = A(a, r->h1);
    float *gn2 = A(a, r->gn2), *s2 = A(a, r->gn2s), *a2 = A(a, r->a2), *out = A(a, r->out_id);
    k_groupnorm_forward(gn1, s1, s1 + N * G, x, r->n1_w, r->n1_b, N, r->in, HW, G, VAE_GN_EPS);
    k_silu_forward(a1, gn1, nin);
    conv_layer_forward(&r->conv1, h1, a1, N, H, W, scratch);
    k_groupnorm_forward(gn2, s2, s2 + N * G, h1, r->n2_w, r->n2_b, N, r->out, HW, G, VAE_GN_EPS);
    k_silu_forward(a2, gn2, nout);
    conv_layer_forward(&r->conv2, out, a2, N, H, W, scratch);
    if (r->in != r->out) {
        float *sc = A(a, r->sc);
        conv_layer_forward(&r->shortcut, sc, x, N, H, W, scratch);
        k_add_forward(out, out, sc, nout);
    } else {
        k_add_forward(out, out, x, nout);
    }
    return out;
}

void vae_resnet_backward(const vae_resnet *r, const arena *a, float *dx, const float *dout,
                         const float *x, int N, int H, int W, float *scratch, float *const *t)
{
    int HW = H * W, G = r->G;
    size_t nin = (size_t)N * r->in * HW, nout = (size_t)N * r->out * HW;
    float *gn1 = A(a, r->gn1), *s1 = A(a, r->gn1s), *a1 = A(a, r->a1), *h1 = A(a, r->h1);
    float *gn2 = A(a, r->gn2), *s2 = A(a, r->gn2s), *a2 = A(a, r->a2);
    memset(t[0], 0, nout * sizeof(float));
    conv_layer_backward(&r->conv2, t[0], dout, a2, N, H, W, scratch);
    memset(t[1], 0, nout * sizeof(float));
    k_silu_backward(t[1], t[0], gn2, nout);
    memset(t[0], 0, nout * sizeof(float));
    k_groupnorm_backward(t[0], r->dn2_w, r->dn2_b, t[1], h1, r->n2_w, s2, s2 + N * G, N, r->out, HW, G);
    memset(t[1], 0, nin * sizeof(float));
    conv_layer_backward(&r->conv1, t[1], t[0], a1, N, H, W, scratch);
    memset(t[0], 0, nin * sizeof(float));
    k_silu_backward(t[0], t[1], gn1, nin);
    memset(dx, 0, nin * sizeof(float));
    k_groupnorm_backward(dx, r->dn1_w, r->dn1_b, t[0], x, r->n1_w, s1, s1 + N * G, N, r->in, HW, G);
    if (r->in != r->out)
        conv_layer_backward(&r->shortcut, dx, dout, x, N, H, W, scratch);
    else
        k_add_forward(dx, dx, dout, nout);
}

/* ---- mid-block Attention: out = x + to_out(attn(to_q, to_k, to_v of gn(x) as [HW, C])) ---- */

/* [N, C, P] -> [N, P, C] */
static void to_tokens(float *out, const float *inp, int N, int C, int P)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++)
                out[((size_t)n * P + p) * C + c] = inp[((size_t)n * C + c) * P + p];
}

/* [N, P, C] -> [N, C, P] */
static void to_channels(float *out, const float *inp, int N, int C, int P)
{
    for (int n = 0; n < N; n++)
        for (int p = 0; p < P; p++)
            for (int c = 0; c < C; c++)
                out[((size_t)n * C + c) * P + p] = inp[((size_t)n * P + p) * C + c];
}

static k_attn_dims attn_dims(const vae_attn *t, int N, int HW)
{
    k_attn_dims d = {N, HW, HW, 1, t->C, 0, 0.0f, 0, 0};
    return d;
}

void vae_attn_plan(vae_attn *t, vae_planner *p, int N, int H, int W)
{
    size_t HW = (size_t)H * W, n = (size_t)N * t->C * HW;
    t->out_id = vae_plan_buf(p, "vae.attn.out", n, 1);
    vae_plan_internal_begin(p);
    t->gn = vae_plan_buf(p, "vae.attn.gn", n, 0);
    t->gns = vae_plan_buf(p, "vae.attn.gn.stats", 2 * (size_t)N * t->G, 0);
    t->t = vae_plan_buf(p, "vae.attn.tokens", n, 0);
    t->q_id = vae_plan_buf(p, "vae.attn.q", n, 0);
    t->k_id = vae_plan_buf(p, "vae.attn.k", n, 0);
    t->v_id = vae_plan_buf(p, "vae.attn.v", n, 0);
    t->att = vae_plan_buf(p, "vae.attn.attn", n, 0);
    t->lse = vae_plan_buf(p, "vae.attn.lse", (size_t)N * HW, 0);
    t->o_id = vae_plan_buf(p, "vae.attn.to_out", n, 0);
    vae_plan_internal_end(p);
    k_attn_dims d = attn_dims(t, N, (int)HW);
    p->max_attn = max_sz(p->max_attn, n);
    p->max_scratch = max_sz(p->max_scratch, k_attention_scratch_floats(&d));
    p->max_scratch = max_sz(p->max_scratch, linear_layer_scratch_floats(&t->q, N * (int)HW));
}

const float *vae_attn_forward(const vae_attn *t, const arena *a, const float *x, int N, int H, int W,
                              float *scratch)
{
    int HW = H * W, C = t->C, rows = N * HW;
    float *gn = A(a, t->gn), *s = A(a, t->gns), *tok = A(a, t->t), *q = A(a, t->q_id), *k = A(a, t->k_id);
    float *v = A(a, t->v_id), *att = A(a, t->att), *lse = A(a, t->lse), *o = A(a, t->o_id);
    float *out = A(a, t->out_id);
    k_attn_dims d = attn_dims(t, N, HW);
    k_groupnorm_forward(gn, s, s + N * t->G, x, t->gn_w, t->gn_b, N, C, HW, t->G, VAE_GN_EPS);
    to_tokens(tok, gn, N, C, HW);
    linear_layer_forward(&t->q, q, tok, rows, scratch);
    linear_layer_forward(&t->k, k, tok, rows, scratch);
    linear_layer_forward(&t->v, v, tok, rows, scratch);
    k_attention_forward(att, lse, q, k, v, scratch, &d);
    linear_layer_forward(&t->o, o, att, rows, scratch);
    to_channels(out, o, N, C, HW);
    k_add_forward(out, out, x, (size_t)N * C * HW);
    return out;
}

void vae_attn_backward(const vae_attn *at, const arena *a, float *dx, const float *dout,
                       const float *x, int N, int H, int W, float *scratch, float *const *t)
{
    int HW = H * W, C = at->C, rows = N * HW;
    size_t n = (size_t)N * C * HW;
    float *s = A(a, at->gns), *tok = A(a, at->t), *q = A(a, at->q_id), *k = A(a, at->k_id);
    float *v = A(a, at->v_id), *att = A(a, at->att), *lse = A(a, at->lse);
    k_attn_dims d = attn_dims(at, N, HW);
    to_tokens(t[0], dout, N, C, HW);
    memset(t[1], 0, n * sizeof(float));
    linear_layer_backward(&at->o, t[1], t[0], att, rows, scratch);
    for (int i = 2; i < 5; i++)
        memset(t[i], 0, n * sizeof(float));
    k_attention_backward(t[2], t[3], t[4], t[1], q, k, v, att, lse, scratch, &d);
    memset(t[0], 0, n * sizeof(float));
    linear_layer_backward(&at->q, t[0], t[2], tok, rows, scratch);
    linear_layer_backward(&at->k, t[0], t[3], tok, rows, scratch);
    linear_layer_backward(&at->v, t[0], t[4], tok, rows, scratch);
    to_channels(t[1], t[0], N, C, HW);
    memcpy(dx, dout, n * sizeof(float));
    k_groupnorm_backward(dx, at->dgn_w, at->dgn_b, t[1], x, at->gn_w, s, s + N * at->G, N, C, HW, at->G);
}

/* ---- Downsample2D / Upsample2D ---- */

void vae_sampler_plan(vae_sampler *s, vae_planner *p, int down, int C, int N, int H, int W)
{
    int TH = down ? H + 1 : 2 * H, TW = down ? W + 1 : 2 * W;
    int OH = down ? H / 2 : 2 * H, OW = down ? W / 2 : 2 * W;
    s->out_id = vae_plan_buf(p, down ? "vae.downsample.out" : "vae.upsample.out", (size_t)N * C * OH * OW, 1);
    vae_plan_internal_begin(p);
    s->tmp = vae_plan_buf(p, down ? "vae.downsample.pad" : "vae.upsample.nearest", (size_t)N * C * TH * TW, 0);
    vae_plan_internal_end(p);
    p->max_scratch = max_sz(p->max_scratch, conv_layer_scratch_floats(&s->conv, N, TH, TW));
}

const float *vae_sampler_forward(const vae_sampler *s, const arena *a, int down, const float *x,
                                 int N, int H, int W, float *scratch)
{
    int C = s->conv.in;
    float *tmp = A(a, s->tmp), *out = A(a, s->out_id);
    if (down) {
        /* diffusers pads (left 0, right 1, top 0, bottom 1) before a stride-2, pad-0 conv */
        int PW = W + 1;
        for (size_t nc = 0; nc < (size_t)N * C; nc++) {
            float *dst = tmp + nc * (size_t)(H + 1) * PW;
            const float *src = x + nc * (size_t)H * W;
            for (int y = 0; y < H; y++) {
                memcpy(dst + (size_t)y * PW, src + (size_t)y * W, (size_t)W * sizeof(float));
                dst[(size_t)y * PW + W] = 0.0f;
            }
            memset(dst + (size_t)H * PW, 0, (size_t)PW * sizeof(float));
        }
        conv_layer_forward(&s->conv, out, tmp, N, H + 1, W + 1, scratch);
    } else {
        k_upsample2x_forward(tmp, x, N, C, H, W);
        conv_layer_forward(&s->conv, out, tmp, N, 2 * H, 2 * W, scratch);
    }
    return out;
}

void vae_upsample_backward(const vae_sampler *s, const arena *a, float *dx, const float *dout,
                           int N, int C, int H, int W, float *scratch, float *const *t)
{
    size_t n = (size_t)N * C * 4 * H * W;
    memset(t[0], 0, n * sizeof(float));
    conv_layer_backward(&s->conv, t[0], dout, A(a, s->tmp), N, 2 * H, 2 * W, scratch);
    memset(dx, 0, (size_t)N * C * H * W * sizeof(float));
    k_upsample2x_backward(dx, t[0], N, C, H, W);
}

void vae_downsample_backward(const vae_sampler *s, const arena *a, float *dx, const float *dout,
                             int N, int C, int H, int W, float *scratch, float *const *t)
{
    int PH = H + 1, PW = W + 1;
    memset(t[0], 0, (size_t)N * C * PH * PW * sizeof(float));
    conv_layer_backward(&s->conv, t[0], dout, A(a, s->tmp), N, PH, PW, scratch);
    /* the padded row and column were constants: drop their gradient */
    for (size_t nc = 0; nc < (size_t)N * C; nc++)
        for (int y = 0; y < H; y++)
            memcpy(dx + (nc * H + y) * W, t[0] + (nc * PH + y) * PW, (size_t)W * sizeof(float));
}
