/* backend.c — memory helpers for the two kernel backends (see backend.h). The CUDA branch
 * is compiled only when configure found CUDA, so CPU-only builds have no CUDA reference.
 * HAVE_CUDA comes from kernels/local.mk (-DHAVE_CUDA): "config.h" would resolve to
 * src/config.h, which shadows autoconf's header on the include path. */
#include "kernels/backend.h"

#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

const char *k_backend_name(k_backend b)
{
    return b == K_CUDA ? "cuda" : "cpu";
}

bool k_backend_available(k_backend b)
{
    if (b == K_CPU)
        return true;
#ifdef HAVE_CUDA
    if (b == K_CUDA)
        return kc_available() != 0;
#endif
    return false;
}

void *k_alloc(k_backend b, size_t bytes)
{
    if (bytes == 0)
        return NULL;
    if (b == K_CPU) {
        size_t rounded = (bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple of the alignment */
        if (rounded < bytes)
            return NULL;
        return aligned_alloc(64, rounded);
    }
#ifdef HAVE_CUDA
    if (b == K_CUDA)
        return kc_alloc(bytes);
#endif
    return NULL;
}

void k_free(k_backend b, void *p)
{
    if (!p)
        return;
    if (b == K_CPU) {
        free(p);
        return;
    }
#ifdef HAVE_CUDA
    if (b == K_CUDA)
        kc_free(p);
#endif
}

int k_zero(k_backend b, void *p, size_t bytes)
{
    if (bytes == 0)
        return 0;
    if (!p)
        return -1;
    if (b == K_CPU) {
        memset(p, 0, bytes);
        return 0;
    }
#ifdef HAVE_CUDA
    if (b == K_CUDA)
        return kc_zero(p, bytes) == 0 ? 0 : -1;
#endif
    return -1;
}

int k_copy(k_backend dst_b, void *dst, k_backend src_b, const void *src, size_t bytes)
{
    if (bytes == 0)
        return 0;
    if (!dst || !src)
        return -1;
    if (dst_b == K_CPU && src_b == K_CPU) {
        memcpy(dst, src, bytes);
        return 0;
    }
#ifdef HAVE_CUDA
    if ((dst_b == K_CPU || dst_b == K_CUDA) && (src_b == K_CPU || src_b == K_CUDA))
        return kc_copy(dst, dst_b == K_CUDA, src, src_b == K_CUDA, bytes) == 0 ? 0 : -1;
#endif
    return -1;
}
