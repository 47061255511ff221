/* test_cuda_ops.c — every CUDA op (kc_*) against its CPU reference (k_*), op by op.
 *
 * Random inputs on odd shapes (tile and warp edges, non-multiples of 32), the CPU op and the
 * CUDA op on the same data, then every output compared: forwards, and every gradient of the
 * backwards, whose buffers start from the same random values on both sides so that the
 * accumulate (+=) contract is checked too. An element passes when
 *     |gpu − cpu| ≤ atol + rtol · ref,   ref = |cpu|, or max(|cpu|, rms(cpu)) for outputs that
 * are sums of many products (GEMM, conv, attention, norm-parameter gradients, reductions),
 * where cancellation makes single elements small while their rounding error is not.
 * f32 ops: rtol 1e-4, atol 1e-5, TF32 off. bf16/f16 GEMM against the f32 reference: rtol 2e-2.
 * Exact equality where the GPU does the CPU's f32 operations in the CPU's order: embedding
 * forward and table gradients, dropout masks, outputs and gradients, uniform noise. Gaussian
 * noise and timestep embeddings have their own tolerances, explained at their tests.
 * The loss scaler is host logic and is checked even without a device. Without CUDA (not
 * built, or no device) the test SKIPs with exit status 77 after saying why.
 */
#ifdef HAVE_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef HAVE_CUDA
int main(void)
{
    printf("SKIP: built without CUDA (configure --with-cuda)\n");
    return 77;
}
#else

#define F32_RTOL 1e-4
#define F32_ATOL 1e-5
#define LOWP_RTOL 2e-2
#define LOWP_ATOL 1e-3

static int fails;
static uint64_t rng = 0x5eed5eedULL;
static void *pool[1024];
static int npool;

static void *remember(void *p)
{
    if (p && npool < (int)(sizeof pool / sizeof pool[0]))
        pool[npool++] = p;
    return p;
}

static void release_all(void)
{
    for (int i = 0; i < npool; i++)
        kc_free(pool[i]);
    npool = 0;
}

static void call_ok(int rc, const char *what)
{
    if (rc) {
        printf("FAIL %s: %s\n", what, kc_last_error());
        fails++;
    }
}

/* Host buffer (freed at exit by the OS: tests only) with uniform values in [lo, hi). */
static float *hrand(size_t n, float lo, float hi)
{
    float *x = gc_zalloc(n ? n : 1);
    gc_fill_uniform(x, n, &rng, lo, hi);
    return x;
}

static float *hcopy(const float *x, size_t n)
{
    float *y = gc_zalloc(n ? n : 1);
    memcpy(y, x, n * sizeof *x);
    return y;
}

static float *dput(const float *h, size_t n)
{
    float *d = remember(kc_alloc(n * sizeof(float)));
    if (!d || kc_copy(d, 1, h, 0, n * sizeof(float))) {
        printf("FAIL upload of %zu floats: %s\n", n, kc_last_error());
        exit(1);
    }
    return d;
}

static float *dnew(size_t n)
{
    float *d = remember(kc_alloc(n * sizeof(float)));
    if (!d) {
        printf("FAIL kc_alloc of %zu floats: %s\n", n, kc_last_error());
        exit(1);
    }
    return d;
}

/* Downloads got (device) and compares it with want (host). */
static void check(const char *name, const float *want, const float *dgot, size_t n,
                  double rtol, double atol, int rms_floor)
{
    float *got = gc_zalloc(n ? n : 1);
    if (kc_copy(got, 0, dgot, 1, n * sizeof(float))) {
        printf("FAIL %s: download: %s\n", name, kc_last_error());
        fails++;
        free(got);
        return;
    }
    double rms = 0.0;
    for (size_t i = 0; i < n; i++)
        rms += (double)want[i] * want[i];
    rms = n ? sqrt(rms / n) : 0.0;
    size_t bad = 0, worst = 0;
    double worst_ratio = 0.0;
    for (size_t i = 0; i < n; i++) {
        double ref = fabs(want[i]);
        if (rms_floor && ref < rms)
            ref = rms;
        const double err = fabs((double)got[i] - want[i]), lim = atol + rtol * ref;
        const double ratio = err / lim;
        if (!(err <= lim)) /* also catches NaN */
            bad++;
        if (!(ratio <= worst_ratio)) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (bad) {
        printf("FAIL %-34s %zu/%zu off; worst [%zu] gpu %.8g cpu %.8g\n", name, bad, n, worst,
               got[worst], want[worst]);
        fails++;
    } else {
        printf("ok   %-34s n=%-7zu worst err/limit %.3f\n", name, n, worst_ratio);
    }
    free(got);
}

#define CHECK32(name, want, dgot, n) check(name, want, dgot, n, F32_RTOL, F32_ATOL, 0)
#define CHECKSUM(name, want, dgot, n) check(name, want, dgot, n, F32_RTOL, F32_ATOL, 1)

/* ---- linear and GEMM ---- */

static void test_linear(int N, int C_in, int C_out, int with_bias)
{
    char name[96];
    float *x = hrand((size_t)N * C_in, -1, 1), *w = hrand((size_t)C_out * C_in, -1, 1);
    float *b = with_bias ? hrand(C_out, -1, 1) : NULL;
    float *y = gc_zalloc((size_t)N * C_out);
    k_linear_forward(y, x, w, b, N, C_in, C_out);
    float *dx = dput(x, (size_t)N * C_in), *dw = dput(w, (size_t)C_out * C_in);
    float *db = b ? dput(b, C_out) : NULL, *dy = dnew((size_t)N * C_out);
    call_ok(kc_linear_forward(dy, dx, dw, db, N, C_in, C_out), "kc_linear_forward");
    snprintf(name, sizeof name, "linear fwd %dx%d->%d%s", N, C_in, C_out, b ? " +b" : "");
    CHECKSUM(name, y, dy, (size_t)N * C_out);

    float *g = hrand((size_t)N * C_out, -1, 1);
    float *gx = hrand((size_t)N * C_in, -1, 1), *gw = hrand((size_t)C_out * C_in, -1, 1);
    float *gb = hrand(C_out, -1, 1);
    float *d_g = dput(g, (size_t)N * C_out), *d_gx = dput(gx, (size_t)N * C_in);
    float *d_gw = dput(gw, (size_t)C_out * C_in), *d_gb = dput(gb, C_out);
    k_linear_backward(gx, gw, with_bias ? gb : NULL, g, x, w, N, C_in, C_out);
    call_ok(kc_linear_backward(d_gx, d_gw, with_bias ? d_gb : NULL, d_g, dx, dw, N, C_in, C_out),
            "kc_linear_backward");
    snprintf(name, sizeof name, "linear dinp %dx%d->%d", N, C_in, C_out);
    CHECKSUM(name, gx, d_gx, (size_t)N * C_in);
    snprintf(name, sizeof name, "linear dweight %dx%d->%d", N, C_in, C_out);
    CHECKSUM(name, gw, d_gw, (size_t)C_out * C_in);
    snprintf(name, sizeof name, "linear dbias %dx%d->%d", N, C_in, C_out);
    CHECKSUM(name, gb, d_gb, C_out); /* unchanged when with_bias is 0 */
}

static uint16_t host_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even (finite inputs) */
    return (uint16_t)(u >> 16);
}

