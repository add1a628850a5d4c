/* cache_drive.c -- a small CACHE.GET load driver for bench/cache_bench.py's
 * semantic part: many distinct prompts (one per line of a file), cycled
 * over 50 connections, closed loop or open loop, latency percentiles.
 *
 * Why not redis-benchmark: it repeats one command, so a semantic-hit run
 * measured one query whose embedding, graph nodes and codes all stay
 * cached; its __rand_int__ substitution changes the prompt's words.
 * Why not simcache-bench's LLM mix: it generates its own prompts, and the
 * semantic part needs rewordings of the prompts it stored.
 *
 * Design decisions:
 * 1. One thread, nonblocking TCP sockets (TCP_NODELAY), one epoll
 *    instance; each socket is registered once, level-triggered, for
 *    EPOLLIN, and EPOLLOUT is added only while a short write left bytes
 *    to send (never on loopback with these small requests). A request is
 *    one write() of a buffer encoded at start-up (note 2). The driver runs
 *    on the two cores the server it measures shares, so its CPU per
 *    request is taken from the server: the previous core, hiredis's async
 *    API on its libuv adapter, cost 10.6 us of CPU per request (driver cpu
 *    3180 ms for 300,000 requests), most of it the adapter adding and
 *    removing each socket's epoll registration on every request
 *    (do_epoll_ctl, ep_remove, epitem slab alloc/free in `perf record`)
 *    plus hiredis's command formatting and reply objects. Measured
 *    alternating with that build on one server (20k entries, 1,000
 *    prompts, -c 50 -n 200000, three rounds each): 6.16 us of driver CPU
 *    per request against 10.35 (medians), 58.2k against 49.8k rps; open
 *    loop at 5,000/s: 36.0 against 44.9 us per request, where both sleep
 *    between requests and the wake-ups (finish_task_switch, the server's
 *    wake-up inside write()) are most of it. What remains in the closed
 *    loop is the kernel's TCP send and receive path; the driver's own
 *    code is ~2% of its samples.
 * 2. Each prompt's request (`*3 $9 CACHE.GET $<ns> $<prompt>`) is RESP
 *    encoded once at start-up into one arena; request i sends prompt
 *    i mod P. Per-request bookkeeping (send times, latencies) is allocated
 *    up front for every request the run can send, so the hot path never
 *    allocates.
 * 3. Replies are parsed by a minimal RESP2 reader of our own (resp_value):
 *    it skips a value in place and notes the top-level type and the second
 *    element of an array, so no reply object is built or freed. A reply
 *    split across reads stays in the connection's buffer and is parsed
 *    again from its start when more bytes arrive (bulk payloads are
 *    skipped by length, so the re-parse costs one header line per
 *    element, not per byte); several replies in one read are all taken.
 *    A malformed reply is a protocol error: that connection is reported
 *    lost and the run stops, as a dropped connection does.
 * 4. Closed loop (default): each connection keeps exactly one request in
 *    flight and sends the next prompt when the reply arrives; latency is
 *    send to reply. Stops after -n requests.
 * 5. Open loop (--rate R): request i is scheduled at t0 + i / R (fixed
 *    spacing), sent on connection i mod C (pipelined behind a slow reply,
 *    never held back; replies come back in order, so a connection's j-th
 *    reply answers request conn + j * C), and its latency counts from the
 *    scheduled time, not the send, so a stalled server cannot hide its
 *    queueing (no coordinated omission). The send times come from a
 *    timerfd armed at the next request's absolute time (ns resolution) in
 *    the same epoll set: a 1 ms tick (libuv's timers, used before) bunched
 *    sends and added ~0.5 ms of scheduling delay to every latency (p50
 *    1.24 ms at 5,000/s, measured).
 *    Runs --duration seconds; requests still unanswered 5 s after the
 *    last send count as lost.
 *    The driver's own lateness (a send after its scheduled time: the
 *    driver was descheduled or busy) is reported separately, with the
 *    percentiles measured from the actual send, so a tail that the server
 *    did not cause can be told apart (on the shared 2-core machine most of
 *    the 2,000/s p99 was the driver's: README); so is the time the driver
 *    was runnable but waiting for a CPU (schedstat).
 * 6. A reply is a hit unless it is an error or its tier (the second
 *    element of CACHE.GET's RESP2 array) is "miss". The clock is read once
 *    per read(): the replies of one read arrived together.
 * 7. Latencies are kept in integer ns and sorted with an LSD radix sort
 *    (once, after the measured interval; qsort with a comparator showed in
 *    `perf` profiles of the driver).
 *
 * Usage: cache-drive -p PORT --ns NS --prompts FILE [-c 50] [-n 200000]
 *                    [--rate R --duration S]
 * Output (one line): mode, requests, rps, p50/p90/p99/max ms, hits,
 * misses, errors, lost; open loop: sends late by > 0.25 / > 1 ms, max, and
 * percentiles from the actual send; the driver's CPU and runqueue wait.
 * Exit 0, 1 on bad arguments, no connection or no memory. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define IN_CHUNK 16384     /* initial input buffer per connection, bytes */
