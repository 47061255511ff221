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
    size_t used = 0;
    buf[0] = '\0';
#define APPEND(...) do { \
        int n_ = snprintf(buf + used, size - used, __VA_ARGS__); \
        if (n_ > 0) used = (size_t)n_ < size - used ? used + (size_t)n_ : size - 1; \
    } while (0)
    if (err->file[0]) {
        APPEND("%s", err->file);
        if (err->line > 0)
            APPEND(":%d", err->line);
        APPEND(": ");
    }
    if (err->key[0])
        APPEND("%s: ", err->key);
    APPEND("%s", err->message);
#undef APPEND
}
