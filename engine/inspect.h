/* inspect.h — `loratty --inspect FILE.safetensors`: a readable summary of a safetensors file
 * (metadata, tensors, totals, and what kind of file it looks like), for checking a LoRA or
 * checkpoint before training with it or sharing it. */
#ifndef LORATTY_INSPECT_H
#define LORATTY_INSPECT_H

#include <stdio.h>

#include "engine/safetensors.h"
#include "error.h"

/* Prints the summary of `path` to `out`. Returns 0, or -1 with err filled when the file
 * cannot be opened or is not a valid safetensors file. */
int inspect_safetensors(const char *path, FILE *out, error_info *err);
/* The same report for a file already open; `label` is shown as its name. */
void inspect_print(const safetensors_file *f, const char *label, FILE *out);

#endif
