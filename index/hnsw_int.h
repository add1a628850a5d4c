/* hnsw_int.h -- the index's private layout, shared by hnsw.c (graph),
 * hnsw_exact.c (brute force + validator) and hnsw_io.c (save/load).
 * Nothing outside index/ includes this file.
 *
 * Layout (all arrays indexed by id, capacity `cap` slots):
 *   state[id]    uint8: level (0..HNSW_MAX_LEVEL) of a live node,
 *                ST_FREE for a free slot, level|ST_PENDING while an insert
 *                has stored the vector but not linked it yet.
 *   vf           float32 vectors, cap x dim (F32 storage, or the re-rank
 *                copies of I8 storage when rerank is on; else NULL).
 *   vi, vscale   int8 vectors cap x dim and their per-vector scale (I8).
 *   links0       level-0 links: stride0 = 1 + 2M words per node:
 *                [count, id...]; indeg0[id] counts the links pointing at id.
 *   upper[id]    NULL for level 0 nodes, else level x (2 + M) words: for
 *                level l >= 1 the block at (l-1)*(2+M) is
 *                [count, indeg, id...].
 * Every link word and count is an _Atomic uint32_t: searches and inserts
 * read them while other inserts write them (see hnsw.c). */
#ifndef SIMCACHE_HNSW_INT_H
#define SIMCACHE_HNSW_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "index/hnsw.h"
#include "kernels/kernels.h"

#define HNSW_MAX_LEVEL 15
#define ST_FREE 0xFFu
#define ST_PENDING 0x80u
#define ST_LEVEL_MASK 0x0Fu
#define HNSW_NLOCKS 1024u      /* striped link locks (power of two) */
#define HNSW_NO_ENTRY UINT32_MAX

typedef _Atomic uint32_t aword;

/* Per-search scratch: one per concurrent searcher/inserter, pooled. */
typedef struct hnsw_heap {
    hnsw_result *a;
    uint32_t n, cap;
} hnsw_heap;

typedef struct hnsw_ctx {
    struct hnsw_ctx *next;      /* pool free list */
    uint16_t *visited;          /* epoch stamp per slot, vcap entries */
    uint32_t vcap;
    uint16_t epoch;
    float *qf;                  /* normalised query, dim */
    int8_t *qi;                 /* quantised query (I8), dim */
    float qscale;
    hnsw_heap cand;             /* min-heap: frontier */
    hnsw_heap res;              /* max-heap: best ef so far */
    hnsw_result *sel;           /* selection scratch, selcap entries */
    uint32_t *tmp;              /* selection scratch, selcap entries */
    uint8_t *f1, *f2;           /* per-candidate flags, selcap entries */
    uint32_t selcap;
    float *exact;               /* exact search: score buffer */
    size_t exactcap;
} hnsw_ctx;

struct hnsw {
    hnsw_params p;
    uint32_t dim, M, M0;        /* M0 = 2M, level-0 capacity */
    uint32_t stride0;           /* 1 + M0 words */
    uint32_t ustride;           /* 2 + M words per upper level */
    double mL;                  /* 1 / ln(M) */
    const kernels *k;

    /* Slots; resized only under the write lock. */
    uint32_t cap;               /* allocated slots */
    uint32_t nslots;            /* high-water mark: ids < nslots were used */
    _Atomic uint8_t *state;
    float *vf;
    int8_t *vi;
    float *vscale;
    aword *links0;
    aword *indeg0;
    aword **upper;              /* pointers written under the write lock */
    uint32_t *freeids;          /* stack of reusable ids (write lock) */
    uint32_t nfree;
    _Atomic size_t count;       /* live (incl. pending) nodes */
    _Atomic size_t upper_bytes; /* bytes in upper blocks */
    uint64_t rng;               /* level generator state (write lock) */

    /* Entry point: both fields change under ep_lock (inserts) or the write
     * lock (deletes); readers load them atomically. */
    _Atomic uint32_t entry;
    _Atomic int maxlevel;       /* -1 when empty */
    pthread_mutex_t ep_lock;

    pthread_rwlock_t rw;        /* see hnsw.c design note 4 */
    pthread_mutex_t locks[HNSW_NLOCKS];
    pthread_mutex_t pool_lock;
    hnsw_ctx *pool;
    _Atomic size_t ctx_bytes;

    uint32_t exact_below;       /* hnsw_search scans when count <= this */
    /* Statistics (for tests and INFO). */
    _Atomic uint64_t stat_inlink_scans;   /* deletes needing a full scan */
};

/* hnsw.c */
hnsw_ctx *hnsw_ctx_get(hnsw *h);
void hnsw_ctx_put(hnsw *h, hnsw_ctx *c);
int hnsw_ctx_reserve(hnsw *h, hnsw_ctx *c, uint32_t ef);
int hnsw_prepare_query(const hnsw *h, hnsw_ctx *c, const float *q, uint32_t dim);
int hnsw_alloc_slots(hnsw *h, uint32_t cap);
void hnsw_free_arrays(hnsw *h);
int hnsw_init_struct(hnsw *h, const hnsw_params *p);
int hnsw_check_params(const hnsw_params *p);

static inline aword *hnsw_links(const hnsw *h, uint32_t id, int level)
{
    if (level == 0)
        return h->links0 + (size_t)id * h->stride0;
    return h->upper[id] + (size_t)(level - 1) * h->ustride;
}

/* Count word, then (level >= 1) indeg word, then the ids. */
static inline aword *hnsw_link_ids(const hnsw *h, aword *blk, int level)
{
    return blk + (level == 0 ? 1 : 2);
}

static inline aword *hnsw_indeg(const hnsw *h, uint32_t id, int level)
{
    if (level == 0)
        return h->indeg0 + id;
    return h->upper[id] + (size_t)(level - 1) * h->ustride + 1;
}

/* hnsw_exact.c */
int hnsw_exact_locked(hnsw *h, hnsw_ctx *c, uint32_t k, hnsw_result *out);
/* reach = 0 skips the reachability BFS (hnsw_load: a file is accepted if
 * it is structurally sound; reachability is a quality property). */
int hnsw_validate_locked(hnsw *h, int reach, char *err, size_t errlen);

#endif
