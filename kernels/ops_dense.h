/* ops_dense.h — dense ops of the U-Net and VAE: linear, conv2d, norms, activations,
 * elementwise arithmetic, resampling, concat, reductions.
 *
 * Conventions (see kernels.h): f32, NCHW, backward accumulates (+=) into every gradient it
 * is given, NULL gradients are skipped, nothing is allocated. Elementwise forwards may run
 * in place (out == inp) where noted. The CPU versions live in kernels/cpu/<family>.c.
 */
#ifndef LORATTY_KERNELS_OPS_DENSE_H
#define LORATTY_KERNELS_OPS_DENSE_H

#include <stddef.h>

/* ---- linear (kernels/cpu/linear.c) ----
 * inp [N, C_in] -> out [N, C_out]; weight [C_out, C_in] as in PyTorch; bias [C_out] or NULL.
 * out = inp · weightᵀ + bias. */
void k_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int N, int C_in, int C_out);
void k_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int N, int C_in, int C_out);

/* ---- conv2d (kernels/cpu/conv2d.c) ----
 * inp [N, C_in, H, W] -> out [N, C_out, OH, OW]; weight [C_out, C_in, KH, KW]; bias [C_out]
 * or NULL. Same stride and zero padding in both directions; OH = (H + 2 pad - KH) / stride + 1.
 * The CPU path lowers to im2col + sgemm; `scratch` holds k_conv2d_scratch_floats(d) floats
 * (may be NULL when that is 0, which is the case for 1×1 convs with stride 1 and no padding). */
typedef struct k_conv2d_dims {
    int N, C_in, H, W;
    int C_out, KH, KW;
    int stride, pad;
} k_conv2d_dims;

int k_conv2d_out_h(const k_conv2d_dims *d);
int k_conv2d_out_w(const k_conv2d_dims *d);
size_t k_conv2d_scratch_floats(const k_conv2d_dims *d);
void k_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                      float *scratch, const k_conv2d_dims *d);
void k_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, float *scratch,
                       const k_conv2d_dims *d);

/* ---- group norm (kernels/cpu/groupnorm.c) ----
 * inp, out [N, C, HW] (HW = H·W); C % G == 0. mean, rstd [N, G] are written by forward and
 * read by backward. weight, bias [C] or NULL (affine = false). As torch.nn.GroupNorm. */
void k_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int N, int C, int HW, int G,
                         float eps);
void k_groupnorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight, const float *mean,
                          const float *rstd, int N, int C, int HW, int G);

/* ---- layer norm over the last dimension (kernels/cpu/layernorm.c) ----
 * inp, out [N, C] (N = all leading dims); mean, rstd [N]; weight, bias [C] or NULL. */
void k_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int N, int C, float eps);
void k_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight, const float *mean,
                          const float *rstd, int N, int C);

/* ---- activations (kernels/cpu/activation.c) ----
 * n elements; forward may run in place; backward needs the forward's input.
 * silu(x) = x·σ(x); gelu(x) = x·Φ(x) (erf form, torch's default); gelu_tanh is torch's
 * approximate="tanh"; quick_gelu(x) = x·σ(1.702x) (OpenAI CLIP). */
void k_silu_forward(float *out, const float *inp, size_t n);
void k_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void k_gelu_forward(float *out, const float *inp, size_t n);
void k_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
void k_gelu_tanh_forward(float *out, const float *inp, size_t n);
void k_gelu_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n);
void k_quick_gelu_forward(float *out, const float *inp, size_t n);
void k_quick_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* GEGLU as diffusers: inp [N, 2D] = [hidden | gate] per row -> out [N, D],
 * out = hidden · gelu(gate) (erf gelu). Not in place. */
void k_geglu_forward(float *out, const float *inp, int N, int D);
void k_geglu_backward(float *dinp, const float *dout, const float *inp, int N, int D);

/* ---- elementwise (kernels/cpu/elementwise.c) ----
 * n elements; forwards may run in place (out == a or out == b). */
/* out = a + b */
void k_add_forward(float *out, const float *a, const float *b, size_t n);
void k_add_backward(float *da, float *db, const float *dout, size_t n);
/* out = a · b */
void k_mul_forward(float *out, const float *a, const float *b, size_t n);
void k_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                    size_t n);
/* out = s · inp */
void k_scale_forward(float *out, const float *inp, float s, size_t n);
void k_scale_backward(float *dinp, const float *dout, float s, size_t n);
/* out = alpha · a + beta · b: residuals, e.g. diffusers' (x + h) / output_scale_factor. */
void k_add_scaled_forward(float *out, const float *a, const float *b, float alpha, float beta,
                          size_t n);
void k_add_scaled_backward(float *da, float *db, const float *dout, float alpha, float beta,
                           size_t n);
/* Per-(sample, channel) broadcast add, e.g. the time embedding injected into a ResNet block:
 * out[n, c, hw] = inp[n, c, hw] + e[n, c]. inp, out [N, C, HW]; e [N, C]. */
void k_add_channel_forward(float *out, const float *inp, const float *e, int N, int C, int HW);
void k_add_channel_backward(float *dinp, float *de, const float *dout, int N, int C, int HW);

/* ---- resampling and concat (kernels/cpu/resample.c) ----
 * Nearest 2× upsample: inp [N, C, H, W] -> out [N, C, 2H, 2W]. Not in place. */
void k_upsample2x_forward(float *out, const float *inp, int N, int C, int H, int W);
void k_upsample2x_backward(float *dinp, const float *dout, int N, int C, int H, int W);
/* Channel concat: a [N, Ca, HW], b [N, Cb, HW] -> out [N, Ca + Cb, HW]; backward splits. */
void k_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb,
                      int HW);
void k_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW);

/* ---- reductions (kernels/cpu/reduce.c) ----
 * Accumulated in double in fixed-size blocks, so the result does not depend on the number of
 * threads. Scalars are one-float buffers (out[0], dout[0]) so they can live on a device. */
void k_sum_forward(float *out, const float *inp, size_t n);
void k_sum_backward(float *dinp, const float *dout, size_t n);
void k_mean_forward(float *out, const float *inp, size_t n);
void k_mean_backward(float *dinp, const float *dout, size_t n);
/* Per-sample mean over the M = C·H·W elements of each of N samples: out [N]. */
void k_mean_per_sample_forward(float *out, const float *inp, int N, size_t M);
void k_mean_per_sample_backward(float *dinp, const float *dout, int N, size_t M);

#endif
