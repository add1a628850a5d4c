/* resp_parser.c -- the request parser (RESP multibulk and inline); the
 * contract is in resp_parser.h.
 *
 * Design decisions:
 * 1. Same grammar as Redis 7 (networking.c processMultibulkBuffer and
 *    processInlineBuffer, sds.c sdssplitargs), error for error, so
 *    redis-cli, redis-benchmark and hiredis see identical behaviour. Kept
 *    on purpose: the byte after a header's '\r' and the two bytes after a
 *    bulk are skipped, not checked to be "\n" / "\r\n" (Redis does the
 *    same; checking would reject input Redis accepts); "*-5" is an empty
 *    request like "*0"; an embedded NUL ends an inline line's parsing
 *    (sdssplitargs stops there). One difference: Redis 7.0 looks for the
 *    inline '\n' with strchr, so a line holding a NUL never completes and
 *    the connection hangs until the 64 KiB limit; we find the '\n' and
 *    ignore the bytes after the NUL. The corpus in the unit test was
 *    checked against redis-server 7.0.15.
 * 2. Deterministic limits. Redis applies the 64 KiB inline limit only when
 *    no newline has arrived yet, so whether a long line is accepted depends
 *    on how TCP chunked it. Here a line (or a "*"/"$" header line) longer
 *    than max_inline is always an error, detected as early as the bytes
 *    prove it, so a request parses the same whole, split or byte by byte.
 *    For the same reason the '$' check happens as soon as the header's
 *    first byte is there, rather than after its CR LF as in Redis (the
 *    error text is the same, it only comes sooner).
 * 3. Linear resumption: every scan resumes at p->scan and the state
 *    machine remembers offsets, never pointers, so a request fed one byte
 *    per call costs O(its length) in total and the caller may reallocate
 *    its buffer between calls. Arguments are recorded as offsets
 *    (req_arg.off) until the request completes, then turned into pointers.
 * 4. Zero copy: bulks are NUL-terminated in place (the NUL overwrites the
 *    first trailer byte); inline arguments are unquoted and unescaped in
 *    place, each written from its own first byte, which is safe because
 *    decoding never lengthens text (the write cursor never passes the read
 *    cursor).
 * 5. argv is never sized from an untrusted count: it grows by doubling as
 *    arguments actually arrive (capped by the announced count), so
 *    "*1000000\r\n" alone allocates nothing.
 * 6. No allocation except argv growth; allocation failure is a sticky
 *    error like any other, the connection is closed, nothing aborts.
 * 7. A fast path for the common case: a multibulk request that is whole in
 *    the buffer, with counts and lengths of at most 9 plain digits. It
 *    reads the digits in one pass (no memchr for the '\r', no separate
 *    number conversion, no state machine) and is tried once per request,
 *    at its first byte; anything else (a split request, a sign, a leading
 *    zero, a limit exceeded, a malformed header) leaves no trace and goes
 *    to the general parser, which produces the errors. It accepts only
 *    what the general parser accepts, with the same result (the unit test
 *    compares both on every request of its corpus and random streams, and
 *    the fuzz target runs all three feedings through it). The three-
 *    argument CACHE.GET of redis-benchmark -P 16 spent ~8% of the server's
 *    CPU in the general parser (reqparser_parse, header_line, memchr,
 *    strconv_ll, finish). */
#include "resp_parser.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strconv.h"

enum {
    RP_START = 0, /* nothing of this request examined yet */
    RP_INLINE,    /* looking for the '\n' of an inline line */
    RP_MB_COUNT,  /* looking for the '\r' of "*<count>" */
    RP_MB_HDR,    /* at (or inside) a "$<len>" line */
    RP_MB_BULK,   /* waiting for bulk_len + 2 bytes at pos */
    RP_DONE,      /* argv holds a whole request */
};

#define ARGV_KEEP_MAX 1024 /* reset() frees larger argv arrays */

static const char *const ERR_MB_LEN = "ERR Protocol error: invalid multibulk length";
static const char *const ERR_BULK_LEN = "ERR Protocol error: invalid bulk length";
static const char *const ERR_INLINE_BIG = "ERR Protocol error: too big inline request";
static const char *const ERR_MB_BIG = "ERR Protocol error: too big mbulk count string";
static const char *const ERR_BULK_BIG = "ERR Protocol error: too big bulk count string";
static const char *const ERR_QUOTES = "ERR Protocol error: unbalanced quotes in request";
static const char *const ERR_OOM = "OOM out of memory parsing the request";

