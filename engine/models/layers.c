/* layers.c — Linear and Conv2d with an optional LoRA adapter or one of LyCORIS' ΔW
 * algorithms; see layers.h. */
#include "engine/models/layers.h"

#include <math.h>
#include <string.h>

#include "kernels/ops_attention.h"

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The adapter takes part in this call (module_dropout may have drawn it out). */
static const lora_adapter *live(const lora_adapter *a)
{
    return a && !(a->drop.active && a->drop.skip) ? a : NULL;
}

/* kohya's LoRA dropouts on down's output h laid out [samples][per_sample][rank][S]: neuron
 * dropout per element (× 1/(1 − p)), rank dropout per (sample, rank channel). Applied to h in
 * forward and to dL/dh in backward (the same mask, recomputed from the Philox counters). */
static void lora_masks(const lora_adapter *a, float *h, int samples, int per_sample, int S)
{
    const lora_dropout *d = &a->drop;
    if (!d->active || d->rows || (d->network <= 0.0f && d->rank <= 0.0f))
        return;
    float keep_scale = d->network > 0.0f && d->network < 1.0f ? 1.0f / (1.0f - d->network) : 1.0f;
    for (int n = 0; n < samples; n++)
        for (int r = 0; r < a->rank; r++) {
            int rank_kept = d->rank <= 0.0f ||
                            (d->rank < 1.0f && k_dropout_keep(d->rank, d->seed, d->offset + LORA_DROPOUT_RANK_STREAM,
                                                              (size_t)n * a->rank + r));
            for (int t = 0; t < per_sample; t++)
                for (int s = 0; s < S; s++) {
                    size_t idx = (((size_t)n * per_sample + t) * a->rank + r) * S + s;
                    float f = rank_kept ? 1.0f : 0.0f;
                    if (f != 0.0f && d->network > 0.0f)
                        f = d->network < 1.0f && k_dropout_keep(d->network, d->seed, d->offset, idx) ? keep_scale : 0.0f;
                    h[idx] *= f;
                }
        }
}

/* LyCORIS' DyLoRA: zeroes the ranks at and beyond active_rank of h [outer][rank][S] (down's
 * output in forward, its gradient in backward). */
static void lora_rank_limit(const lora_adapter *a, float *h, int outer, int S)
{
    if (a->active_rank <= 0 || a->active_rank >= a->rank)
        return;
    for (int n = 0; n < outer; n++)
        memset(h + ((size_t)n * a->rank + a->active_rank) * S, 0,
               (size_t)(a->rank - a->active_rank) * S * sizeof *h);
}

/* scale × 1/(1 − rank_dropout) while rank dropout is on (kohya lora.py). */
static float lora_scale(const lora_adapter *a)
{
    if (a->drop.active && !a->drop.rows && a->drop.rank > 0.0f && a->drop.rank < 1.0f)
        return a->scale / (1.0f - a->drop.rank);
    return a->scale;
}

static int linear_samples(const lora_adapter *a, int rows)
{
    int b = a->drop.batch > 0 ? a->drop.batch : 1;
    return rows % b == 0 ? b : 1;
}

/* ---- the ΔW kinds: the layer runs with W + ΔW (and b + Δb for LyCORIS' full) ---- */

/* The ΔW path's scratch: the weight the op runs with, ΔW / scale (then dL/dW), b + Δb and its
 * gradient, with DoRA W + ΔW before the decomposition and its row norms (they must outlive
 * the op's backward), then `rest`: the algorithm's work, shared with a conv's own scratch. */
typedef struct delta_scratch {
    float *weff, *raw, *bias, *dbias, *v, *norm, *kept, *rest;
} delta_scratch;

/* DoRA's V and row norms; a scalar's copy of ΔW / scale (its gradient needs it after the op's
 * backward has reused raw) */
static size_t dora_floats(const lora_adapter *a, int out, size_t cols)
{
    return (a->dora_scale ? (size_t)out * cols + (size_t)out : 0) + (a->scalar ? (size_t)out * cols : 0);
}

static size_t delta_floats(const lora_adapter *a, int out, size_t cols)
{
    return 2 * (size_t)out * cols + 2 * (size_t)out + dora_floats(a, out, cols) +
           lora_delta_work_floats(a, out, cols);
}

