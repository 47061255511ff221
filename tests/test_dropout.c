/* test_dropout.c — the counter-based RNG, dropout and Gaussian noise: Philox4x32-10 against
 * Random123's known-answer vectors; dropout rate within 5σ of p, identical masks for an
 * identical (seed, offset) and the offset acting as a shift of the stream, kept elements
 * scaled by 1/(1−p), the backward passing gradient only through kept elements (stored mask
 * and recomputed mask alike), p = 0 and p = 1, a finite-difference check; randn mean,
 * variance and P(|z| < 1) within bounds and reproducible; rand's mean. */
#include "kernels/kernels.h"
#include "kernels/rng.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_STAT 200000

static size_t check_philox(void)
{
    static const uint32_t ctr[3][4] = { { 0, 0, 0, 0 },
                                        { 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu },
                                        { 0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u } };
    static const uint32_t key[3][2] = { { 0, 0 }, { 0xffffffffu, 0xffffffffu },
                                        { 0xa4093822u, 0x299f31d0u } };
    static const uint32_t want[3][4] = {
        { 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u },
        { 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu },
        { 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u } };
    size_t bad = 0;
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        k_philox4x32_10(out, ctr[i], key[i]);
        bad += memcmp(out, want[i], sizeof out) != 0;
    }
    printf("%-40s %s\n", "philox4x32-10 known answers", bad ? "FAIL" : "ok  ");
    return bad;
}

typedef struct dd {
    float *inp, *out, *proj;
    float p;
    size_t n;
} dd;

static double dd_loss(void *q)
{
    dd *d = q;
    k_dropout_forward(d->out, NULL, d->inp, d->p, 1234, 99, d->n);
    return gc_dot(d->out, d->proj, d->n);
}

static size_t check_dropout(float p)
{
    size_t fails = 0, n = N_STAT;
    uint64_t s = 5;
    float *x = gc_zalloc(n), *y = gc_zalloc(n), *y2 = gc_zalloc(n), *dy = gc_zalloc(n);
    float *dx = gc_zalloc(n), *dx2 = gc_zalloc(n);
    uint8_t *m = malloc(n), *m2 = malloc(n);
    gc_fill_uniform(x, n, &s, -2, 2);
    gc_fill_uniform(dy, n, &s, -1, 1);
    const uint64_t seed = 0x5eedULL, off = 1000;
    k_dropout_forward(y, m, x, p, seed, off, n);

    size_t kept = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        kept += m[i];
        float want = m[i] ? x[i] * (1.0f / (1.0f - p)) : 0.0f;
        bad += y[i] != want || m[i] != k_dropout_keep(p, seed, off, i);
    }
    double rate = 1.0 - (double)kept / n, sigma = sqrt(p * (1.0 - p) / n);
    int rate_ok = fabs(rate - p) <= 5 * sigma;
    printf("dropout p=%.2f %-25s %s  drop rate %.5f (±%.5f)\n", p, "rate and values",
           rate_ok && !bad ? "ok  " : "FAIL", rate, 5 * sigma);
    fails += !rate_ok + bad;

    /* same (seed, offset) -> same mask; offset + 7 is the stream shifted by 7; new seed differs */
    k_dropout_forward(y2, m2, x, p, seed, off, n);
    bad = memcmp(m, m2, n) != 0 || memcmp(y, y2, n * sizeof *y) != 0;
    k_dropout_forward(y2, m2, x, p, seed, off + 7, n);
    bad += memcmp(m + 7, m2, n - 7) != 0;
    k_dropout_forward(y2, m2, x, p, seed + 1, off, n);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += m[i] == m2[i];
    bad += same == n;
    printf("dropout p=%.2f %-25s %s\n", p, "reproducible masks", bad ? "FAIL" : "ok  ");
    fails += bad;

    /* backward: stored mask == recomputed mask; only kept elements, scaled; accumulates */
    for (size_t i = 0; i < n; i++)
        dx[i] = dx2[i] = 0.25f;
    k_dropout_backward(dx, dy, m, p, seed, off, n);
    k_dropout_backward(dx2, dy, NULL, p, seed, off, n);
    bad = memcmp(dx, dx2, n * sizeof *dx) != 0;
    for (size_t i = 0; i < n; i++)
        bad += dx[i] != (m[i] ? 0.25f + dy[i] * (1.0f / (1.0f - p)) : 0.25f);
    printf("dropout p=%.2f %-25s %s\n", p, "backward through kept only", bad ? "FAIL" : "ok  ");
    fails += bad;

    /* in place gives the same as out of place */
    memcpy(y2, x, n * sizeof *x);
    k_dropout_forward(y2, NULL, y2, p, seed, off, n);
    bad = memcmp(y, y2, n * sizeof *y) != 0;
    printf("dropout p=%.2f %-25s %s\n", p, "in place", bad ? "FAIL" : "ok  ");
    fails += bad;

    /* finite differences on a short stretch */
    dd d = { x, y, dy, p, 257 };
    memset(dx, 0, n * sizeof *dx);
    k_dropout_backward(dx, dy, NULL, p, 1234, 99, d.n);
    char name[64];
    snprintf(name, sizeof name, "dropout p=%.2f dinp", p);
    fails += gc_check(name, dd_loss, &d, x, dx, d.n, NULL);

    free(x); free(y); free(y2); free(dy); free(dx); free(dx2); free(m); free(m2);
    return fails;
}

