/* trace.h -- W3C trace context and OTLP/HTTP JSON span export.
 *
 * A request handler builds spans (trace_span: ids, name, kind, times and a
 * few typed attributes in a fixed-size record) and hands them to
 * trace_submit, which copies them into a bounded queue: this is all the
 * request path pays. A timer on the loop takes batches off the queue,
 * encodes them as one OTLP ExportTraceServiceRequest in JSON and POSTs it
 * through libcurl's multi interface on the same loop (curl_uv.h), one
 * export in flight at a time. A full queue drops the new span and counts
 * it; a failed or timed-out export drops its batch and counts it. See
 * trace.c for the design notes.
 *
 * Threading: loop thread only, except trace_clock_ns, trace_parse_
 * traceparent, trace_json_* and trace_span_* (pure functions of their
 * arguments). */
#ifndef SIMCACHE_TRACE_H
#define SIMCACHE_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sbuf.h"

#define TRACE_ID_BYTES 16
#define SPAN_ID_BYTES 8
#define TRACEPARENT_LEN 55          /* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define TRACE_MAX_ATTRS 16
#define TRACE_ARENA 640             /* bytes for the name and string values */
#define TRACE_STR_MAX 256           /* a string value is cut to this many bytes */

#define TRACE_FLAG_SAMPLED 0x01

/* OTLP enums (opentelemetry-proto trace.proto). */
enum { SPAN_KIND_INTERNAL = 1, SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3 };
enum { SPAN_STATUS_UNSET = 0, SPAN_STATUS_OK = 1, SPAN_STATUS_ERROR = 2 };

/* The trace a request belongs to: from a client's traceparent, or new. */
typedef struct trace_ctx {
    uint8_t trace_id[TRACE_ID_BYTES];  /* never all zero */
    uint8_t parent_id[SPAN_ID_BYTES];  /* the caller's span; valid if has_parent */
    uint8_t flags;                     /* W3C trace-flags; bit 0 = sampled */
    int has_parent;
} trace_ctx;

typedef enum trace_attr_type { TA_STR = 0, TA_INT, TA_DOUBLE } trace_attr_type;

typedef struct trace_attr {
    const char *key;                   /* static string (attribute names are code) */
    trace_attr_type type;
    union {
        int64_t i;
        double d;
        struct { uint16_t off, len; } s;   /* into the span's arena */
    } v;
} trace_attr;

/* One finished (or being built) span. Plain data: copied by value. */
typedef struct trace_span {
    uint8_t trace_id[TRACE_ID_BYTES];
    uint8_t span_id[SPAN_ID_BYTES];
    uint8_t parent_id[SPAN_ID_BYTES];
    int has_parent;
    int kind;                          /* SPAN_KIND_* */
    int status;                        /* SPAN_STATUS_* */
    uint64_t start_ns, end_ns;         /* unix time, nanoseconds */
    uint16_t name_off, name_len;       /* into arena */
    int nattr;
    trace_attr attr[TRACE_MAX_ATTRS];
    uint16_t used;                     /* arena bytes used */
    char arena[TRACE_ARENA];
} trace_span;

/* Wall-clock time in nanoseconds since the epoch (CLOCK_REALTIME). Any
 * thread. */
uint64_t trace_clock_ns(void);

/* Parses a W3C traceparent header value (Trace Context level 1, section
 * 3.2): "00-<32 lowercase hex>-<16 lowercase hex>-<2 lowercase hex>".
 * Version ff is invalid; versions above 00 may carry more fields after a
 * '-' (ignored), version 00 may not. An all-zero trace id or parent id is
 * invalid. Returns 0 and fills *out (has_parent = 1), or -1 (out
 * untouched). Any thread. */
int trace_parse_traceparent(const char *s, size_t len, trace_ctx *out);

/* Fills out with n random bytes, never all zero, from a per-thread
 * xoshiro256** generator seeded from getrandom(). Any thread. */
void trace_random_id(uint8_t *out, size_t n);

/* A new root context: a random trace id, sampled (trace-flags bit 0) per
 * otlp-sample-ratio by trace_id_sampled. A request that brings its own
 * traceparent keeps the caller's decision instead. Loop thread only. */
