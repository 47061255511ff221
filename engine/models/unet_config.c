/* unet_config.c — the U-Net config: read from a diffusers UNet2DConditionModel config.json
 * (interpreted the way diffusers' constructor does, quirks included) and the built-in configs
 * of the real SD1.5, SD2.1-768 and SDXL base models. Anything we cannot compute exactly is
 * refused with the key and its value, never silently approximated. */
#include "engine/models/unet.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define CFG_ERR(err, key, ...) error_set(err, NULL, 0, 0, key, __VA_ARGS__)

static void set_common(unet_config *c)
{
    memset(c, 0, sizeof *c);
    c->in_channels = 4;
    c->out_channels = 4;
    c->norm_num_groups = 32;
    c->norm_eps = 1e-5f;
    c->flip_sin_to_cos = 1;
    c->freq_shift = 0.0f;
    c->cross_attention_dim = 1280;
}

static void finish(unet_config *c)
{
    for (int i = 0; i < c->levels; i++)
        c->up_transformer_layers[i] = c->transformer_layers[c->levels - 1 - i];
    if (!c->time_embed_dim)
        c->time_embed_dim = c->block_out[0] * 4;
}

static void sd_levels(unet_config *c, const int *out, int levels)
{
    c->levels = levels;
    for (int i = 0; i < levels; i++) {
        c->block_out[i] = out[i];
        c->layers_per_block[i] = 2;
        c->transformer_layers[i] = 1;
    }
}

void unet_config_sd15(unet_config *c)
{
    static const int out[4] = {320, 640, 1280, 1280};
    set_common(c);
    sd_levels(c, out, 4);
    for (int i = 0; i < 4; i++) {
        c->down_attn[i] = i < 3;     /* 3x CrossAttnDownBlock2D + DownBlock2D */
        c->up_attn[i] = i > 0;       /* UpBlock2D + 3x CrossAttnUpBlock2D */
        c->heads[i] = 8;             /* attention_head_dim 8 = head count */
    }
    c->cross_attention_dim = 768;
    finish(c);
}

void unet_config_sd21_768(unet_config *c)
{
    static const int out[4] = {320, 640, 1280, 1280};
    static const int heads[4] = {5, 10, 20, 20};   /* attention_head_dim [5, 10, 20, 20] */
    set_common(c);
    sd_levels(c, out, 4);
    for (int i = 0; i < 4; i++) {
        c->down_attn[i] = i < 3;
        c->up_attn[i] = i > 0;
        c->heads[i] = heads[i];
    }
    c->use_linear_projection = 1;
    c->cross_attention_dim = 1024;   /* upcast_attention true: irrelevant in fp32 */
    finish(c);
}

void unet_config_sdxl_base(unet_config *c)
{
    static const int out[3] = {320, 640, 1280};
    static const int heads[3] = {5, 10, 20};
    static const int depth[3] = {1, 2, 10};
    set_common(c);
    sd_levels(c, out, 3);
    for (int i = 0; i < 3; i++) {
        c->down_attn[i] = i > 0;     /* DownBlock2D, 2x CrossAttnDownBlock2D */
        c->up_attn[i] = i < 2;       /* 2x CrossAttnUpBlock2D, UpBlock2D */
        c->heads[i] = heads[i];
        c->transformer_layers[i] = depth[i];
    }
    c->use_linear_projection = 1;
    c->cross_attention_dim = 2048;
    c->text_time = 1;
    c->addition_time_embed_dim = 256;
    c->projection_class_embeddings_input_dim = 2816;   /* 6 x 256 + 1280 pooled */
    c->ldm_lora_names = 1;
    finish(c);
}

int unet_config_text_embed_dim(const unet_config *c)
{
    return c->text_time ? c->projection_class_embeddings_input_dim - 6 * c->addition_time_embed_dim : 0;
}

/* ---- config.json ---- */

static int get_int(json_t *root, const char *key, int *dst, int required, error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required)
            return CFG_ERR(err, key, "missing");
        return 0;
    }
    if (!json_is_integer(v))
        return CFG_ERR(err, key, "expected an integer");
    *dst = (int)json_integer_value(v);
    return 0;
}

/* An int or a list of `n` ints (diffusers accepts either for per-block values). */
static int get_int_or_list(json_t *root, const char *key, int *dst, int n, error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 1;   /* absent: caller keeps its default */
    if (json_is_integer(v)) {
        for (int i = 0; i < n; i++)
            dst[i] = (int)json_integer_value(v);
        return 0;
    }
    if (!json_is_array(v) || (int)json_array_size(v) != n)
        return CFG_ERR(err, key, "expected an integer or a list of %d integers", n);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_integer(e))
            return CFG_ERR(err, key, "nested or non-integer lists are not supported");
        dst[i] = (int)json_integer_value(e);
    }
    return 0;
}

static int get_float(json_t *root, const char *key, float *dst, error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return CFG_ERR(err, key, "expected a number");
    *dst = (float)json_number_value(v);
    return 0;
}

