/* test_loss_grad.c — sd-scripts' losses (l2, l1, huber, smooth_l1) with per-sample weights
 * and per-sample Huber c: hand-computed elementwise values (d = 3, c = 4: Huber 8,
 * smooth-L1 2), a hand-computed batch reduction (mean over C·H·W, × weight, mean over the
 * batch), dpred against finite differences for each type with dloss ≠ 1, accumulation, and
 * the name table. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static size_t check_values(void)
{
    size_t fails = 0;
    /* one sample, one element, d = pred − target = 3, c = 4 */
    float pred = 5, target = 2, c = 4, loss, want;
    static const float expect[4] = { 9, 3, 8, 2 };
    for (int t = 0; t < 4; t++) {
        k_loss_forward(&loss, NULL, &pred, &target, NULL, &c, (k_loss_type)t, 1, 1);
        want = expect[t];
        char name[64];
        snprintf(name, sizeof name, "%s at d = 3, c = 4", k_loss_type_name((k_loss_type)t));
        fails += gc_expect_close(name, &loss, &want, 1, 1e-6, 1e-6);
    }
    /* batch of 2, M = 4: mean per sample × weight, then mean over the batch.
     * sample 0: d = 1, −1, 2, 0 -> l2 mean 6/4 = 1.5, × 2 = 3
     * sample 1: d = 3, 0, 0, −3 -> l2 mean 18/4 = 4.5, × 0.5 = 2.25;  loss = 2.625 */
    float p[8] = { 1, -1, 2, 0, 3, 0, 0, -3 }, tg[8] = { 0 }, w[2] = { 2, 0.5f }, ps[2];
    float cc[2] = { 1, 4 };
    k_loss_forward(&loss, ps, p, tg, w, NULL, K_LOSS_L2, 2, 4);
    float want_ps[2] = { 3, 2.25f }, want_l = 2.625f;
    fails += gc_expect_close("l2 batch per-sample", ps, want_ps, 2, 1e-6, 1e-6);
    fails += gc_expect_close("l2 batch loss", &loss, &want_l, 1, 1e-6, 1e-6);
    /* huber with per-sample c: sample 0 (c = 1): 2(√2−1)·2 + 2(√5−1) = 4√2 − 4 + 2√5 − 2;
     * sample 1 (c = 4): 2·4·(5−4)·2 = 16. */
    k_loss_forward(&loss, ps, p, tg, w, cc, K_LOSS_HUBER, 2, 4);
    double s0 = (4 * sqrt(2.0) - 4 + 2 * sqrt(5.0) - 2) / 4 * 2, s1 = 16.0 / 4 * 0.5;
    float want_h[2] = { (float)s0, (float)s1 }, want_hl = (float)((s0 + s1) / 2);
    fails += gc_expect_close("huber per-sample c", ps, want_h, 2, 1e-6, 1e-6);
    fails += gc_expect_close("huber batch loss", &loss, &want_hl, 1, 1e-6, 1e-6);

    size_t bad = 0;
    for (int t = 0; t < 4; t++)
        bad += k_loss_type_from_name(k_loss_type_name((k_loss_type)t)) != t;
    bad += k_loss_type_from_name("mse") != -1;
    printf("%-40s %s\n", "loss type names", bad ? "FAIL" : "ok  ");
    return fails + bad;
}

typedef struct lc {
    k_loss_type type;
    int N;
    size_t M;
    float *pred, *target, *w, *c;
    float dloss;
} lc;

static double lc_loss(void *q)
{
    lc *l = q;
    float loss;
    k_loss_forward(&loss, NULL, l->pred, l->target, l->w, l->c, l->type, l->N, l->M);
    return (double)loss * l->dloss;
}

