/* test_reply.c -- the reply writer's encodings, byte for byte, in RESP2 and
 * RESP3: every reply type, the RESP2 mappings of RESP3-only types, error
 * sanitising, integer edge values, deferred aggregate lengths (nested and
 * after large elements) and buffer growth. Replies go to a fake client
 * (no socket), whose output buffer is compared with the expected bytes. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "server/net.h"
#include "server/reply.h"

static client *c;

static void setup(void) {
    config_init();
    c = client_create_fake();
    cr_assert_not_null(c);
}

static void teardown(void) { client_free_fake(c); }

TestSuite(reply, .init = setup, .fini = teardown);

/* Asserts the output equals exp (with explicit length, NULs allowed) and
 * clears it. */
static void expect_n(const char *exp, size_t n) {
    size_t len;
    const char *out = client_output(c, &len);
    cr_assert_eq(len, n, "length %zu != %zu; got '%.*s' want '%.*s'", len, n, (int)len, out,
                 (int)n, exp);
    cr_assert(memcmp(out, exp, n) == 0, "got '%.*s' want '%.*s'", (int)len, out, (int)n, exp);
    client_output_clear(c);
}
#define expect(s) expect_n(s, strlen(s))

Test(reply, simple_types_resp2) {
    reply_ok(c);
    expect("+OK\r\n");
    reply_simple(c, "PONG");
    expect("+PONG\r\n");
    reply_error(c, "ERR bad thing");
    expect("-ERR bad thing\r\n");
    reply_errorf(c, "ERR %s %d", "x", 5);
    expect("-ERR x 5\r\n");
    reply_bulk(c, "hello", 5);
    expect("$5\r\nhello\r\n");
    reply_bulk(c, "", 0);
    expect("$0\r\n\r\n");
    reply_bulk(c, "a\0b\r\n", 5);
    expect_n("$5\r\na\0b\r\n\r\n", 11);
    reply_bulk_cstr(c, "abc");
    expect("$3\r\nabc\r\n");
    reply_bulk_cstr(c, NULL);
    expect("$-1\r\n");
    reply_bulk_ll(c, -42);
    expect("$3\r\n-42\r\n");
}

Test(reply, integers_at_the_edges) {
    reply_integer(c, 0);
    expect(":0\r\n");
    reply_integer(c, 9);
    expect(":9\r\n");
    reply_integer(c, 10);
    expect(":10\r\n");
    reply_integer(c, 99);
    expect(":99\r\n");
    reply_integer(c, 100);
    expect(":100\r\n");
    reply_integer(c, -1);
    expect(":-1\r\n");
    reply_integer(c, LLONG_MAX);
    expect(":9223372036854775807\r\n");
    reply_integer(c, LLONG_MIN);
    expect(":-9223372036854775808\r\n");
    reply_bulk_ll(c, LLONG_MIN);
    expect("$20\r\n-9223372036854775808\r\n");
}

/* The in-place integer formatter (reply.c) against snprintf at every
 * digit-count edge (10^k - 1, 10^k, 10^k + 1 and their negatives), as an
 * integer, a bulk length and an aggregate length. */
Test(reply, integers_at_every_digit_count_edge) {
    char want[64];
    long long p10 = 1;
    for (int k = 0; k <= 19; k++) {
        long long base[] = {p10 - 1, p10, p10 + 1, -(p10 - 1), -p10, -(p10 + 1)};
        for (size_t i = 0; i < sizeof base / sizeof *base; i++) {
            long long v = base[i];
            snprintf(want, sizeof want, ":%lld\r\n", v);
            reply_integer(c, v);
            expect(want);
            snprintf(want, sizeof want, "*%lld\r\n", v);
            reply_array(c, (long)v);
            expect(want);
        }
        if (k < 7) {   /* bulk lengths: a string of p10 bytes */
            char *s = malloc((size_t)p10 + 1);
            cr_assert_not_null(s);
            memset(s, 'x', (size_t)p10);
            reply_bulk(c, s, (size_t)p10);
            size_t len;
            const char *out = client_output(c, &len);
            int h = snprintf(want, sizeof want, "$%lld\r\n", p10);
            cr_assert_eq(len, (size_t)h + (size_t)p10 + 2);
            cr_assert(memcmp(out, want, (size_t)h) == 0, "bulk header for %lld", p10);
            client_output_clear(c);
            free(s);
        }
        if (k < 18) p10 *= 10;
    }
    reply_integer(c, LLONG_MAX - 1);
    expect(":9223372036854775806\r\n");
    reply_integer(c, LLONG_MIN + 1);
    expect(":-9223372036854775807\r\n");
}

Test(reply, error_with_crlf_is_sanitised) {
    reply_error(c, "ERR line1\r\nline2");
    expect("-ERR line1  line2\r\n");
    reply_simple(c, "a\nb");
    expect("+a b\r\n");
}

Test(reply, long_errorf_is_not_truncated) {
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    reply_errorf(c, "ERR %s", big);
    size_t len;
    const char *out = client_output(c, &len);
    cr_assert_eq(len, 1 + 4 + 1999 + 2);
    cr_assert(memcmp(out, "-ERR xxx", 8) == 0);
    client_output_clear(c);
}

