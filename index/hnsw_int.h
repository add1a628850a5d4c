/* hnsw_int.h -- the index's private layout, shared by hnsw.c (graph),
 * hnsw_delete.c (deletion),
 * hnsw_exact.c (brute force + validator) and hnsw_io.c (save/load).
 * Nothing outside index/ includes this file.
 *
 * Layout (all arrays indexed by id, capacity `cap` slots):
 *   state[id]    uint8: level (0..HNSW_MAX_LEVEL) of a live node,
 *                ST_FREE for a free slot, level|ST_PENDING while an insert
 *                has stored the vector but not linked it yet.
 *   base0        the level-0 records, rec0 bytes each (hnsw.c design 1):
 *                F32: [float vector[dim] | count, M0 link ids | pad to 64]
 *                (voff 0, loff 4 dim: the vector 64-byte aligned);
 *                I8: [count, M0 link ids | float scale | int8 vector[dim]]
 *                (loff 0, voff 4 (1 + M0), no padding: the int8 budget).
 *                One record is what a search touches per visited node.
 *                BIN: [count, M0 link ids | pad to 8 | uint64 bits[w]]
 *                (loff 0, voff = 4 (1 + M0) rounded up to 8, w =
 *                ceil(dim / 64): 184 bytes at d=384, M=16).
 *   cq, cm       F32 codes (hnsw.c design 9): int8 vector, crec bytes
 *                per slot (at d = 256 exactly 4 cache lines; 4-bit codes,
 *                design 13: 2 lines), and its float scale and the sum of
 *                its codes (int8 only) in cm[id]; rebuilt on load.
 *   rh / rf      I8 re-rank copies, cap x dim: float16 (HNSW_RERANK_F16)
 *                or float32 (HNSW_RERANK_F32); NULL without re-rank.
 *   indeg0[id]   counts the level-0 links pointing at id.
 *   parent0[id]  id's parent in the level-0 spanning tree (hnsw.c 3).
 *   upper[id]    NULL for level 0 nodes, else level x (2 + M) words: for
 *                level l >= 1 the block at (l-1)*(2+M) is
 *                [count, indeg, id...]; then level tree-parent words
 *                (hnsw_parent), not saved.
 * Every link word and count is an _Atomic uint32_t: searches and inserts
 * read them while other inserts write them (see hnsw.c). */
#ifndef SIMCACHE_HNSW_INT_H
#define SIMCACHE_HNSW_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"
#include "kernels/kernels.h"

#define HNSW_MAX_LEVEL 15
#define ST_FREE 0xFFu
#define ST_PENDING 0x80u
#define ST_LEVEL_MASK 0x0Fu
#define HNSW_NLOCKS 1024u      /* striped link locks (power of two) */
#define HNSW_NO_ENTRY UINT32_MAX
#define HNSW_TREE_NONE UINT32_MAX        /* parent0: no parent */
#define HNSW_TREE_ROOT (UINT32_MAX - 1)  /* parent0: the entry point */

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
    int8_t *qi;                 /* quantised query (I8), dim, zero-padded
                                 * to HNSW_CODE4_DIMS(dim) (I4 codes) */
    int32_t qsum;               /* sum of qi (I4 codes: hnsw_qdot.c design 4) */
    uint16_t *qh;               /* float16 query (I8 + F16 re-rank), dim */
    uint64_t *qb;               /* sign bits of the query (BIN), ceil(dim / 64) words */
    uint8_t *qu;                /* qi + 128 as unsigned bytes (I8), dim:
                                 * the query side of hnsw_qdot.c */
    float *bd;                  /* batch distances, selcap entries */
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

/* Per slot of a float32 index's codes (cm): the code's scale, and the
 * sum of its int8 codes, which the VNNI scorers' -128 correction needs
 * (hnsw_qdot.c design 1) and would otherwise compute per distance. */
typedef struct hnsw_cmeta {
    float scale;
    int32_t sum;
} hnsw_cmeta;

/* hnsw_qdot.c: distances 1 - q.x * qscale * scale_x from one prepared
 * query to m int8 records (I8 storage), ids[0..m) -> out[0..m). */
