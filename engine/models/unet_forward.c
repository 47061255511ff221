/* unet_forward.c — forward and backward of the whole U-Net over the planned steps: the
 * timestep embedding MLP (plus SDXL's text_time embedding), then every step in order, each
 * wrapped as a checkpoint segment so the same code serves plain and recomputing backward. */
#include "engine/models/unet.h"

#include <math.h>
#include <string.h>

static float *buf(const unet_acts *a, int id)
{
    return arena_get(&a->arena, id);
}

static void zero(float *p, size_t n)
{
    memset(p, 0, n * sizeof *p);
}

void unet_step_forward(void *p)
{
    unet_step *s = p;
    unet_acts *a = s->acts;
    const unet_model *m = a->model;
    const unet_config *c = &m->config;
    const unet_tensor *ti = &a->tensors[s->in], *to = &a->tensors[s->out];
    float *x = buf(a, ti->id), *y = buf(a, to->id), *scratch = buf(a, a->layer_scratch_id);
    int B = a->B, H = ti->H, W = ti->W, G = c->norm_num_groups;
    switch (s->kind) {
    case UNET_STEP_CONV_IN:
    case UNET_STEP_DOWN:
        conv_layer_forward(s->layer, y, x, B, H, W, scratch);
        break;
    case UNET_STEP_RESNET: {
        unet_resnet_bufs b;
        unet_step_resnet_bufs(s, &b);
        const float *skip = s->skip >= 0 ? buf(a, a->tensors[s->skip].id) : NULL;
        int Cskip = s->skip >= 0 ? a->tensors[s->skip].C : 0;
        unet_resnet_forward(s->layer, &b, y, x, skip, Cskip, buf(a, a->stemb_id), B, H, W, G,
                            c->norm_eps, scratch);
        break;
    }
    case UNET_STEP_TRANSFORMER: {
        unet_transformer_bufs b;
        unet_step_transformer_bufs(s, &b);
        unet_transformer_forward(s->layer, &b, y, x, buf(a, a->context_id), B, H, W, a->T, G,
                                 scratch, buf(a, a->attn_scratch_id));
        break;
    }
    case UNET_STEP_UP: {   /* Upsample2D: nearest 2x, then a 3x3 conv */
        float *up = buf(a, s->ids[0]);
        k_upsample2x_forward(up, x, B, ti->C, H, W);
        conv_layer_forward(s->layer, y, up, B, 2 * H, 2 * W, scratch);
        break;
    }
    case UNET_STEP_OUT: {  /* conv_norm_out -> SiLU -> conv_out */
        float *gn = buf(a, s->ids[0]), *act = buf(a, s->ids[3]);
        k_groupnorm_forward(gn, buf(a, s->ids[1]), buf(a, s->ids[2]), x, m->norm_out_w,
                            m->norm_out_b, B, ti->C, H * W, G, c->norm_eps);
        k_silu_forward(act, gn, (size_t)B * ti->C * H * W);
        conv_layer_forward(s->layer, y, act, B, H, W, scratch);
        break;
    }
    }
}

void unet_step_backward(void *p)
{
    unet_step *s = p;
    unet_acts *a = s->acts;
    const unet_model *m = a->model;
    const unet_config *c = &m->config;
    const unet_tensor *ti = &a->tensors[s->in], *to = &a->tensors[s->out];
    float *x = buf(a, ti->id), *dy = buf(a, to->grad_id), *scratch = buf(a, a->layer_scratch_id);
    float *dx = ti->grad_id >= 0 ? buf(a, ti->grad_id) : a->dsample;
    int B = a->B, H = ti->H, W = ti->W, G = c->norm_num_groups;
    size_t n_in = (size_t)B * ti->C * H * W;
    switch (s->kind) {
    case UNET_STEP_CONV_IN:
    case UNET_STEP_DOWN:
        conv_layer_backward(s->layer, dx, dy, x, B, H, W, scratch);
        break;
    case UNET_STEP_RESNET: {
        unet_resnet_bufs b;
        unet_step_resnet_bufs(s, &b);
        const float *skip = s->skip >= 0 ? buf(a, a->tensors[s->skip].id) : NULL;
        float *dskip = s->skip >= 0 ? buf(a, a->tensors[s->skip].grad_id) : NULL;
        int Cskip = s->skip >= 0 ? a->tensors[s->skip].C : 0;
        unet_resnet_backward(s->layer, &b, dx, dskip, dy, x, skip, Cskip, buf(a, a->stemb_id),
                             buf(a, a->dstemb_id), B, H, W, G, scratch);
        break;
    }
    case UNET_STEP_TRANSFORMER: {
        unet_transformer_bufs b;
        unet_step_transformer_bufs(s, &b);
        unet_transformer_backward(s->layer, &b, dx, dy, x, buf(a, a->context_id),
                                  buf(a, a->dcontext_id), B, H, W, a->T, G, scratch,
                                  buf(a, a->attn_scratch_id));
        break;
    }
    case UNET_STEP_UP: {
        float *up = buf(a, s->ids[0]), *gup = buf(a, s->ids[1]);
        zero(gup, 4 * n_in);
        conv_layer_backward(s->layer, gup, dy, up, B, 2 * H, 2 * W, scratch);
        k_upsample2x_backward(dx, gup, B, ti->C, H, W);
        break;
    }
    case UNET_STEP_OUT: {
        float *gn = buf(a, s->ids[0]), *act = buf(a, s->ids[3]);
        float *ga = buf(a, s->ids[4]), *gb = buf(a, s->ids[5]);
        zero(ga, n_in);
        conv_layer_backward(s->layer, ga, dy, act, B, H, W, scratch);
        zero(gb, n_in);
        k_silu_backward(gb, ga, gn, n_in);
        k_groupnorm_backward(dx, m->dnorm_out_w, m->dnorm_out_b, gb, x, m->norm_out_w,
                             buf(a, s->ids[1]), buf(a, s->ids[2]), B, ti->C, H * W, G);
        break;
    }
    }
}

