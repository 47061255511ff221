/* checkpoint.c — opening a Stable Diffusion checkpoint into one weight_store per component
 * with diffusers / transformers names; see checkpoint.h.
 *
 * A single file is registered zero-copy (the store maps it) and every key is renamed, split
 * (OpenCLIP q/k/v rows), reshaped (a 1x1-conv weight seen as a Linear: the VAE attention),
 * transposed (SDXL's OpenCLIP text_projection) or dropped as ldm_keys.c says. */
#include "engine/models/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/dtype.h"

/* ---- applying a key mapping to a store ---- */

typedef ldm_op (*key_map)(const ldm_layout *layout, const char *key, ldm_mapping *m);

/* Registers the tensors of f whose names start with `strip` under `add` + the rest, then
 * rewrites each as `map` says. Tensors of other components are left to their own store. */
static int map_into(checkpoint *ck, ckpt_component comp, const char *path, const safetensors_file *f,
                    const char *strip, const char *add, key_map map, const ldm_layout *layout,
                    error_info *err)
{
    weight_store *ws = ck->store[comp];
    if (weights_add_file(ws, path, strip, add, err) < 0)
        return -1;
    size_t strip_len = strlen(strip);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        if (strncmp(t->name, strip, strip_len) != 0)
            continue;
        char key[384];
        snprintf(key, sizeof key, "%s%s", add, t->name + strip_len);
        ldm_mapping m;
        ldm_op op = map(layout, key, &m);
        if (op != LDM_UNKNOWN && op != LDM_IGNORE && m.component != comp)
            continue;   /* another component's key under a shared prefix */
        bool conv = t->ndim == 4 && t->shape[2] == 1 && t->shape[3] == 1;
        if (op == LDM_SQUEEZE && !conv)
            op = LDM_RENAME;    /* already a Linear weight */
        bool same = op == LDM_RENAME && strcmp(m.name[0], key) == 0;
        switch (op) {
        case LDM_RENAME:
            if (!same)
                rc = weights_add_alias(ws, m.name[0], key, err);
            break;
        case LDM_SPLIT_QKV:
            if (t->ndim < 1 || t->shape[0] % 3 != 0) {
                rc = error_set(err, path, 0, 0, t->name, "a fused q/k/v projection needs a row count "
                               "divisible by 3");
                break;
            }
            for (int q = 0; rc == 0 && q < 3; q++)
                rc = weights_add_rows(ws, m.name[q], key, q * (t->shape[0] / 3), t->shape[0] / 3, err);
            break;
        case LDM_SQUEEZE: {
            int64_t shape[2] = {t->shape[0], t->shape[1]};
            rc = weights_add_reshape(ws, m.name[0], key, 2, shape, err);
            break;
        }
        case LDM_TRANSPOSE:
            rc = weights_add_transpose(ws, m.name[0], key, err);
            break;
        case LDM_UNKNOWN:
            if (ck->unexplained++ == 0)
                snprintf(ck->first_unexplained, sizeof ck->first_unexplained, "%s", t->name);
            break;
        case LDM_IGNORE:
            break;
        }
        if (rc == 0 && !same)
            weights_remove(ws, key);
    }
    return rc;
}

/* Diffusers files: names are already right, except transformers-5 CLIP files without the
 * "text_model." level and VAE files from before diffusers renamed the attention layers. */
static ldm_op diffusers_te_key(const ldm_layout *layout, const char *key, ldm_mapping *m)
{
    (void)layout;
    memset(m, 0, sizeof *m);
    m->op = LDM_RENAME;
    if (strstr(key, "embeddings.position_ids")) {
        m->op = LDM_IGNORE;
        m->reason = "a constant index buffer";
        return LDM_IGNORE;
    }
    bool bare = strncmp(key, "text_model.", 11) != 0 && strncmp(key, "text_projection.", 16) != 0;
    snprintf(m->name[0], sizeof m->name[0], "%s%s", bare ? "text_model." : "", key);
    return LDM_RENAME;
}

