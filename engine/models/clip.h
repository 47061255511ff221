/* clip.h — the CLIP text encoders of Stable Diffusion (transformers CLIPTextModel and
 * CLIPTextModelWithProjection): SD1's OpenAI ViT-L/14, SD2's OpenCLIP ViT-H (23 layers) and
 * SDXL's two encoders (ViT-L as TE1, OpenCLIP bigG with text_projection as TE2).
 *
 * Forward: token + position embedding, pre-LN blocks (causal self-attention, MLP), and the
 * outputs sd-scripts takes from them: hidden_states[i] with or without final_layer_norm
 * (clip_skip k = hidden_states[-k] + final LN for SD1/2; SDXL takes hidden_states[-2] of both
 * encoders without LN) and the pooled vector (final-LN state at the EOS token, × the
 * text_projection for TE2). Backward: gradients of the LoRA adapters attached to the q/k/v/
 * out_proj and fc1/fc2 linears (kohya's CLIPAttention / CLIPMLP targets) and of the embedding
 * output. Base weights are frozen unless clip_set_param_grads gives them a gradient buffer.
 *
 * Life cycle: clip_create (config, kohya prefix) → clip_load (weights by transformers names)
 * → attach adapters to the linear_layers listed by clip_lora_targets → clip_plan (activation
 * arena for a largest batch; points every attached adapter's `hidden` into it) → forward /
 * backward any number of times → clip_free. */
#ifndef LORATTY_CLIP_H
#define LORATTY_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/models/layers.h"
#include "engine/models/weights.h"
#include "error.h"
#include "kernels/arena.h"

typedef enum clip_act { CLIP_ACT_QUICK_GELU = 0, CLIP_ACT_GELU = 1 } clip_act;

typedef struct clip_config {
    int vocab_size, hidden_size, intermediate_size;
    int num_layers, num_heads, max_positions;
    int projection_dim;    /* text_projection [projection_dim, hidden]; 0: CLIPTextModel (none) */
    clip_act act;
    float layer_norm_eps;
    int eos_token_id;      /* 2 (pre-transformers#24773 configs): pooled token = argmax of the
                            * ids; otherwise the first position holding eos_token_id */
} clip_config;

/* From a transformers config.json (CLIPTextConfig). projection_dim is taken only when
 * "architectures" names CLIPTextModelWithProjection, since plain CLIPTextModel configs carry
 * a projection_dim too. */
int clip_config_from_json(clip_config *c, const char *path, error_info *err);
int clip_config_validate(const clip_config *c, error_info *err);
clip_config clip_config_sd15_vit_l(void);   /* openai/clip-vit-large-patch14 (SD1.x, SDXL TE1) */
clip_config clip_config_sd21_vit_h(void);   /* stabilityai/stable-diffusion-2-1 text_encoder */
clip_config clip_config_sdxl_bigg(void);    /* stable-diffusion-xl-base-1.0 text_encoder_2 */

/* Parameter manifest: transformers state-dict names and shapes, in the order of the flat
 * parameter buffer. */
typedef struct clip_param_info {
    char name[96];
    int ndim;
    int64_t shape[2];
    size_t numel, offset;  /* in floats, within clip_model.params */
} clip_param_info;
int clip_param_count(const clip_config *c);
void clip_param_at(const clip_config *c, int i, clip_param_info *out);
size_t clip_param_floats(const clip_config *c);

typedef struct clip_block {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    linear_layer q, k, v, o, fc1, fc2;   /* the LoRA injection points */
    float *dln1_w, *dln1_b, *dln2_w, *dln2_b;   /* NULL when frozen */
} clip_block;

/* One LoRA target: kohya name (e.g. lora_te1_text_model_encoder_layers_0_self_attn_q_proj)
 * and the layer to attach an adapter to. */
typedef struct clip_lora_target {
    char name[128];
    linear_layer *layer;
} clip_lora_target;

/* What a forward returns: hidden_states[index] (0 = embeddings, L = last layer; negative
 * counts from the end as in Python, -1 = L), optionally through final_layer_norm, and the
 * pooled output (needs every layer). */
