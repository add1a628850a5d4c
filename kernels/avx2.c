/* avx2.c -- the x86-64 tier: AVX2 + FMA + F16C. This translation unit is
 * compiled with -mavx2 -mfma -mf16c (kernels/CMakeLists.txt) and holds
 * kernels only; dispatch.c calls into it only after checking the CPU.
 *
 * Design decisions:
 * 1. Float kernels keep four 8-lane accumulators (32 elements per loop
 *    turn). An FMA has 4 cycles of latency and the loads allow one
 *    FMA per cycle (two 32-byte loads per FMA), so four chains in flight
 *    keep the loop load-bound rather than latency-bound. bench/kernel-bench
 *    reports the resulting fraction of the load-bound peak.
 * 2. Tails: float32 uses a masked load (_mm256_maskload_ps never touches
 *    masked-out lanes, so reading past n cannot fault); int8 and float16
 *    copy the last < 16 / < 8 elements into a zeroed stack buffer. All
 *    loads are unaligned (loadu), so any pointer works and the result does
 *    not depend on alignment.
 * 3. int8 uses vpmovsxbw (sign-extend 16 bytes to 16 int16) + vpmaddwd
 *    (pairwise int16 products summed into int32). The faster-looking
 *    vpmaddubsw needs unsigned x signed operands: the abs/sign trick maps
 *    b = -128 with a < 0 back to -128 (no +128 in int8), and the bias trick
 *    (a + 128) saturates int16 pair sums, so neither is exact for the full
 *    int8 range. vpmaddwd is exact: a pair sum is at most 2 * 128^2 = 32768
 *    and int32 lanes wrap modulo 2^32 like the other tiers. bench/ measures
 *    both (the abs/sign variant lives there, not here).
 * 4. float16 decodes in hardware (vcvtph2ps), which is exact, then runs the
 *    float32 loop; products of decoded halves are exact in float32. */
#include <immintrin.h>

#include "kernels/kernels_impl.h"

static inline float hsum_ps(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 sh = _mm_movehdup_ps(lo);
    __m128 s = _mm_add_ps(lo, sh);
    s = _mm_add_ss(s, _mm_movehl_ps(sh, s));
    return _mm_cvtss_f32(s);
}

static inline int32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* tail_mask(r) has lanes 0..r-1 set, r in 0..8. */
static const int32_t mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

static inline __m256i tail_mask(size_t r)
{
    return _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - r));
}

static float dot_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float l2sq_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __m256i m = tail_mask(n - i);
        __m256 d = _mm256_sub_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static inline __m256i load_i8x16(const int8_t *p)
{
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(load_i8x16(a + i), load_i8x16(b + i)));
        s1 = _mm256_add_epi32(
            s1, _mm256_madd_epi16(load_i8x16(a + i + 16), load_i8x16(b + i + 16)));
    }
    if (i + 16 <= n) {
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(load_i8x16(a + i), load_i8x16(b + i)));
        i += 16;
    }
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0};
        memcpy(ta, a + i, n - i);
        memcpy(tb, b + i, n - i);
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(load_i8x16(ta), load_i8x16(tb)));
    }
    return hsum_epi32(_mm256_add_epi32(s0, s1));
}

static inline __m256i sqdiff_i8x16(const int8_t *a, const int8_t *b)
{
    __m256i d = _mm256_sub_epi16(load_i8x16(a), load_i8x16(b)); /* |d| <= 255 */
    return _mm256_madd_epi16(d, d);
}

static int32_t l2sq_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_epi32(s0, sqdiff_i8x16(a + i, b + i));
        s1 = _mm256_add_epi32(s1, sqdiff_i8x16(a + i + 16, b + i + 16));
    }
    if (i + 16 <= n) {
        s0 = _mm256_add_epi32(s0, sqdiff_i8x16(a + i, b + i));
        i += 16;
    }
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0};
        memcpy(ta, a + i, n - i);
        memcpy(tb, b + i, n - i);
        s1 = _mm256_add_epi32(s1, sqdiff_i8x16(ta, tb));
    }
    return hsum_epi32(_mm256_add_epi32(s0, s1));
}

static inline __m256 load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static float dot_f16_avx2(const uint16_t *a, const uint16_t *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load_f16x8(a + i), load_f16x8(b + i), s0);
        s1 = _mm256_fmadd_ps(load_f16x8(a + i + 8), load_f16x8(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(load_f16x8(a + i + 16), load_f16x8(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(load_f16x8(a + i + 24), load_f16x8(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(load_f16x8(a + i), load_f16x8(b + i), s0);
    if (i < n) {
        uint16_t ta[8] = {0}, tb[8] = {0};
        memcpy(ta, a + i, (n - i) * sizeof *a);
        memcpy(tb, b + i, (n - i) * sizeof *b);
        s1 = _mm256_fmadd_ps(load_f16x8(ta), load_f16x8(tb), s1);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float l2sq_f16_avx2(const uint16_t *a, const uint16_t *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(load_f16x8(a + i), load_f16x8(b + i));
        __m256 d1 = _mm256_sub_ps(load_f16x8(a + i + 8), load_f16x8(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    if (i + 8 <= n) {
        __m256 d = _mm256_sub_ps(load_f16x8(a + i), load_f16x8(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
        i += 8;
    }
    if (i < n) {
        uint16_t ta[8] = {0}, tb[8] = {0};
        memcpy(ta, a + i, (n - i) * sizeof *a);
        memcpy(tb, b + i, (n - i) * sizeof *b);
        __m256 d = _mm256_sub_ps(load_f16x8(ta), load_f16x8(tb));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    return hsum_ps(_mm256_add_ps(s0, s1));
}

const kernels kernels_table_avx2 = {
    .tier = KTIER_AVX2,
    .name = "avx2",
    .dot_f32 = dot_f32_avx2,
    .l2sq_f32 = l2sq_f32_avx2,
    .dot_i8 = dot_i8_avx2,
    .l2sq_i8 = l2sq_i8_avx2,
    .dot_f16 = dot_f16_avx2,
    .l2sq_f16 = l2sq_f16_avx2,
};