static int get_bool(json_t *root, const char *key, int *dst, error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return CFG_ERR(err, key, "expected true or false");
    *dst = json_is_true(v);
    return 0;
}

/* Keys whose only supported value is the diffusers default. */
static int require_default(json_t *root, error_info *err)
{
    static const char *null_keys[] = {
        "num_attention_heads", "class_embed_type", "encoder_hid_dim", "encoder_hid_dim_type",
        "time_cond_proj_dim", "timestep_post_act", "cross_attention_norm", "num_class_embeds",
        "time_embedding_act_fn", "mid_block_only_cross_attention", "class_embeddings_concat",
    };
    for (size_t i = 0; i < sizeof null_keys / sizeof *null_keys; i++) {
        json_t *v = json_object_get(root, null_keys[i]);
        if (v && !json_is_null(v) && !json_is_false(v))
            return CFG_ERR(err, null_keys[i], "only null is supported");
    }
    static const struct { const char *key, *value; } strs[] = {
        {"act_fn", "silu"}, {"resnet_time_scale_shift", "default"},
        {"mid_block_type", "UNetMidBlock2DCrossAttn"}, {"time_embedding_type", "positional"},
        {"attention_type", "default"},
    };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        json_t *v = json_object_get(root, strs[i].key);
        if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), strs[i].value)))
            return CFG_ERR(err, strs[i].key, "only \"%s\" is supported", strs[i].value);
    }
    static const char *false_keys[] = {"dual_cross_attention", "center_input_sample",
                                       "resnet_skip_time_act"};
    for (size_t i = 0; i < sizeof false_keys / sizeof *false_keys; i++) {
        json_t *v = json_object_get(root, false_keys[i]);
        if (v && !json_is_null(v) && !json_is_false(v))
            return CFG_ERR(err, false_keys[i], "only false is supported");
    }
    json_t *oca = json_object_get(root, "only_cross_attention");
    if (oca && json_is_array(oca)) {
        size_t i;
        json_t *e;
        json_array_foreach(oca, i, e) if (!json_is_false(e))
            return CFG_ERR(err, "only_cross_attention", "only false is supported");
    } else if (oca && !json_is_null(oca) && !json_is_false(oca)) {
        return CFG_ERR(err, "only_cross_attention", "only false is supported");
    }
    static const struct { const char *key; double value; } nums[] = {
        {"mid_block_scale_factor", 1.0}, {"resnet_out_scale_factor", 1.0}, {"dropout", 0.0},
        {"conv_in_kernel", 3}, {"conv_out_kernel", 3}, {"downsample_padding", 1},
    };
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
        json_t *v = json_object_get(root, nums[i].key);
        if (v && !json_is_null(v) && (!json_is_number(v) || json_number_value(v) != nums[i].value))
            return CFG_ERR(err, nums[i].key, "only %g is supported", nums[i].value);
    }
    return 0;
}

static int block_types(json_t *root, const char *key, int *attn, int n, int up, error_info *err)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_array(v) || (int)json_array_size(v) != n)
        return CFG_ERR(err, key, "expected a list of %d block types (one per block_out_channels)", n);
    const char *plain = up ? "UpBlock2D" : "DownBlock2D";
    const char *cross = up ? "CrossAttnUpBlock2D" : "CrossAttnDownBlock2D";
    for (int i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, (size_t)i));
        if (s && !strcmp(s, plain))
            attn[i] = 0;
        else if (s && !strcmp(s, cross))
            attn[i] = 1;
        else
            return CFG_ERR(err, key, "block type \"%s\" is not supported (only %s and %s)",
                           s ? s : "(not a string)", plain, cross);
    }
    return 0;
}

