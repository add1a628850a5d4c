/* test_resp_parser.c -- the request parser against what a hostile or
 * merely unlucky network does to it: requests split at every byte and at
 * random points, pipelines mixing inline and multibulk, every limit and
 * every protocol error wording, sticky errors, huge announced counts that
 * must not allocate, binary bulks, and the linear-work promise (checked by
 * the parser's own work counter, never by a clock). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp_parser.h"
#include "server/sbuf.h"

static const reqparser_limits LIM = {REQ_DEFAULT_MAX_BULK, REQ_DEFAULT_MAX_ARGS,
                                     REQ_DEFAULT_MAX_INLINE};
static const reqparser_limits UNAUTH = {REQ_UNAUTH_MAX_BULK, REQ_UNAUTH_MAX_ARGS,
                                        REQ_DEFAULT_MAX_INLINE};

/* The outcome of feeding a byte stream: every request's argv, serialised
 * as "argc[len:bytes]...;", then "E:<error>" or "P:<pending bytes>". */
typedef struct feed_result {
    sbuf out;
    unsigned long long work;
    int max_cap;
} feed_result;

/* Feeds `in` to a fresh parser the way net.c will: a query buffer that is
 * reallocated (always moved, so stale pointers would be caught under ASan)
 * on every append of chunk bytes, parse until INCOMPLETE, drop used bytes.
 * chunk == 0 feeds everything at once; cuts, if given, are explicit chunk
 * boundaries. */
static feed_result feed(const char *in, size_t n, const reqparser_limits *lim, size_t chunk,
                        const size_t *cuts, size_t ncuts) {
    feed_result r = {SBUF_INIT, 0, 0};
    reqparser p;
    reqparser_init(&p);
    char *qb = NULL;
    size_t have = 0, start = 0, fed = 0, cut_i = 0;
    int rc = REQ_INCOMPLETE;
    while (fed < n && rc != REQ_ERR) {
        size_t next;
        if (cuts)
            next = cut_i < ncuts ? cuts[cut_i++] : n;
        else
            next = chunk ? fed + chunk : n;
        if (next > n) next = n;
        if (next <= fed) continue;
        char *nb = malloc(have + (next - fed) + 1);
        if (have) memcpy(nb, qb, have);
        memcpy(nb + have, in + fed, next - fed);
        free(qb);
        qb = nb;
        have += next - fed;
        fed = next;
        for (;;) {
            size_t used = 12345;
            rc = reqparser_parse(&p, qb + start, have - start, lim, &used);
            if (rc != REQ_OK) {
                cr_assert_eq(used, 0);
                break;
            }
            cr_assert(used > 0 && used <= have - start);
            sbuf_printf(&r.out, "%d", p.argc);
            for (int i = 0; i < p.argc; i++) {
                const char *a = p.argv[i].ptr;
                cr_assert(a >= qb + start && a + p.argv[i].len < qb + start + used,
                          "argument outside its request");
                cr_assert_eq(a[p.argv[i].len], '\0', "argument not NUL-terminated");
                sbuf_printf(&r.out, "[%zu:", p.argv[i].len);
                sbuf_append(&r.out, a, p.argv[i].len);
                sbuf_puts(&r.out, "]");
            }
            sbuf_puts(&r.out, ";");
            if (p.argv_cap > r.max_cap) r.max_cap = p.argv_cap;
            start += used;
            reqparser_reset(&p);
        }
    }
    if (rc == REQ_ERR) {
        cr_assert_eq(p.failed, 1);
        sbuf_printf(&r.out, "E:%s", p.err);
    } else {
        sbuf_printf(&r.out, "P:%zu", have - start);
    }
    r.work = p.work;
    reqparser_free(&p);
    free(qb);
    return r;
}

static feed_result last;
static const char *whole(const char *in, size_t n, const reqparser_limits *lim) {
    sbuf_free(&last.out);
    last = feed(in, n, lim, 0, NULL, 0);
    return sbuf_cstr(&last.out);
}
#define WHOLE(lit) whole(lit, sizeof(lit) - 1, &LIM)
#define WHOLE_LIM(lit, lim) whole(lit, sizeof(lit) - 1, lim)

