/* cuda_ops.h — the CUDA versions (kc_*) of the kernel ops, plus GEMM and mixed precision.
 *
 * Plain C, no CUDA headers: the engine includes this when HAVE_CUDA. Every kc_<op> has the
 * arguments and semantics of the CPU op k_<op> in kernels/ops_dense.h, ops_attention.h
 * or ops_loss.h (the numerical reference, see tests/test_cuda_ops.c) but takes DEVICE
 * pointers and returns 0 on success, -1 on failure (kc_last_error() says why). As on the
 * CPU: f32, row-major, NCHW; backward accumulates (+=) into every gradient it is given;
 * NULL gradients are skipped; results are deterministic (fixed-order reductions, no atomics,
 * deterministic cuDNN algorithms). Work is queued on the default stream and is asynchronous
 * to the host.
 */
#ifndef LORATTY_KERNELS_CUDA_OPS_H
#define LORATTY_KERNELS_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cuda/cuda_backend.h"

#ifdef __cplusplus
extern "C" { /* the CPU headers are plain C too (k_conv2d_dims, k_attn_dims, k_loss_type) */
#endif

#include "kernels/ops_attention.h"
#include "kernels/ops_dense.h"
#include "kernels/ops_loss.h"

/* Element types of device buffers. bf16/f16 are stored as 16-bit words (any 2-byte aligned
 * buffer); arithmetic on them always accumulates in f32. */
typedef enum kc_dtype { KC_F32 = 0, KC_BF16 = 1, KC_F16 = 2 } kc_dtype;
size_t kc_dtype_size(kc_dtype t);

/* ---- GEMM (kernels/cuda/gemm.cu, cuBLASLt) ----
 * Row-major: C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + beta · C  (+ bias[N] per row).
 * op(X) = Xᵀ when trans_x; A is stored [M, K] (or [K, M] when trans_a) with row stride lda,
 * B is [K, N] (or [N, K]) with ldb, C is [M, N] with ldc. A and B have type ab (f32, bf16
 * or f16), C has type c (f32, or ab); accumulation is f32. bias (f32, length N) needs an
 * f32 C and beta == 0 (it is fused as a cuBLASLt epilogue when the library offers one). */
int kc_gemm(void *c, kc_dtype c_type, const void *a, const void *b, kc_dtype ab,
            const float *bias, int M, int N, int K, int trans_a, int trans_b, int lda, int ldb,
            int ldc, float alpha, float beta);

/* ---- linear (kernels/cuda/gemm.cu) ---- as k_linear_*. */
int kc_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int N, int C_in, int C_out);
int kc_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int N, int C_in, int C_out);
/* Mixed precision: inp, weight (and dout) in t (bf16 or f16), f32 accumulation, f32 out and
 * f32 gradients (accumulated as above). */
int kc_linear_forward_mixed(float *out, const void *inp, const void *weight, const float *bias,
                            kc_dtype t, int N, int C_in, int C_out);
int kc_linear_backward_mixed(float *dinp, float *dweight, float *dbias, const void *dout,
                             const void *inp, const void *weight, kc_dtype t, int N, int C_in,
                             int C_out);

/* ---- conv2d (kernels/cuda/conv2d.cu, cuDNN) ---- as k_conv2d_*. `scratch` is not used
 * (cuDNN's workspace is the backend's own, grown on first use of a shape): pass NULL. */
int kc_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                      float *scratch, const k_conv2d_dims *d);
int kc_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, float *scratch,
                       const k_conv2d_dims *d);

/* ---- norms (kernels/cuda/norm.cu) ---- as k_groupnorm_* / k_layernorm_*. */
int kc_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int N, int C, int HW, int G,
                         float eps);
int kc_groupnorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight, const float *mean,
                          const float *rstd, int N, int C, int HW, int G);
int kc_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int N, int C, float eps);
int kc_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight, const float *mean,
                          const float *rstd, int N, int C);

/* ---- activations (kernels/cuda/activation.cu) ---- as k_silu_* ... k_geglu_*. */
int kc_silu_forward(float *out, const float *inp, size_t n);
int kc_silu_backward(float *dinp, const float *dout, const float *inp, size_t n);
int kc_gelu_forward(float *out, const float *inp, size_t n);
int kc_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
int kc_gelu_tanh_forward(float *out, const float *inp, size_t n);
int kc_gelu_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n);
int kc_quick_gelu_forward(float *out, const float *inp, size_t n);
int kc_quick_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);
int kc_geglu_forward(float *out, const float *inp, int N, int D);
int kc_geglu_backward(float *dinp, const float *dout, const float *inp, int N, int D);

/* ---- elementwise, resampling, concat, reductions (kernels/cuda/elementwise.cu) ---- */
int kc_add_forward(float *out, const float *a, const float *b, size_t n);
int kc_add_backward(float *da, float *db, const float *dout, size_t n);
int kc_mul_forward(float *out, const float *a, const float *b, size_t n);
int kc_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                    size_t n);
int kc_scale_forward(float *out, const float *inp, float s, size_t n);
int kc_scale_backward(float *dinp, const float *dout, float s, size_t n);
int kc_add_scaled_forward(float *out, const float *a, const float *b, float alpha, float beta,
                          size_t n);
int kc_add_scaled_backward(float *da, float *db, const float *dout, float alpha, float beta,
                           size_t n);
