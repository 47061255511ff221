/* toml.h — a TOML 1.0.0 reader and writer (Debian packages no C TOML library).
 *
 * The reader builds a tree of toml_value; every value remembers the line and column it
 * was defined at so configuration errors can point at it. The writer turns a tree back
 * into TOML text, keeping the order of keys and the comments attached to them. */
#ifndef LORATTY_TOML_H
#define LORATTY_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum toml_type {
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME,        /* offset date-time */
    TOML_DATETIME_LOCAL,
    TOML_DATE_LOCAL,
    TOML_TIME_LOCAL,
    TOML_ARRAY,
    TOML_TABLE,
} toml_type;

typedef struct toml_value toml_value;

struct toml_value {
    toml_type type;
    int line, column;          /* where the value (or table header) was defined; 0 if built */
    char *comment;             /* writer: comment lines (without '#') put before this key; may be NULL */
    union {
        struct { char *data; size_t len; } string;   /* UTF-8, NUL-terminated, may hold NULs */
        int64_t integer;
        double floating;
        bool boolean;
        char *datetime;        /* the date/time text as written, normalised ('T', upper case) */
        struct { toml_value **items; size_t count, capacity; } array;
        struct {
            char **keys;
            toml_value **values;
            size_t count, capacity;
            unsigned char *origin;   /* reader bookkeeping: how each entry was defined */
            size_t *key_lens;        /* byte length of each key (keys may hold NULs) */
        } table;
    } as;
};

/* Parses a document. `filename` only labels errors (line and column are always filled).
 * Returns the root table, or NULL with err filled. */
toml_value *toml_parse(const char *text, size_t length, const char *filename, error_info *err);
/* Reads one TOML number, boolean or date/time given as the bare text of a value ("1e-4",
 * "0x1F", "true", "1979-05-27T07:32:00Z"), e.g. a command-line override. Returns NULL with
 * the reason in `why` when the text is not one (strings, arrays and tables are not). */
toml_value *toml_parse_scalar(const char *text, size_t len, char *why, size_t why_size);
/* Reads and parses a file; an unreadable file is an error naming it. */
toml_value *toml_parse_file(const char *path, error_info *err);
void toml_free(toml_value *value);

/* Lookups return NULL when absent. */
toml_value *toml_table_get(const toml_value *table, const char *key);
/* The same for keys that may hold NUL bytes. */
toml_value *toml_table_get_len(const toml_value *table, const char *key, size_t len);
/* Position of a key in the table's entries, or -1 when absent. */
long toml_table_index(const toml_value *table, const char *key, size_t len);
const char *toml_type_name(toml_type type);

/* Building trees (all return NULL only on out-of-memory). */
toml_value *toml_new_table(void);
toml_value *toml_new_array(void);
toml_value *toml_new_string(const char *text);
toml_value *toml_new_string_len(const char *data, size_t len);
toml_value *toml_new_integer(int64_t value);
toml_value *toml_new_float(double value);
toml_value *toml_new_bool(bool value);
toml_value *toml_new_datetime(toml_type type, const char *text);
toml_value *toml_clone(const toml_value *value);
/* Takes ownership of value; replaces an existing key in place (keeping its position).
 * On failure (-1: not a table, out of memory) the caller still owns value. */
int toml_table_set(toml_value *table, const char *key, toml_value *value);
/* toml_table_set for keys that may hold NUL bytes. Replacing a value whose successor has no
 * comment keeps the old comment. */
int toml_table_set_len(toml_value *table, const char *key, size_t len, toml_value *value);
/* Removes and frees a key; returns 0 if it was there, -1 if not. */
int toml_table_remove(toml_value *table, const char *key);
int toml_array_append(toml_value *array, toml_value *value);
/* Sets the comment written above a key (copied; "\n" separates lines). */
int toml_set_comment(toml_value *value, const char *comment);

/* Writes a document as TOML text: plain keys first, then [tables] and [[arrays of tables]],
 * in insertion order, with each value's comment above it. Returns a malloc'd string. */
char *toml_write(const toml_value *root);
/* Writes one value as an inline TOML literal (strings quoted and escaped). Malloc'd. */
char *toml_write_inline(const toml_value *value);

/* Values of table.origin (set by the reader, 0 for built trees): how an entry came to be. */
enum {
    TOML_ORIGIN_VALUE,      /* key = value (inline tables and arrays included) */
    TOML_ORIGIN_IMPLICIT,   /* a table named only as the parent in a [a.b] header */
    TOML_ORIGIN_HEADER,     /* a table defined by its own [header] */
    TOML_ORIGIN_DOTTED,     /* a table created by a dotted key (a.b = 1) */
    TOML_ORIGIN_AOT,        /* an array made by [[header]] */
};

#endif