#define RESP_MAX_DEPTH 16  /* nested arrays deeper than this are a protocol error */
#define TIMER_TAG UINT64_MAX   /* epoll data of the timerfd (connections: their index) */

typedef struct conn {
    int fd, idx;
    char *in;                 /* unparsed reply bytes in[0..inlen) */
    size_t inlen, incap;
    char *out;                /* bytes a short write left, out[outoff..outlen) */
    size_t outoff, outlen, outcap;
    long long cur;            /* closed loop: the request in flight */
    long long answered;       /* replies received on this connection */
} conn;

static struct {
    int ep, tfd;
    conn *conns;
    int nconn, port;
    const char *ns;
    char **prompts;
    size_t nprompts;
    char *reqs;                /* the encoded requests, back to back */
    size_t *req_off;           /* request for prompt p: reqs[req_off[p]..req_off[p+1]) */
    long long total;           /* requests the run may send (closed: -n; open: rate x duration) */
    double rate, duration;     /* open loop when rate > 0 */
    long long sent, done, hits, misses, errors;
    long long late250, late1ms;  /* open loop: sends over 250 us / 1 ms late */
    double late_max;             /* ms */
    uint64_t *lat;             /* ns from the scheduled time, per answered request */
    uint64_t *slat;            /* ns from the actual send, same order */
    size_t nlat;
    uint64_t *sent_at;         /* ns, per request sent (index = request number) */
    uint64_t t0, last_send;
    int ticking, stopping;
} g;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This thread's CPU time and time spent runnable but waiting for a CPU, ns
 * (/proc/thread-self/schedstat; 0 and 0 where it is missing). */
static void sched_times(uint64_t *run, uint64_t *wait) {
    unsigned long long r = 0, w = 0;
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &r, &w) != 2) r = w = 0;
        fclose(f);
    }
    *run = r;
    *wait = w;
}

/* Open loop: the scheduled send time of request i (CLOCK_MONOTONIC ns). */
static uint64_t sched_of(long long i) { return g.t0 + (uint64_t)((double)i / g.rate * 1e9); }

/* ---------------------------------------------------------------- RESP reader */

/* What resp_value noted about a top-level reply: its type byte and, for an
 * array, its second element when that is a string (bulk or simple). */
typedef struct resp_note {
    char type;
    const char *second;   /* NULL when absent or not a string */
    size_t second_len;
} resp_note;

/* Parses the integer of a RESP header line b[pos+1..] up to CRLF. Returns
 * the position after the CRLF, 0 if the line is incomplete, -1 if it is
 * not an integer. */
static long long resp_line_int(const char *b, size_t len, size_t pos, long long *v) {
    const char *p = b + pos + 1, *end = b + len;
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    if (!cr || cr + 1 >= end) return 0;
    if (cr[1] != '\n') return -1;
    int neg = p < cr && *p == '-';
    if (neg) p++;
    if (p == cr || cr - p > 18) return -1;
    long long n = 0;
    for (; p < cr; p++) {
        if (*p < '0' || *p > '9') return -1;
        n = n * 10 + (*p - '0');
    }
    *v = neg ? -n : n;
    return cr + 2 - b;
}

