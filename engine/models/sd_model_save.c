/* sd_model_save.c — a whole model (U-Net, text encoders, VAE) written as one single-file
 * checkpoint in the original LDM / SGM key layout, as sd-scripts' fine_tune.py and train_db.py
 * save with save_model_as = safetensors (model_util.save_stable_diffusion_checkpoint,
 * sdxl_model_util.save_stable_diffusion_checkpoint). See sd_model.h.
 *
 * Names come from ldm_unmap.c; each one is mapped back through the loader's ldm_map_key before
 * anything is written, so a file this writes always loads back into the same parameters. The
 * float data is written from the parameters themselves (float) or from one converted copy
 * (fp16, bf16, and the tensors LDM stores fused or transposed). */
#include "engine/models/sd_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/ldm_unmap.h"

typedef enum src_kind {
    SRC_F32,        /* src[0], numel floats */
    SRC_FUSE3,      /* src[0..2] one after another (OpenCLIP in_proj) */
    SRC_TRANSPOSE,  /* src[0] as [shape[1], shape[0]] (OpenCLIP text_projection) */
    SRC_ONES,       /* sd-scripts' stand-in projection of SD2 */
    SRC_RAW,        /* bytes already in their dtype (extras, position_ids) */
} src_kind;

typedef struct out_tensor {
    char name[192];
    src_kind kind;
    int ndim;
    int64_t shape[4];
    size_t numel;
    const float *src[3];
    dtype_t dtype;
    const void *data;
} out_tensor;

typedef struct save_ctx {
    const sd_model *m;
    ldm_unmap_layout ul;
    ldm_layout vl;         /* what the loader would infer from the written file */
    dtype_t dtype;
    out_tensor *t;
    size_t n, cap;
    int64_t *position_ids[2];
} save_ctx;

static bool has_name(const save_ctx *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return true;
    return false;
}

static out_tensor *push(save_ctx *s, const char *name, src_kind kind, int ndim, const int64_t *shape,
                        error_info *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        out_tensor *p = realloc(s->t, cap * sizeof *p);
        if (!p) {
            error_set(err, NULL, 0, 0, NULL, "out of memory");
            return NULL;
        }
        s->t = p;
        s->cap = cap;
    }
    out_tensor *o = &s->t[s->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->kind = kind;
    o->ndim = ndim;
    o->numel = 1;
    for (int d = 0; d < ndim; d++)
        o->numel *= (size_t)(o->shape[d] = shape[d]);
    o->dtype = s->dtype;
    return o;
}

/* The loader must read `ldm` back as `name` (op and component included). */
static int verify(const save_ctx *s, ckpt_component c, ldm_op op, const char *ldm, const char *name,
                  error_info *err)
{
    ldm_mapping back;
    ldm_op got = ldm_map_key(&s->vl, ldm, &back);
    bool ok = got == op && back.component == c && strcmp(back.name[0], name) == 0;
    if (!ok)
        return error_set(err, NULL, 0, 0, name, "saved as \"%s\", which loads as \"%s\": the LDM name "
                         "mapping is not its own inverse here", ldm, got == LDM_UNKNOWN ? "nothing" : back.name[0]);
    return 0;
}

/* A text encoder parameter by name (k_proj / v_proj beside a q_proj). */
static const float *clip_find(const clip_model *te, const char *name, const clip_param_info **info,
                              clip_param_info *buf)
{
    int count = clip_param_count(&te->cfg);
    for (int i = 0; i < count; i++) {
        clip_param_at(&te->cfg, i, buf);
        if (strcmp(buf->name, name) == 0) {
            *info = buf;
            return te->params + buf->offset;
        }
    }
    return NULL;
}