/* Feeds the stream whole, byte by byte, in 2..7-byte chunks and at 50 sets
 * of random cut points, and asserts every way gives the same result. */
static unsigned long long rng = 0x2545F4914F6CDD1DULL;
static size_t rnd(size_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (size_t)(rng % n);
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void check_split_invariant(const char *in, size_t n, const reqparser_limits *lim) {
    feed_result ref = feed(in, n, lim, 0, NULL, 0);
    const char *want = sbuf_cstr(&ref.out);
    for (size_t chunk = 1; chunk <= 7; chunk++) {
        feed_result r = feed(in, n, lim, chunk, NULL, 0);
        cr_assert_str_eq(sbuf_cstr(&r.out), want, "chunk %zu differs", chunk);
        sbuf_free(&r.out);
    }
    for (int t = 0; t < 50; t++) {
        size_t cuts[8];
        size_t nc = 1 + rnd(8);
        for (size_t i = 0; i < nc; i++) cuts[i] = rnd(n + 1);
        qsort(cuts, nc, sizeof cuts[0], cmp_size);
        feed_result r = feed(in, n, lim, 0, cuts, nc);
        cr_assert_str_eq(sbuf_cstr(&r.out), want, "random cuts differ");
        sbuf_free(&r.out);
    }
    sbuf_free(&ref.out);
}

/* ---- the corpus: request bytes and the argv Redis would build ---------- */

struct corpus_entry {
    const char *in;
    size_t n;
    const char *want; /* may contain NUL bytes: wn is its length */
    size_t wn;
};
#define C(lit, w) {lit, sizeof(lit) - 1, w, sizeof(w) - 1}

static const struct corpus_entry corpus[] = {
    C("*1\r\n$4\r\nPING\r\n", "1[4:PING];P:0"),
    C("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n", "3[3:SET][1:k][5:hello];P:0"),
    C("PING\r\n", "1[4:PING];P:0"),
    C("PING\n", "1[4:PING];P:0"),
    C("  spaced   out\t args \r\n", "3[6:spaced][3:out][4:args];P:0"),
    C("set k \"a b\\x41\\n\"\r\n", "3[3:set][1:k][5:a bA\n];P:0"),
    C("get 'it\\'s'\n", "2[3:get][4:it's];P:0"),
    C("e \"\\t\\r\\b\\a\\\\\\\"\\q\"\n", "2[1:e][7:\t\r\b\a\\\"q];P:0"),
    C("e \"\\xzz\" \"\\x4\" \"\\xFf\"\n", "4[1:e][3:xzz][2:x4][1:\xff];P:0"),
    C("e 'a\\nb' 'x\\y'\n", "3[1:e][4:a\\nb][3:x\\y];P:0"),
    C("foo\"bar baz\" x\n", "2[10:foobar baz][1:x];P:0"),
    C("\"\" ''\n", "2[0:][0:];P:0"),
    C("a b\0c d\n", "2[1:a][1:b];P:0"),
    C("a\rb\n", "2[1:a][1:b];P:0"),
    C("\r\n", "0;P:0"),
    C("\n", "0;P:0"),
    C("   \n", "0;P:0"),
    C("*0\r\n", "0;P:0"),
    C("*-1\r\n", "0;P:0"),
    C("*-5\r\n", "0;P:0"),
    C("*2\r\n$0\r\n\r\n$3\r\na\r\n\r\n", "2[0:][3:a\r\n];P:0"),
    C("*1\r\n$5\r\na\0b\rc\r\n", "1[5:a\0b\rc];P:0"),
    C("*1\r\n$4\r\nPING\r\n*1\r\n$4\r", "1[4:PING];P:7"),
    /* Redis skips the 2 bytes after a bulk without checking them (checked
     * against redis-server 7.0.15, which answers +PONG twice) */
    C("*1\r\n$4\r\nPINGxy*1\r\n$4\r\nPING\r\n", "1[4:PING];1[4:PING];P:0"),
    C("PING", "P:4"),
    /* pipelines mixing both kinds, with empty lines in between */
    C("PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n\r\nECHO 'a b'\n*0\r\nGET k\r\n",
      "1[4:PING];2[4:ECHO][2:hi];0;2[4:ECHO][3:a b];0;2[3:GET][1:k];P:0"),
    /* protocol errors, with Redis's wording */
    C("\"abc\n", "E:ERR Protocol error: unbalanced quotes in request"),
    C("\"abc\"def\n", "E:ERR Protocol error: unbalanced quotes in request"),
    C("'abc\n", "E:ERR Protocol error: unbalanced quotes in request"),
    C("'abc'd\n", "E:ERR Protocol error: unbalanced quotes in request"),
    C("\"a\\\"\n", "E:ERR Protocol error: unbalanced quotes in request"),
    C("PING\r\n\"x\n", "1[4:PING];E:ERR Protocol error: unbalanced quotes in request"),
    C("*abc\r\n", "E:ERR Protocol error: invalid multibulk length"),
    C("*\r\n", "E:ERR Protocol error: invalid multibulk length"),
    C("*+1\r\n", "E:ERR Protocol error: invalid multibulk length"),
    C("*01\r\n", "E:ERR Protocol error: invalid multibulk length"),
    C("*2147483648\r\n", "E:ERR Protocol error: invalid multibulk length"),
    C("*1\r\nfoo\r\n", "E:ERR Protocol error: expected '$', got 'f'"),
    C("*1\r\n\r\n", "E:ERR Protocol error: expected '$', got ' '"),
    C("*2\r\n$1\r\na\r\n:1\r\n", "E:ERR Protocol error: expected '$', got ':'"),
    C("*1\r\n$abc\r\n", "E:ERR Protocol error: invalid bulk length"),
    C("*1\r\n$-1\r\n", "E:ERR Protocol error: invalid bulk length"),
    C("*1\r\n$\r\n", "E:ERR Protocol error: invalid bulk length"),
    C("*1\r\n$ 1\r\n", "E:ERR Protocol error: invalid bulk length"),
    C("*1\r\n$536870913\r\n", "E:ERR Protocol error: invalid bulk length"),
    /* the edges of the parser's fast path (resp_parser.c note 7): each must
     * come out as the general parser has it, which the byte-by-byte run of
     * corpus_gives_the_same_argv_whole_byte_by_byte_and_split compares */
    C("*1\r\n$03\r\nabc\r\n", "E:ERR Protocol error: invalid bulk length"),
    C("*1\r\n$+3\r\nabc\r\n", "E:ERR Protocol error: invalid bulk length"),
    C("*1\r\n$999999999\r\n", "E:ERR Protocol error: invalid bulk length"),
    C("*1000000000\r\n", "P:13"),
    C("*999999999\r\n$1\r\na\r\n", "P:19"),
    C("*1\r\n$536870912\r\nab", "P:18"),
    C("*1\r\n$3\rXabcxy", "1[3:abc];P:0"),
    C("*1\r\n$3\r", "P:7"),
    C("*1\r", "P:3"),
    C("*2\r\n$1\r\na\r\n$1\r\n", "P:15"),
    C("*1\r\n$0\r\n\r\n", "1[0:];P:0"),
    C("*2\r\n$1\r\na\r\n$1x\r\nb\r\n", "E:ERR Protocol error: invalid bulk length"),
};

Test(resp_parser, corpus_parses_to_redis_argv) {
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
        const char *got = whole(corpus[i].in, corpus[i].n, &LIM);
        cr_assert(last.out.len == corpus[i].wn && memcmp(got, corpus[i].want, corpus[i].wn) == 0,
                  "entry %zu: got \"%s\"", i, got);
    }
}

