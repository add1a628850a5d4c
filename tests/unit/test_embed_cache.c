/* test_embed_cache.c -- the per-tenant embedding cache (embed_cache.c) and
 * the cache's external-vector paths (cache_put_vec, cache_entry_index,
 * cache_lookup_vec_start, cache_lookup_degraded, cache_flushall) without a
 * provider or a network.
 *
 * Threats: the cache grows past its byte bound; the LRU evicts a vector
 * that was just used; two embedders' vectors for one prompt are confused;
 * a stale pointer survives a replacement; an entry stored without a vector
 * is lost, served semantically, or leaks when deleted/flushed/dropped. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "server/cache.h"
#include "server/embed_cache.h"
#include "server/tenant.h"

static void vec_of(float *v, uint32_t dim, uint64_t seed) {
    for (uint32_t i = 0; i < dim; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (float)((int64_t)(seed >> 33) % 2000 - 1000) / 1000.0f;
    }
}

Test(embed_cache, stays_within_its_byte_bound_under_any_number_of_puts) {
    ecache *c = ecache_new(64 * 1024);
    cr_assert_not_null(c);
    float v[384];
    for (uint64_t k = 0; k < 5000; k++) {
        vec_of(v, 384, k);
        cr_assert_eq(ecache_put(c, k, 7, v, 384), 0);
        ecache_stats s;
        ecache_get_stats(c, &s);
        cr_assert_leq(s.bytes, (size_t)64 * 1024, "bytes %zu after %llu puts", s.bytes,
                      (unsigned long long)k);
    }
    ecache_stats s;
    ecache_get_stats(c, &s);
    cr_assert_gt(s.entries, 10);
    cr_assert_lt(s.entries, 5000);
    cr_assert_eq(s.evictions, 5000 - s.entries);
    ecache_free(c);
}

Test(embed_cache, a_vector_used_recently_survives_eviction_of_older_ones) {
    float v[16];
    ecache *c = ecache_new(1 << 20);
    ecache_stats s;
    for (uint64_t k = 0; k < 8; k++) {
        vec_of(v, 16, k);
        ecache_put(c, k, 1, v, 16);
    }
    ecache_get_stats(c, &s);
    /* shrink to room for 4 vectors after touching key 0: 0 must survive */
    cr_assert_not_null(ecache_get(c, 0, 1, 16));
    size_t per = (s.bytes - 64 * sizeof(void *)) / 8;
    ecache_set_limit(c, 64 * sizeof(void *) + 4 * per);
    cr_assert_not_null(ecache_get(c, 0, 1, 16), "most recently used vector evicted");
    for (uint64_t k = 1; k <= 4; k++) cr_assert_null(ecache_get(c, k, 1, 16), "key %llu", (unsigned long long)k);
    for (uint64_t k = 5; k < 8; k++) cr_assert_not_null(ecache_get(c, k, 1, 16), "key %llu", (unsigned long long)k);
    ecache_free(c);
}

Test(embed_cache, the_same_prompt_under_two_fingerprints_is_two_vectors) {
    float a[8], b[8];
    vec_of(a, 8, 1);
    vec_of(b, 8, 2);
    ecache *c = ecache_new(1 << 20);
    ecache_put(c, 42, 100, a, 8);
    ecache_put(c, 42, 200, b, 8);
    const float *ga = ecache_get(c, 42, 100, 8), *gb = ecache_get(c, 42, 200, 8);
    cr_assert(ga && gb && ga != gb);
    cr_assert_eq(memcmp(ga, a, sizeof a), 0);
    cr_assert_eq(memcmp(gb, b, sizeof b), 0);
    cr_assert_null(ecache_get(c, 42, 100, 16), "a vector of another dimension was served");
    cr_assert_null(ecache_get(c, 43, 100, 8));
    /* replacement: the newest vector wins, counted once */
    ecache_put(c, 42, 100, b, 8);
    cr_assert_eq(memcmp(ecache_get(c, 42, 100, 8), b, sizeof b), 0);
    ecache_stats s;
    ecache_get_stats(c, &s);
    cr_assert_eq(s.entries, 2);
    ecache_free(c);
}

Test(embed_cache, a_vector_larger_than_the_bound_is_refused_not_stored) {
    float v[1024] = {0};
    ecache *c = ecache_new(1024);
    cr_assert_eq(ecache_put(c, 1, 1, v, 1024), 1);
    cr_assert_null(ecache_get(c, 1, 1, 1024));
    ecache_free(c);
}

