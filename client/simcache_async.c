/* simcache_async.c -- libsimcache's asynchronous connection on a libuv
 * loop: commands go out at once, replies come back in order to callbacks
 * on the loop thread.
 *
 * Design decisions:
 * 1. One FIFO of pending callbacks. RESP replies arrive in request order,
 *    so the head of the FIFO owns the next reply; pushes (`>`) are not
 *    replies and are dropped. A reply with an empty FIFO is a desync: the
 *    connection is failed.
 * 2. Commands may be queued before the TCP connect completes: their bytes
 *    wait in `held` and go out in one write right after the handshake
 *    commands (HELLO/AUTH/SETNAME), pipelined. The handshake replies are
 *    consumed by internal callbacks; an error among them fails the
 *    connection, so user commands never run unauthenticated.
 * 3. Every accepted command's callback runs exactly once: with its reply,
 *    or with NULL when the connection fails or is closed (errstr says
 *    why). sc_async_disconnect answers the FIFO before uv_close, so a
 *    callback that queues more commands during that sweep is refused.
 * 4. Lifetime follows libuv's rule: the sc_async is freed in the tcp
 *    handle's close callback, after the disconnect callback. Write buffers
 *    live in their write request until its callback (which also runs, with
 *    UV_ECANCELED, for writes cut short by the close). Nothing else holds
 *    a handle, so uv_loop_close() returns 0 once the disconnect callback
 *    has run.
 * 5. Re-entrancy: a reply callback may call sc_async_command or
 *    sc_async_disconnect; the read loop stops feeding callbacks as soon as
 *    the connection is closing.
 *
 * Not yet: host names (only numeric addresses and "localhost"), unix
 * sockets, timeouts (a loop timer is the caller's to arm).
 *
 * Threading: loop thread only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client_internal.h"

typedef struct pending {
    struct pending *next;
    sc_async_reply_cb *cb;
    void *ud;
    int internal;   /* handshake step: consumed here */
} pending;

typedef struct wreq {
    uv_write_t req;
    char *buf;
} wreq;

enum { ST_CONNECTING, ST_HANDSHAKE, ST_READY, ST_CLOSING };

struct sc_async {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_connect_t creq;
    sc_reader *rd;
    sc_opts_copy opt;
    int state;
    int status;           /* first error, 0 when none */
    char errstr[256];
    pending *head, *tail;
    size_t npending;
    int handshake_left;   /* internal replies still expected */
    char *held;           /* bytes queued before the connect completed */
    size_t held_len, held_cap;
    sc_async_connect_cb *on_connect;
    sc_async_disconnect_cb *on_disconnect;
    void *ud;
    char rbuf[65536];
};

const char *sc_async_errstr(const sc_async *ac) { return ac->errstr; }
size_t sc_async_pending(const sc_async *ac) { return ac->npending; }

static void close_cb(uv_handle_t *h) {
    sc_async *ac = h->data;
    if (ac->on_disconnect) ac->on_disconnect(ac, ac->status, ac->ud);
    sc_reader_free(ac->rd);
    sc_opts_copy_free(&ac->opt);
    free(ac->held);
    free(ac);
}

/* Answers every pending callback with NULL, once each. */
static void fail_pending(sc_async *ac) {
    pending *p;
    while ((p = ac->head) != NULL) {
        ac->head = p->next;
        if (ac->head == NULL) ac->tail = NULL;
        ac->npending--;
        if (p->cb) p->cb(ac, NULL, p->ud);
        free(p);
    }
}

static void shut(sc_async *ac, int status, const char *why) {
    if (ac->state == ST_CLOSING) return;
    int was_connecting = ac->state < ST_READY;
    ac->state = ST_CLOSING;
    if (status && !ac->status) {
        ac->status = status;
        snprintf(ac->errstr, sizeof ac->errstr, "%s", why);
    } else if (!ac->errstr[0]) {
        snprintf(ac->errstr, sizeof ac->errstr, "%s", why);
    }
    if (was_connecting && status && ac->on_connect) ac->on_connect(ac, status, ac->ud);
    fail_pending(ac);
    uv_close((uv_handle_t *)&ac->tcp, close_cb);
}

void sc_async_disconnect(sc_async *ac) { shut(ac, 0, "connection closed by client"); }

