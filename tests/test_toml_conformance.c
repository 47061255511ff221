/* test_toml_conformance.c — runs the toml-test corpus (TOML 1.0.0 list) through the reader
 * and the writer in-process:
 *   valid/X.toml   must parse, and decode to JSON equal to the corpus's .json;
 *   invalid/X.toml must be rejected;
 *   every valid .json, encoded with toml_write and read back, must give the same JSON.
 * JSON values are compared structurally (key order ignored), floats by value (nan equal to
 * nan), offset date-times by the instant they denote and local ones after normalising
 * separators and fraction zeros. The corpus is found via $SHARED_DIR (else
 * $top_srcdir/../shared); without it the test is skipped (77). */
#include "toml.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From toml-decoder.c and toml-encoder.c (compiled here with TOML_JSON_NO_MAIN). */
json_t *toml_to_tagged_json(const toml_value *v);
toml_value *tagged_json_to_toml(json_t *j, char *why, size_t size);

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *d = malloc(cap);
    while (d && (got = fread(d + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(d, cap *= 2);
            if (!bigger)
                free(d);
            d = bigger;
        }
    }
    fclose(f);
    if (d)
        d[n] = '\0'; /* n < cap always holds here */
    *len = n;
    return d;
}

static double float_value(const char *s)
{
    const char *u = (*s == '+' || *s == '-') ? s + 1 : s;
    if (strcmp(u, "nan") == 0)
        return NAN;
    if (strcmp(u, "inf") == 0)
        return *s == '-' ? -INFINITY : INFINITY;
    char *end;
    double d = strtod(s, &end);
    return *end ? NAN : d;
}

/* Upper-case separators, 'T' between date and time, no trailing zeros in the fraction. */
static void normalise_datetime(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 1 < size; s++)
        out[n++] = *s == ' ' || *s == 't' ? 'T' : (char)toupper((unsigned char)*s);
    out[n] = '\0';
    char *dot = strchr(out, '.');
    if (!dot)
        return;
    char *end = dot + 1;
    while (isdigit((unsigned char)*end))
        end++;
    char *last = end;
    while (last > dot + 1 && last[-1] == '0')
        last--;
    if (last == dot + 1)
        last = dot;
    memmove(last, end, strlen(end) + 1);
}

static long long civil_days(int y, int m, int d)
{
    if (m <= 2) {
        y--;
        m += 12;
    }
    return 365LL * y + y / 4 - y / 100 + y / 400 + (153 * (m - 3) + 2) / 5 + d;
}

/* An offset date-time as UTC minutes plus the seconds text ("SS.fff"); 0 when malformed. */
static int instant(const char *s, long long *minutes, char *secs, size_t size)
{
    char norm[80];
    normalise_datetime(s, norm, sizeof norm);
    int y, mo, d, h, mi, consumed;
    if (sscanf(norm, "%4d-%2d-%2dT%2d:%2d:%n", &y, &mo, &d, &h, &mi, &consumed) != 5)
        return 0;
    const char *rest = norm + consumed;
    size_t sl = strcspn(rest, "Z+-");
    snprintf(secs, size, "%.*s", (int)sl, rest);
    int off = 0;
    if (rest[sl] == '+' || rest[sl] == '-') {
        int oh, om;
        if (sscanf(rest + sl + 1, "%2d:%2d", &oh, &om) != 2)
            return 0;
        off = (oh * 60 + om) * (rest[sl] == '-' ? -1 : 1);
    } else if (rest[sl] != 'Z') {
        return 0;
    }
    *minutes = civil_days(y, mo, d) * 1440 + h * 60 + mi - off;
    return 1;
}

static bool leaf_equal(const char *type, const char *a, size_t alen, const char *b, size_t blen)
{
    if (strcmp(type, "float") == 0) {
        double x = float_value(a), y = float_value(b);
        return (isnan(x) && isnan(y)) || x == y;
    }
    if (strcmp(type, "integer") == 0)
        return strtoll(a, NULL, 10) == strtoll(b, NULL, 10);
    if (strcmp(type, "datetime") == 0) {
        long long ma, mb;
        char sa[40], sb[40];
        return instant(a, &ma, sa, sizeof sa) && instant(b, &mb, sb, sizeof sb) && ma == mb &&
               strcmp(sa, sb) == 0;
    }
    if (strncmp(type, "date", 4) == 0 || strcmp(type, "time-local") == 0) {
        char na[80], nb[80];
        normalise_datetime(a, na, sizeof na);
        normalise_datetime(b, nb, sizeof nb);
        return strcmp(na, nb) == 0;
    }
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* jansson cannot load keys holding U+0000, so such .json files are loaded with those
 * escapes turned into the noncharacter U+FDD0, which stands for NUL when keys are matched. */
static json_t *load_expected(const char *path)
{
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, NULL);
    size_t len;
    char *text = j ? NULL : read_file(path, &len);
    if (!text)
        return j;
    for (char *s = text; (s = strstr(s, "\\u0000")) != NULL; s += 6) {
        size_t slashes = 0; /* an even run before it means the backslash is itself escaped */
        while (s - (ptrdiff_t)slashes > text && s[-1 - (ptrdiff_t)slashes] == '\\')
            slashes++;
        if (slashes % 2 == 0)
            memcpy(s, "\\ufdd0", 6);
    }
    j = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
    free(text);
    return j;
}

