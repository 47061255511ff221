/* plan.c — steps and epochs as kohya_ss and sd-scripts count them; see plan.h. */
#include "plan.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_internal.h"
#include "engine/data/face_crop.h"
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

static void count_bucket(plan_bucket **list, size_t *count, bucket_reso b, long long n)
{
    for (size_t i = 0; i < *count; i++)
        if ((*list)[i].width == b.width && (*list)[i].height == b.height) {
            (*list)[i].count += n;
            return;
        }
    plan_bucket *grown = realloc(*list, (*count + 1) * sizeof *grown);
    if (!grown)
        return;
    *list = grown;
    grown[(*count)++] = (plan_bucket){b.width, b.height, n};
}

/* Counts the image's samples into its bucket and, with buckets, notes its aspect-ratio error
 * as BucketManager.select_bucket computes it (for the metadata's mean_img_ar_error). */
static int place_image(const dataset_group *g, const bucket_reso *list, size_t n,
                       const dataset_image *img, long long samples, plan_bucket **buckets,
                       size_t *bucket_count, plan_dataset *pd)
{
    bucket_reso b = buckets_select(&g->buckets, list, n, img->width, img->height, NULL);
    count_bucket(buckets, bucket_count, b, samples);
    if (!g->buckets.enabled)
        return 0;
    double *grown = realloc(pd->ar_errors, (pd->ar_error_count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    pd->ar_errors = grown;
    grown[pd->ar_error_count++] = fabs((double)b.width / b.height - (double)img->width / img->height);
    return 0;
}

static int cmp_bucket(const void *a, const void *b)
{
    const plan_bucket *x = a, *y = b;
    if (x->width != y->width)
        return x->width < y->width ? -1 : 1;
    return (x->height > y->height) - (x->height < y->height);
}

/* The command-line level of sd-scripts' lookup (its argparse namespace): every dataset key
 * of the config with its effective value. Unset optional values stay out (None). Subset-only
 * keys of the dataset config and class_tokens (no sd-scripts argument) are not options of
 * this level, unless they are arguments too (alpha_mask: --alpha_mask). */
static toml_value *cli_level(const config *cfg)
{
    toml_value *t = toml_new_table();
    for (size_t i = 0; t && i < params_count; i++) {
        const param *q = &params_table[i];
        bool argument = q->section != SECTION_DATASET && (q->flags & PARAM_DATASET_SUBSET);
        if (!(q->flags & (PARAM_DATASET_GENERAL | PARAM_DATASET_DATASET) || argument) ||
            !strcmp(q->name, "class_tokens") || !strcmp(q->name, "resolution"))
            continue;
        bool unset = (q->flags & PARAM_OPTIONAL) && config_is_default(cfg, q) &&
                     !(q->default_value && q->default_value[0]);
        if (unset)
            continue;
        toml_value *v = NULL;
        switch (q->type) {
        case PARAM_BOOL: v = toml_new_bool(config_bool(cfg, q->name)); break;
        case PARAM_INT: v = toml_new_integer(config_int(cfg, q->name)); break;
        case PARAM_FLOAT: v = toml_new_float(config_float(cfg, q->name)); break;
        case PARAM_STRING_LIST: break;
        default: v = toml_new_string(config_string(cfg, q->name)); break;
        }
        if (v && toml_table_set(t, q->name, v) != 0)
            toml_free(v);
    }
    return t;
}

/* sd-scripts refuses what it does not know; loratty also refuses the dataset keys its
 * engine does not apply yet, rather than training without them, and warns about the ones
 * that change nothing. */
static int check_table_support(plan *p, const toml_value *t, const char *where, const char *origin,
                               error_info *err)
{
    for (size_t i = 0; t && t->type == TOML_TABLE && i < t->as.table.count; i++) {
        const param *q = params_find(t->as.table.keys[i]);
        const toml_value *v = t->as.table.values[i];
        if (!q || q->support == SUPPORT_YES)
            continue;
        bool is_default = false;
        if (q->type == PARAM_BOOL)
            is_default = v->type == TOML_BOOL && v->as.boolean == (strcmp(q->default_value, "true") == 0);
        else if (q->type == PARAM_FLOAT || q->type == PARAM_INT)
            is_default = (v->type == TOML_FLOAT ? v->as.floating : v->type == TOML_INTEGER ?
                          (double)v->as.integer : NAN) == atof(q->default_value) && q->default_value[0];
        if (is_default)
            continue;
        if (q->support == SUPPORT_NO_EFFECT) {
            plan_warn(p, "%s:%d: %s.%s has no effect: %s", origin, v->line, where, q->name, q->help);
            continue;
        }
        return error_set(err, origin, v->line, 0, where, "%s is not supported by loratty's engine yet; "
                         "remove it from the dataset config", q->name);
    }
    return 0;
}

static int check_datasets_support(plan *p, const toml_value *general, const toml_value *datasets,
                                  const char *origin, error_info *err)
{
    if (check_table_support(p, general, "general", origin, err) != 0)
        return -1;
    for (size_t i = 0; datasets && datasets->type == TOML_ARRAY && i < datasets->as.array.count; i++) {
        const toml_value *ds = datasets->as.array.items[i];
        if (check_table_support(p, ds, "datasets", origin, err) != 0)
            return -1;
        const toml_value *subs = ds->type == TOML_TABLE ? toml_table_get(ds, "subsets") : NULL;
        for (size_t j = 0; subs && subs->type == TOML_ARRAY && j < subs->as.array.count; j++)
            if (check_table_support(p, subs->as.array.items[j], "datasets.subsets", origin, err) != 0)
                return -1;
    }
    return 0;
}

/* p->datasets, one per group, with the resize_interpolation of each dataset's own level:
 * sd-scripts' dataset params look it up in the dataset, general and command line (a subset
 * that sets none falls back to it, so only the metadata sees this value). Folder mode has
 * the command line's. */
static int init_datasets(plan *p, const toml_value *general, const toml_value *datasets,
                         const toml_value *cli, error_info *err)
{
    p->datasets = calloc(p->data.group_count ? p->data.group_count : 1, sizeof *p->datasets);
    if (!p->datasets)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t i = 0; i < p->data.group_count; i++) {
        const toml_value *ds = datasets ? datasets->as.array.items[i] : NULL;
        const toml_value *levels[3] = {ds, general, cli};
        const toml_value *v = dataset_lookup("resize_interpolation", levels, 3);
        if (v && v->type == TOML_STRING &&
            !(p->datasets[i].resize_interpolation = strdup(v->as.string.data)))
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    return 0;
}

static int scan_toml(const dataset_defaults *d, const toml_value *general,
                     const toml_value *datasets, const char *origin, plan *p, error_info *err)
{
    if (check_datasets_support(p, general, datasets, origin, err) != 0 ||
        dataset_scan_toml(d, general, datasets, origin, &p->data, err) != 0)
        return -1;
    return init_datasets(p, general, datasets, d->cli, err);
}

static int scan(const config *cfg, const char *preset_path, plan *p, const toml_value *cli,
                error_info *err)
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
        .cli = cli,
    };
    if (d.batch_size < 1)
        d.batch_size = 1;
    const char *dataset_config = config_string(cfg, "dataset_config");
    if (cfg->datasets) {
        p->mode = "inline datasets";
        snprintf(p->source, sizeof p->source, "%s", preset_path);
        return scan_toml(&d, cfg->general, cfg->datasets, preset_path, p, err);
    }
    if (dataset_config[0]) {
        p->mode = "dataset config";
        snprintf(p->source, sizeof p->source, "%s", dataset_config);
        toml_value *root = toml_parse_file(dataset_config, err);
        if (!root)
            return -1;
        int rc = scan_toml(&d, toml_table_get(root, "general"), toml_table_get(root, "datasets"),
                           dataset_config, p, err);
        toml_free(root);
        return rc;
    }
    p->mode = "folders";
    snprintf(p->source, sizeof p->source, "%s", d.train_data_dir);
    if (!d.train_data_dir[0])
        return error_set(err, preset_path, 0, 0, "model.train_data_dir",
                         "no images to train on: set train_data_dir (the folder that holds "
                         "<repeats>_<tokens> subfolders), dataset_config, or [[datasets]]");
    if (dataset_scan_folders(&d, &p->data, err) != 0)
        return -1;
    return init_datasets(p, NULL, NULL, cli, err);
}

