/* embed_cache.c -- the bounded LRU of embedding vectors (embed_cache.h).
 *
 * Design decisions:
 * 1. Chained hash table (power-of-two buckets, doubled when the load
 *    passes 1) plus one intrusive doubly linked LRU list: get, put and
 *    evict are O(1). The key is the prompt's exact key (XXH3-64 of the
 *    normalised prompt, the same key as the cache's exact tier) together
 *    with a hash of the embedder fingerprint, both compared: two namespaces
 *    of one tenant bound to different models never see each other's
 *    vectors, two bound to the same model share them.
 * 2. The bound is in bytes, counting what the cache really allocates
 *    (entry header + vector + bucket array), so a tenant's embedding cache
 *    at 1,536 dimensions holds 4x fewer vectors than at 384 instead of
 *    silently using 4x the memory.
 * 3. The vector is stored inline after the header, then, if the entry
 *    has features, a memo area for the caller (32 bytes + 4 per feature:
 *    cache.c keeps the query's lexscore memo there, lexscore.c note 8)
 *    and the features
 *    (ids, then term counts): one allocation per entry, and a hit
 *    hands out pointers into it (no copy, no allocation): ~13 ns per hit
 *    over 1,000 entries cycled, against ~4.3 us to embed the same 14-word
 *    prompts (an ad hoc loop over ecache_get_val and embed_builtin, -O2).
 *    A built-in entry of such a prompt (170 features) at d=512 is 3.7 KB
 *    (header, vector 2,048, memo 712, features 850), so the default 16 MB
 *    bound holds ~4,500 such prompts per tenant. */
#include "embed_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct ent {
    uint64_t key, fp;
    uint32_t dim;
    uint32_t nf;                  /* features after the vector (0: none) */
    struct ent *hnext;            /* bucket chain */
    struct ent *prev, *next;      /* LRU: head = most recent */
    float v[];
} ent;

struct ecache {
    ent **buckets;
    size_t nbuckets;              /* power of two */
    size_t count, bytes, limit;
    ent *head, *tail;
    uint64_t hits, misses, evictions;
};

/* Layout after the header: v[dim], then if nf > 0 the aux area (at an
 * 8-aligned offset), ids[nf], tfs[nf]. */
static size_t aux_off(uint32_t dim) { return ((size_t)dim * sizeof(float) + 7) & ~(size_t)7; }

static size_t ent_bytes(uint32_t dim, uint32_t nf) {
    if (!nf) return sizeof(ent) + (size_t)dim * sizeof(float);
    return sizeof(ent) + aux_off(dim) + ECACHE_AUX_BYTES(nf) + (size_t)nf * (sizeof(uint32_t) + 1);
}

static void *ent_aux(ent *e) { return (char *)e->v + aux_off(e->dim); }
static uint32_t *ent_ids(ent *e) { return (uint32_t *)((char *)ent_aux(e) + ECACHE_AUX_BYTES(e->nf)); }
static uint8_t *ent_tfs(ent *e) { return (uint8_t *)(ent_ids(e) + e->nf); }

static size_t bucket_of(const ecache *c, uint64_t key, uint64_t fp) {
    uint64_t h = key ^ (fp * 0x9E3779B97F4A7C15ULL);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (size_t)h & (c->nbuckets - 1);
}

ecache *ecache_new(size_t max_bytes) {
    ecache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->nbuckets = 64;
    c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->bytes = c->nbuckets * sizeof *c->buckets;
    c->limit = max_bytes;
    return c;
}

