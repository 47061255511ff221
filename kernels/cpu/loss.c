/* loss.c — the per-sample-weighted training losses of sd-scripts (see ops_loss.h) on the CPU,
 * optionally masked per element (masked_loss). Each sample's sum is split into a fixed
 * number of blocks summed in double in parallel and then added in block order, so the loss
 * does not depend on the thread count. */
#include "kernels/ops_loss.h"

#include <math.h>
#include <string.h>

#define LOSS_BLOCKS 64

static const char *const loss_names[] = { "l2", "l1", "huber", "smooth_l1" };

int k_loss_type_from_name(const char *name)
{
    for (int t = 0; t < (int)(sizeof loss_names / sizeof loss_names[0]); t++)
        if (name && strcmp(name, loss_names[t]) == 0)
            return t;
    return -1;
}

const char *k_loss_type_name(k_loss_type t)
{
    return (unsigned)t < sizeof loss_names / sizeof loss_names[0] ? loss_names[t] : "?";
}

static float loss_elem(k_loss_type type, float d, float c)
{
    switch (type) {
    case K_LOSS_L2: return d * d;
    case K_LOSS_L1: return fabsf(d);
    case K_LOSS_HUBER: return 2.0f * c * (sqrtf(d * d + c * c) - c);
    case K_LOSS_SMOOTH_L1: return 2.0f * (sqrtf(d * d + c * c) - c);
    }
    return 0.0f;
}

static float loss_deriv(k_loss_type type, float d, float c)
{
    switch (type) {
    case K_LOSS_L2: return 2.0f * d;
    case K_LOSS_L1: return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
    case K_LOSS_HUBER:
    case K_LOSS_SMOOTH_L1: {
        const float r = sqrtf(d * d + c * c); /* 0 only at d = c = 0, where the slope is 0 */
        return r > 0.0f ? (type == K_LOSS_HUBER ? 2.0f * c : 2.0f) * d / r : 0.0f;
    }
    }
    return 0.0f;
}

void k_loss_forward_masked(float *loss, float *per_sample, const float *pred, const float *target,
                           const float *weight, const float *c, const float *mask, size_t HW,
                           k_loss_type type, int N, size_t M)
{
    const size_t blk = (M + LOSS_BLOCKS - 1) / LOSS_BLOCKS;
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        const float *p = pred + (size_t)n * M, *t = target + (size_t)n * M;
        const float *m = mask ? mask + (size_t)n * HW : NULL;
        const float cn = c ? c[n] : 0.0f;
        double part[LOSS_BLOCKS] = { 0 };
        #pragma omp parallel for if (M > 32768)
        for (int b = 0; b < LOSS_BLOCKS; b++) {
            const size_t i0 = (size_t)b * blk, i1 = i0 + blk < M ? i0 + blk : M;
            double s = 0.0;
            if (m)   /* f32 product, as torch's loss * mask_image */
                for (size_t i = i0; i < i1; i++)
                    s += loss_elem(type, p[i] - t[i], cn) * m[i % HW];
            else
                for (size_t i = i0; i < i1; i++)
                    s += loss_elem(type, p[i] - t[i], cn);
            part[b] = s;
        }
        double s = 0.0;
        for (int b = 0; b < LOSS_BLOCKS; b++)
            s += part[b];
        const double ln = (M ? s / (double)M : 0.0) * (weight ? weight[n] : 1.0);
        if (per_sample)
            per_sample[n] = (float)ln;
        total += ln;
    }
    loss[0] = N > 0 ? (float)(total / N) : 0.0f;
}

void k_loss_forward(float *loss, float *per_sample, const float *pred, const float *target,
                    const float *weight, const float *c, k_loss_type type, int N, size_t M)
{
    k_loss_forward_masked(loss, per_sample, pred, target, weight, c, NULL, 1, type, N, M);
}

void k_loss_backward_masked(float *dpred, const float *dloss, const float *pred,
                            const float *target, const float *weight, const float *c,
                            const float *mask, size_t HW, k_loss_type type, int N, size_t M)
{
    for (int n = 0; n < N; n++) {
        const float *p = pred + (size_t)n * M, *t = target + (size_t)n * M;
        const float *m = mask ? mask + (size_t)n * HW : NULL;
        float *g = dpred + (size_t)n * M;
        const float cn = c ? c[n] : 0.0f;
        /* d loss / d f(d_i) = dloss · w_n · mask_i / (N · M) */
        const float k = (float)((double)dloss[0] * (weight ? weight[n] : 1.0) / ((double)N * M));
        if (m) {
            #pragma omp parallel for if (M > 32768)
            for (size_t i = 0; i < M; i++)
                g[i] += k * loss_deriv(type, p[i] - t[i], cn) * m[i % HW];
        } else {
            #pragma omp parallel for if (M > 32768)
            for (size_t i = 0; i < M; i++)
                g[i] += k * loss_deriv(type, p[i] - t[i], cn);
        }
    }
}

void k_loss_backward(float *dpred, const float *dloss, const float *pred, const float *target,
                     const float *weight, const float *c, k_loss_type type, int N, size_t M)
{
    k_loss_backward_masked(dpred, dloss, pred, target, weight, c, NULL, 1, type, N, M);
}
