/* train_metadata.c — the metadata sd-scripts writes into a LoRA file (train_network.py
 * L1000-1225, sai_model_spec.build_metadata; see sd_scripts_formats.md §2): every value as
 * Python's str() renders it (None, True/False, 0.0001, 1e-05), JSON values as json.dumps
 * writes them (", " and ": " separators, \u escapes), the dataset keys of folder mode (the
 * legacy ss_dataset_dirs / ss_tag_frequency / ss_bucket_info, batch size, resolution, ...) or
 * of a dataset config (ss_datasets and the merged dirs and tags), the base model's hashes,
 * and the modelspec.* keys of a LoRA. */
#include "build_config.h"

#include "engine/train/train_run_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/data/captions.h"
#include "engine/models/checkpoint.h"
#include "engine/models/tokenizer_text.h"
#include "network_types.h"

static void set_float(lora_metadata *md, const char *key, double v)
{
    char b[64];
    py_float_str(v, b, sizeof b);
    lora_metadata_set(md, key, "%s", b);
}

/* An optional float argument (sd-scripts None when kohya_ss leaves it out: 0 / unset). */
static void set_opt_float(lora_metadata *md, const char *key, const config *cfg, const char *name)
{
    double v = config_float(cfg, name);
    if (v == 0.0 || isnan(v))
        lora_metadata_set(md, key, "None");
    else
        set_float(md, key, v);
}

static void set_opt_int(lora_metadata *md, const char *key, const config *cfg, const char *name)
{
    long long v = config_int(cfg, name);
    if (v == 0)
        lora_metadata_set(md, key, "None");
    else
        lora_metadata_set(md, key, "%lld", v);
}

static void set_bool(lora_metadata *md, const char *key, const config *cfg, const char *name)
{
    lora_metadata_set(md, key, "%s", py_bool_str(config_bool(cfg, name)));
}

/* json.dumps' text: separators ", " and ": ", ensure_ascii's escapes in lower case
 * (\u00e9; jansson writes \u00E9), DEL escaped too, and floats as repr() writes them
 * (jansson writes 17 digits, which read back to the same double). */