static ldm_op diffusers_vae_key(const ldm_layout *layout, const char *key, ldm_mapping *m)
{
    (void)layout;
    memset(m, 0, sizeof *m);
    m->op = LDM_RENAME;
    m->component = CKPT_VAE;
    snprintf(m->name[0], sizeof m->name[0], "%s", key);
    const char *at = strstr(key, ".mid_block.attentions.0.");
    if (!at)
        return LDM_RENAME;
    static const char *const old[][2] = {
        {"query.", "to_q."}, {"key.", "to_k."}, {"value.", "to_v."}, {"proj_attn.", "to_out.0."},
        {"to_q.", "to_q."}, {"to_k.", "to_k."}, {"to_v.", "to_v."}, {"to_out.0.", "to_out.0."},
    };
    const char *rest = at + strlen(".mid_block.attentions.0.");
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        size_t n = strlen(old[i][0]);
        if (strncmp(rest, old[i][0], n) == 0) {
            snprintf(m->name[0], sizeof m->name[0], "%.*s%s%s", (int)(rest - key), key, old[i][1], rest + n);
            if (strcmp(rest + n, "weight") == 0)
                m->op = LDM_SQUEEZE;
            break;
        }
    }
    return m->op;
}

static ldm_op diffusers_unet_key(const ldm_layout *layout, const char *key, ldm_mapping *m)
{
    (void)layout;
    memset(m, 0, sizeof *m);
    m->op = LDM_RENAME;
    snprintf(m->name[0], sizeof m->name[0], "%s", key);
    return LDM_RENAME;
}

static ldm_op diffusers_map_te(const ldm_layout *l, const char *k, ldm_mapping *m, ckpt_component c)
{
    ldm_op op = diffusers_te_key(l, k, m);
    m->component = c;
    return op;
}
static ldm_op diffusers_te1_key(const ldm_layout *l, const char *k, ldm_mapping *m)
{
    return diffusers_map_te(l, k, m, CKPT_TE1);
}
static ldm_op diffusers_te2_key(const ldm_layout *l, const char *k, ldm_mapping *m)
{
    return diffusers_map_te(l, k, m, CKPT_TE2);
}

/* ---- pickles ---- */

static bool is_pickle(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && (strcmp(dot, ".ckpt") == 0 || strcmp(dot, ".pt") == 0 || strcmp(dot, ".pth") == 0 ||
                strcmp(dot, ".bin") == 0))
        return true;
    unsigned char head[4] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    /* torch.save writes a zip archive since torch 1.6. (A bare older pickle starts with 0x80,
     * which a safetensors header length can too; the safetensors reader refuses those.) */
    return n == 4 && memcmp(head, "PK\3\4", 4) == 0;
}

