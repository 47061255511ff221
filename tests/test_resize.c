/* test_resize.c — sd-scripts' resize and crop (image_resize.h) against the golden images of
 * tests/golden/make_data_fixtures.py (PIL 13 / OpenCV 5, see tests/golden/requirements.txt).
 *
 * Tolerance, per 8-bit channel value: PIL's filters (lanczos, box) must match exactly — we
 * reproduce PIL's 22-bit fixed-point arithmetic. OpenCV's (area, bilinear, bicubic) may differ
 * by 1: OpenCV rounds its fixed-point (11-bit coefficients) or float intermediates per code
 * path (e.g. (sum + 2) >> 2 in the SIMD 2x area path, round-half-even elsewhere), while we
 * accumulate in double and round once. (PIL lanczos/box when BOTH sides shrink — only with
 * resize_interpolation forced — depends on Pillow's pass order, see image_resize.c; the one
 * such case here matches exactly, other sizes may differ by a few levels.) Nearest must match exactly. Also checks the centered
 * trim, the [-1, 1] CHW output with flip, and SDXL's crop top-left (get_crop_ltrb). */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/data/image_resize.h"

static char dir[1024];

static void load(const char *name, image_rgb8 *img)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    error_info err = {0};
    if (image_load(path, NULL, img, &err) != 0)
        fail_msg("%s: %s", path, err.message);
}

static int max_diff(const image_rgb8 *a, const image_rgb8 *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    int m = 0;
    for (size_t i = 0; i < (size_t)a->width * a->height * 3; i++) {
        int d = abs((int)a->data[i] - (int)b->data[i]);
        m = d > m ? d : m;
    }
    return m;
}

static void test_resize_golden(void **state)
{
    (void)state;
    char path[1400];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int cases = 0, worst_pil = 0, worst_cv = 0;
    while (fgets(line, sizeof line, f)) {
        char src[128], interp[32], expect[128];
        int rw, rh;
        if (sscanf(line, "resize %127s %d %d %31s %127s", src, &rw, &rh, interp, expect) != 5)
            continue;
        resize_interp ri;
        error_info err = {0};
        assert_int_equal(resize_interp_parse(strcmp(interp, "auto") ? interp : "", &ri, &err), 0);
        image_rgb8 in, want, got;
        load(src, &in);
        load(expect, &want);
        assert_int_equal(image_resize(&in, rw, rh, ri, &got, &err), 0);
        int d = max_diff(&got, &want);
        resize_interp used = resize_interp_resolve(ri, in.width, in.height, rw, rh);
        int pil = used == RESIZE_LANCZOS || used == RESIZE_BOX || used == RESIZE_NEAREST;
        printf("# %-40s max |diff| %d\n", expect, d);
        if (pil)
            worst_pil = d > worst_pil ? d : worst_pil;
        else
            worst_cv = d > worst_cv ? d : worst_cv;
        image_free(&in), image_free(&want), image_free(&got);
        cases++;
    }
    fclose(f);
    printf("# %d resize cases: exact kinds max %d, OpenCV kinds max %d\n", cases, worst_pil, worst_cv);
    assert_int_equal(cases, 15);
    assert_int_equal(worst_pil, 0);
    assert_true(worst_cv <= 1);
}

static void test_trim_golden(void **state)
{
    (void)state;
    char path[1400];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        char src[128], expect[128];
        int bw, bh, rw, rh;
        if (sscanf(line, "trim %127s %d %d %d %d %127s", src, &bw, &bh, &rw, &rh, expect) != 6)
            continue;
        image_rgb8 in, want;
        load(src, &in);
        load(expect, &want);
        image_placement p = {.bucket = {bw, bh}, .resized = {rw, rh}};
        image_placement_center(&p);
        float *chw = malloc(sizeof *chw * 3 * bw * bh), *flipped = malloc(sizeof *chw * 3 * bw * bh);
        error_info err = {0};
        assert_int_equal(image_prepare(&in, &p, RESIZE_AUTO, chw, &err), 0);
        p.flip = true;
        assert_int_equal(image_prepare(&in, &p, RESIZE_AUTO, flipped, &err), 0);
        double worst = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < bh; y++)
                for (int x = 0; x < bw; x++) {
                    float v = chw[(c * bh + y) * bw + x];
                    assert_true(v >= -1.0f && v <= 1.0f);
                    double px = (v + 1.0) * 127.5;
                    double d = fabs(px - want.data[((size_t)y * bw + x) * 3 + c]);
                    worst = d > worst ? d : worst;
                    assert_true(flipped[(c * bh + y) * bw + (bw - 1 - x)] == v);
                }
        printf("# %-40s max |diff| %.3g (8-bit levels)\n", expect, worst);
        assert_true(worst <= 1.0 + 1e-3);
        free(chw), free(flipped);
        image_free(&in), image_free(&want);
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 3);
}

static void test_crop_that_does_not_fit(void **state)
{
    (void)state;
    image_rgb8 in;
    load("src_37x29.png", &in);
    image_placement p = {.bucket = {32, 32}, .resized = {32, 25}};
    float *chw = malloc(sizeof *chw * 3 * 32 * 32);
    error_info err = {0};
    assert_int_equal(image_prepare(&in, &p, RESIZE_AUTO, chw, &err), -1);
    assert_non_null(strstr(err.message, "does not fit"));
    free(chw);
    image_free(&in);
    resize_interp ri;
    assert_int_equal(resize_interp_parse("mitchell", &ri, &err), -1);
    assert_string_equal(err.key, "resize_interpolation");
}

/* get_crop_ltrb worked by hand in Python floats. */
static void test_sdxl_crop_top_left(void **state)
{
    (void)state;
    int top, left;
    /* 1000x600 into 1152x640: bucket ar 1.8 > 1.667 → fit height: w = 640·1.6667 = 1066.67,
     * left = (1152 − 1066.67) // 2 = 42.0, right = 1108.67; flipped left = 1152 − 1108.67 */
    image_sdxl_crop_top_left((bucket_reso){1152, 640}, 1000, 600, false, &top, &left);
    assert_int_equal(top, 0);
    assert_int_equal(left, 42);
    image_sdxl_crop_top_left((bucket_reso){1152, 640}, 1000, 600, true, &top, &left);
    assert_int_equal(left, 43);
    /* 600x1000 into 640x1152: fit width, h = 640 / 0.6 = 1066.67, top = 42 */
    image_sdxl_crop_top_left((bucket_reso){640, 1152}, 600, 1000, false, &top, &left);
    assert_int_equal(top, 42);
    assert_int_equal(left, 0);
    /* same aspect ratio: no crop, flipped or not */
    image_sdxl_crop_top_left((bucket_reso){1024, 1024}, 2048, 2048, true, &top, &left);
    assert_int_equal(top, 0);
    assert_int_equal(left, 0);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(dir, sizeof dir, "%s/tests/fixtures/data", top ? top : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_golden),
        cmocka_unit_test(test_trim_golden),
        cmocka_unit_test(test_crop_that_does_not_fit),
        cmocka_unit_test(test_sdxl_crop_top_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