static size_t check_grad(k_loss_type type, int N, size_t M, uint64_t seed)
{
    lc l = { type, N, M, gc_zalloc(N * M), gc_zalloc(N * M), gc_zalloc(N), gc_zalloc(N), 2.5f };
    gc_fill_uniform(l.target, N * M, &seed, -1, 1);
    gc_fill_uniform(l.w, N, &seed, 0.2f, 2);
    gc_fill_uniform(l.c, N, &seed, 0.05f, 1);
    /* |d| ≥ 0.1 keeps L1's kink out of reach of the ±h step */
    float *mag = gc_zalloc(N * M);
    gc_fill_uniform(mag, N * M, &seed, 0.1f, 2);
    for (size_t i = 0; i < N * M; i++)
        l.pred[i] = l.target[i] + (i % 3 ? mag[i] : -mag[i]);

    float *g = gc_zalloc(N * M), *g2 = gc_zalloc(N * M);
    k_loss_backward(g, &l.dloss, l.pred, l.target, l.w, l.c, type, N, M);
    gc_opts o = gc_default_opts();
    o.atol = 5e-5; /* gradients are O(1/(N·M)) ≈ 1e-3..5e-2; f32 loss noise / 2h ≈ 1e-5 */
    char name[64];
    snprintf(name, sizeof name, "%s N=%d M=%zu dpred", k_loss_type_name(type), N, M);
    size_t fails = gc_check(name, lc_loss, &l, l.pred, g, N * M, &o);

    for (size_t i = 0; i < N * M; i++)
        g2[i] = 1.0f;
    k_loss_backward(g2, &l.dloss, l.pred, l.target, l.w, l.c, type, N, M);
    size_t bad = 0;
    for (size_t i = 0; i < N * M; i++)
        bad += fabsf(g2[i] - (1.0f + g[i])) > 1e-6f;
    printf("%-40s %s\n", "  accumulate", bad ? "FAIL" : "ok  ");
    free(l.pred); free(l.target); free(l.w); free(l.c); free(mag); free(g); free(g2);
    return fails + bad;
}

/* The OpenMP path (M large): forward against a double sum, backward against the formula
 * element by element (finite differences cannot resolve an f32 loss over 10⁵ elements). */
static size_t check_large(k_loss_type type, int N, size_t M, uint64_t seed)
{
    size_t n = (size_t)N * M;
    float *p = gc_zalloc(n), *t = gc_zalloc(n), *g = gc_zalloc(n), w[4], c[4], loss, ps[4];
    gc_fill_uniform(p, n, &seed, -2, 2);
    gc_fill_uniform(t, n, &seed, -2, 2);
    gc_fill_uniform(w, N, &seed, 0.2f, 2);
    gc_fill_uniform(c, N, &seed, 0.05f, 1);
    float dloss = 0.75f;
    k_loss_forward(&loss, ps, p, t, w, c, type, N, M);
    k_loss_backward(g, &dloss, p, t, w, c, type, N, M);
    double total = 0;
    size_t bad = 0;
    for (int s = 0; s < N; s++) {
        double sum = 0;
        for (size_t i = 0; i < M; i++) {
            double d = (double)p[s * M + i] - t[s * M + i], cs = c[s], f, fp;
            if (type == K_LOSS_L2) {
                f = d * d;
                fp = 2 * d;
            } else {
                f = 2 * cs * (sqrt(d * d + cs * cs) - cs);
                fp = 2 * cs * d / sqrt(d * d + cs * cs);
            }
            sum += f;
            double want = dloss * w[s] / ((double)N * M) * fp;
            bad += !(fabs(g[s * M + i] - want) <= 1e-12 + 1e-5 * fabs(want));
        }
        total += sum / M * w[s];
        bad += !(fabs(ps[s] - sum / M * w[s]) <= 1e-5 * fabs(sum / M * w[s]));
    }
    bad += !(fabs(loss - total / N) <= 1e-5 * fabs(total / N));
    printf("%s N=%d M=%-26zu %s  loss %.6g\n", k_loss_type_name(type), N, M,
           bad ? "FAIL" : "ok  ", loss);
    free(p); free(t); free(g);
    return bad;
}

int main(void)
{
    size_t fails = check_values();
    for (int t = 0; t < 4; t++)
        fails += check_grad((k_loss_type)t, 3, 37, 100 + t);
    fails += check_large(K_LOSS_HUBER, 3, 40000, 7);
    fails += check_large(K_LOSS_L2, 2, 70001, 8);
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