static int refuse_pickle(const char *path, error_info *err)
{
    return error_set(err, path, 0, 0, NULL,
                     "a PyTorch pickle (.ckpt/.pt/.bin): loratty reads only .safetensors, since loading a "
                     "pickle can run code. Convert it once, e.g. python -c \"import torch, safetensors.torch "
                     "as st; sd = torch.load('model.ckpt', map_location='cpu', weights_only=True); "
                     "sd = sd.get('state_dict', sd); st.save_file({k: v.contiguous() for k, v in sd.items() "
                     "if isinstance(v, torch.Tensor)}, 'model.safetensors')\" — or kohya_ss: Utilities › "
                     "Convert model");
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- single files ---- */

static void set_tokenizers(checkpoint *ck)
{
    ck->tokenizer[0] = ck->family == CKPT_SD2 ? CKPT_TOKENIZER_OPENCLIP : CKPT_TOKENIZER_CLIP;
    ck->tokenizer[1] = ck->family == CKPT_SDXL ? CKPT_TOKENIZER_OPENCLIP : CKPT_TOKENIZER_NONE;
}

static int new_stores(checkpoint *ck, bool te2, error_info *err)
{
    for (int c = 0; c < CKPT_COMPONENTS; c++) {
        if (c == CKPT_TE2 && !te2)
            continue;
        ck->store[c] = weights_new();
        if (!ck->store[c])
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    return 0;
}

static void layout_of(const safetensors_file *f, const char *add, ldm_layout *layout)
{
    size_t n = safetensors_count(f);
    char **names = calloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; names && i < n; i++) {
        const char *name = safetensors_tensor_at(f, i)->name;
        size_t len = strlen(add) + strlen(name) + 1;
        names[i] = malloc(len);
        if (names[i])
            snprintf(names[i], len, "%s%s", add, name);
        else
            names[i] = NULL;
    }
    size_t kept = 0;
    for (size_t i = 0; names && i < n; i++)
        if (names[i])
            names[kept++] = names[i];
    if (names)
        ldm_layout_infer(layout, (const char *const *)names, kept);
    else
        memset(layout, 0, sizeof *layout);
    for (size_t i = 0; names && i < kept; i++)
        free(names[i]);
    free(names);
}

static int open_vae_file(checkpoint *ck, const char *path, error_info *err)
{
    if (is_pickle(path))
        return refuse_pickle(path, err);
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    int rc;
    ldm_layout layout;
    bool prefixed = false, ldm = false, diffusers = false;
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const char *n = safetensors_tensor_at(f, i)->name;
        prefixed |= strncmp(n, "first_stage_model.", 18) == 0;
        ldm |= strncmp(n, "encoder.down.", 13) == 0 || strncmp(n, "decoder.up.", 11) == 0;
        diffusers |= strncmp(n, "encoder.down_blocks.", 20) == 0 || strncmp(n, "decoder.up_blocks.", 18) == 0;
    }
    if (prefixed || ldm) {
        /* sd-scripts' load_vae accepts LDM VAE files with or without the prefix. */
        const char *strip = prefixed ? "first_stage_model." : "";
        layout_of(f, prefixed ? "" : "first_stage_model.", &layout);
        rc = map_into(ck, CKPT_VAE, path, f, strip, "first_stage_model.", ldm_map_key, &layout, err);
    } else if (diffusers) {
        memset(&layout, 0, sizeof layout);
        rc = map_into(ck, CKPT_VAE, path, f, "", "", diffusers_vae_key, &layout, err);
    } else {
        rc = error_set(err, path, 0, 0, NULL, "not a VAE: no encoder.down / decoder.up keys in LDM or "
                       "diffusers layout");
    }
    safetensors_close(f);
    return rc;
}

static int open_single(checkpoint *ck, const char *path, bool own_vae, error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    ckpt_detection d;
    ckpt_detect_file(f, path, &d);
    int rc = 0;
    if (!d.loadable)
        rc = error_set(err, path, 0, 0, NULL, "%s", d.text);
    else if (!d.has_vae && !own_vae)
        rc = error_set(err, path, 0, 0, NULL, "%s", d.text);
    if (rc == 0) {
        ck->family = d.family;
        ck->v_prediction_hint = d.v_prediction_hint;
        snprintf(ck->description, sizeof ck->description, "%s", d.text);
        set_tokenizers(ck);
        rc = new_stores(ck, d.family == CKPT_SDXL, err);
    }
    ldm_layout layout;
    if (rc == 0)
        layout_of(f, "", &layout);
    if (rc == 0)
        rc = map_into(ck, CKPT_UNET, path, f, "model.diffusion_model.", "model.diffusion_model.",
                      ldm_map_key, &layout, err);
    if (rc == 0 && !own_vae)
        rc = map_into(ck, CKPT_VAE, path, f, "first_stage_model.", "first_stage_model.", ldm_map_key,
                      &layout, err);
    if (rc == 0 && d.family == CKPT_SDXL) {
        rc = map_into(ck, CKPT_TE1, path, f, "conditioner.embedders.0.", "conditioner.embedders.0.",
                      ldm_map_key, &layout, err);
        if (rc == 0)
            rc = map_into(ck, CKPT_TE2, path, f, "conditioner.embedders.1.", "conditioner.embedders.1.",
                          ldm_map_key, &layout, err);
    } else if (rc == 0) {
        rc = map_into(ck, CKPT_TE1, path, f, "cond_stage_model.", "cond_stage_model.", ldm_map_key,
                      &layout, err);
    }
    /* Keys outside every component prefix: explained (ignored) or counted. */
    for (size_t i = 0; rc == 0 && i < safetensors_count(f); i++) {
        const char *n = safetensors_tensor_at(f, i)->name;
        static const char *const owned[] = {"model.diffusion_model.", "first_stage_model.",
                                            "cond_stage_model.", "conditioner.embedders."};
        bool mine = false;
        for (size_t p = 0; p < 4; p++)
            mine |= strncmp(n, owned[p], strlen(owned[p])) == 0;
        ldm_mapping m;
        if (!mine && ldm_map_key(&layout, n, &m) == LDM_UNKNOWN && ck->unexplained++ == 0)
            snprintf(ck->first_unexplained, sizeof ck->first_unexplained, "%s", n);
    }
    safetensors_close(f);
    return rc;
}

