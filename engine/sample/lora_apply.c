/* lora_apply.c — attaching LoRA files to a loaded model for sampling (see lora_apply.h). */
#include "engine/sample/lora_apply.h"

#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

static const char *const DOWN = ".lora_down.weight";

/* The layer a kohya module name means, or 0. */
static int find_layer(sd_model *m, const char *name, linear_layer **lin, conv_layer **conv, long *point)
{
    *lin = NULL;
    *conv = NULL;
    *point = -1;
    if (strncmp(name, "lora_unet_", 10) == 0) {
        const unet_lora_point *p = unet_find_lora_point(&m->unet, name);
        if (!p)
            return 0;
        *lin = p->linear;
        *conv = p->conv;
        *point = (long)(p - m->unet.points);
        return 1;
    }
    for (int i = 0; i < m->n_te; i++) {
        int n = clip_lora_targets(&m->te[i], NULL, 0);
        clip_lora_target *t = malloc((size_t)n * sizeof *t);
        if (!t)
            return 0;
        clip_lora_targets(&m->te[i], t, n);
        for (int k = 0; k < n && !*lin; k++)
            if (strcmp(t[k].name, name) == 0)
                *lin = t[k].layer;
        free(t);
        if (*lin)
            return 1;
    }
    return 0;
}

static lora_apply_entry *entry_for(lora_apply *la, linear_layer *lin, conv_layer *conv, long point)
{
    for (size_t i = 0; i < la->n; i++)
        if (la->e[i]->linear == lin && la->e[i]->conv == conv)
            return la->e[i];
    if (la->n == la->cap) {
        size_t cap = la->cap ? la->cap * 2 : 64;
        lora_apply_entry **list = realloc(la->e, cap * sizeof *list);
        if (!list)
            return NULL;
        la->e = list;
        la->cap = cap;
    }
    lora_apply_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    la->e[la->n++] = e;
    e->linear = lin;
    e->conv = conv;
    e->unet_point = point;
    e->ad.scale = 1.0f;   /* each file's scale is folded into its up rows */
    return e;
}

/* Appends rank r (down [r, in·k·k], up [out, r] times scale) to the entry's adapter. */
static int merge(lora_apply_entry *e, int r, size_t din, int out, const float *down, const float *up,
                 float scale)
{
    int R = e->ad.rank + r;
    float *nd = malloc((size_t)R * din * sizeof(float));
    float *nu = malloc((size_t)out * R * sizeof(float));
    if (!nd || !nu) {
        free(nd);
        free(nu);
        return -1;
    }
    size_t old = (size_t)e->ad.rank * din;
    if (old)
        memcpy(nd, e->ad.down, old * sizeof(float));
    memcpy(nd + old, down, (size_t)r * din * sizeof(float));
    for (int o = 0; o < out; o++) {
        for (int k = 0; k < e->ad.rank; k++)
            nu[(size_t)o * R + k] = e->ad.up[(size_t)o * e->ad.rank + k];
        for (int k = 0; k < r; k++)
            nu[(size_t)o * R + e->ad.rank + k] = up[(size_t)o * r + k] * scale;
    }
    free(e->ad.down);
    free(e->ad.up);
    e->ad.down = nd;
    e->ad.up = nu;
    e->ad.rank = R;
    return 0;
}

static void note_unmatched(lora_apply *la, const char *name)
{
    if (la->unmatched++ < 4) {
        size_t len = strlen(la->unmatched_names);
        snprintf(la->unmatched_names + len, sizeof la->unmatched_names - len, "%s%s", len ? ", " : "", name);
    }
}