/* Skips one RESP2 value starting at b[pos] (b[0..len) holds the bytes
 * received). Returns the position after it, 0 if more bytes are needed,
 * -1 on a protocol error. When note is set (top level), fills it. */
static long long resp_value(const char *b, size_t len, size_t pos, int depth, resp_note *note) {
    if (pos >= len) return 0;
    char t = b[pos];
    if (note) {
        note->type = t;
        note->second = NULL;
    }
    if (t == '+' || t == '-' || t == ':') {   /* one line */
        const char *cr = memchr(b + pos, '\r', len - pos);
        if (!cr || (size_t)(cr - b) + 1 >= len) return 0;
        return cr[1] == '\n' ? cr + 2 - b : -1;
    }
    long long n;
    long long at = resp_line_int(b, len, pos, &n);
    if (at <= 0) return at;
    if (t == '$') {
        if (n < 0) return n == -1 ? at : -1;     /* null bulk */
        if ((unsigned long long)at + (unsigned long long)n + 2 > len) return 0;
        if (b[at + n] != '\r' || b[at + n + 1] != '\n') return -1;
        return at + n + 2;
    }
    if (t != '*' || n < -1 || depth >= RESP_MAX_DEPTH) return -1;
    for (long long i = 0; i < n; i++) {
        long long s = at;
        at = resp_value(b, len, (size_t)s, depth + 1, NULL);
        if (at <= 0) return at;
        if (i == 1 && note) {
            if (b[s] == '$' && b[s + 1] != '-') {
                const char *nl = memchr(b + s, '\n', (size_t)(at - s));
                note->second = nl + 1;
                note->second_len = (size_t)(b + at - 2 - note->second);
            } else if (b[s] == '+') {
                note->second = b + s + 1;
                note->second_len = (size_t)(at - s - 3);
            }
        }
    }
    return at;
}

/* ---------------------------------------------------------------- I/O core */

static void stop_all(void) {
    g.stopping = 1;
    g.ticking = 0;
}

static void conn_lost(conn *c, const char *why) {
    if (!g.stopping) fprintf(stderr, "cache-drive: connection %d lost: %s\n", c->idx, why);
    stop_all();
}

static int conn_watch(conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)c->idx};
    return epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what a short write left; drops EPOLLOUT once it is all sent. */
static void conn_flush(conn *c) {
    while (c->outoff < c->outlen) {
        ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (w <= 0) {
            conn_lost(c, strerror(errno));
            return;
        }
        c->outoff += (size_t)w;
    }
    c->outoff = c->outlen = 0;
    if (conn_watch(c, EPOLLIN) != 0) conn_lost(c, strerror(errno));
}

/* Queues b[0..n) behind bytes already waiting (EPOLLOUT is armed then). */
static int conn_queue(conn *c, const char *b, size_t n) {
    if (c->outlen + n > c->outcap) {
        size_t cap = c->outcap ? c->outcap : 4096;
        while (cap < c->outlen + n) cap *= 2;
        char *o = realloc(c->out, cap);
        if (!o) return -1;
        c->out = o;
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, b, n);
    c->outlen += n;
    return 0;
}

/* Sends request idx on c: one write() of its encoded bytes (note 1). */
static void send_req(conn *c, long long idx) {
    size_t p = (size_t)idx % g.nprompts;
    const char *b = g.reqs + g.req_off[p];
    size_t n = g.req_off[p + 1] - g.req_off[p];
    g.sent_at[idx] = now_ns();
    g.sent++;
    c->cur = idx;
    if (c->outlen > c->outoff) {               /* behind an unfinished write */
        if (conn_queue(c, b, n) != 0) conn_lost(c, "out of memory");
        return;
    }
    ssize_t w;
    do w = write(c->fd, b, n);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)n) return;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_lost(c, strerror(errno));
        return;
    }
    if (w < 0) w = 0;
    c->outoff = c->outlen = 0;
    if (conn_queue(c, b + w, n - (size_t)w) != 0 || conn_watch(c, EPOLLIN | EPOLLOUT) != 0)
        conn_lost(c, "cannot queue a short write");
}

/* One reply arrived on c at time now: latency, tier, and (closed loop) the
 * next request on the same connection. */
