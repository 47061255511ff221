/* conv2d.c — 2-D convolution (NCHW, any kernel size, stride, zero padding) on the CPU.
 *
 * Lowered per sample to im2col + sgemm: the column matrix col[K, P] (K = C_in·KH·KW,
 * P = OH·OW) gathers every input patch, so out = W[C_out, K] · col. Backward reuses the same
 * scratch: first col for dW += dout · colᵀ, then dcol = Wᵀ · dout, scattered back with col2im.
 * A 1×1 conv with stride 1 and no padding is a plain matrix product and skips the scratch.
 * im2col/col2im run in parallel over input channels (each thread owns whole channel planes,
 * so the scatter needs no atomics); sgemm brings its own threads, so it is called outside
 * OpenMP regions. The loop over samples is serial and fixed in order: deterministic. */
#include "kernels/ops_dense.h"

#include <cblas.h>
#include <string.h>

int k_conv2d_out_h(const k_conv2d_dims *d)
{
    return (d->H + 2 * d->pad - d->KH) / d->stride + 1;
}

int k_conv2d_out_w(const k_conv2d_dims *d)
{
    return (d->W + 2 * d->pad - d->KW) / d->stride + 1;
}

static int conv_is_pointwise(const k_conv2d_dims *d)
{
    return d->KH == 1 && d->KW == 1 && d->stride == 1 && d->pad == 0;
}

size_t k_conv2d_scratch_floats(const k_conv2d_dims *d)
{
    if (conv_is_pointwise(d))
        return 0;
    return (size_t)d->C_in * d->KH * d->KW * k_conv2d_out_h(d) * k_conv2d_out_w(d);
}

/* Output positions o in [lo, hi) read input index o·s − pad + k inside [0, size). */
static void conv_valid_range(int k, int size, int out_size, int s, int pad, int *lo, int *hi)
{
    int a = pad - k; /* need o·s >= a */
    int l = a <= 0 ? 0 : (a + s - 1) / s;
    int b = size - 1 + pad - k; /* need o·s <= b */
    int h = b < 0 ? 0 : b / s + 1;
    if (h > out_size)
        h = out_size;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

static void im2col(float *col, const float *img, const k_conv2d_dims *d, int OH, int OW)
{
    const int C = d->C_in, H = d->H, W = d->W, KH = d->KH, KW = d->KW;
    const int s = d->stride, pad = d->pad;
    const size_t P = (size_t)OH * OW;
    #pragma omp parallel for if ((size_t)C * KH * KW * P > 32768)
    for (int c = 0; c < C; c++) {
        const float *plane = img + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            int oh_lo, oh_hi;
            conv_valid_range(kh, H, OH, s, pad, &oh_lo, &oh_hi);
            for (int kw = 0; kw < KW; kw++) {
                int ow_lo, ow_hi;
                conv_valid_range(kw, W, OW, s, pad, &ow_lo, &ow_hi);
                float *row = col + ((size_t)(c * KH + kh) * KW + kw) * P;
                for (int oh = 0; oh < OH; oh++) {
                    float *r = row + (size_t)oh * OW;
                    if (oh < oh_lo || oh >= oh_hi) {
                        memset(r, 0, sizeof(float) * OW);
                        continue;
                    }
                    const float *src = plane + (size_t)(oh * s - pad + kh) * W + (kw - pad);
                    for (int ow = 0; ow < ow_lo; ow++)
                        r[ow] = 0.0f;
                    if (s == 1) {
                        if (ow_hi > ow_lo)
                            memcpy(r + ow_lo, src + ow_lo, sizeof(float) * (ow_hi - ow_lo));
                    } else {
                        for (int ow = ow_lo; ow < ow_hi; ow++)
                            r[ow] = src[ow * s];
                    }
                    for (int ow = ow_hi; ow < OW; ow++)
                        r[ow] = 0.0f;
                }
            }
        }
    }
}

