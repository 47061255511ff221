/* network.c — building a LoRA network over the models' injection points: which modules
 * (sd-scripts' target rules), their ranks and alphas, the initialisation, continuing from a
 * file, and sd-scripts' max-norm regularisation. See network.h. */
#include "engine/lora/network_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lora/lycoris.h"
#include "kernels/rng.h"

enum { NETWORK_RNG_INIT = 3 };   /* rng purpose tag: distinct from dropout (1) and noise (2) */

/* Sizes of a module's factors, in parameter order (LoRA: down, up), and the adapter's shape
 * fields; −1 with err set when the algorithm cannot take the layer (BOFT's factorization). */
static int module_sizes(network_module *m, const network_options *o, size_t sizes[LORA_MAX_FACTORS],
                        error_info *err)
{
    lora_adapter *a = &m->adapter;
    size_t cols = (size_t)m->in * m->kernel * m->kernel;
    /* kohya's networks.lokr keeps w1 whole; LyCORIS decomposes it on request */
    int factor = o->factor == 0 ? -1 : o->factor;
    memset(sizes, 0, LORA_MAX_FACTORS * sizeof *sizes);
    a->in_channels = m->in;
    a->tucker = m->tucker;
    switch (a->kind) {
    case LORA_KIND_LOHA:
        loha_sizes(m->out, m->in, cols, m->rank, m->tucker, sizes);
        break;
    case LORA_KIND_LOKR:
        lokr_shapes(a, m->out, m->in, m->kernel, m->rank, factor, o->lycoris && o->decompose_both,
                    m->tucker, sizes);
        m->tucker = a->tucker;   /* LyCORIS: a full W2 has no Tucker factors */
        break;
    case LORA_KIND_IA3:
        a->on_input = o->ia3_train_on_input && network_ia3_target(m->name) == 2;
        sizes[0] = ia3_size(m->out, m->in, a->on_input);
        break;
    case LORA_KIND_FULL:
        sizes[0] = (size_t)m->out * cols;
        sizes[1] = m->has_bias ? (size_t)m->out : 0;
        break;
    case LORA_KIND_GLORA:
        glora_sizes(m->out, m->in, cols, m->rank, sizes);
        break;
    case LORA_KIND_NORM:   /* w_norm, b_norm */
        sizes[0] = sizes[1] = (size_t)m->out;
        break;
    case LORA_KIND_DIAG_OFT:
    case LORA_KIND_BOFT:
        if (oft_shapes(a, a->kind == LORA_KIND_BOFT, m->out, m->rank, o->rescaled, sizes) != 0) {
            const char *dim = m->conv && m->kernel > 1 ? "conv_dim" : "network_dim";
            return error_set(err, NULL, 0, 0, dim, "%s: BOFT cannot split %d output channels with "
                             "%s %d (LyCORIS needs out = 2k · 2^p with 2k ≤ %s)", m->name, m->out,
                             dim, m->rank, dim);
        }
        a->oft_constraint = o->constraint * (float)m->out;   /* LyCORIS: constraint · out_dim */
        m->alpha = o->constraint;                           /* saved as the module's alpha */
        break;
    default:
        sizes[0] = (size_t)m->rank * cols, sizes[1] = (size_t)m->out * m->rank;
        if (m->tucker) {   /* LyCORIS' LoCon: lora_down [r, in, 1, 1], lora_mid [r, r, k, k] */
            sizes[0] = (size_t)m->rank * m->in;
            sizes[2] = (size_t)m->rank * m->rank * m->kernel * m->kernel;
        }
        break;
    }
    return 0;
}

static float init_uniform(uint64_t seed, size_t idx, float bound)
{
    uint32_t r[4];
    k_rng_block(r, seed, idx, NETWORK_RNG_INIT);
    return (2.0f * k_rng_uniform(r[0]) - 1.0f) * bound;
}

