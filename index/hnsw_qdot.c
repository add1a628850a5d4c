/* hnsw_qdot.c -- query-side int8 scoring for the graph search: the
 * distances from one prepared query to a batch of stored int8 records,
 * or to a float32 index's 4-bit codes (design 4).
 *
 * Design decisions:
 *
 * 1. The query is prepared once per search (hnsw_prepare_query): besides
 *    its int8 codes q_i it keeps qu_i = q_i + 128 as unsigned bytes. With
 *    VNNI's vpdpbusd (unsigned x signed bytes, four products summed into
 *    an int32 lane, no saturation) the dot product is
 *        sum q_i x_i = sum qu_i x_i - 128 sum x_i,
 *    two vpdpbusd per 64 (or 32) bytes of x, the second against a vector
 *    of ones, on two independent accumulator chains. The symmetric avx2
 *    kernel (kernels/avx2.c dot_i8) needs abs, sign, maddubs, madd, add and
 *    a -128 check per 32 bytes, because neither operand is prepared. The
 *    sums wrap modulo 2^32 and the true dot product fits in int32 (|q_i|,
 *    |x_i| <= 128, dim <= 65536), so the result is exact: the same int32
 *    as kernels' dot_i8, and the same graph, byte for byte.
 *    A float32 index's codes carry their sum (hnsw_cmeta, computed once
 *    at insert), so their scorers skip the ones chain: one vpdpbusd per
 *    block instead of two.
 * 2. One call scores all the unvisited neighbours of an expanded node
 *    (up to 2M), not one: the indirect call happens once per expansion,
 *    and the query's first 256 bytes stay in registers across the batch.
 *    The distance 1 - dot * qscale * scale_x is finished here, so the
 *    search loop only compares floats.
 * 3. Tiers: AVX-512 VNNI (zmm, masked tail loads) and AVX-VNNI (ymm, a
 *    scalar tail) in their own functions with target attributes, chosen at
 *    run time by CPUID + XGETBV (the kernels' rule: never gated by -march),
 *    and a portable loop that calls the kernel table's dot_i8. The SIMD
 *    scorers are never wider than the kernel tier: zmm only over the
 *    avx512 tier, AVX-VNNI over avx2 or avx512, so capping the kernels
 *    (SIMCACHE_KERNEL_TIER=avx2, =scalar) caps these too. test_hnsw_qdot
 *    runs every tier this CPU has against the portable one. The 4-bit
 *    scorers (design 4) have AVX-512 VNNI, AVX2 and NEON tiers; one table
 *    (qtiers) holds both kinds per tier, and one rule picks for either.
 * 4. 4-bit codes (hnsw.c design 13). Layout: one 64-byte block per 128
 *    dimensions; byte j of a block holds dimension j in its low nibble
 *    and j + 64 in its high one, each as c + 8 with c in [-7, 7] (padding
 *    nibbles hold 8, i.e. 0). So one 64-byte load and an AND / shift-AND
 *    give two vectors of nibbles that line up with two contiguous 64-byte
 *    runs of the query, with no shuffle. The nibbles are the unsigned
 *    operand of vpdpbusd (or vpmaddubsw, or NEON's widening multiply)
 *    against the int8 query codes: sum (c_i + 8) q_i = q.c + 8 sum q_i,
 *    and sum q_i is computed once per query (qsum), so no per-code sum is
 *    stored. The query buffer is zero-padded to whole blocks, which
 *    cancels whatever the padding nibbles hold. hnsw_pack4 picks, among
 *    clipping points at 1, 0.85, 0.7, 0.55 and 0.4 of max |v_i|, the one
 *    whose codes reconstruct v best with the least-squares scale
 *    s = v.c / c.c (dense vectors clip, sparse ones do not); a fixed clip
 *    at 2.5 standard deviations shrank a short prompt's few large
 *    components and ranked its entry low (the code scan's r@1 on the
 *    paraphrases fell to 0.999), and a plain max |v_i| / 7 wastes levels
 *    on dense vectors.
 * This could move to kernels/ as a table entry (a batch u8 x i8 dot over
 * strided records) now that the avx512 tier exists there; it lives here
 * because the index owns the record layout it walks. */
