/* dataset_conditioning.c — masked_loss's mask images: subsets with conditioning_data_dir, as
 * sd-scripts builds them (library/config_util.py's ControlNet schema, library/train_util.py
 * ControlNetDataset at 48d368f). Each training image pairs with the first image file of the
 * same stem in the folder (sorted names, as glob_images); a training image without one, or
 * a file there that pairs with no training image, stops sd-scripts, and loratty says which.
 * The pair must have one size: the mask is placed exactly like the image. */
#include "engine/dataset_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int dataset_conditioning_subset(dataset_subset *s, const toml_value *ss, const toml_value *ds,
                                const char *origin, error_info *err)
{
    const toml_value *dir = toml_table_get(ss, "conditioning_data_dir");
    const char *key = "datasets.subsets.conditioning_data_dir";
    if (!dir || dir->type != TOML_STRING || !dir->as.string.data[0])
        return error_set(err, origin, dir ? dir->line : ss->line, 0, key, "must be a folder path");
    struct stat st;
    if (stat(dir->as.string.data, &st) != 0 || !S_ISDIR(st.st_mode))
        return error_set(err, origin, dir->line, 0, key, "\"%s\" is not a folder",
                         dir->as.string.data);
    /* what sd-scripts' ControlNet subset schema does not take */
    const toml_value *reg = toml_table_get(ss, "is_reg");
    if (reg && reg->type == TOML_BOOL && reg->as.boolean)
        return error_set(err, origin, reg->line, 0, "datasets.subsets.is_reg", "a subset with "
                         "conditioning_data_dir cannot hold regularisation images (sd-scripts "
                         "refuses is_reg there); put them in a dataset of their own");
    const toml_value *alpha = toml_table_get(ss, "alpha_mask");
    if (alpha)
        return error_set(err, origin, alpha->line, 0, "datasets.subsets.alpha_mask", "a subset "
                         "takes its mask from conditioning_data_dir or from alpha_mask, not both "
                         "(sd-scripts refuses alpha_mask beside conditioning_data_dir)");
    const toml_value *tokens = toml_table_get(ss, "class_tokens");
    if (!tokens)
        tokens = toml_table_get(ds, "class_tokens");
    if (tokens)
        return error_set(err, origin, tokens->line, 0, "class_tokens", "a dataset with "
                         "conditioning_data_dir has no class_tokens (sd-scripts refuses the key "
                         "there): images without a caption file train on an empty caption");
    if (s->opt.random_crop)
        return error_set(err, origin, dir->line, 0, "random_crop", "random_crop cannot be used "
                         "with conditioning_data_dir (subset %s; sd-scripts asserts it too)",
                         s->image_dir);
    free(s->class_tokens);   /* a [general] class_tokens does not reach these subsets */
    s->class_tokens = strdup("");
    s->opt.alpha_mask = false;   /* nor does the command line's alpha_mask */
    s->conditioning_data_dir = strdup(dir->as.string.data);
    if (!s->class_tokens || !s->conditioning_data_dir)
        return error_set(err, origin, dir->line, 0, key, "out of memory");
    return 0;
}

/* os.path.splitext(basename)[0] */
static size_t stem_length(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? (size_t)(dot - name) : strlen(name);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool same_stem(const char *a, const char *b)
{
    size_t n = stem_length(a);
    return n == stem_length(b) && strncmp(a, b, n) == 0;
}

/* Up to three names into list, for a message. */
static void add_name(char *list, size_t size, size_t *count, const char *name)
{
    if (++*count <= 3)
        snprintf(list + strlen(list), size - strlen(list), "%s%s", *count > 1 ? ", " : "", name);
}

static int pair_subset(dataset_subset *s, char **names, size_t n, const char *origin,
                       error_info *err)
{
    char missing[600] = "";
    size_t n_missing = 0;
    for (size_t i = 0; i < s->image_count; i++) {
        dataset_image *img = &s->images[i];
        const char *name = base_name(img->path);
        for (size_t k = 0; k < n && !img->cond_path; k++)
            if (dataset_is_image_name(names[k]) && same_stem(names[k], name))
                img->cond_path = dataset_join_path(s->conditioning_data_dir, names[k]);
        if (!img->cond_path) {
            add_name(missing, sizeof missing, &n_missing, name);
            continue;
        }
        int w = 0, h = 0;
        if (!dataset_image_size(img->cond_path, &w, &h))
            return error_set(err, img->cond_path, 0, 0, "conditioning_data_dir", "not a readable "
                             "image (the mask of %s)", img->path);
        if (w != img->width || h != img->height)
            return error_set(err, img->cond_path, 0, 0, "conditioning_data_dir", "the mask is "
                             "%dx%d but its training image %s is %dx%d; a mask image must have "
                             "its image's size", w, h, img->path, img->width, img->height);
    }
    if (n_missing)
        return error_set(err, origin, 0, 0, "conditioning_data_dir", "%zu training image%s in %s "
                         "ha%s no image of the same name in %s: %s%s", n_missing,
                         n_missing == 1 ? "" : "s", s->image_dir, n_missing == 1 ? "s" : "ve",
                         s->conditioning_data_dir, missing, n_missing > 3 ? ", ..." : "");
    return 0;
}

/* A file of the folder is used when some subset of g with this folder has an image of its
 * stem (sd-scripts compares stems, so a.png beside the a.jpg it took is not extra). */
static bool used(const dataset_group *g, const char *dir, const char *name)
{
    for (size_t j = 0; j < g->subset_count; j++) {
        const dataset_subset *t = &g->subsets[j];
        if (!t->conditioning_data_dir || strcmp(t->conditioning_data_dir, dir) != 0)
            continue;
        for (size_t i = 0; i < t->image_count; i++)
            if (same_stem(base_name(t->images[i].path), name))
                return true;
    }
    return false;
}

int dataset_conditioning_pair(dataset_group *g, const char *origin, error_info *err)
{
    for (size_t j = 0; j < g->subset_count; j++) {
        dataset_subset *s = &g->subsets[j];
        if (!s->conditioning_data_dir)
            continue;
        size_t n = 0;
        char **names = dataset_list_dir(s->conditioning_data_dir, &n);
        if (!names)
            return error_set(err, origin, 0, 0, "conditioning_data_dir", "cannot read \"%s\"",
                             s->conditioning_data_dir);
        int rc = pair_subset(s, names, n, origin, err);
        char extra[600] = "";
        size_t n_extra = 0;
        for (size_t k = 0; rc == 0 && k < n; k++)
            if (dataset_is_image_name(names[k]) && !used(g, s->conditioning_data_dir, names[k]))
                add_name(extra, sizeof extra, &n_extra, names[k]);
        if (rc == 0 && n_extra)
            rc = error_set(err, origin, 0, 0, "conditioning_data_dir", "%zu image%s in %s belong%s "
                           "to no training image of %s: %s%s (sd-scripts refuses extra "
                           "conditioning images too)", n_extra, n_extra == 1 ? "" : "s",
                           s->conditioning_data_dir, n_extra == 1 ? "s" : "", s->image_dir,
                           extra, n_extra > 3 ? ", ..." : "");
        dataset_free_names(names, n);
        if (rc != 0)
            return -1;
    }
    return 0;
}
