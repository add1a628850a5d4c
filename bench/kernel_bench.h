/* kernel_bench.h -- the x86 comparison kernels kernel_bench.c times
 * (defined in kernel_bench_avx2.c, which is compiled with AVX2 flags). */
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

#endif
