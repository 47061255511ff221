/* unet.h — the Stable Diffusion U-Net (SD1.x, SD2.x, SDXL) as diffusers' UNet2DConditionModel
 * computes it: config, one flat f32 parameter buffer loaded by diffusers state-dict names, the
 * LoRA injection points sd-scripts targets (with their kohya names), and forward / backward
 * over activations planned once in an arena (optionally with per-block gradient checkpointing).
 *
 * Files: unet_config.c (config.json and the built-in configs), unet.c (parameters, manifest,
 * loading, injection points), unet_blocks.c (ResNet and transformer blocks), unet_plan.c (the
 * step list and its activation plan), unet_forward.c (forward and backward of the whole net),
 * param_grads.c (gradients of every parameter, for full fine-tuning).
 */
#ifndef LORATTY_UNET_H
#define LORATTY_UNET_H

#include <stddef.h>
#include <stdint.h>

#include "engine/models/layers.h"
#include "engine/models/weights.h"
#include "error.h"
#include "kernels/arena.h"
#include "kernels/checkpoint.h"

#define UNET_MAX_LEVELS 6
#define UNET_MAX_LAYERS 4   /* resnets per down block (up blocks have one more) */

/* ---- config (unet_config.c) ---- */

typedef struct unet_config {
    int in_channels, out_channels;
    int levels;                              /* len(block_out_channels) */
    int block_out[UNET_MAX_LEVELS];
    int layers_per_block[UNET_MAX_LEVELS];   /* per down level; up level i has reversed[i] + 1 */
    int down_attn[UNET_MAX_LEVELS];          /* 1: CrossAttnDownBlock2D, 0: DownBlock2D */
    int up_attn[UNET_MAX_LEVELS];            /* up order: 1: CrossAttnUpBlock2D, 0: UpBlock2D */
    /* attention HEAD COUNTS per down level: diffusers' num_attention_heads, which defaults to
     * attention_head_dim (the naming quirk of diffusers issue 2011); head dim = channels / heads */
    int heads[UNET_MAX_LEVELS];
    int transformer_layers[UNET_MAX_LEVELS];    /* per down level */
    int up_transformer_layers[UNET_MAX_LEVELS]; /* per up level: reversed, or reverse_... */
    int use_linear_projection;               /* proj_in/out: Linear (SD2, SDXL) or 1x1 Conv2d (SD1) */
    int cross_attention_dim;
    int norm_num_groups;
    float norm_eps;                          /* ResNets and conv_norm_out; transformers use 1e-6 */
    int flip_sin_to_cos;
    float freq_shift;
    int time_embed_dim;                      /* block_out[0] * 4 unless time_embedding_dim */
    int text_time;                           /* addition_embed_type "text_time" (SDXL) */
    int addition_time_embed_dim;             /* per time id */
    int projection_class_embeddings_input_dim;
    int ldm_lora_names;                      /* kohya names in LDM layout (SDXL) vs diffusers (SD1/2) */
} unet_config;

/* Fills c from a diffusers UNet2DConditionModel config.json text; unsupported keys or values
 * are refused with the key and value named in err. */
int unet_config_from_json(unet_config *c, const char *json_text, error_info *err);
int unet_config_load(unet_config *c, const char *path, error_info *err);
/* The real models (runwayml/stable-diffusion-v1-5, stabilityai/stable-diffusion-2-1,
 * stabilityai/stable-diffusion-xl-base-1.0 unet/config.json). */
void unet_config_sd15(unet_config *c);
void unet_config_sd21_768(unet_config *c);
void unet_config_sdxl_base(unet_config *c);
/* Width of SDXL's pooled text embedding: projection input minus 6 time ids. */
int unet_config_text_embed_dim(const unet_config *c);

/* ---- parameters (unet.c) ---- */

typedef struct unet_param_info {
    char name[112];        /* diffusers state-dict name */
    int ndim;
    int64_t shape[4];
    size_t offset;         /* in floats, into the flat parameter buffer */
} unet_param_info;

/* Every tensor the model needs, in load order, without allocating the model. *out is
 * malloc'ed (free it). */
int unet_param_manifest(const unet_config *c, unet_param_info **out, size_t *count,
                        error_info *err);

