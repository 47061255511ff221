/* test_backend.c — the backend memory helpers: CPU is always available and CUDA only when
 * built; k_alloc aligns to 64 bytes; k_zero and k_copy work on the CPU and refuse an
 * unavailable backend instead of crashing. */
#include "kernels/kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    int fails = 0;
    fails += !k_backend_available(K_CPU);
#ifndef HAVE_CUDA
    fails += k_backend_available(K_CUDA);
    fails += k_alloc(K_CUDA, 64) != NULL;
    float one = 1.0f, dst = 0.0f;
    fails += k_copy(K_CUDA, &dst, K_CPU, &one, sizeof one) != -1;
#endif
    fails += strcmp(k_backend_name(K_CPU), "cpu") != 0 || strcmp(k_backend_name(K_CUDA), "cuda") != 0;
    fails += k_alloc(K_CPU, 0) != NULL;

    float *a = k_alloc(K_CPU, 13 * sizeof(float)), *b = k_alloc(K_CPU, 13 * sizeof(float));
    if (!a || !b)
        return 1;
    fails += ((uintptr_t)a % 64) != 0 || ((uintptr_t)b % 64) != 0;
    for (int i = 0; i < 13; i++)
        a[i] = (float)i + 0.5f;
    fails += k_copy(K_CPU, b, K_CPU, a, 13 * sizeof(float)) != 0;
    fails += memcmp(a, b, 13 * sizeof(float)) != 0;
    fails += k_zero(K_CPU, b, 13 * sizeof(float)) != 0;
    for (int i = 0; i < 13; i++)
        fails += b[i] != 0.0f;
    k_free(K_CPU, a);
    k_free(K_CPU, b);
    k_free(K_CPU, NULL);
    printf("backend helpers: %s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
