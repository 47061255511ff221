/* buckets.h — aspect-ratio bucketing exactly as sd-scripts does it (model_util.
 * make_bucket_resolutions and train_util.BucketManager), so the same images land in the
 * same buckets and an epoch has the same number of batches. */
#ifndef LORATTY_BUCKETS_H
#define LORATTY_BUCKETS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bucket_reso {
    int width, height;
} bucket_reso;

typedef struct bucket_settings {
    int width, height;        /* resolution: max area = width * height */
    int min_reso, max_reso;   /* min/max_bucket_reso */
    int steps;                /* bucket_reso_steps */
    bool enabled;             /* enable_bucket; false = one bucket (width, height) */
    bool no_upscale;          /* bucket_no_upscale */
} bucket_settings;

/* The predefined bucket list, sorted ascending as (w, h). Returns the count, fills at most
 * `capacity` entries. */
size_t buckets_make_resolutions(const bucket_settings *s, bucket_reso *out, size_t capacity);

/* The bucket an image of size (w, h) goes to, and the size it is resized to before the
 * crop. With no_upscale the bucket is computed per image (sd-scripts creates it on demand). */
bucket_reso buckets_select(const bucket_settings *s, const bucket_reso *list, size_t count,
                           int w, int h, bucket_reso *resized);

#endif
