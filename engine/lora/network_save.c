/* network_save.c — writing a LoRA network as sd-scripts' save_weights does (kohya names, the
 * save precision, a 0-d alpha per module) and sd-scripts' file names for last / per-epoch /
 * per-step saves, LoHa / LoKr under LyCORIS' keys. The metadata is the caller's (engine/train builds the ss_* / modelspec keys). */
#include "engine/lora/network_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* The shape LyCORIS / sd-scripts save factor k of module m with. */
static void factor_shape(const network_module *m, int k, lora_tensor *t)
{
    const lora_adapter *a = &m->adapter;
    t->ndim = 2;
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

int network_save(const lora_network *n, const char *path, dtype_t save_dtype,
                 const lora_metadata *md, error_info *err)
{
    size_t cap = n->n_mods * 5;
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
        const char *keys[4];
        network_module_keys(m, keys);
        for (int k = 0; k < 4; k++) {
            if (!keys[k])
                continue;
            snprintf(names[count], sizeof names[0], "%s.%s", m->name, keys[k]);
            t[count].name = names[count];
            t[count].data = n->params + m->w_off[k];
            factor_shape(m, k, &t[count]);
            count++;
        }
        snprintf(names[count], sizeof names[0], "%s.alpha", m->name);
        alphas[i] = m->alpha;
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
