/* dataset_internal.h — what the files of the dataset scan share (dataset.c: folders and
 * DreamBooth subsets; dataset_finetune.c: fine-tuning subsets from a metadata file;
 * dataset_conditioning.c: masked_loss's conditioning images). */
#ifndef LORATTY_DATASET_INTERNAL_H
#define LORATTY_DATASET_INTERNAL_H

#include "engine/dataset.h"

void dataset_add_note(dataset_set *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *dataset_join_path(const char *dir, const char *name);
/* Reads only the header. */
bool dataset_image_size(const char *path, int *w, int *h);
dataset_subset *dataset_add_subset(dataset_group *g);
/* Sorted names of a folder's entries (dot files left out); NULL when it cannot be read. */
char **dataset_list_dir(const char *dir, size_t *count);
void dataset_free_names(char **names, size_t n);

/* One fine-tuning subset (`ss`, with metadata_file) of dataset `ds` into g. */
int dataset_scan_finetune(dataset_group *g, const toml_value *ss, const toml_value *ds,
                          const toml_value *general, const dataset_defaults *d,
                          const char *origin, dataset_set *out, error_info *err);

/* A subset `s` (resolved from `ss` of dataset `ds`) that names conditioning_data_dir: the
 * rules of sd-scripts' ControlNet-style subsets (no is_reg, alpha_mask, class_tokens,
 * random_crop; a folder). Sets s->conditioning_data_dir. */
int dataset_conditioning_subset(dataset_subset *s, const toml_value *ss, const toml_value *ds,
                                const char *origin, error_info *err);
/* After every subset of g is scanned: each image of a conditioning subset gets cond_path;
 * an image without one, a conditioning image without a training image (sd-scripts asserts
 * both) or of another size is an error. */
int dataset_conditioning_pair(dataset_group *g, const char *origin, error_info *err);

/* cache_info (dataset_cache_info.c): the subset's images, sizes and captions from
 * <image_dir>/metadata_cache.json when it exists (*used set), and written there after a scan. */
int dataset_cache_info_read(dataset_subset *sub, bool *used, error_info *err);
int dataset_cache_info_write(const dataset_subset *sub, error_info *err);

#endif
