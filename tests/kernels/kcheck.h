/* kcheck.h -- the kernel checks shared by the plain-C tier test
 * (tests/kernels/kernel_tiers.c, also cross-built for AArch64 and run
 * under qemu) and the Criterion suite (tests/unit/test_kernels.c).
 *
 * Each check compares one tier against the ref tier and counts a pass or a
 * failure in a kcheck; failures are printed to stderr with the kernel,
 * dimension and offsets, and the first is kept for the Criterion message.
 *
 * Tolerance (the bound the tests enforce, as promised in kernels.h): for n
 * terms with S = sum |a_i b_i| (dot) or S = sum (a_i - b_i)^2 (l2),
 *     |tier - ref| <= (n + 4) * FLT_EPSILON * S.
 * Why: any order of float summation of n terms errs by at most
 * gamma_n = n u / (1 - n u) times S, u = FLT_EPSILON / 2 (Higham, Accuracy
 * and Stability, 4.2); FMA only removes product roundings; a k-accumulator
 * scheme sums n/k + log2 k terms per chain, fewer than n. l2 adds one
 * rounding of each difference (relative u, so 2u on its square). ref errs by
 * at most n 2^-53 S + u |result|. (n + 4) * 2u covers all of this with a
 * factor ~2 to spare, and is still tight enough to catch a dropped or
 * doubled element (which shifts the result by a whole term). int8 results
 * must be equal, and equal modulo 2^32 past the int32 range. */
#ifndef SIMCACHE_KCHECK_H
#define SIMCACHE_KCHECK_H

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

typedef struct kcheck {
    int passed;
    int failed;
    char first[256];    /* first failure message, "" if none */
} kcheck;

static const size_t kc_dims[] = {0, 1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 384, 768, 1536, 3072};
#define KC_NDIMS (sizeof kc_dims / sizeof kc_dims[0])

static inline void kc_result(kcheck *c, int ok, const char *fmt, ...)
{
    if (ok) {
        c->passed++;
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->failed++ == 0)
        snprintf(c->first, sizeof c->first, "%s", msg);
    fprintf(stderr, "FAIL: %s\n", msg);
}

/* Exactly `size` bytes (at least 1), so ASan flags a read one past the end
 * of a vector. Test data is small; allocation failure ends the test. */
static inline void *kc_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* splitmix64: a seeded, portable generator so x86 and qemu see the same data. */
static inline uint64_t kc_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1), with an occasional large or tiny value so the sums
 * mix magnitudes (and cancel: signs are random). */
static inline float kc_float(uint64_t *s)
{
    uint64_t r = kc_next(s);
    float f = (float)(r >> 40) * 0x1p-23f - 1.0f;
    switch (r & 15) {
    case 0: return f * 1000.0f;
    case 1: return f * 1e-3f;
    default: return f;
    }
}

/* A finite binary16 bit pattern with exponent field 0..20 (subnormals
 * included, magnitudes below 64), random sign and mantissa. */
static inline uint16_t kc_half(uint64_t *s)
{
    uint64_t r = kc_next(s);
    uint16_t exp = (uint16_t)((r >> 16) % 21);
    return (uint16_t)((r & 0x8000u) | (exp << 10) | (r & 0x3FFu));
}

static inline uint32_t kc_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

typedef enum { KC_DOT, KC_L2 } kc_op;

static inline int kc_close(float got, float want, double S, size_t n)
{
    if (!isfinite(got) || !isfinite(want))
        return 0;
    double tol = (double)(n + 4) * FLT_EPSILON * S;
    return fabs((double)got - (double)want) <= tol;
}

static inline double kc_mag_f32(kc_op op, const float *a, const float *b, size_t n)
{
    double S = 0;
    for (size_t i = 0; i < n; i++) {
        double d = op == KC_DOT ? fabs((double)a[i] * b[i])
                                : ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        S += d;
    }
    return S;
}

/* float32 dot and l2 at every dim, pointers offset by 0..3 elements
 * independently (so at most one of them is 32-byte aligned), buffers
 * allocated to the exact end so ASan catches a read past n. */
