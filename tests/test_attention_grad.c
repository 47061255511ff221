/* test_attention_grad.c — tiled multi-head attention: forward (out and lse) against a naive
 * full softmax(q kᵀ/√d) v computed in double; dq, dk, dv against finite differences for
 * self- and cross-attention (Tq ≠ Tk), causal masks, head dim 5, batch > 1 and lengths that
 * are not multiples of the tile size; tiny tiles against one tile; accumulation into existing
 * gradients; the scratch size for SD1.5's 4096-token self-attention staying one tile, and a
 * one-head run at that size checked row by row against the naive reference. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct att {
    k_attn_dims a;
    size_t nq, nk, nl;
    float *q, *k, *v, *out, *lse, *proj, *scratch;
} att;

static void att_setup(att *t, k_attn_dims a, uint64_t seed)
{
    t->a = a;
    size_t HD = (size_t)a.H * a.d;
    t->nq = (size_t)a.B * a.Tq * HD;
    t->nk = (size_t)a.B * a.Tk * HD;
    t->nl = (size_t)a.B * a.H * a.Tq;
    t->q = gc_zalloc(t->nq);
    t->k = gc_zalloc(t->nk);
    t->v = gc_zalloc(t->nk);
    t->out = gc_zalloc(t->nq);
    t->proj = gc_zalloc(t->nq);
    t->lse = gc_zalloc(t->nl);
    t->scratch = gc_zalloc(k_attention_scratch_floats(&a));
    gc_fill_uniform(t->q, t->nq, &seed, -1.5f, 1.5f);
    gc_fill_uniform(t->k, t->nk, &seed, -1.5f, 1.5f);
    gc_fill_uniform(t->v, t->nk, &seed, -1, 1);
    gc_fill_uniform(t->proj, t->nq, &seed, -1, 1);
}

static void att_free(att *t)
{
    free(t->q); free(t->k); free(t->v); free(t->out); free(t->proj); free(t->lse);
    free(t->scratch);
}

static double att_loss(void *p)
{
    att *t = p;
    k_attention_forward(t->out, t->lse, t->q, t->k, t->v, t->scratch, &t->a);
    return gc_dot(t->out, t->proj, t->nq);
}

/* Naive reference for query row i of (b, h): out row (d values) and lse, in double. */
static void naive_row(const att *t, int b, int h, int i, double *o, double *lse)
{
    const k_attn_dims *a = &t->a;
    size_t HD = (size_t)a->H * a->d;
    double scale = a->scale > 0 ? a->scale : 1.0 / sqrt(a->d);
    const float *qi = t->q + ((size_t)b * a->Tq + i) * HD + (size_t)h * a->d;
    double *s = malloc((size_t)a->Tk * sizeof *s);
    double m = -INFINITY;
    int n = a->causal ? (i + 1 < a->Tk ? i + 1 : a->Tk) : a->Tk;
    for (int j = 0; j < n; j++) {
        const float *kj = t->k + ((size_t)b * a->Tk + j) * HD + (size_t)h * a->d;
        double acc = 0;
        for (int c = 0; c < a->d; c++)
            acc += (double)qi[c] * kj[c];
        s[j] = acc * scale;
        m = s[j] > m ? s[j] : m;
    }
    double z = 0;
    for (int j = 0; j < n; j++)
        z += exp(s[j] - m);
    for (int c = 0; c < a->d; c++)
        o[c] = 0;
    for (int j = 0; j < n; j++) {
        const float *vj = t->v + ((size_t)b * a->Tk + j) * HD + (size_t)h * a->d;
        double p = exp(s[j] - m) / z;
        for (int c = 0; c < a->d; c++)
            o[c] += p * vj[c];
    }
    *lse = m + log(z);
    free(s);
}

/* Compares out and lse of rows i = 0, step, 2·step, ... of every (b, h) with the reference. */
static size_t check_forward(const char *tag, att *t, int step)
{
    const k_attn_dims *a = &t->a;
    size_t HD = (size_t)a->H * a->d, bad = 0, n = 0;
    double o[512], l, worst = 0;
    k_attention_forward(t->out, t->lse, t->q, t->k, t->v, t->scratch, a);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++)
            for (int i = 0; i < a->Tq; i += step) {
                naive_row(t, b, h, i, o, &l);
                const float *got = t->out + ((size_t)b * a->Tq + i) * HD + (size_t)h * a->d;
                for (int c = 0; c < a->d; c++) {
                    double e = fabs(got[c] - o[c]);
                    worst = e > worst ? e : worst;
                    bad += !(e <= 2e-5 + 1e-4 * fabs(o[c]));
                    n++;
                }
                double le = fabs(t->lse[((size_t)b * a->H + h) * a->Tq + i] - l);
                bad += !(le <= 2e-5 + 1e-5 * fabs(l));
                n++;
            }
    printf("%-40s %s  %zu values vs naive double, worst abs err %.2g\n", tag,
           bad ? "FAIL" : "ok  ", n, worst);
    return bad;
}