/* Differential: random gets and puts against a trivial recency list. */
Test(embed_cache, matches_a_trivial_lru_model) {
    enum { DIM = 4, CAP = 6, KEYS = 20 };
    ecache *c = ecache_new(1 << 20);
    float v[DIM];
    vec_of(v, DIM, 0);
    ecache_put(c, 999, 0, v, DIM);
    ecache_stats s;
    ecache_get_stats(c, &s);
    size_t base = s.bytes - (s.bytes - 64 * sizeof(void *));   /* bucket array */
    size_t per = s.bytes - base;
    ecache_free(c);
    c = ecache_new(base + CAP * per);
    uint64_t model[CAP];
    int n = 0;
    uint64_t rng = 12345;
    for (int step = 0; step < 20000; step++) {
        rng = rng * 6364136223846793005ULL + 1;
        uint64_t k = (rng >> 33) % KEYS;
        int pos = -1;
        for (int i = 0; i < n; i++)
            if (model[i] == k) pos = i;
        if ((rng >> 20) & 1) {
            const float *g = ecache_get(c, k, 0, DIM);
            cr_assert_eq(g != NULL, pos >= 0, "step %d key %llu", step, (unsigned long long)k);
            if (g) cr_assert_eq(g[0], (float)k);
            if (pos < 0) continue;
        } else {
            for (int i = 0; i < DIM; i++) v[i] = (float)k;
            cr_assert_eq(ecache_put(c, k, 0, v, DIM), 0);
            if (pos < 0) {
                if (n == CAP) n--;   /* least recent (last) evicted */
                pos = n++;
            }
        }
        memmove(model + 1, model, (size_t)pos * sizeof *model);   /* to the front */
        model[0] = k;
    }
    ecache_get_stats(c, &s);
    cr_assert_eq(s.entries, (size_t)n);
    ecache_free(c);
}

/* ---- the cache with vectors from outside ---- */

static void teardown(void) {
    cache_shutdown();
    tenant_shutdown();
}

TestSuite(extvec, .fini = teardown);

static cache_ns *ext_ns(const char *name) {
    tenant *t = tenant_get_or_create("t1", 2);
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    cfg.ext_embedder = 1;
    cfg.dim = 8;
    cfg.threshold = 0.9f;
    strcpy(cfg.embedder, "fake");
    strcpy(cfg.ext_fingerprint, "provider:fake:m:8");
    cache_ns *ns;
    cr_assert_eq(cache_ns_create(t, name, strlen(name), &cfg, &ns), CACHE_OK);
    cr_assert_str_eq(ns->fingerprint, "provider:fake:m:8");
    return ns;
}

static cache_put_args args(const char *p, const char *r) {
    cache_put_args a;
    memset(&a, 0, sizeof a);
    a.prompt = p;
    a.prompt_len = strlen(p);
    a.response = r;
    a.response_len = strlen(r);
    a.ttl_ms = -1;
    return a;
}

Test(extvec, an_entry_stored_without_a_vector_serves_exact_and_is_indexed_later) {
    cache_ns *ns = ext_ns("a");
    cache_put_args a = args("How do I reset my password?", "reset");
    cache_entry *e;
    cr_assert_eq(cache_put_vec(ns, &a, NULL, 1000, &e), CACHE_OK);
    cr_assert_eq(e->slot, CACHE_NO_SLOT);
    cr_assert_eq(ns->n_unindexed, 1);
    cache_hit h;
    uint64_t key;
    cr_assert_eq(cache_lookup_exact(ns, "how do i reset my password", 26, 1001, &h, &key), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_EXACT);
    cr_assert_eq(h.e, e);
    /* a nearby vector finds nothing while the entry has none */
    float v[8], w[8];
    vec_of(v, 8, 5);
    memcpy(w, v, sizeof v);
    w[0] += 0.01f;
    uint64_t other = key + 1;
    cr_assert_eq(cache_lookup_vec_start(ns, other, w, 0.9f, 0, 1002, &h, NULL), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_MISS);
    cr_assert_eq(cache_entry_index(ns, e, v), CACHE_OK);
    cr_assert_neq(e->slot, CACHE_NO_SLOT);
    cr_assert_eq(ns->n_unindexed, 0);
    cr_assert_null(ns->unindexed);
    cr_assert_eq(cache_lookup_vec_start(ns, other, w, 0.9f, 0, 1003, &h, NULL), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_SEMANTIC);
    cr_assert_eq(h.e, e);
    cr_assert_gt(h.score, 0.99f);
    /* the score is the cosine: an orthogonal-ish vector misses at 0.9 */
    vec_of(w, 8, 77);
    cr_assert_eq(cache_lookup_vec_start(ns, other, w, 0.9f, 0, 1004, &h, NULL), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_MISS);
}

