/* reply.c -- the reply writer: RESP2/RESP3 encodings appended to the
 * client's output buffer (reply.h has the contract, net.h the buffer).
 *
 * Design decisions:
 * 1. Every reply is appended to one contiguous per-client buffer (`out`);
 *    net.c hands it to libuv once per read batch. No allocation per reply:
 *    the buffer grows geometrically and is reused (it is swapped with the
 *    buffer being written, never freed between batches).
 * 2. The output limit (client-output-buffer-limit) is enforced where the
 *    buffer grows, which is rare: a client whose queued output would exceed
 *    the hard limit is flagged CLIENT_CLOSE_ASAP, later appends are dropped
 *    and net.c closes it after the current request. Allocation failure is
 *    handled the same way (sticky error, no abort).
 * 3. Deferred aggregate lengths (KEYS, SCAN) record the buffer offset and
 *    insert the header there at the end with one memmove of the elements,
 *    instead of Redis's placeholder node: the handle is the offset itself
 *    (offset + 1 stored in the pointer), so begin/end allocate nothing. A
 *    deferred header must be set before the handler returns.
 * 4. Integers are formatted with a digit-pair table (no snprintf on the hot
 *    path); doubles use the shortest %.*g that round-trips, as Redis 7's
 *    fpconv does, with "inf"/"-inf"/"nan" spelled as Redis spells them. */
#include "reply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "net.h"
#include "stats.h"
#include "strconv.h"

/* Slow path of out_reserve: grows the buffer or flags the client. */
static char *out_grow(client *c, size_t n) {
    struct client_private *p = c->priv;
    obuf *o = &p->out;
    if (p->flags & CLIENT_CLOSE_ASAP) return NULL;
    size_t need = o->len + n;
    long long lim = g_cfg.client_output_buffer_limit;
    if (lim > 0 && !(p->flags & CLIENT_FAKE) &&
        need + (p->wout.len - p->wout_sent) > (size_t)lim) {
        p->flags |= CLIENT_CLOSE_ASAP;
        g_stats.client_output_limit_disconnections++;
        return NULL;
    }
    size_t cap = o->cap ? o->cap : 16384;
    while (cap < need) cap *= 2;
    char *nb = realloc(o->buf, cap);
    if (nb == NULL) {
        p->flags |= CLIENT_CLOSE_ASAP;
        return NULL;
    }
    o->buf = nb;
    o->cap = cap;
    return o->buf + o->len;
}

/* Room for n bytes at the end of the output, or NULL if the client is
 * being dropped. Commit with o->len += n. */
static inline char *out_reserve(client *c, size_t n) {
    obuf *o = &c->priv->out;
    if (o->cap - o->len >= n && !(c->priv->flags & CLIENT_CLOSE_ASAP))
        return o->buf + o->len;
    return out_grow(c, n);
}

static inline void out_append(client *c, const void *s, size_t n) {
    char *dst = out_reserve(c, n);
    if (dst == NULL) return;
    memcpy(dst, s, n);
    c->priv->out.len += n;
}

/* "<prefix><v>\r\n" */
static void out_prefixed_ll(client *c, char prefix, long long v) {
    char *dst = out_reserve(c, 24);
    if (dst == NULL) return;
    dst[0] = prefix;
    size_t n = 1 + strconv_ll_write(dst + 1, v);
    dst[n++] = '\r';
    dst[n++] = '\n';
    c->priv->out.len += n;
}

void reply_ok(client *c) { out_append(c, "+OK\r\n", 5); }

void reply_simple(client *c, const char *s) {
    size_t n = strlen(s);
    char *dst = out_reserve(c, n + 3);
    if (dst == NULL) return;
    dst[0] = '+';
    memcpy(dst + 1, s, n);
    for (size_t i = 1; i <= n; i++)
        if (dst[i] == '\r' || dst[i] == '\n') dst[i] = ' ';
    dst[n + 1] = '\r';
    dst[n + 2] = '\n';
    c->priv->out.len += n + 3;
}

void reply_error(client *c, const char *msg) {
    size_t n = strlen(msg);
    char *dst = out_reserve(c, n + 3);
    if (dst == NULL) return;
    dst[0] = '-';
    memcpy(dst + 1, msg, n);
    for (size_t i = 1; i <= n; i++)
        if (dst[i] == '\r' || dst[i] == '\n') dst[i] = ' ';
    dst[n + 1] = '\r';
    dst[n + 2] = '\n';
    c->priv->out.len += n + 3;
    g_stats.total_error_replies++;
}

void reply_errorf(client *c, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        reply_error(c, small);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        reply_error(c, "ERR out of memory");
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    reply_error(c, big);
    free(big);
}

void reply_integer(client *c, long long v) {
    if (v >= 0 && v < 10) {   /* :0 .. :9, the common DEL/EXISTS answers */
        char s[4] = {':', (char)('0' + v), '\r', '\n'};
        out_append(c, s, 4);
        return;
    }
    out_prefixed_ll(c, ':', v);
}

void reply_bulk(client *c, const void *p, size_t len) {
    char *dst = out_reserve(c, len + 26);
    if (dst == NULL) return;
    dst[0] = '$';
    size_t n = 1 + strconv_ll_write(dst + 1, (long long)len);
    dst[n++] = '\r';
    dst[n++] = '\n';
    if (len) memcpy(dst + n, p, len);
    n += len;
    dst[n++] = '\r';
    dst[n++] = '\n';
    c->priv->out.len += n;
}

