/* trace.c -- W3C trace context parsing, span records, OTLP/HTTP JSON
 * encoding and the batched exporter (see trace.h).
 *
 * Design decisions:
 * 1. The request path only copies: a span is a fixed-size plain record
 *    (ids, times, up to TRACE_MAX_ATTRS typed attributes whose strings live
 *    in a small arena inside the record), and trace_submit copies it into a
 *    ring of otlp-max-queue records allocated with the first span (a server
 *    that never traces spends nothing on it). No JSON, no
 *    allocation, no I/O per request. A full ring drops the NEW span and
 *    counts it (spans_dropped): the request never waits for the exporter.
 *    Rejected: building JSON per span (allocation + formatting on the
 *    request path for spans that may be dropped anyway), a lock-free MPSC
 *    queue (every producer is the loop thread).
 * 2. Export is the OpenTelemetry BatchSpanProcessor's shape: a repeating
 *    timer every otlp-flush-interval ms, plus an immediate kick (a 0 ms
 *    timer, so it runs after the current batch of I/O, never inside a
 *    command) when otlp-batch-size spans are waiting; at most one export
 *    in flight; each export takes up to otlp-batch-size spans out of the
 *    ring, so the ring frees space as soon as a batch leaves. The POST goes
 *    through curl_uv (libcurl multi on this loop) with otlp-timeout ms as
 *    CURLOPT_TIMEOUT_MS: a collector that hangs costs one stuck export at a
 *    time, never a stalled loop; meanwhile new spans fill the ring and are
 *    dropped and counted. A failed batch (connection refused, timeout,
 *    non-2xx) is not retried: its spans count as spans_failed. Retrying
 *    with backoff would only matter for a collector that flaps, and the
 *    request log (reqlog.c) keeps the per-request record that matters.
 * 3. JSON follows OTLP/HTTP JSON (opentelemetry-proto specification):
 *    hex ids, lowerCamelCase keys, integer enums, 64-bit integers (times,
 *    intValue) as decimal strings. Strings are escaped and non-UTF-8 bytes
 *    replaced by U+FFFD so any prompt or name yields valid JSON.
 * 4. Ids: a per-thread xoshiro256** generator seeded from getrandom()
 *    on the thread's first id (no lock, no syscall after that); a new
 *    request's trace and span ids are three generator steps
 *    (trace_ctx_new_with_span). W3C requires trace ids to be random
 *    enough to avoid collisions, not secret; 256 bits of state seeded from
 *    the kernel give that. An id is redrawn if it comes out all zero.
 * 5. Parsing traceparent is strict (lowercase hex, exact lengths, the
 *    zero ids and version ff refused): a malformed value is an error reply
 *    rather than a silently new trace, so a broken gateway shows up.
 * 6. CONFIG SET otlp-endpoint (and the batch, interval and timeout
 *    options) take effect at the next export: the exporter reads g_cfg
 *    each time. An empty endpoint turns span production off. */
#include "trace.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "curl_uv.h"
#include "log.h"

uint64_t trace_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- traceparent ---- */

static int hexval(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;   /* uppercase is invalid in traceparent */
}

