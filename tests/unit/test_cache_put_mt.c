/* test_cache_put_mt.c -- CACHE.PUT's HNSW insert on the worker pool
 * (server/cache.c note 9), with a real pool and loop: an entry serves the
 * exact tier and the semantic tier (scored against the in-flight vector)
 * while its insert is queued, and from HNSW once it completed; an entry deleted (cache_entry_delete, replacing PUT, flush)
 * or a namespace dropped while its insert runs is never served, leaves no
 * vector behind in the index (hnsw_count == entries) and nothing freed
 * under the worker (ASan stage); shutdown with inserts queued runs their
 * completions. The tsan stage runs the same cases as a plain C program
 * (tests/mt/cache_put_mt.c). */
#ifdef SIMCACHE_PLAIN_TEST      /* TSan build: see plain_test.h */
#include "tests/unit/plain_test.h"
#else
#include <criterion/criterion.h>
#endif
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "server/cache.h"
#include "server/tenant.h"
#include "server/vset.h"
#include "server/workers.h"

#define NOW 1700000000000LL
static const char *Q = "how do I reset my password please";
static const char *P = "How do I reset my password?";

static uv_loop_t loop;
static workers *pool;

static void pool_start(void) {
    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(workers_create(&loop, 2, 128, &pool), 0);
    vset_set_pool(pool);
}

/* Shutdown as main.c does it: pool first (pending completions run), then
 * the cache. */
static void pool_stop(void) {
    vset_set_pool(NULL);
    workers_destroy(pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0);
    cache_shutdown();
    tenant_shutdown();
}

static uint64_t inflight(void) {
    cache_insert_stats st;
    cache_insert_stats_get(&st);
    return st.inflight;
}

static void settle(void) {
    while (inflight() > 0) uv_run(&loop, UV_RUN_ONCE);
}

static cache_entry *put(cache_ns *ns, const char *p, const char *r) {
    cache_put_args a;
    memset(&a, 0, sizeof a);
    a.prompt = p;
    a.prompt_len = strlen(p);
    a.response = r;
    a.response_len = strlen(r);
    a.ttl_ms = -1;
    cache_entry *e = NULL;
    cr_assert_eq(cache_put(ns, &a, NOW, &e), CACHE_OK);
    return e;
}

static cache_ns *big_ns(const char *name) {
    tenant *t = tenant_get_or_create("acme", 4);
    cr_assert_not_null(t);
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    cache_ns *ns;
    cr_assert_eq(cache_ns_create(t, name, strlen(name), &cfg, &ns), CACHE_OK);
    char p[96];
    for (int i = 0; i < CACHE_ASYNC_MIN + 16; i++) {
        snprintf(p, sizeof p, "filler entry %d about kumquat%d and zeppelin%d", i, i, i);
        put(ns, p, "filler");
    }
    return ns;
}

static cache_tier lookup(cache_ns *ns, const char *q, const char **resp) {
    cache_hit h;
    cr_assert_eq(cache_lookup(ns, q, strlen(q), ns->cfg.threshold, 0, NOW, &h), CACHE_OK);
    if (resp) *resp = h.e ? h.e->response.p : NULL;
    return h.tier;
}

Test(cache_put_mt, both_tiers_at_once_hnsw_after_the_insert_completes) {
    pool_start();
    cache_ns *ns = big_ns("a");
    cache_insert_stats before, after;
    cache_insert_stats_get(&before);
    cache_entry *e = put(ns, P, "reset");
    cr_assert_eq(e->slot, CACHE_NO_SLOT, "the insert went inline");
    cr_assert_eq(inflight(), before.inflight + 1);
    const char *r;
    cr_assert_eq(lookup(ns, P, &r), CACHE_EXACT);
    cr_assert_eq(strcmp(r, "reset"), 0);
    /* read-your-writes: the semantic tier sees the in-flight vector */
    cr_assert_eq(lookup(ns, Q, &r), CACHE_SEMANTIC);
    cr_assert_eq(strcmp(r, "reset"), 0);
    cache_entry *found[4];
    float score[4], cosine[4];
    cr_assert(cache_search(ns, Q, strlen(Q), 4, NOW, found, score, cosine) >= 1);
    cr_assert(found[0] == e, "CACHE.SEARCH misses the in-flight entry");
    settle();
    cr_assert(e->slot != CACHE_NO_SLOT, "completion did not link the slot");
    cr_assert_eq(lookup(ns, Q, &r), CACHE_SEMANTIC);
    cr_assert_eq(strcmp(r, "reset"), 0);
    cache_insert_stats_get(&after);
    cr_assert(after.pool > before.pool);
    cr_assert_eq(hnsw_count(ns->idx), cache_ns_count(ns));
    pool_stop();
}

Test(cache_put_mt, deleted_replaced_flushed_while_inserting_leave_no_vector) {
    pool_start();
    cache_ns *ns = big_ns("b");
    cache_insert_stats before, after;
    settle();
    cache_insert_stats_get(&before);
    /* deleted before its completion ran */
    cache_entry *e = put(ns, P, "reset");
    cache_entry_delete(ns, e);
    /* replaced: the first vector must go */
    put(ns, "What is the refund policy for annual plans?", "old");
    put(ns, "What is the refund policy for annual plans?", "new");
    settle();
    const char *r;
    cr_assert_eq(lookup(ns, Q, &r), CACHE_MISS);
    cr_assert_eq(lookup(ns, "what is the refund policy for annual plan", &r), CACHE_SEMANTIC);
    cr_assert_eq(strcmp(r, "new"), 0);
    cr_assert_eq(hnsw_count(ns->idx), cache_ns_count(ns));
    /* flush with a batch queued */
    char p[96];
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "late entry %d about walrus%d and tuba%d", i, i, i);
        put(ns, p, "late");
    }
    put(ns, P, "reset");
    size_t n = cache_ns_count(ns);
    cr_assert_eq(cache_ns_flush(ns), n);
    settle();
    cr_assert_eq(cache_ns_count(ns), 0);
    cr_assert_eq(hnsw_count(ns->idx), 0, "orphan vectors left in the index");
    cache_insert_stats_get(&after);
    cr_assert(after.orphaned - before.orphaned >= 3, "the orphan path did not run");
    pool_stop();
}

Test(cache_put_mt, drop_and_shutdown_with_inserts_in_flight) {
    pool_start();
    cache_ns *ns = big_ns("c");
    char p[96];
    for (int i = 0; i < 30; i++) {
        snprintf(p, sizeof p, "dropped entry %d about oboe%d", i, i);
        put(ns, p, "x");
    }
    cache_ns_drop(ns);   /* freed by the last completion */
    settle();
    ns = big_ns("d");
    for (int i = 0; i < 30; i++) {
        snprintf(p, sizeof p, "queued entry %d about banjo%d", i, i);
        put(ns, p, "x");
    }
    pool_stop();   /* completions run in workers_destroy, then the cache goes */
    cr_assert_eq(inflight(), 0);
}
