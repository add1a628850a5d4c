/* cache.c -- namespaces and entries of the semantic cache (see cache.h).
 *
 * Design decisions:
 * 1. One namespace = one embedder fingerprint, one HNSW index, one IDF
 *    table, one exact map. Namespaces are scoped by (tenant, name): two
 *    tenants' "faq" are two unrelated objects, so no lookup can cross
 *    tenants by construction (the command layer resolves the tenant from
 *    the connection before it names a namespace).
 * 2. Entries are indexed three ways: by HNSW id (a dense slot array, so a
 *    search result maps to its entry in O(1)), by exact key and by public
 *    id (two u64 open-addressing maps). Public ids increase and are never
 *    reused, unlike HNSW ids, so a client holding an id never reaches a
 *    different entry.
 * 3. Exact tier: XXH3-64 of prompt_norm(prompt). A PUT of a prompt whose
 *    key exists replaces the old entry (one answer per exact prompt).
 * 4. Semantic tier: the built-in embedding searched in HNSW for
 *    CACHE_CANDIDATES neighbours, then lexscore_pick (IDF cosine over the
 *    sparse features, gate, swap test, margin) decides. Expired candidates
 *    are removed from the candidate list BEFORE the pick, so an expired
 *    entry can neither be served nor act as a runner-up that blocks a live
 *    one by the margin rule.
 * 5. Expiry: an entry past expire_ms is never served except as STALE
 *    (caller's consent) until expire_ms + grace; past that it is deleted
 *    when a lookup meets it, and cache_cron walks every namespace's slot
 *    array incrementally (a cursor, bounded visits per tick) so memory is
 *    reclaimed without lookups. Deletion is true deletion in HNSW.
 * 6. Eviction (cache_evict): sample entries uniformly across all
 *    namespaces and evict the one whose loss saves the least: value =
 *    cost_nusd * (hits + 1), ties broken by the least recently served. A
 *    cheap answer nobody reuses goes before an expensive popular one, which
 *    is what a cost-saving cache wants; age alone would evict the popular
 *    expensive answers stored first. Rejected: exact LFU/LRU lists (a
 *    pointer pair per entry and work on every hit for little gain over
 *    sampling, which Redis also uses).
 * 7. Threading: loop thread only (except note 8); the embedder scratch is a
 *    static.
 * 8. Threaded semantic search: a lookup is split into start (exact tier and
 *    embedding on the loop; the query copies the features and the vector
 *    out of the static scratch), run (hnsw_search on a pool thread: it
 *    reads only the query and the index, which takes its own read lock)
 *    and finish (loop: candidates mapped to entries, lexscore pick, expiry,
 *    statistics). The query holds a reference on the namespace: a DROP in
 *    between unlinks the namespace (nobody finds it any more) but frees it
 *    only with the last reference, so the worker never reads a freed index;
 *    a dropped namespace answers a miss. FLUSH, DEL, expiry, eviction and
 *    replacing PUTs delete entries in between (hnsw_delete waits for the
 *    running search): the finish keeps a candidate only if its slot still
 *    holds an entry whose public id is below the namespace's next_id at the
 *    start, so a deleted entry, or a newer one that reused its slot, is
 *    never served; the pick then runs over the surviving candidates as the
 *    synchronous path would at that moment. Namespaces with fewer than
 *    CACHE_ASYNC_MIN entries stay synchronous.
 * 9. Threaded insert. An HNSW insert is an ef_construction beam search
 *    (~0.8 ms at 100k x 512), too long for the loop. put_entry stores the
 *    entry at once (exact map, id map, IDF: the exact tier serves it and
 *    the PUT replies with its id), embeds on the loop, and, when a pool is
 *    set (vset_pool()) and the namespace holds at least CACHE_ASYNC_MIN
 *    entries, hands a copy of the vector to the pool (struct cache_ins,
 *    holding a namespace reference like a query). hnsw.c lets inserts run
 *    concurrently with searches and other inserts (it takes its own
 *    locks); deletes on the loop take the write side and wait for the
 *    insert's linking phase. Meanwhile the entry has slot CACHE_NO_SLOT,
 *    e->ins points at the job and the job at the entry; it is on neither
 *    the slot array nor the unindexed list (cache_embed.c would ask a
 *    provider for its vector), but on ns->inserts. A concurrent search may
 *    already meet the new HNSW id: its slot holds NULL until completion,
 *    so slot_entry drops it. Completion (loop) links slot -> entry; if the
 *    entry was deleted in between (DEL, expiry, eviction, replacing PUT,
 *    FLUSH: entry_unlink clears job->e), the vector is deleted from the
 *    index again, so no stale id is ever served; a dropped namespace is
 *    freed with its index by the last reference. Read-your-writes: a
 *    lookup or CACHE.SEARCH started while inserts are in flight also
 *    scores the query exactly against their vectors (at most
 *    CACHE_INS_PER_THREAD per pool thread, a few us on the loop) and
 *    merges the entries that still exist at the finish with the HNSW
 *    candidates by distance (cands_build; an entry whose insert completed
 *    in between is counted once). So a PUT is visible to the semantic
 *    tier of every lookup that starts after it, as with inline inserts;
 *    the HNSW result itself may rank slightly differently from the exact
 *    distance of a pending vector (int8 storage). Vectors the index would refuse (zero, NaN) are
 *    inserted inline so the PUT still gets its error. Backpressure: when
 *    the pool refuses the job (queue full) or more than
 *    CACHE_INS_PER_THREAD inserts per pool thread are in flight, the insert
 *    runs inline as before. The job goes to the pool's insert class
 *    (workers_submit_insert): queued searches run first (workers.c note
 *    5), so a GET no longer queues behind a burst of misses' inserts.
 * 11. Widening (issue 5, README "Known recall gap"). Above the exact-scan
 *    threshold the HNSW beam can stop on a plateau of the built-in
 *    embedder's nearly orthogonal vectors and never reach the entry a
 *    reworded prompt should hit. For a cache a missed entry is a paid LLM
 *    call, a search tens of us, so CPU is spent where the answer is in
 *    doubt: when the graph was used and the pick over its candidates is a
 *    miss (any lexscore verdict but HIT, or no candidate at the cosine
 *    threshold for providers) or a hit scoring below threshold +
 *    widen_band, the lookup searches again at ef * widen and picks again
 *    over the new candidates. Confident hits never pay; misses pay one
 *    wider search. The rule judges the cache's decision, not a raw
 *    distance: `sparse-recall --widen D` re-searched on distance alone.
 *    Synchronous lookups widen inside semantic(); pool lookups return
 *    CACHE_PENDING from cache_lookup_finish once, and the caller runs the
 *    query again (on the pool: the loop never runs the wider search unless
 *    the pool is idle or full, as for the first one). The stale pass reuses
 *    the widened ef. Measured (sparse-recall --decide, decisions equal to
 *    the exact scan's on 999 paraphrases, EF 32; README "Known recall
 *    gap"): 0.967 / 0.924 / 0.852 without widening at 21k / 51k / 101k
 *    entries, 0.998 / 0.990 / 0.978 at WIDEN 8 (the default: the knee at
 *    21k; the beam EF x WIDEN = 256 is what counts, EF 64 x 4 gave the
 *    same), 0.998 / 0.995 / 0.988 at 16; a miss then costs ~3.5x a plain
 *    lookup (68 -> 241 us at 21k). Widening also hits within 0.1 of the
 *    threshold (widen_band) re-searched 10% more queries for <= +0.001,
 *    so the band is 0. Provider namespaces default to WIDEN 0: on dense
 *    vectors the graph already finds the exact first (sparse-recall
 *    --dense: r@1 1.000 at 21,828 vectors, EF 32). Counted in
 *    ns->st.widened (CACHE.INFO widened, INFO cache_searches_widened).
 * 12. Built-in embedding cache (issue 5). A built-in lookup needs the
 *    prompt's vector (HNSW) and its sorted features (lexscore). Both are a
 *    function of the normalised prompt, whose XXH3 is the exact key the
 *    lookup computes anyway, so embed_prompt first asks the owner tenant's
 *    embedding cache (cache_embed_tenant_cache: the same per-tenant LRU
 *    and `embed-cache-bytes` bound as provider vectors; tenants never
 *    share) under (exact key, hash of the namespace fingerprint, which
 *    names the embedder version and DIM). A hit hands out pointers into
 *    the entry (`cur`): no embedder, no allocation, no copy before
 *    query_new's (which it already made). A miss embeds into the static
 *    scratch as before and stores a copy. One budget rather than a sibling
 *    option: a tenant's embeddings are one kind of memory whichever
 *    embedder made them, and one knob bounds them. Lookups and
 *    CACHE.SEARCH fill the cache; a PUT reads it (the miss -> model -> PUT
 *    sequence embeds once) but does not fill it (CACHE_PUT_FILLS_EMBED_CACHE):
 *    a later GET of the same prompt hits the exact tier and never needs
 *    the vector, and a bulk load would otherwise flush the GETs' working
 *    set. Concurrent identical embeddings need no coalescing here: the
 *    built-in embedder runs on the loop thread, so the second of two
 *    identical requests finds the first's entry. Measured with
 *    simcache-bench load -t llm (40,000 requests, 9,200 miss -> PUT): the
 *    embedder ran 24,959 times without the cache, 9,864 with it, and
 *    9,864 again when PUTs also filled it (-DCACHE_PUT_FILLS_EMBED_CACHE=1):
 *    filling on PUT saved nothing. The entry also keeps the query's
 *    lexscore memo (its norm and per-feature idf for the namespace's
 *    current IDF state, lexscore.c note 8): the synchronous path updates
 *    it in place (nothing touches the embedding cache in between), a pool
 *    query carries a copy and qmemo_store writes it back by key, since
 *    the entry may be evicted meanwhile. Counted in INFO
 *    cache_embed_builtin_computed / _cached and the cache_embed_cache_*
 *    lines. */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <xxhash.h>