static void set_json(lora_metadata *md, const char *key, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    size_t n = s ? strlen(s) : 0, k = 0;
    /* a character grows to at most 6 (\u007f); a float, 3 characters or more, to at most 24 */
    char *o = s ? malloc(n * 9 + 1) : NULL;
    bool in_str = false;
    for (size_t i = 0; o && i < n; i++) {
        char c = s[i];
        if (in_str && c == '\\') {
            o[k++] = c;
            bool hex = s[i + 1] == 'u';
            o[k++] = s[++i];
            for (int d = 0; hex && d < 4 && i + 1 < n; d++) {
                char x = s[++i];
                o[k++] = x >= 'A' && x <= 'F' ? (char)(x - 'A' + 'a') : x;
            }
        } else if (in_str && c == 0x7f) {
            memcpy(o + k, "\\u007f", 6);
            k += 6;
        } else if (!in_str && (c == '-' || (c >= '0' && c <= '9'))) {
            size_t len = strspn(s + i, "0123456789+-.eE");
            char num[64];
            if (strcspn(s + i, ".eE") < len)
                py_float_str(strtod(s + i, NULL), num, sizeof num);
            else
                snprintf(num, sizeof num, "%.*s", (int)len, s + i);
            memcpy(o + k, num, strlen(num));
            k += strlen(num);
            i += len - 1;
        } else {
            o[k++] = c;
            if (c == '"')
                in_str = !in_str;
            else if (!in_str && (c == ',' || c == ':'))
                o[k++] = ' ';
        }
    }
    if (o) {
        o[k] = '\0';
        lora_metadata_set(md, key, "%s", o);
    }
    free(o);
    free(s);
    json_decref(j);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* BaseDataset.set_tag_frequency: the caption split on ",", each tag strip()ped and
 * lower()ed as Python does (beyond ASCII too), empty ones skipped; a tag twice in a caption
 * counts twice, num_repeats not at all. */
static void add_tags(json_t *freq, const char *caption)
{
    char *c = strdup(caption), *save = NULL;
    if (!c)
        return;
    for (char *t = strtok_r(c, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *tag = clip_text_strip_lower(t, strlen(t));
        if (tag && tag[0]) {
            json_t *v = json_object_get(freq, tag);
            json_object_set_new(freq, tag, json_integer(v ? json_integer_value(v) + 1 : 1));
        }
        free(tag);
    }
    free(c);
}

/* The name sd-scripts gives a subset's folder in the metadata: a fine-tuning subset is
 * named after its metadata file. */
static const char *subset_name(const dataset_subset *sub)
{
    return base_name(sub->metadata_file ? sub->metadata_file : sub->image_dir);
}

/* sd-scripts drops a subset without images from its dataset; a fine-tuning subset is here
 * only when its metadata has entries, as there. */
static bool subset_used(const dataset_subset *sub)
{
    return sub->image_count > 0 || sub->metadata_file;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A fine-tuning image's tags as FineTuningDataset counts them: with enable_wildcard their
 * lines are joined by caption_separator. */
static void add_metadata_tags(json_t *freq, const dataset_subset *sub, const char *tags)
{
    const char *sep = sub->opt.captions.caption_separator ? sub->opt.captions.caption_separator : ",";
    if (!sub->opt.captions.enable_wildcard || !strchr(tags, '\n')) {
        add_tags(freq, tags);
        return;
    }
    char *joined = malloc(strlen(tags) * (strlen(sep) + 1) + 1);
    if (!joined)
        return;
    size_t k = 0;
    for (const char *c = tags; *c; c++) {
        if (*c != '\n') {
            joined[k++] = *c;
            continue;
        }
        memcpy(joined + k, sep, strlen(sep));
        k += strlen(sep);
    }
    joined[k] = '\0';
    add_tags(freq, joined);
    free(joined);
}

/* BaseDataset.tag_frequency: {folder: {tag: n}} for every subset, reg ones too, in order
 * (DreamBooth counts an existing folder even without images); subsets of one folder name
 * count into one entry. */
static json_t *group_tag_frequency(const dataset_group *g)
{
    json_t *freqs = json_object();
    for (size_t i = 0; i < g->subset_count; i++) {
        const dataset_subset *sub = &g->subsets[i];
        struct stat st;
        if (!sub->metadata_file && !sub->image_count &&
            (stat(sub->image_dir, &st) != 0 || !S_ISDIR(st.st_mode)))
            continue;
        json_t *freq = json_object_get(freqs, subset_name(sub));
        if (!freq) {
            freq = json_object();
            json_object_set_new(freqs, subset_name(sub), freq);
        }
        for (size_t j = 0; j < sub->image_count; j++) {
            const dataset_image *img = &sub->images[j];
            if (sub->metadata_file) {   /* FineTuningDataset counts the metadata's tags */
                if (img->tags)
                    add_metadata_tags(freq, sub, img->tags);
                continue;
            }
            char *cap = NULL;
            if (dataset_image_caption(sub, img, sub->opt.captions.enable_wildcard, &cap, NULL) == 0 && cap)
                add_tags(freq, cap);
            free(cap);
        }
    }
    return freqs;
}

/* numpy's pairwise summation (DOUBLE_pairwise_sum, numpy/_core/src/umath/loops_utils.h.src),
 * which np.mean uses on a float64 array: a plain running sum differs in the last bits. */
static double numpy_pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++)
            sum += a[i];
        return sum;
    }
    if (n <= 128) {
        double r[8];
        memcpy(r, a, sizeof r);
        size_t i;
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            sum += a[i];
        return sum;
    }
    size_t half = n / 2;
    half -= half % 8;
    return numpy_pairwise_sum(a, half) + numpy_pairwise_sum(a + half, n - half);
}

