/* network.h — a LoRA network (sd-scripts' networks/lora.py, "Standard" LoRA, lora_fa.py's
 * LoRA-FA with frozen down matrices and dylora.py's DyLoRA in dylora.c; LyCORIS' LoHa / LoKr in
 * loha.c, lokr.c): one adapter per
 * injection point the models expose (engine/models/unet.h points, clip_lora_targets), named as
 * kohya names them, with sd-scripts' rank/alpha rules and initialisation. The adapters' down and
 * up weights live in one flat parameter buffer (and their gradients in one flat gradient
 * buffer) so the optimizer, gradient clipping and state saving see one array each.
 *
 * Life cycle: network_create (decides the modules, allocates, initialises) → optionally
 * network_load_weights (continue from a LoRA file) → network_attach (points the layers' lora
 * fields at the adapters; the UNet's activation plan and clip_plan must come after) → train →
 * network_save → network_free (detaches). Files: network.c (modules, init, weights, max-norm),
 * network_save.c (the file with its metadata, sd-scripts' file names, pruning old saves). */
#ifndef LORATTY_NETWORK_H
#define LORATTY_NETWORK_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "engine/lora/lora_file.h"
#include "engine/models/clip.h"
#include "engine/models/unet.h"
#include "error.h"

#define NETWORK_MAX_TE 2

typedef struct network_options {
    int dim;              /* network_dim (sd-scripts: None → 4) */
    float alpha;          /* network_alpha; 0 → dim (sd-scripts: alpha 0/None means no scaling) */
    int conv_dim;         /* network_args conv_dim; 0: no ResNet / sampler adapters */
    float conv_alpha;     /* network_args conv_alpha (sd-scripts default 1 when conv_dim is set) */
    float multiplier;     /* 1 while training */
    int train_unet, train_te;   /* which sides get adapters (network_train_*_only) */
    uint64_t seed;        /* initialisation draws (project RNG) */
    /* continue from a LoRA file: its modules and weights replace the fresh init; with
     * dim_from_weights the ranks and alphas come from the file too */
    const char *weights_path;
    int dim_from_weights;
    /* appended: sd-scripts' dropouts (training only; network_begin_step turns them on) */
    float network_dropout, rank_dropout, module_dropout;
    int rank_dropout_scale;   /* LyCORIS LoHa/LoKr */
    /* appended: the network kind (all zero: sd-scripts' networks.lora, the original behaviour).
     * algo: a lora_kind (LORA_KIND_LORA … LORA_KIND_BOFT). lycoris = 1: LyCORIS' lycoris.kohya rules (presets,
     * conv_dim defaulting to network_dim and conv_alpha to network_alpha, conv_in / conv_out /
     * time_embedding on SD1/2); 0: sd-scripts' networks.lora / networks.loha / networks.lokr
     * (the last two SDXL only, as sd-scripts' network_base.detect_arch_config). */
    int algo;
    int lycoris;
    const char *preset;   /* LyCORIS preset name; NULL or "" = "full" */
    int factor;           /* LoKr factor; 0 or −1 = automatic */
    int decompose_both;   /* LoKr: w1 low-rank too (LyCORIS only) */
    /* LyCORIS' use_tucker (its kohya.py: use_tucker / use_cp / use_conv_cp / disable_conv_cp):
     * LoCon, LoHa and LoKr (its low-rank W2) split the k×k convolutions (k > 1) into Tucker
     * factors; the other LyCORIS algorithms ignore it, sd-scripts' networks.loha / lokr refuse it */
    int use_tucker;
    /* sd-scripts' block_dims / block_alphas / conv_block_dims / conv_block_alphas network_args
     * (comma lists of 25 values for SD1/2, 23 for SDXL; NULL or "" = not given) and the block
     * lr weights (network_block_lr_weights): with either, the U-Net ranks come per block and
     * blocks whose lr weight is 0 get no modules (remove_block_dims_and_alphas). networks.lora only. */
    const char *block_dims, *block_alphas, *conv_block_dims, *conv_block_alphas;
    const float *block_lr;
    int n_block_lr;
    /* appended: sd-scripts' networks.lora_fa (LoRA-FA): networks.lora's modules and keys, but
     * each down matrix is drawn N(0, 2 / (in + rank)) and then frozen; only the up matrices
     * train. Set with algo LORA_KIND_LORA, lycoris 0. */
    int lora_fa;
    /* appended: sd-scripts' networks.dylora (DyLoRA, see dylora.c): 0 = not DyLoRA, else its
     * unit (network_args unit=, 1 by default); every rank must be a multiple of it. Set with
     * algo LORA_KIND_LORA, lycoris 0. */
    int dylora_unit;
    /* appended: LyCORIS' Diag-OFT arguments constraint= (0: none; LyCORIS multiplies it by
     * each layer's out dim) and rescaled= (a trained per-row scale) */
    float constraint;
    int rescaled;
    /* appended: LyCORIS/iA3 trains the iA3 targets (attention keys and values, the
     * feed-forward output layers; see network_targets.c) whatever the preset; with
     * ia3_train_on_input (kohya_ss's train_on_input) the feed-forward ones scale their input */
    int ia3_train_on_input;
    /* appended: LyCORIS' dora_wd (DoRA weight decomposition on the output rows) for LoCon, LoHa
     * and LoKr */
    int dora_wd;
    /* appended: LyCORIS' train_norm: the GroupNorm / LayerNorm layers inside the targeted
     * U-Net modules train a w_norm / b_norm added to their weight and bias */
    int train_norm;
    /* appended: LyCORIS' use_scalar (LoCon, LoHa, LoKr): a trained scalar per module, starting
     * at 0, multiplies ΔW; the factor that is zero otherwise starts random instead */
    int use_scalar;
} network_options;

