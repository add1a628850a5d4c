/* test_kernels.c -- Criterion suite for kernels/: every tier this CPU runs
 * against ref (checks shared with the plain-C tests/kernels/kernel_tiers,
 * tolerance derived in tests/kernels/kcheck.h), f16 conversion, tier
 * selection and the env override, and the OpenBLAS batch path against ref.
 * Each Criterion test runs in its own process, so the env tests can set
 * SIMCACHE_KERNEL_TIER before the process's first kernels_init. */
#include <criterion/criterion.h>

#include "kernels/batch.h"
#include "tests/kernels/kcheck.h"

/* Every variant of tier t (avx2: the AVX-VNNI one too, when the CPU has
 * it) against ref; skipped, with the reason, when the tier is absent. */
static void run_tier(ktier t)
{
    const kernels *v[4];
    size_t nv = kernels_tier_variants(t, v, 4);
    if (nv == 0)
        cr_skip_test("tier %d not compiled in or not supported by this CPU", (int)t);
    for (size_t i = 0; i < nv; i++) {
        kcheck c = {0};
        kc_check_tier(&c, v[i]);
        cr_assert(c.failed == 0, "%s: %d failed, first: %s", kernels_variant(v[i]), c.failed,
                  c.first);
        cr_assert(c.passed >= (t == KTIER_REF ? 11 : 1000), "%s: only %d checks ran",
                  kernels_variant(v[i]), c.passed);
    }
}

Test(kernels, ref_tier_gives_known_exact_values) { run_tier(KTIER_REF); }
Test(kernels, scalar_tier_matches_ref_within_bound) { run_tier(KTIER_SCALAR); }
Test(kernels, avx2_tier_matches_ref_within_bound) { run_tier(KTIER_AVX2); }
Test(kernels, neon_tier_matches_ref_within_bound) { run_tier(KTIER_NEON); }
Test(kernels, avx512_tier_matches_ref_within_bound) { run_tier(KTIER_AVX512); }

/* The avx2 tier's AVX-VNNI variant by name, so a CPU that lacks AVX-VNNI
 * shows a skip here rather than silently testing only the plain one. */
Test(kernels, avx2_vnni_variant_matches_ref_within_bound)
{
    const kernels *v[4];
    size_t nv = kernels_tier_variants(KTIER_AVX2, v, 4);
    if (nv < 2)
        cr_skip_test("no AVX-VNNI on this CPU (or no avx2 tier): avx2+vnni not testable");
    cr_assert_str_eq(kernels_variant(v[0]), "avx2+vnni");
    cr_assert_str_eq(kernels_variant(v[1]), "avx2");
    kcheck c = {0};
    kc_check_tier(&c, v[0]);
    cr_assert(c.failed == 0, "%d failed, first: %s", c.failed, c.first);
    cr_assert(c.passed >= 1000, "only %d checks ran", c.passed);
}

Test(kernels, f16_conversion_is_exact_incl_subnormals_and_inf)
{
    kcheck c = {0};
    kc_check_f16_conv(&c);
    cr_assert(c.failed == 0, "%d failed, first: %s", c.failed, c.first);
}

Test(kernels, selection_honours_mask_and_cap)
{
    kcheck c = {0};
    kc_check_select(&c);
    cr_assert(c.failed == 0, "%d failed, first: %s", c.failed, c.first);
}

#if defined(__x86_64__)
/* 1 if the kernel lists `flag` among the CPU's flags: a check independent of
 * dispatch.c's CPUID code (Linux hides AVX flags the OS does not enable). */
static int cpuinfo_has(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        char want[64];
        snprintf(want, sizeof want, " %s", flag);
        for (char *p = strstr(line, want); p; p = strstr(p + 1, want))
            if (p[strlen(want)] == ' ' || p[strlen(want)] == '\n')
                found = 1;
        break;
    }
    if (f)
        fclose(f);
    return found;
}

static int cpu_has_avx2_tier_flags(void)
{
    return cpuinfo_has("avx2") && cpuinfo_has("fma") && cpuinfo_has("f16c");
}

