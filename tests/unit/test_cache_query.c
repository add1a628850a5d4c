/* test_cache_query.c -- the threaded semantic search's split (start on the
 * loop, run, finish) without a pool: what changes between start and finish
 * (DROP, FLUSH, a replacing PUT) must never be served, must not be freed
 * under the query (ASan), and an undisturbed query must answer exactly
 * what the synchronous cache_lookup answers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/cache.h"
#include "server/tenant.h"

static void teardown(void) {
    cache_shutdown();
    tenant_shutdown();
}

TestSuite(cache_query, .fini = teardown);

#define NOW 1700000000000LL
static const char *Q = "how do I reset my password please";

static void put(cache_ns *ns, const char *p, const char *r) {
    cache_put_args a;
    memset(&a, 0, sizeof a);
    a.prompt = p;
    a.prompt_len = strlen(p);
    a.response = r;
    a.response_len = strlen(r);
    a.ttl_ms = -1;
    cache_entry *e;
    cr_assert_eq(cache_put(ns, &a, NOW, &e), CACHE_OK);
}

/* A namespace past CACHE_ASYNC_MIN with one answer Q should hit. */
static cache_ns *big_ns(const char *name) {
    tenant *t = tenant_get_or_create("acme", 4);
    cr_assert_not_null(t);
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    cache_ns *ns;
    cr_assert_eq(cache_ns_create(t, name, strlen(name), &cfg, &ns), CACHE_OK);
    char p[96], r[32];
    for (int i = 0; i < CACHE_ASYNC_MIN + 16; i++) {
        snprintf(p, sizeof p, "filler entry %d about kumquat%d and zeppelin%d", i, i, i);
        snprintf(r, sizeof r, "filler-%d", i);
        put(ns, p, r);
    }
    put(ns, "How do I reset my password?", "reset");
    return ns;
}

static cache_query *start(cache_ns *ns) {
    cache_hit h;
    cache_query *q = NULL;
    cr_assert_eq(cache_lookup_start(ns, Q, strlen(Q), ns->cfg.threshold, 0, NOW, &h, &q),
                 CACHE_PENDING);
    cr_assert_not_null(q);
    return q;
}

Test(cache_query, undisturbed_query_answers_like_the_synchronous_lookup) {
    cache_ns *ns = big_ns("a");
    cache_hit sync, async;
    cr_assert_eq(cache_lookup(ns, Q, strlen(Q), ns->cfg.threshold, 0, NOW, &sync), CACHE_OK);
    cr_assert_eq(sync.tier, CACHE_SEMANTIC);
    cache_query *q = start(ns);
    cache_query_run(q);
    cr_assert_eq(cache_lookup_finish(q, &async), CACHE_OK);
    cr_assert_eq(async.tier, CACHE_SEMANTIC);
    cr_assert_eq(async.e, sync.e);
    cr_assert_float_eq(async.score, sync.score, 1e-6);
    cr_assert_eq(ns->st.hits_semantic, 2);
    cache_query_free(q);
}

Test(cache_query, drop_during_the_search_frees_only_after_the_query_and_misses) {
    cache_ns *ns = big_ns("a");
    cache_query *q = start(ns);
    cache_ns_drop(ns);                      /* unlinked, not freed: q holds it */
    cr_assert_null(cache_ns_find(tenant_get_or_create("acme", 4), "a", 1));
    cache_query_run(q);                     /* reads the index: ASan checks it is alive */
    cache_hit h;
    cr_assert_eq(cache_lookup_finish(q, &h), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_MISS);
    cr_assert_null(h.e);
    cr_assert_null(cache_query_ns(q));
    cache_query_free(q);                    /* the last reference frees it (LeakSanitizer) */
}

Test(cache_query, flush_between_search_and_finish_serves_nothing) {
    cache_ns *ns = big_ns("a");
    cache_query *q = start(ns);
    cache_query_run(q);                     /* results name the old entries' slots */
    cr_assert_gt(cache_ns_flush(ns), 0);
    /* new entries may reuse the freed HNSW slots */
    for (int i = 0; i < 20; i++) put(ns, "How do I reset my password?", "new-reset");
    cache_hit h;
    cr_assert_eq(cache_lookup_finish(q, &h), CACHE_OK);
    cr_assert_eq(h.tier, CACHE_MISS);
    cache_query_free(q);
}

Test(cache_query, replaced_entry_is_not_served_by_an_older_search) {
    cache_ns *ns = big_ns("a");
    cache_query *q = start(ns);
    cache_query_run(q);
    put(ns, "How do I reset my password?", "replaced");   /* deletes the old entry */
    cache_hit h;
    cr_assert_eq(cache_lookup_finish(q, &h), CACHE_OK);
    if (h.tier != CACHE_MISS) cr_assert_str_neq(h.e->response.p, "reset");
    cache_query_free(q);
}

Test(cache_query, search_query_skips_entries_deleted_since_the_start) {
    cache_ns *ns = big_ns("a");
    cache_query *q = NULL;
    cr_assert_eq(cache_search_start(ns, Q, strlen(Q), 5, NOW, &q), CACHE_PENDING);
    cache_query_run(q);
    cache_entry *out[5];
    float sc[5], cs[5];
    cr_assert_eq(cache_search_finish(q, out, sc, cs), 5);
    cr_assert_str_eq(out[0]->response.p, "reset");
    cache_entry_delete(ns, out[0]);
    int n = cache_search_finish(q, out, sc, cs);
    cr_assert_eq(n, 5);   /* the next candidates move up */
    for (int i = 0; i < n; i++) cr_assert_str_neq(out[i]->response.p, "reset");
    cache_query_free(q);
}

Test(cache_query, small_namespace_stays_synchronous) {
    tenant *t = tenant_get_or_create("acme", 4);
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    cache_ns *ns;
    cr_assert_eq(cache_ns_create(t, "s", 1, &cfg, &ns), CACHE_OK);
    put(ns, "How do I reset my password?", "reset");
    cache_hit h;
    cache_query *q = (cache_query *)&h;     /* must be overwritten with NULL */
    cr_assert_eq(cache_lookup_start(ns, Q, strlen(Q), ns->cfg.threshold, 0, NOW, &h, &q),
                 CACHE_OK);
    cr_assert_null(q);
    cr_assert_eq(h.tier, CACHE_SEMANTIC);
}
