/* batches.h — the order in which an epoch visits its samples, as sd-scripts' BaseDataset
 * (make_buckets, shuffle_buckets, __getitem__): every image goes to its bucket once per repeat
 * (training images first, then regularisation images with reg_balance's repeats); each
 * bucket is shuffled and cut into batch-size chunks; the chunk list of all buckets is
 * shuffled per epoch; a batch never mixes buckets. Reg samples weigh prior_loss_weight.
 *
 * Per sample the iterator also decides what sd-scripts decides in __getitem__, with the
 * options of the sample's subset (dataset.h): the processed caption (captions.h), the flip
 * (flip_aug, p = 0.5), the crop offsets (centre, or uniform in [0, excess] with random_crop;
 * around the face with face_crop_aug_range, face_crop.h), color_aug's draw and SDXL's size
 * conditioning. Every draw is a pure
 * function of (seed, epoch, sample slot), so a run resumed at (epoch, position) sees exactly
 * the batches it would have seen. Epochs are 1-based, as sd-scripts' current_epoch during
 * training. */
#ifndef LORATTY_DATA_BATCHES_H
#define LORATTY_DATA_BATCHES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/data/captions.h"
#include "engine/data/face_crop.h"
#include "engine/data/image_resize.h"
#include "engine/dataset.h"
#include "error.h"

typedef struct batch_settings {
    /* the options of subsets without their own (has_options false: built by hand) */
    caption_settings captions;
    bool flip_aug, random_crop;
    resize_interp interp;
    double prior_loss_weight;      /* sd-scripts' default 1.0 */
    long long max_train_steps;     /* for the token warm-up */
} batch_settings;

typedef struct batch_sample {
    const char *image_path;
    size_t image_id;               /* index into the iterator's images (latent cache key) */
    const char *caption;           /* processed; valid until the next batches_next */
    bool is_reg;
    float loss_weight;             /* 1, or prior_loss_weight for reg images */
    image_placement place;         /* bucket, resized size, crop offsets, flip */
    resize_interp interp;          /* the subset's resize_interpolation */
    bool flip_aug;                 /* the subset's flip_aug (the latent cache keeps both flips) */
    int orig_w, orig_h;            /* the image's size before the resize */
    int crop_top, crop_left;       /* SDXL's crop conditioning (get_crop_ltrb, flip-aware) */
    /* masked_loss: the mask source, if any (engine/data/loss_mask.h) */
    bool alpha_mask;               /* the image's alpha channel (the subset's alpha_mask) */
    const char *cond_path;         /* or its conditioning image, of image_w × image_h */
    int image_w, image_h;          /* the image file's size */
} batch_sample;

typedef struct batch {
    bucket_reso bucket;
    int count;
    batch_sample *samples;         /* owned by the iterator */
} batch;

typedef struct batch_image {       /* one distinct image of the run */
    const dataset_image *image;
    const dataset_subset *subset;
    const dataset_options *opt;    /* the subset's, or the settings' */
    bucket_reso bucket, resized;
    face_box face;                 /* face_crop_aug_range without buckets: crop around it */
    char *caption;                 /* as read (before process_caption) */
    long long repeats;
} batch_image;

typedef struct batch_bucket {
    bucket_reso reso;
    int batch_size;
    size_t *slots;                 /* image ids, one per repeat; shuffled per epoch */
    size_t count;
} batch_bucket;

typedef struct batch_chunk {
    uint32_t bucket, start;
} batch_chunk;

typedef struct batches {
    batch_settings settings;
    dataset_options fallback;      /* from settings, for subsets without options */
    uint64_t seed;
    batch_image *images;
    size_t image_count;
    batch_bucket *buckets;
    size_t bucket_count;
    batch_chunk *chunks;           /* this epoch's order */
    size_t chunk_count;
    int epoch;
    size_t position;               /* next chunk */
    batch_sample *samples;         /* the current batch */
    char **captions;
    int max_batch;
    long long step;                /* optimizer step, for the token warm-up (set by the caller) */
} batches;

/* Reads the captions (an empty or non-UTF-8 caption file is an error naming it) and builds
 * the buckets of every dataset group of `set`, which must outlive b. */
int batches_init(batches *b, const dataset_set *set, const batch_settings *s, uint64_t seed,
                 error_info *err);
/* Starts epoch `epoch` (1-based) at its first batch. */
void batches_epoch(batches *b, int epoch);
/* The next batch of the epoch: 1 with *out filled, 0 at the end of the epoch, -1 on error. */
int batches_next(batches *b, batch *out, error_info *err);
/* Resume: where the iterator is (epoch, batches already given this epoch) and back there. */
void batches_position(const batches *b, int *epoch, size_t *position);
void batches_seek(batches *b, int epoch, size_t position);
size_t batches_per_epoch(const batches *b);
void batches_free(batches *b);

#endif
