/* fuzz_toml.c — libFuzzer target for the TOML reader and writer.
 *
 * Every input must either be rejected with a positioned error, or parse to a tree that
 * toml_write turns into text which parses back to an equal tree, and writing that tree
 * again must give the same text. Build and run: see README.md. */
#include "toml.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same(const toml_value *a, const toml_value *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case TOML_STRING:
        return a->as.string.len == b->as.string.len &&
               memcmp(a->as.string.data, b->as.string.data, a->as.string.len) == 0;
    case TOML_INTEGER:
        return a->as.integer == b->as.integer;
    case TOML_FLOAT:
        return (isnan(a->as.floating) && isnan(b->as.floating)) ||
               (a->as.floating == b->as.floating &&
                signbit(a->as.floating) == signbit(b->as.floating));
    case TOML_BOOL:
        return a->as.boolean == b->as.boolean;
    case TOML_ARRAY:
        if (a->as.array.count != b->as.array.count)
            return 0;
        for (size_t i = 0; i < a->as.array.count; i++)
            if (!same(a->as.array.items[i], b->as.array.items[i]))
                return 0;
        return 1;
    case TOML_TABLE:
        if (a->as.table.count != b->as.table.count)
            return 0;
        for (size_t i = 0; i < a->as.table.count; i++) {
            const toml_value *o =
                toml_table_get_len(b, a->as.table.keys[i], a->as.table.key_lens[i]);
            if (!o || !same(a->as.table.values[i], o))
                return 0;
        }
        return 1;
    default:
        return strcmp(a->as.datetime, b->as.datetime) == 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    error_info err = {0};
    toml_value *root = toml_parse((const char *)data, size, "fuzz", &err);
    if (!root) {
        if (err.line < 1 || err.column < 1 || !err.message[0])
            abort();
        return 0;
    }
    char *text = toml_write(root);
    if (!text)
        abort();
    toml_value *back = toml_parse(text, strlen(text), "written", &err);
    if (!back) {
        fprintf(stderr, "written TOML is rejected at %d:%d: %s\n---\n%s---\n", err.line,
                err.column, err.message, text);
        abort();
    }
    if (!same(root, back)) {
        fprintf(stderr, "written TOML reads back differently\n---\n%s---\n", text);
        abort();
    }
    char *again = toml_write(back);
    if (!again || strcmp(text, again) != 0) {
        fprintf(stderr, "writing is not stable\n---\n%s---\n%s---\n", text, again ? again : "");
        abort();
    }
    free(again);
    free(text);
    toml_free(back);
    toml_free(root);
    return 0;
}