static float host_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* bf16/f16 inputs with f32 accumulation, against the f32 CPU op on the unrounded inputs. */
static void test_linear_mixed(kc_dtype t, int N, int C_in, int C_out)
{
    char name[96];
    const char *tn = t == KC_BF16 ? "bf16" : "f16";
    const size_t nx = (size_t)N * C_in, nw = (size_t)C_out * C_in, ny = (size_t)N * C_out;
    float *x = hrand(nx, -1, 1), *w = hrand(nw, -1, 1), *b = hrand(C_out, -1, 1);
    float *y = gc_zalloc(ny);
    k_linear_forward(y, x, w, b, N, C_in, C_out);
    float *dx32 = dput(x, nx), *dw32 = dput(w, nw), *db = dput(b, C_out), *dy = dnew(ny);
    void *dx = remember(kc_alloc(nx * 2)), *dw = remember(kc_alloc(nw * 2));
    void *dg = remember(kc_alloc(ny * 2));
    if (!dx || !dw || !dg) {
        printf("FAIL alloc: %s\n", kc_last_error());
        fails++;
        return;
    }
    call_ok(kc_convert(dx, t, dx32, KC_F32, nx), "kc_convert x");
    call_ok(kc_convert(dw, t, dw32, KC_F32, nw), "kc_convert w");
    call_ok(kc_linear_forward_mixed(dy, dx, dw, db, t, N, C_in, C_out), "kc_linear_forward_mixed");
    snprintf(name, sizeof name, "linear %s fwd %dx%d->%d", tn, N, C_in, C_out);
    check(name, y, dy, ny, LOWP_RTOL, LOWP_ATOL, 1);

    float *g = hrand(ny, -1, 1), *gx = hrand(nx, -1, 1), *gw = hrand(nw, -1, 1);
    float *gb = hrand(C_out, -1, 1);
    float *d_g32 = dput(g, ny), *d_gx = dput(gx, nx), *d_gw = dput(gw, nw), *d_gb = dput(gb, C_out);
    call_ok(kc_convert(dg, t, d_g32, KC_F32, ny), "kc_convert dout");
    k_linear_backward(gx, gw, gb, g, x, w, N, C_in, C_out);
    call_ok(kc_linear_backward_mixed(d_gx, d_gw, d_gb, dg, dx, dw, t, N, C_in, C_out),
            "kc_linear_backward_mixed");
    snprintf(name, sizeof name, "linear %s dinp", tn);
    check(name, gx, d_gx, nx, LOWP_RTOL, LOWP_ATOL, 1);
    snprintf(name, sizeof name, "linear %s dweight", tn);
    check(name, gw, d_gw, nw, LOWP_RTOL, LOWP_ATOL, 1);
    snprintf(name, sizeof name, "linear %s dbias", tn);
    check(name, gb, d_gb, C_out, LOWP_RTOL, LOWP_ATOL, 1);
}

/* Transposed operands and a bf16 output through kc_gemm directly. */
static void test_gemm_trans(void)
{
    const int M = 33, N = 17, K = 45;
    float *a = hrand((size_t)K * M, -1, 1), *b = hrand((size_t)N * K, -1, 1);
    float *c = gc_zalloc((size_t)M * N);
    for (int i = 0; i < M; i++) /* C = Aᵀ · Bᵀ with A stored [K, M], B stored [N, K] */
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++)
                s += (double)a[(size_t)k * M + i] * b[(size_t)j * K + k];
            c[(size_t)i * N + j] = (float)s;
        }
    float *da = dput(a, (size_t)K * M), *db = dput(b, (size_t)N * K), *dc = dnew((size_t)M * N);
    call_ok(kc_gemm(dc, KC_F32, da, db, KC_F32, NULL, M, N, K, 1, 1, M, K, N, 1.0f, 0.0f),
            "kc_gemm f32 TT");
    CHECKSUM("gemm f32 A^T B^T 33x17x45", c, dc, (size_t)M * N);

    void *ha = remember(kc_alloc((size_t)K * M * 2)), *hb = remember(kc_alloc((size_t)N * K * 2));
    void *hc = remember(kc_alloc((size_t)M * N * 2));
    float *dc2 = dnew((size_t)M * N);
    call_ok(kc_convert(ha, KC_BF16, da, KC_F32, (size_t)K * M), "kc_convert a");
    call_ok(kc_convert(hb, KC_BF16, db, KC_F32, (size_t)N * K), "kc_convert b");
    call_ok(kc_gemm(hc, KC_BF16, ha, hb, KC_BF16, NULL, M, N, K, 1, 1, M, K, N, 1.0f, 0.0f),
            "kc_gemm bf16 out");
    call_ok(kc_convert(dc2, KC_F32, hc, KC_BF16, (size_t)M * N), "kc_convert c");
    check("gemm bf16 in/out A^T B^T", c, dc2, (size_t)M * N, LOWP_RTOL, LOWP_ATOL, 1);
}

static void test_convert(void)
{
    const size_t n = 1000;
    float *x = hrand(n, -300, 300), *want = gc_zalloc(n), *want16 = gc_zalloc(n);
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = 1e-30f;
    for (size_t i = 0; i < n; i++)
        want[i] = host_bf16_to_f32(host_bf16(x[i]));
    float *dx = dput(x, n), *back = dnew(n);
    void *h = remember(kc_alloc(n * 2));
    call_ok(kc_convert(h, KC_BF16, dx, KC_F32, n), "kc_convert f32->bf16");
    call_ok(kc_convert(back, KC_F32, h, KC_BF16, n), "kc_convert bf16->f32");
    check("convert f32->bf16->f32 (exact RNE)", want, back, n, 0.0, 0.0, 0);
    memcpy(want16, x, n * sizeof *x);
    want16[2] = 0.0f; /* below f16's range: flushes to (almost) zero */
    call_ok(kc_convert(h, KC_F16, dx, KC_F32, n), "kc_convert f32->f16");
    call_ok(kc_convert(back, KC_F32, h, KC_F16, n), "kc_convert f16->f32");
    check("convert f32->f16->f32 (2^-11 rel)", want16, back, n, 1.0 / 2048, 1e-7, 0);
}

/* ---- conv2d ---- */

