/* kernels_impl.h -- private to kernels/: the per-tier tables dispatch.c
 * chooses from, and the portable binary16 decoder the scalar tiers inline.
 *
 * Each tier file defines one `const kernels kernels_table_<tier>` and
 * nothing else public, so dispatch.c is the only place that knows which
 * tiers exist. A tier file is compiled only when its tier is
 * (SIMCACHE_KERNELS_HAVE_AVX2 / SIMCACHE_KERNELS_HAVE_NEON, set by
 * kernels/CMakeLists.txt from the target processor). */
#ifndef SIMCACHE_KERNELS_IMPL_H
#define SIMCACHE_KERNELS_IMPL_H

#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

extern const kernels kernels_table_ref;
extern const kernels kernels_table_scalar;
#ifdef SIMCACHE_KERNELS_HAVE_AVX2
extern const kernels kernels_table_avx2;
#endif
#ifdef SIMCACHE_KERNELS_HAVE_NEON
extern const kernels kernels_table_neon;
#endif

/* binary16 -> binary32 by bit manipulation, exact for every input.
 * Normal: rebias the exponent (15 -> 127) and widen the mantissa.
 * Subnormal (exp 0, mant != 0): value = mant * 2^-24, which the FPU
 * computes exactly (mant < 2^10 and the product is a power-of-two scale).
 * Inf/NaN (exp 31): exponent 255, mantissa shifted (NaN payload kept). */
static inline float kern_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t mant = h & 0x3FFu;
    uint32_t bits;
    float f;
    if (exp == 0) {
        f = (float)mant * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

#endif