typedef struct hnsw_qscore_args {
    const uint8_t *base;        /* h->base0 */
    size_t rec, voff, dim;      /* record bytes, scale offset, dimension */
    const int8_t *qi;           /* query codes (generic tier) */
    const uint8_t *qu;          /* qi + 128 (VNNI tiers) */
    float qscale;
    int32_t (*dot_i8)(const int8_t *, const int8_t *, size_t); /* generic */
    const struct hnsw_cmeta *meta; /* cm: scale and code sum of id in
                                 * meta[id], the record is the codes alone;
                                 * NULL: the record is [float scale |
                                 * codes] (I8 storage) */
    int32_t qsum;               /* sum of qi: the 4-bit scorers' offset */
} hnsw_qscore_args;
typedef void (*hnsw_qscore_fn)(const hnsw_qscore_args *a, const uint32_t *ids, uint32_t m,
                               float *out);
typedef enum {
    HNSW_QSCORE_GENERIC = 0,    /* the kernel table's dot_i8, per record */
    HNSW_QSCORE_AVX512VNNI,
    HNSW_QSCORE_AVXVNNI,
    HNSW_QSCORE_AVX2,           /* 4-bit codes only: vpmaddubsw */
    HNSW_QSCORE_NEON,           /* 4-bit codes only */
    HNSW_QSCORE_COUNT
} hnsw_qscore_tier_id;
/* The scorer of tier t if compiled in and this CPU runs it, else NULL
 * (tests). Any thread. */
hnsw_qscore_fn hnsw_qscore_tier(hnsw_qscore_tier_id t);
/* The best scorer for kernel table k: a VNNI tier only over an x86 SIMD
 * kernel tier, else the generic one. Never NULL. */
hnsw_qscore_fn hnsw_qscore_select(const kernels *k);

/* 4-bit codes (HNSW_CODES_I4, hnsw_qdot.c design 4): a code is
 * HNSW_CODE4_BYTES(dim) bytes, one 64-byte block per 128 dimensions. */
#define HNSW_CODE4_DIMS(d) (((size_t)(d) + 127u) & ~(size_t)127u)
#define HNSW_CODE4_BYTES(d) (HNSW_CODE4_DIMS(d) / 2u)
/* Packs the unit vector v into the 4-bit code dst and its scale. */
void hnsw_pack4(uint8_t *dst, const float *v, uint32_t dim, float *scale);
/* As hnsw_qscore_tier / hnsw_qscore_select for 4-bit codes: generic,
 * AVX512VNNI, AVX2 and NEON tiers. */
hnsw_qscore_fn hnsw_qscore4_tier(hnsw_qscore_tier_id t);
hnsw_qscore_fn hnsw_qscore4_select(const kernels *k);

struct hnsw {
    hnsw_params p;
    uint32_t dim, M, M0;        /* M0 = 2M, level-0 capacity */
    uint32_t stride0;           /* 1 + M0 link words, at loff in a record */
    uint32_t ustride;           /* 2 + M words per upper level */
    double mL;                  /* 1 / ln(M) */
    const kernels *k;

    /* Slots; resized only under the write lock. */
    uint32_t cap;               /* allocated slots */
    uint32_t nslots;            /* high-water mark: ids < nslots were used */
    _Atomic uint8_t *state;
    uint8_t *base0;             /* cap x rec0 bytes: level-0 records */
    size_t rec0;                /* bytes per record: F32 a multiple of 64,
                                 * I8 of 4 */
    size_t voff;                /* vector offset in a record (I8: scale) */
    size_t loff;                /* link words' offset in a record */
    size_t base0_bytes;         /* mapped/allocated bytes of base0 */
    uint16_t *rh;               /* F16 re-rank copies, cap x dim, or NULL */
    float *rf;                  /* F32 re-rank copies, cap x dim, or NULL */
    uint8_t *cq;                /* F32 (dim >= HNSW_CODES_MIN_DIM): int8
                                 * codes [int8 dim] per slot, crec bytes
                                 * each, for the beams (hnsw.c design 9);
                                 * else NULL. Page aligned (slab_resize). */
    hnsw_cmeta *cm;             /* the codes' scales and sums, per slot, or
                                 * NULL */
    size_t cq_bytes;            /* mapped/allocated bytes of cq */
    size_t crec;                /* bytes per cq entry: dim rounded up to 4
                                 * (int8), HNSW_CODE4_BYTES(dim) (4-bit) */
    aword *indeg0;
    aword *parent0;             /* level-0 spanning tree (hnsw.c design 3):
                                 * the node whose level-0 list holds the
                                 * link that is this node's way in, or
                                 * HNSW_TREE_ROOT (the entry point) or
                                 * HNSW_TREE_NONE (pending, or orphaned
                                 * during a delete's repair) */
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
    hnsw_qscore_fn qscore;      /* I8 batch scorer (hnsw_qdot.c), set once */
    /* Statistics (for tests and INFO). */
    _Atomic uint64_t stat_inlink_scans;   /* deletes needing a full scan */
};