static void test_conv2d(int N, int C_in, int H, int W, int C_out, int KH, int KW, int stride,
                        int pad)
{
    char name[128], tag[64];
    k_conv2d_dims d = { N, C_in, H, W, C_out, KH, KW, stride, pad };
    const int OH = k_conv2d_out_h(&d), OW = k_conv2d_out_w(&d);
    const size_t nx = (size_t)N * C_in * H * W, nw = (size_t)C_out * C_in * KH * KW;
    const size_t ny = (size_t)N * C_out * OH * OW;
    snprintf(tag, sizeof tag, "%dx%dx%dx%d k%dx%d s%d p%d->%d", N, C_in, H, W, KH, KW, stride,
             pad, C_out);
    float *x = hrand(nx, -1, 1), *w = hrand(nw, -1, 1), *b = hrand(C_out, -1, 1);
    float *y = gc_zalloc(ny);
    float *scratch = gc_zalloc(k_conv2d_scratch_floats(&d) + 1);
    k_conv2d_forward(y, x, w, b, scratch, &d);
    float *dx = dput(x, nx), *dw = dput(w, nw), *db = dput(b, C_out), *dy = dnew(ny);
    call_ok(kc_conv2d_forward(dy, dx, dw, db, NULL, &d), "kc_conv2d_forward");
    snprintf(name, sizeof name, "conv2d fwd %s", tag);
    CHECKSUM(name, y, dy, ny);

    float *g = hrand(ny, -1, 1), *gx = hrand(nx, -1, 1), *gw = hrand(nw, -1, 1);
    float *gb = hrand(C_out, -1, 1);
    float *d_g = dput(g, ny), *d_gx = dput(gx, nx), *d_gw = dput(gw, nw), *d_gb = dput(gb, C_out);
    k_conv2d_backward(gx, gw, gb, g, x, w, scratch, &d);
    call_ok(kc_conv2d_backward(d_gx, d_gw, d_gb, d_g, dx, dw, NULL, &d), "kc_conv2d_backward");
    snprintf(name, sizeof name, "conv2d dinp %s", tag);
    CHECKSUM(name, gx, d_gx, nx);
    snprintf(name, sizeof name, "conv2d dweight %s", tag);
    CHECKSUM(name, gw, d_gw, nw);
    snprintf(name, sizeof name, "conv2d dbias %s", tag);
    CHECKSUM(name, gb, d_gb, C_out);
    free(scratch);
}

/* ---- norms ---- */

static void test_groupnorm(int N, int C, int HW, int G, int affine)
{
    char name[96];
    const size_t n = (size_t)N * C * HW;
    float *x = hrand(n, -2, 3); /* offset mean: exercises the two-pass variance */
    float *w = affine ? hrand(C, 0.5f, 1.5f) : NULL, *b = affine ? hrand(C, -1, 1) : NULL;
    float *y = gc_zalloc(n), *mean = gc_zalloc(N * G), *rstd = gc_zalloc(N * G);
    k_groupnorm_forward(y, mean, rstd, x, w, b, N, C, HW, G, 1e-5f);
    float *dx = dput(x, n), *dw = w ? dput(w, C) : NULL, *db = b ? dput(b, C) : NULL;
    float *dy = dnew(n), *dmean = dnew(N * G), *drstd = dnew(N * G);
    call_ok(kc_groupnorm_forward(dy, dmean, drstd, dx, dw, db, N, C, HW, G, 1e-5f),
            "kc_groupnorm_forward");
    snprintf(name, sizeof name, "groupnorm fwd N%d C%d HW%d G%d%s", N, C, HW, G,
             affine ? "" : " no-affine");
    CHECK32(name, y, dy, n);
    CHECK32("groupnorm mean", mean, dmean, N * G);
    CHECK32("groupnorm rstd", rstd, drstd, N * G);

    float *g = hrand(n, -1, 1), *gx = hrand(n, -1, 1), *gw = hrand(C, -1, 1), *gb = hrand(C, -1, 1);
    float *d_g = dput(g, n), *d_gx = dput(gx, n), *d_gw = dput(gw, C), *d_gb = dput(gb, C);
    k_groupnorm_backward(gx, gw, gb, g, x, w, mean, rstd, N, C, HW, G);
    call_ok(kc_groupnorm_backward(d_gx, d_gw, d_gb, d_g, dx, dw, dmean, drstd, N, C, HW, G),
            "kc_groupnorm_backward");
    CHECKSUM("groupnorm dinp", gx, d_gx, n);
    CHECKSUM("groupnorm dweight", gw, d_gw, C);
    CHECKSUM("groupnorm dbias", gb, d_gb, C);
}

static void test_layernorm(int N, int C)
{
    char name[96];
    const size_t n = (size_t)N * C;
    float *x = hrand(n, -2, 3), *w = hrand(C, 0.5f, 1.5f), *b = hrand(C, -1, 1);
    float *y = gc_zalloc(n), *mean = gc_zalloc(N), *rstd = gc_zalloc(N);
    k_layernorm_forward(y, mean, rstd, x, w, b, N, C, 1e-5f);
    float *dx = dput(x, n), *dw = dput(w, C), *db = dput(b, C);
    float *dy = dnew(n), *dmean = dnew(N), *drstd = dnew(N);
    call_ok(kc_layernorm_forward(dy, dmean, drstd, dx, dw, db, N, C, 1e-5f),
            "kc_layernorm_forward");
    snprintf(name, sizeof name, "layernorm fwd N%d C%d", N, C);
    CHECK32(name, y, dy, n);
    CHECK32("layernorm mean", mean, dmean, N);
    CHECK32("layernorm rstd", rstd, drstd, N);

    float *g = hrand(n, -1, 1), *gx = hrand(n, -1, 1), *gw = hrand(C, -1, 1), *gb = hrand(C, -1, 1);
    float *d_g = dput(g, n), *d_gx = dput(gx, n), *d_gw = dput(gw, C), *d_gb = dput(gb, C);
    k_layernorm_backward(gx, gw, gb, g, x, w, mean, rstd, N, C);
    call_ok(kc_layernorm_backward(d_gx, d_gw, d_gb, d_g, dx, dw, dmean, drstd, N, C),
            "kc_layernorm_backward");
    CHECKSUM("layernorm dinp", gx, d_gx, n);
    CHECKSUM("layernorm dweight", gw, d_gw, C);
    CHECKSUM("layernorm dbias", gb, d_gb, C);
}

/* ---- activations ---- */

typedef void (*cpu_fwd)(float *, const float *, size_t);
typedef void (*cpu_bwd)(float *, const float *, const float *, size_t);
typedef int (*gpu_fwd)(float *, const float *, size_t);
typedef int (*gpu_bwd)(float *, const float *, const float *, size_t);

