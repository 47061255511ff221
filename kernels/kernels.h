/* kernels.h — the one op interface the engine calls.
 *
 * Every op is a pair of plain functions over raw f32 pointers and sizes, allocating nothing:
 *     k_<op>_forward(out, ..., inp, weight, bias, sizes...)
 *     k_<op>_backward(dinp, dweight, dbias, dout, ..., saved activations, sizes...)
 * k_* run on the CPU (kernels/cpu/, OpenBLAS + OpenMP, the numerical reference);
 * kc_* are the CUDA versions with the same signatures (kernels/cuda/, only when HAVE_CUDA).
 *
 * Conventions shared by all op families:
 *  - Layout is row-major; images are NCHW.
 *  - Backward ACCUMULATES (+=) into every gradient it is given — input, weight and bias —
 *    so callers zero gradient buffers once (k_zero) and residual branches just add up.
 *  - A NULL gradient pointer means "not needed" and that work is skipped (frozen base
 *    weights in LoRA training need dinp but no dweight).
 *  - Gradient buffers never alias dout or the forward inputs unless an op says so.
 *  - Results are deterministic: the same inputs give bit-identical outputs run to run for a
 *    given thread count (reductions use a fixed order, not atomics).
 */
#ifndef LORATTY_KERNELS_H
#define LORATTY_KERNELS_H

#include "kernels/backend.h"
#include "kernels/ops_dense.h"
#include "kernels/ops_attention.h"
#include "kernels/ops_loss.h"

#endif
