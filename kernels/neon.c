/* neon.c -- the AArch64 tier: Advanced SIMD (baseline on AArch64, so no
 * flags and no run-time check). Compiled only for aarch64 targets.
 *
 * Design decisions:
 * 1. Float kernels keep four 4-lane accumulators (16 elements per loop
 *    turn) so the FMLA latency (4 cycles on Neoverse/Cortex-A7x) overlaps;
 *    the tail is scalar and folded into the same sum.
 * 2. int8: SMULL/SMULL2 give exact int16 products (|a b| <= 16384), SADALP
 *    adds adjacent pairs into int32 lanes (wrapping, like the other tiers).
 *    l2: SSUBL gives exact int16 differences (|d| <= 255), SMLAL squares
 *    them into int32. SDOT would be faster but is optional before
 *    Armv8.4 (dotprod), so it stays out of the baseline tier.
 * 3. float16 decodes with FCVTL (vcvt_f32_f16), part of baseline AArch64
 *    and exact; the arithmetic is then float32.
 * 4. Vector preparation: FCVTN (vcvt_f16_f32) encodes float16, rounding by
 *    FPCR (nearest even by default; Linux starts processes with FZ and DN
 *    clear, so subnormal results are kept and NaN payloads propagate);
 *    quant_i8 clamps with FMAX/FMIN, then FCVTNS
 *    (vcvtnq_s32_f32: to nearest, ties to even, whatever FPCR says) and
 *    two saturating narrows. Tails (n % 8) go element by element through
 *    the portable encoder, or the same instructions on one lane group. */
#include <arm_neon.h>

#include "kernels/kernels_impl.h"

static float dot_f32_neon(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float l2sq_f32_neon(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
        s2 = vfmaq_f32(s2, d2, d2);
        s3 = vfmaq_f32(s3, d3, d3);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        s0 = vfmaq_f32(s0, d, d);
    }
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

static int32_t dot_i8_neon(const int8_t *a, const int8_t *b, size_t n)
{
    int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
        s0 = vpadalq_s16(s0, vmull_s8(vget_low_s8(va), vget_low_s8(vb)));
        s1 = vpadalq_s16(s1, vmull_high_s8(va, vb));
    }
    uint32_t s = (uint32_t)vaddvq_s32(vaddq_s32(s0, s1));
    for (; i < n; i++)
        s += (uint32_t)(a[i] * b[i]);
    int32_t r;
    memcpy(&r, &s, 4);
    return r;
}

static int32_t l2sq_i8_neon(const int8_t *a, const int8_t *b, size_t n)
{
    int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
        int16x8_t dl = vsubl_s8(vget_low_s8(va), vget_low_s8(vb));
        int16x8_t dh = vsubl_high_s8(va, vb);
        s0 = vmlal_s16(s0, vget_low_s16(dl), vget_low_s16(dl));
        s1 = vmlal_high_s16(s1, dl, dl);
        s0 = vmlal_s16(s0, vget_low_s16(dh), vget_low_s16(dh));
        s1 = vmlal_high_s16(s1, dh, dh);
    }
    uint32_t s = (uint32_t)vaddvq_s32(vaddq_s32(s0, s1));
    for (; i < n; i++) {
        int d = a[i] - b[i];
        s += (uint32_t)(d * d);
    }
    int32_t r;
    memcpy(&r, &s, 4);
    return r;
}

static inline float32x4_t load_f16x4(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static float dot_f16_neon(const uint16_t *a, const uint16_t *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, load_f16x4(a + i), load_f16x4(b + i));
        s1 = vfmaq_f32(s1, load_f16x4(a + i + 4), load_f16x4(b + i + 4));
        s2 = vfmaq_f32(s2, load_f16x4(a + i + 8), load_f16x4(b + i + 8));
        s3 = vfmaq_f32(s3, load_f16x4(a + i + 12), load_f16x4(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, load_f16x4(a + i), load_f16x4(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += kern_f16_to_f32(a[i]) * kern_f16_to_f32(b[i]);
    return s;
}

static float l2sq_f16_neon(const uint16_t *a, const uint16_t *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t d0 = vsubq_f32(load_f16x4(a + i), load_f16x4(b + i));
        float32x4_t d1 = vsubq_f32(load_f16x4(a + i + 4), load_f16x4(b + i + 4));
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(load_f16x4(a + i), load_f16x4(b + i));
        s0 = vfmaq_f32(s0, d, d);
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) {
        float d = kern_f16_to_f32(a[i]) - kern_f16_to_f32(b[i]);
        s += d * d;
    }
    return s;
}

static void f32_to_f16_neon(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float16x4_t h0 = vcvt_f16_f32(vld1q_f32(src + i));
        float16x4_t h1 = vcvt_f16_f32(vld1q_f32(src + i + 4));
        vst1_u16(dst + i, vreinterpret_u16_f16(h0));
        vst1_u16(dst + i + 4, vreinterpret_u16_f16(h1));
    }
    for (; i + 4 <= n; i += 4)
        vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++)
        dst[i] = kernels_f32_to_f16(src[i]);
}