/* BaseDataset.bucket_info: the dataset's own buckets by index (sorted by resolution) and
 * np.mean(|ar error|) over its images without repeats (int 0 when there are none); None
 * without buckets. */
static json_t *group_bucket_info(const dataset_group *g, const plan_dataset *pd)
{
    if (!g->buckets.enabled)
        return json_null();
    json_t *buckets = json_object();
    for (size_t i = 0, k = 0; i < pd->bucket_count; i++) {
        if (!pd->buckets[i].count)
            continue;
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", k++);
        json_object_set_new(buckets, idx, json_pack("{s:[i,i],s:I}", "resolution", pd->buckets[i].width,
                                                    pd->buckets[i].height, "count",
                                                    (json_int_t)pd->buckets[i].count));
    }
    json_t *mean = pd->ar_error_count
                       ? json_real(numpy_pairwise_sum(pd->ar_errors, pd->ar_error_count) /
                                   (double)pd->ar_error_count)
                       : json_integer(0);
    return json_pack("{s:o,s:o}", "buckets", buckets, "mean_img_ar_error", mean);
}

/* Folder mode: the `else:` branch of train_network.py's metadata. Its one dataset's bucket
 * settings are None / False without buckets, else as adjusted to the steps; the dirs list
 * the subsets with images (reg ones apart), the tags every folder's. */
static void folder_dataset_keys(lora_metadata *md, const config *cfg, const plan *p, long long accum)
{
    const dataset_group *g = &p->data.groups[0];
    const bucket_settings *b = &g->buckets;
    long long bs = config_int(cfg, "train_batch_size");
    lora_metadata_set(md, "ss_batch_size_per_device", "%lld", bs);
    lora_metadata_set(md, "ss_total_batch_size", "%lld", bs * (accum > 0 ? accum : 1));
    lora_metadata_set(md, "ss_resolution", "(%d, %d)", b->width, b->height);
    set_bool(md, "ss_color_aug", cfg, "color_aug");
    set_bool(md, "ss_flip_aug", cfg, "flip_aug");
    set_bool(md, "ss_random_crop", cfg, "random_crop");
    set_bool(md, "ss_shuffle_caption", cfg, "shuffle_caption");
    lora_metadata_set(md, "ss_enable_bucket", "%s", py_bool_str(b->enabled));
    lora_metadata_set(md, "ss_bucket_no_upscale", "%s", py_bool_str(b->enabled && b->no_upscale));
    if (b->enabled) {
        lora_metadata_set(md, "ss_min_bucket_reso", "%d", b->min_reso);
        lora_metadata_set(md, "ss_max_bucket_reso", "%d", b->max_reso);
    } else {
        lora_metadata_set(md, "ss_min_bucket_reso", "None");
        lora_metadata_set(md, "ss_max_bucket_reso", "None");
    }
    lora_metadata_set(md, "ss_keep_tokens", "%lld", config_int(cfg, "keep_tokens"));

    json_t *dirs = json_object(), *reg = json_object();
    for (size_t i = 0; i < g->subset_count; i++) {
        const dataset_subset *sub = &g->subsets[i];
        if (subset_used(sub))
            json_object_set_new(sub->is_reg ? reg : dirs, subset_name(sub),
                                json_pack("{s:i,s:I}", "n_repeats", sub->num_repeats, "img_count",
                                          (json_int_t)sub->image_count));
    }
    set_json(md, "ss_dataset_dirs", dirs);
    set_json(md, "ss_reg_dataset_dirs", reg);
    set_json(md, "ss_tag_frequency", group_tag_frequency(g));
    set_json(md, "ss_bucket_info", group_bucket_info(g, &p->datasets[0]));
}

