/* batch.c -- OpenBLAS-backed batch dot products (see batch.h).
 *
 * Design decisions:
 * 1. sgemv for one query, sgemm for a block: a block of queries reuses each
 *    row from cache for every query, which per-pair kernels cannot do.
 * 2. BLAS dimensions are int: counts above INT_MAX are split into chunks
 *    of rows (a single dim above INT_MAX is rejected).
 * 3. BLAS quick-returns without touching y when n = 0, so dim = 0 is
 *    handled here (zeros), as the per-pair kernels return 0 for n = 0.
 * 4. The thread count is OpenBLAS's global; batch_set_threads is a thin
 *    wrapper so the server's start-up makes the choice explicit. */
#include <limits.h>
#include <string.h>

#include <cblas.h>

#include "kernels/batch.h"

#define CHUNK_ROWS ((size_t)1 << 30)

int batch_dot_f32_stride(const float *q, const float *rows, size_t nrows, size_t dim,
                         size_t row_stride, float *out)
{
    if (row_stride < dim || dim > INT_MAX || row_stride > INT_MAX)
        return -1;
    if (nrows == 0)
        return 0;
    if (!out || (dim > 0 && (!q || !rows)))
        return -1;
    if (dim == 0) {
        memset(out, 0, nrows * sizeof *out);
        return 0;
    }
    for (size_t r = 0; r < nrows; r += CHUNK_ROWS) {
        size_t m = nrows - r < CHUNK_ROWS ? nrows - r : CHUNK_ROWS;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)m, (blasint)dim, 1.0f,
                    rows + r * row_stride, (blasint)row_stride, q, 1, 0.0f, out + r, 1);
    }
    return 0;
}

int batch_dot_f32(const float *q, const float *rows, size_t nrows, size_t dim, float *out)
{
    return batch_dot_f32_stride(q, rows, nrows, dim, dim, out);
}

int batch_dot_f32_many_stride(const float *Q, size_t nq, const float *rows, size_t nrows,
                              size_t dim, size_t row_stride, float *out)
{
    if (row_stride < dim || dim > INT_MAX || row_stride > INT_MAX || nrows > INT_MAX)
        return -1; /* ldc = nrows must fit an int */
    if (nq == 0 || nrows == 0)
        return 0;
    if (!out || (dim > 0 && (!Q || !rows)))
        return -1;
    if (dim == 0) {
        memset(out, 0, nq * nrows * sizeof *out);
        return 0;
    }
    for (size_t i = 0; i < nq; i += CHUNK_ROWS) {
        size_t m = nq - i < CHUNK_ROWS ? nq - i : CHUNK_ROWS;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)m, (blasint)nrows,
                    (blasint)dim, 1.0f, Q + i * dim, (blasint)dim, rows,
                    (blasint)row_stride, 0.0f, out + i * nrows, (blasint)nrows);
    }
    return 0;
}

int batch_dot_f32_many(const float *Q, size_t nq, const float *rows, size_t nrows,
                       size_t dim, float *out)
{
    return batch_dot_f32_many_stride(Q, nq, rows, nrows, dim, dim, out);
}

void batch_set_threads(int n)
{
    openblas_set_num_threads(n < 1 ? 1 : n);
}

int batch_threads(void)
{
    return openblas_get_num_threads();
}