static void write_cb(uv_write_t *req, int status) {
    wreq *w = (wreq *)req;
    sc_async *ac = req->handle->data;
    free(w->buf);
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        char m[128];
        snprintf(m, sizeof m, "write: %s", uv_strerror(status));
        shut(ac, SC_ERR_IO, m);
    }
}

/* Takes ownership of buf (malloc'd). */
static int write_buf(sc_async *ac, char *buf, size_t len) {
    wreq *w = malloc(sizeof *w);
    if (w == NULL) {
        free(buf);
        return SC_ERR_OOM;
    }
    w->buf = buf;
    uv_buf_t b = uv_buf_init(buf, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&ac->tcp, &b, 1, write_cb);
    if (rc < 0) {
        free(buf);
        free(w);
        return SC_ERR_IO;
    }
    return 0;
}

static int enqueue(sc_async *ac, sc_async_reply_cb *cb, void *ud, int internal) {
    pending *p = malloc(sizeof *p);
    if (p == NULL) return SC_ERR_OOM;
    p->next = NULL;
    p->cb = cb;
    p->ud = ud;
    p->internal = internal;
    if (ac->tail) ac->tail->next = p;
    else ac->head = p;
    ac->tail = p;
    ac->npending++;
    return 0;
}

static int hold(sc_async *ac, const char *buf, size_t len) {
    if (ac->held_cap - ac->held_len < len) {
        size_t cap = ac->held_cap ? ac->held_cap : 4096;
        while (cap - ac->held_len < len) cap *= 2;
        char *nb = realloc(ac->held, cap);
        if (nb == NULL) return SC_ERR_OOM;
        ac->held = nb;
        ac->held_cap = cap;
    }
    memcpy(ac->held + ac->held_len, buf, len);
    ac->held_len += len;
    return 0;
}

int sc_async_command(sc_async *ac, sc_async_reply_cb *cb, void *ud, int argc,
                     const char **argv, const size_t *argvlen) {
    if (ac->state == ST_CLOSING) return ac->status ? ac->status : SC_ERR_EOF;
    if (argc <= 0) return SC_ERR_ARG;
    char *buf;
    size_t len;
    if (sc_format_command(&buf, &len, argc, argv, argvlen)) return SC_ERR_OOM;
    if (len > UINT32_MAX) {   /* one uv_buf_t holds at most 4 GiB */
        free(buf);
        return SC_ERR_ARG;
    }
    int rc;
    if (ac->state == ST_CONNECTING) {
        rc = hold(ac, buf, len);
        free(buf);
    } else {
        rc = write_buf(ac, buf, len);
    }
    if (rc == 0) rc = enqueue(ac, cb, ud, 0);
    /* A write that is already queued cannot be taken back: fail the
     * connection rather than desynchronise replies and callbacks. */
    if (rc != 0 && ac->state != ST_CONNECTING) shut(ac, rc, "out of memory");
    return rc;
}

