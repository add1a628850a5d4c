/* test_embed_cache_builtin.c -- the per-tenant embedding cache serving
 * built-in namespaces (cache.c note 12) and the feature-carrying entries
 * of embed_cache.c it relies on.
 *
 * Threats: a repeated prompt is embedded again (the cache does nothing);
 * one tenant is served another tenant's cached embedding; a namespace of
 * another DIM is served a vector of the wrong size; an answer differs
 * with the cache on (tier, entry or score); the cache grows past its byte
 * bound once entries carry features; features come back altered; a query
 * handed to the pool keeps a pointer into an entry evicted before the
 * search runs (ASan catches the read); `embed-cache-bytes 0` still caches. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/cache.h"
#include "server/cache_embed.h"
#include "server/config.h"
#include "server/embed_cache.h"
#include "server/tenant.h"

static void teardown(void) {
    cache_shutdown();
    cache_embed_shutdown();
}

static void setup(void) { g_cfg.embed_cache_bytes = 16LL << 20; }

TestSuite(embed_cache_builtin, .init = setup, .fini = teardown);

/* ---- the data structure ---- */

static void fill(float *v, uint32_t dim, uint32_t *ids, uint8_t *tfs, uint32_t nf,
                 uint64_t seed) {
    for (uint32_t i = 0; i < dim; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (float)((int64_t)(seed >> 33) % 2000 - 1000) / 1000.0f;
    }
    for (uint32_t i = 0; i < nf; i++) {
        ids[i] = (uint32_t)(seed >> 40) * 2 + i * 7919u;
        tfs[i] = (uint8_t)(1 + i % 255);
    }
}

Test(embed_cache_builtin, features_come_back_exactly_without_a_copy) {
    ecache *c = ecache_new(1 << 20);
    float v[64];
    uint32_t ids[300];
    uint8_t tfs[300];
    fill(v, 64, ids, tfs, 300, 42);
    ecache_stats s0, s1;
    ecache_get_stats(c, &s0);
    cr_assert_eq(ecache_put_feats(c, 9, 3, v, 64, ids, tfs, 300), 0);
    ecache_get_stats(c, &s1);
    /* charged for the features: at least vector + 5 bytes per feature */
    cr_assert_geq(s1.bytes - s0.bytes, 64 * sizeof(float) + 300 * 5);
    ecache_val a, b;
    cr_assert_eq(ecache_get_val(c, 9, 3, 64, &a), 1);
    cr_assert_eq(a.nf, 300);
    cr_assert_eq(memcmp(a.v, v, sizeof v), 0);
    cr_assert_eq(memcmp(a.ids, ids, sizeof ids), 0);
    cr_assert_eq(memcmp(a.tfs, tfs, sizeof tfs), 0);
    cr_assert_eq(ecache_get_val(c, 9, 3, 64, &b), 1);
    cr_assert_eq(a.v, b.v, "a hit copied the vector");
    cr_assert_eq(a.ids, b.ids);
    /* another fingerprint or dim is a miss, never this entry */
    cr_assert_eq(ecache_get_val(c, 9, 4, 64, &b), 0);
    cr_assert_eq(ecache_get_val(c, 9, 3, 32, &b), 0);
    /* a provider-style entry has no features */
    cr_assert_eq(ecache_put(c, 10, 3, v, 64), 0);
    cr_assert_eq(ecache_get_val(c, 10, 3, 64, &b), 1);
    cr_assert_eq(b.nf, 0);
    cr_assert_null(b.ids);
    ecache_free(c);
}

Test(embed_cache_builtin, bound_holds_with_entries_of_any_feature_count) {
    const size_t limit = 96 * 1024;
    ecache *c = ecache_new(limit);
    static float v[512];
    static uint32_t ids[2000];
    static uint8_t tfs[2000];
    uint64_t seed = 1;
    for (uint64_t k = 0; k < 3000; k++) {
        seed = seed * 6364136223846793005ULL + 1;
        uint32_t nf = (uint32_t)(seed >> 33) % 2000;
        fill(v, 512, ids, tfs, nf, k);
        /* every 7th put replaces an older key with another size */
        uint64_t key = k % 7 == 0 ? k / 2 : k;
        cr_assert_eq(ecache_put_feats(c, key, 1, v, 512, ids, tfs, nf), 0);
        ecache_stats s;
        ecache_get_stats(c, &s);
        cr_assert_leq(s.bytes, limit, "bytes %zu after put %llu", s.bytes,
                      (unsigned long long)k);
    }
    /* shrinking to nothing frees every entry and leaves only the buckets */
    ecache_set_limit(c, 0);
    ecache_stats s;
    ecache_get_stats(c, &s);
    cr_assert_eq(s.entries, 0);
    ecache_val x;
    cr_assert_eq(ecache_get_val(c, 2999, 1, 512, &x), 0);
    ecache_free(c);
}

