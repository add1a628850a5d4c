/* cmd_cache.c -- CACHE.* commands: namespaces, PUT/GET/SEARCH/DEL/FLUSH,
 * WAIT coalescing of identical misses, and the cache's cron/eviction hooks.
 *
 * Design decisions:
 * 1. The tenant of a request comes from the connection (tenant_role_of);
 *    a TENANT argument is accepted only from admin and gateway users, and a
 *    tenant user giving one gets -NOPERM, even for its own tenant, so a
 *    misconfigured client fails loudly instead of silently.
 * 2. GET replies with a map (RESP3) / flat array (RESP2) whose first field
 *    is always `tier` (exact|semantic|stale|miss), so a gateway can log
 *    which tier served every request (the seed's observability rule).
 *    A miss carries `budget` (ok|exhausted) and `fill` (1 if this caller is
 *    expected to call the model and PUT the answer).
 * 3. WAIT coalescing: the first GET ... WAIT ms that misses on an exact key
 *    registers a pending fill (deadline now + ms) and gets `fill 1`; other
 *    GET ... WAIT on the same namespace generation + exact key while the
 *    fill is pending are parked (client_block + client_ref + a uv_timer of
 *    their own ms). A PUT of that key answers every parked caller as an
 *    exact hit; a waiter's timer answers it with a miss (`fill 1`). The
 *    completion re-checks client_is_open and the namespace generation
 *    (a DROP in between makes waiters time out with a miss). Pending fills
 *    are a linked list: they live for at most one WAIT, and the list is
 *    expected to stay short (concurrent distinct in-flight misses).
 * 4. Eviction: CACHE.PUT is not flagged DENYOOM (the keyspace's check
 *    would refuse it before the cache could free anything). Instead PUT,
 *    when used memory is over maxmemory and maxmemory-policy is not
 *    noeviction (Redis's meaning: never evict), calls cache_evict first
 *    (sampled, cost x hits; cache.c note 6), then ks_evict_if_needed for
 *    plain keys, and replies -OOM only if memory is still over the limit.
 *    The hz cron runs the same cache eviction, so memory freed by other
 *    means is not needed before a PUT arrives. Under noeviction a PUT over
 *    the limit gets -OOM, as SET does.
 * 5. Threaded semantic search: CACHE.GET's semantic tier and CACHE.SEARCH
 *    run their HNSW search on the vector-set search pool (vset_pool(),
 *    workers.h) when the namespace holds at least CACHE_ASYNC_MIN (64)
 *    entries; the exact tier, the embedding, the lexscore pick, stats, the
 *    ledger and WAIT coalescing stay on the loop (cache.c note 8). The
 *    client is parked (client_block + client_ref) so its pipelined requests
 *    wait and replies keep their order. The completion replies nothing if
 *    the client closed; a namespace dropped meanwhile answers a miss (GET)
 *    or an empty array (SEARCH). A full queue or no pool: the loop answers
 *    inline, as VSIM does; so does an idle pool when the opt-in
 *    `vset-inline-when-idle` is on (no job outstanding, one search per loop
 *    iteration), where the hand-off would cost more than it overlaps
 *    (workers.c note 6). INFO cache counts both paths.
 * 6. Threaded insert: CACHE.PUT needs no parking. cache_put stores the
 *    entry and this command replies with its id at once; the HNSW insert
 *    runs on the same pool for namespaces of at least CACHE_ASYNC_MIN
 *    entries (cache.c note 9); lookups meanwhile also compare against the
 *    in-flight vectors, so a pipelined GET sees the PUT in both tiers.
 *    INFO cache: cache_inserts_inflight / _threaded / _inline / _orphaned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "cache.h"
#include "cache_embed.h"
#include "cache_alias.h"
#include "cache_args.h"
#include "cmd_handlers.h"
#include "commands.h"
#include "config.h"
#include "errors.h"
#include "keyspace.h"
#include "mem.h"
#include "net.h"
#include "obs.h"
#include "reply.h"
#include "sbuf.h"
#include "strconv.h"
#include "tenant.h"
#include "vset.h"
#include "workers.h"

/* A string literal as a bulk reply, its length known at compile time
 * (strlen in reply_bulk_cstr showed in the exact-hit profile). */
#define REPLY_LIT(c, s) reply_bulk((c), "" s, sizeof(s) - 1)

/* ---- tenant and namespace resolution ---- */

static cache_ns *ns_or_reply(client *c, tenant *t, const req_arg *name) {
    cache_ns *ns = cache_ns_find(t, name->ptr, name->len);
    if (!ns) return alias_ns_or_reply(c, t, name, NULL, NULL);   /* sc/canary */
    return ns;
}

static int64_t now_ms(void) { return ks_now_ms(); }

/* Parses a non-negative integer argument. -1 after replying. */
static int nonneg_or_reply(client *c, const req_arg *a, long long *out) {
    if (strconv_ll(a->ptr, a->len, out) != 0 || *out < 0) {
        reply_error(c, ERR_NOT_INTEGER);
        return -1;
    }
    return 0;
}

static int unit_or_reply(client *c, const req_arg *a, float *out) {
    double d;
    if (strconv_d(a->ptr, a->len, &d) != 0 || !(d >= 0.0 && d <= 1.0)) {
        reply_error(c, "ERR threshold must be a number between 0 and 1");
        return -1;
    }
    *out = (float)d;
    return 0;
}

static int label_or_reply(client *c, const req_arg *a, char *dst) {
    if (a->len >= CACHE_LABEL_MAX) {
        reply_error(c, "ERR version label longer than 63 bytes");
        return -1;
    }
    memcpy(dst, a->ptr, a->len + 1);
    return 0;
}

/* ---- CACHE.CREATE ---- */

