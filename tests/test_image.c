/* test_image.c — checks tui/image: a gradient encoded as sixel decodes back (libsixel's
 * sixel_decode_raw) to the same size and, within palette quantisation error, the same pixels;
 * a large image is scaled down into its cell box keeping the aspect; the half-block rows hold
 * one U+2580 per cell with the right 24-bit and 256-colour SGR codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sixel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/image.h"

static unsigned char *gradient(int w, int h)
{
    unsigned char *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + ((size_t)y * w + x) * 3;
            p[0] = (unsigned char)(x * 255 / (w - 1));
            p[1] = (unsigned char)(y * 255 / (h - 1));
            p[2] = (unsigned char)((x + y) % 2 ? 200 : 40);
        }
    return px;
}

static void test_sixel_roundtrip(void **state)
{
    (void)state;
    int w = 64, h = 48;
    unsigned char *px = gradient(w, h);
    image_bytes b;
    error_info err;
    /* box of exactly 64x48 px: no scaling */
    assert_int_equal(image_to_sixel(px, w, h, 8, 6, 8, 8, &b, &err), 0);
    assert_int_equal(b.width, 64);
    assert_int_equal(b.height, 48);
    assert_true(b.len > 10);
    assert_memory_equal(b.data, "\x1bP", 2);                 /* DCS ... */
    assert_memory_equal(b.data + b.len - 2, "\x1b\\", 2);     /* ... ST */

    unsigned char *pix = NULL, *pal = NULL;
    int dw = 0, dh = 0, nc = 0;
    assert_false(SIXEL_FAILED(sixel_decode_raw(b.data, (int)b.len, &pix, &dw, &dh, &pal, &nc,
                                               NULL)));
    assert_int_equal(dw, w);
    assert_int_equal(dh, h);
    long total = 0, worst = 0;
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++) {
            long d = labs((long)pal[pix[i] * 3 + c] - px[i * 3 + c]);
            total += d;
            if (d > worst)
                worst = d;
        }
    double mean = (double)total / (w * h * 3);
    assert_true(mean < 12.0);     /* 256 adaptive colours for a smooth gradient */
    assert_true(worst < 100);
    free(pix);
    free(pal);
    image_bytes_free(&b);

    /* a 512x256 image into 4x2 cells of 10x20 px (40x40) becomes 40x20 */
    unsigned char *big = gradient(512, 256);
    assert_int_equal(image_to_sixel(big, 512, 256, 4, 2, 10, 20, &b, &err), 0);
    assert_int_equal(b.width, 40);
    assert_int_equal(b.height, 20);
    assert_false(SIXEL_FAILED(sixel_decode_raw(b.data, (int)b.len, &pix, &dw, &dh, &pal, &nc,
                                               NULL)));
    assert_int_equal(dw, 40);
    assert_true(dh >= 20 && dh <= 24);   /* sixel bands are 6 px high */
    free(pix);
    free(pal);
    image_bytes_free(&b);
    free(big);
    free(px);

    assert_int_equal(image_to_sixel(NULL, 0, 0, 1, 1, 0, 0, &b, &err), -1);
    assert_non_null(strstr(err.message, "empty"));
}

static void test_halfblocks(void **state)
{
    (void)state;
    /* 2x4 image: column 0 red/green/blue/white, column 1 black */
    unsigned char px[2 * 4 * 3] = {0};
    const unsigned char col0[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
    for (int y = 0; y < 4; y++)
        memcpy(px + (y * 2) * 3, col0[y], 3);
    image_rows r;
    error_info err;
    assert_int_equal(image_to_halfblocks(px, 2, 4, 10, 10, true, &r, &err), 0);
    /* box 10 x 20 px fits 2x4 scaled to 10x20: 10 cols, 10 rows */
    assert_int_equal(r.cols, 10);
    assert_int_equal(r.rows, 10);
    image_rows_free(&r);

    assert_int_equal(image_to_halfblocks(px, 2, 4, 2, 2, true, &r, &err), 0);
    assert_int_equal(r.cols, 2);
    assert_int_equal(r.rows, 2);
    assert_string_equal(r.lines[0], "\x1b[38;2;255;0;0m\x1b[48;2;0;255;0m\xe2\x96\x80"
                                    "\x1b[38;2;0;0;0m\x1b[48;2;0;0;0m\xe2\x96\x80\x1b[0m");
    assert_non_null(strstr(r.lines[1], "\x1b[38;2;0;0;255m\x1b[48;2;255;255;255m"));
    image_rows_free(&r);

    assert_int_equal(image_to_halfblocks(px, 2, 4, 2, 2, false, &r, &err), 0);
    assert_non_null(strstr(r.lines[0], "\x1b[38;5;196m\x1b[48;5;46m"));
    image_rows_free(&r);

    assert_int_equal(image_xterm256(0, 0, 0), 16);
    assert_int_equal(image_xterm256(255, 255, 255), 231);
    assert_int_equal(image_xterm256(128, 128, 128), 244);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sixel_roundtrip),
        cmocka_unit_test(test_halfblocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