static float init_normal(uint64_t seed, size_t idx, float std)
{
    uint32_t r[4];
    k_rng_block(r, seed, idx, NETWORK_RNG_INIT);
    float u1 = 1.0f - k_rng_uniform(r[0]), u2 = k_rng_uniform(r[1]);   /* u1 in (0, 1] */
    return std * sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

/* kaiming_uniform_(w, a=√5) on a [rows, fan_in] matrix: U(±1/√fan_in) */
static void fill_kaiming(float *w, size_t n, size_t fan_in, uint64_t seed, size_t base)
{
    float bound = 1.0f / sqrtf((float)fan_in);
    for (size_t j = 0; j < n; j++)
        w[j] = init_uniform(seed, base + j, bound);
}

/* The initialisation of sd-scripts (LoRA, LoRA-FA, DyLoRA) and LyCORIS (LoHa, LoKr, GLoRA;
 * iA3, full and OFT start at zero, OFT's rescale at one): ΔW = 0 at step 0. DoRA's scale
 * starts at the norms of the layer's rows, so the decomposed weight is the layer's. */
static void init_module(lora_network *n, network_module *m, uint64_t seed)
{
    float *p = n->params;
    if (m->dora) {
        size_t cols = (size_t)m->in * m->kernel * m->kernel;
        for (int o = 0; o < m->out; o++) {
            double s2 = 0.0;
            for (size_t j = 0; j < cols; j++)
                s2 += (double)m->base_weight[(size_t)o * cols + j] * m->base_weight[(size_t)o * cols + j];
            p[m->dora_off + (size_t)o] = (float)sqrt(s2);
        }
    }
    switch (m->adapter.kind) {
    case LORA_KIND_IA3:
    case LORA_KIND_NORM:
        return;   /* zeros from calloc */
    case LORA_KIND_FULL:
        /* LyCORIS' FullModule trains the layer's weight (and bias) itself */
        memcpy(p + m->w_off[0], m->base_weight, m->w_size[0] * sizeof *p);
        if (m->w_size[1])
            memcpy(p + m->w_off[1], m->base_bias, m->w_size[1] * sizeof *p);
        return;
    case LORA_KIND_GLORA:
        /* a1, b1 kaiming_uniform_(a=√5) on [in, r] / [out, r] (fan_in r); a2, b2 zero */
        fill_kaiming(p + m->w_off[0], m->w_size[0], (size_t)m->rank, seed, m->w_off[0]);
        fill_kaiming(p + m->w_off[2], m->w_size[2], (size_t)m->rank, seed, m->w_off[2]);
        return;
    case LORA_KIND_DIAG_OFT:
    case LORA_KIND_BOFT:
        for (size_t j = 0; j < m->w_size[1]; j++)
            p[m->w_off[1] + j] = 1.0f;
        return;
    default:
        break;
    }
    if (m->adapter.kind == LORA_KIND_LOHA) {
        /* w1a N(0, 0.1), w1b N(0, 1), w2a 0 (N(0, 0.1) with use_scalar), w2b N(0, 1); Tucker's
         * t1, t2 N(0, 0.1) */
        const float stds[LORA_MAX_FACTORS] = {0.1f, 1.0f, m->has_scalar ? 0.1f : 0.0f, 1.0f, 0.1f, 0.1f};
        for (int i = 0; i < LORA_MAX_FACTORS; i++)
            for (size_t j = 0; j < m->w_size[i]; j++)
                p[m->w_off[i] + j] = stds[i] > 0.0f ? init_normal(seed, m->w_off[i] + j, stds[i]) : 0.0f;
        return;
    }
    if (m->adapter.kind == LORA_KIND_LOKR) {
        const lora_adapter *a = &m->adapter;
        /* w1 (or w1a, w1b) and w2a Kaiming-uniform, w2 (or w2b) zero */
        if (a->w1_rank) {
            fill_kaiming(p + m->w_off[0], m->w_size[0], (size_t)a->w1_rank, seed, m->w_off[0]);
            fill_kaiming(p + m->w_off[1], m->w_size[1], (size_t)a->kc, seed, m->w_off[1]);
        } else
            fill_kaiming(p + m->w_off[0], m->w_size[0], (size_t)a->kc, seed, m->w_off[0]);
        /* Tucker: t2 [r, r, k, k] (fan_in r·k·k), w2a [r, b] (fan_in b), w2b [r, d] */
        size_t kk = a->tucker ? (size_t)a->kc * a->kd / (size_t)m->in : 1;
        if (a->tucker)
            fill_kaiming(p + m->w_off[4], m->w_size[4], (size_t)a->w2_rank * kk, seed, m->w_off[4]);
        if (a->w2_rank)
            fill_kaiming(p + m->w_off[2], m->w_size[2], a->tucker ? (size_t)a->kb : (size_t)a->w2_rank, seed,
                         m->w_off[2]);
        if (m->has_scalar) {   /* use_scalar: w2 / w2b Kaiming-uniform too (fan_in kd, or d) */
            size_t z = a->w2_rank ? 3 : 2;
            fill_kaiming(p + m->w_off[z], m->w_size[z], (size_t)a->kd / kk, seed, m->w_off[z]);
        }
        return;   /* otherwise w2 / w2b stay 0 from calloc */
    }
    if (m->frozen_down) {
        /* lora_fa.py: normal_(down, std=√(2 / (in_dim + rank))), in_dim = in_channels on a
         * conv (not in·k·k); up = 0 */
        float std = sqrtf(2.0f / (float)(m->in + m->rank));
        for (size_t j = 0; j < m->w_size[0]; j++)
            p[m->down_off + j] = init_normal(seed, m->down_off + j, std);
        return;
    }
    /* sd-scripts: kaiming_uniform_(down, a=√5) = U(±1/√fan_in), up = 0; dylora.py draws each
     * row lora_A[i] ([1, in] or [1, in, k, k]) alike: the same fan_in. LyCORIS' Tucker LoCon:
     * down [r, in, 1, 1] (fan_in in), mid [r, r, k, k] Kaiming-uniform too (fan_in r·k·k). */
    fill_kaiming(p + m->down_off, m->w_size[0], (size_t)m->in * (m->tucker ? 1 : m->kernel * m->kernel), seed,
                 m->down_off);
    if (m->tucker)
        fill_kaiming(p + m->w_off[2], m->w_size[2], (size_t)m->rank * m->kernel * m->kernel, seed, m->w_off[2]);
    if (m->has_scalar)   /* LyCORIS' use_scalar: up Kaiming-uniform too (fan_in rank) */
        fill_kaiming(p + m->up_off, m->w_size[1], (size_t)m->rank, seed, m->up_off);
}

/* DyLoRA's buffers (see network.h): the layers' gradients, the transposed up matrices and the
 * trained flags; every rank a multiple of unit (dylora.py's assert). */
static int dylora_alloc(lora_network *n, int unit, error_info *err)
{
    size_t ranks = 0;
    n->n_up_t = 0;
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        if (m->adapter.kind != LORA_KIND_LORA) {   /* train_norm modules: plain parameters */
            m->up_t_off = n->n_up_t;                /* keeps up_t_off ascending for lookups */
            continue;
        }
        if (m->rank % unit != 0)
            return error_set(err, NULL, 0, 0, "unit", "%s: rank %d is not a multiple of unit %d "
                             "(dylora.py and LyCORIS' DyLoRA: rank must be a multiple of it)",
                             m->name, m->rank, unit);
        m->up_t_off = n->n_up_t;
        n->n_up_t += (size_t)m->out * m->rank;
        ranks += (size_t)m->rank;
    }
    n->dylora_unit = unit;
    n->dylora_grads = calloc(n->n_params ? n->n_params : 1, sizeof *n->dylora_grads);
    n->up_t = calloc(n->n_up_t ? n->n_up_t : 1, sizeof *n->up_t);
    n->dup_t = calloc(n->n_up_t ? n->n_up_t : 1, sizeof *n->dup_t);
    n->dylora_flags = calloc(ranks ? ranks : 1, 1);
    if (!n->dylora_grads || !n->up_t || !n->dup_t || !n->dylora_flags)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the DyLoRA buffers");
    ranks = 0;
    for (size_t i = 0; i < n->n_mods; i++) {
        if (n->mods[i].adapter.kind != LORA_KIND_LORA)
            continue;
        n->mods[i].dylora_trained = n->dylora_flags + ranks;
        ranks += (size_t)n->mods[i].rank;
    }
    return 0;
}