#include "cache_embed.h"
#include "embed_cache.h"
#include "mem.h"
#include "obs.h"
#include "prompt_norm.h"
#include "vset.h"
#include "workers.h"

/* Whether a PUT that embedded its prompt stores the embedding in the
 * tenant's embedding cache (note 12). A PUT always reads it. A -D
 * override exists for the measurement in note 12. */
#ifndef CACHE_PUT_FILLS_EMBED_CACHE
#define CACHE_PUT_FILLS_EMBED_CACHE 0
#endif

/* In-flight pool inserts allowed per pool thread before PUTs insert
 * inline (note 9); the pool queue holds 64 jobs per thread (main.c). */
#define CACHE_INS_PER_THREAD 32
_Static_assert(WORKERS_INSERT_URGENT < CACHE_INS_PER_THREAD,
               "the pool must favour inserts before the cache starts inserting inline");

struct cache_ins {
    worker_job job;           /* first: the pool hands it back */
    cache_ns *ns;             /* referenced (ns->refs) */
    cache_entry *e;           /* NULL once the entry was deleted */
    struct cache_ins *prev, *next;   /* ns->inserts */
    hnsw *idx;                /* ns->idx at submission (stable: refs > 0) */
    uint32_t dim, slot;
    int hr;                   /* hnsw_insert's result (pool thread) */
    float vec[];
};

static cache_insert_stats ins_st;

static cache_ns *all_ns;
static uint64_t next_generation = 1;
static embed_feats scratch;          /* loop thread only */
static float *qvec;
static uint32_t qvec_dim;

/* The current request's embedding (note 12), loop thread only: points
 * into scratch/qvec after the built-in embedder ran, or into the tenant's
 * embedding cache entry on a hit. Valid until the next embedding; nothing
 * between an embed_prompt and the use of `cur` touches the embedding
 * cache. vec is NULL for features-only (provider) requests; nf is 0 for
 * vector-only ones (the pick is then the cosine). */
static struct {
    const float *vec;
    const uint32_t *ids;
    const uint8_t *tfs;
    uint32_t nf;
    lex_qmemo *qm;            /* the query's lexscore memo in its embedding
                               * cache entry (lexscore.c note 8), or NULL */
} cur;
static cache_builtin_embed_stats emb_st;

/* ---- u64 map ---- */

static size_t map_hash(uint64_t k, size_t cap) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static int map_grow(cache_map *m) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    uint64_t *nk = calloc(ncap, sizeof *nk);
    void **nv = calloc(ncap, sizeof *nv);
    if (!nk || !nv) {
        free(nk);
        free(nv);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->vals[i]) continue;
        size_t j = map_hash(m->keys[i], ncap);
        while (nv[j]) j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    return 0;
}

static void *map_get(const cache_map *m, uint64_t k) {
    if (!m->cap) return NULL;
    for (size_t j = map_hash(k, m->cap); m->vals[j]; j = (j + 1) & (m->cap - 1))
        if (m->keys[j] == k) return m->vals[j];
    return NULL;
}

/* Inserts or replaces. 0 or -1 (ENOMEM). */
static int map_put(cache_map *m, uint64_t k, void *v) {
    if ((m->count + 1) * 4 > m->cap * 3 && map_grow(m) != 0) return -1;
    size_t j = map_hash(k, m->cap);
    while (m->vals[j] && m->keys[j] != k) j = (j + 1) & (m->cap - 1);
    if (!m->vals[j]) m->count++;
    m->keys[j] = k;
    m->vals[j] = v;
    return 0;
}

static void map_del(cache_map *m, uint64_t k) {
    if (!m->cap) return;
    size_t mask = m->cap - 1, j = map_hash(k, m->cap);
    while (m->vals[j] && m->keys[j] != k) j = (j + 1) & mask;
    if (!m->vals[j]) return;
    m->vals[j] = NULL;
    m->count--;
    /* backward shift: move later members of the probe run into the hole */
    for (size_t i = (j + 1) & mask; m->vals[i]; i = (i + 1) & mask) {
        size_t h = map_hash(m->keys[i], m->cap);
        if (((i - h) & mask) >= ((i - j) & mask)) {
            m->keys[j] = m->keys[i];
            m->vals[j] = m->vals[i];
            m->vals[i] = NULL;
            j = i;
        }
    }
}

static void map_free(cache_map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- namespaces ---- */

void cache_ns_config_default(cache_ns_config *cfg) {
    lex_params lp;
    lex_params_default(&lp);
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->embedder, "builtin");
    cfg->dim = EMBED_BUILTIN_DIM_DEFAULT;
    cfg->threshold = lp.threshold;
    cfg->M = 16;
    /* 4-bit traversal codes (index/hnsw.c design 13): half the cache lines
     * per distance of int8 codes. sparse-recall --decide 8 100000: 0.986
     * of the exact scan's paraphrase decisions and 605 hits (601 correct)
     * against 0.984 and 605 (601) with int8 codes; the graph search
     * 15.3-15.7 against 17.3-17.7 us (--reps 9, alternating). README
     * "4-bit codes". */
    cfg->codes = HNSW_CODES_I4;
    /* EF 32, not 64 (or 100 before that): a lookup needs the exact
     * nearest entry among its CACHE_CANDIDATES. bench/cache-recall: 100k
     * synthetic prompts 1.000 at every EF from 16 (f32 and int8);
     * paraphrase pairs with the graph forced 0.997 at EF 32 against 1.000
     * at 64 (f32; int8 0.996 / 1.000). What decides is the hit: the pairs
     * through the server with the graph forced (cache_bench.py --parts
     * quality --create "EXACT-BELOW 0 EF n") gave the same 558 correct, 5
     * false, 436 misses at EF 24, 32, 40, 48 and 64 (554 correct at EF
     * 16). Server CPU per semantic hit at 100k entries, 1,000 distinct
     * queries, 50 connections: 92 us at EF 64, 58 us at EF 32 (one run
     * each, same build). README "Semantic-hit cost". */
    cfg->ef = 32;
    cfg->exact_below = -1;
    cfg->widen = -1;
    cfg->widen_band = CACHE_WIDEN_BAND;
}

