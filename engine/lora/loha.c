/* loha.c — LyCORIS' LoHa: ΔW = scale · (w1a·w1b) ⊙ (w2a·w2b) and its gradients. */
#include "engine/lora/lycoris.h"

#include <cblas.h>
#include <string.h>

void loha_sizes(int out, size_t cols, int rank, size_t sizes[4])
{
    sizes[0] = sizes[2] = (size_t)out * rank;
    sizes[1] = sizes[3] = (size_t)rank * cols;
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

void loha_delta_build(const lora_adapter *a, float *dw, int out, size_t cols)
{
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

void loha_delta_backward(const lora_adapter *a, const float *g, int out, size_t cols, float *work)
{
    size_t n = (size_t)out * cols;
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
