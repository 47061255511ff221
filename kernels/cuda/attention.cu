/* attention.cu — multi-head scaled dot-product attention on the GPU, flash-attention style,
 * with k_attention_*'s layout and semantics (q, out [B, Tq, H·d]; k, v [B, Tk, H·d];
 * lse [B, H, Tq]; scale 1/√d unless given; causal: key j visible to query i iff j ≤ i).
 *
 * Plain f32 CUDA cores, written to be obviously right rather than fast (no tensor cores):
 *  - forward: a block takes ATTN_BQ query rows of one (batch, head); key/value tiles of
 *    ATTN_BK rows pass through shared memory. Each warp owns ATTN_RPW query rows; lane j
 *    scores key j of the tile, the warp finds the tile's max and sum with shuffles, and the
 *    running max m, sum l and output o are rescaled by exp(m_old − m_new) (online softmax,
 *    Milakov & Gimelshein 2018; Dao et al. 2022). o lives in registers, lane c holding
 *    channels c, c + 32, ... (so d ≤ 32·ATTN_NPL). It saves lse = m + log l.
 *  - backward (Dao et al., Algorithm 2, split in two kernels so that every gradient element
 *    has one owner and sums run in a fixed order — no atomics, deterministic):
 *      dK/dV: a block owns ATTN_BKV keys and loops over all query tiles; lane i takes query i
 *             of a 32-row tile, recomputes P = exp(S − lse) and dS = P (dP − D) · scale.
 *      dQ:    a block owns ATTN_BQ queries and loops over key tiles, as the forward.
 *    D_i = Σ_c dO_ic O_ic is recomputed where needed, so no scratch memory is used.
 * Memory is O(tile) per block: nothing of size Tq × Tk is ever stored. Odd row strides
 * (d | 1) in shared memory keep the lane-per-row dot products free of bank conflicts. */
#include "kernels/cuda/common.cuh"

#include <math.h>

#define ATTN_WARPS 4
#define ATTN_RPW 4                         /* query rows per warp (forward, dQ) */
#define ATTN_BQ (ATTN_WARPS * ATTN_RPW)    /* query rows per block (forward, dQ) */
#define ATTN_BK 32                         /* keys per tile: one per lane */
#define ATTN_KPW 4                         /* keys per warp (dK/dV) */
#define ATTN_BKV (ATTN_WARPS * ATTN_KPW)   /* keys per block (dK/dV) */
#define ATTN_NPL (KC_ATTN_MAX_D / 32)      /* output channels per lane */

/* Dot product of two d-vectors in shared memory. */
__device__ static inline float attn_dot(const float *a, const float *b, int d)
{
    float s = 0.0f;
    for (int c = 0; c < d; c++)
        s += a[c] * b[c];
    return s;
}

/* Copies rows [r0, r0 + rows) of a [T, H·d] head slice into shared memory with stride st,
 * zero-filling rows at or past T. All threads of the block take part. */
__device__ static inline void attn_load(float *dst, int st, const float *src, size_t HD, int r0,
                                        int rows, int T, int d)
{
    for (int e = threadIdx.x; e < rows * d; e += blockDim.x) {
        const int r = e / d, c = e % d;
        dst[r * st + c] = r0 + r < T ? src[(size_t)(r0 + r) * HD + c] : 0.0f;
    }
}

