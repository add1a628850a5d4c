/* net.c -- the libuv front end: listeners, accept, read, write, the client
 * lifecycle, limits, parked clients and graceful shutdown (see net.h).
 *
 * Design decisions:
 * 1. Read path. libuv reads straight into the tail of the client's query
 *    buffer (alloc_cb hands out qbuf + qlen, at least 16 KiB of room). The
 *    read callback parses every complete request in place (the parser is
 *    zero-copy, argv points into qbuf), executes them in order, then drops
 *    the consumed prefix with one memmove. The parser remembers offsets, so
 *    growing qbuf with realloc while a request is incomplete is safe.
 * 2. Write path. All replies produced while handling one read land in one
 *    buffer (`out`); after the batch we try uv_try_write once and, only if
 *    the socket would block, hand the rest to uv_write after swapping `out`
 *    with the idle `wout` buffer. So a pipelined batch costs one write
 *    syscall, a non-pipelined request one read + one write (measured with
 *    redis-benchmark, README), and replies stay in request order because
 *    there is at most one uv_write in flight per client.
 * 3. Memory bounds. Input: the query buffer is capped by
 *    client-query-buffer-limit (1 MiB before authentication) and the
 *    parser's limits (REQ_UNAUTH_* before AUTH). Output: above the soft
 *    mark (client-output-buffer-limit soft, or the hard limit if no soft
 *    limit is set) the client's input stops being processed and read until
 *    the output drains, so a client that never reads costs at most the mark
 *    plus one reply; over the hard limit it is closed at once, and over the
 *    soft limit for soft-seconds it is closed by net_cron.
 * 4. Lifetime. A client holds one reference for its handle, plus one per
 *    in-flight job (client_ref). client_close() is idempotent: it unlinks
 *    the client, stops reading and uv_close()s the handle; the close
 *    callback drops the handle's reference and the last reference frees.
 *    A write in flight is cancelled by uv_close and its callback runs
 *    before the close callback, so it may still touch the client.
 * 5. Parked clients. client_block() sets CLIENT_BLOCKED from inside a
 *    handler; the input loop stops after that request and later input is
 *    only buffered. client_unblock() (loop thread, after the completion
 *    replied) clears the flag, flushes, and resumes the input loop.
 * 6. Shutdown. net_stop() closes the listeners, asks every client to close
 *    after its replies are flushed, and a 10 ms timer force-closes the rest
 *    when the grace period ends; then nothing is left on the loop.
 *
 * Threading: loop thread only (see net.h). */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "reply.h"
#include "stats.h"
#include "strconv.h"

#define QBUF_MIN_FREE (16 * 1024)
#define UNAUTH_QUERY_LIMIT (1024 * 1024)  /* reliability matrix P2 */
#define MAX_LISTENERS 16
#define CLIENT_LISTED (1u << 8)

static uv_loop_t *g_loop;
static uv_stream_t *listeners[MAX_LISTENERS];
static int nlisteners;
static int tcp_port_bound;
static client *clients_head;
static long clients_count, blocked_count;
static uint64_t next_client_id = 1;
static int stopping;
static uv_timer_t stop_timer;
static uint64_t stop_deadline_ms;
static void (*shutdown_hook)(void);

static int client_process_input(client *c);
static void client_pump(client *c);
static void client_flush(client *c);

uint64_t net_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);   /* ~4 ms resolution is plenty for
                                                  * timeouts and ages; 7x cheaper */
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int net_is_loopback(const struct sockaddr *sa) {
    if (sa == NULL || sa->sa_family == AF_UNIX) return 1;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return b[12] == 127;
    }
    return 0;
}

/* ---- client allocation ---- */

static client *client_alloc(void) {
    client *c = calloc(1, sizeof(client) + sizeof(struct client_private));
    if (c == NULL) return NULL;
    c->priv = (struct client_private *)(c + 1);
    c->id = next_client_id++;
    c->resp = 2;
    c->authenticated = !config_auth_required();
    snprintf(c->user, sizeof c->user, "default");
    c->priv->refs = 1;
    c->priv->fd = -1;
    c->priv->ctime_ms = c->priv->last_ms = net_now_ms();
    c->priv->h.handle.data = c;
    c->priv->wreq.data = c;
    reqparser_init(&c->priv->parser);
    return c;
}

