/* test_dispatch.c -- the dispatcher and the connection/server commands,
 * driven through a fake client exactly as the read callback drives a real
 * one (client_feed: bytes in, replies out). Covers Redis's error wordings
 * (unknown command with quoted args, arity, unknown subcommand, NOAUTH),
 * the HELLO handshake bytes in RESP2 and RESP3, AUTH flows, pipelined and
 * inline requests split at every byte, protocol errors that must close the
 * connection, and the pre-auth parser limits (CVE-2021-32675). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/commands.h"
#include "server/config.h"
#include "server/keyspace.h"
#include "server/net.h"
#include "server/reply.h"
#include "fake_client.h"

static client *c;

static void setup(void) { c = fake_client_start(); }
static void teardown(void) { fake_client_stop(c); }

TestSuite(dispatch, .init = setup, .fini = teardown);

static char *take_output(void) { return fake_take_output(c); }
static char *request(const char *in) { return fake_request(c, in); }

/* Feeds text, asserts the feed result and the exact reply bytes. */
static void exchange(const char *in, int want_rc, const char *want) {
    fake_exchange(c, in, want_rc, want);
}

Test(dispatch, ping_echo_and_pipelining) {
    exchange("*1\r\n$4\r\nPING\r\n", 0, "+PONG\r\n");
    exchange("PING hello\r\n", 0, "$5\r\nhello\r\n");
    exchange("*2\r\n$4\r\necho\r\n$3\r\nabc\r\nPING\r\nping\n", 0,
             "$3\r\nabc\r\n+PONG\r\n+PONG\r\n");
    exchange("\r\n\r\n", 0, "");   /* empty inline lines are skipped */
}

Test(dispatch, request_split_at_every_byte) {
    const char *req = "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nPING\r\n";
    for (size_t i = 0; req[i]; i++) cr_assert_eq(client_feed(c, req + i, 1), 0);
    char *out = take_output();
    cr_assert_str_eq(out, "$5\r\nhello\r\n+PONG\r\n");
    free(out);
}

Test(dispatch, unknown_command_quotes_args_like_redis) {
    exchange("FOO a b\r\n", 0, "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n");
    exchange("foo\r\n", 0, "-ERR unknown command 'foo', with args beginning with: \r\n");
}

Test(dispatch, arity_and_subcommand_errors) {
    exchange("ECHO\r\n", 0, "-ERR wrong number of arguments for 'echo' command\r\n");
    exchange("PING a b\r\n", 0, "-ERR wrong number of arguments for 'ping' command\r\n");
    exchange("CONFIG\r\n", 0, "-ERR wrong number of arguments for 'config' command\r\n");
    exchange("CONFIG FOO\r\n", 0, "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n");
    exchange("CONFIG GET\r\n", 0, "-ERR wrong number of arguments for 'config|get' command\r\n");
    exchange("client nope\r\n", 0, "-ERR unknown subcommand 'nope'. Try CLIENT HELP.\r\n");
}

Test(dispatch, hello_resp3_and_resp2_shapes) {
    char want[512];
    snprintf(want, sizeof want,
             "%%7\r\n$6\r\nserver\r\n$8\r\nsimcache\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
             "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:%llu\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n"
             "$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
             (unsigned long long)c->id);
    exchange("HELLO 3\r\n", 0, want);
    cr_assert_eq(c->resp, 3);
    exchange("GETNAME_NOPE\r\n", 0,
             "-ERR unknown command 'GETNAME_NOPE', with args beginning with: \r\n");
    exchange("CLIENT GETNAME\r\n", 0, "_\r\n");
    exchange("HELLO 4\r\n", 0, "-NOPROTO unsupported protocol version\r\n");
    exchange("HELLO x\r\n", 0, "-ERR Protocol version is not an integer or out of range\r\n");
    char *out = request("HELLO 2\r\n");
    cr_assert(strncmp(out, "*14\r\n", 5) == 0, "HELLO 2 answers in RESP2: %s", out);
    free(out);
    cr_assert_eq(c->resp, 2);
}

Test(dispatch, hello_without_args_keeps_protocol) {
    char *out = request("HELLO\r\n");
    cr_assert(strncmp(out, "*14\r\n$6\r\nserver\r\n", 17) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "$5\r\nproto\r\n:2\r\n"));
    free(out);
    out = request("HELLO 3 SETNAME my-conn\r\n");
    cr_assert(strncmp(out, "%7\r\n", 4) == 0, "%s", out);
    free(out);
    exchange("CLIENT GETNAME\r\n", 0, "$7\r\nmy-conn\r\n");
}

