/* safetensors.h — reading and writing .safetensors files, the format of every checkpoint
 * and LoRA loratty loads or saves.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header (padded with spaces),
 * then the data buffer. The header maps tensor names to {"dtype", "shape", "data_offsets"}
 * (offsets relative to the data buffer) plus an optional "__metadata__" string map.
 *
 * The reader maps the file and validates the whole header before handing anything out, so
 * every view it returns points at bytes that exist; a bad file gets a message naming what is
 * wrong and where. The writer reproduces the Python library's layout byte for byte (tensor
 * order, header order, padding), because sd-scripts' sshs_model_hash is a SHA-256 of the
 * data bytes, and writes atomically. */
#ifndef LORATTY_SAFETENSORS_H
#define LORATTY_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "error.h"

/* The Rust crate's limit on the header length (100 MB). */
#define SAFETENSORS_MAX_HEADER 100000000ull

/* A zero-copy view of one tensor; valid until safetensors_close. */
typedef struct safetensors_tensor {
    const char *name;
    dtype_t dtype;
    int ndim;               /* 0 for a scalar such as a LoRA's ".alpha" */
    const int64_t *shape;   /* ndim entries */
    uint64_t nelements;     /* product of shape (1 for a scalar, 0 for an empty tensor) */
    const void *data;       /* little-endian elements; not aligned in general */
    size_t nbytes;
    uint64_t offset;        /* begin of data within the data buffer */
    const char *path;       /* the file it came from, for messages */
} safetensors_tensor;

typedef struct safetensors_file safetensors_file;

/* Maps `path` read-only and validates it. On success *out owns the mapping. A torch.save
 * file (.ckpt / .pt) is read as its state dict's tensors, no metadata (engine/torch_load.h). */
int safetensors_open(const char *path, safetensors_file **out, error_info *err);
/* Same over a caller's buffer, which must outlive the file; `label` names it in messages. */
int safetensors_open_memory(const void *buf, size_t len, const char *label,
                            safetensors_file **out, error_info *err);
void safetensors_close(safetensors_file *f);

/* Tensors are indexed in name order (strcmp). */
size_t safetensors_count(const safetensors_file *f);
const safetensors_tensor *safetensors_tensor_at(const safetensors_file *f, size_t i);
/* NULL when there is no tensor of that name. */
const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);

/* Metadata entries are indexed in key order. */
size_t safetensors_metadata_count(const safetensors_file *f);
void safetensors_metadata_at(const safetensors_file *f, size_t i,
                             const char **key, const char **value);
/* NULL when the key is absent. */
const char *safetensors_metadata_get(const safetensors_file *f, const char *key);

uint64_t safetensors_file_size(const safetensors_file *f);
uint64_t safetensors_header_size(const safetensors_file *f);   /* N, without the 8 bytes */
/* The data buffer (what sshs_model_hash is computed over). */
const void *safetensors_data(const safetensors_file *f, size_t *len);

/* Converts an F16, BF16, F32 or F64 tensor to nelements floats at out. */
int safetensors_read_f32(const safetensors_tensor *t, float *out, error_info *err);

/* Writer: collect tensors (data borrowed until the write) and metadata, then write. */
typedef struct safetensors_writer safetensors_writer;

safetensors_writer *safetensors_writer_new(void);   /* NULL when out of memory */
void safetensors_writer_free(safetensors_writer *w);
/* Adds a tensor; name and shape are copied, data (nbytes implied by shape and dtype) must
 * stay valid until safetensors_write. Refuses duplicate or non-UTF-8 names. */
int safetensors_writer_add(safetensors_writer *w, const char *name, dtype_t dtype, int ndim,
                           const int64_t *shape, const void *data, error_info *err);
/* Sets (or replaces) a metadata entry; both strings are copied. */
int safetensors_writer_set_metadata(safetensors_writer *w, const char *key, const char *value,
                                    error_info *err);
/* Writes atomically: a temporary file in the same directory, fsync, rename, fsync of the
 * directory. On failure the temporary file is removed and an existing file is untouched. */
int safetensors_write(const char *path, const safetensors_writer *w, error_info *err);
/* The same bytes in memory (malloc'd, caller frees). */
int safetensors_serialize(const safetensors_writer *w, unsigned char **out, size_t *len,
                          error_info *err);

#endif