static void client_free_mem(client *c) {
    struct client_private *p = c->priv;
    reqparser_free(&p->parser);
    free(p->qbuf);
    free(p->out.buf);
    free(p->wout.buf);
    free(c);
}

client *client_create_fake(void) {
    client *c = client_alloc();
    if (c) c->priv->flags |= CLIENT_FAKE;
    return c;
}

void client_free_fake(client *c) {
    if (c) client_unref(c);
}

const char *client_output(client *c, size_t *len) {
    *len = c->priv->out.len;
    return c->priv->out.buf ? c->priv->out.buf : "";
}

void client_output_clear(client *c) { c->priv->out.len = 0; }

void client_ref(client *c) { c->priv->refs++; }

void client_unref(client *c) {
    if (--c->priv->refs == 0) client_free_mem(c);
}

int client_is_open(const client *c) {
    return !(c->priv->flags & (CLIENT_CLOSING | CLIENT_CLOSE_ASAP));
}

int client_auth_pending(const client *c) {
    return !c->authenticated && config_auth_required();
}

size_t client_output_pending(const client *c) {
    const struct client_private *p = c->priv;
    return p->out.len + (p->wout.len - p->wout_sent);
}

static void list_link(client *c) {
    c->priv->next = clients_head;
    c->priv->prev = NULL;
    if (clients_head) clients_head->priv->prev = c;
    clients_head = c;
    c->priv->flags |= CLIENT_LISTED;
    clients_count++;
}

static void list_unlink(client *c) {
    struct client_private *p = c->priv;
    if (!(p->flags & CLIENT_LISTED)) return;
    if (p->prev) p->prev->priv->next = p->next;
    else clients_head = p->next;
    if (p->next) p->next->priv->prev = p->prev;
    p->prev = p->next = NULL;
    p->flags &= ~CLIENT_LISTED;
    clients_count--;
}

long net_clients_count(void) { return clients_count; }
long net_blocked_count(void) { return blocked_count; }
client *net_clients_head(void) { return clients_head; }
int net_tcp_port(void) { return tcp_port_bound; }
int net_stopping(void) { return stopping; }

/* ---- close ---- */

static void close_cb(uv_handle_t *h) { client_unref((client *)h->data); }

void client_close(client *c) {
    struct client_private *p = c->priv;
    if (p->flags & CLIENT_CLOSING) return;
    p->flags |= CLIENT_CLOSING;
    if (p->flags & CLIENT_BLOCKED) {
        p->flags &= ~CLIENT_BLOCKED;
        blocked_count--;
    }
    list_unlink(c);
    if (p->flags & CLIENT_FAKE) return;
    uv_read_stop(&p->h.stream);
    uv_close(&p->h.handle, close_cb);
}

