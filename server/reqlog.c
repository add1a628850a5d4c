/* reqlog.c -- the request log for replay (see reqlog.h).
 *
 * Design decisions:
 * 1. The ring is an array of slots, newest last, wrapping; ids increase
 *    from 0. It is bounded twice: by entries (reqlog-max-len) and by the
 *    bytes the entries own (reqlog-max-bytes: the slot plus its string
 *    buffer), and each of prompt, response and params is cut to
 *    reqlog-max-field bytes with its full length recorded, so one huge
 *    prompt cannot evict the whole log and the reader knows it was cut.
 *    Bounds are applied on push, so CONFIG SET takes effect with the next
 *    entry. Once the ring holds reqlog-max-len entries, a new entry takes
 *    the oldest one's slot and reuses its string buffer (grown with
 *    realloc when too small, shrunk when 4x too big), so the steady state
 *    costs one memcpy per string and no malloc/free: the former design (a
 *    doubly linked list of one malloc per entry, the slow log's) spent
 *    ~6% of an exact-hit CACHE.GET's server CPU in reqlog_add, malloc and
 *    free, much of it on the cold tail entry it unlinked (perf,
 *    redis-benchmark -P 16). Trace and span ids are stored as bytes and
 *    spelled in hex only when CACHE.LOG or the file writer reads them.
 *    Rejected: fixed-size slots of 3 x reqlog-max-field bytes (a 64 MB
 *    field limit would make every slot huge); a byte-ring arena (records
 *    wrap, and CONFIG SET of reqlog-max-bytes would have to move it).
 * 2. Tenant isolation is an invariant: a tenant-role connection sees and
 *    counts only its own tenant's entries and may not name another with
 *    TENANT (-NOPERM, as CACHE.* does); admin and gateway see everything
 *    or filter with TENANT. RESET is admin-only (CMD_ADMIN in the table).
 * 3. reqlog-file: each record becomes one JSON line appended to a queue
 *    buffer of at most reqlog-file-buffer bytes; a writer thread swaps the
 *    buffer out under the mutex and write()s it to the file opened with
 *    O_APPEND, so the loop never waits for the disk. When the writer falls
 *    behind and the buffer is full, the line is dropped and counted
 *    (file_dropped), never the request. Rejected: uv_fs_write per record
 *    (one thread-pool job per request and ordering to manage); a
 *    synchronous write (a slow disk would stall every client).
 * 4. Times: time_us is the request's start (unix µs), latency_us runs to
 *    the reply; a GET parked by WAIT is logged once, with its final answer
 *    (the tier that served it, latency to that reply); tier "wait" only
 *    if the client closed before it was answered. */
#include "reqlog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "reply.h"
#include "strconv.h"
#include "tenant.h"
#include "trace.h"

#define REQLOG_ERR_MAX 128

_Static_assert(sizeof(((reqlog_rec *)0)->trace_id) == TRACE_ID_BYTES, "trace id size");
_Static_assert(sizeof(((reqlog_rec *)0)->span_id) == SPAN_ID_BYTES, "span id size");

/* One slot of the ring. Its strings live in buf, which the slot keeps
 * when the ring overwrites it (note 1). */
typedef struct rl_entry {
    uint64_t id;
    reqlog_rec r;                       /* strings point into buf */
    char *buf;                          /* owned; NULL while the slot is free */
    size_t cap;                         /* buf's size */
    size_t bytes;                       /* accounted: sizeof(rl_entry) + cap */
} rl_entry;

/* The ring: n live slots, the newest at index (last) and the older ones
 * before it, wrapping; slots [n, cap) are free. */
static struct {
    rl_entry *slot;
    size_t cap;                         /* slots allocated; grows by doubling */
    size_t n;                           /* live entries (== st.entries) */
    size_t newest;                      /* index of the newest, if n > 0 */
} ring;

static uint64_t next_id;
static reqlog_stats st;

/* ---- the file writer (note 3) ---- */

static struct {
    int fd;                             /* -1 = no file */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sbuf q;                             /* lines waiting; guarded by mu */
    int stop;                           /* guarded by mu */
    uint64_t lines, dropped, errors;    /* guarded by mu */
} fw = {.fd = -1};

