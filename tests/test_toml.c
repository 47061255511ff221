/* test_toml.c — unit tests of the TOML reader and writer beyond the toml-test corpus:
 * error line and column for malformed documents, the line and column of values, writer
 * output (key order, comments, quoting, float spelling) against hand-written expected text,
 * the round trip of a preset-like document (comments included), lookups, and editing trees
 * in place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "toml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static toml_value *parse(const char *text)
{
    error_info err = {0};
    toml_value *root = toml_parse(text, strlen(text), "t.toml", &err);
    if (!root)
        fail_msg("unexpected parse error %d:%d: %s", err.line, err.column, err.message);
    return root;
}

/* Parses text that must fail; checks the position and a fragment of the message. */
static void expect_error(const char *text, int line, int column, const char *fragment)
{
    error_info err = {0};
    toml_value *root = toml_parse(text, strlen(text), "bad.toml", &err);
    if (root) {
        toml_free(root);
        fail_msg("accepted: %s", text);
    }
    if (err.line != line || err.column != column || !strstr(err.message, fragment))
        fail_msg("for %s\n  got %d:%d: %s\n  want %d:%d: ...%s...", text, err.line, err.column,
                 err.message, line, column, fragment);
    assert_string_equal(err.file, "bad.toml");
}

static void test_error_positions(void **state)
{
    (void)state;
    expect_error("a = 1\nb 2\n", 2, 3, "expected '=' after key");
    expect_error("a = \"abc\nb = 1\n", 1, 5, "unterminated string");
    expect_error("[a]\nx = 1\n[a]\n", 3, 1, "already defined");
    expect_error("a = 1\n  a = 2\n", 2, 3, "duplicate key 'a'");
    expect_error("x = [1,\n 2,,]\n", 2, 4, "where a value should be");
    expect_error("s = \"ok \\uD800\"\n", 1, 9, "not a Unicode scalar value");
    expect_error("n = 9223372036854775808\n", 1, 5, "64 bits");
    expect_error("t = {a = 1}\n[t]\n", 2, 1, "already defined");
    expect_error("a.b.c = 1\n[a.b.d]\nx = 1\n[a]\n", 4, 1, "dotted keys");
    expect_error("\"é\" = 'x' y\n", 1, 11, "expected a newline");   /* columns count characters */
    expect_error("a = 1\r\nb = 'x\001'\r\n", 2, 7, "control character");
    expect_error("ok = 1\n\n# c\nbad = \"\xC3\x28\"\n", 4, 8, "UTF-8");
    expect_error("d = 2023-02-29\n", 1, 5, "invalid date");
    expect_error("[[a]]\n[a]\n", 2, 1, "array of tables");
    expect_error("a = {x = 1,\n y = 2}\n", 1, 12, "key");
}

static void test_value_positions(void **state)
{
    (void)state;
    toml_value *root = parse("a = 1\n\n[t]\n  b = 'x'\n  c.d.e = [1,\n 2]\n[[arr]]\n");
    toml_value *a = toml_table_get(root, "a");
    assert_int_equal(a->line, 1);
    assert_int_equal(a->column, 5);
    toml_value *t = toml_table_get(root, "t");
    assert_int_equal(t->line, 3);
    assert_int_equal(t->column, 1);
    toml_value *b = toml_table_get(t, "b");
    assert_int_equal(b->line, 4);
    assert_int_equal(b->column, 7);
    toml_value *c = toml_table_get(t, "c");
    assert_int_equal(c->line, 5);
    assert_int_equal(c->column, 3);
    toml_value *e = toml_table_get(toml_table_get(c, "d"), "e");
    assert_int_equal(e->type, TOML_ARRAY);
    assert_int_equal(e->line, 5);
    assert_int_equal(e->column, 11);
    assert_int_equal(e->as.array.items[1]->line, 6);
    assert_int_equal(e->as.array.items[1]->column, 2);
    toml_value *arr = toml_table_get(root, "arr");
    assert_int_equal(arr->as.array.items[0]->line, 7);
    toml_free(root);
}