Test(resp_parser, corpus_gives_the_same_argv_whole_byte_by_byte_and_split) {
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++)
        check_split_invariant(corpus[i].in, corpus[i].n, &LIM);
    /* the whole corpus as one pipelined stream (minus the error entries,
     * which end a stream) */
    sbuf all = SBUF_INIT;
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++)
        if (strstr(corpus[i].want, "E:") == NULL && strstr(corpus[i].want, "P:0"))
            sbuf_append(&all, corpus[i].in, corpus[i].n);
    check_split_invariant(all.buf, all.len, &LIM);
    sbuf_free(&all);
}

Test(resp_parser, binary_bulk_with_crlf_and_nul_is_kept_intact) {
    char req[300];
    char payload[256];
    for (int i = 0; i < 256; i++) payload[i] = (char)i;
    int h = snprintf(req, sizeof req, "*2\r\n$3\r\nSET\r\n$256\r\n");
    memcpy(req + h, payload, 256);
    memcpy(req + h + 256, "\r\n", 2);
    size_t n = (size_t)h + 258;
    reqparser p;
    reqparser_init(&p);
    size_t used;
    cr_assert_eq(reqparser_parse(&p, req, n, &LIM, &used), REQ_OK);
    cr_assert_eq(used, n);
    cr_assert_eq(p.argc, 2);
    cr_assert_eq(p.argv[1].len, 256);
    cr_assert_eq(memcmp(p.argv[1].ptr, payload, 256), 0);
    cr_assert_eq(p.argv[1].ptr[256], '\0');
    reqparser_free(&p);
    check_split_invariant(req, n, &LIM);
}

