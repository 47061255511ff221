/* resample.c — nearest 2× upsampling (the U-Net and VAE decoders' Upsample2D before its
 * conv) and channel concatenation (skip connections into the up blocks), NCHW, on the CPU.
 * The upsample backward sums each 2×2 output block into its source pixel. */
#include "kernels/ops_dense.h"

#include <string.h>

#define RS_PAR_MIN 65536

void k_upsample2x_forward(float *out, const float *inp, int N, int C, int H, int W)
{
    const int W2 = 2 * W;
    #pragma omp parallel for if ((size_t)N * C * H * W > RS_PAR_MIN / 4)
    for (int nc = 0; nc < N * C; nc++) {
        const float *x = inp + (size_t)nc * H * W;
        float *y = out + (size_t)nc * 4 * H * W;
        for (int h = 0; h < H; h++) {
            float *r0 = y + (size_t)(2 * h) * W2;
            for (int w = 0; w < W; w++)
                r0[2 * w] = r0[2 * w + 1] = x[(size_t)h * W + w];
            memcpy(r0 + W2, r0, sizeof(float) * W2);
        }
    }
}

void k_upsample2x_backward(float *dinp, const float *dout, int N, int C, int H, int W)
{
    const int W2 = 2 * W;
    #pragma omp parallel for if ((size_t)N * C * H * W > RS_PAR_MIN / 4)
    for (int nc = 0; nc < N * C; nc++) {
        float *dx = dinp + (size_t)nc * H * W;
        const float *g = dout + (size_t)nc * 4 * H * W;
        for (int h = 0; h < H; h++) {
            const float *r0 = g + (size_t)(2 * h) * W2, *r1 = r0 + W2;
            for (int w = 0; w < W; w++)
                dx[(size_t)h * W + w] += (r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]);
        }
    }
}

void k_concat_forward(float *out, const float *a, const float *b, int N, int Ca, int Cb,
                      int HW)
{
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int n = 0; n < N; n++) {
        memcpy(out + (size_t)n * (na + nb), a + (size_t)n * na, sizeof(float) * na);
        memcpy(out + (size_t)n * (na + nb) + na, b + (size_t)n * nb, sizeof(float) * nb);
    }
}

void k_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb, int HW)
{
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    #pragma omp parallel for if ((size_t)N * (na + nb) > RS_PAR_MIN)
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * (na + nb);
        if (da) {
            float *d = da + (size_t)n * na;
            for (size_t i = 0; i < na; i++)
                d[i] += g[i];
        }
        if (db) {
            float *d = db + (size_t)n * nb;
            for (size_t i = 0; i < nb; i++)
                d[i] += g[na + i];
        }
    }
}
