/* config_sdscripts.c — the GUI-only parameters ([loratty] table) and what kohya_ss turns
 * them into on the sd-scripts command line, both ways: export (preset → run TOML) and import
 * (run TOML → preset). */
#include "config_internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "engine/dataset.h"
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

/* training_mode finetune runs sd-scripts' train_db.py (SD 1.x / 2.x) or sdxl_train.py: the
 * text encoder's learning rate and switch under their names there. train_db.py trains the
 * text encoder unless stop_text_encoder_training is negative; sdxl_train.py when
 * --train_text_encoder is given, both encoders at learning_rate_te1 / _te2. */
static void export_finetune(const config *cfg, toml_value *flat)
{
    bool sdxl = config_bool(cfg, "sdxl"), train_te = config_bool(cfg, "train_text_encoder");
    double te_lr = config_float(cfg, "text_encoder_lr");
    toml_table_remove(flat, "text_encoder_lr");
    toml_table_remove(flat, "train_text_encoder");
    if (train_te && te_lr > 0) {
        toml_table_set(flat, sdxl ? "learning_rate_te1" : "learning_rate_te", toml_new_float(te_lr));
        if (sdxl)
            toml_table_set(flat, "learning_rate_te2", toml_new_float(te_lr));
    }
    if (sdxl && train_te)
        toml_table_set(flat, "train_text_encoder", toml_new_bool(true));
    /* kohya_ss: the percentage of max_train_steps, rounded up */
    double pct = config_float(cfg, "stop_text_encoder_training");
    long long max_steps = config_int(cfg, "max_train_steps");
    if (!train_te) {
        if (!sdxl)
            toml_table_set(flat, "stop_text_encoder_training", toml_new_integer(-1));
    } else if (pct > 0 && max_steps > 0)
        toml_table_set(flat, "stop_text_encoder_training",
                       toml_new_integer((long long)ceil((double)max_steps / 100.0 * pct)));
}

/* kohya_ss's _count_dataset_steps: Σ repeats × the .jpg/.jpeg/.png/.webp files of each
 * <repeats>_<tokens> folder of train_data_dir (0 when there is none). */
static long long kohya_image_repeats(const char *dir)
{
    DIR *d = dir[0] ? opendir(dir) : NULL;
    if (!d)
        return 0;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int repeats;
        const char *tokens;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || !dataset_parse_folder_name(e->d_name, &repeats, &tokens) ||
            stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        DIR *sub = opendir(path);
        struct dirent *f;
        long long images = 0;
        while (sub && (f = readdir(sub))) {
            const char *dot = strrchr(f->d_name, '.');
            images += dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                              !strcasecmp(dot, ".png") || !strcasecmp(dot, ".webp"));
        }
        if (sub)
            closedir(sub);
        total += (long long)repeats * images;
    }
    closedir(d);
    return total;
}

/* kohya_ss's Epoch: with neither max_train_steps nor max_train_epochs set it passes
 * max_train_steps = ceil(images × repeats / batch / accumulation × epoch × (2 with reg)). */
static void export_epoch_steps(const config *cfg, toml_value *flat)
{
    if (config_int(cfg, "max_train_steps") > 0 || config_int(cfg, "max_train_epochs") > 0 ||
        cfg->datasets || cfg->general)
        return;
    long long samples = kohya_image_repeats(config_string(cfg, "train_data_dir"));
    long long batch = config_int(cfg, "train_batch_size"), accum = config_int(cfg, "gradient_accumulation_steps");
    if (samples <= 0)
        return;
    double steps = ceil((double)samples / (double)(batch > 0 ? batch : 1) / (double)(accum > 0 ? accum : 1) *
                        (double)config_int(cfg, "epoch") * (config_string(cfg, "reg_data_dir")[0] ? 2.0 : 1.0));
    toml_table_set(flat, "max_train_steps", toml_new_integer((long long)steps));
}

void export_loratty_only(const config *cfg, toml_value *flat)
{
    export_epoch_steps(cfg, flat);
    if (strcmp(config_string(cfg, "training_mode"), "finetune") == 0)
        export_finetune(cfg, flat);
    else {
        const network_type *type = network_type_find(config_string(cfg, "lora_type"));
        toml_table_set(flat, "network_module", toml_new_string(type ? type->network_module : "networks.lora"));
        toml_value *args = network_args_for(cfg);
        if (args->as.array.count)
            toml_table_set(flat, "network_args", args);
        else
            toml_free(args);
    }

    /* base_weights_multiplier: sd-scripts multiplies by the TOML values themselves */
    toml_value *mult = toml_table_get(flat, "base_weights_multiplier");
    for (size_t i = 0; mult && mult->type == TOML_ARRAY && i < mult->as.array.count; i++) {
        toml_value *item = mult->as.array.items[i];
        if (item->type == TOML_STRING) {
            double x = strtod(item->as.string.data, NULL);
            toml_free(item);
            mult->as.array.items[i] = toml_new_float(x);
        }
    }

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
    if (strncmp(key, "learning_rate_te", 16) == 0)   /* train_db.py / sdxl_train.py */
        return params_find("text_encoder_lr");
    /* sd-scripts' legacy spellings */
    if (strcmp(key, "use_8bit_adam") == 0 || strcmp(key, "use_lion_optimizer") == 0)
        return params_find("optimizer_type");
    if (strcmp(key, "caption_extention") == 0)
        return params_find("caption_extension");
    return NULL;
}

