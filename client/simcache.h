/* simcache.h -- libsimcache, the C client of simcache (and of any server
 * speaking RESP2/RESP3: it works against redis-server too).
 *
 * Three layers:
 *  - the reply reader (reader.h, included below): feed bytes, take reply
 *    trees; usable on its own;
 *  - a blocking connection (sc_conn): connect with a timeout, AUTH/HELLO/
 *    client name at connect time, one command or a pipeline
 *    (sc_append + sc_get_reply), reconnect;
 *  - an asynchronous connection on a libuv loop (sc_async): commands queued
 *    at once, replies delivered in order to callbacks on the loop thread.
 * Typed helpers wrap the vector-set, rate-limiter and cache commands.
 *
 * Conventions: functions return 0 or a negative SC_ERR_* code (reader.h);
 * the connection keeps the message (sc_errstr). Connection errors (I/O,
 * EOF, protocol) are sticky until sc_reconnect. An error *reply* from the
 * server is not a connection error: it is a reply of type SC_REPLY_ERROR.
 * Nothing here prints, aborts or installs signal handlers; writes use
 * MSG_NOSIGNAL, so a closed peer is SC_ERR_IO, not SIGPIPE.
 *
 * Link: `cc app.c $(pkg-config --cflags --libs simcache)`. */
#ifndef SIMCACHE_CLIENT_H
#define SIMCACHE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SIMCACHE_CLIENT_VERSION "0.1.0"

/* Connect-time options. Strings are copied; NULL/0 = not used. */
typedef struct sc_options {
    const char *user;        /* AUTH user (with password); NULL = "default" */
    const char *password;    /* AUTH password, sent at connect time */
    int resp;                /* 2 or 3: HELLO 3 is sent for 3; 0 = 2 */
    const char *client_name; /* CLIENT SETNAME at connect time */
    const char *tenant;      /* appended as TENANT <t> by the typed helpers
                                that take it (sc_cache_*) */
    int timeout_ms;          /* connect and per-call I/O timeout; 0 = none */
    int keep_attrs;          /* 1: RESP3 attributes exposed as sc_reply.attr */
} sc_options;

/* ------------------------------------------------------------------ sync */

typedef struct sc_conn sc_conn;

/* Connects to host:port (name or numeric, IPv4/IPv6; every address tried
 * in turn) and runs the handshake the options ask for. Returns NULL only
 * when out of memory; otherwise check sc_errcode(c): on failure the
 * connection carries the error (and the server's AUTH/HELLO error reply
 * text when that was the cause) and must still be freed with sc_free.
 * Blocking; any thread, one thread per connection at a time. */
sc_conn *sc_connect(const char *host, int port, int timeout_ms);
sc_conn *sc_connect_opts(const char *host, int port, const sc_options *opt);
sc_conn *sc_connect_unix(const char *path, int timeout_ms);
sc_conn *sc_connect_unix_opts(const char *path, const sc_options *opt);

/* Closes the socket and connects again to the same address with the same
 * options (handshake included). Unread replies and unsent commands are
 * dropped. Returns 0 or the error code (also left in sc_errcode). */
int sc_reconnect(sc_conn *c);

/* Closes and frees (NULL is a no-op). */
void sc_free(sc_conn *c);

/* 0 when healthy, else the sticky SC_ERR_* code; sc_errstr its message. */
int sc_errcode(const sc_conn *c);
const char *sc_errstr(const sc_conn *c);
/* The socket, for poll(): -1 when not connected. */
int sc_fd(const sc_conn *c);
/* The tenant from sc_options (NULL when none). */
const char *sc_tenant(const sc_conn *c);

/* Sends one command (argv[i] has argvlen[i] bytes; argvlen NULL = strlen)
 * and waits for its reply. Returns the reply (caller frees with
 * sc_reply_free; may be SC_REPLY_ERROR) or NULL on a connection error.
 * Must not be mixed with unread pipelined replies. */
sc_reply *sc_command(sc_conn *c, int argc, const char **argv, const size_t *argvlen);
/* Same with NUL-terminated arguments ending in NULL: sc_commandv(c, "GET",
 * "k", NULL). At most 64 arguments (more: NULL, message in sc_errstr,
 * connection untouched). */
sc_reply *sc_commandv(sc_conn *c, const char *arg0, ...);

/* Pipelining: sc_append buffers a command (nothing is sent yet);
 * sc_get_reply flushes what is buffered and returns the next reply in
 * order (0 with *out set, or an error code with *out NULL). */
int sc_append(sc_conn *c, int argc, const char **argv, const size_t *argvlen);
int sc_get_reply(sc_conn *c, sc_reply **out);
/* Sends what sc_append buffered without waiting for replies. */
int sc_flush(sc_conn *c);

/* RESP3 push messages (`>`) are not replies to commands: they go to this
 * callback (the callback owns the reply), or are freed when none is set. */
typedef void sc_push_cb(sc_conn *c, sc_reply *push, void *ud);
void sc_set_push_cb(sc_conn *c, sc_push_cb *cb, void *ud);

/* Encodes one command as a RESP multibulk into a new malloc'd buffer
 * (*out, *outlen). Returns 0 or SC_ERR_OOM. Used by both clients. */
int sc_format_command(char **out, size_t *outlen, int argc, const char **argv,
                      const size_t *argvlen);

/* --------------------------------------------------------- typed helpers
 * All return 0 on success, SC_ERR_REPLY when the server answered with an
 * error (its text is in sc_errstr, and the connection stays usable), or a
 * connection error code. They accept RESP2 and RESP3 reply shapes. */

/* VADD key FP32 <vec> element: *added = 1 if new, 0 if updated. */
int sc_vadd(sc_conn *c, const char *key, const float *vec, size_t dim, const char *element,
            int *added);