static int parse_create_or_reply(client *c, cache_ns_config *cfg, const req_arg **targ) {
    long long v;
    for (int j = 2; j < c->argc; j++) {
        const req_arg *a = &c->argv[j];
        int more = j + 1 < c->argc;
        const req_arg *n = more ? &c->argv[j + 1] : NULL;
        if (cache_arg_is(a, "allow-lower")) {
            cfg->allow_lower = 1;
        } else if (!more) {
            goto syntax;
        } else if (cache_arg_is(a, "tenant")) {
            *targ = n;
            j++;
        } else if (cache_arg_is(a, "embedder")) {
            if (!cache_arg_is(n, "builtin") && cache_embed_choose_or_reply(c, n->ptr, n->len, cfg))
                return -1;
            j++;
        } else if (cache_arg_is(a, "threshold")) {
            if (unit_or_reply(c, n, &cfg->threshold)) return -1;
            j++;
        } else if (cache_arg_is(a, "ttl") || cache_arg_is(a, "grace")) {
            if (nonneg_or_reply(c, n, &v)) return -1;
            if (v > 100LL * 365 * 86400) goto syntax;
            *(cache_arg_is(a, "ttl") ? &cfg->ttl_ms : &cfg->grace_ms) = v * 1000;
            j++;
        } else if (cache_arg_is(a, "m") || cache_arg_is(a, "ef") || cache_arg_is(a, "dim")) {
            if (nonneg_or_reply(c, n, &v)) return -1;
            if (cache_arg_is(a, "m")) {
                if (v < 4 || v > 4096) goto range;
                cfg->M = (uint32_t)v;
            } else if (cache_arg_is(a, "ef")) {
                if (v < 1 || v > 100000) goto range;
                cfg->ef = (uint32_t)v;
            } else {
                if (v < EMBED_BUILTIN_DIM_MIN || v > EMBED_BUILTIN_DIM_MAX) goto range;
                cfg->dim = (uint32_t)v;
            }
            j++;
        } else if (cache_arg_is(a, "exact-below")) {
            if (nonneg_or_reply(c, n, &v)) return -1;
            if (v > UINT32_MAX) {
                reply_error(c, "ERR EXACT-BELOW must be 0..4294967295");
                return -1;
            }
            cfg->exact_below = v;
            j++;
        } else if (cache_arg_is(a, "widen")) {
            if (nonneg_or_reply(c, n, &v)) return -1;
            if (v > CACHE_WIDEN_MAX) {
                reply_error(c, "ERR WIDEN must be 0..64");
                return -1;
            }
            cfg->widen = (int32_t)v;
            j++;
        } else if (cache_arg_is(a, "quant")) {
            if (cache_arg_is(n, "f32")) cfg->quant_int8 = 0;
            else if (cache_arg_is(n, "int8")) cfg->quant_int8 = 1;
            else goto syntax;
            j++;
        } else if (cache_arg_is(a, "codes")) {
            if (cache_arg_is(n, "int4")) cfg->codes = HNSW_CODES_I4;
            else if (cache_arg_is(n, "int8")) cfg->codes = HNSW_CODES_I8;
            else if (cache_arg_is(n, "none")) cfg->codes = HNSW_CODES_NONE;
            else goto syntax;
            j++;
        } else if (cache_arg_is(a, "prompt-version")) {
            if (label_or_reply(c, n, cfg->prompt_version)) return -1;
            j++;
        } else if (cache_arg_is(a, "model-version")) {
            if (label_or_reply(c, n, cfg->model_version)) return -1;
            j++;
        } else if (cache_arg_is(a, "tools-version")) {
            if (label_or_reply(c, n, cfg->tools_version)) return -1;
            j++;
        } else if (cache_arg_is(a, "on-budget")) {
            if (cache_arg_is(n, "stale")) {
                cfg->on_budget = ON_BUDGET_STALE;
                j++;
            } else if (cache_arg_is(n, "lower-threshold") && j + 2 < c->argc) {
                if (unit_or_reply(c, &c->argv[j + 2], &cfg->budget_floor)) return -1;
                cfg->on_budget = ON_BUDGET_LOWER_THRESHOLD;
                j += 2;
            } else {
                goto syntax;
            }
        } else {
            goto syntax;
        }
    }
    return 0;
syntax:
    reply_error(c, ERR_SYNTAX);
    return -1;
range:
    reply_error(c, "ERR M must be 4..4096, EF 1..100000, DIM 16..65536");
    return -1;
}

void cmd_cache_create(client *c) {
    cache_ns_config cfg;
    const req_arg *targ = NULL;
    cache_ns_config_default(&cfg);
    cfg.threshold = -1.0f;   /* not given: the embedder's default (cache_embed.h) */
    cfg.dim = 0;
    if (parse_create_or_reply(c, &cfg, &targ)) return;
    if (cache_embed_finish_config_or_reply(c, &cfg)) return;
    tenant *t = cache_tenant_or_reply(c, targ);
    if (!t) return;
    const req_arg *name = &c->argv[1];
    if (name->len == 0 || name->len >= CACHE_NS_NAME_MAX) {
        reply_error(c, "ERR namespace name must be 1..127 bytes");
        return;
    }
    if (cache_ns_find(t, name->ptr, name->len)) {
        reply_errorf(c, "ERR namespace '%.128s' already exists", name->ptr);
        return;
    }
    if (alias_create_check_or_reply(c, t, name)) return;   /* sc/canary */
    cache_ns *ns;
    int rc = cache_ns_create(t, name->ptr, name->len, &cfg, &ns);
    if (rc == CACHE_ENOMEM) reply_error(c, "OOM out of memory creating the namespace");
    else if (rc != CACHE_OK) reply_error(c, "ERR the index refused these parameters");
    else reply_ok(c);
}

/* ---- WAIT coalescing ---- */

typedef struct waiter {
    uv_timer_t timer;          /* timer.data == this */
    client *c;                 /* referenced (client_ref) while parked */
    struct pending *p;         /* NULL once answered */
    struct waiter *next;
    alias_route route;         /* sc/canary: alias arm to count and name */
    obs_req ob;                /* the request's observation (obs_park), ended by
                                * waiter_finish with the final answer */
    int has_ob;
} waiter;

typedef struct pending {
    uint64_t gen, key;
    int64_t deadline_ms;       /* the filler's WAIT: after it a new filler is chosen */
    waiter *waiters;
    struct pending *next;
} pending;

static pending *pendings;

static pending *pending_find(uint64_t gen, uint64_t key) {
    for (pending *p = pendings; p; p = p->next)
        if (p->gen == gen && p->key == key) return p;
    return NULL;
}

