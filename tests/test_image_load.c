/* test_image_load.c — training images decoded as sd-scripts' load_image (PIL, then
 * convert("RGB")) sees them: RGBA / LA / palette-with-transparency keep their stored colours
 * (alpha dropped), grey is replicated, WebP and BMP decode exactly (golden PNGs from
 * tests/golden/make_data_fixtures.py). EXIF orientation: the tag is read from PIL-written
 * JPEGs and from hand-made big-endian and malformed blocks, and the 8 transforms equal PIL's
 * exif_transpose. Truncated, corrupt and empty files give an error naming the file, never a
 * crash (every prefix of each fixture, plus byte flips). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stb_image.h>
#include <webp/decode.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/data/image_load.h"
#include "fileio.h"

static char dir[1024];

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void load(const char *name, const image_load_options *o, image_rgb8 *img)
{
    char path[1400];
    path_of(path, sizeof path, name);
    error_info err = {0};
    if (image_load(path, o, img, &err) != 0)
        fail_msg("%s: %s", path, err.message);
}

static void assert_same(const image_rgb8 *a, const image_rgb8 *b, int tol, const char *what)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    int m = 0;
    for (size_t i = 0; i < (size_t)a->width * a->height * 3; i++) {
        int d = abs((int)a->data[i] - (int)b->data[i]);
        m = d > m ? d : m;
    }
    printf("# %-28s %dx%d max |diff| %d\n", what, a->width, a->height, m);
    assert_true(m <= tol);
}

static void test_modes_as_pil_convert_rgb(void **state)
{
    (void)state;
    static const char *const files[][2] = {
        {"load_rgba.png", "load_rgba_png_rgb.png"}, {"load_gray.png", "load_gray_png_rgb.png"},
        {"load_la.png", "load_la_png_rgb.png"}, {"load_palette.png", "load_palette_png_rgb.png"},
        {"load_rgba.webp", "load_rgba_webp_rgb.png"}, {"load_rgb.bmp", "load_rgb_bmp_rgb.png"},
    };
    image_load_options pil = {.keep_stored_colour = true};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        image_rgb8 got, want;
        load(files[i][0], &pil, &got);
        load(files[i][1], NULL, &want);
        assert_same(&got, &want, 0, files[i][0]);
        image_free(&got), image_free(&want);
    }
}

/* loratty's default: alpha composited on white, checked pixel by pixel from the RGBA data */
static void test_alpha_on_white(void **state)
{
    (void)state;
    static const char *const files[] = {"load_rgba.png", "load_la.png", "load_rgba.webp"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char path[1400];
        path_of(path, sizeof path, files[f]);
        int w, h, comp;
        uint8_t *rgba = NULL;
        if (strstr(files[f], ".webp")) {
            size_t len;
            error_info e = {0};
            char *buf = fileio_read_all(path, &len, &e);
            assert_non_null(buf);
            rgba = WebPDecodeRGBA((const uint8_t *)buf, len, &w, &h);
            free(buf);
        } else
            rgba = stbi_load(path, &w, &h, &comp, 4);
        assert_non_null(rgba);
        image_rgb8 got;
        load(files[f], NULL, &got);
        int transparent = 0, worst = 0;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            double a = rgba[4 * i + 3] / 255.0;
            transparent += rgba[4 * i + 3] == 0;
            for (int c = 0; c < 3; c++) {
                double want = rgba[4 * i + c] * a + 255.0 * (1 - a);
                int d = abs((int)got.data[3 * i + c] - (int)(want + 0.5));
                worst = d > worst ? d : worst;
                if (rgba[4 * i + 3] == 0)
                    assert_int_equal(got.data[3 * i + c], 255);
            }
        }
        printf("# %-28s on white: max |diff| %d, %d transparent pixels\n", files[f], worst, transparent);
        assert_true(worst <= 1);
        if (strstr(files[f], ".webp"))
            WebPFree(rgba);
        else
            stbi_image_free(rgba);
        image_free(&got);
    }
}

static void test_exif_orientation(void **state)
{
    (void)state;
    image_rgb8 src;
    load("orient_src.png", NULL, &src);
    for (int o = 1; o <= 8; o++) {
        char name[64], path[1400];
        snprintf(name, sizeof name, "orient_%d.jpg", o);
        path_of(path, sizeof path, name);
        size_t len;
        error_info err = {0};
        char *buf = fileio_read_all(path, &len, &err);
        assert_non_null(buf);
        assert_int_equal(image_exif_orientation((const uint8_t *)buf, len), o);
        free(buf);
        /* sd-scripts' default: the stored pixels, not rotated */
        image_rgb8 plain, turned, want, mine;
        load(name, NULL, &plain);
        assert_int_equal(plain.width, 5);
        assert_int_equal(plain.height, 3);
        image_load_options opt = {.exif_transpose = true};
        load(name, &opt, &turned);
        snprintf(name, sizeof name, "orient_%d_transposed.png", o);
        load(name, NULL, &want);
        assert_int_equal(turned.width, want.width);
        assert_int_equal(turned.height, want.height);
        /* the transform itself, on lossless pixels: exactly PIL's */
        mine = (image_rgb8){src.width, src.height, malloc((size_t)src.width * src.height * 3), NULL};
        memcpy(mine.data, src.data, (size_t)src.width * src.height * 3);
        assert_int_equal(image_apply_orientation(&mine, o, &err), 0);
        assert_same(&mine, &want, 0, name);
        image_free(&plain), image_free(&turned), image_free(&want), image_free(&mine);
    }
    image_free(&src);
}

