/* test_canary.c -- the canary split and guard logic of cache_alias.c. The
 * threats: a split that drifts from the asked percent, a user who flips
 * arms between calls or when the percent is raised, two aliases whose
 * canaries select the same users, a percent parser that accepts nonsense,
 * a guard that judges a canary on too few requests or against an empty
 * stable arm, a guard that does not trip, a rollback that leaves traffic on
 * the canary, and a late request from an ended run counted on the next. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "server/cache.h"
#include "server/cache_alias.h"
#include "server/tenant.h"

/* |count - n p| <= 4 sigma of Binomial(n, p). */
static void assert_binomial(long count, long n, double p) {
    double mu = (double)n * p, sd = sqrt((double)n * p * (1 - p));
    cr_assert(fabs((double)count - mu) <= 4 * sd + 1e-9,
              "split %ld of %ld off p=%.4f (expected %.1f +- %.1f)", count, n, p, mu, 4 * sd);
}

static long canary_count(uint64_t salt, long n, uint32_t ppm) {
    long k = 0;
    char key[32];
    for (long i = 0; i < n; i++) {
        int len = snprintf(key, sizeof key, "user-%ld", i);
        k += canary_pick(salt, key, (size_t)len, ppm);
    }
    return k;
}

Test(canary_split, share_within_binomial_tolerance_of_percent) {
    uint64_t salt = canary_salt("faq", 3);
    const uint32_t ppms[] = {1000, 5000, 100000, 250000, 500000, 900000};
    for (size_t i = 0; i < sizeof ppms / sizeof ppms[0]; i++)
        assert_binomial(canary_count(salt, 200000, ppms[i]), 200000,
                        (double)ppms[i] / CANARY_PPM_MAX);
}

Test(canary_split, hundred_percent_takes_everyone_and_buckets_are_in_range) {
    uint64_t salt = canary_salt("a", 1);
    cr_assert_eq(canary_count(salt, 10000, CANARY_PPM_MAX), 10000);
    for (int i = 0; i < 10000; i++)
        cr_assert_lt(canary_bucket(salt, &i, sizeof i), CANARY_PPM_MAX);
}

Test(canary_split, a_user_stays_on_his_arm_across_calls) {
    uint64_t salt = canary_salt("faq", 3);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        int len = snprintf(key, sizeof key, "u%d", i);
        int first = canary_pick(salt, key, (size_t)len, 100000);
        for (int r = 0; r < 3; r++) cr_assert_eq(canary_pick(salt, key, (size_t)len, 100000), first);
    }
}

Test(canary_split, raising_the_percent_never_moves_a_canary_user_back) {
    uint64_t salt = canary_salt("faq", 3);
    char key[32];
    for (int i = 0; i < 20000; i++) {
        int len = snprintf(key, sizeof key, "u%d", i);
        if (canary_pick(salt, key, (size_t)len, 50000))
            cr_assert(canary_pick(salt, key, (size_t)len, 100000), "user %d left the canary", i);
    }
}

Test(canary_split, two_aliases_select_independent_users) {
    uint64_t s1 = canary_salt("faq", 3), s2 = canary_salt("support", 7);
    char key[32];
    long both = 0, n = 100000;
    for (long i = 0; i < n; i++) {
        int len = snprintf(key, sizeof key, "user-%ld", i);
        both += canary_pick(s1, key, (size_t)len, 500000) &&
                canary_pick(s2, key, (size_t)len, 500000);
    }
    assert_binomial(both, n, 0.25);   /* independent halves overlap on a quarter */
}

Test(canary_percent, parses_decimals_into_ppm) {
    uint32_t ppm;
    struct { const char *s; uint32_t want; } ok[] = {
        {"10", 100000}, {"50", 500000}, {"100", 1000000}, {"0.5", 5000}, {"0.0001", 1},
        {"12.3456", 123456}, {"100.0", 1000000}, {"7.25", 72500}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_assert_eq(canary_parse_percent(ok[i].s, strlen(ok[i].s), &ppm), 0, "%s", ok[i].s);
        cr_assert_eq(ppm, ok[i].want, "%s -> %u", ok[i].s, ppm);
    }
    const char *bad[] = {"0", "0.0", "0.00001", "100.0001", "101", "-1", "1e1", "", "5.",
                         ".5", "12.34567", "abc", " 5", "5 ", "1000000000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(canary_parse_percent(bad[i], strlen(bad[i]), &ppm), -1, "'%s' accepted",
                     bad[i]);
}

