/* cache.h -- the semantic LLM cache: namespaces and entries.
 *
 * A namespace belongs to one tenant (tenant.h) and binds one embedder
 * (fingerprint + dimension), one HNSW index, one IDF table and one exact
 * map; nothing is shared between namespaces, hence between tenants. An
 * entry is a stored answer: the exact prompt, the response, what it cost
 * upstream (nano-USD, tokens, model), free-form PARAMS/META, its TTL.
 *
 * Lookups go exact first (XXH3 of the normalised prompt, prompt_norm.h),
 * then semantic (built-in embedding, HNSW top-k, lexscore re-score with
 * gate and margin). An entry is live until expire_ms; between expire_ms and
 * expire_ms + grace it is "stale": returned only to callers that allow
 * stale answers; after that it is deleted (from the exact map, the id map
 * and the HNSW graph: true deletion) lazily on a lookup that meets it or by
 * cache_cron.
 *
 * Threading: loop thread only, except cache_query_run, which runs the HNSW
 * search of a started query on a worker thread (workers.h): the semantic
 * tier of a lookup and CACHE.SEARCH are split into start (loop: exact tier,
 * embedding), run (pool: hnsw_search only) and finish (loop: candidate
 * re-validation, lexscore pick, stats). See cache.c note 8. Likewise the
 * HNSW insert of a PUT into a namespace of at least CACHE_ASYNC_MIN
 * entries runs on the pool (vset_pool()) when one is set: the entry serves
 * the exact tier at once and the semantic tier once its insert completed
 * (cache.c note 9). */
#ifndef SIMCACHE_CACHE_H
#define SIMCACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "index/hnsw.h"
#include "embed_builtin.h"
#include "lexscore.h"
#include "tenant.h"

#define CACHE_NS_NAME_MAX 128       /* bytes, NUL included */
#define CACHE_LABEL_MAX 64          /* version labels, NUL included */
#define CACHE_CANDIDATES 10         /* HNSW candidates re-scored per lookup */
#define CACHE_WIDEN_MAX 64          /* largest WIDEN factor */
#define CACHE_WIDEN_DEFAULT 8       /* measured: cache.c note 11 */
#define CACHE_WIDEN_BAND 0.0f       /* measured: cache.c note 11 */

#define CACHE_OK 0
#define CACHE_EEMPTY (-1)   /* prompt normalises to nothing */
#define CACHE_ENOMEM (-2)
#define CACHE_EINDEX (-3)   /* the index refused the vector */
#define CACHE_PENDING 1     /* a query was started: run it, then finish it */

/* cache_entry.slot of an entry stored without a vector (provider-embedded
 * namespace whose embedding has not arrived yet: exact tier only). */
#define CACHE_NO_SLOT UINT32_MAX

/* Namespaces with fewer live entries than this are searched synchronously
 * on the loop (a handful of distance evaluations costs less than the
 * hand-off to a worker and back). */
#define CACHE_ASYNC_MIN 64

typedef enum cache_tier {
    CACHE_MISS = 0,
    CACHE_EXACT,
    CACHE_SEMANTIC,
    CACHE_STALE,
} cache_tier;

typedef enum cache_on_budget {
    ON_BUDGET_NONE = 0,
    ON_BUDGET_STALE,            /* budget exhausted: serve stale entries */
    ON_BUDGET_LOWER_THRESHOLD,  /* budget exhausted: accept budget_floor */
} cache_on_budget;

typedef struct cache_str {
    char *p;          /* owned, NUL-terminated for convenience, may hold NULs */
    size_t n;
} cache_str;

typedef struct cache_entry {
    uint64_t id;              /* public id, unique in the namespace, from 1 */
    uint64_t key;             /* exact key: XXH3 of the normalised prompt */
    uint32_t slot;            /* HNSW id */
    int64_t created_ms;       /* unix ms */
    int64_t expire_ms;        /* unix ms; 0 = never */
    int64_t cost_nusd;        /* upstream cost of producing the answer */
    uint64_t tokens_in, tokens_out;
    uint64_t hits;            /* times served */
    int64_t last_hit_ms;      /* unix ms of the last serve, or created_ms */
    size_t bytes;             /* memory owned by the entry (estimate) */
    lex_doc *doc;             /* sparse features (IDF re-scoring) */
    cache_str prompt, response, model, params, meta;
    /* unindexed entries (slot == CACHE_NO_SLOT) of a namespace form a
     * doubly linked list (ns->unindexed); cache_embed.c indexes them */
    struct cache_entry *unx_prev, *unx_next;
    int embedding;            /* cache_embed.c: an embedding call is in flight */
    /* HNSW insert of this entry running on the pool (cache.c note 9): the
     * entry has no slot yet and is on no list but ns->inserts' job */
    struct cache_ins *ins;
} cache_entry;

