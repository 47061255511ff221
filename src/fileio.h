/* fileio.h — whole-file reads and atomic writes (temp file, fsync, rename), so a save that
 * fails half-way never leaves a truncated file behind. */
#ifndef LORATTY_FILEIO_H
#define LORATTY_FILEIO_H

#include <stddef.h>

#include "error.h"

/* Writes data to path atomically: a temp file in the same directory, fsync, rename over
 * path, fsync of the directory. On failure the old file is untouched. */
int fileio_write_atomic(const char *path, const void *data, size_t len, error_info *err);
/* Reads a whole file into a NUL-terminated malloc'd buffer. */
char *fileio_read_all(const char *path, size_t *len, error_info *err);

#endif