/* ---- arms and guards ---- */

static void feed(canary_arm_stats *a, int n, cache_tier tier, uint64_t lat_us) {
    for (int i = 0; i < n; i++) canary_arm_note_get(a, tier, 1000, lat_us);
}

Test(canary_arm, counts_tiers_rates_and_latency) {
    canary_arm_stats a;
    memset(&a, 0, sizeof a);
    feed(&a, 6, CACHE_EXACT, 40);
    feed(&a, 2, CACHE_SEMANTIC, 40);
    feed(&a, 1, CACHE_STALE, 40);
    feed(&a, 1, CACHE_MISS, 3000);
    cr_assert_eq(a.requests, 10);
    cr_assert_eq(a.hits_exact + a.hits_semantic + a.hits_stale, 9);
    cr_assert_eq(a.misses, 1);
    cr_assert_eq(a.saved_nusd, 9000, "misses save nothing");
    cr_assert_float_eq(canary_arm_hit_rate(&a), 0.9, 1e-12);
    cr_assert_float_eq(canary_arm_mean_latency_us(&a), (9 * 40 + 3000) / 10.0, 1e-9);
    cr_assert_eq(canary_arm_latency_quantile_us(&a, 0.5), 50, "40 us is in the (25,50] bucket");
    cr_assert_eq(canary_arm_latency_quantile_us(&a, 0.99), 5000);
    a.feedback_bad = 2;
    cr_assert_float_eq(canary_arm_bad_rate(&a), 0.2, 1e-12);
    canary_arm_stats z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(canary_arm_hit_rate(&z), 0);
    cr_assert_eq(canary_arm_latency_quantile_us(&z, 0.99), 0);
}

static canary_arm_stats st, cn;
static canary_guard g;
static char why[CANARY_REASON_MAX];

static void guard_setup(void) {
    memset(&st, 0, sizeof st);
    memset(&cn, 0, sizeof cn);
    canary_guard_default(&g);
    why[0] = '\0';
}

TestSuite(canary_guard, .init = guard_setup);

Test(canary_guard, default_guard_never_trips) {
    feed(&st, 1000, CACHE_EXACT, 10);
    feed(&cn, 1000, CACHE_MISS, 100000);
    cn.feedback_bad = 1000;
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 0);
}

Test(canary_guard, bad_rate_waits_for_min_requests_then_trips) {
    g.max_bad_rate = 0.05;
    g.min_requests = 100;
    feed(&cn, 99, CACHE_EXACT, 10);
    cn.feedback_bad = 50;
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 0, "99 < MIN-REQUESTS");
    feed(&cn, 1, CACHE_EXACT, 10);
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 1);
    cr_assert(strstr(why, "bad feedback rate 0.5000 > max 0.0500"), "%s", why);
    cr_assert(!strchr(why, '\n') && !strchr(why, '\r'));
}

Test(canary_guard, bad_rate_at_the_threshold_does_not_trip) {
    g.max_bad_rate = 0.05;
    g.min_requests = 1;
    feed(&cn, 100, CACHE_EXACT, 10);
    cn.feedback_bad = 5;
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 0);
    cn.feedback_bad = 6;
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 1);
}

Test(canary_guard, hit_rate_ratio_needs_a_stable_arm_to_compare_with) {
    g.min_hit_ratio = 0.8;
    g.min_requests = 50;
    feed(&cn, 100, CACHE_MISS, 10);          /* a cold canary */
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 0, "empty stable arm");
    feed(&st, 49, CACHE_EXACT, 10);
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 0, "stable below min");
    feed(&st, 1, CACHE_EXACT, 10);
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 1);
    cr_assert(strstr(why, "hit rate ratio 0.0000 < min 0.8000"), "%s", why);
}

