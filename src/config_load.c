/* config_load.c — reading configuration files into a config: loratty presets, sd-scripts
 * run TOML and dataset TOML, kohya_ss GUI JSON (with the GUI's own legacy-key migration)
 * and the GUI's config.toml defaults. Everything is turned into a TOML tree first, so one
 * path stores the values; files that are not training configs are refused by name. */
#include "config_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/dataset.h"
#include "network_types.h"

typedef enum file_kind {
    KIND_PRESET,          /* loratty preset: section tables, sd-scripts names, strict */
    KIND_RUN_TOML,        /* sd-scripts --config_file / kohya_ss config_lora-*.toml: flat */
    KIND_DATASET_TOML,    /* sd-scripts --dataset_config */
    KIND_GUI_JSON,        /* kohya_ss saved config */
    KIND_GUI_DEFAULTS,    /* kohya_ss config.toml (sectioned, GUI keys) */
} file_kind;

static const char *const gui_defaults_tables[] = {
    "settings", "server", "configuration", "accelerate_launch", "dataset_preparation",
    "huggingface", "wd14_caption", "sdxl", NULL,
};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static bool is_section_table(const char *name)
{
    if (strcmp(name, "loratty") == 0)
        return true;
    for (int s = 0; s < SECTION_COUNT; s++)
        if (s != SECTION_DATASET && strcmp(params_section_table((param_section)s), name) == 0)
            return true;
    return false;
}

static toml_value *json_to_toml(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        toml_value *t = toml_new_table();
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)j, key, item) {
            toml_value *v = json_to_toml(item);
            if (v)
                toml_table_set(t, key, v);
        }
        return t;
    }
    case JSON_ARRAY: {
        toml_value *a = toml_new_array();
        size_t i;
        json_t *item;
        json_array_foreach(j, i, item) {
            toml_value *v = json_to_toml(item);
            if (v)
                toml_array_append(a, v);
        }
        return a;
    }
    case JSON_STRING: return toml_new_string_len(json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return toml_new_integer(json_integer_value(j));
    case JSON_REAL: return toml_new_float(json_real_value(j));
    case JSON_TRUE: return toml_new_bool(true);
    case JSON_FALSE: return toml_new_bool(false);
    default: return NULL; /* null: the GUI's "unset" */
    }
}

static toml_value *read_json(const char *path, error_info *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_DECODE_ANY, &jerr);
    if (!root)
        return error_set(err, path, jerr.line, jerr.column, "", "not valid JSON: %s", jerr.text), NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        error_set(err, path, 0, 0, "", "a JSON training config is an object of key/value pairs; this file holds a %s",
                  json_is_array(root) ? "list" : "single value");
        return NULL;
    }
    toml_value *t = json_to_toml(root);
    json_decref(root);
    return t;
}

/* fine-tune metadata (meta_cap.json / meta_lat.json): image path → {caption, tags, train_resolution} */
static bool looks_like_finetune_metadata(const toml_value *root)
{
    if (root->as.table.count == 0)
        return false;
    for (size_t i = 0; i < root->as.table.count; i++) {
        const toml_value *v = root->as.table.values[i];
        if (v->type != TOML_TABLE)
            return false;
        if (!toml_table_get(v, "caption") && !toml_table_get(v, "tags") && !toml_table_get(v, "train_resolution"))
            return false;
    }
    return true;
}