static void test_activation(const char *name, cpu_fwd cf, cpu_bwd cb, gpu_fwd gf, gpu_bwd gb)
{
    char label[64];
    const size_t n = 1001;
    float *x = hrand(n, -6, 6), *y = gc_zalloc(n), *g = hrand(n, -1, 1), *gx = hrand(n, -1, 1);
    cf(y, x, n);
    float *dx = dput(x, n), *dy = dnew(n), *d_g = dput(g, n), *d_gx = dput(gx, n);
    call_ok(gf(dy, dx, n), name);
    snprintf(label, sizeof label, "%s fwd", name);
    CHECK32(label, y, dy, n);
    cb(gx, g, x, n);
    call_ok(gb(d_gx, d_g, dx, n), name);
    snprintf(label, sizeof label, "%s bwd", name);
    CHECK32(label, gx, d_gx, n);
}

static void test_geglu(int N, int D)
{
    const size_t ni = (size_t)N * 2 * D, no = (size_t)N * D;
    float *x = hrand(ni, -4, 4), *y = gc_zalloc(no), *g = hrand(no, -1, 1), *gx = hrand(ni, -1, 1);
    k_geglu_forward(y, x, N, D);
    float *dx = dput(x, ni), *dy = dnew(no), *d_g = dput(g, no), *d_gx = dput(gx, ni);
    call_ok(kc_geglu_forward(dy, dx, N, D), "kc_geglu_forward");
    CHECK32("geglu fwd", y, dy, no);
    k_geglu_backward(gx, g, x, N, D);
    call_ok(kc_geglu_backward(d_gx, d_g, dx, N, D), "kc_geglu_backward");
    CHECK32("geglu bwd", gx, d_gx, ni);
}

/* ---- elementwise, resampling, reductions ---- */

static void test_elementwise(void)
{
    const size_t n = 4099;
    float *a = hrand(n, -2, 2), *b = hrand(n, -2, 2), *g = hrand(n, -1, 1);
    float *da = dput(a, n), *db = dput(b, n), *dg = dput(g, n), *dout = dnew(n);
    float *y = gc_zalloc(n);

    k_add_forward(y, a, b, n);
    call_ok(kc_add_forward(dout, da, db, n), "kc_add_forward");
    CHECK32("add fwd", y, dout, n);
    k_mul_forward(y, a, b, n);
    call_ok(kc_mul_forward(dout, da, db, n), "kc_mul_forward");
    CHECK32("mul fwd", y, dout, n);
    k_scale_forward(y, a, 0.37f, n);
    call_ok(kc_scale_forward(dout, da, 0.37f, n), "kc_scale_forward");
    CHECK32("scale fwd", y, dout, n);
    k_add_scaled_forward(y, a, b, 0.7f, -1.3f, n);
    call_ok(kc_add_scaled_forward(dout, da, db, 0.7f, -1.3f, n), "kc_add_scaled_forward");
    CHECK32("add_scaled fwd", y, dout, n);

    /* backwards accumulate into random gradients; one NULL each time somewhere */
    float *ga = hrand(n, -1, 1), *gb = hrand(n, -1, 1);
    float *d_ga = dput(ga, n), *d_gb = dput(gb, n);
    k_add_backward(ga, gb, g, n);
    call_ok(kc_add_backward(d_ga, d_gb, dg, n), "kc_add_backward");
    k_mul_backward(ga, gb, g, a, b, n);
    call_ok(kc_mul_backward(d_ga, d_gb, dg, da, db, n), "kc_mul_backward");
    k_mul_backward(NULL, gb, g, a, b, n);
    call_ok(kc_mul_backward(NULL, d_gb, dg, da, db, n), "kc_mul_backward NULL da");
    k_scale_backward(ga, g, -0.5f, n);
    call_ok(kc_scale_backward(d_ga, dg, -0.5f, n), "kc_scale_backward");
    k_add_scaled_backward(ga, NULL, g, 0.7f, -1.3f, n);
    call_ok(kc_add_scaled_backward(d_ga, NULL, dg, 0.7f, -1.3f, n), "kc_add_scaled_backward");
    k_add_scaled_backward(ga, gb, g, 0.25f, 2.0f, n);
    call_ok(kc_add_scaled_backward(d_ga, d_gb, dg, 0.25f, 2.0f, n), "kc_add_scaled_backward");
    CHECK32("add/mul/scale/add_scaled bwd da", ga, d_ga, n);
    CHECK32("add/mul/scale/add_scaled bwd db", gb, d_gb, n);

    /* in place: out == a */
    float *acopy = hcopy(a, n);
    float *d_ac = dput(a, n);
    k_add_forward(acopy, acopy, b, n);
    call_ok(kc_add_forward(d_ac, d_ac, db, n), "kc_add_forward in place");
    CHECK32("add fwd in place", acopy, d_ac, n);

    const int N = 3, C = 7, HW = 45;
    const size_t nc = (size_t)N * C * HW;
    float *x = hrand(nc, -1, 1), *e = hrand(N * C, -1, 1), *yc = gc_zalloc(nc);
    float *gc = hrand(nc, -1, 1), *gx = hrand(nc, -1, 1), *ge = hrand(N * C, -1, 1);
    float *dx = dput(x, nc), *de = dput(e, N * C), *dyc = dnew(nc);
    float *d_gc = dput(gc, nc), *d_gx = dput(gx, nc), *d_ge = dput(ge, N * C);
    k_add_channel_forward(yc, x, e, N, C, HW);
    call_ok(kc_add_channel_forward(dyc, dx, de, N, C, HW), "kc_add_channel_forward");
    CHECK32("add_channel fwd", yc, dyc, nc);
    k_add_channel_backward(gx, ge, gc, N, C, HW);
    call_ok(kc_add_channel_backward(d_gx, d_ge, d_gc, N, C, HW), "kc_add_channel_backward");
    CHECK32("add_channel dinp", gx, d_gx, nc);
    CHECKSUM("add_channel de", ge, d_ge, N * C);
}

static void test_resample(void)
{
    const int N = 2, C = 3, H = 5, W = 7;
    const size_t ni = (size_t)N * C * H * W, no = 4 * ni;
    float *x = hrand(ni, -1, 1), *y = gc_zalloc(no), *g = hrand(no, -1, 1), *gx = hrand(ni, -1, 1);
    float *dx = dput(x, ni), *dy = dnew(no), *d_g = dput(g, no), *d_gx = dput(gx, ni);
    k_upsample2x_forward(y, x, N, C, H, W);
    call_ok(kc_upsample2x_forward(dy, dx, N, C, H, W), "kc_upsample2x_forward");
    CHECK32("upsample2x fwd", y, dy, no);
    k_upsample2x_backward(gx, g, N, C, H, W);
    call_ok(kc_upsample2x_backward(d_gx, d_g, N, C, H, W), "kc_upsample2x_backward");
    CHECK32("upsample2x bwd", gx, d_gx, ni);

    const int Ca = 3, Cb = 4, HW = 15;
    const size_t na = (size_t)N * Ca * HW, nb = (size_t)N * Cb * HW, nab = na + nb;
    float *a = hrand(na, -1, 1), *b = hrand(nb, -1, 1), *cat = gc_zalloc(nab);
    float *gc = hrand(nab, -1, 1), *ga = hrand(na, -1, 1), *gb = hrand(nb, -1, 1);
    float *da = dput(a, na), *db = dput(b, nb), *dcat = dnew(nab);
    float *d_gc = dput(gc, nab), *d_ga = dput(ga, na), *d_gb = dput(gb, nb);
    k_concat_forward(cat, a, b, N, Ca, Cb, HW);
    call_ok(kc_concat_forward(dcat, da, db, N, Ca, Cb, HW), "kc_concat_forward");
    CHECK32("concat fwd", cat, dcat, nab);
    k_concat_backward(ga, gb, gc, N, Ca, Cb, HW);
    call_ok(kc_concat_backward(d_ga, d_gb, d_gc, N, Ca, Cb, HW), "kc_concat_backward");
    CHECK32("concat bwd da", ga, d_ga, na);
    CHECK32("concat bwd db", gb, d_gb, nb);
}

