/* test_term.c — checks tui/term's reply parsers on byte strings: DA1 with and without sixel
 * (xterm vt340, tmux, a plain VT100), cell and window size replies mixed with other bytes,
 * incomplete and malformed replies, and the --sixel mode words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tui/term.h"

static bool parse(const char *s, term_caps *c)
{
    memset(c, 0, sizeof *c);
    return term_parse_replies((const unsigned char *)s, strlen(s), c);
}

static void test_da1(void **state)
{
    (void)state;
    term_caps c;
    assert_true(parse("\x1b[?62;4;6;22c", &c));      /* xterm -ti vt340 */
    assert_true(c.sixel);
    assert_int_equal(c.da1_count, 4);
    assert_int_equal(c.da1_params[0], 62);
    assert_true(parse("\x1b[?1;2;4c", &c));           /* tmux built with sixel */
    assert_true(c.sixel);
    assert_true(parse("\x1b[?1;2c", &c));             /* tmux 3.3a */
    assert_false(c.sixel);
    assert_true(parse("\x1b[?64;1;2;6;9;15;18;21;22c", &c));
    assert_false(c.sixel);                              /* 64 is the class, no 4 after it */
    assert_true(parse("\x1b[?6c", &c));
    assert_false(c.sixel);
    assert_false(parse("\x1b[?62;4", &c));            /* incomplete */
    assert_false(c.sixel);
    assert_false(parse("\x1b[62;4c", &c));            /* no '?': not a DA1 reply */
    assert_false(parse("garbage\x1b[?6\x01;4c", &c)); /* malformed */
}

static void test_sizes(void **state)
{
    (void)state;
    term_caps c;
    assert_true(parse("\x1b[6;20;10t\x1b[4;480;800tjunk\x1b[?65;4;1c", &c));
    assert_int_equal(c.cell_h, 20);
    assert_int_equal(c.cell_w, 10);
    assert_int_equal(c.win_h, 480);
    assert_int_equal(c.win_w, 800);
    assert_true(c.sixel);
    assert_false(parse("\x1b[6;0;0t", &c));           /* zero size: ignored */
    assert_int_equal(c.cell_w, 0);
    assert_false(parse("\x1b[8;24;80t", &c));         /* text area in cells: not ours */
    assert_int_equal(c.cell_w, 0);
}

static void test_modes(void **state)
{
    (void)state;
    assert_int_equal(term_sixel_mode_parse("auto"), TERM_SIXEL_AUTO);
    assert_int_equal(term_sixel_mode_parse("ON"), TERM_SIXEL_ON);
    assert_int_equal(term_sixel_mode_parse("off"), TERM_SIXEL_OFF);
    assert_int_equal(term_sixel_mode_parse("maybe"), -1);
    assert_int_equal(term_sixel_mode_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_da1),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
