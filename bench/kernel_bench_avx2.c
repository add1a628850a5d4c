/* kernel_bench_avx2.c -- kernel-bench's x86 comparison kernels, compiled
 * with -mavx2 -mfma -mf16c (bench/CMakeLists.txt) and called only when the
 * CPU has the avx2 tier.
 *
 * 1. dot_i8 via vpmaddubsw with the abs/sign trick: the faster-looking
 *    alternative to kernels/avx2.c's vpmovsxbw + vpmaddwd. It is wrong when
 *    b = -128 meets a < 0 (sign(-128) cannot be +128 in int8), which is why
 *    the library does not use it; measured here to show what exactness
 *    costs.
 * 2. SimSIMD's haswell kernels, when its headers were fetched by
 *    bench/fetch_simsimd.sh (SIMCACHE_BENCH_SIMSIMD is then defined), behind
 *    wrappers with our signatures. The wrappers live in this translation
 *    unit so the timing loop in kernel_bench.c cannot see that the inlined
 *    header functions are pure and hoist them out of the loop. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bench/kernel_bench.h"

int32_t bench_dot_i8_maddubs(const int8_t *a, const int8_t *b, size_t n)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(a + i + 32));
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + i + 32));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_abs_epi8(a0), _mm256_sign_epi8(b0, a0));
        __m256i p1 = _mm256_maddubs_epi16(_mm256_abs_epi8(a1), _mm256_sign_epi8(b1, a1));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, ones));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, ones));
    }
    __m256i s = _mm256_add_epi32(s0, s1);
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
    r = _mm_add_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
    int32_t t = _mm_cvtsi128_si32(r);
    for (; i < n; i++)
        t += a[i] * b[i];
    return t;
}

#ifdef SIMCACHE_BENCH_SIMSIMD
#define SIMSIMD_NATIVE_F16 0
#define SIMSIMD_NATIVE_BF16 0
#define SIMSIMD_DYNAMIC_DISPATCH 0
/* SimSIMD declares every kernel of every target `static`; those for other
 * targets are never defined, which -Wunused-function reports. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#include <simsimd/simsimd.h>
#pragma GCC diagnostic pop

int bench_have_simsimd = 1;

float bench_simsimd_dot_f32(const float *a, const float *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_dot_f32_haswell(a, b, n, &r);
    return (float)r;
}

float bench_simsimd_l2sq_f32(const float *a, const float *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_l2sq_f32_haswell(a, b, n, &r);
    return (float)r;
}

int32_t bench_simsimd_dot_i8(const int8_t *a, const int8_t *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_dot_i8_haswell(a, b, n, &r);
    return (int32_t)r;
}

float bench_simsimd_dot_f16(const uint16_t *a, const uint16_t *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_dot_f16_haswell((const simsimd_f16_t *)a, (const simsimd_f16_t *)b, n, &r);
    return (float)r;
}
#else
int bench_have_simsimd = 0;
float bench_simsimd_dot_f32(const float *a, const float *b, size_t n) { return 0; }
float bench_simsimd_l2sq_f32(const float *a, const float *b, size_t n) { return 0; }
int32_t bench_simsimd_dot_i8(const int8_t *a, const int8_t *b, size_t n) { return 0; }
float bench_simsimd_dot_f16(const uint16_t *a, const uint16_t *b, size_t n) { return 0; }
#endif
