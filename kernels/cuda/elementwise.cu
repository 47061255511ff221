/* elementwise.cu — elementwise arithmetic, nearest 2× upsampling, channel concat and the
 * reductions on the GPU, with the semantics of kernels/cpu/{elementwise,resample,reduce}.c.
 * Pointwise ops are grid-stride loops (forwards read element i before writing it, so out may
 * alias an input). Reductions give one block to each output scalar and sum in double in a
 * fixed order (per-thread strides, then kc_block_sum), so reruns are bit-identical and no
 * scratch buffer is needed; that suits losses, per-sample means and bias gradients, not
 * huge single sums. */
#include "kernels/cuda/common.cuh"

#define EW_THREADS 256
#define RD_THREADS 1024

#define EW_LOOP(i, n)                                                                    \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);              \
         i += (size_t)gridDim.x * blockDim.x)

/* out = alpha·a + beta·b; b may be NULL (then out = alpha·a). Covers add, scale and
 * add_scaled forwards, and with out == a the accumulating backwards (da += s·dout). */
__global__ static void ew_axpby(float *out, const float *a, const float *b, float alpha,
                                float beta, size_t n)
{
    EW_LOOP(i, n)
    out[i] = b ? alpha * a[i] + beta * b[i] : alpha * a[i];
}

/* da += alpha·dout, db += beta·dout (either may be NULL). */
__global__ static void ew_acc2(float *da, float *db, const float *dout, float alpha, float beta,
                               size_t n)
{
    EW_LOOP(i, n)
    {
        const float g = dout[i];
        if (da)
            da[i] += alpha * g;
        if (db)
            db[i] += beta * g;
    }
}

__global__ static void ew_mul(float *out, const float *a, const float *b, size_t n)
{
    EW_LOOP(i, n)
    out[i] = a[i] * b[i];
}

__global__ static void ew_mul_backward(float *da, float *db, const float *dout, const float *a,
                                       const float *b, size_t n)
{
    EW_LOOP(i, n)
    {
        const float g = dout[i];
        if (da)
            da[i] += g * b[i];
        if (db)
            db[i] += g * a[i];
    }
}

#define EW_GRID(n) kc_blocks((n), EW_THREADS), EW_THREADS

static int ew_acc2_launch(float *da, float *db, const float *dout, float alpha, float beta,
                          size_t n)
{
    if (n == 0 || (!da && !db))
        return 0;
    ew_acc2<<<EW_GRID(n)>>>(da, db, dout, alpha, beta, n);
    return kc_launched("elementwise backward");
}

static int ew_axpby_launch(float *out, const float *a, const float *b, float alpha, float beta,
                           size_t n)
{
    if (n == 0)
        return 0;
    ew_axpby<<<EW_GRID(n)>>>(out, a, b, alpha, beta, n);
    return kc_launched("elementwise forward");
}

extern "C" int kc_add_forward(float *out, const float *a, const float *b, size_t n)
{
    return ew_axpby_launch(out, a, b, 1.0f, 1.0f, n);
}

extern "C" int kc_add_backward(float *da, float *db, const float *dout, size_t n)
{
    return ew_acc2_launch(da, db, dout, 1.0f, 1.0f, n);
}

extern "C" int kc_mul_forward(float *out, const float *a, const float *b, size_t n)
{
    if (n == 0)
        return 0;
    ew_mul<<<EW_GRID(n)>>>(out, a, b, n);
    return kc_launched("mul_forward");
}

extern "C" int kc_mul_backward(float *da, float *db, const float *dout, const float *a,
                               const float *b, size_t n)
{
    if (n == 0 || (!da && !db))
        return 0;
    ew_mul_backward<<<EW_GRID(n)>>>(da, db, dout, a, b, n);
    return kc_launched("mul_backward");
}

extern "C" int kc_scale_forward(float *out, const float *inp, float s, size_t n)
{
    return ew_axpby_launch(out, inp, NULL, s, 0.0f, n);
}

extern "C" int kc_scale_backward(float *dinp, const float *dout, float s, size_t n)
{
    return ew_acc2_launch(dinp, NULL, dout, s, 0.0f, n);
}

