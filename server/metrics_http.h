/* metrics_http.h -- the HTTP/1.1 endpoint serving GET /metrics (the
 * Prometheus exposition of metrics.h) on the server's libuv loop.
 *
 * Lifecycle (main.c, loop thread only, like every function here):
 *   metrics_http_start(loop, bind, port) after net_start, when metrics-port
 *   is set; metrics_http_stop() when shutdown begins: the listener, the
 *   sweep timer and every connection are closed, so the loop can run dry
 *   and uv_loop_close() returns 0. */
#ifndef SIMCACHE_METRICS_HTTP_H
#define SIMCACHE_METRICS_HTTP_H

#include <stddef.h>
#include <uv.h>

/* Limits (see metrics_http.c for the reasons). */
#define METRICS_HTTP_MAX_HEADER 8192        /* bytes of request head */
#define METRICS_HTTP_MAX_CONNS 16           /* concurrent connections */
#define METRICS_HTTP_IDLE_MS 30000          /* keep-alive idle timeout */
#define METRICS_HTTP_REQUEST_MS 5000        /* a started request must complete */

/* Listens on addr:port (addr is one IPv4 or IPv6 literal; port 1..65535).
 * Returns 0, or a negative libuv error (nothing left open; the caller
 * logs). Calling it twice without stop returns UV_EALREADY. */
int metrics_http_start(uv_loop_t *loop, const char *addr, int port);

/* The port bound, or 0 when not listening. */
int metrics_http_port(void);

/* Connections currently open. */
int metrics_http_connections(void);

/* A parsed request head; pointers into the parsed bytes. */
typedef struct metrics_http_req {
    const char *method, *path;   /* not NUL-terminated */
    size_t mlen, plen;
    int minor;                   /* HTTP/1.<minor>: 0 or 1 */
    int conn_close;              /* a Connection header lists "close" */
    int conn_keep_alive;         /* ... lists "keep-alive" */
    int has_body;                /* Content-Length other than 0, or Transfer-Encoding */
} metrics_http_req;

/* Parses the request head at the start of [p, p+n): "METHOD SP target SP
 * HTTP/1.x" and header lines up to the blank line (CRLF or bare LF).
 * Returns the head's length in bytes (> 0) and fills r; 0 if the blank
 * line has not arrived yet (r untouched); -1 if malformed. Pure: no I/O,
 * any thread (the fuzz target calls it directly). */
long metrics_http_parse(const char *p, size_t n, metrics_http_req *r);

/* Closes the listener, the timer and every connection (pending responses
 * are dropped). Idempotent; memory is freed in the close callbacks. */
void metrics_http_stop(void);

#endif
