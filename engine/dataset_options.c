/* dataset_options.c — a subset's options (captions, augmentations, interpolation) resolved
 * through sd-scripts' levels: BlueprintGenerator.generate_params_by_fallbacks takes, for each
 * key, the first level whose value is not None among subset, dataset, general and the
 * command line, else the subset class's default (library/config_util.py). See dataset.h. */
#include "engine/dataset.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const toml_value *dataset_lookup(const char *key, const toml_value *const levels[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const toml_value *v = levels[i] && levels[i]->type == TOML_TABLE ? toml_table_get(levels[i], key)
                                                                         : NULL;
        if (v)
            return v;
    }
    return NULL;
}

static int wrong(const toml_value *v, const char *origin, const char *key, const char *what,
                 error_info *err)
{
    return error_set(err, origin, v ? v->line : 0, 0, key, "must be %s", what);
}

static int get_bool(const toml_value *const lv[], size_t n, const char *key, bool def, bool *out,
                    const char *origin, error_info *err)
{
    const toml_value *v = dataset_lookup(key, lv, n);
    if (!v) {
        *out = def;
        return 0;
    }
    if (v->type != TOML_BOOL)
        return wrong(v, origin, key, "true or false", err);
    *out = v->as.boolean;
    return 0;
}

static int get_int(const toml_value *const lv[], size_t n, const char *key, int def, int lo,
                   int *out, const char *origin, error_info *err)
{
    const toml_value *v = dataset_lookup(key, lv, n);
    if (!v) {
        *out = def;
        return 0;
    }
    if (v->type != TOML_INTEGER || v->as.integer < lo || v->as.integer > 1000000000)
        return wrong(v, origin, key, lo ? "a whole number of at least 1" : "a whole number >= 0", err);
    *out = (int)v->as.integer;
    return 0;
}

static int get_float(const toml_value *const lv[], size_t n, const char *key, double def,
                     double hi, double *out, const char *origin, error_info *err)
{
    const toml_value *v = dataset_lookup(key, lv, n);
    if (!v) {
        *out = def;
        return 0;
    }
    double x = v->type == TOML_FLOAT ? v->as.floating : v->type == TOML_INTEGER ? (double)v->as.integer : NAN;
    if (!(x >= 0 && x <= hi))
        return wrong(v, origin, key, hi <= 1 ? "a number from 0 to 1" : "a number >= 0", err);
    *out = x;
    return 0;
}

/* A string option: *out owned (NULL when no level sets it, sd-scripts' None). */
static int get_string(const toml_value *const lv[], size_t n, const char *key, char **out,
                      const char *origin, error_info *err)
{
    const toml_value *v = dataset_lookup(key, lv, n);
    *out = NULL;
    if (!v)
        return 0;
    if (v->type != TOML_STRING)
        return wrong(v, origin, key, "a string", err);
    *out = strdup(v->as.string.data);
    return *out ? 0 : error_set(err, origin, v->line, 0, key, "out of memory");
}

int dataset_parse_face_crop(const toml_value *v, double *lo, double *hi)
{
    double a, b;
    if (v->type == TOML_STRING) {
        if (!v->as.string.data[0]) {   /* the command line's "unset" */
            *lo = *hi = 0;
            return 0;
        }
        char *end;
        a = strtod(v->as.string.data, &end);
        if (*end != ',')
            return -1;
        const char *rest = end + 1;
        b = strtod(rest, &end);
        if (end == rest || *end)
            return -1;
    } else if (v->type == TOML_ARRAY && v->as.array.count == 2) {
        double x[2];
        for (int i = 0; i < 2; i++) {
            const toml_value *e = v->as.array.items[i];
            if (e->type == TOML_FLOAT)
                x[i] = e->as.floating;
            else if (e->type == TOML_INTEGER)
                x[i] = (double)e->as.integer;
            else
                return -1;
        }
        a = x[0];
        b = x[1];
    } else {
        return -1;
    }
    /* sd-scripts asserts lo <= hi; a 0 divides by zero in crop_target */
    if (!(a > 0 && a <= b && isfinite(b)))
        return -1;
    *lo = a;
    *hi = b;
    return 0;
}

