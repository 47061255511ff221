/* lora_file.h — writing a trained network as sd-scripts does, so the file loads in
 * AUTOMATIC1111, ComfyUI, diffusers and sd-scripts' tools: kohya key names, tensors in the
 * save precision, the ss_* / modelspec.* metadata as Python's str() renders it, and the
 * sshs_model_hash / sshs_legacy_hash that sd-webui-additional-networks indexes by. */
#ifndef LORATTY_LORA_FILE_H
#define LORATTY_LORA_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "error.h"

typedef struct lora_metadata {
    char **keys, **values;
    size_t count, capacity;
    int minimal;                 /* --no_metadata's set: saves add no ss_* keys */
} lora_metadata;

/* Sets (or replaces) key to the formatted value. */
void lora_metadata_set(lora_metadata *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *lora_metadata_get(const lora_metadata *m, const char *key);
void lora_metadata_free(lora_metadata *m);

/* Python's str() of a float ("0.0001", "1e-05", "1.0", "inf"), as sd-scripts writes numbers. */
void py_float_str(double x, char *buf, size_t size);
/* Python's str() of a bool. */
const char *py_bool_str(int b);

typedef struct lora_tensor {
    const char *name;          /* e.g. lora_unet_..._to_q.lora_down.weight, ....alpha */
    int ndim;                  /* 0 for .alpha */
    int64_t shape[4];
    const float *data;
    const float *minus;        /* appended: when not NULL the file holds data − minus (LyCORIS'
                                * full: the trained weight less the base weight) */
    const float *times;        /* appended: when not NULL the file holds data × *times (LyCORIS'
                                * use_scalar folded into a factor) */
} lora_tensor;

/* sd-scripts' precalculate_safetensors_hashes: SHA-256 of the tensor data of a serialization
 * holding the tensors and only the ss_* metadata (hex), and the legacy hash: SHA-256 of the
 * 64 KiB at offset 1 MiB of that serialization (first 8 hex digits). */
int lora_hashes(const lora_tensor *t, size_t n, dtype_t save_dtype, const lora_metadata *md,
                char model_hash[65], char legacy_hash[9], error_info *err);

/* Writes the file atomically with the metadata plus sshs_model_hash and sshs_legacy_hash; a
 * path ending in .ckpt or .pt gets torch.save's format instead (the tensors alone). */
int lora_file_save(const char *path, const lora_tensor *t, size_t n, dtype_t save_dtype,
                   const lora_metadata *md, error_info *err);

/* The base-model hashes sd-scripts records: ss_sd_model_hash (A1111's old hash: SHA-256 of the
 * 64 KiB at offset 1 MiB of the file, 8 hex) and ss_new_sd_model_hash (SHA-256 of the file). */
int lora_model_file_hashes(const char *path, char legacy[9], char full[65], error_info *err);

#endif
