/* oft.c — LyCORIS' orthogonal fine-tuning: Diag-OFT (DiagOFTModule) and BOFT
 * (ButterflyOFTModule), non-bypass, as ΔW = new W − W for the layer to add.
 *
 * Both rotate the rows of the layer's weight W [out, cols] by orthogonal blocks. Each block
 * comes from a trained square B (oft_blocks): Q = B − Bᵀ (over all blocks, scaled to norm
 * `constraint` when ‖Q‖ + 1e-8 exceeds it), then the Cayley transform
 *   R = (I + Q)(I − Q)⁻¹ = 2M − I,  M = (I − Q)⁻¹.
 * Diag-OFT: rows in consecutive blocks of s, new W_k = R_kᵀ W_k (LyCORIS' einsum
 *   "k n m, k n ... -> k m ..." contracts R's first index), R after rank dropout in training.
 * BOFT: boft_m stages; stage i pairs row c·k + d of each group of 2k rows (k = 2^i · s/2)
 *   into place 2d + c, rotates consecutive places in blocks of s by R (not transposed) and
 *   puts the rows back (make_weight's unflatten / transpose / flatten on the rows, as
 *   LyCORIS fixed it after 3.2.0.post2, whose release applied it to the last dimension).
 * Then new W ← rescale ⊙ new W per row when rescaled.
 * Backward from g = dL/dΔW: d rescale = Σ_cols g ⊙ new W; H = rescale ⊙ g; per block
 * dL/dR from H and the block's input rows; dL/dQ = (G + RᵀG)Mᵀ = 2MᵀGMᵀ; through the
 * constraint's scaling; dL/dB = dQ − dQᵀ. BOFT's backward recovers each stage's input from its
 * output with Rᵀ (R is orthogonal), so its work is two copies of W, not one per stage.
 * The blocks are inverted by Gauss-Jordan with partial pivoting in float, as LyCORIS inverts
 * in float: I − Q has every singular value ≥ 1. ΔW is built at multiplier 1 and the layer
 * scales it; LyCORIS folds a multiplier ≠ 1 into R (scale·R + (1 − scale)·I), which differs
 * from scaling ΔW outside training's multiplier 1. */
#include "engine/lora/lycoris.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels/ops_attention.h"

/* The work, carved out of the caller's floats. P = boft_m · oft_blocks · s². */
typedef struct oft_work {
    float *r, *m;      /* R and M = (I − Q)⁻¹ of every block: P each */
    float *dropped;    /* R after Diag-OFT's rank dropout: P */
    float *dr;         /* dL/dR, then dL/dQ: P */
    float *aug;        /* Gauss-Jordan's [s, 2s] */
    float *x, *h;      /* BOFT backward: the stage outputs and their gradient, out · cols each */
    float *t0, *t1, *t2; /* one block's rows, s · cols each */
} oft_work;

static size_t block_floats(const lora_adapter *a)
{
    return (size_t)a->oft_size * (size_t)a->oft_size;
}

static size_t param_floats(const lora_adapter *a)
{
    return (size_t)a->boft_m * (size_t)a->oft_blocks * block_floats(a);
}

static int is_boft(const lora_adapter *a)
{
    return a->kind == LORA_KIND_BOFT;
}

/* LyCORIS' power2factorization(dimension, factor): the block count n, a power of two with an
 * even block size m = dimension / n ≤ factor, taking the largest such m; 0 when there is none
 * (LyCORIS raises). Factors beyond the dimension change nothing, so they are clamped. */
static int butterfly_blocks(int dimension, int factor)
{
    if (dimension <= 0)
        return 0;
    if (factor == -1 || factor > dimension)
        factor = dimension;
    int m = 0, n = 0;
    while (m <= factor) {
        m += 2;
        while (dimension % m != 0 && m < dimension)
            m += 2;
        if (m > factor)
            break;
        int q = dimension / m;
        if (q > 0 && (q & (q - 1)) == 0)
            n = q;
    }
    return n;
}

static int bit_count(unsigned v)
{
    int c = 0;
    for (; v; v &= v - 1)
        c++;
    return c;
}

