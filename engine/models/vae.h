/* vae.h — the Stable Diffusion VAE (diffusers AutoencoderKL): the encoder that turns
 * training images into latents (mean, logvar, sample = mean + std · noise) and the decoder
 * that turns latents into images (samples, previews), with diffusers' tiled decode for large
 * images, and the backward of both. The VAE has no LoRA; its own weights train only when
 * loratty trains a VAE from scratch (vae_train.h): vae_set_param_grads points every layer's
 * gradient into one flat buffer laid out as the parameters, and then every backward here also
 * accumulates (+=) the weight gradients. Without it (the default) the weights are frozen.
 *
 * Life cycle: vae_create (config) → vae_load (diffusers names) → vae_plan_encoder[_ex] /
 * vae_plan_decoder (activation arenas for an image size) → forward / backward → vae_free.
 * A plan without `for_backward` overlays every block's internals and alternates block outputs
 * between two regions, so a forward holds about three activations at a time; with it, every
 * activation is kept for vae_encode_backward / vae_decode_backward. */
#ifndef LORATTY_VAE_H
#define LORATTY_VAE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/models/layers.h"
#include "engine/models/weights.h"
#include "error.h"
#include "kernels/arena.h"

#define VAE_MAX_BLOCKS 8
#define VAE_MAX_LAYERS 8

typedef struct vae_config {
    int in_channels, out_channels, latent_channels;
    int n_blocks, block_out[VAE_MAX_BLOCKS];
    int layers_per_block, norm_num_groups;
    int use_quant_conv, use_post_quant_conv, mid_attention;
    int sample_size;          /* diffusers' default tile size in pixels */
    float scaling_factor;     /* 0.18215 SD1/2, 0.13025 SDXL: applied by the caller */
} vae_config;

int vae_config_from_json(vae_config *c, const char *path, error_info *err);
int vae_config_validate(const vae_config *c, error_info *err);
vae_config vae_config_sd(void);     /* SD 1.x / 2.x */
vae_config vae_config_sdxl(void);   /* SDXL (same layout, other scaling factor and sample size) */
/* Pixels per latent along each side: 2^(n_blocks − 1). */
int vae_downscale(const vae_config *c);

/* Parameter manifest in diffusers state-dict names, in the order of the flat buffer. */
typedef struct vae_param_info {
    char name[96];
    int ndim;
    int64_t shape[4];
    size_t numel, offset;
} vae_param_info;
/* A malloc'd manifest (free it) without allocating the parameters. */
int vae_manifest(const vae_config *c, vae_param_info **out, int *count, error_info *err);

/* ---- blocks (vae_blocks.c); activation fields are arena ids ---- */
typedef struct vae_resnet {
    int in, out, G;
    float *n1_w, *n1_b, *n2_w, *n2_b;
    conv_layer conv1, conv2, shortcut;   /* shortcut.weight NULL when in == out */
    int gn1, gn1s, a1, h1, gn2, gn2s, a2, sc, out_id;
    float *dn1_w, *dn1_b, *dn2_w, *dn2_b;   /* GroupNorm gradients (+=), NULL when frozen */
} vae_resnet;

typedef struct vae_attn {
    int C, G;
    float *gn_w, *gn_b;
    linear_layer q, k, v, o;
    int gn, gns, t, q_id, k_id, v_id, att, lse, o_id, out_id;
    float *dgn_w, *dgn_b;
} vae_attn;

typedef struct vae_sampler {   /* Downsample2D (pad 0,1,0,1 + stride-2 conv) or Upsample2D */
    conv_layer conv;
    int tmp, out_id;             /* tmp: the padded or the upsampled input */
} vae_sampler;

typedef struct vae_mid {
    vae_resnet r0, r1;
    vae_attn attn;
    int has_attn;
} vae_mid;

/* Encoder or decoder with its activation plan. */
typedef struct vae_coder {
    conv_layer conv_in;
    vae_resnet res[VAE_MAX_BLOCKS][VAE_MAX_LAYERS + 1];
    vae_sampler samp[VAE_MAX_BLOCKS];
    int has_samp[VAE_MAX_BLOCKS], n_res;
    vae_mid mid;
    float *norm_w, *norm_b;
    conv_layer conv_out;
    int conv_in_out, gn, gns, a, conv_out_id;
    /* plan */
    arena acts;
    int planned, for_backward, N, H, W;   /* planned input size (latent size for the decoder) */
    int rN, rH, rW;                       /* input size of the last forward */
    int id_scratch, id_g[2], id_t[5], id_z, id_pq;
    float *dnorm_w, *dnorm_b;
    int id_image;                         /* encoder for_backward: a copy of the input image */
} vae_coder;

/* vae_train.c's workspace for one loss step (vae_plan_train). */
typedef struct vae_train_plan {
    arena ws;
    int planned, N, H, W;
    int id_rec, id_drec, id_dz, id_dmean, id_dlogvar;
} vae_train_plan;

typedef struct vae_model {
    vae_config cfg;
    float *params;
    size_t n_params;
    vae_coder enc, dec;
    conv_layer quant, post_quant;   /* weight NULL when unused */
    /* encoder results, [N, latent, h, w], valid after vae_encode */
    int id_moments, id_mean, id_logvar, id_sample;
    float *mean, *logvar, *sample;
    float *grads;                   /* vae_set_param_grads: layout of params, or NULL (frozen) */
    vae_train_plan train;
} vae_model;

