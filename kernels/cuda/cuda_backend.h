/* cuda_backend.h — device memory, errors and global switches of the CUDA backend.
 *
 * Plain C (no CUDA headers), so kernels/backend.c and the tests can include it; only built
 * when configure found CUDA (HAVE_CUDA). The first five functions are the contract of
 * kernels/backend.h. Every kc_* function that can fail returns 0 on success and -1 on failure;
 * kc_last_error() then says why (the message of the calling thread's last failure).
 * All work goes to the legacy default stream, so kernels, cuBLASLt and cuDNN calls run in
 * issue order; kc_copy to the host waits for them. Launch errors are caught when launching;
 * errors inside a kernel surface at the next synchronising call (kc_copy, kc_synchronize).
 */
#ifndef LORATTY_KERNELS_CUDA_BACKEND_H
#define LORATTY_KERNELS_CUDA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when a CUDA device can be used (cudaGetDeviceCount > 0), 0 otherwise; the reason is in
 * kc_last_error() ("no CUDA device: ..."). The answer is computed once and cached. */
int kc_available(void);
/* Device memory (cudaMalloc: 256-byte aligned); NULL when bytes == 0, no device or short. */
void *kc_alloc(size_t bytes);
void kc_free(void *p);
/* Copies between host and device in any direction; waits until the copy is done. */
int kc_copy(void *dst, int dst_on_device, const void *src, int src_on_device, size_t bytes);
int kc_zero(void *p, size_t bytes);

/* The last error of this thread, "" when none. */
const char *kc_last_error(void);
/* Waits for all queued work; reports errors raised inside kernels. */
int kc_synchronize(void);
/* Name of device 0 and its memory, for the run plan ("NVIDIA H100 80GB HBM3, 79.1 GiB"). */
int kc_device_info(char *name, size_t name_size, size_t *total_bytes);

/* TF32 tensor cores for f32 GEMMs (cuBLASLt) and convolutions (cuDNN). Off by default, so
 * f32 results match the CPU reference; training may turn it on for speed (≈1e-3 relative). */
void kc_set_allow_tf32(int allow);
int kc_get_allow_tf32(void);

/* Releases the library handles and workspaces (they are created on first use). */
void kc_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif
