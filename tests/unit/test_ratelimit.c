/* test_ratelimit.c -- the bucket and GCRA math of ratelimit.c with a fake
 * clock: the threats are a drifting refill rate, a bucket that overfills,
 * a multi-bucket take that half-happens, a queue that lets a later small
 * request starve an earlier big one, an unbounded queue, a wait that never
 * ends, a gone client that still consumes tokens, and a CL.THROTTLE whose
 * numbers differ from redis-cell's. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "server/ratelimit.h"

#define S RL_NS_PER_S
#define MS RL_NS_PER_MS

static uint64_t fake_now;
static uint64_t fake_clock(void *ud) {
    (void)ud;
    return fake_now;
}

/* Completions, in order; owners are small integers cast to pointers. */
static int done_owner[64], done_outcome[64], ndone;
static int alive_flag[64];
static void on_done(rl_waiter *w, rl_outcome o, void *ud) {
    (void)ud;
    done_owner[ndone] = (int)(intptr_t)rl_waiter_owner(w);
    done_outcome[ndone++] = (int)o;
}
static int on_alive(void *owner) { return alive_flag[(intptr_t)owner]; }

static rl_registry *reg;

static void setup(void) {
    fake_now = 1000 * S;
    ndone = 0;
    for (int i = 0; i < 64; i++) alive_flag[i] = 1;
    reg = rl_create(fake_clock, NULL, on_done, on_alive, NULL);
    cr_assert_not_null(reg);
}
static void teardown(void) { rl_destroy(reg); }

static void mk(const char *name, uint64_t rate, uint64_t per_ns, uint64_t burst, uint32_t q,
               uint64_t maxwait_ns) {
    rl_params p = {rate, per_ns, burst, q, maxwait_ns};
    cr_assert_eq(rl_set(reg, name, strlen(name), &p, NULL), 0);
}

/* A take on the named buckets (NULL-terminated list). */
static int take_v(const char **names, uint64_t cost, int wait, uint64_t wait_ns, int owner,
                  rl_take_res *res) {
    size_t lens[RL_MAX_NAMES];
    int n = 0;
    while (names[n]) {
        lens[n] = strlen(names[n]);
        n++;
    }
    rl_take_req q = {names, lens, n, cost, wait, wait_ns, (void *)(intptr_t)owner};
    return rl_take(reg, &q, res);
}
static rl_outcome take1(const char *name, uint64_t cost, int wait, uint64_t wait_ns, int owner) {
    const char *names[] = {name, NULL};
    rl_take_res res;
    cr_assert_eq(take_v(names, cost, wait, wait_ns, owner, &res), 0);
    return res.outcome;
}
static double tokens(const char *name) {
    rl_bucket_info bi;
    cr_assert_eq(rl_info(reg, name, strlen(name), &bi), 0);
    return bi.tokens;
}
static uint64_t depth(const char *name) {
    rl_bucket_info bi;
    cr_assert_eq(rl_info(reg, name, strlen(name), &bi), 0);
    return bi.queue_depth;
}

TestSuite(ratelimit, .init = setup, .fini = teardown);

Test(ratelimit, refill_rate_is_exact_over_a_long_simulated_period) {
    /* 7 tokens every 3 s, touched every 777777 ns for 3000 s: exactly 7000
     * tokens are ever granted (no drift from the odd step). */
    mk("a", 7, 3 * S, 100, 0, 0);
    cr_assert_eq(take1("a", 100, 0, 0, 0), RL_GRANTED);
    uint64_t start = fake_now, granted = 0;
    while (fake_now - start < 3000 * S) {
        fake_now += 777777;
        if (fake_now - start > 3000 * S) fake_now = start + 3000 * S;
        while (take1("a", 1, 0, 0, 0) == RL_GRANTED) granted++;
    }
    cr_assert_eq(granted, 7000, "granted %llu", (unsigned long long)granted);
    cr_assert_float_eq(tokens("a"), 0.0, 1e-9);
    /* And the fraction in between: half a period later, 3.5 tokens. */
    fake_now += 3 * S / 2;
    cr_assert_float_eq(tokens("a"), 3.5, 1e-9);
}

