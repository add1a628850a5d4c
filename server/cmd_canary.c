/* cmd_canary.c -- CACHE.ALIAS, CACHE.UNALIAS, CACHE.ALIASES, CACHE.CANARY,
 * CACHE.FEEDBACK, CACHE.VERSIONS, and the alias hooks cmd_cache.c calls at
 * namespace lookup (the state and the split live in cache_alias.c).
 *
 * Design decisions:
 * 1. Aliases share the tenant's namespace name space: an alias may not take
 *    a namespace's name, CACHE.CREATE may not take an alias's name, and an
 *    alias points at a namespace, never at another alias (one hop, so a
 *    resolution is one lookup and cycles cannot exist). Namespaces are
 *    looked up first; the alias hook runs only when no namespace matched.
 * 2. The tenant of a request follows cmd_cache.c note 1 (TENANT argument
 *    for admin/gateway only); a tenant therefore can neither see nor point
 *    at another tenant's namespaces or aliases.
 * 3. CACHE.DROP of a namespace an alias points at, or that is the canary of
 *    an active run, is refused with the alias named: dropping it would
 *    silently turn the alias's traffic into errors. Repoint, UNALIAS or end
 *    the canary first.
 * 4. CACHE.CANARY's first argument after the alias is a namespace when the
 *    next one is PERCENT, otherwise a subcommand (OFF, PROMOTE, ROLLBACK,
 *    INFO, GUARD): a namespace named "info" still works.
 * 5. CACHE.FEEDBACK ... bad deletes the entry (counted as `deleted` in
 *    CACHE.INFO): an answer a user marked wrong should not be served
 *    again; the next request misses and refills it. `good` only counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "cache_alias.h"
#include "cache_args.h"
#include "cmd_handlers.h"
#include "errors.h"
#include "reply.h"
#include "strconv.h"
#include "tenant.h"

static cache_alias *alias_or_reply(client *c, tenant *t, const req_arg *name) {
    cache_alias *a = alias_find(t, name->ptr, name->len);
    if (!a) reply_errorf(c, "ERR no such alias '%.128s'", name->ptr);
    return a;
}

static const char *gen_name(uint64_t gen) {
    cache_ns *ns = gen ? cache_ns_by_generation(gen) : NULL;
    return ns ? ns->name : NULL;
}

static void reply_name_or_null(client *c, const char *s) {
    if (s) reply_bulk_cstr(c, s);
    else reply_null(c);
}

/* ---- hooks for cmd_cache.c ---- */

cache_ns *alias_ns_or_reply(client *c, tenant *t, const req_arg *name, const alias_key *k,
                            alias_route *r) {
    cache_alias *a = alias_find(t, name->ptr, name->len);
    cache_ns *ns = a ? alias_resolve(a, k, r) : NULL;
    if (!ns) reply_errorf(c, "ERR no such namespace '%.128s'", name->ptr);
    return ns;
}

int alias_create_check_or_reply(client *c, tenant *t, const req_arg *name) {
    if (!alias_find(t, name->ptr, name->len)) return 0;
    reply_errorf(c, "ERR '%.128s' is an alias; a namespace may not take its name", name->ptr);
    return -1;
}

int alias_drop_check_or_reply(client *c, const cache_ns *ns) {
    int as_canary;
    cache_alias *a = alias_pinning(ns, &as_canary);
    if (!a) return 0;
    reply_errorf(c, "ERR namespace '%.128s' is %s alias '%.128s' (%s first)", ns->name,
                 as_canary ? "the running canary of" : "the target of", a->name,
                 as_canary ? "end the canary" : "repoint or UNALIAS it");
    return -1;
}

/* ---- CACHE.ALIAS / UNALIAS / ALIASES ---- */

void cmd_cache_alias(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 3);
    if (!t) return;
    const req_arg *name = &c->argv[1], *target = &c->argv[2];
    if (name->len == 0 || name->len >= CACHE_NS_NAME_MAX) {
        reply_error(c, "ERR alias name must be 1..127 bytes");
        return;
    }
    if (cache_ns_find(t, name->ptr, name->len)) {
        reply_errorf(c, "ERR '%.128s' is a namespace; an alias may not shadow it", name->ptr);
        return;
    }
    cache_ns *ns = cache_ns_find(t, target->ptr, target->len);
    if (!ns) {
        if (alias_find(t, target->ptr, target->len))
            reply_errorf(c, "ERR '%.128s' is an alias; an alias must point at a namespace",
                         target->ptr);
        else
            reply_errorf(c, "ERR no such namespace '%.128s'", target->ptr);
        return;
    }
    cache_alias *a = alias_find(t, name->ptr, name->len);
    if (a && a->status == CANARY_ACTIVE && a->canary_gen == ns->generation) {
        reply_errorf(c, "ERR '%.128s' is the running canary of '%.128s' (use CACHE.CANARY "
                     "%.128s PROMOTE)", ns->name, a->name, a->name);
        return;
    }
    uint64_t prev;
    if (alias_set(t, name->ptr, name->len, ns, &prev) != 0) {
        reply_error(c, "OOM out of memory creating the alias");
        return;
    }
    reply_name_or_null(c, gen_name(prev));
}

