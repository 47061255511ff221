/* tokenizer_ftfy.c — ftfy 6.3.1's fix_text with its default configuration (see
 * tokenizer_ftfy.h), written from ftfy's __init__.py, fixes.py, chardata.py, badness.py and
 * bad_codecs/. Its regular expressions come as generated tables (tokenizer_ftfy.inc): each a
 * list of alternatives, each alternative a sequence of character sets, tried in order at each
 * position the way Python's re tries them. Byte strings (text re-encoded in a single-byte
 * charmap) are held one byte per uint32_t so the same matcher serves both. */
#include "engine/models/tokenizer_ftfy.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/tokenizer_text.h"
#include "engine/models/tokenizer_ftfy.inc"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* fix_and_explain and fix_encoding loop until the text stops changing; ftfy has no bound (it
 * always settles in a few rounds), this one is only a guard. */
enum { MAX_ROUNDS = 64, MAX_DECODE_LENGTH = 1000000 };

typedef struct {
    uint32_t *v;
    size_t n, cap;
    bool oom;
} cpbuf;

static void push(cpbuf *b, uint32_t c)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        uint32_t *v = b->oom ? NULL : realloc(b->v, cap * sizeof *v);
        if (!v) {
            b->oom = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = c;
}

static void push_all(cpbuf *b, const uint32_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        push(b, s[i]);
}

