/* load_run.c -- the engine of `simcache-bench load`: worker threads, each
 * with one libuv loop and its share of the connections (load.h).
 *
 * 1. Own connection code, not sc_async: a load generator must write a
 *    whole pipeline batch in one write() (as redis-benchmark does) and
 *    must not allocate per command; sc_async formats and writes each
 *    command on its own. Replies are parsed by libsimcache's push-fed
 *    reader (sc_reader), so RESP2 and RESP3 shapes are handled once.
 * 2. Closed loop (default): each connection sends a batch of -P requests
 *    in one write and sends the next batch when every reply of the batch
 *    (and any follow-up PUT) has arrived. Latency of a request = its reply
 *    time - the batch's send time, as redis-benchmark counts it.
 * 3. Open loop (--rate R): a 1 ms timer per thread releases requests at
 *    their scheduled times (fixed spacing 1/R, or exponential gaps with
 *    --arrival poisson). A request goes to a connection with fewer than -P
 *    primary requests in flight; when none has room it waits in a backlog
 *    queue (counted) and is sent when a slot frees. Latency always counts
 *    from the *scheduled* time, so a server that falls behind shows up as
 *    latency instead of as a silently lower send rate (coordinated
 *    omission). Requests sent more than 2 ms after their time are counted
 *    as late: a late count without backlog means the client itself (timer,
 *    CPU) was behind.
 * 4. Follow-ups: an LLM-workload miss is followed at once by its CACHE.PUT
 *    on the same connection; PUTs have their own histogram and do not
 *    take a pipeline slot.
 * 5. Errors never stop a run: error replies are counted by code, a failed
 *    connect or handshake by message, and requests in flight on a
 *    connection that dies are counted as lost. A connection with requests
 *    in flight and no reply for --timeout seconds (checked every 100 ms) is
 *    failed the same way, so a stuck server ends the run instead of
 *    hanging it. A thread ends when it has
 *    nothing left to send and nothing in flight, or no live connection.
 * 6. Every ~100 ms a thread folds its interval histogram into the shared
 *    one (mutex); the main thread turns it into one time-series point per
 *    second and the progress line. A point may therefore hold up to
 *    100 ms of the neighbouring second.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "load.h"
#include "simcache.h"

enum { C_CONNECTING, C_HANDSHAKE, C_READY, C_DEAD };

typedef struct lthread lthread;

typedef struct lconn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    lthread *th;
    sc_reader *rd;
    lbuf out;                 /* commands not yet written */
    lbuf wbuf;                /* the bytes of the write in progress */
    int writing;
    int state;
    int handshake_left;
    lreq *q;                  /* FIFO ring of requests awaiting replies */
    size_t qcap, qhead, qlen;
    int inflight;             /* primary requests in flight */
    uint64_t progress_ns;     /* last reply, or when the queue became non-empty */
} lconn;

struct lthread {
    int id;
    uv_loop_t loop;
    uv_timer_t tick, sched;
    uv_thread_t thr;
    const lopt *o;
    const lwl *wl;
    lshared *sh;
    const struct sockaddr_storage *addr;
    lconn *conns;
    int nconns, connecting, live, finished;
    uint64_t budget, issued;  /* primary requests: allowed, generated */
    uint64_t deadline;        /* ns (uv_hrtime), 0 = none */
    int stopping;             /* no new primary requests */
    double rate, next_ns;     /* open loop: per-thread rate, next scheduled time */
    uint64_t *backlog;        /* open loop: scheduled times waiting for a slot */
    size_t bl_head, bl_len, bl_cap;
    int rr;
    uint64_t rng, seq;
    uint64_t t_first, t_last; /* ns: connections settled, last reply */
    lstats st;
    sb_hdr *lat, *lat_put, *interval;
    uint64_t int_errors, int_done;
    char rbuf[65536];
};

/* ---- stats ---- */

/* The slot for error kind `what` (created with msg as its sample; past
 * LERR_MAX kinds the last slot collects the rest). */