Test(dispatch, auth_flows) {
    char err[256];
    exchange("AUTH pw\r\n", 0,
             "-ERR AUTH <password> called without any password configured for the default "
             "user. Are you sure your configuration is correct?\r\n");
    cr_assert_eq(config_load_string("requirepass pw\nuser alice apw\n", "t", err, sizeof err), 0);
    client_free_fake(c);
    c = client_create_fake();
    cr_assert_not(c->authenticated);
    exchange("PING\r\n", 0, "-NOAUTH Authentication required.\r\n");
    exchange("HELLO 3\r\n", 0,
             "-NOAUTH HELLO must be called with the client already authenticated, otherwise "
             "the HELLO AUTH <user> <pass> option can be used to authenticate the "
             "client and select the RESP protocol version at the same time\r\n");
    exchange("AUTH wrong\r\n", 0,
             "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    exchange("AUTH alice pw\r\n", 0,
             "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    exchange("AUTH pw\r\n", 0, "+OK\r\n");
    exchange("PING\r\n", 0, "+PONG\r\n");
    exchange("RESET\r\n", 0, "+RESET\r\n");
    exchange("PING\r\n", 0, "-NOAUTH Authentication required.\r\n");
    exchange("AUTH alice apw\r\n", 0, "+OK\r\n");
    cr_assert_str_eq(c->user, "alice");
    exchange("RESET\r\n", 0, "+RESET\r\n");
    char *out = request("HELLO 3 AUTH default pw SETNAME n1\r\n");
    cr_assert(strncmp(out, "%7\r\n", 4) == 0, "%s", out);
    free(out);
    exchange("CLIENT GETNAME\r\n", 0, "$2\r\nn1\r\n");
}

Test(dispatch, unauthenticated_clients_get_small_parser_limits) {
    char err[256];
    cr_assert_eq(config_load_string("requirepass pw\n", "t", err, sizeof err), 0);
    client_free_fake(c);
    c = client_create_fake();
    /* 11 arguments: over REQ_UNAUTH_MAX_ARGS before AUTH */
    const char *req = "*11\r\n";
    int rc = client_feed(c, req, strlen(req));
    char *out = take_output();
    cr_assert_eq(rc, -1, "an 11-element multibulk before AUTH must close");
    cr_assert(strncmp(out, "-ERR Protocol error", 19) == 0, "%s", out);
    free(out);
}

Test(dispatch, protocol_error_replies_then_closes) {
    int rc = client_feed(c, "*1\r\n$x\r\n", 8);
    char *out = take_output();
    cr_assert_eq(rc, -1);
    cr_assert(strncmp(out, "-ERR Protocol error", 19) == 0, "%s", out);
    free(out);
    /* nothing after the error is executed */
    rc = client_feed(c, "PING\r\n", 6);
    out = take_output();
    cr_assert_str_eq(out, "");
    free(out);
}

Test(dispatch, select_quit_and_client_name) {
    exchange("SELECT 0\r\n", 0, "+OK\r\n");
    exchange("SELECT 1\r\n", 0, "-ERR DB index is out of range\r\n");
    exchange("SELECT x\r\n", 0, "-ERR value is not an integer or out of range\r\n");
    exchange("CLIENT SETNAME bad\\x20name\r\n", 0, "+OK\r\n");  /* inline: literal backslash */
    exchange("CLIENT SETNAME \"a b\"\r\n", 0,
             "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    exchange("CLIENT SETNAME conn1\r\n", 0, "+OK\r\n");
    exchange("CLIENT GETNAME\r\n", 0, "$5\r\nconn1\r\n");
    exchange("CLIENT SETINFO lib-name redis-py\r\n", 0, "+OK\r\n");
    exchange("CLIENT SETINFO lib-foo x\r\n", 0, "-ERR Unrecognized option 'lib-foo'\r\n");
    char want[64];
    snprintf(want, sizeof want, ":%llu\r\n", (unsigned long long)c->id);
    exchange("CLIENT ID\r\n", 0, want);
    exchange("QUIT\r\nPING\r\n", -1, "+OK\r\n");
}

Test(dispatch, config_get_for_redis_benchmark) {
    exchange("*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n"
             "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nappendonly\r\n", 0,
             "*2\r\n$4\r\nsave\r\n$0\r\n\r\n*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    exchange("CONFIG GET maxmemory maxmemory\r\n", 0, "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n");
    exchange("CONFIG GET nothing*\r\n", 0, "*0\r\n");
}

Test(dispatch, config_set_is_all_or_nothing_with_redis_errors) {
    exchange("CONFIG SET timeout 30 maxclients 5\r\n", 0, "+OK\r\n");
    cr_assert_eq(g_cfg.timeout, 30);
    cr_assert_eq(g_cfg.maxclients, 5);
    exchange("CONFIG SET timeout 40 maxclients abc\r\n", 0,
             "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument "
             "couldn't be parsed into an integer\r\n");
    cr_assert_eq(g_cfg.timeout, 30, "first pair must be rolled back");
    exchange("CONFIG SET port 1\r\n", 0,
             "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set "
             "immutable config\r\n");
    exchange("CONFIG SET foo 1\r\n", 0,
             "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n");
    exchange("CONFIG SET timeout 1 timeout 2\r\n", 0,
             "-ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate "
             "parameter\r\n");
    exchange("CONFIG SET timeout 1 maxclients\r\n", 0,
             "-ERR wrong number of arguments for 'config|set' command\r\n");
}

Test(dispatch, command_introspection) {
    char *out;
    out = request("COMMAND COUNT\r\n");
    long n = strtol(out + 1, NULL, 10);
    cr_assert_gt(n, 10);
    free(out);
    out = request("COMMAND INFO get echo nosuch\r\n");
    cr_assert(strncmp(out, "*3\r\n", 4) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "$4\r\necho\r\n:2\r\n"), "%s", out);
    free(out);
    out = request("COMMAND DOCS ping\r\n");
    cr_assert(strncmp(out, "*2\r\n$4\r\nping\r\n*", 15) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "$7\r\nsummary\r\n"));
    free(out);
    out = request("CONFIG HELP\r\n");
    cr_assert_not_null(strstr(out, "+GET <parameter> ...\r\n"), "%s", out);
    free(out);
}

Test(dispatch, slowlog_records_with_zero_threshold) {
    exchange("CONFIG SET slowlog-log-slower-than 0\r\n", 0, "+OK\r\n");
    exchange("SLOWLOG RESET\r\n", 0, "+OK\r\n");
    exchange("ECHO hi\r\n", 0, "$2\r\nhi\r\n");
    char *out = request("SLOWLOG GET 1\r\n");
    cr_assert(strncmp(out, "*1\r\n*6\r\n:", 9) == 0, "%s", out);
    cr_assert_not_null(strstr(out, "*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"), "%s", out);
    free(out);
    exchange("SLOWLOG GET -2\r\n", 0, "-ERR count should be greater than or equal to -1\r\n");
}

Test(dispatch, slowlog_cuts_long_arguments) {
    exchange("CONFIG SET slowlog-log-slower-than 0\r\n", 0, "+OK\r\n");
    char req[400];
    memset(req, 0, sizeof req);
    strcpy(req, "ECHO ");
    memset(req + 5, 'a', 200);
    strcpy(req + 205, "\r\n");
    client_feed(c, req, strlen(req));
    client_output_clear(c);
    char *out = request("SLOWLOG GET 2\r\n");
    cr_assert_not_null(strstr(out, "... (72 more bytes)"), "%s", out);
    free(out);
}

/* Parked clients: while blocked, buffered requests are not executed; the
 * completion's reply comes first, then the buffered requests in order. */
Test(dispatch, blocked_client_defers_pipelined_input) {
    client_block(c);
    cr_assert_eq(net_blocked_count(), 1);
    char *out = request("ECHO a\r\nECHO b\r\n");
    cr_assert_str_eq(out, "", "nothing may run while the client is parked");
    free(out);
    reply_simple(c, "DONE");          /* what a completion would send */
    client_unblock(c);
    cr_assert_eq(net_blocked_count(), 0);
    out = take_output();
    cr_assert_str_eq(out, "+DONE\r\n$1\r\na\r\n$1\r\nb\r\n");
    free(out);
}

/* A completion that arrives after the client closed must not touch freed
 * memory: the job's reference keeps the client alive, unblock is a no-op,
 * and the last unref frees (ASan checks the rest). */
Test(dispatch, completion_after_close_is_safe) {
    client_block(c);
    client_ref(c);                    /* the in-flight job's reference */
    client_feed(c, "PING\r\n", 6);
    client_close(c);
    cr_assert_not(client_is_open(c));
    cr_assert_eq(net_blocked_count(), 0, "closing a parked client unparks it");
    client_unblock(c);                /* completion: no reply, no processing */
    size_t len;
    client_output(c, &len);
    cr_assert_eq(len, 0);
    client_unref(c);                  /* job done; the fixture drops the last one */
}
