/* activation.c — pointwise activations on the CPU: SiLU (U-Net, VAE), GELU in the erf form
 * (torch default; SDXL's OpenCLIP) and the tanh approximation, quick-GELU (OpenAI CLIP in
 * SD1.x), and GEGLU (the feed-forward of the U-Net's transformer blocks).
 * Derivatives, written out:
 *   silu(x) = x·σ(x)             silu'  = σ(x)·(1 + x·(1 − σ(x)))
 *   gelu(x) = x·Φ(x)             gelu'  = Φ(x) + x·φ(x),  φ(x) = exp(−x²/2)/√(2π)
 *   gelu_tanh = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³)
 *                                gelu_tanh' = ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)
 *   quick_gelu(x) = x·σ(1.702x)  quick_gelu' = σ + 1.702·x·σ(1 − σ) */
#include "kernels/ops_dense.h"

#include <math.h>

#define ACT_PAR_MIN 32768 /* below this, threads cost more than they save */
#define SQRT_1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f
#define SQRT_2_PI 0.79788456080286535588f
#define GELU_TANH_C 0.044715f
#define QUICK_GELU_A 1.702f

static inline float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static inline float gelu_f(float x)
{
    return 0.5f * x * (1.0f + erff(x * SQRT_1_2));
}

static inline float gelu_grad(float x)
{
    return 0.5f * (1.0f + erff(x * SQRT_1_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
}

void k_silu_forward(float *out, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] * sigmoidf(inp[i]);
}

void k_silu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float s = sigmoidf(inp[i]);
        dinp[i] += dout[i] * s * (1.0f + inp[i] * (1.0f - s));
    }
}

void k_gelu_forward(float *out, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = gelu_f(inp[i]);
}

void k_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] += dout[i] * gelu_grad(inp[i]);
}

void k_gelu_tanh_forward(float *out, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = tanhf(SQRT_2_PI * (x + GELU_TANH_C * x * x * x));
        out[i] = 0.5f * x * (1.0f + t);
    }
}

void k_gelu_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = tanhf(SQRT_2_PI * (x + GELU_TANH_C * x * x * x));
        float du = SQRT_2_PI * (1.0f + 3.0f * GELU_TANH_C * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du);
    }
}

void k_quick_gelu_forward(float *out, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] * sigmoidf(QUICK_GELU_A * inp[i]);
}

void k_quick_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    #pragma omp parallel for if (n > ACT_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float s = sigmoidf(QUICK_GELU_A * inp[i]);
        dinp[i] += dout[i] * (s + QUICK_GELU_A * inp[i] * s * (1.0f - s));
    }
}

void k_geglu_forward(float *out, const float *inp, int N, int D)
{
    #pragma omp parallel for if ((size_t)N * D > ACT_PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *h = inp + (size_t)r * 2 * D, *g = h + D;
        float *y = out + (size_t)r * D;
        for (int i = 0; i < D; i++)
            y[i] = h[i] * gelu_f(g[i]);
    }
}

void k_geglu_backward(float *dinp, const float *dout, const float *inp, int N, int D)
{
    #pragma omp parallel for if ((size_t)N * D > ACT_PAR_MIN)
    for (int r = 0; r < N; r++) {
        const float *h = inp + (size_t)r * 2 * D, *g = h + D, *dy = dout + (size_t)r * D;
        float *dh = dinp + (size_t)r * 2 * D, *dg = dh + D;
        for (int i = 0; i < D; i++) {
            dh[i] += dy[i] * gelu_f(g[i]);
            dg[i] += dy[i] * h[i] * gelu_grad(g[i]);
        }
    }
}