static size_t tensor_floats(const unet_acts *a, int t)
{
    const unet_tensor *x = &a->tensors[t];
    return (size_t)a->B * x->C * x->H * x->W;
}

int unet_forward(unet_acts *a, float *out, const float *sample, const float *timesteps,
                 const float *context, const unet_added_cond *added, error_info *err)
{
    const unet_model *m = a->model;
    const unet_config *c = &m->config;
    int B = a->B;
    size_t TE = (size_t)c->time_embed_dim, nte = (size_t)B * TE;
    float *scratch = buf(a, a->layer_scratch_id);
    if (c->text_time && (!added || !added->text_embeds || !added->time_ids))
        return error_set(err, NULL, 0, 0, "", "UNet: this model needs text_embeds and time_ids (SDXL)");
    memcpy(buf(a, a->sample_id), sample, tensor_floats(a, 0) * sizeof(float));
    memcpy(buf(a, a->context_id), context,
           (size_t)B * a->T * c->cross_attention_dim * sizeof(float));

    float *tsin = buf(a, a->tsin_id), *temb = buf(a, a->temb_id);
    k_timestep_embedding(tsin, timesteps, B, c->block_out[0], c->flip_sin_to_cos, c->freq_shift,
                         10000.0f);
    linear_layer_forward(&m->time_1, buf(a, a->time_h_id), tsin, B, scratch);
    k_silu_forward(buf(a, a->time_a_id), buf(a, a->time_h_id), nte);
    linear_layer_forward(&m->time_2, temb, buf(a, a->time_a_id), B, scratch);
    if (c->text_time) {
        /* diffusers get_aug_embed: cat([text_embeds, add_time_proj(time_ids).reshape(B, -1)]) */
        int Dt = unet_config_text_embed_dim(c), A = c->addition_time_embed_dim;
        int P = c->projection_class_embeddings_input_dim;
        float *add_in = buf(a, a->add_in_id), *tmp = buf(a, a->dtmp_id);
        memcpy(buf(a, a->text_id), added->text_embeds, (size_t)B * Dt * sizeof(float));
        memcpy(buf(a, a->time_ids_id), added->time_ids, (size_t)B * 6 * sizeof(float));
        k_timestep_embedding(tmp, added->time_ids, B * 6, A, c->flip_sin_to_cos, c->freq_shift,
                             10000.0f);
        for (int b = 0; b < B; b++) {
            memcpy(add_in + (size_t)b * P, added->text_embeds + (size_t)b * Dt, (size_t)Dt * sizeof(float));
            memcpy(add_in + (size_t)b * P + Dt, tmp + (size_t)b * 6 * A, (size_t)6 * A * sizeof(float));
        }
        linear_layer_forward(&m->add_1, buf(a, a->add_h_id), add_in, B, scratch);
        k_silu_forward(buf(a, a->add_a_id), buf(a, a->add_h_id), nte);
        linear_layer_forward(&m->add_2, tmp, buf(a, a->add_a_id), B, scratch);
        k_add_forward(temb, temb, tmp, nte);
    }
    /* every ResnetBlock2D applies SiLU to temb before its projection: compute it once */
    k_silu_forward(buf(a, a->stemb_id), temb, nte);

    for (int i = 0; i < a->n_steps; i++)
        ckpt_forward(&a->steps[i].seg);
    int last = a->steps[a->n_steps - 1].out;
    memcpy(out, buf(a, a->tensors[last].id), tensor_floats(a, last) * sizeof(float));
    return 0;
}