/* n bytes from 2n lowercase hex digits. 0, or -1. */
static int unhex(const char *s, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int all_zero(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

int trace_parse_traceparent(const char *s, size_t len, trace_ctx *out) {
    uint8_t ver, flags;
    trace_ctx t;
    if (len < TRACEPARENT_LEN) return -1;
    if (s[2] != '-' || s[35] != '-' || s[52] != '-') return -1;
    if (unhex(s, &ver, 1) || ver == 0xff) return -1;
    if (ver == 0 && len != TRACEPARENT_LEN) return -1;
    if (len > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-') return -1;
    if (unhex(s + 3, t.trace_id, TRACE_ID_BYTES) || unhex(s + 36, t.parent_id, SPAN_ID_BYTES) ||
        unhex(s + 53, &flags, 1))
        return -1;
    if (all_zero(t.trace_id, TRACE_ID_BYTES) || all_zero(t.parent_id, SPAN_ID_BYTES)) return -1;
    t.flags = flags;
    t.has_parent = 1;
    *out = t;
    return 0;
}

/* ---- ids (note 4) ---- */

/* Per thread, so any thread may draw ids without a lock; the loop thread
 * reaches its state fs-relative, as cheap as a global. */
static _Thread_local uint64_t rng_s[4];
static _Thread_local int rng_seeded;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* Inlined: three calls per request (trace_ctx_new_with_span). */
static inline __attribute__((always_inline)) uint64_t rng_next(void) {
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

static void rng_seed(void) {
    if (getrandom(rng_s, sizeof rng_s, 0) != (ssize_t)sizeof rng_s) {
        /* no getrandom (old kernel): time and address bits, still unique */
        uint64_t x = trace_clock_ns() ^ (uint64_t)(uintptr_t)&rng_s;
        for (int i = 0; i < 4; i++) {   /* splitmix64 */
            x += 0x9e3779b97f4a7c15ULL;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            rng_s[i] = z ^ (z >> 31);
        }
    }
    if (all_zero((const uint8_t *)rng_s, sizeof rng_s)) rng_s[0] = 1;
    rng_seeded = 1;
}

void trace_random_id(uint8_t *out, size_t n) {
    if (!rng_seeded) rng_seed();
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = rng_next();
            size_t m = n - i < 8 ? n - i : 8;
            memcpy(out + i, &r, m);
        }
    } while (all_zero(out, n));
}

/* ---- head sampling of new traces ---- */

static double sample_ratio = 1.0;   /* otlp-sample-ratio, 0..1 */

int trace_config_set_sample_ratio(int argc, char **argv, char *err, size_t errlen) {
    char *end;
    double d = argc == 1 ? strtod(argv[0], &end) : -1.0;
    if (argc != 1 || end == argv[0] || *end != 0 || !(d >= 0.0 && d <= 1.0)) {
        snprintf(err, errlen, "argument must be a number between 0 and 1");
        return -1;
    }
    sample_ratio = d;
    return 0;
}

void trace_config_get_sample_ratio(char *buf, size_t cap) { snprintf(buf, cap, "%.17g", sample_ratio); }

/* OpenTelemetry's TraceIdRatioBased rule: the trace id's last 8 bytes, as
 * a big-endian integer, below ratio * 2^64. Deterministic in the id, so
 * every service using the same rule keeps the same traces. */
int trace_id_sampled(const uint8_t *trace_id, double ratio) {
    if (ratio >= 1.0) return 1;
    if (!(ratio > 0.0)) return 0;
    uint64_t x = 0;
    for (int i = 8; i < 16; i++) x = x << 8 | trace_id[i];
    double bound = ratio * 18446744073709551616.0;   /* 2^64 */
    if (bound >= 18446744073709551615.0) return 1;
    return x < (uint64_t)bound;
}

void trace_ctx_new(trace_ctx *out) {
    memset(out, 0, sizeof *out);
    trace_random_id(out->trace_id, TRACE_ID_BYTES);
    out->flags = trace_id_sampled(out->trace_id, sample_ratio) ? TRACE_FLAG_SAMPLED : 0;
}

void trace_ctx_new_with_span(trace_ctx *out, uint8_t *span_id) {
    if (!rng_seeded) rng_seed();
    uint64_t a, b, c;
    do a = rng_next(), b = rng_next(); while ((a | b) == 0);
    do c = rng_next(); while (c == 0);
    memset(out, 0, sizeof *out);
    memcpy(out->trace_id, &a, 8);
    memcpy(out->trace_id + 8, &b, 8);
    memcpy(span_id, &c, 8);
    out->flags = trace_id_sampled(out->trace_id, sample_ratio) ? TRACE_FLAG_SAMPLED : 0;
}

void trace_hex(const uint8_t *b, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* ---- span records ---- */

/* Copies up to len bytes into the arena; the stored length. */
static uint16_t arena_put(trace_span *s, const char *v, size_t len, uint16_t *off) {
    size_t room = TRACE_ARENA - s->used;
    if (len > TRACE_STR_MAX) len = TRACE_STR_MAX;
    if (len > room) len = room;
    *off = s->used;
    if (len) memcpy(s->arena + s->used, v, len);
    s->used = (uint16_t)(s->used + len);
    return (uint16_t)len;
}

void trace_span_init(trace_span *s, const uint8_t *trace_id, const uint8_t *parent,
                     const char *name, size_t name_len, int kind, uint64_t start_ns) {
    s->has_parent = parent != NULL;
    memcpy(s->trace_id, trace_id, TRACE_ID_BYTES);
    if (parent) memcpy(s->parent_id, parent, SPAN_ID_BYTES);
    else memset(s->parent_id, 0, SPAN_ID_BYTES);
    trace_random_id(s->span_id, SPAN_ID_BYTES);
    s->kind = kind;
    s->status = SPAN_STATUS_UNSET;
    s->start_ns = s->end_ns = start_ns;
    s->nattr = 0;
    s->used = 0;
    s->name_len = arena_put(s, name, name_len, &s->name_off);
}

static trace_attr *attr_new(trace_span *s, const char *key, trace_attr_type type) {
    if (s->nattr >= TRACE_MAX_ATTRS) return NULL;
    trace_attr *a = &s->attr[s->nattr++];
    a->key = key;
    a->type = type;
    return a;
}

void trace_span_str(trace_span *s, const char *key, const char *v, size_t len) {
    trace_attr *a = attr_new(s, key, TA_STR);
    if (a) a->v.s.len = arena_put(s, v, len, &a->v.s.off);
}

void trace_span_int(trace_span *s, const char *key, int64_t v) {
    trace_attr *a = attr_new(s, key, TA_INT);
    if (a) a->v.i = v;
}

void trace_span_double(trace_span *s, const char *key, double v) {
    trace_attr *a = attr_new(s, key, TA_DOUBLE);
    if (a) a->v.d = v;
}

/* ---- JSON (note 3) ---- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    size_t need;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) need = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) need = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) need = 4, min = 0x10000;
    else return 0;
    if (n < need) return 0;
    unsigned cp = c & (0xff >> (need + 1));
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return need;
}

void trace_json_str(sbuf *o, const char *v, size_t len) {
    const unsigned char *p = (const unsigned char *)v;
    sbuf_append(o, "\"", 1);
    size_t i = 0, run = 0;   /* run: bytes at i - run .. i to copy as they are */
    while (i < len) {
        unsigned c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++, run++;
            continue;
        }
        size_t q = c >= 0x80 ? utf8_seq(p + i, len - i) : 0;
        if (q) {
            i += q, run += q;
            continue;
        }
        sbuf_append(o, p + i - run, run);
        run = 0;
        char esc[8];
        if (c == '"') sbuf_append(o, "\\\"", 2);
        else if (c == '\\') sbuf_append(o, "\\\\", 2);
        else if (c == '\n') sbuf_append(o, "\\n", 2);
        else if (c == '\r') sbuf_append(o, "\\r", 2);
        else if (c == '\t') sbuf_append(o, "\\t", 2);
        else if (c < 0x20) snprintf(esc, sizeof esc, "\\u%04x", c), sbuf_append(o, esc, 6);
        else sbuf_append(o, "\\ufffd", 6);
        i++;
    }
    sbuf_append(o, p + i - run, run);
    sbuf_append(o, "\"", 1);
}

static void json_hex(sbuf *o, const uint8_t *b, size_t n) {
    char h[2 * TRACE_ID_BYTES + 1];
    trace_hex(b, n, h);
    sbuf_append(o, "\"", 1);
    sbuf_append(o, h, 2 * n);
    sbuf_append(o, "\"", 1);
}

static void json_attr(sbuf *o, const trace_span *s, const trace_attr *a) {
    sbuf_puts(o, "{\"key\":");
    trace_json_str(o, a->key, strlen(a->key));
    sbuf_puts(o, ",\"value\":{");
    if (a->type == TA_STR) {
        sbuf_puts(o, "\"stringValue\":");
        trace_json_str(o, s->arena + a->v.s.off, a->v.s.len);
    } else if (a->type == TA_INT) {
        sbuf_printf(o, "\"intValue\":\"%lld\"", (long long)a->v.i);
    } else {
        sbuf_printf(o, "\"doubleValue\":%.17g", a->v.d);
    }
    sbuf_puts(o, "}}");
}

static void json_span(sbuf *o, const trace_span *s) {
    sbuf_puts(o, "{\"traceId\":");
    json_hex(o, s->trace_id, TRACE_ID_BYTES);
    sbuf_puts(o, ",\"spanId\":");
    json_hex(o, s->span_id, SPAN_ID_BYTES);
    if (s->has_parent) {
        sbuf_puts(o, ",\"parentSpanId\":");
        json_hex(o, s->parent_id, SPAN_ID_BYTES);
    }
    sbuf_puts(o, ",\"name\":");
    trace_json_str(o, s->arena + s->name_off, s->name_len);
    sbuf_printf(o, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"",
                s->kind, (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
    sbuf_puts(o, ",\"attributes\":[");
    for (int i = 0; i < s->nattr; i++) {
        if (i) sbuf_append(o, ",", 1);
        json_attr(o, s, &s->attr[i]);
    }
    sbuf_printf(o, "],\"status\":{\"code\":%d}}", s->status);
}

static void json_head(sbuf *o, const char *service) {
    sbuf_puts(o, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
                 "\"value\":{\"stringValue\":");
    trace_json_str(o, service, strlen(service));
    sbuf_puts(o, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"simcache\",\"version\":\""
                 SIMCACHE_VERSION "\"},\"spans\":[");
}

static void json_tail(sbuf *o) { sbuf_puts(o, "]}]}]}"); }

void trace_json_encode(sbuf *o, const trace_span *spans, size_t n, const char *service) {
    json_head(o, service);
    for (size_t i = 0; i < n; i++) {
        if (i) sbuf_append(o, ",", 1);
        json_span(o, &spans[i]);
    }
    json_tail(o);
}

/* ---- the exporter (notes 1, 2, 6) ---- */

typedef struct exporter {
    uv_loop_t *loop;
    uv_timer_t flush;           /* repeating, otlp-flush-interval */
    uv_timer_t kick;            /* one-shot 0 ms when a batch is full */
    curl_uv *cu;                /* created with the first export */
    trace_span *ring;           /* cap records */
    size_t cap, head, len;      /* head: oldest; len: queued */
    int running, kick_armed;
    /* the export in flight */
    CURL *easy;                 /* NULL when none */
    struct curl_slist *hdrs;
    sbuf body;
    size_t inflight;            /* spans in it */
    int cur_interval;           /* ms the flush timer repeats at */
    int failing;                /* the last export failed (log once per outage) */
    trace_stats st;
} exporter;

static exporter ex;

int trace_enabled(void) { return ex.running && g_cfg.otlp_endpoint[0] != 0; }

static void export_start(void);
static void kick_cb(uv_timer_t *t);

int trace_queue_full(void) { return !ex.running || ex.len == ex.cap; }

void trace_note_dropped(uint64_t n) { ex.st.spans_dropped += n; }

int trace_submit(const trace_span *s) {
    if (ex.running && !ex.ring) {   /* first span: the ring is allocated on demand */
        ex.ring = malloc(ex.cap * sizeof *ex.ring);
        if (!ex.ring) {
            ex.st.spans_dropped++;
            return -1;
        }
    }
    if (!ex.running || ex.len == ex.cap) {
        ex.st.spans_dropped++;
        return -1;
    }
    ex.ring[(ex.head + ex.len) % ex.cap] = *s;
    ex.len++;
    ex.st.spans_queued++;
    if (!ex.easy && !ex.kick_armed && ex.len >= (size_t)g_cfg.otlp_batch_size) {
        ex.kick_armed = 1;
        uv_timer_start(&ex.kick, kick_cb, 0, 0);
    }
    return 0;
}

static size_t discard_body(char *p, size_t sz, size_t n, void *ud) {
    (void)p, (void)ud;
    return sz * n;
}

static void export_done(CURL *easy, CURLcode res, void *ud) {
    (void)ud;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (res == CURLE_OK && code >= 200 && code < 300) {
        ex.st.spans_exported += ex.inflight;
        ex.st.exports_ok++;
        if (ex.failing) log_msg(LL_NOTICE, "OTLP export to %s works again", g_cfg.otlp_endpoint);
        ex.failing = 0;
    } else {
        ex.st.spans_failed += ex.inflight;
        ex.st.exports_failed++;
        /* a warning when exports start failing, then verbose: a dead
         * collector must not flood the log */
        log_msg(ex.failing ? LL_VERBOSE : LL_WARNING,
                "OTLP export of %zu spans to %s failed: %s (HTTP %ld)", ex.inflight,
                g_cfg.otlp_endpoint,
                res == CURLE_OK ? "collector refused" : curl_easy_strerror(res), code);
        ex.failing = 1;
    }
    curl_easy_cleanup(easy);
    curl_slist_free_all(ex.hdrs);
    ex.hdrs = NULL;
    ex.easy = NULL;
    ex.inflight = 0;
    sbuf_free(&ex.body);
    if (ex.running && ex.len >= (size_t)g_cfg.otlp_batch_size) export_start();
}

/* Takes up to otlp-batch-size spans off the ring, encoded into ex.body. */
static size_t take_batch(void) {
    size_t n = ex.len < (size_t)g_cfg.otlp_batch_size ? ex.len : (size_t)g_cfg.otlp_batch_size;
    sbuf_reset(&ex.body);
    json_head(&ex.body, g_cfg.otlp_service_name);
    for (size_t i = 0; i < n; i++) {
        if (i) sbuf_append(&ex.body, ",", 1);
        json_span(&ex.body, &ex.ring[(ex.head + i) % ex.cap]);
    }
    json_tail(&ex.body);
    ex.head = (ex.head + n) % ex.cap;
    ex.len -= n;
    return n;
}

static void export_start(void) {
    if (ex.easy || ex.len == 0 || !g_cfg.otlp_endpoint[0]) return;
    if (!ex.cu && !(ex.cu = curl_uv_new(ex.loop, 1))) return;
    size_t n = take_batch();
    CURL *e = ex.body.oom ? NULL : curl_easy_init();
    struct curl_slist *h = e ? curl_slist_append(NULL, "Content-Type: application/json") : NULL;
    if (!e || !h) {
        ex.st.spans_failed += n;
        ex.st.exports_failed++;
        if (e) curl_easy_cleanup(e);
        sbuf_free(&ex.body);
        return;
    }
    curl_easy_setopt(e, CURLOPT_URL, g_cfg.otlp_endpoint);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ex.body.len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, ex.body.buf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)g_cfg.otlp_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)g_cfg.otlp_timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "simcache/" SIMCACHE_VERSION);
    ex.easy = e;
    ex.hdrs = h;
    ex.inflight = n;
    if (curl_uv_add(ex.cu, e, export_done, NULL) != 0) {
        ex.easy = NULL;
        ex.inflight = 0;
        ex.st.spans_failed += n;
        ex.st.exports_failed++;
        curl_easy_cleanup(e);
        curl_slist_free_all(h);
        ex.hdrs = NULL;
        sbuf_free(&ex.body);
    }
}