/* An image of a face_crop_aug_range subset without buckets, as sd-scripts would read it:
 * numbers in the name, a face of some size, at least the training size. */
static int check_face_image(const dataset_image *img, const dataset_group *g, error_info *err)
{
    face_box f;
    int rc = face_crop_parse_name(img->path, &f);
    if (rc < 0)
        return error_set(err, img->path, 0, 0, "face_crop_aug_range", "with face_crop_aug_range a "
                         "file name of five or more _ fields ends in the face's centre x, y, width "
                         "and height, as whole numbers (sd-scripts stops on this one)");
    if (rc == 0 || f.cx <= 0)
        return 0;
    if (f.w <= 0 && f.h <= 0)
        return error_set(err, img->path, 0, 0, "face_crop_aug_range", "the face in the file name has "
                         "no size (sd-scripts divides by it)");
    if (img->width < g->buckets.width || img->height < g->buckets.height)
        return error_set(err, img->path, 0, 0, "face_crop_aug_range", "%dx%d is smaller than the "
                         "resolution %dx%d; a face crop only shrinks (sd-scripts stops on it too)",
                         img->width, img->height, g->buckets.width, g->buckets.height);
    return 0;
}

/* masked_loss: a mask source somewhere (sd-scripts would silently train unmasked),
 * conditioning_data_dir only with it (its schema refuses the key otherwise), none in VAE
 * training (its loss is the VAE's). */
