/* obs.c -- spans and request-log entries for CACHE.GET/PUT/SEARCH (see
 * obs.h).
 *
 * Design decisions:
 * 1. Span tree per request: one SERVER span named "<COMMAND> <namespace>"
 *    (parent: the client's traceparent span, if given) and, when they
 *    happened, two INTERNAL children: "embeddings <embedder>" (GenAI
 *    embeddings attributes: gen_ai.operation.name, gen_ai.request.model,
 *    gen_ai.provider.name, gen_ai.embeddings.dimension.count) and
 *    "search <namespace>". The embedder is in-process, hence INTERNAL, not
 *    the CLIENT kind the GenAI conventions give a remote embeddings call.
 *    The request span carries the GenAI attributes of the answer the cache
 *    stands in for (gen_ai.operation.name "chat", gen_ai.request.model,
 *    gen_ai.usage.input_tokens / output_tokens of the stored entry) and
 *    the cache's own (simcache.cache.tier, simcache.cache.score,
 *    simcache.cache.entry_id, db.namespace, simcache.tenant). Failed
 *    requests get status ERROR and error.type.
 * 2. Phase times: cache.c calls obs_mark_embed/obs_mark_search on the
 *    loop; they land in one static record that obs_begin_or_reply clears
 *    and the request's end (or obs_detach, before a worker search) takes.
 *    Nothing else runs on the loop between a handler's begin and its end
 *    or detach, so the record belongs to that request. The worker's search
 *    is timed by the worker into the job's own obs_req (cmd_cache.c).
 * 3. Unsampled traces (traceparent flags without bit 0, or a new root
 *    trace that otlp-sample-ratio dropped: trace_ctx_new) build no spans,
 *    but the request log still records the trace id: a replay can join
 *    the gateway's logs even when the trace was not kept.
 * 4. WAIT: a GET parked on another caller's fill is logged once, when it
 *    is answered: obs_park moves its obs_req into the waiter (cmd_cache.c),
 *    which ends it with the tier that served it.
 * 5. Cost: the exact-hit path is well under 1 µs of server CPU in total,
 *    so this file avoids snprintf, reads the wall clock at most every
 *    100 ms (wall_ns), shares the command clock's reads (one clock read per
 *    request: mono_start_ns/mono_now_ns), draws the trace and span ids in
 *    one call, reads namespace names in place instead of copying them
 *    (only a detached or sampled request copies), hands the request log
 *    raw id bytes (hex is spelled when the log is read) and memoises score
 *    conversion (cache_args.c). */
#include "obs.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cache_args.h"
#include "commands.h"
#include "config.h"
#include "reply.h"

static struct {
    uint64_t embed0, embed1, search0, search1;
} phase;

uint64_t obs_clock(void) { return trace_clock_ns(); }

void obs_mark_embed(uint64_t t0) {
    phase.embed0 = t0;
    phase.embed1 = trace_clock_ns();
}

void obs_mark_search(uint64_t t0) {
    phase.search0 = t0;
    phase.search1 = trace_clock_ns();
}

static void phases_take(obs_req *r) {
    if (r->detached) return;
    if (phase.embed0) r->embed0 = phase.embed0, r->embed1 = phase.embed1;
    if (phase.search0) r->search0 = phase.search0, r->search1 = phase.search1;
    memset(&phase, 0, sizeof phase);
}

/* Unix ns for a CLOCK_MONOTONIC reading: the monotonic clock plus an
 * offset to the wall clock, taken again (two fresh reads) whenever 100 ms
 * of monotonic time have passed. A wall-clock step shows up within 100 ms;
 * slewing is far below a µs over that span. */
static uint64_t wall_ns(uint64_t mono) {
    static uint64_t cal_mono, cal_off;
    if (!cal_mono || mono - cal_mono > 100000000ULL) {
        uint64_t m = uv_hrtime();
        cal_off = trace_clock_ns() - m;
        cal_mono = m;
    }
    return mono + cal_off;
}

/* Clock reads (design note 5): a request's start is the command clock's
 * start of the command (commands.c reads CLOCK_MONOTONIC once per command
 * anyway), and its end is one read that the dispatcher then takes as the
 * command's end: an exact-hit CACHE.GET reads the clock once, as a GET
 * does. Clock reads were 8.5% of an exact hit's server CPU with three per
 * request (perf, redis-benchmark -c 50 -P 16). */
static uint64_t mono_start_ns(void) { return commands_clock_start_us() * 1000; }
static uint64_t mono_now_ns(void) { return commands_clock_read_us() * 1000; }

