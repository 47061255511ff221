/* bench_kernels.c — throughput of the CPU dense kernels at SD1.5 U-Net shapes (batch 1),
 * forward and backward, as GFLOP/s and as a fraction of OpenBLAS sgemm's rate measured in
 * the same run on a square 1024³ product, so numbers from different machines compare.
 * `make bench` builds and runs it. Each case: one warm-up, then the best of a few runs.
 * FLOPs: linear 2·N·C_in·C_out forward, twice that backward (dinp + dweight); conv2d the
 * same with K = C_in·9 and N = OH·OW; group norm is memory-bound, so it is reported in GB/s
 * too, with nominal 8 (forward) and 14 (backward) FLOPs per element. */
#include "kernels/kernels.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPS 5

static float *bench_buf(size_t n, unsigned seed)
{
    float *p = k_alloc(K_CPU, n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_kernels: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

typedef void (*bench_fn)(void *ctx);

static double best_seconds(bench_fn f, void *ctx)
{
    f(ctx);
    double best = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = omp_get_wtime();
        f(ctx);
        double t = omp_get_wtime() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

static double ref_gflops;

static void report(const char *name, double flops, double bytes, double sec)
{
    double gf = flops / sec * 1e-9;
    printf("%-44s %8.2f ms %8.1f GFLOP/s %6.1f%% of sgemm", name, sec * 1e3, gf,
           100.0 * gf / ref_gflops);
    if (bytes > 0)
        printf(" %7.1f GB/s", bytes / sec * 1e-9);
    printf("\n");
}

/* ---- reference sgemm ---- */
typedef struct gemm_ctx {
    int n;
    float *a, *b, *c;
} gemm_ctx;

static void run_gemm(void *p)
{
    gemm_ctx *g = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0f, g->a, g->n,
                g->b, g->n, 0.0f, g->c, g->n);
}

/* ---- linear ---- */
typedef struct lin_ctx {
    int N, C_in, C_out;
    float *inp, *w, *b, *out, *dinp, *dw, *db;
} lin_ctx;

static void run_lin_fwd(void *p)
{
    lin_ctx *l = p;
    k_linear_forward(l->out, l->inp, l->w, l->b, l->N, l->C_in, l->C_out);
}

static void run_lin_bwd(void *p)
{
    lin_ctx *l = p;
    k_linear_backward(l->dinp, l->dw, l->db, l->out, l->inp, l->w, l->N, l->C_in, l->C_out);
}

static void bench_linear(int N, int C_in, int C_out)
{
    lin_ctx l = { N, C_in, C_out, bench_buf((size_t)N * C_in, 1), bench_buf((size_t)C_out * C_in, 2),
                  bench_buf(C_out, 3), bench_buf((size_t)N * C_out, 4),
                  bench_buf((size_t)N * C_in, 5), bench_buf((size_t)C_out * C_in, 6),
                  bench_buf(C_out, 7) };
    double flops = 2.0 * N * C_in * C_out;
    char name[96];
    snprintf(name, sizeof name, "linear %dx%d->%d forward", N, C_in, C_out);
    report(name, flops, 0, best_seconds(run_lin_fwd, &l));
    snprintf(name, sizeof name, "linear %dx%d->%d backward", N, C_in, C_out);
    report(name, 2 * flops, 0, best_seconds(run_lin_bwd, &l));
    k_free(K_CPU, l.inp); k_free(K_CPU, l.w); k_free(K_CPU, l.b); k_free(K_CPU, l.out);
    k_free(K_CPU, l.dinp); k_free(K_CPU, l.dw); k_free(K_CPU, l.db);
}

/* ---- conv2d ---- */
typedef struct conv_ctx {
    k_conv2d_dims d;
    float *inp, *w, *b, *out, *scratch, *dinp, *dw, *db;
} conv_ctx;

static void run_conv_fwd(void *p)
{
    conv_ctx *c = p;
    k_conv2d_forward(c->out, c->inp, c->w, c->b, c->scratch, &c->d);
}

static void run_conv_bwd(void *p)
{
    conv_ctx *c = p;
    k_conv2d_backward(c->dinp, c->dw, c->db, c->out, c->inp, c->w, c->scratch, &c->d);
}

static void bench_conv(int C, int H, int W, int C_out)
{
    conv_ctx c = { .d = { 1, C, H, W, C_out, 3, 3, 1, 1 } };
    size_t ni = (size_t)C * H * W, nw = (size_t)C_out * C * 9;
    size_t no = (size_t)C_out * k_conv2d_out_h(&c.d) * k_conv2d_out_w(&c.d);
    c.inp = bench_buf(ni, 11);
    c.w = bench_buf(nw, 12);
    c.b = bench_buf(C_out, 13);
    c.out = bench_buf(no, 14);
    c.scratch = bench_buf(k_conv2d_scratch_floats(&c.d), 15);
    c.dinp = bench_buf(ni, 16);
    c.dw = bench_buf(nw, 17);
    c.db = bench_buf(C_out, 18);
    double flops = 2.0 * C_out * (C * 9.0) * (double)(no / C_out);
    char name[96];
    snprintf(name, sizeof name, "conv2d 3x3 %dx%dx%d->%d forward", C, H, W, C_out);
    report(name, flops, 0, best_seconds(run_conv_fwd, &c));
    snprintf(name, sizeof name, "conv2d 3x3 %dx%dx%d->%d backward", C, H, W, C_out);
    report(name, 2 * flops, 0, best_seconds(run_conv_bwd, &c));
    k_free(K_CPU, c.inp); k_free(K_CPU, c.w); k_free(K_CPU, c.b); k_free(K_CPU, c.out);
    k_free(K_CPU, c.scratch); k_free(K_CPU, c.dinp); k_free(K_CPU, c.dw); k_free(K_CPU, c.db);
}

/* ---- group norm ---- */
typedef struct gn_ctx {
    int C, HW, G;
    float *inp, *w, *b, *out, *mean, *rstd, *dinp, *dw, *db;
} gn_ctx;

static void run_gn_fwd(void *p)
{
    gn_ctx *g = p;
    k_groupnorm_forward(g->out, g->mean, g->rstd, g->inp, g->w, g->b, 1, g->C, g->HW, g->G,
                        1e-5f);
}

static void run_gn_bwd(void *p)
{
    gn_ctx *g = p;
    k_groupnorm_backward(g->dinp, g->dw, g->db, g->out, g->inp, g->w, g->mean, g->rstd, 1,
                         g->C, g->HW, g->G);
}

static void bench_groupnorm(int C, int H, int W)
{
    gn_ctx g = { C, H * W, 32, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
    size_t n = (size_t)C * H * W;
    g.inp = bench_buf(n, 21); g.w = bench_buf(C, 22); g.b = bench_buf(C, 23);
    g.out = bench_buf(n, 24); g.mean = bench_buf(32, 25); g.rstd = bench_buf(32, 26);
    g.dinp = bench_buf(n, 27); g.dw = bench_buf(C, 28); g.db = bench_buf(C, 29);
    char name[96];
    /* forward reads x twice (two-pass statistics) plus once to normalise, writes y once;
     * backward reads x and dout twice each (sums, then dx) and again for dw/db, rmw dx */
    snprintf(name, sizeof name, "groupnorm G32 %dx%dx%d forward", C, H, W);
    report(name, 8.0 * n, 16.0 * n, best_seconds(run_gn_fwd, &g));
    snprintf(name, sizeof name, "groupnorm G32 %dx%dx%d backward", C, H, W);
    report(name, 14.0 * n, 32.0 * n, best_seconds(run_gn_bwd, &g));
    k_free(K_CPU, g.inp); k_free(K_CPU, g.w); k_free(K_CPU, g.b); k_free(K_CPU, g.out);
    k_free(K_CPU, g.mean); k_free(K_CPU, g.rstd); k_free(K_CPU, g.dinp); k_free(K_CPU, g.dw);
    k_free(K_CPU, g.db);
}

/* ---- attention ---- */
typedef struct attn_ctx {
    k_attn_dims d;
    float *q, *k, *v, *out, *lse, *scratch, *dout, *dq, *dk, *dv;
} attn_ctx;

static void run_attn_fwd(void *p)
{
    attn_ctx *a = p;
    k_attention_forward(a->out, a->lse, a->q, a->k, a->v, a->scratch, &a->d);
}

static void run_attn_bwd(void *p)
{
    attn_ctx *a = p;
    k_attention_backward(a->dq, a->dk, a->dv, a->dout, a->q, a->k, a->v, a->out, a->lse,
                         a->scratch, &a->d);
}

/* self-attention of T tokens, H heads of d dims (SD1.5's first level: 4096 x 8 x 40) */
static void bench_attention(int T, int H, int d, int Tk)
{
    attn_ctx a = {0};
    a.d.B = 1; a.d.Tq = T; a.d.Tk = Tk; a.d.H = H; a.d.d = d;
    size_t nq = (size_t)T * H * d, nk = (size_t)Tk * H * d;
    a.q = bench_buf(nq, 41); a.k = bench_buf(nk, 42); a.v = bench_buf(nk, 43);
    a.out = bench_buf(nq, 44); a.lse = bench_buf((size_t)H * T, 45);
    a.scratch = bench_buf(k_attention_scratch_floats(&a.d), 46);
    a.dout = bench_buf(nq, 47); a.dq = bench_buf(nq, 48); a.dk = bench_buf(nk, 49);
    a.dv = bench_buf(nk, 50);
    /* QK^T and PV: 2 matmuls of 2·T·Tk·d per head; backward recomputes QK^T and adds 4 more */
    double flops = 4.0 * H * (double)T * Tk * d;
    char name[96];
    snprintf(name, sizeof name, "attention %dx%dx%d (kv %d) forward", T, H, d, Tk);
    report(name, flops, 0, best_seconds(run_attn_fwd, &a));
    snprintf(name, sizeof name, "attention %dx%dx%d (kv %d) backward", T, H, d, Tk);
    report(name, 2.5 * flops, 0, best_seconds(run_attn_bwd, &a));
    float *bufs[] = {a.q, a.k, a.v, a.out, a.lse, a.scratch, a.dout, a.dq, a.dk, a.dv};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        k_free(K_CPU, bufs[i]);
}

int main(void)
{
    gemm_ctx g = { 1024, NULL, NULL, NULL };
    size_t n2 = (size_t)g.n * g.n;
    g.a = bench_buf(n2, 31);
    g.b = bench_buf(n2, 32);
    g.c = bench_buf(n2, 33);
    double sec = best_seconds(run_gemm, &g);
    ref_gflops = 2.0 * g.n * g.n * g.n / sec * 1e-9;
    printf("loratty CPU kernel benchmark: %d OpenMP threads, batch 1, SD1.5 U-Net shapes\n",
           omp_get_max_threads());
    printf("%-44s %8.2f ms %8.1f GFLOP/s (reference)\n", "OpenBLAS sgemm 1024x1024x1024",
           sec * 1e3, ref_gflops);
    k_free(K_CPU, g.a); k_free(K_CPU, g.b); k_free(K_CPU, g.c);

    bench_linear(4096, 320, 320);   /* attention projections at 64×64 */
    bench_linear(1024, 640, 640);   /* at 32×32 */
    bench_linear(4096, 320, 2560);  /* GEGLU projection C -> 8C at 64×64 */
    bench_conv(320, 64, 64, 320);
    bench_conv(640, 32, 32, 640);
    bench_groupnorm(320, 64, 64);
    bench_groupnorm(640, 32, 32);
    bench_attention(4096, 8, 40, 4096);   /* self-attention at 64×64 */
    bench_attention(4096, 8, 40, 77);     /* cross-attention to 77 text tokens */
    return 0;
}
