/* kernel_bench.h -- the x86 comparison kernels kernel_bench.c times
 * (defined in kernel_bench_avx2.c, compiled with AVX2 flags, and
 * kernel_bench_avx512.c, compiled with AVX-512 flags). */
#ifndef SIMCACHE_KERNEL_BENCH_H
#define SIMCACHE_KERNEL_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* vpmaddubsw abs/sign int8 dot: inexact when b = -128 meets a < 0. */
int32_t bench_dot_i8_maddubs(const int8_t *a, const int8_t *b, size_t n);

/* 1 when SimSIMD's headers were found at configure time; the wrappers
 * below then call simsimd_*_haswell, else they are never called. */
extern int bench_have_simsimd;
float bench_simsimd_dot_f32(const float *a, const float *b, size_t n);
float bench_simsimd_l2sq_f32(const float *a, const float *b, size_t n);
int32_t bench_simsimd_dot_i8(const int8_t *a, const int8_t *b, size_t n);
float bench_simsimd_dot_f16(const uint16_t *a, const uint16_t *b, size_t n);


/* SimSIMD's AVX-512 kernels (skylake: f32; ice: int8 via VNNI/BW), when
 * its headers were found; call only when bench_simsimd512_cpu_ok(). */
extern int bench_have_simsimd512;
int bench_simsimd512_cpu_ok(void);
float bench_simsimd_dot_f32_skylake(const float *a, const float *b, size_t n);
float bench_simsimd_l2sq_f32_skylake(const float *a, const float *b, size_t n);
int32_t bench_simsimd_dot_i8_ice(const int8_t *a, const int8_t *b, size_t n);
int32_t bench_simsimd_l2sq_i8_ice(const int8_t *a, const int8_t *b, size_t n);

#endif