extern "C" int kc_add_scaled_forward(float *out, const float *a, const float *b, float alpha,
                                     float beta, size_t n)
{
    return ew_axpby_launch(out, a, b, alpha, beta, n);
}

extern "C" int kc_add_scaled_backward(float *da, float *db, const float *dout, float alpha,
                                      float beta, size_t n)
{
    return ew_acc2_launch(da, db, dout, alpha, beta, n);
}

__global__ static void ew_add_channel(float *out, const float *inp, const float *e, int HW,
                                      size_t n)
{
    EW_LOOP(i, n)
    out[i] = inp[i] + e[i / HW];
}

extern "C" int kc_add_channel_forward(float *out, const float *inp, const float *e, int N, int C,
                                      int HW)
{
    const size_t n = (size_t)N * C * HW;
    if (N <= 0 || C <= 0 || HW <= 0)
        return 0;
    ew_add_channel<<<EW_GRID(n)>>>(out, inp, e, HW, n);
    return kc_launched("add_channel_forward");
}

extern "C" int kc_add_channel_backward(float *dinp, float *de, const float *dout, int N, int C,
                                       int HW)
{
    if (N <= 0 || C <= 0 || HW <= 0)
        return 0;
    if (dinp && ew_acc2_launch(dinp, NULL, dout, 1.0f, 0.0f, (size_t)N * C * HW))
        return -1;
    /* de[n, c] = Σ_hw dout[n, c, hw]: a channel sum over a single "sample" of N·C channels */
    return de ? kc_channel_sum(de, dout, 1, N * C, HW) : 0;
}

/* ---- resampling and concat ---- */

__global__ static void upsample2x_forward_kernel(float *out, const float *inp, int H, int W,
                                                 size_t n)
{
    const int W2 = 2 * W;
    const size_t plane = (size_t)4 * H * W;
    EW_LOOP(o, n)
    {
        const size_t nc = o / plane, rem = o % plane;
        const int oh = (int)(rem / W2), ow = (int)(rem % W2);
        out[o] = inp[nc * H * W + (size_t)(oh / 2) * W + ow / 2];
    }
}

/* One thread per input pixel; the four sources are added in the CPU's order. */
__global__ static void upsample2x_backward_kernel(float *dinp, const float *dout, int H, int W,
                                                  size_t n)
{
    const int W2 = 2 * W;
    EW_LOOP(i, n)
    {
        const size_t nc = i / ((size_t)H * W), rem = i % ((size_t)H * W);
        const int h = (int)(rem / W), w = (int)(rem % W);
        const float *r0 = dout + nc * 4 * H * W + (size_t)(2 * h) * W2, *r1 = r0 + W2;
        dinp[i] += (r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]);
    }
}

extern "C" int kc_upsample2x_forward(float *out, const float *inp, int N, int C, int H, int W)
{
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0)
        return 0;
    const size_t n = (size_t)N * C * 4 * H * W;
    upsample2x_forward_kernel<<<EW_GRID(n)>>>(out, inp, H, W, n);
    return kc_launched("upsample2x_forward");
}

extern "C" int kc_upsample2x_backward(float *dinp, const float *dout, int N, int C, int H, int W)
{
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || !dinp)
        return 0;
    const size_t n = (size_t)N * C * H * W;
    upsample2x_backward_kernel<<<EW_GRID(n)>>>(dinp, dout, H, W, n);
    return kc_launched("upsample2x_backward");
}

__global__ static void concat_forward_kernel(float *out, const float *a, const float *b,
                                             size_t na, size_t nb, size_t n)
{
    EW_LOOP(i, n)
    {
        const size_t s = i / (na + nb), r = i % (na + nb);
        out[i] = r < na ? a[s * na + r] : b[s * nb + (r - na)];
    }
}

__global__ static void concat_backward_kernel(float *da, float *db, const float *dout, size_t na,
                                              size_t nb, size_t n)
{
    EW_LOOP(i, n)
    {
        const size_t s = i / (na + nb), r = i % (na + nb);
        if (r < na) {
            if (da)
                da[s * na + r] += dout[i];
        } else if (db) {
            db[s * nb + (r - na)] += dout[i];
        }
    }
}

