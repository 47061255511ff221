/* prompt_weights.c — sd-scripts' prompt attention weights (see prompt_weights.h).
 *
 * The parser walks the text as sd-scripts' regular expression re_attention does: at every
 * position the first of these alternatives that matches is taken (every character starts
 * one, so nothing is skipped):
 *   \(  \)  \[  \]  \\  \   (    [    :<sign?><digits and dots>)    )    ]    <text>    :
 * where <text> is a run of characters other than \ ( ) [ ] :. */
#include "engine/models/prompt_weights.h"

#include <stdlib.h>
#include <string.h>

typedef struct parser {
    prompt_attention *pa;
    size_t text_len, cap;
    size_t *round, *square;   /* stacks of span indices where open brackets started */
    size_t n_round, n_square;
} parser;

static int add_span(parser *p, const char *s, size_t len)
{
    prompt_attention *pa = p->pa;
    if (pa->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        prompt_span *sp = realloc(pa->spans, cap * sizeof *sp);
        if (!sp)
            return -1;
        pa->spans = sp;
        p->cap = cap;
    }
    memcpy(pa->text + p->text_len, s, len);
    pa->spans[pa->count++] = (prompt_span){p->text_len, len, 1.0};
    p->text_len += len;
    return 0;
}

static void multiply_range(parser *p, size_t start, double m)
{
    for (size_t i = start; i < p->pa->count; i++)
        p->pa->spans[i].weight *= m;
}

/* ":" [+-]? [.0-9]+ ")" at s: the length of the match, 0 when there is none */
static size_t weight_token(const char *s, const char *end)
{
    const char *q = s + 1;
    if (q < end && (*q == '+' || *q == '-'))
        q++;
    const char *digits = q;
    while (q < end && (*q == '.' || (*q >= '0' && *q <= '9')))
        q++;
    if (q == digits || q >= end || *q != ')')
        return 0;
    return (size_t)(q + 1 - s);
}

/* Python's float() of the weight text (sign, digits and dots), refused where float() raises
 * ValueError ("1.2.3", "."). strtod reads the C locale's '.': the engine never calls setlocale. */
static int parse_weight(const char *s, size_t len, double *out)
{
    char *buf = malloc(len + 1), *end;
    if (!buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, &end);
    int ok = end != buf && *end == '\0';
    free(buf);
    return ok ? 0 : -1;
}

static const char SPECIAL[] = "\\()[]:";

static int parse(parser *p, const char *text, size_t len, error_info *err)
{
    const char *s = text, *end = text + len;
    while (s < end) {
        char c = *s;
        size_t n = 0;
        if (c == '\\') {
            /* \( \) \[ \] \\ are the character; a lone \ matches alone and adds "" */
            int pair = s + 1 < end && s[1] != '\0' && strchr("()[]\\", s[1]);
            if (add_span(p, s + 1, pair ? 1 : 0) < 0)
                return -1;
            s += pair ? 2 : 1;
        } else if (c == '(') {
            p->round[p->n_round++] = p->pa->count;
            s++;
        } else if (c == '[') {
            p->square[p->n_square++] = p->pa->count;
            s++;
        } else if (c == ':' && (n = weight_token(s, end)) > 0 && p->n_round > 0) {
            const char *num = s + 1;
            double w;
            if (parse_weight(num, n - 2, &w) < 0)
                return error_set(err, NULL, 0, 0, NULL, "prompt weight \"%.*s\" is not a number "
                                 "(in \"%.*s\")", (int)(n - 2), num, (int)(len > 200 ? 200 : len), text);
            multiply_range(p, p->round[--p->n_round], w);
            s += n;
        } else if (c == ':' && n > 0) {
            /* a weight without an open "(" is text, the whole ":1.3)" */
            if (add_span(p, s, n) < 0)
                return -1;
            s += n;
        } else if (c == ')' && p->n_round > 0) {
            multiply_range(p, p->round[--p->n_round], 1.1);
            s++;
        } else if (c == ']' && p->n_square > 0) {
            multiply_range(p, p->square[--p->n_square], 1 / 1.1);
            s++;
        } else if (c == ':' || c == ')' || c == ']') {
            if (add_span(p, s, 1) < 0)
                return -1;
            s++;
        } else {
            const char *q = s;
            while (q < end && !memchr(SPECIAL, *q, sizeof SPECIAL - 1))
                q++;
            if (add_span(p, s, (size_t)(q - s)) < 0)
                return -1;
            s = q;
        }
    }
    /* brackets left open weigh to the end: all round ones first, outermost first */
    for (size_t i = 0; i < p->n_round; i++)
        multiply_range(p, p->round[i], 1.1);
    for (size_t i = 0; i < p->n_square; i++)
        multiply_range(p, p->square[i], 1 / 1.1);
    if (p->pa->count == 0 && add_span(p, "", 0) < 0)
        return -1;
    /* merge runs of identical weights (exact comparison, as Python's ==) */
    prompt_attention *pa = p->pa;
    size_t out = 0;
    for (size_t i = 1; i < pa->count; i++) {
        if (pa->spans[i].weight == pa->spans[out].weight)
            pa->spans[out].len += pa->spans[i].len;   /* the texts are adjacent */
        else
            pa->spans[++out] = pa->spans[i];
    }
    pa->count = out + 1;
    return 0;
}