void cmd_cache_unalias(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 2);
    if (!t) return;
    cache_alias *a = alias_find(t, c->argv[1].ptr, c->argv[1].len);
    if (a) alias_del(a);
    reply_integer(c, a != NULL);
}

static void reply_alias_row(client *c, const cache_alias *a) {
    reply_map(c, 7);
    reply_bulk_cstr(c, "alias");
    reply_bulk_cstr(c, a->name);
    reply_bulk_cstr(c, "namespace");
    reply_name_or_null(c, gen_name(a->target_gen));
    reply_bulk_cstr(c, "canary");
    reply_name_or_null(c, a->status == CANARY_NONE ? NULL : gen_name(a->canary_gen));
    reply_bulk_cstr(c, "percent");
    reply_double(c, (double)a->ppm / 10000.0);
    reply_bulk_cstr(c, "sticky");
    reply_bulk_cstr(c, canary_sticky_name(a->sticky));
    reply_bulk_cstr(c, "status");
    reply_bulk_cstr(c, canary_status_name(a->status));
    reply_bulk_cstr(c, "reason");
    reply_bulk_cstr(c, a->reason);
}

void cmd_cache_aliases(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 1);
    if (!t) return;
    long n = 0;
    for (cache_alias *a = alias_first(); a; a = a->next) n += a->owner == t;
    reply_array(c, n);
    for (cache_alias *a = alias_first(); a; a = a->next)
        if (a->owner == t) reply_alias_row(c, a);
}

/* ---- CACHE.CANARY ---- */

static void reply_arm(client *c, const char *ns, const canary_arm_stats *s) {
    reply_map(c, 17);
    reply_bulk_cstr(c, "namespace");
    reply_name_or_null(c, ns);
    reply_bulk_cstr(c, "requests");
    reply_integer(c, (long long)s->requests);
    reply_bulk_cstr(c, "hits_exact");
    reply_integer(c, (long long)s->hits_exact);
    reply_bulk_cstr(c, "hits_semantic");
    reply_integer(c, (long long)s->hits_semantic);
    reply_bulk_cstr(c, "hits_stale");
    reply_integer(c, (long long)s->hits_stale);
    reply_bulk_cstr(c, "misses");
    reply_integer(c, (long long)s->misses);
    reply_bulk_cstr(c, "hit_rate");
    reply_double(c, canary_arm_hit_rate(s));
    reply_bulk_cstr(c, "latency_mean_us");
    reply_double(c, canary_arm_mean_latency_us(s));
    reply_bulk_cstr(c, "latency_p99_us");
    reply_integer(c, (long long)canary_arm_latency_quantile_us(s, 0.99));
    reply_bulk_cstr(c, "puts");
    reply_integer(c, (long long)s->puts);
    reply_bulk_cstr(c, "spend_nusd");
    reply_integer(c, s->spend_nusd);
    reply_bulk_cstr(c, "saved_nusd");
    reply_integer(c, s->saved_nusd);
    reply_bulk_cstr(c, "cost_per_request_nusd");
    reply_double(c, s->requests ? (double)s->spend_nusd / (double)s->requests : 0.0);
    reply_bulk_cstr(c, "cost_per_request_usd");
    reply_double(c, s->requests ? (double)s->spend_nusd / (double)s->requests / 1e9 : 0.0);
    reply_bulk_cstr(c, "feedback_good");
    reply_integer(c, (long long)s->feedback_good);
    reply_bulk_cstr(c, "feedback_bad");
    reply_integer(c, (long long)s->feedback_bad);
    reply_bulk_cstr(c, "bad_rate");
    reply_double(c, canary_arm_bad_rate(s));
}