#include <math.h>
#include <string.h>

#include "index/hnsw_int.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define QDOT_X86 1
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define QDOT_NEON 1
#endif

/* The scale of record r (slot id): from the meta array (a float32
 * index's codes, whose records are the codes alone, so a 256-byte code
 * is 4 cache lines, not 5) or the record's first float (I8 storage). */
static inline float record_scale(const hnsw_qscore_args *a, const uint8_t *r, uint32_t id)
{
    float sc;
    if (a->meta)
        return a->meta[id].scale;
    memcpy(&sc, r, sizeof(sc));
    return sc;
}

/* The int8 codes of record r: the record itself with a meta array, else
 * after its scale. */
static inline const int8_t *record_codes(const hnsw_qscore_args *a, const uint8_t *r)
{
    return (const int8_t *)(a->meta ? r : r + sizeof(float));
}

/* The portable scorer: the kernel table's symmetric dot (c->qi). */
static void qscore_generic(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m,
                           float *out)
{
    for (uint32_t i = 0; i < m; i++) {
        const uint8_t *r = a->base + (size_t)ids[i] * a->rec + a->voff;
        int32_t dot = a->dot_i8(a->qi, record_codes(a, r), a->dim);
        float sc = record_scale(a, r, ids[i]);
        out[i] = 1.0f - (float)dot * a->qscale * sc;
    }
}

#ifdef QDOT_X86
/* pre: the records' code sums come from a->meta (no second dpbusd chain
 * against ones); the two instances are qscore_avx512's. */
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline void
qscore_avx512_body(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m, float *out,
                   const int pre)
{
    const size_t dim = a->dim, full = dim & ~(size_t)63;
    const __mmask64 tail = dim & 63 ? (__mmask64)(~0ULL >> (64 - (dim & 63))) : 0;
    const __m512i ones = _mm512_set1_epi8(1);
    const uint8_t *qu = a->qu;
    /* The first four query blocks (256 bytes, d <= 256 whole) in registers. */
    const __m512i q0 = dim >= 64 ? _mm512_loadu_si512(qu) : _mm512_setzero_si512();
    const __m512i q1 = dim >= 128 ? _mm512_loadu_si512(qu + 64) : _mm512_setzero_si512();
    const __m512i q2 = dim >= 192 ? _mm512_loadu_si512(qu + 128) : _mm512_setzero_si512();
    const __m512i q3 = dim >= 256 ? _mm512_loadu_si512(qu + 192) : _mm512_setzero_si512();
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *r = a->base + (size_t)ids[k] * a->rec + a->voff;
        const int8_t *x = record_codes(a, r);
        __m512i s = _mm512_setzero_si512(), t = _mm512_setzero_si512();
        size_t i = 0;
        float sc;
        if (full >= 256) {
            __m512i x0 = _mm512_loadu_si512(x), x1 = _mm512_loadu_si512(x + 64);
            __m512i x2 = _mm512_loadu_si512(x + 128), x3 = _mm512_loadu_si512(x + 192);
            s = _mm512_dpbusd_epi32(s, q0, x0);
            if (!pre)
                t = _mm512_dpbusd_epi32(t, ones, x0);
            s = _mm512_dpbusd_epi32(s, q1, x1);
            if (!pre)
                t = _mm512_dpbusd_epi32(t, ones, x1);
            s = _mm512_dpbusd_epi32(s, q2, x2);
            if (!pre)
                t = _mm512_dpbusd_epi32(t, ones, x2);
            s = _mm512_dpbusd_epi32(s, q3, x3);
            if (!pre)
                t = _mm512_dpbusd_epi32(t, ones, x3);
            i = 256;
        }
        for (; i < full; i += 64) {
            __m512i xv = _mm512_loadu_si512(x + i);
            s = _mm512_dpbusd_epi32(s, _mm512_loadu_si512(qu + i), xv);
            if (!pre)
                t = _mm512_dpbusd_epi32(t, ones, xv);
        }
        if (tail) {
            __m512i xv = _mm512_maskz_loadu_epi8(tail, x + i);
            s = _mm512_dpbusd_epi32(s, _mm512_maskz_loadu_epi8(tail, qu + i), xv);
            if (!pre)
                t = _mm512_dpbusd_epi32(t, ones, xv);
        }
        if (pre) {
            uint32_t dot = (uint32_t)_mm512_reduce_add_epi32(s) -
                           ((uint32_t)a->meta[ids[k]].sum << 7);
            out[k] = 1.0f - (float)(int32_t)dot * a->qscale * a->meta[ids[k]].scale;
            continue;
        }
        s = _mm512_sub_epi32(s, _mm512_slli_epi32(t, 7));
        sc = record_scale(a, r, ids[k]);
        out[k] = 1.0f - (float)_mm512_reduce_add_epi32(s) * a->qscale * sc;
    }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
