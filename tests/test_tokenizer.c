/* test_tokenizer.c — checks engine/models/tokenizer against transformers' slow CLIPTokenizer
 * with ftfy 6.3.1 installed (sd-scripts' environment) on the captions of
 * tests/fixtures/tokenizer/corpus.jsonl, id for id, and against sd-scripts' 75/150/225-token
 * windows with both pad modes; ftfy.fix_text itself (tokenizer_ftfy.c) on the texts of
 * ftfy.jsonl (one per fix, then mostly mojibake); both vocabulary sources (share/clip's gz, and
 * vocab.json + merges.txt rebuilt from it the way open_clip builds its vocabulary) must agree;
 * plus hand-checked ids and the error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/models/tokenizer.h"
#include "engine/models/tokenizer_ftfy.h"
#include "engine/models/tokenizer_text.h"

static char gz_path[4096], vocab_path[4200], merges_path[4200], tmp_dir[64];

static clip_tokenizer *load_gz(void)
{
    error_info err = {0};
    clip_tokenizer *tok = clip_tokenizer_load_gz(gz_path, &err);
    if (!tok)
        fail_msg("%s: %s", err.file, err.message);
    return tok;
}

static void check_ids(const clip_tokenizer *tok, const char *text, const int *want, int n)
{
    int got[64];
    int m = clip_tokenize(tok, text, got, 64);
    assert_int_equal(m, n);
    for (int i = 0; i < n; i++)
        assert_int_equal(got[i], want[i]);
}

/* Ids looked up by hand in the vocabulary (vocab.json of openai/clip-vit-large-patch14). */
static void test_hand_checked(void **state)
{
    (void)state;
    clip_tokenizer *tok = load_gz();
    assert_int_equal(clip_tokenizer_vocab_size(tok), 49408);
    assert_int_equal(clip_tokenizer_bos(tok), 49406);
    assert_int_equal(clip_tokenizer_eos(tok), 49407);
    check_ids(tok, "a photo of a cat", (int[]){320, 1125, 539, 320, 2368}, 5);
    check_ids(tok, "A  Photo\tOF a CAT ", (int[]){320, 1125, 539, 320, 2368}, 5);
    check_ids(tok, "!", (int[]){256}, 1);    /* "!</w>"; "!" alone (id 0) is SD2's pad */
    check_ids(tok, "a", (int[]){320}, 1);    /* "a</w>" */
    check_ids(tok, "<|endoftext|>", (int[]){49407}, 1);
    check_ids(tok, "", NULL, 0);
    int chunk[CLIP_MAX_CHUNKS * CLIP_CHUNK_LEN], n;
    error_info err = {0};
    assert_int_equal(clip_encode_prompt(tok, "a cat", 0, CLIP_PAD_ZERO, chunk, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(chunk[0], 49406);
    assert_int_equal(chunk[1], 320);
    assert_int_equal(chunk[2], 2368);
    assert_int_equal(chunk[3], 49407);
    assert_int_equal(chunk[4], 0);
    assert_int_equal(chunk[76], 0);
    /* 150 with pad 0: the empty second window becomes BOS EOS 0 … 0 */
    assert_int_equal(clip_encode_prompt(tok, "a cat", 150, CLIP_PAD_ZERO, chunk, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(chunk[77], 49406);
    assert_int_equal(chunk[78], 49407);
    assert_int_equal(chunk[79], 0);
    assert_int_equal(chunk[153], 0);
    assert_int_equal(clip_encode_prompt(tok, "a cat", 100, CLIP_PAD_EOS, chunk, &n, &err), -1);
    assert_non_null(strstr(err.message, "75, 150 or 225"));
    clip_tokenizer_free(tok);
}

/* fix_text cuts a line longer than max_decode_length (1,000,000 code points) into pieces fixed
 * on their own, so mojibake straddling the cut stays (ftfy 6.3.1 gives these results); and the
 * tokenizer sees fixed text: curly quotes, ligatures, entities and full width are undone. */
static void test_ftfy_by_hand(void **state)
{
    (void)state;
    size_t n = 999999, got_len;
    char *text = malloc(n + 5);
    memset(text, 'a', n);
    memcpy(text + n, "\xc3\x83\xc2\xa9", 4);  /* "Ã©", the mojibake of "é" */
    char *got = clip_ftfy_fix_text_utf8(text, n + 4, &got_len);
    assert_int_equal(got_len, n + 4);  /* cut after "Ã": kept */
    assert_memory_equal(got + n, "\xc3\x83\xc2\xa9", 4);
    free(got);
    got = clip_ftfy_fix_text_utf8(text + 1, n + 3, &got_len);
    assert_int_equal(got_len, n + 1);  /* one shorter: fixed */
    assert_memory_equal(got + n - 1, "\xc3\xa9", 2);
    free(got);
    free(text);
    clip_tokenizer *tok = load_gz();
    int a[32], b[32];
    /* “It’s ﬁne” &amp; ＯＫ */
    int na = clip_tokenize(tok, "\xe2\x80\x9cIt\xe2\x80\x99s \xef\xac\x81ne\xe2\x80\x9d &amp; "
                                "\xef\xbc\xaf\xef\xbc\xab", a, 32);
    int nb = clip_tokenize(tok, "\"it's fine\" & ok", b, 32);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, sizeof(int) * (size_t)nb);
    clip_tokenizer_free(tok);
}

static void test_load_errors(void **state)
{
    (void)state;
    error_info err = {0};
    assert_null(clip_tokenizer_load_gz("/nonexistent/vocab.txt.gz", &err));
    assert_string_equal(err.file, "/nonexistent/vocab.txt.gz");
    memset(&err, 0, sizeof err);
    assert_null(clip_tokenizer_load_gz(vocab_path, &err));  /* one line: no merges */
    assert_true(err.message[0] != 0);
    memset(&err, 0, sizeof err);
    assert_null(clip_tokenizer_load_hf(merges_path, merges_path, &err));  /* not JSON */
    assert_string_equal(err.file, merges_path);
}

/* The shipped vocabulary is found through DATADIR as presets are. */
static void test_load_default(void **state)
{
    (void)state;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/share", getenv("top_srcdir") ? getenv("top_srcdir") : ".");
    setenv("LORATTY_DATADIR", dir, 1);
    error_info err = {0};
    clip_tokenizer *tok = clip_tokenizer_load_default(&err);
    if (!tok)
        fail_msg("%s: %s", err.file, err.message);
    check_ids(tok, "a photo of a cat", (int[]){320, 1125, 539, 320, 2368}, 5);
    clip_tokenizer_free(tok);
}

/* clip_ftfy_fix_text_utf8(text) against want (UTF-8 of want_len bytes); 1 when they agree. */
static int ftfy_agrees(const char *text, size_t len, const char *want, size_t want_len,
                       const char *where, int line)
{
    size_t got_len = 0;
    char *got = clip_ftfy_fix_text_utf8(text, len, &got_len);
    assert_non_null(got);
    int ok = got_len == want_len && memcmp(got, want, want_len) == 0;
    if (!ok) {
        fprintf(stderr, "%s:%d: fix_text differs:\n  text ", where, line);
        for (size_t i = 0; i < len && i < 80; i++)
            fprintf(stderr, "%02x", (unsigned char)text[i]);
        fprintf(stderr, "\n  got  ");
        for (size_t i = 0; i < got_len && i < 80; i++)
            fprintf(stderr, "%02x", (unsigned char)got[i]);
        fprintf(stderr, "\n  want ");
        for (size_t i = 0; i < want_len && i < 80; i++)
            fprintf(stderr, "%02x", (unsigned char)want[i]);
        fprintf(stderr, "\n");
    }
    free(got);
    return ok;
}

/* Expected windows of a record ("e150": [[77 ids], ...]) against clip_encode_prompt. */
static int check_windows(const clip_tokenizer *tok, json_t *rec, const char *text, size_t len,
                         int line)
{
    static const char *const keys[] = {"e75", "z75", "e150", "z150", "e225", "z225"};
    int checked = 0;
    for (int k = 0; k < 6; k++) {
        json_t *want = json_object_get(rec, keys[k]);
        if (!want)
            continue;
        int ids[CLIP_MAX_CHUNKS * CLIP_CHUNK_LEN], n = 0;
        error_info err = {0};
        int rc = clip_encode_prompt_len(tok, text, len, atoi(keys[k] + 1),
                                        keys[k][0] == 'e' ? CLIP_PAD_EOS : CLIP_PAD_ZERO, ids, &n,
                                        &err);
        assert_int_equal(rc, 0);
        if ((size_t)n != json_array_size(want))
            fail_msg("line %d %s: %d windows, expected %zu", line, keys[k], n,
                     json_array_size(want));
        for (int c = 0; c < n; c++)
            for (int i = 0; i < CLIP_CHUNK_LEN; i++) {
                int w = (int)json_integer_value(json_array_get(json_array_get(want, (size_t)c),
                                                               (size_t)i));
                if (ids[c * CLIP_CHUNK_LEN + i] != w)
                    fail_msg("line %d %s window %d id %d: %d, expected %d", line, keys[k], c, i,
                             ids[c * CLIP_CHUNK_LEN + i], w);
            }
        checked++;
    }
    return checked;
}

static void run_corpus(const clip_tokenizer *tok, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer/corpus.jsonl",
             getenv("top_srcdir") ? getenv("top_srcdir") : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int n_lines = 0, n_match = 0, n_windows = 0, n_ids = 0;
    int *ids = malloc(4096 * sizeof *ids);
    while (getline(&line, &cap, f) > 0) {
        n_lines++;
        json_error_t jerr;
        json_t *rec = json_loads(line, JSON_ALLOW_NUL, &jerr);
        if (!rec)
            fail_msg("%s:%d: %s", path, n_lines, jerr.text);
        json_t *jt = json_object_get(rec, "text"), *want = json_object_get(rec, "ids");
        const char *text = json_string_value(jt);
        size_t len = json_string_length(jt);
        int n = clip_tokenize_len(tok, text, len, ids, 4096);
        int ok = (size_t)n == json_array_size(want);
        for (int i = 0; ok && i < n; i++)
            ok = ids[i] == (int)json_integer_value(json_array_get(want, (size_t)i));
        if (!ok) {
            fprintf(stderr, "%s:%d: mismatch (%s), %d ids, expected %zu:\n  got ", path, n_lines,
                    name, n, json_array_size(want));
            for (int i = 0; i < n && i < 40; i++)
                fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n  want");
            for (size_t i = 0; i < json_array_size(want) && i < 40; i++)
                fprintf(stderr, " %d", (int)json_integer_value(json_array_get(want, i)));
            fprintf(stderr, "\n");
        }
        n_match += ok;
        n_ids += n;
        n_windows += check_windows(tok, rec, text, len, n_lines);
        json_decref(rec);
    }
    free(line);
    free(ids);
    fclose(f);
    printf("# %s: %d/%d captions match id for id (%d ids), %d window sets match\n", name, n_match,
           n_lines, n_ids, n_windows);
    assert_true(n_lines >= 1000);
    assert_int_equal(n_match, n_lines);
}

/* fix_text alone on ftfy.jsonl: {"text", "fixed"} */
static void test_ftfy_texts(void **state)
{
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer/ftfy.jsonl",
             getenv("top_srcdir") ? getenv("top_srcdir") : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int n_lines = 0, n_match = 0, n_changed = 0;
    while (getline(&line, &cap, f) > 0) {
        n_lines++;
        json_error_t jerr;
        json_t *rec = json_loads(line, JSON_ALLOW_NUL, &jerr);
        if (!rec)
            fail_msg("%s:%d: %s", path, n_lines, jerr.text);
        json_t *jt = json_object_get(rec, "text"), *jf = json_object_get(rec, "fixed");
        n_changed += !json_equal(jt, jf);
        n_match += ftfy_agrees(json_string_value(jt), json_string_length(jt),
                               json_string_value(jf), json_string_length(jf), path, n_lines);
        json_decref(rec);
    }
    free(line);
    fclose(f);
    printf("# ftfy.jsonl: fix_text agrees on %d/%d texts (%d changed by it)\n", n_match, n_lines,
           n_changed);
    assert_true(n_changed >= 300);
    assert_int_equal(n_match, n_lines);
}

static void test_corpus_gz(void **state)
{
    (void)state;
    clip_tokenizer *tok = load_gz();
    run_corpus(tok, "gz vocabulary");
    clip_tokenizer_free(tok);
}

/* vocab.json + merges.txt as transformers saves them, built here from the gz like open_clip
 * builds its vocabulary: 256 byte symbols, the same + "</w>", the joined merges, specials. */
static void write_hf_files(void)
{
    gzFile gz = gzopen(gz_path, "rb");
    assert_non_null(gz);
    size_t cap = 4 << 20, len = 0;
    char *text = malloc(cap);
    int got;
    while ((got = gzread(gz, text + len, (unsigned)(cap - len - 1))) > 0)
        len += (size_t)got;
    gzclose(gz);
    text[len] = 0;
    FILE *m = fopen(merges_path, "w"), *v = fopen(vocab_path, "w");
    assert_non_null(m);
    assert_non_null(v);
    json_t *vocab = json_object();
    int id = 0;
    for (int pass = 0; pass < 2; pass++) {
        int extra = 0;
        for (int round = 0; round < 2; round++)  /* printable bytes first, then the rest */
            for (int b = 0; b < 256; b++) {
                int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
                if (printable != (round == 0))
                    continue;
                char sym[16];
                int n = clip_utf8_put(printable ? (uint32_t)b : 256u + (uint32_t)extra++, sym);
                strcpy(sym + n, pass ? "</w>" : "");
                json_object_set_new(vocab, sym, json_integer(id++));
            }
    }
    fputs("#version: 0.2\n", m);
    char *line = strchr(text, '\n') + 1;
    for (int k = 0; k < 48894; k++) {
        char *nl = strchr(line, '\n'), *sp = strchr(line, ' ');
        *nl = 0;
        fprintf(m, "%s\n", line);
        char joined[512];
        snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - line), line, sp + 1);
        json_object_set_new(vocab, joined, json_integer(id++));
        line = nl + 1;
    }
    json_object_set_new(vocab, "<|startoftext|>", json_integer(id++));
    json_object_set_new(vocab, "<|endoftext|>", json_integer(id++));
    assert_int_equal(id, 49408);
    assert_int_equal(json_dumpf(vocab, v, JSON_COMPACT), 0);
    json_decref(vocab);
    fclose(m);
    fclose(v);
    free(text);
}

static void test_corpus_hf(void **state)
{
    (void)state;
    error_info err = {0};
    clip_tokenizer *tok = clip_tokenizer_load_hf(vocab_path, merges_path, &err);
    if (!tok)
        fail_msg("%s: %s", err.file, err.message);
    assert_int_equal(clip_tokenizer_vocab_size(tok), 49408);
    run_corpus(tok, "vocab.json + merges.txt");
    clip_tokenizer_free(tok);
}

int main(void)
{
    const char *top = getenv("top_srcdir") ? getenv("top_srcdir") : ".";
    snprintf(gz_path, sizeof gz_path, "%s/share/clip/%s", top, CLIP_VOCAB_GZ);
    snprintf(tmp_dir, sizeof tmp_dir, "%s", "/tmp/test_tokenizer.XXXXXX");
    if (!mkdtemp(tmp_dir))
        return 1;
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", tmp_dir);
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", tmp_dir);
    write_hf_files();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_checked), cmocka_unit_test(test_ftfy_by_hand),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_default), cmocka_unit_test(test_ftfy_texts),
        cmocka_unit_test(test_corpus_gz),
        cmocka_unit_test(test_corpus_hf),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(vocab_path);
    unlink(merges_path);
    rmdir(tmp_dir);
    return rc;
}