void reqparser_init(reqparser *p) {
    memset(p, 0, sizeof *p);
}

void reqparser_free(reqparser *p) {
    free(p->argv);
    p->argv = NULL;
    p->argv_cap = 0;
    p->argc = 0;
}

void reqparser_reset(reqparser *p) {
    p->argc = 0;
    if (p->argv_cap > ARGV_KEEP_MAX) {
        free(p->argv);
        p->argv = NULL;
        p->argv_cap = 0;
    }
    p->state = RP_START;
    p->args_left = 0;
    p->bulk_len = 0;
    p->pos = 0;
    p->arg_off = 0;
    p->scan = 0;
}

static int fail(reqparser *p, const char *msg) {
    snprintf(p->err, sizeof p->err, "%s", msg);
    p->failed = 1;
    return REQ_ERR;
}

/* Appends an argument (as an offset). `hint` is how many arguments this
 * request can still add including this one (0 = unknown): growth never
 * exceeds what the input has actually announced. */
static int push_arg(reqparser *p, size_t off, size_t len, long long hint) {
    if (p->argc == p->argv_cap) {
        long long cap = p->argv_cap ? 2LL * p->argv_cap : 8;
        if (hint > 0 && cap > p->argc + hint) cap = p->argc + hint;
        if (cap > INT_MAX) cap = INT_MAX;
        if (cap <= p->argc) return -1;
        req_arg *nv = realloc(p->argv, (size_t)cap * sizeof *nv);
        if (nv == NULL) return -1;
        p->argv = nv;
        p->argv_cap = (int)cap;
    }
    p->argv[p->argc].off = off;
    p->argv[p->argc].len = len;
    p->argc++;
    return 0;
}

/* Turns the recorded offsets into pointers into buf; the request is done. */
static int finish(reqparser *p, char *buf, size_t used, size_t *usedp) {
    for (int i = 0; i < p->argc; i++) {
        size_t off = p->argv[i].off;
        p->argv[i].ptr = buf + off;
    }
    p->state = RP_DONE;
    *usedp = used;
    return REQ_OK;
}

/* Finds `c` in buf[from..len), recording work; returns its index or
 * (size_t)-1. */
static size_t find_byte(reqparser *p, const char *buf, size_t from, size_t len, char c) {
    if (from >= len) return (size_t)-1;
    const char *hit = memchr(buf + from, c, len - from);
    size_t end = hit ? (size_t)(hit - buf) + 1 : len;
    p->work += end - from;
    return hit ? (size_t)(hit - buf) : (size_t)-1;
}

/* ---- inline requests (sdssplitargs, in place) ------------------------ */

