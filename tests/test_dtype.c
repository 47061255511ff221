/* test_dtype.c — checks engine/dtype: f16/bf16 <-> f32 against hand-computed bit patterns
 * (1.0, 65504, the smallest subnormal, ties to even, NaN, overflow to Inf), every f16 and
 * bf16 bit pattern round-tripping through f32, f32 -> f16/bf16 agreeing with a slow
 * nearest-even reference on a sweep of f32 patterns and on every exact midpoint, the bulk
 * converters on unaligned buffers, and the dtype name/size table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "engine/dtype.h"

static float fbits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bitsf(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The value of a finite f16 from its definition, independent of the code under test. */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e ? ldexp(1.0 + m / 1024.0, e - 15) : ldexp(m, -24);
    return h & 0x8000 ? -v : v;
}

static void test_f16_known_values(void **state)
{
    (void)state;
    assert_int_equal(dtype_f32_to_f16(1.0f), 0x3C00);
    assert_int_equal(dtype_f32_to_f16(-2.0f), 0xC000);
    assert_int_equal(dtype_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(dtype_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(dtype_f32_to_f16(0.1f), 0x2E66);
    assert_int_equal(dtype_f32_to_f16(1.0f / 3.0f), 0x3555);
    assert_int_equal(dtype_f32_to_f16(65504.0f), 0x7BFF);
    assert_int_equal(dtype_f32_to_f16(65519.996f), 0x7BFF);
    assert_int_equal(dtype_f32_to_f16(65520.0f), 0x7C00);      /* tie, even side is Inf */
    assert_int_equal(dtype_f32_to_f16(1e6f), 0x7C00);
    assert_int_equal(dtype_f32_to_f16(-1e6f), 0xFC00);
    assert_int_equal(dtype_f32_to_f16(INFINITY), 0x7C00);
    assert_int_equal(dtype_f32_to_f16(-INFINITY), 0xFC00);
    assert_int_equal(dtype_f32_to_f16(0x1p-14f), 0x0400);      /* smallest normal */
    assert_int_equal(dtype_f32_to_f16(0x1p-24f), 0x0001);      /* smallest subnormal */
    assert_int_equal(dtype_f32_to_f16(-0x1p-24f), 0x8001);
    assert_int_equal(dtype_f32_to_f16(0x3FFp-24f), 0x03FF);    /* largest subnormal */
    assert_int_equal(dtype_f32_to_f16(0x1p-25f), 0x0000);      /* tie between 0 and 1 ulp */
    assert_int_equal(dtype_f32_to_f16(nextafterf(0x1p-25f, 1)), 0x0001);
    assert_int_equal(dtype_f32_to_f16(0x3p-25f), 0x0002);      /* tie 1|2 -> 2 */
    assert_int_equal(dtype_f32_to_f16(0x5p-25f), 0x0002);      /* tie 2|3 -> 2 */
    assert_int_equal(dtype_f32_to_f16(0x7FFp-25f), 0x0400);    /* rounds up into normals */
    assert_int_equal(dtype_f32_to_f16(0x1p-149f), 0x0000);     /* f32 subnormal */
    assert_int_equal(dtype_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);          /* tie -> even */
    assert_int_equal(dtype_f32_to_f16(1.0f + 0x3p-11f), 0x3C02);          /* tie -> even */
    assert_int_equal(dtype_f32_to_f16(1.0f + 0x1p-11f + 0x1p-23f), 0x3C01); /* past the tie */
    assert_int_equal(dtype_f32_to_f16(2047.0f + 0.5f), 0x6800);           /* carry into exp */

    uint16_t n = dtype_f32_to_f16(NAN);
    assert_int_equal(n & 0x7C00, 0x7C00);
    assert_true(n & 0x3FF);
    n = dtype_f32_to_f16(fbits(0xFF800001u));   /* payload only in dropped bits */
    assert_int_equal(n & 0xFC00, 0xFC00);
    assert_true(n & 0x3FF);

    assert_true(dtype_f16_to_f32(0x3C00) == 1.0f);
    assert_true(dtype_f16_to_f32(0x7BFF) == 65504.0f);
    assert_true(dtype_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(dtype_f16_to_f32(0x03FF) == 0x3FFp-24f);
    assert_true(dtype_f16_to_f32(0x0400) == 0x1p-14f);
    assert_true(dtype_f16_to_f32(0xC000) == -2.0f);
    assert_int_equal(bitsf(dtype_f16_to_f32(0x8000)), 0x80000000u);
    assert_true(isinf(dtype_f16_to_f32(0x7C00)) && dtype_f16_to_f32(0x7C00) > 0);
    assert_true(isinf(dtype_f16_to_f32(0xFC00)) && dtype_f16_to_f32(0xFC00) < 0);
    assert_true(isnan(dtype_f16_to_f32(0x7E00)));
    assert_true(isnan(dtype_f16_to_f32(0x7C01)));
}

static void test_f16_exhaustive_roundtrip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h <= 0xFFFF; h++) {
        float f = dtype_f16_to_f32((uint16_t)h);
        if (((h >> 10) & 0x1F) != 0x1F) {
            if ((double)f != f16_value((uint16_t)h))
                fail_msg("f16 0x%04x decodes to %a, expected %a", h, f, f16_value((uint16_t)h));
        } else {
            assert_true((h & 0x3FF) ? isnan(f) : isinf(f));
        }
        uint16_t back = dtype_f32_to_f16(f);
        if (back != h)
            fail_msg("f16 0x%04x -> f32 %a -> f16 0x%04x", h, f, back);
    }
}

/* Nearest f16 to a finite non-negative x, ties to even, by binary search over the values. */
static uint16_t ref_f32_to_f16_abs(double a)
{
    if (a >= 65520.0)
        return 0x7C00;
    uint16_t lo = 0, hi = 0x7BFF;   /* largest h with f16_value(h) <= a */
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if (f16_value(mid) <= a)
            lo = mid;
        else
            hi = (uint16_t)(mid - 1);
    }
    if (f16_value(lo) == a)
        return lo;
    double up = lo == 0x7BFF ? 65536.0 : f16_value((uint16_t)(lo + 1));
    double dlo = a - f16_value(lo), dhi = up - a;
    if (dlo < dhi || (dlo == dhi && !(lo & 1)))
        return lo;
    return (uint16_t)(lo + 1);
}