Test(ratelimit, burst_caps_the_level_after_idle_time) {
    mk("a", 10, S, 5, 0, 0);
    cr_assert_float_eq(tokens("a"), 5.0, 1e-12);          /* starts full */
    cr_assert_eq(take1("a", 5, 0, 0, 0), RL_GRANTED);
    fake_now += 3600 * S;
    cr_assert_float_eq(tokens("a"), 5.0, 1e-12);
    cr_assert_eq(take1("a", 5, 0, 0, 0), RL_GRANTED);
    cr_assert_eq(take1("a", 1, 0, 0, 0), RL_LIMITED);
}

Test(ratelimit, multi_bucket_take_is_all_or_nothing) {
    mk("model", 1, S, 5, 0, 0);
    mk("user", 1, S, 5, 0, 0);
    const char *both[] = {"model", "user", NULL};
    rl_take_res res;
    cr_assert_eq(take1("user", 4, 0, 0, 0), RL_GRANTED);  /* user: 1 left */
    cr_assert_eq(take_v(both, 2, 0, 0, 0, &res), 0);
    cr_assert_eq(res.outcome, RL_LIMITED);
    cr_assert_eq(res.remaining[0], 5);                     /* model untouched */
    cr_assert_eq(res.remaining[1], 1);
    cr_assert_eq(res.retry_after_ns, 1 * S);               /* user needs 1 more */
    cr_assert_float_eq(tokens("model"), 5.0, 1e-12);
    cr_assert_eq(take_v(both, 1, 0, 0, 0, &res), 0);
    cr_assert_eq(res.outcome, RL_GRANTED);
    cr_assert_eq(res.remaining[0], 4);
    cr_assert_eq(res.remaining[1], 0);
}

Test(ratelimit, take_errors_change_nothing) {
    mk("a", 1, S, 5, 0, 0);
    const char *unknown[] = {"a", "nope", NULL};
    const char *dup[] = {"a", "a", NULL};
    rl_take_res res;
    cr_assert_eq(take_v(unknown, 1, 0, 0, 0, &res), RL_ENOENT);
    cr_assert_eq(res.bad, 1);
    cr_assert_eq(take_v(dup, 1, 0, 0, 0, &res), RL_EDUP);
    cr_assert_eq(res.bad, 1);
    const char *one[] = {"a", NULL};
    cr_assert_eq(take_v(one, 6, 1, 0, 0, &res), RL_ECOST);   /* cost > burst */
    cr_assert_eq(take_v(one, 0, 0, 0, 0, &res), RL_EINVAL);
    cr_assert_float_eq(tokens("a"), 5.0, 1e-12);
    rl_params bad = {0, S, 5, 0, 0};
    cr_assert_eq(rl_set(reg, "b", 1, &bad, NULL), RL_EINVAL);
    bad = (rl_params){1, 1, 5, 0, 0};                         /* PER under 1 ms */
    cr_assert_eq(rl_set(reg, "b", 1, &bad, NULL), RL_EINVAL);
}

Test(ratelimit, fifo_a_later_small_request_does_not_pass_an_earlier_big_one) {
    mk("a", 1, S, 10, 10, 0);
    cr_assert_eq(take1("a", 10, 0, 0, 0), RL_GRANTED);        /* empty */
    cr_assert_eq(take1("a", 5, 1, 0, 1), RL_QUEUED);          /* big, first */
    cr_assert_eq(take1("a", 1, 1, 0, 2), RL_QUEUED);          /* small, later */
    /* The next event is the big one's grant, 5 s from now. */
    cr_assert_eq(rl_process(reg), fake_now + 5 * S);
    fake_now += 2 * S;                                        /* 2 tokens: enough for #2 */
    rl_process(reg);
    cr_assert_eq(ndone, 0);
    /* Nor may a newcomer without WAIT take them. */
    cr_assert_eq(take1("a", 1, 0, 0, 3), RL_LIMITED);
    fake_now += 3 * S;
    uint64_t next = rl_process(reg);
    cr_assert_eq(ndone, 1);
    cr_assert_eq(done_owner[0], 1);
    cr_assert_eq(done_outcome[0], RL_GRANTED);
    cr_assert_eq(next, fake_now + 1 * S);
    fake_now += 1 * S;
    cr_assert_eq(rl_process(reg), UINT64_MAX);
    cr_assert_eq(ndone, 2);
    cr_assert_eq(done_owner[1], 2);
    cr_assert_eq(depth("a"), 0);
}