static int classify(const toml_value *root, bool from_json, const char *path, file_kind *kind,
                    error_info *err)
{
    if (from_json) {
        if (looks_like_finetune_metadata(root))
            return error_set(err, path, 0, 0, "",
                             "this is a fine-tuning metadata file (captions and resolutions per image, "
                             "as made by kohya_ss's Finetuning tab), not a training config");
        *kind = KIND_GUI_JSON;
        return 0;
    }
    if (toml_table_get(root, "prompts"))
        return error_set(err, path, 0, 0, "",
                         "this is a LECO prompt file ([[prompts]] with target/positive/action), not a training config");
    bool has_section = false, has_flat = false, has_gui_table = false, has_dataset = false;
    for (size_t i = 0; i < root->as.table.count; i++) {
        const char *key = root->as.table.keys[i];
        const toml_value *v = root->as.table.values[i];
        if (strcmp(key, "datasets") == 0 || strcmp(key, "general") == 0)
            has_dataset = true;
        else if (v->type == TOML_TABLE && in_list(gui_defaults_tables, key))
            has_gui_table = true;
        else if (v->type == TOML_TABLE && is_section_table(key))
            has_section = true;
        else
            has_flat = true;
    }
    if (has_gui_table)
        *kind = KIND_GUI_DEFAULTS;
    else if (has_section)
        *kind = KIND_PRESET;
    else if (has_flat)
        *kind = KIND_RUN_TOML;
    else if (has_dataset)
        *kind = KIND_DATASET_TOML;
    else
        *kind = KIND_PRESET; /* empty file: an empty preset */
    return 0;
}

static bool path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void warn_missing_path(const param *p, const toml_value *v, const char *path,
                              config_warnings *w)
{
    if ((p->type != PARAM_FILE && p->type != PARAM_DIR) || v->type != TOML_STRING
        || !v->as.string.data[0] || path_exists(v->as.string.data))
        return;
    config_warnings_add(w, "%s:%d: %s: path \"%s\" does not exist", path, v->line, p->name,
                        v->as.string.data);
}

/* Stores one key/value. Returns 0, or -1 with err for a bad value. */
static int store(config *cfg, const param *p, const toml_value *v, const char *path,
                 config_warnings *w, error_info *err)
{
    /* kohya_ss saves unset numbers as "" (None on the sd-scripts side): the default applies */
    if (v->type == TOML_STRING && v->as.string.len == 0
        && (p->type == PARAM_INT || p->type == PARAM_FLOAT || p->type == PARAM_BOOL))
        return 0;
    /* and some old files hold false for an unset number (min_timestep: false) */
    if (v->type == TOML_BOOL && (p->type == PARAM_INT || p->type == PARAM_FLOAT)) {
        if (!v->as.boolean)
            return 0;
        config_warnings_add(w, "%s: %s: true is not a number, ignored", path, p->name);
        return 0;
    }
    toml_value *coerced = config_coerce(p, v, path, err);
    if (!coerced)
        return -1;
    warn_missing_path(p, coerced, path, w);
    return config_store(cfg, p, coerced, path);
}

/* kohya_ss's update_my_data(): old keys and value forms, migrated before use. */
static void migrate_gui_keys(toml_value *root, const char *path, config_warnings *w)
{
    toml_value *v;
    if ((v = toml_table_get(root, "use_8bit_adam")) && v->type == TOML_BOOL) {
        if (v->as.boolean && !toml_table_get(root, "optimizer"))
            toml_table_set(root, "optimizer", toml_new_string("AdamW8bit"));
        toml_table_remove(root, "use_8bit_adam");
    }
    if ((v = toml_table_get(root, "LoCon")) && v->type == TOML_BOOL) {
        if (v->as.boolean)
            toml_table_set(root, "LoRA_type", toml_new_string("LyCORIS/LoCon"));
        toml_table_remove(root, "LoCon");
    }
    if ((v = toml_table_get(root, "xformers")) && v->type == TOML_BOOL)
        toml_table_set(root, "xformers", toml_new_string(v->as.boolean ? "xformers" : "none"));
    if ((v = toml_table_get(root, "use_wandb")) && v->type == TOML_BOOL) {
        if (v->as.boolean && !toml_table_get(root, "log_with"))
            toml_table_set(root, "log_with", toml_new_string("wandb"));
        toml_table_remove(root, "use_wandb");
    }
    if ((v = toml_table_get(root, "lora_network_weights"))) {
        if (!toml_table_get(root, "network_weights"))
            toml_table_set(root, "network_weights", toml_clone(v));
        toml_table_remove(root, "lora_network_weights");
    }
    (void)path;
    (void)w;
}

