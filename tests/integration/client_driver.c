/* client_driver.c -- libsimcache against a real server, driven by
 * tests/integration/test_client.py. Each mode checks its own results and
 * exits 0 with a last line "ok <mode> ..." or exits 1 with "FAIL: ..."
 * on stderr.
 *
 *   pipeline PORT N        N SET + N GET + INCRs pipelined, checked in order
 *   reconnect PORT         SET, "ready" on stdout, waits for a line on
 *                          stdin (the test restarts the server on the same
 *                          port meanwhile), then sees the error, reconnects
 *                          and continues
 *   auth PORT PASS         handshake options (RESP3 HELLO AUTH SETNAME,
 *                          RESP2 AUTH + CLIENT SETNAME, wrong password)
 *   unix PATH              sc_connect_unix
 *   helpers PORT           sc_vadd/sc_vsim/sc_limit_take in RESP2 and RESP3
 *   cache PORT             sc_cache_put/sc_cache_get: exact, semantic and
 *                          miss tiers, WAIT fill, TENANT from sc_options
 *   async PORT N           N commands in flight, callbacks in order, clean
 *                          close (uv_loop_close() == 0)
 *   async_midflight PORT   server closes mid-flight (QUIT in a pipeline)
 *                          and client disconnects mid-flight: every pending
 *                          callback gets NULL exactly once
 *   async_auth PORT PASS   async handshake with AUTH; a wrong password fails
 *                          the connection and the queued commands */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client/simcache.h"

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

static sc_conn *must_connect(int port, const sc_options *o) {
    sc_options d = {.timeout_ms = 5000};
    sc_conn *c = sc_connect_opts("127.0.0.1", port, o ? o : &d);
    CHECK(c && sc_errcode(c) == 0, "connect: %s", c ? sc_errstr(c) : "oom");
    return c;
}

static void expect_status(sc_reply *r, const char *want) {
    CHECK(r && (r->type == SC_REPLY_STATUS) && !strcmp(r->str, want), "want +%s, got type %d %s",
          want, r ? (int)r->type : -1, r && r->str ? r->str : "");
    sc_reply_free(r);
}

/* ---- sync ---- */

static int mode_pipeline(int port, int n) {
    sc_conn *c = must_connect(port, NULL);
    sc_reply_free(sc_commandv(c, "DEL", "counter", NULL));
    char k[32], v[64];
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        snprintf(v, sizeof v, "value:%d:%0*d", i, i % 50, 0);
        const char *av[3] = {"SET", k, v};
        CHECK(sc_append(c, 3, av, NULL) == 0, "append");
    }
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof k, "key:%d", i);
        const char *av[2] = {"GET", k};
        CHECK(sc_append(c, 2, av, NULL) == 0, "append");
    }
    for (int i = 0; i < n; i++) {
        const char *av[2] = {"INCR", "counter"};
        CHECK(sc_append(c, 2, av, NULL) == 0, "append");
    }
    for (int i = 0; i < n; i++) {
        sc_reply *r;
        CHECK(sc_get_reply(c, &r) == 0, "reply %d: %s", i, sc_errstr(c));
        expect_status(r, "OK");
    }
    for (int i = 0; i < n; i++) {
        sc_reply *r;
        CHECK(sc_get_reply(c, &r) == 0, "reply %d: %s", i, sc_errstr(c));
        snprintf(v, sizeof v, "value:%d:%0*d", i, i % 50, 0);
        CHECK(r->type == SC_REPLY_STRING && r->len == strlen(v) && !memcmp(r->str, v, r->len),
              "GET %d: got %s", i, r->str ? r->str : "(non-string)");
        sc_reply_free(r);
    }
    for (int i = 0; i < n; i++) {
        sc_reply *r;
        CHECK(sc_get_reply(c, &r) == 0, "reply: %s", sc_errstr(c));
        CHECK(r->type == SC_REPLY_INTEGER && r->integer == i + 1, "INCR %d -> %lld", i, r->integer);
        sc_reply_free(r);
    }
    /* an error reply is a reply: the connection stays usable */
    sc_reply *r = sc_commandv(c, "NOSUCHCOMMAND", "x", NULL);
    CHECK(r && r->type == SC_REPLY_ERROR && !strncmp(r->str, "ERR unknown command", 19), "error");
    sc_reply_free(r);
    expect_status(sc_commandv(c, "PING", NULL), "PONG");
    sc_free(c);
    printf("ok pipeline %d\n", 3 * n);
    return 0;
}

