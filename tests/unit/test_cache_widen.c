/* test_cache_widen.c -- widening an uncertain graph answer (server/cache.c
 * note 11) at the cache level, on the plateau of issue 5.
 *
 * The namespace holds bench/hnsw_island_probe.c's 2,000 prompts (200
 * fillers, 3 FAQ prompts, templated writer prompts) at the defaults but
 * EXACT-BELOW 0, so the HNSW graph answers at this small size. The graph
 * alone misses FAQ prompts asked back (test_hnsw_plateau.c,
 * hnsw-island-probe: "missed FAQ: faq0 faq2"), so a reworded FAQ prompt
 * misses its entry without widening. The test widens by 64: EF 32 x 64 =
 * 2,048 >= the 2,000 entries, so the wider beam never fills and visits
 * every node reachable from the entry point (hnsw_validate: all are); the
 * outcome then does not hang on the graph's exact shape. The default factor
 * (8) is measured in bench/sparse_recall_decide.c, not asserted here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/cache.h"
#include "server/tenant.h"
#include "bench/island_prompts.h"

#define NOW 1700000000000LL
#define N 2000


static void teardown(void)
{
    cache_shutdown();
    tenant_shutdown();
}

TestSuite(cache_widen, .fini = teardown);

static cache_entry *put(cache_ns *ns, const char *p)
{
    cache_put_args a;
    cache_entry *e;
    memset(&a, 0, sizeof(a));
    a.prompt = p;
    a.prompt_len = strlen(p);
    a.response = "answer";
    a.response_len = 6;
    a.ttl_ms = -1;
    cr_assert_eq(cache_put(ns, &a, NOW, &e), CACHE_OK);
    return e;
}

/* The island namespace (EXACT-BELOW exact_below, WIDEN widen); the FAQ
 * entries' public ids go to faq_id. */
static cache_ns *island_ns(const char *name, int64_t exact_below, int32_t widen,
                           uint64_t *faq_id)
{
    tenant *t = tenant_get_or_create("acme", 4);
    cache_ns_config cfg;
    cache_ns *ns;
    char buf[256];
    cr_assert_not_null(t);
    cache_ns_config_default(&cfg);
    cfg.exact_below = exact_below;
    cfg.widen = widen;
    cr_assert_eq(cache_ns_create(t, name, strlen(name), &cfg, &ns), CACHE_OK);
    cr_assert_geq(cfg.ef * 64, N, "EF %u x 64 no longer covers the %d entries", cfg.ef, N);
    for (uint32_t i = 0; i < N; i++) {
        island_prompt(i, buf, sizeof(buf));
        cache_entry *e = put(ns, buf);
        if (i >= 200 && i < 203)
            faq_id[i - 200] = e->id;
    }
    return ns;
}

/* Looks island_reworded[i] up synchronously: the public id of the hit, or 0. */
static uint64_t ask(cache_ns *ns, int i)
{
    cache_hit h;
    cr_assert_eq(cache_lookup(ns, island_reworded[i], strlen(island_reworded[i]), ns->cfg.threshold, 0, NOW, &h),
                 CACHE_OK);
    return h.tier == CACHE_MISS ? 0 : h.e->id;
}

Test(cache_widen, reworded_faq_hidden_by_the_plateau_misses_without_widening_and_hits_with_it,
     .timeout = 120)
{
    uint64_t id[3];
    cache_ns *ns = island_ns("w", 0, 0, id);
    int missed = 0;
    /* truth: the exact scan finds every FAQ entry for its reworded prompt */
    hnsw_set_exact_threshold(ns->idx, UINT32_MAX);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ask(ns, i), id[i], "exact scan: reworded FAQ %d does not hit its entry", i);
    hnsw_set_exact_threshold(ns->idx, 0);
    for (int i = 0; i < 3; i++)
        missed += ask(ns, i) != id[i];
    cr_assert_gt(missed, 0, "the graph found every FAQ entry: the plateau this test needs is gone");
    cr_assert_eq(ns->st.widened, 0);
    ns->cfg.widen = 64;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(ask(ns, i), id[i], "widened: reworded FAQ %d does not hit its entry", i);
    cr_assert_geq(ns->st.widened, (uint64_t)missed);
}