static lerr *err_slot(lstats *s, const char *what, const char *msg, size_t msglen)
{
    for (int i = 0; i < s->nerr; i++)
        if (!strcmp(s->err[i].what, what)) return &s->err[i];
    if (s->nerr == LERR_MAX) return &s->err[LERR_MAX - 1];
    lerr *e = &s->err[s->nerr++];
    snprintf(e->what, sizeof(e->what), "%s", what);
    if (msglen >= sizeof(e->sample)) msglen = sizeof(e->sample) - 1;
    memcpy(e->sample, msg, msglen);
    e->sample[msglen] = '\0';
    e->n = 0;
    return e;
}

void lstats_error(lstats *s, const char *what, const char *msg, size_t msglen)
{
    err_slot(s, what, msg, msglen)->n++;
}

void lstats_merge(lstats *d, const lstats *s)
{
    d->done += s->done;
    d->ok += s->ok;
    d->puts += s->puts;
    d->puts_ok += s->puts_ok;
    d->errors += s->errors;
    d->lost += s->lost;
    d->conn_failed += s->conn_failed;
    d->backlog += s->backlog;
    d->late += s->late;
    if (s->max_lag_ns > d->max_lag_ns) d->max_lag_ns = s->max_lag_ns;
    for (int p = 0; p < P_NKINDS; p++)
        for (int t = 0; t < TIER_N; t++) d->tier[p][t] += s->tier[p][t];
    d->false_hits += s->false_hits;
    d->wrong_tenant += s->wrong_tenant;
    d->foreign += s->foreign;
    for (int i = 0; i < s->nerr; i++)
        err_slot(d, s->err[i].what, s->err[i].sample, strlen(s->err[i].sample))->n +=
            s->err[i].n;
}

/* ---- request FIFO ---- */