/* The beam of an insert: ef_construction, but never narrower than M (as
 * hnswlib does): with a beam of 1 to 3 at M 4, inserts left level-1 nodes
 * unreachable and deletes level-0 ones (test_hnsw_reach), and
 * hnsw_set_ef_construction (VADD ... EF) accepts 1. */
static inline uint32_t hnsw_build_ef(const hnsw *h)
{
    return h->p.ef_construction > h->M ? h->p.ef_construction : h->M;
}

/* The scorer arguments for the codes of a float32 index (h->cq): every
 * caller that scores codes starts from these. */
static inline hnsw_qscore_args hnsw_codes_args(const hnsw *h, const hnsw_ctx *c)
{
    hnsw_qscore_args a = {h->cq, h->crec, 0, h->dim, c->qi, c->qu, c->qscale,
                          h->k->dot_i8, h->cm, c->qsum};
    return a;
}

/* hnsw.c */
hnsw_ctx *hnsw_ctx_get(hnsw *h);
void hnsw_ctx_put(hnsw *h, hnsw_ctx *c);
int hnsw_ctx_reserve(hnsw *h, hnsw_ctx *c, uint32_t ef);
int hnsw_prepare_query(const hnsw *h, hnsw_ctx *c, const float *q, uint32_t dim);
int hnsw_alloc_slots(hnsw *h, uint32_t cap);
void hnsw_free_arrays(hnsw *h);
int hnsw_init_struct(hnsw *h, const hnsw_params *p);
int hnsw_check_params(const hnsw_params *p);
/* Recomputes h->cq from the float32 records (hnsw_load). Caller owns h. */
void hnsw_codes_rebuild(hnsw *h);

static inline uint8_t *hnsw_rec0(const hnsw *h, uint32_t id)
{
    return h->base0 + (size_t)id * h->rec0;
}

/* The stored vector of id: F32 storage only. */
static inline const float *hnsw_vf(const hnsw *h, uint32_t id)
{
    return (const float *)(hnsw_rec0(h, id) + h->voff);
}

/* The int8 vector of id and its scale: I8 storage only. */
static inline const int8_t *hnsw_vi(const hnsw *h, uint32_t id)
{
    return (const int8_t *)(hnsw_rec0(h, id) + h->voff + sizeof(float));
}

static inline float hnsw_vscale(const hnsw *h, uint32_t id)
{
    return *(const float *)(hnsw_rec0(h, id) + h->voff);
}

/* BIN storage: words per vector, and the bits of id. */
static inline uint32_t hnsw_bin_words(const hnsw *h)
{
    return (h->dim + 63u) / 64u;
}

static inline const uint64_t *hnsw_vb(const hnsw *h, uint32_t id)
{
    return (const uint64_t *)(const void *)(hnsw_rec0(h, id) + h->voff);
}

/* BIN distance: 2 hamming / dim, one correctly rounded division, so the
 * graph search, the exact scan and the delete repair agree to the bit. */
static inline float hnsw_bin_dist(const hnsw *h, uint64_t ham)
{
    return (float)(2 * ham) / (float)h->dim;
}