static int config_from_root(unet_config *c, json_t *root, error_info *err)
{
    set_common(c);
    c->cross_attention_dim = 1280;
    if (require_default(root, err))
        return -1;
    json_t *boc = json_object_get(root, "block_out_channels");
    if (!json_is_array(boc) || json_array_size(boc) < 1 || json_array_size(boc) > UNET_MAX_LEVELS)
        return CFG_ERR(err, "block_out_channels", "expected a list of 1 to %d integers", UNET_MAX_LEVELS);
    int n = c->levels = (int)json_array_size(boc);
    if (get_int_or_list(root, "block_out_channels", c->block_out, n, err) < 0)
        return -1;
    if (get_int(root, "in_channels", &c->in_channels, 0, err) || get_int(root, "out_channels", &c->out_channels, 0, err))
        return -1;
    if (block_types(root, "down_block_types", c->down_attn, n, 0, err) ||
        block_types(root, "up_block_types", c->up_attn, n, 1, err))
        return -1;
    for (int i = 0; i < n; i++) {
        c->layers_per_block[i] = 2;
        c->heads[i] = 8;
        c->transformer_layers[i] = 1;
    }
    if (get_int_or_list(root, "layers_per_block", c->layers_per_block, n, err) < 0 ||
        get_int_or_list(root, "attention_head_dim", c->heads, n, err) < 0 ||
        get_int_or_list(root, "transformer_layers_per_block", c->transformer_layers, n, err) < 0)
        return -1;
    json_t *cad = json_object_get(root, "cross_attention_dim");
    if (cad && json_is_array(cad)) {
        int dims[UNET_MAX_LEVELS];
        if (get_int_or_list(root, "cross_attention_dim", dims, n, err) < 0)
            return -1;
        for (int i = 1; i < n; i++)
            if (dims[i] != dims[0])
                return CFG_ERR(err, "cross_attention_dim", "different dims per block are not supported");
        c->cross_attention_dim = dims[0];
    } else if (get_int(root, "cross_attention_dim", &c->cross_attention_dim, 0, err)) {
        return -1;
    }
    json_t *nng = json_object_get(root, "norm_num_groups");
    if (nng && json_is_null(nng))
        return CFG_ERR(err, "norm_num_groups", "null (no output norm) is not supported");
    if (get_int(root, "norm_num_groups", &c->norm_num_groups, 0, err) ||
        get_float(root, "norm_eps", &c->norm_eps, err) ||
        get_bool(root, "flip_sin_to_cos", &c->flip_sin_to_cos, err) ||
        get_float(root, "freq_shift", &c->freq_shift, err) ||
        get_bool(root, "use_linear_projection", &c->use_linear_projection, err) ||
        get_int(root, "time_embedding_dim", &c->time_embed_dim, 0, err))
        return -1;
    finish(c);
    json_t *rev = json_object_get(root, "reverse_transformer_layers_per_block");
    if (rev && !json_is_null(rev) &&
        get_int_or_list(root, "reverse_transformer_layers_per_block", c->up_transformer_layers, n, err) < 0)
        return -1;

    json_t *aet = json_object_get(root, "addition_embed_type");
    if (aet && !json_is_null(aet)) {
        if (!json_is_string(aet) || strcmp(json_string_value(aet), "text_time"))
            return CFG_ERR(err, "addition_embed_type", "only null and \"text_time\" are supported");
        c->text_time = 1;
        c->ldm_lora_names = 1;   /* sd-scripts trains SDXL with LDM module names */
        if (get_int(root, "addition_time_embed_dim", &c->addition_time_embed_dim, 1, err) ||
            get_int(root, "projection_class_embeddings_input_dim", &c->projection_class_embeddings_input_dim, 1, err))
            return -1;
        if (unet_config_text_embed_dim(c) <= 0)
            return CFG_ERR(err, "projection_class_embeddings_input_dim",
                           "%d leaves no room for the text embeds after 6 time ids of %d",
                           c->projection_class_embeddings_input_dim, c->addition_time_embed_dim);
    }

    /* sanity: everything the shapes depend on */
    for (int i = 0; i < n; i++) {
        char key[64];
        if (c->block_out[i] <= 0 || c->block_out[i] % c->norm_num_groups)
            return CFG_ERR(err, "block_out_channels", "%d is not a positive multiple of norm_num_groups %d",
                           c->block_out[i], c->norm_num_groups);
        if (c->layers_per_block[i] < 1 || c->layers_per_block[i] > UNET_MAX_LAYERS)
            return CFG_ERR(err, "layers_per_block", "%d is outside 1..%d", c->layers_per_block[i], UNET_MAX_LAYERS);
        if (c->heads[i] <= 0 || c->block_out[i] % c->heads[i]) {
            snprintf(key, sizeof key, "attention_head_dim");
            return CFG_ERR(err, key, "head count %d does not divide %d channels", c->heads[i], c->block_out[i]);
        }
        if (c->transformer_layers[i] < 1 || c->up_transformer_layers[i] < 1)
            return CFG_ERR(err, "transformer_layers_per_block", "must be at least 1");
    }
    if (c->in_channels <= 0 || c->out_channels <= 0 || c->cross_attention_dim <= 0 || c->time_embed_dim <= 0)
        return CFG_ERR(err, "in_channels", "channel counts must be positive");
    if (c->block_out[0] % 2)
        return CFG_ERR(err, "block_out_channels", "the timestep embedding needs an even width");
    return 0;
}

int unet_config_from_json(unet_config *c, const char *json_text, error_info *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json_text, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return error_set(err, NULL, root ? 0 : jerr.line, root ? 0 : jerr.column, "",
                         "UNet config: %s", root ? "not a JSON object" : jerr.text);
    }
    int rc = config_from_root(c, root, err);
    json_decref(root);
    return rc;
}

int unet_config_load(unet_config *c, const char *path, error_info *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return error_set(err, path, root ? 0 : jerr.line, root ? 0 : jerr.column, "", "%s",
                         root ? "not a JSON object" : jerr.text);
    }
    int rc = config_from_root(c, root, err);
    json_decref(root);
    if (rc && err && !err->file[0])
        snprintf(err->file, sizeof err->file, "%s", path);
    return rc;
}
