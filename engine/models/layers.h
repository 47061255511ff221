/* layers.h — the Linear and Conv2d layers the models are built from, each with an optional
 * LoRA adapter: y = W x + b + scale · up(down(x)), scale = multiplier · alpha / rank, as
 * kohya's networks/lora.py computes it. Base weights may be frozen (no weight gradient) while
 * the adapter trains; every gradient accumulates (+=) like the kernels do. These are the LoRA
 * injection points: engine/lora attaches adapters to them by kohya module name.
 *
 * An adapter may also be one of LyCORIS' other algorithms (LoHa, LoKr, iA3, native
 * fine-tuning, GLoRA, Diag-OFT, BOFT): those have no low-rank path to run beside the layer, so
 * the layer builds ΔW = scale · f(factors, W) (engine/lora/delta.c and one file per algorithm)
 * into its scratch each call and runs the op with W + ΔW, as LyCORIS' non-bypass forward does;
 * backward turns dL/dW into the factors' gradients. Dropouts (training only) follow sd-scripts
 * for LoRA and LyCORIS for the others; their masks are Philox draws, so backward recomputes
 * them. */
#ifndef LORATTY_LAYERS_H
#define LORATTY_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

typedef enum {
    LORA_KIND_LORA = 0, LORA_KIND_LOHA, LORA_KIND_LOKR,
    /* appended: LyCORIS' algo=ia3, full, glora, diag-oft, boft */
    LORA_KIND_IA3, LORA_KIND_FULL, LORA_KIND_GLORA, LORA_KIND_DIAG_OFT, LORA_KIND_BOFT,
    /* appended: LyCORIS' NormModule (train_norm): w_norm / b_norm added to a normalisation
     * layer's weight and bias; never a layer's adapter (engine/lora/network.c runs it) */
    LORA_KIND_NORM,
} lora_kind;

/* Per-step dropout state (all zero: none, the inference behaviour). */
typedef struct lora_dropout {
    float network;         /* LoRA: dropout on down's output, kept values × 1/(1 − p) */
    float rank;            /* LoRA: whole rank channels per sample, output × 1/(1 − p);
                            * LoHa/LoKr: whole output rows of ΔW (LyCORIS) */
    int rank_scale;        /* LoHa/LoKr: divide the kept rows by their mean (rank_dropout_scale) */
    int active;            /* 1 during a training step: the masks apply */
    int skip;              /* module_dropout drew this module out of this step: layer only */
    int batch;             /* samples in this call: a linear's rows are batch × tokens (0 = 1) */
    uint64_t seed, offset; /* the masks are k_dropout_keep draws at (seed, offset + i) */
    /* appended: LyCORIS' LoCon (LoRA kind under lycoris.kohya): rank dropout drops whole output
     * rows of ΔW for the step, as for LoHa / LoKr (rank_scale alike), instead of kohya's rank
     * channels; no neuron dropout */
    int rows;
} lora_dropout;

/* Second stream of a module's masks (rank masks), clear of the first's indices. */
#define LORA_DROPOUT_RANK_STREAM ((uint64_t)1 << 31)

/* The most factor tensors an adapter has (LoHa with Tucker: w1a, w1b, w2a, w2b, t1, t2). */
#define LORA_MAX_FACTORS 6