static delta_scratch delta_layout(const lora_adapter *a, float *scratch, int out, size_t cols)
{
    size_t n = (size_t)out * cols;
    delta_scratch d = {scratch, scratch + n, scratch + 2 * n, scratch + 2 * n + out, NULL, NULL, NULL,
                       scratch + 2 * n + 2 * (size_t)out};
    if (a->dora_scale) {
        d.v = d.rest;
        d.norm = d.rest + n;
        d.rest += n + (size_t)out;
    }
    if (a->scalar) {
        d.kept = d.rest;
        d.rest += n;
    }
    return d;
}

/* LyCORIS' apply_weight_decompose (wd_on_out): each row of V = W + ΔW scaled to dora_scale ·
 * V / (‖V‖ + ε), ε the float32 epsilon. */
#define DORA_EPS 1.1920928955078125e-07f

static void dora_apply(const lora_adapter *a, const float *v, float *weff, float *norm, int out, size_t cols)
{
    for (int i = 0; i < out; i++) {
        const float *row = v + (size_t)i * cols;
        double s2 = 0.0;
        for (size_t j = 0; j < cols; j++)
            s2 += (double)row[j] * row[j];
        norm[i] = (float)sqrt(s2) + DORA_EPS;
        float f = a->dora_scale[i] / norm[i];
        for (size_t j = 0; j < cols; j++)
            weff[(size_t)i * cols + j] = row[j] * f;
    }
}

/* g = dL/dWeff in, dL/dV out; dL/d(dora_scale) added. With n = ‖v‖ + ε:
 * d/dv (s v / n) applied to g is (s / n) (g − (g·v) v / (‖v‖ n)). */
static void dora_backward(const lora_adapter *a, float *g, const float *v, const float *norm, int out,
                          size_t cols)
{
    for (int i = 0; i < out; i++) {
        float *gr = g + (size_t)i * cols;
        const float *row = v + (size_t)i * cols;
        double dot = 0.0;
        for (size_t j = 0; j < cols; j++)
            dot += (double)gr[j] * row[j];
        if (a->ddora_scale)
            a->ddora_scale[i] += (float)(dot / norm[i]);
        double len = (double)norm[i] - DORA_EPS, f = a->dora_scale[i] / (double)norm[i];
        double radial = len > 0.0 ? dot / (len * norm[i]) : 0.0;
        for (size_t j = 0; j < cols; j++)
            gr[j] = (float)(f * (gr[j] - radial * row[j]));
    }
}

/* LoHa / LoKr drop whole rows of ΔW (LyCORIS' rank dropout for them); the other algorithms
 * handle their own dropout while building ΔW. */
static int row_dropout(const lora_adapter *a)
{
    int rows = a->kind == LORA_KIND_LOHA || a->kind == LORA_KIND_LOKR ||
               (a->kind == LORA_KIND_LORA && a->drop.rows);
    return rows && a->drop.active && a->drop.rank > 0.0f;
}

/* LyCORIS' rank-dropout row mask of ΔW: 0 for a dropped row, 1 (or 1 / the kept fraction with
 * rank_dropout_scale) for a kept one. */
static float row_mask(const lora_adapter *a, int row, float mean_keep)
{
    const lora_dropout *d = &a->drop;
    if (!row_dropout(a))
        return 1.0f;
    if (d->rank >= 1.0f || !k_dropout_keep(d->rank, d->seed, d->offset + LORA_DROPOUT_RANK_STREAM, (size_t)row))
        return 0.0f;
    return d->rank_scale && mean_keep > 0.0f ? 1.0f / mean_keep : 1.0f;
}

/* The per-row factor of ΔW: scale × the row mask. */
static float row_factor(const lora_adapter *a, int row, float mean_keep)
{
    return a->scale * row_mask(a, row, mean_keep);
}

static float mean_keep(const lora_adapter *a, int out)
{
    const lora_dropout *d = &a->drop;
    if (!row_dropout(a) || d->rank >= 1.0f)
        return 0.0f;
    size_t kept = 0;
    for (int i = 0; i < out; i++)
        kept += (size_t)k_dropout_keep(d->rank, d->seed, d->offset + LORA_DROPOUT_RANK_STREAM, (size_t)i);
    return (float)kept / (float)out;
}

/* LyCORIS' LoCon with rank dropout: y [samples, out, S] (S = 1 for a Linear's rows) × the row
 * mask of its output channel. */
