/* png_write.h — writing sample images as 8-bit RGB PNG files, atomically (src/fileio.h), with
 * text chunks such as AUTOMATIC1111's "parameters" (the generation settings that A1111,
 * ComfyUI and civitai read back from an image). */
#ifndef LORATTY_PNG_WRITE_H
#define LORATTY_PNG_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* rgb [H, W, 3] bytes. keys/values: n_text tEXt chunks (Latin-1 text; NULL when none). */
int png_write_rgb8(const char *path, const uint8_t *rgb, int width, int height,
                   const char *const *keys, const char *const *values, int n_text, error_info *err);
/* The same PNG into memory: *out (malloc'd, the caller frees) of *len bytes; `label` names
 * the image in messages. For writers that make many files and sync once (src/shapes_write.c). */
int png_encode_rgb8(const uint8_t *rgb, int width, int height, const char *const *keys,
                    const char *const *values, int n_text, const char *label, uint8_t **out,
                    size_t *len, error_info *err);

/* image [3, H, W] floats in [0, 1] → rgb [H, W, 3] bytes, as diffusers' numpy_to_pil rounds:
 * (x · 255).round() after clamping. */
void png_from_planar(uint8_t *rgb, const float *image, int width, int height);

#endif