static void *writer_main(void *arg) {
    (void)arg;
    sbuf out = SBUF_INIT;
    pthread_mutex_lock(&fw.mu);
    for (;;) {
        while (fw.q.len == 0 && !fw.stop) pthread_cond_wait(&fw.cv, &fw.mu);
        if (fw.q.len == 0 && fw.stop) break;
        sbuf tmp = fw.q;                /* swap: the loop appends to a fresh buffer */
        fw.q = out;
        out = tmp;
        pthread_mutex_unlock(&fw.mu);
        size_t off = 0;
        int err = 0;
        while (off < out.len) {
            ssize_t w = write(fw.fd, out.buf + off, out.len - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                err = 1;
                break;
            }
            off += (size_t)w;
        }
        sbuf_reset(&out);
        pthread_mutex_lock(&fw.mu);
        fw.errors += (uint64_t)err;
    }
    pthread_mutex_unlock(&fw.mu);
    sbuf_free(&out);
    return NULL;
}

int reqlog_start(char *err, size_t errlen) {
    if (!g_cfg.reqlog_file[0] || fw.fd >= 0) return 0;
    int fd = open(g_cfg.reqlog_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "Can't open the request log file %s: %s", g_cfg.reqlog_file,
                 strerror(errno));
        return -1;
    }
    fw.fd = fd;
    fw.stop = 0;
    pthread_mutex_init(&fw.mu, NULL);
    pthread_cond_init(&fw.cv, NULL);
    if (pthread_create(&fw.th, NULL, writer_main, NULL) != 0) {
        snprintf(err, errlen, "Can't start the request log writer thread");
        close(fd);
        fw.fd = -1;
        return -1;
    }
    return 0;
}

static void file_queue(uint64_t id, const reqlog_rec *r) {
    sbuf line = SBUF_INIT;
    reqlog_json(&line, id, r);
    sbuf_append(&line, "\n", 1);
    pthread_mutex_lock(&fw.mu);
    if (line.oom || fw.q.len + line.len > (size_t)g_cfg.reqlog_file_buffer) {
        fw.dropped++;
    } else {
        sbuf_append(&fw.q, line.buf, line.len);
        fw.lines++;
        pthread_cond_signal(&fw.cv);
    }
    pthread_mutex_unlock(&fw.mu);
    sbuf_free(&line);
}

/* ---- the ring (note 1) ---- */

static size_t full(size_t f, size_t n) { return f ? f : n; }
static size_t cut(size_t n, size_t limit) { return n > limit ? limit : n; }
static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* The i-th newest entry (0 = newest); i < ring.n. */
static rl_entry *ring_at(size_t i) {
    return &ring.slot[(ring.newest + ring.cap - i) % ring.cap];
}

static rl_entry *ring_oldest(void) { return ring_at(ring.n - 1); }

static void slot_release(rl_entry *e) {
    free(e->buf);
    e->buf = NULL;
    e->cap = 0;
}

/* Drops the oldest entry; its slot keeps its buffer if keep_buf (the
 * caller reuses it at once), else frees it. */
static void ring_drop_oldest(int keep_buf) {
    rl_entry *e = ring_oldest();
    st.entries--;
    st.bytes -= e->bytes;
    ring.n--;
    if (!keep_buf) slot_release(e);
}

/* Room for one more entry: grows the slot array (linearised oldest first)
 * when it is full. 0, or -1 on ENOMEM. */
static int ring_grow(void) {
    size_t ncap = ring.cap ? ring.cap * 2 : 64;
    rl_entry *ns = calloc(ncap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < ring.n; i++) ns[i] = *ring_at(ring.n - 1 - i);
    /* the free slots of the old array own no buffers (slot_release) */
    free(ring.slot);
    ring.slot = ns;
    ring.cap = ncap;
    ring.newest = ring.n ? ring.n - 1 : ncap - 1;
    return 0;
}

/* A slot for a new newest entry, its buffer holding at least need bytes:
 * the oldest entry's slot once the ring holds reqlog-max-len entries (its
 * buffer is reused: no allocation in the steady state), else a free one.
 * NULL on ENOMEM (nothing changed but a possible eviction). */