static int check_masks(const config *cfg, plan *p, error_info *err)
{
    bool masked = config_bool(cfg, "masked_loss"), alpha = false, cond = false;
    for (size_t gi = 0; gi < p->data.group_count; gi++)
        for (size_t si = 0; si < p->data.groups[gi].subset_count; si++) {
            const dataset_subset *sub = &p->data.groups[gi].subsets[si];
            alpha |= sub->has_options && sub->opt.alpha_mask;
            if (sub->conditioning_data_dir && !masked)
                return error_set(err, p->source, 0, 0, "masked_loss", "dataset %zu: "
                                 "conditioning_data_dir (subset %s) holds loss masks, which only "
                                 "masked_loss = true uses (sd-scripts refuses the key without it)",
                                 gi + 1, sub->image_dir);
            cond |= sub->conditioning_data_dir != NULL;
        }
    if (masked && !alpha && !cond)
        return error_set(err, p->source, 0, 0, "masked_loss", "masked_loss has no masks to use: "
                         "give the subsets of a dataset config conditioning_data_dir (mask images "
                         "named like the training images) or set alpha_mask (the images' alpha "
                         "channel); sd-scripts would train unmasked");
    if ((masked || alpha) && !strcmp(config_string(cfg, "training_mode"), "vae"))
        return error_set(err, p->source, 0, 0, masked ? "masked_loss" : "alpha_mask", "training_mode "
                         "vae trains on the VAE's own loss; masked_loss and alpha_mask do not apply");
    if (alpha && !masked)
        plan_warn(p, "alpha_mask masks the loss even without masked_loss (as sd-scripts does)");
    return 0;
}

/* What sd-scripts asserts on the datasets it built: bucket steps for the model family
 * (verify_bucket_reso_steps), latent caching only when no subset augments the image
 * (is_latent_cacheable); face crops are random too. */
