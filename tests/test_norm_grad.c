/* test_norm_grad.c — group norm and layer norm: forward against hand-computed values and a
 * double-precision reference (including an offset input, mean 100, where a one-pass variance
 * would lose digits); gradients of input, weight and bias against finite differences, with
 * and without affine parameters, G = 1, G = C and in between, odd sizes, N > 1. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct norm {
    int layer; /* 0: group norm [N, C, HW] with G groups; 1: layer norm [N, C] */
    int N, C, HW, G;
    float eps;
    float *inp, *w, *b, *out, *mean, *rstd, *proj;
    size_t n;
} norm;

static void norm_forward(norm *s)
{
    if (s->layer)
        k_layernorm_forward(s->out, s->mean, s->rstd, s->inp, s->w, s->b, s->N, s->C, s->eps);
    else
        k_groupnorm_forward(s->out, s->mean, s->rstd, s->inp, s->w, s->b, s->N, s->C, s->HW,
                            s->G, s->eps);
}

static double norm_loss(void *p)
{
    norm *s = p;
    norm_forward(s);
    return gc_dot(s->out, s->proj, s->n);
}

/* Reference in double: a layer norm is a group norm with HW = 1 and G = 1 per row, but the
 * weight is indexed by the position in the row instead of by the channel. */
static void norm_ref(float *out, const norm *s)
{
    int blocks = s->layer ? s->N : s->N * s->G;
    size_t M = s->layer ? (size_t)s->C : (size_t)(s->C / s->G) * s->HW;
    for (int k = 0; k < blocks; k++) {
        const float *x = s->inp + (size_t)k * M;
        double m = 0, v = 0;
        for (size_t i = 0; i < M; i++)
            m += x[i];
        m /= (double)M;
        for (size_t i = 0; i < M; i++)
            v += (x[i] - m) * (x[i] - m);
        double r = 1.0 / sqrt(v / (double)M + s->eps);
        for (size_t i = 0; i < M; i++) {
            int c = s->layer ? (int)i : (k % s->G) * (s->C / s->G) + (int)(i / s->HW);
            out[(size_t)k * M + i] = (float)((x[i] - m) * r * (s->w ? s->w[c] : 1.0)
                                             + (s->b ? s->b[c] : 0.0));
        }
    }
}

static size_t check_shape(int layer, int N, int C, int HW, int G, int affine, float offset,
                          uint64_t seed)
{
    norm s = { layer, N, C, HW, G, 1e-5f, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 };
    s.n = layer ? (size_t)N * C : (size_t)N * C * HW;
    size_t nstat = layer ? (size_t)N : (size_t)N * G;
    s.inp = gc_zalloc(s.n);
    s.out = gc_zalloc(s.n);
    s.proj = gc_zalloc(s.n);
    s.mean = gc_zalloc(nstat);
    s.rstd = gc_zalloc(nstat);
    if (affine) {
        s.w = gc_zalloc(C);
        s.b = gc_zalloc(C);
        gc_fill_uniform(s.w, C, &seed, 0.5f, 1.5f);
        gc_fill_uniform(s.b, C, &seed, -1, 1);
    }
    gc_fill_uniform(s.inp, s.n, &seed, offset - 1, offset + 1);
    gc_fill_uniform(s.proj, s.n, &seed, -1, 1);

    char tag[96], name[128];
    if (layer)
        snprintf(tag, sizeof tag, "layernorm %dx%d%s", N, C, affine ? " affine" : "");
    else
        snprintf(tag, sizeof tag, "groupnorm %dx%dx%d G%d%s", N, C, HW, G,
                 affine ? " affine" : "");
    if (offset != 0)
        snprintf(tag + strlen(tag), sizeof tag - strlen(tag), " offset %g", offset);
    size_t fails = 0;
    float *ref = gc_zalloc(s.n);
    norm_ref(ref, &s);
    norm_forward(&s);
    snprintf(name, sizeof name, "%s forward", tag);
    fails += gc_expect_close(name, s.out, ref, s.n, 2e-5, 1e-4);

    if (offset == 0) {
        float *di = gc_zalloc(s.n), *dw = gc_zalloc(C), *db = gc_zalloc(C);
        if (layer)
            k_layernorm_backward(di, s.w ? dw : NULL, s.b ? db : NULL, s.proj, s.inp, s.w,
                                 s.mean, s.rstd, N, C);
        else
            k_groupnorm_backward(di, s.w ? dw : NULL, s.b ? db : NULL, s.proj, s.inp, s.w,
                                 s.mean, s.rstd, N, C, HW, G);
        gc_opts o = gc_default_opts();
        o.max_checks = 400;
        snprintf(name, sizeof name, "%s dinp", tag);
        fails += gc_check(name, norm_loss, &s, s.inp, di, s.n, &o);
        if (affine) {
            snprintf(name, sizeof name, "%s dweight", tag);
            fails += gc_check(name, norm_loss, &s, s.w, dw, C, &o);
            snprintf(name, sizeof name, "%s dbias", tag);
            fails += gc_check(name, norm_loss, &s, s.b, db, C, &o);
        }
        free(di); free(dw); free(db);
    }
    free(ref); free(s.inp); free(s.out); free(s.proj); free(s.mean); free(s.rstd);
    free(s.w); free(s.b);
    return fails;
}