static inline void kc_check_f32(kcheck *c, const kernels *k, uint64_t seed)
{
    const kernels *ref = kernels_tier(KTIER_REF);
    for (size_t di = 0; di < KC_NDIMS; di++) {
        size_t n = kc_dims[di];
        for (size_t oa = 0; oa < 4; oa++) {
            for (size_t ob = 0; ob < 4; ob++) {
                float *ba = kc_alloc((oa + n) * sizeof(float));
                float *bb = kc_alloc((ob + n) * sizeof(float));
                float *a = ba + oa, *b = bb + ob;
                for (size_t i = 0; i < n; i++) {
                    a[i] = kc_float(&seed);
                    b[i] = kc_float(&seed);
                }
                float got = k->dot_f32(a, b, n), want = ref->dot_f32(a, b, n);
                kc_result(c, kc_close(got, want, kc_mag_f32(KC_DOT, a, b, n), n),
                          "%s dot_f32 n=%zu off=%zu/%zu: got %.9g want %.9g", k->name, n, oa,
                          ob, got, want);
                got = k->l2sq_f32(a, b, n);
                want = ref->l2sq_f32(a, b, n);
                kc_result(c, kc_close(got, want, kc_mag_f32(KC_L2, a, b, n), n),
                          "%s l2sq_f32 n=%zu off=%zu/%zu: got %.9g want %.9g", k->name, n, oa,
                          ob, got, want);
                free(ba);
                free(bb);
            }
        }
    }
}

static inline void kc_check_f16(kcheck *c, const kernels *k, uint64_t seed)
{
    const kernels *ref = kernels_tier(KTIER_REF);
    for (size_t di = 0; di < KC_NDIMS; di++) {
        size_t n = kc_dims[di];
        for (size_t oa = 0; oa < 4; oa++) {
            for (size_t ob = 0; ob < 4; ob += 3) {
                uint16_t *ba = kc_alloc((oa + n) * sizeof(uint16_t));
                uint16_t *bb = kc_alloc((ob + n) * sizeof(uint16_t));
                uint16_t *a = ba + oa, *b = bb + ob;
                float *fa = kc_alloc(n * sizeof(float)), *fb = kc_alloc(n * sizeof(float));
                for (size_t i = 0; i < n; i++) {
                    a[i] = kc_half(&seed);
                    b[i] = kc_half(&seed);
                }
                kernels_f16_to_f32_n(fa, a, n);
                kernels_f16_to_f32_n(fb, b, n);
                float got = k->dot_f16(a, b, n), want = ref->dot_f16(a, b, n);
                kc_result(c, kc_close(got, want, kc_mag_f32(KC_DOT, fa, fb, n), n),
                          "%s dot_f16 n=%zu off=%zu/%zu: got %.9g want %.9g", k->name, n, oa,
                          ob, got, want);
                got = k->l2sq_f16(a, b, n);
                want = ref->l2sq_f16(a, b, n);
                kc_result(c, kc_close(got, want, kc_mag_f32(KC_L2, fa, fb, n), n),
                          "%s l2sq_f16 n=%zu off=%zu/%zu: got %.9g want %.9g", k->name, n, oa,
                          ob, got, want);
                free(ba);
                free(bb);
                free(fa);
                free(fb);
            }
        }
    }
}

/* Fills an int8 vector: mode 0 random over the full range, 1 all -128
 * (the case vpmaddubsw tricks get wrong), 2 alternating -128/127, 3 random
 * in [-127, 127] (symmetric quantisation: avx2's vpmaddubsw fast path). */
static inline void kc_fill_i8(int8_t *v, size_t n, int mode, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) {
        if (mode == 0)
            v[i] = (int8_t)(kc_next(s) & 0xFF);
        else if (mode == 1)
            v[i] = -128;
        else if (mode == 3)
            v[i] = (int8_t)((int)(kc_next(s) % 255) - 127);
        else
            v[i] = (int8_t)((i & 1) ? 127 : -128);
    }
}