Test(ratelimit, multi_bucket_waiter_holds_its_place_and_never_deadlocks) {
    /* #1 waits on A and B (B empty); #2 waits on A only and A has tokens:
     * #2 still waits behind #1 (head-of-line per bucket). #3 waits on B
     * then A in the other order: arrival order decides, no deadlock. */
    mk("A", 1, S, 10, 10, 0);
    mk("B", 1, S, 10, 10, 0);
    cr_assert_eq(take1("B", 10, 0, 0, 0), RL_GRANTED);
    const char *ab[] = {"A", "B", NULL}, *ba[] = {"B", "A", NULL};
    rl_take_res res;
    cr_assert_eq(take_v(ab, 2, 1, 0, 1, &res), 0);
    cr_assert_eq(res.outcome, RL_QUEUED);
    cr_assert_eq(take1("A", 1, 1, 0, 2), RL_QUEUED);
    cr_assert_eq(take_v(ba, 1, 1, 0, 3, &res), 0);
    rl_process(reg);
    cr_assert_eq(ndone, 0);
    fake_now += 2 * S;                                       /* B: 2 tokens */
    rl_process(reg);
    cr_assert_eq(ndone, 2);
    cr_assert_eq(done_owner[0], 1);
    cr_assert_eq(done_owner[1], 2);                          /* A had plenty */
    fake_now += 1 * S;
    rl_process(reg);
    cr_assert_eq(ndone, 3);
    cr_assert_eq(done_owner[2], 3);
    cr_assert_float_eq(tokens("A"), 10.0 - 2 - 1 + 1 - 1, 1e-9);  /* capped at 10 until t+2 s */
}

Test(ratelimit, bounded_queue_denies_at_once) {
    mk("a", 1, S, 1, 2, 0);
    cr_assert_eq(take1("a", 1, 0, 0, 0), RL_GRANTED);
    cr_assert_eq(take1("a", 1, 1, 0, 1), RL_QUEUED);
    cr_assert_eq(take1("a", 1, 1, 0, 2), RL_QUEUED);
    const char *one[] = {"a", NULL};
    rl_take_res res;
    cr_assert_eq(take_v(one, 1, 1, 0, 3, &res), 0);
    cr_assert_eq(res.outcome, RL_QUEUE_FULL);
    cr_assert_eq(res.retry_after_ns, 3 * S);                 /* 2 ahead + itself */
    cr_assert_eq(depth("a"), 2);
    rl_bucket_info bi;
    rl_info(reg, "a", 1, &bi);
    cr_assert_eq(bi.denied, 1);
    cr_assert_eq(bi.queued_cost, 2);
}

