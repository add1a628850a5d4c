/* ref.c -- the reference tier: the oracle every other tier is tested
 * against, and the last-resort fallback.
 *
 * Design decisions:
 * 1. Accumulate in double, one element at a time, no tricks. A product of
 *    two floats (24-bit significands) is exact in double (53 bits), so the
 *    only error is the double summation (<= n * 2^-53 relative to
 *    sum |a_i b_i|) plus the final rounding to float. That is ~2^29 times
 *    tighter than the float tiers' bound, so ref can stand for "exact".
 * 2. int8 sums go through int64 and are reduced modulo 2^32 at the end,
 *    which is what the SIMD tiers' wrapping int32 lanes compute, so every
 *    tier agrees bit for bit even past the int32 range (see kernels.h).
 * 3. f16 goes through the portable decoder, never F16C, so the oracle does
 *    not share a code path with the avx2 tier it checks.
 * 4. Vector preparation is element by element through the portable
 *    converters, and quant_i8 rounds ties to even by explicit comparison
 *    (floor, then look at the fraction), independent of the FP rounding
 *    mode the SIMD tiers rely on. */
#include <math.h>

#include "kernels/kernels_impl.h"

static float dot_f32_ref(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return (float)s;
}

static float l2sq_f32_ref(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return (float)s;
}

/* int64 -> int32 modulo 2^32 without implementation-defined conversion. */
static int32_t wrap_i32(int64_t v)
{
    uint32_t u = (uint32_t)(uint64_t)v;
    int32_t r;
    memcpy(&r, &u, 4);
    return r;
}

static int32_t dot_i8_ref(const int8_t *a, const int8_t *b, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int64_t)a[i] * b[i];
    return wrap_i32(s);
}

static int32_t l2sq_i8_ref(const int8_t *a, const int8_t *b, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d = (int64_t)a[i] - b[i];
        s += d * d;
    }
    return wrap_i32(s);
}

static float dot_f16_ref(const uint16_t *a, const uint16_t *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)kern_f16_to_f32(a[i]) * (double)kern_f16_to_f32(b[i]);
    return (float)s;
}

static float l2sq_f16_ref(const uint16_t *a, const uint16_t *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)kern_f16_to_f32(a[i]) - (double)kern_f16_to_f32(b[i]);
        s += d * d;
    }
    return (float)s;
}

static void f32_to_f16_ref(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kernels_f32_to_f16(src[i]);
}

static void f16_to_f32_ref(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kernels_f16_to_f32(src[i]);
}

static void scale_f32_ref(float *dst, const float *src, float s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] * s;
}

static float maxabs_f32_ref(const float *x, size_t n)
{
    float m = 0.f;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > m)
            m = fabsf(x[i]);
    return m;
}

/* v in [-127, 127] rounded to the nearest integer, ties to even. */
static int rne_small(float v)
{
    float f = floorf(v), frac = v - f; /* exact: |v| < 2^23 */
    int r = (int)f;
    if (frac > 0.5f || (frac == 0.5f && (r & 1)))
        r++;
    return r;
}

static void quant_i8_ref(int8_t *dst, const float *src, float s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = src[i] * s;
        if (isnan(v))
            v = 0.f;
        v = v > 127.f ? 127.f : v < -127.f ? -127.f : v;
        dst[i] = (int8_t)rne_small(v);
    }
}

/* Bit by bit: the oracle shares no popcount trick with the tiers. */
static uint64_t hamming_u64_ref(const uint64_t *a, const uint64_t *b, size_t nwords)
{
    uint64_t d = 0;
    for (size_t i = 0; i < nwords; i++) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        x ^= y;
        for (int j = 0; j < 64; j++)
            d += (x >> j) & 1u;
    }
    return d;
}

const kernels kernels_table_ref = {
    .tier = KTIER_REF,
    .name = "ref",
    .dot_f32 = dot_f32_ref,
    .l2sq_f32 = l2sq_f32_ref,
    .dot_i8 = dot_i8_ref,
    .l2sq_i8 = l2sq_i8_ref,
    .dot_f16 = dot_f16_ref,
    .l2sq_f16 = l2sq_f16_ref,
    .f32_to_f16 = f32_to_f16_ref,
    .f16_to_f32 = f16_to_f32_ref,
    .scale_f32 = scale_f32_ref,
    .maxabs_f32 = maxabs_f32_ref,
    .quant_i8 = quant_i8_ref,
    .hamming_u64 = hamming_u64_ref,
};