int oft_shapes(lora_adapter *a, int boft, int out, int rank, int rescaled, size_t sizes[4])
{
    memset(sizes, 0, 4 * sizeof *sizes);
    if (boft) {
        int n = butterfly_blocks(out, rank);
        if (n == 0)
            return -1;
        a->oft_blocks = n;
        a->oft_size = out / n;
        /* LyCORIS: boft_m = (ones in binary n − 1) + 1, log2(n) + 1 for its powers of two */
        a->boft_m = bit_count((unsigned)n - 1u) + 1;
    } else {
        lokr_factorization(out, rank, &a->oft_size, &a->oft_blocks);
        a->boft_m = 1;
    }
    sizes[0] = param_floats(a);
    sizes[1] = rescaled ? (size_t)out : 0;
    return 0;
}

size_t oft_work_floats(const lora_adapter *a, int out, size_t cols)
{
    size_t s = (size_t)a->oft_size;
    size_t n = 4 * param_floats(a) + 2 * s * s + 3 * s * cols;
    if (is_boft(a))
        n += 2 * (size_t)out * cols;
    return n;
}

static oft_work carve(const lora_adapter *a, int out, size_t cols, float *p)
{
    size_t np = param_floats(a), s = (size_t)a->oft_size;
    oft_work ow;
    ow.r = p, p += np;
    ow.m = p, p += np;
    ow.dropped = p, p += np;
    ow.dr = p, p += np;
    ow.aug = p, p += 2 * s * s;
    ow.t0 = p, p += s * cols;
    ow.t1 = p, p += s * cols;
    ow.t2 = p, p += s * cols;
    ow.x = ow.h = NULL;
    if (is_boft(a)) {
        ow.x = p, p += (size_t)out * cols;
        ow.h = p;
    }
    return ow;
}

/* c [m, n] = op(x) · op(y), row-major; op transposes when t* is set */
static void mm(int tx, int ty, int m, int n, int k, const float *x, int ldx, const float *y, int ldy,
               float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, tx ? CblasTrans : CblasNoTrans, ty ? CblasTrans : CblasNoTrans, m, n, k,
                1.0f, x, ldx, y, ldy, 0.0f, c, ldc);
}

/* Q[i, j] of block `blk` before the constraint: B − Bᵀ */
static float skew(const lora_adapter *a, size_t blk, int i, int j)
{
    const float *b = a->w[0] + blk * block_floats(a);
    int s = a->oft_size;
    return b[(size_t)i * s + j] - b[(size_t)j * s + i];
}

static double q_norm(const lora_adapter *a)
{
    size_t blocks = (size_t)a->boft_m * a->oft_blocks;
    double sum = 0.0;
    for (size_t blk = 0; blk < blocks; blk++)
        for (int i = 0; i < a->oft_size; i++)
            for (int j = 0; j < a->oft_size; j++) {
                double q = skew(a, blk, i, j);
                sum += q * q;
            }
    return sqrt(sum);
}

/* The factor LyCORIS' constraint puts on Q: constraint / (‖Q‖ + 1e-8) when that is below 1. */
static double constraint_factor(const lora_adapter *a, double norm)
{
    double bound = a->oft_constraint, n = norm + 1e-8;
    return bound > 0.0 && n > bound ? bound / n : 1.0;
}

/* aug [s, 2s] = [A | I] → [I | A⁻¹], Gauss-Jordan with partial pivoting. I − Q with Q
 * skew-symmetric has every singular value ≥ 1, so pivots never vanish. */
static void gauss_jordan(float *aug, int s)
{
    int w = 2 * s;
    for (int c = 0; c < s; c++) {
        int piv = c;
        for (int r = c + 1; r < s; r++)
            if (fabsf(aug[r * w + c]) > fabsf(aug[piv * w + c]))
                piv = r;
        if (piv != c)
            for (int j = 0; j < w; j++) {
                float t = aug[c * w + j];
                aug[c * w + j] = aug[piv * w + j];
                aug[piv * w + j] = t;
            }
        float inv = 1.0f / aug[c * w + c];
        for (int j = 0; j < w; j++)
            aug[c * w + j] *= inv;
        for (int r = 0; r < s; r++) {
            float f = aug[r * w + c];
            if (r == c || f == 0.0f)
                continue;
            for (int j = 0; j < w; j++)
                aug[r * w + j] -= f * aug[c * w + j];
        }
    }
}

