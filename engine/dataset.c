/* dataset.c — finding the images of a run and reading their sizes; see dataset.h. */
#include "engine/dataset.h"
#include "engine/dataset_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>
#include <webp/decode.h>

static const char *const image_extensions[] = {".png", ".jpg", ".jpeg", ".webp", ".bmp", NULL};

bool dataset_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return false;
    for (const char *const *e = image_extensions; *e; e++)
        if (strcasecmp(dot, *e) == 0)
            return true;
    return false;
}

void dataset_add_note(dataset_set *s, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **grown = realloc(s->notes, (s->note_count + 1) * sizeof *grown);
    if (!grown)
        return;
    s->notes = grown;
    s->notes[s->note_count++] = strdup(buf);
}

char *dataset_join_path(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *out = malloc(len);
    snprintf(out, len, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return out;
}

/* Reads only the header for the size; webp through libwebp, the rest through stb_image. */
bool dataset_image_size(const char *path, int *w, int *h)
{
    const char *dot = strrchr(path, '.');
    if (dot && strcasecmp(dot, ".webp") == 0) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return false;
        uint8_t head[64];
        size_t n = fread(head, 1, sizeof head, f);
        fclose(f);
        return WebPGetInfo(head, n, w, h) && *w > 0 && *h > 0;
    }
    int comp;
    return stbi_info(path, w, h, &comp) && *w > 0 && *h > 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted directory entries (so plans and data order do not depend on the file system). */
char **dataset_list_dir(const char *dir, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **grown = realloc(names, cap * sizeof *grown);
            if (!grown)
                break;
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    *count = n;
    if (!names)
        names = calloc(1, sizeof *names);
    return names;
}

void dataset_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void scan_subset_images(dataset_subset *sub, dataset_set *set)
{
    size_t n = 0;
    char **names = dataset_list_dir(sub->image_dir, &n);
    if (!names)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!dataset_is_image_name(names[i]))
            continue;
        char *path = dataset_join_path(sub->image_dir, names[i]);
        int w = 0, h = 0;
        if (!dataset_image_size(path, &w, &h)) {
            dataset_add_note(set, "%s: not a readable image, skipped", path);
            sub->unreadable++;
            free(path);
            continue;
        }
        if (sub->image_count == sub->image_capacity) {
            sub->image_capacity = sub->image_capacity ? sub->image_capacity * 2 : 32;
            sub->images = realloc(sub->images, sub->image_capacity * sizeof *sub->images);
        }
        dataset_image *img = &sub->images[sub->image_count++];
        *img = (dataset_image){0};
        img->path = path;
        img->width = w;
        img->height = h;
        /* caption file: <stem><caption_extension> */
        const char *dot = strrchr(path, '.');
        size_t stem = (size_t)(dot - path);
        size_t len = stem + strlen(sub->caption_extension) + 1;
        char *caption = malloc(len);
        snprintf(caption, len, "%.*s%s", (int)stem, path, sub->caption_extension);
        struct stat st;
        img->has_caption = stat(caption, &st) == 0 && st.st_size > 0;
        free(caption);
    }
    dataset_free_names(names, n);
}

dataset_subset *dataset_add_subset(dataset_group *g)
{
    g->subsets = realloc(g->subsets, (g->subset_count + 1) * sizeof *g->subsets);
    dataset_subset *s = &g->subsets[g->subset_count++];
    memset(s, 0, sizeof *s);
    return s;
}

/* sd-scripts: the name split on "_"; int() of the first part (spaces around and a sign
 * allowed, as Python's int) must be >= 1, the rest re-joined is the class tokens ("10" alone:
 * none; captions then come from the caption files). */
bool dataset_parse_folder_name(const char *name, int *repeats, const char **tokens)
{
    const char *us = strchr(name, '_');
    size_t len = us ? (size_t)(us - name) : strlen(name);
    char first[32];
    if (len == 0 || len >= sizeof first)
        return false;
    memcpy(first, name, len);
    first[len] = '\0';
    char *end;   /* strtol skips leading space and reads a sign, as int() does */
    long n = strtol(first, &end, 10);
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end || n < 1 || n > 1000000)
        return false;
    *repeats = (int)n;
    *tokens = us ? us + 1 : "";
    return true;
}