static int q_push(lconn *c, const lreq *rq)
{
    if (c->qlen == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 16;
        lreq *q = malloc(cap * sizeof(*q));
        if (!q) return -1;
        for (size_t i = 0; i < c->qlen; i++) q[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = q;
        c->qcap = cap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = *rq;
    if (!c->qlen++) c->progress_ns = uv_hrtime();
    return 0;
}

static lreq q_pop(lconn *c)
{
    lreq rq = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    return rq;
}

/* ---- connection lifecycle ---- */

static void check_done(lthread *th);
static void flush(lconn *c);

static void conn_close_cb(uv_handle_t *h) { (void)h; }

static void close_conn(lconn *c)
{
    if (c->state == C_DEAD) return;
    c->state = C_DEAD;
    c->th->live--;
    uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

/* A connection failed: what = the category, msg = the detail. Requests in
 * flight on it are lost. */
static void conn_fail(lconn *c, const char *what, const char *msg)
{
    if (c->state == C_DEAD) return;
    lthread *th = c->th;
    uint64_t lost = 0;
    while (c->qlen) {
        lreq rq = q_pop(c);
        if (rq.kind != K_HANDSHAKE) lost++;
    }
    c->inflight = 0;
    th->st.lost += lost;
    th->st.errors += lost;
    th->int_errors += lost;
    if (c->state != C_READY) th->st.conn_failed++;
    char full[160];
    snprintf(full, sizeof(full), "%s: %s", what, msg);
    lstats_error(&th->st, full, msg, strlen(msg));
    close_conn(c);
    check_done(th);
}

static void write_cb(uv_write_t *req, int status)
{
    lconn *c = req->data;
    c->writing = 0;
    c->wbuf.len = 0;
    if (c->state == C_DEAD) return;
    if (status < 0) {
        conn_fail(c, "write", uv_strerror(status));
        return;
    }
    flush(c);
}

static void flush(lconn *c)
{
    if (c->writing || !c->out.len || c->state == C_DEAD) return;
    lbuf t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    c->out.len = 0;
    uv_buf_t b = uv_buf_init(c->wbuf.p, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc < 0) {
        c->wbuf.len = 0;
        conn_fail(c, "write", uv_strerror(rc));
        return;
    }
    c->writing = 1;
}

static void oom(lthread *th)
{
    lstats_error(&th->st, "client", "out of memory", 13);
    th->stopping = 1;
}

/* ---- sending ---- */

/* One primary request on c, timed from t0 (ns). On failure nothing of it
 * stays in the output buffer, so requests and replies never fall out of
 * step. */
static int send_primary(lconn *c, uint64_t t0)
{
    lthread *th = c->th;
    lreq rq = {0};
    size_t mark = c->out.len;
    if (lwl_gen(th->wl, &th->rng, ((uint64_t)th->id << 40) | th->seq++, &c->out, &rq) != 0) {
        oom(th);
        return -1;
    }
    rq.t0 = t0;
    if (q_push(c, &rq) != 0) {
        c->out.len = mark;
        oom(th);
        return -1;
    }
    c->inflight++;
    return 0;
}

/* Closed loop: the next batch of -P requests, when the last one is done. */
static void issue_batch(lconn *c)
{
    lthread *th = c->th;
    if (c->state != C_READY || c->qlen || th->stopping) return;
    uint64_t now = uv_hrtime();
    if (th->deadline && now >= th->deadline) {
        th->stopping = 1;
        return;
    }
    for (int i = 0; i < th->o->pipeline && th->issued < th->budget; i++) {
        if (send_primary(c, now) != 0) break;
        th->issued++;
    }
    flush(c);
}

static lconn *free_slot(lthread *th)
{
    for (int i = 0; i < th->nconns; i++) {
        lconn *c = &th->conns[(th->rr + i) % th->nconns];
        if (c->state == C_READY && c->inflight < th->o->pipeline) {
            th->rr = (int)((c - th->conns) + 1) % th->nconns;
            return c;
        }
    }
    return NULL;
}

static void send_scheduled(lconn *c, uint64_t sched)
{
    lthread *th = c->th;
    uint64_t now = uv_hrtime();
    uint64_t lag = now > sched ? now - sched : 0;
    if (lag > th->st.max_lag_ns) th->st.max_lag_ns = lag;
    if (lag > 2000000) th->st.late++;
    send_primary(c, sched);
}

static int backlog_push(lthread *th, uint64_t t)
{
    if (th->bl_len == th->bl_cap) {
        size_t cap = th->bl_cap ? th->bl_cap * 2 : 1024;
        uint64_t *b = malloc(cap * sizeof(*b));
        if (!b) return -1;
        for (size_t i = 0; i < th->bl_len; i++) b[i] = th->backlog[(th->bl_head + i) % th->bl_cap];
        free(th->backlog);
        th->backlog = b;
        th->bl_cap = cap;
        th->bl_head = 0;
    }
    th->backlog[(th->bl_head + th->bl_len) % th->bl_cap] = t;
    th->bl_len++;
    return 0;
}

/* Open loop: give waiting requests to c while it has room. */
static void drain_backlog(lconn *c)
{
    lthread *th = c->th;
    while (th->bl_len && c->state == C_READY && c->inflight < th->o->pipeline) {
        uint64_t t = th->backlog[th->bl_head];
        th->bl_head = (th->bl_head + 1) % th->bl_cap;
        th->bl_len--;
        send_scheduled(c, t);
    }
}

static void sched_cb(uv_timer_t *t)
{
    lthread *th = t->data;
    uint64_t now = uv_hrtime();
    while (!th->stopping && th->next_ns <= (double)now && th->issued < th->budget) {
        uint64_t due = (uint64_t)th->next_ns;
        if (th->deadline && due >= th->deadline) break;
        lconn *c = free_slot(th);
        if (c) send_scheduled(c, due);
        else if (backlog_push(th, due) == 0) th->st.backlog++;
        else { oom(th); break; }
        th->issued++;
        double gap = 1e9 / th->rate;
        if (th->o->poisson) gap *= -log(1.0 - lrng_unit(&th->rng));
        th->next_ns += gap;
    }
    if (th->issued >= th->budget || (th->deadline && now >= th->deadline)) th->stopping = 1;
    for (int i = 0; i < th->nconns; i++) flush(&th->conns[i]);
    if (th->stopping) {
        uv_timer_stop(&th->sched);
        check_done(th);
    }
}

/* ---- replies ---- */

static void error_reply(lthread *th, const sc_reply *r)
{
    char code[48];
    size_t n = 0;
    const char *s = r->str ? r->str : "";
    while (s[n] && s[n] != ' ' && n + 1 < sizeof(code)) {
        code[n] = s[n];
        n++;
    }
    code[n] = '\0';
    lstats_error(&th->st, code, s, r->len);
    th->st.errors++;
    th->int_errors++;
}

static void on_ready(lconn *c);

static void handle_reply(lconn *c, sc_reply *r)
{
    lthread *th = c->th;
    if (!c->qlen) {   /* a reply nobody asked for */
        conn_fail(c, "protocol", "unexpected reply");
        return;
    }
    lreq rq = q_pop(c);
    uint64_t now = uv_hrtime();
    th->t_last = c->progress_ns = now;
    int err = r->type == SC_REPLY_ERROR;
    switch (rq.kind) {
    case K_HANDSHAKE:
        if (err) {
            conn_fail(c, "handshake", r->str ? r->str : "error");
            return;
        }
        if (--c->handshake_left == 0) on_ready(c);
        return;
    case K_PUT:
        th->st.puts++;
        if (err) error_reply(th, r);
        else {
            th->st.puts_ok++;
            sb_hdr_record(th->lat_put, now - rq.t0);
        }
        return;
    default:
        break;
    }
    c->inflight--;
    th->st.done++;
    th->int_done++;
    if (err) {
        error_reply(th, r);
        return;
    }
    th->st.ok++;
    sb_hdr_record(th->lat, now - rq.t0);
    sb_hdr_record(th->interval, now - rq.t0);
    if (lwl_check_reply(th->wl, &rq, r, &th->st)) {
        lreq put = rq;
        put.kind = K_PUT;
        put.t0 = now;
        size_t mark = c->out.len;
        if (lwl_gen_put(th->wl, &put, &c->out) != 0 || q_push(c, &put) != 0) {
            c->out.len = mark;
            oom(th);
        }
    }
}

static void after_replies(lconn *c)
{
    if (c->state != C_READY) return;
    if (c->th->rate > 0) drain_backlog(c);
    else issue_batch(c);
    flush(c);
}

static void on_ready(lconn *c)
{
    c->state = C_READY;
    /* after_replies (or the connect callback) sends the first batch */
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    lconn *c = h->data;
    *buf = uv_buf_init(c->th->rbuf, sizeof(c->th->rbuf));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    lconn *c = s->data;
    if (c->state == C_DEAD) return;
    if (nread < 0) {
        conn_fail(c, "connection", nread == UV_EOF ? "closed by the server"
                                                   : uv_strerror((int)nread));
        return;
    }
    if (nread == 0) return;
    if (sc_reader_feed(c->rd, buf->base, (size_t)nread) != 0) {
        conn_fail(c, "protocol", sc_reader_errstr(c->rd));
        return;
    }
    for (;;) {
        sc_reply *r = NULL;
        if (sc_reader_get_reply(c->rd, &r) != 0) {
            conn_fail(c, "protocol", sc_reader_errstr(c->rd));
            return;
        }
        if (!r) break;
        handle_reply(c, r);
        sc_reply_free(r);
        if (c->state == C_DEAD) return;
    }
    after_replies(c);
    check_done(c->th);
}

/* AUTH (and HELLO 3) go first; the first batch waits for their replies,
 * so no request runs unauthenticated. Returns 0 or -1 (ENOMEM). */
static int handshake_cmds(lconn *c)
{
    const lopt *o = c->th->o;
    lreq rq = {.kind = K_HANDSHAKE};
    if (o->pass) {
        const char *argv[] = {"AUTH", o->user ? o->user : o->pass, o->pass};
        int argc = o->user ? 3 : 2;
        size_t lens[] = {4, strlen(argv[1]), strlen(o->pass)};
        if (lbuf_cmd(&c->out, argc, argv, lens) != 0 || q_push(c, &rq) != 0) return -1;
        c->handshake_left++;
    }
    if (o->resp3) {
        const char *argv[] = {"HELLO", "3"};
        size_t lens[] = {5, 1};
        if (lbuf_cmd(&c->out, 2, argv, lens) != 0 || q_push(c, &rq) != 0) return -1;
        c->handshake_left++;
    }
    return 0;
}

static void settled(lthread *th)
{
    if (--th->connecting > 0) return;
    th->t_first = uv_hrtime();
    if (th->rate > 0) {
        th->next_ns = (double)th->t_first;
        uv_timer_start(&th->sched, sched_cb, 1, 1);
    }
    check_done(th);
}

static void connect_cb(uv_connect_t *req, int status)
{
    lconn *c = req->data;
    lthread *th = c->th;
    if (status < 0) {
        conn_fail(c, "connect", uv_strerror(status));
        settled(th);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc < 0) {
        conn_fail(c, "connect", uv_strerror(rc));
        settled(th);
        return;
    }
    if (handshake_cmds(c) != 0) {
        conn_fail(c, "client", "out of memory");
        settled(th);
        return;
    }
    if (c->handshake_left) {
        c->state = C_HANDSHAKE;
        flush(c);
    } else {
        on_ready(c);
    }
    settled(th);
    if (c->state == C_READY && th->rate <= 0) issue_batch(c);
}

/* ---- thread ---- */

static void finish(lthread *th)
{
    th->finished = 1;
    for (int i = 0; i < th->nconns; i++) close_conn(&th->conns[i]);
    uv_close((uv_handle_t *)&th->tick, NULL);
    uv_close((uv_handle_t *)&th->sched, NULL);
    /* unsent backlog (every connection died) counts as lost */
    th->st.lost += th->bl_len;
    th->st.errors += th->bl_len;
    th->bl_len = 0;
}

static void check_done(lthread *th)
{
    if (th->finished || th->connecting > 0) return;
    if (th->live == 0) {
        finish(th);
        return;
    }
    if (!th->stopping && th->issued < th->budget) return;
    if (th->bl_len) return;
    for (int i = 0; i < th->nconns; i++)
        if (th->conns[i].state != C_DEAD && th->conns[i].qlen) return;
    finish(th);
}

static void fold_interval(lthread *th)
{
    pthread_mutex_lock(&th->sh->mu);
    sb_hdr_merge(th->sh->interval, th->interval);
    th->sh->errors += th->int_errors;
    th->sh->done_total += th->int_done;
    pthread_mutex_unlock(&th->sh->mu);
    sb_hdr_reset(th->interval);
    th->int_errors = th->int_done = 0;
}

static void tick_cb(uv_timer_t *t)
{
    lthread *th = t->data;
    fold_interval(th);
    uint64_t now = uv_hrtime(), limit = (uint64_t)(th->o->timeout * 1e9);
    for (int i = 0; limit && i < th->nconns && !th->finished; i++) {
        lconn *c = &th->conns[i];
        if (c->state != C_DEAD && c->qlen && now - c->progress_ns > limit) {
            char msg[64];
            snprintf(msg, sizeof(msg), "no reply for %.3f s", th->o->timeout);
            conn_fail(c, "timeout", msg);
        }
    }
    if (th->deadline && uv_hrtime() >= th->deadline && !th->stopping) {
        th->stopping = 1;
        check_done(th);
    }
}

static void thread_main(void *arg)
{
    lthread *th = arg;
    uv_loop_init(&th->loop);
    uv_timer_init(&th->loop, &th->tick);
    uv_timer_init(&th->loop, &th->sched);
    th->tick.data = th->sched.data = th;
    uv_timer_start(&th->tick, tick_cb, 100, 100);
    uint64_t start = uv_hrtime();
    if (th->o->duration > 0) th->deadline = start + (uint64_t)(th->o->duration * 1e9);
    th->connecting = th->live = th->nconns;
    for (int i = 0; i < th->nconns; i++) {
        lconn *c = &th->conns[i];
        c->th = th;
        c->tcp.data = c->creq.data = c;
        uv_tcp_init(&th->loop, &c->tcp);
        int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)th->addr, connect_cb);
        if (rc < 0) {
            conn_fail(c, "connect", uv_strerror(rc));
            settled(th);
        }
    }
    uv_run(&th->loop, UV_RUN_DEFAULT);
    if (!th->t_last) th->t_last = uv_hrtime();
    if (!th->t_first) th->t_first = start;
    fold_interval(th);
    int rc = uv_loop_close(&th->loop);
    if (rc != 0) fprintf(stderr, "load: thread %d: uv_loop_close: %s\n", th->id, uv_strerror(rc));
    pthread_mutex_lock(&th->sh->mu);
    th->sh->finished++;
    pthread_mutex_unlock(&th->sh->mu);
}

/* ---- the run ---- */

static int series_add(lresult *r, size_t *cap, double t, const sb_hdr *h, uint64_t n,
                      uint64_t errs)
{
    if (r->npts == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        double *tt = realloc(r->ts_t, c * sizeof(double));
        if (!tt) return -1;
        r->ts_t = tt;
        uint64_t **arrs[] = {&r->ts_n, &r->ts_err, &r->ts_p50, &r->ts_p99, &r->ts_max};
        for (int i = 0; i < 5; i++) {
            uint64_t *p = realloc(*arrs[i], c * sizeof(uint64_t));
            if (!p) return -1;
            *arrs[i] = p;
        }
        *cap = c;
    }
    size_t i = r->npts++;
    r->ts_t[i] = t;
    r->ts_n[i] = n;
    r->ts_err[i] = errs;
    r->ts_p50[i] = sb_hdr_percentile(h, 50);
    r->ts_p99[i] = sb_hdr_percentile(h, 99);
    r->ts_max[i] = h->count ? h->max : 0;
    return 0;
}

static void progress(const lopt *o, const char *name, double elapsed, uint64_t done,
                     double rps, uint64_t p99)
{
    double frac = o->duration > 0 ? elapsed / o->duration
                : o->requests ? (double)done / (double)o->requests : 0;
    if (frac > 1) frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %3.0f%%  %.0f req/s  p99 %.3f ms   ", name, bar, frac * 100,
            rps, (double)p99 / 1e6);
    fflush(stderr);
}

