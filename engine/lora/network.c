/* network.c — building a LoRA network over the models' injection points: which modules
 * (sd-scripts' target rules), their ranks and alphas, the initialisation, continuing from a
 * file, and sd-scripts' max-norm regularisation. See network.h. */
#include "engine/lora/network.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/safetensors.h"
#include "kernels/rng.h"

enum { NETWORK_RNG_INIT = 3 };   /* rng purpose tag: distinct from dropout (1) and noise (2) */

void network_options_init(network_options *o)
{
    memset(o, 0, sizeof *o);
    o->dim = 4;
    o->alpha = 1.0f;
    o->conv_alpha = 1.0f;
    o->multiplier = 1.0f;
    o->train_unet = o->train_te = 1;
}

static int add_module(lora_network *n, size_t *cap, const char *name, int te, int conv, int in,
                      int out, int kernel, int rank, float alpha, error_info *err)
{
    if (n->n_mods == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        network_module *m = realloc(n->mods, nc * sizeof *m);
        if (!m)
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the LoRA modules");
        n->mods = m;
        *cap = nc;
    }
    network_module *m = &n->mods[n->n_mods++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->te = te;
    m->conv = conv;
    m->in = in;
    m->out = out;
    m->kernel = kernel;
    m->rank = rank;
    m->alpha = alpha == 0.0f ? (float)rank : alpha;   /* sd-scripts: alpha 0/None → dim */
    return 0;
}

/* Rank and alpha of a file module, when continuing from a file with dim_from_weights. */
static int file_rank(const safetensors_file *f, const char *name, int *rank, float *alpha,
                     error_info *err)
{
    char key[192];
    snprintf(key, sizeof key, "%s.lora_down.weight", name);
    const safetensors_tensor *t = safetensors_find(f, key);
    if (!t)
        return 0;
    *rank = (int)t->shape[0];
    snprintf(key, sizeof key, "%s.alpha", name);
    t = safetensors_find(f, key);
    if (t && t->nelements == 1) {
        float a;
        if (safetensors_read_f32(t, &a, err) != 0)
            return -1;
        *alpha = a;
    } else
        *alpha = (float)*rank;
    return 1;
}

int network_create(lora_network *n, const network_options *opts, const unet_model *unet,
                   clip_model *const *te, int n_te, error_info *err)
{
    memset(n, 0, sizeof *n);
    n->multiplier = opts->multiplier;
    if (opts->dim < 1)
        return error_set(err, NULL, 0, 0, "network_dim", "must be at least 1 (got %d)", opts->dim);
    safetensors_file *wf = NULL;
    if (opts->dim_from_weights) {
        if (!opts->weights_path || !*opts->weights_path)
            return error_set(err, NULL, 0, 0, "dim_from_weights", "needs network_weights");
        if (safetensors_open(opts->weights_path, &wf, err) != 0)
            return -1;
    }
    size_t cap = 0;
    int rc = 0;
    if (unet && opts->train_unet) {
        for (size_t i = 0; i < unet->n_points && rc == 0; i++) {
            const unet_lora_point *p = &unet->points[i];
            int rank = opts->dim;
            float alpha = opts->alpha;
            /* sd-scripts: 3x3 convs take conv_dim/conv_alpha; Linear and 1x1 take network_dim */
            if (p->conv_block && !opts->conv_dim)
                continue;
            if (p->kind == UNET_LORA_CONV && p->kernel != 1) {
                if (!opts->conv_dim)
                    continue;
                rank = opts->conv_dim;
                alpha = opts->conv_alpha;
            }
            if (wf) {
                int r = file_rank(wf, p->name, &rank, &alpha, err);
                if (r < 0) {
                    rc = -1;
                    break;
                }
                if (r == 0)
                    continue;   /* dim_from_weights: only the modules the file has */
            }
            rc = add_module(n, &cap, p->name, 0, p->kind == UNET_LORA_CONV, p->in, p->out,
                            p->kernel, rank, alpha, err);
            if (rc == 0) {
                n->mods[n->n_mods - 1].slot = p->lora;
                n->mods[n->n_mods - 1].unet_point = i;
            }
        }
    }
    n->n_unet = n->n_mods;
    if (te && opts->train_te) {
        for (int e = 0; e < n_te && rc == 0; e++) {
            int count = clip_lora_targets(te[e], NULL, 0);
            clip_lora_target *t = calloc((size_t)count, sizeof *t);
            if (!t) {
                rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
                break;
            }
            clip_lora_targets(te[e], t, count);
            for (int i = 0; i < count && rc == 0; i++) {
                int rank = opts->dim;
                float alpha = opts->alpha;
                if (wf) {
                    int r = file_rank(wf, t[i].name, &rank, &alpha, err);
                    if (r < 0) {
                        rc = -1;
                        break;
                    }
                    if (r == 0)
                        continue;
                }
                rc = add_module(n, &cap, t[i].name, e + 1, 0, t[i].layer->in, t[i].layer->out, 1,
                                rank, alpha, err);
                if (rc == 0)
                    n->mods[n->n_mods - 1].slot = &t[i].layer->lora;
            }
            free(t);
        }
    }
    if (wf)
        safetensors_close(wf);
    if (rc == 0 && n->n_mods == 0)
        rc = error_set(err, NULL, 0, 0, NULL, "the LoRA network has no modules (nothing to train)");
    if (rc != 0) {
        network_free(n);
        return -1;
    }
    /* one flat buffer: UNet modules first, then TE modules */
    size_t off = 0;
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        m->down_off = off;
        off += (size_t)m->rank * m->in * m->kernel * m->kernel;
        m->up_off = off;
        off += (size_t)m->out * m->rank;
        if (i + 1 == n->n_unet)
            n->unet_params = off;
    }
    n->n_params = off;
    n->params = calloc(off, sizeof *n->params);
    n->grads = calloc(off, sizeof *n->grads);
    if (!n->params || !n->grads) {
        network_free(n);
        return error_set(err, NULL, 0, 0, NULL, "out of memory for %zu LoRA parameters", off);
    }
    /* sd-scripts: kaiming_uniform_(down, a=√5) = U(±1/√fan_in), up = 0 */
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        size_t nd = (size_t)m->rank * m->in * m->kernel * m->kernel;
        float bound = 1.0f / sqrtf((float)(m->in * m->kernel * m->kernel));
        for (size_t j = 0; j < nd; j++) {
            uint32_t r[4];
            k_rng_block(r, opts->seed, m->down_off + j, NETWORK_RNG_INIT);
            n->params[m->down_off + j] = (2.0f * k_rng_uniform(r[0]) - 1.0f) * bound;
        }
        m->adapter.rank = m->rank;
        m->adapter.scale = n->multiplier * m->alpha / (float)m->rank;
        m->adapter.down = n->params + m->down_off;
        m->adapter.up = n->params + m->up_off;
        m->adapter.ddown = n->grads + m->down_off;
        m->adapter.dup = n->grads + m->up_off;
        m->adapter.drop.network = opts->network_dropout;
        m->adapter.drop.rank = opts->rank_dropout;
        m->adapter.drop.rank_scale = opts->rank_dropout_scale;
    }
    n->module_dropout = opts->module_dropout;
    if (opts->weights_path && *opts->weights_path &&
        network_load_weights(n, opts->weights_path, err) != 0) {
        network_free(n);
        return -1;
    }
    return 0;
}