typedef enum { UNET_LORA_LINEAR, UNET_LORA_CONV } unet_lora_kind;

/* A LoRA injection point: a Linear or Conv2d child of a module sd-scripts targets. */
typedef struct unet_lora_point {
    char name[112];        /* kohya name, e.g. lora_unet_down_blocks_1_attentions_0_proj_in */
    unet_lora_kind kind;
    int in, out, kernel;   /* kernel 1 for Linear */
    int conv_block;        /* 1: child of ResnetBlock2D / Downsample2D / Upsample2D, targeted only
                            * with conv LoRA (sd-scripts' conv_dim); 0: of Transformer2DModel */
    linear_layer *linear;  /* exactly one of these two */
    conv_layer *conv;
    lora_adapter **lora;   /* the layer's lora field: attach an adapter here */
    int spatial_div;       /* rows of one call per sample: (H/div)·(W/div) of the latent;
                            * 0: context tokens T; -1: one row (time_emb_proj) */
} unet_lora_point;

/* A normalisation layer inside a module LyCORIS targets (its train_norm): GroupNorm of a
 * ResnetBlock2D or Transformer2DModel, LayerNorm of a BasicTransformerBlock. The network
 * points *weight / *bias at its own copies and *dweight / *dbias at its gradients. */
typedef struct unet_norm_point {
    char name[112];        /* kohya name, e.g. lora_unet_down_blocks_0_resnets_0_norm1 */
    int channels;
    int conv_block;        /* 1: of a ResnetBlock2D; 0: of a Transformer2DModel */
    const float **weight, **bias;
    float **dweight, **dbias;
} unet_norm_point;

typedef struct unet_resnet {
    int in, out;
    const float *norm1_w, *norm1_b, *norm2_w, *norm2_b;
    conv_layer conv1, conv2, shortcut;   /* shortcut used when in != out */
    linear_layer time_emb_proj;
    float *dnorm1_w, *dnorm1_b, *dnorm2_w, *dnorm2_b;   /* NULL when frozen */
} unet_resnet;

typedef struct unet_tblock {             /* BasicTransformerBlock */
    const float *norm1_w, *norm1_b, *norm2_w, *norm2_b, *norm3_w, *norm3_b;
    linear_layer q1, k1, v1, o1;         /* attn1: self-attention */
    linear_layer q2, k2, v2, o2;         /* attn2: cross-attention on the text context */
    linear_layer ff1, ff2;               /* ff.net.0.proj (GEGLU, out 8C), ff.net.2 */
    float *dnorm1_w, *dnorm1_b, *dnorm2_w, *dnorm2_b, *dnorm3_w, *dnorm3_b;   /* NULL when frozen */
} unet_tblock;

typedef struct unet_transformer {        /* Transformer2DModel */
    int channels, heads, depth;
    int linear;                          /* proj_in/out are Linear (use_linear_projection) */
    const float *norm_w, *norm_b;
    linear_layer proj_in_l, proj_out_l;  /* use_linear_projection */
    conv_layer proj_in_c, proj_out_c;    /* otherwise (1x1) */
    unet_tblock *blocks;
    float *dnorm_w, *dnorm_b;            /* NULL when frozen */
} unet_transformer;

typedef struct unet_level {
    int n_res;
    unet_resnet res[UNET_MAX_LAYERS + 1];
    unet_transformer attn[UNET_MAX_LAYERS + 1];   /* used when has_attn */
    int has_attn, has_sampler;
    conv_layer sampler;                            /* downsamplers.0.conv / upsamplers.0.conv */
} unet_level;

/* Build in place and do not copy: the injection points point into the struct. */
typedef struct unet_model {
    unet_config config;
    float *params;
    size_t n_params;
    unet_param_info *manifest;
    size_t n_manifest;
    unet_lora_point *points;
    size_t n_points;
    unet_tblock *tblock_storage;
    /* appended: the normalisation layers inside the targeted modules, in module order */
    unet_norm_point *norm_points;
    size_t n_norm_points;
    conv_layer conv_in, conv_out;
    linear_layer time_1, time_2, add_1, add_2;
    const float *norm_out_w, *norm_out_b;
    unet_level down[UNET_MAX_LEVELS], up[UNET_MAX_LEVELS];
    unet_resnet mid_res[2];
    unet_transformer mid_attn;
    float *dnorm_out_w, *dnorm_out_b;    /* NULL when frozen */
    float *param_grads;                  /* unet_set_param_grads' buffer, or NULL */
} unet_model;

