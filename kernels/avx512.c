/* avx512.c -- the AVX-512 tier: AVX-512 F/BW/VL/DQ + VNNI on 512-bit
 * registers. This translation unit is compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c (kernels/CMakeLists.txt)
 * and holds kernels only; dispatch.c calls into it only after CPUID shows
 * all five AVX-512 subsets and XGETBV shows the OS saving opmask and ZMM
 * state. A CPU with AVX-512 but no VNNI (Skylake-SP) stays on avx2.
 *
 * Design decisions:
 * 1. Tails are opmask loads (vmovups/vmovdqu8 with {z}): masked-out lanes
 *    are neither read nor able to fault, and read as zero, which adds
 *    nothing to any sum. So every kernel is one full-width loop plus one
 *    masked step, with no scalar epilogue and no stack buffer; stores of
 *    the preparation kernels write no byte past dst[n) either. Their tails
 *    are not masked stores when n >= 16: they redo the last 16 elements
 *    with a full store (same inputs, same bits; scale_f32 computes that
 *    vector before any store, so in-place scaling stays right). A load
 *    that reads bytes just written by a masked store cannot take them from
 *    store forwarding and stalls: kernel-bench, d=100 (a 4-element tail),
 *    quant_i8 10.1 -> 3.5 ns. Masked stores remain for n < 16. All loads
 *    are unaligned (loadu).
 * 2. dot_f32 / l2sq_f32 keep four 16-lane accumulators (64 floats per loop
 *    turn), then at most one 32- and one 16-float step and the masked
 *    tail, each on its own accumulator (short chains for small n: d=100
 *    3.1 -> 2.9 ns against one 16-float loop). On Zen 5 (two 512-bit loads
 *    per cycle, FMA latency 4) f32 dot is load-bound at one FMA per cycle
 *    = 32 FLOP/cycle, and four chains cover the latency. kernel-bench,
 *    64-byte-aligned rows: 88-97% of that peak at d >= 768 (47 ns at
 *    d=3072 against avx2's 91), ~50% at d=100 (the masked tail and the
 *    horizontal sum dominate). Operands 16 bytes off a 64-byte boundary
 *    split every load across cache lines: 94 ns at d=3072.
 * 3. int8 dot: vpdpbusd multiplies unsigned by signed bytes, so `a` is
 *    biased: a + 128 = a ^ 0x80 is in [0, 255] for every int8, and
 *    sum (a_i + 128) b_i - 128 sum b_i = sum a_i b_i. sum b_i comes from a
 *    second vpdpbusd against a vector of ones. Both accumulate in int32
 *    lanes without saturation (vpdpbusd, not vpdpbusds) and wrap modulo
 *    2^32, so the result is the exact sum modulo 2^32 for the full int8
 *    range, -128 included: no fallback path and no -128 check (the avx2
 *    tier's vpmaddubsw trick needs both). Measured alternatives (d=3072,
 *    best of 31, same run): this 18.5 ns; sum b by vpsadbw on b ^ 0x80
 *    instead of the second vpdpbusd 20.3 ns; the sign trick (|a| x b
 *    negated where a < 0: AVX-512 has no vpsignb, so vpmovb2m + masked
 *    vpsubb) 23.4 ns even without the -128 check it would need.
 * 4. int8 l2: |a - b| = max - min is in [0, 255], exact as an unsigned
 *    byte. Its even and odd bytes are split into 16-bit lanes (vpand,
 *    vpsrlw: no shuffles) and squared and summed by vpdpwssd (s16 x s16
 *    pairs into int32, non-saturating; 2 * 255^2 per pair fits).
 * 5. float16 decodes with vcvtph2ps zmm (exact) and runs the float32
 *    loops; products of decoded halves are exact in float32.
 * 6. Vector preparation gives the bits of the portable encoders, as
 *    kernels.h requires: vcvtps2ph with imm 0 (round to nearest even; the
 *    avx2 tier's instruction, on 16 lanes), vcvtph2ps, one vmulps for
 *    scale, vandps + vmaxps for max-abs, and for quant_i8 the same clamp as
 *    avx2 (vmaxps then vminps; a NaN product ends in [-127, 127]) then
 *    vcvtps2dq with embedded round-to-nearest-even ({rn-sae}: independent
 *    of MXCSR) and vpmovdb, exact because the values are already in
 *    [-127, 127]. */
