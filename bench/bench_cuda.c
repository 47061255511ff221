/* bench_cuda.c — throughput of the CUDA GEMM, conv2d and attention ops at SD1.5 @512 shapes
 * (latent 64×64, batch 2), as GFLOP/s and as a fraction of cuBLASLt's bf16 GEMM measured in
 * the same run (4096³, f32 accumulation): the ratio says how close an op gets to what the
 * tensor cores can do here, independent of which GPU ran it. f32 ops run with TF32 off and
 * on. Exits 77 (skip) without a device. Timing: wall clock around `reps` launches between
 * two kc_synchronize calls, after one warm-up call (which also builds plans and workspaces).
 */
#ifdef HAVE_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef HAVE_CUDA
int main(void)
{
    printf("SKIP: built without CUDA\n");
    return 77;
}
#else

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Device buffer of n floats, filled with small values (bf16-safe) by a conversion from a host
 * pattern; exits on failure (a benchmark, not library code). */
static float *dbuf(size_t n)
{
    float *d = kc_alloc(n * sizeof(float));
    float *h = malloc(n * sizeof(float));
    if (!d || !h) {
        fprintf(stderr, "bench_cuda: allocation of %zu floats failed: %s\n", n, kc_last_error());
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        h[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    if (kc_copy(d, 1, h, 0, n * sizeof(float))) {
        fprintf(stderr, "bench_cuda: upload failed: %s\n", kc_last_error());
        exit(1);
    }
    free(h);
    return d;
}

typedef int (*bench_fn)(void *ctx);

/* Seconds per call, or -1 when the op failed. */
static double timeit(bench_fn f, void *ctx, int reps)
{
    if (f(ctx) || kc_synchronize())
        return -1.0;
    double t0 = now();
    for (int i = 0; i < reps; i++)
        if (f(ctx))
            return -1.0;
    if (kc_synchronize())
        return -1.0;
    return (now() - t0) / reps;
}

typedef struct gemm_ctx {
    void *a, *b, *c;
    kc_dtype ab, ct;
    int M, N, K;
} gemm_ctx;

static int run_gemm(void *p)
{
    gemm_ctx *g = p;
    return kc_gemm(g->c, g->ct, g->a, g->b, g->ab, NULL, g->M, g->N, g->K, 0, 1, g->K, g->K, g->N,
                   1.0f, 0.0f);
}

typedef struct conv_ctx {
    float *x, *w, *b, *y, *gx, *gw, *gb;
    k_conv2d_dims d;
    int backward;
} conv_ctx;

static int run_conv(void *p)
{
    conv_ctx *c = p;
    if (c->backward)
        return kc_conv2d_backward(c->gx, NULL, NULL, c->y, c->x, c->w, NULL, &c->d);
    return kc_conv2d_forward(c->y, c->x, c->w, c->b, NULL, &c->d);
}

typedef struct attn_ctx {
    float *q, *k, *v, *o, *lse, *dq, *dk, *dv;
    k_attn_dims a;
    int backward;
} attn_ctx;

static int run_attn(void *p)
{
    attn_ctx *c = p;
    if (c->backward)
        return kc_attention_backward(c->dq, c->dk, c->dv, c->o, c->q, c->k, c->v, c->o, c->lse,
                                     NULL, &c->a);
    return kc_attention_forward(c->o, c->lse, c->q, c->k, c->v, NULL, &c->a);
}

/* Replaces g's f32 A and B by bf16/f16 copies when g->ab asks for them. */
static void lowp(gemm_ctx *g)
{
    if (g->ab == KC_F32)
        return;
    const size_t na = (size_t)g->M * g->K, nb = (size_t)g->N * g->K;
    void *a = kc_alloc(na * 2), *b = kc_alloc(nb * 2);
    if (!a || !b || kc_convert(a, g->ab, g->a, KC_F32, na) || kc_convert(b, g->ab, g->b, KC_F32, nb)) {
        fprintf(stderr, "bench_cuda: conversion failed: %s\n", kc_last_error());
        exit(1);
    }
    kc_free(g->a);
    kc_free(g->b);
    g->a = a;
    g->b = b;
}

static double ref_gflops;

static void report(const char *name, double flops, double sec)
{
    if (sec < 0) {
        printf("%-48s FAILED: %s\n", name, kc_last_error());
        return;
    }
    double g = flops / sec * 1e-9;
    printf("%-48s %9.3f ms %9.1f GFLOP/s  %5.1f%% of bf16 GEMM\n", name, sec * 1e3, g,
           ref_gflops > 0 ? 100.0 * g / ref_gflops : 0.0);
}

static void bench_gemm(const char *name, kc_dtype t, int M, int N, int K)
{
    gemm_ctx g = { dbuf((size_t)M * K), dbuf((size_t)N * K), dbuf((size_t)M * N), t, KC_F32, M, N, K };
    lowp(&g);
    double s = timeit(run_gemm, &g, 20);
    report(name, 2.0 * M * N * K, s);
    kc_free(g.a);
    kc_free(g.b);
    kc_free(g.c);
}

static void bench_conv(int N, int C, int HW, int backward)
{
    char name[96];
    conv_ctx c = { 0 };
    c.d = (k_conv2d_dims){ N, C, HW, HW, C, 3, 3, 1, 1 };
    size_t nx = (size_t)N * C * HW * HW;
    c.x = dbuf(nx);
    c.y = dbuf(nx);
    c.gx = dbuf(nx);
    c.w = dbuf((size_t)C * C * 9);
    c.b = dbuf(C);
    c.backward = backward;
    snprintf(name, sizeof name, "conv3x3 %s %dx%dx%dx%d", backward ? "dinp" : "fwd ", N, C, HW, HW);
    report(name, 2.0 * N * C * HW * HW * C * 9, timeit(run_conv, &c, 10));
    kc_free(c.x);
    kc_free(c.y);
    kc_free(c.gx);
    kc_free(c.w);
    kc_free(c.b);
}

static void bench_attn(int B, int Tq, int Tk, int H, int d, int backward)
{
    char name[96];
    attn_ctx c = { 0 };
    c.a = (k_attn_dims){ B, Tq, Tk, H, d, 0, 0.0f, 0, 0 };
    size_t nq = (size_t)B * Tq * H * d, nk = (size_t)B * Tk * H * d;
    c.q = dbuf(nq);
    c.o = dbuf(nq);
    c.dq = dbuf(nq);
    c.k = dbuf(nk);
    c.v = dbuf(nk);
    c.dk = dbuf(nk);
    c.dv = dbuf(nk);
    c.lse = dbuf((size_t)B * H * Tq);
    run_attn(&c); /* the backward reads out and lse */
    c.backward = backward;
    snprintf(name, sizeof name, "attention %s B%d Tq%d Tk%d H%d d%d", backward ? "bwd" : "fwd",
             B, Tq, Tk, H, d);
    /* forward: QKᵀ and PV; backward: five products of the same size (flash-attention count) */
    report(name, (backward ? 10.0 : 4.0) * B * H * (double)Tq * Tk * d,
           timeit(run_attn, &c, backward ? 3 : 5));
    kc_free(c.q);
    kc_free(c.o);
    kc_free(c.dq);
    kc_free(c.k);
    kc_free(c.v);
    kc_free(c.dk);
    kc_free(c.dv);
    kc_free(c.lse);
}

int main(void)
{
    if (!kc_available()) {
        printf("SKIP: %s\n", kc_last_error());
        return 77;
    }
    char dev[256] = "";
    kc_device_info(dev, sizeof dev, NULL);
    printf("device: %s\n", dev);

    gemm_ctx ref = { dbuf((size_t)4096 * 4096), dbuf((size_t)4096 * 4096),
                     dbuf((size_t)4096 * 4096), KC_BF16, KC_F32, 4096, 4096, 4096 };
    lowp(&ref);
    double s = timeit(run_gemm, &ref, 20);
    if (s <= 0) {
        printf("reference GEMM failed: %s\n", kc_last_error());
        return 1;
    }
    ref_gflops = 2.0 * 4096.0 * 4096.0 * 4096.0 / s * 1e-9;
    printf("reference: cuBLASLt bf16 GEMM 4096^3, f32 accumulate: %.1f GFLOP/s\n\n", ref_gflops);
    kc_free(ref.a);
    kc_free(ref.b);
    kc_free(ref.c);

    for (int tf32 = 0; tf32 <= 1; tf32++) {
        kc_set_allow_tf32(tf32);
        printf("-- f32 ops, TF32 %s\n", tf32 ? "on" : "off");
        bench_gemm("linear f32 8192x320->320 (attn proj)", KC_F32, 8192, 320, 320);
        bench_gemm("linear f32 8192x320->2560 (GEGLU in)", KC_F32, 8192, 2560, 320);
        bench_gemm("linear f32 2048x640->5120", KC_F32, 2048, 5120, 640);
        bench_conv(2, 320, 64, 0);
        bench_conv(2, 320, 64, 1);
        bench_conv(2, 640, 32, 0);
        bench_conv(2, 1280, 16, 0);
    }
    kc_set_allow_tf32(0);
    printf("-- bf16 GEMM at the same shapes\n");
    bench_gemm("linear bf16 8192x320->320", KC_BF16, 8192, 320, 320);
    bench_gemm("linear bf16 8192x320->2560", KC_BF16, 8192, 2560, 320);
    bench_gemm("linear bf16 2048x640->5120", KC_BF16, 2048, 5120, 640);
    printf("-- attention (f32 CUDA cores)\n");
    bench_attn(2, 4096, 4096, 8, 40, 0);
    bench_attn(2, 4096, 4096, 8, 40, 1);
    bench_attn(2, 1024, 1024, 8, 80, 0);
    bench_attn(2, 4096, 77, 8, 40, 0);
    kc_shutdown();
    return 0;
}
#endif