static size_t check_grads(const char *tag, k_attn_dims a, uint64_t seed, size_t max_checks)
{
    att t;
    att_setup(&t, a, seed);
    char name[128];
    snprintf(name, sizeof name, "%s forward", tag);
    size_t fails = check_forward(name, &t, 1);

    float *dq = gc_zalloc(t.nq), *dk = gc_zalloc(t.nk), *dv = gc_zalloc(t.nk);
    k_attention_forward(t.out, t.lse, t.q, t.k, t.v, t.scratch, &t.a);
    k_attention_backward(dq, dk, dv, t.proj, t.q, t.k, t.v, t.out, t.lse, t.scratch, &t.a);
    gc_opts o = gc_default_opts();
    o.max_checks = max_checks;
    snprintf(name, sizeof name, "%s dq", tag);
    fails += gc_check(name, att_loss, &t, t.q, dq, t.nq, &o);
    snprintf(name, sizeof name, "%s dk", tag);
    fails += gc_check(name, att_loss, &t, t.k, dk, t.nk, &o);
    snprintf(name, sizeof name, "%s dv", tag);
    fails += gc_check(name, att_loss, &t, t.v, dv, t.nk, &o);

    /* accumulation, and NULL gradients skipped: dk alone onto ones must be 1 + dk */
    float *dk2 = gc_zalloc(t.nk);
    for (size_t i = 0; i < t.nk; i++)
        dk2[i] = 1.0f;
    k_attention_forward(t.out, t.lse, t.q, t.k, t.v, t.scratch, &t.a);
    k_attention_backward(NULL, dk2, NULL, t.proj, t.q, t.k, t.v, t.out, t.lse, t.scratch, &t.a);
    size_t bad = 0;
    for (size_t i = 0; i < t.nk; i++)
        bad += !(fabsf(dk2[i] - (1.0f + dk[i])) <= 1e-5f);
    printf("%-40s %s\n", "  accumulate into dk, dq/dv NULL", bad ? "FAIL" : "ok  ");
    fails += bad;
    free(dq); free(dk); free(dv); free(dk2);
    att_free(&t);
    return fails;
}

/* The same problem with tiny tiles and with one tile gives the same numbers. */
static size_t check_tiling(void)
{
    k_attn_dims a = { .B = 2, .Tq = 29, .Tk = 23, .H = 2, .d = 6 };
    att t1, t2;
    att_setup(&t1, a, 77);
    a.tile_q = 5;
    a.tile_k = 4;
    att_setup(&t2, a, 77);
    k_attention_forward(t1.out, t1.lse, t1.q, t1.k, t1.v, t1.scratch, &t1.a);
    k_attention_forward(t2.out, t2.lse, t2.q, t2.k, t2.v, t2.scratch, &t2.a);
    size_t fails = gc_expect_close("tiles 5x4 vs one tile: out", t2.out, t1.out, t1.nq, 1e-6,
                                   1e-5);
    fails += gc_expect_close("tiles 5x4 vs one tile: lse", t2.lse, t1.lse, t1.nl, 1e-6, 1e-6);
    size_t s1 = k_attention_scratch_floats(&t1.a), s2 = k_attention_scratch_floats(&t2.a);
    printf("%-40s %s  %zu vs %zu floats\n", "scratch shrinks with the tiles",
           s2 < s1 ? "ok  " : "FAIL", s2, s1);
    fails += s2 >= s1;
    att_free(&t1);
    att_free(&t2);
    return fails;
}

/* One thread and all threads give bit-identical results (units never share a sum). */
static size_t check_threads(void)
{
#ifdef _OPENMP
    k_attn_dims a = { .B = 2, .Tq = 70, .Tk = 45, .H = 3, .d = 5, .causal = 1, .tile_q = 16,
                      .tile_k = 16 };
    att t;
    int saved = omp_get_max_threads();
    omp_set_num_threads(saved > 1 ? saved : 2);
    att_setup(&t, a, 8); /* scratch sized for the larger thread count */
    float *o1 = gc_zalloc(t.nq), *dq1 = gc_zalloc(t.nq), *dk1 = gc_zalloc(t.nk);
    float *dq2 = gc_zalloc(t.nq), *dk2 = gc_zalloc(t.nk);
    k_attention_forward(t.out, t.lse, t.q, t.k, t.v, t.scratch, &t.a);
    k_attention_backward(dq2, dk2, NULL, t.proj, t.q, t.k, t.v, t.out, t.lse, t.scratch, &t.a);
    memcpy(o1, t.out, t.nq * sizeof *o1);
    omp_set_num_threads(1);
    k_attention_forward(t.out, t.lse, t.q, t.k, t.v, t.scratch, &t.a);
    k_attention_backward(dq1, dk1, NULL, t.proj, t.q, t.k, t.v, t.out, t.lse, t.scratch, &t.a);
    omp_set_num_threads(saved);
    int same = !memcmp(o1, t.out, t.nq * sizeof *o1) && !memcmp(dq1, dq2, t.nq * sizeof *dq1) &&
               !memcmp(dk1, dk2, t.nk * sizeof *dk1);
    printf("%-40s %s\n", "1 thread vs many: bit-identical", same ? "ok  " : "FAIL");
    free(o1); free(dq1); free(dk1); free(dq2); free(dk2);
    att_free(&t);
    return !same;
#else
    return 0;
#endif
}