/* A new, empty HNSW index with cfg's parameters (create and reset). */
static int index_create(const cache_ns_config *cfg, hnsw **out) {
    hnsw_params p;
    hnsw_params_default(&p, cfg->dim);
    p.M = cfg->M;
    p.ef_search = cfg->ef;
    p.storage = cfg->quant_int8 ? HNSW_STORE_I8 : HNSW_STORE_F32;
    p.codes = cfg->codes;
    int rc = hnsw_create(&p, out);
    if (rc == 0 && cfg->exact_below >= 0)
        hnsw_set_exact_threshold(*out, (uint32_t)cfg->exact_below);
    return rc;
}

int cache_ns_create(tenant *t, const char *name, size_t len, const cache_ns_config *cfg,
                    cache_ns **out) {
    if (len == 0 || len >= CACHE_NS_NAME_MAX) return CACHE_EINDEX;
    cache_ns *ns = calloc(1, sizeof *ns);
    if (!ns) return CACHE_ENOMEM;
    ns->owner = t;
    memcpy(ns->name, name, len);
    ns->cfg = *cfg;
    if (ns->cfg.widen < 0) ns->cfg.widen = cfg->ext_embedder ? 0 : CACHE_WIDEN_DEFAULT;
    ns->next_id = 1;
    int rc = CACHE_EINDEX;
    if (cfg->ext_embedder)
        snprintf(ns->fingerprint, sizeof ns->fingerprint, "%s", cfg->ext_fingerprint);
    else if (embed_builtin_fingerprint(cfg->dim, ns->fingerprint, sizeof ns->fingerprint) != 0)
        goto fail;
    ns->fp_hash = XXH3_64bits(ns->fingerprint, strlen(ns->fingerprint));
    int hr = index_create(cfg, &ns->idx);
    if (hr != HNSW_OK) {
        rc = hr == HNSW_ENOMEM ? CACHE_ENOMEM : CACHE_EINDEX;
        goto fail;
    }
    if (lexidf_create(LEXIDF_BITS_DEFAULT, &ns->idf) != LEX_OK) {
        rc = CACHE_ENOMEM;
        goto fail;
    }
    ns->generation = next_generation++;
    ns->next = all_ns;
    all_ns = ns;
    *out = ns;
    return CACHE_OK;
fail:
    if (ns->idx) hnsw_free(ns->idx);
    free(ns);
    return rc;
}

cache_ns *cache_ns_find(const tenant *t, const char *name, size_t len) {
    for (cache_ns *ns = all_ns; ns; ns = ns->next)
        if (ns->owner == t && strlen(ns->name) == len && memcmp(ns->name, name, len) == 0)
            return ns;
    return NULL;
}

cache_ns *cache_ns_first(void) { return all_ns; }

cache_ns *cache_ns_by_generation(uint64_t gen) {
    for (cache_ns *ns = all_ns; ns; ns = ns->next)
        if (ns->generation == gen) return ns;
    return NULL;
}

size_t cache_ns_count(const cache_ns *ns) { return ns->byid.count; }

size_t cache_ns_memory(const cache_ns *ns) {
    return sizeof *ns + ns->entry_bytes + hnsw_memory_bytes(ns->idx) +
           lexidf_memory_bytes(ns->idf) + (size_t)ns->nslots * sizeof(void *) +
           (ns->exact.cap + ns->byid.cap) * (sizeof(uint64_t) + sizeof(void *));
}

static void entry_free(cache_entry *e) {
    free(e->doc);
    free(e->prompt.p);
    free(e->response.p);
    free(e->model.p);
    free(e->params.p);
    free(e->meta.p);
    free(e);
}

static void unindexed_unlink(cache_ns *ns, cache_entry *e) {
    if (e->unx_prev) e->unx_prev->unx_next = e->unx_next;
    else ns->unindexed = e->unx_next;
    if (e->unx_next) e->unx_next->unx_prev = e->unx_prev;
    e->unx_prev = e->unx_next = NULL;
    ns->n_unindexed--;
}

static void unindexed_push(cache_ns *ns, cache_entry *e) {
    e->unx_prev = NULL;
    e->unx_next = ns->unindexed;
    if (ns->unindexed) ns->unindexed->unx_prev = e;
    ns->unindexed = e;
    ns->n_unindexed++;
}

/* Removes e from the maps, IDF table and slot array (or the unindexed
 * list, or its pool insert: note 9), but not from HNSW. */
static void entry_unlink(cache_ns *ns, cache_entry *e) {
    if (map_get(&ns->exact, e->key) == e) map_del(&ns->exact, e->key);
    map_del(&ns->byid, e->id);
    lexidf_remove(ns->idf, e->doc->ids, e->doc->n);
    if (e->slot != CACHE_NO_SLOT) ns->slots[e->slot] = NULL;
    else if (e->ins) {
        e->ins->e = NULL;   /* the completion deletes the vector again */
        e->ins = NULL;
    } else unindexed_unlink(ns, e);
    ns->entry_bytes -= e->bytes;
}

void cache_entry_delete(cache_ns *ns, cache_entry *e) {
    entry_unlink(ns, e);
    if (e->slot != CACHE_NO_SLOT) hnsw_delete(ns->idx, e->slot);
    entry_free(e);
}

size_t cache_ns_flush(cache_ns *ns) {
    size_t n = 0;
    for (uint32_t i = 0; i < ns->nslots; i++)
        if (ns->slots[i]) {
            cache_entry_delete(ns, ns->slots[i]);
            n++;
        }
    while (ns->unindexed) {
        cache_entry_delete(ns, ns->unindexed);
        n++;
    }
    for (struct cache_ins *in = ns->inserts; in; in = in->next)
        if (in->e) {
            cache_entry_delete(ns, in->e);   /* clears in->e */
            n++;
        }
    return n;
}

/* Frees ns's entries, slot array, maps, index and IDF table (not ns). */
static void ns_free_contents(cache_ns *ns) {
    for (uint32_t i = 0; i < ns->nslots; i++)
        if (ns->slots[i]) entry_free(ns->slots[i]);
    for (cache_entry *e = ns->unindexed, *n; e; e = n) {
        n = e->unx_next;
        entry_free(e);
    }
    free(ns->slots);
    map_free(&ns->exact);
    map_free(&ns->byid);
    hnsw_free(ns->idx);
    lexidf_free(ns->idf);
}

static void ns_free(cache_ns *ns) {
    ns_free_contents(ns);
    free(ns);
}

void cache_ns_drop(cache_ns *ns) {
    for (cache_ns **pp = &all_ns; *pp; pp = &(*pp)->next)
        if (*pp == ns) {
            *pp = ns->next;
            break;
        }
    ns->next = NULL;
    ns->dropped = 1;
    if (ns->refs == 0) ns_free(ns);
}

/* Frees every entry of ns and gives it a new, empty index, IDF table,
 * slot array and maps (public ids keep increasing). Only when no query
 * holds ns (a worker may be reading the index). CACHE_OK or CACHE_ENOMEM
 * (nothing changed). Returns the number of entries freed in *n. */
static int ns_reset(cache_ns *ns, size_t *n) {
    hnsw *idx;
    lex_idf *idf;
    if (index_create(&ns->cfg, &idx) != HNSW_OK) return CACHE_ENOMEM;
    if (lexidf_create(LEXIDF_BITS_DEFAULT, &idf) != LEX_OK) {
        hnsw_free(idx);
        return CACHE_ENOMEM;
    }
    *n = ns->byid.count;
    ns_free_contents(ns);
    ns->idx = idx;
    ns->idf = idf;
    ns->slots = NULL;
    ns->nslots = 0;
    ns->unindexed = NULL;
    ns->n_unindexed = 0;
    ns->entry_bytes = 0;
    ns->cron_cursor = 0;
    return CACHE_OK;
}

size_t cache_flushall(void) {
    size_t total = 0;
    for (cache_ns *ns = all_ns; ns; ns = ns->next) {
        size_t n = 0;
        if (ns->refs > 0 || ns_reset(ns, &n) != CACHE_OK) n = cache_ns_flush(ns);
        total += n;
    }
    return total;
}

void cache_shutdown(void) {
    while (all_ns) cache_ns_drop(all_ns);
    embed_feats_free(&scratch);
    free(qvec);
    qvec = NULL;
    qvec_dim = 0;
}

/* ---- embedding ---- */