static int cpu_has_avx512_tier_flags(void)
{
    return cpu_has_avx2_tier_flags() && cpuinfo_has("avx512f") && cpuinfo_has("avx512bw") &&
           cpuinfo_has("avx512vl") && cpuinfo_has("avx512dq") && cpuinfo_has("avx512_vnni");
}

Test(kernels, best_x86_tier_is_chosen_by_default_exactly_when_the_cpu_has_it)
{
    int has2 = cpu_has_avx2_tier_flags(), has512 = cpu_has_avx512_tier_flags();
    unsetenv(KERNELS_ENV_TIER);
    cr_assert_str_eq(kernels_get()->name, has512 ? "avx512" : has2 ? "avx2" : "scalar");
    cr_assert_eq(kernels_tier(KTIER_AVX2) != NULL, has2);
    cr_assert_eq(kernels_tier(KTIER_AVX512) != NULL, has512);
}

Test(kernels, avx2_vnni_variant_is_used_exactly_when_the_cpu_has_avx_vnni)
{
    const kernels *k = kernels_tier(KTIER_AVX2);
    if (!k)
        cr_skip_test("no avx2 tier on this CPU");
    cr_assert_str_eq(k->name, "avx2");
    cr_assert_str_eq(kernels_variant(k), cpuinfo_has("avx_vnni") ? "avx2+vnni" : "avx2");
}

Test(kernels, env_avx2_forces_avx2_even_on_an_avx512_cpu)
{
    if (!cpu_has_avx2_tier_flags())
        cr_skip_test("no avx2 tier on this CPU");
    setenv(KERNELS_ENV_TIER, "avx2", 1);
    const kernels *k = kernels_get();
    cr_assert_str_eq(k->name, "avx2");
    cr_assert_eq(k, kernels_tier(KTIER_AVX2)); /* the best avx2 variant */
}
#endif

Test(kernels, env_ref_forces_the_ref_tier)
{
    setenv(KERNELS_ENV_TIER, "ref", 1);
    cr_assert_str_eq(kernels_init(KTIER_MASK_ALL)->name, "ref");
    cr_assert_str_eq(kernels_get()->name, "ref");
}

Test(kernels, env_scalar_forces_the_scalar_tier)
{
    setenv(KERNELS_ENV_TIER, "scalar", 1);
    cr_assert_str_eq(kernels_get()->name, "scalar");
}

Test(kernels, unknown_env_value_is_ignored)
{
    setenv(KERNELS_ENV_TIER, "avx9000", 1);
    cr_assert_eq(kernels_init(KTIER_MASK_ALL), kernels_select(KTIER_MASK_ALL, NULL));
}

Test(kernels, first_init_wins_and_mask_applies)
{
    unsetenv(KERNELS_ENV_TIER);
    const kernels *k = kernels_init(1u << KTIER_SCALAR);
    cr_assert_str_eq(k->name, "scalar");
    cr_assert_eq(kernels_init(KTIER_MASK_ALL), k);
    cr_assert_eq(kernels_get(), k);
}

/* ---- OpenBLAS batch path ---- */

static float *rand_floats(size_t n, uint64_t *seed)
{
    float *v = malloc(n * sizeof *v + 1);
    for (size_t i = 0; i < n; i++)
        v[i] = kc_float(seed);
    return v;
}

static void check_rows(const float *q, const float *rows, size_t nrows, size_t dim,
                       size_t stride, const float *out, const char *what)
{
    const kernels *ref = kernels_tier(KTIER_REF);
    for (size_t r = 0; r < nrows; r++) {
        const float *row = rows + r * stride;
        float want = ref->dot_f32(q, row, dim);
        cr_assert(kc_close(out[r], want, kc_mag_f32(KC_DOT, q, row, dim), dim),
                  "%s dim=%zu stride=%zu row %zu: got %.9g want %.9g", what, dim, stride, r,
                  out[r], want);
    }
}

