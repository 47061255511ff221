/* layernorm.c — layer normalisation over the last dimension (torch.nn.LayerNorm(C)) on the
 * CPU. Rows are independent: statistics in double with two passes, the closed-form backward
 *     dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)),  dx̂ = dout · weight,
 * parallel over rows; weight/bias gradients are column sums, parallel over blocks of
 * columns so each thread owns its outputs and the row order is fixed (deterministic). */
#include "kernels/ops_dense.h"

#include <math.h>

void k_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int N, int C, float eps)
{
    #pragma omp parallel for if ((size_t)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        double s = 0.0;
        for (int i = 0; i < C; i++)
            s += x[i];
        double m = s / C, v = 0.0;
        for (int i = 0; i < C; i++) {
            double t = x[i] - m;
            v += t * t;
        }
        float r = (float)(1.0 / sqrt(v / C + eps)), mf = (float)m;
        mean[n] = mf;
        rstd[n] = r;
        for (int i = 0; i < C; i++) {
            float xh = (x[i] - mf) * r;
            y[i] = xh * (weight ? weight[i] : 1.0f) + (bias ? bias[i] : 0.0f);
        }
    }
}

#define LN_COLS 64 /* columns per thread block in the weight/bias reduction */

void k_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight, const float *mean,
                          const float *rstd, int N, int C)
{
    if (dinp) {
        #pragma omp parallel for if ((size_t)N * C > 32768)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float *dx = dinp + (size_t)n * C;
            const float m = mean[n], r = rstd[n];
            double s1 = 0.0, s2 = 0.0;
            for (int i = 0; i < C; i++) {
                float dxh = g[i] * (weight ? weight[i] : 1.0f);
                s1 += dxh;
                s2 += dxh * ((x[i] - m) * r);
            }
            const float a = (float)(s1 / C), b = (float)(s2 / C);
            for (int i = 0; i < C; i++) {
                float dxh = g[i] * (weight ? weight[i] : 1.0f);
                dx[i] += r * (dxh - a - (x[i] - m) * r * b);
            }
        }
    }
    if (dweight || dbias) {
        const int blocks = (C + LN_COLS - 1) / LN_COLS;
        #pragma omp parallel for if ((size_t)N * C > 32768)
        for (int blk = 0; blk < blocks; blk++) {
            const int c0 = blk * LN_COLS, c1 = c0 + LN_COLS < C ? c0 + LN_COLS : C;
            double sw[LN_COLS] = { 0 }, sb[LN_COLS] = { 0 };
            for (int n = 0; n < N; n++) {
                const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
                const float m = mean[n], r = rstd[n];
                for (int c = c0; c < c1; c++) {
                    sw[c - c0] += g[c] * ((x[c] - m) * r);
                    sb[c - c0] += g[c];
                }
            }
            for (int c = c0; c < c1; c++) {
                if (dweight)
                    dweight[c] += (float)sw[c - c0];
                if (dbias)
                    dbias[c] += (float)sb[c - c0];
            }
        }
    }
}
