/* lokr.c — LyCORIS' LoKr: ΔW = scale · kron(W1, W2), W1 and W2 either full or low-rank
 * products (W2 of a k×k convolution with use_tucker: a Tucker product of lokr_t2, lokr_w2_a
 * and lokr_w2_b, tucker.c), with LyCORIS' factorization of the layer's dimensions and its
 * gradients. */
#include "engine/lora/lycoris.h"

#include <string.h>

void lokr_factorization(int dimension, int factor, int *m_out, int *n_out)
{
    if (factor > 0 && dimension % factor == 0) {
        int m = factor, n = dimension / factor;
        *m_out = m < n ? m : n;
        *n_out = m < n ? n : m;
        return;
    }
    if (factor < 0)
        factor = dimension;
    int m = 1, n = dimension;
    /* grow m through the divisors while m + n shrinks and m stays within the factor */
    while (m < n) {
        int nm = m + 1;
        while (dimension % nm != 0)
            nm++;
        int nn = dimension / nm;
        if (nm + nn > m + n || nm > factor)
            break;
        m = nm, n = nn;
    }
    *m_out = m < n ? m : n;
    *n_out = m < n ? n : m;
}

void lokr_shapes(lora_adapter *a, int out, int in, int kernel, int rank, int factor,
                 int decompose_both, int use_tucker, size_t sizes[LORA_MAX_FACTORS])
{
    int in_m, in_n, out_l, out_k;
    lokr_factorization(in, factor, &in_m, &in_n);
    lokr_factorization(out, factor, &out_l, &out_k);
    a->ka = out_l, a->kc = in_m, a->kb = out_k, a->kd = in_n * kernel * kernel;
    int big1 = out_l > in_m ? out_l : in_m, big2 = out_k > in_n ? out_k : in_n;
    a->w1_rank = decompose_both && 2 * rank < big1 ? rank : 0;
    a->w2_rank = 2 * rank < big2 ? rank : 0;
    sizes[0] = a->w1_rank ? (size_t)a->ka * a->w1_rank : (size_t)a->ka * a->kc;
    sizes[1] = a->w1_rank ? (size_t)a->w1_rank * a->kc : 0;
    sizes[2] = a->w2_rank ? (size_t)a->kb * a->w2_rank : (size_t)a->kb * a->kd;
    sizes[3] = a->w2_rank ? (size_t)a->w2_rank * a->kd : 0;
    /* LyCORIS: lokr_t2 [r, r, k, k], lokr_w2_a [r, b], lokr_w2_b [r, d] */
    a->tucker = use_tucker && kernel > 1 && a->w2_rank;
    sizes[4] = a->tucker ? (size_t)rank * rank * kernel * kernel : 0;
    sizes[5] = 0;
    if (a->tucker)
        sizes[3] = (size_t)rank * in_n;
}

/* c [m, n] = a [m, r] · b [r, n] */
static void product(float *c, const float *a, const float *b, int m, int r, int n)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            for (int k = 0; k < r; k++)
                s += a[(size_t)i * r + k] * b[(size_t)k * n + j];
            c[(size_t)i * n + j] = s;
        }
}

static void product_backward(float *da, float *db, const float *t, const float *a, const float *b, int m,
                             int r, int n)
{
    for (int i = 0; i < m; i++)
        for (int k = 0; k < r; k++)
            for (int j = 0; j < n; j++) {
                float tv = t[(size_t)i * n + j];
                if (da)
                    da[(size_t)i * r + k] += tv * b[(size_t)k * n + j];
                if (db)
                    db[(size_t)k * n + j] += a[(size_t)i * r + k] * tv;
            }
}

/* W1 and W2 as full matrices: from the factors, or the parameters themselves. */
static const float *w1_of(const lora_adapter *a, float *buf)
{
    if (!a->w1_rank)
        return a->w[0];
    product(buf, a->w[0], a->w[1], a->ka, a->w1_rank, a->kc);
    return buf;
}

/* kernel positions of a Tucker W2 (kd = d · KK): kc · kd = in_channels · KK */
static int tucker_kk(const lora_adapter *a)
{
    return (int)((size_t)a->kc * a->kd / (size_t)a->in_channels);
}

static const float *w2_of(const lora_adapter *a, float *buf, float *m)
{
    if (!a->w2_rank)
        return a->w[2];
    if (a->tucker) {   /* W2 [kb, d · KK] = Tucker(t2, w2_a [r, kb], w2_b [r, d]) */
        int kk = tucker_kk(a);
        tucker_core_in(m, a->w[4], a->w[3], a->w2_rank, a->kd / kk, kk);
        tucker_expand(buf, m, a->w[2], 0, a->kb, a->w2_rank, (size_t)a->kd);
        return buf;
    }
    product(buf, a->w[2], a->w[3], a->kb, a->w2_rank, a->kd);
    return buf;
}

