/* train_run_te.c — text conditioning while the text encoders' LoRA trains. The micro-batch's
 * captions go through each CLIP model together (B × windows sequences of 77 tokens) with the
 * activations kept, the windows are joined as sd_encode_prompt joins them (BOS of window 0,
 * positions 1..75 of every window, the last position of the last window), and the U-Net's
 * gradient with respect to the context is scattered back through that join into clip_backward,
 * which accumulates into the text encoder adapters.
 *
 * SD1/SD2: one encoder, hidden_states[-clip_skip] through the final LN fills the context.
 * SDXL (sdxl_train_network.py): TE1 and TE2 hidden_states[-2] without the final LN side by side
 * (columns 0..C1 and C1..C1+C2 of every context row), and the pooled embedding = TE2's final-LN
 * state at the EOS of window 0 through text_projection. The U-Net's added text embedding gives
 * that pooled vector a gradient too (unet_backward's dtext_embeds, accumulated into dpooled),
 * which flows back through TE2's projection and final LN into its last layer.
 *
 * weighted_captions (strategy_*.py encode_tokens_with_weights): each caption's tokens come with
 * weights (prompt_weights.h) and joined row r = 1 .. 75n is multiplied by the weight of token
 * r − 1 after the join; the backward multiplies the same rows' gradient by the same weight
 * before scattering it into the windows. */
#include "engine/train/train_run_internal.h"

#include <stdlib.h>
#include <string.h>

#include "engine/models/prompt_weights.h"

/* The joined rows [n·75 + 2] of one caption's windows `st` [n, 77, C] into columns
 * col..col+C of out (row stride ld), and (scatter) back: the windows' positions that the join
 * does not take get 0. */
static void join_rows(float *out, int ld, int col, const float *st, int n, int C)
{
    size_t bytes = (size_t)C * sizeof(float);
    int row = 0;
    memcpy(out + col, st, bytes);
    row++;
    for (int k = 0; k < n; k++)
        for (int p = 1; p <= CLIP_CHUNK_TOKENS; p++, row++)
            memcpy(out + (size_t)row * ld + col, st + ((size_t)k * CLIP_CHUNK_LEN + p) * C, bytes);
    memcpy(out + (size_t)row * ld + col, st + ((size_t)(n - 1) * CLIP_CHUNK_LEN + CLIP_CHUNK_LEN - 1) * C,
           bytes);
}

static void scatter_rows(float *st, const float *d, int ld, int col, int n, int C)
{
    size_t bytes = (size_t)C * sizeof(float);
    int row = 0;
    memset(st, 0, (size_t)n * CLIP_CHUNK_LEN * bytes);
    memcpy(st, d + col, bytes);
    row++;
    for (int k = 0; k < n; k++)
        for (int p = 1; p <= CLIP_CHUNK_TOKENS; p++, row++)
            memcpy(st + ((size_t)k * CLIP_CHUNK_LEN + p) * C, d + (size_t)row * ld + col, bytes);
    memcpy(st + ((size_t)(n - 1) * CLIP_CHUNK_LEN + CLIP_CHUNK_LEN - 1) * C, d + (size_t)row * ld + col,
           bytes);
}

/* The gradient through the weighted rows: token i's state (window i / 75, position i % 75 + 1)
 * times its weight. */
static void weight_windows(float *st, int C, const float *w, int n_w)
{
    for (int i = 0; i < n_w; i++) {
        float *x = st + ((size_t)(i / CLIP_CHUNK_TOKENS) * CLIP_CHUNK_LEN + i % CLIP_CHUNK_TOKENS + 1) * C;
        for (int c = 0; c < C; c++)
            x[c] *= w[i];
    }
}

static int plan(trun_te *t, error_info *err)
{
    for (int i = 0; i < t->m->n_te; i++)
        if (clip_plan(&t->m->te[i], t->max_B * t->windows, CLIP_CHUNK_LEN, err) < 0)
            return -1;
    /* sd_encode_prompt plans for its own sizes: it re-plans when it runs next */
    t->m->te_planned = 0;
    t->planned = 1;
    return 0;
}