/* Where the layers write gradients: DyLoRA's go through dylora_grads, see
 * network_dylora_end_micro_step. */
static float *layer_grads(const lora_network *n)
{
    return n->dylora_unit ? n->dylora_grads : n->grads;
}

int network_create(lora_network *n, const network_options *opts, const unet_model *unet,
                   clip_model *const *te, int n_te, error_info *err)
{
    memset(n, 0, sizeof *n);
    n->multiplier = opts->multiplier;
    if (opts->dim < 1)
        return error_set(err, NULL, 0, 0, "network_dim", "must be at least 1 (got %d)", opts->dim);
    if (opts->algo < LORA_KIND_LORA || opts->algo > LORA_KIND_BOFT)
        return error_set(err, NULL, 0, 0, NULL, "unknown network kind %d", opts->algo);
    if (opts->lora_fa && (opts->algo != LORA_KIND_LORA || opts->lycoris))
        return error_set(err, NULL, 0, 0, NULL, "LoRA-FA is a networks.lora variant, not %s",
                         network_module_name(opts));
    if (opts->train_norm && !opts->lycoris)
        return error_set(err, NULL, 0, 0, "train_norm", "train_norm is LyCORIS', not %s's",
                         network_module_name(opts));
    if (opts->use_scalar && (!opts->lycoris || opts->dylora_unit || opts->algo > LORA_KIND_LOKR))
        return error_set(err, NULL, 0, 0, "use_scalar", "use_scalar is LyCORIS' LoCon, LoHa and "
                         "LoKr only, not %s", opts->lycoris ? network_algo_name(opts)
                                                              : network_module_name(opts));
    if (opts->dora_wd && (!opts->lycoris || opts->dylora_unit || opts->algo > LORA_KIND_LOKR))
        return error_set(err, NULL, 0, 0, "dora_wd", "DoRA (dora_wd) is LyCORIS' LoCon, LoHa and "
                         "LoKr only, not %s", opts->lycoris ? network_algo_name(opts)
                                                             : network_module_name(opts));
    if (opts->dylora_unit && (opts->algo != LORA_KIND_LORA || opts->lora_fa))
        return error_set(err, NULL, 0, 0, NULL, "DyLoRA is a LoRA variant, not %s",
                         opts->lora_fa ? "LoRA-FA" : network_algo_name(opts));
    safetensors_file *wf = NULL;
    if (opts->dim_from_weights) {
        if (!opts->weights_path || !*opts->weights_path)
            return error_set(err, NULL, 0, 0, "dim_from_weights", "needs network_weights");
        if (safetensors_open(opts->weights_path, &wf, err) != 0)
            return -1;
    }
    int rc = network_collect(n, opts, unet, te, n_te, wf, err);
    if (wf)
        safetensors_close(wf);
    if (rc == 0 && n->n_mods == 0)
        rc = error_set(err, NULL, 0, 0, NULL, "the LoRA network has no modules (nothing to train)");
    if (rc != 0) {
        network_free(n);
        return -1;
    }
    /* one flat buffer: UNet modules first, then TE modules; a module's factors in order */
    size_t off = 0;
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        if (module_sizes(m, opts, m->w_size, err) != 0) {
            network_free(n);
            return -1;
        }
        for (int k = 0; k < LORA_MAX_FACTORS; k++) {
            m->w_off[k] = off;
            off += m->w_size[k];
        }
        m->down_off = m->w_off[0];
        m->up_off = m->adapter.kind == LORA_KIND_LORA ? m->w_off[1] : off;
        if (opts->dora_wd) {   /* after the factors: outside the LoRA+ up part */
            m->dora = 1;
            m->dora_off = off;
            off += (size_t)m->out;
        }
        if (opts->use_scalar && m->adapter.kind != LORA_KIND_NORM) {   /* after them too */
            m->has_scalar = 1;
            m->scalar_off = off;
            off += 1;
        }
        /* LyCORIS: full w1 and full w2 → scale 1 (alpha = dim) */
        if (m->adapter.kind == LORA_KIND_LOKR && !m->adapter.w1_rank && !m->adapter.w2_rank)
            m->alpha = (float)m->rank;
        if (i + 1 == n->n_unet)
            n->unet_params = off;
    }
    n->n_params = off;
    n->params = calloc(off ? off : 1, sizeof *n->params);
    n->grads = calloc(off ? off : 1, sizeof *n->grads);
    if (!n->params || !n->grads) {
        network_free(n);
        return error_set(err, NULL, 0, 0, NULL, "out of memory for %zu LoRA parameters", off);
    }
    if (opts->dylora_unit && dylora_alloc(n, opts->dylora_unit, err) != 0) {
        network_free(n);
        return -1;
    }
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        if (m->adapter.kind == LORA_KIND_NORM) {
            m->norm_eff = malloc(2 * (size_t)m->out * sizeof *m->norm_eff);
            m->norm_train = 1;
            if (!m->norm_eff) {
                network_free(n);
                return error_set(err, NULL, 0, 0, NULL, "out of memory for the norm modules");
            }
        }
        m->frozen_down = opts->lora_fa;
        init_module(n, m, opts->seed);
        network_set_adapter(n, m);
        m->adapter.drop.network = opts->network_dropout;
        m->adapter.drop.rank = opts->rank_dropout;
        m->adapter.drop.rank_scale = opts->rank_dropout_scale;
        m->adapter.drop.rows = opts->lycoris;   /* LyCORIS' LoCon drops rows of ΔW */
    }
    n->module_dropout = opts->module_dropout;
    n->lycoris = opts->lycoris;
    if (opts->weights_path && *opts->weights_path &&
        network_load_weights(n, opts->weights_path, err) != 0) {
        network_free(n);
        return -1;
    }
    return 0;
}