static void flush_cb(uv_timer_t *t) {
    (void)t;
    export_start();
    int iv = g_cfg.otlp_flush_interval_ms;
    if (iv != ex.cur_interval) {
        ex.cur_interval = iv;
        uv_timer_set_repeat(&ex.flush, (uint64_t)iv);
    }
}

static void kick_cb(uv_timer_t *t) {
    (void)t;
    ex.kick_armed = 0;
    export_start();
}

int trace_start(uv_loop_t *loop) {
    if (ex.running) return 0;
    if (curl_uv_global_init() != 0) return -1;   /* once, before any thread */
    memset(&ex, 0, sizeof ex);
    ex.cap = (size_t)g_cfg.otlp_max_queue;   /* ring allocated with the first span */
    ex.loop = loop;
    uv_timer_init(loop, &ex.flush);
    uv_timer_init(loop, &ex.kick);
    ex.cur_interval = g_cfg.otlp_flush_interval_ms;
    uv_timer_start(&ex.flush, flush_cb, (uint64_t)ex.cur_interval, (uint64_t)ex.cur_interval);
    uv_unref((uv_handle_t *)&ex.flush);   /* never the reason the loop stays up */
    uv_unref((uv_handle_t *)&ex.kick);
    ex.running = 1;
    return 0;
}