static void pending_unlink(pending *p) {
    for (pending **pp = &pendings; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

static size_t pending_count(void) {
    size_t n = 0;
    for (pending *p = pendings; p; p = p->next) n++;
    return n;
}

static void waiter_close_cb(uv_handle_t *h) { free(h->data); }

static void reply_miss(client *c, tenant *t, int fill, const alias_route *r);
static void reply_hit(client *c, const cache_hit *h, int withmeta, int64_t now,
                      const alias_route *r);

/* Detaches w from its pending, replies (hit if e != NULL, else miss) and
 * releases the client. */
static void waiter_finish(waiter *w, cache_ns *ns, cache_entry *e) {
    pending *p = w->p;
    if (p) {
        for (waiter **pp = &p->waiters; *pp; pp = &(*pp)->next)
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        w->p = NULL;
    }
    cache_hit h = {CACHE_MISS, NULL, 0.0f};
    const cache_ns *ons = NULL;   /* for the log: the namespace answered from */
    int answered = 0;
    if (client_is_open(w->c)) {
        int64_t now = now_ms();
        answered = 1;
        if (e) {
            h = (cache_hit){CACHE_EXACT, e, 1.0f};
            ons = ns;
            e->hits++;
            e->last_hit_ms = now;
            ns->st.hits_exact++;
            ns->owner->led.hits_exact++;
            ns->owner->led.saved_nusd += e->cost_nusd;
            ns->owner->led.tokens_saved += e->tokens_in + e->tokens_out;
            alias_route_get(&w->route, CACHE_EXACT, e->cost_nusd);
            reply_hit(w->c, &h, 0, now, &w->route);
        } else {
            cache_ns *live = p ? cache_ns_by_generation(p->gen) : NULL;
            if (live) {
                live->st.misses++;
                live->owner->led.misses++;
            }
            tenant *t = live ? live->owner : NULL;
            ons = live;
            alias_route_get(&w->route, CACHE_MISS, 0);
            reply_miss(w->c, t, 1, &w->route);
        }
    }
    if (w->has_ob) {   /* one log entry per request, with its final answer */
        obs_end_get(&w->ob, ons, ons ? ons->owner : NULL, CACHE_OK, &h, !answered);
        w->has_ob = 0;
    }
    client_unblock(w->c);
    client_unref(w->c);
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, waiter_close_cb);
    if (p && !p->waiters && p->deadline_ms <= now_ms()) {
        pending_unlink(p);
        free(p);
    }
}

static void waiter_timeout_cb(uv_timer_t *t) { waiter_finish(t->data, NULL, NULL); }

/* After a PUT: answers every waiter of (ns, key) and retires the pending. */
static void pending_resolve(cache_ns *ns, cache_entry *e) {
    pending *p = pending_find(ns->generation, e->key);
    if (!p) return;
    while (p->waiters) {
        p->deadline_ms = 0;   /* freed by the last waiter_finish */
        waiter_finish(p->waiters, ns, e);
        if (!pending_find(ns->generation, e->key)) return;
    }
    pending_unlink(p);
    free(p);
}

/* Parks c on the pending fill; the waiter takes over ob (may be NULL),
 * which the caller must then not end. 0, or -1 (ENOMEM: caller replies a
 * miss and still owns ob). */
static int wait_park(client *c, pending *p, long long ms, const alias_route *r,
                     const cache_ns *ns, obs_req *ob) {
    waiter *w = calloc(1, sizeof *w);
    if (!w) return -1;
    if (r) w->route = *r;
    if (ob) {
        obs_park(ob, ns, &w->ob);
        w->has_ob = 1;
    }
    uv_timer_init(uv_default_loop(), &w->timer);
    w->timer.data = w;
    w->c = c;
    w->p = p;
    w->next = p->waiters;
    p->waiters = w;
    client_ref(c);
    client_block(c);
    uv_timer_start(&w->timer, waiter_timeout_cb, (uint64_t)ms, 0);
    return 0;
}

/* Set by cache_wait_shutdown: a threaded GET completing during shutdown's
 * grace period must not park a new waiter (its timer would hold the loop
 * open for up to its WAIT); it answers the miss instead. */
static int wait_closed;

void cache_wait_shutdown(void) {
    wait_closed = 1;
    while (pendings) {
        pending *p = pendings;
        if (!p->waiters) {
            pendings = p->next;
            free(p);
            continue;
        }
        p->deadline_ms = 0;
        waiter_finish(p->waiters, NULL, NULL);
    }
}

/* ---- replies ---- */

/* A bulk string literal in RESP form: RAW_BULK("tier", 4) is
 * "$4\r\ntier\r\n". n is written by hand; the asserts below check it. */
#define RAW_BULK(lit, n) "$" #n "\r\n" lit "\r\n"
#define RAW_LEN_OK(lit, n) _Static_assert(sizeof(lit) - 1 == n, "RAW_BULK length of " lit)
RAW_LEN_OK("tier", 4);
RAW_LEN_OK("exact", 5);
RAW_LEN_OK("semantic", 8);
RAW_LEN_OK("stale", 5);
RAW_LEN_OK("id", 2);
RAW_LEN_OK("score", 5);
RAW_LEN_OK("age_ms", 6);
RAW_LEN_OK("response", 8);
#define REPLY_RAW_LIT(c, s) reply_raw((c), "" s, sizeof(s) - 1)

/* "tier" <tier> "id", precomputed per tier: the hit reply's fixed start in
 * one append (each reply_bulk formats its length; eight of them per hit
 * showed in the exact-hit profile). */
#define HIT_HEAD(tier, n) RAW_BULK("tier", 4) RAW_BULK(tier, n) RAW_BULK("id", 2)
static const char *const hit_head[] = {NULL, HIT_HEAD("exact", 5), HIT_HEAD("semantic", 8),
                                       HIT_HEAD("stale", 5)};
static const size_t hit_head_len[] = {0, sizeof HIT_HEAD("exact", 5) - 1,
                                      sizeof HIT_HEAD("semantic", 8) - 1,
                                      sizeof HIT_HEAD("stale", 5) - 1};

#define HIT_SMALL 1024   /* responses up to this size go out in one append */

/* Appends the literal s at p[n] (a constant-size copy the compiler
 * inlines) and advances n. */
#define PUT_LIT(p, n, s)                          \
    do {                                          \
        memcpy((p) + (n), s, sizeof(s) - 1);      \
        (n) += sizeof(s) - 1;                     \
    } while (0)

/* The common hit reply (no WITHMETA, no alias fields, a finite score, a
 * response of at most HIT_SMALL bytes) assembled on the stack and
 * appended once: the same bytes as the general path below, which makes
 * nine appends, each a libc memcpy call (~5% of an exact hit's server
 * CPU, perf). 0, or -1 if the hit is not the common case. */
static int reply_hit_small(client *c, const cache_hit *h, int64_t now) {
    const cache_entry *e = h->e;
    size_t slen;
    const char *sc = cache_score_elem(h->score, c->resp, &slen);
    if (!sc || e->response.n > HIT_SMALL) return -1;
    char b[HIT_SMALL + 256];
    size_t n = 0;
    if (c->resp >= 3) PUT_LIT(b, n, "%5\r\n");
    else PUT_LIT(b, n, "*10\r\n");
    memcpy(b + n, hit_head[h->tier], hit_head_len[h->tier]);
    n += hit_head_len[h->tier];
    b[n++] = ':';
    n += reply_fmt_ll(b + n, (long long)e->id);
    PUT_LIT(b, n, "\r\n" RAW_BULK("score", 5));
    memcpy(b + n, sc, slen);
    n += slen;
    PUT_LIT(b, n, RAW_BULK("age_ms", 6) ":");
    n += reply_fmt_ll(b + n, now - e->created_ms);
    PUT_LIT(b, n, "\r\n" RAW_BULK("response", 8) "$");
    n += reply_fmt_ll(b + n, (long long)e->response.n);
    PUT_LIT(b, n, "\r\n");
    if (e->response.n) memcpy(b + n, e->response.p, e->response.n);
    n += e->response.n;
    PUT_LIT(b, n, "\r\n");
    reply_raw(c, b, n);
    return 0;
}

static void reply_hit(client *c, const cache_hit *h, int withmeta, int64_t now,
                      const alias_route *r) {
    if (!withmeta && !alias_reply_pairs(r) && reply_hit_small(c, h, now) == 0) return;
    const cache_entry *e = h->e;
    reply_map(c, (withmeta ? 12 : 5) + alias_reply_pairs(r));
    reply_raw(c, hit_head[h->tier], hit_head_len[h->tier]);
    reply_integer(c, (long long)e->id);
    REPLY_RAW_LIT(c, RAW_BULK("score", 5));
    cache_reply_score(c, h->score);
    REPLY_RAW_LIT(c, RAW_BULK("age_ms", 6));
    reply_integer(c, now - e->created_ms);
    REPLY_RAW_LIT(c, RAW_BULK("response", 8));
    reply_bulk(c, e->response.p, e->response.n);
    if (!withmeta) {
        alias_reply_append(c, r);
        return;
    }
    REPLY_LIT(c, "prompt");
    reply_bulk(c, e->prompt.p, e->prompt.n);
    REPLY_LIT(c, "model");
    if (e->model.p) reply_bulk(c, e->model.p, e->model.n);
    else reply_null(c);
    REPLY_LIT(c, "params");
    if (e->params.p) reply_bulk(c, e->params.p, e->params.n);
    else reply_null(c);
    REPLY_LIT(c, "meta");
    if (e->meta.p) reply_bulk(c, e->meta.p, e->meta.n);
    else reply_null(c);
    REPLY_LIT(c, "tokens");
    reply_array(c, 2);
    reply_integer(c, (long long)e->tokens_in);
    reply_integer(c, (long long)e->tokens_out);
    REPLY_LIT(c, "cost_nusd");
    reply_integer(c, e->cost_nusd);
    REPLY_LIT(c, "ttl_ms");
    reply_integer(c, e->expire_ms ? e->expire_ms - now : -1);
    alias_reply_append(c, r);
}

/* Set around cache_get_answer's reply of a GET whose semantic tier could
 * not run (provider failure, cache_embed.c): the miss says so. */
static int miss_semantic_down;

static void reply_miss(client *c, tenant *t, int fill, const alias_route *r) {
    reply_map(c, 3 + (miss_semantic_down ? 1 : 0) + alias_reply_pairs(r));
    REPLY_LIT(c, "tier");
    REPLY_LIT(c, "miss");
    REPLY_LIT(c, "budget");
    reply_bulk_cstr(c, t && tenant_budget_exhausted(t, now_ms()) ? "exhausted" : "ok");
    REPLY_LIT(c, "fill");
    reply_integer(c, fill);
    if (miss_semantic_down) {
        REPLY_LIT(c, "semantic");
        REPLY_LIT(c, "unavailable");
    }
    alias_reply_append(c, r);
}

static void reply_cache_error(client *c, int rc) {
    if (rc == CACHE_EEMPTY) reply_error(c, "ERR prompt is empty after normalisation");
    else if (rc == CACHE_ENOMEM) reply_error(c, "OOM out of memory");
    else reply_error(c, "ERR the index refused the vector");
}

/* ---- CACHE.PUT ---- */

typedef struct put_opts {
    cache_put_args a;
    const req_arg *targ;        /* TENANT t, or NULL */
    const req_arg *user;        /* USER u (canary stickiness), or NULL */
    int priced;                 /* TOKENS ... MODEL given */
    const req_arg *tparg;       /* TRACEPARENT tp, or NULL (obs.h) */
} put_opts;

static int parse_put_or_reply(client *c, put_opts *o) {
    long long v;
    int have_cost = 0, have_tokens = 0;
    for (int j = 4; j < c->argc; j++) {
        const req_arg *a = &c->argv[j];
        if (j + 1 >= c->argc) goto syntax;
        const req_arg *n = &c->argv[j + 1];
        if (cache_arg_is(a, "tenant")) {
            o->targ = n;
            j++;
        } else if (cache_arg_is(a, "user")) {
            o->user = n;
            j++;
        } else if (cache_arg_is(a, "ttl")) {
            if (nonneg_or_reply(c, n, &v)) return -1;
            if (v > 100LL * 365 * 86400) goto syntax;
            o->a.ttl_ms = v * 1000;
            j++;
        } else if (cache_arg_is(a, "cost")) {
            if (tenant_parse_usd(n->ptr, n->len, &o->a.cost_nusd) != 0) {
                reply_error(c, "ERR COST must be a non-negative decimal USD amount "
                            "with at most 9 decimals");
                return -1;
            }
            have_cost = 1;
            j++;
        } else if (cache_arg_is(a, "tokens")) {
            /* TOKENS in out MODEL m */
            long long tin, tout;
            if (j + 4 >= c->argc || !cache_arg_is(&c->argv[j + 3], "model")) goto syntax;
            if (nonneg_or_reply(c, n, &tin) || nonneg_or_reply(c, &c->argv[j + 2], &tout))
                return -1;
            o->a.tokens_in = (uint64_t)tin;
            o->a.tokens_out = (uint64_t)tout;
            o->a.model = c->argv[j + 4].ptr;
            o->a.model_len = c->argv[j + 4].len;
            have_tokens = 1;
            j += 4;
        } else if (cache_arg_is(a, "model")) {
            o->a.model = n->ptr;
            o->a.model_len = n->len;
            j++;
        } else if (cache_arg_is(a, "params")) {
            o->a.params = n->ptr;
            o->a.params_len = n->len;
            j++;
        } else if (cache_arg_is(a, "meta")) {
            o->a.meta = n->ptr;
            o->a.meta_len = n->len;
            j++;
        } else if (cache_arg_is(a, "traceparent")) {
            o->tparg = n;
            j++;
        } else {
            goto syntax;
        }
    }
    if (have_cost && have_tokens) {
        reply_error(c, "ERR COST and TOKENS are mutually exclusive");
        return -1;
    }
    if (have_tokens) {
        int64_t pin, pout;
        if (config_price(o->a.model, o->a.model_len, &pin, &pout) != 0) {
            reply_errorf(c, "ERR no price for model '%.128s' (add a 'price' config line)",
                         o->a.model);
            return -1;
        }
        o->a.cost_nusd = tenant_price_nusd(pin, o->a.tokens_in) +
                         tenant_price_nusd(pout, o->a.tokens_out);
    }
    return 0;
syntax:
    reply_error(c, ERR_SYNTAX);
    return -1;
}

/* The memory check that DENYOOM would do, with cache eviction first. */
static int memory_or_reply(client *c) {
    if (g_cfg.maxmemory <= 0) return 0;
    if (mem_used() > (size_t)g_cfg.maxmemory &&
        g_cfg.maxmemory_policy != MAXMEMORY_NOEVICTION)
        cache_evict((size_t)g_cfg.maxmemory, g_cfg.maxmemory_samples);
    if (mem_used() > (size_t)g_cfg.maxmemory && ks_evict_if_needed() != 0) {
        reply_error(c, ERR_OOM);
        return -1;
    }
    return 0;
}

void cmd_cache_put(client *c) {
    put_opts o;
    memset(&o, 0, sizeof o);
    o.a.ttl_ms = -1;
    o.a.prompt = c->argv[2].ptr;
    o.a.prompt_len = c->argv[2].len;
    o.a.response = c->argv[3].ptr;
    o.a.response_len = c->argv[3].len;
    if (parse_put_or_reply(c, &o)) return;
    tenant *t = cache_tenant_or_reply(c, o.targ);
    if (!t) return;
    alias_route route;
    cache_ns *ns = alias_route_ns_or_reply(c, t, o.user, &route);   /* sc/canary */
    if (!ns || memory_or_reply(c)) return;
    obs_req ob;
    if (obs_begin_or_reply(&ob, REQLOG_PUT, c, o.tparg)) return;
    int64_t now = now_ms();
    if (ns->cfg.ext_embedder) {
        cache_embed_put(c, ns, t, &o.a, now, &route, &ob);
        return;
    }
    cache_entry *e;
    int rc = cache_put(ns, &o.a, now, &e);
    obs_end_put(&ob, ns, t, &o.a, rc, rc == CACHE_OK ? e : NULL);
    if (rc != CACHE_OK) {
        reply_cache_error(c, rc);
        return;
    }
    tenant_charge(t, e->cost_nusd, now);
    alias_route_put(&route, e->cost_nusd);
    reply_integer(c, (long long)e->id);
    pending_resolve(ns, e);
}

/* ---- CACHE.GET ---- */

typedef struct get_opts {
    float threshold;
    int have_threshold, stale, withmeta;
    long long wait_ms;          /* -1 = no WAIT */
    const req_arg *targ;        /* TENANT t, or NULL */
    const req_arg *user;        /* USER u (canary stickiness), or NULL */
    const req_arg *tparg;       /* TRACEPARENT tp, or NULL (obs.h) */
} get_opts;

static int parse_get_or_reply(client *c, get_opts *o) {
    for (int j = 3; j < c->argc; j++) {
        const req_arg *a = &c->argv[j];
        if (cache_arg_is(a, "stale")) {
            o->stale = 1;
        } else if (cache_arg_is(a, "withmeta")) {
            o->withmeta = 1;
        } else if (j + 1 >= c->argc) {
            goto syntax;
        } else if (cache_arg_is(a, "tenant")) {
            o->targ = &c->argv[j + 1];
            j++;
        } else if (cache_arg_is(a, "user")) {
            o->user = &c->argv[j + 1];
            j++;
        } else if (cache_arg_is(a, "threshold")) {
            if (unit_or_reply(c, &c->argv[j + 1], &o->threshold)) return -1;
            o->have_threshold = 1;
            j++;
        } else if (cache_arg_is(a, "wait")) {
            if (nonneg_or_reply(c, &c->argv[j + 1], &o->wait_ms)) return -1;
            if (o->wait_ms > 3600 * 1000) o->wait_ms = 3600 * 1000;
            j++;
        } else if (cache_arg_is(a, "traceparent")) {
            o->tparg = &c->argv[j + 1];
            j++;
        } else {
            goto syntax;
        }
    }
    return 0;
syntax:
    reply_error(c, ERR_SYNTAX);
    return -1;
}

static void ledger_note(tenant *t, const cache_hit *h) {
    if (h->tier == CACHE_MISS) {
        t->led.misses++;
        return;
    }
    if (h->tier == CACHE_EXACT) t->led.hits_exact++;
    else if (h->tier == CACHE_SEMANTIC) t->led.hits_semantic++;
    else t->led.hits_stale++;
    t->led.saved_nusd += h->e->cost_nusd;
    t->led.tokens_saved += h->e->tokens_in + h->e->tokens_out;
}

/* A GET ... WAIT that missed: parks c on a pending fill of the same exact
 * key (returns 1: no reply now), or registers c as the filler (returns 0:
 * the caller replies the miss with fill 1). Note 3 above. */
static int coalesce_parked(client *c, cache_ns *ns, uint64_t key, long long wait_ms,
                           int64_t now, const alias_route *r, obs_req *ob) {
    if (wait_closed) return 0;
    pending *pd = pending_find(ns->generation, key);
    if (pd && pd->deadline_ms > now) {
        /* someone is filling it: wait for the PUT instead of paying */
        if (wait_ms > 0 && wait_park(c, pd, wait_ms, r, ns, ob) == 0) {
            ns->st.misses--;            /* not a miss (yet): counted when it ends */
            return 1;
        }
        return 0;
    }
    if (!pd && (pd = calloc(1, sizeof *pd)) != NULL) {
        pd->gen = ns->generation;
        pd->key = key;
        pd->next = pendings;
        pendings = pd;
    }
    if (pd) pd->deadline_ms = now + wait_ms;   /* this caller fills */
    return 0;
}

/* Replies a GET from its lookup result (both paths). Returns 1 if the
 * client was parked on a pending fill (WAIT) instead. ns/t may be NULL
 * only for a miss (the namespace was dropped during a threaded search).
 * key: the prompt's exact key (a miss here implies the prompt normalised).
 * ob: the request's observation; a parked client's waiter takes it over
 * (obs_end_get(..., parked = 1) is then a no-op). */
static int get_answer(client *c, cache_ns *ns, tenant *t, int rc, cache_hit *h, uint64_t key,
                      int withmeta, long long wait_ms, int64_t now, const alias_route *r,
                      obs_req *ob) {
    if (rc != CACHE_OK) {
        reply_cache_error(c, rc);
        return 0;
    }
    if (h->tier != CACHE_MISS) {
        ledger_note(t, h);
        alias_route_get(r, h->tier, h->e->cost_nusd);
        reply_hit(c, h, withmeta, now, r);
        return 0;
    }
    if (ns) {
        if (wait_ms >= 0 && coalesce_parked(c, ns, key, wait_ms, now, r, ob)) return 1;
        ledger_note(t, h);
    }
    alias_route_get(r, CACHE_MISS, 0);
    reply_miss(c, t, 1, r);
    return 0;
}

/* ---- threaded searches (note 5) ---- */

static uint64_t g_searches_threaded, g_searches_inline;

/* CACHE.SEARCH answers of up to this many results may run on the loop when
 * the pool is idle (GET asks for the few best: always eligible). */
#define CACHE_INLINE_MAX_K 64

/* Runs q on the loop thread, with the search span the pool would time. */
static void run_inline(cache_query *q) {
    uint64_t t0 = obs_clock();
    cache_query_run(q);
    obs_mark_search(t0);
    g_searches_inline++;
}

typedef struct cache_job {
    worker_job wj;
    client *c;                 /* referenced and blocked while the job runs */
    cache_query *q;
    int withmeta;              /* GET */
    long long wait_ms;         /* GET */
    uint32_t k;                /* SEARCH */
    int64_t now;
    alias_route route;         /* GET through an alias (sc/canary) */
    obs_req ob;                /* detached; the worker times its search */
} cache_job;

static void cache_job_work(worker_job *wj) {
    cache_job *j = (cache_job *)wj;
    j->ob.search0 = obs_clock();
    cache_query_run(j->q);
    j->ob.search1 = obs_clock();
}

static void get_done(worker_job *wj) {
    cache_job *j = (cache_job *)wj;
    client *c = j->c;
    int parked = 0;
    if (client_is_open(c)) {
        cache_hit h;
        int rc = cache_lookup_finish(j->q, &h);
        if (rc == CACHE_PENDING) {
            /* an uncertain answer, searched again wider (cache.c note 11):
             * back to the pool with c still blocked and referenced */
            workers *pool = vset_pool();
            if (pool && workers_submit(pool, wj) == 0) return;
            while (rc == CACHE_PENDING) {
                run_inline(j->q);
                rc = cache_lookup_finish(j->q, &h);
            }
        }
        cache_ns *ns = cache_query_ns(j->q);
        parked = get_answer(c, ns, ns ? ns->owner : NULL, rc, &h, cache_query_key(j->q),
                            j->withmeta, j->wait_ms, j->now, &j->route, &j->ob);
        obs_end_get(&j->ob, ns, ns ? ns->owner : NULL, rc, &h, parked);
        g_searches_threaded++;
    }
    if (!parked) client_unblock(c);
    client_unref(c);
    cache_query_free(j->q);
    free(j->ob.prompt_copy);
    free(j);
}

/* Submits q's search and parks c. 0, or -1 (the pool is idle, the queue
 * is full, or ENOMEM: the caller finishes q inline, timing it with
 * run_inline). */
static int park(client *c, cache_query *q, int withmeta, long long wait_ms, uint32_t k,
                int64_t now, workers *pool, void (*done)(worker_job *), const alias_route *r,
                obs_req *ob) {
    /* An idle pool: searching here costs less than two thread wake-ups
     * (workers.c note 6); bounded to small result sets. */
    if (k <= CACHE_INLINE_MAX_K && vset_pool_try_inline()) return -1;
    cache_job *j = calloc(1, sizeof *j);
    if (!j) return -1;
    if (r) j->route = *r;
    obs_detach(ob, cache_query_ns(q));
    j->ob = *ob;   /* the job owns the prompt copy once submitted */
    j->c = c;
    j->q = q;
    j->withmeta = withmeta;
    j->wait_ms = wait_ms;
    j->k = k;
    j->now = now;
    j->wj.work = cache_job_work;
    j->wj.done = done;
    if (workers_submit(pool, &j->wj) != 0) {
        free(j);
        return -1;
    }
    client_block(c);
    client_ref(c);
    return 0;
}

static int get_park(client *c, cache_query *q, int withmeta, long long wait_ms, int64_t now,
                    workers *pool, const alias_route *r, obs_req *ob) {
    return park(c, q, withmeta, wait_ms, 0, now, pool, get_done, r, ob);
}

void cmd_cache_get(client *c) {
    get_opts o = {.wait_ms = -1};
    if (parse_get_or_reply(c, &o)) return;
    tenant *t = cache_tenant_or_reply(c, o.targ);
    if (!t) return;
    alias_route route;
    cache_ns *ns = alias_route_ns_or_reply(c, t, o.user, &route);   /* sc/canary */
    if (!ns) return;
    float thr = ns->cfg.threshold;
    if (o.have_threshold) {
        if (o.threshold < thr && !ns->cfg.allow_lower) {
            reply_errorf(c, "ERR threshold may not go below the namespace's %.3f "
                         "(create it with ALLOW-LOWER)", (double)thr);
            return;
        }
        thr = o.threshold;
    }
    int64_t now = now_ms();
    int stale = o.stale;
    if (ns->cfg.on_budget != ON_BUDGET_NONE && tenant_budget_exhausted(t, now)) {
        if (ns->cfg.on_budget == ON_BUDGET_STALE) stale = 1;
        else if (ns->cfg.budget_floor < thr) thr = ns->cfg.budget_floor;
    }
    cache_hit h;
    const req_arg *p = &c->argv[2];
    workers *pool = vset_pool();
    cache_query *q = NULL;
    obs_req ob;
    if (obs_begin_or_reply(&ob, REQLOG_GET, c, o.tparg)) return;
    if (ns->cfg.ext_embedder) {
        cache_embed_get(c, ns, t, p->ptr, p->len, thr, stale, o.withmeta, o.wait_ms, now, &route,
                        &ob);
        return;
    }
    int rc = cache_lookup_start(ns, p->ptr, p->len, thr, stale, now, &h, pool ? &q : NULL);
    if (rc == CACHE_PENDING) {
        if (get_park(c, q, o.withmeta, o.wait_ms, now, pool, &route, &ob) == 0) return;
        do {                  /* idle pool or queue full: answer here; again */
            run_inline(q);    /* when the answer widens (cache.c note 11) */
            rc = cache_lookup_finish(q, &h);
        } while (rc == CACHE_PENDING);
        cache_query_free(q);
    }
    uint64_t key = 0;
    if (rc == CACHE_OK && h.tier == CACHE_MISS) cache_key(p->ptr, p->len, &key);
    int parked = get_answer(c, ns, t, rc, &h, key, o.withmeta, o.wait_ms, now, &route, &ob);
    obs_end_get(&ob, ns, t, rc, &h, parked);
}

/* ---- the rest ---- */

void cmd_cache_drop(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 2);
    if (!t) return;
    cache_ns *ns = ns_or_reply(c, t, &c->argv[1]);
    if (!ns || alias_drop_check_or_reply(c, ns)) return;   /* sc/canary */
    cache_ns_drop(ns);
    reply_ok(c);
}