/* Thread i's share of the connections, requests and rate. Returns 0 or -1
 * (ENOMEM; what was allocated is freed by collect). */
static int thread_setup(lthread *th, int i, const lopt *o, const lwl *wl, lshared *sh,
                        const struct sockaddr_storage *addr)
{
    int T = o->threads;
    th->id = i;
    th->o = o;
    th->wl = wl;
    th->sh = sh;
    th->addr = addr;
    th->nconns = o->conns / T + (i < o->conns % T);
    if (o->duration > 0)
        th->budget = UINT64_MAX;
    else
        th->budget = o->requests / (uint64_t)T + ((uint64_t)i < o->requests % (uint64_t)T);
    th->rate = o->rate / T;
    th->rng = o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i + 1;
    th->conns = calloc((size_t)th->nconns, sizeof(lconn));
    th->lat = sb_hdr_new();
    th->lat_put = sb_hdr_new();
    th->interval = sb_hdr_new();
    if (!th->conns || !th->lat || !th->lat_put || !th->interval) return -1;
    for (int k = 0; k < th->nconns; k++)
        if (!(th->conns[k].rd = sc_reader_create(NULL, 0))) return -1;
    return 0;
}

/* Main thread while the workers run: every second, one time-series point
 * from the shared interval histogram and the progress line; returns when
 * every worker has finished. */
