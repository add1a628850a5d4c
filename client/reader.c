/* reader.c -- push-fed RESP2/RESP3 reply reader: bytes in, reply trees out.
 *
 * Design decisions:
 * 1. Push-fed, no I/O (hiredis's redisReader): the sync client, the async
 *    client, the CLI and the fuzz target all feed it whatever bytes they
 *    read, split anywhere.
 * 2. Linear work however the input is split. Partial aggregates live on an
 *    explicit stack of frames (completed children are kept, never
 *    re-parsed); a line is searched for its LF from where the previous
 *    search stopped (`scan`); a bulk header is parsed once and remembered
 *    while its payload arrives. Consumed bytes are compacted away only when
 *    they outnumber the unconsumed ones, so memmove is amortised O(1) per
 *    byte.
 * 3. Explicit limits (payload bytes, line bytes, children per aggregate,
 *    nesting depth) checked on the header, before anything is allocated
 *    or buffered beyond them. Child arrays grow geometrically as children
 *    arrive, so a header claiming 16M elements costs nothing until the
 *    elements exist (a 12-byte input cannot make us allocate 128 MB).
 * 4. Sticky errors: the first malformed byte or exceeded limit frees the
 *    partial tree, records a message, and every later call returns the
 *    same code. A stream cannot resynchronise after a framing error.
 * 5. RESP3 attributes (`|`) are parsed like maps and attached to the reply
 *    that follows them at the same level (sc_reply.attr), or dropped when
 *    the reader was created with keep_attrs = 0. They never count as an
 *    aggregate's child.
 * 6. Strict numbers: integers and lengths are optional '-' then digits,
 *    no overflow, no spaces; `$-1` and `*-1` (and `>-1`) are NIL, any other
 *    negative length is a protocol error.
 *
 * Threading: a reader belongs to one thread at a time; no globals. */
#include "reader.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct frame {
    sc_reply *agg;
    size_t want;   /* children expected */
    size_t cap;    /* allocated slots in agg->element */
} frame;

struct sc_reader {
    char *buf;
    size_t len, pos, cap;  /* bytes held, parse offset, allocation */
    size_t scan;           /* offset from pos where the LF search resumes */
    int in_bulk;           /* header of a bulk-like item parsed, payload pending */
    char bulk_type;
    size_t bulk_len, bulk_start; /* payload length and its offset from pos */
    frame *stack;
    int depth;
    sc_reply *pending_attr;
    sc_reader_limits lim;
    int keep_attrs;
    int err;
    char errstr[160];
    unsigned long long work; /* bytes examined or moved (sc_reader_work) */
};

void sc_reply_free(sc_reply *r) {
    if (r == NULL) return;
    for (size_t i = 0; i < r->elements; i++) sc_reply_free(r->element[i]);
    free(r->element);
    sc_reply_free(r->attr);
    free(r->str);
    free(r);
}