static int mode_reconnect(int port) {
    sc_conn *c = must_connect(port, NULL);
    expect_status(sc_commandv(c, "SET", "before", "1", NULL), "OK");
    printf("ready\n");
    fflush(stdout);
    char line[64];
    CHECK(fgets(line, sizeof line, stdin) != NULL, "no go line");
    /* The server was restarted: the old socket is dead. */
    sc_reply *r = sc_commandv(c, "PING", NULL);
    CHECK(r == NULL && sc_errcode(c) != 0, "PING on a dead connection answered");
    int code = sc_errcode(c);
    /* Sticky: the next call fails the same way without touching the socket. */
    CHECK(sc_commandv(c, "PING", NULL) == NULL && sc_errcode(c) == code, "not sticky");
    CHECK(sc_reconnect(c) == 0, "reconnect: %s", sc_errstr(c));
    expect_status(sc_commandv(c, "SET", "after", "2", NULL), "OK");
    r = sc_commandv(c, "GET", "before", NULL);   /* a fresh server: the key is gone */
    CHECK(r && r->type == SC_REPLY_NIL, "GET before: type %d", r ? (int)r->type : -1);
    sc_reply_free(r);
    for (int i = 0; i < 1000; i++) {
        const char *av[2] = {"INCR", "n"};
        sc_append(c, 2, av, NULL);
    }
    for (int i = 0; i < 1000; i++) {
        CHECK(sc_get_reply(c, &r) == 0 && r->integer == i + 1, "INCR after reconnect");
        sc_reply_free(r);
    }
    sc_free(c);
    printf("ok reconnect (first error code %d)\n", code);
    return 0;
}

static int mode_auth(int port, const char *pass) {
    sc_options o = {.password = pass, .resp = 3, .client_name = "drv3", .timeout_ms = 5000};
    sc_conn *c = must_connect(port, &o);
    sc_reply *r = sc_commandv(c, "CLIENT", "GETNAME", NULL);
    CHECK(r && r->type == SC_REPLY_STRING && !strcmp(r->str, "drv3"), "name");
    sc_reply_free(r);
    r = sc_commandv(c, "HELLO", NULL);   /* RESP3 map proves HELLO 3 took effect */
    CHECK(r && r->type == SC_REPLY_MAP, "HELLO type %d", r ? (int)r->type : -1);
    sc_reply_free(r);
    sc_free(c);

    sc_options o2 = {.password = pass, .resp = 2, .client_name = "drv2", .timeout_ms = 5000};
    c = must_connect(port, &o2);
    r = sc_commandv(c, "CLIENT", "GETNAME", NULL);
    CHECK(r && r->type == SC_REPLY_STRING && !strcmp(r->str, "drv2"), "name2");
    sc_reply_free(r);
    sc_free(c);

    sc_options bad = {.password = "wrong", .resp = 3, .timeout_ms = 5000};
    c = sc_connect_opts("127.0.0.1", port, &bad);
    CHECK(c && sc_errcode(c) == SC_ERR_REPLY && strstr(sc_errstr(c), "WRONGPASS"), "bad: %s",
          c ? sc_errstr(c) : "");
    sc_free(c);

    c = must_connect(port, NULL);   /* no password: commands are refused */
    r = sc_commandv(c, "GET", "x", NULL);
    CHECK(r && r->type == SC_REPLY_ERROR && !strncmp(r->str, "NOAUTH", 6), "noauth");
    sc_reply_free(r);
    sc_free(c);
    printf("ok auth\n");
    return 0;
}