/* multiplier · alpha / rank; iA3, full and the OFTs have no alpha scaling (OFT's alpha is its
 * constraint). */
float network_module_scale(const lora_network *n, const network_module *m)
{
    switch (m->adapter.kind) {
    case LORA_KIND_IA3:
    case LORA_KIND_FULL:
    case LORA_KIND_DIAG_OFT:
    case LORA_KIND_BOFT:
    case LORA_KIND_NORM:
        return n->multiplier;
    default:
        return n->multiplier * m->alpha / (float)m->rank;
    }
}

/* Points the adapter at the module's parameters and gradients, with its scale. */
void network_set_adapter(lora_network *n, network_module *m)
{
    lora_adapter *a = &m->adapter;
    a->rank = m->rank;
    a->scale = network_module_scale(n, m);
    a->dora_scale = m->dora ? n->params + m->dora_off : NULL;
    a->ddora_scale = m->dora ? n->grads + m->dora_off : NULL;
    a->scalar = m->has_scalar ? n->params + m->scalar_off : NULL;
    a->dscalar = m->has_scalar ? n->grads + m->scalar_off : NULL;
    if (a->kind == LORA_KIND_LORA) {
        a->down = n->params + m->down_off;
        a->up = n->params + m->up_off;
        /* NULL: backward skips dW */
        a->ddown = m->frozen_down ? NULL : layer_grads(n) + m->down_off;
        a->dup = layer_grads(n) + m->up_off;
        a->mid = m->tucker ? n->params + m->w_off[2] : NULL;
        a->dmid = m->tucker ? layer_grads(n) + m->w_off[2] : NULL;
        return;
    }
    for (int k = 0; k < LORA_MAX_FACTORS; k++) {
        a->w[k] = m->w_size[k] ? n->params + m->w_off[k] : NULL;
        a->dw[k] = m->w_size[k] ? n->grads + m->w_off[k] : NULL;
    }
}

