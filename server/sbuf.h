/* sbuf.h -- a growable byte buffer for building replies, INFO text and
 * other strings of unknown length.
 *
 * Contract: an sbuf starts zeroed (SBUF_INIT) and owns `buf`. Appends grow
 * the buffer geometrically; on allocation failure the buffer is marked
 * failed (`oom` = 1), later appends are ignored, and the caller checks
 * `oom` once at the end rather than after every append (sticky error, as
 * hiredis does). `buf` is always NUL-terminated when len > 0 or after
 * sbuf_cstr(). Any thread may use its own sbuf; an sbuf is not shared. */
#ifndef SIMCACHE_SBUF_H
#define SIMCACHE_SBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sbuf {
    char *buf;      /* owned, NUL-terminated, NULL while cap == 0 */
    size_t len;     /* bytes used, excluding the NUL */
    size_t cap;     /* bytes allocated */
    int oom;        /* 1 after a failed allocation: content is truncated */
} sbuf;

#define SBUF_INIT {NULL, 0, 0, 0}

void sbuf_append(sbuf *b, const void *p, size_t n);
void sbuf_puts(sbuf *b, const char *s);
void sbuf_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap);
/* Makes room for n more bytes; returns a pointer to write them at, or NULL
 * on allocation failure. Commit with sbuf_commit(). */
char *sbuf_reserve(sbuf *b, size_t n);
void sbuf_commit(sbuf *b, size_t n);
const char *sbuf_cstr(sbuf *b);   /* "" for an empty buffer */
void sbuf_reset(sbuf *b);         /* len = 0, keeps the allocation */
void sbuf_free(sbuf *b);          /* frees, back to SBUF_INIT */
/* Hands the buffer to the caller (who frees it with free()); b is reset. */
char *sbuf_steal(sbuf *b, size_t *len);

#endif
