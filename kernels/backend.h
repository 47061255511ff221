/* backend.h — where tensors live and how bytes move between backends.
 *
 * The engine calls the k_* ops and these helpers only; it never includes CUDA headers.
 * K_CPU is always built. K_CUDA exists when configure found CUDA (config.h HAVE_CUDA);
 * then kernels/backend.c forwards to the functions declared in kernels/cuda/cuda_backend.h,
 * which must provide:
 *     int   kc_available(void);                       1 when a device can be used
 *     void *kc_alloc(size_t bytes);                   device memory, NULL on failure
 *     void  kc_free(void *p);                         accepts NULL
 *     int   kc_copy(void *dst, int dst_on_device,
 *                   const void *src, int src_on_device, size_t bytes);   0 on success
 *     int   kc_zero(void *p, size_t bytes);           0 on success
 */
#ifndef LORATTY_KERNELS_BACKEND_H
#define LORATTY_KERNELS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

typedef enum k_backend { K_CPU = 0, K_CUDA = 1 } k_backend;

/* "cpu" / "cuda". */
const char *k_backend_name(k_backend b);

/* True when the backend was built and (for CUDA) a device answers. K_CPU is always true. */
bool k_backend_available(k_backend b);

/* Memory on a backend. CPU memory is 64-byte aligned (SIMD- and cache-line-friendly).
 * Returns NULL when the backend is unavailable or memory is short; bytes == 0 gives NULL. */
void *k_alloc(k_backend b, size_t bytes);
void k_free(k_backend b, void *p);

/* Sets bytes to zero (gradient buffers before a backward pass). 0 on success, -1 otherwise. */
int k_zero(k_backend b, void *p, size_t bytes);

/* Copies bytes from src (on src_b) to dst (on dst_b); the regions must not overlap.
 * 0 on success, -1 when a backend is unavailable or the copy failed. */
int k_copy(k_backend dst_b, void *dst, k_backend src_b, const void *src, size_t bytes);

#endif