static void test_scalars(void **state)
{
    (void)state;
    toml_value *root = parse(
        "h = 0xDEAD_beef\no = 0o755\nb = 0b1010\nmin = -9223372036854775808\n"
        "f = 6.626e-34\ng = -1_000.5\nin = -inf\nn = nan\n"
        "dt = 1979-05-27 07:32:00.5z\nld = 1979-05-27\nlt = 07:32:00\n"
        "s = \"tab\\there \\U0001F600\"\nml = \"\"\"\nline \\\n    joined\"\"\"\n");
    assert_int_equal(toml_table_get(root, "h")->as.integer, 0xDEADBEEF);
    assert_int_equal(toml_table_get(root, "o")->as.integer, 0755);
    assert_int_equal(toml_table_get(root, "b")->as.integer, 10);
    assert_true(toml_table_get(root, "min")->as.integer == INT64_MIN);
    assert_true(toml_table_get(root, "f")->as.floating == 6.626e-34);
    assert_true(toml_table_get(root, "g")->as.floating == -1000.5);
    assert_true(isinf(toml_table_get(root, "in")->as.floating));
    assert_true(toml_table_get(root, "in")->as.floating < 0);
    assert_true(isnan(toml_table_get(root, "n")->as.floating));
    toml_value *dt = toml_table_get(root, "dt");
    assert_int_equal(dt->type, TOML_DATETIME);
    assert_string_equal(dt->as.datetime, "1979-05-27T07:32:00.5Z");
    assert_int_equal(toml_table_get(root, "ld")->type, TOML_DATE_LOCAL);
    assert_int_equal(toml_table_get(root, "lt")->type, TOML_TIME_LOCAL);
    assert_string_equal(toml_table_get(root, "s")->as.string.data, "tab\there \xF0\x9F\x98\x80");
    assert_string_equal(toml_table_get(root, "ml")->as.string.data, "line joined");
    toml_free(root);
}

static void test_parse_scalar(void **state)
{
    (void)state;
    char why[200];
    toml_value *v = toml_parse_scalar("1e-4", 4, why, sizeof why);
    assert_int_equal(v->type, TOML_FLOAT);
    assert_true(v->as.floating == 1e-4);
    toml_free(v);
    v = toml_parse_scalar("0x1F", 4, why, sizeof why);
    assert_int_equal(v->as.integer, 31);
    toml_free(v);
    v = toml_parse_scalar("1979-05-27t07:32:00-07:00", 25, why, sizeof why);
    assert_string_equal(v->as.datetime, "1979-05-27T07:32:00-07:00");
    toml_free(v);
    why[0] = '\0';
    assert_null(toml_parse_scalar("adamw", 5, why, sizeof why));
    assert_non_null(strstr(why, "strings need quotes"));
    assert_null(toml_parse_scalar("1__0", 4, why, sizeof why));
    assert_non_null(strstr(why, "1__0"));
    assert_null(toml_parse_scalar("24:00:00", 8, why, sizeof why));
    assert_null(toml_parse_scalar("-0b1", 4, why, sizeof why));
}

static void test_lookups(void **state)
{
    (void)state;
    toml_value *root = parse("a = 1\n[t]\nx = 'y'\n\"k\\u0000z\" = 2\n");
    assert_null(toml_table_get(root, "missing"));
    assert_null(toml_table_get(toml_table_get(root, "a"), "x")); /* not a table */
    assert_null(toml_table_get(NULL, "a"));
    toml_value *t = toml_table_get(root, "t");
    assert_non_null(t);
    assert_string_equal(toml_table_get(t, "x")->as.string.data, "y");
    assert_null(toml_table_get(t, "k"));
    assert_int_equal(toml_table_get_len(t, "k\0z", 3)->as.integer, 2);
    assert_int_equal(toml_table_index(t, "x", 1), 0);
    assert_string_equal(toml_type_name(TOML_TABLE), "table");
    toml_free(root);
}