static void test_reductions(void)
{
    const int N = 3;
    const size_t M = 5003, n = N * M;
    float *x = hrand(n, -1, 2), *dx = dput(x, n);
    float s, ms[3], one = 0.75f, per[3] = { 0.5f, -1.0f, 2.0f };
    float *ds = dnew(1), *dms = dnew(N), *done = dput(&one, 1), *dper = dput(per, N);
    k_sum_forward(&s, x, n);
    call_ok(kc_sum_forward(ds, dx, n), "kc_sum_forward");
    CHECKSUM("sum fwd", &s, ds, 1);
    k_mean_forward(&s, x, n);
    call_ok(kc_mean_forward(ds, dx, n), "kc_mean_forward");
    CHECKSUM("mean fwd", &s, ds, 1);
    k_mean_per_sample_forward(ms, x, N, M);
    call_ok(kc_mean_per_sample_forward(dms, dx, N, M), "kc_mean_per_sample_forward");
    CHECKSUM("mean_per_sample fwd", ms, dms, N);

    float *gx = hrand(n, -1, 1), *d_gx = dput(gx, n);
    k_sum_backward(gx, &one, n);
    call_ok(kc_sum_backward(d_gx, done, n), "kc_sum_backward");
    k_mean_backward(gx, &one, n);
    call_ok(kc_mean_backward(d_gx, done, n), "kc_mean_backward");
    k_mean_per_sample_backward(gx, per, N, M);
    call_ok(kc_mean_per_sample_backward(d_gx, dper, N, M), "kc_mean_per_sample_backward");
    CHECK32("sum/mean/mean_per_sample bwd", gx, d_gx, n);
}

/* ---- attention ---- */

static void test_attention(int B, int Tq, int Tk, int H, int d, int causal)
{
    char name[128], tag[64];
    k_attn_dims a = { B, Tq, Tk, H, d, causal, 0.0f, 16, 24 };
    const size_t nq = (size_t)B * Tq * H * d, nk = (size_t)B * Tk * H * d;
    const size_t nl = (size_t)B * H * Tq;
    snprintf(tag, sizeof tag, "B%d Tq%d Tk%d H%d d%d%s", B, Tq, Tk, H, d, causal ? " causal" : "");
    float *q = hrand(nq, -1, 1), *k = hrand(nk, -1, 1), *v = hrand(nk, -1, 1);
    float *out = gc_zalloc(nq), *lse = gc_zalloc(nl);
    float *scratch = gc_zalloc(k_attention_scratch_floats(&a) + 1);
    k_attention_forward(out, lse, q, k, v, scratch, &a);
    float *dq_ = dput(q, nq), *dk_ = dput(k, nk), *dv_ = dput(v, nk);
    float *dout_ = dnew(nq), *dlse = dnew(nl);
    call_ok(kc_attention_forward(dout_, dlse, dq_, dk_, dv_, NULL, &a), "kc_attention_forward");
    snprintf(name, sizeof name, "attention out %s", tag);
    CHECKSUM(name, out, dout_, nq);
    snprintf(name, sizeof name, "attention lse %s", tag);
    CHECK32(name, lse, dlse, nl);

    float *g = hrand(nq, -1, 1), *gq = hrand(nq, -1, 1), *gk = hrand(nk, -1, 1);
    float *gv = hrand(nk, -1, 1);
    float *d_g = dput(g, nq), *d_gq = dput(gq, nq), *d_gk = dput(gk, nk), *d_gv = dput(gv, nk);
    /* the backward reads the forward's outputs: give both sides the CPU's */
    float *d_out = dput(out, nq), *d_lse = dput(lse, nl);
    k_attention_backward(gq, gk, gv, g, q, k, v, out, lse, scratch, &a);
    call_ok(kc_attention_backward(d_gq, d_gk, d_gv, d_g, dq_, dk_, dv_, d_out, d_lse, NULL, &a),
            "kc_attention_backward");
    snprintf(name, sizeof name, "attention dq %s", tag);
    CHECKSUM(name, gq, d_gq, nq);
    snprintf(name, sizeof name, "attention dk %s", tag);
    CHECKSUM(name, gk, d_gk, nk);
    snprintf(name, sizeof name, "attention dv %s", tag);
    CHECKSUM(name, gv, d_gv, nk);
    free(scratch);
}

/* ---- softmax, embeddings, dropout and noise, losses ---- */

static void *dput_bytes(const void *h, size_t bytes)
{
    void *d = remember(kc_alloc(bytes ? bytes : 1));
    if (!d || kc_copy(d, 1, h, 0, bytes)) {
        printf("FAIL upload of %zu bytes: %s\n", bytes, kc_last_error());
        exit(1);
    }
    return d;
}

static void test_softmax(int N, int C)
{
    char name[96];
    const size_t n = (size_t)N * C;
    float *x = hrand(n, -5, 5), *y = gc_zalloc(n);
    x[0] = 100.0f; /* exp would overflow without the row maximum subtracted */
    k_softmax_forward(y, x, N, C);
    float *dx = dput(x, n), *dy = dnew(n);
    call_ok(kc_softmax_forward(dy, dx, N, C), "kc_softmax_forward");
    snprintf(name, sizeof name, "softmax fwd %dx%d", N, C);
    CHECK32(name, y, dy, n);
    call_ok(kc_softmax_forward(dx, dx, N, C), "kc_softmax_forward in place");
    snprintf(name, sizeof name, "softmax fwd in place %dx%d", N, C);
    CHECK32(name, y, dx, n);

    float *g = hrand(n, -1, 1), *gx = hrand(n, -1, 1);
    float *d_g = dput(g, n), *d_gx = dput(gx, n), *d_y = dput(y, n);
    k_softmax_backward(gx, g, y, N, C);
    call_ok(kc_softmax_backward(d_gx, d_g, d_y, N, C), "kc_softmax_backward");
    call_ok(kc_softmax_backward(NULL, d_g, d_y, N, C), "kc_softmax_backward NULL");
    snprintf(name, sizeof name, "softmax bwd %dx%d", N, C);
    CHECK32(name, gx, d_gx, n);
}

