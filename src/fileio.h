/* fileio.h — whole-file reads and atomic writes (temp file, fsync, rename), so a save that
 * fails half-way never leaves a truncated file behind. Presets, LoRA files and states all
 * go through here. */
#ifndef LORATTY_FILEIO_H
#define LORATTY_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* A file being written: data goes to a hidden temp file beside `path` (".NAME.XXXXXX");
 * commit makes it `path` in one rename. */
typedef struct fileio_atomic {
    int fd;
    char *path, *tmp, *dir;
} fileio_atomic;

int fileio_atomic_open(fileio_atomic *af, const char *path, mode_t mode, error_info *err);
int fileio_atomic_write(fileio_atomic *af, const void *data, size_t len, error_info *err);
/* fsync, close, rename over path, fsync the directory. On failure the temp file is removed
 * and the old file is untouched. Always releases af. */
int fileio_atomic_commit(fileio_atomic *af, error_info *err);
/* Removes the temp file and releases af. */
void fileio_atomic_abort(fileio_atomic *af);

/* The three steps at once, for data already in memory (mode 0644 less the umask). */
int fileio_write_atomic(const char *path, const void *data, size_t len, error_info *err);
/* Reads a whole file into a NUL-terminated malloc'd buffer. */
char *fileio_read_all(const char *path, size_t *len, error_info *err);

#endif
