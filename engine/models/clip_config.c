/* clip_config.c — CLIP text encoder configs (config.json and the real SD models), the
 * parameter manifest, weight loading by transformers names and the LoRA target list. */
#include "engine/models/clip.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

clip_config clip_config_sd15_vit_l(void)
{
    clip_config c = {49408, 768, 3072, 12, 12, 77, 0, CLIP_ACT_QUICK_GELU, 1e-5f, 2};
    return c;
}

clip_config clip_config_sd21_vit_h(void)
{
    /* OpenCLIP ViT-H has 24 layers; diffusers ships 23, SD2 conditions on the penultimate */
    clip_config c = {49408, 1024, 4096, 23, 16, 77, 0, CLIP_ACT_GELU, 1e-5f, 2};
    return c;
}

clip_config clip_config_sdxl_bigg(void)
{
    clip_config c = {49408, 1280, 5120, 32, 20, 77, 1280, CLIP_ACT_GELU, 1e-5f, 2};
    return c;
}

int clip_config_validate(const clip_config *c, error_info *err)
{
    if (c->vocab_size <= 0 || c->hidden_size <= 0 || c->intermediate_size <= 0 ||
        c->num_layers <= 0 || c->num_heads <= 0 || c->max_positions <= 0 || c->projection_dim < 0)
        return error_set(err, "", 0, 0, "", "CLIP config: sizes must be positive");
    if (c->hidden_size % c->num_heads)
        return error_set(err, "", 0, 0, "", "CLIP config: hidden_size %d is not a multiple of num_attention_heads %d",
                         c->hidden_size, c->num_heads);
    if (!(c->layer_norm_eps > 0))
        return error_set(err, "", 0, 0, "", "CLIP config: layer_norm_eps must be positive");
    return 0;
}

static int json_int(json_t *root, const char *key, int *dst, int required, const char *path,
                    error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required)
            return error_set(err, path, 0, 0, key, "missing from the CLIP config");
        return 0;
    }
    if (!json_is_integer(v))
        return error_set(err, path, 0, 0, key, "must be an integer");
    *dst = (int)json_integer_value(v);
    return 0;
}

int clip_config_from_json(clip_config *c, const char *path, error_info *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return error_set(err, path, jerr.line, jerr.column, "", "%s", jerr.text);
    json_t *tc = json_object_get(root, "text_config");  /* a full CLIPConfig */
    json_t *cfg = json_is_object(tc) ? tc : root;
    memset(c, 0, sizeof *c);
    c->max_positions = 77;
    c->layer_norm_eps = 1e-5f;
    c->eos_token_id = 2;
    c->act = CLIP_ACT_QUICK_GELU;
    int rc = 0;
    rc |= json_int(cfg, "vocab_size", &c->vocab_size, 1, path, err);
    rc |= json_int(cfg, "hidden_size", &c->hidden_size, 1, path, err);
    rc |= json_int(cfg, "intermediate_size", &c->intermediate_size, 1, path, err);
    rc |= json_int(cfg, "num_hidden_layers", &c->num_layers, 1, path, err);
    rc |= json_int(cfg, "num_attention_heads", &c->num_heads, 1, path, err);
    rc |= json_int(cfg, "max_position_embeddings", &c->max_positions, 0, path, err);
    rc |= json_int(cfg, "eos_token_id", &c->eos_token_id, 0, path, err);
    int proj = 0;
    rc |= json_int(cfg, "projection_dim", &proj, 0, path, err);
    if (rc) {
        json_decref(root);
        return -1;
    }
    json_t *eps = json_object_get(cfg, "layer_norm_eps");
    if (json_is_number(eps))
        c->layer_norm_eps = (float)json_number_value(eps);
    json_t *act = json_object_get(cfg, "hidden_act");
    if (json_is_string(act)) {
        const char *a = json_string_value(act);
        if (!strcmp(a, "quick_gelu"))
            c->act = CLIP_ACT_QUICK_GELU;
        else if (!strcmp(a, "gelu"))
            c->act = CLIP_ACT_GELU;
        else {
            error_set(err, path, 0, 0, "hidden_act", "'%s' is not supported (quick_gelu or gelu)", a);
            json_decref(root);
            return -1;
        }
    }
    json_t *arch = json_object_get(root, "architectures");
    size_t i;
    json_t *v;
    json_array_foreach(arch, i, v) {
        if (json_is_string(v) && strstr(json_string_value(v), "WithProjection"))
            c->projection_dim = proj;
    }
    json_decref(root);
    if (clip_config_validate(c, err)) {
        if (err)
            snprintf(err->file, sizeof err->file, "%s", path);
        return -1;
    }
    return 0;
}

