/* config_sdscripts.c — the GUI-only parameters ([loratty] table) and what kohya_ss turns
 * them into on the sd-scripts command line, both ways: export (preset → run TOML) and import
 * (run TOML → preset). */
#include "config_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "network_types.h"

const char *config_dataset_export_path(const config *cfg)
{
    static char path[1100];
    const char *out_dir = config_string(cfg, "output_dir");
    snprintf(path, sizeof path, "%s%sdataset_config.toml", out_dir, out_dir[0] ? "/" : "");
    return path;
}

const char *config_sample_prompts_path(const config *cfg)
{
    static char path[1100];
    const char *out_dir = config_string(cfg, "output_dir");
    snprintf(path, sizeof path, "%s%ssample/prompt.txt", out_dir, out_dir[0] ? "/" : "");
    return path;
}

void export_loratty_only(const config *cfg, toml_value *flat)
{
    const network_type *type = network_type_find(config_string(cfg, "lora_type"));
    toml_table_set(flat, "network_module", toml_new_string(type ? type->network_module : "networks.lora"));
    toml_value *args = network_args_for(cfg);
    if (args->as.array.count)
        toml_table_set(flat, "network_args", args);
    else
        toml_free(args);

    /* sd-scripts reads a float below 1 as a fraction of the total steps */
    double warmup = config_float(cfg, "lr_warmup");
    if (config_int(cfg, "lr_warmup_steps") == 0 && warmup > 0)
        toml_table_set(flat, "lr_warmup_steps", toml_new_float(warmup / 100.0));

    const char *attention = config_string(cfg, "xformers");
    if (strcmp(attention, "xformers") == 0)
        toml_table_set(flat, "xformers", toml_new_bool(true));
    else if (strcmp(attention, "sdpa") == 0)
        toml_table_set(flat, "sdpa", toml_new_bool(true));

    if (config_string(cfg, "sample_prompts")[0])
        toml_table_set(flat, "sample_prompts", toml_new_string(config_sample_prompts_path(cfg)));
}

const param *export_param_for_sdscripts_key(const char *key)
{
    if (strcmp(key, "sdpa") == 0)
        return params_find("xformers");
    return NULL;
}

int import_sdscripts_value(config *cfg, const param *p, const char *key, const toml_value *v,
                           const char *path, error_info *err)
{
    if (err)
        err->message[0] = '\0';
    if (strcmp(key, "lr_warmup_steps") == 0 && v->type == TOML_FLOAT && v->as.floating < 1.0) {
        const param *percent = params_find("lr_warmup");
        if (!percent)
            return 1;
        toml_value *x = toml_new_float(round(v->as.floating * 1000.0) / 10.0);
        x->line = v->line;
        return config_store(cfg, percent, x, path);
    }
    if ((strcmp(key, "xformers") == 0 || strcmp(key, "sdpa") == 0) && v->type == TOML_BOOL) {
        if (v->as.boolean) {
            toml_value *x = toml_new_string(key);
            x->line = v->line;
            config_store(cfg, p, x, path);
        }
        return 0;
    }
    if (strcmp(key, "sample_prompts") == 0 && v->type == TOML_STRING) {
        /* sd-scripts takes a prompt file; the preset keeps the prompts themselves */
        error_info ignored;
        size_t len = 0;
        FILE *f = fopen(v->as.string.data, "rb");
        if (!f)
            return 0; /* kept out; the missing file is reported as a path warning by the caller */
        fclose(f);
        char *text = fileio_read_all(v->as.string.data, &len, &ignored);
        if (!text)
            return 0;
        toml_value *x = toml_new_string_len(text, len);
        free(text);
        x->line = v->line;
        return config_store(cfg, p, x, path);
    }
    (void)err;
    return 1;
}
