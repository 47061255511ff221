/* error.c — filling and formatting error_info. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(error_info *err, const char *file, int line, int column,
              const char *key, const char *fmt, ...)
{
    if (!err)
        return -1;
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    err->column = column;
    snprintf(err->key, sizeof err->key, "%s", key ? key : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

void error_format(const error_info *err, char *buf, size_t size)
{
    char where[600] = "";
    if (err->file[0] && err->line > 0)
        snprintf(where, sizeof where, "%.500s:%d: ", err->file, err->line);
    else if (err->file[0])
        snprintf(where, sizeof where, "%.500s: ", err->file);
    snprintf(buf, size, "%s%s%s%s", where, err->key, err->key[0] ? ": " : "", err->message);
}