qscore_avx512(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m, float *out)
{
    if (a->meta)
        qscore_avx512_body(a, ids, m, out, 1);
    else
        qscore_avx512_body(a, ids, m, out, 0);
}

/* pre as in qscore_avx512_body. */
__attribute__((target("avx2,avxvnni"), always_inline)) static inline void
qscore_avxvnni_body(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m, float *out,
                    const int pre)
{
    const size_t dim = a->dim, full = dim & ~(size_t)31;
    const __m256i ones = _mm256_set1_epi8(1);
    const uint8_t *qu = a->qu;
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *r = a->base + (size_t)ids[k] * a->rec + a->voff;
        const int8_t *x = record_codes(a, r);
        __m256i s0 = _mm256_setzero_si256(), t0 = _mm256_setzero_si256();
        __m256i s1 = _mm256_setzero_si256(), t1 = _mm256_setzero_si256();
        size_t i = 0;
        uint32_t acc;
        __m128i h;
        float sc;
        for (; i + 64 <= full; i += 64) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + i + 32));
            s0 = _mm256_dpbusd_avx_epi32(s0, _mm256_loadu_si256((const __m256i *)(qu + i)), x0);
            if (!pre)
                t0 = _mm256_dpbusd_avx_epi32(t0, ones, x0);
            s1 = _mm256_dpbusd_avx_epi32(s1, _mm256_loadu_si256((const __m256i *)(qu + i + 32)),
                                         x1);
            if (!pre)
                t1 = _mm256_dpbusd_avx_epi32(t1, ones, x1);
        }
        if (i < full) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
            s0 = _mm256_dpbusd_avx_epi32(s0, _mm256_loadu_si256((const __m256i *)(qu + i)), x0);
            if (!pre)
                t0 = _mm256_dpbusd_avx_epi32(t0, ones, x0);
            i += 32;
        }
        if (pre)
            s0 = _mm256_add_epi32(s0, s1);
        else
            s0 = _mm256_sub_epi32(_mm256_add_epi32(s0, s1),
                                  _mm256_slli_epi32(_mm256_add_epi32(t0, t1), 7));
        h = _mm_add_epi32(_mm256_castsi256_si128(s0), _mm256_extracti128_si256(s0, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        acc = (uint32_t)_mm_cvtsi128_si32(h);
        if (pre) { /* the tail unsigned too: the sum covers every code */
            for (; i < dim; i++)
                acc += (uint32_t)((int32_t)qu[i] * x[i]);
            acc -= (uint32_t)a->meta[ids[k]].sum << 7;
        }
        for (; i < dim; i++) /* qu - 128 == q */
            acc += (uint32_t)(((int32_t)qu[i] - 128) * x[i]);
        sc = record_scale(a, r, ids[k]);
        out[k] = 1.0f - (float)(int32_t)acc * a->qscale * sc;
    }
}

