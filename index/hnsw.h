/* hnsw.h -- approximate nearest-neighbour index (HNSW) for cosine
 * similarity, with true deletion, and an exact search of the same shape.
 *
 * A library with no server includes: it returns error codes, never aborts
 * on input and never prints. Vectors are float32 on input; the index
 * L2-normalises them on insert, so cosine is a dot product. Distances are
 * dist = 1 - cos(a, b) in [0, 2] (Redis VSIM reports (1 + cos) / 2, i.e.
 * 1 - dist / 2). A zero vector is rejected (HNSW_EINVAL): cosine is
 * undefined for it. NaN/Inf and wrong dimensions are rejected, never stored.
 *
 * Ids are dense uint32 slots chosen by the index; a deleted id is reused by
 * a later insert, but never while a search that could still return it is
 * running. The caller maps its own keys to ids.
 *
 * Threading: see the opening essay of hnsw.c for the scheme. The contract:
 * any number of threads may call hnsw_search/hnsw_search_exact/hnsw_get*
 * concurrently with each other and with writers; hnsw_insert/hnsw_delete
 * may be called from several threads at once; hnsw_free/hnsw_save need no
 * concurrent callers. */
#ifndef SIMCACHE_HNSW_H
#define SIMCACHE_HNSW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HNSW_OK 0
#define HNSW_EINVAL (-1)   /* bad vector (NaN/Inf/zero), bad parameter */
#define HNSW_EDIM (-2)     /* wrong dimension */
#define HNSW_ENOMEM (-3)
#define HNSW_ENOENT (-4)   /* no such id */
#define HNSW_EFORMAT (-5)  /* load: bad magic/version/checksum/truncation */
#define HNSW_EIO (-6)

typedef enum hnsw_storage {
    HNSW_STORE_F32 = 0,    /* float32 vectors */
    HNSW_STORE_I8 = 1,     /* int8, per-vector scale (quantised) */
    HNSW_STORE_BIN = 2,    /* 1 bit per dimension, the sign (x > 0 gives 1),
                            * packed in ceil(dim / 64) uint64 words; dist =
                            * 2 hamming / dim in [0, 2], i.e. the cosine
                            * estimate 1 - 2 hamming / dim (Redis's BIN) */
} hnsw_storage;

/* hnsw_params.rerank (I8 only): how the final ef candidates of an int8
 * search are re-scored. F16 keeps a float16 copy per vector (2 d bytes),
 * F32 a float32 copy (4 d bytes); NONE ranks by the int8 distance. */
#define HNSW_RERANK_NONE 0
#define HNSW_RERANK_F16 1
#define HNSW_RERANK_F32 2

typedef struct hnsw_params {
    uint32_t dim;              /* 1..65536 */
    uint32_t M;                /* links per node on layers >= 1 (2M on layer 0); 4..4096, default 16 */
    uint32_t ef_construction;  /* default 200 */
    uint32_t ef_search;        /* default 100; a search uses max(ef, k) */
    hnsw_storage storage;      /* default F32 */
    int rerank;                /* I8 only: HNSW_RERANK_* (default F16); a
                                * value outside NONE..F32 is HNSW_EINVAL;
                                * ignored for F32 and BIN storage */
    uint64_t seed;             /* level generator seed: same seed + same
                                * insert order = same graph */
    int codes;                 /* F32 only, dim >= 64: HNSW_CODES_I8 (default)
                                * also keeps int8 codes (dim + 8 bytes per
                                * vector) that inserts and searches traverse,
                                * re-scoring in float32 (hnsw.c design 9:
                                * ~2.5x faster search and build);
                                * HNSW_CODES_I4 4-bit codes (dim / 2 + 8
                                * bytes, design 13: half the cache lines per
                                * distance); HNSW_CODES_NONE float32 records
                                * only, the least memory. Another value is
                                * HNSW_EINVAL. Ignored for I8 and BIN
                                * storage. */
} hnsw_params;

#define HNSW_CODES_NONE 0
#define HNSW_CODES_I8 1
#define HNSW_CODES_I4 2

typedef struct hnsw_result {
    uint32_t id;
    float dist;                /* 1 - cosine, ascending in results */
} hnsw_result;

typedef struct hnsw hnsw;

void hnsw_params_default(hnsw_params *p, uint32_t dim);
int hnsw_create(const hnsw_params *p, hnsw **out);
void hnsw_free(hnsw *h);

/* Inserts vec[dim]; *id_out gets the new id. */
int hnsw_insert(hnsw *h, const float *vec, uint32_t dim, uint32_t *id_out);
/* Deletes id, repairing its neighbours' links; the id becomes reusable. */
int hnsw_delete(hnsw *h, uint32_t id);

/* Approximate k nearest neighbours of q (normalised internally). ef = 0
 * means the index's ef_search. Writes up to k results to out, sorted by
 * ascending dist, and returns how many (k if k <= live count), or a
 * negative error. */