static size_t check_hand_computed(void)
{
    size_t fails = 0;
    /* x = [1, 2, 3, 4] as N=1, C=2, HW=2; weight [2, -1], bias [0.5, 1], eps 0. */
    float x[4] = { 1, 2, 3, 4 }, w[2] = { 2, -1 }, b[2] = { 0.5f, 1 }, out[4], mean[2], rstd[2];
    /* G = 1: mean 2.5, var 1.25, x̂ = [-1.5, -0.5, 0.5, 1.5] / sqrt(1.25) */
    float want1[4] = { -2.1832816f, -0.3944272f, 0.5527864f, -0.3416408f };
    k_groupnorm_forward(out, mean, rstd, x, w, b, 1, 2, 2, 1, 0.0f);
    fails += gc_expect_close("groupnorm G1 hand-computed", out, want1, 4, 1e-6, 1e-6);
    float wantm1[2] = { 2.5f, 0.8944272f };
    float got1[2] = { mean[0], rstd[0] };
    fails += gc_expect_close("groupnorm G1 mean, rstd", got1, wantm1, 2, 1e-6, 1e-6);
    /* G = 2: each channel [a, a+1] normalises to [-1, 1], rstd 2 */
    float want2[4] = { -1.5f, 2.5f, 2.0f, 0.0f }, wantm2[4] = { 1.5f, 3.5f, 2, 2 };
    k_groupnorm_forward(out, mean, rstd, x, w, b, 1, 2, 2, 2, 0.0f);
    fails += gc_expect_close("groupnorm G2 hand-computed", out, want2, 4, 1e-6, 1e-6);
    float got2[4] = { mean[0], mean[1], rstd[0], rstd[1] };
    fails += gc_expect_close("groupnorm G2 mean, rstd", got2, wantm2, 4, 1e-6, 1e-6);
    /* layer norm rows [1, 2, 3, 4] and [0, 0, 0, 4] (mean 1, var 3), no affine */
    float xl[8] = { 1, 2, 3, 4, 0, 0, 0, 4 }, outl[8], ml[2], rl[2];
    float wantl[8] = { -1.3416408f, -0.4472136f, 0.4472136f, 1.3416408f,
                       -0.5773503f, -0.5773503f, -0.5773503f, 1.7320508f };
    k_layernorm_forward(outl, ml, rl, xl, NULL, NULL, 2, 4, 0.0f);
    fails += gc_expect_close("layernorm hand-computed", outl, wantl, 8, 1e-6, 1e-6);
    return fails;
}

int main(void)
{
    size_t fails = check_hand_computed();
    fails += check_shape(0, 2, 6, 15, 3, 1, 0, 31);
    fails += check_shape(0, 3, 5, 7, 1, 0, 0, 32);
    fails += check_shape(0, 2, 5, 6, 5, 1, 0, 33);
    fails += check_shape(0, 1, 6, 4, 2, 0, 0, 34);
    fails += check_shape(0, 2, 12, 1500, 4, 1, 0, 35); /* OpenMP path */
    fails += check_shape(0, 2, 6, 300, 3, 1, 100.0f, 36);
    fails += check_shape(1, 3, 7, 1, 1, 1, 0, 37);
    fails += check_shape(1, 4, 13, 1, 1, 0, 0, 38);
    fails += check_shape(1, 2, 9, 1, 1, 1, 0, 40);
    fails += check_shape(1, 600, 77, 1, 1, 1, 0, 39); /* OpenMP path */
    fails += check_shape(1, 5, 768, 1, 1, 1, 100.0f, 41);
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