static int add_module(lora_apply *la, sd_model *m, weight_store *ws, const char *key, float weight,
                      error_info *err)
{
    char name[256], up_key[300], alpha_key[300];
    size_t len = strlen(key) - strlen(DOWN);
    if (len >= sizeof name)
        return error_set(err, NULL, 0, 0, key, "name too long");
    memcpy(name, key, len);
    name[len] = '\0';
    snprintf(up_key, sizeof up_key, "%s.lora_up.weight", name);
    snprintf(alpha_key, sizeof alpha_key, "%s.alpha", name);
    linear_layer *lin;
    conv_layer *conv;
    long point;
    if (!find_layer(m, name, &lin, &conv, &point)) {
        note_unmatched(la, name);
        return 0;
    }
    int64_t ds[8], us[8];
    int dn = weights_shape(ws, key, ds), un = weights_shape(ws, up_key, us);
    int in = lin ? lin->in : conv->in, out = lin ? lin->out : conv->out, k = lin ? 1 : conv->kernel;
    if (dn < 2 || un < 2)
        return error_set(err, NULL, 0, 0, name, "LoRA module without %s",
                         un < 2 ? "lora_up.weight" : "lora_down.weight");
    int r = (int)ds[0];
    /* 2-d or 4-d tensors (a 1x1 conv's LoRA may be stored either way); weights_load_f32
     * checks the rest of the shape */
    int64_t dshape[4] = {r, in, k, k}, ushape[4] = {out, r, 1, 1};
    if (r < 1 || (dn != 2 && dn != 4) || (un != 2 && un != 4) || (dn == 2 && k != 1))
        return error_set(err, NULL, 0, 0, name, "LoRA shapes do not fit the layer (in %d, out %d, "
                         "kernel %d)", in, out, k);
    size_t din = (size_t)in * k * k;
    float *down = malloc((size_t)r * din * sizeof(float)), *up = malloc((size_t)out * r * sizeof(float));
    float alpha = (float)r;
    int rc = down && up ? 0 : error_set(err, NULL, 0, 0, NULL, "out of memory");
    if (rc == 0)
        rc = weights_load_f32(ws, key, down, dn, dshape, err);
    if (rc == 0)
        rc = weights_load_f32(ws, up_key, up, un, ushape, err);
    if (rc == 0 && weights_has(ws, alpha_key)) {
        rc = weights_load_f32(ws, alpha_key, &alpha, 0, NULL, err);
        if (rc == 0 && alpha == 0.0f)
            alpha = (float)r;   /* sd-scripts: alpha 0 means alpha = rank */
    }
    lora_apply_entry *e = rc == 0 ? entry_for(la, lin, conv, point) : NULL;
    if (rc == 0 && (!e || merge(e, r, din, out, down, up, weight * alpha / (float)r) < 0))
        rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
    if (rc == 0) {
        if (lin)
            lin->lora = &e->ad;
        else
            conv->lora = &e->ad;
    }
    free(down);
    free(up);
    return rc < 0 ? -1 : 1;
}

int lora_apply_add(lora_apply *la, sd_model *m, const char *path, float weight, error_info *err)
{
    weight_store *ws = weights_new();
    if (!ws)
        return error_set(err, path, 0, 0, NULL, "out of memory");
    if (weights_add_file(ws, path, NULL, NULL, err) < 0) {
        weights_free(ws);
        return -1;
    }
    int applied = 0, rc = 0;
    size_t dl = strlen(DOWN);
    for (size_t i = 0; rc >= 0 && i < weights_count(ws); i++) {
        const char *key = weights_name_at(ws, i);
        size_t kl = strlen(key);
        if (kl > dl && strcmp(key + kl - dl, DOWN) == 0) {
            rc = add_module(la, m, ws, key, weight, err);
            if (rc > 0)
                applied++;
        }
    }
    weights_free(ws);
    if (rc < 0) {
        if (!err->file[0])
            snprintf(err->file, sizeof err->file, "%s", path);
        return -1;
    }
    if (applied == 0 && la->unmatched == 0)
        return error_set(err, path, 0, 0, NULL, "no LoRA modules (*.lora_down.weight) in the file");
    sd_model_adapters_changed(m);
    return applied;
}

int lora_apply_plan(lora_apply *la, sd_model *m, int B, int h, int w, int T, error_info *err)
{
    for (size_t i = 0; i < la->n; i++) {
        lora_apply_entry *e = la->e[i];
        if (e->unet_point < 0)
            continue;   /* clip_plan places the text encoders' hidden buffers */
        size_t n = unet_lora_hidden_floats(&m->unet, (size_t)e->unet_point, e->ad.rank, B, h, w, T);
        float *hb = realloc(e->ad.hidden, (n ? n : 1) * sizeof(float));
        if (!hb)
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the LoRA activations");
        e->ad.hidden = hb;
    }
    return 0;
}

void lora_apply_free(lora_apply *la, sd_model *m)
{
    for (size_t i = 0; i < la->n; i++) {
        lora_apply_entry *e = la->e[i];
        if (e->linear)
            e->linear->lora = NULL;
        if (e->conv)
            e->conv->lora = NULL;
        free(e->ad.down);
        free(e->ad.up);
        if (e->unet_point >= 0)
            free(e->ad.hidden);
        free(e);
    }
    free(la->e);
    memset(la, 0, sizeof *la);
    if (m)
        sd_model_adapters_changed(m);
}

int lora_apply_hash(const char *path, char out[13], error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    const char *meta = safetensors_metadata_get(f, "sshs_model_hash");
    safetensors_close(f);
    if (meta && strlen(meta) >= 12) {
        memcpy(out, meta, 12);
        out[12] = '\0';
        return 0;
    }
    size_t len;
    char *bytes = fileio_read_all(path, &len, err);
    if (!bytes)
        return -1;
    uint64_t header = 0;
    for (int i = 0; len >= 8 && i < 8; i++)
        header |= (uint64_t)(unsigned char)bytes[i] << (8 * i);
    if (len < 8 || header > len - 8) {
        free(bytes);
        return error_set(err, path, 0, 0, NULL, "not a safetensors file");
    }
    uint8_t digest[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len - 8 - header, (const uint8_t *)bytes + 8 + header);
    sha256_digest(&ctx, sizeof digest, digest);
    free(bytes);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return 0;
}
