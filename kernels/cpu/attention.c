/* attention.c — multi-head scaled dot-product attention on the CPU, flash-attention style.
 *
 * Per (batch, head), queries go in tiles of tile_q rows and keys in tiles of tile_k columns.
 * The forward keeps a running row maximum m and sum l (online softmax, Milakov & Gimelshein
 * 2018; Dao et al. 2022): when a new key tile raises the maximum, the partial output and sum
 * are rescaled by exp(m_old − m_new). It saves lse = m + log l per query row, so the backward
 * recomputes P = exp(S − lse) tile by tile (Dao et al., Algorithm 2) and never holds the
 * Tq × Tk matrix. The products of a tile (Q Kᵀ, P V, and the four in the backward) go to
 * sgemm with the head's column stride H·d, reading q/k/v and accumulating into out/dq/dk/dv in
 * place. Threads take whole units — a (batch, head, query tile) in the forward, a
 * (batch, head) in the backward, whose dk/dv sums run over all query tiles — each with its own
 * slice of scratch, so units never share an output element and every sum is in a fixed
 * order: results do not depend on the thread count. Inside a unit the sgemm calls are small
 * (one tile) and the exp work is serial: mixing OpenMP regions with OpenBLAS's own threads
 * tile by tile made the op 20× slower than either alone (both pools spin-wait).
 */
#include "kernels/ops_attention.h"

#include <cblas.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define ATTN_TILE 64
/* OpenBLAS runs a gemm on one thread when m·n·k ≤ 65536 · GEMM_MULTITHREAD_THRESHOLD (4 by
 * default); default tiles stay below that so its thread pool never starts inside ours. */
#define ATTN_BLAS_SERIAL_MNK 262144

static void attn_tiles(const k_attn_dims *a, int *bq, int *bk)
{
    int tk = a->tile_k > 0 ? a->tile_k : ATTN_TILE;
    int tq = a->tile_q;
    if (tq <= 0) {
        tq = ATTN_BLAS_SERIAL_MNK / (ATTN_TILE * (a->d > 0 ? a->d : 1));
        tq = tq > ATTN_TILE ? ATTN_TILE : (tq < 8 ? 8 : tq);
    }
    *bq = tq < a->Tq ? tq : a->Tq;
    *bk = tk < a->Tk ? tk : a->Tk;
    if (*bq < 1)
        *bq = 1;
    if (*bk < 1)
        *bk = 1;
}

static int attn_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int attn_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Per-thread slice: S/P tile, dP tile, and three per-row vectors (m, l; D in the backward). */
static size_t attn_slice_floats(int bq, int bk)
{
    return 2 * (size_t)bq * bk + 3 * (size_t)bq;
}

size_t k_attention_scratch_floats(const k_attn_dims *a)
{
    int bq, bk;
    attn_tiles(a, &bq, &bk);
    return (size_t)attn_threads() * attn_slice_floats(bq, bk);
}

static float attn_scale(const k_attn_dims *a)
{
    return a->scale > 0.0f ? a->scale : 1.0f / sqrtf((float)a->d);
}

/* Number of visible keys of tile row r (query i0 + r) in the key tile starting at j0. */
static int attn_visible(const k_attn_dims *a, int i0, int r, int j0, int nk)
{
    if (!a->causal)
        return nk;
    int lim = i0 + r - j0 + 1;
    return lim < nk ? (lim > 0 ? lim : 0) : nk;
}

/* Keys beyond the last visible one of the query tile are never needed under the causal mask. */
static int attn_key_end(const k_attn_dims *a, int i0, int nq)
{
    return a->causal && i0 + nq < a->Tk ? i0 + nq : a->Tk;
}

static int attn_empty(const k_attn_dims *a)
{
    return a->B <= 0 || a->Tq <= 0 || a->Tk <= 0 || a->H <= 0 || a->d <= 0;
}

/* One (batch b, head h, query tile at i0) of the forward. */
static void attn_forward_unit(float *out, float *lse, const float *q, const float *k,
                              const float *v, float *slice, const k_attn_dims *a, int b, int h,
                              int i0, int bq, int bk, float scale)
{
    const int Tq = a->Tq, Tk = a->Tk, H = a->H, d = a->d;
    const size_t HD = (size_t)H * d;
    const int nq = Tq - i0 < bq ? Tq - i0 : bq;
    float *S = slice, *mrow = slice + 2 * (size_t)bq * bk, *lrow = mrow + bq;
    const float *qt = q + ((size_t)b * Tq + i0) * HD + (size_t)h * d;
    const float *kh = k + (size_t)b * Tk * HD + (size_t)h * d;
    const float *vh = v + (size_t)b * Tk * HD + (size_t)h * d;
    float *o = out + ((size_t)b * Tq + i0) * HD + (size_t)h * d;

    for (int r = 0; r < nq; r++) {
        mrow[r] = -INFINITY;
        lrow[r] = 0.0f;
        for (int c = 0; c < d; c++)
            o[(size_t)r * HD + c] = 0.0f;
    }
    const int jend = attn_key_end(a, i0, nq);
    for (int j0 = 0; j0 < jend; j0 += bk) {
        const int nk = jend - j0 < bk ? jend - j0 : bk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, d, scale, qt, (int)HD,
                    kh + (size_t)j0 * HD, (int)HD, 0.0f, S, bk);
        for (int r = 0; r < nq; r++) {
            float *s = S + (size_t)r * bk;
            const int lim = attn_visible(a, i0, r, j0, nk);
            float mx = mrow[r];
            for (int c = 0; c < lim; c++)
                mx = s[c] > mx ? s[c] : mx;
            float sum = 0.0f;
            for (int c = 0; c < lim; c++) {
                s[c] = expf(s[c] - mx);
                sum += s[c];
            }
            for (int c = lim; c < nk; c++)
                s[c] = 0.0f;
            if (lim == 0)
                continue;
            const float corr = expf(mrow[r] - mx); /* 0 on the first tile */
            lrow[r] = lrow[r] * corr + sum;
            mrow[r] = mx;
            if (corr != 1.0f)
                for (int c = 0; c < d; c++)
                    o[(size_t)r * HD + c] *= corr;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, d, nk, 1.0f, S, bk,
                    vh + (size_t)j0 * HD, (int)HD, 1.0f, o, (int)HD);
    }
    float *lh = lse + ((size_t)b * H + h) * Tq + i0;
    for (int r = 0; r < nq; r++) {
        const float inv = 1.0f / lrow[r];
        for (int c = 0; c < d; c++)
            o[(size_t)r * HD + c] *= inv;
        lh[r] = mrow[r] + logf(lrow[r]);
    }
}

