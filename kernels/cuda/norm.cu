/* norm.cu — group norm and layer norm on the GPU, with k_groupnorm_* / k_layernorm_*'s
 * semantics: biased variance, mean and rstd saved by the forward, the closed-form backward
 *     dx += rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)),  dx̂ = dout · weight.
 * Statistics are summed in double with two passes, as on the CPU (the U-Net's group-norm
 * blocks hold up to 40·64·64 values with a sizeable offset). Group norm gives a block to each
 * (sample, group) and, for the weight/bias gradients, to each channel; layer norm gives a
 * warp to each row and sums weight/bias gradients over 32-column stripes. Every sum runs in
 * a fixed order: deterministic. */
#include "kernels/cuda/common.cuh"

#define NORM_THREADS 256

__global__ static void groupnorm_forward_kernel(float *out, float *mean, float *rstd,
                                                const float *inp, const float *weight,
                                                const float *bias, int C, int HW, int G,
                                                float eps)
{
    __shared__ double buf[33];
    const int ng = blockIdx.x, Cg = C / G, c0 = (ng % G) * Cg;
    const size_t M = (size_t)Cg * HW;
    const float *x = inp + (size_t)ng * M;
    float *y = out + (size_t)ng * M;
    double s = 0.0;
    for (size_t i = threadIdx.x; i < M; i += blockDim.x)
        s += x[i];
    const double m = kc_block_sum(s, buf) / (double)M;
    double v = 0.0;
    for (size_t i = threadIdx.x; i < M; i += blockDim.x) {
        double t = x[i] - m;
        v += t * t;
    }
    v = kc_block_sum(v, buf) / (double)M;
    const float r = (float)(1.0 / sqrt(v + eps)), mf = (float)m;
    if (threadIdx.x == 0) {
        mean[ng] = mf;
        rstd[ng] = r;
    }
    for (size_t i = threadIdx.x; i < M; i += blockDim.x) {
        const int c = c0 + (int)(i / HW);
        const float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
        y[i] = (x[i] - mf) * r * w + b;
    }
}

__global__ static void groupnorm_backward_input(float *dinp, const float *dout, const float *inp,
                                                const float *weight, const float *mean,
                                                const float *rstd, int C, int HW, int G)
{
    __shared__ double buf[33];
    const int ng = blockIdx.x, Cg = C / G, c0 = (ng % G) * Cg;
    const size_t M = (size_t)Cg * HW;
    const float *x = inp + (size_t)ng * M, *g = dout + (size_t)ng * M;
    float *dx = dinp + (size_t)ng * M;
    const float m = mean[ng], r = rstd[ng];
    double s1 = 0.0, s2 = 0.0;
    for (size_t i = threadIdx.x; i < M; i += blockDim.x) {
        const float w = weight ? weight[c0 + (int)(i / HW)] : 1.0f;
        const float dxh = g[i] * w;
        s1 += dxh;
        s2 += dxh * ((x[i] - m) * r);
    }
    const float a = (float)(kc_block_sum(s1, buf) / (double)M);
    const float b = (float)(kc_block_sum(s2, buf) / (double)M);
    for (size_t i = threadIdx.x; i < M; i += blockDim.x) {
        const float w = weight ? weight[c0 + (int)(i / HW)] : 1.0f;
        const float xh = (x[i] - m) * r;
        dx[i] += r * (g[i] * w - a - xh * b);
    }
}

__global__ static void groupnorm_backward_params(float *dweight, float *dbias, const float *dout,
                                                 const float *inp, const float *mean,
                                                 const float *rstd, int N, int C, int HW, int G)
{
    __shared__ double buf[33];
    const int c = blockIdx.x, Cg = C / G;
    double sw = 0.0, sb = 0.0;
    for (int n = 0; n < N; n++) {
        const int ng = n * G + c / Cg;
        const float m = mean[ng], r = rstd[ng];
        const float *xc = inp + ((size_t)n * C + c) * HW, *gc = dout + ((size_t)n * C + c) * HW;
        for (int i = threadIdx.x; i < HW; i += blockDim.x) {
            sw += gc[i] * ((xc[i] - m) * r);
            sb += gc[i];
        }
    }
    sw = kc_block_sum(sw, buf);
    sb = kc_block_sum(sb, buf);
    if (threadIdx.x == 0) {
        if (dweight)
            dweight[c] += (float)sw;
        if (dbias)
            dbias[c] += (float)sb;
    }
}

static int groupnorm_check(int N, int C, int HW, int G)
{
    if (N < 0 || C <= 0 || HW < 0 || G <= 0 || C % G)
        return kc_fail("groupnorm: invalid sizes N=%d C=%d HW=%d G=%d", N, C, HW, G);
    return 0;
}

extern "C" int kc_groupnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                    const float *weight, const float *bias, int N, int C,
                                    int HW, int G, float eps)
{
    if (groupnorm_check(N, C, HW, G))
        return -1;
    if (N == 0 || HW == 0)
        return 0;
    groupnorm_forward_kernel<<<N * G, NORM_THREADS>>>(out, mean, rstd, inp, weight, bias, C, HW,
                                                      G, eps);
    return kc_launched("groupnorm_forward");
}