/* M = (I − f·Q)⁻¹ and R = 2M − I for every block. */
static void cayley(const lora_adapter *a, double f, const oft_work *ow)
{
    int s = a->oft_size;
    size_t ss = block_floats(a), blocks = (size_t)a->boft_m * a->oft_blocks;
    for (size_t blk = 0; blk < blocks; blk++) {
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                ow->aug[i * 2 * s + j] = (float)((i == j) - f * skew(a, blk, i, j));
                ow->aug[i * 2 * s + s + j] = (float)(i == j);
            }
        gauss_jordan(ow->aug, s);
        float *m = ow->m + blk * ss, *r = ow->r + blk * ss;
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                m[i * s + j] = ow->aug[i * 2 * s + s + j];
                r[i * s + j] = 2.0f * m[i * s + j] - (float)(i == j);
            }
    }
}

/* Diag-OFT's rank dropout (LyCORIS' nn.Dropout on R while training): the factor of element
 * idx of R — 0 or 1/(1 − p) when it applies, 1 otherwise. */
static float keep_factor(const lora_adapter *a, size_t idx)
{
    const lora_dropout *d = &a->drop;
    if (is_boft(a) || !d->active || d->rank <= 0.0f)
        return 1.0f;
    if (d->rank >= 1.0f || !k_dropout_keep(d->rank, d->seed, d->offset + LORA_DROPOUT_RANK_STREAM, idx))
        return 0.0f;
    return 1.0f / (1.0f - d->rank);
}

/* The rotations of this call: R (Diag-OFT: after rank dropout) and M. Returns the R to apply. */
static const float *rotations(const lora_adapter *a, const oft_work *ow, double *norm, double *f)
{
    *norm = q_norm(a);
    *f = constraint_factor(a, *norm);
    cayley(a, *f, ow);
    if (is_boft(a) || !a->drop.active || a->drop.rank <= 0.0f)
        return ow->r;
    size_t np = param_floats(a);
    for (size_t i = 0; i < np; i++)
        ow->dropped[i] = ow->r[i] * keep_factor(a, i);
    return ow->dropped;
}

/* The weight row at place p of BOFT stage `stage`: places 2d + c of each group of 2k rows
 * hold rows c·k + d, k = 2^stage · s/2. */
static size_t butterfly_row(const lora_adapter *a, int stage, size_t p)
{
    size_t k = ((size_t)a->oft_size / 2) << stage, q = p % (2 * k);
    return p - q + (q & 1) * k + q / 2;
}

/* t [s, cols] ← block blk's rows of stage `stage` in x [out, cols] */
static void gather_rows(const lora_adapter *a, int stage, int blk, const float *x, float *t, size_t cols)
{
    for (int j = 0; j < a->oft_size; j++)
        memcpy(t + (size_t)j * cols, x + butterfly_row(a, stage, (size_t)blk * a->oft_size + j) * cols,
               cols * sizeof *t);
}

static void scatter_rows(const lora_adapter *a, int stage, int blk, float *x, const float *t, size_t cols)
{
    for (int j = 0; j < a->oft_size; j++)
        memcpy(x + butterfly_row(a, stage, (size_t)blk * a->oft_size + j) * cols, t + (size_t)j * cols,
               cols * sizeof *x);
}

/* One BOFT stage in place on x [out, cols]: each block's rows ← R · rows (Rᵀ when transpose). */
static void butterfly_stage(const lora_adapter *a, int stage, const float *r, float *x, size_t cols,
                            int transpose, const oft_work *ow)
{
    int s = a->oft_size;
    for (int blk = 0; blk < a->oft_blocks; blk++) {
        gather_rows(a, stage, blk, x, ow->t0, cols);
        mm(transpose, 0, s, (int)cols, s, r + (size_t)blk * block_floats(a), s, ow->t0, (int)cols, ow->t1,
           (int)cols);
        scatter_rows(a, stage, blk, x, ow->t1, cols);
    }
}

