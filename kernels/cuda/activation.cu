/* activation.cu — SiLU, GELU (erf and tanh forms), quick-GELU and GEGLU on the GPU, with
 * the formulas and derivatives of kernels/cpu/activation.c (see there). Grid-stride loops;
 * accurate expf/erff/tanhf (no fast-math), so results track the CPU to a few ulp. */
#include "kernels/cuda/common.cuh"

#define SQRT_1_2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f
#define SQRT_2_PI 0.79788456080286535588f
#define GELU_TANH_C 0.044715f
#define QUICK_GELU_A 1.702f
#define ACT_THREADS 256

__device__ static inline float act_sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

__device__ static inline float act_gelu(float x)
{
    return 0.5f * x * (1.0f + erff(x * SQRT_1_2));
}

__device__ static inline float act_gelu_grad(float x)
{
    return 0.5f * (1.0f + erff(x * SQRT_1_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
}

enum act_kind { ACT_SILU, ACT_GELU, ACT_GELU_TANH, ACT_QUICK_GELU };

template <int K>
__device__ static inline float act_f(float x)
{
    if (K == ACT_SILU)
        return x * act_sigmoid(x);
    if (K == ACT_GELU)
        return act_gelu(x);
    if (K == ACT_GELU_TANH)
        return 0.5f * x * (1.0f + tanhf(SQRT_2_PI * (x + GELU_TANH_C * x * x * x)));
    return x * act_sigmoid(QUICK_GELU_A * x);
}

template <int K>
__device__ static inline float act_df(float x)
{
    if (K == ACT_SILU) {
        const float s = act_sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
    if (K == ACT_GELU)
        return act_gelu_grad(x);
    if (K == ACT_GELU_TANH) {
        const float t = tanhf(SQRT_2_PI * (x + GELU_TANH_C * x * x * x));
        const float du = SQRT_2_PI * (1.0f + 3.0f * GELU_TANH_C * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    const float s = act_sigmoid(QUICK_GELU_A * x);
    return s + QUICK_GELU_A * x * s * (1.0f - s);
}

template <int K>
__global__ static void act_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = act_f<K>(inp[i]);
}

template <int K>
__global__ static void act_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dinp[i] += dout[i] * act_df<K>(inp[i]);
}

template <int K>
static int act_fwd_launch(float *out, const float *inp, size_t n)
{
    if (n == 0)
        return 0;
    act_forward<K><<<kc_blocks(n, ACT_THREADS), ACT_THREADS>>>(out, inp, n);
    return kc_launched("activation forward");
}

template <int K>
static int act_bwd_launch(float *dinp, const float *dout, const float *inp, size_t n)
{
    if (n == 0 || !dinp)
        return 0;
    act_backward<K><<<kc_blocks(n, ACT_THREADS), ACT_THREADS>>>(dinp, dout, inp, n);
    return kc_launched("activation backward");
}

extern "C" int kc_silu_forward(float *out, const float *inp, size_t n)
{
    return act_fwd_launch<ACT_SILU>(out, inp, n);
}
extern "C" int kc_silu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    return act_bwd_launch<ACT_SILU>(dinp, dout, inp, n);
}
extern "C" int kc_gelu_forward(float *out, const float *inp, size_t n)
{
    return act_fwd_launch<ACT_GELU>(out, inp, n);
}
extern "C" int kc_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    return act_bwd_launch<ACT_GELU>(dinp, dout, inp, n);
}
extern "C" int kc_gelu_tanh_forward(float *out, const float *inp, size_t n)
{
    return act_fwd_launch<ACT_GELU_TANH>(out, inp, n);
}
extern "C" int kc_gelu_tanh_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    return act_bwd_launch<ACT_GELU_TANH>(dinp, dout, inp, n);
}
extern "C" int kc_quick_gelu_forward(float *out, const float *inp, size_t n)
{
    return act_fwd_launch<ACT_QUICK_GELU>(out, inp, n);
}
extern "C" int kc_quick_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    return act_bwd_launch<ACT_QUICK_GELU>(dinp, dout, inp, n);
}

/* inp [N, 2D] = [hidden | gate] per row; out [N, D] = hidden · gelu(gate). */
__global__ static void geglu_forward_kernel(float *out, const float *inp, int N, int D)
{
    const size_t n = (size_t)N * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / D, c = i % D;
        const float *h = inp + r * 2 * D;
        out[i] = h[c] * act_gelu(h[D + c]);
    }
}

__global__ static void geglu_backward_kernel(float *dinp, const float *dout, const float *inp,
                                             int N, int D)
{
    const size_t n = (size_t)N * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / D, c = i % D;
        const float *h = inp + r * 2 * D;
        float *dh = dinp + r * 2 * D;
        const float g = h[D + c];
        dh[c] += dout[i] * act_gelu(g);
        dh[D + c] += dout[i] * h[c] * act_gelu_grad(g);
    }
}

extern "C" int kc_geglu_forward(float *out, const float *inp, int N, int D)
{
    if (N <= 0 || D <= 0)
        return 0;
    geglu_forward_kernel<<<kc_blocks((size_t)N * D, ACT_THREADS), ACT_THREADS>>>(out, inp, N, D);
    return kc_launched("geglu_forward");
}

extern "C" int kc_geglu_backward(float *dinp, const float *dout, const float *inp, int N, int D)
{
    if (N <= 0 || D <= 0 || !dinp)
        return 0;
    geglu_backward_kernel<<<kc_blocks((size_t)N * D, ACT_THREADS), ACT_THREADS>>>(dinp, dout, inp,
                                                                                   N, D);
    return kc_launched("geglu_backward");
}
