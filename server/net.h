/* net.h -- the libuv front end: listeners, client lifecycle, query and
 * output buffers, parked ("blocked") clients, graceful shutdown.
 *
 * Threading: every function here is called on the loop thread only. Work
 * handed to another thread holds a reference (client_ref) and comes back
 * through uv_async_send; the completion runs on the loop thread, checks
 * client_is_open(), replies, then calls client_unblock() and client_unref().
 *
 * The private half of struct client lives here so that reply.c (which
 * appends to the output buffer) and commands.c (which reads limits and
 * flags) can use it without reaching into the socket code. */
#ifndef SIMCACHE_NET_H
#define SIMCACHE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "client.h"
#include "resp_parser.h"

/* A contiguous byte buffer for replies. The client has two: `out` collects
 * every reply produced while processing one read, `wout` is the one libuv
 * is currently writing; they swap when a write completes, so a steady stream
 * of pipelined replies reuses two allocations and never mallocs per reply. */
typedef struct obuf {
    char *buf;
    size_t len;   /* bytes of reply data */
    size_t cap;   /* bytes allocated */
} obuf;

enum {
    CLIENT_CLOSE_AFTER_REPLY = 1u << 0, /* flush what is queued, then close */
    CLIENT_CLOSING           = 1u << 1, /* uv_close issued; no more I/O */
    CLIENT_BLOCKED           = 1u << 2, /* parked: pipelined input waits */
    CLIENT_PROCESSING        = 1u << 3, /* inside the input loop */
    CLIENT_READ_STOPPED      = 1u << 4, /* uv_read_stop: output backlog */
    CLIENT_UNIX              = 1u << 5, /* connected through the unix socket */
    CLIENT_FAKE              = 1u << 6, /* no socket (unit tests, fuzzing) */
    CLIENT_CLOSE_ASAP        = 1u << 7, /* output failed or over its limit: close, drop output */
};

struct client_private {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;                       /* h.handle.data == the client */
    uv_write_t wreq;           /* the one write in flight, if `writing` */
    uint32_t flags;            /* CLIENT_* */
    int refs;                  /* 1 for the handle + 1 per in-flight job */
    int writing;               /* a uv_write of `wout` is in flight */
    /* query buffer: bytes [qpos, qlen) are unparsed input */
    char *qbuf;
    size_t qlen, qcap, qpos;
    reqparser parser;
    obuf out;                  /* replies not yet handed to libuv */
    obuf wout;                 /* replies being written by libuv */
    size_t wout_sent;          /* bytes of wout uv_try_write already sent */
    /* identity and bookkeeping (CLIENT LIST) */
    char addr[272];            /* "ip:port", "[ip6]:port" or "/unix/path:0" */
    char laddr[272];
    char name[128];            /* CLIENT SETNAME; "" if none */
    char lib_name[64], lib_ver[32];
    const char *last_cmd;      /* full name of the last command, static */
    int fd;
    uint64_t ctime_ms;         /* creation time, ms since the epoch */
    uint64_t last_ms;          /* last interaction (read or command) */
    uint64_t cmds;             /* commands executed */
    uint64_t soft_since_ms;    /* output above the soft limit since, or 0 */
    uint64_t stall_since_ms;   /* reading paused for output backlog since, or 0 */
    struct client *prev, *next;/* the server's client list */
};

/* ---- server lifecycle ---- */

/* Opens the listeners configured in g_cfg (bind/port, unixsocket) on `loop`.
 * Returns 0, or a negative libuv error after logging which address failed.
 * The unix socket gets its permissions before uv_listen, so nobody can
 * connect through a wider mode. */
int net_start(uv_loop_t *loop);

/* Graceful stop: closes the listeners, marks every client
 * close-after-reply (so queued replies are flushed), and force-closes the
 * ones still open after `grace_ms`. Idempotent. The loop then runs dry. */
void net_stop(uint32_t grace_ms);

/* SHUTDOWN and the signal handlers call net_request_shutdown(), which
 * runs the hook main.c installed (it closes main's own handles and calls
 * net_stop) or, with no hook, net_stop(2000). */
void net_set_shutdown_hook(void (*fn)(void));
void net_request_shutdown(void);

/* 1 once net_stop() ran. */
int net_stopping(void);

/* Called by the hz timer: closes idle (timeout) and unauthenticated
 * (preauth-timeout) clients. */
void net_cron(uint64_t now_ms);

/* Number of connected clients, and of clients parked by client_block. */
long net_clients_count(void);
long net_blocked_count(void);
/* The first client of the list (CLIENT LIST walks ->priv->next). */
client *net_clients_head(void);
/* The TCP port actually bound (useful with port 0 in tests), or 0. */
int net_tcp_port(void);

/* ---- client lifecycle ---- */

/* A client with no socket: replies accumulate in its output buffer and can
 * be read with client_output(). Used by unit tests and fuzz targets to run
 * the dispatcher without libuv. Free with client_free_fake(). NULL on OOM. */
client *client_create_fake(void);
void client_free_fake(client *c);
/* The replies queued for c (not yet written). */
const char *client_output(client *c, size_t *len);
void client_output_clear(client *c);

/* Feeds bytes as if read from the socket and runs every complete request
 * (what the read callback does). Returns 0, or -1 if the client must be
 * closed (protocol error, limit). Fake clients are the intended users. */
int client_feed(client *c, const char *p, size_t n);

/* Asks for the connection to close once its queued replies are flushed.
 * Used by QUIT, protocol errors and CLIENT KILL of the current client. */
void client_close_after_reply(client *c);

/* Closes now, dropping unsent replies. Idempotent; the memory is freed
 * when the handle is closed and the last reference is dropped. */
void client_close(client *c);

/* 1 unless the client is closing or closed. */
int client_is_open(const client *c);

/* Reference counting for in-flight work (a parked search). */
void client_ref(client *c);
void client_unref(client *c);

/* Parks the client: the current handler returns without a reply, and the
 * client's further pipelined requests wait. Call from a handler. */
void client_block(client *c);

/* Ends the park (after the completion has replied): flushes the reply and
 * resumes processing the client's buffered input. Loop thread only; safe
 * on a client that closed meanwhile (then it does nothing). */
void client_unblock(client *c);

/* 1 if c must still authenticate: it has not, and a password is configured
 * now. Evaluated per request, as Redis's authRequired(): removing
 * requirepass at run time frees waiting clients, and clients that connected
 * while no password was set stay authenticated when one is added. */
int client_auth_pending(const client *c);

/* Bytes currently queued for output (both buffers). */
size_t client_output_pending(const client *c);

/* Loopback predicate for protected mode: 1 for 127.0.0.0/8, ::1,
 * ::ffff:127.0.0.0/104 and unix sockets (sa == NULL or AF_UNIX). */
struct sockaddr;
int net_is_loopback(const struct sockaddr *sa);

/* Milliseconds since the epoch (cached per loop iteration is not needed:
 * clock_gettime(CLOCK_REALTIME_COARSE) is cheap). */
uint64_t net_now_ms(void);

#endif