static json_t *lookup_key(json_t *obj, const char *key, size_t klen)
{
    json_t *v = json_object_getn(obj, key, klen);
    if (v || !memmem(key, klen, "\xEF\xB7\x90", 3))
        return v;
    char *k = malloc(klen);
    size_t n = 0;
    for (size_t i = 0; k && i < klen; i++) {
        bool nul = i + 3 <= klen && memcmp(key + i, "\xEF\xB7\x90", 3) == 0;
        k[n++] = nul ? '\0' : key[i];
        i += nul ? 2 : 0;
    }
    v = k ? json_object_getn(obj, k, n) : NULL;
    free(k);
    return v;
}

static bool is_leaf(json_t *j)
{
    return json_is_object(j) && json_object_size(j) == 2 &&
           json_is_string(json_object_get(j, "type")) && json_is_string(json_object_get(j, "value"));
}

static bool tagged_equal(json_t *a, json_t *b)
{
    if (is_leaf(a) || is_leaf(b)) {
        if (!is_leaf(a) || !is_leaf(b))
            return false;
        const char *ta = json_string_value(json_object_get(a, "type"));
        const char *tb = json_string_value(json_object_get(b, "type"));
        json_t *va = json_object_get(a, "value"), *vb = json_object_get(b, "value");
        return strcmp(ta, tb) == 0 && leaf_equal(ta, json_string_value(va), json_string_length(va),
                                                 json_string_value(vb), json_string_length(vb));
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *key;
        size_t klen;
        json_t *va;
        json_object_keylen_foreach(a, key, klen, va) {
            json_t *vb = lookup_key(b, key, klen);
            if (!vb || !tagged_equal(va, vb))
                return false;
        }
        return true;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!tagged_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    return false;
}

static void show_json(const char *label, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    fprintf(stderr, "    %s: %.600s\n", label, s ? s : "?");
    free(s);
}

static int check_valid(const char *dir, const char *name)
{
    char path[4096], jpath[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(jpath, sizeof jpath, "%s/%.*s.json", dir, (int)(strlen(name) - 5), name);
    size_t len;
    char *text = read_file(path, &len);
    json_t *expected = load_expected(jpath);
    if (!text || !expected) {
        fprintf(stderr, "FAIL %s: cannot read the case or its .json\n", name);
        free(text);
        json_decref(expected);
        return 1;
    }
    int failures = 0;
    error_info err = {0};
    toml_value *root = toml_parse(text, len, name, &err);
    free(text);
    if (!root) {
        fprintf(stderr, "FAIL %s: rejected: %d:%d: %s\n", name, err.line, err.column, err.message);
        failures++;
    } else {
        json_t *got = toml_to_tagged_json(root);
        if (!tagged_equal(expected, got)) {
            fprintf(stderr, "FAIL %s: decoded JSON differs\n", name);
            show_json("expected", expected);
            show_json("got     ", got);
            failures++;
        }
        json_decref(got);
        toml_free(root);
    }
    char why[256] = "out of memory";
    toml_value *built = tagged_json_to_toml(expected, why, sizeof why);
    char *written = built ? toml_write(built) : NULL;
    toml_value *back = written ? toml_parse(written, strlen(written), "(written)", &err) : NULL;
    json_t *again = back ? toml_to_tagged_json(back) : NULL;
    if (!built || !written) {
        fprintf(stderr, "FAIL %s: encoder: %s\n", name, why);
        failures++;
    } else if (!back || !tagged_equal(expected, again)) {
        fprintf(stderr, "FAIL %s: encoder round trip: %s\n", name,
                back ? "JSON differs" : err.message);
        fprintf(stderr, "    written TOML:\n%.1200s\n", written);
        failures++;
    }
    json_decref(again);
    toml_free(back);
    free(written);
    toml_free(built);
    json_decref(expected);
    return failures;
}

static int check_invalid(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "FAIL %s: cannot read the case\n", name);
        return 1;
    }
    error_info err = {0};
    toml_value *root = toml_parse(text, len, name, &err);
    free(text);
    if (root) {
        fprintf(stderr, "FAIL %s: accepted an invalid document\n", name);
        toml_free(root);
        return 1;
    }
    if (err.line < 1 || err.column < 1 || !err.message[0]) {
        fprintf(stderr, "FAIL %s: rejected without line, column and message\n", name);
        return 1;
    }
    return 0;
}

int main(void)
{
    char dir[2048], list[4096];
    const char *shared = getenv("SHARED_DIR");
    const char *top = getenv("top_srcdir");
    if (shared && *shared)
        snprintf(dir, sizeof dir, "%s/toml-test", shared);
    else
        snprintf(dir, sizeof dir, "%s/../shared/toml-test", top && *top ? top : ".");
    snprintf(list, sizeof list, "%s/files-toml-1.0.0", dir);
    FILE *f = fopen(list, "r");
    if (!f) {
        printf("SKIP: toml-test corpus not found (%s); set SHARED_DIR\n", list);
        return 77;
    }
    char line[1024];
    int valid = 0, valid_bad = 0, invalid = 0, invalid_bad = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        size_t n = strlen(line);
        if (n < 5 || strcmp(line + n - 5, ".toml") != 0)
            continue;
        if (strncmp(line, "valid/", 6) == 0) {
            valid++;
            valid_bad += check_valid(dir, line) > 0;
        } else if (strncmp(line, "invalid/", 8) == 0) {
            invalid++;
            invalid_bad += check_invalid(dir, line);
        }
    }
    fclose(f);
    printf("valid: %d/%d pass (decode and encode), invalid: %d/%d rejected\n", valid - valid_bad,
           valid, invalid - invalid_bad, invalid);
    return valid_bad || invalid_bad || valid == 0 || invalid == 0 ? 1 : 0;
}