int obs_begin_or_reply(obs_req *r, reqlog_op op, client *c, const req_arg *tp) {
    /* Field by field: a memset of the header compiled to `rep stos`,
     * whose start-up made this function ~2% of an exact hit (perf). */
    r->embed0 = r->embed1 = r->search0 = r->search1 = 0;
    r->threaded = r->detached = r->waiter = 0;
    r->prompt_copy = NULL;
    r->tenant[0] = r->ns_name[0] = r->embedder[0] = r->model_version[0] = 0;
    r->dim = 0;
    if (tp) {
        if (trace_parse_traceparent(tp->ptr, tp->len, &r->tc) != 0) {
            reply_error(c, "ERR invalid traceparent (expected "
                           "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)");
            return -1;
        }
        trace_random_id(r->span_id, SPAN_ID_BYTES);
    } else {
        trace_ctx_new_with_span(&r->tc, r->span_id);
    }
    r->op = op;
    r->start_mono = mono_start_ns();
    r->start_ns = wall_ns(r->start_mono);
    r->prompt = c->argv[2].ptr;
    r->prompt_len = c->argv[2].len;
    r->prompt_full = c->argv[2].len;
    memset(&phase, 0, sizeof phase);
    return 0;
}

/* snprintf(dst, cap, "%s", s) without the format machinery (four of
 * these per request showed in the exact-hit profile). */
