/* dataset_internal.h — what the files of the dataset scan share (dataset.c: folders and
 * DreamBooth subsets; dataset_finetune.c: fine-tuning subsets from a metadata file). */
#ifndef LORATTY_DATASET_INTERNAL_H
#define LORATTY_DATASET_INTERNAL_H

#include "engine/dataset.h"

void dataset_add_note(dataset_set *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *dataset_join_path(const char *dir, const char *name);
/* Reads only the header. */
bool dataset_image_size(const char *path, int *w, int *h);
dataset_subset *dataset_add_subset(dataset_group *g);

/* One fine-tuning subset (`ss`, with metadata_file) of dataset `ds` into g. */
int dataset_scan_finetune(dataset_group *g, const toml_value *ss, const toml_value *ds,
                          const toml_value *general, const dataset_defaults *d,
                          const char *origin, dataset_set *out, error_info *err);

#endif