static void lora_row_masks(const lora_adapter *a, float *y, int samples, int out, int S)
{
    if (!row_dropout(a))
        return;
    float mk = mean_keep(a, out);
    for (int o = 0; o < out; o++) {
        float f = row_mask(a, o, mk);
        for (int n = 0; n < samples; n++)
            for (int s = 0; s < S; s++)
                y[((size_t)n * out + o) * S + s] *= f;
    }
}

/* weff = W + row_factor · ΔW/scale (DoRA: decomposed from V = that); raw keeps ΔW/scale. */
static void build_weff(const lora_adapter *a, const delta_scratch *d, const float *w, int out, size_t cols)
{
    lora_delta_build(a, w, d->raw, out, cols, d->rest);
    float mk = mean_keep(a, out);
    float *v = a->dora_scale ? d->v : d->weff;
    float s = a->scalar ? *a->scalar : 1.0f;
    if (a->scalar)
        memcpy(d->kept, d->raw, (size_t)out * cols * sizeof *d->kept);
    for (int i = 0; i < out; i++) {
        float f = row_factor(a, i, mk) * s;
        for (size_t j = 0; j < cols; j++)
            v[(size_t)i * cols + j] = w[(size_t)i * cols + j] + f * d->raw[(size_t)i * cols + j];
    }
    if (a->dora_scale)
        dora_apply(a, d->v, d->weff, d->norm, out, cols);
}

/* LyCORIS' full trains the bias too: the bias the op runs with (buf, out floats) or the layer's. */
static const float *bias_eff(const lora_adapter *a, const float *bias, float *buf, int out)
{
    if (a->kind != LORA_KIND_FULL || !a->w[1] || !bias)
        return bias;
    for (int i = 0; i < out; i++)
        buf[i] = bias[i] + a->scale * (a->w[1][i] - bias[i]);
    return buf;
}

/* Where the op's bias gradient goes: a zeroed buffer when Δb trains, else the layer's. */
static float *bias_grad_target(const lora_adapter *a, float *dbias, float *buf, int out)
{
    if (a->kind != LORA_KIND_FULL || !a->w[1] || !a->dw[1])
        return dbias;
    memset(buf, 0, (size_t)out * sizeof *buf);
    return buf;
}

static void bias_grad_finish(const lora_adapter *a, float *dbias, const float *buf, int out)
{
    if (a->kind != LORA_KIND_FULL || !a->w[1] || !a->dw[1])
        return;
    for (int i = 0; i < out; i++) {
        if (dbias)
            dbias[i] += buf[i];
        a->dw[1][i] += a->scale * buf[i];
    }
}

/* g = dL/dWeff → DoRA's scale gradient, the weight gradient (when the base trains) and the
 * factors' gradients. */
static void delta_backward(const lora_adapter *a, float *dweight, const float *w, const delta_scratch *d,
                           int out, size_t cols)
{
    size_t n = (size_t)out * cols;
    float *g = d->raw;
    if (a->dora_scale)
        dora_backward(a, g, d->v, d->norm, out, cols);
    if (dweight)
        for (size_t j = 0; j < n; j++)
            dweight[j] += g[j];
    float mk = mean_keep(a, out);
    if (a->dscalar) {   /* d/ds (W + f · s · raw) = f · raw */
        double ds = 0.0;
        for (int i = 0; i < out; i++) {
            double dot = 0.0;
            for (size_t j = 0; j < cols; j++)
                dot += (double)g[(size_t)i * cols + j] * d->kept[(size_t)i * cols + j];
            ds += row_factor(a, i, mk) * dot;
        }
        *a->dscalar += (float)ds;
    }
    int trained = a->ddown || a->dup || a->dmid;
    for (int k = 0; k < LORA_MAX_FACTORS; k++)
        trained |= a->dw[k] != NULL;
    if (!trained)
        return;
    float s = a->scalar ? *a->scalar : 1.0f;
    for (int i = 0; i < out; i++) {
        float f = row_factor(a, i, mk) * s;
        for (size_t j = 0; j < cols; j++)
            g[(size_t)i * cols + j] *= f;
    }
    lora_delta_backward(a, w, g, out, cols, d->rest);
}

/* ---- Linear ---- */

size_t linear_layer_scratch_floats(const linear_layer *l, int rows)
{
    if (!l->lora)
        return 0;
    if (lora_is_delta(l->lora))
        return delta_floats(l->lora, l->out, (size_t)l->in);
    /* forward: the adapter's output before adding; backward: scaled dout + dhidden */
    return (size_t)rows * (size_t)l->out + (size_t)rows * (size_t)l->lora->rank;
}

