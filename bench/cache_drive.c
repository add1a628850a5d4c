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
 * 1. hiredis's async API on one libuv loop: one thread, so the driver
 *    costs one core at most on the two cores the server shares with it
 *    (as redis-benchmark does).
 * 2. Closed loop (default): each connection keeps exactly one request in
 *    flight and sends the next prompt when the reply arrives; latency is
 *    send to reply. Stops after -n requests.
 * 3. Open loop (--rate R): request i is scheduled at t0 + i / R (fixed
 *    spacing), sent round-robin over the connections (pipelined behind a
 *    slow reply, never held back), and its latency counts from the
 *    scheduled time, not the send, so a stalled server cannot hide its
 *    queueing (no coordinated omission). The send times come from a
 *    timerfd armed at the next request's absolute time (ns resolution)
 *    and watched by a uv_poll: libuv's own timers have 1 ms resolution,
 *    and bunching sends at a 1 ms tick added ~0.5 ms of scheduling delay
 *    to every latency (p50 1.24 ms at 5,000/s, measured).
 *    Runs --duration seconds; requests still unanswered 5 s after the
 *    last send count as lost.
 *    The driver's own lateness (a send after its scheduled time: the
 *    driver was descheduled or busy) is reported separately, with the
 *    percentiles measured from the actual send, so a tail that the server
 *    did not cause can be told apart (on the shared 2-core machine most of
 *    the 2,000/s p99 was the driver's: README); so is the time the driver
 *    was runnable but waiting for a CPU (schedstat).
 * 4. A reply is a hit unless it is an error or its tier (the second
 *    element of CACHE.GET's RESP2 array) is "miss".
 *
 * Usage: cache-drive -p PORT --ns NS --prompts FILE [-c 50] [-n 200000]
 *                    [--rate R --duration S]
 * Output (one line): mode, requests, rps, p50/p90/p99/max ms, hits,
 * misses, errors, lost; open loop: sends late by > 0.25 / > 1 ms, max, and
 * percentiles from the actual send; the driver's CPU and runqueue wait.
 * Exit 0, 1 on bad arguments or no connection. */
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

typedef struct conn {
    redisAsyncContext *ac;
    int idx;
} conn;

static struct {
    uv_loop_t *loop;
    conn *conns;
    int nconn, port;
    const char *ns;
    char **prompts;
    size_t nprompts, next_prompt;
    long long total;           /* closed loop: requests to send */
    double rate, duration;     /* open loop when rate > 0 */
    long long sent, done, hits, misses, errors;
    long long late250, late1ms;  /* open loop: sends over 250 us / 1 ms late */
    double late_max;             /* ms */
    double *lat;               /* ms from the scheduled time, per answered request */
    double *slat;              /* ms from the actual send, same order */
    size_t nlat, latcap;
    uint64_t *sent_at;         /* ns, per request sent (index = send order) */
    size_t sentcap;
    uint64_t t0, last_send;
    uv_timer_t tick;           /* closed loop: unused (closed at the end) */
    uv_poll_t tpoll;           /* open loop: the timerfd */
    int tfd;
    int ticking, stopping;
} g;

static uint64_t now_ns(void) { return uv_hrtime(); }

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

static void send_one(conn *c);
static uint64_t sched_of(long long i);

/* Scheduled time of request idx: open loop, its slot; closed loop, its send. */
static uint64_t sched_of_req(size_t idx) {
    return g.rate > 0 ? sched_of((long long)idx) : g.sent_at[idx];
}

static void record(double ms, double sms) {
    if (g.nlat == g.latcap) {
        size_t ncap = g.latcap ? g.latcap * 2 : 65536;
        double *n = realloc(g.lat, ncap * sizeof *n), *sn;
        if (n) g.lat = n;
        sn = n ? realloc(g.slat, ncap * sizeof *sn) : NULL;
        if (!sn) return;
        g.slat = sn;
        g.latcap = ncap;
    }
    g.slat[g.nlat] = sms;
    g.lat[g.nlat++] = ms;
}

static void stop_all(void) {
    if (g.stopping) return;
    g.stopping = 1;
    g.ticking = 0;
    uv_close((uv_handle_t *)&g.tick, NULL);
    if (g.tfd >= 0) uv_close((uv_handle_t *)&g.tpoll, NULL);
    for (int i = 0; i < g.nconn; i++)
        if (g.conns[i].ac) redisAsyncDisconnect(g.conns[i].ac);
}

/* hiredis frees the context after this: stop_all must not touch it. */
static void disconnect_cb(const redisAsyncContext *ac, int status) {
    conn *c = ac->data;
    c->ac = NULL;
    if (status != REDIS_OK && !g.stopping) {
        fprintf(stderr, "cache-drive: connection %d lost: %s\n", c->idx, ac->errstr);
        stop_all();
    }
}

static void reply_cb(redisAsyncContext *ac, void *r, void *priv) {
    redisReply *rep = r;
    conn *c = ac->data;
    size_t idx = (size_t)(uintptr_t)priv;
    if (!rep) return;   /* disconnecting */
    g.done++;
    uint64_t now = now_ns();
    record((double)(now - sched_of_req(idx)) / 1e6, (double)(now - g.sent_at[idx]) / 1e6);
    if (rep->type == REDIS_REPLY_ERROR) g.errors++;
    else if (rep->type == REDIS_REPLY_ARRAY &&
             rep->elements >= 2 && rep->element[1]->str && strcmp(rep->element[1]->str, "miss") == 0)
        g.misses++;
    else g.hits++;
    if (g.rate <= 0) {
        if (g.sent < g.total) send_one(c);
        else if (g.done == g.total) stop_all();
    } else if (!g.ticking && g.done == g.sent) {
        stop_all();
    }
}

static void send_one(conn *c) {
    const char *p = g.prompts[g.next_prompt++ % g.nprompts];
    size_t idx = (size_t)g.sent;
    if (idx == g.sentcap) {
        size_t ncap = g.sentcap ? g.sentcap * 2 : 65536;
        uint64_t *n = realloc(g.sent_at, ncap * sizeof *n);
        if (!n) {   /* counted as sent and failed, so the schedule moves on */
            g.sent++;
            g.errors++;
            g.done++;
            return;
        }
        g.sent_at = n;
        g.sentcap = ncap;
    }
    g.sent_at[idx] = now_ns();
    g.sent++;
    if (redisAsyncCommand(c->ac, reply_cb, (void *)(uintptr_t)idx, "CACHE.GET %s %s", g.ns, p) !=
        REDIS_OK) {
        g.errors++;
        g.done++;
    }
}

static uint64_t sched_of(long long i) { return g.t0 + (uint64_t)((double)i / g.rate * 1e9); }

/* Arms the timerfd at absolute CLOCK_MONOTONIC time t ns (uv_hrtime's clock). */
static void arm(uint64_t t) {
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(t / 1000000000u);
    its.it_value.tv_nsec = (long)(t % 1000000000u);
    timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Open loop: send everything due by now, round-robin (note 3), then arm
 * the timer for the next request. */
static void tick_cb(uv_poll_t *h, int status, int events) {
    (void)h, (void)status, (void)events;
    uint64_t exp, now = now_ns();
    if (read(g.tfd, &exp, sizeof exp) < 0) { /* spurious: re-check the clock anyway */ }
    long long last = (long long)(g.duration * g.rate);
    long long due = (long long)((double)(now - g.t0) / 1e9 * g.rate) + 1;
    if (due > last) due = last;
    while (g.sent < due) {
        uint64_t s = sched_of(g.sent);
        double late = now > s ? (double)(now - s) / 1e6 : 0;   /* ms: our own delay */
        g.late250 += late > 0.25;
        g.late1ms += late > 1.0;
        if (late > g.late_max) g.late_max = late;
        send_one(&g.conns[g.sent % g.nconn]);
    }
    g.last_send = now;
    if (g.sent >= last) {
        uv_poll_stop(&g.tpoll);
        g.ticking = 0;
        if (g.done == g.sent) stop_all();
    } else {
        arm(sched_of(g.sent));
    }
}

static void drain_cb(uv_timer_t *t) {   /* open loop: give up on lost replies */
    (void)t;
    if (!g.stopping && !g.ticking && now_ns() - g.last_send > 5000000000ull) stop_all();
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct_of(const double *v, double p) {
    if (!g.nlat) return 0;
    size_t i = (size_t)(p * (double)(g.nlat - 1) + 0.5);
    return v[i];
}

static double pct(double p) { return pct_of(g.lat, p); }

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
    if (g.port <= 0 || !g.ns || !file || g.nconn < 1 || g.total < 1 || g.duration <= 0) {
        usage();
        return 1;
    }
    if (load_prompts(file) != 0) {
        fprintf(stderr, "cache-drive: no prompts in %s\n", file);
        return 1;
    }
    g.loop = uv_default_loop();
    g.conns = calloc((size_t)g.nconn, sizeof *g.conns);
    for (int i = 0; i < g.nconn; i++) {
        redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", g.port);
        if (!ac || ac->err || redisLibuvAttach(ac, g.loop) != REDIS_OK) {
            fprintf(stderr, "cache-drive: cannot connect to port %d\n", g.port);
            return 1;
        }
        ac->data = &g.conns[i];
        g.conns[i].ac = ac;
        redisAsyncSetDisconnectCallback(ac, disconnect_cb);
        g.conns[i].idx = i;
    }
    uv_timer_init(g.loop, &g.tick);
    uv_timer_t drain;
    uv_timer_init(g.loop, &drain);
    uint64_t run0, wait0, run1, wait1;
    sched_times(&run0, &wait0);
    g.t0 = now_ns();
    g.tfd = -1;
    if (g.rate > 0) {
        g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (g.tfd < 0 || uv_poll_init(g.loop, &g.tpoll, g.tfd) != 0) {
            fprintf(stderr, "cache-drive: timerfd\n");
            return 1;
        }
        g.ticking = 1;
        uv_poll_start(&g.tpoll, UV_READABLE, tick_cb);
        arm(g.t0);
        uv_timer_start(&drain, drain_cb, 1000, 1000);
        uv_unref((uv_handle_t *)&drain);
    } else {
        for (int i = 0; i < g.nconn && g.sent < g.total; i++) send_one(&g.conns[i]);
    }
    uv_run(g.loop, UV_RUN_DEFAULT);
    double el = (double)(now_ns() - g.t0) / 1e9;
    sched_times(&run1, &wait1);
    uv_close((uv_handle_t *)&drain, NULL);
    uv_run(g.loop, UV_RUN_DEFAULT);
    qsort(g.lat, g.nlat, sizeof *g.lat, cmp_d);
    qsort(g.slat, g.nlat, sizeof *g.slat, cmp_d);
    if (g.rate > 0)
        printf("open loop %.0f/s: ", g.rate);
    else
        printf("closed loop: ");
    printf("requests %lld, %.0f rps, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, "
           "hits %lld, misses %lld, errors %lld, lost %lld, prompts %zu, connections %d",
           g.done, (double)g.done / el, pct(0.50), pct(0.90), pct(0.99),
           g.nlat ? g.lat[g.nlat - 1] : 0.0, g.hits, g.misses, g.errors, g.sent - g.done,
           g.nprompts, g.nconn);
    if (g.rate > 0)
        printf(", sent late by the driver: >0.25 ms %lld, >1 ms %lld, max %.3f ms; "
               "from the actual send: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms", g.late250,
               g.late1ms, g.late_max, pct_of(g.slat, 0.50), pct_of(g.slat, 0.90),
               pct_of(g.slat, 0.99));
    printf("; driver cpu %.0f ms, waited for a cpu %.0f ms\n", (double)(run1 - run0) / 1e6,
           (double)(wait1 - wait0) / 1e6);
    for (size_t i = 0; i < g.nprompts; i++) free(g.prompts[i]);
    free(g.prompts);
    free(g.lat);
    free(g.slat);
    free(g.sent_at);
    free(g.conns);
    if (g.tfd >= 0) close(g.tfd);
    return 0;
}