static inline void kc_check_i8(kcheck *c, const kernels *k, uint64_t seed)
{
    const kernels *ref = kernels_tier(KTIER_REF);
    for (size_t di = 0; di < KC_NDIMS; di++) {
        size_t n = kc_dims[di];
        for (int mode = 0; mode < 4; mode++) {
            for (size_t oa = 0; oa < 4; oa++) {
                for (size_t ob = 0; ob < 4; ob++) {
                    int8_t *ba = kc_alloc(oa + n), *bb = kc_alloc(ob + n);
                    int8_t *a = ba + oa, *b = bb + ob;
                    kc_fill_i8(a, n, mode, &seed);
                    /* a: full range in modes 0, 2, 3 (so -128 meets b > 0,
                     * b < 0 and b = 0 on the fast path); b per mode. */
                    kc_fill_i8(b, n, mode == 2 ? 0 : mode, &seed);
                    if (mode == 3)
                        kc_fill_i8(a, n, 0, &seed);
                    int32_t got = k->dot_i8(a, b, n), want = ref->dot_i8(a, b, n);
                    kc_result(c, got == want, "%s dot_i8 n=%zu mode=%d off=%zu/%zu: got %d want %d",
                              k->name, n, mode, oa, ob, got, want);
                    got = k->l2sq_i8(a, b, n);
                    want = ref->l2sq_i8(a, b, n);
                    kc_result(c, got == want, "%s l2sq_i8 n=%zu mode=%d off=%zu/%zu: got %d want %d",
                              k->name, n, mode, oa, ob, got, want);
                    free(ba);
                    free(bb);
                }
            }
        }
    }
}

/* Known int8 values, including sums past the int32 range: every tier must
 * return the exact sum modulo 2^32 (kernels.h). */
static inline void kc_check_i8_extremes(kcheck *c, const kernels *k)
{
    size_t n = 40001; /* 40001 * 65025 > 2^31: l2 wraps */
    int8_t *a = kc_alloc(n), *b = kc_alloc(n);
    memset(a, 0x80, n); /* -128 */
    memset(b, 0x7F, n); /* 127 */
    int64_t l2 = (int64_t)n * 65025, dot = -(int64_t)n * 128 * 127;
    int32_t want_l2 = (int32_t)(uint32_t)(uint64_t)l2;
    int32_t want_dot = (int32_t)dot;
    int32_t got = k->l2sq_i8(a, b, n);
    kc_result(c, got == want_l2, "%s l2sq_i8 wrap n=%zu: got %d want %d", k->name, n, got, want_l2);
    got = k->dot_i8(a, b, n);
    kc_result(c, got == want_dot, "%s dot_i8 -128*127 n=%zu: got %d want %d", k->name, n, got,
              want_dot);
    got = k->dot_i8(a, a, 4096);
    kc_result(c, got == 4096 * 16384, "%s dot_i8 -128*-128: got %d want %d", k->name, got,
              4096 * 16384);
    free(a);
    free(b);
}

/* Exact small cases whose answers are known without any oracle. */
static inline void kc_check_known(kcheck *c, const kernels *k)
{
    float a[5] = {1, 2, 3, 4, 5}, b[5] = {1, 1, 1, 1, 2};
    kc_result(c, k->dot_f32(a, b, 5) == 20.f, "%s dot_f32 known", k->name);
    kc_result(c, k->l2sq_f32(a, b, 5) == 23.f, "%s l2sq_f32 known", k->name);
    kc_result(c, k->dot_f32(a, b, 0) == 0.f && k->l2sq_f32(a, b, 0) == 0.f,
              "%s f32 n=0 is not 0", k->name);
    uint16_t h[3] = {0x3C00 /* 1 */, 0x4000 /* 2 */, 0xC200 /* -3 */};
    kc_result(c, k->dot_f16(h, h, 3) == 14.f, "%s dot_f16 known", k->name);
    kc_result(c, k->l2sq_f16(h, h + 1, 2) == 26.f, "%s l2sq_f16 known", k->name);
    int8_t x[3] = {-128, 127, 3}, y[3] = {-128, -128, 2};
    kc_result(c, k->dot_i8(x, y, 3) == 134, "%s dot_i8 known", k->name);
    kc_result(c, k->l2sq_i8(x, y, 3) == 65026, "%s l2sq_i8 known", k->name);
    kc_result(c, k->dot_i8(x, y, 0) == 0 && k->l2sq_i8(x, y, 0) == 0, "%s i8 n=0", k->name);
}