/* VSIM results, best first. Owned by the struct; free with
 * sc_vsim_result_free. score is the server's similarity (1 = identical). */
typedef struct sc_vsim_result {
    size_t n;
    char **elements;      /* NUL-terminated copies */
    size_t *lens;
    double *scores;
} sc_vsim_result;

/* VSIM key FP32 <vec> WITHSCORES COUNT count. */
int sc_vsim(sc_conn *c, const char *key, const float *vec, size_t dim, int count,
            sc_vsim_result *out);
void sc_vsim_result_free(sc_vsim_result *r);

/* LIMIT.TAKE name COST cost [WAIT wait_ms] (wait_ms < 0: no WAIT). */
typedef struct sc_limit_result {
    int granted;               /* 1 granted, 0 denied */
    long long retry_after_ms;  /* when a retry could succeed; 0 if granted */
    long long waited_ms;       /* time spent queued (WAIT) */
    long long remaining;       /* tokens left in the (first) bucket */
    char reason[32];           /* "granted", "denied", "timeout", ... */
} sc_limit_result;
int sc_limit_take(sc_conn *c, const char *name, long long cost, long long wait_ms,
                  sc_limit_result *out);

/* Semantic cache (CACHE.GET / CACHE.PUT). When the connection was opened
 * with sc_options.tenant, both append TENANT <tenant> (the server accepts
 * it from gateway and admin users only: -NOPERM otherwise). */
typedef enum sc_cache_tier {
    SC_CACHE_MISS = 0,
    SC_CACHE_EXACT,
    SC_CACHE_SEMANTIC,
    SC_CACHE_STALE
} sc_cache_tier;

typedef struct sc_cache_result {
    sc_cache_tier tier;
    char *answer;            /* hit: the cached response (NUL-terminated copy);
                                miss: NULL. Freed by sc_cache_result_free */
    size_t answer_len;
    double score;            /* hit: similarity of the entry served (exact: 1) */
    long long id;            /* hit: entry id; miss: -1 */
    long long age_ms;        /* hit: milliseconds since the entry was stored */
    int fill;                /* miss: 1 if this caller should compute and PUT */
    int budget_exhausted;    /* miss: the tenant's budget is spent */
} sc_cache_result;

typedef struct sc_cache_get_opts {
    int has_threshold;       /* 1: use threshold instead of the namespace's */
    double threshold;        /* minimum similarity for a semantic hit */
    int stale;               /* 1: STALE (accept entries in their grace period) */
    long long wait_ms;       /* > 0: WAIT ms (coalesce identical misses) */
} sc_cache_get_opts;

/* CACHE.GET ns prompt [THRESHOLD t] [STALE] [WAIT ms] [TENANT t]. opt may
 * be NULL. A miss is success (tier SC_CACHE_MISS). */
int sc_cache_get(sc_conn *c, const char *ns, const char *prompt, const sc_cache_get_opts *opt,
                 sc_cache_result *out);
void sc_cache_result_free(sc_cache_result *r);

typedef struct sc_cache_put_opts {
    long long ttl_s;         /* > 0: TTL seconds */
    const char *cost_usd;    /* COST as decimal USD text ("0.0042"), or NULL */
    const char *model;       /* MODEL, or NULL */
    const char *meta;        /* META json, or NULL */
} sc_cache_put_opts;

/* CACHE.PUT ns prompt answer [TTL s] [COST usd] [MODEL m] [META j]
 * [TENANT t]; *id (may be NULL) gets the new entry's id. */
int sc_cache_put(sc_conn *c, const char *ns, const char *prompt, const char *answer,
                 size_t answer_len, const sc_cache_put_opts *opt, long long *id);

/* ----------------------------------------------------------------- async */

struct uv_loop_s;
typedef struct sc_async sc_async;

/* reply: owned by the library, valid during the callback only; NULL when
 * the command failed without a reply (connection error or close: see
 * sc_async_errstr). Every callback of every accepted command is called
 * exactly once. */
typedef void sc_async_reply_cb(sc_async *ac, sc_reply *reply, void *ud);
/* status 0: connected and handshake done; else an SC_ERR_* code. */
typedef void sc_async_connect_cb(sc_async *ac, int status, void *ud);
/* Called once when the connection is gone and every pending callback has
 * been answered; status 0 after sc_async_disconnect, else the error. The
 * sc_async is freed right after this callback returns. */
typedef void sc_async_disconnect_cb(sc_async *ac, int status, void *ud);

/* Starts connecting host:port on loop (host: numeric IPv4/IPv6 or
 * "localhost"). Commands may be queued at once; they are sent after the
 * handshake. Returns NULL when out of memory or the address is not
 * numeric. If the connect cannot even start, on_connect reports it
 * before this returns; on_disconnect follows from the loop, as for any
 * failure (the handle stays valid until then). Loop thread only. */
sc_async *sc_async_connect(struct uv_loop_s *loop, const char *host, int port,
                           const sc_options *opt, sc_async_connect_cb *on_connect,
                           sc_async_disconnect_cb *on_disconnect, void *ud);

/* Queues a command; cb (may be NULL) gets its reply, in order. Returns 0,
 * or an error code when the connection is closing/closed (then cb is
 * never called). */
int sc_async_command(sc_async *ac, sc_async_reply_cb *cb, void *ud, int argc,
                     const char **argv, const size_t *argvlen);

/* Closes now: pending callbacks get NULL, then the disconnect callback
 * runs (from the loop, later) and the handle is freed. Idempotent. */
void sc_async_disconnect(sc_async *ac);

const char *sc_async_errstr(const sc_async *ac);
/* Commands sent or queued whose reply has not arrived. */
size_t sc_async_pending(const sc_async *ac);

#ifdef __cplusplus
}
#endif
#endif
