/* layers.c — Linear and Conv2d with an optional LoRA adapter; see layers.h. */
#include "engine/models/layers.h"

#include <string.h>

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

size_t linear_layer_scratch_floats(const linear_layer *l, int rows)
{
    if (!l->lora)
        return 0;
    /* forward: the adapter's output before adding; backward: scaled dout + dhidden */
    return (size_t)rows * (size_t)l->out + (size_t)rows * (size_t)l->lora->rank;
}

void linear_layer_forward(const linear_layer *l, float *out, const float *inp, int rows, float *scratch)
{
    k_linear_forward(out, inp, l->weight, l->bias, rows, l->in, l->out);
    const lora_adapter *a = l->lora;
    if (!a)
        return;
    size_t n = (size_t)rows * (size_t)l->out;
    k_linear_forward(a->hidden, inp, a->down, NULL, rows, l->in, a->rank);
    k_linear_forward(scratch, a->hidden, a->up, NULL, rows, a->rank, l->out);
    k_add_scaled_forward(out, out, scratch, 1.0f, a->scale, n);
}

void linear_layer_backward(const linear_layer *l, float *dinp, const float *dout, const float *inp,
                           int rows, float *scratch)
{
    k_linear_backward(dinp, l->dweight, l->dbias, dout, inp, l->weight, rows, l->in, l->out);
    const lora_adapter *a = l->lora;
    if (!a)
        return;
    size_t n = (size_t)rows * (size_t)l->out;
    float *scaled = scratch, *dhidden = scratch + n;
    k_scale_forward(scaled, dout, a->scale, n);
    memset(dhidden, 0, (size_t)rows * (size_t)a->rank * sizeof *dhidden);
    k_linear_backward(dhidden, a->dup, NULL, scaled, a->hidden, a->up, rows, a->rank, l->out);
    k_linear_backward(dinp, a->ddown, NULL, dhidden, inp, a->down, rows, l->in, a->rank);
}

static k_conv2d_dims dims_of(int N, int C_in, int H, int W, int C_out, int k, int stride, int pad)
{
    k_conv2d_dims d = {N, C_in, H, W, C_out, k, k, stride, pad};
    return d;
}

int conv_layer_out_size(const conv_layer *c, int size)
{
    return (size + 2 * c->pad - c->kernel) / c->stride + 1;
}

size_t conv_layer_scratch_floats(const conv_layer *c, int N, int H, int W)
{
    k_conv2d_dims base = dims_of(N, c->in, H, W, c->out, c->kernel, c->stride, c->pad);
    size_t need = k_conv2d_scratch_floats(&base);
    if (c->lora) {
        int OH = conv_layer_out_size(c, H), OW = conv_layer_out_size(c, W);
        k_conv2d_dims down = dims_of(N, c->in, H, W, c->lora->rank, c->kernel, c->stride, c->pad);
        k_conv2d_dims up = dims_of(N, c->lora->rank, OH, OW, c->out, 1, 1, 0);
        size_t out_n = (size_t)N * c->out * OH * OW, hid_n = (size_t)N * c->lora->rank * OH * OW;
        need = max_size(need, max_size(k_conv2d_scratch_floats(&down), k_conv2d_scratch_floats(&up)) + out_n + hid_n);
    }
    return need;
}

void conv_layer_forward(const conv_layer *c, float *out, const float *inp, int N, int H, int W,
                        float *scratch)
{
    k_conv2d_dims base = dims_of(N, c->in, H, W, c->out, c->kernel, c->stride, c->pad);
    k_conv2d_forward(out, inp, c->weight, c->bias, scratch, &base);
    const lora_adapter *a = c->lora;
    if (!a)
        return;
    int OH = conv_layer_out_size(c, H), OW = conv_layer_out_size(c, W);
    size_t out_n = (size_t)N * c->out * OH * OW;
    float *lora_out = scratch, *im2col = scratch + out_n + (size_t)N * a->rank * OH * OW;
    k_conv2d_dims down = dims_of(N, c->in, H, W, a->rank, c->kernel, c->stride, c->pad);
    k_conv2d_dims up = dims_of(N, a->rank, OH, OW, c->out, 1, 1, 0);
    k_conv2d_forward(a->hidden, inp, a->down, NULL, im2col, &down);
    k_conv2d_forward(lora_out, a->hidden, a->up, NULL, im2col, &up);
    k_add_scaled_forward(out, out, lora_out, 1.0f, a->scale, out_n);
}

void conv_layer_backward(const conv_layer *c, float *dinp, const float *dout, const float *inp,
                         int N, int H, int W, float *scratch)
{
    k_conv2d_dims base = dims_of(N, c->in, H, W, c->out, c->kernel, c->stride, c->pad);
    k_conv2d_backward(dinp, c->dweight, c->dbias, dout, inp, c->weight, scratch, &base);
    const lora_adapter *a = c->lora;
    if (!a)
        return;
    int OH = conv_layer_out_size(c, H), OW = conv_layer_out_size(c, W);
    size_t out_n = (size_t)N * c->out * OH * OW, hid_n = (size_t)N * a->rank * OH * OW;
    float *scaled = scratch, *dhidden = scratch + out_n, *im2col = scratch + out_n + hid_n;
    k_scale_forward(scaled, dout, a->scale, out_n);
    memset(dhidden, 0, hid_n * sizeof *dhidden);
    k_conv2d_dims down = dims_of(N, c->in, H, W, a->rank, c->kernel, c->stride, c->pad);
    k_conv2d_dims up = dims_of(N, a->rank, OH, OW, c->out, 1, 1, 0);
    k_conv2d_backward(dhidden, a->dup, NULL, scaled, a->hidden, a->up, im2col, &up);
    k_conv2d_backward(dinp, a->ddown, NULL, dhidden, inp, a->down, im2col, &down);
}
