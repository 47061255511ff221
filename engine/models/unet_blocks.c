/* unet_blocks.c — the two repeated blocks of the U-Net, forward and backward, as diffusers
 * computes them:
 *   ResnetBlock2D:     y = shortcut(x) + conv2(SiLU(GN2(conv1(SiLU(GN1(x))) + proj(SiLU(temb)))))
 *   Transformer2DModel: y = x + proj_out(blocks(proj_in(GN(x)))), GN eps 1e-6, each
 *                       BasicTransformerBlock h += attn1(LN1 h); h += attn2(LN2 h, ctx);
 *                       h += ff(LN3 h) with a GEGLU feed-forward.
 * Buffers come from the caller (unet_plan.c); backward accumulates into dx like the kernels. */
#include "engine/models/unet.h"

#include <string.h>

static void zero(float *p, size_t n)
{
    memset(p, 0, n * sizeof *p);
}

/* [B, C, HW] -> [B, HW, C] (rows for the transformer blocks) and back. */
static void to_rows(float *out, const float *in, int B, int C, int HW)
{
    for (int b = 0; b < B; b++) {
        const float *src = in + (size_t)b * C * HW;
        float *dst = out + (size_t)b * C * HW;
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++)
                dst[(size_t)p * C + c] = src[(size_t)c * HW + p];
    }
}

static void from_rows(float *out, const float *in, int B, int C, int HW)
{
    for (int b = 0; b < B; b++) {
        const float *src = in + (size_t)b * C * HW;
        float *dst = out + (size_t)b * C * HW;
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++)
                dst[(size_t)c * HW + p] = src[(size_t)p * C + c];
    }
}

void unet_resnet_forward(const unet_resnet *r, const unet_resnet_bufs *b, float *y, const float *x,
                         const float *skip, int Cskip, const float *stemb, int B, int H, int W,
                         int G, float eps, float *scratch)
{
    int HW = H * W, Cin = r->in, Cout = r->out;
    size_t n_in = (size_t)B * Cin * HW, n_out = (size_t)B * Cout * HW;
    const float *xin = x;
    if (Cskip) {   /* up blocks: torch.cat([hidden, skip], dim=1) */
        k_concat_forward(b->xc, x, skip, B, Cin - Cskip, Cskip, HW);
        xin = b->xc;
    }
    k_groupnorm_forward(b->h1, b->m1, b->r1, xin, r->norm1_w, r->norm1_b, B, Cin, HW, G, eps);
    k_silu_forward(b->a1, b->h1, n_in);
    conv_layer_forward(&r->conv1, b->h2, b->a1, B, H, W, scratch);
    linear_layer_forward(&r->time_emb_proj, b->tp, stemb, B, scratch);
    k_add_channel_forward(b->h2, b->h2, b->tp, B, Cout, HW);
    k_groupnorm_forward(b->g2, b->m2, b->r2, b->h2, r->norm2_w, r->norm2_b, B, Cout, HW, G, eps);
    k_silu_forward(b->a2, b->g2, n_out);   /* dropout p = 0 in training: identity */
    conv_layer_forward(&r->conv2, y, b->a2, B, H, W, scratch);
    if (Cin != Cout) {
        conv_layer_forward(&r->shortcut, b->sc, xin, B, H, W, scratch);
        k_add_forward(y, y, b->sc, n_out);
    } else {
        k_add_forward(y, y, xin, n_out);
    }
}

void unet_resnet_backward(const unet_resnet *r, const unet_resnet_bufs *b, float *dx, float *dskip,
                          const float *dy, const float *x, const float *skip, int Cskip,
                          const float *stemb, float *dstemb, int B, int H, int W, int G,
                          float *scratch)
{
    (void)skip;
    int HW = H * W, Cin = r->in, Cout = r->out;
    size_t n_in = (size_t)B * Cin * HW, n_out = (size_t)B * Cout * HW;
    const float *xin = Cskip ? b->xc : x;
    zero(b->ga, n_out);
    conv_layer_backward(&r->conv2, b->ga, dy, b->a2, B, H, W, scratch);
    zero(b->gb, n_out);
    k_silu_backward(b->gb, b->ga, b->g2, n_out);
    zero(b->ga, n_out);
    k_groupnorm_backward(b->ga, r->dnorm2_w, r->dnorm2_b, b->gb, b->h2, r->norm2_w, b->m2, b->r2, B, Cout, HW, G);
    zero(b->gtp, (size_t)B * Cout);
    k_add_channel_backward(NULL, b->gtp, b->ga, B, Cout, HW);
    linear_layer_backward(&r->time_emb_proj, dstemb, b->gtp, stemb, B, scratch);
    zero(b->gb, n_in);
    conv_layer_backward(&r->conv1, b->gb, b->ga, b->a1, B, H, W, scratch);
    zero(b->ga, n_in);
    k_silu_backward(b->ga, b->gb, b->h1, n_in);
    float *dxin = dx;
    if (Cskip) {
        dxin = b->gc;
        zero(dxin, n_in);
    }
    k_groupnorm_backward(dxin, r->dnorm1_w, r->dnorm1_b, b->ga, xin, r->norm1_w, b->m1, b->r1, B, Cin, HW, G);
    if (Cin != Cout)
        conv_layer_backward(&r->shortcut, dxin, dy, xin, B, H, W, scratch);
    else
        k_add_backward(dxin, NULL, dy, n_out);
    if (Cskip)
        k_concat_backward(dx, dskip, dxin, B, Cin - Cskip, Cskip, HW);
}

