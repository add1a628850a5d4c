/* reply.h -- the reply writer: what command handlers call to answer.
 *
 * Every function appends to the client's output buffer in the protocol the
 * client speaks (c->resp == 2 or 3); net.c flushes it. Types that RESP2 lacks
 * are mapped as Redis maps them: map -> flat array of 2n, set -> array,
 * double -> bulk string, bool -> integer 1/0, null -> $-1 (or *-1 for a null
 * array), verbatim -> bulk.
 *
 * Errors: reply_error(c, "ERR some message") -- the code comes first, no
 * leading '-', no CR/LF (they are replaced by spaces). Common messages are
 * constants in errors.h. Only the loop thread calls these. */
#ifndef SIMCACHE_REPLY_H
#define SIMCACHE_REPLY_H

#include <stddef.h>
#include <stdint.h>
#include "client.h"

void reply_ok(client *c);
void reply_simple(client *c, const char *s);            /* +s */
void reply_error(client *c, const char *msg);           /* -msg */
void reply_errorf(client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void reply_integer(client *c, long long v);             /* :v */
void reply_bulk(client *c, const void *p, size_t len);  /* $len */
void reply_bulk_cstr(client *c, const char *s);
void reply_bulk_ll(client *c, long long v);             /* integer as bulk */
/* Appends len bytes that already are RESP (a precomputed header or a
 * memoised element, same bytes the functions above would write for c's
 * protocol version; the caller guarantees that). */
void reply_raw(client *c, const void *p, size_t len);
/* v in decimal at dst (room for 20 bytes; no NUL): the digits the replies
 * above write, for callers that assemble a reply's bytes first. Pure. */
size_t reply_fmt_ll(char *dst, long long v);
void reply_null(client *c);                             /* $-1 / _ */
void reply_null_array(client *c);                       /* *-1 / _ */
void reply_array(client *c, long n);                    /* *n */
void reply_map(client *c, long n);                      /* %n / *2n */
void reply_set(client *c, long n);                      /* ~n / *n */
void reply_double(client *c, double d);                 /* ,d / $bulk */
void reply_bool(client *c, int b);                      /* #t #f / :1 :0 */
void reply_verbatim(client *c, const char *p, size_t len,
                    const char *ext);                   /* =len / $len */

/* Deferred aggregate length, for replies whose size is known only at the
 * end (KEYS, SCAN): d = reply_deferred(c); ...elements...;
 * reply_set_deferred_array(c, d, n). */
typedef struct reply_deferred reply_deferred;
reply_deferred *reply_deferred_begin(client *c);
void reply_deferred_array(client *c, reply_deferred *d, long n);
void reply_deferred_map(client *c, reply_deferred *d, long n);

/* Common wordings, exactly as Redis sends them. */
void reply_error_arity(client *c, const char *cmdname);  /* wrong number of arguments */
void reply_error_syntax(client *c);                      /* ERR syntax error */
void reply_error_wrongtype(client *c);
void reply_error_not_integer(client *c);  /* value is not an integer or out of range */

#endif