void ecache_free(ecache *c) {
    if (!c) return;
    for (ent *e = c->head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    free(c->buckets);
    free(c);
}

static void lru_unlink(ecache *c, ent *e) {
    if (e->prev) e->prev->next = e->next;
    else c->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->tail = e->prev;
}

static void lru_push_front(ecache *c, ent *e) {
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    else c->tail = e;
    c->head = e;
}

static ent **find_link(ecache *c, uint64_t key, uint64_t fp) {
    ent **pp = &c->buckets[bucket_of(c, key, fp)];
    while (*pp && !((*pp)->key == key && (*pp)->fp == fp)) pp = &(*pp)->hnext;
    return pp;
}

static void remove_ent(ecache *c, ent *e) {
    ent **pp = find_link(c, e->key, e->fp);
    *pp = e->hnext;
    lru_unlink(c, e);
    c->count--;
    c->bytes -= ent_bytes(e->dim, e->nf);
    free(e);
}

static void evict_to(ecache *c, size_t limit) {
    while (c->tail && c->bytes > limit) {
        remove_ent(c, c->tail);
        c->evictions++;
    }
}

void ecache_set_limit(ecache *c, size_t max_bytes) {
    c->limit = max_bytes;
    evict_to(c, max_bytes);
}

/* The pointers into e that a hit hands out. */
static void val_of(ent *e, ecache_val *out) {
    out->v = e->v;
    out->nf = e->nf;
    out->ids = e->nf ? ent_ids(e) : NULL;
    out->tfs = e->nf ? ent_tfs(e) : NULL;
    out->aux = e->nf ? ent_aux(e) : NULL;
}

int ecache_get_val(ecache *c, uint64_t key, uint64_t fp, uint32_t dim, ecache_val *out) {
    ent *e = *find_link(c, key, fp);
    if (!e || e->dim != dim) {
        c->misses++;
        return 0;
    }
    c->hits++;
    if (c->head != e) {
        lru_unlink(c, e);
        lru_push_front(c, e);
    }
    val_of(e, out);
    return 1;
}

int ecache_peek_val(ecache *c, uint64_t key, uint64_t fp, uint32_t dim, ecache_val *out) {
    ent *e = *find_link(c, key, fp);
    if (!e || e->dim != dim) return 0;
    val_of(e, out);
    return 1;
}

const float *ecache_get(ecache *c, uint64_t key, uint64_t fp, uint32_t dim) {
    ecache_val v;
    return ecache_get_val(c, key, fp, dim, &v) ? v.v : NULL;
}

/* Doubles the bucket array (load > 1). -1 on ENOMEM (the table still
 * works, only with longer chains). */
static int grow(ecache *c) {
    size_t nb = c->nbuckets * 2;
    ent **b = calloc(nb, sizeof *b);
    if (!b) return -1;
    ent **old = c->buckets;
    size_t on = c->nbuckets;
    c->buckets = b;
    c->nbuckets = nb;
    for (size_t i = 0; i < on; i++)
        for (ent *e = old[i], *n; e; e = n) {
            n = e->hnext;
            size_t j = bucket_of(c, e->key, e->fp);
            e->hnext = b[j];
            b[j] = e;
        }
    free(old);
    c->bytes += on * sizeof *b;
    return 0;
}

int ecache_put(ecache *c, uint64_t key, uint64_t fp, const float *v, uint32_t dim) {
    return ecache_put_feats(c, key, fp, v, dim, NULL, NULL, 0);
}

int ecache_put_feats(ecache *c, uint64_t key, uint64_t fp, const float *v, uint32_t dim,
                     const uint32_t *ids, const uint8_t *tfs, uint32_t nf) {
    size_t need = ent_bytes(dim, nf);
    if (need + c->nbuckets * sizeof *c->buckets > c->limit) return 1;
    ent *e = malloc(need);
    if (!e) return -1;
    e->key = key;
    e->fp = fp;
    e->dim = dim;
    e->nf = nf;
    memcpy(e->v, v, (size_t)dim * sizeof(float));
    if (nf) {
        memset(ent_aux(e), 0, ECACHE_AUX_BYTES(nf));
        memcpy(ent_ids(e), ids, (size_t)nf * sizeof *ids);
        memcpy(ent_tfs(e), tfs, nf);
    }
    ent *old = *find_link(c, key, fp);
    if (old) remove_ent(c, old);
    /* grow only while the table itself stays a small part of the bound */
    if (c->count + 1 > c->nbuckets && c->nbuckets * 2 * sizeof *c->buckets < c->limit / 8)
        grow(c);
    ent **pp = &c->buckets[bucket_of(c, key, fp)];
    e->hnext = *pp;
    *pp = e;
    lru_push_front(c, e);
    c->count++;
    c->bytes += need;
    evict_to(c, c->limit);
    return 0;
}

void ecache_get_stats(const ecache *c, ecache_stats *out) {
    out->entries = c->count;
    out->bytes = c->bytes;
    out->limit = c->limit;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
}
