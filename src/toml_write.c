/* toml_write.c — building TOML trees in memory and writing them back as TOML text.
 *
 * Configs are edited as trees (set, remove, comment) and saved with toml_write, which keeps
 * key order and comments so a saved preset stays readable and diffable. Floats are written
 * in the shortest form that reads back to the same double. The reader is toml.c. */
#include "toml.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static toml_value *value_new(toml_type type)
{
    toml_value *v = calloc(1, sizeof *v);
    if (v)
        v->type = type;
    return v;
}

toml_value *toml_new_table(void) { return value_new(TOML_TABLE); }
toml_value *toml_new_array(void) { return value_new(TOML_ARRAY); }

toml_value *toml_new_string_len(const char *data, size_t len)
{
    toml_value *v = value_new(TOML_STRING);
    char *d = malloc(len + 1);
    if (!v || !d) {
        free(v);
        free(d);
        return NULL;
    }
    if (len)
        memcpy(d, data, len);
    d[len] = '\0';
    v->as.string.data = d;
    v->as.string.len = len;
    return v;
}

toml_value *toml_new_string(const char *text) { return toml_new_string_len(text, strlen(text)); }

toml_value *toml_new_integer(int64_t value)
{
    toml_value *v = value_new(TOML_INTEGER);
    if (v)
        v->as.integer = value;
    return v;
}

toml_value *toml_new_float(double value)
{
    toml_value *v = value_new(TOML_FLOAT);
    if (v)
        v->as.floating = value;
    return v;
}

toml_value *toml_new_bool(bool value)
{
    toml_value *v = value_new(TOML_BOOL);
    if (v)
        v->as.boolean = value;
    return v;
}

toml_value *toml_new_datetime(toml_type type, const char *text)
{
    toml_value *v = value_new(type);
    if (v && !(v->as.datetime = strdup(text))) {
        free(v);
        return NULL;
    }
    return v;
}

void toml_free(toml_value *v)
{
    if (!v)
        return;
    switch (v->type) {
    case TOML_STRING:
        free(v->as.string.data);
        break;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        free(v->as.datetime);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->as.array.count; i++)
            toml_free(v->as.array.items[i]);
        free(v->as.array.items);
        break;
    case TOML_TABLE:
        for (size_t i = 0; i < v->as.table.count; i++) {
            free(v->as.table.keys[i]);
            toml_free(v->as.table.values[i]);
        }
        free(v->as.table.keys);
        free(v->as.table.values);
        free(v->as.table.origin);
        free(v->as.table.key_lens);
        break;
    default:
        break;
    }
    free(v->comment);
    free(v);
}

