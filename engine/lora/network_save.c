/* network_save.c — writing a LoRA network as sd-scripts' save_weights does (kohya names, the
 * save precision, a 0-d alpha per module) and sd-scripts' file names for last / per-epoch /
 * per-step saves, LoHa / LoKr under LyCORIS' keys. The metadata is the caller's (engine/train builds the ss_* / modelspec keys). */
#include "engine/lora/network_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets a 2-D shape [rows, cols], or 4-D [rows, cols, k, k] on a conv. */
static void shape_2d(lora_tensor *t, int64_t rows, int64_t cols, const network_module *m, int kernel)
{
    t->ndim = m->conv ? 4 : 2;
    t->shape[0] = rows, t->shape[1] = cols;
    t->shape[2] = t->shape[3] = kernel;
}

/* The shapes of LyCORIS' iA3, full, GLoRA and OFT tensors (lycoris/modules/ia3.py ...). */
static void lycoris_shape(const network_module *m, int k, lora_tensor *t)
{
    const lora_adapter *a = &m->adapter;
    switch (a->kind) {
    case LORA_KIND_IA3:   /* linear [train_dim], conv [1, train_dim, 1, 1] */
        if (m->conv)
            shape_2d(t, 1, (int64_t)m->w_size[0], m, 1);
        else
            t->ndim = 1, t->shape[0] = (int64_t)m->w_size[0];
        break;
    case LORA_KIND_FULL:   /* the layer's weight shape; diff_b [out] */
        if (k == 0)
            shape_2d(t, m->out, m->in, m, m->kernel);
        else
            t->ndim = 1, t->shape[0] = m->out;
        break;
    case LORA_KIND_NORM:   /* w_norm, b_norm [channels] */
        t->ndim = 1, t->shape[0] = m->out;
        break;
    case LORA_KIND_GLORA:   /* a1 [in, r], a2 [r, in], b1 [out, r] (1x1 on a conv), b2 [r, in, k, k] */
        if (k == 0)
            shape_2d(t, m->in, m->rank, m, 1);
        else if (k == 1)
            shape_2d(t, m->rank, m->in, m, 1);
        else if (k == 2)
            shape_2d(t, m->out, m->rank, m, 1);
        else
            shape_2d(t, m->rank, m->in, m, m->kernel);
        break;
    default:   /* OFT: blocks [(m,) n, s, s]; rescale [out, 1] or [out, 1, 1, 1] */
        if (k == 0) {
            int d = 0;
            if (a->kind == LORA_KIND_BOFT)
                t->shape[d++] = a->boft_m;
            t->shape[d++] = a->oft_blocks;
            t->shape[d++] = a->oft_size;
            t->shape[d++] = a->oft_size;
            t->ndim = d;
        } else
            shape_2d(t, m->out, 1, m, 1);
        break;
    }
}

/* LyCORIS' Tucker factors (use_tucker on a k×k conv): the cores [r, r, k, k]; LoHa's
 * hada_w*_a [r, out] and hada_w*_b [r, in]; LoKr's lokr_w2_a [r, b] and lokr_w2_b [r, d]; LoCon's
 * lora_down [r, in, 1, 1] and lora_up [out, r, 1, 1]. Returns 0 for the factors Tucker leaves
 * as they are (LoKr's W1). */
static int tucker_shape(const network_module *m, int k, lora_tensor *t)
{
    const lora_adapter *a = &m->adapter;
    int r = m->rank;
    if (k >= 4 || (a->kind == LORA_KIND_LORA && k == 2)) {
        t->ndim = 4;
        t->shape[0] = t->shape[1] = r;
        t->shape[2] = t->shape[3] = m->kernel;
        return 1;
    }
    if (a->kind == LORA_KIND_LOHA)
        t->shape[0] = r, t->shape[1] = k % 2 == 0 ? m->out : m->in;
    else if (a->kind == LORA_KIND_LOKR && k >= 2)
        t->shape[0] = r, t->shape[1] = k == 2 ? a->kb : (int64_t)a->kd / (m->kernel * m->kernel);
    else if (a->kind == LORA_KIND_LORA)
        shape_2d(t, k == 0 ? r : m->out, k == 0 ? m->in : r, m, 1);
    else
        return 0;
    return 1;
}

static void factor_shape(const network_module *m, int k, lora_tensor *t)
{
    const lora_adapter *a = &m->adapter;
    t->ndim = 2;
    if (a->kind >= LORA_KIND_IA3) {
        lycoris_shape(m, k, t);
        return;
    }
    if (m->tucker && tucker_shape(m, k, t))
        return;
    if (a->kind == LORA_KIND_LOHA) {
        size_t cols = (size_t)m->in * m->kernel * m->kernel;
        t->shape[0] = k % 2 == 0 ? (int64_t)m->out : (int64_t)m->rank;
        t->shape[1] = k % 2 == 0 ? (int64_t)m->rank : (int64_t)cols;
    } else if (a->kind == LORA_KIND_LOKR) {
        int rows = k < 2 ? a->ka : a->kb, cols = k < 2 ? a->kc : a->kd, r = k < 2 ? a->w1_rank : a->w2_rank;
        if (!r) {
            t->shape[0] = (int64_t)rows, t->shape[1] = (int64_t)cols;
            if (k == 2 && m->conv) {   /* full w2 of a conv (1x1 too): [b, d, k, k] */
                t->ndim = 4;
                t->shape[1] = (int64_t)(cols / (m->kernel * m->kernel));
                t->shape[2] = t->shape[3] = (int64_t)m->kernel;
            }
        } else if (k % 2 == 0)
            t->shape[0] = (int64_t)rows, t->shape[1] = (int64_t)r;
        else
            t->shape[0] = (int64_t)r, t->shape[1] = (int64_t)cols;
    } else if (m->conv) {
        t->ndim = 4;
        if (k == 0)
            t->shape[0] = m->rank, t->shape[1] = m->in, t->shape[2] = t->shape[3] = m->kernel;
        else
            t->shape[0] = m->out, t->shape[1] = m->rank, t->shape[2] = t->shape[3] = 1;
    } else if (k == 0)
        t->shape[0] = m->rank, t->shape[1] = m->in;
    else
        t->shape[0] = m->out, t->shape[1] = m->rank;
}

