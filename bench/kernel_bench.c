/* kernel_bench.c -- kernel-bench: ns per call and GFLOP/s of every kernel
 * tier and variant (avx2+vnni, avx512) at dims 100, 384, 768, 1536, 3072,
 * beside OpenBLAS cblas_sdot and (when its headers were fetched) SimSIMD's
 * haswell and skylake/ice kernels, printed as markdown tables.
 *
 * Method:
 * 1. One vector pair per dim, both in L1/L2 (3072 floats x 2 = 24 KiB), the
 *    same pair for every call: this measures the kernel, not memory. The
 *    vectors are 64-byte aligned, as the index stores them; one extra row
 *    shows the SIMD f32 dot on operands 16 bytes off (malloc's alignment),
 *    where every other 32-byte load splits a cache line.
 * 2. A sample is `reps` back-to-back calls through a function pointer
 *    (reps chosen so a sample lasts ~20 us), timed with CLOCK_MONOTONIC;
 *    the figure is the median of 31 samples, so a neighbour's burst on
 *    this shared machine moves few samples and not the median.
 * 3. FLOP counts: dot = 2 per element (multiply, add), l2 = 3 (subtract,
 *    multiply, add). The core clock is measured, not read from cpuinfo
 *    (which shows the nominal TSC rate): a chain of dependent integer adds
 *    runs at one add per cycle, so adds / seconds = cycles / second.
 * 4. Load-bound peak for f32 dot: each FMA needs two vector loads, and
 *    the cores this targets (Zen 4/5, Intel since Haswell) issue two
 *    loads per cycle, so one FMA per cycle: 8 lanes x 2 = 16 FLOP/cycle
 *    with AVX2, 16 lanes x 2 = 32 FLOP/cycle with AVX-512 (Zen 5's two
 *    512-bit load ports; Zen 4 splits 512-bit loads and gets half that).
 *    "% peak" = GFLOP/s / (peak x GHz), one row per SIMD tier. (A core with
 *    more load ports can exceed 100% of this model.)
 * 5. The i8/f32 ratio compares calls per second at the same dim, per tier
 *    and variant.
 * 6. Vector preparation (the index's per-query work: scale, max-abs,
 *    quantise, f32 -> f16) runs from the same in-cache inputs into private
 *    output buffers; the portable element-by-element converters are the
 *    rows the index used before these kernels existed.
 *
 * Usage: kernel-bench [samples]   (default 31). Output: markdown on stdout. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench/kernel_bench.h"
#include "kernels/kernels.h"

static const size_t dims[] = {100, 384, 768, 1536, 3072};
#define NDIMS (sizeof dims / sizeof dims[0])
#define MAXDIM 3072
#define MAXSAMPLES 201
#define MAXIMPLS 96

static int nsamples = 31;
static volatile double sink;

/* Distance kernels, then (from OP_PREP) the vector-preparation kernels,
 * which get their own table: ns per call and elements per ns. */
typedef enum {
    OP_DOT_F32, OP_L2_F32, OP_DOT_I8, OP_L2_I8, OP_DOT_F16,
    OP_PREP, OP_F32_TO_F16 = OP_PREP, OP_F16_TO_F32, OP_SCALE, OP_MAXABS, OP_QUANT,
    OP_COUNT
} op_kind;
static const char *const op_names[OP_COUNT] = {"f32 dot", "f32 l2", "i8 dot", "i8 l2",
                                               "f16 dot", "f32 -> f16", "f16 -> f32",
                                               "scale f32", "max-abs f32", "quantise i8"};
static const double op_flop[OP_COUNT] = {2, 3, 2, 3, 2, 1, 1, 1, 1, 1};

typedef struct impl {
    const char *name;
    op_kind op;
    float (*f32)(const float *, const float *, size_t);
    int32_t (*i8)(const int8_t *, const int8_t *, size_t);
    float (*f16)(const uint16_t *, const uint16_t *, size_t);
    int blas; /* cblas_sdot */
    int skew; /* operands 16 bytes past a 64-byte boundary (plain malloc) */
    const kernels *k;   /* preparation ops: the tier's table */
    int portable;       /* f32 -> f16 / f16 -> f32: kernels_*_n helpers */
} impl;

