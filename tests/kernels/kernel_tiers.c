/* kernel_tiers.c -- plain-C kernel test: every tier compiled in and
 * supported by this CPU against ref (see kcheck.h for the tolerance), f16
 * conversion, the selection rule. No Criterion, so it also runs for
 * AArch64 under qemu (scripts/test.sh neon). Prints "N passed, N failed",
 * exits 0 only when nothing failed.
 *
 * Usage: kernel_tiers                 run every check (every variant of
 *                                     every tier, e.g. avx2 and avx2+vnni)
 *        kernel_tiers --env-tier      check that kernels_init honoured
 *                                     SIMCACHE_KERNEL_TIER (ctest sets it)
 *                                     and that the chosen tier passes
 *        kernel_tiers --expect VARIANT
 *                                     every check, and the default choice
 *                                     must be VARIANT (kernels_variant
 *                                     name): ctest runs this under
 *                                     qemu-x86_64 -cpu Haswell / Nehalem,
 *                                     CPUs without AVX-512 or AVX-VNNI (or
 *                                     AVX), so runtime detection is
 *                                     tested on CPUs this machine is not */
#include "tests/kernels/kcheck.h"

static int report(const kcheck *c)
{
    printf("%d passed, %d failed\n", c->passed, c->failed);
    return c->failed ? 1 : 0;
}

/* The env cap must select exactly that tier when it is available here,
 * and kernels_get() must agree with kernels_init(). */
static void check_env_tier(kcheck *c)
{
    const char *env = getenv(KERNELS_ENV_TIER);
    ktier t;
    if (!env || kernels_tier_from_name(env, &t) != 0) {
        kc_result(c, 0, "%s must name a tier, got %s", KERNELS_ENV_TIER, env ? env : "(unset)");
        return;
    }
    const kernels *k = kernels_init(KTIER_MASK_ALL);
    kc_result(c, kernels_get() == k, "kernels_get disagrees with kernels_init");
    if (kernels_tier(t))
        kc_result(c, k->tier == t, "env %s selected %s", env, k->name);
    else
        kc_result(c, (int)k->tier < (int)t, "env %s (absent here) selected %s", env, k->name);
    kc_result(c, kernels_init(1u << KTIER_REF) == k, "second kernels_init changed the choice");
    printf("tier: %s variant %s (env %s)\n", k->name, kernels_variant(k), env);
    kc_check_known(c, k);
    kc_check_f32(c, k, 42);
}

int main(int argc, char **argv)
{
    kcheck c = {0};
    if (argc > 1 && strcmp(argv[1], "--env-tier") == 0) {
        check_env_tier(&c);
        return report(&c);
    }
    for (int t = 0; t < KTIER_COUNT; t++) {
        const kernels *v[4];
        size_t nv = kernels_tier_variants((ktier)t, v, 4);
        for (size_t i = 0; i < nv && i < 4; i++) {
            int before = c.failed;
            kc_check_tier(&c, v[i]);
            printf("tier %-6s variant %-10s %s\n", v[i]->name, kernels_variant(v[i]),
                   c.failed == before ? "ok" : "FAILED");
        }
    }
    kc_check_f16_conv(&c);
    kc_check_select(&c);
    const char *variant = kernels_variant(kernels_get());
    printf("default tier: %s (%s)\n", kernels_get()->name, variant);
    if (argc > 2 && strcmp(argv[1], "--expect") == 0)
        kc_result(&c, strcmp(variant, argv[2]) == 0, "default variant %s, expected %s", variant,
                  argv[2]);
    return report(&c);
}
