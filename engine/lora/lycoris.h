/* lycoris.h — LyCORIS' algorithms other than LoRA/LoCon: factor shapes and the ΔW build and
 * backward of each (loha.c, lokr.c, ia3.c, glora.c, oft.c; native fine-tuning in delta.c,
 * which dispatches the layers' calls declared in engine/models/layers.h). Every build writes
 * ΔW / scale [out, cols] for a layer of weight w [out, cols], cols = in_channels · k · k, and
 * every backward adds the factors' gradients (into a->dw[i] where not NULL) from
 * g = dL/d(ΔW / scale). `work` holds the algorithm's *_work_floats floats. */
#ifndef LORATTY_LYCORIS_H
#define LORATTY_LYCORIS_H

#include "engine/models/layers.h"

/* LyCORIS' factorization(dimension, factor): dimension = m · n with m ≤ n; factor > 0 that
 * divides it gives (factor, dimension / factor) ordered; otherwise the most square split with
 * m ≤ factor (factor −1: no bound). */
void lokr_factorization(int dimension, int factor, int *m, int *n);

/* Fills a->ka, kb, kc, kd, w1_rank, w2_rank (and a->tucker) for a LoKr adapter of `rank` on a
 * layer of out × in channels with a k×k kernel (1 for Linear), as LyCORIS' LokrModule decides
 * (factor, decompose_both, use_tucker — taken on a k > 1 kernel when W2 is low-rank; full_matrix
 * off). Returns the floats of w[0..4] in sizes. */
void lokr_shapes(lora_adapter *a, int out, int in, int kernel, int rank, int factor,
                 int decompose_both, int use_tucker, size_t sizes[LORA_MAX_FACTORS]);
size_t lokr_work_floats(const lora_adapter *a);
void lokr_delta_build(const lora_adapter *a, float *dw, int out, size_t cols, float *work);
void lokr_delta_backward(const lora_adapter *a, const float *g, int out, size_t cols, float *work);

/* LoHa factor sizes: w1a, w1b, w2a, w2b (and t1, t2 with tucker, on a layer of in_channels
 * inputs and cols = in_channels · KK columns). */
void loha_sizes(int out, int in_channels, size_t cols, int rank, int tucker,
                size_t sizes[LORA_MAX_FACTORS]);
size_t loha_work_floats(const lora_adapter *a, int out, size_t cols);
void loha_delta_build(const lora_adapter *a, float *dw, int out, size_t cols, float *work);
void loha_delta_backward(const lora_adapter *a, const float *g, int out, size_t cols, float *work);

/* LyCORIS' Tucker factors (tucker.c): T[o, i, s] = Σ_ab t[a, b, s] u[a, o] v[b, i] over a core
 * t [R, R, KK], u [R, O] (u_out_first: [O, R]) and v [R, I]; cols = I · KK.
 * tucker_core_in: M [R, cols] = t ×_b v. tucker_expand: T [O, cols] from M and u.
 * tucker_du: du += dL/du from G = dL/dT and M. tucker_dcore: dt, dv += (either may be NULL)
 * from G, with dM [R, cols] as work. */
void tucker_core_in(float *M, const float *t, const float *v, int R, int nin, int KK);
void tucker_expand(float *T, const float *M, const float *u, int u_out_first, int nout, int R, size_t cols);
void tucker_du(float *du, const float *M, const float *G, int u_out_first, int nout, int R, size_t cols);
void tucker_dcore(float *dt, float *dv, const float *G, const float *u, int u_out_first, const float *t,
                  const float *v, int nout, int R, int nin, int KK, float *dM);

/* iA3 (LyCORIS' IA3Module): one scale per output row, or per input channel with a->on_input;
 * ΔW / scale = W ⊙ w broadcast. No work. */
size_t ia3_size(int out, int in_channels, int on_input);
void ia3_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols);
void ia3_delta_backward(const lora_adapter *a, const float *w, const float *g, int out, size_t cols);

/* GLoRA (LyCORIS' GLoRAModule, use_tucker off): sizes of a1, a2, b1, b2 (see layers.h). */
void glora_sizes(int out, int in_channels, size_t cols, int rank, size_t sizes[4]);
size_t glora_work_floats(const lora_adapter *a, int out, size_t cols);
void glora_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols,
                       float *work);
void glora_delta_backward(const lora_adapter *a, const float *w, const float *g, int out,
                          size_t cols, float *work);

/* Diag-OFT (boft = 0, LyCORIS' DiagOFTModule) and BOFT (boft = 1, ButterflyOFTModule): sets
 * a->oft_size, oft_blocks, boft_m for a layer of `out` rows and lora_dim `rank` (Diag-OFT:
 * lokr_factorization(out, rank) → (block size, block count); BOFT: LyCORIS'
 * power2factorization) and sizes[0] = oft_blocks floats, sizes[1] = rescale (out when
 * rescaled, else 0). Returns -1 when BOFT cannot split `out` under its constraints. */
int oft_shapes(lora_adapter *a, int boft, int out, int rank, int rescaled, size_t sizes[4]);
size_t oft_work_floats(const lora_adapter *a, int out, size_t cols);
void oft_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols,
                     float *work);
void oft_delta_backward(const lora_adapter *a, const float *w, const float *g, int out,
                        size_t cols, float *work);

#endif
