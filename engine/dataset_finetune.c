/* dataset_finetune.c — fine-tuning subsets: the images and captions of a metadata file, as
 * sd-scripts' FineTuningDataset reads them (library/train_util.py at 48d368f):
 *
 *   - metadata_file is JSON {image_key: {"caption": ..., "tags": ..., "image_size": [w, h]}}
 *     (kohya's merge_captions_to_metadata / merge_dd_tags_to_metadata), or with a .jsonl
 *     name one {"image_path", "caption", "tags", "image_size"} object per line. A missing
 *     file is an error; an empty one leaves the subset out.
 *   - an absolute key is the image's path; a relative one is joined to image_dir (required
 *     then). Keys written without an extension (merge_captions_to_metadata's default, the
 *     image's stem) are looked up with each image extension, as earlier sd-scripts did; an
 *     image that is not there is left out with a note.
 *   - caption: "caption" (missing or null: ""), then the tags: without enable_wildcard
 *     caption + caption_separator + tags (just the tags when the caption is empty); with it,
 *     each non-blank caption line gets separator + tags (newlines in the tags becoming
 *     separators), blank lines dropped.
 *   - "image_size" gives the size without opening the image; else the header is read.
 *     train_resolution (prepare_buckets_latents' bucket) is not used: sd-scripts buckets
 *     again from the size too.
 *   - num_repeats applies to every image; fine-tuning images are never regularisation. */
#include "engine/dataset_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* {key: {...}} from a .json, or the same built from a .jsonl's image_path lines */
static json_t *read_metadata(const char *path, const char *origin, int line, error_info *err)
{
    json_error_t je;
    if (!ends_with(path, ".jsonl")) {
        json_t *root = json_load_file(path, 0, &je);
        if (!root)
            return error_set(err, path, je.line, je.column, "metadata_file", "not valid JSON: %s",
                             je.text), NULL;
        if (!json_is_object(root)) {
            json_decref(root);
            return error_set(err, path, 0, 0, "metadata_file", "a fine-tuning metadata file is a "
                             "JSON object of image → {caption, tags}"), NULL;
        }
        return root;
    }
    FILE *f = fopen(path, "r");
    if (!f)
        return error_set(err, origin, line, 0, "datasets.subsets.metadata_file", "cannot read \"%s\"",
                         path), NULL;
    json_t *root = json_object();
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while ((n = getline(&buf, &cap, f)) > 0) {
        lineno++;
        json_t *o = json_loads(buf, 0, &je);
        json_t *ip = o ? json_object_get(o, "image_path") : NULL;
        if (!o || !json_is_object(o) || !json_is_string(ip)) {
            json_decref(o);
            json_decref(root);
            free(buf);
            fclose(f);
            return error_set(err, path, lineno, 0, "metadata_file", "each line must be a JSON object "
                             "with a string image_path"), NULL;
        }
        json_object_set(root, json_string_value(ip), o);
        json_decref(o);
    }
    free(buf);
    fclose(f);
    return root;
}

/* The image of a key: the path, else (no extension given) the path with an image extension */
static char *find_image(const char *image_dir, const char *key)
{
    char *path = key[0] == '/' || !image_dir ? strdup(key) : dataset_join_path(image_dir, key);
    if (!path || is_file(path) || dataset_is_image_name(path))
        return path;
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".webp", ".bmp",
                                       ".PNG", ".JPG", ".JPEG", ".WEBP", ".BMP", NULL};
    size_t len = strlen(path) + 8;
    char *with = malloc(len);
    for (const char *const *e = exts; with && *e; e++) {
        snprintf(with, len, "%s%s", path, *e);
        if (is_file(with)) {
            free(path);
            return with;
        }
    }
    free(with);
    return path;
}

/* sd-scripts' caption + tags joining (see the top of this file). Malloc'd. */
static char *join_caption(const char *caption, const char *tags, const char *sep, bool wildcard)
{
    size_t cl = strlen(caption), sl = strlen(sep);
    if (!tags || (!wildcard && !tags[0]))
        return strdup(caption);
    if (!wildcard) {
        size_t cap = cl + sl + strlen(tags) + 1;
        char *out = malloc(cap);
        if (out)
            snprintf(out, cap, "%s%s%s", caption, cl ? sep : "", tags);
        return out;
    }
    /* tags on one line: newlines become separators */
    char *t = malloc(strlen(tags) * (sl + 1) + 1), *w = t;
    if (!t)
        return NULL;
    for (const char *c = tags; *c; c++) {
        if (*c == '\n') {
            memcpy(w, sep, sl);
            w += sl;
        } else {
            *w++ = *c;
        }
    }
    *w = '\0';
    size_t lines = 1;
    for (const char *c = caption; *c; c++)
        lines += *c == '\n';
    size_t cap = cl + lines * (sl + strlen(t) + 1) + 1, len = 0;
    char *out = malloc(cap);
    if (!out) {
        free(t);
        return NULL;
    }
    out[0] = '\0';
    for (const char *line = caption; line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        bool blank = true;
        for (size_t i = 0; i < n; i++)
            blank &= line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\f' ||
                     line[i] == '\v';
        if (!blank)
            len += (size_t)snprintf(out + len, cap - len, "%s%.*s%s%s", len ? "\n" : "", (int)n, line,
                                    sep, t);
        line = nl ? nl + 1 : NULL;
    }
    free(t);
    return out;
}

