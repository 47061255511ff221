/* lycoris.h — LyCORIS' LoHa and LoKr factor shapes (engine/lora/loha.c, lokr.c); the ΔW
 * build and its backward are declared in engine/models/layers.h next to the adapter. */
#ifndef LORATTY_LYCORIS_H
#define LORATTY_LYCORIS_H

#include "engine/models/layers.h"

/* LyCORIS' factorization(dimension, factor): dimension = m · n with m ≤ n; factor > 0 that
 * divides it gives (factor, dimension / factor) ordered; otherwise the most square split with
 * m ≤ factor (factor −1: no bound). */
void lokr_factorization(int dimension, int factor, int *m, int *n);

/* Fills a->ka, kb, kc, kd, w1_rank, w2_rank for a LoKr adapter of `rank` on a layer of
 * out × in channels with a k×k kernel (1 for Linear), as LyCORIS' LokrModule decides
 * (factor, decompose_both; use_tucker and full_matrix off). Returns the floats of w[0..3]
 * in sizes[4]. */
void lokr_shapes(lora_adapter *a, int out, int in, int kernel, int rank, int factor,
                 int decompose_both, size_t sizes[4]);

/* LoHa factor sizes: w1a, w1b, w2a, w2b. */
void loha_sizes(int out, size_t cols, int rank, size_t sizes[4]);

#endif
