/* reqlog.c -- the request log for replay (see reqlog.h).
 *
 * Design decisions:
 * 1. The ring follows the slow log's habits (slowlog.c): a doubly linked
 *    list, newest at the head, one allocation per entry holding its
 *    strings, ids increasing from 0, trimmed on push so CONFIG SET of a
 *    bound takes effect with the next entry. It is bounded twice: by
 *    entries (reqlog-max-len) and by the bytes the entries own
 *    (reqlog-max-bytes), and each of prompt, response and params is cut to
 *    reqlog-max-field bytes with its full length recorded, so one huge
 *    prompt cannot evict the whole log and the reader knows it was cut.
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

typedef struct rl_entry {
    struct rl_entry *prev, *next;
    uint64_t id;
    reqlog_rec r;                       /* strings point into this allocation */
    size_t bytes;                       /* the allocation */
} rl_entry;

static rl_entry *head, *tail;
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

static void file_queue(const rl_entry *e) {
    sbuf line = SBUF_INIT;
    reqlog_json(&line, e->id, &e->r);
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

static void entry_unlink_free(rl_entry *e) {
    if (e->prev) e->prev->next = e->next;
    else head = e->next;
    if (e->next) e->next->prev = e->prev;
    else tail = e->prev;
    st.entries--;
    st.bytes -= e->bytes;
    free(e);
}

static size_t full(size_t f, size_t n) { return f ? f : n; }
static size_t cut(size_t n, size_t limit) { return n > limit ? limit : n; }
static size_t slen(const char *s) { return s ? strlen(s) : 0; }

/* Copies n bytes of s to *dst (NUL-terminated); NULL stays NULL. */
static const char *put(char **dst, const char *s, size_t n) {
    if (!s) return NULL;
    char *p = *dst;
    memcpy(p, s, n);
    p[n] = 0;
    *dst += n + 1;
    return p;
}

static rl_entry *entry_new(const reqlog_rec *r) {
    size_t f = (size_t)g_cfg.reqlog_max_field;
    size_t pl = cut(r->prompt_len, f), rl = cut(r->response_len, f), ql = cut(r->params_len, f);
    size_t ml = cut(r->model_len, 256), nl = r->ns_len, el = cut(slen(r->error), REQLOG_ERR_MAX);
    size_t tl = slen(r->tenant), vl = slen(r->model_version);
    size_t bytes = sizeof(rl_entry) + pl + rl + ql + ml + nl + el + tl + vl + 8;
    rl_entry *e = malloc(bytes);
    if (!e) return NULL;
    char *p = (char *)(e + 1);
    e->r = *r;
    e->r.tenant = put(&p, r->tenant ? r->tenant : "", tl);
    e->r.ns = put(&p, r->ns ? r->ns : "", nl);
    e->r.prompt = put(&p, r->prompt, pl);
    e->r.response = put(&p, r->response, rl);
    e->r.model = put(&p, r->model, ml);
    e->r.params = put(&p, r->params, ql);
    e->r.model_version = put(&p, r->model_version, vl);
    e->r.error = put(&p, r->error, el);
    e->r.prompt_len = pl;
    e->r.response_len = rl;
    e->r.params_len = ql;
    e->r.model_len = ml;
    e->r.prompt_full = full(r->prompt_full, r->prompt_len);
    e->r.response_full = full(r->response_full, r->response_len);
    e->r.params_full = full(r->params_full, r->params_len);
    e->bytes = bytes;
    return e;
}

void reqlog_add(const reqlog_rec *r) {
    if (g_cfg.reqlog_max_len <= 0 && fw.fd < 0) return;
    rl_entry *e = entry_new(r);
    if (!e) return;
    e->id = next_id++;
    st.added++;
    if (fw.fd >= 0) file_queue(e);
    if (g_cfg.reqlog_max_len <= 0) {
        free(e);
        return;
    }
    e->prev = NULL;
    e->next = head;
    if (head) head->prev = e;
    else tail = e;
    head = e;
    st.entries++;
    st.bytes += e->bytes;
    while (tail && tail != head && (st.entries > (uint64_t)g_cfg.reqlog_max_len ||
                                    st.bytes > (uint64_t)g_cfg.reqlog_max_bytes)) {
        entry_unlink_free(tail);
        st.evicted++;
    }
}

/* ---- output ---- */

static const char *const op_names[] = {"get", "put", "search"};

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
    JSTR("trace_id", r->trace_id[0] ? r->trace_id : NULL, strlen(r->trace_id));
    JSTR("span_id", r->span_id[0] ? r->span_id : NULL, strlen(r->span_id));
    JSTR("error", r->error, slen(r->error));
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
    kv_bulk(c, "trace_id", r->trace_id[0] ? r->trace_id : NULL, strlen(r->trace_id));
    kv_bulk(c, "span_id", r->span_id[0] ? r->span_id : NULL, strlen(r->span_id));
    kv_bulk(c, "error", r->error, slen(r->error));
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
    for (rl_entry *e = head; e && (count < 0 || n < count); e = e->next) n += visible(e, only, ns);
    reply_array(c, n);
    long long k = 0;
    for (rl_entry *e = head; e && k < n; e = e->next)
        if (visible(e, only, ns)) {
            reply_entry(c, e);
            k++;
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
    for (rl_entry *e = head; e; e = e->next) n += visible(e, only, NULL);
    reply_integer(c, n);
}

void cmd_cache_log_reset(client *c) {
    while (head) entry_unlink_free(head);
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
    while (head) entry_unlink_free(head);
}
