/* simcache.c -- libsimcache's blocking connection: connect with a timeout,
 * AUTH/HELLO handshake, commands, pipelines, reconnect.
 *
 * Design decisions:
 * 1. The socket is non-blocking from the start and every wait is a poll()
 *    with the connection's timeout, so connect, write and read share one
 *    timeout mechanism and a dead server costs at most timeout_ms per call
 *    (hiredis uses SO_RCVTIMEO; poll also bounds connect()).
 * 2. Commands are encoded into one output buffer; sc_append only appends,
 *    sc_get_reply flushes everything then reads. A pipeline of N commands
 *    is therefore one or a few send() calls, not N.
 * 3. Connection errors are sticky (the byte stream is unusable after a
 *    short write, EOF or a protocol error); sc_reconnect is the way out.
 *    An error reply is a reply, not a connection error.
 * 4. The options (strings copied) and the address are kept so reconnect
 *    replays the same handshake: a gateway's retry loop is one call.
 * 5. RESP3 pushes are separated from replies here, so a pipeline's replies
 *    stay in order whatever the server pushes in between.
 *
 * Threading: a connection is used by one thread at a time; no globals. */
#include "simcache.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client_internal.h"

struct sc_conn {
    int fd;
    int err;                 /* sticky connection error, 0 when healthy */
    char errstr[256];        /* last error message (connection or reply) */
    sc_reader *rd;
    char *obuf;              /* encoded commands not yet sent */
    size_t olen, ocap;
    char *host, *path;       /* exactly one set */
    int port;
    sc_opts_copy opt;
    sc_push_cb *push;
    void *push_ud;
};

/* ---- shared helpers (client_internal.h) ---- */

