/* config_save.c — writing a config: the loratty preset (sections, table order, help as
 * comments), and the exports kohya_ss users know: the sd-scripts run TOML, the dataset TOML
 * and the `accelerate launch` command line ("Print training command"). */
#include "config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "network_types.h"

static const char preset_header[] =
    "# loratty preset. Tables follow the kohya_ss GUI's sections; keys are sd-scripts\n"
    "# argument names, so sd-scripts' --config_file reads this file too. loratty's own\n"
    "# settings are in [loratty]. Every parameter is described in loratty.toml(5).\n\n";

static char *comment_for(const param *p)
{
    char range[1200] = "";
    if (p->type == PARAM_CHOICE && p->choices) {
        char choices[1100];
        config_describe_choices(p, choices, sizeof choices);
        snprintf(range, sizeof range, "; one of %s%s", choices,
                 p->flags & PARAM_CHOICE_OPEN ? " or another name" : "");
    }
    size_t len = strlen(p->help) + strlen(range) + 64;
    char *c = malloc(len);
    snprintf(c, len, "%s%s", p->help, range);
    return c;
}

static toml_value *preset_tree(const config *cfg, bool all)
{
    toml_value *root = toml_new_table();
    static const char *const tables[] = {"accelerate", "model", "folders", "metadata", "basic",
                                         "advanced", "samples", "loratty", NULL};
    for (const char *const *t = tables; *t; t++) {
        toml_value *table = NULL;
        for (size_t i = 0; i < params_count; i++) {
            const param *p = &params_table[i];
            if (p->section == SECTION_DATASET || strcmp(params_table_name(p), *t) != 0)
                continue;
            if (!all && config_is_default(cfg, p))
                continue;
            const toml_value *v = config_get(cfg, p);
            toml_value *copy;
            if (v)
                copy = toml_clone(v);
            else {
                /* the default, written out in full presets */
                config tmp;
                config_init(&tmp);
                char *text = config_value_text(&tmp, p);
                error_info ignored;
                toml_value *s = toml_new_string(text);
                param relaxed = *p;
                relaxed.flags |= PARAM_CHOICE_OPEN;
                copy = config_coerce(&relaxed, s, "", &ignored);
                toml_free(s);
                free(text);
                config_free(&tmp);
                if (!copy)
                    continue;
            }
            char *comment = comment_for(p);
            toml_set_comment(copy, comment);
            free(comment);
            if (!table)
                table = toml_new_table();
            toml_table_set(table, p->name, copy);
        }
        if (table)
            toml_table_set(root, *t, table);
    }
    if (cfg->general)
        toml_table_set(root, "general", toml_clone(cfg->general));
    if (cfg->datasets)
        toml_table_set(root, "datasets", toml_clone(cfg->datasets));
    return root;
}

char *config_to_preset_toml(const config *cfg, bool all)
{
    toml_value *root = preset_tree(cfg, all);
    char *body = toml_write(root);
    toml_free(root);
    size_t len = strlen(preset_header) + strlen(body) + 1;
    char *out = malloc(len);
    snprintf(out, len, "%s%s", preset_header, body);
    free(body);
    return out;
}

int config_save(config *cfg, const char *path, error_info *err)
{
    char *text = config_to_preset_toml(cfg, false);
    int rc = fileio_write_atomic(path, text, strlen(text), err);
    free(text);
    if (rc == 0)
        cfg->dirty = false;
    return rc;
}