int trun_te_init(trun_te *t, sd_model *m, int max_B, int clip_skip, int max_token_length,
                 error_info *err)
{
    memset(t, 0, sizeof *t);
    t->m = m;
    t->clip_skip = clip_skip;
    t->max_token_length = max_token_length;
    t->windows = max_token_length > 75 ? max_token_length / 75 : 1;
    t->max_B = max_B;
    if (m->n_te == 1 && clip_skip > m->te[0].cfg.num_layers)
        return error_set(err, NULL, 0, 0, "clip_skip", "clip_skip %d: the text encoder has %d layers",
                         clip_skip, m->te[0].cfg.num_layers);
    if (m->n_te == 2) {
        const clip_config *c2 = &m->te[1].cfg;
        t->P = c2->projection_dim > 0 ? c2->projection_dim : c2->hidden_size;
        if (t->P != sd_model_pooled_dim(m) ||
            m->te[0].cfg.hidden_size + c2->hidden_size != sd_model_context_dim(m))
            return error_set(err, NULL, 0, 0, NULL, "the text encoders' widths (%d + %d, pooled %d) "
                             "do not fit the U-Net's context %d and pooled %d", m->te[0].cfg.hidden_size,
                             c2->hidden_size, t->P, sd_model_context_dim(m), sd_model_pooled_dim(m));
    }
    size_t seqs = (size_t)max_B * t->windows;
    t->tmp = malloc(seqs * CLIP_CHUNK_LEN * sizeof *t->tmp);
    int ok = t->tmp != NULL;
    for (int i = 0; i < m->n_te; i++) {
        t->ids[i] = malloc(seqs * CLIP_CHUNK_LEN * sizeof *t->ids[i]);
        t->dout[i] = malloc(seqs * CLIP_CHUNK_LEN * (size_t)m->te[i].cfg.hidden_size * sizeof(float));
        t->w[i] = malloc(seqs * CLIP_CHUNK_TOKENS * sizeof *t->w[i]);
        t->n_w[i] = calloc((size_t)max_B, sizeof *t->n_w[i]);
        ok = ok && t->ids[i] && t->dout[i] && t->w[i] && t->n_w[i];
    }
    if (t->P) {
        t->pooled = malloc((size_t)max_B * t->P * sizeof(float));
        t->dpooled = malloc((size_t)max_B * t->P * sizeof(float));
        t->dproj = malloc(seqs * t->P * sizeof(float));
        ok = ok && t->pooled && t->dpooled && t->dproj;
    }
    if (!ok)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the text encoder buffers");
    return plan(t, err);
}

void trun_te_free(trun_te *t)
{
    for (int i = 0; i < 2; i++) {
        free(t->ids[i]);
        free(t->dout[i]);
        free(t->w[i]);
        free(t->n_w[i]);
    }
    free(t->tmp);
    free(t->pooled);
    free(t->dpooled);
    free(t->dproj);
    memset(t, 0, sizeof *t);
}

/* Token ids of the batch's captions for encoder e into t->ids[e]; *n: windows per caption. */
static int tokenize(trun_te *t, int e, const batch *bt, int *n, error_info *err)
{
    sd_model *m = t->m;
    const clip_model *te = &m->te[e];
    const size_t stride = (size_t)t->windows * CLIP_CHUNK_TOKENS;
    for (int b = 0; b < bt->count; b++) {
        const char *caption = bt->samples[b].caption;
        if (t->weighted) {
            int toks[CLIP_MAX_CHUNKS * CLIP_CHUNK_TOKENS];
            int nt = prompt_tokenize_weighted(m->tok[e], caption, (int)stride, toks,
                                              t->w[e] + b * stride, NULL, err);
            if (nt < 0 || clip_windows_from_ids(m->tok[e], toks, nt, t->max_token_length, m->pad[e],
                                                t->tmp, n, err) < 0)
                return -1;
            t->n_w[e][b] = nt;
        } else if (clip_encode_prompt(m->tok[e], caption, t->max_token_length, m->pad[e], t->tmp, n,
                                      err) < 0) {
            return -1;
        }
        for (int j = 0; j < *n * CLIP_CHUNK_LEN; j++) {
            if (t->tmp[j] < 0 || t->tmp[j] >= te->cfg.vocab_size)
                return error_set(err, NULL, 0, 0, NULL, "token id %d is outside text encoder %d's "
                                 "vocabulary (%d)", t->tmp[j], e + 1, te->cfg.vocab_size);
            t->ids[e][(size_t)b * *n * CLIP_CHUNK_LEN + j] = t->tmp[j];
        }
    }
    return 0;
}

