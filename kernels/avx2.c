/* avx2.c -- the x86-64 tier: AVX2 + FMA + F16C. This translation unit is
 * compiled with -mavx2 -mfma -mf16c (kernels/CMakeLists.txt) and holds
 * kernels only; dispatch.c calls into it only after checking the CPU.
 *
 * Design decisions:
 * 1. dot_f32 keeps eight 8-lane accumulators (64 elements per loop turn),
 *    the other float kernels four. An FMA has 4 cycles of latency, so at
 *    one FMA per cycle (two 32-byte loads each, the load-bound rate) four
 *    chains are the minimum; eight leave slack for cores with more load
 *    ports. Measured on this machine with 64-byte-aligned rows: 95-98% of
 *    the load-bound peak at d >= 768 either way (kernel-bench), 4 vs 4.1 ns
 *    at d=100. Rows that are only 16-byte aligned (plain malloc) split
 *    every other 32-byte load across cache lines and run ~50% slower
 *    (137.8 vs 91.4 ns at d=3072), so callers should store vectors 32- or
 *    64-byte aligned.
 * 2. Tails use masked loads (vmaskmov never touches masked-out lanes, so
 *    nothing past n is read and nothing can fault): float32 per element;
 *    int8 in whole 4-byte groups plus at most 3 scalar products; float16 in
 *    whole 2-element pairs plus at most one scalar product. A first version
 *    copied the tail into a zeroed stack buffer: the 16-byte reload of
 *    bytes just stored piecewise stalls store forwarding, and kernel-bench
 *    showed dot_i8 at d=100 taking 14.9 ns against 4.7 ns for dot_f32
 *    (3.3 ns with masked loads). All loads are unaligned (loadu), so any
 *    pointer works and the result does not depend on alignment.
 * 3. int8 dot: exact over the full int8 range, two paths.
 *    - widening: vpmovsxbw (sign-extend 16 bytes to int16) + vpmaddwd
 *      (pairwise products summed into int32). Exact: a pair sum is at most
 *      2 * 128^2 = 32768, and int32 lanes wrap modulo 2^32 like the other
 *      tiers. On this machine (AMD family 26) it is bound by the sign
 *      extensions (shuffle pipes): 55.7 ns at d=3072, 1.6x f32 dot.
 *    - fast: vpmaddubsw(|a|, sign(b, a)) + vpmaddwd(., 1): 32 products per
 *      multiply op, no shuffles: 46-48 ns at d=3072, 1.9x f32 dot. It is
 *      exact unless b_i = -128 meets a_i < 0 (sign() cannot make +128);
 *      with b_i in [-127, 127] pair sums stay within +-2 * 128 * 127 and
 *      never saturate. The loop ORs a "b == -128" mask and, if any lane
 *      ever matched, redoes the call on the widening path. Symmetric
 *      quantisation (scale = max|x| / 127) never produces -128, so the
 *      index always takes the fast path; other data pays at most ~2x.
 *    Rejected: the bias trick ((a + 128) unsigned) saturates int16 pair
 *    sums; shift-based sign extension (srai/slli) and a shuffle/shift mix
 *    measured no faster than vpmovsxbw (73 and 58 ns).
 * 4. float16 decodes in hardware (vcvtph2ps), which is exact, then runs the
 *    float32 loop; products of decoded halves are exact in float32.
 * 5. Vector preparation: vcvtps2ph with imm 0 (round to nearest even,
 *    subnormal results produced, overflow to inf, NaN quieted with its
 *    payload's top bits: the portable encoder's exact bits) and vcvtph2ps;
 *    quant_i8 clamps in float (vmaxps/vminps) before vcvtps2dq, which
 *    rounds by MXCSR (nearest even by default) and cannot overflow after
 *    the clamp, then packs with vpackssdw/vpacksswb + one vpermd to undo
 *    their per-lane interleave. Tails (n % 8) run the same instructions
 *    on a masked load and store through a small stack buffer, so tails and
 *    bodies give identical bits.
 * 6. Hamming (BIN storage) counts bits with the vpshufb nibble table
 *    rather than POPCNT: POPCNT is not part of the AVX2 feature check in
 *    dispatch.c, and at the index's sizes (6 words at d=384) both are a
 *    handful of instructions. Tails of 1-3 words use a masked load.
 * 7. AVX-VNNI variant (kernels_table_avx2_vnni, "avx2+vnni"): on CPUs with
 *    AVX-VNNI (VEX-encoded vpdpbusd/vpdpwssd on ymm: Zen 5, Alder Lake and
 *    later) dispatch.c picks a table that differs only in the int8
 *    kernels. Its functions carry __attribute__((target("avxvnni"))): a
 *    file-wide -mavxvnni would let the compiler use VNNI in the plain
 *    table, which runs on CPUs without it.
 *    - dot: vpdpbusd multiplies unsigned by signed bytes, so a is biased
 *      by 128 (a ^ 0x80, in [0, 255] for every int8) and 128 * sum b, from
 *      a second vpdpbusd against ones, is subtracted; vpdpbusd does not
 *      saturate, so the sum is exact modulo 2^32 over the full int8 range
 *      (-128 included, no fallback path): 3 ops per 32 bytes against the
 *      fast path's 6 plus its -128 check.
 *    - l2: |a - b| = max - min is exact as an unsigned byte; its even and
 *      odd bytes go to 16-bit lanes by vpand/vpsrlw (no shuffles) and
 *      vpdpwssd squares and sums them: 7 ops per 32 bytes against 10 (4 of
 *      them sign-extending shuffles).
 *    Tails (< 32 bytes) go through the plain tier's tail code. kernel-bench
 *    on this Zen 5 (median of 3 runs), ns per call, vnni vs plain: dot
 *    d=384 5.4 vs 6.4, d=3072 38.0 vs 41.3; l2 d=384 7.4 vs 9.0, d=3072
 *    69.8 vs 69.6 (no gain at large d: both then run at the same rate). */
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

