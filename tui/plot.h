/* plot.h — line plots of series (loss, smoothed loss, learning rate) into a character grid.
 *
 * The run monitor draws its plots with this. Debian's CDK links narrow ncurses, which cannot
 * print UTF-8, so the plot is rendered to plain UTF-8 strings, one per row, that the monitor
 * writes straight to the tty after a curses refresh (see tui/term.c). Three glyph sets:
 * braille (2x4 dots per cell), half blocks (1x2 per cell) and plain ASCII (1x1 per cell). */
#ifndef LORATTY_TUI_PLOT_H
#define LORATTY_TUI_PLOT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum plot_glyphs {
    PLOT_BRAILLE,
    PLOT_BLOCK,
    PLOT_ASCII,
} plot_glyphs;

typedef struct plot_series {
    const double *x;     /* NULL: the index is the x value */
    const double *y;     /* non-finite values are skipped (a gap in the line) */
    size_t n;
    char mark;           /* ASCII mode: the character for this series ('*', '.', '+') */
} plot_series;

typedef struct plot_options {
    bool log_y;          /* logarithmic y axis (values <= 0 are skipped) */
    bool fixed_y;        /* use y_min/y_max instead of the data's range */
    double y_min, y_max;
} plot_options;

typedef struct plot_grid {
    int rows, cols;      /* display size: every row is exactly `cols` cells wide */
    char **lines;        /* rows UTF-8 strings (plain ASCII in PLOT_ASCII mode) */
} plot_grid;

/* Renders the series into a width x height cell grid, y tick labels on the left, the x axis
 * and its labels in the last two rows. Returns 0, or -1 when the box is too small (under
 * 16x4) or memory runs out; `out` is then left empty. */
int plot_render(const plot_series *series, size_t nseries, int width, int height,
                plot_glyphs glyphs, const plot_options *opts, plot_grid *out);
void plot_grid_free(plot_grid *grid);

/* Formats a tick value in at most `size - 1` (<= 7) characters: 0.0001 -> "1e-04", 12.5 -> "12.5". */
void plot_format_tick(double value, char *buf, size_t size);

#endif