__attribute__((target("avx2,avxvnni"))) static void
qscore_avxvnni(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m, float *out)
{
    if (a->meta)
        qscore_avxvnni_body(a, ids, m, out, 1);
    else
        qscore_avxvnni_body(a, ids, m, out, 0);
}

static int os_saves(unsigned mask)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & mask) == mask;
}

static int cpu_has_avx512vnni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return 0;
    if (!os_saves(0xE6u)) /* XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 16)) && (b & (1u << 30)) && (c & (1u << 11)); /* F, BW, VNNI */
}

static int cpu_has_avx2(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !os_saves(6u))
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 5)) != 0;
}

static int cpu_has_avxvnni(void)
{
    unsigned a, b, c, d;
    if (!cpu_has_avx2())
        return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a & (1u << 4)) != 0; /* AVX-VNNI */
}
#endif

/* ------------------------------------------------------ 4-bit codes */

/* The 4-bit code of v[i] at step 1 / inv: round to nearest, clipped to
 * [-7, 7]. */
static inline int code4_of(float v, float inv)
{
    float t = v * inv;
    t = t > 7.0f ? 7.0f : t < -7.0f ? -7.0f : t;
    return (int)lrintf(t);
}

/* Design 4: among clipping points at these fractions of max |v_i|, the
 * one whose codes c reconstruct v best (least ||v - s c|| with the
 * least-squares scale s = v.c / c.c); s is the code's scale. */
static const float code4_clip[] = {1.0f, 0.85f, 0.7f, 0.55f, 0.4f};

void hnsw_pack4(uint8_t *dst, const float *v, uint32_t dim, float *scale)
{
    float maxabs = 0, best_inv = 0;
    double best_err = 0, best_scale = 0, vv = 0;
    memset(dst, 0x88, HNSW_CODE4_BYTES(dim)); /* every nibble 0 (+8) */
    for (uint32_t i = 0; i < dim; i++) {
        float a = fabsf(v[i]);
        if (a > maxabs)
            maxabs = a;
        vv += (double)v[i] * v[i];
    }
    *scale = 0;
    if (!(maxabs > 0)) /* zero vector: never stored, inserts refuse it */
        return;
    for (size_t t = 0; t < sizeof(code4_clip) / sizeof(code4_clip[0]); t++) {
        float inv = 7.0f / (maxabs * code4_clip[t]);
        double vc = 0, cc = 0, err;
        for (uint32_t i = 0; i < dim; i++) {
            int c = code4_of(v[i], inv);
            vc += (double)v[i] * c;
            cc += (double)c * c;
        }
        if (!(cc > 0))
            continue;
        err = vv - vc * vc / cc;
        if (!best_inv || err < best_err) {
            best_err = err;
            best_inv = inv;
            best_scale = vc / cc;
        }
    }
    if (!best_inv)
        return;
    *scale = (float)best_scale;
    for (uint32_t i = 0; i < dim; i++) {
        uint8_t *b = dst + (i / 128u) * 64u + i % 64u;
        unsigned u = (unsigned)(code4_of(v[i], best_inv) + 8);
        *b = i % 128u < 64u ? (uint8_t)((*b & 0xF0u) | u) : (uint8_t)((*b & 0x0Fu) | u << 4);
    }
}

/* Finishes a 4-bit distance: dot is sum (c_i + 8) q_i. */
static inline float code4_dist(const hnsw_qscore_args *a, int32_t dot, uint32_t id)
{
    dot = (int32_t)((uint32_t)dot - ((uint32_t)a->qsum << 3));
    return 1.0f - (float)dot * a->qscale * a->meta[id].scale;
}

