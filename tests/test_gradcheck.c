/* test_gradcheck.c — the gradient-check harness can fail: a correct gradient of
 * L(x) = Σ g·sin(x) passes, and gradients with a wrong element, a wrong factor or a NaN fail;
 * gc_expect_close catches a wrong forward value. */
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>

#define N 37

typedef struct ctx {
    float *x, *g;
} ctx;

static double loss(void *p)
{
    ctx *c = p;
    double s = 0.0;
    for (int i = 0; i < N; i++)
        s += (double)c->g[i] * sinf(c->x[i]);
    return s;
}

int main(void)
{
    float x[N], g[N], grad[N], wrong[N];
    uint64_t seed = 1;
    gc_fill_uniform(x, N, &seed, -2.0f, 2.0f);
    gc_fill_uniform(g, N, &seed, -1.0f, 1.0f);
    for (int i = 0; i < N; i++)
        grad[i] = g[i] * cosf(x[i]);
    ctx c = { x, g };
    gc_opts o = gc_default_opts();
    int fails = 0;

    if (gc_check("selftest: correct gradient", loss, &c, x, grad, N, &o) != 0)
        fails++;

    for (int i = 0; i < N; i++)
        wrong[i] = grad[i];
    wrong[17] += 0.05f; /* one element off by 5e-2 */
    printf("(a FAIL line is expected next)\n");
    if (gc_check("selftest: one wrong element", loss, &c, x, wrong, N, &o) != 1)
        fails++;

    for (int i = 0; i < N; i++)
        wrong[i] = 1.05f * grad[i]; /* a 5% factor error */
    printf("(a FAIL line is expected next)\n");
    if (gc_check("selftest: wrong factor", loss, &c, x, wrong, N, &o) == 0)
        fails++;

    wrong[3] = NAN;
    for (int i = 0; i < N; i++)
        if (i != 3)
            wrong[i] = grad[i];
    printf("(a FAIL line is expected next)\n");
    if (gc_check("selftest: NaN gradient", loss, &c, x, wrong, N, &o) != 1)
        fails++;

    /* The values of x must be restored exactly after checking. */
    float copy[N];
    for (int i = 0; i < N; i++)
        copy[i] = x[i];
    gc_check("selftest: restore", loss, &c, x, grad, N, &o);
    for (int i = 0; i < N; i++)
        if (copy[i] != x[i])
            fails++;

    float want[3] = { 1.0f, 2.0f, 3.0f }, got[3] = { 1.0f, 2.0f, 3.01f };
    if (gc_expect_close("selftest: forward exact", want, want, 3, 1e-6, 1e-6) != 0)
        fails++;
    printf("(a FAIL line is expected next)\n");
    if (gc_expect_close("selftest: forward off", got, want, 3, 1e-6, 1e-4) != 1)
        fails++;

    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