static rl_entry *slot_take(size_t need) {
    rl_entry *e;
    if (ring.n > 0 && ring.n >= (size_t)g_cfg.reqlog_max_len) {
        rl_entry *old = ring_oldest();
        ring_drop_oldest(1);
        st.evicted++;
        e = &ring.slot[(ring.newest + 1) % ring.cap];
        if (e != old) {   /* slots to spare (max-len was lowered): move the buffer */
            e->buf = old->buf;
            e->cap = old->cap;
            old->buf = NULL;
            old->cap = 0;
        }
    } else {
        if (ring.n == ring.cap && ring_grow() != 0) return NULL;
        e = &ring.slot[(ring.newest + 1) % ring.cap];
    }
    /* a buffer far larger than needed (one huge record long ago) shrinks */
    if (e->cap < need || (e->cap > 4096 && e->cap / 4 > need)) {
        size_t ncap = need < 256 ? 256 : need;
        char *nb = realloc(e->buf, ncap);
        if (!nb) {
            slot_release(e);
            return NULL;
        }
        e->buf = nb;
        e->cap = ncap;
    }
    return e;
}

/* Copies n bytes of s to *dst (NUL-terminated); NULL stays NULL. */
static const char *put(char **dst, const char *s, size_t n) {
    if (!s) return NULL;
    char *p = *dst;
    memcpy(p, s, n);
    p[n] = 0;
    *dst += n + 1;
    return p;
}

/* r with its strings cut to their bounds and the full lengths set, still
 * pointing at the caller's strings. */
static reqlog_rec rec_cut(const reqlog_rec *r) {
    size_t f = (size_t)g_cfg.reqlog_max_field;
    reqlog_rec v = *r;
    v.tenant = r->tenant ? r->tenant : "";
    v.ns = r->ns ? r->ns : "";
    v.prompt_len = cut(r->prompt_len, f);
    v.response_len = cut(r->response_len, f);
    v.params_len = cut(r->params_len, f);
    v.model_len = cut(r->model_len, 256);
    v.prompt_full = full(r->prompt_full, r->prompt_len);
    v.response_full = full(r->response_full, r->response_len);
    v.params_full = full(r->params_full, r->params_len);
    v.error_len = cut(r->error ? (r->error_len ? r->error_len : strlen(r->error)) : 0,
                      REQLOG_ERR_MAX);
    return v;
}

/* Stores r, cut, in a slot: one memcpy per string, each field written
 * once (copying whole reqlog_rec structs around was most of this
 * function's cost, perf annotate). NULL on ENOMEM. */
static rl_entry *entry_store(const reqlog_rec *r) {
    size_t f = (size_t)g_cfg.reqlog_max_field;
    const char *tn = r->tenant ? r->tenant : "", *nn = r->ns ? r->ns : "";
    size_t tl = strlen(tn), nl = r->ns_len, vl = slen(r->model_version);
    size_t pl = cut(r->prompt_len, f), rl = cut(r->response_len, f), ql = cut(r->params_len, f);
    size_t ml = cut(r->model_len, 256);
    size_t el = cut(r->error ? (r->error_len ? r->error_len : strlen(r->error)) : 0,
                    REQLOG_ERR_MAX);
    rl_entry *e = slot_take(tl + nl + vl + pl + rl + ql + ml + el + 8);
    if (!e) return NULL;
    char *p = e->buf;
    reqlog_rec *d = &e->r;
    d->op = r->op;
    d->tenant = put(&p, tn, tl);
    d->ns = put(&p, nn, nl);
    d->ns_len = nl;
    d->tier = r->tier;
    d->has_score = r->has_score;
    d->score = r->score;
    d->entry_id = r->entry_id;
    d->prompt = put(&p, r->prompt, pl);
    d->prompt_len = pl;
    d->prompt_full = full(r->prompt_full, r->prompt_len);
    d->response = put(&p, r->response, rl);
    d->response_len = rl;
    d->response_full = full(r->response_full, r->response_len);
    d->model = put(&p, r->model, ml);
    d->model_len = ml;
    d->model_version = put(&p, r->model_version, vl);
    d->params = put(&p, r->params, ql);
    d->params_len = ql;
    d->params_full = full(r->params_full, r->params_len);
    d->tokens_in = r->tokens_in;
    d->tokens_out = r->tokens_out;
    d->cost_nusd = r->cost_nusd;
    d->time_us = r->time_us;
    d->latency_us = r->latency_us;
    d->has_trace = r->has_trace;
    memcpy(d->trace_id, r->trace_id, sizeof d->trace_id);
    memcpy(d->span_id, r->span_id, sizeof d->span_id);
    d->error = put(&p, r->error, el);
    d->error_len = el;
    e->bytes = sizeof(rl_entry) + e->cap;
    ring.newest = (size_t)(e - ring.slot);
    ring.n++;
    return e;
}

