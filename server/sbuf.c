/* sbuf.c -- growable byte buffer; see sbuf.h for the contract.
 *
 * Growth doubles the capacity (minimum 64 bytes) so n appends cost O(n)
 * amortised. The buffer keeps one spare byte for the terminating NUL. */
#include "sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sbuf_reserve(sbuf *b, size_t n) {
    if (b->oom) return NULL;
    if (n > (size_t)-1 / 2 - b->len) goto fail;
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need) cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL) goto fail;
        b->buf = nb;
        b->cap = cap;
    }
    return b->buf + b->len;
fail:
    b->oom = 1;
    return NULL;
}

void sbuf_commit(sbuf *b, size_t n) {
    b->len += n;
    b->buf[b->len] = '\0';
}

void sbuf_append(sbuf *b, const void *p, size_t n) {
    char *dst = sbuf_reserve(b, n);
    if (dst == NULL) return;
    if (n) memcpy(dst, p, n);
    sbuf_commit(b, n);
}

void sbuf_puts(sbuf *b, const char *s) { sbuf_append(b, s, strlen(s)); }

void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap) {
    va_list cp;
    va_copy(cp, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, cp);
    va_end(cp);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        sbuf_append(b, small, (size_t)n);
        return;
    }
    char *dst = sbuf_reserve(b, (size_t)n);
    if (dst == NULL) return;
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    sbuf_commit(b, (size_t)n);
}

void sbuf_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

const char *sbuf_cstr(sbuf *b) { return b->buf ? b->buf : ""; }

void sbuf_reset(sbuf *b) {
    b->len = 0;
    b->oom = 0;
    if (b->buf) b->buf[0] = '\0';
}

void sbuf_free(sbuf *b) {
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

char *sbuf_steal(sbuf *b, size_t *len) {
    char *p = b->buf;
    if (len) *len = b->len;
    b->buf = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return p;
}