static int mode_unix(const char *path) {
    sc_conn *c = sc_connect_unix(path, 5000);
    CHECK(c && sc_errcode(c) == 0, "connect unix: %s", c ? sc_errstr(c) : "");
    expect_status(sc_commandv(c, "PING", NULL), "PONG");
    sc_free(c);
    printf("ok unix\n");
    return 0;
}

static int mode_helpers(int port) {
    for (int resp = 2; resp <= 3; resp++) {
        sc_options o = {.resp = resp, .timeout_ms = 5000};
        sc_conn *c = must_connect(port, &o);
        char key[16];
        snprintf(key, sizeof key, "vs%d", resp);
        sc_reply_free(sc_commandv(c, "DEL", key, NULL));
        float vecs[4][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {0.7f, 0.7f, 0}};
        const char *names[4] = {"x", "y", "z", "xy"};
        for (int i = 0; i < 4; i++) {
            int added = -1;
            CHECK(sc_vadd(c, key, vecs[i], 3, names[i], &added) == 0 && added == 1, "vadd: %s",
                  sc_errstr(c));
        }
        int added = -1;
        CHECK(sc_vadd(c, key, vecs[0], 3, "x", &added) == 0 && added == 0, "re-add");
        float q[3] = {1, 0.1f, 0};
        sc_vsim_result res;
        CHECK(sc_vsim(c, key, q, 3, 2, &res) == 0, "vsim: %s", sc_errstr(c));
        CHECK(res.n == 2 && !strcmp(res.elements[0], "x") && !strcmp(res.elements[1], "xy"),
              "vsim order n=%zu", res.n);
        CHECK(res.scores[0] > 0.99 && res.scores[0] <= 1.0 && res.scores[1] < res.scores[0],
              "scores %f %f", res.scores[0], res.scores[1]);
        sc_vsim_result_free(&res);
        float bad[2] = {1, 0};   /* wrong dimension: an error reply, connection fine */
        CHECK(sc_vadd(c, key, bad, 2, "w", &added) == SC_ERR_REPLY && sc_errcode(c) == 0,
              "dim mismatch");
        char lim[16];
        snprintf(lim, sizeof lim, "lim%d", resp);
        sc_reply_free(sc_commandv(c, "LIMIT.DEL", lim, NULL));
        sc_reply *r = sc_commandv(c, "LIMIT.SET", lim, "RATE", "2", "PER", "3600", "BURST", "2",
                                  NULL);
        expect_status(r, "OK");
        sc_limit_result lr;
        CHECK(sc_limit_take(c, lim, 1, -1, &lr) == 0 && lr.granted == 1 && lr.remaining == 1,
              "take1 granted=%d remaining=%lld", lr.granted, lr.remaining);
        CHECK(sc_limit_take(c, lim, 1, -1, &lr) == 0 && lr.granted == 1 && lr.remaining == 0,
              "take2");
        CHECK(sc_limit_take(c, lim, 1, -1, &lr) == 0 && lr.granted == 0 &&
                  lr.retry_after_ms > 1000 && lr.retry_after_ms <= 1800000,
              "take3 granted=%d retry=%lld", lr.granted, lr.retry_after_ms);
        CHECK(sc_limit_take(c, "nosuchlimit", 1, -1, &lr) == SC_ERR_REPLY &&
                  strstr(sc_errstr(c), "no such limit"),
              "missing limit: %s", sc_errstr(c));
        sc_free(c);
    }
    printf("ok helpers\n");
    return 0;
}

