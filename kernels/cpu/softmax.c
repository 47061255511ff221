/* softmax.c — softmax over the last dimension on the CPU. The row maximum is subtracted
 * before exp so large logits do not overflow; rows run in parallel, each in a fixed order. */
#include "kernels/ops_attention.h"

#include <math.h>

#define SOFTMAX_PAR_MIN 32768

void k_softmax_forward(float *out, const float *inp, int N, int C)
{
    #pragma omp parallel for if ((long)N * C > SOFTMAX_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        float m = -INFINITY;
        for (int c = 0; c < C; c++)
            m = x[c] > m ? x[c] : m;
        float s = 0.0f;
        for (int c = 0; c < C; c++) {
            y[c] = expf(x[c] - m);
            s += y[c];
        }
        float inv = 1.0f / s;
        for (int c = 0; c < C; c++)
            y[c] *= inv;
    }
}

void k_softmax_backward(float *dinp, const float *dout, const float *out, int N, int C)
{
    #pragma omp parallel for if ((long)N * C > SOFTMAX_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *y = out + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float dot = 0.0f;
        for (int c = 0; c < C; c++)
            dot += dy[c] * y[c];
        for (int c = 0; c < C; c++)
            dx[c] += y[c] * (dy[c] - dot);
    }
}