int trun_te_forward(trun_te *t, const batch *bt, float *ctx, int *T, error_info *err)
{
    sd_model *m = t->m;
    if ((!t->planned || m->te_planned) && plan(t, err) != 0)   /* sd_encode_prompt re-planned */
        return -1;
    if (bt->count > t->max_B)
        return error_set(err, NULL, 0, 0, NULL, "a batch of %d captions, the text encoders are "
                         "planned for %d", bt->count, t->max_B);
    int D = sd_model_context_dim(m), col = 0, rows = 0;
    for (int e = 0; e < m->n_te; e++) {
        clip_model *te = &m->te[e];
        int n = 0;
        if (tokenize(t, e, bt, &n, err) != 0)
            return -1;
        if (e > 0 && n != t->n)
            return error_set(err, NULL, 0, 0, NULL, "the text encoders' tokenizers gave %d and %d "
                             "windows", t->n, n);
        t->n = n;
        /* SD1/2: hidden_states[-clip_skip] + final LN; SDXL: hidden_states[-2], no LN, and
         * TE2's pooled output */
        clip_select sel = m->n_te == 1 ? (clip_select){t->clip_skip > 1 ? -t->clip_skip : -1, 1, 0}
                                       : (clip_select){-2, 0, e == 1};
        if (clip_forward(te, t->ids[e], bt->count * n, CLIP_CHUNK_LEN, &sel, err) < 0)
            return -1;
        int C = te->cfg.hidden_size;
        rows = n * CLIP_CHUNK_TOKENS + 2;
        for (int b = 0; b < bt->count; b++) {
            join_rows(ctx + (size_t)b * rows * D, D, col, te->out + (size_t)b * n * CLIP_CHUNK_LEN * C,
                      n, C);
            if (t->weighted)
                prompt_weight_rows(ctx + (size_t)b * rows * D, rows, D, col, C,
                                   t->w[e] + (size_t)b * t->windows * CLIP_CHUNK_TOKENS, t->n_w[e][b]);
        }
        col += C;
        if (sel.pooled) {   /* window 0 of each caption, as sd-scripts' pool2[::n_size] */
            const float *src = te->text_embeds ? te->text_embeds : te->pooled;
            for (int b = 0; b < bt->count; b++)
                memcpy(t->pooled + (size_t)b * t->P, src + (size_t)b * n * t->P,
                       (size_t)t->P * sizeof(float));
        }
    }
    if (t->P)   /* the U-Net accumulates into it */
        memset(t->dpooled, 0, (size_t)bt->count * t->P * sizeof(float));
    t->B = bt->count;
    *T = rows;
    return 0;
}

void trun_te_backward(trun_te *t, const float *dctx)
{
    sd_model *m = t->m;
    int D = sd_model_context_dim(m), n = t->n, rows = n * CLIP_CHUNK_TOKENS + 2, col = 0;
    for (int e = 0; e < m->n_te; e++) {
        clip_model *te = &m->te[e];
        int C = te->cfg.hidden_size;
        for (int b = 0; b < t->B; b++) {
            float *st = t->dout[e] + (size_t)b * n * CLIP_CHUNK_LEN * C;
            scatter_rows(st, dctx + (size_t)b * rows * D, D, col, n, C);
            if (t->weighted)
                weight_windows(st, C, t->w[e] + (size_t)b * t->windows * CLIP_CHUNK_TOKENS, t->n_w[e][b]);
        }
        col += C;
        if (!te->sel.pooled) {
            clip_backward(te, t->dout[e], NULL, NULL, NULL);
            continue;
        }
        memset(t->dproj, 0, (size_t)t->B * n * t->P * sizeof(float));
        for (int b = 0; b < t->B; b++)
            memcpy(t->dproj + (size_t)b * n * t->P, t->dpooled + (size_t)b * t->P,
                   (size_t)t->P * sizeof(float));
        if (te->text_embeds)
            clip_backward(te, t->dout[e], NULL, t->dproj, NULL);
        else
            clip_backward(te, t->dout[e], t->dproj, NULL, NULL);
    }
}