typedef struct clip_select {
    int index;
    int final_ln;
    int pooled;
} clip_select;

typedef struct clip_model {
    clip_config cfg;
    char prefix[32];                 /* kohya prefix: lora_te, lora_te1, lora_te2 */
    float *params;                   /* one flat buffer, clip_param_floats */
    float *tok_emb, *pos_emb, *final_ln_w, *final_ln_b, *text_proj;
    clip_block *blocks;

    /* activations (clip_plan) */
    arena acts;
    int planned, max_B, max_T;
    int *ids_res, *ids_ln1, *ids_ln1s, *ids_q, *ids_k, *ids_v, *ids_att, *ids_lse, *ids_mid,
        *ids_ln2, *ids_ln2s, *ids_fc1, *ids_actv;
    int id_fin, id_fins, id_sel, id_sels, id_pooled, id_proj, id_scratch;
    int id_d[2], id_dln, id_dq, id_dk, id_dv, id_datt, id_di1, id_di2, id_dpool;
    int32_t *pool_pos;               /* [max_B] */

    /* state of the last forward */
    int B, T, layers_run;
    clip_select sel;                 /* index normalised to 0..L */
    float *out;                      /* [B, T, hidden] the selected output */
    float *pooled;                   /* [B, hidden] when sel.pooled */
    float *text_embeds;              /* [B, projection_dim] when sel.pooled and projection */

    /* full-parameter gradients (clip_set_param_grads); NULL when frozen */
    float *param_grads;
    float *dtok_emb, *dpos_emb, *dfinal_ln_w, *dfinal_ln_b, *dtext_proj;
    int32_t *ids;                    /* [max_B, max_T] the last forward's ids */
} clip_model;

/* Full-parameter training: grads is laid out as params (clip_param_floats floats, the
 * manifest's offsets); from now on clip_backward ACCUMULATES (+=) dL/dparam of every tensor
 * into it (the token embedding into the rows of the ids of the last forward). NULL freezes
 * the base weights again. Returns -1 for a model without parameters, 0 otherwise.
 * (param_grads.c) */
int clip_set_param_grads(clip_model *m, float *grads);
/* prefix: "lora_te" (SD1/2), "lora_te1" / "lora_te2" (SDXL). */
int clip_create(clip_model *m, const clip_config *c, const char *prefix, error_info *err);
/* Weights under "text_model.…" (and "text_projection.weight"); a store without the
 * "text_model." level (transformers 5 CLIPTextModel) is accepted too. */
int clip_load(clip_model *m, weight_store *ws, error_info *err);
/* The 6 · num_layers LoRA targets, in sd-scripts' module order; returns the count
 * (out may be NULL to ask for it). */
int clip_lora_targets(clip_model *m, clip_lora_target *out, int cap);
/* Plans and allocates activations for batches up to max_B × max_T tokens, with the adapters
 * attached now. Call again after attaching or detaching adapters. */
int clip_plan(clip_model *m, int max_B, int max_T, error_info *err);
void clip_free(clip_model *m);

/* ids [B, T]. Fills m->out, m->pooled, m->text_embeds per `sel`. */
int clip_forward(clip_model *m, const int32_t *ids, int B, int T, const clip_select *sel,
                 error_info *err);
/* Gradients of the last forward's outputs: dout [B, T, hidden] (the selected output),
 * dpooled [B, hidden], dtext_embeds [B, projection_dim]; each may be NULL. Accumulates into
 * the adapters' ddown/dup, the parameter gradients when set (clip_set_param_grads) and into
 * dembed [B, T, hidden] (the embedding output; may be NULL). */
void clip_backward(clip_model *m, const float *dout, const float *dpooled,
                   const float *dtext_embeds, float *dembed);

/* The pooled token position of each sequence by transformers' rule (see eos_token_id). */
void clip_pool_positions(const clip_config *c, const int32_t *ids, int B, int T, int32_t *pos);

#endif