int kc_add_channel_forward(float *out, const float *inp, const float *e, int N, int C, int HW);
int kc_add_channel_backward(float *dinp, float *de, const float *dout, int N, int C, int HW);
int kc_upsample2x_forward(float *out, const float *inp, int N, int C, int H, int W);
int kc_upsample2x_backward(float *dinp, const float *dout, int N, int C, int H, int W);
int kc_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb, int HW);
int kc_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW);
/* Sums in double, one block per scalar: meant for losses and per-sample means. */
int kc_sum_forward(float *out, const float *inp, size_t n);
int kc_sum_backward(float *dinp, const float *dout, size_t n);
int kc_mean_forward(float *out, const float *inp, size_t n);
int kc_mean_backward(float *dinp, const float *dout, size_t n);
int kc_mean_per_sample_forward(float *out, const float *inp, int N, size_t M);
int kc_mean_per_sample_backward(float *dinp, const float *dout, int N, size_t M);

/* ---- attention (kernels/cuda/attention.cu) ---- as k_attention_*: q, out [B, Tq, H·d],
 * k, v [B, Tk, H·d], lse [B, H, Tq], scale and causal as k_attn_dims (tile_q / tile_k are
 * the CPU's and are ignored). Flash-attention style: memory linear in Tq and Tk, the
 * backward recomputes probabilities from lse. Head size d ≤ KC_ATTN_MAX_D. `scratch` is not
 * used: pass NULL. */
#define KC_ATTN_MAX_D 256
int kc_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                         float *scratch, const k_attn_dims *a);
int kc_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *k, const float *v, const float *out, const float *lse,
                          float *scratch, const k_attn_dims *a);

/* ---- softmax over the last dimension (kernels/cuda/softmax.cu) ---- as k_softmax_*:
 * inp, out [N, C], out may equal inp; one block per row. */
int kc_softmax_forward(float *out, const float *inp, int N, int C);
int kc_softmax_backward(float *dinp, const float *dout, const float *out, int N, int C);

/* ---- token + position embedding (kernels/cuda/embedding.cu) ---- as k_embedding_*, ids on
 * the device too. An id outside [0, V) gets a zero token row and the forward returns -1 with
 * the error recorded; finding that out waits for the kernel (one synchronisation per call).
 * The backward is deterministic without atomics and adds in the CPU's order. */
int kc_embedding_forward(float *out, const int32_t *ids, const float *tok, const float *pos,
                         int B, int T, int C, int V);
int kc_embedding_backward(float *dtok, float *dpos, const float *dout, const int32_t *ids,
                          int B, int T, int C, int V);

/* ---- sinusoidal timestep embedding (kernels/cuda/timestep.cu) ---- as k_timestep_*: t [N]
 * and out [N, dim] on the device, the rest host scalars. */
int kc_timestep_embedding(float *out, const float *t, int N, int dim, int flip_sin_to_cos,
                          float downscale_freq_shift, float max_period);
int kc_timestep_embedding_sd(float *out, const float *t, int N, int dim);

/* ---- dropout and noise (kernels/cuda/dropout.cu) ---- as k_dropout_* / k_randn / k_rand,
 * with the same Philox streams (kernels/rng.h): masks, dropout outputs and uniforms equal the
 * CPU's bit for bit; Gaussians agree to an ulp (double log/cos of another libm). mask is a
 * device buffer of n bytes or NULL. k_dropout_keep is host-only: it needs no device. */
int kc_dropout_forward(float *out, uint8_t *mask, const float *inp, float p, uint64_t seed,
                       uint64_t offset, size_t n);
int kc_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p,
                        uint64_t seed, uint64_t offset, size_t n);
int kc_randn(float *out, size_t n, uint64_t seed, uint64_t offset);
int kc_rand(float *out, size_t n, uint64_t seed, uint64_t offset);

/* ---- training losses (kernels/cuda/loss.cu) ---- as k_loss_*: loss, per_sample, dloss,
 * weight and c are device buffers (weight, c, per_sample may be NULL as on the CPU). Sums in
 * double, fixed order. An unknown type returns -1. */
int kc_loss_forward(float *loss, float *per_sample, const float *pred, const float *target,
                    const float *weight, const float *c, k_loss_type type, int N, size_t M);
int kc_loss_backward(float *dpred, const float *dloss, const float *pred, const float *target,
                     const float *weight, const float *c, k_loss_type type, int N, size_t M);

/* ---- mixed precision (kernels/cuda/amp.cu) ----
 * Conversions round to nearest even; f32 -> f16 overflows to ±inf as torch's .half(). */
int kc_convert(void *dst, kc_dtype dst_type, const void *src, kc_dtype src_type, size_t n);
/* flag[0] = 1 when any of x[0..n) is inf or NaN; flag is never cleared here, so one zeroed
 * flag collects the check of all gradient tensors. */
int kc_found_inf(float *flag, const float *x, size_t n);
/* x *= inv_scale, then as kc_found_inf (torch's _amp_foreach_non_finite_check_and_unscale_). */
int kc_unscale_found_inf(float *x, float *flag, float inv_scale, size_t n);

/* Dynamic loss scaling as torch.cuda.amp.GradScaler: multiply the loss by scale before the
 * backward, unscale the gradients with 1/scale, and after each step call update with
 * whether any gradient was non-finite: then the step must be skipped and the scale backs off;
 * after growth_interval clean steps in a row it grows. Host-side state only. */
typedef struct kc_loss_scaler {
    float scale;          /* current loss scale */
    float growth_factor;  /* 2.0 */
    float backoff_factor; /* 0.5 */
    int growth_interval;  /* 2000 */
    int good_steps;       /* clean steps since the last change */
    float min_scale;      /* never backs off below this (1.0) */
} kc_loss_scaler;
/* init_scale <= 0 gives 65536, growth_interval <= 0 gives 2000 (torch's defaults). */
void kc_loss_scaler_init(kc_loss_scaler *s, float init_scale, int growth_interval);
/* Returns 1 when the step must be skipped (found_inf), 0 otherwise; updates the scale. */
int kc_loss_scaler_update(kc_loss_scaler *s, int found_inf);

#ifdef __cplusplus
}
#endif

#endif
