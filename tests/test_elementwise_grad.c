/* test_elementwise_grad.c — add, mul, scale, scaled add, per-channel broadcast add, nearest
 * 2× upsample, channel concat, sum, mean and per-sample mean: forward against hand-computed
 * values; every gradient against finite differences on odd shapes (N > 1, H ≠ W); in-place
 * forwards; reductions bit-identical for 1 and 2 threads. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { ADD, MUL, SCALE, ADD_SCALED, ADD_CHANNEL, UPSAMPLE, CONCAT, SUM, MEAN, MEAN_SAMPLE };

typedef struct ew {
    enum op op;
    int N, C, C2, H, W; /* shapes: see sizes() */
    size_t na, nb, no;  /* elements of input a, input b (0 if none) and out */
    float *a, *b, *out, *proj;
} ew;

static const float S_ALPHA = 0.7f, S_BETA = -1.3f;

static void sizes(ew *e)
{
    size_t img = (size_t)e->N * e->C * e->H * e->W;
    e->na = img;
    e->nb = 0;
    e->no = img;
    switch (e->op) {
    case ADD: case MUL: case ADD_SCALED: e->nb = img; break;
    case SCALE: break;
    case ADD_CHANNEL: e->nb = (size_t)e->N * e->C; break;
    case UPSAMPLE: e->no = 4 * img; break;
    case CONCAT: e->nb = (size_t)e->N * e->C2 * e->H * e->W; e->no = img + e->nb; break;
    case SUM: case MEAN: e->no = 1; break;
    case MEAN_SAMPLE: e->no = (size_t)e->N; break;
    }
}

static void forward(ew *e)
{
    int HW = e->H * e->W;
    switch (e->op) {
    case ADD: k_add_forward(e->out, e->a, e->b, e->na); break;
    case MUL: k_mul_forward(e->out, e->a, e->b, e->na); break;
    case SCALE: k_scale_forward(e->out, e->a, S_ALPHA, e->na); break;
    case ADD_SCALED: k_add_scaled_forward(e->out, e->a, e->b, S_ALPHA, S_BETA, e->na); break;
    case ADD_CHANNEL: k_add_channel_forward(e->out, e->a, e->b, e->N, e->C, HW); break;
    case UPSAMPLE: k_upsample2x_forward(e->out, e->a, e->N, e->C, e->H, e->W); break;
    case CONCAT: k_concat_forward(e->out, e->a, e->b, e->N, e->C, e->C2, HW); break;
    case SUM: k_sum_forward(e->out, e->a, e->na); break;
    case MEAN: k_mean_forward(e->out, e->a, e->na); break;
    case MEAN_SAMPLE: k_mean_per_sample_forward(e->out, e->a, e->N, e->na / e->N); break;
    }
}

static void backward(ew *e, float *da, float *db)
{
    int HW = e->H * e->W;
    const float *g = e->proj;
    switch (e->op) {
    case ADD: k_add_backward(da, db, g, e->na); break;
    case MUL: k_mul_backward(da, db, g, e->a, e->b, e->na); break;
    case SCALE: k_scale_backward(da, g, S_ALPHA, e->na); break;
    case ADD_SCALED: k_add_scaled_backward(da, db, g, S_ALPHA, S_BETA, e->na); break;
    case ADD_CHANNEL: k_add_channel_backward(da, db, g, e->N, e->C, HW); break;
    case UPSAMPLE: k_upsample2x_backward(da, g, e->N, e->C, e->H, e->W); break;
    case CONCAT: k_concat_backward(da, db, g, e->N, e->C, e->C2, HW); break;
    case SUM: k_sum_backward(da, g, e->na); break;
    case MEAN: k_mean_backward(da, g, e->na); break;
    case MEAN_SAMPLE: k_mean_per_sample_backward(da, g, e->N, e->na / e->N); break;
    }
}

static double ew_loss(void *p)
{
    ew *e = p;
    forward(e);
    return gc_dot(e->out, e->proj, e->no);
}

static size_t check(const char *tag, enum op op, int N, int C, int C2, int H, int W,
                    uint64_t seed)
{
    ew e = { op, N, C, C2, H, W, 0, 0, 0, NULL, NULL, NULL, NULL };
    sizes(&e);
    e.a = gc_zalloc(e.na);
    e.b = e.nb ? gc_zalloc(e.nb) : NULL;
    e.out = gc_zalloc(e.no);
    e.proj = gc_zalloc(e.no);
    gc_fill_uniform(e.a, e.na, &seed, -1, 1);
    if (e.b)
        gc_fill_uniform(e.b, e.nb, &seed, -1, 1);
    gc_fill_uniform(e.proj, e.no, &seed, -1, 1);
    float *da = gc_zalloc(e.na), *db = e.nb ? gc_zalloc(e.nb) : NULL;
    backward(&e, da, db);
    gc_opts o = gc_default_opts();
    o.max_checks = 300;
    /* The mean's gradients are tiny (1/n): scale the absolute tolerance to the gradient. */
    double gmax = 0;
    for (size_t i = 0; i < e.na; i++)
        gmax = da[i] > gmax ? da[i] : -da[i] > gmax ? -da[i] : gmax;
    o.atol = 1e-3 * gmax;
    char name[96];
    snprintf(name, sizeof name, "%s %dx%dx%dx%d da", tag, N, C, H, W);
    size_t fails = gc_check(name, ew_loss, &e, e.a, da, e.na, &o);
    if (e.b) {
        snprintf(name, sizeof name, "%s %dx%dx%dx%d db", tag, N, C, H, W);
        fails += gc_check(name, ew_loss, &e, e.b, db, e.nb, &o);
        /* NULL skips one gradient without changing the other */
        float *da2 = gc_zalloc(e.na);
        backward(&e, da2, NULL);
        fails += memcmp(da, da2, e.na * sizeof *da) != 0;
        free(da2);
    }
    free(e.a); free(e.b); free(e.out); free(e.proj); free(da); free(db);
    return fails;
}