/* new W [out, cols] of the rotation alone (before rescale) into dst. */
static void rotate(const lora_adapter *a, const float *r, const float *w, float *dst, int out, size_t cols,
                   const oft_work *ow)
{
    int s = a->oft_size;
    if (!is_boft(a)) {
        for (int k = 0; k < a->oft_blocks; k++)
            mm(1, 0, s, (int)cols, s, r + (size_t)k * block_floats(a), s, w + (size_t)k * s * cols, (int)cols,
               dst + (size_t)k * s * cols, (int)cols);
        return;
    }
    memcpy(dst, w, (size_t)out * cols * sizeof *dst);
    for (int stage = 0; stage < a->boft_m; stage++)
        butterfly_stage(a, stage, r + (size_t)stage * a->oft_blocks * block_floats(a), dst, cols, 0, ow);
}

void oft_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols, float *work)
{
    oft_work ow = carve(a, out, cols, work);
    double norm, f;
    const float *r = rotations(a, &ow, &norm, &f);
    rotate(a, r, w, dw, out, cols, &ow);
    const float *rescale = a->w[1];
    for (int i = 0; i < out; i++) {
        float sc = rescale ? rescale[i] : 1.0f;
        for (size_t j = 0; j < cols; j++) {
            size_t e = (size_t)i * cols + j;
            dw[e] = sc * dw[e] - w[e];
        }
    }
}

/* dL/dR of every block (ow->dr) → dL/dB added into a->dw[0]: through the rank dropout, the
 * Cayley transform (dL/dQn = 2MᵀGMᵀ), the constraint's scaling and Q = B − Bᵀ. */
static void blocks_backward(const lora_adapter *a, const oft_work *ow, double norm, double f)
{
    int s = a->oft_size;
    size_t ss = block_floats(a), np = param_floats(a), blocks = (size_t)a->boft_m * a->oft_blocks;
    for (size_t i = 0; i < np; i++)
        ow->dr[i] *= keep_factor(a, i);
    float *t = ow->aug;   /* MᵀG, s × s */
    double dot = 0.0;     /* Σ dL/dQn ⊙ Q, for the constraint */
    for (size_t blk = 0; blk < blocks; blk++) {
        float *g = ow->dr + blk * ss;
        const float *m = ow->m + blk * ss;
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                double sum = 0.0;
                for (int l = 0; l < s; l++)
                    sum += (double)m[l * s + i] * g[l * s + j];
                t[i * s + j] = (float)sum;
            }
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                double sum = 0.0;
                for (int l = 0; l < s; l++)
                    sum += (double)t[i * s + l] * m[j * s + l];
                g[i * s + j] = (float)(2.0 * sum);
                dot += 2.0 * sum * skew(a, blk, i, j);
            }
    }
    /* Qn = f·Q with f = bound / (‖Q‖ + 1e-8):
     * dL/dQ = f·dQn − f·(Σ dQn ⊙ Q) / ((‖Q‖ + 1e-8)·‖Q‖) · Q */
    double radial = f < 1.0 ? f * dot / ((norm + 1e-8) * norm) : 0.0;
    for (size_t blk = 0; blk < blocks; blk++) {
        const float *g = ow->dr + blk * ss;
        float *db = a->dw[0] + blk * ss;
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                double dq_ij = f * g[i * s + j] - radial * skew(a, blk, i, j);
                double dq_ji = f * g[j * s + i] - radial * skew(a, blk, j, i);
                db[i * s + j] += (float)(dq_ij - dq_ji);
            }
    }
}