/* img += scatter of col: the adjoint of im2col. */
static void col2im_add(float *img, const float *col, const k_conv2d_dims *d, int OH, int OW)
{
    const int C = d->C_in, H = d->H, W = d->W, KH = d->KH, KW = d->KW;
    const int s = d->stride, pad = d->pad;
    const size_t P = (size_t)OH * OW;
    #pragma omp parallel for if ((size_t)C * KH * KW * P > 32768)
    for (int c = 0; c < C; c++) {
        float *plane = img + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++) {
            int oh_lo, oh_hi;
            conv_valid_range(kh, H, OH, s, pad, &oh_lo, &oh_hi);
            for (int kw = 0; kw < KW; kw++) {
                int ow_lo, ow_hi;
                conv_valid_range(kw, W, OW, s, pad, &ow_lo, &ow_hi);
                const float *row = col + ((size_t)(c * KH + kh) * KW + kw) * P;
                for (int oh = oh_lo; oh < oh_hi; oh++) {
                    const float *r = row + (size_t)oh * OW;
                    float *dst = plane + (size_t)(oh * s - pad + kh) * W + (kw - pad);
                    for (int ow = ow_lo; ow < ow_hi; ow++)
                        dst[ow * s] += r[ow];
                }
            }
        }
    }
}

void k_conv2d_forward(float *out, const float *inp, const float *weight, const float *bias,
                      float *scratch, const k_conv2d_dims *d)
{
    const int OH = k_conv2d_out_h(d), OW = k_conv2d_out_w(d);
    const int K = d->C_in * d->KH * d->KW, P = OH * OW;
    const int pointwise = conv_is_pointwise(d);
    for (int n = 0; n < d->N; n++) {
        const float *x = inp + (size_t)n * d->C_in * d->H * d->W;
        float *y = out + (size_t)n * d->C_out * P;
        if (bias) {
            #pragma omp parallel for if ((long)d->C_out * P > 65536)
            for (int o = 0; o < d->C_out; o++)
                for (int p = 0; p < P; p++)
                    y[(size_t)o * P + p] = bias[o];
        }
        const float *col = x;
        if (!pointwise) {
            im2col(scratch, x, d, OH, OW);
            col = scratch;
        }
        /* y[C_out, P] (+)= W[C_out, K] · col[K, P] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->C_out, P, K, 1.0f, weight, K,
                    col, P, bias ? 1.0f : 0.0f, y, P);
    }
}

void k_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, float *scratch,
                       const k_conv2d_dims *d)
{
    const int OH = k_conv2d_out_h(d), OW = k_conv2d_out_w(d);
    const int K = d->C_in * d->KH * d->KW, P = OH * OW;
    const int pointwise = conv_is_pointwise(d);
    if (dbias) {
        #pragma omp parallel for if ((long)d->N * d->C_out * P > 65536)
        for (int o = 0; o < d->C_out; o++) {
            double s = 0.0;
            for (int n = 0; n < d->N; n++) {
                const float *g = dout + ((size_t)n * d->C_out + o) * P;
                float t = 0.0f;
                for (int p = 0; p < P; p++)
                    t += g[p];
                s += t;
            }
            dbias[o] += (float)s;
        }
    }
    for (int n = 0; n < d->N; n++) {
        const float *x = inp + (size_t)n * d->C_in * d->H * d->W;
        const float *g = dout + (size_t)n * d->C_out * P;
        if (dweight) {
            const float *col = x;
            if (!pointwise) {
                im2col(scratch, x, d, OH, OW);
                col = scratch;
            }
            /* dW[C_out, K] += dout[C_out, P] · col[K, P]ᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->C_out, K, P, 1.0f, g, P,
                        col, P, 1.0f, dweight, K);
        }
        if (dinp) {
            float *dx = dinp + (size_t)n * d->C_in * d->H * d->W;
            /* dcol[K, P] = W[C_out, K]ᵀ · dout[C_out, P]; pointwise: straight into dx */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, d->C_out, 1.0f, weight, K,
                        g, P, pointwise ? 1.0f : 0.0f, pointwise ? dx : scratch, P);
            if (!pointwise)
                col2im_add(dx, scratch, d, OH, OW);
        }
    }
}