/* Allocates the parameters (zeroed) and sets every pointer. */
int unet_build(unet_model *m, const unet_config *c, error_info *err);
/* The same structure, manifest and injection points without parameter memory (weight
 * pointers NULL): for listing kohya names and shapes of a model not loaded. Free with
 * unet_free; never run it. */
int unet_build_layout(unet_model *m, const unet_config *c, error_info *err);
/* Loads every manifest tensor by name (shape-checked). */
int unet_load(unet_model *m, weight_store *ws, error_info *err);
void unet_free(unet_model *m);
/* Full-parameter training (fine-tuning, training from scratch): grads is a buffer laid out as
 * params (n_params floats, the manifest's offsets); from now on unet_backward ACCUMULATES
 * (+=) dL/dparam of every manifest tensor into it (the gradient of params[i] at grads[i]).
 * NULL freezes the base weights again (the LoRA-training default). Returns -1 for a model
 * built without parameter memory (unet_build_layout), 0 otherwise. (param_grads.c) */
int unet_set_param_grads(unet_model *m, float *grads);
/* The injection point with this kohya name, or NULL. */
const unet_lora_point *unet_find_lora_point(const unet_model *m, const char *kohya_name);
/* Floats an adapter of `rank` at point i needs for its `hidden` buffer, for a batch of B
 * latents of H x W with T context tokens. */
size_t unet_lora_hidden_floats(const unet_model *m, size_t i, int rank, int B, int H, int W,
                               int T);

/* ---- blocks (unet_blocks.c), used by unet_forward.c ---- */

/* Activations of one ResnetBlock2D over [B, C, H, W]; x may come with a skip concatenated
 * behind it (up blocks). Forward fills the first group, backward uses the scratch group. */
typedef struct unet_resnet_bufs {
    float *xc;                        /* [B, Cx + Cskip, HW] when there is a skip */
    float *h1, *m1, *r1, *a1;         /* norm1 out, its stats, SiLU out */
    float *h2, *tp;                   /* conv1 out + time projection, the projection [B, out] */
    float *g2, *m2, *r2, *a2;         /* norm2 out, stats, SiLU out */
    float *sc;                        /* shortcut out (forward temporary) */
    float *ga, *gb, *gc, *gtp;        /* backward scratch */
} unet_resnet_bufs;

void unet_resnet_forward(const unet_resnet *r, const unet_resnet_bufs *b, float *y, const float *x,
                         const float *skip, int Cskip, const float *stemb, int B, int H, int W,
                         int G, float eps, float *scratch);
void unet_resnet_backward(const unet_resnet *r, const unet_resnet_bufs *b, float *dx, float *dskip,
                          const float *dy, const float *x, const float *skip, int Cskip,
                          const float *stemb, float *dstemb, int B, int H, int W, int G,
                          float *scratch);

/* Activations of one Transformer2DModel over [B, C, H, W] (N = B·HW rows) with depth blocks;
 * per-block buffers hold depth slices back to back. */
typedef struct unet_transformer_bufs {
    float *n0, *gm, *gr;              /* GroupNorm out [B, C, HW] and stats */
    float *pin;                       /* conv: proj_in out [B, C, HW]; linear: n0 as rows [N, C] */
    float *pout;                      /* conv: last hidden as [B, C, HW]; linear: proj_out out [N, C] */
    float *hs;                        /* block inputs/outputs [(depth + 1), N, C] */
    float *l1, *l2, *l3;              /* LayerNorm outs [depth, N, C] */
    float *st;                        /* LayerNorm stats [depth, 6, N] */
    float *q, *k, *v, *o, *lse;       /* self-attention [depth, N, C], lse [depth, B, heads, HW] */
    float *h2, *h3;                   /* after attn1, after attn2 [depth, N, C] */
    float *q2, *k2, *v2, *o2, *lse2;  /* cross-attention, k2/v2 [depth, B·T, C] */
    float *f1, *g;                    /* GEGLU in [depth, N, 8C], out [depth, N, 4C] */
    float *dh, *t1, *t2, *dq, *dk, *dv, *df1, *dg;   /* backward scratch */
} unet_transformer_bufs;

