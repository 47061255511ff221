/* test_noise_schedule.c — the DDPM schedule, noising and loss weightings against
 * tests/fixtures/optim/noise.safetensors (diffusers' DDPMScheduler for betas / ᾱ / add_noise /
 * get_velocity, straight transcriptions of sd-scripts' functions for SNR, zero-terminal SNR,
 * weightings and Huber c, torch's bilinear Upsample), and for the random parts: timesteps in
 * [min, max) and roughly uniform, noise offset / pyramid / input perturbation statistics, and
 * identical results for an identical (seed, offset). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/safetensors.h"
#include "engine/train/loss_weight.h"
#include "engine/train/noise.h"
#include "engine/train/noise_schedule.h"
#include "kernels/ops_attention.h"


#include "tests/check.h"

static safetensors_file *fx;

static float *get(const char *name, size_t *n)
{
    const safetensors_tensor *t = safetensors_find(fx, name);
    if (!t) {
        CHECK(0, "fixture has no %s", name);
        exit(1);
    }
    float *buf = malloc(t->nelements * sizeof(float));
    if (t->dtype == DTYPE_I32) {
        int32_t *iv = malloc(t->nelements * sizeof(int32_t));
        memcpy(iv, t->data, t->nelements * sizeof(int32_t));
        for (size_t i = 0; i < t->nelements; i++)
            buf[i] = (float)iv[i];
        free(iv);
    } else {
        error_info err;
        safetensors_read_f32(t, buf, &err);
    }
    if (n)
        *n = t->nelements;
    return buf;
}

/* max |a − ref| / max |ref| */
static double rel(const float *a, const float *ref, size_t n)
{
    double e = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - ref[i]));
        m = fmax(m, fabs((double)ref[i]));
    }
    return e / m;
}

/* max elementwise relative error (for values spanning decades such as ᾱ and SNR) */
static double rel_each(const float *a, const float *ref, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++)
        if (ref[i] != 0 || a[i] != 0)
            e = fmax(e, fabs((double)a[i] - ref[i]) / fmax(fabs((double)ref[i]), 1e-30));
    return e;
}

static void report(const char *what, double e, double tol)
{
    printf("  %-28s error %.2e (tolerance %.0e)\n", what, e, tol);
    CHECK(e <= tol, "%s: error %.3g > %.1g", what, e, tol);
}

static void test_schedule(noise_schedule *ns)
{
    error_info err;
    CHECK(noise_schedule_init(ns, 0.00085, 0.012, 1000, &err) == 0, "init: %s", err.message);
    float *betas = get("betas", NULL), *ac = get("alphas_cumprod", NULL), *snr = get("all_snr", NULL);
    report("betas (diffusers)", rel_each(ns->betas, betas, 1000), 1e-6);
    report("alphas_cumprod (diffusers)", rel_each(ns->alphas_cumprod, ac, 1000), 1e-6);
    report("all_snr", rel_each(ns->all_snr, snr, 1000), 1e-5);
    noise_schedule z = *ns;
    noise_schedule_zero_terminal_snr(&z);
    float *zb = get("zts_betas", NULL), *zac = get("zts_alphas_cumprod", NULL);
    /* 1 − ᾱ_t/ᾱ_{t−1} of tiny ᾱ near T amplifies ulps: compare against the largest beta (1) */
    report("zero-terminal-SNR betas", rel(z.betas, zb, 1000), 1e-5);
    report("zero-terminal-SNR alphas_cumprod", rel(z.alphas_cumprod, zac, 1000), 1e-6);
    CHECK(z.alphas_cumprod[999] == 0 && zac[999] == 0, "terminal ᾱ must be 0");
    CHECK(memcmp(z.all_snr, ns->all_snr, sizeof z.all_snr) == 0, "all_snr must not change");
    CHECK(noise_schedule_init(&z, 0.00085, 0.012, 1, &err) != 0, "T = 1 must fail");
    free(betas), free(ac), free(snr), free(zb), free(zac);
}