#include <immintrin.h>

#include "kernels/kernels_impl.h"

/* Sum of 16 int32 lanes modulo 2^32. Not _mm512_reduce_add_epi32: gcc
 * 12 finishes that one with a C int addition, which UBSan rightly reports
 * as signed overflow when the sum wraps (the kernels.h contract). */
static inline int32_t hsum_epi32_512(__m512i v)
{
    __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* Lanes 0..r-1 of a 16-lane mask, r in 0..16. */
static inline __mmask16 mask16(size_t r)
{
    return (__mmask16)((1u << r) - 1u);
}

/* Lanes 0..r-1 of a 64-lane mask, r in 0..63. */
static inline __mmask64 mask64(size_t r)
{
    return (__mmask64)((1ull << r) - 1ull);
}

static float dot_f32_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    if (i + 32 <= n) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        i += 32;
    }
    if (i + 16 <= n) {
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s2);
        i += 16;
    }
    if (i < n) {
        __mmask16 m = mask16(n - i);
        s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s3);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 sqdiff_fmadd(__m512 x, __m512 y, __m512 acc)
{
    __m512 d = _mm512_sub_ps(x, y);
    return _mm512_fmadd_ps(d, d, acc);
}

static float l2sq_f32_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = sqdiff_fmadd(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = sqdiff_fmadd(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = sqdiff_fmadd(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = sqdiff_fmadd(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    if (i + 32 <= n) {
        s0 = sqdiff_fmadd(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = sqdiff_fmadd(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        i += 32;
    }
    if (i + 16 <= n) {
        s2 = sqdiff_fmadd(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s2);
        i += 16;
    }
    if (i < n) {
        __mmask16 m = mask16(n - i);
        s3 = sqdiff_fmadd(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s3);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* Design note 3: acc += (a ^ 0x80) * b and bsum += 1 * b, per 4 bytes. */
#define DOT_I8_STEP(va, vb, acc, bsum)                                                \
    do {                                                                              \
        acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(va, bias), vb);               \
        bsum = _mm512_dpbusd_epi32(bsum, ones, vb);                                   \
    } while (0)

static int32_t dot_i8_avx512(const int8_t *a, const int8_t *b, size_t n)
{
    const __m512i bias = _mm512_set1_epi8(-128), ones = _mm512_set1_epi8(1);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m512i a0 = _mm512_loadu_si512(a + i), b0 = _mm512_loadu_si512(b + i);
        __m512i a1 = _mm512_loadu_si512(a + i + 64), b1 = _mm512_loadu_si512(b + i + 64);
        DOT_I8_STEP(a0, b0, s0, c0);
        DOT_I8_STEP(a1, b1, s1, c1);
    }
    if (i + 64 <= n) {
        __m512i a0 = _mm512_loadu_si512(a + i), b0 = _mm512_loadu_si512(b + i);
        DOT_I8_STEP(a0, b0, s0, c0);
        i += 64;
    }
    if (i < n) { /* masked-out bytes: a' = 0x80, b = 0, product 0 */
        __mmask64 m = mask64(n - i);
        __m512i a0 = _mm512_maskz_loadu_epi8(m, a + i), b0 = _mm512_maskz_loadu_epi8(m, b + i);
        DOT_I8_STEP(a0, b0, s1, c1);
    }
    /* sum - 128 * bsum, lane-wise modulo 2^32 (shifts and subtracts wrap) */
    __m512i s = _mm512_add_epi32(s0, s1), c = _mm512_add_epi32(c0, c1);
    s = _mm512_sub_epi32(s, _mm512_slli_epi32(c, 7));
    return hsum_epi32_512(s);
}
#undef DOT_I8_STEP

/* Design note 4: acc += sum of |a - b|^2 over 64 byte pairs. */
static inline __m512i sqdiff_i8(__m512i va, __m512i vb, __m512i acc)
{
    const __m512i lo8 = _mm512_set1_epi16(0x00FF);
    __m512i d = _mm512_sub_epi8(_mm512_max_epi8(va, vb), _mm512_min_epi8(va, vb));
    __m512i even = _mm512_and_si512(d, lo8), odd = _mm512_srli_epi16(d, 8);
    acc = _mm512_dpwssd_epi32(acc, even, even);
    return _mm512_dpwssd_epi32(acc, odd, odd);
}

static int32_t l2sq_i8_avx512(const int8_t *a, const int8_t *b, size_t n)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        s0 = sqdiff_i8(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), s0);
        s1 = sqdiff_i8(_mm512_loadu_si512(a + i + 64), _mm512_loadu_si512(b + i + 64), s1);
    }
    if (i + 64 <= n) {
        s0 = sqdiff_i8(_mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i), s0);
        i += 64;
    }
    if (i < n) { /* masked-out bytes are 0 on both sides: difference 0 */
        __mmask64 m = mask64(n - i);
        s1 = sqdiff_i8(_mm512_maskz_loadu_epi8(m, a + i), _mm512_maskz_loadu_epi8(m, b + i), s1);
    }
    return hsum_epi32_512(_mm512_add_epi32(s0, s1));
}

static inline __m512 load_f16x16(const uint16_t *p)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
}