/* 4 x 32-bit lanes, lanes 0..r-1 set, r in 0..4. */
static inline __m128i tail_mask4(size_t r)
{
    return _mm_loadu_si128((const __m128i *)(mask_tab + 8 - r));
}

static float dot_f32_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    __m256 s4 = _mm256_setzero_ps(), s5 = _mm256_setzero_ps();
    __m256 s6 = _mm256_setzero_ps(), s7 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
        s4 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 32), _mm256_loadu_ps(b + i + 32), s4);
        s5 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 40), _mm256_loadu_ps(b + i + 40), s5);
        s6 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 48), _mm256_loadu_ps(b + i + 48), s6);
        s7 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 56), _mm256_loadu_ps(b + i + 56), s7);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    s0 = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    s4 = _mm256_add_ps(_mm256_add_ps(s4, s5), _mm256_add_ps(s6, s7));
    return hsum_ps(_mm256_add_ps(s0, s4));
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

/* x + y modulo 2^32 (a signed overflow would be undefined behaviour). */
static inline int32_t wrap_add_i32(int32_t x, int32_t y)
{
    uint32_t u = (uint32_t)x + (uint32_t)y;
    int32_t r;
    memcpy(&r, &u, 4);
    return r;
}

static inline __m256i load_i8x16(const int8_t *p)
{
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

/* Elements i..n-1 (the loops' leftovers) by the widening method, added to
 * the accumulators s0, s1; returns the total modulo 2^32. */
static inline int32_t dot_i8_tail(const int8_t *a, const int8_t *b, size_t i, size_t n,
                                  __m256i s0, __m256i s1)
{
    for (; i + 16 <= n; i += 16)
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(load_i8x16(a + i), load_i8x16(b + i)));
    int32_t t = 0;
    if (i < n) {
        size_t r = n - i, whole = r & ~(size_t)3; /* r < 16 */
        __m128i m = tail_mask4(whole / 4);
        __m256i va = _mm256_cvtepi8_epi16(_mm_maskload_epi32((const int *)(const void *)(a + i), m));
        __m256i vb = _mm256_cvtepi8_epi16(_mm_maskload_epi32((const int *)(const void *)(b + i), m));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(va, vb));
        for (i += whole; i < n; i++)
            t += a[i] * b[i];
    }
    return wrap_add_i32(hsum_epi32(_mm256_add_epi32(s0, s1)), t);
}

