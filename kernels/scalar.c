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
 *    the exact sum modulo 2^32, as every tier promises. */
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

/* binary16 products are exact in float (11+11 significand bits <= 24), so
 * the f16 kernels have the f32 kernels' error bound. */
static float dot_f16_scalar(const uint16_t *a, const uint16_t *b, size_t n)
{
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += kern_f16_to_f32(a[i]) * kern_f16_to_f32(b[i]);
        s1 += kern_f16_to_f32(a[i + 1]) * kern_f16_to_f32(b[i + 1]);
        s2 += kern_f16_to_f32(a[i + 2]) * kern_f16_to_f32(b[i + 2]);
        s3 += kern_f16_to_f32(a[i + 3]) * kern_f16_to_f32(b[i + 3]);
    }
    for (; i < n; i++)
        s0 += kern_f16_to_f32(a[i]) * kern_f16_to_f32(b[i]);
    return (s0 + s1) + (s2 + s3);
}

static float l2sq_f16_scalar(const uint16_t *a, const uint16_t *b, size_t n)
{
    float s0 = 0.f, s1 = 0.f;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        float d0 = kern_f16_to_f32(a[i]) - kern_f16_to_f32(b[i]);
        float d1 = kern_f16_to_f32(a[i + 1]) - kern_f16_to_f32(b[i + 1]);
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    if (i < n) {
        float d = kern_f16_to_f32(a[i]) - kern_f16_to_f32(b[i]);
        s0 += d * d;
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
};