/* SD1.5 at 512 px: 4096 latent tokens, 8 heads of 40. */
static size_t check_sd_size(void)
{
    k_attn_dims sd = { .B = 2, .Tq = 4096, .Tk = 4096, .H = 8, .d = 40 };
    size_t s = k_attention_scratch_floats(&sd), full = (size_t)4096 * 4096;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    /* one 64 × 64 tile pair per thread, nothing that grows with T */
    int ok = s <= (size_t)threads * (2 * 64 * 64 + 3 * 64);
    printf("%-40s %s  %zu floats (one head's full scores: %zu)\n", "SD1.5 512px scratch (all threads)", ok ?
           "ok  " : "FAIL", s, full);
    size_t fails = !ok;

    /* one head at full length, causal off: forward vs naive on sampled rows, finite grads */
    k_attn_dims one = { .B = 1, .Tq = 4096, .Tk = 4096, .H = 1, .d = 40 };
    att t;
    att_setup(&t, one, 91);
    fails += check_forward("4096 tokens x d40, every 331st row", &t, 331);
    float *dq = gc_zalloc(t.nq), *dk = gc_zalloc(t.nk), *dv = gc_zalloc(t.nk);
    k_attention_backward(dq, dk, dv, t.proj, t.q, t.k, t.v, t.out, t.lse, t.scratch, &t.a);
    size_t nonfinite = 0;
    double sv = 0, so = 0;
    for (size_t i = 0; i < t.nk; i++) {
        nonfinite += !isfinite(dq[i]) + !isfinite(dk[i]) + !isfinite(dv[i]);
        sv += dv[i];
    }
    /* Σ_j dv_j = Σ_i dout_i since every row of P sums to 1 */
    for (size_t i = 0; i < t.nq; i++)
        so += t.proj[i];
    int sum_ok = fabs(sv - so) <= 1e-3 * (1 + fabs(so));
    printf("%-40s %s  Σdv %.6g Σdout %.6g\n", "4096 tokens backward: finite, Σdv = Σdout",
           !nonfinite && sum_ok ? "ok  " : "FAIL", sv, so);
    fails += nonfinite + !sum_ok;
    free(dq); free(dk); free(dv);
    att_free(&t);
    return fails;
}

int main(void)
{
    size_t fails = 0;
    fails += check_grads("self B2 H2 d5 T13 tiles 4x3",
                         (k_attn_dims){ .B = 2, .Tq = 13, .Tk = 13, .H = 2, .d = 5,
                                        .tile_q = 4, .tile_k = 3 }, 1, 0);
    fails += check_grads("causal B2 H2 d5 T13 tiles 4x3",
                         (k_attn_dims){ .B = 2, .Tq = 13, .Tk = 13, .H = 2, .d = 5, .causal = 1,
                                        .tile_q = 4, .tile_k = 3 }, 2, 0);
    fails += check_grads("cross B2 H3 d5 Tq11 Tk7 tiles 4x4",
                         (k_attn_dims){ .B = 2, .Tq = 11, .Tk = 7, .H = 3, .d = 5,
                                        .tile_q = 4, .tile_k = 4 }, 3, 0);
    fails += check_grads("causal Tq6 Tk9 tiles 4x2",
                         (k_attn_dims){ .B = 1, .Tq = 6, .Tk = 9, .H = 2, .d = 5, .causal = 1,
                                        .tile_q = 4, .tile_k = 2 }, 4, 0);
    fails += check_grads("CLIP-like causal T77 H2 d8 default tiles",
                         (k_attn_dims){ .B = 1, .Tq = 77, .Tk = 77, .H = 2, .d = 8,
                                        .causal = 1 }, 5, 300);
    fails += check_grads("cross Tq150 Tk77 H1 d5 scale 0.3",
                         (k_attn_dims){ .B = 1, .Tq = 150, .Tk = 77, .H = 1, .d = 5,
                                        .scale = 0.3f, .tile_q = 64, .tile_k = 32 }, 6, 300);
    att t;
    att_setup(&t, (k_attn_dims){ .B = 1, .Tq = 300, .Tk = 700, .H = 2, .d = 40 }, 7);
    fails += check_forward("cross Tq300 Tk700 d40 default tiles", &t, 7);
    att_free(&t);
    fails += check_tiling();
    fails += check_threads();
    fails += check_sd_size();
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