static int add_param(save_ctx *s, ckpt_component c, const char *name, int ndim, const int64_t *shape,
                     const float *data, const clip_model *te, error_info *err)
{
    char ldm[256];
    ldm_op op = ldm_unmap_key(&s->ul, c, name, ldm, sizeof ldm);
    if (op == LDM_IGNORE)
        return 0;   /* k_proj / v_proj: fused with q_proj */
    if (op == LDM_UNKNOWN)
        return error_set(err, NULL, 0, 0, name, "no name for this parameter in the single-file (LDM) layout "
                         "of %s", checkpoint_family_name(s->m->family));
    if (op != LDM_SPLIT_QKV && verify(s, c, op, ldm, name, err) < 0)
        return -1;
    out_tensor *o;
    switch (op) {
    case LDM_SQUEEZE: {
        const int64_t conv[4] = {shape[0], shape[1], 1, 1};
        o = push(s, ldm, SRC_F32, 4, conv, err);
        break;
    }
    case LDM_TRANSPOSE: {
        const int64_t tr[2] = {shape[1], shape[0]};
        o = push(s, ldm, SRC_TRANSPOSE, 2, tr, err);
        break;
    }
    case LDM_SPLIT_QKV: {
        char kv[2][160];
        const char *q = strstr(name, "q_proj");
        const float *part[2];
        for (int i = 0; i < 2; i++) {
            snprintf(kv[i], sizeof kv[i], "%.*s%s%s", (int)(q - name), name, i ? "v_proj" : "k_proj", q + 6);
            const clip_param_info *info;
            clip_param_info buf;
            part[i] = clip_find(te, kv[i], &info, &buf);
            if (!part[i] || info->ndim != ndim || info->shape[0] != shape[0])
                return error_set(err, NULL, 0, 0, name, "no %s of the same shape to fuse with", kv[i]);
        }
        ldm_mapping back;
        if (ldm_map_key(&s->vl, ldm, &back) != LDM_SPLIT_QKV || back.component != c ||
            strcmp(back.name[0], name) || strcmp(back.name[1], kv[0]) || strcmp(back.name[2], kv[1]))
            return error_set(err, NULL, 0, 0, name, "saved as \"%s\", which does not split back into "
                             "q, k and v", ldm);
        int64_t fused[2] = {3 * shape[0], ndim == 2 ? shape[1] : 1};
        o = push(s, ldm, SRC_FUSE3, ndim, fused, err);
        if (o) {
            o->src[1] = part[0];
            o->src[2] = part[1];
        }
        break;
    }
    default:
        o = push(s, ldm, SRC_F32, ndim, shape, err);
        break;
    }
    if (!o)
        return -1;
    o->src[0] = data;
    return 0;
}

static int add_unet(save_ctx *s, error_info *err)
{
    const unet_model *u = &s->m->unet;
    for (size_t i = 0; i < u->n_manifest; i++) {
        const unet_param_info *p = &u->manifest[i];
        if (add_param(s, CKPT_UNET, p->name, p->ndim, p->shape, u->params + p->offset, NULL, err) < 0)
            return -1;
    }
    return 0;
}

static int add_vae(save_ctx *s, error_info *err)
{
    vae_param_info *man;
    int count, rc = 0;
    if (vae_manifest(&s->m->vae.cfg, &man, &count, err) < 0)
        return -1;
    for (int i = 0; rc == 0 && i < count; i++)
        rc = add_param(s, CKPT_VAE, man[i].name, man[i].ndim, man[i].shape, s->m->vae.params + man[i].offset,
                       NULL, err);
    free(man);
    return rc;
}

/* CLIP-L's position_ids buffer (0 .. max_positions − 1, int64 [1, P]): the original files have it. */
static int add_position_ids(save_ctx *s, int which, const char *prefix, error_info *err)
{
    int P = s->m->te[which].cfg.max_positions;
    s->position_ids[which] = malloc((size_t)P * sizeof(int64_t));
    if (!s->position_ids[which])
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (int i = 0; i < P; i++)
        s->position_ids[which][i] = i;
    char name[192];
    snprintf(name, sizeof name, "%stext_model.embeddings.position_ids", prefix);
    const int64_t shape[2] = {1, P};
    out_tensor *o = push(s, name, SRC_RAW, 2, shape, err);
    if (!o)
        return -1;
    o->dtype = DTYPE_I64;
    o->data = s->position_ids[which];
    return 0;
}

static int add_te(save_ctx *s, int which, error_info *err)
{
    const clip_model *te = &s->m->te[which];
    ckpt_component c = which == 0 ? CKPT_TE1 : CKPT_TE2;
    int count = clip_param_count(&te->cfg);
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        clip_param_at(&te->cfg, i, &p);
        if (add_param(s, c, p.name, p.ndim, p.shape, te->params + p.offset, te, err) < 0)
            return -1;
    }
    if (s->m->family == CKPT_SD1 || (s->m->family == CKPT_SDXL && which == 0))
        return add_position_ids(s, which, s->m->family == CKPT_SD1 ? "cond_stage_model.transformer."
                                                                   : "conditioner.embedders.0.transformer.",
                                err);
    return 0;
}

/* SD2 runs 23 of OpenCLIP-H's 24 blocks and never its projection; a file without them would make
 * the loader skip a block it needs. Like sd-scripts (convert_text_encoder_state_dict_to_sd_v2
 * with make_dummy), the last block is written again as one more, and the projection as ones. */