static bool same(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* ---- character sets and the pattern matcher ---- */

static bool in_ranges(const uint32_t (*r)[2], size_t lo, size_t hi, uint32_t c)
{
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid][0])
            hi = mid;
        else if (c > r[mid][1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static bool in_set(int set, uint32_t c)
{
    return in_ranges(ftfy_ranges, ftfy_sets[set][0], ftfy_sets[set][0] + ftfy_sets[set][1], c);
}

static bool in_byte_set(int set, uint32_t b)
{
    return in_ranges(ftfy_byte_ranges, ftfy_byte_sets[set][0],
                     ftfy_byte_sets[set][0] + ftfy_byte_sets[set][1], b);
}

/* Does the item sequence [it, end) match s at i (i_end gets where)? An optional item is
 * greedy: with it first, then without, as a backtracking regex tries. */
static bool match_seq(const int16_t *it, const int16_t *end, const uint32_t *s, size_t n,
                      size_t i, bool bytes, size_t *i_end)
{
    for (; it < end; it++) {
        if (*it == FTFY_BOL) {
            if (i != 0)
                return false;
            continue;
        }
        int set = *it & ~FTFY_OPT;
        bool hit = i < n && (bytes ? in_byte_set(set, s[i]) : in_set(set, s[i]));
        if (*it & FTFY_OPT) {
            if (hit && match_seq(it + 1, end, s, n, i + 1, bytes, i_end))
                return true;
            continue;
        }
        if (!hit)
            return false;
        i++;
    }
    *i_end = i;
    return true;
}

/* Length of the first alternative of pat that matches s at i; 0 when none does (no
 * alternative of these patterns can match empty). */
static size_t match_at(const int16_t *pat, const uint32_t *s, size_t n, size_t i, bool bytes)
{
    while (*pat != FTFY_END) {
        const int16_t *end = pat;
        while (*end != FTFY_ALT)
            end++;
        size_t i_end;
        if (match_seq(pat, end, s, n, i, bytes, &i_end))
            return i_end - i;
        pat = end + 1;
    }
    return 0;
}

/* badness.is_bad: BADNESS_RE.search */
static bool is_bad(const uint32_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (match_at(ftfy_badness_re, s, n, i, false))
            return true;
    return false;
}

/* ---- single-byte charmaps ---- */

/* chardata.possible_encoding: every character is ASCII other than U+001A, or one of the 128
 * the charmap decodes bytes 0x80..0xFF to, or what it decodes 0x1A to. */
static int encode_byte(int map, uint32_t c)
{
    if (c < 0x80 && c != 0x1A)
        return (int)c;
    if (c == ftfy_charmaps[map].cp[128])
        return 0x1A;
    for (int k = 0; k < 128; k++)
        if (ftfy_charmaps[map].cp[k] == c)
            return 0x80 + k;
    return -1;
}

static bool encodable(int map, const uint32_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (encode_byte(map, s[i]) < 0)
            return false;
    return true;
}

/* ---- byte-level fixes inside fix_encoding ---- */

/* fixes.restore_byte_a0: A_GRAVE_WORD_RE (b"\xc3 (?! |quele|quela|quilo|s )" → b"\xc3\xa0 "),
 * then each ALTERED_UTF8_RE match with its spaces made 0xA0. */
static void restore_byte_a0(const uint32_t *b, size_t n, cpbuf *out)
{
    static const char *const keep[] = {" ", "quele", "quela", "quilo", "s "};
    cpbuf tmp = {0};
    for (size_t i = 0; i < n; i++) {
        push(&tmp, b[i]);
        if (b[i] != 0xC3 || i + 1 >= n || b[i + 1] != ' ')
            continue;
        bool follows = false;
        for (size_t k = 0; k < NELEM(keep) && !follows; k++) {
            size_t len = strlen(keep[k]), j = 0;
            while (j < len && i + 2 + j < n && b[i + 2 + j] == (unsigned char)keep[k][j])
                j++;
            follows = j == len;
        }
        if (!follows) {
            push(&tmp, 0xA0);
            push(&tmp, ' ');
            i++;
        }
    }
    for (size_t i = 0; i < tmp.n;) {
        size_t len = match_at(ftfy_altered_utf8_re, tmp.v, tmp.n, i, true);
        if (!len) {
            push(out, tmp.v[i++]);
            continue;
        }
        for (size_t k = 0; k < len; k++, i++)
            push(out, tmp.v[i] == ' ' ? 0xA0 : tmp.v[i]);
    }
    out->oom |= tmp.oom;
    free(tmp.v);
}

/* fixes.replace_lossy_sequences: each LOSSY_UTF8_RE match becomes U+FFFD's UTF-8 */
static void replace_lossy_sequences(const uint32_t *b, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n;) {
        size_t len = match_at(ftfy_lossy_utf8_re, b, n, i, true);
        if (!len) {
            push(out, b[i++]);
            continue;
        }
        push(out, 0xEF), push(out, 0xBF), push(out, 0xBD);
        i += len;
    }
}

/* bytes.decode("utf-8-variants") (bad_codecs/utf8_variants.py): strict UTF-8, plus CESU-8
 * surrogate pairs and Java's C0 80 for U+0000. Its regexes end groups with `$`, which also
 * matches before a final "\n": so C0 0A, and a CESU-8 pair whose last byte is 0A, at the very
 * end decode too. Returns false where the codec raises UnicodeDecodeError. */
static bool decode_utf8_variants(const uint32_t *b, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n;) {
        uint32_t c = b[i];
        bool final_nl = i + 2 == n && b[i + 1] == '\n';
        if (c == 0xC0) {
            if (i + 1 >= n || (b[i + 1] != 0x80 && !final_nl))
                return false;
            push(out, 0);
            i += 2;
            continue;
        }
        if (c == 0xED && i + 1 < n && b[i + 1] >= 0xA0) {
            if (i + 6 > n || b[i + 1] > 0xAF || b[i + 2] < 0x80 || b[i + 2] > 0xBF ||
                b[i + 3] != 0xED || b[i + 4] < 0xB0 || b[i + 4] > 0xBF ||
                !((b[i + 5] >= 0x80 && b[i + 5] <= 0xBF) || (i + 6 == n && b[i + 5] == '\n')))
                return false;
            push(out, ((b[i + 1] & 0x0F) << 16) + ((b[i + 2] & 0x3F) << 10) +
                          ((b[i + 4] & 0x0F) << 6) + (b[i + 5] & 0x3F) + 0x10000);
            i += 6;
            continue;
        }
        int extra = c < 0x80 ? 0 : c >= 0xC2 && c < 0xE0 ? 1 : c >= 0xE0 && c < 0xF0 ? 2
                  : c >= 0xF0 && c < 0xF5 ? 3 : -1;
        if (extra < 0 || i + (size_t)extra >= n)
            return false;
        uint32_t cp = extra == 1 ? c & 0x1F : extra == 2 ? c & 0x0F : extra == 3 ? c & 0x07 : c;
        for (int k = 1; k <= extra; k++) {
            if (b[i + k] < 0x80 || b[i + k] > 0xBF)
                return false;
            cp = (cp << 6) | (b[i + k] & 0x3F);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        push(out, cp);
        i += (size_t)extra + 1;
    }
    return true;
}

/* ---- fix_encoding ---- */

static int fix_encoding(const uint32_t *s, size_t n, cpbuf *out);

/* UTF8_DETECTOR_RE's match at i: (?<![strict]) then ([f2][c] | [f3][c]{2} | [f4][c]{3})+,
 * each round taking the first alternative that fits; 0 when it does not match. */
static size_t utf8_detector_at(const uint32_t *s, size_t n, size_t i)
{
    if (i > 0 && in_set(FTFY_SET_UTF8_STRICT_CONT, s[i - 1]))
        return 0;
    static const int lead[3] = {FTFY_SET_UTF8_FIRST_OF_2, FTFY_SET_UTF8_FIRST_OF_3,
                                FTFY_SET_UTF8_FIRST_OF_4};
    size_t j = i;
    for (;;) {
        int taken = 0;
        for (int k = 0; k < 3 && !taken; k++) {
            if (j + (size_t)k + 1 >= n || !in_set(lead[k], s[j]))
                continue;
            int ok = 1;
            for (int c = 1; c <= k + 1 && ok; c++)
                ok = in_set(FTFY_SET_UTF8_CONT, s[j + (size_t)c]);
            if (ok)
                taken = k + 2;
        }
        if (!taken)
            return j - i;
        j += (size_t)taken;
    }
}

/* fixes.decode_inconsistent_utf8: each detected run shorter than the text that is_bad flags
 * goes through fix_encoding on its own. */
static int decode_inconsistent_utf8(const uint32_t *s, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n;) {
        size_t len = utf8_detector_at(s, n, i);
        if (!len) {
            push(out, s[i++]);
            continue;
        }
        if (len < n && is_bad(s + i, len)) {
            if (fix_encoding(s + i, len, out))
                return -1;
        } else {
            push_all(out, s + i, len);
        }
        i += len;
    }
    return out->oom ? -1 : 0;
}