static void copy_str(char *dst, size_t cap, const char *s) {
    size_t n = strnlen(s, cap - 1);
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void copy_ns(obs_req *r, const cache_ns *ns) {
    copy_str(r->tenant, sizeof r->tenant, ns->owner->name);
    copy_str(r->ns_name, sizeof r->ns_name, ns->name);
    copy_str(r->embedder, sizeof r->embedder, ns->cfg.embedder);
    copy_str(r->model_version, sizeof r->model_version, ns->cfg.model_version);
    r->dim = ns->cfg.dim;
}

/* Points r->prompt at an owned copy, cut to reqlog-max-field. 0, or -1
 * (ENOMEM: the prompt is then logged empty, with its full length). */
static int own_prompt(obs_req *r) {
    size_t n = r->prompt_len;
    if (n > (size_t)g_cfg.reqlog_max_field) n = (size_t)g_cfg.reqlog_max_field;
    r->prompt_copy = malloc(n + 1);
    if (!r->prompt_copy) {
        r->prompt = NULL;
        r->prompt_len = 0;
        return -1;
    }
    memcpy(r->prompt_copy, r->prompt, n);
    r->prompt_copy[n] = 0;
    r->prompt = r->prompt_copy;
    r->prompt_len = n;
    return 0;
}

int obs_detach(obs_req *r, const cache_ns *ns) {
    phases_take(r);
    r->detached = 1;
    r->threaded = 1;
    if (ns) copy_ns(r, ns);
    return own_prompt(r);
}

void obs_park(obs_req *r, const cache_ns *ns, obs_req *dst) {
    if (!r->detached) {
        phases_take(r);
        r->detached = 1;
    }
    if (ns) copy_ns(r, ns);
    *dst = *r;
    dst->waiter = 1;
    if (r->prompt_copy) {   /* ownership moves to dst */
        r->prompt_copy = NULL;
        r->prompt = NULL;
    } else if (dst->prompt) {
        own_prompt(dst);
    }
}

/* ---- spans (note 1) ---- */

static const char *const cmd_names[] = {"CACHE.GET", "CACHE.PUT", "CACHE.SEARCH"};

static const char *rc_error(int rc) {
    if (rc == CACHE_EEMPTY) return "ERR prompt is empty after normalisation";
    if (rc == CACHE_ENOMEM) return "OOM out of memory";
    return "ERR the index refused the vector";
}

/* What one request produced, in a form both outputs read. */
typedef struct outcome {
    const char *tier;
    int has_score;
    double score;
    const cache_entry *e;           /* the entry served or stored, or NULL */
    const char *error;
    long results;                   /* SEARCH; -1 otherwise */
} outcome;

static void child_spans(const obs_req *r, const trace_span *req, const char *ns_name,
                        size_t ns_len) {
    trace_span s;
    char name[64 + CACHE_NS_NAME_MAX];
    if (r->embed0) {
        int n = snprintf(name, sizeof name, "embeddings %s", r->embedder);
        trace_span_init(&s, r->tc.trace_id, req->span_id, name, (size_t)n, SPAN_KIND_INTERNAL,
                        r->embed0);
        s.end_ns = r->embed1;
        trace_span_str(&s, "gen_ai.operation.name", "embeddings", 10);
        trace_span_str(&s, "gen_ai.request.model", r->embedder, strlen(r->embedder));
        trace_span_str(&s, "gen_ai.provider.name", "simcache", 8);
        trace_span_int(&s, "gen_ai.embeddings.dimension.count", r->dim);
        s.status = SPAN_STATUS_OK;
        trace_submit(&s);
    }
    if (r->search0) {
        int n = snprintf(name, sizeof name, "search %.*s", (int)ns_len, ns_name);
        trace_span_init(&s, r->tc.trace_id, req->span_id, name, (size_t)n, SPAN_KIND_INTERNAL,
                        r->search0);
        s.end_ns = r->search1;
        trace_span_str(&s, "db.namespace", ns_name, ns_len);
        trace_span_int(&s, "simcache.search.threaded", r->threaded);
        s.status = SPAN_STATUS_OK;
        trace_submit(&s);
    }
}

/* Sampled requests only, with the names copied into r (finish). */
static void export_spans(const obs_req *r, const outcome *o, uint64_t end_ns) {
    if (trace_queue_full()) {   /* the common case behind a dead collector: build nothing */
        trace_note_dropped(1 + (r->embed0 != 0) + (r->search0 != 0));
        return;
    }
    trace_span s;
    char name[32 + CACHE_NS_NAME_MAX];
    int n = snprintf(name, sizeof name, "%s %s", cmd_names[r->op], r->ns_name);
    trace_span_init(&s, r->tc.trace_id, r->tc.has_parent ? r->tc.parent_id : NULL, name,
                    (size_t)n, SPAN_KIND_SERVER, r->start_ns);
    memcpy(s.span_id, r->span_id, SPAN_ID_BYTES);
    s.end_ns = end_ns;
    trace_span_str(&s, "db.system.name", "simcache", 8);
    trace_span_str(&s, "db.operation.name", cmd_names[r->op], strlen(cmd_names[r->op]));
    trace_span_str(&s, "db.namespace", r->ns_name, strlen(r->ns_name));
    trace_span_str(&s, "simcache.tenant", r->tenant, strlen(r->tenant));
    trace_span_str(&s, "gen_ai.operation.name", "chat", 4);
    trace_span_str(&s, "simcache.cache.tier", o->tier, strlen(o->tier));
    if (o->has_score) trace_span_double(&s, "simcache.cache.score", o->score);
    if (o->results >= 0) trace_span_int(&s, "simcache.search.results", o->results);
    if (o->e) {
        trace_span_int(&s, "simcache.cache.entry_id", (int64_t)o->e->id);
        if (o->e->model.p) trace_span_str(&s, "gen_ai.request.model", o->e->model.p, o->e->model.n);
        trace_span_int(&s, "gen_ai.usage.input_tokens", (int64_t)o->e->tokens_in);
        trace_span_int(&s, "gen_ai.usage.output_tokens", (int64_t)o->e->tokens_out);
    }
    if (o->error) {
        s.status = SPAN_STATUS_ERROR;
        const char *sp = strchr(o->error, ' ');
        trace_span_str(&s, "error.type", o->error, sp ? (size_t)(sp - o->error) : strlen(o->error));
    } else {
        s.status = SPAN_STATUS_OK;
    }
    trace_submit(&s);
    child_spans(r, &s, r->ns_name, strlen(r->ns_name));
}

/* ---- the request log ---- */

/* Names come from the live namespace when there is one (no copies on the
 * exact-hit path), else from what obs_detach/obs_park copied, else the
 * tenant's. */
static void log_entry(const obs_req *r, const cache_ns *ns, const tenant *t, const outcome *o,
                      uint64_t latency_us, const cache_put_args *a) {
    if (g_cfg.reqlog_max_len <= 0 && !g_cfg.reqlog_file[0]) return;
    reqlog_rec l;
    l.op = r->op;
    if (ns) {
        l.tenant = ns->owner->name;
        l.ns = ns->name;
        l.model_version = ns->cfg.model_version[0] ? ns->cfg.model_version : NULL;
    } else {
        l.tenant = r->tenant[0] || !t ? r->tenant : t->name;
        l.ns = r->ns_name;
        l.model_version = r->model_version[0] ? r->model_version : NULL;
    }
    l.ns_len = strlen(l.ns);
    l.tier = o->tier;
    l.has_score = o->has_score;
    l.score = o->score;
    l.prompt = r->prompt ? r->prompt : "";
    l.prompt_len = r->prompt_len;
    const cache_entry *e = o->e;
    l.entry_id = 0;
    if (e) {
        l.entry_id = e->id;
        l.response = e->response.p;
        l.response_len = e->response.n;
        l.model = e->model.p;
        l.model_len = e->model.n;
        l.params = e->params.p;
        l.params_len = e->params.n;
        l.tokens_in = e->tokens_in;
        l.tokens_out = e->tokens_out;
        l.cost_nusd = e->cost_nusd;
    } else if (a) {   /* a PUT that failed: what it asked for */
        l.response = a->response;
        l.response_len = a->response_len;
        l.model = a->model;
        l.model_len = a->model_len;
        l.params = a->params;
        l.params_len = a->params_len;
        l.tokens_in = a->tokens_in;
        l.tokens_out = a->tokens_out;
        l.cost_nusd = a->cost_nusd;
    } else {
        l.response = l.model = l.params = NULL;
        l.response_len = l.model_len = l.params_len = 0;
        l.tokens_in = l.tokens_out = 0;
        l.cost_nusd = 0;
    }
    l.time_us = r->start_ns / 1000;
    l.latency_us = latency_us;
    l.has_trace = 1;
    memcpy(l.trace_id, r->tc.trace_id, TRACE_ID_BYTES);
    memcpy(l.span_id, r->span_id, SPAN_ID_BYTES);
    l.error = o->error;
    l.error_len = 0;
    /* a prompt already cut by obs_detach: reqlog must still see the full length */
    l.prompt_full = r->prompt_copy && r->prompt_full > r->prompt_len ? r->prompt_full : 0;
    l.response_full = l.params_full = 0;
    reqlog_add(&l);
}

static void finish(obs_req *r, const cache_ns *ns, const tenant *t, const outcome *o,
                   const cache_put_args *a) {
    if (!r->detached) phases_take(r);
    /* One clock read (note 5): the span's end is its start plus the
     * monotonic latency (a wall-clock step during the request cannot make
     * a span end before it starts). */
    uint64_t lat_ns = mono_now_ns() - r->start_mono;
    if (trace_enabled() && (r->tc.flags & TRACE_FLAG_SAMPLED)) {
        if (ns) copy_ns(r, ns);
        else if (t && !r->tenant[0]) copy_str(r->tenant, sizeof r->tenant, t->name);
        export_spans(r, o, r->start_ns + lat_ns);
    }
    log_entry(r, ns, t, o, lat_ns / 1000, a);
    free(r->prompt_copy);
    r->prompt_copy = NULL;
    r->prompt = NULL;
}

static const char *const tier_names[] = {"miss", "exact", "semantic", "stale"};

void obs_end_get(obs_req *r, const cache_ns *ns, const tenant *t, int rc, const cache_hit *h,
                 int parked) {
    if (parked && !r->waiter) return;   /* a WAIT waiter took r over (obs_park) */
    outcome o = {"miss", 0, 0, NULL, NULL, -1};
    if (rc != CACHE_OK) {
        o.tier = "error";
        o.error = rc_error(rc);
    } else if (parked) {
        o.tier = "wait";
    } else if (h->tier != CACHE_MISS) {
        o.tier = tier_names[h->tier];
        o.has_score = 1;
        o.score = cache_score(h->score);
        o.e = h->e;
    }
    finish(r, ns, t, &o, NULL);
}

void obs_end_put(obs_req *r, const cache_ns *ns, const tenant *t, const cache_put_args *a,
                 int rc, const cache_entry *e) {
    outcome o = {"stored", 0, 0, rc == CACHE_OK ? e : NULL, NULL, -1};
    if (rc != CACHE_OK) {
        o.tier = "error";
        o.error = rc_error(rc);
    }
    finish(r, ns, t, &o, a);
}

void obs_end_search(obs_req *r, const cache_ns *ns, const tenant *t, int n, double best) {
    outcome o = {"search", n > 0, cache_score((float)best), NULL, NULL, n};
    if (n < 0) {
        o.tier = "error";
        o.error = rc_error(n);
        o.results = -1;
    }
    finish(r, ns, t, &o, NULL);
}

void obs_end_error(obs_req *r, const cache_ns *ns, const tenant *t, const cache_put_args *a,
                   const char *error) {
    outcome o = {"error", 0, 0, NULL, error, -1};
    finish(r, ns, t, &o, a);
}