int cache_key(const char *prompt, size_t len, uint64_t *key) {
    int rc = prompt_norm_key(prompt, len, key);
    return rc == 0 ? CACHE_OK : rc == -1 ? CACHE_EEMPTY : CACHE_ENOMEM;
}

void cache_builtin_embed_stats_get(cache_builtin_embed_stats *out) { *out = emb_st; }

/* Features into `scratch`, vector into qvec[dim]; `cur` points at them. */
static int embed_prompt_untimed(const char *prompt, size_t len, uint32_t dim) {
    if (qvec_dim < dim) {
        float *v = realloc(qvec, dim * sizeof *v);
        if (!v) return CACHE_ENOMEM;
        qvec = v;
        qvec_dim = dim;
    }
    emb_st.computed++;
    int rc = embed_builtin_features(prompt, len, &scratch);
    if (rc == EMBED_OK) rc = embed_builtin_vector(&scratch, dim, qvec);
    cur.vec = qvec;
    cur.ids = scratch.ids;
    cur.tfs = scratch.tfs;
    cur.nf = rc == EMBED_OK ? scratch.n : 0;
    cur.qm = NULL;
    if (rc == EMBED_OK) return CACHE_OK;
    return rc == EMBED_ENOMEM ? CACHE_ENOMEM : CACHE_EEMPTY;
}

/* The built-in embedding of a prompt whose exact key is `key` into `cur`
 * (note 12): from the owner tenant's embedding cache, else embedded and,
 * if `fill`, stored there. Reported to the request's trace (obs.h) as the
 * embed span either way. CACHE_OK, CACHE_EEMPTY, CACHE_ENOMEM. */
static int embed_prompt(cache_ns *ns, const char *prompt, size_t len, uint64_t key, int fill) {
    uint64_t t0 = obs_clock();
    ecache *ec = cache_embed_tenant_cache(ns->owner);
    ecache_val v;
    if (ec && ecache_get_val(ec, key, ns->fp_hash, ns->cfg.dim, &v) && v.nf > 0) {
        cur.vec = v.v;
        cur.ids = v.ids;
        cur.tfs = v.tfs;
        cur.nf = v.nf;
        cur.qm = v.aux;
        emb_st.cached++;
        obs_mark_embed(t0);
        return CACHE_OK;
    }
    int rc = embed_prompt_untimed(prompt, len, ns->cfg.dim);
    /* a failed store (ENOMEM, or a bound smaller than one entry) only
     * means the next request embeds again */
    if (rc == CACHE_OK && ec && fill)
        ecache_put_feats(ec, key, ns->fp_hash, qvec, ns->cfg.dim, scratch.ids, scratch.tfs,
                         scratch.n);
    obs_mark_embed(t0);
    return rc;
}

/* Stores a query's norm memo computed by a pool lookup's pick back into
 * the prompt's embedding cache entry, if the entry is still there (the
 * query kept a copy, never a pointer: the entry may be gone). */
static void qmemo_store(cache_ns *ns, uint64_t key, const lex_qmemo *qm) {
    ecache *ec = cache_embed_tenant_cache(ns->owner);
    ecache_val v;
    if (ec && ecache_peek_val(ec, key, ns->fp_hash, ns->cfg.dim, &v) && v.aux && v.nf == qm->n)
        memcpy(v.aux, qm, ECACHE_AUX_BYTES(qm->n));
}

/* ---- put ---- */

static int str_dup(cache_str *s, const char *p, size_t n) {
    if (!p) return 0;
    s->p = malloc(n + 1);
    if (!s->p) return -1;
    memcpy(s->p, p, n);
    s->p[n] = 0;
    s->n = n;
    return 0;
}

static int slots_reserve(cache_ns *ns, uint32_t slot) {
    if (slot < ns->nslots) return 0;
    uint32_t ncap = ns->nslots ? ns->nslots : 64;
    while (ncap <= slot) ncap *= 2;
    cache_entry **s = realloc(ns->slots, ncap * sizeof *s);
    if (!s) return -1;
    memset(s + ns->nslots, 0, (ncap - ns->nslots) * sizeof *s);
    ns->slots = s;
    ns->nslots = ncap;
    return 0;
}

/* The features of the prompt into `scratch` (lexscore document of a
 * provider-embedded entry); `cur` points at them, with no vector. */
static int features_prompt(const char *prompt, size_t len) {
    int rc = embed_builtin_features(prompt, len, &scratch);
    cur.vec = NULL;
    cur.ids = scratch.ids;
    cur.tfs = scratch.tfs;
    cur.nf = rc == EMBED_OK ? scratch.n : 0;
    cur.qm = NULL;
    if (rc == EMBED_OK) return CACHE_OK;
    return rc == EMBED_ENOMEM ? CACHE_ENOMEM : CACHE_EEMPTY;
}

static int put_entry(cache_ns *ns, const cache_put_args *a, uint64_t key, const float *vec,
                     int64_t now_ms, cache_entry **out);

void cache_insert_stats_get(cache_insert_stats *out) { *out = ins_st; }

/* Pool thread: the HNSW insert alone (the index locks itself). */
static void ins_work(worker_job *j) {
    struct cache_ins *in = (struct cache_ins *)j;
    in->hr = hnsw_insert(in->idx, in->vec, in->dim, &in->slot);
}

/* Loop thread: links the new HNSW id to its entry, or deletes the vector
 * if the entry is gone (note 9). */
static void ins_done(worker_job *j) {
    struct cache_ins *in = (struct cache_ins *)j;
    cache_ns *ns = in->ns;
    cache_entry *e = in->e;
    if (in->prev) in->prev->next = in->next;
    else ns->inserts = in->next;
    if (in->next) in->next->prev = in->prev;
    ns->n_inserts--;
    ins_st.inflight--;
    ins_st.pool++;
    if (e) e->ins = NULL;
    if (ns->dropped) {
        /* the vector goes with the index; ns_free frees the entries it
         * finds on the slot array and the unindexed list */
        if (e) unindexed_push(ns, e);
    } else if (in->hr != HNSW_OK) {
        if (e) unindexed_push(ns, e);   /* exact tier only (pre-checked: rare) */
    } else if (!e) {
        hnsw_delete(ns->idx, in->slot);
        ins_st.orphaned++;
    } else if (slots_reserve(ns, in->slot) != 0) {
        hnsw_delete(ns->idx, in->slot);
        unindexed_push(ns, e);
    } else {
        e->slot = in->slot;
        ns->slots[in->slot] = e;
    }
    if (--ns->refs == 0 && ns->dropped) ns_free(ns);
    free(in);
}

/* 1 if vec[dim] is finite and not zero (what hnsw_insert accepts). */
static int vec_insertable(const float *vec, uint32_t dim) {
    float ss = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(vec[i])) return 0;
        ss += vec[i] * vec[i];
    }
    return ss > 0 && isfinite(ss);
}

/* Queues the insert of vec on the pool (note 9) and returns the job, or
 * NULL if the caller must insert inline (no pool, small namespace, vector
 * the index would refuse, pool busy). The job's entry is set by the caller
 * before it returns to the loop (done() runs on the loop, later). */
static struct cache_ins *ins_submit(cache_ns *ns, const float *vec) {
    workers *pool = vset_pool();
    if (!pool || ns->byid.count < CACHE_ASYNC_MIN || !vec_insertable(vec, ns->cfg.dim) ||
        ins_st.inflight >= (uint64_t)workers_threads(pool) * CACHE_INS_PER_THREAD)
        return NULL;
    struct cache_ins *in = malloc(sizeof *in + ns->cfg.dim * sizeof(float));
    if (!in) return NULL;
    memset(in, 0, sizeof *in);
    in->job.work = ins_work;
    in->job.done = ins_done;
    in->ns = ns;
    in->idx = ns->idx;
    in->dim = ns->cfg.dim;
    memcpy(in->vec, vec, ns->cfg.dim * sizeof(float));
    if (workers_submit_insert(pool, &in->job) != 0) {   /* behind searches */
        free(in);
        return NULL;
    }
    ns->refs++;
    in->next = ns->inserts;
    if (ns->inserts) ns->inserts->prev = in;
    ns->inserts = in;
    ns->n_inserts++;
    ins_st.inflight++;
    return in;
}

