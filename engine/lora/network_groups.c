/* network_groups.c — per-step dropout state (and DyLoRA's rank slice, dylora.c) and sd-scripts'
 * learning-rate groups: block indices of kohya module names (get_block_index),
 * down/mid/up_lr_weight with block_lr_zero_threshold (get_block_lr_weight), LoRA+ ratios on
 * the up matrices. See network.h. */
#include "engine/lora/network.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng.h"

enum { NETWORK_RNG_MODULE_DROP = 4 };   /* rng purpose tag: after init (3) */

void network_begin_step(lora_network *n, int training, uint64_t seed, uint64_t step, int batch)
{
    for (size_t i = 0; i < n->n_mods; i++) {
        lora_dropout *d = &n->mods[i].adapter.drop;
        d->active = training;
        d->batch = batch;
        d->seed = seed;
        /* each (step, module) owns 2^32 mask indices */
        d->offset = (step * (uint64_t)n->n_mods + i) << 32;
        d->skip = 0;
        if (training && n->module_dropout > 0.0f) {
            uint32_t r[4];
            k_rng_block(r, seed, step * (uint64_t)n->n_mods + i, NETWORK_RNG_MODULE_DROP);
            d->skip = k_rng_uniform(r[0]) < n->module_dropout;   /* torch.rand(1) < p */
        }
    }
    network_dylora_begin_step(n, training, seed, step);
    network_norms_refresh(n);
}

int network_block_index(const char *name)
{
    if (strncmp(name, "lora_unet_", 10) != 0)
        return -1;
    const char *s = name + 10;
    /* SDXL: LDM names */
    if (strncmp(s, "time_embed_", 11) == 0 || strncmp(s, "label_emb_", 10) == 0)
        return 0;
    if (strncmp(s, "input_blocks_", 13) == 0)
        return 1 + atoi(s + 13);
    if (strncmp(s, "middle_block_", 13) == 0)
        return 10 + atoi(s + 13);
    if (strncmp(s, "output_blocks_", 14) == 0)
        return 13 + atoi(s + 14);
    if (strncmp(s, "out_", 4) == 0)
        return 22;
    /* SD1/2: RE_UPDOWN "(up|down)_blocks_(i)_(resnets|upsamplers|downsamplers|attentions)_(j)_" */
    const char *kinds[4] = {"resnets_", "attentions_", "upsamplers_", "downsamplers_"};
    for (int up = 0; up < 2; up++) {
        const char *pre = up ? "up_blocks_" : "down_blocks_";
        const char *p = strstr(s, pre);
        if (!p)
            continue;
        int i = atoi(p + strlen(pre));
        const char *q = strchr(p + strlen(pre), '_');
        if (!q)
            continue;
        q++;
        for (int k = 0; k < 4; k++)
            if (strncmp(q, kinds[k], strlen(kinds[k])) == 0) {
                int j = atoi(q + strlen(kinds[k]));
                int idx = k < 2 ? 3 * i + j : 3 * i + 2;
                return up ? 12 + 1 + idx : 1 + idx;
            }
    }
    if (strstr(s, "mid_block_"))
        return 12;
    return -1;
}

/* One of down/up_lr_weight: a preset name (+base) or a comma list, padded with 1. */
static int parse_list(const char *text, int len, float *out, error_info *err)
{
    char name[32];
    const char *plus = strchr(text, '+');
    float base = plus ? strtof(plus + 1, NULL) : 0.0f;
    snprintf(name, sizeof name, "%.*s", plus ? (int)(plus - text) : (int)strlen(text), text);
    const float pi = 3.14159265358979f;
    int preset = 1;
    for (int i = 0; i < len; i++) {
        float t = len > 1 ? (float)i / (float)(len - 1) : 0.0f, tr = len > 1 ? (float)(len - 1 - i) / (float)(len - 1) : 0.0f;
        if (strcmp(name, "cosine") == 0)
            out[i] = sinf(pi * tr / 2.0f) + base;
        else if (strcmp(name, "sine") == 0)
            out[i] = sinf(pi * t / 2.0f) + base;
        else if (strcmp(name, "linear") == 0)
            out[i] = t + base;
        else if (strcmp(name, "reverse_linear") == 0)
            out[i] = tr + base;
        else if (strcmp(name, "zeros") == 0)
            out[i] = base;
        else {
            preset = 0;
            break;
        }
    }
    if (preset)
        return 0;
    int i = 0;
    const char *p = text;
    while (*p && i < len) {
        char *end;
        float v = strtof(p, &end);
        if (end == p)
            return error_set(err, NULL, 0, 0, NULL, "not a number list or lr_weight preset: %s", text);
        out[i++] = v;
        p = end;
        while (*p == ',' || *p == ' ')
            p++;
    }
    for (; i < len; i++)
        out[i] = 1.0f;   /* sd-scripts fills missing values with 1 (and drops extras) */
    return 0;
}

