/* test_prompt_weights.c — engine/models/prompt_weights against hand-worked examples:
 *   - the parser on the examples of parse_prompt_attention's docstring (AUTOMATIC1111's, kept
 *     by sd-scripts) and more worked by hand: nesting, [] = 1/1.1, () = 1.1, (x:w), the
 *     escapes, a lone backslash, unbalanced and stray brackets, a weight outside brackets,
 *     merged equal weights, BREAK as a plain word (sd-scripts' parser has no BREAK), and the
 *     weights that Python's float() refuses. Weights must be equal to the double products in
 *     sd-scripts' order, bit for bit (they decide which runs merge);
 *   - weighted tokenization with the CLIP vocabulary of share/clip: each piece tokenized on
 *     its own ("(abc)def" is two words), its weight on each of its tokens, truncation;
 *   - prompt_weight_rows on a small matrix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/prompt_weights.h"
#include "tests/check.h"

typedef struct piece {
    const char *text;
    double weight;
} piece;

#define END {NULL, 0}

static void expect(const char *prompt, const piece *want)
{
    prompt_attention pa;
    error_info err = {0};
    if (prompt_attention_parse(prompt, strlen(prompt), &pa, &err) != 0) {
        CHECK(0, "\"%s\": %s", prompt, err.message);
        return;
    }
    size_t n = 0;
    while (want[n].text)
        n++;
    CHECK(pa.count == n, "\"%s\": %zu pieces, want %zu", prompt, pa.count, n);
    for (size_t i = 0; i < n && i < pa.count; i++) {
        const prompt_span *s = &pa.spans[i];
        CHECK(s->len == strlen(want[i].text) && !memcmp(pa.text + s->off, want[i].text, s->len),
              "\"%s\" piece %zu: \"%.*s\", want \"%s\"", prompt, i, (int)s->len, pa.text + s->off,
              want[i].text);
        CHECK(s->weight == want[i].weight, "\"%s\" piece %zu: weight %.17g, want %.17g", prompt, i,
              s->weight, want[i].weight);
    }
    prompt_attention_free(&pa);
}

static void expect_error(const char *prompt, const char *needle)
{
    prompt_attention pa;
    error_info err = {0};
    int rc = prompt_attention_parse(prompt, strlen(prompt), &pa, &err);
    CHECK(rc == -1 && strstr(err.message, needle), "\"%s\": rc %d, message \"%s\", want an error "
          "naming %s", prompt, rc, err.message, needle);
    if (rc == 0)
        prompt_attention_free(&pa);
}

static void test_parser(void)
{
    const double up = 1.1, down = 1 / 1.1;
    /* the docstring's examples, with its printed weights */
    expect("normal text", (piece[]){{"normal text", 1.0}, END});
    expect("an (important) word", (piece[]){{"an ", 1.0}, {"important", 1.1}, {" word", 1.0}, END});
    expect("(unbalanced", (piece[]){{"unbalanced", 1.1}, END});
    expect("\\(literal\\]", (piece[]){{"(literal]", 1.0}, END});
    expect("(unnecessary)(parens)", (piece[]){{"unnecessaryparens", 1.1}, END});
    expect("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
           (piece[]){{"a ", 1.0}, {"house", 1.5730000000000004}, {" ", 1.1}, {"on", 1.0},
                     {" a ", 1.1}, {"hill", 0.55}, {", sun, ", 1.1}, {"sky", 1.4641000000000006},
                     {".", 1.1}, END});
    /* worked by hand: each closing bracket multiplies what was added since its opener */
    expect("a (red:1.3) ring, ((masterpiece)), [blurry]",
           (piece[]){{"a ", 1.0}, {"red", 1.3}, {" ring, ", 1.0}, {"masterpiece", 1.0 * up * up},
                     {", ", 1.0}, {"blurry", 1.0 * down}, END});
    expect("[[a]", (piece[]){{"a", 1.0 * down * down}, END});            /* open [ to the end */
    expect("((a:1.5) b", (piece[]){{"a", 1.5 * up}, {" b", 1.1}, END});
    expect("[(a:2)]", (piece[]){{"a", 2.0 * down}, END});
    expect("(a [b] c)", (piece[]){{"a ", 1.1}, {"b", 1.0 * down * up}, {" c", 1.1}, END});
    expect("[a (b] c)", (piece[]){{"a ", 1.0 * down}, {"b", 1.0 * down * up}, {" c", 1.1}, END});
    expect("(a:+.5)(b:-1)", (piece[]){{"a", 0.5}, {"b", -1.0}, END});
    expect("(a:1.)", (piece[]){{"a", 1.0}, END});
    /* brackets left open: round ones first, then square ones, each outermost first */
    expect("[x (y", (piece[]){{"x ", 1.0 * down}, {"y", 1.0 * up * down}, END});
    /* text that only looks like syntax */
    expect("x :1.3) y", (piece[]){{"x :1.3) y", 1.0}, END});  /* a weight needs an open ( */
    expect("a:b", (piece[]){{"a:b", 1.0}, END});               /* ':' splits, equal weights merge */
    expect("(a:)", (piece[]){{"a:", 1.1}, END});
    expect("(a:x)", (piece[]){{"a:x", 1.1}, END});
    expect("a)b]c", (piece[]){{"a)b]c", 1.0}, END});
    expect("a BREAK b", (piece[]){{"a BREAK b", 1.0}, END});
    /* escapes: \\ is one backslash, a lone backslash disappears */
    expect("a\\\\b", (piece[]){{"a\\b", 1.0}, END});
    expect("a\\b", (piece[]){{"ab", 1.0}, END});
    expect("\\", (piece[]){{"", 1.0}, END});
    expect("\\((x)\\)", (piece[]){{"(", 1.0}, {"x", 1.1}, {")", 1.0}, END});
    expect("", (piece[]){{"", 1.0}, END});
    expect("(日本語:1.2) ok", (piece[]){{"日本語", 1.2}, {" ok", 1.0}, END});
    /* Python's float() raises on these, sd-scripts stops */
    expect_error("(a:1.2.3)", "1.2.3");
    expect_error("(a:.)", "\".\"");
}

