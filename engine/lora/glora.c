/* glora.c — LyCORIS' GLoRA (GLoRAModule.make_weight, use_tucker and use_scalar off):
 *   ΔW / scale = b1·b2 + W ×_in (a1·a2)
 * where the second term mixes the input channels of the layer's own weight W [out, in, k, k]:
 * (W ×_in A)[o, j, s] = Σ_i W[o, i, s] · A[i, j] (LyCORIS' einsum "o i ..., i j -> o j ..."
 * with a1, then a2; for a Linear, W·a1·a2). The in × in product a1·a2 is never formed: per
 * output row o, with W_o = W[o] viewed [in, k·k],
 *   T_o = a1ᵀ·W_o [r, k·k],  (W ×_in A)_o = a2ᵀ·T_o,
 * so the work is T [out, r, k·k]. Backward from g = dL/d(ΔW / scale), g_o = g[o] [in, k·k]:
 *   d b1 = g·b2ᵀ,  d b2 = b1ᵀ·g,  d a2 = Σ_o T_o·g_oᵀ,
 *   dT_o = a2·g_o,  d a1 = Σ_o W_o·dT_oᵀ  (dT reuses T's work once d a2 is done). */
#include "engine/lora/lycoris.h"

#include <cblas.h>

void glora_sizes(int out, int in_channels, size_t cols, int rank, size_t sizes[4])
{
    sizes[0] = (size_t)in_channels * rank;   /* a1 [in, r] */
    sizes[1] = (size_t)rank * in_channels;   /* a2 [r, in] */
    sizes[2] = (size_t)out * rank;           /* b1 [out, r] */
    sizes[3] = (size_t)rank * cols;          /* b2 [r, in · k · k] */
}

/* k · k: the columns of W per input channel */
static int spatial(const lora_adapter *a, size_t cols)
{
    return (int)(cols / (size_t)a->in_channels);
}

size_t glora_work_floats(const lora_adapter *a, int out, size_t cols)
{
    return (size_t)out * (size_t)a->rank * (size_t)spatial(a, cols);
}

/* c [m, n] = op(x)·op(y) + beta·c, row-major; op transposes when t* is set */
static void mm(int tx, int ty, int m, int n, int k, const float *x, int ldx, const float *y, int ldy,
               float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, tx ? CblasTrans : CblasNoTrans, ty ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
                x, ldx, y, ldy, beta, c, ldc);
}

/* T [out, r, k·k] = a1ᵀ·W_o for every o. For a Linear (k·k = 1) that memory is W·a1 [out, r],
 * one product. */
static void input_down(const lora_adapter *a, const float *w, float *t, int out, size_t cols)
{
    int r = a->rank, in = a->in_channels, s = spatial(a, cols);
    if (s == 1) {
        mm(0, 0, out, r, in, w, in, a->w[0], r, 0.0f, t, r);
        return;
    }
    for (int o = 0; o < out; o++)
        mm(1, 0, r, s, in, a->w[0], r, w + (size_t)o * cols, s, 0.0f, t + (size_t)o * r * s, s);
}

void glora_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols, float *work)
{
    int r = a->rank, in = a->in_channels, s = spatial(a, cols), n = (int)cols;
    mm(0, 0, out, n, r, a->w[2], r, a->w[3], n, 0.0f, dw, n);   /* b1·b2 */
    input_down(a, w, work, out, cols);
    /* + a2ᵀ·T_o per row; for a Linear + T·a2 */
    if (s == 1) {
        mm(0, 0, out, in, r, work, r, a->w[1], in, 1.0f, dw, in);
        return;
    }
    for (int o = 0; o < out; o++)
        mm(1, 0, in, s, r, a->w[1], in, work + (size_t)o * r * s, s, 1.0f, dw + (size_t)o * cols, s);
}

void glora_delta_backward(const lora_adapter *a, const float *w, const float *g, int out, size_t cols,
                          float *work)
{
    int r = a->rank, in = a->in_channels, s = spatial(a, cols), n = (int)cols;
    if (a->dw[2])   /* d b1 += g·b2ᵀ */
        mm(0, 1, out, r, n, g, n, a->w[3], n, 1.0f, a->dw[2], r);
    if (a->dw[3])   /* d b2 += b1ᵀ·g */
        mm(1, 0, r, n, out, a->w[2], r, g, n, 1.0f, a->dw[3], n);
    if (a->dw[1]) {   /* d a2 += Σ_o T_o·g_oᵀ; for a Linear Tᵀ·g */
        input_down(a, w, work, out, cols);
        if (s == 1)
            mm(1, 0, r, in, out, work, r, g, in, 1.0f, a->dw[1], in);
        else
            for (int o = 0; o < out; o++)
                mm(0, 1, r, in, s, work + (size_t)o * r * s, s, g + (size_t)o * cols, s, 1.0f, a->dw[1], in);
    }
    if (!a->dw[0])
        return;
    /* dT_o = a2·g_o, then d a1 += W_o·dT_oᵀ, one row at a time; for a Linear dT = g·a2ᵀ [out, r],
     * d a1 += Wᵀ·dT */
    if (s == 1) {
        mm(0, 1, out, r, in, g, in, a->w[1], in, 0.0f, work, r);
        mm(1, 0, in, r, out, w, in, work, r, 1.0f, a->dw[0], r);
        return;
    }
    for (int o = 0; o < out; o++) {
        mm(0, 0, r, s, in, a->w[1], in, g + (size_t)o * cols, s, 0.0f, work, s);
        mm(0, 1, in, r, s, w + (size_t)o * cols, s, work, s, 1.0f, a->dw[0], r);
    }
}