void reply_raw(client *c, const void *p, size_t len) { out_append(c, p, len); }

size_t reply_fmt_ll(char *dst, long long v) { return strconv_ll_write(dst, v); }

void reply_bulk_cstr(client *c, const char *s) {
    if (s == NULL) {
        reply_null(c);
        return;
    }
    reply_bulk(c, s, strlen(s));
}

void reply_bulk_ll(client *c, long long v) {
    char tmp[24];
    size_t n = strconv_ll_write(tmp, v);
    reply_bulk(c, tmp, n);
}

void reply_null(client *c) {
    if (c->resp >= 3)
        out_append(c, "_\r\n", 3);
    else
        out_append(c, "$-1\r\n", 5);
}

void reply_null_array(client *c) {
    if (c->resp >= 3)
        out_append(c, "_\r\n", 3);
    else
        out_append(c, "*-1\r\n", 5);
}

void reply_array(client *c, long n) { out_prefixed_ll(c, '*', n); }

void reply_map(client *c, long n) {
    if (c->resp >= 3)
        out_prefixed_ll(c, '%', n);
    else
        out_prefixed_ll(c, '*', 2 * (long long)n);
}

void reply_set(client *c, long n) { out_prefixed_ll(c, c->resp >= 3 ? '~' : '*', n); }

/* Shortest decimal that parses back to d (at most 17 significant digits). */
static int fmt_double(char *buf, size_t cap, double d) {
    if (isinf(d)) return snprintf(buf, cap, "%s", d > 0 ? "inf" : "-inf");
    if (isnan(d)) return snprintf(buf, cap, "nan");
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
    }
    return n;
}

void reply_double(client *c, double d) {
    char tmp[64];
    int n = fmt_double(tmp, sizeof tmp, d);
    if (n < 0) n = 0;
    if (c->resp >= 3) {
        char *dst = out_reserve(c, (size_t)n + 3);
        if (dst == NULL) return;
        dst[0] = ',';
        memcpy(dst + 1, tmp, (size_t)n);
        dst[n + 1] = '\r';
        dst[n + 2] = '\n';
        c->priv->out.len += (size_t)n + 3;
    } else {
        reply_bulk(c, tmp, (size_t)n);
    }
}

void reply_bool(client *c, int b) {
    if (c->resp >= 3)
        out_append(c, b ? "#t\r\n" : "#f\r\n", 4);
    else
        out_append(c, b ? ":1\r\n" : ":0\r\n", 4);
}

void reply_verbatim(client *c, const char *p, size_t len, const char *ext) {
    if (c->resp < 3) {
        reply_bulk(c, p, len);
        return;
    }
    char e[3] = {'t', 'x', 't'};
    if (ext && strlen(ext) == 3) memcpy(e, ext, 3);
    char *dst = out_reserve(c, len + 32);
    if (dst == NULL) return;
    dst[0] = '=';
    size_t n = 1 + strconv_ll_write(dst + 1, (long long)len + 4);
    dst[n++] = '\r';
    dst[n++] = '\n';
    memcpy(dst + n, e, 3);
    n += 3;
    dst[n++] = ':';
    if (len) memcpy(dst + n, p, len);
    n += len;
    dst[n++] = '\r';
    dst[n++] = '\n';
    c->priv->out.len += n;
}

/* ---- deferred lengths ---- */

reply_deferred *reply_deferred_begin(client *c) {
    return (reply_deferred *)(uintptr_t)(c->priv->out.len + 1);
}

static void deferred_set(client *c, reply_deferred *d, char prefix, long long n) {
    struct client_private *p = c->priv;
    size_t off = (size_t)(uintptr_t)d - 1;
    if (p->flags & CLIENT_CLOSE_ASAP) return;   /* output is being dropped */
    char hdr[32];
    hdr[0] = prefix;
    size_t hl = 1 + strconv_ll_write(hdr + 1, n);
    hdr[hl++] = '\r';
    hdr[hl++] = '\n';
    if (out_reserve(c, hl) == NULL) return;
    if (off > p->out.len) off = p->out.len;     /* invariant; keep it safe */
    memmove(p->out.buf + off + hl, p->out.buf + off, p->out.len - off);
    memcpy(p->out.buf + off, hdr, hl);
    p->out.len += hl;
}

void reply_deferred_array(client *c, reply_deferred *d, long n) {
    deferred_set(c, d, '*', n);
}

void reply_deferred_map(client *c, reply_deferred *d, long n) {
    if (c->resp >= 3)
        deferred_set(c, d, '%', n);
    else
        deferred_set(c, d, '*', 2 * (long long)n);
}

/* ---- common wordings ---- */

void reply_error_arity(client *c, const char *cmdname) {
    reply_errorf(c, "ERR wrong number of arguments for '%s' command", cmdname);
}

void reply_error_syntax(client *c) { reply_error(c, ERR_SYNTAX); }
void reply_error_wrongtype(client *c) { reply_error(c, ERR_WRONGTYPE); }
void reply_error_not_integer(client *c) { reply_error(c, ERR_NOT_INTEGER); }
