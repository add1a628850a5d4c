/* resp_parser.h -- the request parser: RESP multibulk and inline commands.
 *
 * Pure code: no libuv, no sockets, no globals, so it can be unit-tested byte
 * by byte and fuzzed. The parser never owns the input; the caller (net.c)
 * keeps a query buffer, appends what the socket delivered, and calls
 * reqparser_parse() until it returns REQ_INCOMPLETE.
 *
 * Zero copy: the parser works in place. On REQ_OK, p->argv[i].ptr points into
 * the caller's buffer, every argument is NUL-terminated (the parser overwrites
 * the '\r' after a bulk, and decodes inline quotes/escapes in place, which
 * never makes an argument longer). The pointers stay valid until the caller
 * drops or moves those bytes; the caller drops `*used` bytes after running
 * the command and calls reqparser_reset().
 *
 * Resumption: on REQ_INCOMPLETE the parser remembers (as offsets, not
 * pointers) how far it got, so a caller that appends more bytes and calls
 * again with the same (possibly reallocated) buffer never rescans: total work
 * is linear in the input even when a request arrives one byte at a time.
 *
 * Errors are sticky (hiredis style): after REQ_ERR every call returns REQ_ERR
 * and p->err keeps the first message, worded as Redis words it, without the
 * leading '-' ("ERR Protocol error: invalid multibulk length"). */
#ifndef SIMCACHE_RESP_PARSER_H
#define SIMCACHE_RESP_PARSER_H

#include <stddef.h>

#define REQ_OK 1          /* a whole request is in argc/argv */
#define REQ_INCOMPLETE 0  /* need more bytes */
#define REQ_ERR (-1)      /* protocol error, see p->err; sticky */

typedef struct req_arg {
    union {
        char *ptr;        /* after REQ_OK: into the caller's buffer,
                           * NUL-terminated (ptr[len] == '\0') */
        size_t off;       /* private, while the request is incomplete: the
                           * argument's offset from the request's start */
    };
    size_t len;           /* bytes, excluding the NUL */
} req_arg;

typedef struct reqparser_limits {
    long long max_bulk_len; /* proto-max-bulk-len: largest bulk in bytes */
    long long max_args;     /* largest multibulk count accepted (also
                             * capped at INT_MAX, as argc is an int) */
    size_t max_inline;      /* longest inline request line in bytes, not
                             * counting its CR LF (64 KiB); also the longest
                             * "*<count>" / "$<len>" header line */
} reqparser_limits;

/* Redis's defaults for authenticated clients, and the hard caps for clients
 * that have not authenticated yet (CVE-2021-32675: few args, small bulks). */
#define REQ_DEFAULT_MAX_BULK (512LL * 1024 * 1024)
#define REQ_DEFAULT_MAX_ARGS (1024LL * 1024 * 1024)
#define REQ_DEFAULT_MAX_INLINE (64 * 1024)
#define REQ_UNAUTH_MAX_BULK 16384LL
#define REQ_UNAUTH_MAX_ARGS 10LL

typedef struct reqparser {
    /* output, valid after REQ_OK */
    int argc;
    req_arg *argv;          /* owned; grows as arguments arrive, never
                             * preallocated from an untrusted count */
    int argv_cap;
    char err[160];          /* first protocol error, "" if none */
    /* private resumption state (offsets from the request's first byte) */
    int state;              /* RP_* in resp_parser.c */
    int failed;             /* 1 after REQ_ERR: sticky */
    long long args_left;    /* bulks still expected, 0..max_args */
    long long bulk_len;     /* length of the pending bulk, 0..max_bulk_len */
    size_t pos;             /* bytes of the current request already parsed */
    size_t arg_off;         /* offset of the pending bulk's first byte */
    size_t scan;            /* where the search for the line end resumes */
    unsigned long long work;/* bytes examined since init: tests check it
                             * stays linear in the input (no rescans) */
} reqparser;

/* Makes an empty parser (no allocation yet). */
void reqparser_init(reqparser *p);
/* Frees argv; p must be re-initialised before reuse. */
void reqparser_free(reqparser *p);
/* Forgets the last request (argc = 0) but keeps a sticky error, and the
 * argv allocation unless it grew past 1024 slots (a huge request does not
 * pin its argv for the connection's lifetime). Call after executing a
 * request and dropping its bytes; reqparser_parse() also does it itself
 * when called again after REQ_OK. Never call it mid-request: the bytes
 * already parsed would be forgotten. */
void reqparser_reset(reqparser *p);

/* Parses the request at the start of buf[0..len). `lim` may change between
 * calls (a client that authenticates gets the larger limits). On REQ_OK,
 * *used is the number of bytes the request occupied (argc may be 0 for an
 * empty inline line, "*0" or "*-1": skip the bytes and go on). On
 * REQ_INCOMPLETE and REQ_ERR *used is 0. Between an INCOMPLETE and the next
 * call the caller may move the buffer but must keep buf[0..len) unchanged
 * and only append. The parser writes into buf[0..*used) (NULs after
 * arguments, decoded inline escapes). Errors (p->err):
 *   ERR Protocol error: invalid multibulk length   count not an integer
 *                                                  or > max_args
 *   ERR Protocol error: expected '$', got 'x'
 *   ERR Protocol error: invalid bulk length        not an integer, < 0 or
 *                                                  > max_bulk_len
 *   ERR Protocol error: too big inline request     line > max_inline
 *   ERR Protocol error: too big mbulk count string "*" line > max_inline
 *   ERR Protocol error: too big bulk count string  "$" line > max_inline
 *   ERR Protocol error: unbalanced quotes in request
 *   OOM out of memory parsing the request          argv could not grow
 * Thread-safety: one parser per client, used by one thread. */
int reqparser_parse(reqparser *p, char *buf, size_t len,
                    const reqparser_limits *lim, size_t *used);

#endif