/* u64 -> pointer open-addressing map (linear probing, backward-shift
 * deletion). Private to cache.c; in the header so the struct can be
 * embedded. */
typedef struct cache_map {
    uint64_t *keys;
    void **vals;              /* NULL = empty slot */
    size_t cap, count;        /* cap a power of two or 0 */
} cache_map;

typedef struct cache_ns_config {
    char embedder[32];        /* "builtin" */
    uint32_t dim;             /* embedding dimension */
    float threshold;          /* default similarity threshold (lexscore), [0,1] */
    int allow_lower;          /* per-request THRESHOLD may go below threshold */
    int64_t ttl_ms;           /* default TTL, 0 = none */
    int64_t grace_ms;         /* stale window after expiry */
    uint32_t M, ef;           /* HNSW parameters */
    int quant_int8;           /* 1: int8 storage */
    int codes;                /* float32 storage: the codes searches
                               * traverse, HNSW_CODES_I4 (default), _I8 or
                               * _NONE (index/hnsw.h) */
    int64_t exact_below;      /* search by a scan while entries <= this;
                               * -1: the index's default (hnsw.c design 7, 10) */
    int32_t widen;            /* cache.c note 11: an uncertain graph answer is
                               * searched again at ef * widen; 0 or 1 = never;
                               * -1 = the default (CACHE_WIDEN_DEFAULT for the
                               * built-in embedder, 0 for providers), resolved
                               * by cache_ns_create; 0..CACHE_WIDEN_MAX */
    float widen_band;         /* a hit scoring below threshold + widen_band is
                               * uncertain too (CACHE_WIDEN_BAND; not a
                               * command option: benches tune it) */
    char prompt_version[CACHE_LABEL_MAX];
    char model_version[CACHE_LABEL_MAX];
    char tools_version[CACHE_LABEL_MAX];
    cache_on_budget on_budget;
    float budget_floor;       /* ON_BUDGET_LOWER_THRESHOLD floor */
    /* External embedder (cache_embed.h): vectors come from a provider
     * through cache_put_vec / cache_lookup_vec_start, the semantic pick is
     * the cosine of those vectors against `threshold`, and the namespace's
     * fingerprint is ext_fingerprint. 0: the built-in embedder. */
    int ext_embedder;
    char ext_fingerprint[EMBED_BUILTIN_FP_MAX + 64];
} cache_ns_config;

typedef struct cache_ns_stats {
    uint64_t hits_exact, hits_semantic, hits_stale, misses;
    uint64_t puts, expired, evicted, deleted;
    uint64_t widened;         /* lookups searched again at ef * widen (note 11) */
} cache_ns_stats;

typedef struct cache_ns {
    tenant *owner;
    char name[CACHE_NS_NAME_MAX];
    uint64_t generation;      /* unique per namespace ever created */
    cache_ns_config cfg;
    char fingerprint[EMBED_BUILTIN_FP_MAX + 64];
    uint64_t fp_hash;         /* XXH3 of fingerprint: the embedding cache's key part */
    hnsw *idx;
    lex_idf *idf;
    cache_entry **slots;      /* by HNSW id; NULL = free */
    uint32_t nslots;          /* capacity of slots */
    cache_map exact;          /* key -> entry */
    cache_map byid;           /* id -> entry */
    uint64_t next_id;
    size_t entry_bytes;       /* sum of entry->bytes */
    uint32_t cron_cursor;     /* next slot the expiry pass visits */
    cache_ns_stats st;
    uint32_t refs;            /* in-flight threaded searches (cache_query) */
    int dropped;              /* unlinked by cache_ns_drop; freed at refs 0 */
    struct cache_ns *next;
    cache_entry *unindexed;   /* entries with slot CACHE_NO_SLOT (list head) */
    size_t n_unindexed;       /* length of that list */
    struct cache_ins *inserts; /* HNSW inserts in flight on the pool (note 9) */
    uint32_t n_inserts;       /* length of that list */
} cache_ns;

typedef struct cache_hit {
    cache_tier tier;
    cache_entry *e;           /* NULL on a miss; borrowed until the next write */
    float score;              /* 1 for exact; lexscore similarity otherwise */
} cache_hit;

/* Defaults: builtin embedder at EMBED_BUILTIN_DIM_DEFAULT (256), lexscore's
 * default threshold, no TTL, no grace, M 16, EF 32, float32. */
void cache_ns_config_default(cache_ns_config *cfg);

/* Creates namespace `name` of tenant t. CACHE_OK, CACHE_ENOMEM, or
 * CACHE_EINDEX (parameters the index or embedder refuse). *out borrowed. */
int cache_ns_create(tenant *t, const char *name, size_t len, const cache_ns_config *cfg,
                    cache_ns **out);