/* The exact path for any int8 input: vpmovsxbw + vpmaddwd, 32 elements
 * per turn, then the shared tail. */
static int32_t dot_i8_avx2_widen(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(load_i8x16(a + i), load_i8x16(b + i)));
        s1 = _mm256_add_epi32(
            s1, _mm256_madd_epi16(load_i8x16(a + i + 16), load_i8x16(b + i + 16)));
    }
    return dot_i8_tail(a, b, i, n, s0, s1);
}

/* Fast path (design note 3): |a| (unsigned) x sign(b, a) with vpmaddubsw,
 * widened to int32 by vpmaddwd with ones. Exact unless some b_i = -128
 * (sign() cannot negate it); any -128 in b is detected on the way and the
 * whole call is redone by the widening path. The check keeps a running
 * minimum of b (2 vpminsb per 64 bytes); OR-ing vpcmpeqb masks instead cost
 * 4 ops per 64 bytes and 10 ns of 47 at d=3072. */
static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    const __m256i ones = _mm256_set1_epi16(1), min8 = _mm256_set1_epi8(-128);
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    __m256i lo = _mm256_set1_epi8(127); /* running minimum of b */
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + i + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + i + 32));
        lo = _mm256_min_epi8(lo, _mm256_min_epi8(b0, b1));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
        __m256i p1 = _mm256_maddubs_epi16(_mm256_abs_epi8(a1), _mm256_sign_epi8(b1, a1));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, ones));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, ones));
    }
    if (i + 32 <= n) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + i));
        lo = _mm256_min_epi8(lo, b0);
        __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, ones));
        i += 32;
    }
    if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, min8)) != 0)
        return dot_i8_avx2_widen(a, b, n);
    return dot_i8_tail(a, b, i, n, s0, s1);
}

static inline __m256i sqdiff_i8x16(const int8_t *a, const int8_t *b)
{
    __m256i d = _mm256_sub_epi16(load_i8x16(a), load_i8x16(b)); /* |d| <= 255 */
    return _mm256_madd_epi16(d, d);
}

/* Elements i..n-1 of an int8 l2 (n - i < 32), added to the accumulators
 * s0, s1; returns the total modulo 2^32. */
static inline int32_t l2sq_i8_tail(const int8_t *a, const int8_t *b, size_t i, size_t n,
                                   __m256i s0, __m256i s1)
{
    if (i + 16 <= n) {
        s0 = _mm256_add_epi32(s0, sqdiff_i8x16(a + i, b + i));
        i += 16;
    }
    int32_t t = 0;
    if (i < n) {
        size_t r = n - i, whole = r & ~(size_t)3; /* r < 16 */
        __m128i m = tail_mask4(whole / 4);
        __m256i d = _mm256_sub_epi16(
            _mm256_cvtepi8_epi16(_mm_maskload_epi32((const int *)(const void *)(a + i), m)),
            _mm256_cvtepi8_epi16(_mm_maskload_epi32((const int *)(const void *)(b + i), m)));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(d, d));
        for (i += whole; i < n; i++) {
            int dd = a[i] - b[i];
            t += dd * dd;
        }
    }
    return wrap_add_i32(hsum_epi32(_mm256_add_epi32(s0, s1)), t);
}

static int32_t l2sq_i8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_epi32(s0, sqdiff_i8x16(a + i, b + i));
        s1 = _mm256_add_epi32(s1, sqdiff_i8x16(a + i + 16, b + i + 16));
    }
    return l2sq_i8_tail(a, b, i, n, s0, s1);
}