static void on_reply(conn *c, long long idx, const resp_note *r, uint64_t now) {
    c->answered++;
    g.done++;
    uint64_t sent = g.sent_at[idx], sched = g.rate > 0 ? sched_of(idx) : sent;
    g.lat[g.nlat] = now > sched ? now - sched : 0;
    g.slat[g.nlat++] = now > sent ? now - sent : 0;
    if (r->type == '-') g.errors++;
    else if (r->type == '*' && r->second && r->second_len == 4 && !memcmp(r->second, "miss", 4))
        g.misses++;
    else g.hits++;
    if (g.rate <= 0) {
        if (g.sent < g.total) send_req(c, g.sent);
        else if (g.done == g.total) stop_all();
    } else if (!g.ticking && g.done == g.sent) {
        stop_all();
    }
}

/* c is readable: one read(), then every complete reply in the buffer. */
static void conn_read(conn *c) {
    if (c->inlen == c->incap) {                /* one reply fills the buffer */
        char *n = realloc(c->in, c->incap * 2);
        if (!n) {
            conn_lost(c, "out of memory");
            return;
        }
        c->in = n;
        c->incap *= 2;
    }
    ssize_t r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (r <= 0) {
        conn_lost(c, r == 0 ? "closed by the server" : strerror(errno));
        return;
    }
    c->inlen += (size_t)r;
    uint64_t now = now_ns();
    size_t pos = 0;
    while (pos < c->inlen && !g.stopping) {
        resp_note note;
        long long end = resp_value(c->in, c->inlen, pos, 0, &note);
        if (end == 0) break;
        if (end < 0) {
            conn_lost(c, "protocol error in a reply");
            return;
        }
        long long idx = g.rate > 0 ? c->idx + c->answered * g.nconn : c->cur;
        if (idx < 0 || idx >= g.sent) {
            conn_lost(c, "a reply to no request");
            return;
        }
        c->cur = -1;                           /* answered; on_reply may send the next */
        pos = (size_t)end;
        on_reply(c, idx, &note, now);
    }
    if (pos) {
        memmove(c->in, c->in + pos, c->inlen - pos);
        c->inlen -= pos;
    }
}

/* Arms the timerfd at absolute CLOCK_MONOTONIC time t ns. */
static void arm(uint64_t t) {
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(t / 1000000000u);
    its.it_value.tv_nsec = (long)(t % 1000000000u);
    timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Open loop: send everything due by now, round-robin (note 5), then arm
 * the timer for the next request. The expiration count is never read():
 * re-arming (or removing) the timerfd clears its readiness, checked on
 * this kernel, and saves a syscall per tick. */
static void tick(void) {
    uint64_t now = now_ns();
    long long due = (long long)((double)(now - g.t0) / 1e9 * g.rate) + 1;
    if (due > g.total) due = g.total;
    while (g.sent < due && !g.stopping) {
        uint64_t s = sched_of(g.sent);
        double late = now > s ? (double)(now - s) / 1e6 : 0;   /* ms: our own delay */
        g.late250 += late > 0.25;
        g.late1ms += late > 1.0;
        if (late > g.late_max) g.late_max = late;
        send_req(&g.conns[g.sent % g.nconn], g.sent);
    }
    g.last_send = now;
    if (g.stopping) return;
    if (g.sent >= g.total) {
        epoll_ctl(g.ep, EPOLL_CTL_DEL, g.tfd, NULL);
        g.ticking = 0;
        if (g.done == g.sent) stop_all();
    } else {
        arm(sched_of(g.sent));
    }
}

/* Runs until stop_all(): the closed loop's last reply, the open loop's
 * last reply or its drain (5 s after the last send), or a lost connection. */
static void run(void) {
    struct epoll_event evs[64];
    while (!g.stopping) {
        int timeout = -1;
        if (g.rate > 0 && !g.ticking) {        /* open loop, draining */
            uint64_t now = now_ns(), end = g.last_send + 5000000000ull;
            if (now >= end) break;
            timeout = (int)((end - now) / 1000000u) + 1;
        }
        int n = epoll_wait(g.ep, evs, 64, timeout);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            perror("cache-drive: epoll_wait");
            break;
        }
        for (int i = 0; i < n && !g.stopping; i++) {
            if (evs[i].data.u64 == TIMER_TAG) {
                tick();
                continue;
            }
            conn *c = &g.conns[evs[i].data.u64];
            if (evs[i].events & EPOLLOUT) conn_flush(c);
            if (!g.stopping && evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) conn_read(c);
        }
    }
}

