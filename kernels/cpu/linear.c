/* linear.c — fully connected layer on the CPU, as torch.nn.Linear: out = inp · Wᵀ + b.
 * All three products go to OpenBLAS sgemm. The bias fill and the bias gradient (a column sum,
 * row by row in a fixed order) are serial on purpose: they are memory-bound and cheap, and an
 * OpenMP region next to a (pthread) OpenBLAS call leaves OpenMP workers spinning on the cores
 * the sgemm needs, which more than halved linear throughput on 2 cores. */
#include "kernels/ops_dense.h"

#include <cblas.h>

void k_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int N, int C_in, int C_out)
{
    if (bias) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < C_out; o++)
                out[(size_t)n * C_out + o] = bias[o];
    }
    /* out[N, C_out] = inp[N, C_in] · weight[C_out, C_in]ᵀ (+ out when a bias was put there) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, C_out, C_in, 1.0f, inp, C_in,
                weight, C_in, bias ? 1.0f : 0.0f, out, C_out);
}

void k_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int N, int C_in, int C_out)
{
    /* dinp[N, C_in] += dout[N, C_out] · weight[C_out, C_in] */
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C_in, C_out, 1.0f, dout,
                    C_out, weight, C_in, 1.0f, dinp, C_in);
    /* dweight[C_out, C_in] += dout[N, C_out]ᵀ · inp[N, C_in] */
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C_out, C_in, N, 1.0f, dout, C_out,
                    inp, C_in, 1.0f, dweight, C_in);
    if (dbias) {
        for (int n = 0; n < N; n++) {
            const float *g = dout + (size_t)n * C_out;
            for (int o = 0; o < C_out; o++)
                dbias[o] += g[o];
        }
    }
}