/* kohya_ss leaves out "", false and None, and sorts the keys. */
static bool worth_exporting(const toml_value *v)
{
    switch (v->type) {
    case TOML_BOOL: return v->as.boolean;
    case TOML_STRING: return v->as.string.len > 0;
    case TOML_ARRAY: return v->as.array.count > 0;
    default: return true;
    }
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A value of the config as an sd-scripts value (defaults included). */
static toml_value *effective_value(const config *cfg, const param *p)
{
    const toml_value *v = config_get(cfg, p);
    if (v)
        return toml_clone(v);
    char *text = config_value_text(cfg, p);
    toml_value *s = toml_new_string(text);
    free(text);
    param relaxed = *p;
    relaxed.flags |= PARAM_CHOICE_OPEN;
    error_info ignored;
    toml_value *out = config_coerce(&relaxed, s, "", &ignored);
    toml_free(s);
    return out;
}

char *config_export_sdscripts_toml(const config *cfg)
{
    toml_value *flat = toml_new_table();
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        if (p->section == SECTION_DATASET || (p->flags & PARAM_LORATTY_ONLY))
            continue;
        /* accelerate's options go on its command line; mixed_precision is read by both */
        if (p->section == SECTION_ACCELERATE && strcmp(p->name, "mixed_precision") != 0)
            continue;
        if (!params_applies(p, config_lookup_text, (void *)cfg))
            continue;
        /* an optional value left empty is argparse's None: not written */
        if ((p->flags & PARAM_OPTIONAL) && !p->default_value[0] && config_is_default(cfg, p))
            continue;
        toml_value *v = effective_value(cfg, p);
        /* numeric choices (max_token_length 75/150/225) are integers to sd-scripts */
        if (v && p->type == PARAM_CHOICE && v->type == TOML_STRING && v->as.string.len) {
            char *end;
            long long n = strtoll(v->as.string.data, &end, 10);
            if (*end == '\0') {
                toml_free(v);
                v = toml_new_integer(n);
            }
        }
        if (v && worth_exporting(v) && !(p->type == PARAM_STRING_LIST && strcmp(p->name, "network_args") == 0))
            toml_table_set(flat, p->name, v);
        else
            toml_free(v);
    }
    export_loratty_only(cfg, flat);
    if (cfg->datasets || cfg->general)
        toml_table_set(flat, "dataset_config", toml_new_string(config_dataset_export_path(cfg)));
    /* sorted keys, as kohya_ss writes them */
    size_t n = flat->as.table.count;
    char **keys = malloc((n ? n : 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++)
        keys[i] = flat->as.table.keys[i];
    qsort(keys, n, sizeof *keys, cmp_keys);
    toml_value *sorted = toml_new_table();
    for (size_t i = 0; i < n; i++)
        toml_table_set(sorted, keys[i], toml_clone(toml_table_get(flat, keys[i])));
    free(keys);
    toml_free(flat);
    char *text = toml_write(sorted);
    toml_free(sorted);
    return text;
}

char *config_export_dataset_toml(const config *cfg)
{
    if (!cfg->datasets && !cfg->general)
        return NULL;
    toml_value *root = toml_new_table();
    if (cfg->general)
        toml_table_set(root, "general", toml_clone(cfg->general));
    if (cfg->datasets)
        toml_table_set(root, "datasets", toml_clone(cfg->datasets));
    char *text = toml_write(root);
    toml_free(root);
    return text;
}

/* Single-quotes an argument for a POSIX shell when it needs it. */
static void append_arg(char **buf, size_t *len, size_t *cap, const char *arg)
{
    bool plain = arg[0] != '\0';
    for (const char *c = arg; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+@%", *c))
            plain = false;
    size_t need = strlen(arg) * 4 + 4;
    if (*len + need >= *cap) {
        *cap = (*len + need) * 2;
        *buf = realloc(*buf, *cap);
    }
    char *o = *buf + *len;
    if (*len)
        *o++ = ' ';
    if (plain)
        o += sprintf(o, "%s", arg);
    else {
        *o++ = '\'';
        for (const char *c = arg; *c; c++) {
            if (*c == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else
                *o++ = *c;
        }
        *o++ = '\'';
        *o = '\0';
    }
    *len = (size_t)(o - *buf);
}

/* Splits free text on spaces (kohya_ss splits additional_parameters the same way). */
static void append_words(char **buf, size_t *len, size_t *cap, const char *text)
{
    char *copy = strdup(text);
    for (char *w = strtok(copy, " \t\n"); w; w = strtok(NULL, " \t\n"))
        append_arg(buf, len, cap, w);
    free(copy);
}

char *config_accelerate_command(const config *cfg, const char *run_toml_path)
{
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    buf[0] = '\0';
    append_arg(&buf, &len, &cap, "accelerate");
    append_arg(&buf, &len, &cap, "launch");
    const char *dynamo = config_string(cfg, "dynamo_backend");
    if (dynamo[0] && strcmp(dynamo, "no") != 0) {
        append_arg(&buf, &len, &cap, "--dynamo_backend");
        append_arg(&buf, &len, &cap, dynamo);
        append_arg(&buf, &len, &cap, "--dynamo_mode");
        append_arg(&buf, &len, &cap, config_string(cfg, "dynamo_mode"));
        if (config_bool(cfg, "dynamo_use_fullgraph"))
            append_arg(&buf, &len, &cap, "--dynamo_use_fullgraph");
        if (config_bool(cfg, "dynamo_use_dynamic"))
            append_arg(&buf, &len, &cap, "--dynamo_use_dynamic");
    }
    const char *gpu_ids = config_string(cfg, "gpu_ids");
    if (gpu_ids[0]) {
        append_arg(&buf, &len, &cap, "--gpu_ids");
        append_arg(&buf, &len, &cap, gpu_ids);
    }
    long long port = config_int(cfg, "main_process_port");
    char number[64];
    if (port > 0) {
        append_arg(&buf, &len, &cap, "--main_process_port");
        snprintf(number, sizeof number, "%lld", port);
        append_arg(&buf, &len, &cap, number);
    }
    append_arg(&buf, &len, &cap, "--mixed_precision");
    append_arg(&buf, &len, &cap, config_string(cfg, "mixed_precision"));
    if (config_bool(cfg, "multi_gpu"))
        append_arg(&buf, &len, &cap, "--multi_gpu");
    static const char *const counts[] = {"num_processes", "num_machines", "num_cpu_threads_per_process", NULL};
    for (const char *const *c = counts; *c; c++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", *c);
        append_arg(&buf, &len, &cap, flag);
        snprintf(number, sizeof number, "%lld", config_int(cfg, *c));
        append_arg(&buf, &len, &cap, number);
    }
    append_words(&buf, &len, &cap, config_string(cfg, "extra_accelerate_launch_args"));
    /* training_mode finetune: sd-scripts' full-model scripts (DreamBooth-style folders train
     * with train_db.py, SDXL with sdxl_train.py); vae has no sd-scripts script (main refuses) */
    int whole = strcmp(config_string(cfg, "training_mode"), "finetune") == 0;
    const char *script = config_bool(cfg, "sdxl") ? (whole ? "sd-scripts/sdxl_train.py"
                                                           : "sd-scripts/sdxl_train_network.py")
                                                  : (whole ? "sd-scripts/train_db.py"
                                                           : "sd-scripts/train_network.py");
    append_arg(&buf, &len, &cap, script);
    append_arg(&buf, &len, &cap, "--config_file");
    append_arg(&buf, &len, &cap, run_toml_path);
    /* kohya_ss drops every '"' of additional_parameters before splitting them */
    char *extra = strdup(config_string(cfg, "additional_parameters"));
    if (extra) {
        char *r = extra;
        for (const char *q = extra; *q; q++)
            if (*q != '"')
                *r++ = *q;
        *r = '\0';
        append_words(&buf, &len, &cap, extra);
        free(extra);
    }
    return buf;
}