/* rows [rows, cols] ← rescale ⊙ g for the given rows (or g itself without rescale) */
static const float *scaled_grad(const lora_adapter *a, const float *g, float *buf, int row0, int rows,
                                size_t cols)
{
    if (!a->w[1])
        return g + (size_t)row0 * cols;
    for (int i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            buf[(size_t)i * cols + j] = a->w[1][row0 + i] * g[(size_t)(row0 + i) * cols + j];
    return buf;
}

static void rescale_backward(const lora_adapter *a, const float *g, const float *rotated, int row0, int rows,
                             size_t cols)
{
    for (int i = 0; i < rows; i++) {
        double sum = 0.0;
        for (size_t j = 0; j < cols; j++)
            sum += (double)g[(size_t)(row0 + i) * cols + j] * rotated[(size_t)i * cols + j];
        a->dw[1][row0 + i] += (float)sum;
    }
}

static void diag_backward(const lora_adapter *a, const float *r, const float *w, const float *g, size_t cols,
                          const oft_work *ow)
{
    int s = a->oft_size;
    for (int k = 0; k < a->oft_blocks; k++) {
        const float *wk = w + (size_t)k * s * cols;
        if (a->w[1] && a->dw[1]) {
            mm(1, 0, s, (int)cols, s, r + (size_t)k * block_floats(a), s, wk, (int)cols, ow->t0, (int)cols);
            rescale_backward(a, g, ow->t0, k * s, s, cols);
        }
        if (a->dw[0]) {
            /* new W_k = R_kᵀ W_k: dL/dR_k = W_k · H_kᵀ */
            const float *hk = scaled_grad(a, g, ow->t1, k * s, s, cols);
            mm(0, 1, s, s, (int)cols, wk, (int)cols, hk, (int)cols, ow->dr + (size_t)k * block_floats(a), s);
        }
    }
}

static void boft_backward(const lora_adapter *a, const float *r, const float *w, const float *g, int out,
                          size_t cols, const oft_work *ow)
{
    int s = a->oft_size;
    rotate(a, r, w, ow->x, out, cols, ow);
    if (a->w[1] && a->dw[1])
        rescale_backward(a, g, ow->x, 0, out, cols);
    if (!a->dw[0])
        return;
    if (scaled_grad(a, g, ow->h, 0, out, cols) != ow->h)
        memcpy(ow->h, g, (size_t)out * cols * sizeof *ow->h);
    size_t ss = block_floats(a);
    for (int stage = a->boft_m - 1; stage >= 0; stage--) {
        const float *rs = r + (size_t)stage * a->oft_blocks * ss;
        float *drs = ow->dr + (size_t)stage * a->oft_blocks * ss;
        for (int blk = 0; blk < a->oft_blocks; blk++) {
            const float *rb = rs + (size_t)blk * ss;
            gather_rows(a, stage, blk, ow->x, ow->t0, cols);   /* the stage's output rows */
            gather_rows(a, stage, blk, ow->h, ow->t1, cols);   /* and their gradient */
            if (stage > 0)   /* the stage's input = Rᵀ · output */
                mm(1, 0, s, (int)cols, s, rb, s, ow->t0, (int)cols, ow->t2, (int)cols);
            else
                gather_rows(a, stage, blk, w, ow->t2, cols);
            /* out = R · in: dL/dR = H · inᵀ */
            mm(0, 1, s, s, (int)cols, ow->t1, (int)cols, ow->t2, (int)cols, drs + (size_t)blk * ss, s);
            if (stage > 0) {
                scatter_rows(a, stage, blk, ow->x, ow->t2, cols);
                mm(1, 0, s, (int)cols, s, rb, s, ow->t1, (int)cols, ow->t0, (int)cols);
                scatter_rows(a, stage, blk, ow->h, ow->t0, cols);
            }
        }
    }
}

void oft_delta_backward(const lora_adapter *a, const float *w, const float *g, int out, size_t cols, float *work)
{
    if (!a->dw[0] && !(a->w[1] && a->dw[1]))
        return;
    oft_work ow = carve(a, out, cols, work);
    double norm, f;
    const float *r = rotations(a, &ow, &norm, &f);
    if (is_boft(a))
        boft_backward(a, r, w, g, out, cols, &ow);
    else
        diag_backward(a, r, w, g, cols, &ow);
    if (a->dw[0])
        blocks_backward(a, &ow, norm, f);
}
