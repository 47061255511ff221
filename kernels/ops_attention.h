/* ops_attention.h — softmax, multi-head attention, embeddings (token, position, timestep),
 * dropout and Gaussian noise: the sequence-side ops of the CLIP text encoders and the U-Net's
 * transformer blocks, plus the seeded randomness training needs.
 *
 * Conventions (see kernels.h): f32, row-major, backward ACCUMULATES (+=) into every gradient
 * it is given (input gradients included), NULL gradients are skipped, nothing is allocated.
 * The CPU versions live in kernels/cpu/{softmax,attention,embedding,timestep,dropout}.c.
 */
#ifndef LORATTY_KERNELS_OPS_ATTENTION_H
#define LORATTY_KERNELS_OPS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

/* ---- softmax over the last dimension (kernels/cpu/softmax.c) ----
 * inp, out [N, C]; out may equal inp. Backward needs the forward's output:
 * dinp += out ⊙ (dout − Σ_c dout·out). */
void k_softmax_forward(float *out, const float *inp, int N, int C);
void k_softmax_backward(float *dinp, const float *dout, const float *out, int N, int C);

/* ---- scaled dot-product attention (kernels/cpu/attention.c) ----
 * Layout as diffusers after to_q / to_k / to_v (and CLIP after q_proj / k_proj / v_proj):
 *     q, out [B, Tq, H·d]     k, v [B, Tk, H·d]
 * head h of token t is the slice [t, h·d, (h+1)·d). Self-attention has Tk = Tq; cross-attention
 * (U-Net attn2) has k, v from the text context, Tk = 77 (or 154, 231), Tq = latent H·W.
 *     out = softmax(q kᵀ · scale + mask) v      per (batch, head), scale = 1/√d by default
 * With `causal` (CLIP text encoder) query i sees keys j ≤ i only.
 * The forward also writes lse [B, H, Tq], each query row's log Σ exp(scores): the backward
 * recomputes the probabilities tile by tile from it instead of storing them, so neither pass
 * holds more than one tile_q × tile_k block of scores (flash-attention style, online softmax).
 * Both passes need scratch of k_attention_scratch_floats(dims) floats: one tile's worth per
 * OpenMP thread (omp_get_max_threads() at the time of the call, so query the size again after
 * changing the thread count), independent of B and H. Threads split the forward by (batch,
 * head, query tile) and the backward by (batch, head). out must not alias q, k or v. */
typedef struct k_attn_dims {
    int B, Tq, Tk, H, d;
    int causal;           /* 1: key j visible to query i iff j ≤ i */
    float scale;          /* 0: 1/√d */
    int tile_q, tile_k;   /* 0: defaults (≤ 64 × 64); tests use small tiles to cross edges */
} k_attn_dims;

size_t k_attention_scratch_floats(const k_attn_dims *a);
void k_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                         float *scratch, const k_attn_dims *a);
void k_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *k, const float *v, const float *out, const float *lse,
                          float *scratch, const k_attn_dims *a);

/* ---- sinusoidal timestep embedding (kernels/cpu/timestep.c) ----
 * As diffusers' get_timestep_embedding(t, dim, flip_sin_to_cos, downscale_freq_shift,
 * scale=1, max_period): with half = dim/2,
 *     freq[i] = exp(−ln(max_period) · i / (half − shift)),  arg = t · freq[i]
 *     out[n] = [sin(arg) | cos(arg)], or [cos | sin] with flip_sin_to_cos; a zero pad column
 * when dim is odd. Computed in f32 as torch does. t [N] is float so that SDXL's size and crop
 * conditioning (sdxl_train_util.get_size_embeddings, dim 256) uses the same function.
 * Forward only: timesteps are integers and sizes are data, so nothing needs their gradient.
 * k_timestep_embedding_sd is SD's setting: flip_sin_to_cos, shift 0, max_period 10000. */
void k_timestep_embedding(float *out, const float *t, int N, int dim, int flip_sin_to_cos,
                          float downscale_freq_shift, float max_period);
void k_timestep_embedding_sd(float *out, const float *t, int N, int dim);

/* ---- token + position embedding, CLIP (kernels/cpu/embedding.c) ----
 * ids [B, T] in [0, V); tok [V, C]; pos [T_max ≥ T, C] or NULL; out [B, T, C]:
 *     out[b, t] = tok[ids[b, t]] + pos[t]
 * An id outside [0, V) gets a zero token row and the forward returns -1 (0 otherwise); the
 * backward skips such ids. Backward accumulates into both tables (dtok or dpos may be NULL);
 * repeated ids add up, deterministically (threads split channels, not tokens). */
int k_embedding_forward(float *out, const int32_t *ids, const float *tok, const float *pos,
                        int B, int T, int C, int V);
void k_embedding_backward(float *dtok, float *dpos, const float *dout, const int32_t *ids,
                          int B, int T, int C, int V);

/* ---- dropout and Gaussian noise from the counter-based RNG (kernels/cpu/dropout.c) ----
 * Element i uses Philox counter (offset + i) under seed (kernels/rng.h), so CPU and CUDA give
 * the same mask, and the caller advances offset by n after each draw to get fresh numbers.
 * Dropout: element i is dropped with probability p (its 32-bit draw is below p·2³²); kept
 * elements are scaled by 1/(1 − p). mask [n] (1 = kept) is written when not NULL; the
 * backward uses it when given, otherwise it recomputes the mask from (seed, offset).
 * p = 0 copies; p = 1 gives zeros. out may equal inp. */
void k_dropout_forward(float *out, uint8_t *mask, const float *inp, float p, uint64_t seed,
                       uint64_t offset, size_t n);
void k_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, float p,
                        uint64_t seed, uint64_t offset, size_t n);
/* 1 when element `index` of the draw at (seed, offset) is kept: the mask without the data. */
int k_dropout_keep(float p, uint64_t seed, uint64_t offset, size_t index);

/* Standard normal samples (Box-Muller, the cosine branch, computed in double) — torch.randn's
 * role in training (noise, noise offset), reproducible from (seed, offset). */
void k_randn(float *out, size_t n, uint64_t seed, uint64_t offset);
/* Uniform samples in [0, 1) from the same generator (torch.rand's role). */
void k_rand(float *out, size_t n, uint64_t seed, uint64_t offset);

#endif