static int check_groups(const config *cfg, plan *p, error_info *err)
{
    int multiple = config_bool(cfg, "sdxl") ? 32 : 64;
    bool cache = config_bool(cfg, "cache_latents") || config_bool(cfg, "cache_latents_to_disk");
    for (size_t gi = 0; gi < p->data.group_count; gi++) {
        const dataset_group *g = &p->data.groups[gi];
        if (g->buckets.enabled && g->buckets.steps % multiple)
            return error_set(err, p->source, 0, 0, "bucket_reso_steps", "dataset %zu: bucket_reso_steps "
                             "%d is not a multiple of %d (%s)", gi + 1, g->buckets.steps, multiple,
                             multiple == 32 ? "SDXL" : "SD1.x/2.x");
        bool face_noted = false;
        for (size_t si = 0; si < g->subset_count; si++) {
            const dataset_subset *sub = &g->subsets[si];
            const char *name = sub->image_dir ? sub->image_dir : sub->metadata_file;
            if (!sub->has_options)
                continue;
            bool face = sub->opt.face_crop_hi > 0;
            for (size_t i = 0; face && !g->buckets.enabled && i < sub->image_count; i++)
                if (check_face_image(&sub->images[i], g, err) != 0)
                    return -1;
            if (face && g->buckets.enabled && !face_noted) {
                plan_warn(p, "dataset %zu: face_crop_aug_range has no effect with enable_bucket "
                          "(sd-scripts crops around faces only without buckets)", gi + 1);
                face_noted = true;
            }
            if (!cache)
                continue;
            const char *key = sub->opt.color_aug ? "color_aug" : sub->opt.random_crop ? "random_crop" : NULL;
            if (key)
                return error_set(err, p->source, 0, 0, key, "%s (subset %s) changes the image every "
                                 "epoch, so it cannot be used with cache_latents / cache_latents_to_disk "
                                 "(sd-scripts refuses it too)", key, name);
            if (face && !g->buckets.enabled)
                return error_set(err, p->source, 0, 0, "face_crop_aug_range", "face_crop_aug_range "
                                 "(subset %s) crops each epoch anew, so it cannot be used with "
                                 "cache_latents / cache_latents_to_disk (sd-scripts would cache the "
                                 "bucket crop and drop the face crop without a word)", name);
        }
    }
    return 0;
}

/* validation_split: the held-out images out of p->data into p->validation, and the
 * validation data loader's length (its own buckets; repeats count, as sd-scripts' dataset
 * length does) */