void cmd_cache_flush(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 2);
    if (!t) return;
    cache_ns *ns = ns_or_reply(c, t, &c->argv[1]);
    if (!ns) return;
    reply_integer(c, (long long)cache_ns_flush(ns));
}

void cmd_cache_del(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 3);
    if (!t) return;
    cache_ns *ns = ns_or_reply(c, t, &c->argv[1]);
    if (!ns) return;
    unsigned long long id;
    if (strconv_ull(c->argv[2].ptr, c->argv[2].len, &id) != 0) {
        reply_error(c, ERR_NOT_INTEGER);
        return;
    }
    cache_entry *e = cache_entry_by_id(ns, id);
    if (e) {
        cache_entry_delete(ns, e);
        ns->st.deleted++;
    }
    reply_integer(c, e != NULL);
}

void cmd_cache_list(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 1);
    if (!t) return;
    long n = 0;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) n += ns->owner == t;
    reply_array(c, n);
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next)
        if (ns->owner == t) reply_bulk_cstr(c, ns->name);
}

/* Replies CACHE.SEARCH: from the finished query q, or synchronously (q
 * NULL). */
static void search_answer(client *c, cache_ns *ns, cache_query *q, uint32_t k, int64_t now,
                          obs_req *ob) {
    cache_entry **es = malloc(((size_t)k + 1) * sizeof *es);
    float *sc = malloc(((size_t)k + 1) * sizeof *sc), *cs = malloc(((size_t)k + 1) * sizeof *cs);
    int n = !es || !sc || !cs ? CACHE_ENOMEM
            : q             ? cache_search_finish(q, es, sc, cs)
                            : cache_search(ns, c->argv[2].ptr, c->argv[2].len, k, now, es, sc, cs);
    const cache_ns *ons = ns ? ns : cache_query_ns(q);
    obs_end_search(ob, ons, ons ? ons->owner : NULL, n, n > 0 ? (double)sc[0] : 0.0);
    if (n < 0) {
        reply_cache_error(c, n);
    } else {
        reply_array(c, n);
        for (int i = 0; i < n; i++) {
            reply_map(c, 5);
            REPLY_LIT(c, "id");
            reply_integer(c, (long long)es[i]->id);
            REPLY_LIT(c, "score");
            cache_reply_score(c, sc[i]);
            REPLY_LIT(c, "cosine");
            cache_reply_score(c, cs[i]);
            REPLY_LIT(c, "age_ms");
            reply_integer(c, now - es[i]->created_ms);
            REPLY_LIT(c, "prompt");
            reply_bulk(c, es[i]->prompt.p, es[i]->prompt.n);
        }
    }
    free(es);
    free(sc);
    free(cs);
}