Test(cache_widen, pool_path_finish_asks_for_one_wider_run_then_hits, .timeout = 120)
{
    uint64_t id[3];
    cache_ns *ns = island_ns("p", 0, 64, id);
    int widened = 0;
    for (int i = 0; i < 3; i++) {
        cache_hit h;
        cache_query *q = NULL;
        cr_assert_eq(cache_lookup_start(ns, island_reworded[i], strlen(island_reworded[i]), ns->cfg.threshold, 0,
                                        NOW, &h, &q),
                     CACHE_PENDING);
        cache_query_run(q);
        int rc = cache_lookup_finish(q, &h);
        if (rc == CACHE_PENDING) {
            widened++;
            cr_assert_eq(h.tier, CACHE_MISS, "a widening finish answers nothing");
            cache_query_run(q);
            rc = cache_lookup_finish(q, &h);
        }
        cr_assert_eq(rc, CACHE_OK, "finish widened twice (FAQ %d)", i);
        cr_assert_neq(h.tier, CACHE_MISS, "FAQ %d missed after widening", i);
        cr_assert_eq(h.e->id, id[i]);
        cache_query_free(q);
    }
    cr_assert_gt(widened, 0, "no lookup widened: the plateau this test needs is gone");
    cr_assert_eq(ns->st.widened, (uint64_t)widened);
    cr_assert_eq(ns->st.hits_semantic, 3, "a widening finish must not count an outcome");
    cr_assert_eq(ns->st.misses, 0);
}

Test(cache_widen, misses_answered_by_the_exact_scan_never_widen)
{
    tenant *t = tenant_get_or_create("acme", 4);
    cache_ns_config cfg;
    cache_ns *ns;
    cache_hit h;
    cache_ns_config_default(&cfg);
    cr_assert_eq(cache_ns_create(t, "s", 1, &cfg, &ns), CACHE_OK);
    cr_assert_eq(ns->cfg.widen, CACHE_WIDEN_DEFAULT);
    put(ns, "How do I reset my password?");
    put(ns, "What is the refund policy for annual plans?");
    /* two entries: far below the exact threshold, a miss is exact already */
    cr_assert_eq(cache_lookup(ns, "tell me about zeppelins", 23, ns->cfg.threshold, 0, NOW, &h),
                 CACHE_OK);
    cr_assert_eq(h.tier, CACHE_MISS);
    cr_assert_eq(ns->st.widened, 0);
    /* the graph forced: the same miss widens once */
    hnsw_set_exact_threshold(ns->idx, 0);
    cr_assert_eq(cache_lookup(ns, "tell me about zeppelins", 23, ns->cfg.threshold, 0, NOW, &h),
                 CACHE_OK);
    cr_assert_eq(h.tier, CACHE_MISS);
    cr_assert_eq(ns->st.widened, 1);
    /* a confident hit does not */
    cr_assert_eq(cache_lookup(ns, "how do I reset my password please", 33, ns->cfg.threshold, 0,
                              NOW, &h),
                 CACHE_OK);
    cr_assert_eq(h.tier, CACHE_SEMANTIC);
    cr_assert_eq(ns->st.widened, 1);
    /* WIDEN 0 and 1 never widen */
    ns->cfg.widen = 1;
    cache_lookup(ns, "tell me about zeppelins", 23, ns->cfg.threshold, 0, NOW, &h);
    ns->cfg.widen = 0;
    cache_lookup(ns, "tell me about zeppelins", 23, ns->cfg.threshold, 0, NOW, &h);
    cr_assert_eq(ns->st.widened, 1);
}

Test(cache_widen, provider_namespaces_default_to_no_widening)
{
    tenant *t = tenant_get_or_create("acme", 4);
    cache_ns_config cfg;
    cache_ns *ns;
    cache_ns_config_default(&cfg);
    cfg.ext_embedder = 1;
    snprintf(cfg.ext_fingerprint, sizeof(cfg.ext_fingerprint), "test:provider");
    cr_assert_eq(cache_ns_create(t, "e", 1, &cfg, &ns), CACHE_OK);
    cr_assert_eq(ns->cfg.widen, 0);
    cfg.widen = 8; /* explicit WIDEN is kept */
    cr_assert_eq(cache_ns_create(t, "f", 1, &cfg, &ns), CACHE_OK);
    cr_assert_eq(ns->cfg.widen, 8);
}