/* Ids drawn from a small vocabulary, so rows repeat; the position table is longer than T.
 * Forward and both table gradients are compared exactly: the GPU adds in the CPU's order. */
static void test_embedding(int B, int T, int C, int V, int with_pos)
{
    char name[96];
    const int Tmax = T + 3;
    const size_t n = (size_t)B * T * C, nt = (size_t)V * C, np = (size_t)Tmax * C;
    int32_t *ids = malloc((size_t)B * T * sizeof *ids);
    float *u = hrand((size_t)B * T, 0, 1);
    for (int i = 0; i < B * T; i++)
        ids[i] = (int32_t)(u[i] * V) < V ? (int32_t)(u[i] * V) : V - 1;
    float *tok = hrand(nt, -1, 1), *pos = with_pos ? hrand(np, -1, 1) : NULL;
    float *y = gc_zalloc(n);
    int32_t *d_ids = dput_bytes(ids, (size_t)B * T * sizeof *ids);
    float *d_tok = dput(tok, nt), *d_pos = pos ? dput(pos, np) : NULL, *d_y = dnew(n);
    const int rc_cpu = k_embedding_forward(y, ids, tok, pos, B, T, C, V);
    const int rc_gpu = kc_embedding_forward(d_y, d_ids, d_tok, d_pos, B, T, C, V);
    snprintf(name, sizeof name, "embedding fwd B%d T%d C%d V%d%s", B, T, C, V,
             pos ? "" : " no-pos");
    if (rc_cpu || rc_gpu) {
        printf("FAIL %s: rc cpu %d gpu %d (%s)\n", name, rc_cpu, rc_gpu, kc_last_error());
        fails++;
    }
    check(name, y, d_y, n, 0.0, 0.0, 0);

    float *g = hrand(n, -1, 1), *gt = hrand(nt, -1, 1), *gp = hrand(np, -1, 1);
    float *d_g = dput(g, n), *d_gt = dput(gt, nt), *d_gp = dput(gp, np);
    k_embedding_backward(gt, pos ? gp : NULL, g, ids, B, T, C, V);
    call_ok(kc_embedding_backward(d_gt, pos ? d_gp : NULL, d_g, d_ids, B, T, C, V),
            "kc_embedding_backward");
    check("embedding dtok (exact)", gt, d_gt, nt, 0.0, 0.0, 0);
    check("embedding dpos (exact)", gp, d_gp, np, 0.0, 0.0, 0); /* unchanged without pos */
    k_embedding_backward(NULL, gp, g, ids, B, T, C, V);
    call_ok(kc_embedding_backward(NULL, d_gp, d_g, d_ids, B, T, C, V),
            "kc_embedding_backward NULL dtok");
    check("embedding dpos, NULL dtok (exact)", gp, d_gp, np, 0.0, 0.0, 0);
    free(ids);
}

/* Ids -1 and V: -1 with an error from both, zero token rows, skipped by the backward; the
 * next good call succeeds (the device flag is reset). */
static void test_embedding_bad_ids(void)
{
    const int B = 2, T = 5, C = 7, V = 9;
    const size_t n = (size_t)B * T * C, nt = (size_t)V * C, np = (size_t)T * C;
    int32_t ids[10] = { 0, 3, -1, 8, 3, 9, 1, 1, 2, 8 };
    float *tok = hrand(nt, -1, 1), *pos = hrand(np, -1, 1), *y = gc_zalloc(n);
    int32_t *d_ids = dput_bytes(ids, sizeof ids);
    float *d_tok = dput(tok, nt), *d_pos = dput(pos, np), *d_y = dnew(n);
    const int rc_cpu = k_embedding_forward(y, ids, tok, pos, B, T, C, V);
    const int rc_gpu = kc_embedding_forward(d_y, d_ids, d_tok, d_pos, B, T, C, V);
    const int ok = rc_cpu == -1 && rc_gpu == -1 && strstr(kc_last_error(), "outside") != NULL;
    printf("%s embedding refuses ids outside [0, V) (%s)\n", ok ? "ok  " : "FAIL",
           kc_last_error());
    fails += !ok;
    check("embedding fwd with bad ids", y, d_y, n, 0.0, 0.0, 0);
    float *g = hrand(n, -1, 1), *gt = hrand(nt, -1, 1), *gp = hrand(np, -1, 1);
    float *d_g = dput(g, n), *d_gt = dput(gt, nt), *d_gp = dput(gp, np);
    k_embedding_backward(gt, gp, g, ids, B, T, C, V);
    call_ok(kc_embedding_backward(d_gt, d_gp, d_g, d_ids, B, T, C, V),
            "kc_embedding_backward bad ids");
    check("embedding dtok with bad ids", gt, d_gt, nt, 0.0, 0.0, 0);
    check("embedding dpos with bad ids", gp, d_gp, np, 0.0, 0.0, 0);
    ids[2] = 4;
    ids[5] = 0;
    d_ids = dput_bytes(ids, sizeof ids);
    call_ok(kc_embedding_forward(d_y, d_ids, d_tok, d_pos, B, T, C, V),
            "kc_embedding_forward after bad ids");
}

/* Per row: |gpu − cpu| ≤ 1e-5 + 2.4e-7·|t| (two ulps of the argument t·freq). Both sides
 * round exp, sin and cos correctly in practice (see kernels/cuda/timestep.cu), so results are
 * usually identical; a rare one-ulp difference in freq moves the argument by an ulp, which at
 * t = 999 is 6e-5. */
static void test_timestep(int dim, int flip, float shift, float max_period)
{
    char name[96];
    const int N = 6;
    float t[6] = { 0.0f, 1.0f, 17.0f, 250.5f, 999.0f, 1024.0f };
    float *y = gc_zalloc((size_t)N * dim);
    k_timestep_embedding(y, t, N, dim, flip, shift, max_period);
    float *d_t = dput(t, N), *d_y = dnew((size_t)N * dim);
    call_ok(kc_timestep_embedding(d_y, d_t, N, dim, flip, shift, max_period),
            "kc_timestep_embedding");
    for (int r = 0; r < N; r++) {
        snprintf(name, sizeof name, "timestep dim%d flip%d shift%g t=%g", dim, flip, shift, t[r]);
        check(name, y + (size_t)r * dim, d_y + (size_t)r * dim, dim, 0.0,
              1e-5 + 2.4e-7 * fabs(t[r]), 0);
    }
    k_timestep_embedding_sd(y, t, N, dim);
    call_ok(kc_timestep_embedding_sd(d_y, d_t, N, dim), "kc_timestep_embedding_sd");
    check("timestep sd (t <= 1024)", y, d_y, (size_t)N * dim, 0.0, 1e-5 + 2.4e-7 * 1024, 0);
}