static void qscore4_generic(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m,
                            float *out)
{
    const size_t dims = HNSW_CODE4_DIMS(a->dim);
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *x = a->base + (size_t)ids[k] * a->rec;
        int32_t dot = 0;
        for (size_t b = 0; b < dims; b += 128, x += 64) {
            const int8_t *q = a->qi + b;
            for (size_t j = 0; j < 64; j++)
                dot += (x[j] & 15) * q[j] + (x[j] >> 4) * q[j + 64];
        }
        out[k] = code4_dist(a, dot, ids[k]);
    }
}

#ifdef QDOT_X86
/* One 64-byte block: its low nibbles against ql, its high against qh. */
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) static inline __m512i
block4_avx512(__m512i s, __m512i x, __m512i ql, __m512i qh)
{
    const __m512i lo4 = _mm512_set1_epi8(0x0F);
    s = _mm512_dpbusd_epi32(s, _mm512_and_si512(x, lo4), ql);
    return _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(x, 4), lo4), qh);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void
qscore4_avx512(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m, float *out)
{
    const size_t nb = HNSW_CODE4_DIMS(a->dim) / 128;
    const int8_t *q = a->qi;
    /* The first two blocks' query (d <= 256 whole) in registers. */
    const __m512i q0 = _mm512_loadu_si512(q), q1 = _mm512_loadu_si512(q + 64);
    const __m512i q2 = nb > 1 ? _mm512_loadu_si512(q + 128) : _mm512_setzero_si512();
    const __m512i q3 = nb > 1 ? _mm512_loadu_si512(q + 192) : _mm512_setzero_si512();
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *x = a->base + (size_t)ids[k] * a->rec;
        __m512i s = block4_avx512(_mm512_setzero_si512(), _mm512_loadu_si512(x), q0, q1);
        if (nb > 1)
            s = block4_avx512(s, _mm512_loadu_si512(x + 64), q2, q3);
        for (size_t b = 2; b < nb; b++)
            s = block4_avx512(s, _mm512_loadu_si512(x + 64 * b), _mm512_loadu_si512(q + 128 * b),
                              _mm512_loadu_si512(q + 128 * b + 64));
        out[k] = code4_dist(a, _mm512_reduce_add_epi32(s), ids[k]);
    }
}

/* AVX2: vpmaddubsw (nibble x query byte, adjacent pairs summed to int16:
 * at most 2 * 15 * 128, so the low and high halves' pair sums add without
 * saturating) and vpmaddwd against ones to int32. */
__attribute__((target("avx2"))) static void
qscore4_avx2(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m, float *out)
{
    const size_t dims = HNSW_CODE4_DIMS(a->dim);
    const __m256i lo4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *x = a->base + (size_t)ids[k] * a->rec;
        __m256i s = _mm256_setzero_si256();
        __m128i h;
        for (size_t b = 0; b < dims; b += 128, x += 64) {
            const int8_t *q = a->qi + b;
            for (size_t j = 0; j < 64; j += 32) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x + j));
                __m256i p = _mm256_maddubs_epi16(_mm256_and_si256(xv, lo4),
                                                 _mm256_loadu_si256((const __m256i *)(q + j)));
                p = _mm256_add_epi16(
                    p, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(xv, 4), lo4),
                                            _mm256_loadu_si256((const __m256i *)(q + 64 + j))));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
            }
        }
        h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4E));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xB1));
        out[k] = code4_dist(a, _mm_cvtsi128_si32(h), ids[k]);
    }
}
#endif

#ifdef QDOT_NEON
/* NEON: widening multiplies (|product| <= 15 * 128, two summed per int16
 * lane) accumulated pairwise into int32. */