static void test_exif_handmade(void **state)
{
    (void)state;
    /* big-endian TIFF, orientation 6 as the second IFD0 entry */
    static const uint8_t be[] = {
        0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x2E, 'E', 'x', 'i', 'f', 0, 0,
        'M', 'M', 0, 42, 0, 0, 0, 8, 0, 2,
        0x01, 0x0F, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0,
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0,
        0, 0, 0, 0, 0xFF, 0xD9};
    assert_int_equal(image_exif_orientation(be, sizeof be), 6);
    /* every truncation and a lying entry count stay inside the buffer and give 1 */
    for (size_t n = 0; n < sizeof be - 8; n++)
        assert_int_equal(image_exif_orientation(be, n), 1);
    uint8_t bad[sizeof be];
    memcpy(bad, be, sizeof be);
    bad[21] = 0xFF;   /* 255 entries */
    bad[37] = 4;      /* orientation is now LONG: not a valid tag */
    assert_int_equal(image_exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, be, sizeof be);
    bad[19] = 0xF0;   /* IFD offset past the end */
    assert_int_equal(image_exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, be, sizeof be);
    bad[4] = 0xFF;    /* segment length past the end */
    assert_int_equal(image_exif_orientation(bad, sizeof bad), 1);
    memcpy(bad, be, sizeof be);
    bad[43] = 9;      /* out of range */
    assert_int_equal(image_exif_orientation(bad, sizeof bad), 1);
}

/* Every prefix of each fixture decodes or fails with the file named; JPEG prefixes without
 * their end marker must fail (PIL: "image file is truncated"). */
static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    static const char *const files[] = {"load_rgba.png", "load_palette.png", "load_rgba.webp",
                                        "load_rgb.bmp", "orient_6.jpg", "src_37x29.png"};
    int failures = 0, total = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[1400];
        path_of(path, sizeof path, files[i]);
        size_t len;
        error_info err = {0};
        uint8_t *buf = (uint8_t *)fileio_read_all(path, &len, &err);
        assert_non_null(buf);
        size_t step = len > 400 ? len / 200 : 1;
        for (size_t n = 0; n < len; n += step) {
            uint8_t *copy = malloc(n ? n : 1);   /* exact size: ASan sees any overread */
            memcpy(copy, buf, n);
            image_rgb8 img;
            int rc = image_decode(copy, n, "cut.img", NULL, &img, &err);
            total++;
            if (rc != 0) {
                failures++;
                assert_string_equal(err.file, "cut.img");
                assert_null(img.data);
            } else {
                image_free(&img);
            }
            if (strstr(files[i], ".jpg"))
                assert_int_equal(rc, -1);
            free(copy);
        }
        /* byte flips in the body */
        uint32_t x = 12345;
        for (int k = 0; k < 60; k++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, buf, len);
            x = x * 1664525u + 1013904223u;
            copy[16 + x % (len - 16)] ^= (uint8_t)(1 + (x >> 24) % 255);
            image_rgb8 img;
            if (image_decode(copy, len, "flip.img", NULL, &img, &err) == 0)
                image_free(&img);
            else
                assert_string_equal(err.file, "flip.img");
            free(copy);
        }
        free(buf);
    }
    printf("# %d truncated inputs, %d refused\n", total, failures);
    image_rgb8 img;
    error_info err = {0};
    assert_int_equal(image_decode((const uint8_t *)"", 0, "empty.png", NULL, &img, &err), -1);
    assert_non_null(strstr(err.message, "empty"));
    assert_int_equal(image_decode((const uint8_t *)"GIF89a....", 10, "x.gif", NULL, &img, &err), -1);
    assert_int_equal(image_load("/nonexistent/loratty/a.png", NULL, &img, &err), -1);
    assert_non_null(strstr(err.file, "a.png") ? err.file : strstr(err.message, "a.png"));
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(dir, sizeof dir, "%s/tests/fixtures/data", top ? top : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes_as_pil_convert_rgb),
        cmocka_unit_test(test_alpha_on_white),
        cmocka_unit_test(test_exif_orientation),
        cmocka_unit_test(test_exif_handmade),
        cmocka_unit_test(test_truncated_and_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
