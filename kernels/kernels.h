/* kernels.h -- similarity kernels: one function table per tier.
 *
 * Tiers: ref (double accumulation, the test oracle), scalar (portable,
 * several accumulators), avx2 (AVX2+FMA+F16C, own translation unit with
 * per-file flags; its int8 kernels use AVX-VNNI where the CPU has it, the
 * variant "avx2+vnni"), neon (AArch64), avx512 (AVX-512 F/BW/VL/DQ+VNNI,
 * own translation unit). kernels_init() picks the best tier once,
 * before any thread starts: compiled tiers AND CPU features detected at run
 * time AND an allowed mask (env SIMCACHE_KERNEL_TIER or config can force a
 * lower tier; tests use that to cover every tier). The chosen table is then
 * read-only and may be used from any thread.
 *
 * Every kernel accepts any length n (0 included, which returns 0) and
 * unaligned pointers, and only reads a[0..n) and b[0..n).
 * int8 kernels return the exact integer sum; callers apply the per-vector
 * scales. The sum is exact whenever it fits in int32: always for dot_i8 with
 * n <= 131071 and for l2sq_i8 with n <= 33025 (65025 = 255^2 per element);
 * beyond that every tier returns the same value modulo 2^32.
 * float16 vectors are IEEE binary16 stored as uint16_t.
 *
 * Float accuracy (what the tests check): for n products with sum of
 * magnitudes S = sum |a_i b_i| (for l2: S = sum (a_i - b_i)^2), every tier
 * returns a value within (n + 4) * FLT_EPSILON * S of the exact result.
 * Tiers differ in summation order, so results are not bitwise equal across
 * tiers; a given tier is deterministic for the same inputs. */
#ifndef SIMCACHE_KERNELS_H
#define SIMCACHE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum ktier {
    KTIER_REF = 0,
    KTIER_SCALAR = 1,
    KTIER_AVX2 = 2,
    KTIER_NEON = 3,
    KTIER_AVX512 = 4, /* appended: bits 0..3 of a mask keep their meaning */
    KTIER_COUNT
} ktier;

#define KTIER_MASK_ALL 0xFFu

typedef struct kernels {
    ktier tier;
    const char *name;   /* "ref", "scalar", "avx2", "neon", "avx512" */
    float (*dot_f32)(const float *a, const float *b, size_t n);
    float (*l2sq_f32)(const float *a, const float *b, size_t n);
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, size_t n);
    int32_t (*l2sq_i8)(const int8_t *a, const int8_t *b, size_t n);
    float (*dot_f16)(const uint16_t *a, const uint16_t *b, size_t n);
    float (*l2sq_f16)(const uint16_t *a, const uint16_t *b, size_t n);

    /* Vector preparation (the index's per-query and per-insert work). Any
     * n (0 does nothing / returns 0), unaligned pointers; reads src[0..n)
     * and writes dst[0..n) only. Unlike the distance kernels these results
     * are bit-identical in every tier (tests compare them bitwise):
     * - f32_to_f16: dst[i] = kernels_f32_to_f16(src[i]) for every non-NaN
     *   input (round to nearest even, subnormals, overflow to +-inf); a NaN
     *   gives a NaN of the same sign (payload bits may differ by tier).
     * - f16_to_f32: dst[i] = kernels_f16_to_f32(src[i]), exact; NaN stays
     *   NaN.
     * - scale_f32: dst[i] = src[i] * s, one float multiply each (no FMA, so
     *   no tier can differ); dst == src is allowed (in place).
     * - maxabs_f32: max over i of |x[i]|, 0 for n == 0; x must hold no NaN
     *   (the result is then unspecified).
     * - quant_i8: dst[i] = clamp(rne(src[i] * s), -127, 127), where the
     *   product is one float multiply and rne rounds to the nearest
     *   integer, ties to even (so 0.5 -> 0, 1.5 -> 2, -2.5 -> -2); +-inf
     *   products clamp to +-127. Never -128 (avx2's int8 dot fast path
     *   relies on that). A NaN product gives an unspecified value in
     *   [-127, 127]. SIMD tiers assume the default floating-point
     *   environment (round to nearest), which simcache never changes. */
    void (*f32_to_f16)(uint16_t *dst, const float *src, size_t n);
    void (*f16_to_f32)(float *dst, const uint16_t *src, size_t n);
    void (*scale_f32)(float *dst, const float *src, float s, size_t n);
    float (*maxabs_f32)(const float *x, size_t n);
    void (*quant_i8)(int8_t *dst, const float *src, float s, size_t n);

    /* Hamming distance of two packed bit vectors (the index's BIN
     * storage): sum over i < nwords of popcount(a[i] ^ b[i]). Any nwords
     * (0 returns 0); the pointers need not be 8-byte aligned (tiers load
     * words with memcpy or unaligned vector loads); reads a[0..nwords)
     * and b[0..nwords) only. The result is an exact integer, so every
     * tier returns the same value (tests compare them for equality).
     * Appended last: tables written with designated initialisers for
     * older layouts stay valid. */
    uint64_t (*hamming_u64)(const uint64_t *a, const uint64_t *b, size_t nwords);
} kernels;

