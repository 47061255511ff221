/* dataset.h — what a training run will read: the subsets (kohya folder convention
 * `<repeats>_<class tokens>` under train_data_dir / reg_data_dir, or sd-scripts dataset TOML),
 * their images with sizes and captions. Only headers are read here (image sizes), so a
 * --check of thousands of images stays fast. */
#ifndef LORATTY_DATASET_H
#define LORATTY_DATASET_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/buckets.h"
#include "error.h"
#include "toml.h"

typedef struct dataset_image {
    char *path;
    int width, height;
    bool has_caption;
} dataset_image;

typedef struct dataset_subset {
    char *image_dir;
    char *class_tokens;
    int num_repeats;
    bool is_reg;
    char *caption_extension;
    dataset_image *images;
    size_t image_count, image_capacity;
    size_t unreadable;          /* image files whose size could not be read (skipped) */
} dataset_subset;

typedef struct dataset_group {      /* one [[datasets]] entry (folder mode: exactly one) */
    bucket_settings buckets;
    int batch_size;
    dataset_subset *subsets;
    size_t subset_count;
} dataset_group;

typedef struct dataset_set {
    dataset_group *groups;
    size_t group_count;
    char **notes;                   /* skipped folders and files, for the plan */
    size_t note_count;
} dataset_set;

/* Settings that come from the command-line level (the config) and fill what the dataset
 * TOML leaves out, as sd-scripts' lookup order subset → dataset → general → CLI. */
typedef struct dataset_defaults {
    bucket_settings buckets;
    int batch_size;
    const char *caption_extension;
    const char *train_data_dir, *reg_data_dir;
} dataset_defaults;

/* Folder mode: every `<N>_<tokens>` folder under train_data_dir (and reg_data_dir, as reg). */
int dataset_scan_folders(const dataset_defaults *d, dataset_set *out, error_info *err);
/* Dataset TOML mode: `general` and `datasets` as read from a dataset config. */
int dataset_scan_toml(const dataset_defaults *d, const toml_value *general,
                      const toml_value *datasets, const char *origin, dataset_set *out,
                      error_info *err);
void dataset_set_free(dataset_set *s);

/* true for png, jpg, jpeg, webp, bmp in any case */
bool dataset_is_image_name(const char *name);

#endif
