/* cmd_limit.c -- LIMIT.SET/TAKE/INFO/DEL/LIST and CL.THROTTLE: the server
 * glue of ratelimit.c (which holds all the bucket and GCRA logic).
 *
 * Design decisions:
 * 1. One registry per process, created on first use with the monotonic
 *    clock (CLOCK_MONOTONIC, ns: sub-millisecond, immune to wall-clock
 *    steps). limits_start() gives it the loop; without a loop (unit tests,
 *    fuzz targets driving fake clients) WAIT is ignored and a take answers
 *    at once.
 * 2. A TAKE that waits parks the client (client_block + client_ref) and
 *    leaves it in the registry's queues. One uv_timer is armed for the
 *    next event rl_process() reports (a grant becoming possible or a
 *    deadline), rounded up to the next millisecond; every state change
 *    (take, set, del, completion) re-runs limits_kick(). The completion
 *    callback replies if the client is still open, then client_unblock
 *    (which resumes that client's pipelined requests, so replies stay in
 *    order) and client_unref. limits_kick is re-entrant through that path:
 *    a nested call only marks the outer one to run again.
 * 3. Disconnected waiters: net.c has no close hook, so the registry asks
 *    client_is_open() when a waiter reaches the head of its queues (before
 *    any token is taken) and limits_cron() sweeps every waiter from the hz
 *    timer (also done before LIMIT.INFO and INFO), so queue depth never
 *    counts a gone client for more than one hz period.
 * 4. CL.THROTTLE cells are not keyspace keys (as they are in redis-cell):
 *    they live in the registry and are forgotten once fully replenished,
 *    by an incremental scan in limits_cron.
 *
 * Threading: loop thread only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "cmd_handlers.h"
#include "errors.h"
#include "glob.h"
#include "info.h"
#include "cmd_limit.h"
#include "net.h"
#include "ratelimit.h"
#include "reply.h"
#include "sbuf.h"
#include "strconv.h"

static rl_registry *reg;
static uv_loop_t *limits_loop;
static uv_timer_t limits_timer;
static int timer_open, kick_depth, kick_again;

static uint64_t mono_ns(void *ud) {
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * RL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Waiters of the server's own takes (limits_take_for) carry this tag in
 * bit 0 of their owner pointer (client and iwait pointers are at least
 * 8-byte aligned, so the bit is free). */
#define OWNER_INTERNAL ((uintptr_t)1)
typedef struct iwait {
    limits_done_cb *cb;
    void *ud;
} iwait;

static int waiter_alive(void *owner) {
    if ((uintptr_t)owner & OWNER_INTERNAL) return 1;   /* bounded by its own wait */
    return client_is_open((client *)owner);
}

static void take_reply(client *c, rl_outcome o, uint64_t retry_ns, uint64_t waited_ns,
                       const uint64_t *remaining, int n);

static void waiter_done(rl_waiter *w, rl_outcome o, void *ud) {
    (void)ud;
    if ((uintptr_t)rl_waiter_owner(w) & OWNER_INTERNAL) {
        iwait *iw = (iwait *)((uintptr_t)rl_waiter_owner(w) & ~OWNER_INTERNAL);
        limits_done_cb *cb = iw->cb;
        void *cud = iw->ud;
        free(iw);
        cb(cud, o);
        return;
    }
    client *c = rl_waiter_owner(w);
    if (o != RL_GONE && client_is_open(c)) {
        uint64_t rem[RL_MAX_NAMES];
        int n = rl_waiter_count(w);
        for (int i = 0; i < n; i++) rem[i] = rl_waiter_remaining(w, i);
        take_reply(c, o, rl_waiter_retry_ns(w), rl_waiter_waited_ns(w), rem, n);
    }
    client_unblock(c);
    client_unref(c);
}

static rl_registry *registry(void) {
    if (reg == NULL) reg = rl_create(mono_ns, NULL, waiter_done, waiter_alive, NULL);
    return reg;
}

static void timer_cb(uv_timer_t *t);