/* LoRA adapters keep down's output for backward; LoHa / LoKr and Tucker LoCons build ΔW and
 * need none. */
static size_t module_hidden_floats(const unet_model *unet, const network_module *m, int B, int H,
                                   int W, int T)
{
    if (m->adapter.kind != LORA_KIND_LORA || m->tucker)
        return 0;
    if (m->unet_point == SIZE_MAX)   /* conv_in / conv_out at the latent size, time rows */
        return (size_t)B * (m->hidden_rows ? (size_t)m->hidden_rows : (size_t)H * W) * m->rank;
    return unet_lora_hidden_floats(unet, m->unet_point, m->rank, B, H, W, T);
}

int network_plan_unet(lora_network *n, const unet_model *unet, int B, int H, int W, int T,
                      error_info *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n->n_unet; i++)
        total += module_hidden_floats(unet, &n->mods[i], B, H, W, T);
    if (total > n->hidden_floats) {
        float *h = realloc(n->hidden, total * sizeof *h);
        if (!h)
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the LoRA activations");
        n->hidden = h;
        n->hidden_floats = total;
    }
    size_t off = 0;
    for (size_t i = 0; i < n->n_unet; i++) {
        size_t f = module_hidden_floats(unet, &n->mods[i], B, H, W, T);
        n->mods[i].adapter.hidden = f ? n->hidden + off : NULL;
        off += f;
    }
    return 0;
}

void network_set_trainable(lora_network *n, int te_side, int train)
{
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        if ((m->te != 0) != (te_side != 0))
            continue;
        if (m->dora)
            m->adapter.ddora_scale = train ? n->grads + m->dora_off : NULL;
        if (m->has_scalar)
            m->adapter.dscalar = train ? n->grads + m->scalar_off : NULL;
        if (m->adapter.kind == LORA_KIND_NORM) {
            m->norm_train = train;
            continue;
        }
        if (m->adapter.kind != LORA_KIND_LORA) {
            for (int k = 0; k < LORA_MAX_FACTORS; k++)
                m->adapter.dw[k] = train && m->w_size[k] ? n->grads + m->w_off[k] : NULL;
            continue;
        }
        m->adapter.ddown = train && !m->frozen_down ? layer_grads(n) + m->down_off : NULL;
        m->adapter.dup = train ? layer_grads(n) + m->up_off : NULL;
        m->adapter.dmid = train && m->tucker ? layer_grads(n) + m->w_off[2] : NULL;
    }
    network_norms_refresh(n);
}

/* train_norm modules: the normalisation layer runs with base + multiplier · w_norm (b_norm)
 * and writes its gradients into ours; with module dropout's skip, or detached, the base. */
void network_norms_refresh(lora_network *n)
{
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        if (m->adapter.kind != LORA_KIND_NORM)
            continue;
        const unet_norm_point *np = m->norm;
        int on = n->attached && !(m->adapter.drop.active && m->adapter.drop.skip);
        if (!on) {
            *np->weight = m->base_weight, *np->bias = m->base_bias;
            *np->dweight = *np->dbias = NULL;
            continue;
        }
        float f = network_module_scale(n, m);
        const float *w = n->params + m->w_off[0], *b = n->params + m->w_off[1];
        for (int c = 0; c < m->out; c++) {
            m->norm_eff[c] = m->base_weight[c] + f * w[c];
            m->norm_eff[m->out + c] = m->base_bias[c] + f * b[c];
        }
        *np->weight = m->norm_eff, *np->bias = m->norm_eff + m->out;
        /* d(base + f · w)/dw = f: the multiplier is 1 whenever gradients are taken */
        *np->dweight = m->norm_train ? n->grads + m->w_off[0] : NULL;
        *np->dbias = m->norm_train ? n->grads + m->w_off[1] : NULL;
    }
}