/* Vector preparation on known values, every tier (ref included): ties to
 * even in quant_i8, its clamp, maxabs, f16 encoding of the edge cases. */
static inline void kc_check_prep_known(kcheck *c, const kernels *k)
{
    const float q[13] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.4f,
                         200.f, -1e30f, INFINITY, -INFINITY, -126.5f};
    const int8_t qw[13] = {0, 2, 2, 0, -2, -2, 126, 127, 127, -127, 127, -127, -126};
    int8_t qo[13];
    k->quant_i8(qo, q, 1.0f, 13);
    kc_result(c, memcmp(qo, qw, 13) == 0, "%s quant_i8 known ties/clamps", k->name);
    const float r[3] = {0.25f, -0.75f, 0.5f}; /* x 2: 0.5 -1.5 1 -> 0 -2 1 */
    k->quant_i8(qo, r, 2.0f, 3);
    kc_result(c, qo[0] == 0 && qo[1] == -2 && qo[2] == 1, "%s quant_i8 scaled ties", k->name);
    kc_result(c, k->maxabs_f32(q, 6) == 2.5f, "%s maxabs_f32 known", k->name);
    kc_result(c, k->maxabs_f32(q, 0) == 0.f, "%s maxabs_f32 n=0", k->name);
    const float f[6] = {65504.f, 65520.f, 0x1p-25f, 0x1.8p-24f, -0.0f, 1.0f + 0x1.8p-10f};
    const uint16_t hw[6] = {0x7BFF, 0x7C00, 0x0000, 0x0002, 0x8000, 0x3C02};
    uint16_t ho[6];
    k->f32_to_f16(ho, f, 6);
    kc_result(c, memcmp(ho, hw, sizeof ho) == 0, "%s f32_to_f16 known", k->name);
    float fo[6];
    k->f16_to_f32(fo, hw, 6);
    kc_result(c, fo[0] == 65504.f && isinf(fo[1]) && fo[3] == 0x1p-23f && signbit(fo[4]) &&
                     fo[5] == 1.0f + 0x1p-9f,
              "%s f16_to_f32 known", k->name);
}

/* A float spread over binary16's whole range and beyond: finite values
 * from 2^-30 (below the smallest subnormal) to 2^20 (past 65504), random
 * sign, occasionally +-0, +-inf or NaN when `specials`. */
static inline float kc_wide_float(uint64_t *s, int specials)
{
    uint64_t r = kc_next(s);
    if (specials) {
        switch (r & 63) {
        case 0: return (r & 64) ? -0.0f : 0.0f;
        case 1: return (r & 64) ? -INFINITY : INFINITY;
        case 2: return (r & 64) ? -NAN : NAN;
        default: break;
        }
    }
    float m = 1.0f + (float)((r >> 8) & 0x7FFFFF) * 0x1p-23f;
    int e = (int)((r >> 32) % 51) - 30;
    return (r & 128) ? -ldexpf(m, e) : ldexpf(m, e);
}