static void search_done(worker_job *wj) {
    cache_job *j = (cache_job *)wj;
    client *c = j->c;
    if (client_is_open(c)) {
        search_answer(c, NULL, j->q, j->k, j->now, &j->ob);
        g_searches_threaded++;
    }
    client_unblock(c);
    client_unref(c);
    cache_query_free(j->q);
    free(j->ob.prompt_copy);
    free(j);
}

void cmd_cache_search(client *c) {
    long long k = 10;
    const req_arg *targ = NULL, *tparg = NULL;
    for (int j = 3; j < c->argc; j += 2) {
        if (j + 1 >= c->argc) {
            reply_error(c, ERR_SYNTAX);
            return;
        }
        if (cache_arg_is(&c->argv[j], "count")) {
            if (nonneg_or_reply(c, &c->argv[j + 1], &k)) return;
            if (k > 1000) k = 1000;
        } else if (cache_arg_is(&c->argv[j], "tenant")) {
            targ = &c->argv[j + 1];
        } else if (cache_arg_is(&c->argv[j], "traceparent")) {
            tparg = &c->argv[j + 1];
        } else {
            reply_error(c, ERR_SYNTAX);
            return;
        }
    }
    tenant *t = cache_tenant_or_reply(c, targ);
    if (!t) return;
    cache_ns *ns = ns_or_reply(c, t, &c->argv[1]);
    if (!ns) return;
    obs_req ob;
    if (obs_begin_or_reply(&ob, REQLOG_SEARCH, c, tparg)) return;
    int64_t now = now_ms();
    if (ns->cfg.ext_embedder) {
        cache_embed_search(c, ns, t, c->argv[2].ptr, c->argv[2].len, (uint32_t)k, now, &ob);
        return;
    }
    workers *pool = vset_pool();
    cache_query *q = NULL;
    if (pool && k > 0 && cache_ns_count(ns) >= CACHE_ASYNC_MIN) {
        int rc = cache_search_start(ns, c->argv[2].ptr, c->argv[2].len, (uint32_t)k, now, &q);
        if (rc != CACHE_PENDING) {
            obs_end_search(&ob, ns, t, rc, 0.0);
            reply_cache_error(c, rc);
            return;
        }
        if (park(c, q, 0, -1, (uint32_t)k, now, pool, search_done, NULL, &ob) == 0) return;
        run_inline(q);        /* idle pool or queue full: answer here */
    }
    search_answer(c, ns, q, (uint32_t)k, now, &ob);
    cache_query_free(q);
}