static k_attn_dims attn_dims(const unet_transformer *t, int B, int Tq, int Tk)
{
    k_attn_dims d = {B, Tq, Tk, t->heads, t->channels / t->heads, 0, 0.0f, 0, 0};
    return d;
}

void unet_transformer_forward(const unet_transformer *t, const unet_transformer_bufs *b, float *y,
                              const float *x, const float *ctx, int B, int H, int W, int T, int G,
                              float *scratch, float *attn_scratch)
{
    int C = t->channels, HW = H * W, N = B * HW, BT = B * T, C4 = 4 * C;
    size_t NC = (size_t)N * C, BTC = (size_t)BT * C, n_lse = (size_t)B * t->heads * HW;
    k_groupnorm_forward(b->n0, b->gm, b->gr, x, t->norm_w, t->norm_b, B, C, HW, G, 1e-6f);
    if (t->linear) {
        to_rows(b->pin, b->n0, B, C, HW);
        linear_layer_forward(&t->proj_in_l, b->hs, b->pin, N, scratch);
    } else {
        conv_layer_forward(&t->proj_in_c, b->pin, b->n0, B, H, W, scratch);
        to_rows(b->hs, b->pin, B, C, HW);
    }
    k_attn_dims self = attn_dims(t, B, HW, HW), cross = attn_dims(t, B, HW, T);
    for (int d = 0; d < t->depth; d++) {
        const unet_tblock *k = &t->blocks[d];
        const float *hin = b->hs + d * NC;
        float *hout = b->hs + (d + 1) * NC;
        float *l1 = b->l1 + d * NC, *l2 = b->l2 + d * NC, *l3 = b->l3 + d * NC;
        float *st = b->st + (size_t)d * 6 * N;
        float *q = b->q + d * NC, *kk = b->k + d * NC, *v = b->v + d * NC, *o = b->o + d * NC;
        float *q2 = b->q2 + d * NC, *k2 = b->k2 + d * BTC, *v2 = b->v2 + d * BTC;
        float *o2 = b->o2 + d * NC, *h2 = b->h2 + d * NC, *h3 = b->h3 + d * NC;
        float *f1 = b->f1 + d * NC * 8, *g = b->g + d * NC * 4;

        k_layernorm_forward(l1, st, st + N, hin, k->norm1_w, k->norm1_b, N, C, 1e-5f);
        linear_layer_forward(&k->q1, q, l1, N, scratch);
        linear_layer_forward(&k->k1, kk, l1, N, scratch);
        linear_layer_forward(&k->v1, v, l1, N, scratch);
        k_attention_forward(o, b->lse + d * n_lse, q, kk, v, attn_scratch, &self);
        linear_layer_forward(&k->o1, h2, o, N, scratch);
        k_add_forward(h2, h2, hin, NC);

        k_layernorm_forward(l2, st + 2 * N, st + 3 * N, h2, k->norm2_w, k->norm2_b, N, C, 1e-5f);
        linear_layer_forward(&k->q2, q2, l2, N, scratch);
        linear_layer_forward(&k->k2, k2, ctx, BT, scratch);
        linear_layer_forward(&k->v2, v2, ctx, BT, scratch);
        k_attention_forward(o2, b->lse2 + d * n_lse, q2, k2, v2, attn_scratch, &cross);
        linear_layer_forward(&k->o2, h3, o2, N, scratch);
        k_add_forward(h3, h3, h2, NC);

        k_layernorm_forward(l3, st + 4 * N, st + 5 * N, h3, k->norm3_w, k->norm3_b, N, C, 1e-5f);
        linear_layer_forward(&k->ff1, f1, l3, N, scratch);
        k_geglu_forward(g, f1, N, C4);
        linear_layer_forward(&k->ff2, hout, g, N, scratch);
        k_add_forward(hout, hout, h3, NC);
    }
    const float *hD = b->hs + t->depth * NC;
    if (t->linear) {
        linear_layer_forward(&t->proj_out_l, b->pout, hD, N, scratch);
        from_rows(y, b->pout, B, C, HW);
    } else {
        from_rows(b->pout, hD, B, C, HW);
        conv_layer_forward(&t->proj_out_c, y, b->pout, B, H, W, scratch);
    }
    k_add_forward(y, y, x, NC);
}