static inline int kc_is_nan16(uint16_t h)
{
    return (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
}

/* Bytes before and after the written range of a guarded buffer are left
 * as set (0xA5): a kernel writes only dst[0..n). */
static inline int kc_guard_ok(const unsigned char *buf, size_t off, size_t len, size_t total)
{
    for (size_t i = 0; i < off; i++)
        if (buf[i] != 0xA5)
            return 0;
    for (size_t i = off + len; i < total; i++)
        if (buf[i] != 0xA5)
            return 0;
    return 1;
}

/* Vector preparation against ref, bit for bit (kernels.h promises equal
 * bits, not a tolerance): every dim, source and destination offsets,
 * guard bytes after the destination, in-place scaling. */
static inline void kc_check_prep(kcheck *c, const kernels *k, uint64_t seed)
{
    const kernels *ref = kernels_tier(KTIER_REF);
    for (size_t di = 0; di < KC_NDIMS; di++) {
        size_t n = kc_dims[di];
        for (size_t os = 0; os < 4; os++) {
            for (size_t od = 0; od < 4; od += 3) {
                size_t dsz = (od + n) * 4 + 8; /* room for float dst + guard */
                float *bs = kc_alloc((os + n) * sizeof(float));
                unsigned char *bd = kc_alloc(dsz);
                uint16_t *hs = kc_alloc((os + n) * sizeof(uint16_t));
                float *src = bs + os, *want = kc_alloc(n * sizeof(float) + 1);
                int8_t *wq = kc_alloc(n + 1);
                uint16_t *hsrc = hs + os, *wh = kc_alloc(n * sizeof(uint16_t) + 1);
                for (size_t i = 0; i < n; i++) {
                    src[i] = kc_wide_float(&seed, 1);
                    hsrc[i] = (uint16_t)kc_next(&seed); /* every pattern, NaNs too */
                }
                /* f32 -> f16 */
                memset(bd, 0xA5, dsz);
                uint16_t *dh = (uint16_t *)(void *)(bd + od * 2);
                k->f32_to_f16(dh, src, n);
                ref->f32_to_f16(wh, src, n);
                int bad = 0;
                for (size_t i = 0; i < n; i++) {
                    int ok = isnan(src[i]) ? kc_is_nan16(dh[i]) && (dh[i] >> 15) == (wh[i] >> 15)
                                           : dh[i] == wh[i];
                    if (!ok && bad++ == 0)
                        kc_result(c, 0, "%s f32_to_f16 n=%zu off=%zu/%zu i=%zu %a: got 0x%04x want 0x%04x",
                                  k->name, n, os, od, i, (double)src[i], (unsigned)dh[i],
                                  (unsigned)wh[i]);
                }
                kc_result(c, bad == 0 && kc_guard_ok(bd, od * 2, n * 2, dsz),
                          "%s f32_to_f16 n=%zu off=%zu/%zu: %d wrong or guard hit", k->name, n, os,
                          od, bad);
                /* f16 -> f32 */
                memset(bd, 0xA5, dsz);
                float *df = (float *)(void *)(bd + od * 4);
                k->f16_to_f32(df, hsrc, n);
                ref->f16_to_f32(want, hsrc, n);
                bad = 0;
                for (size_t i = 0; i < n; i++) {
                    float g, w = want[i];
                    memcpy(&g, bd + od * 4 + i * 4, 4);
                    if (!(isnan(w) ? isnan(g) : kc_bits(g) == kc_bits(w)))
                        bad++;
                }
                kc_result(c, bad == 0 && kc_guard_ok(bd, od * 4, n * 4, dsz),
                          "%s f16_to_f32 n=%zu off=%zu/%zu: %d wrong or guard hit", k->name, n, os,
                          od, bad);
                /* finite inputs from here on (maxabs and quant need no NaN) */
                for (size_t i = 0; i < n; i++)
                    src[i] = kc_float(&seed);
                float sc = kc_float(&seed) * 3.0f;
                /* scale, out of place then in place */
                memset(bd, 0xA5, dsz);
                k->scale_f32(df, src, sc, n);
                ref->scale_f32(want, src, sc, n);
                kc_result(c, memcmp(bd + od * 4, want, n * 4) == 0 && kc_guard_ok(bd, od * 4, n * 4, dsz),
                          "%s scale_f32 n=%zu off=%zu/%zu: bits differ or guard hit", k->name, n, os, od);
                memcpy(bd + od * 4, src, n * 4);
                k->scale_f32(df, df, sc, n);
                kc_result(c, memcmp(bd + od * 4, want, n * 4) == 0, "%s scale_f32 in place n=%zu off=%zu",
                          k->name, n, od);
                /* maxabs */
                float mg = k->maxabs_f32(src, n), mw = ref->maxabs_f32(src, n);
                kc_result(c, kc_bits(mg) == kc_bits(mw), "%s maxabs_f32 n=%zu off=%zu: got %a want %a",
                          k->name, n, os, (double)mg, (double)mw);
                /* quant: the index's scale (127 / maxabs), one that makes
                 * many products exact ties (inputs k/2), and one that
                 * overflows the clamp */
                for (int mode = 0; mode < 3; mode++) {
                    float qs = mode == 0 ? (mw > 0 ? 127.0f / mw : 1.0f) : mode == 1 ? 1.0f : 1e4f;
                    if (mode == 1)
                        for (size_t i = 0; i < n; i++)
                            src[i] = (float)((int)(kc_next(&seed) % 301) - 150) * 0.5f;
                    memset(bd, 0xA5, dsz);
                    int8_t *dq = (int8_t *)(void *)(bd + od);
                    k->quant_i8(dq, src, qs, n);
                    ref->quant_i8(wq, src, qs, n);
                    kc_result(c, memcmp(dq, wq, n) == 0 && kc_guard_ok(bd, od, n, dsz),
                              "%s quant_i8 n=%zu mode=%d off=%zu/%zu: bytes differ or guard hit",
                              k->name, n, mode, os, od);
                }
                free(bs);
                free(bd);
                free(hs);
                free(want);
                free(wq);
                free(wh);
            }
        }
    }
}

/* f32 -> f16 through the tier on every binary16 value, the exact midpoint
 * above it (a tie) and one float32 ulp either side of that midpoint, for
 * both signs: every rounding decision the encoder makes (normal,
 * subnormal, carry into the exponent, overflow to inf), bit for bit
 * against the portable encoder. Runs as one batch per sign. */
static inline void kc_check_f16_encode_all(kcheck *c, const kernels *k)
{
    size_t n = 31u * 1024u * 4u; /* finite non-negative halves x 4 probes */
    float *src = kc_alloc(n * sizeof(float));
    uint16_t *got = kc_alloc(n * sizeof(uint16_t));
    for (int neg = 0; neg < 2; neg++) {
        size_t j = 0;
        for (uint32_t h = 0; h < 31u * 1024u; h++) {
            double v = kernels_f16_to_f32((uint16_t)h);
            double next = h + 1 == 31u * 1024u ? 65536.0 : (double)kernels_f16_to_f32((uint16_t)(h + 1));
            float mid = (float)((v + next) / 2); /* exact: 12 significant bits */
            float probes[4] = {(float)v, mid, nextafterf(mid, 0.f), nextafterf(mid, INFINITY)};
            for (int p = 0; p < 4; p++)
                src[j++] = neg ? -probes[p] : probes[p];
        }
        k->f32_to_f16(got, src, n);
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            uint16_t w = kernels_f32_to_f16(src[i]);
            if (got[i] != w && bad++ < 3)
                kc_result(c, 0, "%s f32_to_f16 %a: got 0x%04x want 0x%04x", k->name,
                          (double)src[i], (unsigned)got[i], (unsigned)w);
        }
        kc_result(c, bad == 0, "%s f32_to_f16 every half/midpoint (neg=%d): %d wrong", k->name,
                  neg, bad);
    }
    free(src);
    free(got);
}