sc_reader *sc_reader_create(const sc_reader_limits *limits, int keep_attrs) {
    sc_reader *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    if (limits) r->lim = *limits;
    if (r->lim.max_bulk == 0) r->lim.max_bulk = SC_READER_MAX_BULK;
    if (r->lim.max_line == 0) r->lim.max_line = SC_READER_MAX_LINE;
    if (r->lim.max_elements == 0) r->lim.max_elements = SC_READER_MAX_ELEMENTS;
    if (r->lim.max_depth <= 0) r->lim.max_depth = SC_READER_MAX_DEPTH;
    r->keep_attrs = keep_attrs;
    r->stack = calloc((size_t)r->lim.max_depth, sizeof *r->stack);
    if (r->stack == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

static void drop_partial(sc_reader *r) {
    /* A frame's aggregate joins its parent only when complete, so each
     * open frame owns a separate partial tree. */
    for (int i = 0; i < r->depth; i++) sc_reply_free(r->stack[i].agg);
    r->depth = 0;
    sc_reply_free(r->pending_attr);
    r->pending_attr = NULL;
}

void sc_reader_free(sc_reader *r) {
    if (r == NULL) return;
    drop_partial(r);
    free(r->stack);
    free(r->buf);
    free(r);
}

static int fail(sc_reader *r, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errstr, sizeof r->errstr, fmt, ap);
    va_end(ap);
    r->err = code;
    drop_partial(r);
    return code;
}

const char *sc_reader_errstr(const sc_reader *r) { return r->errstr; }
size_t sc_reader_pending(const sc_reader *r) { return r->len - r->pos; }
unsigned long long sc_reader_work(const sc_reader *r) { return r->work; }

int sc_reader_feed(sc_reader *r, const char *buf, size_t len) {
    if (r->err) return r->err;
    if (len == 0) return 0;
    if (r->pos > 0 && r->pos >= r->len - r->pos) {   /* design note 2 */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->work += r->len - r->pos;
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < len) {
        size_t ncap = r->cap ? r->cap : 4096;
        while (ncap - r->len < len) {
            if (ncap > SIZE_MAX / 2) return fail(r, SC_ERR_OOM, "out of memory");
            ncap *= 2;
        }
        char *nb = realloc(r->buf, ncap);
        if (nb == NULL) return fail(r, SC_ERR_OOM, "out of memory");
        r->buf = nb;
        r->cap = ncap;
    }
    memcpy(r->buf + r->len, buf, len);
    r->len += len;
    r->work += len;
    return 0;
}

/* Strict signed decimal: [-]digits, no overflow. */
static int parse_ll(const char *s, size_t n, long long *out) {
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') neg = 1, i = 1;
    if (i == n || n - i > 19) return -1;
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (!neg && v > (unsigned long long)LLONG_MAX) return -1;
    if (neg && v > (unsigned long long)LLONG_MAX + 1) return -1;
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

static int parse_double(const char *s, size_t n, double *out) {
    char tmp[400];
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (!strcmp(tmp, "inf") || !strcmp(tmp, "+inf")) return *out = INFINITY, 0;
    if (!strcmp(tmp, "-inf")) return *out = -INFINITY, 0;
    if (!strcmp(tmp, "nan") || !strcmp(tmp, "-nan")) return *out = NAN, 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", tmp[i])) return -1;
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + n) return -1;
    *out = d;
    return 0;
}

static sc_reply *node_new(sc_reader *r, sc_reply_type t) {
    sc_reply *n = calloc(1, sizeof *n);
    if (n == NULL) return NULL;
    n->type = t;
    if (t != SC_REPLY_ATTR && r->pending_attr) {
        n->attr = r->pending_attr;
        r->pending_attr = NULL;
    }
    return n;
}

static int node_str(sc_reply *n, const char *s, size_t len) {
    n->str = malloc(len + 1);
    if (n->str == NULL) return -1;
    memcpy(n->str, s, len);
    n->str[len] = '\0';
    n->len = len;
    return 0;
}

/* A finished node climbs the stack: it becomes its parent's child, and a
 * parent that is now full is finished in turn. Returns 1 with *done set
 * when a top-level reply is complete, 0 to keep parsing, <0 on error. */
static int complete(sc_reader *r, sc_reply *n, sc_reply **done) {
    for (;;) {
        if (n->type == SC_REPLY_ATTR) {
            if (!r->keep_attrs) {
                sc_reply_free(n);
            } else {
                sc_reply_free(r->pending_attr);   /* two in a row: keep the last */
                r->pending_attr = n;
            }
            return 0;
        }
        if (r->depth == 0) {
            *done = n;
            return 1;
        }
        frame *f = &r->stack[r->depth - 1];
        if (f->agg->elements == f->cap) {
            size_t ncap = f->cap ? f->cap * 2 : 8;
            if (ncap > f->want) ncap = f->want;
            sc_reply **ne = realloc(f->agg->element, ncap * sizeof *ne);
            if (ne == NULL) {
                sc_reply_free(n);
                return fail(r, SC_ERR_OOM, "out of memory");
            }
            f->agg->element = ne;
            f->cap = ncap;
        }
        f->agg->element[f->agg->elements++] = n;
        if (f->agg->elements < f->want) return 0;
        n = f->agg;
        r->depth--;
    }
}

static sc_reply_type agg_type(char t) {
    switch (t) {
    case '*': return SC_REPLY_ARRAY;
    case '%': return SC_REPLY_MAP;
    case '~': return SC_REPLY_SET;
    case '>': return SC_REPLY_PUSH;
    default: return SC_REPLY_ATTR;
    }
}

/* Bulk-like payload complete at p (len bytes + CRLF checked by caller). */
static int make_bulk(sc_reader *r, char t, const char *p, size_t len, sc_reply **out) {
    sc_reply_type ty = t == '$' ? SC_REPLY_STRING : t == '!' ? SC_REPLY_ERROR : SC_REPLY_VERB;
    if (ty == SC_REPLY_VERB && (len < 4 || p[3] != ':'))
        return fail(r, SC_ERR_PROTOCOL, "protocol error: verbatim string without 'fmt:' prefix");
    sc_reply *n = node_new(r, ty);
    if (n == NULL) return fail(r, SC_ERR_OOM, "out of memory");
    if (ty == SC_REPLY_VERB) {
        memcpy(n->vtype, p, 3);
        p += 4;
        len -= 4;
    }
    if (node_str(n, p, len) != 0) {
        sc_reply_free(n);
        return fail(r, SC_ERR_OOM, "out of memory");
    }
    *out = n;
    return 0;
}

/* A one-line item (everything but bulk payloads and aggregate children). */
static int make_line(sc_reader *r, char t, const char *s, size_t n, sc_reply **out) {
    long long ll;
    double d;
    sc_reply *x = NULL;
    switch (t) {
    case '+':
    case '-':
        x = node_new(r, t == '+' ? SC_REPLY_STATUS : SC_REPLY_ERROR);
        if (x && node_str(x, s, n) != 0) goto oom;
        break;
    case ':':
        if (parse_ll(s, n, &ll) != 0)
            return fail(r, SC_ERR_PROTOCOL, "protocol error: bad integer '%.40s'", s);
        if ((x = node_new(r, SC_REPLY_INTEGER))) x->integer = ll;
        break;
    case '_':
        if (n != 0) return fail(r, SC_ERR_PROTOCOL, "protocol error: bad null");
        x = node_new(r, SC_REPLY_NIL);
        break;
    case '#':
        if (n != 1 || (s[0] != 't' && s[0] != 'f'))
            return fail(r, SC_ERR_PROTOCOL, "protocol error: bad boolean");
        if ((x = node_new(r, SC_REPLY_BOOL))) x->integer = s[0] == 't';
        break;
    case ',':
        if (parse_double(s, n, &d) != 0)
            return fail(r, SC_ERR_PROTOCOL, "protocol error: bad double");
        x = node_new(r, SC_REPLY_DOUBLE);
        if (x) {
            x->dval = d;
            if (node_str(x, s, n) != 0) goto oom;
        }
        break;
    case '(': {
        size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
        if (i == n) return fail(r, SC_ERR_PROTOCOL, "protocol error: bad big number");
        for (; i < n; i++)
            if (s[i] < '0' || s[i] > '9')
                return fail(r, SC_ERR_PROTOCOL, "protocol error: bad big number");
        x = node_new(r, SC_REPLY_BIGNUM);
        if (x && node_str(x, s, n) != 0) goto oom;
        break;
    }
    default:
        return fail(r, SC_ERR_PROTOCOL, "protocol error: unknown type byte 0x%02x",
                    (unsigned char)t);
    }
    if (x == NULL) return fail(r, SC_ERR_OOM, "out of memory");
    *out = x;
    return 0;
oom:
    sc_reply_free(x);
    return fail(r, SC_ERR_OOM, "out of memory");
}

/* Aggregate header with count n (-1 = nil for * and >). Either a finished
 * node in *out (empty or nil) or a new frame (returns 0, *out NULL). */
static int open_agg(sc_reader *r, char t, long long n, sc_reply **out) {
    *out = NULL;
    if (n < 0) {
        if (n != -1 || (t != '*' && t != '>'))
            return fail(r, SC_ERR_PROTOCOL, "protocol error: bad aggregate length");
        if ((*out = node_new(r, SC_REPLY_NIL)) == NULL) return fail(r, SC_ERR_OOM, "out of memory");
        return 0;
    }
    int pairs = (t == '%' || t == '|');
    if ((unsigned long long)n > r->lim.max_elements / (pairs ? 2 : 1))
        return fail(r, SC_ERR_LIMIT, "aggregate of %lld elements exceeds max_elements %zu", n,
                    r->lim.max_elements);
    sc_reply *a = node_new(r, agg_type(t));
    if (a == NULL) return fail(r, SC_ERR_OOM, "out of memory");
    if (n == 0) {
        *out = a;
        return 0;
    }
    if (r->depth >= r->lim.max_depth) {
        sc_reply_free(a);
        return fail(r, SC_ERR_LIMIT, "nesting deeper than max_depth %d", r->lim.max_depth);
    }
    frame *f = &r->stack[r->depth++];
    f->agg = a;
    f->want = (size_t)n * (pairs ? 2 : 1);
    f->cap = 0;
    return 0;
}

/* Parses one item at pos. Returns 1 when an item was consumed (*n may be a
 * finished node or NULL when a frame was opened), 0 when more bytes are
 * needed, <0 on error. */
static int parse_item(sc_reader *r, sc_reply **n) {
    *n = NULL;
    const char *b = r->buf + r->pos;
    size_t avail = r->len - r->pos;
    if (r->in_bulk) {
        size_t need = r->bulk_start + r->bulk_len + 2;
        r->work++;
        if (avail < need) return 0;
        r->work += r->bulk_len;   /* the copy into the reply */
        const char *p = b + r->bulk_start;
        if (p[r->bulk_len] != '\r' || p[r->bulk_len + 1] != '\n')
            return fail(r, SC_ERR_PROTOCOL, "protocol error: bulk payload not CRLF-terminated");
        int rc = make_bulk(r, r->bulk_type, p, r->bulk_len, n);
        if (rc < 0) return rc;
        r->in_bulk = 0;
        r->pos += need;
        return 1;
    }
    if (avail == 0) return 0;
    const char *lf = memchr(b + r->scan, '\n', avail - r->scan);
    r->work += (lf ? (size_t)(lf - (b + r->scan)) + 1 : avail - r->scan) + 1;
    if (lf == NULL) {
        r->scan = avail;
        if (avail > r->lim.max_line + 2)
            return fail(r, SC_ERR_LIMIT, "line longer than max_line %zu", r->lim.max_line);
        return 0;
    }
    size_t eol = (size_t)(lf - b);   /* offset of LF */
    if (eol > r->lim.max_line + 2)
        return fail(r, SC_ERR_LIMIT, "line longer than max_line %zu", r->lim.max_line);
    if (eol < 1 || b[eol - 1] != '\r')
        return fail(r, SC_ERR_PROTOCOL, "protocol error: line not CRLF-terminated");
    char t = b[0];
    const char *s = b + 1;
    size_t sl = eol - 2;   /* eol >= 1; type byte at 0, CR at eol-1 */
    if (eol < 1 + 1) return fail(r, SC_ERR_PROTOCOL, "protocol error: empty line");
    if (memchr(s, '\r', sl)) return fail(r, SC_ERR_PROTOCOL, "protocol error: CR inside a line");
    r->scan = 0;
    long long ll;
    int rc;
    switch (t) {
    case '$':
    case '!':
    case '=':
        if (parse_ll(s, sl, &ll) != 0)
            return fail(r, SC_ERR_PROTOCOL, "protocol error: bad bulk length");
        if (ll == -1 && t == '$') {
            r->pos += eol + 1;
            if ((*n = node_new(r, SC_REPLY_NIL)) == NULL) return fail(r, SC_ERR_OOM, "out of memory");
            return 1;
        }
        if (ll < 0) return fail(r, SC_ERR_PROTOCOL, "protocol error: bad bulk length");
        if ((unsigned long long)ll > r->lim.max_bulk)
            return fail(r, SC_ERR_LIMIT, "bulk of %lld bytes exceeds max_bulk %zu", ll,
                        r->lim.max_bulk);
        r->in_bulk = 1;
        r->bulk_type = t;
        r->bulk_len = (size_t)ll;
        r->bulk_start = eol + 1;
        return parse_item(r, n) == 0 ? 0 : (r->err ? r->err : 1);
    case '*':
    case '%':
    case '~':
    case '>':
    case '|':
        if (parse_ll(s, sl, &ll) != 0)
            return fail(r, SC_ERR_PROTOCOL, "protocol error: bad aggregate length");
        if ((rc = open_agg(r, t, ll, n)) < 0) return rc;
        r->pos += eol + 1;
        return 1;
    default:
        if ((rc = make_line(r, t, s, sl, n)) < 0) return rc;
        r->pos += eol + 1;
        return 1;
    }
}

int sc_reader_get_reply(sc_reader *r, sc_reply **out) {
    *out = NULL;
    if (r->err) return r->err;
    for (;;) {
        sc_reply *n;
        int rc = parse_item(r, &n);
        if (rc <= 0) return rc;
        if (n == NULL) continue;   /* opened a frame */
        rc = complete(r, n, out);
        if (rc < 0) return rc;
        if (rc == 1) {
            if (r->pos == r->len) r->pos = r->len = 0;
            return 0;
        }
    }
}
