/* layers.h — the Linear and Conv2d layers the models are built from, each with an optional
 * LoRA adapter: y = W x + b + scale · up(down(x)), scale = multiplier · alpha / rank, as
 * kohya's networks/lora.py computes it. Base weights may be frozen (no weight gradient) while
 * the adapter trains; every gradient accumulates (+=) like the kernels do. These are the LoRA
 * injection points: engine/lora attaches adapters to them by kohya module name. */
#ifndef LORATTY_LAYERS_H
#define LORATTY_LAYERS_H

#include <stddef.h>

#include "kernels/kernels.h"

typedef struct lora_adapter {
    int rank;
    float scale;         /* multiplier * alpha / rank */
    float *down, *up;    /* linear: down [rank, in], up [out, rank];
                          * conv: down [rank, in, k, k] (the layer's stride and padding), up [out, rank, 1, 1] */
    float *ddown, *dup;  /* gradients (+=), NULL when the adapter is not trained */
    float *hidden;       /* down's output, kept from forward for backward: rows x rank, or N x rank x OH x OW;
                          * sized by the owner for the largest call */
} lora_adapter;

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
