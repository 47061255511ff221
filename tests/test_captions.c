/* test_captions.c — captions as sd-scripts reads and processes them (captions.h), on
 * hand-checked examples: first line / wildcard lines, CRLF, empty and non-UTF-8 files, the
 * class-token fallback, the face-crop stem (on the whole path, as sd-scripts splits it),
 * prefix/suffix, keep_tokens and keep_tokens_separator, shuffle, tag dropout, caption
 * dropout by rate and by epoch, wildcards with {{ }} escapes, secondary_separator, token
 * warm-up, and that draws are a function of (seed, epoch, index) only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/data/captions.h"

static char tmp[256];

static void put(const char *rel, const char *text, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(text, 1, len, f);
    fclose(f);
}

static char *read_for(const char *rel, bool wildcard, int expect_rc, error_info *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    char *out = NULL;
    assert_int_equal(caption_read(path, ".txt", wildcard, &out, err), expect_rc);
    return out;
}

static void test_read(void **state)
{
    (void)state;
    error_info err = {0};
    put("a.txt", "  first line \r\n\r\nsecond\rthird\n", 31);
    char *c = read_for("a.png", false, 0, &err);
    assert_string_equal(c, "first line");
    free(c);
    c = read_for("a.png", true, 0, &err);
    assert_string_equal(c, "first line\nsecond\nthird");
    free(c);
    put("blank.txt", "\n  \nlater\n", 10);           /* blank first line: "" */
    c = read_for("blank.png", false, 0, &err);
    assert_string_equal(c, "");
    free(c);
    put("empty.txt", "", 0);
    assert_null(read_for("empty.png", false, -1, &err));
    assert_non_null(strstr(err.file, "empty.txt"));
    put("latin1.txt", "caf\xe9", 4);
    assert_null(read_for("latin1.png", false, -1, &err));
    assert_non_null(strstr(err.message, "UTF-8"));
    assert_null(read_for("none.png", false, 0, &err));
    /* fallback to class tokens, then "" */
    char path[512];
    snprintf(path, sizeof path, "%s/none.png", tmp);
    assert_int_equal(caption_for_image(path, ".txt", false, "sks dog", &c, &err), 0);
    assert_string_equal(c, "sks dog");
    free(c);
    assert_int_equal(caption_for_image(path, ".txt", false, NULL, &c, &err), 0);
    assert_string_equal(c, "");
    free(c);
    /* face-crop stem: img_10_20_30_40.png reads img.txt */
    put("img.txt", "face caption", 12);
    c = read_for("img_10_20_30_40.png", false, 0, &err);
    assert_string_equal(c, "face caption");
    free(c);
    /* the split is over the whole path: in "10_sks dog/a_b_c_d.png" the folder's "_" counts,
     * so sd-scripts looks for "<tmp>/10.txt" */
    snprintf(path, sizeof path, "%s/10_sks dog", tmp);
    mkdir(path, 0755);
    put("10.txt", "quirk", 5);
    c = read_for("10_sks dog/a_b_c_d.png", false, 0, &err);
    assert_string_equal(c, "quirk");
    free(c);
    /* the stem's own caption wins; dotted names split at the last dot */
    put("10_sks dog/a_b_c_d.txt", "own", 3);
    c = read_for("10_sks dog/a_b_c_d.png", false, 0, &err);
    assert_string_equal(c, "own");
    free(c);
    put("x.y.txt", "dots", 4);
    c = read_for("x.y.jpeg", false, 0, &err);
    assert_string_equal(c, "dots");
    free(c);
}

static char *proc(const caption_settings *s, const char *cap, int epoch, uint32_t index)
{
    data_rng r = data_rng_make(42, DATA_RNG_CAPTION, (uint32_t)epoch, index);
    char *out = caption_process(s, cap, epoch, 0, 100, &r);
    assert_non_null(out);
    return out;
}