/* fixes.fix_c1_controls: U+0080..U+009F read as sloppy-windows-1252 */
static void fix_c1_controls(const uint32_t *s, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++)
        push(out, in_set(FTFY_SET_C1_CONTROL, s[i])
                      ? ftfy_charmaps[FTFY_CHARMAP_SLOPPY_WINDOWS_1252].cp[s[i] - 0x80] : s[i]);
}

/* _fix_encoding_one_step_and_explain: writes the text after one step to out. */
static int fix_encoding_step(const uint32_t *s, size_t n, cpbuf *out)
{
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = s[i] < 0x80;
    if (n == 0 || ascii || !is_bad(s, n)) {
        push_all(out, s, n);
        return out->oom ? -1 : 0;
    }
    for (int map = 0; map < FTFY_N_CHARMAPS; map++) {
        if (!encodable(map, s, n))
            continue;
        cpbuf bytes = {0}, dec = {0};
        for (size_t i = 0; i < n; i++)
            push(&bytes, (uint32_t)encode_byte(map, s[i]));
        bool altered = false;
        for (size_t i = 0; i < bytes.n && !altered && map != FTFY_CHARMAP_MACROMAN; i++)
            altered = match_at(ftfy_altered_utf8_re, bytes.v, bytes.n, i, true) > 0;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0 ? !altered : !ftfy_charmaps[map].sloppy)
                continue;
            cpbuf fixed = {.oom = bytes.oom};
            if (pass == 0)
                restore_byte_a0(bytes.v, bytes.n, &fixed);
            else
                replace_lossy_sequences(bytes.v, bytes.n, &fixed);
            free(bytes.v);
            bytes = fixed;
        }
        bool ok = !bytes.oom && decode_utf8_variants(bytes.v, bytes.n, &dec);
        free(bytes.v);
        if (ok)
            push_all(out, dec.v, dec.n);
        free(dec.v);
        if (bytes.oom || dec.oom)
            return -1;
        if (ok)
            return out->oom ? -1 : 0;
    }
    bool detected = false;
    for (size_t i = 0; i < n && !detected; i++)
        detected = utf8_detector_at(s, n, i) > 0;
    if (detected) {
        cpbuf fixed = {0};
        if (decode_inconsistent_utf8(s, n, &fixed)) {
            free(fixed.v);
            return -1;
        }
        bool changed = !same(fixed.v, fixed.n, s, n);
        if (changed)
            push_all(out, fixed.v, fixed.n);
        free(fixed.v);
        if (changed)
            return out->oom ? -1 : 0;
    }
    /* What remains is Latin-1 text read as strict Windows-1252, else fix_c1_controls; both
     * give fix_c1_controls' result: ftfy's test for "windows-1252" among the possible
     * encodings never passes (it lists only "sloppy-windows-1252"), strict Windows-1252 equals
     * the sloppy map where it decodes at all, and without C1 characters neither changes. */
    fix_c1_controls(s, n, out);
    return out->oom ? -1 : 0;
}

