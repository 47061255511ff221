/* sd_model.c — loading a whole Stable Diffusion model from a checkpoint and computing its text
 * conditioning the way sd-scripts does (see sd_model.h for the rules). */
#include "engine/models/sd_model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/models/prompt_weights.h"

static int is_dir(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* "dir/sub/config.json" when that file exists, else "" */
static const char *config_path(char *buf, size_t size, const char *dir, const char *rel)
{
    buf[0] = '\0';
    if (dir) {
        if (snprintf(buf, size, "%s/%s", dir, rel) >= (int)size || !is_file(buf))
            buf[0] = '\0';
    }
    return buf;
}

static void base_name(char *out, size_t size, const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    size_t len = n - b;
    const char *dot = NULL;
    for (size_t i = b; i < n; i++)
        if (path[i] == '.')
            dot = path + i;
    if (dot && dot > path + b && !is_dir(path))
        len = (size_t)(dot - (path + b));
    if (len >= size)
        len = size - 1;
    memcpy(out, path + b, len);
    out[len] = '\0';
}

static int load_configs(ckpt_family family, bool v_hint, const char *dir, unet_config *uc,
                        clip_config tc[2], vae_config *vc, sd_prediction *pred, error_info *err)
{
    char p[CKPT_PATH_MAX + 64];
    switch (family) {
    case CKPT_SD1:
        unet_config_sd15(uc);
        tc[0] = clip_config_sd15_vit_l();
        *vc = vae_config_sd();
        break;
    case CKPT_SD2:
        unet_config_sd21_768(uc);
        tc[0] = clip_config_sd21_vit_h();
        *vc = vae_config_sd();
        break;
    case CKPT_SDXL:
        unet_config_sdxl_base(uc);
        tc[0] = clip_config_sd15_vit_l();
        tc[1] = clip_config_sdxl_bigg();
        *vc = vae_config_sdxl();
        break;
    default:
        return error_set(err, NULL, 0, 0, NULL, "%s: not a model loratty can run",
                         checkpoint_family_name(family));
    }
    if (config_path(p, sizeof p, dir, "unet/config.json")[0] && unet_config_load(uc, p, err) < 0)
        return -1;
    if (config_path(p, sizeof p, dir, "text_encoder/config.json")[0] &&
        clip_config_from_json(&tc[0], p, err) < 0)
        return -1;
    if (family == CKPT_SDXL && config_path(p, sizeof p, dir, "text_encoder_2/config.json")[0] &&
        clip_config_from_json(&tc[1], p, err) < 0)
        return -1;
    if (config_path(p, sizeof p, dir, "vae/config.json")[0] && vae_config_from_json(vc, p, err) < 0)
        return -1;
    *pred = v_hint ? SD_PRED_V : SD_PRED_EPS;
    if (config_path(p, sizeof p, dir, "scheduler/scheduler_config.json")[0]) {
        json_t *j = json_load_file(p, 0, NULL);
        const char *s = json_string_value(json_object_get(j, "prediction_type"));
        if (s && strcmp(s, "v_prediction") == 0)
            *pred = SD_PRED_V;
        else if (s && strcmp(s, "epsilon") == 0)
            *pred = SD_PRED_EPS;
        else if (s) {
            json_decref(j);
            return error_set(err, p, 0, 0, "prediction_type", "\"%s\": loratty knows epsilon and "
                             "v_prediction", s);
        }
        json_decref(j);
    }
    int ctx = family == CKPT_SDXL ? tc[0].hidden_size + tc[1].hidden_size : tc[0].hidden_size;
    if (uc->cross_attention_dim != ctx)
        return error_set(err, NULL, 0, 0, NULL, "the U-Net's cross_attention_dim %d does not match the "
                         "text encoder width %d", uc->cross_attention_dim, ctx);
    return 0;
}

static clip_tokenizer *load_tokenizer(const char *dir, error_info *err)
{
    if (!dir || !dir[0])
        return clip_tokenizer_load_default(err);
    char vocab[CKPT_PATH_MAX + 32], merges[CKPT_PATH_MAX + 32];
    if (snprintf(vocab, sizeof vocab, "%s/vocab.json", dir) >= (int)sizeof vocab ||
        snprintf(merges, sizeof merges, "%s/merges.txt", dir) >= (int)sizeof merges) {
        error_set(err, dir, 0, 0, NULL, "path too long");
        return NULL;
    }
    return clip_tokenizer_load_hf(vocab, merges, err);
}

/* The tokenizer folder of text encoder i: the checkpoint's own (`own`), else config_dir's, else "". */
static void tokenizer_dir(const char *own, const char *config_dir, int i, char *out, size_t size)
{
    static const char *const sub[2] = {"tokenizer", "tokenizer_2"};
    snprintf(out, size, "%s", own);
    if (!out[0] && config_dir) {
        if (snprintf(out, size, "%s/%s", config_dir, sub[i]) >= (int)size || !is_dir(out))
            out[0] = '\0';
    }
}

/* The components with zeroed parameters. */
static int create_parts(sd_model *m, const unet_config *uc, const clip_config tc[2], const vae_config *vc,
                        error_info *err)
{
    static const char *const prefix[2][2] = {{"lora_te", NULL}, {"lora_te1", "lora_te2"}};
    int rc = unet_build(&m->unet, uc, err);
    for (int i = 0; rc == 0 && i < m->n_te; i++) {
        rc = clip_create(&m->te[i], &tc[i], prefix[m->n_te - 1][i], err);
        m->te_init_factor[i] = 1.0f;
    }
    if (rc == 0)
        rc = vae_create(&m->vae, vc, err);
    m->scaling_factor = vc->scaling_factor;
    return rc;
}

/* Every SD family shares one BPE vocabulary; the encoders differ only in padding.
 * own[i]: the checkpoint's tokenizer folder of encoder i, "" when it has none. */
static int open_tokenizers(sd_model *m, const ckpt_tokenizer kind[2], const char *const own[2],
                           const char *config_dir, error_info *err)
{
    char dir[2][CKPT_PATH_MAX];
    for (int i = 0; i < m->n_te; i++) {
        m->pad[i] = kind[i] == CKPT_TOKENIZER_OPENCLIP ? CLIP_PAD_ZERO : CLIP_PAD_EOS;
        tokenizer_dir(own[i], config_dir, i, dir[i], sizeof dir[i]);
        if (i == 1 && (!dir[1][0] || strcmp(dir[1], dir[0]) == 0)) {
            m->tok[1] = m->tok[0];
            continue;
        }
        m->tok[i] = load_tokenizer(dir[i], err);
        if (!m->tok[i])
            return -1;
    }
    return 0;
}

int sd_model_from_checkpoint(checkpoint *ck, const char *config_dir, const char *name, sd_model **out,
                             error_info *err)
{
    *out = NULL;
    sd_model *m = calloc(1, sizeof *m);
    if (!m) {
        checkpoint_close(ck);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    m->family = ck->family;
    snprintf(m->name, sizeof m->name, "%s", name ? name : "");
    m->n_te = ck->family == CKPT_SDXL ? 2 : 1;
    unet_config uc;
    clip_config tc[2] = {{0}};
    vae_config vc;
    int rc = load_configs(ck->family, ck->v_prediction_hint, config_dir, &uc, tc, &vc, &m->prediction, err);
    if (rc == 0 && !ck->store[CKPT_VAE])
        rc = error_set(err, NULL, 0, 0, NULL, "the checkpoint has no VAE: give one with --vae");
    if (rc == 0)
        rc = create_parts(m, &uc, tc, &vc, err);
    if (rc == 0)
        rc = unet_load(&m->unet, ck->store[CKPT_UNET], err);
    for (int i = 0; rc == 0 && i < m->n_te; i++)
        rc = clip_load(&m->te[i], ck->store[i == 0 ? CKPT_TE1 : CKPT_TE2], err);
    if (rc == 0)
        rc = vae_load(&m->vae, ck->store[CKPT_VAE], err);
    const char *const own[2] = {ck->tokenizer_dir[0], ck->tokenizer_dir[1]};
    if (rc == 0)
        rc = open_tokenizers(m, ck->tokenizer, own, config_dir, err);
    checkpoint_close(ck);
    if (rc < 0) {
        sd_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* SD 1.x, 2.x or SDXL from a config folder: the real context widths first, then the parts of
 * smaller models (a second text encoder: SDXL; an OpenCLIP-style GELU encoder: SD 2.x). */
static ckpt_family config_family(const char *dir, const unet_config *uc, const clip_config *te1)
{
    char p[CKPT_PATH_MAX + 64];
    if (uc->cross_attention_dim == 768 && te1->act == CLIP_ACT_QUICK_GELU)
        return CKPT_SD1;
    if (uc->cross_attention_dim == 1024)
        return CKPT_SD2;
    if (uc->cross_attention_dim == 2048 || config_path(p, sizeof p, dir, "text_encoder_2/config.json")[0])
        return CKPT_SDXL;
    return te1->act == CLIP_ACT_GELU ? CKPT_SD2 : CKPT_SD1;
}

static float init_factor(const char *dir, const char *rel)
{
    char p[CKPT_PATH_MAX + 64];
    json_t *j = config_path(p, sizeof p, dir, rel)[0] ? json_load_file(p, 0, NULL) : NULL;
    json_t *f = json_object_get(j, "initializer_factor");
    float v = json_is_number(f) ? (float)json_number_value(f) : 1.0f;
    json_decref(j);
    return v;
}

int sd_model_new(const char *config_dir, sd_model **out, error_info *err)
{
    *out = NULL;
    static const char *const need[] = {"unet/config.json", "vae/config.json", "text_encoder/config.json"};
    char p[CKPT_PATH_MAX + 64];
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!config_path(p, sizeof p, config_dir, need[i])[0])
            return error_set(err, config_dir, 0, 0, NULL, "no %s: a new model needs the config files of "
                             "a diffusers model folder (unet/, vae/, text_encoder/[, text_encoder_2/])", need[i]);
    unet_config uc;
    clip_config te1;
    if (unet_config_load(&uc, config_path(p, sizeof p, config_dir, need[0]), err) < 0 ||
        clip_config_from_json(&te1, config_path(p, sizeof p, config_dir, need[2]), err) < 0)
        return -1;
    ckpt_family family = config_family(config_dir, &uc, &te1);
    if (family == CKPT_SDXL && !config_path(p, sizeof p, config_dir, "text_encoder_2/config.json")[0])
        return error_set(err, config_dir, 0, 0, NULL, "an SDXL U-Net (cross_attention_dim 2048) needs "
                         "text_encoder_2/config.json too");
    sd_model *m = calloc(1, sizeof *m);
    if (!m)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    m->family = family;
    m->n_te = family == CKPT_SDXL ? 2 : 1;
    base_name(m->name, sizeof m->name, config_dir);
    clip_config tc[2] = {{0}};
    vae_config vc;
    int rc = load_configs(family, false, config_dir, &uc, tc, &vc, &m->prediction, err);
    if (rc == 0)
        rc = create_parts(m, &uc, tc, &vc, err);
    static const char *const te_rel[2] = {"text_encoder/config.json", "text_encoder_2/config.json"};
    for (int i = 0; rc == 0 && i < m->n_te; i++)
        m->te_init_factor[i] = init_factor(config_dir, te_rel[i]);
    const ckpt_tokenizer kind[2] = {family == CKPT_SD2 ? CKPT_TOKENIZER_OPENCLIP : CKPT_TOKENIZER_CLIP,
                                    family == CKPT_SDXL ? CKPT_TOKENIZER_OPENCLIP : CKPT_TOKENIZER_NONE};
    const char *const own[2] = {"", ""};
    if (rc == 0)
        rc = open_tokenizers(m, kind, own, config_dir, err);
    if (rc < 0) {
        sd_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

/* A single-file checkpoint of a non-standard size (the tiny test and demo models) carries its
 * diffusers configs beside it: in its own folder (unet/config.json ...) or in a folder named
 * like the file without its extension. */
const char *sd_model_config_dir_beside(const char *model, char *buf, size_t size)
{
    char probe[4200];
    if (!is_file(model))   /* a diffusers folder carries its own */
        return NULL;
    snprintf(buf, size, "%s", model);
    char *dot = strrchr(buf, '.'), *slash = strrchr(buf, '/');
    if (dot && (!slash || dot > slash)) {
        *dot = '\0';
        snprintf(probe, sizeof probe, "%s/unet/config.json", buf);
        if (is_file(probe))
            return buf;
    }
    snprintf(buf, size, "%s", model);
    slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(buf, size, ".");
    snprintf(probe, sizeof probe, "%s/unet/config.json", buf);
    return is_file(probe) ? buf : NULL;
}

int sd_model_load(const char *path, const char *vae_path, const char *config_dir, sd_model **out,
                  error_info *err)
{
    *out = NULL;
    checkpoint *ck;
    if (checkpoint_open(path, vae_path, &ck, err) < 0)
        return -1;
    if (!config_dir && is_dir(path))
        config_dir = path;
    char name[256];
    base_name(name, sizeof name, path);
    return sd_model_from_checkpoint(ck, config_dir, name, out, err);
}

void sd_model_free(sd_model *m)
{
    if (!m)
        return;
    if (m->tok[1] && m->tok[1] != m->tok[0])
        clip_tokenizer_free(m->tok[1]);
    clip_tokenizer_free(m->tok[0]);
    vae_free(&m->vae);
    for (int i = 0; i < m->n_te; i++)
        clip_free(&m->te[i]);
    unet_free(&m->unet);
    free(m);
}

int sd_model_context_dim(const sd_model *m)
{
    return m->unet.config.cross_attention_dim;
}

int sd_model_context_rows(int max_token_length)
{
    int n = max_token_length > CLIP_CHUNK_TOKENS ? max_token_length / CLIP_CHUNK_TOKENS : 1;
    return n * CLIP_CHUNK_TOKENS + 2;
}

int sd_model_pooled_dim(const sd_model *m)
{
    return m->unet.config.text_time ? unet_config_text_embed_dim(&m->unet.config) : 0;
}

int sd_model_vae_downscale(const sd_model *m)
{
    return vae_downscale(&m->vae.cfg);
}

int sd_model_size_multiple(const sd_model *m)
{
    return vae_downscale(&m->vae.cfg) << (m->unet.config.levels - 1);
}

void sd_model_adapters_changed(sd_model *m)
{
    m->te_planned = 0;
}

/* Joins the windows' states [n, 77, C] into rows of width ld at column col of out: BOS of
 * window 0, positions 1..75 of every window, the last position of the last window. With one
 * window this is the window itself. sd-scripts' SD2 branch also patches "empty" windows, but
 * compares a token id with the EOS *string*, so the patch never runs; it is not done here. */
static void join_windows(float *out, int ld, int col, const float *states, int n, int C)
{
    const size_t W = CLIP_CHUNK_LEN;
    int row = 0;
    memcpy(out + col, states, (size_t)C * sizeof(float));
    row++;
    for (int k = 0; k < n; k++)
        for (int t = 1; t <= CLIP_CHUNK_TOKENS; t++, row++)
            memcpy(out + (size_t)row * ld + col, states + ((size_t)k * W + t) * C, (size_t)C * sizeof(float));
    memcpy(out + (size_t)row * ld + col, states + ((size_t)(n - 1) * W + W - 1) * C, (size_t)C * sizeof(float));
}

static int plan_encoders(sd_model *m, error_info *err)
{
    if (!m->te_planned) {
        for (int i = 0; i < m->n_te; i++)
            if (clip_plan(&m->te[i], CLIP_MAX_CHUNKS, CLIP_CHUNK_LEN, err) < 0)
                return -1;
        m->te_planned = 1;
    }
    return 0;
}

int sd_encode_windows(sd_model *m, int e, const int *ids, int n, int clip_skip, int pooled,
                      error_info *err)
{
    if (n < 1 || n > CLIP_MAX_CHUNKS)
        return error_set(err, NULL, 0, 0, NULL, "%d windows of tokens: 1 to %d", n, CLIP_MAX_CHUNKS);
    if (plan_encoders(m, err) < 0)
        return -1;
    int32_t ids32[CLIP_MAX_CHUNKS * CLIP_CHUNK_LEN];
    for (int j = 0; j < n * CLIP_CHUNK_LEN; j++) {
        if (ids[j] < 0 || ids[j] >= m->te[e].cfg.vocab_size)
            return error_set(err, NULL, 0, 0, NULL, "token id %d is outside text encoder %d's "
                             "vocabulary (%d): the tokenizer does not belong to this model",
                             ids[j], e + 1, m->te[e].cfg.vocab_size);
        ids32[j] = ids[j];
    }
    clip_select sel;
    if (m->n_te == 1) {
        /* clip_skip k: hidden_states[-k] through final_layer_norm (k = 1: the last layer) */
        sel = (clip_select){clip_skip > 1 ? -clip_skip : -1, 1, 0};
        if (clip_skip > m->te[0].cfg.num_layers)
            return error_set(err, NULL, 0, 0, NULL, "clip_skip %d: the text encoder has %d layers",
                             clip_skip, m->te[0].cfg.num_layers);
    } else {
        /* sd-scripts takes TE1 hidden_states[11] (= [-2] of CLIP-L's 12 layers) and TE2
         * hidden_states[-2], both without the final LN; TE2 also gives the pooled output. */
        sel = (clip_select){-2, 0, e == 1 && pooled};
    }
    return clip_forward(&m->te[e], ids32, n, CLIP_CHUNK_LEN, &sel, err);
}

/* sd_encode_prompt and sd_encode_prompt_weighted: the windows of each encoder's tokens
 * (weighted: the tokens of each parsed piece, and their weights), the encoders' states
 * joined, the weights applied to the joined rows. */
static int encode(sd_model *m, const char *text, int weighted, int clip_skip, int max_token_length,
                  float *context, int *T, float *pooled, error_info *err)
{
    int ids[CLIP_MAX_CHUNKS * CLIP_CHUNK_LEN], toks[CLIP_MAX_CHUNKS * CLIP_CHUNK_TOKENS];
    float w[CLIP_MAX_CHUNKS * CLIP_CHUNK_TOKENS];
    int ld = sd_model_context_dim(m), col = 0, n = 0, n_w = 0;
    int n_tok = max_token_length ? max_token_length : CLIP_CHUNK_TOKENS;
    if (n_tok != 75 && n_tok != 150 && n_tok != 225)
        return error_set(err, NULL, 0, 0, "max_token_length", "must be 75, 150 or 225, not %d",
                         max_token_length);
    for (int i = 0; i < m->n_te; i++) {
        if (weighted) {
            if ((n_w = prompt_tokenize_weighted(m->tok[i], text, n_tok, toks, w, NULL, err)) < 0 ||
                clip_windows_from_ids(m->tok[i], toks, n_w, max_token_length, m->pad[i], ids, &n, err) < 0)
                return -1;
        } else if (clip_encode_prompt(m->tok[i], text, max_token_length, m->pad[i], ids, &n, err) < 0) {
            return -1;
        }
        if (sd_encode_windows(m, i, ids, n, clip_skip, pooled != NULL, err) < 0)
            return -1;
        const clip_model *te = &m->te[i];
        int C = te->cfg.hidden_size;
        join_windows(context, ld, col, te->out, n, C);
        if (weighted)
            prompt_weight_rows(context, n * CLIP_CHUNK_TOKENS + 2, ld, col, C, w, n_w);
        col += C;
        if (te->sel.pooled) {
            /* pooled text embedding of window 0 (not weighted) */
            const float *src = te->text_embeds ? te->text_embeds : te->pooled;
            int P = te->text_embeds ? te->cfg.projection_dim : C;
            memcpy(pooled, src, (size_t)P * sizeof(float));
        }
    }
    *T = n * CLIP_CHUNK_TOKENS + 2;
    return 0;
}

int sd_encode_prompt(sd_model *m, const char *text, int clip_skip, int max_token_length,
                     float *context, int *T, float *pooled, error_info *err)
{
    return encode(m, text, 0, clip_skip, max_token_length, context, T, pooled, err);
}

int sd_encode_prompt_weighted(sd_model *m, const char *text, int clip_skip, int max_token_length,
                              float *context, int *T, float *pooled, error_info *err)
{
    return encode(m, text, 1, clip_skip, max_token_length, context, T, pooled, err);
}

void sd_time_ids(float time_ids[6], int orig_h, int orig_w, int crop_top, int crop_left, int target_h,
                 int target_w)
{
    time_ids[0] = (float)orig_h;
    time_ids[1] = (float)orig_w;
    time_ids[2] = (float)crop_top;
    time_ids[3] = (float)crop_left;
    time_ids[4] = (float)target_h;
    time_ids[5] = (float)target_w;
}

void sd_size_embedding(float out[1536], const float time_ids[6])
{
    /* sdxl_train_util.get_timestep_embedding(x, 256): freqs exp(-ln(1e4)·i/128), [cos, sin] */
    for (int s = 0; s < 6; s++)
        for (int i = 0; i < 128; i++) {
            double f = exp(-log(10000.0) * i / 128.0);
            double a = (double)time_ids[s] * (float)f;
            out[s * 256 + i] = (float)cos(a);
            out[s * 256 + 128 + i] = (float)sin(a);
        }
}
