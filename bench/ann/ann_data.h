/* ann_data.h -- datasets for the ANN benchmark: loading, the seeded
 * synthetic generator, the common on-disk exchange format and the exact
 * ground truth.
 *
 * Every implementation under test (ours, native hnswlib, FAISS) reads the
 * same three files from one directory, so they see bit-identical data:
 *   base.fvecs   the indexed vectors, raw (not normalised)
 *   query.fvecs  the queries, disjoint from the base
 *   gt.ivecs     for each query, the row numbers of its exact top-k base
 *                vectors by cosine similarity, best first
 * .fvecs/.ivecs is the TEXMEX layout (per row: int32 dim, then dim values),
 * which every ANN toolkit reads. Memory is plain malloc; nothing here is
 * thread-aware (the benchmark loads before it starts threads). */
#ifndef SIMCACHE_ANN_DATA_H
#define SIMCACHE_ANN_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct ann_matrix {
    float *v;        /* rows * dim floats, row-major; owned */
    size_t rows;
    uint32_t dim;
} ann_matrix;

typedef struct ann_gt {
    int32_t *ids;    /* rows * k base row numbers; owned */
    size_t rows;
    uint32_t k;
} ann_gt;

/* Loads spec into out: "synthetic:NxD[:SEED]" (N+extra rows generated:
 * the generator is stateless per row so extra rows are the queries), a
 * path ending .fvecs, or a .npy holding a C-order 2-d float32 array.
 * extra_rows is only used by the synthetic generator (rows N..N+extra-1).
 * Returns 0, or -1 with a message in err. */
int ann_load(const char *spec, size_t extra_rows, ann_matrix *out, char *err, size_t errlen);
void ann_matrix_free(ann_matrix *m);

/* Reads/writes .fvecs and .ivecs. Return 0, or -1 with a message. */
int ann_read_fvecs(const char *path, ann_matrix *out, char *err, size_t errlen);
int ann_write_fvecs(const char *path, const ann_matrix *m, char *err, size_t errlen);
int ann_read_ivecs(const char *path, ann_gt *out, char *err, size_t errlen);
int ann_write_ivecs(const char *path, const ann_gt *g, char *err, size_t errlen);
void ann_gt_free(ann_gt *g);

/* Exact top-k by cosine of every query against base, with OpenBLAS sgemm
 * on normalised copies, blocked over the base. Zero vectors score 0.
 * Returns 0, or -1 (out of memory). */
int ann_ground_truth(const ann_matrix *base, const ann_matrix *queries, uint32_t k,
                     ann_gt *out, char *err, size_t errlen);

/* Fraction of gt's first k ids found in got[0..k-1] (got holds base row
 * numbers; -1 = missing), in [0, 1]. */
double ann_recall(const int32_t *got, const int32_t *gt_row, uint32_t k);

#endif
