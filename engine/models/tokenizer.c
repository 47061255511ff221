/* tokenizer.c — CLIP's byte-level BPE: vocabulary loading (open_clip's gz merges file or
 * transformers' vocab.json + merges.txt), BPE with merge ranks and the "</w>" end-of-word
 * marker, and sd-scripts' 77-token chunking. Text clean-up (ftfy.fix_text and the rest) and
 * the pre-tokenizer are in tokenizer_text.c. Tokens are kept as transformers keeps them:
 * strings of the byte-to-unicode alphabet (UTF-8 here), so both vocabulary sources share one
 * lookup. */
#include "engine/models/tokenizer.h"

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/models/tokenizer_text.h"
#include "presets.h"

/* transformers reads merges.txt as lines[1 : 49152 - 256 - 2 + 1] (open_clip the same). */
enum { CLIP_N_MERGES = 49152 - 256 - 2 };

static const char BOS_STR[] = "<|startoftext|>", EOS_STR[] = "<|endoftext|>";

/* ---- string → int map (open addressing; keys live in one pool) ---- */

typedef struct {
    size_t off, len;
    int value;
} strmap_entry;

typedef struct {
    uint32_t *slots;  /* entry index + 1, 0 = empty */
    size_t cap;       /* power of two */
    strmap_entry *entries;
    size_t n, entries_cap;
    char *pool;
    size_t pool_len, pool_cap;
} strmap;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;  /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void strmap_free(strmap *m)
{
    free(m->slots);
    free(m->entries);
    free(m->pool);
}

/* Slot holding key, or the empty slot where it would go. */
static size_t strmap_slot(const strmap *m, const char *key, size_t len)
{
    size_t i = (size_t)hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[i]) {
        const strmap_entry *e = &m->entries[m->slots[i] - 1];
        if (e->len == len && memcmp(m->pool + e->off, key, len) == 0)
            break;
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

static int strmap_get(const strmap *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    size_t i = strmap_slot(m, key, len);
    return m->slots[i] ? m->entries[m->slots[i] - 1].value : -1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Inserts or overwrites (a later duplicate wins, as in a Python dict). */
static int strmap_put(strmap *m, const char *key, size_t len, int value)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1 << 16;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
        for (size_t e = 0; e < m->n; e++) {
            const strmap_entry *en = &m->entries[e];
            m->slots[strmap_slot(m, m->pool + en->off, en->len)] = (uint32_t)e + 1;
        }
    }
    size_t i = strmap_slot(m, key, len);
    if (m->slots[i]) {
        m->entries[m->slots[i] - 1].value = value;
        return 0;
    }
    if (grow((void **)&m->entries, &m->entries_cap, m->n + 1, sizeof *m->entries) ||
        grow((void **)&m->pool, &m->pool_cap, m->pool_len + len, 1))
        return -1;
    memcpy(m->pool + m->pool_len, key, len);
    m->entries[m->n] = (strmap_entry){m->pool_len, len, value};
    m->pool_len += len;
    m->slots[i] = (uint32_t)++m->n;
    return 0;
}

/* ---- the tokenizer ---- */

struct clip_tokenizer {
    strmap vocab;  /* token → id */
    strmap ranks;  /* "first second" → merge rank */
    int bos, eos, n_vocab;
};

/* GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 on, in byte
 * order. byte_order lists the bytes in the order their symbols enter the vocabulary. */
static void byte_alphabet(uint32_t cp_of[256], int byte_order[256])
{
    int n = 0, extra = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            cp_of[b] = (uint32_t)b;
            byte_order[n++] = b;
        }
    for (int b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            cp_of[b] = 256u + (uint32_t)extra++;
            byte_order[n++] = b;
        }
}

void clip_tokenizer_free(clip_tokenizer *tok)
{
    if (!tok)
        return;
    strmap_free(&tok->vocab);
    strmap_free(&tok->ranks);
    free(tok);
}

