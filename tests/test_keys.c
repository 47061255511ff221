/* test_keys.c — checks the key table: no key is bound twice on one screen, every F-key has a
 * letter alternative, lookups find F-keys and letters, the hint bar fits 80 and 40 columns
 * with its key spans in place, and the mdoc fragment has one .It per binding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/keys.h"

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < keys_count; i++) {
        const keys_binding *a = &keys_table[i];
        assert_non_null(a->description);
        if (a->key >= KEY_F(1) && a->key <= KEY_F(12))
            assert_non_null(a->alt_name);
        for (size_t j = i + 1; j < keys_count; j++) {
            const keys_binding *b = &keys_table[j];
            if (!(a->screens & b->screens))
                continue;
            int ka[3] = {a->key, a->alt, a->alt2}, kb[3] = {b->key, b->alt, b->alt2};
            for (int x = 0; x < 3; x++)
                for (int y = 0; y < 3; y++)
                    if (ka[x] && ka[x] == kb[y])
                        fail_msg("key %d bound twice (%s, %s)", ka[x], a->description,
                                 b->description);
        }
    }
    assert_int_equal(keys_lookup(KEY_F(2), KEYS_FORM), KEYS_SAVE);
    assert_int_equal(keys_lookup('s', KEYS_FORM), KEYS_SAVE);
    assert_int_equal(keys_lookup('q', KEYS_FORM), KEYS_QUIT);
    assert_int_equal(keys_lookup(KEY_F(10), KEYS_FORM), KEYS_QUIT);
    assert_int_equal(keys_lookup('?', KEYS_FORM), KEYS_HELP);
    assert_int_equal(keys_lookup('x', KEYS_FORM), KEYS_NONE);
}

static void test_hint_bar(void **state)
{
    (void)state;
    char buf[256];
    int spans[32][2];
    int n = keys_hint_bar(KEYS_FORM, 80, buf, sizeof buf, spans, 32);
    assert_true(n >= 6);
    assert_true(strlen(buf) <= 80);
    assert_memory_equal(buf + spans[0][0], "F1/?", 4);
    assert_non_null(strstr(buf, "F10/q Quit"));
    int m = keys_hint_bar(KEYS_FORM, 40, buf, sizeof buf, spans, 32);
    assert_true(m < n);
    assert_true(strlen(buf) <= 40);
}

static void test_help_and_mdoc(void **state)
{
    (void)state;
    char **lines = keys_help_lines(KEYS_FORM | KEYS_EDIT | KEYS_MONITOR);
    assert_non_null(lines);
    size_t n = 0;
    while (lines[n])
        n++;
    assert_int_equal(n, keys_count);
    assert_non_null(strstr(lines[0], "F1, ?"));
    keys_free_lines(lines);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    keys_print_mdoc(f);
    fclose(f);
    size_t items = 0;
    for (char *p = text; (p = strstr(p, "\n.It ")); p++)
        items++;
    assert_int_equal(items + (strncmp(text, ".It ", 4) == 0), keys_count);
    assert_non_null(strstr(text, ".It Ic F1 , Ic \\&?\n"));
    assert_non_null(strstr(text, ".Bl -tag -width Ds\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_hint_bar),
        cmocka_unit_test(test_help_and_mdoc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
