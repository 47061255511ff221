/* network_save.c — writing a LoRA network as sd-scripts' save_weights does (kohya names, the
 * save precision, a 0-d alpha per module) and sd-scripts' file names for last / per-epoch /
 * per-step saves. The metadata is the caller's (engine/train builds the ss_* / modelspec keys). */
#include "engine/lora/network.h"

#include <stdio.h>
#include <stdlib.h>

int network_save(const lora_network *n, const char *path, dtype_t save_dtype,
                 const lora_metadata *md, error_info *err)
{
    size_t count = n->n_mods * 3;
    lora_tensor *t = calloc(count, sizeof *t);
    char (*names)[160] = calloc(count, sizeof *names);
    float *alphas = calloc(n->n_mods ? n->n_mods : 1, sizeof *alphas);
    if (!t || !names || !alphas) {
        free(t);
        free(names);
        free(alphas);
        return error_set(err, path, 0, 0, NULL, "out of memory while saving");
    }
    for (size_t i = 0; i < n->n_mods; i++) {
        const network_module *m = &n->mods[i];
        lora_tensor *d = &t[3 * i], *u = &t[3 * i + 1], *a = &t[3 * i + 2];
        snprintf(names[3 * i], sizeof names[0], "%s.lora_down.weight", m->name);
        snprintf(names[3 * i + 1], sizeof names[0], "%s.lora_up.weight", m->name);
        snprintf(names[3 * i + 2], sizeof names[0], "%s.alpha", m->name);
        d->name = names[3 * i];
        u->name = names[3 * i + 1];
        a->name = names[3 * i + 2];
        d->data = n->params + m->down_off;
        u->data = n->params + m->up_off;
        alphas[i] = m->alpha;
        a->data = &alphas[i];
        a->ndim = 0;
        if (m->conv) {
            d->ndim = u->ndim = 4;
            d->shape[0] = m->rank, d->shape[1] = m->in, d->shape[2] = d->shape[3] = m->kernel;
            u->shape[0] = m->out, u->shape[1] = m->rank, u->shape[2] = u->shape[3] = 1;
        } else {
            d->ndim = u->ndim = 2;
            d->shape[0] = m->rank, d->shape[1] = m->in;
            u->shape[0] = m->out, u->shape[1] = m->rank;
        }
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
