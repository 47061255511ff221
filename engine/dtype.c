/* dtype.c — the dtype table and f16/bf16 <-> f32 conversion done on the bits, so the result
 * is the same correctly rounded value on every CPU and compiler (no F16C, no _Float16). */
#include "engine/dtype.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensor data is read and written little-endian in place: big-endian hosts unsupported"
#endif

static const struct {
    const char *name;
    unsigned bits;
} dtype_table[DTYPE_COUNT] = {
    [DTYPE_BOOL] = {"BOOL", 8},
    [DTYPE_F4] = {"F4", 4},
    [DTYPE_F6_E2M3] = {"F6_E2M3", 6},
    [DTYPE_F6_E3M2] = {"F6_E3M2", 6},
    [DTYPE_U8] = {"U8", 8},
    [DTYPE_I8] = {"I8", 8},
    [DTYPE_F8_E5M2] = {"F8_E5M2", 8},
    [DTYPE_F8_E4M3] = {"F8_E4M3", 8},
    [DTYPE_F8_E8M0] = {"F8_E8M0", 8},
    [DTYPE_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [DTYPE_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
    [DTYPE_I16] = {"I16", 16},
    [DTYPE_U16] = {"U16", 16},
    [DTYPE_F16] = {"F16", 16},
    [DTYPE_BF16] = {"BF16", 16},
    [DTYPE_I32] = {"I32", 32},
    [DTYPE_U32] = {"U32", 32},
    [DTYPE_F32] = {"F32", 32},
    [DTYPE_C64] = {"C64", 64},
    [DTYPE_F64] = {"F64", 64},
    [DTYPE_I64] = {"I64", 64},
    [DTYPE_U64] = {"U64", 64},
};

const char *dtype_name(dtype_t t)
{
    return (unsigned)t < DTYPE_COUNT ? dtype_table[t].name : "?";
}

int dtype_from_name(const char *name, dtype_t *out)
{
    for (int i = 0; i < DTYPE_COUNT; i++) {
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (dtype_t)i;
            return 0;
        }
    }
    return -1;
}

unsigned dtype_bits(dtype_t t)
{
    return (unsigned)t < DTYPE_COUNT ? dtype_table[t].bits : 0;
}

size_t dtype_size(dtype_t t)
{
    unsigned bits = dtype_bits(t);
    return bits % 8 ? 0 : bits / 8;
}

int dtype_is_float_convertible(dtype_t t)
{
    return t == DTYPE_F16 || t == DTYPE_BF16 || t == DTYPE_F32 || t == DTYPE_F64;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float dtype_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f)
        return f32_from_bits(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return f32_from_bits(sign);
        /* Subnormal: shift the leading 1 up to the implicit bit, one exponent step each. */
        uint32_t e = 113;
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        return f32_from_bits(sign | (e << 23) | ((mant & 0x3ff) << 13));
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t dtype_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffff;
    if (a > 0x7f800000) {
        uint16_t payload = (uint16_t)((a >> 13) & 0x3ff);
        return sign | 0x7c00 | (payload ? payload : 0x200);
    }
    /* 65520 = 65504 + half an ulp: the tie goes to the even neighbour, which is Inf. */
    if (a >= 0x477ff000)
        return sign | 0x7c00;
    if (a >= 0x38800000) {
        /* Normal range: rebias the exponent (127 -> 15), then round the 13 dropped bits;
         * a carry out of the mantissa correctly bumps the exponent. */
        uint32_t r = a - 0x38000000;
        r += 0x0fff + ((r >> 13) & 1);
        return sign | (uint16_t)(r >> 13);
    }
    /* 2^-25 is exactly half the smallest subnormal: ties to even gives zero. */
    if (a <= 0x33000000)
        return sign;
    /* Subnormal result: value = m·2^(e-150) = k·2^-24, so k = m >> (126 - e), rounded. */
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e;
    uint32_t k = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (k & 1)))
        k++;
    return sign | (uint16_t)k;
}

float dtype_bf16_to_f32(uint16_t b)
{
    return f32_from_bits((uint32_t)b << 16);
}

uint16_t dtype_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) {
        uint16_t hi = (uint16_t)(x >> 16);
        return (hi & 0x7f) ? hi : (uint16_t)(hi | 0x40);
    }
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int dtype_to_f32(dtype_t t, const void *src, float *dst, size_t n)
{
    const unsigned char *p = src;
    if (n == 0)
        return dtype_is_float_convertible(t) ? 0 : -1;
    switch (t) {
    case DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        return 0;
    case DTYPE_F16:
    case DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t == DTYPE_F16 ? dtype_f16_to_f32(h) : dtype_bf16_to_f32(h);
        }
        return 0;
    case DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return 0;
    default:
        return -1;
    }
}

int dtype_from_f32(dtype_t t, const float *src, void *dst, size_t n)
{
    unsigned char *p = dst;
    if (n == 0)
        return dtype_is_float_convertible(t) ? 0 : -1;
    switch (t) {
    case DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        return 0;
    case DTYPE_F16:
    case DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = t == DTYPE_F16 ? dtype_f32_to_f16(src[i]) : dtype_f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return 0;
    case DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double d = src[i];
            memcpy(p + 8 * i, &d, 8);
        }
        return 0;
    default:
        return -1;
    }
}