const char *toml_type_name(toml_type type)
{
    static const char *names[] = {"string", "integer", "float", "boolean", "offset date-time",
                                  "local date-time", "local date", "local time", "array", "table"};
    return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

long toml_table_index(const toml_value *t, const char *key, size_t len)
{
    if (!t || t->type != TOML_TABLE)
        return -1;
    for (size_t i = 0; i < t->as.table.count; i++)
        if (t->as.table.key_lens[i] == len && memcmp(t->as.table.keys[i], key, len) == 0)
            return (long)i;
    return -1;
}

toml_value *toml_table_get_len(const toml_value *t, const char *key, size_t len)
{
    long i = toml_table_index(t, key, len);
    return i < 0 ? NULL : t->as.table.values[i];
}

toml_value *toml_table_get(const toml_value *t, const char *key)
{
    return toml_table_get_len(t, key, strlen(key));
}

static int table_grow(toml_value *t)
{
    size_t cap = t->as.table.capacity ? t->as.table.capacity * 2 : 8;
    char **keys = realloc(t->as.table.keys, cap * sizeof *keys);
    if (keys)
        t->as.table.keys = keys;
    toml_value **values = realloc(t->as.table.values, cap * sizeof *values);
    if (values)
        t->as.table.values = values;
    unsigned char *origin = realloc(t->as.table.origin, cap);
    if (origin)
        t->as.table.origin = origin;
    size_t *lens = realloc(t->as.table.key_lens, cap * sizeof *lens);
    if (lens)
        t->as.table.key_lens = lens;
    if (!keys || !values || !origin || !lens)
        return -1;
    t->as.table.capacity = cap;
    return 0;
}

int toml_table_set_len(toml_value *t, const char *key, size_t len, toml_value *value)
{
    if (!t || t->type != TOML_TABLE || !value)
        return -1;
    long i = toml_table_index(t, key, len);
    if (i >= 0) {
        toml_value *old = t->as.table.values[i];
        if (!value->comment) {
            value->comment = old->comment;
            old->comment = NULL;
        }
        toml_free(old);
        t->as.table.values[i] = value;
        t->as.table.origin[i] = TOML_ORIGIN_VALUE;
        return 0;
    }
    if (t->as.table.count == t->as.table.capacity && table_grow(t) < 0)
        return -1;
    char *k = malloc(len + 1);
    if (!k)
        return -1;
    memcpy(k, key, len);
    k[len] = '\0';
    size_t n = t->as.table.count++;
    t->as.table.keys[n] = k;
    t->as.table.key_lens[n] = len;
    t->as.table.values[n] = value;
    t->as.table.origin[n] = TOML_ORIGIN_VALUE;
    return 0;
}

int toml_table_set(toml_value *t, const char *key, toml_value *value)
{
    return toml_table_set_len(t, key, strlen(key), value);
}

int toml_table_remove(toml_value *t, const char *key)
{
    long i = toml_table_index(t, key, strlen(key));
    if (i < 0)
        return -1;
    free(t->as.table.keys[i]);
    toml_free(t->as.table.values[i]);
    size_t rest = t->as.table.count - (size_t)i - 1;
    memmove(&t->as.table.keys[i], &t->as.table.keys[i + 1], rest * sizeof(char *));
    memmove(&t->as.table.values[i], &t->as.table.values[i + 1], rest * sizeof(toml_value *));
    memmove(&t->as.table.origin[i], &t->as.table.origin[i + 1], rest);
    memmove(&t->as.table.key_lens[i], &t->as.table.key_lens[i + 1], rest * sizeof(size_t));
    t->as.table.count--;
    return 0;
}

int toml_array_append(toml_value *a, toml_value *value)
{
    if (!a || a->type != TOML_ARRAY || !value)
        return -1;
    if (a->as.array.count == a->as.array.capacity) {
        size_t cap = a->as.array.capacity ? a->as.array.capacity * 2 : 8;
        toml_value **items = realloc(a->as.array.items, cap * sizeof *items);
        if (!items)
            return -1;
        a->as.array.items = items;
        a->as.array.capacity = cap;
    }
    a->as.array.items[a->as.array.count++] = value;
    return 0;
}

int toml_set_comment(toml_value *v, const char *comment)
{
    char *c = NULL;
    if (comment && !(c = strdup(comment)))
        return -1;
    free(v->comment);
    v->comment = c;
    return 0;
}

toml_value *toml_clone(const toml_value *v)
{
    toml_value *c = NULL;
    switch (v->type) {
    case TOML_STRING:
        c = toml_new_string_len(v->as.string.data, v->as.string.len);
        break;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        c = toml_new_datetime(v->type, v->as.datetime);
        break;
    case TOML_ARRAY:
        c = toml_new_array();
        for (size_t i = 0; c && i < v->as.array.count; i++) {
            toml_value *item = toml_clone(v->as.array.items[i]);
            if (!item || toml_array_append(c, item) < 0) {
                toml_free(item);
                toml_free(c);
                c = NULL;
            }
        }
        break;
    case TOML_TABLE:
        c = toml_new_table();
        for (size_t i = 0; c && i < v->as.table.count; i++) {
            toml_value *item = toml_clone(v->as.table.values[i]);
            if (!item || toml_table_set_len(c, v->as.table.keys[i], v->as.table.key_lens[i], item) < 0) {
                toml_free(item);
                toml_free(c);
                c = NULL;
            } else {
                c->as.table.origin[i] = v->as.table.origin[i];
            }
        }
        break;
    default:
        c = value_new(v->type);
        if (c)
            c->as = v->as;
        break;
    }
    if (!c)
        return NULL;
    c->line = v->line;
    c->column = v->column;
    if (v->comment && toml_set_comment(c, v->comment) < 0) {
        toml_free(c);
        return NULL;
    }
    return c;
}

typedef struct out {
    char *d;
    size_t len, cap;
    bool oom;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *d = realloc(o->d, cap);
        if (!d) {
            o->oom = true;
            return;
        }
        o->d = d;
        o->cap = cap;
    }
    memcpy(o->d + o->len, s, n);
    o->len += n;
    o->d[o->len] = '\0';
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static void write_string(out *o, const char *s, size_t len)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                        : c == '\t' ? "\\t" : c == '\n' ? "\\n" : c == '\f' ? "\\f"
                        : c == '\r' ? "\\r" : NULL;
        char u[8];
        if (!esc && (c < 0x20 || c == 0x7F)) {
            snprintf(u, sizeof u, "\\u%04X", c);
            esc = u;
        }
        if (esc)
            puts_(o, esc);
        else
            put(o, &s[i], 1);
    }
    put(o, "\"", 1);
}

static void write_key(out *o, const char *k, size_t len)
{
    bool bare = len > 0;
    for (size_t i = 0; bare && i < len; i++) {
        char c = k[i];
        bare = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    }
    if (bare)
        put(o, k, len);
    else
        write_string(o, k, len);
}

/* The shortest %g form that reads back to the same double, spelled with '.' whatever the
 * locale, and always recognisable as a float (a '.' or an exponent). */