int network_plan_unet(lora_network *n, const unet_model *unet, int B, int H, int W, int T,
                      error_info *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n->n_unet; i++)
        total += unet_lora_hidden_floats(unet, n->mods[i].unet_point, n->mods[i].rank, B, H, W, T);
    if (total > n->hidden_floats) {
        float *h = realloc(n->hidden, total * sizeof *h);
        if (!h)
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the LoRA activations");
        n->hidden = h;
        n->hidden_floats = total;
    }
    size_t off = 0;
    for (size_t i = 0; i < n->n_unet; i++) {
        n->mods[i].adapter.hidden = n->hidden + off;
        off += unet_lora_hidden_floats(unet, n->mods[i].unet_point, n->mods[i].rank, B, H, W, T);
    }
    return 0;
}

void network_set_trainable(lora_network *n, int te_side, int train)
{
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        if ((m->te != 0) != (te_side != 0))
            continue;
        m->adapter.ddown = train ? n->grads + m->down_off : NULL;
        m->adapter.dup = train ? n->grads + m->up_off : NULL;
    }
}

void network_attach(lora_network *n)
{
    for (size_t i = 0; i < n->n_mods; i++)
        *n->mods[i].slot = &n->mods[i].adapter;
    n->attached = 1;
}

void network_detach(lora_network *n)
{
    if (!n->attached)
        return;
    for (size_t i = 0; i < n->n_mods; i++)
        if (*n->mods[i].slot == &n->mods[i].adapter)
            *n->mods[i].slot = NULL;
    n->attached = 0;
}

