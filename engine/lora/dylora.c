/* dylora.c — sd-scripts' networks.dylora (DyLoRA, networks/dylora.py) and LyCORIS' DyLoRA
 * (lycoris/modules/dylora.py) on top of the LoRA adapters: which rank slice each forward
 * trains and at which scale, the gradients of that slice only, and the per-slot view the
 * optimizer needs (dylora.py holds every row of down and every column of up as a parameter of
 * its own, LyCORIS every block of block_size rows / columns; a slot without a gradient is
 * skipped). The modules, initialisation and file are networks.lora's (LyCORIS': its presets).
 * See network.h. */
#include "engine/lora/network.h"

#include <math.h>
#include <string.h>

#include "kernels/rng.h"

enum { NETWORK_RNG_DYLORA = 5 };   /* rng purpose tag: after module dropout (4) */

void network_dylora_begin_step(lora_network *n, int training, uint64_t seed, uint64_t step)
{
    if (!n->dylora_unit)
        return;
    int unit = n->dylora_unit;
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        if (!m->dylora_trained)   /* train_norm modules are not DyLoRA's */
            continue;
        float full = n->multiplier * m->alpha / (float)m->rank;
        if (!training) {
            m->dylora_b = m->rank - unit;
            m->adapter.scale = full;
            m->adapter.active_rank = 0;
            continue;
        }
        /* dylora.py: t = random.randint(0, rank − 1); b = t − t % unit (LyCORIS draws the block
         * uniformly: the same law) */
        uint32_t r[4];
        k_rng_block(r, seed, step * (uint64_t)n->n_mods + i, NETWORK_RNG_DYLORA);
        int t = (int)(((uint64_t)r[0] * (uint64_t)m->rank) >> 32);
        m->dylora_b = t - t % unit;
        if (n->lycoris) {
            /* LyCORIS' get_weight: blocks 0 … b run (only b trains) at alpha / (b + 1), b the
             * block index. Sampling above runs the whole rank at alpha / rank, as the file. */
            int block = m->dylora_b / unit;
            m->adapter.active_rank = m->dylora_b + unit;
            m->adapter.scale = n->multiplier * m->alpha / (float)(block + 1);
            continue;
        }
        /* ab · scale · √(rank / (b + unit)), scale = alpha / rank; every slot runs, trained
         * or not */
        m->adapter.scale = full * (float)sqrt((double)m->rank / (double)(m->dylora_b + unit));
    }
}

void network_dylora_end_micro_step(lora_network *n)
{
    if (!n->dylora_unit)
        return;
    int unit = n->dylora_unit;
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        /* this side does not train, or module_dropout left the module out: no gradient */
        if (!m->dylora_trained || !m->adapter.dup || (m->adapter.drop.active && m->adapter.drop.skip))
            continue;
        size_t cols = (size_t)m->in * m->kernel * m->kernel;
        int b = m->dylora_b;
        /* down rows [b, b + unit): contiguous; up columns [b, b + unit) of [out, rank] */
        const float *gd = n->dylora_grads + m->down_off + (size_t)b * cols;
        float *dd = n->grads + m->down_off + (size_t)b * cols;
        for (size_t j = 0; j < (size_t)unit * cols; j++)
            dd[j] += gd[j];
        for (int o = 0; o < m->out; o++) {
            const float *gu = n->dylora_grads + m->up_off + (size_t)o * m->rank + b;
            float *du = n->grads + m->up_off + (size_t)o * m->rank + b;
            for (int k = 0; k < unit; k++)
                du[k] += gu[k];
        }
        memset(m->dylora_trained + b, 1, (size_t)unit);
    }
    memset(n->dylora_grads, 0, n->n_params * sizeof *n->dylora_grads);
}

void network_dylora_to_optimizer(lora_network *n)
{
    if (!n || !n->dylora_unit)
        return;
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *m = &n->mods[i];
        if (!m->dylora_trained)
            continue;
        for (int o = 0; o < m->out; o++)
            for (int r = 0; r < m->rank; r++) {
                size_t src = m->up_off + (size_t)o * m->rank + r;
                size_t dst = m->up_t_off + (size_t)r * m->out + o;
                n->up_t[dst] = n->params[src];
                n->dup_t[dst] = n->grads[src];
            }
    }
}

void network_dylora_from_optimizer(lora_network *n)
{
    if (!n || !n->dylora_unit)
        return;
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *m = &n->mods[i];
        if (!m->dylora_trained)
            continue;
        for (int o = 0; o < m->out; o++)
            for (int r = 0; r < m->rank; r++)
                n->params[m->up_off + (size_t)o * m->rank + r] =
                    n->up_t[m->up_t_off + (size_t)r * m->out + o];
    }
}

void network_dylora_slot(const lora_network *n, const network_module *m, int r, float **down,
                         const float **ddown, float **up, const float **dup)
{
    size_t cols = (size_t)m->in * m->kernel * m->kernel;
    *down = n->params + m->down_off + (size_t)r * cols;
    *ddown = n->grads + m->down_off + (size_t)r * cols;
    *up = n->up_t + m->up_t_off + (size_t)r * m->out;
    *dup = n->dup_t + m->up_t_off + (size_t)r * m->out;
}

/* The module whose [key(m), key(m + 1)) holds off (modules are in buffer order). */
static const network_module *module_at(const lora_network *n, size_t off, int in_up_t)
{
    size_t lo = 0, hi = n->n_mods;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        size_t key = in_up_t ? n->mods[mid].up_t_off : n->mods[mid].down_off;
        if (key <= off)
            lo = mid;
        else
            hi = mid;
    }
    return n->n_mods ? &n->mods[lo] : NULL;
}

const float *network_dylora_grad(const lora_network *n, const float *data)
{
    if (!n->dylora_unit || !data)
        return NULL;
    if (data >= n->params && data < n->params + n->n_params) {
        size_t off = (size_t)(data - n->params);
        const network_module *m = module_at(n, off, 0);
        if (m && !m->dylora_trained)
            return n->grads + off;   /* a train_norm module: a plain parameter */
        if (!m || off >= m->up_off)
            return NULL;   /* not a down row */
        size_t cols = (size_t)m->in * m->kernel * m->kernel;
        return m->dylora_trained[(off - m->down_off) / cols] ? n->grads + off : NULL;
    }
    if (data >= n->up_t && data < n->up_t + n->n_up_t) {
        size_t off = (size_t)(data - n->up_t);
        const network_module *m = module_at(n, off, 1);
        if (!m)
            return NULL;
        return m->dylora_trained[(off - m->up_t_off) / (size_t)m->out] ? n->dup_t + off : NULL;
    }
    return NULL;
}