static void test_set_and_remove(void **state)
{
    (void)state;
    toml_value *root = parse("a = 1\nb = 2\nc = 3\n");
    toml_set_comment(toml_table_get(root, "b"), "the b");
    assert_int_equal(toml_table_set(root, "b", toml_new_string("two")), 0);
    assert_int_equal(root->as.table.count, 3);
    assert_string_equal(root->as.table.keys[1], "b");
    assert_string_equal(toml_table_get(root, "b")->as.string.data, "two");
    assert_int_equal(toml_table_set(root, "d", toml_new_bool(true)), 0);
    assert_int_equal(toml_table_remove(root, "a"), 0);
    assert_int_equal(toml_table_remove(root, "a"), -1);
    char *text = toml_write(root);
    assert_string_equal(text, "# the b\nb = \"two\"\nc = 3\nd = true\n");
    free(text);
    toml_free(root);
}

static void test_writer_order_and_comments(void **state)
{
    (void)state;
    toml_value *root = toml_new_table();
    toml_value *model = toml_new_table();
    toml_set_comment(model, "Model settings");
    toml_table_set(model, "path", toml_new_string("C:\\models\\sd15.safetensors"));
    toml_table_set(root, "model", model);
    toml_value *v = toml_new_integer(7);
    toml_set_comment(v, "first line\nsecond line");
    toml_table_set(root, "zeta", v);
    toml_table_set(root, "needs quotes", toml_new_string("a \"q\"\n\x01"));
    toml_value *aot = toml_new_array();
    for (int i = 0; i < 2; i++) {
        toml_value *t = toml_new_table();
        toml_table_set(t, "n", toml_new_integer(i));
        toml_array_append(aot, t);
    }
    toml_set_comment(aot, "samples");
    toml_table_set(root, "sample", aot);
    toml_value *mixed = toml_new_array();
    toml_array_append(mixed, toml_new_float(0.1));
    toml_array_append(mixed, toml_new_float(1));
    toml_array_append(mixed, toml_new_float(-0.0));
    toml_array_append(mixed, toml_new_float(1e300));
    toml_array_append(mixed, toml_new_float(-INFINITY));
    toml_array_append(mixed, toml_new_float(NAN));
    toml_value *inl = toml_new_table();
    toml_table_set(inl, "k", toml_new_datetime(TOML_DATE_LOCAL, "2024-01-02"));
    toml_array_append(mixed, inl);
    toml_table_set(model, "mixed", mixed);
    toml_table_set(model, "ü", toml_new_bool(false));
    char *text = toml_write(root);
    assert_string_equal(text,
        "# first line\n# second line\n"
        "zeta = 7\n"
        "\"needs quotes\" = \"a \\\"q\\\"\\n\\u0001\"\n"
        "\n# Model settings\n[model]\n"
        "path = \"C:\\\\models\\\\sd15.safetensors\"\n"
        "mixed = [0.1, 1.0, -0.0, 1e+300, -inf, nan, { k = 2024-01-02 }]\n"
        "\"ü\" = false\n"
        "\n# samples\n[[sample]]\nn = 0\n"
        "\n[[sample]]\nn = 1\n");
    toml_value *back = parse(text);
    assert_string_equal(toml_table_get(back, "needs quotes")->as.string.data, "a \"q\"\n\x01");
    free(text);
    toml_free(back);
    toml_free(root);
}

static void test_write_inline(void **state)
{
    (void)state;
    toml_value *s = toml_new_string_len("a\0b\\", 4);
    char *text = toml_write_inline(s);
    assert_string_equal(text, "\"a\\u0000b\\\\\"");
    free(text);
    toml_free(s);
    double samples[] = {1.0 / 3, 5e-324, 1.7976931348623157e308, 123456789.0, 0.3, -2.5e-10};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        toml_value *f = toml_new_float(samples[i]);
        char *lit = toml_write_inline(f);
        char doc[128];
        snprintf(doc, sizeof doc, "x = %s\n", lit);
        toml_value *r = parse(doc);
        assert_true(toml_table_get(r, "x")->as.floating == samples[i]);
        assert_int_equal(toml_table_get(r, "x")->type, TOML_FLOAT);
        free(lit);
        toml_free(r);
        toml_free(f);
    }
}

