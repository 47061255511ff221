/* loss.cu — the per-sample-weighted training losses (l2, l1, huber, smooth_l1) on the GPU, as
 * k_loss_* in kernels/cpu/loss.c (formulas in kernels/ops_loss.h): per-element f32 terms,
 * each sample's mean in double × its weight, the mean of those over the batch.
 *
 * The forward is one kernel of one block: for each sample in turn the block sums its terms in
 * double (per-thread strides, then kc_block_sum), and thread 0 adds the samples up in order,
 * so the loss is deterministic and needs no scratch buffer. Its summation order is not the
 * CPU's, but in double that changes the f32 results by at most an ulp. One block reads a
 * batch of SDXL latents (4 · 4·128·128 floats per tensor) in a few tens of microseconds,
 * once per step: not worth a second pass. The backward is elementwise.
 * An unknown loss type is an error here (the CPU op has no way to report one). */
#include "kernels/cuda/common.cuh"
#include "kernels/ops_loss.h"

#include <math.h>

#define LOSS_FWD_THREADS 512
#define LOSS_BWD_THREADS 256

__device__ static float loss_elem(k_loss_type type, float d, float c)
{
    switch (type) {
    case K_LOSS_L2: return d * d;
    case K_LOSS_L1: return fabsf(d);
    case K_LOSS_HUBER: return 2.0f * c * (sqrtf(d * d + c * c) - c);
    case K_LOSS_SMOOTH_L1: return 2.0f * (sqrtf(d * d + c * c) - c);
    }
    return 0.0f;
}

__device__ static float loss_deriv(k_loss_type type, float d, float c)
{
    switch (type) {
    case K_LOSS_L2: return 2.0f * d;
    case K_LOSS_L1: return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
    case K_LOSS_HUBER:
    case K_LOSS_SMOOTH_L1: {
        const float r = sqrtf(d * d + c * c); /* 0 only at d = c = 0, where the slope is 0 */
        return r > 0.0f ? (type == K_LOSS_HUBER ? 2.0f * c : 2.0f) * d / r : 0.0f;
    }
    }
    return 0.0f;
}

__global__ static void loss_forward_kernel(float *loss, float *per_sample, const float *pred,
                                           const float *target, const float *weight,
                                           const float *c, k_loss_type type, int N, size_t M)
{
    __shared__ double buf[33];
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        const float *p = pred + (size_t)n * M, *t = target + (size_t)n * M;
        const float cn = c ? c[n] : 0.0f;
        double s = 0.0;
        for (size_t i = threadIdx.x; i < M; i += blockDim.x)
            s += loss_elem(type, p[i] - t[i], cn);
        s = kc_block_sum(s, buf);
        const double ln = (M ? s / (double)M : 0.0) * (weight ? weight[n] : 1.0);
        if (threadIdx.x == 0 && per_sample)
            per_sample[n] = (float)ln;
        total += ln;
    }
    if (threadIdx.x == 0)
        loss[0] = N > 0 ? (float)(total / N) : 0.0f;
}

__global__ static void loss_backward_kernel(float *dpred, const float *dloss, const float *pred,
                                            const float *target, const float *weight,
                                            const float *c, k_loss_type type, int N, size_t M)
{
    const size_t n_all = (size_t)N * M;
    const double dl = dloss[0];
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_all;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t n = i / M;
        const float cn = c ? c[n] : 0.0f;
        /* d loss / d f(d_i) = dloss · w_n / (N · M), rounded to f32 as on the CPU */
        const float k = (float)(dl * (weight ? weight[n] : 1.0) / ((double)N * M));
        dpred[i] += k * loss_deriv(type, pred[i] - target[i], cn);
    }
}

static int loss_type_ok(k_loss_type type)
{
    if ((unsigned)type <= K_LOSS_SMOOTH_L1)
        return 0;
    return kc_fail("loss: unknown loss type %d", (int)type);
}

extern "C" int kc_loss_forward(float *loss, float *per_sample, const float *pred,
                               const float *target, const float *weight, const float *c,
                               k_loss_type type, int N, size_t M)
{
    if (loss_type_ok(type))
        return -1;
    loss_forward_kernel<<<1, LOSS_FWD_THREADS>>>(loss, per_sample, pred, target, weight, c, type,
                                                 N < 0 ? 0 : N, M);
    return kc_launched("loss_forward");
}

extern "C" int kc_loss_backward(float *dpred, const float *dloss, const float *pred,
                                const float *target, const float *weight, const float *c,
                                k_loss_type type, int N, size_t M)
{
    if (loss_type_ok(type))
        return -1;
    const size_t n = (size_t)(N < 0 ? 0 : N) * M;
    if (n == 0 || !dpred)
        return 0;
    loss_backward_kernel<<<kc_blocks(n, LOSS_BWD_THREADS), LOSS_BWD_THREADS>>>(
        dpred, dloss, pred, target, weight, c, type, N, M);
    return kc_launched("loss_backward");
}