static size_t check_edges(void)
{
    float x[5] = { 1, -2, 3, -4, 5 }, y[5], d[5] = { 0 }, g[5] = { 1, 1, 1, 1, 1 };
    size_t bad = 0;
    k_dropout_forward(y, NULL, x, 0.0f, 1, 0, 5);
    bad += memcmp(x, y, sizeof x) != 0;
    k_dropout_backward(d, g, NULL, 0.0f, 1, 0, 5);
    for (int i = 0; i < 5; i++)
        bad += d[i] != 1.0f;
    k_dropout_forward(y, NULL, x, 1.0f, 1, 0, 5);
    k_dropout_backward(d, g, NULL, 1.0f, 1, 0, 5);
    for (int i = 0; i < 5; i++)
        bad += y[i] != 0.0f || d[i] != 1.0f;
    printf("%-40s %s\n", "dropout p = 0 copies, p = 1 zeros", bad ? "FAIL" : "ok  ");
    return bad;
}

static size_t check_randn(void)
{
    size_t n = N_STAT, fails = 0;
    float *z = gc_zalloc(n), *z2 = gc_zalloc(n), *u = gc_zalloc(n);
    k_randn(z, n, 42, 0);
    double s = 0, s2 = 0;
    size_t inside = 0, nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        s += z[i];
        s2 += (double)z[i] * z[i];
        inside += fabsf(z[i]) < 1.0f;
        nonfinite += !isfinite(z[i]);
    }
    double mean = s / n, var = s2 / n - mean * mean, frac = (double)inside / n;
    /* 5σ bounds: mean 1/√n, variance √(2/n), P(|z|<1) = 0.682689 with binomial σ */
    int ok = fabs(mean) < 5 / sqrt(n) && fabs(var - 1) < 5 * sqrt(2.0 / n) &&
             fabs(frac - 0.682689) < 5 * sqrt(0.682689 * 0.317311 / n) && !nonfinite;
    printf("%-40s %s  mean %.5f var %.5f P(|z|<1) %.5f\n", "randn moments", ok ? "ok  " : "FAIL",
           mean, var, frac);
    fails += !ok;

    k_randn(z2, n, 42, 0);
    size_t bad = memcmp(z, z2, n * sizeof *z) != 0;
    k_randn(z2, n - 100, 42, 100);
    bad += memcmp(z + 100, z2, (n - 100) * sizeof *z) != 0;
    k_randn(z2, n, 43, 0);
    bad += memcmp(z, z2, n * sizeof *z) == 0;
    printf("%-40s %s\n", "randn reproducible from (seed, offset)", bad ? "FAIL" : "ok  ");
    fails += bad;

    k_rand(u, n, 42, 0);
    s = 0;
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        s += u[i];
        bad += !(u[i] >= 0.0f && u[i] < 1.0f);
    }
    ok = !bad && fabs(s / n - 0.5) < 5 * sqrt(1.0 / 12 / n);
    printf("%-40s %s  mean %.5f\n", "rand in [0, 1), mean 1/2", ok ? "ok  " : "FAIL", s / n);
    fails += !ok;
    free(z); free(z2); free(u);
    return fails;
}

int main(void)
{
    size_t fails = check_philox() + check_dropout(0.1f) + check_dropout(0.5f) + check_edges() +
                   check_randn();
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
