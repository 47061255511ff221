/* plan.h — the resolved plan of a run, computed before training with the same arithmetic
 * kohya_ss and sd-scripts use: images and repeats per folder, balanced regularisation
 * images, buckets, batches and steps per epoch, total and warmup steps. `--check` prints
 * it; `--run` and the TUI refuse to start when it finds no images. */
#ifndef LORATTY_PLAN_H
#define LORATTY_PLAN_H

#include <stdio.h>

#include "config.h"
#include "engine/dataset.h"

typedef struct plan_bucket {
    int width, height;
    long long count;              /* samples (repeats included) */
} plan_bucket;

/* One dataset (data.groups entry) as sd-scripts' metadata describes it (ss_datasets). */
typedef struct plan_dataset {
    plan_bucket *buckets;         /* its own, reg samples balanced, sorted by width then height */
    size_t bucket_count;
    char *resize_interpolation;   /* dataset → general → command line; NULL = None */
    double *ar_errors;            /* with buckets: |bucket w/h - image w/h| of each image used */
    size_t ar_error_count;        /* (once each, reg ones balanced in), in sd-scripts' order */
} plan_dataset;

typedef struct plan {
    dataset_set data;
    const char *mode;             /* "folders", "dataset config" or "inline datasets" */
    char source[1024];            /* train_data_dir or the dataset config path */
    long long train_images;       /* distinct training images */
    long long train_samples;      /* Σ images × repeats, non-reg (sd-scripts num_train_images) */
    long long reg_images;
    long long reg_samples;        /* after balancing to train_samples */
    plan_bucket *buckets;         /* all datasets' together */
    size_t bucket_count;
    plan_dataset *datasets;       /* one per data.groups entry */
    long long batches_per_epoch;
    long long steps_per_epoch;    /* optimizer steps (after gradient accumulation) */
    long long epochs;
    long long total_steps;
    const char *total_steps_rule; /* how total_steps was decided */
    long long warmup_steps;
    long long text_encoder_stop_step; /* 0 = trains to the end */
    char model[512];              /* what the base model file is (checkpoint_describe) */
    /* validation_split: the held-out images (one group per split dataset), counted like the
     * training set */
    dataset_set validation;
    long long validation_images;  /* distinct */
    long long validation_samples; /* × repeats (sd-scripts' ss_num_validation_images) */
    long long validation_batches; /* the validation data loader's length */
    char **warnings;
    size_t warning_count;
} plan;

/* Computes the plan. Returns -1 with err when the run could not start (no images, a
 * folder that is not there, a bad dataset config); the partial plan can still be printed. */
int plan_compute(const config *cfg, const char *preset_path, plan *out, error_info *err);
void plan_print(const plan *p, const config *cfg, FILE *out);
void plan_free(plan *p);

#endif