extern "C" int kc_concat_forward(float *out, const float *a, const float *b, int N, int Ca,
                                 int Cb, int HW)
{
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW, n = (size_t)N * (na + nb);
    if (N <= 0 || n == 0)
        return 0;
    concat_forward_kernel<<<EW_GRID(n)>>>(out, a, b, na, nb, n);
    return kc_launched("concat_forward");
}

extern "C" int kc_concat_backward(float *da, float *db, const float *dout, int N, int Ca, int Cb,
                                  int HW)
{
    const size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW, n = (size_t)N * (na + nb);
    if (N <= 0 || n == 0 || (!da && !db))
        return 0;
    concat_backward_kernel<<<EW_GRID(n)>>>(da, db, dout, na, nb, n);
    return kc_launched("concat_backward");
}

/* ---- reductions ---- */

/* Block b sums x[b·stride .. b·stride + m) into out[b] = (float)(sum · mul). */
__global__ static void rd_sum_kernel(float *out, const float *x, size_t m, size_t stride,
                                     double mul)
{
    __shared__ double buf[33];
    const float *xb = x + blockIdx.x * stride;
    double s = 0.0;
    for (size_t i = threadIdx.x; i < m; i += blockDim.x)
        s += xb[i];
    s = kc_block_sum(s, buf);
    if (threadIdx.x == 0)
        out[blockIdx.x] = (float)(s * mul);
}

/* dinp[b·m + i] += (float)(dout[b] · mul) for the N blocks of m elements. */
__global__ static void rd_broadcast_add(float *dinp, const float *dout, size_t m, double mul,
                                        size_t n)
{
    EW_LOOP(i, n)
    dinp[i] += (float)(dout[i / m] * mul);
}

/* out[c] += Σ_n Σ_hw x[n, c, hw]. */
__global__ static void rd_channel_sum(float *out, const float *x, int N, int C, int HW)
{
    __shared__ double buf[33];
    const int c = blockIdx.x;
    double s = 0.0;
    for (int n = 0; n < N; n++) {
        const float *xc = x + ((size_t)n * C + c) * HW;
        for (int i = threadIdx.x; i < HW; i += blockDim.x)
            s += xc[i];
    }
    s = kc_block_sum(s, buf);
    if (threadIdx.x == 0)
        out[c] += (float)s;
}

int kc_channel_sum(float *out, const float *x, int N, int C, int HW)
{
    if (N <= 0 || C <= 0 || HW <= 0)
        return 0;
    rd_channel_sum<<<C, 256>>>(out, x, N, C, HW);
    return kc_launched("channel_sum");
}

static int rd_sum_launch(float *out, const float *inp, int blocks, size_t m, double mul)
{
    if (blocks <= 0)
        return 0;
    rd_sum_kernel<<<blocks, RD_THREADS>>>(out, inp, m, m, mul);
    return kc_launched("sum");
}

static int rd_broadcast_launch(float *dinp, const float *dout, int blocks, size_t m, double mul)
{
    const size_t n = (size_t)blocks * m;
    if (n == 0 || !dinp)
        return 0;
    rd_broadcast_add<<<EW_GRID(n)>>>(dinp, dout, m, mul, n);
    return kc_launched("reduction backward");
}

extern "C" int kc_sum_forward(float *out, const float *inp, size_t n)
{
    return rd_sum_launch(out, inp, 1, n, 1.0);
}

extern "C" int kc_sum_backward(float *dinp, const float *dout, size_t n)
{
    return rd_broadcast_launch(dinp, dout, 1, n, 1.0);
}

extern "C" int kc_mean_forward(float *out, const float *inp, size_t n)
{
    return rd_sum_launch(out, inp, 1, n, n ? 1.0 / (double)n : 0.0);
}

extern "C" int kc_mean_backward(float *dinp, const float *dout, size_t n)
{
    return rd_broadcast_launch(dinp, dout, 1, n, n ? 1.0 / (double)n : 0.0);
}

extern "C" int kc_mean_per_sample_forward(float *out, const float *inp, int N, size_t M)
{
    return rd_sum_launch(out, inp, N, M, M ? 1.0 / (double)M : 0.0);
}

extern "C" int kc_mean_per_sample_backward(float *dinp, const float *dout, int N, size_t M)
{
    return rd_broadcast_launch(dinp, dout, N, M, M ? 1.0 / (double)M : 0.0);
}