int cache_put(cache_ns *ns, const cache_put_args *a, int64_t now_ms, cache_entry **out) {
    uint64_t key;
    int rc = cache_key(a->prompt, a->prompt_len, &key);
    if (rc != CACHE_OK) return rc;
    rc = embed_prompt(ns, a->prompt, a->prompt_len, key, CACHE_PUT_FILLS_EMBED_CACHE);
    if (rc != CACHE_OK) return rc;
    return put_entry(ns, a, key, cur.vec, now_ms, out);
}

int cache_put_vec(cache_ns *ns, const cache_put_args *a, const float *vec, int64_t now_ms,
                  cache_entry **out) {
    uint64_t key;
    int rc = cache_key(a->prompt, a->prompt_len, &key);
    if (rc != CACHE_OK) return rc;
    rc = features_prompt(a->prompt, a->prompt_len);
    if (rc != CACHE_OK) return rc;
    return put_entry(ns, a, key, vec, now_ms, out);
}

int cache_entry_index(cache_ns *ns, cache_entry *e, const float *vec) {
    if (e->slot != CACHE_NO_SLOT || e->ins) return CACHE_OK;
    struct cache_ins *in = ins_submit(ns, vec);
    if (in) {
        unindexed_unlink(ns, e);
        in->e = e;
        e->ins = in;
        return CACHE_OK;
    }
    ins_st.inline_++;
    uint32_t slot;
    int hr = hnsw_insert(ns->idx, vec, ns->cfg.dim, &slot);
    if (hr != HNSW_OK) return hr == HNSW_ENOMEM ? CACHE_ENOMEM : CACHE_EINDEX;
    if (slots_reserve(ns, slot) != 0) {
        hnsw_delete(ns->idx, slot);
        return CACHE_ENOMEM;
    }
    unindexed_unlink(ns, e);
    e->slot = slot;
    ns->slots[slot] = e;
    return CACHE_OK;
}

/* Stores the entry of `cur`'s features with vector vec (NULL: no
 * vector, the unindexed list). */
static int put_entry(cache_ns *ns, const cache_put_args *a, uint64_t key, const float *vec,
                     int64_t now_ms, cache_entry **out) {
    cache_entry *e = calloc(1, sizeof *e);
    if (!e) return CACHE_ENOMEM;
    e->doc = lex_doc_create(cur.ids, cur.tfs, cur.nf);
    if (!e->doc || str_dup(&e->prompt, a->prompt, a->prompt_len) ||
        str_dup(&e->response, a->response, a->response_len) ||
        str_dup(&e->model, a->model, a->model_len) ||
        str_dup(&e->params, a->params, a->params_len) ||
        str_dup(&e->meta, a->meta, a->meta_len)) {
        entry_free(e);
        return CACHE_ENOMEM;
    }
    /* make room in the maps first so nothing below can fail half-way */
    if ((ns->exact.count + 1) * 4 > ns->exact.cap * 3 && map_grow(&ns->exact) != 0) goto oom;
    if ((ns->byid.count + 1) * 4 > ns->byid.cap * 3 && map_grow(&ns->byid) != 0) goto oom;
    if (lexidf_add(ns->idf, e->doc->ids, e->doc->n) != LEX_OK) goto oom;
    int hr = HNSW_OK;
    e->slot = CACHE_NO_SLOT;
    /* nothing below fails once the insert is queued (note 9) */
    struct cache_ins *in = vec ? ins_submit(ns, vec) : NULL;
    if (vec && !in) {
        hr = hnsw_insert(ns->idx, vec, ns->cfg.dim, &e->slot);
        ins_st.inline_++;
    }
    if (hr != HNSW_OK || (vec && !in && slots_reserve(ns, e->slot) != 0)) {
        if (hr == HNSW_OK) hnsw_delete(ns->idx, e->slot);
        lexidf_remove(ns->idf, e->doc->ids, e->doc->n);
        entry_free(e);
        return hr == HNSW_OK || hr == HNSW_ENOMEM ? CACHE_ENOMEM : CACHE_EINDEX;
    }
    cache_entry *old = map_get(&ns->exact, key);
    if (old) cache_entry_delete(ns, old);
    e->id = ns->next_id++;
    e->key = key;
    e->created_ms = e->last_hit_ms = now_ms;
    int64_t ttl = a->ttl_ms < 0 ? ns->cfg.ttl_ms : a->ttl_ms;
    e->expire_ms = ttl > 0 ? now_ms + ttl : 0;
    e->cost_nusd = a->cost_nusd;
    e->tokens_in = a->tokens_in;
    e->tokens_out = a->tokens_out;
    e->bytes = sizeof *e + lex_doc_bytes(e->doc) + e->prompt.n + e->response.n + e->model.n +
               e->params.n + e->meta.n + 5;
    map_put(&ns->exact, key, e);   /* cannot fail: room reserved above */
    map_put(&ns->byid, e->id, e);
    if (in) {
        in->e = e;
        e->ins = in;
    } else if (vec) {
        ns->slots[e->slot] = e;
    } else {
        unindexed_push(ns, e);
    }
    ns->entry_bytes += e->bytes;
    ns->st.puts++;
    *out = e;
    return CACHE_OK;
oom:
    entry_free(e);
    return CACHE_ENOMEM;
}

/* ---- lookup ---- */

static int past_grace(const cache_ns *ns, const cache_entry *e, int64_t now) {
    return e->expire_ms && now >= e->expire_ms + ns->cfg.grace_ms;
}
static int expired(const cache_entry *e, int64_t now) {
    return e->expire_ms && now >= e->expire_ms;
}

static void note_hit(cache_ns *ns, cache_hit *h, int64_t now) {
    h->e->hits++;
    h->e->last_hit_ms = now;
    if (h->tier == CACHE_EXACT) ns->st.hits_exact++;
    else if (h->tier == CACHE_SEMANTIC) ns->st.hits_semantic++;
    else ns->st.hits_stale++;
}

/* The entry of HNSW id `slot` if it existed before public id `id_limit`
 * was handed out (note 8), else NULL. */
static cache_entry *slot_entry(const cache_ns *ns, uint32_t slot, uint64_t id_limit) {
    cache_entry *e = slot < ns->nslots ? ns->slots[slot] : NULL;
    return e && e->id < id_limit ? e : NULL;
}

/* An entry whose insert is in flight, by public id, and its cosine
 * distance to a query (note 9: read-your-writes for the semantic tier). */
typedef struct cache_pend {
    uint64_t id;
    float dist;
} cache_pend;

/* The distances of q[dim] to the vectors of ns's in-flight inserts into
 * out[0..ns->n_inserts); returns how many. Loop thread (the job vectors
 * are only read: the worker reads them too). */
static uint32_t pending_near(const cache_ns *ns, const float *q, uint32_t dim, cache_pend *out) {
    float qq = 0;
    for (uint32_t i = 0; i < dim; i++) qq += q[i] * q[i];
    if (!(qq > 0)) return 0;
    uint32_t n = 0;
    for (const struct cache_ins *in = ns->inserts; in && n < ns->n_inserts; in = in->next) {
        if (!in->e) continue;
        float dot = 0, vv = 0;
        for (uint32_t i = 0; i < dim; i++) {
            dot += q[i] * in->vec[i];
            vv += in->vec[i] * in->vec[i];
        }
        out[n].id = in->e->id;
        out[n].dist = 1.0f - dot / (sqrtf(qq) * sqrtf(vv));   /* vv > 0: vec_insertable */
        n++;
    }
    return n;
}

/* The candidates of a semantic lookup, looked up afresh: the HNSW results
 * res[0..n) that map to live entries existing before id_limit, merged by
 * distance with the in-flight entries px[0..np) that still exist and are
 * not among them (their insert may have completed since); at most max,
 * nearest first. Returns how many went to ents/dist. */