void reqlog_add(const reqlog_rec *r) {
    if (g_cfg.reqlog_max_len <= 0 && fw.fd < 0) return;
    uint64_t id = next_id++;
    st.added++;
    if (g_cfg.reqlog_max_len <= 0) {   /* the file only */
        reqlog_rec v = rec_cut(r);
        file_queue(id, &v);
        return;
    }
    rl_entry *e = entry_store(r);
    if (!e) {   /* ENOMEM: the ring keeps what it had; the file still gets the line */
        if (fw.fd >= 0) {
            reqlog_rec v = rec_cut(r);
            file_queue(id, &v);
        }
        return;
    }
    e->id = id;
    if (fw.fd >= 0) file_queue(id, &e->r);
    st.entries++;
    st.bytes += e->bytes;
    while (ring.n > 1 && (st.entries > (uint64_t)g_cfg.reqlog_max_len ||
                          st.bytes > (uint64_t)g_cfg.reqlog_max_bytes)) {
        ring_drop_oldest(0);
        st.evicted++;
    }
}

static void ring_clear(void) {
    while (ring.n) ring_drop_oldest(0);
}

/* ---- output ---- */

static const char *const op_names[] = {"get", "put", "search"};

/* The ids are kept as bytes and spelled in hex only when read. */
static void ids_hex(const reqlog_rec *r, char *tid, char *sid) {
    trace_hex(r->trace_id, TRACE_ID_BYTES, tid);
    trace_hex(r->span_id, SPAN_ID_BYTES, sid);
}

static size_t err_len(const reqlog_rec *r) {
    return r->error ? (r->error_len ? r->error_len : strlen(r->error)) : 0;
}

static int truncated(const reqlog_rec *r) {
    return full(r->prompt_full, r->prompt_len) != r->prompt_len ||
           full(r->response_full, r->response_len) != r->response_len ||
           full(r->params_full, r->params_len) != r->params_len;
}

/* The fields, in the order CACHE.LOG GET and the JSON lines use. */
#define REQLOG_FIELDS 24

void reqlog_json(sbuf *o, uint64_t id, const reqlog_rec *r) {
#define JSTR(k, v, n)                                                                      \
    do {                                                                                   \
        sbuf_puts(o, ",\"" k "\":");                                                       \
        if (v) trace_json_str(o, v, n);                                                    \
        else sbuf_puts(o, "null");                                                         \
    } while (0)
    sbuf_printf(o, "{\"id\":%llu,\"time_us\":%llu", (unsigned long long)id,
                (unsigned long long)r->time_us);
    JSTR("tenant", r->tenant, slen(r->tenant));
    JSTR("namespace", r->ns, r->ns_len);
    JSTR("op", op_names[r->op], strlen(op_names[r->op]));
    JSTR("tier", r->tier, slen(r->tier));
    if (r->has_score) sbuf_printf(o, ",\"score\":%.7g", r->score);
    else sbuf_puts(o, ",\"score\":null");
    sbuf_printf(o, ",\"entry_id\":%llu", (unsigned long long)r->entry_id);
    JSTR("prompt", r->prompt, r->prompt_len);
    sbuf_printf(o, ",\"prompt_len\":%zu", full(r->prompt_full, r->prompt_len));
    JSTR("response", r->response, r->response_len);
    sbuf_printf(o, ",\"response_len\":%zu", full(r->response_full, r->response_len));
    JSTR("model", r->model, r->model_len);
    JSTR("model_version", r->model_version, slen(r->model_version));
    JSTR("params", r->params, r->params_len);
    sbuf_printf(o, ",\"params_len\":%zu,\"tokens_in\":%llu,\"tokens_out\":%llu,"
                   "\"cost_nusd\":%lld,\"latency_us\":%llu",
                full(r->params_full, r->params_len), (unsigned long long)r->tokens_in,
                (unsigned long long)r->tokens_out, (long long)r->cost_nusd,
                (unsigned long long)r->latency_us);
    char tid[2 * TRACE_ID_BYTES + 1], sid[2 * SPAN_ID_BYTES + 1];
    ids_hex(r, tid, sid);
    const char *tp = r->has_trace ? tid : NULL, *sp = r->has_trace ? sid : NULL;
    JSTR("trace_id", tp, 2 * TRACE_ID_BYTES);
    JSTR("span_id", sp, 2 * SPAN_ID_BYTES);
    JSTR("error", r->error, err_len(r));
    sbuf_printf(o, ",\"truncated\":%s}", truncated(r) ? "true" : "false");
#undef JSTR
}