void network_free(lora_network *n)
{
    if (n->mods)
        network_detach(n);
    free(n->mods);
    free(n->params);
    free(n->grads);
    free(n->hidden);
    memset(n, 0, sizeof *n);
}

void network_zero_grad(lora_network *n)
{
    memset(n->grads, 0, n->n_params * sizeof *n->grads);
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
        const char *suffix[3] = {"lora_down.weight", "lora_up.weight", "alpha"};
        uint64_t want[3] = {(uint64_t)m->rank * m->in * m->kernel * m->kernel,
                            (uint64_t)m->out * m->rank, 1};
        float *dst[3] = {n->params + m->down_off, n->params + m->up_off, NULL};
        float alpha = m->alpha;
        dst[2] = &alpha;
        int present = 0;
        for (int k = 0; k < 3 && rc == 0; k++) {
            char key[192];
            snprintf(key, sizeof key, "%s.%s", m->name, suffix[k]);
            const safetensors_tensor *t = safetensors_find(f, key);
            if (!t)
                continue;
            present++;
            if (t->nelements != want[k])
                rc = error_set(err, path, 0, 0, NULL, "%s has %llu elements, the network needs %llu "
                               "(network_dim differs from the file's; dim_from_weights takes the file's)",
                               key, (unsigned long long)t->nelements, (unsigned long long)want[k]);
            else
                rc = safetensors_read_f32(t, dst[k], err);
        }
        if (present) {
            found++;
            m->alpha = alpha;
            m->adapter.scale = n->multiplier * m->alpha / (float)m->rank;
        }
    }
    if (rc == 0 && found == 0)
        rc = error_set(err, path, 0, 0, "network_weights",
                       "none of the network's %zu modules is in this file", n->n_mods);
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

int network_apply_max_norm(lora_network *n, float max_norm, double *mean_norm, double *max_out)
{
    int scaled = 0;
    double sum = 0.0, mx = 0.0;
    for (size_t i = 0; i < n->n_mods; i++) {
        network_module *m = &n->mods[i];
        float *down = n->params + m->down_off, *up = n->params + m->up_off;
        size_t cols = (size_t)m->in * m->kernel * m->kernel;
        double scale = (double)m->alpha / m->rank;
        double norm = sqrt(product_norm2(up, down, m->out, m->rank, cols)) * scale;
        /* sd-scripts clamps the norm below at max_norm / 2 before the ratio */
        double clamped = norm < max_norm / 2.0 ? max_norm / 2.0 : norm;
        double desired = clamped > max_norm ? max_norm : clamped;
        double ratio = desired / clamped;
        if (ratio != 1.0) {
            float s = (float)sqrt(ratio);
            scaled++;
            for (size_t j = 0; j < (size_t)m->rank * cols; j++)
                down[j] *= s;
            for (size_t j = 0; j < (size_t)m->out * m->rank; j++)
                up[j] *= s;
        }
        double after = norm * ratio;
        sum += after;
        if (after > mx)
            mx = after;
    }
    if (mean_norm)
        *mean_norm = n->n_mods ? sum / (double)n->n_mods : 0.0;
    if (max_out)
        *max_out = mx;
    return scaled;
}