static void kv_int(client *c, const char *k, long long v) {
    reply_bulk_cstr(c, k);
    reply_integer(c, v);
}
static void kv_str(client *c, const char *k, const char *v) {
    reply_bulk_cstr(c, k);
    reply_bulk_cstr(c, v);
}

void cmd_cache_info(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 2);
    if (!t) return;
    cache_ns *ns = ns_or_reply(c, t, &c->argv[1]);
    if (!ns) return;
    const cache_ns_config *g = &ns->cfg;
    reply_map(c, 32);
    kv_str(c, "name", ns->name);
    kv_str(c, "tenant", t->name);
    kv_int(c, "entries", (long long)cache_ns_count(ns));
    kv_int(c, "memory_bytes", (long long)cache_ns_memory(ns));
    kv_int(c, "hits_exact", (long long)ns->st.hits_exact);
    kv_int(c, "hits_semantic", (long long)ns->st.hits_semantic);
    kv_int(c, "hits_stale", (long long)ns->st.hits_stale);
    kv_int(c, "misses", (long long)ns->st.misses);
    kv_int(c, "puts", (long long)ns->st.puts);
    kv_int(c, "expired", (long long)ns->st.expired);
    kv_int(c, "evicted", (long long)ns->st.evicted);
    kv_int(c, "deleted", (long long)ns->st.deleted);
    kv_int(c, "pending_index", (long long)cache_embed_pending(ns));
    kv_str(c, "embedder", g->embedder);
    kv_str(c, "fingerprint", ns->fingerprint);
    kv_int(c, "dim", g->dim);
    REPLY_LIT(c, "threshold");
    reply_double(c, cache_score(g->threshold));
    kv_int(c, "allow_lower", g->allow_lower);
    kv_int(c, "ttl", g->ttl_ms / 1000);
    kv_int(c, "grace", g->grace_ms / 1000);
    kv_int(c, "m", g->M);
    kv_int(c, "ef", g->ef);
    kv_str(c, "quant", g->quant_int8 ? "int8" : "f32");
    int codes = hnsw_get_codes(ns->idx);
    kv_str(c, "codes", codes == HNSW_CODES_I4 ? "int4" : codes == HNSW_CODES_I8 ? "int8" : "none");
    kv_int(c, "exact_below", (long long)hnsw_get_exact_threshold(ns->idx));
    kv_int(c, "widen", g->widen);
    kv_int(c, "widened", (long long)ns->st.widened);
    kv_str(c, "prompt_version", g->prompt_version);
    kv_str(c, "model_version", g->model_version);
    kv_str(c, "tools_version", g->tools_version);
    REPLY_LIT(c, "on_budget");
    if (g->on_budget == ON_BUDGET_STALE) {
        REPLY_LIT(c, "stale");
    } else if (g->on_budget == ON_BUDGET_LOWER_THRESHOLD) {
        char buf[48];
        snprintf(buf, sizeof buf, "lower-threshold %.3f", (double)g->budget_floor);
        reply_bulk_cstr(c, buf);
    } else {
        REPLY_LIT(c, "none");
    }
    kv_str(c, "budget", tenant_budget_exhausted(t, now_ms()) ? "exhausted" : "ok");
}

