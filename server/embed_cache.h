/* embed_cache.h -- a bounded LRU map (exact key, embedder fingerprint) ->
 * embedding vector, optionally with the prompt's sparse features: the
 * per-tenant embedding cache (cache_embed.c keeps one per tenant, so
 * tenants never share vectors). Provider namespaces store the provider's
 * vector alone; built-in namespaces store the built-in vector together
 * with the sorted (id, term count) features lexscore scores with, so a
 * repeated prompt skips the built-in embedder entirely. Pure data
 * structure: no libuv, no tenant, no provider.
 *
 * Threading: none; the caller serialises (the loop thread in the server).
 * Errors: 0 or -1 (ENOMEM); nothing here aborts or prints. */
#ifndef SIMCACHE_EMBED_CACHE_H
#define SIMCACHE_EMBED_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ecache ecache;

typedef struct ecache_stats {
    size_t entries;
    size_t bytes;             /* entries + bucket array, as charged to the limit */
    size_t limit;             /* max bytes */
    uint64_t hits, misses, evictions;
} ecache_stats;

/* An empty cache holding at most max_bytes (entry headers, vectors,
 * features and its bucket array). NULL on ENOMEM. */
ecache *ecache_new(size_t max_bytes);
/* Frees c and every vector. NULL is a no-op. */
void ecache_free(ecache *c);
/* Changes the bound; evicts least recently used vectors down to it. */
void ecache_set_limit(ecache *c, size_t max_bytes);

/* The vector stored for (key, fp) with this dim, or NULL (counted as a
 * miss). A hit becomes the most recently used; the pointer is valid until
 * the next ecache_put/ecache_set_limit/ecache_free. */
const float *ecache_get(ecache *c, uint64_t key, uint64_t fp, uint32_t dim);

/* Stores a copy of v[dim] under (key, fp), replacing an older one, and
 * evicts least recently used vectors until the bound holds. Returns 0, 1
 * if one vector alone exceeds the bound (nothing stored), or -1 (ENOMEM,
 * nothing changed). dim >= 1. */
int ecache_put(ecache *c, uint64_t key, uint64_t fp, const float *v, uint32_t dim);

/* ecache_put that also stores a copy of nf features: ids[0..nf) and
 * tfs[0..nf) (the embed_feats form; nf 0 is ecache_put) and reserves a
 * zeroed aux area. The entry is charged for them (4 + 1 bytes each, plus
 * ECACHE_AUX_BYTES(nf)). Same returns. */
int ecache_put_feats(ecache *c, uint64_t key, uint64_t fp, const float *v, uint32_t dim,
                     const uint32_t *ids, const uint8_t *tfs, uint32_t nf);

/* Bytes of caller-owned memo space in an entry with nf features: 32 plus
 * 4 per feature (cache.c keeps the query's lexscore memo there: a header
 * and one float per feature). */
#define ECACHE_AUX_BYTES(nf) (32 + 4 * (size_t)(nf))

/* A cached embedding: pointers into the entry, valid until the next
 * ecache_put, ecache_put_feats, ecache_set_limit or ecache_free on the
 * same cache. */
typedef struct ecache_val {
    const float *v;           /* dim floats */
    const uint32_t *ids;      /* nf feature ids (NULL when nf is 0) */
    const uint8_t *tfs;       /* nf term counts */
    uint32_t nf;
    void *aux;                /* ECACHE_AUX_BYTES(nf), zeroed at put,
                               * 8-aligned; NULL when nf is 0 */
} ecache_val;

/* ecache_get returning the features too: 1 and *out on a hit (the entry
 * becomes the most recently used), 0 on a miss (counted). No allocation.
 * Cost: one hash, one bucket walk, an LRU relink; nothing is copied. */
int ecache_get_val(ecache *c, uint64_t key, uint64_t fp, uint32_t dim, ecache_val *out);

/* ecache_get_val that counts nothing and leaves the LRU order alone (to
 * write an entry's aux memo back after the request that read it). */
int ecache_peek_val(ecache *c, uint64_t key, uint64_t fp, uint32_t dim, ecache_val *out);

void ecache_get_stats(const ecache *c, ecache_stats *out);

#endif