int dataset_options_resolve(dataset_subset *sub, const toml_value *const lv[], size_t n,
                            const char *origin, error_info *err)
{
    dataset_options *o = &sub->opt;
    caption_settings *c = &o->captions;
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < sizeof sub->opt_strings / sizeof *sub->opt_strings; i++) {
        free(sub->opt_strings[i]);
        sub->opt_strings[i] = NULL;
    }
    sub->has_options = true;
    char **st = sub->opt_strings;
    if (get_bool(lv, n, "shuffle_caption", false, &c->shuffle_caption, origin, err) ||
        get_int(lv, n, "keep_tokens", 0, 0, &c->keep_tokens, origin, err) ||
        get_bool(lv, n, "enable_wildcard", false, &c->enable_wildcard, origin, err) ||
        get_float(lv, n, "caption_dropout_rate", 0, 1, &c->caption_dropout_rate, origin, err) ||
        get_int(lv, n, "caption_dropout_every_n_epochs", 0, 0, &c->caption_dropout_every_n_epochs,
                origin, err) ||
        get_float(lv, n, "caption_tag_dropout_rate", 0, 1, &c->caption_tag_dropout_rate, origin, err) ||
        get_float(lv, n, "token_warmup_step", 0, INFINITY, &c->token_warmup_step, origin, err) ||
        get_int(lv, n, "token_warmup_min", 1, 0, &c->token_warmup_min, origin, err) ||
        get_bool(lv, n, "flip_aug", false, &o->flip_aug, origin, err) ||
        get_bool(lv, n, "random_crop", false, &o->random_crop, origin, err) ||
        get_bool(lv, n, "color_aug", false, &o->color_aug, origin, err) ||
        get_bool(lv, n, "alpha_mask", false, &o->alpha_mask, origin, err) ||
        get_bool(lv, n, "cache_info", false, &o->cache_info, origin, err) ||
        get_string(lv, n, "caption_prefix", &st[0], origin, err) ||
        get_string(lv, n, "caption_suffix", &st[1], origin, err) ||
        get_string(lv, n, "keep_tokens_separator", &st[2], origin, err) ||
        get_string(lv, n, "caption_separator", &st[3], origin, err) ||
        get_string(lv, n, "secondary_separator", &st[4], origin, err) ||
        get_string(lv, n, "resize_interpolation", &st[5], origin, err))
        return -1;
    c->caption_prefix = st[0];
    c->caption_suffix = st[1];
    c->keep_tokens_separator = st[2] ? st[2] : "";
    c->caption_separator = st[3] && st[3][0] ? st[3] : NULL;
    c->secondary_separator = st[4];
    if (resize_interp_parse(st[5], &o->interp, err) != 0) {
        const toml_value *v = dataset_lookup("resize_interpolation", lv, n);
        return error_set(err, origin, v ? v->line : 0, 0, "resize_interpolation", "%s", err->message);
    }
    const toml_value *fc = dataset_lookup("face_crop_aug_range", lv, n);
    if (fc && dataset_parse_face_crop(fc, &o->face_crop_lo, &o->face_crop_hi) != 0)
        return wrong(fc, origin, "face_crop_aug_range", "[lo, hi] (or \"lo,hi\") with 0 < lo <= hi", err);

    /* DreamBooth keys (a fine-tuning subset ignores them) */
    char *tokens = NULL, *ext = NULL;
    if (get_string(lv, n, "class_tokens", &tokens, origin, err) ||
        get_string(lv, n, "caption_extension", &ext, origin, err)) {
        free(tokens);
        return -1;
    }
    if (tokens) {
        free(sub->class_tokens);
        sub->class_tokens = tokens;
    }
    if (!sub->class_tokens)
        sub->class_tokens = strdup("");
    if (!ext && !sub->caption_extension)
        ext = strdup(".caption");   /* DreamBoothSubsetParams' default */
    if (ext) {
        free(sub->caption_extension);
        sub->caption_extension = ext;
    }
    if (sub->caption_extension[0] && sub->caption_extension[0] != '.') {
        size_t len = strlen(sub->caption_extension) + 2;
        char *dotted = malloc(len);
        if (!dotted)
            return error_set(err, origin, 0, 0, "caption_extension", "out of memory");
        snprintf(dotted, len, ".%s", sub->caption_extension);
        free(sub->caption_extension);
        sub->caption_extension = dotted;
    }
    return 0;
}

