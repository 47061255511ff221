/* captions.c — sd-scripts' caption reading and process_caption; see captions.h. */
#include "engine/data/captions.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

/* ---- small string helpers (Python's str methods we need) ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
        || (c >= 0x1c && c <= 0x1f);
}

/* malloc'd copy of s[0..n) with surrounding whitespace removed */
static char *strip_n(const char *s, size_t n)
{
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = 0;
    }
    return out;
}

/* Python's s.replace(from, to) (from non-empty). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), count = 0;
    for (const char *p = strstr(s, from); p; p = strstr(p + fl, from))
        count++;
    char *out = malloc(strlen(s) + count * tl + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s, *q; ; p = q + fl) {
        q = strstr(p, from);
        size_t n = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, n);
        o += n;
        if (!q)
            break;
        memcpy(o, to, tl);
        o += tl;
    }
    *o = 0;
    return out;
}

typedef struct str_list {
    char **v;
    size_t n, cap;
} str_list;

static void list_push(str_list *l, char *s)
{
    if (!s)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        char **g = realloc(l->v, l->cap * sizeof *g);
        if (!g) {
            free(s);
            return;
        }
        l->v = g;
    }
    l->v[l->n++] = s;
}

static void list_free(str_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (str_list){0};
}

/* [t.strip() for t in s.split(sep)], dropping empty ones when skip_empty */
static void split_strip(str_list *out, const char *s, const char *sep, bool skip_empty)
{
    size_t sl = strlen(sep);
    for (const char *p = s;;) {
        const char *q = strstr(p, sep);
        size_t n = q ? (size_t)(q - p) : strlen(p);
        char *t = strip_n(p, n);
        if (t && skip_empty && !*t)
            free(t);
        else
            list_push(out, t);
        if (!q)
            break;
        p = q + sl;
    }
}

/* ---- reading ---- */

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : (c & 0xF0) == 0xE0 ? 2
                 : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
        if (k == 9 || n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        unsigned d = k ? s[i + 1] : 0;
        if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d >= 0xA0) || (c == 0xF0 && d < 0x90)
            || (c == 0xF4 && d >= 0x90))
            return false;   /* overlong, surrogate, beyond U+10FFFF */
        i += k + 1;
    }
    return true;
}

static int read_caption_file(const char *path, bool enable_wildcard, char **out, error_info *err)
{
    size_t len = 0;
    char *text = fileio_read_all(path, &len, err);
    if (!text)
        return -1;
    if (!valid_utf8((const unsigned char *)text, len)) {
        free(text);
        return error_set(err, path, 0, 0, NULL, "caption file is not UTF-8");
    }
    if (len == 0) {
        free(text);
        return error_set(err, path, 0, 0, NULL, "caption file is empty");
    }
    /* Python's text mode: "\r\n" and "\r" end lines as "\n" does */
    str_list lines = {0};
    for (size_t p = 0; p < len;) {
        size_t q = p;
        while (q < len && text[q] != '\n' && text[q] != '\r')
            q++;
        list_push(&lines, strip_n(text + p, q - p));
        if (q < len && text[q] == '\r' && q + 1 < len && text[q + 1] == '\n')
            q++;
        p = q + 1;
    }
    free(text);
    if (!enable_wildcard) {
        *out = lines.n ? strdup(lines.v[0]) : strdup("");
    } else {
        size_t total = 1;
        for (size_t i = 0; i < lines.n; i++)
            total += strlen(lines.v[i]) + 1;
        char *j = malloc(total), *o = j;
        if (j) {
            for (size_t i = 0; i < lines.n; i++) {
                if (!*lines.v[i])
                    continue;
                if (o != j)
                    *o++ = '\n';
                size_t n = strlen(lines.v[i]);
                memcpy(o, lines.v[i], n);
                o += n;
            }
            *o = 0;
        }
        *out = j;
    }
    list_free(&lines);
    return *out ? 0 : error_set(err, path, 0, 0, NULL, "out of memory");
}