void network_options_init(network_options *o);

/* Sets algo / lycoris / lora_fa / dylora_unit (1) from sd-scripts' network_module and LyCORIS'
 * algo= (NULL: locon): networks.lora, networks.lora_fa, networks.dylora, networks.loha,
 * networks.lokr, lycoris.kohya with algo lora/locon/loha/lokr/ia3/full/glora/diag-oft/boft.
 * Other modules and algos are refused with a message naming them. */
int network_options_set_module(network_options *o, const char *network_module, const char *algo,
                               error_info *err);
/* LyCORIS' use_tucker from sd-scripts' network_args (key=value strings, in their order) as its
 * kohya.py create_network reads them: use_cp, use_conv_cp and disable_conv_cp are deprecated
 * aliases whose value (the last of them given) replaces use_tucker's; then the first of
 * not disable_conv_cp (true only for an empty string), use_conv_cp, use_cp, use_tucker that
 * is given and non-empty decides, use_tucker's value deciding when none is. A value is true
 * unless it is "false" in any case (LyCORIS' str_bool: "0" and "" are true). */
int network_lycoris_use_tucker(const char *const *keys, const char *const *values, size_t n);

/* ss_network_module as sd-scripts writes it for these options ("networks.lora",
 * "networks.lora_fa", "networks.dylora", "networks.loha", "networks.lokr" or
 * "lycoris.kohya"); LyCORIS adds
 * "algo": "<algo>" to ss_network_args from its network_args, see network_algo_name. */
const char *network_module_name(const network_options *o);
/* LyCORIS' algo= value: "locon" (LoRA kind under lycoris.kohya), "loha", "lokr", "ia3",
 * "full", "glora", "diag-oft", "boft". */
const char *network_algo_name(const network_options *o);