static size_t check_values(void)
{
    size_t f = 0;
    float a[6] = { 1, 2, 3, 4, 5, 6 }, b[6] = { 0.5f, -1, 2, 0, 1, -2 }, y[24];
    float want_add[6] = { 1.5f, 1, 5, 4, 6, 4 }, want_mul[6] = { 0.5f, -2, 6, 0, 5, -12 };
    k_add_forward(y, a, b, 6);
    f += gc_expect_close("add values", y, want_add, 6, 0, 0);
    k_mul_forward(y, a, b, 6);
    f += gc_expect_close("mul values", y, want_mul, 6, 0, 0);
    float want_as[6] = { 2.5f, 3.0f, 8.0f, 8.0f, 11.0f, 10.0f }; /* 2a + 1b */
    k_add_scaled_forward(y, a, b, 2.0f, 1.0f, 6);
    f += gc_expect_close("add_scaled values", y, want_as, 6, 0, 0);
    float want_sc[6] = { -0.5f, -1, -1.5f, -2, -2.5f, -3 };
    k_scale_forward(y, a, -0.5f, 6);
    f += gc_expect_close("scale values", y, want_sc, 6, 0, 0);
    /* N=1, C=2, HW=3: channel 0 gets +10, channel 1 gets −1; in place */
    float e[2] = { 10, -1 }, want_ch[6] = { 11, 12, 13, 3, 4, 5 };
    memcpy(y, a, sizeof a);
    k_add_channel_forward(y, y, e, 1, 2, 3);
    f += gc_expect_close("add_channel values (in place)", y, want_ch, 6, 0, 0);
    /* [[1,2,3],[4,5,6]] -> 4×6 */
    float want_up[24] = { 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3,
                          4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6 };
    k_upsample2x_forward(y, a, 1, 1, 2, 3);
    f += gc_expect_close("upsample2x values", y, want_up, 24, 0, 0);
    /* N=2: a has 1 channel of HW=1, b 2 channels: [a0 b0 b1 | a1 b2 b3] */
    float want_cat[6] = { 1, 0.5f, -1, 2, 2, 0 };
    k_concat_forward(y, a, b, 2, 1, 2, 1);
    f += gc_expect_close("concat values", y, want_cat, 6, 0, 0);
    float s, want_s = 21, want_m = 3.5f, want_ps[2] = { 2, 5 };
    k_sum_forward(&s, a, 6);
    f += gc_expect_close("sum values", &s, &want_s, 1, 0, 0);
    k_mean_forward(&s, a, 6);
    f += gc_expect_close("mean values", &s, &want_m, 1, 0, 0);
    k_mean_per_sample_forward(y, a, 2, 3);
    f += gc_expect_close("mean_per_sample values", y, want_ps, 2, 0, 0);
    return f;
}

/* The reduction order must not depend on the thread count. */
static size_t check_determinism(void)
{
    size_t n = 1000003;
    float *x = gc_zalloc(n), s1, s2, m1[3], m2[3];
    uint64_t seed = 99;
    gc_fill_uniform(x, n, &seed, -1, 1);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    k_sum_forward(&s1, x, n);
    k_mean_per_sample_forward(m1, x, 3, n / 3);
    omp_set_num_threads(2);
    k_sum_forward(&s2, x, n);
    k_mean_per_sample_forward(m2, x, 3, n / 3);
    omp_set_num_threads(saved);
    size_t bad = (memcmp(&s1, &s2, sizeof s1) != 0) + (memcmp(m1, m2, sizeof m1) != 0);
    printf("%-40s %s\n", "reductions independent of threads", bad ? "FAIL" : "ok");
    free(x);
    return bad;
}

int main(void)
{
    size_t f = check_values();
    f += check_determinism();
    f += check("add", ADD, 2, 3, 0, 5, 7, 61);
    f += check("mul", MUL, 2, 3, 0, 5, 7, 62);
    f += check("scale", SCALE, 2, 3, 0, 5, 7, 63);
    f += check("add_scaled", ADD_SCALED, 2, 3, 0, 5, 7, 64);
    f += check("add_channel", ADD_CHANNEL, 2, 5, 0, 3, 4, 65);
    f += check("upsample2x", UPSAMPLE, 2, 3, 0, 3, 5, 66);
    f += check("concat", CONCAT, 2, 3, 5, 3, 2, 67);
    f += check("sum", SUM, 2, 3, 0, 5, 7, 68);
    f += check("mean", MEAN, 2, 3, 0, 5, 7, 69);
    f += check("mean_per_sample", MEAN_SAMPLE, 3, 5, 0, 3, 4, 70);
    /* OpenMP paths */
    f += check("add_channel", ADD_CHANNEL, 2, 37, 0, 41, 45, 71);
    f += check("upsample2x", UPSAMPLE, 1, 7, 0, 50, 47, 72);
    f += check("concat", CONCAT, 2, 19, 17, 45, 41, 73);
    f += check("mean", MEAN, 1, 3, 0, 301, 233, 74);
    printf("%s\n", f ? "FAILED" : "all ok");
    return f ? 1 : 0;
}
