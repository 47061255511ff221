/* backend.cu — device memory, error messages, library handles and workspaces of the CUDA
 * backend (the contract of kernels/backend.h; see cuda_backend.h). */
#include "kernels/cuda/common.cuh"

#include <cublasLt.h>
#include <cudnn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static thread_local char kc_error[512];
static int kc_avail = -1; /* -1: not asked yet */
static int kc_tf32 = 0;
static cublasLtHandle_t kc_lt = NULL;
static cudnnHandle_t kc_dnn = NULL;
static void *kc_gemm_ws = NULL;
static void *kc_conv_ws = NULL;
static size_t kc_conv_ws_bytes = 0;

/* 32 MiB: what cuBLASLt's Hopper kernels want; plenty for Ampere and Ada. */
#define KC_GEMM_WORKSPACE ((size_t)32 << 20)

int kc_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kc_error, sizeof kc_error, fmt, ap);
    va_end(ap);
    return -1;
}

int kc_fail_cuda(const char *what, cudaError_t e)
{
    return kc_fail("%s: %s", what, cudaGetErrorString(e));
}

extern "C" const char *kc_last_error(void)
{
    return kc_error;
}

extern "C" int kc_available(void)
{
    if (kc_avail >= 0)
        return kc_avail;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        kc_fail("no CUDA device: %s", cudaGetErrorString(e));
        cudaGetLastError(); /* reset the runtime's last-error state for later calls */
        kc_avail = 0;
    } else if (n == 0) {
        kc_fail("no CUDA device: cudaGetDeviceCount found none");
        kc_avail = 0;
    } else {
        kc_avail = 1;
    }
    return kc_avail;
}

extern "C" void *kc_alloc(size_t bytes)
{
    if (bytes == 0 || !kc_available())
        return NULL;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        kc_fail("cudaMalloc(%zu bytes): %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

extern "C" void kc_free(void *p)
{
    if (p)
        cudaFree(p);
}

extern "C" int kc_copy(void *dst, int dst_on_device, const void *src, int src_on_device,
                       size_t bytes)
{
    if (bytes == 0)
        return 0;
    if (!dst || !src)
        return kc_fail("kc_copy: NULL pointer");
    if (!kc_available())
        return -1;
    cudaMemcpyKind kind = dst_on_device ? (src_on_device ? cudaMemcpyDeviceToDevice
                                                         : cudaMemcpyHostToDevice)
                                        : (src_on_device ? cudaMemcpyDeviceToHost
                                                         : cudaMemcpyHostToHost);
    KC_CHECK(cudaMemcpy(dst, src, bytes, kind));
    if (dst_on_device && src_on_device)
        KC_CHECK(cudaDeviceSynchronize()); /* device-to-device cudaMemcpy may return early */
    return 0;
}

extern "C" int kc_zero(void *p, size_t bytes)
{
    if (bytes == 0)
        return 0;
    if (!p)
        return kc_fail("kc_zero: NULL pointer");
    if (!kc_available())
        return -1;
    KC_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
    return 0;
}

extern "C" int kc_synchronize(void)
{
    if (!kc_available())
        return -1;
    KC_CHECK(cudaDeviceSynchronize());
    return 0;
}

extern "C" int kc_device_info(char *name, size_t name_size, size_t *total_bytes)
{
    if (!kc_available())
        return -1;
    cudaDeviceProp prop;
    KC_CHECK(cudaGetDeviceProperties(&prop, 0));
    if (name && name_size)
        snprintf(name, name_size, "%s", prop.name);
    if (total_bytes)
        *total_bytes = prop.totalGlobalMem;
    return 0;
}

extern "C" void kc_set_allow_tf32(int allow)
{
    kc_tf32 = allow != 0;
}

extern "C" int kc_get_allow_tf32(void)
{
    return kc_tf32;
}

cublasLtHandle_t kc_cublaslt(void)
{
    if (kc_lt)
        return kc_lt;
    if (!kc_available())
        return NULL;
    cublasStatus_t st = cublasLtCreate(&kc_lt);
    if (st != CUBLAS_STATUS_SUCCESS) {
        kc_fail("cublasLtCreate: status %d", (int)st);
        kc_lt = NULL;
    }
    return kc_lt;
}

cudnnHandle_t kc_cudnn(void)
{
    if (kc_dnn)
        return kc_dnn;
    if (!kc_available())
        return NULL;
    cudnnStatus_t st = cudnnCreate(&kc_dnn);
    if (st != CUDNN_STATUS_SUCCESS) {
        kc_fail("cudnnCreate: %s", cudnnGetErrorString(st));
        kc_dnn = NULL;
    }
    return kc_dnn;
}

void *kc_gemm_workspace(size_t *bytes)
{
    if (!kc_gemm_ws) {
        cudaError_t e = cudaMalloc(&kc_gemm_ws, KC_GEMM_WORKSPACE);
        if (e != cudaSuccess) {
            kc_fail_cuda("cuBLASLt workspace", e);
            kc_gemm_ws = NULL;
            *bytes = 0;
            return NULL;
        }
    }
    *bytes = KC_GEMM_WORKSPACE;
    return kc_gemm_ws;
}

void *kc_conv_workspace(size_t bytes)
{
    if (bytes <= kc_conv_ws_bytes)
        return kc_conv_ws;
    if (kc_conv_ws) {
        cudaDeviceSynchronize(); /* queued convolutions may still read the old one */
        cudaFree(kc_conv_ws);
        kc_conv_ws = NULL;
        kc_conv_ws_bytes = 0;
    }
    cudaError_t e = cudaMalloc(&kc_conv_ws, bytes);
    if (e != cudaSuccess) {
        kc_fail("cuDNN workspace of %zu bytes: %s", bytes, cudaGetErrorString(e));
        kc_conv_ws = NULL;
        return NULL;
    }
    kc_conv_ws_bytes = bytes;
    return kc_conv_ws;
}

void kc_conv_cache_clear(void); /* conv2d.cu */

extern "C" void kc_shutdown(void)
{
    if (kc_avail != 1)
        return;
    cudaDeviceSynchronize();
    kc_conv_cache_clear();
    if (kc_lt)
        cublasLtDestroy(kc_lt);
    if (kc_dnn)
        cudnnDestroy(kc_dnn);
    cudaFree(kc_gemm_ws);
    cudaFree(kc_conv_ws);
    kc_lt = NULL;
    kc_dnn = NULL;
    kc_gemm_ws = kc_conv_ws = NULL;
    kc_conv_ws_bytes = 0;
}
