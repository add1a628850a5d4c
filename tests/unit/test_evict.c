/* test_evict.c -- maxmemory eviction per policy.
 *
 * Threats: used memory running past maxmemory under continuous writes (the
 * 2% budget), an LRU/LFU policy evicting the keys that are in use, a
 * volatile-* policy evicting persistent keys, volatile-ttl evicting far
 * TTLs before near ones, and eviction looping forever or succeeding when
 * nothing can be evicted (must report -1 so the command gets -OOM).
 *
 * Limits are set relative to the process's current used memory, so the
 * tests hold in jemalloc and sanitizer builds alike. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/config.h"
#include "server/keyspace.h"
#include "server/mem.h"


static int64_t fake_now = 1700000000000LL;
static int64_t fake_clock(void) { return fake_now; }

static void setup(void) {
    config_init(); /* Redis defaults: noeviction, maxmemory 0, samples 5, hz 10 */
    g_cfg.maxmemory_samples = 5;
    g_cfg.active_expire_effort = 1;
    ks_set_clock(fake_clock);
    cr_assert_eq(ks_init(), 0);
    mem_refresh();
}

static void teardown(void) { ks_shutdown(); }

TestSuite(evict, .init = setup, .fini = teardown, .timeout = 120);

static char value[200];

static void put(const char *prefix, int i, int64_t when) {
    char k[48];
    int kl = sprintf(k, "%s:%d", prefix, i);
    cr_assert_eq(ks_set_string(k, (size_t)kl, value, sizeof(value), 0), 0);
    if (when > 0) ks_set_expire(ks_lookup(k, (size_t)kl, KS_LOOKUP_NOTOUCH), when);
}

static int has(const char *prefix, int i) {
    char k[48];
    int kl = sprintf(k, "%s:%d", prefix, i);
    return ks_lookup(k, (size_t)kl, KS_LOOKUP_NOTOUCH | KS_LOOKUP_NOSTATS) != NULL;
}

static void touch(const char *prefix, int i) {
    char k[48];
    int kl = sprintf(k, "%s:%d", prefix, i);
    ks_lookup(k, (size_t)kl, 0);
}

/* Writes n cold keys as a client would (evict, then write), touching the
 * hot keys every `touch_every` writes; asserts the memory bound at every
 * write. Returns the highest used/maxmemory ratio seen. */
static double flood(int n, int hot, int touch_every) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(ks_evict_if_needed(), 0, "eviction failed at write %d", i);
        put("cold", i, 0);
        double r = (double)mem_used() / (double)g_cfg.maxmemory;
        if (r > worst) worst = r;
        cr_assert_leq(r, 1.02, "used memory %.4f x maxmemory at write %d", r, i);
        if (i % 100 == 0) fake_now += 20;
        if (touch_every && i % touch_every == 0)
            for (int h = 0; h < hot; h++) touch("hot", h);
    }
    return worst;
}

static long long limit_above_now(size_t extra) {
    return (long long)(mem_refresh() + extra);
}

/* What a stream of DENYOOM commands does: each call evicts for a bounded
 * time (500 us), so a backlog needs several calls; stop when under the
 * limit or when eviction reports there is nothing left (-1). */
static int evict_until_done(void) {
    int rc;
    do rc = ks_evict_if_needed();
    while (rc == 0 && mem_used() > (size_t)g_cfg.maxmemory);
    return rc;
}

Test(evict, allkeys_lru_keeps_recently_touched_keys_and_stays_under_the_limit) {
    g_cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_LRU;
    for (int h = 0; h < 500; h++) put("hot", h, 0);
    g_cfg.maxmemory = limit_above_now(4 << 20);
    flood(150000, 500, 2000); /* ~6x what fits */
    int hot_alive = 0;
    for (int h = 0; h < 500; h++) hot_alive += has("hot", h);
    cr_assert_geq(hot_alive, 490, "only %d of 500 hot keys survived LRU", hot_alive);
    int early_alive = 0;
    for (int i = 0; i < 10000; i++) early_alive += has("cold", i);
    cr_assert_lt(early_alive, 500, "%d of the oldest cold keys survived", early_alive);
    cr_assert_gt(ks_stat_evicted(), 100000);
}

Test(evict, allkeys_lfu_keeps_frequently_used_keys) {
    g_cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_LFU;
    for (int h = 0; h < 300; h++) put("hot", h, 0);
    for (int rep = 0; rep < 30; rep++)
        for (int h = 0; h < 300; h++) touch("hot", h);
    g_cfg.maxmemory = limit_above_now(4 << 20);
    flood(100000, 300, 5000);
    int hot_alive = 0;
    for (int h = 0; h < 300; h++) hot_alive += has("hot", h);
    cr_assert_geq(hot_alive, 290, "only %d of 300 hot keys survived LFU", hot_alive);
}