static void add(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *out, size_t size, const char *fmt, ...)
{
    size_t len = strlen(out);
    if (len + 2 >= size)
        return;
    if (len)
        len += (size_t)snprintf(out + len, size - len, ", ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + len, size - len, fmt, ap);
    va_end(ap);
}

void dataset_options_describe(const dataset_subset *sub, char *out, size_t size)
{
    out[0] = '\0';
    if (!sub->has_options)
        return;
    const dataset_options *o = &sub->opt;
    const caption_settings *c = &o->captions;
    if (o->flip_aug)
        add(out, size, "flip_aug");
    if (o->color_aug)
        add(out, size, "color_aug");
    if (o->random_crop)
        add(out, size, "random_crop");
    if (o->face_crop_hi > 0)
        add(out, size, "face_crop_aug_range=%g,%g", o->face_crop_lo, o->face_crop_hi);
    if (o->alpha_mask)
        add(out, size, "alpha_mask");
    if (sub->conditioning_data_dir)
        add(out, size, "conditioning_data_dir=\"%s\"", sub->conditioning_data_dir);
    if (c->shuffle_caption)
        add(out, size, "shuffle_caption");
    if (c->keep_tokens)
        add(out, size, "keep_tokens=%d", c->keep_tokens);
    if (c->keep_tokens_separator && c->keep_tokens_separator[0])
        add(out, size, "keep_tokens_separator=\"%s\"", c->keep_tokens_separator);
    if (c->caption_separator && strcmp(c->caption_separator, ","))
        add(out, size, "caption_separator=\"%s\"", c->caption_separator);
    if (c->secondary_separator && c->secondary_separator[0])
        add(out, size, "secondary_separator=\"%s\"", c->secondary_separator);
    if (c->enable_wildcard)
        add(out, size, "enable_wildcard");
    if (c->caption_prefix && c->caption_prefix[0])
        add(out, size, "caption_prefix=\"%s\"", c->caption_prefix);
    if (c->caption_suffix && c->caption_suffix[0])
        add(out, size, "caption_suffix=\"%s\"", c->caption_suffix);
    if (c->caption_dropout_rate > 0)
        add(out, size, "caption_dropout_rate=%g", c->caption_dropout_rate);
    if (c->caption_dropout_every_n_epochs)
        add(out, size, "caption_dropout_every_n_epochs=%d", c->caption_dropout_every_n_epochs);
    if (c->caption_tag_dropout_rate > 0)
        add(out, size, "caption_tag_dropout_rate=%g", c->caption_tag_dropout_rate);
    if (c->token_warmup_step > 0)
        add(out, size, "token_warmup_step=%g, token_warmup_min=%d", c->token_warmup_step,
            c->token_warmup_min);
    if (o->interp != RESIZE_AUTO && sub->opt_strings[5])
        add(out, size, "resize_interpolation=%s", sub->opt_strings[5]);
    if (!sub->metadata_file) {
        add(out, size, "captions %s", sub->caption_extension);
        if (sub->class_tokens && sub->class_tokens[0])
            add(out, size, "class_tokens=\"%s\"", sub->class_tokens);
    }
}

int dataset_image_caption(const dataset_subset *sub, const dataset_image *img,
                          bool enable_wildcard, char **out, error_info *err)
{
    if (img->caption) {
        *out = strdup(img->caption);
        return *out ? 0 : error_set(err, img->path, 0, 0, NULL, "out of memory");
    }
    return caption_for_image(img->path, sub->caption_extension, enable_wildcard, sub->class_tokens,
                             out, err);
}