typedef struct network_module {
    char name[128];       /* kohya name, e.g. lora_unet_down_blocks_1_attentions_0_proj_in */
    int te;               /* 0: UNet, 1..: text encoder index + 1 */
    int conv;             /* Conv2d point (down [r, in, k, k], up [out, r, 1, 1]) */
    int in, out, kernel, rank;
    float alpha;
    size_t down_off, up_off;   /* into params / grads (floats) */
    lora_adapter adapter;
    lora_adapter **slot;  /* the layer's lora field */
    size_t unet_point;    /* index into unet_model.points (te == 0); SIZE_MAX for the LyCORIS
                           * extras (conv_in, conv_out, time_embedding), see hidden_rows */
    /* appended: LoHa / LoKr factors w[0..5] at w_off[i] with w_size[i] floats (0 = absent);
     * down_off = w_off[0] and up_off = the module's end for them (no LoRA+ part). A LoCon
     * with Tucker keeps its lora_mid at w_off[2]. */
    size_t w_off[LORA_MAX_FACTORS], w_size[LORA_MAX_FACTORS];
    int hidden_rows;      /* extras: rows per sample of one call (0: H·W of the latent) */
    int frozen_down;      /* LoRA-FA: down keeps its init (no gradient, not in the optimizer) */
    /* DyLoRA: this micro-step's slice [dylora_b, dylora_b + unit) of the rank, the slots
     * trained since the last optimizer step (rank flags), and where its up matrix sits in
     * the network's transposed copy */
    int dylora_b;
    uint8_t *dylora_trained;
    size_t up_t_off;
    int has_bias;         /* appended: the layer has a bias (LyCORIS' full trains diff_b) */
    /* appended: the layer's weight [out, cols] and bias (NULL: none): LyCORIS' full trains
     * the whole weight, saved as its difference to these */
    const float *base_weight, *base_bias;
    size_t dora_off;      /* appended: DoRA's dora_scale [out] in params (dora set) */
    int dora;
    /* appended: a train_norm module (kind LORA_KIND_NORM, slot NULL): the normalisation layer,
     * the weight / bias it runs with (base + multiplier · w_norm / b_norm, 2 · out floats), and
     * whether its gradients are taken */
    const unet_norm_point *norm;
    float *norm_eff;
    int norm_train;
    size_t scalar_off;    /* appended: use_scalar's scalar in params (has_scalar set) */
    int has_scalar;
    /* appended: LyCORIS' Tucker factors on this k×k convolution (use_tucker; with
     * dim_from_weights: the file has lora_mid / hada_t1 / lokr_t2 for it) */
    int tucker;
} network_module;

typedef struct lora_network {
    network_module *mods;
    size_t n_mods, n_unet;     /* UNet modules come first, then TE modules */
    float *params, *grads;
    size_t n_params;
    size_t unet_params;        /* floats of the UNet modules (they come first in params) */
    float *hidden;             /* UNet adapters' forward hidden buffers */
    size_t hidden_floats;
    float multiplier;
    int attached;
    float module_dropout;      /* appended: per-step probability of skipping a module */
    float *norm_work;          /* appended: ΔW of one LoHa / LoKr module for max-norm */
    size_t norm_work_floats;
    /* appended: DyLoRA (dylora.c), all 0 / NULL otherwise. The layers write a micro-step's
     * full gradients into dylora_grads (n_params); up_t / dup_t hold every up matrix and its
     * gradient transposed ([rank, out], n_up_t floats) for the optimizer; dylora_flags holds
     * the modules' dylora_trained flags. */
    int dylora_unit;
    float *dylora_grads, *up_t, *dup_t;
    size_t n_up_t;
    uint8_t *dylora_flags;
    int lycoris;               /* appended: built under lycoris.kohya (its max-norm rules) */
} lora_network;

/* Builds the modules for `unet` (may be NULL) and `te[0..n_te)` (SD1/2: one, SDXL: two).
 * opts->train_unet / train_te select the sides. */
int network_create(lora_network *n, const network_options *opts, const unet_model *unet,
                   clip_model *const *te, int n_te, error_info *err);
/* Sizes the UNet adapters' hidden buffers for batches up to B latents of H×W (largest bucket)
 * with T context tokens. Call before unet_acts_init. */
int network_plan_unet(lora_network *n, const unet_model *unet, int B, int H, int W, int T,
                      error_info *err);
/* Sets (or clears with train = 0) the adapters' gradient pointers for one side. */
void network_set_trainable(lora_network *n, int te_side, int train);
void network_attach(lora_network *n);
/* Points the train_norm modules' normalisation layers at base + multiplier · w_norm / b_norm
 * (the current parameters) and at their gradients; network_attach, network_begin_step and
 * network_set_trainable call it, so does whoever changes the parameters between steps and
 * then runs the model (the optimizer step is followed by the next begin_step). */
void network_norms_refresh(lora_network *n);
void network_detach(lora_network *n);
void network_free(lora_network *n);
void network_zero_grad(lora_network *n);

/* Loads every module's tensors from a LoRA file: down/up/alpha, or LyCORIS' hada_* / lokr_*
 * keys for LoHa / LoKr (names must match; element counts checked). */