/* A string field of an image's entry: NULL when missing or null (None); *bad when another type */
static const char *string_field(json_t *md, const char *key, int *bad)
{
    json_t *v = json_object_get(md, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

int dataset_scan_finetune(dataset_group *g, const toml_value *ss, const toml_value *ds,
                          const toml_value *general, const dataset_defaults *d,
                          const char *origin, dataset_set *out, error_info *err)
{
    const toml_value *mf = toml_table_get(ss, "metadata_file");
    const toml_value *dir = toml_table_get(ss, "image_dir");
    if (mf->type != TOML_STRING)
        return error_set(err, origin, mf->line, 0, "datasets.subsets.metadata_file", "must be a string");
    const char *path = mf->as.string.data;
    const toml_value *levels[4] = {ss, ds, general, d->cli};
    const toml_value *reps = dataset_lookup("num_repeats", levels, 4);
    int repeats = 1;
    if (reps) {
        if (reps->type != TOML_INTEGER || reps->as.integer < 0 || reps->as.integer > 1000000)
            return error_set(err, origin, reps->line, 0, "datasets.subsets.num_repeats",
                             "must be a whole number >= 0");
        repeats = (int)reps->as.integer;
    }
    if (repeats < 1) {
        dataset_add_note(out, "%s: num_repeats is 0, subset ignored", path);
        return 0;
    }
    for (size_t i = 0; i < g->subset_count; i++)
        if (g->subsets[i].metadata_file && strcmp(g->subsets[i].metadata_file, path) == 0) {
            dataset_add_note(out, "%s: a second subset of the same metadata_file in one dataset is "
                                  "ignored (sd-scripts uses the first)", path);
            return 0;
        }
    if (!is_file(path))
        return error_set(err, origin, mf->line, 0, "datasets.subsets.metadata_file",
                         "\"%s\" does not exist (sd-scripts stops too: no metadata)", path);
    json_t *meta = read_metadata(path, origin, mf->line, err);
    if (!meta)
        return -1;
    if (json_object_size(meta) == 0) {
        dataset_add_note(out, "%s: no images in the metadata, subset ignored", path);
        json_decref(meta);
        return 0;
    }
    dataset_subset *s = dataset_add_subset(g);
    s->metadata_file = strdup(path);
    s->image_dir = dir && dir->type == TOML_STRING ? strdup(dir->as.string.data) : NULL;
    s->num_repeats = repeats;
    s->caption_extension = strdup(".caption");
    if (dataset_options_resolve(s, levels, 4, origin, err) != 0) {
        json_decref(meta);
        return -1;
    }
    const char *sep = s->opt.captions.caption_separator ? s->opt.captions.caption_separator : ",";
    const char *key;
    json_t *md;
    int rc = 0;
    json_object_foreach(meta, key, md) {
        if (!json_is_object(md)) {
            rc = error_set(err, path, 0, 0, "metadata_file", "%s: an image's entry must be an object "
                           "of caption, tags, ...", key);
            break;
        }
        if (key[0] != '/' && !s->image_dir) {
            rc = error_set(err, origin, ss->line, 0, "datasets.subsets.image_dir", "%s names images by "
                           "relative paths (\"%s\"), so the subset needs image_dir", path, key);
            break;
        }
        int bad = 0;
        const char *caption = string_field(md, "caption", &bad);
        const char *tags = string_field(md, "tags", &bad);
        if (bad) {
            rc = error_set(err, path, 0, 0, "metadata_file", "%s: caption and tags must be strings", key);
            break;
        }
        char *image = find_image(s->image_dir, key);
        int w = 0, h = 0;
        json_t *size = json_object_get(md, "image_size");
        bool sized = json_is_array(size) && json_array_size(size) == 2 &&
                     json_is_integer(json_array_get(size, 0)) && json_is_integer(json_array_get(size, 1));
        if (sized) {
            w = (int)json_integer_value(json_array_get(size, 0));
            h = (int)json_integer_value(json_array_get(size, 1));
        }
        if (!image || !is_file(image) || (sized ? w <= 0 || h <= 0 : !dataset_image_size(image, &w, &h))) {
            dataset_add_note(out, "%s: %s: %s, skipped", path, key, image && is_file(image)
                             ? "not a readable image" : "no such image");
            s->unreadable++;
            free(image);
            continue;
        }
        if (s->image_count == s->image_capacity) {
            s->image_capacity = s->image_capacity ? s->image_capacity * 2 : 32;
            dataset_image *grown = realloc(s->images, s->image_capacity * sizeof *grown);
            if (!grown) {
                free(image);
                rc = error_set(err, path, 0, 0, NULL, "out of memory");
                break;
            }
            s->images = grown;
        }
        dataset_image *img = &s->images[s->image_count++];
        *img = (dataset_image){.path = image, .width = w, .height = h};
        img->caption = join_caption(caption ? caption : "", tags, sep, s->opt.captions.enable_wildcard);
        img->tags = tags && tags[0] ? strdup(tags) : NULL;
        img->has_caption = img->caption && img->caption[0];
        if (!img->caption) {
            rc = error_set(err, path, 0, 0, NULL, "out of memory");
            break;
        }
    }
    json_decref(meta);
    return rc;
}
