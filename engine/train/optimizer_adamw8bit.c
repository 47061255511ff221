/* optimizer_adamw8bit.c — AdamW with block-wise 8-bit moments, as bitsandbytes' AdamW8bit
 * steps on the CPU (backends/cpu: dequantise, fp32 Adam, requantise).
 *
 * Each moment is stored as one byte per element plus one f32 absmax per block of 256: a byte
 * indexes a 256-entry "dynamic" map (signed for m, unsigned for v; Dettmers et al. 2015,
 * bitsandbytes.functional.create_dynamic_map), scaled by its block's absmax. A step
 * dequantises a tensor's moments, runs the Adam update in f32 and requantises each block to the
 * nearest map entry of value/absmax. Tensors under min_8bit_size elements (4096) keep f32
 * moments and take bitsandbytes' 32-bit update. State: 2 bytes/element + 8 bytes/block. */
#include "engine/train/optimizer_impl.h"

#include <math.h>
#include <stdlib.h>

/* torch.linspace(start, end, steps) for f32 on the CPU, as this torch computes it: the step
 * (end − start)/(steps − 1) in f32, each value in double from both ends towards the middle,
 * rounded to f32 once (bit-identical to torch for the counts used here; the tests check). */
static float linspace_at(float start, float end, int steps, int idx)
{
    double step = (double)((end - start) / (float)(steps - 1));
    int halfway = steps / 2;
    return idx < halfway ? (float)((double)start + step * idx)
                         : (float)((double)end - step * (steps - idx - 1));
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* create_dynamic_map(signed, max_exponent_bits=7, total_bits=8): for exponent i = 0..6 the
 * midpoints of linspace(0.1, 1, k+1) scaled by 10^(i−6), mirrored for signed; then 0 and 1. */
static void dynamic_map(float out[256], int is_signed)
{
    int n = 0;
    for (int i = 0; i < 7; i++) {
        int items = is_signed ? (1 << i) + 1 : (1 << (i + 1)) + 1;
        float scale = (float)pow(10.0, (double)(i - 6));
        for (int k = 0; k + 1 < items; k++) {
            float mean = (linspace_at(0.1f, 1.0f, items, k) + linspace_at(0.1f, 1.0f, items, k + 1)) / 2.0f;
            out[n++] = scale * mean;
            if (is_signed)
                out[n++] = -scale * mean;
        }
    }
    out[n++] = 0.0f;
    out[n++] = 1.0f;
    qsort(out, (size_t)n, sizeof(float), cmp_float);
}

void optim_adamw8bit_init_maps(optim *o)
{
    dynamic_map(o->qmap_signed, 1);
    dynamic_map(o->qmap_unsigned, 0);
}

/* Index of the nearest map entry: the number of midpoints below x (torch.bucketize over the
 * midpoints, as bitsandbytes' reference backend; the CUDA kernel's dQuantize breaks ties the
 * same way). bitsandbytes' compiled CPU quantiser uses a coarser lookup that can pick the
 * second-nearest entry near a midpoint; see tests/golden/README.md. */
static uint8_t quantize_one(const float *map, float x)
{
    int lo = 0, hi = 255;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        float bound = (map[mid] + map[mid + 1]) / 2.0f;
        if (bound < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint8_t)lo;
}

static void quantize_blocks(const float *map, const float *x, int64_t n, uint8_t *q,
                            float *absmax)
{
    for (int64_t b0 = 0, blk = 0; b0 < n; b0 += OPTIM_8BIT_BLOCK, blk++) {
        int64_t e = b0 + OPTIM_8BIT_BLOCK < n ? b0 + OPTIM_8BIT_BLOCK : n;
        float am = 0;
        for (int64_t i = b0; i < e; i++)
            am = fmaxf(am, fabsf(x[i]));
        absmax[blk] = am;
        float inv = 1.0f / fmaxf(am, 1e-38f);
        for (int64_t i = b0; i < e; i++) {
            float s = x[i] * inv;
            s = s < -1.0f ? -1.0f : s > 1.0f ? 1.0f : s;
            q[i] = quantize_one(map, s);
        }
    }
}

/* bitsandbytes' 32-bit Adam (small tensors): eps scaled by √(1 − β2ᵗ) inside the division. */
static void adam32(const optim_config *c, const optim_gstate *gs, const optim_param *p,
                   optim_pstate *ps)
{
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float w1 = (float)(1.0 - c->beta1), w2 = (float)(1.0 - c->beta2);
    const double c1 = 1.0 - pow(c->beta1, (double)ps->step);
    const double c2 = sqrt(1.0 - pow(c->beta2, (double)ps->step));
    const float step_size = (float)(-gs->lr * c2 / c1);
    const float eps_c2 = (float)(c->eps * c2);
    const float decay = (float)(1.0 - gs->lr * gs->weight_decay);
    float *x = p->data, *m = ps->m, *v = ps->v;
    const float *gr = p->grad;
    for (int64_t i = 0; i < ps->n; i++) {
        m[i] = m[i] * b1 + w1 * gr[i];
        v[i] = v[i] * b2 + w2 * gr[i] * gr[i];
        float xi = gs->weight_decay > 0 ? x[i] * decay : x[i];
        float u = m[i] / (sqrtf(v[i]) + eps_c2);
        x[i] = xi + step_size * u;
    }
}

static void adam8(optim *o, const optim_gstate *gs, const optim_param *p, optim_pstate *ps)
{
    const optim_config *c = &o->cfg;
    const float b1 = (float)c->beta1, b2 = (float)c->beta2;
    const float w1 = (float)(1.0 - c->beta1), w2 = (float)(1.0 - c->beta2);
    const double c1 = 1.0 - pow(c->beta1, (double)ps->step);
    const float c2 = (float)sqrt(1.0 - pow(c->beta2, (double)ps->step));
    const float neg_step = (float)(-gs->lr / c1), eps = (float)c->eps;
    const float decay = (float)(1.0 - gs->lr * gs->weight_decay);
    float *x = p->data;
    const float *gr = p->grad;
    /* one block at a time: dequantise, update, requantise (no scratch tensor needed) */
    for (int64_t b0 = 0, blk = 0; b0 < ps->n; b0 += OPTIM_8BIT_BLOCK, blk++) {
        int64_t e = b0 + OPTIM_8BIT_BLOCK < ps->n ? b0 + OPTIM_8BIT_BLOCK : ps->n;
        float m[OPTIM_8BIT_BLOCK], v[OPTIM_8BIT_BLOCK];
        const float a1 = ps->absmax1[blk], a2 = ps->absmax2[blk];
        for (int64_t i = b0; i < e; i++) {
            float mi = o->qmap_signed[ps->q1[i]] * a1, vi = o->qmap_unsigned[ps->q2[i]] * a2;
            mi = mi * b1 + w1 * gr[i];
            vi = vi * b2 + w2 * gr[i] * gr[i];
            float denom = sqrtf(vi) / c2 + eps;
            float xi = gs->weight_decay > 0 ? x[i] * decay : x[i];
            x[i] = xi + neg_step * mi / denom;
            m[i - b0] = mi;
            v[i - b0] = vi;
        }
        quantize_blocks(o->qmap_signed, m, e - b0, ps->q1 + b0, ps->absmax1 + blk);
        quantize_blocks(o->qmap_unsigned, v, e - b0, ps->q2 + b0, ps->absmax2 + blk);
    }
}

void optim_adamw8bit_step(optim *o)
{
    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *gs = &o->groups[g];
        for (int j = gs->first; j < gs->first + gs->count; j++) {
            const optim_param *p = &o->params[j];
            optim_pstate *ps = &o->ps[j];
            if (!p->grad)
                continue;
            ps->step++;
            if (ps->nblocks)
                adam8(o, gs, p, ps);
            else
                adam32(&o->cfg, gs, p, ps);
        }
    }
}