/* ---- the cache's built-in path ---- */

static cache_ns *mkns(tenant *t, const char *name, uint32_t dim) {
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    cfg.dim = dim;
    cache_ns *ns;
    cr_assert_eq(cache_ns_create(t, name, strlen(name), &cfg, &ns), CACHE_OK);
    return ns;
}

static uint64_t put(cache_ns *ns, const char *p, const char *r) {
    cache_put_args a = {0};
    a.prompt = p;
    a.prompt_len = strlen(p);
    a.response = r;
    a.response_len = strlen(r);
    a.ttl_ms = -1;
    cache_entry *e;
    cr_assert_eq(cache_put(ns, &a, 1000, &e), CACHE_OK);
    return e->id;
}

static cache_hit look(cache_ns *ns, const char *p) {
    cache_hit h;
    cr_assert_eq(cache_lookup(ns, p, strlen(p), ns->cfg.threshold, 0, 1000, &h), CACHE_OK);
    return h;
}

static cache_builtin_embed_stats emb(void) {
    cache_builtin_embed_stats s;
    cache_builtin_embed_stats_get(&s);
    return s;
}

static ecache_stats tstats(const tenant *t) {
    ecache_stats s;
    memset(&s, 0, sizeof s);
    cache_embed_tenant_stats(t, &s);
    return s;
}

Test(embed_cache_builtin, a_repeated_reworded_prompt_is_embedded_once) {
    tenant *t = tenant_get_or_create("once", 4);
    cache_ns *ns = mkns(t, "faq", 256);
    uint64_t id = put(ns, "how do I reverse a list in python", "a[::-1]");
    cache_builtin_embed_stats s0 = emb();
    cache_hit h1 = look(ns, "How do I reverse a list in Python, please?");
    cache_builtin_embed_stats s1 = emb();
    cr_assert_eq(s1.computed - s0.computed, 1);
    cr_assert_eq(h1.tier, CACHE_SEMANTIC);
    cr_assert_eq(h1.e->id, id);
    /* same normalised prompt: served from the cache, same answer */
    cache_hit h2 = look(ns, "how do i reverse a list in python please");
    cache_builtin_embed_stats s2 = emb();
    cr_assert_eq(s2.computed, s1.computed, "the repeated prompt was embedded again");
    cr_assert_eq(s2.cached - s1.cached, 1);
    cr_assert_eq(h2.tier, CACHE_SEMANTIC);
    cr_assert_eq(h2.e->id, id);
    cr_assert_eq(h2.score, h1.score);
    cr_assert_eq(tstats(t).entries, 1);
}

Test(embed_cache_builtin, a_put_after_a_get_of_the_same_prompt_embeds_once) {
    tenant *t = tenant_get_or_create("put", 3);
    cache_ns *ns = mkns(t, "faq", 128);
    put(ns, "what is the capital of france", "paris");
    cache_builtin_embed_stats s0 = emb();
    cr_assert_eq(look(ns, "recipe for a lemon tart").tier, CACHE_MISS);
    put(ns, "Recipe for a lemon tart!", "butter, lemons");
    cache_builtin_embed_stats s1 = emb();
    cr_assert_eq(s1.computed - s0.computed, 1, "the PUT embedded the GET's prompt again");
    cr_assert_eq(s1.cached - s0.cached, 1);
    /* a PUT of a new prompt reads the cache but does not fill it */
    size_t before = tstats(t).entries;
    put(ns, "how tall is the eiffel tower", "330 m");
    cr_assert_eq(tstats(t).entries, before);
    cr_assert_eq(look(ns, "recipe for a lemon tart").tier, CACHE_EXACT);
}