static int scan_root(const dataset_defaults *d, const char *root, bool is_reg, dataset_group *g,
                     dataset_set *set, error_info *err)
{
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return error_set(err, NULL, 0, 0, is_reg ? "folders.reg_data_dir" : "model.train_data_dir",
                         "\"%s\" is not a folder", root);
    size_t n = 0;
    char **names = dataset_list_dir(root, &n);
    if (!names)
        return error_set(err, NULL, 0, 0, is_reg ? "folders.reg_data_dir" : "model.train_data_dir",
                         "cannot read \"%s\": %s", root, strerror(errno));
    size_t loose_images = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = dataset_join_path(root, names[i]);
        bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        int repeats;
        const char *tokens;
        if (!dir) {
            loose_images += dataset_is_image_name(names[i]);
        } else if (!dataset_parse_folder_name(names[i], &repeats, &tokens)) {
            dataset_add_note(set, "%s: folder name does not start with <repeats>_ (e.g. 10_%s), skipped",
                     path, names[i]);
        } else {
            dataset_subset *s = dataset_add_subset(g);
            s->image_dir = strdup(path);
            s->class_tokens = strdup(tokens);
            s->num_repeats = repeats;
            s->is_reg = is_reg;
            s->caption_extension = strdup(d->caption_extension);
            scan_subset_images(s, set);
        }
        free(path);
    }
    if (loose_images)
        dataset_add_note(set, "%s holds %zu image%s directly; kohya's convention puts them in <repeats>_<tokens> "
                      "subfolders (e.g. %s/10_mychar person/), so they are not used",
                 root, loose_images, loose_images == 1 ? "" : "s", root);
    dataset_free_names(names, n);
    return 0;
}

/* validation_split and validation_seed from the first level that sets them */
static int resolve_validation(dataset_group *g, const toml_value *const levels[], size_t n,
                              const char *origin, error_info *err)
{
    const toml_value *v = dataset_lookup("validation_split", levels, n);
    if (v) {
        double x = v->type == TOML_FLOAT ? v->as.floating : v->type == TOML_INTEGER ? (double)v->as.integer : NAN;
        if (!(x >= 0.0 && x <= 1.0))
            return error_set(err, origin, v->line, 0, "validation_split", "must be a number from 0 "
                             "to 1 (the fraction of each subset's images held out for validation)");
        g->validation_split = x;
    }
    v = dataset_lookup("validation_seed", levels, n);
    if (v) {
        if (v->type != TOML_INTEGER)
            return error_set(err, origin, v->line, 0, "validation_seed", "must be an integer");
        g->has_validation_seed = true;
        g->validation_seed = v->as.integer;
    }
    return 0;
}

/* sd-scripts' adjust_min_max_bucket_reso_by_steps (BaseDataset): min rounded down and max
 * up to the step, then min(resolution) >= min and max(resolution) <= max are asserted. */
static int adjust_buckets(bucket_settings *b, const char *origin, const char *where, error_info *err)
{
    if (!b->enabled)
        return 0;
    if (b->steps <= 0)
        return error_set(err, origin, 0, 0, where, "bucket_reso_steps must be at least 1 (it is %d)",
                         b->steps);
    if (b->min_reso % b->steps)
        b->min_reso -= b->min_reso % b->steps;
    if (b->max_reso % b->steps)
        b->max_reso += b->steps - b->max_reso % b->steps;
    int lo = b->width < b->height ? b->width : b->height, hi = b->width > b->height ? b->width : b->height;
    if (lo < b->min_reso)
        return error_set(err, origin, 0, 0, where, "min_bucket_reso %d is larger than the resolution's "
                         "shorter side %d (sd-scripts refuses it too)", b->min_reso, lo);
    if (hi > b->max_reso)
        return error_set(err, origin, 0, 0, where, "max_bucket_reso %d is smaller than the resolution's "
                         "longer side %d (sd-scripts refuses it too)", b->max_reso, hi);
    return 0;
}

