/* noise.c — noise offset, pyramid noise and input perturbation (see noise.h). */
#include "engine/train/noise.h"

#include <math.h>

#include "engine/train/noise_schedule.h"
#include "kernels/ops_attention.h"

void noise_bilinear_resize(float *out, const float *inp, int N, int inH, int inW, int outH,
                           int outW)
{
    /* torch's area_pixel_compute_source_index (align_corners=False): scale = in/out in f32,
     * src = max(0, (dst + 0.5)·scale − 0.5); neighbours idx and idx + 1 (clamped) */
    const float sh = (float)inH / (float)outH, sw = (float)inW / (float)outW;
    for (int oy = 0; oy < outH; oy++) {
        float sy = fmaxf(0.0f, sh * ((float)oy + 0.5f) - 0.5f);
        int y0 = (int)sy, y1 = y0 + (y0 < inH - 1);
        float ly1 = sy - (float)y0, ly0 = 1.0f - ly1;
        for (int ox = 0; ox < outW; ox++) {
            float sx = fmaxf(0.0f, sw * ((float)ox + 0.5f) - 0.5f);
            int x0 = (int)sx, x1 = x0 + (x0 < inW - 1);
            float lx1 = sx - (float)x0, lx0 = 1.0f - lx1;
            for (int n = 0; n < N; n++) {
                const float *p = inp + (size_t)n * inH * inW;
                out[(size_t)n * outH * outW + (size_t)oy * outW + ox] =
                    ly0 * (lx0 * p[y0 * inW + x0] + lx1 * p[y0 * inW + x1]) +
                    ly1 * (lx0 * p[y1 * inW + x0] + lx1 * p[y1 * inW + x1]);
            }
        }
    }
}

void noise_apply_offset(float *eps, const float *x0, int B, int C, int H, int W, double offset,
                        int random_strength, double adaptive_scale, uint64_t seed,
                        uint64_t rng_offset)
{
    const size_t hw = (size_t)H * W;
    const int BC = B * C;
    if (random_strength)   /* after the B·C normal draws, so without it the stream is theirs */
        offset *= noise_uniform(seed, rng_offset + (uint64_t)BC);
    float r[4096];
    for (int i0 = 0; i0 < BC; i0 += 4096) {
        int m = BC - i0 < 4096 ? BC - i0 : 4096;
        k_randn(r, (size_t)m, seed, rng_offset + (uint64_t)i0);
        for (int k = 0; k < m; k++) {
            const int bc = i0 + k;
            float o = (float)offset;
            if (!isnan(adaptive_scale)) {
                double mean = 0;
                for (size_t i = 0; i < hw; i++)
                    mean += x0[(size_t)bc * hw + i];
                o = fmaxf(0.0f, (float)offset + (float)adaptive_scale * fabsf((float)(mean / hw)));
            }
            for (size_t i = 0; i < hw; i++)
                eps[(size_t)bc * hw + i] += o * r[k];
        }
    }
}

size_t noise_pyramid_scratch(int B, int C, int H, int W)
{
    return 2 * (size_t)B * C * H * W;
}

void noise_pyramid(float *eps, float *scratch, int B, int C, int H, int W, int iterations,
                   double discount, uint64_t seed, uint64_t rng_offset)
{
    const size_t n = (size_t)B * C * H * W;
    float *low = scratch, *up = scratch + n;
    for (int i = 0; i < iterations; i++) {
        const uint64_t base = rng_offset + ((uint64_t)i << 20);
        const double r = 2.0 + 2.0 * noise_uniform(seed, base);
        const double f = pow(r, (double)i);
        int hn = (int)(H / f), wn = (int)(W / f);
        hn = hn > 1 ? hn : 1;
        wn = wn > 1 ? wn : 1;
        k_randn(low, (size_t)B * C * hn * wn, seed, base + 1);
        noise_bilinear_resize(up, low, B * C, hn, wn, H, W);
        const float d = (float)pow(discount, (double)i);
        for (size_t k = 0; k < n; k++)
            eps[k] += up[k] * d;
        if (hn == 1 || wn == 1)
            break;
    }
    double mean = 0, ss = 0;
    for (size_t k = 0; k < n; k++)
        mean += eps[k];
    mean /= (double)n;
    for (size_t k = 0; k < n; k++)
        ss += (eps[k] - mean) * (eps[k] - mean);
    const float sd = (float)sqrt(ss / (double)(n > 1 ? n - 1 : 1)); /* torch.std: unbiased */
    for (size_t k = 0; k < n; k++)
        eps[k] /= sd;
}

void noise_input_perturbation(float *out, const float *eps, size_t n, double gamma,
                              int random_strength, uint64_t seed, uint64_t rng_offset)
{
    if (random_strength)   /* after the n normal draws */
        gamma *= noise_uniform(seed, rng_offset + n);
    k_randn(out, n, seed, rng_offset);
    const float g = (float)gamma;
    for (size_t i = 0; i < n; i++)
        out[i] = eps[i] + g * out[i];
}