void k_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                         float *scratch, const k_attn_dims *a)
{
    if (attn_empty(a))
        return;
    const float scale = attn_scale(a);
    int bq, bk;
    attn_tiles(a, &bq, &bk);
    const int ntiles = (a->Tq + bq - 1) / bq;
    const long units = (long)a->B * a->H * ntiles;
    const size_t slice = attn_slice_floats(bq, bk);
    #pragma omp parallel for schedule(static) num_threads(attn_threads()) if (units > 1)
    for (long u = 0; u < units; u++) {
        const int t = (int)(u % ntiles), bh = (int)(u / ntiles);
        attn_forward_unit(out, lse, q, k, v, scratch + (size_t)attn_thread_id() * slice, a,
                          bh / a->H, bh % a->H, t * bq, bq, bk, scale);
    }
}

/* One (batch b, head h) of the backward: all its query tiles against all key tiles. */
static void attn_backward_unit(float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, const float *out,
                               const float *lse, float *slice, const k_attn_dims *a, int b,
                               int h, int bq, int bk, float scale)
{
    const int Tq = a->Tq, Tk = a->Tk, H = a->H, d = a->d;
    const size_t HD = (size_t)H * d;
    float *P = slice, *dS = slice + (size_t)bq * bk, *D = dS + (size_t)bq * bk;
    const size_t qoff = (size_t)b * Tq * HD + (size_t)h * d;
    const size_t koff = (size_t)b * Tk * HD + (size_t)h * d;
    const float *lh = lse + ((size_t)b * H + h) * Tq;
    for (int i0 = 0; i0 < Tq; i0 += bq) {
        const int nq = Tq - i0 < bq ? Tq - i0 : bq;
        const size_t qt = qoff + (size_t)i0 * HD;
        /* D_i = Σ_c dO_ic O_ic = Σ_j P_ij dP_ij: the softmax backward's row term */
        for (int r = 0; r < nq; r++) {
            float s = 0.0f;
            for (int c = 0; c < d; c++)
                s += dout[qt + (size_t)r * HD + c] * out[qt + (size_t)r * HD + c];
            D[r] = s;
        }
        const int jend = attn_key_end(a, i0, nq);
        for (int j0 = 0; j0 < jend; j0 += bk) {
            const int nk = jend - j0 < bk ? jend - j0 : bk;
            const size_t kt = koff + (size_t)j0 * HD;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, d, scale, q + qt,
                        (int)HD, k + kt, (int)HD, 0.0f, P, bk);
            for (int r = 0; r < nq; r++) {
                float *p = P + (size_t)r * bk;
                const int lim = attn_visible(a, i0, r, j0, nk);
                const float l = lh[i0 + r];
                for (int c = 0; c < lim; c++)
                    p[c] = expf(p[c] - l);
                for (int c = lim; c < nk; c++)
                    p[c] = 0.0f;
            }
            /* dV += Pᵀ dO */
            if (dv)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, d, nq, 1.0f, P, bk,
                            dout + qt, (int)HD, 1.0f, dv + kt, (int)HD);
            if (!dq && !dk)
                continue;
            /* dP = dO Vᵀ, then dS = P ⊙ (dP − D) · scale (the scale of S = scale·QKᵀ) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, nk, d, 1.0f, dout + qt,
                        (int)HD, v + kt, (int)HD, 0.0f, dS, bk);
            for (int r = 0; r < nq; r++) {
                const float *p = P + (size_t)r * bk;
                float *g = dS + (size_t)r * bk;
                for (int c = 0; c < nk; c++)
                    g[c] = p[c] * (g[c] - D[r]) * scale;
            }
            /* dQ += dS K,  dK += dSᵀ Q */
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, d, nk, 1.0f, dS, bk,
                            k + kt, (int)HD, 1.0f, dq + qt, (int)HD);
            if (dk)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, d, nq, 1.0f, dS, bk,
                            q + qt, (int)HD, 1.0f, dk + kt, (int)HD);
        }
    }
}

void k_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *k, const float *v, const float *out, const float *lse,
                          float *scratch, const k_attn_dims *a)
{
    if (attn_empty(a) || (!dq && !dk && !dv))
        return;
    const float scale = attn_scale(a);
    int bq, bk;
    attn_tiles(a, &bq, &bk);
    const int units = a->B * a->H;
    const size_t slice = attn_slice_floats(bq, bk);
    #pragma omp parallel for schedule(static) num_threads(attn_threads()) if (units > 1)
    for (int u = 0; u < units; u++)
        attn_backward_unit(dq, dk, dv, dout, q, k, v, out, lse,
                           scratch + (size_t)attn_thread_id() * slice, a, u / a->H, u % a->H,
                           bq, bk, scale);
}