int caption_read(const char *image_path, const char *caption_extension, bool enable_wildcard,
                 char **out, error_info *err)
{
    *out = NULL;
    /* os.path.splitext: the last '.' of the file name, leading dots not counted */
    const char *slash = strrchr(image_path, '/');
    const char *name = slash ? slash + 1 : image_path;
    while (*name == '.')
        name++;
    const char *dot = strrchr(name, '.');
    size_t base_len = dot ? (size_t)(dot - image_path) : strlen(image_path);
    /* face-crop stem: base_name.split("_") with >= 5 parts loses its last 4 (on the whole
     * path, as sd-scripts does) */
    size_t face_len = base_len, parts = 1;
    for (size_t i = 0; i < base_len; i++)
        parts += image_path[i] == '_';
    if (parts >= 5) {
        size_t seen = 0;
        for (size_t i = base_len; i-- > 0;)
            if (image_path[i] == '_' && ++seen == 4) {
                face_len = i;
                break;
            }
    }
    size_t ext_len = strlen(caption_extension);
    char *cand = malloc(base_len + ext_len + 1);
    if (!cand)
        return error_set(err, image_path, 0, 0, NULL, "out of memory");
    size_t lens[2] = {base_len, face_len};
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        memcpy(cand, image_path, lens[k]);
        memcpy(cand + lens[k], caption_extension, ext_len + 1);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = read_caption_file(cand, enable_wildcard, out, err);
            break;
        }
    }
    free(cand);
    return rc;
}

int caption_for_image(const char *image_path, const char *caption_extension,
                      bool enable_wildcard, const char *class_tokens, char **out,
                      error_info *err)
{
    if (caption_read(image_path, caption_extension, enable_wildcard, out, err) != 0)
        return -1;
    if (!*out)
        *out = strdup(class_tokens ? class_tokens : "");
    return *out ? 0 : error_set(err, image_path, 0, 0, NULL, "out of memory");
}

/* ---- processing ---- */

static char *pick_line(const char *s, data_rng *rng)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    size_t k = data_rng_below(rng, n);
    const char *p = s;
    while (k--)
        p = strchr(p, '\n') + 1;
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, p, len);
        out[len] = 0;
    }
    return out;
}

/* re.sub(r"\{([^}]+)\}", random choice of group(1).split("|"), s) */
static char *expand_wildcards(const char *s, data_rng *rng)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = s; *p;) {
        const char *close = *p == '{' ? strchr(p + 1, '}') : NULL;
        if (!close || close == p + 1) {
            out[n++] = *p++;
            continue;
        }
        size_t choices = 1;
        for (const char *q = p + 1; q < close; q++)
            choices += *q == '|';
        size_t k = data_rng_below(rng, choices);
        const char *a = p + 1;
        while (k--)
            a = memchr(a, '|', (size_t)(close - a)) + 1;
        const char *b = memchr(a, '|', (size_t)(close - a));
        if (!b)
            b = close;
        memcpy(out + n, a, (size_t)(b - a));   /* a choice is shorter than its braces */
        n += (size_t)(b - a);
        p = close + 1;
    }
    out[n] = 0;
    return out;
}

static char *wildcard(const char *caption, data_rng *rng)
{
    char *c = strchr(caption, '\n') ? pick_line(caption, rng) : strdup(caption);
    if (!c)
        return NULL;
    /* "{{" and "}}" are literal braces; their stand-ins must not occur in the caption */
    char r1[64] = "\xe2\xa6\x85", r2[64] = "\xe2\xa6\x86";   /* ⦅ ⦆ */
    while ((strstr(c, r1) || strstr(c, r2)) && strlen(r1) + 3 < sizeof r1) {
        strcat(r1, "\xe2\xa6\x85");
        strcat(r2, "\xe2\xa6\x86");
    }
    char *a = replace_all(c, "{{", r1);
    free(c);
    char *b = a ? replace_all(a, "}}", r2) : NULL;
    free(a);
    char *e = b ? expand_wildcards(b, rng) : NULL;
    free(b);
    char *f = e ? replace_all(e, r1, "{") : NULL;
    free(e);
    char *g = f ? replace_all(f, r2, "}") : NULL;
    free(f);
    return g;
}

static char *join_tokens(str_list *lists[3])
{
    size_t total = 1;
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < lists[l]->n; i++)
            total += strlen(lists[l]->v[i]) + 2;
    char *out = malloc(total), *o = out;
    if (!out)
        return NULL;
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < lists[l]->n; i++) {
            if (o != out)
                *o++ = ',', *o++ = ' ';
            size_t n = strlen(lists[l]->v[i]);
            memcpy(o, lists[l]->v[i], n);
            o += n;
        }
    *o = 0;
    return out;
}