Test(ratelimit, maxwait_caps_wait_and_times_out) {
    mk("a", 1, 10 * S, 1, 10, 100 * MS);
    cr_assert_eq(take1("a", 1, 0, 0, 0), RL_GRANTED);
    cr_assert_eq(take1("a", 1, 1, 0, 1), RL_QUEUED);         /* WAIT 0: forever, capped */
    cr_assert_eq(take1("a", 1, 1, 50 * MS, 2), RL_QUEUED);   /* shorter than MAXWAIT */
    cr_assert_eq(rl_process(reg), fake_now + 50 * MS);
    fake_now += 50 * MS - 1;
    rl_process(reg);
    cr_assert_eq(ndone, 0);
    fake_now += 1;
    rl_process(reg);
    cr_assert_eq(ndone, 1);
    cr_assert_eq(done_owner[0], 2);
    cr_assert_eq(done_outcome[0], RL_TIMEOUT);
    fake_now += 50 * MS;
    cr_assert_eq(rl_process(reg), UINT64_MAX);
    cr_assert_eq(ndone, 2);
    cr_assert_eq(done_owner[1], 1);
    cr_assert_eq(done_outcome[1], RL_TIMEOUT);
    rl_bucket_info bi;
    rl_info(reg, "a", 1, &bi);
    cr_assert_eq(bi.timed_out, 2);
    cr_assert_eq(bi.queue_depth, 0);
}

Test(ratelimit, gone_waiter_leaves_the_queue_without_taking_tokens) {
    mk("a", 1, S, 2, 10, 0);
    cr_assert_eq(take1("a", 2, 0, 0, 0), RL_GRANTED);
    cr_assert_eq(take1("a", 2, 1, 0, 1), RL_QUEUED);
    cr_assert_eq(take1("a", 1, 1, 0, 2), RL_QUEUED);
    alive_flag[1] = 0;
    rl_sweep(reg);
    cr_assert_eq(ndone, 1);
    cr_assert_eq(done_outcome[0], RL_GONE);
    cr_assert_eq(depth("a"), 1);
    fake_now += 1 * S;                                      /* #2 is now the head */
    rl_process(reg);
    cr_assert_eq(ndone, 2);
    cr_assert_eq(done_owner[1], 2);
    cr_assert_eq(done_outcome[1], RL_GRANTED);
    cr_assert_float_eq(tokens("a"), 0.0, 1e-12);
    /* A dead owner met at the head is dropped before any token is taken. */
    cr_assert_eq(take1("a", 1, 1, 0, 3), RL_QUEUED);
    alive_flag[3] = 0;
    fake_now += 1 * S;
    rl_process(reg);
    cr_assert_eq(done_outcome[2], RL_GONE);
    cr_assert_float_eq(tokens("a"), 1.0, 1e-12);
}

Test(ratelimit, delete_and_reconfigure_answer_waiters) {
    mk("a", 1, S, 5, 10, 0);
    mk("b", 1, S, 5, 10, 0);
    cr_assert_eq(take1("a", 5, 0, 0, 0), RL_GRANTED);
    const char *ab[] = {"a", "b", NULL};
    rl_take_res res;
    cr_assert_eq(take_v(ab, 4, 1, 0, 1, &res), 0);
    cr_assert_eq(take1("a", 1, 1, 0, 2), RL_QUEUED);
    rl_params p = {1, S, 3, 10, 0};                          /* burst 5 -> 3 */
    cr_assert_eq(rl_set(reg, "a", 1, &p, NULL), 0);
    cr_assert_eq(ndone, 1);
    cr_assert_eq(done_owner[0], 1);
    cr_assert_eq(done_outcome[0], RL_RECONFIGURED);
    cr_assert_eq(depth("b"), 0);
    cr_assert_eq(rl_del(reg, "a", 1), 0);
    cr_assert_eq(ndone, 2);
    cr_assert_eq(done_outcome[1], RL_DELETED);
    cr_assert_eq(rl_del(reg, "a", 1), RL_ENOENT);
    cr_assert_float_eq(tokens("b"), 5.0, 1e-12);             /* untouched */
}

Test(ratelimit, update_keeps_tokens_and_caps_them) {
    mk("a", 10, S, 10, 0, 0);
    cr_assert_eq(take1("a", 4, 0, 0, 0), RL_GRANTED);        /* 6 left */
    mk("a", 1, 60 * S, 8, 0, 0);                              /* new period: still 6 */
    cr_assert_float_eq(tokens("a"), 6.0, 1e-9);
    mk("a", 1, 60 * S, 3, 0, 0);                              /* capped */
    cr_assert_float_eq(tokens("a"), 3.0, 1e-9);
}