Test(embed_cache_builtin, two_tenants_never_share_an_embedding) {
    tenant *a = tenant_get_or_create("ta", 2), *b = tenant_get_or_create("tb", 2);
    cache_ns *na = mkns(a, "faq", 256), *nb = mkns(b, "faq", 256);
    uint64_t ia = put(na, "how do I sort a dict by value", "sorted(d.items(), key=...)");
    uint64_t ib = put(nb, "how do I sort a dict by value", "other tenant's answer");
    cache_builtin_embed_stats s0 = emb();
    ecache_stats a0 = tstats(a), b0 = tstats(b);
    const char *q = "sort a dict by value, how do I";
    cache_hit ha = look(na, q);
    cache_hit hb = look(nb, q);
    cache_builtin_embed_stats s1 = emb();
    cr_assert_eq(s1.computed - s0.computed, 2, "tenant b was served tenant a's embedding");
    cr_assert_eq(s1.cached, s0.cached);
    ecache_stats sa = tstats(a), sb = tstats(b);
    cr_assert_eq(sa.entries, 1);
    cr_assert_eq(sb.entries, 1);
    cr_assert_eq(sa.misses - a0.misses, 1);
    cr_assert_eq(sb.misses - b0.misses, 1);
    cr_assert_eq(ha.e->id, ia);
    cr_assert_eq(hb.e->id, ib);
    cr_assert_str_eq(hb.e->response.p, "other tenant's answer");
    look(na, q);
    look(nb, q);
    cr_assert_eq(tstats(a).hits - a0.hits, 1);
    cr_assert_eq(tstats(b).hits - b0.hits, 1);
}

Test(embed_cache_builtin, namespaces_of_other_dims_do_not_share_vectors) {
    tenant *t = tenant_get_or_create("dims", 4);
    cache_ns *n1 = mkns(t, "small", 128), *n2 = mkns(t, "large", 512);
    put(n1, "how do I undo a git commit", "git reset");
    put(n2, "how do I undo a git commit", "git reset");
    cache_builtin_embed_stats s0 = emb();
    cr_assert_eq(look(n1, "undo a git commit how").tier, CACHE_SEMANTIC);
    cr_assert_eq(look(n2, "undo a git commit how").tier, CACHE_SEMANTIC);
    cr_assert_eq(emb().computed - s0.computed, 2);
    cr_assert_eq(tstats(t).entries, 2);
}

Test(embed_cache_builtin, a_zero_bound_turns_the_cache_off_and_empties_it) {
    tenant *t = tenant_get_or_create("zero", 4);
    cache_ns *ns = mkns(t, "faq", 128);
    put(ns, "how do I undo a git commit", "git reset");
    look(ns, "undo a git commit how");
    cr_assert_eq(tstats(t).entries, 1);
    g_cfg.embed_cache_bytes = 0;
    cache_builtin_embed_stats s0 = emb();
    look(ns, "undo a git commit how");
    look(ns, "undo a git commit how");
    cr_assert_eq(emb().computed - s0.computed, 2);
    cr_assert_eq(emb().cached, s0.cached);
    cr_assert_eq(tstats(t).entries, 0);
}

/* Prompts for the equivalence test: stored ones from a small grammar, and
 * rewordings (case, punctuation, a word dropped or added, order). */
static const char *const subj[] = {"list", "dict", "string", "file", "socket", "thread",
                                   "vector", "matrix", "branch", "commit", "table", "index"};
static const char *const verb[] = {"reverse", "sort", "copy", "delete", "print", "merge",
                                   "split", "open", "close", "compare"};
static const char *const lang[] = {"python", "rust", "go", "java", "c", "bash"};

static void stored_prompt(char *b, size_t n, int i) {
    snprintf(b, n, "how do I %s a %s in %s", verb[i % 10], subj[(i / 10) % 12],
             lang[(i / 120) % 6]);
}

static void reworded(char *b, size_t n, int i, int variant) {
    const char *v = verb[i % 10], *s = subj[(i / 10) % 12], *l = lang[(i / 120) % 6];
    switch (variant % 4) {
    case 0: snprintf(b, n, "How do I %s a %s in %s?", v, s, l); break;
    case 1: snprintf(b, n, "how to %s a %s in %s", v, s, l); break;
    case 2: snprintf(b, n, "in %s, how do I %s my %s", l, v, s); break;
    default: snprintf(b, n, "%s %s %s quickly", l, v, s); break;
    }
}