/* ---------------------------------------------------------------- set-up */

static int load_prompts(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0, n = 0, pcap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (n == pcap) {
            pcap = pcap ? pcap * 2 : 1024;
            char **np = realloc(g.prompts, pcap * sizeof *np);
            if (!np) break;
            g.prompts = np;
        }
        g.prompts[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    g.nprompts = n;
    return n ? 0 : -1;
}

/* Encodes every prompt's CACHE.GET once (note 2). Returns 0, -1 on no memory. */
static int encode_requests(void) {
    size_t nsl = strlen(g.ns), total = 0;
    for (size_t i = 0; i < g.nprompts; i++) total += strlen(g.prompts[i]) + nsl + 80;
    g.reqs = malloc(total);
    g.req_off = malloc((g.nprompts + 1) * sizeof *g.req_off);
    if (!g.reqs || !g.req_off) return -1;
    size_t at = 0;
    for (size_t i = 0; i < g.nprompts; i++) {
        size_t pl = strlen(g.prompts[i]);
        g.req_off[i] = at;
        at += (size_t)sprintf(g.reqs + at, "*3\r\n$9\r\nCACHE.GET\r\n$%zu\r\n", nsl);
        memcpy(g.reqs + at, g.ns, nsl);
        at += nsl;
        at += (size_t)sprintf(g.reqs + at, "\r\n$%zu\r\n", pl);
        memcpy(g.reqs + at, g.prompts[i], pl);
        at += pl;
        memcpy(g.reqs + at, "\r\n", 2);
        at += 2;
    }
    g.req_off[g.nprompts] = at;
    return 0;
}

/* Connects c to 127.0.0.1:port (blocking connect, then nonblocking) and
 * registers it for EPOLLIN. Returns 0 or -1. */
static int conn_open(conn *c, int idx) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    c->idx = idx;
    c->cur = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
    c->in = malloc(IN_CHUNK);
    if (!c->in) return -1;
    c->incap = IN_CHUNK;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)idx};
    return epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* In-place LSD radix sort of v[0..n) by bytes; tmp holds n values. Passes
 * where every value has the same byte are skipped. */
static void sort_u64(uint64_t *v, uint64_t *tmp, size_t n) {
    for (int shift = 0; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++) count[((v[i] >> shift) & 0xff) + 1]++;
        int trivial = 0;
        for (int b = 1; b <= 256; b++) trivial |= count[b] == n;
        if (trivial) continue;
        for (int b = 1; b <= 256; b++) count[b] += count[b - 1];
        for (size_t i = 0; i < n; i++) tmp[count[(v[i] >> shift) & 0xff]++] = v[i];
        memcpy(v, tmp, n * sizeof *v);
    }
}

static double pct_of(const uint64_t *v, double p) {
    if (!g.nlat) return 0;
    size_t i = (size_t)(p * (double)(g.nlat - 1) + 0.5);
    return (double)v[i] / 1e6;
}

static void usage(void) {
    fprintf(stderr, "usage: cache-drive -p PORT --ns NS --prompts FILE [-c 50] [-n 200000] "
                    "[--rate R --duration S]\n");
}

