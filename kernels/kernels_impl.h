/* kernels_impl.h -- private to kernels/: the per-tier tables dispatch.c
 * chooses from, and the portable binary16 decoder the scalar tiers inline.
 *
 * Each tier file defines one `const kernels kernels_table_<tier>` and
 * nothing else public, so dispatch.c is the only place that knows which
 * tiers exist (avx2.c also defines kernels_table_avx2_vnni, its AVX-VNNI
 * variant). A tier file is compiled only when its tier is
 * (SIMCACHE_KERNELS_HAVE_AVX2 / _AVX512 / _NEON, set by
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
/* avx2.c's Hamming kernel, public so a higher x86 tier's table can reuse
 * it (AVX2 is a subset of what such a tier requires). */
uint64_t kernels_hamming_u64_avx2(const uint64_t *a, const uint64_t *b, size_t nwords);
extern const kernels kernels_table_avx2_vnni;
#endif
#ifdef SIMCACHE_KERNELS_HAVE_AVX512
extern const kernels kernels_table_avx512;
#endif
#ifdef SIMCACHE_KERNELS_HAVE_NEON
extern const kernels kernels_table_neon;
#endif

/* binary16 -> binary32 by bit manipulation, exact for every input, with
 * selects instead of branches so loops over it vectorise (F. Giesen's
 * half_to_float_fast5 scheme):
 * - shift exponent and mantissa into float32 position and rebias the
 *   exponent by 127 - 15;
 * - exponent 31 (inf/NaN): rebias once more, to 255;
 * - exponent 0 (zero/subnormal): the bits now read 2^-14 * (1 + m/1024)
 *   after one more exponent step; subtracting 2^-14 leaves m * 2^-24
 *   exactly. Every operand and result is a normal float, so the answer is
 *   right even with denormals-are-zero/flush-to-zero modes on.
 * The sign is ORed in last. tests/kernels/kcheck.h checks all 65536
 * inputs against the value formula. */
static inline float kern_f16_to_f32(uint16_t h)
{
    uint32_t o = (uint32_t)(h & 0x7FFFu) << 13;
    uint32_t exp = o & 0x0F800000u;
    o += (uint32_t)(127 - 15) << 23;
    uint32_t infnan = o + ((uint32_t)(128 - 16) << 23);
    uint32_t sub_bits = o + (1u << 23);
    float sub;
    memcpy(&sub, &sub_bits, 4);
    sub -= 0x1p-14f;
    uint32_t sub_u;
    memcpy(&sub_u, &sub, 4);
    uint32_t m_inf = 0u - (uint32_t)(exp == 0x0F800000u); /* all ones or 0 */
    uint32_t m_sub = 0u - (uint32_t)(exp == 0);
    o = (infnan & m_inf) | (sub_u & m_sub) | (o & ~(m_inf | m_sub));
    o |= (uint32_t)(h & 0x8000u) << 16;
    float f;
    memcpy(&f, &o, 4);
    return f;
}

#endif
