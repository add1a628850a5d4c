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
 * Threading: loop thread only (vset.h). */
#include "vset.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "mem.h"

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
    if (dim < 1 || dim > VSET_MAX_DIM || M < 4 || M > 4096 || q == VSET_BIN) return HNSW_EINVAL;
    vset *v = calloc(1, sizeof *v);
    if (!v) return HNSW_ENOMEM;
    hnsw_params p;
    hnsw_params_default(&p, dim);
    p.M = M;
    p.ef_construction = VSET_DEFAULT_EF_BUILD;
    p.ef_search = VSET_DEFAULT_EF_SEARCH;
    p.storage = q == VSET_Q8 ? HNSW_STORE_I8 : HNSW_STORE_F32;
    p.rerank = HNSW_RERANK_F32; /* VEMB returns the inserted vector exactly */
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
    vset_elem **n = realloc(v->by_id, (size_t)cap * sizeof *n);
    if (!n) return -ENOMEM;
    memset(n + v->cap_id, 0, (size_t)(cap - v->cap_id) * sizeof *n);
    v->by_id = n;
    v->cap_id = cap;
    return 0;
}

static void unlink_elem(vset *v, vset_elem *e) {
    vset_elem **pp = &v->buckets[e->hash & (v->nbuckets - 1)];
    while (*pp != e) pp = &(*pp)->next;
    *pp = e->next;
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
    if (e->attr) {
        v->elem_bytes -= mem_usable(e->attr);
        free(e->attr);
        v->nattrs--;
    }
    e->attr = n;
    e->alen = (uint32_t)alen;
    if (n) {
        v->elem_bytes += mem_usable(n);
        v->nattrs++;
    }
    return 0;
}

/* Frees id in the index and records it (design note 5). */
static void delete_id(vset *v, uint32_t id) {
    hnsw_delete(v->h, id);
    if (id < v->cap_id) v->by_id[id] = NULL;
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
        e->id = id;
        v->by_id[id] = e;
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
        v->count++;
        v->by_id[id] = e;
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
    for (uint32_t i = 0; i < v->dim; i++) out[i] *= e->l2;
    return 0;
}

size_t vset_mem_usage(const void *obj) {
    const vset *v = obj;
    return mem_usable(v) + hnsw_memory_bytes(v->h) + mem_usable(v->buckets) +
           (v->by_id ? mem_usable(v->by_id) : 0) + v->elem_bytes;
}
