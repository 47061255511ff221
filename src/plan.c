/* plan.c — steps and epochs as kohya_ss and sd-scripts count them; see plan.h. */
#include "plan.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_internal.h"
#include "engine/data/reg_balance.h"
#include "engine/models/checkpoint.h"

static void plan_warn(plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void plan_warn(plan *p, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **grown = realloc(p->warnings, (p->warning_count + 1) * sizeof *grown);
    if (!grown)
        return;
    p->warnings = grown;
    p->warnings[p->warning_count++] = strdup(buf);
}

static void count_bucket(plan *p, bucket_reso b, long long n)
{
    for (size_t i = 0; i < p->bucket_count; i++)
        if (p->buckets[i].width == b.width && p->buckets[i].height == b.height) {
            p->buckets[i].count += n;
            return;
        }
    p->buckets = realloc(p->buckets, (p->bucket_count + 1) * sizeof *p->buckets);
    p->buckets[p->bucket_count++] = (plan_bucket){b.width, b.height, n};
}

static int cmp_bucket(const void *a, const void *b)
{
    const plan_bucket *x = a, *y = b;
    if (x->width != y->width)
        return x->width < y->width ? -1 : 1;
    return (x->height > y->height) - (x->height < y->height);
}

static int scan(const config *cfg, const char *preset_path, plan *p, error_info *err)
{
    int width = 512, height = 512;
    config_parse_resolution(config_string(cfg, "resolution"), &width, &height);
    dataset_defaults d = {
        .buckets = {
            .width = width, .height = height,
            .min_reso = (int)config_int(cfg, "min_bucket_reso"),
            .max_reso = (int)config_int(cfg, "max_bucket_reso"),
            .steps = (int)config_int(cfg, "bucket_reso_steps"),
            .enabled = config_bool(cfg, "enable_bucket"),
            .no_upscale = config_bool(cfg, "bucket_no_upscale"),
        },
        .batch_size = (int)config_int(cfg, "train_batch_size"),
        .caption_extension = config_string(cfg, "caption_extension"),
        .train_data_dir = config_string(cfg, "train_data_dir"),
        .reg_data_dir = config_string(cfg, "reg_data_dir"),
    };
    if (d.batch_size < 1)
        d.batch_size = 1;
    const char *dataset_config = config_string(cfg, "dataset_config");
    if (cfg->datasets) {
        p->mode = "inline datasets";
        snprintf(p->source, sizeof p->source, "%s", preset_path);
        return dataset_scan_toml(&d, cfg->general, cfg->datasets, preset_path, &p->data, err);
    }
    if (dataset_config[0]) {
        p->mode = "dataset config";
        snprintf(p->source, sizeof p->source, "%s", dataset_config);
        toml_value *root = toml_parse_file(dataset_config, err);
        if (!root)
            return -1;
        int rc = dataset_scan_toml(&d, toml_table_get(root, "general"), toml_table_get(root, "datasets"),
                                   dataset_config, &p->data, err);
        toml_free(root);
        return rc;
    }
    p->mode = "folders";
    snprintf(p->source, sizeof p->source, "%s", d.train_data_dir);
    if (!d.train_data_dir[0])
        return error_set(err, preset_path, 0, 0, "model.train_data_dir",
                         "no images to train on: set train_data_dir (the folder that holds "
                         "<repeats>_<tokens> subfolders), dataset_config, or [[datasets]]");
    return dataset_scan_folders(&d, &p->data, err);
}

int plan_compute(const config *cfg, const char *preset_path, plan *p, error_info *err)
{
    memset(p, 0, sizeof *p);
    if (scan(cfg, preset_path, p, err) != 0)
        return -1;

    long long accumulation = config_int(cfg, "gradient_accumulation_steps");
    if (accumulation < 1)
        accumulation = 1;
    for (size_t gi = 0; gi < p->data.group_count; gi++) {
        dataset_group *g = &p->data.groups[gi];
        bucket_reso list[512];
        size_t n = buckets_make_resolutions(&g->buckets, list, 512);
        if (n > 512)
            n = 512;
        long long group_train = 0;
        size_t first_bucket = p->bucket_count;
        for (size_t s = 0; s < g->subset_count; s++) {
            dataset_subset *sub = &g->subsets[s];
            if (sub->is_reg) {
                p->reg_images += (long long)sub->image_count;
                continue;
            }
            p->train_images += (long long)sub->image_count;
            group_train += (long long)sub->image_count * sub->num_repeats;
            for (size_t i = 0; i < sub->image_count; i++)
                count_bucket(p, buckets_select(&g->buckets, list, n, sub->images[i].width,
                                               sub->images[i].height, NULL), sub->num_repeats);
        }
        p->train_samples += group_train;
        long long *reg_repeats = reg_balance_repeats(g, group_train);
        if (!reg_repeats)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
        size_t k = 0;
        for (size_t s = 0; s < g->subset_count; s++) {
            dataset_subset *sub = &g->subsets[s];
            if (!sub->is_reg)
                continue;
            for (size_t i = 0; i < sub->image_count; i++, k++) {
                if (!reg_repeats[k])
                    continue;
                p->reg_samples += reg_repeats[k];
                count_bucket(p, buckets_select(&g->buckets, list, n, sub->images[i].width,
                                               sub->images[i].height, NULL), reg_repeats[k]);
            }
        }
        free(reg_repeats);
        for (size_t b = first_bucket; b < p->bucket_count; b++)
            p->batches_per_epoch += (p->buckets[b].count + g->batch_size - 1) / g->batch_size;
    }
    if (p->bucket_count > 1)
        qsort(p->buckets, p->bucket_count, sizeof *p->buckets, cmp_bucket);

    if (p->train_samples == 0) {
        return error_set(err, NULL, 0, 0, strcmp(p->mode, "folders") == 0 ? "model.train_data_dir" : "datasets",
                         "no images found in \"%s\". loratty (like kohya_ss) expects train_data_dir "
                         "to be the PARENT of folders named <repeats>_<tokens>, e.g. "
                         "%s/10_mychar person/001.png with captions in 001.txt",
                         p->source, p->source[0] ? p->source : "train");
    }

    p->steps_per_epoch = (p->batches_per_epoch + accumulation - 1) / accumulation;
    long long epochs = config_int(cfg, "max_train_epochs");
    long long max_steps = config_int(cfg, "max_train_steps");
    if (epochs > 0) {
        /* sd-scripts: max_train_epochs overrides max_train_steps */
        p->epochs = epochs;
        p->total_steps = epochs * p->steps_per_epoch;
        p->total_steps_rule = "max_train_epochs x steps per epoch";
    } else if (max_steps > 0) {
        p->total_steps = max_steps;
        p->epochs = (max_steps + p->steps_per_epoch - 1) / p->steps_per_epoch;
        p->total_steps_rule = "max_train_steps";
    } else {
        p->epochs = 1;
        p->total_steps = p->steps_per_epoch;
        p->total_steps_rule = "one epoch (max_train_steps and max_train_epochs are 0)";
    }
    long long warmup_steps = config_int(cfg, "lr_warmup_steps");
    if (warmup_steps > 0)
        p->warmup_steps = warmup_steps;
    else /* kohya_ss: round(lr_warmup% x max_train_steps / 100) */
        p->warmup_steps = llround(config_float(cfg, "lr_warmup") * (double)p->total_steps / 100.0);
    double te_stop = config_float(cfg, "stop_text_encoder_training");
    if (te_stop > 0)
        p->text_encoder_stop_step = llround(te_stop * (double)p->total_steps / 100.0);

    static const char *const path_params[] = {"pretrained_model_name_or_path", "vae", "network_weights", NULL};
    for (const char *const *name = path_params; *name; name++) {
        const char *path = config_string(cfg, *name);
        struct stat st;
        if (path[0] && stat(path, &st) != 0)
            plan_warn(p, "%s \"%s\" does not exist: --run will stop here (loratty does not download models)",
                      *name, path);
    }
    const char *model = config_string(cfg, "pretrained_model_name_or_path");
    struct stat st;
    if (!model[0])
        plan_warn(p, "pretrained_model_name_or_path is empty: --run needs a base model");
    else if (stat(model, &st) == 0 && checkpoint_describe(model, p->model, sizeof p->model) != 0)
        return error_set(err, NULL, 0, 0, "model.pretrained_model_name_or_path", "%s", p->model);
    return 0;
}

void plan_print(const plan *p, const config *cfg, FILE *out)
{
    const char *model = config_string(cfg, "pretrained_model_name_or_path");
    if (p->model[0] && strncmp(p->model, model, strlen(model)) == 0)
        fprintf(out, "Model:       %s\n", p->model);   /* a refusal names the file itself */
    else if (p->model[0])
        fprintf(out, "Model:       %s: %s\n", model, p->model);
    else
        fprintf(out, "Model:       %s%s%s\n", config_string(cfg, "pretrained_model_name_or_path"),
                config_bool(cfg, "sdxl") ? "  (SDXL)" : config_bool(cfg, "v2") ? "  (SD2.x)" : "  (SD1.x)",
                config_bool(cfg, "v_parameterization") ? " v-prediction" : "");
    const char *out_dir = config_string(cfg, "output_dir");
    fprintf(out, "Output:      %s%s%s.safetensors\n", out_dir, out_dir[0] ? "/" : "", config_string(cfg, "output_name"));
    if (p->mode && p->source[0])
        fprintf(out, "Images from: %s (%s)\n", p->source, p->mode);
    for (size_t g = 0; g < p->data.group_count; g++) {
        const dataset_group *grp = &p->data.groups[g];
        if (p->data.group_count > 1)
            fprintf(out, "Dataset %zu: resolution %dx%d, batch size %d\n", g + 1, grp->buckets.width,
                    grp->buckets.height, grp->batch_size);
        fprintf(out, "  %-40s %7s %8s %8s %9s\n", "folder", "images", "repeats", "samples", "captions");
        for (size_t s = 0; s < grp->subset_count; s++) {
            const dataset_subset *sub = &grp->subsets[s];
            size_t captions = 0;
            for (size_t i = 0; i < sub->image_count; i++)
                captions += sub->images[i].has_caption;
            const char *name = strrchr(sub->image_dir, '/');
            name = name && name[1] ? name + 1 : sub->image_dir;
            char label[64];
            snprintf(label, sizeof label, "%s%.*s", sub->is_reg ? "reg: " : "", 35, name);
            fprintf(out, "  %-40s %7zu %8d %8lld %9zu\n", label, sub->image_count, sub->num_repeats,
                    (long long)sub->image_count * sub->num_repeats, captions);
        }
    }
    for (size_t i = 0; i < p->data.note_count; i++)
        fprintf(out, "  note: %s\n", p->data.notes[i]);
    if (!p->total_steps_rule)
        return;
    fprintf(out, "Training images: %lld (%lld samples with repeats)\n", p->train_images, p->train_samples);
    if (p->reg_images)
        fprintf(out, "Regularisation:  %lld images, %lld samples (balanced to the training samples, "
                     "loss x prior_loss_weight %g)\n", p->reg_images, p->reg_samples,
                config_float(cfg, "prior_loss_weight"));
    fprintf(out, "Buckets:\n");
    for (size_t i = 0; i < p->bucket_count; i++)
        fprintf(out, "  %5d x %-5d %8lld samples\n", p->buckets[i].width, p->buckets[i].height, p->buckets[i].count);
    fprintf(out, "Batch size %lld, gradient accumulation %lld\n", config_int(cfg, "train_batch_size"),
            config_int(cfg, "gradient_accumulation_steps"));
    fprintf(out, "Batches per epoch: %lld\n", p->batches_per_epoch);
    fprintf(out, "Steps per epoch:   %lld\n", p->steps_per_epoch);
    fprintf(out, "Epochs:            %lld\n", p->epochs);
    fprintf(out, "Total steps:       %lld (%s)\n", p->total_steps, p->total_steps_rule);
    fprintf(out, "Warmup steps:      %lld\n", p->warmup_steps);
    if (p->text_encoder_stop_step)
        fprintf(out, "Text encoder stops training at step %lld\n", p->text_encoder_stop_step);
    for (size_t i = 0; i < p->warning_count; i++)
        fprintf(out, "warning: %s\n", p->warnings[i]);
}

void plan_free(plan *p)
{
    dataset_set_free(&p->data);
    free(p->buckets);
    for (size_t i = 0; i < p->warning_count; i++)
        free(p->warnings[i]);
    free(p->warnings);
    memset(p, 0, sizeof *p);
}