Test(ratelimit, stats_report_depth_and_oldest_waiter) {
    mk("a", 1, S, 1, 10, 0);
    cr_assert_eq(take1("a", 1, 0, 0, 0), RL_GRANTED);
    cr_assert_eq(take1("a", 1, 1, 0, 1), RL_QUEUED);
    fake_now += 300 * MS;
    cr_assert_eq(take1("a", 1, 1, 0, 2), RL_QUEUED);
    fake_now += 200 * MS;
    rl_stats st;
    rl_get_stats(reg, &st);
    cr_assert_eq(st.buckets, 1);
    cr_assert_eq(st.waiters, 2);
    cr_assert_eq(st.oldest_wait_ns, 500 * MS);
    rl_bucket_info bi;
    rl_info(reg, "a", 1, &bi);
    cr_assert_eq(bi.oldest_wait_ns, 500 * MS);
}

/* ---- GCRA (CL.THROTTLE) ---- */

static rl_cell_res cl(const char *key, int64_t burst, int64_t count, int64_t period, int64_t q) {
    rl_cell_res r;
    cr_assert_eq(rl_cell_throttle(reg, key, strlen(key), burst, count, period, q, &r), 0);
    return r;
}

Test(ratelimit, cl_throttle_matches_redis_cell_readme_example) {
    /* CL.THROTTLE user123 15 30 60 1 -> 0 16 15 -1 2 */
    rl_cell_res r = cl("user123", 15, 30, 60, 1);
    cr_assert_eq(r.limited, 0);
    cr_assert_eq(r.limit, 16);
    cr_assert_eq(r.remaining, 15);
    cr_assert_eq(r.retry_after_s, -1);
    cr_assert_eq(r.reset_after_s, 2);
}

Test(ratelimit, cl_throttle_hand_derived_burst_sequence) {
    /* max_burst 2, 1 per 1 s: emission 1 s, tolerance 3 s, limit 3. */
    int64_t want[][4] = {  /* limited, remaining, retry_s, reset_s */
        {0, 2, -1, 1}, {0, 1, -1, 2}, {0, 0, -1, 3}, {1, 0, 1, 3},
    };
    for (int i = 0; i < 4; i++) {
        rl_cell_res r = cl("k", 2, 1, 1, 1);
        cr_assert_eq(r.limit, 3);
        cr_assert_eq(r.limited, want[i][0], "call %d", i);
        cr_assert_eq(r.remaining, want[i][1], "call %d", i);
        cr_assert_eq(r.retry_after_s, want[i][2], "call %d", i);
        cr_assert_eq(r.reset_after_s, want[i][3], "call %d", i);
    }
    /* 1.5 s later the TAT is 1.5 s ahead: allowed, TTL 2.5 s -> 3 (rounded
     * up), tolerance left 0.5 s -> 0 remaining. */
    fake_now += 1500 * MS;
    rl_cell_res r = cl("k", 2, 1, 1, 1);
    cr_assert_eq(r.limited, 0);
    cr_assert_eq(r.remaining, 0);
    cr_assert_eq(r.reset_after_ns, 2500 * (int64_t)MS);
    cr_assert_eq(r.reset_after_s, 3);
    cr_assert_eq(r.retry_after_s, -1);
}