__global__ static void __launch_bounds__(32 * ATTN_WARPS)
attn_forward_kernel(float *out, float *lse, const float *q, const float *k, const float *v,
                    int Tq, int Tk, int H, int d, int causal, float scale)
{
    extern __shared__ float sm[];
    const int st = d | 1;
    float *qs = sm;                  /* [BQ][d] */
    float *ks = qs + ATTN_BQ * d;    /* [BK][st] */
    float *vs = ks + ATTN_BK * st;   /* [BK][d] */
    float *ps = vs + ATTN_BK * d;    /* [WARPS][BK] */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int b = blockIdx.z, h = blockIdx.y, i0 = blockIdx.x * ATTN_BQ;
    const size_t HD = (size_t)H * d;
    const float *qh = q + (size_t)b * Tq * HD + (size_t)h * d;
    const float *kh = k + (size_t)b * Tk * HD + (size_t)h * d;
    const float *vh = v + (size_t)b * Tk * HD + (size_t)h * d;
    float *p = ps + warp * ATTN_BK;

    attn_load(qs, d, qh, HD, i0, ATTN_BQ, Tq, d);
    float m[ATTN_RPW], l[ATTN_RPW], o[ATTN_RPW][ATTN_NPL];
#pragma unroll
    for (int rr = 0; rr < ATTN_RPW; rr++) {
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int t = 0; t < ATTN_NPL; t++)
            o[rr][t] = 0.0f;
    }
    const int jend = causal && i0 + ATTN_BQ < Tk ? i0 + ATTN_BQ : Tk;
    for (int j0 = 0; j0 < jend; j0 += ATTN_BK) {
        __syncthreads(); /* the previous tile is no longer read (and qs is loaded) */
        attn_load(ks, st, kh, HD, j0, ATTN_BK, Tk, d);
        attn_load(vs, d, vh, HD, j0, ATTN_BK, Tk, d);
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < ATTN_RPW; rr++) {
            const int r = warp * ATTN_RPW + rr, i = i0 + r, j = j0 + lane;
            if (i >= Tq)
                continue; /* the same for the whole warp */
            const bool valid = j < Tk && (!causal || j <= i);
            const float s = valid ? attn_dot(qs + r * d, ks + lane * st, d) * scale : -INFINITY;
            const float mnew = fmaxf(m[rr], kc_warp_max(s));
            if (mnew == -INFINITY)
                continue; /* no visible key so far: nothing to add (uniform) */
            const float e = valid ? expf(s - mnew) : 0.0f;
            const float sum = kc_warp_sum(e);
            const float corr = expf(m[rr] - mnew); /* 0 while m is -inf */
            l[rr] = l[rr] * corr + sum;
            m[rr] = mnew;
            p[lane] = e;
            __syncwarp();
#pragma unroll
            for (int t = 0; t < ATTN_NPL; t++) {
                const int c = lane + 32 * t;
                if (c < d) {
                    float acc = 0.0f;
                    for (int jj = 0; jj < ATTN_BK; jj++)
                        acc += p[jj] * vs[jj * d + c];
                    o[rr][t] = o[rr][t] * corr + acc;
                }
            }
            __syncwarp(); /* p is rewritten by the next row */
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATTN_RPW; rr++) {
        const int i = i0 + warp * ATTN_RPW + rr;
        if (i >= Tq)
            continue;
        const float inv = 1.0f / l[rr];
        float *oi = out + ((size_t)b * Tq + i) * HD + (size_t)h * d;
#pragma unroll
        for (int t = 0; t < ATTN_NPL; t++) {
            const int c = lane + 32 * t;
            if (c < d)
                oi[c] = o[rr][t] * inv;
        }
        if (lane == 0)
            lse[((size_t)b * H + h) * Tq + i] = m[rr] + logf(l[rr]);
    }
}

