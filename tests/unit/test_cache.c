/* test_cache.c -- the cache's pure parts without the network: ledger
 * arithmetic (USD parsing, token pricing, budget periods), namespace
 * scoping by tenant, the exact/semantic/stale tiers against a fixed clock,
 * true deletion on expiry, and cost-aware eviction choice. */
#include <criterion/criterion.h>
#include <string.h>

#include "server/cache.h"
#include "server/tenant.h"

static void teardown(void) {
    cache_shutdown();
    tenant_shutdown();
}

TestSuite(cache, .fini = teardown);

Test(cache, usd_parsing_is_exact_to_the_nano_dollar_and_refuses_the_rest) {
    int64_t v;
    cr_assert_eq(tenant_parse_usd("0.000000001", 11, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(tenant_parse_usd("12.5", 4, &v), 0);
    cr_assert_eq(v, 12500000000LL);
    cr_assert_eq(tenant_parse_usd("7", 1, &v), 0);
    cr_assert_eq(v, 7000000000LL);
    cr_assert_eq(tenant_parse_usd(".5", 2, &v), 0);
    cr_assert_eq(v, 500000000LL);
    const char *bad[] = {"", ".", "-1", "1e-3", "0.0000000001", "1.2.3", "abc", " 1",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tenant_parse_usd(bad[i], strlen(bad[i]), &v), -1, "%s", bad[i]);
}

Test(cache, token_pricing_rounds_half_up_once_per_call) {
    /* $2.50 per 1M tokens = 2.5e9 nano-USD per 1M: 1234 tokens -> 3085000 */
    cr_assert_eq(tenant_price_nusd(2500000000LL, 1234), 3085000);
    /* $0.0375 per 1M: 1 token = 37.5 nano -> 38 (half up); 2 tokens = 75 */
    cr_assert_eq(tenant_price_nusd(37500000LL, 1), 38);
    cr_assert_eq(tenant_price_nusd(37500000LL, 2), 75);
    cr_assert_eq(tenant_price_nusd(0, 1000000), 0);
    /* large: 10^12 tokens at $60/1M = $60M */
    cr_assert_eq(tenant_price_nusd(60000000000LL, 1000000000000ULL), 60000000000000000LL);
}

Test(cache, budget_period_rolls_at_the_boundary_only) {
    tenant *t = tenant_get_or_create("acme", 4);
    cr_assert_not_null(t);
    int64_t day = 86400000LL, t0 = 20000 * day + 1000;
    tenant_set_budget(t, 1000, PERIOD_DAY, 0, t0);
    tenant_charge(t, 600, t0);
    cr_assert_eq(tenant_budget_exhausted(t, t0), 0);
    tenant_charge(t, 400, t0 + 5000);
    cr_assert_eq(tenant_budget_exhausted(t, t0 + 5000), 1);
    cr_assert_eq(tenant_budget_exhausted(t, 20001 * day - 1), 1);
    cr_assert_eq(tenant_budget_exhausted(t, 20001 * day), 0);   /* next UTC day */
    cr_assert_eq(t->period_spend_nusd, 0);
    cr_assert_eq(t->led.spend_nusd, 1000);                      /* all-time kept */
    /* months: Jan 31 23:59:59 -> Feb 1 00:00:00 (2026, UTC) */
    int64_t jan31 = 1769903999000LL, feb1 = 1769904000000LL;
    cr_assert_neq(tenant_period_index(PERIOD_MONTH, 0, jan31),
                  tenant_period_index(PERIOD_MONTH, 0, feb1));
    cr_assert_eq(tenant_period_index(PERIOD_MONTH, 0, feb1),
                 tenant_period_index(PERIOD_MONTH, 0, feb1 + 27 * day));
    cr_assert_eq(tenant_period_index(PERIOD_SECONDS, 10, 19999), 1);
    cr_assert_eq(tenant_period_index(PERIOD_SECONDS, 10, 20000), 2);
    cr_assert_eq(tenant_period_index(PERIOD_TOTAL, 0, feb1), 0);
    /* no budget: never exhausted */
    tenant *u = tenant_get_or_create("free", 4);
    tenant_charge(u, 1000000, t0);
    cr_assert_eq(tenant_budget_exhausted(u, t0), 0);
}

static cache_ns *mkns(tenant *t, const char *name, int64_t ttl_ms, int64_t grace_ms) {
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    cfg.dim = 128;
    cfg.ttl_ms = ttl_ms;
    cfg.grace_ms = grace_ms;
    cache_ns *ns;
    cr_assert_eq(cache_ns_create(t, name, strlen(name), &cfg, &ns), CACHE_OK);
    return ns;
}

static uint64_t put(cache_ns *ns, const char *p, const char *r, int64_t cost, int64_t now) {
    cache_put_args a = {0};
    a.prompt = p;
    a.prompt_len = strlen(p);
    a.response = r;
    a.response_len = strlen(r);
    a.ttl_ms = -1;
    a.cost_nusd = cost;
    cache_entry *e;
    cr_assert_eq(cache_put(ns, &a, now, &e), CACHE_OK);
    return e->id;
}

static cache_tier look(cache_ns *ns, const char *p, int stale, int64_t now, cache_entry **e) {
    cache_hit h;
    cr_assert_eq(cache_lookup(ns, p, strlen(p), ns->cfg.threshold, stale, now, &h), CACHE_OK);
    if (e) *e = h.e;
    return h.tier;
}

Test(cache, namespace_names_are_scoped_per_tenant) {
    tenant *a = tenant_get_or_create("a", 1), *b = tenant_get_or_create("b", 1);
    cache_ns *na = mkns(a, "faq", 0, 0), *nb = mkns(b, "faq", 0, 0);
    cr_assert_neq(na, nb);
    cr_assert_eq(cache_ns_find(a, "faq", 3), na);
    cr_assert_eq(cache_ns_find(b, "faq", 3), nb);
    cr_assert_null(cache_ns_find(a, "fa", 2));
    put(na, "What is the refund policy?", "A", 0, 1000);
    cache_entry *e;
    cr_assert_eq(look(nb, "What is the refund policy?", 0, 1000, &e), CACHE_MISS);
    cr_assert_eq(look(na, "What is the refund policy?", 0, 1000, &e), CACHE_EXACT);
    cr_assert_str_eq(e->response.p, "A");
    uint64_t g = na->generation;
    cache_ns_drop(na);
    cr_assert_null(cache_ns_find(a, "faq", 3));
    cr_assert_null(cache_ns_by_generation(g));
}

Test(cache, expiry_then_grace_then_true_deletion) {
    tenant *t = tenant_get_or_create("t", 1);
    cache_ns *ns = mkns(t, "x", 1000, 500);
    put(ns, "How do I rotate my API keys?", "rot", 0, 0);
    put(ns, "How do I delete my account?", "del", 0, 0);
    const char *para = "how do I rotate my API keys please";
    cr_assert_eq(look(ns, para, 0, 10, NULL), CACHE_SEMANTIC);
    cr_assert_eq(look(ns, "How do I rotate my API keys?", 0, 999, NULL), CACHE_EXACT);
    cr_assert_eq(look(ns, "How do I rotate my API keys?", 0, 1000, NULL), CACHE_MISS);
    cr_assert_eq(look(ns, para, 0, 1000, NULL), CACHE_MISS);
    cr_assert_eq(look(ns, "How do I rotate my API keys?", 1, 1200, NULL), CACHE_STALE);
    cr_assert_eq(look(ns, para, 1, 1200, NULL), CACHE_STALE);
    cr_assert_eq(cache_ns_count(ns), 2);
    cr_assert_eq(cache_cron(1499, 1000), 0);
    cr_assert_eq(cache_cron(1500, 1000), 2);   /* both past grace: deleted */
    cr_assert_eq(cache_ns_count(ns), 0);
    cr_assert_eq(hnsw_count(ns->idx), 0);       /* gone from the index too */
    cr_assert_eq(look(ns, "How do I rotate my API keys?", 1, 1600, NULL), CACHE_MISS);
}

Test(cache, expired_runner_up_does_not_block_a_live_hit_by_margin) {
    tenant *t = tenant_get_or_create("t", 1);
    cache_ns *ns = mkns(t, "x", 0, 0);
    cache_put_args a = {0};
    a.prompt = "How do I reset my password quickly?";
    a.prompt_len = strlen(a.prompt);
    a.response = "old";
    a.response_len = 3;
    a.ttl_ms = 100;
    cache_entry *e;
    cr_assert_eq(cache_put(ns, &a, 0, &e), CACHE_OK);
    put(ns, "How do I reset my password?", "live", 0, 0);
    cr_assert_eq(look(ns, "how do I reset my password please", 0, 5000, &e), CACHE_SEMANTIC);
    cr_assert_str_eq(e->response.p, "live");
}

Test(cache, put_of_same_exact_prompt_replaces_and_del_removes_everywhere) {
    tenant *t = tenant_get_or_create("t", 1);
    cache_ns *ns = mkns(t, "x", 0, 0);
    uint64_t a = put(ns, "What is 2+2?", "4", 0, 0);
    uint64_t b = put(ns, "what is 2+2", "four", 0, 0);
    cr_assert_neq(a, b);
    cr_assert_null(cache_entry_by_id(ns, a));
    cr_assert_eq(cache_ns_count(ns), 1);
    cr_assert_eq(hnsw_count(ns->idx), 1);
    cache_entry_delete(ns, cache_entry_by_id(ns, b));
    cr_assert_eq(hnsw_count(ns->idx), 0);
    cr_assert_eq(look(ns, "What is 2+2?", 0, 0, NULL), CACHE_MISS);
    cr_assert_eq(cache_put(ns, &(cache_put_args){.prompt = " ?! ", .prompt_len = 4,
                                                 .response = "x", .response_len = 1,
                                                 .ttl_ms = -1},
                           0, &(cache_entry *){NULL}),
                 CACHE_EEMPTY);
}

Test(cache, eviction_prefers_answers_whose_loss_saves_least) {
    tenant *t = tenant_get_or_create("t", 1);
    cache_ns *ns = mkns(t, "x", 0, 0);
    char p[64];
    uint64_t popular_cheap = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "question %d about subject %d", i, i * 13);
        /* 20 cheap answers (1 nano-USD), 20 expensive ones (1 USD) */
        uint64_t id = put(ns, p, "r", i < 20 ? 1 : 1000000000, 0);
        if (i == 0) popular_cheap = id;
    }
    /* one cheap answer served 10^10 times is worth more than an expensive
     * answer never served: value = cost x (hits + 1) */
    cache_entry_by_id(ns, popular_cheap)->hits = 10000000000ULL;
    cr_assert_eq(cache_evict_count(19, 400), 19);
    cr_assert_eq(cache_ns_count(ns), 21);
    cr_assert_not_null(cache_entry_by_id(ns, popular_cheap));
    for (uint32_t i = 0; i < ns->nslots; i++) {
        cache_entry *e = ns->slots[i];
        if (e && e->id != popular_cheap) cr_assert_eq(e->cost_nusd, 1000000000, "cheap left");
    }
    cr_assert_eq(ns->st.evicted, 19);
    cr_assert_eq(hnsw_count(ns->idx), 21);
}