/* ---- diffusers folders ---- */

/* The weights file of a component folder: plain, then the fp16 variant. "" when neither. */
static void component_file(const char *root, const char *dir, const char *base, char *out, size_t size)
{
    static const char *const suffixes[] = {".safetensors", ".fp16.safetensors"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(out, size, "%s/%s/%s%s", root, dir, base, suffixes[i]);
        if (is_file(out))
            return;
    }
    out[0] = '\0';
}

static json_t *load_json(const char *root, const char *rel)
{
    char path[CKPT_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    return json_load_file(path, 0, NULL);
}

/* Family of a diffusers folder from its unet/config.json (and model_index.json's class). */
static ckpt_family folder_family(const char *root, bool *v_hint, char *text, size_t size)
{
    json_t *index = load_json(root, "model_index.json");
    json_t *unet = load_json(root, "unet/config.json");
    json_t *sched = load_json(root, "scheduler/scheduler_config.json");
    const char *cls = json_string_value(json_object_get(index, "_class_name"));
    const char *pred = json_string_value(json_object_get(sched, "prediction_type"));
    json_int_t in_ch = json_integer_value(json_object_get(unet, "in_channels"));
    json_int_t ctx = json_integer_value(json_object_get(unet, "cross_attention_dim"));
    *v_hint = pred && strcmp(pred, "v_prediction") == 0;
    ckpt_family family = CKPT_UNKNOWN;
    if (cls && strstr(cls, "StableDiffusion3"))
        family = CKPT_SD3;
    else if (cls && strstr(cls, "Flux"))
        family = CKPT_FLUX;
    else if (!unet)
        family = CKPT_UNKNOWN;
    else if (in_ch == 9)
        family = CKPT_INPAINT;
    else if (in_ch == 8)
        family = CKPT_PIX2PIX;
    else if (ctx == 1280)
        family = CKPT_SDXL_REFINER;
    else if (ctx == 2048)
        family = CKPT_SDXL;
    else if (ctx == 1024)
        family = CKPT_SD2;
    else if (ctx == 768)
        family = CKPT_SD1;
    else if (cls && strcmp(cls, "StableDiffusionXLPipeline") == 0 && json_object_get(index, "text_encoder_2"))
        family = CKPT_SDXL;   /* a model of other widths (a small or test model): trust the pipeline */
    else if (cls && strcmp(cls, "StableDiffusionPipeline") == 0)
        family = unet && json_is_true(json_object_get(unet, "use_linear_projection")) ? CKPT_SD2 : CKPT_SD1;
    bool ok = family == CKPT_SD1 || family == CKPT_SD2 || family == CKPT_SDXL;
    if (family == CKPT_SD2)
        snprintf(text, size, "SD 2.x diffusers folder (%s)", *v_hint ? "v-prediction per its scheduler: set "
                 "v_parameterization" : "epsilon per its scheduler");
    else if (ok)
        snprintf(text, size, "%s diffusers folder", checkpoint_family_name(family));
    else
        snprintf(text, size, "a diffusers folder of %s (%s, in_channels %lld, cross_attention_dim %lld): "
                 "loratty trains SD 1.x, 2.x and SDXL base text-to-image models only",
                 family == CKPT_UNKNOWN ? "an unknown model" : checkpoint_family_name(family),
                 cls ? cls : "no model_index.json class", (long long)in_ch, (long long)ctx);
    json_decref(index);
    json_decref(unet);
    json_decref(sched);
    return family;
}

static int add_component(checkpoint *ck, ckpt_component comp, const char *root, const char *dir,
                         const char *base, key_map map, error_info *err)
{
    char path[CKPT_PATH_MAX + 128];
    component_file(root, dir, base, path, sizeof path);
    if (!path[0]) {
        char bin[CKPT_PATH_MAX + 128];
        snprintf(bin, sizeof bin, "%s/%s/%s.bin", root, dir, strcmp(base, "model") == 0 ? "pytorch_model" : base);
        if (is_file(bin))
            return refuse_pickle(bin, err);
        return error_set(err, root, 0, 0, NULL, "no %s/%s.safetensors (nor the .fp16 variant) in the "
                         "diffusers folder", dir, base);
    }
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    ldm_layout layout = {0};
    int rc = map_into(ck, comp, path, f, "", "", map, &layout, err);
    safetensors_close(f);
    return rc;
}

static int open_folder(checkpoint *ck, const char *root, bool own_vae, error_info *err)
{
    char text[320];
    bool v_hint;
    ckpt_family family = folder_family(root, &v_hint, text, sizeof text);
    if (family != CKPT_SD1 && family != CKPT_SD2 && family != CKPT_SDXL)
        return error_set(err, root, 0, 0, NULL, "%s", text);
    ck->family = family;
    ck->v_prediction_hint = v_hint;
    snprintf(ck->description, sizeof ck->description, "%s", text);
    set_tokenizers(ck);
    static const char *const tok[2] = {"tokenizer", "tokenizer_2"};
    for (int i = 0; i < 2; i++) {
        snprintf(ck->tokenizer_dir[i], sizeof ck->tokenizer_dir[i], "%s/%s", root, tok[i]);
        if (ck->tokenizer[i] == CKPT_TOKENIZER_NONE || !is_dir(ck->tokenizer_dir[i]))
            ck->tokenizer_dir[i][0] = '\0';
    }
    if (new_stores(ck, family == CKPT_SDXL, err) < 0)
        return -1;
    int rc = add_component(ck, CKPT_UNET, root, "unet", "diffusion_pytorch_model", diffusers_unet_key, err);
    if (rc == 0 && !own_vae)
        rc = add_component(ck, CKPT_VAE, root, "vae", "diffusion_pytorch_model", diffusers_vae_key, err);
    if (rc == 0)
        rc = add_component(ck, CKPT_TE1, root, "text_encoder", "model", diffusers_te1_key, err);
    if (rc == 0 && family == CKPT_SDXL)
        rc = add_component(ck, CKPT_TE2, root, "text_encoder_2", "model", diffusers_te2_key, err);
    return rc;
}

/* ---- public ---- */

int checkpoint_open(const char *path, const char *vae_path, checkpoint **out, error_info *err)
{
    *out = NULL;
    checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck)
        return error_set(err, path, 0, 0, NULL, "out of memory");
    int rc;
    if (is_dir(path)) {
        char index[CKPT_PATH_MAX + 32];
        snprintf(index, sizeof index, "%s/model_index.json", path);
        rc = is_file(index) ? open_folder(ck, path, vae_path != NULL, err)
                            : error_set(err, path, 0, 0, NULL, "a folder without model_index.json: not a "
                                        "diffusers model folder");
    } else if (is_pickle(path)) {
        rc = refuse_pickle(path, err);
    } else {
        rc = open_single(ck, path, vae_path != NULL, err);
    }
    if (rc == 0 && vae_path)
        rc = open_vae_file(ck, vae_path, err);
    if (rc < 0) {
        checkpoint_close(ck);
        return -1;
    }
    *out = ck;
    return 0;
}

void checkpoint_close(checkpoint *ck)
{
    if (!ck)
        return;
    for (int c = 0; c < CKPT_COMPONENTS; c++)
        weights_free(ck->store[c]);
    free(ck);
}

int checkpoint_describe(const char *path, char *buf, size_t size)
{
    error_info err = {0};
    if (is_dir(path)) {
        bool v_hint;
        ckpt_family family = folder_family(path, &v_hint, buf, size);
        return family == CKPT_SD1 || family == CKPT_SD2 || family == CKPT_SDXL ? 0 : -1;
    }
    if (is_pickle(path)) {
        refuse_pickle(path, &err);
        snprintf(buf, size, "%s", err.message);
        return -1;
    }
    safetensors_file *f;
    if (safetensors_open(path, &f, &err) < 0) {
        error_format(&err, buf, size);
        return -1;
    }
    ckpt_detection d;
    ckpt_detect_file(f, path, &d);
    safetensors_close(f);
    snprintf(buf, size, "%s", d.text);
    return d.loadable ? 0 : -1;
}