void client_close_after_reply(client *c) {
    c->priv->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

/* ---- output ---- */

/* The mark above which input stops being processed (design note 3). */
static size_t output_pause_mark(void) {
    long long soft = g_cfg.client_output_buffer_soft_limit;
    long long hard = g_cfg.client_output_buffer_limit;
    if (soft > 0 && (hard == 0 || soft < hard)) return (size_t)soft;
    if (hard > 0) return (size_t)hard;
    return (size_t)64 * 1024 * 1024;
}

static void resume_reading(client *c);

static void write_cb(uv_write_t *req, int status) {
    client *c = req->data;
    struct client_private *p = c->priv;
    p->writing = 0;
    p->stall_since_ms = 0;
    if (status == 0) g_stats.total_net_output_bytes += p->wout.len - p->wout_sent;
    p->wout.len = 0;
    p->wout_sent = 0;
    if (p->flags & CLIENT_CLOSING) return;
    if (status < 0) {
        client_close(c);
        return;
    }
    client_flush(c);
    if (!(p->flags & CLIENT_CLOSING) && !p->writing) resume_reading(c);
}


/* Sends what `out` holds: uv_try_write first, uv_write for the rest. */
static void client_flush(client *c) {
    struct client_private *p = c->priv;
    if (p->flags & (CLIENT_CLOSING | CLIENT_FAKE)) return;
    if (p->flags & CLIENT_CLOSE_ASAP) {
        client_close(c);
        return;
    }
    if (p->writing) return;
    if (p->out.len) {
        uv_buf_t b = uv_buf_init(p->out.buf, (unsigned)p->out.len);
        int n = uv_try_write(&p->h.stream, &b, 1);
        if (n < 0 && n != UV_EAGAIN) {
            client_close(c);
            return;
        }
        if (n < 0) n = 0;
        g_stats.total_net_output_bytes += (uint64_t)n;
        if ((size_t)n == p->out.len) {
            p->out.len = 0;
        } else {
            obuf t = p->wout;           /* swap: `out` becomes the write buffer */
            p->wout = p->out;
            p->out = t;
            p->out.len = 0;
            p->wout_sent = (size_t)n;
            uv_buf_t rb = uv_buf_init(p->wout.buf + n, (unsigned)(p->wout.len - (size_t)n));
            int rc = uv_write(&p->wreq, &p->h.stream, &rb, 1, write_cb);
            if (rc != 0) {
                client_close(c);
                return;
            }
            p->writing = 1;
        }
    }
    if (!p->writing && p->out.len == 0 && (p->flags & CLIENT_CLOSE_AFTER_REPLY))
        client_close(c);
}

/* ---- input ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    client *c = h->data;
    struct client_private *p = c->priv;
    (void)suggested;
    if (p->qcap - p->qlen < QBUF_MIN_FREE) {
        size_t cap = p->qcap ? p->qcap : QBUF_MIN_FREE * 2;
        while (cap - p->qlen < QBUF_MIN_FREE) cap *= 2;
        char *nb = realloc(p->qbuf, cap);
        if (nb == NULL) {
            *buf = uv_buf_init(NULL, 0);   /* libuv reports UV_ENOBUFS */
            return;
        }
        p->qbuf = nb;
        p->qcap = cap;
    }
    *buf = uv_buf_init(p->qbuf + p->qlen, (unsigned)(p->qcap - p->qlen));
}

static int query_limit_exceeded(client *c) {
    struct client_private *p = c->priv;
    size_t pending = p->qlen - p->qpos;
    size_t lim = (size_t)g_cfg.client_query_buffer_limit;
    if (client_auth_pending(c) && lim > UNAUTH_QUERY_LIMIT) lim = UNAUTH_QUERY_LIMIT;
    return pending > lim;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    client *c = s->data;
    struct client_private *p = c->priv;
    (void)buf;
    if (nread == 0) return;
    if (nread < 0) {
        client_close(c);
        return;
    }
    p->qlen += (size_t)nread;
    p->last_ms = net_now_ms();
    g_stats.total_net_input_bytes += (uint64_t)nread;
    client_pump(c);
}

static void pause_reading(client *c) {
    struct client_private *p = c->priv;
    if (p->flags & (CLIENT_READ_STOPPED | CLIENT_FAKE | CLIENT_CLOSING)) return;
    uv_read_stop(&p->h.stream);
    p->flags |= CLIENT_READ_STOPPED;
    p->stall_since_ms = net_now_ms();
}

/* Called when a write completed: reading resumes once the backlog is
 * under the mark, and the requests buffered meanwhile run. */
static void resume_reading(client *c) {
    struct client_private *p = c->priv;
    if (!(p->flags & CLIENT_READ_STOPPED) || client_output_pending(c) > output_pause_mark())
        return;
    p->flags &= ~CLIENT_READ_STOPPED;
    if (uv_read_start(&p->h.stream, alloc_cb, read_cb) != 0) {
        client_close(c);
        return;
    }
    client_pump(c);
}

/* Runs buffered requests and writes their replies, until the input is
 * exhausted or the output backs up (then reading pauses until write_cb
 * drains it). The loop matters when the kernel absorbs each batch at once:
 * then no write callback would come to resume processing. */
