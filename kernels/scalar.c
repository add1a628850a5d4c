/* scalar.c -- the portable tier: plain C that any C11 compiler turns into
 * reasonable code, used where no SIMD tier is compiled or supported.
 *
 * Design decisions:
 * 1. Four independent float accumulators over a stride of four. One
 *    accumulator makes every add wait for the previous one (a 3-4 cycle
 *    latency chain); four let the adds pipeline, and at -O2 gcc turns the
 *    block into SSE2/ASIMD code. Error bound: each accumulator sums n/4
 *    products, the final combine adds 2 levels, so the error is at most
 *    (n/4 + 3) * eps/2 * sum |a_i b_i|, inside the contract's bound.
 * 2. No -ffast-math: the summation order is the one written here, so the
 *    tier is deterministic and the bound above holds.
 * 3. int8 accumulates in uint32_t: wrapping is defined there (a signed
 *    int32 overflow would be undefined behaviour), and the result equals
 *    the exact sum modulo 2^32, as every tier promises.
 * 4. float16 decodes blocks of 128 with the branch-free decoder, a loop gcc
 *    vectorises (this file is built with -fvect-cost-model=dynamic: -O2's
 *    default "very cheap" model refuses loops needing an epilogue), then
 *    reuses the float32 kernel. kernel-bench, d=3072: 2389 ns per f16 dot,
 *    against 4330 ns decoding element by element inside the loop (the
 *    same flag also vectorises the int8 loops: 888 -> 311 ns).
 * 5. Vector preparation is written so gcc vectorises it: f32 -> f16 by
 *    F. Giesen's float_to_half_fast3_rtne (selects between the normal,
 *    subnormal and inf/NaN encodings; the subnormal one adds a magic float
 *    so the FPU's round-to-nearest-even does the rounding); quant_i8
 *    clamps on the magnitude bits and rounds with the 1.5 * 2^23 trick
 *    ((v + M) - M rounds v to an integer, ties to even, for |v| < 2^22; no
 *    -ffast-math here, so gcc keeps both operations). The selects are
 *    integer masks: gcc does not if-convert the float compares (NaN rules)
 *    and with them neither loop vectorised. kernel-bench, d=384:
 *    f32 -> f16 335 -> 274 ns, quant_i8 367 -> 112 ns. */
#include <math.h>

#include "kernels/kernels_impl.h"

static float dot_f32_scalar(const float *a, const float *b, size_t n)
{
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float l2sq_f32_scalar(const float *a, const float *b, size_t n)
{
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
        float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

static int32_t as_i32(uint32_t u)
{
    int32_t r;
    memcpy(&r, &u, 4);
    return r;
}

static int32_t dot_i8_scalar(const int8_t *a, const int8_t *b, size_t n)
{
    uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (uint32_t)(a[i] * b[i]);
        s1 += (uint32_t)(a[i + 1] * b[i + 1]);
        s2 += (uint32_t)(a[i + 2] * b[i + 2]);
        s3 += (uint32_t)(a[i + 3] * b[i + 3]);
    }
    for (; i < n; i++)
        s0 += (uint32_t)(a[i] * b[i]);
    return as_i32(s0 + s1 + s2 + s3);
}

static int32_t l2sq_i8_scalar(const int8_t *a, const int8_t *b, size_t n)
{
    uint32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        int d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
        int d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += (uint32_t)(d0 * d0);
        s1 += (uint32_t)(d1 * d1);
        s2 += (uint32_t)(d2 * d2);
        s3 += (uint32_t)(d3 * d3);
    }
    for (; i < n; i++) {
        int d = a[i] - b[i];
        s0 += (uint32_t)(d * d);
    }
    return as_i32(s0 + s1 + s2 + s3);
}

/* float16: decode a block of each vector into float buffers, then run the
 * float32 kernel on the block (decision 4). binary16 products are exact in
 * float (11 + 11 significand bits <= 24) and the blocks' partial sums are
 * one more summation level, so the f32 error bound still holds. */
#define F16_BLOCK 128

static void decode_block(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kern_f16_to_f32(src[i]);
}

static float dot_f16_scalar(const uint16_t *a, const uint16_t *b, size_t n)
{
    float ta[F16_BLOCK], tb[F16_BLOCK], s = 0.f;
    for (size_t i = 0; i < n; i += F16_BLOCK) {
        size_t m = n - i < F16_BLOCK ? n - i : F16_BLOCK;
        decode_block(ta, a + i, m);
        decode_block(tb, b + i, m);
        s += dot_f32_scalar(ta, tb, m);
    }
    return s;
}

static float l2sq_f16_scalar(const uint16_t *a, const uint16_t *b, size_t n)
{
    float ta[F16_BLOCK], tb[F16_BLOCK], s = 0.f;
    for (size_t i = 0; i < n; i += F16_BLOCK) {
        size_t m = n - i < F16_BLOCK ? n - i : F16_BLOCK;
        decode_block(ta, a + i, m);
        decode_block(tb, b + i, m);
        s += l2sq_f32_scalar(ta, tb, m);
    }
    return s;
}