/* Completes what can complete and arms the timer for the next event. */
static void limits_kick(void) {
    if (reg == NULL || !timer_open) return;
    if (kick_depth) {
        kick_again = 1;
        return;
    }
    kick_depth = 1;
    uint64_t next;
    do {
        kick_again = 0;
        next = rl_process(reg);
    } while (kick_again);
    kick_depth = 0;
    if (next == UINT64_MAX) {
        uv_timer_stop(&limits_timer);
        return;
    }
    uint64_t now = mono_ns(NULL);
    uint64_t ms = next > now ? (next - now + RL_NS_PER_MS - 1) / RL_NS_PER_MS : 0;
    /* The loop's cached time may lag; the timer fires early at worst, and
     * rl_process then re-arms for the rest. */
    uv_update_time(limits_loop);
    uv_timer_start(&limits_timer, timer_cb, ms, 0);
}

static void timer_cb(uv_timer_t *t) {
    (void)t;
    limits_kick();
}

void limits_start(uv_loop_t *loop) {
    if (registry() == NULL) return;
    limits_loop = loop;
    uv_timer_init(loop, &limits_timer);
    timer_open = 1;
}

void limits_stop(void) {
    if (reg) rl_shutdown(reg);
    if (timer_open) {
        timer_open = 0;
        uv_timer_stop(&limits_timer);
        uv_close((uv_handle_t *)&limits_timer, NULL);
    }
}

void limits_free(void) {
    rl_destroy(reg);
    reg = NULL;
}

void limits_cron(void) {
    if (reg == NULL) return;
    rl_sweep(reg);
    rl_cell_expire(reg, 4096);
    limits_kick();
}