extern "C" int kc_groupnorm_backward(float *dinp, float *dweight, float *dbias,
                                     const float *dout, const float *inp, const float *weight,
                                     const float *mean, const float *rstd, int N, int C, int HW,
                                     int G)
{
    if (groupnorm_check(N, C, HW, G))
        return -1;
    if (N == 0 || HW == 0)
        return 0;
    if (dinp) {
        groupnorm_backward_input<<<N * G, NORM_THREADS>>>(dinp, dout, inp, weight, mean, rstd,
                                                          C, HW, G);
        if (kc_launched("groupnorm_backward_input"))
            return -1;
    }
    if (dweight || dbias) {
        groupnorm_backward_params<<<C, NORM_THREADS>>>(dweight, dbias, dout, inp, mean, rstd, N,
                                                       C, HW, G);
        return kc_launched("groupnorm_backward_params");
    }
    return 0;
}

/* One warp per row; rows = blockIdx.x · warps + warp. */
__global__ static void layernorm_forward_kernel(float *out, float *mean, float *rstd,
                                                const float *inp, const float *weight,
                                                const float *bias, int N, int C, float eps)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N)
        return;
    const float *x = inp + (size_t)row * C;
    float *y = out + (size_t)row * C;
    double s = 0.0;
    for (int i = lane; i < C; i += 32)
        s += x[i];
    const double m = kc_warp_sum(s) / C;
    double v = 0.0;
    for (int i = lane; i < C; i += 32) {
        double t = x[i] - m;
        v += t * t;
    }
    v = kc_warp_sum(v) / C;
    const float r = (float)(1.0 / sqrt(v + eps)), mf = (float)m;
    if (lane == 0) {
        mean[row] = mf;
        rstd[row] = r;
    }
    for (int i = lane; i < C; i += 32) {
        const float xh = (x[i] - mf) * r;
        y[i] = xh * (weight ? weight[i] : 1.0f) + (bias ? bias[i] : 0.0f);
    }
}

__global__ static void layernorm_backward_input(float *dinp, const float *dout, const float *inp,
                                                const float *weight, const float *mean,
                                                const float *rstd, int N, int C)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= N)
        return;
    const float *x = inp + (size_t)row * C, *g = dout + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    const float m = mean[row], r = rstd[row];
    double s1 = 0.0, s2 = 0.0;
    for (int i = lane; i < C; i += 32) {
        const float dxh = g[i] * (weight ? weight[i] : 1.0f);
        s1 += dxh;
        s2 += dxh * ((x[i] - m) * r);
    }
    const float a = (float)(kc_warp_sum(s1) / C), b = (float)(kc_warp_sum(s2) / C);
    for (int i = lane; i < C; i += 32) {
        const float dxh = g[i] * (weight ? weight[i] : 1.0f);
        dx[i] += r * (dxh - a - (x[i] - m) * r * b);
    }
}

/* Block (32, 8): 32 columns, 8 row-partials each, added in a fixed order. */
__global__ static void layernorm_backward_params(float *dweight, float *dbias, const float *dout,
                                                 const float *inp, const float *mean,
                                                 const float *rstd, int N, int C)
{
    __shared__ double pw[8][33], pb[8][33];
    const int col = blockIdx.x * 32 + threadIdx.x;
    double sw = 0.0, sb = 0.0;
    if (col < C)
        for (int n = threadIdx.y; n < N; n += 8) {
            const float g = dout[(size_t)n * C + col];
            sw += g * ((inp[(size_t)n * C + col] - mean[n]) * rstd[n]);
            sb += g;
        }
    pw[threadIdx.y][threadIdx.x] = sw;
    pb[threadIdx.y][threadIdx.x] = sb;
    __syncthreads();
    if (threadIdx.y == 0 && col < C) {
        double tw = 0.0, tb = 0.0;
        for (int k = 0; k < 8; k++) {
            tw += pw[k][threadIdx.x];
            tb += pb[k][threadIdx.x];
        }
        if (dweight)
            dweight[col] += (float)tw;
        if (dbias)
            dbias[col] += (float)tb;
    }
}

#define LN_WARPS 8

extern "C" int kc_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                    const float *weight, const float *bias, int N, int C,
                                    float eps)
{
    if (N < 0 || C <= 0)
        return kc_fail("layernorm: invalid sizes N=%d C=%d", N, C);
    if (N == 0)
        return 0;
    layernorm_forward_kernel<<<(N + LN_WARPS - 1) / LN_WARPS, 32 * LN_WARPS>>>(
        out, mean, rstd, inp, weight, bias, N, C, eps);
    return kc_launched("layernorm_forward");
}

extern "C" int kc_layernorm_backward(float *dinp, float *dweight, float *dbias,
                                     const float *dout, const float *inp, const float *weight,
                                     const float *mean, const float *rstd, int N, int C)
{
    if (N < 0 || C <= 0)
        return kc_fail("layernorm: invalid sizes N=%d C=%d", N, C);
    if (N == 0)
        return 0;
    if (dinp) {
        layernorm_backward_input<<<(N + LN_WARPS - 1) / LN_WARPS, 32 * LN_WARPS>>>(
            dinp, dout, inp, weight, mean, rstd, N, C);
        if (kc_launched("layernorm_backward_input"))
            return -1;
    }
    if (dweight || dbias) {
        layernorm_backward_params<<<(C + 31) / 32, dim3(32, 8)>>>(dweight, dbias, dout, inp,
                                                                  mean, rstd, N, C);
        return kc_launched("layernorm_backward_params");
    }
    return 0;
}