static int add_sd2_standins(save_ctx *s, error_info *err)
{
    const clip_model *te = &s->m->te[0];
    int L = te->cfg.num_layers, C = te->cfg.hidden_size, count = clip_param_count(&te->cfg);
    char last[64], name[160];
    snprintf(last, sizeof last, "text_model.encoder.layers.%d.", L - 1);
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        clip_param_at(&te->cfg, i, &p);
        if (strncmp(p.name, last, strlen(last)) != 0)
            continue;
        snprintf(name, sizeof name, "text_model.encoder.layers.%d.%s", L, p.name + strlen(last));
        char ldm[256];
        ldm_op op = ldm_unmap_key(&s->ul, CKPT_TE1, name, ldm, sizeof ldm);
        if (op == LDM_IGNORE || has_name(s, ldm))
            continue;
        if (op == LDM_SPLIT_QKV) {
            const float *part[3];
            for (int q = 0; q < 3; q++) {
                char src[160];
                const char *at = strstr(p.name, "q_proj");
                snprintf(src, sizeof src, "%.*s%s%s", (int)(at - p.name), p.name, q == 0 ? "q_proj" : q == 1 ? "k_proj"
                         : "v_proj", at + 6);
                const clip_param_info *info;
                clip_param_info buf;
                part[q] = clip_find(te, src, &info, &buf);
            }
            int64_t fused[2] = {3 * p.shape[0], p.ndim == 2 ? p.shape[1] : 1};
            out_tensor *o = push(s, ldm, SRC_FUSE3, p.ndim, fused, err);
            if (!o)
                return -1;
            memcpy(o->src, part, sizeof part);
        } else {
            out_tensor *o = push(s, ldm, SRC_F32, p.ndim, p.shape, err);
            if (!o)
                return -1;
            o->src[0] = te->params + p.offset;
        }
    }
    if (!has_name(s, "cond_stage_model.model.text_projection")) {
        const int64_t shape[2] = {C, C};
        if (!push(s, "cond_stage_model.model.text_projection", SRC_ONES, 2, shape, err))
            return -1;
    }
    return 0;
}

/* Keys of the source file that hold no model weight, copied unchanged. */
static int add_extras(save_ctx *s, const safetensors_file *f, error_info *err)
{
    size_t n = safetensors_count(f);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t i = 0; i < n; i++)
        names[i] = safetensors_tensor_at(f, i)->name;
    ldm_layout layout;
    ldm_layout_infer(&layout, names, n);
    free(names);
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        ldm_mapping m;
        if (ldm_map_key(&layout, t->name, &m) != LDM_IGNORE || has_name(s, t->name))
            continue;
        if (t->ndim > 4)
            continue;   /* no such buffer in any SD checkpoint */
        out_tensor *o = push(s, t->name, SRC_RAW, t->ndim, t->shape, err);
        if (!o)
            return -1;
        o->dtype = t->dtype;
        o->data = t->data;
    }
    return 0;
}

/* Converts every float tensor that is not written straight from the parameters into one buffer. */
static int convert(save_ctx *s, unsigned char **buffer, error_info *err)
{
    size_t dsize = dtype_size(s->dtype), total = 0;
    for (size_t i = 0; i < s->n; i++) {
        out_tensor *o = &s->t[i];
        if (o->kind == SRC_RAW)
            continue;
        if (o->kind == SRC_F32 && s->dtype == DTYPE_F32)
            o->data = o->src[0];
        else
            total += o->numel * dsize;
    }
    *buffer = malloc(total ? total : 1);
    if (!*buffer)
        return error_set(err, NULL, 0, 0, NULL, "out of memory for the converted tensors (%zu bytes)", total);
    unsigned char *at = *buffer;
    for (size_t i = 0; i < s->n; i++) {
        out_tensor *o = &s->t[i];
        if (o->kind == SRC_RAW || o->data)
            continue;
        o->data = at;
        size_t part = o->numel / 3;
        switch (o->kind) {
        case SRC_F32:
            dtype_from_f32(s->dtype, o->src[0], at, o->numel);
            break;
        case SRC_FUSE3:
            for (int q = 0; q < 3; q++)
                dtype_from_f32(s->dtype, o->src[q], at + q * part * dsize, part);
            break;
        case SRC_TRANSPOSE: {
            size_t rows = (size_t)o->shape[0], cols = (size_t)o->shape[1];   /* out [rows, cols] = src^T */
            for (size_t r = 0; r < rows; r++)
                for (size_t k = 0; k < cols; k++)
                    dtype_from_f32(s->dtype, &o->src[0][k * rows + r], at + (r * cols + k) * dsize, 1);
            break;
        }
        case SRC_ONES: {
            const float one = 1.0f;
            for (size_t k = 0; k < o->numel; k++)
                dtype_from_f32(s->dtype, &one, at + k * dsize, 1);
            break;
        }
        case SRC_RAW:
            break;
        }
        at += o->numel * dsize;
    }
    return 0;
}