/* W1, W2, their gradients; with Tucker M and dM [r, kd] too */
size_t lokr_work_floats(const lora_adapter *a)
{
    return 2 * ((size_t)a->ka * a->kc + (size_t)a->kb * a->kd) +
           (a->tucker ? 2 * (size_t)a->w2_rank * a->kd : 0);
}

void lokr_delta_build(const lora_adapter *a, float *dw, int out, size_t cols, float *work)
{
    (void)out;
    /* Tucker W2 formed in work first; otherwise W1's and W2's elements come from the factors
     * directly */
    const float *W2 = a->tucker ? w2_of(a, work, work + (size_t)a->kb * a->kd) : NULL;
    for (int i = 0; i < a->ka; i++)
        for (int p = 0; p < a->kc; p++) {
            float v1;
            if (a->w1_rank) {
                v1 = 0.0f;
                for (int k = 0; k < a->w1_rank; k++)
                    v1 += a->w[0][(size_t)i * a->w1_rank + k] * a->w[1][(size_t)k * a->kc + p];
            } else
                v1 = a->w[0][(size_t)i * a->kc + p];
            for (int j = 0; j < a->kb; j++) {
                float *row = dw + ((size_t)i * a->kb + j) * cols + (size_t)p * a->kd;
                if (W2) {
                    for (int q = 0; q < a->kd; q++)
                        row[q] = v1 * W2[(size_t)j * a->kd + q];
                } else if (a->w2_rank) {
                    for (int q = 0; q < a->kd; q++) {
                        float v2 = 0.0f;
                        for (int k = 0; k < a->w2_rank; k++)
                            v2 += a->w[2][(size_t)j * a->w2_rank + k] * a->w[3][(size_t)k * a->kd + q];
                        row[q] = v1 * v2;
                    }
                } else
                    for (int q = 0; q < a->kd; q++)
                        row[q] = v1 * a->w[2][(size_t)j * a->kd + q];
            }
        }
}

void lokr_delta_backward(const lora_adapter *a, const float *g, int out, size_t cols, float *work)
{
    (void)out;
    size_t n1 = (size_t)a->ka * a->kc, n2 = (size_t)a->kb * a->kd;
    float *w1buf = work, *w2buf = work + n1, *d1 = work + n1 + n2, *d2 = d1 + n1;
    float *m = d2 + n2, *dm = m + (size_t)a->w2_rank * a->kd;   /* Tucker only */
    const float *W1 = w1_of(a, w1buf), *W2 = w2_of(a, w2buf, m);
    memset(d1, 0, (n1 + n2) * sizeof *d1);
    for (int i = 0; i < a->ka; i++)
        for (int j = 0; j < a->kb; j++)
            for (int p = 0; p < a->kc; p++) {
                const float *grow = g + ((size_t)i * a->kb + j) * cols + (size_t)p * a->kd;
                float w1 = W1[(size_t)i * a->kc + p], s = 0.0f;
                for (int q = 0; q < a->kd; q++) {
                    s += grow[q] * W2[(size_t)j * a->kd + q];
                    d2[(size_t)j * a->kd + q] += grow[q] * w1;
                }
                d1[(size_t)i * a->kc + p] += s;
            }
    if (a->w1_rank)
        product_backward(a->dw[0], a->dw[1], d1, a->w[0], a->w[1], a->ka, a->w1_rank, a->kc);
    else if (a->dw[0])
        for (size_t k = 0; k < n1; k++)
            a->dw[0][k] += d1[k];
    if (a->tucker) {   /* m still holds t2 ×_b w2_b from w2_of */
        int kk = tucker_kk(a);
        tucker_du(a->dw[2], m, d2, 0, a->kb, a->w2_rank, (size_t)a->kd);
        tucker_dcore(a->dw[4], a->dw[3], d2, a->w[2], 0, a->w[4], a->w[3], a->kb, a->w2_rank, a->kd / kk, kk,
                     dm);
    } else if (a->w2_rank)
        product_backward(a->dw[2], a->dw[3], d2, a->w[2], a->w[3], a->kb, a->w2_rank, a->kd);
    else if (a->dw[2])
        for (size_t k = 0; k < n2; k++)
            a->dw[2][k] += d2[k];
}