static void f16_to_f32_neon(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(dst + i, load_f16x4(src + i));
        vst1q_f32(dst + i + 4, load_f16x4(src + i + 4));
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, load_f16x4(src + i));
    for (; i < n; i++)
        dst[i] = kern_f16_to_f32(src[i]);
}

static void scale_f32_neon(float *dst, const float *src, float s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t a = vmulq_n_f32(vld1q_f32(src + i), s);
        float32x4_t b = vmulq_n_f32(vld1q_f32(src + i + 4), s);
        vst1q_f32(dst + i, a);
        vst1q_f32(dst + i + 4, b);
    }
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vmulq_n_f32(vld1q_f32(src + i), s));
    for (; i < n; i++)
        dst[i] = src[i] * s;
}

static float maxabs_f32_neon(const float *x, size_t n)
{
    float32x4_t m0 = vdupq_n_f32(0), m1 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        m0 = vmaxq_f32(m0, vabsq_f32(vld1q_f32(x + i)));
        m1 = vmaxq_f32(m1, vabsq_f32(vld1q_f32(x + i + 4)));
    }
    for (; i + 4 <= n; i += 4)
        m0 = vmaxq_f32(m0, vabsq_f32(vld1q_f32(x + i)));
    float m = vmaxvq_f32(vmaxq_f32(m0, m1));
    for (; i < n; i++) {
        float a = x[i] < 0 ? -x[i] : x[i];
        m = a > m ? a : m;
    }
    return m;
}

/* round(clamp(v * s)) for 4 floats as 4 int32 lanes (decision 4). */
static inline int32x4_t quant4(float32x4_t v, float s)
{
    v = vminq_f32(vmaxq_f32(vmulq_n_f32(v, s), vdupq_n_f32(-127.f)), vdupq_n_f32(127.f));
    return vcvtnq_s32_f32(v);
}

static void quant_i8_neon(int8_t *dst, const float *src, float s, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        int16x8_t lo = vcombine_s16(vqmovn_s32(quant4(vld1q_f32(src + i), s)),
                                    vqmovn_s32(quant4(vld1q_f32(src + i + 4), s)));
        int16x8_t hi = vcombine_s16(vqmovn_s32(quant4(vld1q_f32(src + i + 8), s)),
                                    vqmovn_s32(quant4(vld1q_f32(src + i + 12), s)));
        vst1q_s8(dst + i, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
    }
    for (; i + 4 <= n; i += 4) {
        int32x4_t q = quant4(vld1q_f32(src + i), s);
        dst[i] = (int8_t)vgetq_lane_s32(q, 0);
        dst[i + 1] = (int8_t)vgetq_lane_s32(q, 1);
        dst[i + 2] = (int8_t)vgetq_lane_s32(q, 2);
        dst[i + 3] = (int8_t)vgetq_lane_s32(q, 3);
    }
    for (; i < n; i++) {
        float32x4_t v = vdupq_n_f32(src[i]);
        dst[i] = (int8_t)vgetq_lane_s32(quant4(v, s), 0);
    }
}

/* Hamming: CNT (vcntq_u8) per 16 bytes, UADALP into u16 lanes (each turn
 * adds <= 16 per lane, so 2048 turns cannot wrap), widened into u64 every
 * block; a last odd word goes through the 8-byte CNT. */
static uint64_t hamming_u64_neon(const uint64_t *a, const uint64_t *b, size_t nwords)
{
    const uint8_t *pa = (const uint8_t *)a, *pb = (const uint8_t *)b;
    uint64x2_t acc = vdupq_n_u64(0);
    size_t i = 0;
    while (i + 2 <= nwords) {
        size_t stop = nwords - i > 4096 ? i + 4096 : nwords;
        uint16x8_t s16 = vdupq_n_u16(0);
        for (; i + 2 <= stop; i += 2) {
            uint8x16_t x = veorq_u8(vld1q_u8(pa + 8 * i), vld1q_u8(pb + 8 * i));
            s16 = vpadalq_u8(s16, vcntq_u8(x));
        }
        acc = vpadalq_u32(acc, vpaddlq_u16(s16));
    }
    uint64_t s = vaddvq_u64(acc);
    if (i < nwords) {
        uint8x8_t x = veor_u8(vld1_u8(pa + 8 * i), vld1_u8(pb + 8 * i));
        s += vaddv_u8(vcnt_u8(x));
    }
    return s;
}

const kernels kernels_table_neon = {
    .tier = KTIER_NEON,
    .name = "neon",
    .dot_f32 = dot_f32_neon,
    .l2sq_f32 = l2sq_f32_neon,
    .dot_i8 = dot_i8_neon,
    .l2sq_i8 = l2sq_i8_neon,
    .dot_f16 = dot_f16_neon,
    .l2sq_f16 = l2sq_f16_neon,
    .f32_to_f16 = f32_to_f16_neon,
    .f16_to_f32 = f16_to_f32_neon,
    .scale_f32 = scale_f32_neon,
    .maxabs_f32 = maxabs_f32_neon,
    .quant_i8 = quant_i8_neon,
    .hamming_u64 = hamming_u64_neon,
};