/* GUI keys (kohya_ss JSON or config.toml sections): by kohya key, then by sd-scripts name. */
static int load_gui_table(config *cfg, const toml_value *table, const char *path,
                          const char *table_label, config_warnings *w, error_info *err)
{
    for (size_t i = 0; i < table->as.table.count; i++) {
        const char *key = table->as.table.keys[i];
        const toml_value *v = table->as.table.values[i];
        const param *p = params_find_kohya(key);
        if (!p)
            p = params_find(key);
        if (!p) {
            config_warnings_add(w, "%s: %s%s%s: not a loratty parameter, ignored", path,
                                table_label ? table_label : "", table_label ? "." : "", key);
            continue;
        }
        if (store(cfg, p, v, path, w, err) != 0)
            return -1;
    }
    return 0;
}

/* sd-scripts' network_module + network_args become loratty's LoRA type and its options. */
static int load_network_args(config *cfg, const toml_value *module, const toml_value *args,
                             const char *path, config_warnings *w, error_info *err)
{
    const char *module_name = module && module->type == TOML_STRING ? module->as.string.data : "networks.lora";
    const char *algo = NULL;
    bool has_conv = false;
    if (args && args->type == TOML_ARRAY)
        for (size_t i = 0; i < args->as.array.count; i++) {
            const toml_value *a = args->as.array.items[i];
            if (a->type != TOML_STRING)
                continue;
            if (strncmp(a->as.string.data, "algo=", 5) == 0)
                algo = a->as.string.data + 5;
            if (strncmp(a->as.string.data, "conv_dim=", 9) == 0)
                has_conv = true;
        }
    const char *lora_type = network_type_from_module(module_name, algo, has_conv);
    const param *type_param = params_find("lora_type");
    if (!lora_type) {
        config_warnings_add(w, "%s: network_module \"%s\"%s%s is not a network loratty knows; kept the LoRA type",
                            path, module_name, algo ? " algo=" : "", algo ? algo : "");
    } else if (type_param) {
        toml_value *t = toml_new_string(lora_type);
        if (module)
            t->line = module->line;
        config_store(cfg, type_param, t, path);
    }
    if (!args || args->type != TOML_ARRAY)
        return 0;
    const param *extra = params_find("network_args");
    for (size_t i = 0; i < args->as.array.count; i++) {
        const toml_value *a = args->as.array.items[i];
        if (a->type != TOML_STRING)
            continue;
        const char *eq = strchr(a->as.string.data, '=');
        char key[128];
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - a->as.string.data) : 0, a->as.string.data);
        if (!eq || strcmp(key, "algo") == 0)
            continue;
        const param *p = network_arg_param(key);
        if (!p) {
            if (extra) { /* keep what we don't model as a raw network argument */
                toml_value *list = toml_clone(config_get(cfg, extra) ? config_get(cfg, extra) : toml_new_array());
                toml_array_append(list, toml_new_string(a->as.string.data));
                config_store(cfg, extra, list, path);
            }
            continue;
        }
        toml_value *text = toml_new_string(eq + 1);
        text->line = a->line;
        int rc = store(cfg, p, text, path, w, err);
        toml_free(text);
        if (rc)
            return -1;
    }
    return 0;
}

/* Flat sd-scripts keys (run TOML): argparse dests. */
static int load_flat(config *cfg, const toml_value *root, const char *path, config_warnings *w,
                     error_info *err)
{
    const toml_value *module = toml_table_get(root, "network_module");
    const toml_value *args = toml_table_get(root, "network_args");
    if (module || args)
        if (load_network_args(cfg, module, args, path, w, err) != 0)
            return -1;
    for (size_t i = 0; i < root->as.table.count; i++) {
        const char *key = root->as.table.keys[i];
        const toml_value *v = root->as.table.values[i];
        if (strcmp(key, "network_module") == 0 || strcmp(key, "network_args") == 0)
            continue;
        if (strcmp(key, "datasets") == 0 || strcmp(key, "general") == 0)
            continue;
        const param *p = params_find(key);
        if (!p || (p->flags & PARAM_LORATTY_ONLY) || p->section == SECTION_DATASET) {
            if (!p)
                p = export_param_for_sdscripts_key(key);
            if (!p) {
                config_warnings_add(w, "%s:%d: %s: not a loratty parameter, ignored", path, v->line, key);
                continue;
            }
        }
        if (import_sdscripts_value(cfg, p, key, v, path, err) == 0)
            continue;
        if (err && err->message[0])
            return -1;
        if (store(cfg, p, v, path, w, err) != 0)
            return -1;
    }
    return 0;
}

