/* tokenizer_text.c — caption clean-up and pre-tokenization for the CLIP tokenizer, matching
 * transformers' slow CLIPTokenizer with ftfy installed (see tokenizer_text.h): ftfy.fix_text
 * (tokenizer_ftfy.c), whitespace_clean, str.lower(), then the pattern. Works on code point
 * arrays; each stage writes a new buffer sized for its worst case. */
#include "engine/models/tokenizer_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/tokenizer_ftfy.h"
#include "engine/models/tokenizer_unicode.inc"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Binary search in a table sorted on its first column; returns the row or NULL. */
static const uint32_t *find_row(const uint32_t *table, size_t rows, size_t width, uint32_t cp)
{
    size_t lo = 0, hi = rows;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *row = table + mid * width;
        if (cp < row[0])
            hi = mid;
        else if (cp > row[0])
            lo = mid + 1;
        else
            return row;
    }
    return NULL;
}

static int ccc_of(uint32_t cp)
{
    size_t lo = 0, hi = NELEM(uc_ccc);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < uc_ccc[mid][0])
            hi = mid;
        else if (cp > uc_ccc[mid][1])
            lo = mid + 1;
        else
            return (int)uc_ccc[mid][2];
    }
    return 0;
}

int clip_utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t clip_utf8_decode(const char *text, size_t len, uint32_t *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        int extra = c < 0x80 ? 0 : c >= 0xC2 && c < 0xE0 ? 1 : c >= 0xE0 && c < 0xF0 ? 2
                  : c >= 0xF0 && c < 0xF5 ? 3 : -1;
        uint32_t cp = extra == 1 ? c & 0x1F : extra == 2 ? c & 0x0F : extra == 3 ? c & 0x07 : c;
        bool ok = extra >= 0 && i + (size_t)extra < len;
        for (int k = 1; ok && k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (ok && ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                   (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))))
            ok = false;
        out[n++] = ok ? cp : 0xFFFD;
        i += ok ? (size_t)extra + 1 : 1;
    }
    return n;
}

enum { H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7,
       H_LCOUNT = 19, H_VCOUNT = 21, H_TCOUNT = 28, H_NCOUNT = 588, H_SCOUNT = 11172 };

static uint32_t compose_pair(uint32_t a, uint32_t b)
{
    if (a >= H_LBASE && a < H_LBASE + H_LCOUNT && b >= H_VBASE && b < H_VBASE + H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    if (a >= H_SBASE && a < H_SBASE + H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 &&
        b > H_TBASE && b < H_TBASE + H_TCOUNT)
        return a + (b - H_TBASE);
    size_t lo = 0, hi = NELEM(uc_compose);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *r = uc_compose[mid];
        if (a < r[0] || (a == r[0] && b < r[1]))
            hi = mid;
        else if (a > r[0] || b > r[1])
            lo = mid + 1;
        else
            return r[2];
    }
    return 0;
}

/* NFC (UAX #15): full canonical decomposition, canonical ordering, canonical composition. */
size_t clip_text_nfc(const uint32_t *in, size_t n, uint32_t *tmp, uint32_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = in[i];
        if (cp >= H_SBASE && cp < H_SBASE + H_SCOUNT) {
            uint32_t s = cp - H_SBASE;
            tmp[m++] = H_LBASE + s / H_NCOUNT;
            tmp[m++] = H_VBASE + (s % H_NCOUNT) / H_TCOUNT;
            if (s % H_TCOUNT)
                tmp[m++] = H_TBASE + s % H_TCOUNT;
            continue;
        }
        const uint32_t *d = find_row(&uc_decomp[0][0], NELEM(uc_decomp), 5, cp);
        if (!d) {
            tmp[m++] = cp;
            continue;
        }
        for (int k = 1; k < 5 && d[k]; k++)
            tmp[m++] = d[k];
    }
    /* stable insertion sort of each run of non-starters by combining class */
    for (size_t i = 1; i < m; i++) {
        int c = ccc_of(tmp[i]);
        if (!c)
            continue;
        uint32_t cp = tmp[i];
        size_t j = i;
        while (j > 0 && ccc_of(tmp[j - 1]) > c) {
            tmp[j] = tmp[j - 1];
            j--;
        }
        tmp[j] = cp;
    }
    size_t k = 0;
    long starter = -1;
    for (size_t i = 0; i < m; i++) {
        uint32_t cp = tmp[i];
        int c = ccc_of(cp);
        if (starter >= 0) {
            /* not blocked: adjacent to the starter, or the previous mark's class is lower */
            int last = (size_t)starter == k - 1 ? -1 : ccc_of(out[k - 1]);
            if (last == -1 || (last != 0 && last < c)) {
                uint32_t comp = compose_pair(out[starter], cp);
                if (comp) {
                    out[starter] = comp;
                    continue;
                }
            }
        }
        if (c == 0)
            starter = (long)k;
        out[k++] = cp;
    }
    return k;
}

/* Python's str.lower() gives U+03A3 the final form after a cased letter that no cased letter
 * follows, skipping case-ignorable code points on both sides, within the string lowered. */
