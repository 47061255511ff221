/* test_buckets.c — sd-scripts' bucket list and bucket choice, checked against values worked
 * out by hand from sd-scripts' algorithm (make_bucket_resolutions, BucketManager). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "engine/buckets.h"

static void test_512_list_matches_sd_scripts(void **state)
{
    (void)state;
    /* 512x512, 256..1024, step 64. Worked out by hand from sd-scripts' current
     * make_bucket_resolutions (h = min(max, (area // w) // 64 * 64), kept when h >= min);
     * note that shared/reference lists only 9 of these 17 — its example drops the
     * widths whose height is clamped or repeated. */
    bucket_settings s = {512, 512, 256, 1024, 64, true, false};
    bucket_reso list[64];
    size_t n = buckets_make_resolutions(&s, list, 64);
    static const int expected[][2] = {
        {256, 832}, {256, 896}, {256, 960}, {256, 1024}, {320, 704}, {320, 768}, {384, 640},
        {448, 576}, {512, 512}, {576, 448}, {640, 384}, {704, 320}, {768, 320}, {832, 256},
        {896, 256}, {960, 256}, {1024, 256}};
    assert_int_equal(n, 17);
    for (size_t i = 0; i < 17; i++) {
        assert_int_equal(list[i].width, expected[i][0]);
        assert_int_equal(list[i].height, expected[i][1]);
    }
}

static void test_select_nearest_aspect(void **state)
{
    (void)state;
    bucket_settings s = {512, 512, 256, 1024, 64, true, false};
    bucket_reso list[64];
    size_t n = buckets_make_resolutions(&s, list, 64);
    bucket_reso resized;
    /* 1000x600: ar 1.667, nearest is 640x384 (1.667) */
    bucket_reso b = buckets_select(&s, list, n, 1000, 600, &resized);
    assert_int_equal(b.width, 640);
    assert_int_equal(b.height, 384);
    assert_int_equal(resized.width, 640);
    assert_int_equal(resized.height, 384);
    /* 600x800: ar 0.75; 448x576 has 0.778, 384x640 0.6 → 448x576; scale to cover: 448/600 */
    b = buckets_select(&s, list, n, 600, 800, &resized);
    assert_int_equal(b.width, 448);
    assert_int_equal(b.height, 576);
    assert_int_equal(resized.width, 448);
    assert_int_equal(resized.height, 597); /* int(800*448/600 + .5) = int(597.83) */
}

static void test_no_upscale(void **state)
{
    (void)state;
    bucket_settings s = {512, 512, 256, 1024, 64, true, true};
    bucket_reso resized;
    /* small images keep their size, floored to the step */
    bucket_reso b = buckets_select(&s, NULL, 0, 300, 200, &resized);
    assert_int_equal(b.width, 256);
    assert_int_equal(b.height, 192);
    assert_int_equal(resized.width, 300);
    /* 1024x1024 shrinks to the 512x512 area */
    b = buckets_select(&s, NULL, 0, 1024, 1024, &resized);
    assert_int_equal(b.width, 512);
    assert_int_equal(b.height, 512);
}

static void test_disabled_is_one_bucket(void **state)
{
    (void)state;
    bucket_settings s = {768, 512, 256, 1024, 64, false, false};
    bucket_reso list[4];
    assert_int_equal(buckets_make_resolutions(&s, list, 4), 1);
    assert_int_equal(list[0].width, 768);
    assert_int_equal(list[0].height, 512);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_512_list_matches_sd_scripts),
        cmocka_unit_test(test_select_nearest_aspect),
        cmocka_unit_test(test_no_upscale),
        cmocka_unit_test(test_disabled_is_one_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
