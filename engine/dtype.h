/* dtype.h — element types of stored tensors (the safetensors dtype set), their sizes and
 * names, and correctly rounded f16/bf16 <-> f32 conversion.
 *
 * Training computes in f32; files hold F16, BF16, F32 (and sometimes F64 or FP8). This is
 * the one place that knows how those bits map to floats, so the reader, the writer
 * (--save_precision) and the checkpoint loaders agree bit for bit with PyTorch. */
#ifndef LORATTY_DTYPE_H
#define LORATTY_DTYPE_H

#include <stddef.h>
#include <stdint.h>

/* Declared in the order of safetensors' Rust `Dtype` enum (bitsize ascending). The writer
 * sorts tensors by this order, descending, to reproduce the Python library's data layout. */
typedef enum dtype {
    DTYPE_BOOL,
    DTYPE_F4,
    DTYPE_F6_E2M3,
    DTYPE_F6_E3M2,
    DTYPE_U8,
    DTYPE_I8,
    DTYPE_F8_E5M2,
    DTYPE_F8_E4M3,
    DTYPE_F8_E8M0,
    DTYPE_F8_E4M3FNUZ,
    DTYPE_F8_E5M2FNUZ,
    DTYPE_I16,
    DTYPE_U16,
    DTYPE_F16,
    DTYPE_BF16,
    DTYPE_I32,
    DTYPE_U32,
    DTYPE_F32,
    DTYPE_C64,
    DTYPE_F64,
    DTYPE_I64,
    DTYPE_U64,
    DTYPE_COUNT
} dtype_t;

/* "F32", "BF16", ... as written in safetensors headers; "?" for an invalid value. */
const char *dtype_name(dtype_t t);
/* Parses a safetensors dtype name (exact, case-sensitive). Returns 0, or -1 if unknown. */
int dtype_from_name(const char *name, dtype_t *out);
/* Bits per element: 4 and 6 for the microscaling types, otherwise 8 × bytes. */
unsigned dtype_bits(dtype_t t);
/* Bytes per element, 0 for the sub-byte types (F4, F6_*). */
size_t dtype_size(dtype_t t);
/* 1 for F16, BF16, F32 and F64: the types dtype_to_f32 / dtype_from_f32 handle. */
int dtype_is_float_convertible(dtype_t t);

/* Scalar conversions. f32 -> f16/bf16 round to nearest, ties to even; values too large
 * become ±Inf, too small ±0 or a subnormal; NaN stays NaN with its sign and top payload
 * bits (a quiet bit is set only when the kept payload would be zero). */
float dtype_f16_to_f32(uint16_t h);
uint16_t dtype_f32_to_f16(float f);
float dtype_bf16_to_f32(uint16_t b);
uint16_t dtype_f32_to_bf16(float f);

/* Converts n elements of type t at src (any alignment, little-endian) to f32.
 * Returns 0, or -1 when t is not float-convertible. F64 is rounded to nearest f32. */
int dtype_to_f32(dtype_t t, const void *src, float *dst, size_t n);
/* Converts n f32 values to type t at dst (any alignment). Returns 0, or -1 as above. */
int dtype_from_f32(dtype_t t, const float *src, void *dst, size_t n);

#endif