int network_load_weights(lora_network *n, const char *path, error_info *err);

/* sd-scripts' apply_max_norm_regularization: for each module, scales down and up by
 * sqrt(min(1, max_norm / ‖scale · up·down‖_F)) (LoRA-FA's frozen down too: lora_fa.py scales
 * the state_dict tensors in place, frozen or not). LoHa / LoKr as LyCORIS' apply_max_norm: the
 * norm of scale · ΔW; LoKr scales each factor by ratio^(1/factors), LoHa scales hada_w1_a by
 * the ratio (LyCORIS folds its scalar into hada_w1_a when saving), LyCORIS' LoCon scales lora_up
 * by it (the same fold); Diag-OFT / BOFT bound the norm of oft_blocks itself; iA3, full and
 * GLoRA have no max-norm in LyCORIS and are left out. Returns the number of modules scaled;
 * mean / max norm (after scaling, over the modules that have one) in *mean_norm / *max_norm
 * when not NULL. */
int network_apply_max_norm(lora_network *n, float max_norm, double *mean_norm, double *max_out);

/* LyCORIS' iA3 targets by kohya name: 1 for the attention keys / values (to_k, to_v; k_proj,
 * v_proj), 2 for the feed-forward output layers that scale their input with train_on_input
 * (ff.net.2; mlp.fc2), 0 otherwise. */
int network_ia3_target(const char *kohya_name);

/* ---- dropouts and learning-rate groups (network_groups.c) ---- */

/* Call before each step's forward: training = 1 turns the dropouts on with this step's masks
 * (a pure function of (seed, step), so a resumed run draws the same), module_dropout decides
 * which modules sit this step out, DyLoRA draws its slices; batch = samples in the step (the
 * linear layers' rows are batch × tokens). training = 0 (sampling, validation) turns them all
 * off (DyLoRA: the full rank). */
void network_begin_step(lora_network *n, int training, uint64_t seed, uint64_t step, int batch);

/* sd-scripts' get_block_index: the block of a kohya U-Net module name (SD1/2 diffusers names:
 * 1..11 down, 12 mid, 13..24 up; SDXL LDM names: 1..9 input, 10..12 middle, 13..21 output);
 * −1 for names without one (text encoders). */
int network_block_index(const char *kohya_name);
#define NETWORK_MAX_BLOCKS 25

/* sd-scripts' get_block_lr_weight: the per-block lr multipliers from down/mid/up_lr_weight
 * (comma lists or the cosine / sine / linear / reverse_linear / zeros presets, each with an
 * optional "+base"; NULL or "" = not given), values ≤ zero_threshold set to 0. Returns the
 * number of blocks (25 SD1/2, 23 SDXL) with out[] filled, 0 when none is given (no block
 * lr), −1 on a parse error. */
int network_block_lr_weights(int sdxl, const char *down, const char *mid, const char *up,
                             float zero_threshold, float out[NETWORK_MAX_BLOCKS], error_info *err);

/* One run of parameters the optimizer treats alike: params/grads [offset, offset + count),
 * learning rate = (te ? text_encoder_lr : unet_lr) × lr_mult. lr_mult 0: sd-scripts leaves
 * the group out of the optimizer (no update, no weight decay). */
typedef struct network_param_range {
    size_t offset, count;
    int te;               /* 0: U-Net, 1: a text encoder */
    int plus;             /* a LoRA+ up matrix */
    int block;            /* block index (−1: none) */
    float lr_mult;
    int frozen;           /* LoRA-FA's down matrices (lr_mult 0): never in the optimizer */
} network_param_range;

typedef struct network_lr_options {
    const float *block_lr;   /* network_block_lr_weights output, NULL for none */
    int n_block_lr;
    /* LoRA+: up matrices × ratio; the side ratios win over loraplus_lr_ratio (0 = unset);
     * LoRA-FA takes none (lora_fa.py has no LoRA+) */
    float loraplus_lr_ratio, loraplus_unet_lr_ratio, loraplus_text_encoder_lr_ratio;
} network_lr_options;

/* Fills out[0..cap) with the ranges covering all params in order (adjacent alike ranges merged)
 * and returns how many there are (call with cap 0 to count). */