static void write_float(out *o, double d)
{
    if (isnan(d)) {
        puts_(o, "nan");
        return;
    }
    if (isinf(d)) {
        puts_(o, d > 0 ? "inf" : "-inf");
        return;
    }
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    const char *dp = localeconv()->decimal_point;
    char fixed[80];
    size_t n = 0;
    for (const char *s = buf; *s;) {
        if (dp && *dp && strncmp(s, dp, strlen(dp)) == 0) {
            fixed[n++] = '.';
            s += strlen(dp);
        } else {
            fixed[n++] = *s++;
        }
    }
    fixed[n] = '\0';
    if (!strpbrk(fixed, ".e"))
        strcat(fixed, ".0");
    puts_(o, fixed);
}

static void write_inline(out *o, const toml_value *v)
{
    char num[32];
    switch (v->type) {
    case TOML_STRING:
        write_string(o, v->as.string.data, v->as.string.len);
        break;
    case TOML_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)v->as.integer);
        puts_(o, num);
        break;
    case TOML_FLOAT:
        write_float(o, v->as.floating);
        break;
    case TOML_BOOL:
        puts_(o, v->as.boolean ? "true" : "false");
        break;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        puts_(o, v->as.datetime);
        break;
    case TOML_ARRAY:
        put(o, "[", 1);
        for (size_t i = 0; i < v->as.array.count; i++) {
            if (i)
                put(o, ", ", 2);
            write_inline(o, v->as.array.items[i]);
        }
        put(o, "]", 1);
        break;
    case TOML_TABLE:
        put(o, "{", 1);
        for (size_t i = 0; i < v->as.table.count; i++) {
            put(o, i ? ", " : " ", i ? 2 : 1);
            write_key(o, v->as.table.keys[i], v->as.table.key_lens[i]);
            put(o, " = ", 3);
            write_inline(o, v->as.table.values[i]);
        }
        puts_(o, v->as.table.count ? " }" : "}");
        break;
    }
}

/* Each line of a comment as `# line` (the reader strips the '#' and one space); control
 * characters would end the comment early. */
static void write_comment(out *o, const char *comment)
{
    if (!comment)
        return;
    const char *s = comment;
    for (;;) {
        size_t n = strcspn(s, "\n");
        put(o, "# ", n ? 2 : 1);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            put(o, (c < 0x20 && c != '\t') || c == 0x7F ? " " : &s[i], 1);
        }
        put(o, "\n", 1);
        if (!s[n])
            break;
        s += n + 1;
    }
}

static bool is_table_array(const toml_value *v)
{
    if (v->type != TOML_ARRAY || v->as.array.count == 0)
        return false;
    for (size_t i = 0; i < v->as.array.count; i++)
        if (v->as.array.items[i]->type != TOML_TABLE)
            return false;
    return true;
}

static void write_body(out *o, const toml_value *t, const char *path, size_t plen)
{
    for (size_t i = 0; i < t->as.table.count; i++) {
        const toml_value *v = t->as.table.values[i];
        if (v->type == TOML_TABLE || is_table_array(v))
            continue;
        write_comment(o, v->comment);
        write_key(o, t->as.table.keys[i], t->as.table.key_lens[i]);
        put(o, " = ", 3);
        write_inline(o, v);
        put(o, "\n", 1);
    }
    for (size_t i = 0; i < t->as.table.count && !o->oom; i++) {
        const toml_value *v = t->as.table.values[i];
        if (v->type != TOML_TABLE && !is_table_array(v))
            continue;
        out sub = {0};
        if (plen) {
            put(&sub, path, plen);
            put(&sub, ".", 1);
        }
        write_key(&sub, t->as.table.keys[i], t->as.table.key_lens[i]);
        if (sub.oom) {
            o->oom = true;
            break;
        }
        bool aot = v->type == TOML_ARRAY;
        size_t n = aot ? v->as.array.count : 1;
        for (size_t k = 0; k < n; k++) {
            const toml_value *tab = aot ? v->as.array.items[k] : v;
            if (o->len)
                put(o, "\n", 1);
            if (aot && k == 0)
                write_comment(o, v->comment);
            write_comment(o, tab->comment);
            puts_(o, aot ? "[[" : "[");
            put(o, sub.d, sub.len);
            puts_(o, aot ? "]]\n" : "]\n");
            write_body(o, tab, sub.d, sub.len);
        }
        free(sub.d);
    }
}

char *toml_write(const toml_value *root)
{
    out o = {0};
    put(&o, "", 0);
    if (root && root->type == TOML_TABLE)
        write_body(&o, root, "", 0);
    else if (root)
        write_inline(&o, root);
    if (o.oom) {
        free(o.d);
        return NULL;
    }
    return o.d;
}

char *toml_write_inline(const toml_value *value)
{
    out o = {0};
    put(&o, "", 0);
    write_inline(&o, value);
    if (o.oom) {
        free(o.d);
        return NULL;
    }
    return o.d;
}
