/* dataset_prep.h — kohya_ss's "Dreambooth/LoRA Folder preparation": from a folder of training
 * images (and optionally one of regularisation images) build the layout sd-scripts reads,
 *
 *     DEST/img/<repeats>_<instance> <class>/   the images and their caption files
 *     DEST/reg/<reg repeats>_<class>/          the regularisation images (when given)
 *     DEST/log/  DEST/model/
 *
 * and say which folder goes into which parameter (train_data_dir = DEST/img, reg_data_dir =
 * DEST/reg, output_dir = DEST/model, logging_dir = DEST/log). Files are hard-linked when the
 * source is on the same file system and copied otherwise. No UI here: tui/prep.c shows it. */
#ifndef LORATTY_DATASET_PREP_H
#define LORATTY_DATASET_PREP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "error.h"

/* dataset_prep_build's return when DEST exists and is not empty and merge was not asked:
 * the caller asks the user, then calls again with merge. */
#define DATASET_PREP_NOT_EMPTY (-2)

typedef struct dataset_prep_request {
    const char *instance_prompt;   /* required: the token the LoRA learns ("zqx") */
    const char *class_prompt;      /* "woman", "dog"; required with reg images */
    const char *train_images;      /* folder of training images (+ caption files) */
    int repeats;                   /* kohya_ss default 40 */
    const char *reg_images;        /* optional: folder of regularisation images */
    int reg_repeats;               /* kohya_ss default 1 */
    const char *dest;              /* the folder to build */
    bool merge;                    /* allow DEST to hold files already (same names replaced) */
    bool copy_only;                /* never hard-link (tests; a user who edits captions in place) */
} dataset_prep_request;

typedef struct dataset_prep_result {
    char img_dir[4096];            /* DEST/img/<N>_<instance> <class> */
    char reg_dir[4096];            /* DEST/reg/<N>_<class>, "" without reg images */
    char train_data_dir[4096];     /* DEST/img */
    char reg_data_dir[4096];       /* DEST/reg or "" */
    char output_dir[4096];         /* DEST/model */
    char logging_dir[4096];        /* DEST/log */
    size_t images, captions;       /* training images and caption files placed */
    size_t reg_images, reg_captions;
    size_t linked, copied;         /* how the files got there */
    size_t skipped;                /* source entries that are neither (folders, other files) */
} dataset_prep_result;

/* The folder names without touching the disk ("40_zqx woman", "1_woman"); checks the
 * prompts and repeats. Fills the path fields of res. */
int dataset_prep_plan(const dataset_prep_request *req, dataset_prep_result *res, error_info *err);

/* Builds the layout. Returns 0, DATASET_PREP_NOT_EMPTY (err says what is there), or -1 with
 * err: no images in the source, a bad prompt or repeat count, a file that cannot be written.
 * Nothing in the source is ever changed. */
int dataset_prep_build(const dataset_prep_request *req, dataset_prep_result *res, error_info *err);

/* "Copy info to respective fields": sets train_data_dir, reg_data_dir (cleared when there are
 * no reg images), output_dir and logging_dir in cfg. A parameter the engine does not support
 * yet (--run would refuse it) is left alone and named in `skipped` (may be NULL), so the
 * caller can say so. */
int dataset_prep_apply(const dataset_prep_result *res, config *cfg, char *skipped, size_t size,
                       error_info *err);

#endif