static void watch(const lopt *o, const lwl *wl, lshared *sh, int T, uint64_t t0, lresult *res)
{
    sb_hdr *window = sb_hdr_new();
    int show = o->progress > 0 && !o->csv, oom_series = !window;
    size_t cap = 0;
    uint64_t next = t0 + 1000000000ULL;
    for (;;) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t now = uv_hrtime();
        pthread_mutex_lock(&sh->mu);
        int fin = sh->finished == T;
        if ((now < next && !fin) || !window) {
            pthread_mutex_unlock(&sh->mu);
            if (fin) break;
            continue;
        }
        sb_hdr_reset(window);
        sb_hdr_merge(window, sh->interval);
        uint64_t errs = sh->errors, done_total = sh->done_total;
        sb_hdr_reset(sh->interval);
        sh->errors = 0;
        pthread_mutex_unlock(&sh->mu);
        double t = (double)(now - t0) / 1e9;
        double span = (double)(now - (next - 1000000000ULL)) / 1e9;
        if (!oom_series && (window->count || errs || !fin) &&
            series_add(res, &cap, t, window, window->count, errs) != 0)
            oom_series = 1;
        if (show)
            progress(o, load_test_name(wl->test), t, done_total,
                     span > 0 ? (double)window->count / span : 0, sb_hdr_percentile(window, 99));
        next += 1000000000ULL;
        if (now >= next) next = now + 1000000000ULL;
        if (fin) break;
    }
    if (show) fputc('\n', stderr);
    if (oom_series) fprintf(stderr, "load: out of memory: the time series is incomplete\n");
    sb_hdr_free(window);
}

