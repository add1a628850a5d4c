/* vset.h -- the vector-set value type: an HNSW index (index/hnsw.h), the
 * element dictionary (name -> id, l2 norm, JSON attributes), and the
 * reference count that keeps a set alive while searches run on it.
 *
 * Ownership: a set stored in the keyspace holds one reference (dropped by
 * the keyspace's free callback: DEL, overwrite, expiry, eviction, FLUSHALL);
 * every in-flight threaded search holds one more. The last vset_unref frees
 * the index and the dictionary. A set dropped by the keyspace while searches
 * run is "detached": still searchable by them, never modified again.
 *
 * Threading: everything here runs on the loop thread, except that worker
 * threads may call the hnsw_search* functions on v->h (the index has its
 * own reader-writer lock, hnsw.c design note 4) and vset_search_filtered,
 * which reads by_id and the elements' attributes under v->lock (read
 * side). The loop mutates by_id, elements and attributes under v->lock's
 * write side, and reads them without it (it is the only writer). The
 * reference count and the name dictionary are loop-only. */
#ifndef SIMCACHE_VSET_H
#define SIMCACHE_VSET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "index/hnsw.h"
#include "keyspace.h"
#include "sbuf.h"

#define VSET_MAX_DIM 65536u
#define VSET_DEFAULT_M 16u
#define VSET_DEFAULT_EF_BUILD 200u
#define VSET_DEFAULT_EF_SEARCH 100u

typedef enum vset_quant {
    VSET_Q8 = 0,        /* int8 storage, float32 re-rank (Redis's default) */
    VSET_NOQUANT = 1,   /* float32 */
    VSET_BIN = 2,       /* 1 bit per dimension (HNSW_STORE_BIN), Hamming
                         * distances, no re-rank copy (as Redis) */
} vset_quant;

typedef struct vset_elem {
    struct vset_elem *next;   /* hash chain */
    struct vset_elem *left, *right; /* name-order treap (vset_order.h) */
    uint64_t hash;            /* XXH3 of the name */
    uint32_t id;              /* hnsw id */
    float l2;                 /* L2 norm of the vector as given (VEMB) */
    char *attr;               /* JSON text, NUL-terminated, or NULL */
    uint32_t alen;            /* bytes of attr */
    uint32_t nlen;            /* bytes of name */
    char name[];              /* NUL-terminated (binary-safe by nlen) */
} vset_elem;

typedef struct vset {
    hnsw *h;
    vset_quant quant;
    uint32_t dim, M;
    uint64_t uid;             /* VINFO vset-uid: unique per set in this process */
    uint64_t inserts;         /* VINFO hnsw-max-node-uid: inserts ever done */
    int refs;                 /* loop thread only */
    int detached;             /* dropped by the keyspace */
    uint64_t del_epoch;       /* bumped whenever an id is freed (see cmd_vset.c) */
    vset_elem **buckets;      /* nbuckets is a power of two */
    size_t nbuckets, count;
    vset_elem *order;         /* root of the name-order treap (VRANGE), loop only */
    vset_elem **by_id;        /* id -> element, cap_id entries */
    uint32_t cap_id;
    size_t nattrs;            /* elements with attributes */
    uint64_t attr_epoch;      /* bumped whenever attributes change (filtered
                               * searches re-validate with it) */
    float *proj;              /* REDUCE: dim x proj_in row-major, or NULL */
    uint32_t proj_in;         /* input dimension of proj (0 without) */
    pthread_rwlock_t lock;    /* by_id / elements / attrs vs. filter workers */
    size_t elem_bytes;        /* allocator bytes of elements and attributes */
} vset;

extern const ks_type vset_type;

/* Creates an empty set. 0, HNSW_EINVAL (dim/M out of range) or
 * HNSW_ENOMEM. The caller owns the one reference. */
int vset_create(uint32_t dim, vset_quant q, uint32_t M, vset **out);
void vset_ref(vset *v);
/* Drops a reference; the last one frees. */
void vset_unref(vset *v);

/* Looks an element up by name. NULL if absent. */
vset_elem *vset_find(const vset *v, const char *name, size_t nlen);
/* The element stored under id, or NULL. */
vset_elem *vset_by_id(const vset *v, uint32_t id);