/* The first r halves at p (r < 16), zeros after; nothing past p + r is read. */
static inline __m512 load_f16x16_masked(const uint16_t *p, size_t r)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask16(r), p));
}

static float dot_f16_avx512(const uint16_t *a, const uint16_t *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load_f16x16(a + i), load_f16x16(b + i), s0);
        s1 = _mm512_fmadd_ps(load_f16x16(a + i + 16), load_f16x16(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(load_f16x16(a + i + 32), load_f16x16(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(load_f16x16(a + i + 48), load_f16x16(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(load_f16x16(a + i), load_f16x16(b + i), s0);
    if (i < n)
        s1 = _mm512_fmadd_ps(load_f16x16_masked(a + i, n - i), load_f16x16_masked(b + i, n - i),
                             s1);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float l2sq_f16_avx512(const uint16_t *a, const uint16_t *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = sqdiff_fmadd(load_f16x16(a + i), load_f16x16(b + i), s0);
        s1 = sqdiff_fmadd(load_f16x16(a + i + 16), load_f16x16(b + i + 16), s1);
        s2 = sqdiff_fmadd(load_f16x16(a + i + 32), load_f16x16(b + i + 32), s2);
        s3 = sqdiff_fmadd(load_f16x16(a + i + 48), load_f16x16(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = sqdiff_fmadd(load_f16x16(a + i), load_f16x16(b + i), s0);
    if (i < n)
        s1 = sqdiff_fmadd(load_f16x16_masked(a + i, n - i), load_f16x16_masked(b + i, n - i), s1);
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* ---- vector preparation (design note 6) ---- */

static void f32_to_f16_avx512(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i h0 = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        __m256i h1 = _mm512_cvtps_ph(_mm512_loadu_ps(src + i + 16), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), h0);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 16), h1);
    }
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n && n >= 16) { /* design note 1: redo the last 16 */
        i = n - 16;
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    } else if (i < n) {
        __mmask16 m = mask16(n - i);
        __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_mask_storeu_epi16(dst + i, m, h);
    }
}

static void f16_to_f32_avx512(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(dst + i, load_f16x16(src + i));
        _mm512_storeu_ps(dst + i + 16, load_f16x16(src + i + 16));
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, load_f16x16(src + i));
    if (i < n && n >= 16) { /* design note 1: redo the last 16 */
        _mm512_storeu_ps(dst + n - 16, load_f16x16(src + n - 16));
    } else if (i < n) {
        __mmask16 m = mask16(n - i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

static void scale_f32_avx512(float *dst, const float *src, float s, size_t n)
{
    const __m512 vs = _mm512_set1_ps(s);
    /* design note 1; computed before any store, so dst == src is safe */
    int redo = n >= 16 && n % 16 != 0;
    __m512 last = redo ? _mm512_mul_ps(_mm512_loadu_ps(src + n - 16), vs) : vs;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(src + i), vs);
        __m512 y = _mm512_mul_ps(_mm512_loadu_ps(src + i + 16), vs);
        _mm512_storeu_ps(dst + i, x);
        _mm512_storeu_ps(dst + i + 16, y);
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_mul_ps(_mm512_loadu_ps(src + i), vs));
    if (redo) {
        _mm512_storeu_ps(dst + n - 16, last);
    } else if (i < n) {
        __mmask16 m = mask16(n - i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, src + i), vs));
    }
}

static float maxabs_f32_avx512(const float *x, size_t n)
{
    const __m512 abs = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm512_max_ps(m0, _mm512_and_ps(_mm512_loadu_ps(x + i), abs));
        m1 = _mm512_max_ps(m1, _mm512_and_ps(_mm512_loadu_ps(x + i + 16), abs));
    }
    for (; i < n; i += 16) { /* masked-out lanes load as 0: never the max */
        __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : mask16(n - i);
        m0 = _mm512_max_ps(m0, _mm512_and_ps(_mm512_maskz_loadu_ps(m, x + i), abs));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
}

/* clamp(rne(v * s), -127, 127) for 16 floats as 16 int32 lanes. */
static inline __m512i quant16(__m512 v, __m512 vs)
{
    const __m512 lo = _mm512_set1_ps(-127.f), hi = _mm512_set1_ps(127.f);
    v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, vs), lo), hi);
    return _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static void quant_i8_avx512(int8_t *dst, const float *src, float s, size_t n)
{
    const __m512 vs = _mm512_set1_ps(s);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m128i q0 = _mm512_cvtepi32_epi8(quant16(_mm512_loadu_ps(src + i), vs));
        __m128i q1 = _mm512_cvtepi32_epi8(quant16(_mm512_loadu_ps(src + i + 16), vs));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), q0);
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 16), q1);
    }
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(void *)(dst + i),
                         _mm512_cvtepi32_epi8(quant16(_mm512_loadu_ps(src + i), vs)));
    if (i < n && n >= 16) { /* design note 1: redo the last 16 */
        i = n - 16;
        _mm_storeu_si128((__m128i *)(void *)(dst + i),
                         _mm512_cvtepi32_epi8(quant16(_mm512_loadu_ps(src + i), vs)));
    } else if (i < n) {
        __mmask16 m = mask16(n - i);
        __m512i q = quant16(_mm512_maskz_loadu_ps(m, src + i), vs);
        _mm512_mask_cvtepi32_storeu_epi8(dst + i, m, q);
    }
}

const kernels kernels_table_avx512 = {
    .tier = KTIER_AVX512,
    .name = "avx512",
    .dot_f32 = dot_f32_avx512,
    .l2sq_f32 = l2sq_f32_avx512,
    .dot_i8 = dot_i8_avx512,
    .l2sq_i8 = l2sq_i8_avx512,
    .dot_f16 = dot_f16_avx512,
    .l2sq_f16 = l2sq_f16_avx512,
    .f32_to_f16 = f32_to_f16_avx512,
    .f16_to_f32 = f16_to_f32_avx512,
    .scale_f32 = scale_f32_avx512,
    .maxabs_f32 = maxabs_f32_avx512,
    .quant_i8 = quant_i8_avx512,
    /* avx2's (this tier requires AVX2; VPOPCNTDQ, which a 512-bit version
     * would want, is not part of the tier's CPU check, and at the index's
     * sizes, 6 words at d=384, the nibble-table kernel is a few ns) */
    .hamming_u64 = kernels_hamming_u64_avx2,
};