static void kv_bulk(client *c, const char *k, const char *v, size_t n) {
    reply_bulk_cstr(c, k);
    if (v) reply_bulk(c, v, n);
    else reply_null(c);
}

static void kv_int(client *c, const char *k, long long v) {
    reply_bulk_cstr(c, k);
    reply_integer(c, v);
}

static void reply_entry(client *c, const rl_entry *e) {
    const reqlog_rec *r = &e->r;
    reply_map(c, REQLOG_FIELDS);
    kv_int(c, "id", (long long)e->id);
    kv_int(c, "time_us", (long long)r->time_us);
    kv_bulk(c, "tenant", r->tenant, strlen(r->tenant));
    kv_bulk(c, "namespace", r->ns, r->ns_len);
    kv_bulk(c, "op", op_names[r->op], strlen(op_names[r->op]));
    kv_bulk(c, "tier", r->tier, slen(r->tier));
    reply_bulk_cstr(c, "score");
    if (r->has_score) reply_double(c, r->score);
    else reply_null(c);
    kv_int(c, "entry_id", (long long)r->entry_id);
    kv_bulk(c, "prompt", r->prompt, r->prompt_len);
    kv_int(c, "prompt_len", (long long)full(r->prompt_full, r->prompt_len));
    kv_bulk(c, "response", r->response, r->response_len);
    kv_int(c, "response_len", (long long)full(r->response_full, r->response_len));
    kv_bulk(c, "model", r->model, r->model_len);
    kv_bulk(c, "model_version", r->model_version, slen(r->model_version));
    kv_bulk(c, "params", r->params, r->params_len);
    kv_int(c, "params_len", (long long)full(r->params_full, r->params_len));
    kv_int(c, "tokens_in", (long long)r->tokens_in);
    kv_int(c, "tokens_out", (long long)r->tokens_out);
    kv_int(c, "cost_nusd", (long long)r->cost_nusd);
    kv_int(c, "latency_us", (long long)r->latency_us);
    char tid[2 * TRACE_ID_BYTES + 1], sid[2 * SPAN_ID_BYTES + 1];
    ids_hex(r, tid, sid);
    kv_bulk(c, "trace_id", r->has_trace ? tid : NULL, 2 * TRACE_ID_BYTES);
    kv_bulk(c, "span_id", r->has_trace ? sid : NULL, 2 * SPAN_ID_BYTES);
    kv_bulk(c, "error", r->error, err_len(r));
    kv_int(c, "truncated", truncated(r));
}

/* ---- commands (note 2) ---- */

static int arg_is(const req_arg *a, const char *s) {
    return strlen(s) == a->len && strncasecmp(a->ptr, s, a->len) == 0;
}

/* The tenant filter of the request: *only = the tenant whose entries the
 * caller may see, or "" for all (admin/gateway without TENANT). -1 after
 * replying. */
static int scope_or_reply(client *c, const req_arg *targ, char *only) {
    char own[TENANT_NAME_MAX];
    tenant_role role = tenant_role_of(c, own);
    if (targ && role == ROLE_TENANT) {
        reply_error(c, "NOPERM the TENANT argument needs the gateway or admin role");
        return -1;
    }
    if (targ && (targ->len == 0 || targ->len >= TENANT_NAME_MAX)) {
        reply_error(c, "ERR invalid tenant name");
        return -1;
    }
    if (targ) memcpy(only, targ->ptr, targ->len + 1);
    else if (role == ROLE_TENANT) memcpy(only, own, strlen(own) + 1);
    else only[0] = 0;
    return 0;
}