int vae_create(vae_model *m, const vae_config *c, error_info *err);
int vae_load(vae_model *m, weight_store *ws, error_info *err);
void vae_free(vae_model *m);

/* grads: m->n_params floats laid out as m->params (vae_manifest's offsets), or NULL. When set,
 * every backward (vae_encode_backward, vae_decode_backward, vae_train_loss) accumulates (+=)
 * dL/dparam into it for every parameter; the caller zeroes it. NULL freezes the weights again
 * (the backward w.r.t. the inputs is bit-identical either way). Returns 0. In vae_train.c. */
int vae_set_param_grads(vae_model *m, float *grads);

/* Encoder activations for images up to N × H × W (H, W multiples of the downscale).
 * vae_plan_encoder is vae_plan_encoder_ex without for_backward; for_backward keeps every
 * activation (and a copy of the image) for vae_encode_backward. */
int vae_plan_encoder(vae_model *m, int N, int H, int W, error_info *err);
int vae_plan_encoder_ex(vae_model *m, int N, int H, int W, int for_backward, error_info *err);
/* Decoder activations for latents up to N × h × w; for_backward keeps everything. */
int vae_plan_decoder(vae_model *m, int N, int h, int w, int for_backward, error_info *err);

/* image [N, in_channels, H, W] in [-1, 1]; noise [N, latent, H/f, W/f] or NULL (sample =
 * mean). Fills m->mean, m->logvar (clamped to [-30, 20] as diffusers), m->sample. */
int vae_encode(vae_model *m, const float *image, const float *noise, int N, int H, int W,
               error_info *err);
/* z [N, latent, h, w] (unscaled: divide by scaling_factor first) -> out [N, out_ch, h·f, w·f]. */
int vae_decode(vae_model *m, float *out, const float *z, int N, int h, int w, error_info *err);
/* Backward of the last vae_encode (planned for_backward). dmean, dlogvar [N, latent, h, w]:
 * dL/dm->mean and dL/dm->logvar (either NULL: zero); a sample's gradient is the caller's to
 * chain in (d sample/d mean = 1, d sample/d logvar = 0.5·std·noise). The logvar clamp passes
 * the gradient only where the raw logvar lies in [-30, 20] (torch.clamp). dimage [N, in, H, W]
 * += dL/dimage unless NULL; parameter gradients += when set. */
int vae_encode_backward(vae_model *m, float *dimage, const float *dmean, const float *dlogvar,
                        error_info *err);
/* dz [N, latent, h, w] += d out · ∂out/∂z for the last vae_decode (planned for_backward); dz
 * may be NULL when only the parameter gradients (+=, when set) are wanted. */
int vae_decode_backward(vae_model *m, float *dz, const float *dout, error_info *err);
/* diffusers' tiled_decode: tiles of tile_latent latents (pixels: tile_sample), overlapping by
 * overlap_factor (diffusers: 0.25), blended linearly over the overlap. The decoder must be
 * planned for N × tile_latent × tile_latent. Holds two rows of decoded tiles (allocated here:
 * an inference path, not a training step). */
int vae_decode_tiled(vae_model *m, float *out, const float *z, int N, int h, int w,
                     int tile_latent, int tile_sample, float overlap_factor, error_info *err);

/* internals shared by vae.c / vae_blocks.c / vae_config.c */
typedef struct vae_planner {
    arena *a;
    int keep, io;
    size_t max_act, max_attn, max_scratch;
} vae_planner;
int vae_plan_buf(vae_planner *p, const char *name, size_t n, int is_output);
void vae_plan_internal_begin(vae_planner *p);
void vae_plan_internal_end(vae_planner *p);
void vae_resnet_plan(vae_resnet *r, vae_planner *p, int N, int H, int W);
void vae_attn_plan(vae_attn *t, vae_planner *p, int N, int H, int W);
void vae_sampler_plan(vae_sampler *s, vae_planner *p, int down, int C, int N, int H, int W);
const float *vae_resnet_forward(const vae_resnet *r, const arena *a, const float *x, int N, int H,
                                int W, float *scratch);
const float *vae_attn_forward(const vae_attn *t, const arena *a, const float *x, int N, int H, int W,
                              float *scratch);
const float *vae_sampler_forward(const vae_sampler *s, const arena *a, int down, const float *x,
                                 int N, int H, int W, float *scratch);
/* dx [N, in, H, W] is overwritten; t: five temporaries of the plan's largest activation. */
void vae_resnet_backward(const vae_resnet *r, const arena *a, float *dx, const float *dout,
                         const float *x, int N, int H, int W, float *scratch, float *const *t);
void vae_attn_backward(const vae_attn *at, const arena *a, float *dx, const float *dout,
                       const float *x, int N, int H, int W, float *scratch, float *const *t);
void vae_upsample_backward(const vae_sampler *s, const arena *a, float *dx, const float *dout,
                           int N, int C, int H, int W, float *scratch, float *const *t);
/* dx [N, C, H, W] is overwritten; H, W: the downsampler's input size. */
void vae_downsample_backward(const vae_sampler *s, const arena *a, float *dx, const float *dout,
                             int N, int C, int H, int W, float *scratch, float *const *t);

#endif