/* ---- AVX-VNNI variant (design note 7) ---- */

#define VNNI __attribute__((target("avxvnni")))

/* acc += (a ^ 0x80) * b and bsum += 1 * b, per 4 bytes. */
static inline VNNI void dot_i8_vnni_step(__m256i va, __m256i vb, __m256i *acc, __m256i *bsum)
{
    const __m256i bias = _mm256_set1_epi8(-128), ones = _mm256_set1_epi8(1);
    *acc = _mm256_dpbusd_avx_epi32(*acc, _mm256_xor_si256(va, bias), vb);
    *bsum = _mm256_dpbusd_avx_epi32(*bsum, ones, vb);
}

static VNNI int32_t dot_i8_avx2_vnni(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        dot_i8_vnni_step(_mm256_loadu_si256((const __m256i *)(a + i)),
                         _mm256_loadu_si256((const __m256i *)(b + i)), &s0, &c0);
        dot_i8_vnni_step(_mm256_loadu_si256((const __m256i *)(a + i + 32)),
                         _mm256_loadu_si256((const __m256i *)(b + i + 32)), &s1, &c1);
    }
    if (i + 32 <= n) {
        dot_i8_vnni_step(_mm256_loadu_si256((const __m256i *)(a + i)),
                         _mm256_loadu_si256((const __m256i *)(b + i)), &s0, &c0);
        i += 32;
    }
    /* sum - 128 * bsum, lane-wise modulo 2^32 */
    __m256i s = _mm256_sub_epi32(_mm256_add_epi32(s0, s1),
                                 _mm256_slli_epi32(_mm256_add_epi32(c0, c1), 7));
    return dot_i8_tail(a, b, i, n, s, _mm256_setzero_si256());
}

/* acc += sum of |a - b|^2 over 32 byte pairs. */
static inline VNNI __m256i sqdiff_i8x32_vnni(__m256i va, __m256i vb, __m256i acc)
{
    const __m256i lo8 = _mm256_set1_epi16(0x00FF);
    __m256i d = _mm256_sub_epi8(_mm256_max_epi8(va, vb), _mm256_min_epi8(va, vb));
    __m256i even = _mm256_and_si256(d, lo8), odd = _mm256_srli_epi16(d, 8);
    acc = _mm256_dpwssd_avx_epi32(acc, even, even);
    return _mm256_dpwssd_avx_epi32(acc, odd, odd);
}

static VNNI int32_t l2sq_i8_avx2_vnni(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = sqdiff_i8x32_vnni(_mm256_loadu_si256((const __m256i *)(a + i)),
                               _mm256_loadu_si256((const __m256i *)(b + i)), s0);
        s1 = sqdiff_i8x32_vnni(_mm256_loadu_si256((const __m256i *)(a + i + 32)),
                               _mm256_loadu_si256((const __m256i *)(b + i + 32)), s1);
    }
    if (i + 32 <= n) {
        s0 = sqdiff_i8x32_vnni(_mm256_loadu_si256((const __m256i *)(a + i)),
                               _mm256_loadu_si256((const __m256i *)(b + i)), s0);
        i += 32;
    }
    return l2sq_i8_tail(a, b, i, n, s0, s1);
}

static inline __m256 load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* The first 2 * lanes(m) halves at p (m from tail_mask4), zeros after:
 * the tail is loaded in whole 32-bit pairs so nothing past them is read;
 * an odd last element is the caller's. */