Test(batch, sgemv_matches_ref_with_and_without_padding)
{
    batch_set_threads(1);
    uint64_t seed = 7;
    const size_t dims[] = {1, 3, 17, 100, 384, 768};
    const size_t nrows_list[] = {1, 2, 7, 100};
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++) {
        for (size_t ni = 0; ni < sizeof nrows_list / sizeof *nrows_list; ni++) {
            size_t dim = dims[di], nrows = nrows_list[ni];
            for (size_t pad = 0; pad <= 5; pad += 5) {
                size_t stride = dim + pad;
                float *q = rand_floats(dim, &seed), *rows = rand_floats(nrows * stride, &seed);
                float *out = malloc(nrows * sizeof *out);
                int rc = pad ? batch_dot_f32_stride(q, rows, nrows, dim, stride, out)
                             : batch_dot_f32(q, rows, nrows, dim, out);
                cr_assert_eq(rc, 0);
                check_rows(q, rows, nrows, dim, stride, out, "sgemv");
                free(q);
                free(rows);
                free(out);
            }
        }
    }
}

Test(batch, sgemm_matches_ref_for_every_query)
{
    batch_set_threads(1);
    uint64_t seed = 11;
    const size_t dims[] = {1, 17, 384};
    const size_t nqs[] = {1, 3, 16};
    for (size_t di = 0; di < 3; di++) {
        for (size_t qi = 0; qi < 3; qi++) {
            size_t dim = dims[di], nq = nqs[qi], nrows = 37, stride = dim + 3;
            float *Q = rand_floats(nq * dim, &seed), *rows = rand_floats(nrows * stride, &seed);
            float *out = malloc(nq * nrows * sizeof *out);
            cr_assert_eq(batch_dot_f32_many_stride(Q, nq, rows, nrows, dim, stride, out), 0);
            for (size_t i = 0; i < nq; i++)
                check_rows(Q + i * dim, rows, nrows, dim, stride, out + i * nrows, "sgemm");
            float *rows2 = malloc(nrows * dim * sizeof *rows2);
            for (size_t r = 0; r < nrows; r++)
                memcpy(rows2 + r * dim, rows + r * stride, dim * sizeof *rows2);
            cr_assert_eq(batch_dot_f32_many(Q, nq, rows2, nrows, dim, out), 0);
            for (size_t i = 0; i < nq; i++)
                check_rows(Q + i * dim, rows2, nrows, dim, dim, out + i * nrows, "sgemm");
            free(Q);
            free(rows);
            free(rows2);
            free(out);
        }
    }
}

Test(batch, zero_dim_gives_zeros_not_stale_output)
{
    float out[4] = {NAN, NAN, NAN, NAN}, q = 1.f, rows = 1.f;
    cr_assert_eq(batch_dot_f32(&q, &rows, 4, 0, out), 0);
    for (int i = 0; i < 4; i++)
        cr_assert(out[i] == 0.f, "out[%d] = %g", i, out[i]);
    float out2[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    cr_assert_eq(batch_dot_f32_many(&q, 2, &rows, 3, 0, out2), 0);
    for (int i = 0; i < 6; i++)
        cr_assert(out2[i] == 0.f, "out2[%d] = %g", i, out2[i]);
}

Test(batch, stride_below_dim_is_rejected_and_nothing_written)
{
    float q[4] = {1, 2, 3, 4}, rows[8] = {0}, out[2] = {5, 5};
    cr_assert_eq(batch_dot_f32_stride(q, rows, 2, 4, 3, out), -1);
    cr_assert_eq(batch_dot_f32_many_stride(q, 1, rows, 2, 4, 3, out), -1);
    cr_assert(out[0] == 5 && out[1] == 5);
    cr_assert_eq(batch_dot_f32(NULL, rows, 2, 4, out), -1);
    cr_assert_eq(batch_dot_f32(q, rows, 0, 4, NULL), 0); /* nothing to do */
}

Test(batch, set_threads_is_explicit)
{
    batch_set_threads(1);
    cr_assert_eq(batch_threads(), 1);
    batch_set_threads(0);
    cr_assert_eq(batch_threads(), 1);
}
