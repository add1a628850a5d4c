/* vset.c -- the vector-set value type (vset.h): the keyspace type
 * descriptor, the element dictionary, attributes and the reference count.
 *
 * Design decisions:
 * 1. The index (index/hnsw.h) knows only dense uint32 ids; this file maps
 *    names to ids with a chained XXH3 hash table (power-of-two buckets,
 *    doubled at load factor 1) and ids back to elements with a flat array
 *    indexed by id, so turning search results into names costs one load
 *    per result. Redis uses a rax plus a per-node value pointer; a flat
 *    array is smaller and the index reuses freed ids, so it stays dense.
 * 2. An element is one allocation holding its name (flexible array), its
 *    hnsw id, the L2 norm of the vector as the client sent it (VEMB returns
 *    the de-normalised vector, as Redis does) and a pointer to its JSON
 *    attributes (a separate allocation: VSETATTR replaces it in place).
 * 3. Replacing an element's vector inserts the new vector first and deletes
 *    the old id afterwards: an out-of-memory insert leaves the element as it
 *    was (Redis deletes first and cannot fail on OOM).
 * 4. Lifetime: reference counted on the loop thread. The keyspace holds
 *    one reference; each in-flight threaded VSIM holds one (cmd_vset.c).
 *    The keyspace's free callback only drops its reference, so a DEL,
 *    expiry, eviction or FLUSHALL during a search never frees the index
 *    under a worker; the completion's vset_unref frees it on the loop.
 *    Rejected: Redis's in_use_lock, which makes DEL wait for running
 *    searches on the loop thread.
 * 5. del_epoch counts id frees (VREM, vector replacement). A threaded
 *    search returns ids; its completion trusts them only if no id was freed
 *    since it was submitted, because a freed id may have been reused by a
 *    different element. Inserts need no epoch: they never reuse an id that
 *    a result could hold while its completion is pending without a free.
 *
 * 6. Filtered searches (VSIM FILTER) run on pool threads and must read
 *    attributes, which the loop may replace meanwhile: by_id, elements and
 *    attributes are written under v->lock (write side, loop thread, a few
 *    stores each time) and read by vset_search_filtered under the read
 *    side, never nested inside the index's own lock. Completions compare
 *    attr_epoch as they compare del_epoch, so a reply never shows an
 *    element that matched attributes replaced since. Rejected: copying
 *    the candidates' attributes on the loop before the hand-off (the
 *    candidates are only known after the search).
 * 7. REDUCE: a dense Gaussian projection (Johnson-Lindenstrauss), one dot
 *    product per output dimension through the dispatched kernel. The seed
 *    is derived from the two dimensions only, so the matrix needs no
 *    storage in a future persistence format beyond those two numbers.
 * 8. VRANGE reads a second index over the same elements: a treap in name
 *    order threaded through each element's left/right links
 *    (vset_order.c), linked when a name is first added and unlinked in
 *    unlink_elem, so a page costs a seek plus its length instead of a scan
 *    of the hash table. Loop thread only, no lock: workers never follow
 *    the links. Freeing the set needs no walk of it (the hash table frees
 *    the elements).
 *
 * Threading: loop thread only (vset.h), except vset_search_filtered. */
#include "vset.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "kernels/kernels.h"
#include "mem.h"
#include "vfilter.h"
#include "vset_order.h"

vset_stats g_vset_stats;
static uint64_t next_uid = 1;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static void vset_type_free(void *obj) {
    vset *v = obj;
    v->detached = 1;
    g_vset_stats.detached++;
    vset_unref(v);
}

const ks_type vset_type = {"vectorset", vset_type_free, vset_mem_usage};

static uint64_t name_hash(const char *p, size_t n) { return XXH3_64bits(p, n); }