void network_attach(lora_network *n)
{
    for (size_t i = 0; i < n->n_mods; i++)
        if (n->mods[i].slot)
            *n->mods[i].slot = &n->mods[i].adapter;
    n->attached = 1;
    network_norms_refresh(n);
}

void network_detach(lora_network *n)
{
    if (!n->attached)
        return;
    for (size_t i = 0; i < n->n_mods; i++)
        if (n->mods[i].slot && *n->mods[i].slot == &n->mods[i].adapter)
            *n->mods[i].slot = NULL;
    n->attached = 0;
    network_norms_refresh(n);
}

void network_free(lora_network *n)
{
    if (n->mods)
        network_detach(n);
    for (size_t i = 0; i < n->n_mods; i++)
        free(n->mods[i].norm_eff);
    free(n->mods);
    free(n->params);
    free(n->grads);
    free(n->hidden);
    free(n->norm_work);
    free(n->dylora_grads);
    free(n->up_t);
    free(n->dup_t);
    free(n->dylora_flags);
    memset(n, 0, sizeof *n);
}

void network_zero_grad(lora_network *n)
{
    if (n->grads)   /* none in the whole-model training modes */
        memset(n->grads, 0, n->n_params * sizeof *n->grads);
    if (n->dylora_unit) {   /* torch: zero_grad(set_to_none=True), no slot has a gradient */
        memset(n->dylora_grads, 0, n->n_params * sizeof *n->dylora_grads);
        for (size_t i = 0; i < n->n_mods; i++)
            if (n->mods[i].dylora_trained)
                memset(n->mods[i].dylora_trained, 0, (size_t)n->mods[i].rank);
    }
}

