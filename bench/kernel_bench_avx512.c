/* kernel_bench_avx512.c -- kernel-bench's AVX-512 comparison kernels:
 * SimSIMD's skylake (f32 dot, l2) and ice (int8 dot, l2) kernels, when
 * bench/fetch_simsimd.sh has fetched its headers (SIMCACHE_BENCH_SIMSIMD).
 * Compiled with the AVX-512 flags SimSIMD's skylake and ice targets test
 * for (bench/CMakeLists.txt) and called only when the CPU has the avx512
 * tier and bench_simsimd512_cpu_ok(). As in kernel_bench_avx2.c, the
 * wrappers live in their own translation unit so the timing loop cannot
 * hoist the inlined header functions out of the loop. */
#include <stddef.h>
#include <stdint.h>

#include "bench/kernel_bench.h"

#ifdef SIMCACHE_BENCH_SIMSIMD
#define SIMSIMD_NATIVE_F16 0
#define SIMSIMD_NATIVE_BF16 0
#define SIMSIMD_DYNAMIC_DISPATCH 0
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#include <simsimd/simsimd.h>
#pragma GCC diagnostic pop

int bench_have_simsimd512 = 1;

/* SimSIMD's ice target also assumes IFMA, BITALG, VBMI2 and VPOPCNTDQ. */
int bench_simsimd512_cpu_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512ifma") && __builtin_cpu_supports("avx512bitalg") &&
           __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("avx512vpopcntdq");
}

float bench_simsimd_dot_f32_skylake(const float *a, const float *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_dot_f32_skylake(a, b, n, &r);
    return (float)r;
}

float bench_simsimd_l2sq_f32_skylake(const float *a, const float *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_l2sq_f32_skylake(a, b, n, &r);
    return (float)r;
}

int32_t bench_simsimd_dot_i8_ice(const int8_t *a, const int8_t *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_dot_i8_ice(a, b, n, &r);
    return (int32_t)r;
}

int32_t bench_simsimd_l2sq_i8_ice(const int8_t *a, const int8_t *b, size_t n)
{
    simsimd_distance_t r;
    simsimd_l2sq_i8_ice(a, b, n, &r);
    return (int32_t)r;
}
#else
int bench_have_simsimd512 = 0;
int bench_simsimd512_cpu_ok(void) { return 0; }
float bench_simsimd_dot_f32_skylake(const float *a, const float *b, size_t n) { return 0; }
float bench_simsimd_l2sq_f32_skylake(const float *a, const float *b, size_t n) { return 0; }
int32_t bench_simsimd_dot_i8_ice(const int8_t *a, const int8_t *b, size_t n) { return 0; }
int32_t bench_simsimd_l2sq_i8_ice(const int8_t *a, const int8_t *b, size_t n) { return 0; }
#endif