static char *dupstr(const char *s) {
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int sc_opts_copy_init(sc_opts_copy *o, const sc_options *in) {
    memset(o, 0, sizeof *o);
    if (in == NULL) return 0;
    o->resp = in->resp;
    o->timeout_ms = in->timeout_ms;
    o->keep_attrs = in->keep_attrs;
    if ((in->user && !(o->user = dupstr(in->user))) ||
        (in->password && !(o->password = dupstr(in->password))) ||
        (in->client_name && !(o->client_name = dupstr(in->client_name))) ||
        (in->tenant && !(o->tenant = dupstr(in->tenant)))) {
        sc_opts_copy_free(o);
        return SC_ERR_OOM;
    }
    return 0;
}

void sc_opts_copy_free(sc_opts_copy *o) {
    free(o->user);
    free(o->password);
    free(o->client_name);
    free(o->tenant);
    memset(o, 0, sizeof *o);
}

/* Up to 3 handshake commands: HELLO 3 [AUTH u p] [SETNAME n], or AUTH and
 * CLIENT SETNAME for RESP2. Arguments point into o. Returns the count. */
int sc_handshake_cmds(const sc_opts_copy *o, sc_cmd_args cmds[3]) {
    int n = 0;
    const char *user = o->user ? o->user : "default";
    if (o->resp == 3) {
        sc_cmd_args *h = &cmds[n++];
        h->argc = 0;
        h->argv[h->argc++] = "HELLO";
        h->argv[h->argc++] = "3";
        if (o->password) {
            h->argv[h->argc++] = "AUTH";
            h->argv[h->argc++] = user;
            h->argv[h->argc++] = o->password;
        }
        if (o->client_name) {
            h->argv[h->argc++] = "SETNAME";
            h->argv[h->argc++] = o->client_name;
        }
        return n;
    }
    if (o->password) {
        sc_cmd_args *a = &cmds[n++];
        a->argc = 0;
        a->argv[a->argc++] = "AUTH";
        if (o->user) a->argv[a->argc++] = o->user;
        a->argv[a->argc++] = o->password;
    }
    if (o->client_name) {
        sc_cmd_args *s = &cmds[n++];
        s->argc = 3;
        s->argv[0] = "CLIENT";
        s->argv[1] = "SETNAME";
        s->argv[2] = o->client_name;
    }
    return n;
}

int sc_format_command(char **out, size_t *outlen, int argc, const char **argv,
                      const size_t *argvlen) {
    size_t total = 16;
    for (int i = 0; i < argc; i++)
        total += 24 + (argvlen ? argvlen[i] : strlen(argv[i]));
    char *b = malloc(total);
    if (b == NULL) return SC_ERR_OOM;
    size_t n = (size_t)snprintf(b, total, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t l = argvlen ? argvlen[i] : strlen(argv[i]);
        n += (size_t)snprintf(b + n, total - n, "$%zu\r\n", l);
        memcpy(b + n, argv[i], l);
        n += l;
        b[n++] = '\r';
        b[n++] = '\n';
    }
    *out = b;
    *outlen = n;
    return 0;
}

/* ---- errors ---- */

static int set_err(sc_conn *c, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    c->err = code;
    return code;
}

int sc_errcode(const sc_conn *c) { return c->err; }
const char *sc_errstr(const sc_conn *c) { return c->errstr; }
int sc_fd(const sc_conn *c) { return c->fd; }
const char *sc_tenant(const sc_conn *c) { return c->opt.tenant; }
void sc_set_push_cb(sc_conn *c, sc_push_cb *cb, void *ud) {
    c->push = cb;
    c->push_ud = ud;
}

/* ---- socket ---- */

/* Waits for ev on fd; 0 ready, SC_ERR_TIMEOUT, SC_ERR_IO. */
static int wait_fd(sc_conn *c, short ev) {
    struct pollfd p = {.fd = c->fd, .events = ev};
    int t = c->opt.timeout_ms > 0 ? c->opt.timeout_ms : -1;
    for (;;) {
        int rc = poll(&p, 1, t);
        if (rc > 0) return 0;
        if (rc == 0) return set_err(c, SC_ERR_TIMEOUT, "timed out after %d ms", t);
        if (errno != EINTR) return set_err(c, SC_ERR_IO, "poll: %s", strerror(errno));
    }
}

static void close_fd(sc_conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* Non-blocking connect bounded by the timeout. 0 or an error code. */
static int connect_addr(sc_conn *c, const struct sockaddr *sa, socklen_t salen) {
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return set_err(c, SC_ERR_IO, "socket: %s", strerror(errno));
    if (connect(c->fd, sa, salen) != 0) {
        if (errno != EINPROGRESS) {
            set_err(c, SC_ERR_IO, "connect: %s", strerror(errno));
            close_fd(c);
            return SC_ERR_IO;
        }
        int rc = wait_fd(c, POLLOUT);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (rc == 0 && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
            rc = set_err(c, SC_ERR_IO, "connect: %s", strerror(soerr));
        if (rc != 0) {
            close_fd(c);
            return rc;
        }
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return 0;
}

static int open_socket(sc_conn *c) {
    if (c->path) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        if (strlen(c->path) >= sizeof un.sun_path)
            return set_err(c, SC_ERR_ARG, "unix socket path too long");
        strcpy(un.sun_path, c->path);
        return connect_addr(c, (struct sockaddr *)&un, sizeof un);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *a;
    char port[16];
    snprintf(port, sizeof port, "%d", c->port);
    int gai = getaddrinfo(c->host, port, &hints, &res);
    if (gai != 0) return set_err(c, SC_ERR_IO, "resolve %s: %s", c->host, gai_strerror(gai));
    int rc = SC_ERR_IO;
    for (a = res; a; a = a->ai_next) {
        c->err = 0;
        if ((rc = connect_addr(c, a->ai_addr, a->ai_addrlen)) == 0) break;
    }
    freeaddrinfo(res);
    return rc;
}

/* ---- I/O ---- */

static int obuf_append(sc_conn *c, const char *p, size_t n) {
    if (c->ocap - c->olen < n) {
        size_t cap = c->ocap ? c->ocap : 4096;
        while (cap - c->olen < n) cap *= 2;
        char *nb = realloc(c->obuf, cap);
        if (nb == NULL) return set_err(c, SC_ERR_OOM, "out of memory");
        c->obuf = nb;
        c->ocap = cap;
    }
    memcpy(c->obuf + c->olen, p, n);
    c->olen += n;
    return 0;
}

int sc_flush(sc_conn *c) {
    if (c->err) return c->err;
    size_t off = 0;
    while (off < c->olen) {
        ssize_t w = send(c->fd, c->obuf + off, c->olen - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(c, POLLOUT);
            if (rc) return rc;
            continue;
        }
        return set_err(c, SC_ERR_IO, "write: %s", strerror(errno));
    }
    c->olen = 0;
    return 0;
}

static int read_more(sc_conn *c) {
    char buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            int rc = sc_reader_feed(c->rd, buf, (size_t)n);
            return rc ? set_err(c, rc, "%s", sc_reader_errstr(c->rd)) : 0;
        }
        if (n == 0) return set_err(c, SC_ERR_EOF, "connection closed by server");
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(c, POLLIN);
            if (rc) return rc;
            continue;
        }
        return set_err(c, SC_ERR_IO, "read: %s", strerror(errno));
    }
}

int sc_get_reply(sc_conn *c, sc_reply **out) {
    *out = NULL;
    if (c->err) return c->err;
    int rc = sc_flush(c);
    if (rc) return rc;
    for (;;) {
        sc_reply *r;
        rc = sc_reader_get_reply(c->rd, &r);
        if (rc) return set_err(c, rc, "%s", sc_reader_errstr(c->rd));
        if (r && r->type == SC_REPLY_PUSH) {
            if (c->push) c->push(c, r, c->push_ud);
            else sc_reply_free(r);
            continue;
        }
        if (r) {
            *out = r;
            return 0;
        }
        if ((rc = read_more(c))) return rc;
    }
}

int sc_append(sc_conn *c, int argc, const char **argv, const size_t *argvlen) {
    if (c->err) return c->err;
    if (argc <= 0) return SC_ERR_ARG;
    char *b;
    size_t n;
    if (sc_format_command(&b, &n, argc, argv, argvlen)) return set_err(c, SC_ERR_OOM, "out of memory");
    int rc = obuf_append(c, b, n);
    free(b);
    return rc;
}

sc_reply *sc_command(sc_conn *c, int argc, const char **argv, const size_t *argvlen) {
    sc_reply *r = NULL;
    if (sc_append(c, argc, argv, argvlen) == 0) sc_get_reply(c, &r);
    return r;
}

sc_reply *sc_commandv(sc_conn *c, const char *arg0, ...) {
    const char *argv[64];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
        if (argc == 64) {
            va_end(ap);
            sc_conn_errf(c, "sc_commandv: more than 64 arguments (use sc_command)");
            return NULL;
        }
        argv[argc++] = a;
    }
    va_end(ap);
    return sc_command(c, argc, argv, NULL);
}