/* Everything for one tier. ref itself is checked only against values
 * known without an oracle (comparing it with itself would prove nothing). */
static inline void kc_check_tier(kcheck *c, const kernels *k)
{
    kc_check_known(c, k);
    kc_check_i8_extremes(c, k);
    kc_check_prep_known(c, k);
    if (k->tier == KTIER_REF)
        return;
    kc_check_f16_encode_all(c, k);
    kc_check_prep(c, k, 0x5EED0004u);
    kc_check_f32(c, k, 0x5EED0001u);
    kc_check_f16(c, k, 0x5EED0002u);
    kc_check_i8(c, k, 0x5EED0003u);
}

/* binary16 decoding of all 65536 patterns against the value formula
 * (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024, and the
 * round trip f16 -> f32 -> f16 being the identity on non-NaN values;
 * encoding rounding (ties to even, overflow, underflow) on known cases. */
static inline void kc_check_f16_conv(kcheck *c)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kernels_f16_to_f32((uint16_t)h);
        uint32_t s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        int ok;
        if (e == 31 && m == 0)
            ok = isinf(f) && (signbit(f) != 0) == (s != 0);
        else if (e == 31)
            ok = isnan(f);
        else {
            double v = e == 0 ? ldexp((double)m, -24) : ldexp(1.0 + m / 1024.0, (int)e - 15);
            if (s)
                v = -v;
            ok = (double)f == v && (signbit(f) != 0) == (s != 0);
        }
        if (ok && e != 31)
            ok = kernels_f32_to_f16(f) == h;
        if (!ok && bad++ < 5)
            kc_result(c, 0, "f16 pattern 0x%04x decodes to %a", (unsigned)h, (double)f);
    }
    kc_result(c, bad == 0, "f16 decode: %d bad patterns", bad);

    struct { float f; uint16_t h; } enc[] = {
        {65504.f, 0x7BFF},            /* largest finite */
        {65520.f, 0x7C00},            /* halfway to 2^16 rounds (to even) up: inf */
        {65519.f, 0x7BFF},
        {1e9f, 0x7C00},
        {-1e9f, 0xFC00},
        {0x1p-24f, 0x0001},           /* smallest subnormal */
        {0x1p-25f, 0x0000},           /* exactly half of it: tie to even = 0 */
        {0x1.8p-25f, 0x0001},         /* above half: rounds up */
        {0x1.8p-24f, 0x0002},         /* 1.5 ulp: tie to even = 2 */
        {0x1p-14f, 0x0400},           /* smallest normal */
        {0x1.ffcp-15f, 0x0400},       /* largest subnormal + half ulp: tie rounds up */
        {1.0f + 0x1p-11f, 0x3C00},    /* tie, even stays */
        {1.0f + 0x1.8p-10f, 0x3C02},  /* tie, odd rounds up */
        {-0.0f, 0x8000},
        {1e-10f, 0x0000},
        {INFINITY, 0x7C00},
        {-INFINITY, 0xFC00},
    };
    for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
        uint16_t h = kernels_f32_to_f16(enc[i].f);
        kc_result(c, h == enc[i].h, "f32->f16 %a: got 0x%04x want 0x%04x", (double)enc[i].f,
                  (unsigned)h, (unsigned)enc[i].h);
    }
    uint16_t qn = kernels_f32_to_f16(NAN);
    kc_result(c, (qn & 0x7C00) == 0x7C00 && (qn & 0x3FF) != 0, "f32->f16 NaN gave 0x%04x",
              (unsigned)qn);
    (void)kc_bits;
}

