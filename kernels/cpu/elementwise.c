/* elementwise.c — elementwise arithmetic on the CPU: add, mul, scale, scaled add (residuals)
 * and the per-channel broadcast add that injects the time embedding into ResNet blocks.
 * Forwards read element i before writing it, so out may alias an input. */
#include "kernels/ops_dense.h"

#define EW_PAR_MIN 65536 /* memory-bound: threads only pay off on large tensors */

void k_add_forward(float *out, const float *a, const float *b, size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void k_add_backward(float *da, float *db, const float *dout, size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        if (da)
            da[i] += dout[i];
        if (db)
            db[i] += dout[i];
    }
}

void k_mul_forward(float *out, const float *a, const float *b, size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] * b[i];
}

void k_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                    size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        if (da)
            da[i] += dout[i] * b[i];
        if (db)
            db[i] += dout[i] * a[i];
    }
}

void k_scale_forward(float *out, const float *inp, float s, size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = s * inp[i];
}

void k_scale_backward(float *dinp, const float *dout, float s, size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += s * dout[i];
}

void k_add_scaled_forward(float *out, const float *a, const float *b, float alpha, float beta,
                          size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = alpha * a[i] + beta * b[i];
}

void k_add_scaled_backward(float *da, float *db, const float *dout, float alpha, float beta,
                           size_t n)
{
    #pragma omp parallel for if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        if (da)
            da[i] += alpha * dout[i];
        if (db)
            db[i] += beta * dout[i];
    }
}

void k_add_channel_forward(float *out, const float *inp, const float *e, int N, int C, int HW)
{
    #pragma omp parallel for if ((size_t)N * C * HW > EW_PAR_MIN)
    for (int nc = 0; nc < N * C; nc++) {
        const float *x = inp + (size_t)nc * HW;
        float *y = out + (size_t)nc * HW;
        const float v = e[nc];
        for (int i = 0; i < HW; i++)
            y[i] = x[i] + v;
    }
}

void k_add_channel_backward(float *dinp, float *de, const float *dout, int N, int C, int HW)
{
    #pragma omp parallel for if ((size_t)N * C * HW > EW_PAR_MIN)
    for (int nc = 0; nc < N * C; nc++) {
        const float *g = dout + (size_t)nc * HW;
        if (dinp) {
            float *dx = dinp + (size_t)nc * HW;
            for (int i = 0; i < HW; i++)
                dx[i] += g[i];
        }
        if (de) {
            double s = 0.0;
            for (int i = 0; i < HW; i++)
                s += g[i];
            de[nc] += (float)s;
        }
    }
}
