/* softmax.cu — softmax over the last dimension on the GPU, as k_softmax_* in
 * kernels/cpu/softmax.c: the row maximum is subtracted before expf, the backward is
 *     dinp += out ⊙ (dout − Σ_c dout·out).
 * One block per row; each thread walks the columns c ≡ threadIdx.x (mod blockDim.x), so a
 * thread reads and writes only its own elements (out may equal inp) and the row sums run in a
 * fixed order (per-thread strides, then kc_block_sum): deterministic, but summed in another
 * order than the CPU's left-to-right loop, so results agree to rounding, not bit for bit. */
#include "kernels/cuda/common.cuh"

#include <math.h>

#define SOFTMAX_THREADS 128

/* Maximum over a block, every thread gets it; buf holds 33 floats in shared memory. */
__device__ static float softmax_block_max(float v, float *buf)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = kc_warp_max(v);
    __syncthreads();
    if (lane == 0)
        buf[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < nwarps ? buf[lane] : -INFINITY;
        t = kc_warp_max(t);
        if (lane == 0)
            buf[32] = t;
    }
    __syncthreads();
    return buf[32];
}

__global__ static void softmax_forward_kernel(float *out, const float *inp, int C)
{
    __shared__ float buf[33];
    const float *x = inp + (size_t)blockIdx.x * C;
    float *y = out + (size_t)blockIdx.x * C;
    float m = -INFINITY;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        m = x[c] > m ? x[c] : m;
    m = softmax_block_max(m, buf);
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float e = expf(x[c] - m);
        y[c] = e;
        s += e;
    }
    s = kc_block_sum(s, buf);
    const float inv = 1.0f / s;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        y[c] *= inv;
}

__global__ static void softmax_backward_kernel(float *dinp, const float *dout, const float *out,
                                               int C)
{
    __shared__ float buf[33];
    const size_t row = (size_t)blockIdx.x * C;
    const float *dy = dout + row, *y = out + row;
    float *dx = dinp + row;
    float dot = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        dot += dy[c] * y[c];
    dot = kc_block_sum(dot, buf);
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        dx[c] += y[c] * (dy[c] - dot);
}

extern "C" int kc_softmax_forward(float *out, const float *inp, int N, int C)
{
    if (N <= 0 || C <= 0)
        return 0;
    softmax_forward_kernel<<<N, SOFTMAX_THREADS>>>(out, inp, C);
    return kc_launched("softmax_forward");
}

extern "C" int kc_softmax_backward(float *dinp, const float *dout, const float *out, int N, int C)
{
    if (N <= 0 || C <= 0 || !dinp)
        return 0;
    softmax_backward_kernel<<<N, SOFTMAX_THREADS>>>(dinp, dout, out, C);
    return kc_launched("softmax_backward");
}