static void canary_info_reply(client *c, const cache_alias *a) {
    reply_map(c, 14);
    reply_bulk_cstr(c, "alias");
    reply_bulk_cstr(c, a->name);
    reply_bulk_cstr(c, "tenant");
    reply_bulk_cstr(c, a->owner->name);
    reply_bulk_cstr(c, "status");
    reply_bulk_cstr(c, canary_status_name(a->status));
    reply_bulk_cstr(c, "reason");
    reply_bulk_cstr(c, a->reason);
    reply_bulk_cstr(c, "percent");
    reply_double(c, (double)a->ppm / 10000.0);
    reply_bulk_cstr(c, "sticky");
    reply_bulk_cstr(c, canary_sticky_name(a->sticky));
    reply_bulk_cstr(c, "started_ms");
    reply_integer(c, a->started_ms);
    reply_bulk_cstr(c, "ended_ms");
    reply_integer(c, a->ended_ms);
    reply_bulk_cstr(c, "rollbacks_auto");
    reply_integer(c, (long long)a->rollbacks_auto);
    reply_bulk_cstr(c, "guard_max_bad_rate");
    reply_double(c, a->guard.max_bad_rate);
    reply_bulk_cstr(c, "guard_min_hit_rate_ratio");
    reply_double(c, a->guard.min_hit_ratio);
    reply_bulk_cstr(c, "guard_max_latency_ratio");
    reply_double(c, a->guard.max_latency_ratio);
    reply_bulk_cstr(c, "guard_min_requests");
    reply_integer(c, (long long)a->guard.min_requests);
    reply_bulk_cstr(c, "arms");
    reply_map(c, 2);
    reply_bulk_cstr(c, "stable");
    reply_arm(c, gen_name(a->target_gen), &a->arm[ARM_STABLE]);
    reply_bulk_cstr(c, "canary");
    reply_arm(c, a->status == CANARY_NONE ? NULL : gen_name(a->canary_gen), &a->arm[ARM_CANARY]);
}

/* A non-negative decimal guard threshold, or "off" (-1). */
static int ratio_or_reply(client *c, const req_arg *a, double *out) {
    double d;
    if (cache_arg_is(a, "off")) {
        *out = -1;
        return 0;
    }
    if (strconv_d(a->ptr, a->len, &d) != 0 || !(d >= 0.0 && d <= 1e9)) {
        reply_errorf(c, "ERR guard thresholds must be non-negative numbers, got '%.128s'",
                     a->ptr);
        return -1;
    }
    *out = d;
    return 0;
}

/* GUARD [MAX-BAD-RATE r] [MIN-HIT-RATE-RATIO x] [MAX-LATENCY-RATIO y]
 * [MIN-REQUESTS n] | GUARD NONE, from argv[from]; *end: first argument not
 * consumed. The alias's guard is changed only if all parse. */
static int parse_guard_or_reply(client *c, int from, canary_guard *g, int *end) {
    int j = from;
    if (j < c->argc && cache_arg_is(&c->argv[j], "none")) {
        canary_guard_default(g);
        *end = j + 1;
        return 0;
    }
    for (; j + 1 < c->argc; j += 2) {
        const req_arg *a = &c->argv[j], *n = &c->argv[j + 1];
        if (cache_arg_is(a, "max-bad-rate")) {
            if (ratio_or_reply(c, n, &g->max_bad_rate)) return -1;
        } else if (cache_arg_is(a, "min-hit-rate-ratio")) {
            if (ratio_or_reply(c, n, &g->min_hit_ratio)) return -1;
        } else if (cache_arg_is(a, "max-latency-ratio")) {
            if (ratio_or_reply(c, n, &g->max_latency_ratio)) return -1;
        } else if (cache_arg_is(a, "min-requests")) {
            long long v;
            if (strconv_ll(n->ptr, n->len, &v) != 0 || v < 1) {
                reply_error(c, "ERR MIN-REQUESTS must be a positive integer");
                return -1;
            }
            g->min_requests = (uint64_t)v;
        } else {
            break;
        }
    }
    if (j == from) {
        reply_error(c, ERR_SYNTAX);
        return -1;
    }
    *end = j;
    return 0;
}

/* CACHE.CANARY alias namespace PERCENT p [STICKY-BY user|tenant|prompt]
 * [TENANT t] */