static int cands_build(const cache_ns *ns, const hnsw_result *res, int n, const cache_pend *px,
                       uint32_t np, uint64_t id_limit, cache_entry **ents, float *dist,
                       int max) {
    int m = 0;
    /* The candidates' entries are random cold reads after a search of a
     * large namespace: ask for all of them before the first is used. */
    for (int i = 0; i < n && i < max; i++)
        if (res[i].id < ns->nslots) __builtin_prefetch(ns->slots[res[i].id]);
    for (int i = 0; i < n && m < max; i++) {
        cache_entry *e = slot_entry(ns, res[i].id, id_limit);
        if (!e) continue;
        ents[m] = e;
        dist[m] = res[i].dist;
        m++;
    }
    for (uint32_t j = 0; j < np && max > 0; j++) {
        cache_entry *e = map_get(&ns->byid, px[j].id);
        if (!e || e->id >= id_limit) continue;
        int dup = 0;
        for (int i = 0; i < m; i++) dup |= ents[i] == e;
        if (dup || (m == max && px[j].dist >= dist[m - 1])) continue;
        int i = m < max ? m++ : max - 1;
        for (; i > 0 && dist[i - 1] > px[j].dist; i--) {
            ents[i] = ents[i - 1];
            dist[i] = dist[i - 1];
        }
        ents[i] = e;
        dist[i] = px[j].dist;
    }
    return m;
}

/* The pick over HNSW results res[0..n) and in-flight entries px[0..np)
 * (cands_build) for the query features (ids, tfs, nf), with expired
 * entries filtered out (in-grace ones kept if allow_stale). Entries past
 * grace met on the way are deleted afterwards. Returns 1 if the answer is
 * uncertain (note 11: a miss, or a hit below threshold + widen_band), else
 * 0. */
static int semantic_pick(cache_ns *ns, const hnsw_result *res, int n, const cache_pend *px,
                          uint32_t np, const uint32_t *ids, const uint8_t *tfs, uint32_t nf,
                          lex_qmemo *qm, uint64_t id_limit, float threshold, int allow_stale,
                          int64_t now, cache_hit *out) {
    const lex_doc *docs[CACHE_CANDIDATES];
    cache_entry *ents[CACHE_CANDIDATES], *dead[CACHE_CANDIDATES];
    float dist[CACHE_CANDIDATES];
    int ndead = 0, unsure = 1;
    float sure = threshold + ns->cfg.widen_band;
    n = cands_build(ns, res, n, px, np, id_limit, ents, dist, CACHE_CANDIDATES);
    for (int i = 0; i < n; i++) {
        cache_entry *e = ents[i];
        docs[i] = NULL;
        if (past_grace(ns, e, now)) {
            int seen = 0;   /* defensive: one entry appears once in HNSW results */
            for (int d = 0; d < ndead; d++) seen |= dead[d] == e;
            if (!seen) dead[ndead++] = e;
            ents[i] = NULL;
        } else if (!expired(e, now) || allow_stale) {
            docs[i] = e->doc;
            lex_doc_prefetch(e->doc);
        }
    }
    if (ns->cfg.ext_embedder) {
        /* provider vectors: results come nearest first; the first usable
         * candidate at or above the cosine threshold is the answer */
        for (int i = 0; i < n; i++)
            if (docs[i] && 1.0f - dist[i] >= threshold) {
                out->e = ents[i];
                out->score = 1.0f - dist[i];
                out->tier = expired(out->e, now) ? CACHE_STALE : CACHE_SEMANTIC;
                unsure = out->score < sure;
                break;
            }
        goto reap;
    }
    lex_params lp;
    lex_params_default(&lp);
    lp.threshold = threshold;
    lex_pick pick;
    if (n > 0 &&
        lexscore_pick_memo(ns->idf, &lp, ids, tfs, nf, qm, docs, (uint32_t)n, &pick) == LEX_OK &&
        pick.verdict == LEX_HIT) {
        out->e = ents[pick.index];
        out->score = pick.best;
        out->tier = expired(out->e, now) ? CACHE_STALE : CACHE_SEMANTIC;
        unsure = pick.best < sure;
    }
reap:
    for (int i = 0; i < ndead; i++) {
        cache_entry_delete(ns, dead[i]);
        ns->st.expired++;
    }
    return unsure;
}

/* The ef of a widened search of ns (note 11), or 0 if an uncertain answer
 * from a search at `ef` (0 = the index's) must stand: widening is off, was
 * done, or the index answered by its exact scan (nothing to widen). */
static uint32_t widen_ef(const cache_ns *ns, uint32_t ef) {
    if (ef != 0 || ns->cfg.widen <= 1) return 0;
    if (hnsw_count(ns->idx) <= hnsw_get_exact_threshold(ns->idx)) return 0;
    uint64_t w = (uint64_t)ns->cfg.ef * (uint64_t)ns->cfg.widen;
    return w > 100000 ? 100000 : (uint32_t)w;
}

/* Semantic search of vec (cur.vec for the builtin) and cur's features,
 * synchronously, at *ef (0 = the index's ef). A live pass (!allow_stale)
 * whose answer is uncertain searches again at widen_ef (note 11) and
 * leaves that ef in *ef for the stale pass. */
static int semantic(cache_ns *ns, const float *vec, float threshold, int allow_stale,
                    int64_t now, cache_hit *out, uint32_t *ef) {
    hnsw_result res[CACHE_CANDIDATES];
    uint64_t t0 = obs_clock();
    int n = hnsw_search(ns->idx, vec, ns->cfg.dim, CACHE_CANDIDATES, *ef, res);
    obs_mark_search(t0);
    if (n < 0) return n == HNSW_ENOMEM ? CACHE_ENOMEM : CACHE_OK;
    cache_pend *px = ns->n_inserts ? malloc(ns->n_inserts * sizeof *px) : NULL;
    uint32_t np = px ? pending_near(ns, vec, ns->cfg.dim, px) : 0;
    int unsure = semantic_pick(ns, res, n, px, np, cur.ids, cur.tfs, cur.nf, cur.qm,
                               UINT64_MAX, threshold, allow_stale, now, out);
    uint32_t wef = unsure && !allow_stale ? widen_ef(ns, *ef) : 0;
    if (wef) {
        ns->st.widened++;
        *ef = wef;
        t0 = obs_clock();
        n = hnsw_search(ns->idx, vec, ns->cfg.dim, CACHE_CANDIDATES, wef, res);
        obs_mark_search(t0);
        if (n >= 0) {   /* else the first answer stands */
            memset(out, 0, sizeof *out);
            semantic_pick(ns, res, n, px, np, cur.ids, cur.tfs, cur.nf, cur.qm, UINT64_MAX,
                          threshold, allow_stale, now, out);
        }
    }
    free(px);
    cur.qm = NULL;   /* valid since embed_prompt: nothing touched the embedding cache */
    return CACHE_OK;
}

struct cache_query {
    cache_ns *ns;             /* referenced (ns->refs) */
    uint64_t key;             /* exact key (lookups) */
    uint64_t id_limit;        /* ns->next_id at the start */
    int64_t now;
    float threshold;
    int allow_stale, is_search;
    uint32_t dim, want, k;
    uint32_t ef;              /* the search's ef; 0 = the index's (note 11) */
    int n;                    /* hnsw_search's result */
    float *vec;               /* dim floats */
    uint32_t *ids;            /* query features */
    uint8_t *tfs;
    uint32_t nf;
    hnsw_result *res;         /* want entries */
    cache_pend *px;           /* in-flight inserts near the query at the start */
    uint32_t np;
    lex_qmemo *qm;            /* copy of the query's lexscore memo (note 12),
                               * NULL if the features were not cached */
};

/* A query of vec (dim floats) and cur's features for `want`
 * neighbours. NULL on ENOMEM. Takes a reference on ns. */