/* Every function pointer of a table is set (a field appended to the
 * table and forgotten in one tier's or variant's initialiser is NULL). */
static inline int kc_table_complete(const kernels *k)
{
    return k->name && k->dot_f32 && k->l2sq_f32 && k->dot_i8 && k->l2sq_i8 && k->dot_f16 &&
           k->l2sq_f16 && k->f32_to_f16 && k->f16_to_f32 && k->scale_f32 && k->maxabs_f32 &&
           k->quant_i8 && k->hamming_u64;
}

/* The pure selection rule: mask and cap, best tier wins, ref always. */
static inline void kc_check_select(kcheck *c)
{
    ktier dummy0;
    const kernels *best = NULL;
    for (int t = KTIER_COUNT - 1; t >= 0 && !best; t--)
        best = kernels_tier((ktier)t);
    kc_result(c, kernels_select(KTIER_MASK_ALL, NULL) == best, "select(all) is not the best tier");
    kc_result(c, kernels_select(KTIER_MASK_ALL, "ref")->tier == KTIER_REF, "cap ref");
    kc_result(c, kernels_select(KTIER_MASK_ALL, "scalar")->tier == KTIER_SCALAR, "cap scalar");
    kc_result(c, kernels_select(0, NULL)->tier == KTIER_REF, "empty mask must give ref");
    kc_result(c, kernels_select(1u << KTIER_SCALAR, NULL)->tier == KTIER_SCALAR, "mask scalar");
    kc_result(c, kernels_select(KTIER_MASK_ALL, "bogus") == best, "unknown cap must be ignored");
    kc_result(c, kernels_select(1u << KTIER_SCALAR, "ref")->tier == KTIER_REF,
              "cap below mask must give ref");
    for (int t = 0; t < KTIER_COUNT; t++) {
        const kernels *k = kernels_tier((ktier)t), *v[4] = {NULL};
        ktier parsed;
        size_t nv = kernels_tier_variants((ktier)t, v, 4);
        kc_result(c, (nv == 0) == (k == NULL) && (nv == 0 || v[0] == k),
                  "tier %d: %zu variants, first is not kernels_tier's", t, nv);
        if (!k)
            continue;
        kc_result(c, (int)k->tier == t, "tier %d table has tier %d", t, (int)k->tier);
        kc_result(c, kernels_tier_from_name(k->name, &parsed) == 0 && (int)parsed == t,
                  "tier %d name %s does not parse back", t, k->name);
        kc_result(c, kernels_select(KTIER_MASK_ALL, k->name) == k, "cap %s does not select it",
                  k->name);
        kc_result(c, kernels_select(1u << t, NULL) == k, "mask of tier %s alone", k->name);
        for (size_t i = 0; i < nv && i < 4; i++) {
            /* a variant is its tier: same tier and name, own variant name */
            kc_result(c, (int)v[i]->tier == t && strcmp(v[i]->name, k->name) == 0,
                      "variant %zu of %s has tier %d name %s", i, k->name, (int)v[i]->tier,
                      v[i]->name);
            kc_result(c, strncmp(kernels_variant(v[i]), k->name, strlen(k->name)) == 0,
                      "variant name %s does not start with %s", kernels_variant(v[i]), k->name);
            kc_result(c, kc_table_complete(v[i]), "%s table has a NULL entry",
                      kernels_variant(v[i]));
            for (size_t j = 0; j < i; j++)
                kc_result(c, v[j] != v[i], "%s variant listed twice", kernels_variant(v[i]));
        }
    }
    kc_result(c, strcmp(kernels_variant(NULL), "none") == 0, "variant of NULL");
    kc_result(c, kernels_tier_from_name("avx2+vnni", &dummy0) == -1,
              "a variant name is not a tier name");
    ktier dummy;
    kc_result(c, kernels_tier_from_name("AVX2", &dummy) == -1 &&
                     kernels_tier_from_name(NULL, &dummy) == -1,
              "tier names must be exact");
#if defined(__x86_64__)
    kc_result(c, kernels_tier(KTIER_NEON) == NULL, "neon tier on x86");
    /* The cap is by rank: avx2 caps an AVX-512 CPU at avx2, neon is no cap. */
    if (kernels_tier(KTIER_AVX2))
        kc_result(c, kernels_select(KTIER_MASK_ALL, "avx2") == kernels_tier(KTIER_AVX2),
                  "cap avx2 must give avx2");
    kc_result(c, kernels_select(KTIER_MASK_ALL, "neon") == best, "cap neon on x86 is no cap");
    if (kernels_tier(KTIER_AVX512)) {
        kc_result(c, best == kernels_tier(KTIER_AVX512), "avx512 present but not best");
        kc_result(c, kernels_tier(KTIER_AVX2) != NULL, "avx512 without avx2");
    }
#elif defined(__aarch64__)
    kc_result(c, kernels_tier(KTIER_NEON) != NULL, "no neon tier on aarch64");
    kc_result(c, kernels_tier(KTIER_AVX2) == NULL, "avx2 tier on aarch64");
    kc_result(c, kernels_tier(KTIER_AVX512) == NULL, "avx512 tier on aarch64");
    kc_result(c, kernels_select(KTIER_MASK_ALL, "avx512") == best, "cap avx512 on arm is no cap");
    kc_result(c, kernels_select(KTIER_MASK_ALL, "avx2")->tier == KTIER_SCALAR,
              "cap avx2 on arm must give scalar");
#endif
}

#endif