static float *va, *vb;
static int8_t *ia, *ib;
static uint16_t *ha, *hb;
static float *pf;     /* preparation output, MAXDIM floats */
static int8_t *pi;    /* preparation output, MAXDIM bytes */
static uint16_t *ph;  /* preparation output, MAXDIM halves */

/* One call of a preparation op (the output buffers are private, the
 * inputs the shared vectors); returns something to fold into the sink. */
static double run_prep(const impl *m, size_t n)
{
    switch (m->op) {
    case OP_F32_TO_F16:
        if (m->portable)
            kernels_f32_to_f16_n(ph, va, n);
        else
            m->k->f32_to_f16(ph, va, n);
        return ph[n - 1];
    case OP_F16_TO_F32:
        if (m->portable)
            kernels_f16_to_f32_n(pf, ha, n);
        else
            m->k->f16_to_f32(pf, ha, n);
        return pf[n - 1];
    case OP_SCALE:
        m->k->scale_f32(pf, va, 0.75f, n);
        return pf[n - 1];
    case OP_MAXABS:
        return m->k->maxabs_f32(va, n);
    default:
        m->k->quant_i8(pi, va, 254.0f, n);
        return pi[n - 1];
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Nanoseconds for `reps` calls of impl m at dim n. */
static double run(const impl *m, size_t n, size_t reps)
{
    double acc = 0, t0 = now_ns();
    const float *fa = va + (m->skew ? 4 : 0), *fb = vb + (m->skew ? 4 : 0);
    if (m->op >= OP_PREP)
        for (size_t r = 0; r < reps; r++)
            acc += run_prep(m, n);
    else if (m->f32)
        for (size_t r = 0; r < reps; r++)
            acc += m->f32(fa, fb, n);
    else if (m->i8)
        for (size_t r = 0; r < reps; r++)
            acc += m->i8(ia, ib, n);
    else if (m->f16)
        for (size_t r = 0; r < reps; r++)
            acc += m->f16(ha, hb, n);
    else
        for (size_t r = 0; r < reps; r++)
            acc += cblas_sdot((int)n, va, 1, vb, 1);
    double t = now_ns() - t0;
    sink = acc;
    return t;
}

/* Median ns per call. */
static double measure(const impl *m, size_t n)
{
    double est = run(m, n, 64) / 64;
    size_t reps = est > 0 ? (size_t)(20000.0 / est) : 1000;
    if (reps < 8)
        reps = 8;
    run(m, n, reps); /* warm-up */
    double s[MAXSAMPLES];
    for (int i = 0; i < nsamples; i++)
        s[i] = run(m, n, reps) / (double)reps;
    qsort(s, (size_t)nsamples, sizeof *s, cmp_double);
    return s[nsamples / 2];
}

/* Core clock in GHz from a dependent add chain (1 add per cycle), timed
 * like the kernels: median of many ~20 us samples, so a time slice lost to
 * another process moves a few samples, not the figure. */
#if defined(__x86_64__)
#define ADD4 "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
#elif defined(__aarch64__)
#define ADD4 "add %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\tadd %0, %0, #1\n\t"
#endif
static double core_ghz(void)
{
#ifdef ADD4
    const long iters = 2000; /* x 40 adds = 80k cycles, ~20-40 us */
    double s[101];
    uint64_t x = 0;
    for (int k = 0; k < 101; k++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++)
            __asm__ volatile(ADD4 ADD4 ADD4 ADD4 ADD4 ADD4 ADD4 ADD4 ADD4 ADD4 : "+r"(x));
        s[k] = (double)(iters * 40) / (now_ns() - t0);
    }
    sink = (double)x;
    qsort(s, 101, sizeof *s, cmp_double);
    return s[50];
#else
    return 0;
#endif
}

static double cpuinfo_mhz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "cpu MHz : %lf", &mhz) == 1 || sscanf(line, "cpu MHz\t: %lf", &mhz) == 1)
            break;
    if (f)
        fclose(f);
    return mhz;
}

