/* dispatch.c -- chooses the kernel tier once and hands out its table.
 *
 * Design decisions:
 * 1. A tier is usable when it is compiled in (CMake compiles avx2.c and
 *    avx512.c only for x86-64 and neon.c only for AArch64), the CPU runs it
 *    and the caller's mask and the SIMCACHE_KERNEL_TIER cap allow it. The
 *    CPU checks: avx2 = CPUID avx2, fma, f16c and XGETBV showing the OS
 *    saving YMM state; avx512 = the avx2 check plus CPUID avx512f, bw, vl,
 *    dq and vnni (the int8 kernels are VNNI-only, so Skylake-SP, which has
 *    AVX-512 without VNNI, stays on avx2) and XGETBV showing opmask and
 *    both halves of ZMM state enabled (a kernel may disable them, e.g.
 *    under some hypervisors, while CPUID still lists the feature); neon =
 *    baseline on AArch64. The best usable tier wins: avx512 > avx2 >
 *    scalar > ref, neon > scalar > ref. The cap is by rank (ref < scalar <
 *    avx2 < neon = avx512), so SIMCACHE_KERNEL_TIER=avx2 forces avx2 on an
 *    AVX-512 machine, and "neon" on x86 means no cap.
 * 2. Variants: a tier may have CPU-specific variants with the same tier
 *    and name. The avx2 tier's AVX-VNNI variant (CPUID.(7,1):EAX bit 4,
 *    Zen 5, Alder Lake and later) replaces the int8 dot and l2 kernels;
 *    kernels_tier(KTIER_AVX2) returns it when the CPU has AVX-VNNI, and
 *    kernels_tier_variants lists both so tests and the bench cover the
 *    plain one too. kernels_variant names the one in use ("avx2+vnni").
 * 3. The choice is recorded once, by compare-and-swap of one pointer to a
 *    static const table; later kernels_init calls return the first choice.
 *    There are no mutable function pointers: the tables are const and the
 *    only shared state is that pointer, written at most once. kernels_get
 *    on a thread that races the first kernels_init is safe (both compute
 *    the same table and one CAS wins), but the intended use is one call
 *    from main before worker threads start.
 * 4. An unknown SIMCACHE_KERNEL_TIER value is ignored, not fatal: a library
 *    does not abort or print (STYLE.md 6); the server validates the value
 *    with kernels_tier_from_name and reports it.
 *
 * Alternative rejected: ifunc resolvers or lazily patched pointers (the
 * choice would happen at an unpredictable time and be invisible to the
 * env/mask override that tests rely on). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_impl.h"

#ifdef SIMCACHE_KERNELS_HAVE_AVX2
#include <cpuid.h>
#endif

static const char *const tier_names[KTIER_COUNT] = {"ref", "scalar", "avx2", "neon", "avx512"};
/* Cap rank (design note 1): neon and avx512 are each their architecture's
 * widest tier and never coexist. */
static const int tier_rank[KTIER_COUNT] = {0, 1, 2, 3, 3};

static _Atomic(const kernels *) chosen;

int kernels_tier_from_name(const char *name, ktier *out)
{
    if (!name)
        return -1;
    for (int t = 0; t < KTIER_COUNT; t++) {
        if (strcmp(name, tier_names[t]) == 0) {
            *out = (ktier)t;
            return 0;
        }
    }
    return -1;
}

#ifdef SIMCACHE_KERNELS_HAVE_AVX2
/* XCR0, the OS-enabled register state. Inline asm so this file needs no
 * -mxsave; call only when CPUID.1:ECX.OSXSAVE is set. */
static unsigned long long read_xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* AVX2 + FMA + F16C, and the OS saves YMM state. Read from CPUID directly:
 * gcc's __builtin_cpu_supports knows "f16c" but clang 14's (the fuzz
 * build's compiler) rejects it, so one code path serves both. */
static int cpu_has_avx2_tier(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & bit_AVX) || !(c & bit_FMA) || !(c & bit_F16C) || !(c & bit_OSXSAVE))
        return 0;
    if ((read_xcr0() & 6u) != 6u) /* XMM and YMM state enabled by the OS */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_AVX2) != 0;
}