void trace_ctx_new(trace_ctx *out);

/* trace_ctx_new plus a random span id (SPAN_ID_BYTES, never all zero) in
 * one call: three generator steps, no loops (the exact-hit path). Same
 * sampling as trace_ctx_new. Any thread. */
void trace_ctx_new_with_span(trace_ctx *out, uint8_t *span_id);

/* 1 if a trace with this 16-byte id is kept at ratio (0..1): OpenTelemetry's
 * TraceIdRatioBased rule (the id's last 8 bytes, big-endian, below
 * ratio * 2^64). Pure. */
int trace_id_sampled(const uint8_t *trace_id, double ratio);

/* otlp-sample-ratio (config.c's T_SPECIAL hooks): a number in [0, 1],
 * default 1; 0 on success, -1 with a message in err. Loop thread. */
int trace_config_set_sample_ratio(int argc, char **argv, char *err, size_t errlen);
void trace_config_get_sample_ratio(char *buf, size_t cap);

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void trace_hex(const uint8_t *b, size_t n, char *out);

/* Starts a span of trace tc: a new random span id, parent = parent (NULL
 * for none), the given name (cut to fit), kind and start time. */
void trace_span_init(trace_span *s, const uint8_t *trace_id, const uint8_t *parent,
                     const char *name, size_t name_len, int kind, uint64_t start_ns);
/* Attributes: silently ignored once TRACE_MAX_ATTRS are set; a string is
 * cut to TRACE_STR_MAX bytes and to what the arena still holds. */
void trace_span_str(trace_span *s, const char *key, const char *v, size_t len);
void trace_span_int(trace_span *s, const char *key, int64_t v);
void trace_span_double(trace_span *s, const char *key, double v);

/* Appends v as a JSON string (quotes included): '"', '\\' and control
 * bytes escaped, bytes that are not valid UTF-8 replaced by U+FFFD, so the
 * output is valid JSON whatever the input. Any thread. */
void trace_json_str(sbuf *o, const char *v, size_t len);

/* Appends one OTLP/HTTP JSON ExportTraceServiceRequest holding spans[0..n)
 * under one resource (service.name = service) and one scope ("simcache",
 * SIMCACHE_VERSION). Any thread. */
void trace_json_encode(sbuf *o, const trace_span *spans, size_t n, const char *service);

/* ---- the exporter (loop thread only) ---- */

/* 1 when otlp-endpoint is set: callers build spans only then. */
int trace_enabled(void);

/* 1 if the queue is full (or the exporter is not running): a caller may
 * then skip building its spans and count them with trace_note_dropped. */
int trace_queue_full(void);
void trace_note_dropped(uint64_t n);

/* Queues a copy of s for export. 0, or -1 if the queue is full or the
 * exporter is not running (the span is dropped and counted). */
int trace_submit(const trace_span *s);

/* Starts the exporter on loop: the flush timer (the queue of
 * otlp-max-queue spans is allocated with the first span). 0, or -1 if
 * curl_global_init failed. Call before any thread starts (it runs
 * curl_uv_global_init). With no endpoint configured spans are simply not
 * produced. */
int trace_start(uv_loop_t *loop);

/* Stops: aborts the export in flight, counts queued spans as dropped,
 * closes the timers and the curl multi (the caller runs the loop until
 * uv_loop_close succeeds). Idempotent. */
void trace_stop(void);

typedef struct trace_stats {
    uint64_t spans_queued;      /* accepted by trace_submit */
    uint64_t spans_exported;    /* in batches the collector answered 2xx */
    uint64_t spans_dropped;     /* queue full, or still queued at shutdown */
    uint64_t spans_failed;      /* in batches that failed (error, non-2xx, timeout) */
    uint64_t exports_ok, exports_failed;
    uint64_t queue_len;         /* spans waiting now */
    uint64_t inflight;          /* spans in the export in flight */
} trace_stats;

void trace_get_stats(trace_stats *out);

/* INFO section "tracing". */
void trace_info(sbuf *o);

#endif