int network_block_lr_weights(int sdxl, const char *down, const char *mid, const char *up,
                             float zero_threshold, float out[NETWORK_MAX_BLOCKS], error_info *err)
{
    int given_d = down && *down, given_m = mid && *mid, given_u = up && *up;
    if (!given_d && !given_m && !given_u)
        return 0;
    int side = sdxl ? 9 : 12, nmid = sdxl ? 3 : 1, k = 0;
    float *o = out;
    if (sdxl)
        o[k++] = 1.0f;   /* emb layers */
    const char *texts[3] = {down, mid, up};
    int lens[3] = {side, nmid, side};
    for (int part = 0; part < 3; part++) {
        if (texts[part] && *texts[part]) {
            if (parse_list(texts[part], lens[part], o + k, err) != 0)
                return -1;
            for (int i = 0; i < lens[part]; i++)
                if (!(o[k + i] > zero_threshold))
                    o[k + i] = 0.0f;
        } else
            for (int i = 0; i < lens[part]; i++)
                o[k + i] = 1.0f;
        k += lens[part];
    }
    if (sdxl)
        o[k++] = 1.0f;   /* out */
    return k;
}

size_t network_param_ranges(const lora_network *n, const network_lr_options *o,
                            network_param_range *out, size_t cap)
{
    size_t count = 0;
    network_param_range prev = {0};
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *m = &n->mods[i];
        int te = m->te != 0, block = te ? -1 : network_block_index(m->name);
        float mult = 1.0f;
        if (!te && o && o->block_lr && block >= 0 && block < o->n_block_lr)
            mult = o->block_lr[block];
        float ratio = 0.0f;
        if (o && !m->frozen_down)   /* lora_fa.py has no LoRA+ */
            ratio = te ? o->loraplus_text_encoder_lr_ratio : o->loraplus_unet_lr_ratio;
        if (o && !m->frozen_down && ratio == 0.0f)
            ratio = o->loraplus_lr_ratio;
        /* a module's parameters: [down_off, up_off) the down part, then the up matrix (LoRA+'s),
         * then a Tucker LoCon's lora_mid, DoRA's scale and use_scalar's scalar (LyCORIS: not
         * lora_up, no LoRA+) */
        size_t begin = m->down_off, end = i + 1 < n->n_mods ? n->mods[i + 1].down_off : n->n_params;
        size_t up_end = m->adapter.kind == LORA_KIND_LORA ? m->up_off + m->w_size[1]
                        : m->dora ? m->dora_off : m->has_scalar ? m->scalar_off : end;
        size_t parts[3][2] = {{begin, m->up_off}, {m->up_off, up_end}, {up_end, end}};
        for (int p = 0; p < 3; p++) {
            if (parts[p][1] <= parts[p][0])
                continue;
            network_param_range r = {parts[p][0], parts[p][1] - parts[p][0], te, p == 1 && ratio > 0.0f,
                                     block, mult, p == 0 && m->frozen_down};
            if (r.plus)
                r.lr_mult = mult * ratio;
            if (r.frozen)   /* lora_fa.py's get_trainable_params: lora_up only */
                r.lr_mult = 0.0f;
            if (count > 0 && prev.offset + prev.count == r.offset && prev.te == r.te &&
                prev.plus == r.plus && prev.block == r.block && prev.lr_mult == r.lr_mult &&
                prev.frozen == r.frozen) {
                prev.count += r.count;
                if (count <= cap)
                    out[count - 1] = prev;
                continue;
            }
            prev = r;
            if (count < cap)
                out[count] = r;
            count++;
        }
    }
    return count;
}