int vset_create(uint32_t dim, vset_quant q, uint32_t M, vset **out) {
    if (dim < 1 || dim > VSET_MAX_DIM || M < 4 || M > 4096) return HNSW_EINVAL;
    vset *v = calloc(1, sizeof *v);
    if (!v) return HNSW_ENOMEM;
    hnsw_params p;
    hnsw_params_default(&p, dim);
    p.M = M;
    p.ef_construction = VSET_DEFAULT_EF_BUILD;
    p.ef_search = VSET_DEFAULT_EF_SEARCH;
    p.storage = q == VSET_Q8 ? HNSW_STORE_I8 : q == VSET_BIN ? HNSW_STORE_BIN : HNSW_STORE_F32;
    /* Q8: VEMB returns the inserted vector exactly. BIN keeps only the bits
     * (its point is the memory; Redis keeps no copy either). */
    p.rerank = q == VSET_Q8 ? HNSW_RERANK_F32 : HNSW_RERANK_NONE;
    int rc = hnsw_create(&p, &v->h);
    if (rc) {
        free(v);
        return rc;
    }
    v->nbuckets = 8;
    v->buckets = calloc(v->nbuckets, sizeof *v->buckets);
    if (!v->buckets) {
        hnsw_free(v->h);
        free(v);
        return HNSW_ENOMEM;
    }
    if (pthread_rwlock_init(&v->lock, NULL) != 0) {
        free(v->buckets);
        hnsw_free(v->h);
        free(v);
        return HNSW_ENOMEM;
    }
    v->quant = q;
    v->dim = dim;
    v->M = M;
    v->uid = next_uid++;
    v->refs = 1;
    g_vset_stats.sets++;
    *out = v;
    return 0;
}

void vset_ref(vset *v) { v->refs++; }

static void elem_free(vset *v, vset_elem *e) {
    if (e->attr) {
        v->elem_bytes -= mem_usable(e->attr);
        free(e->attr);
    }
    v->elem_bytes -= mem_usable(e);
    free(e);
}

void vset_unref(vset *v) {
    if (--v->refs > 0) return;
    for (size_t b = 0; b < v->nbuckets; b++) {
        vset_elem *e = v->buckets[b];
        while (e) {
            vset_elem *next = e->next;
            elem_free(v, e);
            e = next;
        }
    }
    free(v->buckets);
    free(v->by_id);
    free(v->proj);
    pthread_rwlock_destroy(&v->lock);
    hnsw_free(v->h);
    g_vset_stats.sets--;
    if (v->detached) g_vset_stats.detached--;
    free(v);
}