static json_t *subset_metadata(const dataset_subset *sub, bool dreambooth)
{
    const dataset_options *o = &sub->opt;
    const caption_settings *c = &o->captions;
    json_t *m = json_pack("{s:I,s:i,s:b,s:b,s:b,s:b,s:i,s:s,s:o,s:b,s:o,s:o,s:o}",
                          "img_count", (json_int_t)sub->image_count, "num_repeats", sub->num_repeats,
                          "color_aug", o->color_aug, "flip_aug", o->flip_aug, "random_crop",
                          o->random_crop, "shuffle_caption", c->shuffle_caption, "keep_tokens",
                          c->keep_tokens, "keep_tokens_separator",
                          c->keep_tokens_separator ? c->keep_tokens_separator : "",
                          "secondary_separator", str_or_null(c->secondary_separator),
                          "enable_wildcard", c->enable_wildcard,
                          "caption_prefix", str_or_null(c->caption_prefix),
                          "caption_suffix", str_or_null(c->caption_suffix),
                          /* the name as given ("linear", "cubic"), not the filter it picks */
                          "resize_interpolation", str_or_null(sub->opt_strings[5]));
    if (sub->image_dir)
        json_object_set_new(m, "image_dir", json_string(base_name(sub->image_dir)));
    if (dreambooth) {
        /* class_tokens are None unless set ("" is kept as None here) */
        json_object_set_new(m, "class_tokens", str_or_null(sub->class_tokens && sub->class_tokens[0]
                                                           ? sub->class_tokens : NULL));
        json_object_set_new(m, "is_reg", json_boolean(sub->is_reg));
    } else {
        json_object_set_new(m, "metadata_file", json_string(base_name(sub->metadata_file)));
    }
    return m;
}

/* A dataset config: the `if use_user_config:` branch of train_network.py's metadata —
 * ss_datasets describes each dataset and its subsets; ss_tag_frequency and ss_dataset_dirs
 * merge them (a folder's tags from its first dataset, reg subsets out of the dirs). */
static void dataset_config_keys(lora_metadata *md, const plan *p)
{
    json_t *datasets = json_array(), *tags = json_object(), *dirs = json_object();
    for (size_t g = 0; g < p->data.group_count; g++) {
        const dataset_group *gr = &p->data.groups[g];
        bool dreambooth = true;
        long long train = 0, reg = 0;
        for (size_t i = 0; i < gr->subset_count; i++) {
            const dataset_subset *sub = &gr->subsets[i];
            long long samples = (long long)sub->image_count * sub->num_repeats;
            if (sub->metadata_file)
                dreambooth = false;
            if (sub->is_reg)
                reg += samples;
            else
                train += samples;
        }
        /* masked_loss's conditioning datasets are sd-scripts' ControlNetDataset, a BaseDataset
         * whose subsets, tags and buckets live in a DreamBoothDataset delegate: its metadata
         * shows BaseDataset's defaults (no buckets, no tags, no subsets, not DreamBooth) */
        bool conditioning = gr->subset_count && gr->subsets[0].conditioning_data_dir;
        json_t *freq = conditioning ? json_object() : group_tag_frequency(gr);
        const bucket_settings *b = &gr->buckets;
        bool buckets = b->enabled && !conditioning;
        json_t *d = json_pack("{s:b,s:i,s:I,s:I,s:[i,i],s:b,s:o,s:o,s:O,s:o,s:o}",
                              "is_dreambooth", dreambooth && !conditioning,
                              "batch_size_per_device", gr->batch_size,
                              "num_train_images", (json_int_t)train, "num_reg_images", (json_int_t)reg,
                              "resolution", b->width, b->height, "enable_bucket", buckets,
                              "min_bucket_reso", buckets ? json_integer(b->min_reso) : json_null(),
                              "max_bucket_reso", buckets ? json_integer(b->max_reso) : json_null(),
                              "tag_frequency", freq, "bucket_info",
                              conditioning ? json_null() : group_bucket_info(gr, &p->datasets[g]),
                              "resize_interpolation", str_or_null(p->datasets[g].resize_interpolation));
        json_t *subsets = json_array();
        for (size_t i = 0; i < gr->subset_count && !conditioning; i++) {
            const dataset_subset *sub = &gr->subsets[i];
            if (!subset_used(sub))
                continue;
            json_array_append_new(subsets, subset_metadata(sub, dreambooth));
            if (sub->is_reg)   /* reg folders are not merged */
                continue;
            char name[1100];
            snprintf(name, sizeof name, "%s", subset_name(sub));
            for (int k = 2; json_object_get(dirs, name); k++)
                snprintf(name, sizeof name, "%s (%d)", subset_name(sub), k);
            json_object_set_new(dirs, name, json_pack("{s:i,s:I}", "n_repeats", sub->num_repeats,
                                                      "img_count", (json_int_t)sub->image_count));
        }
        json_object_set_new(d, "subsets", subsets);
        json_array_append_new(datasets, d);
        const char *dir;
        json_t *f;
        json_object_foreach(freq, dir, f)
            if (!json_object_get(tags, dir))
                json_object_set(tags, dir, f);
        json_decref(freq);
    }
    set_json(md, "ss_datasets", datasets);
    set_json(md, "ss_tag_frequency", tags);
    set_json(md, "ss_dataset_dirs", dirs);
}

