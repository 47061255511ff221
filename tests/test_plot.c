/* test_plot.c — checks tui/plot: every row has the asked width in cells, a rising line puts
 * braille dots bottom-left and top-right, the block and ASCII sets use only their glyphs,
 * tick labels show the range, and flat, empty and gappy series still render. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tui/plot.h"

/* Display width of a UTF-8 string: counts code points (all our glyphs are one cell). */
static int cells(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Code point of the cell at column `col`, 0 if out of range. */
static unsigned cell_at(const char *s, int col)
{
    int c = -1;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned cp;
        int len;
        if (*p < 0x80) cp = *p, len = 1;
        else if ((*p & 0xE0) == 0xC0) cp = *p & 0x1F, len = 2;
        else cp = *p & 0x0F, len = 3;
        for (int i = 1; i < len; i++)
            cp = (cp << 6) | (p[i] & 0x3F);
        if (++c == col)
            return cp;
        p += len;
    }
    return 0;
}

static void test_widths_and_braille(void **state)
{
    (void)state;
    double y[100];
    for (int i = 0; i < 100; i++)
        y[i] = i;
    plot_series s = {NULL, y, 100, '*'};
    plot_grid g;
    assert_int_equal(plot_render(&s, 1, 60, 12, PLOT_BRAILLE, NULL, &g), 0);
    assert_int_equal(g.rows, 12);
    for (int r = 0; r < g.rows; r++)
        assert_int_equal(cells(g.lines[r]), 60);
    /* plot area starts at column 8; bottom data row is 9, top is 0 */
    unsigned bl = cell_at(g.lines[9], 8), tr = cell_at(g.lines[0], 59);
    assert_true(bl >= 0x2800 && bl <= 0x28FF);
    assert_true(bl & 0x40);                     /* bottom-left dot (dot 7) */
    assert_true(tr >= 0x2800 && tr <= 0x28FF);
    assert_true((tr - 0x2800) & 0x08);          /* top-right dot (dot 4) */
    assert_int_equal(cell_at(g.lines[0], 8), ' '); /* top-left is empty */
    /* y labels: max on top, min at the bottom; x labels 0 and 99 */
    assert_non_null(strstr(g.lines[0], "99"));
    assert_non_null(strstr(g.lines[9], "0"));
    assert_non_null(strstr(g.lines[11], "99"));
    assert_int_equal(g.lines[11][7], '0');
    plot_grid_free(&g);
}

static void test_ascii_and_block(void **state)
{
    (void)state;
    double y[] = {3, 1, 2, NAN, 5, 4};
    plot_series s[2] = {{NULL, y, 6, '*'}, {NULL, y, 3, '.'}};
    plot_grid g;
    assert_int_equal(plot_render(s, 2, 30, 8, PLOT_ASCII, NULL, &g), 0);
    int marks = 0;
    for (int r = 0; r < g.rows; r++) {
        assert_int_equal((int)strlen(g.lines[r]), 30);
        for (const char *p = g.lines[r]; *p; p++) {
            assert_true((unsigned char)*p < 0x80);
            marks += *p == '*' || *p == '.';
        }
    }
    assert_true(marks > 5);
    plot_grid_free(&g);

    assert_int_equal(plot_render(s, 1, 30, 8, PLOT_BLOCK, NULL, &g), 0);
    for (int r = 0; r < g.rows - 2; r++)
        for (int c = 8; c < 30; c++) {
            unsigned cp = cell_at(g.lines[r], c);
            assert_true(cp == ' ' || cp == 0x2580 || cp == 0x2584 || cp == 0x2588);
        }
    plot_grid_free(&g);
}

static void test_edge_cases(void **state)
{
    (void)state;
    double flat[] = {2, 2, 2};
    plot_series s = {NULL, flat, 3, '*'};
    plot_grid g;
    assert_int_equal(plot_render(&s, 1, 20, 6, PLOT_BRAILLE, NULL, &g), 0);
    plot_grid_free(&g);
    s.n = 0;
    assert_int_equal(plot_render(&s, 1, 20, 6, PLOT_BRAILLE, NULL, &g), 0);
    plot_grid_free(&g);
    assert_int_equal(plot_render(&s, 1, 10, 3, PLOT_BRAILLE, NULL, &g), -1);
    assert_null(g.lines);

    double lr[] = {1e-4, 5e-5, 1e-5, 0};
    double xs[] = {10, 20, 30, 40};
    plot_series l = {xs, lr, 4, '+'};
    plot_options o = {.log_y = true};
    assert_int_equal(plot_render(&l, 1, 40, 10, PLOT_ASCII, &o, &g), 0);
    assert_non_null(strstr(g.lines[0], "1e-04"));
    assert_non_null(strstr(g.lines[7], "1e-05"));
    assert_non_null(strstr(g.lines[9], "10"));
    plot_grid_free(&g);
}

static void test_ticks(void **state)
{
    (void)state;
    char b[16];
    plot_format_tick(0.0001, b, sizeof b);
    assert_string_equal(b, "1e-04");
    plot_format_tick(12.5, b, sizeof b);
    assert_string_equal(b, "12.5");
    plot_format_tick(0, b, sizeof b);
    assert_string_equal(b, "0");
    plot_format_tick(0.000123, b, sizeof b);
    assert_string_equal(b, "1.2e-04");
    plot_format_tick(1600, b, sizeof b);
    assert_string_equal(b, "1.6e+03");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_widths_and_braille),
        cmocka_unit_test(test_ascii_and_block),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_ticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