static cache_query *query_new(cache_ns *ns, const float *vec, uint32_t want, int64_t now) {
    cache_query *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->dim = ns->cfg.dim;
    q->want = want;
    q->vec = malloc(q->dim * sizeof *q->vec);
    q->ids = malloc((cur.nf ? cur.nf : 1) * sizeof *q->ids);
    q->tfs = malloc(cur.nf ? cur.nf : 1);
    q->res = malloc(want * sizeof *q->res);
    q->px = ns->n_inserts ? malloc(ns->n_inserts * sizeof *q->px) : NULL;
    if (!q->vec || !q->ids || !q->tfs || !q->res || (ns->n_inserts && !q->px)) {
        free(q->px);
        free(q->vec);
        free(q->ids);
        free(q->tfs);
        free(q->res);
        free(q);
        return NULL;
    }
    memcpy(q->vec, vec, q->dim * sizeof *q->vec);
    if (cur.nf) {
        memcpy(q->ids, cur.ids, cur.nf * sizeof *q->ids);
        memcpy(q->tfs, cur.tfs, cur.nf);
    }
    q->nf = cur.nf;
    if (cur.qm && (q->qm = malloc(ECACHE_AUX_BYTES(cur.nf)))) {
        if (cur.qm->n == cur.nf) memcpy(q->qm, cur.qm, ECACHE_AUX_BYTES(cur.nf));
        else memset(q->qm, 0, sizeof *q->qm);   /* empty: its first pick fills it */
    }
    q->np = q->px ? pending_near(ns, vec, q->dim, q->px) : 0;
    q->ns = ns;
    q->id_limit = ns->next_id;
    q->now = now;
    ns->refs++;
    return q;
}

void cache_query_free(cache_query *q) {
    if (!q) return;
    cache_ns *ns = q->ns;
    if (--ns->refs == 0 && ns->dropped) ns_free(ns);
    free(q->vec);
    free(q->ids);
    free(q->tfs);
    free(q->res);
    free(q->px);
    free(q->qm);
    free(q);
}

void cache_query_run(cache_query *q) {
    q->n = hnsw_search(q->ns->idx, q->vec, q->dim, q->want, q->ef, q->res);
}

cache_ns *cache_query_ns(const cache_query *q) { return q->ns->dropped ? NULL : q->ns; }
uint64_t cache_query_key(const cache_query *q) { return q->key; }

/* The exact tier (and past-grace cleanup of the exact entry). 1 if it
 * answered *out, 0 to continue with the semantic tier. */
static int exact_tier(cache_ns *ns, uint64_t key, int64_t now, cache_hit *out) {
    cache_entry *e = map_get(&ns->exact, key);
    if (e && past_grace(ns, e, now)) {
        cache_entry_delete(ns, e);
        ns->st.expired++;
        e = NULL;
    }
    if (e && !expired(e, now)) {
        out->tier = CACHE_EXACT;
        out->e = e;
        out->score = 1.0f;
        note_hit(ns, out, now);
        return 1;
    }
    return 0;
}

/* If nothing live matched and stale answers are allowed: 1 and *out if the
 * exact entry is in its grace window, else 0 (the caller searches again,
 * accepting stale candidates). */
static int exact_stale(cache_ns *ns, uint64_t key, int64_t now, cache_hit *out) {
    cache_entry *e = map_get(&ns->exact, key);   /* semantic may have deleted it */
    if (!e || !expired(e, now)) return 0;
    out->tier = CACHE_STALE;
    out->e = e;
    out->score = 1.0f;
    return 1;
}

static int semantic_start(cache_ns *ns, uint64_t key, const float *vec, float threshold,
                          int allow_stale, int64_t now, cache_hit *out, cache_query **q);

static void count_outcome(cache_ns *ns, cache_hit *out, int64_t now) {
    if (out->tier == CACHE_MISS) ns->st.misses++;
    else note_hit(ns, out, now);
}

int cache_lookup_start(cache_ns *ns, const char *prompt, size_t len, float threshold,
                       int allow_stale, int64_t now, cache_hit *out, cache_query **q) {
    if (q) *q = NULL;
    memset(out, 0, sizeof *out);
    uint64_t key;
    int rc = cache_key(prompt, len, &key);
    if (rc != CACHE_OK) return rc;
    if (exact_tier(ns, key, now, out)) return CACHE_OK;
    rc = embed_prompt(ns, prompt, len, key, 1);
    if (rc != CACHE_OK) return rc;
    return semantic_start(ns, key, cur.vec, threshold, allow_stale, now, out, q);
}

/* The semantic tier of a lookup over vec (exact tier done): on the pool
 * (CACHE_PENDING, *q) or synchronously. */
static int semantic_start(cache_ns *ns, uint64_t key, const float *vec, float threshold,
                          int allow_stale, int64_t now, cache_hit *out, cache_query **q) {
    int rc;
    if (q && ns->byid.count >= CACHE_ASYNC_MIN) {
        cache_query *nq = query_new(ns, vec, CACHE_CANDIDATES, now);
        if (nq) {
            nq->key = key;
            nq->threshold = threshold;
            nq->allow_stale = allow_stale;
            *q = nq;
            return CACHE_PENDING;
        }
        /* no memory for the hand-off: answer synchronously */
    }
    if (hnsw_count(ns->idx) > 0) {
        uint32_t ef = 0;
        rc = semantic(ns, vec, threshold, 0, now, out, &ef);
        if (rc == CACHE_OK && out->tier == CACHE_MISS && allow_stale &&
            !exact_stale(ns, key, now, out))
            rc = semantic(ns, vec, threshold, 1, now, out, &ef);
        if (rc != CACHE_OK) return rc;
    } else if (allow_stale) {
        exact_stale(ns, key, now, out);   /* only unindexed entries, or none */
    }
    count_outcome(ns, out, now);
    return CACHE_OK;
}

int cache_lookup_exact(cache_ns *ns, const char *prompt, size_t len, int64_t now,
                       cache_hit *out, uint64_t *key) {
    memset(out, 0, sizeof *out);
    int rc = cache_key(prompt, len, key);
    if (rc != CACHE_OK) return rc;
    exact_tier(ns, *key, now, out);
    return CACHE_OK;
}

int cache_lookup_vec_start(cache_ns *ns, uint64_t key, const float *vec, float threshold,
                           int allow_stale, int64_t now, cache_hit *out, cache_query **q) {
    if (q) *q = NULL;
    memset(out, 0, sizeof *out);
    if (exact_tier(ns, key, now, out)) return CACHE_OK;
    cur.nf = 0;   /* no lexscore features: the pick is the cosine */
    cur.qm = NULL;
    return semantic_start(ns, key, vec, threshold, allow_stale, now, out, q);
}

int cache_lookup_degraded(cache_ns *ns, uint64_t key, int allow_stale, int64_t now,
                          cache_hit *out) {
    memset(out, 0, sizeof *out);
    if (exact_tier(ns, key, now, out)) return CACHE_OK;
    if (allow_stale && exact_stale(ns, key, now, out)) {
        note_hit(ns, out, now);
        return CACHE_OK;
    }
    ns->st.misses++;
    return CACHE_OK;
}

int cache_lookup(cache_ns *ns, const char *prompt, size_t len, float threshold,
                 int allow_stale, int64_t now, cache_hit *out) {
    return cache_lookup_start(ns, prompt, len, threshold, allow_stale, now, out, NULL);
}

int cache_lookup_finish(cache_query *q, cache_hit *out) {
    memset(out, 0, sizeof *out);
    cache_ns *ns = q->ns;
    if (ns->dropped) return CACHE_OK;
    if (q->n < 0) {
        if (q->n == HNSW_ENOMEM) return CACHE_ENOMEM;
        q->n = 0;
    }
    uint64_t qm_version = q->qm ? q->qm->version : 0;
    int unsure = semantic_pick(ns, q->res, q->n, q->px, q->np, q->ids, q->tfs, q->nf, q->qm,
                               q->id_limit, q->threshold, 0, q->now, out);
    if (q->qm && q->qm->version != qm_version) qmemo_store(ns, q->key, q->qm);
    uint32_t wef = unsure ? widen_ef(ns, q->ef) : 0;
    if (wef) {   /* note 11: the caller runs q again at the wider ef */
        q->ef = wef;
        ns->st.widened++;
        memset(out, 0, sizeof *out);
        return CACHE_PENDING;
    }
    if (out->tier == CACHE_MISS && q->allow_stale && !exact_stale(ns, q->key, q->now, out))
        semantic_pick(ns, q->res, q->n, q->px, q->np, q->ids, q->tfs, q->nf, q->qm,
                      q->id_limit, q->threshold, 1, q->now, out);
    count_outcome(ns, out, q->now);
    return CACHE_OK;
}