static int visible(const rl_entry *e, const char *only, const req_arg *ns) {
    if (only[0] && strcmp(e->r.tenant, only) != 0) return 0;
    if (ns && (ns->len != e->r.ns_len || memcmp(ns->ptr, e->r.ns, ns->len) != 0)) return 0;
    return 1;
}

void cmd_cache_log_get(client *c) {
    long long count = 10;
    const req_arg *ns = NULL, *targ = NULL;
    int j = 2;
    if (j < c->argc && !arg_is(&c->argv[j], "ns") && !arg_is(&c->argv[j], "tenant")) {
        if (strconv_ll(c->argv[j].ptr, c->argv[j].len, &count) != 0 || count < -1) {
            reply_error(c, "ERR count should be greater than or equal to -1");
            return;
        }
        j++;
    }
    for (; j < c->argc; j += 2) {
        if (j + 1 >= c->argc) goto syntax;
        if (arg_is(&c->argv[j], "ns")) ns = &c->argv[j + 1];
        else if (arg_is(&c->argv[j], "tenant")) targ = &c->argv[j + 1];
        else goto syntax;
    }
    char only[TENANT_NAME_MAX];
    if (scope_or_reply(c, targ, only)) return;
    long long n = 0;
    for (size_t i = 0; i < ring.n && (count < 0 || n < count); i++)
        n += visible(ring_at(i), only, ns);
    reply_array(c, n);
    long long k = 0;
    for (size_t i = 0; i < ring.n && k < n; i++) {
        const rl_entry *e = ring_at(i);
        if (visible(e, only, ns)) {
            reply_entry(c, e);
            k++;
        }
    }
    return;
syntax:
    reply_error(c, ERR_SYNTAX);
}

void cmd_cache_log_len(client *c) {
    const req_arg *targ = NULL;
    if (c->argc == 4 && arg_is(&c->argv[2], "tenant")) targ = &c->argv[3];
    else if (c->argc != 2) {
        reply_error(c, ERR_SYNTAX);
        return;
    }
    char only[TENANT_NAME_MAX];
    if (scope_or_reply(c, targ, only)) return;
    long long n = 0;
    for (size_t i = 0; i < ring.n; i++) n += visible(ring_at(i), only, NULL);
    reply_integer(c, n);
}

void cmd_cache_log_reset(client *c) {
    ring_clear();
    reply_ok(c);
}

/* ---- stats and shutdown ---- */

void reqlog_get_stats(reqlog_stats *out) {
    *out = st;
    if (fw.fd >= 0) {
        pthread_mutex_lock(&fw.mu);
        out->file_lines = fw.lines;
        out->file_dropped = fw.dropped;
        out->file_errors = fw.errors;
        pthread_mutex_unlock(&fw.mu);
    }
}

void reqlog_info(sbuf *o) {
    reqlog_stats s;
    reqlog_get_stats(&s);
    sbuf_printf(o, "# Reqlog\r\nreqlog_entries:%llu\r\nreqlog_bytes:%llu\r\n"
                "reqlog_added:%llu\r\nreqlog_evicted:%llu\r\nreqlog_file_lines:%llu\r\n"
                "reqlog_file_dropped:%llu\r\nreqlog_file_errors:%llu\r\n",
                (unsigned long long)s.entries, (unsigned long long)s.bytes,
                (unsigned long long)s.added, (unsigned long long)s.evicted,
                (unsigned long long)s.file_lines, (unsigned long long)s.file_dropped,
                (unsigned long long)s.file_errors);
}

void reqlog_stop(void) {
    if (fw.fd >= 0) {
        pthread_mutex_lock(&fw.mu);
        fw.stop = 1;
        pthread_cond_signal(&fw.cv);
        pthread_mutex_unlock(&fw.mu);
        pthread_join(fw.th, NULL);
        close(fw.fd);
        fw.fd = -1;
        sbuf_free(&fw.q);
        pthread_mutex_destroy(&fw.mu);
        pthread_cond_destroy(&fw.cv);
    }
    ring_clear();
    free(ring.slot);
    ring.slot = NULL;
    ring.cap = 0;
}
