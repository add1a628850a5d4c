/* reqlog.h -- the request log for replay: one record per CACHE.PUT,
 * CACHE.GET and CACHE.SEARCH (exact prompt, model, parameters, tokens,
 * tier, score, entry id, latency, trace id), kept newest first in a ring
 * bounded by reqlog-max-len entries and reqlog-max-bytes bytes, readable
 * with CACHE.LOG, and optionally appended as JSON lines to reqlog-file by a
 * writer thread (see reqlog.c).
 *
 * Threading: loop thread only, except the writer thread, which is private
 * to reqlog.c. */
#ifndef SIMCACHE_REQLOG_H
#define SIMCACHE_REQLOG_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "sbuf.h"

typedef enum reqlog_op { REQLOG_GET = 0, REQLOG_PUT, REQLOG_SEARCH } reqlog_op;

/* What the cache layer reports for one request. Strings are borrowed for
 * the duration of reqlog_add (copied, cut to reqlog-max-field bytes; the
 * full lengths are recorded). NULL strings are recorded as absent.
 * Ids are raw bytes: formatting them is left to the readers. */
typedef struct reqlog_rec {
    reqlog_op op;
    const char *tenant;             /* NUL-terminated */
    const char *ns; size_t ns_len;
    const char *tier;               /* "exact", "semantic", "stale", "miss", "wait",
                                     * "stored" (PUT), "search", "error" */
    int has_score;
    double score;
    uint64_t entry_id;              /* 0 = none */
    const char *prompt; size_t prompt_len;
    const char *response; size_t response_len;
    const char *model; size_t model_len;
    const char *model_version;      /* the namespace's, NUL-terminated; may be NULL */
    const char *params; size_t params_len;
    uint64_t tokens_in, tokens_out;
    int64_t cost_nusd;
    uint64_t time_us;               /* unix microseconds at the request's start */
    uint64_t latency_us;            /* start to reply */
    int has_trace;                  /* 0: trace_id/span_id are absent (null) */
    uint8_t trace_id[16], span_id[8];   /* bytes; CACHE.LOG and the file spell them in hex */
    const char *error;              /* the error reply, or NULL */
    size_t error_len;               /* 0 = strlen(error) */
    /* Set by reqlog when it cuts a string (callers leave them 0): the
     * lengths the request carried; 0 means "the same as *_len". */
    size_t prompt_full, response_full, params_full;
} reqlog_rec;

/* Records r (newest first), trims the ring to its bounds, and queues the
 * JSON line for reqlog-file if one is open. No-op when reqlog-max-len is 0.
 * Allocation failure drops the record (counted). */
void reqlog_add(const reqlog_rec *r);

/* One JSON object (no newline) for the record: the same fields, in the
 * same order, as CACHE.LOG GET replies with. Any thread. */
void reqlog_json(sbuf *o, uint64_t id, const reqlog_rec *r);

/* Opens reqlog-file (if configured) and starts its writer thread. 0, or -1
 * with the reason in err. */
int reqlog_start(char *err, size_t errlen);
/* Writes what is queued, stops the writer thread, closes the file, frees
 * every entry. After the loop has stopped. Idempotent. */
void reqlog_stop(void);

/* CACHE.LOG GET [count] [NS ns] [TENANT t] | LEN [TENANT t] | RESET. */
void cmd_cache_log_get(client *c);
void cmd_cache_log_len(client *c);
void cmd_cache_log_reset(client *c);

typedef struct reqlog_stats {
    uint64_t added;                 /* records accepted */
    uint64_t evicted;               /* trimmed by the bounds */
    uint64_t entries, bytes;        /* kept now */
    uint64_t file_lines, file_dropped, file_errors;
} reqlog_stats;

void reqlog_get_stats(reqlog_stats *out);
/* INFO section "reqlog". */
void reqlog_info(sbuf *o);

#endif