int network_module_keys(const network_module *m, const char *keys[LORA_MAX_FACTORS])
{
    static const char *const fixed[][LORA_MAX_FACTORS] = {
        [LORA_KIND_LORA] = {"lora_down.weight", "lora_up.weight", "lora_mid.weight"},
        [LORA_KIND_LOHA] = {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"},
        [LORA_KIND_IA3] = {"weight"},
        [LORA_KIND_FULL] = {"diff", "diff_b"},
        [LORA_KIND_GLORA] = {"a1.weight", "a2.weight", "b1.weight", "b2.weight"},
        [LORA_KIND_DIAG_OFT] = {"oft_blocks", "rescale"},
        [LORA_KIND_BOFT] = {"oft_blocks", "rescale"},
        [LORA_KIND_NORM] = {"w_norm", "b_norm"},
    };
    const lora_adapter *a = &m->adapter;
    for (int k = 0; k < LORA_MAX_FACTORS; k++)
        keys[k] = NULL;
    if (a->kind == LORA_KIND_LOKR) {
        if (a->w1_rank)
            keys[0] = "lokr_w1_a", keys[1] = "lokr_w1_b";
        else
            keys[0] = "lokr_w1";
        if (a->w2_rank)
            keys[2] = "lokr_w2_a", keys[3] = "lokr_w2_b";
        else
            keys[2] = "lokr_w2";
        if (a->tucker)
            keys[4] = "lokr_t2";
        return (a->w1_rank ? 2 : 1) + (a->w2_rank ? 2 : 1) + (a->tucker ? 1 : 0);
    }
    int count = 0;
    for (int k = 0; k < LORA_MAX_FACTORS; k++)
        if (fixed[a->kind][k] && ((a->kind == LORA_KIND_LORA && k < 2) || m->w_size[k])) {
            keys[k] = fixed[a->kind][k];
            count++;
        }
    return count;
}

int network_module_has_alpha(const network_module *m)
{
    lora_kind k = m->adapter.kind;
    return k != LORA_KIND_IA3 && k != LORA_KIND_FULL && k != LORA_KIND_NORM;
}

/* What usually makes a file's tensor size differ from the network's. */
static const char *size_hint(lora_kind kind)
{
    switch (kind) {
    case LORA_KIND_IA3:
        return "train_on_input differs from the file's, or another model";
    case LORA_KIND_FULL:
        return "the file is for another model";
    case LORA_KIND_DIAG_OFT:
    case LORA_KIND_BOFT:
        return "network_dim, conv_dim or rescaled differ from the file's";
    default:
        return "network_dim, factor, decompose_both or use_tucker differ from the file's; "
               "dim_from_weights takes the file's rank and Tucker factors";
    }
}

static const char *kind_label(lora_kind kind)
{
    static const char *const labels[] = {
        [LORA_KIND_LORA] = "LoRA", [LORA_KIND_LOHA] = "LoHa", [LORA_KIND_LOKR] = "LoKr",
        [LORA_KIND_IA3] = "iA3", [LORA_KIND_FULL] = "LyCORIS full (native fine-tuning)",
        [LORA_KIND_GLORA] = "GLoRA", [LORA_KIND_DIAG_OFT] = "Diag-OFT", [LORA_KIND_BOFT] = "BOFT",
        [LORA_KIND_NORM] = "LyCORIS norm (train_norm)",
    };
    return labels[kind];
}

int network_load_weights(lora_network *n, const char *path, error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) != 0)
        return -1;
    int rc = 0;
    size_t found = 0;
    for (size_t i = 0; i < n->n_mods && rc == 0; i++) {
        network_module *m = &n->mods[i];
        const char *keys[LORA_MAX_FACTORS];
        network_module_keys(m, keys);
        float alpha = m->alpha;
        int present = 0;
        enum { K_ALPHA = LORA_MAX_FACTORS };
        for (int k = 0; k <= K_ALPHA && rc == 0; k++) {
            if ((k < K_ALPHA && !keys[k]) || (k == K_ALPHA && !network_module_has_alpha(m)))
                continue;
            char key[192];
            snprintf(key, sizeof key, "%s.%s", m->name, k < K_ALPHA ? keys[k] : "alpha");
            const safetensors_tensor *t = safetensors_find(f, key);
            /* LyCORIS' full: .diff / .diff_b against the base, or a state's .weight / .bias */
            const float *base = NULL;
            if (m->adapter.kind == LORA_KIND_FULL && k < 2) {
                base = k == 0 ? m->base_weight : m->base_bias;
                if (!t) {
                    snprintf(key, sizeof key, "%s.%s", m->name, k == 0 ? "weight" : "bias");
                    t = safetensors_find(f, key);
                    base = NULL;
                }
            }
            if (!t)
                continue;
            present++;
            uint64_t want = k < K_ALPHA ? m->w_size[k] : 1;
            if (t->nelements != want) {
                rc = error_set(err, path, 0, 0, NULL, "%s has %llu elements, the network needs %llu "
                               "(%s)", key, (unsigned long long)t->nelements, (unsigned long long)want,
                               size_hint(m->adapter.kind));
                continue;
            }
            float *dst = k < K_ALPHA ? n->params + m->w_off[k] : &alpha;
            rc = safetensors_read_f32(t, dst, err);
            for (uint64_t j = 0; rc == 0 && base && j < want; j++)
                dst[j] += base[j];
        }
        if (m->has_scalar && rc == 0 && present) {
            /* a state keeps the scalar; a saved file has it folded into a factor (LyCORIS'
             * load hook then sets it to 1) */
            char key[192];
            snprintf(key, sizeof key, "%s.scalar", m->name);
            const safetensors_tensor *t = safetensors_find(f, key);
            if (t && t->nelements == 1)
                rc = safetensors_read_f32(t, n->params + m->scalar_off, err);
            else
                n->params[m->scalar_off] = 1.0f;
        }
        if (m->dora && rc == 0) {
            char key[192];
            snprintf(key, sizeof key, "%s.dora_scale", m->name);
            const safetensors_tensor *t = safetensors_find(f, key);
            if (t && t->nelements != (uint64_t)m->out)
                rc = error_set(err, path, 0, 0, NULL, "%s has %llu elements, the layer has %d rows",
                               key, (unsigned long long)t->nelements, m->out);
            else if (t)
                rc = safetensors_read_f32(t, n->params + m->dora_off, err);
        }
        if (present) {
            found++;
            m->alpha = alpha;
            m->adapter.scale = network_module_scale(n, m);
        }
    }
    if (rc == 0 && found == 0)
        rc = error_set(err, path, 0, 0, "network_weights",
                       "none of the network's %zu modules is in this file (is it a %s file?)",
                       n->n_mods, n->n_mods ? kind_label(n->mods[0].adapter.kind) : "LoRA");
    safetensors_close(f);
    return rc;
}

/* ‖up·down‖_F² = Σ (upᵀup) ∘ (down downᵀ), with up [out, r] and down [r, in·k·k]. */
static double product_norm2(const float *up, const float *down, int out, int r, size_t cols)
{
    double s = 0.0;
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) {
            double g1 = 0.0, g2 = 0.0;
            for (int o = 0; o < out; o++)
                g1 += (double)up[(size_t)o * r + a] * up[(size_t)o * r + b];
            for (size_t c = 0; c < cols; c++)
                g2 += (double)down[(size_t)a * cols + c] * down[(size_t)b * cols + c];
            s += g1 * g2;
        }
    return s;
}