int prompt_attention_parse(const char *text, size_t len, prompt_attention *out, error_info *err)
{
    memset(out, 0, sizeof *out);
    parser p = {.pa = out};
    /* the resolved text is never longer than the source; every bracket opens at most once */
    out->text = malloc(len + 1);
    p.round = malloc((len + 1) * sizeof *p.round);
    p.square = malloc((len + 1) * sizeof *p.square);
    int rc = out->text && p.round && p.square ? parse(&p, text, len, err) : -1;
    if (rc < 0 && !err->message[0])
        error_set(err, NULL, 0, 0, NULL, "out of memory while parsing a prompt");
    free(p.round);
    free(p.square);
    if (rc < 0) {
        prompt_attention_free(out);
        return -1;
    }
    out->text[p.text_len] = '\0';
    return 0;
}

void prompt_attention_free(prompt_attention *pa)
{
    free(pa->text);
    free(pa->spans);
    memset(pa, 0, sizeof *pa);
}

int prompt_tokenize_weighted(const clip_tokenizer *tok, const char *text, int max, int *ids,
                             float *weights, int *truncated, error_info *err)
{
    prompt_attention pa;
    if (prompt_attention_parse(text, strlen(text), &pa, err) < 0)
        return -1;
    int n = 0, cut = 0;
    for (size_t i = 0; i < pa.count && !cut; i++) {
        /* tokenizer(word).input_ids[1:-1], the weight copied to each token; sd-scripts stops
         * once past max and truncates to max */
        int got = clip_tokenize_len(tok, pa.text + pa.spans[i].off, pa.spans[i].len, ids + n, max - n);
        if (got < 0) {
            prompt_attention_free(&pa);
            return error_set(err, NULL, 0, 0, NULL, "out of memory while tokenizing a prompt");
        }
        int kept = got < max - n ? got : max - n;
        for (int k = 0; k < kept; k++)
            weights[n + k] = (float)pa.spans[i].weight;
        n += kept;
        cut = got > kept;
    }
    prompt_attention_free(&pa);
    if (truncated)
        *truncated = cut;
    return n;
}

void prompt_weight_rows(float *rows, int T, int ld, int col, int C, const float *w, int n_w)
{
    for (int r = 1; r < T - 1 && r - 1 < n_w; r++) {
        float f = w[r - 1];
        float *x = rows + (size_t)r * ld + col;
        for (int c = 0; c < C; c++)
            x[c] *= f;
    }
}