static inline aword *hnsw_links(const hnsw *h, uint32_t id, int level)
{
    if (level == 0)
        return (aword *)(hnsw_rec0(h, id) + h->loff);
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

/* Bytes of the upper block of a node of level L >= 1: L link blocks, then
 * L tree-parent words (levels 1..L), which hnsw_save does not write. */
static inline size_t hnsw_upper_size(const hnsw *h, int L)
{
    return (size_t)L * (h->ustride + 1) * sizeof(aword);
}

/* id's parent in the level-l spanning tree (hnsw.c design 3). */
static inline aword *hnsw_parent(const hnsw *h, uint32_t id, int level)
{
    if (level == 0)
        return h->parent0 + id;
    return h->upper[id] +
           (size_t)(atomic_load_explicit(&h->state[id], memory_order_relaxed) & ST_LEVEL_MASK) *
               h->ustride +
           (level - 1);
}

/* Small shared helpers (heaps keyed by dist, distances, visited stamps). */
/* ---------------------------------------------------------------- heaps */

static inline void heap_push_min(hnsw_heap *hp, uint32_t id, float d)
{
    uint32_t i = hp->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (hp->a[p].dist <= d)
            break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i].id = id;
    hp->a[i].dist = d;
}

static inline void heap_pop_min(hnsw_heap *hp)
{
    hnsw_result last = hp->a[--hp->n];
    uint32_t i = 0, n = hp->n;
    for (;;) {
        uint32_t l = 2 * i + 1, m;
        if (l >= n)
            break;
        m = (l + 1 < n && hp->a[l + 1].dist < hp->a[l].dist) ? l + 1 : l;
        if (hp->a[m].dist >= last.dist)
            break;
        hp->a[i] = hp->a[m];
        i = m;
    }
    if (n)
        hp->a[i] = last;
}

static inline void heap_push_max(hnsw_heap *hp, uint32_t id, float d)
{
    uint32_t i = hp->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (hp->a[p].dist >= d)
            break;
        hp->a[i] = hp->a[p];
        i = p;
    }
    hp->a[i].id = id;
    hp->a[i].dist = d;
}

static inline void heap_pop_max(hnsw_heap *hp)
{
    hnsw_result last = hp->a[--hp->n];
    uint32_t i = 0, n = hp->n;
    for (;;) {
        uint32_t l = 2 * i + 1, m;
        if (l >= n)
            break;
        m = (l + 1 < n && hp->a[l + 1].dist > hp->a[l].dist) ? l + 1 : l;
        if (hp->a[m].dist <= last.dist)
            break;
        hp->a[i] = hp->a[m];
        i = m;
    }
    if (n)
        hp->a[i] = last;
}

/* Replaces the root (the worst kept) of a non-empty max-heap by (id, d)
 * and sifts it down: one pass where heap_pop_max + heap_push_max took two
 * (the beam does this for most neighbours that make it into the top ef). */
static inline void heap_replace_max(hnsw_heap *hp, uint32_t id, float d)
{
    uint32_t i = 0, n = hp->n;
    for (;;) {
        uint32_t l = 2 * i + 1, m;
        if (l >= n)
            break;
        m = (l + 1 < n && hp->a[l + 1].dist > hp->a[l].dist) ? l + 1 : l;
        if (hp->a[m].dist <= d)
            break;
        hp->a[i] = hp->a[m];
        i = m;
    }
    hp->a[i].id = id;
    hp->a[i].dist = d;
}