void linear_layer_forward(const linear_layer *l, float *out, const float *inp, int rows, float *scratch)
{
    const lora_adapter *a = live(l->lora);
    if (a && lora_is_delta(a)) {
        delta_scratch d = delta_layout(a, scratch, l->out, (size_t)l->in);
        build_weff(a, &d, l->weight, l->out, (size_t)l->in);
        k_linear_forward(out, inp, d.weff, bias_eff(a, l->bias, d.bias, l->out), rows, l->in, l->out);
        return;
    }
    k_linear_forward(out, inp, l->weight, l->bias, rows, l->in, l->out);
    if (!a)
        return;
    size_t n = (size_t)rows * (size_t)l->out;
    int samples = linear_samples(a, rows);
    k_linear_forward(a->hidden, inp, a->down, NULL, rows, l->in, a->rank);
    lora_rank_limit(a, a->hidden, rows, 1);
    lora_masks(a, a->hidden, samples, rows / samples, 1);
    k_linear_forward(scratch, a->hidden, a->up, NULL, rows, a->rank, l->out);
    lora_row_masks(a, scratch, rows, l->out, 1);
    k_add_scaled_forward(out, out, scratch, 1.0f, lora_scale(a), n);
}

void linear_layer_backward(const linear_layer *l, float *dinp, const float *dout, const float *inp,
                           int rows, float *scratch)
{
    const lora_adapter *a = live(l->lora);
    if (a && lora_is_delta(a)) {
        size_t n = (size_t)l->out * l->in;
        delta_scratch d = delta_layout(a, scratch, l->out, (size_t)l->in);
        build_weff(a, &d, l->weight, l->out, (size_t)l->in);
        memset(d.raw, 0, n * sizeof *d.raw);
        float *dbias = bias_grad_target(a, l->dbias, d.dbias, l->out);
        k_linear_backward(dinp, d.raw, dbias, dout, inp, d.weff, rows, l->in, l->out);
        bias_grad_finish(a, l->dbias, d.dbias, l->out);
        delta_backward(a, l->dweight, l->weight, &d, l->out, (size_t)l->in);
        return;
    }
    k_linear_backward(dinp, l->dweight, l->dbias, dout, inp, l->weight, rows, l->in, l->out);
    if (!a)
        return;
    size_t n = (size_t)rows * (size_t)l->out;
    float *scaled = scratch, *dhidden = scratch + n;
    int samples = linear_samples(a, rows);
    k_scale_forward(scaled, dout, lora_scale(a), n);
    lora_row_masks(a, scaled, rows, l->out, 1);
    memset(dhidden, 0, (size_t)rows * (size_t)a->rank * sizeof *dhidden);
    k_linear_backward(dhidden, a->dup, NULL, scaled, a->hidden, a->up, rows, a->rank, l->out);
    lora_rank_limit(a, dhidden, rows, 1);
    lora_masks(a, dhidden, samples, rows / samples, 1);
    k_linear_backward(dinp, a->ddown, NULL, dhidden, inp, a->down, rows, l->in, a->rank);
}

/* ---- Conv2d ---- */

static k_conv2d_dims dims_of(int N, int C_in, int H, int W, int C_out, int k, int stride, int pad)
{
    k_conv2d_dims d = {N, C_in, H, W, C_out, k, k, stride, pad};
    return d;
}

int conv_layer_out_size(const conv_layer *c, int size)
{
    return (size + 2 * c->pad - c->kernel) / c->stride + 1;
}

size_t conv_layer_scratch_floats(const conv_layer *c, int N, int H, int W)
{
    k_conv2d_dims base = dims_of(N, c->in, H, W, c->out, c->kernel, c->stride, c->pad);
    size_t need = k_conv2d_scratch_floats(&base);
    if (c->lora && lora_is_delta(c->lora)) {
        size_t cols = (size_t)c->in * c->kernel * c->kernel;
        need += delta_floats(c->lora, c->out, cols);
    } else if (c->lora) {
        int OH = conv_layer_out_size(c, H), OW = conv_layer_out_size(c, W);
        k_conv2d_dims down = dims_of(N, c->in, H, W, c->lora->rank, c->kernel, c->stride, c->pad);
        k_conv2d_dims up = dims_of(N, c->lora->rank, OH, OW, c->out, 1, 1, 0);
        size_t out_n = (size_t)N * c->out * OH * OW, hid_n = (size_t)N * c->lora->rank * OH * OW;
        need = max_size(need, max_size(k_conv2d_scratch_floats(&down), k_conv2d_scratch_floats(&up)) + out_n + hid_n);
    }
    return need;
}

