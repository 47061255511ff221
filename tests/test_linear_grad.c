/* test_linear_grad.c — k_linear_forward against hand-computed values and a direct loop;
 * gradients of input, weight and bias against finite differences, with and without bias,
 * on odd sizes; backward accumulates (+=) and skips NULL gradients. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lin {
    int N, C_in, C_out;
    float *inp, *w, *b, *out, *proj;
} lin;

static double lin_loss(void *p)
{
    lin *l = p;
    k_linear_forward(l->out, l->inp, l->w, l->b, l->N, l->C_in, l->C_out);
    return gc_dot(l->out, l->proj, (size_t)l->N * l->C_out);
}

static size_t check_shape(int N, int C_in, int C_out, int with_bias, uint64_t seed)
{
    lin l = { N, C_in, C_out, NULL, NULL, NULL, NULL, NULL };
    size_t ni = (size_t)N * C_in, nw = (size_t)C_out * C_in, no = (size_t)N * C_out;
    l.inp = gc_zalloc(ni);
    l.w = gc_zalloc(nw);
    l.b = with_bias ? gc_zalloc(C_out) : NULL;
    l.out = gc_zalloc(no);
    l.proj = gc_zalloc(no);
    gc_fill_uniform(l.inp, ni, &seed, -1, 1);
    gc_fill_uniform(l.w, nw, &seed, -1, 1);
    if (l.b)
        gc_fill_uniform(l.b, C_out, &seed, -1, 1);
    gc_fill_uniform(l.proj, no, &seed, -1, 1);

    size_t fails = 0;
    /* forward against a direct double loop */
    float *ref = gc_zalloc(no);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < C_out; o++) {
            double s = l.b ? l.b[o] : 0.0;
            for (int i = 0; i < C_in; i++)
                s += (double)l.inp[(size_t)n * C_in + i] * l.w[(size_t)o * C_in + i];
            ref[(size_t)n * C_out + o] = (float)s;
        }
    lin_loss(&l);
    char name[96];
    snprintf(name, sizeof name, "linear %dx%d->%d%s forward", N, C_in, C_out, l.b ? " +b" : "");
    fails += gc_expect_close(name, l.out, ref, no, 1e-5, 1e-5);

    float *di = gc_zalloc(ni), *dw = gc_zalloc(nw), *db = gc_zalloc(C_out);
    k_linear_backward(di, dw, l.b ? db : NULL, l.proj, l.inp, l.w, N, C_in, C_out);
    gc_opts o = gc_default_opts();
    snprintf(name, sizeof name, "linear %dx%d->%d%s dinp", N, C_in, C_out, l.b ? " +b" : "");
    fails += gc_check(name, lin_loss, &l, l.inp, di, ni, &o);
    snprintf(name, sizeof name, "linear %dx%d->%d%s dweight", N, C_in, C_out, l.b ? " +b" : "");
    fails += gc_check(name, lin_loss, &l, l.w, dw, nw, &o);
    if (l.b) {
        snprintf(name, sizeof name, "linear %dx%d->%d +b dbias", N, C_in, C_out);
        fails += gc_check(name, lin_loss, &l, l.b, db, C_out, &o);
    }

    /* accumulation: a second backward onto the first result doubles it; NULL skips */
    float *di2 = gc_zalloc(ni), *dw2 = gc_zalloc(nw);
    memcpy(di2, di, ni * sizeof *di2);
    k_linear_backward(di2, NULL, NULL, l.proj, l.inp, l.w, N, C_in, C_out);
    k_linear_backward(NULL, dw2, NULL, l.proj, l.inp, l.w, N, C_in, C_out);
    for (size_t i = 0; i < ni; i++)
        if (di2[i] != 2.0f * di[i])
            fails++;
    for (size_t i = 0; i < nw; i++)
        if (dw2[i] != dw[i])
            fails++;

    free(ref); free(di); free(dw); free(db); free(di2); free(dw2);
    free(l.inp); free(l.w); free(l.b); free(l.out); free(l.proj);
    return fails;
}

int main(void)
{
    size_t fails = 0;

    /* hand-computed: inp [[1,2,3],[-1,0,2]], W [[1,0,-1],[2,1,0.5]], b [0.5,-1] */
    float inp[6] = { 1, 2, 3, -1, 0, 2 }, w[6] = { 1, 0, -1, 2, 1, 0.5f }, b[2] = { 0.5f, -1 };
    float out[4], want[4] = { -1.5f, 4.5f, -2.5f, -2.0f };
    k_linear_forward(out, inp, w, b, 2, 3, 2);
    fails += gc_expect_close("linear hand-computed forward", out, want, 4, 1e-6, 0);

    fails += check_shape(3, 7, 5, 1, 11);
    fails += check_shape(5, 13, 6, 0, 12);
    fails += check_shape(1, 9, 11, 1, 13);

    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