/* ---- limits ------------------------------------------------------------ */

static char *inline_line(size_t content, size_t *n) {
    char *b = malloc(content + 2);
    memset(b, 'x', content);
    b[content] = '\r';
    b[content + 1] = '\n';
    *n = content + 2;
    return b;
}

Test(resp_parser, inline_request_over_64k_is_rejected_however_it_arrives) {
    size_t n;
    char *ok = inline_line(REQ_DEFAULT_MAX_INLINE, &n);
    const char *got = whole(ok, n, &LIM);
    cr_assert_eq(strncmp(got, "1[65536:", 8), 0, "exactly 64 KiB is accepted");
    free(ok);
    char *big = inline_line(REQ_DEFAULT_MAX_INLINE + 1, &n);
    cr_assert_str_eq(whole(big, n, &LIM), "E:ERR Protocol error: too big inline request");
    /* without its newline it is rejected as soon as the bytes prove it */
    cr_assert_str_eq(whole(big, REQ_DEFAULT_MAX_INLINE + 1, &LIM),
                     "E:ERR Protocol error: too big inline request");
    cr_assert_str_eq(whole(big, REQ_DEFAULT_MAX_INLINE, &LIM), "P:65536");
    feed_result r = feed(big, n, &LIM, 1000, NULL, 0);
    cr_assert_str_eq(sbuf_cstr(&r.out), "E:ERR Protocol error: too big inline request");
    sbuf_free(&r.out);
    free(big);
}

Test(resp_parser, header_line_without_cr_over_64k_is_rejected) {
    size_t n = REQ_DEFAULT_MAX_INLINE + 10;
    char *b = malloc(n);
    memset(b, '1', n);
    b[0] = '*';
    cr_assert_str_eq(whole(b, n, &LIM), "E:ERR Protocol error: too big mbulk count string");
    memcpy(b, "*1\r\n$", 5);
    cr_assert_str_eq(whole(b, n, &LIM), "E:ERR Protocol error: too big bulk count string");
    free(b);
}

Test(resp_parser, multibulk_count_over_limit_closes_the_connection) {
    reqparser_limits lim = LIM;
    lim.max_args = 3;
    cr_assert_str_eq(WHOLE_LIM("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", &lim),
                     "3[1:a][1:b][1:c];P:0");
    cr_assert_str_eq(whole("*4\r\n", 4, &lim), "E:ERR Protocol error: invalid multibulk length");
    cr_assert_str_eq(WHOLE("*9223372036854775807\r\n"),
                     "E:ERR Protocol error: invalid multibulk length");
    cr_assert_str_eq(WHOLE("*9223372036854775808\r\n"),
                     "E:ERR Protocol error: invalid multibulk length");
}