/* ---- connect / handshake ---- */

static int handshake(sc_conn *c) {
    sc_cmd_args cmds[3];
    int n = sc_handshake_cmds(&c->opt, cmds);
    for (int i = 0; i < n; i++) {
        sc_reply *r = sc_command(c, cmds[i].argc, cmds[i].argv, NULL);
        if (r == NULL) return c->err;
        if (r->type == SC_REPLY_ERROR) {
            set_err(c, SC_ERR_REPLY, "%s: %s", cmds[i].argv[0], r->str);
            sc_reply_free(r);
            close_fd(c);
            return SC_ERR_REPLY;
        }
        sc_reply_free(r);
    }
    return 0;
}

static int do_connect(sc_conn *c) {
    close_fd(c);
    c->err = 0;
    c->errstr[0] = '\0';
    c->olen = 0;
    sc_reader_free(c->rd);
    sc_reader_limits lim = {0};
    c->rd = sc_reader_create(&lim, c->opt.keep_attrs);
    if (c->rd == NULL) return set_err(c, SC_ERR_OOM, "out of memory");
    int rc = open_socket(c);
    if (rc) return c->err ? c->err : rc;
    return handshake(c);
}

static sc_conn *conn_new(const char *host, int port, const char *path, const sc_options *opt) {
    sc_conn *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->fd = -1;
    c->port = port;
    if (sc_opts_copy_init(&c->opt, opt) != 0 || (host && !(c->host = dupstr(host))) ||
        (path && !(c->path = dupstr(path)))) {
        sc_free(c);
        return NULL;
    }
    do_connect(c);
    return c;
}

sc_conn *sc_connect_opts(const char *host, int port, const sc_options *opt) {
    return conn_new(host ? host : "127.0.0.1", port, NULL, opt);
}

sc_conn *sc_connect(const char *host, int port, int timeout_ms) {
    sc_options o = {.timeout_ms = timeout_ms};
    return sc_connect_opts(host, port, &o);
}

sc_conn *sc_connect_unix_opts(const char *path, const sc_options *opt) {
    return conn_new(NULL, 0, path, opt);
}

sc_conn *sc_connect_unix(const char *path, int timeout_ms) {
    sc_options o = {.timeout_ms = timeout_ms};
    return sc_connect_unix_opts(path, &o);
}

int sc_reconnect(sc_conn *c) { return do_connect(c); }

void sc_free(sc_conn *c) {
    if (c == NULL) return;
    close_fd(c);
    sc_reader_free(c->rd);
    free(c->obuf);
    free(c->host);
    free(c->path);
    sc_opts_copy_free(&c->opt);
    free(c);
}

/* ---- typed-helper plumbing (helpers.c) ---- */

int sc_conn_reply_error(sc_conn *c, const char *what, const sc_reply *r) {
    if (r == NULL) return c->err ? c->err : SC_ERR_IO;
    snprintf(c->errstr, sizeof c->errstr, "%s: %s", what,
             r->type == SC_REPLY_ERROR ? r->str : "unexpected reply type");
    return SC_ERR_REPLY;
}

int sc_conn_errf(sc_conn *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    return SC_ERR_REPLY;
}
