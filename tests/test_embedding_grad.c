/* test_embedding_grad.c — token + position embedding (CLIP): forward values, dtok and dpos
 * against finite differences with repeated ids and batch > 1, accumulation, out-of-range ids;
 * sinusoidal timestep embedding: SD's setting at t = 0 and t = 1 for dim 8 (hand-computed),
 * diffusers' default setting with an odd dim, and SDXL's 256-dim size embedding at large
 * values against the formula in double. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct emb {
    int B, T, C, V;
    int32_t *ids;
    float *tok, *pos, *out, *proj;
} emb;

static double emb_loss(void *p)
{
    emb *e = p;
    k_embedding_forward(e->out, e->ids, e->tok, e->pos, e->B, e->T, e->C, e->V);
    return gc_dot(e->out, e->proj, (size_t)e->B * e->T * e->C);
}

static size_t check_token_position(void)
{
    emb e = { .B = 3, .T = 7, .C = 5, .V = 6 };
    size_t n = (size_t)e.B * e.T * e.C;
    uint64_t seed = 11;
    e.ids = malloc((size_t)e.B * e.T * sizeof *e.ids);
    for (int i = 0; i < e.B * e.T; i++)
        e.ids[i] = (i * 5 + 1) % e.V; /* every id repeats */
    e.tok = gc_zalloc((size_t)e.V * e.C);
    e.pos = gc_zalloc((size_t)(e.T + 2) * e.C); /* a longer table, as CLIP's 77 rows */
    e.out = gc_zalloc(n);
    e.proj = gc_zalloc(n);
    gc_fill_uniform(e.tok, (size_t)e.V * e.C, &seed, -1, 1);
    gc_fill_uniform(e.pos, (size_t)(e.T + 2) * e.C, &seed, -1, 1);
    gc_fill_uniform(e.proj, n, &seed, -1, 1);

    size_t fails = 0, bad = 0;
    fails += k_embedding_forward(e.out, e.ids, e.tok, e.pos, e.B, e.T, e.C, e.V) != 0;
    for (int b = 0; b < e.B; b++)
        for (int t = 0; t < e.T; t++)
            for (int c = 0; c < e.C; c++) {
                float want = e.tok[(size_t)e.ids[b * e.T + t] * e.C + c] + e.pos[t * e.C + c];
                bad += e.out[((size_t)b * e.T + t) * e.C + c] != want;
            }
    printf("%-40s %s\n", "embedding forward values", bad ? "FAIL" : "ok  ");
    fails += bad;

    float *dtok = gc_zalloc((size_t)e.V * e.C), *dpos = gc_zalloc((size_t)(e.T + 2) * e.C);
    k_embedding_backward(dtok, dpos, e.proj, e.ids, e.B, e.T, e.C, e.V);
    fails += gc_check("embedding dtok (repeated ids)", emb_loss, &e, e.tok, dtok,
                      (size_t)e.V * e.C, NULL);
    fails += gc_check("embedding dpos (rows ≥ T untouched)", emb_loss, &e, e.pos, dpos,
                      (size_t)(e.T + 2) * e.C, NULL);

    /* accumulate: a second backward doubles the gradients */
    float *d2 = gc_zalloc((size_t)e.V * e.C);
    k_embedding_backward(d2, NULL, e.proj, e.ids, e.B, e.T, e.C, e.V);
    k_embedding_backward(d2, NULL, e.proj, e.ids, e.B, e.T, e.C, e.V);
    bad = 0;
    for (int i = 0; i < e.V * e.C; i++)
        bad += fabsf(d2[i] - 2 * dtok[i]) > 1e-6f;
    printf("%-40s %s\n", "embedding backward accumulates", bad ? "FAIL" : "ok  ");
    fails += bad;

    /* an id out of range: reported, zero token row, skipped in backward */
    e.ids[4] = e.V;
    int rc = k_embedding_forward(e.out, e.ids, e.tok, NULL, e.B, e.T, e.C, e.V);
    bad = rc != -1;
    for (int c = 0; c < e.C; c++)
        bad += e.out[4 * e.C + c] != 0.0f;
    k_embedding_backward(d2, NULL, e.proj, e.ids, e.B, e.T, e.C, e.V); /* must not write OOB */
    printf("%-40s %s\n", "embedding id out of range", bad ? "FAIL" : "ok  ");
    fails += bad;

    free(e.ids); free(e.tok); free(e.pos); free(e.out); free(e.proj);
    free(dtok); free(dpos); free(d2);
    return fails;
}

static size_t check_timestep(void)
{
    size_t fails = 0;
    float t[2] = { 0, 1 }, out[16];
    /* SD: cos half first, freq_i = 10000^(−i/4) = 1, 0.1, 0.01, 0.001 */
    static const float want[16] = { 1, 1, 1, 1, 0, 0, 0, 0,
                                    0.5403023f, 0.9950042f, 0.99995f, 0.9999995f,
                                    0.8414710f, 0.0998334f, 0.0099998f, 0.001f };
    k_timestep_embedding_sd(out, t, 2, 8);
    fails += gc_expect_close("timestep SD dim 8, t = 0 and 1", out, want, 16, 1e-6, 1e-6);

    /* diffusers' defaults (sin first, shift 1), odd dim 7 pads a zero; t = 3 */
    float t3 = 3, o7[7];
    static const float want7[7] = { 0.1411200f, 0.0299955f, 0.0003f, -0.9899925f, 0.9995500f,
                                    1.0f, 0.0f };
    for (int i = 0; i < 7; i++)
        o7[i] = 42;
    k_timestep_embedding(o7, &t3, 1, 7, 0, 1.0f, 10000.0f);
    fails += gc_expect_close("timestep sin-first shift 1 dim 7", o7, want7, 7, 1e-6, 1e-5);

    /* SDXL size conditioning: dim 256 of values up to 1024; f32 argument rounding as torch */
    float sz[3] = { 1024, 768, 64 }, *o = gc_zalloc(3 * 256), *w = gc_zalloc(3 * 256);
    k_timestep_embedding_sd(o, sz, 3, 256);
    for (int n = 0; n < 3; n++)
        for (int i = 0; i < 128; i++) {
            double arg = sz[n] * exp(-log(10000.0) * i / 128.0);
            w[n * 256 + i] = (float)cos(arg);
            w[n * 256 + 128 + i] = (float)sin(arg);
        }
    fails += gc_expect_close("SDXL size embedding dim 256", o, w, 3 * 256, 3e-4, 0);
    free(o);
    free(w);
    return fails;
}

int main(void)
{
    size_t fails = check_token_position() + check_timestep();
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