/* ---- manifest ---- */

enum { CLIP_PER_LAYER = 16 };

static const char *const layer_names[CLIP_PER_LAYER] = {
    "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight",
    "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias",
    "self_attn.out_proj.weight", "self_attn.out_proj.bias", "layer_norm1.weight",
    "layer_norm1.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    "layer_norm2.weight", "layer_norm2.bias",
};

int clip_param_count(const clip_config *c)
{
    return 2 + CLIP_PER_LAYER * c->num_layers + 2 + (c->projection_dim > 0);
}

/* Name and shape of entry i, without the offset. */
static void param_shape(const clip_config *c, int i, clip_param_info *p)
{
    int64_t C = c->hidden_size, I = c->intermediate_size;
    int L = c->num_layers;
    memset(p, 0, sizeof *p);
    if (i == 0) {
        snprintf(p->name, sizeof p->name, "text_model.embeddings.token_embedding.weight");
        p->ndim = 2, p->shape[0] = c->vocab_size, p->shape[1] = C;
    } else if (i == 1) {
        snprintf(p->name, sizeof p->name, "text_model.embeddings.position_embedding.weight");
        p->ndim = 2, p->shape[0] = c->max_positions, p->shape[1] = C;
    } else if (i < 2 + CLIP_PER_LAYER * L) {
        int l = (i - 2) / CLIP_PER_LAYER, j = (i - 2) % CLIP_PER_LAYER;
        snprintf(p->name, sizeof p->name, "text_model.encoder.layers.%d.%s", l, layer_names[j]);
        static const int rows_is_I[CLIP_PER_LAYER] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0};
        int64_t rows = rows_is_I[j] ? I : C;
        if (strstr(layer_names[j], "weight") && j < 8)
            p->ndim = 2, p->shape[0] = C, p->shape[1] = C;
        else if (j == 10)
            p->ndim = 2, p->shape[0] = I, p->shape[1] = C;
        else if (j == 12)
            p->ndim = 2, p->shape[0] = C, p->shape[1] = I;
        else
            p->ndim = 1, p->shape[0] = rows;
    } else if (i == 2 + CLIP_PER_LAYER * L) {
        snprintf(p->name, sizeof p->name, "text_model.final_layer_norm.weight");
        p->ndim = 1, p->shape[0] = C;
    } else if (i == 3 + CLIP_PER_LAYER * L) {
        snprintf(p->name, sizeof p->name, "text_model.final_layer_norm.bias");
        p->ndim = 1, p->shape[0] = C;
    } else {
        snprintf(p->name, sizeof p->name, "text_projection.weight");
        p->ndim = 2, p->shape[0] = c->projection_dim, p->shape[1] = C;
    }
    p->numel = (size_t)p->shape[0] * (size_t)(p->ndim == 2 ? p->shape[1] : 1);
}

void clip_param_at(const clip_config *c, int i, clip_param_info *out)
{
    size_t offset = 0;
    for (int j = 0; j < i; j++) {
        clip_param_info p;
        param_shape(c, j, &p);
        offset += p.numel;
    }
    param_shape(c, i, out);
    out->offset = offset;
}

size_t clip_param_floats(const clip_config *c)
{
    size_t n = 0;
    int count = clip_param_count(c);
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        param_shape(c, i, &p);
        n += p.numel;
    }
    return n;
}

/* ---- model ---- */

static void linear_init(linear_layer *l, int in, int out, float *w, float *b)
{
    memset(l, 0, sizeof *l);
    l->in = in, l->out = out, l->weight = w, l->bias = b;
}