/* A loratty preset: strict, unknown keys are errors with a suggestion. */
static int load_preset(config *cfg, const toml_value *root, const char *path, error_info *err)
{
    for (size_t t = 0; t < root->as.table.count; t++) {
        const char *table_name = root->as.table.keys[t];
        const toml_value *table = root->as.table.values[t];
        if (strcmp(table_name, "datasets") == 0 || strcmp(table_name, "general") == 0)
            continue;
        if (table->type != TOML_TABLE || !is_section_table(table_name)) {
            const param *p = params_find(table_name);
            if (p)
                return error_set(err, path, table->line, 0, table_name,
                                 "keys belong in tables: write it as %s = ... under [%s]",
                                 p->name, params_table_name(p));
            return error_set(err, path, table->line, 0, table_name,
                             "unknown table; a preset has [accelerate], [model], [folders], [metadata], "
                             "[basic], [advanced], [samples], [loratty] and the datasets");
        }
        for (size_t i = 0; i < table->as.table.count; i++) {
            const char *key = table->as.table.keys[i];
            const toml_value *v = table->as.table.values[i];
            char label[200];
            snprintf(label, sizeof label, "%s.%s", table_name, key);
            const param *p = params_find(key);
            if (!p) {
                const char *near = params_nearest(key);
                return error_set(err, path, v->line, 0, label, "unknown parameter%s%s%s",
                                 near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
            }
            if (strcmp(params_table_name(p), table_name) != 0)
                return error_set(err, path, v->line, 0, label, "this parameter belongs in [%s]",
                                 params_table_name(p));
            toml_value *coerced = config_coerce(p, v, path, err);
            if (!coerced)
                return -1;
            config_store(cfg, p, coerced, path);
        }
    }
    return 0;
}

/* Dataset keys are checked like sd-scripts' strict schema, but reported as warnings on import. */
static int check_dataset_table(const toml_value *t, unsigned level_flag, const char *where,
                               const char *path, bool strict, config_warnings *w, error_info *err)
{
    for (size_t i = 0; i < t->as.table.count; i++) {
        const char *key = t->as.table.keys[i];
        const toml_value *v = t->as.table.values[i];
        if (level_flag == PARAM_DATASET_DATASET && strcmp(key, "subsets") == 0)
            continue;
        const param *p = params_find(key);
        if (!p && strcmp(key, "train_batch_size") == 0)
            p = params_find("batch_size");
        if (!p || !(p->flags & level_flag)) {
            if (strict)
                return error_set(err, path, v->line, 0, where, "\"%s\" is not allowed here%s", key,
                                 p ? " (wrong level)" : "");
            config_warnings_add(w, "%s:%d: %s.%s: not a dataset option loratty knows, ignored", path,
                                v->line, where, key);
            continue;
        }
        if (strcmp(p->name, "resolution") == 0) {
            /* the dataset config writes resolution as N or [W, H] */
            bool ok = v->type == TOML_INTEGER && v->as.integer > 0;
            if (v->type == TOML_ARRAY && v->as.array.count == 2)
                ok = v->as.array.items[0]->type == TOML_INTEGER && v->as.array.items[1]->type == TOML_INTEGER;
            if (!ok)
                return error_set(err, path, v->line, 0, where, "resolution must be N or [W, H] in a dataset config");
            continue;
        }
        if (strcmp(p->name, "face_crop_aug_range") == 0) {
            /* [lo, hi] in a dataset config (sd-scripts' two floats), "lo,hi" on the command line */
            double lo, hi;
            if (dataset_parse_face_crop(v, &lo, &hi) != 0)
                return error_set(err, path, v->line, 0, where,
                                 "face_crop_aug_range must be [lo, hi] with 0 < lo <= hi");
            continue;
        }
        toml_value *coerced = config_coerce(p, v, path, err);
        if (!coerced)
            return -1;
        toml_free(coerced);
    }
    return 0;
}

static int load_datasets(config *cfg, const toml_value *root, const char *path, bool strict,
                         config_warnings *w, error_info *err)
{
    const toml_value *general = toml_table_get(root, "general");
    const toml_value *datasets = toml_table_get(root, "datasets");
    if (general) {
        if (general->type != TOML_TABLE)
            return error_set(err, path, general->line, 0, "general", "must be a table");
        if (check_dataset_table(general, PARAM_DATASET_GENERAL, "general", path, strict, w, err))
            return -1;
    }
    if (datasets) {
        if (datasets->type != TOML_ARRAY)
            return error_set(err, path, datasets->line, 0, "datasets", "must be an array of tables ([[datasets]])");
        for (size_t i = 0; i < datasets->as.array.count; i++) {
            const toml_value *d = datasets->as.array.items[i];
            if (d->type != TOML_TABLE)
                return error_set(err, path, d->line, 0, "datasets", "must be an array of tables ([[datasets]])");
            if (check_dataset_table(d, PARAM_DATASET_DATASET, "datasets", path, strict, w, err))
                return -1;
            const toml_value *subsets = toml_table_get(d, "subsets");
            if (!subsets)
                continue;
            if (subsets->type != TOML_ARRAY)
                return error_set(err, path, subsets->line, 0, "datasets.subsets", "must be an array of tables");
            for (size_t s = 0; s < subsets->as.array.count; s++) {
                const toml_value *sub = subsets->as.array.items[s];
                if (sub->type != TOML_TABLE)
                    return error_set(err, path, sub->line, 0, "datasets.subsets", "must be an array of tables");
                if (check_dataset_table(sub, PARAM_DATASET_SUBSET, "datasets.subsets", path, strict, w, err))
                    return -1;
                const toml_value *dir = toml_table_get(sub, "image_dir");
                if (dir && dir->type == TOML_STRING && !path_exists(dir->as.string.data))
                    config_warnings_add(w, "%s:%d: datasets.subsets.image_dir: path \"%s\" does not exist",
                                        path, dir->line, dir->as.string.data);
            }
        }
    }
    if (general) {
        toml_free(cfg->general);
        cfg->general = toml_clone(general);
    }
    if (datasets) {
        toml_free(cfg->datasets);
        cfg->datasets = toml_clone(datasets);
    }
    if (general || datasets)
        cfg->dirty = true;
    return 0;
}

/* sd-scripts' store_true arguments that have no parameter of their own */
static bool store_true_alias(const char *key)
{
    static const char *const flags[] = {"use_8bit_adam", "use_lion_optimizer", "lowram"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strcmp(key, flags[i]))
            return true;
    return false;
}

/* kohya_ss appends additional_parameters to sd-scripts' command line after --config_file, so
 * they override the run TOML: the text without '"', split on white space, read as argparse
 * reads "--key value", "--key=value", a bare "--flag" (store_true) and the nargs="*" lists
 * (network_args, optimizer_args, lr_scheduler_args, text_encoder_lr ...), then loaded as the
 * flat keys of a run TOML (network_module / network_args become the network settings). */
int config_apply_additional_parameters(config *cfg, config_warnings *w, error_info *err)
{
    const char *origin = "additional_parameters";
    const char *text = config_string(cfg, "additional_parameters");
    if (!text[0])
        return 0;
    char *copy = strdup(text);
    toml_value *root = toml_new_table();
    if (!copy || !root) {
        free(copy);
        toml_free(root);
        return error_set(err, NULL, 0, 0, origin, "out of memory");
    }
    size_t n = 0;
    for (char *r = copy, *q = copy;; q++) {   /* drop every '"', as kohya_ss does */
        if (*q != '"')
            *r++ = *q;
        if (!*q)
            break;
    }
    char *words[512];
    for (char *t = strtok(copy, " \t\n"); t && n < 512; t = strtok(NULL, " \t\n"))
        words[n++] = t;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        if (strncmp(words[i], "--", 2) != 0 || !words[i][2]) {
            rc = error_set(err, NULL, 0, 0, origin, "\"%s\" is not an --option (sd-scripts would "
                           "stop with \"unrecognized arguments\")", words[i]);
            break;
        }
        char *key = words[i++] + 2, *inline_value = strchr(key, '=');
        if (inline_value)
            *inline_value++ = '\0';
        const param *p = params_find(key);
        bool list = (p && p->type == PARAM_STRING_LIST) || !strcmp(key, "text_encoder_lr") ||
                    !strcmp(key, "network_args");
        toml_value *v = NULL;
        if (inline_value) {
            v = toml_new_string(inline_value);
        } else if (list) {
            v = toml_new_array();
            for (; i < n && strncmp(words[i], "--", 2) != 0; i++) {
                char *end;
                double x = strtod(words[i], &end);
                toml_array_append(v, *end || end == words[i] ? toml_new_string(words[i]) : toml_new_float(x));
            }
        } else if (((p && p->type == PARAM_BOOL) || store_true_alias(key)) &&
                   (i == n || strncmp(words[i], "--", 2) == 0)) {
            v = toml_new_bool(true);   /* store_true */
        } else if (i < n) {
            v = toml_new_string(words[i++]);
        } else {
            rc = error_set(err, NULL, 0, 0, origin, "--%s needs a value", key);
            break;
        }
        if (list && v->type == TOML_STRING) {   /* --key=value of a list: one item */
            toml_value *one = toml_new_array();
            toml_array_append(one, v);
            v = one;
        }
        if (toml_table_set(root, key, v) != 0)
            toml_free(v);
    }
    free(copy);
    if (rc == 0)
        rc = load_flat(cfg, root, origin, w, err);
    toml_free(root);
    return rc;
}