/* ftfy.fix_encoding: one step at a time until nothing changes */
static int fix_encoding(const uint32_t *s, size_t n, cpbuf *out)
{
    cpbuf cur = {0};
    push_all(&cur, s, n);
    for (int round = 0; round < MAX_ROUNDS && !cur.oom; round++) {
        cpbuf next = {0};
        if (fix_encoding_step(cur.v, cur.n, &next)) {
            free(next.v);
            break;
        }
        bool done = same(next.v, next.n, cur.v, cur.n);
        free(cur.v);
        cur = next;
        if (done)
            break;
    }
    push_all(out, cur.v, cur.n);
    bool oom = cur.oom;
    free(cur.v);
    return oom || out->oom ? -1 : 0;
}

/* ---- the other fixers ---- */

static bool is_alnum_ascii(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* What html.unescape gives for "&#<ref>;" with ref the len code points after "&#", as one
 * code point (*cp; 0 for nothing); false when it would not consume the whole reference. */
static bool numeric_reference(const uint32_t *ref, size_t len, uint32_t *cp)
{
    bool hex = ref[0] == 'x' || ref[0] == 'X';
    size_t k = hex ? 1 : 0;
    if (k == len)
        return false;
    uint64_t num = 0;
    for (; k < len; k++) {
        uint32_t c = ref[k], d = c >= '0' && c <= '9' ? c - '0'
                               : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                               : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
        if (d == 99)
            return false;
        num = num * (hex ? 16 : 10) + d;
        if (num > 0x110000)
            num = 0x110000;  /* past U+10FFFF all give U+FFFD */
    }
    *cp = num > 0x10FFFF ? 0xFFFD : (uint32_t)num;
    for (size_t r = 0; r < NELEM(ftfy_charref_fix); r++)
        if (num >= ftfy_charref_fix[r][0] && num <= ftfy_charref_fix[r][1])
            *cp = ftfy_charref_fix[r][2];
    return true;
}

/* fixes.unescape_html: HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24}; — a name in ftfy's entity table,
 * or a numeric reference html.unescape decodes whole, unless it decodes to ';'. */
static void unescape_html(const uint32_t *s, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1, len = 0;
        bool hash = j < n && s[j] == '#';
        j += hash;
        while (s[i] == '&' && len <= 24 && j + len < n && is_alnum_ascii(s[j + len]))
            len++;
        if (s[i] != '&' || len == 0 || len > 24 || j + len >= n || s[j + len] != ';') {
            push(out, s[i++]);
            continue;
        }
        const uint32_t *value = NULL;
        uint32_t cp = 0;
        if (hash) {
            if (numeric_reference(s + j, len, &cp) && cp != ';')
                value = &cp;
        } else {
            char name[25];
            for (size_t k = 0; k < len; k++)
                name[k] = (char)s[j + k];
            name[len] = '\0';
            size_t lo = 0, hi = NELEM(ftfy_entities);
            while (lo < hi && !value) {
                size_t mid = (lo + hi) / 2;
                int cmp = strcmp(name, ftfy_entities[mid].name);
                if (cmp == 0)
                    value = ftfy_entities[mid].cp;
                else if (cmp < 0)
                    hi = mid;
                else
                    lo = mid + 1;
            }
        }
        if (!value) {
            push_all(out, s + i, j + len + 1 - i);
        } else if (hash) {
            if (cp)
                push(out, cp);
        } else {
            for (int k = 0; k < 3 && value[k]; k++)
                push(out, value[k]);
        }
        i = j + len + 1;
    }
}

