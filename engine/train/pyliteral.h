/* pyliteral.h — parsing the Python literals of sd-scripts' "key=value" argument lists, which
 * sd-scripts evaluates with ast.literal_eval. */
#ifndef LORATTY_TRAIN_PYLITERAL_H
#define LORATTY_TRAIN_PYLITERAL_H

enum { PY_NONE, PY_BOOL, PY_NUM, PY_TUPLE, PY_STR };
#define PY_MAX_ITEMS 32

typedef struct pyval {
    int type;
    double num;        /* PY_BOOL (0/1) and PY_NUM */
    int is_int;        /* PY_NUM written without '.' or exponent */
    int nitems;        /* PY_TUPLE: numbers only */
    double items[PY_MAX_ITEMS];
    char str[256];     /* PY_STR */
} pyval;

/* 0 on success, -1 when `s` is not a literal, -2 for a tuple holding non-numbers. */
int pyliteral_parse(const char *s, pyval *v);

#endif