static void qscore4_neon(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m, float *out)
{
    const size_t dims = HNSW_CODE4_DIMS(a->dim);
    const uint8x16_t lo4 = vdupq_n_u8(0x0F);
    for (uint32_t k = 0; k < m; k++) {
        const uint8_t *x = a->base + (size_t)ids[k] * a->rec;
        int32x4_t s = vdupq_n_s32(0);
        for (size_t b = 0; b < dims; b += 128, x += 64) {
            const int8_t *q = a->qi + b;
            for (size_t j = 0; j < 64; j += 16) {
                uint8x16_t xv = vld1q_u8(x + j);
                int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(xv, lo4));
                int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(xv, 4));
                int8x16_t ql = vld1q_s8(q + j), qh = vld1q_s8(q + 64 + j);
                int16x8_t p0 = vmlal_s8(vmull_s8(vget_low_s8(lo), vget_low_s8(ql)),
                                        vget_low_s8(hi), vget_low_s8(qh));
                int16x8_t p1 = vmlal_high_s8(vmull_high_s8(lo, ql), hi, qh);
                s = vpadalq_s16(vpadalq_s16(s, p0), p1);
            }
        }
        out[k] = code4_dist(a, vaddvq_s32(s), ids[k]);
    }
}
#endif

/* ------------------------------------------------------- tier tables */

/* Per scorer tier: its int8 and 4-bit scorers (NULL where the tier has
 * none) and the CPU check it needs. */
typedef struct qtier {
    hnsw_qscore_fn i8, i4;
    int (*cpu)(void);
} qtier;

static int cpu_any(void)
{
    return 1;
}

static const qtier qtiers[HNSW_QSCORE_COUNT] = {
    [HNSW_QSCORE_GENERIC] = {qscore_generic, qscore4_generic, cpu_any},
#ifdef QDOT_X86
    [HNSW_QSCORE_AVX512VNNI] = {qscore_avx512, qscore4_avx512, cpu_has_avx512vnni},
    [HNSW_QSCORE_AVXVNNI] = {qscore_avxvnni, NULL, cpu_has_avxvnni},
    [HNSW_QSCORE_AVX2] = {NULL, qscore4_avx2, cpu_has_avx2},
#endif
#ifdef QDOT_NEON
    [HNSW_QSCORE_NEON] = {NULL, qscore4_neon, cpu_any},
#endif
};

static hnsw_qscore_fn tier_fn(hnsw_qscore_tier_id t, int four)
{
    hnsw_qscore_fn f;
    if ((unsigned)t >= HNSW_QSCORE_COUNT || !qtiers[t].cpu)
        return NULL;
    f = four ? qtiers[t].i4 : qtiers[t].i8;
    return f && qtiers[t].cpu() ? f : NULL;
}

/* The best scorer no wider than kernel tier k (design 3): zmm only over
 * avx512, ymm over avx2 or avx512, NEON over neon; else generic. */
static hnsw_qscore_fn select_fn(const kernels *k, int four)
{
    static const hnsw_qscore_tier_id best_first[] = {HNSW_QSCORE_AVX512VNNI, HNSW_QSCORE_AVXVNNI,
                                                     HNSW_QSCORE_AVX2, HNSW_QSCORE_NEON};
    for (size_t i = 0; k && i < sizeof best_first / sizeof best_first[0]; i++) {
        hnsw_qscore_tier_id t = best_first[i];
        int fits = t == HNSW_QSCORE_AVX512VNNI ? k->tier == KTIER_AVX512
                   : t == HNSW_QSCORE_NEON     ? k->tier == KTIER_NEON
                                               : k->tier == KTIER_AVX512 || k->tier == KTIER_AVX2;
        hnsw_qscore_fn f = fits ? tier_fn(t, four) : NULL;
        if (f)
            return f;
    }
    return tier_fn(HNSW_QSCORE_GENERIC, four);
}

hnsw_qscore_fn hnsw_qscore_tier(hnsw_qscore_tier_id t)
{
    return tier_fn(t, 0);
}

hnsw_qscore_fn hnsw_qscore_select(const kernels *k)
{
    return select_fn(k, 0);
}

hnsw_qscore_fn hnsw_qscore4_tier(hnsw_qscore_tier_id t)
{
    return tier_fn(t, 1);
}

hnsw_qscore_fn hnsw_qscore4_select(const kernels *k)
{
    return select_fn(k, 1);
}