typedef struct lora_adapter {
    int rank;
    float scale;         /* multiplier * alpha / rank */
    float *down, *up;    /* linear: down [rank, in], up [out, rank];
                          * conv: down [rank, in, k, k] (the layer's stride and padding), up [out, rank, 1, 1] */
    float *ddown, *dup;  /* gradients (+=), NULL when the adapter is not trained */
    float *hidden;       /* down's output, kept from forward for backward: rows x rank, or N x rank x OH x OW;
                          * sized by the owner for the largest call (LoRA only) */
    /* appended: zero means plain LoRA without dropout, the original behaviour */
    lora_kind kind;
    lora_dropout drop;
    /* LoHa: w[0..3] = hada_w1_a [out, r], hada_w1_b [r, cols], hada_w2_a [out, r], hada_w2_b [r, cols]
     * LoKr: ΔW = kron(W1 [ka, kc], W2 [kb, kd]) over [out = ka·kb, cols = kc·kd] with
     *       W1 = w[0] (lokr_w1) when w1_rank is 0, else w[0] [ka, w1_rank] · w[1] [w1_rank, kc];
     *       W2 = w[2] (lokr_w2) when w2_rank is 0, else w[2] [kb, w2_rank] · w[3] [w2_rank, kd]
     * cols = in · k · k. dw[i]: gradients (+=), NULL when not trained. */
    float *w[LORA_MAX_FACTORS], *dw[LORA_MAX_FACTORS];
    int ka, kb, kc, kd, w1_rank, w2_rank;
    /* appended for the algorithms after LoKr (scale = multiplier · alpha / rank for GLoRA,
     * multiplier for the others). in_channels: the layer's input channels (cols = in_channels ·
     * k · k).
     * iA3: w[0] = the scales, [in_channels] when on_input, else [out]; ΔW = W ⊙ w.
     * Full: w[0] = the trained weight [out, cols], w[1] = the trained bias [out] (NULL without
     *       a layer bias), both starting at the layer's; the layer runs with W + scale · (w[0] − W)
     *       and b + scale · (w[1] − b).
     * GLoRA: w[0] = a1 [in_channels, r], w[1] = a2 [r, in_channels], w[2] = b1 [out, r],
     *       w[3] = b2 [r, cols]; ΔW = b1·b2 + W·(a1·a2) over the input channels.
     * Diag-OFT / BOFT: w[0] = oft_blocks ([oft_blocks, oft_size, oft_size], BOFT with boft_m
     *       of them), w[1] = rescale [out] or NULL; ΔW = rescale ⊙ (R W) − W with R from the
     *       Cayley transform of the skew-symmetric blocks, oft_constraint > 0 bounding ‖Q‖. */
    int in_channels, on_input;
    int oft_size, oft_blocks, boft_m;
    float oft_constraint;
    /* appended: LoRA kind, LyCORIS' DyLoRA: only ranks [0, active_rank) take part in this call
     * (0: all) */
    int active_rank;
    /* appended: LyCORIS' DoRA (dora_wd, LoCon / LoHa / LoKr; NULL: off): the layer runs with
     * dora_scale · V / (‖V‖ + ε) per output row, V = W + ΔW (a LoCon then runs as ΔW = up·down);
     * ddora_scale: its gradient (+=), NULL when not trained */
    float *dora_scale, *ddora_scale;
    /* appended: LyCORIS' use_scalar (LoCon / LoHa / LoKr; NULL: off): ΔW × *scalar, a trained
     * scalar starting at 0 (a LoCon then runs as ΔW = up·down); dscalar its gradient (+=) */
    float *scalar, *dscalar;
    /* appended: LyCORIS' Tucker decomposition of a k×k convolution (use_tucker; 0: off), KK =
     * k·k = cols / in_channels kernel positions, tensors [rank, rank, KK] with their first index
     * on the output side:
     * LoCon: down [rank, in_channels], mid [rank, rank, KK] (dmid its gradient), up [out, rank];
     *       ΔW[o, i, k] = Σ up[o, a] mid[a, b, k] down[b, i] (LyCORIS' rebuild_tucker).
     * LoHa: w[0] = hada_w1_a [rank, out], w[1] = hada_w1_b [rank, in_channels], w[2], w[3] the
     *       same for w2, w[4] = hada_t1, w[5] = hada_t2; ΔW = T1 ⊙ T2, Tn[o, i, k] =
     *       Σ tn[a, b, k] wn_a[a, o] wn_b[b, i].
     * LoKr (low-rank W2 only): w[2] = lokr_w2_a [rank, kb], w[3] = lokr_w2_b [rank, kd / KK],
     *       w[4] = lokr_t2; W2 [kb, kd] is the same product. */
    int tucker;
    float *mid, *dmid;
} lora_adapter;

/* The adapters the layer runs as W + ΔW: every kind but LoRA, and LoRA with DoRA or a scalar. */
int lora_is_delta(const lora_adapter *a);
/* ΔW / scale of a delta adapter on a layer of weight w [out, cols] into dw [out, cols]
 * (engine/lora/delta.c dispatches to the algorithm's file); `work` holds
 * lora_delta_work_floats floats. */
size_t lora_delta_work_floats(const lora_adapter *a, int out, size_t cols);
void lora_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols,
                      float *work);
/* The factors' gradients (+=) from g = dL/d(ΔW / scale) [out, cols]. */
void lora_delta_backward(const lora_adapter *a, const float *w, const float *g, int out,
                         size_t cols, float *work);

typedef struct linear_layer {
    int in, out;
    const float *weight, *bias;  /* [out, in], [out] or NULL */
    float *dweight, *dbias;      /* NULL when frozen */
    lora_adapter *lora;          /* NULL when none */
} linear_layer;

typedef struct conv_layer {
    int in, out, kernel, stride, pad;
    const float *weight, *bias;  /* [out, in, k, k], [out] or NULL */
    float *dweight, *dbias;
    lora_adapter *lora;
} conv_layer;

/* inp [rows, in] -> out [rows, out] (written, not accumulated). */
size_t linear_layer_scratch_floats(const linear_layer *l, int rows);
void linear_layer_forward(const linear_layer *l, float *out, const float *inp, int rows, float *scratch);
/* dinp [rows, in] += ..., weight/bias/adapter gradients += ... */
void linear_layer_backward(const linear_layer *l, float *dinp, const float *dout, const float *inp,
                           int rows, float *scratch);

/* inp [N, in, H, W] -> out [N, out, OH, OW]. */
int conv_layer_out_size(const conv_layer *c, int size);
size_t conv_layer_scratch_floats(const conv_layer *c, int N, int H, int W);
void conv_layer_forward(const conv_layer *c, float *out, const float *inp, int N, int H, int W,
                        float *scratch);
void conv_layer_backward(const conv_layer *c, float *dinp, const float *dout, const float *inp,
                         int N, int H, int W, float *scratch);

#endif
