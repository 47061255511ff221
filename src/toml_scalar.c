/* toml_scalar.c — TOML numbers, booleans and dates: from the text of one token to a value.
 *
 * Pure functions without parser state, so the reader (toml.c) can hand over a token and
 * report the reason at its position, and callers such as command-line overrides can read a
 * single value the TOML way. Dates are checked for real calendar days; integers for 64-bit
 * overflow; floats are converted independently of the C locale. */
#include "toml.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t n, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return -1;
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

/* Checks the digits of a number with TOML's underscore rule (only between digits). */
static bool digits_ok(const char *s, size_t len, int base)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '_') {
            if (i == 0 || i + 1 == len || s[i + 1] == '_')
                return false;
            continue;
        }
        int v = hex_value(s[i]);
        if (v < 0 || v >= base)
            return false;
    }
    return true;
}

static int parse_integer(const char *t, size_t len, int64_t *out, char *why, size_t n)
{
    const char *tok = t;
    size_t toklen = len;
    bool neg = false, sign = false;
    int base = 10;
    if (t[0] == '+' || t[0] == '-') {
        neg = t[0] == '-';
        sign = true;
        t++;
        len--;
    }
    if (len > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        if (sign)
            return fail(why, n, "a sign is not allowed on hexadecimal, octal or binary integers");
        t += 2;
        len -= 2;
    } else if (len > 1 && t[0] == '0') {
        return fail(why, n, "leading zeros are not allowed in integers");
    }
    if (!digits_ok(t, len, base))
        return fail(why, n, "invalid number '%.*s'", (int)(toklen > 40 ? 40 : toklen), tok);
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '_')
            continue;
        uint64_t d = (uint64_t)hex_value(t[i]);
        if (v > (limit - d) / (uint64_t)base)
            return fail(why, n, "integer does not fit in 64 bits");
        v = v * (uint64_t)base + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* strtod follows LC_NUMERIC; TOML always uses '.', so put in the locale's point (in place). */
static double c_strtod(char *s, int *erange)
{
    const char *dp = localeconv()->decimal_point;
    char *dot = strchr(s, '.');
    if (dot && dp && dp[0] && !dp[1])
        *dot = dp[0];
    errno = 0;
    double v = strtod(s, NULL);
    *erange = errno == ERANGE;
    return v;
}

static int parse_float(const char *t, size_t len, double *out, char *why, size_t n)
{
    size_t i = (t[0] == '+' || t[0] == '-') ? 1 : 0;
    if (len - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) {
        *out = t[i] == 'i' ? HUGE_VAL : NAN;
        if (t[0] == '-')
            *out = -*out;
        return 0;
    }
    size_t a = i;
    while (i < len && (is_digit(t[i]) || t[i] == '_'))
        i++;
    if (!digits_ok(t + a, i - a, 10))
        return fail(why, n, "invalid float: expected digits before '.' or exponent");
    if (t[a] == '0' && i - a > 1)
        return fail(why, n, "leading zeros are not allowed in floats");
    if (i < len && t[i] == '.') {
        size_t f = ++i;
        while (i < len && (is_digit(t[i]) || t[i] == '_'))
            i++;
        if (!digits_ok(t + f, i - f, 10))
            return fail(why, n, "invalid float: expected digits after '.'");
    }
    if (i < len && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < len && (t[i] == '+' || t[i] == '-'))
            i++;
        size_t e = i;
        while (i < len && (is_digit(t[i]) || t[i] == '_'))
            i++;
        if (!digits_ok(t + e, i - e, 10))
            return fail(why, n, "invalid float: expected digits in the exponent");
    }
    if (i != len)
        return fail(why, n, "invalid number '%.*s'", (int)(len > 40 ? 40 : len), t);
    char *clean = malloc(len + 1);
    if (!clean)
        return fail(why, n, "out of memory");
    size_t used = 0;
    for (size_t k = 0; k < len; k++)
        if (t[k] != '_')
            clean[used++] = t[k];
    clean[used] = '\0';
    int erange;
    *out = c_strtod(clean, &erange);
    free(clean);
    if (erange && (*out == HUGE_VAL || *out == -HUGE_VAL))
        return fail(why, n, "float is out of range");
    return 0;
}

static bool two_digits(const char *s) { return is_digit(s[0]) && is_digit(s[1]); }
static int num2(const char *s) { return (s[0] - '0') * 10 + (s[1] - '0'); }

static bool date_like(const char *t, size_t len)
{
    return len >= 10 && two_digits(t) && two_digits(t + 2) && t[4] == '-' && two_digits(t + 5) &&
           t[7] == '-' && two_digits(t + 8);
}

