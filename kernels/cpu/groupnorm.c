/* groupnorm.c — group normalisation (torch.nn.GroupNorm) on the CPU, NCHW.
 *
 * Each (sample, group) block of M = (C/G)·HW contiguous values is normalised with its own
 * mean and biased variance; both are accumulated in double with two passes, which keeps
 * the variance accurate for the large, offset blocks of the U-Net (M up to 40·64·64).
 * Backward uses the standard closed form per block:
 *     dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)),  dx̂ = dout · weight[c].
 * Blocks are independent (parallel over N·G); weight/bias gradients are summed per channel
 * in a second parallel loop, so no two threads write the same value. */
#include "kernels/ops_dense.h"

#include <math.h>

void k_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                         const float *weight, const float *bias, int N, int C, int HW, int G,
                         float eps)
{
    const int Cg = C / G;
    const size_t M = (size_t)Cg * HW;
    #pragma omp parallel for if ((size_t)N * C * HW > 32768)
    for (int ng = 0; ng < N * G; ng++) {
        const float *x = inp + (size_t)ng * M;
        float *y = out + (size_t)ng * M;
        double s = 0.0;
        for (size_t i = 0; i < M; i++)
            s += x[i];
        double m = s / (double)M, v = 0.0;
        for (size_t i = 0; i < M; i++) {
            double t = x[i] - m;
            v += t * t;
        }
        float r = (float)(1.0 / sqrt(v / (double)M + eps));
        float mf = (float)m;
        mean[ng] = mf;
        rstd[ng] = r;
        int c0 = (ng % G) * Cg;
        for (int c = 0; c < Cg; c++) {
            float w = weight ? weight[c0 + c] : 1.0f, b = bias ? bias[c0 + c] : 0.0f;
            const float *xc = x + (size_t)c * HW;
            float *yc = y + (size_t)c * HW;
            for (int i = 0; i < HW; i++)
                yc[i] = (xc[i] - mf) * r * w + b;
        }
    }
}

void k_groupnorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                          const float *inp, const float *weight, const float *mean,
                          const float *rstd, int N, int C, int HW, int G)
{
    const int Cg = C / G;
    const size_t M = (size_t)Cg * HW;
    if (dinp) {
        #pragma omp parallel for if ((size_t)N * C * HW > 32768)
        for (int ng = 0; ng < N * G; ng++) {
            const float *x = inp + (size_t)ng * M, *g = dout + (size_t)ng * M;
            float *dx = dinp + (size_t)ng * M;
            const float m = mean[ng], r = rstd[ng];
            int c0 = (ng % G) * Cg;
            double s1 = 0.0, s2 = 0.0;
            for (int c = 0; c < Cg; c++) {
                float w = weight ? weight[c0 + c] : 1.0f;
                const float *xc = x + (size_t)c * HW, *gc = g + (size_t)c * HW;
                float t1 = 0.0f, t2 = 0.0f;
                for (int i = 0; i < HW; i++) {
                    float dxh = gc[i] * w;
                    t1 += dxh;
                    t2 += dxh * (xc[i] - m) * r;
                }
                s1 += t1;
                s2 += t2;
            }
            const float a = (float)(s1 / (double)M), b = (float)(s2 / (double)M);
            for (int c = 0; c < Cg; c++) {
                float w = weight ? weight[c0 + c] : 1.0f;
                const float *xc = x + (size_t)c * HW, *gc = g + (size_t)c * HW;
                float *dxc = dx + (size_t)c * HW;
                for (int i = 0; i < HW; i++) {
                    float xh = (xc[i] - m) * r;
                    dxc[i] += r * (gc[i] * w - a - xh * b);
                }
            }
        }
    }
    if (dweight || dbias) {
        #pragma omp parallel for if ((size_t)N * C * HW > 32768)
        for (int c = 0; c < C; c++) {
            double sw = 0.0, sb = 0.0;
            for (int n = 0; n < N; n++) {
                const int ng = n * G + c / Cg;
                const float *xc = inp + ((size_t)n * C + c) * HW;
                const float *gc = dout + ((size_t)n * C + c) * HW;
                const float m = mean[ng], r = rstd[ng];
                float tw = 0.0f, tb = 0.0f;
                for (int i = 0; i < HW; i++) {
                    tw += gc[i] * (xc[i] - m) * r;
                    tb += gc[i];
                }
                sw += tw;
                sb += tb;
            }
            if (dweight)
                dweight[c] += (float)sw;
            if (dbias)
                dbias[c] += (float)sb;
        }
    }
}