/* Chooses the tier: the best one compiled in, supported by this CPU and
 * present in allowed_mask (bit i = ktier i; KTIER_MASK_ALL for no limit).
 * The env var SIMCACHE_KERNEL_TIER=<name> further caps the choice. Call
 * once, before threads start; later calls return the first choice.
 * Returns the chosen table (never NULL: ref is always available). */
const kernels *kernels_init(unsigned allowed_mask);
/* The table chosen by kernels_init (which it calls with KTIER_MASK_ALL if
 * nobody did). */
const kernels *kernels_get(void);
/* A specific tier if it is compiled in and this CPU runs it, else NULL.
 * Any thread; the returned table is static and read-only. */
const kernels *kernels_tier(ktier t);

/* The pure selection rule kernels_init applies, without recording it: the
 * best tier that is compiled in, supported by this CPU, in allowed_mask and
 * not above cap_name ("ref", "scalar", "avx2", "neon", "avx512"; NULL or an
 * unknown name = no cap). The cap is by rank: ref < scalar < avx2 < neon =
 * avx512 (neon and the x86 tiers never coexist, so "neon" on x86 and
 * "avx512" on AArch64 mean no cap; "avx2" on an AVX-512 CPU gives avx2).
 * Never NULL. Any thread. Lets tests and the server check a configured
 * value without touching the process-wide choice. */
const kernels *kernels_select(unsigned allowed_mask, const char *cap_name);

/* Parses a tier name ("ref", "scalar", "avx2", "neon", "avx512"; exact,
 * lowercase; a variant name such as "avx2+vnni" is not a tier name).
 * Returns 0 and sets *out, or -1 for an unknown name (the env var is then
 * ignored by kernels_init: validate it with this if you want an error). */
int kernels_tier_from_name(const char *name, ktier *out);

/* Which implementation of its tier a table is: k->name, or for a CPU-
 * specific variant its own name ("avx2+vnni": the avx2 tier with AVX-VNNI
 * int8 dot and l2, chosen by kernels_tier(KTIER_AVX2) when the CPU has
 * AVX-VNNI). k->name stays the tier's name either way. Static string, any
 * thread; NULL k gives "none". INFO and kernel-bench report it. */
const char *kernels_variant(const kernels *k);

/* Every variant of tier t that is compiled in and that this CPU runs, best
 * first (out[0] is what kernels_tier(t) returns): at most max tables are
 * written to out, and the number available is returned (0 when t is not
 * available here). Lets tests and kernel-bench cover the variants that
 * dispatch would not pick on this CPU. Any thread. */
size_t kernels_tier_variants(ktier t, const kernels **out, size_t max);

/* Name of the env var that caps the tier. */
#define KERNELS_ENV_TIER "SIMCACHE_KERNEL_TIER"

/* IEEE binary16 <-> binary32, portable (no F16C needed), any thread.
 * f16 -> f32 is exact for every input (subnormals, +-0, +-inf; NaN stays
 * NaN with its payload's top bits). f32 -> f16 rounds to nearest, ties to
 * even; overflow gives +-inf, values below half the smallest subnormal
 * give +-0, NaN gives a quiet NaN. */
float kernels_f16_to_f32(uint16_t h);
uint16_t kernels_f32_to_f16(float f);
/* Bulk versions: dst[i] = convert(src[i]) for i < n. Portable element by
 * element (the tests' oracle); hot paths use the dispatched table's
 * f32_to_f16 / f16_to_f32, which give the same bits. */
void kernels_f16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void kernels_f32_to_f16_n(uint16_t *dst, const float *src, size_t n);

#endif