static int mode_cache(int port) {
    sc_options o = {.tenant = "acme", .timeout_ms = 5000, .resp = 3};
    sc_conn *c = must_connect(port, &o);
    CHECK(!strcmp(sc_tenant(c), "acme"), "tenant");
    sc_reply_free(sc_commandv(c, "CACHE.DROP", "faq", "TENANT", "acme", NULL));
    expect_status(sc_commandv(c, "CACHE.CREATE", "faq", "TENANT", "acme", NULL), "OK");
    long long id = 0;
    sc_cache_put_opts po = {.ttl_s = 3600, .cost_usd = "0.002", .model = "m1"};
    const char *q = "What is the capital of France?";
    CHECK(sc_cache_put(c, "faq", q, "Paris\0bin", 9, &po, &id) == 0 && id > 0, "put: %s",
          sc_errstr(c));
    sc_cache_result cr;
    CHECK(sc_cache_get(c, "faq", q, NULL, &cr) == 0, "get: %s", sc_errstr(c));
    CHECK(cr.tier == SC_CACHE_EXACT && cr.id == id && cr.answer_len == 9 &&
              !memcmp(cr.answer, "Paris\0bin", 9) && cr.score > 0.999 && cr.age_ms >= 0,
          "exact tier %d id %lld", (int)cr.tier, cr.id);
    sc_cache_result_free(&cr);
    sc_cache_get_opts go = {.has_threshold = 1, .threshold = 0.5};
    CHECK(sc_cache_get(c, "faq", "What is the capital city of France?", &go, &cr) == 0, "sem");
    CHECK(cr.tier == SC_CACHE_SEMANTIC && cr.id == id && cr.score >= 0.5 && cr.score < 1.0,
          "semantic tier %d score %f", (int)cr.tier, cr.score);
    sc_cache_result_free(&cr);
    sc_cache_get_opts wo = {.wait_ms = 5};
    CHECK(sc_cache_get(c, "faq", "How do I bake bread?", &wo, &cr) == 0, "miss");
    CHECK(cr.tier == SC_CACHE_MISS && cr.answer == NULL && cr.id == -1 && cr.fill == 1 &&
              !cr.budget_exhausted,
          "miss tier %d fill %d", (int)cr.tier, cr.fill);
    sc_cache_result_free(&cr);
    sc_free(c);
    /* Another tenant does not see acme's namespace: an error reply. */
    sc_options o2 = {.tenant = "other", .timeout_ms = 5000};
    c = must_connect(port, &o2);
    CHECK(sc_cache_get(c, "faq", q, NULL, &cr) == SC_ERR_REPLY &&
              strstr(sc_errstr(c), "no such namespace") && sc_errcode(c) == 0,
          "isolation: %s", sc_errstr(c));
    sc_free(c);
    printf("ok cache\n");
    return 0;
}

/* ---- async ---- */

typedef struct actx {
    int n, next, nulls, replies, connected, disconnected, disc_status, close_at;
    int *seen;   /* per command: callback count */
} actx;

typedef struct aslot {
    actx *x;
    int i;
} aslot;

static void incr_cb(sc_async *ac, sc_reply *r, void *ud) {
    aslot *s = ud;
    actx *x = s->x;
    x->seen[s->i]++;
    CHECK(x->seen[s->i] == 1, "callback %d called twice", s->i);
    if (r == NULL) {
        x->nulls++;
        return;
    }
    CHECK(s->i == x->next, "out of order: %d, expected %d", s->i, x->next);
    CHECK(r->type == SC_REPLY_INTEGER && r->integer == s->i + 1, "INCR %d -> %lld", s->i,
          r->integer);
    x->next++;
    x->replies++;
    if (x->replies == x->close_at) sc_async_disconnect(ac);
}

static void on_connect(sc_async *ac, int status, void *ud) {
    actx *x = ud;
    x->connected = status == 0 ? 1 : status;
}

static void on_disconnect(sc_async *ac, int status, void *ud) {
    actx *x = ud;
    x->disconnected++;
    x->disc_status = status;
}

