/* reduce.c — sum and mean reductions on the CPU (the scalar losses and per-sample means).
 * The input is cut into at most RD_CHUNKS chunks whose size depends only on n; chunks are
 * summed in double in parallel and the partial sums added in chunk order, so the result is
 * bit-identical for any number of threads. */
#include "kernels/ops_dense.h"

#define RD_CHUNKS 64
#define RD_MIN_CHUNK 4096

static double reduce_sum(const float *x, size_t n)
{
    size_t chunk = (n + RD_CHUNKS - 1) / RD_CHUNKS;
    if (chunk < RD_MIN_CHUNK)
        chunk = RD_MIN_CHUNK;
    const int nchunks = (int)((n + chunk - 1) / chunk);
    double part[RD_CHUNKS];
    #pragma omp parallel for if (nchunks > 1)
    for (int k = 0; k < nchunks; k++) {
        size_t lo = (size_t)k * chunk, hi = lo + chunk < n ? lo + chunk : n;
        double s = 0.0;
        for (size_t i = lo; i < hi; i++)
            s += x[i];
        part[k] = s;
    }
    double s = 0.0;
    for (int k = 0; k < nchunks; k++)
        s += part[k];
    return s;
}

static void reduce_broadcast_add(float *dinp, float v, size_t n)
{
    #pragma omp parallel for if (n > 65536)
    for (size_t i = 0; i < n; i++)
        dinp[i] += v;
}

void k_sum_forward(float *out, const float *inp, size_t n)
{
    out[0] = (float)reduce_sum(inp, n);
}

void k_sum_backward(float *dinp, const float *dout, size_t n)
{
    reduce_broadcast_add(dinp, dout[0], n);
}

void k_mean_forward(float *out, const float *inp, size_t n)
{
    out[0] = n ? (float)(reduce_sum(inp, n) / (double)n) : 0.0f;
}

void k_mean_backward(float *dinp, const float *dout, size_t n)
{
    if (n)
        reduce_broadcast_add(dinp, (float)(dout[0] / (double)n), n);
}

void k_mean_per_sample_forward(float *out, const float *inp, int N, size_t M)
{
    for (int s = 0; s < N; s++)
        out[s] = M ? (float)(reduce_sum(inp + (size_t)s * M, M) / (double)M) : 0.0f;
}

void k_mean_per_sample_backward(float *dinp, const float *dout, int N, size_t M)
{
    if (!M)
        return;
    for (int s = 0; s < N; s++)
        reduce_broadcast_add(dinp + (size_t)s * M, (float)(dout[s] / (double)M), M);
}