static void fill(void)
{
    uint64_t s = 12345;
    va = aligned_alloc(64, (MAXDIM + 16) * sizeof *va);
    vb = aligned_alloc(64, (MAXDIM + 16) * sizeof *vb);
    ia = aligned_alloc(64, MAXDIM);
    ib = aligned_alloc(64, MAXDIM);
    ha = aligned_alloc(64, MAXDIM * sizeof *ha);
    hb = aligned_alloc(64, MAXDIM * sizeof *hb);
    pf = aligned_alloc(64, MAXDIM * sizeof *pf);
    pi = aligned_alloc(64, MAXDIM);
    ph = aligned_alloc(64, MAXDIM * sizeof *ph);
    for (size_t i = 0; i < MAXDIM + 16; i++) {
        va[i] = vb[i] = 0.25f;
    }
    for (size_t i = 0; i < MAXDIM; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float x = (float)(s >> 40) * 0x1p-24f - 0.5f;
        float y = (float)((s >> 16) & 0xFFFFFF) * 0x1p-24f - 0.5f;
        va[i] = x;
        vb[i] = y;
        ia[i] = (int8_t)(x * 250);
        ib[i] = (int8_t)(y * 250);
        ha[i] = kernels_f32_to_f16(x);
        hb[i] = kernels_f32_to_f16(y);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nsamples = atoi(argv[1]);
    if (nsamples < 3 || nsamples > MAXSAMPLES)
        nsamples = 31;
    fill();

    impl impls[MAXIMPLS];
    int ni = 0;
    for (int t = 0; t < KTIER_COUNT; t++) {
        const kernels *v[4];
        size_t nv = kernels_tier_variants((ktier)t, v, 4);
        for (size_t j = 0; j < nv && j < 4; j++) {
            /* the best variant in full; others only where they differ */
            const kernels *k = v[j];
            const char *name = kernels_variant(k);
            if (j == 0 || k->dot_f32 != v[0]->dot_f32) {
                impls[ni++] = (impl){name, OP_DOT_F32, .f32 = k->dot_f32};
                if (t > KTIER_SCALAR)
                    impls[ni++] = (impl){"", OP_DOT_F32, .f32 = k->dot_f32, .skew = 1};
            }
            if (j == 0 || k->l2sq_f32 != v[0]->l2sq_f32)
                impls[ni++] = (impl){name, OP_L2_F32, .f32 = k->l2sq_f32};
            if (j == 0 || k->dot_i8 != v[0]->dot_i8)
                impls[ni++] = (impl){name, OP_DOT_I8, .i8 = k->dot_i8};
            if (j == 0 || k->l2sq_i8 != v[0]->l2sq_i8)
                impls[ni++] = (impl){name, OP_L2_I8, .i8 = k->l2sq_i8};
            if (j == 0 || k->dot_f16 != v[0]->dot_f16)
                impls[ni++] = (impl){name, OP_DOT_F16, .f16 = k->dot_f16};
        }
    }
    impls[ni++] = (impl){"openblas cblas_sdot", OP_DOT_F32, .blas = 1};
    impls[ni++] = (impl){"portable kernels_f32_to_f16_n", OP_F32_TO_F16, .portable = 1};
    impls[ni++] = (impl){"portable kernels_f16_to_f32_n", OP_F16_TO_F32, .portable = 1};
    for (int t = 0; t < KTIER_COUNT; t++) {
        const kernels *k = kernels_tier((ktier)t);
        if (!k)
            continue;
        for (int op = OP_PREP; op < OP_COUNT; op++)
            impls[ni++] = (impl){k->name, (op_kind)op, .k = k};
    }
#if defined(__x86_64__)
    if (kernels_tier(KTIER_AVX2)) {
        impls[ni++] = (impl){"maddubs abs/sign, no -128 check (inexact), scalar tail", OP_DOT_I8,
                             .i8 = bench_dot_i8_maddubs};
        if (bench_have_simsimd) {
            impls[ni++] = (impl){"simsimd haswell", OP_DOT_F32, .f32 = bench_simsimd_dot_f32};
            impls[ni++] = (impl){"simsimd haswell", OP_L2_F32, .f32 = bench_simsimd_l2sq_f32};
            impls[ni++] = (impl){"simsimd haswell", OP_DOT_I8, .i8 = bench_simsimd_dot_i8};
            impls[ni++] = (impl){"simsimd haswell", OP_DOT_F16, .f16 = bench_simsimd_dot_f16};
        }
    }
    if (kernels_tier(KTIER_AVX512) && bench_have_simsimd512 && bench_simsimd512_cpu_ok()) {
        impls[ni++] = (impl){"simsimd skylake", OP_DOT_F32, .f32 = bench_simsimd_dot_f32_skylake};
        impls[ni++] = (impl){"simsimd skylake", OP_L2_F32, .f32 = bench_simsimd_l2sq_f32_skylake};
        impls[ni++] = (impl){"simsimd ice", OP_DOT_I8, .i8 = bench_simsimd_dot_i8_ice};
        impls[ni++] = (impl){"simsimd ice", OP_L2_I8, .i8 = bench_simsimd_l2sq_i8_ice};
    }
#endif
    openblas_set_num_threads(1);

    double ghz = core_ghz();
    printf("# kernel-bench\n\n");
    printf("default tier: %s (variant %s); core clock measured %.2f GHz (cpuinfo %.0f MHz); "
           "median of %d samples; SimSIMD %s\n\n",
           kernels_get()->name, kernels_variant(kernels_get()), ghz, cpuinfo_mhz(), nsamples,
           bench_have_simsimd ? "compiled in" : "not found (bench/fetch_simsimd.sh)");

    static double ns[MAXIMPLS][NDIMS];
    for (int m = 0; m < ni; m++)
        for (size_t d = 0; d < NDIMS; d++)
            ns[m][d] = measure(&impls[m], dims[d]);

    printf("ns per call (GFLOP/s)\n\n| op | impl |");
    for (size_t d = 0; d < NDIMS; d++)
        printf(" d=%zu |", dims[d]);
    printf("\n|---|---|");
    for (size_t d = 0; d < NDIMS; d++)
        printf("---:|");
    printf("\n");
    for (int op = 0; op < OP_COUNT; op++) {
        if (op == OP_PREP) {
            printf("\nvector preparation: ns per call (elements per ns)\n\n| op | impl |");
            for (size_t d = 0; d < NDIMS; d++)
                printf(" d=%zu |", dims[d]);
            printf("\n|---|---|");
            for (size_t d = 0; d < NDIMS; d++)
                printf("---:|");
            printf("\n");
        }
        for (int m = 0; m < ni; m++) {
            if ((int)impls[m].op != op)
                continue;
            if (impls[m].skew)
                printf("| %s | %s, 16 B past 64 B alignment |", op_names[op], impls[m - 1].name);
            else
                printf("| %s | %s |", op_names[op], impls[m].name);
            for (size_t d = 0; d < NDIMS; d++)
                printf(" %.1f (%.1f) |", ns[m][d], op_flop[op] * (double)dims[d] / ns[m][d]);
            printf("\n");
        }
    }

    /* Targets, per SIMD tier and variant: f32 dot against the load-bound
     * peak (method note 4), int8 dot against f32 dot. */
    printf("\nSIMD tier targets\n\n| metric | tier |");
    for (size_t d = 0; d < NDIMS; d++)
        printf(" d=%zu |", dims[d]);
    printf("\n|---|---|");
    for (size_t d = 0; d < NDIMS; d++)
        printf("---:|");
    printf("\n");
    for (int t = KTIER_SCALAR + 1; t < KTIER_COUNT; t++) {
        const kernels *v[4];
        size_t nv = kernels_tier_variants((ktier)t, v, 4);
        double peak = t == KTIER_AVX512 ? 32.0 : 16.0; /* FLOP/cycle; neon: 2 x 128-bit = 16 */
        int mf = -1;
        for (int m = 0; m < ni && nv; m++)
            if (impls[m].f32 == v[0]->dot_f32 && !impls[m].skew && impls[m].op == OP_DOT_F32)
                mf = m;
        if (mf < 0)
            continue;
        printf("| f32 dot, %% of load-bound peak (%.0f FLOP/cycle) | %s |", peak, v[0]->name);
        for (size_t d = 0; d < NDIMS; d++)
            printf(" %.0f%% |", ghz > 0 ? 100.0 * 2.0 * (double)dims[d] / ns[mf][d] / (peak * ghz) : 0);
        printf("\n");
        for (size_t j = 0; j < nv && j < 4; j++) {
            int mi = -1;
            for (int m = 0; m < ni; m++)
                if (impls[m].i8 == v[j]->dot_i8 && impls[m].op == OP_DOT_I8)
                    mi = m;
            if (mi < 0)
                continue;
            printf("| i8 dot speed / f32 dot speed | %s |", kernels_variant(v[j]));
            for (size_t d = 0; d < NDIMS; d++)
                printf(" %.2fx |", ns[mf][d] / ns[mi][d]);
            printf("\n");
        }
    }
    return 0;
}
