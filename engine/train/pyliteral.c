/* pyliteral.c — a small ast.literal_eval for sd-scripts' "key=value" argument lists
 * (optimizer_args, lr_scheduler_args): numbers, True/False/None, quoted strings (no escapes)
 * and flat tuples or lists of numbers, a bare "a,b" being a tuple as in Python. */
#include "engine/train/pyliteral.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* One scalar literal at *ps: a number with optional sign, True, False, None or a string. */
static int parse_atom(const char **ps, pyval *v)
{
    const char *s = skip_ws(*ps);
    static const struct { const char *word; int type; double num; } words[] = {
        { "True", PY_BOOL, 1 }, { "False", PY_BOOL, 0 }, { "None", PY_NONE, 0 },
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t len = strlen(words[i].word);
        if (strncmp(s, words[i].word, len) == 0 && !isalnum((unsigned char)s[len]) &&
            s[len] != '_') {
            v->type = words[i].type, v->num = words[i].num, v->is_int = 1;
            *ps = s + len;
            return 0;
        }
    }
    if (*s == '\'' || *s == '"') {
        const char *e = strchr(s + 1, *s);
        if (!e || (size_t)(e - s - 1) >= sizeof v->str)
            return -1;
        v->type = PY_STR;
        memcpy(v->str, s + 1, (size_t)(e - s - 1));
        v->str[e - s - 1] = 0;
        *ps = e + 1;
        return 0;
    }
    char buf[64];
    size_t n = 0;
    int sign = 1;
    while (*s == '+' || *s == '-' || *s == ' ') {
        if (*s == '-')
            sign = -sign;
        s++;
    }
    int is_int = 1, digits = 0;
    while (*s && n + 1 < sizeof buf) {
        char ch = *s;
        if (isdigit((unsigned char)ch)) {
            digits++;
        } else if (ch == '.') {
            is_int = 0;
        } else if (ch == 'e' || ch == 'E') {
            is_int = 0;
            if (s[1] == '+' || s[1] == '-')
                buf[n++] = *s++;
        } else if (ch == '_') { /* digit separator */
            s++;
            continue;
        } else {
            break;
        }
        buf[n++] = *s++;
    }
    buf[n] = 0;
    if (!digits)
        return -1;
    char *end;
    double x = strtod(buf, &end);
    if (*end)
        return -1;
    v->type = PY_NUM, v->num = sign * x, v->is_int = is_int;
    *ps = s;
    return 0;
}

/* The whole value: an atom, or a tuple (bare "a,b" or bracketed) of numbers. */
int pyliteral_parse(const char *s, pyval *v)
{
    s = skip_ws(s);
    char close = 0;
    if (*s == '(' || *s == '[') {
        close = *s == '(' ? ')' : ']';
        s++;
    }
    pyval items[PY_MAX_ITEMS + 1];
    int n = 0, trailing_comma = 0;
    for (;;) {
        s = skip_ws(s);
        if (close && *s == close)
            break;
        if (n > PY_MAX_ITEMS || parse_atom(&s, &items[n]))
            return -1;
        n++;
        s = skip_ws(s);
        trailing_comma = 0;
        if (*s != ',')
            break;
        s++;
        trailing_comma = 1;
    }
    if (n > PY_MAX_ITEMS)
        return -1;
    if (close) {
        if (*s != close)
            return -1;
        s++;
    }
    s = skip_ws(s);
    if (*s)
        return -1;
    if (n == 1 && !close && !trailing_comma) {
        *v = items[0];
        return 0;
    }
    if (n == 0 && !close)
        return -1;
    v->type = PY_TUPLE;
    v->nitems = n;
    for (int i = 0; i < n; i++) {
        if (items[i].type != PY_NUM && items[i].type != PY_BOOL)
            return -2; /* a tuple of non-numbers: valid Python, useless here */
        v->items[i] = items[i].num;
    }
    return 0;
}

