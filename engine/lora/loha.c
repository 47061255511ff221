/* loha.c — LyCORIS' LoHa: ΔW = scale · (w1a·w1b) ⊙ (w2a·w2b) and its gradients; with
 * use_tucker on a k×k convolution ΔW = scale · T1 ⊙ T2, each Tn a Tucker product (tucker.c) of
 * hada_tn, hada_wn_a (output side) and hada_wn_b (input side). */
#include "engine/lora/lycoris.h"

#include <cblas.h>
#include <string.h>

void loha_sizes(int out, int in_channels, size_t cols, int rank, int tucker,
                size_t sizes[LORA_MAX_FACTORS])
{
    sizes[0] = sizes[2] = (size_t)out * rank;
    sizes[1] = sizes[3] = (size_t)rank * (tucker ? (size_t)in_channels : cols);
    sizes[4] = sizes[5] = tucker ? (size_t)rank * rank * (cols / (size_t)in_channels) : 0;
}

/* Tucker: one T buffer [out, cols] and M, dM [rank, cols]; plain: out · cols */
size_t loha_work_floats(const lora_adapter *a, int out, size_t cols)
{
    return (size_t)out * cols + (a->tucker ? 2 * (size_t)a->rank * cols : 0);
}

/* Tn [out, cols] of factor pair n (0 or 1), leaving its M in m */
static void tucker_factor(const lora_adapter *a, int n, float *T, float *m, int out, size_t cols)
{
    int kk = (int)(cols / (size_t)a->in_channels);
    tucker_core_in(m, a->w[4 + n], a->w[2 * n + 1], a->rank, a->in_channels, kk);
    tucker_expand(T, m, a->w[2 * n], 0, out, a->rank, cols);
}

/* c = a [m, r] · b [r, n] */
static void product(float *c, const float *a, const float *b, int m, int r, size_t n)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)n, r, 1.0f, a, r, b, (int)n, 0.0f, c,
                (int)n);
}

/* dL/d(a·b) = t: da += t·bᵀ, db += aᵀ·t */
static void product_backward(float *da, float *db, const float *t, const float *a, const float *b, int m,
                             int r, size_t n)
{
    if (da)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, r, (int)n, 1.0f, t, (int)n, b, (int)n, 1.0f,
                    da, r);
    if (db)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, (int)n, m, 1.0f, a, r, t, (int)n, 1.0f, db,
                    (int)n);
}

void loha_delta_build(const lora_adapter *a, float *dw, int out, size_t cols, float *work)
{
    if (a->tucker) {
        size_t n = (size_t)out * cols;
        tucker_factor(a, 0, dw, work + n, out, cols);
        tucker_factor(a, 1, work, work + n, out, cols);
        for (size_t j = 0; j < n; j++)
            dw[j] *= work[j];
        return;
    }
    product(dw, a->w[0], a->w[1], out, a->rank, cols);
    /* the second product row by row, so no extra buffer */
    for (int i = 0; i < out; i++) {
        float *row = dw + (size_t)i * cols;
        const float *w2a = a->w[2] + (size_t)i * a->rank;
        for (size_t j = 0; j < cols; j++) {
            float s = 0.0f;
            for (int r = 0; r < a->rank; r++)
                s += w2a[r] * a->w[3][(size_t)r * cols + j];
            row[j] *= s;
        }
    }
}

/* ΔW = T1 ⊙ T2: pair p's factors get Gp = g ⊙ Tq through its own Tucker product. (LyCORIS'
 * HadaWeightTucker.backward takes d hada_w1_a with the other pair's M, t2 ×_b hada_w2_b, and
 * d hada_w2_a with t1 ×_b hada_w1_b — lycoris 3.2.0.post2 and its main branch — which is only
 * right when the pairs are equal; loratty computes the true gradient.) */
static void loha_tucker_backward(const lora_adapter *a, const float *g, int out, size_t cols, float *work)
{
    size_t n = (size_t)out * cols;
    int kk = (int)(cols / (size_t)a->in_channels);
    float *T = work, *m = work + n, *dm = m + (size_t)a->rank * cols;
    for (int p = 0; p < 2; p++) {
        int q = 1 - p;
        tucker_factor(a, q, T, m, out, cols);   /* T = Tq */
        for (size_t j = 0; j < n; j++)
            T[j] *= g[j];                       /* Gp = g ⊙ Tq */
        tucker_core_in(m, a->w[4 + p], a->w[2 * p + 1], a->rank, a->in_channels, kk);   /* Mp */
        tucker_du(a->dw[2 * p], m, T, 0, out, a->rank, cols);
        tucker_dcore(a->dw[4 + p], a->dw[2 * p + 1], T, a->w[2 * p], 0, a->w[4 + p], a->w[2 * p + 1], out,
                     a->rank, a->in_channels, kk, dm);
    }
}

void loha_delta_backward(const lora_adapter *a, const float *g, int out, size_t cols, float *work)
{
    size_t n = (size_t)out * cols;
    if (a->tucker) {
        loha_tucker_backward(a, g, out, cols, work);
        return;
    }
    /* d(P1 ⊙ P2)/dP1 = g ⊙ P2, and the other way round */
    product(work, a->w[2], a->w[3], out, a->rank, cols);
    for (size_t j = 0; j < n; j++)
        work[j] *= g[j];
    product_backward(a->dw[0], a->dw[1], work, a->w[0], a->w[1], out, a->rank, cols);
    product(work, a->w[0], a->w[1], out, a->rank, cols);
    for (size_t j = 0; j < n; j++)
        work[j] *= g[j];
    product_backward(a->dw[2], a->dw[3], work, a->w[2], a->w[3], out, a->rank, cols);
}