/* AVX-VNNI (VEX-encoded vpdpbusd/vpdpwssd on ymm): CPUID.(7,1):EAX bit 4.
 * Spelled out because clang 14's cpuid.h has no bit_AVXVNNI. */
static int cpu_has_avx_vnni(void)
{
    unsigned a, b, c, d;
    if (!cpu_has_avx2_tier())
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (a < 1) /* leaf 7's highest subleaf */
        return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a & (1u << 4)) != 0;
}

/* The avx512 tier (design note 1): AVX-512 F, BW, VL, DQ, VNNI
 * (CPUID.(7,0): EBX bits 16, 30, 31, 17; ECX bit 11) and XCR0 bits 5-7
 * (opmask, upper halves of ZMM0-15, ZMM16-31) with 1-2 (XMM, YMM). */
static int cpu_has_avx512_tier(void)
{
    unsigned a, b, c, d;
    if (!cpu_has_avx2_tier())
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned need_b = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    if ((b & need_b) != need_b || !(c & (1u << 11)))
        return 0;
    return (read_xcr0() & 0xE6u) == 0xE6u;
}
#endif

/* Every variant of tier t this build and CPU run, best first, into
 * out[0..2); returns how many. */
static size_t tier_variants(ktier t, const kernels *out[2])
{
    switch (t) {
    case KTIER_REF:
        out[0] = &kernels_table_ref;
        return 1;
    case KTIER_SCALAR:
        out[0] = &kernels_table_scalar;
        return 1;
    case KTIER_AVX2:
#ifdef SIMCACHE_KERNELS_HAVE_AVX2
        if (!cpu_has_avx2_tier())
            return 0;
        if (cpu_has_avx_vnni()) {
            out[0] = &kernels_table_avx2_vnni;
            out[1] = &kernels_table_avx2;
            return 2;
        }
        out[0] = &kernels_table_avx2;
        return 1;
#else
        return 0;
#endif
    case KTIER_NEON:
#ifdef SIMCACHE_KERNELS_HAVE_NEON
        out[0] = &kernels_table_neon;
        return 1;
#else
        return 0;
#endif
    case KTIER_AVX512:
#ifdef SIMCACHE_KERNELS_HAVE_AVX512
        if (!cpu_has_avx512_tier())
            return 0;
        out[0] = &kernels_table_avx512;
        return 1;
#else
        return 0;
#endif
    default:
        return 0;
    }
}

const kernels *kernels_tier(ktier t)
{
    const kernels *v[2];
    return tier_variants(t, v) ? v[0] : NULL;
}

size_t kernels_tier_variants(ktier t, const kernels **out, size_t max)
{
    const kernels *v[2];
    size_t n = tier_variants(t, v);
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = v[i];
    return n;
}

const char *kernels_variant(const kernels *k)
{
    if (!k)
        return "none";
#ifdef SIMCACHE_KERNELS_HAVE_AVX2
    if (k == &kernels_table_avx2_vnni)
        return "avx2+vnni";
#endif
    return k->name;
}

const kernels *kernels_select(unsigned allowed_mask, const char *cap_name)
{
    ktier cap;
    if (kernels_tier_from_name(cap_name, &cap) == 0)
        for (int t = 0; t < KTIER_COUNT; t++)
            if (tier_rank[t] > tier_rank[cap])
                allowed_mask &= ~(1u << t);
    for (int t = KTIER_COUNT - 1; t > KTIER_REF; t--) {
        const kernels *k;
        if ((allowed_mask & (1u << t)) && (k = kernels_tier((ktier)t)) != NULL)
            return k;
    }
    return &kernels_table_ref; /* always available, whatever the mask */
}

const kernels *kernels_init(unsigned allowed_mask)
{
    const kernels *cur = atomic_load_explicit(&chosen, memory_order_acquire);
    if (cur)
        return cur;
    const kernels *k = kernels_select(allowed_mask, getenv(KERNELS_ENV_TIER));
    if (atomic_compare_exchange_strong_explicit(&chosen, &cur, k, memory_order_acq_rel,
                                                memory_order_acquire))
        return k;
    return cur; /* another thread won; cur holds its choice */
}

const kernels *kernels_get(void)
{
    const kernels *cur = atomic_load_explicit(&chosen, memory_order_acquire);
    return cur ? cur : kernels_init(KTIER_MASK_ALL);
}