static void canary_set(client *c) {
    uint32_t ppm = 0;
    canary_sticky sticky = STICKY_USER;
    const req_arg *targ = NULL;
    if (canary_parse_percent(c->argv[4].ptr, c->argv[4].len, &ppm) != 0) {
        reply_error(c, "ERR PERCENT must be a number above 0 and at most 100 "
                    "(at most 4 decimals)");
        return;
    }
    for (int j = 5; j < c->argc; j += 2) {
        if (j + 1 >= c->argc) goto syntax;
        const req_arg *n = &c->argv[j + 1];
        if (cache_arg_is(&c->argv[j], "sticky-by")) {
            if (cache_arg_is(n, "user")) sticky = STICKY_USER;
            else if (cache_arg_is(n, "tenant")) sticky = STICKY_TENANT;
            else if (cache_arg_is(n, "prompt")) sticky = STICKY_PROMPT;
            else goto syntax;
        } else if (cache_arg_is(&c->argv[j], "tenant")) {
            targ = n;
        } else {
            goto syntax;
        }
    }
    tenant *t = cache_tenant_or_reply(c, targ);
    if (!t) return;
    cache_alias *a = alias_or_reply(c, t, &c->argv[1]);
    if (!a) return;
    cache_ns *ns = cache_ns_find(t, c->argv[2].ptr, c->argv[2].len);
    if (!ns) {
        reply_errorf(c, "ERR no such namespace '%.128s'", c->argv[2].ptr);
        return;
    }
    if (ns->generation == a->target_gen) {
        reply_errorf(c, "ERR '%.128s' is already the target of alias '%.128s'", ns->name,
                     a->name);
        return;
    }
    canary_start(a, ns, ppm, sticky);
    reply_ok(c);
    return;
syntax:
    reply_error(c, ERR_SYNTAX);
}

void cmd_cache_canary(client *c) {
    if (c->argc >= 5 && cache_arg_is(&c->argv[3], "percent")) {
        canary_set(c);
        return;
    }
    const req_arg *sub = &c->argv[2];
    int end = 3;
    canary_guard g;
    int is_guard = cache_arg_is(sub, "guard");
    if (is_guard) {
        /* parsed before the alias is known: start from a neutral guard and
         * merge only the fields given (below) */
        canary_guard_default(&g);
        g.max_bad_rate = g.min_hit_ratio = g.max_latency_ratio = -2;
        g.min_requests = 0;
        if (parse_guard_or_reply(c, 3, &g, &end)) return;
    } else if (!cache_arg_is(sub, "off") && !cache_arg_is(sub, "promote") && !cache_arg_is(sub, "rollback") &&
               !cache_arg_is(sub, "info")) {
        reply_error(c, ERR_SYNTAX);
        return;
    }
    tenant *t = cache_only_tenant_opt_or_reply(c, end);
    if (!t) return;
    cache_alias *a = alias_or_reply(c, t, &c->argv[1]);
    if (!a) return;
    if (cache_arg_is(sub, "info")) {
        canary_info_reply(c, a);
        return;
    }
    if (is_guard) {
        if (cache_arg_is(&c->argv[3], "none")) {
            canary_guard_default(&a->guard);
        } else {
            if (g.max_bad_rate > -2) a->guard.max_bad_rate = g.max_bad_rate;
            if (g.min_hit_ratio > -2) a->guard.min_hit_ratio = g.min_hit_ratio;
            if (g.max_latency_ratio > -2) a->guard.max_latency_ratio = g.max_latency_ratio;
            if (g.min_requests) a->guard.min_requests = g.min_requests;
        }
        reply_ok(c);
        return;
    }
    if (a->status != CANARY_ACTIVE) {
        reply_errorf(c, "ERR alias '%.128s' has no running canary", a->name);
        return;
    }
    if (cache_arg_is(sub, "off")) {
        canary_stop(a, CANARY_OFF, "off");
    } else if (cache_arg_is(sub, "rollback")) {
        canary_stop(a, CANARY_ROLLED_BACK, "manual rollback");
    } else {
        if (!cache_ns_by_generation(a->canary_gen)) {
            reply_error(c, "ERR the canary namespace no longer exists");
            return;
        }
        canary_promote(a);
    }
    reply_ok(c);
}

/* ---- CACHE.FEEDBACK ---- */