Test(evict, allkeys_random_stays_under_the_limit) {
    g_cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_RANDOM;
    g_cfg.maxmemory = limit_above_now(4 << 20);
    flood(100000, 0, 0);
    cr_assert_gt(ks_stat_evicted(), 50000);
}

Test(evict, volatile_ttl_evicts_the_nearest_ttl_first) {
    g_cfg.maxmemory_policy = MAXMEMORY_VOLATILE_TTL;
    for (int i = 0; i < 2000; i++) put("p", i, 0);
    for (int i = 0; i < 2000; i++) put("v", i, fake_now + 10000 + (int64_t)i * 1000);
    /* Ask for about a quarter of the volatile keys' memory back. */
    size_t now = mem_refresh();
    g_cfg.maxmemory = (long long)(now - 500 * 240);
    cr_assert_eq(evict_until_done(), 0);
    for (int i = 0; i < 2000; i++) cr_assert(has("p", i), "persistent key p:%d evicted", i);
    long long evicted = 0, sum_idx = 0;
    for (int i = 0; i < 2000; i++)
        if (!has("v", i)) { evicted++; sum_idx += i; }
    cr_assert_gt(evicted, 300);
    double mean = (double)sum_idx / (double)evicted;
    /* Random choice would give a mean index near 1000. */
    cr_assert_lt(mean, 600, "mean index of evicted keys %.0f: not nearest-TTL first", mean);
}

Test(evict, volatile_policies_never_evict_persistent_keys) {
    int policies[] = {MAXMEMORY_VOLATILE_LRU, MAXMEMORY_VOLATILE_LFU,
                      MAXMEMORY_VOLATILE_RANDOM, MAXMEMORY_VOLATILE_TTL};
    for (int p = 0; p < 4; p++) {
        ks_flushall(0);
        g_cfg.maxmemory = 0;
        g_cfg.maxmemory_policy = policies[p];
        for (int i = 0; i < 1000; i++) put("p", i, 0);
        for (int i = 0; i < 200; i++) put("v", i, fake_now + 100000);
        g_cfg.maxmemory = (long long)(mem_refresh() / 2); /* unreachable */
        cr_assert_eq(evict_until_done(), -1, "policy %d: must report OOM", policies[p]);
        cr_assert_eq(ks_expires_count(), 0, "policy %d: volatile keys left", policies[p]);
        cr_assert_eq(ks_dbsize(), 1000, "policy %d: persistent keys evicted", policies[p]);
    }
}

Test(evict, noeviction_reports_oom_and_deletes_nothing) {
    g_cfg.maxmemory_policy = MAXMEMORY_NOEVICTION;
    for (int i = 0; i < 1000; i++) put("p", i, 0);
    g_cfg.maxmemory = (long long)(mem_refresh() - 1000);
    cr_assert_eq(ks_evict_if_needed(), -1);
    cr_assert_eq(ks_dbsize(), 1000);
    g_cfg.maxmemory = (long long)(mem_refresh() + 100000);
    cr_assert_eq(ks_evict_if_needed(), 0);
}

Test(evict, pool_entries_survive_deletes_and_overwrites) {
    /* Entries referenced by the eviction pool are deleted and overwritten
     * behind its back; the pool must never hand out a freed entry (ASan
     * catches a use-after-free here). */
    g_cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_LRU;
    for (int i = 0; i < 5000; i++) put("k", i, 0);
    g_cfg.maxmemory = (long long)(mem_refresh() - 20000);
    cr_assert_eq(evict_until_done(), 0); /* fills the pool */
    for (int i = 0; i < 5000; i += 2) {
        char k[48];
        int kl = sprintf(k, "k:%d", i);
        ks_delete(k, (size_t)kl);
        kl = sprintf(k, "k:%d", i + 1);
        ks_set_string(k, (size_t)kl, "x", 1, 0);
    }
    g_cfg.maxmemory = (long long)(mem_refresh() - 20000);
    cr_assert_eq(evict_until_done(), 0);
    cr_assert_lt(mem_used(), (size_t)g_cfg.maxmemory + 1);
}

Test(evict, a_large_backlog_is_evicted_in_bounded_steps) {
    /* maxmemory lowered far below the data: one command must not evict the
     * whole backlog (it would stall the loop); the cron finishes it. */
    g_cfg.maxmemory_policy = MAXMEMORY_ALLKEYS_RANDOM;
    for (int i = 0; i < 200000; i++) put("k", i, 0);
    g_cfg.maxmemory = limit_above_now(0) - (long long)(200000 * 200);
    cr_assert_eq(ks_evict_if_needed(), 0);
    cr_assert_gt(ks_dbsize(), 100000, "one call evicted %llu keys",
                 (unsigned long long)ks_stat_evicted());
    cr_assert_gt(ks_stat_evicted(), 0);
    for (int i = 0; i < 10000 && mem_used() > (size_t)g_cfg.maxmemory; i++)
        ks_active_expire_cycle(25000);
    cr_assert_leq(mem_used(), (size_t)g_cfg.maxmemory);
}