int clip_tokenizer_bos(const clip_tokenizer *tok) { return tok->bos; }
int clip_tokenizer_eos(const clip_tokenizer *tok) { return tok->eos; }
int clip_tokenizer_vocab_size(const clip_tokenizer *tok) { return tok->n_vocab; }

/* Next whitespace-separated field of [*p, end); NULL when none. */
static const char *next_field(const char **p, const char *end, size_t *len)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\v' || *s == '\f'))
        s++;
    const char *e = s;
    while (e < end && !(*e == ' ' || *e == '\t' || *e == '\r' || *e == '\v' || *e == '\f'))
        e++;
    *p = e;
    *len = (size_t)(e - s);
    return e > s ? s : NULL;
}

/* Reads the merges of a merges file's text (line 0 is a header); when build_vocab is set, also
 * adds each merge's joined token to the vocabulary, as open_clip does. */
static int parse_merges(clip_tokenizer *tok, const char *text, size_t len, int build_vocab,
                        const char *path, error_info *err)
{
    const char *p = text, *end = text + len;
    while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        end--;  /* Python's .strip() before .split("\n") */
    while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
        p++;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
    char key[1024];
    int rank = 0;
    for (int line = 2; p < end && rank < CLIP_N_MERGES; line++, rank++) {
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end, *q = p;
        size_t la, lb, lc;
        const char *a = next_field(&q, eol, &la), *b = next_field(&q, eol, &lb);
        const char *c = next_field(&q, eol, &lc);
        p = nl ? nl + 1 : end;
        if (!a || !b || c)
            continue;  /* not a pair: takes a rank but can never match */
        if (la + lb + 1 > sizeof key)
            return error_set(err, path, line, 0, "", "merge too long");
        memcpy(key, a, la);
        key[la] = ' ';
        memcpy(key + la + 1, b, lb);
        if (strmap_put(&tok->ranks, key, la + lb + 1, rank))
            return error_set(err, path, 0, 0, "", "out of memory");
        if (build_vocab) {
            memmove(key + la, key + la + 1, lb);
            if (strmap_put(&tok->vocab, key, la + lb, 512 + rank))
                return error_set(err, path, 0, 0, "", "out of memory");
        }
    }
    if (build_vocab && rank != CLIP_N_MERGES)
        return error_set(err, path, 0, 0, "", "%d merges, expected %d", rank, CLIP_N_MERGES);
    return 0;
}

static int set_specials(clip_tokenizer *tok, const char *path, error_info *err)
{
    tok->bos = strmap_get(&tok->vocab, BOS_STR, strlen(BOS_STR));
    tok->eos = strmap_get(&tok->vocab, EOS_STR, strlen(EOS_STR));
    tok->n_vocab = (int)tok->vocab.n;
    if (tok->bos < 0 || tok->eos < 0)
        return error_set(err, path, 0, 0, "", "the vocabulary lacks %s or %s", BOS_STR, EOS_STR);
    return 0;
}