/* dK, dV for ATTN_BKV keys per block; lane i ↔ query i0 + i of a 32-row query tile. */
__global__ static void __launch_bounds__(32 * ATTN_WARPS)
attn_backward_kv_kernel(float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *out, const float *lse,
                        int Tq, int Tk, int H, int d, int causal, float scale)
{
    extern __shared__ float sm[];
    const int st = d | 1;
    float *ksh = sm;                      /* [BKV][d] */
    float *vsh = ksh + ATTN_BKV * d;      /* [BKV][d] */
    float *qs = vsh + ATTN_BKV * d;       /* [32][st] */
    float *dos = qs + 32 * st;            /* [32][st] */
    float *lse_s = dos + 32 * st;         /* [32] */
    float *D_s = lse_s + 32;              /* [32] */
    float *pbuf = D_s + 32;               /* [WARPS][32] */
    float *dsbuf = pbuf + ATTN_WARPS * 32; /* [WARPS][32] */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int b = blockIdx.z, h = blockIdx.y, j0 = blockIdx.x * ATTN_BKV;
    const size_t HD = (size_t)H * d;
    const size_t qoff = (size_t)b * Tq * HD + (size_t)h * d;
    const size_t koff = (size_t)b * Tk * HD + (size_t)h * d;
    const float *lh = lse + ((size_t)b * H + h) * Tq;
    float *pw = pbuf + warp * 32, *dsw = dsbuf + warp * 32;

    attn_load(ksh, d, k + koff, HD, j0, ATTN_BKV, Tk, d);
    attn_load(vsh, d, v + koff, HD, j0, ATTN_BKV, Tk, d);
    float akk[ATTN_KPW][ATTN_NPL], avv[ATTN_KPW][ATTN_NPL];
#pragma unroll
    for (int kk = 0; kk < ATTN_KPW; kk++)
#pragma unroll
        for (int t = 0; t < ATTN_NPL; t++)
            akk[kk][t] = avv[kk][t] = 0.0f;

    /* under the causal mask, queries before j0 see none of this block's keys */
    const int istart = causal ? j0 - j0 % 32 : 0;
    for (int i0 = istart; i0 < Tq; i0 += 32) {
        __syncthreads(); /* the previous query tile is no longer read */
        attn_load(qs, st, q + qoff, HD, i0, 32, Tq, d);
        attn_load(dos, st, dout + qoff, HD, i0, 32, Tq, d);
        for (int r = warp; r < 32; r += ATTN_WARPS) {
            const int i = i0 + r;
            float s = 0.0f;
            if (i < Tq)
                for (int c = lane; c < d; c += 32)
                    s += dout[qoff + (size_t)i * HD + c] * out[qoff + (size_t)i * HD + c];
            s = kc_warp_sum(s);
            if (lane == 0) {
                D_s[r] = s;
                lse_s[r] = i < Tq ? lh[i] : 0.0f;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < ATTN_KPW; kk++) {
            const int kr = warp * ATTN_KPW + kk, j = j0 + kr, i = i0 + lane;
            if (j >= Tk)
                continue; /* uniform over the warp */
            const bool valid = i < Tq && (!causal || j <= i);
            float pv = 0.0f, ds = 0.0f;
            if (valid) {
                const float s = attn_dot(qs + lane * st, ksh + kr * d, d) * scale;
                pv = expf(s - lse_s[lane]);
                const float dp = attn_dot(dos + lane * st, vsh + kr * d, d);
                ds = pv * (dp - D_s[lane]) * scale;
            }
            pw[lane] = pv;
            dsw[lane] = ds;
            __syncwarp();
#pragma unroll
            for (int t = 0; t < ATTN_NPL; t++) {
                const int c = lane + 32 * t;
                if (c < d) {
                    float av = 0.0f, ak = 0.0f;
                    for (int ii = 0; ii < 32; ii++) {
                        av += pw[ii] * dos[ii * st + c];
                        ak += dsw[ii] * qs[ii * st + c];
                    }
                    avv[kk][t] += av;
                    akk[kk][t] += ak;
                }
            }
            __syncwarp();
        }
    }
#pragma unroll
    for (int kk = 0; kk < ATTN_KPW; kk++) {
        const int j = j0 + warp * ATTN_KPW + kk;
        if (j >= Tk)
            continue;
#pragma unroll
        for (int t = 0; t < ATTN_NPL; t++) {
            const int c = lane + 32 * t;
            if (c < d) {
                if (dk)
                    dk[koff + (size_t)j * HD + c] += akk[kk][t];
                if (dv)
                    dv[koff + (size_t)j * HD + c] += avv[kk][t];
            }
        }
    }
}

/* dQ for ATTN_BQ queries per block; lane j ↔ key j0 + j of a key tile. */
__global__ static void __launch_bounds__(32 * ATTN_WARPS)
attn_backward_q_kernel(float *dq, const float *dout, const float *q, const float *k,
                       const float *v, const float *out, const float *lse, int Tq, int Tk,
                       int H, int d, int causal, float scale)
{
    extern __shared__ float sm[];
    const int st = d | 1;
    float *qs = sm;                     /* [BQ][d] */
    float *dos = qs + ATTN_BQ * d;      /* [BQ][d] */
    float *ks = dos + ATTN_BQ * d;      /* [BK][st] */
    float *vs = ks + ATTN_BK * st;      /* [BK][st] */
    float *dsbuf = vs + ATTN_BK * st;   /* [WARPS][BK] */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int b = blockIdx.z, h = blockIdx.y, i0 = blockIdx.x * ATTN_BQ;
    const size_t HD = (size_t)H * d;
    const size_t qoff = (size_t)b * Tq * HD + (size_t)h * d;
    const size_t koff = (size_t)b * Tk * HD + (size_t)h * d;
    float *dsw = dsbuf + warp * ATTN_BK;

    attn_load(qs, d, q + qoff, HD, i0, ATTN_BQ, Tq, d);
    attn_load(dos, d, dout + qoff, HD, i0, ATTN_BQ, Tq, d);
    float Dr[ATTN_RPW], lr[ATTN_RPW], acc[ATTN_RPW][ATTN_NPL];
#pragma unroll
    for (int rr = 0; rr < ATTN_RPW; rr++) {
        const int i = i0 + warp * ATTN_RPW + rr;
        float s = 0.0f;
        if (i < Tq)
            for (int c = lane; c < d; c += 32)
                s += dout[qoff + (size_t)i * HD + c] * out[qoff + (size_t)i * HD + c];
        Dr[rr] = kc_warp_sum(s);
        lr[rr] = i < Tq ? lse[((size_t)b * H + h) * Tq + i] : 0.0f;
#pragma unroll
        for (int t = 0; t < ATTN_NPL; t++)
            acc[rr][t] = 0.0f;
    }
    const int jend = causal && i0 + ATTN_BQ < Tk ? i0 + ATTN_BQ : Tk;
    for (int j0 = 0; j0 < jend; j0 += ATTN_BK) {
        __syncthreads();
        attn_load(ks, st, k + koff, HD, j0, ATTN_BK, Tk, d);
        attn_load(vs, st, v + koff, HD, j0, ATTN_BK, Tk, d);
        __syncthreads();
#pragma unroll
        for (int rr = 0; rr < ATTN_RPW; rr++) {
            const int r = warp * ATTN_RPW + rr, i = i0 + r, j = j0 + lane;
            if (i >= Tq)
                continue; /* uniform */
            const bool valid = j < Tk && (!causal || j <= i);
            float ds = 0.0f;
            if (valid) {
                const float s = attn_dot(qs + r * d, ks + lane * st, d) * scale;
                const float pv = expf(s - lr[rr]);
                const float dp = attn_dot(dos + r * d, vs + lane * st, d);
                ds = pv * (dp - Dr[rr]) * scale;
            }
            dsw[lane] = ds;
            __syncwarp();
#pragma unroll
            for (int t = 0; t < ATTN_NPL; t++) {
                const int c = lane + 32 * t;
                if (c < d) {
                    float a = 0.0f;
                    for (int jj = 0; jj < ATTN_BK; jj++)
                        a += dsw[jj] * ks[jj * st + c];
                    acc[rr][t] += a;
                }
            }
            __syncwarp();
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATTN_RPW; rr++) {
        const int i = i0 + warp * ATTN_RPW + rr;
        if (i >= Tq)
            continue;
#pragma unroll
        for (int t = 0; t < ATTN_NPL; t++) {
            const int c = lane + 32 * t;
            if (c < d)
                dq[qoff + (size_t)i * HD + c] += acc[rr][t];
        }
    }
}

static size_t attn_smem_forward(int d)
{
    return sizeof(float) * ((size_t)ATTN_BQ * d + (size_t)ATTN_BK * (d | 1) + (size_t)ATTN_BK * d +
                             ATTN_WARPS * ATTN_BK);
}

static size_t attn_smem_kv(int d)
{
    return sizeof(float) * (2 * (size_t)ATTN_BKV * d + 2 * 32 * (size_t)(d | 1) + 64 +
                            2 * ATTN_WARPS * 32);
}

static size_t attn_smem_q(int d)
{
    return sizeof(float) * (2 * (size_t)ATTN_BQ * d + 2 * (size_t)ATTN_BK * (d | 1) +
                            ATTN_WARPS * ATTN_BK);
}

/* Kernels needing more than the default 48 KiB of shared memory must opt in. */
static int attn_smem_optin(const void *kernel, size_t bytes, const char *name)
{
    if (bytes <= 48 * 1024)
        return 0;
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int)bytes);
    return e == cudaSuccess ? 0 : kc_fail("%s: %zu bytes of shared memory: %s", name, bytes,
                                          cudaGetErrorString(e));
}

