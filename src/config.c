/* config.c — a configuration's values: typed parsing, range and choice checks, reads and
 * display text. Loading files lives in config_load.c, writing them in config_save.c. */
#include "config.h"
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_init(config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->values = calloc(params_count, sizeof *cfg->values);
    cfg->origins = calloc(params_count, sizeof *cfg->origins);
}

void config_free(config *cfg)
{
    if (cfg->values)
        for (size_t i = 0; i < params_count; i++)
            toml_free(cfg->values[i]);
    free(cfg->values);
    free(cfg->origins);
    toml_free(cfg->general);
    toml_free(cfg->datasets);
    for (size_t i = 0; i < cfg->interned_count; i++)
        free(cfg->interned[i]);
    free(cfg->interned);
    memset(cfg, 0, sizeof *cfg);
}

const char *config_intern_origin(config *cfg, const char *origin)
{
    if (!origin)
        return NULL;
    for (size_t i = 0; i < cfg->interned_count; i++)
        if (strcmp(cfg->interned[i], origin) == 0)
            return cfg->interned[i];
    char **grown = realloc(cfg->interned, (cfg->interned_count + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    cfg->interned = grown;
    cfg->interned[cfg->interned_count] = strdup(origin);
    return cfg->interned[cfg->interned_count++];
}

static size_t param_index(const param *p)
{
    return (size_t)(p - params_table);
}

/* "basic.learning_rate" for messages. */
void config_key_label(const param *p, char *buf, size_t size)
{
    snprintf(buf, size, "%s.%s", params_table_name(p), p->name);
}

static int value_error(const param *p, const char *origin, int line, error_info *err,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int value_error(const param *p, const char *origin, int line, error_info *err,
                       const char *fmt, ...)
{
    char key[160], msg[600];
    config_key_label(p, key, sizeof key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(err, origin, line, 0, key, "%s", msg);
}

static void describe_range(const param *p, char *buf, size_t size)
{
    bool lo = !isnan(p->min), hi = !isnan(p->max);
    if (lo && hi)
        snprintf(buf, size, "between %g and %g", p->min, p->max);
    else if (lo)
        snprintf(buf, size, "at least %g", p->min);
    else if (hi)
        snprintf(buf, size, "at most %g", p->max);
    else
        snprintf(buf, size, "any number");
}

void config_describe_choices(const param *p, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const char *const *c = p->choices; c && *c; c++) {
        int n = snprintf(buf + used, size - used, "%s\"%s\"", used ? ", " : "", *c);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

static bool choice_known(const param *p, const char *text)
{
    for (const char *const *c = p->choices; c && *c; c++)
        if (strcmp(*c, text) == 0)
            return true;
    return false;
}

static bool is_path_type(param_type t)
{
    return t == PARAM_FILE || t == PARAM_DIR;
}

static bool is_text_type(param_type t)
{
    return t == PARAM_STRING || t == PARAM_TEXT || t == PARAM_CHOICE || is_path_type(t);
}

/* Checks a value already of the right TOML type against range and choices. */
static int check_value(const param *p, const toml_value *v, const char *origin, error_info *err)
{
    char range[128];
    switch (p->type) {
    case PARAM_INT:
    case PARAM_FLOAT: {
        double x = v->type == TOML_INTEGER ? (double)v->as.integer : v->as.floating;
        if (isnan(x) || isinf(x))
            return value_error(p, origin, v->line, err, "%g is not a finite number", x);
        if ((!isnan(p->min) && x < p->min) || (!isnan(p->max) && x > p->max)) {
            describe_range(p, range, sizeof range);
            return value_error(p, origin, v->line, err, "%g is out of range: must be %s", x, range);
        }
        return 0;
    }
    case PARAM_CHOICE:
        if (!(p->flags & PARAM_CHOICE_OPEN) && !choice_known(p, v->as.string.data)) {
            char choices[1024];
            config_describe_choices(p, choices, sizeof choices);
            return value_error(p, origin, v->line, err, "\"%s\" is not one of %s",
                               v->as.string.data, choices);
        }
        return 0;
    case PARAM_STRING:
    case PARAM_FILE:
    case PARAM_DIR:
        if (memchr(v->as.string.data, '\n', v->as.string.len))
            return value_error(p, origin, v->line, err, "must be a single line");
        return 0;
    default:
        return 0;
    }
}

static toml_value *make_located(toml_value *v, int line, int column)
{
    if (v) {
        v->line = line;
        v->column = column;
    }
    return v;
}

/* Converts a value read from a file (or JSON) to the parameter's type. Numbers stored as
 * strings (old kohya_ss files hold "clip_skip": "1") and integers given for floats are
 * accepted; anything else of the wrong type is an error. Returns a new value or NULL. */
toml_value *config_coerce(const param *p, const toml_value *in, const char *origin, error_info *err)
{
    toml_value *out = NULL;
    const char *text = in->type == TOML_STRING ? in->as.string.data : NULL;
    switch (p->type) {
    case PARAM_BOOL:
        if (in->type == TOML_BOOL)
            out = toml_new_bool(in->as.boolean);
        else if (text && (strcasecmp(text, "true") == 0 || strcasecmp(text, "false") == 0))
            out = toml_new_bool(strcasecmp(text, "true") == 0);
        else {
            value_error(p, origin, in->line, err, "%s is not a boolean (true or false)",
                        toml_type_name(in->type));
            return NULL;
        }
        break;
    case PARAM_INT:
        if (in->type == TOML_INTEGER)
            out = toml_new_integer(in->as.integer);
        else if (in->type == TOML_FLOAT && in->as.floating == floor(in->as.floating)
                 && fabs(in->as.floating) < 9e15)
            out = toml_new_integer((int64_t)in->as.floating);
        else if (text) {
            char *end;
            errno = 0;
            double x = strtod(text, &end);
            while (*end && isspace((unsigned char)*end))
                end++;
            if (end == text || *end || errno || x != floor(x)) {
                value_error(p, origin, in->line, err, "\"%s\" is not a whole number", text);
                return NULL;
            }
            out = toml_new_integer((int64_t)x);
        } else {
            value_error(p, origin, in->line, err, "%s is not a whole number",
                        toml_type_name(in->type));
            return NULL;
        }
        break;
    case PARAM_FLOAT:
        if (in->type == TOML_FLOAT)
            out = toml_new_float(in->as.floating);
        else if (in->type == TOML_INTEGER)
            out = toml_new_float((double)in->as.integer);
        else if (text) {
            char *end;
            errno = 0;
            double x = strtod(text, &end);
            while (*end && isspace((unsigned char)*end))
                end++;
            if (end == text || *end || errno) {
                value_error(p, origin, in->line, err, "\"%s\" is not a number", text);
                return NULL;
            }
            out = toml_new_float(x);
        } else {
            value_error(p, origin, in->line, err, "%s is not a number", toml_type_name(in->type));
            return NULL;
        }
        break;
    case PARAM_STRING_LIST:
        if (in->type == TOML_ARRAY) {
            out = toml_new_array();
            for (size_t i = 0; i < in->as.array.count; i++) {
                const toml_value *item = in->as.array.items[i];
                if (item->type == TOML_FLOAT || item->type == TOML_INTEGER) {
                    /* a list of numbers (base_weights_multiplier) is kept as their text */
                    char num[40];
                    if (item->type == TOML_INTEGER)
                        snprintf(num, sizeof num, "%lld", (long long)item->as.integer);
                    else {
                        snprintf(num, sizeof num, "%.15g", item->as.floating);
                        if (strtod(num, NULL) != item->as.floating)
                            snprintf(num, sizeof num, "%.17g", item->as.floating);
                    }
                    toml_array_append(out, toml_new_string(num));
                    continue;
                }
                if (item->type != TOML_STRING) {
                    toml_free(out);
                    value_error(p, origin, item->line, err, "list items must be strings, not %s",
                                toml_type_name(item->type));
                    return NULL;
                }
                toml_array_append(out, toml_new_string(item->as.string.data));
            }
        } else if (text) {
            /* kohya_ss stores these as one space-separated string of key=value pairs. */
            out = toml_new_array();
            const char *s = text;
            while (*s) {
                while (*s && isspace((unsigned char)*s))
                    s++;
                const char *start = s;
                while (*s && !isspace((unsigned char)*s))
                    s++;
                if (s > start)
                    toml_array_append(out, toml_new_string_len(start, (size_t)(s - start)));
            }
        } else {
            value_error(p, origin, in->line, err, "%s is not a list of strings",
                        toml_type_name(in->type));
            return NULL;
        }
        break;
    default: /* text types */
        if (text)
            out = toml_new_string_len(in->as.string.data, in->as.string.len);
        else if (p->type == PARAM_CHOICE && (in->type == TOML_INTEGER || in->type == TOML_FLOAT)) {
            /* numeric choices (max_token_length 75/150/225) may be written as numbers */
            char buf[64];
            if (in->type == TOML_INTEGER)
                snprintf(buf, sizeof buf, "%lld", (long long)in->as.integer);
            else
                snprintf(buf, sizeof buf, "%g", in->as.floating);
            out = toml_new_string(buf);
        } else {
            value_error(p, origin, in->line, err, "%s is not a string", toml_type_name(in->type));
            return NULL;
        }
        break;
    }
    make_located(out, in->line, in->column);
    if (out && check_value(p, out, origin, err) != 0) {
        toml_free(out);
        return NULL;
    }
    return out;
}

/* Parses user-typed text (--set, TUI) for a parameter. TOML literal syntax is accepted
 * too, so `--set 'network_args=["a=1"]'` and `--set output_name="x y"` work. */
static toml_value *parse_text(const param *p, const char *text, const char *origin, error_info *err)
{
    toml_value *lit = NULL;
    if (text[0] == '"' || text[0] == '\'' || text[0] == '[') {
        size_t len = strlen(text) + 16;
        char *doc = malloc(len);
        snprintf(doc, len, "v = %s\n", text);
        error_info ignored;
        toml_value *root = toml_parse(doc, strlen(doc), origin, &ignored);
        free(doc);
        if (root) {
            toml_value *v = toml_table_get(root, "v");
            lit = v ? toml_clone(v) : NULL;
            toml_free(root);
        }
    }
    if (!lit) {
        if (p->type == PARAM_BOOL && (strcmp(text, "1") == 0 || strcmp(text, "0") == 0))
            lit = toml_new_bool(text[0] == '1');
        else
            lit = toml_new_string(text);
    }
    toml_value *out = config_coerce(p, lit, origin, err);
    toml_free(lit);
    return out;
}

int config_store(config *cfg, const param *p, toml_value *v, const char *origin)
{
    size_t i = param_index(p);
    toml_free(cfg->values[i]);
    cfg->values[i] = v;
    cfg->origins[i] = config_intern_origin(cfg, origin);
    cfg->dirty = true;
    return 0;
}

bool config_applies(const config *cfg, const param *p)
{
    return params_applies(p, config_lookup_text, (void *)cfg);
}

int config_set_value_text_at(config *cfg, const param *p, const char *text, const char *origin,
                             int line, error_info *err)
{
    toml_value *v = parse_text(p, text, origin, err);
    if (!v)
        return -1;
    v->line = line;
    return config_store(cfg, p, v, origin);
}

int config_set_value_text(config *cfg, const param *p, const char *text, const char *origin,
                          error_info *err)
{
    return config_set_value_text_at(cfg, p, text, origin, 0, err);
}

/* Finds a parameter for "name" or "table.name"; the table must match when given. */
const param *config_find_key(const char *key, char *suggestion, size_t size)
{
    const char *dot = strrchr(key, '.');
    const char *name = dot ? dot + 1 : key;
    const param *p = params_find(name);
    if (!p)
        p = params_find_kohya(name);
    if (p && dot) {
        size_t tlen = (size_t)(dot - key);
        const char *table = params_table_name(p);
        if (strlen(table) != tlen || strncmp(table, key, tlen) != 0) {
            snprintf(suggestion, size, "%s.%s", table, p->name);
            return NULL;
        }
    }
    if (!p && suggestion) {
        const char *near = params_nearest(name);
        snprintf(suggestion, size, "%s", near ? near : "");
    }
    return p;
}

int config_set(config *cfg, const char *assignment, error_info *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return error_set(err, "--set", 0, 0, "", "\"%s\" is not KEY=VALUE", assignment);
    char key[160];
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    char suggestion[160] = "";
    const param *p = config_find_key(key, suggestion, sizeof suggestion);
    if (!p) {
        if (strchr(key, '.') && suggestion[0] && params_find(strrchr(suggestion, '.') + 1))
            return error_set(err, "--set", 0, 0, key, "that parameter lives in %s", suggestion);
        return error_set(err, "--set", 0, 0, key, "unknown parameter%s%s%s",
                         suggestion[0] ? " (did you mean " : "", suggestion,
                         suggestion[0] ? "?)" : "");
    }
    return config_set_value_text(cfg, p, eq + 1, "--set", err);
}

void config_reset(config *cfg, const param *p)
{
    size_t i = param_index(p);
    if (cfg->values[i]) {
        toml_free(cfg->values[i]);
        cfg->values[i] = NULL;
        cfg->origins[i] = NULL;
        cfg->dirty = true;
    }
}

/* The default as a value of the parameter's type (owned by a lazily built cache). */
static const toml_value *default_value(const param *p)
{
    static toml_value **cache;
    if (!cache)
        cache = calloc(params_count, sizeof *cache);
    size_t i = param_index(p);
    if (!cache[i]) {
        toml_value *text = toml_new_string(p->default_value ? p->default_value : "");
        error_info ignored;
        /* an empty default of a number means "unset": keep 0 */
        if ((p->type == PARAM_INT || p->type == PARAM_FLOAT || p->type == PARAM_BOOL)
            && !(p->default_value && p->default_value[0])) {
            toml_free(text);
            text = toml_new_string(p->type == PARAM_BOOL ? "false" : "0");
        }
        param relaxed = *p;
        relaxed.min = NAN;
        relaxed.max = NAN;
        relaxed.flags |= PARAM_CHOICE_OPEN;
        cache[i] = config_coerce(&relaxed, text, "", &ignored);
        if (!cache[i])
            cache[i] = toml_new_string("");
        toml_free(text);
    }
    return cache[i];
}

const toml_value *config_get(const config *cfg, const param *p)
{
    return cfg->values[param_index(p)];
}

static const toml_value *effective(const config *cfg, const param *p)
{
    const toml_value *v = cfg->values[param_index(p)];
    return v ? v : default_value(p);
}

static bool values_equal(const toml_value *a, const toml_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TOML_BOOL: return a->as.boolean == b->as.boolean;
    case TOML_INTEGER: return a->as.integer == b->as.integer;
    case TOML_FLOAT: return a->as.floating == b->as.floating;
    case TOML_STRING:
        return a->as.string.len == b->as.string.len
               && memcmp(a->as.string.data, b->as.string.data, a->as.string.len) == 0;
    case TOML_ARRAY:
        if (a->as.array.count != b->as.array.count)
            return false;
        for (size_t i = 0; i < a->as.array.count; i++)
            if (!values_equal(a->as.array.items[i], b->as.array.items[i]))
                return false;
        return true;
    default: return false;
    }
}

bool config_is_default(const config *cfg, const param *p)
{
    const toml_value *v = cfg->values[param_index(p)];
    return !v || values_equal(v, default_value(p));
}

static const param *must_find(const char *name)
{
    const param *p = params_find(name);
    if (!p)
        fprintf(stderr, "loratty: internal error: no parameter \"%s\" in the table\n", name);
    return p;
}

bool config_bool(const config *cfg, const char *name)
{
    const param *p = must_find(name);
    const toml_value *v = p ? effective(cfg, p) : NULL;
    return v && v->type == TOML_BOOL && v->as.boolean;
}

long long config_int(const config *cfg, const char *name)
{
    const param *p = must_find(name);
    const toml_value *v = p ? effective(cfg, p) : NULL;
    if (!v)
        return 0;
    if (v->type == TOML_INTEGER)
        return v->as.integer;
    if (v->type == TOML_FLOAT)
        return (long long)v->as.floating;
    if (v->type == TOML_STRING)
        return strtoll(v->as.string.data, NULL, 10);
    return 0;
}

double config_float(const config *cfg, const char *name)
{
    const param *p = must_find(name);
    const toml_value *v = p ? effective(cfg, p) : NULL;
    if (!v)
        return 0;
    if (v->type == TOML_FLOAT)
        return v->as.floating;
    if (v->type == TOML_INTEGER)
        return (double)v->as.integer;
    if (v->type == TOML_STRING)
        return strtod(v->as.string.data, NULL);
    return 0;
}

const char *config_string(const config *cfg, const char *name)
{
    const param *p = must_find(name);
    const toml_value *v = p ? effective(cfg, p) : NULL;
    return v && v->type == TOML_STRING ? v->as.string.data : "";
}

/* Shortest decimal text that reads back to the same double; plain notation (10, 0.0001)
 * where a person would write it, exponents only for very small or large numbers. */
void config_format_float(double x, char *buf, size_t size)
{
    double magnitude = x < 0 ? -x : x;
    if (x == 0 || (magnitude >= 1e-5 && magnitude < 1e15)) {
        for (int decimals = 0; decimals <= 20; decimals++) {
            snprintf(buf, size, "%.*f", decimals, x);
            if (strtod(buf, NULL) == x)
                return;
        }
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

char *config_value_text(const config *cfg, const param *p)
{
    const toml_value *v = effective(cfg, p);
    char buf[64];
    switch (v->type) {
    case TOML_BOOL: return strdup(v->as.boolean ? "true" : "false");
    case TOML_INTEGER:
        snprintf(buf, sizeof buf, "%lld", (long long)v->as.integer);
        return strdup(buf);
    case TOML_FLOAT:
        config_format_float(v->as.floating, buf, sizeof buf);
        return strdup(buf);
    case TOML_STRING: return strdup(v->as.string.data);
    case TOML_ARRAY: {
        size_t len = 1;
        for (size_t i = 0; i < v->as.array.count; i++)
            len += v->as.array.items[i]->as.string.len + 1;
        char *out = malloc(len);
        out[0] = '\0';
        for (size_t i = 0; i < v->as.array.count; i++) {
            if (i)
                strcat(out, " ");
            strcat(out, v->as.array.items[i]->as.string.data);
        }
        return out;
    }
    default: return strdup("");
    }
}

void config_warnings_add(config_warnings *w, const char *fmt, ...)
{
    if (!w)
        return;
    if (w->count == w->capacity) {
        size_t cap = w->capacity ? w->capacity * 2 : 16;
        char **grown = realloc(w->lines, cap * sizeof *grown);
        if (!grown)
            return;
        w->lines = grown;
        w->capacity = cap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    w->lines[w->count++] = strdup(buf);
}

void config_warnings_free(config_warnings *w)
{
    for (size_t i = 0; i < w->count; i++)
        free(w->lines[i]);
    free(w->lines);
    memset(w, 0, sizeof *w);
}

bool config_is_text_param(const param *p)
{
    return is_text_type(p->type);
}