void conv_layer_forward(const conv_layer *c, float *out, const float *inp, int N, int H, int W,
                        float *scratch)
{
    k_conv2d_dims base = dims_of(N, c->in, H, W, c->out, c->kernel, c->stride, c->pad);
    const lora_adapter *a = live(c->lora);
    if (a && lora_is_delta(a)) {
        size_t cols = (size_t)c->in * c->kernel * c->kernel;
        delta_scratch d = delta_layout(a, scratch, c->out, cols);
        build_weff(a, &d, c->weight, c->out, cols);
        k_conv2d_forward(out, inp, d.weff, bias_eff(a, c->bias, d.bias, c->out), d.rest, &base);
        return;
    }
    k_conv2d_forward(out, inp, c->weight, c->bias, scratch, &base);
    if (!a)
        return;
    int OH = conv_layer_out_size(c, H), OW = conv_layer_out_size(c, W);
    size_t out_n = (size_t)N * c->out * OH * OW;
    float *lora_out = scratch, *im2col = scratch + out_n + (size_t)N * a->rank * OH * OW;
    k_conv2d_dims down = dims_of(N, c->in, H, W, a->rank, c->kernel, c->stride, c->pad);
    k_conv2d_dims up = dims_of(N, a->rank, OH, OW, c->out, 1, 1, 0);
    k_conv2d_forward(a->hidden, inp, a->down, NULL, im2col, &down);
    lora_rank_limit(a, a->hidden, N, OH * OW);
    lora_masks(a, a->hidden, N, 1, OH * OW);
    k_conv2d_forward(lora_out, a->hidden, a->up, NULL, im2col, &up);
    lora_row_masks(a, lora_out, N, c->out, OH * OW);
    k_add_scaled_forward(out, out, lora_out, 1.0f, lora_scale(a), out_n);
}

void conv_layer_backward(const conv_layer *c, float *dinp, const float *dout, const float *inp,
                         int N, int H, int W, float *scratch)
{
    k_conv2d_dims base = dims_of(N, c->in, H, W, c->out, c->kernel, c->stride, c->pad);
    const lora_adapter *a = live(c->lora);
    if (a && lora_is_delta(a)) {
        size_t cols = (size_t)c->in * c->kernel * c->kernel, n = (size_t)c->out * cols;
        delta_scratch d = delta_layout(a, scratch, c->out, cols);
        build_weff(a, &d, c->weight, c->out, cols);
        memset(d.raw, 0, n * sizeof *d.raw);
        float *dbias = bias_grad_target(a, c->dbias, d.dbias, c->out);
        k_conv2d_backward(dinp, d.raw, dbias, dout, inp, d.weff, d.rest, &base);
        bias_grad_finish(a, c->dbias, d.dbias, c->out);
        delta_backward(a, c->dweight, c->weight, &d, c->out, cols);
        return;
    }
    k_conv2d_backward(dinp, c->dweight, c->dbias, dout, inp, c->weight, scratch, &base);
    if (!a)
        return;
    int OH = conv_layer_out_size(c, H), OW = conv_layer_out_size(c, W);
    size_t out_n = (size_t)N * c->out * OH * OW, hid_n = (size_t)N * a->rank * OH * OW;
    float *scaled = scratch, *dhidden = scratch + out_n, *im2col = scratch + out_n + hid_n;
    k_scale_forward(scaled, dout, lora_scale(a), out_n);
    lora_row_masks(a, scaled, N, c->out, OH * OW);
    memset(dhidden, 0, hid_n * sizeof *dhidden);
    k_conv2d_dims down = dims_of(N, c->in, H, W, a->rank, c->kernel, c->stride, c->pad);
    k_conv2d_dims up = dims_of(N, a->rank, OH, OW, c->out, 1, 1, 0);
    k_conv2d_backward(dhidden, a->dup, NULL, scaled, a->hidden, a->up, im2col, &up);
    lora_rank_limit(a, dhidden, N, OH * OW);
    lora_masks(a, dhidden, N, 1, OH * OW);
    k_conv2d_backward(dinp, a->ddown, NULL, dhidden, inp, a->down, im2col, &down);
}