vset_elem *vset_find(const vset *v, const char *name, size_t nlen) {
    uint64_t h = name_hash(name, nlen);
    for (vset_elem *e = v->buckets[h & (v->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && e->nlen == nlen && memcmp(e->name, name, nlen) == 0) return e;
    return NULL;
}

vset_elem *vset_by_id(const vset *v, uint32_t id) {
    return id < v->cap_id ? v->by_id[id] : NULL;
}

static int grow_buckets(vset *v) {
    size_t n = v->nbuckets * 2;
    vset_elem **nb = calloc(n, sizeof *nb);
    if (!nb) return -ENOMEM;      /* keep the old table: longer chains only */
    for (size_t b = 0; b < v->nbuckets; b++) {
        vset_elem *e = v->buckets[b];
        while (e) {
            vset_elem *next = e->next;
            size_t i = e->hash & (n - 1);
            e->next = nb[i];
            nb[i] = e;
            e = next;
        }
    }
    free(v->buckets);
    v->buckets = nb;
    v->nbuckets = n;
    return 0;
}

static int reserve_id(vset *v, uint32_t id) {
    if (id < v->cap_id) return 0;
    uint32_t cap = v->cap_id ? v->cap_id : 64;
    while (cap <= id) cap = cap < (1u << 30) ? cap * 2 : id + 1;
    pthread_rwlock_wrlock(&v->lock);
    vset_elem **n = realloc(v->by_id, (size_t)cap * sizeof *n);
    if (n) {
        memset(n + v->cap_id, 0, (size_t)(cap - v->cap_id) * sizeof *n);
        v->by_id = n;
        v->cap_id = cap;
    }
    pthread_rwlock_unlock(&v->lock);
    return n ? 0 : -ENOMEM;
}

static void unlink_elem(vset *v, vset_elem *e) {
    vset_elem **pp = &v->buckets[e->hash & (v->nbuckets - 1)];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
    vset_order_remove(&v->order, e);
    v->count--;
}

int vset_set_attr(vset *v, vset_elem *e, const char *attr, size_t alen) {
    char *n = NULL;
    if (alen) {
        n = malloc(alen + 1);
        if (!n) return -ENOMEM;
        memcpy(n, attr, alen);
        n[alen] = '\0';
    }
    pthread_rwlock_wrlock(&v->lock);
    char *prev = e->attr;
    e->attr = n;
    e->alen = (uint32_t)alen;
    v->attr_epoch++;
    pthread_rwlock_unlock(&v->lock);
    if (prev) {                 /* no worker can still hold it: freed after */
        v->elem_bytes -= mem_usable(prev);
        free(prev);
        v->nattrs--;
    }
    if (n) {
        v->elem_bytes += mem_usable(n);
        v->nattrs++;
    }
    return 0;
}

/* Frees id in the index and records it (design note 5). */
static void delete_id(vset *v, uint32_t id) {
    hnsw_delete(v->h, id);
    pthread_rwlock_wrlock(&v->lock);
    if (id < v->cap_id) v->by_id[id] = NULL;
    pthread_rwlock_unlock(&v->lock);
    v->del_epoch++;
}

int vset_add(vset *v, const char *name, size_t nlen, const float *vec, float l2, uint32_t ef,
             int set_attr, const char *attr, size_t alen, int *added) {
    vset_elem *e = vset_find(v, name, nlen);
    *added = 0;
    if (nlen > UINT32_MAX || alen > UINT32_MAX) return HNSW_EINVAL;
    hnsw_set_ef_construction(v->h, ef);
    uint32_t id;
    int rc = hnsw_insert(v->h, vec, v->dim, &id);
    if (rc) return rc;
    if (reserve_id(v, id) != 0) {
        delete_id(v, id);
        return HNSW_ENOMEM;
    }
    v->inserts++;
    if (e) {
        uint32_t old = e->id;
        pthread_rwlock_wrlock(&v->lock);
        e->id = id;
        v->by_id[id] = e;
        pthread_rwlock_unlock(&v->lock);
        delete_id(v, old);
    } else {
        e = malloc(sizeof *e + nlen + 1);
        if (!e) {
            delete_id(v, id);
            return HNSW_ENOMEM;
        }
        memcpy(e->name, name, nlen);
        e->name[nlen] = '\0';
        e->nlen = (uint32_t)nlen;
        e->hash = name_hash(name, nlen);
        e->attr = NULL;
        e->alen = 0;
        e->id = id;
        size_t i = e->hash & (v->nbuckets - 1);
        e->next = v->buckets[i];
        v->buckets[i] = e;
        vset_order_insert(&v->order, e);
        v->count++;
        pthread_rwlock_wrlock(&v->lock);
        v->by_id[id] = e;
        pthread_rwlock_unlock(&v->lock);
        v->elem_bytes += mem_usable(e);
        if (v->count > v->nbuckets) grow_buckets(v);
        *added = 1;
    }
    e->l2 = l2;
    if (set_attr && vset_set_attr(v, e, attr, alen) != 0) {
        /* The vector is in; only the attribute update failed. */
        return HNSW_ENOMEM;
    }
    return 0;
}

int vset_remove(vset *v, const char *name, size_t nlen) {
    vset_elem *e = vset_find(v, name, nlen);
    if (!e) return 0;
    unlink_elem(v, e);
    delete_id(v, e->id);
    if (e->attr) v->nattrs--;
    elem_free(v, e);
    return 1;
}

static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);   /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

vset_elem *vset_random(const vset *v) {
    if (v->count == 0) return NULL;
    /* Ids are dense (the index reuses freed ids), so rejection sampling
     * over [0, cap_id) hits a live id after a few draws; a long streak of
     * misses (a set that shrank a lot) falls back to a bucket walk. */
    for (int tries = 0; tries < 64; tries++) {
        vset_elem *e = v->by_id[rng_next() % v->cap_id];
        if (e) return e;
    }
    size_t skip = rng_next() % v->count;
    for (size_t b = 0; b < v->nbuckets; b++)
        for (vset_elem *e = v->buckets[b]; e; e = e->next)
            if (skip-- == 0) return e;
    return NULL;
}

int vset_get_vector(const vset *v, const vset_elem *e, float *out) {
    int rc = hnsw_get_vector(v->h, e->id, out);
    if (rc) return rc;
    if (v->quant == VSET_BIN) {
        /* +-1/sqrt(dim) from the index: the sign is the stored bit */
        for (uint32_t i = 0; i < v->dim; i++) out[i] = out[i] > 0 ? 1.0f : -1.0f;
        return 0;
    }
    for (uint32_t i = 0; i < v->dim; i++) out[i] *= e->l2;
    return 0;
}

size_t vset_mem_usage(const void *obj) {
    const vset *v = obj;
    return mem_usable(v) + hnsw_memory_bytes(v->h) + mem_usable(v->buckets) +
           (v->by_id ? mem_usable(v->by_id) : 0) + (v->proj ? mem_usable(v->proj) : 0) +
           v->elem_bytes;
}

/* ---- REDUCE (design note 7) ---- */

static uint64_t splitmix(uint64_t *st) {
    uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int vset_set_projection(vset *v, uint32_t in_dim) {
    if (in_dim < v->dim || in_dim > VSET_MAX_DIM || v->proj) return HNSW_EINVAL;
    size_t n = (size_t)in_dim * v->dim;
    float *m = malloc(n * sizeof(float));
    if (!m) return HNSW_ENOMEM;
    uint64_t st = 0x73696d6361636865ULL ^ ((uint64_t)in_dim << 32 | v->dim);
    double scale = 1.0 / sqrt((double)v->dim);
    for (size_t i = 0; i < n; i += 2) {          /* Box-Muller, two per draw */
        double u1 = ((double)(splitmix(&st) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (double)(splitmix(&st) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1));
        m[i] = (float)(r * cos(2 * M_PI * u2) * scale);
        if (i + 1 < n) m[i + 1] = (float)(r * sin(2 * M_PI * u2) * scale);
    }
    v->proj = m;
    v->proj_in = in_dim;
    return 0;
}

void vset_project(const vset *v, const float *in, float *out) {
    const kernels *k = kernels_get();
    for (uint32_t r = 0; r < v->dim; r++)
        out[r] = k->dot_f32(v->proj + (size_t)r * v->proj_in, in, v->proj_in);
}

/* ---- filtered search (design note 6) ---- */

int vset_search_filtered(vset *v, const float *q, uint32_t k, uint32_t ef,
                         const vfilter *f, uint32_t filter_ef, int truth,
                         hnsw_result *out) {
    size_t live = hnsw_count(v->h);
    if (k == 0 || live == 0) return 0;
    if (live > UINT32_MAX) live = UINT32_MAX;
    uint32_t limit = truth ? (uint32_t)live
                           : (filter_ef < live ? filter_ef : (uint32_t)live);
    if (ef == 0) ef = VSET_DEFAULT_EF_SEARCH;
    uint32_t kk = truth ? limit : (ef > k ? ef : k);
    if (kk > limit) kk = limit;
    if (kk == 0) return 0;
    hnsw_result *cand = malloc((size_t)limit * sizeof *cand);
    if (!cand) return HNSW_ENOMEM;
    vfilter_scratch s = {0};
    int nm = 0, rc = 0;
    for (;;) {
        int n = truth ? hnsw_search_exact(v->h, q, v->dim, kk, cand)
                      : hnsw_search(v->h, q, v->dim, kk, kk > ef ? kk : ef, cand);
        if (n < 0) {
            rc = n;
            break;
        }
        nm = 0;
        pthread_rwlock_rdlock(&v->lock);
        for (int i = 0; i < n && (uint32_t)nm < k; i++) {
            vset_elem *e = cand[i].id < v->cap_id ? v->by_id[cand[i].id] : NULL;
            if (!e || !e->attr) continue;
            int m = vfilter_match(f, e->attr, e->alen, &s);
            if (m < 0) {
                rc = HNSW_ENOMEM;
                break;
            }
            if (m) out[nm++] = cand[i];
        }
        pthread_rwlock_unlock(&v->lock);
        if (rc || (uint32_t)nm >= k || kk >= limit || (uint32_t)n < kk) break;
        kk = kk > limit / 4 ? limit : kk * 4;
    }
    vfilter_scratch_free(&s);
    free(cand);
    return rc ? rc : nm;
}

/* ---- VRANGE ---- */

long vset_range(const vset *v, const char *lo, size_t lolen, int loincl, const char *hi,
                size_t hilen, int hiincl, long long count, vset_elem ***out) {
    size_t cap = count < 0 || (unsigned long long)count > v->count ? v->count : (size_t)count;
    *out = NULL;
    vset_elem **r = malloc((cap ? cap : 1) * sizeof *r);
    if (!r) return -1;
    long n = vset_order_range(v->order, lo, lolen, loincl, hi, hilen, hiincl, cap, r);
    if (n < 0) {
        free(r);
        return -1;
    }
    *out = r;
    return n;
}
