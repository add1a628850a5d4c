/* test_reader.c -- libsimcache's reply reader against what a server, a
 * broken proxy or a hostile peer can send: every RESP2/RESP3 type, the
 * same stream fed whole, byte by byte and split at random points (the
 * trees must be identical), attributes kept or dropped, every limit named
 * after the threat it stops, malformed input of each kind, the sticky
 * error, and the linear-work promise (checked with the reader's own work
 * counter, never a clock). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/reader.h"

/* ---- a canonical text form of reply trees ---- */

typedef struct out {
    char *p;
    size_t len, cap;
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->cap - o->len < n + 1) {
        o->cap = (o->cap + n + 1) * 2;
        o->p = realloc(o->p, o->cap);
        cr_assert(o->p != NULL);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void putf(out *o, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(o, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void dump(out *o, const sc_reply *r) {
    if (r->attr) {
        put(o, "@", 1);
        dump(o, r->attr);
    }
    switch (r->type) {
    case SC_REPLY_STATUS: putf(o, "+%s", r->str); break;
    case SC_REPLY_ERROR: putf(o, "-%s", r->str); break;
    case SC_REPLY_INTEGER: putf(o, ":%lld", r->integer); break;
    case SC_REPLY_STRING:
        putf(o, "$%zu:", r->len);
        put(o, r->str, r->len);
        break;
    case SC_REPLY_NIL: put(o, "nil", 3); break;
    case SC_REPLY_BOOL: put(o, r->integer ? "#t" : "#f", 2); break;
    case SC_REPLY_DOUBLE: putf(o, ",%s=%g", r->str, r->dval); break;
    case SC_REPLY_BIGNUM: putf(o, "(%s", r->str); break;
    case SC_REPLY_VERB: putf(o, "=%s:%s", r->vtype, r->str); break;
    default: {
        const char *open = r->type == SC_REPLY_ARRAY ? "*[" : r->type == SC_REPLY_MAP ? "%["
                         : r->type == SC_REPLY_SET   ? "~[" : r->type == SC_REPLY_PUSH ? ">["
                                                                                        : "|[";
        put(o, open, 2);
        for (size_t i = 0; i < r->elements; i++) {
            if (i) put(o, " ", 1);
            dump(o, r->element[i]);
        }
        put(o, "]", 1);
    }
    }
}

/* Feeds in at the given cut points (sorted offsets; NULL/0 = whole),
 * collecting every reply as "dump;" and ending with "E<code>" or
 * "P<pending>". Also returns the work counter. */
static char *run(const char *in, size_t n, const size_t *cuts, size_t ncuts,
                 const sc_reader_limits *lim, int keep_attrs, unsigned long long *work) {
    sc_reader *r = sc_reader_create(lim, keep_attrs);
    cr_assert(r != NULL);
    out o = {0};
    put(&o, "", 0);
    size_t fed = 0, ci = 0;
    int rc = 0;
    while (rc == 0) {
        size_t next = ci < ncuts ? cuts[ci++] : n;
        if (next > n) next = n;
        if (next > fed) {
            rc = sc_reader_feed(r, in + fed, next - fed);
            fed = next;
        }
        sc_reply *rep;
        while (rc == 0 && (rc = sc_reader_get_reply(r, &rep)) == 0 && rep) {
            dump(&o, rep);
            put(&o, ";", 1);
            sc_reply_free(rep);
        }
        if (fed == n) break;
    }
    if (rc) putf(&o, "E%d", rc);
    else putf(&o, "P%zu", sc_reader_pending(r));
    if (work) *work = sc_reader_work(r);
    sc_reader_free(r);
    return o.p;
}

static char *run_whole(const char *in, const sc_reader_limits *lim) {
    return run(in, strlen(in), NULL, 0, lim, 1, NULL);
}

static char *run_bytewise(const char *in, size_t n, unsigned long long *work) {
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
    char *s = run(in, n, cuts, n, NULL, 1, work);
    free(cuts);
    return s;
}

/* Every type in one stream (pipelined replies). */
static const char ALL[] =
    "+OK\r\n"
    "-ERR unknown command\r\n"
    ":-42\r\n"
    ":9223372036854775807\r\n"
    "$5\r\nhe\r\no\r\n"
    "$0\r\n\r\n"
    "$-1\r\n"
    "*-1\r\n"
    "_\r\n"
    "#t\r\n"
    "#f\r\n"
    ",3.25\r\n"
    ",inf\r\n"
    ",-inf\r\n"
    "(3492890328409238509324850943850943825024385\r\n"
    "=15\r\ntxt:Some string\r\n"
    "!21\r\nSYNTAX invalid syntax\r\n"
    "*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n*0\r\n"
    "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n%0\r\n"
    "~2\r\n+x\r\n+y\r\n"
    ">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n"
    "|1\r\n+key-popularity\r\n*1\r\n,0.19\r\n*2\r\n:2\r\n:3\r\n"
    "*2\r\n|1\r\n+ttl\r\n:5\r\n+inner\r\n+last\r\n";

static const char ALL_DUMP[] =
    "+OK;-ERR unknown command;:-42;:9223372036854775807;$5:he\r\no;$0:;nil;nil;nil;#t;#f;"
    ",3.25=3.25;,inf=inf;,-inf=-inf;(3492890328409238509324850943850943825024385;"
    "=txt:Some string;-SYNTAX invalid syntax;*[:1 *[+a $1:b] *[]];"
    "%[+first :1 $6:second %[]];~[+x +y];>[$7:message $2:hi];"
    "@|[+key-popularity *[,0.19=0.19]]*[:2 :3];*[@|[+ttl :5]+inner +last];P0";

Test(reader, every_resp2_and_resp3_type_parsed_whole) {
    char *s = run_whole(ALL, NULL);
    cr_assert_str_eq(s, ALL_DUMP);
    free(s);
}

Test(reader, byte_by_byte_feeding_gives_the_same_trees) {
    char *s = run_bytewise(ALL, sizeof ALL - 1, NULL);
    cr_assert_str_eq(s, ALL_DUMP);
    free(s);
}

Test(reader, random_splits_give_the_same_trees) {
    size_t n = sizeof ALL - 1;
    unsigned seed = 12345;
    for (int round = 0; round < 500; round++) {
        size_t cuts[16], nc = 1 + (size_t)(round % 15);
        for (size_t i = 0; i < nc; i++) {
            seed = seed * 1103515245u + 12345u;
            cuts[i] = (seed >> 8) % n;
        }
        for (size_t i = 1; i < nc; i++)   /* insertion sort */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        char *s = run(ALL, n, cuts, nc, NULL, 1, NULL);
        cr_assert_str_eq(s, ALL_DUMP, "round %d", round);
        free(s);
    }
}

Test(reader, attributes_dropped_when_not_kept) {
    const char *in = "|1\r\n+a\r\n:1\r\n:7\r\n*1\r\n|1\r\n+b\r\n:2\r\n+x\r\n";
    char *s = run(in, strlen(in), NULL, 0, NULL, 0, NULL);
    cr_assert_str_eq(s, ":7;*[+x];P0");
    free(s);
}

Test(reader, incomplete_reply_waits_and_keeps_its_bytes) {
    char *s = run_whole("*2\r\n$3\r\nfoo\r\n$3\r\nba", NULL);
    cr_assert_str_eq(s, "P6");   /* "$3\r\nba": the array's parsed children are consumed */
    free(s);
}

Test(reader, binary_bulk_with_crlf_and_nul_inside) {
    const char in[] = "$6\r\na\r\n\0b\n\r\n";
    char *s = run(in, sizeof in - 1, NULL, 0, NULL, 1, NULL);
    cr_assert_eq(memcmp(s, "$6:a\r\n\0b\n;P0", 13), 0);
    free(s);
}

/* ---- limits, named after the threat ---- */

Test(reader, bulk_length_over_limit_is_refused_before_the_payload_arrives) {
    sc_reader_limits lim = {.max_bulk = 1024};
    char *s = run_whole("$1025\r\n", &lim);
    cr_assert_str_eq(s, "E-2");
    free(s);
    s = run_whole("$1024\r\n", &lim);   /* at the limit: waits for the payload */
    cr_assert_str_eq(s, "P7");
    free(s);
}

Test(reader, aggregate_count_over_limit_is_refused_from_its_header) {
    sc_reader_limits lim = {.max_elements = 100};
    char *s = run_whole("*101\r\n", &lim);
    cr_assert_str_eq(s, "E-2");
    free(s);
    s = run_whole("%51\r\n", &lim);   /* a map's pairs count twice */
    cr_assert_str_eq(s, "E-2");
    free(s);
    s = run_whole("%50\r\n", &lim);
    cr_assert_str_eq(s, "P0");
    free(s);
}

Test(reader, huge_announced_aggregate_within_limit_waits_for_its_elements) {
    /* 16Mi claimed (the default limit), 3 present: the reader keeps the
     * partial array (its child array grows as children arrive; see
     * reader.c design note 3) and asks for more. */
    char *s = run_whole("*16777216\r\n:1\r\n:2\r\n:3\r\n", NULL);
    cr_assert_str_eq(s, "P0");
    free(s);
}

Test(reader, nesting_deeper_than_limit_is_refused) {
    sc_reader_limits lim = {.max_depth = 4};
    char *s = run_whole("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", &lim);
    cr_assert_str_eq(s, "*[*[*[*[:1]]]];P0");
    free(s);
    s = run_whole("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", &lim);
    cr_assert_str_eq(s, "E-2");
    free(s);
}

Test(reader, endless_line_without_crlf_is_refused_at_max_line) {
    sc_reader_limits lim = {.max_line = 64};
    char line[200];
    memset(line, 'a', sizeof line);
    line[0] = '+';
    char *s = run(line, sizeof line, NULL, 0, &lim, 1, NULL);
    cr_assert_str_eq(s, "E-2");
    free(s);
}

Test(reader, default_depth_limit_stops_a_stack_of_nested_headers) {
    out o = {0};
    for (int i = 0; i < 10000; i++) put(&o, "*1\r\n", 4);
    char *s = run(o.p, o.len, NULL, 0, NULL, 1, NULL);
    cr_assert_str_eq(s, "E-2");
    free(s);
    free(o.p);
}

/* ---- malformed input ---- */

Test(reader, malformed_input_is_a_protocol_error) {
    static const char *bad[] = {
        ":12a\r\n",          /* integer with junk */
        ":\r\n",             /* empty integer */
        ":99999999999999999999\r\n", /* overflow */
        "#x\r\n",            /* bad boolean */
        "_x\r\n",            /* null with payload */
        ",1.5x\r\n",         /* bad double */
        "(12a\r\n",          /* bad big number */
        "$3\r\nabcd\r\n",    /* payload longer than announced */
        "$-2\r\n",           /* negative length other than -1 */
        "%-1\r\n",           /* nil map does not exist */
        "=3\r\nabc\r\n",     /* verbatim without fmt: */
        "?\r\n",             /* unknown type byte */
        "+OK\n",             /* LF without CR */
        "+O\rK\r\n",         /* CR inside a line */
        "\r\n",              /* empty line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *s = run_whole(bad[i], NULL);
        cr_assert_str_eq(s, "E-1", "input %zu", i);
        free(s);
    }
}

Test(reader, error_is_sticky_and_frees_the_partial_tree) {
    sc_reader *r = sc_reader_create(NULL, 1);
    sc_reply *rep;
    cr_assert_eq(sc_reader_feed(r, "*3\r\n:1\r\n$2\r\nab\r\n", 16), 0);
    cr_assert_eq(sc_reader_get_reply(r, &rep), 0);
    cr_assert_null(rep);
    cr_assert_eq(sc_reader_feed(r, ":x\r\n", 4), 0);
    cr_assert_eq(sc_reader_get_reply(r, &rep), SC_ERR_PROTOCOL);
    cr_assert_null(rep);
    cr_assert(strstr(sc_reader_errstr(r), "bad integer") != NULL);
    /* valid bytes after the error change nothing */
    cr_assert_eq(sc_reader_feed(r, "+OK\r\n", 5), SC_ERR_PROTOCOL);
    cr_assert_eq(sc_reader_get_reply(r, &rep), SC_ERR_PROTOCOL);
    cr_assert_null(rep);
    sc_reader_free(r);
}

/* ---- linear work ---- */

Test(reader, byte_at_a_time_work_is_linear_for_a_large_bulk) {
    size_t n = 1 << 20;
    char *in = malloc(n + 32);
    int h = sprintf(in, "$%zu\r\n", n);
    memset(in + h, 'x', n);
    memcpy(in + h + n, "\r\n", 2);
    size_t total = (size_t)h + n + 2;
    unsigned long long work;
    char *s = run_bytewise(in, total, &work);
    cr_assert_eq(strncmp(s, "$1048576:xxx", 12), 0);
    cr_assert_leq(work, 4ull * total, "work %llu for %zu bytes", work, total);
    free(s);
    free(in);
}

Test(reader, byte_at_a_time_work_is_linear_for_a_long_line_and_many_replies) {
    sc_reader_limits lim = {.max_line = 1 << 20};
    out o = {0};
    put(&o, "+", 1);
    for (int i = 0; i < 500000; i++) put(&o, "y", 1);
    put(&o, "\r\n", 2);
    for (int i = 0; i < 20000; i++) put(&o, "*2\r\n:1\r\n$1\r\nz\r\n", 15);
    size_t *cuts = malloc(o.len * sizeof *cuts);
    for (size_t i = 0; i < o.len; i++) cuts[i] = i + 1;
    unsigned long long work;
    char *s = run(o.p, o.len, cuts, o.len, &lim, 1, &work);
    cr_assert(strstr(s, "P0") != NULL, "%.80s", s + strlen(s) - 60);
    cr_assert_leq(work, 6ull * o.len, "work %llu for %zu bytes", work, o.len);
    free(s);
    free(cuts);
    free(o.p);
}
