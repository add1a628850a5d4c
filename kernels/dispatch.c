/* dispatch.c -- chooses the kernel tier once and hands out its table.
 *
 * Design decisions:
 * 1. A tier is usable when it is compiled in (CMake compiles avx2.c only
 *    for x86-64 and neon.c only for AArch64), the CPU runs it (x86:
 *    __builtin_cpu_supports for avx2, fma and f16c, which also checks that
 *    the OS saves YMM state; AArch64: Advanced SIMD is baseline), and the
 *    caller's mask and the SIMCACHE_KERNEL_TIER cap allow it. The best
 *    usable tier wins: neon/avx2 > scalar > ref.
 * 2. The choice is recorded once, by compare-and-swap of one pointer to a
 *    static const table; later kernels_init calls return the first choice.
 *    There are no mutable function pointers: the tables are const and the
 *    only shared state is that pointer, written at most once. kernels_get
 *    on a thread that races the first kernels_init is safe (both compute
 *    the same table and one CAS wins), but the intended use is one call
 *    from main before worker threads start.
 * 3. An unknown SIMCACHE_KERNEL_TIER value is ignored, not fatal: a library
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

static const char *const tier_names[KTIER_COUNT] = {"ref", "scalar", "avx2", "neon"};

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
static int cpu_has_avx2_tier(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}
#endif

const kernels *kernels_tier(ktier t)
{
    switch (t) {
    case KTIER_REF:
        return &kernels_table_ref;
    case KTIER_SCALAR:
        return &kernels_table_scalar;
    case KTIER_AVX2:
#ifdef SIMCACHE_KERNELS_HAVE_AVX2
        if (cpu_has_avx2_tier())
            return &kernels_table_avx2;
#endif
        return NULL;
    case KTIER_NEON:
#ifdef SIMCACHE_KERNELS_HAVE_NEON
        return &kernels_table_neon;
#else
        return NULL;
#endif
    default:
        return NULL;
    }
}

const kernels *kernels_select(unsigned allowed_mask, const char *cap_name)
{
    ktier cap;
    if (kernels_tier_from_name(cap_name, &cap) == 0)
        allowed_mask &= (2u << cap) - 1; /* tiers 0..cap */
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
