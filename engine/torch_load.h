/* torch_load.h — a torch.save state dict (.ckpt / .pt: torch's zip container holding a pickle
 * of tensors) turned into safetensors bytes, so every reader of LoRA files takes one as it
 * takes a .safetensors (sd-scripts loads such network files with torch.load). The pickle is
 * not executed: a small machine knows the opcodes torch writes and only the globals of a
 * state dict (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch's Float / Half
 * / BFloat16 / Double storages); anything else is refused by name. */
#ifndef LORATTY_TORCH_LOAD_H
#define LORATTY_TORCH_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* true when buf starts like a zip file (torch.save's format) */
bool torch_file_is_zip(const void *buf, size_t len);

/* The state dict in buf (a whole .ckpt / .pt file) as a safetensors file image: *out malloc'd,
 * *out_len bytes, no metadata. `label` names the file in messages. */
int torch_load_as_safetensors(const void *buf, size_t len, const char *label, unsigned char **out,
                              size_t *out_len, error_info *err);

#endif