/* Adds name with vec[v->dim] (already checked finite, non-zero, with l2 its
 * norm), or replaces the vector of an existing element (the new vector is
 * inserted before the old one is deleted, so a failure changes nothing).
 * ef: construction beam for this insert. set_attr: replace the attributes
 * with attr[alen] (alen 0 removes them); else they are kept. *added gets 1
 * for a new element. Returns 0 or a negative HNSW_E* code. */
int vset_add(vset *v, const char *name, size_t nlen, const float *vec, float l2, uint32_t ef,
             int set_attr, const char *attr, size_t alen, int *added);

/* Removes an element. 1 if it existed, 0 if not. */
int vset_remove(vset *v, const char *name, size_t nlen);

/* Sets (alen > 0) or removes (alen == 0) the attributes of e. 0 or -ENOMEM. */
int vset_set_attr(vset *v, vset_elem *e, const char *attr, size_t alen);

/* REDUCE: gives the (still empty) set a random projection from in_dim
 * to v->dim (in_dim >= v->dim). The matrix is a pure function of the two
 * dimensions (seeded Gaussian, scaled by 1/sqrt(dim)): every set created
 * with the same REDUCE agrees, across restarts too. 0, HNSW_EINVAL or
 * HNSW_ENOMEM. */
int vset_set_projection(vset *v, uint32_t in_dim);
/* out[v->dim] = proj * in[v->proj_in]. */
void vset_project(const vset *v, const float *in, float *out);

/* Filtered k-NN (VSIM FILTER). Explores the index for candidates in
 * distance order and keeps those whose attributes satisfy f, stopping once
 * k matched or filter_ef candidates were evaluated (or the set is
 * exhausted). Candidates come from hnsw_search with a growing k (ef, then
 * x4 per round up to filter_ef), since the index has no predicate hook;
 * truth: an exact scan of every element instead, with no effort cap.
 * Writes up to k matches to out (ascending dist) and returns how many, or
 * a negative HNSW_E* code. Any thread: takes v->lock's read side while it
 * reads attributes; the loop thread must not hold its write side. */
struct vfilter;
int vset_search_filtered(vset *v, const float *q, uint32_t k, uint32_t ef,
                         const struct vfilter *f, uint32_t filter_ef, int truth,
                         hnsw_result *out);

/* VRANGE: up to count (count < 0: all) elements whose names lie between
 * the bounds, in memcmp order, into *out (malloc'd, caller frees; the
 * elements stay owned by v). A bound is a name with incl 1/0, or open
 * (lo == NULL: from the first; hi == NULL: to the last). Returns how many
 * or -1 on ENOMEM. O(log N + count) expected: a seek in the name-order
 * treap (vset_order.h), then an in-order walk. */
long vset_range(const vset *v, const char *lo, size_t lolen, int loincl, const char *hi,
                size_t hilen, int hiincl, long long count, vset_elem ***out);

/* A uniformly random element (NULL if empty). */
vset_elem *vset_random(const vset *v);

/* The stored vector of e de-normalised (times its l2) into out[dim]; for
 * BIN sets the de-quantised +1/-1 per component with no l2 scaling, which
 * is what Redis's VEMB returns for them. */
int vset_get_vector(const vset *v, const vset_elem *e, float *out);

/* Bytes owned by the set: the index, the dictionary, the elements. */
size_t vset_mem_usage(const void *obj);

/* Process-wide counters for INFO (loop thread). */
typedef struct vset_stats {
    uint64_t sets;               /* live sets, detached ones included */
    uint64_t detached;           /* sets freed by the keyspace, still searched */
    uint64_t searches_threaded;  /* VSIM answered by the pool */
    uint64_t searches_inline;    /* NOTHREAD, queue full, or no pool */
    uint64_t searches_retried;   /* re-run on the loop: ids freed meanwhile */
    uint64_t search_usec;        /* dispatch to reply, threaded searches */
} vset_stats;
extern vset_stats g_vset_stats;

/* cmd_vset.c: the search pool VSIM uses (NULL: searches run inline; main
 * sets it after workers_create and clears it before workers_destroy), and
 * the INFO "vectorsets" section (kernel tier, pool, search counters). */
struct workers;
void vset_set_pool(struct workers *w);
struct workers *vset_pool(void);
void vset_info(sbuf *o);

#endif