static char *shuffle_and_drop(const caption_settings *s, const char *caption, long long step,
                              long long max_train_steps, data_rng *rng)
{
    const char *sep = s->caption_separator && *s->caption_separator ? s->caption_separator : ",";
    const char *kts = s->keep_tokens_separator;
    str_list fixed = {0}, flex = {0}, suffix = {0};
    if (kts && *kts && strstr(caption, kts)) {
        size_t kl = strlen(kts);
        const char *f1 = strstr(caption, kts);
        char *fixed_part = strndup(caption, (size_t)(f1 - caption));
        const char *flex_start = f1 + kl, *f2 = strstr(flex_start, kts);
        size_t flex_len = f2 ? (size_t)(f2 - flex_start) : strlen(flex_start);
        char *flex_part = strndup(flex_start, flex_len);
        if (f2)
            split_strip(&suffix, f2 + kl, sep, true);
        if (fixed_part)
            split_strip(&fixed, fixed_part, sep, true);
        if (flex_part)
            split_strip(&flex, flex_part, sep, true);
        free(fixed_part);
        free(flex_part);
    } else {
        char *c = strip_n(caption, strlen(caption));
        str_list tokens = {0};
        if (c)
            split_strip(&tokens, c, sep, false);
        free(c);
        size_t k = s->keep_tokens > 0 ? (size_t)s->keep_tokens : 0;
        for (size_t i = 0; i < tokens.n; i++)
            list_push(i < k ? &fixed : &flex, tokens.v[i]);
        free(tokens.v);
    }
    /* token warm-up: sd-scripts turns a fraction into steps on first use */
    double warm = s->token_warmup_step;
    if (warm < 1)
        warm = floor(warm * (double)max_train_steps);
    if (warm > 0 && (double)step < warm) {
        long long keep = (long long)floor((double)step * (((double)flex.n - s->token_warmup_min) / warm))
                         + s->token_warmup_min;
        if (keep < 0)   /* Python slicing with a negative end counts from the back */
            keep = (long long)flex.n + keep < 0 ? 0 : (long long)flex.n + keep;
        while (flex.n > (size_t)keep)
            free(flex.v[--flex.n]);
    }
    if (s->shuffle_caption)   /* random.shuffle: Fisher–Yates from the end */
        for (size_t i = flex.n; i-- > 1;) {
            size_t j = data_rng_below(rng, i + 1);
            char *t = flex.v[i];
            flex.v[i] = flex.v[j];
            flex.v[j] = t;
        }
    if (s->caption_tag_dropout_rate > 0) {
        size_t kept = 0;
        for (size_t i = 0; i < flex.n; i++) {
            if (data_rng_uniform(rng) >= s->caption_tag_dropout_rate)
                flex.v[kept++] = flex.v[i];
            else
                free(flex.v[i]);
        }
        flex.n = kept;
    }
    str_list *all[3] = {&fixed, &flex, &suffix};
    char *out = join_tokens(all);
    list_free(&fixed), list_free(&flex), list_free(&suffix);
    return out;
}

char *caption_process(const caption_settings *s, const char *caption, int epoch, long long step,
                      long long max_train_steps, data_rng *rng)
{
    const char *pre = s->caption_prefix, *suf = s->caption_suffix;
    size_t len = strlen(caption) + (pre ? strlen(pre) : 0) + (suf ? strlen(suf) : 0) + 3;
    char *c = malloc(len);
    if (!c)
        return NULL;
    snprintf(c, len, "%s%s%s%s%s", pre && *pre ? pre : "", pre && *pre ? " " : "", caption,
             suf && *suf ? " " : "", suf && *suf ? suf : "");

    bool drop = s->caption_dropout_rate > 0 && data_rng_uniform(rng) < s->caption_dropout_rate;
    drop = drop || (s->caption_dropout_every_n_epochs > 0
                    && epoch % s->caption_dropout_every_n_epochs == 0);
    if (drop) {
        c[0] = 0;
        return c;
    }
    char *t;
    if (s->enable_wildcard) {
        t = wildcard(c, rng);
    } else {
        char *nl = strchr(c, '\n');
        t = nl ? strndup(c, (size_t)(nl - c)) : strdup(c);
    }
    free(c);
    if (!t)
        return NULL;
    if (s->shuffle_caption || s->token_warmup_step > 0 || s->caption_tag_dropout_rate > 0) {
        c = shuffle_and_drop(s, t, step, max_train_steps, rng);
        free(t);
        if (!(t = c))
            return NULL;
    }
    if (s->secondary_separator && *s->secondary_separator) {
        const char *sep = s->caption_separator && *s->caption_separator ? s->caption_separator : ",";
        c = replace_all(t, s->secondary_separator, sep);
        free(t);
        t = c;
    }
    return t;
}