/* str.translate with a generated table: rows of (code point, up to width replacements) */
static void translate(const uint32_t *table, size_t rows, size_t width, const uint32_t *s,
                      size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = rows;
        const uint32_t *row = NULL;
        while (lo < hi && !row) {
            size_t mid = (lo + hi) / 2;
            const uint32_t *r = table + mid * (width + 1);
            if (s[i] == r[0])
                row = r;
            else if (s[i] < r[0])
                hi = mid;
            else
                lo = mid + 1;
        }
        if (!row) {
            push(out, s[i]);
            continue;
        }
        for (size_t k = 1; k <= width && row[k]; k++)
            push(out, row[k]);
    }
}

static void uncurl_quotes(const uint32_t *s, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++)
        push(out, in_set(FTFY_SET_SINGLE_QUOTE, s[i]) ? '\''
                  : in_set(FTFY_SET_DOUBLE_QUOTE, s[i]) ? '"' : s[i]);
}

/* CRLF, CR, U+2028, U+2029, U+0085 → LF (U+0085 cannot get here: fix_c1_controls, run first,
 * makes it U+2026; kept as ftfy has it) */
static void fix_line_breaks(const uint32_t *s, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            continue;
        bool brk = s[i] == '\r' || s[i] == 0x2028 || s[i] == 0x2029 || s[i] == 0x85;
        push(out, brk ? '\n' : s[i]);
    }
}

/* ANSI_RE = \033\[((?:\d|;)*)([a-zA-Z]) removed */
static void remove_terminal_escapes(const uint32_t *s, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0x1B && i + 1 < n && s[i + 1] == '[') {
            size_t j = i + 2;
            while (j < n && in_set(FTFY_SET_ANSI_PARAM, s[j]))
                j++;
            if (j < n && in_set(FTFY_SET_ANSI_FINAL, s[j])) {
                i = j;
                continue;
            }
        }
        push(out, s[i]);
    }
}

static void remove_control_chars(const uint32_t *s, size_t n, cpbuf *out)
{
    for (size_t i = 0; i < n; i++)
        if (!in_set(FTFY_SET_CONTROL_CHARS, s[i]))
            push(out, s[i]);
}

/* Replaces *cur with next (taking it over). */
static void take(cpbuf *cur, cpbuf *next)
{
    free(cur->v);
    *cur = *next;
    *next = (cpbuf){0};
}