static void client_pump(client *c) {
    struct client_private *p = c->priv;
    client_ref(c);                      /* the handlers may close c */
    for (;;) {
        int backlog = client_process_input(c);
        if (!(p->flags & CLIENT_CLOSING) && query_limit_exceeded(c)) {
            log_msg(LL_WARNING, "Closing client that reached max query buffer length: "
                    "id=%llu addr=%s qbuf=%zu", (unsigned long long)c->id, p->addr,
                    p->qlen - p->qpos);
            g_stats.client_query_limit_disconnections++;
            client_close(c);
        }
        client_flush(c);
        if (!backlog || (p->flags & CLIENT_CLOSING)) break;
        if (p->writing) {               /* the socket is full: wait for write_cb */
            pause_reading(c);
            break;
        }
    }
    client_unref(c);
}

static void parser_limits(const client *c, reqparser_limits *lim) {
    if (!client_auth_pending(c)) {
        lim->max_bulk_len = g_cfg.proto_max_bulk_len;
        lim->max_args = REQ_DEFAULT_MAX_ARGS;
    } else {
        lim->max_bulk_len = REQ_UNAUTH_MAX_BULK;
        lim->max_args = REQ_UNAUTH_MAX_ARGS;
    }
    lim->max_inline = REQ_DEFAULT_MAX_INLINE;
}

/* Redis words the pre-auth limits apart from malformed lengths
 * ("unauthenticated multibulk length", "unauthenticated bulk length"); the
 * parser reports both as invalid lengths. For an unauthenticated client
 * whose request failed, this walks the request's header lines (skipping
 * bulks by length, so the NULs the parser wrote after complete bulks do
 * not matter) and returns Redis's wording if a count was valid but over
 * the pre-auth limit, else NULL (keep the parser's message). */
static const char *unauth_limit_error(const char *buf, size_t len) {
    long long n;
    const char *cr = len ? memchr(buf, '\r', len) : NULL;
    if (cr == NULL || buf[0] != '*' || strconv_ll(buf + 1, (size_t)(cr - buf) - 1, &n) != 0)
        return NULL;
    if (n > INT_MAX) return NULL;
    if (n > REQ_UNAUTH_MAX_ARGS) return "ERR Protocol error: unauthenticated multibulk length";
    size_t pos = (size_t)(cr - buf) + 2;
    for (long long i = 0; i < n && pos < len; i++) {
        long long b;
        if (buf[pos] != '$') return NULL;
        cr = memchr(buf + pos, '\r', len - pos);
        if (cr == NULL || strconv_ll(buf + pos + 1, (size_t)(cr - buf) - pos - 1, &b) != 0 ||
            b < 0 || b > g_cfg.proto_max_bulk_len)
            return NULL;
        if (b > REQ_UNAUTH_MAX_BULK) return "ERR Protocol error: unauthenticated bulk length";
        pos = (size_t)(cr - buf) + 2 + (size_t)b + 2;
    }
    return NULL;
}

/* Parses and runs every complete request in the query buffer, stopping at
 * a parked client, a pending close, or an output backlog over the mark.
 * Returns 1 if it stopped for the output backlog, else 0. */
static int client_process_input(client *c) {
    struct client_private *p = c->priv;
    const uint32_t stop = CLIENT_BLOCKED | CLIENT_CLOSING | CLIENT_CLOSE_AFTER_REPLY |
                          CLIENT_CLOSE_ASAP | CLIENT_PROCESSING;
    if (p->flags & stop) return 0;
    p->flags |= CLIENT_PROCESSING;
    size_t mark = output_pause_mark();
    int backlog = 0;
    reqparser_limits lim;
    commands_batch_begin();
    while (p->qpos < p->qlen && !(p->flags & (stop & ~CLIENT_PROCESSING))) {
        if (client_output_pending(c) > mark) {
            backlog = 1;
            break;
        }
        parser_limits(c, &lim);
        size_t used = 0;
        int rc = reqparser_parse(&p->parser, p->qbuf + p->qpos, p->qlen - p->qpos, &lim, &used);
        if (rc == REQ_INCOMPLETE) break;
        if (rc == REQ_ERR) {
            const char *msg = !client_auth_pending(c) ? NULL
                              : unauth_limit_error(p->qbuf + p->qpos, p->qlen - p->qpos);
            reply_error(c, msg ? msg : p->parser.err);
            g_stats.protocol_errors++;
            log_msg(LL_VERBOSE, "Protocol error (%s) from client: id=%llu addr=%s",
                    p->parser.err, (unsigned long long)c->id, p->addr);
            client_close_after_reply(c);
            p->qpos = p->qlen;          /* the rest of the input is garbage */
            break;
        }
        if (p->parser.argc > 0) {
            c->argc = p->parser.argc;
            c->argv = p->parser.argv;
            commands_execute(c);
            c->argc = 0;
            c->argv = NULL;
        }
        p->qpos += used;
        reqparser_reset(&p->parser);
    }
    commands_batch_end();
    p->flags &= ~CLIENT_PROCESSING;
    if (p->qpos) {                      /* drop the consumed prefix */
        memmove(p->qbuf, p->qbuf + p->qpos, p->qlen - p->qpos);
        p->qlen -= p->qpos;
        p->qpos = 0;
    }
    return backlog;
}