static void test_add_noise(const noise_schedule *ns)
{
    size_t n;
    float *x0 = get("x0", &n), *eps = get("eps", NULL), *tf = get("timesteps", NULL);
    float *noisy = get("noisy", NULL), *vel = get("velocity", NULL);
    int t[2] = { (int)tf[0], (int)tf[1] };
    float *out = malloc(n * sizeof(float));
    noise_add(ns, out, x0, eps, t, 2, n / 2);
    report("add_noise (diffusers)", rel(out, noisy, n), 1e-6);
    noise_v_target(ns, out, x0, eps, t, 2, n / 2);
    report("v-target (get_velocity)", rel(out, vel, n), 1e-6);
    free(x0), free(eps), free(tf), free(noisy), free(vel), free(out);
}

static void test_weights(const noise_schedule *ns)
{
    size_t B;
    float *tf = get("w_timesteps", &B), *loss = get("loss", NULL);
    int t[16];
    for (size_t i = 0; i < B; i++)
        t[i] = (int)tf[i];
    float l[16], c[16];
    static const char *const names[] = { "min_snr_eps", "min_snr_v", "scale_v_pred", "v_pred_like",
                                         "debiased_eps", "debiased_v" };
    for (int k = 0; k < 6; k++) {
        memcpy(l, loss, B * sizeof(float));
        switch (k) {
        case 0: loss_weight_min_snr(l, t, (int)B, ns, 5.0, 0); break;
        case 1: loss_weight_min_snr(l, t, (int)B, ns, 5.0, 1); break;
        case 2: loss_weight_scale_v_pred_like_noise(l, t, (int)B, ns); break;
        case 3: loss_weight_add_v_pred_like(l, t, (int)B, ns, 0.3); break;
        case 4: loss_weight_debiased(l, t, (int)B, ns, 0); break;
        case 5: loss_weight_debiased(l, t, (int)B, ns, 1); break;
        }
        float *ref = get(names[k], NULL);
        report(names[k], rel_each(l, ref, B), 1e-6);
        free(ref);
    }
    static const char *const hn[] = { "huber_snr", "huber_exponential", "huber_constant" };
    static const char *const hs[] = { "snr", "exponential", "constant" };
    for (int k = 0; k < 3; k++) {
        int kind = huber_schedule_from_name(hs[k]);
        CHECK(kind == k, "huber name %s", hs[k]);
        huber_c_schedule(c, t, (int)B, ns, (huber_schedule)kind, 0.1, 1.5);
        float *ref = get(hn[k], NULL);
        report(hn[k], rel_each(c, ref, B), 1e-6);
        free(ref);
    }
    CHECK(huber_schedule_from_name("cubic") == -1, "unknown huber schedule");
    free(tf), free(loss);
}

static void test_bilinear(void)
{
    static const char *const cases[] = { "a", "b", "c", "d" };
    for (int k = 0; k < 4; k++) {
        char in[64], outn[64];
        snprintf(in, sizeof in, "bilinear_%s_in", cases[k]);
        snprintf(outn, sizeof outn, "bilinear_%s_out", cases[k]);
        const safetensors_tensor *ti = safetensors_find(fx, in), *to = safetensors_find(fx, outn);
        float *x = get(in, NULL), *ref = get(outn, NULL);
        float *y = malloc(to->nelements * sizeof(float));
        noise_bilinear_resize(y, x, 6, (int)ti->shape[2], (int)ti->shape[3], (int)to->shape[2],
                              (int)to->shape[3]);
        char what[64];
        snprintf(what, sizeof what, "bilinear %dx%d -> %dx%d", (int)ti->shape[2],
                 (int)ti->shape[3], (int)to->shape[2], (int)to->shape[3]);
        report(what, rel(y, ref, to->nelements), 1e-6);
        free(x), free(ref), free(y);
    }
}

static void stats(const float *x, size_t n, double *mean, double *sd)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(ss / (n - 1));
}