int dataset_scan_folders(const dataset_defaults *d, dataset_set *out, error_info *err)
{
    memset(out, 0, sizeof *out);
    out->groups = calloc(1, sizeof *out->groups);
    out->group_count = 1;
    dataset_group *g = &out->groups[0];
    g->buckets = d->buckets;
    g->batch_size = d->batch_size;
    if (adjust_buckets(&g->buckets, NULL, "min_bucket_reso", err) != 0)
        return -1;
    const toml_value *levels[1] = {d->cli};
    if (d->cli && resolve_validation(g, levels, 1, NULL, err) != 0)
        return -1;
    if (scan_root(d, d->train_data_dir, false, g, out, err) != 0)
        return -1;
    if (d->reg_data_dir && d->reg_data_dir[0] && scan_root(d, d->reg_data_dir, true, g, out, err) != 0)
        return -1;
    /* sd-scripts builds the folder subsets as a dataset config without options, so every
     * option comes from the command line */
    if (d->cli)
        for (size_t i = 0; i < g->subset_count; i++) {
            const toml_value *levels[1] = {d->cli};
            if (dataset_options_resolve(&g->subsets[i], levels, 1, NULL, err) != 0)
                return -1;
        }
    return 0;
}

/* sd-scripts' lookup order: subset → dataset → general (the command line is the caller's). */
static const toml_value *lookup(const char *key, const toml_value *subset, const toml_value *dataset,
                                const toml_value *general)
{
    const toml_value *levels[3] = {subset, dataset, general};
    return dataset_lookup(key, levels, 3);
}

static int int_at(const toml_value *v, int fallback, int lo, const char *key, const char *origin,
                  int *out, error_info *err)
{
    if (!v) {
        *out = fallback;
        return 0;
    }
    if (v->type != TOML_INTEGER || v->as.integer < lo || v->as.integer > 65536)
        return error_set(err, origin, v->line, 0, key, "must be a whole number from %d to 65536", lo);
    *out = (int)v->as.integer;
    return 0;
}

static int bool_at(const toml_value *v, bool fallback, const char *key, const char *origin,
                   bool *out, error_info *err)
{
    if (!v) {
        *out = fallback;
        return 0;
    }
    if (v->type != TOML_BOOL)
        return error_set(err, origin, v->line, 0, key, "must be true or false");
    *out = v->as.boolean;
    return 0;
}

/* A [[datasets]] entry's own settings: dataset → general → command line. */
static int resolve_group(dataset_group *g, const dataset_defaults *d, const toml_value *ds,
                         const toml_value *general, const char *origin, error_info *err)
{
    bucket_settings *b = &g->buckets;
    *b = d->buckets;
    const toml_value *bs = lookup("batch_size", NULL, ds, general);
    if (!bs)
        bs = lookup("train_batch_size", NULL, ds, general);
    if (bool_at(lookup("enable_bucket", NULL, ds, general), d->buckets.enabled, "datasets.enable_bucket",
                origin, &b->enabled, err) ||
        bool_at(lookup("bucket_no_upscale", NULL, ds, general), d->buckets.no_upscale,
                "datasets.bucket_no_upscale", origin, &b->no_upscale, err) ||
        int_at(lookup("min_bucket_reso", NULL, ds, general), d->buckets.min_reso, 1,
               "datasets.min_bucket_reso", origin, &b->min_reso, err) ||
        int_at(lookup("max_bucket_reso", NULL, ds, general), d->buckets.max_reso, 1,
               "datasets.max_bucket_reso", origin, &b->max_reso, err) ||
        int_at(lookup("bucket_reso_steps", NULL, ds, general), d->buckets.steps, 1,
               "datasets.bucket_reso_steps", origin, &b->steps, err) ||
        int_at(bs, d->batch_size, 1, "datasets.batch_size", origin, &g->batch_size, err))
        return -1;
    const toml_value *res = lookup("resolution", NULL, ds, general);
    if (res) {
        bool ok = false;
        if (res->type == TOML_INTEGER && res->as.integer > 0 && res->as.integer <= 16384) {
            b->width = b->height = (int)res->as.integer;
            ok = true;
        } else if (res->type == TOML_ARRAY && res->as.array.count == 2) {
            const toml_value *w = res->as.array.items[0], *h = res->as.array.items[1];
            ok = w->type == TOML_INTEGER && h->type == TOML_INTEGER && w->as.integer > 0 &&
                 h->as.integer > 0 && w->as.integer <= 16384 && h->as.integer <= 16384;
            if (ok) {
                b->width = (int)w->as.integer;
                b->height = (int)h->as.integer;
            }
        }
        if (!ok)
            return error_set(err, origin, res->line, 0, "datasets.resolution", "must be N or [W, H]");
    }
    const toml_value *levels[3] = {ds, general, d->cli};
    if (resolve_validation(g, levels, 3, origin, err) != 0)
        return -1;
    int line = ds->line;
    if (adjust_buckets(b, origin, "datasets.min_bucket_reso", err) != 0) {
        err->line = line;
        return -1;
    }
    return 0;
}

