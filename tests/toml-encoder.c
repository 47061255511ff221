/* toml-encoder.c — the toml-test encoder: reads tagged JSON on standard input and writes it
 * as TOML with toml_write, or exits 1 saying what is wrong with the JSON.
 *
 * Built a second time with -DTOML_JSON_NO_MAIN into test_toml_conformance, which uses
 * tagged_json_to_toml() in-process. */
#include "toml.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

toml_value *tagged_json_to_toml(json_t *j, char *why, size_t size);

static bool is_leaf(json_t *j)
{
    return json_is_object(j) && json_object_size(j) == 2 &&
           json_is_string(json_object_get(j, "type")) && json_is_string(json_object_get(j, "value"));
}

static toml_value *leaf(json_t *j, char *why, size_t size)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *jv = json_object_get(j, "value");
    const char *s = json_string_value(jv);
    char *end = NULL;
    if (strcmp(type, "string") == 0)
        return toml_new_string_len(s, json_string_length(jv));
    if (strcmp(type, "integer") == 0) {
        long long i = strtoll(s, &end, 10);
        if (*s && !*end)
            return toml_new_integer(i);
    } else if (strcmp(type, "float") == 0) {
        const char *u = (*s == '+' || *s == '-') ? s + 1 : s;
        if (strcmp(u, "nan") == 0)
            return toml_new_float(NAN);
        if (strcmp(u, "inf") == 0)
            return toml_new_float(*s == '-' ? -INFINITY : INFINITY);
        double d = strtod(s, &end);
        if (*s && !*end)
            return toml_new_float(d);
    } else if (strcmp(type, "bool") == 0) {
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
            return toml_new_bool(s[0] == 't');
    } else if (strcmp(type, "datetime") == 0) {
        return toml_new_datetime(TOML_DATETIME, s);
    } else if (strcmp(type, "datetime-local") == 0) {
        return toml_new_datetime(TOML_DATETIME_LOCAL, s);
    } else if (strcmp(type, "date-local") == 0) {
        return toml_new_datetime(TOML_DATE_LOCAL, s);
    } else if (strcmp(type, "time-local") == 0) {
        return toml_new_datetime(TOML_TIME_LOCAL, s);
    }
    snprintf(why, size, "bad tagged value: type '%s', value '%s'", type, s);
    return NULL;
}

toml_value *tagged_json_to_toml(json_t *j, char *why, size_t size)
{
    if (is_leaf(j))
        return leaf(j, why, size);
    toml_value *v = NULL;
    if (json_is_object(j)) {
        const char *key;
        size_t klen;
        json_t *item;
        v = toml_new_table();
        json_object_keylen_foreach(j, key, klen, item) {
            toml_value *c = v ? tagged_json_to_toml(item, why, size) : NULL;
            if (!c || toml_table_set_len(v, key, klen, c) < 0) {
                toml_free(c);
                toml_free(v);
                return NULL;
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *item;
        v = toml_new_array();
        json_array_foreach(j, i, item) {
            toml_value *c = v ? tagged_json_to_toml(item, why, size) : NULL;
            if (!c || toml_array_append(v, c) < 0) {
                toml_free(c);
                toml_free(v);
                return NULL;
            }
        }
    } else {
        snprintf(why, size, "expected an object or array");
    }
    return v;
}

#ifndef TOML_JSON_NO_MAIN
int main(void)
{
    json_error_t jerr;
    json_t *j = json_loadf(stdin, JSON_ALLOW_NUL, &jerr);
    if (!j) {
        fprintf(stderr, "toml-encoder: line %d: %s\n", jerr.line, jerr.text);
        return 1;
    }
    char why[256] = "out of memory";
    toml_value *root = tagged_json_to_toml(j, why, sizeof why);
    json_decref(j);
    if (!root || root->type != TOML_TABLE) {
        fprintf(stderr, "toml-encoder: %s\n", root ? "the document must be an object" : why);
        toml_free(root);
        return 1;
    }
    char *text = toml_write(root);
    toml_free(root);
    if (!text) {
        fprintf(stderr, "toml-encoder: out of memory\n");
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}
#endif