/* The namespace `name` of tenant t, or NULL. */
cache_ns *cache_ns_find(const tenant *t, const char *name, size_t len);
/* Frees the namespace and its entries. */
void cache_ns_drop(cache_ns *ns);
/* Deletes every entry; returns how many. */
size_t cache_ns_flush(cache_ns *ns);
/* The first namespace of all tenants (walk ->next). */
cache_ns *cache_ns_first(void);
size_t cache_ns_count(const cache_ns *ns);
/* Bytes owned by the namespace (entries, index, IDF table, maps). */
size_t cache_ns_memory(const cache_ns *ns);
/* A namespace with this generation, or NULL (it was dropped). */
cache_ns *cache_ns_by_generation(uint64_t gen);

/* Input of cache_put. Strings are copied. */
typedef struct cache_put_args {
    const char *prompt; size_t prompt_len;
    const char *response; size_t response_len;
    int64_t ttl_ms;           /* < 0: the namespace default; 0: none */
    int64_t cost_nusd;
    uint64_t tokens_in, tokens_out;
    const char *model; size_t model_len;     /* may be NULL */
    const char *params; size_t params_len;   /* may be NULL */
    const char *meta; size_t meta_len;       /* may be NULL */
} cache_put_args;

/* Stores an entry, replacing one with the same exact key. *out borrowed.
 * CACHE_OK, CACHE_EEMPTY, CACHE_ENOMEM, CACHE_EINDEX; on error nothing
 * changed. */
int cache_put(cache_ns *ns, const cache_put_args *a, int64_t now_ms, cache_entry **out);

/* Looks the prompt up: exact, then semantic with `threshold` (lexscore
 * similarity floor). allow_stale: entries expired less than the grace ago
 * may be returned (tier STALE) when no live one matches. The hit's entry
 * counters (hits, last_hit_ms) and namespace stats are updated. Entries
 * found past their grace are deleted on the way. CACHE_OK (hit or miss in
 * out->tier), CACHE_EEMPTY, CACHE_ENOMEM. */
int cache_lookup(cache_ns *ns, const char *prompt, size_t len, float threshold,
                 int allow_stale, int64_t now_ms, cache_hit *out);

/* The exact key of a prompt (for WAIT coalescing). 0 or CACHE_EEMPTY. */
int cache_key(const char *prompt, size_t len, uint64_t *key);

/* Built-in embeddings since start: `computed` times the built-in embedder
 * ran for a lookup, PUT or CACHE.SEARCH of a built-in namespace, `cached`
 * times the tenant's embedding cache supplied them instead (note 12 of
 * cache.c). Loop thread. */
typedef struct cache_builtin_embed_stats {
    uint64_t computed, cached;
} cache_builtin_embed_stats;
void cache_builtin_embed_stats_get(cache_builtin_embed_stats *out);

/* Nearest live entries (for threshold tuning): up to k, by cosine
 * distance; score[i] is the lexscore similarity, cosine[i] 1 - dist.
 * Returns the count or a negative CACHE_E*. */
int cache_search(cache_ns *ns, const char *prompt, size_t len, uint32_t k, int64_t now_ms,
                 cache_entry **out, float *score, float *cosine);

/* The entry with public id, or NULL. */
cache_entry *cache_entry_by_id(cache_ns *ns, uint64_t id);
/* Deletes an entry (maps, HNSW, IDF). */
void cache_entry_delete(cache_ns *ns, cache_entry *e);

/* Active expiry: deletes entries past expire + grace, visiting at most
 * `max_visits` slots per namespace, resuming where the last call stopped.
 * Returns how many were deleted. Called from main.c's hz timer. */
size_t cache_cron(int64_t now_ms, uint32_t max_visits);

/* Eviction under maxmemory (see cache.c note 5): while used memory is over
 * `limit`, deletes the sampled entry whose loss saves the least. Returns
 * how many were evicted. */
size_t cache_evict(size_t limit, int samples);
/* The same choice, for exactly `count` entries (tests, and callers that
 * know how much to free). Returns how many were evicted. */
size_t cache_evict_count(size_t count, int samples);

/* ---- threaded semantic search (cache.c note 8) ---- */

typedef struct cache_query cache_query;

/* Like cache_lookup, but when the semantic tier is needed and the
 * namespace holds at least CACHE_ASYNC_MIN entries it stops before the
 * HNSW search: returns CACHE_PENDING and *q (the query holds a reference
 * on ns; out untouched). Otherwise it answers like cache_lookup (CACHE_OK
 * with *out, or an error) and *q is NULL. q NULL: never pending (this is
 * cache_lookup). */
int cache_lookup_start(cache_ns *ns, const char *prompt, size_t len, float threshold,
                       int allow_stale, int64_t now_ms, cache_hit *out, cache_query **q);
/* Prepares CACHE.SEARCH's query (embedding on the loop; k >= 1).
 * CACHE_PENDING and *q, or a negative CACHE_E*. */