/* 1: nothing to do; 0: go; -1: invalid. */
static int attn_check(const k_attn_dims *a)
{
    if (a->B <= 0 || a->Tq <= 0 || a->Tk <= 0 || a->H <= 0 || a->d <= 0)
        return 1;
    if (a->d > KC_ATTN_MAX_D)
        return kc_fail("attention: head size %d > %d", a->d, KC_ATTN_MAX_D);
    if (a->H > 65535 || a->B > 65535)
        return kc_fail("attention: B=%d, H=%d beyond the grid limits", a->B, a->H);
    return 0;
}

static float attn_scale(const k_attn_dims *a)
{
    return a->scale > 0.0f ? a->scale : 1.0f / sqrtf((float)a->d);
}

extern "C" int kc_attention_forward(float *out, float *lse, const float *q, const float *k,
                                    const float *v, float *scratch, const k_attn_dims *a)
{
    (void)scratch;
    int c = attn_check(a);
    if (c)
        return c > 0 ? 0 : -1;
    const size_t smem = attn_smem_forward(a->d);
    if (attn_smem_optin((const void *)attn_forward_kernel, smem, "attention forward"))
        return -1;
    dim3 grid((unsigned)((a->Tq + ATTN_BQ - 1) / ATTN_BQ), (unsigned)a->H, (unsigned)a->B);
    attn_forward_kernel<<<grid, 32 * ATTN_WARPS, smem>>>(out, lse, q, k, v, a->Tq, a->Tk, a->H,
                                                         a->d, a->causal != 0, attn_scale(a));
    return kc_launched("attention forward");
}

