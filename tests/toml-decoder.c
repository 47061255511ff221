/* toml-decoder.c — the toml-test decoder: reads TOML on standard input and prints it as
 * toml-test's tagged JSON ({"type": T, "value": "..."} leaves), or exits 1 with the error
 * and its line and column on standard error.
 *
 * Built a second time with -DTOML_JSON_NO_MAIN into test_toml_conformance, which uses
 * toml_to_tagged_json() in-process. */
#include "toml.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *toml_to_tagged_json(const toml_value *v);

static json_t *tagged(const char *type, const char *value)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "value", json_string(value));
    return o;
}

json_t *toml_to_tagged_json(const toml_value *v)
{
    char num[32];
    json_t *j = NULL;
    switch (v->type) {
    case TOML_STRING:
        j = json_object();
        json_object_set_new(j, "type", json_string("string"));
        json_object_set_new(j, "value", json_stringn(v->as.string.data, v->as.string.len));
        return j;
    case TOML_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)v->as.integer);
        return tagged("integer", num);
    case TOML_FLOAT: {
        char *text = toml_write_inline(v);
        j = tagged("float", text ? text : "");
        free(text);
        return j;
    }
    case TOML_BOOL:
        return tagged("bool", v->as.boolean ? "true" : "false");
    case TOML_DATETIME:
        return tagged("datetime", v->as.datetime);
    case TOML_DATETIME_LOCAL:
        return tagged("datetime-local", v->as.datetime);
    case TOML_DATE_LOCAL:
        return tagged("date-local", v->as.datetime);
    case TOML_TIME_LOCAL:
        return tagged("time-local", v->as.datetime);
    case TOML_ARRAY:
        j = json_array();
        for (size_t i = 0; i < v->as.array.count; i++)
            json_array_append_new(j, toml_to_tagged_json(v->as.array.items[i]));
        return j;
    case TOML_TABLE:
        j = json_object();
        for (size_t i = 0; i < v->as.table.count; i++)
            json_object_setn_new(j, v->as.table.keys[i], v->as.table.key_lens[i],
                                 toml_to_tagged_json(v->as.table.values[i]));
        return j;
    }
    return json_null();
}

#ifndef TOML_JSON_NO_MAIN
int main(void)
{
    size_t len = 0, cap = 65536;
    char *text = malloc(cap);
    size_t got;
    while (text && (got = fread(text + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger)
                free(text);
            text = bigger;
        }
    }
    if (!text) {
        fprintf(stderr, "toml-decoder: out of memory\n");
        return 2;
    }
    error_info err = {0};
    toml_value *root = toml_parse(text, len, "<stdin>", &err);
    free(text);
    if (!root) {
        fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.column, err.message);
        return 1;
    }
    json_t *j = toml_to_tagged_json(root);
    toml_free(root);
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    putchar('\n');
    json_decref(j);
    return 0;
}
#endif