static bool tree_equal(const toml_value *a, const toml_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TOML_STRING:
        return a->as.string.len == b->as.string.len &&
               memcmp(a->as.string.data, b->as.string.data, a->as.string.len) == 0;
    case TOML_INTEGER:
        return a->as.integer == b->as.integer;
    case TOML_FLOAT:
        return a->as.floating == b->as.floating ||
               (isnan(a->as.floating) && isnan(b->as.floating));
    case TOML_BOOL:
        return a->as.boolean == b->as.boolean;
    case TOML_ARRAY:
        if (a->as.array.count != b->as.array.count)
            return false;
        for (size_t i = 0; i < a->as.array.count; i++)
            if (!tree_equal(a->as.array.items[i], b->as.array.items[i]))
                return false;
        return true;
    case TOML_TABLE:
        if (a->as.table.count != b->as.table.count)
            return false;
        for (size_t i = 0; i < a->as.table.count; i++) {
            const toml_value *o = toml_table_get(b, a->as.table.keys[i]);
            if (!o || !tree_equal(a->as.table.values[i], o))
                return false;
        }
        return true;
    default:
        return strcmp(a->as.datetime, b->as.datetime) == 0;
    }
}

static const char preset[] =
    "# loratty preset\n"
    "[model]\n"
    "pretrained_model_name_or_path = \"/models/sd_xl_base_1.0.safetensors\"\n"
    "v2 = false\n"
    "\n[basic]\n"
    "learning_rate = 1e-4\n"
    "unet_lr = 0.0001\n"
    "max_train_steps = 1_600\n"
    "optimizer_args = [\"weight_decay=0.01\", 'betas=0.9,0.99']\n"
    "network_args = { conv_dim = 8, conv_alpha = 1.0 }\n"
    "\n[advanced]\n"
    "noise_offset = 0.0357\n"
    "caption.extension = \".txt\"\n"
    "caption.dropout_rate = 0.05\n"
    "\n[[samples.prompt]]\n"
    "text = \"a photo of sks dog, \\\"studio\\\" lighting\"\n"
    "seed = 42\n"
    "\n[[samples.prompt]]\n"
    "text = '''multi\nline'''\n"
    "\n[loratty]\n"
    "created = 2024-05-01T12:00:00+02:00\n";

static void test_preset_round_trip(void **state)
{
    (void)state;
    toml_value *root = parse(preset);
    /* Full-line comments right above a header or key are kept for the writer. */
    assert_string_equal(toml_table_get(root, "model")->comment, "loratty preset");
    assert_null(toml_table_get(root, "basic")->comment);
    toml_set_comment(toml_table_get(root, "basic"), "Basic training settings");
    char *text = toml_write(root);
    toml_value *back = parse(text);
    assert_true(tree_equal(root, back));
    assert_true(tree_equal(back, root));
    /* Sections stay in the order they were read. */
    const char *m = strstr(text, "[model]"), *b = strstr(text, "[basic]"),
               *a = strstr(text, "[advanced]"), *s = strstr(text, "[[samples.prompt]]"),
               *l = strstr(text, "[loratty]");
    assert_true(m && b && a && s && l && m < b && b < a && a < s && s < l);
    assert_non_null(strstr(text, "# Basic training settings\n[basic]\n"));
    assert_non_null(strstr(text, "learning_rate = 0.0001\n"));
    assert_non_null(strstr(text, "[advanced.caption]\nextension = \".txt\"\n"));
    /* Writing the re-read tree gives the same text. */
    char *again = toml_write(back);
    assert_string_equal(text, again);
    free(again);
    free(text);
    toml_value *copy = toml_clone(root);
    assert_true(tree_equal(root, copy));
    toml_free(copy);
    toml_free(back);
    toml_free(root);
}

static void test_parse_file(void **state)
{
    (void)state;
    error_info err = {0};
    assert_null(toml_parse_file("/nonexistent/dir/x.toml", &err));
    assert_string_equal(err.file, "/nonexistent/dir/x.toml");
    assert_non_null(strstr(err.message, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_value_positions),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_parse_scalar),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_set_and_remove),
        cmocka_unit_test(test_writer_order_and_comments),
        cmocka_unit_test(test_write_inline),
        cmocka_unit_test(test_preset_round_trip),
        cmocka_unit_test(test_parse_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
