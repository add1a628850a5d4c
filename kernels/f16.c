/* f16.c -- portable IEEE binary16 <-> binary32 conversion (the public
 * kernels_f16_* / kernels_f32_* functions).
 *
 * Design decisions:
 * 1. Bit manipulation, no F16C and no _Float16, so the same code runs on
 *    every target and serves as the tests' check of the hardware paths.
 * 2. f32 -> f16 rounds to nearest, ties to even, like F16C's
 *    _MM_FROUND_TO_NEAREST_INT and AArch64's FCVT with the default FPCR;
 *    the rounding carry may ripple into the exponent, which yields the
 *    next binade or +-inf, both correct encodings.
 * 3. Used on insert/load paths, not in distance loops: the kernels decode
 *    inline (kernels_impl.h) or in hardware. */
#include "kernels/kernels_impl.h"

float kernels_f16_to_f32(uint16_t h)
{
    return kern_f16_to_f32(h);
}

uint16_t kernels_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xFFu;
    uint32_t mant = x & 0x7FFFFFu;
    if (exp == 255) /* inf, or NaN made quiet (payload's top bits kept) */
        return (uint16_t)(sign | 0x7C00u | (mant ? 0x200u | (mant >> 13) : 0));
    int e = (int)exp - 127 + 15; /* binary16 biased exponent */
    if (e >= 31)
        return (uint16_t)(sign | 0x7C00u);
    if (e <= 0) {
        /* Subnormal result: h = round(value / 2^-24). The 24-bit
         * significand (implicit bit included) shifts right by 14 - e. */
        if (e < -10)
            return (uint16_t)sign; /* below half the smallest subnormal */
        uint32_t m = mant | 0x800000u;
        unsigned shift = (unsigned)(14 - e);
        uint32_t h = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

void kernels_f16_to_f32_n(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kern_f16_to_f32(src[i]);
}

void kernels_f32_to_f16_n(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kernels_f32_to_f16(src[i]);
}
