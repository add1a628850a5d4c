/* kernels.h -- similarity kernels: one function table per tier.
 *
 * Tiers: ref (double accumulation, the test oracle), scalar (portable,
 * several accumulators), avx2 (AVX2+FMA+F16C, own translation unit with
 * per-file flags), neon (AArch64). kernels_init() picks the best tier once,
 * before any thread starts: compiled tiers AND CPU features detected at run
 * time AND an allowed mask (env SIMCACHE_KERNEL_TIER or config can force a
 * lower tier; tests use that to cover every tier). The chosen table is then
 * read-only and may be used from any thread.
 *
 * Every kernel accepts any length n (0 included) and unaligned pointers.
 * int8 kernels return the exact integer sum; callers apply the per-vector
 * scales. float16 vectors are IEEE binary16 stored as uint16_t. */
#ifndef SIMCACHE_KERNELS_H
#define SIMCACHE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum ktier {
    KTIER_REF = 0,
    KTIER_SCALAR = 1,
    KTIER_AVX2 = 2,
    KTIER_NEON = 3,
    KTIER_COUNT
} ktier;

#define KTIER_MASK_ALL 0xFFu

typedef struct kernels {
    ktier tier;
    const char *name;   /* "ref", "scalar", "avx2", "neon" */
    float (*dot_f32)(const float *a, const float *b, size_t n);
    float (*l2sq_f32)(const float *a, const float *b, size_t n);
    int32_t (*dot_i8)(const int8_t *a, const int8_t *b, size_t n);
    int32_t (*l2sq_i8)(const int8_t *a, const int8_t *b, size_t n);
    float (*dot_f16)(const uint16_t *a, const uint16_t *b, size_t n);
    float (*l2sq_f16)(const uint16_t *a, const uint16_t *b, size_t n);
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
/* A specific tier if it is compiled in and this CPU runs it, else NULL. */
const kernels *kernels_tier(ktier t);

#endif