Test(ratelimit, cl_throttle_matches_redis_cell_test_table) {
    /* redis-cell's it_rate_limits: limit 5 (max_burst 4), 1 per second.
     * {offset ms, quantity, remaining, reset ms, retry ms (-1000: none), limited} */
    static const int64_t cases[][6] = {
        {0, 6, 5, 0, -1000, 1},       {0, 1, 4, 1000, -1000, 0},
        {0, 1, 3, 2000, -1000, 0},    {0, 1, 2, 3000, -1000, 0},
        {0, 1, 1, 4000, -1000, 0},    {0, 1, 0, 5000, -1000, 0},
        {0, 1, 0, 5000, 1000, 1},     {3000, 1, 2, 3000, -1000, 0},
        {3100, 1, 1, 3900, -1000, 0}, {4000, 1, 1, 4000, -1000, 0},
        {8000, 1, 4, 1000, -1000, 0}, {9500, 1, 4, 1000, -1000, 0},
        {9500, 0, 4, 1000, -1000, 0}, {9500, 2, 2, 3000, -1000, 0},
        {9500, 5, 2, 3000, 3000, 1},
    };
    uint64_t start = fake_now;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_now = start + (uint64_t)cases[i][0] * MS;
        rl_cell_res r = cl("foo", 4, 1, 1, cases[i][1]);
        cr_assert_eq(r.limit, 5);
        cr_assert_eq(r.remaining, cases[i][2], "case %zu remaining %lld", i,
                     (long long)r.remaining);
        cr_assert_eq(r.reset_after_ns, cases[i][3] * (int64_t)MS, "case %zu reset %lld", i,
                     (long long)r.reset_after_ns);
        cr_assert_eq(r.retry_after_ns, cases[i][4] * (int64_t)MS, "case %zu retry", i);
        cr_assert_eq(r.limited, cases[i][5], "case %zu limited", i);
    }
}

Test(ratelimit, cl_throttle_drops_a_sub_millisecond_remainder_like_redis_cell) {
    /* max_burst 1, 1/s: two takes fill the tolerance (TAT = +2 s); a take
     * of 2 at +0.9999995 s must wait 1.0000005 s, reported as 1 second
     * (redis-cell rounds up only on a millisecond part). */
    cl("k", 1, 1, 1, 2);
    fake_now += 999999500;
    rl_cell_res r = cl("k", 1, 1, 1, 2);
    cr_assert_eq(r.limited, 1);
    cr_assert_eq(r.retry_after_ns, 1000000500);
    cr_assert_eq(r.retry_after_s, 1);
    cr_assert_eq(r.reset_after_s, 1);
}

Test(ratelimit, cl_throttle_rejects_what_redis_cell_cannot_compute) {
    rl_cell_res r;
    cr_assert_eq(rl_cell_throttle(reg, "k", 1, -1, 1, 1, 1, &r), RL_EINVAL);
    cr_assert_eq(rl_cell_throttle(reg, "k", 1, 1, 0, 1, 1, &r), RL_EINVAL);
    cr_assert_eq(rl_cell_throttle(reg, "k", 1, 1, 1, 0, 1, &r), RL_EINVAL);
    cr_assert_eq(rl_cell_throttle(reg, "k", 1, 1, 1, 1, -1, &r), RL_EINVAL);
    cr_assert_eq(rl_cell_throttle(reg, "k", 1, INT64_MAX, 1, 1, 1, &r), RL_EINVAL);
    cr_assert_eq(rl_cell_throttle(reg, "k", 1, 1, 2000000000LL, 1, 1, &r), RL_EINVAL);
}

Test(ratelimit, idle_cells_are_forgotten_once_replenished) {
    cl("a", 5, 1, 10, 1);      /* TAT +10 s */
    cl("b", 5, 1, 1, 1);       /* TAT +1 s */
    rl_stats st;
    rl_get_stats(reg, &st);
    cr_assert_eq(st.cells, 2);
    fake_now += 2 * S;
    cr_assert_eq(rl_cell_expire(reg, 1000), 1);
    rl_get_stats(reg, &st);
    cr_assert_eq(st.cells, 1);
    fake_now += 10 * S;
    cr_assert_eq(rl_cell_expire(reg, 1000), 1);
    rl_get_stats(reg, &st);
    cr_assert_eq(st.cells, 0);
    /* A forgotten cell answers as a new one. */
    rl_cell_res r = cl("a", 5, 1, 10, 1);
    cr_assert_eq(r.remaining, 5);
}