static int run_loop_and_close(uv_loop_t *loop) {
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop);
}

static int mode_async(int port, int n) {
    sc_conn *c = must_connect(port, NULL);
    sc_reply_free(sc_commandv(c, "DEL", "acounter", NULL));
    sc_free(c);
    uv_loop_t loop;
    uv_loop_init(&loop);
    actx x = {.n = n, .close_at = n};
    x.seen = calloc((size_t)n, sizeof *x.seen);
    aslot *slots = calloc((size_t)n, sizeof *slots);
    sc_options o = {.resp = 3, .client_name = "async"};
    sc_async *ac = sc_async_connect(&loop, "127.0.0.1", port, &o, on_connect, on_disconnect, &x);
    CHECK(ac != NULL, "async connect");
    /* Everything is queued before the loop runs: all n in flight at once. */
    for (int i = 0; i < n; i++) {
        slots[i] = (aslot){&x, i};
        const char *av[2] = {"INCR", "acounter"};
        CHECK(sc_async_command(ac, incr_cb, &slots[i], 2, av, NULL) == 0, "queue %d", i);
    }
    CHECK(sc_async_pending(ac) == (size_t)n, "pending %zu", sc_async_pending(ac));
    CHECK(run_loop_and_close(&loop) == 0, "uv_loop_close != 0: a handle leaked");
    CHECK(x.connected == 1 && x.replies == n && x.nulls == 0, "replies %d nulls %d", x.replies,
          x.nulls);
    CHECK(x.disconnected == 1 && x.disc_status == 0, "disconnect %d status %d", x.disconnected,
          x.disc_status);
    free(x.seen);
    free(slots);
    printf("ok async %d\n", n);
    return 0;
}

typedef struct mctx {
    int pong, ok, nulls, other, order_broken, phase;   /* phase: 0 before QUIT reply */
    int disconnected, disc_status, close_at;
    int *seen;
} mctx;

typedef struct mslot {
    mctx *m;
    int i;
} mslot;

static void mid_cb(sc_async *ac, sc_reply *r, void *ud) {
    mslot *s = ud;
    mctx *m = s->m;
    m->seen[s->i]++;
    if (r == NULL) {
        m->nulls++;
        m->phase = 1;
        return;
    }
    if (m->phase) m->order_broken = 1;   /* a reply after a NULL */
    if (r->type == SC_REPLY_STATUS && !strcmp(r->str, "PONG")) m->pong++;
    else if (r->type == SC_REPLY_STATUS && !strcmp(r->str, "OK")) m->ok++;
    else m->other++;
    /* Closing from inside a callback, with later replies already in the
     * same read buffer: those commands must get NULL, not their reply. */
    if (m->close_at && m->pong == m->close_at) {
        sc_async_disconnect(ac);
        sc_async_disconnect(ac);   /* idempotent */
    }
}

static void mid_disc(sc_async *ac, int status, void *ud) {
    mctx *m = ud;
    m->disconnected++;
    m->disc_status = status;
}

static void midflight(int port, int with_quit, mctx *m, int total) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    m->seen = calloc((size_t)total, sizeof *m->seen);
    mslot *slots = calloc((size_t)total, sizeof *slots);
    sc_async *ac = sc_async_connect(&loop, "127.0.0.1", port, NULL, NULL, mid_disc, m);
    CHECK(ac, "connect");
    for (int i = 0; i < total; i++) {
        slots[i] = (mslot){m, i};
        const char *av[1] = {(with_quit && i == total / 2) ? "QUIT" : "PING"};
        CHECK(sc_async_command(ac, mid_cb, &slots[i], 1, av, NULL) == 0, "queue");
    }
    CHECK(run_loop_and_close(&loop) == 0, "uv_loop_close != 0");
    for (int i = 0; i < total; i++) CHECK(m->seen[i] == 1, "callback %d ran %d times", i, m->seen[i]);
    CHECK(m->disconnected == 1, "disconnect callback ran %d times", m->disconnected);
    CHECK(!m->order_broken && m->other == 0, "order/other");
    free(m->seen);
    free(slots);
}