Test(resp_parser, bulk_over_limit_closes_the_connection) {
    reqparser_limits lim = LIM;
    lim.max_bulk_len = 5;
    cr_assert_str_eq(whole("*1\r\n$5\r\nhello\r\n", 15, &lim), "1[5:hello];P:0");
    cr_assert_str_eq(whole("*1\r\n$6\r\n", 8, &lim), "E:ERR Protocol error: invalid bulk length");
    cr_assert_str_eq(WHOLE("*1\r\n$9223372036854775807\r\n"),
                     "E:ERR Protocol error: invalid bulk length");
    cr_assert_str_eq(WHOLE("*1\r\n$9223372036854775808\r\n"),
                     "E:ERR Protocol error: invalid bulk length");
}

Test(resp_parser, unauthenticated_client_gets_10_args_and_16k_bulks) {
    /* CVE-2021-32675: before AUTH, Redis caps both */
    sbuf s = SBUF_INIT;
    sbuf_puts(&s, "*10\r\n");
    for (int i = 0; i < 10; i++) sbuf_puts(&s, "$1\r\na\r\n");
    cr_assert_eq(strncmp(whole(s.buf, s.len, &UNAUTH), "10[", 3), 0);
    cr_assert_str_eq(whole("*11\r\n", 5, &UNAUTH),
                     "E:ERR Protocol error: invalid multibulk length");
    sbuf_reset(&s);
    sbuf_puts(&s, "*2\r\n$4\r\nAUTH\r\n$16384\r\n");
    size_t h = s.len;
    char *fill = sbuf_reserve(&s, 16384);
    memset(fill, 'p', 16384);
    sbuf_commit(&s, 16384);
    sbuf_puts(&s, "\r\n");
    cr_assert_eq(strncmp(whole(s.buf, s.len, &UNAUTH), "2[4:AUTH][16384:", 16), 0);
    cr_assert_str_eq(whole("*1\r\n$16385\r\n", 12, &UNAUTH),
                     "E:ERR Protocol error: invalid bulk length");
    (void)h;
    sbuf_free(&s);
}

Test(resp_parser, limits_may_grow_after_auth_mid_stream) {
    /* the caller switches limits between requests once AUTH succeeds */
    char buf[] = "*1\r\n$4\r\nAUTH\r\n*11\r\n";
    reqparser p;
    reqparser_init(&p);
    size_t used;
    cr_assert_eq(reqparser_parse(&p, buf, sizeof buf - 1, &UNAUTH, &used), REQ_OK);
    reqparser_reset(&p);
    cr_assert_eq(reqparser_parse(&p, buf + used, sizeof buf - 1 - used, &LIM, &used),
                 REQ_INCOMPLETE);
    reqparser_free(&p);
}

/* ---- errors, allocation, linearity -------------------------------------- */

Test(resp_parser, error_is_sticky_and_keeps_the_first_message) {
    reqparser p;
    reqparser_init(&p);
    char bad[] = "*1\r\nX\r\n";
    char good[] = "*1\r\n$4\r\nPING\r\n";
    size_t used;
    cr_assert_eq(reqparser_parse(&p, bad, sizeof bad - 1, &LIM, &used), REQ_ERR);
    cr_assert_str_eq(p.err, "ERR Protocol error: expected '$', got 'X'");
    cr_assert_eq(reqparser_parse(&p, good, sizeof good - 1, &LIM, &used), REQ_ERR);
    reqparser_reset(&p);
    cr_assert_eq(reqparser_parse(&p, good, sizeof good - 1, &LIM, &used), REQ_ERR);
    cr_assert_eq(used, 0);
    cr_assert_str_eq(p.err, "ERR Protocol error: expected '$', got 'X'");
    reqparser_free(&p);
}