int config_load(config *cfg, const char *path, config_warnings *warnings, error_info *err)
{
    if (err)
        err->message[0] = '\0';
    size_t len = strlen(path);
    bool is_json = len > 5 && strcasecmp(path + len - 5, ".json") == 0;
    toml_value *root = is_json ? read_json(path, err) : toml_parse_file(path, err);
    if (!root)
        return -1;
    file_kind kind = KIND_PRESET;
    int rc = classify(root, is_json, path, &kind, err);
    if (rc == 0) {
        switch (kind) {
        case KIND_PRESET:
            rc = load_preset(cfg, root, path, err);
            if (rc == 0)
                rc = load_datasets(cfg, root, path, true, warnings, err);
            break;
        case KIND_RUN_TOML:
            rc = load_flat(cfg, root, path, warnings, err);
            if (rc == 0)
                rc = load_datasets(cfg, root, path, false, warnings, err);
            break;
        case KIND_DATASET_TOML:
            rc = load_datasets(cfg, root, path, false, warnings, err);
            break;
        case KIND_GUI_JSON:
            migrate_gui_keys(root, path, warnings);
            rc = load_gui_table(cfg, root, path, NULL, warnings, err);
            break;
        case KIND_GUI_DEFAULTS:
            config_warnings_add(warnings, "%s: a kohya_ss GUI defaults file (config.toml): its values were taken as settings", path);
            for (size_t i = 0; rc == 0 && i < root->as.table.count; i++) {
                const toml_value *t = root->as.table.values[i];
                if (t->type == TOML_TABLE)
                    rc = load_gui_table(cfg, t, path, root->as.table.keys[i], warnings, err);
                else
                    config_warnings_add(warnings, "%s: %s: not a loratty parameter, ignored", path,
                                        root->as.table.keys[i]);
            }
            break;
        }
    }
    toml_free(root);
    return rc;
}