static void expect(const caption_settings *s, const char *cap, int epoch, const char *want)
{
    char *got = proc(s, cap, epoch, 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_plain_rules(void **state)
{
    (void)state;
    caption_settings s = {.caption_separator = ","};
    expect(&s, "a cat,  sitting", 1, "a cat,  sitting");       /* untouched without shuffle */
    expect(&s, "line one\nline two", 1, "line one");
    s.caption_prefix = "pre";
    s.caption_suffix = "suf";
    expect(&s, "cat", 1, "pre cat suf");
    expect(&s, "one\ntwo", 1, "pre one");   /* the suffix went to the dropped line */
    s = (caption_settings){.caption_separator = ",", .secondary_separator = ";;;"};
    expect(&s, "a;;;b, c", 1, "a,b, c");
    s.keep_tokens = 3;
    s.shuffle_caption = true;   /* all tokens kept: no reordering, empty tokens survive */
    expect(&s, " a ,, b;;;c ", 1, "a, , b,c");
    s = (caption_settings){.caption_separator = ",", .caption_dropout_rate = 1.0};
    expect(&s, "gone", 1, "");
    s = (caption_settings){.caption_separator = ",", .caption_dropout_every_n_epochs = 2};
    expect(&s, "kept", 1, "kept");
    expect(&s, "kept", 2, "");
    expect(&s, "kept", 3, "kept");
    /* keep_tokens_separator: fixed front, fixed suffix; tag dropout 1.0 drops the middle */
    s = (caption_settings){.caption_separator = ",", .keep_tokens_separator = "|||",
                           .caption_tag_dropout_rate = 1.0};
    expect(&s, "x, y ||| a, b, c ||| s1, , s2", 1, "x, y, s1, s2");
    /* token warm-up: step 0 keeps token_warmup_min tokens */
    s = (caption_settings){.caption_separator = ",", .token_warmup_step = 10, .token_warmup_min = 1};
    data_rng r = data_rng_make(1, DATA_RNG_CAPTION, 1, 0);
    char *c = caption_process(&s, "a, b, c, d", 1, 0, 100, &r);
    assert_string_equal(c, "a");
    free(c);
    c = caption_process(&s, "a, b, c, d", 1, 5, 100, &r);   /* floor(5·3/10) + 1 = 2 */
    assert_string_equal(c, "a, b");
    free(c);
    c = caption_process(&s, "a, b, c, d", 1, 10, 100, &r);
    assert_string_equal(c, "a, b, c, d");
    free(c);
}

static void test_wildcards(void **state)
{
    (void)state;
    caption_settings s = {.caption_separator = ",", .enable_wildcard = true};
    expect(&s, "{red|red} cat {{literal}} {}", 1, "red cat {literal} {}");
    expect(&s, "no braces", 1, "no braces");
    int seen_a = 0, seen_b = 0, line1 = 0, line2 = 0;
    for (uint32_t i = 0; i < 64; i++) {
        char *c = proc(&s, "{a|b} x", 1, i);
        seen_a += strcmp(c, "a x") == 0;
        seen_b += strcmp(c, "b x") == 0;
        free(c);
        c = proc(&s, "one\ntwo", 1, i);   /* a random line of a multi-line caption */
        line1 += strcmp(c, "one") == 0;
        line2 += strcmp(c, "two") == 0;
        free(c);
    }
    assert_int_equal(seen_a + seen_b, 64);
    assert_true(seen_a > 10 && seen_b > 10);
    assert_int_equal(line1 + line2, 64);
    assert_true(line1 > 10 && line2 > 10);
    /* "[^}]+" may hold '{': "{a{b|c}" chooses between "a{b" and "c" */
    for (uint32_t i = 0; i < 16; i++) {
        char *c = proc(&s, "{a{b|c}", 1, i);
        assert_true(strcmp(c, "a{b") == 0 || strcmp(c, "c") == 0);
        free(c);
    }
}

static void test_shuffle_deterministic(void **state)
{
    (void)state;
    caption_settings s = {.caption_separator = ",", .shuffle_caption = true, .keep_tokens = 1};
    const char *cap = "first, b, c, d, e, f";
    char *a = proc(&s, cap, 1, 7), *b = proc(&s, cap, 1, 7);
    assert_string_equal(a, b);   /* same (seed, epoch, index): same draw */
    assert_int_equal(strncmp(a, "first, ", 7), 0);
    assert_int_equal(strlen(a), strlen(cap));
    for (const char *t = "bcdef"; *t; t++) {
        char tok[4] = {',', ' ', *t, 0};
        assert_non_null(strstr(a, tok));
    }
    int differs = 0;
    for (int e = 2; e < 10; e++) {
        char *o = proc(&s, cap, e, 7);
        differs += strcmp(o, a) != 0;
        free(o);
    }
    assert_true(differs >= 5);   /* 120 orders: other epochs draw others */
    free(a), free(b);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/loratty-captions-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_plain_rules),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_shuffle_deterministic),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