/* ---- server hooks ---- */

void cache_cron_tick(void) {
    int64_t now = now_ms();
    cache_cron(now, 2000);
    cache_embed_cron(now);
    for (pending *p = pendings, *n; p; p = n) {
        n = p->next;
        if (!p->waiters && p->deadline_ms <= now) {
            pending_unlink(p);
            free(p);
        }
    }
    if (g_cfg.maxmemory > 0 && g_cfg.maxmemory_policy != MAXMEMORY_NOEVICTION &&
        mem_used() > (size_t)g_cfg.maxmemory)
        cache_evict((size_t)g_cfg.maxmemory, g_cfg.maxmemory_samples);
}

/* INFO cache: totals over every namespace and tenant (registered by main.c
 * with info_register_section). */
void cache_info(sbuf *o) {
    uint64_t ns_n = 0, entries = 0, mem = 0, he = 0, hs = 0, hst = 0, miss = 0, exp = 0, ev = 0;
    uint64_t widened = 0;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) {
        ns_n++;
        entries += cache_ns_count(ns);
        mem += cache_ns_memory(ns);
        he += ns->st.hits_exact;
        hs += ns->st.hits_semantic;
        hst += ns->st.hits_stale;
        miss += ns->st.misses;
        exp += ns->st.expired;
        ev += ns->st.evicted;
        widened += ns->st.widened;
    }
    uint64_t tenants = 0, exhausted = 0;
    int64_t now = now_ms();
    for (tenant *t = tenant_first(); t; t = t->next) {
        tenants++;
        exhausted += (uint64_t)tenant_budget_exhausted(t, now);
    }
    sbuf_printf(o, "# Cache\r\ncache_namespaces:%llu\r\ncache_entries:%llu\r\n"
                "cache_memory_bytes:%llu\r\ncache_hits_exact:%llu\r\n"
                "cache_hits_semantic:%llu\r\ncache_hits_stale:%llu\r\ncache_misses:%llu\r\n"
                "cache_expired:%llu\r\ncache_evicted:%llu\r\ncache_pending_fills:%llu\r\n"
                "cache_tenants:%llu\r\ncache_tenants_budget_exhausted:%llu\r\n"
                "cache_searches_threaded:%llu\r\ncache_searches_inline:%llu\r\n"
                "cache_searches_widened:%llu\r\n",
                (unsigned long long)ns_n, (unsigned long long)entries,
                (unsigned long long)mem, (unsigned long long)he, (unsigned long long)hs,
                (unsigned long long)hst, (unsigned long long)miss, (unsigned long long)exp,
                (unsigned long long)ev, (unsigned long long)pending_count(),
                (unsigned long long)tenants, (unsigned long long)exhausted,
                (unsigned long long)g_searches_threaded, (unsigned long long)g_searches_inline,
                (unsigned long long)widened);
    cache_insert_stats is;
    cache_insert_stats_get(&is);
    sbuf_printf(o, "cache_inserts_inflight:%llu\r\ncache_inserts_threaded:%llu\r\n"
                "cache_inserts_inline:%llu\r\ncache_inserts_orphaned:%llu\r\n",
                (unsigned long long)is.inflight, (unsigned long long)is.pool,
                (unsigned long long)is.inline_, (unsigned long long)is.orphaned);
    cache_embed_info(o);
}

