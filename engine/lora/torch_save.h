/* torch_save.h — tensors written as torch.save writes a state dict: the zip container of
 * torch >= 1.6 (<archive>/data.pkl, byteorder, data/<i>, version) holding a protocol-2 pickle
 * of an OrderedDict of torch._utils._rebuild_tensor_v2 calls on persistent storages, which
 * torch.load reads, weights_only included. sd-scripts saves a network whose file name is not
 * .safetensors this way (save_model_as ckpt / pt): the state dict alone, no metadata. */
#ifndef LORATTY_TORCH_SAVE_H
#define LORATTY_TORCH_SAVE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"
#include "error.h"

typedef struct torch_tensor {
    const char *name;
    dtype_t dtype;                /* F32, F16 or BF16 */
    int ndim;                     /* 0 for a scalar (.alpha) */
    const int64_t *shape;
    const void *data;             /* little-endian, contiguous */
} torch_tensor;

/* Writes the file atomically (temp file, fsync, rename). */
int torch_save(const char *path, const torch_tensor *t, size_t n, error_info *err);

#endif
