/* dataset.h — what a training run will read: the subsets (kohya folder convention
 * `<repeats>_<class tokens>` under train_data_dir / reg_data_dir, or sd-scripts dataset TOML
 * with DreamBooth subsets (image_dir), fine-tuning subsets (metadata_file) and masked_loss's
 * conditioning subsets (image_dir + conditioning_data_dir)), their images
 * with sizes and captions, and each subset's options resolved as sd-scripts' config_util
 * does: subset → dataset → general → command line → sd-scripts' default. Only headers are
 * read here (image sizes), so a --check of thousands of images stays fast. */
#ifndef LORATTY_DATASET_H
#define LORATTY_DATASET_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/buckets.h"
#include "engine/data/captions.h"
#include "engine/data/image_resize.h"
#include "error.h"
#include "toml.h"

typedef struct dataset_image {
    char *path;
    int width, height;
    bool has_caption;
    char *caption;              /* fine-tuning: caption (+ tags) from the metadata; else NULL */
    char *tags;                 /* fine-tuning: the metadata's tags (tag frequency); else NULL */
    char *cond_path;            /* masked_loss: its image in conditioning_data_dir; else NULL */
} dataset_image;

/* What sd-scripts' BaseSubset holds per subset besides its images. Strings are owned by the
 * subset (dataset_set_free). */
typedef struct dataset_options {
    caption_settings captions;
    bool flip_aug, random_crop, color_aug;
    double face_crop_lo, face_crop_hi;   /* face_crop_aug_range; both 0 = off (None) */
    resize_interp interp;                /* resize_interpolation */
    bool alpha_mask;                     /* the images' alpha is the loss mask (masked_loss) */
    bool cache_info;                     /* image list, sizes, captions via metadata_cache.json */
} dataset_options;

typedef struct dataset_subset {
    char *image_dir;
    char *metadata_file;        /* fine-tuning subset (sd-scripts' FineTuningSubset); else NULL */
    char *conditioning_data_dir; /* masked_loss's mask images (sd-scripts' ControlNetSubset);
                                  * else NULL. Such a subset's images have cond_path. */
    char *class_tokens;
    int num_repeats;
    bool is_reg;
    char *caption_extension;
    bool has_options;           /* false: a subset built by hand; batches use its settings */
    dataset_options opt;
    char *opt_strings[6];       /* what opt.captions' strings point to */
    dataset_image *images;
    size_t image_count, image_capacity;
    size_t unreadable;          /* image files whose size could not be read (skipped) */
} dataset_subset;

typedef struct dataset_group {      /* one [[datasets]] entry (folder mode: exactly one) */
    bucket_settings buckets;
    int batch_size;
    dataset_subset *subsets;
    size_t subset_count;
    /* sd-scripts' validation_split (0: none) and validation_seed (dataset → general →
     * command line; unset: the training seed, see dataset_split_validation) */
    double validation_split;
    bool has_validation_seed;
    long long validation_seed;
} dataset_group;

typedef struct dataset_set {
    dataset_group *groups;
    size_t group_count;
    char **notes;                   /* skipped folders and files, for the plan */
    size_t note_count;
} dataset_set;

/* Settings that come from the command-line level (the config) and fill what the dataset
 * TOML leaves out, as sd-scripts' lookup order subset → dataset → general → CLI. `cli` is a
 * table of parameter name → value at that level (sd-scripts' argparse namespace: the dataset
 * keys of the config, e.g. shuffle_caption, flip_aug, face_crop_aug_range as "lo,hi");
 * NULL leaves sd-scripts' defaults. */
typedef struct dataset_defaults {
    bucket_settings buckets;
    int batch_size;
    const char *caption_extension;
    const char *train_data_dir, *reg_data_dir;
    const toml_value *cli;
} dataset_defaults;

/* Folder mode: every `<N>_<tokens>` folder under train_data_dir (and reg_data_dir, as reg). */
int dataset_scan_folders(const dataset_defaults *d, dataset_set *out, error_info *err);
/* sd-scripts' reading of a <repeats>_<class tokens> folder name: the name split on "_",
 * int() of the first part (spaces and a sign allowed) >= 1 is the repeats, the rest the class
 * tokens ("10" alone: none). False when it is not such a name. */
bool dataset_parse_folder_name(const char *name, int *repeats, const char **tokens);
/* Dataset TOML mode: `general` and `datasets` as read from a dataset config. */
int dataset_scan_toml(const dataset_defaults *d, const toml_value *general,
                      const toml_value *datasets, const char *origin, dataset_set *out,
                      error_info *err);
void dataset_set_free(dataset_set *s);

/* sd-scripts' split_train_val for every dataset with validation_split > 0: each subset's
 * images shuffled by Python's random.seed(validation_seed) (the group's, else
 * `fallback_seed`); the training set keeps the first ceil(n·(1 − split)) and `val` gets the
 * last round(n·split) (Python's round; the two can share an image, as in sd-scripts). Reg
 * subsets stay whole and give no validation images. `val` gets one group per split dataset
 * (its subsets' settings copied); empty when no dataset splits. Fine-tuning (metadata_file)
 * and conditioning datasets are refused: sd-scripts would validate on their training
 * images. */
int dataset_split_validation(dataset_set *train, dataset_set *val, long long fallback_seed,
                             const char *origin, error_info *err);

/* The options of a subset from the tables of its levels, most specific first (subset,
 * dataset, general, cli; NULL entries skipped). Also fills class_tokens and
 * caption_extension (a missing leading "." added, as DreamBoothSubset does). A value of the
 * wrong shape is an error naming the key. */
int dataset_options_resolve(dataset_subset *sub, const toml_value *const levels[], size_t n,
                            const char *origin, error_info *err);
/* The first level that sets `key` (NULL when none does). */
const toml_value *dataset_lookup(const char *key, const toml_value *const levels[], size_t n);
/* face_crop_aug_range as "lo,hi" or [lo, hi]: 0 < lo <= hi; -1 when malformed. */
int dataset_parse_face_crop(const toml_value *v, double *lo, double *hi);
/* The options that differ from sd-scripts' defaults, as "flip_aug, keep_tokens=1, ..." for
 * the plan ("" when none). */
void dataset_options_describe(const dataset_subset *sub, char *out, size_t size);

/* A training image's caption as read: the fine-tuning metadata's, else read_caption's
 * (caption file, class tokens, ""). *out malloc'd. */
int dataset_image_caption(const dataset_subset *sub, const dataset_image *img,
                          bool enable_wildcard, char **out, error_info *err);

/* true for png, jpg, jpeg, webp, bmp in any case */
bool dataset_is_image_name(const char *name);

#endif