int cache_search_start(cache_ns *ns, const char *prompt, size_t len, uint32_t k,
                       int64_t now_ms, cache_query **q);
/* The HNSW search of a started query: any thread; touches only q and the
 * index (which locks itself, hnsw.h). */
void cache_query_run(cache_query *q);
/* Loop thread, after cache_query_run. Candidates are re-validated: an entry
 * deleted (or replaced, or its slot reused) since the start is never
 * served; if the namespace was dropped the lookup is a miss (CACHE_OK,
 * tier MISS) and the search returns 0 results. Then the same pick, expiry
 * and statistics as cache_lookup / cache_search, with the start's now_ms.
 * cache_lookup_finish may instead return CACHE_PENDING (out zeroed,
 * nothing counted but ns->st.widened), at most once per query: the graph's
 * answer was uncertain and the namespace widens (cache.c note 11); run
 * cache_query_run(q) again (pool or inline) and call this again. */
int cache_lookup_finish(cache_query *q, cache_hit *out);
int cache_search_finish(cache_query *q, cache_entry **out, float *score, float *cosine);
/* The namespace of q, or NULL if it was dropped since the start; the exact
 * key of a lookup. */
cache_ns *cache_query_ns(const cache_query *q);
uint64_t cache_query_key(const cache_query *q);
/* Frees q and releases its namespace reference (the last reference of a
 * dropped namespace frees it). Loop thread. NULL is a no-op. */
void cache_query_free(cache_query *q);

/* ---- external embedders (cache_embed.c) ---- */

/* Like cache_put, with the vector given (vec[ns->cfg.dim], any norm) for a
 * namespace with ext_embedder. vec NULL stores the entry without a vector:
 * it serves the exact tier at once and waits on ns->unindexed until
 * cache_entry_index gives it one. Same return codes as cache_put. */
int cache_put_vec(cache_ns *ns, const cache_put_args *a, const float *vec, int64_t now_ms,
                  cache_entry **out);
/* Inserts the vector of an unindexed entry into the index and takes it off
 * ns->unindexed. CACHE_OK, CACHE_ENOMEM or CACHE_EINDEX (entry unchanged).
 * An entry that already has a slot: CACHE_OK, nothing done. */
int cache_entry_index(cache_ns *ns, cache_entry *e, const float *vec);
/* The exact tier alone: CACHE_OK with out->tier EXACT (counted as a hit)
 * or MISS (not counted: the caller goes on to the semantic tier), and the
 * prompt's exact key in *key; or CACHE_EEMPTY / CACHE_ENOMEM. */
int cache_lookup_exact(cache_ns *ns, const char *prompt, size_t len, int64_t now,
                       cache_hit *out, uint64_t *key);
/* cache_lookup_start for an ext_embedder namespace, with the prompt's
 * exact key and its vector (vec[ns->cfg.dim]; copied): the exact tier is
 * checked again, then the semantic tier over `vec` (cosine >= threshold).
 * Returns like cache_lookup_start (CACHE_PENDING with *q when the search
 * goes to the pool; cache_lookup_finish then applies the same pick). */
int cache_lookup_vec_start(cache_ns *ns, uint64_t key, const float *vec, float threshold,
                           int allow_stale, int64_t now, cache_hit *out, cache_query **q);
/* cache_search_start for an ext_embedder namespace with the prompt's
 * vector (vec[ns->cfg.dim], copied); k >= 1. Results are scored by that
 * cosine. CACHE_PENDING and *q, or CACHE_ENOMEM. */
int cache_search_vec_start(cache_ns *ns, const float *vec, uint32_t k, int64_t now,
                           cache_query **q);
/* The answer when no vector can be had (provider failure): the exact tier,
 * then the exact entry in its grace window if allow_stale, else a miss;
 * the outcome is counted. CACHE_OK. */
int cache_lookup_degraded(cache_ns *ns, uint64_t key, int allow_stale, int64_t now,
                          cache_hit *out);
/* Empties every namespace (FLUSHALL): entries deleted, and a namespace no
 * search holds gets a fresh index, IDF table and maps so their memory is
 * returned, not just marked free. Definitions (CACHE.CREATE options) stay.
 * Returns the number of entries deleted. */
size_t cache_flushall(void);

/* Counters of the HNSW inserts of PUTs (cache.c note 9), for INFO:
 * in flight on the pool now, completed on the pool, run inline on the loop
 * (small namespace, no pool, pool busy), and pool inserts whose entry was
 * gone (deleted, expired, replaced, flushed) at completion, so the vector
 * was deleted again. */
typedef struct cache_insert_stats {
    uint64_t inflight, pool, inline_, orphaned;
} cache_insert_stats;
void cache_insert_stats_get(cache_insert_stats *out);

/* Frees every namespace (shutdown, tests). */
void cache_shutdown(void);

#endif
