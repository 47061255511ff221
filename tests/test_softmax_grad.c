/* test_softmax_grad.c — softmax over the last dim: forward against double, stability with
 * logits of ±1000 (no overflow, rows sum to 1), in place, dinp against finite differences
 * for odd sizes and the OpenMP path, and accumulation into an existing gradient. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sm {
    int N, C;
    float *inp, *out, *proj;
} sm;

static double sm_loss(void *p)
{
    sm *s = p;
    k_softmax_forward(s->out, s->inp, s->N, s->C);
    return gc_dot(s->out, s->proj, (size_t)s->N * s->C);
}

static size_t check(int N, int C, uint64_t seed, size_t max_checks)
{
    size_t n = (size_t)N * C, fails = 0;
    sm s = { N, C, gc_zalloc(n), gc_zalloc(n), gc_zalloc(n) };
    gc_fill_uniform(s.inp, n, &seed, -3, 3);
    gc_fill_uniform(s.proj, n, &seed, -1, 1);
    k_softmax_forward(s.out, s.inp, N, C);
    float *want = gc_zalloc(n);
    for (int r = 0; r < N; r++) {
        double m = -INFINITY, z = 0;
        for (int c = 0; c < C; c++)
            m = fmax(m, s.inp[(size_t)r * C + c]);
        for (int c = 0; c < C; c++)
            z += exp(s.inp[(size_t)r * C + c] - m);
        for (int c = 0; c < C; c++)
            want[(size_t)r * C + c] = (float)(exp(s.inp[(size_t)r * C + c] - m) / z);
    }
    char name[96];
    snprintf(name, sizeof name, "softmax %dx%d forward", N, C);
    fails += gc_expect_close(name, s.out, want, n, 1e-7, 1e-5);

    float *d = gc_zalloc(n), *d2 = gc_zalloc(n);
    k_softmax_backward(d, s.proj, s.out, N, C);
    gc_opts o = gc_default_opts();
    o.max_checks = max_checks;
    snprintf(name, sizeof name, "softmax %dx%d dinp", N, C);
    fails += gc_check(name, sm_loss, &s, s.inp, d, n, &o);
    for (size_t i = 0; i < n; i++)
        d2[i] = 0.5f;
    k_softmax_forward(s.out, s.inp, N, C);
    k_softmax_backward(d2, s.proj, s.out, N, C);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += fabsf(d2[i] - (0.5f + d[i])) > 1e-6f;
    printf("%-40s %s\n", "  accumulate", bad ? "FAIL" : "ok  ");
    fails += bad;
    free(s.inp); free(s.out); free(s.proj); free(want); free(d); free(d2);
    return fails;
}

static size_t check_stability(void)
{
    float x[6] = { 1000, 999, -1000, -1000, -1001, -1002 }, y[6];
    memcpy(y, x, sizeof y);
    k_softmax_forward(y, y, 2, 3); /* in place */
    float e1 = expf(-1), e2 = expf(-2), z1 = 1 + e1 + 0, z2 = 1 + e1 + e2;
    float want[6] = { 1 / z1, e1 / z1, 0, 1 / z2, e1 / z2, e2 / z2 };
    return gc_expect_close("softmax ±1000 logits, in place", y, want, 6, 1e-7, 1e-6);
}

int main(void)
{
    size_t fails = check_stability();
    fails += check(1, 1, 1, 0);
    fails += check(3, 7, 2, 0);
    fails += check(5, 77, 3, 0);
    fails += check(129, 300, 4, 60); /* OpenMP path */
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