void limits_get_stats(rl_stats *out) {
    if (reg == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    rl_sweep(reg);
    rl_get_stats(reg, out);
}

void limits_info(sbuf *o) {
    rl_stats s;
    limits_get_stats(&s);
    sbuf_printf(o,
                "# Limits\r\n"
                "limit_buckets:%llu\r\n"
                "limit_queue_depth:%llu\r\n"
                "limit_oldest_wait_ms:%llu\r\n"
                "limit_granted:%llu\r\n"
                "limit_denied:%llu\r\n"
                "limit_timed_out:%llu\r\n"
                "limit_cl_cells:%llu\r\n"
                "limit_cl_cells_expired:%llu\r\n",
                (unsigned long long)s.buckets, (unsigned long long)s.waiters,
                (unsigned long long)(s.oldest_wait_ns / RL_NS_PER_MS),
                (unsigned long long)s.granted, (unsigned long long)s.denied,
                (unsigned long long)s.timed_out, (unsigned long long)s.cells,
                (unsigned long long)s.cells_expired);
}

/* ---- replies ---- */

static void take_reply(client *c, rl_outcome o, uint64_t retry_ns, uint64_t waited_ns,
                       const uint64_t *remaining, int n) {
    reply_map(c, 5);
    reply_bulk_cstr(c, "granted");
    reply_integer(c, o == RL_GRANTED);
    reply_bulk_cstr(c, "reason");
    reply_bulk_cstr(c, rl_outcome_name(o));
    reply_bulk_cstr(c, "retry_after_ms");
    reply_integer(c, o == RL_GRANTED ? 0
                                     : (long long)((retry_ns + RL_NS_PER_MS - 1) / RL_NS_PER_MS));
    reply_bulk_cstr(c, "waited_ms");
    reply_integer(c, (long long)(waited_ns / RL_NS_PER_MS));
    reply_bulk_cstr(c, "remaining");
    reply_array(c, n);
    for (int i = 0; i < n; i++) reply_integer(c, (long long)remaining[i]);
}

static void reply_no_such_limit(client *c, const req_arg *a) {
    reply_errorf(c, "ERR no such limit '%.128s'", a->ptr);
}

/* ---- option parsing ---- */

static int parse_u64_or_reply(client *c, const req_arg *a, uint64_t lo, uint64_t hi,
                              const char *what, uint64_t *out) {
    unsigned long long v;
    if (strconv_ull(a->ptr, a->len, &v) != 0 || v < lo || v > hi) {
        reply_errorf(c, "ERR %s must be an integer between %llu and %llu", what,
                     (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Seconds with up to 9 decimals ("60", "0.5", "1.25") -> ns, exactly. */
static int parse_seconds_ns(const char *s, size_t len, uint64_t *out) {
    uint64_t whole = 0, frac = 0, scale = RL_NS_PER_S;
    size_t i = 0;
    int digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (whole > RL_MAX_PER_NS / RL_NS_PER_S) return -1;
        whole = whole * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (scale == 1) return -1;   /* finer than 1 ns */
            scale /= 10;
            frac += (uint64_t)(s[i] - '0') * scale;
        }
    }
    if (i != len || digits == 0 || whole > RL_MAX_PER_NS / RL_NS_PER_S) return -1;
    *out = whole * RL_NS_PER_S + frac;
    return 0;
}

static int parse_limit_set_or_reply(client *c, rl_params *p) {
    int have_rate = 0, have_per = 0, have_burst = 0;
    memset(p, 0, sizeof *p);
    p->queue_max = RL_DEFAULT_QUEUE;
    for (int j = 2; j < c->argc; j += 2) {
        const char *opt = c->argv[j].ptr;
        if (j + 1 >= c->argc) {
            reply_error(c, ERR_SYNTAX);
            return -1;
        }
        const req_arg *v = &c->argv[j + 1];
        uint64_t x;
        if (!strcasecmp(opt, "rate")) {
            if (parse_u64_or_reply(c, v, 1, RL_MAX_RATE, "RATE", &p->rate) != 0) return -1;
            have_rate = 1;
        } else if (!strcasecmp(opt, "per")) {
            if (parse_seconds_ns(v->ptr, v->len, &p->per_ns) != 0 ||
                p->per_ns < RL_MIN_PER_NS || p->per_ns > RL_MAX_PER_NS) {
                reply_error(c, "ERR PER must be a number of seconds between 0.001 and 31622400");
                return -1;
            }
            have_per = 1;
        } else if (!strcasecmp(opt, "burst")) {
            if (parse_u64_or_reply(c, v, 1, RL_MAX_BURST, "BURST", &p->burst) != 0) return -1;
            have_burst = 1;
        } else if (!strcasecmp(opt, "queue")) {
            if (parse_u64_or_reply(c, v, 0, RL_MAX_QUEUE, "QUEUE", &x) != 0) return -1;
            p->queue_max = (uint32_t)x;
        } else if (!strcasecmp(opt, "maxwait")) {
            if (parse_u64_or_reply(c, v, 0, RL_MAX_PER_NS / RL_NS_PER_MS, "MAXWAIT", &x) != 0)
                return -1;
            p->maxwait_ns = x * RL_NS_PER_MS;
        } else {
            reply_error(c, ERR_SYNTAX);
            return -1;
        }
    }
    if (!have_rate || !have_per || !have_burst) {
        reply_error(c, "ERR LIMIT.SET needs RATE, PER and BURST");
        return -1;
    }
    return 0;
}

/* LIMIT.TAKE name [name ...] [COST n] [WAIT ms]: names run up to the first
 * COST or WAIT (so a bucket cannot be called "cost" or "wait" here). */
static int parse_limit_take_or_reply(client *c, rl_take_req *q, const char **names,
                                     size_t *lens) {
    int j = 1;
    memset(q, 0, sizeof *q);
    q->cost = 1;
    for (; j < c->argc; j++) {
        const char *a = c->argv[j].ptr;
        if (!strcasecmp(a, "cost") || !strcasecmp(a, "wait")) break;
        if (q->n == RL_MAX_NAMES) {
            reply_errorf(c, "ERR at most %d limits in one LIMIT.TAKE", RL_MAX_NAMES);
            return -1;
        }
        names[q->n] = a;
        lens[q->n++] = c->argv[j].len;
    }
    if (q->n == 0) {
        reply_error(c, ERR_SYNTAX);
        return -1;
    }
    for (; j < c->argc; j += 2) {
        const char *opt = c->argv[j].ptr;
        if (j + 1 >= c->argc) {
            reply_error(c, ERR_SYNTAX);
            return -1;
        }
        uint64_t x;
        if (!strcasecmp(opt, "cost")) {
            if (parse_u64_or_reply(c, &c->argv[j + 1], 1, RL_MAX_BURST, "COST", &q->cost) != 0)
                return -1;
        } else if (!strcasecmp(opt, "wait")) {
            if (parse_u64_or_reply(c, &c->argv[j + 1], 0, RL_MAX_PER_NS / RL_NS_PER_MS, "WAIT",
                                   &x) != 0)
                return -1;
            q->wait = 1;
            q->wait_ns = x * RL_NS_PER_MS;
        } else {
            reply_error(c, ERR_SYNTAX);
            return -1;
        }
    }
    q->names = names;
    q->lens = lens;
    return 0;
}

/* ---- handlers ---- */

void cmd_limit_set(client *c) {
    rl_params p;
    if (registry() == NULL) {
        reply_error(c, ERR_OOM);
        return;
    }
    if (parse_limit_set_or_reply(c, &p) != 0) return;
    if (rl_set(reg, c->argv[1].ptr, c->argv[1].len, &p, NULL) != 0) {
        reply_error(c, ERR_OOM);
        return;
    }
    reply_ok(c);
    limits_kick();
}

void cmd_limit_take(client *c) {
    const char *names[RL_MAX_NAMES];
    size_t lens[RL_MAX_NAMES];
    rl_take_req q;
    rl_take_res res;
    if (registry() == NULL) {
        reply_error(c, ERR_OOM);
        return;
    }
    if (parse_limit_take_or_reply(c, &q, names, lens) != 0) return;
    if (!timer_open) q.wait = 0;   /* no loop to wake a waiter (design note 1) */
    q.owner = c;
    int rc = rl_take(reg, &q, &res);
    if (rc != 0) {
        const req_arg *bad = res.bad >= 0 ? &c->argv[1 + res.bad] : &c->argv[1];
        if (rc == RL_ENOENT) reply_no_such_limit(c, bad);
        else if (rc == RL_EDUP) reply_errorf(c, "ERR limit '%.128s' named twice", bad->ptr);
        else if (rc == RL_ECOST)
            reply_errorf(c, "ERR COST %llu exceeds the BURST of limit '%.128s': it could "
                            "never be granted", (unsigned long long)q.cost, bad->ptr);
        else reply_error(c, ERR_OOM);
        return;
    }
    if (res.outcome == RL_QUEUED) {
        client_block(c);
        client_ref(c);
        limits_kick();
        return;
    }
    take_reply(c, res.outcome, res.retry_after_ns, 0, res.remaining, q.n);
}

void cmd_limit_info(client *c) {
    rl_bucket_info bi;
    if (reg) rl_sweep(reg);
    if (reg == NULL || rl_info(reg, c->argv[1].ptr, c->argv[1].len, &bi) != 0) {
        reply_no_such_limit(c, &c->argv[1]);
        return;
    }
    reply_map(c, 13);
    reply_bulk_cstr(c, "name");
    reply_bulk(c, c->argv[1].ptr, c->argv[1].len);
    reply_bulk_cstr(c, "rate");
    reply_integer(c, (long long)bi.p.rate);
    reply_bulk_cstr(c, "per_ms");
    reply_double(c, (double)bi.p.per_ns / (double)RL_NS_PER_MS);
    reply_bulk_cstr(c, "burst");
    reply_integer(c, (long long)bi.p.burst);
    reply_bulk_cstr(c, "tokens");
    reply_double(c, bi.tokens);
    reply_bulk_cstr(c, "queue_depth");
    reply_integer(c, (long long)bi.queue_depth);
    reply_bulk_cstr(c, "queued_cost");
    reply_integer(c, (long long)bi.queued_cost);
    reply_bulk_cstr(c, "queue_max");
    reply_integer(c, (long long)bi.p.queue_max);
    reply_bulk_cstr(c, "maxwait_ms");
    reply_integer(c, (long long)(bi.p.maxwait_ns / RL_NS_PER_MS));
    reply_bulk_cstr(c, "oldest_wait_ms");
    reply_integer(c, (long long)(bi.oldest_wait_ns / RL_NS_PER_MS));
    reply_bulk_cstr(c, "granted");
    reply_integer(c, (long long)bi.granted);
    reply_bulk_cstr(c, "denied");
    reply_integer(c, (long long)bi.denied);
    reply_bulk_cstr(c, "timed_out");
    reply_integer(c, (long long)bi.timed_out);
}

void cmd_limit_del(client *c) {
    long long n = 0;
    for (int j = 1; j < c->argc; j++)
        if (reg && rl_del(reg, c->argv[j].ptr, c->argv[j].len) == 0) n++;
    reply_integer(c, n);
    limits_kick();
}

typedef struct name_vec {
    const char *pat;
    size_t plen;
    struct { const char *p; size_t n; } *v;
    size_t len, cap;
    int oom;
} name_vec;

static void collect_name(const char *name, size_t len, void *arg) {
    name_vec *nv = arg;
    if (nv->oom || (nv->pat && !glob_match(nv->pat, nv->plen, name, len, 0))) return;
    if (nv->len == nv->cap) {
        size_t ncap = nv->cap ? nv->cap * 2 : 16;
        void *nvv = realloc(nv->v, ncap * sizeof *nv->v);
        if (nvv == NULL) {
            nv->oom = 1;
            return;
        }
        nv->v = nvv;
        nv->cap = ncap;
    }
    nv->v[nv->len].p = name;
    nv->v[nv->len++].n = len;
}

static int name_cmp(const void *a, const void *b) {
    const struct { const char *p; size_t n; } *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int r = memcmp(x->p, y->p, m);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

void cmd_limit_list(client *c) {
    name_vec nv = {0};
    if (c->argc > 2) {
        reply_error(c, ERR_SYNTAX);
        return;
    }
    if (c->argc == 2) {
        nv.pat = c->argv[1].ptr;
        nv.plen = c->argv[1].len;
    }
    if (reg) rl_foreach(reg, collect_name, &nv);
    if (nv.oom) {
        free(nv.v);
        reply_error(c, ERR_OOM);
        return;
    }
    if (nv.len > 1) qsort(nv.v, nv.len, sizeof *nv.v, name_cmp);
    reply_array(c, (long)nv.len);
    for (size_t i = 0; i < nv.len; i++) reply_bulk(c, nv.v[i].p, nv.v[i].n);
    free(nv.v);
}

/* CL.THROTTLE key max_burst count_per_period period [quantity] */
void cmd_cl_throttle(client *c) {
    long long v[4] = {0, 0, 0, 1};
    if (c->argc > 6) {
        reply_errorf(c, "ERR Usage: cl.throttle <key> <max_burst> <count per period> "
                        "<period> [<quantity>]");
        return;
    }
    for (int j = 2; j < c->argc; j++) {
        if (strconv_ll(c->argv[j].ptr, c->argv[j].len, &v[j - 2]) != 0) {
            reply_error(c, ERR_NOT_INTEGER);
            return;
        }
    }
    rl_cell_res res;
    if (registry() == NULL) {
        reply_error(c, ERR_OOM);
        return;
    }
    int rc = rl_cell_throttle(reg, c->argv[1].ptr, c->argv[1].len, v[0], v[1], v[2], v[3], &res);
    if (rc == RL_ENOMEM) {
        reply_error(c, ERR_OOM);
        return;
    }
    if (rc != 0) {
        reply_error(c, "ERR max_burst and quantity must be >= 0, count and period > 0, "
                       "and the rate representable in nanoseconds");
        return;
    }
    reply_array(c, 5);
    reply_integer(c, res.limited);
    reply_integer(c, res.limit);
    reply_integer(c, res.remaining);
    reply_integer(c, res.retry_after_s);
    reply_integer(c, res.reset_after_s);
}

/* ---- takes by the server itself (cmd_limit.h) ---- */

int limits_take_for(const char *name, uint64_t cost, uint64_t wait_ms, limits_done_cb *cb,
                    void *ud) {
    if (registry() == NULL) return RL_ENOMEM;
    iwait *iw = malloc(sizeof *iw);
    if (iw == NULL) return RL_ENOMEM;
    iw->cb = cb;
    iw->ud = ud;
    size_t len = strlen(name);
    rl_take_req q;
    memset(&q, 0, sizeof q);
    q.names = &name;
    q.lens = &len;
    q.n = 1;
    q.cost = cost;
    q.wait = timer_open && wait_ms > 0;   /* no loop: no waiting (design note 1) */
    q.wait_ns = wait_ms * RL_NS_PER_MS;
    q.owner = (void *)((uintptr_t)iw | OWNER_INTERNAL);
    rl_take_res res;
    int rc = rl_take(reg, &q, &res);
    if (rc != 0 || res.outcome != RL_QUEUED) {
        free(iw);
        return rc != 0 ? rc : (int)res.outcome;
    }
    limits_kick();
    return RL_QUEUED;
}