/* Merges the workers' results into res and frees them. */
static void collect(lthread *ths, int T, lresult *res)
{
    uint64_t first = UINT64_MAX, last = 0;
    for (int i = 0; i < T; i++) {
        lthread *th = &ths[i];
        if (th->lat && res->lat) sb_hdr_merge(res->lat, th->lat);
        if (th->lat_put && res->lat_put) sb_hdr_merge(res->lat_put, th->lat_put);
        lstats_merge(&res->st, &th->st);
        if (th->t_first && th->t_first < first) first = th->t_first;
        if (th->t_last > last) last = th->t_last;
        for (int k = 0; k < th->nconns && th->conns; k++) {
            lconn *c = &th->conns[k];
            sc_reader_free(c->rd);
            free(c->q);
            free(c->out.p);
            free(c->wbuf.p);
        }
        free(th->conns);
        free(th->backlog);
        sb_hdr_free(th->lat);
        sb_hdr_free(th->lat_put);
        sb_hdr_free(th->interval);
    }
    res->seconds = first != UINT64_MAX && last > first ? (double)(last - first) / 1e9 : 0;
}

int load_run(const lopt *o, const lwl *wl, const struct sockaddr_storage *addr, lresult *res)
{
    memset(res, 0, sizeof(*res));
    int T = o->threads, rc = -1, started = 0;
    lthread *ths = calloc((size_t)T, sizeof(lthread));
    lshared sh = {.interval = sb_hdr_new()};
    pthread_mutex_init(&sh.mu, NULL);
    res->lat = sb_hdr_new();
    res->lat_put = sb_hdr_new();
    if (!ths || !sh.interval || !res->lat || !res->lat_put) goto done;
    for (int i = 0; i < T; i++)
        if (thread_setup(&ths[i], i, o, wl, &sh, addr) != 0) {
            fprintf(stderr, "load: out of memory setting up %d connections\n", o->conns);
            goto done;
        }
    uint64_t t0 = uv_hrtime();
    for (; started < T; started++)
        if (uv_thread_create(&ths[started].thr, thread_main, &ths[started]) != 0) {
            fprintf(stderr, "load: cannot start thread %d\n", started);
            goto done;
        }
    watch(o, wl, &sh, T, t0, res);
    rc = 0;
done:
    /* A failed thread start leaves the started ones running: they end on
     * their own (their budget or the deadline), so joining them is safe. */
    for (int i = 0; i < started; i++) uv_thread_join(&ths[i].thr);
    if (ths) collect(ths, T, res);
    free(ths);
    sb_hdr_free(sh.interval);
    pthread_mutex_destroy(&sh.mu);
    return rc;
}

void lresult_free(lresult *r)
{
    sb_hdr_free(r->lat);
    sb_hdr_free(r->lat_put);
    free(r->ts_t);
    free(r->ts_n);
    free(r->ts_err);
    free(r->ts_p50);
    free(r->ts_p99);
    free(r->ts_max);
    memset(r, 0, sizeof(*r));
}