int clip_create(clip_model *m, const clip_config *c, const char *prefix, error_info *err)
{
    memset(m, 0, sizeof *m);
    if (clip_config_validate(c, err))
        return -1;
    m->cfg = *c;
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix ? prefix : "lora_te");
    m->params = calloc(clip_param_floats(c), sizeof(float));
    m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks);
    if (!m->params || !m->blocks) {
        clip_free(m);
        return error_set(err, "", 0, 0, "", "out of memory for the CLIP parameters");
    }
    int count = clip_param_count(c), C = c->hidden_size, I = c->intermediate_size;
    float *ptr[2 + CLIP_PER_LAYER];
    size_t offset = 0;
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        param_shape(c, i, &p);
        float *at = m->params + offset;
        offset += p.numel;
        if (i == 0)
            m->tok_emb = at;
        else if (i == 1)
            m->pos_emb = at;
        else if (i < 2 + CLIP_PER_LAYER * c->num_layers) {
            int l = (i - 2) / CLIP_PER_LAYER, j = (i - 2) % CLIP_PER_LAYER;
            ptr[j] = at;
            if (j == CLIP_PER_LAYER - 1) {
                clip_block *b = &m->blocks[l];
                linear_init(&b->q, C, C, ptr[0], ptr[1]);
                linear_init(&b->k, C, C, ptr[2], ptr[3]);
                linear_init(&b->v, C, C, ptr[4], ptr[5]);
                linear_init(&b->o, C, C, ptr[6], ptr[7]);
                b->ln1_w = ptr[8], b->ln1_b = ptr[9];
                linear_init(&b->fc1, C, I, ptr[10], ptr[11]);
                linear_init(&b->fc2, I, C, ptr[12], ptr[13]);
                b->ln2_w = ptr[14], b->ln2_b = ptr[15];
            }
        } else if (i == 2 + CLIP_PER_LAYER * c->num_layers)
            m->final_ln_w = at;
        else if (i == 3 + CLIP_PER_LAYER * c->num_layers)
            m->final_ln_b = at;
        else
            m->text_proj = at;
    }
    return 0;
}

int clip_load(clip_model *m, weight_store *ws, error_info *err)
{
    /* transformers 5 saves CLIPTextModel without the "text_model." level */
    int strip = !weights_has(ws, "text_model.embeddings.token_embedding.weight") &&
                weights_has(ws, "embeddings.token_embedding.weight");
    int count = clip_param_count(&m->cfg);
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        clip_param_at(&m->cfg, i, &p);
        const char *name = p.name;
        if (strip && !strncmp(name, "text_model.", 11))
            name += 11;
        if (weights_load_f32(ws, name, m->params + p.offset, p.ndim, p.shape, err))
            return -1;
    }
    return 0;
}

int clip_lora_targets(clip_model *m, clip_lora_target *out, int cap)
{
    static const char *const names[6] = {"self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj",
                                         "self_attn_out_proj", "mlp_fc1", "mlp_fc2"};
    int n = 0;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        clip_block *b = &m->blocks[l];
        linear_layer *layers[6] = {&b->q, &b->k, &b->v, &b->o, &b->fc1, &b->fc2};
        for (int j = 0; j < 6; j++, n++) {
            if (!out || n >= cap)
                continue;
            snprintf(out[n].name, sizeof out[n].name, "%s_text_model_encoder_layers_%d_%s", m->prefix,
                     l, names[j]);
            out[n].layer = layers[j];
        }
    }
    return n;
}

void clip_pool_positions(const clip_config *c, const int32_t *ids, int B, int T, int32_t *pos)
{
    for (int b = 0; b < B; b++) {
        const int32_t *row = ids + (size_t)b * T;
        int best = 0;
        if (c->eos_token_id == 2) {
            /* argmax, first of equal maxima as torch */
            for (int t = 1; t < T; t++)
                if (row[t] > row[best])
                    best = t;
        } else {
            for (int t = 0; t < T; t++)
                if (row[t] == c->eos_token_id) {
                    best = t;
                    break;
                }
        }
        pos[b] = best;
    }
}