extern "C" int kc_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                     const float *q, const float *k, const float *v,
                                     const float *out, const float *lse, float *scratch,
                                     const k_attn_dims *a)
{
    (void)scratch;
    int c = attn_check(a);
    if (c)
        return c > 0 ? 0 : -1;
    const float scale = attn_scale(a);
    if (dk || dv) {
        const size_t smem = attn_smem_kv(a->d);
        if (attn_smem_optin((const void *)attn_backward_kv_kernel, smem, "attention backward dK/dV"))
            return -1;
        dim3 grid((unsigned)((a->Tk + ATTN_BKV - 1) / ATTN_BKV), (unsigned)a->H, (unsigned)a->B);
        attn_backward_kv_kernel<<<grid, 32 * ATTN_WARPS, smem>>>(
            dk, dv, dout, q, k, v, out, lse, a->Tq, a->Tk, a->H, a->d, a->causal != 0, scale);
        if (kc_launched("attention backward dK/dV"))
            return -1;
    }
    if (dq) {
        const size_t smem = attn_smem_q(a->d);
        if (attn_smem_optin((const void *)attn_backward_q_kernel, smem, "attention backward dQ"))
            return -1;
        dim3 grid((unsigned)((a->Tq + ATTN_BQ - 1) / ATTN_BQ), (unsigned)a->H, (unsigned)a->B);
        attn_backward_q_kernel<<<grid, 32 * ATTN_WARPS, smem>>>(
            dq, dout, q, k, v, out, lse, a->Tq, a->Tk, a->H, a->d, a->causal != 0, scale);
        return kc_launched("attention backward dQ");
    }
    return 0;
}