void cmd_cache_feedback(client *c) {
    tenant *t = cache_only_tenant_opt_or_reply(c, 4);
    if (!t) return;
    int bad = cache_arg_is(&c->argv[3], "bad");
    if (!bad && !cache_arg_is(&c->argv[3], "good")) {
        reply_error(c, "ERR feedback must be 'good' or 'bad'");
        return;
    }
    unsigned long long id;
    if (strconv_ull(c->argv[2].ptr, c->argv[2].len, &id) != 0) {
        reply_error(c, ERR_NOT_INTEGER);
        return;
    }
    cache_ns *ns = cache_ns_find(t, c->argv[1].ptr, c->argv[1].len);
    if (!ns && !(ns = alias_ns_or_reply(c, t, &c->argv[1], NULL, NULL))) return;
    if (id == 0 || id >= ns->next_id) {
        reply_errorf(c, "ERR no entry %llu was ever stored in '%.128s'", id, ns->name);
        return;
    }
    cache_entry *e = cache_entry_by_id(ns, id);
    alias_feedback(ns, bad);
    if (e && bad) {
        cache_entry_delete(ns, e);
        ns->st.deleted++;
    }
    reply_integer(c, e != NULL);
}

/* ---- CACHE.VERSIONS ---- */

static long count_refs(const cache_ns *ns, int canary) {
    long n = 0;
    for (cache_alias *a = alias_first(); a; a = a->next) {
        if (a->owner != ns->owner) continue;
        n += canary ? a->status == CANARY_ACTIVE && a->canary_gen == ns->generation
                    : a->target_gen == ns->generation;
    }
    return n;
}

static void reply_refs(client *c, const cache_ns *ns, int canary) {
    reply_array(c, count_refs(ns, canary));
    for (cache_alias *a = alias_first(); a; a = a->next) {
        if (a->owner != ns->owner) continue;
        if (canary ? a->status == CANARY_ACTIVE && a->canary_gen == ns->generation
                   : a->target_gen == ns->generation)
            reply_bulk_cstr(c, a->name);
    }
}

static void reply_version_row(client *c, const cache_ns *ns) {
    uint64_t good, bad;
    alias_ns_feedback(ns, &good, &bad);
    reply_map(c, 10);
    reply_bulk_cstr(c, "tenant");
    reply_bulk_cstr(c, ns->owner->name);
    reply_bulk_cstr(c, "namespace");
    reply_bulk_cstr(c, ns->name);
    reply_bulk_cstr(c, "prompt_version");
    reply_bulk_cstr(c, ns->cfg.prompt_version);
    reply_bulk_cstr(c, "model_version");
    reply_bulk_cstr(c, ns->cfg.model_version);
    reply_bulk_cstr(c, "tools_version");
    reply_bulk_cstr(c, ns->cfg.tools_version);
    reply_bulk_cstr(c, "entries");
    reply_integer(c, (long long)cache_ns_count(ns));
    reply_bulk_cstr(c, "aliases");
    reply_refs(c, ns, 0);
    reply_bulk_cstr(c, "canary_of");
    reply_refs(c, ns, 1);
    reply_bulk_cstr(c, "feedback_good");
    reply_integer(c, (long long)good);
    reply_bulk_cstr(c, "feedback_bad");
    reply_integer(c, (long long)bad);
}

/* CACHE.VERSIONS [TENANT t]: admin without TENANT sees every tenant. */
void cmd_cache_versions(client *c) {
    char own[TENANT_NAME_MAX];
    tenant *t = NULL;
    if (c->argc == 1 && tenant_role_of(c, own) == ROLE_ADMIN) {
        t = NULL;   /* all tenants */
    } else if (!(t = cache_only_tenant_opt_or_reply(c, 1))) {
        return;
    }
    long n = 0;
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next) n += !t || ns->owner == t;
    reply_array(c, n);
    for (cache_ns *ns = cache_ns_first(); ns; ns = ns->next)
        if (!t || ns->owner == t) reply_version_row(c, ns);
}

/* CACHE.GET/PUT: the namespace argv[1] names, or the arm its alias picks
 * for this request's sticky key (USER argument, else the connection's
 * user; the tenant; the prompt in argv[2]). r is zeroed, then filled when
 * an alias was used. NULL after replying. */
cache_ns *alias_route_ns_or_reply(client *c, tenant *t, const req_arg *user, alias_route *r) {
    const req_arg *name = &c->argv[1];
    r->alias_id = 0;
    r->arm = -1;
    r->ns[0] = '\0';
    cache_ns *ns = cache_ns_find(t, name->ptr, name->len);
    if (ns) return ns;
    alias_key k = {user ? user->ptr : c->user, user ? user->len : strlen(c->user), t->name,
                   c->argv[2].ptr, c->argv[2].len};
    return alias_ns_or_reply(c, t, name, &k, r);
}