void unet_transformer_forward(const unet_transformer *t, const unet_transformer_bufs *b, float *y,
                              const float *x, const float *ctx, int B, int H, int W, int T, int G,
                              float *scratch, float *attn_scratch);
void unet_transformer_backward(const unet_transformer *t, const unet_transformer_bufs *b, float *dx,
                               const float *dy, const float *x, const float *ctx, float *dctx,
                               int B, int H, int W, int T, int G, float *scratch,
                               float *attn_scratch);

/* ---- activations (unet_plan.c) ---- */

typedef struct unet_tensor {   /* an activation passed between steps, with its gradient */
    int C, H, W;
    int id, grad_id;
} unet_tensor;

typedef struct unet_acts unet_acts;

typedef struct unet_step {
    int kind;                  /* see unet_plan.c */
    const void *layer;         /* unet_resnet, unet_transformer or conv_layer */
    int in, skip, out;         /* tensor indices; skip -1 when none */
    int ids[32];               /* the step's internal activations and scratch (arena ids) */
    ckpt_segment seg;
    unet_acts *acts;
} unet_step;

struct unet_acts {
    arena arena;
    const unet_model *model;
    int B, H, W, T;
    int checkpointing;
    unet_tensor *tensors;
    int n_tensors;
    unet_step *steps;
    int n_steps;
    /* persistent buffers */
    int sample_id, context_id, temb_id, stemb_id, dstemb_id, dcontext_id;
    int tsin_id, time_h_id, time_a_id, add_in_id, add_h_id, add_a_id, dtmp_id;
    int text_id, time_ids_id;
    int layer_scratch_id, attn_scratch_id;
    /* the caller's gradient outputs during unet_backward */
    float *dsample, *dcontext;
};

/* Step kinds and the plumbing between unet_plan.c and unet_forward.c. */
enum { UNET_STEP_CONV_IN, UNET_STEP_RESNET, UNET_STEP_TRANSFORMER, UNET_STEP_DOWN, UNET_STEP_UP,
       UNET_STEP_OUT };
void unet_step_resnet_bufs(const unet_step *s, unet_resnet_bufs *b);
void unet_step_transformer_bufs(const unet_step *s, unet_transformer_bufs *b);
void unet_step_forward(void *step);
void unet_step_backward(void *step);

/* Plans and allocates the activations for B latents of H x W (multiples of 2^(levels-1))
 * and T context tokens. Attach LoRA adapters BEFORE this: their scratch is planned here.
 * checkpointing: recompute each block's internals in backward (kernels/checkpoint.h). */
int unet_acts_init(unet_acts *a, const unet_model *m, int B, int H, int W, int T,
                   int checkpointing, error_info *err);
void unet_acts_free(unet_acts *a);

/* ---- forward / backward (unet_forward.c) ---- */

typedef struct unet_added_cond {   /* SDXL "text_time" conditioning */
    const float *text_embeds;      /* [B, unet_config_text_embed_dim] (pooled text) */
    const float *time_ids;         /* [B, 6] (original h, w, crop top, left, target h, w) */
} unet_added_cond;

/* out [B, out_channels, H, W] = unet(sample [B, in_channels, H, W], timesteps [B],
 * context [B, T, cross_attention_dim], added (SDXL; NULL otherwise)). Inputs are copied. */
int unet_forward(unet_acts *a, float *out, const float *sample, const float *timesteps,
                 const float *context, const unet_added_cond *added, error_info *err);
/* Gradients of the latest forward, ACCUMULATED (+=) into every non-NULL output, and into the
 * LoRA adapters' ddown/dup and, after unet_set_param_grads, into every parameter's gradient. */
int unet_backward(unet_acts *a, const float *dout, float *dsample, float *dcontext,
                  float *dtext_embeds, float *dtime_ids, error_info *err);

#endif