static int store_text(config *cfg, const char *name, const char *text, int line, const char *path)
{
    const param *p = params_find(name);
    error_info ignored;
    if (!p || config_set_value_text_at(cfg, p, text, path, line, &ignored) < 0)
        return 1;
    return 0;
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
    /* legacy flags: sd-scripts' get_optimizer turns them into the optimizer type */
    if ((strcmp(key, "use_8bit_adam") == 0 || strcmp(key, "use_lion_optimizer") == 0) &&
        v->type == TOML_BOOL)
        return v->as.boolean ? store_text(cfg, "optimizer_type", key[4] == '8' ? "AdamW8bit" : "Lion",
                                          v->line, path) : 0;
    if (strcmp(key, "caption_extention") == 0 && v->type == TOML_STRING)   /* sd-scripts' typo alias */
        return store_text(cfg, "caption_extension", v->as.string.data, v->line, path);
    /* int_or_float: a ratio of max_train_steps; loratty keeps the steps sd-scripts computes */
    if (strcmp(key, "lr_decay_steps") == 0 && v->type == TOML_FLOAT) {
        long long max_steps = config_int(cfg, "max_train_steps");
        if (v->as.floating >= 1.0 || v->as.floating < 0.0 || max_steps <= 0)
            return error_set(err, path, v->line, 0, key, "a ratio (0..1) of max_train_steps, which "
                             "must come before it, or a whole number of steps");
        char steps[32];
        snprintf(steps, sizeof steps, "%lld", (long long)(v->as.floating * (double)max_steps));
        return store_text(cfg, "lr_decay_steps", steps, v->line, path);
    }
    /* train_network.py takes --text_encoder_lr as a list (nargs="*"); networks.lora uses its
     * first value for every text encoder, an empty list means learning_rate */
    if (strcmp(key, "text_encoder_lr") == 0 && v->type == TOML_ARRAY) {
        const toml_value *first = v->as.array.count ? v->as.array.items[0] : NULL;
        if (first && first->type != TOML_FLOAT && first->type != TOML_INTEGER)
            return error_set(err, path, v->line, 0, key, "a list of numbers (learning rates), "
                             "or one number");
        double lr = !first ? 0.0 : first->type == TOML_FLOAT ? first->as.floating
                                                             : (double)first->as.integer;
        toml_value *x = toml_new_float(lr);
        x->line = v->line;
        return config_store(cfg, p, x, path);
    }
    /* the full-model scripts' text encoder options: a finetune preset (export_finetune) */
    bool number = v->type == TOML_FLOAT || v->type == TOML_INTEGER;
    double x = v->type == TOML_FLOAT ? v->as.floating : v->type == TOML_INTEGER ? (double)v->as.integer : 0;
    if (strncmp(key, "learning_rate_te", 16) == 0 && number) {
        /* learning_rate_te2 only when no learning_rate_te1 came first (loratty has one rate) */
        if (strcmp(key, "learning_rate_te2") == 0 && config_get(cfg, params_find("train_text_encoder")))
            return 0;
        toml_value *lr = toml_new_float(x);
        lr->line = v->line;
        config_store(cfg, p, lr, path);
        store_text(cfg, "training_mode", "finetune", v->line, path);
        return store_text(cfg, "train_text_encoder", "true", v->line, path);
    }
    if (strcmp(key, "stop_text_encoder_training") == 0 && number) {
        if (x < 0) {   /* train_db.py: the text encoder is not trained */
            store_text(cfg, "training_mode", "finetune", v->line, path);
            return store_text(cfg, "train_text_encoder", "false", v->line, path);
        }
        /* steps in sd-scripts, a percentage of max_train_steps in kohya_ss and loratty */
        long long max_steps = config_int(cfg, "max_train_steps");
        if (max_steps > 0) {
            char pct[32];
            snprintf(pct, sizeof pct, "%lld", llround(x * 100.0 / (double)max_steps));
            return store_text(cfg, "stop_text_encoder_training", pct, v->line, path);
        }
        return 0;   /* steps without max_train_steps: no percentage to keep */
    }
    if (strcmp(key, "train_text_encoder") == 0 && v->type == TOML_BOOL && v->as.boolean) {
        store_text(cfg, "training_mode", "finetune", v->line, path);   /* sdxl_train.py's */
        return store_text(cfg, "train_text_encoder", "true", v->line, path);
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