static uint32_t lower_sigma(const uint32_t *w, size_t n, size_t i)
{
    size_t j = i;
    while (j > 0 && in_ranges(uc_case_ignorable, NELEM(uc_case_ignorable), w[j - 1]))
        j--;
    if (j == 0 || !in_ranges(uc_cased, NELEM(uc_cased), w[j - 1]))
        return 0x3C3;
    for (j = i + 1; j < n && in_ranges(uc_case_ignorable, NELEM(uc_case_ignorable), w[j]); j++)
        ;
    return j < n && in_ranges(uc_cased, NELEM(uc_cased), w[j]) ? 0x3C3 : 0x3C2;
}

/* str.lower() of the whole text (full mapping, final sigma); out holds 2 * n. */
static size_t lower(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0x3A3) {
            out[m++] = lower_sigma(in, n, i);
            continue;
        }
        const uint32_t *l = find_row(&uc_lower[0][0], NELEM(uc_lower), 3, in[i]);
        out[m++] = l ? l[1] : in[i];
        if (l && l[2])
            out[m++] = l[2];
    }
    return m;
}

char *clip_text_strip_lower(const char *text, size_t len)
{
    uint32_t *cps = malloc((len + 1) * sizeof *cps), *low = malloc((2 * len + 1) * sizeof *low);
    char *out = malloc(8 * len + 1);  /* a code point lowers to at most two of 4 bytes */
    if (cps && low && out) {
        size_t n = clip_utf8_decode(text, len, cps), s = 0, m = 0;
        while (s < n && in_ranges(uc_split, NELEM(uc_split), cps[s]))
            s++;
        while (n > s && in_ranges(uc_split, NELEM(uc_split), cps[n - 1]))
            n--;
        n = lower(cps + s, n - s, low);
        for (size_t i = 0; i < n; i++)
            m += (size_t)clip_utf8_put(low[i], out + m);
        out[m] = '\0';
    } else {
        free(out);
        out = NULL;
    }
    free(cps);
    free(low);
    return out;
}

/* cp equals the ASCII character ch under the pattern's IGNORECASE (simple case folding). */
static bool fold_eq(uint32_t cp, char ch)
{
    if (ch < 'a' || ch > 'z')
        return cp == (uint32_t)(unsigned char)ch;
    for (int k = 0; k < 4 && uc_fold[ch - 'a'][k]; k++)
        if (uc_fold[ch - 'a'][k] == cp)
            return true;
    return false;
}

static size_t match_literal(const uint32_t *s, size_t n, const char *lit)
{
    size_t len = strlen(lit);
    if (len > n)
        return 0;
    for (size_t k = 0; k < len; k++)
        if (!fold_eq(s[k], lit[k]))
            return 0;
    return len;
}

/* Length of the pattern's match at s[0], 0 when nothing matches there; alternatives are
 * tried in the pattern's order (first match wins, as in any backtracking regex). */
static size_t match_at(const uint32_t *s, size_t n)
{
    static const char *const literals[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t",
                                           "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < NELEM(literals); k++) {
        size_t len = match_literal(s, n, literals[k]);
        if (len)
            return len;
    }
    size_t len = 0;
    while (len < n && in_ranges(uc_letter, NELEM(uc_letter), s[len]))
        len++;
    if (len)
        return len;
    if (in_ranges(uc_number, NELEM(uc_number), s[0]))
        return 1;
    while (len < n && in_ranges(uc_other, NELEM(uc_other), s[len]))
        len++;
    return len;
}

/* CLIPTokenizer's whitespace_clean: re.sub(r"\s+", " ", text) with the regex module's \s,
 * then str.strip(); out holds n. */
static size_t whitespace_clean(const uint32_t *in, size_t n, uint32_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        if (!in_ranges(uc_space, NELEM(uc_space), in[i])) {
            out[m++] = in[i++];
            continue;
        }
        while (i < n && in_ranges(uc_space, NELEM(uc_space), in[i]))
            i++;
        out[m++] = ' ';
    }
    size_t s = 0;
    while (s < m && in_ranges(uc_split, NELEM(uc_split), out[s]))
        s++;
    while (m > s && in_ranges(uc_split, NELEM(uc_split), out[m - 1]))
        m--;
    memmove(out, out + s, (m - s) * sizeof *out);
    return m - s;
}

int clip_text_split(const char *text, size_t len, clip_piece_fn fn, void *ctx)
{
    uint32_t *cps = malloc((len + 1) * sizeof *cps), *fixed = NULL, *a = NULL, *b = NULL;
    size_t n = cps ? clip_utf8_decode(text, len, cps) : 0;
    int rc = cps && clip_ftfy_fix_text(cps, n, &fixed, &n) == 0 ? 0 : -1;
    free(cps);
    if (rc == 0) {
        a = malloc((n + 1) * sizeof *a);
        b = malloc((2 * n + 1) * sizeof *b);
        rc = a && b ? 0 : -1;
    }
    if (rc == 0) {
        n = whitespace_clean(fixed, n, a);
        n = lower(a, n, b);
    }
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t m = match_at(b + i, n - i);
        if (!m) {
            i++;
            continue;
        }
        rc = fn(ctx, b + i, m);
        i += m;
    }
    free(fixed);
    free(a);
    free(b);
    return rc;
}
