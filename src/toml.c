/* toml.c — the TOML 1.0.0 reader: text to a tree of toml_value.
 *
 * A hand-written recursive-descent parser over the whole document in memory. It validates
 * UTF-8 and control characters in one pass first, then parses statements, tracking line and
 * column so every error and every value can point at its place in the file. Numbers, booleans
 * and dates are read by toml_scalar.c; building and writing trees lives in toml_write.c. */
#include "toml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct strbuf {
    char *d;
    size_t len, cap;
} strbuf;

typedef struct parser {
    const char *s;
    size_t n, pos;
    int line;
    size_t line_start;
    const char *file;
    error_info *err;
    toml_value *root, *current;
    toml_value *last;    /* the value the latest top-level key defined */
    strbuf comment;      /* full-line comments since the last blank line or statement */
    int depth;           /* how deep in the tree the current [table] is */
    int nest;            /* depth of what is being parsed: depth + key parts + brackets */
    size_t col_line_start, col_pos;
    int col;             /* column_at's memo: the column at col_pos */
} parser;

/* Bounds the depth of trees so the recursive parser, writer and free cannot exhaust the stack. */
#define MAX_NEST 256

typedef struct key_part {
    char *key;
    size_t len;
    int line, col;
} key_part;

typedef struct keypath {
    size_t count, cap;
    key_part *parts;
} keypath;

/* 1-based column in characters; counting resumes from the previous call on the same line,
 * so a long line with many values stays linear. */
static int column_at(parser *p, size_t pos)
{
    if (p->col_line_start != p->line_start || p->col_pos > pos) {
        p->col_line_start = p->line_start;
        p->col_pos = p->line_start;
        p->col = 1;
    }
    for (; p->col_pos < pos && p->col_pos < p->n; p->col_pos++)
        if (((unsigned char)p->s[p->col_pos] & 0xC0) != 0x80)
            p->col++;
    return p->col;
}

/* The character at the current position as text for a message (whole UTF-8 sequence). */
static const char *char_text(const parser *p, char out[8])
{
    unsigned char c = (unsigned char)p->s[p->pos];
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (c < 0x20 || c == 0x7F)
        snprintf(out, 8, "U+%04X", c);
    else
        snprintf(out, 8, "%.*s", (int)n, p->s + p->pos);
    return out;
}

static int fail_at(parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(parser *p, int line, int col, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(p->err, p->file, line, col, NULL, "%s", msg);
}

#define FAIL(p, ...) fail_at((p), (p)->line, column_at((p), (p)->pos), __VA_ARGS__)

static int sb_put(strbuf *b, const char *d, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *nd = realloc(b->d, cap);
        if (!nd)
            return -1;
        b->d = nd;
        b->cap = cap;
    }
    memcpy(b->d + b->len, d, len);
    b->len += len;
    b->d[b->len] = '\0';
    return 0;
}

static int sb_utf8(strbuf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return sb_put(b, u, n);
}

/* Rejects malformed UTF-8 and the control characters TOML forbids everywhere (all but tab,
 * LF, and CR as part of CRLF), so the parser proper only sees well-formed text. */
static int check_text(parser *p)
{
    const unsigned char *s = (const unsigned char *)p->s;
    for (size_t i = 0; i < p->n;) {
        unsigned c = s[i];
        if (c == '\n') {
            p->line++;
            p->line_start = ++i;
            continue;
        }
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && !(c == '\r' && i + 1 < p->n && s[i + 1] == '\n')) ||
                c == 0x7F) {
                p->pos = i;
                return FAIL(p, c == '\r' ? "carriage return not followed by line feed"
                                         : "control character U+%04X is not allowed", c);
            }
            i++;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        unsigned long cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
        bool ok = c >= 0xC2 && c <= 0xF4 && i + len <= p->n;
        for (size_t k = 1; ok && k < len; k++) {
            ok = (s[i + k] & 0xC0) == 0x80;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (ok)
            ok = !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
                 !(cp >= 0xD800 && cp <= 0xDFFF);
        if (!ok) {
            p->pos = i;
            return FAIL(p, "invalid UTF-8 byte sequence");
        }
        i += len;
    }
    p->line = 1;
    p->line_start = 0;
    p->pos = 0;
    return 0;
}

