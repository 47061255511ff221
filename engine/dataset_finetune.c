/* dataset_finetune.c — fine-tuning subsets (metadata_file); see dataset_internal.h. */
#include "engine/dataset_internal.h"

int dataset_scan_finetune(dataset_group *g, const toml_value *ss, const toml_value *ds,
                          const toml_value *general, const dataset_defaults *d,
                          const char *origin, dataset_set *out, error_info *err)
{
    (void)g, (void)ds, (void)general, (void)d, (void)out;
    return error_set(err, origin, ss->line, 0, "datasets.subsets.metadata_file",
                     "fine-tuning datasets (metadata_file) are not supported yet; use image_dir");
}