static int mode_async_midflight(int port) {
    int total = 2001;
    mctx m = {0};
    midflight(port, 1, &m, total);   /* server closes after QUIT */
    CHECK(m.pong == total / 2 && m.ok == 1 && m.nulls == total - total / 2 - 1,
          "pong %d ok %d nulls %d", m.pong, m.ok, m.nulls);
    CHECK(m.disc_status == SC_ERR_EOF || m.disc_status == SC_ERR_IO, "status %d", m.disc_status);
    int server_nulls = m.nulls;

    mctx k = {.close_at = 10};
    midflight(port, 0, &k, total);   /* client closes after 10 replies */
    CHECK(k.pong == 10 && k.nulls == total - 10, "pong %d nulls %d", k.pong, k.nulls);
    CHECK(k.disc_status == 0, "client close status %d", k.disc_status);
    printf("ok async_midflight (server close: %d failed; client close: %d answered, %d failed)\n",
           server_nulls, k.pong, k.nulls);
    return 0;
}

static void auth_cb(sc_async *ac, sc_reply *r, void *ud) {
    int *got = ud;
    if (r && r->type == SC_REPLY_STRING) *got = !strcmp(r->str, "anamed") ? 1 : 2;
    else *got = r ? 3 : 4;
}

static int mode_async_auth(int port, const char *pass) {
    for (int wrong = 0; wrong <= 1; wrong++) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        actx x = {0};
        sc_options o = {.password = wrong ? "nope" : pass, .resp = wrong ? 2 : 3,
                        .client_name = "anamed"};
        sc_async *ac = sc_async_connect(&loop, "127.0.0.1", port, &o, on_connect, on_disconnect,
                                        &x);
        CHECK(ac, "connect");
        int got = 0;
        const char *av[2] = {"CLIENT", "GETNAME"};
        CHECK(sc_async_command(ac, auth_cb, &got, 2, av, NULL) == 0, "queue");
        if (!wrong) {
            while (got == 0 && uv_run(&loop, UV_RUN_ONCE)) {
            }
            sc_async_disconnect(ac);
        }
        CHECK(run_loop_and_close(&loop) == 0, "uv_loop_close != 0");
        if (wrong) {
            CHECK(got == 4, "queued command after failed AUTH: got %d", got);
            CHECK(x.connected == SC_ERR_REPLY && x.disc_status == SC_ERR_REPLY, "status %d %d",
                  x.connected, x.disc_status);
        } else {
            CHECK(got == 1 && x.connected == 1 && x.disc_status == 0, "got %d connected %d", got,
                  x.connected);
        }
    }
    printf("ok async_auth\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: client_driver MODE PORT|PATH [ARG]\n");
        return 2;
    }
    const char *m = argv[1];
    int port = atoi(argv[2]);
    if (!strcmp(m, "pipeline")) return mode_pipeline(port, argc > 3 ? atoi(argv[3]) : 10000);
    if (!strcmp(m, "reconnect")) return mode_reconnect(port);
    if (!strcmp(m, "auth") && argc > 3) return mode_auth(port, argv[3]);
    if (!strcmp(m, "unix")) return mode_unix(argv[2]);
    if (!strcmp(m, "helpers")) return mode_helpers(port);
    if (!strcmp(m, "cache")) return mode_cache(port);
    if (!strcmp(m, "async")) return mode_async(port, argc > 3 ? atoi(argv[3]) : 10000);
    if (!strcmp(m, "async_midflight")) return mode_async_midflight(port);
    if (!strcmp(m, "async_auth") && argc > 3) return mode_async_auth(port, argv[3]);
    fprintf(stderr, "unknown mode %s\n", m);
    return 2;
}