Test(resp_parser, huge_multibulk_count_does_not_preallocate_argv) {
    reqparser p;
    reqparser_init(&p);
    char hdr[] = "*1000000\r\n$1\r\na\r\n$1\r\nb\r\n";
    size_t used;
    cr_assert_eq(reqparser_parse(&p, hdr, 10, &LIM, &used), REQ_INCOMPLETE);
    cr_assert_eq(p.argv_cap, 0, "no slot before any argument arrives");
    cr_assert_eq(reqparser_parse(&p, hdr, sizeof hdr - 1, &LIM, &used), REQ_INCOMPLETE);
    cr_assert_leq(p.argv_cap, 8, "cap %d for 2 arguments", p.argv_cap);
    reqparser_free(&p);
}

Test(resp_parser, argv_grows_to_fit_and_shrinks_after_a_huge_request) {
    sbuf s = SBUF_INIT;
    int n = 5000;
    sbuf_printf(&s, "*%d\r\n", n);
    for (int i = 0; i < n; i++) sbuf_printf(&s, "$%d\r\n%d\r\n", i < 10 ? 1 : i < 100 ? 2 : i < 1000 ? 3 : 4, i);
    reqparser p;
    reqparser_init(&p);
    size_t used;
    cr_assert_eq(reqparser_parse(&p, s.buf, s.len, &LIM, &used), REQ_OK);
    cr_assert_eq(p.argc, n);
    cr_assert_eq(p.argv_cap, n, "growth is capped by the announced count");
    for (int i = 0; i < n; i += 997) cr_assert_eq(atoi(p.argv[i].ptr), i);
    reqparser_reset(&p);
    cr_assert_eq(p.argv_cap, 0, "a huge argv is not kept for the connection's life");
    reqparser_free(&p);
    sbuf_free(&s);
}

Test(resp_parser, byte_at_a_time_feeding_costs_linear_work) {
    /* a 60 KB inline line and a 2000-argument multibulk, fed one byte per
     * call: a parser that rescanned from the start would examine ~n^2/2
     * bytes; this one must stay within a small multiple of n */
    size_t n;
    char *line = inline_line(60000, &n);
    feed_result r = feed(line, n, &LIM, 1, NULL, 0);
    cr_assert_eq(strncmp(sbuf_cstr(&r.out), "1[60000:", 8), 0);
    cr_assert_leq(r.work, 3ULL * n, "work %llu for %zu bytes", r.work, n);
    sbuf_free(&r.out);
    free(line);

    sbuf s = SBUF_INIT;
    sbuf_puts(&s, "*2000\r\n");
    for (int i = 0; i < 2000; i++) sbuf_puts(&s, "$10\r\n0123456789\r\n");
    r = feed(s.buf, s.len, &LIM, 1, NULL, 0);
    cr_assert_eq(strncmp(sbuf_cstr(&r.out), "2000[10:0123456789]", 19), 0);
    cr_assert_leq(r.work, 3ULL * s.len, "work %llu for %zu bytes", r.work, s.len);
    sbuf_free(&r.out);
    sbuf_free(&s);
}

Test(resp_parser, random_streams_parse_the_same_however_split) {
    /* random pipelines built from valid fragments plus the occasional
     * garbage byte: whatever the outcome, splitting must not change it */
    static const char *frags[] = {
        "*1\r\n$4\r\nPING\r\n", "PING\r\n", "\n", "SET 'a b' \"c\\x00d\"\n",
        "*2\r\n$3\r\nGET\r\n$3\r\nk\r\n\r\n", "*0\r\n", "x", "\"", "*", "$", "\r", "*1\r\n",
        "$3\r\nabc\r\n", "  GET  k  \r\n"};
    char buf[512];
    for (int t = 0; t < 300; t++) {
        size_t n = 0;
        while (n < 400) {
            const char *f = frags[rnd(sizeof frags / sizeof frags[0])];
            size_t fl = strlen(f);
            memcpy(buf + n, f, fl);
            n += fl;
        }
        reqparser_limits lim = LIM;
        lim.max_inline = 8 + rnd(64);
        lim.max_args = 1 + (long long)rnd(4);
        lim.max_bulk_len = (long long)rnd(8);
        check_split_invariant(buf, n, &lim);
    }
}