size_t network_param_ranges(const lora_network *n, const network_lr_options *o,
                            network_param_range *out, size_t cap);

/* ---- DyLoRA (dylora.c) ----
 * dylora.py keeps each row of down (lora_A[i]) and each column of up (lora_B[i]) as a
 * parameter of its own. In training every forward of a module draws b from {0, unit, …,
 * rank − unit}, runs the whole rank scaled by alpha / rank · √(rank / (b + unit)), and only
 * the slots [b, b + unit) get a gradient; the others get none, so the optimizer skips them
 * (no update, no weight decay, no moment decay, their own step count). The file holds the
 * plain lora_down / lora_up / alpha of networks.lora. No-ops for other kinds. */

/* The slice of every module for one forward (called by network_begin_step): training = 1
 * draws b from the project RNG at (seed, step, module), a pure function so that a resumed run
 * draws the same; training = 0 (sampling) runs the full rank at alpha / rank, as the file. */
void network_dylora_begin_step(lora_network *n, int training, uint64_t seed, uint64_t step);
/* After a micro-step's backward: adds each trained module's slice of the layers' gradients
 * (dylora_grads) to grads, marks those slots trained, clears dylora_grads. */
void network_dylora_end_micro_step(lora_network *n);
/* Around anything the optimizer does to the weights (a step, schedule-free's eval / train):
 * _to_optimizer copies the up matrices and their gradients into up_t / dup_t, where the
 * optimizer's up-column tensors live; _from_optimizer copies up_t back. */
void network_dylora_to_optimizer(lora_network *n);
void network_dylora_from_optimizer(lora_network *n);
/* Module m's rank slot r as the optimizer sees it: down row r (in · k · k floats in params /
 * grads) and up column r (out floats in up_t / dup_t). network_zero_grad clears the trained
 * marks. */
void network_dylora_slot(const lora_network *n, const network_module *m, int r, float **down,
                         const float **ddown, float **up, const float **dup);
/* The gradient of the optimizer tensor starting at `data` (a slot's down row or up column)
 * for this step: NULL when its slot was not trained, as torch leaves such a grad None. */
const float *network_dylora_grad(const lora_network *n, const float *data);

/* ---- saving (network_save.c) ---- */

/* The file as sd-scripts writes it: <name>.lora_down.weight / .lora_up.weight / .alpha in
 * save_dtype, metadata as given (plus the sshs hashes lora_file_save adds). LoHa: .hada_w1_a,
 * .hada_w1_b, .hada_w2_a, .hada_w2_b, .alpha; LoKr: .lokr_w1 or .lokr_w1_a/.lokr_w1_b, .lokr_w2
 * (4-D [b, d, k, k] on a conv) or .lokr_w2_a/.lokr_w2_b, .alpha; iA3: .weight, .on_input;
 * full: .diff, .diff_b (the trained weight and bias less the layer's); GLoRA: .a1.weight, .a2.weight, .b1.weight, .b2.weight, .alpha;
 * Diag-OFT / BOFT: .oft_blocks, .rescale, .alpha (the constraint) — the shapes LyCORIS saves,
 * every tensor in save_dtype as LyCORIS' save_weights converts them. */
int network_save(const lora_network *n, const char *path, dtype_t save_dtype,
                 const lora_metadata *md, error_info *err);
/* The training state's copy (fp32): network_save's keys, but LyCORIS' full keeps its trained
 * weight and bias as they are (.weight, .bias) so a resume reads them back bit for bit;
 * network_load_weights reads both forms. */
int network_save_state(const lora_network *n, const char *path, const lora_metadata *md,
                       error_info *err);

/* The shape factor k (0..5, as network_module_keys) has in the file, which is also the shape
 * of the parameter sd-scripts / LyCORIS train (what factored optimizers see); returns ndim. */
int network_factor_shape(const network_module *m, int k, int64_t shape[4]);

/* sd-scripts' file names (train_util): "<output_name>", "<output_name>-{epoch:06d}",
 * "<output_name>-step{step:08d}"; without an output name "last", "epoch-{:06d}",
 * "at-step{:08d}". kind: 0 last, 1 epoch, 2 step. No extension. */
void network_file_stem(char *buf, size_t size, const char *output_name, int kind, long long n);

#endif