int hnsw_search(hnsw *h, const float *q, uint32_t dim, uint32_t k, uint32_t ef,
                hnsw_result *out);
/* Exact (brute-force, OpenBLAS) k nearest: same contract as hnsw_search. */
int hnsw_search_exact(hnsw *h, const float *q, uint32_t dim, uint32_t k,
                      hnsw_result *out);

size_t hnsw_count(const hnsw *h);           /* live vectors */
uint32_t hnsw_dim(const hnsw *h);
int hnsw_contains(const hnsw *h, uint32_t id);
/* The stored (normalised, de-quantised) vector of id into out[dim]. BIN:
 * +-1 / sqrt(dim) per component (its sign bit, at unit norm), so the
 * vector used as a query gives back the same bits. */
int hnsw_get_vector(const hnsw *h, uint32_t id, float *out);
size_t hnsw_memory_bytes(const hnsw *h);    /* everything the index owns */

/* Extensions (sc/index):
 * hnsw_reserve: pre-sizes the slot arrays for n vectors (growth is
 *   otherwise by 1.5x; memory_bytes counts allocated capacity). Any thread;
 *   takes the write lock. 0 or HNSW_ENOMEM.
 * hnsw_set_exact_threshold: hnsw_search scans exactly while the live count
 *   is <= n (0 = always use the graph). Default: 2^19 / dim vectors
 *   (half that for int8 without re-rank), at least 64; float32 indexes
 *   with int8 codes (dim >= 64) scan the codes and re-score the best
 *   max(4k, 40) in float32, up to max(2,560, 2^19 / dim): the measured
 *   crossovers with the graph at ef 100 (hnsw.c design 7, 10). Saved in
 *   files.
 * hnsw_stat_inlink_scans: deletes whose in-link search had to fall back
 *   to a scan of the level (see hnsw.c design note 3). */
int hnsw_reserve(hnsw *h, uint32_t n);
/* Deletes every live id among ids[0..n) (others, and repeats, are
 * skipped) with one scan of the graph for the whole batch instead of up to
 * one per id, and re-checks reachability on every level: the path for
 * expiry cycles. Returns how many were deleted, or HNSW_ENOMEM (nothing
 * deleted) / HNSW_EINVAL. Same threading as hnsw_delete. */
int hnsw_delete_batch(hnsw *h, const uint32_t *ids, size_t n);
void hnsw_set_exact_threshold(hnsw *h, uint32_t n);
/* The current exact-scan threshold (above); 0 for a NULL index. Any thread. */
uint32_t hnsw_get_exact_threshold(hnsw *h);
/* The codes the index keeps (HNSW_CODES_*): hnsw_params.codes where it
 * applies (float32 storage, dim >= 64), else HNSW_CODES_NONE. Fixed at
 * creation; any thread. */
int hnsw_get_codes(const hnsw *h);
uint64_t hnsw_stat_inlink_scans(const hnsw *h);

/* Inspection (sc/vset, index/hnsw_inspect.c; any thread, read lock):
 * hnsw_node_level: the top level of a live id, or HNSW_ENOENT.
 * hnsw_get_links: copies up to max neighbour ids of id at `level` into
 *   out and returns how many (a snapshot), HNSW_ENOENT for a dead id,
 *   HNSW_EINVAL for a level above the node's. hnsw_max_links() is the
 *   largest count any level can return (2M).
 * hnsw_max_level: the entry point's level, -1 when empty.
 * hnsw_slots_used: ids below this have been used (live or free).
 * hnsw_set_ef_construction: the beam of later inserts (1..1000000); takes
 *   the write lock when the value changes. 0 or HNSW_EINVAL. */
int hnsw_node_level(hnsw *h, uint32_t id);
int hnsw_get_links(hnsw *h, uint32_t id, int level, uint32_t *out, uint32_t max);
uint32_t hnsw_max_links(const hnsw *h);
int hnsw_max_level(hnsw *h);
uint32_t hnsw_slots_used(hnsw *h);
int hnsw_set_ef_construction(hnsw *h, uint32_t ef);

/* Checks the graph: every live node reachable from the entry point, links
 * only to live nodes at levels they have, no self links, no duplicates,
 * link counts within bounds. Returns 0, or -1 with a message in err. */
int hnsw_validate(hnsw *h, char *err, size_t errlen);

/* Versioned, checksummed file format; a truncated or corrupted file is
 * rejected with HNSW_EFORMAT and nothing is half-loaded (format: hnsw_io.c).
 * hnsw_save takes the write lock; it returns HNSW_EINVAL if an insert is
 * between its two phases (call it with no concurrent writers), HNSW_EIO
 * on a write error. hnsw_load returns HNSW_OK and *out, or an error and
 * *out = NULL. */
int hnsw_save(hnsw *h, FILE *f);
int hnsw_load(FILE *f, hnsw **out);

#endif