int client_feed(client *c, const char *data, size_t n) {
    struct client_private *p = c->priv;
    if (p->qcap - p->qlen < n + 1) {
        size_t cap = p->qcap ? p->qcap : 256;
        while (cap - p->qlen < n + 1) cap *= 2;
        char *nb = realloc(p->qbuf, cap);
        if (nb == NULL) return -1;
        p->qbuf = nb;
        p->qcap = cap;
    }
    memcpy(p->qbuf + p->qlen, data, n);
    p->qlen += n;
    client_process_input(c);
    if (query_limit_exceeded(c)) return -1;
    return (p->flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSE_ASAP | CLIENT_CLOSING)) ? -1 : 0;
}

/* ---- parked clients ---- */

void client_block(client *c) {
    if (c->priv->flags & CLIENT_BLOCKED) return;
    c->priv->flags |= CLIENT_BLOCKED;
    blocked_count++;
}

void client_unblock(client *c) {
    struct client_private *p = c->priv;
    if (!(p->flags & CLIENT_BLOCKED)) return;
    p->flags &= ~CLIENT_BLOCKED;
    blocked_count--;
    if (p->flags & (CLIENT_CLOSING | CLIENT_PROCESSING)) return;
    p->last_ms = net_now_ms();
    client_pump(c);
}

/* ---- accept ---- */

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(buf, cap, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(buf, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(buf, cap, "?:0");
    }
}

static void on_connection(uv_stream_t *server, int status) {
    if (status < 0 || stopping) return;
    client *c = client_alloc();
    if (c == NULL) return;
    struct client_private *p = c->priv;
    int is_unix = server->type == UV_NAMED_PIPE;
    int rc = is_unix ? uv_pipe_init(g_loop, &p->h.pipe, 0) : uv_tcp_init(g_loop, &p->h.tcp);
    if (rc != 0) {
        client_free_mem(c);
        return;
    }
    if (uv_accept(server, &p->h.stream) != 0) {
        uv_close(&p->h.handle, close_cb);
        return;
    }
    uv_os_fd_t fd;
    if (uv_fileno(&p->h.handle, &fd) == 0) p->fd = fd;
    int loopback = 1;
    if (is_unix) {
        p->flags |= CLIENT_UNIX;
        snprintf(p->addr, sizeof p->addr, "%s:0", g_cfg.unixsocket);
        snprintf(p->laddr, sizeof p->laddr, "%s:0", g_cfg.unixsocket);
    } else {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getpeername(&p->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
            format_addr(&ss, p->addr, sizeof p->addr);
            loopback = net_is_loopback((struct sockaddr *)&ss);
        }
        len = sizeof ss;
        if (uv_tcp_getsockname(&p->h.tcp, (struct sockaddr *)&ss, &len) == 0)
            format_addr(&ss, p->laddr, sizeof p->laddr);
        uv_tcp_nodelay(&p->h.tcp, 1);
        if (g_cfg.tcp_keepalive > 0) uv_tcp_keepalive(&p->h.tcp, 1, (unsigned)g_cfg.tcp_keepalive);
    }
    g_stats.total_connections_received++;
    if (clients_count >= g_cfg.maxclients) {
        g_stats.rejected_connections++;
        reply_error(c, ERR_MAXCLIENTS);
        client_close_after_reply(c);
        client_flush(c);
        return;
    }
    if (g_cfg.protected_mode && !loopback && !config_auth_required()) {
        g_stats.denied_connections++;
        reply_error(c, ERR_DENIED);
        client_close_after_reply(c);
        client_flush(c);
        return;
    }
    list_link(c);
    if (uv_read_start(&p->h.stream, alloc_cb, read_cb) != 0) client_close(c);
}

