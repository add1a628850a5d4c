/* reader.h -- the push-fed RESP2/RESP3 reply reader of libsimcache.
 *
 * The reply types and the reader API are public (client/simcache.h
 * includes this header); this file exists so the reader can be built,
 * tested and fuzzed without the connection code. See reader.c for the
 * design. */
#ifndef SIMCACHE_CLIENT_READER_H
#define SIMCACHE_CLIENT_READER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reply types: one per RESP2/RESP3 type byte. RESP2 `$-1` and `*-1` are
 * SC_REPLY_NIL, like RESP3 `_`. */
typedef enum sc_reply_type {
    SC_REPLY_STATUS = 1, /* +simple string: str/len */
    SC_REPLY_ERROR,      /* -error or !bulk error: str/len ("ERR message") */
    SC_REPLY_INTEGER,    /* :integer: integer */
    SC_REPLY_STRING,     /* $bulk string: str/len (binary safe) */
    SC_REPLY_NIL,        /* _ null, $-1, *-1 */
    SC_REPLY_BOOL,       /* #t / #f: integer 1 or 0 */
    SC_REPLY_DOUBLE,     /* ,double: dval; str/len keep the text as sent */
    SC_REPLY_BIGNUM,     /* (big number: str/len, the digits as sent */
    SC_REPLY_VERB,       /* =verbatim: vtype ("txt"), str/len the text after "txt:" */
    SC_REPLY_ARRAY,      /* *array: elements/element */
    SC_REPLY_MAP,        /* %map: elements = 2 * pairs, key, value, key, value... */
    SC_REPLY_SET,        /* ~set: elements/element */
    SC_REPLY_PUSH,       /* >push: elements/element (out-of-band message) */
    SC_REPLY_ATTR        /* |attribute map: only ever seen through sc_reply.attr */
} sc_reply_type;

/* One reply tree node. Every node, its str and its children are owned by
 * the root; free the root with sc_reply_free. */
typedef struct sc_reply {
    sc_reply_type type;
    long long integer;        /* SC_REPLY_INTEGER, SC_REPLY_BOOL (0/1) */
    double dval;              /* SC_REPLY_DOUBLE */
    size_t len;               /* bytes in str (not counting the added NUL) */
    char *str;                /* NUL-terminated copy for string-like types, else NULL */
    char vtype[4];            /* SC_REPLY_VERB: the 3-byte format, NUL-terminated */
    size_t elements;          /* aggregates: number of children (map: 2 * pairs) */
    struct sc_reply **element;
    struct sc_reply *attr;    /* RESP3 attribute sent before this reply, or NULL */
} sc_reply;

/* Frees a reply tree (NULL is a no-op). Any thread. */
void sc_reply_free(sc_reply *r);

/* Limits. A reply that exceeds one is a protocol error (sticky). */
typedef struct sc_reader_limits {
    size_t max_bulk;      /* longest bulk/verbatim/bulk-error payload, bytes */
    size_t max_line;      /* longest simple/error/number line, bytes */
    size_t max_elements;  /* most children in one aggregate (map: pairs * 2) */
    int max_depth;        /* deepest aggregate nesting (top-level array = 1) */
} sc_reader_limits;

/* Defaults: max_bulk 512 MiB (Redis proto-max-bulk-len), max_line 64 KiB,
 * max_elements 16 Mi, max_depth 32. */
#define SC_READER_MAX_BULK (512u * 1024 * 1024)
#define SC_READER_MAX_LINE (64u * 1024)
#define SC_READER_MAX_ELEMENTS (16u * 1024 * 1024)
#define SC_READER_MAX_DEPTH 32

/* Error codes shared by the whole library: 0 ok, negative on error. */
enum {
    SC_OK = 0,
    SC_ERR_PROTOCOL = -1, /* malformed reply (sticky on the reader/connection) */
    SC_ERR_LIMIT = -2,    /* a reader limit was exceeded (sticky) */
    SC_ERR_OOM = -3,      /* allocation failed (sticky) */
    SC_ERR_IO = -4,       /* socket error; errstr has the detail */
    SC_ERR_EOF = -5,      /* the server closed the connection */
    SC_ERR_TIMEOUT = -6,  /* connect/read/write timed out */
    SC_ERR_REPLY = -7,    /* typed helper: the server answered with an error
                             reply or a reply of an unexpected shape */
    SC_ERR_ARG = -8       /* bad argument from the caller */
};

typedef struct sc_reader sc_reader;

/* Creates a reader. keep_attrs: 1 attaches RESP3 attributes to the reply
 * that follows them (sc_reply.attr), 0 drops them. limits NULL = defaults.
 * Returns NULL when out of memory. Not thread-safe: one thread per reader. */
sc_reader *sc_reader_create(const sc_reader_limits *limits, int keep_attrs);
void sc_reader_free(sc_reader *r);

/* Appends len bytes (copied). Returns 0, or the sticky error code. */
int sc_reader_feed(sc_reader *r, const char *buf, size_t len);

/* Takes the next complete reply: 0 with *out set (the caller owns it), 0
 * with *out NULL when more bytes are needed, or a negative code. After the
 * first error every call returns that error (see sc_reader_errstr). Work
 * is linear in the bytes fed, however they are split. */
int sc_reader_get_reply(sc_reader *r, sc_reply **out);

/* The sticky error's message ("" when none). Owned by the reader. */
const char *sc_reader_errstr(const sc_reader *r);
/* Bytes fed but not yet consumed by a returned reply. */
size_t sc_reader_pending(const sc_reader *r);
/* Bytes examined, copied or moved so far: a clock-free cost measure, so
 * tests can check that work stays linear in the input however it is
 * split. */
unsigned long long sc_reader_work(const sc_reader *r);

#ifdef __cplusplus
}
#endif
#endif