/* ---- cache_embed.c's way back (cache_embed.h) ---- */

int cache_get_answer(client *c, cache_ns *ns, tenant *t, int rc, cache_hit *h, uint64_t key,
                     int withmeta, long long wait_ms, int64_t now, const alias_route *r,
                     int semantic_down, obs_req *ob) {
    miss_semantic_down = semantic_down;
    int parked = get_answer(c, ns, t, rc, h, key, withmeta, wait_ms, now, r, ob);
    miss_semantic_down = 0;
    return parked;
}

int cache_get_park(client *c, cache_query *q, int withmeta, long long wait_ms, int64_t now,
                   workers *pool, const alias_route *r, obs_req *ob) {
    return get_park(c, q, withmeta, wait_ms, now, pool, r, ob);
}

void cache_get_run_inline(cache_query *q) { run_inline(q); }

void cache_pending_resolve(cache_ns *ns, cache_entry *e) { pending_resolve(ns, e); }

int cache_search_run_reply(client *c, cache_ns *ns, cache_query *q, uint32_t k, int64_t now,
                           obs_req *ob) {
    workers *pool = vset_pool();
    if (pool && cache_ns_count(ns) >= CACHE_ASYNC_MIN &&
        park(c, q, 0, -1, k, now, pool, search_done, NULL, ob) == 0)
        return 1;
    if (pool) run_inline(q);
    else cache_query_run(q);
    search_answer(c, ns, q, k, now, ob);
    cache_query_free(q);
    return 0;
}