static int is_space(unsigned char c) { /* isspace() in the C locale */
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int hex_val(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits buf[0..end) into arguments exactly as Redis's sdssplitargs would
 * split the same bytes, decoding in place. Returns 0, or -1 after setting
 * the error. The line is followed by its '\n', so writing a NUL at
 * buf[end] is within the request. */
static int split_inline(reqparser *p, char *buf, size_t end) {
    unsigned char *b = (unsigned char *)buf;
#define AT(i) ((i) < end ? b[i] : 0) /* the NUL sdssplitargs would see */
    size_t k = 0;
    p->work += end;
    for (;;) {
        while (k < end && is_space(b[k])) k++;
        if (AT(k) == 0) return 0; /* end of line, or an embedded NUL */
        size_t start = k, w = k;
        int inq = 0, insq = 0;
        for (;;) {
            unsigned char c = AT(k);
            if (inq) {
                if (c == '\\' && AT(k + 1) == 'x' && hex_val(AT(k + 2)) >= 0 &&
                    hex_val(AT(k + 3)) >= 0) {
                    b[w++] = (unsigned char)(hex_val(b[k + 2]) * 16 + hex_val(b[k + 3]));
                    k += 4;
                } else if (c == '\\' && AT(k + 1) != 0) {
                    unsigned char e = b[k + 1];
                    switch (e) {
                    case 'n': e = '\n'; break;
                    case 'r': e = '\r'; break;
                    case 't': e = '\t'; break;
                    case 'b': e = '\b'; break;
                    case 'a': e = '\a'; break;
                    default: break;
                    }
                    b[w++] = e;
                    k += 2;
                } else if (c == '"') {
                    /* a closing quote must be followed by a space or the end */
                    if (AT(k + 1) != 0 && !is_space(AT(k + 1))) return fail(p, ERR_QUOTES);
                    k++;
                    break;
                } else if (c == 0) {
                    return fail(p, ERR_QUOTES);
                } else {
                    b[w++] = c;
                    k++;
                }
            } else if (insq) {
                if (c == '\\' && AT(k + 1) == '\'') {
                    b[w++] = '\'';
                    k += 2;
                } else if (c == '\'') {
                    if (AT(k + 1) != 0 && !is_space(AT(k + 1))) return fail(p, ERR_QUOTES);
                    k++;
                    break;
                } else if (c == 0) {
                    return fail(p, ERR_QUOTES);
                } else {
                    b[w++] = c;
                    k++;
                }
            } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0) {
                if (c != 0) k++;
                break;
            } else if (c == '"') {
                inq = 1;
                k++;
            } else if (c == '\'') {
                insq = 1;
                k++;
            } else {
                b[w++] = c;
                k++;
            }
        }
        /* w <= k and b[w] was already consumed (or is the line end) */
        b[w] = '\0';
        if (push_arg(p, start, w - start, 0) != 0) return fail(p, ERR_OOM);
    }
#undef AT
}

static int parse_inline(reqparser *p, char *buf, size_t len, const reqparser_limits *lim,
                        size_t *used) {
    size_t nl = find_byte(p, buf, p->scan, len, '\n');
    if (nl == (size_t)-1) {
        p->scan = len;
        /* the line is at least len bytes long, len - 1 if the last byte is
         * the '\r' of a CR LF still to come */
        size_t least = (len > 0 && buf[len - 1] == '\r') ? len - 1 : len;
        if (least > lim->max_inline) return fail(p, ERR_INLINE_BIG);
        return REQ_INCOMPLETE;
    }
    size_t end = (nl > 0 && buf[nl - 1] == '\r') ? nl - 1 : nl;
    if (end > lim->max_inline) return fail(p, ERR_INLINE_BIG);
    if (split_inline(p, buf, end) != 0) return REQ_ERR;
    return finish(p, buf, nl + 1, used);
}

/* ---- multibulk requests ----------------------------------------------- */

/* Fast path helper (note 7): reads "<digits>\r?" at buf[*i], 1..9 digits,
 * no leading zero unless the number is 0, followed by '\r' and one more
 * byte (the '\n', skipped unchecked as in the general path). On success
 * *i is past the line and 0 is returned; -1 means "let the general parser
 * decide". */
static inline int fast_num(const char *buf, size_t len, size_t *i, long long *out) {
    size_t k = *i;
    size_t end = len - k > 10 ? k + 10 : len;   /* 9 digits and the '\r' */
    long long n = 0;
    size_t first = k;
    while (k < end && (unsigned char)(buf[k] - '0') <= 9) n = n * 10 + (buf[k++] - '0');
    if (k == first || k >= end || buf[k] != '\r' || k + 1 >= len) return -1;
    if (buf[first] == '0' && k - first > 1) return -1;
    *i = k + 2;
    *out = n;
    return 0;
}

/* The fast path (note 7). REQ_OK with the request in argv, or
 * REQ_INCOMPLETE with nothing changed but argv's capacity: the caller then
 * runs the general parser from the request's first byte. */
static int parse_fast(reqparser *p, char *buf, size_t len, const reqparser_limits *lim,
                      size_t *used) {
    size_t i = 1;
    long long n;
    if (lim->max_inline < 16 || fast_num(buf, len, &i, &n) != 0 || n <= 0 ||
        n > lim->max_args)
        return REQ_INCOMPLETE;
    for (long long left = n; left > 0; left--) {
        long long blen;
        if (i >= len || buf[i] != '$') goto fallback;
        i++;
        if (fast_num(buf, len, &i, &blen) != 0 || blen > lim->max_bulk_len ||
            (unsigned long long)(len - i) < (unsigned long long)blen + 2 ||
            push_arg(p, i, (size_t)blen, left) != 0)
            goto fallback;
        i += (size_t)blen + 2;
    }
    p->work += i;
    for (int a = 0; a < p->argc; a++) buf[p->argv[a].off + p->argv[a].len] = '\0';
    return finish(p, buf, i, used);
fallback:
    p->work += i;
    p->argc = 0;
    return REQ_INCOMPLETE;
}

/* Finds the '\r' ending the header line that starts at buf[at] (its first
 * byte is the '*' or '$'). Returns 1 with *cr set when the line and the
 * byte after its '\r' are present, 0 if more bytes are needed, -1 on a
 * line longer than max_inline (error set to `big`). */
static int header_line(reqparser *p, const char *buf, size_t len, size_t at,
                       const reqparser_limits *lim, const char *big, size_t *cr) {
    if (p->scan < at + 1) p->scan = at + 1;
    size_t r = find_byte(p, buf, p->scan, len, '\r');
    if (r == (size_t)-1) {
        p->scan = len;
        if (len - at - 1 > lim->max_inline) return fail(p, big);
        return 0;
    }
    p->scan = r; /* found: later calls only wait for the byte after it */
    if (r - at - 1 > lim->max_inline) return fail(p, big);
    if (r + 1 >= len) return 0;
    *cr = r;
    return 1;
}

static int parse_count(reqparser *p, char *buf, size_t len, const reqparser_limits *lim,
                       size_t *used) {
    size_t cr;
    int rc = header_line(p, buf, len, 0, lim, ERR_MB_BIG, &cr);
    if (rc <= 0) return rc;
    long long n;
    if (strconv_ll(buf + 1, cr - 1, &n) != 0 || n > lim->max_args || n > INT_MAX)
        return fail(p, ERR_MB_LEN);
    p->pos = cr + 2;
    if (n <= 0) return finish(p, buf, p->pos, used); /* "*0", "*-1": empty */
    p->args_left = n;
    p->state = RP_MB_HDR;
    p->scan = p->pos;
    return REQ_INCOMPLETE; /* the caller's loop goes on with the bulks */
}

static int parse_bulk_header(reqparser *p, char *buf, size_t len,
                             const reqparser_limits *lim) {
    if (p->pos >= len) return REQ_INCOMPLETE;
    if (buf[p->pos] != '$') {
        char c = buf[p->pos];
        /* error replies never carry CR, LF or NUL (Redis replaces CR/LF
         * with spaces in error text) */
        if (c == '\r' || c == '\n' || c == '\0') c = ' ';
        snprintf(p->err, sizeof p->err, "ERR Protocol error: expected '$', got '%c'", c);
        p->failed = 1;
        return REQ_ERR;
    }
    size_t cr;
    int rc = header_line(p, buf, len, p->pos, lim, ERR_BULK_BIG, &cr);
    if (rc <= 0) return rc;
    long long n;
    if (strconv_ll(buf + p->pos + 1, cr - p->pos - 1, &n) != 0 || n < 0 ||
        n > lim->max_bulk_len)
        return fail(p, ERR_BULK_LEN);
    p->bulk_len = n;
    p->pos = cr + 2;
    p->arg_off = p->pos;
    p->state = RP_MB_BULK;
    return REQ_OK; /* header done; not a whole request */
}

static int parse_multibulk(reqparser *p, char *buf, size_t len, const reqparser_limits *lim,
                           size_t *used) {
    if (p->state == RP_MB_COUNT) {
        int rc = parse_count(p, buf, len, lim, used);
        if (rc != REQ_INCOMPLETE || p->state != RP_MB_HDR) return rc;
    }
    for (;;) {
        if (p->state == RP_MB_HDR) {
            int rc = parse_bulk_header(p, buf, len, lim);
            if (rc != REQ_OK) return rc;
        }
        /* RP_MB_BULK: the bulk and its two trailer bytes must be here.
         * pos <= len always; bulk_len <= LLONG_MAX so + 2 cannot wrap. */
        unsigned long long need = (unsigned long long)p->bulk_len + 2;
        if ((unsigned long long)(len - p->pos) < need) return REQ_INCOMPLETE;
        p->work++;
        size_t blen = (size_t)p->bulk_len;
        if (push_arg(p, p->arg_off, blen, p->args_left) != 0) return fail(p, ERR_OOM);
        buf[p->arg_off + blen] = '\0';
        p->pos += blen + 2;
        if (--p->args_left == 0) return finish(p, buf, p->pos, used);
        p->state = RP_MB_HDR;
        p->scan = p->pos;
    }
}

int reqparser_parse(reqparser *p, char *buf, size_t len, const reqparser_limits *lim,
                    size_t *used) {
    *used = 0;
    if (p->failed) return REQ_ERR;
    if (p->state == RP_DONE) reqparser_reset(p);
    if (p->state == RP_START) {
        if (len == 0) return REQ_INCOMPLETE;
        if (buf[0] == '*' && parse_fast(p, buf, len, lim, used) == REQ_OK) return REQ_OK;
        p->state = buf[0] == '*' ? RP_MB_COUNT : RP_INLINE;
    }
    if (p->state == RP_INLINE) return parse_inline(p, buf, len, lim, used);
    return parse_multibulk(p, buf, len, lim, used);
}