static void check_f16_against_ref(float f)
{
    if (isnan(f))
        return;
    uint16_t want = ref_f32_to_f16_abs(fabs((double)f)) | (signbit(f) ? 0x8000 : 0);
    uint16_t got = dtype_f32_to_f16(f);
    if (got != want)
        fail_msg("f32 %a (0x%08x) -> f16 0x%04x, expected 0x%04x", f, bitsf(f), got, want);
}

static void test_f16_rounding_sweep(void **state)
{
    (void)state;
    /* Every exact midpoint between neighbouring f16 values, and the floats either side. */
    for (uint16_t h = 0; h < 0x7BFF; h++) {
        float mid = (float)((f16_value(h) + f16_value((uint16_t)(h + 1))) / 2);
        check_f16_against_ref(mid);
        check_f16_against_ref(-mid);
        check_f16_against_ref(nextafterf(mid, 0));
        check_f16_against_ref(nextafterf(mid, INFINITY));
    }
    /* A stride through all f32 patterns (both signs, every exponent). */
    for (uint64_t u = 0; u <= 0xFFFFFFFFu; u += 4093)
        check_f16_against_ref(fbits((uint32_t)u));
}

static void test_bf16(void **state)
{
    (void)state;
    assert_int_equal(dtype_f32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(dtype_f32_to_bf16(-2.0f), 0xC000);
    assert_int_equal(dtype_f32_to_bf16(fbits(0x3F808000u)), 0x3F80);   /* tie -> even */
    assert_int_equal(dtype_f32_to_bf16(fbits(0x3F818000u)), 0x3F82);   /* tie -> even */
    assert_int_equal(dtype_f32_to_bf16(fbits(0x3F808001u)), 0x3F81);
    assert_int_equal(dtype_f32_to_bf16(fbits(0x7F7FFFFFu)), 0x7F80);   /* FLT_MAX -> Inf */
    assert_int_equal(dtype_f32_to_bf16(fbits(0x7F7F7FFFu)), 0x7F7F);
    assert_int_equal(dtype_f32_to_bf16(INFINITY), 0x7F80);
    assert_int_equal(dtype_f32_to_bf16(-INFINITY), 0xFF80);
    assert_int_equal(dtype_f32_to_bf16(fbits(0x00008000u)), 0x0000);   /* subnormal tie */
    assert_int_equal(dtype_f32_to_bf16(fbits(0x00018000u)), 0x0002);
    assert_int_equal(dtype_f32_to_bf16(fbits(0x7FC00000u)), 0x7FC0);
    uint16_t n = dtype_f32_to_bf16(fbits(0x7F800001u));
    assert_int_equal(n & 0x7F80, 0x7F80);
    assert_true(n & 0x7F);
    assert_int_equal(bitsf(dtype_bf16_to_f32(0x3F80)), 0x3F800000u);

    for (uint32_t b = 0; b <= 0xFFFF; b++) {
        uint16_t back = dtype_f32_to_bf16(dtype_bf16_to_f32((uint16_t)b));
        if (back != b)
            fail_msg("bf16 0x%04x -> f32 -> bf16 0x%04x", b, back);
    }
    /* Reference: nearest of the two bf16 neighbours, compared in double, ties to even. */
    for (uint64_t u = 0; u <= 0xFFFFFFFFu; u += 4093) {
        uint32_t x = (uint32_t)u;
        if ((x & 0x7FFFFFFF) >= 0x7F800000)
            continue;
        uint32_t lo = x & 0xFFFF0000u, hi = lo + 0x10000u;
        double v = fabs((double)fbits(x)), vlo = fabs((double)fbits(lo));
        double vhi = (hi & 0x7FFFFFFF) == 0x7F800000 ? ldexp(1, 128) : fabs((double)fbits(hi));
        double dlo = v - vlo, dhi = vhi - v;
        uint16_t want = (uint16_t)((dlo < dhi || (dlo == dhi && !((lo >> 16) & 1)) ? lo : hi) >> 16);
        uint16_t got = dtype_f32_to_bf16(fbits(x));
        if (got != want)
            fail_msg("f32 0x%08x -> bf16 0x%04x, expected 0x%04x", x, got, want);
    }
}

static void test_bulk(void **state)
{
    (void)state;
    const float src[5] = {1.0f, -0.5f, 65504.0f, 0x1p-24f, 3.0f};
    unsigned char raw[1 + 5 * 8];
    float back[5];
    const dtype_t types[] = {DTYPE_F16, DTYPE_BF16, DTYPE_F32, DTYPE_F64};
    for (size_t k = 0; k < 4; k++) {
        /* Offset by one byte: tensor data in a mapped file is not aligned in general. */
        assert_int_equal(dtype_from_f32(types[k], src, raw + 1, 5), 0);
        assert_int_equal(dtype_to_f32(types[k], raw + 1, back, 5), 0);
        for (int i = 0; i < 5; i++) {
            float want = types[k] == DTYPE_BF16 ? dtype_bf16_to_f32(dtype_f32_to_bf16(src[i]))
                                                : src[i];
            assert_true(back[i] == want);
        }
    }
    uint16_t h;
    memcpy(&h, raw + 1, 2);   /* last written: F64 1.0 starts with six zero bytes */
    assert_int_equal(h, 0);
    assert_int_equal(dtype_to_f32(DTYPE_I32, raw, back, 1), -1);
    assert_int_equal(dtype_from_f32(DTYPE_U8, src, raw, 1), -1);
    assert_int_equal(dtype_to_f32(DTYPE_F16, NULL, NULL, 0), 0);
}

static void test_table(void **state)
{
    (void)state;
    for (int i = 0; i < DTYPE_COUNT; i++) {
        dtype_t t;
        assert_int_equal(dtype_from_name(dtype_name((dtype_t)i), &t), 0);
        assert_int_equal(t, i);
    }
    dtype_t t;
    assert_int_equal(dtype_from_name("f32", &t), -1);
    assert_int_equal(dtype_from_name("F17", &t), -1);
    assert_int_equal(dtype_size(DTYPE_F32), 4);
    assert_int_equal(dtype_size(DTYPE_BF16), 2);
    assert_int_equal(dtype_size(DTYPE_F64), 8);
    assert_int_equal(dtype_size(DTYPE_BOOL), 1);
    assert_int_equal(dtype_size(DTYPE_F4), 0);
    assert_int_equal(dtype_bits(DTYPE_F6_E2M3), 6);
    assert_string_equal(dtype_name(DTYPE_F8_E4M3), "F8_E4M3");
    assert_string_equal(dtype_name(DTYPE_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_known_values),
        cmocka_unit_test(test_f16_exhaustive_roundtrip),
        cmocka_unit_test(test_f16_rounding_sweep),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_bulk),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