static void check_bytes(const char *name, const uint8_t *want, const uint8_t *dgot, size_t n)
{
    uint8_t *got = malloc(n ? n : 1);
    size_t bad = 0;
    if (kc_copy(got, 0, dgot, 1, n)) {
        printf("FAIL %s: download: %s\n", name, kc_last_error());
        fails++;
        free(got);
        return;
    }
    for (size_t i = 0; i < n; i++)
        bad += got[i] != want[i];
    printf("%s %-34s %zu/%zu differ\n", bad ? "FAIL" : "ok  ", name, bad, n);
    fails += bad != 0;
    free(got);
}

/* Masks, dropout outputs and gradients, and uniforms must equal the CPU's exactly (same
 * Philox bits, same f32 arithmetic). Gaussians: rtol 1e-6, atol 1e-7 — Box-Muller in double
 * through CUDA's log/cos instead of glibc's, whose last-bit differences can move the f32
 * result by an ulp (≈ 6e-8 relative). The offset crosses 2³² to exercise both counter words. */
static void test_dropout(float p, size_t n, uint64_t seed, uint64_t offset)
{
    char name[96];
    float *x = hrand(n, -2, 2), *y = gc_zalloc(n);
    uint8_t *mask = malloc(n);
    k_dropout_forward(y, mask, x, p, seed, offset, n);
    float *d_x = dput(x, n), *d_y = dnew(n);
    uint8_t *d_mask = remember(kc_alloc(n));
    call_ok(kc_dropout_forward(d_y, d_mask, d_x, p, seed, offset, n), "kc_dropout_forward");
    snprintf(name, sizeof name, "dropout p=%g mask (exact)", p);
    check_bytes(name, mask, d_mask, n);
    snprintf(name, sizeof name, "dropout p=%g fwd (exact)", p);
    check(name, y, d_y, n, 0.0, 0.0, 0);
    call_ok(kc_dropout_forward(d_x, NULL, d_x, p, seed, offset, n), "kc_dropout_forward in place");
    snprintf(name, sizeof name, "dropout p=%g fwd in place, no mask", p);
    check(name, y, d_x, n, 0.0, 0.0, 0);

    float *g = hrand(n, -1, 1), *gx = hrand(n, -1, 1);
    float *d_g = dput(g, n), *d_gx = dput(gx, n);
    k_dropout_backward(gx, g, mask, p, seed, offset, n);
    call_ok(kc_dropout_backward(d_gx, d_g, d_mask, p, seed, offset, n), "kc_dropout_backward");
    k_dropout_backward(gx, g, NULL, p, seed, offset, n);
    call_ok(kc_dropout_backward(d_gx, d_g, NULL, p, seed, offset, n),
            "kc_dropout_backward recomputed mask");
    call_ok(kc_dropout_backward(NULL, d_g, NULL, p, seed, offset, n), "kc_dropout_backward NULL");
    snprintf(name, sizeof name, "dropout p=%g bwd mask+recomputed (exact)", p);
    check(name, gx, d_gx, n, 0.0, 0.0, 0);
    free(mask);
}

static void test_noise(size_t n, uint64_t seed, uint64_t offset)
{
    float *want = gc_zalloc(n), *d = dnew(n);
    k_rand(want, n, seed, offset);
    call_ok(kc_rand(d, n, seed, offset), "kc_rand");
    check("rand (exact)", want, d, n, 0.0, 0.0, 0);
    k_randn(want, n, seed, offset);
    call_ok(kc_randn(d, n, seed, offset), "kc_randn");
    check("randn (rtol 1e-6: libm last bits)", want, d, n, 1e-6, 1e-7, 0);
}

/* Loss and per-sample values are sums in double on both sides, in different orders:
 * CHECK32. The gradient is elementwise (f32 formulas, fused multiply-adds on the GPU): CHECK32.
 * A few elements have pred == target (the L1 slope at 0 is 0). */
static void test_loss(k_loss_type type, int N, size_t M, int with_weight, int with_c)
{
    char name[96], tag[64];
    const size_t n = (size_t)N * M;
    snprintf(tag, sizeof tag, "%s N%d M%zu%s%s", k_loss_type_name(type), N, M,
             with_weight ? " w" : "", with_c ? " c" : "");
    float *p = hrand(n, -2, 2), *t = hrand(n, -2, 2);
    for (size_t i = 0; i < n; i += 97)
        t[i] = p[i];
    float *w = with_weight ? hrand(N, 0.5f, 1.5f) : NULL, *c = with_c ? hrand(N, 0.05f, 0.3f) : NULL;
    float loss, *per = gc_zalloc(N);
    k_loss_forward(&loss, per, p, t, w, c, type, N, M);
    float *d_p = dput(p, n), *d_t = dput(t, n), *d_w = w ? dput(w, N) : NULL;
    float *d_c = c ? dput(c, N) : NULL, *d_loss = dnew(1), *d_per = dnew(N);
    call_ok(kc_loss_forward(d_loss, d_per, d_p, d_t, d_w, d_c, type, N, M), "kc_loss_forward");
    snprintf(name, sizeof name, "loss %s", tag);
    CHECK32(name, &loss, d_loss, 1);
    snprintf(name, sizeof name, "loss per-sample %s", tag);
    CHECK32(name, per, d_per, N);
    call_ok(kc_loss_forward(d_loss, NULL, d_p, d_t, d_w, d_c, type, N, M),
            "kc_loss_forward NULL per_sample");
    snprintf(name, sizeof name, "loss %s, no per-sample", tag);
    CHECK32(name, &loss, d_loss, 1);

    float dloss = 0.75f, *gp = hrand(n, -1, 1);
    float *d_dloss = dput(&dloss, 1), *d_gp = dput(gp, n);
    k_loss_backward(gp, &dloss, p, t, w, c, type, N, M);
    call_ok(kc_loss_backward(d_gp, d_dloss, d_p, d_t, d_w, d_c, type, N, M), "kc_loss_backward");
    call_ok(kc_loss_backward(NULL, d_dloss, d_p, d_t, d_w, d_c, type, N, M),
            "kc_loss_backward NULL");
    snprintf(name, sizeof name, "loss dpred %s", tag);
    CHECK32(name, gp, d_gp, n);
}

static void test_loss_errors(void)
{
    float *d = dnew(4);
    const int rc = kc_loss_forward(d, NULL, d, d, NULL, NULL, (k_loss_type)7, 1, 4);
    const int ok = rc == -1 && strstr(kc_last_error(), "loss type") != NULL;
    printf("%s loss refuses an unknown type (%s)\n", ok ? "ok  " : "FAIL", kc_last_error());
    fails += !ok;
}

/* ---- mixed precision ---- */

