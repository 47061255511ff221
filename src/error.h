/* error.h — the one error record every library function fills instead of printing.
 * Only main.c and the TUI decide how to show it. */
#ifndef LORATTY_ERROR_H
#define LORATTY_ERROR_H

#include <stddef.h>

typedef struct error_info {
    char file[512];    /* file the problem is in, "" when none */
    int line;          /* 1-based, 0 when unknown */
    int column;        /* 1-based, 0 when unknown */
    char key[160];     /* dotted parameter key, "" when none */
    char message[768];
} error_info;

/* Fills err (which may be NULL) and returns -1, so callers can `return error_set(...)`. */
int error_set(error_info *err, const char *file, int line, int column,
              const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Formats as `FILE:LINE: KEY: MESSAGE`, leaving out the parts that are empty. */
void error_format(const error_info *err, char *buf, size_t size);

#endif