/* CACHE.SEARCH's filter over results res[0..n) and in-flight entries
 * px[0..np) (cands_build): live entries (existing before id_limit),
 * scored. Returns how many went to out, or CACHE_ENOMEM. */
static int search_collect(cache_ns *ns, const hnsw_result *res, int n, const cache_pend *px,
                          uint32_t np, const uint32_t *ids, const uint8_t *tfs, uint32_t nf,
                          uint64_t id_limit, uint32_t k, int64_t now, cache_entry **out,
                          float *score, float *cosine) {
    lex_params lp;
    lex_params_default(&lp);
    int nc = (n > 0 ? n : 0) + (int)np;
    cache_entry **ents = malloc((nc ? nc : 1) * sizeof *ents);
    float *dist = malloc((nc ? nc : 1) * sizeof *dist);
    if (!ents || !dist) {
        free(ents);
        free(dist);
        return CACHE_ENOMEM;
    }
    nc = cands_build(ns, res, n, px, np, id_limit, ents, dist, nc);
    int m = 0;
    for (int i = 0; i < nc && (uint32_t)m < k; i++) {
        cache_entry *e = ents[i];
        if (expired(e, now)) continue;
        out[m] = e;
        cosine[m] = 1.0f - dist[i];
        score[m] = ns->cfg.ext_embedder ? cosine[m]
                                        : lexscore_similarity(ns->idf, &lp, ids, tfs, nf, e->doc);
        m++;
    }
    free(ents);
    free(dist);
    return m;
}

int cache_search(cache_ns *ns, const char *prompt, size_t len, uint32_t k, int64_t now,
                 cache_entry **out, float *score, float *cosine) {
    uint64_t key;
    int rc = cache_key(prompt, len, &key);
    if (rc == CACHE_OK) rc = embed_prompt(ns, prompt, len, key, 1);
    if (rc != CACHE_OK) return rc;
    if (hnsw_count(ns->idx) == 0 || k == 0) return 0;
    /* ask for extra candidates: expired ones are skipped */
    uint32_t want = k + 16;
    hnsw_result *res = malloc(want * sizeof *res);
    if (!res) return CACHE_ENOMEM;
    uint64_t t0 = obs_clock();
    int n = hnsw_search(ns->idx, cur.vec, ns->cfg.dim, want, 0, res);
    obs_mark_search(t0);
    cache_pend *px = ns->n_inserts ? malloc(ns->n_inserts * sizeof *px) : NULL;
    uint32_t np = px ? pending_near(ns, cur.vec, ns->cfg.dim, px) : 0;
    int m = n < 0 ? 0
                  : search_collect(ns, res, n, px, np, cur.ids, cur.tfs, cur.nf,
                                   UINT64_MAX, k, now, out, score, cosine);
    free(px);
    free(res);
    if (m < 0) return m;
    return n < 0 ? (n == HNSW_ENOMEM ? CACHE_ENOMEM : CACHE_EINDEX) : m;
}

int cache_search_start(cache_ns *ns, const char *prompt, size_t len, uint32_t k, int64_t now,
                       cache_query **q) {
    *q = NULL;
    uint64_t key;
    int rc = cache_key(prompt, len, &key);
    if (rc == CACHE_OK) rc = embed_prompt(ns, prompt, len, key, 1);
    if (rc != CACHE_OK) return rc;
    cache_query *nq = query_new(ns, cur.vec, k + 16, now);
    if (!nq) return CACHE_ENOMEM;
    nq->is_search = 1;
    nq->k = k;
    *q = nq;
    return CACHE_PENDING;
}

int cache_search_vec_start(cache_ns *ns, const float *vec, uint32_t k, int64_t now,
                           cache_query **q) {
    cur.nf = 0;   /* no lexscore features: scores are the cosine */
    cur.qm = NULL;
    *q = query_new(ns, vec, k + 16, now);
    if (!*q) return CACHE_ENOMEM;
    (*q)->is_search = 1;
    (*q)->k = k;
    return CACHE_PENDING;
}

int cache_search_finish(cache_query *q, cache_entry **out, float *score, float *cosine) {
    cache_ns *ns = q->ns;
    if (ns->dropped) return 0;
    if (q->n < 0) return q->n == HNSW_ENOMEM ? CACHE_ENOMEM : CACHE_EINDEX;
    return search_collect(ns, q->res, q->n, q->px, q->np, q->ids, q->tfs, q->nf, q->id_limit,
                          q->k, q->now, out, score, cosine);
}

cache_entry *cache_entry_by_id(cache_ns *ns, uint64_t id) { return map_get(&ns->byid, id); }

/* ---- expiry and eviction ---- */

/* One graph pass for the batch; if the batch path cannot allocate its
 * scratch, fall back to one delete per id so no orphan stays in HNSW. */
static void delete_slots(cache_ns *ns, const uint32_t *slots, size_t n) {
    if (hnsw_delete_batch(ns->idx, slots, n) >= 0) return;
    for (size_t i = 0; i < n; i++) hnsw_delete(ns->idx, slots[i]);
}

size_t cache_cron(int64_t now, uint32_t max_visits) {
    size_t deleted = 0;
    uint32_t batch[256];
    for (cache_ns *ns = all_ns; ns; ns = ns->next) {
        if (ns->nslots == 0 || ns->byid.count == 0) continue;
        uint32_t visits = max_visits < ns->nslots ? max_visits : ns->nslots;
        size_t nb = 0;
        for (uint32_t v = 0; v < visits; v++) {
            uint32_t i = ns->cron_cursor++ % ns->nslots;
            cache_entry *e = ns->slots[i];
            if (!e || !past_grace(ns, e, now)) continue;
            entry_unlink(ns, e);
            batch[nb++] = e->slot;
            entry_free(e);
            ns->st.expired++;
            if (nb == sizeof batch / sizeof batch[0]) {
                delete_slots(ns, batch, nb);
                deleted += nb;
                nb = 0;
            }
        }
        if (nb) delete_slots(ns, batch, nb);
        deleted += nb;
        ns->cron_cursor %= ns->nslots;
    }
    return deleted;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A uniformly random entry of all namespaces (by namespace weight, then a
 * random slot probe), or NULL after a few empty probes. */
static cache_entry *sample_entry(cache_ns **ns_out) {
    size_t total = 0;
    for (cache_ns *ns = all_ns; ns; ns = ns->next) total += ns->byid.count;
    if (total == 0) return NULL;
    size_t r = (size_t)(rng_next() % total);
    cache_ns *ns = all_ns;
    for (; ns; ns = ns->next) {
        if (r < ns->byid.count) break;
        r -= ns->byid.count;
    }
    for (int tries = 0; ns && ns->nslots && tries < 64; tries++) {
        cache_entry *e = ns->slots[rng_next() % ns->nslots];
        if (e) {
            *ns_out = ns;
            return e;
        }
    }
    return NULL;
}

static unsigned __int128 entry_value(const cache_entry *e) {
    return (unsigned __int128)(uint64_t)(e->cost_nusd > 0 ? e->cost_nusd : 0) * (e->hits + 1);
}

/* Evicts the least valuable of `samples` sampled entries. 1, or 0 if the
 * cache is empty. */
static int evict_one(int samples) {
    cache_entry *best = NULL;
    cache_ns *best_ns = NULL;
    for (int s = 0; s < samples; s++) {
        cache_ns *ns;
        cache_entry *e = sample_entry(&ns);
        if (!e) continue;
        if (!best || entry_value(e) < entry_value(best) ||
            (entry_value(e) == entry_value(best) && e->last_hit_ms < best->last_hit_ms)) {
            best = e;
            best_ns = ns;
        }
    }
    if (!best) return 0;
    cache_entry_delete(best_ns, best);
    best_ns->st.evicted++;
    return 1;
}

size_t cache_evict(size_t limit, int samples) {
    size_t n = 0;
    if (samples < 1) samples = 5;
    while (mem_used() > limit && evict_one(samples)) n++;
    return n;
}

size_t cache_evict_count(size_t count, int samples) {
    size_t n = 0;
    if (samples < 1) samples = 5;
    while (n < count && evict_one(samples)) n++;
    return n;
}