static void test_found_inf(void)
{
    const size_t n = 3001;
    float *x = hrand(n, -1, 1), zero = 0.0f, flag = 0.0f;
    float *dx = dput(x, n), *dflag = dput(&zero, 1);
    call_ok(kc_found_inf(dflag, dx, n), "kc_found_inf");
    kc_copy(&flag, 0, dflag, 1, sizeof flag);
    if (flag != 0.0f) {
        printf("FAIL found_inf flagged finite data\n");
        fails++;
    }
    float *want = hcopy(x, n);
    for (size_t i = 0; i < n; i++)
        want[i] *= 0.125f;
    call_ok(kc_unscale_found_inf(dx, dflag, 0.125f, n), "kc_unscale_found_inf");
    CHECK32("unscale", want, dx, n);
    x[1234] = INFINITY;
    x[7] = NAN;
    float *dbad = dput(x, n);
    call_ok(kc_found_inf(dflag, dbad, n), "kc_found_inf");
    kc_copy(&flag, 0, dflag, 1, sizeof flag);
    printf("%s found_inf flags inf/NaN\n", flag == 1.0f ? "ok  " : "FAIL");
    fails += flag != 1.0f;
}

/* Host logic: backoff on overflow, growth after growth_interval clean steps. */
static void test_loss_scaler(void)
{
    kc_loss_scaler s;
    int bad = 0;
    kc_loss_scaler_init(&s, 0.0f, 3);
    bad |= s.scale != 65536.0f;
    bad |= kc_loss_scaler_update(&s, 1) != 1 || s.scale != 32768.0f;
    bad |= kc_loss_scaler_update(&s, 0) != 0 || kc_loss_scaler_update(&s, 0) != 0;
    bad |= s.scale != 32768.0f;
    bad |= kc_loss_scaler_update(&s, 0) != 0 || s.scale != 65536.0f;
    kc_loss_scaler_init(&s, 2.0f, 0);
    bad |= s.growth_interval != 2000;
    for (int i = 0; i < 5; i++)
        kc_loss_scaler_update(&s, 1);
    bad |= s.scale != 1.0f; /* never below min_scale */
    printf("%s loss scaler backoff/growth\n", bad ? "FAIL" : "ok  ");
    fails += bad;
}

static void test_errors(void)
{
    k_attn_dims a = { 1, 4, 4, 1, KC_ATTN_MAX_D + 1, 0, 0.0f, 0, 0 };
    float *p = dnew(16);
    int rc = kc_attention_forward(p, p, p, p, p, NULL, &a);
    const int ok = rc == -1 && strstr(kc_last_error(), "head size") != NULL;
    printf("%s attention refuses d > %d (%s)\n", ok ? "ok  " : "FAIL", KC_ATTN_MAX_D,
           kc_last_error());
    fails += !ok;
}

int main(void)
{
    test_loss_scaler();
    if (!kc_available()) {
        printf("SKIP: %s\n", kc_last_error());
        return fails ? 1 : 77;
    }
    char dev[256] = "";
    size_t mem = 0;
    kc_device_info(dev, sizeof dev, &mem);
    printf("device: %s, %.1f GiB\n", dev, mem / 1073741824.0);
    kc_set_allow_tf32(0);

    test_linear(37, 53, 29, 1);
    test_linear(5, 7, 3, 0);
    test_linear(130, 320, 96, 1);
    test_linear_mixed(KC_BF16, 37, 64, 40);
    test_linear_mixed(KC_F16, 33, 72, 24);
    test_gemm_trans();
    test_convert();

    test_conv2d(2, 5, 9, 7, 6, 3, 3, 1, 1);
    test_conv2d(2, 4, 11, 10, 8, 3, 3, 2, 1);
    test_conv2d(3, 6, 5, 5, 4, 1, 1, 1, 0);
    test_conv2d(1, 3, 8, 9, 5, 5, 3, 1, 2);
    test_conv2d(2, 32, 16, 16, 64, 3, 3, 1, 1);

    test_groupnorm(2, 12, 35, 4, 1);
    test_groupnorm(3, 8, 17, 8, 0);
    test_groupnorm(1, 64, 1024, 32, 1);
    test_layernorm(19, 77);
    test_layernorm(4, 1280);

    test_activation("silu", k_silu_forward, k_silu_backward, kc_silu_forward, kc_silu_backward);
    test_activation("gelu", k_gelu_forward, k_gelu_backward, kc_gelu_forward, kc_gelu_backward);
    test_activation("gelu_tanh", k_gelu_tanh_forward, k_gelu_tanh_backward, kc_gelu_tanh_forward,
                    kc_gelu_tanh_backward);
    test_activation("quick_gelu", k_quick_gelu_forward, k_quick_gelu_backward,
                    kc_quick_gelu_forward, kc_quick_gelu_backward);
    test_geglu(7, 33);
    test_elementwise();
    test_resample();
    test_reductions();

    test_attention(2, 37, 37, 3, 40, 0);
    test_attention(1, 50, 77, 2, 64, 0);
    test_attention(2, 45, 45, 2, 24, 1);
    test_attention(1, 33, 33, 1, 5, 1);
    test_attention(1, 20, 33, 1, 160, 0);
    test_attention(1, 70, 70, 2, 80, 1);

    test_softmax(37, 77);
    test_softmax(5, 1000);
    test_softmax(3, 1);
    test_softmax(2, 4099);
    test_embedding(2, 77, 96, 11, 1);
    test_embedding(3, 19, 33, 50, 0);
    test_embedding(1, 5, 300, 3, 1);
    test_embedding_bad_ids();
    test_timestep(320, 1, 0.0f, 10000.0f);
    test_timestep(257, 0, 1.0f, 10000.0f);
    test_timestep(256, 1, 0.0f, 10000.0f);
    test_dropout(0.3f, 10007, 1234, 77);
    test_dropout(0.1f, 4099, 0xdeadbeefcafeULL, 0xfffffff0ULL);
    test_dropout(0.0f, 1001, 5, 0);
    test_dropout(1.0f, 1001, 5, 0);
    test_noise(10007, 42, 0);
    test_noise(4099, 0x123456789abcULL, 0xfffffff0ULL);
    test_loss(K_LOSS_L2, 3, 3 * 17 * 19, 1, 0);
    test_loss(K_LOSS_L2, 2, 4 * 64 * 64, 0, 0);
    test_loss(K_LOSS_L1, 3, 3 * 17 * 19, 1, 0);
    test_loss(K_LOSS_HUBER, 3, 3 * 17 * 19, 1, 1);
    test_loss(K_LOSS_SMOOTH_L1, 4, 4 * 9 * 11, 0, 1);
    test_loss(K_LOSS_HUBER, 2, 4 * 64 * 64, 1, 1);
    test_loss_errors();

    test_found_inf();
    test_errors();
    call_ok(kc_synchronize(), "kc_synchronize");
    release_all();
    kc_shutdown();
    printf("cuda ops: %s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
#endif