Test(canary_guard, hit_rate_ratio_above_the_minimum_passes) {
    g.min_hit_ratio = 0.8;
    g.min_requests = 10;
    feed(&st, 100, CACHE_EXACT, 10);         /* stable hit rate 1.0 */
    feed(&cn, 85, CACHE_SEMANTIC, 10);
    feed(&cn, 15, CACHE_MISS, 10);           /* canary 0.85: ratio 0.85 */
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 0);
    feed(&cn, 10, CACHE_MISS, 10);           /* 85/110 = 0.77 */
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 1);
}

Test(canary_guard, latency_ratio_trips_on_a_slow_canary) {
    g.max_latency_ratio = 2.0;
    g.min_requests = 10;
    feed(&st, 10, CACHE_EXACT, 100);
    feed(&cn, 10, CACHE_EXACT, 150);
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 0);
    feed(&cn, 10, CACHE_EXACT, 1000);        /* mean 575 us vs 100 us */
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 1);
    cr_assert(strstr(why, "latency ratio 5.7500 > max 2.0000"), "%s", why);
}

Test(canary_guard, bad_rate_is_checked_first) {
    g.max_bad_rate = 0.1;
    g.max_latency_ratio = 1.0;
    g.min_requests = 1;
    feed(&st, 10, CACHE_EXACT, 10);
    feed(&cn, 10, CACHE_EXACT, 1000);
    cn.feedback_bad = 5;
    cr_assert_eq(canary_guard_check(&g, &st, &cn, why, sizeof why), 1);
    cr_assert(strncmp(why, "bad feedback rate", 17) == 0, "%s", why);
}

/* ---- the registry: routing, epochs, automatic rollback ---- */

static tenant *acme;
static cache_ns *v1, *v2;

static void reg_setup(void) {
    cache_ns_config cfg;
    cache_ns_config_default(&cfg);
    acme = tenant_get_or_create("acme", 4);
    cr_assert_eq(cache_ns_create(acme, "v1", 2, &cfg, &v1), CACHE_OK);
    cr_assert_eq(cache_ns_create(acme, "v2", 2, &cfg, &v2), CACHE_OK);
}

static void reg_teardown(void) {
    alias_shutdown();
    cache_shutdown();
    tenant_shutdown();
}

TestSuite(canary_registry, .init = reg_setup, .fini = reg_teardown);

static cache_ns *route_user(cache_alias *a, int i, alias_route *r) {
    char u[32];
    int len = snprintf(u, sizeof u, "user-%d", i);
    alias_key k = {u, (size_t)len, "acme", "some prompt", 11};
    return alias_resolve(a, &k, r);
}

Test(canary_registry, repoint_returns_previous_target_and_resolves_atomically) {
    uint64_t prev;
    cr_assert_eq(alias_set(acme, "faq", 3, v1, &prev), 0);
    cr_assert_eq(prev, 0);
    cache_alias *a = alias_find(acme, "faq", 3);
    cr_assert_not_null(a);
    cr_assert_eq(alias_resolve(a, NULL, NULL), v1);
    cr_assert_eq(alias_set(acme, "faq", 3, v2, &prev), 0);
    cr_assert_eq(prev, v1->generation);
    cr_assert_eq(alias_resolve(a, NULL, NULL), v2);
    cr_assert_null(alias_find(tenant_get_or_create("globex", 6), "faq", 3),
                   "another tenant must not see acme's alias");
    int as_canary;
    cr_assert_eq(alias_pinning(v2, &as_canary), a);
    cr_assert_null(alias_pinning(v1, &as_canary));
}