/* HH:MM:SS with an optional fraction; returns the length used, or 0 if malformed. */
static size_t scan_time(const char *t, size_t len)
{
    if (len < 8 || !two_digits(t) || t[2] != ':' || !two_digits(t + 3) || t[5] != ':' ||
        !two_digits(t + 6))
        return 0;
    if (num2(t) > 23 || num2(t + 3) > 59 || num2(t + 6) > 60)
        return 0;
    size_t i = 8;
    if (i < len && t[i] == '.') {
        i++;
        size_t f = i;
        while (i < len && is_digit(t[i]))
            i++;
        if (i == f)
            return 0;
    }
    return i;
}

static toml_value *parse_datetime(const char *t, size_t len, char *why, size_t n)
{
    toml_type type;
    size_t i;
    if (date_like(t, len)) {
        int y = num2(t) * 100 + num2(t + 2), m = num2(t + 5), d = num2(t + 8);
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap)) {
            fail(why, n, "invalid date '%.10s'", t);
            return NULL;
        }
        type = TOML_DATE_LOCAL;
        i = 10;
        if (len > 10) {
            size_t used = 0;
            if (t[10] == 'T' || t[10] == 't' || t[10] == ' ')
                used = scan_time(t + 11, len - 11);
            if (!used) {
                fail(why, n, "invalid time in date-time '%.*s'", (int)len, t);
                return NULL;
            }
            i = 11 + used;
            type = TOML_DATETIME_LOCAL;
            if (i < len && (t[i] == 'Z' || t[i] == 'z')) {
                i++;
                type = TOML_DATETIME;
            } else if (i < len && (t[i] == '+' || t[i] == '-') && len - i == 6 &&
                       two_digits(t + i + 1) && t[i + 3] == ':' && two_digits(t + i + 4) &&
                       num2(t + i + 1) <= 23 && num2(t + i + 4) <= 59) {
                i += 6;
                type = TOML_DATETIME;
            }
        }
    } else {
        type = TOML_TIME_LOCAL;
        i = scan_time(t, len);
    }
    if (i != len || i == 0) {
        fail(why, n, "invalid date or time '%.*s'", (int)len, t);
        return NULL;
    }
    char norm[64];
    if (len >= sizeof norm) {
        fail(why, n, "date or time is too long");
        return NULL;
    }
    for (size_t k = 0; k < len; k++)
        norm[k] = t[k] == 't' || t[k] == ' ' ? 'T' : t[k] == 'z' ? 'Z' : t[k];
    norm[len] = '\0';
    toml_value *v = toml_new_datetime(type, norm);
    if (!v)
        fail(why, n, "out of memory");
    return v;
}

toml_value *toml_parse_scalar(const char *t, size_t len, char *why, size_t n)
{
    toml_value *v = NULL;
    if (len == 0) {
        fail(why, n, "expected a value");
        return NULL;
    }
    if (date_like(t, len) || (len >= 3 && two_digits(t) && t[2] == ':')) {
        v = parse_datetime(t, len, why, n);
    } else if ((len == 4 && memcmp(t, "true", 4) == 0) || (len == 5 && memcmp(t, "false", 5) == 0)) {
        v = toml_new_bool(t[0] == 't');
    } else {
        size_t s = (t[0] == '+' || t[0] == '-') ? 1 : 0;
        bool radix = len > s + 1 && t[s] == '0' && (t[s + 1] == 'x' || t[s + 1] == 'o' || t[s + 1] == 'b');
        bool special = len - s == 3 && (memcmp(t + s, "inf", 3) == 0 || memcmp(t + s, "nan", 3) == 0);
        if (s == len || !(is_digit(t[s]) || special)) {
            fail(why, n, "invalid value '%.*s'%s", (int)(len > 40 ? 40 : len), t,
                 is_digit(t[0]) || t[0] == '.' ? "" : " (strings need quotes)");
            return NULL;
        }
        if (!radix && (special || memchr(t, '.', len) || memchr(t, 'e', len) || memchr(t, 'E', len))) {
            double d = 0;
            if (parse_float(t, len, &d, why, n) < 0)
                return NULL;
            v = toml_new_float(d);
        } else {
            int64_t i = 0;
            if (parse_integer(t, len, &i, why, n) < 0)
                return NULL;
            v = toml_new_integer(i);
        }
    }
    if (!v && why && n && !why[0])
        fail(why, n, "out of memory");
    return v;
}