static int split_validation(const config *cfg, plan *p, error_info *err)
{
    if (dataset_split_validation(&p->data, &p->validation, config_int(cfg, "seed"), p->source,
                                 err) != 0)
        return -1;
    if (!p->validation.group_count) {
        static const char *const keys[] = {"validate_every_n_steps", "validate_every_n_epochs",
                                           "max_validation_steps"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            if (!config_is_default(cfg, params_find(keys[i])))
                plan_warn(p, "%s has no effect: no dataset sets validation_split", keys[i]);
        return 0;
    }
    if (strcmp(config_string(cfg, "training_mode"), "lora"))
        return error_set(err, p->source, 0, 0, "validation_split", "the validation loss is "
                         "computed for LoRA training (sd-scripts' train_network.py); training_mode "
                         "%s has none", config_string(cfg, "training_mode"));
    for (size_t gi = 0; gi < p->validation.group_count; gi++) {
        const dataset_group *g = &p->validation.groups[gi];
        bucket_reso list[512];
        size_t n = buckets_make_resolutions(&g->buckets, list, 512);
        if (n > 512)
            n = 512;
        plan_bucket *gb = NULL;
        size_t gn = 0;
        plan_dataset scratch = {0};
        int rc = 0;
        for (size_t s = 0; s < g->subset_count; s++) {
            const dataset_subset *sub = &g->subsets[s];
            p->validation_images += (long long)sub->image_count;
            p->validation_samples += (long long)sub->image_count * sub->num_repeats;
            for (size_t i = 0; i < sub->image_count && rc == 0; i++)
                rc = place_image(g, list, n, &sub->images[i], sub->num_repeats, &gb, &gn, &scratch);
        }
        for (size_t b = 0; b < gn; b++)
            p->validation_batches += (gb[b].count + g->batch_size - 1) / g->batch_size;
        free(gb);
        free(scratch.ar_errors);
        if (rc != 0)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    if (!p->validation_images)
        plan_warn(p, "validation_split holds out no image (each subset keeps ceil(images x (1 - "
                  "split)) for training and gives round(images x split) to validation)");
    return 0;
}

int plan_compute(const config *cfg, const char *preset_path, plan *p, error_info *err)
{
    memset(p, 0, sizeof *p);
    toml_value *cli = cli_level(cfg);
    if (!cli)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    int rc = scan(cfg, preset_path, p, cli, err);
    toml_free(cli);
    if (rc != 0)
        return -1;
    if (check_groups(cfg, p, err) != 0 || check_masks(cfg, p, err) != 0 ||
        split_validation(cfg, p, err) != 0)
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
        /* a dataset's buckets are its own (its batch size), even at a resolution another
         * dataset also has */
        plan_bucket *gb = NULL;
        size_t gn = 0;
        plan_dataset *pd = &p->datasets[gi];
        rc = 0;
        /* sd-scripts registers the training images first, then the reg images it uses */
        for (size_t s = 0; s < g->subset_count; s++) {
            dataset_subset *sub = &g->subsets[s];
            if (sub->is_reg) {
                p->reg_images += (long long)sub->image_count;
                continue;
            }
            p->train_images += (long long)sub->image_count;
            group_train += (long long)sub->image_count * sub->num_repeats;
            for (size_t i = 0; i < sub->image_count && rc == 0; i++)
                rc = place_image(g, list, n, &sub->images[i], sub->num_repeats, &gb, &gn, pd);
        }
        p->train_samples += group_train;
        long long *reg_repeats = reg_balance_repeats(g, group_train);
        if (!reg_repeats)
            rc = -1;
        size_t k = 0;
        for (size_t s = 0; rc == 0 && s < g->subset_count; s++) {
            dataset_subset *sub = &g->subsets[s];
            if (!sub->is_reg)
                continue;
            for (size_t i = 0; i < sub->image_count && rc == 0; i++, k++) {
                if (!reg_repeats[k])
                    continue;
                p->reg_samples += reg_repeats[k];
                rc = place_image(g, list, n, &sub->images[i], reg_repeats[k], &gb, &gn, pd);
            }
        }
        free(reg_repeats);
        if (rc != 0) {
            free(gb);
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
        }
        for (size_t b = 0; b < gn; b++) {
            p->batches_per_epoch += (gb[b].count + g->batch_size - 1) / g->batch_size;
            count_bucket(&p->buckets, &p->bucket_count, (bucket_reso){gb[b].width, gb[b].height},
                         gb[b].count);
        }
        if (gn > 1)
            qsort(gb, gn, sizeof *gb, cmp_bucket);
        pd->buckets = gb;
        pd->bucket_count = gn;
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
        /* kohya_ss's Epoch field: with neither set it passes max_train_steps =
         * ceil(images × repeats / batch / accumulation × epoch × (2 with reg_data_dir)) */
        long long epoch = config_int(cfg, "epoch");
        const char *reg = config_string(cfg, "reg_data_dir");
        int batch = (int)config_int(cfg, "train_batch_size");
        double steps = ceil((double)p->train_samples / (batch > 0 ? batch : 1) / (double)accumulation *
                            (double)(epoch > 0 ? epoch : 1) * (reg[0] ? 2.0 : 1.0));
        p->total_steps = steps > 1.0 ? (long long)steps : 1;
        p->epochs = (p->total_steps + p->steps_per_epoch - 1) / p->steps_per_epoch;
        p->total_steps_rule = "kohya_ss: images x repeats / batch / accumulation x epoch (x 2 with "
                              "reg_data_dir), as max_train_steps and max_train_epochs are 0";
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
    fprintf(out, "Output:      %s%s%s.%s\n", out_dir, out_dir[0] ? "/" : "", config_string(cfg, "output_name"),
            config_string(cfg, "save_model_as"));
    if (p->mode && p->source[0])
        fprintf(out, "Images from: %s (%s)\n", p->source, p->mode);
    bool toml_mode = p->mode && strcmp(p->mode, "folders") != 0;
    for (size_t g = 0; g < p->data.group_count; g++) {
        const dataset_group *grp = &p->data.groups[g];
        if (p->data.group_count > 1 || toml_mode) {
            fprintf(out, "Dataset %zu: resolution %dx%d, batch size %d", g + 1, grp->buckets.width,
                    grp->buckets.height, grp->batch_size);
            if (grp->buckets.enabled)
                fprintf(out, ", buckets %d..%d step %d%s\n", grp->buckets.min_reso, grp->buckets.max_reso,
                        grp->buckets.steps, grp->buckets.no_upscale ? " (no upscale)" : "");
            else
                fprintf(out, ", no buckets\n");
        }
        fprintf(out, "  %-40s %7s %8s %8s %9s\n", "folder", "images", "repeats", "samples", "captions");
        for (size_t s = 0; s < grp->subset_count; s++) {
            const dataset_subset *sub = &grp->subsets[s];
            size_t captions = 0;
            for (size_t i = 0; i < sub->image_count; i++)
                captions += sub->images[i].has_caption;
            const char *path = sub->image_dir ? sub->image_dir : sub->metadata_file;
            const char *name = strrchr(path, '/');
            name = name && name[1] ? name + 1 : path;
            char label[64];
            snprintf(label, sizeof label, "%s%.*s", sub->is_reg ? "reg: " : "", 35, name);
            fprintf(out, "  %-40s %7zu %8d %8lld %9zu\n", label, sub->image_count, sub->num_repeats,
                    (long long)sub->image_count * sub->num_repeats, captions);
            char opts[1024];
            dataset_options_describe(sub, opts, sizeof opts);
            if (toml_mode && opts[0])
                fprintf(out, "    %s\n", opts);
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
    if (p->validation.group_count) {
        long long every = config_int(cfg, "validate_every_n_epochs"), steps = config_int(cfg, "validate_every_n_steps");
        long long max = config_int(cfg, "max_validation_steps");
        long long batches = max > 0 && max < p->validation_batches ? max : p->validation_batches;
        fprintf(out, "Validation:      %lld images (%lld samples with repeats), %lld batches x 4 "
                     "timesteps, at the end of every ", p->validation_images, p->validation_samples,
                batches);
        if (every > 1)
            fprintf(out, "%lld epochs", every);
        else
            fprintf(out, "epoch");
        if (steps > 0)
            fprintf(out, " and every %lld steps", steps);
        fprintf(out, "\n");
    }
    if (p->data.group_count == 1)
        fprintf(out, "Batch size %d, gradient accumulation %lld\n", p->data.groups[0].batch_size,
                config_int(cfg, "gradient_accumulation_steps"));
    else
        fprintf(out, "Batch size per dataset, gradient accumulation %lld\n",
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
    for (size_t i = 0; p->datasets && i < p->data.group_count; i++) {
        free(p->datasets[i].buckets);
        free(p->datasets[i].resize_interpolation);
        free(p->datasets[i].ar_errors);
    }
    free(p->datasets);
    dataset_set_free(&p->data);
    dataset_set_free(&p->validation);
    free(p->buckets);
    for (size_t i = 0; i < p->warning_count; i++)
        free(p->warnings[i]);
    free(p->warnings);
    memset(p, 0, sizeof *p);
}