typedef struct answer {
    cache_tier tier;
    uint64_t id;
    float score;
} answer;

static answer ask(cache_ns *ns, const char *q) {
    cache_hit h = look(ns, q);
    answer a = {h.tier, h.e ? h.e->id : 0, h.score};
    return a;
}

Test(embed_cache_builtin, answers_are_identical_with_and_without_the_cache) {
    tenant *t = tenant_get_or_create("same", 4);
    cache_ns *ns = mkns(t, "faq", 256);
    char b[256];
    for (int i = 0; i < 400; i++) {
        stored_prompt(b, sizeof b, i * 7 % 720);
        put(ns, b, "x");
    }
    enum { NQ = 300 };
    static answer off[NQ], on1[NQ], on2[NQ];
    g_cfg.embed_cache_bytes = 0;
    for (int i = 0; i < NQ; i++) {
        reworded(b, sizeof b, i * 11 % 720, i);
        off[i] = ask(ns, b);
    }
    g_cfg.embed_cache_bytes = 16LL << 20;
    cache_builtin_embed_stats s0 = emb();
    for (int i = 0; i < NQ; i++) {   /* first pass fills, second is served */
        reworded(b, sizeof b, i * 11 % 720, i);
        on1[i] = ask(ns, b);
    }
    for (int i = 0; i < NQ; i++) {
        reworded(b, sizeof b, i * 11 % 720, i);
        on2[i] = ask(ns, b);
    }
    cache_builtin_embed_stats s1 = emb();
    int hits = 0, exact = 0;
    for (int i = 0; i < NQ; i++) exact += off[i].tier == CACHE_EXACT;
    /* every query the exact tier did not answer was served by the cache */
    cr_assert_eq(s1.cached - s0.cached, NQ - exact, "second pass not served by the cache");
    cr_assert_eq(s1.computed - s0.computed, NQ - exact, "a prompt embedded twice");
    for (int i = 0; i < NQ; i++) {
        cr_assert_eq(on1[i].tier, off[i].tier, "query %d", i);
        cr_assert_eq(on2[i].tier, off[i].tier, "query %d", i);
        cr_assert_eq(on1[i].id, off[i].id, "query %d", i);
        cr_assert_eq(on2[i].id, off[i].id, "query %d", i);
        cr_assert_eq(on2[i].score, off[i].score, "query %d", i);
        hits += off[i].tier != CACHE_MISS;
    }
    /* the comparison means something only if both tiers occur */
    cr_assert_gt(hits - exact, 10);   /* 21 semantic hits when written */
    cr_assert_lt(hits, NQ);
}

Test(embed_cache_builtin, a_pool_query_outlives_the_cache_entry_it_came_from) {
    tenant *t = tenant_get_or_create("pool", 4);
    cache_ns *ns = mkns(t, "faq", 256);
    char b[256];
    for (int i = 0; i < CACHE_ASYNC_MIN + 10; i++) {
        stored_prompt(b, sizeof b, i);
        put(ns, b, "x");
    }
    const char *q = "in Python, how do I sort my list";
    cache_hit ref = look(ns, q);   /* fills the cache (synchronous path) */
    cache_builtin_embed_stats s0 = emb();
    cache_hit h;
    cache_query *qq = NULL;
    cr_assert_eq(cache_lookup_start(ns, q, strlen(q), ns->cfg.threshold, 0, 1000, &h, &qq),
                 CACHE_PENDING);
    cr_assert_eq(emb().cached - s0.cached, 1);
    /* evict everything before the "pool" runs the search */
    g_cfg.embed_cache_bytes = 0;
    cache_embed_tenant_cache(t);
    cr_assert_eq(tstats(t).entries, 0);
    int rc;
    do {
        cache_query_run(qq);
        rc = cache_lookup_finish(qq, &h);
    } while (rc == CACHE_PENDING);
    cr_assert_eq(rc, CACHE_OK);
    cr_assert_eq(h.tier, ref.tier);
    cr_assert_eq(h.e, ref.e);
    cr_assert_eq(h.score, ref.score);
    cache_query_free(qq);
}