int network_factor_shape(const network_module *m, int k, int64_t shape[4])
{
    lora_tensor t = {0};
    factor_shape(m, k, &t);
    memcpy(shape, t.shape, sizeof t.shape);
    return t.ndim;
}

/* raw: the training state's file, every parameter as it is (LyCORIS' full: its trained
 * weight and bias under .weight / .bias); otherwise the file users load (full: .diff, .diff_b
 * against the base). */
static int save_network(const lora_network *n, const char *path, dtype_t save_dtype,
                        const lora_metadata *md, int raw, error_info *err)
{
    size_t cap = n->n_mods * (LORA_MAX_FACTORS + 3);   /* + alpha, dora_scale, scalar */
    lora_tensor *t = calloc(cap ? cap : 1, sizeof *t);
    char (*names)[160] = calloc(cap ? cap : 1, sizeof *names);
    float *alphas = calloc(n->n_mods ? n->n_mods : 1, sizeof *alphas);
    if (!t || !names || !alphas) {
        free(t);
        free(names);
        free(alphas);
        return error_set(err, path, 0, 0, NULL, "out of memory while saving");
    }
    size_t count = 0;
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *m = &n->mods[i];
        const char *keys[LORA_MAX_FACTORS];
        network_module_keys(m, keys);
        for (int k = 0; k < LORA_MAX_FACTORS; k++) {
            if (!keys[k])
                continue;
            int full = m->adapter.kind == LORA_KIND_FULL;
            snprintf(names[count], sizeof names[0], "%s.%s", m->name,
                     full && raw ? (k == 0 ? "weight" : "bias") : keys[k]);
            t[count].name = names[count];
            t[count].data = n->params + m->w_off[k];
            if (full && !raw)
                t[count].minus = k == 0 ? m->base_weight : m->base_bias;
            /* use_scalar folded as LyCORIS saves it: into lora_up, hada_w1_a, lokr_w1(_a) */
            if (m->has_scalar && !raw && k == (m->adapter.kind == LORA_KIND_LORA ? 1 : 0))
                t[count].times = n->params + m->scalar_off;
            t[count].ndim = network_factor_shape(m, k, t[count].shape);
            count++;
        }
        if (m->has_scalar && raw) {   /* the state keeps it apart */
            snprintf(names[count], sizeof names[0], "%s.scalar", m->name);
            t[count].name = names[count];
            t[count].data = n->params + m->scalar_off;
            t[count].ndim = 0;
            count++;
        }
        if (m->dora) {   /* LyCORIS: [out, 1] or [out, 1, 1, 1] */
            snprintf(names[count], sizeof names[0], "%s.dora_scale", m->name);
            t[count].name = names[count];
            t[count].data = n->params + m->dora_off;
            t[count].ndim = m->conv ? 4 : 2;
            t[count].shape[0] = m->out;
            t[count].shape[1] = t[count].shape[2] = t[count].shape[3] = 1;
            count++;
        }
        /* iA3 has its on_input flag where the others have alpha (saved in save_dtype too, as
         * LyCORIS' save_weights converts every tensor); LyCORIS' full and norm have neither */
        if (m->adapter.kind == LORA_KIND_FULL || m->adapter.kind == LORA_KIND_NORM)
            continue;
        int ia3 = m->adapter.kind == LORA_KIND_IA3;
        snprintf(names[count], sizeof names[0], "%s.%s", m->name, ia3 ? "on_input" : "alpha");
        alphas[i] = ia3 ? (float)m->adapter.on_input : m->alpha;
        t[count].name = names[count];
        t[count].data = &alphas[i];
        t[count].ndim = 0;
        count++;
    }
    int rc = lora_file_save(path, t, count, save_dtype, md, err);
    free(t);
    free(names);
    free(alphas);
    return rc;
}

int network_save(const lora_network *n, const char *path, dtype_t save_dtype,
                 const lora_metadata *md, error_info *err)
{
    return save_network(n, path, save_dtype, md, 0, err);
}

int network_save_state(const lora_network *n, const char *path, const lora_metadata *md,
                       error_info *err)
{
    return save_network(n, path, DTYPE_F32, md, 1, err);
}

void network_file_stem(char *buf, size_t size, const char *output_name, int kind, long long n)
{
    int named = output_name && *output_name;
    if (kind == 1)
        snprintf(buf, size, named ? "%s-%06lld" : "%sepoch-%06lld", named ? output_name : "", n);
    else if (kind == 2)
        snprintf(buf, size, named ? "%s-step%08lld" : "%sat-step%08lld", named ? output_name : "", n);
    else
        snprintf(buf, size, "%s", named ? output_name : "last");
}