/* ---- listeners ---- */

static void listener_close_cb(uv_handle_t *h) { free(h); }

static int listen_tcp(const char *addr, int optional) {
    struct sockaddr_storage ss;
    int rc;
    if (strchr(addr, ':'))
        rc = uv_ip6_addr(addr, g_cfg.port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(addr, g_cfg.port, (struct sockaddr_in *)&ss);
    if (rc != 0) {
        log_msg(LL_WARNING, "Invalid bind address '%s'", addr);
        return rc;
    }
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL) return UV_ENOMEM;
    uv_tcp_init(g_loop, t);
    rc = uv_tcp_bind(t, (struct sockaddr *)&ss, strchr(addr, ':') ? UV_TCP_IPV6ONLY : 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)t, g_cfg.tcp_backlog, on_connection);
    if (rc != 0) {
        uv_close((uv_handle_t *)t, listener_close_cb);
        if (optional) {
            log_msg(LL_NOTICE, "Skipping optional bind address %s: %s", addr, uv_strerror(rc));
            return 0;
        }
        log_msg(LL_WARNING, "Warning: Could not create server TCP listening socket %s:%d: %s",
                addr, g_cfg.port, uv_strerror(rc));
        return rc;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (tcp_port_bound == 0 && uv_tcp_getsockname(t, (struct sockaddr *)&bound, &blen) == 0)
        tcp_port_bound = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    listeners[nlisteners++] = (uv_stream_t *)t;
    return 0;
}

static int listen_unix(void) {
    uv_pipe_t *pp = malloc(sizeof *pp);
    if (pp == NULL) return UV_ENOMEM;
    uv_pipe_init(g_loop, pp, 0);
    unlink(g_cfg.unixsocket);   /* a stale socket from a previous run */
    int rc = uv_pipe_bind(pp, g_cfg.unixsocket);
    /* Before listen(): nobody can connect yet, so no window with a wider
     * mode (reliability matrix S8). */
    if (rc == 0 && chmod(g_cfg.unixsocket, (mode_t)g_cfg.unixsocketperm) != 0) rc = -errno;
    if (rc == 0) rc = uv_listen((uv_stream_t *)pp, g_cfg.tcp_backlog, on_connection);
    if (rc != 0) {
        log_msg(LL_WARNING, "Failed opening Unix socket %s: %s", g_cfg.unixsocket,
                uv_strerror(rc));
        uv_close((uv_handle_t *)pp, listener_close_cb);
        return rc;
    }
    listeners[nlisteners++] = (uv_stream_t *)pp;
    return 0;
}