clip_tokenizer *clip_tokenizer_load_gz(const char *path, error_info *err)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        error_set(err, path, 0, 0, "", "cannot open the CLIP vocabulary");
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (grow((void **)&text, &cap, len + 65536, 1)) {
            rc = error_set(err, path, 0, 0, "", "out of memory");
            break;
        }
        int got = gzread(f, text + len, 65536);
        if (got < 0) {
            int code;
            rc = error_set(err, path, 0, 0, "", "not a readable gzip file: %s", gzerror(f, &code));
            break;
        }
        len += (size_t)got;
        if (got == 0)
            break;
    }
    gzclose(f);
    clip_tokenizer *tok = rc ? NULL : calloc(1, sizeof *tok);
    if (!rc && !tok)
        rc = error_set(err, path, 0, 0, "", "out of memory");
    uint32_t cp_of[256];
    int order[256];
    byte_alphabet(cp_of, order);
    for (int pass = 0; rc == 0 && pass < 2; pass++)  /* bytes, then bytes + "</w>" */
        for (int i = 0; rc == 0 && i < 256; i++) {
            char sym[16];
            int n = clip_utf8_put(cp_of[order[i]], sym);
            if (pass)
                memcpy(sym + n, "</w>", 4), n += 4;
            if (strmap_put(&tok->vocab, sym, (size_t)n, pass * 256 + i))
                rc = error_set(err, path, 0, 0, "", "out of memory");
        }
    if (rc == 0)
        rc = parse_merges(tok, text, len, 1, path, err);
    if (rc == 0 && (strmap_put(&tok->vocab, BOS_STR, strlen(BOS_STR), 512 + CLIP_N_MERGES) ||
                    strmap_put(&tok->vocab, EOS_STR, strlen(EOS_STR), 513 + CLIP_N_MERGES)))
        rc = error_set(err, path, 0, 0, "", "out of memory");
    if (rc == 0)
        rc = set_specials(tok, path, err);
    free(text);
    if (rc) {
        clip_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

clip_tokenizer *clip_tokenizer_load_hf(const char *vocab_json, const char *merges_txt,
                                       error_info *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(vocab_json, 0, &jerr);
    if (!root) {
        error_set(err, vocab_json, jerr.line, jerr.column, "", "%s", jerr.text);
        return NULL;
    }
    clip_tokenizer *tok = calloc(1, sizeof *tok);
    int rc = tok && json_is_object(root) ? 0 : -1;
    if (rc)
        error_set(err, vocab_json, 0, 0, "", tok ? "not a JSON object" : "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (rc)
            break;
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id > INT_MAX) {
            rc = error_set(err, vocab_json, 0, 0, key, "the id is not an integer in range");
            break;
        }
        if (strmap_put(&tok->vocab, key, strlen(key), (int)id))
            rc = error_set(err, vocab_json, 0, 0, "", "out of memory");
    }
    json_decref(root);
    char *text = NULL;
    long len = 0;
    if (rc == 0) {
        FILE *f = fopen(merges_txt, "rb");
        if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
            fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1)) &&
            fread(text, 1, (size_t)len, f) == (size_t)len)
            rc = parse_merges(tok, text, (size_t)len, 0, merges_txt, err);
        else
            rc = error_set(err, merges_txt, 0, 0, "", "cannot read the merges file");
        if (f)
            fclose(f);
    }
    free(text);
    if (rc == 0)
        rc = set_specials(tok, vocab_json, err);
    if (rc) {
        clip_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

clip_tokenizer *clip_tokenizer_load_default(error_info *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/clip/%s", presets_datadir(), CLIP_VOCAB_GZ);
    return clip_tokenizer_load_gz(path, err);
}

/* ---- BPE ---- */

typedef struct {
    const clip_tokenizer *tok;
    int *ids;
    int max, count;
    uint32_t cp_of[256];
} tokenize_ctx;

static void emit(tokenize_ctx *c, int id)
{
    if (c->count < c->max)
        c->ids[c->count] = id;
    c->count++;
}

/* Merges the symbols of buf (sym_off[k] is where symbol k starts; n_sym + 1 offsets) by rank,
 * lowest first, every occurrence of the pair left to right, until no pair has a rank. */
static void bpe_merge(const clip_tokenizer *tok, const char *buf, size_t *sym_off, size_t *n_sym,
                      char *key)
{
    size_t n = *n_sym;
    while (n > 1) {
        int best = INT_MAX;
        size_t bi = 0;
        for (size_t k = 0; k + 1 < n; k++) {
            size_t la = sym_off[k + 1] - sym_off[k], lb = sym_off[k + 2] - sym_off[k + 1];
            memcpy(key, buf + sym_off[k], la);
            key[la] = ' ';
            memcpy(key + la + 1, buf + sym_off[k + 1], lb);
            int r = strmap_get(&tok->ranks, key, la + lb + 1);
            if (r >= 0 && r < best)
                best = r, bi = k;
        }
        if (best == INT_MAX)
            break;
        const char *first = buf + sym_off[bi], *second = buf + sym_off[bi + 1];
        size_t lf = sym_off[bi + 1] - sym_off[bi], ls = sym_off[bi + 2] - sym_off[bi + 1];
        size_t m = 0;
        for (size_t k = 0; k < n;) {
            size_t la = sym_off[k + 1] - sym_off[k];
            int merge = k + 1 < n && la == lf && sym_off[k + 2] - sym_off[k + 1] == ls &&
                        memcmp(buf + sym_off[k], first, lf) == 0 &&
                        memcmp(buf + sym_off[k + 1], second, ls) == 0;
            sym_off[m++] = sym_off[k];
            k += merge ? 2 : 1;
        }
        sym_off[m] = sym_off[n];
        n = m;
    }
    *n_sym = n;
}

static int on_piece(void *ctx, const uint32_t *cps, size_t n)
{
    tokenize_ctx *c = ctx;
    /* UTF-8 → bytes → byte symbols (≤ 2 UTF-8 bytes each), then "</w>" */
    size_t cap = n * 8 + 8;
    char *buf = malloc(cap), *key = malloc(2 * cap + 2);
    size_t *off = malloc((n * 4 + 2) * sizeof *off);
    if (!buf || !key || !off) {
        free(buf), free(key), free(off);
        return -1;
    }
    char utf8[4];
    size_t len = 0, n_sym = 0;
    for (size_t i = 0; i < n; i++) {
        int nb = clip_utf8_put(cps[i], utf8);
        for (int k = 0; k < nb; k++) {
            off[n_sym++] = len;
            len += (size_t)clip_utf8_put(c->cp_of[(unsigned char)utf8[k]], buf + len);
        }
    }
    const clip_tokenizer *tok = c->tok;
    /* transformers' bpe cache is seeded with the two specials: they map to themselves */
    if ((len == strlen(BOS_STR) && !memcmp(buf, BOS_STR, len)) ||
        (len == strlen(EOS_STR) && !memcmp(buf, EOS_STR, len))) {
        emit(c, strmap_get(&tok->vocab, buf, len));
    } else {
        memcpy(buf + len, "</w>", 4);
        len += 4;
        off[n_sym] = len;
        bpe_merge(tok, buf, off, &n_sym, key);
        for (size_t k = 0; k < n_sym; k++) {
            int id = strmap_get(&tok->vocab, buf + off[k], off[k + 1] - off[k]);
            emit(c, id >= 0 ? id : tok->eos);  /* unknown → unk_token = <|endoftext|> */
        }
    }
    free(buf), free(key), free(off);
    return 0;
}

int clip_tokenize(const clip_tokenizer *tok, const char *text, int *ids, int max)
{
    return clip_tokenize_len(tok, text, strlen(text), ids, max);
}

int clip_tokenize_len(const clip_tokenizer *tok, const char *text, size_t len, int *ids, int max)
{
    tokenize_ctx c = {.tok = tok, .ids = ids, .max = max < 0 ? 0 : max};
    int order[256];
    byte_alphabet(c.cp_of, order);
    /* the exact special tokens are cut out before any clean-up (transformers' added-token
     * split); the pieces in between are cleaned (ftfy.fix_text included) and tokenized on
     * their own */
    const char *p = text, *end = text + len;
    for (;;) {
        const char *b = memmem(p, (size_t)(end - p), BOS_STR, strlen(BOS_STR));
        const char *e = memmem(p, (size_t)(end - p), EOS_STR, strlen(EOS_STR));
        const char *s = b && (!e || b < e) ? b : e;
        size_t seg = s ? (size_t)(s - p) : (size_t)(end - p);
        if (seg && clip_text_split(p, seg, on_piece, &c))
            return -1;
        if (!s)
            break;
        emit(&c, s == b ? tok->bos : tok->eos);
        p = s + (s == b ? strlen(BOS_STR) : strlen(EOS_STR));
    }
    return c.count;
}

/* ---- sd-scripts' windows ---- */

int clip_encode_prompt(const clip_tokenizer *tok, const char *text, int max_token_length,
                       clip_pad_mode pad, int *out_ids, int *chunks, error_info *err)
{
    return clip_encode_prompt_len(tok, text, strlen(text), max_token_length, pad, out_ids, chunks,
                                  err);
}

int clip_encode_prompt_len(const clip_tokenizer *tok, const char *text, size_t len,
                           int max_token_length, clip_pad_mode pad, int *out_ids, int *chunks,
                           error_info *err)
{
    int n_tok = max_token_length ? max_token_length : CLIP_CHUNK_TOKENS;
    if (n_tok != 75 && n_tok != 150 && n_tok != 225)
        return error_set(err, "", 0, 0, "max_token_length", "must be 75, 150 or 225, not %d",
                         max_token_length);
    /* tokenizer(text, padding="max_length", truncation=True, max_length=N + 2) */
    int ids[CLIP_MAX_CHUNKS * CLIP_CHUNK_TOKENS];
    int n = clip_tokenize_len(tok, text, len, ids, n_tok);
    if (n < 0)
        return error_set(err, "", 0, 0, "", "out of memory while tokenizing");
    return clip_windows_from_ids(tok, ids, n > n_tok ? n_tok : n, max_token_length, pad, out_ids,
                                 chunks, err);
}

int clip_windows_from_ids(const clip_tokenizer *tok, const int *ids, int n, int max_token_length,
                          clip_pad_mode pad, int *out_ids, int *chunks, error_info *err)
{
    int n_tok = max_token_length ? max_token_length : CLIP_CHUNK_TOKENS;
    if (n_tok != 75 && n_tok != 150 && n_tok != 225)
        return error_set(err, "", 0, 0, "max_token_length", "must be 75, 150 or 225, not %d",
                         max_token_length);
    int full[CLIP_MAX_CHUNKS * CLIP_CHUNK_TOKENS + 2], total = n_tok + 2;
    int pad_id = pad == CLIP_PAD_EOS ? tok->eos : 0;
    if (n > n_tok)
        n = n_tok;
    full[0] = tok->bos;
    memcpy(full + 1, ids, sizeof(int) * (size_t)n);
    full[n + 1] = tok->eos;
    for (int k = n + 2; k < total; k++)
        full[k] = pad_id;
    if (total <= CLIP_CHUNK_LEN) {
        memcpy(out_ids, full, sizeof(int) * (size_t)total);
        *chunks = 1;
        return 0;
    }
    /* strategy_base.py _get_input_ids: windows start at 1, 76, 151; each is BOS + 75 ids +
     * the last id of the whole sequence */
    int c = 0;
    for (int i = 1; i < total - CLIP_CHUNK_LEN + 2; i += CLIP_CHUNK_TOKENS, c++) {
        int *w = out_ids + c * CLIP_CHUNK_LEN;
        w[0] = full[0];
        memcpy(w + 1, full + i, sizeof(int) * CLIP_CHUNK_TOKENS);
        w[CLIP_CHUNK_LEN - 1] = full[total - 1];
        if (pad_id != tok->eos) {
            /* v2/SDXL: a window ending "x <pad>" gets an EOS; one starting "<BOS> <pad>" too */
            if (w[CLIP_CHUNK_LEN - 2] != tok->eos && w[CLIP_CHUNK_LEN - 2] != pad_id)
                w[CLIP_CHUNK_LEN - 1] = tok->eos;
            if (w[1] == pad_id)
                w[1] = tok->eos;
        }
    }
    *chunks = c;
    return 0;
}