static void modelspec(lora_metadata *md, const config *cfg, const train_run_info *info, int width,
                      int height)
{
    int sdxl = info->family == CKPT_SDXL, v2 = info->family == CKPT_SD2;
    lora_metadata_set(md, "modelspec.sai_model_spec", "1.0.1");
    lora_metadata_set(md, "modelspec.architecture", "%s/lora",
                      sdxl ? "stable-diffusion-xl-v1-base"
                      : v2 ? (info->v_param ? "stable-diffusion-v2-768-v" : "stable-diffusion-v2-512")
                           : "stable-diffusion-v1");
    lora_metadata_set(md, "modelspec.implementation", "%s",
                      sdxl ? "https://github.com/Stability-AI/generative-models" : "diffusers");
    const char *title = config_string(cfg, "metadata_title");
    lora_metadata_set(md, "modelspec.title", "%s", title[0] ? title : config_string(cfg, "output_name"));
    lora_metadata_set(md, "modelspec.resolution", "%dx%d", width, height);
    lora_metadata_set(md, "modelspec.prediction_type", "%s", info->v_param ? "v" : "epsilon");
    lora_metadata_set(md, "modelspec.implementation_version", "loratty/%s", PACKAGE_VERSION);
    static const char *const opt[][2] = {{"metadata_author", "modelspec.author"},
                                         {"metadata_description", "modelspec.description"},
                                         {"metadata_license", "modelspec.license"},
                                         {"metadata_tags", "modelspec.tags"}};
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        const char *v = config_string(cfg, opt[i][0]);
        if (v[0])
            lora_metadata_set(md, opt[i][1], "%s", v);
    }
}

/* --no_metadata: sd-scripts' SS_METADATA_MINIMUM_KEYS and the modelspec.* keys (the hashes
 * are added at save). */
static void keep_minimum(lora_metadata *md)
{
    static const char *const keep[] = {"ss_v2", "ss_base_model_version", "ss_network_module",
                                       "ss_network_dim", "ss_network_alpha", "ss_network_args"};
    size_t out = 0;
    for (size_t i = 0; i < md->count; i++) {
        bool kept = !strncmp(md->keys[i], "modelspec.", 10);
        for (size_t k = 0; !kept && k < sizeof keep / sizeof keep[0]; k++)
            kept = !strcmp(md->keys[i], keep[k]);
        if (kept) {
            md->keys[out] = md->keys[i];
            md->values[out++] = md->values[i];
        } else {
            free(md->keys[i]);
            free(md->values[i]);
        }
    }
    md->count = out;
    md->minimal = 1;
}

void train_metadata_update(lora_metadata *md, long long steps, long long epoch)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!md->minimal) {   /* sd-scripts never updates no_metadata's minimum set */
        set_float(md, "ss_training_finished_at", (double)ts.tv_sec + ts.tv_nsec * 1e-9);
        lora_metadata_set(md, "ss_steps", "%lld", steps);
        lora_metadata_set(md, "ss_epoch", "%lld", epoch);
    }
    char date[32];
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    lora_metadata_set(md, "modelspec.date", "%s", date);
}