static inline __m256 load_f16x8_masked(const uint16_t *p, __m128i m)
{
    return _mm256_cvtph_ps(_mm_maskload_epi32((const int *)(const void *)p, m));
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
    float t = 0.f;
    if (i < n) {
        size_t r = n - i, pairs = r / 2; /* r < 8 */
        __m128i m = tail_mask4(pairs);
        s1 = _mm256_fmadd_ps(load_f16x8_masked(a + i, m), load_f16x8_masked(b + i, m), s1);
        if (r & 1)
            t = _cvtsh_ss(a[n - 1]) * _cvtsh_ss(b[n - 1]);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))) + t;
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
    float t = 0.f;
    if (i < n) {
        size_t r = n - i, pairs = r / 2; /* r < 8 */
        __m128i m = tail_mask4(pairs);
        __m256 d = _mm256_sub_ps(load_f16x8_masked(a + i, m), load_f16x8_masked(b + i, m));
        s1 = _mm256_fmadd_ps(d, d, s1);
        if (r & 1) {
            float dd = _cvtsh_ss(a[n - 1]) - _cvtsh_ss(b[n - 1]);
            t = dd * dd;
        }
    }
    return hsum_ps(_mm256_add_ps(s0, s1)) + t;
}

static void f32_to_f16_avx2(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i h0 = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        __m128i h1 = _mm256_cvtps_ph(_mm256_loadu_ps(src + i + 8), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(dst + i), h0);
        _mm_storeu_si128((__m128i *)(dst + i + 8), h1);
    }
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        uint16_t tmp[8];
        __m256 v = _mm256_maskload_ps(src + i, tail_mask(n - i));
        _mm_storeu_si128((__m128i *)tmp, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        memcpy(dst + i, tmp, (n - i) * sizeof(uint16_t));
    }
}

static void f16_to_f32_avx2(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(dst + i, load_f16x8(src + i));
        _mm256_storeu_ps(dst + i + 8, load_f16x8(src + i + 8));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, load_f16x8(src + i));
    if (i < n) {
        size_t r = n - i;
        __m128i m = tail_mask4(r / 2);
        __m256 v = load_f16x8_masked(src + i, m);
        _mm256_maskstore_ps(dst + i, tail_mask(r & ~(size_t)1), v);
        if (r & 1)
            dst[n - 1] = _cvtsh_ss(src[n - 1]);
    }
}

static void scale_f32_avx2(float *dst, const float *src, float s, size_t n)
{
    const __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(src + i), vs);
        __m256 b = _mm256_mul_ps(_mm256_loadu_ps(src + i + 8), vs);
        _mm256_storeu_ps(dst + i, a);
        _mm256_storeu_ps(dst + i + 8, b);
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_loadu_ps(src + i), vs));
    if (i < n) {
        __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(dst + i, m, _mm256_mul_ps(_mm256_maskload_ps(src + i, m), vs));
    }
}

static float maxabs_f32_avx2(const float *x, size_t n)
{
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(m0, _mm256_and_ps(_mm256_loadu_ps(x + i), abs));
        m1 = _mm256_max_ps(m1, _mm256_and_ps(_mm256_loadu_ps(x + i + 8), abs));
    }
    for (; i + 8 <= n; i += 8)
        m0 = _mm256_max_ps(m0, _mm256_and_ps(_mm256_loadu_ps(x + i), abs));
    if (i < n) /* masked-out lanes load as 0, which never raises the max */
        m1 = _mm256_max_ps(m1, _mm256_and_ps(_mm256_maskload_ps(x + i, tail_mask(n - i)), abs));
    m0 = _mm256_max_ps(m0, m1);
    __m128 v = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    v = _mm_max_ps(v, _mm_movehl_ps(v, v));
    v = _mm_max_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

/* round(clamp(v * s)) for 8 floats as 8 int32 lanes (decision 5). */
static inline __m256i quant8(__m256 v, __m256 vs)
{
    const __m256 lo = _mm256_set1_ps(-127.f), hi = _mm256_set1_ps(127.f);
    v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, vs), lo), hi);
    return _mm256_cvtps_epi32(v);
}

