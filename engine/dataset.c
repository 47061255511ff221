/* dataset.c — finding the images of a run and reading their sizes; see dataset.h. */
#include "engine/dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
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

static void add_note(dataset_set *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(dataset_set *s, const char *fmt, ...)
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

static char *join_path(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *out = malloc(len);
    snprintf(out, len, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    return out;
}

/* Reads only the header for the size; webp through libwebp, the rest through stb_image. */
static bool image_size(const char *path, int *w, int *h)
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
static char **list_dir(const char *dir, size_t *count)
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

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void scan_subset_images(dataset_subset *sub, dataset_set *set)
{
    size_t n = 0;
    char **names = list_dir(sub->image_dir, &n);
    if (!names)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!dataset_is_image_name(names[i]))
            continue;
        char *path = join_path(sub->image_dir, names[i]);
        int w = 0, h = 0;
        if (!image_size(path, &w, &h)) {
            add_note(set, "%s: not a readable image, skipped", path);
            sub->unreadable++;
            free(path);
            continue;
        }
        if (sub->image_count == sub->image_capacity) {
            sub->image_capacity = sub->image_capacity ? sub->image_capacity * 2 : 32;
            sub->images = realloc(sub->images, sub->image_capacity * sizeof *sub->images);
        }
        dataset_image *img = &sub->images[sub->image_count++];
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
    free_names(names, n);
}

static dataset_subset *add_subset(dataset_group *g)
{
    g->subsets = realloc(g->subsets, (g->subset_count + 1) * sizeof *g->subsets);
    dataset_subset *s = &g->subsets[g->subset_count++];
    memset(s, 0, sizeof *s);
    return s;
}

/* sd-scripts: `<N>_<tokens>`; int(N) >= 1, the rest re-joined is the class tokens. */
static bool parse_folder_name(const char *name, int *repeats, const char **tokens)
{
    const char *us = strchr(name, '_');
    if (!us || us == name)
        return false;
    char *end;
    long n = strtol(name, &end, 10);
    if (end != us || n < 1 || n > 1000000)
        return false;
    *repeats = (int)n;
    *tokens = us + 1;
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
    char **names = list_dir(root, &n);
    if (!names)
        return error_set(err, NULL, 0, 0, is_reg ? "folders.reg_data_dir" : "model.train_data_dir",
                         "cannot read \"%s\": %s", root, strerror(errno));
    size_t loose_images = 0;
    for (size_t i = 0; i < n; i++) {
        char *path = join_path(root, names[i]);
        bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        int repeats;
        const char *tokens;
        if (!dir) {
            loose_images += dataset_is_image_name(names[i]);
        } else if (!parse_folder_name(names[i], &repeats, &tokens)) {
            add_note(set, "%s: folder name does not start with <repeats>_ (e.g. 10_%s), skipped",
                     path, names[i]);
        } else {
            dataset_subset *s = add_subset(g);
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
        add_note(set, "%s holds %zu image%s directly; kohya's convention puts them in <repeats>_<tokens> "
                      "subfolders (e.g. %s/10_mychar person/), so they are not used",
                 root, loose_images, loose_images == 1 ? "" : "s", root);
    free_names(names, n);
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
    if (scan_root(d, d->train_data_dir, false, g, out, err) != 0)
        return -1;
    if (d->reg_data_dir && d->reg_data_dir[0] && scan_root(d, d->reg_data_dir, true, g, out, err) != 0)
        return -1;
    return 0;
}

/* sd-scripts' lookup order: subset → dataset → general → CLI default. */
static const toml_value *lookup(const char *key, const toml_value *subset, const toml_value *dataset,
                                const toml_value *general)
{
    const toml_value *v = NULL;
    if (subset && (v = toml_table_get(subset, key)))
        return v;
    if (dataset && (v = toml_table_get(dataset, key)))
        return v;
    if (general && (v = toml_table_get(general, key)))
        return v;
    return NULL;
}

static int int_of(const toml_value *v, int fallback)
{
    if (!v)
        return fallback;
    if (v->type == TOML_INTEGER)
        return (int)v->as.integer;
    if (v->type == TOML_FLOAT)
        return (int)v->as.floating;
    return fallback;
}

static bool bool_of(const toml_value *v, bool fallback)
{
    return v && v->type == TOML_BOOL ? v->as.boolean : fallback;
}

int dataset_scan_toml(const dataset_defaults *d, const toml_value *general,
                      const toml_value *datasets, const char *origin, dataset_set *out,
                      error_info *err)
{
    memset(out, 0, sizeof *out);
    size_t count = datasets && datasets->type == TOML_ARRAY ? datasets->as.array.count : 0;
    if (count == 0)
        return error_set(err, origin, 0, 0, "datasets", "the dataset config has no [[datasets]]");
    out->groups = calloc(count, sizeof *out->groups);
    out->group_count = count;
    for (size_t i = 0; i < count; i++) {
        const toml_value *ds = datasets->as.array.items[i];
        dataset_group *g = &out->groups[i];
        g->buckets = d->buckets;
        /* sd-scripts' dataset-level defaults differ from the GUI's: bucketing off, max 1024 */
        g->buckets.enabled = bool_of(lookup("enable_bucket", NULL, ds, general), false);
        g->buckets.min_reso = int_of(lookup("min_bucket_reso", NULL, ds, general), 256);
        g->buckets.max_reso = int_of(lookup("max_bucket_reso", NULL, ds, general), 1024);
        g->buckets.steps = int_of(lookup("bucket_reso_steps", NULL, ds, general), 64);
        g->buckets.no_upscale = bool_of(lookup("bucket_no_upscale", NULL, ds, general), false);
        const toml_value *res = lookup("resolution", NULL, ds, general);
        if (res && res->type == TOML_INTEGER)
            g->buckets.width = g->buckets.height = (int)res->as.integer;
        else if (res && res->type == TOML_ARRAY && res->as.array.count == 2) {
            g->buckets.width = int_of(res->as.array.items[0], d->buckets.width);
            g->buckets.height = int_of(res->as.array.items[1], d->buckets.height);
        }
        g->batch_size = int_of(lookup("batch_size", NULL, ds, general), d->batch_size);
        const toml_value *subsets = toml_table_get(ds, "subsets");
        size_t n = subsets && subsets->type == TOML_ARRAY ? subsets->as.array.count : 0;
        for (size_t j = 0; j < n; j++) {
            const toml_value *ss = subsets->as.array.items[j];
            const toml_value *dir = toml_table_get(ss, "image_dir");
            if (!dir || dir->type != TOML_STRING) {
                if (toml_table_get(ss, "metadata_file"))
                    return error_set(err, origin, ss->line, 0, "datasets.subsets.metadata_file",
                                     "fine-tuning datasets (metadata_file) are not supported yet; use image_dir");
                return error_set(err, origin, ss->line, 0, "datasets.subsets",
                                 "a subset needs image_dir");
            }
            dataset_subset *s = add_subset(g);
            s->image_dir = strdup(dir->as.string.data);
            const toml_value *tokens = lookup("class_tokens", ss, ds, general);
            s->class_tokens = strdup(tokens && tokens->type == TOML_STRING ? tokens->as.string.data : "");
            s->num_repeats = int_of(lookup("num_repeats", ss, ds, general), 1);
            s->is_reg = bool_of(toml_table_get(ss, "is_reg"), false);
            const toml_value *ext = lookup("caption_extension", ss, ds, general);
            /* sd-scripts' DreamBooth default is .caption; the GUI passes its own */
            s->caption_extension = strdup(ext && ext->type == TOML_STRING ? ext->as.string.data
                                                                          : d->caption_extension);
            struct stat st;
            if (stat(s->image_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                add_note(out, "%s: image_dir is not a folder", s->image_dir);
                continue;
            }
            scan_subset_images(s, out);
        }
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
            free(sub->images);
            free(sub->image_dir);
            free(sub->class_tokens);
            free(sub->caption_extension);
        }
        free(g->subsets);
    }
    free(s->groups);
    for (size_t i = 0; i < s->note_count; i++)
        free(s->notes[i]);
    free(s->notes);
    memset(s, 0, sizeof *s);
}