/* LyCORIS' apply_max_norm for LoHa / LoKr and Tucker LoCons: the norm of scale · ΔW (built into
 * work, followed by the algorithm's own work; none needs the layer's weight). */
static double delta_norm(const network_module *m, float *work)
{
    size_t cols = (size_t)m->in * m->kernel * m->kernel, nw = (size_t)m->out * cols;
    lora_delta_build(&m->adapter, NULL, work, m->out, cols, work + nw);
    double s = 0.0;
    for (size_t j = 0; j < nw; j++)
        s += (double)work[j] * work[j];
    return sqrt(s) * m->alpha / m->rank;
}

int network_apply_max_norm(lora_network *n, float max_norm, double *mean_norm, double *max_out)
{
    int scaled = 0;
    double sum = 0.0, mx = 0.0;
    size_t counted = 0;
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        lora_kind kind = m->adapter.kind;
        size_t cols = (size_t)m->in * m->kernel * m->kernel;
        double norm;
        /* LyCORIS' iA3, full, GLoRA and norm modules have no apply_max_norm: left out, as
         * LyCORIS does */
        if (kind == LORA_KIND_IA3 || kind == LORA_KIND_FULL || kind == LORA_KIND_GLORA || kind == LORA_KIND_NORM)
            continue;
        if (kind == LORA_KIND_DIAG_OFT || kind == LORA_KIND_BOFT) {
            /* the OFTs bound the norm of oft_blocks itself */
            double s2 = 0.0;
            for (size_t j = 0; j < m->w_size[0]; j++)
                s2 += (double)n->params[m->w_off[0] + j] * n->params[m->w_off[0] + j];
            norm = sqrt(s2);
        } else if (kind != LORA_KIND_LORA || m->tucker) {
            size_t need = (size_t)m->out * cols + lora_delta_work_floats(&m->adapter, m->out, cols);
            if (need > n->norm_work_floats) {
                float *w = realloc(n->norm_work, need * sizeof *w);
                if (!w)
                    continue;   /* no memory: leave this module unscaled */
                n->norm_work = w;
                n->norm_work_floats = need;
            }
            norm = delta_norm(m, n->norm_work);
        } else
            norm = sqrt(product_norm2(n->params + m->up_off, n->params + m->down_off, m->out, m->rank,
                                      cols)) * m->alpha / m->rank;
        /* use_scalar: LyCORIS' LoCon and LoHa measure ΔW with it and scale it alone (its LoKr
         * neither) */
        int by_scalar = m->has_scalar && kind != LORA_KIND_LOKR;
        if (by_scalar)
            norm *= fabs(n->params[m->scalar_off]);
        /* sd-scripts clamps the norm below at max_norm / 2 before the ratio */
        double clamped = norm < max_norm / 2.0 ? max_norm / 2.0 : norm;
        double desired = clamped > max_norm ? max_norm : clamped;
        double ratio = desired / clamped;
        if (ratio != 1.0 && by_scalar) {
            scaled++;
            n->params[m->scalar_off] *= (float)ratio;
        } else if (ratio != 1.0) {
            scaled++;
            int factors = 0;
            for (int k = 0; k < LORA_MAX_FACTORS; k++)
                factors += m->w_size[k] > 0;
            /* LoRA: √ratio on down and up (LyCORIS' LoCon: ratio on its scalar, which it folds
             * into lora_up when saving); LoKr: ratio^(1/factors) on each; LoHa: ratio on w1a;
             * OFT: ratio on oft_blocks */
            int first_only = kind == LORA_KIND_LOHA || kind == LORA_KIND_DIAG_OFT || kind == LORA_KIND_BOFT;
            int up_only = kind == LORA_KIND_LORA && n->lycoris;
            float s = first_only || up_only ? (float)ratio : (float)pow(ratio, 1.0 / factors);
            for (int k = 0; k < LORA_MAX_FACTORS; k++) {
                if (first_only && k > 0)
                    break;
                if (up_only && k != 1)
                    continue;
                for (size_t j = 0; j < m->w_size[k]; j++)
                    n->params[m->w_off[k] + j] *= s;
            }
        }
        double after = norm * ratio;
        counted++;
        sum += after;
        if (after > mx)
            mx = after;
    }
    if (mean_norm)
        *mean_norm = counted ? sum / (double)counted : 0.0;
    if (max_out)
        *max_out = mx;
    return scaled;
}