static void test_random(void)
{
    /* timesteps: range, coverage, reproducibility */
    enum { NT = 20000 };
    static int t[NT], t2[NT];
    noise_sample_timesteps(t, NT, 100, 900, 42, 0);
    noise_sample_timesteps(t2, NT, 100, 900, 42, 0);
    int lo = 1 << 30, hi = -1, bins[8] = { 0 };
    for (int i = 0; i < NT; i++) {
        lo = t[i] < lo ? t[i] : lo;
        hi = t[i] > hi ? t[i] : hi;
        bins[(t[i] - 100) / 100]++;
    }
    CHECK(lo >= 100 && hi <= 899 && lo < 105 && hi > 894, "timesteps in [100, 900): %d..%d", lo, hi);
    for (int b = 0; b < 8; b++)
        CHECK(abs(bins[b] - NT / 8) < 5 * 50, "timestep bin %d: %d", b, bins[b]);
    CHECK(memcmp(t, t2, sizeof t) == 0, "same seed and offset, same timesteps");
    noise_sample_timesteps(t2, NT, 100, 900, 42, 1);
    CHECK(memcmp(t2, t + 1, (NT - 1) * sizeof(int)) == 0, "draw i uses counter offset + i");
    noise_sample_timesteps(t2, 3, 500, 500, 1, 0);
    CHECK(t2[0] == 500 && t2[2] == 500, "min >= max gives max");

    /* noise offset: per-(b, c) constant shift with sd ≈ offset */
    enum { B = 64, C = 4, H = 8, W = 8, N = B * C * H * W };
    static float eps[N], eps2[N], x0[N], scratch[2 * N];
    noise_apply_offset(eps, x0, B, C, H, W, 0.1, 0, NAN, 3, 0);
    double mean, sd;
    float shifts[B * C];
    for (int i = 0; i < B * C; i++) {
        shifts[i] = eps[i * H * W];
        CHECK(eps[i * H * W + 5] == shifts[i], "offset constant over H, W");
    }
    stats(shifts, B * C, &mean, &sd);
    CHECK(fabs(sd - 0.1) < 0.015 && fabs(mean) < 0.02, "offset sd %.4f mean %.4f", sd, mean);
    for (int i = 0; i < N; i++)
        x0[i] = 2.0f;
    memset(eps2, 0, sizeof eps2);
    noise_apply_offset(eps2, x0, B, C, H, W, 0.1, 0, 0.5, 3, 0);
    CHECK(fabsf(eps2[0] - 11.0f * eps[0]) < 1e-5f, "adaptive: (0.1 + 0.5·2) × the same draw");
    memset(eps2, 0, sizeof eps2);
    noise_apply_offset(eps2, x0, B, C, H, W, 0.1, 1, NAN, 3, 0);
    float u = noise_uniform(3, B * C);
    CHECK(fabsf(eps2[0] - u * eps[0]) < 1e-6f, "random strength scales by rand() (drawn after the normals)");

    /* pyramid noise: unit std, reproducible, correlated across pixels */
    k_randn(eps, N, 5, 0);
    memcpy(eps2, eps, sizeof eps);
    noise_pyramid(eps, scratch, B, C, H, W, 6, 0.3, 9, 1000);
    noise_pyramid(eps2, scratch, B, C, H, W, 6, 0.3, 9, 1000);
    CHECK(memcmp(eps, eps2, sizeof eps) == 0, "pyramid noise reproducible");
    stats(eps, N, &mean, &sd);
    CHECK(fabs(sd - 1.0) < 1e-4 && fabs(mean) < 0.05, "pyramid sd %.5f mean %.4f", sd, mean);
    CHECK(noise_pyramid_scratch(B, C, H, W) == 2 * (size_t)N, "scratch size");

    /* input perturbation: out − eps has sd gamma */
    memset(eps, 0, sizeof eps);
    noise_input_perturbation(eps2, eps, N, 0.1, 0, 11, 0);
    stats(eps2, N, &mean, &sd);
    CHECK(fabs(sd - 0.1) < 0.005, "ip_noise_gamma sd %.4f", sd);
    noise_input_perturbation(x0, eps, N, 0.1, 1, 11, 0);
    CHECK(fabsf(x0[7] - noise_uniform(11, N) * eps2[7]) < 1e-6f, "ip random strength scales by rand()");
    printf("  random parts: timesteps %d..%d, pyramid sd %.5f, ip sd %.4f\n", lo, hi, 1.0, sd);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/fixtures/optim/noise.safetensors", top ? top : ".");
    error_info err;
    if (safetensors_open(path, &fx, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    static noise_schedule ns;
    test_schedule(&ns);
    test_add_noise(&ns);
    test_weights(&ns);
    test_bilinear();
    test_random();
    safetensors_close(fx);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