static bool same_dir(const dataset_group *g, size_t before, const char *dir)
{
    for (size_t i = 0; i < before; i++)
        if (g->subsets[i].image_dir && strcmp(g->subsets[i].image_dir, dir) == 0)
            return true;
    return false;
}

int dataset_scan_toml(const dataset_defaults *d, const toml_value *general,
                      const toml_value *datasets, const char *origin, dataset_set *out,
                      error_info *err)
{
    memset(out, 0, sizeof *out);
    size_t count = datasets && datasets->type == TOML_ARRAY ? datasets->as.array.count : 0;
    if (count == 0)
        return error_set(err, origin, 0, 0, "datasets", "the dataset config has no [[datasets]]");
    if (general && general->type != TOML_TABLE)
        return error_set(err, origin, general->line, 0, "general", "must be a table");
    out->groups = calloc(count, sizeof *out->groups);
    out->group_count = count;
    for (size_t i = 0; i < count; i++) {
        const toml_value *ds = datasets->as.array.items[i];
        dataset_group *g = &out->groups[i];
        if (ds->type != TOML_TABLE)
            return error_set(err, origin, ds->line, 0, "datasets", "must be an array of tables ([[datasets]])");
        if (resolve_group(g, d, ds, general, origin, err) != 0)
            return -1;
        const toml_value *subsets = toml_table_get(ds, "subsets");
        size_t n = subsets && subsets->type == TOML_ARRAY ? subsets->as.array.count : 0;
        size_t finetune = 0;
        for (size_t j = 0; j < n; j++)
            finetune += subsets->as.array.items[j]->type == TOML_TABLE &&
                        toml_table_get(subsets->as.array.items[j], "metadata_file") != NULL;
        if (finetune && finetune < n)
            return error_set(err, origin, ds->line, 0, "datasets.subsets.metadata_file",
                             "DreamBooth subsets (image_dir) and fine-tuning subsets (metadata_file) "
                             "cannot be mixed in one dataset; put them in separate [[datasets]]");
        /* sd-scripts reads a dataset as masked_loss's conditioning dataset only when every
         * subset names conditioning_data_dir; elsewhere its schema refuses the key */
        size_t conditioning = 0;
        for (size_t j = 0; j < n; j++)
            conditioning += subsets->as.array.items[j]->type == TOML_TABLE &&
                            toml_table_get(subsets->as.array.items[j], "conditioning_data_dir") != NULL;
        if (conditioning && (conditioning < n || finetune))
            return error_set(err, origin, ds->line, 0, "datasets.subsets.conditioning_data_dir",
                             "dataset %zu: %s", i + 1, finetune
                             ? "conditioning_data_dir cannot be used with metadata_file (sd-scripts' "
                               "mask images go with image_dir subsets)"
                             : "either every subset of a dataset has conditioning_data_dir or none "
                               "has (sd-scripts refuses the key otherwise); put the subsets with "
                               "mask images in their own [[datasets]]");
        for (size_t j = 0; j < n; j++) {
            const toml_value *ss = subsets->as.array.items[j];
            if (ss->type != TOML_TABLE)
                return error_set(err, origin, ss->line, 0, "datasets.subsets", "must be an array of tables");
            const toml_value *dir = toml_table_get(ss, "image_dir");
            if (dir && dir->type != TOML_STRING)
                return error_set(err, origin, dir->line, 0, "datasets.subsets.image_dir", "must be a string");
            if (finetune) {
                if (dataset_scan_finetune(g, ss, ds, general, d, origin, out, err) != 0)
                    return -1;
                continue;
            }
            if (!dir)
                return error_set(err, origin, ss->line, 0, "datasets.subsets", "a subset needs image_dir");
            const toml_value *reps = lookup("num_repeats", ss, ds, general);
            int repeats = 1;
            if (int_at(reps, 1, 0, "datasets.subsets.num_repeats", origin, &repeats, err) != 0)
                return -1;
            if (repeats < 1) {   /* sd-scripts ignores such a subset */
                dataset_add_note(out, "%s: num_repeats is 0, subset ignored", dir->as.string.data);
                continue;
            }
            if (same_dir(g, g->subset_count, dir->as.string.data)) {
                dataset_add_note(out, "%s: a second subset of the same image_dir in one dataset is ignored "
                              "(sd-scripts uses the first)", dir->as.string.data);
                continue;
            }
            dataset_subset *s = dataset_add_subset(g);
            s->image_dir = strdup(dir->as.string.data);
            s->num_repeats = repeats;
            bool reg = false;
            if (bool_at(toml_table_get(ss, "is_reg"), false, "datasets.subsets.is_reg", origin, &reg, err))
                return -1;
            s->is_reg = reg;
            s->caption_extension = strdup(d->caption_extension && d->caption_extension[0]
                                          ? d->caption_extension : ".caption");
            const toml_value *levels[4] = {ss, ds, general, d->cli};
            if (dataset_options_resolve(s, levels, 4, origin, err) != 0)
                return -1;
            if (conditioning && dataset_conditioning_subset(s, ss, ds, origin, err) != 0)
                return -1;
            struct stat st;
            if (stat(s->image_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                dataset_add_note(out, "%s: image_dir is not a folder", s->image_dir);
                continue;
            }
            bool cached = false;
            if (s->opt.cache_info && dataset_cache_info_read(s, &cached, err) != 0)
                return -1;
            if (cached)
                dataset_add_note(out, "%s: images, sizes and captions from its metadata_cache.json "
                                 "(cache_info; delete the file after changing the folder)", s->image_dir);
            else {
                scan_subset_images(s, out);
                if (s->opt.cache_info && dataset_cache_info_write(s, err) != 0)
                    return -1;
            }
        }
        if (conditioning && dataset_conditioning_pair(g, origin, err) != 0)
            return -1;
    }
    return 0;
}

void dataset_set_free(dataset_set *s)
{
    for (size_t i = 0; i < s->group_count; i++) {
        dataset_group *g = &s->groups[i];
        for (size_t j = 0; j < g->subset_count; j++) {
            dataset_subset *sub = &g->subsets[j];
            for (size_t k = 0; k < sub->image_count; k++)
                free(sub->images[k].path);
            for (size_t k = 0; k < sub->image_count; k++) {
                free(sub->images[k].caption);
                free(sub->images[k].tags);
                free(sub->images[k].cond_path);
            }
            free(sub->images);
            free(sub->image_dir);
            free(sub->metadata_file);
            free(sub->conditioning_data_dir);
            free(sub->class_tokens);
            free(sub->caption_extension);
            for (size_t k = 0; k < sizeof sub->opt_strings / sizeof *sub->opt_strings; k++)
                free(sub->opt_strings[k]);
        }
        free(g->subsets);
    }
    free(s->groups);
    for (size_t i = 0; i < s->note_count; i++)
        free(s->notes[i]);
    free(s->notes);
    memset(s, 0, sizeof *s);
}