/* fix_and_explain on one segment: every fixer, then NFC, until a round changes nothing. */
static int fix_segment(const uint32_t *s, size_t n, bool unescape, cpbuf *out)
{
    cpbuf cur = {0}, next = {0};
    push_all(&cur, s, n);
    for (int round = 0; round < MAX_ROUNDS && !cur.oom; round++) {
        cpbuf orig = {0};
        push_all(&orig, cur.v, cur.n);
        if (unescape) {
            unescape_html(cur.v, cur.n, &next);
            take(&cur, &next);
        }
        if (fix_encoding(cur.v, cur.n, &next))
            next.oom = true;
        take(&cur, &next);
        fix_c1_controls(cur.v, cur.n, &next);
        take(&cur, &next);
        translate(&ftfy_ligatures[0][0], NELEM(ftfy_ligatures), 3, cur.v, cur.n, &next);
        take(&cur, &next);
        translate(&ftfy_width[0][0], NELEM(ftfy_width), 2, cur.v, cur.n, &next);
        take(&cur, &next);
        uncurl_quotes(cur.v, cur.n, &next);
        take(&cur, &next);
        fix_line_breaks(cur.v, cur.n, &next);
        take(&cur, &next);
        remove_terminal_escapes(cur.v, cur.n, &next);
        take(&cur, &next);
        remove_control_chars(cur.v, cur.n, &next);
        take(&cur, &next);
        if (!cur.oom) {
            uint32_t *nfc = malloc((4 * cur.n + 1) * sizeof *nfc);
            uint32_t *tmp = malloc((4 * cur.n + 1) * sizeof *tmp);
            if (nfc && tmp) {
                size_t m = clip_text_nfc(cur.v, cur.n, tmp, nfc);
                push_all(&next, nfc, m);
            } else {
                next.oom = true;
            }
            free(nfc);
            free(tmp);
            take(&cur, &next);
        }
        bool done = same(cur.v, cur.n, orig.v, orig.n);
        cur.oom |= orig.oom;
        free(orig.v);
        if (done)
            break;
    }
    push_all(out, cur.v, cur.n);
    bool oom = cur.oom;
    free(cur.v);
    return oom || out->oom ? -1 : 0;
}

int clip_ftfy_fix_text(const uint32_t *text, size_t n, uint32_t **out, size_t *n_out)
{
    cpbuf res = {0};
    bool unescape = true;  /* "auto": until a segment holds '<' */
    for (size_t pos = 0; pos < n;) {
        size_t end = pos;
        while (end < n && text[end] != '\n')
            end++;
        end = end < n ? end + 1 : n;
        if (end - pos > MAX_DECODE_LENGTH)
            end = pos + MAX_DECODE_LENGTH;
        for (size_t i = pos; i < end && unescape; i++)
            unescape = text[i] != '<';
        if (fix_segment(text + pos, end - pos, unescape, &res)) {
            free(res.v);
            return -1;
        }
        pos = end;
    }
    push(&res, 0);  /* never an empty array */
    if (res.oom) {
        free(res.v);
        return -1;
    }
    *out = res.v;
    *n_out = res.n - 1;
    return 0;
}

char *clip_ftfy_fix_text_utf8(const char *text, size_t len, size_t *out_len)
{
    uint32_t *cps = malloc((len + 1) * sizeof *cps), *fixed = NULL;
    size_t n = cps ? clip_utf8_decode(text, len, cps) : 0, m = 0;
    char *res = NULL;
    if (cps && clip_ftfy_fix_text(cps, n, &fixed, &m) == 0 && (res = malloc(4 * m + 1))) {
        size_t k = 0;
        for (size_t i = 0; i < m; i++)
            k += (size_t)clip_utf8_put(fixed[i], res + k);
        res[k] = '\0';
        *out_len = k;
    }
    free(cps);
    free(fixed);
    return res;
}