static inline uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* all ones when c, else 0: integer selects gcc's vectoriser if-converts */
static inline uint32_t mask_if(int c)
{
    return 0u - (uint32_t)(c != 0);
}

/* Same bits as kernels_f32_to_f16 for every input (NaN included: quiet,
 * payload's top bits kept). */
static inline uint16_t f32_to_f16_one(float f)
{
    const uint32_t denorm_magic = ((127 - 15) + (23 - 10) + 1) << 23; /* 0.5f */
    uint32_t x = f2u(f), sign = (x >> 16) & 0x8000u;
    x &= 0x7FFFFFFFu;
    /* inf/NaN input or |f| >= 2^16 (which rounds to inf) */
    uint32_t m_nan = mask_if(x > 0x7F800000u);
    uint32_t big = 0x7C00u | (m_nan & (0x200u | ((x >> 13) & 0x3FFu)));
    /* |f| < 2^-14: the sum's low mantissa bits are the rounded subnormal */
    uint32_t sub = f2u(u2f(x) + u2f(denorm_magic)) - denorm_magic;
    /* normal: rebias, round to nearest even by adding 0xFFF + the lsb */
    uint32_t nrm = (x + ((uint32_t)(15 - 127) << 23) + 0xFFFu + ((x >> 13) & 1u)) >> 13;
    uint32_t m_big = mask_if(x >= 0x47800000u), m_sub = mask_if(x < 0x38800000u);
    uint32_t h = (big & m_big) | (sub & m_sub) | (nrm & ~(m_big | m_sub));
    return (uint16_t)(h | sign);
}

static void f32_to_f16_scalar(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f32_to_f16_one(src[i]);
}

static void f16_to_f32_scalar(float *dst, const uint16_t *src, size_t n)
{
    decode_block(dst, src, n);
}

static void scale_f32_scalar(float *dst, const float *src, float s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] * s;
}

/* Four running maxima (float compares; the integer-maximum form
 * vectorises but needs SSE4.1's pmaxud, and its SSE2 emulation measured
 * 168 ns against 93 at d=384). */
static float maxabs_f32_scalar(const float *x, size_t n)
{
    float m0 = 0.f, m1 = 0.f, m2 = 0.f, m3 = 0.f;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float a0 = fabsf(x[i]), a1 = fabsf(x[i + 1]), a2 = fabsf(x[i + 2]), a3 = fabsf(x[i + 3]);
        m0 = a0 > m0 ? a0 : m0;
        m1 = a1 > m1 ? a1 : m1;
        m2 = a2 > m2 ? a2 : m2;
        m3 = a3 > m3 ? a3 : m3;
    }
    for (; i < n; i++) {
        float a = fabsf(x[i]);
        m0 = a > m0 ? a : m0;
    }
    m0 = m1 > m0 ? m1 : m0;
    m2 = m3 > m2 ? m3 : m2;
    return m2 > m0 ? m2 : m0;
}

static void quant_i8_scalar(int8_t *dst, const float *src, float s, size_t n)
{
    const float magic = 0x1.8p23f;
    const uint32_t c127 = 0x42FE0000u; /* 127.0f */
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f2u(src[i] * s);
        /* clamp to +-127 by magnitude bits (a NaN clamps too: to +-127) */
        uint32_t m = mask_if((u & 0x7FFFFFFFu) > c127);
        u = (u & ~m) | (((u & 0x80000000u) | c127) & m);
        float v = (u2f(u) + magic) - magic; /* round half to even (decision 5) */
        dst[i] = (int8_t)(int32_t)v;
    }
}

/* Hamming: __builtin_popcountll per word (one POPCNT/CNT where the
 * target has it, else gcc's SWAR sequence), two accumulators so the adds
 * of consecutive words do not form one dependency chain. */
static uint64_t hamming_u64_scalar(const uint64_t *a, const uint64_t *b, size_t nwords)
{
    uint64_t s0 = 0, s1 = 0;
    size_t i = 0;
    for (; i + 2 <= nwords; i += 2) {
        uint64_t x[2], y[2];
        memcpy(x, a + i, 16);
        memcpy(y, b + i, 16);
        s0 += (uint64_t)__builtin_popcountll(x[0] ^ y[0]);
        s1 += (uint64_t)__builtin_popcountll(x[1] ^ y[1]);
    }
    if (i < nwords) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        s0 += (uint64_t)__builtin_popcountll(x ^ y);
    }
    return s0 + s1;
}

const kernels kernels_table_scalar = {
    .tier = KTIER_SCALAR,
    .name = "scalar",
    .dot_f32 = dot_f32_scalar,
    .l2sq_f32 = l2sq_f32_scalar,
    .dot_i8 = dot_i8_scalar,
    .l2sq_i8 = l2sq_i8_scalar,
    .dot_f16 = dot_f16_scalar,
    .l2sq_f16 = l2sq_f16_scalar,
    .f32_to_f16 = f32_to_f16_scalar,
    .f16_to_f32 = f16_to_f32_scalar,
    .scale_f32 = scale_f32_scalar,
    .maxabs_f32 = maxabs_f32_scalar,
    .quant_i8 = quant_i8_scalar,
    .hamming_u64 = hamming_u64_scalar,
};
