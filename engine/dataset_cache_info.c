/* dataset_cache_info.c — sd-scripts' cache_info for DreamBooth subsets: the image list, sizes
 * and captions of an image_dir kept in <image_dir>/metadata_cache.json,
 *   {"<image path>": {"caption": "...", "resolution": [width, height]}, ...}
 * written (atomically) by the first run that sets cache_info and read instead of the folder by
 * the next ones — so, as in sd-scripts, images, sizes and captions changed since then are not
 * seen until the file is deleted. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/dataset_internal.h"
#include "fileio.h"

#define INFO_CACHE_FILE "metadata_cache.json"

static dataset_image *add_image(dataset_subset *sub)
{
    if (sub->image_count == sub->image_capacity) {
        size_t cap = sub->image_capacity ? sub->image_capacity * 2 : 32;
        dataset_image *grown = realloc(sub->images, cap * sizeof *grown);
        if (!grown)
            return NULL;
        sub->images = grown;
        sub->image_capacity = cap;
    }
    dataset_image *img = &sub->images[sub->image_count++];
    memset(img, 0, sizeof *img);
    return img;
}

int dataset_cache_info_read(dataset_subset *sub, bool *used, error_info *err)
{
    *used = false;
    char *path = dataset_join_path(sub->image_dir, INFO_CACHE_FILE);
    struct stat st;
    if (!path || stat(path, &st) != 0) {   /* the first run: the folder is read, then written */
        free(path);
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        int rc = error_set(err, path, root ? 0 : jerr.line, 0, "cache_info", "not sd-scripts' image "
                           "info cache (%s); delete it to have it written again",
                           root ? "not a JSON object" : jerr.text);
        free(path);
        return rc;
    }
    const char *key;
    json_t *meta;
    int rc = 0;
    json_object_foreach(root, key, meta) {
        json_t *caption = json_object_get(meta, "caption"), *res = json_object_get(meta, "resolution");
        if (!json_is_array(res) || json_array_size(res) != 2 || !json_is_integer(json_array_get(res, 0)) ||
            !json_is_integer(json_array_get(res, 1)) || (caption && !json_is_string(caption) && !json_is_null(caption))) {
            rc = error_set(err, path, 0, 0, "cache_info", "entry \"%s\" is not {\"caption\": text, "
                           "\"resolution\": [width, height]}; delete the file to have it written again", key);
            break;
        }
        dataset_image *img = add_image(sub);
        if (!img || !(img->path = strdup(key))) {
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
            break;
        }
        img->width = (int)json_integer_value(json_array_get(res, 0));
        img->height = (int)json_integer_value(json_array_get(res, 1));
        /* sd-scripts takes the cached caption as it is, the class tokens already in it */
        const char *text = json_is_string(caption) ? json_string_value(caption) : "";
        img->caption = strdup(text);
        img->has_caption = text[0] != '\0';
        if (!img->caption) {
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
            break;
        }
    }
    json_decref(root);
    free(path);
    *used = rc == 0;
    return rc;
}

int dataset_cache_info_write(const dataset_subset *sub, error_info *err)
{
    json_t *root = json_object();
    int rc = root ? 0 : error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t i = 0; rc == 0 && i < sub->image_count; i++) {
        const dataset_image *img = &sub->images[i];
        char *caption = NULL;
        rc = dataset_image_caption(sub, img, sub->opt.captions.enable_wildcard, &caption, err);
        if (rc == 0 && json_object_set_new(root, img->path,
                                           json_pack("{s:s,s:[i,i]}", "caption", caption, "resolution",
                                                     img->width, img->height)) != 0)
            rc = error_set(err, img->path, 0, 0, "cache_info", "its name or caption is not UTF-8");
        free(caption);
    }
    char *text = rc == 0 ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (rc == 0 && !text)
        rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
    char *path = rc == 0 ? dataset_join_path(sub->image_dir, INFO_CACHE_FILE) : NULL;
    if (rc == 0)
        rc = fileio_write_atomic(path, text, strlen(text), err);
    free(path);
    free(text);
    return rc;
}