static void handshake_reply(sc_async *ac, sc_reply *r) {
    if (r->type == SC_REPLY_ERROR) {
        char m[256];
        snprintf(m, sizeof m, "handshake: %s", r->str);
        shut(ac, SC_ERR_REPLY, m);
        return;
    }
    if (--ac->handshake_left == 0) {
        ac->state = ST_READY;
        if (ac->on_connect) ac->on_connect(ac, 0, ac->ud);
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    sc_async *ac = h->data;
    *buf = uv_buf_init(ac->rbuf, sizeof ac->rbuf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    sc_async *ac = s->data;
    if (nread == 0) return;
    if (nread < 0) {
        char m[128];
        snprintf(m, sizeof m, nread == UV_EOF ? "connection closed by server" : "read: %s",
                 uv_strerror((int)nread));
        shut(ac, nread == UV_EOF ? SC_ERR_EOF : SC_ERR_IO, m);
        return;
    }
    int rc = sc_reader_feed(ac->rd, buf->base, (size_t)nread);
    while (rc == 0 && ac->state != ST_CLOSING) {
        sc_reply *r;
        rc = sc_reader_get_reply(ac->rd, &r);
        if (rc != 0 || r == NULL) break;
        if (r->type == SC_REPLY_PUSH) {
            sc_reply_free(r);
            continue;
        }
        pending *p = ac->head;
        if (p == NULL) {
            sc_reply_free(r);
            shut(ac, SC_ERR_PROTOCOL, "reply without a pending command");
            return;
        }
        ac->head = p->next;
        if (ac->head == NULL) ac->tail = NULL;
        ac->npending--;
        if (p->internal) handshake_reply(ac, r);
        else if (p->cb) p->cb(ac, r, p->ud);
        free(p);
        sc_reply_free(r);
    }
    if (rc != 0) shut(ac, rc, sc_reader_errstr(ac->rd));
}

static void connect_cb(uv_connect_t *req, int status) {
    sc_async *ac = req->data;
    if (ac->state == ST_CLOSING) return;   /* disconnected while connecting */
    if (status < 0) {
        char m[128];
        snprintf(m, sizeof m, "connect: %s", uv_strerror(status));
        shut(ac, SC_ERR_IO, m);
        return;
    }
    uv_tcp_nodelay(&ac->tcp, 1);
    if (uv_read_start((uv_stream_t *)&ac->tcp, alloc_cb, read_cb) < 0) {
        shut(ac, SC_ERR_IO, "read start failed");
        return;
    }
    /* Handshake first, then whatever was queued (design note 2): the
     * handshake's internal entries go to the FIFO's front. */
    sc_cmd_args cmds[3];
    int n = sc_handshake_cmds(&ac->opt, cmds);
    char *out = NULL;
    size_t olen = 0;
    for (int i = 0; i < n; i++) {
        char *b, *no;
        size_t bl;
        if (sc_format_command(&b, &bl, cmds[i].argc, cmds[i].argv, NULL)) goto oom;
        if ((no = realloc(out, olen + bl)) == NULL) {
            free(b);
            goto oom;
        }
        out = no;
        memcpy(out + olen, b, bl);
        olen += bl;
        free(b);
    }
    for (int i = n - 1; i >= 0; i--) {
        pending *p = calloc(1, sizeof *p);
        if (p == NULL) goto oom;
        p->internal = 1;
        p->next = ac->head;
        ac->head = p;
        if (ac->tail == NULL) ac->tail = p;
        ac->npending++;
    }
    ac->handshake_left = n;
    if (ac->held_len) {
        char *no = realloc(out, olen + ac->held_len);
        if (no == NULL) goto oom;
        out = no;
        memcpy(out + olen, ac->held, ac->held_len);
        olen += ac->held_len;
        ac->held_len = 0;
    }
    ac->state = n ? ST_HANDSHAKE : ST_READY;
    if (olen && write_buf(ac, out, olen) != 0) {
        shut(ac, SC_ERR_IO, "write failed");
        return;
    }
    if (n == 0 && ac->on_connect) ac->on_connect(ac, 0, ac->ud);
    return;
oom:
    free(out);
    shut(ac, SC_ERR_OOM, "out of memory");
}

sc_async *sc_async_connect(uv_loop_t *loop, const char *host, int port, const sc_options *opt,
                           sc_async_connect_cb *on_connect, sc_async_disconnect_cb *on_disconnect,
                           void *ud) {
    struct sockaddr_storage ss;
    if (host == NULL || !strcmp(host, "localhost")) host = "127.0.0.1";
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return NULL;
    sc_async *ac = calloc(1, sizeof *ac);
    if (ac == NULL) return NULL;
    ac->loop = loop;
    ac->on_connect = on_connect;
    ac->on_disconnect = on_disconnect;
    ac->ud = ud;
    if (sc_opts_copy_init(&ac->opt, opt) != 0 ||
        (ac->rd = sc_reader_create(NULL, ac->opt.keep_attrs)) == NULL) {
        sc_opts_copy_free(&ac->opt);
        free(ac);
        return NULL;
    }
    uv_tcp_init(loop, &ac->tcp);
    ac->tcp.data = ac;
    ac->creq.data = ac;
    int rc = uv_tcp_connect(&ac->creq, &ac->tcp, (struct sockaddr *)&ss, connect_cb);
    if (rc < 0) {
        /* Reported through the callbacks (before this returns); the
         * handle is freed later, from the loop, as for any failure. */
        char m[128];
        snprintf(m, sizeof m, "connect: %s", uv_strerror(rc));
        shut(ac, SC_ERR_IO, m);
    }
    return ac;
}