void trace_stop(void) {
    if (!ex.running) return;
    ex.running = 0;
    ex.st.spans_dropped += ex.len;
    ex.len = 0;
    if (ex.easy) {
        curl_uv_remove(ex.cu, ex.easy);
        curl_easy_cleanup(ex.easy);
        curl_slist_free_all(ex.hdrs);
        ex.st.spans_failed += ex.inflight;
        ex.easy = NULL;
        ex.hdrs = NULL;
        ex.inflight = 0;
    }
    sbuf_free(&ex.body);
    if (ex.cu) curl_uv_close(ex.cu);
    ex.cu = NULL;
    uv_timer_stop(&ex.flush);
    uv_timer_stop(&ex.kick);
    uv_close((uv_handle_t *)&ex.flush, NULL);
    uv_close((uv_handle_t *)&ex.kick, NULL);
    free(ex.ring);
    ex.ring = NULL;
}

void trace_get_stats(trace_stats *out) {
    *out = ex.st;
    out->queue_len = ex.len;
    out->inflight = ex.inflight;
}

void trace_info(sbuf *o) {
    trace_stats s;
    trace_get_stats(&s);
    sbuf_printf(o, "# Tracing\r\notlp_enabled:%d\r\notlp_spans_queued:%llu\r\n"
                "otlp_spans_exported:%llu\r\notlp_spans_dropped:%llu\r\n"
                "otlp_spans_failed:%llu\r\notlp_exports_ok:%llu\r\notlp_exports_failed:%llu\r\n"
                "otlp_queue_len:%llu\r\notlp_inflight_spans:%llu\r\n",
                trace_enabled(), (unsigned long long)s.spans_queued,
                (unsigned long long)s.spans_exported, (unsigned long long)s.spans_dropped,
                (unsigned long long)s.spans_failed, (unsigned long long)s.exports_ok,
                (unsigned long long)s.exports_failed, (unsigned long long)s.queue_len,
                (unsigned long long)s.inflight);
}
