/* sample_prompt.c — the text conditioning of sample images (see sample_prompt.h): SD1/SD2 as
 * sd-scripts' long-prompt-weighting pipeline computes it (get_weighted_text_embeddings with
 * no_boseos_middle False), SDXL through the training strategies. */
#include "engine/sample/sample_prompt.h"

#include <string.h>

#include "engine/models/prompt_weights.h"

enum { LPW_WINDOWS = 3, LPW_TOKENS = LPW_WINDOWS * CLIP_CHUNK_TOKENS };

typedef struct lpw_text {
    int ids[LPW_TOKENS];
    float w[LPW_TOKENS];
    int n;
} lpw_text;

/* The texts in batch order: [negative, prompt] with guidance, else [prompt]. */
static int batch_texts(const sample_params *p, const char *texts[2])
{
    if (p->cfg > 1.0f) {   /* diffusers: guidance only when guidance_scale > 1 */
        texts[0] = p->negative ? p->negative : "";
        texts[1] = p->prompt;
        return 2;
    }
    texts[0] = p->prompt;
    return 1;
}

/* get_prompts_with_weights of each text (at most 225 tokens), and the windows k for the
 * longest: min(3, (L − 1) // 75 + 1), at least 1. */
static int lpw_tokenize(sd_model *m, const sample_params *p, lpw_text t[2], int *k, error_info *err)
{
    const char *texts[2];
    int B = batch_texts(p, texts), longest = 0;
    for (int b = 0; b < B; b++) {
        t[b].n = prompt_tokenize_weighted(m->tok[0], texts[b], LPW_TOKENS, t[b].ids, t[b].w, NULL, err);
        if (t[b].n < 0)
            return -1;
        longest = t[b].n > longest ? t[b].n : longest;
    }
    *k = longest > 0 ? (longest - 1) / CLIP_CHUNK_TOKENS + 1 : 1;
    return B;
}

/* pad_tokens_and_weights + get_unweighted_text_embeddings' windows: BOS, the tokens, EOS up
 * to 75k + 2 ids (EOS padding for SD2 too); with k > 1 window i is ids 75i .. 75i + 76, its
 * head BOS and its tail EOS (SD2: only where it holds neither EOS nor the pad id 0, and the
 * id after BOS becomes EOS where it is the pad id). */
static void lpw_windows(const sd_model *m, const lpw_text *t, int k, int *out)
{
    const clip_tokenizer *tok = m->tok[0];
    int bos = clip_tokenizer_bos(tok), eos = clip_tokenizer_eos(tok);
    int pad = m->pad[0] == CLIP_PAD_EOS ? eos : 0, len = k * CLIP_CHUNK_TOKENS + 2;
    int full[LPW_TOKENS + 2];
    full[0] = bos;
    memcpy(full + 1, t->ids, (size_t)t->n * sizeof(int));
    for (int i = t->n + 1; i < len; i++)
        full[i] = eos;
    if (k == 1) {
        memcpy(out, full, CLIP_CHUNK_LEN * sizeof(int));
        return;
    }
    for (int i = 0; i < k; i++) {
        int *w = out + i * CLIP_CHUNK_LEN;
        memcpy(w, full + i * CLIP_CHUNK_TOKENS, CLIP_CHUNK_LEN * sizeof(int));
        w[0] = bos;
        if (pad == eos) {
            w[CLIP_CHUNK_LEN - 1] = full[len - 1];
        } else {
            if (w[CLIP_CHUNK_LEN - 1] != eos && w[CLIP_CHUNK_LEN - 1] != pad)
                w[CLIP_CHUNK_LEN - 1] = eos;
            if (w[1] == pad)
                w[1] = eos;
        }
    }
}

static double mean(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

/* One text's rows [77k, D]: the windows' states side by side, each row times its token's
 * weight, then × previous_mean / current_mean (float32 means, as torch's .float().mean()). */
static int lpw_encode(sd_model *m, const lpw_text *t, int k, int clip_skip, float *out, error_info *err)
{
    int ids[LPW_WINDOWS * CLIP_CHUNK_LEN];
    lpw_windows(m, t, k, ids);
    if (sd_encode_windows(m, 0, ids, k, clip_skip, 0, err) < 0)
        return -1;
    const int D = m->te[0].cfg.hidden_size, T = k * CLIP_CHUNK_LEN;
    const size_t n = (size_t)T * D;
    memcpy(out, m->te[0].out, n * sizeof(float));
    float previous = (float)mean(out, n);
    for (int j = 0; j < k; j++)
        for (int pos = 1; pos <= CLIP_CHUNK_TOKENS; pos++) {
            int tok = j * CLIP_CHUNK_TOKENS + pos - 1;
            if (tok >= t->n)
                break;
            float *x = out + ((size_t)j * CLIP_CHUNK_LEN + pos) * D;
            for (int c = 0; c < D; c++)
                x[c] *= t->w[tok];
        }
    float current = (float)mean(out, n), r = previous / current;
    for (size_t i = 0; i < n; i++)
        out[i] *= r;
    return 0;
}

int sample_prompt_rows(sd_model *m, const sample_params *p, int *T, error_info *err)
{
    if (m->n_te == 2) {
        int mtl = p->max_token_length;
        if (mtl != 0 && mtl != 75 && mtl != 150 && mtl != 225)
            return error_set(err, NULL, 0, 0, "max_token_length", "must be 75, 150 or 225, not %d", mtl);
        *T = sd_model_context_rows(mtl);
        return 0;
    }
    lpw_text t[2];
    int k;
    if (lpw_tokenize(m, p, t, &k, err) < 0)
        return -1;
    *T = k * CLIP_CHUNK_LEN;
    return 0;
}

int sample_prompt_encode(sd_model *m, const sample_params *p, float *ctx, float *pooled,
                         error_info *err)
{
    const int D = sd_model_context_dim(m), P = sd_model_pooled_dim(m);
    const char *texts[2];
    int B = batch_texts(p, texts);
    if (m->n_te == 2) {
        int T = 0;
        size_t rows = (size_t)sd_model_context_rows(p->max_token_length);
        for (int b = 0; b < B; b++)
            if (sd_encode_prompt_weighted(m, texts[b], p->clip_skip, p->max_token_length,
                                          ctx + b * rows * D, &T, pooled ? pooled + (size_t)b * P : NULL,
                                          err) < 0)
                return -1;
        return 0;
    }
    if (D != m->te[0].cfg.hidden_size)
        return error_set(err, NULL, 0, 0, NULL, "the text encoder's width %d is not the U-Net's "
                         "context width %d", m->te[0].cfg.hidden_size, D);
    lpw_text t[2];
    int k;
    if (lpw_tokenize(m, p, t, &k, err) < 0)
        return -1;
    for (int b = 0; b < B; b++)
        if (lpw_encode(m, &t[b], k, p->clip_skip, ctx + (size_t)b * k * CLIP_CHUNK_LEN * D, err) < 0)
            return -1;
    return 0;
}