static void quant_i8_avx2(int8_t *dst, const float *src, float s, size_t n)
{
    const __m256 vs = _mm256_set1_ps(s);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a = quant8(_mm256_loadu_ps(src + i), vs);
        __m256i b = quant8(_mm256_loadu_ps(src + i + 8), vs);
        __m256i c = quant8(_mm256_loadu_ps(src + i + 16), vs);
        __m256i d = quant8(_mm256_loadu_ps(src + i + 24), vs);
        /* packs work per 128-bit lane: bytes come out in 4-byte groups
         * a0 b0 c0 d0 a1 b1 c1 d1 (x0 = x's first four); vpermd sorts them */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_permutevar8x32_epi32(p, order));
    }
    for (; i < n; i += 8) {
        size_t r = n - i < 8 ? n - i : 8;
        __m256 v = r == 8 ? _mm256_loadu_ps(src + i) : _mm256_maskload_ps(src + i, tail_mask(r));
        __m256i q = quant8(v, vs);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        __m128i b = _mm_packs_epi16(w, w); /* bytes 0..7 in order */
        if (r == 8) {
            _mm_storel_epi64((__m128i *)(void *)(dst + i), b);
        } else {
            int8_t tmp[16];
            _mm_storeu_si128((__m128i *)(void *)tmp, b);
            memcpy(dst + i, tmp, r);
        }
    }
}

/* Hamming (design note 6): byte popcounts by nibble lookup (vpshufb into
 * a 16-entry table, W. Mula's method), so the tier needs no POPCNT
 * instruction and dispatch.c's AVX2 check stays sufficient. */
static inline __m256i popcnt_bytes(__m256i v)
{
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                         2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256i lo = _mm256_and_si256(v, low);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

static inline __m256i xor_load(const uint64_t *a, const uint64_t *b, size_t i)
{
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(a + i)),
                            _mm256_loadu_si256((const __m256i *)(b + i)));
}

uint64_t kernels_hamming_u64_avx2(const uint64_t *a, const uint64_t *b, size_t nwords)
{
    const __m256i zero = _mm256_setzero_si256();
    __m256i acc = zero;
    size_t i = 0;
    /* 8 words per turn: two byte-count vectors (each byte <= 8) add to
     * <= 16 per byte, then vpsadbw folds 8 bytes into each u64 lane. */
    for (; i + 8 <= nwords; i += 8) {
        __m256i c = _mm256_add_epi8(popcnt_bytes(xor_load(a, b, i)),
                                    popcnt_bytes(xor_load(a, b, i + 4)));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(c, zero));
    }
    if (i + 4 <= nwords) {
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcnt_bytes(xor_load(a, b, i)), zero));
        i += 4;
    }
    if (i < nwords) {
        /* 1..3 words: a masked load reads nothing past the end (note 2);
         * masked-out lanes are zero in both, so their xor counts 0. */
        __m256i m = tail_mask(2 * (nwords - i));
        __m256i x = _mm256_xor_si256(_mm256_maskload_epi64((const long long *)(a + i), m),
                                     _mm256_maskload_epi64((const long long *)(b + i), m));
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcnt_bytes(x), zero));
    }
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
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
    .f32_to_f16 = f32_to_f16_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
    .scale_f32 = scale_f32_avx2,
    .maxabs_f32 = maxabs_f32_avx2,
    .quant_i8 = quant_i8_avx2,
    .hamming_u64 = kernels_hamming_u64_avx2,
};

/* The same table with the AVX-VNNI int8 kernels (design note 7); tier and
 * name stay "avx2" (kernels_variant says "avx2+vnni"). */
const kernels kernels_table_avx2_vnni = {
    .tier = KTIER_AVX2,
    .name = "avx2",
    .dot_f32 = dot_f32_avx2,
    .l2sq_f32 = l2sq_f32_avx2,
    .dot_i8 = dot_i8_avx2_vnni,
    .l2sq_i8 = l2sq_i8_avx2_vnni,
    .dot_f16 = dot_f16_avx2,
    .l2sq_f16 = l2sq_f16_avx2,
    .f32_to_f16 = f32_to_f16_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
    .scale_f32 = scale_f32_avx2,
    .maxabs_f32 = maxabs_f32_avx2,
    .quant_i8 = quant_i8_avx2,
    .hamming_u64 = kernels_hamming_u64_avx2,
};
