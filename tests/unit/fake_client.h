/* fake_client.h -- the fake-client harness shared by the unit tests that
 * drive commands the way the read callback drives a real connection
 * (client_feed: request bytes in, reply bytes out), without libuv.
 *
 * Design decisions:
 * 1. Header-only, every function `static`: tests/CMakeLists.txt builds one
 *    executable per tests/unit/test_*.c, so a shared .c would need a build
 *    change; a static header costs nothing and each test keeps its own copy.
 * 2. The helpers take the client as a parameter instead of owning a global,
 *    so a test can keep its own `static client *c` and suite setup.
 * 3. Assertions are Criterion's: the helpers are for test code only. */
#ifndef SIMCACHE_TESTS_FAKE_CLIENT_H
#define SIMCACHE_TESTS_FAKE_CLIENT_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"
#include "server/config.h"
#include "server/keyspace.h"
#include "server/net.h"

/* Default config, an empty keyspace, the command table, and a fresh fake
 * client; asserts each step. Pair with fake_client_stop(). */
static inline client *fake_client_start(void) {
    config_init();
    cr_assert_eq(ks_init(), 0);
    cr_assert_eq(commands_init(), 0);
    client *fc = client_create_fake();
    cr_assert_not_null(fc);
    return fc;
}

/* Frees the fake client and the keyspace started by fake_client_start(). */
static inline void fake_client_stop(client *fc) {
    client_free_fake(fc);
    ks_shutdown();
}

/* The client's pending output as a NUL-terminated malloc'd string (the
 * caller frees it); the output buffer is cleared. */
static inline char *fake_take_output(client *fc) {
    size_t len;
    const char *o = client_output(fc, &len);
    char *s = malloc(len + 1);
    cr_assert_not_null(s);
    memcpy(s, o, len);
    s[len] = '\0';
    client_output_clear(fc);
    return s;
}

/* Feeds `in` (a C string), asserts client_feed returned 0, and returns the
 * reply bytes as fake_take_output() does (the caller frees them). */
static inline char *fake_request(client *fc, const char *in) {
    cr_assert_eq(client_feed(fc, in, strlen(in)), 0, "feed '%s'", in);
    return fake_take_output(fc);
}

/* Feeds `in`, asserts client_feed returned want_rc and the reply bytes are
 * exactly `want`. */
static inline void fake_exchange(client *fc, const char *in, int want_rc, const char *want) {
    int rc = client_feed(fc, in, strlen(in));
    char *out = fake_take_output(fc);
    cr_assert_eq(rc, want_rc, "feed '%s' returned %d", in, rc);
    cr_assert_str_eq(out, want, "for request '%s'", in);
    free(out);
}

/* A RESP multibulk request from a NULL-terminated argument list, in a
 * static buffer valid until the next call (not thread-safe; at most 32
 * arguments and 1 KiB, asserted). */
static inline const char *fake_mb(const char *first, ...) {
    static char buf[1024];
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        cr_assert_lt(n, 32, "fake_mb: too many arguments");
        args[n++] = a;
    }
    va_end(ap);
    int off = snprintf(buf, sizeof buf, "*%d\r\n", n);
    for (int i = 0; i < n; i++)
        off += snprintf(buf + off, sizeof buf - (size_t)off, "$%zu\r\n%s\r\n", strlen(args[i]),
                        args[i]);
    cr_assert_lt((size_t)off, sizeof buf, "fake_mb: request over 1 KiB");
    return buf;
}

#endif