static bool at_end(const parser *p) { return p->pos >= p->n; }
static char cur(const parser *p) { return p->pos < p->n ? p->s[p->pos] : '\0'; }
static char peek(const parser *p, size_t k) { return p->pos + k < p->n ? p->s[p->pos + k] : '\0'; }
static bool at_newline(const parser *p) { return cur(p) == '\n' || cur(p) == '\r'; }

static void skip_newline(parser *p)
{
    p->pos += cur(p) == '\r' ? 2 : 1;
    p->line++;
    p->line_start = p->pos;
}

static void skip_ws(parser *p)
{
    while (cur(p) == ' ' || cur(p) == '\t')
        p->pos++;
}

static void skip_comment(parser *p)
{
    if (cur(p) == '#')
        while (!at_end(p) && !at_newline(p))
            p->pos++;
}

/* Whitespace, comments and newlines, as allowed between array elements. */
static void skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        skip_comment(p);
        if (!at_newline(p))
            return;
        skip_newline(p);
    }
}

static bool is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One escape sequence at the backslash under the cursor; errors point at the backslash. */
static int parse_escape(parser *p, strbuf *b)
{
    char c = peek(p, 1);
    const char *simple = "b\bt\tn\nf\fr\r\"\"\\\\";
    for (const char *e = simple; *e; e += 2)
        if (c == e[0]) {
            p->pos += 2;
            return sb_put(b, &e[1], 1) < 0 ? FAIL(p, "out of memory") : 0;
        }
    if (c != 'u' && c != 'U')
        return FAIL(p, "invalid escape sequence '\\%c'", c >= 0x20 && c < 0x7F ? c : '?');
    int digits = c == 'u' ? 4 : 8;
    unsigned long cp = 0;
    for (int i = 2; i < digits + 2; i++) {
        int h = hex_value(peek(p, (size_t)i));
        if (h < 0)
            return FAIL(p, "'\\%c' needs %d hexadecimal digits", c, digits);
        cp = cp * 16 + (unsigned long)h;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return FAIL(p, "'\\%c' escape is not a Unicode scalar value", c);
    p->pos += (size_t)digits + 2;
    return sb_utf8(b, cp) < 0 ? FAIL(p, "out of memory") : 0;
}

/* Parses any of the four string kinds; multi-line ones only when `multiline_ok`. */
static int parse_string(parser *p, strbuf *b, bool multiline_ok)
{
    char q = cur(p);
    bool literal = q == '\'';
    bool multi = peek(p, 1) == q && peek(p, 2) == q;
    b->len = 0;
    if (sb_put(b, "", 0) < 0)
        return FAIL(p, "out of memory");
    if (multi && !multiline_ok)
        return FAIL(p, "multi-line strings cannot be keys");
    int line = p->line, col = column_at(p, p->pos);
    p->pos += multi ? 3 : 1;
    if (multi && at_newline(p))
        skip_newline(p);
    for (;;) {
        if (at_end(p))
            return fail_at(p, line, col, "unterminated string");
        char c = cur(p);
        if (c == q) {
            if (!multi) {
                p->pos++;
                return 0;
            }
            if (peek(p, 1) == q && peek(p, 2) == q) {
                /* up to two quotes may sit right before the closing delimiter */
                size_t extra = peek(p, 3) == q ? (peek(p, 4) == q ? 2 : 1) : 0;
                if (extra && sb_put(b, p->s + p->pos, extra) < 0)
                    return FAIL(p, "out of memory");
                p->pos += 3 + extra;
                return 0;
            }
        }
        if (at_newline(p)) {
            if (!multi)
                return fail_at(p, line, col, "unterminated string (newline before closing quote)");
            skip_newline(p);
            if (sb_put(b, "\n", 1) < 0)
                return FAIL(p, "out of memory");
            continue;
        }
        if (c == '\\' && !literal) {
            if (multi) {
                size_t k = 1;
                while (peek(p, k) == ' ' || peek(p, k) == '\t')
                    k++;
                if (peek(p, k) == '\n' || peek(p, k) == '\r') {
                    p->pos += k;
                    while (at_newline(p) || cur(p) == ' ' || cur(p) == '\t') {
                        if (at_newline(p))
                            skip_newline(p);
                        else
                            p->pos++;
                    }
                    continue;
                }
            }
            if (parse_escape(p, b) < 0)
                return -1;
            continue;
        }
        if (sb_put(b, &c, 1) < 0)
            return FAIL(p, "out of memory");
        p->pos++;
    }
}

static void keypath_free(keypath *k)
{
    for (size_t i = 0; i < k->count; i++)
        free(k->parts[i].key);
    free(k->parts);
    memset(k, 0, sizeof *k);
}

static int keypath_push(keypath *k, const char *d, size_t len, int line, int col)
{
    if (k->count == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        key_part *parts = realloc(k->parts, cap * sizeof *parts);
        if (!parts)
            return -1;
        k->parts = parts;
        k->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, d, len);
    copy[len] = '\0';
    k->parts[k->count++] = (key_part){copy, len, line, col};
    return 0;
}

/* key = simple-key *( ws '.' ws simple-key ) */
static int parse_key(parser *p, keypath *k, strbuf *b)
{
    for (;;) {
        skip_ws(p);
        int line = p->line, col = column_at(p, p->pos);
        char c = cur(p);
        if (c == '"' || c == '\'') {
            if (parse_string(p, b, false) < 0)
                return -1;
        } else if (is_bare(c)) {
            size_t start = p->pos;
            while (is_bare(cur(p)))
                p->pos++;
            b->len = 0;
            if (sb_put(b, p->s + start, p->pos - start) < 0)
                return FAIL(p, "out of memory");
        } else if (at_end(p) || at_newline(p)) {
            return FAIL(p, "expected a key before the end of the line");
        } else {
            return FAIL(p, "invalid character '%s' in key", char_text(p, (char[8]){0}));
        }
        if (k->count >= MAX_NEST)
            return fail_at(p, line, col, "tables are nested too deeply");
        if (keypath_push(k, b->d, b->len, line, col) < 0)
            return FAIL(p, "out of memory");
        skip_ws(p);
        if (cur(p) != '.')
            return 0;
        p->pos++;
    }
}

static toml_value *parse_value(parser *p, strbuf *b);

static int insert_keyval(parser *p, toml_value *table, keypath *k, strbuf *b);

static toml_value *parse_array(parser *p, strbuf *b)
{
    toml_value *arr = toml_new_array();
    if (!arr) {
        FAIL(p, "out of memory");
        return NULL;
    }
    p->pos++;
    for (;;) {
        skip_ws_nl(p);
        if (cur(p) == ']')
            break;
        toml_value *v = parse_value(p, b);
        if (!v)
            goto fail;
        if (toml_array_append(arr, v) < 0) {
            toml_free(v);
            FAIL(p, "out of memory");
            goto fail;
        }
        skip_ws_nl(p);
        if (cur(p) == ',') {
            p->pos++;
            continue;
        }
        if (cur(p) == ']')
            break;
        FAIL(p, at_end(p) ? "unterminated array" : "expected ',' or ']' in array");
        goto fail;
    }
    p->pos++;
    return arr;
fail:
    toml_free(arr);
    return NULL;
}

static toml_value *parse_inline_table(parser *p, strbuf *b)
{
    toml_value *t = toml_new_table();
    if (!t) {
        FAIL(p, "out of memory");
        return NULL;
    }
    p->pos++;
    skip_ws(p);
    if (cur(p) == '}') {
        p->pos++;
        return t;
    }
    for (;;) {
        keypath k = {0};
        int rc = parse_key(p, &k, b);
        if (rc == 0)
            rc = insert_keyval(p, t, &k, b);
        keypath_free(&k);
        if (rc < 0)
            goto fail;
        skip_ws(p);
        if (cur(p) == ',') {
            p->pos++;
            continue;
        }
        if (cur(p) == '}')
            break;
        if (at_newline(p))
            FAIL(p, "newline inside an inline table");
        else
            FAIL(p, at_end(p) ? "unterminated inline table" : "expected ',' or '}' in inline table");
        goto fail;
    }
    p->pos++;
    return t;
fail:
    toml_free(t);
    return NULL;
}

/* Numbers, booleans and dates: scan one token, then let toml_parse_scalar decide. */
static toml_value *parse_scalar(parser *p)
{
    size_t start = p->pos;
    while (is_bare(cur(p)) || cur(p) == '+' || cur(p) == '.' || cur(p) == ':')
        p->pos++;
    const char *t = p->s + start;
    if (p->pos - start == 10 && t[4] == '-' && t[7] == '-' && cur(p) == ' ' &&
        is_digit(peek(p, 1)) && is_digit(peek(p, 2)) && peek(p, 3) == ':') {
        p->pos++; /* a date, a space, and a time */
        while (is_bare(cur(p)) || cur(p) == '+' || cur(p) == '.' || cur(p) == ':')
            p->pos++;
    }
    size_t len = p->pos - start;
    p->pos = start; /* errors point at the token's start */
    if (len == 0) {
        if (at_end(p) || at_newline(p) || cur(p) == '#')
            FAIL(p, "expected a value");
        else
            FAIL(p, "unexpected character '%s' where a value should be", char_text(p, (char[8]){0}));
        return NULL;
    }
    char why[300] = "";
    toml_value *v = toml_parse_scalar(t, len, why, sizeof why);
    if (!v)
        FAIL(p, "%s", why);
    p->pos = start + len;
    return v;
}

static toml_value *parse_value(parser *p, strbuf *b)
{
    int line = p->line, col = column_at(p, p->pos);
    toml_value *v;
    char c = cur(p);
    if (c == '"' || c == '\'') {
        if (parse_string(p, b, true) < 0)
            return NULL;
        v = toml_new_string_len(b->d, b->len);
        if (!v)
            FAIL(p, "out of memory");
    } else if (c == '[' || c == '{') {
        if (++p->nest > MAX_NEST)
            v = NULL, FAIL(p, "arrays and tables are nested too deeply");
        else
            v = c == '[' ? parse_array(p, b) : parse_inline_table(p, b);
        p->nest--;
    } else {
        v = parse_scalar(p);
    }
    if (v) {
        v->line = line;
        v->column = col;
    }
    return v;
}

static void path_text(const keypath *k, size_t n, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < size; i++) {
        int w = snprintf(out + used, size - used, "%s%s", i ? "." : "", k->parts[i].key);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static toml_value *add_table(parser *p, toml_value *parent, const keypath *k, size_t i,
                             unsigned char origin, int line, int col)
{
    toml_value *t = toml_new_table();
    if (!t || toml_table_set_len(parent, k->parts[i].key, k->parts[i].len, t) < 0) {
        toml_free(t);
        FAIL(p, "out of memory");
        return NULL;
    }
    parent->as.table.origin[parent->as.table.count - 1] = origin;
    t->line = line;
    t->column = col;
    return t;
}

/* `key = value` into `table`, creating the tables its dotted key names. */
static int insert_keyval(parser *p, toml_value *table, keypath *k, strbuf *b)
{
    char name[160];
    skip_ws(p);
    if (cur(p) != '=')
        return FAIL(p, "expected '=' after key");
    p->pos++;
    skip_ws(p);
    toml_value *t = table;
    size_t last = k->count - 1;
    for (size_t i = 0; i < last; i++) {
        long idx = toml_table_index(t, k->parts[i].key, k->parts[i].len);
        if (idx < 0) {
            t = add_table(p, t, k, i, TOML_ORIGIN_DOTTED, k->parts[i].line, k->parts[i].col);
            if (!t)
                return -1;
        } else if (t->as.table.origin[idx] == TOML_ORIGIN_DOTTED) {
            t = t->as.table.values[idx];
        } else {
            path_text(k, i + 1, name, sizeof name);
            bool is_table = t->as.table.values[idx]->type == TOML_TABLE;
            return fail_at(p, k->parts[i].line, k->parts[i].col,
                           is_table ? "cannot add keys to table '%s' with dotted keys here: "
                                      "it is defined elsewhere or inline"
                                    : "key '%s' is already defined as a value, not a table",
                           name);
        }
    }
    if (toml_table_index(t, k->parts[last].key, k->parts[last].len) >= 0) {
        path_text(k, k->count, name, sizeof name);
        return fail_at(p, k->parts[last].line, k->parts[last].col, "duplicate key '%s'", name);
    }
    p->nest += (int)k->count;
    toml_value *v = p->nest > MAX_NEST ? NULL : parse_value(p, b);
    if (p->nest > MAX_NEST)
        FAIL(p, "arrays and tables are nested too deeply");
    p->nest -= (int)k->count;
    if (!v)
        return -1;
    if (toml_table_set_len(t, k->parts[last].key, k->parts[last].len, v) < 0) {
        toml_free(v);
        return FAIL(p, "out of memory");
    }
    t->as.table.origin[t->as.table.count - 1] = TOML_ORIGIN_VALUE;
    p->last = v;
    return 0;
}

/* [a.b.c] or [[a.b.c]]: finds or creates the table that following keys go into. */
static int header_target(parser *p, keypath *k, bool aot, int line, int col)
{
    char name[160];
    toml_value *t = p->root;
    size_t last = k->count - 1;
    int depth = (int)k->count + aot;
    for (size_t i = 0; i < last; i++) {
        long idx = toml_table_index(t, k->parts[i].key, k->parts[i].len);
        if (idx >= 0 && t->as.table.origin[idx] == TOML_ORIGIN_AOT)
            depth++;
        if (depth > MAX_NEST)
            return fail_at(p, line, col, "tables are nested too deeply");
        if (idx < 0) {
            t = add_table(p, t, k, i, TOML_ORIGIN_IMPLICIT, line, col);
            if (!t)
                return -1;
            continue;
        }
        toml_value *v = t->as.table.values[idx];
        unsigned char o = t->as.table.origin[idx];
        if (o == TOML_ORIGIN_AOT) {
            t = v->as.array.items[v->as.array.count - 1];
        } else if (v->type == TOML_TABLE && o != TOML_ORIGIN_VALUE) {
            t = v;
        } else {
            path_text(k, i + 1, name, sizeof name);
            return fail_at(p, k->parts[i].line, k->parts[i].col, "'%s' is %s, not a table", name,
                           v->type == TOML_TABLE ? "an inline table (which cannot be extended)"
                                                 : "a value");
        }
    }
    path_text(k, k->count, name, sizeof name);
    long idx = toml_table_index(t, k->parts[last].key, k->parts[last].len);
    unsigned char o = idx >= 0 ? t->as.table.origin[idx] : 0;
    if (!aot) {
        if (idx < 0) {
            t = add_table(p, t, k, last, TOML_ORIGIN_HEADER, line, col);
        } else if (o == TOML_ORIGIN_IMPLICIT) {
            t->as.table.origin[idx] = TOML_ORIGIN_HEADER;
            t = t->as.table.values[idx];
            t->line = line;
            t->column = col;
        } else {
            return fail_at(p, line, col, "table '%s' is already defined%s", name,
                           o == TOML_ORIGIN_DOTTED ? " by dotted keys"
                           : o == TOML_ORIGIN_AOT  ? " as an array of tables"
                           : o == TOML_ORIGIN_VALUE ? " as a value" : "");
        }
    } else {
        toml_value *arr;
        if (idx < 0) {
            arr = toml_new_array();
            if (!arr || toml_table_set_len(t, k->parts[last].key, k->parts[last].len, arr) < 0) {
                toml_free(arr);
                return FAIL(p, "out of memory");
            }
            t->as.table.origin[t->as.table.count - 1] = TOML_ORIGIN_AOT;
            arr->line = line;
            arr->column = col;
        } else if (o == TOML_ORIGIN_AOT) {
            arr = t->as.table.values[idx];
        } else {
            return fail_at(p, line, col, "'%s' is already defined and is not an array of tables",
                           name);
        }
        t = toml_new_table();
        if (!t || toml_array_append(arr, t) < 0) {
            toml_free(t);
            return FAIL(p, "out of memory");
        }
        t->line = line;
        t->column = col;
    }
    if (!t)
        return -1;
    p->current = p->last = t;
    p->depth = depth;
    return 0;
}

static int parse_header(parser *p, strbuf *b)
{
    int line = p->line, col = column_at(p, p->pos);
    bool aot = peek(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    keypath k = {0};
    int rc = parse_key(p, &k, b);
    if (rc == 0 && (cur(p) != ']' || (aot && peek(p, 1) != ']')))
        rc = FAIL(p, aot ? "expected ']]' to close the array-of-tables header"
                         : "expected ']' to close the table header");
    if (rc == 0) {
        p->pos += aot ? 2 : 1;
        rc = header_target(p, &k, aot, line, col);
    }
    keypath_free(&k);
    return rc;
}

toml_value *toml_parse(const char *text, size_t length, const char *filename, error_info *err)
{
    parser P = {.s = text, .n = length, .line = 1, .col = 1, .file = filename ? filename : "",
                .err = err};
    parser *p = &P;
    strbuf b = {0};
    if (check_text(p) < 0)
        return NULL;
    if (length >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        p->pos = p->line_start = 3; /* a UTF-8 byte-order mark */
    p->root = p->current = toml_new_table();
    if (!p->root) {
        FAIL(p, "out of memory");
        return NULL;
    }
    p->root->line = p->root->column = 1;
    int rc = 0;
    while (rc == 0 && !at_end(p)) {
        skip_ws(p);
        const char *what = NULL;
        p->last = NULL;
        if (cur(p) == '#') {
            size_t start = p->pos + 1 + (peek(p, 1) == ' ');
            skip_comment(p);
            if (start <= p->pos && (sb_put(&p->comment, p->s + start, p->pos - start) < 0 ||
                                    sb_put(&p->comment, "\n", 1) < 0))
                rc = FAIL(p, "out of memory");
        } else if (at_newline(p)) {
            p->comment.len = 0;
        } else if (cur(p) == '[') {
            rc = parse_header(p, &b);
            what = "the table header";
        } else if (!at_end(p)) {
            keypath k = {0};
            p->nest = p->depth;
            rc = parse_key(p, &k, &b);
            if (rc == 0)
                rc = insert_keyval(p, p->current, &k, &b);
            keypath_free(&k);
            what = "the value";
        }
        if (rc < 0)
            break;
        if (p->last && p->comment.len) {
            p->comment.d[p->comment.len - 1] = '\0';
            if (toml_set_comment(p->last, p->comment.d) < 0)
                rc = FAIL(p, "out of memory");
            p->comment.len = 0;
        }
        skip_ws(p);
        skip_comment(p);
        if (at_end(p))
            break;
        if (!at_newline(p))
            rc = FAIL(p, "expected a newline after %s", what ? what : "the comment");
        else
            skip_newline(p);
    }
    free(b.d);
    free(p->comment.d);
    if (rc < 0) {
        toml_free(p->root);
        return NULL;
    }
    return p->root;
}

toml_value *toml_parse_file(const char *path, error_info *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_set(err, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    strbuf b = {0};
    char chunk[65536];
    size_t got;
    int bad = 0;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (sb_put(&b, chunk, got) < 0) {
            bad = ENOMEM;
            break;
        }
    if (!bad && ferror(f))
        bad = errno ? errno : EIO;
    fclose(f);
    if (bad) {
        free(b.d);
        error_set(err, path, 0, 0, NULL, "cannot read: %s", strerror(bad));
        return NULL;
    }
    toml_value *root = toml_parse(b.d ? b.d : "", b.len, path, err);
    free(b.d);
    return root;
}