Test(reply, null_and_aggregates_resp2) {
    c->resp = 2;
    reply_null(c);
    expect("$-1\r\n");
    reply_null_array(c);
    expect("*-1\r\n");
    reply_array(c, 3);
    expect("*3\r\n");
    reply_map(c, 2);
    expect("*4\r\n");
    reply_set(c, 5);
    expect("*5\r\n");
    reply_bool(c, 1);
    expect(":1\r\n");
    reply_bool(c, 0);
    expect(":0\r\n");
    reply_verbatim(c, "some text", 9, "txt");
    expect("$9\r\nsome text\r\n");
}

Test(reply, null_and_aggregates_resp3) {
    c->resp = 3;
    reply_null(c);
    expect("_\r\n");
    reply_null_array(c);
    expect("_\r\n");
    reply_array(c, 3);
    expect("*3\r\n");
    reply_map(c, 2);
    expect("%2\r\n");
    reply_set(c, 5);
    expect("~5\r\n");
    reply_bool(c, 1);
    expect("#t\r\n");
    reply_bool(c, 0);
    expect("#f\r\n");
    reply_verbatim(c, "some text", 9, "txt");
    expect("=13\r\ntxt:some text\r\n");
    reply_verbatim(c, "x", 1, "mkd");
    expect("=5\r\nmkd:x\r\n");
}

Test(reply, doubles_shortest_round_trip) {
    c->resp = 3;
    reply_double(c, 0.1);
    expect(",0.1\r\n");
    reply_double(c, 3.0);
    expect(",3\r\n");
    reply_double(c, -2.5);
    expect(",-2.5\r\n");
    reply_double(c, INFINITY);
    expect(",inf\r\n");
    reply_double(c, -INFINITY);
    expect(",-inf\r\n");
    reply_double(c, NAN);
    expect(",nan\r\n");
    reply_double(c, 1.0 / 3.0);
    expect(",0.3333333333333333\r\n");
    c->resp = 2;
    reply_double(c, 0.1);
    expect("$3\r\n0.1\r\n");
    reply_double(c, 1e300);
    expect("$6\r\n1e+300\r\n");
}

Test(reply, deferred_array_and_map) {
    c->resp = 2;
    reply_deferred *d = reply_deferred_begin(c);
    reply_bulk(c, "a", 1);
    reply_bulk(c, "b", 1);
    reply_deferred_array(c, d, 2);
    expect("*2\r\n$1\r\na\r\n$1\r\nb\r\n");

    d = reply_deferred_begin(c);
    reply_bulk(c, "k", 1);
    reply_integer(c, 1);
    reply_deferred_map(c, d, 1);
    expect("*2\r\n$1\r\nk\r\n:1\r\n");

    c->resp = 3;
    d = reply_deferred_begin(c);
    reply_bulk(c, "k", 1);
    reply_integer(c, 1);
    reply_deferred_map(c, d, 1);
    expect("%1\r\n$1\r\nk\r\n:1\r\n");

    d = reply_deferred_begin(c);
    reply_deferred_array(c, d, 0);
    expect("*0\r\n");
}

Test(reply, deferred_nested_and_after_prefix) {
    c->resp = 2;
    reply_simple(c, "before");
    reply_deferred *outer = reply_deferred_begin(c);
    reply_integer(c, 1);
    reply_deferred *inner = reply_deferred_begin(c);
    reply_integer(c, 2);
    reply_integer(c, 3);
    reply_deferred_array(c, inner, 2);
    reply_deferred_array(c, outer, 2);
    expect("+before\r\n*2\r\n:1\r\n*2\r\n:2\r\n:3\r\n");
}

Test(reply, deferred_header_after_buffer_growth) {
    /* Elements larger than the initial buffer force reallocations between
     * begin and end: the offset-based handle must survive them. */
    size_t big = 200000;
    char *v = malloc(big);
    cr_assert_not_null(v);
    memset(v, 'v', big);
    reply_deferred *d = reply_deferred_begin(c);
    for (int i = 0; i < 12; i++) reply_bulk(c, v, big);
    reply_deferred_array(c, d, 12);
    size_t len;
    const char *out = client_output(c, &len);
    cr_assert(memcmp(out, "*12\r\n$200000\r\nvvv", 17) == 0);
    cr_assert_eq(len, 5 + 12 * (9 + big + 2));
    cr_assert(memcmp(out + len - 2, "\r\n", 2) == 0);
    free(v);
    client_output_clear(c);
}

Test(reply, many_small_replies_accumulate_in_order) {
    for (int i = 0; i < 10000; i++) reply_integer(c, i);
    size_t len;
    const char *out = client_output(c, &len);
    const char *p = out;
    for (int i = 0; i < 10000; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, ":%d\r\n", i);
        cr_assert(memcmp(p, want, (size_t)n) == 0, "reply %d out of order", i);
        p += n;
    }
    cr_assert_eq((size_t)(p - out), len);
    client_output_clear(c);
}

Test(reply, common_wordings_match_redis) {
    reply_error_arity(c, "get");
    expect("-ERR wrong number of arguments for 'get' command\r\n");
    reply_error_syntax(c);
    expect("-ERR syntax error\r\n");
    reply_error_wrongtype(c);
    expect("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    reply_error_not_integer(c);
    expect("-ERR value is not an integer or out of range\r\n");
}
