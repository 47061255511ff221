/* ia3.c — LyCORIS' iA3 (IA3Module, non-bypass): a learnt scale per output row of the layer's
 * weight, or per input channel (on_input, which LyCORIS' ia3 preset sets for the MLPs' second
 * linear): ΔW = multiplier · W ⊙ w, so the layer runs with W ⊙ (1 + w). The bias is left as
 * it is. */
#include "engine/lora/lycoris.h"

size_t ia3_size(int out, int in_channels, int on_input)
{
    return (size_t)(on_input ? in_channels : out);
}

/* The scale index of element (row i, column j): the row, or the input channel of column j
 * (columns run channel-major: in · k · k). */
static size_t scale_index(const lora_adapter *a, int i, size_t j, size_t per_channel)
{
    return a->on_input ? j / per_channel : (size_t)i;
}

void ia3_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols)
{
    size_t per_channel = cols / (size_t)a->in_channels;
    for (int i = 0; i < out; i++)
        for (size_t j = 0; j < cols; j++) {
            size_t k = (size_t)i * cols + j;
            dw[k] = w[k] * a->w[0][scale_index(a, i, j, per_channel)];
        }
}

void ia3_delta_backward(const lora_adapter *a, const float *w, const float *g, int out, size_t cols)
{
    if (!a->dw[0])
        return;
    size_t per_channel = cols / (size_t)a->in_channels;
    for (int i = 0; i < out; i++)
        for (size_t j = 0; j < cols; j++) {
            size_t k = (size_t)i * cols + j;
            a->dw[0][scale_index(a, i, j, per_channel)] += g[k] * w[k];
        }
}