void unet_transformer_backward(const unet_transformer *t, const unet_transformer_bufs *b, float *dx,
                               const float *dy, const float *x, const float *ctx, float *dctx,
                               int B, int H, int W, int T, int G, float *scratch,
                               float *attn_scratch)
{
    int C = t->channels, HW = H * W, N = B * HW, BT = B * T, C4 = 4 * C;
    size_t NC = (size_t)N * C, BTC = (size_t)BT * C, n_lse = (size_t)B * t->heads * HW;
    k_add_backward(dx, NULL, dy, NC);   /* the residual */
    zero(b->dh, NC);
    const float *hD = b->hs + t->depth * NC;
    if (t->linear) {
        to_rows(b->t1, dy, B, C, HW);
        linear_layer_backward(&t->proj_out_l, b->dh, b->t1, hD, N, scratch);
    } else {
        zero(b->t1, NC);
        conv_layer_backward(&t->proj_out_c, b->t1, dy, b->pout, B, H, W, scratch);
        to_rows(b->dh, b->t1, B, C, HW);
    }
    k_attn_dims self = attn_dims(t, B, HW, HW), cross = attn_dims(t, B, HW, T);
    for (int d = t->depth - 1; d >= 0; d--) {
        const unet_tblock *k = &t->blocks[d];
        const float *hin = b->hs + d * NC;
        float *l1 = b->l1 + d * NC, *l2 = b->l2 + d * NC, *l3 = b->l3 + d * NC;
        float *st = b->st + (size_t)d * 6 * N;
        float *q = b->q + d * NC, *kk = b->k + d * NC, *v = b->v + d * NC, *o = b->o + d * NC;
        float *q2 = b->q2 + d * NC, *k2 = b->k2 + d * BTC, *v2 = b->v2 + d * BTC;
        float *o2 = b->o2 + d * NC, *h2 = b->h2 + d * NC, *h3 = b->h3 + d * NC;
        float *f1 = b->f1 + d * NC * 8, *g = b->g + d * NC * 4;

        /* feed-forward; dh is the gradient of the block output and, by the residual, of h3 */
        zero(b->dg, NC * 4);
        linear_layer_backward(&k->ff2, b->dg, b->dh, g, N, scratch);
        zero(b->df1, NC * 8);
        k_geglu_backward(b->df1, b->dg, f1, N, C4);
        zero(b->t1, NC);
        linear_layer_backward(&k->ff1, b->t1, b->df1, l3, N, scratch);
        k_layernorm_backward(b->dh, k->dnorm3_w, k->dnorm3_b, b->t1, h3, k->norm3_w, st + 4 * N, st + 5 * N, N, C);

        /* cross-attention */
        zero(b->t1, NC);
        linear_layer_backward(&k->o2, b->t1, b->dh, o2, N, scratch);
        zero(b->dq, NC);
        zero(b->dk, BTC);
        zero(b->dv, BTC);
        k_attention_backward(b->dq, b->dk, b->dv, b->t1, q2, k2, v2, o2, b->lse2 + d * n_lse,
                             attn_scratch, &cross);
        zero(b->t2, NC);
        linear_layer_backward(&k->q2, b->t2, b->dq, l2, N, scratch);
        linear_layer_backward(&k->k2, dctx, b->dk, ctx, BT, scratch);
        linear_layer_backward(&k->v2, dctx, b->dv, ctx, BT, scratch);
        k_layernorm_backward(b->dh, k->dnorm2_w, k->dnorm2_b, b->t2, h2, k->norm2_w, st + 2 * N, st + 3 * N, N, C);

        /* self-attention */
        zero(b->t1, NC);
        linear_layer_backward(&k->o1, b->t1, b->dh, o, N, scratch);
        zero(b->dq, NC);
        zero(b->dk, NC);
        zero(b->dv, NC);
        k_attention_backward(b->dq, b->dk, b->dv, b->t1, q, kk, v, o, b->lse + d * n_lse,
                             attn_scratch, &self);
        zero(b->t2, NC);
        linear_layer_backward(&k->q1, b->t2, b->dq, l1, N, scratch);
        linear_layer_backward(&k->k1, b->t2, b->dk, l1, N, scratch);
        linear_layer_backward(&k->v1, b->t2, b->dv, l1, N, scratch);
        k_layernorm_backward(b->dh, k->dnorm1_w, k->dnorm1_b, b->t2, hin, k->norm1_w, st, st + N, N, C);
    }
    if (t->linear) {
        zero(b->t1, NC);
        linear_layer_backward(&t->proj_in_l, b->t1, b->dh, b->pin, N, scratch);
        from_rows(b->t2, b->t1, B, C, HW);
    } else {
        from_rows(b->t1, b->dh, B, C, HW);
        zero(b->t2, NC);
        conv_layer_backward(&t->proj_in_c, b->t2, b->t1, b->n0, B, H, W, scratch);
    }
    k_groupnorm_backward(dx, t->dnorm_w, t->dnorm_b, b->t2, x, t->norm_w, b->gm, b->gr, B, C, HW, G);
}
