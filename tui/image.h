/* image.h — showing an RGB image (a training sample) in a terminal cell box: as sixel bytes
 * (libsixel) where the terminal has sixel graphics, else as rows of coloured half blocks
 * (U+2580 with 24-bit or 256-colour foreground/background). Both outputs bypass curses and
 * are written with term_overlay(). */
#ifndef LORATTY_TUI_IMAGE_H
#define LORATTY_TUI_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "src/error.h"

typedef struct image_bytes {
    unsigned char *data;
    size_t len, cap;
    int width, height;     /* pixel size of the encoded image */
} image_bytes;

/* Encodes rgb (w x h, 3 bytes per pixel, row-major) as sixel, scaled (keeping its aspect) to
 * fit box_cols x box_rows cells of cell_w x cell_h pixels (10x20 when 0). Adaptive 256-colour
 * palette. Returns 0, or -1 with err filled. */
int image_to_sixel(const unsigned char *rgb, int w, int h, int box_cols, int box_rows,
                   int cell_w, int cell_h, image_bytes *out, error_info *err);
void image_bytes_free(image_bytes *b);

typedef struct image_rows {
    int rows, cols;        /* cells used (the image keeps its aspect inside the box) */
    char **lines;          /* one string per row: SGR colours + U+2580 cells, ends with SGR 0 */
} image_rows;

/* Half-block rendering: each cell shows two pixels, top as foreground of U+2580, bottom as
 * background. `truecolor` picks 24-bit SGR (38;2 / 48;2), else the xterm 256-colour cube.
 * Cells are taken as twice as tall as wide. Returns 0, or -1 with err filled. */
int image_to_halfblocks(const unsigned char *rgb, int w, int h, int box_cols, int box_rows,
                        bool truecolor, image_rows *out, error_info *err);
void image_rows_free(image_rows *r);

/* Nearest xterm-256 palette index (6x6x6 cube 16..231 or grey ramp 232..255). */
int image_xterm256(int r, int g, int b);

#endif
