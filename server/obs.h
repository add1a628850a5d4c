/* obs.h -- observability of cache requests: the glue between the CACHE.*
 * handlers (cmd_cache.c) and the span exporter (trace.h) and request log
 * (reqlog.h), so the handlers pay a few calls and no formatting.
 *
 * A handler declares an obs_req, calls obs_begin_or_reply once it has
 * parsed its options (this validates TRACEPARENT), and obs_end_get /
 * obs_end_put / obs_end_search when it replies. A request whose search
 * runs on the worker pool calls obs_detach before it parks (the prompt and
 * the phase times of the loop part are copied into the obs_req, which then
 * travels with the job) and the worker brackets its search with
 * obs_clock(). cache.c reports its embedding and search phases with
 * obs_mark_embed / obs_mark_search.
 *
 * Threading: loop thread only, except obs_clock (any thread). */
#ifndef SIMCACHE_OBS_H
#define SIMCACHE_OBS_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "client.h"
#include "reqlog.h"
#include "trace.h"

typedef struct obs_req {
    reqlog_op op;
    trace_ctx tc;                   /* the client's traceparent, or a new trace */
    uint8_t span_id[SPAN_ID_BYTES]; /* this request's span */
    uint64_t start_ns;              /* unix ns of the command's start */
    uint64_t start_mono;            /* CLOCK_MONOTONIC ns (µs resolution) of the
                                     * command's start (commands_clock_start_us) */
    uint64_t embed0, embed1;        /* unix ns of the embedding, 0 = none */
    uint64_t search0, search1;      /* unix ns of the HNSW search, 0 = none */
    int threaded;                   /* the search ran on the pool */
    int detached;                   /* obs_detach ran: phases already taken */
    int waiter;                     /* held by a WAIT waiter (obs_park) */
    const char *prompt;             /* borrowed from argv, or prompt_copy */
    size_t prompt_len;
    char *prompt_copy;              /* owned after obs_detach (cut to reqlog-max-field) */
    size_t prompt_full;             /* the prompt's length before the cut */
    /* copied by obs_detach/obs_park, for a namespace dropped meanwhile;
     * empty until then (the end reads a live namespace directly).
     * obs_begin_or_reply sets every field above and empties these. */
    char tenant[TENANT_NAME_MAX];
    char ns_name[CACHE_NS_NAME_MAX];
    char embedder[32];
    uint32_t dim;
    char model_version[CACHE_LABEL_MAX];
} obs_req;

/* Unix time in ns (trace_clock_ns). Any thread. */
uint64_t obs_clock(void);

/* Starts observing the request in c: op, the prompt argument (argv[2]),
 * and TRACEPARENT tp (NULL: a new trace). 0, or -1 after replying
 * "-ERR invalid traceparent" for a malformed value. */
int obs_begin_or_reply(obs_req *r, reqlog_op op, client *c, const req_arg *tp);

/* Before parking on the worker pool: takes the loop-side phase times and
 * copies the prompt, so r no longer borrows from c's arguments. 0, or -1
 * (ENOMEM: the prompt is then logged empty, with its full length). */
int obs_detach(obs_req *r, const cache_ns *ns);

/* A GET parked by WAIT (cmd_cache.c): moves r into dst, which the waiter
 * holds until the final answer and then ends with obs_end_get (parked = 1
 * there means the client closed before any answer: logged as tier "wait").
 * dst owns a prompt copy (cut to reqlog-max-field; empty on ENOMEM); r is
 * left owning nothing, and the caller's obs_end_get(r, ..., parked = 1)
 * does nothing. */
void obs_park(obs_req *r, const cache_ns *ns, obs_req *dst);

/* Phase hooks for cache.c: the embedding / HNSW search that started at t0
 * (obs_clock) ended now. Recorded for the request being observed. */
void obs_mark_embed(uint64_t t0);
void obs_mark_search(uint64_t t0);

/* The request's outcome: exports its spans (if tracing is on and the
 * trace is sampled), appends the request log entry, frees r's copies.
 * ns may be NULL (dropped during a threaded search); t is ns's owner or
 * the requesting tenant. obs_end_get with parked = 1 on a request that
 * obs_park moved does nothing (its waiter ends it, once). */
void obs_end_get(obs_req *r, const cache_ns *ns, const tenant *t, int rc, const cache_hit *h,
                 int parked);
void obs_end_put(obs_req *r, const cache_ns *ns, const tenant *t, const cache_put_args *a,
                 int rc, const cache_entry *e);
/* n: results (or a negative CACHE_E*); best: the first result's score. */
void obs_end_search(obs_req *r, const cache_ns *ns, const tenant *t, int n, double best);

/* A request refused with the error reply `error` ("-CODE message" without
 * the dash, e.g. an UPSTREAM refusal that has no CACHE_E* code): logged
 * with tier "error" (a PUT with what it asked to store, a = its args; NULL
 * otherwise) and a span with status ERROR. */
void obs_end_error(obs_req *r, const cache_ns *ns, const tenant *t, const cache_put_args *a,
                   const char *error);

#endif