int train_metadata_build(lora_metadata *md, const config *cfg, const plan *p,
                         const train_run_info *info, error_info *err)
{
    (void)err;
    unsigned int sid = 0;
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r || fread(&sid, sizeof sid, 1, r) != 1)
        sid = (unsigned int)time(NULL) ^ (unsigned int)getpid();
    if (r)
        fclose(r);
    lora_metadata_set(md, "ss_session_id", "%u", sid);
    set_float(md, "ss_training_started_at", info->started_at);
    lora_metadata_set(md, "ss_output_name", "%s", config_string(cfg, "output_name"));
    set_float(md, "ss_learning_rate", config_float(cfg, "learning_rate"));
    set_opt_float(md, "ss_text_encoder_lr", cfg, "text_encoder_lr");
    set_opt_float(md, "ss_unet_lr", cfg, "unet_lr");
    long long reg = 0;
    for (size_t g = 0; g < p->data.group_count; g++)
        for (size_t i = 0; i < p->data.groups[g].subset_count; i++)
            if (p->data.groups[g].subsets[i].is_reg)
                reg += (long long)p->data.groups[g].subsets[i].image_count *
                       p->data.groups[g].subsets[i].num_repeats;
    lora_metadata_set(md, "ss_num_train_images", "%lld", p->train_samples);
    lora_metadata_set(md, "ss_num_validation_images", "%lld", p->validation_samples);
    lora_metadata_set(md, "ss_num_reg_images", "%lld", reg);
    lora_metadata_set(md, "ss_num_batches_per_epoch", "%lld", p->batches_per_epoch);
    lora_metadata_set(md, "ss_num_epochs", "%lld", p->epochs);
    set_bool(md, "ss_gradient_checkpointing", cfg, "gradient_checkpointing");
    long long accum = config_int(cfg, "gradient_accumulation_steps");
    lora_metadata_set(md, "ss_gradient_accumulation_steps", "%lld", accum > 0 ? accum : 1);
    lora_metadata_set(md, "ss_max_train_steps", "%lld", p->total_steps);
    lora_metadata_set(md, "ss_lr_warmup_steps", "%lld", p->warmup_steps);
    lora_metadata_set(md, "ss_lr_scheduler", "%s", config_string(cfg, "lr_scheduler"));
    /* the module behind the LoRA type, and sd-scripts' net_kwargs: the network_args as
     * kohya_ss passes them (key=value, later keys win), json.dumps'd when there are any */
    network_options no;
    network_options_init(&no);
    const network_type *nt = network_type_find(config_string(cfg, "lora_type"));
    if (!nt || network_options_set_module(&no, nt->network_module, nt->algo, NULL) != 0)
        network_options_init(&no);
    lora_metadata_set(md, "ss_network_module", "%s", network_module_name(&no));
    toml_value *nargs = network_args_for(cfg);
    if (nargs->as.array.count) {
        json_t *kw = json_object();
        for (size_t i = 0; i < nargs->as.array.count; i++) {
            const toml_value *a = nargs->as.array.items[i];
            const char *eq = a->type == TOML_STRING ? strchr(a->as.string.data, '=') : NULL;
            if (!eq)
                continue;
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(eq - a->as.string.data), a->as.string.data);
            json_object_set_new(kw, key, json_string(eq + 1));
        }
        set_json(md, "ss_network_args", kw);
    }
    toml_free(nargs);
    lora_metadata_set(md, "ss_network_dim", "%lld", config_int(cfg, "network_dim"));
    set_float(md, "ss_network_alpha", config_float(cfg, "network_alpha"));
    set_opt_float(md, "ss_network_dropout", cfg, "network_dropout");
    lora_metadata_set(md, "ss_mixed_precision", "%s", config_string(cfg, "mixed_precision"));
    set_bool(md, "ss_full_fp16", cfg, "full_fp16");
    lora_metadata_set(md, "ss_v2", "%s", py_bool_str(info->family == CKPT_SD2));
    lora_metadata_set(md, "ss_base_model_version", "%s",
                      info->family == CKPT_SDXL ? "sdxl_base_v1-0"
                      : info->family == CKPT_SD2 ? (info->v_param ? "sd_v2_v" : "sd_v2")
                                                 : (info->v_param ? "sd_v1_v" : "sd_v1"));
    set_opt_int(md, "ss_clip_skip", cfg, "clip_skip");
    long long mtl = config_int(cfg, "max_token_length");
    if (mtl == 75 || mtl == 0)
        lora_metadata_set(md, "ss_max_token_length", "None");
    else
        lora_metadata_set(md, "ss_max_token_length", "%lld", mtl);
    lora_metadata_set(md, "ss_cache_latents", "%s", py_bool_str(config_bool(cfg, "cache_latents") ||
                                                                config_bool(cfg, "cache_latents_to_disk")));
    lora_metadata_set(md, "ss_seed", "%lld", config_int(cfg, "seed"));
    lora_metadata_set(md, "ss_lowram", "False");
    set_opt_float(md, "ss_noise_offset", cfg, "noise_offset");
    set_opt_int(md, "ss_multires_noise_iterations", cfg, "multires_noise_iterations");
    set_float(md, "ss_multires_noise_discount", config_float(cfg, "multires_noise_discount"));
    set_opt_float(md, "ss_adaptive_noise_scale", cfg, "adaptive_noise_scale");
    set_bool(md, "ss_zero_terminal_snr", cfg, "zero_terminal_snr");
    const char *comment = config_string(cfg, "training_comment");
    lora_metadata_set(md, "ss_training_comment", "%s", comment[0] ? comment : "None");
    lora_metadata_set(md, "ss_sd_scripts_commit_hash", "(unknown)");
    optim_kind kind = OPTIM_ADAMW;
    optim_kind_from_name(config_string(cfg, "optimizer_type"), &kind, NULL);
    static const char *const cls[OPTIM_KIND_COUNT] = {
        [OPTIM_ADAMW] = "torch.optim.adamw.AdamW",
        [OPTIM_ADAMW8BIT] = "bitsandbytes.optim.adamw.AdamW8bit",
        [OPTIM_LION] = "lion_pytorch.lion_pytorch.Lion",
        [OPTIM_SGD_NESTEROV] = "torch.optim.sgd.SGD",
        [OPTIM_ADAFACTOR] = "transformers.optimization.Adafactor",
        [OPTIM_PRODIGY] = "prodigyopt.prodigy.Prodigy",
        [OPTIM_DADAPT_ADAM] = "dadaptation.dadapt_adam.DAdaptAdam",
        [OPTIM_ADAMW_SCHEDULEFREE] = "schedulefree.adamw_schedulefree.AdamWScheduleFree"};
    char optname[1024];
    snprintf(optname, sizeof optname, "%s", cls[kind]);
    const param *oa = params_find("optimizer_args");
    const toml_value *args = oa ? config_get(cfg, oa) : NULL;
    if (args && args->type == TOML_ARRAY && args->as.array.count) {
        size_t n = strlen(optname);
        n += (size_t)snprintf(optname + n, sizeof optname - n, "(");
        for (size_t i = 0; i < args->as.array.count && n < sizeof optname; i++)
            n += (size_t)snprintf(optname + n, sizeof optname - n, "%s%s", i ? "," : "",
                                  args->as.array.items[i]->type == TOML_STRING
                                      ? args->as.array.items[i]->as.string.data : "");
        if (n < sizeof optname)
            snprintf(optname + n, sizeof optname - n, ")");
    }
    lora_metadata_set(md, "ss_optimizer", "%s", optname);
    set_float(md, "ss_max_grad_norm", config_float(cfg, "max_grad_norm"));
    set_float(md, "ss_caption_dropout_rate", config_float(cfg, "caption_dropout_rate"));
    lora_metadata_set(md, "ss_caption_dropout_every_n_epochs", "%lld",
                      config_int(cfg, "caption_dropout_every_n_epochs"));
    set_float(md, "ss_caption_tag_dropout_rate", config_float(cfg, "caption_tag_dropout_rate"));
    lora_metadata_set(md, "ss_face_crop_aug_range", "None");
    set_float(md, "ss_prior_loss_weight", config_float(cfg, "prior_loss_weight"));
    set_opt_float(md, "ss_min_snr_gamma", cfg, "min_snr_gamma");
    set_opt_float(md, "ss_scale_weight_norms", cfg, "scale_weight_norms");
    set_opt_float(md, "ss_ip_noise_gamma", cfg, "ip_noise_gamma");
    set_bool(md, "ss_debiased_estimation", cfg, "debiased_estimation_loss");
    set_bool(md, "ss_noise_offset_random_strength", cfg, "noise_offset_random_strength");
    set_bool(md, "ss_ip_noise_gamma_random_strength", cfg, "ip_noise_gamma_random_strength");
    lora_metadata_set(md, "ss_loss_type", "%s", config_string(cfg, "loss_type"));
    lora_metadata_set(md, "ss_huber_schedule", "%s", config_string(cfg, "huber_schedule"));
    set_float(md, "ss_huber_scale", config_float(cfg, "huber_scale"));
    set_float(md, "ss_huber_c", config_float(cfg, "huber_c"));
    set_bool(md, "ss_fp8_base", cfg, "fp8_base");
    lora_metadata_set(md, "ss_fp8_base_unet", "False");
    /* the command-line values (a dataset config's own validation_split is not among them) */
    if (config_is_default(cfg, params_find("validation_seed")))
        lora_metadata_set(md, "ss_validation_seed", "None");
    else
        lora_metadata_set(md, "ss_validation_seed", "%lld", config_int(cfg, "validation_seed"));
    set_float(md, "ss_validation_split", config_float(cfg, "validation_split"));
    set_opt_int(md, "ss_max_validation_steps", cfg, "max_validation_steps");
    set_opt_int(md, "ss_validate_every_n_epochs", cfg, "validate_every_n_epochs");
    set_opt_int(md, "ss_validate_every_n_steps", cfg, "validate_every_n_steps");
    const char *ri = config_string(cfg, "resize_interpolation");
    lora_metadata_set(md, "ss_resize_interpolation", "%s", ri[0] ? ri : "None");

    int width = 512, height = 512;
    if (p->data.group_count) {
        width = p->data.groups[0].buckets.width;
        height = p->data.groups[0].buckets.height;
    }
    if (p->mode && strcmp(p->mode, "folders") != 0)
        dataset_config_keys(md, p);
    else if (p->data.group_count)   /* sd-scripts' legacy keys, only without --dataset_config */
        folder_dataset_keys(md, cfg, p, accum);

    const char *model = config_string(cfg, "pretrained_model_name_or_path");
    lora_metadata_set(md, "ss_sd_model_name", "%s", base_name(model));
    char legacy[9], full[65];
    if (access(model, R_OK) == 0 && lora_model_file_hashes(model, legacy, full, NULL) == 0) {
        lora_metadata_set(md, "ss_sd_model_hash", "%s", legacy);
        lora_metadata_set(md, "ss_new_sd_model_hash", "%s", full);
    }
    const char *vae = config_string(cfg, "vae");
    if (vae[0]) {
        lora_metadata_set(md, "ss_vae_name", "%s", base_name(vae));
        if (access(vae, R_OK) == 0 && lora_model_file_hashes(vae, legacy, full, NULL) == 0) {
            lora_metadata_set(md, "ss_vae_hash", "%s", legacy);
            lora_metadata_set(md, "ss_new_vae_hash", "%s", full);
        }
    }
    modelspec(md, cfg, info, width, height);
    train_metadata_update(md, 0, 0);
    if (config_bool(cfg, "no_metadata"))
        keep_minimum(md);
    return 0;
}