Test(canary_registry, split_counts_arms_and_guard_rolls_back) {
    uint64_t prev;
    alias_set(acme, "faq", 3, v1, &prev);
    cache_alias *a = alias_find(acme, "faq", 3);
    canary_start(a, v2, 200000, STICKY_USER);
    a->guard.max_bad_rate = 0.2;
    a->guard.min_requests = 50;
    long to_canary = 0;
    alias_route r;
    for (int i = 0; i < 2000; i++) {
        cache_ns *ns = route_user(a, i, &r);
        cr_assert(ns == (r.arm == ARM_CANARY ? v2 : v1));
        cr_assert_str_eq(r.ns, ns->name);
        to_canary += r.arm == ARM_CANARY;
        alias_route_get(&r, CACHE_EXACT, 10);
    }
    assert_binomial(to_canary, 2000, 0.2);
    cr_assert_eq(a->arm[ARM_CANARY].requests, (uint64_t)to_canary);
    cr_assert_eq(a->arm[ARM_STABLE].requests, (uint64_t)(2000 - to_canary));
    cr_assert_eq(a->status, CANARY_ACTIVE);
    /* bad feedback on the canary namespace until the guard trips */
    uint64_t before = g_canary_rollbacks_auto;
    for (int i = 0; a->status == CANARY_ACTIVE && i < 2000; i++) alias_feedback(v2, 1);
    cr_assert_eq(a->status, CANARY_ROLLED_BACK);
    cr_assert_eq(a->arm[ARM_CANARY].feedback_bad, (uint64_t)(to_canary / 5) + 1,
                 "trips on the first bad feedback over 20%%");
    cr_assert_eq(g_canary_rollbacks_auto, before + 1);
    cr_assert_eq(a->rollbacks_auto, 1);
    cr_assert(strstr(a->reason, "bad feedback rate"), "%s", a->reason);
    /* after the rollback everybody is on stable, and nothing is counted */
    uint64_t frozen = a->arm[ARM_STABLE].requests;
    for (int i = 0; i < 500; i++) {
        cr_assert_eq(route_user(a, i, &r), v1);
        alias_route_get(&r, CACHE_EXACT, 10);
    }
    cr_assert_eq(a->arm[ARM_STABLE].requests, frozen);
    int as_canary;
    cr_assert_null(alias_pinning(v2, &as_canary), "a rolled-back canary may be dropped");
}

Test(canary_registry, a_request_from_an_ended_run_is_not_counted_on_the_next) {
    uint64_t prev;
    alias_set(acme, "faq", 3, v1, &prev);
    cache_alias *a = alias_find(acme, "faq", 3);
    canary_start(a, v2, CANARY_PPM_MAX, STICKY_USER);
    alias_route r;
    cr_assert_eq(route_user(a, 1, &r), v2);
    canary_stop(a, CANARY_OFF, "off");
    canary_start(a, v2, CANARY_PPM_MAX, STICKY_USER);   /* a new run */
    alias_route_get(&r, CACHE_MISS, 0);                 /* the old request replies */
    alias_route_put(&r, 5000);
    cr_assert_eq(a->arm[ARM_CANARY].requests, 0);
    cr_assert_eq(a->arm[ARM_CANARY].spend_nusd, 0);
}

Test(canary_registry, promote_makes_the_canary_the_target) {
    uint64_t prev;
    alias_set(acme, "faq", 3, v1, &prev);
    cache_alias *a = alias_find(acme, "faq", 3);
    canary_start(a, v2, 10000, STICKY_PROMPT);
    canary_promote(a);
    cr_assert_eq(a->status, CANARY_PROMOTED);
    alias_route r;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(route_user(a, i, &r), v2);
        cr_assert_eq(r.arm, -1, "no arm once the run ended");
    }
}

Test(canary_registry, prompt_stickiness_ignores_the_user) {
    uint64_t prev;
    alias_set(acme, "faq", 3, v1, &prev);
    cache_alias *a = alias_find(acme, "faq", 3);
    canary_start(a, v2, 500000, STICKY_PROMPT);
    char p[32];
    long canary = 0;
    for (int i = 0; i < 1000; i++) {
        int len = snprintf(p, sizeof p, "Question number %d?", i);
        int arm = -2;
        for (int u = 0; u < 5; u++) {
            char un[8];
            int ul = snprintf(un, sizeof un, "u%d", u);
            alias_key k = {un, (size_t)ul, "acme", p, (size_t)len};
            alias_route r;
            alias_resolve(a, &k, &r);
            if (arm == -2) arm = r.arm;
            cr_assert_eq(r.arm, arm, "prompt %d moved with the user", i);
        }
        /* the normalised prompt decides: case and spacing do not matter */
        char q[40];
        int ql = snprintf(q, sizeof q, "  question NUMBER %d?  ", i);
        alias_key k2 = {"x", 1, "acme", q, (size_t)ql};
        alias_route r2;
        alias_resolve(a, &k2, &r2);
        cr_assert_eq(r2.arm, arm, "normalisation changed the arm of prompt %d", i);
        canary += arm == ARM_CANARY;
    }
    assert_binomial(canary, 1000, 0.5);
}
