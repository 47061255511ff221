/* train_run_te.c — text conditioning while the text encoder's LoRA trains (SD1/SD2, one text
 * encoder): the micro-batch's captions go through the CLIP model together (B × windows
 * sequences of 77 tokens) with the activations kept, the windows are joined as
 * sd_encode_prompt joins them (BOS of window 0, positions 1..75 of every window, the last
 * position of the last window), and the U-Net's gradient with respect to the context is
 * scattered back through that join into clip_backward, which accumulates into the text
 * encoder adapters. */
#include "engine/train/train_run_internal.h"

#include <stdlib.h>
#include <string.h>

int trun_te_init(trun_te *t, sd_model *m, int max_B, int clip_skip, int max_token_length,
                 error_info *err)
{
    memset(t, 0, sizeof *t);
    t->m = m;
    t->clip_skip = clip_skip;
    t->max_token_length = max_token_length;
    t->windows = max_token_length > 75 ? max_token_length / 75 : 1;
    t->max_B = max_B;
    clip_model *te = &m->te[0];
    if (clip_skip > te->cfg.num_layers)
        return error_set(err, NULL, 0, 0, "clip_skip", "clip_skip %d: the text encoder has %d layers",
                         clip_skip, te->cfg.num_layers);
    size_t seqs = (size_t)max_B * t->windows;
    t->ids = malloc(seqs * CLIP_CHUNK_LEN * sizeof *t->ids);
    t->tmp = malloc(seqs * CLIP_CHUNK_LEN * sizeof *t->tmp);
    t->dout = malloc(seqs * CLIP_CHUNK_LEN * (size_t)te->cfg.hidden_size * sizeof *t->dout);
    if (!t->ids || !t->tmp || !t->dout)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the text encoder buffers");
    /* sd_encode_prompt plans for its own sizes: it re-plans when it runs next */
    if (clip_plan(te, (int)seqs, CLIP_CHUNK_LEN, err) < 0)
        return -1;
    m->te_planned = 0;
    t->planned = 1;
    return 0;
}

void trun_te_free(trun_te *t)
{
    free(t->ids);
    free(t->tmp);
    free(t->dout);
    memset(t, 0, sizeof *t);
}

int trun_te_forward(trun_te *t, const batch *bt, float *ctx, int *T, error_info *err)
{
    sd_model *m = t->m;
    clip_model *te = &m->te[0];
    if (!t->planned || m->te_planned) {   /* sd_encode_prompt planned it for its sizes */
        if (clip_plan(te, t->max_B * t->windows, CLIP_CHUNK_LEN, err) < 0)
            return -1;
        m->te_planned = 0;
        t->planned = 1;
    }
    int n = 0;
    for (int b = 0; b < bt->count; b++) {
        if (clip_encode_prompt(m->tok[0], bt->samples[b].caption, t->max_token_length, m->pad[0],
                               t->tmp, &n, err) < 0)
            return -1;
        for (int j = 0; j < n * CLIP_CHUNK_LEN; j++) {
            if (t->tmp[j] < 0 || t->tmp[j] >= te->cfg.vocab_size)
                return error_set(err, NULL, 0, 0, NULL, "token id %d is outside the text encoder's "
                                 "vocabulary (%d)", t->tmp[j], te->cfg.vocab_size);
            t->ids[(size_t)b * n * CLIP_CHUNK_LEN + j] = t->tmp[j];
        }
    }
    t->n = n;
    t->B = bt->count;
    clip_select sel = {t->clip_skip > 1 ? -t->clip_skip : -1, 1, 0};
    if (clip_forward(te, t->ids, bt->count * n, CLIP_CHUNK_LEN, &sel, err) < 0)
        return -1;
    int C = te->cfg.hidden_size, rows = n * CLIP_CHUNK_TOKENS + 2;
    for (int b = 0; b < bt->count; b++) {
        const float *st = te->out + (size_t)b * n * CLIP_CHUNK_LEN * C;
        float *out = ctx + (size_t)b * rows * C;
        int row = 0;
        memcpy(out, st, (size_t)C * sizeof(float));
        row++;
        for (int k = 0; k < n; k++)
            for (int p = 1; p <= CLIP_CHUNK_TOKENS; p++, row++)
                memcpy(out + (size_t)row * C, st + ((size_t)k * CLIP_CHUNK_LEN + p) * C,
                       (size_t)C * sizeof(float));
        memcpy(out + (size_t)row * C, st + ((size_t)(n - 1) * CLIP_CHUNK_LEN + CLIP_CHUNK_LEN - 1) * C,
               (size_t)C * sizeof(float));
    }
    *T = rows;
    return 0;
}

void trun_te_backward(trun_te *t, const float *dctx)
{
    clip_model *te = &t->m->te[0];
    int C = te->cfg.hidden_size, n = t->n, rows = n * CLIP_CHUNK_TOKENS + 2;
    memset(t->dout, 0, (size_t)t->B * n * CLIP_CHUNK_LEN * C * sizeof(float));
    for (int b = 0; b < t->B; b++) {
        const float *d = dctx + (size_t)b * rows * C;
        float *o = t->dout + (size_t)b * n * CLIP_CHUNK_LEN * C;
        int row = 0;
        memcpy(o, d, (size_t)C * sizeof(float));
        row++;
        for (int k = 0; k < n; k++)
            for (int p = 1; p <= CLIP_CHUNK_TOKENS; p++, row++)
                memcpy(o + ((size_t)k * CLIP_CHUNK_LEN + p) * C, d + (size_t)row * C,
                       (size_t)C * sizeof(float));
        memcpy(o + ((size_t)(n - 1) * CLIP_CHUNK_LEN + CLIP_CHUNK_LEN - 1) * C, d + (size_t)row * C,
               (size_t)C * sizeof(float));
    }
    clip_backward(te, t->dout, NULL, NULL, NULL);
}