Test(extvec, unindexed_entries_are_freed_by_delete_replace_flush_and_drop) {
    cache_ns *ns = ext_ns("b");
    cache_entry *e1, *e2, *e3;
    cache_put_args a1 = args("first prompt", "1"), a2 = args("second prompt", "2"),
                   a3 = args("third prompt", "3");
    cr_assert_eq(cache_put_vec(ns, &a1, NULL, 1, &e1), CACHE_OK);
    cr_assert_eq(cache_put_vec(ns, &a2, NULL, 1, &e2), CACHE_OK);
    cr_assert_eq(cache_put_vec(ns, &a3, NULL, 1, &e3), CACHE_OK);
    cr_assert_eq(ns->n_unindexed, 3);
    cache_entry_delete(ns, e2);   /* middle of the list */
    cr_assert_eq(ns->n_unindexed, 2);
    cache_put_args a1b = args("First prompt!", "1b");   /* same exact key: replaces */
    cr_assert_eq(cache_put_vec(ns, &a1b, NULL, 2, &e1), CACHE_OK);
    cr_assert_eq(ns->n_unindexed, 2);
    cr_assert_eq(cache_ns_count(ns), 2);
    cr_assert_eq(cache_ns_flush(ns), 2);
    cr_assert_eq(ns->n_unindexed, 0);
    cr_assert_eq(cache_ns_count(ns), 0);
    cr_assert_eq(cache_put_vec(ns, &a3, NULL, 3, &e3), CACHE_OK);
    cache_ns_drop(ns);   /* ASan: the unindexed entry is freed with it */
}

Test(extvec, degraded_lookup_serves_exact_then_stale_then_counts_a_miss) {
    cache_ns *ns = ext_ns("c");
    ns->cfg.grace_ms = 10000;
    cache_put_args a = args("what is the refund policy", "refund");
    a.ttl_ms = 1000;
    cache_entry *e;
    cr_assert_eq(cache_put_vec(ns, &a, NULL, 0, &e), CACHE_OK);
    cache_hit h;
    cr_assert_eq(cache_lookup_degraded(ns, e->key, 0, 500, &h), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_EXACT);
    cr_assert_eq(cache_lookup_degraded(ns, e->key, 0, 2000, &h), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_MISS);
    cr_assert_eq(cache_lookup_degraded(ns, e->key, 1, 2000, &h), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_STALE);
    cr_assert_eq(ns->st.hits_exact, 1);
    cr_assert_eq(ns->st.hits_stale, 1);
    cr_assert_eq(ns->st.misses, 1);
}

Test(extvec, flushall_empties_every_namespace_and_keeps_definitions_and_ids) {
    cache_ns *ns = ext_ns("d");
    tenant *t = tenant_get_or_create("t1", 2);
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    cache_ns *bi;
    cr_assert_eq(cache_ns_create(t, "builtin", 7, &cfg, &bi), CACHE_OK);
    float v[8];
    char p[32];
    for (int i = 0; i < 50; i++) {
        snprintf(p, sizeof p, "prompt number %d", i);
        cache_put_args a = args(p, "x");
        cache_entry *e;
        vec_of(v, 8, (uint64_t)i);
        cr_assert_eq(cache_put_vec(ns, &a, i % 2 ? v : NULL, 1, &e), CACHE_OK);
        cr_assert_eq(cache_put(bi, &a, 1, &e), CACHE_OK);
    }
    size_t full = cache_ns_memory(bi);
    uint64_t next = ns->next_id;
    cr_assert_eq(cache_flushall(), 100);
    cr_assert_eq(cache_ns_count(ns), 0);
    cr_assert_eq(cache_ns_count(bi), 0);
    cr_assert_eq(ns->n_unindexed, 0);
    cr_assert_lt(cache_ns_memory(bi), full, "flushall did not return the index memory");
    cr_assert_eq(cache_ns_find(t, "d", 1), ns);
    cache_put_args a = args("after the flush", "y");
    cache_entry *e;
    cr_assert_eq(cache_put_vec(ns, &a, v, 2, &e), CACHE_OK);
    cr_assert_eq(e->id, next, "public ids restarted after FLUSHALL");
}
