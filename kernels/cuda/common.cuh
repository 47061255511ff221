/* common.cuh — what the CUDA sources share: error recording, launch checks, grid sizes,
 * block reductions and the library handles. Internal to kernels/cuda/ (C++/CUDA only). */
#ifndef LORATTY_KERNELS_CUDA_COMMON_CUH
#define LORATTY_KERNELS_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stddef.h>

#include "kernels/cuda/cuda_ops.h"

/* Records a message for kc_last_error() and returns -1, so `return kc_fail(...)` reads well. */
int kc_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A failed runtime call: records "<what>: <cuda error string>" and returns -1. */
int kc_fail_cuda(const char *what, cudaError_t e);

/* After a kernel launch: 0, or -1 with the launch error recorded. */
static inline int kc_launched(const char *kernel)
{
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : kc_fail_cuda(kernel, e);
}

#define KC_CHECK(call)                                                                   \
    do {                                                                                 \
        cudaError_t kc_e_ = (call);                                                      \
        if (kc_e_ != cudaSuccess)                                                        \
            return kc_fail_cuda(#call, kc_e_);                                           \
    } while (0)

/* Blocks for a grid-stride loop over n elements: enough to fill the device, never more
 * than the elements need (and never 0, which is an invalid launch). */
static inline unsigned kc_blocks(size_t n, int threads)
{
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    if (b > 65535u * 4u)
        b = 65535u * 4u;
    return b ? (unsigned)b : 1u;
}

/* Sum over a block (blockDim.x a multiple of 32, at most 1024) in a fixed order: warp
 * shuffles, then warp 0 adds the per-warp sums. Every thread gets the result. `buf` holds
 * 33 values of T in shared memory. Must be called by all threads of the block. */
template <typename T>
__device__ inline T kc_warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ inline float kc_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <typename T>
__device__ inline T kc_block_sum(T v, T *buf)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = kc_warp_sum(v);
    __syncthreads(); /* buf may still be read from a previous call */
    if (lane == 0)
        buf[warp] = v;
    __syncthreads();
    if (warp == 0) {
        T t = lane < nwarps ? buf[lane] : (T)0;
        t = kc_warp_sum(t);
        if (lane == 0)
            buf[32] = t;
    }
    __syncthreads();
    return buf[32];
}

/* out[c] += Σ_n Σ_hw x[n, c, hw] for x [N, C, HW]: bias gradients of convolutions and of
 * per-channel adds. One block per channel, fixed order (kernels/cuda/elementwise.cu). */
int kc_channel_sum(float *out, const float *x, int N, int C, int HW);

/* Library handles and the shared workspace, created on first use (kernels/cuda/backend.cu).
 * They return NULL / -1 with the error recorded. */
struct cublasLtContext;
typedef struct cublasLtContext *cublasLtHandle_t;
struct cudnnContext;
typedef struct cudnnContext *cudnnHandle_t;
cublasLtHandle_t kc_cublaslt(void);
cudnnHandle_t kc_cudnn(void);
/* The cuBLASLt workspace: fixed size, allocated once. */
void *kc_gemm_workspace(size_t *bytes);
/* The cuDNN workspace, grown to at least `bytes` (the old one is freed after a sync). */
void *kc_conv_workspace(size_t bytes);
/* The workspace cap when choosing convolution algorithms. */
#define KC_CONV_WORKSPACE_MAX ((size_t)1 << 30)

#endif