int net_start(uv_loop_t *loop) {
    g_loop = loop;
    stopping = 0;
    if (g_cfg.port > 0) {
        char addrs[sizeof g_cfg.bind];
        snprintf(addrs, sizeof addrs, "%s", g_cfg.bind);
        char *save = NULL;
        for (char *a = strtok_r(addrs, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
            if (nlisteners == MAX_LISTENERS - 1) break;
            int optional = a[0] == '-';
            int rc = listen_tcp(optional ? a + 1 : a, optional);
            if (rc != 0) return rc;
        }
        if (nlisteners == 0) {
            log_msg(LL_WARNING, "Failed listening on port %d (tcp), aborting.", g_cfg.port);
            return UV_EADDRNOTAVAIL;
        }
    }
    if (g_cfg.unixsocket[0]) {
        int rc = listen_unix();
        if (rc != 0) return rc;
    }
    if (nlisteners == 0) {
        log_msg(LL_WARNING, "Configured to not listen anywhere, exiting.");
        return UV_EINVAL;
    }
    return 0;
}

/* ---- cron and shutdown ---- */

/* Gives back buffers that grew for one big request or reply and are now
 * empty (Redis's clientsCronResizeQueryBuffer/OutputBuffer), so that 10k
 * idle clients do not each pin the peak they once needed. */
#define BUF_KEEP (64 * 1024)
static void client_shrink_buffers(client *c) {
    struct client_private *p = c->priv;
    if (p->qlen == 0 && p->qcap > BUF_KEEP && !(p->flags & CLIENT_PROCESSING)) {
        free(p->qbuf);
        p->qbuf = NULL;
        p->qcap = 0;
    }
    if (p->out.len == 0 && p->out.cap > BUF_KEEP) {
        free(p->out.buf);
        p->out = (obuf){NULL, 0, 0};
    }
    if (!p->writing && p->wout.cap > BUF_KEEP) {
        free(p->wout.buf);
        p->wout = (obuf){NULL, 0, 0};
        p->wout_sent = 0;
    }
}

void net_cron(uint64_t now_ms) {
    for (client *c = clients_head, *next; c; c = next) {
        struct client_private *p = c->priv;
        next = p->next;
        client_shrink_buffers(c);
        if (client_auth_pending(c) && g_cfg.preauth_timeout_ms > 0 &&
            now_ms - p->ctime_ms > (uint64_t)g_cfg.preauth_timeout_ms) {
            log_msg(LL_VERBOSE, "Closing unauthenticated client after preauth-timeout: id=%llu",
                    (unsigned long long)c->id);
            g_stats.timeout_disconnections++;
            client_close(c);
            continue;
        }
        if (g_cfg.timeout > 0 && !(p->flags & CLIENT_BLOCKED) &&
            now_ms - p->last_ms > (uint64_t)g_cfg.timeout * 1000) {
            log_msg(LL_VERBOSE, "Closing idle client");
            g_stats.timeout_disconnections++;
            client_close(c);
            continue;
        }
        /* Soft limit: over it for soft-seconds, or stalled that long (reading
         * paused because the peer does not read its replies: the backlog
         * then stays near the pause mark instead of growing past it). */
        long long soft = g_cfg.client_output_buffer_soft_limit;
        uint64_t soft_ms = (uint64_t)g_cfg.client_output_buffer_soft_seconds * 1000;
        if (soft > 0 && p->stall_since_ms && now_ms - p->stall_since_ms >= soft_ms) {
            log_msg(LL_WARNING, "Client id=%llu addr=%s closed: it does not read its replies "
                    "(output stalled for %llu s).", (unsigned long long)c->id, p->addr,
                    (unsigned long long)g_cfg.client_output_buffer_soft_seconds);
            g_stats.client_output_limit_disconnections++;
            client_close(c);
            continue;
        }
        if (soft > 0 && client_output_pending(c) > (size_t)soft) {
            if (p->soft_since_ms == 0) {
                p->soft_since_ms = now_ms;
            } else if (now_ms - p->soft_since_ms >= soft_ms) {
                log_msg(LL_WARNING, "Client id=%llu addr=%s scheduled to be closed ASAP for "
                        "overcoming of output buffer limits.", (unsigned long long)c->id, p->addr);
                g_stats.client_output_limit_disconnections++;
                client_close(c);
            }
        } else {
            p->soft_since_ms = 0;
        }
    }
}

static void stop_timer_close_cb(uv_handle_t *h) { (void)h; }

static void stop_timer_cb(uv_timer_t *t) {
    if (clients_head && net_now_ms() < stop_deadline_ms) return;
    while (clients_head) client_close(clients_head);
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, stop_timer_close_cb);
}

void net_stop(uint32_t grace_ms) {
    if (stopping || g_loop == NULL) return;
    stopping = 1;
    for (int i = 0; i < nlisteners; i++) uv_close((uv_handle_t *)listeners[i], listener_close_cb);
    nlisteners = 0;
    if (g_cfg.unixsocket[0]) unlink(g_cfg.unixsocket);
    for (client *c = clients_head, *next; c; c = next) {
        next = c->priv->next;
        client_close_after_reply(c);
        if (c->priv->flags & CLIENT_BLOCKED) continue;  /* its completion replies */
        client_flush(c);
    }
    stop_deadline_ms = net_now_ms() + grace_ms;
    uv_timer_init(g_loop, &stop_timer);
    uv_timer_start(&stop_timer, stop_timer_cb, 0, 10);
}

void net_set_shutdown_hook(void (*fn)(void)) { shutdown_hook = fn; }

void net_request_shutdown(void) {
    if (shutdown_hook) shutdown_hook();
    else net_stop(2000);
}