/* d/dt of the sinusoidal embedding of t (diffusers get_timestep_embedding), accumulated. */
static void timestep_embedding_backward(float *dt, const float *demb, const float *t, int N, int dim,
                                        int flip, float shift)
{
    int half = dim / 2;
    const float neg_log = (float)-log(10000.0);
    const float denom = (float)half - shift;
    for (int n = 0; n < N; n++) {
        const float *d = demb + (size_t)n * dim;
        double acc = 0.0;
        for (int i = 0; i < half; i++) {
            float freq = expf(neg_log * (float)i / denom), arg = t[n] * freq;
            float ds = flip ? d[half + i] : d[i], dc = flip ? d[i] : d[half + i];
            acc += ((double)ds * cos(arg) - (double)dc * sin(arg)) * freq;
        }
        dt[n] += (float)acc;
    }
}

int unet_backward(unet_acts *a, const float *dout, float *dsample, float *dcontext,
                  float *dtext_embeds, float *dtime_ids, error_info *err)
{
    (void)err;
    const unet_model *m = a->model;
    const unet_config *c = &m->config;
    int B = a->B;
    size_t TE = (size_t)c->time_embed_dim, nte = (size_t)B * TE;
    float *scratch = buf(a, a->layer_scratch_id);
    for (int i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].grad_id >= 0)
            zero(buf(a, a->tensors[i].grad_id), tensor_floats(a, i));
    size_t nctx = (size_t)B * a->T * c->cross_attention_dim;
    float *dctx = buf(a, a->dcontext_id), *dstemb = buf(a, a->dstemb_id);
    zero(dctx, nctx);
    zero(dstemb, nte);
    int last = a->steps[a->n_steps - 1].out;
    memcpy(buf(a, a->tensors[last].grad_id), dout, tensor_floats(a, last) * sizeof(float));
    a->dsample = dsample;
    for (int i = a->n_steps - 1; i >= 0; i--)
        ckpt_backward(&a->steps[i].seg);
    a->dsample = NULL;
    if (dcontext)
        k_add_forward(dcontext, dcontext, dctx, nctx);

    /* the time embedding: only weight/LoRA gradients and SDXL's added conditions need it */
    size_t slot = (size_t)B * (TE > (size_t)c->projection_class_embeddings_input_dim
                                   ? TE : (size_t)c->projection_class_embeddings_input_dim);
    float *d0 = buf(a, a->dtmp_id), *d1 = d0 + slot, *d2 = d1 + slot;
    zero(d0, nte);
    k_silu_backward(d0, dstemb, buf(a, a->temb_id), nte);
    zero(d1, nte);
    linear_layer_backward(&m->time_2, d1, d0, buf(a, a->time_a_id), B, scratch);
    zero(d2, nte);
    k_silu_backward(d2, d1, buf(a, a->time_h_id), nte);
    linear_layer_backward(&m->time_1, NULL, d2, buf(a, a->tsin_id), B, scratch);
    if (c->text_time) {
        int Dt = unet_config_text_embed_dim(c), A = c->addition_time_embed_dim;
        int P = c->projection_class_embeddings_input_dim;
        zero(d1, nte);
        linear_layer_backward(&m->add_2, d1, d0, buf(a, a->add_a_id), B, scratch);
        zero(d2, nte);
        k_silu_backward(d2, d1, buf(a, a->add_h_id), nte);
        zero(d1, (size_t)B * P);
        linear_layer_backward(&m->add_1, d1, d2, buf(a, a->add_in_id), B, scratch);
        for (int b = 0; b < B; b++) {
            const float *row = d1 + (size_t)b * P;
            if (dtext_embeds)
                k_add_forward(dtext_embeds + (size_t)b * Dt, dtext_embeds + (size_t)b * Dt, row, (size_t)Dt);
            /* the time ids' sinusoids, packed behind the text embeds, back to [B*6, A] rows */
            memmove(d2 + (size_t)b * 6 * A, row + Dt, (size_t)6 * A * sizeof(float));
        }
        if (dtime_ids)
            timestep_embedding_backward(dtime_ids, d2, buf(a, a->time_ids_id), B * 6, A,
                                        c->flip_sin_to_cos, c->freq_shift);
    }
    return 0;
}