static int layouts(save_ctx *s, error_info *err)
{
    const sd_model *m = s->m;
    const unet_config *uc = &m->unet.config;
    if (m->family != CKPT_SD1 && m->family != CKPT_SD2 && m->family != CKPT_SDXL)
        return error_set(err, NULL, 0, 0, NULL, "%s: no single-file layout to save it in",
                         checkpoint_family_name(m->family));
    for (int i = 1; i < uc->levels; i++)
        if (uc->layers_per_block[i] != uc->layers_per_block[0])
            return error_set(err, NULL, 0, 0, "layers_per_block", "the U-Net has %d and %d resnets on two "
                             "levels: the LDM layout numbers blocks assuming the same count on every level",
                             uc->layers_per_block[0], uc->layers_per_block[i]);
    s->ul.family = m->family;
    s->ul.unet_layers_per_block = uc->layers_per_block[0];
    for (int i = 0; i < uc->levels; i++)
        s->ul.unet_up_attn[i] = uc->up_attn[i];
    s->ul.vae_levels = m->vae.cfg.n_blocks;
    s->vl.unet_layers_per_block = uc->layers_per_block[0];
    s->vl.vae_levels = m->vae.cfg.n_blocks;
    if (m->family == CKPT_SD2)
        s->vl.openclip_layers[0] = m->te[0].cfg.num_layers + 1;   /* with the stand-in block */
    if (m->family == CKPT_SDXL)
        s->vl.openclip_layers[1] = m->te[1].cfg.num_layers;
    return 0;
}

static bool has_meta(const sd_save_options *opt, const char *key)
{
    for (size_t i = 0; i < opt->n_metadata; i++)
        if (strcmp(opt->keys[i], key) == 0)
            return true;
    return false;
}

static int set_metadata(safetensors_writer *w, const sd_model *m, const sd_save_options *opt, error_info *err)
{
    for (size_t i = 0; i < opt->n_metadata; i++)
        if (safetensors_writer_set_metadata(w, opt->keys[i], opt->values[i], err) < 0)
            return -1;
    bool v = m->prediction == SD_PRED_V;
    const char *arch = m->family == CKPT_SDXL ? "stable-diffusion-xl-v1-base"
                       : m->family == CKPT_SD2 ? (v ? "stable-diffusion-v2-768-v" : "stable-diffusion-v2-512")
                                               : "stable-diffusion-v1";
    if (!has_meta(opt, "modelspec.architecture") &&
        safetensors_writer_set_metadata(w, "modelspec.architecture", arch, err) < 0)
        return -1;
    if (!has_meta(opt, "modelspec.prediction_type") &&
        safetensors_writer_set_metadata(w, "modelspec.prediction_type", v ? "v" : "epsilon", err) < 0)
        return -1;
    return 0;
}

int sd_model_save_ldm(const sd_model *m, const char *path, const sd_save_options *opt, error_info *err)
{
    if (opt->dtype != DTYPE_F32 && opt->dtype != DTYPE_F16 && opt->dtype != DTYPE_BF16)
        return error_set(err, path, 0, 0, NULL, "save precision %s: a model is saved as float, fp16 or bf16",
                         dtype_name(opt->dtype));
    save_ctx s = {.m = m, .dtype = opt->dtype};
    safetensors_file *extras = NULL;
    safetensors_writer *w = NULL;
    unsigned char *buffer = NULL;
    int rc = layouts(&s, err);
    if (rc == 0)
        rc = add_unet(&s, err);
    for (int i = 0; rc == 0 && i < m->n_te; i++)
        rc = add_te(&s, i, err);
    if (rc == 0)
        rc = add_vae(&s, err);
    if (rc == 0 && opt->extras_from) {
        rc = safetensors_open(opt->extras_from, &extras, err);
        if (rc == 0)
            rc = add_extras(&s, extras, err);
    }
    if (rc == 0 && m->family == CKPT_SD2)
        rc = add_sd2_standins(&s, err);
    if (rc == 0)
        rc = convert(&s, &buffer, err);
    if (rc == 0 && !(w = safetensors_writer_new()))
        rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t i = 0; rc == 0 && i < s.n; i++)
        rc = safetensors_writer_add(w, s.t[i].name, s.t[i].dtype, s.t[i].ndim, s.t[i].shape, s.t[i].data, err);
    if (rc == 0)
        rc = set_metadata(w, m, opt, err);
    if (rc == 0)
        rc = safetensors_write(path, w, err);
    safetensors_writer_free(w);
    free(buffer);
    safetensors_close(extras);
    free(s.position_ids[0]);
    free(s.position_ids[1]);
    free(s.t);
    return rc;
}