static void test_tokenize(clip_tokenizer *tok)
{
    int ids[80], ref[80], n_ref = 0;
    float w[80];
    int truncated = -1;
    error_info err = {0};
    int n = prompt_tokenize_weighted(tok, "a (red:1.3) ring, ((masterpiece)), [blurry]", 75, ids, w,
                                     &truncated, &err);
    const char *words[] = {"a ", "red", " ring, ", "masterpiece", ", ", "blurry"};
    const float ws[] = {1.0f, 1.3f, 1.0f, (float)(1.1 * 1.1), 1.0f, (float)(1 / 1.1)};
    float wref[80];
    for (int i = 0; i < 6; i++) {
        int k = clip_tokenize(tok, words[i], ref + n_ref, 80 - n_ref);
        for (int j = 0; j < k; j++)
            wref[n_ref + j] = ws[i];
        n_ref += k;
    }
    CHECK(n == n_ref && truncated == 0, "weighted tokens: %d (truncated %d), want %d", n, truncated, n_ref);
    for (int i = 0; i < n && i < n_ref; i++)
        CHECK(ids[i] == ref[i] && w[i] == wref[i], "token %d: %d × %g, want %d × %g", i, ids[i],
              (double)w[i], ref[i], (double)wref[i]);

    /* each piece alone: "(abc)def" is "abc" + "def", not "abcdef" */
    n = prompt_tokenize_weighted(tok, "(abc)def", 75, ids, w, NULL, &err);
    int a = clip_tokenize(tok, "abc", ref, 80);
    int d = clip_tokenize(tok, "def", ref + a, 80 - a);
    int whole = clip_tokenize(tok, "abcdef", ref + 40, 40);
    CHECK(n == a + d && (whole != n || memcmp(ref, ref + 40, sizeof(int) * (size_t)n)),
          "\"(abc)def\": %d tokens, want %d, other than \"abcdef\"'s %d", n, a + d, whole);
    for (int i = 0; i < n && i < a + d; i++)
        CHECK(ids[i] == ref[i] && w[i] == (i < a ? 1.1f : 1.0f), "\"(abc)def\" token %d", i);

    /* truncation at max, the weights with them */
    n = prompt_tokenize_weighted(tok, "one two (three four five:0.5) six", 4, ids, w, &truncated, &err);
    n_ref = clip_tokenize(tok, "one two three four", ref, 80);
    CHECK(n == 4 && n_ref == 4 && truncated == 1, "truncated: %d tokens (truncated %d)", n, truncated);
    for (int i = 0; i < 4 && n == 4; i++)
        CHECK(ids[i] == ref[i] && w[i] == (i < 2 ? 1.0f : 0.5f), "truncated token %d", i);
    n = prompt_tokenize_weighted(tok, "", 75, ids, w, &truncated, &err);
    CHECK(n == 0 && truncated == 0, "empty prompt: %d tokens", n);
    CHECK(prompt_tokenize_weighted(tok, "(x:1..2)", 75, ids, w, NULL, &err) == -1 &&
          strstr(err.message, "1..2"), "a bad weight is an error: %s", err.message);
}

static void test_rows(void)
{
    /* 5 rows of [x | y], weights applied to columns 1..2 of rows 1..3 (2 weights given) */
    float rows[5 * 3], w[2] = {2.0f, 0.5f};
    for (int i = 0; i < 15; i++)
        rows[i] = 1.0f;
    prompt_weight_rows(rows, 5, 3, 1, 2, w, 2);
    const float want[15] = {1, 1, 1, 1, 2, 2, 1, 0.5f, 0.5f, 1, 1, 1, 1, 1, 1};
    CHECK(!memcmp(rows, want, sizeof want), "prompt_weight_rows");
}

int main(void)
{
    test_parser();
    const char *top = getenv("top_srcdir");
    char path[4096];
    snprintf(path, sizeof path, "%s/share/clip/" CLIP_VOCAB_GZ, top ? top : ".");
    error_info err = {0};
    clip_tokenizer *tok = clip_tokenizer_load_gz(path, &err);
    CHECK(tok != NULL, "%s: %s", path, err.message);
    if (tok)
        test_tokenize(tok);
    clip_tokenizer_free(tok);
    test_rows();
    if (!failures)
        printf("ok    prompt weights: parser, weighted tokens, weighted rows\n");
    return failures != 0;
}
