/* batch.h -- one query (or a block of queries) against many stored rows,
 * through OpenBLAS: the exact (brute-force) search path and the re-ranker.
 *
 * Rows are float32, row-major: row r starts at rows + r * row_stride
 * (row_stride >= dim, in floats; the plain functions use row_stride = dim).
 * A padded stride lets the index keep rows 64-byte aligned.
 *
 * Threading: every function may be called from any thread, concurrently,
 * as long as the output buffers differ. OpenBLAS would otherwise start its
 * own thread pool for each call: the server calls batch_set_threads(1) at
 * start-up, before its worker threads run, so each worker's call runs on
 * that worker alone (parallelism comes from the server's workers, not from
 * OpenBLAS oversubscribing the same cores).
 *
 * Errors: -1 (nothing written) when a stride is smaller than dim or a
 * pointer that will be read or written is NULL while its count is non-zero.
 * Built as the separate library simcache_kernels_blas (absent in the
 * kernels-only cross build, which has no OpenBLAS). */
#ifndef SIMCACHE_BATCH_H
#define SIMCACHE_BATCH_H

#include <stddef.h>

/* out[r] = dot(q, row r) for r < nrows (cblas_sgemv). dim = 0 gives zeros.
 * Returns 0 or -1. */
int batch_dot_f32(const float *q, const float *rows, size_t nrows, size_t dim, float *out);
int batch_dot_f32_stride(const float *q, const float *rows, size_t nrows, size_t dim,
                         size_t row_stride, float *out);

/* out[i * nrows + r] = dot(query i, row r) for i < nq, r < nrows
 * (cblas_sgemm, Q * rows^T). Queries are contiguous: Q + i * dim. out is
 * nq x nrows, row-major. Returns 0 or -1. */
int batch_dot_f32_many(const float *Q, size_t nq, const float *rows, size_t nrows,
                       size_t dim, float *out);
int batch_dot_f32_many_stride(const float *Q, size_t nq, const float *rows, size_t nrows,
                              size_t dim, size_t row_stride, float *out);

/* Sets OpenBLAS's thread count (openblas_set_num_threads; n < 1 counts as
 * 1). Process-wide: call at start-up, before threads that use batch_*. */
void batch_set_threads(int n);
/* OpenBLAS's current thread count. */
int batch_threads(void);

#endif
