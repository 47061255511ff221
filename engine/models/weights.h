/* weights.h — where a model's weights come from: the tensors of one or more safetensors
 * files, looked up by the names the models use (diffusers / transformers state-dict names,
 * e.g. "down_blocks.0.resnets.0.conv1.weight"). Checkpoint loading (single-file LDM layouts,
 * diffusers folders, a separate VAE) registers tensors here under those names, renaming or
 * slicing as needed; models then copy what they need into their own flat f32 buffers.
 * Every registered tensor remembers whether a model used it, so a loader can prove that no
 * checkpoint key was left unexplained. */
#ifndef LORATTY_WEIGHTS_H
#define LORATTY_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/safetensors.h"
#include "error.h"

typedef struct weight_store weight_store;

weight_store *weights_new(void);
void weights_free(weight_store *ws);

/* Opens a safetensors file (kept open, zero-copy) and registers every tensor whose name
 * starts with `strip_prefix` under `add_prefix` + the rest of its name. Tensors without the
 * prefix are not registered. Either prefix may be "" or NULL. */
int weights_add_file(weight_store *ws, const char *path, const char *strip_prefix,
                     const char *add_prefix, error_info *err);
/* Registers rows [row_begin, row_begin + rows) of a tensor already registered as `source`
 * (dimension 0; e.g. OpenCLIP's fused in_proj_weight split into q, k and v) as `name`. */
int weights_add_rows(weight_store *ws, const char *name, const char *source, int64_t row_begin,
                     int64_t rows, error_info *err);
/* Registers an already registered tensor under a second name (the source stays too). */
int weights_add_alias(weight_store *ws, const char *name, const char *source, error_info *err);
/* Registers a registered tensor under `name` with another shape of the same element count
 * (e.g. a 1x1 conv weight [C, C, 1, 1] seen as a Linear weight [C, C]). */
int weights_add_reshape(weight_store *ws, const char *name, const char *source, int ndim,
                        const int64_t *shape, error_info *err);
/* Registers the transpose of a registered 2-D tensor as `name` (converted when loaded). */
int weights_add_transpose(weight_store *ws, const char *name, const char *source, error_info *err);
/* Drops a registered name (a loader that renamed everything drops the original names). */
void weights_remove(weight_store *ws, const char *name);

bool weights_has(const weight_store *ws, const char *name);
/* The shape of a registered tensor; returns its ndim, or -1 when absent. */
int weights_shape(const weight_store *ws, const char *name, int64_t shape[8]);
/* Copies a tensor into dst as f32, converting f16/bf16/f64; the shape must match exactly
 * (a 0-d tensor matches ndim 0). Marks it used. Errors name the tensor and both shapes. */
int weights_load_f32(weight_store *ws, const char *name, float *dst, int ndim,
                     const int64_t *shape, error_info *err);

size_t weights_count(const weight_store *ws);
const char *weights_name_at(const weight_store *ws, size_t i);
bool weights_used_at(const weight_store *ws, size_t i);

#endif