static inline int cmp_result(const void *a, const void *b)
{
    const hnsw_result *x = a, *y = b;
    if (x->dist < y->dist)
        return -1;
    if (x->dist > y->dist)
        return 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Insertion sort for the short candidate lists of selection (<= ~70). */
static inline void sort_results(hnsw_result *a, uint32_t n)
{
    if (n > 64) {
        qsort(a, n, sizeof(*a), cmp_result);
        return;
    }
    for (uint32_t i = 1; i < n; i++) {
        hnsw_result v = a[i];
        uint32_t j = i;
        while (j > 0 && cmp_result(&a[j - 1], &v) > 0) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
}

/* ------------------------------------------------------------ distances */

static inline float dist_q(const hnsw *h, const hnsw_ctx *c, uint32_t id)
{
    if (h->p.storage == HNSW_STORE_F32)
        return 1.0f - h->k->dot_f32(c->qf, hnsw_vf(h, id), h->dim);
    if (h->p.storage == HNSW_STORE_BIN)
        return hnsw_bin_dist(h, h->k->hamming_u64(c->qb, hnsw_vb(h, id), hnsw_bin_words(h)));
    return 1.0f - (float)h->k->dot_i8(c->qi, hnsw_vi(h, id), h->dim) * c->qscale * hnsw_vscale(h, id);
}

static inline float dist_nn(const hnsw *h, uint32_t a, uint32_t b)
{
    if (h->p.storage == HNSW_STORE_F32)
        return 1.0f - h->k->dot_f32(hnsw_vf(h, a), hnsw_vf(h, b), h->dim);
    if (h->p.storage == HNSW_STORE_BIN)
        return hnsw_bin_dist(h, h->k->hamming_u64(hnsw_vb(h, a), hnsw_vb(h, b), hnsw_bin_words(h)));
    return 1.0f - (float)h->k->dot_i8(hnsw_vi(h, a), hnsw_vi(h, b), h->dim) * hnsw_vscale(h, a) *
                      hnsw_vscale(h, b);
}

/* Loads the stored vector of id as a query into c (qf, qi/qscale for
 * I8, qb for BIN): the delete repair searches for a node's own vector. */
void hnsw_load_query(const hnsw *h, hnsw_ctx *c, uint32_t id);

static inline void visited_next(hnsw_ctx *c)
{
    if (++c->epoch == 0) {
        memset(c->visited, 0, c->vcap * sizeof(uint16_t));
        c->epoch = 1;
    }
}

static inline uint32_t load_ep(const hnsw *h, int *level)
{
    *level = atomic_load_explicit(&h->maxlevel, memory_order_acquire);
    return atomic_load_explicit(&h->entry, memory_order_acquire);
}

static inline pthread_mutex_t *node_lock(hnsw *h, uint32_t id)
{
    return &h->locks[id & (HNSW_NLOCKS - 1)];
}

static inline int node_level(const hnsw *h, uint32_t id)
{
    uint8_t s = atomic_load_explicit(&h->state[id], memory_order_acquire);
    return s == ST_FREE ? -1 : (int)(s & ST_LEVEL_MASK);
}


/* hnsw.c: graph primitives shared with hnsw_delete.c. */
uint32_t hnsw_greedy_descent(const hnsw *h, const hnsw_ctx *c, uint32_t cur, float *curd, int top,
                             int stop);
void hnsw_search_layer(const hnsw *h, hnsw_ctx *c, uint32_t ep, float epd, uint32_t ef, int l);
uint32_t hnsw_res_sorted(hnsw_ctx *c);
void hnsw_connect(hnsw *h, hnsw_ctx *c, uint32_t base, uint32_t q, int l, int force);

/* hnsw_delete.c: the level-0 spanning tree (hnsw.c design 3). */
/* Recomputes parent0 as a BFS tree of level 0 from the entry point
 * (nodes the BFS does not reach get HNSW_TREE_NONE). Caller holds the
 * write lock or owns h alone. */
void hnsw_tree_rebuild(hnsw *h);

/* hnsw_exact.c */
int hnsw_exact_locked(hnsw *h, hnsw_ctx *c, uint32_t k, hnsw_result *out);
/* hnsw_search's small-set path for float32 indexes with codes (h->cq):
 * the codes scanned, the best max(4k, 40) re-scored in float32; c holds
 * the query's codes. Caller holds the read lock. Count or HNSW_ENOMEM. */
int hnsw_scan_codes_locked(hnsw *h, hnsw_ctx *c, uint32_t k, hnsw_result *out);
/* reach = 0 skips the reachability BFS (hnsw_load: a file is accepted if
 * it is structurally sound; reachability is a quality property). */
int hnsw_validate_locked(hnsw *h, int reach, char *err, size_t errlen);

#endif
