/* test_activation_grad.c — SiLU, GELU (erf and tanh), quick-GELU and GEGLU: forward
 * against values computed independently (Python math: erf, tanh, exp), input gradients
 * against finite differences over [-3, 3] (where the curvature is largest), odd sizes, the
 * OpenMP path, and accumulation into an existing gradient. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*act_fwd)(float *, const float *, size_t);
typedef void (*act_bwd)(float *, const float *, const float *, size_t);

typedef struct act {
    act_fwd fwd;
    int geglu_D; /* > 0: GEGLU with rows of 2D inputs */
    size_t n_in, n_out;
    float *inp, *out, *proj;
} act;

static double act_loss(void *p)
{
    act *a = p;
    if (a->geglu_D)
        k_geglu_forward(a->out, a->inp, (int)(a->n_out / a->geglu_D), a->geglu_D);
    else
        a->fwd(a->out, a->inp, a->n_in);
    return gc_dot(a->out, a->proj, a->n_out);
}

static size_t check(const char *tag, act_fwd fwd, act_bwd bwd, int geglu_D, size_t n_out,
                    uint64_t seed)
{
    act a = { fwd, geglu_D, geglu_D ? 2 * n_out : n_out, n_out, NULL, NULL, NULL };
    a.inp = gc_zalloc(a.n_in);
    a.out = gc_zalloc(a.n_out);
    a.proj = gc_zalloc(a.n_out);
    gc_fill_uniform(a.inp, a.n_in, &seed, -3, 3);
    gc_fill_uniform(a.proj, a.n_out, &seed, -1, 1);
    float *di = gc_zalloc(a.n_in), *di2 = gc_zalloc(a.n_in);
    if (geglu_D)
        k_geglu_backward(di, a.proj, a.inp, (int)(n_out / geglu_D), geglu_D);
    else
        bwd(di, a.proj, a.inp, a.n_in);
    gc_opts o = gc_default_opts();
    o.max_checks = 500;
    char name[96];
    snprintf(name, sizeof name, "%s n=%zu dinp", tag, a.n_in);
    size_t fails = gc_check(name, act_loss, &a, a.inp, di, a.n_in, &o);

    for (size_t i = 0; i < a.n_in; i++)
        di2[i] = 1.0f;
    if (geglu_D)
        k_geglu_backward(di2, a.proj, a.inp, (int)(n_out / geglu_D), geglu_D);
    else
        bwd(di2, a.proj, a.inp, a.n_in);
    size_t bad = 0;
    for (size_t i = 0; i < a.n_in; i++)
        bad += di2[i] != 1.0f + di[i];
    if (bad)
        printf("%s accumulate: %zu mismatches FAIL\n", tag, bad);
    free(a.inp); free(a.out); free(a.proj); free(di); free(di2);
    return fails + bad;
}

static size_t check_values(void)
{
    static const float x[7] = { -3, -1, -0.5f, 0, 0.5f, 1, 2.5f };
    static const float silu[7] = { -0.1422776f, -0.2689414f, -0.1887703f, 0.0f, 0.3112297f,
                                   0.7310586f, 2.3103545f };
    static const float gelu[7] = { -0.0040497f, -0.1586553f, -0.1542688f, 0.0f, 0.3457312f,
                                   0.8413447f, 2.4844758f };
    static const float gelu_tanh[7] = { -0.0036374f, -0.1588080f, -0.1542860f, 0.0f,
                                        0.3457140f, 0.8411920f, 2.4849157f };
    static const float quick[7] = { -0.0180713f, -0.1542042f, -0.1496116f, 0.0f, 0.3503884f,
                                    0.8457958f, 2.4650138f };
    float y[7];
    size_t fails = 0;
    k_silu_forward(y, x, 7);
    fails += gc_expect_close("silu values", y, silu, 7, 1e-6, 1e-6);
    k_gelu_forward(y, x, 7);
    fails += gc_expect_close("gelu values", y, gelu, 7, 1e-6, 1e-6);
    k_gelu_tanh_forward(y, x, 7);
    fails += gc_expect_close("gelu_tanh values", y, gelu_tanh, 7, 1e-6, 1e-6);
    k_quick_gelu_forward(y, x, 7);
    fails += gc_expect_close("quick_gelu values", y, quick, 7, 1e-6, 1e-6);
    /* in place */
    memcpy(y, x, sizeof y);
    k_silu_forward(y, y, 7);
    fails += gc_expect_close("silu in place", y, silu, 7, 1e-6, 1e-6);
    /* GEGLU rows [hidden | gate]: [2, -1.5 | 1, -0.5] and [0.25, 0 | 2, 1] */
    float in[8] = { 2, -1.5f, 1, -0.5f, 0.25f, 0, 2, 1 }, gy[4];
    float want[4] = { 1.6826895f, 0.2314032f, 0.4886249f, 0.0f };
    k_geglu_forward(gy, in, 2, 2);
    fails += gc_expect_close("geglu values", gy, want, 4, 1e-6, 1e-6);
    return fails;
}

int main(void)
{
    size_t fails = check_values();
    fails += check("silu", k_silu_forward, k_silu_backward, 0, 37, 51);
    fails += check("gelu", k_gelu_forward, k_gelu_backward, 0, 37, 52);
    fails += check("gelu_tanh", k_gelu_tanh_forward, k_gelu_tanh_backward, 0, 37, 53);
    fails += check("quick_gelu", k_quick_gelu_forward, k_quick_gelu_backward, 0, 37, 54);
    fails += check("geglu 3x(2*5)", NULL, NULL, 5, 15, 55);
    fails += check("silu", k_silu_forward, k_silu_backward, 0, 40001, 56);   /* OpenMP */
    fails += check("gelu", k_gelu_forward, k_gelu_backward, 0, 40001, 57);
    fails += check("geglu 131x(2*257)", NULL, NULL, 257, 131 * 257, 58);
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