int main(int argc, char **argv) {
    const char *file = NULL;
    g.nconn = 50;
    g.total = 200000;
    g.duration = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { usage(); return 1; }
        if (!strcmp(a, "-p")) g.port = atoi(v);
        else if (!strcmp(a, "-c")) g.nconn = atoi(v);
        else if (!strcmp(a, "-n")) g.total = atoll(v);
        else if (!strcmp(a, "--ns")) g.ns = v;
        else if (!strcmp(a, "--prompts")) file = v;
        else if (!strcmp(a, "--rate")) g.rate = atof(v);
        else if (!strcmp(a, "--duration")) g.duration = atof(v);
        else { usage(); return 1; }
        i++;
    }
    if (g.port <= 0 || g.port > 65535 || !g.ns || !file || g.nconn < 1 || g.total < 1 ||
        g.duration <= 0 || g.rate < 0) {
        usage();
        return 1;
    }
    if (load_prompts(file) != 0) {
        fprintf(stderr, "cache-drive: no prompts in %s\n", file);
        return 1;
    }
    if (g.rate > 0) g.total = (long long)(g.duration * g.rate);
    size_t cap = (size_t)(g.total > 0 ? g.total : 1);
    g.sent_at = malloc(cap * sizeof *g.sent_at);
    g.lat = malloc(cap * sizeof *g.lat);
    g.slat = malloc(cap * sizeof *g.slat);
    g.conns = calloc((size_t)g.nconn, sizeof *g.conns);
    if (!g.sent_at || !g.lat || !g.slat || !g.conns || encode_requests() != 0) {
        fprintf(stderr, "cache-drive: out of memory for %lld requests\n", g.total);
        return 1;
    }
    g.tfd = -1;
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (g.ep < 0) {
        perror("cache-drive: epoll_create1");
        return 1;
    }
    for (int i = 0; i < g.nconn; i++)
        if (conn_open(&g.conns[i], i) != 0) {
            fprintf(stderr, "cache-drive: cannot connect to port %d: %s\n", g.port,
                    strerror(errno));
            return 1;
        }
    uint64_t run0, wait0, run1, wait1;
    sched_times(&run0, &wait0);
    g.t0 = now_ns();
    if (g.rate > 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TIMER_TAG};
        g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (g.tfd < 0 || epoll_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, &ev) != 0) {
            fprintf(stderr, "cache-drive: timerfd\n");
            return 1;
        }
        g.ticking = 1;
        arm(g.t0);
    } else {
        for (int i = 0; i < g.nconn && g.sent < g.total; i++) send_req(&g.conns[i], g.sent);
    }
    if (g.total > 0) run();
    double el = (double)(now_ns() - g.t0) / 1e9;
    sched_times(&run1, &wait1);
    uint64_t *tmp = malloc(cap * sizeof *tmp);
    if (tmp) {
        sort_u64(g.lat, tmp, g.nlat);
        sort_u64(g.slat, tmp, g.nlat);
        free(tmp);
    } else {
        fprintf(stderr, "cache-drive: no memory to sort the latencies\n");
        return 1;
    }
    if (g.rate > 0)
        printf("open loop %.0f/s: ", g.rate);
    else
        printf("closed loop: ");
    printf("requests %lld, %.0f rps, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, "
           "hits %lld, misses %lld, errors %lld, lost %lld, prompts %zu, connections %d",
           g.done, (double)g.done / el, pct_of(g.lat, 0.50), pct_of(g.lat, 0.90),
           pct_of(g.lat, 0.99), g.nlat ? (double)g.lat[g.nlat - 1] / 1e6 : 0.0, g.hits,
           g.misses, g.errors, g.sent - g.done, g.nprompts, g.nconn);
    if (g.rate > 0)
        printf(", sent late by the driver: >0.25 ms %lld, >1 ms %lld, max %.3f ms; "
               "from the actual send: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms", g.late250,
               g.late1ms, g.late_max, pct_of(g.slat, 0.50), pct_of(g.slat, 0.90),
               pct_of(g.slat, 0.99));
    printf("; driver cpu %.0f ms, waited for a cpu %.0f ms\n", (double)(run1 - run0) / 1e6,
           (double)(wait1 - wait0) / 1e6);
    for (int i = 0; i < g.nconn; i++) {
        if (g.conns[i].fd >= 0) close(g.conns[i].fd);
        free(g.conns[i].in);
        free(g.conns[i].out);
    }
    for (size_t i = 0; i < g.nprompts; i++) free(g.prompts[i]);
    free(g.prompts);
    free(g.reqs);
    free(g.req_off);
    free(g.lat);
    free(g.slat);
    free(g.sent_at);
    free(g.conns);
    if (g.tfd >= 0) close(g.tfd);
    close(g.ep);
    return 0;
}
